package droptest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHDPath is Debian's OpenSSH server (package openssh-server).
const SSHDPath = "/usr/sbin/sshd"

// RequireSSHDEnv, when set to anything, turns the skip of a test that
// needs SSHDPath into a failure. CI sets it.
const RequireSSHDEnv = "AIRLOCK_REQUIRE_SSHD"

// OpenSSH is a real OpenSSH server on a free loopback port, with its own
// configuration, host keys and authorized_keys, serving SFTP only.
type OpenSSH struct {
	Addr       string        // 127.0.0.1:port
	User       string        // the user to log in as: the one running the test
	KnownHosts string        // a known_hosts file holding HostKey only
	KeyFile    string        // the client's private key (Ed25519, no passphrase), authorized
	HostKey    ssh.PublicKey // the Ed25519 host key; the server has an ECDSA one too
	Dir        string        // the configuration, keys and log
}

// StartOpenSSH starts SSHDPath for the test and stops it when the test
// ends. Without sshd it skips the test with a loud message, or fails it
// when RequireSSHDEnv is set.
//
// As root (CI) the client logs in as root with a key; otherwise sshd runs
// as the current user, who is the only one it can authenticate. The server
// has Ed25519 and ECDSA host keys and KnownHosts only the Ed25519 one, as
// OpenSSH records it (ATTACKS.md T63). Paths in URLs are absolute on the
// local file system: the server is not chrooted.
func StartOpenSSH(t testing.TB) *OpenSSH {
	t.Helper()
	if _, err := os.Stat(SSHDPath); err != nil {
		if os.Getenv(RequireSSHDEnv) != "" {
			t.Fatalf("%s is set but %s is missing: install it with apt-get install -y openssh-server", RequireSSHDEnv, SSHDPath)
		}
		t.Skipf("SKIPPING THE REAL-OPENSSH TEST: %s is missing; install it with apt-get install -y openssh-server (CI must not skip this test)", SSHDPath)
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
	write := func(name string, data []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	writeKey := func(name string, priv any) (string, ssh.PublicKey) {
		t.Helper()
		data, err := MarshalPrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		s, err := ssh.NewSignerFromKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		return write(name, data), s.PublicKey()
	}
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	ecPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, clientPriv, _ := ed25519.GenerateKey(rand.Reader)
	hostEd, hostEdPub := writeKey("host_ed25519", edPriv)
	hostEC, _ := writeKey("host_ecdsa", ecPriv)
	clientKey, clientPub := writeKey("client_ed25519", clientPriv)
	authorized := write("authorized_keys", ssh.MarshalAuthorizedKey(clientPub))

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
`, port, hostEd, hostEC, filepath.Join(dir, "sshd.pid"), authorized, permitRoot, cu.Username))

	if out, err := exec.Command(SSHDPath, "-t", "-f", cfg).CombinedOutput(); err != nil {
		t.Fatalf("sshd -t: %v\n%s", err, out)
	}
	logFile, err := os.Create(filepath.Join(dir, "sshd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(SSHDPath, "-D", "-e", "-f", cfg)
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
	return &OpenSSH{
		Addr:       addr,
		User:       cu.Username,
		KnownHosts: write("known_hosts", []byte(knownhosts.Line([]string{addr}, hostEdPub)+"\n")),
		KeyFile:    clientKey,
		HostKey:    hostEdPub,
		Dir:        dir,
	}
}

// URL returns the sftp URL of the absolute local path p on the server.
func (o *OpenSSH) URL(p string) string {
	u := url.URL{Scheme: "sftp", User: url.User(o.User), Host: o.Addr, Path: filepath.ToSlash(p)}
	return u.String()
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitListening(t testing.TB, addr string, exited <-chan struct{}) {
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
