package main

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	_ "modernc.org/sqlite"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/testvectors/gen"
)

// newDesk makes an authority in a temporary folder, its key encrypted to
// a fresh age identity, with 5 vms.camera.core in acme/plant, and returns
// the identity file and the trust set.
func newDesk(t *testing.T) (dir, identity string, trust *codes.TrustSet) {
	t.Helper()
	dir = t.TempDir()
	t.Chdir(dir)
	t.Setenv(envAuthorityDir, filepath.Join(dir, "desk"))
	t.Setenv(envActor, "tester")
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	identity = filepath.Join(dir, "age.key")
	if err := os.WriteFile(identity, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"authority", "init", "--name", "desk", "--recipient", id.Recipient().String()},
		{"authority", "org", "add", "acme"},
		{"authority", "account", "add", "--org", "acme", "plant"},
		{"authority", "lot", "add", "--account", "acme/plant", "--tag", "vms.camera.core", "--count", "5"},
	} {
		if code, _, stderr := runApp(t, "", args...); code != 0 {
			t.Fatalf("%v: %s", args, stderr)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "desk", "trust.airlock"))
	if err != nil {
		t.Fatal(err)
	}
	if trust, err = codes.ReadTrustFile(b); err != nil {
		t.Fatal(err)
	}
	return dir, identity, trust
}

// fixtureRequest is a typed request of the fixture's instance for the
// desk's key.
func fixtureRequest(t *testing.T, trust *codes.TrustSet, want ...codes.License) string {
	t.Helper()
	f, err := gen.NewFixture()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	code, err := codes.SealRequest(&codes.Request{UDI: f.UDI, Nonce: []byte("12345678"), IssuedAt: now.Unix(), Wanted: want}, f.Instance, trust.Current(now.Unix()))
	if err != nil {
		t.Fatal(err)
	}
	return codes.EncodeText(codes.KindRequest, code)
}

// TestReserveFailsWhenStdoutFailsAndRunsAgain is ATTACKS T77: a code that
// could not be printed is recorded, the command exits 1 and says how to
// get it, and the same command then prints the same code.
func TestReserveFailsWhenStdoutFailsAndRunsAgain(t *testing.T) {
	_, identity, trust := newDesk(t)
	req := fixtureRequest(t, trust, codes.License{Tag: "vms.camera.core", Count: 2})
	args := []string{"airlock", "authority", "reserve", "--identity", identity, "--account", "acme/plant", "--request", req}
	var stderr bytes.Buffer
	if code := run(args, strings.NewReader(""), failingWriter{}, &stderr); code != exitFailed {
		t.Fatalf("exit %d, want %d\n%s", code, exitFailed, stderr.String())
	}
	want := "airlock: error: cannot write to standard output: no space left on device\n" +
		"airlock: hint: the reservation is recorded: run the same command again to get the same code\n" +
		"airlock: hint: check the disk or the pipe that standard output goes to\n"
	if stderr.String() != want {
		t.Fatalf("stderr:\n%s\nwant:\n%s", stderr.String(), want)
	}
	code, stdout, errOut := runApp(t, "", args[1:]...)
	if code != 0 || !strings.HasPrefix(stdout, "AU-") || !strings.Contains(errOut, "answered before") {
		t.Fatalf("exit %d\n%s%s", code, stdout, errOut)
	}
	code, stdout, _ = runApp(t, "", "authority", "licenses")
	if code != 0 || !strings.Contains(stdout, "vms.camera.core      5          3         2") {
		t.Fatalf("licenses:\n%s", stdout)
	}
}

func TestVerifyReportsATamperedHistory(t *testing.T) {
	dir, _, _ := newDesk(t)
	if code, stdout, stderr := runApp(t, "", "authority", "verify"); code != 0 || !strings.Contains(stdout, "verified: 4 events") {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "desk", "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TRIGGER history_no_update`, `UPDATE history SET actor = 'mallory' WHERE id = 2`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	code, stdout, stderr := runApp(t, "", "authority", "verify")
	want := "airlock: error: ledger verification failed: history event 3 (account add acme/plant) does not link to event 2: that event was altered or removed\n" +
		"airlock: hint: stop issuing, restore the ledger from a backup, and find out who changed it\n"
	if code != exitFailed || stdout != "" || stderr != want {
		t.Fatalf("exit %d\nstdout %q\nstderr:\n%s", code, stdout, stderr)
	}
}

func TestAuthorityUsageErrors(t *testing.T) {
	newDesk(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"authority", "reserv"}, `
airlock: error: unknown command "reserv"
airlock: hint: did you mean "reserve"?
airlock: hint: run 'airlock authority --help' for usage`},
		{[]string{"authority", "reserve", "--account", "acme/plant"}, `
airlock: error: give one of --request, --batch and --system
airlock: hint: for example: --request request.txt
airlock: hint: run 'airlock authority reserve --help' for usage`},
		{[]string{"authority", "reserve", "--account", "acme/plant", "--request", "x", "--install-days", "0"}, `
airlock: error: --install-days 0 is not from 1 to 3650
airlock: hint: run 'airlock authority reserve --help' for usage`},
		{[]string{"authority", "update", "--instance", "P:A,S:b"}, `
airlock: error: missing --license TAG=N
airlock: hint: for example: --license vms.camera.core=4
airlock: hint: run 'airlock authority update --help' for usage`},
		{[]string{"authority", "confirm"}, `
airlock: error: missing argument CODE|FILE|-
airlock: hint: run 'airlock authority confirm --help' for usage`},
		{[]string{"authority", "lot", "add", "--account", "acme/plant", "--tag", "t", "--count", "1", "--term", "2025"}, `
airlock: error: "2025" is not START..END
airlock: hint: write the dates as 2025-01-01..2025-12-31
airlock: hint: run 'airlock authority lot add --help' for usage`},
		{[]string{"authority", "show", "--instance", "P:A,S:b", "--serial", "2"}, `
airlock: error: --serial and --out go with --code
airlock: hint: run 'airlock authority show --help' for usage`},
		{[]string{"authority", "init"}, `
airlock: error: missing --name NAME for the authority
airlock: hint: for example: --name "ACME licensing"
airlock: hint: run 'airlock authority init --help' for usage`},
	}
	for _, tc := range tests {
		code, stdout, stderr := runApp(t, "", tc.args...)
		if code != exitUsage || stdout != "" || "\n"+stderr != tc.want+"\n" {
			t.Errorf("%v: exit %d\nstdout %q\nstderr:\n%s\nwant:%s", tc.args, code, stdout, stderr, tc.want)
		}
	}
}

func TestAuthorityShowsAnInstanceAsJSON(t *testing.T) {
	_, identity, trust := newDesk(t)
	req := fixtureRequest(t, trust, codes.License{Tag: "vms.camera.core", Count: 2})
	if code, _, stderr := runApp(t, "", "authority", "reserve", "--identity", identity, "--account", "acme/plant", "--request", req); code != 0 {
		t.Fatal(stderr)
	}
	code, stdout, stderr := runApp(t, "", "authority", "show", "--instance", gen.CiscoUDI, "--json")
	if code != 0 {
		t.Fatal(stderr)
	}
	for _, s := range []string{`"udi": "` + gen.CiscoUDI + `"`, `"state": "reserved"`, `"status": "issued"`, `"tag": "vms.camera.core"`, `"action": "reserve"`, `"actor": "tester"`} {
		if !strings.Contains(stdout, s) {
			t.Errorf("show --json lacks %s:\n%s", s, stdout)
		}
	}
}
