package authority

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/codes"
)

// Update issues the next code of an instance's live reservation with
// changes applied: TAG=N sets the count of a tag (adding it if the
// reservation has none), TAG=0 drops it, and tags not named keep their
// count; hardware-bound lines stay as they are. Licenses the update adds
// are taken at once. Licenses it frees stay held, in transition, until the
// instance confirms the new code (Confirm): until then it may still run
// an older one. A newer update supersedes one not yet confirmed: what is
// held is then the most any serial from the last confirmed one to the new
// one takes, lot by lot. The actor must manage the organization of the
// instance's account; an instance of an organization a person may not
// read is refused in the words of one that does not exist.
func (l *Ledger) Update(ctx context.Context, instanceRef string, changes []codes.License) (*Authorized, error) {
	return l.updateInstance(ctx, "", instanceRef, changes)
}

// updateInstance is Update, of an instance of org's accounts only when
// org is set (UpdateIn).
func (l *Ledger) updateInstance(ctx context.Context, org, instanceRef string, changes []codes.License) (*Authorized, error) {
	if len(changes) == 0 {
		return nil, fmt.Errorf("%w: an update names at least one license TAG=COUNT", ErrInvalid)
	}
	if err := checkLicenses(changes, true); err != nil {
		return nil, err
	}
	var out *Authorized
	err := l.update(ctx, func(tx Tx, c *chain) error {
		now, key, err := l.signingClock(c)
		if err != nil {
			return err
		}
		who, err := l.actingAs(tx)
		if err != nil {
			return err
		}
		inst, _, _, err := l.instanceAs(tx, who, instanceRef, org, false, needManage)
		if err != nil {
			return err
		}
		if err := ofProduct(tx, inst); err != nil {
			return err
		}
		if err := notConnected(tx, inst); err != nil {
			return err
		}
		res, err := liveReservation(tx, inst.ID)
		if err != nil {
			return err
		}
		if res == nil {
			return fmt.Errorf("%w: %s holds no reservation to update (state %s)", ErrNotFound, inst.UDI, inst.State)
		}
		acct, actor, err := instanceAccount(tx, who, res.AccountID, instanceRef, org, needManage)
		if err != nil {
			return err
		}
		grants, err := tx.Grants(res.ID, false)
		if err != nil {
			return err
		}
		issued, err := tx.Issued(res.ID, false)
		if err != nil {
			return err
		}
		if len(issued) == 0 || issued[len(issued)-1].Serial != res.Serial {
			return fmt.Errorf("%w: reservation %s has no stored code for its serial %d", ErrCorrupt, res.IDString(), res.Serial)
		}
		current, err := codes.ParseUnverifiedAuthorization(issued[len(issued)-1].Code)
		if err != nil {
			return fmt.Errorf("%w: stored code of reservation %s: %v", ErrCorrupt, res.IDString(), err)
		}

		latest := serialGrants(grants, res.Serial)
		held := holdings(res, grants)
		slack := map[int64]int64{}
		for lot, n := range held {
			slack[lot] = n
		}
		for _, g := range latest {
			slack[g.LotID] -= g.Count
		}
		want := map[string]int64{}
		named := map[string]bool{}
		for _, ch := range changes {
			want[ch.Tag] = int64(ch.Count)
			named[ch.Tag] = true
		}

		cache := newLotCache(tx)
		alloc := newAllocation()
		serial := res.Serial + 1
		changed := false
		var lines []string
		done := map[string]bool{}
		// Lines of the current code, in order: kept, resized or dropped.
		for _, e := range current.Entitlements {
			if e.Component != "" || !named[e.Tag] {
				alloc.ents = append(alloc.ents, e)
				for _, g := range latest {
					if g.Tag == e.Tag && g.Component == e.Component {
						alloc.grants = append(alloc.grants, g)
					}
				}
				continue
			}
			done[e.Tag] = true
			n, m := want[e.Tag], int64(e.Count)
			if n == m {
				alloc.ents = append(alloc.ents, e)
				for _, g := range latest {
					if g.Tag == e.Tag && g.Component == "" {
						alloc.grants = append(alloc.grants, g)
					}
				}
				continue
			}
			changed = true
			lines = append(lines, fmt.Sprintf("%s %d→%d", e.Tag, m, n))
			if n == 0 {
				continue
			}
			left := n
			for _, g := range latest {
				if g.Tag != e.Tag || g.Component != "" || left == 0 {
					continue
				}
				k := min(g.Count, left)
				alloc.grants = append(alloc.grants, Grant{LotID: g.LotID, Tag: g.Tag, Count: k})
				left -= k
			}
			if n > m {
				t := terms{e.Kind, e.Start, e.End, e.ExportControlled}
				extra := newAllocation()
				if err := extra.takeTag(cache, acct, e.Tag, n-m, now, &t, slack); err != nil {
					return tierAdvice(err, cache, acct, e.Tag, m, n-m, changes, licensesOfCode(current.Entitlements), "airlock authority update --instance "+inst.UDI, now)
				}
				alloc.grants = append(alloc.grants, extra.grants...)
			}
			e.Count = uint32(n)
			alloc.ents = append(alloc.ents, e)
		}
		// Tags new to the reservation.
		for _, ch := range changes {
			if done[ch.Tag] || ch.Count == 0 {
				continue
			}
			has := false
			for _, e := range current.Entitlements {
				has = has || e.Tag == ch.Tag
			}
			if has {
				return fmt.Errorf("%w: %q is bound to hardware components in reservation %s: an update does not change those lines", ErrInvalid, ch.Tag, res.IDString())
			}
			changed = true
			lines = append(lines, fmt.Sprintf("%s 0→%d", ch.Tag, ch.Count))
			if err := alloc.takeTag(cache, acct, ch.Tag, int64(ch.Count), now, nil, slack); err != nil {
				return tierAdvice(err, cache, acct, ch.Tag, 0, int64(ch.Count), changes, licensesOfCode(current.Entitlements), "airlock authority update --instance "+inst.UDI, now)
			}
		}
		for _, ch := range changes {
			if !done[ch.Tag] && ch.Count == 0 {
				return fmt.Errorf("%w: reservation %s has no %q to drop", ErrInvalid, res.IDString(), ch.Tag)
			}
		}
		if !changed {
			return fmt.Errorf("%w: the update changes nothing: reservation %s already has these counts", ErrInvalid, res.IDString())
		}
		if len(alloc.ents) == 0 {
			return fmt.Errorf("%w: an update must leave at least one license; to free them all, have the instance return the reservation", ErrInvalid)
		}
		next := mergeGrants(alloc.grants, res.ID, serial)
		all := append(append([]Grant(nil), grants...), next...)
		after := holdingsWindow(max(res.Confirmed, 1), serial, all)
		deltas := map[int64]int64{}
		for lot, n := range after {
			deltas[lot] = n - held[lot]
		}
		if err := tx.InsertGrants(next); err != nil {
			return err
		}
		if err := adjust(tx, deltas); err != nil {
			return err
		}
		tags := lotTags(all)
		transition := map[int64]int64{}
		for lot, n := range after {
			transition[lot] = n
		}
		for _, g := range next {
			transition[g.LotID] -= g.Count
		}
		res.Serial, res.UpdatedAt = serial, now
		res.Status = StatusIssued
		inTransition := perTag(transition, tags)
		if len(inTransition) > 0 {
			res.Status = StatusTransition
		}
		if err := tx.UpdateReservation(res); err != nil {
			return err
		}
		auth, code, h, err := l.storeCode(tx, key, res, inst, serial, nil, nil, alloc.ents, now)
		if err != nil {
			return err
		}
		e := l.event(now, "update", inst.UDI)
		e.Actor = actor
		e.Account, e.Instance, e.CodeHash = acct.Ref(), inst.UDI, h
		e.Detail = fmt.Sprintf("reservation %s serial %d: %s", res.IDString(), serial, strings.Join(lines, ", "))
		if len(inTransition) > 0 {
			e.Detail += "; in transition until confirmed: " + FormatLicenses(inTransition)
		}
		if err := c.add(e); err != nil {
			return err
		}
		c.issued(now)
		out = &Authorized{Code: code, Authorization: auth, UDI: inst.UDI, Account: acct.Ref(), InTransition: inTransition}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// storeCode signs the authorization code of serial of res for inst,
// carrying ents, and stores it. A first code (serial 1) answers the
// request or system description with this nonce and hash; later ones carry
// neither.
func (l *Ledger) storeCode(tx Tx, key *codes.AuthorityKey, res *Reservation, inst *Instance, serial uint64, nonce, request []byte, ents []codes.Entitlement, now int64) (auth *codes.Authorization, code, hash []byte, err error) {
	udi, err := codes.ParseUDI(inst.UDI)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: instance %d has UDI %q: %v", ErrCorrupt, inst.ID, inst.UDI, err)
	}
	auth = &codes.Authorization{
		Reservation:  reservationBytes(res.ID),
		Serial:       serial,
		UDI:          udi,
		InstanceKey:  codes.InstanceKeyHash(inst.PublicKey),
		Nonce:        nonce,
		Entitlements: ents,
		IssuedAt:     now,
		InstallBy:    now + int64(l.opts.InstallWindow/time.Second),
	}
	if code, err = codes.SignAuthorization(auth, key); err != nil {
		return nil, nil, nil, fmt.Errorf("signing serial %d of reservation %s: %w", serial, res.IDString(), err)
	}
	hash = codeHash(code)
	err = tx.InsertIssued(&Issued{Reservation: res.ID, Serial: serial, Code: code, Hash: hash, RequestHash: request, Nonce: nonce,
		IssuedAt: now, InstallBy: auth.InstallBy, KeyID: key.ID().String()})
	return auth, code, hash, err
}

// mergeGrants sums grants of one lot and component into one, for serial.
func mergeGrants(gs []Grant, reservation uint32, serial uint64) []Grant {
	type key struct {
		lot       int64
		component string
	}
	idx := map[key]int{}
	var out []Grant
	for _, g := range gs {
		k := key{g.LotID, g.Component}
		if i, ok := idx[k]; ok {
			out[i].Count += g.Count
			continue
		}
		idx[k] = len(out)
		out = append(out, Grant{Reservation: reservation, Serial: serial, LotID: g.LotID, Tag: g.Tag, Component: g.Component, Count: g.Count})
	}
	return out
}

// lotTags maps the lots of grants to their tags.
func lotTags(gs []Grant) map[int64]string {
	out := map[int64]string{}
	for _, g := range gs {
		out[g.LotID] = g.Tag
	}
	return out
}
