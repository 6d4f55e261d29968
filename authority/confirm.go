package authority

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/codes"
)

// Applied says what a confirmation or return code did to the ledger.
type Applied struct {
	Reservation string // 8 hex digits
	Serial      uint64 // the serial the code names
	UDI         string
	Account     string
	// Again is set when the code changed nothing: it was applied before,
	// or it confirms a serial older than one already confirmed. Note says
	// which.
	Again bool
	Note  string
	// Latest is the reservation's latest serial. A confirmation of an
	// older one is applied (the instance left the serials before it), but
	// what the latest frees stays in transition until it is confirmed.
	Latest       uint64
	Released     []codes.License // freed by this code
	InTransition []codes.License // still held beyond the latest code
}

// Superseded reports whether a newer code than the confirmed one exists.
func (a *Applied) Superseded() bool { return a.Serial < a.Latest }

// instanceCode finds the reservation, instance and account a confirmation
// or return code claims to come from, and verifies its MAC with the
// pairwise key of each authority key in turn.
func (l *Ledger) instanceCode(tx ReadTx, kind codes.Kind, id []byte, open func(macKey []byte) error) (*Reservation, *Instance, *Account, error) {
	res, err := tx.Reservation(reservationID(id))
	if err != nil {
		return nil, nil, nil, err
	}
	if res == nil {
		return nil, nil, nil, fmt.Errorf("%w: the %s code names reservation %x, which this ledger never issued", ErrNotFound, kind, id)
	}
	inst, err := tx.InstanceByID(res.InstanceID)
	if err != nil {
		return nil, nil, nil, err
	}
	err = l.openWithKeys(kind.String()+" code", func(k *codes.AuthorityKey) error {
		mk, err := k.MACKey(inst.PublicKey)
		if err != nil {
			return err
		}
		return open(mk)
	})
	if err != nil {
		return nil, nil, nil, err
	}
	acct, err := tx.AccountByID(res.AccountID)
	if err != nil {
		return nil, nil, nil, err
	}
	return res, inst, acct, nil
}

// Confirm applies a confirmation code (binary): the instance installed the
// code with that serial. Licenses that only older serials took leave
// transition. A confirmation of a serial older than the latest says so in
// the result (Superseded): the instance left the serials before it, but it
// may still install the latest, whose frees stay in transition. A
// confirmation applied before, or of a serial at or below one already
// confirmed, changes nothing (Again).
//
// The actor must manage the organization of the instance's account;
// that is checked once the code's MAC checked, before anything changes.
func (l *Ledger) Confirm(ctx context.Context, code []byte) (*Applied, error) {
	return l.confirm(ctx, code, l.personHook())
}

// confirm is Confirm, with hook (when not nil) run in its transaction
// once the code's MAC checked (connected mode, ConfirmConnected).
func (l *Ledger) confirm(ctx context.Context, code []byte, hook codeHook) (*Applied, error) {
	unverified, err := codes.ParseUnverifiedConfirmation(code)
	if err != nil {
		return nil, err
	}
	var out *Applied
	err = l.update(ctx, func(tx Tx, c *chain) error {
		var cf *codes.Confirmation
		res, inst, acct, err := l.instanceCode(tx, codes.KindConfirmation, unverified.Reservation, func(mk []byte) error {
			var err error
			cf, err = codes.OpenConfirmation(code, mk)
			return err
		})
		if err != nil {
			return err
		}
		if hook != nil {
			if err := hook(tx, c, inst); err != nil {
				return err
			}
		}
		out = &Applied{Reservation: res.IDString(), Serial: cf.Serial, UDI: inst.UDI, Account: acct.Ref(), Latest: res.Serial}
		h := codeHash(code)
		if seen, err := tx.Received(h); err != nil {
			return err
		} else if seen != nil {
			out.Again = true
			out.Note = fmt.Sprintf("this confirmation was applied %s", codes.FormatTime(seen.At))
			return nil
		}
		if !res.Status.Live() {
			return fmt.Errorf("%w: reservation %s was %s %s: its codes are void", ErrClosed, res.IDString(), res.Status, codes.FormatTime(res.ClosedAt))
		}
		if cf.Serial > res.Serial {
			return fmt.Errorf("%w: the confirmation names serial %d, but the latest code of reservation %s is serial %d", ErrStale, cf.Serial, res.IDString(), res.Serial)
		}
		if cf.Serial <= res.Confirmed {
			out.Again = true
			out.Note = fmt.Sprintf("serial %d of reservation %s was confirmed before", res.Confirmed, res.IDString())
			return nil
		}
		now := l.now()
		grants, err := tx.Grants(res.ID, false)
		if err != nil {
			return err
		}
		before := holdings(res, grants)
		res.Confirmed = cf.Serial
		after := holdings(res, grants)
		deltas := map[int64]int64{}
		freed := map[int64]int64{}
		for lot, n := range before {
			if d := after[lot] - n; d != 0 {
				deltas[lot] = d
				freed[lot] = -d
			}
		}
		if err := adjust(tx, deltas); err != nil {
			return err
		}
		tags := lotTags(grants)
		transition := map[int64]int64{}
		for lot, n := range after {
			transition[lot] = n
		}
		for _, g := range serialGrants(grants, res.Serial) {
			transition[g.LotID] -= g.Count
		}
		out.Released, out.InTransition = perTag(freed, tags), perTag(transition, tags)
		switch {
		case res.Confirmed == res.Serial:
			res.Status = StatusInstalled
		case len(out.InTransition) > 0:
			res.Status = StatusTransition
		default:
			res.Status = StatusIssued
		}
		res.UpdatedAt = now
		if err := tx.UpdateReservation(res); err != nil {
			return err
		}
		if err := tx.InsertReceived(&Received{Hash: h, Kind: "confirmation", Reservation: res.ID, Serial: cf.Serial, At: now}); err != nil {
			return err
		}
		e := l.event(now, "confirm", inst.UDI)
		e.Account, e.Instance, e.CodeHash = acct.Ref(), inst.UDI, h
		e.Detail = fmt.Sprintf("reservation %s serial %d installed", res.IDString(), cf.Serial)
		if out.Superseded() {
			e.Detail += fmt.Sprintf(" (superseded by serial %d)", res.Serial)
		}
		if len(out.Released) > 0 {
			e.Detail += "; released " + FormatLicenses(out.Released)
		}
		return c.add(e)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Return applies a return code (binary) and releases every license of its
// reservation, those in transition included. The rule for the serial it
// names, with L the latest serial issued and C the latest confirmed (0 for
// none):
//
//   - a return of an installed code must name a serial the instance may
//     hold: from max(C, 1) to L. A lower one is stale (the instance
//     confirmed a newer code since, so this return comes from an older
//     state), a higher one was never issued: both ErrStale;
//   - a return of a code never installed (NeverInstalled) releases the
//     reservation only while it has just its first code (L = 1): once it
//     was updated, the instance may run an older serial, and must return
//     that one;
//   - the same return code applied again changes nothing (Again); another
//     return for a reservation already closed is ErrClosed.
//
// The actor must manage the organization of the instance's account, as
// for Confirm.
func (l *Ledger) Return(ctx context.Context, code []byte) (*Applied, error) {
	return l.returnCode(ctx, code, l.personHook())
}

// returnCode is Return, with hook (when not nil) run in its transaction
// once the code's MAC checked (connected mode, Deregister).
func (l *Ledger) returnCode(ctx context.Context, code []byte, hook codeHook) (*Applied, error) {
	unverified, err := codes.ParseUnverifiedReturn(code)
	if err != nil {
		return nil, err
	}
	var out *Applied
	var refused error // after the commit: a fork flagged, the code refused
	err = l.update(ctx, func(tx Tx, c *chain) error {
		refused = nil
		var rt *codes.Return
		res, inst, acct, err := l.instanceCode(tx, codes.KindReturn, unverified.Reservation, func(mk []byte) error {
			var err error
			rt, err = codes.OpenReturn(code, mk)
			return err
		})
		if err != nil {
			return err
		}
		if hook != nil {
			if err := hook(tx, c, inst); err != nil {
				return err
			}
		}
		out = &Applied{Reservation: res.IDString(), Serial: rt.Serial, UDI: inst.UDI, Account: acct.Ref(), Latest: res.Serial}
		h := codeHash(code)
		if seen, err := tx.Received(h); err != nil {
			return err
		} else if seen != nil && seen.Kind == receivedFork {
			refused = fmt.Errorf("%w: reservation %s was %s %s; this return of serial %d was flagged %s as coming from a second history of the instance (see airlock authority show --instance)",
				ErrClosed, res.IDString(), res.Status, codes.FormatTime(res.ClosedAt), rt.Serial, codes.FormatTime(seen.At))
			return nil
		} else if seen != nil {
			out.Again = true
			out.Note = fmt.Sprintf("this return was applied %s", codes.FormatTime(seen.At))
			return nil
		}
		if !res.Status.Live() {
			closed := fmt.Errorf("%w: reservation %s was %s %s; this return of serial %d changes nothing", ErrClosed, res.IDString(), res.Status, codes.FormatTime(res.ClosedAt), rt.Serial)
			why, err := l.returnFork(tx, c, res, inst, acct, rt, h)
			if err != nil {
				return err
			}
			if why == "" {
				return closed
			}
			// Commit the flag, then refuse: the reservation stays closed.
			refused = fmt.Errorf("%w: %s", closed, why)
			return nil
		}
		lo := max(res.Confirmed, 1)
		switch {
		case rt.Serial > res.Serial:
			return fmt.Errorf("%w: the return names serial %d, but the latest code of reservation %s is serial %d", ErrStale, rt.Serial, res.IDString(), res.Serial)
		case rt.NeverInstalled && res.Serial > 1:
			return fmt.Errorf("%w: a return of a code never installed releases reservation %s only before it is updated; it is at serial %d, so the instance must return the code it has installed", ErrStale, res.IDString(), res.Serial)
		case rt.Serial < lo:
			return fmt.Errorf("%w: stale return of serial %d: the instance confirmed serial %d of reservation %s since", ErrStale, rt.Serial, res.Confirmed, res.IDString())
		}
		now := l.now()
		if out.Released, err = releaseHeld(tx, res); err != nil {
			return err
		}
		res.Status, res.ClosedAt, res.CloseHash, res.UpdatedAt = StatusReturned, now, h, now
		if err := tx.UpdateReservation(res); err != nil {
			return err
		}
		inst.State = InstanceReturned
		if err := tx.UpdateInstance(inst); err != nil {
			return err
		}
		if err := tx.InsertReceived(&Received{Hash: h, Kind: "return", Reservation: res.ID, Serial: rt.Serial, At: now, Journal: rt.Journal}); err != nil {
			return err
		}
		e := l.event(now, "return", inst.UDI)
		e.Account, e.Instance, e.CodeHash = acct.Ref(), inst.UDI, h
		how := "returned"
		if rt.NeverInstalled {
			how = "returned, never installed"
		}
		e.Detail = fmt.Sprintf("reservation %s serial %d %s; released %s", res.IDString(), rt.Serial, how, FormatLicenses(out.Released))
		return c.add(e)
	})
	if err == nil {
		err = refused
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// receivedFork is the kind of a return code recorded as received only to
// remember that it was flagged: it was never applied.
const receivedFork = "fork"

// returnFork flags a return code for a reservation already returned whose
// journal tag differs from the tag of the return that closed it: the
// instance returned the same reservation from two histories (a backup
// restored after the return, or a copy of its state). It returns why, or
// "" when there is nothing to flag. The code is remembered, so that it is
// flagged once.
func (l *Ledger) returnFork(tx Tx, c *chain, res *Reservation, inst *Instance, acct *Account, rt *codes.Return, h []byte) (string, error) {
	if res.Status != StatusReturned || rt.Journal == nil || res.CloseHash == nil {
		return "", nil
	}
	first, err := tx.Received(res.CloseHash)
	if err != nil || first == nil || first.Journal == nil || bytes.Equal(first.Journal, rt.Journal) {
		return "", err
	}
	now := l.now()
	why := fmt.Sprintf("it carries journal tag %x, the return of serial %d applied %s (code %x) carried %x: the instance returned from two histories (a backup restored after the return, or a copy of its state); flagged as a fork",
		rt.Journal, first.Serial, codes.FormatTime(first.At), res.CloseHash[:8], first.Journal)
	j, err := tx.Journal(inst.ID)
	if err != nil {
		return "", err
	}
	isNew := j == nil
	if isNew {
		j = &Journal{InstanceID: inst.ID}
	}
	detail := fmt.Sprintf("2 journal histories: return code %x of reservation %s serial %d: %s", h[:8], res.IDString(), rt.Serial, strings.TrimSuffix(why, "; flagged as a fork"))
	if err := l.fork(c, j, inst, acct, now, h, detail); err != nil {
		return "", err
	}
	if err := saveJournal(tx, j, isNew); err != nil {
		return "", err
	}
	if err := tx.InsertReceived(&Received{Hash: h, Kind: receivedFork, Reservation: res.ID, Serial: rt.Serial, At: now, Journal: rt.Journal}); err != nil {
		return "", err
	}
	return why, nil
}

// Removed says what Remove did.
type Removed struct {
	UDI         string
	Account     string
	Reservation string          // the reservation it released, or ""
	Released    []codes.License // what that reservation held
	Removals    int             // removals without a return in the account over 365 days, this one included
	Limit       int
}

// MaxReasonLen caps the reason for a removal, in bytes.
const MaxReasonLen = 500

// Remove removes an instance that will never return its reservation
// (hardware failure, RMA): it releases the reservation, marks the instance
// removed so that its UDI may be pinned to a new key, and records reason.
// An account may remove at most its removal limit of instances that still
// held licenses within 365 days; beyond that Remove fails with
// ErrRemovalLimit and the count. Removing an instance that holds nothing
// does not count. The actor must manage the organization of the
// instance's account; an instance of an organization a person may not
// read is refused in the words of one that does not exist.
func (l *Ledger) Remove(ctx context.Context, instanceRef, reason string) (*Removed, error) {
	return l.remove(ctx, "", instanceRef, reason)
}

// remove is Remove, of an instance of org's accounts only when org is set
// (RemoveIn).
func (l *Ledger) remove(ctx context.Context, org, instanceRef, reason string) (*Removed, error) {
	reason = strings.TrimSpace(reason)
	if err := checkText("reason", reason, MaxReasonLen); err != nil {
		return nil, err
	}
	var out *Removed
	err := l.update(ctx, func(tx Tx, c *chain) error {
		who, err := l.actingAs(tx)
		if err != nil {
			return err
		}
		inst, acct, actor, err := l.instanceAs(tx, who, instanceRef, org, false, needManage)
		if err != nil {
			return err
		}
		res, err := liveReservation(tx, inst.ID)
		if err != nil {
			return err
		}
		if res != nil && res.AccountID != inst.AccountID {
			if acct, actor, err = instanceAccount(tx, who, res.AccountID, instanceRef, org, needManage); err != nil {
				return err
			}
		}
		now := l.now()
		out = &Removed{UDI: inst.UDI, Account: acct.Ref(), Limit: acct.RemovalLimit}
		if res != nil {
			n, err := tx.Removals(acct.ID, now-int64(removalWindow/time.Second))
			if err != nil {
				return err
			}
			if n >= acct.RemovalLimit {
				return fmt.Errorf("%w: %q removed %d instances without a return in the last 365 days, the limit is %d: have the instance make a return code, or raise the limit", ErrRemovalLimit, acct.Ref(), n, acct.RemovalLimit)
			}
			released, err := releaseHeld(tx, res)
			if err != nil {
				return err
			}
			res.Status, res.ClosedAt, res.UpdatedAt = StatusRemoved, now, now
			if err := tx.UpdateReservation(res); err != nil {
				return err
			}
			out.Reservation, out.Released, out.Removals = res.IDString(), released, n+1
		}
		inst.State, inst.RemovedAt, inst.RemovalReason = InstanceRemoved, now, reason
		if err := tx.UpdateInstance(inst); err != nil {
			return err
		}
		if err := l.removeConnected(tx, c, inst, acct, now); err != nil {
			return err
		}
		e := l.event(now, "remove", inst.UDI)
		e.Actor, e.Account, e.Instance = actor, acct.Ref(), inst.UDI
		if res != nil {
			e.Detail = fmt.Sprintf("removed, reservation %s released (%s), removal %d of %d in 365 days: %s", res.IDString(), FormatLicenses(out.Released), out.Removals, acct.RemovalLimit, reason)
		} else {
			e.Detail = "removed, it held no licenses: " + reason
		}
		return c.add(e)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// releaseHeld gives what res holds back to its lots, as a return or a
// removal does, and returns it, per tag. The caller closes res.
func releaseHeld(tx Tx, res *Reservation) ([]codes.License, error) {
	grants, err := tx.Grants(res.ID, false)
	if err != nil {
		return nil, err
	}
	held := holdings(res, grants)
	deltas := map[int64]int64{}
	for lot, n := range held {
		deltas[lot] = -n
	}
	if err := adjust(tx, deltas); err != nil {
		return nil, err
	}
	return perTag(held, lotTags(grants)), nil
}
