package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/airlock-dev/airlock/codes"
)

// The hostile input catalogue (ISSUE 6, ATTACKS.md §2): every command that
// reads a code or a file, given input an attacker or an accident could
// produce. Each must exit 1 or 2 with an "airlock: error:" line, print no
// Go panic or stack, and leave the instance's state folder and the
// authority folder byte for byte as they were.

// A site is a desk and an instance reserved from it, made with the real
// commands, and the codes they exchanged.
type site struct {
	dir, identity string
	state         string
	request       string // typed, answered already
	auth          string // typed, installed
	update        string // typed, the next serial: issued, not installed
	confirm       string // typed, a confirmation of another instance's update
	ret           string // typed, a return code of another instance
	licenseKey    string // typed, issued for software vms, not redeemed
}

func newSite(t *testing.T) *site {
	t.Helper()
	dir, identity, _ := newDesk(t)
	s := &site{dir: dir, identity: identity, state: filepath.Join(dir, "site")}
	t.Setenv("AIRLOCK_STATE", s.state)
	step := func(stdin string, args ...string) string {
		t.Helper()
		code, out, stderr := runApp(t, stdin, args...)
		if code != exitOK {
			t.Fatalf("%v: %s", args, stderr)
		}
		return strings.TrimSpace(out)
	}
	step("", "authority", "lot", "add", "--account", "acme/plant", "--tag", "vms.camera.core", "--count", "20")
	step("", "authority", "product", "add", "--org", "acme", "--software", "vms", "site-1")
	s.licenseKey = step("", "authority", "key", "issue", "--software", "vms", "--tag", "vms.camera.core", "--count", "5")
	udi := "P:VMS,S:cam-1,U:0f2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b"
	step("", "instance", "init", "--udi", udi, "--trust", filepath.Join("desk", "trust.airlock"))
	step("", "instance", "enable")
	s.request = step("", "instance", "request", "--license", "vms.camera.core=3")
	s.auth = step("", "authority", "reserve", "--identity", identity, "--account", "acme/plant", "--request", s.request)
	step("", "instance", "install", s.auth)
	s.update = step("", "authority", "update", "--identity", identity, "--instance", udi, "--license", "vms.camera.core=2")

	// A second instance makes the confirmation and return codes, so the
	// first keeps its state.
	other := filepath.Join(dir, "other")
	udi2 := "P:VMS,S:cam-2,U:11111111-2222-4333-8444-555555555555"
	step("", "instance", "--state", other, "init", "--udi", udi2, "--trust", filepath.Join("desk", "trust.airlock"))
	step("", "instance", "--state", other, "enable")
	rq := step("", "instance", "--state", other, "request", "--license", "vms.camera.core=3")
	step("", "instance", "--state", other, "install", step("", "authority", "reserve", "--identity", identity, "--account", "acme/plant", "--request", rq))
	up := step("", "authority", "update", "--identity", identity, "--instance", udi2, "--license", "vms.camera.core=1")
	s.confirm = step("", "instance", "--state", other, "install", up)
	s.ret = step("", "instance", "--state", other, "return")
	return s
}

// snapshot hashes every file under the desk and the state folders, with
// its mode; SQLite's shared-memory index is left out (a reader may touch
// it without changing the ledger).
func snapshot(t *testing.T, roots ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if strings.HasSuffix(p, "-shm") {
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			sum := fi.Mode().String()
			if fi.Mode().IsRegular() {
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				h := sha256.Sum256(b)
				sum += " " + hex.EncodeToString(h[:])
			}
			out[p] = sum
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func diffSnapshots(before, after map[string]string) []string {
	var d []string
	for p, s := range before {
		if after[p] != s {
			d = append(d, "changed or removed: "+p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			d = append(d, "added: "+p)
		}
	}
	sort.Strings(d)
	return d
}

// A hostile case is an input and how to hand it to commands.
type hostile struct {
	name  string
	arg   string // the argument; "@" + name means a file written with data
	data  []byte // the file's bytes, or standard input when arg is "-"
	stdin bool
	right []string // commands for which this input is right, not hostile
}

func fileCase(name string, data []byte) hostile {
	return hostile{name: name, arg: "@" + name, data: data}
}

// from makes h a file copied from path, right for the commands named.
func (h hostile) from(path string, right ...string) hostile {
	b, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	h.data, h.right = b, right
	return h
}

// readers are the commands that read a code or a file, with a template
// where ARG goes.
func readers(s *site) map[string][]string {
	return map[string][]string{
		"code inspect":                  {"code", "inspect", "--trust", "desk/trust.airlock", "ARG"},
		"instance install":              {"instance", "install", "ARG"},
		"instance install-file":         {"instance", "install-file", "ARG"},
		"instance return-authorization": {"instance", "return-authorization", "ARG"},
		"instance trust install":        {"instance", "trust", "install", "ARG"},
		"authority reserve":             {"authority", "reserve", "--identity", s.identity, "--account", "acme/plant", "--request", "ARG"},
		"authority confirm":             {"authority", "confirm", "--identity", s.identity, "ARG"},
		"authority return":              {"authority", "return", "--identity", s.identity, "ARG"},
		"authority system import":       {"authority", "system", "import", "--identity", s.identity, "--account", "acme/plant", "ARG"},
		"authority usage import":        {"authority", "usage", "import", "--identity", s.identity, "ARG"},
		"authority wallet redeem":       {"authority", "wallet", "redeem", "--org", "acme", "--product", "site-1", "--yes", "ARG"},
		"authority product register":    {"authority", "product", "register", "--identity", s.identity, "--org", "acme", "--product", "site-1", "ARG"},
	}
}

// catalogue is the inputs every reader gets.
func catalogue(t *testing.T, s *site) []hostile {
	t.Helper()
	auBin, err := codes.DecodeKind([]byte(s.auth), codes.KindAuthorization)
	if err != nil {
		t.Fatal(err)
	}
	armored := codes.EncodeArmor(codes.KindAuthorization, auBin)
	huge := bytes.Repeat([]byte("A"), 20<<20)
	nonUTF8 := []byte{0xff, 0xfe, 0xfd, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1}
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(i*7919 + i>>3)
	}
	crlf := bytes.ReplaceAll(armored, []byte("\n"), []byte("\r\n"))
	mixed := append(bytes.Clone(armored[:40]), bytes.ReplaceAll(armored[40:], []byte("\n"), []byte("\r\n"))...)
	longLine := append([]byte("-----BEGIN AIRLOCK AUTHORIZATION-----\n"), bytes.Repeat([]byte("QUFB"), 5000)...)
	longLine = append(longLine, "\n-----END AIRLOCK AUTHORIZATION-----\n"...)
	wrongType := bytes.Replace(armored, []byte("AUTHORIZATION"), []byte("CERTIFICATE"), 2)
	trailing := append(bytes.Clone(armored), "and then some\n"...)
	nested := append(append(bytes.Clone(armored), armored...), armored...)
	ageTruncated := []byte("age-encryption.org/v1\n-> X25519 AAAA\nBBBB\n--- CCCC\n")
	return []hostile{
		{name: "empty argument", arg: ""},
		{name: "space argument", arg: " "},
		{name: "dash argument on empty stdin", arg: "-", stdin: true},
		{name: "NUL bytes on stdin", arg: "-", data: make([]byte, 1024), stdin: true},
		{name: "huge stdin", arg: "-", data: huge, stdin: true},
		fileCase("empty file", nil),
		fileCase("huge file", huge),
		fileCase("NUL bytes", make([]byte, 4096)),
		fileCase("non-UTF-8", nonUTF8),
		fileCase("random binary", random),
		fileCase("CBOR null", []byte{0xf6}),
		fileCase("CBOR deep nesting", bytes.Repeat([]byte{0x81}, 10000)),
		fileCase("CBOR huge length", []byte{0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}),
		fileCase("armor CRLF", crlf),
		fileCase("armor mixed line endings", mixed),
		fileCase("armor long line", longLine),
		fileCase("armor wrong type", wrongType),
		fileCase("armor trailing text", trailing),
		fileCase("three armored codes", nested),
		fileCase("armor header only", []byte("-----BEGIN AIRLOCK AUTHORIZATION-----\n")),
		fileCase("age header, no identity", ageTruncated),
		fileCase("typed code in a file with NUL", append([]byte(s.auth[:20]), 0, 0, 0)),
		fileCase("shell script", []byte("#!/bin/sh\nrm -rf /\n")),
		{name: "typed code, 1 MB", arg: strings.Repeat("AU-GH6T4097M-", 80000)},
		{name: "typed with only a prefix", arg: "AU-"},
		{name: "typed with unknown prefix", arg: "ZZ-GH6T4097M-0H4FMR0G9"},
		{name: "typed with lowercase and spaces", arg: strings.ToLower(strings.ReplaceAll(s.auth, "-", " "))[:60]},
		{name: "path to a folder", arg: "desk"},
		{name: "path to /dev/zero", arg: "/dev/zero"},
		{name: "path to /dev/urandom", arg: "/dev/urandom"},
		{name: "path climbing out", arg: "../../../../../../../../etc/passwd"},
		{name: "path to a missing file", arg: "./no/such/file.airlock"},
		{name: "path with newline", arg: "bad\nname.airlock"},
		{name: "FIFO", arg: "@fifo"},
		{name: "symlink to /dev/zero", arg: "@link-zero"},
		{name: "symlink loop", arg: "@link-loop"},
		{name: "sftp URL with password", arg: "sftp://user:secret@127.0.0.1/x.airlock"},
		{name: "sftp URL bad port", arg: "sftp://127.0.0.1:99999/x.airlock"},
		{name: "sftp URL unclosed IPv6", arg: "sftp://[::1/x.airlock"},
		{name: "sftp URL folder", arg: "sftp://127.0.0.1/drop/"},
		{name: "sftp URL climbing", arg: "sftp://127.0.0.1/drop/.."},
		{name: "other URL scheme", arg: "file:///etc/passwd"},
		{name: "wrong kind: request", arg: s.request, right: []string{"authority reserve", "code inspect"}},
		{name: "wrong kind: return", arg: s.ret, right: []string{"authority return", "code inspect"}},
		{name: "wrong kind: confirmation", arg: s.confirm, right: []string{"authority confirm", "code inspect"}},
		fileCase("wrong kind: trust file", nil).from(filepath.Join(s.dir, "desk", "trust.airlock"), "instance trust install", "code inspect"),
	}
}

// TestHostileProductCommandLines gives the subscription, hardware and
// product register commands command lines an accident or an attacker
// could type, on a product whose subscription started and whose wallet
// holds 5 licenses: each is refused, and nothing changes, not even when
// the dry run before the question succeeded.
func TestHostileProductCommandLines(t *testing.T) {
	s := newSite(t)
	for _, args := range [][]string{
		{"authority", "subscription", "start", "--org", "acme", "--product", "site-1", "--yes"},
		{"authority", "wallet", "redeem", "--org", "acme", "--product", "site-1", "--yes", s.licenseKey},
	} {
		if code, _, stderr := runApp(t, "", args...); code != exitOK {
			t.Fatalf("%v: %s", args, stderr)
		}
	}
	otherAuthority := filepath.Join(s.dir, "other-authority-system.airlock")
	if err := os.WriteFile(otherAuthority, makeTestCodes().files["system.airlock"], 0o600); err != nil {
		t.Fatal(err)
	}
	allocate := func(more ...string) []string {
		return append([]string{"authority", "subscription", "allocate", "--org", "acme", "--product", "site-1"}, more...)
	}
	extend := func(more ...string) []string {
		return append([]string{"authority", "hardware", "extend", "--org", "acme", "--product", "site-1"}, more...)
	}
	deliver := func(more ...string) []string {
		return append([]string{"authority", "subscription", "deliver", "--identity", s.identity, "--org", "acme", "--product", "site-1"}, more...)
	}
	register := func(more ...string) []string {
		return append([]string{"authority", "product", "register", "--identity", s.identity}, more...)
	}
	for _, c := range []struct {
		name string
		args []string
	}{
		{"year 0", allocate("--year", "0", "--count", "1", "--yes")},
		{"negative year", allocate("--year", "-1", "--count", "1", "--yes")},
		{"year not a number", allocate("--year", "one", "--count", "1", "--yes")},
		{"year beyond int", allocate("--year", "99999999999999999999", "--count", "1", "--yes")},
		{"year far ahead", allocate("--year", "99999999", "--count", "1", "--yes")},
		{"year six", allocate("--year", "6", "--count", "1", "--yes")},
		{"negative count", allocate("--year", "1", "--count", "-5", "--yes")},
		{"count 0", allocate("--year", "1", "--count", "0", "--yes")},
		{"count max int64", allocate("--year", "1", "--count", "9223372036854775807", "--yes")},
		{"count beyond the wallet", allocate("--year", "1", "--count", "6", "--yes")},
		{"missing year", allocate("--count", "1", "--yes")},
		{"missing count", allocate("--year", "1", "--yes")},
		{"missing org", []string{"authority", "subscription", "allocate", "--product", "site-1", "--year", "1", "--count", "1", "--yes"}},
		{"missing product", []string{"authority", "subscription", "allocate", "--org", "acme", "--year", "1", "--count", "1", "--yes"}},
		{"tag with a space", allocate("--year", "1", "--count", "1", "--tag", "vms camera", "--yes")},
		{"tag with an escape", allocate("--year", "1", "--count", "1", "--tag", "vms\x1b[2J", "--yes")},
		{"tag the wallet lacks", allocate("--year", "1", "--count", "1", "--tag", "vms.io", "--yes")},
		{"not confirmed after the dry run", allocate("--year", "1", "--count", "2")},
		{"allocate with an argument", allocate("--year", "1", "--count", "1", "--yes", "extra")},
		{"another organization's product", []string{"authority", "subscription", "allocate", "--org", "globex", "--product", "site-1", "--year", "1", "--count", "1", "--yes"}},
		{"start again", []string{"authority", "subscription", "start", "--org", "acme", "--product", "site-1", "--yes"}},
		{"start unknown product", []string{"authority", "subscription", "start", "--org", "acme", "--product", "nosuch", "--yes"}},
		{"start unknown organization", []string{"authority", "subscription", "start", "--org", "nosuch", "--product", "site-1", "--yes"}},
		{"start bad product name", []string{"authority", "subscription", "start", "--org", "acme", "--product", "../site-1", "--yes"}},
		{"status missing product", []string{"authority", "subscription", "status", "--org", "acme"}},
		{"status with an argument", []string{"authority", "subscription", "status", "--org", "acme", "--product", "site-1", "extra"}},
		{"unknown subscription command", []string{"authority", "subscription", "renew"}},
		{"deliver missing system", deliver()},
		{"deliver no such system", deliver("--system", "Plant 9")},
		{"deliver system with a newline", deliver("--system", "Plant\n4")},
		{"deliver install-days 0", deliver("--system", "Plant 4", "--install-days", "0")},
		{"deliver bad recipient", deliver("--system", "Plant 4", "--to", "age1nope")},
		{"extend unknown component", extend("--component", "SN-9", "--count", "1", "--yes")},
		{"extend empty component", extend("--component", "", "--count", "1", "--yes")},
		{"extend negative count", extend("--component", "SN-1", "--count", "-1", "--yes")},
		{"extend missing count", extend("--component", "SN-1", "--yes")},
		{"extend missing component", extend("--count", "1", "--yes")},
		{"extend bad tag", extend("--component", "SN-1", "--count", "1", "--tag", "a=b", "--yes")},
		{"unknown hardware command", []string{"authority", "hardware", "remove"}},
		{"register without a file", register("--org", "acme", "--product", "site-1")},
		{"register two files", register("--org", "acme", "--product", "site-1", otherAuthority, otherAuthority)},
		{"register missing org", register("--product", "site-1", otherAuthority)},
		{"register for another authority", register("--org", "acme", "--product", "site-1", otherAuthority)},
		{"register to an unknown product", register("--org", "acme", "--product", "nosuch", otherAuthority)},
	} {
		t.Run(c.name, func(t *testing.T) { checkRefused(t, s, "", c.args...) })
	}
}

// materialize writes h's file, if any, under dir and returns the argument
// and standard input to use.
func (h hostile) materialize(t *testing.T, dir string) (arg, stdin string) {
	t.Helper()
	if h.stdin {
		return h.arg, string(h.data)
	}
	if !strings.HasPrefix(h.arg, "@") {
		return h.arg, ""
	}
	p := filepath.Join(dir, strings.ReplaceAll(h.arg[1:], " ", "-"))
	var err error
	switch h.arg {
	case "@fifo":
		err = syscall.Mkfifo(p, 0o600)
	case "@link-zero":
		err = os.Symlink("/dev/zero", p)
	case "@link-loop":
		err = os.Symlink(p, p)
	default:
		err = os.WriteFile(p, h.data, 0o600)
	}
	if err != nil && !os.IsExist(err) {
		t.Fatal(err)
	}
	return p, ""
}

// checkRefused runs args and checks the refusal and that nothing changed.
func checkRefused(t *testing.T, s *site, stdin string, args ...string) (stderr string) {
	t.Helper()
	before := snapshot(t, filepath.Join(s.dir, "desk"), s.state)
	code, stdout, stderr := runApp(t, stdin, args...)
	if code != exitFailed && code != exitUsage {
		t.Errorf("exit status %d, want 1 or 2\nstderr: %s", code, stderr)
	}
	if !strings.Contains(stderr, "airlock: error: ") {
		t.Errorf("no error line: %q", stderr)
	}
	for _, bad := range []string{"panic", "goroutine ", "runtime error", ".go:"} {
		if strings.Contains(stderr, bad) || strings.Contains(stdout, bad) {
			t.Errorf("output mentions %q:\n%s%s", bad, stdout, stderr)
		}
	}
	if d := diffSnapshots(before, snapshot(t, filepath.Join(s.dir, "desk"), s.state)); len(d) > 0 {
		t.Errorf("state changed: %v", d)
	}
	return stderr
}

func TestHostileInputCatalogue(t *testing.T) {
	if testing.Short() {
		t.Skip("the whole catalogue runs without -short")
	}
	s := newSite(t)
	files := t.TempDir()
	cases := catalogue(t, s)
	n := 0
	for cmdName, tmpl := range readers(s) {
		for _, h := range cases {
			if slices.Contains(h.right, cmdName) {
				continue
			}
			t.Run(cmdName+"/"+h.name, func(t *testing.T) {
				arg, stdin := h.materialize(t, files)
				args := make([]string, len(tmpl))
				for i, a := range tmpl {
					if a == "ARG" {
						a = arg
					}
					args[i] = a
				}
				checkRefused(t, s, stdin, args...)
			})
			n++
		}
	}
	t.Logf("%d hostile inputs across %d commands", n, len(readers(s)))
}

// TestEveryTruncationIsRefused hands every prefix of a real code, typed
// and binary, to the commands that would act on it.
func TestEveryTruncationIsRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("runs without -short")
	}
	s := newSite(t)
	files := t.TempDir()
	bin, err := codes.DecodeKind([]byte(s.update), codes.KindAuthorization)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(bin); i++ {
		p := filepath.Join(files, fmt.Sprintf("cut-%d.bin", i))
		if err := os.WriteFile(p, bin[:i], 0o600); err != nil {
			t.Fatal(err)
		}
		checkRefused(t, s, "", "instance", "install-file", p)
	}
	cf, err := codes.DecodeKind([]byte(s.confirm), codes.KindConfirmation)
	if err != nil {
		t.Fatal(err)
	}
	// Typed truncations: whole groups only (a partial group is a typo,
	// covered below) for the confirmation, every character for the
	// update's first groups.
	for i := 1; i < len(s.update) && i < 120; i++ {
		checkRefused(t, s, "", "instance", "install", s.update[:i])
	}
	for i := 0; i < len(cf); i++ {
		checkRefused(t, s, "", "authority", "confirm", "--identity", s.identity, codes.EncodeText(codes.KindConfirmation, cf[:i]))
	}
}

// TestEveryTypoIsRefused changes each character of a typed code to
// another of the alphabet: the group check catches it before anything is
// verified, and nothing changes.
func TestEveryTypoIsRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("runs without -short")
	}
	s := newSite(t)
	for _, c := range []struct {
		code string
		args func(string) []string
	}{
		{s.confirm, func(code string) []string { return []string{"authority", "confirm", "--identity", s.identity, code} }},
		{s.update, func(code string) []string { return []string{"instance", "install", code} }},
		{s.licenseKey, func(key string) []string {
			return []string{"authority", "wallet", "redeem", "--org", "acme", "--product", "site-1", "--yes", key}
		}},
	} {
		typos := 0
		for i := 3; i < len(c.code); i++ { // after the prefix
			if c.code[i] == '-' {
				continue
			}
			b := []byte(c.code)
			b[i] = swapChar(b[i])
			code, _, stderr := runApp(t, "", c.args(string(b))...)
			if code != exitFailed || !strings.Contains(stderr, "typo") || !strings.Contains(stderr, "group ") {
				t.Fatalf("typo at %d: exit %d, %s", i, code, stderr)
			}
			typos++
			if typos > 60 && c.code == s.update {
				break // the long code's first groups are enough
			}
		}
	}
}

// typedAlphabet is Crockford's base32, as typed codes use it.
const typedAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// swapChar returns another character of the typed alphabet.
func swapChar(c byte) byte {
	i := strings.IndexByte(typedAlphabet, c)
	return typedAlphabet[(i+1)%len(typedAlphabet)]
}

// TestSymlinkedStateIsRefused: a state file replaced by a symbolic link
// (to a copy, or to a file an attacker controls) is refused by every
// command, and nothing is written through the link.
func TestSymlinkedStateIsRefused(t *testing.T) {
	s := newSite(t)
	stateFile := filepath.Join(s.state, "state")
	copyPath := filepath.Join(s.dir, "state-copy")
	b, err := os.ReadFile(stateFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copyPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(stateFile); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(copyPath, stateFile); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"instance", "status"},
		{"instance", "install", s.update},
		{"instance", "return"},
		{"instance", "request"},
		{"instance", "disable"},
	} {
		checkRefused(t, s, "", args...)
		if got, _ := os.ReadFile(copyPath); !bytes.Equal(got, b) {
			t.Fatalf("%v wrote through the link", args)
		}
	}
	code, _, stderr := runApp(t, "", "instance", "status")
	if code != exitFailed || !strings.Contains(stderr, "unsafe instance state folder") {
		t.Fatalf("status: exit %d: %s", code, stderr)
	}
}
