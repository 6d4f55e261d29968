package authority_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/authority/store"
	"github.com/airlock-dev/airlock/codes"
)

// TestLedgerSurvivesKillDuringOperations is ATTACKS T73: a child process
// reserves, re-serves, updates, confirms and returns in a loop (every
// other child activates device fleets instead) and is
// killed (SIGKILL) at a random moment, 200 times. After each kill the
// ledger must open, Verify must pass, and every authorization code and
// return the child printed (it prints only after the commit) must be in
// the ledger. AIRLOCK_CRASH_ITERATIONS changes the count. Under the race
// detector, which slows the child twenty times, it kills 80 children
// with a longer window instead.
func TestLedgerSurvivesKillDuringOperations(t *testing.T) {
	iterations, window := 200, 40*time.Millisecond
	if raceEnabled {
		iterations, window = 80, 300*time.Millisecond
	}
	if onPostgres() {
		window *= 2 // a write is a dozen round trips to the server
	}
	if s := os.Getenv("AIRLOCK_CRASH_ITERATIONS"); s != "" {
		iterations, _ = strconv.Atoi(s)
	}
	e := newEnv(t)
	e.setup()
	e.lot("acme/plant", camera, 1_000_000, 0, 0, 0, false)
	_, err := e.l.AddFleetProduct(ctx, "acme", "PK-CRASH", "crash", true)
	e.must(err)
	_, err = e.l.BuyCodes(ctx, "acme", "annual", &authority.Validity{Years: 1}, 100_000_000, "PK-CRASH", "")
	e.must(err)
	e.st.Close()
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Logf("seed %d", seed)

	printed, returned, activated := 0, 0, 0
	start := time.Now()
	for it := range iterations {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=crash", "LEDGER="+e.path, "FLEET="+strconv.Itoa(it%2))
		pipe, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill at a random moment of its work: after it said it opened
		// the ledger, so that a slow start (the race detector) does not
		// eat the window.
		var out bytes.Buffer
		ready := make(chan struct{})
		copied := make(chan struct{})
		go func() {
			defer close(copied)
			r := bufio.NewReader(pipe)
			line, err := r.ReadString('\n')
			close(ready)
			if err != nil || line != "READY\n" {
				out.WriteString(line)
			}
			out.ReadFrom(r)
		}()
		select {
		case <-ready:
		case <-time.After(20 * time.Second):
			t.Fatalf("iteration %d: the child did not start", it)
		}
		time.Sleep(time.Duration(rng.Int64N(int64(window))))
		cmd.Process.Kill()
		<-copied
		cmd.Wait()

		st, err := store.Open(e.path, storeOptions(false))
		if err != nil {
			t.Fatalf("iteration %d: the ledger does not open: %v", it, err)
		}
		l := authority.New(st, e.opts)
		if _, err := l.Verify(ctx); err != nil {
			st.Close()
			t.Fatalf("iteration %d: %v", it, err)
		}
		issued := map[string]bool{}
		received := map[string]bool{}
		answered := map[string]bool{}
		err = st.View(ctx, func(tx authority.ReadTx) error {
			cs, err := tx.Issued(0, true)
			for _, c := range cs {
				issued[string(c.Hash)] = true
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range readLines(out.String()) {
			kind, h, _ := strings.Cut(line, " ")
			b, err := hex.DecodeString(h)
			switch {
			case kind == "AU" && err == nil:
				printed++
				if !issued[string(hashOf(b))] {
					t.Fatalf("iteration %d: printed code %x… is not in the ledger", it, hashOf(b)[:8])
				}
			case kind == "RT" && err == nil:
				returned++
				received[h] = true
			case kind == "AR" && err == nil:
				activated++
				answered[h] = true
			default:
				t.Fatalf("iteration %d: child said %q", it, line)
			}
		}
		err = st.View(ctx, func(tx authority.ReadTx) error {
			for h := range received {
				b, _ := hex.DecodeString(h)
				r, err := tx.Received(hashOf(b))
				if err != nil {
					return err
				}
				if r == nil {
					return fmt.Errorf("printed return %s… is not in the ledger", h[:16])
				}
			}
			for h := range answered {
				b, _ := hex.DecodeString(h)
				a, err := tx.ActivationAnswer(b)
				if err != nil {
					return err
				}
				if a == nil || len(a.Code) == 0 {
					return fmt.Errorf("printed activation %s… is not in the ledger", h[:16])
				}
			}
			return nil
		})
		st.Close()
		if err != nil {
			t.Fatalf("iteration %d: %v", it, err)
		}
	}
	e.st, _ = store.Open(e.path, storeOptions(false))
	e.l = authority.New(e.st, e.opts)
	r := e.verify()
	t.Logf("%d kills in %s: %d codes printed, %d in the ledger (%d committed but never printed), %d returns printed, %d activation files printed, %d devices",
		iterations, time.Since(start).Round(time.Millisecond), printed, r.Codes, r.Codes-printed, returned, activated, r.Devices)
	if printed == 0 || returned == 0 || activated == 0 {
		t.Fatal("the children never got to print: the test proves nothing")
	}
}

// childCrash runs the crash test's loop on LEDGER until it is killed.
// Each code is printed, in hex, only after the call that committed it
// returned.
func childCrash() int {
	// Without rehearsals: they would halve what a child gets done before
	// the kill, and the kills test commits, not retries.
	st, err := store.Open(os.Getenv("LEDGER"), store.Options{})
	if err != nil {
		fmt.Println("open:", err)
		return 1
	}
	f := fixture(nil)
	l := authority.New(st, authority.Options{Keys: []*codes.AuthorityKey{f.Authority}, Actor: "crash child", Now: func() time.Time { return t0 }})
	fmt.Println("READY")
	say := func(kind string, b []byte) {
		if _, err := fmt.Fprintf(os.Stdout, "%s %x\n", kind, b); err != nil {
			os.Exit(1)
		}
	}
	fail := func(what string, err error) int {
		fmt.Printf("%s: %v\n", what, err)
		return 1
	}
	if os.Getenv("FLEET") == "1" {
		// Every other child activates device fleets only: each round a
		// gateway activates 20 devices, and the same request again gets
		// the same answer.
		for i := 0; ; i++ {
			d := newDevice(nil, fmt.Sprintf("g%d-%d", os.Getpid(), i), f.Authority)
			dks := make([]string, 20)
			for j := range dks {
				dks[j] = fmt.Sprintf("%s-dev-%03d", d.name, j)
			}
			ar := d.activation(map[string][]string{"PK-CRASH": dks})
			act, err := l.ProcessActivation(ctx, ar)
			if err != nil {
				return fail("activate", err)
			}
			if i%2 == 0 {
				again, err := l.ProcessActivation(ctx, ar)
				if err != nil || !bytes.Equal(again.Code, act.Code) {
					return fail("activate again", fmt.Errorf("another answer (%v)", err))
				}
			}
			say("AR", hashOf(ar))
		}
	}
	for i := 0; ; i++ {
		d := newDevice(nil, fmt.Sprintf("c%d-%d", os.Getpid(), i), f.Authority)
		req := d.request(lic(camera, uint32(1+i%3)))
		a, err := l.Reserve(ctx, "acme/plant", req, nil)
		if err != nil {
			return fail("reserve", err)
		}
		say("AU", a.Code)
		if i%3 == 0 {
			again, err := l.Reserve(ctx, "acme/plant", req, nil)
			if err != nil {
				return fail("reserve again", err)
			}
			if !bytes.Equal(again.Code, a.Code) {
				return fail("reserve again", errors.New("another code"))
			}
		}
		u, err := l.Update(ctx, d.udi.String(), []codes.License{lic(camera, uint32(1+(i+1)%3))})
		if err != nil {
			return fail("update", err)
		}
		say("AU", u.Code)
		serial := uint64(1)
		if i%2 == 0 {
			if _, err := l.Confirm(ctx, d.confirm(resBytes(a), 2)); err != nil {
				return fail("confirm", err)
			}
			serial = 2
		}
		rt := d.ret(resBytes(a), serial, false)
		if _, err := l.Return(ctx, rt); err != nil {
			return fail("return", err)
		}
		say("RT", rt)
	}
}
