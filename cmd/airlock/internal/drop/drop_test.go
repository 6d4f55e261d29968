package drop

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

var payload = []byte("AIRLOCK authorization code, signed\n")

func TestFetchWithPasswordFromEnvironment(t *testing.T) {
	s := newTestServer(t, withPassword("correct horse"))
	s.fs.put("/drop/auth.cbor", payload)
	opt := s.trusting(t)
	opt.Getenv = env(map[string]string{PasswordEnv: "correct horse"})
	opt.Password = func(string) (string, error) {
		t.Error("Password called although the environment holds one")
		return "", errors.New("no")
	}
	got, err := Fetch(context.Background(), s.url("bob", "/drop/auth.cbor"), opt)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Errorf("Fetch = %q, want %q", got, payload)
	}
}

func TestFetchAnswersKeyboardInteractiveWithPassword(t *testing.T) {
	s := newTestServer(t, withPassword("correct horse"), withKbdOnly())
	s.fs.put("/auth.cbor", payload)
	opt := s.trusting(t)
	var prompts []string
	opt.Password = func(prompt string) (string, error) {
		prompts = append(prompts, prompt)
		return "correct horse", nil
	}
	if _, err := Fetch(context.Background(), s.url("bob", "/auth.cbor"), opt); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("SFTP password for bob@%s: ", s.addr)
	if len(prompts) != 1 || prompts[0] != want {
		t.Errorf("prompts = %q, want one %q", prompts, want)
	}
}

// The operator may take longer to type the password than the handshake
// deadline allows; that deadline waits, the overall one does not.
func TestFetchHandshakeDeadlineWaitsForPasswordPrompt(t *testing.T) {
	s := newTestServer(t, withPassword("pw"))
	s.fs.put("/auth.cbor", payload)
	opt := s.trusting(t)
	opt.HandshakeTimeout = 500 * time.Millisecond
	opt.Password = func(string) (string, error) {
		time.Sleep(time.Second)
		return "pw", nil
	}
	if _, err := Fetch(context.Background(), s.url("bob", "/auth.cbor"), opt); err != nil {
		t.Fatal(err)
	}
}

func TestFetchWithKeyFile(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	s := newTestServer(t, withAuthorized(signer.PublicKey()))
	s.fs.put("/auth.cbor", payload)
	opt := s.trusting(t)
	opt.KeyFiles = []string{writeKey(t, priv)}
	got, err := Fetch(context.Background(), s.url("bob", "/auth.cbor"), opt)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Errorf("Fetch = %q, want %q", got, payload)
	}
}

func TestFetchFindsDefaultKeyFileInHome(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	s := newTestServer(t, withAuthorized(signer.PublicKey()))
	s.fs.put("/auth.cbor", payload)
	home := t.TempDir()
	os.Mkdir(filepath.Join(home, ".ssh"), 0o700)
	key := writeKey(t, priv)
	data, _ := os.ReadFile(key)
	os.WriteFile(filepath.Join(home, ".ssh", "id_ecdsa"), data, 0o600)
	os.WriteFile(filepath.Join(home, ".ssh", "known_hosts"), []byte(s.line(s.hostKeys[0].PublicKey())+"\n"), 0o600)
	opt := Options{Getenv: env(map[string]string{"HOME": home})}
	if _, err := Fetch(context.Background(), s.url("bob", "/auth.cbor"), opt); err != nil {
		t.Fatal(err)
	}
}

func TestFetchWithAgent(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	s := newTestServer(t, withAuthorized(signer.PublicKey()))
	s.fs.put("/auth.cbor", payload)
	opt := s.trusting(t)
	opt.Getenv = env(map[string]string{"SSH_AUTH_SOCK": serveAgent(t, priv)})
	got, err := Fetch(context.Background(), s.url("bob", "/auth.cbor"), opt)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Errorf("Fetch = %q, want %q", got, payload)
	}
}

// T63: the server has Ed25519 and ECDSA host keys and known_hosts only the
// Ed25519 one, as OpenSSH records it. Offering every algorithm would let the
// server pick ECDSA and produce a false mismatch.
func TestFetchOffersOnlyKnownHostKeyAlgorithms(t *testing.T) {
	ed, ec := newEd25519Signer(t), newECDSASigner(t)
	s := newTestServer(t, withHostKeys(ec, ed), withPassword("pw"))
	s.fs.put("/auth.cbor", payload)
	opt := Options{
		KnownHosts: writeKnownHosts(t, s.line(ed.PublicKey())),
		Getenv:     env(map[string]string{PasswordEnv: "pw"}),
	}
	if _, err := Fetch(context.Background(), s.url("bob", "/auth.cbor"), opt); err != nil {
		t.Fatal(err)
	}
}

func TestFetchRSAHostKeyIsCheckedWithSHA2(t *testing.T) {
	rsaKey := newRSASigner(t)
	s := newTestServer(t, withHostKeys(newECDSASigner(t), rsaKey), withPassword("pw"))
	s.fs.put("/auth.cbor", payload)
	opt := Options{
		KnownHosts: writeKnownHosts(t, s.line(rsaKey.PublicKey())),
		Getenv:     env(map[string]string{PasswordEnv: "pw"}),
	}
	if _, err := Fetch(context.Background(), s.url("bob", "/auth.cbor"), opt); err != nil {
		t.Fatal(err)
	}
}

func TestFetchAcceptsHashedKnownHostsEntry(t *testing.T) {
	s := newTestServer(t, withPassword("pw"))
	s.fs.put("/auth.cbor", payload)
	k := s.hostKeys[0].PublicKey()
	hashed := knownhosts.HashHostname(knownhosts.Normalize(s.addr)) + " " + strings.SplitN(s.line(k), " ", 2)[1]
	opt := Options{
		KnownHosts: writeKnownHosts(t, "# a comment", hashed),
		Getenv:     env(map[string]string{PasswordEnv: "pw"}),
	}
	if _, err := Fetch(context.Background(), s.url("bob", "/auth.cbor"), opt); err != nil {
		t.Fatal(err)
	}
}

func TestFetchOverIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	ln.Close()
	s := newTestServer(t, withPassword("pw"), withListenAddr("[::1]:0"))
	s.fs.put("/auth.cbor", payload)
	opt := s.trusting(t)
	opt.Getenv = env(map[string]string{PasswordEnv: "pw"})
	u := mustURL(t, urlFor(s.addr, "bob", "/auth.cbor"))
	if _, err := Fetch(context.Background(), u, opt); err != nil {
		t.Fatal(err)
	}
}

// T59: an unknown host is refused before any credential is sent, with the
// fingerprint and the line to add.
func TestFetchRefusesUnknownHost(t *testing.T) {
	s := newTestServer(t, withPassword("pw"))
	s.fs.put("/auth.cbor", payload)
	opt := Options{
		KnownHosts: writeKnownHosts(t, "# empty"),
		Getenv:     env(map[string]string{PasswordEnv: "pw"}),
	}
	_, err := Fetch(context.Background(), s.url("bob", "/auth.cbor"), opt)
	var he *HostKeyError
	if !errors.Is(err, ErrHostKey) || !errors.As(err, &he) || !he.Unknown() {
		t.Fatalf("Fetch = %v, want an unknown-host HostKeyError", err)
	}
	key := s.hostKeys[0].PublicKey()
	line := fmt.Sprintf("[127.0.0.1]:%d %s", s.port, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))))
	for _, want := range []string{ssh.FingerprintSHA256(key), line, "out of band", opt.KnownHosts} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if he.Line() != line {
		t.Errorf("Line() = %q, want %q", he.Line(), line)
	}
	if n := s.authAttempts.Load(); n != 0 {
		t.Errorf("%d password attempts reached an unverified server", n)
	}
}

func TestFetchTreatsMissingKnownHostsAsEmpty(t *testing.T) {
	s := newTestServer(t)
	opt := Options{KnownHosts: filepath.Join(t.TempDir(), "known_hosts"), Getenv: env(nil)}
	_, err := Fetch(context.Background(), s.url("bob", "/auth.cbor"), opt)
	if !errors.Is(err, ErrHostKey) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("Fetch = %v, want an unknown host in a missing file", err)
	}
}

// T62: an entry without the port does not cover another port; the error
// says how OpenSSH writes it.
func TestFetchUnknownHostNamesPortForm(t *testing.T) {
	s := newTestServer(t)
	k := s.hostKeys[0].PublicKey()
	opt := Options{KnownHosts: writeKnownHosts(t, knownhosts.Line([]string{"127.0.0.1"}, k)), Getenv: env(nil)}
	_, err := Fetch(context.Background(), s.url("bob", "/auth.cbor"), opt)
	want := fmt.Sprintf("must start with [127.0.0.1]:%d", s.port)
	if !errors.Is(err, ErrHostKey) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Fetch = %v, want an unknown host naming %q", err, want)
	}
}

// T60: a changed key is refused loudly, naming both fingerprints.
func TestFetchRefusesChangedHostKey(t *testing.T) {
	s := newTestServer(t, withPassword("pw"))
	old := newEd25519Signer(t).PublicKey()
	opt := Options{
		KnownHosts: writeKnownHosts(t, s.line(old)),
		Getenv:     env(map[string]string{PasswordEnv: "pw"}),
	}
	_, err := Fetch(context.Background(), s.url("bob", "/auth.cbor"), opt)
	if !errors.Is(err, ErrHostKey) {
		t.Fatalf("Fetch = %v, want ErrHostKey", err)
	}
	for _, want := range []string{
		"HOST KEY MISMATCH (possible man-in-the-middle)",
		ssh.FingerprintSHA256(old),
		ssh.FingerprintSHA256(s.hostKeys[0].PublicKey()),
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if n := s.authAttempts.Load(); n != 0 {
		t.Errorf("%d password attempts reached a server with a changed key", n)
	}
}

// A server offering none of the key types known_hosts holds for it is as
// suspicious as a changed key.
func TestFetchRefusesServerWithoutKnownKeyType(t *testing.T) {
	s := newTestServer(t, withHostKeys(newECDSASigner(t)))
	opt := Options{KnownHosts: writeKnownHosts(t, s.line(newEd25519Signer(t).PublicKey())), Getenv: env(nil)}
	_, err := Fetch(context.Background(), s.url("bob", "/auth.cbor"), opt)
	if !errors.Is(err, ErrHostKey) || !strings.Contains(err.Error(), "HOST KEY MISMATCH") || !strings.Contains(err.Error(), "ecdsa-sha2-nistp256 only") {
		t.Fatalf("Fetch = %v, want a loud ErrHostKey", err)
	}
}

// T61.
func TestFetchRefusesRevokedHostKey(t *testing.T) {
	s := newTestServer(t)
	k := s.hostKeys[0].PublicKey()
	opt := Options{
		KnownHosts: writeKnownHosts(t, s.line(k), "@revoked * "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))),
		Getenv:     env(nil),
	}
	_, err := Fetch(context.Background(), s.url("bob", "/auth.cbor"), opt)
	var he *HostKeyError
	if !errors.As(err, &he) || !he.Revoked || !strings.Contains(err.Error(), "@revoked") {
		t.Fatalf("Fetch = %v, want a revoked-key HostKeyError", err)
	}
}

// T69: a wrong password fails once, without asking again.
func TestFetchWrongPasswordIsAskedOnce(t *testing.T) {
	s := newTestServer(t, withPassword("correct horse"))
	s.fs.put("/auth.cbor", payload)
	opt := s.trusting(t)
	calls := 0
	opt.Password = func(string) (string, error) {
		calls++
		return "battery staple", nil
	}
	_, err := Fetch(context.Background(), s.url("bob", "/auth.cbor"), opt)
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("Fetch = %v, want ErrAuth", err)
	}
	if strings.Contains(err.Error(), "battery") {
		t.Errorf("the error shows the password: %q", err)
	}
	if !strings.Contains(err.Error(), `user "bob"`) {
		t.Errorf("the error does not name the user: %q", err)
	}
	if calls != 1 || s.authAttempts.Load() != 1 {
		t.Errorf("password asked %d times and sent %d times, want once each", calls, s.authAttempts.Load())
	}
}

func TestFetchWithoutCredentialsSaysSo(t *testing.T) {
	s := newTestServer(t, withAuthorized(newEd25519Signer(t).PublicKey()))
	_, err := Fetch(context.Background(), s.url("bob", "/auth.cbor"), s.trusting(t))
	if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "nothing to offer") {
		t.Fatalf("Fetch = %v, want ErrAuth saying nothing was offered", err)
	}
}

func TestFetchRefusesUnusableKeyFile(t *testing.T) {
	s := newTestServer(t)
	bad := filepath.Join(t.TempDir(), "id_ed25519")
	os.WriteFile(bad, []byte("not a key"), 0o600)
	for _, f := range []string{bad, filepath.Join(t.TempDir(), "missing")} {
		opt := s.trusting(t)
		opt.KeyFiles = []string{f}
		if _, err := Fetch(context.Background(), s.url("bob", "/auth.cbor"), opt); !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), filepath.Base(f)) {
			t.Errorf("Fetch with key file %q = %v, want ErrAuth naming it", f, err)
		}
	}
}

func TestFetchRemoteFileErrors(t *testing.T) {
	const max = 64 << 10
	s := newTestServer(t, withPassword("pw"))
	s.fs.put("/exact.cbor", bytes.Repeat([]byte("a"), max))
	s.fs.put("/big.bin", bytes.Repeat([]byte("b"), max+1))
	s.fs.add("/drop/sub", &memFile{mode: os.ModeDir | 0o755})
	s.fs.add("/dev/zero", &memFile{mode: os.ModeDevice | os.ModeCharDevice | 0o666})
	s.fs.add("/fifo", &memFile{mode: os.ModeNamedPipe | 0o644})
	s.fs.add("/secret", &memFile{mode: 0o600, noAccess: true, data: []byte("x")})
	opt := s.trusting(t)
	opt.Getenv = env(map[string]string{PasswordEnv: "pw"})
	opt.MaxSize = max
	for _, tc := range []struct {
		path string
		want error
		msg  string
	}{
		{"/exact.cbor", nil, ""},
		{"/missing.cbor", ErrNotFound, "/missing.cbor"},
		{"/drop/sub", ErrNotRegular, "is a folder"},
		{"/dev/zero", ErrNotRegular, "is a device"},
		{"/fifo", ErrNotRegular, "is a FIFO"},
		{"/big.bin", ErrTooLarge, "65537 bytes, over the limit of 64 KiB"},
		{"/secret", ErrPermission, "/secret"},
	} {
		opens := s.fs.opens.Load()
		got, err := Fetch(context.Background(), s.url("bob", tc.path), opt)
		switch {
		case tc.want == nil && err != nil:
			t.Errorf("Fetch(%s) = %v", tc.path, err)
		case tc.want == nil && len(got) != max:
			t.Errorf("Fetch(%s) returned %d bytes, want %d", tc.path, len(got), max)
		case tc.want != nil && (!errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg)):
			t.Errorf("Fetch(%s) = %v, want %v mentioning %q", tc.path, err, tc.want, tc.msg)
		case tc.want == ErrTooLarge || tc.want == ErrNotRegular:
			if n := s.fs.opens.Load() - opens; n != 0 {
				t.Errorf("Fetch(%s) opened the file although Stat ruled it out", tc.path)
			}
		}
	}
}

// T68: a file that reports size 0 but streams forever is read up to the cap
// plus one byte, then refused.
func TestFetchStopsAtCapWhateverTheReportedSize(t *testing.T) {
	const max = 256 << 10
	s := newTestServer(t, withPassword("pw"))
	s.fs.add("/zero", &memFile{mode: 0o644, endless: true})
	opt := s.trusting(t)
	opt.Getenv = env(map[string]string{PasswordEnv: "pw"})
	opt.MaxSize = max
	_, err := Fetch(context.Background(), s.url("bob", "/zero"), opt)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "reported 0 bytes") {
		t.Fatalf("Fetch = %v, want ErrTooLarge", err)
	}
	if n := s.fs.bytesSent.Load(); n != max+1 {
		t.Errorf("the server sent %d bytes, want the cap plus one, %d", n, max+1)
	}
}

// T71: the server dies in the middle of a read.
func TestFetchServerClosesMidTransfer(t *testing.T) {
	s := newTestServer(t, withPassword("pw"))
	s.fs.put("/big.cbor", bytes.Repeat([]byte("c"), 512<<10))
	s.fs.setHooks(func(_ string, off int64) error {
		if off >= 64<<10 {
			s.dropConnections()
		}
		return nil
	}, nil)
	opt := s.trusting(t)
	opt.Getenv = env(map[string]string{PasswordEnv: "pw"})
	opt.Timeout = 10 * time.Second
	start := time.Now()
	_, err := Fetch(context.Background(), s.url("bob", "/big.cbor"), opt)
	if !errors.Is(err, ErrTransfer) || !strings.Contains(err.Error(), "lost") {
		t.Fatalf("Fetch = %v, want ErrTransfer for a lost connection", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Fetch took %v to notice", d)
	}
}

// T65: a server that accepts and never sends its banner is abandoned at the
// handshake deadline.
func TestFetchTarpitTimesOut(t *testing.T) {
	addr := tarpit(t)
	const handshake = 300 * time.Millisecond
	opt := Options{KnownHosts: writeKnownHosts(t), Getenv: env(nil), HandshakeTimeout: handshake}
	start := time.Now()
	_, err := Fetch(context.Background(), mustURL(t, urlFor(addr, "bob", "/auth.cbor")), opt)
	d := time.Since(start)
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "SSH handshake with") {
		t.Fatalf("Fetch = %v, want an SSH handshake timeout", err)
	}
	if d > handshake+time.Second {
		t.Errorf("Fetch returned after %v, want within %v", d, handshake+time.Second)
	}
}

// A server that completes the key exchange and then stalls during
// authentication is abandoned at the handshake deadline too.
func TestFetchStallDuringAuthenticationTimesOut(t *testing.T) {
	s := newTestServer(t, withPassword("pw"), withAuthDelay(time.Second))
	opt := s.trusting(t)
	opt.Getenv = env(map[string]string{PasswordEnv: "pw"})
	opt.HandshakeTimeout = 300 * time.Millisecond
	start := time.Now()
	_, err := Fetch(context.Background(), s.url("bob", "/auth.cbor"), opt)
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "SSH handshake with") {
		t.Fatalf("Fetch = %v, want an SSH handshake timeout", err)
	}
	if d := time.Since(start); d > 1300*time.Millisecond {
		t.Errorf("Fetch returned after %v", d)
	}
}

// T66: a server that sends slowly after the handshake hits the overall
// deadline.
func TestFetchSlowDripTimesOut(t *testing.T) {
	s := newTestServer(t, withPassword("pw"))
	s.fs.put("/slow.cbor", bytes.Repeat([]byte("s"), 4<<10))
	release := make(chan struct{})
	defer close(release)
	s.fs.setHooks(func(string, int64) error {
		<-release
		return nil
	}, nil)
	opt := s.trusting(t)
	opt.Getenv = env(map[string]string{PasswordEnv: "pw"})
	opt.Timeout = 500 * time.Millisecond
	start := time.Now()
	_, err := Fetch(context.Background(), s.url("bob", "/slow.cbor"), opt)
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "did not complete within 500ms") {
		t.Fatalf("Fetch = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("Fetch returned after %v", d)
	}
}

func TestFetchStopsWhenContextIsCanceled(t *testing.T) {
	addr := tarpit(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	opt := Options{KnownHosts: writeKnownHosts(t), Getenv: env(nil)}
	start := time.Now()
	_, err := Fetch(ctx, mustURL(t, urlFor(addr, "bob", "/auth.cbor")), opt)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Fetch = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Fetch returned after %v", d)
	}
}

func TestFetchConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = Fetch(context.Background(), mustURL(t, urlFor(addr, "bob", "/a")), Options{KnownHosts: writeKnownHosts(t), Getenv: env(nil)})
	if !errors.Is(err, ErrConnect) || !strings.Contains(err.Error(), "connection refused by "+addr) {
		t.Fatalf("Fetch = %v, want ErrConnect for a refused connection", err)
	}
}

func TestFetchUnresolvableHost(t *testing.T) {
	opt := Options{KnownHosts: writeKnownHosts(t), Getenv: env(nil), HandshakeTimeout: 2 * time.Second}
	_, err := Fetch(context.Background(), mustURL(t, "sftp://bob@no-such-host.invalid/a"), opt)
	switch {
	case errors.Is(err, ErrConnect) && strings.Contains(err.Error(), `cannot resolve host "no-such-host.invalid"`):
	case errors.Is(err, ErrTimeout) && strings.Contains(err.Error(), "no-such-host.invalid"):
		// A resolver that cannot reach any DNS server times out instead.
	default:
		t.Fatalf("Fetch = %v, want a resolution failure", err)
	}
}

func TestPutIsAtomic(t *testing.T) {
	s := newTestServer(t, withPassword("pw"))
	old := bytes.Repeat([]byte("o"), 1000)
	s.fs.put("/out/auth.cbor", old)
	data := bytes.Repeat([]byte("n"), 300<<10)
	var torn []string
	var mu sync.Mutex
	s.fs.setHooks(nil, func(name string, off int64) error {
		// Whatever has been written so far, the final name holds the
		// old file.
		if got, _ := s.fs.get("/out/auth.cbor"); !bytes.Equal(got, old) {
			mu.Lock()
			torn = append(torn, fmt.Sprintf("write at %d: final name holds %d bytes", off, len(got)))
			mu.Unlock()
		}
		if !IsTemp(name) {
			t.Errorf("Put writes %q directly", name)
		}
		time.Sleep(5 * time.Millisecond) // let the reader look meanwhile
		return nil
	})
	opt := s.trusting(t)
	opt.Getenv = env(map[string]string{PasswordEnv: "pw"})
	u := s.url("bob", "/out/auth.cbor")

	// A reader fetching meanwhile sees the old or the new file, whole.
	done := make(chan struct{})
	var reads []int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ropt := opt
		ropt.MaxSize = 1 << 20
		for {
			select {
			case <-done:
				return
			default:
			}
			got, err := Fetch(context.Background(), u, ropt)
			if err != nil {
				t.Errorf("concurrent Fetch: %v", err)
				return
			}
			if !bytes.Equal(got, old) && !bytes.Equal(got, data) {
				t.Errorf("concurrent Fetch saw %d bytes, neither the old nor the new file", len(got))
			}
			reads = append(reads, len(got))
		}
	}()
	err := Put(context.Background(), u, data, opt)
	close(done)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(torn) > 0 {
		t.Errorf("the final name changed before the rename: %v", torn)
	}
	if got, _ := s.fs.get("/out/auth.cbor"); !bytes.Equal(got, data) {
		t.Errorf("after Put the file holds %d bytes, want %d", len(got), len(data))
	}
	if names := s.fs.list("/out"); len(names) != 1 || names[0] != "auth.cbor" {
		t.Errorf("the folder holds %q, want only auth.cbor", names)
	}
	t.Logf("%d concurrent reads", len(reads))
}

// Servers without posix-rename get remove and rename: the name may be
// absent for a moment, never partial.
func TestPutWithoutPosixRenameReplaces(t *testing.T) {
	s := newTestServer(t, withPassword("pw"))
	s.fs.mu.Lock()
	s.fs.noPosix = true
	s.fs.mu.Unlock()
	s.fs.put("/out/auth.cbor", []byte("old"))
	opt := s.trusting(t)
	opt.Getenv = env(map[string]string{PasswordEnv: "pw"})
	u := s.url("bob", "/out/auth.cbor")
	for _, content := range []string{"new", "newer"} {
		sess, err := dial(context.Background(), u, &opt)
		if err != nil {
			t.Fatal(err)
		}
		err = sess.put(u, []byte(content), false)
		sess.close()
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := s.fs.get("/out/auth.cbor"); string(got) != content {
			t.Errorf("file holds %q, want %q", got, content)
		}
	}
	if names := s.fs.list("/out"); len(names) != 1 {
		t.Errorf("the folder holds %q, want only auth.cbor", names)
	}
}

func TestPutRemovesTemporaryFileOnFailure(t *testing.T) {
	s := newTestServer(t, withPassword("pw"))
	s.fs.put("/out/auth.cbor", []byte("old"))
	s.fs.setHooks(nil, func(_ string, off int64) error {
		if off > 0 {
			return errors.New("no space left on device")
		}
		return nil
	})
	opt := s.trusting(t)
	opt.Getenv = env(map[string]string{PasswordEnv: "pw"})
	err := Put(context.Background(), s.url("bob", "/out/auth.cbor"), bytes.Repeat([]byte("n"), 200<<10), opt)
	if !errors.Is(err, ErrTransfer) || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("Put = %v, want ErrTransfer with the server's reason", err)
	}
	if got, _ := s.fs.get("/out/auth.cbor"); string(got) != "old" {
		t.Errorf("file holds %q after a failed Put, want the old content", got)
	}
	if names := s.fs.list("/out"); len(names) != 1 {
		t.Errorf("the folder holds %q, want only auth.cbor", names)
	}
}

func TestPutErrors(t *testing.T) {
	s := newTestServer(t, withPassword("pw"))
	s.fs.add("/out/sub", &memFile{mode: os.ModeDir | 0o755})
	s.fs.add("/locked", &memFile{mode: os.ModeDir | 0o555, noAccess: true})
	opt := s.trusting(t)
	opt.Getenv = env(map[string]string{PasswordEnv: "pw"})
	for _, tc := range []struct {
		path string
		want error
		msg  string
	}{
		{"/missing/auth.cbor", ErrNotFound, `folder "/missing" does not exist`},
		{"/out/sub", ErrNotRegular, "it is a folder"},
		{"/locked/auth.cbor", ErrPermission, `"/locked"`},
	} {
		err := Put(context.Background(), s.url("bob", tc.path), payload, opt)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Put(%s) = %v, want %v mentioning %q", tc.path, err, tc.want, tc.msg)
		}
	}
}

// T64: no code path can skip the host key check.
func TestNoInsecureHostKeyCallback(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"InsecureIgnoreHostKey", "HostKeyCallback: func("} {
			if bytes.Contains(src, []byte(bad)) {
				t.Errorf("%s contains %q", f, bad)
			}
		}
	}
}

func writeKey(t *testing.T, priv any) string {
	t.Helper()
	block, err := ssh.MarshalPrivateKey(priv, "test key")
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(name, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}
