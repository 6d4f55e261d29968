package authority

import (
	"context"
	"crypto/sha256"
	"fmt"

	"github.com/airlock-dev/airlock/codes"
)

// Operations of one organization, for front ends that serve the people of
// many (the web portal). The desk's own operations (Licenses, Reserve,
// Confirm, Return) check the actor's role on the organization of the
// account or instance they touch (roles.go); these take the organization
// first, as a page names it in its path, and also refuse what is of
// another organization than that one, so that a page of one organization
// never shows or changes another's, even for the vendor's staff.

// An Access is what the actor may do in one organization.
type Access struct {
	Org    Org
	Person *Person // nil for the desk itself (no vendor staff yet)
	Manage bool    // may change its licenses: reserve, confirm, return
	Actor  string  // as the history names them
}

// Access checks that the actor may read the organization named and says
// whether they may manage it. A person may not tell an organization they
// cannot read from one that does not exist: authorizeWith refuses both
// in the same words.
func (l *Ledger) Access(ctx context.Context, org string) (*Access, error) {
	var out *Access
	err := l.view(ctx, func(tx ReadTx) error {
		a, err := l.actingAs(tx)
		if err != nil {
			return err
		}
		o, name, err := l.authorizeWith(tx, a, org, needRead)
		if err != nil {
			return err
		}
		_, merr := a.may(tx, o, needManage)
		out = &Access{Org: *o, Person: a.person, Manage: merr == nil, Actor: name}
		return nil
	})
	return out, err
}

// Orgs returns the organizations the actor may read, by name: every one
// for the vendor's staff, their own for a customer's people, those that
// delegated to them for a partner.
func (l *Ledger) Orgs(ctx context.Context) ([]Org, error) {
	var out []Org
	err := l.view(ctx, func(tx ReadTx) error {
		a, err := l.actingAs(tx)
		if err != nil {
			return err
		}
		if a.vendor() {
			out, err = tx.Orgs()
			return err
		}
		switch a.person.Role {
		case RoleAdmin, RoleViewer:
			o, err := tx.OrgByID(a.person.OrgID)
			if err != nil || o == nil {
				return err
			}
			out = []Org{*o}
		case RolePartner:
			all, err := tx.Orgs()
			if err != nil {
				return err
			}
			for _, o := range all {
				if d, err := tx.Delegation(o.ID, a.person.Partner); err != nil {
					return err
				} else if d != nil && d.RevokedAt == 0 {
					out = append(out, o)
				}
			}
		}
		return nil
	})
	return out, err
}

// OrgBalances returns the virtual accounts of an organization the actor
// may read, and their balances as Licenses returns them.
func (l *Ledger) OrgBalances(ctx context.Context, org string) ([]Account, []Balance, error) {
	var accts []Account
	var out []Balance
	err := l.view(ctx, func(tx ReadTx) error {
		var err error
		if accts, err = l.orgAccounts(tx, org); err != nil || len(accts) == 0 {
			out = nil
			return err
		}
		mine := map[int64]bool{}
		for _, a := range accts {
			mine[a.ID] = true
		}
		out, err = balances(tx, 0, func(id int64) bool { return mine[id] })
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return accts, out, nil
}

// OrgAccounts returns the virtual accounts of the organization named, for
// an actor who may read it: OrgBalances without the balances, for the
// forms that only list the accounts.
func (l *Ledger) OrgAccounts(ctx context.Context, org string) ([]Account, error) {
	var accts []Account
	err := l.view(ctx, func(tx ReadTx) error {
		var err error
		accts, err = l.orgAccounts(tx, org)
		return err
	})
	return accts, err
}

func (l *Ledger) orgAccounts(tx ReadTx, org string) ([]Account, error) {
	o, _, err := l.authorize(tx, org, needRead)
	if err != nil {
		return nil, err
	}
	all, err := tx.Accounts()
	if err != nil {
		return nil, err
	}
	var out []Account
	for _, a := range all {
		if a.OrgID == o.ID {
			out = append(out, a)
		}
	}
	return out, nil
}

// A RequestReview is what a request code asks, verified, before it is
// reserved.
type RequestReview struct {
	Request *codes.Request
	Hash    []byte // SHA-256 of the binary code
	// Answered is the code the ledger issued for this very request, if
	// any: reserving it again returns that code.
	Answered *Authorized
	// Account is the account of the organization that holds the instance
	// now ("" when it is new, or returned and held by none).
	Account string
	// Elsewhere is set when another organization's account knows the
	// instance (which one is not said).
	Elsewhere bool
}

// ReviewRequest opens a request code (binary) with the authority's keys
// for an actor who may manage org, and says what it asks and whether it
// was answered before. It changes nothing.
func (l *Ledger) ReviewRequest(ctx context.Context, org string, request []byte) (*RequestReview, error) {
	var r *codes.Request
	err := l.openWithKeys("request code", func(k *codes.AuthorityKey) error {
		var err error
		r, err = codes.OpenRequest(request, k)
		return err
	})
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(request)
	out := &RequestReview{Request: r, Hash: h[:]}
	err = l.view(ctx, func(tx ReadTx) error {
		o, _, err := l.authorize(tx, org, needManage)
		if err != nil {
			return err
		}
		out.Answered, out.Account, out.Elsewhere = nil, "", false
		prev, err := tx.IssuedByRequest(out.Hash)
		if err != nil {
			return err
		}
		if prev != nil {
			a, err := served(tx, prev)
			if err != nil {
				return err
			}
			if err := sameOrg(a.Account, o.Name, "request code"); err != nil {
				return err
			}
			out.Answered = a
		}
		inst, err := tx.LiveInstance(r.UDI.String())
		if err != nil || inst == nil {
			return err
		}
		acct, err := tx.AccountByID(inst.AccountID)
		if err != nil {
			return err
		}
		if acct.OrgID == o.ID {
			out.Account = acct.Ref()
		} else if inst.State != InstanceReturned {
			out.Elsewhere = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// sameOrg refuses an answer of another organization's account.
func sameOrg(ref, org, what string) error {
	o, _, err := ParseAccountRef(ref)
	if err != nil {
		return fmt.Errorf("%w: account %q: %v", ErrCorrupt, ref, err)
	}
	if o != org {
		return fmt.Errorf("%w: this %s was answered for an account of another organization: it is not %q's to see", ErrDenied, what, org)
	}
	return nil
}

// ReserveIn is Reserve from the account "ORG/ACCOUNT" of org, which
// checks in its transaction that the actor manages org. A request
// answered before for another organization's account is refused rather
// than served again, for the vendor's staff too.
func (l *Ledger) ReserveIn(ctx context.Context, org, account string, request []byte, licenses []codes.License) (*Authorized, error) {
	if err := CheckName("account", account); err != nil {
		return nil, err
	}
	a, err := l.Reserve(ctx, org+"/"+account, request, licenses)
	if err != nil {
		return nil, err
	}
	if a.Again {
		if err := sameOrg(a.Account, org, "request code"); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// ConfirmIn is Confirm of a code from an instance of org, for an actor
// who may manage org; a code of another organization's instance is
// refused and changes nothing.
func (l *Ledger) ConfirmIn(ctx context.Context, org string, code []byte) (*Applied, error) {
	return l.confirm(ctx, code, l.orgHook(org, "confirmation code"))
}

// ReturnIn is Return of a code from an instance of org, for an actor who
// may manage org; a code of another organization's instance is refused
// and changes nothing.
func (l *Ledger) ReturnIn(ctx context.Context, org string, code []byte) (*Applied, error) {
	return l.returnCode(ctx, code, l.orgHook(org, "return code"))
}

// orgHook checks, in the transaction of a confirmation or return code
// whose MAC checked, that the actor may manage org and that the instance
// is org's.
func (l *Ledger) orgHook(org, what string) codeHook {
	return func(tx Tx, _ *chain, inst *Instance) error {
		o, _, err := l.authorize(tx, org, needManage)
		if err != nil {
			return err
		}
		acct, err := tx.AccountByID(inst.AccountID)
		if err != nil {
			return err
		}
		if acct == nil || acct.OrgID != o.ID {
			return fmt.Errorf("%w: this %s comes from an instance of another organization: it is not %q's to enter", ErrDenied, what, org)
		}
		return nil
	}
}

// A Delegated is an account of an organization delegated to a satellite:
// its licenses are reserved there, not at this desk.
type Delegated struct {
	Account   string // "ORG/ACCOUNT"
	Satellite string
	Since     int64 // Unix seconds, UTC
}

// OrgDelegated returns the accounts of the organization named that are
// delegated to a satellite, by account, for an actor who may read it.
func (l *Ledger) OrgDelegated(ctx context.Context, org string) ([]Delegated, error) {
	var out []Delegated
	err := l.view(ctx, func(tx ReadTx) error {
		out = nil
		accts, err := l.orgAccounts(tx, org)
		if err != nil || len(accts) == 0 {
			return err
		}
		var names map[int64]string
		for _, a := range accts {
			d, err := tx.DelegatedTo(a.ID)
			if err != nil {
				return err
			}
			if d == nil {
				continue
			}
			if names == nil {
				ss, err := tx.Satellites()
				if err != nil {
					return err
				}
				names = map[int64]string{}
				for _, s := range ss {
					names[s.ID] = s.Name
				}
			}
			out = append(out, Delegated{Account: a.Ref(), Satellite: names[d.SatelliteID], Since: d.Since})
		}
		return nil
	})
	return out, err
}
