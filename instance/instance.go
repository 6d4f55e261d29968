package instance

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/formats/wire"
)

// EvaluationPeriod is how long an instance may use every license after
// Init, before any authorization code is installed.
const EvaluationPeriod = 90 * 24 * time.Hour

// maxStateSize caps the state file read: the records are bounded (one code
// of at most codes.MaxCodeSize, a few lists of small entries, 256 journal
// entries), so a larger file is not one this package wrote.
const maxStateSize = 4 << 20

// EnvStateDir names the environment variable that DefaultDir reads first.
const EnvStateDir = "AIRLOCK_STATE"

// An Instance is an open state folder: the instance's identity, the codes
// it holds, and the counts of licenses in use. Its methods are safe for
// concurrent use, and several processes may open the same folder: every
// change is made under the folder's lock on the state as it is on disk.
//
// Licensed and Available answer from memory; call Refresh to see changes
// made by another process (for example an administrator running airlock
// instance install).
type Instance struct {
	dir  string
	path string
	opts options
	udi  codes.UDI // fixed at Init
	pub  []byte    // the instance public key, fixed at Init

	mu  sync.Mutex // serializes writes and reloads
	st  *state     // the state as last read or written; nil after a failed write
	sum [checksumSize]byte

	snap atomic.Pointer[snapshot] // what Licensed reads, rebuilt on every change

	fleet fleetHolder // a gateway's devices (fleet.go), read when first used
}

// DefaultDir returns the state folder to use when none is given: $AIRLOCK_STATE
// if set; /var/lib/airlock for root; otherwise $XDG_STATE_HOME/airlock, or
// ~/.local/state/airlock.
func DefaultDir() (string, error) {
	if d := os.Getenv(EnvStateDir); d != "" {
		return d, nil
	}
	if os.Geteuid() == 0 {
		return "/var/lib/airlock", nil
	}
	if x := os.Getenv("XDG_STATE_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "airlock"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no state folder: set %s: %w", EnvStateDir, err)
	}
	return filepath.Join(home, ".local", "state", "airlock"), nil
}

// Init makes a new instance in dir: it creates the folder (mode 0700) if
// needed, generates the instance key from crypto/rand, records udi and the
// trust set, and starts the evaluation period. The caller vouches for
// trust: it is the first set of authority keys the instance believes, as
// read by codes.ReadTrustFile from a file delivered with the product.
//
// Init refuses a folder that already holds a state (ErrExists) and a
// folder that group or others may write (ErrPermissions).
func Init(dir string, udi codes.UDI, trust *codes.TrustSet, opts ...Option) (*Instance, error) {
	o := newOptions(opts)
	if err := udi.Validate(); err != nil {
		return nil, err
	}
	if trust == nil {
		return nil, fmt.Errorf("%w: no trust set", codes.ErrInvalid)
	}
	if err := trust.Validate(); err != nil {
		return nil, err
	}
	trustBytes, err := wire.Marshal(trust)
	if err != nil {
		return nil, fmt.Errorf("%w: trust set: %v", codes.ErrMalformed, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("making the state folder: %w", err)
	}
	if err := checkDir(dir); err != nil {
		return nil, err
	}
	lk, err := lockDir(dir, o.lockWait)
	if err != nil {
		return nil, err
	}
	defer lk.unlock()
	path := filepath.Join(dir, stateName)
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("%w in %s: open it, or init in another folder", ErrExists, dir)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := sweepTemps(o.fsys, dir); err != nil {
		return nil, err
	}
	key, err := codes.GenerateInstanceKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the instance key: %w", err)
	}
	now := o.clock()
	t := now.Unix()
	st := &state{
		core: core{
			Format:      formatVersion,
			InstanceKey: key.Bytes(),
			UDI:         codes.UDI{PID: udi.PID, SN: udi.SN, UUID: bytes.Clone(udi.UUID)},
			Trust:       trustBytes,
			EvalStart:   t,
			Advisory:    o.advisory,
			HighWater:   t,
			ReportFrom:  t,
			JournalHead: make([]byte, checksumSize),
		},
		usage: map[string]*usageRecord{},
	}
	// The state keeps its own copy of the trust set, decoded from what it
	// stores, so the caller's may change.
	if err := st.verify(); err != nil {
		return nil, err
	}
	st.journalAdd(t, "init", fmt.Sprintf("instance %s, key %x, trust sequence %d; evaluation until %s",
		udi.Short(), key.Hash(), trust.Sequence, codes.FormatTime(t+evalSeconds)))
	in := &Instance{dir: dir, path: path, opts: o, st: st}
	in.setIdentity(st)
	if err := in.commitLocked(now); err != nil {
		return nil, err
	}
	// The folder may be new: make its name durable in its parent too. The
	// state is written and usable already; a parent that cannot be synced
	// (some file systems refuse) is no reason to fail.
	o.fsys.SyncDir(filepath.Dir(filepath.Clean(dir)))
	return in, nil
}

// Open opens the instance in dir, which Init made. It sweeps temporary
// files left by a crash, checks the state file's checksum, and verifies
// the installed authorization code against the trust set and this
// instance's UDI and key. A damaged state is reported (ErrCorrupt), never
// replaced.
func Open(dir string, opts ...Option) (*Instance, error) {
	o := newOptions(opts)
	if err := checkDir(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, stateName)
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s: make one with init", ErrNotInitialized, dir)
	} else if err != nil {
		return nil, err
	}
	lk, err := lockDir(dir, o.lockWait)
	if err != nil {
		return nil, err
	}
	defer lk.unlock()
	if err := sweepTemps(o.fsys, dir); err != nil {
		return nil, err
	}
	in := &Instance{dir: dir, path: path, opts: o}
	in.mu.Lock()
	defer in.mu.Unlock()
	if _, err := in.reloadLocked(); err != nil {
		return nil, err
	}
	in.setIdentity(in.st)
	return in, nil
}

// setIdentity records what never changes after Init.
func (in *Instance) setIdentity(st *state) {
	in.udi = st.core.UDI
	in.pub = st.key.Public()
}

// UDI returns the instance's UDI.
func (in *Instance) UDI() codes.UDI {
	return codes.UDI{PID: in.udi.PID, SN: in.udi.SN, UUID: bytes.Clone(in.udi.UUID)}
}

// PublicKey returns the instance's X25519 public key, which its request
// codes carry; authorization codes name its hash (codes.InstanceKeyHash).
func (in *Instance) PublicKey() []byte { return bytes.Clone(in.pub) }

// Dir returns the state folder.
func (in *Instance) Dir() string { return in.dir }

// Refresh rereads the state if another process changed it, so that
// Licensed, Available and Warnings see an authorization code installed or
// returned from the command line; and the fleet, once used, so that
// DeviceActive sees an activation file installed. It takes no lock: the
// files are replaced atomically, so it reads the old ones or the new.
func (in *Instance) Refresh() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	_, err := in.reloadLocked()
	if err == nil {
		err = in.refreshFleetLocked()
	}
	return err
}

// reloadLocked reads the state file and, if it differs from the state in
// memory, decodes and verifies it and publishes a new snapshot. It reports
// whether anything changed.
func (in *Instance) reloadLocked() (bool, error) {
	fi, err := os.Lstat(in.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("%w: the state file %s is gone: restore the state folder from a backup", ErrCorrupt, in.path)
		}
		return false, err
	}
	if !fi.Mode().IsRegular() {
		return false, fmt.Errorf("%w: %s is not a regular file", ErrPermissions, in.path)
	}
	f, err := os.Open(in.path)
	if err != nil {
		return false, err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxStateSize+1))
	f.Close()
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", in.path, err)
	}
	if len(b) > maxStateSize {
		return false, in.corruptError(corrupt("the file has more than %d bytes", maxStateSize))
	}
	if in.st != nil && len(b) > checksumSize {
		body, trailer := b[:len(b)-checksumSize], b[len(b)-checksumSize:]
		if bytes.Equal(trailer, in.sum[:]) && sha256.Sum256(body) == in.sum {
			return false, nil
		}
	}
	st, sum, err := decodeState(b)
	if err == nil {
		err = st.verify()
	}
	if err == nil && in.pub != nil && !bytes.Equal(st.key.Public(), in.pub) {
		err = corrupt("the state file now holds another instance key")
	}
	if err != nil {
		in.st = nil
		return false, in.corruptError(err)
	}
	in.st, in.sum = st, sum
	in.publish()
	return true, nil
}

// corruptError names the state file and says what to do.
func (in *Instance) corruptError(err error) error {
	var c *corruptDetail
	if errors.As(err, &c) {
		return fmt.Errorf("%w: %s: %s; restore the state folder from a backup (a new init would forget returned reservations and the clock's high-water mark)", ErrCorrupt, in.path, c.detail)
	}
	return fmt.Errorf("%s: %w", in.path, err)
}

// update runs fn on the state as it is on disk, under the folder's lock,
// and writes the result durably. fn must check everything before it
// changes anything: when it fails, the state in memory must be as it was.
func (in *Instance) update(fn func(st *state, now time.Time) error) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	lk, err := lockDir(in.dir, in.opts.lockWait)
	if err != nil {
		return err
	}
	defer lk.unlock()
	if _, err := in.reloadLocked(); err != nil {
		return err
	}
	now := in.opts.clock()
	if err := fn(in.st, now); err != nil {
		if err == errNoChange {
			return nil
		}
		return err
	}
	return in.commitLocked(now)
}

// errNoChange, returned by an update function, ends the update without a
// write: the operation was done before (an idempotent install or return).
var errNoChange = errors.New("no change")

// commitLocked records the clock, writes the state and publishes it. On
// failure the state in memory is dropped, so the next operation starts from
// what is on disk.
func (in *Instance) commitLocked(now time.Time) error { return in.commit(now, in.publish) }

// commit is commitLocked with the function that publishes the change.
func (in *Instance) commit(now time.Time, publish func()) error {
	st := in.st
	in.observeClock(st, now.Unix())
	st.core.Generation++
	data, sum, err := st.encode()
	if err == nil {
		var renamed bool
		renamed, err = writeAtomic(in.opts.fsys, in.path, data)
		if err != nil && renamed {
			in.st = nil
			return fmt.Errorf("%w: %v; the new state is in place but may not survive a power loss", ErrPersist, err)
		}
	}
	if err != nil {
		in.st = nil
		return fmt.Errorf("%w: %v; nothing changed", ErrPersist, err)
	}
	in.sum = sum
	publish()
	return nil
}

// observeClock raises the high-water mark and journals a clock anomaly
// when it starts and when it ends.
func (in *Instance) observeClock(st *state, t int64) {
	floor := in.clockFloor(st)
	switch anomaly := t < floor; {
	case anomaly && !st.core.Anomaly:
		st.journalAdd(t, "clock-anomaly", fmt.Sprintf("clock %s is behind the last time seen %s by more than %s",
			codes.FormatTime(t), codes.FormatTime(max(st.core.HighWater, st.issuedAt())), in.opts.tolerance))
		st.core.Anomaly = true
	case !anomaly && st.core.Anomaly:
		st.journalAdd(t, "clock-corrected", fmt.Sprintf("clock %s", codes.FormatTime(t)))
		st.core.Anomaly = false
	}
	st.core.HighWater = max(st.core.HighWater, t)
}

// clockFloor is the earliest time the clock may show without an anomaly:
// the later of the high-water mark and the installed code's issue time,
// minus the tolerance.
func (in *Instance) clockFloor(st *state) int64 {
	return max(st.core.HighWater, st.issuedAt()) - int64(in.opts.tolerance/time.Second)
}

// advisory reports whether clock anomalies only warn.
func (in *Instance) advisory(st *state) bool {
	return in.opts.advisory || st.core.Advisory || (st.auth != nil && st.auth.Flags&codes.FlagClockAdvisory != 0)
}

// evalSeconds is EvaluationPeriod in seconds.
const evalSeconds = int64(EvaluationPeriod / time.Second)

// The derived parts of a state: its keys and codes, opened.
type derived struct {
	key   *codes.InstanceKey
	trust *codes.TrustSet
	auth  *codes.Authorization // the installed code, nil if none
}

// verify opens what the state holds: the instance key, the trust set, and
// the installed authorization code, which must verify against the trust
// set and name this instance's UDI and key.
func (st *state) verify() error {
	c := &st.core
	if err := c.UDI.Validate(); err != nil {
		return corrupt("UDI: %v", err)
	}
	key, err := codes.ParseInstanceKey(c.InstanceKey)
	if err != nil {
		return corrupt("instance key: %v", err)
	}
	var trust codes.TrustSet
	if err := wire.Unmarshal(c.Trust, &trust); err != nil {
		return corrupt("trust set: %v", err)
	}
	if err := trust.Validate(); err != nil {
		return corrupt("trust set: %v", err)
	}
	st.key, st.trust, st.auth = key, &trust, nil
	if c.Installed != nil {
		a, err := codes.OpenAuthorization(c.Installed, &trust)
		if err != nil {
			return corrupt("the installed authorization code does not verify: %v", err)
		}
		if !a.UDI.Equal(c.UDI) || !bytes.Equal(a.InstanceKey, key.Hash()) {
			return corrupt("the installed authorization code is for %s, key %x, not for this instance", a.UDI.Short(), a.InstanceKey[:4])
		}
		st.auth = a
	}
	return nil
}

// issuedAt is the installed code's issue time, or 0.
func (st *state) issuedAt() int64 {
	if st.auth == nil {
		return 0
	}
	return st.auth.IssuedAt
}

// corruptDetail is what decodeState and verify found wrong; the Instance
// adds the file's name and what to do.
type corruptDetail struct{ detail string }

func (c *corruptDetail) Error() string { return ErrCorrupt.Error() + ": " + c.detail }
func (c *corruptDetail) Unwrap() error { return ErrCorrupt }

// macKey returns the pairwise key shared with the authority key id, for the
// codes of a reservation that key signed (FORMAT.md §4.8).
func (st *state) macKey(id codes.KeyID) ([]byte, error) {
	k := st.trust.Key(id)
	if k == nil {
		return nil, fmt.Errorf("%w: authority key %s, which signed the reservation, is no longer in the trust set", ErrNoAuthorityKey, id)
	}
	return st.key.MACKey(k)
}

// currentKey returns the trust set's current key at t, for requests,
// system descriptions and usage reports without a reservation.
func (st *state) currentKey(t int64) (*codes.AuthorityPublicKey, error) {
	k := st.trust.Current(t)
	if k == nil {
		return nil, fmt.Errorf("%w: no key of the trust set (sequence %d) is valid at %s", ErrNoAuthorityKey, st.trust.Sequence, codes.FormatTime(t))
	}
	return k, nil
}
