package authority

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/airlock-dev/airlock/codes"
)

// Tiers (issue 10): a product may declare an ordered list of tiers of its
// licenses, e.g. essential < basic < enhanced < enhanced-plus. In
// connected mode a license of a higher tier covers a need for a lower one
// when the lower tier is short, the nearest higher tier first: the code
// carries the lower tag (what the instance asked for), the grant holds the
// higher tier's lot, and the answer and the history say what was
// borrowed. In reservation mode nothing is borrowed: a reserve or update
// refused for a shortfall of a tag in a ladder says which update would
// cover it (tierAdvice).

// MaxLadderLen caps the tiers of one ladder: products have a handful.
const MaxLadderLen = 16

const (
	actionTierSet    = "tier set"
	actionTierDelete = "tier delete"
)

// A tierIndex places each tag of a ladder.
type tierIndex map[string]tierPlace

type tierPlace struct {
	ladder *Ladder
	step   int // 0 for the lowest
}

// above returns the tags of the tiers above tag, the nearest first.
func (t tierIndex) above(tag string) []string {
	p, ok := t[tag]
	if !ok {
		return nil
	}
	return p.ladder.Tags[p.step+1:]
}

// loadTiers reads the ladders.
func loadTiers(tx ReadTx) (tierIndex, error) {
	ls, err := tx.Ladders()
	if err != nil {
		return nil, err
	}
	return indexTiers(ls), nil
}

func indexTiers(ls []Ladder) tierIndex {
	t := tierIndex{}
	for i := range ls {
		for s, tag := range ls[i].Tags {
			t[tag] = tierPlace{&ls[i], s}
		}
	}
	return t
}

// SetLadder sets the tier ladder name to tags, lowest first, replacing a
// ladder of that name. A ladder has 2 to MaxLadderLen tags, each in no
// other ladder. Only the vendor's staff set ladders: tags are the
// vendor's.
func (l *Ledger) SetLadder(ctx context.Context, name string, tags []string) (*Ladder, error) {
	if err := CheckName("tier ladder", name); err != nil {
		return nil, err
	}
	if len(tags) < 2 || len(tags) > MaxLadderLen {
		return nil, fmt.Errorf("%w: a tier ladder has 2 to %d tags, lowest first; %d given", ErrInvalid, MaxLadderLen, len(tags))
	}
	seen := map[string]bool{}
	for _, tag := range tags {
		if err := codes.CheckTag(tag); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		if seen[tag] {
			return nil, fmt.Errorf("%w: tag %q is given twice: a tag is one tier", ErrInvalid, tag)
		}
		seen[tag] = true
	}
	var out *Ladder
	err := l.update(ctx, func(tx Tx, c *chain) error {
		a, err := l.actingVendor(tx, "set tier ladders")
		if err != nil {
			return err
		}
		ls, err := tx.Ladders()
		if err != nil {
			return err
		}
		var old *Ladder
		for i := range ls {
			if ls[i].Name == name {
				old = &ls[i]
				continue
			}
			for _, tag := range ls[i].Tags {
				if seen[tag] {
					return fmt.Errorf("%w: tag %q is in tier ladder %q: a tag is in at most one ladder (delete it there first)", ErrExists, tag, ls[i].Name)
				}
			}
		}
		now := l.now()
		out = &Ladder{Name: name, Tags: tags, CreatedAt: now, CreatedBy: a.name}
		if err := tx.PutLadder(out); err != nil {
			return err
		}
		e := l.event(now, actionTierSet, name)
		e.Actor = a.name
		e.Detail = fmt.Sprintf("tier ladder %q: %s", name, strings.Join(tags, " < "))
		if old != nil {
			e.Detail += fmt.Sprintf(" (was %s)", strings.Join(old.Tags, " < "))
		}
		return c.add(e)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Ladders returns the tier ladders, by name, for the vendor's staff
// only: tags and their ladders are the vendor's catalogue.
func (l *Ledger) Ladders(ctx context.Context) ([]Ladder, error) {
	var out []Ladder
	err := l.view(ctx, func(tx ReadTx) error {
		if _, err := l.actingVendor(tx, "list the tier ladders"); err != nil {
			return err
		}
		var err error
		out, err = tx.Ladders()
		return err
	})
	return out, err
}

// DeleteLadder deletes a tier ladder: its tiers borrow from each other
// no more. Codes issued with borrowed licenses keep them until their
// next renewal.
func (l *Ledger) DeleteLadder(ctx context.Context, name string) error {
	return l.update(ctx, func(tx Tx, c *chain) error {
		a, err := l.actingVendor(tx, "delete tier ladders")
		if err != nil {
			return err
		}
		ls, err := tx.Ladders()
		if err != nil {
			return err
		}
		var old *Ladder
		for i := range ls {
			if ls[i].Name == name {
				old = &ls[i]
			}
		}
		if old == nil {
			return fmt.Errorf("%w: no tier ladder %q ('airlock authority tier list' lists them)", ErrNotFound, name)
		}
		if _, err := tx.DeleteLadder(name); err != nil {
			return err
		}
		e := l.event(l.now(), actionTierDelete, name)
		e.Actor = a.name
		e.Detail = fmt.Sprintf("tier ladder %q deleted: %s", name, strings.Join(old.Tags, " < "))
		return c.add(e)
	})
}

// tierAdvice adds to a refusal for a shortfall of tag (need more wanted
// beyond have, in acct) which licenses of a higher tier would cover it,
// when tag is in a ladder and a higher tier has some available: a
// reservation takes them only when asked, so the advice names the command
// that asks. command is the command up to its --license flags, others the
// licenses it names besides tag, and base what the reservation holds
// already (an update sets counts). It returns err unchanged when no higher
// tier helps.
func tierAdvice(err error, cache *lotCache, acct *Account, tag string, have, need int64, others, base []codes.License, command string, now int64) error {
	if !errors.Is(err, ErrUnavailable) {
		return err
	}
	tiers, terr := loadTiers(cache.tx)
	if terr != nil {
		return errors.Join(err, terr)
	}
	up := tiers.above(tag)
	if len(up) == 0 {
		return err
	}
	avail := func(t string) (int64, error) {
		lots, err := cache.get(acct.ID, t)
		if err != nil {
			return 0, err
		}
		var n int64
		for _, l := range lots {
			if l.Kind != codes.Hardware && usable(l, now) {
				n += l.Available()
			}
		}
		return n, nil
	}
	own, aerr := avail(tag)
	if aerr != nil {
		return errors.Join(err, aerr)
	}
	own = min(own, need)
	short := need - own
	for _, u := range up {
		n, aerr := avail(u)
		if aerr != nil {
			return errors.Join(err, aerr)
		}
		if n <= 0 {
			continue
		}
		take := min(n, short)
		var flags []string
		if have+own > 0 {
			flags = append(flags, fmt.Sprintf("--license %s=%d", tag, have+own))
		}
		seen := false
		for _, o := range others {
			c := int64(o.Count)
			switch o.Tag {
			case tag:
				continue
			case u:
				c, seen = c+take, true
			}
			flags = append(flags, fmt.Sprintf("--license %s=%d", o.Tag, c))
		}
		if !seen {
			flags = append(flags, fmt.Sprintf("--license %s=%d", u, countOf(base, u)+take))
		}
		covers := "covers it"
		if take < short {
			covers = fmt.Sprintf("covers %d of them", take)
		}
		return fmt.Errorf("%w; %d short: tier %q has %d available and %s in connected mode, where a higher tier covers a lower one; a reservation takes it only when asked: %s %s",
			err, short, u, n, covers, command, strings.Join(flags, " "))
	}
	return err
}

// reserveCommand is the command a tierAdvice names for a reservation.
func reserveCommand(acct *Account, system *Instance) string {
	if system != nil {
		return fmt.Sprintf("airlock authority reserve --account %s --system %q", acct.Ref(), system.Name)
	}
	return "airlock authority reserve --account " + acct.Ref() + " --request CODE"
}

// licensesOfCode returns the lines of a code that are not bound to
// hardware, as licenses.
func licensesOfCode(es []codes.Entitlement) []codes.License {
	var out []codes.License
	for _, e := range es {
		if e.Component == "" {
			out = append(out, codes.License{Tag: e.Tag, Count: e.Count})
		}
	}
	return out
}
