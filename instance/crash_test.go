//go:build unix

package instance

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/codes"
)

// The crash test runs the test binary again as a child that walks the
// lifecycle in a loop (enable, request, install, two updates, return, …)
// on one state folder, and kills it with SIGKILL: half the time after a
// random delay, half the time at a chosen step of the atomic write (after
// the temporary file is made, written, synced, closed, renamed, or the
// folder synced). After each kill the parent opens the state, which must
// verify, and be the state before the operation the child was in or the
// state after it, never anything else (T72).
const (
	envCrashDir  = "AIRLOCK_TEST_CRASH_DIR"
	envCrashStep = "AIRLOCK_TEST_CRASH_STEP"
)

// crashIterations is the number of kills: at least 200.
const crashIterations = 240

func TestCrashChild(t *testing.T) {
	dir := os.Getenv(envCrashDir)
	if dir == "" {
		t.Skip("the child of TestStateSurvivesKillDuringLifecycle")
	}
	opts := []Option{}
	if s := os.Getenv(envCrashStep); s != "" {
		n, err := strconv.Atoi(s)
		check(t, err)
		opts = append(opts, withFS(&killFS{at: n}))
	}
	in, err := Open(dir, opts...)
	check(t, err)
	b := &bench{t: t, dir: dir, in: in, f: fx(t), clock: newClock(time.Now())}
	out := os.Stdout // unbuffered: every line is one write
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		st, err := in.Status()
		check(t, err)
		cur := crashTuple(st)
		next := cur
		var op func() error
		var code []byte
		b.clock.set(time.Now())
		switch st.Mode {
		case ModeEvaluation, ModeUnlicensed:
			next.mode = ModeEnabled
			op = in.Enable
		case ModeEnabled:
			next.mode, next.pending = ModeReserving, 1
			op = func() error { _, err := in.Request(nil); return err }
		case ModeReserving:
			res := make([]byte, codes.ReservationIDSize)
			rand.Read(res)
			code = b.sign(grant{res: res, nonce: st.Pending[len(st.Pending)-1].Nonce})
			next = crashState{mode: ModeReserved, res: hex.EncodeToString(res), serial: 1, ret: cur.ret}
		case ModeReserved:
			if st.Serial < 3 {
				code = b.sign(grant{res: st.Reservation, serial: st.Serial + 1, ents: []codes.Entitlement{cameras(uint32(st.Serial) + 1)}})
				next.serial++
			} else {
				next = crashState{mode: ModeEnabled, ret: fmt.Sprintf("%s:%d", cur.res, st.Serial)}
				op = func() error { _, err := in.Return(); return err }
			}
		}
		if code != nil {
			op = func() error { _, err := in.Install(code); return err }
		}
		fmt.Fprintf(out, "begin %d %s %x\n", st.Generation, next, code)
		if err := op(); err != nil {
			fmt.Fprintf(out, "error %v\n", err)
			os.Exit(3)
		}
		fmt.Fprintf(out, "end %d %s\n", st.Generation+1, next)
	}
}

// crashState is what the parent compares: the lifecycle's position.
type crashState struct {
	mode    Mode
	res     string
	serial  uint64
	pending int
	ret     string // the last return, "reservation:serial", or ""
}

func (c crashState) String() string {
	return fmt.Sprintf("%s/%s/%d/%d/%s", c.mode, orDash(c.res), c.serial, c.pending, orDash(c.ret))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func crashTuple(st *Status) crashState {
	c := crashState{mode: st.Mode, res: hex.EncodeToString(st.Reservation), serial: st.Serial, pending: len(st.Pending)}
	if st.LastReturn != nil {
		c.ret = fmt.Sprintf("%x:%d", st.LastReturn.Reservation, st.LastReturn.Serial)
	}
	return c
}

// killFS kills its own process at the at-th file system operation of the
// atomic write.
type killFS struct {
	osFS
	n, at int
}

func (k *killFS) step() {
	k.n++
	if k.n == k.at {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}

func (k *killFS) CreateTemp(dir, pattern string) (tempFile, error) {
	f, err := k.osFS.CreateTemp(dir, pattern)
	k.step()
	if err != nil {
		return nil, err
	}
	return &killFile{f, k}, nil
}

func (k *killFS) Rename(o, n string) error { err := k.osFS.Rename(o, n); k.step(); return err }
func (k *killFS) SyncDir(d string) error   { err := k.osFS.SyncDir(d); k.step(); return err }

type killFile struct {
	tempFile
	k *killFS
}

func (f *killFile) Write(p []byte) (int, error) {
	// Die half way through the write, too.
	if f.k.n+1 == f.k.at && len(p) > 1 {
		f.tempFile.Write(p[:len(p)/2])
	}
	n, err := f.tempFile.Write(p)
	f.k.step()
	return n, err
}
func (f *killFile) Sync() error  { err := f.tempFile.Sync(); f.k.step(); return err }
func (f *killFile) Close() error { err := f.tempFile.Close(); f.k.step(); return err }

// TestStateSurvivesKillDuringLifecycle is T72.
func TestStateSurvivesKillDuringLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("crash loop: -short")
	}
	f := fx(t)
	dir := filepath.Join(t.TempDir(), "state")
	in, err := Init(dir, f.UDI, trustSet(t))
	check(t, err)
	pairwise, err := f.Authority.MACKey(in.PublicKey())
	check(t, err)
	st, err := in.Status()
	check(t, err)
	base, baseGen := crashTuple(st), st.Generation

	var stats struct{ old, inFlightOld, inFlightNew, returnsCut, leftovers, returnsReprinted, installsAgain int }
	seen := map[Mode]int{}
	start := time.Now()
	for i := 0; i < crashIterations; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), envCrashDir+"="+dir)
		byStep := i%2 == 1
		if byStep {
			// Six operations per write; the child writes once per step of
			// the lifecycle.
			cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%d", envCrashStep, 1+mrand.IntN(6*7)))
		}
		out := runAndKill(t, i, cmd, byStep, 2, 40)

		// What the child says it did: the last completed operation, and
		// the one it was in when it died.
		want, wantGen := base, baseGen
		var inFlight *crashState
		var inFlightGen uint64
		var inFlightCode []byte
		for _, line := range strings.Split(out.String(), "\n") {
			fields := strings.Fields(line)
			if len(fields) < 3 || (fields[0] != "begin" && fields[0] != "end") {
				continue
			}
			gen, _ := strconv.ParseUint(fields[1], 10, 64)
			s := parseCrashState(t, fields[2])
			if fields[0] == "begin" {
				inFlight, inFlightGen = &s, gen+1
				inFlightCode = nil
				if len(fields) == 4 {
					inFlightCode, _ = hex.DecodeString(fields[3])
				}
			} else {
				want, wantGen, inFlight, inFlightCode = s, gen, nil, nil
			}
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), tempPrefix) {
				stats.leftovers++
			}
		}

		in, err := Open(dir)
		if err != nil {
			t.Fatalf("iteration %d: the state does not open after the kill: %v\nchild:\n%s", i, err, out.String())
		}
		st, err := in.Status()
		check(t, err)
		got, gotGen := crashTuple(st), st.Generation
		switch {
		case got == want && gotGen == wantGen:
			stats.old++
			if inFlight != nil {
				stats.inFlightOld++
			}
		case inFlight != nil && got == *inFlight && gotGen == inFlightGen:
			stats.inFlightNew++
			if got.mode == ModeEnabled {
				stats.returnsCut++
			}
		default:
			t.Fatalf("iteration %d: state %s (generation %d), want %s (generation %d) or the one in flight %v (generation %d)\nchild:\n%s",
				i, got, gotGen, want, wantGen, inFlight, inFlightGen, out.String())
		}
		seen[got.mode]++

		// A return is never lost: with the code destroyed, the return code
		// is there to print again.
		if got.mode == ModeEnabled && got.ret != "" {
			r, err := in.Return()
			check(t, err)
			rt, err := codes.OpenReturn(r.Code, pairwise)
			check(t, err)
			if !r.Again || fmt.Sprintf("%x:%d", rt.Reservation, rt.Serial) != got.ret {
				t.Fatalf("iteration %d: return again gives %x:%d (again %v), want %s", i, rt.Reservation, rt.Serial, r.Again, got.ret)
			}
			stats.returnsReprinted++
		}
		// An update that made it is installed again idempotently, with the
		// same confirmation code.
		if inFlight != nil && inFlightCode != nil && got == *inFlight {
			again, err := in.Install(inFlightCode)
			check(t, err)
			if !again.Again || !bytes.Equal(again.Confirmation, st.Confirmation) {
				t.Fatalf("iteration %d: installing the code again: %+v", i, again)
			}
			stats.installsAgain++
		}
		base, baseGen = got, gotGen
	}
	t.Logf("%d kills in %s: old state %d times (%d with an operation in flight), new state of the operation in flight %d times; "+
		"%d of them returns killed after the code was destroyed; %d temporary files swept; %d returns printed again, %d updates installed again; modes seen %v",
		crashIterations, time.Since(start).Round(time.Millisecond), stats.old, stats.inFlightOld, stats.inFlightNew,
		stats.returnsCut, stats.leftovers, stats.returnsReprinted, stats.installsAgain, seen)
	if stats.inFlightOld == 0 || stats.inFlightNew == 0 {
		t.Errorf("the kills never caught an operation in flight both before and after its write: %+v", stats)
	}
}

func parseCrashState(t *testing.T, s string) crashState {
	p := strings.Split(s, "/")
	if len(p) != 5 {
		t.Fatalf("bad state %q", s)
	}
	var c crashState
	for m := ModeEvaluation; m <= ModeReserved; m++ {
		if m.String() == p[0] {
			c.mode = m
		}
	}
	c.res = strings.TrimPrefix(p[1], "-")
	c.serial, _ = strconv.ParseUint(p[2], 10, 64)
	c.pending, _ = strconv.Atoi(p[3])
	c.ret = strings.TrimPrefix(p[4], "-")
	return c
}

// runAndKill runs a crash child and returns what it printed. A child that
// kills itself at its step (byStep) is killed after 5 seconds if it never
// reaches it; any other is killed after least plus up to spread
// milliseconds. A child that reports an error fails the test.
func runAndKill(t *testing.T, i int, cmd *exec.Cmd, byStep bool, least, spread int) *bytes.Buffer {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	check(t, cmd.Start())
	if !byStep {
		time.Sleep(time.Duration(least+mrand.IntN(spread)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
	} else {
		timer := time.AfterFunc(5*time.Second, func() { cmd.Process.Signal(syscall.SIGKILL) })
		defer timer.Stop()
	}
	cmd.Wait()
	if strings.Contains(out.String(), "\nerror ") || strings.HasPrefix(out.String(), "error ") {
		t.Fatalf("iteration %d: the child failed:\n%s", i, out.String())
	}
	return &out
}
