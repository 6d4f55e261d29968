package cose

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/formats/wire"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The expected bytes were computed independently of this package, with
// Python's hmac module over a MAC_structure assembled byte by byte:
// 84 64 "MAC0" 40 51 "airlock/v1/return" 4a <payload>.
func TestSealMac0MatchesIndependentVector(t *testing.T) {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	payload := unhex(t, "a2014401020304021864")
	got := SealMac0(payload, []byte("airlock/v1/return"), key)
	want := unhex(t, "8440a04aa2014401020304021864485451c83d6c6d3969")
	if !bytes.Equal(got, want) {
		t.Fatalf("SealMac0 = %x, want %x", got, want)
	}
	m, err := ParseMac0(got)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Verify([]byte("airlock/v1/return"), key); err != nil {
		t.Fatal(err)
	}
	if err := m.Verify([]byte("airlock/v1/confirmation"), key); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("verify with another label: %v, want ErrBadSignature", err)
	}
}

func TestMac0RefusesEveryBitFlip(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	label := []byte("airlock/v1/confirmation")
	code := SealMac0([]byte{0xa2, 0x01, 0x44, 1, 2, 3, 4, 0x02, 0x01}, label, key)
	for i := range code {
		for bit := 0; bit < 8; bit++ {
			b := bytes.Clone(code)
			b[i] ^= 1 << bit
			m, err := ParseMac0(b)
			if err == nil {
				err = m.Verify(label, key)
			}
			if err == nil {
				t.Fatalf("flip of bit %d in byte %d accepted", bit, i)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrAlgorithm) {
				t.Fatalf("flip of bit %d in byte %d: unclassified error %v", bit, i, err)
			}
		}
	}
}

func TestParseMac0RefusesOtherProfiles(t *testing.T) {
	tag := "48" + "0102030405060708"
	cases := []struct {
		name string
		hex  string
		want error
	}{
		{"alg HMAC 256/256 in protected", "8443a10105a041a0" + tag, ErrAlgorithm},
		{"alg named even if it is HMAC 256/64", "8443a10104a041a0" + tag, ErrMalformed},
		{"unprotected header not empty", "8440a1010441a0" + tag, ErrMalformed},
		{"tagged COSE_Mac0 (tag 17)", "d18440a041a0" + tag, ErrMalformed},
		{"three elements", "8340a041a0", ErrMalformed},
		{"five elements", "8540a041a0" + tag + "00", ErrMalformed},
		{"detached payload", "8440a0f6" + tag, ErrMalformed},
		{"short tag", "8440a041a0470102030405060708"[:26], ErrMalformed},
		{"trailing byte", "8440a041a0" + tag + "00", ErrMalformed},
		{"indefinite array", "9f40a041a0" + tag + "ff", ErrMalformed},
		{"protected as a map", "84a0a041a0" + tag, ErrMalformed},
		{"protected null", "84f6a041a0" + tag, ErrMalformed},
		{"protected empty map", "8441a0a041a0" + tag, ErrMalformed},
		{"empty input", "", ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseMac0(unhex(t, c.hex))
			if !errors.Is(err, c.want) {
				t.Fatalf("ParseMac0 = %v, want %v", err, c.want)
			}
		})
	}
}

func testSign1(t testing.TB) ([]byte, ed25519.PublicKey) {
	pub, priv, _ := ed25519.GenerateKey(bytes.NewReader(make([]byte, 32)))
	code, err := SignSign1([]byte{0xa1, 0x01, 0x01}, []byte("airlock/v1/authorization"), bytes.Repeat([]byte{9}, 8), priv)
	if err != nil {
		t.Fatal(err)
	}
	return code, pub
}

func TestSign1RoundTripAndProfile(t *testing.T) {
	code, pub := testSign1(t)
	// 84 | 4d a2 01 27 04 48 <kid> | a0 | 43 a1 01 01 | 58 40 <sig>
	if want := unhex(t, "844da201270448"+"0909090909090909"+"a043a10101"); !bytes.HasPrefix(code, want) {
		t.Fatalf("envelope starts %x, want %x", code[:16], want)
	}
	s, err := ParseSign1(code)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.KeyID, bytes.Repeat([]byte{9}, 8)) {
		t.Fatalf("kid = %x", s.KeyID)
	}
	if err := s.Verify([]byte("airlock/v1/authorization"), pub); err != nil {
		t.Fatal(err)
	}
	if err := s.Verify([]byte("airlock/v1/trust-update"), pub); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("verify with another label: %v", err)
	}
	if err := s.Verify([]byte("airlock/v1/authorization"), pub[:31]); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("verify with a 31-byte key: %v", err)
	}
}

func TestSign1RefusesEveryBitFlip(t *testing.T) {
	code, pub := testSign1(t)
	label := []byte("airlock/v1/authorization")
	for i := range code {
		for bit := 0; bit < 8; bit++ {
			b := bytes.Clone(code)
			b[i] ^= 1 << bit
			s, err := ParseSign1(b)
			if err == nil {
				err = s.Verify(label, pub)
			}
			if err == nil {
				t.Fatalf("flip of bit %d in byte %d accepted", bit, i)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrAlgorithm) {
				t.Fatalf("flip of bit %d in byte %d: unclassified error %v", bit, i, err)
			}
		}
	}
}

func TestParseSign1RefusesOtherHeaders(t *testing.T) {
	code, _ := testSign1(t)
	// code[1:15] is the protected bstr 4d a2 01 27 04 48 <8 kid bytes>.
	swap := func(protected string) []byte {
		p := unhex(t, protected)
		return append(append([]byte{0x84}, p...), code[15:]...)
	}
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"alg ES256", swap("4da201260448" + "0909090909090909"), ErrAlgorithm},
		{"alg HMAC 256/256", swap("4da201050448" + "0909090909090909"), ErrAlgorithm},
		{"alg missing", swap("4ba10448" + "0909090909090909"), ErrAlgorithm},
		{"crit header", swap("4fa301270281630448" + "0909090909090909"), ErrMalformed},
		{"short kid", swap("4ca2012704470909090909090909"[:26]), ErrMalformed},
		{"non-shortest alg", swap("4ea20138070448" + "0909090909090909"), ErrMalformed},
		{"truncated", code[:len(code)-1], ErrMalformed},
		{"signature of 63 bytes", append(append(bytes.Clone(code[:len(code)-66]), 0x58, 63), code[len(code)-64:len(code)-1]...), ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseSign1(c.b)
			if !errors.Is(err, c.want) {
				t.Fatalf("ParseSign1 = %v, want %v", err, c.want)
			}
		})
	}
}

// TestBulkEnvelopes: the bulk parsers take envelopes up to wire.MaxBulkSize
// and verify them; the others keep wire.MaxSize.
func TestBulkEnvelopes(t *testing.T) {
	payload := wire.MustMarshal(bytes.Repeat([]byte{0x5a}, 4<<20)) // a 4 MiB byte string, as CBOR
	label := []byte("airlock/v1/activation")
	_, priv, err := ed25519.GenerateKey(bytes.NewReader(make([]byte, 32)))
	if err != nil {
		t.Fatal(err)
	}
	kid := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	signed, err := SignSign1(payload, label, kid, priv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseSign1(signed); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "the limit is 16384") {
		t.Fatalf("ParseSign1 of %d bytes = %v, want ErrMalformed", len(signed), err)
	}
	s, err := ParseSign1Bulk(signed)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(label, priv.Public().(ed25519.PublicKey)); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	signed[len(signed)/2] ^= 1
	if s, err := ParseSign1Bulk(signed); err != nil || !errors.Is(s.Verify(label, priv.Public().(ed25519.PublicKey)), ErrBadSignature) {
		t.Fatalf("a flipped payload bit: %v", err)
	}

	key := bytes.Repeat([]byte{7}, MACKeySize)
	maced := SealMac0(payload, label, key)
	if _, err := ParseMac0(maced); !errors.Is(err, ErrMalformed) {
		t.Fatalf("ParseMac0 of %d bytes = %v, want ErrMalformed", len(maced), err)
	}
	m, err := ParseMac0Bulk(maced)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Verify(label, key); err != nil {
		t.Fatal(err)
	}

	// Past wire.MaxBulkSize, even the bulk parsers refuse.
	huge := SealMac0(wire.MustMarshal(make([]byte, wire.MaxBulkSize)), label, key)
	if _, err := ParseMac0Bulk(huge); !errors.Is(err, ErrMalformed) {
		t.Fatalf("ParseMac0Bulk of %d bytes = %v, want ErrMalformed", len(huge), err)
	}
	// The profile checks are the same: a tag of 7 bytes is refused.
	short := wire.MustMarshal([]any{[]byte{}, map[int]int{}, payload, make([]byte, 7)})
	if _, err := ParseMac0Bulk(short); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "tag has 7 bytes") {
		t.Fatalf("ParseMac0Bulk with a 7-byte tag = %v", err)
	}
}
