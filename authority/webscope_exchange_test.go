package authority_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

// exchangePeople adds the vendor's vera, acme's ann (admin) and vic
// (viewer), and globex's gus (admin).
func (e *env) exchangePeople() (ann, vic, gus *authority.Ledger) {
	e.t.Helper()
	vera, ann, vic := e.people()
	_, err := vera.AddPerson(ctx, authority.Person{Email: "gus@globex.example", Name: "Gus", Role: authority.RoleAdmin, Org: "globex"})
	e.must(err)
	return ann, vic, e.l.As("gus@globex.example")
}

func (e *env) exchangeHistory() int64 {
	e.t.Helper()
	m, err := e.l.Meta(ctx)
	e.must(err)
	return m.HistoryCount
}

// TestProcessActivationInIsTheOrganizations: the organization's
// administrator answers its gateways' requests; a viewer, another
// organization, a gateway of another organization, a new gateway that
// lists none of the organization's products and a request answered for
// another organization are refused, in one set of words, with nothing
// pinned, renewed or consumed.
func TestProcessActivationInIsTheOrganizations(t *testing.T) {
	e := newEnv(t)
	e.fleet(10)
	v := authority.Validity{Years: 1}
	_, err := e.l.BuyCodes(ctx, "globex", "annual", &v, 5, "PK-GLX", "order 2")
	e.must(err)
	ann, vic, gus := e.exchangePeople()
	gw := e.device("gw-acme")
	_, err = ann.ProcessActivationIn(ctx, "acme", gw.activation(map[string][]string{"PK-CAM": {"cam-1"}}))
	e.must(err)
	glx := e.device("gw-globex")
	_, err = gus.ProcessActivationIn(ctx, "globex", glx.activation(map[string][]string{"PK-GLX": {"gx-1"}}))
	e.must(err)
	n := e.exchangeHistory()
	same := func() {
		t.Helper()
		if e.exchangeHistory() != n {
			t.Fatal("a refusal changed the history")
		}
		e.wantPools("acme", 10, 1, 9, 0)
		e.wantPools("globex", 5, 1, 4, 0)
	}

	req := gw.activation(map[string][]string{"PK-CAM": {"cam-1", "cam-2"}, "PK-GLX": {"gx-7"}})
	_, err = vic.ProcessActivationIn(ctx, "acme", req)
	wantErr(t, err, authority.ErrDenied)
	_, err = vic.ReviewActivationIn(ctx, "acme", req)
	wantErr(t, err, authority.ErrDenied)
	_, err = gus.ProcessActivationIn(ctx, "acme", req)
	wantErr(t, err, authority.ErrDenied)

	words := func(err error, udi codes.UDI, keys string) string {
		t.Helper()
		wantErr(t, err, authority.ErrNotFound)
		return strings.NewReplacer(udi.Short(), "UDI", keys, "KEYS").Replace(err.Error())
	}
	_, err = gus.ProcessActivationIn(ctx, "globex", req)
	theirs := words(err, gw.udi, "PK-CAM PK-GLX")
	_, err = gus.ReviewActivationIn(ctx, "globex", req)
	if words(err, gw.udi, "PK-CAM PK-GLX") != theirs {
		t.Fatalf("the review refuses in other words: %v", err)
	}
	stray := e.device("gw-stray")
	_, err = gus.ProcessActivationIn(ctx, "globex", stray.activation(map[string][]string{"PK-NONE": {"n-1"}}))
	if w := words(err, stray.udi, "PK-NONE"); w != theirs {
		t.Fatalf("another organization's gateway and an unknown one are told apart:\n%s\n%s", theirs, w)
	}
	// A new gateway of globex's product, brought to acme: not pinned.
	_, err = ann.ProcessActivationIn(ctx, "acme", e.device("gw-new").activation(map[string][]string{"PK-GLX": {"gx-9"}}))
	wantErr(t, err, authority.ErrNotFound)
	gws, err := gus.Gateways(ctx, "globex")
	e.must(err)
	if len(gws) != 1 {
		t.Fatalf("globex has %d gateways, want 1", len(gws))
	}
	same()

	// The review consumes nothing and says what acme's products have left.
	rv, err := ann.ReviewActivationIn(ctx, "acme", req)
	e.must(err)
	if rv.Gateway == nil || rv.Answered != nil || len(rv.Products) != 2 {
		t.Fatalf("review %+v", rv)
	}
	if p := rv.Products[0]; !p.Ours || p.Name != "cameras" || p.Listed != 2 || p.Valid != 1 || p.Remaining != 9 {
		t.Fatalf("PK-CAM reviewed as %+v", p)
	}
	if p := rv.Products[1]; p.Ours || p.Name != "" || p.Remaining != 0 {
		t.Fatalf("globex's PK-GLX reviewed as %+v", p)
	}
	same()

	a, err := ann.ProcessActivationIn(ctx, "acme", req)
	e.must(err)
	if p := a.Products[0]; p.Consumed != 1 || p.Kept != 1 {
		t.Fatalf("PK-CAM %+v", p)
	}
	if p := a.Products[1]; p.Reason != codes.RefusedUnknownProduct || p.Name != "" || p.Remaining != 0 || p.Refused != 1 {
		t.Fatalf("globex's PK-GLX told as %+v", p)
	}
	// Answered for acme: globex gets it neither again nor reviewed.
	n = e.exchangeHistory()
	_, err = gus.ProcessActivationIn(ctx, "globex", req)
	wantErr(t, err, authority.ErrNotFound)
	_, err = gus.ReviewActivationIn(ctx, "globex", req)
	wantErr(t, err, authority.ErrNotFound)
	rv, err = ann.ReviewActivationIn(ctx, "acme", req)
	e.must(err)
	if string(rv.Answered) != string(a.Code) {
		t.Fatal("the review does not give the answer")
	}
	// A rebuilt gateway (another key, the same UDI): the review warns,
	// processing refuses as the desk does.
	rebuilt := e.device("gw-acme-rebuilt")
	rebuilt.udi = gw.udi
	other := rebuilt.activation(map[string][]string{"PK-CAM": {"cam-3"}})
	rv, err = ann.ReviewActivationIn(ctx, "acme", other)
	e.must(err)
	if !rv.KeyChanged {
		t.Fatal("the review does not warn of the gateway's new key")
	}
	_, err = ann.ProcessActivationIn(ctx, "acme", other)
	wantErr(t, err, authority.ErrGatewayKey)
	if e.exchangeHistory() != n {
		t.Fatal("a refused request changed the history")
	}
	again, err := ann.ProcessActivationIn(ctx, "acme", req)
	e.must(err)
	if !again.Replayed || string(again.Code) != string(a.Code) || e.exchangeHistory() != n {
		t.Fatal("the same request again changed something")
	}
}

// TestImportUsageInIsTheOrganizations: the review records nothing; the
// import records the report once; another organization's instance is
// refused in the words of an unknown instance, a viewer is refused.
func TestImportUsageInIsTheOrganizations(t *testing.T) {
	e := newEnv(t)
	e.setup()
	d := e.device("cam-1")
	_, err := e.l.Reserve(ctx, "acme/plant", d.request(lic(camera, 2)), nil)
	e.must(err)
	ann, vic, gus := e.exchangePeople()
	now := e.clk.Now().Unix()
	usage := func(d *device) []byte {
		code, err := codes.SealUsage(&codes.Usage{UDI: d.udi, From: now - 3600, To: now, HighWater: now, Tags: []codes.TagUsage{{Tag: camera, Peak: 2, Current: 1}}}, d.mac())
		e.must(err)
		return code
	}
	report := usage(d)
	n := e.exchangeHistory()

	_, err = vic.ImportUsageIn(ctx, "acme", report)
	wantErr(t, err, authority.ErrDenied)
	_, err = vic.ReviewUsageIn(ctx, "acme", report)
	wantErr(t, err, authority.ErrDenied)
	nobody := e.device("nobody")
	_, err = ann.ImportUsage(ctx, usage(nobody))
	unknown := strings.ReplaceAll(err.Error(), nobody.udi.Short(), "UDI")
	for name, call := range map[string]func() error{
		"ImportUsageIn": func() error { _, err := gus.ImportUsageIn(ctx, "globex", report); return err },
		"ReviewUsageIn": func() error { _, err := gus.ReviewUsageIn(ctx, "globex", report); return err },
	} {
		err := call()
		wantErr(t, err, authority.ErrNotFound)
		if got := strings.ReplaceAll(err.Error(), d.udi.Short(), "UDI"); got != unknown {
			t.Fatalf("%s: another organization's instance told apart from an unknown one:\n%s\n%s", name, got, unknown)
		}
	}
	if e.exchangeHistory() != n {
		t.Fatal("a refusal changed the history")
	}

	rv, err := ann.ReviewUsageIn(ctx, "acme", report)
	e.must(err)
	if rv.Again || rv.Account != "acme/plant" || rv.Fork != "" || e.exchangeHistory() != n {
		t.Fatalf("review %+v", rv)
	}
	u, err := ann.ImportUsageIn(ctx, "acme", report)
	e.must(err)
	if u.Again || e.exchangeHistory() != n+1 {
		t.Fatalf("import %+v", u)
	}
	rv, err = ann.ReviewUsageIn(ctx, "acme", report)
	e.must(err)
	if !rv.Again {
		t.Fatal("the review does not say the report was imported")
	}
	es, err := vic.UsageEventsIn(ctx, "acme", 10)
	e.must(err)
	if len(es) != 1 || es[0].Instance != d.udi.String() {
		t.Fatalf("usage events %+v", es)
	}
	es, err = gus.UsageEventsIn(ctx, "globex", 10)
	e.must(err)
	if len(es) != 0 {
		t.Fatalf("globex sees acme's usage: %+v", es)
	}
	_, err = gus.UsageEventsIn(ctx, "acme", 10)
	wantErr(t, err, authority.ErrDenied)
}

// TestAnswerExportRequestInIsTheOrganizations: the review answers
// nothing and says why a request would be refused; the answer is found
// again by its request; another organization's code is refused in the
// words of a reservation never issued, a viewer is refused.
func TestAnswerExportRequestInIsTheOrganizations(t *testing.T) {
	e := newEnv(t)
	e.setup()
	e.lot("acme/plant", "vms.crypto", 3, codes.Perpetual, 0, 0, true)
	d := e.device("cam-x")
	a, err := e.l.Reserve(ctx, "acme/plant", d.request(lic(camera, 2)), nil)
	e.must(err)
	ann, vic, gus := e.exchangePeople()
	now := e.clk.Now().Unix()
	xr := d.xr(resBytes(a), 1, "vms.crypto", 2, false, now)
	plain := d.xr(resBytes(a), 1, camera, 1, false, now)
	n := e.exchangeHistory()

	_, err = vic.AnswerExportRequestIn(ctx, "acme", xr)
	wantErr(t, err, authority.ErrDenied)
	never := fmt.Sprintf("names reservation %x, which this ledger never issued", resBytes(a))
	for name, call := range map[string]func() error{
		"AnswerExportRequestIn": func() error { _, err := gus.AnswerExportRequestIn(ctx, "globex", xr); return err },
		"ReviewExportIn":        func() error { _, err := gus.ReviewExportIn(ctx, "globex", xr); return err },
	} {
		err := call()
		wantErr(t, err, authority.ErrNotFound)
		if !strings.Contains(err.Error(), never) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	rv, err := ann.ReviewExportIn(ctx, "acme", plain)
	e.must(err)
	if !strings.Contains(rv.Refusal, "no export-controlled lot") {
		t.Fatalf("refusal %q", rv.Refusal)
	}
	rv, err = ann.ReviewExportIn(ctx, "acme", xr)
	e.must(err)
	if rv.Refusal != "" || rv.Answered != nil || rv.Latest != 1 || rv.Carries != 0 || rv.Account != "acme/plant" {
		t.Fatalf("review %+v", rv)
	}
	if e.exchangeHistory() != n {
		t.Fatal("refusals or the review changed the history")
	}
	au, err := ann.AnswerExportRequestIn(ctx, "acme", xr)
	e.must(err)
	rv, err = ann.ReviewExportIn(ctx, "acme", xr)
	e.must(err)
	if rv.Answered == nil || string(rv.Answered.Code) != string(au.Code) || rv.Refusal == "" {
		t.Fatalf("after the answer: %+v", rv)
	}
	_, err = ann.AnswerExportRequestIn(ctx, "acme", xr)
	wantErr(t, err, authority.ErrStale)
}
