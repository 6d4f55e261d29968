package authority

import (
	"context"
	"fmt"
	"strings"

	"github.com/airlock-dev/airlock/codes"
)

// The states of a connected registration, as ConnectedInfo.State says
// them.
const (
	ConnRegistered   = "registered"   // registered, its authorization in force (or none issued yet)
	ConnLapsed       = "lapsed"       // registered, its latest authorization lapsed: no contact for 90 days
	ConnExpired      = "expired"      // its registration expired: it re-registers with a token
	ConnDeregistered = "deregistered" // deregistered, or removed by an operator
)

// A ConnectedInfo is what ConnectedList and ConnectedShow say of a
// connected instance.
type ConnectedInfo struct {
	ConnectedInstance
	State    string
	TokenID  string
	Licenses []codes.License // the latest code's, while it holds a reservation
	Lacks    Lacking
	Exports  []ExportGrant // granted on request
	History  []Event       // its connected-mode events (ConnectedShow only)
}

// connState returns the state of a registration at now.
func connectedState(r *ConnectedInstance, now int64) string {
	switch {
	case r.DeregisteredAt != 0:
		return ConnDeregistered
	case now >= r.ExpiresAt:
		return ConnExpired
	case r.Lapses != 0 && now >= r.Lapses:
		return ConnLapsed
	}
	return ConnRegistered
}

// ConnectedList returns the connected registrations of an account
// ("ORG/ACCOUNT"), or of every account for the vendor with ref empty, by
// instance, ended ones included.
func (l *Ledger) ConnectedList(ctx context.Context, ref string) ([]ConnectedInfo, error) {
	var out []ConnectedInfo
	err := l.view(ctx, func(tx ReadTx) error {
		var acctID int64
		if ref == "" {
			a, err := l.actingAs(tx)
			if err != nil {
				return err
			}
			if err := a.vendorOnly("list every account's connected instances"); err != nil {
				return err
			}
		} else {
			acct, err := account(tx, ref)
			if err != nil {
				return err
			}
			if _, _, err := l.authorize(tx, acct.Org, needRead); err != nil {
				return err
			}
			acctID = acct.ID
		}
		regs, err := tx.ConnectedInstances(acctID)
		if err != nil {
			return err
		}
		now := l.now()
		for i := range regs {
			info, err := connectedInfo(tx, &regs[i], now)
			if err != nil {
				return err
			}
			out = append(out, *info)
		}
		return nil
	})
	return out, err
}

// ConnectedShow returns what the ledger knows of one connected instance,
// named by its UDI or its "P:…,S:…" part, with its connected-mode
// history.
func (l *Ledger) ConnectedShow(ctx context.Context, ref string) (*ConnectedInfo, error) {
	var out *ConnectedInfo
	err := l.view(ctx, func(tx ReadTx) error {
		inst, err := anyInstance(tx, ref)
		if err != nil {
			return err
		}
		reg, err := tx.Connected(inst.ID)
		if err != nil {
			return err
		}
		if reg == nil {
			return fmt.Errorf("%w: %s never registered in connected mode", ErrNotConnected, inst.UDI)
		}
		acct, err := tx.AccountByID(reg.AccountID)
		if err != nil {
			return err
		}
		if _, _, err := l.authorize(tx, acct.Org, needRead); err != nil {
			return err
		}
		if out, err = connectedInfo(tx, reg, l.now()); err != nil {
			return err
		}
		if inst.State == InstanceRemoved {
			out.State = ConnDeregistered
		}
		return tx.History(HistoryFilter{Instance: inst.UDI}, func(e *Event) error {
			if e.At >= inst.CreatedAt && (strings.HasPrefix(e.Action, "connected ") || strings.HasPrefix(e.Action, "export ") ||
				e.Action == "confirm" || e.Action == "return" || e.Action == "usage" || e.Action == "remove") {
				out.History = append(out.History, *e)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func connectedInfo(tx ReadTx, r *ConnectedInstance, now int64) (*ConnectedInfo, error) {
	a, err := decodeAnswer(r.Answer)
	if err != nil {
		return nil, err
	}
	info := &ConnectedInfo{ConnectedInstance: *r, State: connectedState(r, now), TokenID: KeyID(r.TokenHash),
		Lacks: a}
	if r.DeregisteredAt == 0 && r.Reservation != 0 {
		res, err := tx.Reservation(r.Reservation)
		if err != nil {
			return nil, err
		}
		if res != nil && res.Status.Live() {
			cs, err := tx.Issued(res.ID, false)
			if err != nil {
				return nil, err
			}
			if len(cs) > 0 {
				code, err := codes.ParseUnverifiedAuthorization(cs[len(cs)-1].Code)
				if err != nil {
					return nil, fmt.Errorf("%w: stored code of reservation %s: %v", ErrCorrupt, res.IDString(), err)
				}
				for _, e := range code.Entitlements {
					info.Licenses = append(info.Licenses, codes.License{Tag: e.Tag, Count: e.Count})
				}
			}
		}
	}
	if info.Exports, err = tx.ExportGrants(r.InstanceID); err != nil {
		return nil, err
	}
	return info, nil
}
