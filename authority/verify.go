package authority

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"sort"
	"strings"

	"github.com/airlock-dev/airlock/codes"
)

// A Checker is a Store that can check its own storage: the file's
// integrity and the settings durability needs. Verify runs it first.
type Checker interface {
	Check(ctx context.Context) error
}

// A VerifyReport says what Verify checked.
type VerifyReport struct {
	Events        int64  // history events in the chain
	Head          []byte // the hash of the last one
	Lots          int
	Reservations  int
	Live          int // reservations holding licenses
	Codes         int
	Balances      int // account and tag pairs
	Products      int
	Keys          int // license keys issued
	Redeemed      int // of them, redeemed
	WalletLots    int
	FleetProducts int
	Devices       int
}

// Verify checks the ledger in one read transaction and returns the first
// violation it finds as ErrCorrupt:
//
//   - the store's own check (Checker), when it has one;
//   - the history: events numbered 1, 2, … without a gap, each linking
//     the hash of the one before, the last one's hash and the count equal
//     to the meta record's;
//   - every lot: 0 ≤ held ≤ count, and count = initial less what was
//     transferred out (and, on a satellite, what syncs took out);
//   - every reservation: its codes stored for serials 1 to the latest,
//     each the code its hash names, for this reservation and serial, with
//     the entitlements its grants say, and recorded in the history;
//   - every usage report imported: recorded in the history;
//   - no license held twice: each lot's held count equals what the live
//     reservations hold from it, and each instance holds at most one live
//     reservation;
//   - for every account and tag: owned = available + reserved + in
//     transition, none negative;
//   - every license key: recorded by exactly one issue event, and if
//     redeemed, by exactly one redemption event, into a product of its
//     software, its wallet lots adding up to what it carries;
//   - every wallet lot: 0 ≤ count ≤ initial, entered when its key was
//     redeemed, expiring five years later;
//   - the activation-code pools add up (verifyFleet);
//   - satellites, delegated accounts and sync files agree with the
//     history, and a satellite holds only mirrored lots (verifySync);
//   - connected registrations, borrows and export grants agree with the
//     instances and reservations (verifyConnected);
//   - registrations, serials and upgrades agree (verifyPortal).
//
// Only the vendor's staff verify (the history is the vendor's, and the
// checks read every organization): the role is checked before the store's
// own check, which may take long, and again in the transaction that
// verifies. VerifyStore verifies a store without an actor.
func (l *Ledger) Verify(ctx context.Context) (*VerifyReport, error) {
	const what = "verify the ledger"
	if err := l.view(ctx, func(tx ReadTx) error {
		_, err := l.actingVendor(tx, what)
		return err
	}); err != nil {
		return nil, err
	}
	return l.verify(ctx, func(tx ReadTx) error {
		_, err := l.actingVendor(tx, what)
		return err
	})
}

// VerifyStore is Verify for whoever holds the store itself, not a person
// acting on the ledger: `airlock authority migrate` checks the source and
// the copy with it. It checks no role, so a front end that serves people
// never calls it; they call Ledger.Verify.
func VerifyStore(ctx context.Context, st Store) (*VerifyReport, error) {
	return New(st, Options{}).verify(ctx, func(ReadTx) error { return nil })
}

// verify runs the checks of Verify; allowed runs first in the
// transaction that reads the ledger.
func (l *Ledger) verify(ctx context.Context, allowed func(ReadTx) error) (*VerifyReport, error) {
	if c, ok := l.st.(Checker); ok {
		if err := c.Check(ctx); err != nil {
			return nil, err
		}
	}
	rep := &VerifyReport{}
	err := l.view(ctx, func(tx ReadTx) error {
		if err := allowed(tx); err != nil {
			return err
		}
		m, err := tx.Meta()
		if err != nil {
			return err
		}
		hashes, keyEvents, err := verifyHistory(tx, m, rep)
		if err != nil {
			return err
		}
		if err := verifyLedger(tx, hashes, rep); err != nil {
			return err
		}
		if err := verifyWallets(tx, hashes, keyEvents, rep); err != nil {
			return err
		}
		if err := verifyFleet(tx, hashes, rep); err != nil {
			return err
		}
		if err := verifySync(tx, hashes); err != nil {
			return err
		}
		if err := verifyConnected(tx); err != nil {
			return err
		}
		return verifyPortal(tx, hashes, keyEvents)
	})
	if err != nil {
		return nil, err
	}
	return rep, nil
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// verifyHistory walks the chain and returns the code hashes it records,
// and how many key issue and wallet redeem events name each key hash
// (keyed by action, a NUL, then the hash).
func verifyHistory(tx ReadTx, m *Meta, rep *VerifyReport) (map[string]bool, map[string]int, error) {
	hashes := map[string]bool{}
	keyEvents := map[string]int{}
	prev := genesis
	var n int64
	err := tx.History(HistoryFilter{}, func(e *Event) error {
		n++
		switch {
		case e.ID != n:
			return corrupt("history event %d follows event %d: events were removed or renumbered", e.ID, n-1)
		case !bytes.Equal(e.Prev, prev):
			return corrupt("history event %d (%s %s) does not link to event %d: that event was altered or removed", e.ID, e.Action, e.Subject, n-1)
		}
		prev = e.Hash()
		if e.Action == actionSubscriptionAllocate || e.Action == actionHardwareExtend {
			keyEvents[e.Action]++
		}
		if len(e.CodeHash) > 0 {
			hashes[string(e.CodeHash)] = true
			if e.Action == actionKeyIssue || e.Action == actionWalletRedeem {
				keyEvents[e.Action+"\x00"+string(e.CodeHash)]++
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	switch {
	case n != m.HistoryCount:
		return nil, nil, corrupt("the history has %d events, the ledger recorded %d: the last events were removed or added", n, m.HistoryCount)
	case !bytes.Equal(prev, m.HistoryHead):
		return nil, nil, corrupt("the last history event (%d) does not hash to the head the ledger recorded: it was altered", n)
	}
	rep.Events, rep.Head = n, prev
	return hashes, keyEvents, nil
}

func verifyLedger(tx ReadTx, hashes map[string]bool, rep *VerifyReport) error {
	lots, err := tx.Lots(0, "")
	if err != nil {
		return err
	}
	transfers, err := tx.Transfers()
	if err != nil {
		return err
	}
	out := map[int64]int64{}
	for _, t := range transfers {
		out[t.From] += t.Count
	}
	if err := addSyncShrunk(tx, out); err != nil {
		return err
	}
	byID := map[int64]*Lot{}
	for i := range lots {
		l := &lots[i]
		byID[l.ID] = l
		switch {
		case l.Held < 0 || l.Held > l.Count:
			return corrupt("lot %d (%s) holds %d of %d", l.ID, l.Tag, l.Held, l.Count)
		case l.Count != l.Initial-out[l.ID]:
			return corrupt("lot %d (%s) counts %d, but it entered with %d and %d were transferred out", l.ID, l.Tag, l.Count, l.Initial, out[l.ID])
		case !hashes[string(lotHash(l))]:
			return corrupt("lot %d (%s) is not the lot its history event recorded: it was added or changed outside the ledger", l.ID, l.Tag)
		}
	}
	rep.Lots = len(lots)

	insts, err := tx.Instances()
	if err != nil {
		return err
	}
	instByID := map[int64]*Instance{}
	for i := range insts {
		instByID[insts[i].ID] = &insts[i]
	}
	rs, err := tx.Reservations(0)
	if err != nil {
		return err
	}
	grants, err := tx.Grants(0, true)
	if err != nil {
		return err
	}
	gByRes := map[uint32][]Grant{}
	for _, g := range grants {
		if byID[g.LotID] == nil {
			return corrupt("reservation %s serial %d takes from lot %d, which does not exist", FormatReservationID(g.Reservation), g.Serial, g.LotID)
		}
		if byID[g.LotID].Tag != g.Tag {
			return corrupt("reservation %s serial %d takes %q from lot %d of %q", FormatReservationID(g.Reservation), g.Serial, g.Tag, g.LotID, byID[g.LotID].Tag)
		}
		gByRes[g.Reservation] = append(gByRes[g.Reservation], g)
	}
	issued, err := tx.Issued(0, true)
	if err != nil {
		return err
	}
	cByRes := map[uint32][]Issued{}
	for _, c := range issued {
		cByRes[c.Reservation] = append(cByRes[c.Reservation], c)
	}
	rep.Codes = len(issued)
	borrows, err := borrowsByReservation(tx)
	if err != nil {
		return err
	}

	held := map[int64]int64{}
	reserved := map[int64]int64{}
	liveOf := map[int64]uint32{}
	for i := range rs {
		r := &rs[i]
		inst := instByID[r.InstanceID]
		if inst == nil {
			return corrupt("reservation %s belongs to instance %d, which does not exist", r.IDString(), r.InstanceID)
		}
		if r.Serial < 1 || r.Confirmed > r.Serial {
			return corrupt("reservation %s has serial %d and confirmed serial %d", r.IDString(), r.Serial, r.Confirmed)
		}
		ps, err := tx.ProductSystem(inst.ID)
		if err != nil {
			return err
		}
		if err := verifyCodes(r, inst, cByRes[r.ID], entitledGrants(gByRes[r.ID], borrows[r.ID]), ps != nil, hashes); err != nil {
			return err
		}
		if !r.Status.Live() {
			continue
		}
		rep.Live++
		if other, ok := liveOf[r.InstanceID]; ok {
			return corrupt("instance %s holds two live reservations, %s and %s", inst.UDI, FormatReservationID(other), r.IDString())
		}
		liveOf[r.InstanceID] = r.ID
		if inst.State != InstanceReserved {
			return corrupt("reservation %s is %s, but its instance %s is %s", r.IDString(), r.Status, inst.UDI, inst.State)
		}
		for lot, n := range holdings(r, gByRes[r.ID]) {
			held[lot] += n
		}
		for _, g := range serialGrants(gByRes[r.ID], r.Serial) {
			reserved[g.LotID] += g.Count
		}
	}
	rep.Reservations = len(rs)
	reports, err := tx.UsageReports(0)
	if err != nil {
		return err
	}
	for _, u := range reports {
		if instByID[u.InstanceID] == nil || !hashes[string(u.Hash)] {
			return corrupt("usage report %x of instance %d is not in the history: it was added outside the ledger", u.Hash[:min(8, len(u.Hash))], u.InstanceID)
		}
	}
	for i := range lots {
		l := &lots[i]
		if l.Held != held[l.ID] {
			return corrupt("lot %d (%s) records %d held, the live reservations hold %d of it", l.ID, l.Tag, l.Held, held[l.ID])
		}
	}

	type key struct {
		account int64
		tag     string
	}
	type balance struct{ owned, available, reserved, transition int64 }
	bal := map[key]*balance{}
	var keys []key
	for i := range lots {
		l := &lots[i]
		k := key{l.AccountID, l.Tag}
		b := bal[k]
		if b == nil {
			b = &balance{}
			bal[k] = b
			keys = append(keys, k)
		}
		b.owned += l.Count
		b.available += l.Count - l.Held
		b.reserved += reserved[l.ID]
		b.transition += held[l.ID] - reserved[l.ID]
	}
	refs, err := accountRefs(tx)
	if err != nil {
		return err
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].account != keys[j].account {
			return keys[i].account < keys[j].account
		}
		return keys[i].tag < keys[j].tag
	})
	for _, k := range keys {
		b := bal[k]
		if b.available < 0 || b.reserved < 0 || b.transition < 0 || b.owned != b.available+b.reserved+b.transition {
			return corrupt("%q, %q: owned %d, available %d, reserved %d, in transition %d", refs[k.account], k.tag, b.owned, b.available, b.reserved, b.transition)
		}
	}
	rep.Balances = len(keys)
	return nil
}

// verifyCodes checks the stored codes of one reservation.
func verifyCodes(r *Reservation, inst *Instance, cs []Issued, gs []Grant, subscribed bool, hashes map[string]bool) error {
	if uint64(len(cs)) != r.Serial {
		return corrupt("reservation %s is at serial %d but has %d codes stored", r.IDString(), r.Serial, len(cs))
	}
	for i, c := range cs {
		if c.Serial != uint64(i+1) {
			return corrupt("reservation %s has no stored code for serial %d", r.IDString(), i+1)
		}
		if !bytes.Equal(codeHash(c.Code), c.Hash) {
			return corrupt("the stored code of reservation %s serial %d does not match its hash", r.IDString(), c.Serial)
		}
		if !hashes[string(c.Hash)] {
			return corrupt("the code of reservation %s serial %d (%x) is not in the history", r.IDString(), c.Serial, c.Hash[:8])
		}
		a, err := codes.ParseUnverifiedAuthorization(c.Code)
		if err != nil {
			return corrupt("the stored code of reservation %s serial %d: %v", r.IDString(), c.Serial, err)
		}
		if reservationID(a.Reservation) != r.ID || a.Serial != c.Serial || a.UDI.String() != inst.UDI ||
			!bytes.Equal(a.InstanceKey, codes.InstanceKeyHash(inst.PublicKey)) {
			return corrupt("the stored code of reservation %s serial %d names reservation %x serial %d for %s", r.IDString(), c.Serial, a.Reservation, a.Serial, a.UDI.Short())
		}
		if subscribed {
			// A system of a product holds no lots: its codes carry what
			// the product's subscription licenses.
			if len(gs) > 0 {
				return corrupt("reservation %s of a product's system takes from lots", r.IDString())
			}
			continue
		}
		want := map[string]int64{}
		for _, e := range a.Entitlements {
			want[e.Tag] += int64(e.Count)
		}
		got := map[string]int64{}
		for _, g := range serialGrants(gs, c.Serial) {
			got[g.Tag] += g.Count
		}
		for tag, n := range want {
			if got[tag] != n {
				return corrupt("reservation %s serial %d: the code grants %d of %q, the ledger took %d", r.IDString(), c.Serial, n, tag, got[tag])
			}
		}
		for tag, n := range got {
			if want[tag] != n {
				return corrupt("reservation %s serial %d: the ledger took %d of %q, the code grants %d", r.IDString(), c.Serial, n, tag, want[tag])
			}
		}
	}
	return nil
}

// verifyWallets checks license keys, their redemptions and wallet lots
// against each other and the history.
func verifyWallets(tx ReadTx, hashes map[string]bool, keyEvents map[string]int, rep *VerifyReport) error {
	products, err := tx.Products(0)
	if err != nil {
		return err
	}
	prodByID := map[int64]*Product{}
	for i := range products {
		prodByID[products[i].ID] = &products[i]
	}
	keys, err := tx.LicenseKeys()
	if err != nil {
		return err
	}
	keyByHash := map[string]*LicenseKey{}
	for i := range keys {
		k := &keys[i]
		keyByHash[string(k.Hash)] = k
		if len(k.Hash) != sha256.Size || len(k.Lines) == 0 {
			return corrupt("license key %d has a %d-byte hash and %d lines", k.ID, len(k.Hash), len(k.Lines))
		}
		if n := keyEvents[actionKeyIssue+"\x00"+string(k.Hash)]; n != 1 {
			return corrupt("license key %s is recorded by %d issue events in the history, want 1: it was added outside the ledger", k.KeyID(), n)
		}
	}
	recorded := make([]string, 0, len(keyEvents))
	for ev := range keyEvents {
		recorded = append(recorded, ev)
	}
	sort.Strings(recorded) // the same ledger always reports the same key
	for _, ev := range recorded {
		action, hash, ok := strings.Cut(ev, "\x00")
		if !ok {
			continue // a count of allocation events
		}
		if keyByHash[hash] == nil {
			return corrupt("the history records %q of license key %s, which the ledger does not hold: it was deleted", action, KeyID([]byte(hash)))
		}
	}
	redemptions, err := tx.Redemptions()
	if err != nil {
		return err
	}
	lots, err := tx.WalletLots(0)
	if err != nil {
		return err
	}
	allocs, err := tx.Allocations(0)
	if err != nil {
		return err
	}
	for i := range allocs {
		if a := &allocs[i]; !hashes[string(allocationHash(a))] {
			return corrupt("allocation %d of %d %s is not the allocation its history event recorded: it was changed outside the ledger", a.ID, a.Count, a.Tag)
		}
	}
	out := map[int64]int64{}
	for _, a := range allocs {
		var n int64
		for _, src := range a.Sources {
			out[src.LotID] += src.Count
			n += src.Count
		}
		if n != a.Count-a.Credited {
			return corrupt("allocation %d of %d %s (%d credited back) took %d from the wallet", a.ID, a.Count, a.Tag, a.Credited, n)
		}
	}
	if n := keyEvents[actionSubscriptionAllocate] + keyEvents[actionHardwareExtend]; n != len(allocs) {
		return corrupt("the ledger holds %d allocations, the history records %d: allocations were added or removed outside the ledger", len(allocs), n)
	}
	type keyTag struct{ hash, tag string }
	entered := map[keyTag]int64{}
	for i := range lots {
		w := &lots[i]
		switch {
		case w.Count < 0 || w.Count > w.Initial:
			return corrupt("wallet lot %d (%s) counts %d of %d", w.ID, w.Tag, w.Count, w.Initial)
		case w.Count != w.Initial-out[w.ID]:
			return corrupt("wallet lot %d (%s) counts %d, but it entered with %d and allocations took %d", w.ID, w.Tag, w.Count, w.Initial, out[w.ID])
		case w.ExpiresAt != WalletExpiry(w.EnteredAt):
			return corrupt("wallet lot %d (%s) entered %s and expires %s, not %d years later", w.ID, w.Tag, codes.FormatTime(w.EnteredAt), codes.FormatTime(w.ExpiresAt), WalletYears)
		}
		entered[keyTag{string(w.KeyHash), w.Tag}] += w.Initial
	}
	redeemed := map[string]*Redemption{}
	for i := range redemptions {
		r := &redemptions[i]
		redeemed[string(r.KeyHash)] = r
		k := keyByHash[string(r.KeyHash)]
		p := prodByID[r.ProductID]
		switch {
		case k == nil:
			return corrupt("a redemption of key %s names no license key issued", KeyID(r.KeyHash))
		case p == nil:
			return corrupt("license key %s was redeemed into product %d, which does not exist", k.KeyID(), r.ProductID)
		case p.Software != k.Software:
			return corrupt("license key %s for %q was redeemed into %q of software %q", k.KeyID(), k.Software, p.Ref(), p.Software)
		}
		if n := keyEvents[actionWalletRedeem+"\x00"+string(k.Hash)]; n != 1 {
			return corrupt("license key %s is redeemed, and recorded by %d redemption events in the history, want 1", k.KeyID(), n)
		}
		left, err := licensesLeft(tx, k)
		if err != nil {
			return err
		}
		for _, ln := range left {
			if got := entered[keyTag{string(k.Hash), ln.Tag}]; got != ln.Count {
				return corrupt("license key %s brought %d %s into %q, its wallet lots hold %d", k.KeyID(), ln.Count, ln.Tag, p.Ref(), got)
			}
		}
	}
	for i := range keys {
		k := &keys[i]
		if redeemed[string(k.Hash)] == nil && keyEvents[actionWalletRedeem+"\x00"+string(k.Hash)] != 0 {
			return corrupt("license key %s is recorded as redeemed in the history, and the ledger has no redemption of it", k.KeyID())
		}
	}
	for i := range lots {
		w := &lots[i]
		r := redeemed[string(w.KeyHash)]
		k := keyByHash[string(w.KeyHash)]
		switch {
		case r == nil || k == nil:
			return corrupt("wallet lot %d (%s) names key %s, which was never redeemed", w.ID, w.Tag, KeyID(w.KeyHash))
		case r.ProductID != w.ProductID:
			return corrupt("wallet lot %d (%s) is in product %d, its key %s was redeemed into product %d", w.ID, w.Tag, w.ProductID, k.KeyID(), r.ProductID)
		case r.At != w.EnteredAt:
			return corrupt("wallet lot %d (%s) entered %s, its key %s was redeemed %s", w.ID, w.Tag, codes.FormatTime(w.EnteredAt), k.KeyID(), codes.FormatTime(r.At))
		}
		found := false
		for _, ln := range k.Lines {
			found = found || ln.Tag == w.Tag
		}
		if !found {
			return corrupt("wallet lot %d holds %s, which its key %s does not carry", w.ID, w.Tag, k.KeyID())
		}
	}
	rep.Products, rep.Keys, rep.Redeemed, rep.WalletLots = len(products), len(keys), len(redemptions), len(lots)
	return nil
}
