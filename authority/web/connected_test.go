package web_test

import (
	"bytes"
	"crypto/sha256"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/authority/store"
	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/codes/api"
)

var connTokenRE = regexp.MustCompile(`TK-[0-9A-Z]+-[0-9A-Z]+-[0-9A-Z]+`)
var connIDRE = regexp.MustCompile(`name="id" value="([0-9a-f]{16})"`)

// connRegister registers a device in connected mode with tok, asking for
// want, as an instance does over HTTPS.
func connRegister(t *testing.T, d *desk, tok string, v *device, want ...codes.License) {
	t.Helper()
	_, err := d.l.RegisterConnected(ctx, api.RegisterRequest{Token: tok, Request: v.request(want...), Hostname: "cam.plant.example", Addresses: []string{"192.0.2.7"}})
	d.must(err)
}

// connState is what a refused request of the connected pages leaves as
// it was.
func connState(d *desk) [2]any {
	return [2]any{d.historyLen(), d.balance("acme/plant", camera)}
}

// TestConnectedTokensAndInstances: an administrator makes a registration
// token (shown once), an instance registers with it, the page lists both
// and shows the instance; the token is revoked after a review.
func TestConnectedTokensAndInstances(t *testing.T) {
	d := newDesk(t)
	b, tok := d.signedIn(ann)
	b.get("/orgs/acme/connected").want(t, http.StatusOK, "Registration tokens", "No registration token yet.", "Make the token", `name="account"`, "No instance registered")
	before := d.historyLen()
	r := b.post("/orgs/acme/connected/tokens", url.Values{"csrf": {tok}, "account": {"plant"}, "expires": {"2027-06-30"}, "uses": {"5"}, "export": {"deny"}})
	r.want(t, http.StatusOK, "Copy the token now", "acme/plant", "2027-06-30", "withheld")
	typed := connTokenRE.FindString(r.body)
	if typed == "" {
		t.Fatalf("no token on the page:\n%s", r.body)
	}
	if d.historyLen() != before+1 {
		t.Fatalf("history %d, want %d", d.historyLen(), before+1)
	}
	list := b.get("/orgs/acme/connected")
	list.want(t, http.StatusOK, "active", "0 of 5", "Revoke…")
	if strings.Contains(list.body, typed) {
		t.Fatal("the list shows the token itself")
	}
	id := connIDRE.FindStringSubmatch(list.body)[1]

	v := d.device("cam-1", d.f.Authority)
	connRegister(t, d, typed, v, lic(camera, 2))
	list = b.get("/orgs/acme/connected")
	list.want(t, http.StatusOK, v.udi.String(), "registered", "1 of 5", "cam.plant.example")
	b.get("/orgs/acme/connected/show?udi="+url.QueryEscape(v.udi.String())).want(t, http.StatusOK, "2 vms.camera.core", id, "connected register", "Connected-mode history")
	if got := d.balance("acme/plant", camera); got[2] != 2 {
		t.Fatalf("plant reserves %v after the registration", got)
	}

	// Revoke, reviewed first.
	before = d.historyLen()
	b.post("/orgs/acme/connected/tokens/revoke/review", url.Values{"csrf": {tok}, "id": {id}}).want(t, http.StatusOK, "Revoke the token for good", id)
	if d.historyLen() != before {
		t.Fatal("the review changed the ledger")
	}
	b.post("/orgs/acme/connected/tokens/revoke", url.Values{"csrf": {tok}, "id": {id}}).want(t, http.StatusOK, "is revoked")
	b.get("/orgs/acme/connected").want(t, http.StatusOK, "revoked "+t0.Format(time.DateOnly))
	r = b.post("/orgs/acme/connected/tokens/revoke", url.Values{"csrf": {tok}, "id": {id}})
	r.want(t, http.StatusConflict, "was revoked")
}

// TestConnectedRefusals: a viewer reads but changes nothing; another
// organization's administrator learns nothing of acme's tokens and
// instances; a POST without its token, and hostile input, change
// nothing.
func TestConnectedRefusals(t *testing.T) {
	d := newDesk(t)
	typed, tk, err := d.l.As(vera).CreateToken(ctx, authority.TokenSpec{Account: "acme/plant", ExportAllowed: true})
	d.must(err)
	v := d.device("cam-2", d.f.Authority)
	connRegister(t, d, typed, v, lic(camera, 1))
	udi := url.QueryEscape(v.udi.String())
	before := connState(d)

	vb, vtok := d.signedIn(vic)
	r := vb.get("/orgs/acme/connected")
	r.want(t, http.StatusOK, tk.ID(), v.udi.String())
	if strings.Contains(r.body, "Make the token") || strings.Contains(r.body, "Revoke…") {
		t.Fatal("a viewer is shown the forms")
	}
	vb.get("/orgs/acme/connected/show?udi="+udi).want(t, http.StatusOK, v.udi.String())
	vb.post("/orgs/acme/connected/tokens", url.Values{"csrf": {vtok}, "account": {"plant"}}).want(t, http.StatusForbidden, "viewer")
	vb.post("/orgs/acme/connected/tokens/revoke/review", url.Values{"csrf": {vtok}, "id": {tk.ID()}}).want(t, http.StatusForbidden)
	vb.post("/orgs/acme/connected/tokens/revoke", url.Values{"csrf": {vtok}, "id": {tk.ID()}}).want(t, http.StatusForbidden)

	gb, gtok := d.signedIn(gus)
	gb.get("/orgs/acme/connected").want(t, http.StatusForbidden)
	gb.get("/orgs/acme/connected/show?udi="+udi).want(t, http.StatusForbidden)
	gb.post("/orgs/acme/connected/tokens", url.Values{"csrf": {gtok}, "account": {"plant"}}).want(t, http.StatusForbidden)
	gb.post("/orgs/acme/connected/tokens/revoke", url.Values{"csrf": {gtok}, "id": {tk.ID()}}).want(t, http.StatusForbidden)
	// Through globex's own pages: acme's token and instance are refused
	// in the words of ones that do not exist.
	mine := gb.post("/orgs/globex/connected/tokens/revoke", url.Values{"csrf": {gtok}, "id": {tk.ID()}})
	none := gb.post("/orgs/globex/connected/tokens/revoke", url.Values{"csrf": {gtok}, "id": {"0123456789abcdef"}})
	mine.want(t, http.StatusNotFound, "has no registration token")
	none.want(t, http.StatusNotFound, "has no registration token")
	if strings.Replace(mine.body, tk.ID(), "0123456789abcdef", -1) != none.body {
		t.Fatalf("another organization's token is told apart from none:\n%s\n%s", mine.body, none.body)
	}
	gb.post("/orgs/globex/connected/tokens/revoke/review", url.Values{"csrf": {gtok}, "id": {tk.ID()}}).want(t, http.StatusNotFound)
	gb.post("/orgs/globex/connected/tokens", url.Values{"csrf": {gtok}, "account": {"plant"}}).want(t, http.StatusNotFound)
	other := d.device("cam-none", d.f.Authority)
	mine = gb.get("/orgs/globex/connected/show?udi=" + udi)
	none = gb.get("/orgs/globex/connected/show?udi=" + url.QueryEscape(other.udi.String()))
	mine.want(t, http.StatusNotFound, "has no instance")
	none.want(t, http.StatusNotFound, "has no instance")
	if strings.Replace(mine.body, v.udi.String(), other.udi.String(), -1) != none.body {
		t.Fatalf("another organization's instance is told apart from none:\n%s\n%s", mine.body, none.body)
	}
	if strings.Contains(gb.get("/orgs/globex/connected").body, v.udi.String()) {
		t.Fatal("globex's page lists acme's instance")
	}

	b, tok := d.signedIn(ann)
	b.post("/orgs/acme/connected/tokens", url.Values{"account": {"plant"}}).want(t, http.StatusForbidden, "no valid security token")
	b.post("/orgs/acme/connected/tokens/revoke", url.Values{"id": {tk.ID()}}).want(t, http.StatusForbidden, "no valid security token")
	for _, f := range []url.Values{
		{"account": {hostileName}},
		{"account": {"hq"}},
		{"account": {"plant"}, "uses": {"-1"}},
		{"account": {"plant"}, "uses": {"lots"}},
		{"account": {"plant"}, "uses": {"99999999999999999999"}},
		{"account": {"plant"}, "expires": {"<b>soon</b>"}},
		{"account": {"plant"}, "expires": {"2020-01-01"}},
		{"account": {"plant"}, "expires": {strings.Repeat("9", 5000)}},
	} {
		f.Set("csrf", tok)
		r := b.post("/orgs/acme/connected/tokens", f)
		if r.StatusCode < 400 || r.StatusCode >= 500 || strings.Contains(r.body, "<script>") || strings.Contains(r.body, "<b>soon") {
			t.Fatalf("%v: status %d\n%s", f, r.StatusCode, r.body)
		}
	}
	for _, id := range []string{"<script>x</script>", "", strings.Repeat("a", 100000), typed} {
		r := b.post("/orgs/acme/connected/tokens/revoke", url.Values{"csrf": {tok}, "id": {id}})
		if r.StatusCode < 400 || r.StatusCode >= 500 || strings.Contains(r.body, "<script>x") {
			t.Fatalf("id %.40q: status %d\n%s", id, r.StatusCode, r.body)
		}
	}
	for _, q := range []string{"", "%3Cscript%3E", strings.Repeat("P", 5000)} {
		r := b.get("/orgs/acme/connected/show?udi=" + q)
		if r.StatusCode < 400 || r.StatusCode >= 500 || strings.Contains(r.body, "<script>") {
			t.Fatalf("udi %.40q: status %d\n%s", q, r.StatusCode, r.body)
		}
	}
	if got := connState(d); got != before {
		t.Fatalf("refused requests changed the ledger: %v, was %v", got, before)
	}
}

// TestDeskTierLadders: the vendor sets, lists and deletes a ladder (the
// deletion reviewed first); hostile input and everyone else are refused
// with nothing changed.
func TestDeskTierLadders(t *testing.T) {
	d := newDesk(t)
	b, tok := d.signedIn(vera)
	b.get("/desk/tiers").want(t, http.StatusOK, "No tier ladder yet.", "Set the tier ladder", `aria-current="page">Tier ladders`)
	r := b.post("/desk/tiers", url.Values{"csrf": {tok}, "name": {"vms"}, "tags": {"vms.essential\r\nvms.basic < vms.enhanced"}})
	r.want(t, http.StatusOK, "Tier ladder vms: vms.essential &lt; vms.basic &lt; vms.enhanced.")
	b.get("/desk/tiers").want(t, http.StatusOK, "vms.essential &lt; vms.basic &lt; vms.enhanced", "Delete…")

	before := d.historyLen()
	for _, f := range []url.Values{
		{"name": {hostileName}, "tags": {"a.b c.d"}},
		{"name": {"x"}, "tags": {"only.one"}},
		{"name": {"x"}, "tags": {strings.Repeat("t.a ", 17)}},
		{"name": {"x"}, "tags": {strings.Repeat("y", 12000)}},
		{"name": {"other"}, "tags": {"vms.basic vms.pro"}},
	} {
		f.Set("csrf", tok)
		r := b.post("/desk/tiers", f)
		if r.StatusCode < 400 || r.StatusCode >= 500 || strings.Contains(r.body, "<script>") || strings.Contains(r.body, "<b>x") {
			t.Fatalf("%.60v: status %d\n%s", f, r.StatusCode, r.body)
		}
	}
	// Tags are printable ASCII but space and '=': markup is a tag,
	// shown escaped.
	r = b.post("/desk/tiers", url.Values{"csrf": {tok}, "name": {"x"}, "tags": {"<b>x</b>, c.d"}})
	r.want(t, http.StatusOK, "&lt;b&gt;x&lt;/b&gt; &lt; c.d")
	if strings.Contains(r.body, "<b>x") || strings.Contains(b.get("/desk/tiers").body, "<b>x") {
		t.Fatal("a tag's markup is not escaped")
	}
	before = d.historyLen()
	b.post("/desk/tiers/delete/review", url.Values{"csrf": {tok}, "name": {"nope"}}).want(t, http.StatusNotFound)
	b.post("/desk/tiers/delete", url.Values{"csrf": {tok}, "name": {"nope"}}).want(t, http.StatusNotFound)
	b.post("/desk/tiers", url.Values{"name": {"y"}, "tags": {"y.a y.b"}}).want(t, http.StatusForbidden, "no valid security token")
	for _, who := range []string{ann, vic, gus} {
		ob, otok := d.signedIn(who)
		ob.get("/desk/tiers").want(t, http.StatusForbidden, "The desk is for the vendor")
		ob.post("/desk/tiers", url.Values{"csrf": {otok}, "name": {"y"}, "tags": {"y.a y.b"}}).want(t, http.StatusForbidden)
		ob.post("/desk/tiers/delete/review", url.Values{"csrf": {otok}, "name": {"vms"}}).want(t, http.StatusForbidden)
		ob.post("/desk/tiers/delete", url.Values{"csrf": {otok}, "name": {"vms"}}).want(t, http.StatusForbidden)
	}
	if d.historyLen() != before {
		t.Fatal("refused requests changed the ledger")
	}

	b.post("/desk/tiers/delete/review", url.Values{"csrf": {tok}, "name": {"vms"}}).want(t, http.StatusOK, "Delete the tier ladder", "vms.essential &lt; vms.basic")
	if d.historyLen() != before {
		t.Fatal("the review changed the ledger")
	}
	b.post("/desk/tiers/delete", url.Values{"csrf": {tok}, "name": {"vms"}}).want(t, http.StatusOK, "Tier ladder vms deleted")
	if strings.Contains(b.get("/desk/tiers").body, "vms.essential") {
		t.Fatal("the ladder deleted is listed")
	}
}

// A connSite is a satellite's ledger on the desk's clock.
type connSite struct {
	l     *authority.Ledger
	trust []byte // armored
	key   *codes.AuthorityKey
}

func connNewSite(t *testing.T, d *desk, name string) *connSite {
	t.Helper()
	seed := sha256.Sum256([]byte("airlock web satellite key " + name))
	k, err := codes.GenerateAuthorityKey(bytes.NewReader(append(seed[:], seed[:]...)), time.Time{}, time.Time{})
	d.must(err)
	code, err := codes.SignTrustSet(&codes.TrustSet{Sequence: 1, Keys: []codes.AuthorityPublicKey{k.Public}, IssuedAt: t0.Unix() - 86400}, k)
	d.must(err)
	st, err := store.Open(t.TempDir()+"/"+authority.LedgerFile, store.Options{Create: true})
	d.must(err)
	t.Cleanup(func() { st.Close() })
	l := authority.New(st, authority.Options{Keys: []*codes.AuthorityKey{k}, Actor: "site operator", Now: d.clk.Now})
	d.must(l.Init(ctx, name))
	d.must(l.InitSatellite(ctx, d.f.TrustFile))
	return &connSite{l: l, trust: codes.EncodeArmor(codes.KindTrustUpdate, code), key: k}
}

var connHiddenRE = regexp.MustCompile(`name="request" value="([^"]+)"`)
var connAnswerRE = regexp.MustCompile(`(?s)<textarea id="answer"[^>]*>([^<]+)</textarea>`)

// TestDeskSatellites: the vendor adds a satellite by its trust file,
// answers its sync request (upload, review, answer, download) which the
// satellite imports, delegates and takes back an account, and removes
// it, each removal reviewed first.
func TestDeskSatellites(t *testing.T) {
	d := newDesk(t)
	site := connNewSite(t, d, "ship-sat")
	b, tok := d.signedIn(vera)
	b.get("/desk/satellites").want(t, http.StatusOK, "No satellite yet.", "Add the satellite", "Review the sync request", `aria-current="page">Satellites`)

	r := b.upload("/desk/satellites", url.Values{"csrf": {tok}, "name": {"ship-sat"}, "account": {"acme/lab"}}, site.trust)
	r.want(t, http.StatusOK, "Satellite ship-sat registered; acme/lab delegated to it.", site.key.ID().String(), "Delegate the accounts")
	b.get("/desk/satellites").want(t, http.StatusOK, "ship-sat", "acme/lab", "never")
	// acme's people see where acme/lab's licenses are reserved now.
	ab, _ := d.signedIn(ann)
	lp := ab.get("/orgs/acme/licenses")
	lp.want(t, http.StatusOK, "Delegated to satellite ship-sat since")
	if strings.Count(lp.body, "Delegated to satellite") != 1 {
		t.Error("an account not delegated is said to be")
	}
	// acme/lab is ship-sat's now: no form offers it again.
	for _, page := range []string{"/desk/satellites", "/desk/satellites/show?name=ship-sat"} {
		body := b.get(page).body
		if strings.Contains(body, `<option value="acme/lab">`) || !strings.Contains(body, `<option value="acme/plant">`) {
			t.Errorf("%s offers to delegate acme/lab again, or not acme/plant", page)
		}
	}

	// A sync by files.
	ex, err := site.l.ExportSync(ctx)
	d.must(err)
	before := d.historyLen()
	r = b.upload("/desk/satellites/sync/review", url.Values{"csrf": {tok}}, codes.EncodeArmor(codes.KindSyncRequest, ex.Code))
	r.want(t, http.StatusOK, "Answer the sync request", "ship-sat", "none yet", "acme/lab")
	if d.historyLen() != before {
		t.Fatal("the review changed the ledger")
	}
	req := connHiddenRE.FindStringSubmatch(r.body)[1]
	r = b.post("/desk/satellites/sync/answer", url.Values{"csrf": {tok}, "request": {req}})
	r.want(t, http.StatusOK, "Answered sync request 1 of satellite ship-sat", "Download the answer file")
	answer := connAnswerRE.FindStringSubmatch(r.body)[1]
	dl := b.post("/desk/satellites/sync/download", url.Values{"csrf": {tok}, "answer": {strings.ReplaceAll(answer, "\n", "\r\n")}})
	dl.want(t, http.StatusOK, "-----BEGIN AIRLOCK SYNC ANSWER-----")
	if cd := dl.Header.Get("Content-Disposition"); cd != `attachment; filename="sync-1.answer.airlock"` {
		t.Fatalf("Content-Disposition %q", cd)
	}
	got, err := codes.DecodeKind([]byte(dl.body), codes.KindSyncAnswer)
	d.must(err)
	if _, err := site.l.ImportSync(ctx, got); err != nil {
		t.Fatalf("the satellite does not import the answer downloaded: %v", err)
	}
	b.get("/desk/satellites/show?name=ship-sat").want(t, http.StatusOK, "request 1, answered", "What ship-sat reported")

	// Replayed, wrong kind, not a code, pasted with CRLF: refused, nothing changed.
	before = d.historyLen()
	b.post("/desk/satellites/sync/answer", url.Values{"csrf": {tok}, "request": {req}}).want(t, http.StatusConflict)
	b.upload("/desk/satellites/sync/review", url.Values{"csrf": {tok}}, site.trust).want(t, http.StatusBadRequest, "Wrong kind of code")
	b.upload("/desk/satellites/sync/review", url.Values{"csrf": {tok}}, []byte("<script>alert(1)</script>")).want(t, http.StatusBadRequest)
	b.upload("/desk/satellites/sync/review", url.Values{"csrf": {tok}}, bytes.Repeat([]byte("A"), 20000)).want(t, http.StatusBadRequest)
	b.upload("/desk/satellites/sync/review", url.Values{"csrf": {tok}}, bytes.Repeat([]byte("A"), 2<<20)).want(t, http.StatusRequestEntityTooLarge, "larger than 1 MiB")
	b.post("/desk/satellites/sync/download", url.Values{"csrf": {tok}, "answer": {req}}).want(t, http.StatusBadRequest, "Wrong kind of code")
	ex2, err := site.l.ExportSync(ctx)
	d.must(err)
	armored := strings.ReplaceAll(string(codes.EncodeArmor(codes.KindSyncRequest, ex2.Code)), "\n", "\r\n")
	b.post("/desk/satellites/sync/review", url.Values{"csrf": {tok}, "request": {armored}}).want(t, http.StatusOK, "Answer the sync request", "request 1,")
	if d.historyLen() != before {
		t.Fatal("refused sync files changed the ledger")
	}

	// Hostile additions.
	for _, f := range []url.Values{
		{"name": {hostileName}, "account": {"acme/plant"}},
		{"name": {"ship-sat"}, "account": {"acme/plant"}},
		{"name": {"other"}, "account": {"acme/lab"}},
		{"name": {"other"}, "account": {"acme/<b>x</b>"}},
		{"name": {"other"}},
	} {
		f.Set("csrf", tok)
		r := b.upload("/desk/satellites", f, site.trust)
		if r.StatusCode < 400 || r.StatusCode >= 500 || strings.Contains(r.body, "<script>") || strings.Contains(r.body, "<b>x") {
			t.Fatalf("%v: status %d\n%s", f, r.StatusCode, r.body)
		}
	}
	b.upload("/desk/satellites", url.Values{"csrf": {tok}, "name": {"other"}, "account": {"globex/hq"}}, d.f.TrustFile).want(t, http.StatusBadRequest)
	b.get("/desk/satellites/show?name=%3Cscript%3E").want(t, http.StatusBadRequest)
	b.get("/desk/satellites/show?name=nope").want(t, http.StatusNotFound)
	if d.historyLen() != before {
		t.Fatal("refused additions changed the ledger")
	}

	// Everyone else, and a POST without its token.
	for _, who := range []string{ann, vic, gus} {
		ob, otok := d.signedIn(who)
		for _, p := range []string{"/desk/satellites", "/desk/satellites/show?name=ship-sat"} {
			ob.get(p).want(t, http.StatusForbidden, "The desk is for the vendor")
		}
		ob.upload("/desk/satellites", url.Values{"csrf": {otok}, "name": {"x"}, "account": {"globex/hq"}}, site.trust).want(t, http.StatusForbidden)
		ob.post("/desk/satellites/sync/answer", url.Values{"csrf": {otok}, "request": {req}}).want(t, http.StatusForbidden)
		ob.post("/desk/satellites/remove", url.Values{"csrf": {otok}, "name": {"ship-sat"}}).want(t, http.StatusForbidden)
		ob.post("/desk/satellites/delegate", url.Values{"csrf": {otok}, "name": {"ship-sat"}, "account": {"acme/plant"}}).want(t, http.StatusForbidden)
	}
	b.post("/desk/satellites/remove", url.Values{"name": {"ship-sat"}}).want(t, http.StatusForbidden, "no valid security token")
	b.post("/desk/satellites/delegate", url.Values{"name": {"ship-sat"}, "account": {"acme/plant"}}).want(t, http.StatusForbidden, "no valid security token")
	if d.historyLen() != before {
		t.Fatal("refused requests changed the ledger")
	}

	// Delegate, take back (reviewed), remove (reviewed).
	b.post("/desk/satellites/delegate", url.Values{"csrf": {tok}, "name": {"ship-sat"}, "account": {"acme/plant"}}).want(t, http.StatusOK, "acme/plant delegated to satellite ship-sat")
	b.post("/desk/satellites/remove/review", url.Values{"csrf": {tok}, "name": {"ship-sat"}, "account": {"acme/plant"}}).want(t, http.StatusOK, "Take the accounts back", "used twice")
	b.post("/desk/satellites/remove/review", url.Values{"csrf": {tok}, "name": {"ship-sat"}, "account": {"globex/hq"}}).want(t, http.StatusNotFound)
	b.post("/desk/satellites/remove", url.Values{"csrf": {tok}, "name": {"ship-sat"}, "account": {"acme/plant"}}).want(t, http.StatusOK, "acme/plant taken back from satellite ship-sat")
	before = d.historyLen()
	b.post("/desk/satellites/remove/review", url.Values{"csrf": {tok}, "name": {"ship-sat"}}).want(t, http.StatusOK, "Remove the satellite for good", "acme/lab")
	if d.historyLen() != before {
		t.Fatal("the review changed the ledger")
	}
	b.post("/desk/satellites/remove", url.Values{"csrf": {tok}, "name": {"ship-sat"}}).want(t, http.StatusOK, "Satellite ship-sat removed", "acme/lab taken back")
	b.get("/desk/satellites").want(t, http.StatusOK, "removed "+t0.Format(time.DateOnly))
}

// TestDeskSatelliteTrustUpdate: after the satellite rotated its key, the
// vendor installs its trust update; an update not signed by a key known
// for it, or not newer, is refused with nothing changed.
func TestDeskSatelliteTrustUpdate(t *testing.T) {
	d := newDesk(t)
	site := connNewSite(t, d, "ship-sat")
	d.must(func() error {
		_, err := d.l.As(vera).AddSatellite(ctx, "ship-sat", site.trust, []string{"acme/lab"})
		return err
	}())
	seed := sha256.Sum256([]byte("airlock web satellite key ship-sat, rotated"))
	k2, err := codes.GenerateAuthorityKey(bytes.NewReader(append(seed[:], seed[:]...)), time.Time{}, time.Time{})
	d.must(err)
	update := func(seq uint64, by *codes.AuthorityKey) []byte {
		code, err := codes.SignTrustSet(&codes.TrustSet{Sequence: seq, Keys: []codes.AuthorityPublicKey{site.key.Public, k2.Public}, IssuedAt: t0.Unix() - 60}, by)
		d.must(err)
		return codes.EncodeArmor(codes.KindTrustUpdate, code)
	}
	b, tok := d.signedIn(vera)
	b.get("/desk/satellites/show?name=ship-sat").want(t, http.StatusOK, "Install the trust update", "Remove the satellite…")
	before := d.historyLen()
	for _, f := range [][]byte{update(2, k2), update(1, site.key), d.f.TrustFile, []byte("<i>not a file</i>")} {
		r := b.upload("/desk/satellites/trust", url.Values{"csrf": {tok}, "name": {"ship-sat"}}, f)
		if r.StatusCode < 400 || r.StatusCode >= 500 || strings.Contains(r.body, "<i>not") {
			t.Fatalf("status %d\n%s", r.StatusCode, r.body)
		}
	}
	gb := d.browser("192.0.2.11")
	gtok := gb.signIn(gus)
	gb.upload("/desk/satellites/trust", url.Values{"csrf": {gtok}, "name": {"ship-sat"}}, update(2, site.key)).want(t, http.StatusForbidden)
	b.upload("/desk/satellites/trust", url.Values{"name": {"ship-sat"}}, update(2, site.key)).want(t, http.StatusForbidden, "no valid security token")
	if d.historyLen() != before {
		t.Fatal("refused trust updates changed the ledger")
	}
	b.upload("/desk/satellites/trust", url.Values{"csrf": {tok}, "name": {"ship-sat"}}, update(2, site.key)).want(t, http.StatusOK,
		"Trust update 2 of satellite ship-sat installed", k2.ID().String())
}
