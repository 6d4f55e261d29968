package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestHostileFleetCommandLines tries every activation-code pool, device,
// activation and alert command with bad input: each is refused with an
// error, and neither the ledger nor the instance state changes.
func TestHostileFleetCommandLines(t *testing.T) {
	s := newSite(t)
	for _, args := range [][]string{
		{"authority", "pool", "product", "add", "--org", "acme", "--pk", "PK-CAM", "--name", "cameras", "--auto-renew"},
		{"authority", "pool", "buy", "--org", "acme", "--package", "annual", "--validity", "1y", "--count", "10"},
		{"authority", "pool", "allocate", "--org", "acme", "--product", "PK-CAM", "--count", "5", "--yes"},
	} {
		if code, _, stderr := runApp(t, "", args...); code != exitOK {
			t.Fatalf("%v: %s", args, stderr)
		}
	}
	garbage := filepath.Join(s.dir, "garbage.airlock")
	if err := os.WriteFile(garbage, []byte("-----BEGIN AIRLOCK ACTIVATION REQUEST-----\nAAAA\n-----END AIRLOCK ACTIVATION REQUEST-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	request := filepath.Join(s.dir, "request.airlock")
	if err := os.WriteFile(request, makeTestCodes().files["request.txt"], 0o600); err != nil {
		t.Fatal(err)
	}
	pool := func(more ...string) []string { return append([]string{"authority", "pool"}, more...) }
	device := func(more ...string) []string { return append([]string{"authority", "device"}, more...) }
	process := func(more ...string) []string {
		return append([]string{"authority", "activation", "process", "--identity", s.identity}, more...)
	}
	for _, c := range []struct {
		name string
		args []string
	}{
		{"product key with a space", pool("product", "add", "--org", "acme", "--pk", "PK CAM", "--name", "x")},
		{"product key too long", pool("product", "add", "--org", "acme", "--pk", string(make([]byte, 65)), "--name", "x")},
		{"product key taken", pool("product", "add", "--org", "acme", "--pk", "PK-CAM", "--name", "other")},
		{"product name with a newline", pool("product", "add", "--org", "acme", "--pk", "PK-2", "--name", "a\nb")},
		{"product in unknown organization", pool("product", "add", "--org", "nosuch", "--pk", "PK-2", "--name", "x")},
		{"buy count 0", pool("buy", "--org", "acme", "--package", "annual", "--count", "0")},
		{"buy negative count", pool("buy", "--org", "acme", "--package", "annual", "--count", "-1")},
		{"buy count max int64", pool("buy", "--org", "acme", "--package", "annual", "--count", "9223372036854775807")},
		{"buy bad validity", pool("buy", "--org", "acme", "--package", "new", "--validity", "forever", "--count", "1")},
		{"buy zero validity", pool("buy", "--org", "acme", "--package", "new", "--validity", "0d", "--count", "1")},
		{"buy validity mismatch", pool("buy", "--org", "acme", "--package", "annual", "--validity", "2y", "--count", "1")},
		{"buy new package without validity", pool("buy", "--org", "acme", "--package", "new", "--count", "1")},
		{"buy into unknown product", pool("buy", "--org", "acme", "--package", "annual", "--count", "1", "--product", "PK-NONE")},
		{"allocate beyond the pool", pool("allocate", "--org", "acme", "--product", "PK-CAM", "--count", "6", "--yes")},
		{"allocate unconfirmed", pool("allocate", "--org", "acme", "--product", "PK-CAM", "--count", "1")},
		{"allocate unknown package", pool("allocate", "--org", "acme", "--product", "PK-CAM", "--package", "none", "--count", "1", "--yes")},
		{"allocate missing count", pool("allocate", "--org", "acme", "--product", "PK-CAM", "--yes")},
		{"allocate another organization", pool("allocate", "--org", "globex", "--product", "PK-CAM", "--count", "1", "--yes")},
		{"auto-renew neither on nor off", pool("auto-renew", "--org", "acme", "--product", "PK-CAM", "sometimes")},
		{"auto-renew no argument", pool("auto-renew", "--org", "acme", "--product", "PK-CAM")},
		{"blocklist bad key", pool("blocklist", "add", "--org", "acme", "--product", "PK-CAM", "a/b")},
		{"blocklist no key", pool("blocklist", "add", "--org", "acme", "--product", "PK-CAM")},
		{"delete unconfirmed", pool("product", "delete", "--org", "acme", "--product", "PK-CAM")},
		{"show unknown organization", pool("show", "--org", "nosuch")},
		{"device list bad date", device("list", "--org", "acme", "--expires-to", "tomorrow")},
		{"device list negative limit", device("list", "--org", "acme", "--limit", "-1")},
		{"device list unknown product", device("list", "--org", "acme", "--product", "PK-NONE")},
		{"device history unknown device", device("history", "--org", "acme", "--dk", "cam-1")},
		{"device history missing dk", device("history", "--org", "acme")},
		{"device delete unknown device", device("delete", "--org", "acme", "--product", "PK-CAM", "--dk", "cam-1")},
		{"device auto-renew unknown device", device("auto-renew", "--org", "acme", "--product", "PK-CAM", "--dk", "cam-1", "off")},
		{"process garbage", process(garbage)},
		{"process a request code", process(request)},
		{"process missing file", process(filepath.Join(s.dir, "none.airlock"))},
		{"process two files", process(garbage, garbage)},
		{"process bad recipient", process("--to", "age1nope", garbage)},
		{"alerts bad address", []string{"authority", "alerts", "recipients", "add", "--org", "acme", "ops"}},
		{"alerts address with a display name", []string{"authority", "alerts", "recipients", "add", "--org", "acme", "Ops <ops@plant.example>"}},
		{"alerts threshold not a number", []string{"authority", "alerts", "threshold", "--org", "acme", "many"}},
		{"alerts check bad server", []string{"authority", "alerts", "check", "--smtp", "smtp://user:secret@mail.example"}},
		{"alerts check server without sender", []string{"authority", "alerts", "check", "--smtp", "mail.example"}},
	} {
		t.Run(c.name, func(t *testing.T) { checkRefused(t, s, "", c.args...) })
	}
}
