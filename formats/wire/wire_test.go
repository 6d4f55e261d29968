package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

type sample struct {
	A uint32 `cbor:"1,keyasint"`
	B string `cbor:"2,keyasint,omitempty"`
	C []byte `cbor:"3,keyasint,omitempty"`
}

func TestMarshalIsCoreDeterministic(t *testing.T) {
	got := MustMarshal(sample{A: 500, B: "x"})
	if want := "a2011901f4026178"; hex.EncodeToString(got) != want {
		t.Fatalf("Marshal = %x, want %s", got, want)
	}
}

func TestUnmarshalRefusesNonCanonicalInput(t *testing.T) {
	cases := []struct{ name, hex string }{
		{"duplicate key", "a2010501190100"},
		{"unknown field", "a201050461"},
		{"indefinite map", "bf0105ff"},
		{"indefinite text", "a201050278ff"},
		{"tag 55799", "d9d9f7a10105"},
		{"tag inside", "a201c11a00000000"},
		{"non-shortest integer", "a1011805"},
		{"unsorted keys", "a20261780105"},
		{"optional field present with zero value", "a201050260"},
		{"required field missing", "a0"},
		{"trailing byte", "a1010500"},
		{"invalid UTF-8", "a201050261ff"},
		{"negative into unsigned", "a10120"},
		{"count above 32 bits", "a1011b0000000100000000"},
		{"float where int", "a101f93c00"},
		{"array length bomb", "9b7fffffffffffffff"},
		{"map length bomb", "bb7fffffffffffffff"},
		{"byte string length bomb", "5b7fffffffffffffff"},
		{"empty", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := hex.DecodeString(c.hex)
			if err != nil {
				t.Fatal(err)
			}
			var s sample
			if err := Unmarshal(b, &s); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Unmarshal(%s) = %v, want ErrMalformed", c.hex, err)
			}
		})
	}
}

func TestUnmarshalRefusesNestingBomb(t *testing.T) {
	var v []any
	b := bytes.Repeat([]byte{0x81}, 10000)
	if err := Unmarshal(append(b, 0x00), &v); !errors.Is(err, ErrMalformed) {
		t.Fatalf("nesting bomb: %v", err)
	}
}

func TestUnmarshalRefusesOversizeInput(t *testing.T) {
	var b []byte
	big := append([]byte{0x59, 0x40, 0x00}, make([]byte, 0x4000)...)
	if err := Unmarshal(big, &b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("oversize: %v", err)
	}
}

func TestUnmarshalRoundTrip(t *testing.T) {
	in := sample{A: 7, B: "tag", C: []byte{1, 2}}
	var out sample
	if err := Unmarshal(MustMarshal(in), &out); err != nil {
		t.Fatal(err)
	}
	if out.A != 7 || out.B != "tag" || !bytes.Equal(out.C, []byte{1, 2}) {
		t.Fatalf("round trip = %+v", out)
	}
}

func FuzzUnmarshal(f *testing.F) {
	f.Add(MustMarshal(sample{A: 1, B: "b", C: []byte{3}}))
	f.Add([]byte{0xa2, 0x01, 0x05, 0x01, 0x06})
	f.Add([]byte{0x9b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var s sample
		err := Unmarshal(b, &s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if again := MustMarshal(s); !bytes.Equal(again, b) {
			t.Fatalf("accepted %x but it re-encodes as %x", b, again)
		}
	})
}
