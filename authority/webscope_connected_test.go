package authority_test

import (
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes/api"
)

// TestWebConnectedScopesTokensAndInstances: the org-scoped calls of the
// connected mode show and change one organization's tokens and
// instances only, refuse another's in the words of one that does not
// exist, and leave the role checks to the library's own calls.
func TestWebConnectedScopesTokensAndInstances(t *testing.T) {
	e := newEnv(t)
	e.setup()
	vera, ann, vic := e.people()
	_, err := vera.AddPerson(ctx, authority.Person{Email: "gus@globex.example", Name: "Gus", Role: authority.RoleAdmin, Org: "globex"})
	e.must(err)
	gus := e.l.As("gus@globex.example")

	tok, tk, err := ann.CreateOrgToken(ctx, "acme", authority.TokenSpec{Account: "acme/plant", ExportAllowed: true})
	e.must(err)
	_, _, err = ann.CreateOrgToken(ctx, "acme", authority.TokenSpec{Account: "globex/hq"})
	wantErr(t, err, authority.ErrNotFound)
	_, _, err = vic.CreateOrgToken(ctx, "acme", authority.TokenSpec{Account: "acme/plant"})
	wantErr(t, err, authority.ErrDenied)
	_, _, err = gus.CreateOrgToken(ctx, "acme", authority.TokenSpec{Account: "acme/plant"})
	wantErr(t, err, authority.ErrDenied)
	gtok, _, err := gus.CreateOrgToken(ctx, "globex", authority.TokenSpec{Account: "globex/hq"})
	e.must(err)

	d := e.device("cam-c")
	_, err = e.l.RegisterConnected(ctx, api.RegisterRequest{Token: tok, Request: d.request(lic(camera, 2))})
	e.must(err)
	g := e.device("cam-g")
	_, err = e.l.RegisterConnected(ctx, api.RegisterRequest{Token: gtok, Request: g.request()})
	e.must(err)

	for _, l := range []*authority.Ledger{vera, ann, vic} {
		ts, err := l.OrgTokens(ctx, "acme")
		e.must(err)
		if len(ts) != 1 || ts[0].ID() != tk.ID() {
			t.Fatalf("acme's tokens: %v", ts)
		}
		is, err := l.OrgConnected(ctx, "acme")
		e.must(err)
		if len(is) != 1 || is[0].UDI != d.udi.String() {
			t.Fatalf("acme's connected instances: %v", is)
		}
		info, err := l.OrgConnectedShow(ctx, "acme", d.udi.String())
		e.must(err)
		if info.Account != "acme/plant" || len(info.History) == 0 {
			t.Fatalf("acme's instance: %+v", info)
		}
	}
	_, err = gus.OrgTokens(ctx, "acme")
	wantErr(t, err, authority.ErrDenied)
	_, err = gus.OrgConnected(ctx, "acme")
	wantErr(t, err, authority.ErrDenied)

	// Even the vendor sees no other organization's instance or token
	// through globex's calls, and the refusal is that of none.
	before := history(t, e.l)
	_, mine := vera.OrgConnectedShow(ctx, "globex", d.udi.String())
	_, none := vera.OrgConnectedShow(ctx, "globex", "P:VMS,S:nobody")
	wantErr(t, mine, authority.ErrNotFound)
	if strings.Replace(mine.Error(), d.udi.String(), "P:VMS,S:nobody", 1) != none.Error() {
		t.Fatalf("told apart: %v / %v", mine, none)
	}
	_, mine = gus.RevokeOrgToken(ctx, "globex", tk.ID())
	_, none = gus.RevokeOrgToken(ctx, "globex", "0123456789abcdef")
	wantErr(t, mine, authority.ErrNotFound)
	if strings.Replace(mine.Error(), tk.ID(), "0123456789abcdef", 1) != none.Error() {
		t.Fatalf("told apart: %v / %v", mine, none)
	}
	_, err = vic.RevokeOrgToken(ctx, "acme", tk.ID())
	wantErr(t, err, authority.ErrDenied)
	if after := history(t, e.l); after != before {
		t.Fatalf("refusals changed the ledger: %d events, then %d", before, after)
	}
	got, err := ann.RevokeOrgToken(ctx, "acme", tk.ID())
	e.must(err)
	if got.RevokedAt == 0 {
		t.Fatal("not revoked")
	}
}

// TestWebSyncReviewAndAnswerAreTheVendors: a satellite's sync request is
// reviewed (changing nothing) and answered by the vendor's staff only.
func TestWebSyncReviewAndAnswerAreTheVendors(t *testing.T) {
	v := newEnv(t)
	v.setup()
	vera, ann, _ := v.people()
	s := newSite(t, v, "ship-sat")
	_, err := vera.AddSatellite(ctx, "ship-sat", s.trust, []string{"acme/lab"})
	v.must(err)
	ex, err := s.l.ExportSync(ctx)
	s.must(err)
	before := history(t, v.l)
	_, err = ann.ReviewSync(ctx, ex.Code)
	wantErr(t, err, authority.ErrDenied)
	_, err = ann.DeskAnswerSync(ctx, ex.Code)
	wantErr(t, err, authority.ErrDenied)
	rv, err := vera.ReviewSync(ctx, ex.Code)
	v.must(err)
	if rv.Request.Satellite != "ship-sat" || rv.Last != nil || len(rv.Accounts) != 1 {
		t.Fatalf("review: %+v", rv)
	}
	if after := history(t, v.l); after != before {
		t.Fatalf("the review and refusals changed the ledger: %d events, then %d", before, after)
	}
	a, err := vera.DeskAnswerSync(ctx, ex.Code)
	v.must(err)
	if _, err := s.l.ImportSync(ctx, a.Code); err != nil {
		t.Fatal(err)
	}
	rv, err = vera.ReviewSync(ctx, ex.Code)
	v.must(err)
	if rv.Last == nil || rv.Last.Sequence != rv.Request.Sequence {
		t.Fatalf("review after the answer: %+v", rv.Last)
	}
	_, err = vera.DeskAnswerSync(ctx, ex.Code)
	wantErr(t, err, authority.ErrSyncReplayed)
}
