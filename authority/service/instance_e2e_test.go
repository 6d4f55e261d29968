package service_test

import (
	"crypto/rand"
	"net"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/authority/service"
	"github.com/airlock-dev/airlock/authority/store"
	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/instance"
)

// set moves the clock to t.
func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// TestInstanceOverFourHundredDays runs the instance package's agent
// against the real service and ledger, over HTTPS with a test CA, on one
// simulated clock: registration, renewals every 30 days and of the
// registration every 6 months, usage reports, for 400 days; then the
// service goes away and the authorization lapses exactly 90 days after
// the code last renewed was issued.
func TestInstanceOverFourHundredDays(t *testing.T) {
	const day = 24 * time.Hour
	clk := &fakeClock{t: time.Date(2027, 1, 4, 9, 0, 0, 0, time.UTC)}
	key := must(codes.GenerateAuthorityKey(rand.Reader, time.Time{}, time.Time{}))
	trust := &codes.TrustSet{Sequence: 1, Keys: []codes.AuthorityPublicKey{key.Public}, IssuedAt: clk.Now().Unix() - 3600}
	l, closer, err := store.OpenLedger(t.TempDir(), true, authority.Options{Keys: []*codes.AuthorityKey{key}, Actor: "tester", Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	check(l.Init(ctx, "desk"))
	_, err = l.AddOrg(ctx, "acme")
	check(err)
	_, err = l.AddAccount(ctx, "acme", "plant", 0)
	check(err)
	_, err = l.AddLot(ctx, authority.LotSpec{Account: "acme/plant", Tag: camera, Count: 10, Kind: codes.Perpetual})
	check(err)
	token, _, err := l.CreateToken(ctx, authority.TokenSpec{Account: "acme/plant", ExportAllowed: true, MaxUses: 1})
	check(err)

	svc := service.New(l, service.Options{Keys: []codes.KeyID{key.ID()}, Now: clk.Now})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	served := make(chan error, 1)
	go func() { served <- svc.ServeTLS(ln, service.TLSConfig(newTestCA(t).server)) }()

	udi := must(codes.ParseUDI("P:VMS,S:cam-400,U:0f2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b"))
	in, err := instance.Init(t.TempDir(), udi, trust, instance.WithClock(clk.Now))
	check(err)
	check(in.SetTransport(instance.Transport{Kind: instance.TransportDirect, URL: "https://" + ln.Addr().String(), CA: newTestCA(t).pem}))
	c := &instance.Client{}
	defer c.Close()
	ans, err := in.Register(ctx, c, token, []codes.License{{Tag: camera, Count: 4}})
	check(err)
	if ans == nil || !in.Licensed(camera) || in.Available(camera) != 4 {
		t.Fatalf("after registration: %+v, licensed %v, available %d", ans, in.Licensed(camera), in.Available(camera))
	}
	// The token had one use.
	other := must(instance.Init(t.TempDir(), must(codes.ParseUDI("P:VMS,S:cam-401,U:1f2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b")), trust, instance.WithClock(clk.Now)))
	check(other.SetTransport(instance.Transport{Kind: instance.TransportDirect, URL: "https://" + ln.Addr().String(), CA: newTestCA(t).pem}))
	if _, err := other.Register(ctx, c, token, []codes.License{{Tag: camera, Count: 1}}); err == nil {
		t.Fatal("a token of one use registered two instances")
	}

	agent := instance.NewAgent(in, c)
	start := clk.Now()
	for clk.Now().Sub(start) < 400*day {
		clk.add(5 * day)
		if _, err := agent.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := in.Connected()
	check(err)
	now := clk.Now()
	switch {
	case cs.Serial < 13:
		t.Fatalf("serial %d after 400 days of renewals every 30 days", cs.Serial)
	case cs.Lapsed || cs.Lapses.Sub(now) < 55*day:
		t.Fatalf("the authorization lapses %s, %s from now", cs.Lapses, cs.Lapses.Sub(now))
	case cs.RegistrationExpires.Sub(now) < 180*day:
		t.Fatalf("the registration expires %s: not renewed", cs.RegistrationExpires)
	case now.Sub(cs.UsageReported) > 5*day || cs.UsageUnsent:
		t.Fatalf("usage last reported %s (unsent %v)", cs.UsageReported, cs.UsageUnsent)
	case cs.Unconfirmed != 0:
		t.Fatalf("serial %d was not confirmed", cs.Unconfirmed)
	}
	info, err := l.ConnectedShow(ctx, udi.String())
	check(err)
	if info.LastSeq == 0 || info.ExpiresAt != cs.RegistrationExpires.Unix() {
		t.Fatalf("the ledger's registration %+v differs from the instance's %+v", info, cs)
	}
	if _, err := l.Verify(ctx); err != nil {
		t.Fatal(err)
	}

	// The service goes away; the agent keeps trying; the code lapses
	// exactly when it says, not a second before.
	check(svc.Shutdown(ctx))
	<-served
	lapses := cs.Lapses
	clk.set(lapses.Add(-time.Second))
	if _, err := agent.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if !in.Licensed(camera) {
		t.Fatal("the authorization lapsed before its lapse time")
	}
	clk.set(lapses)
	if in.Licensed(camera) {
		t.Fatal("the authorization is in force at its lapse time")
	}
	if err := in.Acquire(camera, 1); err == nil {
		t.Fatal("acquired a license of a lapsed authorization")
	}
	lapsed := false
	for _, w := range in.Warnings() {
		lapsed = lapsed || w.Kind == instance.WarnLapsed
	}
	if !lapsed {
		t.Fatalf("no lapse warning: %+v", in.Warnings())
	}
}
