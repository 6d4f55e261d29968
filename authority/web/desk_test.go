package web_test

import (
	"database/sql"
	"encoding/hex"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/authority"
)

// deskPosts are the desk's forms, each with a valid body but its token.
var deskPosts = []struct {
	path string
	form url.Values
}{
	{"/desk/orgs", url.Values{"org": {"initech"}}},
	{"/desk/accounts", url.Values{"org": {"acme"}, "name": {"spare"}, "limit": {"3"}}},
	{"/desk/accounts/limit", url.Values{"account": {"acme/plant"}, "limit": {"9"}}},
	{"/desk/accounts/export", url.Values{"account": {"acme/plant"}, "export": {"deny"}}},
	{"/desk/lots/review", url.Values{"account": {"acme/lab"}, "tag": {camera}, "count": {"5"}, "kind": {"perpetual"}}},
	{"/desk/lots", url.Values{"account": {"acme/lab"}, "tag": {camera}, "count": {"5"}, "kind": {"perpetual"}}},
	{"/desk/people", url.Values{"email": {"dan@acme.example"}, "name": {"Dan"}, "role": {"admin"}, "org": {"acme"}}},
	{"/desk/people/password", url.Values{"email": {ann}, "password": {"a brand new passphrase"}, "again": {"a brand new passphrase"}}},
	{"/desk/keys", url.Values{"software": {"vms"}, "kind": {"key"}, "tag": {camera}, "count": {"10"}, "years": {"3"}, "keys": {"1"}}},
	{"/desk/verify", url.Values{}},
}

var deskPages = []string{"/desk", "/desk/accounts", "/desk/lots", "/desk/lots/added?account=acme/plant&lot=1", "/desk/people", "/desk/keys", "/desk/verify"}

// deskWith returns the form with the token added.
func deskWith(form url.Values, tok string) url.Values {
	f := url.Values{"csrf": {tok}}
	for k, v := range form {
		f[k] = v
	}
	return f
}

// deskState is what a refused desk request must leave as it was.
func deskState(d *desk) [3]any {
	return [3]any{d.historyLen(), d.balance("acme/lab", camera), d.balance("acme/plant", camera)}
}

// TestDeskRefusesEveryoneButTheVendor: the customer's administrators and
// viewers, of acme or globex, get the same 403 page at every desk page and
// form, with no form and no other organization's name on it, and the
// ledger does not change; their header has no link to the desk.
func TestDeskRefusesEveryoneButTheVendor(t *testing.T) {
	d := newDesk(t)
	before := deskState(d)
	for _, who := range []string{ann, vic, gus} {
		b, tok := d.signedIn(who)
		if strings.Contains(b.get("/orgs").body, `href="/desk"`) {
			t.Errorf("%s's header links the desk", who)
		}
		other := "globex"
		if who == gus {
			other = "acme"
		}
		check := func(what string, r *resp) {
			t.Helper()
			r.want(t, http.StatusForbidden, "Not allowed", "The desk is for the vendor&#39;s support staff.")
			// The form token is random base64, which holds "hq" now and then.
			body := strings.ReplaceAll(r.body, r.token(), "")
			if strings.Contains(body, other) || strings.Contains(body, "<form method=\"post\" action=\"/desk") || strings.Contains(body, "hq") {
				t.Errorf("%s at %s sees a form or another organization:\n%s", who, what, r.body)
			}
		}
		for _, p := range deskPages {
			check(p, b.get(p))
		}
		for _, p := range deskPosts {
			check(p.path, b.post(p.path, deskWith(p.form, tok)))
		}
	}
	if got := deskState(d); got != before {
		t.Fatalf("refused desk requests changed the ledger: %v, was %v", got, before)
	}
	// Without a session: the sign-in page.
	anon := d.browser("192.0.2.9")
	for _, p := range deskPages {
		anon.get(p).wantRedirect(t, "/signin")
	}
}

// TestDeskFormsNeedTheToken: every desk form posted by the vendor without
// its token is refused, and nothing is done.
func TestDeskFormsNeedTheToken(t *testing.T) {
	d := newDesk(t)
	b, _ := d.signedIn(vera)
	before := deskState(d)
	for _, p := range deskPosts {
		b.post(p.path, p.form).want(t, http.StatusForbidden, "no valid security token")
		b.post(p.path, deskWith(p.form, "forged")).want(t, http.StatusForbidden, "no valid security token")
	}
	if got := deskState(d); got != before {
		t.Fatalf("forms without a token changed the ledger: %v, was %v", got, before)
	}
}

// TestDeskOverviewAndOrganizations: the vendor's overview lists every
// organization with its totals and links; an organization added there
// can be opened at once; a name that is markup or taken is refused,
// escaped, changing nothing.
func TestDeskOverviewAndOrganizations(t *testing.T) {
	d := newDesk(t)
	b, tok := d.signedIn(vera)
	if !strings.Contains(b.get("/orgs").body, `href="/desk"`) {
		t.Fatal("the vendor's header has no link to the desk")
	}
	r := b.get("/desk")
	r.want(t, 200, `<a href="/orgs/acme/licenses">acme</a>`, `<a href="/orgs/globex/licenses">globex</a>`,
		`<dd id="total-orgs">2</dd>`, `<dd id="total-accounts">3</dd>`, `<dd id="total-people">5</dd>`, `<dd id="total-owned">34 (34 available`,
		`name="org"`, "Add the organization", `aria-current="page">Overview`)
	if !regexp.MustCompile(`acme</a></th><td class="n">2</td><td class="n">29</td>`).MatchString(r.body) {
		t.Errorf("acme's row lacks 2 accounts and 29 owned:\n%s", r.body)
	}
	n := d.historyLen()
	b.post("/desk/orgs", url.Values{"csrf": {tok}, "org": {"initech"}}).want(t, 200, "Organization added", `Organization &#34;initech&#34; added.`, `href="/orgs/initech/licenses"`)
	if d.historyLen() != n+1 {
		t.Fatal("adding an organization is not one history event")
	}
	b.get("/orgs/initech/licenses").want(t, 200, "initech")
	n = d.historyLen()
	b.post("/desk/orgs", url.Values{"csrf": {tok}, "org": {"initech"}}).want(t, http.StatusConflict, "Already there", "initech")
	r = b.post("/desk/orgs", url.Values{"csrf": {tok}, "org": {`<b>evil</b>`}})
	r.want(t, http.StatusBadRequest, "Not accepted", "&lt;b&gt;evil")
	if strings.Contains(r.body, "<b>evil") {
		t.Fatal("the refused name is not escaped")
	}
	b.post("/desk/orgs", url.Values{"csrf": {tok}, "org": {strings.Repeat("x", 5000)}}).want(t, http.StatusBadRequest, "must have 1 to 64 characters")
	b.post("/desk/orgs", url.Values{"csrf": {tok}}).want(t, http.StatusBadRequest)
	if d.historyLen() != n {
		t.Fatal("refused organizations changed the history")
	}
}

// TestDeskAccounts adds an account with its removal limit, sets the limit
// and the export control, and refuses bad numbers, unknown organizations
// and accounts, changing nothing.
func TestDeskAccounts(t *testing.T) {
	d := newDesk(t)
	b, tok := d.signedIn(vera)
	b.get("/desk/accounts").want(t, 200, "<th scope=\"row\">acme/plant</th><td class=\"n\">3</td><td>allowed</td>", "globex/hq",
		`name="limit"`, "Add the account", "Set the removal limit", "Set the export control")
	b.post("/desk/accounts", url.Values{"csrf": {tok}, "org": {"acme"}, "name": {"spare"}, "limit": {"5"}}).
		want(t, 200, "Account added", "acme/spare", "at most 5 removals")
	b.get("/desk/accounts").want(t, 200, "<th scope=\"row\">acme/spare</th><td class=\"n\">5</td>")
	b.get("/orgs/acme/licenses").want(t, 200, "spare")
	b.post("/desk/accounts/limit", url.Values{"csrf": {tok}, "account": {"acme/spare"}, "limit": {"7"}}).want(t, 200, "Removal limit set", "is 7 per 365 days")
	b.post("/desk/accounts/export", url.Values{"csrf": {tok}, "account": {"acme/spare"}, "export": {"deny"}}).want(t, 200, "Export control set", "are denied")
	b.get("/desk/accounts").want(t, 200, "<th scope=\"row\">acme/spare</th><td class=\"n\">7</td><td>denied</td>")
	n := d.historyLen()
	for _, tc := range []struct {
		path   string
		form   url.Values
		status int
		words  string
	}{
		{"/desk/accounts", url.Values{"org": {"acme"}, "name": {"x"}, "limit": {"-1"}}, 400, "Removal limit"},
		{"/desk/accounts", url.Values{"org": {"acme"}, "name": {"x"}, "limit": {"lots"}}, 400, "Removal limit"},
		{"/desk/accounts", url.Values{"org": {"acme"}, "name": {"x"}, "limit": {"99999999999999999999999"}}, 400, "Removal limit"},
		{"/desk/accounts", url.Values{"org": {"nowhere"}, "name": {"x"}}, 404, "nowhere"},
		{"/desk/accounts", url.Values{"org": {"acme"}, "name": {"plant"}}, 409, "acme/plant"},
		{"/desk/accounts", url.Values{"org": {"acme"}, "name": {"<i>x</i>"}}, 400, "&lt;i&gt;"},
		{"/desk/accounts/limit", url.Values{"account": {"acme/plant"}}, 400, "give a number"},
		{"/desk/accounts/limit", url.Values{"account": {"acme/plant"}, "limit": {"2000000"}}, 400, "not from 0 to 1000000"},
		{"/desk/accounts/limit", url.Values{"account": {"acme/none"}, "limit": {"2"}}, 404, "no account &#34;none&#34;"},
		{"/desk/accounts/export", url.Values{"account": {"acme/plant"}, "export": {"maybe"}}, 400, "choose allow or deny"},
		{"/desk/accounts/export", url.Values{"account": {"<script>"}, "export": {"allow"}}, 400, "&lt;script&gt;"},
	} {
		r := b.post(tc.path, deskWith(tc.form, tok))
		r.want(t, tc.status, tc.words)
		if strings.Contains(r.body, "<i>x") || strings.Contains(r.body, "<script>") {
			t.Errorf("%s %v: not escaped:\n%s", tc.path, tc.form, r.body)
		}
	}
	if d.historyLen() != n {
		t.Fatal("refused account changes changed the history")
	}
}

// TestDeskLotsAreReviewedThenAdded: the review shows the account's
// balances before and after and adds nothing; the form it carries adds
// the lot; hostile input is refused before or by the library, changing
// nothing, and markup in a tag is shown escaped.
func TestDeskLotsAreReviewedThenAdded(t *testing.T) {
	d := newDesk(t)
	b, tok := d.signedIn(vera)
	b.get("/desk/lots?account=acme/lab").want(t, 200, `<option value="acme/lab" selected>`, `name="tag"`, `name="count"`, `name="kind"`,
		`name="start"`, `name="end"`, `name="export"`, `name="origin"`, "Review the licenses")
	n := d.historyLen()
	lot := url.Values{"csrf": {tok}, "account": {"acme/plant"}, "tag": {camera}, "count": {"10"}, "kind": {"term"},
		"start": {"2026-01-01"}, "end": {"2026-12-31"}, "export": {"yes"}, "origin": {"order 4711"}}
	r := b.post("/desk/lots/review", lot)
	r.want(t, 200, "Review the licenses", "Nothing is added yet",
		"10 vms.camera.core (term 2026-01-01T00:00:00Z..2027-01-01T00:00:00Z, export-controlled)", "order 4711",
		"acme/plant before", "acme/plant after",
		`<th scope="row">vms.camera.core</th><td class="n">25</td>`, `<th scope="row">vms.camera.core</th><td class="n">35</td><td class="n">35</td>`,
		`<input type="hidden" name="export" value="yes">`, "Add the licenses")
	if d.historyLen() != n || d.balance("acme/plant", camera) != [4]int64{25, 25, 0, 0} {
		t.Fatal("the review changed the ledger")
	}
	add := url.Values{"csrf": {tok}}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([a-z]+)" value="([^"]*)">`).FindAllStringSubmatch(r.body, -1) {
		if m[1] != "csrf" {
			add.Set(m[1], strings.ReplaceAll(m[2], "&#34;", `"`))
		}
	}
	r = b.post("/desk/lots", add)
	r.wantRedirect(t, "/desk/lots/added?account=acme%2Fplant&lot=4")
	// The page it redirects to shows the lot; reloading it adds nothing.
	for range 2 {
		b.get(r.Header.Get("Location")).want(t, 200, "Licenses added", "Lot 4: 10 vms.camera.core (term 2026-01-01T00:00:00Z..2027-01-01T00:00:00Z, export-controlled) added to &#34;acme/plant&#34;: order 4711.", `href="/orgs/acme/licenses"`)
	}
	if d.historyLen() != n+1 || d.balance("acme/plant", camera) != [4]int64{35, 35, 0, 0} {
		t.Fatalf("after adding: %d events, balance %v", d.historyLen()-n, d.balance("acme/plant", camera))
	}
	b.get("/desk/lots/added?account=acme/plant&lot=99").want(t, 404, "has no lot 99")
	b.get("/desk/lots/added?account=globex/hq&lot=4").want(t, 404, "has no lot 4")
	b.get("/desk/lots/added?account=acme/plant&lot=x").want(t, 400, "Lot: &#34;x&#34; is not a whole number")
	// A new tag in an empty account; markup in a tag is a tag, escaped.
	r = b.post("/desk/lots/review", url.Values{"csrf": {tok}, "account": {"acme/lab"}, "tag": {"<i>x</i>"}, "count": {"2"}})
	r.want(t, 200, "No licenses yet.", "&lt;i&gt;x&lt;/i&gt;")
	if strings.Contains(r.body, "<i>x") {
		t.Fatal("a tag's markup is not escaped")
	}

	n = d.historyLen()
	for _, tc := range []struct {
		form   url.Values
		status int
		words  string
	}{
		{url.Values{"account": {"acme/lab"}, "tag": {camera}}, 400, "give the number of licenses"},
		{url.Values{"account": {"acme/lab"}, "tag": {camera}, "count": {"0"}}, 400, "not a whole number from 1"},
		{url.Values{"account": {"acme/lab"}, "tag": {camera}, "count": {"1e3"}}, 400, "not a whole number"},
		{url.Values{"account": {"acme/lab"}, "tag": {camera}, "count": {"-4"}}, 400, "not a whole number"},
		{url.Values{"account": {"acme/lab"}, "tag": {camera}, "count": {"5000000000"}}, 400, "Count: &#34;5000000000&#34; is not a whole number from 1 to 4294967295"},
		{url.Values{"account": {"acme/lab"}, "tag": {camera}, "count": {"99999999999999999999999"}}, 400, "not a whole number"},
		{url.Values{"account": {"acme/lab"}, "tag": {"a b"}, "count": {"1"}}, 400, "tag"},
		{url.Values{"account": {"acme/lab"}, "tag": {camera}, "count": {"1"}, "kind": {"forever"}}, 400, "choose perpetual"},
		{url.Values{"account": {"acme/lab"}, "tag": {camera}, "count": {"1"}, "kind": {"term"}}, 400, "needs a start and an end"},
		{url.Values{"account": {"acme/lab"}, "tag": {camera}, "count": {"1"}, "start": {"2026-01-01"}, "end": {"2026-02-01"}}, 400, "perpetual licenses have no dates"},
		{url.Values{"account": {"acme/lab"}, "tag": {camera}, "count": {"1"}, "kind": {"term"}, "start": {"2026-03-01"}, "end": {"2026-02-01"}}, 400, "the end is before the start"},
		{url.Values{"account": {"acme/lab"}, "tag": {camera}, "count": {"1"}, "kind": {"term"}, "start": {"March"}, "end": {"2026-02-01"}}, 400, "not a date"},
		{url.Values{"account": {"acme/nowhere"}, "tag": {camera}, "count": {"1"}}, 404, "no account &#34;nowhere&#34;"},
		{url.Values{"account": {"<b>"}, "tag": {camera}, "count": {"1"}}, 400, "&lt;b&gt;"},
		{url.Values{"account": {"acme/lab"}, "tag": {camera}, "count": {"1"}, "origin": {"line\nbreak"}}, 400, "origin"},
	} {
		for _, path := range []string{"/desk/lots/review", "/desk/lots"} {
			r := b.post(path, deskWith(tc.form, tok))
			r.want(t, tc.status, tc.words)
			if strings.Contains(r.body, "<b>") {
				t.Errorf("%s %v: not escaped", path, tc.form)
			}
		}
	}
	if d.historyLen() != n || d.balance("acme/lab", camera) != [4]int64{} {
		t.Fatal("refused lots changed the ledger")
	}
}

// TestDeskPeople lists everyone (names escaped), adds people of each
// role, and sets a password typed twice, which then signs in; it is
// never shown back.
func TestDeskPeople(t *testing.T) {
	d := newDesk(t)
	b, tok := d.signedIn(vera)
	r := b.get("/desk/people")
	r.want(t, 200, vera, ann, vic, mal, gus, "administrator of acme", "viewer of acme", "&lt;script&gt;alert",
		`name="email"`, `name="name"`, `name="role"`, `name="org"`, `name="partner"`, "Add the person",
		`name="password"`, `name="again"`, `autocomplete="new-password"`, "Set the password")
	if strings.Contains(r.body, hostileName) {
		t.Fatal("a person's name is not escaped")
	}
	n := d.historyLen()
	for _, p := range []url.Values{
		{"email": {"dan@acme.example"}, "name": {"Dan"}, "role": {"admin"}, "org": {"acme"}},
		{"email": {"pat@partner.example"}, "name": {"Pat"}, "role": {"partner"}, "partner": {"Contoso"}},
		{"email": {"sam@vendor.example"}, "name": {"Sam"}, "role": {"vendor"}},
	} {
		b.post("/desk/people", deskWith(p, tok)).want(t, 200, "Person added", p.Get("email"))
	}
	if d.historyLen() != n+3 {
		t.Fatal("adding three people is not three events")
	}
	b.get("/desk/people").want(t, 200, "dan@acme.example", "partner Contoso", "sam@vendor.example")

	n = d.historyLen()
	const pw = "a long and new passphrase"
	for _, tc := range []struct {
		form   url.Values
		status int
		words  string
	}{
		{url.Values{"email": {"bad"}, "name": {"B"}, "role": {"admin"}, "org": {"acme"}}, 400, "not an e-mail address"},
		{url.Values{"email": {"eve@acme.example"}, "name": {"Eve"}, "role": {"admin"}}, 400, "choose it"},
		{url.Values{"email": {"eve@acme.example"}, "name": {"Eve"}, "role": {"partner"}}, 400, "partner&#39;s name"},
		{url.Values{"email": {"eve@acme.example"}, "name": {"Eve"}, "role": {"king"}}, 400, "want vendor, admin, viewer or partner"},
		{url.Values{"email": {"eve@acme.example"}, "name": {"Eve"}, "role": {"admin"}, "org": {"nowhere"}}, 404, "nowhere"},
		{url.Values{"email": {ann}, "name": {"Ann"}, "role": {"admin"}, "org": {"acme"}}, 409, "a person already"},
		{url.Values{"email": {"eve@acme.example"}, "name": {"E\x01ve"}, "role": {"viewer"}, "org": {"acme"}}, 400, "control character"},
	} {
		b.post("/desk/people", deskWith(tc.form, tok)).want(t, tc.status, tc.words)
	}
	for _, tc := range []struct {
		form   url.Values
		status int
		words  string
	}{
		{url.Values{"email": {ann}, "password": {pw}, "again": {pw + "x"}}, 400, "The two passwords differ"},
		{url.Values{"email": {ann}, "password": {"short"}, "again": {"short"}}, 400, "at least 12 are needed"},
		{url.Values{"email": {ann}, "password": {ann}, "again": {ann}}, 400, "is the e-mail address"},
		{url.Values{"email": {ann}, "password": {strings.Repeat("p", 2000)}, "again": {strings.Repeat("p", 2000)}}, 400, "at most 1024"},
		{url.Values{"email": {"nobody@acme.example"}, "password": {pw}, "again": {pw}}, 404, "nobody@acme.example is nobody"},
	} {
		r := b.post("/desk/people/password", deskWith(tc.form, tok))
		r.want(t, tc.status, tc.words)
		if strings.Contains(r.body, pw) || strings.Contains(r.body, "short") && tc.words != "at least 12 are needed" {
			t.Fatal("a refusal shows the password")
		}
	}
	if d.historyLen() != n {
		t.Fatal("refused people or passwords changed the history")
	}
	r = b.post("/desk/people/password", url.Values{"csrf": {tok}, "email": {ann}, "password": {pw}, "again": {pw}})
	r.want(t, 200, "Password set", ann+" can sign in")
	if strings.Contains(r.body, pw) {
		t.Fatal("the page shows the password")
	}
	a := d.browser("192.0.2.20")
	page := a.get("/signin")
	a.post("/signin", url.Values{"csrf": {page.token()}, "email": {ann}, "password": {pw}}).wantRedirect(t, "/orgs/acme/licenses")
}

var keyRE = regexp.MustCompile(`<code class="key">(LK-[0-9A-Z-]+)</code>`)

// TestDeskIssuesLicenseKeysOnce issues license keys and an extension key,
// shows each once with its id and a warning, and refuses bad input
// without issuing any.
func TestDeskIssuesLicenseKeysOnce(t *testing.T) {
	d := newDesk(t)
	b, tok := d.signedIn(vera)
	b.get("/desk/keys").want(t, 200, `name="software"`, `name="kind"`, `name="tag"`, `name="count"`, `name="years"`, `name="lines"`, `name="keys"`, "Issue the license keys")
	n := d.historyLen()
	r := b.post("/desk/keys", url.Values{"csrf": {tok}, "software": {"vms"}, "kind": {"key"}, "tag": {camera}, "count": {"10"}, "years": {"3"}, "keys": {"3"}})
	r.want(t, 200, "3 license keys issued", "This is the only time these keys are shown", "10 vms.camera.core × 3 years")
	keys := keyRE.FindAllStringSubmatch(r.body, -1)
	if len(keys) != 3 || d.historyLen() != n+3 {
		t.Fatalf("%d keys shown, %d events", len(keys), d.historyLen()-n)
	}
	for _, k := range keys {
		raw, err := authority.ParseKey(k[1])
		if err != nil {
			t.Fatal(err)
		}
		id := authority.KeyID(authority.KeyHash(raw))
		if !strings.Contains(r.body, "<code>"+id+"</code>") {
			t.Errorf("key id %s is not shown", id)
		}
	}
	r = b.post("/desk/keys", url.Values{"csrf": {tok}, "software": {"vms"}, "kind": {"extension"}, "lines": {"vms.camera.hw=2\r\nvms.io=4\r\n"}})
	r.want(t, 200, "License key issued", "This is the only time this key is shown", "extension: 2 vms.camera.hw, 4 vms.io")

	n = d.historyLen()
	for _, tc := range []struct {
		form   url.Values
		status int
		words  string
	}{
		{url.Values{"software": {"vms"}, "kind": {"key"}, "tag": {camera}, "count": {"1"}, "keys": {"0"}}, 400, "issue 1 to 50 keys"},
		{url.Values{"software": {"vms"}, "kind": {"key"}, "tag": {camera}, "count": {"1"}, "keys": {"51"}}, 400, "issue 1 to 50 keys"},
		{url.Values{"software": {"vms"}, "kind": {"key"}, "tag": {camera}, "count": {"1"}, "years": {"6"}}, 400, "1 to 5 years"},
		{url.Values{"software": {"vms"}, "kind": {"key"}, "tag": {camera}, "count": {"ten"}}, 400, "Count"},
		{url.Values{"software": {"vms"}, "kind": {"key"}, "tag": {camera}}, 400, "count 0"},
		{url.Values{"software": {"vms"}, "kind": {"key"}, "tag": {camera}, "count": {"5000000000"}}, 400, "not from 1 to"},
		{url.Values{"software": {"<b>vms</b>"}, "kind": {"key"}, "tag": {camera}, "count": {"1"}}, 400, "&lt;b&gt;"},
		{url.Values{"software": {"vms"}, "kind": {"gift"}, "tag": {camera}, "count": {"1"}}, 400, "choose a license key"},
		{url.Values{"software": {"vms"}, "kind": {"extension"}, "lines": {"vms.io"}}, 400, "is not TAG=N"},
		{url.Values{"software": {"vms"}, "kind": {"extension"}, "lines": {""}}, 400, "one TAG=N line"},
		{url.Values{"software": {"vms"}, "kind": {"extension"}, "lines": {"vms.io=1\nvms.io=2"}}, 400, "given twice"},
		{url.Values{"software": {"vms"}, "kind": {"extension"}, "lines": {"vms.io=1"}, "years": {"2"}}, 400, "not counted in years"},
	} {
		r := b.post("/desk/keys", deskWith(tc.form, tok))
		r.want(t, tc.status, tc.words)
		if keyRE.MatchString(r.body) || strings.Contains(r.body, "<b>vms") {
			t.Errorf("%v: a key shown, or markup:\n%s", tc.form, r.body)
		}
	}
	if d.historyLen() != n {
		t.Fatal("refused keys were issued")
	}
}

// TestDeskVerifiesTheLedger runs the verification and shows the head the
// ledger recorded, with the counts.
func TestDeskVerifiesTheLedger(t *testing.T) {
	d := newDesk(t)
	b, tok := d.signedIn(vera)
	m, err := d.l.Meta(ctx)
	d.must(err)
	head := hex.EncodeToString(m.HistoryHead)
	b.get("/desk/verify").want(t, 200, "Verify the ledger", head, "test desk")
	n := d.historyLen()
	r := b.post("/desk/verify", url.Values{"csrf": {tok}})
	r.want(t, 200, "Ledger verified", `id="verify-result">OK: every check passed.`, `<code id="verify-head">`+head+`</code>`,
		"<dt>Events</dt><dd>"+strconv.FormatInt(n, 10)+"</dd>", "<dt>Lots</dt><dd>3</dd>")
	if d.historyLen() != n {
		t.Fatal("verifying changed the history")
	}
}

// TestDeskShowsAVerificationFailure: a ledger edited behind the
// authority's back fails the verification, and the page says the
// violation in the library's words.
func TestDeskShowsAVerificationFailure(t *testing.T) {
	d := newDesk(t)
	b, tok := d.signedIn(vera)
	st, ok := d.l.Store().(interface{ Path() string })
	if !ok {
		t.Skip("the store has no file to edit")
	}
	db, err := sql.Open("sqlite", st.Path())
	d.must(err)
	defer db.Close()
	if _, err := db.Exec(`UPDATE lots SET count = count + 10, initial_count = initial_count + 10 WHERE id = (SELECT MIN(id) FROM lots)`); err != nil {
		t.Skipf("cannot edit the ledger: %v", err)
	}
	r := b.post("/desk/verify", url.Values{"csrf": {tok}})
	r.want(t, 200, "Verification failed", `id="verify-result">FAILED: ledger verification failed: `, "is not the lot its history event recorded")
	if strings.Contains(r.body, "verify-head") {
		t.Fatal("a failed verification shows a head")
	}
}
