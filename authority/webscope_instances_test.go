package authority_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

// instancesEnv is acme (plant: instance cam-a with 3 cameras) and globex
// (hq: instance cam-g with 1 camera), with vera, ann, vic, gus (globex's
// administrator) and pat, a partner nobody delegated to.
type instancesEnv struct {
	*env
	vera, ann, vic, gus, pat *authority.Ledger
	a, g                     *device
	ra, rg                   *authority.Authorized
}

func newInstancesEnv(t *testing.T) *instancesEnv {
	e := &instancesEnv{env: newEnv(t)}
	e.setup()
	e.vera, e.ann, e.vic = e.people()
	for _, p := range []authority.Person{
		{Email: "gus@globex.example", Name: "Gus", Role: authority.RoleAdmin, Org: "globex"},
		{Email: "pat@partner.example", Name: "Pat", Role: authority.RolePartner, Partner: "Contoso"},
	} {
		_, err := e.vera.AddPerson(ctx, p)
		e.must(err)
	}
	e.gus, e.pat = e.l.As("gus@globex.example"), e.l.As("pat@partner.example")
	e.lot("globex/hq", camera, 5, codes.Perpetual, 0, 0, false)
	e.a, e.g = e.device("cam-a"), e.device("cam-g")
	var err error
	e.ra, err = e.vera.Reserve(ctx, "acme/plant", e.a.request(lic(camera, 3)), nil)
	e.must(err)
	e.rg, err = e.vera.Reserve(ctx, "globex/hq", e.g.request(lic(camera, 1)), nil)
	e.must(err)
	return e
}

func (e *instancesEnv) events() int64 {
	e.t.Helper()
	m, err := e.vera.Meta(ctx)
	e.must(err)
	return m.HistoryCount
}

// instanceOps are the desk's operations on one instance, named by ref.
var instanceOps = []struct {
	name string
	do   func(l *authority.Ledger, ref string) error
}{
	{"Update", func(l *authority.Ledger, ref string) error {
		_, err := l.Update(ctx, ref, []codes.License{lic(camera, 2)})
		return err
	}},
	{"Remove", func(l *authority.Ledger, ref string) error {
		_, err := l.Remove(ctx, ref, "RMA 4711")
		return err
	}},
	{"Show", func(l *authority.Ledger, ref string) error {
		_, err := l.Show(ctx, ref)
		return err
	}},
	{"Code", func(l *authority.Ledger, ref string) error {
		_, err := l.Code(ctx, ref, 0)
		return err
	}},
	{"History", func(l *authority.Ledger, ref string) error {
		_, err := l.History(ctx, authority.HistoryFilter{Instance: ref})
		return err
	}},
}

// TestInstanceOfAnotherOrganizationIsRefusedAsAnUnknownOne: a customer's
// administrator, a viewer and a partner nobody delegated to get the very
// same refusal for another organization's instance as for a UDI nobody
// has (the reference itself aside), by whole UDI and by its P:…,S:…
// part, from every operation on an instance; it is a refusal, and
// nothing changes. The vendor's staff are told what is missing.
func TestInstanceOfAnotherOrganizationIsRefusedAsAnUnknownOne(t *testing.T) {
	e := newInstancesEnv(t)
	ghost := newDevice(t, "cam-nobody", e.f.Authority)
	refs := []struct {
		form           string
		theirs, nobody string
	}{
		{"UDI", e.g.udi.String(), ghost.udi.String()},
		{"P:S part", "P:VMS,S:cam-g", "P:VMS,S:cam-nobody"},
	}
	before := e.events()
	for _, who := range []struct {
		name string
		l    *authority.Ledger
	}{{"acme's administrator", e.ann}, {"acme's viewer", e.vic}, {"a partner without delegation", e.pat}} {
		for _, op := range instanceOps {
			for _, r := range refs {
				theirs := op.do(who.l, r.theirs)
				nobody := op.do(who.l, r.nobody)
				if theirs == nil || nobody == nil {
					t.Fatalf("%s %s by %s: %v, %v", who.name, op.name, r.form, theirs, nobody)
				}
				got := strings.ReplaceAll(theirs.Error(), r.theirs, "REF")
				want := strings.ReplaceAll(nobody.Error(), r.nobody, "REF")
				if got != want {
					t.Errorf("%s, %s by %s:\n another's: %s\n unknown:   %s", who.name, op.name, r.form, theirs, nobody)
				}
				if !errors.Is(theirs, authority.ErrDenied) || !errors.Is(nobody, authority.ErrDenied) {
					t.Errorf("%s, %s by %s: not refusals: %v, %v", who.name, op.name, r.form, theirs, nobody)
				}
				for _, leak := range []string{"globex", "hq", e.g.udi.String()} {
					if strings.Contains(theirs.Error(), leak) && !strings.Contains(r.theirs, leak) {
						t.Errorf("%s, %s by %s: the refusal names %q: %v", who.name, op.name, r.form, leak, theirs)
					}
				}
			}
		}
	}
	if e.events() != before {
		t.Fatal("a refusal changed the history")
	}
	e.wantBalance("globex/hq", camera, 5, 4, 1, 0)
	// The vendor's staff are told the truth.
	_, err := e.vera.Show(ctx, ghost.udi.String())
	wantErr(t, err, authority.ErrNotFound)
	if _, err := e.vera.Show(ctx, e.g.udi.String()); err != nil {
		t.Fatal(err)
	}
	// Acme's own instance: read by both, changed by the administrator only,
	// the viewer refused as a viewer.
	if _, err := e.vic.Show(ctx, "P:VMS,S:cam-a"); err != nil {
		t.Fatal(err)
	}
	_, err = e.vic.Update(ctx, "P:VMS,S:cam-a", []codes.License{lic(camera, 2)})
	if !errors.Is(err, authority.ErrDenied) || !strings.Contains(err.Error(), "viewer") {
		t.Fatalf("viewer's update: %v", err)
	}
	if _, err := e.ann.Update(ctx, "P:VMS,S:cam-a", []codes.License{lic(camera, 2)}); err != nil {
		t.Fatal(err)
	}
	e.verify()
}

// TestSharedSerialResolvesToTheReadersOwnInstance: a P:…,S:… part that
// names an instance of acme and one of globex is acme's for acme's
// people, without naming globex's in an "ambiguous" refusal; the vendor
// is asked for the whole UDI.
func TestSharedSerialResolvesToTheReadersOwnInstance(t *testing.T) {
	e := newInstancesEnv(t)
	twin := newDevice(t, "cam-a", e.f.Authority)
	twin.udi.UUID = append([]byte(nil), twin.udi.UUID...)
	twin.udi.UUID[0] ^= 0xff
	_, err := e.vera.Reserve(ctx, "globex/hq", twin.request(lic(camera, 1)), nil)
	e.must(err)
	s, err := e.ann.Show(ctx, "P:VMS,S:cam-a")
	e.must(err)
	if s.UDI != e.a.udi.String() {
		t.Fatalf("ann sees %s", s.UDI)
	}
	_, err = e.vera.Show(ctx, "P:VMS,S:cam-a")
	wantErr(t, err, authority.ErrInvalid)
	if _, err := e.gus.Update(ctx, "P:VMS,S:cam-a", []codes.License{lic(camera, 2)}); err != nil {
		t.Fatalf("gus updates globex's cam-a: %v", err)
	}
	e.wantBalance("acme/plant", camera, 25, 22, 3, 0)
}

// TestScopedInstanceOperationsStayInTheirOrganization: ShowIn, UpdateIn,
// RemoveIn and CodeIn refuse an instance of another organization than the
// one named, to the vendor's staff too, and change nothing; ShowIn keeps
// to the organization's part.
func TestScopedInstanceOperationsStayInTheirOrganization(t *testing.T) {
	e := newInstancesEnv(t)
	udi := e.g.udi.String()
	before := e.events()
	for _, l := range []*authority.Ledger{e.vera, e.ann} {
		_, err := l.ShowIn(ctx, "acme", udi)
		if err == nil {
			t.Fatal("globex's instance shown in acme")
		}
		_, err2 := l.UpdateIn(ctx, "acme", udi, []codes.License{lic(camera, 2)})
		_, err3 := l.RemoveIn(ctx, "acme", udi, "RMA")
		_, err4 := l.CodeIn(ctx, "acme", udi, 0)
		for _, e2 := range []error{err2, err3, err4} {
			if e2 == nil || e2.Error() != err.Error() {
				t.Errorf("%v, want %v", e2, err)
			}
		}
	}
	_, err := e.vera.ShowIn(ctx, "acme", udi)
	wantErr(t, err, authority.ErrNotFound)
	if _, err := e.ann.ShowIn(ctx, "globex", udi); !errors.Is(err, authority.ErrDenied) {
		t.Fatalf("ann in globex: %v", err)
	}
	if e.events() != before {
		t.Fatal("a refusal changed the history")
	}
	s, err := e.vic.ShowIn(ctx, "acme", "P:VMS,S:cam-a")
	e.must(err)
	if len(s.Reservations) != 1 || len(s.Reservations[0].Codes) != 1 || len(s.History) == 0 {
		t.Fatalf("acme's instance: %+v", s)
	}
	u, err := e.ann.UpdateIn(ctx, "acme", "P:VMS,S:cam-a", []codes.License{lic(camera, 5)})
	e.must(err)
	c, err := e.vic.CodeIn(ctx, "acme", e.a.udi.String(), 0)
	e.must(err)
	if c.Serial != 2 || string(c.Code) != string(u.Code) {
		t.Fatalf("code %d", c.Serial)
	}
	_, err = e.vic.RemoveIn(ctx, "acme", "P:VMS,S:cam-a", "RMA")
	wantErr(t, err, authority.ErrDenied)
	if n, limit, err := e.vic.RemovalsIn(ctx, "acme", "plant"); err != nil || n != 0 || limit != 3 {
		t.Fatalf("removals before: %d of %d, %v", n, limit, err)
	}
	r, err := e.ann.RemoveIn(ctx, "acme", "P:VMS,S:cam-a", "RMA 4711: mainboard")
	e.must(err)
	if r.Removals != 1 || r.Limit != 3 {
		t.Fatalf("removed %+v", r)
	}
	if n, limit, err := e.ann.RemovalsIn(ctx, "acme", "acme/plant"); err != nil || n != 1 || limit != 3 {
		t.Fatalf("removals after: %d of %d, %v", n, limit, err)
	}
	_, _, err = e.gus.RemovalsIn(ctx, "acme", "plant")
	wantErr(t, err, authority.ErrDenied)
	_, _, err = e.ann.RemovalsIn(ctx, "acme", "globex/hq")
	wantErr(t, err, authority.ErrNotFound)
	// Removed, it is still shown in its organization.
	s, err = e.ann.ShowIn(ctx, "acme", "P:VMS,S:cam-a")
	e.must(err)
	if s.State != authority.InstanceRemoved {
		t.Fatalf("state %s", s.State)
	}
	e.verify()
}

// TestOrgInstancesAndHistoryAreTheOrganizations: the instances and the
// history of an organization are its own, for the vendor's staff too; the
// history comes newest first, a page at a time; an account of another
// organization is refused as an unknown one.
func TestOrgInstancesAndHistoryAreTheOrganizations(t *testing.T) {
	e := newInstancesEnv(t)
	for _, l := range []*authority.Ledger{e.vera, e.ann, e.vic} {
		is, total, err := l.OrgInstances(ctx, "acme", 0, 10)
		e.must(err)
		if len(is) != 1 || total != 1 || is[0].UDI != e.a.udi.String() || is[0].Account != "acme/plant" || authority.FormatLicenses(is[0].Licenses) != "3 "+camera {
			t.Fatalf("acme's instances %+v", is)
		}
	}
	_, _, err := e.gus.OrgInstances(ctx, "acme", 0, 10)
	wantErr(t, err, authority.ErrDenied)
	_, _, err = e.gus.OrgHistory(ctx, "acme", authority.OrgHistoryQuery{})
	wantErr(t, err, authority.ErrDenied)

	for i := range 5 {
		_, err := e.ann.Transfer(ctx, "acme/plant", "acme/lab", camera, int64(i+1))
		e.must(err)
	}
	all, more, err := e.vera.OrgHistory(ctx, "acme", authority.OrgHistoryQuery{})
	e.must(err)
	if more || len(all) < 10 {
		t.Fatalf("%d events, more %v", len(all), more)
	}
	for i, ev := range all {
		if org, _, _ := strings.Cut(ev.Account, "/"); org != "acme" {
			t.Errorf("acme's history has %+v", ev)
		}
		if i > 0 && ev.ID >= all[i-1].ID {
			t.Fatalf("not newest first at %d", i)
		}
	}
	// Pages of 3, linked by Before, give the same events.
	var paged []authority.Event
	q := authority.OrgHistoryQuery{Limit: 3}
	for {
		page, more, err := e.ann.OrgHistory(ctx, "acme", q)
		e.must(err)
		paged = append(paged, page...)
		if !more {
			break
		}
		q.Before = page[len(page)-1].ID
	}
	if len(paged) != len(all) || paged[0].ID != all[0].ID || paged[len(paged)-1].ID != all[len(all)-1].ID {
		t.Fatalf("paged %d events, all %d", len(paged), len(all))
	}
	lab, _, err := e.ann.OrgHistory(ctx, "acme", authority.OrgHistoryQuery{Account: "lab"})
	e.must(err)
	if len(lab) != 6 { // the account's creation and the five transfers in
		t.Fatalf("lab has %d events", len(lab))
	}
	inst, _, err := e.ann.OrgHistory(ctx, "acme", authority.OrgHistoryQuery{Instance: "P:VMS,S:cam-a"})
	e.must(err)
	if len(inst) != 1 || inst[0].Action != "reserve" || inst[0].CodeHash == nil {
		t.Fatalf("cam-a's events %+v", inst)
	}
	if none, _, err := e.ann.OrgHistory(ctx, "acme", authority.OrgHistoryQuery{Instance: e.g.udi.String()}); err != nil || len(none) != 0 {
		t.Fatalf("globex's instance in acme's history: %v, %v", none, err)
	}
	since, _, err := e.ann.OrgHistory(ctx, "acme", authority.OrgHistoryQuery{Since: e.clk.Now().Unix() + 1})
	e.must(err)
	if len(since) != 0 {
		t.Fatalf("%d events from the future", len(since))
	}
	_, _, theirs := e.ann.OrgHistory(ctx, "acme", authority.OrgHistoryQuery{Account: "globex/hq"})
	_, _, nobody := e.ann.OrgHistory(ctx, "acme", authority.OrgHistoryQuery{Account: "acme/nothing"})
	if theirs == nil || nobody == nil || strings.ReplaceAll(theirs.Error(), "globex/hq", "X") != strings.ReplaceAll(nobody.Error(), "acme/nothing", "X") {
		t.Fatalf("another's account: %v; an unknown one: %v", theirs, nobody)
	}
	if _, err := e.vera.History(ctx, authority.HistoryFilter{Account: "acme/lab", Newest: 2}); !errors.Is(err, authority.ErrInvalid) {
		t.Fatalf("History with the store's paging: %v", err)
	}
	for _, q := range []authority.OrgHistoryQuery{{Limit: -1}, {Limit: authority.MaxHistoryPage + 1}, {Instance: "<b>"}, {Account: "bad name"}, {Before: -1}} {
		if _, _, err := e.ann.OrgHistory(ctx, "acme", q); !errors.Is(err, authority.ErrInvalid) {
			t.Errorf("%+v: %v", q, err)
		}
	}
}

// TestReviewSystemOpensWithoutRegistering: a description is opened for
// who manages the organization, and nothing is registered; a viewer,
// another organization's administrator and a code of another kind are
// refused.
func TestReviewSystemOpensWithoutRegistering(t *testing.T) {
	e := newInstancesEnv(t)
	d := e.device("plant-4")
	sys := &codes.System{UDI: d.udi, Name: "plant 4", IssuedAt: t0.Unix() - 60, Nonce: []byte{1, 2, 3, 4, 5, 6, 7, 8}, Demand: []codes.License{lic(camera, 2)}}
	code, err := codes.SealSystem(sys, d.key, d.auth)
	e.must(err)
	before := e.events()
	s, err := e.ann.ReviewSystem(ctx, "acme", code)
	e.must(err)
	if s.Name != "plant 4" || s.UDI.String() != d.udi.String() {
		t.Fatalf("reviewed %+v", s)
	}
	_, err = e.vic.ReviewSystem(ctx, "acme", code)
	wantErr(t, err, authority.ErrDenied)
	_, err = e.gus.ReviewSystem(ctx, "acme", code)
	wantErr(t, err, authority.ErrDenied)
	_, err = e.ann.ReviewSystem(ctx, "acme", d.request(lic(camera, 1)))
	if err == nil {
		t.Fatal("a request code reviewed as a system description")
	}
	if e.events() != before {
		t.Fatal("a review changed the history")
	}
	if is, _, err := e.ann.OrgInstances(ctx, "acme", 0, 10); err != nil || len(is) != 1 {
		t.Fatalf("instances after a review: %d, %v", len(is), err)
	}
}

// TestRemovedInstanceOfAnotherOrganizationIsRefusedAsAnUnknownOne: an
// instance globex removed is, to acme's administrator, refused by Show,
// Code and History in the words of one nobody has; globex still sees it.
func TestRemovedInstanceOfAnotherOrganizationIsRefusedAsAnUnknownOne(t *testing.T) {
	e := newInstancesEnv(t)
	_, err := e.gus.Remove(ctx, e.g.udi.String(), "RMA 1")
	e.must(err)
	ghost := newDevice(t, "cam-nobody", e.f.Authority).udi.String()
	for _, op := range instanceOps[2:] { // Show, Code, History
		theirs, nobody := op.do(e.ann, e.g.udi.String()), op.do(e.ann, ghost)
		if theirs == nil || strings.ReplaceAll(theirs.Error(), e.g.udi.String(), "X") != strings.ReplaceAll(nobody.Error(), ghost, "X") {
			t.Errorf("%s: %v; %v", op.name, theirs, nobody)
		}
		if err := op.do(e.gus, e.g.udi.String()); err != nil {
			t.Errorf("%s by globex: %v", op.name, err)
		}
	}
}
