package authority_test

import (
	"bufio"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/authority/store"
	"github.com/airlock-dev/airlock/authority/store/pgtest"
	"github.com/airlock-dev/airlock/codes"
)

// childEnv names the child-process mode of the test binary: the
// multi-process and crash tests re-run it with this variable set.
const childEnv = "AIRLOCK_AUTHORITY_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(pgtest.Main(m))
	case "reserve":
		os.Exit(childReserve())
	case "crash":
		os.Exit(childCrash())
	case "reservebench":
		os.Exit(childReserveBench())
	default:
		fmt.Fprintln(os.Stderr, "unknown child mode")
		os.Exit(2)
	}
}

// A pool is what the race harness allocates from: take asks for n
// licenses and reports whether they were granted; refusals must be clean
// (errRefused).
type pool interface {
	take(worker, i int, n int64) (bool, error)
	// used returns what the pool says it has handed out.
	used() (int64, error)
}

// race runs workers goroutines, each taking sizes[i%len(sizes)] licenses
// calls times, all released at once, and returns the licenses granted.
// It fails the test on an error that is not a clean refusal.
func race(t *testing.T, p pool, workers, calls int, sizes []int64) int64 {
	t.Helper()
	var granted atomic.Int64
	var start sync.WaitGroup
	start.Add(1)
	var wg sync.WaitGroup
	errs := make(chan error, workers*calls)
	for w := range workers {
		wg.Go(func() {
			start.Wait()
			for i := range calls {
				n := sizes[(w+i)%len(sizes)]
				ok, err := p.take(w, i, n)
				if err != nil {
					errs <- fmt.Errorf("worker %d call %d: %w", w, i, err)
					continue
				}
				if ok {
					granted.Add(n)
				}
			}
		})
	}
	start.Done()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	return granted.Load()
}

// oversold reports whether a pool of total handed out more than total, or
// recorded another amount than it granted.
func oversold(t *testing.T, p pool, total, granted int64) bool {
	used, err := p.used()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("total %d, granted %d, recorded used %d", total, granted, used)
	return granted > total || used != granted
}

// ledgerPool reserves through one ledger handle per worker, each on its
// own store, so that the workers contend for the SQLite file lock as
// processes would.
type ledgerPool struct {
	e       *env
	ledgers []*authority.Ledger
}

func (p *ledgerPool) take(w, i int, n int64) (bool, error) {
	d := p.e.device(fmt.Sprintf("w%d-%d", w, i))
	_, err := p.ledgers[w].Reserve(ctx, "acme/plant", d.request(lic(camera, uint32(n))), nil)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, authority.ErrUnavailable):
		return false, nil
	}
	return false, err
}

func (p *ledgerPool) used() (int64, error) {
	bs, err := p.e.l.Licenses(ctx, "acme/plant")
	if err != nil {
		return 0, err
	}
	for _, b := range bs {
		if b.Tag == camera {
			return b.Reserved + b.InTransition, nil
		}
	}
	return 0, errors.New("no camera licenses")
}

// TestReserveNeverOverAllocates is ATTACKS T87: 8 goroutines, each on its
// own store handle, reserve from a pool of 25 at once.
func TestReserveNeverOverAllocates(t *testing.T) {
	e := newEnv(t)
	e.setup()
	p := &ledgerPool{e: e}
	for range 8 {
		p.ledgers = append(p.ledgers, e.ledger())
	}
	granted := race(t, p, 8, 6, []int64{1, 2, 3})
	if oversold(t, p, 25, granted) {
		t.Fatal("the ledger over-allocated")
	}
	if granted < 23 {
		t.Fatalf("only %d of 25 granted: refusals were not clean", granted)
	}
	e.verify()
}

// TestReserveSameRequestConcurrently is ATTACKS T88: the same request 8
// times at once gets one reservation and the same code everywhere.
func TestReserveSameRequestConcurrently(t *testing.T) {
	e := newEnv(t)
	e.setup()
	req := e.device("cam-1").request(lic(camera, 2))
	codes := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range 8 {
		l := e.ledger()
		wg.Go(func() {
			a, err := l.Reserve(ctx, "acme/plant", req, nil)
			if err != nil {
				t.Error(err)
				return
			}
			codes[i] = a.Code
		})
	}
	wg.Wait()
	for i := range codes {
		if string(codes[i]) != string(codes[0]) {
			t.Fatalf("answer %d differs", i)
		}
	}
	e.wantBalance("acme/plant", camera, 25, 23, 2, 0)
	if r := e.verify(); r.Reservations != 1 {
		t.Fatalf("%d reservations", r.Reservations)
	}
}

// checkThenAct is the negative control: it reads what is free in one
// statement and takes it in another, on a table without a CHECK, from
// separate connections. The race harness must catch it overselling, or
// the harness could not tell a correct ledger from a broken one.
type checkThenAct struct {
	db    *sql.DB
	total int64
}

func (p *checkThenAct) take(_, _ int, n int64) (bool, error) {
	var used int64
	if err := p.db.QueryRow(`SELECT used FROM pool WHERE id = 1`).Scan(&used); err != nil {
		return false, err
	}
	if used+n > p.total {
		return false, nil
	}
	time.Sleep(time.Millisecond) // the window every check-then-act has
	_, err := p.db.Exec(`UPDATE pool SET used = used + ? WHERE id = 1`, n)
	return err == nil, err
}

func (p *checkThenAct) used() (int64, error) {
	var used int64
	err := p.db.QueryRow(`SELECT used FROM pool WHERE id = 1`).Scan(&used)
	return used, err
}

func TestHarnessDetectsOversell(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pool.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(8)
	if _, err := db.Exec(`CREATE TABLE pool (id INTEGER PRIMARY KEY, used INTEGER NOT NULL); INSERT INTO pool VALUES (1, 0)`); err != nil {
		t.Fatal(err)
	}
	p := &checkThenAct{db: db, total: 25}
	granted := race(t, p, 8, 6, []int64{1, 2, 3})
	if !oversold(t, p, 25, granted) {
		t.Fatal("the harness did not catch a check-then-act pool overselling: it cannot prove the ledger correct")
	}
}

// TestReserveAcrossProcessesNeverOverAllocates is ATTACKS T89: 4
// processes reserve from one pool of 25 at once.
func TestReserveAcrossProcessesNeverOverAllocates(t *testing.T) {
	e := newEnv(t)
	e.setup()
	e.st.Close()
	var cmds []*exec.Cmd
	var outs []*strings.Builder
	for w := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=reserve", "LEDGER="+e.path, "WORKER="+strconv.Itoa(w), "CALLS=12")
		out := &strings.Builder{}
		cmd.Stdout, cmd.Stderr = out, out
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	var granted int64
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("process %d: %v\n%s", i, err, outs[i])
		}
		for _, line := range strings.Split(outs[i].String(), "\n") {
			if n, ok := strings.CutPrefix(line, "granted "); ok {
				k, _ := strconv.ParseInt(n, 10, 64)
				granted += k
			}
		}
	}
	l := e.ledger()
	p := &ledgerPool{e: &env{t: t, l: l}}
	if oversold(t, p, 25, granted) {
		t.Fatal("the processes over-allocated")
	}
	if granted < 23 {
		t.Fatalf("only %d of 25 granted", granted)
	}
	if _, err := l.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

// childReserve reserves CALLS times from LEDGER, 1 to 3 licenses each, and
// prints "granted N" for each grant; a refusal other than "not enough
// licenses" fails it.
func childReserve() int {
	st, err := store.Open(os.Getenv("LEDGER"), storeOptions(false))
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer st.Close()
	f := fixture(nil)
	l := authority.New(st, authority.Options{Keys: []*codes.AuthorityKey{f.Authority}, Actor: "child", Now: func() time.Time { return t0 }})
	w, _ := strconv.Atoi(os.Getenv("WORKER"))
	calls, _ := strconv.Atoi(os.Getenv("CALLS"))
	for i := range calls {
		n := int64(1 + (w+i)%3)
		d := newDevice(nil, fmt.Sprintf("p%d-%d", w, i), f.Authority)
		_, err := l.Reserve(ctx, "acme/plant", d.request(lic(camera, uint32(n))), nil)
		switch {
		case err == nil:
			fmt.Println("granted", n)
		case errors.Is(err, authority.ErrUnavailable):
			fmt.Println("refused", n)
		default:
			fmt.Println("error:", err)
			return 1
		}
	}
	return 0
}

// readLines returns the complete lines of a child's output.
func readLines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	if !strings.HasSuffix(s, "\n") && len(out) > 0 {
		out = out[:len(out)-1] // cut by the kill
	}
	return out
}
