package authority_test

import (
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes/api"
)

// TestAccountDeniedExportControlled: an account the vendor denies
// export-controlled licenses reserves none, answers no export request
// code, and its connected instances get none though their token allows
// them; allowed again, everything works as before.
func TestAccountDeniedExportControlled(t *testing.T) {
	e := newEnv(t)
	e.setup()
	now := e.clk.Now().Unix()
	e.must(e.l.SetExportAllowed(ctx, "acme/plant", false))
	h, err := e.l.History(ctx, authority.HistoryFilter{})
	e.must(err)
	if last := h[len(h)-1]; !strings.Contains(last.Detail, `export-controlled licenses of "acme/plant" denied (were allowed)`) {
		t.Fatalf("history: %+v", last)
	}

	// Reservation mode: the export-controlled lot is not taken, and the
	// refusal says who allows it.
	d := e.device("offline")
	_, err = e.l.Reserve(ctx, "acme/plant", d.request(lic(camera, 1), lic(analytics, 1)), nil)
	wantErr(t, err, authority.ErrUnavailable)
	if !strings.Contains(err.Error(), "export-controlled lots, which it may not hold") || !strings.Contains(err.Error(), "account set --export-controlled allow acme/plant") {
		t.Fatalf("refusal does not explain: %v", err)
	}
	e.wantBalance("acme/plant", analytics, 4, 4, 0, 0)
	a, err := e.l.Reserve(ctx, "acme/plant", d.request(lic(camera, 1)), nil)
	e.must(err)
	hist := e.historyLen()
	_, err = e.l.AnswerExportRequest(ctx, d.xr(resBytes(a), 1, analytics, 1, false, now))
	wantErr(t, err, authority.ErrExportRefused)
	if !strings.Contains(err.Error(), `the vendor denies account "acme/plant"`) || e.historyLen() != hist+1 {
		t.Fatalf("export request code: %v, %d events (was %d)", err, e.historyLen(), hist)
	}

	// Connected mode: a token that allows export is not enough.
	c := e.cdev("connected")
	r, err := c.register(e.token("acme/plant", true, 0), false, lic(camera, 1), lic(analytics, 1))
	e.must(err)
	if len(r.Refused) != 1 || r.Refused[0].Tag != analytics || !strings.Contains(r.Refused[0].Reason, `the vendor denies account "acme/plant"`) {
		t.Fatalf("registration refused %v, want %s", r.Refused, analytics)
	}
	c.take(r)
	x := api.ExportRequest{Tag: analytics, Count: 1}
	_, err = e.l.RequestExport(ctx, c.caller(api.PathExport, x), x)
	wantErr(t, err, authority.ErrExportRefused)
	e.wantBalance("acme/plant", analytics, 4, 4, 0, 0)
	e.verify()

	// Allowed again.
	e.must(e.l.SetExportAllowed(ctx, "acme/plant", true))
	got, err := e.l.RequestExport(ctx, c.caller(api.PathExport, x), x)
	e.must(err)
	if code := c.take(got); lines(code) != camera+"=1 "+analytics+"=1" {
		t.Fatalf("after allowing: %s", lines(code))
	}
	e.wantBalance("acme/plant", analytics, 4, 3, 1, 0)
	e.verify()
}
