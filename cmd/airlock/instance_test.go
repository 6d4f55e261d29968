package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/instance"
	"github.com/airlock-dev/airlock/testvectors/gen"
)

// reservedInstance makes an instance in a temporary folder, reserved with
// a code signed by the test vectors' authority. It returns the folder and
// the pairwise MAC key, to verify the codes the instance prints.
func reservedInstance(t *testing.T) (dir string, pairwise []byte) {
	t.Helper()
	f, err := gen.NewFixture()
	if err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(t.TempDir(), "instance")
	t.Setenv(instance.EnvStateDir, dir)
	trustPath := filepath.Join(t.TempDir(), "trust.airlock")
	if err := os.WriteFile(trustPath, f.TrustFile, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"instance", "init", "--udi", gen.CiscoUDI, "--trust", trustPath},
		{"instance", "enable"},
	} {
		if code, _, stderr := runApp(t, "", args...); code != exitOK {
			t.Fatalf("%v: %s", args, stderr)
		}
	}
	code, rq, stderr := runApp(t, "", "instance", "request")
	if code != exitOK {
		t.Fatal(stderr)
	}
	raw, err := codes.DecodeKind([]byte(rq), codes.KindRequest)
	if err != nil {
		t.Fatal(err)
	}
	r, err := codes.OpenRequest(raw, f.Authority)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	au, err := codes.SignAuthorization(&codes.Authorization{
		Reservation: []byte{1, 2, 3, 4}, Serial: 1, UDI: r.UDI, InstanceKey: codes.InstanceKeyHash(r.InstanceKey), Nonce: r.Nonce,
		Entitlements: []codes.Entitlement{{Tag: "vms.camera.core", Count: 3, Kind: codes.Perpetual}},
		IssuedAt:     now.Unix(), InstallBy: now.Add(24 * time.Hour).Unix(),
	}, f.Authority)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runApp(t, codes.EncodeText(codes.KindAuthorization, au), "instance", "install", "-"); code != exitOK {
		t.Fatal(stderr)
	}
	pairwise, err = f.Authority.MACKey(r.InstanceKey)
	if err != nil {
		t.Fatal(err)
	}
	return dir, pairwise
}

// TestInstanceReturnFailsWhenStdoutFailsAndRunsAgain (T77): return to a
// full disk fails loudly, the reservation is returned all the same, and
// return run again prints its code.
func TestInstanceReturnFailsWhenStdoutFailsAndRunsAgain(t *testing.T) {
	_, pairwise := reservedInstance(t)
	var stderr bytes.Buffer
	code := run([]string{"airlock", "instance", "return"}, strings.NewReader(""), failingWriter{}, &stderr)
	want := "airlock: error: cannot write to standard output: no space left on device\n" +
		"airlock: hint: the return is recorded: 'airlock instance return' prints the same code again\n" +
		"airlock: hint: check the disk or the pipe that standard output goes to\n"
	if code != exitFailed || stderr.String() != want {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and:\n%s", code, stderr.String(), want)
	}
	code2, out, errOut := runApp(t, "", "instance", "return")
	if code2 != exitOK || !strings.Contains(errOut, "the same return code again") {
		t.Fatalf("return again: exit %d, %s", code2, errOut)
	}
	raw, err := codes.DecodeKind([]byte(out), codes.KindReturn)
	if err != nil {
		t.Fatal(err)
	}
	r, err := codes.OpenReturn(raw, pairwise)
	if err != nil || !bytes.Equal(r.Reservation, []byte{1, 2, 3, 4}) || r.Serial != 1 {
		t.Fatalf("return code %+v, %v", r, err)
	}
	if _, out3, _ := runApp(t, "", "instance", "return"); out3 != out {
		t.Error("a third return printed another code")
	}
}

func TestInstanceReturnToDevFullFails(t *testing.T) {
	f, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip("no /dev/full:", err)
	}
	defer f.Close()
	reservedInstance(t)
	var stderr bytes.Buffer
	if code := run([]string{"airlock", "instance", "return"}, strings.NewReader(""), f, &stderr); code != exitFailed ||
		!strings.Contains(stderr.String(), "no space left on device") {
		t.Errorf("exit %d, stderr %s", code, stderr.String())
	}
}

func TestInstanceStatusJSON(t *testing.T) {
	dir, _ := reservedInstance(t)
	code, out, stderr := runApp(t, "", "instance", "status", "--json")
	if code != exitOK {
		t.Fatal(stderr)
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"mode", "state_dir", "udi", "instance_key_hash", "authority_key", "evaluation_start", "evaluation_end",
		"evaluation_days_left", "clock_advisory", "high_water", "reservation", "pending", "last_return", "usage", "warnings", "journal", "generation"} {
		if _, ok := st[k]; !ok {
			t.Errorf("no member %q", k)
		}
	}
	if st["mode"] != "reserved" || st["state_dir"] != dir {
		t.Errorf("mode %v, state_dir %v", st["mode"], st["state_dir"])
	}
	res := st["reservation"].(map[string]any)
	ents := res["entitlements"].([]any)
	e := ents[0].(map[string]any)
	if res["id"] != "01020304" || res["serial"] != 1.0 || e["tag"] != "vms.camera.core" || e["in_use"] != 0.0 || e["active"] != true || res["confirmation"] != nil {
		t.Errorf("reservation %v", res)
	}
}

// TestEveryInstanceSentinelHasAHint covers the sentinels the commands can
// return.
func TestEveryInstanceSentinelHasAHint(t *testing.T) {
	for _, err := range []error{
		instance.ErrNotInitialized, instance.ErrExists, instance.ErrCorrupt, instance.ErrFormat, instance.ErrPermissions,
		instance.ErrLocked, instance.ErrPersist, instance.ErrNotEnabled, instance.ErrReservationInstalled,
		instance.ErrNotReserved, instance.ErrNoPendingRequest, instance.ErrWrongReservation, instance.ErrNotNewer,
		instance.ErrReturned, instance.ErrClock, instance.ErrNoAuthorityKey,
	} {
		if len(hintsFor(err)) == 0 {
			t.Errorf("no hint for %v", err)
		}
	}
}

func TestInstanceStateFlagAfterTheCommandWins(t *testing.T) {
	dir, _ := reservedInstance(t)
	other := filepath.Join(t.TempDir(), "nothing")
	if code, _, stderr := runApp(t, "", "instance", "--state", other, "status", "--state", dir); code != exitOK {
		t.Errorf("--state after the command: %s", stderr)
	}
	if code, _, stderr := runApp(t, "", "instance", "--state", other, "status"); code != exitFailed || !strings.Contains(stderr, other) {
		t.Errorf("--state before the command: exit %d, %s", code, stderr)
	}
}
