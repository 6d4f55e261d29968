package authority_test

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/authority"
)

// TestCatalogueReadsAreTheVendors: the release files and the tier ladders
// are the vendor's catalogue; before any vendor person exists the desk
// reads and changes them, afterwards a customer's administrator and
// viewer are refused every read and change of them, and nothing changes.
func TestCatalogueReadsAreTheVendors(t *testing.T) {
	e := newEnv(t)
	e.setup()
	sum := sha256.Sum256([]byte("server"))
	_, err := e.l.AddRelease(ctx, "vms-server", "4.2.0", "vms-server.tar.gz", sum[:], 6, []string{"vms"})
	e.must(err)
	_, err = e.l.SetLadder(ctx, "vms", []string{"vms.basic", "vms.enhanced"})
	e.must(err)
	if rs, err := e.l.Releases(ctx); err != nil || len(rs) != 1 {
		t.Fatalf("the desk before people: %d releases, %v", len(rs), err)
	}
	if ls, err := e.l.Ladders(ctx); err != nil || len(ls) != 1 {
		t.Fatalf("the desk before people: %d ladders, %v", len(ls), err)
	}
	vera, ann, vic := e.people()
	if rs, err := vera.Releases(ctx); err != nil || len(rs) != 1 {
		t.Fatalf("vendor: %d releases, %v", len(rs), err)
	}
	if ls, err := vera.Ladders(ctx); err != nil || len(ls) != 1 {
		t.Fatalf("vendor: %d ladders, %v", len(ls), err)
	}
	before := e.historyLen()
	for _, who := range []struct {
		name string
		l    *authority.Ledger
	}{{"admin", ann}, {"viewer", vic}} {
		if rs, err := who.l.Releases(ctx); !errors.Is(err, authority.ErrDenied) || rs != nil {
			t.Errorf("%s lists every release: %v, %v", who.name, rs, err)
		}
		if ls, err := who.l.Ladders(ctx); !errors.Is(err, authority.ErrDenied) || ls != nil {
			t.Errorf("%s lists the ladders: %v, %v", who.name, ls, err)
		}
		if _, err := who.l.SetLadder(ctx, "vms", []string{"vms.basic", "vms.enhanced", "vms.plus"}); !errors.Is(err, authority.ErrDenied) {
			t.Errorf("%s sets a ladder: %v", who.name, err)
		}
		if err := who.l.DeleteLadder(ctx, "vms"); !errors.Is(err, authority.ErrDenied) {
			t.Errorf("%s deletes a ladder: %v", who.name, err)
		}
		if _, err := who.l.AddRelease(ctx, "vms-server", "4.3.0", "vms-server-4.3.tar.gz", sum[:], 6, []string{"vms"}); !errors.Is(err, authority.ErrDenied) {
			t.Errorf("%s adds a release: %v", who.name, err)
		}
		if _, err := who.l.IssueUpgradeNotice(ctx, authority.UpgradeNotice{FromSoftware: "vms", FromTag: camera, ToSoftware: "vms-pro", ToTag: "vmspro.camera", Quantity: 1}, "acme"); !errors.Is(err, authority.ErrDenied) {
			t.Errorf("%s issues an upgrade notification: %v", who.name, err)
		}
	}
	if got := e.historyLen(); got != before {
		t.Fatalf("refused operations changed the history: %d events, want %d", got, before)
	}
	if ls, _ := vera.Ladders(ctx); len(ls) != 1 || len(ls[0].Tags) != 2 {
		t.Fatalf("the ladders changed: %+v", ls)
	}
	if rs, _ := vera.Releases(ctx); len(rs) != 1 {
		t.Fatalf("the releases changed: %+v", rs)
	}
	// An organization still reads what it is entitled to.
	_, err = vera.AddProduct(ctx, "acme", "site-1", "vms")
	e.must(err)
	if rs, err := vic.EntitledReleases(ctx, "acme"); err != nil || len(rs) != 1 {
		t.Fatalf("viewer's entitled releases: %d, %v", len(rs), err)
	}
}

// TestScopedLicenseChangesStayInTheirOrganization: SetLicenseFieldIn and
// ShareLicenseIn change a license of the organization named only; a key
// of another organization is refused in the words of one that does not
// exist, for the vendor's staff too, and changes nothing; a viewer is
// refused; OrgDelegations lists the delegations, revoked ones included,
// to those who read the organization only.
func TestScopedLicenseChangesStayInTheirOrganization(t *testing.T) {
	e := newEnv(t)
	e.setup()
	vera, ann, vic := e.people()
	_, err := vera.AddPerson(ctx, authority.Person{Email: "gus@globex.example", Name: "Gus", Role: authority.RoleAdmin, Org: "globex"})
	e.must(err)
	gus := e.l.As("gus@globex.example")
	register := func(org string) string {
		sn, err := vera.IssueSerial(ctx, authority.SerialSpec{Software: "vms", Tag: camera, Count: 2})
		e.must(err)
		r, err := vera.Register(ctx, authority.RegisterSpec{Serial: sn, Org: org, Contact: "Ops", Email: "ops@" + org + ".example"}, false)
		e.must(err)
		return r.Record.KeyID()
	}
	acmeKey, globexKey := register("acme"), register("globex")

	if did, err := ann.SetLicenseFieldIn(ctx, "acme", acmeKey, "site", "plant-4"); err != nil || !did {
		t.Fatalf("ann sets a field of acme's license: %v, %v", did, err)
	}
	before := e.historyLen()
	words := func(err error, key string) string { return strings.ReplaceAll(err.Error(), key, "KEY") }
	for _, tc := range []struct {
		who string
		l   *authority.Ledger
	}{{"ann", ann}, {"vera", vera}} {
		_, err := tc.l.SetLicenseFieldIn(ctx, "acme", globexKey, "site", "x")
		_, unknown := tc.l.SetLicenseFieldIn(ctx, "acme", "0123456789abcdef", "site", "x")
		if !errors.Is(err, authority.ErrNotFound) || words(err, globexKey) != words(unknown, "0123456789abcdef") {
			t.Errorf("%s sets a field of globex's key on acme: %v (unknown: %v)", tc.who, err, unknown)
		}
		err = tc.l.ShareLicenseIn(ctx, "acme", globexKey, "gus@globex.example", "viewer")
		if !errors.Is(err, authority.ErrNotFound) {
			t.Errorf("%s shares globex's key on acme: %v", tc.who, err)
		}
	}
	for _, tc := range []struct {
		what string
		err  error
	}{
		{"ann on globex", func() error { _, err := ann.SetLicenseFieldIn(ctx, "globex", globexKey, "site", "x"); return err }()},
		{"ann on an unknown organization", func() error { _, err := ann.SetLicenseFieldIn(ctx, "initech", globexKey, "site", "x"); return err }()},
		{"vic sets", func() error { _, err := vic.SetLicenseFieldIn(ctx, "acme", acmeKey, "site", "x"); return err }()},
		{"vic shares", vic.ShareLicenseIn(ctx, "acme", acmeKey, "vic@acme.example", "manager")},
		{"gus shares acme's", gus.ShareLicenseIn(ctx, "acme", acmeKey, "gus@globex.example", "manager")},
	} {
		if !errors.Is(tc.err, authority.ErrDenied) {
			t.Errorf("%s: %v, want refused", tc.what, tc.err)
		}
	}
	if _, err := ann.SetLicenseFieldIn(ctx, "acme", strings.Repeat("<b>", 100), "site", "x"); !errors.Is(err, authority.ErrNotFound) || strings.Contains(err.Error(), strings.Repeat("<b>", 10)) {
		t.Errorf("a huge key reference: %v", err)
	}
	if got := e.historyLen(); got != before {
		t.Fatalf("refusals changed the history: %d events, want %d", got, before)
	}
	e.must(ann.ShareLicenseIn(ctx, "acme", acmeKey, "vic@acme.example", "manager"))
	// Shared as manager, the viewer may set the license's fields.
	if did, err := vic.SetLicenseFieldIn(ctx, "acme", acmeKey, "owner", "ops"); err != nil || !did {
		t.Fatalf("vic, manager of the license: %v, %v", did, err)
	}

	// A partner none of whose people is on the ledger is a typing error.
	wantErr(t, ann.Delegate(ctx, "acme", "Contso", false), authority.ErrNotFound)
	for _, p := range []authority.Person{
		{Email: "pat@contoso.example", Name: "Pat", Role: authority.RolePartner, Partner: "Contoso"},
		{Email: "fay@fabrikam.example", Name: "Fay", Role: authority.RolePartner, Partner: "Fabrikam"},
	} {
		_, err := vera.AddPerson(ctx, p)
		e.must(err)
	}
	e.must(ann.Delegate(ctx, "acme", "Contoso", false))
	e.must(ann.Delegate(ctx, "acme", "Contoso", true))
	e.must(ann.Delegate(ctx, "acme", "Fabrikam", false))
	ds, err := vic.OrgDelegations(ctx, "acme")
	e.must(err)
	if len(ds) != 2 || ds[0].Partner != "Contoso" || ds[0].RevokedAt == 0 || ds[1].Partner != "Fabrikam" || ds[1].RevokedAt != 0 {
		t.Fatalf("acme's delegations: %+v", ds)
	}
	if ds, err := gus.OrgDelegations(ctx, "acme"); !errors.Is(err, authority.ErrDenied) || ds != nil {
		t.Fatalf("gus reads acme's delegations: %+v, %v", ds, err)
	}
	if ds, err := vera.OrgDelegations(ctx, "globex"); err != nil || len(ds) != 0 {
		t.Fatalf("globex's delegations: %+v, %v", ds, err)
	}
}
