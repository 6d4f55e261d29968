package authority

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/airlock-dev/airlock/codes"
)

// Satellites (issue 10). A satellite is an authority on the customer's
// site: a ledger and a key of its own, which instances on the site talk
// to exactly as to the vendor, holding the licenses of accounts the
// vendor delegated to it. The vendor registers the satellite by its trust
// file and delegates accounts to it (AddSatellite); from then on the
// vendor reserves nothing from those accounts (ErrDelegated), and the
// satellite's ledger mirrors their lots: each sync, the satellite reports
// the use of its licenses in a signed sync request (ExportSync), the
// vendor answers with a signed snapshot of the delegated lots
// (AnswerSync), and the satellite applies it (ImportSync). The files
// travel by hand, or over HTTPS (api.PathSync).
//
// On the satellite's ledger every lot mirrors one lot of the vendor's
// (SyncedLot). A lot never gives more than the vendor's count for it in
// the last answer (its target), and an account never holds more of a tag
// than the targets of its lots add up to: when the vendor took licenses
// away that the satellite's instances hold (an over-use), the satellite
// keeps what they hold, reports it, and grants no more of that tag in
// that account until returns bring it back within the count (syncedLots).

// Refusals of satellites and sync files, kinds of the general sentinels.
var (
	// ErrDelegated means an account's licenses are delegated to a
	// satellite: the vendor reserves nothing from it, the satellite does.
	ErrDelegated error = &namedKind{"account delegated to a satellite", ErrUnavailable}
	// ErrSatellite means the operation would put licenses into a
	// satellite's ledger other than by a sync: its licenses come from its
	// vendor only.
	ErrSatellite error = &namedKind{"ledger is a satellite", ErrInvalid}
	// ErrNotSatellite means the ledger is not a satellite's.
	ErrNotSatellite error = &namedKind{"ledger is not a satellite", ErrNotFound}
	// ErrSyncReplayed means a sync request the vendor answered before, or
	// a sync answer the satellite imported before.
	ErrSyncReplayed error = &namedKind{"sync file already used", ErrReplay}
	// ErrSyncOutOfOrder means a sync request older than one answered, or
	// a sync answer to another request than the satellite's latest.
	ErrSyncOutOfOrder error = &namedKind{"sync file out of order", ErrStale}
	// ErrSyncMismatch means a sync answer for another satellite, or one
	// that contradicts the answers before it (a lot that grew, moved or
	// changed its terms).
	ErrSyncMismatch error = &namedKind{"sync file does not fit this ledger", ErrInvalid}
)

// SyncReadTx reads satellites and syncs; part of ReadTx.
type SyncReadTx interface {
	// Satellites returns every satellite, removed ones included, by id.
	Satellites() ([]Satellite, error)
	// LiveSatellite returns the satellite called name that was not
	// removed.
	LiveSatellite(name string) (*Satellite, error)
	// SatelliteAccounts returns the accounts delegated to one satellite,
	// by organization and account name; with satellite 0, every one.
	SatelliteAccounts(satelliteID int64) ([]SatelliteAccount, error)
	// DelegatedTo returns the delegation of an account, or nil.
	DelegatedTo(accountID int64) (*SatelliteAccount, error)
	// SatelliteSyncs returns the syncs the vendor answered for one
	// satellite, by sequence; with satellite 0, every one.
	SatelliteSyncs(satelliteID int64) ([]SatelliteSync, error)
	// SatelliteSelf returns a satellite's record of its vendor: nil on a
	// ledger that is no satellite.
	SatelliteSelf() (*SatelliteSelf, error)
	// SyncExports returns the sync requests the satellite made, by
	// sequence.
	SyncExports() ([]SyncExport, error)
	// SyncImports returns the sync answers the satellite imported, by
	// sequence.
	SyncImports() ([]SyncImport, error)
	// SyncedLots returns the satellite's mirrored lots of one account and
	// tag, by lot id; with account 0, every one.
	SyncedLots(accountID int64, tag string) ([]SyncedLot, error)
	// SyncedLot returns the mirrored lot with this id, or nil.
	SyncedLot(lotID int64) (*SyncedLot, error)
}

// SyncTx writes satellites and syncs; part of Tx.
type SyncTx interface {
	InsertSatellite(s *Satellite) error // sets s.ID
	RemoveSatellite(id, at int64, by string) error
	InsertSatelliteAccount(d *SatelliteAccount) error
	DeleteSatelliteAccount(accountID int64) error
	InsertSatelliteSync(s *SatelliteSync) error
	InitSatelliteSelf(s *SatelliteSelf) error
	SetVendor(name string) error
	// SetVendorTrust replaces the vendor's trust file of a satellite.
	SetVendorTrust(code []byte) error
	// SetSatelliteTrust replaces a registered satellite's trust file.
	SetSatelliteTrust(id int64, code []byte) error
	InsertSyncExport(e *SyncExport) error
	InsertSyncImport(i *SyncImport) error
	InsertSyncedLot(s *SyncedLot) error
	// SyncLot sets a mirrored lot's target and takes n licenses out of
	// its count, guarded as ShrinkLot is: it reports ErrUnavailable,
	// changing nothing, when fewer than n are available.
	SyncLot(lotID, target, n int64) error
}

// A Satellite is a satellite registered on the vendor's ledger.
type Satellite struct {
	ID        int64
	Name      string
	Trust     []byte // its trust file: a trust update code, binary
	CreatedAt int64  // Unix seconds, UTC
	CreatedBy string
	RemovedAt int64 // 0 while registered
	RemovedBy string
}

// A SatelliteAccount is an account delegated to a satellite: the
// satellite holds its licenses.
type SatelliteAccount struct {
	AccountID   int64
	Account     string // "ORG/ACCOUNT"
	SatelliteID int64
	Since       int64 // Unix seconds, UTC
}

// A SatelliteSync is a sync request the vendor answered: the request
// kept whole, and the hash of the answer.
type SatelliteSync struct {
	SatelliteID int64
	Sequence    uint64
	Request     []byte // the sync request code, binary
	RequestHash []byte // SHA-256 of Request
	AnswerHash  []byte // SHA-256 of the sync answer code
	Lots        int64  // lots the answer listed
	AnsweredAt  int64
}

// SatelliteSelf is a satellite's record of the vendor it syncs with.
type SatelliteSelf struct {
	VendorTrust []byte // the vendor's trust file: a trust update code, binary
	Vendor      string // the vendor's name, from its latest answer; "" before the first
	CreatedAt   int64
}

// A SyncExport is a sync request the satellite made.
type SyncExport struct {
	Sequence uint64
	Hash     []byte // SHA-256 of the code
	From     int64  // the start of the period it reports on
	MadeAt   int64  // its end
	Event    int64  // the history event that recorded it: the events it reports on came before
}

// A SyncImport is a sync answer the satellite imported.
type SyncImport struct {
	Sequence   uint64 // the request it answered
	Hash       []byte // SHA-256 of the code
	IssuedAt   int64
	ImportedAt int64
}

// A SyncedLot ties a satellite's lot to the vendor's lot it mirrors.
// Target is the vendor's count in the last answer imported (0 once the
// vendor no longer lists the lot); Shrunk is what syncs took out of the
// lot's count.
type SyncedLot struct {
	LotID     int64
	VendorLot int64
	Target    int64
	Shrunk    int64
	AccountID int64  // the lot's, read from it
	Tag       string // the lot's, read from it
}

// syncedLots applies the rules of delegated and mirrored lots to the lots
// of one account and tag as an allocation reads them (lotCache.get), so
// that every reservation, update and registration follows them:
//
//   - on the vendor's ledger, an account delegated to a satellite gives
//     nothing: ErrDelegated, naming the satellite;
//   - on a satellite's, the counts of mirrored lots are lowered, in the
//     returned copy only, so that no lot gives more than its target and
//     the account no more than the sum of the targets less what it holds:
//     licenses returned after an over-use do not become available again
//     until the vendor gives them back.
//
// The guarded updates (Tx.AdjustHeld) still check the stored counts,
// which are never lower than these.
func syncedLots(tx ReadTx, accountID int64, tag string, lots []Lot) ([]Lot, error) {
	d, err := tx.DelegatedTo(accountID)
	if err != nil {
		return nil, err
	}
	if d != nil {
		return nil, delegatedError(tx, d)
	}
	synced, err := tx.SyncedLots(accountID, tag)
	if err != nil || len(synced) == 0 {
		return lots, err
	}
	targets := make(map[int64]int64, len(synced))
	for _, s := range synced {
		targets[s.LotID] = s.Target
	}
	out := make([]Lot, len(lots))
	copy(out, lots)
	budget := syncBudget(out, targets)
	for i := range out {
		t, ok := targets[out[i].ID]
		if !ok {
			continue
		}
		room := min(max(0, min(t, out[i].Count)-out[i].Held), budget)
		budget -= room
		out[i].Count = out[i].Held + room
	}
	return out, nil
}

// syncBudget returns how many more licenses the mirrored lots of one
// account and tag may give: the sum of their targets less what they hold,
// or 0.
func syncBudget(lots []Lot, targets map[int64]int64) int64 {
	var total, held int64
	for i := range lots {
		if t, ok := targets[lots[i].ID]; ok {
			total += t
			held += lots[i].Held
		}
	}
	return max(0, total-held)
}

// delegatedError refuses a reservation from a delegated account.
func delegatedError(tx ReadTx, d *SatelliteAccount) error {
	name := fmt.Sprintf("#%d", d.SatelliteID)
	if ss, err := tx.Satellites(); err == nil {
		for _, s := range ss {
			if s.ID == d.SatelliteID {
				name = s.Name
			}
		}
	}
	a, err := tx.AccountByID(d.AccountID)
	if err != nil {
		return err
	}
	ref := fmt.Sprintf("account %d", d.AccountID)
	if a != nil {
		ref = a.Ref()
	}
	return fmt.Errorf("%w: %q is delegated to satellite %q since %s: its licenses are reserved there; have the instance reserve from the satellite, or take the account back with 'airlock authority satellite remove --account %s %s'",
		ErrDelegated, ref, name, codes.FormatTime(d.Since), ref, name)
}

// refuseOnSatellite refuses an operation that would put licenses into a
// satellite's ledger other than by a sync.
func refuseOnSatellite(tx ReadTx, what string) error {
	self, err := tx.SatelliteSelf()
	if err != nil || self == nil {
		return err
	}
	vendor := "its vendor"
	if self.Vendor != "" {
		vendor = fmt.Sprintf("its vendor %q", self.Vendor)
	}
	return fmt.Errorf("%w: this ledger cannot %s: a satellite holds only the licenses %s delegates to it, and they arrive with each sync", ErrSatellite, what, vendor)
}

// openTrustFile reads a trust file in any form and returns its binary
// code and its key set.
func openTrustFile(b []byte) ([]byte, *codes.TrustSet, error) {
	code, err := codes.DecodeKind(b, codes.KindTrustUpdate)
	if err != nil {
		return nil, nil, fmt.Errorf("trust file: %w", err)
	}
	t, err := codes.OpenTrustFile(code)
	if err != nil {
		return nil, nil, fmt.Errorf("trust file: %w", err)
	}
	return code, t, nil
}

// trustKeys lists a trust set's key ids.
func trustKeys(t *codes.TrustSet) string {
	ids := make([]string, len(t.Keys))
	for i := range t.Keys {
		ids[i] = t.Keys[i].ID().String()
	}
	return strings.Join(ids, ", ")
}

// AddSatellite registers a satellite called name by its trust file (in any
// form) and delegates accounts ("ORG/ACCOUNT", at least one) to it. An
// account may be delegated to one satellite, and only while nothing is
// reserved from it here: the satellite then holds all of its licenses.
func (l *Ledger) AddSatellite(ctx context.Context, name string, trustFile []byte, accounts []string) (*Satellite, error) {
	if err := CheckName("satellite", name); err != nil {
		return nil, err
	}
	code, trust, err := openTrustFile(trustFile)
	if err != nil {
		return nil, err
	}
	if len(accounts) == 0 {
		return nil, fmt.Errorf("%w: a satellite holds the licenses of at least one account: give --account ORG/ACCOUNT", ErrInvalid)
	}
	for _, k := range l.opts.Keys {
		if trust.Key(k.ID()) != nil {
			return nil, fmt.Errorf("%w: the satellite's trust file lists key %s, which is this authority's own: a satellite makes its own key with 'airlock satellite init'", ErrInvalid, k.ID())
		}
	}
	s := &Satellite{Name: name, Trust: code, CreatedBy: l.opts.Actor}
	err = l.update(ctx, func(tx Tx, c *chain) error {
		if _, err := l.actingVendor(tx, "add satellites"); err != nil {
			return err
		}
		if err := refuseOnSatellite(tx, "register satellites of its own"); err != nil {
			return err
		}
		if got, err := tx.LiveSatellite(name); err != nil {
			return err
		} else if got != nil {
			return fmt.Errorf("%w: satellite %q, registered %s", ErrExists, name, codes.FormatTime(got.CreatedAt))
		}
		if err := checkTrustUnused(tx, trust, ""); err != nil {
			return err
		}
		s.CreatedAt = l.now()
		if err := tx.InsertSatellite(s); err != nil {
			return err
		}
		e := l.event(s.CreatedAt, "satellite add", name)
		e.CodeHash = codeHash(code)
		e.Detail = fmt.Sprintf("satellite %q registered with keys %s (trust file sequence %d)", name, trustKeys(trust), trust.Sequence)
		if err := c.add(e); err != nil {
			return err
		}
		return l.delegate(tx, c, s, accounts, s.CreatedAt)
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// checkTrustUnused refuses a trust set that shares a key with another
// live satellite's: each satellite signs with its own key.
func checkTrustUnused(tx ReadTx, trust *codes.TrustSet, except string) error {
	all, err := tx.Satellites()
	if err != nil {
		return err
	}
	for _, o := range all {
		if o.RemovedAt != 0 || o.Name == except {
			continue
		}
		ot, err := codes.OpenTrustFile(o.Trust)
		if err != nil {
			return fmt.Errorf("%w: the stored trust file of satellite %q: %v", ErrCorrupt, o.Name, err)
		}
		for i := range trust.Keys {
			if id := trust.Keys[i].ID(); ot.Key(id) != nil {
				return fmt.Errorf("%w: key %s is satellite %q's: each satellite has a key of its own", ErrExists, id, o.Name)
			}
		}
	}
	return nil
}

// DelegateToSatellite delegates more accounts to a registered satellite.
func (l *Ledger) DelegateToSatellite(ctx context.Context, name string, accounts []string) error {
	if len(accounts) == 0 {
		return fmt.Errorf("%w: give the accounts to delegate with --account ORG/ACCOUNT", ErrInvalid)
	}
	return l.update(ctx, func(tx Tx, c *chain) error {
		if _, err := l.actingVendor(tx, "delegate accounts to satellites"); err != nil {
			return err
		}
		s, err := liveSatellite(tx, name)
		if err != nil {
			return err
		}
		return l.delegate(tx, c, s, accounts, l.now())
	})
}

func (l *Ledger) delegate(tx Tx, c *chain, s *Satellite, accounts []string, now int64) error {
	seen := map[string]bool{}
	for _, ref := range accounts {
		a, err := account(tx, ref)
		if err != nil {
			return err
		}
		if seen[a.Ref()] {
			return fmt.Errorf("%w: account %q given twice", ErrInvalid, a.Ref())
		}
		seen[a.Ref()] = true
		if d, err := tx.DelegatedTo(a.ID); err != nil {
			return err
		} else if d != nil {
			return delegatedError(tx, d)
		}
		lots, err := tx.Lots(a.ID, "")
		if err != nil {
			return err
		}
		var held int64
		for _, lot := range lots {
			held += lot.Held
		}
		if held > 0 {
			return fmt.Errorf("%w: %q has %d licenses reserved by instances of this authority: have them returned first (or transfer the free licenses to an account of their own and delegate that one)", ErrActive, a.Ref(), held)
		}
		if err := tx.InsertSatelliteAccount(&SatelliteAccount{AccountID: a.ID, SatelliteID: s.ID, Since: now}); err != nil {
			return err
		}
		e := l.event(now, "satellite delegate", s.Name)
		e.Account = a.Ref()
		e.Detail = fmt.Sprintf("account %q delegated to satellite %q: %d lots, reserved there from its next sync", a.Ref(), s.Name, len(lots))
		if err := c.add(e); err != nil {
			return err
		}
	}
	return nil
}

func liveSatellite(tx ReadTx, name string) (*Satellite, error) {
	if err := CheckName("satellite", name); err != nil {
		return nil, err
	}
	s, err := tx.LiveSatellite(name)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, fmt.Errorf("%w: no satellite %q is registered ('airlock authority satellite list' lists them)", ErrNotFound, name)
	}
	return s, nil
}

// RemoveSatellite takes accounts back from a satellite; with none, it
// removes the satellite and takes all of its accounts back. The vendor
// may then reserve from them again: the satellite learns at its next sync
// (a removed satellite's syncs are refused), and until its instances
// return what they hold the licenses are used twice. It returns the
// accounts taken back.
func (l *Ledger) RemoveSatellite(ctx context.Context, name string, accounts []string) ([]string, error) {
	var back []string
	err := l.update(ctx, func(tx Tx, c *chain) error {
		if _, err := l.actingVendor(tx, "remove satellites"); err != nil {
			return err
		}
		back = nil // the transaction may run again (Store.Update)
		s, err := liveSatellite(tx, name)
		if err != nil {
			return err
		}
		ds, err := tx.SatelliteAccounts(s.ID)
		if err != nil {
			return err
		}
		now := l.now()
		take := ds
		if len(accounts) > 0 {
			take = nil
			for _, ref := range accounts {
				a, err := account(tx, ref)
				if err != nil {
					return err
				}
				found := false
				for _, d := range ds {
					if d.AccountID == a.ID {
						take, found = append(take, d), true
					}
				}
				if !found {
					return fmt.Errorf("%w: %q is not delegated to satellite %q", ErrNotFound, a.Ref(), name)
				}
			}
		}
		for _, d := range take {
			if err := tx.DeleteSatelliteAccount(d.AccountID); err != nil {
				return err
			}
			back = append(back, d.Account)
			e := l.event(now, "satellite undelegate", name)
			e.Account = d.Account
			e.Detail = fmt.Sprintf("account %q taken back from satellite %q", d.Account, name)
			if err := c.add(e); err != nil {
				return err
			}
		}
		if len(accounts) > 0 {
			return nil
		}
		if err := tx.RemoveSatellite(s.ID, now, l.opts.Actor); err != nil {
			return err
		}
		e := l.event(now, "satellite remove", name)
		e.Detail = fmt.Sprintf("satellite %q removed; %d accounts taken back", name, len(take))
		return c.add(e)
	})
	return back, err
}

// A SatelliteInfo is what the vendor knows of one satellite.
type SatelliteInfo struct {
	Satellite
	Keys     []string // the key ids of its trust file
	Accounts []SatelliteAccount
	Syncs    int // sync requests answered
	// Last is the latest sync answered, nil before the first; Report is
	// its request, as the satellite made it.
	Last   *SatelliteSync
	Report *codes.SyncRequest
}

// Satellites lists the satellites, removed ones included, by name.
func (l *Ledger) Satellites(ctx context.Context) ([]SatelliteInfo, error) {
	var out []SatelliteInfo
	err := l.view(ctx, func(tx ReadTx) error {
		if _, err := l.actingVendor(tx, "list satellites"); err != nil {
			return err
		}
		all, err := tx.Satellites()
		if err != nil {
			return err
		}
		for i := range all {
			info, err := satelliteInfo(tx, &all[i])
			if err != nil {
				return err
			}
			out = append(out, *info)
		}
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// SatelliteInfo returns what the vendor knows of the registered satellite
// called name.
func (l *Ledger) SatelliteInfo(ctx context.Context, name string) (*SatelliteInfo, error) {
	var out *SatelliteInfo
	err := l.view(ctx, func(tx ReadTx) error {
		if _, err := l.actingVendor(tx, "see a satellite"); err != nil {
			return err
		}
		s, err := liveSatellite(tx, name)
		if err != nil {
			return err
		}
		out, err = satelliteInfo(tx, s)
		return err
	})
	return out, err
}

func satelliteInfo(tx ReadTx, s *Satellite) (*SatelliteInfo, error) {
	info := &SatelliteInfo{Satellite: *s}
	t, err := codes.OpenTrustFile(s.Trust)
	if err != nil {
		return nil, fmt.Errorf("%w: the stored trust file of satellite %q: %v", ErrCorrupt, s.Name, err)
	}
	for i := range t.Keys {
		info.Keys = append(info.Keys, t.Keys[i].ID().String())
	}
	if s.RemovedAt == 0 {
		if info.Accounts, err = tx.SatelliteAccounts(s.ID); err != nil {
			return nil, err
		}
	}
	syncs, err := tx.SatelliteSyncs(s.ID)
	if err != nil {
		return nil, err
	}
	info.Syncs = len(syncs)
	if n := len(syncs); n > 0 {
		last := syncs[n-1]
		info.Last = &last
		if info.Report, err = codes.ParseUnverifiedSyncRequest(last.Request); err != nil {
			return nil, fmt.Errorf("%w: the stored sync request %d of satellite %q: %v", ErrCorrupt, last.Sequence, s.Name, err)
		}
	}
	return info, nil
}

// openTrustUpdate reads a trust update (in any form) that replaces the
// trust file current: signed by a key of current, with a greater
// sequence, and signed by a key it lists itself, so that it serves as a
// trust file from then on (a rotation keeps every key). It returns the
// update's binary code and its set.
func openTrustUpdate(file, current []byte) ([]byte, *codes.TrustSet, error) {
	code, err := codes.DecodeKind(file, codes.KindTrustUpdate)
	if err != nil {
		return nil, nil, fmt.Errorf("trust update: %w", err)
	}
	cur, err := codes.OpenTrustFile(current)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: the stored trust file: %v", ErrCorrupt, err)
	}
	t, err := codes.OpenTrustUpdate(code, cur)
	if err != nil {
		return nil, nil, fmt.Errorf("trust update: %w", err)
	}
	if _, err := codes.OpenTrustFile(code); err != nil {
		return nil, nil, fmt.Errorf("%w: trust update %d drops the key %s that signed it, so it cannot serve as a trust file: %v", ErrInvalid, t.Sequence, t.SignedBy, err)
	}
	return code, t, nil
}

// UpdateSatelliteTrust installs a registered satellite's trust update (in
// any form), after the satellite rotated its key ('airlock authority
// rotate-key' in its folder): signed by a key the vendor knows for it,
// with a greater sequence.
func (l *Ledger) UpdateSatelliteTrust(ctx context.Context, name string, file []byte) (*codes.TrustSet, error) {
	var out *codes.TrustSet
	err := l.update(ctx, func(tx Tx, c *chain) error {
		if _, err := l.actingVendor(tx, "update a satellite's trust"); err != nil {
			return err
		}
		s, err := liveSatellite(tx, name)
		if err != nil {
			return err
		}
		code, t, err := openTrustUpdate(file, s.Trust)
		if err != nil {
			return err
		}
		if err := checkTrustUnused(tx, t, name); err != nil {
			return err
		}
		if err := tx.SetSatelliteTrust(s.ID, code); err != nil {
			return err
		}
		e := l.event(l.now(), "satellite trust", name)
		e.CodeHash = codeHash(code)
		e.Detail = fmt.Sprintf("satellite %q: trust update %d, keys %s", name, t.Sequence, trustKeys(t))
		out = t
		return c.add(e)
	})
	return out, err
}
