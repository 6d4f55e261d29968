package web_test

import (
	"crypto/sha256"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/formats/groups"
)

// pat is a person of the OEM and channel partner Contoso.
const pat = "pat@partner.example"

// regDesk is a desk with pat, a person of partner Contoso, who may sign
// in.
func regDesk(t *testing.T) *desk {
	t.Helper()
	d := newDesk(t)
	v := d.l.As(vera)
	_, err := v.AddPerson(ctx, authority.Person{Email: pat, Name: "Pat", Role: authority.RolePartner, Partner: "Contoso"})
	d.must(err)
	d.must(v.SetPassword(ctx, pat, password, cheap))
	return d
}

var regIssuedRE = regexp.MustCompile(`id="issued"[^>]*>([^<]+)</textarea>`)

// regIssued returns the typed id a page shows once.
func regIssued(t *testing.T, r *resp) string {
	t.Helper()
	m := regIssuedRE.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no typed id on the page:\n%s", r.body)
	}
	return m[1]
}

// regSerial issues a serial number of n cameras as the vendor, in the
// library.
func (d *desk) regSerial(n int64) string {
	d.t.Helper()
	sn, err := d.l.As(vera).IssueSerial(ctx, authority.SerialSpec{Software: "vms", Tag: camera, Count: n})
	d.must(err)
	return sn
}

// regRegister registers a serial of n cameras to org as the vendor and
// returns the key's id.
func (d *desk) regRegister(org string, n int64) string {
	d.t.Helper()
	r, err := d.l.As(vera).Register(ctx, authority.RegisterSpec{Serial: d.regSerial(n), Org: org, Contact: "Ops", Email: "ops@" + org + ".example"}, false)
	d.must(err)
	return r.Record.KeyID()
}

// regRefused posts each form and checks it is refused with status and
// changes nothing: neither the history nor a balance.
func regRefused(t *testing.T, d *desk, b *browser, status int, posts map[string]url.Values) {
	t.Helper()
	before := d.historyLen()
	balances := [3][4]int64{d.balance("acme/plant", camera), d.balance("acme/plant", analytics), d.balance("globex/hq", camera)}
	defer func() {
		if got := [3][4]int64{d.balance("acme/plant", camera), d.balance("acme/plant", analytics), d.balance("globex/hq", camera)}; got != balances {
			t.Fatalf("refused forms changed balances: %v, want %v", got, balances)
		}
	}()
	for path, form := range posts {
		r := b.post(path, form)
		if r.StatusCode != status {
			t.Errorf("POST %s: status %d, want %d\n%s", path, r.StatusCode, status, r.body)
		}
	}
	if got := d.historyLen(); got != before {
		t.Fatalf("refused forms changed the history: %d events, want %d", got, before)
	}
}

// TestSerialsRegisterShowsTheKeyOnce: vendor support issues a serial
// number from the page; the administrator reviews its registration
// (nothing done), registers it and sees the license key once, labels the
// license with a field and filters by it; markup is escaped.
func TestSerialsRegisterShowsTheKeyOnce(t *testing.T) {
	d := regDesk(t)
	vb, vtok := d.signedIn(vera)
	vb.get("/orgs/acme/serials").want(t, 200, "Issue a serial number (vendor support)", "No license is registered to acme yet.")
	r := vb.post("/orgs/acme/serials/issue", url.Values{"csrf": {vtok}, "product": {"vms"}, "tag": {camera}, "count": {"10"}, "support_until": {"2027-12-31"}})
	r.want(t, 200, "Serial number issued", "10 vms.camera.core × 1 year of vms, support until 2027-12-31", "shown once")
	sn := regIssued(t, r)
	if !strings.HasPrefix(sn, "SN-") {
		t.Fatalf("serial %q", sn)
	}

	b, tok := d.signedIn(ann)
	page := b.get("/orgs/acme/serials")
	page.want(t, 200, "Register a serial number", `name="serial"`, `name="contact"`, `name="email"`)
	if strings.Contains(page.body, "Issue a serial number") {
		t.Fatal("an administrator is offered issuing serial numbers")
	}
	form := url.Values{"csrf": {tok}, "serial": {sn}, "contact": {hostileName}, "email": {ann}, "company": {"ACME Corp"}}
	before := d.historyLen()
	r = b.post("/orgs/acme/serials/review", form)
	r.want(t, 200, "Review the registration", "10 vms.camera.core × 1 year of vms", "2027-12-31", "&lt;script&gt;", "Register and show the license key")
	if strings.Contains(r.body, hostileName) {
		t.Fatal("markup not escaped")
	}
	if d.historyLen() != before {
		t.Fatal("the review changed the ledger")
	}
	r = b.post("/orgs/acme/serials/register", form)
	r.want(t, 200, "Registered", "shown once")
	key := regIssued(t, r)
	kb, err := authority.ParseKey(key)
	d.must(err)
	id := authority.KeyID(authority.KeyHash(kb))
	r.want(t, 200, id)
	// Registering it again is refused, naming acme to acme.
	b.post("/orgs/acme/serials/review", form).want(t, http.StatusConflict, "registered to &#34;acme&#34;")

	r = b.post("/orgs/acme/serials/field", url.Values{"csrf": {tok}, "key": {id}, "name": {"site"}, "value": {"<b>plant-4</b>"}})
	r.wantRedirect(t, "/orgs/acme/serials?done=field")
	b.get("/orgs/acme/serials?done=field").want(t, 200, "The field was set.", "site=&lt;b&gt;plant-4&lt;/b&gt;", id)
	b.get("/orgs/acme/serials?field="+url.QueryEscape("site=<b>plant-4</b>")).want(t, 200, id)
	// A value with spaces, set and filtered on.
	b.post("/orgs/acme/serials/field", url.Values{"csrf": {tok}, "key": {id}, "name": {"room"}, "value": {"hall 4 east"}}).wantRedirect(t, "/orgs/acme/serials?done=field")
	b.get("/orgs/acme/serials?field="+url.QueryEscape("room=hall 4 east site=<b>plant-4</b>")).want(t, 200, "<code>"+id)
	if r := b.get("/orgs/acme/serials?field=" + url.QueryEscape("room=hall 4")); strings.Contains(r.body, "<code>"+id) {
		t.Fatal("the filter matched part of a value")
	}
	b.get("/orgs/acme/serials?field="+url.QueryEscape("room= site=x")).want(t, 400, "has no value")
	if r := b.get("/orgs/acme/serials?field=site%3Dnowhere"); strings.Contains(r.body, "<code>"+id) {
		t.Fatal("the filter kept a license without the field")
	} else {
		r.want(t, 200, "No license has these fields.")
	}
	b.post("/orgs/acme/serials/field", url.Values{"csrf": {tok}, "key": {id}, "name": {"site"}, "value": {""}}).wantRedirect(t, "/orgs/acme/serials?done=unset")

	// Hostile and wrong input: refused with a clear message, nothing done.
	before = d.historyLen()
	for _, tc := range []struct {
		path   string
		form   url.Values
		status int
		words  string
	}{
		{"/orgs/acme/serials/review", url.Values{"serial": {"garbage"}, "contact": {"A"}, "email": {ann}}, 400, "typo in group 1"},
		{"/orgs/acme/serials/review", url.Values{"serial": {""}, "contact": {"A"}, "email": {ann}}, 400, "serial number is empty"},
		{"/orgs/acme/serials/review", url.Values{"serial": {groups.Encode("SN", make([]byte, 10))}, "contact": {"A"}, "email": {ann}}, 404, "never issued"},
		{"/orgs/acme/serials/review", url.Values{"serial": {key}, "contact": {"A"}, "email": {ann}}, 400, "starts with &#34;LK&#34;"},
		{"/orgs/acme/serials/review", url.Values{"serial": {strings.Repeat("SN-", 5000)}, "contact": {"A"}, "email": {ann}}, 400, "not a serial number"},
		{"/orgs/acme/serials/review", url.Values{"serial": {d.regSerial(1)}, "contact": {"A"}, "email": {"not an address"}}, 400, "not an e-mail address"},
		{"/orgs/acme/serials/field", url.Values{"key": {"0123456789abcdef"}, "name": {"site"}, "value": {"x"}}, 404, "no registered license"},
		{"/orgs/acme/serials/field", url.Values{"key": {id}, "name": {"a b"}, "value": {"x"}}, 400, "has &#39;=&#39; or a space"},
		{"/orgs/acme/serials/field", url.Values{"key": {id}, "name": {"site"}, "value": {strings.Repeat("x", 300)}}, 400, "over 256 bytes"},
		{"/orgs/acme/serials/issue", url.Values{"product": {"vms"}, "tag": {camera}, "count": {"10"}}, 403, "not the vendor"},
	} {
		tc.form.Set("csrf", tok)
		b.post(tc.path, tc.form).want(t, tc.status, tc.words)
	}
	for _, count := range []string{"", "ten", "-1", "0", "99999999999999999999"} {
		vb.post("/orgs/acme/serials/issue", url.Values{"csrf": {vtok}, "product": {"vms"}, "tag": {camera}, "count": {count}}).want(t, 400, "Count")
	}
	vb.post("/orgs/acme/serials/issue", url.Values{"csrf": {vtok}, "product": {"vms"}, "tag": {camera}, "count": {"1"}, "support_until": {"31/12/2027"}}).want(t, 400, "not a date")
	b.get("/orgs/acme/serials?field=nonsense").want(t, 400, "not name=value")
	b.get("/orgs/acme/serials?field="+strings.Repeat("a=b+", 20)).want(t, 400, "at most 8")
	if d.historyLen() != before+1 { // the one serial number issued for a case
		t.Fatalf("refusals changed the history: %d events, want %d", d.historyLen(), before+1)
	}

	// A viewer reads and is refused every change.
	vc, vctok := d.signedIn(vic)
	page = vc.get("/orgs/acme/serials")
	page.want(t, 200, id)
	if strings.Contains(page.body, "Register a serial number") || strings.Contains(page.body, "Set a custom field") {
		t.Fatal("a viewer is offered changes")
	}
	regRefused(t, d, vc, http.StatusForbidden, map[string]url.Values{
		"/orgs/acme/serials/review":   {"csrf": {vctok}, "serial": {d.regSerial(1)}, "contact": {"Vic"}, "email": {vic}},
		"/orgs/acme/serials/register": {"csrf": {vctok}, "serial": {d.regSerial(1)}, "contact": {"Vic"}, "email": {vic}},
		"/orgs/acme/serials/field":    {"csrf": {vctok}, "key": {id}, "name": {"site"}, "value": {"x"}},
		"/orgs/acme/serials/issue":    {"csrf": {vctok}, "product": {"vms"}, "tag": {camera}, "count": {"1"}},
	})
}

// TestRegisteredPagesRefuseAnotherOrganization: an administrator of
// globex is refused every page and form of acme; a key of globex is
// refused on acme's pages in the words of an unknown key, for the
// vendor's staff too; a form without the token is refused; nothing
// changes.
func TestRegisteredPagesRefuseAnotherOrganization(t *testing.T) {
	d := regDesk(t)
	acmeKey, globexKey := d.regRegister("acme", 2), d.regRegister("globex", 2)
	g, gtok := d.signedIn(gus)
	for _, p := range []string{"serials", "upgrades", "vouchers", "sharing", "delegation", "downloads", "agreements", "agreements/ela"} {
		g.get("/orgs/acme/"+p).want(t, http.StatusForbidden, "Not allowed")
		g.get("/orgs/initech/"+p).want(t, http.StatusForbidden, "Not allowed")
	}
	posts := map[string]url.Values{}
	for _, p := range []string{"serials/review", "serials/register", "serials/field", "serials/issue", "upgrades/review", "upgrades/redeem",
		"upgrades/issue", "vouchers/issue", "vouchers/review", "vouchers/convert", "sharing", "delegation", "downloads/manifest",
		"agreements/review", "agreements/draw", "agreements/create"} {
		posts["/orgs/acme/"+p] = url.Values{"csrf": {gtok}, "key": {acmeKey}, "name": {"site"}, "value": {"x"}, "email": {gus}, "role": {"manager"},
			"partner": {"Contoso"}, "action": {"delegate"}, "count": {"1"}, "quantity": {"1"}}
	}
	regRefused(t, d, g, http.StatusForbidden, posts)

	for _, who := range []string{ann, vera} {
		b, tok := d.signedIn(who)
		before := d.historyLen()
		other := b.post("/orgs/acme/serials/field", url.Values{"csrf": {tok}, "key": {globexKey}, "name": {"site"}, "value": {"x"}})
		unknown := b.post("/orgs/acme/serials/field", url.Values{"csrf": {tok}, "key": {"0123456789abcdef"}, "name": {"site"}, "value": {"x"}})
		other.want(t, http.StatusNotFound)
		if strings.ReplaceAll(other.body, globexKey, "K") != strings.ReplaceAll(unknown.body, "0123456789abcdef", "K") {
			t.Fatalf("%s: another organization's key is refused in other words:\n%s\n%s", who, other.body, unknown.body)
		}
		b.post("/orgs/acme/sharing", url.Values{"csrf": {tok}, "key": {globexKey}, "email": {ann}, "role": {"viewer"}}).want(t, http.StatusNotFound)
		if d.historyLen() != before {
			t.Fatal("a refusal changed the ledger")
		}
		// Without the token: refused, nothing done.
		regRefused(t, d, b, http.StatusForbidden, map[string]url.Values{
			"/orgs/acme/serials/field": {"key": {acmeKey}, "name": {"site"}, "value": {"x"}},
			"/orgs/acme/sharing":       {"key": {acmeKey}, "email": {vic}, "role": {"viewer"}},
			"/orgs/acme/delegation":    {"partner": {"Contoso"}, "action": {"delegate"}},
			"/partner/vouchers/review": {"voucher": {"VC-x"}, "org": {"acme"}},
		})
	}
}

// TestUpgradesRedeemWithReview: vendor support issues an upgrade
// notification; the administrator reviews (nothing done) and redeems it,
// and gets the new key once; a viewer is refused; wrong input is refused.
func TestUpgradesRedeemWithReview(t *testing.T) {
	d := regDesk(t)
	d.regRegister("acme", 6)
	vb, vtok := d.signedIn(vera)
	vb.get("/orgs/acme/upgrades").want(t, 200, "Issue an upgrade notification (vendor support)")
	r := vb.post("/orgs/acme/upgrades/issue", url.Values{"csrf": {vtok}, "from": {"vms:" + camera}, "to": {"vms-pro:vmspro.camera"}, "quantity": {"5"}, "only_org": {"1"}})
	r.want(t, 200, "Upgrade notification issued", "only acme may redeem it")
	un := regIssued(t, r)
	vb.post("/orgs/acme/upgrades/issue", url.Values{"csrf": {vtok}, "from": {"vms"}, "to": {"vms-pro:vmspro.camera"}, "quantity": {"5"}}).want(t, 400, "not SOFTWARE:TAG")

	b, tok := d.signedIn(ann)
	page := b.get("/orgs/acme/upgrades")
	page.want(t, 200, "Redeem an upgrade notification", `name="notification"`, `name="quantity"`)
	if strings.Contains(page.body, "Issue an upgrade notification") {
		t.Fatal("an administrator is offered issuing notifications")
	}
	form := url.Values{"csrf": {tok}, "notification": {un}, "product": {"vms"}, "quantity": {"4"}, "support_contact": {"Help Desk"}}
	before := d.historyLen()
	b.post("/orgs/acme/upgrades/review", form).want(t, 200, "Review the upgrade", "vmspro.camera of vms-pro", "Upgrade and show the new license key", "Help Desk")
	if d.historyLen() != before {
		t.Fatal("the review changed the ledger")
	}
	r = b.post("/orgs/acme/upgrades/redeem", form)
	r.want(t, 200, "Upgraded", "4 vmspro.camera × 1 year of vms-pro")
	if !strings.HasPrefix(regIssued(t, r), "LK-") {
		t.Fatal("no license key")
	}
	for _, tc := range []struct {
		form   url.Values
		status int
		words  string
	}{
		{url.Values{"notification": {un}, "product": {"vms"}, "quantity": {"2"}}, http.StatusConflict, "1 of 5 licenses left"},
		{url.Values{"notification": {un}, "product": {"other"}, "quantity": {"1"}}, 400, "upgrades &#34;vms&#34;, not &#34;other&#34;"},
		{url.Values{"notification": {un}, "product": {"vms"}, "quantity": {"many"}}, 400, "Quantity"},
		{url.Values{"notification": {d.regSerial(1)}, "product": {"vms"}, "quantity": {"1"}}, 400, "a notification id starts with UN"},
	} {
		tc.form.Set("csrf", tok)
		b.post("/orgs/acme/upgrades/review", tc.form).want(t, tc.status, tc.words)
	}
	vc, vctok := d.signedIn(vic)
	if strings.Contains(vc.get("/orgs/acme/upgrades").body, `name="notification"`) {
		t.Fatal("a viewer is offered redeeming")
	}
	form.Set("csrf", vctok)
	regRefused(t, d, vc, http.StatusForbidden, map[string]url.Values{
		"/orgs/acme/upgrades/review": form,
		"/orgs/acme/upgrades/redeem": form,
		"/orgs/acme/upgrades/issue":  {"csrf": {vctok}, "from": {"vms:" + camera}, "to": {"vms-pro:vmspro.camera"}, "quantity": {"5"}},
	})
}

// TestVouchersIssueAndConvert: vendor support issues a voucher to the
// OEM; a person of the OEM, whom the customer never delegated to,
// converts it for acme from the partner's page (reviewed first) and sees
// the key once and then in what the partner has to deliver; the
// customer's people see no voucher and convert none.
func TestVouchersIssueAndConvert(t *testing.T) {
	d := regDesk(t)
	vb, vtok := d.signedIn(vera)
	r := vb.post("/orgs/acme/vouchers/issue", url.Values{"csrf": {vtok}, "oem": {"Contoso"}, "product": {"vms"}, "tag": {camera}, "count": {"5"}})
	r.want(t, 200, "Voucher issued", "5 vms.camera.core × 1 year of &#34;vms&#34;, for OEM partner Contoso")
	vc := regIssued(t, r)
	vb.post("/orgs/acme/vouchers/issue", url.Values{"csrf": {vtok}, "oem": {"Nobody"}, "product": {"vms"}, "tag": {camera}, "count": {"5"}}).want(t, 404, "nobody acts for partner")
	vb.get("/orgs/acme/vouchers?partner=Contoso").want(t, 200, "Vouchers of OEM partner Contoso", "not yet")

	p, ptok := d.signedIn(pat)
	p.get("/orgs/acme/vouchers").want(t, http.StatusForbidden)
	page := p.get("/partner/vouchers")
	page.want(t, 200, "Convert a voucher for an end customer", `name="org"`, "Vouchers of OEM partner Contoso")
	form := url.Values{"csrf": {ptok}, "voucher": {vc}, "org": {"acme"}, "contact": {"Ann"}, "email": {ann}}
	before := d.historyLen()
	p.post("/partner/vouchers/review", form).want(t, 200, "Review the conversion", "5 vms.camera.core × 1 year of vms", "Convert and show the license key")
	if d.historyLen() != before {
		t.Fatal("the review changed the ledger")
	}
	p.post("/partner/vouchers/review", url.Values{"csrf": {ptok}, "voucher": {d.regSerial(1)}, "org": {"acme"}}).want(t, 400, "a voucher code starts with VC")
	for _, org := range []string{"initech", "<b>x</b>"} {
		bad := url.Values{"csrf": {ptok}, "voucher": {vc}, "org": {org}}
		p.post("/partner/vouchers/review", bad).want(t, pickStatus(org))
	}
	r = p.post("/partner/vouchers/convert", form)
	r.want(t, 200, "Voucher converted", "Ann &lt;ann@acme.example&gt;")
	key := regIssued(t, r)
	kb, err := authority.ParseKey(key)
	d.must(err)
	id := authority.KeyID(authority.KeyHash(kb))
	p.get("/partner/vouchers").want(t, 200, id, "for acme by pat@partner.example")
	p.post("/partner/vouchers/review", form).want(t, http.StatusConflict, "converted")

	// The customer's administrator sees the key among its licenses, no
	// voucher, and converts none.
	b, tok := d.signedIn(ann)
	b.get("/orgs/acme/serials").want(t, 200, id)
	page = b.get("/orgs/acme/vouchers")
	page.want(t, 200, "a customer's people see none")
	if strings.Contains(page.body, `name="voucher"`) {
		t.Fatal("a customer is offered converting")
	}
	regRefused(t, d, b, http.StatusForbidden, map[string]url.Values{
		"/orgs/acme/vouchers/review":  {"csrf": {tok}, "voucher": {vc}},
		"/partner/vouchers/review":    {"csrf": {tok}, "voucher": {vc}, "org": {"acme"}},
		"/orgs/acme/vouchers/issue":   {"csrf": {tok}, "oem": {"Contoso"}, "product": {"vms"}, "tag": {camera}, "count": {"5"}},
		"/orgs/acme/vouchers/convert": {"csrf": {tok}, "voucher": {vc}},
	})
	b.get("/partner/vouchers?partner=Contoso").want(t, http.StatusForbidden)
}

// pickStatus is the status of a conversion for an organization a partner
// may not name: refused without saying whether it exists (403), or a
// name no organization may have (400).
func pickStatus(org string) int {
	if strings.Contains(org, "<") {
		return http.StatusBadRequest
	}
	return http.StatusForbidden
}

// TestSharingAndDelegation: the administrator shares a license with the
// viewer as manager (who may then set its fields), delegates acme to a
// partner, whose person then opens acme's pages, and revokes it; a viewer
// and a partner are refused delegating.
func TestSharingAndDelegation(t *testing.T) {
	d := regDesk(t)
	id, other := d.regRegister("acme", 3), d.regRegister("acme", 1)
	b, tok := d.signedIn(ann)
	b.get("/orgs/acme/sharing").want(t, 200, id, "nobody", "Share the license")
	b.post("/orgs/acme/sharing", url.Values{"csrf": {tok}, "key": {id}, "email": {vic}, "role": {"manager"}}).wantRedirect(t, "/orgs/acme/sharing?done=shared")
	b.get("/orgs/acme/sharing?done=shared").want(t, 200, "The license is shared.", "vic@acme.example as manager")
	for _, tc := range []struct {
		form   url.Values
		status int
		words  string
	}{
		{url.Values{"key": {id}, "email": {gus}, "role": {"viewer"}}, 404, "no contact of"},
		{url.Values{"key": {id}, "email": {vic}, "role": {"owner"}}, 400, "want viewer or manager"},
		{url.Values{"key": {id}, "email": {"<x>"}, "role": {"viewer"}}, 400, "not an e-mail address"},
	} {
		tc.form.Set("csrf", tok)
		b.post("/orgs/acme/sharing", tc.form).want(t, tc.status, tc.words)
	}
	vc, vctok := d.signedIn(vic)
	if page := vc.get("/orgs/acme/sharing"); strings.Count(page.body, "<option value=\""+other) != 0 {
		t.Fatal("a viewer is offered sharing a license not shared with them")
	} else {
		page.want(t, 200, "Share a license", `<option value="`+id)
	}
	vc.get("/orgs/acme/serials").want(t, 200, "Set a custom field")
	vc.post("/orgs/acme/serials/field", url.Values{"csrf": {vctok}, "key": {id}, "name": {"owner"}, "value": {"vic"}}).wantRedirect(t, "/orgs/acme/serials?done=field")

	b.get("/orgs/acme/delegation").want(t, 200, "acme never delegated", "Delegate to a partner")
	b.post("/orgs/acme/delegation", url.Values{"csrf": {tok}, "partner": {"Contoso"}, "action": {"delegate"}}).wantRedirect(t, "/orgs/acme/delegation?done=delegated")
	b.get("/orgs/acme/delegation").want(t, 200, "Contoso", "in force", "Revoke the delegation to Contoso")
	b.post("/orgs/acme/delegation", url.Values{"csrf": {tok}, "partner": {"Contoso"}, "action": {"delegate"}}).want(t, http.StatusConflict, "delegated to partner")
	b.post("/orgs/acme/delegation", url.Values{"csrf": {tok}, "partner": {"Contoso"}, "action": {"steal"}}).want(t, 400, "want delegate or revoke")
	b.post("/orgs/acme/delegation", url.Values{"csrf": {tok}, "partner": {strings.Repeat("x", 200)}, "action": {"delegate"}}).want(t, 400)

	p, ptok := d.signedIn(pat)
	p.get("/orgs/acme/vouchers").want(t, 200, "Convert a voucher")
	if page := p.get("/orgs/acme/delegation"); strings.Contains(page.body, "Delegate to a partner") || strings.Contains(page.body, "Revoke the delegation") {
		t.Fatal("a partner is offered delegating")
	} else {
		page.want(t, 200, "Contoso", "in force")
	}
	regRefused(t, d, p, http.StatusForbidden, map[string]url.Values{
		"/orgs/acme/delegation": {"csrf": {ptok}, "partner": {"Contoso"}, "action": {"revoke"}},
	})
	regRefused(t, d, vc, http.StatusForbidden, map[string]url.Values{
		"/orgs/acme/delegation": {"csrf": {vctok}, "partner": {"Contoso"}, "action": {"revoke"}},
	})
	if strings.Contains(vc.get("/orgs/acme/delegation").body, "Delegate to a partner") {
		t.Fatal("a viewer is offered delegating")
	}
	b.post("/orgs/acme/delegation", url.Values{"csrf": {tok}, "partner": {"Contoso"}, "action": {"revoke"}}).wantRedirect(t, "/orgs/acme/delegation?done=revoked")
	b.get("/orgs/acme/delegation").want(t, 200, "revoked 2026-03-02 by ann@acme.example")
	p.get("/orgs/acme/delegation").want(t, http.StatusForbidden)
}

// TestDownloadsSignTheManifest: the organization's entitled release files
// are listed, and the manifest downloads as an armored file that opens
// with the authority's key and lists them; bad days are refused.
func TestDownloadsSignTheManifest(t *testing.T) {
	d := regDesk(t)
	b, tok := d.signedIn(ann)
	b.get("/orgs/acme/downloads").want(t, 200, "entitled to no release file")
	b.post("/orgs/acme/downloads/manifest", url.Values{"csrf": {tok}}).want(t, http.StatusNotFound, "has no product")
	v := d.l.As(vera)
	_, err := v.AddProduct(ctx, "acme", "site-1", "vms")
	d.must(err)
	sum := sha256.Sum256([]byte("server"))
	_, err = v.AddRelease(ctx, "vms-server", "4.2.0", "vms-server-4.2.0.tar.gz", sum[:], 6, []string{"vms"})
	d.must(err)
	_, err = v.AddRelease(ctx, "other", "1.0", "other.tar.gz", sum[:], 6, []string{"other"})
	d.must(err)
	page := b.get("/orgs/acme/downloads")
	page.want(t, 200, "vms-server-4.2.0.tar.gz", "Sign and download the manifest", `name="valid_days"`)
	if strings.Contains(page.body, "other.tar.gz") {
		t.Fatal("a file acme is not entitled to is listed")
	}
	before := d.historyLen()
	r := b.post("/orgs/acme/downloads/manifest", url.Values{"csrf": {tok}, "valid_days": {"30"}})
	r.want(t, 200)
	if cd := r.Header.Get("Content-Disposition"); cd != `attachment; filename="acme.manifest.airlock"` {
		t.Fatalf("Content-Disposition %q", cd)
	}
	code, err := codes.DecodeKind([]byte(r.body), codes.KindManifest)
	d.must(err)
	m, err := codes.OpenManifest(code, d.f.Trust)
	d.must(err)
	if m.Org != "acme" || len(m.Files) != 1 || m.Files[0].Name != "vms-server-4.2.0.tar.gz" || m.Expires != t0.Add(30*24*time.Hour).Unix() {
		t.Fatalf("manifest %+v", m)
	}
	if d.historyLen() != before+1 {
		t.Fatal("the manifest is not in the history")
	}
	for _, days := range []string{"0", "3661", "thirty", "1e3"} {
		b.post("/orgs/acme/downloads/manifest", url.Values{"csrf": {tok}, "valid_days": {days}}).want(t, 400, "Valid for days")
	}
	// A viewer reads the organization, so it may download its manifest.
	vc, vctok := d.signedIn(vic)
	vc.post("/orgs/acme/downloads/manifest", url.Values{"csrf": {vctok}}).want(t, 200)
}

// TestAgreementsDrawWithinTheCap: vendor support makes an agreement from
// the page; the administrator reviews a draw and draws, sees the key once
// and the draw in the report; a draw past the cap is warned of and
// refused; a viewer is refused.
func TestAgreementsDrawWithinTheCap(t *testing.T) {
	d := regDesk(t)
	vb, vtok := d.signedIn(vera)
	vb.get("/orgs/acme/agreements").want(t, 200, "acme has no agreement.", "Make an agreement (vendor support)")
	r := vb.post("/orgs/acme/agreements/create", url.Values{"csrf": {vtok}, "name": {"ela-2026"}, "from": {"2026-01-01"}, "to": {"2027-01-01"}, "caps": {"vms:" + camera + "=20\nvms:" + analytics + "=5"}})
	r.wantRedirect(t, "/orgs/acme/agreements/ela-2026")
	vb.post("/orgs/acme/agreements/create", url.Values{"csrf": {vtok}, "name": {"x"}, "from": {"2026-01-01"}, "to": {"2027-01-01"}, "caps": {"vms=20"}}).want(t, 400, "not of the form")

	b, tok := d.signedIn(ann)
	b.get("/orgs/acme/agreements").want(t, 200, "Agreement ela-2026", "2026-01-01..2026-12-31", "in force", "Draw licenses")
	form := url.Values{"csrf": {tok}, "agreement": {"ela-2026"}, "tag": {camera}, "count": {"8"}}
	before := d.historyLen()
	rv := b.post("/orgs/acme/agreements/review", form)
	rv.want(t, 200, "Review the draw", "20 of 20", "Draw and show the license key")
	if !onceRE.MatchString(rv.body) {
		t.Fatal("the draw form carries no one-time mark")
	}
	if d.historyLen() != before {
		t.Fatal("the review changed the ledger")
	}
	r = b.post("/orgs/acme/agreements/draw", form)
	r.want(t, 200, "12 of 20 vms.camera.core left")
	key := regIssued(t, r)
	kb, err := authority.ParseKey(key)
	d.must(err)
	b.get("/orgs/acme/agreements/ela-2026").want(t, 200, authority.KeyID(authority.KeyHash(kb)), "8 of 20 drawn", "ann@acme.example")
	form.Set("count", "13")
	over := b.post("/orgs/acme/agreements/review", form)
	over.want(t, 200, "12 vms.camera.core left: draw that many at most")
	if strings.Contains(over.body, "agreements/draw") {
		t.Fatal("a draw the review says will be refused is offered")
	}
	b.post("/orgs/acme/agreements/draw", form).want(t, http.StatusConflict, "12 left")
	b.post("/orgs/acme/agreements/review", url.Values{"csrf": {tok}, "agreement": {"nope"}, "tag": {camera}, "count": {"1"}}).want(t, 404, "no agreement")
	b.post("/orgs/acme/agreements/review", url.Values{"csrf": {tok}, "agreement": {"ela-2026"}, "tag": {"vms.io"}, "count": {"1"}}).want(t, 404, "caps no")
	b.get("/orgs/acme/agreements/nope").want(t, 404)

	vc, vctok := d.signedIn(vic)
	vc.get("/orgs/acme/agreements/ela-2026").want(t, 200, "8 of 20 drawn")
	form.Set("csrf", vctok)
	form.Set("count", "1")
	regRefused(t, d, vc, http.StatusForbidden, map[string]url.Values{
		"/orgs/acme/agreements/review": form,
		"/orgs/acme/agreements/draw":   form,
		"/orgs/acme/agreements/create": {"csrf": {vctok}, "name": {"x"}, "from": {"2026-01-01"}, "to": {"2027-01-01"}, "caps": {"vms:" + camera + "=20"}},
	})
	b.post("/orgs/acme/agreements/create", url.Values{"csrf": {tok}, "name": {"x"}, "from": {"2026-01-01"}, "to": {"2027-01-01"}, "caps": {"vms:" + camera + "=20"}}).want(t, http.StatusForbidden, "not the vendor")
}
