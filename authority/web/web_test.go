package web_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/authority/web"
	"github.com/airlock-dev/airlock/codes"
)

const csp = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// wantHeaders checks the headers every answer carries.
func wantHeaders(t *testing.T, what string, r *resp) {
	t.Helper()
	for k, v := range map[string]string{
		"Content-Security-Policy": csp,
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"X-Frame-Options":         "DENY",
	} {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s: %s is %q, want %q", what, k, got, v)
		}
	}
}

// TestEveryAnswerCarriesTheSecurityHeaders: pages, redirects, refusals,
// errors, the style sheet and a download all carry the CSP and the other
// headers; pages are not cached.
func TestEveryAnswerCarriesTheSecurityHeaders(t *testing.T) {
	d := newDesk(t)
	anon := d.browser("192.0.2.1")
	b, tok := d.signedIn(ann)
	v := d.device("cam-h", d.f.Authority)
	req := typed(codes.KindRequest, v.request(lic(camera, 1)))
	b.post("/orgs/acme/reserve", url.Values{"csrf": {tok}, "account": {"plant"}, "request": {req}}).want(t, 200)
	for _, tc := range []struct {
		name string
		r    *resp
		code int
	}{
		{"sign-in page", anon.get("/signin"), 200},
		{"style sheet", anon.get("/static/airlock.css"), 200},
		{"redirect to sign-in", anon.get("/orgs/acme/licenses"), 303},
		{"no such page", anon.get("/nothing/here"), 404},
		{"sign-in without token", anon.post("/signin", url.Values{"email": {ann}}), 403},
		{"switcher", b.get("/orgs"), 200},
		{"licenses", b.get("/orgs/acme/licenses"), 200},
		{"reserve form", b.get("/orgs/acme/reserve"), 200},
		{"another organization", b.get("/orgs/globex/licenses"), 403},
		{"form without token", b.post("/orgs/acme/reserve", url.Values{"account": {"plant"}, "request": {req}}), 403},
		{"garbage code", b.post("/orgs/acme/reserve/review", url.Values{"csrf": {tok}, "account": {"plant"}, "request": {"AQ-garbage"}}), 400},
		{"wrong method", anon.send(httpRequest(http.MethodPut, "/signin", nil)), 404},
		{"download", b.post("/orgs/acme/reserve/download", url.Values{"csrf": {tok}, "request": {req}}), 200},
	} {
		if tc.r.StatusCode != tc.code {
			t.Errorf("%s: status %d, want %d\n%s", tc.name, tc.r.StatusCode, tc.code, tc.r.body)
		}
		wantHeaders(t, tc.name, tc.r)
		if tc.name != "style sheet" && tc.r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q", tc.name, tc.r.Header.Get("Cache-Control"))
		}
		if strings.Contains(tc.r.body, "<script") || strings.Contains(tc.r.body, " style=") || strings.Contains(tc.r.body, "<style") {
			t.Errorf("%s: inline script or style:\n%s", tc.name, tc.r.body)
		}
	}
}

// TestPagesRedirectToSignInWithoutASession: every page of the portal,
// asked for without a session or with a made-up one, redirects to the
// sign-in page, and a form sent so changes nothing.
func TestPagesRedirectToSignInWithoutASession(t *testing.T) {
	d := newDesk(t)
	v := d.device("cam-anon", d.f.Authority)
	req := typed(codes.KindRequest, v.request(lic(camera, 2)))
	before := d.historyLen()
	for _, cookie := range []string{"", "AAAA", strings.Repeat("A", 43)} {
		b := d.browser("192.0.2.2")
		if cookie != "" {
			b.cookies["__Host-airlock-session"] = &http.Cookie{Name: "__Host-airlock-session", Value: cookie}
		}
		for _, path := range []string{"/", "/orgs", "/orgs/acme", "/orgs/acme/licenses", "/orgs/acme/reserve", "/orgs/acme/confirm", "/orgs/globex/licenses"} {
			b.get(path).wantRedirect(t, "/signin")
		}
		for _, path := range []string{"/orgs/acme/reserve/review", "/orgs/acme/reserve", "/orgs/acme/reserve/download", "/orgs/acme/confirm", "/signout"} {
			b.post(path, url.Values{"account": {"plant"}, "request": {req}}).wantRedirect(t, "/signin")
		}
	}
	if d.historyLen() != before || d.balance("acme/plant", camera) != [4]int64{25, 25, 0, 0} {
		t.Fatal("a request without a session changed the ledger")
	}
}

// TestSignInSetsAStrictSessionCookie signs in, checks the cookie's
// attributes, refuses a wrong password in the same words as an unknown
// address, and signs out.
func TestSignInSetsAStrictSessionCookie(t *testing.T) {
	d := newDesk(t)
	b := d.browser("192.0.2.3")
	page := b.get("/signin")
	page.want(t, 200, `name="email"`, `name="password"`)
	tok := page.token()
	for _, email := range []string{ann, "nobody@acme.example"} {
		r := b.post("/signin", url.Values{"csrf": {tok}, "email": {email}, "password": {"not the password"}})
		r.want(t, http.StatusUnauthorized, "Wrong e-mail address or password.")
		if _, ok := b.cookies["__Host-airlock-session"]; ok {
			t.Fatal("a session cookie after a refused sign-in")
		}
	}
	r := b.post("/signin", url.Values{"csrf": {tok}, "email": {ann}, "password": {password}})
	r.wantRedirect(t, "/orgs/acme/licenses")
	var c *http.Cookie
	for _, k := range r.Cookies() {
		if k.Name == "__Host-airlock-session" {
			c = k
		}
	}
	if c == nil || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" {
		t.Fatalf("session cookie %+v", c)
	}
	if id, err := b64decode(c.Value); err != nil || len(id) != authority.SessionIDSize {
		t.Fatalf("session id %q: %v", c.Value, err)
	}
	stolen := *c
	page = b.get("/orgs/acme/licenses")
	page.want(t, 200, "Ann", "administrator of acme")
	b.post("/signout", url.Values{"csrf": {page.token()}}).wantRedirect(t, "/signin")
	if _, ok := b.cookies["__Host-airlock-session"]; ok {
		t.Fatal("the session cookie survived sign-out")
	}
	// The session is gone from the ledger: its cookie, kept by someone,
	// signs nobody in.
	b.cookies[stolen.Name] = &stolen
	b.get("/orgs/acme/licenses").wantRedirect(t, "/signin")
}

// TestSignInNeedsTheFormsOwnToken: a sign-in posted without the sign-in
// cookie, or with another browser's token, is refused before any password
// is checked (login CSRF).
func TestSignInNeedsTheFormsOwnToken(t *testing.T) {
	d := newDesk(t)
	victim, attacker := d.browser("192.0.2.4"), d.browser("198.51.100.9")
	tok := attacker.get("/signin").token()
	victim.get("/signin")
	for _, form := range []url.Values{
		{"email": {ann}, "password": {password}},
		{"csrf": {tok}, "email": {ann}, "password": {password}},
		{"csrf": {"x"}, "email": {ann}, "password": {password}},
	} {
		victim.post("/signin", form).want(t, http.StatusForbidden, "no valid security token")
	}
	if _, ok := victim.cookies["__Host-airlock-session"]; ok {
		t.Fatal("signed in without the form's token")
	}
	// A form sent from another site is refused whatever it carries.
	r := httpRequest(http.MethodPost, "/signin", url.Values{"csrf": {tok}, "email": {ann}, "password": {password}})
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	attacker.send(r).want(t, http.StatusForbidden, "sent from another site")
}

// TestSignInIsRateLimited: past the burst, attempts from one address are
// refused with 429 and Retry-After, even with the right password; an
// account guessed at from many addresses is limited too; time refills
// both.
func TestSignInIsRateLimited(t *testing.T) {
	d := newDesk(t, func(o *web.Options) { o.SignInBurst, o.AccountBurst = web.DefaultSignInBurst, web.DefaultAccountBurst })
	b := d.browser("192.0.2.5")
	tok := b.get("/signin").token()
	try := func(b *browser, tok, email, pw string) *resp {
		return b.post("/signin", url.Values{"csrf": {tok}, "email": {email}, "password": {pw}})
	}
	// Ten wrong guesses at ten accounts (unknown ones: the per-account
	// limit is not the one tested here).
	for i := range 10 {
		try(b, tok, "guess"+string(rune('a'+i))+"@acme.example", "wrong password!").want(t, http.StatusUnauthorized)
	}
	r := try(b, tok, ann, password)
	r.want(t, http.StatusTooManyRequests, "Too many sign-in attempts")
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	d.clk.add(7 * time.Second)
	try(b, tok, ann, password).wantRedirect(t, "/orgs/acme/licenses")

	// One account from many addresses: 5, then refused.
	for i := range 5 {
		o := d.browser("203.0.113." + string(rune('1'+i)))
		try(o, o.get("/signin").token(), vic, "wrong password!").want(t, http.StatusUnauthorized)
	}
	o := d.browser("203.0.113.99")
	try(o, o.get("/signin").token(), vic, password).want(t, http.StatusTooManyRequests)
	d.clk.add(13 * time.Minute)
	try(o, o.get("/signin").token(), vic, password).wantRedirect(t, "/orgs/acme/licenses")
}

// TestSessionsExpire: idle for 30 minutes, or open for 12 hours, a
// session ends and its pages redirect to sign in again.
func TestSessionsExpire(t *testing.T) {
	d := newDesk(t)
	b, _ := d.signedIn(ann)
	d.clk.add(29 * time.Minute)
	b.get("/orgs/acme/licenses").want(t, 200)
	d.clk.add(31 * time.Minute)
	b.get("/orgs/acme/licenses").wantRedirect(t, "/signin?expired=1")
	b.get("/signin?expired=1").want(t, 200, "Your session has ended")
	b.get("/orgs/acme/licenses").wantRedirect(t, "/signin")

	b, _ = d.signedIn(ann)
	for range 12*60/20 - 1 {
		d.clk.add(20 * time.Minute)
		if r := b.get("/orgs/acme/licenses"); r.StatusCode != 200 {
			t.Fatalf("a busy session ended at %s", d.clk.Now())
		}
	}
	d.clk.add(20 * time.Minute)
	b.get("/orgs/acme/licenses").wantRedirect(t, "/signin?expired=1")
}

// TestOrganizationPagesAreAuthorized: who reads which organization, as
// the library decides; a person of one organization cannot tell another
// from one that does not exist, and never sees its licenses.
func TestOrganizationPagesAreAuthorized(t *testing.T) {
	d := newDesk(t)
	for _, tc := range []struct {
		who   string
		org   string
		ok    bool
		extra []string
	}{
		{ann, "acme", true, []string{"Account plant", camera, "Account lab", "No licenses in this account yet."}},
		{vic, "acme", true, []string{"Account plant", "You may read its licenses."}},
		{vera, "acme", true, []string{"Account plant"}},
		{vera, "globex", true, []string{"Account hq"}},
		{gus, "globex", true, []string{"Account hq"}},
		{ann, "globex", false, nil},
		{gus, "acme", false, nil},
		{ann, "initech", false, nil},
		{vera, "initech", false, nil},
	} {
		b, _ := d.signedIn(tc.who)
		r := b.get("/orgs/" + tc.org + "/licenses")
		if tc.ok {
			r.want(t, 200, append([]string{`id="org-name">` + tc.org + "<"}, tc.extra...)...)
			continue
		}
		want := http.StatusForbidden
		if tc.who == vera {
			want = http.StatusNotFound
		}
		r.want(t, want, "&#34;"+tc.org+"&#34;")
		// The form token is random base64, which holds "hq" now and then.
		body := strings.ReplaceAll(r.body, r.token(), "")
		for _, leak := range []string{"Account", "hq", "plant", camera} {
			if strings.Contains(body, leak) {
				t.Errorf("%s reading %s sees %q:\n%s", tc.who, tc.org, leak, r.body)
			}
		}
		if tc.who != vera {
			// The same words whether the organization exists or not.
			if !strings.Contains(r.body, "cannot read &#34;"+tc.org+"&#34;") {
				t.Errorf("%s reading %s: %s", tc.who, tc.org, r.body)
			}
		}
	}
	// The switcher lists only what one may read.
	b, _ := d.signedIn(ann)
	r := b.get("/orgs")
	r.want(t, 200, `href="/orgs/acme/licenses"`)
	if strings.Contains(r.body, "globex") {
		t.Fatalf("ann's switcher lists globex:\n%s", r.body)
	}
	b, _ = d.signedIn(vera)
	b.get("/orgs").want(t, 200, `href="/orgs/acme/licenses"`, `href="/orgs/globex/licenses"`)
}

// TestViewerCannotReserveOrConfirm: a viewer reads the licenses, and is
// refused, with a page that says why, every step of a reservation and the
// confirmation form; nothing changes.
func TestViewerCannotReserveOrConfirm(t *testing.T) {
	d := newDesk(t)
	b, tok := d.signedIn(vic)
	page := b.get("/orgs/acme/licenses")
	page.want(t, 200)
	if strings.Contains(page.body, `href="/orgs/acme/reserve"`) {
		t.Fatal("a viewer is offered the reserve page")
	}
	v := d.device("cam-v", d.f.Authority)
	req := typed(codes.KindRequest, v.request(lic(camera, 2)))
	before := d.historyLen()
	for _, r := range []*resp{
		b.get("/orgs/acme/reserve"),
		b.get("/orgs/acme/confirm"),
		b.get("/orgs/acme/return"),
		b.post("/orgs/acme/return", url.Values{"csrf": {tok}, "code": {"RT-AAAA"}}),
		b.post("/orgs/acme/reserve/review", url.Values{"csrf": {tok}, "account": {"plant"}, "request": {req}}),
		b.post("/orgs/acme/reserve", url.Values{"csrf": {tok}, "account": {"plant"}, "request": {req}}),
		b.post("/orgs/acme/confirm", url.Values{"csrf": {tok}, "code": {"CC-AAAA"}}),
	} {
		r.want(t, http.StatusForbidden, "Not allowed", "may read the licenses of &#34;acme&#34; but not change them")
	}
	// The library refuses too, whatever the portal shows.
	if _, err := d.l.As(vic).ReserveIn(ctx, "acme", "plant", v.request(lic(camera, 1)), nil); err == nil {
		t.Fatal("the library let a viewer reserve")
	}
	if d.historyLen() != before || d.balance("acme/plant", camera) != [4]int64{25, 25, 0, 0} {
		t.Fatal("a viewer changed the ledger")
	}
}

// TestReserveFromAPastedRequestCode runs the reserve flow: paste, review,
// reserve, the typed code with its hash, the download, the same request
// again, the confirmation code and the return code; the history names
// the person.
func TestReserveFromAPastedRequestCode(t *testing.T) {
	d := newDesk(t)
	b, tok := d.signedIn(ann)
	b.get("/orgs/acme/reserve").want(t, 200, `<option value="plant">plant</option>`, `enctype="multipart/form-data"`)
	v := d.device("cam-1", d.f.Authority)
	code := v.request(lic(camera, 10), lic(analytics, 2))
	req := typed(codes.KindRequest, code)

	// From lab, which holds none: the review says so and offers no reservation.
	short := b.post("/orgs/acme/reserve/review", url.Values{"csrf": {tok}, "account": {"lab"}, "request": {req}})
	short.want(t, 200, "Not enough licenses", "Nothing was reserved")
	if strings.Contains(short.body, `action="/orgs/acme/reserve"`) {
		t.Fatal("a reservation the review says is short is offered")
	}
	rv := b.post("/orgs/acme/reserve/review", url.Values{"csrf": {tok}, "account": {"plant"}, "request": {strings.ToLower(req)}})
	rv.want(t, 200, v.udi.String(), "10 vms.camera.core, 2 vms.analytics", "acme/plant", hexHash(code), `action="/orgs/acme/reserve"`)
	if d.balance("acme/plant", camera) != [4]int64{25, 25, 0, 0} {
		t.Fatal("the review reserved")
	}

	r := b.post("/orgs/acme/reserve", url.Values{"csrf": {tok}, "account": {"plant"}, "request": {req}})
	r.want(t, 200, "Authorization code")
	auth := extractTyped(t, r.body)
	bin, err := codes.DecodeKind([]byte(auth), codes.KindAuthorization)
	if err != nil {
		t.Fatal(err)
	}
	r.want(t, 200, hexHash(bin))
	a, err := codes.OpenAuthorization(bin, d.f.Trust)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Check(d.clk.Now(), v.udi, v.key.Public()); err != nil {
		t.Fatalf("the code does not install: %v", err)
	}
	if d.balance("acme/plant", camera) != [4]int64{25, 15, 10, 0} {
		t.Fatalf("balance %v", d.balance("acme/plant", camera))
	}
	es, err := d.l.As(vera).History(ctx, authority.HistoryFilter{Account: "acme/plant"})
	d.must(err)
	if last := es[len(es)-1]; last.Action != "reserve" || last.Actor != ann || !bytes.Equal(last.CodeHash, hash(bin)) {
		t.Fatalf("history %+v", last)
	}

	dl := b.post("/orgs/acme/reserve/download", url.Values{"csrf": {tok}, "request": {req}})
	dl.want(t, 200, "BEGIN AIRLOCK")
	if cd := dl.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="authorization-`) {
		t.Fatalf("Content-Disposition %q", cd)
	}
	got, err := codes.DecodeKind([]byte(dl.body), codes.KindAuthorization)
	if err != nil || !bytes.Equal(got, bin) {
		t.Fatalf("the file holds another code: %v", err)
	}

	// The same request again: the same code, nothing more reserved.
	n := d.historyLen()
	again := b.post("/orgs/acme/reserve", url.Values{"csrf": {tok}, "account": {"lab"}, "request": {req}})
	again.want(t, 200, "answered before", hexHash(bin))
	if d.historyLen() != n || d.balance("acme/plant", camera) != [4]int64{25, 15, 10, 0} {
		t.Fatal("reserving the same request again changed the ledger")
	}

	// The confirmation code of the installed code.
	b.get("/orgs/acme/confirm").want(t, 200, `name="code"`)
	cf := typed(codes.KindConfirmation, v.confirm(a.Reservation, 1))
	b.post("/orgs/acme/confirm", url.Values{"csrf": {tok}, "code": {cf}}).want(t, 200, "Confirmed", v.udi.String())
	es, err = d.l.As(vera).History(ctx, authority.HistoryFilter{Account: "acme/plant"})
	d.must(err)
	if last := es[len(es)-1]; last.Action != "confirm" || last.Actor != ann {
		t.Fatalf("history %+v", last)
	}

	// The instance gives the reservation back: the return code, uploaded.
	b.get("/orgs/acme/return").want(t, 200, `name="code"`, `enctype="multipart/form-data"`)
	rt := v.ret(a.Reservation, 1)
	b.upload("/orgs/acme/return", url.Values{"csrf": {tok}}, codes.EncodeArmor(codes.KindReturn, rt)).want(t, 200, "Returned", "2 vms.analytics, 10 vms.camera.core", hexHash(rt))
	if d.balance("acme/plant", camera) != [4]int64{25, 25, 0, 0} {
		t.Fatalf("balance after the return %v", d.balance("acme/plant", camera))
	}
	b.post("/orgs/acme/return", url.Values{"csrf": {tok}, "code": {typed(codes.KindReturn, rt)}}).want(t, 200, "Nothing changed")
}

// TestReserveFromAnUploadedFile uploads an armored request file.
func TestReserveFromAnUploadedFile(t *testing.T) {
	d := newDesk(t)
	b, tok := d.signedIn(ann)
	v := d.device("cam-2", d.f.Authority)
	code := v.request(lic(camera, 3))
	r := b.upload("/orgs/acme/reserve/review", url.Values{"csrf": {tok}, "account": {"plant"}}, codes.EncodeArmor(codes.KindRequest, code))
	r.want(t, 200, "3 vms.camera.core", typed(codes.KindRequest, code))
	r = b.post("/orgs/acme/reserve", url.Values{"csrf": {tok}, "account": {"plant"}, "request": {typed(codes.KindRequest, code)}})
	r.want(t, 200, "Authorization code")
	if d.balance("acme/plant", camera) != [4]int64{25, 22, 3, 0} {
		t.Fatalf("balance %v", d.balance("acme/plant", camera))
	}
	// Both a file and a pasted code: which one is meant is not guessed.
	b.upload("/orgs/acme/reserve/review", url.Values{"csrf": {tok}, "account": {"plant"}, "request": {typed(codes.KindRequest, code)}},
		codes.EncodeArmor(codes.KindRequest, code)).want(t, 400, "Both a file and a pasted code")
}

// TestFormsWithoutTheSessionsTokenChangeNothing: a reservation or a
// confirmation posted without the token, with a wrong one, or with the
// token of another session, is refused with 403 and the ledger is as
// before.
func TestFormsWithoutTheSessionsTokenChangeNothing(t *testing.T) {
	d := newDesk(t)
	b, tok := d.signedIn(ann)
	_, other := d.signedIn(ann) // the same person, another browser
	if other == tok {
		t.Fatal("two sessions share a token")
	}
	v := d.device("cam-csrf", d.f.Authority)
	req := typed(codes.KindRequest, v.request(lic(camera, 2)))
	before := d.historyLen()
	wrong := []byte(tok)
	wrong[len(wrong)-1] = "AB"[boolInt(wrong[len(wrong)-1] == 'A')]
	for _, bad := range []url.Values{
		{"account": {"plant"}, "request": {req}},
		{"csrf": {""}, "account": {"plant"}, "request": {req}},
		{"csrf": {string(wrong)}, "account": {"plant"}, "request": {req}},
		{"csrf": {other}, "account": {"plant"}, "request": {req}},
		{"csrf": {tok, other}, "account": {"plant"}, "request": {req}},
	} {
		for _, path := range []string{"/orgs/acme/reserve", "/orgs/acme/reserve/review", "/orgs/acme/confirm", "/signout"} {
			b.post(path, bad).want(t, http.StatusForbidden, "no valid security token")
		}
		b.upload("/orgs/acme/reserve/review", bad, nil).want(t, http.StatusForbidden, "no valid security token")
	}
	if d.historyLen() != before || d.balance("acme/plant", camera) != [4]int64{25, 25, 0, 0} {
		t.Fatal("a form without its token changed the ledger")
	}
	// Still signed in: sign-out needed the token too.
	b.get("/orgs/acme/licenses").want(t, 200)
}

// TestHostileRequestCodesAreRefusedClearly: garbage, oversized input, a
// code of another kind, a request for another authority, a typo and an
// unknown account are each refused with a page that says what is wrong,
// and nothing changes.
func TestHostileRequestCodesAreRefusedClearly(t *testing.T) {
	d := newDesk(t)
	b, tok := d.signedIn(ann)
	v := d.device("cam-x", d.f.Authority)
	good := typed(codes.KindRequest, v.request(lic(camera, 1)))
	rogue := d.device("cam-r", d.f.Rogue)
	typo := []byte(good)
	typo[len(typo)-3] ^= 1
	before := d.historyLen()
	for _, tc := range []struct {
		name    string
		account string
		input   string
		status  int
		says    string
	}{
		{"empty", "plant", "   ", 400, "No code was given"},
		{"garbage", "plant", "hello, world", 400, "Not a code"},
		{"binary", "plant", "\x84\x00\xff\xfe", 400, "Not a code"},
		{"long typed", "plant", "AQ-" + strings.Repeat("ABCDE-", 20000), 400, "Not a code"},
		{"wrong kind", "plant", typed(codes.KindConfirmation, v.confirm([]byte{1, 2, 3, 4}, 1)), 400, "Wrong kind of code"},
		{"another authority", "plant", typed(codes.KindRequest, rogue.request(lic(camera, 1))), 400, "Not for this authority"},
		{"typo", "plant", string(typo), 400, "Typo in the code"},
		{"no such account", "nope", good, 404, "has no account &#34;nope&#34;"},
		{"account of another org", "hq", good, 404, "has no account &#34;hq&#34;"},
		{"bad account name", "../globex/hq", good, 400, "Not accepted"},
	} {
		r := b.post("/orgs/acme/reserve/review", url.Values{"csrf": {tok}, "account": {tc.account}, "request": {tc.input}})
		if r.StatusCode != tc.status || !strings.Contains(r.body, tc.says) {
			t.Errorf("%s: status %d, want %d with %q\n%s", tc.name, r.StatusCode, tc.status, tc.says, r.body)
		}
		r = b.post("/orgs/acme/reserve", url.Values{"csrf": {tok}, "account": {tc.account}, "request": {tc.input}})
		if r.StatusCode < 400 || r.StatusCode >= 500 {
			t.Errorf("%s: reserve answered %d\n%s", tc.name, r.StatusCode, r.body)
		}
	}
	// Over MaxUpload: refused before it is read.
	big := bytes.Repeat([]byte("A"), 2<<20)
	b.upload("/orgs/acme/reserve/review", url.Values{"csrf": {tok}, "account": {"plant"}}, big).want(t, http.StatusRequestEntityTooLarge, "larger than 1 MiB")
	b.post("/orgs/acme/reserve", url.Values{"csrf": {tok}, "account": {"plant"}, "request": {string(big)}}).want(t, http.StatusRequestEntityTooLarge)
	if d.historyLen() != before || d.balance("acme/plant", camera) != [4]int64{25, 25, 0, 0} {
		t.Fatal("a hostile request changed the ledger")
	}
}

// TestAdministratorsStayInTheirOrganization: acme's administrator cannot
// reserve from globex, nor confirm a code of globex's instance from
// acme's pages, nor see globex's answer to a request again.
func TestAdministratorsStayInTheirOrganization(t *testing.T) {
	d := newDesk(t)
	g, gtok := d.signedIn(gus)
	v := d.device("cam-g", d.f.Authority)
	code := v.request(lic(camera, 2))
	req := typed(codes.KindRequest, code)
	r := g.post("/orgs/globex/reserve", url.Values{"csrf": {gtok}, "account": {"hq"}, "request": {req}})
	r.want(t, 200)
	bin, _ := codes.DecodeKind([]byte(extractTyped(t, r.body)), codes.KindAuthorization)
	a, err := codes.OpenAuthorization(bin, d.f.Trust)
	d.must(err)

	b, tok := d.signedIn(ann)
	before := d.historyLen()
	b.post("/orgs/globex/reserve", url.Values{"csrf": {tok}, "account": {"hq"}, "request": {typed(codes.KindRequest, v.request(lic(camera, 1)))}}).want(t, 403)
	// globex's request pasted into acme: its answer is not shown again.
	for _, path := range []string{"/orgs/acme/reserve/review", "/orgs/acme/reserve", "/orgs/acme/reserve/download"} {
		r := b.post(path, url.Values{"csrf": {tok}, "account": {"plant"}, "request": {req}})
		r.want(t, 403, "another organization")
		if strings.Contains(r.body, hexHash(bin)) || strings.Contains(strings.ReplaceAll(r.body, r.token(), ""), "hq") {
			t.Fatalf("%s shows globex's answer:\n%s", path, r.body)
		}
	}
	cf := typed(codes.KindConfirmation, v.confirm(a.Reservation, 1))
	b.post("/orgs/acme/confirm", url.Values{"csrf": {tok}, "code": {cf}}).want(t, 403, "another organization")
	rt := typed(codes.KindReturn, v.ret(a.Reservation, 1))
	b.post("/orgs/acme/return", url.Values{"csrf": {tok}, "code": {rt}}).want(t, 403, "another organization")
	if d.historyLen() != before || d.balance("globex/hq", camera) != [4]int64{5, 3, 2, 0} {
		t.Fatal("acme's administrator changed globex")
	}
	// globex's administrator confirms it.
	g.post("/orgs/globex/confirm", url.Values{"csrf": {gtok}, "code": {cf}}).want(t, 200, "Confirmed")
}

// TestTemplatesEscapeHostileNames: a person named with markup, an
// instance whose serial number is markup, and an organization path of
// markup are shown as text.
func TestTemplatesEscapeHostileNames(t *testing.T) {
	d := newDesk(t)
	b, tok := d.signedIn(mal)
	r := b.get("/orgs/acme/licenses")
	r.want(t, 200, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;")
	v := d.device(`<img/src=x/onerror=alert(1)>`, d.f.Authority)
	req := typed(codes.KindRequest, v.request(lic(camera, 1)))
	for _, r := range []*resp{
		b.post("/orgs/acme/reserve/review", url.Values{"csrf": {tok}, "account": {"plant"}, "request": {req}}),
		b.post("/orgs/acme/reserve", url.Values{"csrf": {tok}, "account": {"plant"}, "request": {req}}),
		b.get("/orgs/" + url.PathEscape(`<b>"x"</b>`) + "/licenses"),
		b.get("/orgs/acme/licenses"),
	} {
		for _, raw := range []string{"<script", "<img", "<b>"} {
			if strings.Contains(r.body, raw) {
				t.Fatalf("unescaped %q (status %d):\n%s", raw, r.StatusCode, r.body)
			}
		}
	}
	b.post("/orgs/acme/reserve", url.Values{"csrf": {tok}, "account": {"plant"}, "request": {req}}).want(t, 200, "&lt;img/src=x/onerror=alert(1)&gt;")
}

func hash(b []byte) []byte { h := sha256.Sum256(b); return h[:] }

func hexHash(b []byte) string { return hex.EncodeToString(hash(b)) }

// extractTyped returns the typed authorization code of a reserved page.
func extractTyped(t *testing.T, body string) string {
	t.Helper()
	_, rest, ok := strings.Cut(body, `id="typed"`)
	if !ok {
		t.Fatalf("no typed code:\n%s", body)
	}
	_, rest, _ = strings.Cut(rest, ">")
	code, _, _ := strings.Cut(rest, "</textarea>")
	return strings.TrimSpace(code)
}

func b64decode(s string) ([]byte, error) {
	return base64RawURL.DecodeString(s)
}

func httpRequest(method, path string, form url.Values) *http.Request {
	r, _ := http.NewRequest(method, "https://portal.example"+path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

var base64RawURL = base64.RawURLEncoding

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
