package authority_test

import (
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/authority"
)

func TestUpgradeConvertsOwnedLicenses(t *testing.T) {
	e := newEnv(t)
	serial := e.portal()
	vendor, ann := e.as("sam@vendor.example"), e.as("ann@acme.example")
	r, err := ann.Register(ctx, authority.RegisterSpec{Serial: serial, Org: "acme", Contact: "Ann", Email: "ann@acme.example"}, false)
	e.must(err)
	id, err := vendor.IssueUpgradeNotice(ctx, authority.UpgradeNotice{FromSoftware: "vms", FromTag: camera, ToSoftware: "vms-pro", ToTag: "vmspro.camera", Quantity: 6}, "acme")
	e.must(err)
	_, err = ann.IssueUpgradeNotice(ctx, authority.UpgradeNotice{FromSoftware: "vms", FromTag: camera, ToSoftware: "x", ToTag: "x.y", Quantity: 1}, "")
	wantErr(t, err, authority.ErrDenied)

	// Refusals: a viewer, another organization (the notice is acme's),
	// the wrong product, more than the notice, more than acme holds.
	_, err = e.as("vic@acme.example").Upgrade(ctx, id, "acme", "vms", 1, "", false)
	wantErr(t, err, authority.ErrDenied)
	_, err = e.as("gus@globex.example").Upgrade(ctx, id, "globex", "vms", 1, "", false)
	wantErr(t, err, authority.ErrNotFound)
	_, err = ann.Upgrade(ctx, id, "acme", "other", 1, "", false)
	wantErr(t, err, authority.ErrInvalid)
	_, err = ann.Upgrade(ctx, id, "acme", "vms", 7, "", false)
	wantErr(t, err, authority.ErrUpgradeShort)

	u, err := ann.Upgrade(ctx, id, "acme", "vms", 4, "Support Desk", false)
	e.must(err)
	if !strings.HasPrefix(u.Key, "LK-") || u.Record.Software != "vms-pro" || u.Record.Lines[0].Count != 4 {
		t.Fatalf("upgraded: %+v", u)
	}
	// 2 left on the notice; acme holds 6 more vms licenses.
	_, err = ann.Upgrade(ctx, id, "acme", "vms", 3, "", false)
	wantErr(t, err, authority.ErrUpgradeShort)
	lics, err := ann.OrgLicenses(ctx, "acme", nil)
	e.must(err)
	byKey := map[string]authority.License{}
	for _, l := range lics {
		byKey[l.Key.KeyID()] = l
	}
	if len(lics) != 2 || byKey[r.Record.KeyID()].Converted != 4 || byKey[u.Record.KeyID()].Registration.SupportContact != "Support Desk" ||
		byKey[u.Record.KeyID()].Registration.SupportUntil != day("2026-03-01") {
		t.Fatalf("licenses after the upgrade: %+v", lics)
	}
	// Redeemed keys are not convertible.
	_, err = vendor.AddProduct(ctx, "acme", "site-1", "vms")
	e.must(err)
	red, err := vendor.Redeem(ctx, "acme", "site-1", r.Key)
	e.must(err)
	if len(red.Lots) != 1 || red.Lots[0].Count != 6 {
		t.Fatalf("the key of 10, 4 upgraded, brought %+v into the wallet", red.Lots)
	}
	_, err = ann.Upgrade(ctx, id, "acme", "vms", 2, "", false)
	wantErr(t, err, authority.ErrUpgradeShort)
	e.verify()
}
