package store

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/airlock-dev/airlock/authority/store/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// A backend makes ledgers of one database engine: every test of the
// conformance suite runs on each.
type backend struct {
	name string
	// fresh returns the name (a file or a URL) of a new, empty ledger.
	fresh func(t testing.TB) string
}

var backends = []backend{
	{"sqlite", func(t testing.TB) string { return filepath.Join(t.TempDir(), "ledger.db") }},
	{"postgres", pgtest.URL},
}

// eachBackend runs fn as a subtest per back end.
func eachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}

// create opens a new ledger of back end b, closed when t ends.
func (b backend) create(t testing.TB) *Store {
	t.Helper()
	s, err := Open(b.fresh(t), Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// raw runs a statement outside the ledger's transactions, as another
// client of the database would.
func (s *Store) raw(q string, args ...any) error {
	_, err := s.w.Exec(s.d.rebind(q), args...)
	return err
}

// The back ends, for tests of one only.
var sqliteBackend, postgresBackend = backends[0], backends[1]
