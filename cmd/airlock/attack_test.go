package main

import (
	"crypto/rand"
	"os"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/airlock-dev/airlock/codes"
)

// TestAttacks runs the attack suite of docs/SECURITY.md: one script per
// row of its threat table, in testdata/attack, each named after the
// attack. The scripts run the built binary as the authority (a folder
// desk/), the instance (site/) and an attacker who can read and rewrite
// everything that crosses between them (usb/), with the attacker command
// below. Each checks the refusal and that the victim's state is unchanged.
func TestAttacks(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/attack",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"attacker": cmdAttacker,
			"mkauth":   cmdMkauth,
			"mkcodes":  cmdMkcodes,
		},
	})
}

// cmdAttacker rewrites codes as an attacker with the files but no keys
// of either side can:
//
//	attacker flip IN OUT         flip one bit in the middle of the payload
//	attacker splice A B OUT      A's payload under B's headers and signature or MAC
//	attacker retype IN KIND OUT  the same bytes presented as another kind
//	attacker alg IN ALG OUT      the protected header's algorithm set to ALG (ES256, HMAC, none)
//	attacker rogue REQUEST OUT   an authorization for the request's instance, signed by a key of the attacker's own
//	attacker steal KEY REQUEST OUT  the same, signed by the authority key file KEY (stolen with its passphrase, $AIRLOCK_PASSPHRASE)
//
// IN may be in any form; OUT is armored as IN's kind (or KIND).
func cmdAttacker(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: attacker flip|splice|retype|alg|rogue ARGS...")
	}
	read := func(name string) (codes.Kind, []byte) {
		d, err := codes.Decode([]byte(ts.ReadFile(name)))
		ts.Check(err)
		if d.Kind == 0 {
			ts.Fatalf("attacker: %s: give the code typed or armored, so its kind is known", name)
		}
		return d.Kind, d.Code
	}
	parts := func(code []byte) []cbor.RawMessage {
		var p []cbor.RawMessage
		ts.Check(cbor.Unmarshal(code, &p))
		if len(p) != 4 {
			ts.Fatalf("attacker: a COSE envelope has 4 parts, this has %d", len(p))
		}
		return p
	}
	join := func(p []cbor.RawMessage) []byte {
		b, err := cbor.Marshal(p)
		ts.Check(err)
		return b
	}
	write := func(name string, k codes.Kind, code []byte) {
		ts.Check(os.WriteFile(ts.MkAbs(name), codes.EncodeArmor(k, code), 0o600))
	}
	switch args[0] {
	case "flip":
		k, code := read(args[1])
		p := parts(code)
		var payload []byte
		ts.Check(cbor.Unmarshal(p[2], &payload))
		payload[len(payload)/2] ^= 0x01
		p[2] = must(cbor.Marshal(payload))
		write(args[2], k, join(p))
	case "splice":
		if len(args) != 4 {
			ts.Fatalf("usage: attacker splice A B OUT")
		}
		ka, a := read(args[1])
		_, b := read(args[2])
		pa, pb := parts(a), parts(b)
		pb[2] = pa[2]
		write(args[3], ka, join(pb))
	case "retype":
		if len(args) != 4 {
			ts.Fatalf("usage: attacker retype IN KIND OUT")
		}
		_, code := read(args[1])
		k, ok := codes.KindByArmorType(args[2])
		if !ok {
			ts.Fatalf("attacker: unknown kind %q (use an armor type, e.g. CONFIRMATION)", args[2])
		}
		write(args[3], k, code)
	case "alg":
		if len(args) != 4 {
			ts.Fatalf("usage: attacker alg IN ALG OUT")
		}
		k, code := read(args[1])
		p := parts(code)
		var protected []byte
		ts.Check(cbor.Unmarshal(p[0], &protected))
		hdr := map[int]any{}
		if len(protected) > 0 {
			ts.Check(cbor.Unmarshal(protected, &hdr))
		}
		alg, ok := map[string]int{"ES256": -7, "HMAC": 5, "none": 0, "EdDSA": -8}[args[2]]
		if !ok {
			ts.Fatalf("attacker: unknown algorithm %q (ES256, HMAC, none, EdDSA)", args[2])
		}
		hdr[1] = alg
		// Canonical, so the refusal is about the algorithm alone.
		canon, err := cbor.CoreDetEncOptions().EncMode()
		ts.Check(err)
		p[0] = must(cbor.Marshal(must(canon.Marshal(hdr))))
		write(args[3], k, join(p))
	case "rogue", "steal":
		var key *codes.AuthorityKey
		var err error
		if args[0] == "rogue" {
			key, err = codes.GenerateAuthorityKey(rand.Reader, time.Time{}, time.Time{})
		} else {
			if len(args) != 4 {
				ts.Fatalf("usage: attacker steal KEY REQUEST OUT")
			}
			key, err = codes.OpenAuthorityKeyPassphrase([]byte(ts.ReadFile(args[1])), ts.Getenv("AIRLOCK_PASSPHRASE"))
			args = args[1:]
		}
		ts.Check(err)
		_, code := read(args[1])
		r, err := codes.ParseUnverifiedRequest(code)
		ts.Check(err)
		now := time.Now()
		au, err := codes.SignAuthorization(&codes.Authorization{
			Reservation: []byte{0xde, 0xad, 0xbe, 0xef}, Serial: 1, UDI: r.UDI,
			InstanceKey: codes.InstanceKeyHash(r.InstanceKey), Nonce: r.Nonce,
			Entitlements: []codes.Entitlement{{Tag: "vms.camera.core", Count: 1000, Kind: codes.Perpetual}},
			IssuedAt:     now.Unix(), InstallBy: now.Add(24 * time.Hour).Unix(),
		}, key)
		ts.Check(err)
		write(args[2], codes.KindAuthorization, au)
	default:
		ts.Fatalf("attacker: unknown operation %q", args[0])
	}
}

// testNowEnv sets the clock of the airlock that scripts run to a moment
// (RFC 3339), from which it ticks on, so that clock attacks run end to end
// with fixed dates. Only this test binary reads it.
const testNowEnv = "AIRLOCK_TEST_NOW"

func setTestClock() {
	v := os.Getenv(testNowEnv)
	if v == "" {
		return
	}
	at, err := time.Parse(time.RFC3339, v)
	if err != nil {
		panic(testNowEnv + ": " + err.Error())
	}
	start := time.Now()
	clock = func() time.Time { return at.Add(time.Since(start)) }
}
