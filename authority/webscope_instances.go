package authority

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/codes"
)

// Instances of one organization, for front ends that serve the people of
// many (the web portal): the desk's operations on an instance (Show,
// Update, Remove, Code) with the organization of the page's path, which
// refuse an instance of any other organization, even to the vendor's
// staff; and the organization's instances and history.
//
// Every operation that takes an instance reference resolves it with
// instanceAs: a person who is not the vendor's is refused an instance of
// an organization they may not read in the very words of an instance
// that does not exist, so that nobody learns which instances another
// organization has, as authorizeWith does for organizations.

// instanceAs resolves ref, a UDI or its "P:…,S:…" part, to the live
// instance (or, with removed, else to the last removed one) for a, who
// must n on the organization of its account, and returns that account
// and how the history names a. With org set, only instances of that
// organization's accounts count, for everyone; for a person who is not
// the vendor's, only those of organizations they may read.
func (l *Ledger) instanceAs(tx ReadTx, a *acting, ref, org string, removed bool, n need) (*Instance, *Account, string, error) {
	r, err := parseInstanceRef(ref)
	if err != nil {
		return nil, nil, "", err
	}
	if a.vendor() && org == "" {
		// Nothing is hidden from the vendor: the refusals say what is
		// missing or ambiguous, as they did before there were people.
		var inst *Instance
		if removed {
			inst, err = anyInstance(tx, ref)
		} else {
			inst, err = instance(tx, ref)
		}
		if err != nil {
			return nil, nil, "", err
		}
		acct, name, err := a.mayAccountID(tx, inst.AccountID, n)
		return inst, acct, name, err
	}
	var live, gone []*Instance
	consider := func(inst *Instance) error {
		if !matches(inst, r) {
			return nil
		}
		ok, err := instanceVisible(tx, a, inst.AccountID, org)
		if err != nil || !ok {
			return err
		}
		if inst.State == InstanceRemoved {
			gone = append(gone, inst)
		} else {
			live = append(live, inst)
		}
		return nil
	}
	if r.udi != "" {
		inst, err := tx.LiveInstance(r.udi)
		if err != nil {
			return nil, nil, "", err
		}
		if inst != nil {
			if err := consider(inst); err != nil {
				return nil, nil, "", err
			}
		}
	}
	// A P:…,S:… part, or a UDI with no live instance to see, is looked
	// for among every instance.
	if r.udi == "" || (removed && len(live) == 0) {
		all, err := tx.Instances()
		if err != nil {
			return nil, nil, "", err
		}
		for i := range all {
			if err := consider(&all[i]); err != nil {
				return nil, nil, "", err
			}
		}
	}
	var inst *Instance
	switch {
	case len(live) > 1:
		return nil, nil, "", fmt.Errorf("%w: %s matches %s and %s: give the whole UDI", ErrInvalid, r, live[0].UDI, live[1].UDI)
	case len(live) == 1:
		inst = live[0]
	case removed && len(gone) > 0:
		inst = gone[len(gone)-1] // instances come in the order they became known
	default:
		return nil, nil, "", noInstance(a, r, org)
	}
	acct, name, err := instanceAccount(tx, a, inst.AccountID, ref, org, n)
	return inst, acct, name, err
}

// instanceVisible reports whether a may see what the account id holds: an account of
// org (when set) whose organization a may read.
func instanceVisible(tx ReadTx, a *acting, id int64, org string) (bool, error) {
	acct, err := tx.AccountByID(id)
	if err != nil {
		return false, err
	}
	if acct == nil {
		return false, fmt.Errorf("%w: an account the ledger names is missing", ErrCorrupt)
	}
	if org != "" && acct.Org != org {
		return false, nil
	}
	if _, err := a.mayAccount(tx, acct, needRead); errors.Is(err, ErrDenied) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return true, nil
}

// instanceAccount checks that a may n on the account id, which holds the
// instance ref names or one of its reservations: an account a may not
// see is refused as if ref named no instance. It returns the account and
// how the history names a.
func instanceAccount(tx ReadTx, a *acting, id int64, ref, org string, n need) (*Account, string, error) {
	ok, err := instanceVisible(tx, a, id, org)
	if err != nil {
		return nil, "", err
	}
	if !ok {
		r, err := parseInstanceRef(ref)
		if err != nil {
			return nil, "", err
		}
		return nil, "", noInstance(a, r, org)
	}
	return a.mayAccountID(tx, id, n)
}

// noInstance is the refusal of an instance reference that names nothing a
// may see. For a person who is not the vendor's, an instance that does
// not exist and one of an organization they may not read get these same
// words: a refusal, like another organization's.
func noInstance(a *acting, r instanceRef, org string) error {
	if a.vendor() {
		return fmt.Errorf("%w: no instance %s in %q", ErrNotFound, r, org)
	}
	return fmt.Errorf("%w: %s has no instance %s: there is none of that name in an organization they may read", ErrDenied, a.person.Email, r)
}

// MaxInstancesPage bounds the instances OrgInstances details at once.
const MaxInstancesPage = 1000

// OrgInstances lists the instances of an organization the actor may read,
// removed ones included, in the order they became known, as Instances
// lists every organization's: those whose account is one of org's now.
// It details limit of them from offset on (0 to MaxInstancesPage), and
// says how many there are in all.
func (l *Ledger) OrgInstances(ctx context.Context, org string, offset, limit int) (infos []InstanceInfo, total int, err error) {
	if offset < 0 || limit < 0 || limit > MaxInstancesPage {
		return nil, 0, fmt.Errorf("%w: a page of instances starts at 0 or later and has 0 to %d, not %d from %d", ErrInvalid, MaxInstancesPage, limit, offset)
	}
	err = l.view(ctx, func(tx ReadTx) error {
		infos, total = nil, 0
		o, _, err := l.authorize(tx, org, needRead)
		if err != nil {
			return err
		}
		accts, err := tx.Accounts()
		if err != nil {
			return err
		}
		refs := map[int64]string{}
		for _, a := range accts {
			if a.OrgID == o.ID {
				refs[a.ID] = a.Ref()
			}
		}
		all, err := tx.Instances()
		if err != nil {
			return err
		}
		var insts []Instance
		for _, inst := range all {
			if _, ok := refs[inst.AccountID]; ok {
				insts = append(insts, inst)
			}
		}
		total = len(insts)
		lo := min(offset, total)
		insts = insts[lo : lo+min(limit, total-lo)]
		for _, inst := range insts {
			info := InstanceInfo{Instance: inst, Account: refs[inst.AccountID]}
			rs, err := tx.Reservations(inst.ID)
			if err != nil {
				return err
			}
			if len(rs) > 0 {
				r := rs[len(rs)-1]
				info.Reservation = &r
				if r.Status.Live() {
					gs, err := tx.Grants(r.ID, false)
					if err != nil {
						return err
					}
					info.Licenses = byTag(serialGrants(gs, r.Serial))
				}
			}
			if info.Journal, err = tx.Journal(inst.ID); err != nil {
				return err
			}
			infos = append(infos, info)
		}
		return nil
	})
	return infos, total, err
}

// ShowIn is Show of an instance of org, for an actor who may read org:
// only the reservations and events of org's accounts, and an instance of
// another organization is refused as one that does not exist.
func (l *Ledger) ShowIn(ctx context.Context, org, ref string) (*InstanceDetail, error) {
	return l.show(ctx, org, ref)
}

// UpdateIn is Update of an instance of org, for an actor who manages org;
// an instance of another organization is refused as one that does not
// exist, and nothing changes.
func (l *Ledger) UpdateIn(ctx context.Context, org, ref string, changes []codes.License) (*Authorized, error) {
	if err := CheckName("organization", org); err != nil {
		return nil, err
	}
	return l.updateInstance(ctx, org, ref, changes)
}

// RemoveIn is Remove of an instance of org, for an actor who manages org;
// an instance of another organization is refused as one that does not
// exist, and nothing changes.
func (l *Ledger) RemoveIn(ctx context.Context, org, ref, reason string) (*Removed, error) {
	if err := CheckName("organization", org); err != nil {
		return nil, err
	}
	return l.remove(ctx, org, ref, reason)
}

// CodeIn is Code of an instance of org, for an actor who may read org.
func (l *Ledger) CodeIn(ctx context.Context, org, ref string, serial uint64) (*Issued, error) {
	if err := CheckName("organization", org); err != nil {
		return nil, err
	}
	return l.code(ctx, org, ref, serial)
}

// MaxHistoryPage bounds the events OrgHistory returns at once: a page of
// a browser, not an export (airlock authority history --json is that).
const MaxHistoryPage = 1000

// An OrgHistoryQuery selects events of one organization, as the filters
// of airlock authority history do, a page at a time.
type OrgHistoryQuery struct {
	// Account is an account of the organization, by its name or as
	// "ORG/ACCOUNT"; "" for every one.
	Account string
	// Instance is a UDI or its "P:…,S:…" part; "" for every one. An
	// instance the organization never had has no events of it.
	Instance string
	Since    int64 // Unix seconds, UTC; 0 for the beginning
	Before   int64 // only events with a smaller ID (the previous page's last); 0 for none
	Limit    int   // events at most, 1 to MaxHistoryPage; 0 for 100
}

// OrgHistory returns the events of org that match q, newest first, for an
// actor who may read org: the events naming org or one of its accounts,
// never another organization's, even for the vendor's staff. More says
// that older ones match too (ask again with Before set to the last ID).
// An account that is not org's is refused in the words of one that does
// not exist.
func (l *Ledger) OrgHistory(ctx context.Context, org string, q OrgHistoryQuery) (events []Event, more bool, err error) {
	if q.Limit == 0 {
		q.Limit = 100
	}
	if q.Limit < 0 || q.Limit > MaxHistoryPage {
		return nil, false, fmt.Errorf("%w: a page of history has 1 to %d events, not %d", ErrInvalid, MaxHistoryPage, q.Limit)
	}
	if q.Before < 0 {
		return nil, false, fmt.Errorf("%w: a page of history comes before event 1 or later, not %d", ErrInvalid, q.Before)
	}
	var r instanceRef
	if q.Instance != "" {
		if r, err = parseInstanceRef(q.Instance); err != nil {
			return nil, false, err
		}
	}
	err = l.view(ctx, func(tx ReadTx) error {
		events, more = nil, false
		o, _, err := l.authorize(tx, org, needRead)
		if err != nil {
			return err
		}
		f := HistoryFilter{Instance: r.udi, Org: o.Name, Since: q.Since, Before: q.Before}
		if q.Account != "" {
			if f.Account, err = orgAccount(tx, o, q.Account); err != nil {
				return err
			}
		}
		// The newest Limit+1 events that match, newest first: the store
		// reads no older one. Only the filter by product and serial (an
		// instance of any UUID), which the UDI's parse applies, leaves
		// it to read them all, oldest first, into a ring of Limit+1.
		if r.pid == "" {
			f.Newest = q.Limit + 1
		}
		ring := make([]Event, 0, q.Limit+1)
		n := 0
		err = tx.History(f, func(e *Event) error {
			if eventOrg(e.Account) != o.Name { // the store's filter, checked
				return nil
			}
			if r.udi == "" && r.pid != "" {
				u, err := codes.ParseUDI(e.Instance)
				if err != nil || u.PID != r.pid || u.SN != r.sn {
					return nil
				}
			}
			if len(ring) < cap(ring) {
				ring = append(ring, *e)
			} else {
				ring[n%cap(ring)] = *e
			}
			n++
			return nil
		})
		if err != nil {
			return err
		}
		if f.Newest > 0 {
			events = ring
		} else {
			for i := n - 1; i >= 0 && i >= n-cap(ring); i-- {
				events = append(events, ring[i%cap(ring)])
			}
		}
		if more = len(events) > q.Limit; more {
			events = events[:q.Limit]
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return events, more, nil
}

// orgAccount returns the reference of o's account named name (or
// "ORG/ACCOUNT"): another organization's is refused in the words of an
// account o does not have.
func orgAccount(tx ReadTx, o *Org, name string) (string, error) {
	want := name
	if strings.Contains(name, "/") {
		if _, _, err := ParseAccountRef(name); err != nil {
			return "", err
		}
	} else {
		if err := CheckName("account", name); err != nil {
			return "", err
		}
		want = o.Name + "/" + name
	}
	accts, err := tx.Accounts()
	if err != nil {
		return "", err
	}
	for _, a := range accts {
		if a.OrgID == o.ID && a.Ref() == want {
			return want, nil
		}
	}
	return "", fmt.Errorf("%w: organization %q has no account %q", ErrNotFound, o.Name, name)
}

// ReviewSystem opens a system description (binary) with the authority's
// keys for an actor who may manage org, and returns what it describes,
// before ImportSystem registers it. It changes nothing.
func (l *Ledger) ReviewSystem(ctx context.Context, org string, code []byte) (*codes.System, error) {
	var s *codes.System
	err := l.openWithKeys("system description", func(k *codes.AuthorityKey) error {
		var err error
		s, err = codes.OpenSystem(code, k)
		return err
	})
	if err != nil {
		return nil, err
	}
	err = l.view(ctx, func(tx ReadTx) error {
		_, _, err := l.authorize(tx, org, needManage)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// RemovalsIn returns how many instances holding licenses the account of
// org (by its name, or as "ORG/ACCOUNT") removed within the last 365 days, and its removal
// limit, for an actor who may read org: what Remove counts before it
// removes one more.
func (l *Ledger) RemovalsIn(ctx context.Context, org, name string) (n, limit int, err error) {
	err = l.view(ctx, func(tx ReadTx) error {
		o, _, err := l.authorize(tx, org, needRead)
		if err != nil {
			return err
		}
		ref, err := orgAccount(tx, o, name)
		if err != nil {
			return err
		}
		acct, err := account(tx, ref)
		if err != nil {
			return err
		}
		n, err = tx.Removals(acct.ID, l.now()-int64(removalWindow/time.Second))
		limit = acct.RemovalLimit
		return err
	})
	return n, limit, err
}
