//go:build unix

package instance

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/codes/api"
)

// The proxy tests run Debian's tinyproxy, a real HTTP proxy, on loopback
// with a configuration written for each test: CONNECT to the fake
// service's port only, with or without Basic authentication. make
// test-deps installs it as root; elsewhere the tests skip, unless
// AIRLOCK_REQUIRE_TINYPROXY=1 makes its absence a failure.
const envRequireTinyproxy = "AIRLOCK_REQUIRE_TINYPROXY"

// A tinyproxy is one running proxy and what it logged.
type tinyproxy struct {
	url string
	mu  sync.Mutex
	log bytes.Buffer
}

func (p *tinyproxy) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.Write(b)
}

func (p *tinyproxy) logged() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

func tinyproxyBinary(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"tinyproxy", "/usr/bin/tinyproxy", "/usr/sbin/tinyproxy"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	msg := "tinyproxy is not installed: apt-get install tinyproxy (make test-deps does it as root)"
	if os.Getenv(envRequireTinyproxy) == "1" {
		t.Fatal(msg + ", and " + envRequireTinyproxy + "=1")
	}
	t.Skip(msg)
	return ""
}

// freePort returns a loopback port nothing listens on, for a moment.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// startTinyproxy runs tinyproxy in the foreground, allowing CONNECT to
// servicePort only, with Basic authentication when user is set.
func startTinyproxy(t *testing.T, servicePort int, user, password string) *tinyproxy {
	t.Helper()
	bin := tinyproxyBinary(t)
	dir := t.TempDir()
	for attempt := 0; ; attempt++ {
		port := freePort(t)
		conf := fmt.Sprintf("Port %d\nListen 127.0.0.1\nTimeout 30\nMaxClients 20\nAllow 127.0.0.1\nConnectPort %d\nLogLevel Connect\nDisableViaHeader Yes\n", port, servicePort)
		if user != "" {
			conf += fmt.Sprintf("BasicAuth %s %s\n", user, password)
		}
		path := filepath.Join(dir, "tinyproxy.conf")
		check(t, os.WriteFile(path, []byte(conf), 0o600))
		p := &tinyproxy{url: "http://127.0.0.1:" + strconv.Itoa(port)}
		cmd := exec.Command(bin, "-d", "-c", path)
		cmd.Stdout, cmd.Stderr = p, p
		check(t, cmd.Start())
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		stop := func() {
			cmd.Process.Kill()
			<-done
		}
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
			if err == nil {
				c.Close()
				t.Cleanup(func() {
					stop()
					if t.Failed() {
						t.Logf("tinyproxy logged:\n%s", p.logged())
					}
				})
				return p
			}
			select {
			case <-done:
				deadline = time.Time{}
			case <-time.After(20 * time.Millisecond):
			}
		}
		stop()
		if attempt == 2 {
			t.Fatalf("tinyproxy did not start:\n%s", p.logged())
		}
	}
}

func servicePort(t *testing.T, f *fakeService) int {
	u, err := url.Parse(f.srv.URL)
	check(t, err)
	port, err := strconv.Atoi(u.Port())
	check(t, err)
	return port
}

func TestThroughTinyproxyWithoutAuthentication(t *testing.T) {
	b, f, c := connectedBench(t)
	p := startTinyproxy(t, servicePort(t, f), "", "")
	b.must(b.in.SetTransport(Transport{Kind: TransportDirect, URL: f.srv.URL, Proxy: p.url, CA: f.caPEM()}))
	_, err := b.in.Register(ctx, c, "TK-PLANT", []codes.License{{Tag: tagCamera, Count: 3}})
	b.must(err)
	_, err = b.in.RenewAuthorization(ctx, c)
	b.must(err)
	b.must(b.in.UpdateUsage(ctx, c))
	if !b.in.Licensed(tagCamera) || f.count(api.PathRenewAuthorization) != 1 {
		t.Fatal("not renewed through the proxy")
	}
	if !strings.Contains(p.logged(), "CONNECT 127.0.0.1:"+strconv.Itoa(servicePort(t, f))) {
		t.Fatalf("the proxy saw no CONNECT:\n%s", p.logged())
	}

	// A proxy that refuses the service's port says so.
	other := startTinyproxy(t, servicePort(t, f)+1, "", "")
	b.must(b.in.SetTransport(Transport{Kind: TransportDirect, URL: f.srv.URL, Proxy: other.url, CA: f.caPEM()}))
	_, err = b.in.RenewAuthorization(ctx, c)
	wantErr(t, err, ErrProxy, f.srv.URL, "through the proxy "+other.url, "refused to connect to the service", "allows CONNECT")

	// A proxy that is not there.
	dead := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	b.must(b.in.SetTransport(Transport{Kind: TransportDirect, URL: f.srv.URL, Proxy: dead, CA: f.caPEM()}))
	_, err = b.in.RenewAuthorization(ctx, c)
	wantErr(t, err, ErrProxy, "cannot reach the proxy", f.srv.URL, "check the proxy's host and port")
}

func TestThroughTinyproxyWithBasicAuthentication(t *testing.T) {
	b, f, _ := connectedBench(t)
	p := startTinyproxy(t, servicePort(t, f), "lic", "s3cret-pw")
	password := "s3cret-pw"
	asked := 0
	c := &Client{Timeout: 5 * time.Second, ProxyPassword: func(user string) (string, error) {
		asked++
		if user != "lic" {
			return "", fmt.Errorf("asked for user %q", user)
		}
		return password, nil
	}}
	defer c.Close()
	b.must(b.in.SetTransport(Transport{Kind: TransportSatellite, URL: f.srv.URL, Proxy: p.url, ProxyUser: "lic", CA: f.caPEM()}))
	_, err := b.in.Register(ctx, c, "TK-PLANT", []codes.License{{Tag: tagCamera, Count: 3}})
	b.must(err)
	_, err = b.in.RenewAuthorization(ctx, c)
	b.must(err)
	if asked == 0 || !b.in.Licensed(tagCamera) {
		t.Fatal("not registered through the authenticating proxy")
	}
	// The password is in no file of the state folder.
	files, _ := filepath.Glob(filepath.Join(b.dir, "*"))
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil && bytes.Contains(data, []byte("s3cret")) {
			t.Fatalf("%s holds the proxy password", name)
		}
	}

	// A wrong password: a clear error, and nothing changes.
	password = "wrong"
	st0, _ := b.in.Status()
	_, err = b.in.RenewAuthorization(ctx, c)
	wantErr(t, err, ErrProxy, `refused the password of user "lic" (HTTP 40`, "through the proxy "+p.url, f.srv.URL+api.PathRenewAuthorization)
	if strings.Contains(err.Error(), "wrong") {
		t.Fatalf("the error shows the password: %v", err)
	}
	if st, _ := b.in.Status(); st.Serial != st0.Serial {
		t.Fatal("a refused call changed the installed code")
	}
	// No password at all, and no user.
	password = ""
	_, err = b.in.RenewAuthorization(ctx, c)
	wantErr(t, err, ErrProxy, "without a password")
	b.must(b.in.SetTransport(Transport{Kind: TransportSatellite, URL: f.srv.URL, Proxy: p.url, CA: f.caPEM()}))
	_, err = b.in.RenewAuthorization(ctx, c)
	wantErr(t, err, ErrProxy, "asks for a user and password", "--proxy-user")
	// The password function failing (no terminal, no environment).
	b.must(b.in.SetTransport(Transport{Kind: TransportSatellite, URL: f.srv.URL, Proxy: p.url, ProxyUser: "nobody", CA: f.caPEM()}))
	_, err = b.in.RenewAuthorization(ctx, c)
	if !errors.Is(err, ErrProxy) || !strings.Contains(err.Error(), `asked for user "nobody"`) {
		t.Fatalf("password function error: %v", err)
	}
}
