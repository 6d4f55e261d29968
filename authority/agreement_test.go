package authority_test

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/authority/store"
)

// agreement has the vendor make agreement "msa" of acme for days from
// to to (excluded): 10 cameras and 5 analytics of vms.
func (e *env) agreement(from, to string) *authority.Agreement {
	e.t.Helper()
	a, err := e.as("sam@vendor.example").CreateAgreement(ctx, authority.AgreementSpec{Org: "acme", Name: "msa", From: day(from), To: day(to),
		Caps: []authority.AgreementCap{{Software: "vms", Tag: camera, Cap: 10}, {Software: "vms", Tag: analytics, Cap: 5}}})
	e.must(err)
	return a
}

// at sets the test clock to t (Unix seconds).
func (e *env) at(t int64) {
	e.clk.mu.Lock()
	e.clk.t = time.Unix(t, 0).UTC()
	e.clk.mu.Unlock()
}

func draw(n int64) authority.DrawSpec {
	return authority.DrawSpec{Org: "acme", Agreement: "msa", Tag: camera, Count: n}
}

func TestAgreementDrawsOnlyWithinItsTerm(t *testing.T) {
	e := newEnv(t)
	e.portal()
	e.agreement("2025-04-01", "2025-05-01")
	ann := e.as("ann@acme.example")

	_, err := ann.DrawAgreement(ctx, draw(1))
	wantErr(t, err, authority.ErrOutsideTerm)
	e.at(day("2025-04-01") - 1)
	_, err = ann.DrawAgreement(ctx, draw(1))
	wantErr(t, err, authority.ErrOutsideTerm)
	if !strings.Contains(err.Error(), "2025-04-01..2025-04-30") {
		t.Errorf("the refusal does not say the term: %v", err)
	}
	e.at(day("2025-04-01"))
	_, err = ann.DrawAgreement(ctx, draw(1))
	e.must(err)
	e.at(day("2025-05-01") - 1)
	_, err = ann.DrawAgreement(ctx, draw(1))
	e.must(err)
	e.at(day("2025-05-01"))
	_, err = ann.DrawAgreement(ctx, draw(1))
	wantErr(t, err, authority.ErrOutsideTerm)

	// A term that ended is not made; one that is not a whole number of
	// days is refused.
	_, err = e.as("sam@vendor.example").CreateAgreement(ctx, authority.AgreementSpec{Org: "acme", Name: "old", From: day("2025-01-01"), To: day("2025-02-01"),
		Caps: []authority.AgreementCap{{Software: "vms", Tag: camera, Cap: 1}}})
	wantErr(t, err, authority.ErrInvalid)
	_, err = e.as("sam@vendor.example").CreateAgreement(ctx, authority.AgreementSpec{Org: "acme", Name: "odd", From: day("2025-06-01") + 3600, To: day("2025-07-01"),
		Caps: []authority.AgreementCap{{Software: "vms", Tag: camera, Cap: 1}}})
	wantErr(t, err, authority.ErrInvalid)
	e.verify()
}

func TestAgreementCapReachedExactlyThenRefused(t *testing.T) {
	e := newEnv(t)
	e.portal()
	e.agreement("2025-03-01", "2026-03-01")
	ann := e.as("ann@acme.example")

	d, err := ann.DrawAgreement(ctx, draw(4))
	e.must(err)
	if !strings.HasPrefix(d.Key, "LK-") || d.Record.Software != "vms" || d.Registration.Contact != "Ann" || d.Registration.Email != "ann@acme.example" {
		t.Fatalf("drawn: %+v", d)
	}
	_, err = ann.DrawAgreement(ctx, draw(7))
	wantErr(t, err, authority.ErrAgreementCap)
	wantErr(t, err, authority.ErrUnavailable)
	if !strings.Contains(err.Error(), "4 drawn, 6 left, 7 asked for") {
		t.Errorf("the refusal does not say what is left: %v", err)
	}
	_, err = ann.DrawAgreement(ctx, draw(6))
	e.must(err)
	_, err = ann.DrawAgreement(ctx, draw(1))
	wantErr(t, err, authority.ErrAgreementCap)
	if !strings.Contains(err.Error(), "0 left") {
		t.Errorf("the refusal does not say nothing is left: %v", err)
	}
	// The other tag has its own cap; an unknown tag is refused.
	_, err = ann.DrawAgreement(ctx, authority.DrawSpec{Org: "acme", Agreement: "msa", Tag: analytics, Count: 5, Years: 2})
	e.must(err)
	_, err = ann.DrawAgreement(ctx, authority.DrawSpec{Org: "acme", Agreement: "msa", Tag: hwTag, Count: 1})
	wantErr(t, err, authority.ErrNotCapped)
	wantErr(t, err, authority.ErrNotFound)
	_, err = ann.DrawAgreement(ctx, authority.DrawSpec{Org: "acme", Agreement: "nosuch", Tag: camera, Count: 1})
	wantErr(t, err, authority.ErrNoAgreement)

	// The report, for a viewer too: per tag, the cap, drawn, left and
	// each draw; the keys are the organization's licenses.
	r, err := e.as("vic@acme.example").ReportAgreement(ctx, "acme", "msa")
	e.must(err)
	if len(r.Tags) != 2 || r.Tags[0].Tag != analytics || r.Tags[1].Tag != camera {
		t.Fatalf("report tags: %+v", r.Tags)
	}
	an, cam := r.Tags[0], r.Tags[1]
	if cam.Cap != 10 || cam.Drawn != 10 || cam.Left() != 0 || len(cam.Draws) != 2 || cam.Draws[0].Count != 4 || cam.Draws[1].Count != 6 ||
		cam.Draws[0].Actor != "ann@acme.example" || an.Drawn != 5 || len(an.Draws) != 1 || an.Draws[0].Years != 2 {
		t.Fatalf("report: %+v", r.Tags)
	}
	lics, err := ann.OrgLicenses(ctx, "acme", nil)
	e.must(err)
	if len(lics) != 3 {
		t.Fatalf("acme holds %d licenses, want the 3 drawn", len(lics))
	}
	e.verify()
}

func TestAgreementRolesAreChecked(t *testing.T) {
	e := newEnv(t)
	e.portal()
	spec := authority.AgreementSpec{Org: "acme", Name: "msa", From: day("2025-03-01"), To: day("2026-03-01"),
		Caps: []authority.AgreementCap{{Software: "vms", Tag: camera, Cap: 10}}}
	_, err := e.as("ann@acme.example").CreateAgreement(ctx, spec)
	wantErr(t, err, authority.ErrDenied)
	_, err = e.as("sam@vendor.example").CreateAgreement(ctx, spec)
	e.must(err)
	_, err = e.as("sam@vendor.example").CreateAgreement(ctx, spec)
	wantErr(t, err, authority.ErrAgreementExists)
	wantErr(t, err, authority.ErrExists)

	for actor, want := range map[string]string{
		"vic@acme.example":    "viewers read",
		"gus@globex.example":  `is a person of "globex"`,
		"pat@partner.example": "has not delegated",
		"mallory@example.com": "is nobody on this ledger",
	} {
		_, err := e.as(actor).DrawAgreement(ctx, draw(1))
		wantErr(t, err, authority.ErrDenied)
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", actor, err)
		}
	}
	// Another organization learns nothing of acme's agreements.
	_, err = e.as("gus@globex.example").ReportAgreement(ctx, "acme", "msa")
	wantErr(t, err, authority.ErrDenied)
	_, err = e.as("gus@globex.example").Agreements(ctx, "acme")
	wantErr(t, err, authority.ErrDenied)
	ags, err := e.as("vic@acme.example").Agreements(ctx, "acme")
	e.must(err)
	if len(ags) != 1 || ags[0].Name != "msa" || ags[0].Caps[0].Cap != 10 {
		t.Fatalf("agreements: %+v", ags)
	}

	// Delegated to, the partner draws; the history names the partner
	// and the organization, with the key drawn; the vendor draws too.
	e.must(e.as("ann@acme.example").Delegate(ctx, "acme", "Contoso", false))
	d, err := e.as("pat@partner.example").DrawAgreement(ctx, draw(2))
	e.must(err)
	_, err = e.as("sam@vendor.example").DrawAgreement(ctx, draw(1))
	e.must(err)
	found := false
	e.must(e.st.View(ctx, func(tx authority.ReadTx) error {
		return tx.History(authority.HistoryFilter{}, func(ev *authority.Event) error {
			if ev.Action == "agreement draw" && ev.Actor == "pat@partner.example (partner Contoso, for acme)" &&
				strings.Contains(ev.Detail, d.Record.KeyID()) && ev.Account == "acme" {
				found = true
			}
			return nil
		})
	}))
	if !found {
		t.Error("the partner's draw does not name the partner, the organization and the key")
	}
	e.must(e.as("ann@acme.example").Delegate(ctx, "acme", "Contoso", true))
	_, err = e.as("pat@partner.example").DrawAgreement(ctx, draw(1))
	wantErr(t, err, authority.ErrDenied)
	e.verify()
}

func TestParseAgreementCap(t *testing.T) {
	c, err := authority.ParseAgreementCap("vms:vms.camera.core=100")
	if err != nil || c.Software != "vms" || c.Tag != "vms.camera.core" || c.Cap != 100 {
		t.Fatalf("got %+v, %v", c, err)
	}
	for _, bad := range []string{"vms.camera.core=100", "vms:vms.camera.core", "vms:vms.camera.core=x", ""} {
		if _, err := authority.ParseAgreementCap(bad); !errors.Is(err, authority.ErrInvalid) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// TestConcurrentAgreementDrawsNeverExceedTheCap has eight processes draw
// from a cap of 50 at once, one or two licenses at a time, until
// refused: exactly 50 are drawn, each in its own key, and the ledger
// verifies.
func TestConcurrentAgreementDrawsNeverExceedTheCap(t *testing.T) {
	e := newEnv(t)
	e.portal()
	_, err := e.as("sam@vendor.example").CreateAgreement(ctx, authority.AgreementSpec{Org: "acme", Name: "msa", From: day("2025-03-01"), To: day("2026-03-01"),
		Caps: []authority.AgreementCap{{Software: "vms", Tag: camera, Cap: 50}}})
	e.must(err)
	var wg sync.WaitGroup
	var drawn, draws atomic.Int64
	var mu sync.Mutex
	keys := map[string]bool{}
	for g := range 8 {
		st, err := store.Open(e.path, store.Options{})
		e.must(err)
		t.Cleanup(func() { st.Close() })
		opts := e.opts
		opts.Actor = "ann@acme.example"
		l := authority.New(st, opts) // its own connection, as another process
		n := int64(1 + g%2)
		wg.Go(func() {
			for {
				d, err := l.DrawAgreement(ctx, draw(n))
				if errors.Is(err, authority.ErrAgreementCap) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				drawn.Add(d.Draw.Count)
				draws.Add(1)
				mu.Lock()
				keys[d.Key] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	r, err := e.as("ann@acme.example").ReportAgreement(ctx, "acme", "msa")
	e.must(err)
	if drawn.Load() != 50 || r.Tags[0].Drawn != 50 || int64(len(r.Tags[0].Draws)) != draws.Load() || int64(len(keys)) != draws.Load() {
		t.Fatalf("drawn %d in %d draws (%d keys); the ledger counts %d in %d draws; want 50", drawn.Load(), draws.Load(), len(keys), r.Tags[0].Drawn, len(r.Tags[0].Draws))
	}
	e.verify()
}

// TestAgreementReportDetectsEditedRecords: the report is what the vendor
// bills, so a count, a draw or a cap changed in the file fails it.
func TestAgreementReportDetectsEditedRecords(t *testing.T) {
	for _, tc := range []struct {
		name string
		stmt string
		want string
	}{
		{"drawn count lowered", `UPDATE agreement_caps SET drawn = 1 WHERE tag = 'vms.camera.core'`, "counts 1 vms.camera.core drawn, its draws add up to 4"},
		{"draw deleted", `DELETE FROM agreement_draws`, "counts 4 vms.camera.core drawn, its draws add up to 0"},
		{"cap raised", `UPDATE agreement_caps SET cap = 1000 WHERE tag = 'vms.camera.core'`, "is not the agreement its history event recorded"},
		{"term extended", `UPDATE agreements SET to_at = to_at + 365*86400`, "is not the agreement its history event recorded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.portal()
			e.agreement("2025-03-01", "2026-03-01")
			_, err := e.as("ann@acme.example").DrawAgreement(ctx, draw(4))
			e.must(err)
			e.verify()
			e.tamper(tc.stmt)
			_, err = e.as("ann@acme.example").ReportAgreement(ctx, "acme", "msa")
			wantErr(t, err, authority.ErrCorrupt)
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %q, want %q", err, tc.want)
			}
			// verify catches it too.
			if _, err := authority.VerifyStore(ctx, e.l.Store()); !errors.Is(err, authority.ErrCorrupt) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("verify: %v", err)
			}
		})
	}
}
