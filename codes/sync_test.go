package codes_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/testvectors/gen"
)

func syncFixture(t testing.TB) *gen.Fixture {
	t.Helper()
	f, err := gen.NewFixture()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestSyncRoundTrip(t *testing.T) {
	f := syncFixture(t)
	code, err := codes.SignSyncRequest(f.SyncRequest(), f.Authority)
	if err != nil {
		t.Fatal(err)
	}
	r, err := codes.OpenSyncRequest(code, f.Trust)
	if err != nil {
		t.Fatal(err)
	}
	if r.Satellite != "plant-sat" || r.Sequence != 3 || r.KeyID != f.Authority.ID() || len(r.Accounts) != 2 || r.Accounts[1].Usage[1].Over != 3 {
		t.Fatalf("opened %+v", r)
	}
	ans, err := codes.SignSyncAnswer(f.SyncAnswer(), f.Authority)
	if err != nil {
		t.Fatal(err)
	}
	a, err := codes.OpenSyncAnswer(ans, f.Trust)
	if err != nil {
		t.Fatal(err)
	}
	if a.Lots() != 3 || a.Accounts[1].Lots[2].Kind != codes.Hardware || !a.Accounts[1].Lots[2].ExportControlled {
		t.Fatalf("opened %+v", a)
	}
	// The armored form names the kind; typed and armored read back the same.
	for _, in := range [][]byte{codes.EncodeArmor(codes.KindSyncAnswer, ans), []byte(codes.EncodeText(codes.KindSyncAnswer, ans))} {
		got, err := codes.DecodeKind(in, codes.KindSyncAnswer)
		if err != nil || !bytes.Equal(got, ans) {
			t.Fatalf("DecodeKind: %v", err)
		}
		if _, err := codes.DecodeKind(in, codes.KindSyncRequest); !errors.Is(err, codes.ErrWrongKind) {
			t.Fatalf("an answer read as a request: %v", err)
		}
	}
}

// A request signed by one satellite does not open with another's keys:
// the vendor opens it against the trust set of the satellite it names.
func TestSyncRequestOfAnotherSatelliteRefused(t *testing.T) {
	f := syncFixture(t)
	code, err := codes.SignSyncRequest(f.SyncRequest(), f.Rogue)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := codes.OpenSyncRequest(code, f.Trust); !errors.Is(err, codes.ErrUnknownKey) {
		t.Fatalf("got %v, want ErrUnknownKey", err)
	}
	// The key id of a trusted key, with one bit of the signature flipped.
	good, err := codes.SignSyncRequest(f.SyncRequest(), f.Authority)
	if err != nil {
		t.Fatal(err)
	}
	forged := bytes.Clone(good)
	forged[len(forged)-1] ^= 1
	if _, err := codes.OpenSyncRequest(forged, f.Trust); !errors.Is(err, codes.ErrBadSignature) {
		t.Fatalf("got %v, want ErrBadSignature", err)
	}
}

// syncLot returns lot i of a large answer: tags of 30 characters.
func syncLot(i int) codes.SyncLot {
	return codes.SyncLot{ID: uint64(i + 1), Tag: fmt.Sprintf("vms.feature.%018d", i), Count: 100, Kind: codes.Perpetual}
}

// A sync answer at MaxSyncLines lots of the longest tags stays within
// the bulk limit, and one more lot is refused before it is signed.
func TestSyncAnswerLimits(t *testing.T) {
	f := syncFixture(t)
	a := f.SyncAnswer()
	a.Accounts = []codes.SyncDelegation{{Org: "acme", Account: "plant"}}
	for i := range codes.MaxSyncLines {
		l := syncLot(i)
		l.Tag = fmt.Sprintf("%0*d", codes.MaxTagLen, i)
		l.Kind, l.Start, l.End, l.ExportControlled = codes.Term, 1<<40, 1<<41, true
		l.Count = 1<<32 - 1
		l.ID = 1<<62 + uint64(i)
		a.Accounts[0].Lots = append(a.Accounts[0].Lots, l)
	}
	code, err := codes.SignSyncAnswer(a, f.Authority)
	if err != nil {
		t.Fatal(err)
	}
	if len(code) > codes.MaxBulkCodeSize/2 {
		t.Errorf("a sync answer at the limit has %d bytes, more than half of %d", len(code), codes.MaxBulkCodeSize)
	}
	t.Logf("sync answer of %d lots with %d-character tags: %d bytes", codes.MaxSyncLines, codes.MaxTagLen, len(code))
	if _, err := codes.OpenSyncAnswer(code, f.Trust); err != nil {
		t.Fatal(err)
	}
	a.Accounts[0].Lots = append(a.Accounts[0].Lots, codes.SyncLot{ID: 1<<62 + codes.MaxSyncLines, Tag: "x", Count: 1})
	if _, err := codes.SignSyncAnswer(a, f.Authority); !errors.Is(err, codes.ErrMalformed) {
		t.Fatalf("%d lots: got %v, want ErrMalformed", codes.MaxSyncLines+1, err)
	}
	many := f.SyncAnswer()
	many.Accounts = nil
	for i := range codes.MaxSyncAccounts + 1 {
		many.Accounts = append(many.Accounts, codes.SyncDelegation{Org: "acme", Account: fmt.Sprintf("a%05d", i)})
	}
	if _, err := codes.SignSyncAnswer(many, f.Authority); !errors.Is(err, codes.ErrMalformed) {
		t.Fatalf("%d accounts: got %v, want ErrMalformed", len(many.Accounts), err)
	}
}

func TestSyncRequestLimits(t *testing.T) {
	f := syncFixture(t)
	r := f.SyncRequest()
	r.Accounts = []codes.SyncAccount{{Org: "acme", Account: "plant"}}
	for i := range codes.MaxSyncLines + 1 {
		r.Accounts[0].Usage = append(r.Accounts[0].Usage, codes.SyncUsage{Tag: fmt.Sprintf("t%06d", i), Peak: 1})
	}
	if _, err := codes.SignSyncRequest(r, f.Authority); !errors.Is(err, codes.ErrMalformed) {
		t.Fatalf("%d usage lines: got %v, want ErrMalformed", codes.MaxSyncLines+1, err)
	}
	r.Accounts[0].Usage = r.Accounts[0].Usage[:codes.MaxSyncLines]
	code, err := codes.SignSyncRequest(r, f.Authority)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := codes.OpenSyncRequest(code, f.Trust); err != nil {
		t.Fatal(err)
	}
}

func TestCheckSyncName(t *testing.T) {
	for _, ok := range []string{"a", "plant-sat", "Plant.Sat_2", strings.Repeat("x", codes.MaxSyncNameLen)} {
		if err := codes.CheckSyncName("satellite", ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-sat", "plant sat", "plant/sat", "plänt", strings.Repeat("x", codes.MaxSyncNameLen+1), "a\x00"} {
		if err := codes.CheckSyncName("satellite", bad); !errors.Is(err, codes.ErrMalformed) {
			t.Errorf("%q: got %v, want ErrMalformed", bad, err)
		}
	}
}

// FuzzOpenSyncRequest: no panic, classified errors, and an accepted sync
// request is exactly the code the satellite makes for its content.
func FuzzOpenSyncRequest(f *testing.F) {
	seedVectors(f, true)
	fx, err := gen.NewFixture()
	if err != nil {
		f.Fatal(err)
	}
	r := fx.SyncRequest()
	for _, n := range []int{0, 1, 40} {
		r.Accounts = nil
		for i := range n {
			r.Accounts = append(r.Accounts, codes.SyncAccount{Org: "acme", Account: fmt.Sprintf("va%03d", i), Instances: uint32(i),
				Usage: []codes.SyncUsage{{Tag: "vms.camera.core", Peak: uint32(i), Current: uint32(i / 2), Over: uint32(i % 3)}}})
		}
		f.Add(mustSync(codes.SignSyncRequest(r, fx.Authority)))
	}
	v := verifier(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := codes.OpenSyncRequest(in, v.Trust)
		if err != nil {
			if !classified(err) {
				t.Fatalf("unclassified error: %v", err)
			}
			if _, perr := codes.ParseUnverifiedSyncRequest(in); perr != nil && !classified(perr) {
				t.Fatalf("ParseUnverifiedSyncRequest: unclassified error: %v", perr)
			}
			return
		}
		if r.Sequence == 0 || len(r.Accounts) > codes.MaxSyncAccounts {
			t.Fatalf("accepted sequence %d with %d accounts", r.Sequence, len(r.Accounts))
		}
		again, err := codes.SignSyncRequest(r, v.Authority)
		if err != nil {
			t.Fatalf("accepted sync request cannot be signed again: %v", err)
		}
		if !bytes.Equal(again, in) {
			t.Fatalf("accepted %x, which re-encodes as %x", in, again)
		}
	})
}

// FuzzOpenSyncAnswer: no panic, classified errors, and an accepted sync
// answer is exactly the code the vendor makes for its content, with
// lots of valid terms, each listed once.
func FuzzOpenSyncAnswer(f *testing.F) {
	seedVectors(f, true)
	fx, err := gen.NewFixture()
	if err != nil {
		f.Fatal(err)
	}
	a := fx.SyncAnswer()
	for _, n := range []int{0, 1, 40} {
		a.Accounts = []codes.SyncDelegation{{Org: "acme", Account: "plant"}}
		for i := range n {
			a.Accounts[0].Lots = append(a.Accounts[0].Lots, syncLot(i))
		}
		f.Add(mustSync(codes.SignSyncAnswer(a, fx.Authority)))
	}
	v := verifier(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		a, err := codes.OpenSyncAnswer(in, v.Trust)
		if err != nil {
			if !classified(err) {
				t.Fatalf("unclassified error: %v", err)
			}
			if _, perr := codes.ParseUnverifiedSyncAnswer(in); perr != nil && !classified(perr) {
				t.Fatalf("ParseUnverifiedSyncAnswer: unclassified error: %v", perr)
			}
			return
		}
		seen := map[uint64]bool{}
		for _, d := range a.Accounts {
			for _, l := range d.Lots {
				if seen[l.ID] || l.Count == 0 || codes.CheckTerms(l.Entitlement()) != nil {
					t.Fatalf("accepted lot %+v", l)
				}
				seen[l.ID] = true
			}
		}
		again, err := codes.SignSyncAnswer(a, v.Authority)
		if err != nil {
			t.Fatalf("accepted sync answer cannot be signed again: %v", err)
		}
		if !bytes.Equal(again, in) {
			t.Fatalf("accepted %x, which re-encodes as %x", in, again)
		}
	})
}

func mustSync(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
