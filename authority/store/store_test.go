package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/airlock-dev/airlock/authority"
)

var ctx = context.Background()

func TestOpenRefusesAMissingLedgerUnlessAskedToCreate(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		name := b.fresh(t)
		if _, err := Open(name, Options{}); !errors.Is(err, authority.ErrNotInitialized) {
			t.Fatalf("got %v", err)
		}
		s, err := Open(name, Options{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Check(ctx); err != nil {
			t.Fatal(err)
		}
		var v int
		if err := s.r.QueryRow(`SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil || v != SchemaVersion() {
			t.Fatalf("schema version %d, %v", v, err)
		}
		// Once made, it opens without Create.
		s2, err := Open(name, Options{})
		if err != nil {
			t.Fatal(err)
		}
		s2.Close()
	})
}

// TestOpenRefusesConnectionsWithoutDurability is ATTACKS T93: a
// connection without WAL or synchronous=FULL is refused when it opens.
func TestOpenRefusesConnectionsWithoutDurability(t *testing.T) {
	dir := t.TempDir()
	for i, tc := range []struct {
		pragmas []string
		want    string
	}{
		{[]string{"busy_timeout(1000)", "journal_mode(WAL)", "synchronous(OFF)", "foreign_keys(1)"}, "synchronous=FULL, the connection has synchronous=0"},
		{[]string{"busy_timeout(1000)", "journal_mode(WAL)", "synchronous(NORMAL)", "foreign_keys(1)"}, "synchronous=FULL, the connection has synchronous=1"},
		{[]string{"busy_timeout(1000)", "journal_mode(DELETE)", "synchronous(FULL)", "foreign_keys(1)"}, "journal_mode=WAL, the connection has journal_mode=delete"},
		{[]string{"busy_timeout(1000)", "journal_mode(WAL)", "synchronous(FULL)"}, "foreign_keys=ON"},
	} {
		q := url.Values{}
		for _, p := range tc.pragmas {
			q.Add("_pragma", p)
		}
		s, err := open(filepath.Join(dir, fmt.Sprintf("%d.db", i)), q)
		if err == nil {
			s.Close()
		}
		if !errors.Is(err, authority.ErrSchema) || !strings.Contains(err.Error(), "the connection has") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.pragmas, err, tc.want)
		}
	}
}

// TestPostgresConnectionsCommitSynchronously is T93 on PostgreSQL: a
// URL cannot turn synchronous commits off, while the other settings it
// gives apply.
func TestPostgresConnectionsCommitSynchronously(t *testing.T) {
	u := postgresBackend.fresh(t) + "&synchronous_commit=off&statement_timeout=12345&pool_max_conns=2"
	s, err := Open(u, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, db := range []*sql.DB{s.w, s.r} {
		var sync, timeout, lock string
		if err := db.QueryRow(`SELECT current_setting('synchronous_commit'), current_setting('statement_timeout'), current_setting('lock_timeout')`).Scan(&sync, &timeout, &lock); err != nil {
			t.Fatal(err)
		}
		if sync != "on" || timeout != "12345ms" || lock != "10s" {
			t.Errorf("synchronous_commit=%s statement_timeout=%s lock_timeout=%s", sync, timeout, lock)
		}
	}
	if n := s.r.Stats().MaxOpenConnections; n != 2 {
		t.Errorf("readers' pool of %d connections, want pool_max_conns=2", n)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesANewerSchema(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		name := b.fresh(t)
		s, err := Open(name, Options{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.raw(`INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)`); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if _, err := Open(name, Options{}); !errors.Is(err, authority.ErrSchema) || !strings.Contains(err.Error(), "schema version 99") {
			t.Fatalf("got %v", err)
		}
	})
}

// TestMigrationsRunOnceWhenProcessesOpenANewLedger: stores opened at
// once on a new ledger, each with its own connections as processes
// would, apply each migration once and all open.
func TestMigrationsRunOnceWhenProcessesOpenANewLedger(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		name := b.fresh(t)
		const n = 6
		var wg sync.WaitGroup
		stores := make([]*Store, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { stores[i], errs[i] = Open(name, Options{Create: true}) })
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("store %d: %v", i, errs[i])
			}
			defer stores[i].Close()
		}
		var rows, versions int
		if err := stores[0].r.QueryRow(`SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations`).Scan(&rows, &versions); err != nil {
			t.Fatal(err)
		}
		if rows != SchemaVersion() || versions != SchemaVersion() {
			t.Fatalf("%d migrations recorded, %d distinct; want %d", rows, versions, SchemaVersion())
		}
	})
}

func TestAdjustHeldIsGuarded(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := b.create(t)
		l := authority.New(s, authority.Options{})
		if err := l.Init(ctx, "t"); err != nil {
			t.Fatal(err)
		}
		if _, err := l.AddOrg(ctx, "o"); err != nil {
			t.Fatal(err)
		}
		if _, err := l.AddAccount(ctx, "o", "a", -1); err != nil {
			t.Fatal(err)
		}
		lot, err := l.AddLot(ctx, authority.LotSpec{Account: "o/a", Tag: "t", Count: 3})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			delta int64
			ok    bool
		}{{3, true}, {1, false}, {-4, false}, {-3, true}, {-1, false}} {
			err := s.Update(ctx, func(tx authority.Tx) error { return tx.AdjustHeld(lot.ID, tc.delta) })
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, authority.ErrUnavailable)) {
				t.Fatalf("adjust %+d: %v", tc.delta, err)
			}
		}
		// The CHECK constraint is the last line: a plain UPDATE past the
		// count fails too.
		err = s.Update(ctx, func(tx authority.Tx) error {
			_, err := tx.(*txn).exec(`UPDATE lots SET held = count + 1 WHERE id = ?`, lot.ID)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "CHECK constraint failed") && !strings.Contains(err.Error(), "violates check constraint") {
			t.Fatalf("got %v", err)
		}
		if _, err := l.Verify(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func TestHistoryIsAppendOnlyThroughSQL(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := b.create(t)
		if err := authority.New(s, authority.Options{}).Init(ctx, "t"); err != nil {
			t.Fatal(err)
		}
		qs := []string{`UPDATE history SET actor = 'mallory'`, `DELETE FROM history`}
		if b.name == "postgres" {
			qs = append(qs, `TRUNCATE history`)
		}
		for _, q := range qs {
			err := s.Update(ctx, func(tx authority.Tx) error {
				_, err := tx.(*txn).exec(q)
				return err
			})
			if err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: %v", q, err)
			}
		}
	})
}

// TestMigrationAddsTheJournalRecords: a ledger of schema version 1 opens
// with the fork-detection tables added and the returns it applied kept,
// without a journal tag.
func TestMigrationAddsTheJournalRecords(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		name := b.fresh(t)
		all := migrations
		migrations = all[:2]
		s, err := Open(name, Options{Create: true})
		migrations = all
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`INSERT INTO orgs (id, name, created_at) VALUES (1, 'acme', 1)`, nil},
			{`INSERT INTO accounts (id, org_id, name, removal_limit, created_at) VALUES (1, 1, 'plant', 3, 1)`, nil},
			{`INSERT INTO instances (id, udi, public_key, account_id, state, name, created_at, removed_at, removal_reason) VALUES (1, 'u', ?, 1, 'returned', '', 1, 0, '')`, []any{[]byte{0}}},
			{`INSERT INTO reservations (id, instance_id, account_id, status, serial, confirmed, created_at, updated_at, closed_at, seq) VALUES (7, 1, 1, 'returned', 1, 0, 1, 2, 2, 1)`, nil},
			{`INSERT INTO received (hash, kind, reservation_id, serial, at) VALUES (?, 'return', 7, 1, 2)`, []any{[]byte{0xaa}}},
		} {
			if err := s.raw(q.sql, q.args...); err != nil {
				t.Fatalf("%s: %v", q.sql, err)
			}
		}
		s.Close()

		s, err = Open(name, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		u := &authority.UsageReport{Hash: []byte{0xcc}, InstanceID: 1, Count: 5, Head: make([]byte, 32), From: 1, To: 2, At: 4}
		err = s.Update(ctx, func(tx authority.Tx) error {
			r, err := tx.Received([]byte{0xaa})
			if err != nil || r == nil || r.Journal != nil || r.Reservation != 7 {
				return fmt.Errorf("received %+v, %v", r, err)
			}
			if err := tx.InsertReceived(&authority.Received{Hash: []byte{0xbb}, Kind: "return", Reservation: 7, Serial: 1, At: 3, Journal: []byte{1, 2}}); err != nil {
				return err
			}
			if r, err := tx.Received([]byte{0xbb}); err != nil || string(r.Journal) != "\x01\x02" {
				return fmt.Errorf("received %+v, %v", r, err)
			}
			j := &authority.Journal{InstanceID: 1, Count: 5, Head: make([]byte, 32), Report: []byte{0xcc}, UpdatedAt: 4}
			if err := tx.InsertJournal(j); err != nil {
				return err
			}
			j.Forks, j.FirstFork, j.LastFork = 1, 5, 5
			if err := tx.UpdateJournal(j); err != nil {
				return err
			}
			if got, err := tx.Journal(1); err != nil || got.Forks != 1 || got.Count != 5 {
				return fmt.Errorf("journal %+v, %v", got, err)
			}
			return tx.InsertUsageReport(u)
		})
		if err != nil {
			t.Fatal(err)
		}
		// A failed statement ends a PostgreSQL transaction: the
		// duplicate is tried in one of its own.
		err = s.Update(ctx, func(tx authority.Tx) error { return tx.InsertUsageReport(u) })
		if err == nil {
			t.Fatal("the same usage report was stored twice")
		}
		err = s.View(ctx, func(tx authority.ReadTx) error {
			us, err := tx.UsageReports(1)
			if err != nil || len(us) != 1 || us[0].Previous != nil || us[0].Fork {
				return fmt.Errorf("usage reports %+v, %v", us, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestConcurrentWritersNeverOverAllocate: four stores on one ledger (each
// its own connections, as four processes), three goroutines each,
// transfer 1 to 3 licenses at a time out of one lot of 25. Exactly what
// was granted left the lot, never more than 25, the history records each
// transfer once, in one chain, and the ledger verifies.
func TestConcurrentWritersNeverOverAllocate(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		name := b.fresh(t)
		s, err := Open(name, Options{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		l := authority.New(s, authority.Options{Actor: "setup"})
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(l.Init(ctx, "t"))
		_, err = l.AddOrg(ctx, "o")
		must(err)
		for _, a := range []string{"pool", "out"} {
			_, err := l.AddAccount(ctx, "o", a, -1)
			must(err)
		}
		_, err = l.AddLot(ctx, authority.LotSpec{Account: "o/pool", Tag: "t", Count: 25})
		must(err)
		before, err := l.Verify(ctx)
		must(err)

		var granted, grants atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		for p := range 4 {
			st, err := Open(name, Options{})
			must(err)
			defer st.Close()
			pl := authority.New(st, authority.Options{Actor: fmt.Sprintf("process %d", p)})
			for g := range 3 {
				wg.Go(func() {
					for i := range 6 {
						n := int64(1 + (p+g+i)%3)
						_, err := pl.Transfer(ctx, "o/pool", "o/out", "t", n)
						switch {
						case err == nil:
							granted.Add(n)
							grants.Add(1)
						case errors.Is(err, authority.ErrUnavailable):
						default:
							errs <- err
						}
					}
				})
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		bs, err := l.Licenses(ctx, "o/out")
		must(err)
		if len(bs) != 1 || bs[0].Owned != granted.Load() || granted.Load() > 25 || granted.Load() < 23 {
			t.Fatalf("granted %d, o/out owns %+v", granted.Load(), bs)
		}
		after, err := l.Verify(ctx)
		must(err)
		// Each transfer records its new lot ("transfer in") and itself.
		if after.Events != before.Events+2*grants.Load() {
			t.Fatalf("%d events after %d grants, %d before", after.Events, grants.Load(), before.Events)
		}
	})
}

func TestRebindDollar(t *testing.T) {
	for in, want := range map[string]string{
		`SELECT 1`: `SELECT 1`,
		`UPDATE t SET a = ? WHERE b = ? AND c <> '?'`:       `UPDATE t SET a = $1 WHERE b = $2 AND c <> '?'`,
		`SELECT "?", ? FROM t WHERE x = 'it''s ?' OR y = ?`: `SELECT "?", $1 FROM t WHERE x = 'it''s ?' OR y = $2`,
	} {
		if got := rebindDollar(in); got != want {
			t.Errorf("%s: got %s, want %s", in, got, want)
		}
	}
}

func TestRedactURLNeverKeepsAPassword(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://ann:s3cret@db.example:5432/ledger?sslmode=verify-full": "postgres://ann@db.example:5432/ledger?sslmode=verify-full",
		"postgresql://db.example/ledger?user=ann&password=s3cret":          "postgresql://db.example/ledger?user=ann",
		"postgres://ann@db.example/ledger?sslpassword=s3cret":              "postgres://ann@db.example/ledger",
		"postgres://ann:s3cret@db.example:bad port/ledger":                 "postgres://(unparsable URL)",
		"/srv/airlock/ledger.db":                                           "/srv/airlock/ledger.db",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("%s: got %s, want %s", in, got, want)
		}
	}
}

func TestLedgerNameFollowsTheFolder(t *testing.T) {
	dir := t.TempDir()
	if got, err := LedgerName(dir, ""); err != nil || got != filepath.Join(dir, authority.LedgerFile) {
		t.Fatalf("got %q, %v", got, err)
	}
	if got, err := LedgerName(dir, "sqlite:///tmp/x.db"); err != nil || got != "/tmp/x.db" {
		t.Fatalf("got %q, %v", got, err)
	}
	if err := os.WriteFile(filepath.Join(dir, URLFile), []byte("postgres://ann@db.example/ledger\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := LedgerName(dir, ""); err != nil || got != "postgres://ann@db.example/ledger" {
		t.Fatalf("got %q, %v", got, err)
	}
	// --db and AIRLOCK_DB win over the folder's file.
	if got, err := LedgerName(dir, "postgresql://other/l"); err != nil || got != "postgresql://other/l" {
		t.Fatalf("got %q, %v", got, err)
	}
	_, err := LedgerName(dir, "mysql://ann:s3cret@db/l")
	if !errors.Is(err, authority.ErrInvalid) || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("got %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, URLFile), []byte("rm -rf /\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LedgerName(dir, ""); !errors.Is(err, authority.ErrInvalid) {
		t.Fatalf("got %v", err)
	}
}

// TestRehearsalRollsBackTheFirstRun: with Options.Rehearse every write
// runs fn twice, and only the second run's writes stay; an error in the
// rehearsal is the error of Update, and nothing is written.
func TestRehearsalRollsBackTheFirstRun(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s, err := Open(b.fresh(t), Options{Create: true, Rehearse: true})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		l := authority.New(s, authority.Options{})
		if err := l.Init(ctx, "t"); err != nil {
			t.Fatal(err)
		}
		runs := 0
		err = s.Update(ctx, func(tx authority.Tx) error {
			runs++
			return tx.InsertOrg(&authority.Org{Name: fmt.Sprintf("run%d", runs), CreatedAt: 1})
		})
		if err != nil || runs != 2 {
			t.Fatalf("runs %d, err %v", runs, err)
		}
		has := func(name string) bool {
			var o *authority.Org
			if err := s.View(ctx, func(tx authority.ReadTx) (err error) { o, err = tx.Org(name); return err }); err != nil {
				t.Fatal(err)
			}
			return o != nil
		}
		if has("run1") || !has("run2") {
			t.Fatalf("after a rehearsed write: run1 %v, run2 %v", has("run1"), has("run2"))
		}
		runs = 0
		refused := errors.New("refused")
		err = s.Update(ctx, func(tx authority.Tx) error {
			runs++
			if err := tx.InsertOrg(&authority.Org{Name: "refused", CreatedAt: 1}); err != nil {
				return err
			}
			return refused
		})
		if !errors.Is(err, refused) || runs != 1 {
			t.Fatalf("runs %d, err %v", runs, err)
		}
		if has("refused") {
			t.Fatal("a refused write left its org")
		}
	})
}
