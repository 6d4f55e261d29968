package main

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/authority/store/pgtest"
	"github.com/airlock-dev/airlock/codes"
)

// stopPostgres stops the PostgreSQL server of the tests, if one was
// started, when they end (testscript.Main exits).
type stopPostgres struct{ m *testing.M }

func (s stopPostgres) Run() int {
	code := s.m.Run()
	pgtest.Stop()
	return code
}

// TestAuthorityOnPostgres: init --db makes the ledger in PostgreSQL and
// leaves ledger.url, without the password, in the folder; the other
// commands find the ledger there; AIRLOCK_DB overrides it.
func TestAuthorityOnPostgres(t *testing.T) {
	u, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), "s3cret") // the test server trusts any password
	db := u.String()
	dir := t.TempDir()
	t.Chdir(dir)
	desk := filepath.Join(dir, "desk")
	t.Setenv(envAuthorityDir, desk)
	t.Setenv(envActor, "tester")
	t.Setenv(envDB, "")
	t.Setenv("AIRLOCK_PASSPHRASE", "correct horse battery staple")

	code, _, stderr := runApp(t, "", "authority", "init", "--name", "desk", "--db", db)
	if code != 0 {
		t.Fatalf("init: %s", stderr)
	}
	if strings.Contains(stderr, "s3cret") {
		t.Fatalf("init printed the password:\n%s", stderr)
	}
	if !strings.Contains(stderr, "ledger.url: the ledger's database, postgres://airlock@") || !strings.Contains(stderr, "PGPASSWORD") {
		t.Fatalf("init said:\n%s", stderr)
	}
	b, err := os.ReadFile(filepath.Join(desk, "ledger.url"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "s3cret") || !strings.HasPrefix(string(b), "postgres://airlock@") {
		t.Fatalf("ledger.url holds %q", b)
	}
	if _, err := os.Stat(filepath.Join(desk, "ledger.db")); !os.IsNotExist(err) {
		t.Fatalf("init made ledger.db too: %v", err)
	}

	for _, args := range [][]string{
		{"authority", "org", "add", "acme"},
		{"authority", "account", "add", "--org", "acme", "plant"},
		{"authority", "lot", "add", "--account", "acme/plant", "--tag", "vms.camera.core", "--count", "5"},
		{"authority", "verify"},
	} {
		if code, _, stderr := runApp(t, "", args...); code != 0 {
			t.Fatalf("%v: %s", args, stderr)
		}
	}
	code, stdout, stderr := runApp(t, "", "authority", "licenses", "--account", "acme/plant")
	if code != 0 || !strings.Contains(stdout, "vms.camera.core") {
		t.Fatalf("licenses: %d\n%s%s", code, stdout, stderr)
	}

	// A second init into the same database is refused, and leaves no
	// file behind.
	other := filepath.Join(dir, "other")
	code, _, stderr = runApp(t, "", "authority", "init", "--dir", other, "--name", "other", "--db", db)
	if code != 1 || !strings.Contains(stderr, "holds one already: the ledger \"desk\" was initialized") ||
		!strings.Contains(stderr, "hint: give init an empty database") || strings.Contains(stderr, "s3cret") {
		t.Fatalf("second init: %d\n%s", code, stderr)
	}
	if names, _ := os.ReadDir(other); len(names) != 0 {
		t.Fatalf("the refused init left %v", names)
	}

	// AIRLOCK_DB, and --db before the command, override ledger.url.
	empty := pgtest.URL(t)
	t.Setenv(envDB, empty)
	code, _, stderr = runApp(t, "", "authority", "licenses")
	if code != 1 || !strings.Contains(stderr, "holds no ledger") {
		t.Fatalf("licenses with %s set: %d\n%s", envDB, code, stderr)
	}
	t.Setenv(envDB, "")
	code, _, stderr = runApp(t, "", "authority", "--db", empty, "licenses")
	if code != 1 || !strings.Contains(stderr, "holds no ledger") {
		t.Fatalf("licenses with --db: %d\n%s", code, stderr)
	}
}

// TestAuthorityUnreachableDatabase: a database that does not answer is
// an error with where and what to check, and never the password.
func TestAuthorityUnreachableDatabase(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	t.Setenv(envDB, "")
	code, _, stderr := runApp(t, "", "authority", "licenses", "--dir", dir, "--db", "postgres://ann:s3cret@"+addr+"/ledger?sslmode=disable")
	if code != 1 || strings.Contains(stderr, "s3cret") {
		t.Fatalf("%d\n%s", code, stderr)
	}
	for _, want := range []string{"database unreachable: " + addr, "connection refused", "airlock: hint: check --db, AIRLOCK_DB or the folder's ledger.url"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// TestAuthorityMigrate: migrate copies the folder's SQLite ledger into an
// empty PostgreSQL database, verifies both, and points the folder at it;
// it never copies twice into one database; and it copies back into a new
// SQLite file.
func TestAuthorityMigrate(t *testing.T) {
	db := pgtest.URL(t)
	dir, identity, trust := newDesk(t)
	t.Setenv(envDB, "")
	req := fixtureRequest(t, trust, codes.License{Tag: "vms.camera.core", Count: 2})
	if code, _, stderr := runApp(t, "", "authority", "reserve", "--identity", identity, "--account", "acme/plant", "--request", req); code != 0 {
		t.Fatalf("reserve: %s", stderr)
	}
	_, sqliteVerify, _ := runApp(t, "", "authority", "verify")

	code, stdout, stderr := runApp(t, "", "authority", "migrate", "--to", db)
	if code != 0 {
		t.Fatalf("migrate: %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "copied ") || !strings.Contains(stdout, "verified both: ") || !strings.Contains(stderr, "ledger.url") {
		t.Fatalf("migrate said:\n%s%s", stdout, stderr)
	}
	desk := filepath.Join(dir, "desk")
	if b, err := os.ReadFile(filepath.Join(desk, "ledger.url")); err != nil || strings.TrimSpace(string(b)) != db {
		t.Fatalf("ledger.url: %q, %v", b, err)
	}
	// The folder's commands now use the database: the same ledger, and
	// it goes on there.
	_, pgVerify, stderr := runApp(t, "", "authority", "verify")
	if pgVerify != sqliteVerify {
		t.Fatalf("verify on PostgreSQL:\n%s%s\non SQLite:\n%s", pgVerify, stderr, sqliteVerify)
	}
	if code, _, stderr := runApp(t, "", "authority", "lot", "add", "--account", "acme/plant", "--tag", "vms.camera.core", "--count", "3"); code != 0 {
		t.Fatalf("lot add: %s", stderr)
	}
	code, stdout, _ = runApp(t, "", "authority", "licenses", "--account", "acme/plant")
	if code != 0 || !strings.Contains(stdout, "8") {
		t.Fatalf("licenses: %s", stdout)
	}

	// Never twice.
	code, _, stderr = runApp(t, "", "authority", "migrate", "--to", db)
	if code != 2 || !strings.Contains(stderr, "in PostgreSQL already") {
		t.Fatalf("migrate again from the folder: %d\n%s", code, stderr)
	}
	code, _, stderr = runApp(t, "", "authority", "migrate", "--from", "sqlite://"+filepath.Join(desk, "ledger.db"), "--to", db)
	if code != 1 || !strings.Contains(stderr, "already exists") || !strings.Contains(stderr, "empty database only") {
		t.Fatalf("migrate again: %d\n%s", code, stderr)
	}

	// And back, into a new file.
	backup := filepath.Join(dir, "backup.db")
	code, stdout, stderr = runApp(t, "", "authority", "migrate", "--from", db, "--to", "sqlite://"+backup)
	if code != 0 {
		t.Fatalf("migrate back: %d\n%s%s", code, stdout, stderr)
	}
	_, backVerify, _ := runApp(t, "", "authority", "verify", "--db", "sqlite://"+backup)
	_, nowVerify, _ := runApp(t, "", "authority", "verify")
	if backVerify != nowVerify || backVerify == sqliteVerify {
		t.Fatalf("verify of the copy back:\n%s\nof the database:\n%s", backVerify, nowVerify)
	}
}
