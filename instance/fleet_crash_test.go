//go:build unix

package instance

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/codes"
)

// The fleet crash test runs the test binary again as a child that walks a
// gateway's loop (queue devices, make an activation request, answer it as
// the authority, install the answer) on one state folder, and kills it
// with SIGKILL: half the time after a random delay, half the time at a
// chosen step of the atomic writes. After each kill the parent opens the
// folder and checks that the installed table is the one before the
// install in flight or the one after it, whole, and that no device the
// child was told was queued is lost: each is still queued or in the table.
const envFleetCrashDir = "AIRLOCK_TEST_FLEET_CRASH_DIR"

// fleetCrashIterations is the number of kills.
const fleetCrashIterations = 160

func TestFleetCrashChild(t *testing.T) {
	dir := os.Getenv(envFleetCrashDir)
	if dir == "" {
		t.Skip("the child of TestFleetSurvivesKillDuringInstall")
	}
	var opts []Option
	if s := os.Getenv(envCrashStep); s != "" {
		n, err := strconv.Atoi(s)
		check(t, err)
		opts = append(opts, withFS(&killFS{at: n}))
	}
	in, err := Open(dir, opts...)
	check(t, err)
	b := &bench{t: t, dir: dir, in: in, f: fx(t), clock: newClock(time.Now())}
	d := newDesk(b)
	out := os.Stdout // unbuffered: every line is one write
	fail := func(err error) {
		fmt.Fprintf(out, "error %v\n", err)
		os.Exit(3)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		// Queue one to three new devices; one in eight is refused.
		var keys []string
		pk := fmt.Sprintf("prod.%d", mrand.IntN(3))
		var dks []string
		for range 1 + mrand.IntN(3) {
			id := make([]byte, 4)
			rand.Read(id)
			dk := hex.EncodeToString(id)
			if mrand.IntN(8) == 0 {
				dk = "r-" + dk
			}
			dks = append(dks, dk)
			keys = append(keys, pk+"/"+dk)
		}
		fmt.Fprintf(out, "begin queue %s\n", strings.Join(keys, ","))
		if err := in.QueueDevices(pk, dks...); err != nil {
			fail(err)
		}
		fmt.Fprintf(out, "end queue\n")

		fmt.Fprintf(out, "begin request\n")
		code, err := in.ActivationRequest()
		if err != nil {
			fail(err)
		}
		r, err := codes.OpenActivationRequest(code, b.f.Authority)
		if err != nil {
			fail(err)
		}
		fmt.Fprintf(out, "end request %x\n", r.Nonce)

		// The authority holds what the table holds, and the request's
		// devices but the refused ones.
		list, err := in.Devices("")
		if err != nil {
			fail(err)
		}
		d.held = map[devKey]codes.DeviceWindow{}
		for _, s := range list {
			if !s.From.IsZero() {
				d.held[devKey{s.ProductKey, s.DeviceKey}] = codes.DeviceWindow{DeviceKey: s.DeviceKey, From: s.From.Unix(), Until: s.Until.Unix()}
			}
		}
		now := time.Now()
		refused := map[devKey]codes.Refusal{}
		for _, g := range r.Products {
			for _, dk := range g.Devices {
				k := devKey{g.ProductKey, dk}
				switch _, held := d.held[k]; {
				case strings.HasPrefix(dk, "r-"):
					refused[k] = codes.RefusedNoCodes
				case !held:
					d.held[k] = codes.DeviceWindow{DeviceKey: dk, From: now.Unix(), Until: now.Add(365 * day).Unix()}
				}
			}
		}
		act := d.signFor(&codes.Activation{UDI: b.f.UDI, InstanceKey: codes.InstanceKeyHash(in.PublicKey()), Nonce: r.Nonce, IssuedAt: now.Unix()}, refused, b.f.Authority)
		a, err := codes.OpenActivation(act, trustSet(t))
		if err != nil {
			fail(err)
		}
		fmt.Fprintf(out, "begin install %x %s\n", r.Nonce, activationDigest(a))
		if _, err := in.InstallActivation(act); err != nil {
			fail(err)
		}
		fmt.Fprintf(out, "end install\n")
	}
}

// activationDigest sums up the table an activation makes.
func activationDigest(a *codes.Activation) string {
	var lines []string
	for _, g := range a.Products {
		for _, w := range g.Active {
			lines = append(lines, fmt.Sprintf("%s %s %d %d", g.ProductKey, w.DeviceKey, w.From, w.Until))
		}
		for _, r := range g.Refused {
			lines = append(lines, fmt.Sprintf("%s %s r%d", g.ProductKey, r.DeviceKey, r.Reason))
		}
	}
	return digestLines(lines)
}

// tableDigest sums up the installed table as Devices lists it.
func tableDigest(list []DeviceStatus) string {
	var lines []string
	for _, s := range list {
		switch {
		case !s.From.IsZero():
			lines = append(lines, fmt.Sprintf("%s %s %d %d", s.ProductKey, s.DeviceKey, s.From.Unix(), s.Until.Unix()))
		case s.State == DeviceRefused:
			lines = append(lines, fmt.Sprintf("%s %s r%d", s.ProductKey, s.DeviceKey, s.Reason))
		}
	}
	return digestLines(lines)
}

func digestLines(lines []string) string {
	slices.Sort(lines)
	h := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(h[:8])
}

// TestFleetSurvivesKillDuringInstall is T72 for a gateway.
func TestFleetSurvivesKillDuringInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("crash loop: -short")
	}
	f := fx(t)
	dir := filepath.Join(t.TempDir(), "state")
	_, err := Init(dir, f.UDI, trustSet(t))
	check(t, err)

	type install struct{ nonce, digest string }
	var installed install      // the last install the parent knows of
	acked := map[string]bool{} // "pk/dk" the child was told were queued
	var stats struct{ old, inFlightOld, inFlightNew, leftovers, installs int }
	start := time.Now()
	for i := 0; i < fleetCrashIterations; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFleetCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), envFleetCrashDir+"="+dir)
		byStep := i%2 == 1
		if byStep {
			// Six operations per atomic write; a round writes six times
			// (queue; request and its journal entry; activation file,
			// fleet and journal entry).
			cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%d", envCrashStep, 1+mrand.IntN(6*6*2)))
		}
		out := runAndKill(t, i, cmd, byStep, 5, 60)

		var inFlight *install
		var queuing []string
		for _, line := range strings.Split(out.String(), "\n") {
			fields := strings.Fields(line)
			switch {
			case len(fields) == 3 && fields[0] == "begin" && fields[1] == "queue":
				queuing = strings.Split(fields[2], ",")
			case len(fields) == 2 && fields[0] == "end" && fields[1] == "queue":
				for _, k := range queuing {
					acked[k] = true
				}
				queuing = nil
			case len(fields) == 4 && fields[0] == "begin" && fields[1] == "install":
				inFlight = &install{fields[2], fields[3]}
			case len(fields) == 2 && fields[0] == "end" && fields[1] == "install":
				installed, inFlight = *inFlight, nil
				stats.installs++
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
		fs, err := in.Fleet()
		if err != nil || fs.Problem != nil {
			t.Fatalf("iteration %d: the fleet after the kill: %v, %v\nchild:\n%s", i, err, fs, out.String())
		}
		list, err := in.Devices("")
		check(t, err)
		if _, err := in.Journal(); err != nil {
			t.Fatalf("iteration %d: journal: %v", i, err)
		}
		got := install{}
		if fs.Activation != nil {
			got = install{hex.EncodeToString(fs.Activation.Nonce), tableDigest(list)}
		}
		switch {
		case got == installed:
			stats.old++
			if inFlight != nil {
				stats.inFlightOld++
			}
		case inFlight != nil && got == *inFlight:
			stats.inFlightNew++
			installed = got
		default:
			t.Fatalf("iteration %d: installed %+v, want %+v or the one in flight %+v\nchild:\n%s", i, got, installed, inFlight, out.String())
		}

		// No device is lost: each acknowledged one is queued or in the
		// table (the refused ones leave the table at the next install).
		where := map[string]DeviceStatus{}
		for _, s := range list {
			where[s.ProductKey+"/"+s.DeviceKey] = s
		}
		for k := range acked {
			s, ok := where[k]
			if !ok && !strings.Contains(k, "/r-") {
				t.Fatalf("iteration %d: device %s was queued and is gone\nchild:\n%s", i, k, out.String())
			}
			if ok && s.Queued && !s.From.IsZero() {
				t.Fatalf("iteration %d: device %s is both queued and in the table: %+v", i, k, s)
			}
			if strings.Contains(k, "/r-") && s.State == DeviceActive {
				t.Fatalf("iteration %d: refused device %s is active", i, k)
			}
		}
	}
	t.Logf("%d kills in %s: old table %d times (%d with an install in flight), new table of the install in flight %d times; %d installs completed; %d devices queued; %d temporary files swept",
		fleetCrashIterations, time.Since(start).Round(time.Millisecond), stats.old, stats.inFlightOld, stats.inFlightNew, stats.installs, len(acked), stats.leftovers)
	if stats.inFlightOld == 0 || stats.inFlightNew == 0 {
		t.Errorf("the kills never caught an install in flight both before and after its write: %+v", stats)
	}
}
