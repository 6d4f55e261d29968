package codes_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/testvectors/gen"
)

func fixture(t testing.TB) *gen.Fixture {
	t.Helper()
	f, err := gen.NewFixture()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestParseUDI(t *testing.T) {
	u, err := codes.ParseUDI("S:edb16, P:UCM ,u:D9A2C661-8FE1-4CE7-9E6F-BBC68A3EDB16")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := u.String(), gen.CiscoUDI; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	bad := map[string]string{
		"":                    "empty UDI",
		"P:UCM,S:edb16":       "no U (UUID) part",
		"P:UCM,S:edb16,U:xyz": "is not of the form",
		"P:UCM,P:UCM,S:a,U:" + strings.Repeat("0", 8) + "-0000-0000-0000-000000000000": "appears twice",
		"P:,S:a,U:00000000-0000-0000-0000-000000000000":                                "must have 1 to 64",
		"P:U M,S:a,U:00000000-0000-0000-0000-000000000000":                             "has character ' '",
		"X:1,S:a,U:00000000-0000-0000-0000-000000000000":                               "is not P, S or U",
		"PUCM,S:a,U:00000000-0000-0000-0000-000000000000":                              "has no \":\"",
	}
	for in, want := range bad {
		_, err := codes.ParseUDI(in)
		if !errors.Is(err, codes.ErrMalformed) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseUDI(%q) = %v, want ErrMalformed containing %q", in, err, want)
		}
	}
}

// TestInstanceKeyRefusesLowOrderAuthorityKeys: with a low-order X25519
// key the shared secret is all zeros, and anyone could compute the MAC key.
func TestLowOrderX25519KeysAreRefused(t *testing.T) {
	for _, h := range []string{
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	} {
		pub, _ := hex.DecodeString(h)
		high := bytes.Clone(pub)
		high[31] |= 0x80
		if err := codes.CheckX25519Public(high); !errors.Is(err, codes.ErrWeakKey) {
			t.Errorf("CheckX25519Public(%s with the top bit set) = %v, want ErrWeakKey", h[:8], err)
		}
		if err := codes.CheckX25519Public(pub); !errors.Is(err, codes.ErrWeakKey) {
			t.Errorf("CheckX25519Public(%s) = %v, want ErrWeakKey", h[:8], err)
		}
		f := fixture(t)
		if _, err := f.Authority.MACKey(pub); !errors.Is(err, codes.ErrWeakKey) {
			t.Errorf("AuthorityKey.MACKey(%s) = %v, want ErrWeakKey", h[:8], err)
		}
	}
	if err := codes.CheckX25519Public(make([]byte, 31)); !errors.Is(err, codes.ErrWeakKey) {
		t.Errorf("31-byte key: %v", err)
	}
}

func TestPairwiseKeyIsSharedAndDistinct(t *testing.T) {
	f := fixture(t)
	a, err := f.Authority.MACKey(f.Instance.Public())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, f.Pairwise) {
		t.Fatal("authority and instance derive different pairwise keys")
	}
	b, err := f.Authority.MACKey(f.Other.Public())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, b) {
		t.Fatal("two instances share a pairwise key")
	}
}

func TestEveryKindRoundTrips(t *testing.T) {
	f := fixture(t)
	for k, code := range f.Codes() {
		for _, form := range []codes.Form{codes.FormBinary, codes.FormText, codes.FormArmor} {
			var in []byte
			switch form {
			case codes.FormBinary:
				in = code
			case codes.FormText:
				in = []byte(codes.EncodeText(k, code))
			case codes.FormArmor:
				in = codes.EncodeArmor(k, code)
			}
			d, err := codes.Decode(in)
			if err != nil {
				t.Fatalf("%s %s: %v", k, form, err)
			}
			if d.Form != form || (form != codes.FormBinary && d.Kind != k) || !bytes.Equal(d.Code, code) {
				t.Fatalf("%s %s: decoded as %s %s", k, form, d.Kind, d.Form)
			}
		}
		got, err := codes.GuessKinds(code)
		if err != nil || !slices.Contains(got, k) || len(got) > 2 {
			t.Errorf("GuessKinds(%s) = %v, %v", k, got, err)
		}
	}
}

func TestSignRefusesInvalidAuthorization(t *testing.T) {
	f := fixture(t)
	a := f.CiscoAuthorization()
	a.Entitlements[0].Count = 0
	if _, err := codes.SignAuthorization(a, f.Authority); !errors.Is(err, codes.ErrInvalid) {
		t.Fatalf("SignAuthorization with count 0 = %v, want ErrInvalid", err)
	}
}

func TestAuthorizationCheck(t *testing.T) {
	f := fixture(t)
	code, err := codes.SignAuthorization(f.CiscoAuthorization(), f.Authority)
	if err != nil {
		t.Fatal(err)
	}
	a, err := codes.OpenAuthorization(code, f.Trust)
	if err != nil {
		t.Fatal(err)
	}
	if a.KeyID != f.Authority.ID() {
		t.Fatalf("KeyID = %s, want %s", a.KeyID, f.Authority.ID())
	}
	at := time.Unix(a.IssuedAt, 0)
	if err := a.Check(at, f.UDI, f.Instance.Public()); err != nil {
		t.Fatal(err)
	}
	other := f.UDI
	other.SN = "aa001"
	err = a.Check(at, other, f.Instance.Public())
	if want := "authorization code is for UDI P:UCM,S:edb16 but this instance is P:UCM,S:aa001"; !errors.Is(err, codes.ErrWrongInstance) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Check with another UDI = %v", err)
	}
}

func TestTrustUpdateRotation(t *testing.T) {
	f := fixture(t)
	up, err := codes.SignTrustSet(f.TrustUpdate(), f.Authority)
	if err != nil {
		t.Fatal(err)
	}
	next, err := codes.OpenTrustUpdate(up, f.Trust)
	if err != nil {
		t.Fatal(err)
	}
	if next.Sequence != 2 || len(next.Keys) != 2 {
		t.Fatalf("rotated set = %+v", next)
	}
	// The same update again is not newer than the set it produced.
	if _, err := codes.OpenTrustUpdate(up, next); !errors.Is(err, codes.ErrInvalid) {
		t.Fatalf("replayed trust update = %v, want ErrInvalid", err)
	}
}

func TestAuthorityKeyFileRoundTrip(t *testing.T) {
	f := fixture(t)
	sealed, err := codes.SealAuthorityKey(f.Authority, f.AgeIdentity.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	k, err := codes.OpenAuthorityKey(sealed, f.AgeIdentity)
	if err != nil {
		t.Fatal(err)
	}
	if k.ID() != f.Authority.ID() || !bytes.Equal(k.MarshalPrivate(), f.Authority.MarshalPrivate()) {
		t.Fatal("key changed in the round trip")
	}
}

// TestReturnCarriesJournalTag: the journal tag survives the round trip,
// and a tag of another length is refused when sealing, so the instance
// never makes a code the authority would refuse.
func TestReturnCarriesJournalTag(t *testing.T) {
	f := fixture(t)
	code, err := codes.SealReturn(f.Return(), f.Pairwise)
	if err != nil {
		t.Fatal(err)
	}
	r, err := codes.OpenReturn(code, f.Pairwise)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.Journal, f.Return().Journal) {
		t.Fatalf("journal tag %x, want %x", r.Journal, f.Return().Journal)
	}
	other := f.Return()
	other.Journal = []byte{0xab, 0xac}
	code2, err := codes.SealReturn(other, f.Pairwise)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(code, code2) {
		t.Fatal("two journal tags make the same return code")
	}
	for _, tag := range [][]byte{{}, {1}, {1, 2, 3}} {
		bad := f.Return()
		bad.Journal = tag
		if _, err := codes.SealReturn(bad, f.Pairwise); !errors.Is(err, codes.ErrMalformed) || !strings.Contains(err.Error(), "journal tag has") {
			t.Errorf("SealReturn with a %d-byte tag = %v, want ErrMalformed naming the journal tag", len(tag), err)
		}
	}
}

// TestUsageJournalFieldsGoTogether: the journal count comes with the
// head, a previous head only with a head, and never equal to it.
func TestUsageJournalFieldsGoTogether(t *testing.T) {
	f := fixture(t)
	u, err := codes.OpenUsage(must(t)(codes.SealUsage(f.Usage(), f.Pairwise)), f.Pairwise)
	if err != nil {
		t.Fatal(err)
	}
	if u.JournalCount != 42 || !bytes.Equal(u.PreviousHead, f.Usage().PreviousHead) {
		t.Fatalf("journal count %d, previous head %x", u.JournalCount, u.PreviousHead)
	}
	for name, tc := range map[string]struct {
		change func(*codes.Usage)
		want   error
		msg    string
	}{
		"count without head":    {func(u *codes.Usage) { u.JournalHead, u.PreviousHead = nil, nil }, codes.ErrInvalid, "both a journal head and a journal count"},
		"head without count":    {func(u *codes.Usage) { u.JournalCount = 0 }, codes.ErrInvalid, "both a journal head and a journal count"},
		"previous without head": {func(u *codes.Usage) { u.JournalHead, u.JournalCount = nil, 0 }, codes.ErrInvalid, "no journal head"},
		"previous is head":      {func(u *codes.Usage) { u.PreviousHead = u.JournalHead }, codes.ErrInvalid, "previous journal head is its journal head"},
		"short previous":        {func(u *codes.Usage) { u.PreviousHead = u.PreviousHead[:16] }, codes.ErrMalformed, "previous journal head has 16 bytes"},
	} {
		u := f.Usage()
		tc.change(u)
		if _, err := codes.SealUsage(u, f.Pairwise); !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: SealUsage = %v, want %v containing %q", name, err, tc.want, tc.msg)
		}
	}
}

func must(t *testing.T) func([]byte, error) []byte {
	return func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// TestReturnJournalTagFitsTheTypedTarget pins the bounds docs/FORMAT.md
// §9.2 states: with its journal tag, a return code stays within
// MaxTypedReturn for serials 1 to 23 only, and a return-authorization
// never does; without it, every serial below 2^32 fits.
func TestReturnJournalTagFitsTheTypedTarget(t *testing.T) {
	f := fixture(t)
	size := func(serial uint64, never bool, tag []byte) int {
		code, err := codes.SealReturn(&codes.Return{Reservation: f.Return().Reservation, Serial: serial, NeverInstalled: never, Journal: tag}, f.Pairwise)
		if err != nil {
			t.Fatal(err)
		}
		return codes.TypedLen(codes.KindReturn, code)
	}
	tag := []byte{0xab, 0xab}
	for _, s := range []uint64{1, 23} {
		if n := size(s, false, tag); n != 50 {
			t.Errorf("return of serial %d with its tag: %d characters, want 50", s, n)
		}
	}
	if n := size(24, false, tag); n <= codes.MaxTypedReturn {
		t.Errorf("return of serial 24 with its tag: %d characters, want more than %d", n, codes.MaxTypedReturn)
	}
	if n := size(1, true, tag); n <= codes.MaxTypedReturn {
		t.Errorf("return-authorization with its tag: %d characters, want more than %d", n, codes.MaxTypedReturn)
	}
	for _, s := range []uint64{1, 255, 65535, 1<<32 - 1} {
		if n := size(s, false, nil); n > codes.MaxTypedReturn {
			t.Errorf("return of serial %d without a tag: %d characters", s, n)
		}
	}
}
