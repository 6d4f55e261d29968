//go:build unix

package instance

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/codes"
)

// The renewal crash test runs the test binary again as a child that
// renews the authorization once, and kills it with SIGKILL at each step
// of the atomic writes the renewal makes in turn (the sequence number,
// the install, the record of the answer, the confirmation). After each
// kill the state must open and verify, holding the code it held before or
// the code the service issued, never anything else; and the next renewal
// must succeed.
const envRenewCrashDir = "AIRLOCK_TEST_RENEW_CRASH_DIR"

func TestRenewCrashChild(t *testing.T) {
	dir := os.Getenv(envRenewCrashDir)
	if dir == "" {
		t.Skip("the child of TestRenewalSurvivesKill")
	}
	n, err := strconv.Atoi(os.Getenv(envCrashStep))
	check(t, err)
	in, err := Open(dir, withFS(&killFS{at: n}))
	check(t, err)
	_, err = in.RenewAuthorization(context.Background(), &Client{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("renewal: %v", err)
	}
}

func TestRenewalSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("crash loop: -short")
	}
	b, f, c := connectedBench(t)
	b.clock.set(time.Now()) // the child's clock is the wall clock
	_, err := b.in.Register(ctx, c, "TK-PLANT", []codes.License{{Tag: tagCamera, Count: 2}})
	b.must(err)
	completed := false
	kills := 0
	for step := 1; step <= 60 && !completed; step++ {
		b.clock.set(time.Now())
		before, err := b.open().Status()
		b.must(err)
		cmd := exec.Command(os.Args[0], "-test.run=^TestRenewCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), envRenewCrashDir+"="+b.dir, envCrashStep+"="+strconv.Itoa(step))
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		switch {
		case err == nil:
			completed = true
		case errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled():
			kills++
		default:
			t.Fatalf("step %d: child failed: %v\n%s", step, err, out)
		}
		in, err := Open(b.dir, WithClock(b.clock.Now))
		if err != nil {
			t.Fatalf("step %d: the state does not open after the kill: %v", step, err)
		}
		st, err := in.Status()
		b.must(err)
		issued := f.instance(b.f.UDI).serial
		if st.Serial != before.Serial && st.Serial != issued {
			t.Fatalf("step %d: serial %d, neither the old %d nor the issued %d", step, st.Serial, before.Serial, issued)
		}
		if !in.Licensed(tagCamera) {
			t.Fatalf("step %d: not licensed after the kill", step)
		}
		if completed && st.Serial != issued {
			t.Fatalf("step %d: the completed renewal left serial %d, issued %d", step, st.Serial, issued)
		}
	}
	if !completed || kills < 12 {
		t.Fatalf("completed %v after %d kills", completed, kills)
	}
	// The instance goes on: the next renewal installs over whatever the
	// kills left, and is confirmed.
	b.clock.set(time.Now())
	ans, err := b.open().RenewAuthorization(ctx, c)
	b.must(err)
	if !ans.Confirmed || f.instance(b.f.UDI).confirmed != ans.Installed.Authorization.Serial {
		t.Fatalf("renewal after the kills: %+v", ans)
	}
	t.Logf("%d kills, one renewal per kill", kills)
}
