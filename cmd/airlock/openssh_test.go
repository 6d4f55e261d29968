package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/cmd/airlock/internal/drop"
	"github.com/airlock-dev/airlock/cmd/airlock/internal/drop/droptest"
	"github.com/airlock-dev/airlock/instance"
	"github.com/airlock-dev/airlock/testvectors/gen"
)

// TestSFTPDropThroughOpenSSH runs the commands in process against a real
// OpenSSH server (droptest.StartOpenSSH; skipped loudly without sshd, a
// failure when AIRLOCK_REQUIRE_SSHD is set): the instance writes its
// request into the drop with --out, the authority answers into it with
// --out, the instance installs the answer with install-file from the drop,
// and returns the reservation into it for the authority.
func TestSFTPDropThroughOpenSSH(t *testing.T) {
	o := droptest.StartOpenSSH(t)
	dir, identity, _ := newDesk(t)
	// Only the known_hosts and key given on the command line count.
	t.Setenv("HOME", t.TempDir())
	t.Setenv("SSH_AUTH_SOCK", "")
	t.Setenv(drop.PasswordEnv, "")
	t.Setenv(instance.EnvStateDir, filepath.Join(dir, "instance"))
	inbox, outbox := filepath.Join(dir, "drop", "inbox"), filepath.Join(dir, "drop", "outbox")
	for _, d := range []string{inbox, outbox} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sftp := func(args ...string) []string {
		return append(append(args[:1:1], "--known-hosts", o.KnownHosts, "--ssh-key", o.KeyFile), args[1:]...)
	}
	step := func(want string, args ...string) string {
		t.Helper()
		code, stdout, stderr := runApp(t, "", args...)
		if code != exitOK || !strings.Contains(stderr, want) {
			t.Fatalf("airlock %s: exit %d, stderr:\n%s\nwant it to say %q", strings.Join(args, " "), code, stderr, want)
		}
		return stdout
	}

	trust := filepath.Join(dir, "desk", "trust.airlock")
	step("new instance", "instance", "init", "--udi", gen.CiscoUDI, "--trust", trust)
	step("reservation enabled", "instance", "enable")
	requestURL := o.URL(filepath.Join(inbox, "request.airlock"))
	rq := step("wrote "+requestURL, append([]string{"instance"}, sftp("request", "--license", "vms.camera.core=3", "--out", requestURL)...)...)
	if !strings.HasPrefix(rq, "RQ-") {
		t.Errorf("request printed %q, want a typed request code", rq)
	}

	authURL := o.URL(filepath.Join(outbox, "authorization.airlock"))
	step("wrote "+authURL, append([]string{"authority"}, sftp("reserve", "--identity", identity, "--account", "acme/plant",
		"--request", filepath.Join(inbox, "request.airlock"), "--out", authURL)...)...)
	step("installed reservation", append([]string{"instance"}, sftp("install-file", authURL)...)...)
	st := step("", "instance", "status")
	if !strings.Contains(st, "vms.camera.core  count 3") {
		t.Errorf("status after install-file:\n%s", st)
	}

	// The same code again is fine; the file is never replaced.
	step("already holds this code", append([]string{"authority"}, sftp("reserve", "--identity", identity, "--account", "acme/plant",
		"--request", filepath.Join(inbox, "request.airlock"), "--out", authURL)...)...)

	returnURL := o.URL(filepath.Join(inbox, "return.airlock"))
	step("wrote "+returnURL, append([]string{"instance"}, sftp("return", "--out", returnURL)...)...)
	step("released 3 vms.camera.core", "authority", "return", "--identity", identity, filepath.Join(inbox, "return.airlock"))

	for _, d := range []string{inbox, outbox} {
		entries, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if drop.IsTemp(e.Name()) {
				t.Errorf("temporary file %s left in %s", e.Name(), d)
			}
		}
	}

	// A key the server does not accept: refused before anything changes.
	other := filepath.Join(t.TempDir(), "id_ed25519")
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := droptest.MarshalPrivateKey(priv)
	if err == nil {
		err = os.WriteFile(other, key, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runApp(t, "", "instance", "request", "--known-hosts", o.KnownHosts, "--ssh-key", other,
		"--out", o.URL(filepath.Join(inbox, "request2.airlock")))
	if code != exitFailed || !strings.Contains(stderr, "SSH authentication failed") || !strings.Contains(stderr, "nothing was changed") {
		t.Errorf("request with a key the server refuses: exit %d, stderr:\n%s", code, stderr)
	}
	if st := step("", "instance", "status"); strings.Contains(st, "pending ") {
		t.Errorf("a refused request left a pending request:\n%s", st)
	}
}
