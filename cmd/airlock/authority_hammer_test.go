package main

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/airlock-dev/airlock/authority/store/pgtest"
	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/codes/api"
)

// The tests here run the built command as several processes on one
// PostgreSQL ledger: the desk's commands and `authority serve` on more
// than one host would. The test binary is the airlock command of its
// children (testscript.Main put it on $PATH).

// pgDesk is a desk folder whose ledger is a PostgreSQL database.
type pgDesk struct {
	dir      string // the authority folder
	identity string // the age identity that opens its key
	trust    *codes.TrustSet
	token    string // a registration token of acme/plant with many uses
}

// newPGDesk initializes a desk on a new database with pool licenses of
// vms.camera.core in acme/plant. The environment of the test, which the
// children inherit, points at it.
func newPGDesk(t *testing.T, pool int) *pgDesk {
	t.Helper()
	db := pgtest.URL(t)
	work := t.TempDir()
	t.Chdir(work)
	d := &pgDesk{dir: filepath.Join(work, "desk"), identity: filepath.Join(work, "age.key")}
	t.Setenv(envAuthorityDir, d.dir)
	t.Setenv(envActor, "tester")
	t.Setenv(envDB, "")
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.identity, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"authority", "init", "--name", "desk", "--recipient", id.Recipient().String(), "--db", db},
		{"authority", "org", "add", "acme"},
		{"authority", "account", "add", "--org", "acme", "plant"},
		{"authority", "lot", "add", "--account", "acme/plant", "--tag", "vms.camera.core", "--count", fmt.Sprint(pool)},
	} {
		if code, _, stderr := runApp(t, "", args...); code != 0 {
			t.Fatalf("%v: %s", args, stderr)
		}
	}
	code, stdout, stderr := runApp(t, "", "authority", "token", "create", "--account", "acme/plant", "--uses", "100000")
	if code != 0 {
		t.Fatalf("token create: %s", stderr)
	}
	d.token = strings.TrimSpace(stdout)
	b, err := os.ReadFile(filepath.Join(d.dir, "trust.airlock"))
	if err != nil {
		t.Fatal(err)
	}
	if d.trust, err = codes.ReadTrustFile(b); err != nil {
		t.Fatal(err)
	}
	return d
}

// request seals a request of a new instance for count licenses.
func (d *pgDesk) request(t testing.TB, count uint32) []byte {
	t.Helper()
	seed := make([]byte, 32)
	rand.Read(seed)
	key, err := codes.ParseInstanceKey(seed)
	if err != nil {
		t.Fatal(err)
	}
	u := make([]byte, 16)
	rand.Read(u)
	udi, err := codes.ParseUDI(fmt.Sprintf("P:VMS,S:hammer,U:%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]))
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, codes.NonceSize)
	rand.Read(nonce)
	now := time.Now().Unix()
	code, err := codes.SealRequest(&codes.Request{UDI: udi, Nonce: nonce, IssuedAt: now,
		Wanted: []codes.License{{Tag: "vms.camera.core", Count: count}}}, key, d.trust.Current(now))
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// balance returns what the ledger says of vms.camera.core in acme/plant,
// through the command line.
func (d *pgDesk) balance(t *testing.T) (available, reserved int64) {
	t.Helper()
	code, stdout, stderr := runApp(t, "", "authority", "licenses", "--account", "acme/plant", "--json")
	if code != 0 {
		t.Fatalf("licenses: %s", stderr)
	}
	var bs []struct {
		Tag       string `json:"tag"`
		Available int64  `json:"available"`
		Reserved  int64  `json:"reserved"`
	}
	if err := json.Unmarshal([]byte(stdout), &bs); err != nil || len(bs) != 1 || bs[0].Tag != "vms.camera.core" {
		t.Fatalf("licenses: %v\n%s", err, stdout)
	}
	return bs[0].Available, bs[0].Reserved
}

// verify runs `airlock authority verify`, which also walks the history
// chain.
func (d *pgDesk) verify(t *testing.T) {
	t.Helper()
	if code, stdout, stderr := runApp(t, "", "authority", "verify"); code != 0 {
		t.Fatalf("verify: %d\n%s%s", code, stdout, stderr)
	}
}

// A server is an `airlock authority serve` child.
type server struct {
	cmd    *exec.Cmd
	url    string
	log    *bytes.Buffer
	client *http.Client
}

// startServer starts `airlock authority serve` on a free loopback port
// with limits no test client reaches, and waits until it listens.
func (d *pgDesk) startServer(t *testing.T, name string) *server {
	t.Helper()
	addrFile := filepath.Join(t.TempDir(), name+".addr")
	s := &server{log: new(bytes.Buffer)}
	s.cmd = exec.Command("airlock", "authority", "serve", "--identity", d.identity, "--listen", "127.0.0.1:0",
		"--address-file", addrFile, "--quiet", "--register-rate", "100000", "--register-burst", "100000",
		"--rate", "100000", "--burst", "100000")
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.kill() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, err := os.ReadFile(addrFile)
		if err == nil && bytes.HasSuffix(b, []byte("\n")) {
			s.url = "https://" + strings.TrimSpace(string(b))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen in 60 s:\n%s", name, s.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	pem, err := os.ReadFile(filepath.Join(d.dir, "tls.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	s.client = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, MaxIdleConnsPerHost: 16}}
	return s
}

// kill ends the server with SIGKILL: no request in flight finishes, no
// deferred function runs.
func (s *server) kill() {
	if s.cmd.ProcessState == nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
}

// register posts a registration with the request code; it returns the
// answer, or the HTTP status and error body.
func (s *server) register(token string, request []byte) (*api.Authorized, int, error) {
	body, _ := json.Marshal(api.RegisterRequest{Token: token, Request: request})
	resp, err := s.client.Post(s.url+api.PathRegister, api.ContentType, bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, resp.StatusCode, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode, fmt.Errorf("status %d: %s", resp.StatusCode, out)
	}
	var a api.Authorized
	if err := json.Unmarshal(out, &a); err != nil {
		return nil, resp.StatusCode, err
	}
	return &a, resp.StatusCode, nil
}

// granted is the count of the authorization code of a registration.
func (d *pgDesk) granted(t testing.TB, a *api.Authorized) int64 {
	if len(a.Authorization) == 0 {
		return 0
	}
	au, err := codes.OpenAuthorization(a.Authorization, d.trust)
	if err != nil {
		t.Errorf("the answer's authorization code: %v", err)
		return 0
	}
	var n int64
	for _, e := range au.Entitlements {
		n += int64(e.Count)
	}
	return n
}

// TestPostgresHammer: four `airlock authority reserve` processes at a
// time and two `authority serve` processes, one PostgreSQL ledger, one
// pool of 24 licenses asked for three times over. Registrations grant
// what is left when less than asked, and their demand alone exceeds the
// pool, so the pool ends empty: exactly 24 granted, what the clients were
// told adds up to what the ledger says, and verify (which walks the
// history chain) passes.
func TestPostgresHammer(t *testing.T) {
	const pool = 24
	d := newPGDesk(t, pool)
	servers := []*server{d.startServer(t, "a"), d.startServer(t, "b")}

	var granted, refused, errs atomic.Int64
	fail := func(format string, args ...any) {
		errs.Add(1)
		t.Errorf(format, args...)
	}
	var wg sync.WaitGroup
	// Four desk engineers, each reserving eight times, 1 to 3 licenses.
	for w := range 4 {
		wg.Go(func() {
			for i := range 8 {
				n := uint32(1 + (w+i)%3)
				typed := codes.EncodeText(codes.KindRequest, d.request(t, n))
				cmd := exec.Command("airlock", "authority", "reserve", "--identity", d.identity,
					"--account", "acme/plant", "--request", typed)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				switch {
				case err == nil && bytes.HasPrefix(out, []byte("AU-")):
					granted.Add(int64(n))
				case err != nil && strings.Contains(stderr.String(), "not enough licenses"):
					refused.Add(1)
				default:
					fail("reserve %d: %v\n%s%s", n, err, out, stderr.String())
				}
			}
		})
	}
	// Sixteen instances at each server, registering with 1 to 3 each: 32
	// registrations asking 64 licenses.
	for si, s := range servers {
		for c := range 16 {
			wg.Go(func() {
				n := uint32(1 + (si+c)%3)
				if c%2 == 0 {
					n = 2
				}
				a, status, err := s.register(d.token, d.request(t, n))
				if err != nil {
					fail("register at server %d: %d %v", si, status, err)
					return
				}
				got := d.granted(t, a)
				if got < int64(n) {
					refused.Add(1)
				}
				granted.Add(got)
			})
		}
	}
	wg.Wait()
	for _, s := range servers {
		s.kill()
	}
	if errs.Load() > 0 {
		for i, s := range servers {
			t.Logf("server %d said:\n%s", i, s.log)
		}
		t.FailNow()
	}
	available, reserved := d.balance(t)
	t.Logf("granted %d, %d asks refused or short; the ledger: %d reserved, %d available", granted.Load(), refused.Load(), reserved, available)
	if granted.Load() != pool || reserved != pool || available != 0 {
		t.Fatalf("granted %d to clients; the ledger says %d reserved, %d available; the pool is %d", granted.Load(), reserved, available, pool)
	}
	d.verify(t)
}

// TestPostgresServeKilledMidTransaction: a server is killed (SIGKILL)
// while registrations are in flight, after it answered the first of
// them, round after round; each instance
// then sends its registration again to the other server. Whatever the
// killed server committed, the resubmission gets the same code (the one
// the killed server sent, if it sent one); what it did not commit is
// registered once. After every round the ledger's reserved count is what
// the codes grant, and verify passes.
func TestPostgresServeKilledMidTransaction(t *testing.T) {
	d := newPGDesk(t, 100000)
	other := d.startServer(t, "other")
	const rounds, perRound = 8, 12
	var total int64
	var answeredBeforeKill, lostToKill int
	var committedUnanswered int64 // licenses
	for round := range rounds {
		victim := d.startServer(t, fmt.Sprintf("victim%d", round))
		requests := make([][]byte, perRound)
		for i := range requests {
			requests[i] = d.request(t, uint32(1+i%3))
		}
		first := make([]*api.Authorized, perRound)
		answered := make(chan struct{}, perRound)
		var wg sync.WaitGroup
		for i := range requests {
			wg.Go(func() {
				if a, _, err := victim.register(d.token, requests[i]); err == nil {
					first[i] = a
					answered <- struct{}{}
				}
			})
		}
		// Kill it among the requests' transactions: once the first is
		// answered, within the next 20 ms.
		select {
		case <-answered:
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: no registration answered in 30 s:\n%s", round, victim.log)
		}
		wait, _ := rand.Int(rand.Reader, big.NewInt(20_000))
		time.Sleep(time.Duration(wait.Int64()) * time.Microsecond)
		victim.kill()
		wg.Wait()
		// What the victim committed without answering: in the ledger, but
		// in no answer.
		_, reserved := d.balance(t)
		unanswered := reserved - total
		for _, a := range first {
			if a != nil {
				unanswered -= d.granted(t, a)
			}
		}
		committedUnanswered += unanswered
		for i, rq := range requests {
			again, status, err := other.register(d.token, rq)
			if err != nil {
				t.Fatalf("round %d: registration %d sent again: %d %v\n%s", round, i, status, err, other.log)
			}
			if first[i] != nil {
				answeredBeforeKill++
				if !bytes.Equal(first[i].Authorization, again.Authorization) {
					t.Fatalf("round %d: registration %d: the other server answered another code than the killed one", round, i)
				}
			} else {
				lostToKill++
			}
			// And once more: the same code again.
			third, _, err := other.register(d.token, rq)
			if err != nil || !bytes.Equal(third.Authorization, again.Authorization) {
				t.Fatalf("round %d: registration %d sent a third time: %v", round, i, err)
			}
			total += d.granted(t, again)
		}
		if _, reserved := d.balance(t); reserved != total {
			t.Fatalf("round %d: the ledger holds %d reserved, the codes grant %d", round, reserved, total)
		}
		d.verify(t)
	}
	t.Logf("%d rounds: %d registrations answered before the kill, %d cut off by it (%d licenses of them committed); %d licenses granted",
		rounds, answeredBeforeKill, lostToKill, committedUnanswered, total)
	if lostToKill == 0 || answeredBeforeKill == 0 {
		t.Errorf("the kills cut off %d registrations and let %d be answered: the test did not test what it says", lostToKill, answeredBeforeKill)
	}
}
