package authority

import (
	"math"
)

// borrowsByReservation reads every borrow, by reservation.
func borrowsByReservation(tx ReadTx) (map[uint32][]Borrow, error) {
	bs, err := tx.Borrows(0, true)
	if err != nil {
		return nil, err
	}
	out := map[uint32][]Borrow{}
	for _, b := range bs {
		out[b.Reservation] = append(out[b.Reservation], b)
	}
	return out, nil
}

// entitled returns a reservation's grants as its codes entitle them: the
// part of a grant that a borrow names counts for the borrow's lower tag.
func entitledGrants(gs []Grant, bs []Borrow) []Grant {
	if len(bs) == 0 {
		return gs
	}
	out := append([]Grant(nil), gs...)
	for _, b := range bs {
		for i := range out {
			g := &out[i]
			if g.Serial == b.Serial && g.LotID == b.LotID && g.Component == "" && g.Tag != b.Tag {
				g.Count -= b.Count
				break
			}
		}
		out = append(out, Grant{Reservation: b.Reservation, Serial: b.Serial, LotID: b.LotID, Tag: b.Tag, Count: b.Count})
	}
	return out
}

// verifyConnected checks the connected registrations against the
// instances, tokens and reservations, the borrows against the grants they
// split, and the export grants against the registrations:
//
//   - a registration's instance exists and, while registered, is not
//     removed and belongs to the registration's account, as does the
//     token it registered with;
//   - its sequence number is not negative, and it was renewed after it
//     registered and expires after that;
//   - the reservation it names belongs to its instance and, while
//     registered, to its account; once deregistered, it holds nothing;
//   - a borrow names a grant of a lot of another tag, for no more than the
//     grant takes, in a reservation of a connected instance;
//   - an export grant belongs to an instance registered with export
//     allowed.
func verifyConnected(tx ReadTx) error {
	regs, err := tx.ConnectedInstances(0)
	if err != nil {
		return err
	}
	byInst := map[int64]*ConnectedInstance{}
	for i := range regs {
		r := &regs[i]
		byInst[r.InstanceID] = r
		inst, err := tx.InstanceByID(r.InstanceID)
		if err != nil {
			return err
		}
		switch {
		case inst == nil:
			return corrupt("the connected registration of instance %d names no instance", r.InstanceID)
		case r.LastSeq > math.MaxInt64:
			return corrupt("the connected registration of %s has a negative sequence number", inst.UDI)
		case r.RenewedAt < r.RegisteredAt || r.ExpiresAt <= r.RenewedAt:
			return corrupt("the connected registration of %s registered at %d, renewed at %d and expires at %d", inst.UDI, r.RegisteredAt, r.RenewedAt, r.ExpiresAt)
		case r.DeregisteredAt == 0 && inst.State == InstanceRemoved:
			return corrupt("%s was removed and is still registered in connected mode", inst.UDI)
		case r.DeregisteredAt == 0 && inst.AccountID != r.AccountID:
			return corrupt("%s is registered in connected mode to %q, and belongs to account %d", inst.UDI, r.Account, inst.AccountID)
		}
		if _, err := decodeAnswer(r.Answer); err != nil {
			return err
		}
		tok, err := tx.Token(r.TokenHash)
		if err != nil {
			return err
		}
		if tok == nil || (r.DeregisteredAt == 0 && tok.AccountID != r.AccountID) {
			return corrupt("%s is registered in connected mode to %q with token %s, which is not one of that account", inst.UDI, r.Account, KeyID(r.TokenHash))
		}
		if r.Reservation == 0 {
			continue
		}
		res, err := tx.Reservation(r.Reservation)
		if err != nil {
			return err
		}
		switch {
		case res == nil || res.InstanceID != inst.ID:
			return corrupt("the connected registration of %s names reservation %s, which is not its", inst.UDI, FormatReservationID(r.Reservation))
		case r.DeregisteredAt != 0 && res.Status.Live():
			return corrupt("%s deregistered at %d and its reservation %s still holds licenses (%s)", inst.UDI, r.DeregisteredAt, res.IDString(), res.Status)
		case r.DeregisteredAt == 0 && res.Status.Live() && res.AccountID != r.AccountID:
			return corrupt("%s is registered to %q and its reservation %s holds licenses of account %d", inst.UDI, r.Account, res.IDString(), res.AccountID)
		}
	}

	borrows, err := tx.Borrows(0, true)
	if err != nil {
		return err
	}
	type grantKey struct {
		res    uint32
		serial uint64
		lot    int64
	}
	var grants map[grantKey]Grant
	left := map[grantKey]int64{}
	for _, b := range borrows {
		if grants == nil {
			all, err := tx.Grants(0, true)
			if err != nil {
				return err
			}
			grants = map[grantKey]Grant{}
			for _, g := range all {
				if g.Component == "" {
					k := grantKey{g.Reservation, g.Serial, g.LotID}
					grants[k] = g
					left[k] = g.Count
				}
			}
		}
		k := grantKey{b.Reservation, b.Serial, b.LotID}
		g, ok := grants[k]
		res, err := tx.Reservation(b.Reservation)
		if err != nil {
			return err
		}
		switch {
		case res == nil || byInst[res.InstanceID] == nil:
			return corrupt("reservation %s borrows for %q, and is no connected instance's", FormatReservationID(b.Reservation), b.Tag)
		case !ok:
			return corrupt("reservation %s serial %d borrows %d of lot %d for %q, and takes nothing from it", FormatReservationID(b.Reservation), b.Serial, b.Count, b.LotID, b.Tag)
		case g.Tag == b.Tag:
			return corrupt("reservation %s serial %d borrows lot %d of %q for its own tag", FormatReservationID(b.Reservation), b.Serial, b.LotID, b.Tag)
		}
		left[k] -= b.Count
		if left[k] < 0 {
			return corrupt("reservation %s serial %d borrows more of lot %d than it takes (%d)", FormatReservationID(b.Reservation), b.Serial, b.LotID, g.Count)
		}
	}

	exports, err := tx.ExportGrants(0)
	if err != nil {
		return err
	}
	for _, g := range exports {
		r := byInst[g.InstanceID]
		if g.Count <= 0 || r == nil || r.DeregisteredAt != 0 || !r.ExportAllowed {
			return corrupt("instance %d holds an export grant of %d %q without a registration that allows it", g.InstanceID, g.Count, g.Tag)
		}
	}
	return nil
}
