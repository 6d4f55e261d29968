package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/authority"
)

var ctx = context.Background()

func TestOpenRefusesAMissingLedgerUnlessAskedToCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	if _, err := Open(path, Options{}); !errors.Is(err, authority.ErrNotInitialized) {
		t.Fatalf("got %v", err)
	}
	s, err := Open(path, Options{Create: true})
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
		if !errors.Is(err, authority.ErrSchema) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.pragmas, err, tc.want)
		}
	}
}

func TestOpenRefusesANewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	s, err := Open(path, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(path, Options{}); !errors.Is(err, authority.ErrSchema) || !strings.Contains(err.Error(), "schema version 99") {
		t.Fatalf("got %v", err)
	}
}

func TestAdjustHeldIsGuarded(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "ledger.db"), Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
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
	if err == nil || !strings.Contains(err.Error(), "CHECK constraint failed") {
		t.Fatalf("got %v", err)
	}
}

func TestHistoryIsAppendOnlyThroughSQL(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "ledger.db"), Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := authority.New(s, authority.Options{}).Init(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`UPDATE history SET actor = 'mallory'`, `DELETE FROM history`} {
		err := s.Update(ctx, func(tx authority.Tx) error {
			_, err := tx.(*txn).exec(q)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v", q, err)
		}
	}
}

// TestMigrationAddsTheJournalRecords: a ledger of schema version 1 opens
// with the fork-detection tables added and the returns it applied kept,
// without a journal tag.
func TestMigrationAddsTheJournalRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	all := migrations
	migrations = all[:2]
	s, err := Open(path, Options{Create: true})
	migrations = all
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO orgs (id, name, created_at) VALUES (1, 'acme', 1)`,
		`INSERT INTO accounts (id, org_id, name, removal_limit, created_at) VALUES (1, 1, 'plant', 3, 1)`,
		`INSERT INTO instances (id, udi, public_key, account_id, state, name, created_at, removed_at, removal_reason) VALUES (1, 'u', x'00', 1, 'returned', '', 1, 0, '')`,
		`INSERT INTO reservations (id, instance_id, account_id, status, serial, confirmed, created_at, updated_at, closed_at, seq) VALUES (7, 1, 1, 'returned', 1, 0, 1, 2, 2, 1)`,
		`INSERT INTO received (hash, kind, reservation_id, serial, at) VALUES (x'aa', 'return', 7, 1, 2)`,
	} {
		if _, err := s.w.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s.Close()

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
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
		u := &authority.UsageReport{Hash: []byte{0xcc}, InstanceID: 1, Count: 5, Head: make([]byte, 32), From: 1, To: 2, At: 4}
		if err := tx.InsertUsageReport(u); err != nil {
			return err
		}
		if err := tx.InsertUsageReport(u); err == nil {
			return errors.New("the same usage report was stored twice")
		}
		us, err := tx.UsageReports(1)
		if err != nil || len(us) != 1 || us[0].Previous != nil || us[0].Fork {
			return fmt.Errorf("usage reports %+v, %v", us, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
