package authority

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/airlock-dev/airlock/codes"
)

// The sync of a satellite with its vendor, both sides: see satellite.go.

// InitSatellite makes a new ledger a satellite of the vendor whose trust
// file (in any form) is given: the ledger must be initialized, hold no lot,
// and be called by a name the vendor can register (CheckName). The
// satellite's keys must be its own: a vendor trust file that lists one of
// them is refused.
func (l *Ledger) InitSatellite(ctx context.Context, vendorTrust []byte) error {
	code, trust, err := openTrustFile(vendorTrust)
	if err != nil {
		return err
	}
	for _, k := range l.opts.Keys {
		if trust.Key(k.ID()) != nil {
			return fmt.Errorf("%w: the vendor's trust file lists key %s, which is this satellite's own: a satellite signs with a key of its own, never the vendor's", ErrInvalid, k.ID())
		}
	}
	return l.update(ctx, func(tx Tx, c *chain) error {
		m, err := tx.Meta()
		if err != nil {
			return err
		}
		if err := CheckName("satellite", m.Name); err != nil {
			return fmt.Errorf("%w (the vendor registers a satellite by its ledger's name)", err)
		}
		if self, err := tx.SatelliteSelf(); err != nil {
			return err
		} else if self != nil {
			return fmt.Errorf("%w: the ledger %q is a satellite since %s", ErrExists, m.Name, codes.FormatTime(self.CreatedAt))
		}
		if lots, err := tx.Lots(0, ""); err != nil {
			return err
		} else if len(lots) > 0 {
			return fmt.Errorf("%w: the ledger %q holds %d lots: a satellite starts empty and holds only what its vendor delegates", ErrInvalid, m.Name, len(lots))
		}
		if ss, err := tx.Satellites(); err != nil {
			return err
		} else if len(ss) > 0 {
			return fmt.Errorf("%w: the ledger %q has satellites of its own", ErrInvalid, m.Name)
		}
		now := l.now()
		if err := tx.InitSatelliteSelf(&SatelliteSelf{VendorTrust: code, CreatedAt: now}); err != nil {
			return err
		}
		e := l.event(now, "satellite init", m.Name)
		e.CodeHash = codeHash(code)
		e.Detail = fmt.Sprintf("satellite %q of the vendor with keys %s (trust file sequence %d)", m.Name, trustKeys(trust), trust.Sequence)
		return c.add(e)
	})
}

// A SyncExported is a sync request the satellite made.
type SyncExported struct {
	Code    []byte // binary
	Request *codes.SyncRequest
	// Settled are lots whose count was lowered to their target after
	// returns ended an over-use.
	Settled []LotChange
	Over    []OverUse
}

// A LotChange is a mirrored lot whose count or target a sync changed.
type LotChange struct {
	LotID     int64
	VendorLot int64
	Account   string // "ORG/ACCOUNT"
	Tag       string
	From, To  int64 // its count before and after
	Target    int64 // the vendor's count now
	WasTarget int64 // the vendor's count before
	Added     bool  // the lot entered the ledger with this sync
}

// An OverUse is an account that holds more of a tag than the vendor's
// last answer gives it: the satellite grants no more of the tag there
// until returns bring Held within Count.
type OverUse struct {
	Account string // "ORG/ACCOUNT"
	Tag     string
	Held    int64 // reserved and in transition
	Count   int64 // what the vendor gives
}

// Over returns Held - Count.
func (o OverUse) Over() int64 { return o.Held - o.Count }

func (o OverUse) String() string {
	return fmt.Sprintf("%q holds %d of %q, the vendor gives %d (%d over)", o.Account, o.Held, o.Tag, o.Count, o.Over())
}

// ExportSync makes the satellite's next sync request, signed with its key:
// the use of its licenses since the period of the last request answered.
// Every call makes a new request, which supersedes the ones before: an
// answer imports only if it answers the latest.
func (l *Ledger) ExportSync(ctx context.Context) (*SyncExported, error) {
	out := &SyncExported{}
	err := l.update(ctx, func(tx Tx, c *chain) error {
		self, err := satelliteSelf(tx)
		if err != nil {
			return err
		}
		m, err := tx.Meta()
		if err != nil {
			return err
		}
		now, key, err := l.signingClock(c)
		if err != nil {
			return err
		}
		exports, imports, err := syncFiles(tx)
		if err != nil {
			return err
		}
		r := &codes.SyncRequest{Satellite: m.Name, Sequence: 1, From: self.CreatedAt, IssuedAt: now}
		if n := len(exports); n > 0 {
			r.Sequence = exports[n-1].Sequence + 1
		}
		var fromEvent int64 // the period's events come after this one
		if n := len(imports); n > 0 {
			last := imports[n-1]
			r.LastAnswer = last.Hash
			for _, e := range exports {
				if e.Sequence == last.Sequence {
					r.From, fromEvent = e.MadeAt, e.Event
				}
			}
		}
		if r.From > now {
			return fmt.Errorf("%w: the clock says %s, before the last sync period ended %s: fix the clock", ErrClock, codes.FormatTime(now), codes.FormatTime(r.From))
		}
		settled, over, err := l.settleAll(tx, c, nil, now)
		if err != nil {
			return err
		}
		out.Settled, out.Over = settled, over
		if r.Accounts, err = syncReport(tx, r.From, fromEvent, now); err != nil {
			return err
		}
		code, err := codes.SignSyncRequest(r, key)
		if err != nil {
			return fmt.Errorf("making the sync request: %w", err)
		}
		h := codeHash(code)
		e := l.event(now, "sync export", m.Name)
		e.CodeHash = h
		e.Detail = fmt.Sprintf("sync request %d for the period from %s: %s", r.Sequence, codes.FormatTime(r.From), FormatSyncReport(r.Accounts))
		if err := c.add(e); err != nil {
			return err
		}
		if err := tx.InsertSyncExport(&SyncExport{Sequence: r.Sequence, Hash: h, From: r.From, MadeAt: now, Event: e.ID}); err != nil {
			return err
		}
		c.issued(now)
		r.KeyID = key.ID()
		out.Code, out.Request = code, r
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func satelliteSelf(tx ReadTx) (*SatelliteSelf, error) {
	self, err := tx.SatelliteSelf()
	if err != nil {
		return nil, err
	}
	if self == nil {
		return nil, fmt.Errorf("%w: this ledger was not made by 'airlock satellite init': it makes and imports no sync files", ErrNotSatellite)
	}
	return self, nil
}

// vendorTrust opens the vendor's trust file a satellite stores.
func vendorTrust(self *SatelliteSelf) (*codes.TrustSet, error) {
	trust, err := codes.OpenTrustFile(self.VendorTrust)
	if err != nil {
		return nil, fmt.Errorf("%w: the stored trust file of the vendor: %v", ErrCorrupt, err)
	}
	return trust, nil
}

// syncFiles returns the sync requests the satellite made and the answers
// it imported, in the order of their sequence.
func syncFiles(tx ReadTx) ([]SyncExport, []SyncImport, error) {
	exports, err := tx.SyncExports()
	if err != nil {
		return nil, nil, err
	}
	imports, err := tx.SyncImports()
	if err != nil {
		return nil, nil, err
	}
	return exports, imports, nil
}

// mirroredLots returns the mirrored lots of a satellite, and every lot of
// the ledger by id. The caller checks that the lot of each mirrored one
// exists.
func mirroredLots(tx ReadTx) ([]SyncedLot, map[int64]*Lot, error) {
	synced, err := tx.SyncedLots(0, "")
	if err != nil {
		return nil, nil, err
	}
	lots, err := tx.Lots(0, "")
	if err != nil {
		return nil, nil, err
	}
	byID := make(map[int64]*Lot, len(lots))
	for i := range lots {
		byID[lots[i].ID] = &lots[i]
	}
	return synced, byID, nil
}

// FormatSyncReport says what a sync request reports, in a line: for each
// account its counts, then the use of each tag.
func FormatSyncReport(as []codes.SyncAccount) string {
	if len(as) == 0 {
		return "nothing to report"
	}
	parts := make([]string, 0, len(as))
	for _, a := range as {
		s := fmt.Sprintf("%s/%s: %d instances, %d reserved, %d returned, %d removed", a.Org, a.Account, a.Instances, a.Reserved, a.Returned, a.Removed)
		for _, u := range a.Usage {
			s += fmt.Sprintf("; %s peak %d now %d", u.Tag, u.Peak, u.Current)
			if u.Over > 0 {
				s += fmt.Sprintf(" (%d over)", u.Over)
			}
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " | ")
}

// acctTag keys an account and a tag.
type acctTag struct {
	account int64
	tag     string
}

// syncReport computes what a sync request reports for the period from
// from to to: the peak use over it, the use and the instances at its end,
// and the reservations made, returned and removed by the events of the
// history after event fromEvent (which recorded the previous request
// answered), to the second.
func syncReport(tx ReadTx, from, fromEvent, to int64) ([]codes.SyncAccount, error) {
	accounts, err := tx.Accounts()
	if err != nil {
		return nil, err
	}
	synced, lotByID, err := mirroredLots(tx)
	if err != nil {
		return nil, err
	}
	type numbers struct {
		instances, reserved, returned, removed int64
		active                                 bool
	}
	per := map[int64]*numbers{}
	get := func(id int64) *numbers {
		n := per[id]
		if n == nil {
			n = &numbers{}
			per[id] = n
		}
		return n
	}
	type use struct{ peak, current, held, target int64 }
	uses := map[acctTag]*use{}
	getUse := func(k acctTag) *use {
		u := uses[k]
		if u == nil {
			u = &use{}
			uses[k] = u
		}
		return u
	}
	for _, s := range synced {
		l := lotByID[s.LotID]
		if l == nil {
			return nil, fmt.Errorf("%w: mirrored lot %d does not exist", ErrCorrupt, s.LotID)
		}
		get(l.AccountID).active = true
		u := getUse(acctTag{l.AccountID, l.Tag})
		u.target += s.Target
		u.held += l.Held
	}
	insts, err := tx.Instances()
	if err != nil {
		return nil, err
	}
	for _, i := range insts {
		if i.State != InstanceRemoved {
			n := get(i.AccountID)
			n.instances++
			n.active = true
		}
	}
	byRef := make(map[string]int64, len(accounts))
	for i := range accounts {
		byRef[accounts[i].Ref()] = accounts[i].ID
	}
	err = tx.History(HistoryFilter{Since: from}, func(e *Event) error {
		id, ok := byRef[e.Account]
		if e.ID <= fromEvent || !ok {
			return nil
		}
		n := get(id)
		switch e.Action {
		case "reserve", actionConnRegister:
			n.reserved++
		case "return", actionConnDeregister, actionConnReregister:
			n.returned++
		case "remove":
			n.removed++
		default:
			return nil
		}
		n.active = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	rs, err := tx.Reservations(0)
	if err != nil {
		return nil, err
	}
	levels, err := reservedLevels(tx, rs, lotByID, from, to)
	if err != nil {
		return nil, err
	}
	for k, lv := range levels {
		u := getUse(k)
		u.peak, u.current = lv.peak, lv.current
	}

	var out []codes.SyncAccount
	for i := range accounts {
		a := &accounts[i]
		n := per[a.ID]
		if n == nil || !n.active {
			continue
		}
		sa := codes.SyncAccount{Org: a.Org, Account: a.Name, Instances: clamp32(n.instances), Reserved: clamp32(n.reserved),
			Returned: clamp32(n.returned), Removed: clamp32(n.removed)}
		var tags []string
		for k, u := range uses {
			if k.account == a.ID && (u.peak > 0 || u.current > 0 || u.held > u.target) {
				tags = append(tags, k.tag)
			}
		}
		sort.Strings(tags)
		for _, tag := range tags {
			u := uses[acctTag{a.ID, tag}]
			sa.Usage = append(sa.Usage, codes.SyncUsage{Tag: tag, Peak: clamp32(u.peak), Current: clamp32(u.current), Over: clamp32(max(0, u.held-u.target))})
		}
		out = append(out, sa)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Org != out[j].Org {
			return out[i].Org < out[j].Org
		}
		return out[i].Account < out[j].Account
	})
	return out, nil
}

func clamp32(n int64) uint32 { return uint32(min(max(n, 0), math.MaxUint32)) }

// A level is the licenses of one account and tag that the latest codes of
// reservations granted: at their peak over a period, and at its end.
type level struct{ peak, current int64 }

// reservedLevels replays the reservations' serials over time: serial s of
// a reservation grants its licenses from its issue time until the next
// serial's, or until the reservation closed. It returns, per account and
// tag, the peak over [from, to] and the level at to, in whole seconds.
func reservedLevels(tx ReadTx, rs []Reservation, lotByID map[int64]*Lot, from, to int64) (map[acctTag]level, error) {
	issued, err := tx.Issued(0, true)
	if err != nil {
		return nil, err
	}
	type rs2 struct {
		res    uint32
		serial uint64
	}
	at := make(map[rs2]int64, len(issued))
	for _, c := range issued {
		at[rs2{c.Reservation, c.Serial}] = c.IssuedAt
	}
	byID := make(map[uint32]*Reservation, len(rs))
	for i := range rs {
		byID[rs[i].ID] = &rs[i]
	}
	grants, err := tx.Grants(0, true)
	if err != nil {
		return nil, err
	}
	type delta struct {
		t int64
		k acctTag
		n int64
	}
	var deltas []delta
	cur := map[acctTag]int64{}
	start := map[acctTag]int64{}
	const forever = math.MaxInt64
	for _, g := range grants {
		r := byID[g.Reservation]
		l := lotByID[g.LotID]
		if r == nil || l == nil {
			return nil, fmt.Errorf("%w: grant of reservation %s names lot %d", ErrCorrupt, FormatReservationID(g.Reservation), g.LotID)
		}
		begin, ok := at[rs2{g.Reservation, g.Serial}]
		if !ok {
			continue // the code of a serial in the making
		}
		end := int64(forever)
		if g.Serial < r.Serial {
			if t, ok := at[rs2{g.Reservation, g.Serial + 1}]; ok {
				end = t
			}
		} else if !r.Status.Live() {
			end = r.ClosedAt
		}
		if end < begin {
			continue
		}
		k := acctTag{l.AccountID, l.Tag}
		// A code that ended in the second the period starts counts at its
		// start: seconds do not order what happened within them, and a
		// peak is better reported twice than not at all.
		if begin <= from && from <= end {
			start[k] += g.Count
		}
		if begin <= to && to < end {
			cur[k] += g.Count
		}
		if begin > from && begin <= to {
			deltas = append(deltas, delta{begin, k, g.Count})
		}
		if end > from && end <= to {
			deltas = append(deltas, delta{end, k, -g.Count})
		}
	}
	sort.Slice(deltas, func(i, j int) bool { return deltas[i].t < deltas[j].t })
	out := map[acctTag]level{}
	levelNow := map[acctTag]int64{}
	for k, n := range start {
		levelNow[k] = n
		out[k] = level{peak: n}
	}
	for i := 0; i < len(deltas); {
		j := i
		for ; j < len(deltas) && deltas[j].t == deltas[i].t; j++ {
			levelNow[deltas[j].k] += deltas[j].n
		}
		for ; i < j; i++ {
			k := deltas[i].k
			lv := out[k]
			lv.peak = max(lv.peak, levelNow[k])
			out[k] = lv
		}
	}
	for k, n := range cur {
		lv := out[k]
		lv.current = n
		lv.peak = max(lv.peak, n)
		out[k] = lv
	}
	return out, nil
}

// A SyncAnswered is the vendor's answer to a sync request.
type SyncAnswered struct {
	Code      []byte // binary
	Answer    *codes.SyncAnswer
	Request   *codes.SyncRequest // as the satellite made it, verified
	Satellite string
}

// AnswerSync answers a satellite's sync request (binary): it opens it
// against the trust file the satellite was registered with, refuses it
// unless its sequence is above the last answered, records what it reports
// and signs a snapshot of the delegated accounts' lots. It needs the
// vendor's key.
func (l *Ledger) AnswerSync(ctx context.Context, request []byte) (*SyncAnswered, error) {
	return l.answerSync(ctx, request, nil)
}

// answerSync is AnswerSync with may, when not nil, checked first in the
// same transaction: whoever answers is still allowed to when it commits.
func (l *Ledger) answerSync(ctx context.Context, request []byte, may func(ReadTx) error) (*SyncAnswered, error) {
	claimed, err := codes.ParseUnverifiedSyncRequest(request)
	if err != nil {
		return nil, fmt.Errorf("sync request: %w", err)
	}
	out := &SyncAnswered{Satellite: claimed.Satellite}
	err = l.update(ctx, func(tx Tx, c *chain) error {
		if may != nil {
			if err := may(tx); err != nil {
				return err
			}
		}
		if err := refuseOnSatellite(tx, "answer sync requests"); err != nil {
			return err
		}
		s, err := tx.LiveSatellite(claimed.Satellite)
		if err != nil {
			return err
		}
		if s == nil {
			return fmt.Errorf("%w: the sync request names satellite %q, which is not registered here ('airlock authority satellite list' lists them)", ErrNotFound, claimed.Satellite)
		}
		trust, err := codes.OpenTrustFile(s.Trust)
		if err != nil {
			return fmt.Errorf("%w: the stored trust file of satellite %q: %v", ErrCorrupt, s.Name, err)
		}
		r, err := codes.OpenSyncRequest(request, trust)
		if err != nil {
			return fmt.Errorf("sync request of satellite %q: %w", s.Name, err)
		}
		out.Request = r
		h := codeHash(request)
		syncs, err := tx.SatelliteSyncs(s.ID)
		if err != nil {
			return err
		}
		if n := len(syncs); n > 0 && r.Sequence <= syncs[n-1].Sequence {
			last := syncs[n-1]
			for _, x := range syncs {
				if bytes.Equal(x.RequestHash, h) {
					return fmt.Errorf("%w: sync request %d of satellite %q was answered %s: a sync request answers once; export a new one on the satellite (it covers this one's period too)",
						ErrSyncReplayed, r.Sequence, s.Name, codes.FormatTime(x.AnsweredAt))
				}
			}
			return fmt.Errorf("%w: sync request %d of satellite %q is not newer than request %d, answered %s: export a new one on the satellite",
				ErrSyncOutOfOrder, r.Sequence, s.Name, last.Sequence, codes.FormatTime(last.AnsweredAt))
		}
		if r.LastAnswer != nil {
			known := false
			for _, x := range syncs {
				known = known || bytes.Equal(x.AnswerHash, r.LastAnswer)
			}
			if !known {
				return fmt.Errorf("%w: sync request %d of satellite %q names answer %x as its last, which this authority never gave it", ErrSyncMismatch, r.Sequence, s.Name, r.LastAnswer[:8])
			}
		}
		now, key, err := l.signingClock(c)
		if err != nil {
			return err
		}
		m, err := tx.Meta()
		if err != nil {
			return err
		}
		a := &codes.SyncAnswer{Satellite: s.Name, Sequence: r.Sequence, Request: h, Authority: authorityName(m.Name), IssuedAt: now}
		ds, err := tx.SatelliteAccounts(s.ID)
		if err != nil {
			return err
		}
		for _, d := range ds {
			acct, err := tx.AccountByID(d.AccountID)
			if err != nil {
				return err
			}
			lots, err := tx.Lots(d.AccountID, "")
			if err != nil {
				return err
			}
			sort.Slice(lots, func(i, j int) bool { return lots[i].ID < lots[j].ID })
			sd := codes.SyncDelegation{Org: acct.Org, Account: acct.Name, ExportDenied: !acct.ExportAllowed}
			for _, lot := range lots {
				if lot.Held != 0 {
					return fmt.Errorf("%w: lot %d of delegated account %q holds %d here", ErrCorrupt, lot.ID, acct.Ref(), lot.Held)
				}
				if lot.Count == 0 {
					continue
				}
				sd.Lots = append(sd.Lots, codes.SyncLot{ID: uint64(lot.ID), Tag: lot.Tag, Count: uint32(lot.Count), Kind: lot.Kind,
					Start: lot.Start, End: lot.End, ExportControlled: lot.ExportControlled})
			}
			a.Accounts = append(a.Accounts, sd)
		}
		sort.Slice(a.Accounts, func(i, j int) bool {
			if a.Accounts[i].Org != a.Accounts[j].Org {
				return a.Accounts[i].Org < a.Accounts[j].Org
			}
			return a.Accounts[i].Account < a.Accounts[j].Account
		})
		code, err := codes.SignSyncAnswer(a, key)
		if err != nil {
			return fmt.Errorf("%w: the answer to satellite %q cannot be made: %v", ErrInvalid, s.Name, err)
		}
		ah := codeHash(code)
		if err := tx.InsertSatelliteSync(&SatelliteSync{SatelliteID: s.ID, Sequence: r.Sequence, Request: request, RequestHash: h,
			AnswerHash: ah, Lots: int64(a.Lots()), AnsweredAt: now}); err != nil {
			return err
		}
		e := l.event(now, "sync request", s.Name)
		e.CodeHash = h
		e.Detail = fmt.Sprintf("sync request %d of satellite %q for %s to %s: %s", r.Sequence, s.Name, codes.FormatTime(r.From), codes.FormatTime(r.IssuedAt), FormatSyncReport(r.Accounts))
		if err := c.add(e); err != nil {
			return err
		}
		for _, sa := range r.Accounts {
			e := l.event(now, "sync usage", s.Name)
			e.Account = sa.Org + "/" + sa.Account
			e.Detail = fmt.Sprintf("satellite %q reports %s", s.Name, FormatSyncReport([]codes.SyncAccount{sa}))
			if err := c.add(e); err != nil {
				return err
			}
		}
		e = l.event(now, "sync answer", s.Name)
		e.CodeHash = ah
		e.Detail = fmt.Sprintf("answer to sync request %d of satellite %q: %d accounts, %d lots", r.Sequence, s.Name, len(a.Accounts), a.Lots())
		if err := c.add(e); err != nil {
			return err
		}
		c.issued(now)
		a.KeyID = key.ID()
		out.Code, out.Answer = code, a
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// authorityName fits a ledger's name into a sync answer.
func authorityName(s string) string {
	if len(s) > codes.MaxAuthorityNameLen {
		s = strings.ToValidUTF8(s[:codes.MaxAuthorityNameLen], "")
	}
	return s
}

// A SyncImported is what importing a sync answer changed.
type SyncImported struct {
	Answer   *codes.SyncAnswer
	Vendor   string
	Accounts []string    // the accounts delegated now, "ORG/ACCOUNT"
	Lots     int         // the lots the vendor delegates
	Changes  []LotChange // lots that entered the ledger, or whose count or target changed
	Over     []OverUse
}

// ImportSync applies a sync answer (binary) from the vendor: it must
// answer the satellite's latest sync request and not have been imported
// before. In one transaction the ledger then mirrors the answer's
// snapshot: organizations, accounts and lots it lacks are added, every
// mirrored lot gets the vendor's count as its target, and counts are
// lowered to it where the satellite's instances do not hold more. An
// over-use (held above the vendor's count) is applied all the same and
// reported: see OverUse.
func (l *Ledger) ImportSync(ctx context.Context, answer []byte) (*SyncImported, error) {
	var out *SyncImported
	err := l.update(ctx, func(tx Tx, c *chain) error {
		out = &SyncImported{} // the transaction may run again (Store.Update)
		self, err := satelliteSelf(tx)
		if err != nil {
			return err
		}
		trust, err := vendorTrust(self)
		if err != nil {
			return err
		}
		a, err := codes.OpenSyncAnswer(answer, trust)
		if err != nil {
			return fmt.Errorf("sync answer: %w", err)
		}
		out.Answer, out.Vendor = a, a.Authority
		m, err := tx.Meta()
		if err != nil {
			return err
		}
		if a.Satellite != m.Name {
			return fmt.Errorf("%w: the sync answer is for satellite %q, this is satellite %q", ErrSyncMismatch, a.Satellite, m.Name)
		}
		exports, imports, err := syncFiles(tx)
		if err != nil {
			return err
		}
		h := codeHash(answer)
		for _, im := range imports {
			if im.Sequence == a.Sequence || bytes.Equal(im.Hash, h) {
				return fmt.Errorf("%w: the answer to sync request %d was imported %s: an answer imports once", ErrSyncReplayed, im.Sequence, codes.FormatTime(im.ImportedAt))
			}
		}
		if len(exports) == 0 {
			return fmt.Errorf("%w: this satellite made no sync request yet: run 'airlock satellite sync export' and have the vendor answer it", ErrSyncOutOfOrder)
		}
		latest := exports[len(exports)-1]
		if a.Sequence != latest.Sequence || !bytes.Equal(a.Request, latest.Hash) {
			return fmt.Errorf("%w: the answer is to sync request %d (%x), the latest request this satellite made is %d (%x): import the answer to that one, or export a new request and have the vendor answer it",
				ErrSyncOutOfOrder, a.Sequence, a.Request[:8], latest.Sequence, latest.Hash[:8])
		}
		now := l.now()
		if err := l.applySnapshot(tx, c, a, out, now); err != nil {
			return err
		}
		if err := tx.InsertSyncImport(&SyncImport{Sequence: a.Sequence, Hash: h, IssuedAt: a.IssuedAt, ImportedAt: now}); err != nil {
			return err
		}
		if self.Vendor != a.Authority {
			if err := tx.SetVendor(a.Authority); err != nil {
				return err
			}
		}
		e := l.event(now, "sync import", m.Name)
		e.CodeHash = h
		e.Detail = fmt.Sprintf("answer to sync request %d from %q: %d accounts, %d lots, %d lots changed", a.Sequence, a.Authority, len(a.Accounts), a.Lots(), len(out.Changes))
		for _, o := range out.Over {
			e.Detail += "; over-use: " + o.String()
		}
		return c.add(e)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// applySnapshot mirrors a sync answer in the satellite's ledger.
func (l *Ledger) applySnapshot(tx Tx, c *chain, a *codes.SyncAnswer, out *SyncImported, now int64) error {
	synced, byLot, err := mirroredLots(tx)
	if err != nil {
		return err
	}
	byVendor := make(map[int64]*SyncedLot, len(synced))
	for i := range synced {
		byVendor[synced[i].VendorLot] = &synced[i]
	}
	targets := make(map[int64]int64, len(synced)) // by satellite lot: the new target
	for _, s := range synced {
		targets[s.LotID] = 0 // a lot the answer no longer lists
	}
	for _, d := range a.Accounts {
		acct, err := l.mirrorAccount(tx, c, d.Org, d.Account, a.Sequence, now)
		if err != nil {
			return err
		}
		out.Accounts = append(out.Accounts, acct.Ref())
		if acct.ExportAllowed == d.ExportDenied {
			// The vendor's export control of the account, mirrored.
			if err := tx.SetExportAllowed(acct.ID, !d.ExportDenied); err != nil {
				return err
			}
			acct.ExportAllowed = !d.ExportDenied
			e := l.event(now, "account set", acct.Ref())
			e.Account = acct.Ref()
			e.Detail = fmt.Sprintf("export-controlled licenses of %q %s, as the vendor's answer to sync request %d says", acct.Ref(), allowedWord(acct.ExportAllowed), a.Sequence)
			if err := c.add(e); err != nil {
				return err
			}
		}
		for _, sl := range d.Lots {
			out.Lots++
			vid := int64(sl.ID)
			if s := byVendor[vid]; s != nil {
				lot := byLot[s.LotID]
				if lot == nil {
					return fmt.Errorf("%w: mirrored lot %d does not exist", ErrCorrupt, s.LotID)
				}
				if lot.AccountID != acct.ID || lot.Tag != sl.Tag || lot.Kind != sl.Kind || lot.Start != sl.Start || lot.End != sl.End || lot.ExportControlled != sl.ExportControlled {
					return fmt.Errorf("%w: the vendor's lot %d was %s in %q and is %s %s in %s/%s in the answer: a lot never changes its account or terms", ErrSyncMismatch,
						vid, lot.Tag, accountRef(tx, lot.AccountID), sl.Tag, describeTerms(&Lot{Kind: sl.Kind, Start: sl.Start, End: sl.End, ExportControlled: sl.ExportControlled}), d.Org, d.Account)
				}
				// A lot only shrinks at the vendor; it comes back (up to
				// what it was first delegated with) only when an account
				// taken back is delegated again.
				if int64(sl.Count) > lot.Initial {
					return fmt.Errorf("%w: the vendor's lot %d has %d licenses in the answer, more than the %d it was first delegated with: a lot never grows", ErrSyncMismatch, vid, sl.Count, lot.Initial)
				}
				targets[s.LotID] = int64(sl.Count)
				continue
			}
			lot := &Lot{AccountID: acct.ID, Tag: sl.Tag, Kind: sl.Kind, Start: sl.Start, End: sl.End, ExportControlled: sl.ExportControlled,
				Initial: int64(sl.Count), Count: int64(sl.Count), Origin: fmt.Sprintf("sync: vendor lot %d", vid), CreatedAt: now}
			if err := tx.InsertLot(lot); err != nil {
				return err
			}
			if err := tx.InsertSyncedLot(&SyncedLot{LotID: lot.ID, VendorLot: vid, Target: lot.Count}); err != nil {
				return err
			}
			e := l.event(now, "sync lot", sl.Tag)
			e.Account, e.CodeHash = acct.Ref(), lotHash(lot)
			e.Detail = fmt.Sprintf("lot %d: %d %s (%s) into %q: the vendor's lot %d, delegated", lot.ID, lot.Count, sl.Tag, describeTerms(lot), acct.Ref(), vid)
			if err := c.add(e); err != nil {
				return err
			}
			out.Changes = append(out.Changes, LotChange{LotID: lot.ID, VendorLot: vid, Account: acct.Ref(), Tag: sl.Tag, To: lot.Count, Target: lot.Count, Added: true})
		}
	}
	changes, over, err := l.settleAll(tx, c, targets, now)
	if err != nil {
		return err
	}
	out.Changes = append(out.Changes, changes...)
	out.Over = over
	return nil
}

// mirrorAccount returns the account ORG/ACCOUNT, adding the organization
// and the account when the ledger lacks them.
func (l *Ledger) mirrorAccount(tx Tx, c *chain, org, name string, seq uint64, now int64) (*Account, error) {
	if err := CheckName("organization", org); err != nil {
		return nil, err
	}
	if err := CheckName("account", name); err != nil {
		return nil, err
	}
	a, err := tx.Account(org, name)
	if err != nil || a != nil {
		return a, err
	}
	o, err := tx.Org(org)
	if err != nil {
		return nil, err
	}
	if o == nil {
		o = &Org{Name: org, CreatedAt: now}
		if err := tx.InsertOrg(o); err != nil {
			return nil, err
		}
		e := l.event(now, "org add", org)
		e.Detail = fmt.Sprintf("organization %q added from the answer to sync request %d", org, seq)
		if err := c.add(e); err != nil {
			return nil, err
		}
	}
	a = &Account{OrgID: o.ID, Org: org, Name: name, RemovalLimit: DefaultRemovalLimit, CreatedAt: now}
	if err := tx.InsertAccount(a); err != nil {
		return nil, err
	}
	e := l.event(now, "account add", a.Ref())
	e.Account = a.Ref()
	e.Detail = fmt.Sprintf("account %q added from the answer to sync request %d, at most %d removals without a return per 365 days", a.Ref(), seq, a.RemovalLimit)
	if err := c.add(e); err != nil {
		return nil, err
	}
	return a, nil
}

func accountRef(tx ReadTx, id int64) string {
	if a, err := tx.AccountByID(id); err == nil && a != nil {
		return a.Ref()
	}
	return fmt.Sprintf("account %d", id)
}

// A SatelliteStatus is where a satellite stands with its vendor.
type SatelliteStatus struct {
	Name        string
	Vendor      string   // "" before the first answer
	VendorKeys  []string // the key ids of the vendor's trust file
	CreatedAt   int64
	LastExport  *SyncExport // nil before the first
	LastImport  *SyncImport // nil before the first
	Pending     bool        // the latest request was not answered yet
	Accounts    int         // accounts holding mirrored lots
	Lots        int         // mirrored lots
	Over        []OverUse
	VendorTrust []byte // the vendor's trust file, binary
}

// SatelliteStatus returns where the satellite stands: ErrNotSatellite on
// a ledger that is no satellite.
func (l *Ledger) SatelliteStatus(ctx context.Context) (*SatelliteStatus, error) {
	var out *SatelliteStatus
	err := l.view(ctx, func(tx ReadTx) error {
		self, err := satelliteSelf(tx)
		if err != nil {
			return err
		}
		m, err := tx.Meta()
		if err != nil {
			return err
		}
		trust, err := vendorTrust(self)
		if err != nil {
			return err
		}
		st := &SatelliteStatus{Name: m.Name, Vendor: self.Vendor, CreatedAt: self.CreatedAt, VendorTrust: self.VendorTrust}
		for i := range trust.Keys {
			st.VendorKeys = append(st.VendorKeys, trust.Keys[i].ID().String())
		}
		exports, imports, err := syncFiles(tx)
		if err != nil {
			return err
		}
		if n := len(exports); n > 0 {
			st.LastExport = &exports[n-1]
		}
		if n := len(imports); n > 0 {
			st.LastImport = &imports[n-1]
		}
		st.Pending = st.LastExport != nil && (st.LastImport == nil || st.LastImport.Sequence != st.LastExport.Sequence)
		synced, byLot, err := mirroredLots(tx)
		if err != nil {
			return err
		}
		refs, err := accountRefs(tx)
		if err != nil {
			return err
		}
		type sum struct{ target, held int64 }
		sums := map[acctTag]*sum{}
		accts := map[int64]bool{}
		for _, s := range synced {
			lot := byLot[s.LotID]
			if lot == nil {
				return fmt.Errorf("%w: mirrored lot %d does not exist", ErrCorrupt, s.LotID)
			}
			st.Lots++
			accts[lot.AccountID] = true
			k := acctTag{lot.AccountID, lot.Tag}
			if sums[k] == nil {
				sums[k] = &sum{}
			}
			sums[k].target += s.Target
			sums[k].held += lot.Held
		}
		st.Accounts = len(accts)
		for k, s := range sums {
			if s.held > s.target {
				st.Over = append(st.Over, OverUse{Account: refs[k.account], Tag: k.tag, Held: s.held, Count: s.target})
			}
		}
		sort.Slice(st.Over, func(i, j int) bool {
			if st.Over[i].Account != st.Over[j].Account {
				return st.Over[i].Account < st.Over[j].Account
			}
			return st.Over[i].Tag < st.Over[j].Tag
		})
		out = st
		return nil
	})
	return out, err
}

// UpdateVendorTrust installs a trust update of the vendor (in any form) in
// a satellite, after the vendor rotated its key: signed by a key of the
// vendor's trust file the satellite holds, with a greater sequence, as an
// instance installs one. The vendor's answers signed with the new key
// import from then on.
func (l *Ledger) UpdateVendorTrust(ctx context.Context, file []byte) (*codes.TrustSet, error) {
	var out *codes.TrustSet
	err := l.update(ctx, func(tx Tx, c *chain) error {
		self, err := satelliteSelf(tx)
		if err != nil {
			return err
		}
		code, t, err := openTrustUpdate(file, self.VendorTrust)
		if err != nil {
			return err
		}
		for _, k := range l.opts.Keys {
			if t.Key(k.ID()) != nil {
				return fmt.Errorf("%w: the vendor's trust update lists key %s, which is this satellite's own", ErrInvalid, k.ID())
			}
		}
		if err := tx.SetVendorTrust(code); err != nil {
			return err
		}
		m, err := tx.Meta()
		if err != nil {
			return err
		}
		e := l.event(l.now(), "satellite vendor trust", m.Name)
		e.CodeHash = codeHash(code)
		e.Detail = fmt.Sprintf("the vendor's trust update %d: keys %s", t.Sequence, trustKeys(t))
		out = t
		return c.add(e)
	})
	return out, err
}
