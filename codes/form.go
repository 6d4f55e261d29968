package codes

import (
	"errors"
	"fmt"

	"filippo.io/age"

	"github.com/airlock-dev/airlock/formats/armor"
	"github.com/airlock-dev/airlock/formats/groups"
	"github.com/airlock-dev/airlock/formats/seal"
)

// A Form is one of the three ways a code travels.
type Form uint8

// The forms.
const (
	FormBinary Form = iota + 1 // the raw COSE bytes, for the library API
	FormText                   // typed: prefix and base32 groups with check characters
	FormArmor                  // an armored text file, BEGIN/END lines around base64
)

func (f Form) String() string {
	switch f {
	case FormBinary:
		return "binary"
	case FormText:
		return "typed"
	case FormArmor:
		return "armored"
	}
	return fmt.Sprintf("form(%d)", uint8(f))
}

// EncodeText returns the typed form of a code of kind k.
func EncodeText(k Kind, code []byte) string { return groups.Encode(k.Prefix(), code) }

// TypedLen returns how many letters and digits the typed form of a code
// of kind k has: what a person types, prefix and check characters
// included, the dashes between groups not counted. It is computed from the
// length alone (FORMAT.md §6.1), so it costs nothing for a large code.
func TypedLen(k Kind, code []byte) int {
	m := (8*len(code) + 4) / 5 // data characters
	return len(k.Prefix()) + m + (m+7)/8
}

// EncodeArmor returns the armored form of a code of kind k. It panics if
// code is empty or larger than the kind allows (Kind.MaxSize).
func EncodeArmor(k Kind, code []byte) []byte {
	if k.info().bulk {
		return armor.EncodeBulk(k.ArmorType(), code)
	}
	return armor.Encode(k.ArmorType(), code)
}

// A Decoded is a code read from any form, not yet verified.
type Decoded struct {
	Kind      Kind // 0 when the input was binary: the bytes do not say
	Code      []byte
	Form      Form
	Encrypted bool // the input was an age-encrypted file
}

// Decode reads a code in any form: typed text, an armored file, raw COSE
// bytes, or an age-encrypted file holding one of those (then identities
// must open it). The input is capped before any work: an armored file at
// 64 KiB, or 22 MiB when its BEGIN line names a kind that carries a device
// fleet; binary input at MaxBulkCodeSize, since it names no kind (the
// kind's Open… function then applies the kind's own limit); typed input at
// 8 KiB; an age file at 32 MiB. Decode checks the form only: the code
// still has to be opened by its kind's Open… function.
func Decode(input []byte, identities ...age.Identity) (*Decoded, error) {
	if seal.IsEncrypted(input) {
		if len(identities) == 0 {
			if _, err := seal.Decrypt(input); errors.Is(err, seal.ErrPassphraseEncrypted) {
				return nil, &classified{ErrEncrypted, err}
			}
			return nil, fmt.Errorf("%w: the file is encrypted with age: give the identity it was encrypted to", ErrEncrypted)
		}
		plain, err := seal.Decrypt(input, identities...)
		if err != nil {
			if errors.Is(err, seal.ErrWrongIdentity) || errors.Is(err, seal.ErrNoIdentity) {
				return nil, &classified{ErrEncrypted, err}
			}
			return nil, &classified{ErrMalformed, err}
		}
		d, err := Decode(plain)
		if err != nil {
			return nil, err
		}
		d.Encrypted = true
		return d, nil
	}
	if looksBinary(input) {
		if len(input) > MaxBulkCodeSize {
			return nil, fmt.Errorf("%w: code of %d bytes, the limit is %d", ErrMalformed, len(input), MaxBulkCodeSize)
		}
		return &Decoded{Code: input, Form: FormBinary}, nil
	}
	if armor.Is(input) {
		// The BEGIN line says which limit applies, before the rest of the
		// file is read: only the fleet kinds may pass 64 KiB.
		decode := armor.Decode
		if typ, ok := armor.PeekKind(input); ok {
			if k, known := KindByArmorType(typ); known && k.info().bulk {
				decode = armor.DecodeBulk
			}
		}
		typ, data, err := decode(input)
		if err != nil {
			return nil, &classified{ErrMalformed, err}
		}
		k, known := KindByArmorType(typ)
		if !known {
			return nil, fmt.Errorf("%w: armored file of unknown type %q", ErrMalformed, "AIRLOCK "+typ)
		}
		return &Decoded{Kind: k, Code: data, Form: FormArmor}, checkSize(k, data)
	}
	if p, ok := typedPrefix(input); ok {
		if _, known := KindByPrefix(p); !known {
			return nil, fmt.Errorf("%w: typed code starts with %q, which is no code kind (%s)", ErrMalformed, p, prefixes())
		}
	}
	prefix, data, err := groups.Decode(string(input))
	if err != nil {
		if errors.Is(err, groups.ErrTypo) {
			return nil, &classified{ErrTypo, err}
		}
		return nil, &classified{ErrMalformed, err}
	}
	k, ok := KindByPrefix(prefix)
	if !ok {
		return nil, fmt.Errorf("%w: typed code starts with %q, which is no code kind (%s)", ErrMalformed, prefix, prefixes())
	}
	return &Decoded{Kind: k, Code: data, Form: FormText}, checkSize(k, data)
}

// DecodeKind is Decode for callers that expect one kind: a typed or
// armored code of another kind is refused with ErrWrongKind. Binary input is
// taken to be of kind want; its envelope's external AAD will refuse it
// otherwise.
func DecodeKind(input []byte, want Kind, identities ...age.Identity) ([]byte, error) {
	d, err := Decode(input, identities...)
	if err != nil {
		return nil, err
	}
	if d.Kind != 0 && d.Kind != want {
		return nil, wrongKind(d.Kind, want)
	}
	return d.Code, nil
}

// looksBinary reports whether input is raw CBOR rather than text: its first
// byte is a control character or not ASCII. Typed and armored codes start
// with a letter or a dash (after optional white space); a COSE envelope
// starts with 0x84, or with a tag byte that the envelope parser refuses.
func looksBinary(input []byte) bool {
	if len(input) == 0 {
		return false
	}
	c := input[0]
	return c >= 0x80 || (c < 0x20 && c != ' ' && c != '\t' && c != '\r' && c != '\n')
}

// typedPrefix returns the first two letters of a typed code, upper case,
// skipping the separators a person may type before them.
func typedPrefix(input []byte) (string, bool) {
	var p []byte
	for _, c := range input {
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '-':
			continue
		case 'a' <= c && c <= 'z':
			p = append(p, c-'a'+'A')
		case 'A' <= c && c <= 'Z':
			p = append(p, c)
		default:
			return "", false
		}
		if len(p) == 2 {
			return string(p), true
		}
	}
	return "", false
}
