package authority_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/authority"
)

// as returns a ledger on the same file acting as actor.
func (e *env) as(actor string) *authority.Ledger {
	opts := e.opts
	opts.Actor = actor
	return authority.New(e.st, opts)
}

// portal sets up acme and globex, the vendor's staff, an administrator
// and a viewer of acme, a partner, and a serial number.
func (e *env) portal() (serial string) {
	e.t.Helper()
	for _, o := range []string{"acme", "globex"} {
		_, err := e.l.AddOrg(ctx, o)
		e.must(err)
	}
	// The desk acts as the vendor until the first vendor person exists.
	_, err := e.l.AddPerson(ctx, authority.Person{Email: "sam@vendor.example", Name: "Sam", Role: authority.RoleVendor})
	e.must(err)
	vendor := e.as("sam@vendor.example")
	for _, p := range []authority.Person{
		{Email: "ann@acme.example", Name: "Ann", Role: authority.RoleAdmin, Org: "acme"},
		{Email: "vic@acme.example", Name: "Vic", Role: authority.RoleViewer, Org: "acme"},
		{Email: "gus@globex.example", Name: "Gus", Role: authority.RoleAdmin, Org: "globex"},
		{Email: "pat@partner.example", Name: "Pat", Role: authority.RolePartner, Partner: "Contoso"},
	} {
		_, err := vendor.AddPerson(ctx, p)
		e.must(err)
	}
	serial, err = vendor.IssueSerial(ctx, authority.SerialSpec{Software: "vms", Tag: camera, Count: 10, Years: 1, SupportUntil: day("2026-03-01")})
	e.must(err)
	return serial
}

func TestPortalRolesAreCheckedInTheLibrary(t *testing.T) {
	e := newEnv(t)
	serial := e.portal()
	reg := authority.RegisterSpec{Serial: serial, Org: "acme", Contact: "Ann", Email: "ann@acme.example"}

	// Once vendor staff exist, an actor who is nobody may do nothing.
	_, err := e.as("mallory@example.com").Register(ctx, reg, true)
	wantErr(t, err, authority.ErrDenied)
	// A viewer reads and does not register; another organization's
	// administrator learns nothing of acme; a partner without delegation
	// cannot act; nobody but the vendor issues serials.
	for actor, want := range map[string]string{
		"vic@acme.example":    "viewers read",
		"gus@globex.example":  "is a person of \"globex\"",
		"pat@partner.example": "has not delegated",
	} {
		_, err := e.as(actor).Register(ctx, reg, false)
		wantErr(t, err, authority.ErrDenied)
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", actor, err)
		}
	}
	_, err = e.as("ann@acme.example").IssueSerial(ctx, authority.SerialSpec{Software: "vms", Tag: camera, Count: 1})
	wantErr(t, err, authority.ErrDenied)
	_, err = e.as("vic@acme.example").OrgLicenses(ctx, "globex", nil)
	wantErr(t, err, authority.ErrDenied)
	_, err = e.as("vic@acme.example").OrgLicenses(ctx, "nosuch", nil)
	wantErr(t, err, authority.ErrDenied) // not "not found": whether it exists is not theirs to learn

	// The administrator registers; the serial is then used.
	dry, err := e.as("ann@acme.example").Register(ctx, reg, true)
	e.must(err)
	if dry.Key != "" || dry.Serial.Count != 10 {
		t.Fatalf("dry run: %+v", dry)
	}
	r, err := e.as("ann@acme.example").Register(ctx, reg, false)
	e.must(err)
	if !strings.HasPrefix(r.Key, "LK-") || r.Registration.SupportUntil != day("2026-03-01") {
		t.Fatalf("registered: %+v", r)
	}
	_, err = e.as("ann@acme.example").Register(ctx, reg, false)
	wantErr(t, err, authority.ErrSerialUsed)
	if !strings.Contains(err.Error(), `registered to "acme"`) {
		t.Errorf("the owner is not told where it went: %v", err)
	}
	_, err = e.as("gus@globex.example").Register(ctx, authority.RegisterSpec{Serial: serial, Org: "globex", Contact: "Gus", Email: "gus@globex.example"}, false)
	wantErr(t, err, authority.ErrSerialUsed)
	if strings.Contains(err.Error(), "acme") {
		t.Errorf("another organization learns where the serial went: %v", err)
	}

	// The viewer reads acme's licenses; custom fields and shares need a
	// manager; a share goes to a contact of acme only.
	lics, err := e.as("vic@acme.example").OrgLicenses(ctx, "acme", nil)
	e.must(err)
	if len(lics) != 1 || lics[0].Key.KeyID() != r.Record.KeyID() {
		t.Fatalf("licenses: %+v", lics)
	}
	id := r.Record.KeyID()
	_, err = e.as("vic@acme.example").SetLicenseField(ctx, id, "site", "plant 4")
	wantErr(t, err, authority.ErrDenied)
	did, err := e.as("ann@acme.example").SetLicenseField(ctx, id, "site", "plant 4")
	e.must(err)
	if !did {
		t.Fatal("field not set")
	}
	lics, err = e.as("ann@acme.example").OrgLicenses(ctx, "acme", map[string]string{"site": "plant 4"})
	e.must(err)
	if len(lics) != 1 {
		t.Fatal("search by field found nothing")
	}
	lics, err = e.as("ann@acme.example").OrgLicenses(ctx, "acme", map[string]string{"site": "plant 5"})
	e.must(err)
	if len(lics) != 0 {
		t.Fatal("search by field found the wrong license")
	}
	err = e.as("ann@acme.example").ShareLicense(ctx, id, "gus@globex.example", "viewer")
	wantErr(t, err, authority.ErrNotFound)
	e.must(e.as("ann@acme.example").ShareLicense(ctx, id, "vic@acme.example", "manager"))
	// Shared as manager, the viewer may now set fields of that license.
	_, err = e.as("vic@acme.example").SetLicenseField(ctx, id, "owner", "vic")
	e.must(err)

	// Delegation: the partner manages acme until acme revokes it; the
	// history names both; a partner cannot delegate further.
	wantErr(t, e.as("vic@acme.example").Delegate(ctx, "acme", "Contoso", false), authority.ErrDenied)
	e.must(e.as("ann@acme.example").Delegate(ctx, "acme", "Contoso", false))
	_, err = e.as("pat@partner.example").SetLicenseField(ctx, id, "po", "4711")
	e.must(err)
	wantErr(t, e.as("pat@partner.example").Delegate(ctx, "acme", "Other", false), authority.ErrDenied)
	found := false
	e.must(e.st.View(ctx, func(tx authority.ReadTx) error {
		return tx.History(authority.HistoryFilter{}, func(ev *authority.Event) error {
			if ev.Action == "license field" && ev.Actor == "pat@partner.example (partner Contoso, for acme)" {
				found = true
			}
			return nil
		})
	}))
	if !found {
		t.Error("the partner's act does not name the partner and the organization")
	}
	e.must(e.as("ann@acme.example").Delegate(ctx, "acme", "Contoso", true))
	_, err = e.as("pat@partner.example").SetLicenseField(ctx, id, "po", "4712")
	wantErr(t, err, authority.ErrDenied)
	e.verify()
}

func TestViewerCannotAllocate(t *testing.T) {
	e := newEnv(t)
	e.portal()
	v := authority.Validity{Years: 1}
	vendor := e.as("sam@vendor.example")
	_, err := vendor.AddFleetProduct(ctx, "acme", "PK-CAM", "cameras", true)
	e.must(err)
	_, err = vendor.BuyCodes(ctx, "acme", "annual", &v, 10, "", "")
	e.must(err)
	_, err = e.as("vic@acme.example").AllocateCodes(ctx, "acme", "PK-CAM", "", 1, false)
	wantErr(t, err, authority.ErrDenied)
	_, err = e.as("gus@globex.example").AllocateCodes(ctx, "acme", "PK-CAM", "", 1, false)
	wantErr(t, err, authority.ErrDenied)
	_, err = e.as("ann@acme.example").AllocateCodes(ctx, "acme", "PK-CAM", "", 1, false)
	e.must(err)
	_, err = e.as("vic@acme.example").Allocate(ctx, "acme", "site-1", 1, camera, 1, false)
	wantErr(t, err, authority.ErrDenied)
}

func TestSerialTypos(t *testing.T) {
	e := newEnv(t)
	serial := e.portal()
	bad := []byte(serial)
	i := len(bad) - 3
	if bad[i] == 'A' {
		bad[i] = 'B'
	} else {
		bad[i] = 'A'
	}
	_, err := e.as("ann@acme.example").Register(ctx, authority.RegisterSpec{Serial: string(bad), Org: "acme", Contact: "Ann", Email: "ann@acme.example"}, false)
	wantErr(t, err, authority.ErrKeyTypo)
	_, err = e.as("ann@acme.example").Register(ctx, authority.RegisterSpec{Serial: serial, Org: "acme", Contact: "Ann", Email: "ann"}, false)
	wantErr(t, err, authority.ErrInvalid)
}

// TestVerifyDetectsTamperedRegistrations edits the portal's records
// behind the ledger's back.
func TestVerifyDetectsTamperedRegistrations(t *testing.T) {
	for name, stmt := range map[string]string{
		"serial moved to another organization":  `UPDATE serials SET org_id = (SELECT id FROM orgs WHERE name = 'globex')`,
		"registration of a key never issued":    `UPDATE registrations SET key_hash = x'00' WHERE serial_hash IS NOT NULL`,
		"conversion grown":                      `UPDATE key_conversions SET count = 100`,
		"voucher moved to another organization": `UPDATE vouchers SET org_id = (SELECT id FROM orgs WHERE name = 'globex')`,
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			serial := e.portal()
			ann := e.as("ann@acme.example")
			_, err := ann.Register(ctx, authority.RegisterSpec{Serial: serial, Org: "acme", Contact: "Ann", Email: "ann@acme.example"}, false)
			e.must(err)
			id, err := e.as("sam@vendor.example").IssueUpgradeNotice(ctx, authority.UpgradeNotice{FromSoftware: "vms", FromTag: camera, ToSoftware: "vms-pro", ToTag: "p.c", Quantity: 5}, "")
			e.must(err)
			_, err = ann.Upgrade(ctx, id, "acme", "vms", 2, "", false)
			e.must(err)
			iv, err := e.as("sam@vendor.example").IssueVoucher(ctx, authority.VoucherSpec{OEM: "Contoso", Software: "vms", Tag: camera, Count: 2})
			e.must(err)
			_, err = e.as("pat@partner.example").ConvertVoucher(ctx, authority.ConvertSpec{Voucher: iv.Code, Org: "acme"}, false)
			e.must(err)
			e.verify()
			e.tamper(`PRAGMA foreign_keys = OFF`, stmt)
			if _, err := authority.VerifyStore(ctx, e.l.Store()); !errors.Is(err, authority.ErrCorrupt) {
				t.Fatalf("verify after %s: %v", name, err)
			}
		})
	}
}
