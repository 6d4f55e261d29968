package groups

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func FuzzDecode(f *testing.F) {
	for _, n := range []int{0, 1, 4, 5, 6, 27, 64} {
		code := Encode("RQ", testData(n, uint64(n)))
		f.Add(code)
		f.Add(strings.ToLower(code))
		f.Add(strings.Join(Lines(code, 2), "\r\n"))
		if len(code) > 6 {
			f.Add(code[:len(code)-1])
			f.Add(code[:5] + "U" + code[6:])
			f.Add(code[:4] + "\u200b" + code[4:])
		}
	}
	f.Add("")
	f.Add(" \t\n")
	f.Add("\ufeffRQ-001")
	f.Add(encodeValues("RQ", []byte{0, 1}))
	f.Add(encodeValues("RQ", []byte{0, 0, 0}))
	f.Add("RQ-000000001-0")

	f.Fuzz(func(t *testing.T, s string) {
		prefix, data, err := Decode(s)
		if err != nil {
			if !errors.Is(err, ErrEmpty) && !errors.Is(err, ErrMalformed) &&
				!errors.Is(err, ErrTypo) && !errors.Is(err, ErrTooLong) {
				t.Fatalf("Decode(%q): error matches no sentinel: %v", s, err)
			}
			return
		}
		code := Encode(prefix, data)
		p2, d2, err := Decode(code)
		if err != nil || p2 != prefix || !bytes.Equal(d2, data) {
			t.Fatalf("re-encoding %q as %q does not round trip: %q %x %v", s, code, p2, d2, err)
		}
		// What was accepted is the canonical code up to case, separators
		// and the O/I/L readings.
		in, _ := normalise(s)
		canon, _ := normalise(code)
		if !equalValues(in, canon) {
			t.Fatalf("accepted %q, which is not a typing of %q", s, code)
		}
	})
}

func equalValues(a, b []typed) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].val != b[i].val {
			return false
		}
	}
	return true
}
