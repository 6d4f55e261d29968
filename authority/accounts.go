package authority

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/airlock-dev/airlock/codes"
)

// AddOrg adds an organization: the vendor's staff only.
func (l *Ledger) AddOrg(ctx context.Context, name string) (*Org, error) {
	if err := CheckName("organization", name); err != nil {
		return nil, err
	}
	o := &Org{Name: name}
	err := l.update(ctx, func(tx Tx, c *chain) error {
		a, err := l.actingVendor(tx, "add organizations")
		if err != nil {
			return err
		}
		if got, err := tx.Org(name); err != nil {
			return err
		} else if got != nil {
			return fmt.Errorf("%w: organization %q", ErrExists, name)
		}
		o.CreatedAt = l.now()
		if err := tx.InsertOrg(o); err != nil {
			return err
		}
		e := l.event(o.CreatedAt, "org add", name)
		e.Actor = a.name
		e.Detail = fmt.Sprintf("organization %q added", name)
		return c.add(e)
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

// AddAccount adds a virtual account to an organization, for an actor who
// manages it: the vendor's staff, its administrators, a partner it
// delegated to. removalLimit < 0 means DefaultRemovalLimit.
func (l *Ledger) AddAccount(ctx context.Context, org, name string, removalLimit int) (*Account, error) {
	if err := CheckName("organization", org); err != nil {
		return nil, err
	}
	if err := CheckName("account", name); err != nil {
		return nil, err
	}
	if removalLimit < 0 {
		removalLimit = DefaultRemovalLimit
	}
	a := &Account{Org: org, Name: name, RemovalLimit: removalLimit}
	err := l.update(ctx, func(tx Tx, c *chain) error {
		o, actor, err := l.authorize(tx, org, needManage)
		if err != nil {
			return err
		}
		if got, err := tx.Account(org, name); err != nil {
			return err
		} else if got != nil {
			return fmt.Errorf("%w: account %q", ErrExists, got.Ref())
		}
		a.OrgID, a.CreatedAt = o.ID, l.now()
		if err := tx.InsertAccount(a); err != nil {
			return err
		}
		e := l.event(a.CreatedAt, "account add", a.Ref())
		e.Actor, e.Account = actor, a.Ref()
		e.Detail = fmt.Sprintf("account %q added, at most %d removals without a return per 365 days", a.Ref(), removalLimit)
		return c.add(e)
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// SetExportAllowed allows or denies an account export-controlled
// licenses. Denied, its reservations and updates take no export-controlled
// lot, and its connected instances are authorized none, whatever their
// registration token allows; what they hold now stays until it is
// returned or renewed. Only the vendor decides it: export control is the
// vendor's obligation.
func (l *Ledger) SetExportAllowed(ctx context.Context, ref string, allowed bool) error {
	return l.update(ctx, func(tx Tx, c *chain) error {
		a, err := account(tx, ref)
		if err != nil {
			return err
		}
		who, err := l.actingVendor(tx, "set the export control of an account")
		if err != nil {
			return err
		}
		actor := who.name
		if err := tx.SetExportAllowed(a.ID, allowed); err != nil {
			return err
		}
		e := l.event(l.now(), "account set", a.Ref())
		e.Actor, e.Account = actor, a.Ref()
		e.Detail = fmt.Sprintf("export-controlled licenses of %q %s (were %s)", a.Ref(), allowedWord(allowed), allowedWord(a.ExportAllowed))
		return c.add(e)
	})
}

func allowedWord(b bool) string {
	if b {
		return "allowed"
	}
	return "denied"
}

// SetRemovalLimit sets how many instances an account may remove without a
// return per 365 days. Only the vendor sets it: the limit guards the
// vendor's licenses against instances removed and kept running.
func (l *Ledger) SetRemovalLimit(ctx context.Context, ref string, limit int) error {
	if limit < 0 || limit > 1_000_000 {
		return fmt.Errorf("%w: removal limit %d is not from 0 to 1000000", ErrInvalid, limit)
	}
	return l.update(ctx, func(tx Tx, c *chain) error {
		who, err := l.actingVendor(tx, "set the removal limit of an account")
		if err != nil {
			return err
		}
		a, err := account(tx, ref)
		if err != nil {
			return err
		}
		if err := tx.SetRemovalLimit(a.ID, limit); err != nil {
			return err
		}
		e := l.event(l.now(), "account set", a.Ref())
		e.Actor, e.Account = who.name, a.Ref()
		e.Detail = fmt.Sprintf("removal limit of %q set from %d to %d per 365 days", a.Ref(), a.RemovalLimit, limit)
		return c.add(e)
	})
}

// A LotSpec describes licenses entering an account.
type LotSpec struct {
	Account          string // "ORG/ACCOUNT"
	Tag              string
	Count            int64
	Kind             codes.EntitlementKind
	Start, End       int64 // Unix seconds; term and subscription need both, hardware may have both
	ExportControlled bool
	Origin           string // where they came from, e.g. "order 4711"; "" for "added by ACTOR"
}

// MaxLotCount caps a lot: an entitlement line carries a 32-bit count.
const MaxLotCount = math.MaxUint32

func (s *LotSpec) check() error {
	if err := codes.CheckTag(s.Tag); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if s.Count < 1 || s.Count > MaxLotCount {
		return fmt.Errorf("%w: count %d is not from 1 to %d", ErrInvalid, s.Count, int64(MaxLotCount))
	}
	e := codes.Entitlement{Tag: s.Tag, Count: 1, Kind: s.Kind, Start: s.Start, End: s.End}
	if s.Kind == codes.Hardware {
		e.Component = "x"
	}
	if err := e.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if s.Origin != "" {
		return checkText("origin", s.Origin, 200)
	}
	return nil
}

// AddLot adds licenses to an account: the vendor's staff only, since
// licenses come from the vendor (an organization's people move them
// between its accounts with Transfer).
func (l *Ledger) AddLot(ctx context.Context, s LotSpec) (*Lot, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	var lot *Lot
	err := l.update(ctx, func(tx Tx, c *chain) error {
		if err := refuseOnSatellite(tx, "add lots"); err != nil {
			return err
		}
		who, err := l.actingVendor(tx, "add lots: licenses come from the vendor")
		if err != nil {
			return err
		}
		a, err := account(tx, s.Account)
		if err != nil {
			return err
		}
		now := l.now()
		origin := s.Origin
		if origin == "" {
			origin = "added by " + who.name
		}
		lot = &Lot{AccountID: a.ID, Tag: s.Tag, Kind: s.Kind, Start: s.Start, End: s.End,
			ExportControlled: s.ExportControlled, Initial: s.Count, Count: s.Count, Origin: origin, CreatedAt: now}
		if err := tx.InsertLot(lot); err != nil {
			return err
		}
		e := l.event(now, "lot add", s.Tag)
		e.Actor, e.Account, e.CodeHash = who.name, a.Ref(), lotHash(lot)
		e.Detail = fmt.Sprintf("lot %d: %d %s (%s) into %q: %s", lot.ID, s.Count, s.Tag, describeTerms(lot), a.Ref(), origin)
		return c.add(e)
	})
	if err != nil {
		return nil, err
	}
	return lot, nil
}

// describeTerms says a lot's kind, dates and export flag in words.
func describeTerms(l *Lot) string {
	s := l.Kind.String()
	if l.Start != 0 || l.End != 0 {
		s += " " + codes.FormatTime(l.Start) + ".." + codes.FormatTime(l.End)
	}
	if l.ExportControlled {
		s += ", export-controlled"
	}
	return s
}

// A Balance is what one account holds of one tag. Owned = Available +
// Reserved + InTransition.
type Balance struct {
	Account      string
	Tag          string
	Owned        int64
	Available    int64
	Reserved     int64 // by the latest code of each reservation
	InTransition int64 // freed by an update that is not confirmed yet
	Lots         []Lot
}

// Licenses returns the balances of one account ("ORG/ACCOUNT"), for an
// actor who may read its organization, or of every account for "", for
// the vendor's staff only, by account and tag.
func (l *Ledger) Licenses(ctx context.Context, ref string) ([]Balance, error) {
	var out []Balance
	err := l.view(ctx, func(tx ReadTx) error {
		var only int64
		if ref != "" {
			a, _, err := l.accountFor(tx, ref, needRead)
			if err != nil {
				return err
			}
			only = a.ID
		} else if _, err := l.actingVendor(tx, "list every organization's licenses"); err != nil {
			return err
		}
		var err error
		out, err = balances(tx, only, nil)
		return err
	})
	return out, err
}

// balances returns the balances of the account only (every account for
// 0) for which in is true (every one for nil), by account and tag.
func balances(tx ReadTx, only int64, in func(accountID int64) bool) ([]Balance, error) {
	accounts, err := tx.Accounts()
	if err != nil {
		return nil, err
	}
	refs := map[int64]string{}
	for i := range accounts {
		refs[accounts[i].ID] = accounts[i].Ref()
	}
	lots, err := tx.Lots(only, "")
	if err != nil {
		return nil, err
	}
	reserved, err := reservedByLot(tx)
	if err != nil {
		return nil, err
	}
	type key struct {
		account int64
		tag     string
	}
	byKey := map[key]*Balance{}
	var out []Balance
	var keys []key
	for _, lot := range lots {
		if in != nil && !in(lot.AccountID) {
			continue
		}
		k := key{lot.AccountID, lot.Tag}
		b := byKey[k]
		if b == nil {
			b = &Balance{Account: refs[lot.AccountID], Tag: lot.Tag}
			byKey[k] = b
			keys = append(keys, k)
		}
		b.Owned += lot.Count
		b.Available += lot.Count - lot.Held
		r := reserved[lot.ID]
		b.Reserved += r
		b.InTransition += lot.Held - r
		b.Lots = append(b.Lots, lot)
	}
	sort.Slice(keys, func(i, j int) bool {
		if a, b := byKey[keys[i]].Account, byKey[keys[j]].Account; a != b {
			return a < b
		}
		return keys[i].tag < keys[j].tag
	})
	for _, k := range keys {
		out = append(out, *byKey[k])
	}
	return out, nil
}

// reservedByLot sums, per lot, what the latest code of every live
// reservation holds.
func reservedByLot(tx ReadTx) (map[int64]int64, error) {
	rs, err := tx.Reservations(0)
	if err != nil {
		return nil, err
	}
	latest := map[uint32]uint64{}
	for _, r := range rs {
		if r.Status.Live() {
			latest[r.ID] = r.Serial
		}
	}
	gs, err := tx.Grants(0, true)
	if err != nil {
		return nil, err
	}
	out := map[int64]int64{}
	for _, g := range gs {
		if s, ok := latest[g.Reservation]; ok && s == g.Serial {
			out[g.LotID] += g.Count
		}
	}
	return out, nil
}

// Transfer moves count licenses of tag from one account to another of the
// same organization, for an actor who manages it: it takes them from the
// available part of the source account's lots, oldest first, and adds a
// lot with the same terms to the destination for each lot it took from.
func (l *Ledger) Transfer(ctx context.Context, from, to, tag string, count int64) ([]Lot, error) {
	fromOrg, _, err := ParseAccountRef(from)
	if err != nil {
		return nil, err
	}
	toOrg, _, err := ParseAccountRef(to)
	if err != nil {
		return nil, err
	}
	if fromOrg != toOrg {
		return nil, fmt.Errorf("%w: %q belongs to %q and %q to %q: licenses never move between organizations", ErrCrossOrg, from, fromOrg, to, toOrg)
	}
	if from == to {
		return nil, fmt.Errorf("%w: transfer from %q to itself", ErrInvalid, from)
	}
	if err := codes.CheckTag(tag); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if count < 1 || count > MaxLotCount {
		return nil, fmt.Errorf("%w: count %d is not from 1 to %d", ErrInvalid, count, int64(MaxLotCount))
	}
	var made []Lot
	err = l.update(ctx, func(tx Tx, c *chain) error {
		made = nil // the transaction may run again (Store.Update)
		if err := refuseOnSatellite(tx, "transfer licenses"); err != nil {
			return err
		}
		src, actor, err := l.accountFor(tx, from, needManage)
		if err != nil {
			return err
		}
		dst, err := account(tx, to)
		if err != nil {
			return err
		}
		lots, err := tx.Lots(src.ID, tag)
		if err != nil {
			return err
		}
		now := l.now()
		var avail int64
		for _, lot := range lots {
			if usable(&lot, now) {
				avail += lot.Available()
			}
		}
		if avail < count {
			return fmt.Errorf("%w: %q has %d of %q available, asked to transfer %d", ErrUnavailable, src.Ref(), avail, tag, count)
		}
		left := count
		for _, lot := range lots {
			if left == 0 {
				break
			}
			if !usable(&lot, now) || lot.Available() == 0 {
				continue
			}
			n := min(left, lot.Available())
			if err := tx.ShrinkLot(lot.ID, n); err != nil {
				return err
			}
			nl := Lot{AccountID: dst.ID, Tag: tag, Kind: lot.Kind, Start: lot.Start, End: lot.End, ExportControlled: lot.ExportControlled,
				Initial: n, Count: n, Origin: fmt.Sprintf("transfer from %s lot %d", src.Ref(), lot.ID), CreatedAt: now}
			if err := tx.InsertLot(&nl); err != nil {
				return err
			}
			if err := tx.InsertTransfer(&Transfer{From: lot.ID, To: nl.ID, Count: n, At: now}); err != nil {
				return err
			}
			made = append(made, nl)
			left -= n
			e := l.event(now, "transfer in", tag)
			e.Actor, e.Account, e.CodeHash = actor, dst.Ref(), lotHash(&nl)
			e.Detail = fmt.Sprintf("lot %d: %d %s (%s) from %q lot %d", nl.ID, n, tag, describeTerms(&nl), src.Ref(), lot.ID)
			if err := c.add(e); err != nil {
				return err
			}
		}
		e := l.event(now, "transfer", tag)
		e.Actor, e.Account = actor, src.Ref()
		e.Detail = fmt.Sprintf("%d %s moved from %q to %q", count, tag, src.Ref(), dst.Ref())
		return c.add(e)
	})
	if err != nil {
		return nil, err
	}
	return made, nil
}

// usable reports whether a lot may still give licenses at now: it has not
// ended.
func usable(l *Lot, now int64) bool {
	return l.End == 0 || l.End > now
}
