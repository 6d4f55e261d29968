package instance

import (
	"errors"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/codes/api"
)

// fastFS is the real file system without fsync: the simulations write the
// state thousands of times, and durability is what the crash tests check.
type fastFS struct{ osFS }

type fastFile struct{ *os.File }

func (fastFS) CreateTemp(dir, pattern string) (tempFile, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	return fastFile{f}, nil
}
func (fastFile) Sync() error        { return nil }
func (fastFS) SyncDir(string) error { return nil }

// TestAgentOverFourHundredDays drives the agent with an injected clock,
// moved to each time the agent says work is due next, for 400 days (and
// on to the next renewal): the authorization is renewed every 30
// days, the registration every 6 months (182 days), usage reported every
// 6 hours, and the product never loses a license. Then the service stops
// answering: the authorization lapses exactly 90 days after the last
// renewal, to the second, and status says so.
func TestAgentOverFourHundredDays(t *testing.T) {
	if testing.Short() {
		t.Skip("400 simulated days: -short")
	}
	b, f, c := connectedBench(t, withFS(fastFS{}))
	_, err := b.in.Register(ctx, c, "TK-PLANT", []codes.License{{Tag: tagCamera, Count: 10}})
	b.must(err)
	b.must(b.in.Acquire(tagCamera, 4))
	ag := NewAgent(b.in, c)
	start := b.clock.Now()
	var renewedAt []time.Time
	r, err := ag.Tick(ctx)
	b.must(err)
	for ticks := 0; len(renewedAt) < 14; ticks++ {
		if !r.Next.After(b.clock.Now()) || r.Next.Sub(b.clock.Now()) > api.UsageInterval {
			t.Fatalf("%s: next work %s", b.clock.Now(), r.Next)
		}
		// Halfway to the next work, nothing is due and the product is
		// licensed.
		b.clock.set(b.clock.Now().Add(r.Next.Sub(b.clock.Now()) / 2))
		if q, err := ag.Tick(ctx); err != nil || len(q.Done) != 0 {
			t.Fatalf("%s: work before it is due: %v %v", b.clock.Now(), q.Done, err)
		}
		if !b.in.Licensed(tagCamera) || b.in.Available(tagCamera) != 6 {
			t.Fatalf("%s: licensed %v, %d available", b.clock.Now(), b.in.Licensed(tagCamera), b.in.Available(tagCamera))
		}
		b.clock.set(r.Next)
		if r, err = ag.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		for _, w := range r.Done {
			if w.Err != nil {
				t.Fatalf("%s: %s", b.clock.Now(), w)
			}
			if w.Job == JobAuthorization {
				renewedAt = append(renewedAt, b.clock.Now())
			}
		}
	}
	if b.clock.Now().Sub(start) < 400*day {
		t.Fatalf("only %s simulated", b.clock.Now().Sub(start))
	}
	if n := f.count(api.PathRenewAuthorization); n != 14 {
		t.Fatalf("service saw %d authorization renewals, want 14", n)
	}
	for i, at := range renewedAt {
		if want := start.Add(time.Duration(i+1) * api.AuthorizationRenewal); !at.Equal(want) {
			t.Fatalf("renewal %d at %s, want %s", i+1, at, want)
		}
	}
	if n := f.count(api.PathRenewRegistration); n != 2 {
		t.Fatalf("%d registration renewals in 420 days, want 2", n)
	}
	if n := f.count(api.PathUsage); n != 420*4 {
		t.Fatalf("%d usage reports, want %d", n, 420*4)
	}
	if n := f.count(api.PathConfirm); n != 14 {
		t.Fatalf("%d confirmations, want 14", n)
	}
	st, err := b.in.Status()
	b.must(err)
	if st.Serial != 15 || f.instance(b.f.UDI).confirmed != 15 {
		t.Fatalf("serial %d, confirmed %d", st.Serial, f.instance(b.f.UDI).confirmed)
	}

	// The service stops answering right after the renewal of day 420;
	// the agent keeps trying, holding its
	// calls with a growing backoff, and the product keeps its licenses
	// until the code lapses.
	last := renewedAt[len(renewedAt)-1]
	lapse := last.Add(api.AuthorizationValidity)
	f.down.Store(true)
	c.Timeout = time.Second
	attempts := 0
	for b.clock.Now().Before(lapse.Add(-time.Hour)) {
		b.clock.add(time.Hour)
		r, err := ag.Tick(ctx)
		b.must(err)
		for _, w := range r.Done {
			if !errors.Is(w.Err, ErrUnreachable) {
				t.Fatalf("%s while down: %v", w.Job, w.Err)
			}
			attempts++
		}
		if !b.in.Licensed(tagCamera) {
			t.Fatalf("%s: not licensed %s before the lapse", b.clock.Now(), lapse.Sub(b.clock.Now()))
		}
	}
	if attempts == 0 || attempts > 2*24*90 {
		t.Fatalf("%d attempts while down", attempts)
	}
	b.clock.set(lapse.Add(-time.Second))
	if !b.in.Licensed(tagCamera) {
		t.Fatal("not licensed one second before the lapse")
	}
	b.clock.set(lapse)
	if b.in.Licensed(tagCamera) {
		t.Fatal("licensed at the lapse")
	}
	b.clock.set(lapse.Add(time.Second))
	if b.in.Licensed(tagCamera) || b.in.Available(tagCamera) != 0 {
		t.Fatal("licensed one second after the lapse")
	}
	err = b.in.Acquire(tagCamera, 1)
	wantErr(t, err, ErrNotLicensed, "lapsed", "90 days", "renew authorization")
	cs, err := b.in.Connected()
	b.must(err)
	if !cs.Lapsed || !cs.Lapses.Equal(lapse) || !cs.LastContact.Equal(last) {
		t.Fatalf("status: lapsed %v at %s, last contact %s (want %s, %s)", cs.Lapsed, cs.Lapses, cs.LastContact, lapse, last)
	}
	ws := b.in.Warnings()
	if len(ws) == 0 || ws[0].Kind != WarnLapsed {
		t.Fatalf("warnings %+v", ws)
	}

	// The service answers again: the next tick renews, and the licenses
	// come back.
	f.down.Store(false)
	b.clock.add(2 * time.Hour)
	r, err = ag.Tick(ctx)
	b.must(err)
	if len(r.Done) == 0 || !b.in.Licensed(tagCamera) {
		t.Fatalf("after the service came back: %v, licensed %v", r.Done, b.in.Licensed(tagCamera))
	}
}

func TestAgentNothingToDoOfflineOrUnregistered(t *testing.T) {
	b, _, c := connectedBench(t)
	ag := NewAgent(b.in, c)
	r, err := ag.Tick(ctx)
	b.must(err)
	if len(r.Done) != 0 || !r.Next.IsZero() {
		t.Fatalf("unregistered: %+v", r)
	}
}

func TestAgentRetriesAConfirmationAndAnUnsentReport(t *testing.T) {
	b, f, c := connectedBench(t)
	_, err := b.in.Register(ctx, c, "TK-PLANT", []codes.License{{Tag: tagCamera, Count: 1}})
	b.must(err)
	// The confirmation and the report fail; the agent sends both later.
	failing := true
	f.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if failing && (r.URL.Path == api.PathConfirm || r.URL.Path == api.PathUsage) {
			fail(w, 503, api.CodeUnavailable, "busy")
			return true
		}
		return false
	})
	b.clock.add(day)
	ans, err := b.in.RenewAuthorization(ctx, c)
	b.must(err)
	if ans.Confirmed || ans.ConfirmError == nil {
		t.Fatalf("renewal %+v", ans)
	}
	err = b.in.UpdateUsage(ctx, c)
	wantErr(t, err, ErrService, "busy")
	report, _ := b.in.LastUsageReport()
	cs, _ := b.in.Connected()
	if cs.Unconfirmed != 2 || !cs.UsageUnsent {
		t.Fatalf("status %+v", cs)
	}
	failing = false
	b.clock.add(2 * time.Minute)
	r, err := NewAgent(b.in, c).Tick(ctx)
	b.must(err)
	if len(r.Done) != 2 || r.Done[0].Job != JobConfirm || r.Done[1].Job != JobUsage || r.Done[0].Err != nil || r.Done[1].Err != nil {
		t.Fatalf("tick %+v", r.Done)
	}
	if f.instance(b.f.UDI).confirmed != 2 {
		t.Fatal("confirmation not taken")
	}
	again, _ := b.in.LastUsageReport()
	if string(again) != string(report) {
		t.Fatal("the unsent report was not sent as it was")
	}
	cs, _ = b.in.Connected()
	if cs.Unconfirmed != 0 || cs.UsageUnsent || len(cs.Failures) != 0 {
		t.Fatalf("status %+v", cs)
	}
}
