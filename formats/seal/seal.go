// Package seal encrypts files for removable media with age
// (https://age-encryption.org/v1), so that a code on a USB stick can only be
// read by the party it is for.
//
// Parse keys with ParseRecipient and ParseIdentities, then use Encrypt and
// Decrypt. Decrypt returns plaintext only once the whole file has
// authenticated; never act on bytes read from an age stream before its end.
// EncryptPassphrase and DecryptPassphrase protect the authority's private key
// file and are kept apart on purpose: Decrypt refuses passphrase-encrypted
// files, so that an unattended reader can never be made to run scrypt or to
// accept a file anyone with a guessed passphrase could have made.
//
// Only X25519 (age1…) and ssh-ed25519 keys are supported.
package seal

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"filippo.io/age/armor"
	"golang.org/x/crypto/ssh"
)

// MaxSize is the largest input Decrypt and DecryptPassphrase accept, and the
// largest plaintext they return, in bytes: 32 MiB. Most codes are a few KiB,
// but an activation file for a fleet of devices may be as large as
// armor.MaxBulkSize (22 MiB) armored, and age's own armor adds a third and
// a newline every 64 characters: 22 MiB of plaintext encrypts to about
// 31.3 MiB. The cap bounds memory and CPU before age parses anything, and
// Decrypt allocates the plaintext once, at most the size of its input.
// age v1.3.2 stops a header at 1024 stanzas or 2 MiB, but older versions
// had no limit; this cap is checked first whatever the age version, so a
// header bomb (T55) costs nothing beyond reading the header.
const MaxSize = 32 << 20

// Scrypt work factors, as log2 of the scrypt N parameter (memory is 1 KiB·N).
const (
	// scryptWorkFactor is what EncryptPassphrase uses: age's default, about
	// a second and 256 MiB.
	scryptWorkFactor = 18
	// scryptMaxWorkFactor is the most DecryptPassphrase accepts. Files from
	// EncryptPassphrase and from `age -p` use 18; 20 leaves room for a key
	// file re-encrypted with a stronger factor on purpose, while a crafted
	// file cannot make us spend the 4 GiB and ~15 s of age's own limit (22)
	// or more.
	scryptMaxWorkFactor = 20
)

// ageIntro starts every binary age file.
const ageIntro = "age-encryption.org/"

var (
	// ErrMalformed means the input is not a well-formed, intact age file: a
	// bad header, armor or payload, a truncated file, trailing data, or a
	// header or payload that fails authentication.
	ErrMalformed = errors.New("malformed age file")
	// ErrTooLarge means the input or its plaintext is larger than MaxSize.
	ErrTooLarge = errors.New("input too large")
	// ErrNoIdentity means the file is encrypted and Decrypt was given no
	// identity to try.
	ErrNoIdentity = errors.New("no identity given")
	// ErrWrongIdentity means none of the given identities can open the file.
	ErrWrongIdentity = errors.New("not encrypted to this identity")
	// ErrPassphrase means the passphrase given to DecryptPassphrase is wrong,
	// or a passphrase is empty.
	ErrPassphrase = errors.New("wrong passphrase")
	// ErrPassphraseEncrypted means Decrypt was given a passphrase-encrypted
	// file, which only DecryptPassphrase opens.
	ErrPassphraseEncrypted = errors.New("passphrase-encrypted files are not accepted here")
	// ErrKey means a recipient or identity could not be parsed or is of a
	// kind airlock does not use.
	ErrKey = errors.New("invalid key")
)

// ParseRecipient parses a public key to encrypt to: an age X25519 recipient
// (age1…) or an OpenSSH ssh-ed25519 public key line, as found in
// authorized_keys or a .pub file. Errors match ErrKey.
func ParseRecipient(s string) (age.Recipient, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(strings.ToUpper(s), "AGE-SECRET-KEY-"):
		// Never echo it: it is a secret.
		return nil, fmt.Errorf("%w: this is an age secret key, not a recipient; give its public key (age-keygen -y prints it)", ErrKey)
	case strings.HasPrefix(s, "age1pq1"):
		return nil, fmt.Errorf("%w: post-quantum age recipients are not supported; use an X25519 recipient (age1…)", ErrKey)
	case strings.HasPrefix(s, "age1"):
		r, err := age.ParseX25519Recipient(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKey, err)
		}
		return r, nil
	}
	pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("%w: want an age recipient (age1…) or an ssh-ed25519 public key", ErrKey)
	}
	if t := pk.Type(); t != ssh.KeyAlgoED25519 {
		return nil, fmt.Errorf("%w: only ssh-ed25519 SSH keys are supported, got %q", ErrKey, t)
	}
	r, err := agessh.NewEd25519Recipient(pk)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	return r, nil
}

// ParseIdentities parses private keys to decrypt with: an age identity file
// (AGE-SECRET-KEY-1… lines; empty lines and lines starting with # are
// ignored) or an unencrypted OpenSSH ed25519 private key. Errors match ErrKey
// and never include key material.
func ParseIdentities(b []byte) ([]age.Identity, error) {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("-----BEGIN ")) {
		key, err := ssh.ParseRawPrivateKey(b)
		var missing *ssh.PassphraseMissingError
		switch {
		case errors.As(err, &missing):
			return nil, fmt.Errorf("%w: the SSH private key is protected by a passphrase; use an age identity file or a key without a passphrase", ErrKey)
		case err != nil:
			return nil, fmt.Errorf("%w: SSH private key: %v", ErrKey, err)
		}
		var sk ed25519.PrivateKey
		switch k := key.(type) {
		case ed25519.PrivateKey:
			sk = k
		case *ed25519.PrivateKey: // x/crypto/ssh returns either
			sk = *k
		default:
			return nil, fmt.Errorf("%w: only ssh-ed25519 SSH keys are supported, got a %s key", ErrKey, sshKeyName(key))
		}
		id, err := agessh.NewEd25519Identity(sk)
		if err != nil {
			return nil, fmt.Errorf("%w: SSH private key: %v", ErrKey, err)
		}
		return []age.Identity{id}, nil
	}
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: age identity file: %v", ErrKey, err)
	}
	for _, id := range ids {
		if _, ok := id.(*age.X25519Identity); !ok {
			return nil, fmt.Errorf("%w: only X25519 age identities (AGE-SECRET-KEY-1…) are supported", ErrKey)
		}
	}
	return ids, nil
}

// Encrypt encrypts plaintext to every recipient and returns the file in age's
// ASCII armor (-----BEGIN AGE ENCRYPTED FILE-----). It returns ErrTooLarge
// rather than a file Decrypt would refuse; other errors come from age (no
// recipients, recipients that cannot be mixed).
func Encrypt(plaintext []byte, recipients ...age.Recipient) ([]byte, error) {
	if len(recipients) == 0 {
		return nil, errors.New("no recipients to encrypt to")
	}
	return encrypt(plaintext, recipients...)
}

// EncryptPassphrase encrypts plaintext with a passphrase (age's scrypt
// recipient) and returns it armored, like Encrypt. It takes about a second
// and 256 MiB by design. Use it for secrets kept at rest, such as the
// authority's private key, never for files sent to someone.
func EncryptPassphrase(plaintext []byte, passphrase string) ([]byte, error) {
	return encryptPassphrase(plaintext, passphrase, scryptWorkFactor)
}

func encryptPassphrase(plaintext []byte, passphrase string, logN int) ([]byte, error) {
	if passphrase == "" {
		return nil, fmt.Errorf("%w: the passphrase is empty", ErrPassphrase)
	}
	r, err := age.NewScryptRecipient(passphrase)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPassphrase, err)
	}
	r.SetWorkFactor(logN)
	return encrypt(plaintext, r)
}

func encrypt(plaintext []byte, recipients ...age.Recipient) ([]byte, error) {
	var buf bytes.Buffer
	a := armor.NewWriter(&buf)
	w, err := age.Encrypt(a, recipients...)
	if err != nil {
		return nil, fmt.Errorf("could not encrypt: %v", err)
	}
	if _, err := w.Write(plaintext); err != nil {
		return nil, fmt.Errorf("could not encrypt: %v", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("could not encrypt: %v", err)
	}
	if err := a.Close(); err != nil {
		return nil, fmt.Errorf("could not encrypt: %v", err)
	}
	if buf.Len() > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes of plaintext encrypt to %d bytes, the limit is %d", ErrTooLarge, len(plaintext), buf.Len(), MaxSize)
	}
	return buf.Bytes(), nil
}

// IsEncrypted reports whether b starts like an age file, binary or armored.
// Use it to choose a decoder, then let Decrypt judge the file.
func IsEncrypted(b []byte) bool {
	return bytes.HasPrefix(b, []byte(ageIntro+"v1\n")) ||
		bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte(armor.Header))
}

// Decrypt decrypts an age file, binary or armored, with the first identity
// that opens it. It returns the plaintext only if the whole file, header and
// every chunk, authenticated and nothing follows it; otherwise it returns nil.
//
// Errors match ErrTooLarge (input or plaintext over MaxSize, checked before
// parsing), ErrMalformed, ErrNoIdentity, ErrWrongIdentity, or
// ErrPassphraseEncrypted.
func Decrypt(b []byte, identities ...age.Identity) ([]byte, error) {
	guarded := make([]age.Identity, 0, max(1, len(identities)))
	for _, id := range identities {
		guarded = append(guarded, refuseScrypt{id})
	}
	if len(identities) == 0 {
		// Still parse the header, to tell a malformed or passphrase file
		// from a missing identity.
		guarded = append(guarded, refuseScrypt{})
	}
	pt, err := decrypt(b, guarded)
	var noMatch *age.NoIdentityMatchError
	switch {
	case errors.As(err, &noMatch) && len(identities) == 0:
		return nil, fmt.Errorf("%w: the file is encrypted; pass the identity it was encrypted to (an age secret key or ssh-ed25519 private key)", ErrNoIdentity)
	case errors.As(err, &noMatch):
		return nil, fmt.Errorf("%w: the file is for %s", ErrWrongIdentity, describeRecipients(noMatch.StanzaTypes))
	}
	return pt, err
}

// DecryptPassphrase decrypts a file made by EncryptPassphrase (or `age -p`),
// binary or armored. It refuses scrypt work factors above 2^20 without doing
// the work. Errors match ErrTooLarge, ErrMalformed, ErrPassphrase, or
// ErrWrongIdentity for a file encrypted to a key rather than a passphrase.
func DecryptPassphrase(b []byte, passphrase string) ([]byte, error) {
	if passphrase == "" {
		return nil, fmt.Errorf("%w: the passphrase is empty", ErrPassphrase)
	}
	id, err := age.NewScryptIdentity(passphrase)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPassphrase, err)
	}
	id.SetMaxWorkFactor(scryptMaxWorkFactor)
	pt, err := decrypt(b, []age.Identity{requireScrypt{id}})
	var noMatch *age.NoIdentityMatchError
	if errors.As(err, &noMatch) {
		return nil, ErrPassphrase
	}
	return pt, err
}

// decrypt caps the input, runs age, and reads the plaintext to the end,
// mapping every failure to a sentinel.
func decrypt(b []byte, identities []age.Identity) ([]byte, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(b), MaxSize)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty input", ErrMalformed)
	}
	var src io.Reader = bytes.NewReader(b)
	if !bytes.HasPrefix(b, []byte(ageIntro)) {
		src = armor.NewReader(src)
	}
	r, err := age.Decrypt(src, identities...)
	if err != nil {
		return nil, ageError(err)
	}
	// Read to EOF: age authenticates chunk by chunk, and only the end of the
	// stream proves the file is complete and has nothing after it (T58).
	// The plaintext is never longer than the file, so a buffer of the
	// file's size holds it without growing.
	pt := bytes.NewBuffer(make([]byte, 0, len(b)+bytes.MinRead))
	if _, err := pt.ReadFrom(io.LimitReader(r, MaxSize+1)); err != nil {
		return nil, ageError(err)
	}
	if pt.Len() > MaxSize {
		return nil, fmt.Errorf("%w: plaintext exceeds %d bytes", ErrTooLarge, MaxSize)
	}
	return pt.Bytes(), nil
}

// sshKeyName names the type of a parsed SSH private key other than Ed25519.
func sshKeyName(key any) string {
	switch key.(type) {
	case *rsa.PrivateKey:
		return "RSA"
	case *ecdsa.PrivateKey:
		return "ECDSA"
	}
	return fmt.Sprintf("%T", key)
}

// ageError maps an error from age to a sentinel. Ours, returned by the guard
// identities, and age's no-match error pass through; anything else is a
// failure to parse or authenticate the file.
func ageError(err error) error {
	var noMatch *age.NoIdentityMatchError
	switch {
	case errors.Is(err, ErrPassphraseEncrypted), errors.Is(err, ErrWrongIdentity), errors.As(err, &noMatch):
		return err
	}
	return fmt.Errorf("%w: %v", ErrMalformed, err)
}

// refuseScrypt wraps an identity so that Decrypt refuses passphrase files
// before anything runs scrypt (T54). A nil id matches nothing.
type refuseScrypt struct{ id age.Identity }

func (g refuseScrypt) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	for _, s := range stanzas {
		if s.Type == "scrypt" {
			return nil, fmt.Errorf("%w: this file is protected by a passphrase; open it with DecryptPassphrase", ErrPassphraseEncrypted)
		}
	}
	if g.id == nil {
		return nil, age.ErrIncorrectIdentity
	}
	return g.id.Unwrap(stanzas)
}

// requireScrypt wraps the scrypt identity to tell a file encrypted to a key
// from a wrong passphrase.
type requireScrypt struct{ id *age.ScryptIdentity }

func (g requireScrypt) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	for _, s := range stanzas {
		if s.Type == "scrypt" {
			return g.id.Unwrap(stanzas)
		}
	}
	return nil, fmt.Errorf("%w: the file is encrypted to a key, not a passphrase", ErrWrongIdentity)
}

// describeRecipients names the recipient types of a file for an error
// message, for example `2 recipients ("X25519", "ssh-ed25519")`. The types
// come from the file, so they are quoted and only the first few are shown.
func describeRecipients(types []string) string {
	const show = 3
	var quoted []string
	var shown []string
	for _, t := range types {
		if slices.Contains(shown, t) {
			continue
		}
		if len(shown) == show {
			quoted = append(quoted, "…")
			break
		}
		shown = append(shown, t)
		if len(t) > 32 {
			t = t[:32] + "…"
		}
		quoted = append(quoted, fmt.Sprintf("%q", t))
	}
	noun := "recipients"
	if len(types) == 1 {
		noun = "recipient"
	}
	return fmt.Sprintf("%d %s (%s)", len(types), noun, strings.Join(quoted, ", "))
}
