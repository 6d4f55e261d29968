package authority

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"

	"github.com/airlock-dev/airlock/codes"
)

// A SystemImport says what ImportSystem did.
type SystemImport struct {
	System  *codes.System
	UDI     string
	Account string
	Again   bool // this description was imported before
}

// ImportSystem registers an offline system from its system description
// (binary) in the account "ORG/ACCOUNT": it verifies the description with
// the authority keys, pins the instance key to the UDI as Reserve does,
// and keeps the description, whose demand and hardware-bound components
// ReserveSystem then authorizes. A newer description of the same system
// replaces the old one while the system holds no reservation. The actor
// must manage the organization of the account.
func (l *Ledger) ImportSystem(ctx context.Context, ref string, code []byte) (*SystemImport, error) {
	var s *codes.System
	err := l.openWithKeys("system description", func(k *codes.AuthorityKey) error {
		var err error
		s, err = codes.OpenSystem(code, k)
		return err
	})
	if err != nil {
		return nil, err
	}
	var out *SystemImport
	err = l.update(ctx, func(tx Tx, c *chain) error {
		out = &SystemImport{System: s, UDI: s.UDI.String()} // the transaction may run again (Store.Update)
		acct, _, err := l.accountFor(tx, ref, needManage)
		if err != nil {
			return err
		}
		out.Account = acct.Ref()
		now := l.now()
		inst, what, err := pinSystem(tx, s, code, acct, now)
		if err != nil {
			return err
		}
		if what == "" {
			if err := ofProduct(tx, inst); err != nil {
				return err
			}
		}
		switch {
		case what != "":
		case bytes.Equal(inst.System, code):
			if inst.AccountID == acct.ID {
				out.Again = true
				return nil
			}
			fallthrough
		default:
			live, err := liveReservation(tx, inst.ID)
			if err != nil {
				return err
			}
			if live != nil {
				return fmt.Errorf("%w: %s holds reservation %s (serial %d): update it, or have the system return it before importing a new description", ErrActive, inst.UDI, live.IDString(), live.Serial)
			}
			inst.Name, inst.System, inst.AccountID, inst.State = s.Name, code, acct.ID, InstanceRegistered
			if err := tx.UpdateInstance(inst); err != nil {
				return err
			}
			what = "description replaced"
		}
		e := l.event(now, "system import", inst.UDI)
		e.Account, e.Instance, e.CodeHash = acct.Ref(), inst.UDI, codeHash(code)
		e.Detail = fmt.Sprintf("system %q %s: %d components, demand %s", s.Name, what, len(s.Components), FormatLicenses(s.Demand))
		return c.add(e)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// pinSystem returns the live instance of a system description's UDI and
// an empty what; or, for a UDI it does not know, registers the system in
// acct, pinning its instance key, and says so in what. It refuses a
// description whose instance key is not the one pinned to its UDI.
func pinSystem(tx Tx, s *codes.System, code []byte, acct *Account, now int64) (inst *Instance, what string, err error) {
	udi := s.UDI.String()
	if inst, err = tx.LiveInstance(udi); err != nil {
		return nil, "", err
	}
	switch {
	case inst == nil:
		inst = &Instance{UDI: udi, PublicKey: s.InstanceKey, AccountID: acct.ID, State: InstanceRegistered,
			Name: s.Name, System: code, CreatedAt: now}
		if err := tx.InsertInstance(inst); err != nil {
			return nil, "", err
		}
		return inst, fmt.Sprintf("registered, instance key %x pinned", codes.InstanceKeyHash(s.InstanceKey)[:8]), nil
	case !bytes.Equal(inst.PublicKey, s.InstanceKey):
		return nil, "", keyMismatch(inst, s.InstanceKey)
	}
	return inst, "", nil
}

// ReserveSystem authorizes a registered system, named as in its
// description: the licenses of its demand (or licenses, when not empty)
// from the account it was imported into, and one hardware-bound license of
// each component that names a tag, bound to that component. The code
// answers the description's nonce. account ("ORG/ACCOUNT") may be empty
// unless two live systems share the name. Like Reserve, it is idempotent:
// a system answered before gets the stored code.
func (l *Ledger) ReserveSystem(ctx context.Context, name, account string, licenses []codes.License) (*Authorized, error) {
	var a *ask
	err := l.view(ctx, func(tx ReadTx) error {
		insts, err := tx.SystemInstances(name)
		if err != nil {
			return err
		}
		var match []Instance
		for _, i := range insts {
			if account != "" {
				acct, err := tx.AccountByID(i.AccountID)
				if err != nil {
					return err
				}
				if acct.Ref() != account {
					continue
				}
			}
			match = append(match, i)
		}
		switch {
		case len(match) == 0 && account != "":
			return fmt.Errorf("%w: no system %q in %q", ErrNotFound, name, account)
		case len(match) == 0:
			return fmt.Errorf("%w: no system %q: import its system description first", ErrNotFound, name)
		case len(match) > 1:
			return fmt.Errorf("%w: %d systems are named %q: give the account", ErrInvalid, len(match), name)
		}
		inst := &match[0]
		s, err := codes.ParseUnverifiedSystem(inst.System)
		if err != nil {
			return fmt.Errorf("%w: stored description of system %q: %v", ErrCorrupt, name, err)
		}
		h := sha256.Sum256(inst.System)
		a = &ask{code: inst.System, opened: true, hash: h[:], udi: s.UDI, pub: s.InstanceKey, nonce: s.Nonce,
			wanted: s.Demand, components: s.Components, system: inst}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rs := l.reserve(ctx, "", []*ask{a}, licenses, nil)
	return rs[0].Authorized, rs[0].Err
}
