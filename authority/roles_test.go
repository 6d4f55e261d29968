package authority_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

// rolesEnv is setup's ledger with an acme instance holding reservation
// res (2 cameras, serial 1, not confirmed yet), a globex lot, and, unless
// nobody, the vendor's staff (vera), acme's administrator (ann) and
// viewer (vic), globex's administrator (gus) and partner Contoso's pat.
// With delegated, acme delegated its management to Contoso; with revoked,
// it delegated and revoked that.
type rolesEnv struct {
	*env
	d   *device
	res *authority.Authorized
}

func newRolesEnv(t *testing.T, people bool, delegation string) *rolesEnv {
	e := newEnv(t)
	e.setup()
	e.lot("globex/hq", camera, 5, codes.Perpetual, 0, 0, false)
	r := &rolesEnv{env: e, d: e.device("cam-roles")}
	var err error
	r.res, err = e.l.Reserve(ctx, "acme/plant", r.d.request(lic(camera, 2)), nil)
	e.must(err)
	if !people {
		return r
	}
	vera, ann, _ := e.people()
	for _, p := range []authority.Person{
		{Email: "gus@globex.example", Name: "Gus", Role: authority.RoleAdmin, Org: "globex"},
		{Email: "pat@partner.example", Name: "Pat", Role: authority.RolePartner, Partner: "Contoso"},
	} {
		_, err := vera.AddPerson(ctx, p)
		e.must(err)
	}
	if delegation != "" {
		e.must(ann.Delegate(ctx, "acme", "Contoso", false))
	}
	if delegation == "revoked" {
		e.must(ann.Delegate(ctx, "acme", "Contoso", true))
	}
	return r
}

// head returns the history's head and length.
func (r *rolesEnv) head() string {
	r.t.Helper()
	m, err := r.l.Meta(ctx)
	r.must(err)
	return fmt.Sprintf("%x/%d", m.HistoryHead, m.HistoryCount)
}

// An op is one operation of the desk, on acme's data unless it spans
// every organization; need is what it asks of the actor: "read" or
// "manage" acme, or "vendor".
type op struct {
	name string
	need string
	do   func(r *rolesEnv, l *authority.Ledger) error
}

var roleOps = []op{
	{"AddOrg", "vendor", func(r *rolesEnv, l *authority.Ledger) error {
		_, err := l.AddOrg(ctx, "initech")
		return err
	}},
	{"AddAccount", "manage", func(r *rolesEnv, l *authority.Ledger) error {
		_, err := l.AddAccount(ctx, "acme", "depot", -1)
		return err
	}},
	{"SetRemovalLimit", "vendor", func(r *rolesEnv, l *authority.Ledger) error {
		return l.SetRemovalLimit(ctx, "acme/plant", 9)
	}},
	{"AddLot", "vendor", func(r *rolesEnv, l *authority.Ledger) error {
		_, err := l.AddLot(ctx, authority.LotSpec{Account: "acme/plant", Tag: camera, Count: 1, Kind: codes.Perpetual})
		return err
	}},
	{"Licenses", "read", func(r *rolesEnv, l *authority.Ledger) error {
		bs, err := l.Licenses(ctx, "acme/plant")
		if err == nil && len(bs) == 0 {
			err = errors.New("no balances")
		}
		return err
	}},
	{"Licenses of all", "vendor", func(r *rolesEnv, l *authority.Ledger) error {
		_, err := l.Licenses(ctx, "")
		return err
	}},
	{"Transfer", "manage", func(r *rolesEnv, l *authority.Ledger) error {
		_, err := l.Transfer(ctx, "acme/plant", "acme/lab", camera, 1)
		return err
	}},
	{"Reserve", "manage", func(r *rolesEnv, l *authority.Ledger) error {
		_, err := l.Reserve(ctx, "acme/plant", r.device("cam-new").request(lic(camera, 1)), nil)
		return err
	}},
	{"ReserveBatch", "manage", func(r *rolesEnv, l *authority.Ledger) error {
		rs := l.ReserveBatch(ctx, "acme/plant", [][]byte{r.device("cam-b1").request(lic(camera, 1)), r.device("cam-b2").request(lic(camera, 1))}, nil)
		return errors.Join(rs[0].Err, rs[1].Err)
	}},
	{"Confirm", "manage", func(r *rolesEnv, l *authority.Ledger) error {
		_, err := l.Confirm(ctx, r.d.confirm(resBytes(r.res), 1))
		return err
	}},
	{"Return", "manage", func(r *rolesEnv, l *authority.Ledger) error {
		_, err := l.Return(ctx, r.d.ret(resBytes(r.res), 1, false))
		return err
	}},
	{"Update", "manage", func(r *rolesEnv, l *authority.Ledger) error {
		_, err := l.Update(ctx, r.d.udi.String(), []codes.License{lic(camera, 3)})
		return err
	}},
	{"Remove", "manage", func(r *rolesEnv, l *authority.Ledger) error {
		_, err := l.Remove(ctx, r.d.udi.String(), "burnt out")
		return err
	}},
	{"History of an account", "read", func(r *rolesEnv, l *authority.Ledger) error {
		es, err := l.History(ctx, authority.HistoryFilter{Account: "acme/plant"})
		if err == nil && len(es) == 0 {
			err = errors.New("no events")
		}
		return err
	}},
	{"History of an instance", "read", func(r *rolesEnv, l *authority.Ledger) error {
		es, err := l.History(ctx, authority.HistoryFilter{Instance: r.d.udi.String()})
		if err == nil && len(es) == 0 {
			err = errors.New("no events")
		}
		return err
	}},
	{"History of all", "vendor", func(r *rolesEnv, l *authority.Ledger) error {
		_, err := l.History(ctx, authority.HistoryFilter{})
		return err
	}},
	{"Show", "read", func(r *rolesEnv, l *authority.Ledger) error {
		s, err := l.Show(ctx, r.d.udi.String())
		if err == nil && len(s.Reservations) != 1 {
			err = fmt.Errorf("%d reservations", len(s.Reservations))
		}
		return err
	}},
	{"Code", "read", func(r *rolesEnv, l *authority.Ledger) error {
		is, err := l.Code(ctx, r.d.udi.String(), 0)
		if err == nil && !bytes.Equal(is.Code, r.res.Code) {
			err = errors.New("another code")
		}
		return err
	}},
	{"Instances", "vendor", func(r *rolesEnv, l *authority.Ledger) error {
		_, err := l.Instances(ctx)
		return err
	}},
	{"IssueKey", "vendor", func(r *rolesEnv, l *authority.Ledger) error {
		_, err := l.IssueKey(ctx, authority.KeySpec{Software: "vms", Years: 1, Lines: []authority.KeyLine{{Tag: camera, Count: 1}}})
		return err
	}},
	{"Satellites", "vendor", func(r *rolesEnv, l *authority.Ledger) error {
		_, err := l.Satellites(ctx)
		return err
	}},
	{"AddProduct", "manage", func(r *rolesEnv, l *authority.Ledger) error {
		_, err := l.AddProduct(ctx, "acme", "site-9", "vms")
		return err
	}},
	{"Products", "read", func(r *rolesEnv, l *authority.Ledger) error {
		_, err := l.Products(ctx, "acme")
		return err
	}},
	{"AddFleetProduct", "manage", func(r *rolesEnv, l *authority.Ledger) error {
		_, err := l.AddFleetProduct(ctx, "acme", "PK-ROLES", "cameras", true)
		return err
	}},
	{"FleetProducts", "read", func(r *rolesEnv, l *authority.Ledger) error {
		_, _, err := l.FleetProducts(ctx, "acme")
		return err
	}},
	{"Pools", "read", func(r *rolesEnv, l *authority.Ledger) error {
		_, err := l.Pools(ctx, "acme")
		return err
	}},
	{"Alerts of all", "vendor", func(r *rolesEnv, l *authority.Ledger) error {
		_, err := l.Alerts(ctx, "")
		return err
	}},
	{"RenewDue", "vendor", func(r *rolesEnv, l *authority.Ledger) error {
		_, err := l.RenewDue(ctx)
		return err
	}},
	{"ImportUsage", "manage", func(r *rolesEnv, l *authority.Ledger) error {
		now := r.clk.Now().Unix()
		u, err := codes.SealUsage(&codes.Usage{UDI: r.d.udi, From: now - 3600, To: now, HighWater: now}, r.d.mac())
		if err != nil {
			return err
		}
		_, err = l.ImportUsage(ctx, u)
		return err
	}},
}

// TestDeskOperationsCheckRoles: every operation of the desk checks the
// actor's role on the organization whose data it reads or changes, and a
// refusal changes nothing. The desk acting before any person exists, and
// the vendor's staff, may do everything; an administrator manages their
// organization only; a viewer only reads it; a partner acts only where
// an organization delegated to it, as long as it does; someone who is
// nobody once people exist does nothing.
func TestDeskOperationsCheckRoles(t *testing.T) {
	actors := []struct {
		who        string
		email      string // "" for the desk before any person exists
		delegation string
		may        map[string]bool // needs allowed
	}{
		{"the desk before people", "", "", map[string]bool{"read": true, "manage": true, "vendor": true}},
		{"the vendor's staff", "vera@vendor.example", "", map[string]bool{"read": true, "manage": true, "vendor": true}},
		{"acme's administrator", "ann@acme.example", "", map[string]bool{"read": true, "manage": true}},
		{"acme's viewer", "vic@acme.example", "", map[string]bool{"read": true}},
		{"globex's administrator", "gus@globex.example", "", nil},
		{"a partner acme did not delegate to", "pat@partner.example", "", nil},
		{"a partner acme delegated to", "pat@partner.example", "delegated", map[string]bool{"read": true, "manage": true}},
		{"a partner whose delegation was revoked", "pat@partner.example", "revoked", nil},
		{"nobody, once people exist", "ghost@nowhere.example", "", nil},
	}
	// A refusal changes nothing, which each case checks: the refused
	// share a ledger per delegation, the allowed get a fresh one.
	shared := map[string]*rolesEnv{}
	for _, o := range roleOps {
		for _, a := range actors {
			allowed := a.may[o.need]
			r := shared[a.delegation]
			if r == nil && !allowed {
				r = newRolesEnv(t, true, a.delegation)
				shared[a.delegation] = r
			}
			t.Run(o.name+"/"+a.who, func(t *testing.T) {
				if allowed {
					r = newRolesEnv(t, a.email != "", a.delegation)
				}
				r.t = t // the shared ledger's failures are this case's
				l := r.l
				if a.email != "" {
					l = r.l.As(a.email)
				}
				before := r.head()
				err := o.do(r, l)
				if allowed {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					return
				}
				if !errors.Is(err, authority.ErrDenied) {
					t.Fatalf("got %v, want a refusal", err)
				}
				if !strings.HasPrefix(err.Error(), "not allowed: ") {
					t.Errorf("refusal %q", err)
				}
				if after := r.head(); after != before {
					t.Fatalf("the refusal changed the history: %s, then %s", before, after)
				}
				r.wantBalance("acme/plant", camera, 25, 23, 2, 0)
				r.verify()
			})
		}
	}
}

// TestPartnerActsAreRecordedAsThePartners: the history names a partner
// and the organization it acted for, as the portal's operations do.
func TestPartnerActsAreRecordedAsThePartners(t *testing.T) {
	r := newRolesEnv(t, true, "delegated")
	pat := r.l.As("pat@partner.example")
	_, err := pat.Transfer(ctx, "acme/plant", "acme/lab", camera, 1)
	r.must(err)
	es, err := pat.History(ctx, authority.HistoryFilter{Account: "acme/plant"})
	r.must(err)
	last := es[len(es)-1]
	if last.Action != "transfer" || last.Actor != "pat@partner.example (partner Contoso, for acme)" {
		t.Fatalf("last event %+v", last)
	}
}

// TestReservedRequestIsNotServedToAnotherOrganization: a request code
// answered for one organization's account, entered again by a person of
// another organization, is refused rather than given that answer; the
// vendor's staff at the desk get the answer again.
func TestReservedRequestIsNotServedToAnotherOrganization(t *testing.T) {
	r := newRolesEnv(t, true, "")
	gus := r.l.As("gus@globex.example")
	d := r.device("cam-g")
	req := d.request(lic(camera, 1))
	_, err := gus.Reserve(ctx, "globex/hq", req, nil)
	r.must(err)
	before := r.head()
	ann := r.l.As("ann@acme.example")
	if _, err := ann.Reserve(ctx, "acme/plant", req, nil); !errors.Is(err, authority.ErrDenied) {
		t.Fatalf("acme was served globex's code: %v", err)
	}
	rs := ann.ReserveBatch(ctx, "acme/plant", [][]byte{req, r.device("cam-a").request(lic(camera, 1))}, nil)
	if !errors.Is(rs[0].Err, authority.ErrDenied) || rs[0].Authorized != nil || rs[1].Err != nil {
		t.Fatalf("batch: %+v", rs)
	}
	if _, err := ann.Reserve(ctx, "globex/hq", req, nil); !errors.Is(err, authority.ErrDenied) {
		t.Fatalf("acme reserved in globex: %v", err)
	}
	again, err := r.l.Reserve(ctx, "acme/plant", req, nil)
	r.must(err)
	if !again.Again || again.Account != "globex/hq" {
		t.Fatalf("the vendor got %+v", again)
	}
	if after := r.head(); after == before {
		t.Fatal("the batch's second request was not reserved")
	}
	r.verify()
}

// TestPersonReadsOnlyTheirOrganizationsHistory: an instance that moved
// from globex to acme shows acme's people only acme's part of its
// history and reservations.
func TestPersonReadsOnlyTheirOrganizationsHistory(t *testing.T) {
	r := newRolesEnv(t, true, "")
	d := r.device("cam-moved")
	a, err := r.l.Reserve(ctx, "globex/hq", d.request(lic(camera, 1)), nil)
	r.must(err)
	_, err = r.l.Return(ctx, d.ret(resBytes(a), 1, true))
	r.must(err)
	_, err = r.l.Reserve(ctx, "acme/plant", d.request(lic(camera, 1)), nil)
	r.must(err)
	ann := r.l.As("ann@acme.example")
	s, err := ann.Show(ctx, d.udi.String())
	r.must(err)
	if len(s.Reservations) != 1 || s.Reservations[0].Account != "acme/plant" {
		t.Fatalf("acme sees reservations %+v", s.Reservations)
	}
	es, err := ann.History(ctx, authority.HistoryFilter{Instance: d.udi.String()})
	r.must(err)
	for _, e := range es {
		if !strings.HasPrefix(e.Account, "acme/") {
			t.Errorf("acme reads %+v", e)
		}
	}
	all, err := r.l.History(ctx, authority.HistoryFilter{Instance: d.udi.String()})
	r.must(err)
	if len(all) <= len(es) {
		t.Fatalf("the vendor reads %d events, acme %d", len(all), len(es))
	}
	if _, err := r.l.As("gus@globex.example").Show(ctx, d.udi.String()); !errors.Is(err, authority.ErrDenied) {
		t.Fatalf("globex shows acme's instance: %v", err)
	}
}
