// Package authority is the vendor's licensing desk: a ledger of
// organizations, virtual accounts, lots of licenses, instances and their
// reservations, with an append-only, hash-chained history, and the
// operations that sign authorization codes and take back confirmation and
// return codes.
//
// Open a Store (package store holds the SQLite one), then New a Ledger on
// it with the authority's keys. Every operation is one transaction that
// commits durably before it returns: print a code only after the method
// that made it returned, and never print one from anywhere else. The
// operations are idempotent where an answer can be lost after the commit:
// the same request code reserved again returns the stored code byte for
// byte, and the same return or confirmation code applied again changes
// nothing.
//
// The ledger's invariant, enforced inside every transaction by guarded
// updates and checked by Verify: for every account and tag, owned =
// available + reserved + in transition, no count is ever negative, and no
// license is held by two reservations.
package authority

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/airlock-dev/airlock/codes"
)

// Files of an authority folder.
const (
	LedgerFile = "ledger.db"     // the store
	KeyFile    = "authority.key" // the private key, encrypted with age
	TrustFile  = "trust.airlock" // the trust file instances load, armored
)

// Defaults of Options.
const (
	// DefaultInstallWindow is how long an authorization code may wait
	// before it is installed: 30 days, time for a code to travel by post.
	DefaultInstallWindow = 30 * 24 * time.Hour
	// DefaultClockTolerance is how far the clock may be behind the latest
	// issue time in the ledger before the ledger refuses to issue: 10
	// minutes covers clock steps by NTP, not a machine restored with an
	// old clock.
	DefaultClockTolerance = 10 * time.Minute
	// DefaultRemovalLimit is how many instances an account may remove
	// without a return in 365 days.
	DefaultRemovalLimit = 3
	// DefaultBatchSize is how many requests ReserveBatch answers in one
	// transaction: large enough that the commit's fsync is shared, small
	// enough that other writers wait at most a few tens of milliseconds.
	DefaultBatchSize = 512
	// removalWindow is the period removals are counted over.
	removalWindow = 365 * 24 * time.Hour
)

// Options configure a Ledger.
type Options struct {
	// Keys are the authority's private keys. Codes are signed with the
	// newest key valid now; request, confirmation and return codes are
	// opened with each key in turn. Operations that need no key work
	// without any.
	Keys []*codes.AuthorityKey
	// Retired open the keys rotations retired, newest first. They never
	// sign; a request, confirmation or return code that opens with none of
	// Keys is tried with each in turn, opened then (at most once each):
	// opening a key encrypted to a passphrase costs about a second, which
	// the codes of instances that have rotated never pay.
	Retired []func() (*codes.AuthorityKey, error)
	// Actor names who acts, in the history.
	Actor string
	// Now returns the time; nil means time.Now.
	Now func() time.Time
	// Rand draws reservation ids; nil means crypto/rand.
	Rand io.Reader
	// InstallWindow is how long after issue an authorization code may be
	// installed; 0 means DefaultInstallWindow.
	InstallWindow time.Duration
	// ClockTolerance: 0 means DefaultClockTolerance.
	ClockTolerance time.Duration
	// Workers is how many cores ReserveBatch keeps busy: the goroutine
	// that runs the transactions, and Workers - 1 that open requests and
	// sign codes beside it; 0 means GOMAXPROCS.
	Workers int
	// BatchSize is how many requests ReserveBatch commits together; 0
	// means DefaultBatchSize.
	BatchSize int
}

// A Ledger runs the authority's operations on a Store. It is safe for
// concurrent use, and several processes may open the same store.
type Ledger struct {
	st      Store
	opts    Options
	retired []lazyKey  // opts.Retired
	conn    *connState // connected mode: derived MAC keys, the renewal batcher; shared by the copies As makes
}

// New returns a ledger on st. The caller keeps ownership of st.
func New(st Store, opts Options) *Ledger {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.InstallWindow <= 0 {
		opts.InstallWindow = DefaultInstallWindow
	}
	if opts.ClockTolerance <= 0 {
		opts.ClockTolerance = DefaultClockTolerance
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.Actor == "" {
		opts.Actor = "unknown"
	}
	l := &Ledger{st: st, opts: opts, retired: make([]lazyKey, len(opts.Retired)), conn: &connState{}}
	l.conn.owner = l
	for i, open := range opts.Retired {
		l.retired[i].open = open
	}
	return l
}

// Store returns the ledger's store.
func (l *Ledger) Store() Store { return l.st }

func (l *Ledger) now() int64 { return l.opts.Now().Unix() }

// event returns a history event by the ledger's actor at now.
func (l *Ledger) event(now int64, action, subject string) *Event {
	return &Event{At: now, Actor: l.opts.Actor, Action: action, Subject: subject}
}

// Init writes the meta record and the first history event of a new
// ledger called name. It fails with ErrExists on a ledger already
// initialized.
func (l *Ledger) Init(ctx context.Context, name string) error {
	if err := checkText("authority name", name, 128); err != nil {
		return err
	}
	return l.st.Update(ctx, func(tx Tx) error {
		m, err := tx.Meta()
		if err != nil {
			return err
		}
		if m != nil {
			return fmt.Errorf("%w: the ledger %q was initialized %s", ErrExists, m.Name, codes.FormatTime(m.CreatedAt))
		}
		now := l.now()
		if err := tx.InitMeta(&Meta{Name: name, CreatedAt: now, HistoryHead: genesis}); err != nil {
			return err
		}
		c, err := newChain(tx)
		if err != nil {
			return err
		}
		e := l.event(now, "init", name)
		ids := make([]string, len(l.opts.Keys))
		for i, k := range l.opts.Keys {
			ids[i] = k.ID().String()
		}
		e.Detail = fmt.Sprintf("ledger %q created with authority keys %v", name, ids)
		if err := c.add(e); err != nil {
			return err
		}
		return c.flush()
	})
}

// Meta returns the ledger's meta record, or ErrNotInitialized.
func (l *Ledger) Meta(ctx context.Context) (*Meta, error) {
	var m *Meta
	err := l.st.View(ctx, func(tx ReadTx) error {
		var err error
		m, err = tx.Meta()
		return err
	})
	if err == nil && m == nil {
		err = ErrNotInitialized
	}
	return m, err
}

// signingKey returns the newest key valid at now.
func (l *Ledger) signingKey(now int64) (*codes.AuthorityKey, error) {
	var best *codes.AuthorityKey
	for _, k := range l.opts.Keys {
		if k.Public.ValidAt(now) && (best == nil || k.Public.NotBefore > best.Public.NotBefore) {
			best = k
		}
	}
	if best == nil {
		if len(l.opts.Keys) == 0 {
			return nil, fmt.Errorf("%w: this operation signs a code and no authority key was opened", ErrNoKey)
		}
		return nil, fmt.Errorf("%w: none of the %d authority keys is valid at %s", ErrNoKey, len(l.opts.Keys), codes.FormatTime(now))
	}
	return best, nil
}

// openWithKeys tries open with each key and returns the first success.
// It stops at the first error that is not a bad MAC: only the MAC depends
// on which key is tried.
func (l *Ledger) openWithKeys(what string, open func(*codes.AuthorityKey) error) error {
	if len(l.opts.Keys) == 0 {
		return fmt.Errorf("%w: opening a %s needs the authority key", ErrNoKey, what)
	}
	var first error
	tried := 0
	try := func(k *codes.AuthorityKey) (bool, error) {
		tried++
		err := open(k)
		if err == nil || !errors.Is(err, codes.ErrBadSignature) {
			return true, err
		}
		if first == nil {
			first = err
		}
		return false, nil
	}
	for _, k := range l.opts.Keys {
		if done, err := try(k); done {
			return err
		}
	}
	for i := range l.retired {
		k, err := l.retired[i].get()
		if err != nil {
			return fmt.Errorf("opening a retired authority key: %w", err)
		}
		if done, err := try(k); done {
			return err
		}
	}
	if tried > 1 {
		return fmt.Errorf("%w (tried %d authority keys)", first, tried)
	}
	return first
}

// A lazyKey is a retired key, opened the first time it is needed.
type lazyKey struct {
	once sync.Once
	open func() (*codes.AuthorityKey, error)
	key  *codes.AuthorityKey
	err  error
}

func (k *lazyKey) get() (*codes.AuthorityKey, error) {
	k.once.Do(func() { k.key, k.err = k.open() })
	return k.key, k.err
}

// checkClock refuses to issue when the clock is behind the ledger.
func (l *Ledger) checkClock(c *chain, now int64) error {
	if now < c.lastIssued-int64(l.opts.ClockTolerance/time.Second) {
		return fmt.Errorf("%w: the clock says %s but the ledger issued a code at %s: fix the clock before issuing", ErrClock, codes.FormatTime(now), codes.FormatTime(c.lastIssued))
	}
	return nil
}

// signingClock returns the time a code is signed at, refused by checkClock
// when before the codes the ledger issued, and the key that signs then.
func (l *Ledger) signingClock(c *chain) (int64, *codes.AuthorityKey, error) {
	now := l.now()
	if err := l.checkClock(c, now); err != nil {
		return 0, nil, err
	}
	key, err := l.signingKey(now)
	if err != nil {
		return 0, nil, err
	}
	return now, key, nil
}

func checkText(what, s string, max int) error {
	if s == "" || len(s) > max {
		return fmt.Errorf("%w: %s must have 1 to %d characters, has %d", ErrInvalid, what, max, len(s))
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("%w: %s %q has a control character", ErrInvalid, what, s)
		}
	}
	return nil
}

// view runs fn in a read transaction of an initialized ledger.
func (l *Ledger) view(ctx context.Context, fn func(ReadTx) error) error {
	return l.st.View(ctx, func(tx ReadTx) error {
		m, err := tx.Meta()
		if err != nil {
			return err
		}
		if m == nil {
			return ErrNotInitialized
		}
		return fn(tx)
	})
}

// update runs fn in a write transaction with the history chain, and
// writes the chain's head at the end.
func (l *Ledger) update(ctx context.Context, fn func(tx Tx, c *chain) error) error {
	return l.st.Update(ctx, func(tx Tx) error {
		c, err := newChain(tx)
		if err != nil {
			return err
		}
		if err := fn(tx, c); err != nil {
			return err
		}
		return c.flush()
	})
}

// account resolves "ORG/ACCOUNT".
func account(tx ReadTx, ref string) (*Account, error) {
	org, name, err := ParseAccountRef(ref)
	if err != nil {
		return nil, err
	}
	a, err := tx.Account(org, name)
	if err != nil {
		return nil, err
	}
	if a == nil {
		if o, err := tx.Org(org); err != nil {
			return nil, err
		} else if o == nil {
			return nil, fmt.Errorf("%w: no organization %q", ErrNotFound, org)
		}
		return nil, fmt.Errorf("%w: organization %q has no account %q", ErrNotFound, org, name)
	}
	return a, nil
}

// instance resolves a UDI, or "P:…,S:…" matching one live instance.
func instance(tx ReadTx, s string) (*Instance, error) {
	ref, err := parseInstanceRef(s)
	if err != nil {
		return nil, err
	}
	if ref.udi != "" {
		i, err := tx.LiveInstance(ref.udi)
		if err != nil {
			return nil, err
		}
		if i == nil {
			return nil, fmt.Errorf("%w: no instance %s (removed instances are not counted)", ErrNotFound, ref)
		}
		return i, nil
	}
	all, err := tx.Instances()
	if err != nil {
		return nil, err
	}
	var found *Instance
	for k := range all {
		i := &all[k]
		if i.State == InstanceRemoved {
			continue
		}
		u, err := codes.ParseUDI(i.UDI)
		if err != nil {
			return nil, fmt.Errorf("%w: instance %d has UDI %q: %v", ErrCorrupt, i.ID, i.UDI, err)
		}
		if u.PID == ref.pid && u.SN == ref.sn {
			if found != nil {
				return nil, fmt.Errorf("%w: %s matches %s and %s: give the whole UDI", ErrInvalid, ref, found.UDI, i.UDI)
			}
			found = i
		}
	}
	if found == nil {
		return nil, fmt.Errorf("%w: no instance %s", ErrNotFound, ref)
	}
	return found, nil
}

// liveReservation returns the instance's reservation that holds licenses,
// or nil.
func liveReservation(tx ReadTx, instanceID int64) (*Reservation, error) {
	rs, err := tx.Reservations(instanceID)
	if err != nil {
		return nil, err
	}
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i].Status.Live() {
			return &rs[i], nil
		}
	}
	return nil, nil
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
