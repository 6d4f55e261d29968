package authority

import (
	"fmt"
	"sort"
	"strings"

	"github.com/airlock-dev/airlock/codes"
)

// A lotCache holds the lots a transaction read, with the held counts its
// committed plans changed. Plans read availability from it; the guarded
// updates (Tx.AdjustHeld) stay the authority on what may be taken, so a
// stale cache can only make a plan fail, never over-allocate.
type lotCache struct {
	tx   ReadTx
	lots map[lotKey][]*Lot
	byID map[int64]*Lot
}

type lotKey struct {
	account int64
	tag     string
}

func newLotCache(tx ReadTx) *lotCache {
	return &lotCache{tx: tx, lots: map[lotKey][]*Lot{}, byID: map[int64]*Lot{}}
}

func (c *lotCache) get(account int64, tag string) ([]*Lot, error) {
	k := lotKey{account, tag}
	if ls, ok := c.lots[k]; ok {
		return ls, nil
	}
	rows, err := c.tx.Lots(account, tag)
	if err != nil {
		return nil, err
	}
	if rows, err = syncedLots(c.tx, account, tag, rows); err != nil {
		return nil, err
	}
	ls := make([]*Lot, len(rows))
	for i := range rows {
		ls[i] = &rows[i]
		c.byID[rows[i].ID] = ls[i]
	}
	c.lots[k] = ls
	return ls, nil
}

// apply records held deltas that were written and committed to the
// transaction.
func (c *lotCache) apply(deltas map[int64]int64) {
	for id, d := range deltas {
		if l := c.byID[id]; l != nil {
			l.Held += d
		}
	}
}

// terms are what lots must share for their licenses to form one
// entitlement line.
type terms struct {
	kind       codes.EntitlementKind
	start, end int64
	export     bool
}

func termsOf(l *Lot) terms { return terms{l.Kind, l.Start, l.End, l.ExportControlled} }

func (t terms) String() string {
	s := t.kind.String()
	if t.start != 0 || t.end != 0 {
		s += " " + codes.FormatTime(t.start)[:10] + ".." + codes.FormatTime(t.end)[:10]
	}
	if t.export {
		s += " export-controlled"
	}
	return s
}

// before orders terms by preference: perpetual first, then what lasts
// longest, then what started first, then not export-controlled.
func (t terms) before(u terms) bool {
	if (t.kind == codes.Perpetual) != (u.kind == codes.Perpetual) {
		return t.kind == codes.Perpetual
	}
	if t.end != u.end {
		return t.end > u.end
	}
	if t.start != u.start {
		return t.start < u.start
	}
	if t.kind != u.kind {
		return t.kind < u.kind
	}
	return !t.export && u.export
}

// An allocation is what a plan takes from lots for one serial: its grants
// and entitlement lines.
type allocation struct {
	grants []Grant
	ents   []codes.Entitlement
	taken  map[int64]int64 // by lot, in this plan
}

func newAllocation() *allocation {
	return &allocation{taken: map[int64]int64{}}
}

// room returns what a lot can still give this plan: its available count
// plus extra (what the reservation already holds there beyond its latest
// grant), less what the plan took.
func (a *allocation) room(l *Lot, extra int64) int64 {
	return l.Available() + extra - a.taken[l.ID]
}

// take plans n licenses of tag from a lot, bound to component for a
// hardware lot.
func (a *allocation) take(l *Lot, tag, component string, n int64) {
	a.grants = append(a.grants, Grant{LotID: l.ID, Tag: tag, Component: component, Count: n})
	a.taken[l.ID] += n
}

// entitlement returns the line for count licenses of tag drawn from lots
// of terms t.
func entitlement(tag string, count int64, t terms, component string) codes.Entitlement {
	return codes.Entitlement{Tag: tag, Count: uint32(count), Kind: t.kind, Start: t.start, End: t.end,
		ExportControlled: t.export, Component: component}
}

// takeTag plans count licenses of tag from the account's lots, all of one
// terms: the first terms (in preference order) whose lots have room.
// extra gives, per lot, room the reservation already holds.
func (a *allocation) takeTag(cache *lotCache, acct *Account, tag string, count int64, now int64, only *terms, extra map[int64]int64) error {
	lots, err := cache.get(acct.ID, tag)
	if err != nil {
		return err
	}
	type group struct {
		t    terms
		room int64
		lots []*Lot
	}
	var groups []*group
	byTerms := map[terms]*group{}
	hardware := 0
	var withheld int64 // room in export-controlled lots the account may not hold
	for _, l := range lots {
		if l.Kind == codes.Hardware {
			hardware++
			continue
		}
		if !usable(l, now) {
			continue
		}
		t := termsOf(l)
		if only != nil && t != *only {
			continue
		}
		r := a.room(l, extra[l.ID])
		if r <= 0 {
			continue
		}
		if l.ExportControlled && !acct.ExportAllowed {
			withheld += r
			continue
		}
		g := byTerms[t]
		if g == nil {
			g = &group{t: t}
			byTerms[t] = g
			groups = append(groups, g)
		}
		g.room += r
		g.lots = append(g.lots, l)
	}
	sort.SliceStable(groups, func(i, j int) bool { return groups[i].t.before(groups[j].t) })
	for _, g := range groups {
		if g.room < count {
			continue
		}
		// Lots the reservation already holds room in come first, then
		// the oldest.
		sort.SliceStable(g.lots, func(i, j int) bool { return extra[g.lots[i].ID] > 0 && extra[g.lots[j].ID] == 0 })
		left := count
		for _, l := range g.lots {
			n := min(left, a.room(l, extra[l.ID]))
			if n <= 0 {
				continue
			}
			a.take(l, tag, "", n)
			left -= n
			if left == 0 {
				break
			}
		}
		a.ents = append(a.ents, entitlement(tag, count, g.t, ""))
		return nil
	}
	var total, most int64
	var parts []string
	for _, g := range groups {
		total += g.room
		most = max(most, g.room)
		parts = append(parts, fmt.Sprintf("%d %s", g.room, g.t))
	}
	if withheld > 0 && total < count {
		return fmt.Errorf("%w: asked for %d of %q, %q has %d available, and %d more in export-controlled lots, which it may not hold: the vendor allows them with 'airlock authority account set --export-controlled allow %s'",
			ErrUnavailable, count, tag, acct.Ref(), total, withheld, acct.Ref())
	}
	switch {
	case only != nil && total < count:
		return fmt.Errorf("%w: %q has %d more of %q with the terms of this reservation (%s) available, asked for %d more", ErrUnavailable, acct.Ref(), total, tag, *only, count)
	case total >= count:
		return fmt.Errorf("%w: %q has %d of %q available, but in lots of different terms (%s); one entitlement line takes lots of one terms: ask for at most %d", ErrUnavailable, acct.Ref(), total, tag, strings.Join(parts, ", "), most)
	case total == 0 && hardware > 0 && len(groups) == 0:
		return fmt.Errorf("%w: %q has no %q licenses but hardware-bound ones, which go to the components of a system (reserve --system)", ErrUnavailable, acct.Ref(), tag)
	}
	return fmt.Errorf("%w: asked for %d of %q, %q has %d available", ErrUnavailable, count, tag, acct.Ref(), total)
}

// takeComponent plans one hardware-bound license of tag for a component.
func (a *allocation) takeComponent(cache *lotCache, acct *Account, tag, component string, now int64) error {
	lots, err := cache.get(acct.ID, tag)
	if err != nil {
		return err
	}
	var best *Lot
	for _, l := range lots {
		if l.Kind != codes.Hardware || !usable(l, now) || a.room(l, 0) < 1 || (l.ExportControlled && !acct.ExportAllowed) {
			continue
		}
		if best == nil || termsOf(l).before(termsOf(best)) {
			best = l
		}
	}
	if best == nil {
		return fmt.Errorf("%w: %q has no hardware-bound %q license available for component %q", ErrUnavailable, acct.Ref(), tag, component)
	}
	a.take(best, tag, component, 1)
	a.ents = append(a.ents, entitlement(tag, 1, termsOf(best), component))
	return nil
}

// holdings returns what a reservation holds from each lot: for each lot,
// the most that any serial the instance may have installed takes from it.
// Those serials run from the latest confirmed one (or 1) to the latest
// issued: until the instance confirms a newer code, it may still run an
// older one.
func holdings(r *Reservation, grants []Grant) map[int64]int64 {
	return holdingsWindow(max(r.Confirmed, 1), r.Serial, grants)
}

func holdingsWindow(lo, hi uint64, grants []Grant) map[int64]int64 {
	type key struct {
		serial uint64
		lot    int64
	}
	per := map[key]int64{}
	for _, g := range grants {
		if g.Serial >= lo && g.Serial <= hi {
			per[key{g.Serial, g.LotID}] += g.Count
		}
	}
	out := map[int64]int64{}
	for k, n := range per {
		out[k.lot] = max(out[k.lot], n)
	}
	return out
}

// serialGrants returns the grants of one serial.
func serialGrants(grants []Grant, serial uint64) []Grant {
	var out []Grant
	for _, g := range grants {
		if g.Serial == serial {
			out = append(out, g)
		}
	}
	return out
}

// byTag sums grants per tag, in order of first appearance.
func byTag(grants []Grant) []codes.License {
	var out []codes.License
	idx := map[string]int{}
	for _, g := range grants {
		i, ok := idx[g.Tag]
		if !ok {
			i = len(out)
			idx[g.Tag] = i
			out = append(out, codes.License{Tag: g.Tag})
		}
		out[i].Count += uint32(g.Count)
	}
	return out
}

// perTag turns held amounts by lot into licenses by tag, given the lots'
// tags.
func perTag(amounts map[int64]int64, tags map[int64]string) []codes.License {
	sums := map[string]int64{}
	for lot, n := range amounts {
		if n > 0 {
			sums[tags[lot]] += n
		}
	}
	out := make([]codes.License, 0, len(sums))
	for tag, n := range sums {
		out = append(out, codes.License{Tag: tag, Count: uint32(n)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tag < out[j].Tag })
	return out
}
