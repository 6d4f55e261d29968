package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strings"
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

// fleet is shaped like a bulk payload: lists of structs in a map-shaped
// struct, with array-shaped elements.
type fleet struct {
	Name   string  `cbor:"1,keyasint"`
	Groups []group `cbor:"2,keyasint,omitempty"`
}

type group struct {
	Key     string   `cbor:"1,keyasint"`
	Members []member `cbor:"2,keyasint"`
	Tags    []string `cbor:"3,keyasint,omitempty"`
}

type member struct {
	_     struct{} `cbor:",toarray"`
	ID    string
	From  int64
	Until int64
	Code  uint8
}

func bigFleet(n int) fleet {
	f := fleet{Name: "fleet", Groups: []group{{Key: "a"}, {Key: "b", Tags: []string{"x", "y"}}}}
	for i := range n {
		g := &f.Groups[i%2]
		g.Members = append(g.Members, member{ID: fmt.Sprintf("device-%07d", i), From: 1_700_000_000, Until: 1_800_000_000, Code: uint8(i)})
	}
	return f
}

func TestUnmarshalBulkRoundTrip(t *testing.T) {
	in := bigFleet(MaxArrayElements * 10)
	b := MustMarshal(in)
	if len(b) <= MaxSize {
		t.Fatalf("test payload is only %d bytes", len(b))
	}
	var out fleet
	if err := UnmarshalBulk(b, &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(MustMarshal(out), b) || len(out.Groups[0].Members) != MaxArrayElements*5 {
		t.Fatal("round trip lost data")
	}
}

// TestUnmarshalKeepsItsLimits: the bulk mode changes nothing for
// Unmarshal, neither the size nor the array length.
func TestUnmarshalKeepsItsLimits(t *testing.T) {
	var out fleet
	if err := Unmarshal(MustMarshal(bigFleet(MaxSize/20)), &out); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "the limit is 16384") {
		t.Fatalf("Unmarshal over MaxSize = %v", err)
	}
	arr := MustMarshal(make([]uint16, MaxArrayElements+1))
	var u []uint16
	if err := Unmarshal(arr, &u); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "exceeded max number of elements") {
		t.Fatalf("Unmarshal of %d elements = %v", MaxArrayElements+1, err)
	}
}

func TestUnmarshalBulkLimits(t *testing.T) {
	var out fleet
	big := append([]byte{0x5a}, binary.BigEndian.AppendUint32(nil, MaxBulkSize)...)
	big = append(big, make([]byte, MaxBulkSize)...)
	if err := UnmarshalBulk(big, &out); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), fmt.Sprintf("the limit is %d", MaxBulkSize)) {
		t.Fatalf("UnmarshalBulk over MaxBulkSize = %v", err)
	}
	if err := UnmarshalBulk(nil, &out); !errors.Is(err, ErrMalformed) {
		t.Fatalf("UnmarshalBulk(nil) = %v", err)
	}
	// One array longer than MaxBulkArrayElements.
	var tags []string
	arr := append([]byte{0x9a}, binary.BigEndian.AppendUint32(nil, MaxBulkArrayElements+1)...)
	arr = append(arr, bytes.Repeat([]byte{0x61, 'x'}, MaxBulkArrayElements+1)...)
	if err := UnmarshalBulk(arr, &tags); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "exceeded max number of elements") {
		t.Fatalf("UnmarshalBulk of %d elements = %v", MaxBulkArrayElements+1, err)
	}
	// The same nesting and map limits as Unmarshal.
	var v [][][][][][][][][]string
	if err := UnmarshalBulk(append(bytes.Repeat([]byte{0x81}, 9), 0x60), &v); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "nested") {
		t.Fatalf("nesting: %v", err)
	}
	wide := []byte{0xb8, 65}
	for i := range 65 {
		wide = append(wide, byte(0x18), byte(i+24), 0x00)
	}
	if err := UnmarshalBulk(wide, &out); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "exceeded max number of key-value pairs") {
		t.Fatalf("wide map: %v", err)
	}
}

// TestUnmarshalBulkIsStrict: every input Unmarshal refuses, UnmarshalBulk
// refuses too, and for the same class.
func TestUnmarshalBulkIsStrict(t *testing.T) {
	valid := MustMarshal(bigFleet(3))
	cases := []struct{ name, hex string }{
		{"duplicate key", "a2016178016178"},
		{"unknown field", "a2016178030a"},
		{"indefinite map", "bf016178ff"},
		{"tag", "d9d9f7a1016178"},
		{"tag inside", "a101c16178"},
		{"non-shortest length", "a101780178"},
		{"unsorted keys", "a2 0281 a2 016161 0280 016178"},
		{"optional field present empty", "a201617802 80"},
		{"required field missing", "a0"},
		{"trailing byte", "a101617800"},
		{"invalid UTF-8", "a10161ff"},
		{"null list", "a2016178 02f6"},
		{"text where int", "a2016178 0281 a2 016161 0281 84 6178 6178 01 01"},
		{"negative into uint8", "a2016178 0281 a2 016161 0281 84 6178 01 02 20"},
		{"uint8 overflow", "a2016178 0281 a2 016161 0281 84 6178 01 02 190100"},
		{"short element array", "a2016178 0281 a2 016161 0281 83 6178 01 02"},
		{"map element where array", "a2016178 0281 a2 016161 0281 a0"},
		{"byte string key", "a1 4101 6178"},
		{"array key", "a1 8101 6178"},
		{"float where int", "a2016178 0281 a2 016161 0281 84 6178 f93c00 02 00"},
		{"member list null", "a2016178 0281 a2 016161 02f6"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := hex.DecodeString(strings.ReplaceAll(c.hex, " ", ""))
			if err != nil {
				t.Fatal(err)
			}
			var f1, f2 fleet
			e1, e2 := Unmarshal(b, &f1), UnmarshalBulk(b, &f2)
			if !errors.Is(e1, ErrMalformed) || !errors.Is(e2, ErrMalformed) {
				t.Fatalf("Unmarshal = %v, UnmarshalBulk = %v; want both ErrMalformed", e1, e2)
			}
			t.Logf("Unmarshal: %v; UnmarshalBulk: %v", e1, e2)
		})
	}
	var f fleet
	if err := UnmarshalBulk(valid, &f); err != nil {
		t.Fatalf("valid input: %v", err)
	}
}

// allocated returns the bytes allocated while f runs.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestUnmarshalBulkBoundsMemory: hostile input never makes the decoder
// allocate more than a small multiple of its size. Each case is an array of
// n one- or few-byte elements that the decoder would otherwise meet with a
// slice of n large elements.
func TestUnmarshalBulkBoundsMemory(t *testing.T) {
	const n = MaxBulkArrayElements
	arrayOf := func(elem []byte) []byte {
		b := append([]byte{0xa2, 0x01, 0x61, 'x', 0x02, 0x9a}, binary.BigEndian.AppendUint32(nil, n)...)
		for range n {
			b = append(b, elem...)
		}
		return b
	}
	groupsOf := func(members []byte) []byte {
		return append([]byte{0xa2, 0x01, 0x61, 'x', 0x02, 0x81, 0xa2, 0x01, 0x61, 'g', 0x02, 0x9a}, append(binary.BigEndian.AppendUint32(nil, n), members...)...)
	}
	cases := []struct {
		name string
		in   []byte
	}{
		{"groups of zeros", arrayOf([]byte{0x00})},
		{"empty groups", arrayOf([]byte{0xa0})},
		{"groups with an unknown key", arrayOf([]byte{0xa1, 0x05, 0x00})},
		{"groups with a null", arrayOf([]byte{0xa1, 0x02, 0xf6})},
		{"members of zeros", groupsOf(bytes.Repeat([]byte{0x00}, n))},
		{"members with bad UTF-8", groupsOf(bytes.Repeat([]byte{0x84, 0x61, 0xff, 0x01, 0x02, 0x03}, n))},
		{"members with an overflowing code", groupsOf(bytes.Repeat([]byte{0x84, 0x60, 0x01, 0x02, 0x19, 0x01, 0x00}, n))},
		{"members of empty arrays", groupsOf(bytes.Repeat([]byte{0x80}, n))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			got := allocated(func() {
				var f fleet
				err = UnmarshalBulk(c.in, &f)
			})
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("UnmarshalBulk = %v, want ErrMalformed", err)
			}
			if got > 2*uint64(len(c.in))+1<<20 {
				t.Fatalf("%d bytes of input allocated %d bytes", len(c.in), got)
			}
			t.Logf("%d bytes of input allocated %d bytes: %v", len(c.in), got, err)
		})
	}
	// Valid input of the smallest elements decodes within the budget.
	dense := fleet{Name: "x", Groups: []group{{Key: "g"}}}
	for i := range n {
		dense.Groups[0].Members = append(dense.Groups[0].Members, member{ID: string(rune('a' + i%26)), From: 1, Until: 2})
	}
	b := MustMarshal(dense)
	var out fleet
	got := allocated(func() {
		if err := UnmarshalBulk(b, &out); err != nil {
			t.Fatal(err)
		}
	})
	if got > MaxBulkExpansion*uint64(len(b))+uint64(len(b)) {
		t.Fatalf("valid input of %d bytes allocated %d bytes", len(b), got)
	}
	t.Logf("dense valid input of %d bytes allocated %d bytes", len(b), got)
}

// FuzzUnmarshalBulk compares the two modes on a bulk-shaped type: what
// Unmarshal accepts, UnmarshalBulk accepts as the same value, and what
// UnmarshalBulk accepts is canonical. Errors are always ErrMalformed.
func FuzzUnmarshalBulk(f *testing.F) {
	f.Add(MustMarshal(bigFleet(3)))
	f.Add(MustMarshal(fleet{Name: "x"}))
	f.Add([]byte{0xa2, 0x01, 0x61, 'x', 0x02, 0x9a, 0x00, 0x04, 0x00, 0x00, 0x00})
	f.Add([]byte{0x9b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var small, bulk fleet
		errSmall, errBulk := Unmarshal(b, &small), UnmarshalBulk(b, &bulk)
		if errBulk != nil {
			if !errors.Is(errBulk, ErrMalformed) {
				t.Fatalf("unclassified error %v", errBulk)
			}
			if errSmall == nil {
				t.Fatalf("Unmarshal accepted %x, UnmarshalBulk refused it: %v", b, errBulk)
			}
			return
		}
		if again := MustMarshal(bulk); !bytes.Equal(again, b) {
			t.Fatalf("accepted %x but it re-encodes as %x", b, again)
		}
		if errSmall == nil && !bytes.Equal(MustMarshal(small), b) {
			t.Fatal("the two modes decoded different values")
		}
	})
}
