package web_test

import (
	"encoding/xml"
	"errors"
	"io"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

// hwTag is the tag of the hardware components of the wallet tests.
const walletHWTag = "vms.camera.hw"

// walletKey issues a license key for software of count licenses of tag
// over years, as the vendor.
func (d *desk) walletKey(software, tag string, count int64, years int) string {
	d.t.Helper()
	k, err := d.l.As(vera).IssueKey(ctx, authority.KeySpec{Software: software, Years: years, Lines: []authority.KeyLine{{Tag: tag, Count: count}}})
	d.must(err)
	return k.Key
}

// walletExtensionKey issues an extension key of count licenses of tag.
func (d *desk) walletExtensionKey(tag string, count int64) string {
	d.t.Helper()
	k, err := d.l.As(vera).IssueKey(ctx, authority.KeySpec{Software: "vms", Extension: true, Lines: []authority.KeyLine{{Tag: tag, Count: count}}})
	d.must(err)
	return k.Key
}

// walletProduct adds the product acme/site-1 of software vms, as the
// vendor.
func (d *desk) walletProduct() {
	d.t.Helper()
	_, err := d.l.As(vera).AddProduct(ctx, "acme", "site-1", "vms")
	d.must(err)
}

// walletSystem returns a system description (binary) of a system named
// name demanding cameras, with a hardware component.
func (d *desk) walletSystem(name string, cameras uint32, component string) []byte {
	d.t.Helper()
	v := d.device(name, d.f.Authority)
	sys := &codes.System{UDI: v.udi, Name: name, IssuedAt: d.clk.Now().Unix() - 60, Nonce: []byte("n-" + name[:min(len(name), 6)])}
	for len(sys.Nonce) < codes.NonceSize {
		sys.Nonce = append(sys.Nonce, '.')
	}
	sys.Nonce = sys.Nonce[:codes.NonceSize]
	if cameras > 0 {
		sys.Demand = []codes.License{lic(camera, cameras)}
	}
	if component != "" {
		sys.Components = []codes.Component{{ID: component, Model: "Camera X1", Tag: walletHWTag}}
	}
	code, err := codes.SealSystem(sys, v.key, v.auth)
	d.must(err)
	return code
}

// walletFree returns the free licenses of tag in acme/site-1's wallet.
func (d *desk) walletFree(tag string) int64 {
	d.t.Helper()
	w, err := d.l.As(vera).Wallet(ctx, "acme", "site-1")
	d.must(err)
	for _, t := range w.Totals {
		if t.Tag == tag {
			return t.Count
		}
	}
	return 0
}

// TestWalletRedeemFlow: an administrator adds a product, types a license
// key, sees what it brings (nothing changes), redeems it, and sees the
// wallet hold it.
func TestWalletRedeemFlow(t *testing.T) {
	d := newDesk(t)
	b, tok := d.signedIn(ann)
	b.get("/orgs/acme/wallet").want(t, 200, "acme has no products yet", `action="/orgs/acme/wallet/product"`, "Add the product")
	r := b.post("/orgs/acme/wallet/product", url.Values{"csrf": {tok}, "name": {"site-1"}, "software": {"vms"}})
	r.wantRedirect(t, "/orgs/acme/wallet?product=site-1#product-site-1")
	page := b.get("/orgs/acme/wallet")
	b.get("/orgs/acme/subscriptions").want(t, 200, "Product site-1", "trial", "nothing to draw on a timeline")
	page.want(t, 200, "Product site-1", "Software vms", "The wallet of acme/site-1 is empty", `<label for="redeem-key">License key</label>`, "Review the key")

	key := d.walletKey("vms", camera, 10, 3)
	before := d.historyLen()
	rv := b.post("/orgs/acme/wallet/review", url.Values{"csrf": {tok}, "product": {"site-1"}, "key": {" " + strings.ToLower(key) + " "}})
	rv.want(t, 200, "Review the license key", "30 vms.camera.core", "10 vms.camera.core × 3 years", "acme/site-1", "Redeem the key")
	if d.historyLen() != before || d.walletFree(camera) != 0 {
		t.Fatal("the review changed something")
	}
	done := b.post("/orgs/acme/wallet/redeem", url.Values{"csrf": {tok}, "product": {"site-1"}, "key": {key}})
	done.want(t, 200, "License key redeemed", "was redeemed into the wallet of acme/site-1: 30 vms.camera.core", "2031-03-02")
	if d.historyLen() != before+1 || d.walletFree(camera) != 30 {
		t.Fatalf("history %d (was %d), wallet %d", d.historyLen(), before, d.walletFree(camera))
	}
	b.get("/orgs/acme/wallet").want(t, 200, `<td class="n">30</td>`, "2031-03-02 09:00 UTC")
	// Vendor support redeems too.
	vb, vtok := d.signedIn(vera)
	vb.post("/orgs/acme/wallet/redeem", url.Values{"csrf": {vtok}, "product": {"site-1"}, "key": {d.walletKey("vms", camera, 5, 1)}}).want(t, 200, "5 vms.camera.core")
	if d.walletFree(camera) != 35 {
		t.Fatalf("wallet %d", d.walletFree(camera))
	}
}

// TestWalletRefusesHostileKeys: a key with a typo, no key, one never
// issued, one redeemed before, one for another software, and markup get
// 4xx pages in the library's words, and change nothing.
func TestWalletRefusesHostileKeys(t *testing.T) {
	d := newDesk(t)
	d.walletProduct()
	used := d.walletKey("vms", camera, 1, 1)
	_, err := d.l.As(vera).Redeem(ctx, "acme", "site-1", used)
	d.must(err)
	good := d.walletKey("vms", camera, 2, 1)
	typo := ""
	for i := len(good) - 2; typo == "" && i > 3; i-- {
		for _, c := range "0123456789ABCDEFGHJKMNPQRSTVWXYZ" {
			try := good[:i] + string(c) + good[i+1:]
			if _, err := authority.ParseKey(try); errors.Is(err, authority.ErrKeyTypo) {
				typo = try
				break
			}
		}
	}
	if typo == "" {
		t.Fatal("no typo found")
	}
	other := d.walletKey("access", "door", 1, 1)
	b, tok := d.signedIn(ann)
	before, free := d.historyLen(), d.walletFree(camera)
	for _, tc := range []struct {
		name, key string
		status    int
		words     []string
	}{
		{"typo", typo, 400, []string{"Typo in the license key", "check that group and type it again"}},
		{"empty", "", 400, []string{"Not a license key", "the key is empty"}},
		{"markup", `<script>alert(1)</script>`, 400, []string{"Not a license key"}},
		{"too long", strings.Repeat("A", 100000), 400, []string{"Not a license key"}},
		{"never issued", authority.FormatKey(make([]byte, authority.KeySize)), 404, []string{"Unknown license key", "was issued by this authority"}},
		{"redeemed before", used, 409, []string{"License key already redeemed", "into &#34;acme/site-1&#34; by vera@vendor.example"}},
		{"another software", other, 409, []string{"Key for another software", "is for software &#34;access&#34;"}},
	} {
		for _, path := range []string{"/orgs/acme/wallet/review", "/orgs/acme/wallet/redeem"} {
			r := b.post(path, url.Values{"csrf": {tok}, "product": {"site-1"}, "key": {tc.key}})
			r.want(t, tc.status, tc.words...)
			if strings.Contains(r.body, "<script>alert") {
				t.Fatalf("%s: markup not escaped", tc.name)
			}
		}
	}
	// A product of another organization, or none, is not found.
	b.post("/orgs/acme/wallet/review", url.Values{"csrf": {tok}, "product": {"nothing"}, "key": {good}}).want(t, 404, "has no product")
	b.post("/orgs/acme/wallet/review", url.Values{"csrf": {tok}, "product": {"<b>x</b>"}, "key": {good}}).want(t, 400, "&lt;b&gt;x&lt;/b&gt;")
	if d.historyLen() != before || d.walletFree(camera) != free {
		t.Fatal("a refused key changed something")
	}
}

// TestWalletRefusesViewersOtherOrganizationsAndForgedForms: a viewer sees
// the wallet without its forms and is refused each change; another
// organization's administrator is refused the pages; a form without its
// token is refused; a product name of markup is refused and escaped.
func TestWalletRefusesViewersOtherOrganizationsAndForgedForms(t *testing.T) {
	d := newDesk(t)
	d.walletProduct()
	key := d.walletKey("vms", camera, 10, 1)
	before := d.historyLen()

	vb, vtok := d.signedIn(vic)
	page := vb.get("/orgs/acme/wallet")
	page.want(t, 200, "Product site-1")
	for _, form := range []string{"Review the key", "Add the product"} {
		if strings.Contains(page.body, form) {
			t.Fatalf("a viewer sees %q", form)
		}
	}
	changes := []struct {
		path string
		form url.Values
	}{
		{"/orgs/acme/wallet/product", url.Values{"name": {"site-2"}, "software": {"vms"}}},
		{"/orgs/acme/wallet/review", url.Values{"product": {"site-1"}, "key": {key}}},
		{"/orgs/acme/wallet/redeem", url.Values{"product": {"site-1"}, "key": {key}}},
	}
	withToken := func(f url.Values, tok string) url.Values {
		g := url.Values{"csrf": {tok}}
		for k, v := range f {
			g[k] = v
		}
		return g
	}
	for _, c := range changes {
		vb.post(c.path, withToken(c.form, vtok)).want(t, 403, "Not allowed")
	}
	gb, gtok := d.signedIn(gus)
	gb.get("/orgs/acme/wallet").want(t, 403)
	for _, c := range changes {
		gb.post(strings.Replace(c.path, "acme", "acme", 1), withToken(c.form, gtok)).want(t, 403)
	}
	ab, atok := d.signedIn(ann)
	for _, c := range changes {
		ab.post(c.path, c.form).want(t, 403, "no valid security token")
	}
	ab.post("/orgs/acme/wallet/product", url.Values{"csrf": {atok}, "name": {`<b>x</b>`}, "software": {"vms"}}).want(t, 400, "&lt;b&gt;x&lt;/b&gt;")
	ab.post("/orgs/acme/wallet/product", url.Values{"csrf": {atok}, "name": {"site-1"}, "software": {"vms"}}).want(t, 409, "has a product")
	if d.historyLen() != before || d.walletFree(camera) != 0 {
		t.Fatal("a refusal changed something")
	}
}

// walletSignedSubs sets up acme/site-1 with a wallet of 20 cameras and 4
// extension licenses, and returns ann's browser.
func walletSubsDesk(t *testing.T) (*desk, *browser, string) {
	d := newDesk(t)
	d.walletProduct()
	for _, k := range []string{d.walletKey("vms", camera, 10, 2), d.walletExtensionKey(walletHWTag, 4)} {
		_, err := d.l.As(vera).Redeem(ctx, "acme", "site-1", k)
		d.must(err)
	}
	b, tok := d.signedIn(ann)
	return d, b, tok
}

// TestSubscriptionFlow follows runbook 12 in the browser: register a
// system, start the subscription, allocate to the demand, deliver the
// code and download it, extend a component: each reviewed first (which
// changes nothing), then done.
func TestSubscriptionFlow(t *testing.T) {
	d, b, tok := walletSubsDesk(t)
	b.get("/orgs/acme/subscriptions").want(t, 200, "Product site-1", "trial", "Review the start", "Register a system to site-1")
	b.get("/orgs/acme/history").want(t, 200, "<td>product add</td><td>acme/site-1</td>")

	desc := d.walletSystem("plant", 10, "SN-1")
	h := d.historyLen()
	rv := b.upload("/orgs/acme/subscriptions/register", url.Values{"csrf": {tok}, "product": {"site-1"}, "step": {"review"}}, codes.EncodeArmor(codes.KindSystem, desc))
	rv.want(t, 200, "Review the system description", "plant", "10 vms.camera.core", "SN-1", "Register the system")
	typedDesc := regexp.MustCompile(`name="system" value="([^"]+)"`).FindStringSubmatch(rv.body)
	if typedDesc == nil || d.historyLen() != h {
		t.Fatal("the review has no description to register, or changed something")
	}
	b.post("/orgs/acme/subscriptions/register", url.Values{"csrf": {tok}, "product": {"site-1"}, "system": {typedDesc[1]}, "step": {"do"}}).
		want(t, 200, "System registered", "registered to acme/site-1", "1 vms.camera.hw on SN-1")
	// Its instance page sends its codes to the subscription, not to updates.
	sys := instanceLinkRE.FindStringSubmatch(b.get("/orgs/acme/instances").body)
	if sys == nil {
		t.Fatal("the system is not on the instances page")
	}
	sp := b.get(sys[1])
	sp.want(t, 200, "Codes of this system", "system of product acme/site-1")
	if strings.Contains(sp.body, "/update/review") {
		t.Fatal("a product's system is offered an update")
	}

	h = d.historyLen()
	b.post("/orgs/acme/subscriptions/start", url.Values{"csrf": {tok}, "product": {"site-1"}, "step": {"review"}}).
		want(t, 200, "Review the start", "2026-03-02", "2026-04-01", "its subscription years start today", "Start the subscription")
	if d.historyLen() != h {
		t.Fatal("the review of the start changed something")
	}
	b.post("/orgs/acme/subscriptions/start", url.Values{"csrf": {tok}, "product": {"site-1"}, "step": {"do"}}).
		want(t, 200, "Subscription started", "grace until 2026-04-01")
	page := b.get("/orgs/acme/subscriptions")
	page.want(t, 200, "grace until 2026-04-01", `class="warn"`, "allocate 10 vms.camera.core to year 1", `name="count" type="number" min="1" required value="10"`, "Review the allocation")

	h = d.historyLen()
	form := url.Values{"csrf": {tok}, "product": {"site-1"}, "year": {"1"}, "count": {"10"}, "tag": {""}, "step": {"review"}}
	b.post("/orgs/acme/subscriptions/allocate", form).want(t, 200, "Review the allocation", "10 vms.camera.core", "2026-03-02..2027-03-01", "will meet", ">Allocate</button>")
	if d.historyLen() != h || d.walletFree(camera) != 20 {
		t.Fatal("the review of the allocation changed something")
	}
	form.Set("step", "do")
	b.post("/orgs/acme/subscriptions/allocate", form).want(t, 200, "Allocated", "10 vms.camera.core allocated to year 1")
	if d.walletFree(camera) != 10 {
		t.Fatalf("wallet %d after the allocation", d.walletFree(camera))
	}
	b.get("/orgs/acme/subscriptions").want(t, 200, "licensed until 2027-03-02")

	st, err := d.l.As(vera).SubscriptionStatus(ctx, "acme", "site-1")
	d.must(err)
	udi := st.Systems[0].UDI
	h = d.historyLen()
	b.post("/orgs/acme/subscriptions/deliver", url.Values{"csrf": {tok}, "product": {"site-1"}, "system": {udi}, "step": {"review"}}).
		want(t, 200, "Review the delivery", "licensed", "1 vms.camera.hw on SN-1", "Issue the authorization code")
	if d.historyLen() != h {
		t.Fatal("the review of the delivery changed something")
	}
	dv := b.post("/orgs/acme/subscriptions/deliver", url.Values{"csrf": {tok}, "product": {"site-1"}, "system": {udi}, "step": {"do"}})
	dv.want(t, 200, "Delivered", "10 vms.camera.core until 2027-03-02", "1 vms.camera.hw on SN-1", "AU-", "Download the authorization file")
	dl := b.post("/orgs/acme/subscriptions/download", url.Values{"csrf": {tok}, "product": {"site-1"}, "udi": {udi}, "serial": {"1"}})
	dl.want(t, 200, "BEGIN AIRLOCK")
	if !strings.HasPrefix(dl.Header.Get("Content-Disposition"), "attachment;") {
		t.Fatalf("download: %q", dl.Header.Get("Content-Disposition"))
	}
	code, err := codes.DecodeKind([]byte(dl.body), codes.KindAuthorization)
	d.must(err)
	if !strings.Contains(dv.body, typed(codes.KindAuthorization, code)) {
		t.Fatal("the file holds another code than the page")
	}

	h = d.historyLen()
	ext := url.Values{"csrf": {tok}, "product": {"site-1"}, "component": {"SN-1"}, "count": {"3"}, "step": {"review"}}
	b.post("/orgs/acme/subscriptions/extend", ext).want(t, 200, "Review the extension", "3 vms.camera.hw", "4, 1 of them preloaded", "Extend the component")
	if d.historyLen() != h {
		t.Fatal("the review of the extension changed something")
	}
	ext.Set("step", "do")
	b.post("/orgs/acme/subscriptions/extend", ext).want(t, 200, "Extended", "4 in all")
	b.post("/orgs/acme/subscriptions/deliver", url.Values{"csrf": {tok}, "product": {"site-1"}, "system": {udi}, "step": {"do"}}).
		want(t, 200, "serial 2", "4 vms.camera.hw on SN-1", "Enter a confirmation code")

	// A second system grows the demand by 25, beyond the allowance of
	// 100% of the 10 allocated: the page warns, the product still works.
	_, err = d.l.As(vera).RegisterSystem(ctx, "acme", "site-1", d.walletSystem("annex", 25, ""))
	d.must(err)
	b.get("/orgs/acme/subscriptions").want(t, 200, "over allowance until 2027-03-02", `<p class="warn" role="status">Over allowance: the demand of acme grew by 25`, "allowance of 10", "allocate 25 vms.camera.core more")
}

// TestSubscriptionRefusals: a viewer sees the page without its forms and
// is refused each change; another organization's administrator is
// refused; forms without the token are refused; bad numbers, tags and
// codes get 4xx with a clear message; nothing changes.
func TestSubscriptionRefusals(t *testing.T) {
	d, ab, atok := walletSubsDesk(t)
	desc := typed(codes.KindSystem, d.walletSystem("plant", 10, "SN-1"))
	before, free := d.historyLen(), d.walletFree(camera)
	changes := []struct {
		path string
		form url.Values
	}{
		{"/orgs/acme/subscriptions/start", url.Values{"product": {"site-1"}, "step": {"do"}}},
		{"/orgs/acme/subscriptions/start", url.Values{"product": {"site-1"}, "step": {"review"}}},
		{"/orgs/acme/subscriptions/allocate", url.Values{"product": {"site-1"}, "year": {"1"}, "count": {"1"}, "step": {"do"}}},
		{"/orgs/acme/subscriptions/extend", url.Values{"product": {"site-1"}, "component": {"SN-1"}, "count": {"1"}, "step": {"do"}}},
		{"/orgs/acme/subscriptions/register", url.Values{"product": {"site-1"}, "system": {desc}, "step": {"do"}}},
		{"/orgs/acme/subscriptions/deliver", url.Values{"product": {"site-1"}, "system": {"plant"}, "step": {"do"}}},
		{"/orgs/acme/subscriptions/download", url.Values{"product": {"site-1"}, "udi": {"x"}, "serial": {"1"}}},
	}
	with := func(f url.Values, tok string) url.Values {
		g := url.Values{"csrf": {tok}}
		for k, v := range f {
			g[k] = v
		}
		return g
	}
	vb, vtok := d.signedIn(vic)
	page := vb.get("/orgs/acme/subscriptions")
	page.want(t, 200, "Product site-1", "trial")
	if strings.Contains(page.body, "<form method=\"post\" action=\"/orgs/acme/subscriptions") {
		t.Fatal("a viewer sees a form of a change")
	}
	gb, gtok := d.signedIn(gus)
	gb.get("/orgs/acme/subscriptions").want(t, 403)
	for _, c := range changes {
		vb.post(c.path, with(c.form, vtok)).want(t, 403, "Not allowed")
		gb.post(c.path, with(c.form, gtok)).want(t, 403)
		ab.post(c.path, c.form).want(t, 403, "no valid security token")
	}
	if d.historyLen() != before {
		t.Fatal("a refused change changed the history")
	}
	// Vendor support starts the subscription from the page.
	sb, stok := d.signedIn(vera)
	sb.get("/orgs/acme/subscriptions").want(t, 200, "Review the start")
	sb.post("/orgs/acme/subscriptions/start", url.Values{"csrf": {stok}, "product": {"site-1"}, "step": {"do"}}).want(t, 200, "Subscription started")
	// Hostile input, as the administrator.
	before = d.historyLen()
	for _, tc := range []struct {
		path   string
		form   url.Values
		status int
		words  string
	}{
		{"/orgs/acme/subscriptions/allocate", url.Values{"product": {"site-1"}, "year": {"one"}, "count": {"1"}}, 400, "Year: &#34;one&#34; is not a whole number from 1 to"},
		{"/orgs/acme/subscriptions/allocate", url.Values{"product": {"site-1"}, "year": {"1"}, "count": {"-1"}}, 400, "Count: &#34;-1&#34; is not a whole number from 1 to"},
		{"/orgs/acme/subscriptions/allocate", url.Values{"product": {"site-1"}, "year": {"1"}, "count": {"99999999999999999999"}}, 400, "Count: &#34;99999999999999999999&#34; is not a whole number"},
		{"/orgs/acme/subscriptions/allocate", url.Values{"product": {"site-1"}, "year": {"99999"}, "count": {"1"}}, 400, "Year: &#34;99999&#34; is not a whole number from 1 to"},
		{"/orgs/acme/subscriptions/allocate", url.Values{"product": {"site-1"}, "year": {"9"}, "count": {"1"}, "tag": {camera}}, 400, "more than 5 years ahead"},
		{"/orgs/acme/subscriptions/allocate", url.Values{"product": {"site-1"}, "year": {"1"}, "count": {"1"}, "tag": {"a tag"}}, 400, "is not a license tag"},
		{"/orgs/acme/subscriptions/allocate", url.Values{"product": {"site-1"}, "year": {"1"}, "count": {"500"}, "tag": {camera}, "step": {"do"}}, 409, "480 short"},
		{"/orgs/acme/subscriptions/allocate", url.Values{"product": {"<b>x</b>"}, "year": {"1"}, "count": {"1"}, "tag": {camera}}, 400, "&lt;b&gt;x&lt;/b&gt;"},
		{"/orgs/acme/subscriptions/extend", url.Values{"product": {"site-1"}, "component": {"<i>SN</i>"}, "count": {"1"}}, 404, "&lt;i&gt;SN&lt;/i&gt;"},
		{"/orgs/acme/subscriptions/register", url.Values{"product": {"site-1"}, "system": {typed(codes.KindRequest, d.device("x", d.f.Authority).request(lic(camera, 1)))}}, 400, "Wrong kind of code"},
		{"/orgs/acme/subscriptions/register", url.Values{"product": {"site-1"}, "system": {"<script>"}}, 400, "Not a code"},
		{"/orgs/acme/subscriptions/deliver", url.Values{"product": {"site-1"}, "system": {"<b>nobody</b>"}}, 404, "&lt;b&gt;nobody&lt;/b&gt;"},
		{"/orgs/acme/subscriptions/start", url.Values{"product": {"site-1"}, "step": {"do"}}, 409, "started 2026-03-02"},
		{"/orgs/acme/subscriptions/download", url.Values{"product": {"site-1"}, "udi": {"x"}, "serial": {"zero"}}, 400, "Serial of the code: &#34;zero&#34; is not a whole number"},
		{"/orgs/acme/subscriptions/download", url.Values{"product": {"site-1"}, "udi": {"P:VMS,S:elsewhere"}, "serial": {"1"}}, 404, "has no system"},
	} {
		r := ab.post(tc.path, with(tc.form, atok))
		r.want(t, tc.status, tc.words)
		if strings.Contains(r.body, "<b>x") || strings.Contains(r.body, "<i>SN") || strings.Contains(r.body, "<b>nobody") {
			t.Fatalf("%s: markup not escaped", tc.path)
		}
	}
	if d.historyLen() != before || d.walletFree(camera) != free {
		t.Fatal("hostile input changed something")
	}
}

// svgOf returns the SVG elements of a page.
func svgOf(t *testing.T, body string) []string {
	t.Helper()
	out := regexp.MustCompile(`(?s)<svg .*?</svg>`).FindAllString(body, -1)
	if len(out) == 0 {
		t.Fatalf("no SVG in the page:\n%s", body)
	}
	return out
}

// TestSubscriptionTimelineIsWellFormedOrderedAndEscaped: the timeline is
// an SVG that an XML decoder reads whole, an image with a title and no
// style; its bars run in date order; today's line is drawn; a tag of
// markup in a lot's label is escaped inside it; the same dates are in
// the table.
func TestSubscriptionTimelineIsWellFormedOrderedAndEscaped(t *testing.T) {
	d, _, _ := walletSubsDesk(t)
	hostile := `vms.<script>alert("x")</script>&amp;`
	k := d.walletKey("vms", hostile, 2, 1)
	_, err := d.l.As(vera).StartSubscription(ctx, "acme", "site-1", false)
	d.must(err)
	d.clk.add(40 * 24 * 3600e9) // the last lot enters later
	_, err = d.l.As(vera).Redeem(ctx, "acme", "site-1", k)
	d.must(err)
	_, err = d.l.As(vera).Allocate(ctx, "acme", "site-1", 2, camera, 2, false)
	d.must(err)

	b, _ := d.signedIn(ann) // the session of before the clock moved has ended
	page := b.get("/orgs/acme/subscriptions")
	page.want(t, 200, "today 2026-04-11", "Dates of the timeline of acme/site-1", `<p class="warn" role="status">Expired since 2026-04-01`)
	if strings.Contains(page.body, "<script>alert") {
		t.Fatal("a tag of markup was not escaped")
	}
	svg := svgOf(t, page.body)[0]
	for _, s := range []string{`role="img"`, `aria-labelledby="timeline-site-1-title timeline-site-1-desc"`, `<title id="timeline-site-1-title">Timeline of acme/site-1</title>`, `stroke="#b42318"`} {
		if !strings.Contains(svg, s) {
			t.Fatalf("the SVG lacks %s:\n%s", s, svg)
		}
	}
	if strings.Contains(svg, "style=") || strings.Contains(svg, "<script") {
		t.Fatalf("the SVG has style or script:\n%s", svg)
	}
	// Well-formed: the decoder reads every token to the end; collect the
	// titles of the bars (not of the grace periods) in document order.
	dec := xml.NewDecoder(strings.NewReader(svg))
	dec.Strict = true
	var titles []string
	var stack []string
	sawHostile := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed XML: %v\n%s", err, svg)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			stack = append(stack, e.Name.Local)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			s := string(e)
			if strings.Contains(s, hostile) {
				sawHostile = true
			}
			if len(stack) >= 2 && stack[len(stack)-1] == "title" && stack[len(stack)-2] == "rect" && !strings.HasPrefix(s, "Grace period") {
				titles = append(titles, s)
			}
		}
	}
	if !sawHostile {
		t.Fatal("the hostile tag does not read back as itself from the SVG")
	}
	dateRE := regexp.MustCompile(`: (\d{4}-\d{2}-\d{2}) to (\d{4}-\d{2}-\d{2})`)
	var starts []string
	for _, s := range titles {
		m := dateRE.FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("bar title without dates: %q", s)
		}
		starts = append(starts, m[1])
	}
	// Two lots and year 1 from the start, the last lot, year 2.
	if len(starts) != 5 {
		t.Fatalf("%d bars: %q", len(starts), titles)
	}
	for i := 1; i < len(starts); i++ {
		if starts[i] < starts[i-1] {
			t.Fatalf("bars out of date order: %q", titles)
		}
	}
	for _, s := range []string{"Year 1: 2026-03-02 to 2027-03-02", "Year 2: 2027-03-02 to 2028-03-02", "2026-04-11 to 2031-04-11"} {
		if !strings.Contains(svg, s) {
			t.Fatalf("the SVG lacks %q", s)
		}
	}
	// The table says the same.
	page.want(t, 200, `<th scope="row">Year 1</th><td>year</td><td>2026-03-02</td><td>2027-03-02</td><td>2026-04-01</td>`)
}
