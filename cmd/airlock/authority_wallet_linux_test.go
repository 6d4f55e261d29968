package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// openPTY opens a pseudo-terminal and returns its two ends: what the test
// types into master, a program reading slave reads as typed on a
// terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Skipf("unlocking the pseudo-terminal: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Skipf("naming the pseudo-terminal: %v", e)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("opening the pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// TestRedeemAsksOnTheTerminal: redeem shows what the key brings and
// redeems only on "y" or "yes" typed on the terminal.
func TestRedeemAsksOnTheTerminal(t *testing.T) {
	newDesk(t)
	for _, args := range [][]string{
		{"authority", "product", "add", "--org", "acme", "--software", "vms", "site-1"},
	} {
		if code, _, stderr := runApp(t, "", args...); code != exitOK {
			t.Fatalf("%v: %s", args, stderr)
		}
	}
	code, key, stderr := runApp(t, "", "authority", "key", "issue", "--software", "vms", "--tag", "vms.camera.core", "--count", "4", "--years", "2")
	if code != exitOK {
		t.Fatal(stderr)
	}
	key = strings.TrimSpace(key)
	redeem := []string{"airlock", "authority", "wallet", "redeem", "--org", "acme", "--product", "site-1", key}
	question := "airlock: redeem 8 vms.camera.core into the wallet of acme/site-1? this cannot be undone [y/N] "
	for _, tc := range []struct {
		answer string
		code   int
		want   string
	}{
		{"\n", exitFailed, "airlock: error: not confirmed: the answer was not yes\n"},
		{"no\n", exitFailed, "airlock: error: not confirmed: the answer was not yes\n"},
		{"yesplease\n", exitFailed, "airlock: error: not confirmed: the answer was not yes\n"},
		{" YES \n", exitOK, `redeemed into the wallet of "acme/site-1": 8 vms.camera.core, expiring `},
		{"y\n", exitFailed, "airlock: error: license key already redeemed"},
	} {
		master, slave := openPTY(t)
		if _, err := master.WriteString(tc.answer); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		code := run(redeem, slave, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Fatalf("answer %q: exit %d, want %d, stderr:\n%s", tc.answer, code, tc.code, stderr.String())
		}
		// The question is asked only of a key that would be redeemed.
		if asked := strings.HasPrefix(stderr.String(), question); asked != (tc.want != "airlock: error: license key already redeemed") {
			t.Fatalf("answer %q: asked %v, stderr:\n%s", tc.answer, asked, stderr.String())
		}
	}
	code, out, _ := runApp(t, "", "authority", "wallet", "show", "--org", "acme", "--product", "site-1", "--json")
	if code != exitOK || strings.Count(out, `"count": 8`) != 2 {
		t.Fatalf("the wallet holds, after one yes:\n%s", out)
	}
}
