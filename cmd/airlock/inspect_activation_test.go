package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/airlock-dev/airlock/codes"
)

// activationScript is the script whose embedded fleet files
// makeActivationFiles makes; TestInspectActivationScriptFilesAreCurrent
// keeps them so.
const activationScript = "testdata/script/inspect_activation.txtar"

// activationNow is the clock of the activation tests: the windows of
// makeActivationFiles are counted at 2025-06-01.
var activationNow = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

// makeActivationFiles makes an activation request of the test instance,
// as a gateway, and the authority's answer, with the fixed keys of
// makeTestCodes (the trust file of mkcodes verifies the answer), and a
// fleet of 2,000 devices.
func makeActivationFiles() map[string][]byte {
	authority := must(codes.GenerateAuthorityKey(fixed("authority", 64), time.Time{}, time.Time{}))
	inst := must(codes.GenerateInstanceKey(fixed("instance", 32)))
	udi := must(codes.ParseUDI("P:UCM,S:edb16,U:d9a2c661-8fe1-4ce7-9e6f-bbc68a3edb16"))
	t0 := testTime.Unix()
	year := int64(365 * 86400)
	nonce := []byte{0xac, 0x71, 0x0a, 0x7e, 0, 0, 0, 1}

	req := &codes.ActivationRequest{
		UDI: udi, Nonce: nonce, IssuedAt: t0,
		Products: []codes.DeviceGroup{
			{ProductKey: "PK-CAM-01", Devices: []string{"DK-0001", "DK-0002", "DK-0003", "DK-0004", "DK-0005", "DK-0006", "DK-0007"}},
			{ProductKey: "PK-NVR-02", Devices: []string{"DK-0100", "DK-0101"}},
		},
	}
	ar := must(codes.SealActivationRequest(req, inst, &authority.Public))

	act := &codes.Activation{
		UDI: udi, InstanceKey: inst.Hash(), Nonce: nonce, IssuedAt: t0,
		Products: []codes.DeviceValidity{
			{ProductKey: "PK-CAM-01",
				Active: []codes.DeviceWindow{
					{DeviceKey: "DK-0000", From: t0 - 2*year, Until: t0 - year},
					{DeviceKey: "DK-0001", From: t0, Until: t0 + year},
					{DeviceKey: "DK-0002", From: t0, Until: t0 + year},
					{DeviceKey: "DK-0003", From: t0, Until: t0 + year},
					{DeviceKey: "DK-0004", From: t0, Until: t0 + year},
					{DeviceKey: "DK-0005", From: t0, Until: t0 + year},
					{DeviceKey: "DK-0006", From: time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC).Unix(), Until: t0 + 2*year},
				},
				Refused: []codes.DeviceRefusal{{DeviceKey: "DK-0007", Reason: codes.RefusedNoCodes}},
			},
			{ProductKey: "PK-NVR-02", Refused: []codes.DeviceRefusal{
				{DeviceKey: "DK-0100", Reason: codes.RefusedUnknownProduct},
				{DeviceKey: "DK-0101", Reason: codes.RefusedUnknownProduct},
			}},
			{ProductKey: "PK-OLD-03", Refused: []codes.DeviceRefusal{{DeviceKey: "DK-0200", Reason: codes.RefusedProductDeleted}}},
		},
	}
	af := must(codes.SignActivation(act, authority))
	tampered := bytes.Clone(af)
	tampered[len(tampered)-1] ^= 0x01

	fleet := &codes.Activation{UDI: udi, InstanceKey: inst.Hash(), Nonce: nonce, IssuedAt: t0}
	for p := range 2 {
		g := codes.DeviceValidity{ProductKey: fmt.Sprintf("PK-FLEET-%d", p)}
		for i := range 1000 {
			dk := fmt.Sprintf("dk-%012d", i)
			if i%10 == 9 {
				g.Refused = append(g.Refused, codes.DeviceRefusal{DeviceKey: dk, Reason: codes.RefusedNoPool})
			} else {
				g.Active = append(g.Active, codes.DeviceWindow{DeviceKey: dk, From: t0, Until: t0 + year})
			}
		}
		fleet.Products = append(fleet.Products, g)
	}
	return map[string][]byte{
		"activation-request.airlock": codes.EncodeArmor(codes.KindActivationRequest, ar),
		"activation-request.bin":     ar,
		"activation.airlock":         codes.EncodeArmor(codes.KindActivation, af),
		"activation.bin":             af,
		"tampered-activation.bin":    tampered,
		"fleet.airlock":              codes.EncodeArmor(codes.KindActivation, must(codes.SignActivation(fleet, authority))),
	}
}

// inActivationDir runs the test in a fresh folder holding the test codes
// and the activation files, with the clock at activationNow.
func inActivationDir(t *testing.T) {
	t.Helper()
	dir := inTempDir(t)
	for name, b := range makeActivationFiles() {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	saved := clock
	clock = func() time.Time { return activationNow }
	t.Cleanup(func() { clock = saved })
}

func TestInspectActivationRequest(t *testing.T) {
	inActivationDir(t)
	code, stdout, stderr := runApp(t, "", "code", "inspect", "activation-request.airlock")
	want := `kind             activation request
form             armored
size             200 bytes, 402 characters typed
verification     UNVERIFIED (MACed by the instance; only the authority can verify it)
udi              P:UCM,S:edb16,U:d9a2c661-8fe1-4ce7-9e6f-bbc68a3edb16
gateway key      9c0d6b7f4f1e1e52c4e4bb1a8a9d5b7d7d0b1bd9e7cbbd2fdd5fb8a5a0d2e3b6
nonce            ac710a7e00000001
issued at        2025-01-15T09:30:00Z
devices          9 in 2 products
  PK-CAM-01 devices=7: DK-0001, DK-0002, DK-0003, DK-0004, DK-0005, …
  PK-NVR-02 devices=2: DK-0100, DK-0101
`
	if code != exitOK || stderr != "" || !sameExceptKey(stdout, want) {
		t.Errorf("exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
	}
	// Binary input fits only this kind: it lists devices.
	code, stdout, _ = runApp(t, "", "code", "inspect", "--json", "activation-request.bin")
	var r struct {
		Kind   string   `json:"kind"`
		Kinds  []string `json:"kinds"`
		Fields activationRequestJSON
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || code != exitOK {
		t.Fatalf("exit %d, %v:\n%s", code, err, stdout)
	}
	if r.Kind != "activation-request" || len(r.Kinds) != 1 || r.Fields.DeviceCount != 9 || len(r.Fields.Products) != 2 ||
		r.Fields.Products[0].DeviceCount != 7 || len(r.Fields.Products[0].FirstDevices) != firstDevices || r.Fields.Products[1].FirstDevices[1] != "DK-0101" {
		t.Errorf("JSON:\n%s", stdout)
	}
}

// sameExceptKey compares inspect's text output with want, where the
// gateway key line may differ: the test key's public half is not spelled
// out here but checked by the script's golden output.
func sameExceptKey(got, want string) bool {
	strip := func(s string) string {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.HasPrefix(l, "gateway key ") {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	}
	return strip(got) == strip(want)
}

func TestInspectActivation(t *testing.T) {
	inActivationDir(t)
	code, stdout, stderr := runApp(t, "", "code", "inspect", "--trust", "trust.airlock", "activation.airlock")
	for _, want := range []string{
		"kind             activation\n",
		"verification     VERIFIED (authority key 115f3d60785cabde)\n",
		"key id           115f3d60785cabde\n",
		"issued at        2025-01-15T09:30:00Z\n",
		"devices          11 in 3 products, counted at 2025-06-01T00:00:00Z\n",
		"  PK-CAM-01 active=5 not-yet-valid=1 expired=1 refused=1\n" +
			"    refused 1: the product has no activation code left (reason 1)\n" +
			"  PK-NVR-02 active=0 not-yet-valid=0 expired=0 refused=2\n" +
			"    refused 2: no product has this product key (reason 2)\n" +
			"  PK-OLD-03 active=0 not-yet-valid=0 expired=0 refused=1\n" +
			"    refused 1: the product was deleted (reason 3)\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if code != exitOK || stderr != "" {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}

	// The same counts in JSON, and a year later every window has ended.
	clock = func() time.Time { return activationNow.AddDate(2, 0, 0) }
	code, stdout, _ = runApp(t, "", "code", "inspect", "--json", "activation.bin")
	var r struct {
		Kind         string  `json:"kind"`
		MadeBy       string  `json:"made_by"`
		Verification string  `json:"verification"`
		KeyID        *string `json:"key_id"`
		Fields       activationJSON
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || code != exitOK {
		t.Fatalf("exit %d, %v:\n%s", code, err, stdout)
	}
	p := r.Fields.Products[0]
	if r.Kind != "activation" || r.MadeBy != "authority" || r.Verification != "unverified" || r.KeyID == nil || *r.KeyID != "115f3d60785cabde" ||
		r.Fields.CountedAt != "2027-06-01T00:00:00Z" || r.Fields.DeviceCount != 11 ||
		p.Active != 0 || p.Expired != 7 || p.NotYetValid != 0 || p.Refused != 1 || len(p.Refusals) != 1 || p.Refusals[0].Reason != codes.RefusedNoCodes {
		t.Errorf("JSON:\n%s", stdout)
	}
	if len(r.Fields.Products[1].Refusals) != 1 || r.Fields.Products[1].Refusals[0].Count != 2 || r.Fields.Products[1].Refusals[0].Meaning != "no product has this product key" {
		t.Errorf("refusals of PK-NVR-02: %+v", r.Fields.Products[1].Refusals)
	}
}

func TestInspectActivationFailsVerification(t *testing.T) {
	inActivationDir(t)
	code, stdout, stderr := runApp(t, "", "code", "inspect", "--trust", "trust.airlock", "tampered-activation.bin")
	if code != exitFailed || !strings.Contains(stdout, "verification     FAILED: signature verification failed: activation code does not verify with authority key 115f3d60785cabde\n") ||
		!strings.HasPrefix(stderr, "airlock: error: code not verified: ") {
		t.Errorf("exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
	}
	code, stdout, _ = runApp(t, "", "code", "inspect", "--trust", "rogue-trust.airlock", "activation.airlock")
	if code != exitFailed || !strings.Contains(stdout, "FAILED: authority key not trusted") {
		t.Errorf("rogue trust: exit %d, stdout:\n%s", code, stdout)
	}
}

// TestInspectFleet: a 2,000-device activation is summarized, not listed.
func TestInspectFleet(t *testing.T) {
	inActivationDir(t)
	code, stdout, stderr := runApp(t, "", "code", "inspect", "--trust", "trust.airlock", "fleet.airlock")
	if code != exitOK || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{
		"devices          2000 in 2 products, counted at 2025-06-01T00:00:00Z\n",
		"  PK-FLEET-0 active=900 not-yet-valid=0 expired=0 refused=100\n    refused 100: no activation code was ever allocated to the product (reason 5)\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if n := strings.Count(stdout, "\n"); n > 20 {
		t.Errorf("%d lines for a fleet:\n%s", n, stdout)
	}
}

func TestTypedCharsIsTheTypedFormsLength(t *testing.T) {
	for n := range 200 {
		code := bytes.Repeat([]byte{0x5a}, n)
		if got, want := typedChars(codes.KindActivation, code), len(codes.EncodeText(codes.KindActivation, code)); got != want {
			t.Fatalf("typedChars of %d bytes = %d, want %d", n, got, want)
		}
	}
}

// TestInspectActivationScriptFilesAreCurrent: the fleet files embedded in
// the script are what makeActivationFiles makes, never edited by hand. With
// AIRLOCK_UPDATE_SCRIPT=1 it rewrites them.
func TestInspectActivationScriptFilesAreCurrent(t *testing.T) {
	a, err := txtar.ParseFile(activationScript)
	if err != nil {
		t.Fatal(err)
	}
	made := makeActivationFiles()
	changed := false
	for i, f := range a.Files {
		want, ok := made[f.Name]
		if !ok || !strings.HasSuffix(f.Name, ".airlock") {
			continue
		}
		if !bytes.Equal(f.Data, want) {
			changed = true
			a.Files[i].Data = want
			if os.Getenv("AIRLOCK_UPDATE_SCRIPT") == "" {
				t.Errorf("%s in %s differs from what makeActivationFiles makes (run with AIRLOCK_UPDATE_SCRIPT=1)", f.Name, activationScript)
			}
		}
	}
	if changed && os.Getenv("AIRLOCK_UPDATE_SCRIPT") != "" {
		if err := os.WriteFile(activationScript, txtar.Format(a), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
