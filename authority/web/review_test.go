package web_test

import (
	"encoding/binary"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
)

// Tests of the defects a review of the portal found between its parts,
// each named after what it blocks.

var (
	idRE       = regexp.MustCompile(`\sid="([^"]*)"`)
	labelForRE = regexp.MustCompile(`<label\b[^>]*\sfor="([^"]*)"`)
	controlRE  = regexp.MustCompile(`<(input|select|textarea)\b([^>]*)>`)
	typeRE     = regexp.MustCompile(`\stype="(hidden|submit|button)"`)
)

// pageDefects lists what a page breaks of the portal's rules for every
// page: an id given twice, a label for no id of the page, a form control
// no label names, not exactly one <h1>, a table without a caption.
func pageDefects(body string) []string {
	var out []string
	ids := map[string]int{}
	for _, m := range idRE.FindAllStringSubmatch(body, -1) {
		ids[m[1]]++
	}
	for id, n := range ids {
		if n > 1 {
			out = append(out, fmt.Sprintf("id %q given %d times", id, n))
		}
	}
	labelled := map[string]bool{}
	for _, m := range labelForRE.FindAllStringSubmatch(body, -1) {
		labelled[m[1]] = true
		if ids[m[1]] == 0 {
			out = append(out, fmt.Sprintf("label for %q, which no element has as id", m[1]))
		}
	}
	for _, m := range controlRE.FindAllStringSubmatch(body, -1) {
		if m[1] == "input" && typeRE.MatchString(m[2]) || strings.Contains(m[2], "aria-label") {
			continue
		}
		id := idRE.FindStringSubmatch(m[2])
		if id == nil || !labelled[id[1]] {
			out = append(out, fmt.Sprintf("no label names <%s%s>", m[1], m[2]))
		}
	}
	if n := strings.Count(body, "<h1"); n != 1 {
		out = append(out, fmt.Sprintf("%d <h1> elements", n))
	}
	if t, c := strings.Count(body, "<table"), strings.Count(body, "<caption"); t != c {
		out = append(out, fmt.Sprintf("%d tables, %d captions", t, c))
	}
	return out
}

// wantWellFormed checks a page with pageDefects.
func (r *resp) wantWellFormed(t *testing.T, what string) {
	t.Helper()
	if ds := pageDefects(r.body); len(ds) > 0 {
		t.Errorf("%s: %s", what, strings.Join(ds, "; "))
	}
}

// TestWalletIDsStayUniqueWhateverTheProductName: each product's section
// on the wallet page has the id product-NAME (the add-product redirect
// and the subscriptions page link to it), so the add-product form's text
// boxes must not have ids of that shape: a product named "name" or
// "software" gave its section the id of a text box, and the box's label
// named two elements.
func TestWalletIDsStayUniqueWhateverTheProductName(t *testing.T) {
	d := newDesk(t)
	for _, name := range []string{"name", "software", "site-1"} {
		_, err := d.l.As(ann).AddProduct(ctx, "acme", name, "vms")
		d.must(err)
	}
	b, _ := d.signedIn(ann)
	r := b.get("/orgs/acme/wallet")
	r.want(t, http.StatusOK, `id="product-name"`, `id="product-software"`, "Add a product")
	r.wantWellFormed(t, "wallet")
	b.get("/orgs/acme/subscriptions").wantWellFormed(t, "subscriptions")
}

// TestTooLargeFormsSayTheirOwnBound: a form of the desk or the sign-in
// page is read up to 16 KiB, an organization's forms (which take code
// files) up to 1 MiB; the refusal of a larger one said "larger than 1
// MiB" for every form, so a desk form of 20 KB was refused for being
// larger than 1 MiB.
func TestTooLargeFormsSayTheirOwnBound(t *testing.T) {
	d := newDesk(t)
	b, tok := d.signedIn(vera)
	big := strings.Repeat("x", 20<<10)
	before := d.historyLen()
	r := b.post("/desk/keys", url.Values{"csrf": {tok}, "software": {"vms"}, "kind": {"extension"}, "lines": {big}})
	r.want(t, http.StatusRequestEntityTooLarge, "larger than 16 KiB, so it was not read")
	if strings.Contains(r.body, "1 MiB") || strings.Contains(r.body, "request code file") {
		t.Errorf("the desk's refusal names the bound of the organizations' forms:\n%s", r.body)
	}
	b.post("/orgs/acme/serials/field", url.Values{"csrf": {tok}, "key": {"0123456789abcdef"}, "name": {"site"}, "value": {strings.Repeat(big, 60)}}).
		want(t, http.StatusRequestEntityTooLarge, "larger than 1 MiB, so it was not read")
	if d.historyLen() != before {
		t.Fatal("a refused form changed the ledger")
	}
}

var deviceLinkRE = regexp.MustCompile(`<th scope="row"><a href="([^"]+)">([^<]+)</a></th>`)

// dotSegments reports whether a path has a segment a browser resolves
// away before it asks for it: "." or "..", percent-encoded or not (the
// WHATWG URL standard reads %2e as a dot there).
func dotSegments(p string) bool {
	for _, seg := range strings.Split(strings.ToLower(p), "/") {
		if seg = strings.ReplaceAll(seg, "%2e", "."); seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// TestDevicePagesOfDotNamedDevicesAreReachable: a device key (or a
// product key) may be "." or ".." or start with a dot, as a gateway
// reports it. Its page's address put the key as a path segment, which a
// browser resolves away (and the server redirects away), so such a
// device's page, with its forms and its deletion, could not be opened;
// and a switch on the page of a device whose key starts with a dot went
// back to the list rather than to the page.
func TestDevicePagesOfDotNamedDevicesAreReachable(t *testing.T) {
	d := fleetDesk(t)
	fleetActivate(d, d.device("gw-acme", d.f.Authority), map[string][]string{"PK-CAM": {"..", ".", ".cam"}})
	b, tok := d.signedIn(ann)
	links := map[string]string{}
	for _, m := range deviceLinkRE.FindAllStringSubmatch(b.get("/orgs/acme/devices?product=PK-CAM&size=100").body, -1) {
		links[html.UnescapeString(m[2])] = html.UnescapeString(m[1])
	}
	for _, dk := range []string{"..", ".", ".cam", "cam-001"} {
		href := links[dk]
		u, err := url.Parse(href)
		if err != nil || href == "" || dotSegments(u.EscapedPath()) {
			t.Errorf("device %q: link %q has a segment a browser drops", dk, href)
			continue
		}
		page := b.get(href)
		page.want(t, http.StatusOK, "<dt>Device key</dt><dd><code>"+html.EscapeString(dk)+"</code></dd>", "Delete device "+html.EscapeString(dk))
		m := regexp.MustCompile(`name="back" value="([^"]+)"`).FindStringSubmatch(page.body)
		if m == nil {
			t.Fatalf("device %q: no switch on its page", dk)
		}
		back := html.UnescapeString(m[1])
		r := b.post("/orgs/acme/devices/blocklist", url.Values{"csrf": {tok}, "product": {"PK-CAM"}, "dk": {dk}, "blocked": {"on"}, "back": {back}})
		r.wantRedirect(t, back)
		b.get(back).want(t, http.StatusOK, "<dt>On the blocklist</dt><dd>yes</dd>")
		del := b.post("/orgs/acme/devices/delete", url.Values{"csrf": {tok}, "product": {"PK-CAM"}, "dk": {dk}})
		if loc := del.Header.Get("Location"); del.StatusCode != http.StatusSeeOther || dotSegments(loc) {
			t.Errorf("device %q: deleted to %d %q", dk, del.StatusCode, loc)
		}
		b.get(del.Header.Get("Location")).want(t, http.StatusOK, "<dd>deleted</dd>")
	}
}

// TestACorruptStoredCodeIsAnInternalError: the instance page reads the
// live reservation's latest code, which the ledger signed and stored
// itself, for the update form. When it does not parse, the ledger is
// corrupt: that is the desk's failure (500, logged, no detail), not a
// refusal of what the person gave; it was shown as "Not a code" (400),
// with the decoder's words and a hint to paste the code again.
func TestACorruptStoredCodeIsAnInternalError(t *testing.T) {
	f := newInstancesFixture(t)
	d := f.d
	res := binary.BigEndian.Uint32(f.res.Authorization.Reservation)
	garbage := []byte("not a code")
	d.must(d.l.Store().Update(ctx, func(tx authority.Tx) error {
		return tx.InsertIssued(&authority.Issued{Reservation: res, Serial: 2, Code: garbage, Hash: hash(garbage), IssuedAt: t0.Unix(), InstallBy: t0.Unix() + 86400})
	}))
	b, _ := d.signedIn(ann)
	r := b.get(f.url)
	r.want(t, http.StatusInternalServerError, "Something failed inside the licensing desk.")
	if strings.Contains(r.body, "malformed") || strings.Contains(r.body, "Paste the whole code") {
		t.Fatalf("the page shows the decoder's refusal:\n%s", r.body)
	}
}

// TestShortfallsOutsideAccountsSayWhatIsShort: a wallet too small for an
// allocation, and a draw past an agreement's cap, are kinds of "not
// enough licenses", which the portal's one table titled as an account's
// shortage, with the hint to look at the licenses page and transfer
// licenses between accounts: neither helps. Each has its own title and
// hint, and its message does not say "not enough licenses" again.
func TestShortfallsOutsideAccountsSayWhatIsShort(t *testing.T) {
	d, b, tok := walletSubsDesk(t)
	_, err := d.l.As(vera).StartSubscription(ctx, "acme", "site-1", false)
	d.must(err)
	r := b.post("/orgs/acme/subscriptions/allocate", url.Values{"csrf": {tok}, "product": {"site-1"}, "year": {"1"}, "count": {"500"}, "tag": {camera}, "step": {"do"}})
	r.want(t, http.StatusConflict, "<h1>Not enough in the wallet</h1>", "480 short", "redeem a license key")
	for _, wrong := range []string{"transfer licenses", "not enough licenses:"} {
		if strings.Contains(r.body, wrong) {
			t.Errorf("the wallet's shortfall says %q:\n%s", wrong, r.body)
		}
	}
	_, err = d.l.As(vera).CreateAgreement(ctx, authority.AgreementSpec{Org: "acme", Name: "ela", From: t0.Truncate(24 * time.Hour).Unix(), To: t0.Truncate(24*time.Hour).AddDate(1, 0, 0).Unix(),
		Caps: []authority.AgreementCap{{Software: "vms", Tag: camera, Cap: 5}}})
	d.must(err)
	before := d.historyLen()
	r = b.post("/orgs/acme/agreements/draw", url.Values{"csrf": {tok}, "agreement": {"ela"}, "tag": {camera}, "count": {"6"}})
	r.want(t, http.StatusConflict, "<h1>Over the agreement&#39;s cap</h1>", "5 left, 6 asked for")
	for _, wrong := range []string{"transfer licenses", "not enough licenses:"} {
		if strings.Contains(r.body, wrong) {
			t.Errorf("the agreement's cap says %q:\n%s", wrong, r.body)
		}
	}
	if d.historyLen() != before {
		t.Fatal("a refused draw changed the ledger")
	}
}
