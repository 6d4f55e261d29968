package authority_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/authority/store"
	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/testvectors/gen"
)

var ctx = context.Background()

// Tags of the test lots.
const (
	camera    = "vms.camera.core"
	analytics = "vms.analytics"
	hwTag     = "vms.camera.hw"
)

// t0 is the test clock's start: 2025-03-01 12:00 UTC.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func day(s string) int64 {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t.Unix()
}

var (
	fixtureOnce sync.Once
	fixtureVal  *gen.Fixture
)

// fixture returns the fixed keys of the test vectors.
func fixture(t testing.TB) *gen.Fixture {
	fixtureOnce.Do(func() {
		f, err := gen.NewFixture()
		if err != nil {
			panic(err)
		}
		fixtureVal = f
	})
	return fixtureVal
}

// A clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// An env is a ledger in a temporary folder, signed by the fixture's
// authority key, on a test clock.
type env struct {
	t    testing.TB
	dir  string
	path string
	st   *store.Store
	l    *authority.Ledger
	f    *gen.Fixture
	clk  *clock
	opts authority.Options
}

func newEnv(t testing.TB, tweak ...func(*authority.Options)) *env {
	t.Helper()
	f := fixture(t)
	dir := t.TempDir()
	e := &env{t: t, dir: dir, path: newLedgerName(t, dir), f: f, clk: &clock{t: t0}}
	e.opts = authority.Options{Keys: []*codes.AuthorityKey{f.Authority}, Actor: "tester", Now: e.clk.Now}
	for _, fn := range tweak {
		fn(&e.opts)
	}
	st, err := store.Open(e.path, storeOptions(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.st = st
	e.l = authority.New(st, e.opts)
	if err := e.l.Init(ctx, "test desk"); err != nil {
		t.Fatal(err)
	}
	return e
}

// ledger opens another handle on the same file, as another process would.
func (e *env) ledger() *authority.Ledger {
	st, err := store.Open(e.path, storeOptions(false))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { st.Close() })
	return authority.New(st, e.opts)
}

func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// setup adds organizations acme (accounts plant and lab) and globex
// (account hq), and lots to acme/plant: 25 cameras (perpetual), 4
// analytics (term 2025, export-controlled), 2 hardware-bound cameras.
func (e *env) setup() {
	e.t.Helper()
	_, err := e.l.AddOrg(ctx, "acme")
	e.must(err)
	_, err = e.l.AddOrg(ctx, "globex")
	e.must(err)
	for _, a := range [][2]string{{"acme", "plant"}, {"acme", "lab"}, {"globex", "hq"}} {
		_, err := e.l.AddAccount(ctx, a[0], a[1], -1)
		e.must(err)
	}
	e.lot("acme/plant", camera, 25, codes.Perpetual, 0, 0, false)
	e.lot("acme/plant", analytics, 4, codes.Term, day("2025-01-01"), day("2026-01-01"), true)
	e.lot("acme/plant", hwTag, 2, codes.Hardware, 0, 0, false)
}

func (e *env) lot(acct, tag string, n int64, kind codes.EntitlementKind, start, end int64, export bool) *authority.Lot {
	e.t.Helper()
	l, err := e.l.AddLot(ctx, authority.LotSpec{Account: acct, Tag: tag, Count: n, Kind: kind, Start: start, End: end, ExportControlled: export})
	e.must(err)
	return l
}

// verify fails the test unless the ledger verifies (VerifyStore: Verify
// is the vendor's staff's, and the env acts as "tester").
func (e *env) verify() *authority.VerifyReport {
	e.t.Helper()
	r, err := authority.VerifyStore(ctx, e.l.Store())
	if err != nil {
		e.t.Fatalf("verify: %v", err)
	}
	return r
}

// balance returns one account's balance of one tag.
func (e *env) balance(acct, tag string) authority.Balance {
	e.t.Helper()
	bs, err := e.l.Licenses(ctx, acct)
	e.must(err)
	for _, b := range bs {
		if b.Tag == tag {
			return b
		}
	}
	e.t.Fatalf("%s has no %s", acct, tag)
	return authority.Balance{}
}

// wantBalance checks owned, available, reserved and in transition.
func (e *env) wantBalance(acct, tag string, owned, available, reserved, transition int64) {
	e.t.Helper()
	b := e.balance(acct, tag)
	if b.Owned != owned || b.Available != available || b.Reserved != reserved || b.InTransition != transition {
		e.t.Fatalf("%s %s: owned %d available %d reserved %d in transition %d; want %d %d %d %d",
			acct, tag, b.Owned, b.Available, b.Reserved, b.InTransition, owned, available, reserved, transition)
	}
}

// A device plays the instance: a key and UDI derived from its name.
type device struct {
	name  string
	key   *codes.InstanceKey
	udi   codes.UDI
	auth  *codes.AuthorityPublicKey
	nonce atomic.Uint64
}

func newDevice(t testing.TB, name string, auth *codes.AuthorityKey) *device {
	seed := sha256.Sum256([]byte("airlock authority test device " + name))
	k, err := codes.GenerateInstanceKey(bytes.NewReader(seed[:]))
	if err != nil {
		t.Fatal(err)
	}
	uuid := sha256.Sum256([]byte("uuid " + name))
	return &device{name: name, key: k, udi: codes.UDI{PID: "VMS", SN: name, UUID: uuid[:16]}, auth: &auth.Public}
}

func (e *env) device(name string) *device { return newDevice(e.t, name, e.f.Authority) }

func lic(tag string, n uint32) codes.License { return codes.License{Tag: tag, Count: n} }

// request makes a request code with a fresh nonce.
func (d *device) request(want ...codes.License) []byte {
	n := d.nonce.Add(1)
	h := sha256.Sum256(fmt.Appendf(nil, "%s %d", d.name, n))
	code, err := codes.SealRequest(&codes.Request{UDI: d.udi, Nonce: h[:codes.NonceSize], IssuedAt: t0.Unix() - 60, Wanted: want}, d.key, d.auth)
	if err != nil {
		panic(err)
	}
	return code
}

func (d *device) mac() []byte {
	k, err := d.key.MACKey(d.auth)
	if err != nil {
		panic(err)
	}
	return k
}

func resBytes(a *authority.Authorized) []byte { return a.Authorization.Reservation }

func (d *device) confirm(res []byte, serial uint64) []byte {
	c, err := codes.SealConfirmation(&codes.Confirmation{Reservation: res, Serial: serial}, d.mac())
	if err != nil {
		panic(err)
	}
	return c
}

func (d *device) ret(res []byte, serial uint64, never bool) []byte {
	c, err := codes.SealReturn(&codes.Return{Reservation: res, Serial: serial, NeverInstalled: never}, d.mac())
	if err != nil {
		panic(err)
	}
	return c
}

// install checks that the code installs on the device, as an instance
// would: it verifies against the fixture's trust set and applies Check.
func (e *env) install(d *device, a *authority.Authorized) *codes.Authorization {
	e.t.Helper()
	got, err := codes.OpenAuthorization(a.Code, e.f.Trust)
	e.must(err)
	if err := got.Check(e.clk.Now(), d.udi, d.key.Public()); err != nil {
		e.t.Fatalf("the code does not install: %v", err)
	}
	return got
}

func wantErr(t testing.TB, err, sentinel error) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("got error %v, want %v", err, sentinel)
	}
}

func resID(a *authority.Authorized) uint32 {
	return binary.BigEndian.Uint32(a.Authorization.Reservation)
}

func hashOf(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}
