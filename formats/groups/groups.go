// Package groups is the text form of a code that a person reads aloud and
// types: a two-letter kind prefix, then Crockford base32 in dash-separated
// groups, each ending with a check character:
//
//	RQ-XXXXXXXXC-XXXXXXXXC-XXXC
//
// Use Encode to print a code (and Lines to wrap it for a terminal) and Decode
// to read one back. Decode forgives what people do when they type (case,
// spaces, line breaks, O for 0, I and L for 1) and catches what they get
// wrong (a mistyped or swapped character, a moved group), naming the group to
// retype. The bytes it returns are not authenticated: they still have to go
// through the decoder of the code they carry.
package groups

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxLen is the largest input Decode looks at, in bytes. A code meant to be
// read over the phone is a few hundred characters; 8 KiB leaves room for a
// pasted code with generous wrapping and indentation while bounding the work
// done on a runaway paste.
const MaxLen = 8 << 10

// A group holds groupData data characters followed by one check character.
const groupData = 8

// alphabet is Crockford's base32: no I, L, O (read as 1, 1, 0) and no U.
const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

var (
	// ErrEmpty means the input holds nothing but separators.
	ErrEmpty = errors.New("empty input")
	// ErrMalformed means the input is not shaped like a typed code: a
	// character outside the alphabet, a bad prefix, a length no code has, or
	// non-zero padding bits.
	ErrMalformed = errors.New("malformed typed code")
	// ErrTypo means a group's check character does not match its data. It is
	// returned wrapped in a *TypoError naming the group.
	ErrTypo = errors.New("typed code has a typo")
	// ErrTooLong means the input is longer than MaxLen bytes.
	ErrTooLong = errors.New("input too long")
)

// A TypoError reports the first group whose check character does not match.
// A dropped or extra character shifts every later group, so the first failing
// group is the one to retype.
type TypoError struct {
	Group int    // 1-based, counting groups after the prefix
	Typed string // the group as typed: the user's own case, without surrounding separators
}

func (e *TypoError) Error() string {
	return fmt.Sprintf("%v in group %d (%q): check that group and type it again", ErrTypo, e.Group, e.Typed)
}

// Is makes errors.Is(err, ErrTypo) true for a *TypoError.
func (e *TypoError) Is(target error) bool { return target == ErrTypo }

// Encode returns the typed form of data on one line, with prefix (the code's
// kind, exactly two uppercase ASCII letters) first. Encode panics if prefix is
// not of that shape.
func Encode(prefix string, data []byte) string {
	if len(prefix) != 2 || !isUpper(prefix[0]) || !isUpper(prefix[1]) {
		panic(fmt.Sprintf("groups: prefix must be 2 uppercase ASCII letters, got %q", prefix))
	}
	vals := toValues(data)
	var b strings.Builder
	b.Grow(2 + len(vals) + 2*(len(vals)/groupData+1))
	b.WriteString(prefix)
	for j := 0; j*groupData < len(vals); j++ {
		g := vals[j*groupData : min((j+1)*groupData, len(vals))]
		b.WriteByte('-')
		for _, v := range g {
			b.WriteByte(alphabet[v])
		}
		b.WriteByte(alphabet[checkValue(j, g)])
	}
	return b.String()
}

// Lines splits a code made by Encode at group boundaries into lines of at most
// groupsPerLine groups, the prefix staying on the first line. Decode accepts
// the lines joined by newlines. Lines panics if groupsPerLine < 1.
func Lines(code string, groupsPerLine int) []string {
	if groupsPerLine < 1 {
		panic(fmt.Sprintf("groups: groupsPerLine must be at least 1, got %d", groupsPerLine))
	}
	parts := strings.Split(code, "-")
	lines := []string{strings.Join(parts[:min(1+groupsPerLine, len(parts))], "-")}
	for i := 1 + groupsPerLine; i < len(parts); i += groupsPerLine {
		lines = append(lines, strings.Join(parts[i:min(i+groupsPerLine, len(parts))], "-"))
	}
	return lines
}

// typed is one kept character of the input: its normalised value and where
// the user typed it.
type typed struct {
	val   byte // alphabet index, or the uppercased letter for the prefix
	start int  // byte offset in the input
	end   int  // byte offset just after it
}

// Decode reads a typed code. It ignores case and any spaces, tabs, dashes, CR
// and LF, and reads O as 0 and I and L as 1 after the prefix. It returns the
// prefix uppercased; the caller checks that it is the kind it expects.
//
// Errors match ErrEmpty, ErrTooLong, ErrMalformed or ErrTypo (a *TypoError
// naming the first group to retype).
func Decode(s string) (prefix string, data []byte, err error) {
	if len(s) > MaxLen {
		return "", nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLong, len(s), MaxLen)
	}
	chars, err := normalise(s)
	if err != nil {
		return "", nil, err
	}
	if len(chars) == 0 {
		return "", nil, ErrEmpty
	}
	if len(chars) < 2 {
		return "", nil, fmt.Errorf("%w: want a 2-letter kind prefix, got %q", ErrMalformed, s[chars[0].start:chars[len(chars)-1].end])
	}
	prefix = string([]byte{chars[0].val, chars[1].val})
	body := chars[2:]

	var vals []byte
	for j := 0; j*(groupData+1) < len(body); j++ {
		g := body[j*(groupData+1) : min((j+1)*(groupData+1), len(body))]
		if len(g) < 2 {
			return "", nil, fmt.Errorf("%w: the last group has no data, only %q; a character may be missing or extra", ErrMalformed, s[g[0].start:g[0].end])
		}
		d := make([]byte, len(g)-1)
		for i := range d {
			d[i] = g[i].val
		}
		if checkValue(j, d) != g[len(g)-1].val {
			return "", nil, &TypoError{Group: j + 1, Typed: s[g[0].start:g[len(g)-1].end]}
		}
		vals = append(vals, d...)
	}
	data, err = fromValues(vals)
	if err != nil {
		return "", nil, err
	}
	return prefix, data, nil
}

// normalise drops separators, checks every character, and maps the rest to
// values: the first two to uppercase letters, the others to alphabet indexes.
func normalise(s string) ([]typed, error) {
	chars := make([]typed, 0, len(s))
	pos := 0 // 1-based character position, as the user counts
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		pos++
		start := i
		i += size
		if r == utf8.RuneError && size == 1 {
			return nil, fmt.Errorf("%w: invalid UTF-8 byte 0x%02x at position %d", ErrMalformed, s[start], pos)
		}
		switch r {
		case ' ', '\t', '-', '\r', '\n':
			continue
		}
		if len(chars) < 2 {
			if ('A' <= r && r <= 'Z') || ('a' <= r && r <= 'z') {
				chars = append(chars, typed{val: byte(r) &^ 0x20, start: start, end: i})
				continue
			}
			hint := ""
			if r < utf8.RuneSelf {
				hint = "; a code starts with a 2-letter kind prefix"
			}
			return nil, fmt.Errorf("%w: unexpected character %s at position %d%s", ErrMalformed, describe(r), pos, hint)
		}
		v, ok := value(r)
		if !ok {
			hint := ""
			if r == 'U' || r == 'u' {
				hint = " (U is never used in codes)"
			}
			return nil, fmt.Errorf("%w: unexpected character %s at position %d%s", ErrMalformed, describe(r), pos, hint)
		}
		chars = append(chars, typed{val: v, start: start, end: i})
	}
	return chars, nil
}

// value maps a typed data character to its alphabet index, forgiving case and
// the letters people type for digits.
func value(r rune) (byte, bool) {
	if r >= utf8.RuneSelf {
		return 0, false
	}
	c := byte(r)
	if 'a' <= c && c <= 'z' {
		c &^= 0x20
	}
	switch c {
	case 'O':
		c = '0'
	case 'I', 'L':
		c = '1'
	}
	i := strings.IndexByte(alphabet, c)
	if i < 0 {
		return 0, false
	}
	return byte(i), true
}

// describe names a character for an error message: quoted if it is printable
// ASCII, as a code point otherwise so that invisible and look-alike
// characters show what they are.
func describe(r rune) string {
	if 0x21 <= r && r <= 0x7e {
		return fmt.Sprintf("%q", r)
	}
	return fmt.Sprintf("U+%04X", r)
}

func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }

// toValues splits data into 5-bit values, most significant bit first, the
// last value padded with zero bits.
func toValues(data []byte) []byte {
	vals := make([]byte, 0, (len(data)*8+4)/5)
	var acc uint
	bits := 0
	for _, b := range data {
		acc = acc<<8 | uint(b)
		bits += 8
		for bits >= 5 {
			bits -= 5
			vals = append(vals, byte(acc>>bits)&31)
		}
	}
	if bits > 0 {
		vals = append(vals, byte(acc<<(5-bits))&31)
	}
	return vals
}

// fromValues is the inverse of toValues. It refuses a count of values that
// toValues never produces and non-zero padding bits, so that every code has
// exactly one typed form.
func fromValues(vals []byte) ([]byte, error) {
	n := len(vals)
	size := n * 5 / 8
	if n != (size*8+4)/5 {
		return nil, fmt.Errorf("%w: %d data characters is not a possible length; a character may be missing or extra", ErrMalformed, n)
	}
	data := make([]byte, 0, size)
	var acc uint
	bits := 0
	for _, v := range vals {
		acc = acc<<5 | uint(v)
		bits += 5
		if bits >= 8 {
			bits -= 8
			data = append(data, byte(acc>>bits))
		}
	}
	if acc&(1<<bits-1) != 0 {
		return nil, fmt.Errorf("%w: non-zero padding bits in the last character", ErrMalformed)
	}
	return data, nil
}

// checkValue returns the check character of group j (0-based) with data
// values d:
//
//	c = (j mod 31 + 1) XOR d_0·α XOR d_1·α² XOR … XOR d_{k-1}·α^k
//
// in GF(32) = GF(2)[x]/(x⁵+x²+1) with α = x, which has order 31. Every data
// position has a distinct non-zero weight and the check itself weight 1, so
// any single substitution changes c, any adjacent transposition (data/data
// or last data/check, as α^i ≠ α^(i+1) and α^k ≠ 1 for k ≤ 8) changes it
// unless the two characters are equal, and the group term makes a group
// moved to another place fail (unless it moves by a multiple of 31).
func checkValue(j int, d []byte) byte {
	c := byte(j%31 + 1)
	w := byte(2) // α^1
	for _, v := range d {
		c ^= gfMul(v, w)
		w = gfMul(w, 2)
	}
	return c
}

// gfMul multiplies in GF(32) modulo x⁵+x²+1.
func gfMul(a, b byte) byte {
	var p byte
	for b != 0 {
		if b&1 != 0 {
			p ^= a
		}
		b >>= 1
		a <<= 1
		if a&0x20 != 0 {
			a ^= 0x25
		}
	}
	return p
}
