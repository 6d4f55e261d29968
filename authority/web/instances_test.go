package web_test

import (
	"encoding/hex"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

// instancesFixture reserves 10 cameras and 2 analytics for acme's cam-1
// (from plant) and 1 camera for globex's cam-g, as their administrators.
type instancesFixture struct {
	d          *desk
	cam, camG  *device
	res, resG  *authority.Authorized
	url, urlG  string // the instance pages, under their own organization
	udi, udiG  string
	plantSeen  [4]int64
	globexSeen [4]int64
}

func newInstancesFixture(t *testing.T) *instancesFixture {
	t.Helper()
	d := newDesk(t)
	f := &instancesFixture{d: d, cam: d.device("cam-1", d.f.Authority), camG: d.device("cam-g", d.f.Authority)}
	var err error
	f.res, err = d.l.As(ann).ReserveIn(ctx, "acme", "plant", f.cam.request(lic(camera, 10), lic(analytics, 2)), nil)
	d.must(err)
	f.resG, err = d.l.As(gus).ReserveIn(ctx, "globex", "hq", f.camG.request(lic(camera, 1)), nil)
	d.must(err)
	f.udi, f.udiG = f.cam.udi.String(), f.camG.udi.String()
	f.url = "/orgs/acme/instances/" + url.PathEscape(f.udi)
	f.urlG = "/orgs/globex/instances/" + url.PathEscape(f.udiG)
	return f
}

// unchanged fails unless the history has n events and the balances are
// those of the fixture.
func (f *instancesFixture) unchanged(t *testing.T, what string, n int64) {
	t.Helper()
	if got := f.d.historyLen(); got != n {
		t.Fatalf("%s: the history grew from %d to %d events", what, n, got)
	}
	if b := f.d.balance("acme/plant", camera); b != [4]int64{25, 15, 10, 0} {
		t.Fatalf("%s: acme/plant cameras %v", what, b)
	}
	if b := f.d.balance("globex/hq", camera); b != [4]int64{5, 4, 1, 0} {
		t.Fatalf("%s: globex/hq cameras %v", what, b)
	}
}

var instanceLinkRE = regexp.MustCompile(`href="(/orgs/acme/instances/[^"]+)"`)

// TestInstancePagesShowTheOrganizationsInstances: the list links each
// instance by its escaped UDI; the instance's page shows its reservation,
// every code with its hash and a download of it, and its history; a
// viewer reads them without the forms; another organization's instance
// is refused in acme as an unknown one, to the vendor too.
func TestInstancePagesShowTheOrganizationsInstances(t *testing.T) {
	f := newInstancesFixture(t)
	d := f.d
	b, _ := d.signedIn(ann)
	list := b.get("/orgs/acme/instances")
	list.want(t, 200, "<caption>Instances of acme</caption>", "acme/plant", f.res.Reservation(), "10 vms.camera.core, 2 vms.analytics", `name="account"`, `id="system"`)
	if strings.Contains(list.body, f.udiG) {
		t.Fatal("acme's list shows globex's instance")
	}
	m := instanceLinkRE.FindStringSubmatch(list.body)
	if m == nil || m[1] != f.url || !strings.Contains(m[1], "%2CS:cam-1%2CU:") {
		t.Fatalf("link %v, want %s", m, f.url)
	}
	page := b.get(m[1])
	hash := hexHash(f.res.Code)
	page.want(t, 200, f.udi, "Reservation <code>"+f.res.Reservation()+"</code>", hash, "Download serial 1",
		`action="`+f.url+`/update/review"`, `name="count"`, `action="`+f.url+`/remove/review"`, "History of this instance in acme", ">reserve<")
	dl := b.get(f.url + "/codes/" + f.res.Reservation() + "/1")
	dl.want(t, 200)
	if cd := dl.Header.Get("Content-Disposition"); cd != `attachment; filename="authorization-`+f.res.Reservation()+`-1.airlock"` {
		t.Fatalf("Content-Disposition %q", cd)
	}
	if got, err := codes.DecodeKind([]byte(dl.body), codes.KindAuthorization); err != nil || hexHash(got) != hash {
		t.Fatalf("downloaded %v: %s", err, dl.body)
	}
	b.get(f.url+"/codes/"+f.res.Reservation()+"/7").want(t, 404)
	b.get(f.url+"/codes/00000000/1").want(t, 404)
	// A P:…,S:… part names it too.
	b.get("/orgs/acme/instances/"+url.PathEscape("P:VMS,S:cam-1")).want(t, 200, hash)

	v, _ := d.signedIn(vic)
	vp := v.get(f.url)
	vp.want(t, 200, hash, "Download serial 1")
	if strings.Contains(vp.body, "/update/review") || strings.Contains(vp.body, "/remove/review") || strings.Contains(v.get("/orgs/acme/instances").body, `id="system"`) {
		t.Fatal("a viewer is offered a change")
	}

	// Globex's instance, and one nobody has, in acme: the same refusal.
	theirs := b.get("/orgs/acme/instances/" + url.PathEscape(f.udiG))
	ghost := d.device("cam-nobody", d.f.Authority).udi.String()
	nobody := b.get("/orgs/acme/instances/" + url.PathEscape(ghost))
	theirs.want(t, 403)
	nobody.want(t, 403)
	if strings.ReplaceAll(theirs.body, f.udiG, "X") != strings.ReplaceAll(nobody.body, ghost, "X") {
		t.Fatalf("another organization's instance is told apart:\n%s\n%s", theirs.body, nobody.body)
	}
	b.get(f.urlG).want(t, 403)
	b.get(f.urlG+"/codes/"+f.resG.Reservation()+"/1").want(t, 403)
	vera, _ := d.signedIn(vera)
	vera.get("/orgs/acme/instances/"+url.PathEscape(f.udiG)).want(t, 404, "no instance")
	vera.get(f.urlG).want(t, 200, hexHash(f.resG.Code))
	g, _ := d.signedIn(gus)
	g.get("/orgs/acme/instances").want(t, 403)
	g.get(f.url).want(t, 403)
	b.get("/orgs/acme/instances/"+url.PathEscape("<script>x</script>")).want(t, 400, "&lt;script&gt;")
}

// TestUpdateFromTheInstancePage runs runbook 4 in the browser: change a
// count, review, issue, see the typed code and its hash, download the
// file, then enter the instance's confirmation code.
func TestUpdateFromTheInstancePage(t *testing.T) {
	f := newInstancesFixture(t)
	d := f.d
	b, tok := d.signedIn(ann)
	page := b.get(f.url)
	page.want(t, 200, `<input type="hidden" name="tag" value="vms.camera.core">`, `<label for="count-0">vms.camera.core (now 10)</label>`,
		`id="count-0" name="count"`, `id="new-tag" name="tag"`, "Review the update")
	// Cameras 10 → 4, analytics kept, no tag added.
	form := url.Values{"csrf": {tok}, "tag": {camera, analytics, ""}, "count": {"4", "2", ""}}
	rv := b.post(f.url+"/update/review", form)
	rv.want(t, 200, "What the update changes", "<td>vms.camera.core</td><td class=\"n\">10</td><td class=\"n\">4</td>", "none; 6 freed, in transition until confirmed", "serial 1 now, serial 2 next",
		`name="license" value="vms.camera.core=4"`, `name="serial" value="1"`, "Issue the updated authorization code")
	if strings.Contains(rv.body, "vms.analytics=") {
		t.Fatal("an unchanged tag is in the update")
	}
	before := d.historyLen()
	if d.balance("acme/plant", camera) != [4]int64{25, 15, 10, 0} || before != d.historyLen() {
		t.Fatal("the review changed something")
	}
	r := b.post(f.url+"/update", url.Values{"csrf": {tok}, "serial": {"1"}, "license": {"vms.camera.core=4"}})
	r.want(t, 200, "Updated", "serial 2", "4 vms.camera.core, 2 vms.analytics", "6 vms.camera.core", `id="typed"`, `href="/orgs/acme/confirm"`, "Download the authorization file")
	typedCode := extractTyped(t, r.body)
	bin, err := codes.DecodeKind([]byte(typedCode), codes.KindAuthorization)
	d.must(err)
	r.want(t, 200, hexHash(bin))
	if d.balance("acme/plant", camera) != [4]int64{25, 15, 4, 6} {
		t.Fatalf("balance %v", d.balance("acme/plant", camera))
	}
	es, err := d.l.As(vera).History(ctx, authority.HistoryFilter{Instance: f.udi})
	d.must(err)
	if last := es[len(es)-1]; last.Action != "update" || last.Actor != ann || hexHash(bin) != hex.EncodeToString(last.CodeHash) {
		t.Fatalf("last event %+v", last)
	}
	m := regexp.MustCompile(`id="download" href="([^"]+)"`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatal("no download link")
	}
	dl := b.get(strings.ReplaceAll(m[1], "&amp;", "&"))
	dl.want(t, 200, "AUTHORIZATION")
	if got, err := codes.DecodeKind([]byte(dl.body), codes.KindAuthorization); err != nil || hexHash(got) != hexHash(bin) {
		t.Fatalf("downloaded %v", err)
	}
	// Posting the reviewed form again is refused: the reservation moved on.
	again := b.post(f.url+"/update", url.Values{"csrf": {tok}, "serial": {"1"}, "license": {"vms.camera.core=4"}})
	again.want(t, http.StatusConflict, "changed since the review")
	// The instance installs serial 2 and its confirmation code comes back.
	cf := typed(codes.KindConfirmation, f.cam.confirm(f.res.Authorization.Reservation, 2))
	b.post("/orgs/acme/confirm", url.Values{"csrf": {tok}, "code": {cf}}).want(t, 200, "Confirmed")
	cfBin, err := codes.DecodeKind([]byte(cf), codes.KindConfirmation)
	d.must(err)
	b.get(f.url).want(t, 200, "Codes the instance gave back", "<td>confirmation</td>", hexHash(cfBin))
	if d.balance("acme/plant", camera) != [4]int64{25, 21, 4, 0} {
		t.Fatalf("after the confirmation %v", d.balance("acme/plant", camera))
	}
}

// TestUpdateIsRefusedWithoutChangingAnything: a viewer, a form without
// its token, another organization's administrator, another
// organization's instance, and hostile counts and tags are refused with
// a clear message, and change nothing.
func TestUpdateIsRefusedWithoutChangingAnything(t *testing.T) {
	f := newInstancesFixture(t)
	d := f.d
	n := d.historyLen()
	v, vtok := d.signedIn(vic)
	for _, path := range []string{f.url + "/update/review", f.url + "/update"} {
		v.post(path, url.Values{"csrf": {vtok}, "serial": {"1"}, "license": {"vms.camera.core=4"}, "tag": {camera}, "count": {"4"}}).want(t, 403, "not change them")
	}
	b, tok := d.signedIn(ann)
	for _, path := range []string{f.url + "/update/review", f.url + "/update"} {
		b.post(path, url.Values{"serial": {"1"}, "license": {"vms.camera.core=4"}, "tag": {camera}, "count": {"4"}}).want(t, 403, "no valid security token")
	}
	g, gtok := d.signedIn(gus)
	g.post(f.url+"/update", url.Values{"csrf": {gtok}, "serial": {"1"}, "license": {"vms.camera.core=4"}}).want(t, 403)
	// Globex's instance under acme, by ann and by the vendor.
	inAcme := "/orgs/acme/instances/" + url.PathEscape(f.udiG)
	b.post(inAcme+"/update", url.Values{"csrf": {tok}, "serial": {"1"}, "license": {"vms.camera.core=2"}}).want(t, 403)
	vr, vrtok := d.signedIn(vera)
	vr.post(inAcme+"/update", url.Values{"csrf": {vrtok}, "serial": {"1"}, "license": {"vms.camera.core=2"}}).want(t, 404)
	b.post(f.urlG+"/update", url.Values{"csrf": {tok}, "serial": {"1"}, "license": {"vms.camera.core=2"}}).want(t, 403)
	for _, tc := range []struct {
		name        string
		tags, count []string
		status      int
		says        string
	}{
		{"negative", []string{camera}, []string{"-1"}, 400, "not a number"},
		{"not a number", []string{camera}, []string{"ten"}, 400, "not a number"},
		{"huge", []string{camera}, []string{"99999999999999999999"}, 400, "not a number"},
		{"markup tag", []string{"<script>alert(1)</script>"}, []string{"1"}, 200, "&lt;script&gt;alert(1)&lt;/script&gt;"},
		{"tag with a space", []string{"vms camera"}, []string{"1"}, 400, "allowed are printable ASCII"},
		{"twice", []string{camera, camera}, []string{"4", "5"}, 400, "named twice"},
		{"unpaired", []string{camera, analytics}, []string{"4"}, 400, "do not pair up"},
		{"no change", []string{camera, analytics}, []string{"10", "2"}, 400, "changes nothing"},
		{"empty", []string{""}, []string{""}, 400, "changes nothing"},
		{"tag without count", []string{camera, "vms.lpr"}, []string{"10", ""}, 400, "not a number"},
	} {
		r := b.post(f.url+"/update/review", url.Values{"csrf": {tok}, "tag": tc.tags, "count": tc.count})
		if r.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, r.StatusCode, tc.status)
		}
		r.want(t, tc.status, tc.says)
		if strings.Contains(r.body, "<script>alert") {
			t.Fatalf("%s: unescaped", tc.name)
		}
	}
	for _, tc := range []struct {
		name    string
		license []string
		status  int
		says    string
	}{
		{"none", nil, 400, "names 1 to"},
		{"no equals", []string{"vms.camera.core"}, 400, "TAG=COUNT"},
		{"huge", []string{"vms.camera.core=4294967296"}, 400, "not a number"},
		{"more than owned", []string{"vms.camera.core=1000"}, 409, "vms.camera.core"},
		{"unknown tag", []string{"vms.nothing=1"}, 409, "vms.nothing"},
		{"markup tag", []string{"<script>alert(1)</script>=1"}, 409, "&lt;script&gt;alert(1)&lt;/script&gt;"},
		{"stale serial", []string{"vms.camera.core=4"}, 409, "changed since the review"},
	} {
		serial := "1"
		if tc.name == "stale serial" {
			serial = "0"
		}
		b.post(f.url+"/update", url.Values{"csrf": {tok}, "serial": {serial}, "license": tc.license}).want(t, tc.status, tc.says)
	}
	f.unchanged(t, "refused updates", n)
}

// TestRemoveAFailedInstance runs runbook 6: a reason, a review that says
// it cannot be undone and counts against the removal limit, then the
// removal; refused to a viewer, without the token, without a reason, and
// for another organization's instance.
func TestRemoveAFailedInstance(t *testing.T) {
	f := newInstancesFixture(t)
	d := f.d
	n := d.historyLen()
	b, tok := d.signedIn(ann)
	v, vtok := d.signedIn(vic)
	for _, path := range []string{f.url + "/remove/review", f.url + "/remove"} {
		v.post(path, url.Values{"csrf": {vtok}, "reason": {"RMA"}}).want(t, 403)
		b.post(path, url.Values{"reason": {"RMA"}}).want(t, 403, "no valid security token")
	}
	b.post(f.url+"/remove/review", url.Values{"csrf": {tok}, "reason": {"  "}}).want(t, 400, "reason")
	b.post(f.url+"/remove", url.Values{"csrf": {tok}, "reason": {""}}).want(t, 400, "reason")
	b.post(f.url+"/remove", url.Values{"csrf": {tok}, "reason": {strings.Repeat("x", 501)}}).want(t, 400, "reason")
	b.post("/orgs/acme/instances/"+url.PathEscape(f.udiG)+"/remove", url.Values{"csrf": {tok}, "reason": {"RMA"}}).want(t, 403)
	f.unchanged(t, "refused removals", n)

	reason := `RMA 4711: <b>mainboard</b> failed`
	rv := b.post(f.url+"/remove/review", url.Values{"csrf": {tok}, "reason": {reason}})
	rv.want(t, 200, "cannot be undone", "removal limit", "removal 1 of at most 3", "(0 so far)", "&lt;b&gt;mainboard&lt;/b&gt;", "Remove the instance for good", "10 vms.camera.core, 2 vms.analytics")
	f.unchanged(t, "the review", n)
	r := b.post(f.url+"/remove", url.Values{"csrf": {tok}, "reason": {reason}})
	r.want(t, 200, "Removed", "1 of 3", f.res.Reservation(), "&lt;b&gt;mainboard")
	if d.balance("acme/plant", camera) != [4]int64{25, 25, 0, 0} {
		t.Fatalf("balance %v", d.balance("acme/plant", camera))
	}
	page := b.get(f.url)
	page.want(t, 200, "removed", "&lt;b&gt;mainboard")
	if strings.Contains(page.body, "/remove/review") || strings.Contains(page.body, "/update/review") {
		t.Fatal("a removed instance is offered a change")
	}
	b.post(f.url+"/remove", url.Values{"csrf": {tok}, "reason": {"again"}}).want(t, 403)

	// Beyond the account's removal limit the review warns and the
	// removal is refused, changing nothing.
	d.must(d.l.As(vera).SetRemovalLimit(ctx, "acme/plant", 1))
	other := d.device("cam-2", d.f.Authority)
	_, err := d.l.As(ann).ReserveIn(ctx, "acme", "plant", other.request(lic(camera, 1)), nil)
	d.must(err)
	u := "/orgs/acme/instances/" + url.PathEscape(other.udi.String())
	b.post(u+"/remove/review", url.Values{"csrf": {tok}, "reason": {"RMA 4712"}}).want(t, 200, "this removal will be refused")
	n = d.historyLen()
	b.post(u+"/remove", url.Values{"csrf": {tok}, "reason": {"RMA 4712"}}).want(t, http.StatusConflict, "Removal limit reached", "the limit is 1")
	if d.historyLen() != n || d.balance("acme/plant", camera) != [4]int64{25, 24, 1, 0} {
		t.Fatal("a removal beyond the limit changed the ledger")
	}
}

// TestTransferBetweenTheOrganizationsAccounts: the form moves licenses
// between two accounts of the organization and shows both balances; a
// viewer sees the balances without the form and is refused; bad counts,
// unknown and foreign accounts are refused, changing nothing.
func TestTransferBetweenTheOrganizationsAccounts(t *testing.T) {
	f := newInstancesFixture(t)
	d := f.d
	n := d.historyLen()
	v, vtok := d.signedIn(vic)
	vp := v.get("/orgs/acme/transfer")
	vp.want(t, 200, "Licenses of acme/plant", "Licenses of acme/lab")
	if strings.Contains(vp.body, `name="from"`) {
		t.Fatal("a viewer is offered the transfer form")
	}
	good := url.Values{"from": {"plant"}, "to": {"lab"}, "tag": {camera}, "count": {"5"}}
	with := func(tok string, k, val string) url.Values {
		out := url.Values{"csrf": {tok}}
		for kk, vv := range good {
			out[kk] = vv
		}
		if k != "" {
			out.Set(k, val)
		}
		return out
	}
	v.post("/orgs/acme/transfer", with(vtok, "", "")).want(t, 403)
	b, tok := d.signedIn(ann)
	b.post("/orgs/acme/transfer", with("", "", "")).want(t, 403, "no valid security token")
	g, gtok := d.signedIn(gus)
	g.get("/orgs/acme/transfer").want(t, 403)
	g.post("/orgs/acme/transfer", with(gtok, "", "")).want(t, 403)
	for _, tc := range []struct {
		k, v   string
		status int
		says   string
	}{
		{"count", "0", 400, "count 0"},
		{"count", "-5", 400, "count -5"},
		{"count", "five", 400, "not a whole number"},
		{"count", "99999999999999999999999", 400, "not a whole number"},
		{"count", "16", 409, "available"},
		{"to", "plant", 400, "to itself"},
		{"to", "hq", 404, `no account &#34;hq&#34;`},
		{"to", "nothing", 404, `no account &#34;nothing&#34;`},
		{"to", "globex/hq", 400, "account name"},
		{"from", "<b>x</b>", 400, "&lt;b&gt;"},
		{"tag", "<i>", 409, "&lt;i&gt;"},
		{"tag", "a b", 400, "allowed are printable ASCII"},
	} {
		b.post("/orgs/acme/transfer", with(tok, tc.k, tc.v)).want(t, tc.status, tc.says)
	}
	f.unchanged(t, "refused transfers", n)
	page := b.get("/orgs/acme/transfer")
	page.want(t, 200, `<select id="from" name="from"`, `<option value="plant" selected>plant</option>`, `<select id="to" name="to"`, `<option value="lab" selected>lab</option>`, `<select id="tag" name="tag"`, `id="count" name="count"`, ">Transfer</button>")
	r := b.post("/orgs/acme/transfer", with(tok, "", ""))
	r.want(t, 200, "Transferred", "5 vms.camera.core moved from acme/plant to acme/lab.")
	if d.balance("acme/lab", camera) != [4]int64{5, 5, 0, 0} || d.balance("acme/plant", camera) != [4]int64{20, 10, 10, 0} {
		t.Fatalf("balances %v %v", d.balance("acme/plant", camera), d.balance("acme/lab", camera))
	}
	if !regexp.MustCompile(`(?s)Licenses of acme/lab.*<td>vms.camera.core</td><td class="n">5</td>`).MatchString(r.body) {
		t.Fatalf("the result lacks lab's balance:\n%s", r.body)
	}
}

// TestSystemDescriptionIsReviewedRegisteredAndReserved runs runbook 7:
// paste a system description, review what it describes, register it,
// reserve what it needs and download the code; refused to a viewer and
// for a kind of code that is not a description.
func TestSystemDescriptionIsReviewedRegisteredAndReserved(t *testing.T) {
	d := newDesk(t)
	dev := d.device("plant-4", d.f.Authority)
	sys := &codes.System{UDI: dev.udi, Name: `plant 4 <VMS>`, IssuedAt: t0.Unix() - 60, Nonce: []byte{9, 9, 9, 9, 9, 9, 9, 9},
		Components: []codes.Component{{ID: "SN-1", Model: "Recorder"}}, Demand: []codes.License{lic(camera, 3)}}
	bin, err := codes.SealSystem(sys, dev.key, dev.auth)
	d.must(err)
	text := typed(codes.KindSystem, bin)
	n := d.historyLen()
	v, vtok := d.signedIn(vic)
	v.upload("/orgs/acme/systems/review", url.Values{"csrf": {vtok}, "account": {"plant"}, "system": {text}}, nil).want(t, 403)
	v.post("/orgs/acme/systems", url.Values{"csrf": {vtok}, "account": {"plant"}, "system": {text}}).want(t, 403)
	b, tok := d.signedIn(ann)
	b.upload("/orgs/acme/systems/review", url.Values{"csrf": {tok}, "account": {"plant"}, "system": {typed(codes.KindRequest, dev.request(lic(camera, 1)))}}, nil).want(t, 400, "Wrong kind of code")
	b.upload("/orgs/acme/systems/review", url.Values{"csrf": {tok}, "account": {"hq"}, "system": {text}}, nil).want(t, 404)
	b.post("/orgs/acme/systems", url.Values{"account": {"plant"}, "system": {text}}).want(t, 403, "no valid security token")
	if d.historyLen() != n {
		t.Fatal("a refusal changed the ledger")
	}
	rv := b.upload("/orgs/acme/systems/review", url.Values{"csrf": {tok}, "account": {"plant"}}, codes.EncodeArmor(codes.KindSystem, bin))
	rv.want(t, 200, "plant 4 &lt;VMS&gt;", "3 vms.camera.core", "SN-1", hexHash(bin), "Register the system")
	if d.historyLen() != n {
		t.Fatal("the review changed the ledger")
	}
	im := b.post("/orgs/acme/systems", url.Values{"csrf": {tok}, "account": {"plant"}, "system": {text}})
	im.want(t, 200, "System registered", dev.udi.String(), "Reserve and sign the authorization code")
	// Left there, the system can be reserved from its instance page.
	sysURL := "/orgs/acme/instances/" + url.PathEscape(dev.udi.String())
	b.get(sysURL).want(t, 200, "Reserve the system's licenses", `name="account" value="plant"`, `name="name" value="`+html.EscapeString(sys.Name)+`"`)
	r := b.post("/orgs/acme/systems/reserve", url.Values{"csrf": {tok}, "account": {"plant"}, "name": {sys.Name}})
	r.want(t, 200, "Reserved for the system", "3 vms.camera.core", `id="typed"`, "Download the authorization file")
	code, err := codes.DecodeKind([]byte(extractTyped(t, r.body)), codes.KindAuthorization)
	d.must(err)
	r.want(t, 200, hexHash(code))
	if d.balance("acme/plant", camera) != [4]int64{25, 22, 3, 0} {
		t.Fatalf("balance %v", d.balance("acme/plant", camera))
	}
	if strings.Contains(b.get(sysURL).body, "Reserve the system's licenses") {
		t.Fatal("a reserved system is offered its first reservation again")
	}
}

// TestInstancesListComesInPages: 30 instances of acme in pages of 25; the
// links go from one page to the other, each instance is on one page, and
// a page past the last, or a size the list does not offer, is refused.
func TestInstancesListComesInPages(t *testing.T) {
	f := newInstancesFixture(t)
	d := f.d
	_, err := d.l.As(vera).AddLot(ctx, authority.LotSpec{Account: "acme/plant", Tag: camera, Count: 29})
	d.must(err)
	for i := range 29 {
		cam := d.device(fmt.Sprintf("pg-%02d", i), d.f.Authority)
		_, err := d.l.As(ann).ReserveIn(ctx, "acme", "plant", cam.request(lic(camera, 1)), nil)
		d.must(err)
	}
	b, _ := d.signedIn(vic)
	first := b.get("/orgs/acme/instances?size=25")
	first.want(t, 200, "Instances 1 to 25 of 30.", `href="/orgs/acme/instances?page=2&amp;size=25" rel="next"`)
	if strings.Contains(first.body, `rel="prev"`) {
		t.Error("the first page links a previous one")
	}
	second := b.get("/orgs/acme/instances?page=2&size=25")
	second.want(t, 200, "Instances 26 to 30 of 30.", `href="/orgs/acme/instances?page=1&amp;size=25" rel="prev"`)
	if strings.Contains(second.body, `rel="next"`) {
		t.Error("the last page links a next one")
	}
	seen := map[string]int{}
	for _, p := range []string{first.body, second.body} {
		for _, m := range instanceLinkRE.FindAllStringSubmatch(p, -1) {
			seen[m[1]]++
		}
	}
	if len(seen) != 30 {
		t.Fatalf("%d instances on the two pages, want 30", len(seen))
	}
	for u, n := range seen {
		if n != 1 {
			t.Errorf("%s is on %d pages", u, n)
		}
	}
	if all := b.get("/orgs/acme/instances"); strings.Contains(all.body, `rel="next"`) || len(instanceLinkRE.FindAllString(all.body, -1)) != 30 {
		t.Error("the default page of 100 does not hold all 30")
	}
	b.get("/orgs/acme/instances?page=3&size=25").want(t, 404, "past the last")
	b.get("/orgs/acme/instances?size=7").want(t, 400, "Page size: &#34;7&#34; is not one of")
	b.get("/orgs/acme/instances?page=0").want(t, 400, "Page: &#34;0&#34; is not a whole number")
	b.get("/orgs/acme/instances?page=%3Cb%3E").want(t, 400, "&lt;b&gt;")
}
