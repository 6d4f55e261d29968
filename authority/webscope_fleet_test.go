package authority_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/authority"
)

// TestFleetProductInSaysNothingOfAnotherOrganization: through the
// organization-scoped fleet operations, another organization's product
// key is refused in the words of one that does not exist, for every
// role, and nothing changes; the roles still decide the rest.
func TestFleetProductInSaysNothingOfAnotherOrganization(t *testing.T) {
	e := newEnv(t)
	e.fleet(0)
	vera, ann, vic := e.people()
	v := authority.Validity{Years: 1}
	_, err := vera.BuyCodes(ctx, "acme", "annual", &v, 50, "", "PO-1")
	e.must(err)
	_, err = vera.BuyCodes(ctx, "globex", "annual", &v, 5, "PK-GLX", "")
	e.must(err)
	_, err = vera.AddPerson(ctx, authority.Person{Email: "gus@globex.example", Name: "Gus", Role: authority.RoleAdmin, Org: "globex"})
	e.must(err)
	gus := e.l.As("gus@globex.example")

	words := func(err error, ref string) string {
		if err == nil {
			return "no error"
		}
		return strings.ReplaceAll(err.Error(), ref, "REF")
	}
	for _, who := range []struct {
		name string
		l    *authority.Ledger
	}{{"vera", vera}, {"ann", ann}, {"vic", vic}} {
		_, elsewhere := who.l.FleetProductIn(ctx, "acme", "PK-GLX")
		_, nowhere := who.l.FleetProductIn(ctx, "acme", "PK-NONE")
		if !errors.Is(elsewhere, authority.ErrNoFleetProduct) || words(elsewhere, "PK-GLX") != words(nowhere, "PK-NONE") {
			t.Errorf("%s: another organization's product %q, a missing one %q", who.name, elsewhere, nowhere)
		}
		before := e.historyCount()
		_, err := who.l.AllocateCodesIn(ctx, "acme", "PK-GLX", "", 1, false)
		wantErr(t, err, authority.ErrNoFleetProduct)
		_, _, err = who.l.SetProductAutoRenewIn(ctx, "acme", "PK-GLX", false)
		wantErr(t, err, authority.ErrNoFleetProduct)
		_, err = who.l.DeviceHistoryIn(ctx, "acme", "PK-GLX", "d1")
		wantErr(t, err, authority.ErrNoFleetProduct)
		_, err = who.l.DevicesIn(ctx, authority.DeviceQuery{Org: "acme", Product: "PK-GLX", Limit: 10}, 0)
		wantErr(t, err, authority.ErrNoFleetProduct)
		_, err = who.l.ExpiryWeeks(ctx, authority.DeviceQuery{Org: "acme", Product: "PK-GLX"}, 12)
		wantErr(t, err, authority.ErrNoFleetProduct)
		_, err = who.l.DeleteFleetProductIn(ctx, "acme", "PK-GLX", false)
		wantErr(t, err, authority.ErrNoFleetProduct)
		_, err = who.l.SetBlockedIn(ctx, "acme", "PK-GLX", []string{"d1"}, true)
		wantErr(t, err, authority.ErrNoFleetProduct)
		_, err = who.l.DeleteDeviceIn(ctx, "acme", "PK-GLX", "d1")
		wantErr(t, err, authority.ErrNoFleetProduct)
		if e.historyCount() != before {
			t.Errorf("%s: a refused operation wrote history", who.name)
		}
	}
	// A person of another organization learns nothing of acme's.
	_, err = gus.FleetProductIn(ctx, "acme", "PK-CAM")
	wantErr(t, err, authority.ErrDenied)
	_, err = gus.AllocateCodesIn(ctx, "acme", "PK-CAM", "", 1, true)
	wantErr(t, err, authority.ErrDenied)
	_, err = gus.CodeUse(ctx, "acme", authority.Monthly, 12)
	wantErr(t, err, authority.ErrDenied)
	// A viewer reads and may not allocate, even as a dry run.
	p, err := vic.FleetProductIn(ctx, "acme", "cameras")
	e.must(err)
	if p.PK != "PK-CAM" {
		t.Fatalf("by name: %+v", p)
	}
	_, err = vic.AllocateCodesIn(ctx, "acme", "cameras", "", 1, true)
	wantErr(t, err, authority.ErrDenied)
	_, _, err = vic.SetProductAutoRenewIn(ctx, "acme", "PK-CAM", false)
	wantErr(t, err, authority.ErrDenied)
	// The administrator allocates by name; the dry run changed nothing.
	dry, err := ann.AllocateCodesIn(ctx, "acme", "cameras", "", 20, true)
	e.must(err)
	if dry.Available != 50 || dry.Product.Total != 20 {
		t.Fatalf("dry run: %+v", dry)
	}
	e.wantPools("acme", 50, 0, 50, 50)
	_, err = ann.AllocateCodesIn(ctx, "acme", "cameras", "", 20, false)
	e.must(err)
	pc := e.wantPools("acme", 50, 0, 50, 30)
	if got := pc.Allocatable(&pc.Products[0]); got != 30 {
		t.Errorf("cameras can take %d, want 30", got)
	}
	// A product key taken elsewhere is refused in the words of one taken
	// in acme, naming neither globex nor its product.
	_, elsewhere := ann.AddFleetProductIn(ctx, "acme", "PK-GLX", "mine", true)
	_, here := ann.AddFleetProductIn(ctx, "acme", "PK-CAM", "mine", true)
	wantErr(t, elsewhere, authority.ErrExists)
	if strings.ReplaceAll(elsewhere.Error(), "PK-GLX", "PK") != strings.ReplaceAll(here.Error(), "PK-CAM", "PK") || strings.Contains(elsewhere.Error(), "globex") || strings.Contains(elsewhere.Error(), "sensors") {
		t.Errorf("taken elsewhere %q, taken here %q", elsewhere, here)
	}
	_, err = vic.AddFleetProductIn(ctx, "acme", "PK-NEW", "new", true)
	wantErr(t, err, authority.ErrDenied)
	if p, err := ann.AddFleetProductIn(ctx, "acme", "PK-NEW", "new", true); err != nil || p.PK != "PK-NEW" {
		t.Fatalf("adding PK-NEW: %+v, %v", p, err)
	}
	// A hostile reference is refused before any look-up.
	_, err = ann.FleetProductIn(ctx, "acme", strings.Repeat("<x>", 200))
	wantErr(t, err, authority.ErrInvalid)
}

// historyCount counts the history's events.
func (e *env) historyCount() int64 {
	e.t.Helper()
	m, err := e.l.Meta(ctx)
	e.must(err)
	return m.HistoryCount
}

// TestDevicesInPages: pages of a search follow each other without gap or
// overlap, say whether more follow, and refuse sizes and offsets out of
// range.
func TestDevicesInPages(t *testing.T) {
	e := newEnv(t)
	e.fleet(20)
	gw := e.device("gw1")
	var dks []string
	for i := range 7 {
		dks = append(dks, fmt.Sprintf("d%d", i))
	}
	e.activate(gw, map[string][]string{"PK-CAM": dks})
	var seen []string
	for off := 0; ; off += 3 {
		pg, err := e.l.DevicesIn(ctx, authority.DeviceQuery{Org: "acme", Product: "cameras", Limit: 3}, off)
		e.must(err)
		for _, v := range pg.Devices {
			seen = append(seen, v.DK)
		}
		if pg.Now != e.clk.Now().Unix() {
			t.Fatalf("page at %d, ledger at %d", pg.Now, e.clk.Now().Unix())
		}
		if want := off+3 < 7; pg.More != want {
			t.Fatalf("offset %d: more %v", off, pg.More)
		}
		if !pg.More {
			break
		}
	}
	if strings.Join(seen, " ") != strings.Join(dks, " ") {
		t.Fatalf("pages gave %v", seen)
	}
	pg, err := e.l.DevicesIn(ctx, authority.DeviceQuery{Org: "acme", Limit: 3}, 100)
	e.must(err)
	if len(pg.Devices) != 0 || pg.More {
		t.Fatalf("past the end: %+v", pg)
	}
	for _, c := range []struct{ limit, off int }{{0, 0}, {authority.MaxDevicePage + 1, 0}, {10, -1}, {10, authority.MaxDeviceOffset + 1}} {
		_, err := e.l.DevicesIn(ctx, authority.DeviceQuery{Org: "acme", Limit: c.limit}, c.off)
		wantErr(t, err, authority.ErrInvalid)
	}
}

// TestCodeUseCountsPerPeriod: purchases, allocations and consumptions
// (activations and renewals) land in the week or month the ledger
// recorded them, and what falls before the first period is left out.
func TestCodeUseCountsPerPeriod(t *testing.T) {
	e := newEnv(t) // t0 is Saturday 2025-03-01 12:00 UTC
	e.fleet(0)
	v := authority.Validity{Days: 10}
	_, err := e.l.BuyCodes(ctx, "acme", "short", &v, 30, "", "")
	e.must(err)
	_, err = e.l.AllocateCodes(ctx, "acme", "PK-CAM", "", 12, false)
	e.must(err)
	gw := e.device("gw1")
	e.activate(gw, map[string][]string{"PK-CAM": {"a", "b", "c"}})
	e.clk.add(12 * dayD) // Thursday 2025-03-13: the codes ended on the 11th
	r, err := e.l.RenewDue(ctx)
	e.must(err)
	if r.Renewed != 3 {
		t.Fatalf("renewed %d", r.Renewed)
	}
	_, err = e.l.AllocateCodes(ctx, "acme", "PK-CAM", "", 5, false)
	e.must(err)

	weeks, err := e.l.CodeUse(ctx, "acme", authority.Weekly, 3)
	e.must(err)
	want := []authority.CodeUseCount{
		{From: day("2025-02-24"), To: day("2025-03-03"), Bought: 30, Allocated: 12, Consumed: 3},
		{From: day("2025-03-03"), To: day("2025-03-10")},
		{From: day("2025-03-10"), To: day("2025-03-17"), Allocated: 5, Consumed: 3},
	}
	if fmt.Sprint(weeks) != fmt.Sprint(want) {
		t.Fatalf("weeks:\n%v\nwant\n%v", weeks, want)
	}
	months, err := e.l.CodeUse(ctx, "acme", authority.Monthly, 2)
	e.must(err)
	want = []authority.CodeUseCount{
		{From: day("2025-02-01"), To: day("2025-03-01")},
		{From: day("2025-03-01"), To: day("2025-04-01"), Bought: 30, Allocated: 17, Consumed: 6},
	}
	if fmt.Sprint(months) != fmt.Sprint(want) {
		t.Fatalf("months:\n%v\nwant\n%v", months, want)
	}
	// One week back from the 13th leaves the first week out.
	one, err := e.l.CodeUse(ctx, "acme", authority.Weekly, 1)
	e.must(err)
	if one[0].Bought != 0 || one[0].Consumed != 3 {
		t.Fatalf("this week: %+v", one[0])
	}
	// globex's counts are its own.
	g, err := e.l.CodeUse(ctx, "globex", authority.Monthly, 1)
	e.must(err)
	if g[0] != (authority.CodeUseCount{From: day("2025-03-01"), To: day("2025-04-01")}) {
		t.Fatalf("globex: %+v", g[0])
	}
	for _, n := range []int{0, -1, authority.MaxUsePeriods + 1} {
		_, err := e.l.CodeUse(ctx, "acme", authority.Weekly, n)
		wantErr(t, err, authority.ErrInvalid)
	}
}

// TestExpiryWeeksCounts: devices are counted in the week their code
// ends, weeks from the start of today, split by whether they will renew; a device on the blocklist, or
// whose own switch is off, lapses; a deleted device is not counted.
func TestExpiryWeeksCounts(t *testing.T) {
	e := newEnv(t)
	e.fleet(0)
	v := authority.Validity{Days: 20}
	_, err := e.l.BuyCodes(ctx, "acme", "short", &v, 30, "PK-CAM", "")
	e.must(err)
	gw := e.device("gw1")
	e.activate(gw, map[string][]string{"PK-CAM": {"a", "b"}}) // end day 20: week 2
	e.clk.add(10 * dayD)
	e.activate(gw, map[string][]string{"PK-CAM": {"c", "d", "x"}}) // end day 30: week 3 from day 10
	_, err = e.l.SetBlocked(ctx, "acme", "PK-CAM", []string{"b"}, true)
	e.must(err)
	_, _, err = e.l.SetDeviceAutoRenew(ctx, "acme", "PK-CAM", "c", false)
	e.must(err)
	_, err = e.l.DeleteDevice(ctx, "acme", "PK-CAM", "x")
	e.must(err)
	// From day 10: a and b end in 10 days (week 2), c and d in 20 (week 3).
	ws, err := e.l.ExpiryWeeks(ctx, authority.DeviceQuery{Org: "acme"}, 4)
	e.must(err)
	now := e.clk.Now().Unix()
	got := ""
	for i, w := range ws {
		if w.From != day("2025-03-11")+int64(i)*7*86400 || w.To != w.From+7*86400 {
			t.Fatalf("week %d: %d to %d", i, w.From, w.To)
		}
		got += fmt.Sprintf("%d/%d ", w.Renew, w.Lapse)
	}
	if got != "0/0 1/1 1/1 0/0 " {
		t.Fatalf("renew/lapse by week: %s", got)
	}
	// The search narrows it: one device key, or an expiry range.
	ws, err = e.l.ExpiryWeeks(ctx, authority.DeviceQuery{Org: "acme", Product: "cameras", DK: "d"}, 4)
	e.must(err)
	if ws[2].Renew != 1 || ws[1].Renew+ws[1].Lapse != 0 {
		t.Fatalf("d only: %+v", ws)
	}
	ws, err = e.l.ExpiryWeeks(ctx, authority.DeviceQuery{Org: "acme", ExpiresTo: now + 15*86400}, 4)
	e.must(err)
	if ws[1].Renew+ws[1].Lapse != 2 || ws[2].Renew+ws[2].Lapse != 0 {
		t.Fatalf("ending within 15 days: %+v", ws)
	}
}

// TestRetireGatewayInSaysNothingOfAnotherOrganization: another
// organization's gateway is refused in the words of a UDI no gateway
// has; the dry run changes nothing; a viewer is refused.
func TestRetireGatewayInSaysNothingOfAnotherOrganization(t *testing.T) {
	e := newEnv(t)
	e.fleet(5)
	_, err := e.l.BuyCodes(ctx, "globex", "annual", &authority.Validity{Years: 1}, 5, "PK-GLX", "")
	e.must(err)
	e.activate(e.device("gw-acme"), map[string][]string{"PK-CAM": {"d1"}})
	gx := e.device("gw-globex")
	e.activate(gx, map[string][]string{"PK-GLX": {"g1"}})
	vera, ann, vic := e.people()
	theirs, none := gx.udi.String(), "P:GW,S:nobody"
	_, elsewhere := ann.RetireGatewayIn(ctx, "acme", theirs, "disk replaced", false)
	_, nowhere := ann.RetireGatewayIn(ctx, "acme", none, "disk replaced", false)
	wantErr(t, elsewhere, authority.ErrNotFound)
	if strings.ReplaceAll(elsewhere.Error(), theirs, "UDI") != strings.ReplaceAll(nowhere.Error(), none, "UDI") {
		t.Errorf("another organization's gateway %q, a missing one %q", elsewhere, nowhere)
	}
	ours := e.device("gw-acme").udi.String()
	_, err = vic.RetireGatewayIn(ctx, "acme", ours, "disk replaced", true)
	wantErr(t, err, authority.ErrDenied)
	before := e.historyCount()
	g, err := ann.RetireGatewayIn(ctx, "acme", ours, "disk replaced", true)
	e.must(err)
	if len(g.PublicKey) == 0 || e.historyCount() != before {
		t.Fatal("the dry run retired the key")
	}
	_, err = ann.RetireGatewayIn(ctx, "acme", ours, "", true)
	wantErr(t, err, authority.ErrInvalid)
	_, err = ann.RetireGatewayIn(ctx, "acme", ours, "disk replaced", false)
	e.must(err)
	gws, err := vera.Gateways(ctx, "acme")
	e.must(err)
	if len(gws) != 1 || len(gws[0].PublicKey) != 0 {
		t.Fatalf("after retiring: %+v", gws)
	}
	_, err = ann.RetireGatewayIn(ctx, "acme", ours, "again", true)
	wantErr(t, err, authority.ErrClosed)
}
