package instance

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/formats/wire"
)

// The fleet files. A gateway keeps its device fleet beside the state file,
// in files of its own: the state's records are capped at wire.MaxSize, and
// a fleet runs to hundreds of thousands of devices.
//
//	fleet                the index, replaced as a whole by every change:
//	                     magic "airlock fleet v1\n", records (1 byte type,
//	                     4 bytes big-endian length, CBOR by formats/wire),
//	                     then the SHA-256 of everything before it
//	activation-<hex>     the installed activation code, verbatim (binary
//	                     COSE), named by the first 16 bytes of its SHA-256
//
// The index holds the fleet core first and exactly once (the installed
// activation's hash, nonce and issue time, the pending activation
// requests, the nonces answered and superseded), then the queue: records
// of one product key and up to queueChunk device keys, in order of
// product and device key.
//
// The activation file is written once, when it is installed: first the
// new activation file under its own name, then the index that names it
// (the commit point), then the old activation file is removed. A crash
// leaves the old index with its file or the new index with its file; a
// file no index names is removed by the next change. On load the index's
// checksum is checked, then the activation file's hash against the index,
// and its signature against the trust set: it is trusted only as it
// verifies, never because it is in the folder.
const (
	fleetName        = "fleet"
	activationPrefix = "activation-"
	fleetMagic       = "airlock fleet v1\n"
	fleetMagicPrefix = "airlock fleet v"
	fleetFormat      = 1
)

// Fleet record types. Never reuse a number.
const (
	fleetRecCore  byte = 1
	fleetRecQueue byte = 2
)

// Limits of the fleet files.
const (
	// queueChunk is the most device keys one queue record holds: 200 keys
	// of at most codes.MaxDeviceKeyLen bytes stay under wire.MaxSize and
	// the decoder's array limit.
	queueChunk = 200
	// maxFleetSize caps the index read: a queue of
	// codes.MaxActivationDevices devices, each of another product, with
	// the longest keys, is under 36 MiB.
	maxFleetSize = 40 << 20
	// maxActivationPending caps the activation requests waiting for an
	// answer, as maxPending does for requests.
	maxActivationPending = 8
	// maxActivationNonces caps the remembered nonces of activation
	// requests answered or superseded, which only make the refusal of a
	// replayed file say why.
	maxActivationNonces = 16
)

// fleetCore is the index's main record.
type fleetCore struct {
	Format     uint64              `cbor:"1,keyasint"`
	Generation uint64              `cbor:"2,keyasint"`           // grows by one with every write
	Activation []byte              `cbor:"3,keyasint,omitempty"` // SHA-256 of the installed activation code
	Nonce      []byte              `cbor:"4,keyasint,omitempty"` // the nonce it answers
	IssuedAt   int64               `cbor:"5,keyasint,omitempty"` // its issue time, Unix seconds
	Pending    []pendingActivation `cbor:"6,keyasint,omitempty"` // oldest first
	Answered   [][]byte            `cbor:"7,keyasint,omitempty"` // nonces of activations installed before, oldest first
	Superseded [][]byte            `cbor:"8,keyasint,omitempty"` // nonces dropped unanswered, oldest first
	Seen       int64               `cbor:"9,keyasint"`           // latest clock seen by a fleet change, Unix seconds
}

// A pendingActivation is an activation request made and not yet answered.
type pendingActivation struct {
	Nonce    []byte `cbor:"1,keyasint"`
	IssuedAt int64  `cbor:"2,keyasint"`
	KeyID    []byte `cbor:"3,keyasint"` // the authority key it was made for
	Devices  uint64 `cbor:"4,keyasint,omitempty"`
}

// queueRecord is a run of queued devices of one product.
type queueRecord struct {
	ProductKey string   `cbor:"1,keyasint"`
	Devices    []string `cbor:"2,keyasint"`
}

// devKey names a device: product key and device key.
type devKey struct{ pk, dk string }

func (k devKey) less(o devKey) bool { return k.pk < o.pk || k.pk == o.pk && k.dk < o.dk }

// devEntry is what the installed activation says of one device.
type devEntry struct {
	from, until int64         // the window, Unix seconds, until exclusive; zero when refused
	reason      codes.Refusal // non-zero: refused
}

// A fleetState is the fleet as last read or written. Once published it
// never changes: every change makes a new one (sharing the maps that did
// not change), so the lookups read it without a lock and a failed change
// leaves nothing half done.
type fleetState struct {
	loadErr error // the index could not be read: every lookup says no

	exists bool // the index file exists
	sum    [checksumSize]byte
	core   fleetCore
	queue  map[devKey]struct{}

	// The installed activation, opened, with its table. actErr says why
	// there is none while the core names one (its file is missing or
	// damaged, or it no longer verifies): lookups fail closed, and a new
	// activation request and install rebuild it.
	act    *codes.Activation
	table  map[devKey]devEntry
	actErr error
	floor  int64 // a clock before this is an anomaly for the fleet
}

// fleetHolder is the fleet part of an Instance.
type fleetHolder struct {
	cur atomic.Pointer[fleetState] // nil until first used
}

func emptyFleet() *fleetState {
	return &fleetState{core: fleetCore{Format: fleetFormat}, queue: map[devKey]struct{}{}, table: map[devKey]devEntry{}}
}

func activationName(sum []byte) string { return activationPrefix + hex.EncodeToString(sum[:16]) }

// fleetNow returns the fleet for a lookup: the one in memory, or read from
// the folder the first time.
func (in *Instance) fleetNow() *fleetState {
	if f := in.fleet.cur.Load(); f != nil {
		return f
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if f := in.fleet.cur.Load(); f != nil {
		return f
	}
	f, err := in.loadFleetLocked()
	if err != nil {
		f = &fleetState{loadErr: err}
		in.fleet.cur.Store(f)
	}
	return f
}

// loadFleetLocked reads the state if needed, then the fleet.
func (in *Instance) loadFleetLocked() (*fleetState, error) {
	if in.st == nil {
		if _, err := in.reloadLocked(); err != nil {
			return nil, err
		}
	}
	return in.reloadFleetLocked()
}

// refreshFleetLocked rereads the fleet for Refresh, if it was read before.
func (in *Instance) refreshFleetLocked() error {
	if in.fleet.cur.Load() == nil {
		return nil
	}
	_, err := in.reloadFleetLocked()
	return err
}

// reloadFleetLocked reads the fleet index and, if it differs from the one
// in memory, decodes it, opens the activation it names, and publishes the
// result. in.st must be loaded. On failure it publishes a fleet whose
// lookups all say no, and returns the error.
func (in *Instance) reloadFleetLocked() (*fleetState, error) {
	f, err := in.readFleet()
	if err != nil {
		f = &fleetState{loadErr: err}
	}
	in.fleet.cur.Store(f)
	return f, err
}

// readFleet reads the fleet from the folder, reusing what is in memory for
// what did not change. A reader without the lock may find the activation
// file gone because another process installed a new one meanwhile: it
// then reads the new index.
func (in *Instance) readFleet() (*fleetState, error) {
	for attempt := 0; ; attempt++ {
		cur := in.fleet.cur.Load()
		if cur != nil && cur.loadErr != nil {
			cur = nil
		}
		path := filepath.Join(in.dir, fleetName)
		b, err := readCapped(path, maxFleetSize)
		if errors.Is(err, fs.ErrNotExist) {
			if cur != nil && cur.exists {
				return nil, fmt.Errorf("%w: the fleet file %s is gone: restore the state folder from a backup, or make an activation request and install its answer to rebuild the device table (the queue is lost)", ErrCorrupt, path)
			}
			if cur != nil {
				return cur, nil
			}
			f := emptyFleet()
			f.floor = in.fleetFloor(f)
			return f, nil
		}
		if err != nil {
			var c *corruptDetail
			if errors.As(err, &c) {
				return nil, fleetCorrupt(path, err)
			}
			return nil, err
		}
		if cur != nil && cur.exists && len(b) >= checksumSize && bytes.Equal(b[len(b)-checksumSize:], cur.sum[:]) &&
			sha256.Sum256(b[:len(b)-checksumSize]) == cur.sum {
			return cur, nil
		}
		f, err := decodeFleet(b)
		if err != nil {
			return nil, fleetCorrupt(path, err)
		}
		switch {
		case f.core.Activation == nil:
		case cur != nil && bytes.Equal(cur.core.Activation, f.core.Activation) && cur.actErr == nil:
			f.act, f.table = cur.act, cur.table
		default:
			gone := in.openActivationFile(f)
			if gone && attempt < 2 {
				continue // replaced meanwhile: read the new index
			}
		}
		f.floor = in.fleetFloor(f)
		return f, nil
	}
}

// openActivationFile opens the activation the index f names and builds its
// table, or sets f.actErr. It reports whether the file was missing.
func (in *Instance) openActivationFile(f *fleetState) (missing bool) {
	path := filepath.Join(in.dir, activationName(f.core.Activation))
	rebuild := "make an activation request and install its answer to rebuild the device table"
	code, err := readCapped(path, int64(codes.KindActivation.MaxSize()))
	if err != nil {
		missing = errors.Is(err, fs.ErrNotExist)
		f.actErr = fmt.Errorf("%w: the installed activation file %s cannot be read: %v; %s", ErrCorrupt, path, err, rebuild)
		return missing
	}
	if sum := sha256.Sum256(code); !bytes.Equal(sum[:], f.core.Activation) {
		f.actErr = fmt.Errorf("%w: the installed activation file %s was damaged or changed (its hash is not the one the fleet file records); %s", ErrCorrupt, path, rebuild)
		return false
	}
	a, err := codes.OpenActivation(code, in.st.trust)
	if err == nil {
		err = a.Check(in.st.core.UDI, in.st.key.Public())
	}
	if err != nil {
		f.actErr = fmt.Errorf("the installed activation file %s no longer verifies: %w; %s", path, err, rebuild)
		return false
	}
	if !bytes.Equal(a.Nonce, f.core.Nonce) || a.IssuedAt != f.core.IssuedAt {
		f.actErr = fmt.Errorf("%w: the installed activation file %s answers request %x, issued %s, but the fleet file records request %x, issued %s; %s",
			ErrCorrupt, path, a.Nonce, codes.FormatTime(a.IssuedAt), f.core.Nonce, codes.FormatTime(f.core.IssuedAt), rebuild)
		return false
	}
	f.act, f.table = a, buildTable(a)
	return false
}

// buildTable indexes an activation's devices.
func buildTable(a *codes.Activation) map[devKey]devEntry {
	t := make(map[devKey]devEntry, a.Count())
	for _, g := range a.Products {
		for _, w := range g.Active {
			t[devKey{g.ProductKey, w.DeviceKey}] = devEntry{from: w.From, until: w.Until}
		}
		for _, r := range g.Refused {
			t[devKey{g.ProductKey, r.DeviceKey}] = devEntry{reason: r.Reason}
		}
	}
	return t
}

// fleetFloor is the earliest time the clock may show for device windows
// without an anomaly: the latest of the time a fleet change last saw and
// the installed activation's issue time, minus the tolerance.
func (in *Instance) fleetFloor(f *fleetState) int64 {
	return max(f.core.Seen, f.core.IssuedAt) - int64(in.opts.tolerance/time.Second)
}

func fleetCorrupt(path string, err error) error {
	var c *corruptDetail
	if errors.As(err, &c) {
		return fmt.Errorf("%w: %s: %s; restore the state folder from a backup", ErrCorrupt, path, c.detail)
	}
	return fmt.Errorf("%s: %w", path, err)
}

// readCapped reads a regular file of at most limit bytes.
func readCapped(path string, limit int64) ([]byte, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrPermissions, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, corrupt("the file has more than %d bytes", limit)
	}
	return b, nil
}

// decodeFleet parses a fleet index and checks its checksum and shape.
func decodeFleet(b []byte) (*fleetState, error) {
	if !bytes.HasPrefix(b, []byte(fleetMagic)) {
		if rest, ok := bytes.CutPrefix(b, []byte(fleetMagicPrefix)); ok {
			if line, _, ok := bytes.Cut(rest, []byte("\n")); ok {
				if v, err := strconv.ParseUint(string(line), 10, 32); err == nil && v > fleetFormat {
					return nil, fmt.Errorf("%w: the fleet file was written in format v%d by a newer airlock; this one reads v%d", ErrFormat, v, fleetFormat)
				}
			}
		}
		return nil, corrupt("the fleet file does not start like one")
	}
	if len(b) < len(fleetMagic)+checksumSize {
		return nil, corrupt("the fleet file is truncated (%d bytes)", len(b))
	}
	body, trailer := b[:len(b)-checksumSize], b[len(b)-checksumSize:]
	sum := sha256.Sum256(body)
	if !bytes.Equal(sum[:], trailer) {
		return nil, corrupt("checksum mismatch: the fleet file was damaged, truncated or changed outside airlock")
	}
	f := &fleetState{exists: true, sum: sum, queue: map[devKey]struct{}{}, table: map[devKey]devEntry{}}
	rest := body[len(fleetMagic):]
	first := true
	var last devKey
	for len(rest) > 0 {
		if len(rest) < recordHeader {
			return nil, corrupt("a fleet record header is cut short")
		}
		typ, n := rest[0], binary.BigEndian.Uint32(rest[1:recordHeader])
		if uint64(n) > uint64(len(rest)-recordHeader) {
			return nil, corrupt("a fleet record runs past the end of the file")
		}
		data := rest[recordHeader : recordHeader+int(n)]
		rest = rest[recordHeader+int(n):]
		if first != (typ == fleetRecCore) {
			return nil, corrupt("the fleet core record is missing or repeated")
		}
		first = false
		var err error
		switch typ {
		case fleetRecCore:
			err = wire.Unmarshal(data, &f.core)
		case fleetRecQueue:
			var q queueRecord
			if err = wire.Unmarshal(data, &q); err != nil {
				break
			}
			if err = codes.CheckDeviceKey("product key", q.ProductKey); err != nil {
				break
			}
			if len(q.Devices) == 0 || len(q.Devices) > queueChunk {
				err = fmt.Errorf("%d devices in one queue record", len(q.Devices))
				break
			}
			for _, dk := range q.Devices {
				if err = codes.CheckDeviceKey("device key", dk); err != nil {
					break
				}
				k := devKey{q.ProductKey, dk}
				if len(f.queue) > 0 && !last.less(k) {
					err = fmt.Errorf("queued device %q of product %q is out of order", dk, q.ProductKey)
					break
				}
				last = k
				f.queue[k] = struct{}{}
			}
			if err == nil && len(f.queue) > codes.MaxActivationDevices {
				err = fmt.Errorf("more than %d queued devices", codes.MaxActivationDevices)
			}
		default:
			err = fmt.Errorf("unknown record type %d", typ)
		}
		if err != nil {
			return nil, corrupt("fleet record of type %d: %v", typ, err)
		}
	}
	if first {
		return nil, corrupt("the fleet file has no records")
	}
	if err := f.checkShape(); err != nil {
		return nil, err
	}
	return f, nil
}

// checkShape checks what a well-formed fleet core holds.
func (f *fleetState) checkShape() error {
	c := &f.core
	switch {
	case c.Format != fleetFormat:
		return corrupt("fleet core of format %d in a v%d file", c.Format, fleetFormat)
	case (c.Activation == nil) != (c.Nonce == nil) || (c.Activation == nil) != (c.IssuedAt == 0):
		return corrupt("the installed activation is recorded in part")
	case c.Activation != nil && (len(c.Activation) != sha256.Size || len(c.Nonce) != codes.NonceSize):
		return corrupt("the installed activation's hash has %d bytes and its nonce %d", len(c.Activation), len(c.Nonce))
	case len(c.Pending) > maxActivationPending:
		return corrupt("%d pending activation requests, the limit is %d", len(c.Pending), maxActivationPending)
	case len(c.Answered) > maxActivationNonces || len(c.Superseded) > maxActivationNonces:
		return corrupt("%d answered and %d superseded activation requests, the limit is %d", len(c.Answered), len(c.Superseded), maxActivationNonces)
	}
	for _, p := range c.Pending {
		if len(p.Nonce) != codes.NonceSize || len(p.KeyID) != codes.KeyIDSize {
			return corrupt("pending activation request with a nonce of %d bytes and a key id of %d", len(p.Nonce), len(p.KeyID))
		}
	}
	for _, n := range slices.Concat(c.Answered, c.Superseded) {
		if len(n) != codes.NonceSize {
			return corrupt("remembered activation request with a nonce of %d bytes", len(n))
		}
	}
	return nil
}

// encode returns the index file and its checksum.
func (f *fleetState) encode() ([]byte, [checksumSize]byte, error) {
	var sum [checksumSize]byte
	var buf bytes.Buffer
	buf.Grow(4096 + len(f.queue)*24)
	buf.WriteString(fleetMagic)
	add := func(typ byte, v any) error {
		data, err := wire.Marshal(v)
		if err != nil {
			return fmt.Errorf("encoding the fleet: %w", err)
		}
		if len(data) > wire.MaxSize {
			return fmt.Errorf("fleet record of type %d has %d bytes, the limit is %d", typ, len(data), wire.MaxSize)
		}
		var h [recordHeader]byte
		h[0] = typ
		binary.BigEndian.PutUint32(h[1:], uint32(len(data)))
		buf.Write(h[:])
		buf.Write(data)
		return nil
	}
	if err := add(fleetRecCore, &f.core); err != nil {
		return nil, sum, err
	}
	for _, g := range groupQueue(f.queue) {
		for len(g.Devices) > 0 {
			n := min(len(g.Devices), queueChunk)
			if err := add(fleetRecQueue, &queueRecord{ProductKey: g.ProductKey, Devices: g.Devices[:n]}); err != nil {
				return nil, sum, err
			}
			g.Devices = g.Devices[n:]
		}
	}
	sum = sha256.Sum256(buf.Bytes())
	buf.Write(sum[:])
	return buf.Bytes(), sum, nil
}

// groupQueue returns the queued devices grouped by product, both sorted,
// as an activation request lists them.
func groupQueue(q map[devKey]struct{}) []codes.DeviceGroup {
	keys := slices.SortedFunc(maps.Keys(q), func(a, b devKey) int {
		if c := strings.Compare(a.pk, b.pk); c != 0 {
			return c
		}
		return strings.Compare(a.dk, b.dk)
	})
	var out []codes.DeviceGroup
	for _, k := range keys {
		if len(out) == 0 || out[len(out)-1].ProductKey != k.pk {
			out = append(out, codes.DeviceGroup{ProductKey: k.pk})
		}
		g := &out[len(out)-1]
		g.Devices = append(g.Devices, k.dk)
	}
	return out
}

// A fleetChange is what a fleet operation decided: the new fleet, a new
// activation code to write before it (nil if none), and the journal entry
// with its changes to the state (nil if none).
type fleetChange struct {
	next    *fleetState
	code    []byte
	journal func(st *state, t int64)
}

// updateFleet runs fn on the state and the fleet as they are on disk,
// under the folder's lock, and writes the fleet fn returns: its activation
// file first if new, then the index. Then it writes the state with fn's
// journal entry. fn must not change f or st: it returns a new fleet, and
// changes the state only in its journal function.
//
// The fleet is the operation; the journal records it. When the state
// cannot be written after the fleet was, the operation is done and the
// error says that only its journal entry is missing.
func (in *Instance) updateFleet(fn func(st *state, f *fleetState, now time.Time) (*fleetChange, error)) error {
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
	f, err := in.reloadFleetLocked()
	if err != nil {
		return err
	}
	now := in.opts.clock()
	ch, err := fn(in.st, f, now)
	if err == errNoChange {
		return nil
	}
	if err != nil {
		return err
	}
	next := ch.next
	next.core.Generation = f.core.Generation + 1
	next.core.Seen = max(next.core.Seen, now.Unix())
	in.sweepFleet(f)
	if ch.code != nil {
		if _, err := writeAtomic(in.opts.fsys, filepath.Join(in.dir, activationName(next.core.Activation)), ch.code); err != nil {
			return fmt.Errorf("%w: %v; nothing changed", ErrPersist, err)
		}
	}
	data, sum, err := next.encode()
	if err != nil {
		return fmt.Errorf("%w: %v; nothing changed", ErrPersist, err)
	}
	renamed, err := writeAtomic(in.opts.fsys, filepath.Join(in.dir, fleetName), data)
	if err != nil && !renamed {
		return fmt.Errorf("%w: %v; nothing changed", ErrPersist, err)
	}
	next.exists, next.sum = true, sum
	next.floor = in.fleetFloor(next)
	in.fleet.cur.Store(next)
	if err != nil {
		return fmt.Errorf("%w: %v; the new fleet is in place but may not survive a power loss", ErrPersist, err)
	}
	if f.core.Activation != nil && !bytes.Equal(f.core.Activation, next.core.Activation) {
		// Best effort: a file left behind is swept by the next change.
		in.opts.fsys.Remove(filepath.Join(in.dir, activationName(f.core.Activation)))
	}
	if ch.journal != nil {
		ch.journal(in.st, now.Unix())
		if err := in.commitLocked(now); err != nil {
			// commit says "nothing changed" of the state: true of the
			// state, not of the operation.
			cause := strings.TrimPrefix(strings.TrimSuffix(err.Error(), "; nothing changed"), ErrPersist.Error()+": ")
			return fmt.Errorf("%w: %s; the fleet change is done, only its journal entry is missing", ErrPersist, cause)
		}
	}
	return nil
}

// sweepFleet removes what a crash or an interrupted change left: temporary
// fleet and activation files, and activation files the index f does not
// name. It runs with the lock held, so no writer is using them.
func (in *Instance) sweepFleet(f *fleetState) {
	entries, err := os.ReadDir(in.dir)
	if err != nil {
		return
	}
	keep := ""
	if f.core.Activation != nil {
		keep = activationName(f.core.Activation)
	}
	for _, e := range entries {
		name := e.Name()
		stale := strings.HasPrefix(name, tempPrefix+fleetName+"-") || strings.HasPrefix(name, tempPrefix+activationPrefix) ||
			strings.HasPrefix(name, activationPrefix) && name != keep
		if stale && e.Type().IsRegular() {
			in.opts.fsys.Remove(filepath.Join(in.dir, name))
		}
	}
}

// withNonce returns list with n appended, keeping the newest
// maxActivationNonces.
func withNonce(list [][]byte, n ...[]byte) [][]byte {
	out := append(slices.Clone(list), n...)
	if len(out) > maxActivationNonces {
		out = out[len(out)-maxActivationNonces:]
	}
	return out
}
