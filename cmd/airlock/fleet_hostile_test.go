package main

import (
	"os"
	"path/filepath"
	"strings"
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
		want string // in the error
	}{
		{"product key with a space", pool("product", "add", "--org", "acme", "--pk", "PK CAM", "--name", "x"), "product key \"PK CAM\" has"},
		{"product key too long", pool("product", "add", "--org", "acme", "--pk", string(make([]byte, 65)), "--name", "x"), "the limit is 64"},
		{"product key taken", pool("product", "add", "--org", "acme", "--pk", "PK-CAM", "--name", "other"), "product key \"PK-CAM\" is taken"},
		{"product name with a newline", pool("product", "add", "--org", "acme", "--pk", "PK-2", "--name", "a\nb"), "has a control character"},
		{"product in unknown organization", pool("product", "add", "--org", "nosuch", "--pk", "PK-2", "--name", "x"), "no organization \"nosuch\""},
		{"buy count 0", pool("buy", "--org", "acme", "--package", "annual", "--count", "0"), "count 0 is not from 1 to"},
		{"buy negative count", pool("buy", "--org", "acme", "--package", "annual", "--count", "-1"), "count -1 is not from 1 to"},
		{"buy count max int64", pool("buy", "--org", "acme", "--package", "annual", "--count", "9223372036854775807"), "is not from 1 to 100000000"},
		{"buy bad validity", pool("buy", "--org", "acme", "--package", "new", "--validity", "forever", "--count", "1"), "validity \"forever\": want years"},
		{"buy zero validity", pool("buy", "--org", "acme", "--package", "new", "--validity", "0d", "--count", "1"), "validity \"0d\" is zero"},
		{"buy validity mismatch", pool("buy", "--org", "acme", "--package", "annual", "--validity", "2y", "--count", "1"), "has validity 1y, not 2y"},
		{"buy new package without validity", pool("buy", "--org", "acme", "--package", "new", "--count", "1"), "has no package \"new\": give its validity"},
		{"buy into unknown product", pool("buy", "--org", "acme", "--package", "annual", "--count", "1", "--product", "PK-NONE"), "no product with product key or name \"PK-NONE\""},
		{"allocate beyond the pool", pool("allocate", "--org", "acme", "--product", "PK-CAM", "--count", "6", "--yes"), "allocate at most 5"},
		{"allocate unconfirmed", pool("allocate", "--org", "acme", "--product", "PK-CAM", "--count", "1"), "not confirmed"},
		{"allocate unknown package", pool("allocate", "--org", "acme", "--product", "PK-CAM", "--package", "none", "--count", "1", "--yes"), "has no package \"none\""},
		{"allocate missing count", pool("allocate", "--org", "acme", "--product", "PK-CAM", "--yes"), "missing --count"},
		{"allocate another organization", pool("allocate", "--org", "globex", "--product", "PK-CAM", "--count", "1", "--yes"), "belongs to another organization"},
		{"auto-renew neither on nor off", pool("auto-renew", "--org", "acme", "--product", "PK-CAM", "sometimes"), "neither on nor off"},
		{"auto-renew no argument", pool("auto-renew", "--org", "acme", "--product", "PK-CAM"), "missing argument on|off"},
		{"blocklist bad key", pool("blocklist", "add", "--org", "acme", "--product", "PK-CAM", "a/b"), "device key \"a/b\""},
		{"blocklist no key", pool("blocklist", "add", "--org", "acme", "--product", "PK-CAM"), "missing argument DK"},
		{"delete unconfirmed", pool("product", "delete", "--org", "acme", "--product", "PK-CAM"), "its 5 remaining activation codes are lost"},
		{"show unknown organization", pool("show", "--org", "nosuch"), "no organization \"nosuch\""},
		{"device list bad date", device("list", "--org", "acme", "--expires-to", "tomorrow"), "not a date"},
		{"device list negative limit", device("list", "--org", "acme", "--limit", "-1"), "is negative"},
		{"device list unknown product", device("list", "--org", "acme", "--product", "PK-NONE"), "no product with product key or name \"PK-NONE\""},
		{"device history unknown device", device("history", "--org", "acme", "--dk", "cam-1"), "has no device \"cam-1\""},
		{"device history missing dk", device("history", "--org", "acme"), "missing --dk"},
		{"device delete unknown device", device("delete", "--org", "acme", "--product", "PK-CAM", "--dk", "cam-1"), "has no device \"cam-1\""},
		{"device auto-renew unknown device", device("auto-renew", "--org", "acme", "--product", "PK-CAM", "--dk", "cam-1", "off"), "has no device \"cam-1\""},
		{"process garbage", process(garbage), "malformed"},
		{"process a request code", process(request), "want an activation request code"},
		{"process missing file", process(filepath.Join(s.dir, "none.airlock")), "no such file"},
		{"process two files", process(garbage, garbage), "too many arguments"},
		{"process bad recipient", process("--to", "age1nope", garbage), "--to"},
		{"alerts bad address", []string{"authority", "alerts", "recipients", "add", "--org", "acme", "ops"}, "is not an e-mail address"},
		{"alerts address with a display name", []string{"authority", "alerts", "recipients", "add", "--org", "acme", "Ops <ops@plant.example>"}, "display names are not accepted"},
		{"alerts threshold not a number", []string{"authority", "alerts", "threshold", "--org", "acme", "many"}, "is not a number of codes"},
		{"alerts check bad server", []string{"authority", "alerts", "check", "--smtp", "smtp://user:secret@mail.example"}, "passwords are not accepted"},
		{"alerts check server without sender", []string{"authority", "alerts", "check", "--smtp", "mail.example"}, "missing --from"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if stderr := checkRefused(t, s, "", c.args...); !strings.Contains(stderr, c.want) {
				t.Errorf("the error does not say %q:\n%s", c.want, stderr)
			}
		})
	}
}
