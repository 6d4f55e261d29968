package web_test

import (
	"crypto/sha256"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

// fleetDesk is a desk with device fleets, as README runbook 13 sets
// them up:
//
//	acme:   packages annual (1y, 100 bought) and trial (20d, 30 bought);
//	        PK-CAM "cameras" (auto-renew on) holds 40 annual codes and
//	        its devices cam-001…cam-030 activated at t0; PK-LOCK, named
//	        with markup (auto-renew off), holds 10 trial codes and its
//	        devices lock-01 and lock-02 activated at t0, so that their
//	        codes end in 20 days
//	globex: PK-GLX "sensors" with 5 annual codes; device gx-1
func fleetDesk(t *testing.T) *desk {
	t.Helper()
	d := newDesk(t)
	v := d.l.As(vera)
	for _, p := range []struct {
		org, pk, name string
		renew         bool
	}{{"acme", "PK-CAM", "cameras", true}, {"acme", "PK-LOCK", hostileName, false}, {"globex", "PK-GLX", "sensors", true}} {
		_, err := v.AddFleetProduct(ctx, p.org, p.pk, p.name, p.renew)
		d.must(err)
	}
	year, trial := authority.Validity{Years: 1}, authority.Validity{Days: 20}
	for _, b := range []struct {
		org, pkg string
		val      *authority.Validity
		n        int64
		product  string
	}{{"acme", "annual", &year, 100, ""}, {"acme", "trial", &trial, 30, ""}, {"globex", "annual", &year, 5, "PK-GLX"}} {
		_, err := v.BuyCodes(ctx, b.org, b.pkg, b.val, b.n, b.product, "PO-1")
		d.must(err)
	}
	_, err := v.AllocateCodes(ctx, "acme", "PK-CAM", "annual", 40, false)
	d.must(err)
	_, err = v.AllocateCodes(ctx, "acme", "PK-LOCK", "trial", 10, false)
	d.must(err)
	var cams []string
	for i := 1; i <= 30; i++ {
		cams = append(cams, fmt.Sprintf("cam-%03d", i))
	}
	fleetActivate(d, d.device("gw-acme", d.f.Authority), map[string][]string{"PK-CAM": cams, "PK-LOCK": {"lock-01", "lock-02"}})
	fleetActivate(d, d.device("gw-globex", d.f.Authority), map[string][]string{"PK-GLX": {"gx-1"}})
	return d
}

// fleetActivate has a gateway activate devices: it makes the activation
// request a gateway instance makes ('airlock instance activation
// request') and the desk processes it ('airlock authority activation
// process'), which checks no person.
func fleetActivate(d *desk, gw *device, groups map[string][]string) *authority.Activated {
	d.t.Helper()
	n := gw.nonce.Add(1)
	h := sha256.Sum256(fmt.Appendf(nil, "%s activation %d", gw.name, n))
	req := &codes.ActivationRequest{UDI: gw.udi, Nonce: h[:codes.NonceSize], IssuedAt: d.clk.Now().Unix() - 60}
	pks := make([]string, 0, len(groups))
	for pk := range groups {
		pks = append(pks, pk)
	}
	slices.Sort(pks)
	for _, pk := range pks {
		dks := slices.Clone(groups[pk])
		slices.Sort(dks)
		req.Products = append(req.Products, codes.DeviceGroup{ProductKey: pk, Devices: dks})
	}
	code, err := codes.SealActivationRequest(req, gw.key, gw.auth)
	d.must(err)
	a, err := d.l.ProcessActivation(ctx, code)
	d.must(err)
	return a
}

// fleetPools returns an organization's activation-code counts.
func fleetPools(d *desk, org string) *authority.PoolCounts {
	d.t.Helper()
	pc, err := d.l.As(vera).Pools(ctx, org)
	d.must(err)
	return pc
}

// fleetProduct returns a fleet product as the vendor sees it.
func fleetProduct(d *desk, org, pk string) authority.FleetProduct {
	d.t.Helper()
	pc := fleetPools(d, org)
	for _, p := range pc.Products {
		if p.PK == pk {
			return p
		}
	}
	d.t.Fatalf("no product %s", pk)
	return authority.FleetProduct{}
}

// fleetState is what the refused forms must leave as it was: the
// history and the counts of both organizations.
func fleetState(d *desk) string {
	d.t.Helper()
	s := fmt.Sprint(d.historyLen())
	for _, org := range []string{"acme", "globex"} {
		pc := fleetPools(d, org)
		s += fmt.Sprintf(" %s:%d/%d/%d/%d", org, pc.Total, pc.Used, pc.Remaining, pc.UnallocatedTotal())
		for _, p := range pc.Products {
			s += fmt.Sprintf(" %s:%d:%v", p.PK, p.Total, p.AutoRenew)
		}
	}
	rs, below, err := d.l.As(vera).AlertRecipients(ctx, "acme")
	d.must(err)
	return s + fmt.Sprintf(" alerts:%v:%d", rs, below)
}

// TestFleetActivationPageShowsPoolsToEachRole: the totals, per package
// and per product, for everyone who reads the organization; the forms
// only for those who may use them; nothing for another organization.
func TestFleetActivationPageShowsPoolsToEachRole(t *testing.T) {
	d := fleetDesk(t)
	b, _ := d.signedIn(ann)
	page := b.get("/orgs/acme/activation")
	page.want(t, 200, "<dt>Total bought</dt><dd>130</dd>", "<dt>Used by devices</dt><dd>32</dd>", "<dt>Unallocated</dt><dd>80</dd>",
		`<th scope="row">annual</th><td>1y</td><td class="n">60</td>`, `<th scope="row">trial</th><td>20d</td><td class="n">20</td>`,
		"<code>PK-CAM</code>", `action="/orgs/acme/activation/allocate/review"`, `name="count"`, "Review the allocation",
		"Turn auto-renew off for PK-CAM", "Turn auto-renew on for PK-LOCK", "Add the recipient", "Set the threshold", `<svg xmlns="http://www.w3.org/2000/svg" role="img"`)
	if strings.Contains(page.body, hostileName) || !strings.Contains(page.body, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Fatal("the product's name is not escaped")
	}
	if strings.Contains(page.body, "Record the purchase") || strings.Contains(page.body, "PK-GLX") {
		t.Fatal("an administrator sees the vendor's purchase form, or globex's product")
	}
	vb, _ := d.signedIn(vic)
	vp := vb.get("/orgs/acme/activation")
	vp.want(t, 200, "<dt>Total bought</dt><dd>130</dd>", "<code>PK-LOCK</code>")
	for _, form := range []string{"Review the allocation", "Turn auto-renew", "Add the recipient", "Set the threshold", "Record the purchase"} {
		if strings.Contains(vp.body, form) {
			t.Errorf("a viewer sees %q", form)
		}
	}
	sb, _ := d.signedIn(vera)
	sb.get("/orgs/acme/activation").want(t, 200, "Record the purchase", `name="validity"`, "Review the allocation")
	gb, _ := d.signedIn(gus)
	for _, path := range []string{"/orgs/acme/activation", "/orgs/acme/devices", "/orgs/acme/devices/near-expiry", "/orgs/acme/devices/PK-CAM/cam-001"} {
		r := gb.get(path)
		r.want(t, 403)
		if strings.Contains(r.body, "PK-CAM") || strings.Contains(r.body, "cam-001") {
			t.Errorf("%s shows acme's fleet to globex's administrator", path)
		}
	}
	b.get("/orgs/acme/activation?by=week").want(t, 200, "By week", "per week")
}

// TestFleetAllocateThroughTheReview: the review states what the library's
// dry run says and warns that it cannot be undone, changing nothing;
// the form it shows allocates once; sent again, it allocates nothing.
func TestFleetAllocateThroughTheReview(t *testing.T) {
	d := fleetDesk(t)
	b, tok := d.signedIn(ann)
	before := fleetState(d)
	rv := b.post("/orgs/acme/activation/allocate/review", url.Values{"csrf": {tok}, "product": {"PK-CAM"}, "package": {""}, "count": {"25"}})
	rv.want(t, 200, "Review the allocation", `class="warn"`, "Allocating is irreversible", "cannot go back to the pool",
		`<dd id="alloc-count-review">25</dd>`, "<dd>annual (1y)</dd>", "<dd>60</dd>", "<dd>35</dd>", "65 codes in all",
		`name="product" value="PK-CAM"`, `name="package" value="annual"`, `name="count" value="25"`, `name="reviewed" value="60"`,
		"Allocate 25 codes to PK-CAM for good", "Cancel: allocate nothing")
	if fleetState(d) != before {
		t.Fatal("the review changed the ledger")
	}
	form := url.Values{"csrf": {tok}, "product": {"PK-CAM"}, "package": {"annual"}, "count": {"25"}, "reviewed": {"60"}}
	done := b.post("/orgs/acme/activation/allocate", form)
	done.want(t, 200, "Codes allocated", `class="ok"`, "25 codes of package annual (1y) allocated to <code>PK-CAM</code> (cameras)", "65 codes in all", "<dd>35</dd>", ann)
	if p := fleetProduct(d, "acme", "PK-CAM"); p.Total != 65 || fleetPools(d, "acme").UnallocatedTotal() != 55 {
		t.Fatalf("after the allocation: product %+v", p)
	}
	after := fleetState(d)
	// The same form again: the pool changed since its review.
	b.post("/orgs/acme/activation/allocate", form).want(t, http.StatusConflict, "Changed since the review", "were 60 when you reviewed", "are 35 now")
	if fleetState(d) != after {
		t.Fatal("a form sent twice allocated twice")
	}
	b.get("/orgs/acme/activation").want(t, 200, `<td class="n">25</td>`, "PK-CAM")
}

// TestFleetAllocateRefusals: a viewer, another organization's
// administrator, a form without its token, and hostile or impossible
// values are refused with the reason, and change nothing.
func TestFleetAllocateRefusals(t *testing.T) {
	d := fleetDesk(t)
	before := fleetState(d)
	vb, vtok := d.signedIn(vic)
	gb, gtok := d.signedIn(gus)
	b, tok := d.signedIn(ann)
	good := func(tok string) url.Values {
		return url.Values{"csrf": {tok}, "product": {"PK-CAM"}, "package": {"annual"}, "count": {"5"}, "reviewed": {"60"}}
	}
	for _, path := range []string{"/orgs/acme/activation/allocate/review", "/orgs/acme/activation/allocate"} {
		vb.post(path, good(vtok)).want(t, 403, "may read")
		gb.post(path, good(gtok)).want(t, 403)
		noToken := good(tok)
		noToken.Del("csrf")
		b.post(path, noToken).want(t, 403, "no valid security token")
	}
	missing := b.post("/orgs/acme/activation/allocate/review", url.Values{"csrf": {tok}, "product": {"PK-NONE"}, "count": {"1"}})
	missing.want(t, 404, `has no product with product key or name &#34;PK-NONE&#34;`)
	elsewhere := b.post("/orgs/acme/activation/allocate/review", url.Values{"csrf": {tok}, "product": {"PK-GLX"}, "count": {"1"}})
	elsewhere.want(t, 404)
	if strings.ReplaceAll(elsewhere.body, "PK-GLX", "PK-NONE") != missing.body {
		t.Fatal("another organization's product key is refused in other words than a missing one")
	}
	for _, c := range []struct {
		name   string
		form   url.Values
		status int
		says   string
	}{
		{"letters", url.Values{"product": {"PK-CAM"}, "count": {"ten"}}, 400, "Count: &#34;ten&#34; is not a whole number."},
		{"huge", url.Values{"product": {"PK-CAM"}, "count": {"99999999999999999999999999"}}, 400, "is not a whole number"},
		{"zero", url.Values{"product": {"PK-CAM"}, "count": {"0"}}, 400, "count 0 is not from 1 to"},
		{"negative", url.Values{"product": {"PK-CAM"}, "count": {"-5"}}, 400, "count -5 is not from 1 to"},
		{"more than unallocated", url.Values{"product": {"PK-CAM"}, "count": {"61"}}, 409, "Not enough activation codes"},
		{"another package", url.Values{"product": {"PK-CAM"}, "package": {"trial"}, "count": {"1"}}, 400, "Another package"},
		{"no such package", url.Values{"product": {"PK-CAM"}, "package": {"<b>gold</b>"}, "count": {"1"}}, 404, "no package &#34;&lt;b&gt;gold&lt;/b&gt;&#34;"},
		{"markup product", url.Values{"product": {"<b>x</b>"}, "count": {"1"}}, 404, "&#34;&lt;b&gt;x&lt;/b&gt;&#34;"},
		{"no product", url.Values{"count": {"1"}}, 400, "choose the product"},
		{"two counts", url.Values{"product": {"PK-CAM"}, "count": {"1", "2"}}, 400, "Count: sent more than once"},
	} {
		c.form.Set("csrf", tok)
		r := b.post("/orgs/acme/activation/allocate/review", c.form)
		if r.StatusCode != c.status || !strings.Contains(r.body, c.says) || strings.Contains(r.body, "<script>") || strings.Contains(r.body, "<b>") {
			t.Errorf("%s: %d, want %d with %q:\n%s", c.name, r.StatusCode, c.status, c.says, r.body)
		}
		c.form.Set("reviewed", "60")
		if r := b.post("/orgs/acme/activation/allocate", c.form); r.StatusCode != c.status {
			t.Errorf("%s, allocating: %d, want %d", c.name, r.StatusCode, c.status)
		}
	}
	bad := good(tok)
	bad.Set("reviewed", "sixty")
	b.post("/orgs/acme/activation/allocate", bad).want(t, 400, "not a whole number")
	if fleetState(d) != before {
		t.Fatal("a refused allocation changed the ledger")
	}
}

// TestFleetAutoRenewSwitches: the product's and a device's switches, as
// `airlock authority pool auto-renew` and `device auto-renew`; a device's
// needs its product's on; a viewer and a form without its token change
// nothing; the switch goes back only to a page of the organization's
// devices.
func TestFleetAutoRenewSwitches(t *testing.T) {
	d := fleetDesk(t)
	b, tok := d.signedIn(ann)
	vb, vtok := d.signedIn(vic)
	before := fleetState(d)
	vb.post("/orgs/acme/activation/auto-renew", url.Values{"csrf": {vtok}, "product": {"PK-CAM"}, "on": {"off"}}).want(t, 403)
	vb.post("/orgs/acme/devices/auto-renew", url.Values{"csrf": {vtok}, "product": {"PK-CAM"}, "dk": {"cam-001"}, "on": {"off"}}).want(t, 403)
	b.post("/orgs/acme/activation/auto-renew", url.Values{"product": {"PK-CAM"}, "on": {"off"}}).want(t, 403)
	b.post("/orgs/acme/activation/auto-renew", url.Values{"csrf": {tok}, "product": {"PK-CAM"}, "on": {"maybe"}}).want(t, 400, "on or off")
	b.post("/orgs/acme/activation/auto-renew", url.Values{"csrf": {tok}, "product": {"PK-GLX"}, "on": {"off"}}).want(t, 404)
	b.post("/orgs/acme/devices/auto-renew", url.Values{"csrf": {tok}, "product": {"PK-LOCK"}, "dk": {"lock-01"}, "on": {"on"}}).want(t, 409, "Product auto-renew is off")
	b.post("/orgs/acme/devices/auto-renew", url.Values{"csrf": {tok}, "product": {"PK-CAM"}, "dk": {"cam-999"}, "on": {"off"}}).want(t, 404, "no device")
	if fleetState(d) != before {
		t.Fatal("a refused switch changed the ledger")
	}

	b.post("/orgs/acme/activation/auto-renew", url.Values{"csrf": {tok}, "product": {"PK-CAM"}, "on": {"off"}}).wantRedirect(t, "/orgs/acme/activation#products")
	if fleetProduct(d, "acme", "PK-CAM").AutoRenew {
		t.Fatal("the product's auto-renew is still on")
	}
	b.get("/orgs/acme/activation").want(t, 200, "Turn auto-renew on for PK-CAM")
	b.post("/orgs/acme/activation/auto-renew", url.Values{"csrf": {tok}, "product": {"cameras"}, "on": {"on"}}).wantRedirect(t, "/orgs/acme/activation#products")

	back := "/orgs/acme/devices/near-expiry?product=PK-CAM&size=25"
	r := b.post("/orgs/acme/devices/auto-renew", url.Values{"csrf": {tok}, "product": {"PK-CAM"}, "dk": {"cam-002"}, "on": {"off"}, "back": {back}})
	r.wantRedirect(t, "/orgs/acme/devices/near-expiry?product=PK-CAM&size=25")
	vs, err := d.l.As(vera).Devices(ctx, authority.DeviceQuery{Org: "acme", DK: "cam-002"})
	d.must(err)
	if len(vs) != 1 || vs[0].AutoRenew || vs[0].WillRenew {
		t.Fatalf("cam-002 after the switch: %+v", vs)
	}
	b.get("/orgs/acme/devices/PK-CAM/cam-002").want(t, 200, "Turn auto-renew on for cam-002", "<dt>Will renew</dt><dd>no: its auto-renew is off")
	for _, hostile := range []string{"https://evil.example/", "//evil.example/orgs/acme/devices", "/orgs/globex/devices", "/orgs/acme/devices/../../globex", `/orgs/acme/devices\..\x`, "javascript:alert(1)", "/orgs/acme/devicesX"} {
		r := b.post("/orgs/acme/devices/auto-renew", url.Values{"csrf": {tok}, "product": {"PK-CAM"}, "dk": {"cam-002"}, "on": {"on"}, "back": {hostile}})
		r.wantRedirect(t, "/orgs/acme/devices")
	}
}

// TestFleetAlertSettings: recipients and threshold as `airlock authority
// alerts recipients` and `alerts threshold` set them.
func TestFleetAlertSettings(t *testing.T) {
	d := fleetDesk(t)
	b, tok := d.signedIn(ann)
	vb, vtok := d.signedIn(vic)
	before := fleetState(d)
	vb.post("/orgs/acme/activation/recipients", url.Values{"csrf": {vtok}, "action": {"add"}, "address": {"ops@plant.example"}}).want(t, 403)
	vb.post("/orgs/acme/activation/threshold", url.Values{"csrf": {vtok}, "threshold": {"5"}}).want(t, 403)
	b.post("/orgs/acme/activation/recipients", url.Values{"action": {"add"}, "address": {"ops@plant.example"}}).want(t, 403)
	for _, c := range []struct {
		form url.Values
		says string
	}{
		{url.Values{"action": {"add"}, "address": {`<img src=x>@x.example`}}, "&lt;img src=x&gt;@x.example&#34; is not an e-mail address"},
		{url.Values{"action": {"add"}, "address": {"nobody"}}, "not an e-mail address"},
		{url.Values{"action": {"add"}, "address": {strings.Repeat("a", 300) + "@x.example"}}, "e-mail address"},
		{url.Values{"action": {"drop"}, "address": {"ops@plant.example"}}, "add or remove"},
	} {
		c.form.Set("csrf", tok)
		r := b.post("/orgs/acme/activation/recipients", c.form)
		r.want(t, 400, c.says)
		if strings.Contains(r.body, "<img") {
			t.Fatal("an address's markup is not escaped")
		}
	}
	for _, v := range []string{"many", "-1", "1e3", "100000000000000000000"} {
		b.post("/orgs/acme/activation/threshold", url.Values{"csrf": {tok}, "threshold": {v}}).want(t, 400)
	}
	b.post("/orgs/acme/activation/threshold", url.Values{"csrf": {tok}, "threshold": {"200000000"}}).want(t, 400, "is over")
	if fleetState(d) != before {
		t.Fatal("a refused alert setting changed the ledger")
	}

	b.post("/orgs/acme/activation/recipients", url.Values{"csrf": {tok}, "action": {"add"}, "address": {"ops@plant.example"}}).wantRedirect(t, "/orgs/acme/activation#alerts")
	b.post("/orgs/acme/activation/threshold", url.Values{"csrf": {tok}, "threshold": {"50"}}).wantRedirect(t, "/orgs/acme/activation#alerts")
	rs, below, err := d.l.As(vera).AlertRecipients(ctx, "acme")
	d.must(err)
	if !slices.Equal(rs, []string{"ops@plant.example"}) || below != 50 {
		t.Fatalf("alerts: %v %d", rs, below)
	}
	page := b.get("/orgs/acme/activation")
	page.want(t, 200, "<td>ops@plant.example</td>", "Remove ops@plant.example", "fewer than 50 codes left", `value="50"`,
		"has 8 activation codes left, below the threshold of 50")
	vb.get("/orgs/acme/activation").want(t, 200, "<td>ops@plant.example</td>", "fewer than 50 codes left")
	b.post("/orgs/acme/activation/recipients", url.Values{"csrf": {tok}, "action": {"remove"}, "address": {"ops@plant.example"}}).wantRedirect(t, "/orgs/acme/activation#alerts")
	b.post("/orgs/acme/activation/threshold", url.Values{"csrf": {tok}, "threshold": {""}}).wantRedirect(t, "/orgs/acme/activation#alerts")
	if rs, below, _ := d.l.As(vera).AlertRecipients(ctx, "acme"); len(rs) != 0 || below != -1 {
		t.Fatalf("after removing: %v %d", rs, below)
	}
}

// TestFleetBuyIsTheVendors: vendor support records a purchase; an
// administrator is refused by the library, changing nothing.
func TestFleetBuyIsTheVendors(t *testing.T) {
	d := fleetDesk(t)
	b, tok := d.signedIn(ann)
	before := fleetState(d)
	form := url.Values{"package": {"annual"}, "count": {"10"}, "reference": {"PO-9"}}
	form.Set("csrf", tok)
	b.post("/orgs/acme/activation/buy", form).want(t, 403, "Not allowed")
	sb, stok := d.signedIn(vera)
	bad := url.Values{"csrf": {stok}, "package": {"gold"}, "count": {"10"}, "validity": {"forever"}}
	sb.post("/orgs/acme/activation/buy", bad).want(t, 400, "validity &#34;forever&#34;")
	bad = url.Values{"csrf": {stok}, "package": {"annual"}, "count": {"10"}, "product": {"PK-GLX"}}
	sb.post("/orgs/acme/activation/buy", bad).want(t, 404)
	if fleetState(d) != before {
		t.Fatal("a refused purchase changed the ledger")
	}
	form.Set("csrf", stok)
	sb.post("/orgs/acme/activation/buy", form).wantRedirect(t, "/orgs/acme/activation?done=bought")
	sb.get("/orgs/acme/activation?done=bought").want(t, 200, "The purchase was recorded")
	if strings.Contains(sb.get("/orgs/acme/activation?done=%3Cb%3E").body, "<b>") {
		t.Fatal("the note shows its query back")
	}
	if pc := fleetPools(d, "acme"); pc.Total != 140 || pc.UnallocatedTotal() != 90 {
		t.Fatalf("after the purchase: total %d, unallocated %d", pc.Total, pc.UnallocatedTotal())
	}
}

// TestFleetDeviceListSearchesAndPages: the search flags of `airlock
// authority device list`, a page at a time, and refusals of what they
// cannot mean.
func TestFleetDeviceListSearchesAndPages(t *testing.T) {
	d := fleetDesk(t)
	b, _ := d.signedIn(vic)
	rows := func(r *resp) []string {
		var out []string
		for _, m := range regexp.MustCompile(`<th scope="row"><a href="/orgs/acme/devices/[^"]+">([^<]+)</a></th>`).FindAllStringSubmatch(r.body, -1) {
			out = append(out, m[1])
		}
		return out
	}
	first := b.get("/orgs/acme/devices")
	first.want(t, 200, `<label for="f-product">Product</label>`, `<label for="f-dk">Device key (exact)</label>`, `name="activated_from"`, `name="expires_to"`,
		`name="near_expiry"`, `name="deleted"`, `href="/orgs/acme/devices/PK-CAM/cam-001"`)
	if got := rows(first); len(got) != 32 || got[0] != "cam-001" {
		t.Fatalf("first page: %v", got)
	}
	if strings.Contains(first.body, "Turn auto-renew") {
		t.Fatal("a viewer sees the switches")
	}
	if strings.Contains(first.body, "gx-1") {
		t.Fatal("globex's device in acme's list")
	}
	p1 := b.get("/orgs/acme/devices?size=25")
	p1.want(t, 200, `href="/orgs/acme/devices?page=2&amp;size=25"`)
	p2 := b.get("/orgs/acme/devices?page=2&size=25")
	p2.want(t, 200, "Previous page", "page 2")
	if got := rows(p2); len(got) != 7 || got[6] != "lock-02" || strings.Contains(p2.body, "Next page") {
		t.Fatalf("second page: %v", got)
	}
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"product=PK-LOCK", []string{"lock-01", "lock-02"}},
		{"product=cameras&dk=cam-002", []string{"cam-002"}},
		{"dk=lock-02", []string{"lock-02"}},
		{"expires_to=2026-04-01", []string{"lock-01", "lock-02"}},
		{"expires_from=2026-04-01&size=25", nil}, // 25 cameras, checked by count
		{"activated_from=2026-03-03", []string{}},
		{"near_expiry=on", []string{"lock-01", "lock-02"}},
	} {
		got := rows(b.get("/orgs/acme/devices?" + c.query))
		if c.want == nil {
			if len(got) != 25 {
				t.Errorf("%s: %d devices", c.query, len(got))
			}
			continue
		}
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%s: %v, want %v", c.query, got, c.want)
		}
	}
	for _, c := range []struct{ query, says string }{
		{"expires_to=soon", "is not a date"},
		{"activated_from=%3Cscript%3E", "&lt;script&gt;"},
		{"size=7", "Page size: &#34;7&#34; is not one of 25, 50, 100 and 200"},
		{"page=0", "Page: &#34;0&#34; is not a whole number from 1 to"},
		{"page=99999999999999999999", "is not a whole number"},
		{"page=100000", "narrow the search"},
	} {
		r := b.get("/orgs/acme/devices?" + c.query)
		r.want(t, 400, c.says)
		if strings.Contains(r.body, "<script>") {
			t.Fatalf("%s: markup not escaped", c.query)
		}
	}
	b.get("/orgs/acme/devices?product=PK-GLX").want(t, 404)
	// Deleted devices show with --deleted only.
	_, err := d.l.As(vera).DeleteDevice(ctx, "acme", "PK-CAM", "cam-030")
	d.must(err)
	if got := rows(b.get("/orgs/acme/devices?product=PK-CAM&dk=cam-030")); len(got) != 0 {
		t.Fatalf("a deleted device without deleted=on: %v", got)
	}
	b.get("/orgs/acme/devices?product=PK-CAM&dk=cam-030&deleted=on").want(t, 200, "<td>deleted</td>")
}

// TestFleetNearExpiryListsTheDevicesAndCharts: the devices whose code
// ends within 30 days, soonest first, with their switches, and the
// chart of the coming weeks; as time passes the cameras come near.
func TestFleetNearExpiryListsTheDevicesAndCharts(t *testing.T) {
	d := fleetDesk(t)
	b, _ := d.signedIn(ann)
	page := b.get("/orgs/acme/devices/near-expiry")
	page.want(t, 200, "Devices near expiry", `href="/orgs/acme/devices/PK-LOCK/lock-01"`, `href="/orgs/acme/devices/PK-LOCK/lock-02"`,
		"(product's is off)", "has 8 codes left", `<label for="f-expires-to">Code ends before</label>`, "Devices of acme whose code ends in each of the next 12 weeks")
	if strings.Contains(page.body, "cam-0") || strings.Contains(page.body, `name="near_expiry"`) {
		t.Fatal("near expiry lists a camera, or offers its own filter")
	}
	bars := fleetChartBars(t, page.body, "near-expiry")
	// Both locks end on day 20, in the third week from now, and lapse.
	for _, bar := range bars {
		want := 0.0
		if bar.title == "Will lapse, 2026-03-16 to 2026-03-22: 2" {
			want = 2
		}
		if bar.value != want {
			t.Errorf("bar %q: value %v, want %v", bar.title, bar.value, want)
		}
	}
	fleetWantHeights(t, bars)
	page.want(t, 200, `<th scope="row">2026-03-16 to 2026-03-22</th><td class="n">0</td><td class="n">2</td>`)

	// Eleven months on, the cameras' codes end within 30 days; they
	// renew (auto-renew on), except the one switched off.
	d.clk.add(340 * 24 * time.Hour)
	b, _ = d.signedIn(ann) // the sessions ended meanwhile
	sb, stok := d.signedIn(vera)
	sb.post("/orgs/acme/devices/auto-renew", url.Values{"csrf": {stok}, "product": {"PK-CAM"}, "dk": {"cam-005"}, "on": {"off"}}).wantRedirect(t, "/orgs/acme/devices")
	page = b.get("/orgs/acme/devices/near-expiry?product=PK-CAM&size=25")
	page.want(t, 200, "Next page", "Turn auto-renew on for cam-005", "Turn auto-renew off for cam-001", "has 10 codes left",
		"Devices of product PK-CAM (cameras) of acme whose code ends")
	bars = fleetChartBars(t, page.body, "near-expiry")
	var renew, lapse float64
	for _, bar := range bars {
		if strings.HasPrefix(bar.title, "Will renew") {
			renew += bar.value
		} else {
			lapse += bar.value
		}
	}
	if renew != 29 || lapse != 1 {
		t.Fatalf("cameras: %v renew, %v lapse", renew, lapse)
	}
	fleetWantHeights(t, bars)
	// The product of a search names it in the chart, escaped.
	page = b.get("/orgs/acme/devices/near-expiry?product=PK-LOCK")
	page.want(t, 200, "product PK-LOCK (&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;) of acme")
	fleetChartBars(t, page.body, "near-expiry")
}

// TestFleetCodeUseChart: the activation page's chart counts the month's
// purchases, allocations and consumptions, bars proportional, and the
// table holds the same numbers.
func TestFleetCodeUseChart(t *testing.T) {
	d := fleetDesk(t)
	b, _ := d.signedIn(ann)
	page := b.get("/orgs/acme/activation")
	page.want(t, 200, `<th scope="row">2026-03-01 to 2026-03-31</th><td class="n">130</td><td class="n">50</td><td class="n">32</td>`)
	bars := fleetChartBars(t, page.body, "code-use")
	if len(bars) != 36 {
		t.Fatalf("%d bars, want 12 months of 3", len(bars))
	}
	got := map[string]float64{}
	for _, bar := range bars[33:] {
		got[bar.title] = bar.value
	}
	for _, want := range []string{"Bought, 2026-03-01 to 2026-03-31: 130", "Allocated, 2026-03-01 to 2026-03-31: 50", "Consumed, 2026-03-01 to 2026-03-31: 32"} {
		if _, ok := got[want]; !ok {
			t.Errorf("no bar %q in %v", want, got)
		}
	}
	fleetWantHeights(t, bars)
	// The weeks: this week (from Monday 2026-03-02) holds it all.
	page = b.get("/orgs/acme/activation?by=week")
	page.want(t, 200, `<th scope="row">2026-03-02 to 2026-03-08</th><td class="n">130</td>`)
	fleetWantHeights(t, fleetChartBars(t, page.body, "code-use"))
}

// TestFleetDeviceHistory: one device and the codes it consumed, as
// `airlock authority device history` shows them; another
// organization's device is not found in the words of a missing one.
func TestFleetDeviceHistory(t *testing.T) {
	d := fleetDesk(t)
	d.clk.add(21 * 24 * time.Hour)
	b, tok := d.signedIn(ann)
	b.post("/orgs/acme/activation/auto-renew", url.Values{"csrf": {tok}, "product": {"PK-LOCK"}, "on": {"on"}}).want(t, 303)
	// The locks ended on day 20: the switch's write renewed... nothing,
	// as the product's auto-renew was off until then: they lapsed.
	page := b.get("/orgs/acme/devices/PK-LOCK/lock-01")
	page.want(t, 200, "Device lock-01 of PK-LOCK", "<dd>lapsed</dd>", "<td>activation</td>", "2026-03-22 09:00 UTC", "Turn auto-renew off for lock-01")
	if strings.Contains(page.body, hostileName) {
		t.Fatal("the product's name is not escaped")
	}
	cam := b.get("/orgs/acme/devices/cameras/cam-001")
	cam.want(t, 200, "<dd>active</dd>", "Codes cam-001 consumed")
	missing := b.get("/orgs/acme/devices/PK-NONE/gx-1")
	missing.want(t, 404)
	elsewhere := b.get("/orgs/acme/devices/PK-GLX/gx-1")
	elsewhere.want(t, 404)
	if strings.ReplaceAll(elsewhere.body, "PK-GLX", "PK-NONE") != missing.body {
		t.Fatal("another organization's device is refused in other words than a missing one")
	}
	b.get("/orgs/acme/devices/PK-CAM/cam-999").want(t, 404, "no device")
	vb, _ := d.signedIn(vic)
	vp := vb.get("/orgs/acme/devices/PK-CAM/cam-001")
	vp.want(t, 200, "<dd>active</dd>")
	if strings.Contains(vp.body, "Turn auto-renew") {
		t.Fatal("a viewer sees the switch")
	}
}

// A fleetBar is a bar of a chart: its value (from its title) and height.
type fleetBar struct {
	title  string
	value  float64
	height float64
}

// fleetChartBars checks that the chart id of a page is well-formed XML,
// an image with a title, and returns its bars.
func fleetChartBars(t *testing.T, body, id string) []fleetBar {
	t.Helper()
	start := strings.Index(body, `<figure class="chart" aria-labelledby="`+id+`-caption">`)
	if start < 0 {
		t.Fatalf("no chart %s", id)
	}
	svg := body[start:]
	svg = svg[strings.Index(svg, "<svg"):]
	svg = svg[:strings.Index(svg, "</svg>")+len("</svg>")]
	if !strings.Contains(svg, `role="img" aria-labelledby="`+id+`-title `+id+`-desc"`) || !strings.Contains(svg, `<title id="`+id+`-title">`) {
		t.Fatalf("chart %s is no labelled image:\n%s", id, svg)
	}
	if strings.Contains(svg, "style") || strings.Contains(svg, "<script") {
		t.Fatalf("chart %s has style or script", id)
	}
	dec := xml.NewDecoder(strings.NewReader(svg))
	dec.Strict = true
	var bars []fleetBar
	var in *fleetBar
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("chart %s is not well-formed XML: %v\n%s", id, err, svg)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if e.Name.Local == "rect" && slices.Contains(e.Attr, xml.Attr{Name: xml.Name{Local: "class"}, Value: "bar"}) {
				in = &fleetBar{}
				for _, a := range e.Attr {
					if a.Name.Local == "height" {
						h, err := strconv.ParseFloat(a.Value, 64)
						if err != nil {
							t.Fatalf("bar height %q", a.Value)
						}
						in.height = h
					}
				}
			}
		case xml.CharData:
			if in != nil {
				in.title += string(e)
			}
		case xml.EndElement:
			if e.Name.Local == "rect" && in != nil {
				v, err := strconv.ParseFloat(in.title[strings.LastIndex(in.title, " ")+1:], 64)
				if err != nil {
					t.Fatalf("bar title %q", in.title)
				}
				in.value = v
				bars = append(bars, *in)
				in = nil
			}
		}
	}
	if len(bars) == 0 {
		t.Fatalf("chart %s has no bars", id)
	}
	return bars
}

// fleetWantHeights checks that bar heights follow the values: zero for
// zero, the tallest for the largest, and proportional within rounding.
func fleetWantHeights(t *testing.T, bars []fleetBar) {
	t.Helper()
	var top fleetBar
	for _, b := range bars {
		if b.value > top.value {
			top = b
		}
	}
	for _, b := range bars {
		switch {
		case b.value == 0 && b.height != 0:
			t.Errorf("bar %q: height %v for 0", b.title, b.height)
		case b.value > 0 && b.height <= 0:
			t.Errorf("bar %q: no height", b.title)
		case top.value > 0 && math.Abs(b.height-top.height*b.value/top.value) > 1:
			t.Errorf("bar %q: height %v, the tallest %v for %v", b.title, b.height, top.height, top.value)
		}
	}
}

// TestFleetEveryChangeIsRefusedWithoutRoleOrToken: each form of the
// fleet pages, sent by a viewer, by another organization's
// administrator, or without its token, is refused and changes nothing.
func TestFleetEveryChangeIsRefusedWithoutRoleOrToken(t *testing.T) {
	d := fleetDesk(t)
	before, devices := fleetState(d), fleetDevices(d)
	gateway := d.device("gw-acme", d.f.Authority).udi.String()
	forms := map[string]url.Values{
		"/orgs/acme/activation/allocate/review":        {"product": {"PK-CAM"}, "count": {"5"}},
		"/orgs/acme/activation/allocate":               {"product": {"PK-CAM"}, "package": {"annual"}, "count": {"5"}, "reviewed": {"60"}},
		"/orgs/acme/activation/auto-renew":             {"product": {"PK-CAM"}, "on": {"off"}},
		"/orgs/acme/activation/recipients":             {"action": {"add"}, "address": {"ops@plant.example"}},
		"/orgs/acme/activation/threshold":              {"threshold": {"5"}},
		"/orgs/acme/activation/buy":                    {"package": {"annual"}, "count": {"5"}},
		"/orgs/acme/devices/auto-renew":                {"product": {"PK-CAM"}, "dk": {"cam-001"}, "on": {"off"}},
		"/orgs/acme/activation/products":               {"pk": {"PK-NEW"}, "name": {"new"}},
		"/orgs/acme/activation/products/delete/review": {"product": {"PK-LOCK"}},
		"/orgs/acme/activation/products/delete":        {"product": {"PK-LOCK"}, "reviewed": {"8"}},
		"/orgs/acme/devices/blocklist":                 {"product": {"PK-CAM"}, "dk": {"cam-001"}, "blocked": {"on"}},
		"/orgs/acme/devices/delete/review":             {"product": {"PK-CAM"}, "dk": {"cam-001"}},
		"/orgs/acme/devices/delete":                    {"product": {"PK-CAM"}, "dk": {"cam-001"}},
		"/orgs/acme/devices/gateways/retire/review":    {"udi": {gateway}, "reason": {"disk"}},
		"/orgs/acme/devices/gateways/retire":           {"udi": {gateway}, "reason": {"disk"}},
	}
	vb, vtok := d.signedIn(vic)
	gb, gtok := d.signedIn(gus)
	sb, _ := d.signedIn(vera)
	for path, form := range forms {
		for _, c := range []struct {
			who string
			b   *browser
			tok string
		}{{"viewer", vb, vtok}, {"globex's administrator", gb, gtok}, {"no token", sb, ""}} {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			if c.tok != "" {
				f.Set("csrf", c.tok)
			}
			if r := c.b.post(path, f); r.StatusCode != http.StatusForbidden {
				t.Errorf("%s, %s: %d, want 403\n%s", path, c.who, r.StatusCode, r.body)
			}
		}
	}
	gws, err := d.l.As(vera).Gateways(ctx, "acme")
	d.must(err)
	if fleetState(d) != before || fleetDevices(d) != devices || len(gws[0].PublicKey) == 0 {
		t.Fatal("a refused form changed the ledger")
	}
}

// fleetDevices describes acme's devices: key, switch, blocklist,
// deletion.
func fleetDevices(d *desk) string {
	d.t.Helper()
	vs, err := d.l.As(vera).Devices(ctx, authority.DeviceQuery{Org: "acme", IncludeDeleted: true})
	d.must(err)
	var b strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&b, "%s:%v:%v:%d ", v.DK, v.AutoRenew, v.Blocked, v.DeletedAt)
	}
	return b.String()
}

// TestFleetProductsAddAndDelete: a product added as `pool product add`
// does, and deleted through a review that warns its codes are lost.
func TestFleetProductsAddAndDelete(t *testing.T) {
	d := fleetDesk(t)
	b, tok := d.signedIn(ann)
	before := fleetState(d)
	for _, c := range []struct {
		form   url.Values
		status int
		says   string
	}{
		{url.Values{"pk": {"PK-GLX"}, "name": {"mine"}}, 409, "product key &#34;PK-GLX&#34; is taken: choose another"},
		{url.Values{"pk": {"PK-CAM"}, "name": {"mine"}}, 409, "product key &#34;PK-CAM&#34; is taken: choose another"},
		{url.Values{"pk": {"<b>PK</b>"}, "name": {"mine"}}, 400, "&lt;b&gt;PK&lt;/b&gt;"},
		{url.Values{"pk": {"PK-NEW"}, "name": {"cameras"}}, 409, "has a product named"},
		{url.Values{"pk": {"PK-NEW"}, "name": {""}}, 400, "product name"},
		{url.Values{"pk": {"PK-NEW"}, "name": {"new"}, "auto_renew": {"yes"}}, 400, "check box"},
	} {
		c.form.Set("csrf", tok)
		r := b.post("/orgs/acme/activation/products", c.form)
		r.want(t, c.status, c.says)
		if strings.Contains(r.body, "globex") || strings.Contains(r.body, "sensors") || strings.Contains(r.body, "<b>") {
			t.Fatalf("a refused product says too much:\n%s", r.body)
		}
	}
	if fleetState(d) != before {
		t.Fatal("a refused product changed the ledger")
	}
	b.post("/orgs/acme/activation/products", url.Values{"csrf": {tok}, "pk": {"PK-NEW"}, "name": {`<i>"new"</i>`}, "auto_renew": {"on"}}).wantRedirect(t, "/orgs/acme/activation#products")
	if p := fleetProduct(d, "acme", "PK-NEW"); p.Name != `<i>"new"</i>` || !p.AutoRenew {
		t.Fatalf("added %+v", p)
	}
	b.get("/orgs/acme/activation").want(t, 200, "<code>PK-NEW</code>", "&lt;i&gt;&#34;new&#34;&lt;/i&gt;", "Add the product", "Delete PK-LOCK…")
	before = fleetState(d)

	rv := b.post("/orgs/acme/activation/products/delete/review", url.Values{"csrf": {tok}, "product": {"PK-LOCK"}})
	rv.want(t, 200, "Review the deletion of PK-LOCK", `class="warn"`, "Deleting a product is irreversible", "Its 8 remaining codes are lost",
		`name="reviewed" value="8"`, "Delete PK-LOCK and lose its 8 codes")
	if fleetState(d) != before || fleetProduct(d, "acme", "PK-LOCK").DeletedAt != 0 {
		t.Fatal("the review deleted the product")
	}
	b.post("/orgs/acme/activation/products/delete", url.Values{"csrf": {tok}, "product": {"PK-LOCK"}, "reviewed": {"9"}}).want(t, 409, "Changed since the review")
	b.post("/orgs/acme/activation/products/delete", url.Values{"csrf": {tok}, "product": {"PK-LOCK"}, "reviewed": {"8"}}).wantRedirect(t, "/orgs/acme/activation#products")
	if pc := fleetPools(d, "acme"); pc.Forfeited != 8 {
		t.Fatalf("forfeited %d, want 8", pc.Forfeited)
	}
	b.get("/orgs/acme/activation").want(t, 200, "<dd>8 (left in deleted products)</dd>", "deleted 2026-03-02")
	b.post("/orgs/acme/activation/products/delete/review", url.Values{"csrf": {tok}, "product": {"PK-LOCK"}}).want(t, 409, "Product deleted", "was deleted")
	b.post("/orgs/acme/activation/products/delete/review", url.Values{"csrf": {tok}, "product": {"PK-GLX"}}).want(t, 404)
}

// TestFleetDeviceBlocklistAndDelete: a device put on its product's
// blocklist and taken off, and deleted through a review that warns its
// code is not returned.
func TestFleetDeviceBlocklistAndDelete(t *testing.T) {
	d := fleetDesk(t)
	b, tok := d.signedIn(ann)
	here := "/orgs/acme/devices/PK-CAM/cam-003"
	b.get(here).want(t, 200, "Put cam-003 on the blocklist: never renew it", "Delete device cam-003…")
	b.post("/orgs/acme/devices/blocklist", url.Values{"csrf": {tok}, "product": {"PK-CAM"}, "dk": {"cam-003"}, "blocked": {"maybe"}}).want(t, 400, "on or off")
	b.post("/orgs/acme/devices/blocklist", url.Values{"csrf": {tok}, "product": {"PK-CAM"}, "dk": {"<i>"}, "blocked": {"on"}}).want(t, 400, "&lt;i&gt;")
	b.post("/orgs/acme/devices/blocklist", url.Values{"csrf": {tok}, "product": {"PK-CAM"}, "dk": {"cam-003"}, "blocked": {"on"}, "back": {here}}).wantRedirect(t, here)
	b.get(here).want(t, 200, "<dt>On the blocklist</dt><dd>yes</dd>", "<dt>Will renew</dt><dd>no: it is on the blocklist", "Take cam-003 off the blocklist")
	b.post("/orgs/acme/devices/blocklist", url.Values{"csrf": {tok}, "product": {"PK-CAM"}, "dk": {"cam-003"}, "blocked": {"off"}, "back": {here}}).wantRedirect(t, here)
	b.get(here).want(t, 200, "<dt>On the blocklist</dt><dd>no</dd>")

	before := fleetDevices(d)
	rv := b.post("/orgs/acme/devices/delete/review", url.Values{"csrf": {tok}, "product": {"PK-CAM"}, "dk": {"cam-003"}})
	rv.want(t, 200, "Review the deletion of cam-003", `class="warn"`, "Deleting a device cannot be undone", "its code is not returned", "Delete device cam-003</button>")
	if fleetDevices(d) != before {
		t.Fatal("the review deleted the device")
	}
	b.post("/orgs/acme/devices/delete", url.Values{"csrf": {tok}, "product": {"PK-CAM"}, "dk": {"cam-003"}}).wantRedirect(t, here)
	page := b.get(here)
	page.want(t, 200, "<dd>deleted</dd>", "<dt>Deleted</dt>")
	if strings.Contains(page.body, "Delete device") || strings.Contains(page.body, "Turn auto-renew") {
		t.Fatal("a deleted device offers its forms")
	}
	b.post("/orgs/acme/devices/delete/review", url.Values{"csrf": {tok}, "product": {"PK-CAM"}, "dk": {"cam-003"}}).want(t, 409, "Device deleted")
	b.post("/orgs/acme/devices/delete", url.Values{"csrf": {tok}, "product": {"PK-CAM"}, "dk": {"cam-003"}}).want(t, 409, "Device deleted", "was deleted")
	b.post("/orgs/acme/devices/delete/review", url.Values{"csrf": {tok}, "product": {"PK-GLX"}, "dk": {"gx-1"}}).want(t, 404)
	if pc := fleetPools(d, "acme"); pc.Used != 32 {
		t.Fatalf("a deletion gave a code back: used %d", pc.Used)
	}
}

// TestFleetGatewaysRetireThroughAReview: the gateways of the
// organization, as `airlock authority gateway list` shows them, and a
// key retired through a review; another organization's gateway is not
// found in the words of a missing one.
func TestFleetGatewaysRetireThroughAReview(t *testing.T) {
	d := fleetDesk(t)
	ours, theirs := d.device("gw-acme", d.f.Authority).udi.String(), d.device("gw-globex", d.f.Authority).udi.String()
	vb, vtok := d.signedIn(vic)
	vp := vb.get("/orgs/acme/devices/gateways")
	vp.want(t, 200, "<code>"+ours+"</code>", `<td class="n">32</td>`)
	if strings.Contains(vp.body, theirs) || strings.Contains(vp.body, "Review retiring") {
		t.Fatal("a viewer sees globex's gateway, or the retire form")
	}
	vb.post("/orgs/acme/devices/gateways/retire", url.Values{"csrf": {vtok}, "udi": {ours}, "reason": {"x"}}).want(t, 403)
	b, tok := d.signedIn(ann)
	b.get("/orgs/acme/devices/gateways").want(t, 200, `<label for="reason-0">Reason</label>`, "Review retiring the key of "+ours)
	before := fleetState(d)
	missing := b.post("/orgs/acme/devices/gateways/retire/review", url.Values{"csrf": {tok}, "udi": {"P:GW,S:nobody"}, "reason": {"disk"}})
	missing.want(t, 404, "has no gateway with UDI")
	elsewhere := b.post("/orgs/acme/devices/gateways/retire/review", url.Values{"csrf": {tok}, "udi": {theirs}, "reason": {"disk"}})
	elsewhere.want(t, 404)
	if strings.ReplaceAll(elsewhere.body, theirs, "UDI") != strings.ReplaceAll(missing.body, "P:GW,S:nobody", "UDI") {
		t.Fatal("another organization's gateway is refused in other words than a missing one")
	}
	b.post("/orgs/acme/devices/gateways/retire/review", url.Values{"csrf": {tok}, "udi": {ours}, "reason": {""}}).want(t, 400, "reason")
	rv := b.post("/orgs/acme/devices/gateways/retire/review", url.Values{"csrf": {tok}, "udi": {ours}, "reason": {"<b>disk</b> replaced"}})
	rv.want(t, 200, `class="warn"`, "Retire the key only for a gateway you rebuilt", "&lt;b&gt;disk&lt;/b&gt; replaced", "Retire the key of "+ours)
	if fleetState(d) != before {
		t.Fatal("the review retired the key")
	}
	b.post("/orgs/acme/devices/gateways/retire", url.Values{"csrf": {tok}, "udi": {ours}, "reason": {"disk replaced"}}).wantRedirect(t, "/orgs/acme/devices/gateways")
	b.get("/orgs/acme/devices/gateways").want(t, 200, "retired: the next request pins one")
	b.post("/orgs/acme/devices/gateways/retire", url.Values{"csrf": {tok}, "udi": {ours}, "reason": {"again"}}).want(t, 409, "Key retired already")
}
