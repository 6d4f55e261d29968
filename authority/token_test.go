package authority_test

import (
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/authority"
)

func TestRegistrationTokens(t *testing.T) {
	e := newEnv(t)
	e.setup()
	tok, rec, err := e.l.CreateToken(ctx, authority.TokenSpec{Account: "acme/plant", ExpiresAt: day("2025-04-01"), MaxUses: 2, ExportAllowed: true})
	e.must(err)
	if !strings.HasPrefix(tok, "TK-") || rec.Account != "acme/plant" || rec.State(e.clk.Now().Unix()) != "active" {
		t.Fatalf("token %q: %+v", tok, rec)
	}
	// Bad input: an unknown account, an expiry in the past, negative uses.
	_, _, err = e.l.CreateToken(ctx, authority.TokenSpec{Account: "acme/nosuch"})
	wantErr(t, err, authority.ErrNotFound)
	_, _, err = e.l.CreateToken(ctx, authority.TokenSpec{Account: "acme/plant", ExpiresAt: day("2025-01-01")})
	wantErr(t, err, authority.ErrInvalid)
	_, _, err = e.l.CreateToken(ctx, authority.TokenSpec{Account: "acme/plant", MaxUses: -1})
	wantErr(t, err, authority.ErrInvalid)

	// Two uses, then used up; a typo names its group; an unknown token.
	for range 2 {
		_, err := e.l.UseToken(ctx, tok)
		e.must(err)
	}
	_, err = e.l.UseToken(ctx, tok)
	wantErr(t, err, authority.ErrTokenSpent)
	bad := []byte(tok)
	if bad[4] == 'A' {
		bad[4] = 'B'
	} else {
		bad[4] = 'A'
	}
	_, err = e.l.UseToken(ctx, string(bad))
	wantErr(t, err, authority.ErrTokenTypo)

	// Unlimited uses until it expires, or until it is revoked.
	tok2, rec2, err := e.l.CreateToken(ctx, authority.TokenSpec{Account: "acme/lab", ExpiresAt: day("2025-03-10")})
	e.must(err)
	for range 5 {
		_, err := e.l.UseToken(ctx, tok2)
		e.must(err)
	}
	e.clk.add(9 * dayD)
	_, err = e.l.UseToken(ctx, tok2)
	wantErr(t, err, authority.ErrTokenSpent)
	tok3, rec3, err := e.l.CreateToken(ctx, authority.TokenSpec{Account: "acme/lab"})
	e.must(err)
	_, err = e.l.RevokeToken(ctx, rec3.ID())
	e.must(err)
	_, err = e.l.RevokeToken(ctx, rec3.ID())
	wantErr(t, err, authority.ErrTokenSpent)
	_, err = e.l.UseToken(ctx, tok3)
	wantErr(t, err, authority.ErrTokenSpent)

	ts, err := e.l.Tokens(ctx, "acme/lab")
	e.must(err)
	if len(ts) != 2 || ts[0].ID() != rec2.ID() || ts[1].State(e.clk.Now().Unix()) != "revoked" {
		t.Fatalf("tokens of acme/lab: %+v", ts)
	}
	// Roles: a viewer of acme may list, not create or revoke; globex's
	// administrator sees nothing of acme.
	_, err = e.l.AddPerson(ctx, authority.Person{Email: "sam@vendor.example", Name: "Sam", Role: authority.RoleVendor})
	e.must(err)
	for _, p := range []authority.Person{
		{Email: "vic@acme.example", Name: "Vic", Role: authority.RoleViewer, Org: "acme"},
		{Email: "gus@globex.example", Name: "Gus", Role: authority.RoleAdmin, Org: "globex"},
	} {
		_, err := e.as("sam@vendor.example").AddPerson(ctx, p)
		e.must(err)
	}
	_, _, err = e.as("vic@acme.example").CreateToken(ctx, authority.TokenSpec{Account: "acme/plant"})
	wantErr(t, err, authority.ErrDenied)
	_, err = e.as("vic@acme.example").Tokens(ctx, "acme/plant")
	e.must(err)
	_, err = e.as("gus@globex.example").Tokens(ctx, "acme/plant")
	wantErr(t, err, authority.ErrDenied)
	_, err = e.as("gus@globex.example").RevokeToken(ctx, rec.ID())
	wantErr(t, err, authority.ErrDenied)
	e.verify()
}
