package web_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

// exchangeRequest makes the activation request a gateway instance makes
// ('airlock instance activation request'), without processing it.
func exchangeRequest(d *desk, gw *device, groups map[string][]string) []byte {
	d.t.Helper()
	n := gw.nonce.Add(1)
	h := sha256.Sum256(fmt.Appendf(nil, "%s exchange %d", gw.name, n))
	req := &codes.ActivationRequest{UDI: gw.udi, Nonce: h[:codes.NonceSize], IssuedAt: d.clk.Now().Unix() - 60}
	var pks []string
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
	return code
}

// exchangeHidden returns the value of the hidden field "code" of a review
// page, as the browser posts it.
func exchangeHidden(t *testing.T, r *resp) string {
	t.Helper()
	const mark = `name="code" value="`
	i := strings.Index(r.body, mark)
	if i < 0 {
		t.Fatalf("no hidden code on the page:\n%s", r.body)
	}
	v := r.body[i+len(mark):]
	return v[:strings.IndexByte(v, '"')]
}

// exchangeSHA is the SHA-256 of a code in hex, as the pages show it.
func exchangeSHA(code []byte) string {
	h := sha256.Sum256(code)
	return hex.EncodeToString(h[:])
}

// TestExchangeActivationThroughTheReview answers a gateway's activation
// request as 'airlock authority activation process' does: the review
// consumes nothing, the answer counts per product, the file downloads
// with the hash the page shows, and the same request again consumes
// nothing.
func TestExchangeActivationThroughTheReview(t *testing.T) {
	d := fleetDesk(t)
	b, tok := d.signedIn(ann)
	b.get("/orgs/acme/activation/requests").want(t, http.StatusOK, "Answer an activation request", `name="code"`, `name="file"`, "Review the activation request")

	gw := d.device("gw-acme", d.f.Authority)
	req := exchangeRequest(d, gw, map[string][]string{"PK-CAM": {"cam-001", "cam-031", "cam-032"}, "PK-GLX": {"gx-9"}, "PK-NONE": {"x-1"}, "PK-LOCK": {"lock-09"}})
	before := fleetState(d)
	rv := b.upload("/orgs/acme/activation/requests/review", url.Values{"csrf": {tok}}, codes.EncodeArmor(codes.KindActivationRequest, req))
	rv.want(t, http.StatusOK, "Review the activation request", gw.udi.String(), "yes, since", exchangeSHA(req),
		"cameras", "not a product of acme", "Answer the request and sign the activation file")
	if strings.Contains(rv.body, "PK-GLX</code></td><td>sensors") {
		t.Fatal("the review names another organization's product")
	}
	if got := fleetState(d); got != before {
		t.Fatalf("the review changed the ledger: %s, was %s", got, before)
	}
	if strings.Contains(rv.body, hostileName) || !strings.Contains(rv.body, "&lt;script&gt;") {
		t.Fatal("a product's name is not escaped")
	}
	left := exchangeLeft(d, "PK-CAM")

	done := b.post("/orgs/acme/activation/requests", url.Values{"csrf": {tok}, "code": {exchangeHidden(t, rv)}})
	done.want(t, http.StatusOK, "Activation request answered", "What the request did, per product", "Download the activation file")
	if got := exchangeLeft(d, "PK-CAM"); got != left-2 {
		t.Fatalf("PK-CAM has %d codes left, want %d", got, left-2)
	}
	// PK-CAM: 3 listed, 2 activated, 1 already active; the other keys refused as unknown.
	if !strings.Contains(done.body, "<td class=\"n\">3</td><td class=\"n\">2</td><td class=\"n\">1</td><td class=\"n\">0</td>") {
		t.Fatalf("the counts of PK-CAM are missing:\n%s", done.body)
	}
	if strings.Contains(done.body, "sensors") || strings.Contains(done.body, codes.RefusedOtherGateway.String()) {
		t.Fatalf("the result tells of another organization's product:\n%s", done.body)
	}
	if !strings.Contains(done.body, codes.RefusedUnknownProduct.String()) {
		t.Fatalf("the refusal's reason is missing:\n%s", done.body)
	}

	dl := b.post("/orgs/acme/activation/requests/download", url.Values{"csrf": {tok}, "code": {exchangeHidden(t, done)}})
	dl.want(t, http.StatusOK)
	if cd := dl.Header.Get("Content-Disposition"); !strings.Contains(cd, `attachment; filename="gw-acme.activation.airlock"`) {
		t.Fatalf("Content-Disposition %q", cd)
	}
	file, err := codes.DecodeKind([]byte(dl.body), codes.KindActivation)
	d.must(err)
	if !strings.Contains(done.body, exchangeSHA(file)) {
		t.Fatalf("the page does not show the file's hash %s", exchangeSHA(file))
	}
	a, err := codes.OpenActivation(file, d.f.Trust)
	d.must(err)
	if a.UDI.String() != gw.udi.String() {
		t.Fatalf("activation for %s", a.UDI)
	}

	// Again: the same file, nothing consumed.
	n := d.historyLen()
	again := b.post("/orgs/acme/activation/requests", url.Values{"csrf": {tok}, "code": {exchangeHidden(t, rv)}})
	again.want(t, http.StatusOK, "answered before", exchangeSHA(file))
	if d.historyLen() != n || exchangeLeft(d, "PK-CAM") != left-2 {
		t.Fatal("answering the same request again changed the ledger")
	}
	b.upload("/orgs/acme/activation/requests/review", url.Values{"csrf": {tok}}, req).want(t, http.StatusOK, "This request was answered")
	// The history links the gateway's event to the gateways, not to an
	// instance page that has none.
	h := b.get("/orgs/acme/history")
	h.want(t, http.StatusOK, `<a href="/orgs/acme/devices/gateways"><code>`)
	if strings.Contains(h.body, `/instances/P%3AGW`) || strings.Contains(h.body, `/instances/P:GW`) {
		t.Fatalf("the gateway's event links an instance page:\n%s", h.body)
	}
}

// TestExchangeActivationPinsANewGateway: a new gateway that lists the
// organization's products is pinned to it.
func TestExchangeActivationPinsANewGateway(t *testing.T) {
	d := fleetDesk(t)
	b, tok := d.signedIn(ann)
	gw := d.device("gw-new", d.f.Authority)
	req := exchangeRequest(d, gw, map[string][]string{"PK-CAM": {"cam-100"}})
	rv := b.upload("/orgs/acme/activation/requests/review", url.Values{"csrf": {tok}, "code": {typed(codes.KindActivationRequest, req)}}, nil)
	rv.want(t, http.StatusOK, "no: answering pins it to acme")
	b.post("/orgs/acme/activation/requests", url.Values{"csrf": {tok}, "code": {exchangeHidden(t, rv)}}).want(t, http.StatusOK, "pinned to acme by this request")
	gws, err := d.l.As(ann).Gateways(ctx, "acme")
	d.must(err)
	if len(gws) != 2 {
		t.Fatalf("acme has %d gateways, want 2", len(gws))
	}
	// The vendor's support answers for the organization too, recorded as
	// themselves.
	vb, vtok := d.signedIn(vera)
	more := exchangeRequest(d, gw, map[string][]string{"PK-CAM": {"cam-101"}})
	vrv := vb.upload("/orgs/acme/activation/requests/review", url.Values{"csrf": {vtok}}, more)
	vrv.want(t, http.StatusOK, "yes, since")
	vb.post("/orgs/acme/activation/requests", url.Values{"csrf": {vtok}, "code": {exchangeHidden(t, vrv)}}).want(t, http.StatusOK, "Activation request answered")
	es, err := d.l.As(vera).History(ctx, authority.HistoryFilter{})
	d.must(err)
	if last := es[len(es)-1]; last.Actor != vera || last.Action != "activate" {
		t.Fatalf("last event %+v", last)
	}
}

// TestExchangeActivationRefusals: a viewer, another organization's
// administrator, a request of another organization's gateway, a form
// without its token and hostile files are refused, and nothing is
// consumed or recorded.
func TestExchangeActivationRefusals(t *testing.T) {
	d := fleetDesk(t)
	acmeReq := exchangeRequest(d, d.device("gw-acme", d.f.Authority), map[string][]string{"PK-CAM": {"cam-050"}})
	globexReq := exchangeRequest(d, d.device("gw-globex", d.f.Authority), map[string][]string{"PK-GLX": {"gx-2"}})
	strayReq := exchangeRequest(d, d.device("gw-stray", d.f.Authority), map[string][]string{"PK-NOWHERE": {"n-1"}})
	// A new gateway of globex's product, brought to acme.
	newGlobex := exchangeRequest(d, d.device("gw-globex-2", d.f.Authority), map[string][]string{"PK-GLX": {"gx-3"}})
	before := fleetState(d)
	same := func() {
		t.Helper()
		if got := fleetState(d); got != before {
			t.Fatalf("a refusal changed the ledger: %s, was %s", got, before)
		}
	}
	typedAcme := typed(codes.KindActivationRequest, acmeReq)

	vb, vtok := d.signedIn(vic)
	form := vb.get("/orgs/acme/activation/requests")
	form.want(t, http.StatusOK, "An administrator of acme enters activation requests")
	if strings.Contains(form.body, "Review the activation request") {
		t.Fatal("a viewer is offered the form")
	}
	vb.upload("/orgs/acme/activation/requests/review", url.Values{"csrf": {vtok}}, acmeReq).want(t, http.StatusForbidden)
	vb.post("/orgs/acme/activation/requests", url.Values{"csrf": {vtok}, "code": {typedAcme}}).want(t, http.StatusForbidden)
	vb.post("/orgs/acme/activation/requests/download", url.Values{"csrf": {vtok}, "code": {typedAcme}}).want(t, http.StatusForbidden)
	same()

	gb, gtok := d.signedIn(gus)
	gb.get("/orgs/acme/activation/requests").want(t, http.StatusForbidden)
	gb.post("/orgs/acme/activation/requests", url.Values{"csrf": {gtok}, "code": {typedAcme}}).want(t, http.StatusForbidden)
	// acme's request at globex: refused as one globex cannot answer, in
	// the words of a gateway nobody knows.
	other := gb.post("/orgs/globex/activation/requests", url.Values{"csrf": {gtok}, "code": {typedAcme}})
	other.want(t, http.StatusNotFound, "cannot answer this activation request")
	stray := gb.post("/orgs/globex/activation/requests", url.Values{"csrf": {gtok}, "code": {typed(codes.KindActivationRequest, strayReq)}})
	stray.want(t, http.StatusNotFound, "cannot answer this activation request")
	gb.upload("/orgs/globex/activation/requests/review", url.Values{"csrf": {gtok}}, acmeReq).want(t, http.StatusNotFound, "cannot answer this activation request")
	same()

	ab, atok := d.signedIn(ann)
	ab.post("/orgs/acme/activation/requests", url.Values{"csrf": {atok}, "code": {typed(codes.KindActivationRequest, globexReq)}}).
		want(t, http.StatusNotFound, "cannot answer this activation request")
	ab.post("/orgs/acme/activation/requests", url.Values{"csrf": {atok}, "code": {typed(codes.KindActivationRequest, newGlobex)}}).
		want(t, http.StatusNotFound, "cannot answer this activation request")
	// Not answered yet: the download processes nothing.
	ab.post("/orgs/acme/activation/requests/download", url.Values{"csrf": {atok}, "code": {typedAcme}}).want(t, http.StatusNotFound, "has not been answered")
	// No token.
	ab.post("/orgs/acme/activation/requests", url.Values{"code": {typedAcme}}).want(t, http.StatusForbidden)
	ab.upload("/orgs/acme/activation/requests/review", nil, acmeReq).want(t, http.StatusForbidden)
	same()

	// Hostile files.
	ab.upload("/orgs/acme/activation/requests/review", url.Values{"csrf": {atok}}, []byte("<script>alert(1)</script>")).want(t, http.StatusBadRequest)
	ab.upload("/orgs/acme/activation/requests/review", url.Values{"csrf": {atok}}, nil).want(t, http.StatusBadRequest, "No code")
	ab.upload("/orgs/acme/activation/requests/review", url.Values{"csrf": {atok}, "code": {"RQ-0000-<b>"}}, nil).want(t, http.StatusBadRequest)
	usage := codes.EncodeArmor(codes.KindUsage, []byte{0x84})
	ab.upload("/orgs/acme/activation/requests/review", url.Values{"csrf": {atok}}, usage).want(t, http.StatusBadRequest, "Wrong kind of code")
	ab.upload("/orgs/acme/activation/requests/review", url.Values{"csrf": {atok}}, make([]byte, 2<<20)).want(t, http.StatusRequestEntityTooLarge)
	ab.upload("/orgs/acme/activation/requests/review", url.Values{"csrf": {atok}, "code": {typedAcme}}, acmeReq).want(t, http.StatusBadRequest, "Two codes")
	ab.post("/orgs/acme/activation/requests", url.Values{"csrf": {atok}, "code": {"garbage"}}).want(t, http.StatusBadRequest)
	ab.post("/orgs/acme/activation/requests", url.Values{"csrf": {atok}}).want(t, http.StatusBadRequest)
	same()
}

// exchangeInstance reserves for a device of acme/plant and returns it
// with the reservation.
func exchangeInstance(d *desk, sn, account string, want ...codes.License) (*device, *authority.Authorized) {
	d.t.Helper()
	v := d.device(sn, d.f.Authority)
	a, err := d.l.As(vera).Reserve(ctx, account, v.request(want...), nil)
	d.must(err)
	return v, a
}

// exchangeUsage makes a usage report of v, as 'airlock instance
// usage-report' does: count journal entries ending in head, following
// previous.
func exchangeUsage(d *desk, v *device, count uint64, head, previous []byte, tags ...codes.TagUsage) []byte {
	d.t.Helper()
	mk, err := v.key.MACKey(v.auth)
	d.must(err)
	now := d.clk.Now().Unix()
	u := &codes.Usage{UDI: v.udi, From: now - 86400, To: now, HighWater: now, Tags: tags, JournalHead: head, JournalCount: count, PreviousHead: previous}
	code, err := codes.SealUsage(u, mk)
	d.must(err)
	return code
}

// exchangeLeft is how many codes an acme product has left.
func exchangeLeft(d *desk, pk string) int64 {
	p := fleetProduct(d, "acme", pk)
	return p.Remaining()
}

func exchangeHead(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

// TestExchangeUsageThroughTheReview imports usage reports as 'airlock
// authority usage import' does: the review records nothing, the import
// shows the use per tag, the recent reports list it, and a report from a
// second history of the instance is flagged and recorded.
func TestExchangeUsageThroughTheReview(t *testing.T) {
	d := newDesk(t)
	v, _ := exchangeInstance(d, "cam-u1", "acme/plant", lic(camera, 3))
	b, tok := d.signedIn(ann)
	b.get("/orgs/acme/usage").want(t, http.StatusOK, "Usage reports", "Review the usage report", "No usage report imported yet")

	first := exchangeUsage(d, v, 10, exchangeHead("a10"), nil, codes.TagUsage{Tag: camera, Peak: 3, Current: 2})
	n := d.historyLen()
	rv := b.upload("/orgs/acme/usage/review", url.Values{"csrf": {tok}}, codes.EncodeArmor(codes.KindUsage, first))
	rv.want(t, http.StatusOK, "Review the usage report", v.udi.String(), "acme/plant", camera, "count 10", exchangeSHA(first), "Import the usage report")
	if d.historyLen() != n {
		t.Fatal("the review recorded something")
	}
	done := b.post("/orgs/acme/usage", url.Values{"csrf": {tok}, "code": {exchangeHidden(t, rv)}})
	done.want(t, http.StatusOK, "Usage report imported", "<td class=\"n\">3</td><td class=\"n\">2</td>", exchangeSHA(first))
	if d.historyLen() != n+1 {
		t.Fatalf("history grew by %d, want 1", d.historyLen()-n)
	}
	b.get("/orgs/acme/usage").want(t, http.StatusOK, v.udi.String(), exchangeSHA(first))
	// The same report again changes nothing.
	b.post("/orgs/acme/usage", url.Values{"csrf": {tok}, "code": {exchangeHidden(t, rv)}}).want(t, http.StatusOK, "Usage report imported before", "Nothing changes")
	if d.historyLen() != n+1 {
		t.Fatal("the same report twice changed the history")
	}

	// A copy of the state from before the first report: two histories.
	fork := exchangeUsage(d, v, 12, exchangeHead("b12"), nil, codes.TagUsage{Tag: camera, Peak: 1, Current: 1})
	frv := b.upload("/orgs/acme/usage/review", url.Values{"csrf": {tok}, "code": {typed(codes.KindUsage, fork)}}, nil)
	frv.want(t, http.StatusOK, "Two journal histories", "will be recorded and nothing is refused")
	b.post("/orgs/acme/usage", url.Values{"csrf": {tok}, "code": {exchangeHidden(t, frv)}}).want(t, http.StatusOK, "Two journal histories", "is recorded and nothing is refused")
	b.get("/orgs/acme/usage").want(t, http.StatusOK, "Two histories:")
	// A viewer reads the list but gets no form.
	vb, _ := d.signedIn(vic)
	list := vb.get("/orgs/acme/usage")
	list.want(t, http.StatusOK, exchangeSHA(first))
	if strings.Contains(list.body, "Review the usage report") {
		t.Fatal("a viewer is offered the form")
	}
}

// TestExchangeUsageRefusals: another organization's instance is refused
// in the words of an unknown one, and a viewer, a missing token and
// hostile files change nothing.
func TestExchangeUsageRefusals(t *testing.T) {
	d := newDesk(t)
	v, _ := exchangeInstance(d, "cam-u2", "acme/plant", lic(camera, 1))
	report := exchangeUsage(d, v, 3, exchangeHead("c3"), nil)
	stranger := d.device("never-seen", d.f.Authority)
	unknown := exchangeUsage(d, stranger, 3, exchangeHead("d3"), nil)
	n := d.historyLen()

	gb, gtok := d.signedIn(gus)
	gb.get("/orgs/acme/usage").want(t, http.StatusForbidden)
	words := func(r *resp, udi codes.UDI) string {
		t.Helper()
		r.want(t, http.StatusNotFound, "which this ledger does not know")
		i := strings.Index(r.body, "the usage report is from")
		j := strings.Index(r.body[i:], "</p>")
		return strings.ReplaceAll(r.body[i:i+j], udi.Short(), "UDI")
	}
	for _, path := range []string{"/orgs/globex/usage/review", "/orgs/globex/usage"} {
		mine := words(gb.post(path, url.Values{"csrf": {gtok}, "code": {typed(codes.KindUsage, report)}}), v.udi)
		none := words(gb.post(path, url.Values{"csrf": {gtok}, "code": {typed(codes.KindUsage, unknown)}}), stranger.udi)
		if mine != none {
			t.Fatalf("another organization's instance and an unknown one differ:\n%s\n%s", mine, none)
		}
	}
	// The library's own words for an unknown instance are these.
	_, err := d.l.As(vera).ImportUsage(ctx, unknown)
	if err == nil || !strings.Contains(err.Error(), "which this ledger does not know (removed instances are not counted): reserve for it or import its system description first") {
		t.Fatalf("ImportUsage: %v", err)
	}

	vb, vtok := d.signedIn(vic)
	vb.upload("/orgs/acme/usage/review", url.Values{"csrf": {vtok}}, report).want(t, http.StatusForbidden)
	vb.post("/orgs/acme/usage", url.Values{"csrf": {vtok}, "code": {typed(codes.KindUsage, report)}}).want(t, http.StatusForbidden)

	ab, atok := d.signedIn(ann)
	ab.post("/orgs/acme/usage", url.Values{"code": {typed(codes.KindUsage, report)}}).want(t, http.StatusForbidden)
	ab.upload("/orgs/acme/usage/review", url.Values{"csrf": {atok}}, []byte("garbage")).want(t, http.StatusBadRequest)
	ab.upload("/orgs/acme/usage/review", url.Values{"csrf": {atok}}, codes.EncodeArmor(codes.KindActivationRequest, []byte{1})).want(t, http.StatusBadRequest, "Wrong kind of code")
	ab.upload("/orgs/acme/usage/review", url.Values{"csrf": {atok}}, make([]byte, 2<<20)).want(t, http.StatusRequestEntityTooLarge)
	// A report altered on the way does not verify.
	bad := append([]byte(nil), report...)
	bad[len(bad)-1] ^= 1
	ab.post("/orgs/acme/usage", url.Values{"csrf": {atok}, "code": {typed(codes.KindUsage, bad)}}).want(t, http.StatusBadRequest)
	if d.historyLen() != n {
		t.Fatalf("refusals changed the history: %d events, was %d", d.historyLen(), n)
	}
}

// exchangeXR makes an export request code of v's installed serial.
func exchangeXR(d *desk, v *device, a *authority.Authorized, tag string, n uint32, ret bool) []byte {
	d.t.Helper()
	mk, err := v.key.MACKey(v.auth)
	d.must(err)
	code, err := codes.SealExportRequest(&codes.ExportRequest{Reservation: a.Authorization.Reservation, Serial: a.Authorization.Serial,
		Tag: tag, Count: n, Return: ret, IssuedAt: d.clk.Now().Unix() - 60}, mk)
	d.must(err)
	return code
}

const exchangeCrypto = "vms.crypto"

// TestExchangeExportThroughTheReview answers an export request code as
// 'airlock authority export' does: the review issues nothing, the answer
// is the next authorization code, typed and as a file with its hash, and
// the same code afterwards is stale and offers the answer again.
func TestExchangeExportThroughTheReview(t *testing.T) {
	d := newDesk(t)
	_, err := d.l.As(vera).AddLot(ctx, authority.LotSpec{Account: "acme/plant", Tag: exchangeCrypto, Count: 3, ExportControlled: true})
	d.must(err)
	v, a := exchangeInstance(d, "cam-x1", "acme/plant", lic(camera, 2))
	xr := exchangeXR(d, v, a, exchangeCrypto, 2, false)
	b, tok := d.signedIn(ann)
	b.get("/orgs/acme/export").want(t, http.StatusOK, "Answer an export request", "Review the export request")
	n := d.historyLen()
	rv := b.upload("/orgs/acme/export/review", url.Values{"csrf": {tok}, "code": {typed(codes.KindExportRequest, xr)}}, nil)
	rv.want(t, http.StatusOK, "2 more of vms.crypto", v.udi.String(), "acme/plant", "serial 1", exchangeSHA(xr), "Answer and sign the authorization code")
	if d.historyLen() != n {
		t.Fatal("the review recorded something")
	}
	done := b.post("/orgs/acme/export", url.Values{"csrf": {tok}, "code": {exchangeHidden(t, rv)}})
	done.want(t, http.StatusOK, "Export request answered", "serial 2", "AU-", "2 vms.crypto")
	dl := b.post("/orgs/acme/export/download", url.Values{"csrf": {tok}, "code": {exchangeHidden(t, done)}})
	dl.want(t, http.StatusOK)
	if cd := dl.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="authorization-`) {
		t.Fatalf("Content-Disposition %q", cd)
	}
	au, err := codes.DecodeKind([]byte(dl.body), codes.KindAuthorization)
	d.must(err)
	if !strings.Contains(done.body, exchangeSHA(au)) || !strings.Contains(done.body, typed(codes.KindAuthorization, au)) {
		t.Fatal("the page's code and hash are not the file's")
	}
	if got := d.balance("acme/plant", exchangeCrypto); got[2] != 2 {
		t.Fatalf("vms.crypto reserved %d, want 2", got[2])
	}
	// Answered: the review says so and offers the file, not a second answer.
	again := b.upload("/orgs/acme/export/review", url.Values{"csrf": {tok}}, xr)
	again.want(t, http.StatusOK, "This code was answered by serial 2", "Download the authorization file")
	if strings.Contains(again.body, "Answer and sign") {
		t.Fatal("an answered code is offered an answer again")
	}
	b.post("/orgs/acme/export", url.Values{"csrf": {tok}, "code": {exchangeHidden(t, rv)}}).want(t, http.StatusConflict, "Older code")
}

// TestExchangeExportRefusals: a tag that is not export-controlled is
// refused on the review; another organization's code is refused in the
// words of a reservation never issued; a viewer, a missing token and
// hostile codes change nothing.
func TestExchangeExportRefusals(t *testing.T) {
	d := newDesk(t)
	_, err := d.l.As(vera).AddLot(ctx, authority.LotSpec{Account: "acme/plant", Tag: exchangeCrypto, Count: 3, ExportControlled: true})
	d.must(err)
	v, a := exchangeInstance(d, "cam-x2", "acme/plant", lic(camera, 2))
	xr := exchangeXR(d, v, a, exchangeCrypto, 1, false)
	plain := exchangeXR(d, v, a, camera, 1, false)
	n, bal := d.historyLen(), d.balance("acme/plant", exchangeCrypto)
	same := func() {
		t.Helper()
		if d.historyLen() != n || d.balance("acme/plant", exchangeCrypto) != bal {
			t.Fatal("a refusal changed the ledger")
		}
	}

	ab, atok := d.signedIn(ann)
	ab.upload("/orgs/acme/export/review", url.Values{"csrf": {atok}}, plain).want(t, http.StatusOK, "It would be refused", "no export-controlled lot")
	ab.post("/orgs/acme/export", url.Values{"csrf": {atok}, "code": {typed(codes.KindExportRequest, plain)}}).want(t, http.StatusBadRequest, "no export-controlled lot")
	ab.post("/orgs/acme/export/download", url.Values{"csrf": {atok}, "code": {typed(codes.KindExportRequest, xr)}}).want(t, http.StatusNotFound, "has not been answered")
	ab.post("/orgs/acme/export", url.Values{"code": {typed(codes.KindExportRequest, xr)}}).want(t, http.StatusForbidden)
	ab.upload("/orgs/acme/export/review", url.Values{"csrf": {atok}}, []byte("XR-<script>")).want(t, http.StatusBadRequest)
	ab.upload("/orgs/acme/export/review", url.Values{"csrf": {atok}, "code": {typed(codes.KindRequest, v.request(lic(camera, 1)))}}, nil).want(t, http.StatusBadRequest, "Wrong kind of code")
	ab.upload("/orgs/acme/export/review", url.Values{"csrf": {atok}}, make([]byte, 2<<20)).want(t, http.StatusRequestEntityTooLarge)
	same()

	vb, vtok := d.signedIn(vic)
	vb.get("/orgs/acme/export").want(t, http.StatusOK, "An administrator of acme enters export requests")
	vb.post("/orgs/acme/export", url.Values{"csrf": {vtok}, "code": {typed(codes.KindExportRequest, xr)}}).want(t, http.StatusForbidden)
	same()

	gb, gtok := d.signedIn(gus)
	gb.get("/orgs/acme/export").want(t, http.StatusForbidden)
	for _, path := range []string{"/orgs/globex/export/review", "/orgs/globex/export", "/orgs/globex/export/download"} {
		r := gb.post(path, url.Values{"csrf": {gtok}, "code": {typed(codes.KindExportRequest, xr)}})
		r.want(t, http.StatusNotFound, fmt.Sprintf("names reservation %x, which this ledger never issued", a.Authorization.Reservation))
	}
	same()
	// The library's own words for a reservation never issued are these.
	stray := append([]byte(nil), a.Authorization.Reservation...)
	stray[0] ^= 0xff
	_, err = d.l.As(vera).AnswerExportRequest(ctx, exchangeXR(d, v, &authority.Authorized{Authorization: &codes.Authorization{Reservation: stray, Serial: 1}}, exchangeCrypto, 1, false))
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("names reservation %x, which this ledger never issued", stray)) {
		t.Fatalf("AnswerExportRequest: %v", err)
	}
	same()
}

// TestExchangeExportDeniedAndGivenBack: an account the vendor denies
// export-controlled licenses is warned of on the review, and answering
// records the refusal as the command does; a code that gives licenses
// back is answered, and they stay in transition until confirmed.
func TestExchangeExportDeniedAndGivenBack(t *testing.T) {
	d := newDesk(t)
	_, err := d.l.As(vera).AddLot(ctx, authority.LotSpec{Account: "acme/plant", Tag: exchangeCrypto, Count: 3, ExportControlled: true})
	d.must(err)
	v, a := exchangeInstance(d, "cam-x3", "acme/plant", lic(camera, 1), lic(exchangeCrypto, 2))
	b, tok := d.signedIn(ann)

	d.must(d.l.As(vera).SetExportAllowed(ctx, "acme/plant", false))
	more := exchangeXR(d, v, a, exchangeCrypto, 1, false)
	b.upload("/orgs/acme/export/review", url.Values{"csrf": {tok}}, more).want(t, http.StatusOK, "It would be refused", "the vendor denies account")
	n := d.historyLen()
	b.post("/orgs/acme/export", url.Values{"csrf": {tok}, "code": {typed(codes.KindExportRequest, more)}}).want(t, http.StatusBadRequest, "the vendor denies account")
	if d.historyLen() != n+1 {
		t.Fatalf("the refusal was not recorded: %d events, was %d", d.historyLen(), n)
	}

	back := exchangeXR(d, v, a, exchangeCrypto, 1, true)
	rv := b.upload("/orgs/acme/export/review", url.Values{"csrf": {tok}}, back)
	rv.want(t, http.StatusOK, "to give back 1 of vms.crypto", "The latest code carries", "stay in transition")
	b.post("/orgs/acme/export", url.Values{"csrf": {tok}, "code": {exchangeHidden(t, rv)}}).want(t, http.StatusOK, "Export request answered", "1 vms.crypto")
	if got := d.balance("acme/plant", exchangeCrypto); got[3] != 1 {
		t.Fatalf("vms.crypto in transition %d, want 1", got[3])
	}
}
