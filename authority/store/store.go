// Package store is the authority.Store: the embedded default, one SQLite
// file through modernc.org/sqlite (no cgo), or a PostgreSQL database
// through github.com/jackc/pgx/v5, for several authority servers on one
// ledger. Both run the same schema and queries (see dialect).
//
// Open it with Open (or OpenLedger for a ledger on an authority folder),
// with a file name or a postgres:// URL.
//
// A SQLite file runs in WAL mode with synchronous=FULL, so that a commit
// is on disk when Update returns, and every write transaction starts with
// BEGIN IMMEDIATE, so that it holds the write lock from its first read
// and no two writers ever act on the same snapshot. Other processes wait
// for the lock up to the busy timeout. Every connection is checked for
// these settings when it opens, and the schema migrations are applied at
// open.
//
// On PostgreSQL, every write transaction runs at READ COMMITTED and takes
// one transaction-level advisory lock first (pg_advisory_xact_lock), so
// that writers run one at a time across processes and hosts, as SQLite's
// do; readers run at REPEATABLE READ and never wait. Every connection
// commits synchronously and is refused on a server without fsync.
//
// Never copy ledger.db alone while ledger.db-wal exists: back up with
// `sqlite3 ledger.db "VACUUM INTO 'backup.db'"`, or stop every writer
// first. Back up a PostgreSQL ledger with pg_dump (one consistent
// snapshot), or copy it into a new SQLite file with Copy.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"

	"github.com/airlock-dev/airlock/authority"
)

// busyTimeout is how long a transaction waits for another process's write
// lock: 10 s, longer than any transaction the ledger runs (a batch commits
// every few tens of milliseconds), short enough that a stuck process is
// reported rather than waited on forever.
const busyTimeout = 10 * time.Second

// pragmas are applied to every connection, busy_timeout first so that
// the others wait for a lock too.
var pragmas = []string{
	fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()),
	"journal_mode(WAL)",
	"synchronous(FULL)",
	"foreign_keys(1)",
	// 32 MiB of page cache per connection (SQLite's default is 2 MiB):
	// reservations land on random pages of the tables and indexes, and a
	// batch of thousands touches more than 2 MiB of them.
	"cache_size(-32768)",
}

// Options configure Open.
type Options struct {
	// Create makes a new, empty ledger file if path does not exist, or
	// the ledger's tables in a PostgreSQL database that has none.
	// Without it, Open fails with authority.ErrNotInitialized.
	Create bool
	// Rehearse runs every write transaction's fn twice: once in a
	// transaction that is then rolled back, as PostgreSQL rolls back one
	// it retries, and once for real. It is for tests: fn may run more than
	// once, and must leave nothing behind but what it writes through the
	// transaction.
	Rehearse bool
}

// A Store is the SQLite or PostgreSQL store. It is safe for concurrent
// use.
type Store struct {
	path string // the file, or the URL without its password
	d    *dialect
	w    *sql.DB // writers: BEGIN IMMEDIATE
	r    *sql.DB // readers, deferred transactions (WAL snapshots)

	// wmu serializes this process's writers, so that they queue here
	// rather than poll the file lock, and guards stmts: the writers'
	// statements, prepared once per store and reused by every
	// transaction on each connection.
	wmu   sync.Mutex
	stmts map[string]*sql.Stmt

	rehearse bool // Options.Rehearse
}

var _ authority.Store = (*Store)(nil)
var _ authority.Checker = (*Store)(nil)

// Open opens the ledger file at path, or the PostgreSQL database at a
// postgres:// URL, applies the schema migrations it lacks, and checks the
// settings of every connection it opens. The URL is pgx's (libpq's):
// sslmode and the other parameters apply as documented there, the
// password may come from PGPASSWORD or ~/.pgpass, and pool_max_conns,
// pool_max_conn_lifetime and pool_max_conn_idle_time set the readers'
// pool.
func Open(path string, o Options) (*Store, error) {
	if IsPostgres(path) {
		return openPostgres(path, o)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(abs); errors.Is(err, os.ErrNotExist) && !o.Create {
		return nil, fmt.Errorf("%w: %s does not exist", authority.ErrNotInitialized, path)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	s, err := open(abs, q)
	if s != nil {
		s.rehearse = o.Rehearse
	}
	return s, err
}

// open opens path with the connection parameters q; tests pass wrong ones
// to see them refused.
func open(path string, q url.Values) (*Store, error) {
	name := "file:" + (&url.URL{Path: path}).EscapedPath()
	wq, rq := cloneValues(q), cloneValues(q)
	wq.Set("_txlock", "immediate")
	rq.Set("_txlock", "deferred")
	s := &Store{path: path, d: sqliteDialect, stmts: map[string]*sql.Stmt{}}
	s.w = sql.OpenDB(&connector{dsn: name + "?" + wq.Encode()})
	s.r = sql.OpenDB(&connector{dsn: name + "?" + rq.Encode()})
	// Writers run one at a time (wmu). The second connection is where a
	// statement is first prepared while the first one is in a
	// transaction; database/sql then prepares it once on each connection
	// and reuses it.
	s.w.SetMaxOpenConns(2)
	s.w.SetMaxIdleConns(2)
	s.w.SetConnMaxLifetime(0)
	s.r.SetMaxOpenConns(4)
	s.r.SetMaxIdleConns(4)
	if err := s.migrate(context.Background(), true); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// Close closes the store.
func (s *Store) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	for _, st := range s.stmts {
		st.Close()
	}
	s.stmts = map[string]*sql.Stmt{}
	return errors.Join(s.w.Close(), s.r.Close())
}

// Path returns the ledger file's path, or the database's URL without its
// password.
func (s *Store) Path() string { return s.path }

// A connector opens connections with the modernc driver and checks each
// for the settings durability needs, so that a connection opened later by
// the pool can never run without them (ATTACKS T93).
type connector struct {
	dsn string
	drv sqlite.Driver
}

func (c *connector) Driver() driver.Driver { return &c.drv }

func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, classifySQLite(err)
	}
	if err := checkConn(ctx, conn); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// checkConn refuses a connection not in WAL mode with synchronous=FULL and
// foreign keys on.
func checkConn(ctx context.Context, conn driver.Conn) error {
	q, ok := conn.(driver.QueryerContext)
	if !ok {
		return fmt.Errorf("%w: the SQLite driver cannot run queries on a connection", authority.ErrSchema)
	}
	get := func(pragma string) (string, error) {
		rows, err := q.QueryContext(ctx, "PRAGMA "+pragma, nil)
		if err != nil {
			return "", classifySQLite(err)
		}
		defer rows.Close()
		v := make([]driver.Value, len(rows.Columns()))
		if err := rows.Next(v); err != nil {
			return "", fmt.Errorf("PRAGMA %s: %w", pragma, err)
		}
		return strings.ToLower(fmt.Sprint(v[0])), nil
	}
	want := []struct{ pragma, value, name string }{
		{"journal_mode", "wal", "journal_mode=WAL"},
		{"synchronous", "2", "synchronous=FULL"},
		{"foreign_keys", "1", "foreign_keys=ON"},
	}
	for _, w := range want {
		got, err := get(w.pragma)
		if err != nil {
			return err
		}
		if got != w.value {
			return fmt.Errorf("%w: the ledger must run with %s, the connection has %s=%s", authority.ErrSchema, w.name, w.pragma, got)
		}
	}
	return nil
}

// migrate applies the migrations the ledger lacks; without create, a
// ledger without any is refused (a SQLite file that exists is not).
// Migrations run in a write transaction, so that two processes opening a
// new ledger at once apply each once.
func (s *Store) migrate(ctx context.Context, create bool) error {
	have, err := s.version(ctx, s.r)
	if err != nil {
		return err
	}
	if have == len(migrations)-1 {
		return nil
	}
	if have == 0 && !create {
		return fmt.Errorf("%w: the database %s holds no ledger: run 'airlock authority init --db URL'", authority.ErrNotInitialized, s.path)
	}
	return s.update(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
			return err
		}
		var v sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
			return err
		}
		have := int(v.Int64)
		if have > len(migrations)-1 {
			return fmt.Errorf("%w: the ledger has schema version %d, this airlock knows up to %d: use a newer airlock", authority.ErrSchema, have, len(migrations)-1)
		}
		for n := have + 1; n < len(migrations); n++ {
			stmts := splitStatements(s.d.types.Replace(migrations[n]))
			stmts = append(stmts, s.d.extra[n]...)
			for _, st := range stmts {
				if _, err := tx.ExecContext(ctx, st); err != nil {
					return fmt.Errorf("schema version %d: %w", n, err)
				}
			}
			if _, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`), n, time.Now().Unix()); err != nil {
				return err
			}
		}
		return nil
	}, func(authority.Tx) error { return nil })
}

// version returns the schema version of the file, 0 for a new one.
func (s *Store) version(ctx context.Context, db *sql.DB) (int, error) {
	var n int
	err := db.QueryRowContext(ctx, s.d.rebind(s.d.tableExists), "schema_migrations").Scan(&n)
	if err != nil {
		return 0, s.d.classify(err)
	}
	if n == 0 {
		return 0, nil
	}
	var v sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, s.d.classify(err)
	}
	if int(v.Int64) > len(migrations)-1 {
		return 0, fmt.Errorf("%w: the ledger has schema version %d, this airlock knows up to %d: use a newer airlock", authority.ErrSchema, v.Int64, len(migrations)-1)
	}
	return int(v.Int64), nil
}

func splitStatements(script string) []string {
	var out []string
	for _, st := range strings.Split(script, ";\n") {
		if st = strings.TrimSpace(st); st != "" {
			out = append(out, st)
		}
	}
	return out
}

// SchemaVersion returns the schema version this package writes.
func SchemaVersion() int { return len(migrations) - 1 }

// Update runs fn in a write transaction: BEGIN IMMEDIATE (SQLite) or
// the ledger's advisory lock (PostgreSQL), then fn, then a durable
// commit. On PostgreSQL, a transaction the server rolled back as a
// serialization failure or a deadlock runs again, fn included, up to
// maxAttempts times: fn must leave nothing behind but what it writes
// through the transaction, or reset it when it starts.
func (s *Store) Update(ctx context.Context, fn func(authority.Tx) error) error {
	return s.update(ctx, nil, fn)
}

// maxAttempts is how many times a write transaction runs before a
// serialization failure or deadlock is returned (as authority.ErrBusy).
const maxAttempts = 8

// retryDelay is the wait before attempt n (from 2): up to 5 ms, doubling
// with every attempt up to 320 ms, at a uniformly random point of that
// range so that sessions that conflicted once do not meet again.
func retryDelay(n int) time.Duration {
	ceil := 5 * time.Millisecond << min(n-2, 6)
	return time.Duration(rand.Int64N(int64(ceil))) + time.Millisecond
}

// update runs raw, when not nil, on the underlying transaction (for
// migrations), then fn.
func (s *Store) update(ctx context.Context, raw func(*sql.Tx) error, fn func(authority.Tx) error) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.rehearse && raw == nil {
		if err := s.updateOnce(ctx, nil, fn, true); err != errRehearsed {
			return s.d.classify(err)
		}
	}
	for n := 1; ; n++ {
		err := s.updateOnce(ctx, raw, fn, false)
		if err == nil || s.d.retryable == nil || !s.d.retryable(err) || n == maxAttempts {
			return s.d.classify(err)
		}
		select {
		case <-time.After(retryDelay(n + 1)):
		case <-ctx.Done():
			return s.d.classify(err)
		}
	}
}

// errRehearsed is what a rehearsal returns when fn succeeded.
var errRehearsed = errors.New("rehearsed")

// updateOnce runs one write transaction; a rehearsal rolls it back after
// fn.
func (s *Store) updateOnce(ctx context.Context, raw func(*sql.Tx) error, fn func(authority.Tx) error, rehearsal bool) error {
	tx, err := s.w.BeginTx(ctx, s.d.writeTx)
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			tx.Rollback()
		}
	}()
	if s.d.lock != "" {
		if _, err := tx.ExecContext(ctx, s.d.lock); err != nil {
			return err
		}
	}
	if raw != nil {
		if err := raw(tx); err != nil {
			return err
		}
	}
	t := &txn{s: s, prepared: true, tx: tx, ctx: ctx, cache: map[string]*sql.Stmt{}}
	if err := fn(t); err != nil {
		return err
	}
	if rehearsal {
		return errRehearsed
	}
	done = true
	return tx.Commit()
}

// View runs fn in a read transaction on a snapshot (WAL in SQLite,
// REPEATABLE READ in PostgreSQL): it never waits for writers, nor they for
// it.
func (s *Store) View(ctx context.Context, fn func(authority.ReadTx) error) error {
	tx, err := s.r.BeginTx(ctx, s.d.readTx)
	if err != nil {
		return s.d.classify(err)
	}
	defer tx.Rollback()
	t := &txn{s: s, tx: tx, ctx: ctx}
	return s.d.classify(fn(t))
}

// Check runs the settings check on the writer's connection and a
// reader's, and, on SQLite, the integrity check.
func (s *Store) Check(ctx context.Context) error {
	if s.d != sqliteDialect {
		return s.checkPostgres(ctx)
	}
	for _, db := range []*sql.DB{s.w, s.r} {
		c, err := db.Conn(ctx)
		if err != nil {
			return s.d.classify(err)
		}
		err = c.Raw(func(dc any) error { return checkConn(ctx, dc.(driver.Conn)) })
		c.Close()
		if err != nil {
			return err
		}
	}
	rows, err := s.r.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return s.d.classify(err)
	}
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return err
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return s.d.classify(err)
	}
	if len(msgs) != 1 || msgs[0] != "ok" {
		return fmt.Errorf("%w: SQLite integrity check: %s", authority.ErrCorrupt, strings.Join(msgs, "; "))
	}
	return nil
}

// stmt returns the writers' statement for query, prepared once per store.
// The caller holds wmu.
func (s *Store) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st := s.stmts[query]; st != nil {
		return st, nil
	}
	st, err := s.w.PrepareContext(ctx, s.d.rebind(query))
	if err != nil {
		return nil, err
	}
	s.stmts[query] = st
	return st, nil
}

// OpenLedger opens the ledger of an authority folder with the options
// given: the database the folder's ledger.url names, else the file
// dir/ledger.db (LedgerName). create makes the file, or the tables, if
// missing; the caller then runs Ledger.Init. The returned close function
// closes the store.
func OpenLedger(dir string, create bool, opts authority.Options) (*authority.Ledger, io.Closer, error) {
	name, err := LedgerName(dir, "")
	if err != nil {
		return nil, nil, err
	}
	st, err := Open(name, Options{Create: create})
	if err != nil {
		return nil, nil, err
	}
	return authority.New(st, opts), st, nil
}

// URLFile is the file of an authority folder whose ledger is in
// PostgreSQL: one line, the database's URL without its password (which
// comes from PGPASSWORD or ~/.pgpass), written by init --db.
const URLFile = "ledger.url"

// maxURLFile bounds URLFile: 4 KiB, far more than any URL.
const maxURLFile = 4 << 10

// LedgerName returns the ledger an authority folder names: db when it is
// not empty (a postgres:// URL, or sqlite://FILE), else the URL in
// dir/ledger.url when that file exists, else the file dir/ledger.db.
func LedgerName(dir, db string) (string, error) {
	if db != "" {
		return parseLedgerName(db)
	}
	path := filepath.Join(dir, URLFile)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return filepath.Join(dir, authority.LedgerFile), nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxURLFile+1))
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	u := strings.TrimSpace(string(b))
	if len(b) > maxURLFile || !IsPostgres(u) || strings.ContainsAny(u, "\n\r") {
		return "", fmt.Errorf("%w: %s does not hold one postgres:// URL", authority.ErrInvalid, path)
	}
	return u, nil
}

// parseLedgerName reads a --db value.
func parseLedgerName(db string) (string, error) {
	switch {
	case IsPostgres(db):
		return db, nil
	case strings.HasPrefix(db, "sqlite://"):
		if p := strings.TrimPrefix(db, "sqlite://"); p != "" {
			return p, nil
		}
	}
	// Only the scheme: what follows may hold a password.
	scheme, _, ok := strings.Cut(db, "://")
	if !ok {
		scheme = "a file name"
	} else {
		scheme += "://…"
	}
	return "", fmt.Errorf("%w: the ledger (%s) is neither a postgres://… URL nor sqlite://FILE", authority.ErrInvalid, scheme)
}
