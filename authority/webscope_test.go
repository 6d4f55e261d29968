package authority_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

// TestScopedOperationsStayInTheirOrganization: what each role may read
// and manage through the organization-scoped operations a front end
// uses, and that codes of one organization's instances are refused in
// another's, changing nothing.
func TestScopedOperationsStayInTheirOrganization(t *testing.T) {
	e := newEnv(t)
	e.setup()
	vera, ann, vic := e.people()
	_, err := vera.AddPerson(ctx, authority.Person{Email: "gus@globex.example", Name: "Gus", Role: authority.RoleAdmin, Org: "globex"})
	e.must(err)
	_, err = vera.AddPerson(ctx, authority.Person{Email: "pat@partner.example", Name: "Pat", Role: authority.RolePartner, Partner: "Contoso"})
	e.must(err)
	e.must(ann.Delegate(ctx, "acme", "Contoso", false))
	gus, pat := e.l.As("gus@globex.example"), e.l.As("pat@partner.example")
	e.lot("globex/hq", camera, 5, codes.Perpetual, 0, 0, false)

	names := func(l *authority.Ledger) []string {
		os, err := l.Orgs(ctx)
		e.must(err)
		var out []string
		for _, o := range os {
			out = append(out, o.Name)
		}
		return out
	}
	for _, tc := range []struct {
		who  string
		l    *authority.Ledger
		orgs []string
	}{
		{"vera", vera, []string{"acme", "globex"}},
		{"ann", ann, []string{"acme"}},
		{"vic", vic, []string{"acme"}},
		{"gus", gus, []string{"globex"}},
		{"pat", pat, []string{"acme"}},
	} {
		if got := names(tc.l); !slices.Equal(got, tc.orgs) {
			t.Errorf("%s reads %v, want %v", tc.who, got, tc.orgs)
		}
	}
	for _, tc := range []struct {
		who    string
		l      *authority.Ledger
		org    string
		manage bool
		err    error
	}{
		{"ann", ann, "acme", true, nil},
		{"vic", vic, "acme", false, nil},
		{"pat", pat, "acme", true, nil},
		{"vera", vera, "globex", true, nil},
		{"ann", ann, "globex", false, authority.ErrDenied},
		{"pat", pat, "globex", false, authority.ErrDenied},
		{"ann", ann, "initech", false, authority.ErrDenied},
		{"vera", vera, "initech", false, authority.ErrNotFound},
	} {
		a, err := tc.l.Access(ctx, tc.org)
		if !errors.Is(err, tc.err) || (err == nil && a.Manage != tc.manage) {
			t.Errorf("%s on %s: %+v, %v", tc.who, tc.org, a, err)
		}
	}
	if _, _, err := ann.OrgBalances(ctx, "globex"); !errors.Is(err, authority.ErrDenied) {
		t.Errorf("ann's balances of globex: %v", err)
	}
	accts, bs, err := ann.OrgBalances(ctx, "acme")
	e.must(err)
	if len(accts) != 2 || len(bs) != 3 {
		t.Errorf("acme: %d accounts, %d balances", len(accts), len(bs))
	}
	for _, b := range bs {
		if b.Account != "acme/plant" {
			t.Errorf("acme's balances hold %s", b.Account)
		}
	}

	// A globex instance, reserved and installed there.
	d := e.device("cam-g")
	a, err := gus.ReserveIn(ctx, "globex", "hq", d.request(lic(camera, 2)), nil)
	e.must(err)
	n := e.historyLen()
	if _, err := ann.ConfirmIn(ctx, "acme", d.confirm(resBytes(a), 1)); !errors.Is(err, authority.ErrDenied) {
		t.Fatalf("acme confirmed globex's code: %v", err)
	}
	if _, err := ann.ReturnIn(ctx, "acme", d.ret(resBytes(a), 1, false)); !errors.Is(err, authority.ErrDenied) {
		t.Fatalf("acme returned globex's reservation: %v", err)
	}
	if _, err := vic.ReviewRequest(ctx, "acme", d.request(lic(camera, 1))); !errors.Is(err, authority.ErrDenied) {
		t.Fatalf("a viewer reviewed a request: %v", err)
	}
	if e.historyLen() != n {
		t.Fatal("a refused code changed the ledger")
	}
	e.wantBalance("globex/hq", camera, 5, 3, 2, 0)
	ap, err := gus.ReturnIn(ctx, "globex", d.ret(resBytes(a), 1, false))
	e.must(err)
	if len(ap.Released) != 1 || ap.Released[0].Count != 2 {
		t.Fatalf("returned %+v", ap)
	}
	e.wantBalance("globex/hq", camera, 5, 5, 0, 0)

	// Reviewing a request says what it asks and whether it was answered.
	d2 := e.device("cam-a")
	req := d2.request(lic(camera, 4))
	rv, err := pat.ReviewRequest(ctx, "acme", req)
	e.must(err)
	if rv.Answered != nil || rv.Request.UDI.SN != "cam-a" || len(rv.Request.Wanted) != 1 {
		t.Fatalf("review %+v", rv)
	}
	_, err = pat.ReserveIn(ctx, "acme", "plant", req, nil)
	e.must(err)
	rv, err = ann.ReviewRequest(ctx, "acme", req)
	e.must(err)
	if rv.Answered == nil || rv.Account != "acme/plant" {
		t.Fatalf("review after the reservation %+v", rv)
	}
	if _, err := gus.ReviewRequest(ctx, "globex", req); !errors.Is(err, authority.ErrDenied) {
		t.Fatalf("globex reviews acme's answer: %v", err)
	}
	if _, err := gus.ReserveIn(ctx, "globex", "hq", req, nil); !errors.Is(err, authority.ErrDenied) {
		t.Fatalf("globex is served acme's answer: %v", err)
	}
	e.verify()
}

// TestSetPasswordFollowsTheRoles: who may set whose password.
func TestSetPasswordFollowsTheRoles(t *testing.T) {
	e := newEnv(t)
	e.setup()
	vera, ann, vic := e.people()
	_, err := vera.AddPerson(ctx, authority.Person{Email: "gus@globex.example", Name: "Gus", Role: authority.RoleAdmin, Org: "globex"})
	e.must(err)
	cheap := authority.PasswordParams{Time: 1, Memory: 64, Threads: 1}
	const pw = "a long enough passphrase"
	for _, tc := range []struct {
		who    string
		l      *authority.Ledger
		target string
		err    error
	}{
		{"vera", vera, "gus@globex.example", nil},
		{"vera", vera, "nobody@acme.example", authority.ErrNotFound},
		{"ann", ann, "vic@acme.example", nil},
		{"ann", ann, "ann@acme.example", nil},
		{"ann", ann, "gus@globex.example", authority.ErrDenied},
		{"ann", ann, "vera@vendor.example", authority.ErrDenied},
		{"ann", ann, "nobody@acme.example", authority.ErrDenied},
		{"vic", vic, "ann@acme.example", authority.ErrDenied},
		{"vic", vic, "vic@acme.example", nil},
	} {
		if err := tc.l.SetPassword(ctx, tc.target, pw, cheap); !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("%s sets %s's password: %v, want %v", tc.who, tc.target, err, tc.err)
		}
	}
	for _, bad := range []string{"short", "vic@acme.example", "twelve chars\x00 with a NUL"} {
		if err := vic.SetPassword(ctx, "vic@acme.example", bad, cheap); !errors.Is(err, authority.ErrInvalid) {
			t.Errorf("password %q: %v", bad, err)
		}
	}
	if err := vic.SetPassword(ctx, "vic@acme.example", pw, authority.PasswordParams{Time: 1, Memory: 4 << 20, Threads: 1}); !errors.Is(err, authority.ErrInvalid) {
		t.Errorf("4 GiB of memory: %v", err)
	}
	e.verify()
}
