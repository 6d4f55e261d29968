package instance

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/codes"
)

// A fleetDesk plays the authority's side of device activation for a
// bench's gateway: it remembers the devices it activated, gives new ones a
// window from now, refuses the products it is told to, and answers every
// request with all the devices it holds, as the authority does.
type fleetDesk struct {
	b        *bench
	held     map[devKey]codes.DeviceWindow // by product and device
	refuse   map[string]codes.Refusal      // by product key
	validity time.Duration
}

func newDesk(b *bench) *fleetDesk {
	return &fleetDesk{b: b, held: map[devKey]codes.DeviceWindow{}, refuse: map[string]codes.Refusal{}, validity: 365 * day}
}

// request makes an activation request on in (the bench's instance if nil)
// and opens it as the authority does.
func (d *fleetDesk) request(in *Instance) *codes.ActivationRequest {
	d.b.t.Helper()
	if in == nil {
		in = d.b.in
	}
	code, err := in.ActivationRequest()
	d.b.must(err)
	r, err := codes.OpenActivationRequest(code, d.b.f.Authority)
	d.b.must(err)
	if !r.UDI.Equal(d.b.f.UDI) || !bytes.Equal(r.InstanceKey, d.b.in.PublicKey()) {
		d.b.t.Fatalf("activation request names %s and key %x", r.UDI, r.InstanceKey)
	}
	return r
}

// answer signs the activation answering r at the clock's now.
func (d *fleetDesk) answer(r *codes.ActivationRequest) []byte {
	d.b.t.Helper()
	now := d.b.clock.Now()
	refused := map[devKey]codes.Refusal{}
	for _, g := range r.Products {
		for _, dk := range g.Devices {
			k := devKey{g.ProductKey, dk}
			if why, ok := d.refuse[g.ProductKey]; ok {
				refused[k] = why
				continue
			}
			if _, ok := d.held[k]; !ok {
				d.held[k] = codes.DeviceWindow{DeviceKey: dk, From: now.Unix(), Until: now.Add(d.validity).Unix()}
			}
		}
	}
	return d.sign(r.Nonce, now, refused)
}

// sign signs an activation of nonce, issued at, listing every held device
// and the refusals given.
func (d *fleetDesk) sign(nonce []byte, at time.Time, refused map[devKey]codes.Refusal) []byte {
	d.b.t.Helper()
	return d.signFor(&codes.Activation{UDI: d.b.f.UDI, InstanceKey: codes.InstanceKeyHash(d.b.in.PublicKey()), Nonce: nonce, IssuedAt: at.Unix()}, refused, d.b.f.Authority)
}

func (d *fleetDesk) signFor(a *codes.Activation, refused map[devKey]codes.Refusal, key *codes.AuthorityKey) []byte {
	d.b.t.Helper()
	byPK := map[string]*codes.DeviceValidity{}
	get := func(pk string) *codes.DeviceValidity {
		if byPK[pk] == nil {
			byPK[pk] = &codes.DeviceValidity{ProductKey: pk}
		}
		return byPK[pk]
	}
	for k, w := range d.held {
		g := get(k.pk)
		g.Active = append(g.Active, w)
	}
	for k, why := range refused {
		g := get(k.pk)
		g.Refused = append(g.Refused, codes.DeviceRefusal{DeviceKey: k.dk, Reason: why})
	}
	for _, pk := range slices.Sorted(mapsKeys(byPK)) {
		g := byPK[pk]
		slices.SortFunc(g.Active, func(a, b codes.DeviceWindow) int { return strings.Compare(a.DeviceKey, b.DeviceKey) })
		slices.SortFunc(g.Refused, func(a, b codes.DeviceRefusal) int { return strings.Compare(a.DeviceKey, b.DeviceKey) })
		a.Products = append(a.Products, *g)
	}
	code, err := codes.SignActivation(a, key)
	d.b.must(err)
	return code
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// round queues nothing, requests, answers and installs on the bench's
// instance; it returns the summary.
func (d *fleetDesk) round() *ActivationSummary {
	d.b.t.Helper()
	s, err := d.b.in.InstallActivation(d.answer(d.request(nil)))
	d.b.must(err)
	return s
}

func (b *bench) device(pk, dk string) DeviceStatus {
	b.t.Helper()
	s, _ := b.in.Device(pk, dk)
	return s
}

func (b *bench) fleetStatus() *FleetStatus {
	b.t.Helper()
	s, err := b.in.Fleet()
	b.must(err)
	return s
}

// fleetFiles returns the fleet's files in the folder, by name, and the
// state file: what a refused operation must leave as it was.
func (b *bench) fleetFiles() map[string]string {
	b.t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(b.dir)
	b.must(err)
	for _, e := range entries {
		if n := e.Name(); n == fleetName || n == stateName || strings.HasPrefix(n, activationPrefix) || strings.HasPrefix(n, tempPrefix) {
			data, err := os.ReadFile(filepath.Join(b.dir, n))
			b.must(err)
			out[n] = string(data)
		}
	}
	return out
}

func (b *bench) journalEvents() []string {
	b.t.Helper()
	j, err := b.in.Journal()
	b.must(err)
	var out []string
	for _, e := range j {
		out = append(out, e.Event)
	}
	return out
}

// TestActivationRoundTrip: queued devices go in the request sorted by
// product and device, the answer makes them active, takes them out of the
// queue, and both steps are journaled. The gateway is still in evaluation:
// any mode may activate devices.
func TestActivationRoundTrip(t *testing.T) {
	b := newBench(t)
	d := newDesk(b)
	b.must(b.in.QueueDevices("sensor.v2", "dev-b", "dev-a", "dev-b"))
	b.must(b.in.QueueDevices("cam.x1", "c:01"))
	if s := b.device("sensor.v2", "dev-a"); s.State != DeviceQueued || !s.Queued || b.in.DeviceActive("sensor.v2", "dev-a") {
		t.Errorf("queued device: %+v", s)
	}
	if fs := b.fleetStatus(); fs.Queued != 3 || fs.Products != 2 || fs.Activation != nil {
		t.Errorf("fleet before the request: %+v", fs)
	}
	r := d.request(nil)
	want := []codes.DeviceGroup{{ProductKey: "cam.x1", Devices: []string{"c:01"}}, {ProductKey: "sensor.v2", Devices: []string{"dev-a", "dev-b"}}}
	if fmt.Sprint(r.Products) != fmt.Sprint(want) || r.IssuedAt != t0.Unix() {
		t.Fatalf("request lists %v at %d, want %v", r.Products, r.IssuedAt, want)
	}
	if fs := b.fleetStatus(); len(fs.Pending) != 1 || !bytes.Equal(fs.Pending[0].Nonce, r.Nonce) || fs.Pending[0].Devices != 3 || fs.Queued != 3 {
		t.Errorf("fleet after the request: %+v", fs)
	}
	b.clock.add(time.Hour)
	sum, err := b.in.InstallActivation(d.answer(r))
	b.must(err)
	if sum.Listed != 3 || sum.Active != 3 || sum.Answered != 3 || sum.Queued != 0 || len(sum.Refused) != 0 || sum.Removed != 0 || !bytes.Equal(sum.Nonce, r.Nonce) || sum.KeyID != b.f.Authority.ID() {
		t.Errorf("summary %+v", sum)
	}
	for _, k := range []devKey{{"cam.x1", "c:01"}, {"sensor.v2", "dev-a"}, {"sensor.v2", "dev-b"}} {
		if !b.in.DeviceActive(k.pk, k.dk) {
			t.Errorf("%v not active", k)
		}
		s := b.device(k.pk, k.dk)
		if s.State != DeviceActive || s.Queued || !s.From.Equal(t0.Add(time.Hour)) || !s.Until.Equal(t0.Add(time.Hour+365*day)) {
			t.Errorf("%v: %+v", k, s)
		}
	}
	if b.in.DeviceActive("sensor.v2", "dev-c") || b.in.DeviceActive("cam.x1", "dev-a") {
		t.Error("a device never activated is active")
	}
	if s, known := b.in.Device("sensor.v2", "dev-c"); known || s.State != DeviceUnknown {
		t.Errorf("unknown device: %+v, %v", s, known)
	}
	fs := b.fleetStatus()
	if fs.Activation == nil || !bytes.Equal(fs.Activation.Nonce, r.Nonce) || fs.Listed != 3 || fs.Active != 3 || fs.Queued != 0 || len(fs.Pending) != 0 || fs.Problem != nil {
		t.Errorf("fleet after install: %+v", fs)
	}
	if ev := b.journalEvents(); !slices.Equal(ev[len(ev)-2:], []string{"activation-request", "activation-install"}) {
		t.Errorf("journal %v", ev)
	}
	if m := b.mode(); m != ModeEvaluation {
		t.Errorf("mode %s after activating devices", m)
	}
	// The activation raised the last time seen to its issue time.
	st, err := b.in.Status()
	b.must(err)
	if st.HighWater.Before(t0.Add(time.Hour)) {
		t.Errorf("high-water %s", st.HighWater)
	}
}

// TestInstallReplacesTheTable: each activation file is the whole table;
// a device it no longer lists was deleted at the authority and is gone.
func TestInstallReplacesTheTable(t *testing.T) {
	b := newBench(t)
	d := newDesk(b)
	b.must(b.in.QueueDevices("p", "d1", "d2", "d3"))
	d.round()
	delete(d.held, devKey{"p", "d2"})
	b.must(b.in.QueueDevices("p", "d4"))
	b.clock.add(day)
	sum := d.round()
	if sum.Listed != 3 || sum.Removed != 1 || sum.Answered != 1 {
		t.Errorf("summary %+v", sum)
	}
	if b.in.DeviceActive("p", "d2") {
		t.Error("the deleted device is still active")
	}
	if _, known := b.in.Device("p", "d2"); known {
		t.Error("the deleted device is still known")
	}
	for _, dk := range []string{"d1", "d3", "d4"} {
		if !b.in.DeviceActive("p", dk) {
			t.Errorf("%s not active", dk)
		}
	}
	list, err := b.in.Devices("")
	b.must(err)
	var names []string
	for _, s := range list {
		names = append(names, s.DeviceKey)
	}
	if !slices.Equal(names, []string{"d1", "d3", "d4"}) {
		t.Errorf("devices %v", names)
	}
	// One activation file in the folder: the old one is removed.
	var files []string
	for n := range b.fleetFiles() {
		if strings.HasPrefix(n, activationPrefix) || strings.HasPrefix(n, tempPrefix) {
			files = append(files, n)
		}
	}
	if len(files) != 1 {
		t.Errorf("activation files %v", files)
	}
}

// TestRefusedDevices: refused devices leave the queue, say why, are never
// active, and may be queued again to retry.
func TestRefusedDevices(t *testing.T) {
	b := newBench(t)
	d := newDesk(b)
	d.refuse["dry.pool"] = codes.RefusedNoCodes
	b.must(b.in.QueueDevices("dry.pool", "x1", "x2"))
	b.must(b.in.QueueDevices("ok", "y1"))
	sum := d.round()
	if len(sum.Refused) != 2 || sum.Refused[0] != (RefusedDevice{"dry.pool", "x1", codes.RefusedNoCodes}) || sum.Active != 1 || sum.Queued != 0 {
		t.Errorf("summary %+v", sum)
	}
	s := b.device("dry.pool", "x1")
	if s.State != DeviceRefused || s.Reason != codes.RefusedNoCodes || s.Queued || b.in.DeviceActive("dry.pool", "x1") {
		t.Errorf("refused device: %+v", s)
	}
	if fs := b.fleetStatus(); fs.Refused != 2 || fs.Listed != 1 {
		t.Errorf("fleet %+v", fs)
	}
	// The pool is refilled; the device is queued again, and then activated.
	b.must(b.in.QueueDevices("dry.pool", "x1"))
	if s := b.device("dry.pool", "x1"); s.State != DeviceQueued || s.Reason != codes.RefusedNoCodes {
		t.Errorf("queued again: %+v", s)
	}
	delete(d.refuse, "dry.pool")
	sum = d.round()
	if sum.Answered != 1 || len(sum.Refused) != 0 || !b.in.DeviceActive("dry.pool", "x1") {
		t.Errorf("retry: %+v", sum)
	}
	// The refusal of x2 is not repeated: the authority lists the refused
	// devices of the request only.
	if _, known := b.in.Device("dry.pool", "x2"); known {
		t.Error("x2 is still known after an activation that does not list it")
	}
}

// TestRefreshWithNoDevices: a request of an empty queue asks for the
// current windows, and the answer renews them.
func TestRefreshWithNoDevices(t *testing.T) {
	b := newBench(t)
	d := newDesk(b)
	d.validity = 30 * day
	b.must(b.in.QueueDevices("p", "d1"))
	d.round()
	b.clock.add(31 * day)
	if b.in.DeviceActive("p", "d1") || b.device("p", "d1").State != DeviceExpired {
		t.Fatalf("after its window: %+v", b.device("p", "d1"))
	}
	r := d.request(nil)
	if len(r.Products) != 0 || r.Count() != 0 {
		t.Fatalf("refresh lists %v", r.Products)
	}
	// The authority renewed the device.
	now := b.clock.Now()
	d.held[devKey{"p", "d1"}] = codes.DeviceWindow{DeviceKey: "d1", From: now.Unix(), Until: now.Add(30 * day).Unix()}
	sum, err := b.in.InstallActivation(d.answer(r))
	b.must(err)
	if sum.Listed != 1 || sum.Active != 1 || sum.Answered != 0 || !b.in.DeviceActive("p", "d1") {
		t.Errorf("after the refresh: %+v, %+v", sum, b.device("p", "d1"))
	}
}

// TestExpiredWindow: a window ends at Until, exclusive; the device stays
// listed as expired, not unknown.
func TestExpiredWindow(t *testing.T) {
	b := newBench(t)
	d := newDesk(b)
	d.validity = 10 * day
	b.must(b.in.QueueDevices("p", "d1"))
	d.round()
	b.clock.set(t0.Add(10*day - time.Second))
	if !b.in.DeviceActive("p", "d1") {
		t.Error("inactive a second before its end")
	}
	b.clock.set(t0.Add(10 * day))
	s, known := b.in.Device("p", "d1")
	if b.in.DeviceActive("p", "d1") || !known || s.State != DeviceExpired || !s.Until.Equal(t0.Add(10*day)) {
		t.Errorf("at its end: %+v", s)
	}
	if fs := b.fleetStatus(); fs.Listed != 1 || fs.Active != 0 {
		t.Errorf("fleet %+v", fs)
	}
}

// TestWindowNotStartedIsJudgedAtAuthorityTime: a clock a little behind the
// authority (within the tolerance) still sees a window that starts at the
// activation's issue time as started; a window that starts later is not.
func TestWindowNotStartedIsJudgedAtAuthorityTime(t *testing.T) {
	b := newBench(t)
	d := newDesk(b)
	r := d.request(nil)
	b.clock.add(2 * time.Hour)
	d.held[devKey{"p", "now"}] = codes.DeviceWindow{DeviceKey: "now", From: b.clock.Now().Unix(), Until: b.clock.at(day).Unix()}
	d.held[devKey{"p", "later"}] = codes.DeviceWindow{DeviceKey: "later", From: b.clock.at(5 * day).Unix(), Until: b.clock.at(9 * day).Unix()}
	code := d.answer(r)
	b.clock.add(-2 * time.Hour) // the gateway's clock is two hours behind
	_, err := b.in.InstallActivation(code)
	b.must(err)
	if !b.in.DeviceActive("p", "now") {
		t.Errorf("a window starting at the issue time: %+v", b.device("p", "now"))
	}
	if b.in.DeviceActive("p", "later") || b.device("p", "later").State != DeviceNotStarted {
		t.Errorf("a window starting in 5 days: %+v", b.device("p", "later"))
	}
}

// TestClockSetBackNeverRevivesADevice is T78 for device windows: after
// the window ended and the gateway saw that time, setting the clock back
// fails closed; a small step back changes nothing; an advisory clock only
// warns.
func TestClockSetBackNeverRevivesADevice(t *testing.T) {
	b := newBench(t)
	d := newDesk(b)
	d.validity = 30 * day
	b.must(b.in.QueueDevices("p", "d1", "d2"))
	d.round()
	b.clock.add(40 * day)
	b.must(b.in.QueueDevices("p", "d3")) // a fleet change sees the time
	b.clock.add(-90 * time.Second)
	if b.in.DeviceActive("p", "d1") || b.device("p", "d1").State != DeviceExpired {
		t.Errorf("a small step back: %+v", b.device("p", "d1"))
	}
	b.clock.set(t0.Add(10 * day))
	if b.in.DeviceActive("p", "d1") {
		t.Error("setting the clock back revived the device")
	}
	if s := b.device("p", "d1"); s.State != DeviceClockBehind {
		t.Errorf("clock set back: %+v", s)
	}
	// Another process, reading the same folder, sees it too.
	if b.open().DeviceActive("p", "d2") {
		t.Error("setting the clock back revived the device in a new process")
	}
	if !b.open(WithAdvisoryClock()).DeviceActive("p", "d1") {
		t.Error("an advisory clock refuses the window it is in")
	}
	// The instance's own high-water counts too: a state write at +40 days.
	b2 := newBench(t)
	d2 := newDesk(b2)
	d2.validity = 30 * day
	b2.must(b2.in.QueueDevices("p", "d1"))
	d2.round()
	b2.clock.add(40 * day)
	b2.must(b2.in.Enable())
	b2.clock.set(t0.Add(10 * day))
	if b2.in.DeviceActive("p", "d1") {
		t.Error("setting the clock back below the state's high-water revived the device")
	}
}

// TestInstallRefusedWhileClockBehindIssueTime: an activation issued more
// than the tolerance after the gateway's clock does not install.
func TestInstallRefusedWhileClockBehindIssueTime(t *testing.T) {
	b := newBench(t)
	d := newDesk(b)
	b.must(b.in.QueueDevices("p", "d1"))
	r := d.request(nil)
	b.clock.add(3 * day)
	code := d.answer(r)
	b.clock.add(-3 * day)
	before := b.fleetFiles()
	_, err := b.in.InstallActivation(code)
	wantErr(t, err, ErrClock, "behind the activation file's issue time")
	if !mapsEqual(before, b.fleetFiles()) {
		t.Error("the refused install changed the folder")
	}
	b.clock.add(3 * day)
	_, err = b.in.InstallActivation(code)
	b.must(err)
}

// TestActivationReanchorsAClockSetForward is T80 for a gateway: the clock
// set ten years ahead by mistake, then corrected, refuses every device
// until a fresh activation answering a pending request re-anchors it.
func TestActivationReanchorsAClockSetForward(t *testing.T) {
	b := newBench(t)
	d := newDesk(b)
	b.must(b.in.QueueDevices("p", "d1"))
	d.round()
	b.clock.add(3650 * day)
	b.must(b.in.QueueDevices("p", "d2"))
	b.clock.set(t0.Add(day))
	if b.in.DeviceActive("p", "d1") {
		t.Fatal("active while the clock is behind the last time seen")
	}
	sum := d.round()
	if sum.Active != 2 || !b.in.DeviceActive("p", "d1") || !b.in.DeviceActive("p", "d2") {
		t.Errorf("after the re-anchoring activation: %+v, %+v", sum, b.device("p", "d1"))
	}
	ev := b.journalEvents()
	if !slices.Contains(ev, "clock") {
		t.Errorf("journal %v has no clock entry", ev)
	}
	if w := b.in.Warnings(); len(w) != 0 {
		t.Errorf("warnings after re-anchoring: %v", w)
	}
}

// TestReplayedOrOlderActivationRefused: the installed file again, a file
// answering a request answered before, a superseded request, an unknown
// request, and a file issued before the installed one are each refused
// with their reason, and change nothing.
func TestReplayedOrOlderActivationRefused(t *testing.T) {
	b := newBench(t)
	d := newDesk(b)
	b.must(b.in.QueueDevices("p", "d1"))
	r1 := d.request(nil)
	a1 := d.answer(r1)
	_, err := b.in.InstallActivation(a1)
	b.must(err)

	refused := func(code []byte, sentinel error, parts ...string) {
		t.Helper()
		before := b.fleetFiles()
		_, err := b.in.InstallActivation(code)
		wantErr(t, err, sentinel, parts...)
		if !mapsEqual(before, b.fleetFiles()) {
			t.Error("the refused install changed the folder")
		}
	}
	refused(a1, ErrActivationInstalled, fmt.Sprintf("%x", r1.Nonce))
	b.clock.add(time.Minute)
	refused(d.answer(r1), ErrActivationNotPending, "was answered by the activation file installed")

	b.clock.add(time.Minute)
	b.must(b.in.QueueDevices("p", "d2"))
	d.round()
	refused(a1, ErrActivationNotPending, "answered by an activation file installed before")

	// Two requests pending; the later one's answer supersedes the first.
	r3, r4 := d.request(nil), d.request(nil)
	b.clock.add(time.Minute)
	a3 := d.answer(r3)
	_, err = b.in.InstallActivation(d.answer(r4))
	b.must(err)
	refused(a3, ErrActivationNotPending, "superseded")
	refused(d.sign(randomNonce(), b.clock.Now(), nil), ErrActivationNotPending, "not made by this instance")

	// Two requests pending; the first answered later than the second.
	r5, r6 := d.request(nil), d.request(nil)
	b.clock.add(time.Minute)
	a6 := d.answer(r6)
	b.clock.add(time.Minute)
	_, err = b.in.InstallActivation(d.answer(r5))
	b.must(err)
	refused(a6, ErrActivationNotNewer, "older device table")
	if fs := b.fleetStatus(); len(fs.Pending) != 1 || !bytes.Equal(fs.Pending[0].Nonce, r6.Nonce) {
		t.Errorf("pending after the refusals: %+v", fs.Pending)
	}
}

// TestPendingActivationRequestsAreCapped: the ninth request supersedes the
// first.
func TestPendingActivationRequestsAreCapped(t *testing.T) {
	b := newBench(t)
	d := newDesk(b)
	first := d.request(nil)
	for range maxActivationPending {
		d.request(nil)
	}
	if fs := b.fleetStatus(); len(fs.Pending) != maxActivationPending {
		t.Errorf("%d pending", len(fs.Pending))
	}
	_, err := b.in.InstallActivation(d.answer(first))
	wantErr(t, err, ErrActivationNotPending, "superseded")
}

// TestActivationForAnotherGatewayRefused: another UDI, another key, a key
// the trust set does not hold.
func TestActivationForAnotherGatewayRefused(t *testing.T) {
	b := newBench(t)
	d := newDesk(b)
	b.must(b.in.QueueDevices("p", "d1"))
	r := d.request(nil)
	d.held[devKey{"p", "d1"}] = codes.DeviceWindow{DeviceKey: "d1", From: t0.Unix(), Until: t0.Add(day).Unix()}
	other := b.f.UDI
	other.SN = "other"
	before := b.fleetFiles()
	for name, c := range map[string]struct {
		a        *codes.Activation
		key      *codes.AuthorityKey
		sentinel error
	}{
		"other UDI": {&codes.Activation{UDI: other, InstanceKey: codes.InstanceKeyHash(b.in.PublicKey()), Nonce: r.Nonce, IssuedAt: t0.Unix()}, b.f.Authority, codes.ErrWrongInstance},
		"other key": {&codes.Activation{UDI: b.f.UDI, InstanceKey: b.f.Other.Hash(), Nonce: r.Nonce, IssuedAt: t0.Unix()}, b.f.Authority, codes.ErrWrongInstance},
		"rogue":     {&codes.Activation{UDI: b.f.UDI, InstanceKey: codes.InstanceKeyHash(b.in.PublicKey()), Nonce: r.Nonce, IssuedAt: t0.Unix()}, b.f.Rogue, codes.ErrUnknownKey},
	} {
		_, err := b.in.InstallActivation(d.signFor(c.a, nil, c.key))
		if !errors.Is(err, c.sentinel) {
			t.Errorf("%s: %v, want %v", name, err, c.sentinel)
		}
	}
	if !mapsEqual(before, b.fleetFiles()) || b.in.DeviceActive("p", "d1") {
		t.Error("a refused activation changed the fleet")
	}
	if fs := b.fleetStatus(); len(fs.Pending) != 1 || fs.Queued != 1 {
		t.Errorf("fleet %+v", fs)
	}
}

// TestHostileActivationInputChangesNothing: garbage, every truncation, a
// flipped signature bit, another kind of code, and oversize input are
// refused, and the folder stays as it was.
func TestHostileActivationInputChangesNothing(t *testing.T) {
	b := newBench(t)
	d := newDesk(b)
	b.must(b.in.QueueDevices("p", "d1", "d2"))
	d.round()
	b.must(b.in.QueueDevices("p", "d3"))
	r := d.request(nil)
	good := d.answer(r)
	before := b.fleetFiles()
	var inputs [][]byte
	for i := 0; i < len(good); i += 1 + len(good)/64 {
		inputs = append(inputs, good[:i])
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)-1] ^= 1
	inputs = append(inputs, flipped, append(bytes.Clone(good), 0),
		[]byte("garbage"), []byte{}, bytes.Repeat([]byte{0x9b}, 9), bytes.Repeat([]byte{0x81}, 10000),
		codes.EncodeArmor(codes.KindAuthorization, b.sign(grant{nonce: r.Nonce})),
		codes.EncodeArmor(codes.KindActivation, flipped),
		bytes.Repeat([]byte{0xa0}, 70<<20))
	for i, in := range inputs {
		if _, err := b.in.InstallActivation(in); err == nil {
			t.Fatalf("input %d (%d bytes) installed", i, len(in))
		}
	}
	if !mapsEqual(before, b.fleetFiles()) {
		t.Error("hostile input changed the folder")
	}
	if !b.in.DeviceActive("p", "d1") || b.in.DeviceActive("p", "d3") {
		t.Error("hostile input changed the table")
	}
	// The good file still installs.
	sum, err := b.in.InstallActivation(codes.EncodeArmor(codes.KindActivation, good))
	b.must(err)
	if sum.Answered != 1 || !b.in.DeviceActive("p", "d3") {
		t.Errorf("summary %+v", sum)
	}
}

// TestQueueRefusesBadKeys: a bad key refuses the whole call, before
// anything is written.
func TestQueueRefusesBadKeys(t *testing.T) {
	b := newBench(t)
	for _, c := range []struct{ pk, dk, says string }{
		{"", "d1", "product key is empty"},
		{"p", "", "device key is empty"},
		{"p q", "d1", "position 2"},
		{"p", "d/1", "'/' at position 2"},
		{"p", strings.Repeat("x", codes.MaxDeviceKeyLen+1), "the limit is 64"},
	} {
		err := b.in.QueueDevices(c.pk, "ok", c.dk)
		wantErr(t, err, codes.ErrInvalid, c.says)
	}
	_, err := b.in.QueueDeviceGroups([]codes.DeviceGroup{{ProductKey: "a", Devices: []string{"1"}}, {ProductKey: "b", Devices: []string{"é"}}})
	wantErr(t, err, codes.ErrInvalid, `product "b"`)
	if _, err := os.Stat(filepath.Join(b.dir, fleetName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused queue wrote the fleet: %v", err)
	}
	b.must(b.in.QueueDevices("p")) // nothing to queue: nothing written
	if _, err := os.Stat(filepath.Join(b.dir, fleetName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an empty queue call wrote the fleet: %v", err)
	}
}

// TestQueueIsBounded: more than codes.MaxActivationDevices queued devices
// are refused as a whole.
func TestQueueIsBounded(t *testing.T) {
	b := newBench(t)
	dks := make([]string, codes.MaxActivationDevices)
	for i := range dks {
		dks[i] = fmt.Sprintf("d%06d", i)
	}
	n, err := b.in.QueueDeviceGroups([]codes.DeviceGroup{{ProductKey: "p", Devices: dks[:10]}})
	b.must(err)
	if n != 10 {
		t.Errorf("%d queued, want 10", n)
	}
	_, err = b.in.QueueDeviceGroups([]codes.DeviceGroup{{ProductKey: "p", Devices: dks}, {ProductKey: "q", Devices: dks[:11]}})
	wantErr(t, err, ErrQueueFull, "the queue holds 10 devices")
	if fs := b.fleetStatus(); fs.Queued != 10 {
		t.Errorf("queue %d after the refusal", fs.Queued)
	}
	// Duplicates merge: the same devices again add nothing.
	n, err = b.in.QueueDeviceGroups([]codes.DeviceGroup{{ProductKey: "p", Devices: dks[:10]}, {ProductKey: "p", Devices: dks[5:12]}})
	b.must(err)
	if n != 2 {
		t.Errorf("%d queued, want 2", n)
	}
}

// TestQueueKeptAcrossOpen: the queue, pending requests and table are in
// the folder: another process sees them, and an activation requested by
// one installs in another.
func TestQueueKeptAcrossOpen(t *testing.T) {
	b := newBench(t)
	d := newDesk(b)
	b.must(b.in.QueueDevices("p", "d1", "d2"))
	other := b.open()
	list, err := other.Devices("p")
	b.must(err)
	if len(list) != 2 || list[0].State != DeviceQueued || list[1].DeviceKey != "d2" {
		t.Errorf("devices in another process: %+v", list)
	}
	r := d.request(other)
	if r.Count() != 2 {
		t.Errorf("request from another process lists %d devices", r.Count())
	}
	b.must(b.in.QueueDevices("p", "d3"))
	sum, err := b.open().InstallActivation(d.answer(r))
	b.must(err)
	if sum.Queued != 1 {
		t.Errorf("summary %+v", sum)
	}
	// The first instance sees the install after Refresh only.
	if b.in.DeviceActive("p", "d1") {
		t.Error("the first instance sees the install without Refresh")
	}
	b.must(b.in.Refresh())
	if !b.in.DeviceActive("p", "d1") || b.device("p", "d3").State != DeviceQueued {
		t.Errorf("after Refresh: %+v", b.device("p", "d1"))
	}
	fresh := b.open()
	if !fresh.DeviceActive("p", "d2") {
		t.Error("a new process does not see the installed table")
	}
}

// TestCorruptFleetIsReported: a damaged index is ErrCorrupt for every
// fleet operation and makes every device inactive, never an empty fleet.
func TestCorruptFleetIsReported(t *testing.T) {
	b := newBench(t)
	d := newDesk(b)
	b.must(b.in.QueueDevices("p", "d1"))
	d.round()
	b.must(b.in.QueueDevices("p", "d2"))
	path := filepath.Join(b.dir, fleetName)
	data, err := os.ReadFile(path)
	b.must(err)
	data[len(fleetMagic)+10] ^= 1
	b.must(os.WriteFile(path, data, 0o600))
	in := b.open()
	if in.DeviceActive("p", "d1") {
		t.Error("active with a damaged fleet file")
	}
	_, err = in.Fleet()
	wantErr(t, err, ErrCorrupt, "checksum", path)
	wantErr(t, in.QueueDevices("p", "d3"), ErrCorrupt)
	_, err = in.ActivationRequest()
	wantErr(t, err, ErrCorrupt)
	// The product's licenses do not depend on the fleet.
	if !in.Licensed(tagCamera) {
		t.Error("a damaged fleet stopped the instance's own licenses")
	}
	b.must(os.Remove(path))
	_, err = in.Fleet()
	if err != nil {
		t.Errorf("this process never read a good fleet file, so none is a fresh fleet: %v", err)
	}
	// A process that read it sees it gone.
	b2 := newBench(t)
	b2.must(b2.in.QueueDevices("p", "d1"))
	b2.must(os.Remove(filepath.Join(b2.dir, fleetName)))
	_, err = b2.in.Fleet()
	wantErr(t, err, ErrCorrupt, "is gone")
}

// TestLostActivationFileIsRebuilt: without its activation file, the table
// is unusable (every device inactive, the reason reported) and the queue
// and pending requests are intact: the next activation rebuilds it.
func TestLostActivationFileIsRebuilt(t *testing.T) {
	b := newBench(t)
	d := newDesk(b)
	b.must(b.in.QueueDevices("p", "d1"))
	d.round()
	b.must(b.in.QueueDevices("p", "d2"))
	fs := b.fleetStatus()
	b.must(os.Remove(filepath.Join(b.dir, activationName(mustActivationHash(t, b)))))
	in := b.open()
	if in.DeviceActive("p", "d1") {
		t.Error("active without the activation file")
	}
	st, err := in.Fleet()
	b.must(err)
	if st.Problem == nil || !errors.Is(st.Problem, ErrCorrupt) || st.Queued != 1 || !bytes.Equal(st.Activation.Nonce, fs.Activation.Nonce) {
		t.Errorf("fleet %+v", st)
	}
	_, err = in.Devices("")
	wantErr(t, err, ErrCorrupt, "rebuild")
	b.in = in
	sum := d.round()
	if sum.Listed != 2 || !in.DeviceActive("p", "d1") || !in.DeviceActive("p", "d2") {
		t.Errorf("after rebuilding: %+v", sum)
	}
	if st := b.fleetStatus(); st.Problem != nil {
		t.Errorf("problem after rebuilding: %v", st.Problem)
	}
}

func mustActivationHash(t *testing.T, b *bench) []byte {
	t.Helper()
	f, err := b.in.readFleetCurrent()
	check(t, err)
	return f.core.Activation
}

// TestActivationRequestNeedsAnAuthorityKey: without a key valid now, no
// request is made and nothing changes.
func TestActivationRequestNeedsAnAuthorityKey(t *testing.T) {
	b := newBench(t)
	b.must(b.in.QueueDevices("p", "d1"))
	before := b.fleetFiles()
	b.clock.set(time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC))
	st, err := b.in.Status()
	b.must(err)
	if st.AuthorityKey != nil {
		t.Skip("the fixture's trust set has a key valid in 2200")
	}
	_, err = b.in.ActivationRequest()
	wantErr(t, err, ErrNoAuthorityKey)
	if !mapsEqual(before, b.fleetFiles()) {
		t.Error("a refused request changed the folder")
	}
}

// TestFleetFilesAreSweptAndPrivate: temporary and orphan activation files
// a crash left are removed by the next change; the fleet files are
// private to the owner.
func TestFleetFilesAreSweptAndPrivate(t *testing.T) {
	b := newBench(t)
	d := newDesk(b)
	b.must(b.in.QueueDevices("p", "d1"))
	d.round()
	for _, n := range []string{tempPrefix + fleetName + "-123", tempPrefix + activationPrefix + "ab-1", activationPrefix + "00112233445566778899aabbccddeeff"} {
		b.must(os.WriteFile(filepath.Join(b.dir, n), []byte("x"), 0o600))
	}
	b.must(b.in.QueueDevices("p", "d2"))
	var names []string
	for n := range b.fleetFiles() {
		names = append(names, n)
		fi, err := os.Stat(filepath.Join(b.dir, n))
		b.must(err)
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v", n, fi.Mode().Perm())
		}
	}
	slices.Sort(names)
	if len(names) != 3 || names[0] != activationName(mustActivationHash(t, b)) || names[1] != fleetName || names[2] != stateName {
		t.Errorf("files %v", names)
	}
}

// TestFleetPersistFailureChangesNothing is T76 for the fleet: a failure
// at each step of the writes of an install (the activation file, the
// fleet file, the state's journal entry) leaves the old fleet, in the
// folder and in memory, until the fleet file is renamed; after that the
// install is done and the error says what is missing.
func TestFleetPersistFailureChangesNothing(t *testing.T) {
	// Four steps per atomic write (create, sync, rename, sync the folder),
	// three writes.
	for step := 1; step <= 12; step++ {
		t.Run(fmt.Sprint(step), func(t *testing.T) {
			fsys := &stepFailFS{at: -1}
			b := newBench(t, withFS(fsys))
			d := newDesk(b)
			b.must(b.in.QueueDevices("p", "d1"))
			r := d.request(nil)
			code := d.answer(r)
			before := b.fleetFiles()
			fsys.n, fsys.at = 0, step
			_, err := b.in.InstallActivation(code)
			fsys.at = -1
			wantErr(t, err, ErrPersist)
			msg := err.Error()
			switch {
			case strings.HasSuffix(msg, "; nothing changed"):
				if step > 7 {
					t.Errorf("step %d: nothing changed after the fleet file was renamed", step)
				}
				if b.in.DeviceActive("p", "d1") || b.open().DeviceActive("p", "d1") {
					t.Error("nothing changed, but the device is active")
				}
				if b.fleetFiles()[fleetName] != before[fleetName] {
					t.Error("the fleet file changed")
				}
				_, err = b.in.InstallActivation(code)
				b.must(err)
				if !b.in.DeviceActive("p", "d1") {
					t.Error("the install again did not activate the device")
				}
			case strings.Contains(msg, "may not survive a power loss"), strings.Contains(msg, "journal entry is missing"):
				if step < 7 {
					t.Errorf("step %d: %v", step, err)
				}
				if !b.in.DeviceActive("p", "d1") || !b.open().DeviceActive("p", "d1") {
					t.Error("the install is in place but the device is not active")
				}
			default:
				t.Fatalf("step %d: %v", step, err)
			}
			for n := range b.fleetFiles() {
				if strings.HasPrefix(n, tempPrefix) {
					t.Errorf("temporary file %s left", n)
				}
			}
		})
	}
}

// stepFailFS fails the at-th file system operation.
type stepFailFS struct {
	osFS
	n, at int
}

var errFleetInjected = errors.New("injected fleet fault")

func (f *stepFailFS) fail() bool { f.n++; return f.n == f.at }

func (f *stepFailFS) CreateTemp(dir, pattern string) (tempFile, error) {
	if f.fail() {
		return nil, errFleetInjected
	}
	t, err := f.osFS.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	return &stepFailFile{t, f}, nil
}

func (f *stepFailFS) Rename(o, n string) error {
	if f.fail() {
		return errFleetInjected
	}
	return f.osFS.Rename(o, n)
}

func (f *stepFailFS) SyncDir(d string) error {
	if f.fail() {
		return errFleetInjected
	}
	return f.osFS.SyncDir(d)
}

type stepFailFile struct {
	tempFile
	f *stepFailFS
}

func (f *stepFailFile) Sync() error {
	if f.f.fail() {
		return errFleetInjected
	}
	return f.tempFile.Sync()
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
