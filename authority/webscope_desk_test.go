package authority_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

// TestVendorOnlyOperationsRefuseACustomer: a customer's administrator is
// refused the ledger's verification, the record of a key rotation, every
// satellite operation and the desk's views, and the history's head and
// length stay as they were; the vendor does each.
func TestVendorOnlyOperationsRefuseACustomer(t *testing.T) {
	e := newEnv(t)
	e.setup()
	vera, ann, _ := e.people()
	_, trust := satelliteKey(t, "plant-sat")
	if _, err := vera.AddSatellite(ctx, "plant-sat", trust, []string{"acme/lab"}); err != nil {
		t.Fatal(err)
	}
	next := rotKey(t, "B", t0.Add(time.Hour))
	rot, err := authority.RotateKey(e.f.Trust, e.f.Authority, next, t0.Add(time.Hour))
	e.must(err)
	before, err := e.l.Meta(ctx)
	e.must(err)
	for _, tc := range []struct {
		what string
		do   func(*authority.Ledger) error
	}{
		{"Verify", func(l *authority.Ledger) error { _, err := l.Verify(ctx); return err }},
		{"RecordRotation", func(l *authority.Ledger) error { return l.RecordRotation(ctx, rot) }},
		{"MayRotate", func(l *authority.Ledger) error { return l.MayRotate(ctx) }},
		{"AddSatellite", func(l *authority.Ledger) error {
			_, tr := satelliteKey(t, "other-sat")
			_, err := l.AddSatellite(ctx, "other-sat", tr, []string{"acme/plant"})
			return err
		}},
		{"DelegateToSatellite", func(l *authority.Ledger) error {
			return l.DelegateToSatellite(ctx, "plant-sat", []string{"acme/plant"})
		}},
		{"RemoveSatellite", func(l *authority.Ledger) error { _, err := l.RemoveSatellite(ctx, "plant-sat", nil); return err }},
		{"UpdateSatelliteTrust", func(l *authority.Ledger) error {
			_, err := l.UpdateSatelliteTrust(ctx, "plant-sat", trust)
			return err
		}},
		{"Satellites", func(l *authority.Ledger) error { _, err := l.Satellites(ctx); return err }},
		{"SatelliteInfo", func(l *authority.Ledger) error { _, err := l.SatelliteInfo(ctx, "plant-sat"); return err }},
		{"Desk", func(l *authority.Ledger) error { _, err := l.Desk(ctx); return err }},
		{"ReviewLot", func(l *authority.Ledger) error {
			_, err := l.ReviewLot(ctx, authority.LotSpec{Account: "acme/plant", Tag: camera, Count: 5})
			return err
		}},
	} {
		err := tc.do(ann)
		if !errors.Is(err, authority.ErrDenied) {
			t.Errorf("%s as acme's administrator: %v, want ErrDenied", tc.what, err)
		}
		after, merr := e.l.Meta(ctx)
		e.must(merr)
		if after.HistoryCount != before.HistoryCount || !bytes.Equal(after.HistoryHead, before.HistoryHead) {
			t.Fatalf("%s refused, but the history moved from %d to %d events", tc.what, before.HistoryCount, after.HistoryCount)
		}
	}
	// The vendor may.
	if _, err := vera.Verify(ctx); err != nil {
		t.Fatalf("Verify as the vendor: %v", err)
	}
	if err := vera.MayRotate(ctx); err != nil {
		t.Fatalf("MayRotate as the vendor: %v", err)
	}
	if err := vera.RecordRotation(ctx, rot); err != nil {
		t.Fatalf("RecordRotation as the vendor: %v", err)
	}
	hist, err := vera.History(ctx, authority.HistoryFilter{})
	e.must(err)
	if last := hist[len(hist)-1]; last.Action != "rotate-key" || last.Actor != "vera@vendor.example" {
		t.Fatalf("the rotation is recorded as %q by %q", last.Action, last.Actor)
	}
	if _, err := vera.RemoveSatellite(ctx, "plant-sat", nil); err != nil {
		t.Fatalf("RemoveSatellite as the vendor: %v", err)
	}
	e.verify()
}

// TestVendorOnlyOperationsBeforeAnyVendorPerson: until the vendor adds its
// first person, the desk's operator verifies and records a rotation, as
// the command line always has.
func TestVendorOnlyOperationsBeforeAnyVendorPerson(t *testing.T) {
	e := newEnv(t)
	e.setup()
	if _, err := e.l.Verify(ctx); err != nil {
		t.Fatalf("Verify before any person: %v", err)
	}
	next := rotKey(t, "B", t0.Add(time.Hour))
	rot, err := authority.RotateKey(e.f.Trust, e.f.Authority, next, t0.Add(time.Hour))
	e.must(err)
	if err := e.l.RecordRotation(ctx, rot); err != nil {
		t.Fatalf("RecordRotation before any person: %v", err)
	}
	if _, err := e.l.Desk(ctx); err != nil {
		t.Fatalf("Desk before any person: %v", err)
	}
	// VerifyStore checks no role: it is for who holds the store itself.
	e.people()
	if _, err := authority.VerifyStore(ctx, e.st); err != nil {
		t.Fatalf("VerifyStore: %v", err)
	}
	if _, err := e.ledger().Verify(ctx); !errors.Is(err, authority.ErrDenied) {
		t.Fatalf("Verify as nobody once people exist: %v, want ErrDenied", err)
	}
}

// TestDeskViewAndLotReview: the vendor's overview holds every
// organization and account; a lot's review shows the balances before and
// after and changes nothing; what it refuses, AddLot refuses.
func TestDeskViewAndLotReview(t *testing.T) {
	e := newEnv(t)
	e.setup()
	vera, _, _ := e.people()
	v, err := vera.Desk(ctx)
	e.must(err)
	if len(v.Orgs) != 2 || v.Orgs[0].Name != "acme" || len(v.Accounts) != 3 || v.Accounts[0].Ref() != "acme/lab" {
		t.Fatalf("desk view: %d orgs, accounts %v", len(v.Orgs), v.Accounts)
	}
	before, err := e.l.Meta(ctx)
	e.must(err)
	rv, err := vera.ReviewLot(ctx, authority.LotSpec{Account: "acme/plant", Tag: camera, Count: 5, Kind: codes.Perpetual})
	e.must(err)
	var was, will authority.Balance
	for _, b := range rv.Before {
		if b.Tag == camera {
			was = b
		}
	}
	for _, b := range rv.After {
		if b.Tag == camera {
			will = b
		}
	}
	if rv.Account != "acme/plant" || was.Owned != 25 || will.Owned != 30 || will.Available != was.Available+5 || len(rv.After) != len(rv.Before) {
		t.Fatalf("review: %+v", rv)
	}
	rv, err = vera.ReviewLot(ctx, authority.LotSpec{Account: "acme/lab", Tag: analytics, Count: 3, Kind: codes.Term, Start: day("2026-01-01"), End: day("2027-01-01"), ExportControlled: true})
	e.must(err)
	if len(rv.Before) != 0 || len(rv.After) != 1 || rv.After[0].Owned != 3 || rv.Terms != "term 2026-01-01T00:00:00Z..2027-01-01T00:00:00Z, export-controlled" {
		t.Fatalf("review of a new tag: %+v", rv)
	}
	after, err := e.l.Meta(ctx)
	e.must(err)
	if after.HistoryCount != before.HistoryCount {
		t.Fatal("a review changed the history")
	}
	for _, s := range []authority.LotSpec{
		{Account: "acme/plant", Tag: camera, Count: 0},
		{Account: "acme/plant", Tag: camera, Count: authority.MaxLotCount + 1},
		{Account: "acme/plant", Tag: "a b", Count: 1},
		{Account: "acme/nowhere", Tag: camera, Count: 1},
		{Account: "acme/plant", Tag: camera, Count: 1, Kind: codes.Term},
	} {
		_, rerr := vera.ReviewLot(ctx, s)
		_, aerr := vera.AddLot(ctx, s)
		if rerr == nil || aerr == nil || rerr.Error() != aerr.Error() {
			t.Errorf("%+v: review says %v, AddLot %v", s, rerr, aerr)
		}
	}
	e.verify()
}
