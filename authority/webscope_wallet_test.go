package authority_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/authority"
)

// TestSubscriptionOperationsCheckRoles: the wallet and subscription
// operations the portal calls as the person signed in check the person's
// role on the organization in their own transaction: a viewer reads the
// wallet and the status but starts, extends, registers and delivers
// nothing; another organization's administrator reads nothing, in the
// words an unknown organization gets; a refusal changes nothing.
func TestSubscriptionOperationsCheckRoles(t *testing.T) {
	e := subEnv(t, "2027-01-01T09:00:00Z")
	_, desc := e.system("acme", "site-1", "plant", 2, "SN-1")
	k, err := e.l.IssueKey(ctx, authority.KeySpec{Software: "vms", Extension: true, Lines: []authority.KeyLine{{Tag: hwTag, Count: 4}}})
	e.must(err)
	_, err = e.l.Redeem(ctx, "acme", "site-1", k.Key)
	e.must(err)
	vera, ann, vic := e.people()
	_, err = vera.AddPerson(ctx, authority.Person{Email: "gus@globex.example", Name: "Gus", Role: authority.RoleAdmin, Org: "globex"})
	e.must(err)
	gus := e.l.As("gus@globex.example")

	reads := map[string]func(l *authority.Ledger) error{
		"Wallet": func(l *authority.Ledger) error { _, err := l.Wallet(ctx, "acme", "site-1"); return err },
		"SubscriptionStatus": func(l *authority.Ledger) error {
			_, err := l.SubscriptionStatus(ctx, "acme", "site-1")
			return err
		},
	}
	changes := map[string]func(l *authority.Ledger) error{
		"StartSubscription": func(l *authority.Ledger) error {
			_, err := l.StartSubscription(ctx, "acme", "site-1", false)
			return err
		},
		"StartSubscription dry": func(l *authority.Ledger) error {
			_, err := l.StartSubscription(ctx, "acme", "site-1", true)
			return err
		},
		"Extend": func(l *authority.Ledger) error {
			_, err := l.Extend(ctx, "acme", "site-1", "SN-1", "", 1, false)
			return err
		},
		"RegisterSystem": func(l *authority.Ledger) error {
			_, err := l.RegisterSystem(ctx, "acme", "site-1", desc)
			return err
		},
		"Deliver": func(l *authority.Ledger) error {
			_, err := l.Deliver(ctx, "acme", "site-1", "plant")
			return err
		},
	}
	for name, do := range reads {
		if err := do(vic); err != nil {
			t.Errorf("%s as a viewer: %v", name, err)
		}
		err := do(gus)
		if !errors.Is(err, authority.ErrDenied) {
			t.Errorf("%s as another organization's administrator: %v, want ErrDenied", name, err)
		}
	}
	for name, do := range changes {
		before := e.events()
		for who, l := range map[string]*authority.Ledger{"a viewer": vic, "another organization's administrator": gus} {
			if err := do(l); !errors.Is(err, authority.ErrDenied) {
				t.Errorf("%s as %s: %v, want ErrDenied", name, who, err)
			}
		}
		if e.events() != before {
			t.Errorf("%s: a refusal changed the history", name)
		}
	}
	// The same words for an organization that does not exist and for
	// one that is another's.
	_, errOther := gus.Wallet(ctx, "acme", "site-1")
	_, errNone := gus.Wallet(ctx, "nosuch", "site-1")
	if errOther == nil || errNone == nil || strings.ReplaceAll(errNone.Error(), "nosuch", "acme") != errOther.Error() {
		t.Fatalf("another's: %v; none: %v", errOther, errNone)
	}
	// The administrator does each change.
	if _, err := ann.StartSubscription(ctx, "acme", "site-1", false); err != nil {
		t.Fatal(err)
	}
	if _, err := ann.Extend(ctx, "acme", "site-1", "SN-1", "", 1, false); err != nil {
		t.Fatal(err)
	}
	if _, err := ann.Deliver(ctx, "acme", "site-1", "plant"); err != nil {
		t.Fatal(err)
	}
}

// TestGraceEndOfEachYear: the grace period of the first year runs from
// the day the product subscribed when it subscribed part-way; later
// years' from their start; trial has none.
func TestGraceEndOfEachYear(t *testing.T) {
	e := subEnv(t, "2027-01-01T09:00:00Z")
	e.start("acme", "site-1")
	e.clk.set(at("2027-06-10T12:00:00Z"))
	e.start("acme", "doors")
	day := func(u int64) string { return authority.FormatDay(u) }
	st := e.status("acme", "doors")
	if got := day(st.GraceEnd(1)); got != "2027-07-10" {
		t.Errorf("year 1 grace of a product part-way: %s", got)
	}
	if got := day(st.GraceEnd(2)); got != "2028-01-31" {
		t.Errorf("year 2 grace: %s", got)
	}
	if st.State != authority.StateGrace || day(st.Until) != day(st.GraceEnd(st.Year)) {
		t.Errorf("state %s until %s, grace end %s", st.State, day(st.Until), day(st.GraceEnd(st.Year)))
	}
	tr := e.status("globex", "site-1")
	if tr.State != authority.StateTrial || tr.GraceEnd(1) != 0 {
		t.Errorf("trial: %s, grace end %d", tr.State, tr.GraceEnd(1))
	}
}
