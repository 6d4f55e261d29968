package drop

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sshdPath is Debian's OpenSSH server (package openssh-server).
const sshdPath = "/usr/sbin/sshd"

// TestOpenSSH runs Fetch and Put against a real OpenSSH server started on a
// free loopback port with its own configuration, host keys and
// authorized_keys (ATTACKS.md §3.6 A). As root (CI) it logs in as root
// with a key; otherwise sshd runs as the current user, who is the only one
// it can authenticate. The server has Ed25519 and ECDSA host keys and
// known_hosts only the Ed25519 one, as OpenSSH records it (T63).
func TestOpenSSH(t *testing.T) {
	if _, err := os.Stat(sshdPath); err != nil {
		if os.Getenv("AIRLOCK_REQUIRE_SSHD") != "" {
			t.Fatalf("AIRLOCK_REQUIRE_SSHD is set but %s is missing: install it with apt-get install -y openssh-server", sshdPath)
		}
		t.Skipf("SKIPPING THE REAL-OPENSSH TEST: %s is missing; install it with apt-get install -y openssh-server (CI must not skip this test)", sshdPath)
	}
	cu, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	root := os.Geteuid() == 0
	if root {
		// sshd run as root wants its privilege separation folder.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("sshd needs /run/sshd: %v", err)
		}
	}

	dir := t.TempDir()
	write := func(name string, data []byte, mode os.FileMode) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	writeKey := func(name string, priv any) (string, ssh.PublicKey) {
		t.Helper()
		block, err := ssh.MarshalPrivateKey(priv, "")
		if err != nil {
			t.Fatal(err)
		}
		s, err := ssh.NewSignerFromKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		return write(name, pem.EncodeToMemory(block), 0o600), s.PublicKey()
	}
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	ecPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, clientPriv, _ := ed25519.GenerateKey(rand.Reader)
	hostEd, hostEdPub := writeKey("host_ed25519", edPriv)
	hostEC, _ := writeKey("host_ecdsa", ecPriv)
	clientKey, clientPub := writeKey("client_ed25519", clientPriv)
	authorized := write("authorized_keys", ssh.MarshalAuthorizedKey(clientPub), 0o600)

	served := filepath.Join(dir, "served")
	if err := os.Mkdir(served, 0o755); err != nil {
		t.Fatal(err)
	}
	write("served/auth.cbor", payload, 0o644)
	write("served/big.bin", make([]byte, DefaultMaxSize+1), 0o644)
	if err := os.Symlink("/dev/zero", filepath.Join(served, "zero")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(served, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}

	permitRoot := "no"
	if root {
		permitRoot = "prohibit-password"
	}
	port := freePort(t)
	cfg := write("sshd_config", fmt.Appendf(nil, `Port %d
ListenAddress 127.0.0.1
HostKey %s
HostKey %s
PidFile %s
AuthorizedKeysFile %s
StrictModes no
UsePAM yes
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin %s
AllowUsers %s
AllowTcpForwarding no
X11Forwarding no
PermitTTY no
Subsystem sftp internal-sftp
ForceCommand internal-sftp
LogLevel VERBOSE
`, port, hostEd, hostEC, filepath.Join(dir, "sshd.pid"), authorized, permitRoot, cu.Username), 0o600)

	if out, err := exec.Command(sshdPath, "-t", "-f", cfg).CombinedOutput(); err != nil {
		t.Fatalf("sshd -t: %v\n%s", err, out)
	}
	logFile, err := os.Create(filepath.Join(dir, "sshd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sshdPath, "-D", "-e", "-f", cfg)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting sshd: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		logFile.Close()
		if t.Failed() {
			log, _ := os.ReadFile(logFile.Name())
			t.Logf("sshd log:\n%s", log)
		}
	})
	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
	waitListening(t, addr, exited)

	opt := Options{
		KnownHosts: write("known_hosts", []byte(knownhosts.Line([]string{addr}, hostEdPub)+"\n"), 0o600),
		KeyFiles:   []string{clientKey},
		Getenv:     env(nil),
		Timeout:    20 * time.Second,
	}
	at := func(name string) *URL {
		return mustURL(t, fmt.Sprintf("sftp://%s@%s%s", cu.Username, addr, filepath.Join(served, name)))
	}
	ctx := context.Background()

	t.Run("Fetch", func(t *testing.T) {
		got, err := Fetch(ctx, at("auth.cbor"), opt)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, payload) {
			t.Errorf("Fetch = %q, want %q", got, payload)
		}
	})
	t.Run("FetchRefuses", func(t *testing.T) {
		for name, want := range map[string]error{
			"zero":         ErrNotRegular, // T68: a link to /dev/zero
			"fifo":         ErrNotRegular,
			"big.bin":      ErrTooLarge, // T67
			"missing.cbor": ErrNotFound, // T69
		} {
			if _, err := Fetch(ctx, at(name), opt); !errors.Is(err, want) {
				t.Errorf("Fetch(%s) = %v, want %v", name, err, want)
			}
		}
	})
	t.Run("Put", func(t *testing.T) {
		for _, content := range []string{"first answer", "second answer"} {
			if err := Put(ctx, at("out.cbor"), []byte(content), opt); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(served, "out.cbor"))
			if err != nil || string(got) != content {
				t.Errorf("served/out.cbor holds %q (%v), want %q", got, err, content)
			}
		}
		entries, _ := os.ReadDir(served)
		for _, e := range entries {
			if IsTemp(e.Name()) {
				t.Errorf("temporary file %s left behind", e.Name())
			}
		}
	})
	t.Run("UnknownHost", func(t *testing.T) {
		o := opt
		o.KnownHosts = write("known_hosts_empty", nil, 0o600)
		_, err := Fetch(ctx, at("auth.cbor"), o)
		var he *HostKeyError
		if !errors.As(err, &he) || !he.Unknown() || !strings.Contains(err.Error(), "[127.0.0.1]:") {
			t.Errorf("Fetch = %v, want an unknown host", err)
		}
	})
	t.Run("WrongKey", func(t *testing.T) {
		_, other, _ := ed25519.GenerateKey(rand.Reader)
		o := opt
		otherKey, _ := writeKey("other_ed25519", other)
		o.KeyFiles = []string{otherKey}
		_, err := Fetch(ctx, at("auth.cbor"), o)
		if !errors.Is(err, ErrAuth) {
			t.Errorf("Fetch = %v, want ErrAuth", err)
		}
	})
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitListening(t *testing.T, addr string, exited <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Fatal("sshd exited at start")
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("sshd is not listening on %s after 10s", addr)
}
