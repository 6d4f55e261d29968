package instance

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/airlock-dev/airlock/codes"
)

// A gateway is an instance that activates devices for the authority: IoT
// devices of a plant, each licensed by an activation code from its
// product's pool. The gateway queues the devices that ask to activate
// (QueueDevices), makes an activation request file of the queue
// (ActivationRequest), and installs the activation file the authority
// answers with (InstallActivation): the validity window of every device it
// activated, and the devices refused with the reason. The product that
// embeds the gateway then asks DeviceActive, from memory.
//
// Any instance may be a gateway, whatever its reservation mode: the
// instance key the requests carry is made by Init, and the authority
// decides which devices to activate. Activation requests need only a key
// of the trust set valid now (ErrNoAuthorityKey).
//
// The fleet lives in files of its own beside the state file (see
// fleet_file.go); the state's journal records each activation request and
// each install.

// The fleet's sentinels, with those of errors.go.
var (
	// ErrActivationInstalled means the activation file given is the one
	// installed: nothing changed.
	ErrActivationInstalled = errors.New("activation file installed already")
	// ErrActivationNotPending means an activation file answers an
	// activation request that is not pending: one answered before (a
	// replay), one superseded by a later request's answer or by newer
	// requests, or one this instance did not make.
	ErrActivationNotPending = errors.New("activation file answers no pending activation request")
	// ErrActivationNotNewer means an activation file was issued before the
	// one installed: it would bring back an older device table.
	ErrActivationNotNewer = errors.New("activation file not newer than the installed one")
	// ErrQueueFull means the device queue would pass
	// codes.MaxActivationDevices devices.
	ErrQueueFull = errors.New("device queue full")
)

// A DeviceState is what the gateway knows of a device now.
type DeviceState uint8

// The device states.
const (
	DeviceUnknown     DeviceState = iota // neither queued nor in the installed activation
	DeviceQueued                         // waiting for the next activation request's answer
	DeviceRefused                        // the authority refused it (Reason)
	DeviceActive                         // its window covers now
	DeviceNotStarted                     // its window starts later
	DeviceExpired                        // its window has ended
	DeviceClockBehind                    // its window would cover now, but the clock is behind: refused until it is set right
)

// String returns the state's name, e.g. "active".
func (s DeviceState) String() string {
	switch s {
	case DeviceUnknown:
		return "unknown"
	case DeviceQueued:
		return "queued"
	case DeviceRefused:
		return "refused"
	case DeviceActive:
		return "active"
	case DeviceNotStarted:
		return "not-started"
	case DeviceExpired:
		return "expired"
	case DeviceClockBehind:
		return "clock-behind"
	}
	return fmt.Sprintf("device-state(%d)", uint8(s))
}

// A DeviceStatus is what the gateway knows of one device.
type DeviceStatus struct {
	ProductKey string
	DeviceKey  string
	State      DeviceState
	From       time.Time     // the window the installed activation gives, zero if none
	Until      time.Time     // exclusive
	Reason     codes.Refusal // why the last activation refused it, 0 if it did not
	Queued     bool          // in the queue, for the next activation request
}

// A RefusedDevice is a device an activation file refused.
type RefusedDevice struct {
	ProductKey string
	DeviceKey  string
	Reason     codes.Refusal
}

// ActivationSummary says what InstallActivation did.
type ActivationSummary struct {
	Nonce      []byte // the activation request it answers
	IssuedAt   time.Time
	KeyID      codes.KeyID // the authority key that signed it
	Listed     int         // devices it gives a window, ended or not
	Active     int         // of them, active now
	Refused    []RefusedDevice
	Removed    int // devices the table held with a window that it no longer lists (deleted at the authority)
	Answered   int // queued devices it lists, active or refused, now out of the queue
	Queued     int // devices left in the queue
	Superseded int // pending activation requests older than the one it answers, now dropped
}

// A PendingActivation is an activation request waiting for its answer.
type PendingActivation struct {
	Nonce    []byte
	IssuedAt time.Time
	KeyID    codes.KeyID // the authority key it was made for
	Devices  int
}

// FleetStatus sums up a gateway's fleet.
type FleetStatus struct {
	// The installed activation, if any.
	Activation *InstalledActivation
	Listed     int // devices with a window, ended or not
	Active     int // of them, active now
	Refused    int
	// Problem says why the installed activation's table is not usable (its
	// file is damaged or missing, or it no longer verifies under the trust
	// set): every device is then inactive until a new activation file is
	// installed. Nil when all is well.
	Problem error

	Queued   int
	Products int // products with a device queued or in the table
	Pending  []PendingActivation
}

// InstalledActivation describes the installed activation file.
type InstalledActivation struct {
	Nonce    []byte // the activation request it answers
	IssuedAt time.Time
	KeyID    codes.KeyID // zero when Problem is set
}

// QueueDevices queues devices of product pk for the next activation
// request, durably. Keys are checked with codes.CheckDeviceKey before
// anything changes; a device queued already is queued once. The queue
// holds at most codes.MaxActivationDevices devices (ErrQueueFull): an
// installed activation file takes the devices it answers out of it.
// A device in the installed activation may be queued again: the next
// activation file gives its current window, or activates it again if it
// was refused.
func (in *Instance) QueueDevices(pk string, dks ...string) error {
	_, err := in.QueueDeviceGroups([]codes.DeviceGroup{{ProductKey: pk, Devices: dks}})
	return err
}

// QueueDeviceGroups is QueueDevices for several products in one durable
// write: all of them are queued, or none. The groups need not be sorted,
// and may repeat products and devices. It returns how many devices were
// not queued before.
func (in *Instance) QueueDeviceGroups(groups []codes.DeviceGroup) (int, error) {
	n := 0
	for _, g := range groups {
		if err := codes.CheckDeviceKey("product key", g.ProductKey); err != nil {
			return 0, err
		}
		for _, dk := range g.Devices {
			if err := codes.CheckDeviceKey("device key", dk); err != nil {
				return 0, fmt.Errorf("%w (product %q)", err, g.ProductKey)
			}
		}
		n += len(g.Devices)
	}
	if n == 0 {
		return 0, nil
	}
	added := 0
	err := in.updateFleet(func(st *state, f *fleetState, now time.Time) (*fleetChange, error) {
		add := map[devKey]struct{}{}
		for _, g := range groups {
			for _, dk := range g.Devices {
				k := devKey{g.ProductKey, dk}
				if _, ok := f.queue[k]; !ok {
					add[k] = struct{}{}
				}
			}
		}
		if len(add) == 0 {
			return nil, errNoChange
		}
		if total := len(f.queue) + len(add); total > codes.MaxActivationDevices {
			return nil, fmt.Errorf("%w: the queue holds %d devices, and %d more would pass the limit of %d: make an activation request and install its answer first",
				ErrQueueFull, len(f.queue), len(add), codes.MaxActivationDevices)
		}
		next := f.derive()
		next.queue = make(map[devKey]struct{}, len(f.queue)+len(add))
		maps.Copy(next.queue, f.queue)
		maps.Copy(next.queue, add)
		added = len(add)
		return &fleetChange{next: next}, nil
	})
	if err != nil {
		return 0, err
	}
	return added, nil
}

// derive returns a copy of f to change: the core's lists are copied, the
// maps shared (replace them, never change them).
func (f *fleetState) derive() *fleetState {
	n := *f
	n.loadErr = nil
	n.core.Pending = slices.Clone(f.core.Pending)
	n.core.Answered = slices.Clone(f.core.Answered)
	n.core.Superseded = slices.Clone(f.core.Superseded)
	return &n
}

// ActivationRequest makes an activation request of the queued devices
// for the trust set's current authority key, with a fresh nonce, and
// records it as pending, durably, before it returns the code (binary;
// codes.EncodeArmor makes the file). An empty queue makes a refresh: a
// request for the current windows of the devices activated before. The
// queue stays as it is: the activation file answering the request takes
// the devices it lists out of it, and a later request lists the devices
// still queued again.
//
// The last 8 requests stay pending; an older one is superseded. Any
// instance may make one, whatever its mode; it needs a key of the trust
// set valid now (ErrNoAuthorityKey). A request that the authority could
// not read (over codes.KindActivationRequest.MaxSize) is refused with
// codes.ErrInvalid, and nothing changes.
func (in *Instance) ActivationRequest() ([]byte, error) {
	var code []byte
	err := in.updateFleet(func(st *state, f *fleetState, now time.Time) (*fleetChange, error) {
		t := now.Unix()
		key, err := st.currentKey(t)
		if err != nil {
			return nil, err
		}
		nonce := make([]byte, codes.NonceSize)
		if _, err := rand.Read(nonce); err != nil {
			return nil, err
		}
		r := &codes.ActivationRequest{UDI: st.core.UDI, Nonce: nonce, IssuedAt: t, Products: groupQueue(f.queue)}
		c, err := codes.SealActivationRequest(r, st.key, key)
		if err != nil {
			// Over the kind's size limit: the authority could not read it.
			return nil, fmt.Errorf("an activation request of %s: %w", count(len(f.queue), "device"), err)
		}
		id := key.ID()
		next := f.derive()
		next.core.Pending = append(next.core.Pending, pendingActivation{Nonce: nonce, IssuedAt: t, KeyID: id[:], Devices: uint64(len(f.queue))})
		if n := len(next.core.Pending); n > maxActivationPending {
			for _, p := range next.core.Pending[:n-maxActivationPending] {
				next.core.Superseded = withNonce(next.core.Superseded, p.Nonce)
			}
			next.core.Pending = slices.Clone(next.core.Pending[n-maxActivationPending:])
		}
		code = c
		return &fleetChange{next: next, journal: func(st *state, t int64) {
			st.journalAdd(t, "activation-request", fmt.Sprintf("activation request %x for authority key %s: %s of %s",
				nonce, id, count(len(f.queue), "device"), count(len(r.Products), "product")))
		}}, nil
	})
	if err != nil {
		return nil, err
	}
	return code, nil
}

// InstallActivation verifies an activation file (armored, binary, typed,
// or age-encrypted and opened with the identities of WithIdentities) and
// installs it in place of the device table. In order it refuses:
//
//   - what does not decode as an activation (codes.ErrWrongKind, …) or
//     verify against the trust set (codes.ErrUnknownKey, …);
//   - an activation for another gateway's UDI or key
//     (codes.ErrWrongInstance);
//   - the installed file again (ErrActivationInstalled);
//   - one whose nonce is not a pending activation request's
//     (ErrActivationNotPending): answered before, superseded, or unknown;
//   - one issued before the installed one (ErrActivationNotNewer);
//   - any while the clock is behind its issue time by more than the
//     tolerance (ErrClock), unless the clock is advisory. A clock behind
//     only the last time seen is re-anchored by it, as Install does: the
//     answer to a pending request is fresh authority time.
//
// Installing it replaces the table: the devices it lists, with their
// windows (ended ones included) or refusals, are all the gateway knows;
// a device it no longer lists was deleted at the authority and is not
// active any more. It takes the devices it lists out of the queue, drops
// its pending request and the older ones, and journals the install. A
// crash leaves the old table or the new one, never a mix.
func (in *Instance) InstallActivation(input []byte) (*ActivationSummary, error) {
	code, err := codes.DecodeKind(input, codes.KindActivation, in.opts.identities...)
	if err != nil {
		return nil, err
	}
	var out *ActivationSummary
	err = in.updateFleet(func(st *state, f *fleetState, now time.Time) (*fleetChange, error) {
		a, err := codes.OpenActivation(code, st.trust)
		if err != nil {
			return nil, err
		}
		if err := a.Check(st.core.UDI, st.key.Public()); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(code)
		if bytes.Equal(sum[:], f.core.Activation) {
			return nil, fmt.Errorf("%w: it answers activation request %x and was issued %s; nothing changed", ErrActivationInstalled, a.Nonce, codes.FormatTime(a.IssuedAt))
		}
		i := slices.IndexFunc(f.core.Pending, func(p pendingActivation) bool { return bytes.Equal(p.Nonce, a.Nonce) })
		if i < 0 {
			return nil, f.notPendingError(a)
		}
		if a.IssuedAt < f.core.IssuedAt {
			return nil, fmt.Errorf("%w: it was issued %s, the installed one %s: installing it would bring back an older device table",
				ErrActivationNotNewer, codes.FormatTime(a.IssuedAt), codes.FormatTime(f.core.IssuedAt))
		}
		t := now.Unix()
		anchor, err := in.checkActivationClock(st, f, a, t)
		if err != nil {
			return nil, err
		}

		// Everything is checked: make the new fleet.
		next := f.derive()
		next.act, next.table, next.actErr = a, buildTable(a), nil
		next.core.Activation, next.core.Nonce, next.core.IssuedAt = sum[:], a.Nonce, a.IssuedAt
		if f.core.Nonce != nil {
			next.core.Answered = withNonce(next.core.Answered, f.core.Nonce)
		}
		for _, p := range f.core.Pending[:i] {
			next.core.Superseded = withNonce(next.core.Superseded, p.Nonce)
		}
		next.core.Pending = slices.Clone(f.core.Pending[i+1:])
		if anchor {
			next.core.Seen = max(t, a.IssuedAt)
		}
		sumUp := &ActivationSummary{Nonce: bytes.Clone(a.Nonce), IssuedAt: time.Unix(a.IssuedAt, 0).UTC(), KeyID: a.KeyID, Superseded: i}
		next.queue = maps.Clone(f.queue)
		teff := max(t, a.IssuedAt)
		for _, g := range a.Products {
			for _, w := range g.Active {
				sumUp.Listed++
				if w.From <= teff && teff < w.Until {
					sumUp.Active++
				}
				if _, ok := next.queue[devKey{g.ProductKey, w.DeviceKey}]; ok {
					delete(next.queue, devKey{g.ProductKey, w.DeviceKey})
					sumUp.Answered++
				}
			}
			for _, r := range g.Refused {
				sumUp.Refused = append(sumUp.Refused, RefusedDevice{ProductKey: g.ProductKey, DeviceKey: r.DeviceKey, Reason: r.Reason})
				if _, ok := next.queue[devKey{g.ProductKey, r.DeviceKey}]; ok {
					delete(next.queue, devKey{g.ProductKey, r.DeviceKey})
					sumUp.Answered++
				}
			}
		}
		for k, e := range f.table {
			if _, ok := next.table[k]; !ok && e.reason == 0 {
				sumUp.Removed++
			}
		}
		sumUp.Queued = len(next.queue)
		out = sumUp
		return &fleetChange{next: next, code: code, journal: func(st *state, t int64) {
			st.journalAdd(t, "activation-install", fmt.Sprintf("activation for request %x, issued %s by key %s: %s with a window (%d active now), %d refused, %d removed; %s left in the queue",
				a.Nonce, codes.FormatTime(a.IssuedAt), a.KeyID, count(sumUp.Listed, "device"), sumUp.Active, len(sumUp.Refused), sumUp.Removed, count(sumUp.Queued, "device")))
			if anchor {
				was := st.core.HighWater
				st.core.HighWater = max(t, a.IssuedAt)
				st.journalAdd(t, "clock", fmt.Sprintf("last time seen re-anchored from %s to %s by the activation for request %x, issued %s",
					codes.FormatTime(was), codes.FormatTime(st.core.HighWater), a.Nonce, codes.FormatTime(a.IssuedAt)))
			}
			st.core.HighWater = max(st.core.HighWater, a.IssuedAt)
		}}, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// notPendingError says why an activation's nonce is not pending.
func (f *fleetState) notPendingError(a *codes.Activation) error {
	has := func(list [][]byte) bool {
		return slices.ContainsFunc(list, func(n []byte) bool { return bytes.Equal(n, a.Nonce) })
	}
	switch {
	case bytes.Equal(a.Nonce, f.core.Nonce):
		return fmt.Errorf("%w: activation request %x was answered by the activation file installed (issued %s); this one, issued %s, answers it again",
			ErrActivationNotPending, a.Nonce, codes.FormatTime(f.core.IssuedAt), codes.FormatTime(a.IssuedAt))
	case has(f.core.Answered):
		return fmt.Errorf("%w: activation request %x was answered by an activation file installed before, since replaced: installing it again would bring back an older device table",
			ErrActivationNotPending, a.Nonce)
	case has(f.core.Superseded):
		return fmt.Errorf("%w: activation request %x was superseded (a later request's answer was installed, or newer requests pushed it out): install the answer to the latest request, or make a new one",
			ErrActivationNotPending, a.Nonce)
	}
	return fmt.Errorf("%w: activation request %x was not made by this instance, or is too old to be remembered: make a new activation request", ErrActivationNotPending, a.Nonce)
}

// checkActivationClock refuses an activation while the clock is behind its
// issue time by more than the tolerance. A clock behind only the last
// time seen is re-anchored (anchor): the activation answers a pending
// request, so it is fresh authority time, and the clock agrees with it.
func (in *Instance) checkActivationClock(st *state, f *fleetState, a *codes.Activation, t int64) (anchor bool, err error) {
	if in.advisory(st) {
		return false, nil
	}
	tol := int64(in.opts.tolerance / time.Second)
	if t < a.IssuedAt-tol {
		return false, fmt.Errorf("%w: the system clock %s is %s behind the activation file's issue time %s: set the clock right, then install again",
			ErrClock, codes.FormatTime(t), span(a.IssuedAt-t), codes.FormatTime(a.IssuedAt))
	}
	return t < max(in.clockFloor(st), in.fleetFloor(f)), nil
}

// DeviceActive reports whether device dk of product pk is active now: the
// installed activation gives it a window that covers now.
//
// The clock is trusted only forward, as for dated licenses: the window is
// judged at the later of the clock and the activation's issue time (so a
// clock a little behind the authority never makes a fresh window "not
// started"), and while the clock is behind the last time seen, or the
// activation's issue time, by more than the tolerance (a clock anomaly),
// no device is active, unless the clock is advisory (WithAdvisoryClock):
// setting the clock back never brings an ended window back. The last time
// seen moves with every write of the state or the fleet.
//
// It reads memory only, allocates nothing and takes no lock: the fleet is
// read from the folder the first time, and again by Refresh or a change
// made through this Instance. A fleet that cannot be read makes every
// device inactive (FleetStatus says why).
func (in *Instance) DeviceActive(pk, dk string) bool {
	f := in.fleetNow()
	e, ok := f.table[devKey{pk, dk}]
	if !ok || e.reason != 0 {
		return false
	}
	now := in.opts.unix()
	t := max(now, f.core.IssuedAt)
	return e.from <= t && t < e.until && in.fleetClockOK(f, now)
}

// fleetClockOK reports whether device windows may be judged at now.
func (in *Instance) fleetClockOK(f *fleetState, now int64) bool {
	s := in.snap.Load()
	return s.advisory || now >= f.floor && now >= s.floor.Load()
}

// Device returns what the gateway knows of device dk of product pk now,
// and false for a device it does not know (neither queued nor in the
// installed activation). Like DeviceActive it reads memory only.
func (in *Instance) Device(pk, dk string) (DeviceStatus, bool) {
	f := in.fleetNow()
	now := in.opts.unix()
	return f.status(devKey{pk, dk}, now, in.fleetClockOK(f, now))
}

func (f *fleetState) status(k devKey, now int64, clockOK bool) (DeviceStatus, bool) {
	s := DeviceStatus{ProductKey: k.pk, DeviceKey: k.dk}
	_, s.Queued = f.queue[k]
	e, listed := f.table[k]
	switch {
	case listed && e.reason == 0:
		s.From, s.Until = time.Unix(e.from, 0).UTC(), time.Unix(e.until, 0).UTC()
		switch t := max(now, f.core.IssuedAt); {
		case t >= e.until:
			s.State = DeviceExpired
		case t < e.from:
			s.State = DeviceNotStarted
		case !clockOK:
			s.State = DeviceClockBehind
		default:
			s.State = DeviceActive
		}
	case s.Queued:
		s.State, s.Reason = DeviceQueued, e.reason
	case listed:
		s.State, s.Reason = DeviceRefused, e.reason
	default:
		return s, false
	}
	return s, true
}

// readFleetCurrent rereads the state and the fleet if another process
// changed them, for the administrator's views.
func (in *Instance) readFleetCurrent() (*fleetState, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if _, err := in.reloadLocked(); err != nil {
		return nil, err
	}
	return in.reloadFleetLocked()
}

// Devices lists the devices the gateway knows, queued or in the installed
// activation, of product pk or of every product if pk is "", sorted by
// product and device key. It rereads the fleet if another process changed
// it. It fails with the reason when the installed activation's table is
// not usable (FleetStatus.Problem).
func (in *Instance) Devices(pk string) ([]DeviceStatus, error) {
	f, err := in.readFleetCurrent()
	if err != nil {
		return nil, err
	}
	if f.actErr != nil {
		return nil, f.actErr
	}
	keys := make([]devKey, 0, len(f.table)+len(f.queue))
	for k := range f.table {
		if pk == "" || k.pk == pk {
			keys = append(keys, k)
		}
	}
	for k := range f.queue {
		if _, dup := f.table[k]; !dup && (pk == "" || k.pk == pk) {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b devKey) int {
		if a.less(b) {
			return -1
		}
		if b.less(a) {
			return 1
		}
		return 0
	})
	now := in.opts.unix()
	ok := in.fleetClockOK(f, now)
	out := make([]DeviceStatus, len(keys))
	for i, k := range keys {
		out[i], _ = f.status(k, now, ok)
	}
	return out, nil
}

// Fleet sums up the gateway's fleet: the installed activation and its
// counts, the queue and the pending activation requests. It rereads the
// fleet if another process changed it.
func (in *Instance) Fleet() (*FleetStatus, error) {
	f, err := in.readFleetCurrent()
	if err != nil {
		return nil, err
	}
	s := &FleetStatus{Queued: len(f.queue), Problem: f.actErr}
	if f.core.Activation != nil {
		s.Activation = &InstalledActivation{Nonce: bytes.Clone(f.core.Nonce), IssuedAt: time.Unix(f.core.IssuedAt, 0).UTC()}
		if f.act != nil {
			s.Activation.KeyID = f.act.KeyID
		}
	}
	now := in.opts.unix()
	ok := in.fleetClockOK(f, now)
	products := map[string]struct{}{}
	for k, e := range f.table {
		products[k.pk] = struct{}{}
		if e.reason != 0 {
			s.Refused++
			continue
		}
		s.Listed++
		if t := max(now, f.core.IssuedAt); ok && e.from <= t && t < e.until {
			s.Active++
		}
	}
	for k := range f.queue {
		products[k.pk] = struct{}{}
	}
	s.Products = len(products)
	for _, p := range f.core.Pending {
		var id codes.KeyID
		copy(id[:], p.KeyID)
		s.Pending = append(s.Pending, PendingActivation{Nonce: bytes.Clone(p.Nonce), IssuedAt: time.Unix(p.IssuedAt, 0).UTC(), KeyID: id, Devices: int(p.Devices)})
	}
	return s, nil
}

// count writes n and a noun, plural unless n is 1.
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
