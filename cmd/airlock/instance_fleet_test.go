package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/instance"
	"github.com/airlock-dev/airlock/testvectors/gen"
)

// gateway makes an instance in a temporary folder, with devices queued
// from a file, and returns the fixture that plays the authority and the
// folder where files go.
func gateway(t *testing.T, devices string) (*gen.Fixture, string) {
	t.Helper()
	f, err := gen.NewFixture()
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	t.Setenv(instance.EnvStateDir, filepath.Join(work, "instance"))
	trustPath := filepath.Join(work, "trust.airlock")
	if err := os.WriteFile(trustPath, f.TrustFile, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runApp(t, "", "instance", "init", "--udi", gen.CiscoUDI, "--trust", trustPath); code != exitOK {
		t.Fatal(stderr)
	}
	if code, _, stderr := runApp(t, devices, "instance", "device", "add", "--file", "-"); code != exitOK {
		t.Fatal(stderr)
	}
	return f, work
}

// answerFile reads an activation request file and writes the activation
// that answers it, armored: every device of the request active for a
// year from now, but those of products in refuse.
func answerFile(t *testing.T, f *gen.Fixture, requestPath, out string, now time.Time, refuse map[string]codes.Refusal) {
	t.Helper()
	b, err := os.ReadFile(requestPath)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := codes.DecodeKind(b, codes.KindActivationRequest)
	if err != nil {
		t.Fatal(err)
	}
	r, err := codes.OpenActivationRequest(raw, f.Authority)
	if err != nil {
		t.Fatal(err)
	}
	a := &codes.Activation{UDI: r.UDI, InstanceKey: codes.InstanceKeyHash(r.InstanceKey), Nonce: r.Nonce, IssuedAt: now.Unix()}
	for _, g := range r.Products {
		v := codes.DeviceValidity{ProductKey: g.ProductKey}
		for _, dk := range g.Devices {
			if why, ok := refuse[g.ProductKey]; ok {
				v.Refused = append(v.Refused, codes.DeviceRefusal{DeviceKey: dk, Reason: why})
			} else {
				v.Active = append(v.Active, codes.DeviceWindow{DeviceKey: dk, From: now.Unix(), Until: now.AddDate(1, 0, 0).Unix()})
			}
		}
		a.Products = append(a.Products, v)
	}
	code, err := codes.SignActivation(a, f.Authority)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, codes.EncodeArmor(codes.KindActivation, code), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestGatewayInstallsActivationAndAnswersByExitStatus: a request file, the
// activation answering it installed with its summary, device status
// exiting 0 for an active device and 1 for a refused or unknown one, the
// same file refused the second time.
func TestGatewayInstallsActivationAndAnswersByExitStatus(t *testing.T) {
	f, work := gateway(t, "PK-CAM cam-001\nPK-CAM cam-002\nPK-TEMP t-0101\n")
	req := filepath.Join(work, "request.airlock")
	if code, stdout, stderr := runApp(t, "", "instance", "activation", "request", "--out", req); code != exitOK || stdout != "" {
		t.Fatalf("request: %d %q %s", code, stdout, stderr)
	}
	act := filepath.Join(work, "activation.airlock")
	answerFile(t, f, req, act, time.Now(), map[string]codes.Refusal{"PK-TEMP": codes.RefusedNoCodes})
	code, stdout, stderr := runApp(t, "", "instance", "activation", "install", act)
	if code != exitOK || stdout != "" {
		t.Fatalf("install: %d %q %s", code, stdout, stderr)
	}
	for _, want := range []string{
		`^airlock: installed the activation for request [0-9a-f]{16}, issued \S+ by key ` + f.Authority.ID().String() + `$`,
		`^airlock: 2 devices with a window, 2 active now; 1 refused$`,
		`^airlock: refused 1 device of PK-TEMP: the product has no activation code left \(t-0101\)$`,
		`^airlock: 0 devices left in the queue$`,
	} {
		if !regexp.MustCompile("(?m)" + want).MatchString(stderr) {
			t.Errorf("install's stderr does not match %s:\n%s", want, stderr)
		}
	}

	code, stdout, stderr = runApp(t, "", "instance", "device", "status", "--pk", "PK-CAM", "--dk", "cam-001")
	if code != exitOK || !strings.Contains(stdout, "state            active\n") || !strings.Contains(stdout, "window           ") || stderr != "" {
		t.Errorf("status of an active device: %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runApp(t, "", "instance", "device", "status", "--json", "--pk", "PK-TEMP", "--dk", "t-0101")
	var j fleetDeviceJSON
	if err := json.Unmarshal([]byte(stdout), &j); err != nil {
		t.Fatal(err)
	}
	if code != exitFailed || j.State != "refused" || j.Active || j.Refusal == nil || j.Refusal.Code != uint8(codes.RefusedNoCodes) ||
		!strings.Contains(stderr, "airlock: error: device not active: device \"t-0101\" of product \"PK-TEMP\" is refused: the product has no activation code left\n") {
		t.Errorf("status of a refused device: %d %+v\n%s", code, j, stderr)
	}
	if code, _, _ := runApp(t, "", "instance", "device", "status", "--pk", "PK-CAM", "--dk", "cam-999"); code != exitFailed {
		t.Errorf("status of an unknown device exits %d", code)
	}

	code, stdout, _ = runApp(t, "", "instance", "device", "list")
	if code != exitOK || !regexp.MustCompile(`(?m)^PK-CAM   cam-001  active   \S+Z  \S+Z$`).MatchString(stdout) ||
		!regexp.MustCompile(`(?m)^PK-TEMP  t-0101   refused  -\s+-\s+the product has no activation code left$`).MatchString(stdout) {
		t.Errorf("list:\n%s", stdout)
	}

	// The same file again: refused, nothing changes.
	code, _, stderr = runApp(t, "", "instance", "activation", "install", act)
	if code != exitFailed || !strings.Contains(stderr, "airlock: error: activation file installed already: ") ||
		!strings.Contains(stderr, "airlock: hint: nothing to do: 'airlock instance device list' shows the devices it activated\n") {
		t.Errorf("install again: %d\n%s", code, stderr)
	}
}

// TestGatewayDeviceStatusClockBehind: with the clock set back past the
// window's end, the device stays inactive and the state says why.
func TestGatewayDeviceStatusClockBehind(t *testing.T) {
	f, work := gateway(t, "PK-CAM cam-001\n")
	start := time.Now()
	req := filepath.Join(work, "request.airlock")
	if code, _, stderr := runApp(t, "", "instance", "activation", "request", "--out", req); code != exitOK {
		t.Fatal(stderr)
	}
	act := filepath.Join(work, "activation.airlock")
	answerFile(t, f, req, act, start, nil)
	if code, _, stderr := runApp(t, "", "instance", "activation", "install", act); code != exitOK {
		t.Fatal(stderr)
	}
	defer func(c func() time.Time) { clock = c }(clock)
	clock = func() time.Time { return start.AddDate(1, 0, 2) }
	if code, _, stderr := runApp(t, "", "instance", "device", "add", "--pk", "PK-CAM", "cam-002"); code != exitOK { // the gateway sees the time
		t.Fatal(stderr)
	}
	code, stdout, _ := runApp(t, "", "instance", "device", "status", "--pk", "PK-CAM", "--dk", "cam-001")
	if code != exitFailed || !strings.Contains(stdout, "state            expired\n") {
		t.Errorf("after the window: %d\n%s", code, stdout)
	}
	clock = func() time.Time { return start.AddDate(0, 6, 0) }
	code, stdout, stderr := runApp(t, "", "instance", "device", "status", "--pk", "PK-CAM", "--dk", "cam-001")
	if code != exitFailed || !strings.Contains(stdout, "state            clock-behind\n") ||
		!strings.Contains(stderr, "airlock: hint: set the system clock right (the instance trusts it only forward)\n") {
		t.Errorf("clock set back: %d\n%s%s", code, stdout, stderr)
	}
}
