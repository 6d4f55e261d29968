package instance

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/formats/seal"
	"github.com/airlock-dev/airlock/testvectors/gen"
)

// The tests play the authority with the fixed keys of the test vectors.
var (
	fixtureOnce sync.Once
	fixture     *gen.Fixture
	fixtureErr  error
)

func fx(t testing.TB) *gen.Fixture {
	t.Helper()
	fixtureOnce.Do(func() { fixture, fixtureErr = gen.NewFixture() })
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return fixture
}

// t0 is the tests' starting time: 2025-01-15 09:30 UTC.
var t0 = time.Date(2025, 1, 15, 9, 30, 0, 0, time.UTC)

const day = 24 * time.Hour

// A testClock is a clock the test moves. Safe for concurrent use.
type testClock struct{ unix atomic.Int64 }

func newClock(t time.Time) *testClock {
	c := &testClock{}
	c.set(t)
	return c
}

func (c *testClock) Now() time.Time               { return time.Unix(c.unix.Load(), 0).UTC() }
func (c *testClock) set(t time.Time)              { c.unix.Store(t.Unix()) }
func (c *testClock) add(d time.Duration)          { c.unix.Add(int64(d / time.Second)) }
func (c *testClock) at(d time.Duration) time.Time { return c.Now().Add(d) }

// A bench is an instance in a temporary folder with a clock the test
// moves, and an authority that signs codes for it.
type bench struct {
	t     testing.TB
	dir   string
	clock *testClock
	in    *Instance
	f     *gen.Fixture
}

func trustSet(t testing.TB) *codes.TrustSet {
	t.Helper()
	ts, err := codes.ReadTrustFile(fx(t).TrustFile)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func newBench(t testing.TB, opts ...Option) *bench {
	t.Helper()
	b := &bench{t: t, dir: filepath.Join(t.TempDir(), "state"), clock: newClock(t0), f: fx(t)}
	in, err := Init(b.dir, b.f.UDI, trustSet(t), append([]Option{WithClock(b.clock.Now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	b.in = in
	return b
}

// open opens the bench's folder again, as another process would.
func (b *bench) open(opts ...Option) *Instance {
	b.t.Helper()
	in, err := Open(b.dir, append([]Option{WithClock(b.clock.Now)}, opts...)...)
	if err != nil {
		b.t.Fatal(err)
	}
	return in
}

func (b *bench) must(err error) {
	b.t.Helper()
	if err != nil {
		b.t.Fatal(err)
	}
}

// request enables reservation if needed and makes a request; it returns
// the request's nonce, read as the authority reads it.
func (b *bench) request(wanted ...codes.License) []byte {
	b.t.Helper()
	st, err := b.in.Status()
	b.must(err)
	if st.Mode == ModeEvaluation || st.Mode == ModeUnlicensed {
		b.must(b.in.Enable())
	}
	code, err := b.in.Request(wanted)
	b.must(err)
	r, err := codes.OpenRequest(code, b.f.Authority)
	b.must(err)
	if !r.UDI.Equal(b.f.UDI) || !bytes.Equal(r.InstanceKey, b.in.PublicKey()) {
		b.t.Fatalf("request names %s and key %x", r.UDI, r.InstanceKey)
	}
	return r.Nonce
}

// A grant describes an authorization code to sign.
type grant struct {
	res       []byte
	serial    uint64
	nonce     []byte
	ents      []codes.Entitlement
	issued    time.Time // default: the clock's now
	installBy time.Time // default: issued + 30 days
	udi       *codes.UDI
	keyHash   []byte
	flags     uint64
	key       *codes.AuthorityKey
}

var (
	resA = []byte{0x0a, 0x1b, 0x2c, 0x3d}
	resB = []byte{0xb0, 0xb1, 0xb2, 0xb3}
)

const (
	tagCamera    = "vms.camera.core"
	tagAnalytics = "vms.analytics"
)

// cameras is a perpetual entitlement of n cameras.
func cameras(n uint32) codes.Entitlement {
	return codes.Entitlement{Tag: tagCamera, Count: n, Kind: codes.Perpetual}
}

// analytics is a term entitlement of n, from start to end.
func analytics(n uint32, start, end time.Time) codes.Entitlement {
	return codes.Entitlement{Tag: tagAnalytics, Count: n, Kind: codes.Term, Start: start.Unix(), End: end.Unix()}
}

// sign signs g as the authority, bound to the bench's instance unless g
// says otherwise.
func (b *bench) sign(g grant) []byte {
	b.t.Helper()
	if g.issued.IsZero() {
		g.issued = b.clock.Now()
	}
	if g.installBy.IsZero() {
		g.installBy = g.issued.Add(30 * day)
	}
	if g.ents == nil {
		g.ents = []codes.Entitlement{cameras(10)}
	}
	if g.res == nil {
		g.res = resA
	}
	if g.serial == 0 {
		g.serial = 1
	}
	udi := b.f.UDI
	if g.udi != nil {
		udi = *g.udi
	}
	keyHash := codes.InstanceKeyHash(b.in.PublicKey())
	if g.keyHash != nil {
		keyHash = g.keyHash
	}
	key := b.f.Authority
	if g.key != nil {
		key = g.key
	}
	code, err := codes.SignAuthorization(&codes.Authorization{
		Reservation: g.res, Serial: g.serial, UDI: udi, InstanceKey: keyHash, Nonce: g.nonce,
		Entitlements: g.ents, Flags: g.flags, IssuedAt: g.issued.Unix(), InstallBy: g.installBy.Unix(),
	}, key)
	b.must(err)
	return code
}

// reserve walks to reserved: request, and install serial 1 of resA with
// ents. It returns the installed code.
func (b *bench) reserve(ents ...codes.Entitlement) []byte {
	b.t.Helper()
	nonce := b.request()
	code := b.sign(grant{nonce: nonce, ents: ents})
	if _, err := b.in.Install(code); err != nil {
		b.t.Fatal(err)
	}
	return code
}

// pairwise is the MAC key the authority shares with the bench's instance.
func (b *bench) pairwise() []byte {
	b.t.Helper()
	k, err := b.f.Authority.MACKey(b.in.PublicKey())
	b.must(err)
	return k
}

// stateBytes returns the state file.
func (b *bench) stateBytes() []byte {
	b.t.Helper()
	data, err := os.ReadFile(filepath.Join(b.dir, stateName))
	b.must(err)
	return data
}

func (b *bench) mode() Mode {
	b.t.Helper()
	st, err := b.in.Status()
	b.must(err)
	return st.Mode
}

// wantErr fails unless err matches sentinel and its message holds each
// of parts.
func wantErr(t testing.TB, err, sentinel error, parts ...string) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %v, want %v", err, sentinel)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not say %q", err, p)
		}
	}
}

func randomNonce() []byte {
	n := make([]byte, codes.NonceSize)
	rand.Read(n)
	return n
}

func sealTo(t testing.TB, data []byte, r age.Recipient) []byte {
	t.Helper()
	out, err := seal.Encrypt(data, r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// check is must for tests without a bench.
func check(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestExampleTrustFileIsTheFixtures keeps testdata/trust.airlock, which the
// example reads, the trust file of the test vectors.
func TestExampleTrustFileIsTheFixtures(t *testing.T) {
	b, err := os.ReadFile("testdata/trust.airlock")
	check(t, err)
	if !bytes.Equal(b, fx(t).TrustFile) {
		t.Error("testdata/trust.airlock is not the fixture's trust file")
	}
}
