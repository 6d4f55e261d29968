// Package pgtest gives tests a real PostgreSQL server: a throwaway
// cluster that it makes with initdb in a temporary folder and starts on a
// free loopback port the first time a test asks for a database, once per
// test binary, and stops and removes when the tests end. Each test gets a
// database of its own, dropped when the test ends.
//
// Use it from TestMain, then call URL in each test:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
//	func TestSomething(t *testing.T) {
//		st, err := store.Open(pgtest.URL(t), store.Options{Create: true})
//		…
//	}
//
// It looks for initdb and postgres in PATH, then in
// /usr/lib/postgresql/*/bin (Debian's postgresql package). initdb refuses
// to run as root: under root the cluster runs as the postgres account,
// or as nobody. Without a server, URL skips the test, or fails it when
// AIRLOCK_REQUIRE_POSTGRES=1 (make test sets it under root, as CI runs).
// AIRLOCK_TEST_POSTGRES=postgres://… uses a running server instead,
// with a user that may create databases.
//
// For tests only: it trusts every local connection.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables.
const (
	EnvRequire = "AIRLOCK_REQUIRE_POSTGRES" // "1": no server fails the test instead of skipping it
	EnvServer  = "AIRLOCK_TEST_POSTGRES"    // the URL of a running server to use
)

// startTimeout bounds initdb and the server's start: 2 minutes, on a slow
// CI machine under the race detector.
const startTimeout = 2 * time.Minute

var (
	once    sync.Once
	srv     *server
	srvErr  error
	skipMsg string
	dbSeq   atomic.Int64
)

// A server is the cluster tests use: one this package started, or the
// one EnvServer names.
type server struct {
	admin *url.URL // a URL of the maintenance database, with a user that may create databases
	mu    sync.Mutex
	conn  *pgx.Conn // on admin, guarded by mu

	// A cluster this package started:
	dir  string
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd exits
	log  string
}

// Main runs the tests, then stops and removes the cluster if one was
// started. Call it from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	Stop()
	return code
}

// Stop stops and removes the cluster, if one was started. Main calls it;
// a TestMain that cannot use Main calls it after m.Run.
func Stop() {
	if srv == nil {
		return
	}
	if srv.cmd == nil {
		// A server of EnvServer: drop the templates made on it.
		for _, tp := range templates {
			srv.exec(`DROP DATABASE IF EXISTS ` + tp.db + ` WITH (FORCE)`)
		}
	}
	if srv.conn != nil {
		srv.conn.Close(context.Background())
	}
	srv.stop()
}

// Available reports whether a server runs or can be started, starting it
// if needed; when not, the reason.
func Available() (bool, string) {
	once.Do(start)
	switch {
	case srvErr != nil:
		return false, srvErr.Error()
	case srv == nil:
		return false, skipMsg
	}
	return true, ""
}

// URL returns the URL of a new, empty database, dropped when t ends. It
// skips t when no PostgreSQL is installed, or fails it when
// AIRLOCK_REQUIRE_POSTGRES=1 or the server does not start.
func URL(t testing.TB) string {
	t.Helper()
	need(t)
	return newDatabase(t, "")
}

// URLFrom is URL, with the new database a copy of a template database
// that prepare makes, from an empty one, the first time URLFrom is called
// with this name: a test that needs a migrated ledger gets one without
// paying for the migrations. prepare must close its connections to the
// template before it returns.
func URLFrom(t testing.TB, name string, prepare func(url string) error) string {
	t.Helper()
	need(t)
	tm.Lock()
	tp := templates[name]
	if tp == nil {
		tp = &template{db: fmt.Sprintf("airlock_template_%d_%d", os.Getpid(), len(templates)+1)}
		templates[name] = tp
	}
	tm.Unlock()
	tp.once.Do(func() {
		if tp.err = srv.exec(`CREATE DATABASE ` + tp.db); tp.err != nil {
			return
		}
		u := *srv.admin
		u.Path = "/" + tp.db
		tp.err = prepare(u.String())
	})
	if tp.err != nil {
		t.Fatalf("pgtest: template %s: %v", name, tp.err)
	}
	return newDatabase(t, tp.db)
}

// need skips or fails t when there is no server.
func need(t testing.TB) {
	t.Helper()
	once.Do(start)
	if srvErr != nil {
		t.Fatalf("pgtest: %v", srvErr)
	}
	if srv == nil {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("pgtest: %s, and %s=1", skipMsg, EnvRequire)
		}
		t.Skipf("pgtest: %s", skipMsg)
	}
}

// newDatabase makes a database, a copy of template when not empty, and
// returns its URL.
func newDatabase(t testing.TB, template string) string {
	t.Helper()
	name := fmt.Sprintf("airlock_test_%d_%d", os.Getpid(), dbSeq.Add(1))
	q := `CREATE DATABASE ` + name
	if template != "" {
		q += ` TEMPLATE ` + template
	}
	if err := srv.exec(q); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	u := *srv.admin
	u.Path = "/" + name
	return u.String()
}

// A template is a database that URLFrom copies.
type template struct {
	db   string
	once sync.Once
	err  error
}

var (
	tm        sync.Mutex
	templates = map[string]*template{}
)

// exec runs one statement on the maintenance database.
func (s *server) exec(q string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if s.conn == nil || s.conn.IsClosed() {
		c, err := pgx.Connect(ctx, s.admin.String())
		if err != nil {
			return err
		}
		// Making and dropping test databases need not wait for the
		// disk: the stores' own connections always do.
		if _, err := c.Exec(ctx, `SET synchronous_commit = off`); err != nil {
			c.Close(ctx)
			return err
		}
		s.conn = c
	}
	_, err := s.conn.Exec(ctx, q)
	return err
}

func start() {
	if u := os.Getenv(EnvServer); u != "" {
		admin, err := url.Parse(u)
		if err != nil {
			srvErr = fmt.Errorf("%s: not a URL", EnvServer)
			return
		}
		srv = &server{admin: admin}
		if err := srv.exec(`SELECT 1`); err != nil {
			srv, srvErr = nil, fmt.Errorf("%s: %v", EnvServer, err)
		}
		return
	}
	bin, err := findBin()
	if err != nil {
		skipMsg = err.Error()
		return
	}
	srv, srvErr = startCluster(bin)
}

// findBin returns the folder of initdb and postgres.
func findBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// The newest version first: 9.6 < 10 < 17.
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL is not installed (no initdb in PATH or /usr/lib/postgresql/*/bin): install Debian's postgresql package, or set " + EnvServer + "=postgres://…")
}

func version(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

// account returns the credential to run the cluster with: none (this
// process's) unless it runs as root, which initdb refuses.
func account() (*syscall.Credential, string, error) {
	if os.Geteuid() != 0 {
		return nil, "", nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, name, nil
	}
	return nil, "", errors.New("running as root, and neither the postgres nor the nobody account exists to run PostgreSQL as")
}

func startCluster(bin string) (*server, error) {
	cred, who, err := account()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "airlock-pgtest-")
	if err != nil {
		return nil, err
	}
	s := &server{dir: dir, log: filepath.Join(dir, "postgres.log")}
	fail := func(err error) (*server, error) {
		s.stop()
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fail(err)
		}
	}
	data := filepath.Join(dir, "data")
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "airlock", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Env = env()
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		as := ""
		if who != "" {
			as = " as " + who
		}
		return fail(fmt.Errorf("initdb%s in %s: %v\n%s", as, dir, err, out))
	}
	// A port found free may be taken before the server listens on it:
	// try a few.
	var last error
	for range 3 {
		port, err := freePort()
		if err != nil {
			return fail(err)
		}
		if err := s.run(ctx, bin, data, port, cred); err != nil {
			last = err
			continue
		}
		s.admin = &url.URL{Scheme: "postgres", User: url.User("airlock"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			Path: "/postgres", RawQuery: "sslmode=disable"}
		if err := s.wait(ctx); err != nil {
			return fail(err)
		}
		return s, nil
	}
	return fail(last)
}

// run starts the postmaster on port. It dies with this process
// (Pdeathsig): a test binary killed by its timeout leaves no server.
func (s *server) run(ctx context.Context, bin, data string, port int, cred *syscall.Credential) error {
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	if cred != nil {
		os.Chown(s.log, int(cred.Uid), int(cred.Gid))
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=",
		// Durable, as the store requires; every test opens a few
		// connections per store.
		"-c", "fsync=on",
		"-c", "max_connections=400",
		"-c", "shared_buffers=64MB",
	)
	cmd.Env = env()
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() {
		cmd.Wait()
		close(s.done)
	}()
	// Wait until it accepts connections, or exits (a taken port).
	probe := &url.URL{Scheme: "postgres", User: url.User("airlock"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Path: "/postgres", RawQuery: "sslmode=disable&connect_timeout=5"}
	for {
		select {
		case <-s.done:
			s.cmd = nil
			b, _ := os.ReadFile(s.log)
			return fmt.Errorf("postgres exited at start (port %d): %s", port, tail(string(b)))
		case <-ctx.Done():
			cmd.Process.Kill()
			<-s.done
			s.cmd = nil
			return fmt.Errorf("postgres did not accept connections within %s: %s", startTimeout, s.logTail())
		case <-time.After(50 * time.Millisecond):
		}
		c, err := pgx.Connect(ctx, probe.String())
		if err == nil {
			c.Close(ctx)
			return nil
		}
	}
}

// wait checks the admin connection.
func (s *server) wait(ctx context.Context) error {
	if err := s.exec(`SELECT 1`); err != nil {
		return fmt.Errorf("postgres: %v: %s", err, s.logTail())
	}
	return nil
}

// stop stops the cluster this package started (a fast shutdown, then a
// kill), and removes its folder.
func (s *server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			s.cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case <-s.done:
			case <-time.After(10 * time.Second):
				s.cmd.Process.Kill()
				<-s.done
			}
		}
		s.cmd = nil
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
		s.dir = ""
	}
}

func (s *server) logTail() string {
	b, _ := os.ReadFile(s.log)
	return tail(string(b))
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// env is the environment of initdb and postgres: no PG* variable of the
// caller's, and a locale every system has.
func env() []string {
	out := []string{"LC_ALL=C", "LANG=C"}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PATH=") || strings.HasPrefix(kv, "TZ=") {
			out = append(out, kv)
		}
	}
	return out
}
