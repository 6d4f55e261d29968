package authority_test

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

func at(s string) time.Time {
	for _, layout := range []string{time.RFC3339, time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	panic("bad time " + s)
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// subEnv is walletEnv with the clock at s.
func subEnv(t *testing.T, s string) *env {
	e := walletEnv(t)
	e.clk.set(at(s))
	return e
}

func (e *env) start(org, product string) *authority.SubscriptionStarted {
	e.t.Helper()
	s, err := e.l.StartSubscription(ctx, org, product, false)
	e.must(err)
	return s
}

func (e *env) fill(org, product string, n int64) {
	e.t.Helper()
	_, err := e.l.Redeem(ctx, org, product, e.issue(n, 1))
	e.must(err)
}

func (e *env) allocate(org, product string, year int, n int64) *authority.Allocated {
	e.t.Helper()
	a, err := e.l.Allocate(ctx, org, product, year, camera, n, false)
	e.must(err)
	return a
}

func (e *env) status(org, product string) *authority.SubscriptionStatus {
	e.t.Helper()
	s, err := e.l.SubscriptionStatus(ctx, org, product)
	e.must(err)
	return s
}

func wantState(t *testing.T, s *authority.SubscriptionStatus, state, until string) {
	t.Helper()
	got := s.State
	if s.Until != 0 {
		got += " " + time.Unix(s.Until, 0).UTC().Format(time.DateOnly)
	}
	want := state
	if until != "" {
		want += " " + until
	}
	if got != want {
		t.Fatalf("state %q at %s, want %q", got, time.Unix(s.At, 0).UTC().Format(time.RFC3339), want)
	}
}

// system registers a system of demand cameras and hardware components
// (each with a preloaded hwTag) to a product, and returns its device.
func (e *env) system(org, product, name string, demand uint32, components ...string) (*device, []byte) {
	e.t.Helper()
	d := e.device(name)
	sys := &codes.System{UDI: d.udi, Name: name, IssuedAt: e.clk.Now().Unix() - 60, Nonce: nonceOf(name)}
	if demand > 0 {
		sys.Demand = []codes.License{lic(camera, demand)}
	}
	for _, c := range components {
		sys.Components = append(sys.Components, codes.Component{ID: c, Model: "Camera X1", Tag: hwTag})
	}
	code, err := codes.SealSystem(sys, d.key, d.auth)
	e.must(err)
	_, err = e.l.RegisterSystem(ctx, org, product, code)
	e.must(err)
	return d, code
}

func nonceOf(s string) []byte {
	h := sha256.Sum256([]byte("nonce " + s))
	return h[:codes.NonceSize]
}

func TestCalendarYearsAndLeapDays(t *testing.T) {
	c := authority.Calendar{Anchor: day("2027-01-01")}
	for _, tc := range []struct {
		year        int
		start, end  string
		days        int64
		description string
	}{
		{1, "2027-01-01", "2028-01-01", 365, "common year"},
		{2, "2028-01-01", "2029-01-01", 366, "leap year"},
		{6, "2032-01-01", "2033-01-01", 366, "leap year"},
	} {
		if got := day(time.Unix(c.Start(tc.year), 0).UTC().Format(time.DateOnly)); got != day(tc.start) || c.End(tc.year) != day(tc.end) || c.Days(tc.year) != tc.days {
			t.Errorf("year %d (%s): %d..%d, %d days", tc.year, tc.description, c.Start(tc.year), c.End(tc.year), c.Days(tc.year))
		}
	}
	// An anchor on 29 February renews on 1 March in common years, and on
	// 29 February again in leap years; the years follow each other.
	leap := authority.Calendar{Anchor: day("2028-02-29")}
	for n, want := range map[int]string{2: "2029-03-01", 4: "2031-03-01", 5: "2032-02-29"} {
		if got := time.Unix(leap.Start(n), 0).UTC().Format(time.DateOnly); got != want {
			t.Errorf("year %d of a 29 February anchor starts %s, want %s", n, got, want)
		}
	}
	for _, cal := range []authority.Calendar{c, leap} {
		if cal.YearAt(cal.Anchor-1) != 0 {
			t.Errorf("a second before the anchor is in year %d", cal.YearAt(cal.Anchor-1))
		}
		for tm := cal.Anchor; tm < cal.Anchor+12*366*86400; tm += 86400 {
			for _, s := range []int64{tm, tm + 86399} {
				n := cal.YearAt(s)
				if s < cal.Start(n) || s >= cal.End(n) {
					t.Fatalf("YearAt(%s) = %d, which runs %d..%d", time.Unix(s, 0).UTC(), n, cal.Start(n), cal.End(n))
				}
			}
		}
	}
}

// TestCreditRule pins the compensation rule of the README's worked
// example: licenses × whole days already passed ÷ days in the year,
// rounded down.
func TestCreditRule(t *testing.T) {
	c := authority.Calendar{Anchor: day("2027-01-01")}
	for _, tc := range []struct {
		year  int
		from  string
		count int64
		want  int64
	}{
		{1, "2027-01-01T00:00:00Z", 10, 0},
		{1, "2027-01-31T23:59:59Z", 10, 0},           // 30 days: 300/365
		{1, "2027-03-14T23:59:59Z", 10, 1},           // 72 days: 720/365 = 1.97
		{1, "2027-03-15T00:00:00Z", 10, 2},           // 73 days: 730/365 = 2 exactly
		{2, "2028-03-14T00:00:00Z", 10, 1},           // 73 days of a leap year: 730/366 = 1.99
		{2, "2028-03-15T00:00:00Z", 10, 2},           // 74 days: 740/366 = 2.02
		{2, "2028-12-31T12:00:00Z", 366, 365},        // the last day: 365 days passed
		{1, "2026-12-31T00:00:00Z", 10, 0},           // before the year: nothing passed
		{3, "2029-07-02T00:00:00Z", 1000000, 498630}, // 182 days: 182000000/365
	} {
		if got := c.Credit(tc.year, at(tc.from).Unix(), tc.count); got != tc.want {
			t.Errorf("credit of %d allocated to year %d from %s = %d, want %d", tc.count, tc.year, tc.from, got, tc.want)
		}
	}
}

func TestGraceExpiresWithoutAllocation(t *testing.T) {
	e := subEnv(t, "2027-01-01T10:00:00Z")
	s := e.start("acme", "site-1")
	if !s.NewAnchor || s.Year != 1 || s.StartedAt != day("2027-01-01") || s.GraceUntil != day("2027-01-31") {
		t.Fatalf("started %+v", s)
	}
	_, err := e.l.StartSubscription(ctx, "acme", "site-1", false)
	wantErr(t, err, authority.ErrExists)
	d, _ := e.system("acme", "site-1", "plant", 10)

	wantState(t, e.status("acme", "site-1"), authority.StateGrace, "2027-01-31")
	dl, err := e.l.Deliver(ctx, "acme", "site-1", "plant")
	e.must(err)
	got := e.install(d, &dl.Authorized)
	want := codes.Entitlement{Tag: camera, Count: 10, Kind: codes.Subscription, Start: day("2027-01-01"), End: day("2027-01-31")}
	if len(got.Entitlements) != 1 || got.Entitlements[0] != want || got.Serial != 1 || string(got.Nonce) != string(nonceOf("plant")) {
		t.Fatalf("delivered %+v", got)
	}

	e.clk.set(at("2027-01-30T23:59:59Z"))
	wantState(t, e.status("acme", "site-1"), authority.StateGrace, "2027-01-31")
	e.clk.set(at("2027-01-31T00:00:00Z"))
	wantState(t, e.status("acme", "site-1"), authority.StateExpired, "2027-01-31")
	_, err = e.l.Deliver(ctx, "acme", "site-1", "plant")
	wantErr(t, err, authority.ErrUnavailable)
	if !strings.Contains(err.Error(), "allocate year 1") {
		t.Fatalf("the refusal does not say what to do: %v", err)
	}
	e.verify()
}

func TestAllocateRefusesShortfallChangingNothing(t *testing.T) {
	e := subEnv(t, "2027-01-01T10:00:00Z")
	e.start("acme", "site-1")
	e.system("acme", "site-1", "plant", 10)
	e.fill("acme", "site-1", 8)
	before := e.events()
	_, err := e.l.Allocate(ctx, "acme", "site-1", 1, camera, 10, false)
	wantErr(t, err, authority.ErrUnavailable)
	if !strings.Contains(err.Error(), "holds 8 vms.camera.core, the allocation needs 10: 2 short") {
		t.Fatalf("refusal %v", err)
	}
	if e.events() != before || total(e.wallet("acme", "site-1"), camera) != 8 {
		t.Fatal("a refused allocation changed the ledger")
	}
	// A dry run says what would happen and changes nothing either.
	a, err := e.l.Allocate(ctx, "acme", "site-1", 1, "", 8, true)
	e.must(err)
	if a.Count != 8 || a.Met || len(a.Shortfall) != 1 || a.Shortfall[0].Count != 2 {
		t.Fatalf("dry run %+v", a)
	}
	if e.events() != before || total(e.wallet("acme", "site-1"), camera) != 8 {
		t.Fatal("a dry run changed the ledger")
	}
	for _, bad := range []struct {
		year  int
		count int64
	}{{0, 1}, {1, 0}, {1, -1}, {-3, 1}} {
		_, err := e.l.Allocate(ctx, "acme", "site-1", bad.year, camera, bad.count, false)
		wantErr(t, err, authority.ErrInvalid)
	}
	_, err = e.l.Allocate(ctx, "acme", "doors", 1, camera, 1, false)
	wantErr(t, err, authority.ErrNotFound) // no subscription
	e.verify()
}

func TestRenewalWithAndWithoutGrace(t *testing.T) {
	e := subEnv(t, "2027-01-01T10:00:00Z")
	e.start("acme", "site-1")
	e.system("acme", "site-1", "plant", 10)
	e.fill("acme", "site-1", 40)
	a := e.allocate("acme", "site-1", 1, 10)
	if !a.Met || a.Credited != 0 || a.CoversFrom != day("2027-01-01") {
		t.Fatalf("allocation in grace %+v", a)
	}
	wantState(t, e.status("acme", "site-1"), authority.StateLicensed, "2028-01-01")

	// No renewal in advance: a new grace period at the renewal date.
	e.clk.set(at("2027-12-31T23:59:59Z"))
	wantState(t, e.status("acme", "site-1"), authority.StateLicensed, "2028-01-01")
	e.clk.set(at("2028-01-01T00:00:00Z"))
	wantState(t, e.status("acme", "site-1"), authority.StateGrace, "2028-01-31")
	e.clk.set(at("2028-01-20T08:00:00Z"))
	a = e.allocate("acme", "site-1", 2, 10)
	if a.Credited != 0 || a.CoversFrom != day("2028-01-01") {
		t.Fatalf("renewal in grace %+v", a)
	}
	wantState(t, e.status("acme", "site-1"), authority.StateLicensed, "2029-01-01")

	// Renewal in advance: no grace period at the renewal date.
	e.allocate("acme", "site-1", 3, 10)
	wantState(t, e.status("acme", "site-1"), authority.StateLicensed, "2030-01-01")
	e.clk.set(at("2029-01-01T00:00:00Z"))
	st := e.status("acme", "site-1")
	wantState(t, st, authority.StateLicensed, "2030-01-01")
	if st.Year != 3 {
		t.Fatalf("year %d, want 3", st.Year)
	}
	e.verify()
}

func TestRenewInAdvanceAtMostFiveYears(t *testing.T) {
	e := subEnv(t, "2027-01-01T10:00:00Z")
	e.start("acme", "site-1")
	e.fill("acme", "site-1", 20)
	// On the anchor day, year 5 ends exactly five years ahead.
	e.allocate("acme", "site-1", 5, 1)
	_, err := e.l.Allocate(ctx, "acme", "site-1", 6, camera, 1, false)
	wantErr(t, err, authority.ErrInvalid)
	// The day before the second year, year 6 ends five years and one day
	// ahead; on the renewal day, exactly five.
	e.clk.set(at("2027-12-31T23:59:59Z"))
	_, err = e.l.Allocate(ctx, "acme", "site-1", 6, camera, 1, false)
	wantErr(t, err, authority.ErrInvalid)
	if !strings.Contains(err.Error(), "renew it from 2028-01-01 on") {
		t.Fatalf("refusal %v", err)
	}
	e.clk.set(at("2028-01-01T00:00:00Z"))
	e.allocate("acme", "site-1", 6, 1)
	// Years that ended are refused.
	_, err = e.l.Allocate(ctx, "acme", "site-1", 1, camera, 1, false)
	wantErr(t, err, authority.ErrInvalid)
	e.verify()
}

func TestLateAllocationIsCompensated(t *testing.T) {
	e := subEnv(t, "2027-01-01T10:00:00Z")
	e.start("acme", "site-1")
	e.system("acme", "site-1", "plant", 10)
	e.fill("acme", "site-1", 30)
	e.clk.set(at("2027-03-15T16:00:00Z")) // 73 of 365 days passed
	wantState(t, e.status("acme", "site-1"), authority.StateExpired, "2027-01-31")
	a := e.allocate("acme", "site-1", 1, 10)
	if a.Credited != 2 || a.CoversFrom != day("2027-03-15") || !a.Met {
		t.Fatalf("late allocation %+v", a)
	}
	if n := total(e.wallet("acme", "site-1"), camera); n != 22 {
		t.Fatalf("wallet holds %d after 10 allocated and 2 credited back, want 22", n)
	}
	st := e.status("acme", "site-1")
	wantState(t, st, authority.StateLicensed, "2028-01-01") // the dates did not move
	if st.Years[0].Credited != 2 {
		t.Fatalf("year status %+v", st.Years[0])
	}
	// The same lateness in a leap year credits less.
	e.clk.set(at("2028-03-14T09:00:00Z")) // 73 of 366 days passed
	a = e.allocate("acme", "site-1", 2, 10)
	if a.Credited != 1 || a.CoversFrom != day("2028-03-14") {
		t.Fatalf("late allocation in a leap year %+v", a)
	}
	if n := total(e.wallet("acme", "site-1"), camera); n != 13 {
		t.Fatalf("wallet holds %d, want 13", n)
	}
	e.verify()
}

func TestProductAddedPartWayKeepsTheOrganizationsDates(t *testing.T) {
	e := subEnv(t, "2027-01-01T10:00:00Z")
	e.start("acme", "site-1")
	_, err := e.l.AddProduct(ctx, "acme", "site-2", "vms")
	e.must(err)
	e.clk.set(at("2027-07-02T15:00:00Z")) // 182 days into year 1
	s := e.start("acme", "site-2")
	if s.NewAnchor || s.Year != 1 || s.GraceUntil != day("2027-08-01") {
		t.Fatalf("started part-way %+v", s)
	}
	e.system("acme", "site-2", "annex", 10)
	e.fill("acme", "site-2", 10)
	e.clk.set(at("2027-07-20T00:00:00Z")) // in its grace period
	a := e.allocate("acme", "site-2", 1, 10)
	// It covers from the day it started: 182 of 365 days passed.
	if a.CoversFrom != day("2027-07-02") || a.Credited != 4 {
		t.Fatalf("allocation part-way %+v", a)
	}
	wantState(t, e.status("acme", "site-2"), authority.StateLicensed, "2028-01-01")
	e.verify()
}

func TestGrowthAllowance(t *testing.T) {
	e := subEnv(t, "2027-01-01T10:00:00Z")
	e.start("acme", "site-1")
	e.system("acme", "site-1", "plant", 10)
	e.fill("acme", "site-1", 40)
	e.allocate("acme", "site-1", 1, 10)
	e.clk.set(at("2027-06-01T00:00:00Z"))
	// Growth up to 100% of the allocation needs no allocation now.
	e.system("acme", "site-1", "annex", 10)
	st := e.status("acme", "site-1")
	wantState(t, st, authority.StateLicensed, "2028-01-01")
	if st.Growth != 10 || st.Allowance != 10 {
		t.Fatalf("growth %d of %d", st.Growth, st.Allowance)
	}
	// Beyond it, the product is over allowance until more is allocated.
	d, _ := e.system("acme", "site-1", "yard", 1)
	st = e.status("acme", "site-1")
	wantState(t, st, authority.StateOver, "2028-01-01")
	if st.Growth != 11 || st.Allowance != 10 {
		t.Fatalf("growth %d of %d", st.Growth, st.Allowance)
	}
	// Over allowance never stops a plant: the system still gets its code.
	dl, err := e.l.Deliver(ctx, "acme", "site-1", "yard")
	e.must(err)
	e.install(d, &dl.Authorized)
	a := e.allocate("acme", "site-1", 1, 1)
	if a.Met || a.Credited != 0 {
		// 151 days passed: 1×151/365 rounds down to 0.
		t.Fatalf("growth allocation %+v", a)
	}
	wantState(t, e.status("acme", "site-1"), authority.StateLicensed, "2028-01-01")
	// The growth raises the demand for the next renewal: 11 do not renew.
	a = e.allocate("acme", "site-1", 2, 11)
	if a.Met || len(a.Shortfall) != 1 || a.Shortfall[0].Count != 10 {
		t.Fatalf("renewal below the demand %+v", a)
	}
	e.clk.set(at("2028-02-01T00:00:00Z"))
	wantState(t, e.status("acme", "site-1"), authority.StateExpired, "2028-01-31")
	e.verify()
}

func TestAllocationStopsAtWalletExpiry(t *testing.T) {
	e := subEnv(t, "2027-01-01T10:00:00Z")
	e.start("acme", "site-1")
	e.fill("acme", "site-1", 2) // enters 2027-01-01 10:00, expires 2032-01-01 10:00
	e.clk.set(at("2032-01-01T09:59:59Z"))
	e.allocate("acme", "site-1", 6, 1)
	e.clk.set(at("2032-01-01T10:00:00Z"))
	_, err := e.l.Allocate(ctx, "acme", "site-1", 6, camera, 1, false)
	wantErr(t, err, authority.ErrUnavailable)
	e.verify()
}

func TestHardwareExtensionOnOneComponent(t *testing.T) {
	e := subEnv(t, "2027-01-01T10:00:00Z")
	d, _ := e.system("acme", "site-1", "plant", 0, "SN-1", "SN-2")
	// Registering activates the preloaded licenses: no subscription needed.
	dl, err := e.l.Deliver(ctx, "acme", "site-1", "plant")
	e.must(err)
	got := e.install(d, &dl.Authorized)
	if len(got.Entitlements) != 2 || got.Entitlements[0].Component != "SN-1" || got.Entitlements[0].Count != 1 || got.Entitlements[0].Kind != codes.Hardware {
		t.Fatalf("preloaded %+v", got.Entitlements)
	}
	_, err = e.l.Extend(ctx, "acme", "site-1", "SN-1", "", 3, false)
	wantErr(t, err, authority.ErrUnavailable) // no extension key yet
	e.fill("acme", "site-1", 5)               // subscription licenses do not extend hardware
	_, err = e.l.Extend(ctx, "acme", "site-1", "SN-1", hwTag, 3, false)
	wantErr(t, err, authority.ErrUnavailable)
	k, err := e.l.IssueKey(ctx, authority.KeySpec{Software: "vms", Extension: true, Lines: []authority.KeyLine{{Tag: hwTag, Count: 4}}})
	e.must(err)
	_, err = e.l.Redeem(ctx, "acme", "site-1", k.Key)
	e.must(err)
	x, err := e.l.Extend(ctx, "acme", "site-1", "SN-1", "", 3, false)
	e.must(err)
	if x.Total != 4 || x.Tag != hwTag {
		t.Fatalf("extended %+v", x)
	}
	_, err = e.l.Extend(ctx, "acme", "site-1", "SN-9", "", 1, false)
	wantErr(t, err, authority.ErrNotFound)
	_, err = e.l.Extend(ctx, "globex", "site-1", "SN-1", "", 1, false)
	wantErr(t, err, authority.ErrNotFound)

	dl, err = e.l.Deliver(ctx, "acme", "site-1", "plant")
	e.must(err)
	got = e.install(d, &dl.Authorized)
	if got.Serial != 2 || got.Nonce != nil || got.Entitlements[0].Count != 4 || got.Entitlements[1].Count != 1 || got.Entitlements[1].Component != "SN-2" {
		t.Fatalf("extended code %+v", got)
	}
	st := e.status("acme", "site-1")
	if len(st.Hardware) != 2 || st.Hardware[0].Extensions != 3 || st.Hardware[1].Extensions != 0 {
		t.Fatalf("hardware status %+v", st.Hardware)
	}
	e.verify()
}

func TestDeliverUpdatesAndConfirms(t *testing.T) {
	e := subEnv(t, "2027-01-01T10:00:00Z")
	e.start("acme", "site-1")
	d, _ := e.system("acme", "site-1", "plant", 10)
	first, err := e.l.Deliver(ctx, "acme", "site-1", d.udi.String())
	e.must(err)
	again, err := e.l.Deliver(ctx, "acme", "site-1", "plant")
	e.must(err)
	if !again.Again || string(again.Code) != string(first.Code) {
		t.Fatal("an unchanged delivery issued a new code")
	}
	e.fill("acme", "site-1", 10)
	e.allocate("acme", "site-1", 1, 10)
	next, err := e.l.Deliver(ctx, "acme", "site-1", "plant")
	e.must(err)
	got := e.install(d, &next.Authorized)
	if got.Serial != 2 || got.Entitlements[0].End != day("2028-01-01") || string(got.Reservation) != string(first.Authorization.Reservation) {
		t.Fatalf("update %+v", got)
	}
	ap, err := e.l.Confirm(ctx, d.confirm(got.Reservation, 2))
	e.must(err)
	if ap.Serial != 2 {
		t.Fatalf("confirmed %+v", ap)
	}
	// The account commands leave a product's systems alone.
	_, err = e.l.Update(ctx, d.udi.String(), []codes.License{lic(camera, 20)})
	wantErr(t, err, authority.ErrInvalid)
	_, err = e.l.Deliver(ctx, "acme", "site-1", "nowhere")
	wantErr(t, err, authority.ErrNotFound)
	e.verify()
}

func TestOrganizationsDoNotSeeEachOther(t *testing.T) {
	e := subEnv(t, "2027-01-01T10:00:00Z")
	e.start("acme", "site-1")
	d, code := e.system("acme", "site-1", "plant", 10, "SN-1")
	e.fill("acme", "site-1", 10)
	e.start("globex", "site-1")
	e.fill("globex", "site-1", 3)
	// globex's wallet does not fund acme's allocation, and the reverse.
	_, err := e.l.Allocate(ctx, "globex", "site-1", 1, camera, 10, false)
	wantErr(t, err, authority.ErrUnavailable)
	if total(e.wallet("acme", "site-1"), camera) != 10 {
		t.Fatal("globex's allocation touched acme's wallet")
	}
	// acme's system and hardware cannot be registered to globex, and the
	// refusal does not name acme's product.
	_, err = e.l.RegisterSystem(ctx, "globex", "site-1", code)
	wantErr(t, err, authority.ErrExists)
	if strings.Contains(err.Error(), "acme") {
		t.Fatalf("the refusal names the other organization: %v", err)
	}
	other := e.device("globex-plant")
	sys := &codes.System{UDI: other.udi, Name: "globex plant", IssuedAt: e.clk.Now().Unix(), Nonce: nonceOf("g"),
		Components: []codes.Component{{ID: "SN-1", Model: "Camera X1", Tag: hwTag}}}
	gcode, err := codes.SealSystem(sys, other.key, other.auth)
	e.must(err)
	_, err = e.l.RegisterSystem(ctx, "globex", "site-1", gcode)
	wantErr(t, err, authority.ErrExists)
	if strings.Contains(err.Error(), "acme") || strings.Contains(err.Error(), "plant") {
		t.Fatalf("the refusal names the other organization's system: %v", err)
	}
	_, err = e.l.Deliver(ctx, "globex", "site-1", d.udi.String())
	wantErr(t, err, authority.ErrNotFound)
	if st := e.status("globex", "site-1"); len(st.Systems) != 0 || len(st.Demand) != 0 {
		t.Fatalf("globex sees %+v", st)
	}
	e.verify()
}

func TestVerifyDetectsTamperedAllocations(t *testing.T) {
	for name, stmt := range map[string]string{
		"wallet refilled":    `UPDATE wallet_lots SET count = initial_count`,
		"allocation grown":   `UPDATE allocations SET count = count + 5, credited = credited + 5`,
		"allocation deleted": `DELETE FROM allocation_lots`,
	} {
		t.Run(name, func(t *testing.T) {
			e := subEnv(t, "2027-01-01T10:00:00Z")
			e.start("acme", "site-1")
			e.fill("acme", "site-1", 10)
			e.allocate("acme", "site-1", 1, 4)
			e.verify()
			e.tamper(stmt)
			_, err := e.l.Verify(ctx)
			if !errors.Is(err, authority.ErrCorrupt) {
				t.Fatalf("verify after %s: %v", name, err)
			}
		})
	}
}

func TestNewDescriptionReplacesTheDemand(t *testing.T) {
	e := subEnv(t, "2027-01-01T10:00:00Z")
	e.start("acme", "site-1")
	d, code := e.system("acme", "site-1", "plant", 10)
	r, err := e.l.RegisterSystem(ctx, "acme", "site-1", code)
	e.must(err)
	if !r.Again || r.Replaced {
		t.Fatalf("the same description again: %+v", r)
	}
	sys := &codes.System{UDI: d.udi, Name: "plant", IssuedAt: e.clk.Now().Unix(), Nonce: nonceOf("plant 2"), Demand: []codes.License{lic(camera, 15)}}
	code2, err := codes.SealSystem(sys, d.key, d.auth)
	e.must(err)
	r, err = e.l.RegisterSystem(ctx, "acme", "site-1", code2)
	e.must(err)
	if r.Again || !r.Replaced {
		t.Fatalf("a new description: %+v", r)
	}
	st := e.status("acme", "site-1")
	if len(st.Systems) != 1 || len(st.Demand) != 1 || st.Demand[0].Count != 15 {
		t.Fatalf("status after a new description: systems %d, demand %+v", len(st.Systems), st.Demand)
	}
	e.verify()
}

// BenchmarkSubscriptionStatus: the status of a product with 20 systems
// and 60 allocations, in an organization of 5 such products (the growth
// allowance reads them all).
func BenchmarkSubscriptionStatus(b *testing.B) {
	e := newEnv(b)
	e.clk.set(at("2027-01-01T10:00:00Z"))
	_, err := e.l.AddOrg(ctx, "acme")
	e.must(err)
	for p := range 5 {
		name := "site-" + string(rune('a'+p))
		_, err := e.l.AddProduct(ctx, "acme", name, "vms")
		e.must(err)
		e.start("acme", name)
		for s := range 20 {
			e.system("acme", name, name+"-plant-"+string(rune('a'+s)), 5)
		}
		e.fill("acme", name, 1000)
		for y := 1; y <= 5; y++ {
			for range 12 {
				e.allocate("acme", name, y, 10)
			}
		}
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.l.SubscriptionStatus(ctx, "acme", "site-a"); err != nil {
			b.Fatal(err)
		}
	}
}
