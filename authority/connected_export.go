package authority

import (
	"context"
	"fmt"

	"github.com/airlock-dev/airlock/codes"
)

// AnswerExportRequest answers, at the desk, an export request code (XR)
// that an instance made offline: Count more licenses of an
// export-controlled tag, or (Return) Count given back. The code names the
// reservation and serial the instance has installed; it is verified with
// the pairwise key of that reservation's instance, and answered only
// while the serial is the reservation's latest, so that an export request
// code answers once ('airlock authority show --code' prints the answer
// again). The answer is the next code of the reservation, as an update's:
// licenses given back stay in transition until the instance confirms it.
//
// An instance registered in connected mode is answered as RequestExport
// and ReturnExport answer it online: refused (ErrExportRefused, recorded
// in the history) when its registration does not allow export-controlled
// licenses, a code that lapses, and the grant kept by its renewals. An
// instance in reservation mode was reserved by its account, which allows
// them; its code does not lapse, nothing is borrowed from a higher tier,
// and a request the account does not cover whole is refused
// (ErrUnavailable), as an update is.
//
// The actor must manage the organization of the instance's account.
func (l *Ledger) AnswerExportRequest(ctx context.Context, code []byte) (*Authorized, error) {
	return l.answerExportRequest(ctx, code, nil)
}

// answerExportRequest is AnswerExportRequest, with check (when not nil)
// run in its transaction once the code's MAC checked, before anything
// changes or is recorded (AnswerExportRequestIn).
func (l *Ledger) answerExportRequest(ctx context.Context, code []byte, check func(tx ReadTx, acct *Account) error) (*Authorized, error) {
	unverified, err := codes.ParseUnverifiedExportRequest(code)
	if err != nil {
		return nil, err
	}
	var out *Authorized
	var refused error
	err = l.update(ctx, func(tx Tx, ch *chain) error {
		out, refused = nil, nil
		var xr *codes.ExportRequest
		res, inst, acct, err := l.instanceCode(tx, codes.KindExportRequest, unverified.Reservation, func(mk []byte) error {
			var err error
			xr, err = codes.OpenExportRequest(code, mk)
			return err
		})
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(tx, acct); err != nil {
				return err
			}
		}
		if who, err := l.actingAs(tx); err != nil {
			return err
		} else if _, err := who.mayAccount(tx, acct, needManage); err != nil {
			return err
		}
		h := codeHash(code)
		switch {
		case !res.Status.Live():
			return fmt.Errorf("%w: reservation %s was %s %s: its export requests are void", ErrClosed, res.IDString(), res.Status, codes.FormatTime(res.ClosedAt))
		case xr.Serial != res.Serial:
			return fmt.Errorf("%w: the export request code names serial %d of reservation %s, whose latest is serial %d: it was answered, or the reservation changed since ('airlock authority show --instance %s --code' prints the latest code)",
				ErrStale, xr.Serial, res.IDString(), res.Serial, inst.UDI)
		}
		now := l.now()
		if err := l.checkClock(ch, now); err != nil {
			return err
		}
		key, err := l.signingKey(now)
		if err != nil {
			return err
		}
		reg, err := tx.Connected(inst.ID)
		if err != nil {
			return err
		}
		if reg != nil && reg.DeregisteredAt != 0 {
			reg = nil
		}
		if !xr.Return {
			if err := exportControlled(tx, acct, xr.Tag); err != nil {
				return err
			}
		}
		if why, fix := exportDenied(reg, acct); !xr.Return && why != "" {
			why = fmt.Sprintf("%d of %q refused (export request code %x): %s", xr.Count, xr.Tag, h[:8], why)
			e := l.event(now, actionExportRefuse, inst.UDI)
			e.Account, e.Instance, e.Detail = acct.Ref(), inst.UDI, why
			refused = fmt.Errorf("%w: %s; %s", ErrExportRefused, why, fix)
			return ch.add(e)
		}
		want, granted, err := exportWant(tx, inst, xr.Tag)
		if err != nil {
			return err
		}
		n, left := countOf(want, xr.Tag), granted
		if xr.Return {
			if n < int64(xr.Count) {
				return fmt.Errorf("%w: reservation %s carries %d of %q, fewer than the %d given back", ErrInvalid, res.IDString(), n, xr.Tag, xr.Count)
			}
			want, left = withCount(want, xr.Tag, n-int64(xr.Count)), max(0, granted-int64(xr.Count))
		} else {
			want, left = withCount(want, xr.Tag, n+int64(xr.Count)), granted+int64(xr.Count)
		}
		tiers := tierIndex{}
		if reg != nil {
			if tiers, err = loadTiers(tx); err != nil {
				return err
			}
		}
		in := &connInput{reg: reg, inst: inst, acct: acct, res: res, want: want, exportOK: true}
		p, ans, _, err := l.planConnected(tx, newLotCache(tx), tiers, in, now, key)
		if err != nil {
			return err
		}
		for _, s := range ans.Shortfall {
			if s.Tag == xr.Tag || reg == nil {
				return fmt.Errorf("%w: the answer would carry %d fewer of %q than asked for: %q does not cover them", ErrUnavailable, s.Count, s.Tag, acct.Ref())
			}
		}
		if p == nil {
			return fmt.Errorf("%w: %q is all reservation %s carries: to give everything back, the instance returns the reservation", ErrInvalid, xr.Tag, res.IDString())
		}
		p.done = make(chan struct{})
		signPlan(p.plan)
		if reg != nil {
			if err := tx.SetExportGrant(inst.ID, xr.Tag, left); err != nil {
				return err
			}
			if err := tx.PutConnected(reg); err != nil {
				return err
			}
		}
		p.action = actionExportGrant
		verb := fmt.Sprintf("%d more of %q granted", xr.Count, xr.Tag)
		if xr.Return {
			p.action, verb = actionExportReturn, fmt.Sprintf("%d of %q given back", xr.Count, xr.Tag)
		}
		p.note = fmt.Sprintf("%s by export request code %x; %s", verb, h[:8], p.note)
		if err := l.storeConnected(tx, ch, p, now); err != nil {
			return err
		}
		out = &Authorized{Code: p.code, Authorization: p.auth, UDI: inst.UDI, Account: acct.Ref(), InTransition: p.inTransition}
		return nil
	})
	if err == nil {
		err = refused
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// exportDenied says why an instance may not hold export-controlled
// licenses, and what would allow them; "" when it may. reg is its
// connected registration, nil in reservation mode: then the account
// alone decides.
func exportDenied(reg *ConnectedInstance, acct *Account) (why, fix string) {
	switch {
	case !acct.ExportAllowed:
		return fmt.Sprintf("the vendor denies account %q export-controlled licenses", acct.Ref()),
			fmt.Sprintf("the vendor allows them with 'airlock authority account set --export-controlled allow %s'", acct.Ref())
	case reg != nil && !reg.ExportAllowed:
		return fmt.Sprintf("the registration (token %s) does not allow export-controlled licenses", KeyID(reg.TokenHash)),
			"re-register the instance with a token that allows them"
	}
	return "", ""
}
