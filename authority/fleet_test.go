package authority_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

const dayD = 24 * time.Hour

// fleet sets up organization acme with product PK-CAM (auto-renew on)
// holding n codes of package "annual" (1y), and globex with PK-GLX.
func (e *env) fleet(n int64) {
	e.t.Helper()
	for _, o := range []string{"acme", "globex"} {
		_, err := e.l.AddOrg(ctx, o)
		e.must(err)
	}
	_, err := e.l.AddFleetProduct(ctx, "acme", "PK-CAM", "cameras", true)
	e.must(err)
	_, err = e.l.AddFleetProduct(ctx, "globex", "PK-GLX", "sensors", true)
	e.must(err)
	if n > 0 {
		v := authority.Validity{Years: 1}
		_, err = e.l.BuyCodes(ctx, "acme", "annual", &v, n, "PK-CAM", "order 1")
		e.must(err)
	}
}

// gateway makes activation requests for a device-fleet gateway.
func (d *device) activation(groups map[string][]string) []byte {
	n := d.nonce.Add(1)
	h := sha256.Sum256(fmt.Appendf(nil, "%s activation %d", d.name, n))
	r := &codes.ActivationRequest{UDI: d.udi, Nonce: h[:codes.NonceSize], IssuedAt: t0.Unix() - 60}
	for _, pk := range slices.Sorted(mapKeys(groups)) {
		dks := slices.Clone(groups[pk])
		slices.Sort(dks)
		r.Products = append(r.Products, codes.DeviceGroup{ProductKey: pk, Devices: dks})
	}
	code, err := codes.SealActivationRequest(r, d.key, d.auth)
	if err != nil {
		panic(err)
	}
	return code
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// activate processes an activation request and opens its answer as the
// gateway would.
func (e *env) activate(gw *device, groups map[string][]string) (*authority.Activated, *codes.Activation) {
	e.t.Helper()
	a, err := e.l.ProcessActivation(ctx, gw.activation(groups))
	e.must(err)
	ans, err := codes.OpenActivation(a.Code, e.f.Trust)
	e.must(err)
	e.must(ans.Check(gw.udi, gw.key.Public()))
	return a, ans
}

// window returns the window of device dk of product pk in an activation,
// or the refusal.
func window(a *codes.Activation, pk, dk string) (codes.DeviceWindow, codes.Refusal, bool) {
	for _, g := range a.Products {
		if g.ProductKey != pk {
			continue
		}
		for _, w := range g.Active {
			if w.DeviceKey == dk {
				return w, 0, true
			}
		}
		for _, r := range g.Refused {
			if r.DeviceKey == dk {
				return codes.DeviceWindow{}, r.Reason, true
			}
		}
	}
	return codes.DeviceWindow{}, 0, false
}

func (e *env) wantPools(org string, total, used, remaining, unallocated int64) *authority.PoolCounts {
	e.t.Helper()
	pc, err := e.l.Pools(ctx, org)
	e.must(err)
	if pc.Total != total || pc.Used != used || pc.Remaining != remaining || pc.UnallocatedTotal() != unallocated {
		e.t.Fatalf("%s pools: total %d used %d remaining %d unallocated %d; want %d %d %d %d", org, pc.Total, pc.Used, pc.Remaining, pc.UnallocatedTotal(), total, used, remaining, unallocated)
	}
	if pc.Total != pc.Used+pc.Remaining+pc.Forfeited {
		e.t.Fatalf("%s pools do not add up: %+v", org, pc)
	}
	return pc
}

func TestValidity(t *testing.T) {
	for _, c := range []struct {
		in   string
		want authority.Validity
		err  bool
	}{
		{"1y", authority.Validity{Years: 1}, false},
		{"6m", authority.Validity{Months: 6}, false},
		{"90d", authority.Validity{Days: 90}, false},
		{"1y6m", authority.Validity{Years: 1, Months: 6}, false},
		{"1Y", authority.Validity{Years: 1}, false},
		{"", authority.Validity{}, true},
		{"0y", authority.Validity{}, true},
		{"1w", authority.Validity{}, true},
		{"6m1y", authority.Validity{}, true},
		{"11y", authority.Validity{}, true},
		{"-1y", authority.Validity{}, true},
	} {
		v, err := authority.ParseValidity(c.in)
		if (err != nil) != c.err || (!c.err && v != c.want) {
			t.Errorf("ParseValidity(%q) = %v, %v", c.in, v, err)
		}
		if !c.err && v.String() != strings.ToLower(c.in) {
			t.Errorf("%q prints as %q", c.in, v.String())
		}
	}
	// A year from 29 February 2028 ends on 1 March 2029.
	if got := (authority.Validity{Years: 1}).End(day("2028-02-29")); got != day("2029-03-01") {
		t.Errorf("1y from 2028-02-29 ends %s", codes.FormatTime(got))
	}
}

func TestPoolsBuyAllocate(t *testing.T) {
	e := newEnv(t)
	e.fleet(0)
	v1, v6 := authority.Validity{Years: 1}, authority.Validity{Months: 6}
	_, err := e.l.BuyCodes(ctx, "acme", "annual", nil, 10, "", "")
	wantErr(t, err, authority.ErrNotFound) // a new package needs its validity
	_, err = e.l.BuyCodes(ctx, "acme", "annual", &v1, 100, "", "PO-1")
	e.must(err)
	_, err = e.l.BuyCodes(ctx, "acme", "half", &v6, 40, "", "PO-2")
	e.must(err)
	_, err = e.l.BuyCodes(ctx, "acme", "annual", &v6, 1, "", "")
	wantErr(t, err, authority.ErrSpecMismatch) // same name, other validity
	e.wantPools("acme", 140, 0, 140, 140)

	// Two packages have codes: the allocation must name one.
	_, err = e.l.AllocateCodes(ctx, "acme", "PK-CAM", "", 10, false)
	wantErr(t, err, authority.ErrInvalid)
	// A dry run changes nothing.
	dry, err := e.l.AllocateCodes(ctx, "acme", "PK-CAM", "annual", 30, true)
	e.must(err)
	if dry.Available != 100 {
		t.Fatalf("dry run: %d available, want 100", dry.Available)
	}
	e.wantPools("acme", 140, 0, 140, 140)
	a, err := e.l.AllocateCodes(ctx, "acme", "cameras", "annual", 30, false) // by name
	e.must(err)
	if a.Product.Total != 30 || a.Spec.Name != "annual" {
		t.Fatalf("allocation: %+v", a)
	}
	// The product now holds "annual": "half" is refused, with the reason
	// and how many of its own package it could take.
	_, err = e.l.AllocateCodes(ctx, "acme", "PK-CAM", "half", 5, false)
	wantErr(t, err, authority.ErrSpecMismatch)
	if !strings.Contains(err.Error(), "up to 70") {
		t.Errorf("spec refusal does not show the most allocatable: %v", err)
	}
	_, err = e.l.BuyCodes(ctx, "acme", "half", nil, 5, "PK-CAM", "")
	wantErr(t, err, authority.ErrSpecMismatch)
	// More than unallocated: refused with the most allocatable.
	_, err = e.l.AllocateCodes(ctx, "acme", "PK-CAM", "", 71, false)
	wantErr(t, err, authority.ErrNoCodes)
	if !strings.Contains(err.Error(), "at most 70") {
		t.Errorf("refusal does not name the maximum: %v", err)
	}
	// Without a package, the product's own is taken.
	_, err = e.l.AllocateCodes(ctx, "acme", "PK-CAM", "", 70, false)
	e.must(err)
	// Another organization's product is not found from acme.
	_, err = e.l.AllocateCodes(ctx, "acme", "PK-GLX", "", 1, false)
	wantErr(t, err, authority.ErrNoFleetProduct)
	pc := e.wantPools("acme", 140, 0, 140, 40)
	if pc.Products[0].Total != 100 {
		t.Fatalf("cameras hold %d, want 100", pc.Products[0].Total)
	}
	allocs, _, err := e.l.CodeAllocations(ctx, "acme", "PK-CAM")
	e.must(err)
	if len(allocs) != 2 || allocs[0].Count != 30 || allocs[1].Count != 70 {
		t.Fatalf("allocations: %+v", allocs)
	}
	if r := e.verify(); r.FleetProducts != 2 {
		t.Fatalf("verify saw %d fleet products", r.FleetProducts)
	}
}

func TestActivationConsumesOncePerDevice(t *testing.T) {
	e := newEnv(t)
	e.fleet(2)
	gw := e.device("gw1")
	code := gw.activation(map[string][]string{"PK-CAM": {"dev-a", "dev-b", "dev-c"}})
	a, err := e.l.ProcessActivation(ctx, code)
	e.must(err)
	if !a.NewGateway || a.Org != "acme" || a.Products[0].Consumed != 2 || a.Products[0].Refused != 1 {
		t.Fatalf("activated: %+v %+v", a, a.Products)
	}
	ans, err := codes.OpenActivation(a.Code, e.f.Trust)
	e.must(err)
	w, _, _ := window(ans, "PK-CAM", "dev-a")
	if w.From != t0.Unix() || w.Until != day("2026-03-01")+12*3600 {
		t.Fatalf("dev-a window %s – %s", codes.FormatTime(w.From), codes.FormatTime(w.Until))
	}
	if _, why, _ := window(ans, "PK-CAM", "dev-c"); why != codes.RefusedNoCodes {
		t.Fatalf("dev-c: refusal %v, want no codes", why)
	}
	// The same request again: the same answer, nothing consumed.
	again, err := e.l.ProcessActivation(ctx, code)
	e.must(err)
	if !again.Replayed || string(again.Code) != string(a.Code) {
		t.Fatal("a request processed twice got another answer")
	}
	// Active devices listed again consume nothing.
	a2, _ := e.activate(gw, map[string][]string{"PK-CAM": {"dev-a"}})
	if a2.Products[0].Kept != 1 || a2.Products[0].Consumed != 0 {
		t.Fatalf("re-listed device: %+v", a2.Products[0])
	}
	e.wantPools("acme", 2, 2, 0, 0)
	e.verify()
}

func TestActivationRefusals(t *testing.T) {
	e := newEnv(t)
	e.fleet(5)
	_, err := e.l.AddFleetProduct(ctx, "acme", "PK-NEW", "doors", true)
	e.must(err)
	gw := e.device("gw1")
	// Nothing known: refused whole, no gateway pinned.
	_, err = e.l.ProcessActivation(ctx, gw.activation(map[string][]string{"PK-NONE": {"d1"}}))
	wantErr(t, err, authority.ErrNoFleetProduct)
	_, err = e.l.ProcessActivation(ctx, gw.activation(nil))
	wantErr(t, err, authority.ErrNotFound)

	// A new gateway serves one organization.
	_, err = e.l.ProcessActivation(ctx, gw.activation(map[string][]string{"PK-CAM": {"d1"}, "PK-GLX": {"d3"}}))
	wantErr(t, err, authority.ErrCrossOrg)
	e.activate(gw, map[string][]string{"PK-CAM": {"d1"}})
	_, ans := e.activate(gw, map[string][]string{"PK-NONE": {"d2"}, "PK-GLX": {"d3"}, "PK-NEW": {"d4"}})
	for dk, want := range map[string]codes.Refusal{"d2": codes.RefusedUnknownProduct, "d3": codes.RefusedOtherGateway, "d4": codes.RefusedNoPool} {
		pk := map[string]string{"d2": "PK-NONE", "d3": "PK-GLX", "d4": "PK-NEW"}[dk]
		if _, why, ok := window(ans, pk, dk); !ok || why != want {
			t.Errorf("%s: refusal %v, want %v", dk, why, want)
		}
	}
	// Another key for a pinned gateway UDI is refused.
	impostor := newDevice(t, "gw1-rebuilt", e.f.Authority)
	impostor.udi = gw.udi
	_, err = e.l.ProcessActivation(ctx, impostor.activation(map[string][]string{"PK-CAM": {"d9"}}))
	wantErr(t, err, authority.ErrKeyMismatch)
	// Once an operator retires the old key, the rebuilt gateway pins its
	// own, and keeps the devices.
	_, err = e.l.RetireGateway(ctx, gw.udi.String(), "state folder lost with the disk")
	e.must(err)
	_, err = e.l.RetireGateway(ctx, gw.udi.String(), "again")
	wantErr(t, err, authority.ErrClosed)
	a, ans2 := e.activate(impostor, nil)
	if !a.NewGateway {
		t.Fatal("the rebuilt gateway was not pinned anew")
	}
	if w, _, _ := window(ans2, "PK-CAM", "d1"); !w.ActiveAt(e.clk.Now()) {
		t.Fatal("the rebuilt gateway lost its device")
	}
	gw = impostor
	// A deleted product refuses its devices and forfeits its codes.
	_, err = e.l.DeleteFleetProduct(ctx, "acme", "PK-CAM", false)
	e.must(err)
	_, ans = e.activate(gw, map[string][]string{"PK-CAM": {"d5"}})
	if _, why, _ := window(ans, "PK-CAM", "d5"); why != codes.RefusedProductDeleted {
		t.Fatalf("deleted product: %v", why)
	}
	// Its devices leave the answers, and one listed again is refused,
	// not both refused and active.
	if _, _, ok := window(ans, "PK-CAM", "d1"); ok {
		t.Fatal("a device of a deleted product is still in the activation")
	}
	_, ans = e.activate(gw, map[string][]string{"PK-CAM": {"d1"}})
	if _, why, _ := window(ans, "PK-CAM", "d1"); why != codes.RefusedProductDeleted {
		t.Fatalf("a device of a deleted product listed again: %v", why)
	}
	pc := e.wantPools("acme", 5, 1, 0, 0)
	if pc.Forfeited != 4 {
		t.Fatalf("forfeited %d, want 4", pc.Forfeited)
	}
	_, err = e.l.AllocateCodes(ctx, "acme", "PK-CAM", "", 1, false)
	wantErr(t, err, authority.ErrProductDeleted)
	e.verify()
}

func TestRenewalAtExpiry(t *testing.T) {
	e := newEnv(t)
	e.fleet(3)
	gw := e.device("gw1")
	e.activate(gw, map[string][]string{"PK-CAM": {"a", "b"}})
	// A day after a year: a and b renew from their old end, one code
	// each... but only one code is left: the first by end (a, by id) renews.
	e.clk.add(366 * dayD)
	r, err := e.l.RenewDue(ctx)
	e.must(err)
	if r.Renewed != 1 || r.Lapsed != 1 {
		t.Fatalf("renewal: %+v", r)
	}
	_, ans := e.activate(gw, nil)
	wa, _, _ := window(ans, "PK-CAM", "a")
	if wa.From != day("2026-03-01")+12*3600 || wa.Until != day("2027-03-01")+12*3600 {
		t.Fatalf("a renewed to %s – %s", codes.FormatTime(wa.From), codes.FormatTime(wa.Until))
	}
	wb, _, _ := window(ans, "PK-CAM", "b")
	if wb.ActiveAt(e.clk.Now()) {
		t.Fatal("b renewed without codes")
	}
	// A lapsed device stays lapsed when codes arrive...
	_, err = e.l.BuyCodes(ctx, "acme", "annual", nil, 5, "PK-CAM", "")
	e.must(err)
	vs, err := e.l.Devices(ctx, authority.DeviceQuery{Org: "acme", DK: "b"})
	e.must(err)
	if vs[0].State(e.clk.Now().Unix()) != "lapsed" {
		t.Fatalf("b is %s", vs[0].State(e.clk.Now().Unix()))
	}
	// ...until it activates again: a reactivation from now.
	a, ans := e.activate(gw, map[string][]string{"PK-CAM": {"b"}})
	if a.Products[0].Consumed != 1 {
		t.Fatalf("reactivation: %+v", a.Products[0])
	}
	if wb, _, _ = window(ans, "PK-CAM", "b"); wb.From != e.clk.Now().Unix() {
		t.Fatalf("b reactivated from %s", codes.FormatTime(wb.From))
	}
	// Three years pass with no sweep: a renews once per year ended.
	e.clk.add(3 * 366 * dayD)
	_, ans = e.activate(gw, nil)
	if wa, _, _ = window(ans, "PK-CAM", "a"); !wa.ActiveAt(e.clk.Now()) {
		t.Fatal("a did not renew across three years")
	}
	_, hist, err := e.l.DeviceHistory(ctx, "acme", "PK-CAM", "a")
	e.must(err)
	if len(hist[0]) != 5 { // activation, renewal, then three more
		t.Fatalf("a consumed %d codes, want 5", len(hist[0]))
	}
	for i := 1; i < len(hist[0]); i++ {
		if hist[0][i].From != hist[0][i-1].Until || hist[0][i].Cause != authority.CauseRenewal {
			t.Fatalf("renewal %d does not continue the window before: %+v", i, hist[0])
		}
	}
	e.verify()
}

func TestRenewalSwitches(t *testing.T) {
	e := newEnv(t)
	e.fleet(10)
	gw := e.device("gw1")
	e.activate(gw, map[string][]string{"PK-CAM": {"blocked", "off", "on"}})
	n, err := e.l.SetBlocked(ctx, "acme", "PK-CAM", []string{"blocked"}, true)
	e.must(err)
	if n != 1 {
		t.Fatalf("blocked %d", n)
	}
	_, did, err := e.l.SetDeviceAutoRenew(ctx, "acme", "PK-CAM", "off", false)
	e.must(err)
	if !did {
		t.Fatal("switch did not change")
	}
	// Near expiry: all three end within 30 days of 2026-02-15; only
	// "on" will renew.
	e.clk.add(351 * dayD)
	near, err := e.l.Devices(ctx, authority.DeviceQuery{Org: "acme", NearExpiry: true})
	e.must(err)
	if len(near) != 3 {
		t.Fatalf("near expiry: %d devices", len(near))
	}
	for _, v := range near {
		if v.WillRenew != (v.DK == "on") {
			t.Errorf("%s will renew: %v", v.DK, v.WillRenew)
		}
	}
	e.clk.add(30 * dayD)
	r, err := e.l.RenewDue(ctx)
	e.must(err)
	if r.Renewed != 1 || r.Lapsed != 2 {
		t.Fatalf("renewal: %+v", r)
	}
	// With the product's auto-renew off, a device switch is refused.
	_, _, err = e.l.SetProductAutoRenew(ctx, "acme", "PK-CAM", false)
	e.must(err)
	_, _, err = e.l.SetDeviceAutoRenew(ctx, "acme", "PK-CAM", "on", true)
	wantErr(t, err, authority.ErrAutoRenewOff)
	e.clk.add(366 * dayD)
	r, err = e.l.RenewDue(ctx)
	e.must(err)
	if r.Renewed != 0 || r.Lapsed != 1 {
		t.Fatalf("renewal with product auto-renew off: %+v", r)
	}
	e.wantPools("acme", 10, 4, 6, 0)
	e.verify()
}

func TestDeletedDeviceReturns(t *testing.T) {
	e := newEnv(t)
	e.fleet(10)
	gw := e.device("gw1")
	e.activate(gw, map[string][]string{"PK-CAM": {"x", "y"}})
	_, err := e.l.DeleteDevice(ctx, "acme", "PK-CAM", "x")
	e.must(err)
	_, err = e.l.DeleteDevice(ctx, "acme", "PK-CAM", "x")
	wantErr(t, err, authority.ErrClosed)
	// The deleted device leaves the gateway's activation.
	_, ans := e.activate(gw, nil)
	if _, _, ok := window(ans, "PK-CAM", "x"); ok {
		t.Fatal("a deleted device is still in the activation")
	}
	e.wantPools("acme", 10, 2, 8, 0) // nothing back
	// Back inside its validity, through another gateway: free.
	gw2 := e.device("gw2")
	a, ans := e.activate(gw2, map[string][]string{"PK-CAM": {"x"}})
	if a.Products[0].Kept != 1 || a.Products[0].Consumed != 0 {
		t.Fatalf("return inside validity: %+v", a.Products[0])
	}
	if w, _, _ := window(ans, "PK-CAM", "x"); w.From != t0.Unix() {
		t.Fatal("x lost its window")
	}
	// Deleted again, its code ends (no renewal for a deleted device),
	// then it comes back: a new code.
	_, err = e.l.DeleteDevice(ctx, "acme", "PK-CAM", "x")
	e.must(err)
	e.clk.add(400 * dayD)
	a, _ = e.activate(gw2, map[string][]string{"PK-CAM": {"x"}})
	if a.Products[0].Consumed != 1 {
		t.Fatalf("return after validity: %+v", a.Products[0])
	}
	views, hist, err := e.l.DeviceHistory(ctx, "acme", "", "x")
	e.must(err)
	if len(views) != 1 || len(hist[0]) != 2 || hist[0][1].Cause != authority.CauseReactivation {
		t.Fatalf("history of x: %+v", hist)
	}
	e.verify()
}

func TestDeviceSearch(t *testing.T) {
	e := newEnv(t)
	e.fleet(10)
	gw := e.device("gw1")
	e.activate(gw, map[string][]string{"PK-CAM": {"d1", "d2"}})
	e.clk.add(10 * dayD)
	e.activate(gw, map[string][]string{"PK-CAM": {"d3"}})
	t10 := e.clk.Now().Unix()
	for _, c := range []struct {
		name string
		q    authority.DeviceQuery
		want int
	}{
		{"all", authority.DeviceQuery{}, 3},
		{"by PK", authority.DeviceQuery{Product: "PK-CAM"}, 3},
		{"by name", authority.DeviceQuery{Product: "cameras"}, 3},
		{"by DK", authority.DeviceQuery{DK: "d2"}, 1},
		{"activated before day 10", authority.DeviceQuery{ActivatedTo: t10}, 2},
		{"activated from day 10", authority.DeviceQuery{ActivatedFrom: t10}, 1},
		{"expiring from a year after day 10", authority.DeviceQuery{ExpiresFrom: (authority.Validity{Years: 1}).End(t10)}, 1},
		{"near expiry now", authority.DeviceQuery{NearExpiry: true}, 0},
	} {
		c.q.Org = "acme"
		vs, err := e.l.Devices(ctx, c.q)
		e.must(err)
		if len(vs) != c.want {
			t.Errorf("%s: %d devices, want %d", c.name, len(vs), c.want)
		}
	}
	e.clk.add(350 * dayD) // d1, d2 end in 5 days, d3 in 15
	vs, err := e.l.Devices(ctx, authority.DeviceQuery{Org: "acme", NearExpiry: true, ExpiresTo: e.clk.Now().Unix() + 10*86400})
	e.must(err)
	if len(vs) != 2 {
		t.Fatalf("near expiry within 10 days: %d", len(vs))
	}
	_, err = e.l.Devices(ctx, authority.DeviceQuery{Org: "acme", Product: "PK-GLX"})
	wantErr(t, err, authority.ErrNoFleetProduct)
}

func TestAlerts(t *testing.T) {
	e := newEnv(t)
	e.fleet(3)
	gw := e.device("gw1")
	e.activate(gw, map[string][]string{"PK-CAM": {"a", "b"}})
	_, err := e.l.SetAlertRecipient(ctx, "acme", "ops@plant.example", true)
	e.must(err)
	e.must(e.l.SetAlertThreshold(ctx, "acme", 5))
	oas, err := e.l.Alerts(ctx, "acme")
	e.must(err)
	if len(oas) != 1 || len(oas[0].Alerts) != 1 || oas[0].Alerts[0].Kind != authority.AlertLow || oas[0].Recipients[0] != "ops@plant.example" {
		t.Fatalf("alerts: %+v", oas)
	}
	// Within 30 days of expiry, 2 devices will renew and 1 code is left.
	e.clk.add(340 * dayD)
	oas, err = e.l.Alerts(ctx, "")
	e.must(err)
	var kinds []string
	for _, a := range oas[0].Alerts {
		kinds = append(kinds, a.Kind)
	}
	if !slices.Contains(kinds, authority.AlertRunOut) {
		t.Fatalf("no run-out alert: %+v", oas[0].Alerts)
	}
}

// TestTenThousandDevices activates 10,000 devices in one file.
func TestTenThousandDevices(t *testing.T) {
	e := newEnv(t)
	e.fleet(10_000)
	dks := make([]string, 10_000)
	for i := range dks {
		dks[i] = fmt.Sprintf("dev-%05d", i)
	}
	gw := e.device("gw1")
	a, ans := e.activate(gw, map[string][]string{"PK-CAM": dks})
	if a.Products[0].Consumed != 10_000 || ans.Count() != 10_000 {
		t.Fatalf("consumed %d, answer lists %d", a.Products[0].Consumed, ans.Count())
	}
	// One more is refused; the rest stay active.
	_, ans = e.activate(gw, map[string][]string{"PK-CAM": {"dev-x"}})
	if _, why, _ := window(ans, "PK-CAM", "dev-x"); why != codes.RefusedNoCodes || ans.Count() != 10_001 {
		t.Fatalf("10,001st device: %v, answer lists %d", why, ans.Count())
	}
	if r := e.verify(); r.Devices != 10_000 {
		t.Fatalf("verify saw %d devices", r.Devices)
	}
}

// TestVerifyDetectsTamperedPools edits the ledger file behind the
// ledger's back: each edit that makes codes appear, vanish or move is
// caught by Verify.
func TestVerifyDetectsTamperedPools(t *testing.T) {
	for name, stmt := range map[string]string{
		"product refilled":        `UPDATE fleet_products SET total = total + 10`,
		"codes given back":        `UPDATE fleet_products SET used = used - 1 WHERE pk = 'PK-CAM'`,
		"purchase grown":          `UPDATE code_batches SET count = count + 10`,
		"allocation grown":        `UPDATE code_allocations SET count = count + 1`,
		"allocation deleted":      `DELETE FROM code_allocations`,
		"renewal deleted":         `DELETE FROM consumptions`,
		"window stretched":        `UPDATE devices SET valid_until = valid_until + 86400`,
		"device deleted for good": `DELETE FROM devices WHERE dk = 'b'`,
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.fleet(0)
			v := authority.Validity{Years: 1}
			_, err := e.l.BuyCodes(ctx, "acme", "annual", &v, 10, "", "")
			e.must(err)
			_, err = e.l.AllocateCodes(ctx, "acme", "PK-CAM", "", 6, false)
			e.must(err)
			gw := e.device("gw1")
			e.activate(gw, map[string][]string{"PK-CAM": {"a", "b"}})
			e.clk.add(366 * dayD)
			_, err = e.l.RenewDue(ctx)
			e.must(err)
			e.verify()
			e.tamper(`PRAGMA foreign_keys = OFF`, stmt)
			if _, err := e.l.Verify(ctx); !errors.Is(err, authority.ErrCorrupt) {
				t.Fatalf("verify after %s: %v", name, err)
			}
		})
	}
}

// TestConcurrentActivationsNeverOversell has eight gateways activate 50
// devices each, at once, from a product with 300 codes: exactly 300 are
// consumed, 100 devices are refused, and the ledger verifies.
func TestConcurrentActivationsNeverOversell(t *testing.T) {
	e := newEnv(t)
	e.fleet(300)
	var wg sync.WaitGroup
	var consumed, refused atomic.Int64
	for g := range 8 {
		gw := e.device(fmt.Sprint("gw-", g))
		dks := make([]string, 50)
		for i := range dks {
			dks[i] = fmt.Sprintf("g%d-d%02d", g, i)
		}
		code := gw.activation(map[string][]string{"PK-CAM": dks})
		l := e.ledger() // its own connection, as another process
		wg.Go(func() {
			a, err := l.ProcessActivation(ctx, code)
			if err != nil {
				t.Error(err)
				return
			}
			consumed.Add(int64(a.Products[0].Consumed))
			refused.Add(int64(a.Products[0].Refused))
		})
	}
	wg.Wait()
	if consumed.Load() != 300 || refused.Load() != 100 {
		t.Fatalf("consumed %d, refused %d; want 300 and 100", consumed.Load(), refused.Load())
	}
	e.wantPools("acme", 300, 300, 0, 0)
	e.verify()
}

// TestSweepBeforeEveryWrite: codes used by renewals in the same
// transaction are counted before new devices consume, and a purchase
// after a code ended does not revive a device that lapsed meanwhile.
func TestSweepBeforeEveryWrite(t *testing.T) {
	e := newEnv(t)
	e.fleet(3)
	gw := e.device("gw1")
	e.activate(gw, map[string][]string{"PK-CAM": {"a"}})
	e.clk.add(366 * dayD)
	// a renews (one code), then b takes the last one, c is refused.
	a, ans := e.activate(gw, map[string][]string{"PK-CAM": {"b", "c"}})
	if a.Renewals.Renewed != 1 || a.Products[0].Consumed != 1 || a.Products[0].Refused != 1 || a.Products[0].Remaining != 0 {
		t.Fatalf("after a renewal: %+v %+v", a.Renewals, a.Products[0])
	}
	if _, why, _ := window(ans, "PK-CAM", "c"); why != codes.RefusedNoCodes {
		t.Fatalf("c: %v", why)
	}
	// A year on, a and b end with no code left: they lapse when the
	// purchase is recorded, and the codes bought stay unused.
	e.clk.add(366 * dayD)
	_, err := e.l.BuyCodes(ctx, "acme", "annual", nil, 5, "PK-CAM", "")
	e.must(err)
	r, err := e.l.RenewDue(ctx)
	e.must(err)
	if r.Renewed != 0 {
		t.Fatalf("a purchase after expiry renewed %d devices", r.Renewed)
	}
	e.wantPools("acme", 8, 3, 5, 0)
	e.verify()
}
