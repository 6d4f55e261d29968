package store

import (
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
)

// TestPostgresUnreachableSaysWhereAndWhat: nothing listens at the URL's
// address; the error says so with the address, what to check, and never
// the password.
func TestPostgresUnreachableSaysWhereAndWhat(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = Open("postgres://ann:s3cret@"+addr+"/ledger?sslmode=disable&connect_timeout=5", Options{})
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("got %v", err)
	}
	for _, want := range []string{"database unreachable: " + addr + ": ", "connection refused", "check the URL, that PostgreSQL runs and accepts connections"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("%q shows the password", err)
	}
}

func TestPostgresRefusesABadURL(t *testing.T) {
	for _, u := range []string{
		"postgres://ann:s3cret@db.example/l?pool_max_conns=0",
		"postgres://ann:s3cret@db.example/l?pool_max_conn_lifetime=forever",
		"postgres://ann:s3cret@db.example/l?sslmode=sometimes",
		"postgres://ann:s3cret@db.example:port/l",
	} {
		_, err := Open(u, Options{})
		if !errors.Is(err, authority.ErrInvalid) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: got %v", RedactURL(u), err)
		}
	}
}

// TestPostgresMissingDatabase: a database that does not exist is a
// ledger not initialized, with what to do.
func TestPostgresMissingDatabase(t *testing.T) {
	u, err := url.Parse(postgresBackend.fresh(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/no_such_ledger"
	_, err = Open(u.String(), Options{Create: true})
	if !errors.Is(err, authority.ErrNotInitialized) || !strings.Contains(err.Error(), "createdb") {
		t.Fatalf("got %v", err)
	}
}

// TestPostgresWritersTakeTheLedgerLock: while a writer of one store is in
// its transaction, a writer of another store (another process) waits for
// it, and gives up with ErrBusy after the lock timeout.
func TestPostgresWritersTakeTheLedgerLock(t *testing.T) {
	name := postgresBackend.fresh(t)
	a, err := Open(name, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(name+"&lock_timeout=300", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	inside, release, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		done <- a.Update(ctx, func(authority.Tx) error {
			close(inside)
			<-release
			return nil
		})
	}()
	<-inside
	start := time.Now()
	err = b.Update(ctx, func(authority.Tx) error { return nil })
	if !errors.Is(err, authority.ErrBusy) || time.Since(start) < 250*time.Millisecond {
		t.Fatalf("after %s: %v", time.Since(start), err)
	}
	// A reader never waits.
	if err := b.View(ctx, func(authority.ReadTx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	c, err := Open(name, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		time.Sleep(100 * time.Millisecond)
		close(release)
	}()
	start = time.Now()
	if err := c.Update(ctx, func(authority.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < 50*time.Millisecond {
		t.Fatalf("the second writer did not wait for the first: %s", time.Since(start))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestPostgresRetriesSerializationFailures: a transaction the server
// rolls back as a serialization failure or a deadlock runs again; one
// that keeps failing ends as ErrBusy after maxAttempts.
func TestPostgresRetriesSerializationFailures(t *testing.T) {
	s := postgresBackend.create(t)
	for _, code := range []string{pgSerializationFailure, pgDeadlock} {
		attempts := 0
		err := s.Update(ctx, func(tx authority.Tx) error {
			attempts++
			if attempts < 3 {
				_, err := tx.(*txn).exec(`DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '` + code + `'; END $$`)
				return err
			}
			return nil
		})
		if err != nil || attempts != 3 {
			t.Fatalf("%s: %d attempts, %v", code, attempts, err)
		}
	}
	attempts := 0
	err := s.Update(ctx, func(tx authority.Tx) error {
		attempts++
		_, err := tx.(*txn).exec(`DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$`)
		return err
	})
	if !errors.Is(err, authority.ErrBusy) || attempts != maxAttempts {
		t.Fatalf("%d attempts, %v", attempts, err)
	}
	// Any other error is returned at once.
	attempts = 0
	err = s.Update(ctx, func(tx authority.Tx) error {
		attempts++
		return authority.ErrUnavailable
	})
	if !errors.Is(err, authority.ErrUnavailable) || attempts != 1 {
		t.Fatalf("%d attempts, %v", attempts, err)
	}
}

func TestRetryDelayGrowsAndStaysBounded(t *testing.T) {
	for n := 2; n <= maxAttempts; n++ {
		ceil := 5 * time.Millisecond << min(n-2, 6)
		for range 100 {
			if d := retryDelay(n); d < time.Millisecond || d > ceil+time.Millisecond {
				t.Fatalf("attempt %d: %s, want 1ms to %s", n, d, ceil+time.Millisecond)
			}
		}
	}
}
