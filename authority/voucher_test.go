package authority_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/formats/groups"
)

// oem adds to the portal a second partner, Fabrikam, and issues a
// voucher to Contoso for 5 cameras × 2 years.
func (e *env) oem() (voucher string) {
	e.t.Helper()
	e.portal()
	vendor := e.as("sam@vendor.example")
	_, err := vendor.AddPerson(ctx, authority.Person{Email: "fay@fabrikam.example", Name: "Fay", Role: authority.RolePartner, Partner: "Fabrikam"})
	e.must(err)
	v, err := vendor.IssueVoucher(ctx, authority.VoucherSpec{OEM: "Contoso", Software: "vms", Tag: camera, Count: 5, Years: 2})
	e.must(err)
	return v.Code
}

func TestVoucherIssueIsTheVendors(t *testing.T) {
	e := newEnv(t)
	e.oem()
	spec := authority.VoucherSpec{OEM: "Contoso", Software: "vms", Tag: camera, Count: 1}
	for _, actor := range []string{"ann@acme.example", "vic@acme.example", "pat@partner.example", "mallory@example.com"} {
		_, err := e.as(actor).IssueVoucher(ctx, spec)
		wantErr(t, err, authority.ErrDenied)
	}
	// A voucher for a partner nobody acts for could never be converted.
	_, err := e.as("sam@vendor.example").IssueVoucher(ctx, authority.VoucherSpec{OEM: "Contosso", Software: "vms", Tag: camera, Count: 1})
	wantErr(t, err, authority.ErrNoPartner)
	wantErr(t, err, authority.ErrNotFound)
	v, err := e.as("sam@vendor.example").IssueVoucher(ctx, spec)
	e.must(err)
	if !strings.HasPrefix(v.Code, "VC-") || v.Record.Years != 1 || v.Record.Used() {
		t.Fatalf("issued: %+v", v)
	}
	e.verify()
}

func TestVoucherConvertDenials(t *testing.T) {
	e := newEnv(t)
	code := e.oem()
	spec := authority.ConvertSpec{Voucher: code, Org: "acme"}
	// A customer's administrator or viewer converts no voucher, not even
	// for its own organization, and learns nothing of it.
	for _, actor := range []string{"ann@acme.example", "vic@acme.example", "gus@globex.example"} {
		_, err := e.as(actor).ConvertVoucher(ctx, spec, false)
		wantErr(t, err, authority.ErrDenied)
		if strings.Contains(err.Error(), "Contoso") {
			t.Errorf("%s learns whose voucher it is: %v", actor, err)
		}
	}
	_, err := e.as("mallory@example.com").ConvertVoucher(ctx, spec, false)
	wantErr(t, err, authority.ErrDenied)
	// Another OEM cannot convert this OEM's voucher, and is not told
	// whose it is.
	_, err = e.as("fay@fabrikam.example").ConvertVoucher(ctx, spec, false)
	wantErr(t, err, authority.ErrDenied)
	if !strings.Contains(err.Error(), "issued to another partner") || strings.Contains(err.Error(), "Contoso") {
		t.Errorf("another OEM: %v", err)
	}
	// The OEM names an organization that is not on the ledger: refused
	// without saying whether it exists.
	_, err = e.as("pat@partner.example").ConvertVoucher(ctx, authority.ConvertSpec{Voucher: code, Org: "nosuch"}, false)
	wantErr(t, err, authority.ErrDenied)
	// None of that used the voucher.
	vs, err := e.as("sam@vendor.example").Vouchers(ctx, "Contoso")
	e.must(err)
	if len(vs) != 1 || vs[0].Used() {
		t.Fatalf("vouchers after the denials: %+v", vs)
	}
	e.verify()
}

func TestVoucherConvertsOnce(t *testing.T) {
	e := newEnv(t)
	code := e.oem()
	pat := e.as("pat@partner.example")
	spec := authority.ConvertSpec{Voucher: code, Org: "acme"}

	// A dry run says what it would do and uses nothing.
	dry, err := pat.ConvertVoucher(ctx, spec, true)
	e.must(err)
	if dry.Key != "" || dry.Record.Describe() != "5 "+camera+" × 2 years" || dry.Registration.Contact != "Pat" {
		t.Fatalf("dry run: %+v", dry)
	}

	// acme never delegated to Contoso: the OEM converts for it anyway,
	// and gets no power over it.
	c, err := pat.ConvertVoucher(ctx, spec, false)
	e.must(err)
	const actor = "pat@partner.example (partner Contoso, for acme)"
	if !strings.HasPrefix(c.Key, "LK-") || c.Registration.Actor != actor || c.Registration.Email != "pat@partner.example" {
		t.Fatalf("converted: %+v", c)
	}
	_, err = pat.OrgLicenses(ctx, "acme", nil)
	wantErr(t, err, authority.ErrDenied)
	lics, err := e.as("ann@acme.example").OrgLicenses(ctx, "acme", nil)
	e.must(err)
	if len(lics) != 1 || lics[0].Key.KeyID() != c.Record.KeyID() {
		t.Fatalf("acme's licenses: %+v", lics)
	}

	// Used twice: refused, saying when and for whom to the OEM and the
	// vendor; another OEM still learns nothing.
	for _, actor := range []string{"pat@partner.example", "sam@vendor.example"} {
		_, err = e.as(actor).ConvertVoucher(ctx, authority.ConvertSpec{Voucher: code, Org: "globex", Contact: "Gus", Email: "gus@globex.example"}, false)
		wantErr(t, err, authority.ErrVoucherUsed)
		wantErr(t, err, authority.ErrExists)
		if !strings.Contains(err.Error(), `converted on 2025-03-01 for "acme"`) {
			t.Errorf("%s: %v", actor, err)
		}
	}
	_, err = e.as("fay@fabrikam.example").ConvertVoucher(ctx, spec, false)
	wantErr(t, err, authority.ErrDenied)
	if strings.Contains(err.Error(), "acme") {
		t.Errorf("another OEM learns where the voucher went: %v", err)
	}

	// The history names the person, the partner and the organization.
	found := false
	e.must(e.st.View(ctx, func(tx authority.ReadTx) error {
		return tx.History(authority.HistoryFilter{}, func(ev *authority.Event) error {
			if ev.Action == "voucher convert" && ev.Actor == actor && ev.Account == "acme" && strings.Contains(ev.Detail, `OEM partner "Contoso"`) {
				found = true
			}
			return nil
		})
	}))
	if !found {
		t.Error("the conversion is not recorded with both names")
	}
	// The key redeems as any license key.
	_, err = e.as("sam@vendor.example").AddProduct(ctx, "acme", "site-1", "vms")
	e.must(err)
	_, err = e.as("ann@acme.example").Redeem(ctx, "acme", "site-1", c.Key)
	e.must(err)
	e.verify()
}

func TestVoucherConvertedOnceUnderConcurrency(t *testing.T) {
	e := newEnv(t)
	code := e.oem()
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.as("pat@partner.example").ConvertVoucher(ctx, authority.ConvertSpec{Voucher: code, Org: "acme"}, false)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, authority.ErrVoucherUsed):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d conversions of one voucher succeeded", ok)
	}
	e.verify()
}

func TestVoucherListAndPartnerKeys(t *testing.T) {
	e := newEnv(t)
	code := e.oem()
	serial, err := e.as("sam@vendor.example").IssueSerial(ctx, authority.SerialSpec{Software: "vms", Tag: camera, Count: 3})
	e.must(err)
	_, err = e.as("sam@vendor.example").IssueVoucher(ctx, authority.VoucherSpec{OEM: "Contoso", Software: "vms", Tag: camera, Count: 1})
	e.must(err)
	pat := e.as("pat@partner.example")
	c, err := pat.ConvertVoucher(ctx, authority.ConvertSpec{Voucher: code, Org: "globex", Contact: "Gus", Email: "gus@globex.example"}, false)
	e.must(err)
	e.clk.add(time.Hour)
	// A serial the partner registers for a customer that delegated to it
	// is on its list too; the customer's own registrations are not.
	e.must(e.as("ann@acme.example").Delegate(ctx, "acme", "Contoso", false))
	r, err := pat.Register(ctx, authority.RegisterSpec{Serial: serial, Org: "acme", Contact: "Ann", Email: "ann@acme.example"}, false)
	e.must(err)
	own, err := e.as("sam@vendor.example").IssueSerial(ctx, authority.SerialSpec{Software: "vms", Tag: camera, Count: 1})
	e.must(err)
	_, err = e.as("ann@acme.example").Register(ctx, authority.RegisterSpec{Serial: own, Org: "acme", Contact: "Ann", Email: "ann@acme.example"}, false)
	e.must(err)

	for _, actor := range []string{"pat@partner.example", "sam@vendor.example"} {
		vs, err := e.as(actor).Vouchers(ctx, "Contoso")
		e.must(err)
		if len(vs) != 2 || !vs[0].Used() || vs[0].Org != "globex" || vs[1].Used() {
			t.Fatalf("%s: vouchers %+v", actor, vs)
		}
		keys, err := e.as(actor).PartnerKeys(ctx, "Contoso")
		e.must(err)
		if len(keys) != 2 || keys[0].Key.KeyID() != c.Record.KeyID() || keys[0].Org != "globex" || keys[0].By != "pat@partner.example" ||
			keys[1].Key.KeyID() != r.Record.KeyID() || keys[1].Org != "acme" {
			t.Fatalf("%s: partner keys %+v", actor, keys)
		}
	}
	// Neither list is another partner's or a customer's to see.
	for _, actor := range []string{"fay@fabrikam.example", "ann@acme.example", "vic@acme.example"} {
		_, err := e.as(actor).Vouchers(ctx, "Contoso")
		wantErr(t, err, authority.ErrDenied)
		_, err = e.as(actor).PartnerKeys(ctx, "Contoso")
		wantErr(t, err, authority.ErrDenied)
	}
	keys, err := e.as("fay@fabrikam.example").PartnerKeys(ctx, "Fabrikam")
	e.must(err)
	if len(keys) != 0 {
		t.Fatalf("Fabrikam's keys: %+v", keys)
	}
	e.verify()
}

func TestVoucherTypos(t *testing.T) {
	e := newEnv(t)
	code := e.oem()
	pat := e.as("pat@partner.example")
	bad := []byte(code)
	i := len(bad) - 3
	if bad[i] == 'A' {
		bad[i] = 'B'
	} else {
		bad[i] = 'A'
	}
	_, err := pat.ConvertVoucher(ctx, authority.ConvertSpec{Voucher: string(bad), Org: "acme"}, false)
	wantErr(t, err, authority.ErrVoucherTypo)
	wantErr(t, err, authority.ErrKeyTypo)
	if strings.Contains(err.Error(), code[4:]) {
		t.Errorf("the error quotes the voucher: %v", err)
	}
	serial, err := e.as("sam@vendor.example").IssueSerial(ctx, authority.SerialSpec{Software: "vms", Tag: camera, Count: 1})
	e.must(err)
	_, err = pat.ConvertVoucher(ctx, authority.ConvertSpec{Voucher: serial, Org: "acme"}, false)
	wantErr(t, err, authority.ErrVoucherMalformed)
	if !strings.Contains(err.Error(), `starts with "SN"`) {
		t.Errorf("a serial given as a voucher: %v", err)
	}
	other, err := authority.ParseVoucher(code)
	e.must(err)
	other[0] ^= 1
	_, err = pat.ConvertVoucher(ctx, authority.ConvertSpec{Voucher: groups.Encode(authority.VoucherPrefix, other), Org: "acme"}, false)
	wantErr(t, err, authority.ErrVoucherUnknown)
	_, err = pat.ConvertVoucher(ctx, authority.ConvertSpec{Voucher: code, Org: "acme", Email: "pat"}, false)
	wantErr(t, err, authority.ErrInvalid)
}

func TestVoucherDeskNeedsAContact(t *testing.T) {
	e := newEnv(t)
	_, err := e.l.AddOrg(ctx, "acme")
	e.must(err)
	_, err = e.l.AddPerson(ctx, authority.Person{Email: "pat@partner.example", Name: "Pat", Role: authority.RolePartner, Partner: "Contoso"})
	e.must(err)
	v, err := e.l.IssueVoucher(ctx, authority.VoucherSpec{OEM: "Contoso", Software: "vms", Tag: camera, Count: 1})
	e.must(err)
	// The desk acts as the vendor, but is no person with an address.
	_, err = e.l.ConvertVoucher(ctx, authority.ConvertSpec{Voucher: v.Code, Org: "acme"}, false)
	wantErr(t, err, authority.ErrInvalid)
	c, err := e.l.ConvertVoucher(ctx, authority.ConvertSpec{Voucher: v.Code, Org: "acme", Contact: "Ann", Email: "ann@acme.example"}, false)
	e.must(err)
	if c.Registration.Actor != "tester" {
		t.Fatalf("converted by the desk: %+v", c.Registration)
	}
	e.verify()
}
