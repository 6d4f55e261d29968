package authority_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

func TestReserveSignsACodeTheInstanceInstalls(t *testing.T) {
	e := newEnv(t)
	e.setup()
	d := e.device("cam-1")
	a, err := e.l.Reserve(ctx, "acme/plant", d.request(lic(camera, 10), lic(analytics, 2)), nil)
	e.must(err)
	if a.Again || a.UDI != d.udi.String() || a.Account != "acme/plant" {
		t.Fatalf("got %+v", a)
	}
	got := e.install(d, a)
	if got.Serial != 1 || len(got.Nonce) != codes.NonceSize || got.InstallBy != t0.Unix()+30*86400 || got.IssuedAt != t0.Unix() {
		t.Fatalf("code fields: serial %d nonce %x issued %d install-by %d", got.Serial, got.Nonce, got.IssuedAt, got.InstallBy)
	}
	want := []codes.Entitlement{
		{Tag: camera, Count: 10, Kind: codes.Perpetual},
		{Tag: analytics, Count: 2, Kind: codes.Term, Start: day("2025-01-01"), End: day("2026-01-01"), ExportControlled: true},
	}
	if fmt.Sprint(got.Entitlements) != fmt.Sprint(want) {
		t.Fatalf("entitlements %v, want %v", got.Entitlements, want)
	}
	e.wantBalance("acme/plant", camera, 25, 15, 10, 0)
	e.wantBalance("acme/plant", analytics, 4, 2, 2, 0)
	r := e.verify()
	if r.Live != 1 || r.Codes != 1 {
		t.Fatalf("verify report %+v", r)
	}
}

func TestReserveAnswersTheSameRequestWithTheSameCode(t *testing.T) {
	e := newEnv(t)
	e.setup()
	d := e.device("cam-1")
	req := d.request(lic(camera, 5))
	a1, err := e.l.Reserve(ctx, "acme/plant", req, nil)
	e.must(err)
	// Lost after the commit: the same request comes back, even with
	// other licenses or account asked for.
	a2, err := e.l.Reserve(ctx, "acme/lab", req, []codes.License{lic(camera, 7)})
	e.must(err)
	if !a2.Again || !bytes.Equal(a1.Code, a2.Code) || a2.Account != "acme/plant" {
		t.Fatalf("second answer: again=%v same=%v account %s", a2.Again, bytes.Equal(a1.Code, a2.Code), a2.Account)
	}
	e.wantBalance("acme/plant", camera, 25, 20, 5, 0)
	// Another ledger handle (another process) answers the same.
	a3, err := e.ledger().Reserve(ctx, "acme/plant", req, nil)
	e.must(err)
	if !bytes.Equal(a1.Code, a3.Code) {
		t.Fatal("another handle answered with another code")
	}
	r := e.verify()
	if r.Reservations != 1 {
		t.Fatalf("%d reservations, want 1", r.Reservations)
	}
}

func TestReserveRefusesMoreThanAvailableAndSaysHowMany(t *testing.T) {
	e := newEnv(t)
	e.setup()
	_, err := e.l.Reserve(ctx, "acme/plant", e.device("cam-1").request(lic(camera, 26)), nil)
	wantErr(t, err, authority.ErrUnavailable)
	if !strings.Contains(err.Error(), `asked for 26 of "vms.camera.core", "acme/plant" has 25 available`) {
		t.Fatalf("message %q", err)
	}
	_, err = e.l.Reserve(ctx, "acme/lab", e.device("cam-2").request(lic(camera, 1)), nil)
	wantErr(t, err, authority.ErrUnavailable)
	e.wantBalance("acme/plant", camera, 25, 25, 0, 0)
	r := e.verify()
	if r.Reservations != 0 {
		t.Fatalf("a refused request left %d reservations", r.Reservations)
	}
	ins, err := e.l.Instances(ctx)
	e.must(err)
	if len(ins) != 0 {
		t.Fatalf("a refused request pinned %d instances", len(ins))
	}
}

func TestReserveRefusesLowOrderInstanceKey(t *testing.T) {
	// T13: the vector's request carries the X25519 point of order 1.
	e := newEnv(t)
	e.setup()
	code, err := hex.DecodeString("8440a05854a401a3016355434d026565646231360350d9a2c6618fe14ce79e6fbbc68a3edb16025820010000000000000000000000000000000000000000000000000000000000000003480102030405060708041a5e5f6e1048ced3c09e2161fd4e")
	e.must(err)
	_, err = e.l.Reserve(ctx, "acme/plant", code, []codes.License{lic(camera, 1)})
	wantErr(t, err, codes.ErrWeakKey)
	if r := e.verify(); r.Reservations != 0 {
		t.Fatal("a weak key got a reservation")
	}
}

func TestReserveRefusesRequestForAnotherAuthority(t *testing.T) {
	e := newEnv(t)
	e.setup()
	d := newDevice(t, "cam-1", e.f.Rogue)
	_, err := e.l.Reserve(ctx, "acme/plant", d.request(lic(camera, 1)), nil)
	wantErr(t, err, codes.ErrBadSignature)
	// A ledger that holds the rogue key too opens it.
	e.opts.Keys = append(e.opts.Keys, e.f.Rogue)
	_, err = authority.New(e.st, e.opts).Reserve(ctx, "acme/plant", d.request(lic(camera, 1)), nil)
	e.must(err)
}

func TestReserveRefusesAnotherKeyForAPinnedUDI(t *testing.T) {
	e := newEnv(t)
	e.setup()
	d := e.device("cam-1")
	a, err := e.l.Reserve(ctx, "acme/plant", d.request(lic(camera, 1)), nil)
	e.must(err)
	clone := e.device("cam-1-rebuilt")
	clone.udi = d.udi
	_, err = e.l.Reserve(ctx, "acme/plant", clone.request(lic(camera, 1)), nil)
	wantErr(t, err, authority.ErrKeyMismatch)
	// Returned is not enough: only a removed instance frees its UDI.
	_, err = e.l.Return(ctx, d.ret(resBytes(a), 1, false))
	e.must(err)
	_, err = e.l.Reserve(ctx, "acme/plant", clone.request(lic(camera, 1)), nil)
	wantErr(t, err, authority.ErrKeyMismatch)
	_, err = e.l.Remove(ctx, d.udi.String(), "motherboard replaced")
	e.must(err)
	_, err = e.l.Reserve(ctx, "acme/plant", clone.request(lic(camera, 1)), nil)
	e.must(err)
	e.verify()
}

func TestReserveRefusesASecondReservationForOneInstance(t *testing.T) {
	e := newEnv(t)
	e.setup()
	d := e.device("cam-1")
	_, err := e.l.Reserve(ctx, "acme/plant", d.request(lic(camera, 1)), nil)
	e.must(err)
	_, err = e.l.Reserve(ctx, "acme/plant", d.request(lic(camera, 1)), nil)
	wantErr(t, err, authority.ErrActive)
	e.wantBalance("acme/plant", camera, 25, 24, 1, 0)
}

func TestReserveRefusesAReusedNonce(t *testing.T) {
	e := newEnv(t)
	e.setup()
	d := e.device("cam-1")
	r1 := d.request(lic(camera, 1))
	a, err := e.l.Reserve(ctx, "acme/plant", r1, nil)
	e.must(err)
	_, err = e.l.Return(ctx, d.ret(resBytes(a), 1, true))
	e.must(err)
	d.nonce.Store(0) // the same nonce again, in another request
	r2 := d.request(lic(camera, 2))
	_, err = e.l.Reserve(ctx, "acme/plant", r2, nil)
	wantErr(t, err, authority.ErrReplay)
}

func TestReserveWithoutLicensesIsRefused(t *testing.T) {
	e := newEnv(t)
	e.setup()
	_, err := e.l.Reserve(ctx, "acme/plant", e.device("cam-1").request(), nil)
	wantErr(t, err, authority.ErrInvalid)
	_, err = e.l.Reserve(ctx, "acme/plant", e.device("cam-1").request(), []codes.License{lic(camera, 0)})
	wantErr(t, err, authority.ErrInvalid)
	_, err = e.l.Reserve(ctx, "acme/nowhere", e.device("cam-1").request(lic(camera, 1)), nil)
	wantErr(t, err, authority.ErrNotFound)
}

func TestReserveTakesOneTermsPerTag(t *testing.T) {
	e := newEnv(t)
	e.setup()
	// 25 perpetual and 10 term cameras: 30 fit in neither alone.
	e.lot("acme/plant", camera, 10, codes.Term, day("2025-01-01"), day("2027-01-01"), false)
	_, err := e.l.Reserve(ctx, "acme/plant", e.device("cam-1").request(lic(camera, 30)), nil)
	wantErr(t, err, authority.ErrUnavailable)
	if !strings.Contains(err.Error(), "ask for at most 25") {
		t.Fatalf("message %q", err)
	}
	// Perpetual first, then the term lot.
	a, err := e.l.Reserve(ctx, "acme/plant", e.device("cam-1").request(lic(camera, 20)), nil)
	e.must(err)
	if a.Authorization.Entitlements[0].Kind != codes.Perpetual {
		t.Fatalf("took %v", a.Authorization.Entitlements)
	}
	b, err := e.l.Reserve(ctx, "acme/plant", e.device("cam-2").request(lic(camera, 8)), nil)
	e.must(err)
	if en := b.Authorization.Entitlements[0]; en.Kind != codes.Term || en.End != day("2027-01-01") {
		t.Fatalf("took %v", b.Authorization.Entitlements)
	}
	e.verify()
}

func TestReserveSkipsEndedLots(t *testing.T) {
	e := newEnv(t)
	e.setup()
	e.clk.add(366 * 24 * time.Hour) // 2026-03: the analytics term has ended
	_, err := e.l.Reserve(ctx, "acme/plant", e.device("cam-1").request(lic(analytics, 1)), nil)
	wantErr(t, err, authority.ErrUnavailable)
}

func TestReserveRefusesWhenTheClockIsBehindTheLedger(t *testing.T) {
	e := newEnv(t)
	e.setup()
	_, err := e.l.Reserve(ctx, "acme/plant", e.device("cam-1").request(lic(camera, 1)), nil)
	e.must(err)
	e.clk.add(-time.Hour)
	_, err = e.l.Reserve(ctx, "acme/plant", e.device("cam-2").request(lic(camera, 1)), nil)
	wantErr(t, err, authority.ErrClock)
}

func TestReserveNeedsAKey(t *testing.T) {
	e := newEnv(t)
	e.setup()
	l := authority.New(e.st, authority.Options{Now: e.clk.Now})
	_, err := l.Reserve(ctx, "acme/plant", e.device("cam-1").request(lic(camera, 1)), nil)
	wantErr(t, err, authority.ErrNoKey)
}

func TestReserveBatchAnswersEachRequestAlone(t *testing.T) {
	e := newEnv(t, func(o *authority.Options) { o.BatchSize = 7 })
	e.setup()
	var reqs [][]byte
	var devs []int // the device of each request, -1 for none
	for i := range 40 {
		reqs = append(reqs, e.device(fmt.Sprint("cam-", i)).request(lic(camera, 1)))
		devs = append(devs, i)
		if i == 4 { // the same request twice in one transaction
			reqs, devs = append(reqs, reqs[4]), append(devs, 4)
		}
	}
	reqs, devs = append(reqs, reqs[3]), append(devs, 3) // again, in a later transaction
	reqs, devs = append(reqs, []byte("garbage")), append(devs, -1)
	var progress []int
	rs := e.l.ReserveBatch(ctx, "acme/plant", reqs, func(n int) { progress = append(progress, n) })
	ok, again, refused := 0, 0, 0
	for i, r := range rs {
		switch {
		case r.Err != nil:
			refused++
		case r.Authorized.Again:
			again++
		default:
			ok++
		}
		if r.Err == nil && r.Authorized.UDI != e.device(fmt.Sprint("cam-", devs[i])).udi.String() {
			t.Fatalf("result %d is for %s", i, r.Authorized.UDI)
		}
	}
	if ok != 25 || again != 2 || refused != 16 {
		t.Fatalf("%d reserved, %d again, %d refused; want 25, 2 and 16", ok, again, refused)
	}
	if !bytes.Equal(rs[5].Authorized.Code, rs[4].Authorized.Code) || !bytes.Equal(rs[41].Authorized.Code, rs[3].Authorized.Code) {
		t.Fatal("a repeated request was not answered with the first code")
	}
	wantErr(t, rs[30].Err, authority.ErrUnavailable)
	wantErr(t, rs[42].Err, codes.ErrMalformed)
	if len(progress) != 7 || progress[6] != len(reqs) {
		t.Fatalf("progress %v", progress)
	}
	e.wantBalance("acme/plant", camera, 25, 0, 25, 0)
	if r := e.verify(); r.Reservations != 25 {
		t.Fatalf("%d reservations", r.Reservations)
	}
}

func TestHistoryRecordsEveryOperation(t *testing.T) {
	e := newEnv(t)
	e.setup()
	d := e.device("cam-1")
	a, err := e.l.Reserve(ctx, "acme/plant", d.request(lic(camera, 1)), nil)
	e.must(err)
	evs, err := e.l.History(ctx, authority.HistoryFilter{Instance: d.udi.String()})
	e.must(err)
	if len(evs) != 1 || evs[0].Action != "reserve" || evs[0].Actor != "tester" || !bytes.Equal(evs[0].CodeHash, hashOf(a.Code)) {
		t.Fatalf("history %+v", evs)
	}
	all, err := e.l.History(ctx, authority.HistoryFilter{})
	e.must(err)
	var actions []string
	for _, ev := range all {
		actions = append(actions, ev.Action)
	}
	want := "init org add org add account add account add account add lot add lot add lot add reserve"
	if strings.Join(actions, " ") != want {
		t.Fatalf("actions %q", actions)
	}
	byAcct, err := e.l.History(ctx, authority.HistoryFilter{Account: "acme/lab"})
	e.must(err)
	if len(byAcct) != 1 {
		t.Fatalf("acme/lab history has %d events", len(byAcct))
	}
	later, err := e.l.History(ctx, authority.HistoryFilter{Since: t0.Unix() + 1})
	e.must(err)
	if len(later) != 0 {
		t.Fatalf("%d events after t0", len(later))
	}
}
