package authority

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/codes/api"
)

// connInput is what the next code of a connected instance is planned for.
type connInput struct {
	// reg is updated by the plan: reservation, lapse, answer. Without
	// one (an export request code of an instance in reservation mode),
	// the code does not lapse.
	reg      *ConnectedInstance
	inst     *Instance
	acct     *Account
	res      *Reservation    // the live reservation, or nil: the plan makes serial 1
	want     []codes.License // absolute counts
	exportOK bool
	// nonce and request are those of the request code serial 1 answers.
	nonce, request []byte
	// installed is the serial the instance says it holds (renewals): it
	// confirms it when above the one confirmed last.
	installed uint64
}

// A connPlan is the next code of a connected instance, planned and
// written in a transaction, then signed and stored (storeConnected).
type connPlan struct {
	*plan
	request []byte // the request hash serial 1 answers
	action  string // of the history event
	ans     *api.Authorized
	// inTransition lists the licenses held beyond the new code until the
	// instance confirms it.
	inTransition []codes.License
}

// planConnected plans the next code of a connected instance: it takes
// what in.want asks for as far as the account and its tiers cover it
// (allocateConnected), writes the held counts, grants, borrows and the
// reservation, and returns the code to sign with the answer it goes in.
// With nothing to authorize it writes nothing and returns a nil plan and
// the answer with its shortfall. It returns the held deltas it wrote, by
// lot, for the caller's lot cache. in.reg is updated (not stored).
func (l *Ledger) planConnected(tx Tx, cache *lotCache, tiers tierIndex, in *connInput, now int64, key *codes.AuthorityKey) (*connPlan, *api.Authorized, map[int64]int64, error) {
	res := in.res
	var grants []Grant
	var held map[int64]int64
	var confirmed, before uint64 // the serial confirmed after the plan, and before
	if res != nil {
		var err error
		// The serials before the one confirmed last hold nothing
		// (holdings).
		if grants, err = tx.GrantsFrom(res.ID, max(res.Confirmed, 1)); err != nil {
			return nil, nil, nil, err
		}
		held = holdings(res, grants)
		confirmed, before = res.Confirmed, res.Confirmed
		if in.installed > res.Serial {
			return nil, nil, nil, fmt.Errorf("%w: the instance says it installed serial %d of reservation %s, whose latest is serial %d", ErrInvalid, in.installed, res.IDString(), res.Serial)
		}
		confirmed = max(confirmed, in.installed)
	}
	ga, err := allocateConnected(cache, in.acct, in.want, held, in.exportOK, tiers, now)
	if err != nil {
		return nil, nil, nil, err
	}
	ans := &api.Authorized{Shortfall: ga.shortfall, Borrowed: ga.borrowed, Refused: ga.refused}
	if in.reg != nil {
		ca := Lacking{Shortfall: ga.shortfall, Borrowed: ga.borrowed, Refused: ga.refused}
		in.reg.Answer = ca.encode()
		ans.Registration = in.reg.registration()
	}
	if len(ga.ents) == 0 || (res == nil && in.nonce == nil) {
		return nil, ans, nil, nil
	}
	if key == nil {
		return nil, nil, nil, fmt.Errorf("%w: this operation signs a code and no authority key was opened", ErrNoKey)
	}
	for _, e := range ga.ents {
		if err := e.Validate(); err != nil {
			return nil, nil, nil, fmt.Errorf("%w: lot terms make an invalid entitlement: %v", ErrInvalid, err)
		}
	}

	// The writes. The guarded updates come first: a refusal there leaves
	// nothing of this plan to undo, and the rest cannot be refused.
	serial := uint64(1)
	deltas := map[int64]int64{}
	var next []Grant
	var inTransition []codes.License
	if res == nil {
		for _, g := range ga.a.grants {
			deltas[g.LotID] += g.Count
		}
		if err := adjust(tx, deltas); err != nil {
			return nil, nil, nil, err
		}
		res = &Reservation{InstanceID: in.inst.ID, AccountID: in.acct.ID, Status: StatusIssued, Serial: 1, CreatedAt: now, UpdatedAt: now}
		if err := insertReservation(tx, res, l.opts.Rand); err != nil {
			return nil, nil, nil, err
		}
		next = mergeGrants(ga.a.grants, res.ID, 1)
		in.inst.State = InstanceReserved
		if err := tx.UpdateInstance(in.inst); err != nil {
			return nil, nil, nil, err
		}
	} else {
		serial = res.Serial + 1
		next = mergeGrants(ga.a.grants, res.ID, serial)
		all := append(append([]Grant(nil), grants...), next...)
		after := holdingsWindow(max(confirmed, 1), serial, all)
		for lot, n := range after {
			deltas[lot] = n - held[lot]
		}
		for lot, n := range held {
			if _, ok := after[lot]; !ok {
				deltas[lot] = -n
			}
		}
		if err := adjust(tx, deltas); err != nil {
			return nil, nil, nil, err
		}
		transition := map[int64]int64{}
		for lot, n := range after {
			transition[lot] = n
		}
		for _, g := range next {
			transition[g.LotID] -= g.Count
		}
		inTransition = perTag(transition, lotTags(all))
		res.Serial, res.Confirmed, res.UpdatedAt, res.Status = serial, confirmed, now, StatusIssued
		if len(inTransition) > 0 {
			res.Status = StatusTransition
		}
		if err := tx.UpdateReservation(res); err != nil {
			return nil, nil, nil, err
		}
	}
	if err := tx.InsertGrants(next); err != nil {
		return nil, nil, nil, err
	}
	borrows := mergeBorrows(ga.borrows, res.ID, serial)
	if err := tx.InsertBorrows(borrows); err != nil {
		return nil, nil, nil, err
	}
	udi, err := codes.ParseUDI(in.inst.UDI)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: instance %d has UDI %q: %v", ErrCorrupt, in.inst.ID, in.inst.UDI, err)
	}
	auth := &codes.Authorization{
		Reservation:  reservationBytes(res.ID),
		Serial:       serial,
		UDI:          udi,
		InstanceKey:  codes.InstanceKeyHash(in.inst.PublicKey),
		Entitlements: ga.ents,
		IssuedAt:     now,
		InstallBy:    now + int64(l.opts.InstallWindow/time.Second),
	}
	var request []byte
	if serial == 1 {
		auth.Nonce, request = in.nonce, in.request
	}
	note := fmt.Sprintf("reservation %s serial %d: %s", res.IDString(), serial, formatEnts(ga.ents))
	if in.reg != nil {
		auth.Lapses = now + int64(api.AuthorizationValidity/time.Second)
		in.reg.Reservation, in.reg.Lapses = res.ID, auth.Lapses
		note = fmt.Sprintf("reservation %s serial %d, lapses %s: %s", res.IDString(), serial, codes.FormatTime(auth.Lapses), formatEnts(ga.ents))
	}
	if confirmed > before {
		note += fmt.Sprintf("; serial %d installed", confirmed)
	}
	note += lacks(ans)
	if len(inTransition) > 0 {
		note += "; in transition until confirmed: " + FormatLicenses(inTransition)
	}
	p := &connPlan{plan: &plan{acct: in.acct, inst: in.inst, res: res, auth: auth, key: key, note: note}, request: request, action: actionConnRenew, ans: ans, inTransition: inTransition}
	return p, ans, deltas, nil
}

// storeConnected stores a signed code of a connected instance and its
// history event, and puts the code in the plan's answer.
func (l *Ledger) storeConnected(tx Tx, c *chain, p *connPlan, now int64) error {
	if p.err != nil {
		return p.err
	}
	h := codeHash(p.code)
	is := &Issued{Reservation: p.res.ID, Serial: p.auth.Serial, Code: p.code, Hash: h, RequestHash: p.request, Nonce: p.auth.Nonce,
		IssuedAt: p.auth.IssuedAt, InstallBy: p.auth.InstallBy, KeyID: p.key.ID().String()}
	if err := tx.InsertIssued(is); err != nil {
		return err
	}
	e := l.event(now, p.action, p.inst.UDI)
	e.Account, e.Instance, e.CodeHash, e.Detail = p.acct.Ref(), p.inst.UDI, h, p.note
	if err := c.add(e); err != nil {
		return err
	}
	c.issued(p.auth.IssuedAt)
	p.ans.Authorization = p.code
	return nil
}

// lacks says, for the history, what an answer lacked.
func lacks(a *api.Authorized) string {
	var b strings.Builder
	for _, x := range a.Borrowed {
		fmt.Fprintf(&b, "; %d %s borrowed for %s", x.Count, x.From, x.Tag)
	}
	for i, s := range a.Shortfall {
		if i == 0 {
			b.WriteString("; short ")
		} else {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d %s", s.Count, s.Tag)
	}
	for _, r := range a.Refused {
		fmt.Fprintf(&b, "; %s refused: %s", r.Tag, r.Reason)
	}
	return b.String()
}

func formatEnts(es []codes.Entitlement) string {
	ls := make([]codes.License, len(es))
	for i, e := range es {
		ls[i] = codes.License{Tag: e.Tag, Count: e.Count}
	}
	return FormatLicenses(ls)
}

// mergeBorrows sums borrows of one lot and tag, for serial.
func mergeBorrows(bs []Borrow, reservation uint32, serial uint64) []Borrow {
	type key struct {
		lot int64
		tag string
	}
	idx := map[key]int{}
	var out []Borrow
	for _, b := range bs {
		k := key{b.LotID, b.Tag}
		if i, ok := idx[k]; ok {
			out[i].Count += b.Count
			continue
		}
		idx[k] = len(out)
		out = append(out, Borrow{Reservation: reservation, Serial: serial, LotID: b.LotID, Tag: b.Tag, Count: b.Count})
	}
	return out
}

func sortLicenses(ls []codes.License) {
	sort.Slice(ls, func(i, j int) bool { return ls[i].Tag < ls[j].Tag })
}

// A connAlloc is what allocateConnected takes for one code.
type connAlloc struct {
	a         *allocation // grants name their lot's tag
	ents      []codes.Entitlement
	borrows   []Borrow // of the grants, what entitles a lower tier
	shortfall []api.Line
	borrowed  []api.Borrowed
	refused   []api.Refusal
}

// A connLine is one tag a connected instance wants.
type connLine struct {
	tag     string
	need    int64
	got     int64
	t       *terms // of the lots taken, once any is
	blocked int64  // available in export-controlled lots withheld
}

// allocateConnected takes what want asks for from the account's lots, as
// far as they cover it, never failing for a shortfall. held gives, by
// lot, what the instance's reservation holds already: room it may take
// again, and where it is taken first, so that a renewal keeps the lots
// it had. Each tag makes one entitlement line, of one terms (a code
// lists a tag once): the terms whose lots cover most of it, those the
// reservation holds first, then by preference (terms.before).
//
// First every tag takes from its own lots; then a tag still short, in a
// tier ladder, takes from the higher tiers, the nearest first, lots of
// its line's terms only, what their own need left. The code then carries
// the lower tag: the instance asks for what it needs, and a higher tier
// covers it. Export-controlled lots are skipped unless exportOK; a tag
// short for it is listed in refused.
func allocateConnected(cache *lotCache, acct *Account, want []codes.License, held map[int64]int64, exportOK bool, tiers tierIndex, now int64) (*connAlloc, error) {
	ca := &connAlloc{a: newAllocation()}
	lines := make([]*connLine, 0, len(want))
	for _, w := range want {
		if w.Count == 0 {
			continue
		}
		ln := &connLine{tag: w.Tag, need: int64(w.Count)}
		lines = append(lines, ln)
		lots, err := cache.get(acct.ID, w.Tag)
		if err != nil {
			return nil, err
		}
		gs := roomGroups(ca.a, lots, held, exportOK, nil, now, &ln.blocked)
		if g := bestGroup(gs, ln.need); g != nil {
			ln.got = takeGroup(ca.a, g, ln.need, held, nil)
			ln.t = &g.t
		}
	}
	short := make([]*connLine, 0, len(lines))
	for _, ln := range lines {
		if ln.got < ln.need && len(tiers.above(ln.tag)) > 0 {
			short = append(short, ln)
		}
	}
	// Higher tiers first: a lower tier borrows what their own shortfall
	// left.
	sort.SliceStable(short, func(i, j int) bool { return tiers[short[i].tag].step > tiers[short[j].tag].step })
	borrowed := map[[2]string]int64{}
	var order [][2]string
	for _, ln := range short {
		for _, up := range tiers.above(ln.tag) {
			if ln.got == ln.need {
				break
			}
			lots, err := cache.get(acct.ID, up)
			if err != nil {
				return nil, err
			}
			var blocked int64
			gs := roomGroups(ca.a, lots, held, exportOK, ln.t, now, &blocked)
			g := bestGroup(gs, ln.need-ln.got)
			if g == nil {
				continue
			}
			var taken []Grant
			n := takeGroup(ca.a, g, ln.need-ln.got, held, &taken)
			for _, t := range taken {
				ca.borrows = append(ca.borrows, Borrow{LotID: t.LotID, Tag: ln.tag, Count: t.Count})
			}
			ln.got += n
			ln.t = &g.t
			k := [2]string{ln.tag, up}
			if _, ok := borrowed[k]; !ok {
				order = append(order, k)
			}
			borrowed[k] += n
		}
	}
	for _, k := range order {
		ca.borrowed = append(ca.borrowed, api.Borrowed{Tag: k[0], From: k[1], Count: uint32(borrowed[k])})
	}
	for _, ln := range lines {
		if ln.got > 0 {
			ca.ents = append(ca.ents, entitlement(ln.tag, ln.got, *ln.t, ""))
		}
		if ln.got < ln.need {
			ca.shortfall = append(ca.shortfall, api.Line{Tag: ln.tag, Count: uint32(ln.need - ln.got)})
			if ln.blocked > 0 {
				who := "this registration does not allow"
				if !acct.ExportAllowed {
					who = fmt.Sprintf("the vendor denies account %q", acct.Ref())
				}
				ca.refused = append(ca.refused, api.Refusal{Tag: ln.tag, Reason: fmt.Sprintf(
					"%d available in export-controlled lots, which %s", ln.blocked, who)})
			}
		}
	}
	return ca, nil
}

// A roomGroup is lots of one tag and terms with room for a plan.
type roomGroup struct {
	t    terms
	room int64
	held bool // the reservation holds some of them
	lots []*Lot
}

// roomGroups groups the usable lots with room by terms (only those of
// only, when set), skipping hardware-bound lots, and export-controlled
// ones unless exportOK (their room is added to blocked).
func roomGroups(a *allocation, lots []*Lot, held map[int64]int64, exportOK bool, only *terms, now int64, blocked *int64) []*roomGroup {
	var out []*roomGroup
	by := map[terms]*roomGroup{}
	for _, l := range lots {
		if l.Kind == codes.Hardware || !usable(l, now) {
			continue
		}
		t := termsOf(l)
		if only != nil && t != *only {
			continue
		}
		r := a.room(l, held[l.ID])
		if r <= 0 {
			continue
		}
		if l.ExportControlled && !exportOK {
			*blocked += r
			continue
		}
		g := by[t]
		if g == nil {
			g = &roomGroup{t: t}
			by[t] = g
			out = append(out, g)
		}
		g.room += r
		g.held = g.held || held[l.ID] > 0
		g.lots = append(g.lots, l)
	}
	return out
}

// bestGroup returns the group that covers most of need: among equals,
// one the reservation holds lots of, then the preferred terms.
func bestGroup(gs []*roomGroup, need int64) *roomGroup {
	var best *roomGroup
	for _, g := range gs {
		switch {
		case best == nil:
			best = g
		case min(g.room, need) != min(best.room, need):
			if min(g.room, need) > min(best.room, need) {
				best = g
			}
		case g.held != best.held:
			if g.held {
				best = g
			}
		case g.t.before(best.t):
			best = g
		}
	}
	return best
}

// takeGroup plans up to n licenses from a group's lots, those the
// reservation holds first, then the oldest, as grants of each lot's own
// tag; it appends them to taken when not nil and returns how many.
func takeGroup(a *allocation, g *roomGroup, n int64, held map[int64]int64, taken *[]Grant) int64 {
	lots := append([]*Lot(nil), g.lots...)
	sort.SliceStable(lots, func(i, j int) bool { return held[lots[i].ID] > 0 && held[lots[j].ID] == 0 })
	left := n
	for _, l := range lots {
		k := min(left, a.room(l, held[l.ID]))
		if k <= 0 {
			continue
		}
		a.take(l, l.Tag, "", k)
		if taken != nil {
			*taken = append(*taken, Grant{LotID: l.ID, Tag: l.Tag, Count: k})
		}
		left -= k
		if left == 0 {
			break
		}
	}
	return n - left
}
