package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/authority/service"
	"github.com/airlock-dev/airlock/authority/store"
	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/codes/api"
)

// TestRegisterRenewOverHTTPS: an instance registers with a token, gets an
// authorization code for itself, renews it and its registration; the
// ledger verifies after each step and the token counts the use.
func TestRegisterRenewOverHTTPS(t *testing.T) {
	e := newEnv(t)
	inst := e.instance("cam-1")
	a := inst.register(e.token, 4)
	reg, au := e.authorized(a, inst.udi)
	if reg.Registration.Account != "acme/plant" || !reg.Registration.ExportAllowed {
		t.Errorf("registration %+v", reg.Registration)
	}
	if au == nil || len(au.Entitlements) != 1 || au.Entitlements[0].Tag != camera || au.Entitlements[0].Count != 4 {
		t.Fatalf("authorization %+v", au)
	}
	e.state()
	_, au2 := e.authorized(inst.renew(6), inst.udi)
	if au2 == nil || au2.Serial <= au.Serial || au2.Entitlements[0].Count != 6 {
		t.Fatalf("renewed authorization %+v after serial %d", au2, au.Serial)
	}
	e.state()
	if a := inst.call(api.PathRenewRegistration, struct{}{}); a.status != http.StatusOK {
		t.Fatalf("renew registration: %d %s", a.status, a.body)
	}
	toks, err := e.l.Tokens(ctx, "acme/plant")
	e.must(err)
	if len(toks) != 1 || toks[0].Uses != 1 {
		t.Errorf("token uses %+v, want 1", toks)
	}
	// The log names every request, with the UDI it claims.
	var renewals int
	for _, x := range e.logs.all() {
		if x.Path == api.PathRenewAuthorization && x.Status == 200 && x.UDI == inst.udi.String() {
			renewals++
		}
	}
	if renewals != 1 {
		t.Errorf("%d renewals logged, want 1: %+v", renewals, e.logs.all())
	}
}

// TestConcurrentInstancesRenew: 50 instances renew at once, 5 times each,
// against one service, while the desk adds lots and tokens through
// another handle on the ledger file (as the CLI would, from another
// process); every renewal is answered with a newer code for the right
// instance, and the ledger verifies. Run it with -race.
func TestConcurrentInstancesRenew(t *testing.T) {
	const instances, rounds = 50, 5
	e := newEnv(t, func(o *service.Options) { o.RegisterRate, o.RegisterBurst = 1000, instances })
	insts := make([]*testInstance, instances)
	for i := range insts {
		insts[i] = e.instance(fmt.Sprintf("cam-%d", i))
		insts[i].mustRegister(1)
	}
	desk, closer, err := store.OpenLedger(e.dir, false, authority.Options{Keys: []*codes.AuthorityKey{e.key}, Actor: "desk"})
	e.must(err)
	defer closer.Close()
	var wg sync.WaitGroup
	errs := make(chan error, instances*rounds+20)
	wg.Go(func() {
		for range 10 {
			if _, err := desk.AddLot(ctx, authority.LotSpec{Account: "acme/plant", Tag: camera, Count: 1, Kind: codes.Perpetual}); err != nil {
				errs <- fmt.Errorf("the desk: %w", err)
			}
			if _, _, err := desk.CreateToken(ctx, authority.TokenSpec{Account: "acme/plant"}); err != nil {
				errs <- fmt.Errorf("the desk: %w", err)
			}
		}
	})
	for _, inst := range insts {
		wg.Go(func() {
			var last uint64
			for r := range rounds {
				a := inst.renew(uint32(1 + r))
				if a.status != http.StatusOK {
					errs <- fmt.Errorf("%s round %d: %d %s", inst.udi, r, a.status, a.body)
					return
				}
				var out api.Authorized
				if err := json.Unmarshal(a.body, &out); err != nil {
					errs <- err
					return
				}
				au, err := codes.OpenAuthorization(out.Authorization, e.trust)
				if err != nil {
					errs <- err
					return
				}
				if au.UDI.String() != inst.udi.String() || au.Serial <= last || au.Entitlements[0].Count != uint32(1+r) {
					errs <- fmt.Errorf("%s round %d: code for %s serial %d (after %d) %+v", inst.udi, r, au.UDI, au.Serial, last, au.Entitlements)
					return
				}
				last = au.Serial
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	e.state() // verifies
}

// TestShutdownFinishesRequestsInFlight: a request whose body is still
// coming when Shutdown starts is answered in full; a new connection is
// refused from then on; Shutdown returns once the answer is out.
func TestShutdownFinishesRequestsInFlight(t *testing.T) {
	e := newEnv(t)
	inst := e.instance("cam-1")
	inst.mustRegister(1)
	body := []byte(`{"wanted":[{"Tag":"vms.camera.core","Count":3}]}`)
	hdr := inst.headers(http.MethodPost, api.PathRenewAuthorization, body)
	pr, pw := io.Pipe()
	got := make(chan answer, 1)
	go func() { got <- e.send(http.MethodPost, api.PathRenewAuthorization, hdr, pr) }()
	pw.Write(body[:10])
	time.Sleep(100 * time.Millisecond) // the server has the headers and reads the body

	stopped := make(chan error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		stopped <- e.svc.Shutdown(sctx)
	}()
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-stopped:
		t.Fatalf("Shutdown returned with a request in flight: %v", err)
	default:
	}
	if c, err := net.DialTimeout("tcp", e.url[len("https://"):], time.Second); err == nil {
		c.Close()
		t.Errorf("a new connection was accepted after Shutdown")
	}
	pw.Write(body[10:])
	pw.Close()
	a := <-got
	if _, au := e.authorized(a, inst.udi); au == nil || au.Entitlements[0].Count != 3 {
		t.Errorf("in-flight renewal: %+v", au)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	e.state()
}
