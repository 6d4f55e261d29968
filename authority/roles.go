package authority

import (
	"fmt"
	"strings"
)

// The desk's operations (accounts, lots, reservations, codes, reports)
// check the acting person's role as the portal's do, in the operation's
// own transaction, so that a role changed or a delegation revoked
// meanwhile is seen: reading an organization's data needs read on it,
// changing it needs manage; organizations, lots and what spans every
// organization are the vendor's. Before the vendor's first person exists
// the actor is the desk, with the vendor's powers (actingAs), and every
// check passes as it did before there were roles.
//
// What instances do by themselves (the connected mode, authenticated by
// their keys; activation through a gateway; a satellite's sync) runs
// through the unexported operations, which check no person.

// accountFor resolves "ORG/ACCOUNT" for an actor who may n on ORG, and
// returns how the history names them. A person learns nothing of an
// organization they may not n: an unknown one is refused in the same
// words as another's.
func (l *Ledger) accountFor(tx ReadTx, ref string, n need) (*Account, string, error) {
	a, err := l.actingAs(tx)
	if err != nil {
		return nil, "", err
	}
	return l.accountWith(tx, a, ref, n)
}

// accountWith is accountFor for an acting already resolved.
func (l *Ledger) accountWith(tx ReadTx, a *acting, ref string, n need) (*Account, string, error) {
	name := a.name
	if !a.vendor() {
		org, _, err := ParseAccountRef(ref)
		if err != nil {
			return nil, "", err
		}
		if _, name, err = l.authorizeWith(tx, a, org, n); err != nil {
			return nil, "", err
		}
	}
	acct, err := account(tx, ref)
	if err != nil {
		return nil, "", err
	}
	return acct, name, nil
}

// mayAccount checks that a may n on the organization of acct, an account
// found by something else (an instance, a reservation, a code), and
// returns how the history names them.
func (a *acting) mayAccount(tx ReadTx, acct *Account, n need) (string, error) {
	if acct == nil {
		return "", fmt.Errorf("%w: an account the ledger names is missing", ErrCorrupt)
	}
	return a.may(tx, acctOrg(acct), n)
}

// mayAccountID is mayAccount for an account id.
func (a *acting) mayAccountID(tx ReadTx, id int64, n need) (*Account, string, error) {
	acct, err := tx.AccountByID(id)
	if err != nil {
		return nil, "", err
	}
	name, err := a.mayAccount(tx, acct, n)
	return acct, name, err
}

func acctOrg(acct *Account) *Org { return &Org{ID: acct.OrgID, Name: acct.Org} }

// personHook is the hook of a confirmation or return code a person
// enters at the desk: they must manage the organization of the
// instance's account. It runs once the code's MAC checked, in the
// code's transaction.
func (l *Ledger) personHook() codeHook {
	return func(tx Tx, _ *chain, inst *Instance) error {
		a, err := l.actingAs(tx)
		if err != nil || a.vendor() {
			return err
		}
		_, _, err = a.mayAccountID(tx, inst.AccountID, needManage)
		return err
	}
}

// eventOrg returns the organization an event's account names: events
// name "ORG/ACCOUNT", or an organization alone.
func eventOrg(account string) string {
	org, _, _ := strings.Cut(account, "/")
	return org
}

// mayOrg checks that the actor may n on the organization named, and
// returns how the history names them. For the vendor's staff it looks
// nothing up: the operation finds the organization and says that it is
// missing, as it did before there were roles.
func (l *Ledger) mayOrg(tx ReadTx, org string, n need) (string, error) {
	a, err := l.actingAs(tx)
	if err != nil {
		return "", err
	}
	if a.vendor() {
		return a.name, nil
	}
	_, name, err := l.authorizeWith(tx, a, org, n)
	return name, err
}
