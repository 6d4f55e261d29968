package authority

import (
	"fmt"
	"sort"
)

// The counts of a satellite's mirrored lots. For each account and tag,
// the mirrored lots give at most the sum of their targets (the vendor's
// counts) less what they hold, and each lot at most its own target: a
// lot's count is what it holds plus what it may still give (its room),
// the rooms handed out in the order of the vendor's lot ids. The counts
// add up to the larger of the targets' sum and what is held, so that
// owned = available + reserved + in transition stays true through an
// over-use, and a license returned during one becomes available only
// once the account is back within the vendor's count.
//
// The counts follow every change of what is held (adjust calls
// settleSynced) and every change of the targets (a sync import).

// A settled is one lot whose count or target settling changed.
type settled struct {
	lot                  *Lot
	synced               SyncedLot
	from, to             int64
	target, targetBefore int64
}

// settleGroup sets the counts of the mirrored lots of one account and tag
// from their targets: the new ones in targets (by lot id) where given,
// the stored ones otherwise. It returns the lots it changed, and what the
// lots hold and their targets add up to.
func settleGroup(tx Tx, k acctTag, targets map[int64]int64) (changed []settled, held, total int64, err error) {
	synced, err := tx.SyncedLots(k.account, k.tag)
	if err != nil || len(synced) == 0 {
		return nil, 0, 0, err
	}
	lots, err := tx.Lots(k.account, k.tag)
	if err != nil {
		return nil, 0, 0, err
	}
	byID := make(map[int64]*Lot, len(lots))
	for i := range lots {
		byID[lots[i].ID] = &lots[i]
	}
	sort.Slice(synced, func(i, j int) bool { return synced[i].VendorLot < synced[j].VendorLot })
	next := make([]int64, len(synced))
	for i, s := range synced {
		if byID[s.LotID] == nil {
			return nil, 0, 0, fmt.Errorf("%w: mirrored lot %d does not exist", ErrCorrupt, s.LotID)
		}
		next[i] = s.Target
		if t, ok := targets[s.LotID]; ok {
			next[i] = t
		}
		total += next[i]
		held += byID[s.LotID].Held
	}
	budget := max(0, total-held)
	for i, s := range synced {
		lot := byID[s.LotID]
		room := min(max(0, next[i]-lot.Held), budget)
		budget -= room
		count := lot.Held + room
		n := lot.Count - count
		if n == 0 && next[i] == s.Target {
			continue
		}
		if err := tx.SyncLot(lot.ID, next[i], n); err != nil {
			return nil, 0, 0, err
		}
		changed = append(changed, settled{lot: lot, synced: s, from: lot.Count, to: count, target: next[i], targetBefore: s.Target})
	}
	return changed, held, total, nil
}

// settleSynced settles the mirrored lots among lotIDs after their held
// counts changed. On a ledger that is no satellite it costs one lookup:
// a satellite's lots are all mirrored, a vendor's none.
func settleSynced(tx Tx, lotIDs []int64) error {
	seen := map[acctTag]bool{}
	for _, id := range lotIDs {
		s, err := tx.SyncedLot(id)
		if err != nil {
			return err
		}
		if s == nil {
			if len(seen) == 0 {
				return nil
			}
			continue
		}
		k := acctTag{s.AccountID, s.Tag}
		if seen[k] {
			continue
		}
		seen[k] = true
		if _, _, _, err := settleGroup(tx, k, nil); err != nil {
			return err
		}
	}
	return nil
}

// settleAll settles every mirrored lot, with new targets by lot id where
// given, records each change in the history and returns the changes and
// the over-uses.
func (l *Ledger) settleAll(tx Tx, c *chain, targets map[int64]int64, now int64) ([]LotChange, []OverUse, error) {
	synced, err := tx.SyncedLots(0, "")
	if err != nil || len(synced) == 0 {
		return nil, nil, err
	}
	refs, err := accountRefs(tx)
	if err != nil {
		return nil, nil, err
	}
	var keys []acctTag
	seen := map[acctTag]bool{}
	for _, s := range synced {
		if k := (acctTag{s.AccountID, s.Tag}); !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if refs[keys[i].account] != refs[keys[j].account] {
			return refs[keys[i].account] < refs[keys[j].account]
		}
		return keys[i].tag < keys[j].tag
	})
	var changes []LotChange
	var over []OverUse
	for _, k := range keys {
		changed, held, total, err := settleGroup(tx, k, targets)
		if err != nil {
			return nil, nil, err
		}
		for _, x := range changed {
			ch := LotChange{LotID: x.lot.ID, VendorLot: x.synced.VendorLot, Account: refs[k.account], Tag: k.tag, From: x.from, To: x.to,
				Target: x.target, WasTarget: x.targetBefore}
			changes = append(changes, ch)
			e := l.event(now, "sync count", k.tag)
			e.Account = ch.Account
			e.Detail = fmt.Sprintf("lot %d (the vendor's lot %d) of %q: count %d → %d; the vendor gives %d (was %d), %d held",
				ch.LotID, ch.VendorLot, ch.Account, ch.From, ch.To, ch.Target, ch.WasTarget, x.lot.Held)
			if err := c.add(e); err != nil {
				return nil, nil, err
			}
		}
		if held > total {
			over = append(over, OverUse{Account: refs[k.account], Tag: k.tag, Held: held, Count: total})
		}
	}
	return changes, over, nil
}
