package authority_test

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/codes/api"
)

// people adds a vendor's staff member and acme's administrator and
// viewer, and returns the ledger as each.
func (e *env) people() (vera, ann, vic *authority.Ledger) {
	e.t.Helper()
	vera = e.l.As("vera@vendor.example")
	for _, p := range []authority.Person{
		{Email: "vera@vendor.example", Name: "Vera", Role: authority.RoleVendor},
		{Email: "ann@acme.example", Name: "Ann", Role: authority.RoleAdmin, Org: "acme"},
		{Email: "vic@acme.example", Name: "Vic", Role: authority.RoleViewer, Org: "acme"},
	} {
		_, err := vera.AddPerson(ctx, p)
		e.must(err)
	}
	ann, vic = e.l.As("ann@acme.example"), e.l.As("vic@acme.example")
	// From now on the desk is nobody: the env's helpers act as the vendor.
	e.l = vera
	return vera, ann, vic
}

// TestAsActsAsAnotherPersonOnTheSameStore: a copy made by As checks roles
// and records history as its actor, on the same store, and leaves the
// ledger it came from as it was.
func TestAsActsAsAnotherPersonOnTheSameStore(t *testing.T) {
	e := newEnv(t)
	e.setup()
	desk := e.l
	_, ann, vic := e.people()
	if desk.Actor() != "tester" || ann.Actor() != "ann@acme.example" || ann.Store() != desk.Store() {
		t.Fatalf("actors %q %q", desk.Actor(), ann.Actor())
	}
	d := e.device("cam-1")
	a, err := ann.ReserveIn(ctx, "acme", "plant", d.request(lic(camera, 3)), nil)
	e.must(err)
	if _, err := vic.ReserveIn(ctx, "acme", "plant", d.request(lic(camera, 3)), nil); !errors.Is(err, authority.ErrDenied) {
		t.Fatalf("a viewer reserved: %v", err)
	}
	if _, err := ann.Access(ctx, "globex"); !errors.Is(err, authority.ErrDenied) {
		t.Fatalf("acme's administrator reads globex: %v", err)
	}
	es, err := e.l.History(ctx, authority.HistoryFilter{Account: "acme/plant"})
	e.must(err)
	last := es[len(es)-1]
	if last.Action != "reserve" || last.Actor != "ann@acme.example" || last.Instance != a.UDI {
		t.Fatalf("last event %+v", last)
	}
	e.wantBalance("acme/plant", camera, 25, 22, 3, 0)
	e.verify()
}

// TestAsStartsNoGoroutine: copies are plain values; a thousand of them
// start nothing.
func TestAsStartsNoGoroutine(t *testing.T) {
	e := newEnv(t)
	before := runtime.NumGoroutine()
	copies := make([]*authority.Ledger, 1000)
	for i := range copies {
		copies[i] = e.l.As(fmt.Sprintf("p%d@acme.example", i))
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Fatalf("%d goroutines before the copies, %d after", before, after)
	}
	runtime.KeepAlive(copies)
}

// TestRenewalsThroughCopiesShareOneBatcher: renewals that come through
// many copies at once are answered by the one batcher of the ledger New
// made, and recorded as its actor, not as the copies'.
func TestRenewalsThroughCopiesShareOneBatcher(t *testing.T) {
	e := newEnv(t)
	e.setup()
	tok := e.token("acme/plant", true, 0)
	const n = 12
	devs := make([]*cdev, n)
	for i := range devs {
		devs[i] = e.cdev(fmt.Sprintf("cp%02d", i))
		a, err := devs[i].register(tok, false, lic(camera, 1))
		e.must(err)
		devs[i].take(a)
	}
	e.clk.add(24 * time.Hour)
	start := runtime.NumGoroutine()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, d := range devs {
		cp := e.l.As(fmt.Sprintf("web%d@acme.example", i))
		r := api.RenewRequest{Wanted: []codes.License{lic(camera, 2)}, Installed: d.serial}
		c := d.caller(api.PathRenewAuthorization, r)
		wg.Go(func() {
			if _, err := cp.RenewAuthorization(ctx, c, r); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// The batcher ends once nothing waits.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > start && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > start {
		t.Errorf("%d goroutines before the renewals, %d after", start, g)
	}
	es, err := e.l.History(ctx, authority.HistoryFilter{Since: e.clk.Now().Unix()})
	e.must(err)
	renewals := 0
	for _, ev := range es {
		if ev.Actor != "tester" {
			t.Errorf("event %s %s recorded as %q", ev.Action, ev.Subject, ev.Actor)
		}
		renewals++
	}
	if renewals != n {
		t.Errorf("%d events, want %d renewals", renewals, n)
	}
	e.wantBalance("acme/plant", camera, 25, 25-2*n, n*2, 0)
	e.verify()
}
