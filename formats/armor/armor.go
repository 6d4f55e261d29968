// Package armor is the text file form of a code carried on removable media:
//
//	-----BEGIN AIRLOCK AUTHORIZATION-----
//	<standard base64 with padding, 64 characters per line>
//	-----END AIRLOCK AUTHORIZATION-----
//
// Use Encode to write one and Decode to read one. Decode is strict: it
// accepts exactly what Encode produces (a missing final newline aside) and
// says what is wrong otherwise, so that a file that went through an editor or
// a mail client is refused with a hint rather than half-read. The bytes it
// returns are not authenticated; the caller checks that the kind is the one it
// expects and passes the data to the decoder of that code.
package armor

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// MaxSize is the largest armored file Decode accepts, in bytes. The largest
// code is a few KiB; 64 KiB leaves room to grow and bounds the work and memory
// spent on a wrong or hostile file.
const MaxSize = 64 << 10

// MaxBulkSize is the largest armored file DecodeBulk accepts, in bytes:
// 22 MiB, enough for 16 MiB of data (the largest bulk code,
// codes.MaxBulkCodeSize), which armors to 22,369,624 base64 characters on
// 349,526 lines, 22,719,150 bytes before the BEGIN and END lines.
const MaxBulkSize = 22 << 20

// lineLen is the number of base64 characters on every body line but the last.
const lineLen = 64

const (
	beginPrefix = "-----BEGIN AIRLOCK "
	endPrefix   = "-----END AIRLOCK "
	dashes      = "-----"
)

var (
	// ErrMalformed means the input is not an armored file exactly as Encode
	// writes it.
	ErrMalformed = errors.New("malformed armored file")
	// ErrTooLarge means the input is larger than MaxSize (MaxBulkSize for
	// DecodeBulk).
	ErrTooLarge = errors.New("armored file too large")
)

var b64 = base64.StdEncoding.Strict()

// Encode armors data under kind, which is one or more words of uppercase
// ASCII letters separated by single spaces, such as "AUTHORIZATION" or
// "SYSTEM DESCRIPTION". The result ends with a newline.
//
// Encode panics if kind is not of that shape, if data is empty, or if the
// result would be larger than MaxSize: Decode would refuse all three.
func Encode(kind string, data []byte) []byte { return encode(kind, data, MaxSize, "MaxSize") }

// EncodeBulk is Encode for the codes that carry device fleets: it panics
// only above MaxBulkSize. Only DecodeBulk reads a result over MaxSize.
func EncodeBulk(kind string, data []byte) []byte {
	return encode(kind, data, MaxBulkSize, "MaxBulkSize")
}

func encode(kind string, data []byte, limit int, limitName string) []byte {
	if !validKind(kind) {
		panic(fmt.Sprintf("armor: kind must be uppercase ASCII words separated by single spaces, got %q", kind))
	}
	if len(data) == 0 {
		panic("armor: empty data")
	}
	body := b64.EncodeToString(data)
	var b bytes.Buffer
	b.Grow(2*len(beginPrefix) + 2*len(kind) + 4*len(dashes) + len(body) + len(body)/lineLen + 3)
	b.WriteString(beginPrefix + kind + dashes + "\n")
	for len(body) > 0 {
		n := min(lineLen, len(body))
		b.WriteString(body[:n])
		b.WriteByte('\n')
		body = body[n:]
	}
	b.WriteString(endPrefix + kind + dashes + "\n")
	if b.Len() > limit {
		panic(fmt.Sprintf("armor: %d bytes of data armor to %d bytes, more than %s", len(data), b.Len(), limitName))
	}
	return b.Bytes()
}

// Is reports whether b looks like an airlock armored file, without checking
// anything past the start of its first line. Use it to choose a decoder, then
// let Decode judge the file.
func Is(b []byte) bool {
	return bytes.HasPrefix(b, []byte(beginPrefix))
}

// PeekKind returns the kind named on the BEGIN line of b, checking nothing
// else. Use it to choose between Decode and DecodeBulk, then let that judge
// the whole file.
func PeekKind(b []byte) (kind string, ok bool) {
	first, _, _ := bytes.Cut(b, []byte("\n"))
	rest, ok := bytes.CutPrefix(first, []byte(beginPrefix))
	if !ok {
		return "", false
	}
	rest, ok = bytes.CutSuffix(rest, []byte(dashes))
	if !ok || !validKind(string(rest)) {
		return "", false
	}
	return string(rest), true
}

// Decode reads an armored file and returns its kind and data. The input must
// be exactly what Encode writes; the only tolerance is a missing final
// newline. Errors match ErrMalformed or ErrTooLarge.
func Decode(b []byte) (kind string, data []byte, err error) { return decode(b, MaxSize) }

// DecodeBulk is Decode for files of up to MaxBulkSize bytes. Use it only
// for the kinds that may be that large (PeekKind tells the kind), so that
// every other file keeps the MaxSize limit. It allocates about twice the
// size of the file.
func DecodeBulk(b []byte) (kind string, data []byte, err error) { return decode(b, MaxBulkSize) }

func decode(b []byte, limit int) (kind string, data []byte, err error) {
	if len(b) > limit {
		return "", nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(b), limit)
	}
	if len(b) == 0 {
		return "", nil, fmt.Errorf("%w: empty input", ErrMalformed)
	}
	if i := bytes.IndexByte(b, '\r'); i >= 0 {
		line := bytes.Count(b[:i], []byte("\n")) + 1
		if i+1 < len(b) && b[i+1] == '\n' {
			return "", nil, fmt.Errorf("%w: line %d ends with CRLF; convert the file to LF line endings (for example with dos2unix)", ErrMalformed, line)
		}
		return "", nil, fmt.Errorf("%w: carriage return on line %d", ErrMalformed, line)
	}
	if !bytes.HasPrefix(b, []byte("-----BEGIN ")) {
		if isSpace(b[0]) {
			return "", nil, fmt.Errorf("%w: whitespace before the BEGIN line", ErrMalformed)
		}
		first, _, _ := bytes.Cut(b, []byte("\n"))
		return "", nil, fmt.Errorf("%w: the file must start with %q, got %q", ErrMalformed, beginPrefix, clip(first))
	}

	// The lines are read in place, never split into a slice: a hostile
	// file of empty lines would otherwise cost 16 bytes per byte.
	text := bytes.TrimSuffix(b, []byte("\n"))
	first, rest, more := bytes.Cut(text, []byte("\n"))
	kind, ok := PeekKind(first)
	if !ok {
		return "", nil, fmt.Errorf("%w: line 1: want a BEGIN line like \"-----BEGIN AIRLOCK AUTHORIZATION-----\", got %q", ErrMalformed, clip(first))
	}

	// The END line is the first line after BEGIN that starts with dashes.
	body := rest[:0]
	bodyLines := 0
	var endLine, tail []byte
	found, hasTail := false, false
	for r := rest; more; bodyLines++ {
		var line []byte
		line, r, more = bytes.Cut(r, []byte("\n"))
		if bytes.HasPrefix(line, []byte("-----")) {
			endLine, tail, hasTail, found = line, r, more, true
			break
		}
		body = rest[:len(body)+len(line)+min(bodyLines, 1)]
	}
	if !found {
		return "", nil, fmt.Errorf("%w: no END line", ErrMalformed)
	}
	wantEnd := endPrefix + kind + dashes
	if string(endLine) != wantEnd {
		if k, ok := bytes.CutPrefix(endLine, []byte(endPrefix)); ok {
			if k, ok := bytes.CutSuffix(k, []byte(dashes)); ok {
				return "", nil, fmt.Errorf("%w: END kind %q does not match BEGIN kind %q", ErrMalformed, k, kind)
			}
		}
		return "", nil, fmt.Errorf("%w: line %d: want %q, got %q", ErrMalformed, bodyLines+2, wantEnd, clip(endLine))
	}
	if hasTail {
		if len(bytes.TrimSpace(tail)) == 0 {
			return "", nil, fmt.Errorf("%w: whitespace after the END line", ErrMalformed)
		}
		return "", nil, fmt.Errorf("%w: data after the END line", ErrMalformed)
	}

	if bodyLines == 0 {
		return "", nil, fmt.Errorf("%w: empty body", ErrMalformed)
	}
	enc := make([]byte, 0, len(body)-(bodyLines-1))
	for i, r := 0, body; i < bodyLines; i++ {
		var l []byte
		l, r, _ = bytes.Cut(r, []byte("\n"))
		switch {
		case len(l) == 0:
			return "", nil, fmt.Errorf("%w: line %d is empty", ErrMalformed, i+2)
		case len(l) > lineLen:
			return "", nil, fmt.Errorf("%w: line %d is longer than %d characters", ErrMalformed, i+2, lineLen)
		case len(l) < lineLen && i != bodyLines-1:
			return "", nil, fmt.Errorf("%w: line %d is shorter than %d characters but is not the last", ErrMalformed, i+2, lineLen)
		}
		enc = append(enc, l...)
	}
	data = make([]byte, b64.DecodedLen(len(enc)))
	n, err := b64.Decode(data, enc)
	if err != nil {
		return "", nil, fmt.Errorf("%w: body is not canonical base64: %v", ErrMalformed, err)
	}
	data = data[:n]
	// Strict decoding already refuses non-zero padding bits; comparing the
	// re-encoding also refuses anything else it might let through. It is
	// compared a line at a time, so as not to hold a second copy.
	var line [lineLen]byte
	for i := 0; i < len(data); i += lineLen / 4 * 3 {
		chunk := data[i:min(i+lineLen/4*3, len(data))]
		m := b64.EncodedLen(len(chunk))
		b64.Encode(line[:m], chunk)
		if j := i / 3 * 4; j+m > len(enc) || !bytes.Equal(line[:m], enc[j:j+m]) {
			return "", nil, fmt.Errorf("%w: body is not canonical base64", ErrMalformed)
		}
	}
	if b64.EncodedLen(len(data)) != len(enc) {
		return "", nil, fmt.Errorf("%w: body is not canonical base64", ErrMalformed)
	}
	return kind, data, nil
}

// validKind reports whether kind is uppercase ASCII words separated by single
// spaces.
func validKind(kind string) bool {
	if kind == "" || kind[0] == ' ' || kind[len(kind)-1] == ' ' || strings.Contains(kind, "  ") {
		return false
	}
	for i := 0; i < len(kind); i++ {
		if c := kind[i]; c != ' ' && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' }

// clip shortens a line quoted in an error message, which may be anything.
func clip(b []byte) string {
	const n = 48
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
