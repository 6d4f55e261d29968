package authority_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/authority/store"
	"github.com/airlock-dev/airlock/authority/store/pgtest"
)

// ledgerBackendEnv chooses the store this package's tests run on:
// "postgres" runs them on PostgreSQL (a throwaway server, see pgtest),
// anything else on SQLite files. make test runs the package both ways.
const ledgerBackendEnv = "AIRLOCK_TEST_LEDGER"

func onPostgres() bool { return os.Getenv(ledgerBackendEnv) == "postgres" }

// newLedgerName returns the name of a new ledger for t, its schema made
// and nothing in it: a file in dir, or a PostgreSQL database.
func newLedgerName(t testing.TB, dir string) string {
	t.Helper()
	if !onPostgres() {
		return filepath.Join(dir, authority.LedgerFile)
	}
	return pgtest.URLFrom(t, "ledger", func(u string) error {
		st, err := store.Open(u, store.Options{Create: true})
		if err != nil {
			return err
		}
		return st.Close()
	})
}

// rehearseEnv makes every write transaction of this package's tests run
// its function twice, the first time rolled back (store.Options.Rehearse):
// PostgreSQL may run a write again after a serialization failure, so
// every function passed to Store.Update must be able to. The PostgreSQL
// pass always rehearses.
const rehearseEnv = "AIRLOCK_TEST_REHEARSE"

// storeOptions are the options of the stores the tests open.
func storeOptions(create bool) store.Options {
	return store.Options{Create: create, Rehearse: onPostgres() || os.Getenv(rehearseEnv) == "1"}
}

// sqliteOnly skips a test of what only a SQLite file has.
func sqliteOnly(t testing.TB, what string) {
	t.Helper()
	if onPostgres() {
		t.Skip("SQLite only: " + what)
	}
}

// tamper edits the ledger with SQL, as someone with the file, or with
// the database's owner's password, would: the append-only triggers are
// dropped (SQLite) or disabled with every other trigger and foreign key
// check (PostgreSQL, session_replication_role) first. Statements are
// SQLite's; on PostgreSQL, blob literals x'…' and zeroblob(n) are
// rewritten, and PRAGMAs dropped.
func (e *env) tamper(stmts ...string) {
	e.t.Helper()
	driver, pre := "sqlite", []string{`DROP TRIGGER IF EXISTS history_no_update`, `DROP TRIGGER IF EXISTS history_no_delete`}
	if onPostgres() {
		driver, pre = "pgx", []string{`SET session_replication_role = replica`}
	}
	db, err := sql.Open(driver, e.path)
	e.must(err)
	defer db.Close()
	// One connection: the session's settings hold for the statements.
	c, err := db.Conn(context.Background())
	e.must(err)
	defer c.Close()
	for _, s := range append(pre, stmts...) {
		if onPostgres() {
			if strings.HasPrefix(s, "PRAGMA ") {
				continue
			}
			s = pgBlobs(s)
		}
		r, err := c.ExecContext(context.Background(), s)
		if err != nil {
			e.t.Fatalf("%s: %v", s, err)
		}
		// A statement that misses (an id the ledger did not give, say)
		// would leave the test proving nothing.
		if verb, _, _ := strings.Cut(s, " "); verb == "UPDATE" || verb == "DELETE" {
			if n, err := r.RowsAffected(); err != nil || n == 0 {
				e.t.Fatalf("%s changed no row (%v): the tampering missed", s, err)
			}
		}
	}
}

var (
	blobLiteral = regexp.MustCompile(`x'([0-9a-fA-F]*)'`)
	zeroblob    = regexp.MustCompile(`zeroblob\((\d+)\)`)
)

// pgBlobs rewrites SQLite's blob literals for PostgreSQL.
func pgBlobs(s string) string {
	s = blobLiteral.ReplaceAllString(s, `'\x$1'::bytea`)
	return zeroblob.ReplaceAllString(s, `decode(repeat('00', $1), 'hex')`)
}
