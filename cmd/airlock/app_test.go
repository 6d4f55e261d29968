package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/formats/seal"
)

// runApp runs airlock in process with stdin and returns its exit status,
// stdout and stderr.
func runApp(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(append([]string{"airlock"}, args...), strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// inTempDir runs the test in a fresh folder holding the test codes.
func inTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	for name, b := range makeTestCodes().files {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestUsageErrorsPrintOneLineAndAHintAndExitTwo(t *testing.T) {
	inTempDir(t)
	tests := []struct {
		args []string
		want string // the whole of stderr
	}{
		{[]string{"frob"}, `
airlock: error: unknown command "frob"
airlock: hint: run 'airlock --help' for usage`},
		{[]string{"kegen"}, `
airlock: error: unknown command "kegen"
airlock: hint: did you mean "keygen"?
airlock: hint: run 'airlock --help' for usage`},
		{[]string{"--json"}, `
airlock: error: unknown flag --json
airlock: hint: run 'airlock --help' for usage`},
		{[]string{"help", "frob"}, `
airlock: error: unknown command "frob"
airlock: hint: run 'airlock --help' for usage`},
		{[]string{"help", "--frob"}, `
airlock: error: unknown flag --frob
airlock: hint: run 'airlock help --help' for usage`},
		{[]string{"-v"}, `
airlock: error: unknown flag -v
airlock: hint: run 'airlock version'
airlock: hint: run 'airlock --help' for usage`},
		{[]string{"code", "inspec"}, `
airlock: error: unknown command "inspec"
airlock: hint: did you mean "inspect"?
airlock: hint: run 'airlock code --help' for usage`},
		{[]string{"code", "inspect"}, `
airlock: error: missing argument CODE|FILE|-
airlock: hint: run 'airlock code inspect --help' for usage`},
		{[]string{"code", "inspect", "--jsn", "return.txt"}, `
airlock: error: unknown flag --jsn
airlock: hint: did you mean --json?
airlock: hint: run 'airlock code inspect --help' for usage`},
		{[]string{"code", "inspect", "return.txt", "--json"}, `
airlock: error: flag --json after the argument "return.txt"
airlock: hint: write the flags first: airlock code inspect [OPTIONS] CODE|FILE|-
airlock: hint: run 'airlock code inspect --help' for usage`},
		{[]string{"code", "inspect", "RT-GH0A0JD2V", "0520M6SC5"}, `
airlock: error: too many arguments: want CODE|FILE|-, got 2 arguments
airlock: hint: quote a typed code that contains spaces
airlock: hint: run 'airlock code inspect --help' for usage`},
		{[]string{"code", "inspect", "--json=maybe", "return.txt"}, `
airlock: error: invalid boolean value "maybe" for -json: parse error
airlock: hint: run 'airlock code inspect --help' for usage`},
		{[]string{"code", "inspect", "--trust"}, `
airlock: error: flag needs an argument: -trust
airlock: hint: run 'airlock code inspect --help' for usage`},
		{[]string{"keygen", "--trust-out", "t.airlock"}, `
airlock: error: missing --out FILE for the private key
airlock: hint: for example: --out authority.key
airlock: hint: run 'airlock keygen --help' for usage`},
		{[]string{"keygen", "--out", "a.key"}, `
airlock: error: missing --trust-out FILE for the trust file
airlock: hint: for example: --trust-out trust.airlock
airlock: hint: run 'airlock keygen --help' for usage`},
		{[]string{"keygen", "--out", "a", "--trust-out", "./a"}, `
airlock: error: --out and --trust-out name the same file "a"
airlock: hint: run 'airlock keygen --help' for usage`},
		{[]string{"keygen", "--out", "-", "--trust-out", "t"}, `
airlock: error: keygen writes files, not standard output: give file names
airlock: hint: run 'airlock keygen --help' for usage`},
		{[]string{"keygen", "--out", "a", "--trust-out", "t", "extra"}, `
airlock: error: airlock keygen takes no arguments, got "extra"
airlock: hint: run 'airlock keygen --help' for usage`},
		{[]string{"keygen", "--out", "a", "--trust-out", "t", "--not-after", "soon"}, `
airlock: error: --not-after "soon": not a date (YYYY-MM-DD) or an RFC 3339 time
airlock: hint: write a date as 2030-12-31 or a time as 2030-12-31T18:00:00Z
airlock: hint: run 'airlock keygen --help' for usage`},
		{[]string{"keygen", "--out", "a", "--trust-out", "t", "--not-after", "2020-01-01"}, `
airlock: error: --not-after "2020-01-01" is in the past: the key could never sign anything
airlock: hint: run 'airlock keygen --help' for usage`},
		{[]string{"keygen", "--out", "a", "--trust-out", "t", "--recipient", "age1nope"}, `
airlock: error: --recipient: invalid key: malformed recipient "age1nope": separator '1' at invalid position: pos=3, len=8
airlock: hint: give an age recipient (age1…), an ssh-ed25519 public key in quotes, or @FILE
airlock: hint: run 'airlock keygen --help' for usage`},
		{[]string{"keygen", "--out", "a", "--trust-out", "t", "--recipient", "@return.txt"}, `
airlock: error: --recipient @return.txt, line 1: invalid key: want an age recipient (age1…) or an ssh-ed25519 public key
airlock: hint: give an age recipient (age1…), an ssh-ed25519 public key in quotes, or @FILE
airlock: hint: run 'airlock keygen --help' for usage`},
		{[]string{"version", "--short"}, `
airlock: error: unknown flag --short
airlock: hint: run 'airlock version --help' for usage`},
		{[]string{"version", "now"}, `
airlock: error: airlock version takes no arguments, got "now"
airlock: hint: run 'airlock version --help' for usage`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runApp(t, "", tt.args...)
			if code != exitUsage {
				t.Errorf("exit status %d, want %d", code, exitUsage)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing (no help dump)", stdout)
			}
			if want := strings.TrimPrefix(tt.want, "\n") + "\n"; stderr != want {
				t.Errorf("stderr:\n%s\nwant:\n%s", stderr, want)
			}
		})
	}
	if _, err := os.Stat("a"); err == nil {
		t.Error("a usage error left a file behind")
	}
}

func TestFailuresExitOneWithAHint(t *testing.T) {
	dir := inTempDir(t)
	big := filepath.Join(dir, "big.txt")
	if err := os.WriteFile(big, bytes.Repeat([]byte("A"), maxInputSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string // the whole of stderr
	}{
		{"missing file", []string{"code", "inspect", "nosuch.airlock"}, `
airlock: error: no such file "nosuch.airlock"
airlock: hint: check the path; a typed code is given as it is, quoted if it has spaces`},
		{"folder", []string{"code", "inspect", dir}, fmt.Sprintf(`
airlock: error: not a regular file: %q is a folder
airlock: hint: give a regular file, or - to read standard input`, dir)},
		{"too large", []string{"code", "inspect", "big.txt"}, fmt.Sprintf(`
airlock: error: file too large: "big.txt" has %d bytes, the limit is %d
airlock: hint: codes are a few KiB at most; check that this is the right file`, maxInputSize+1, maxInputSize)},
		{"trust file of another kind", []string{"code", "inspect", "--trust", "return.txt", "return.txt"}, `
airlock: error: --trust "return.txt": trust file: wrong code kind: got a return code, want a trust update code
airlock: hint: this is another kind of code than the one asked for; check which code or file you passed`},
		{"missing trust file", []string{"code", "inspect", "--trust", "nosuch.airlock", "return.txt"}, `
airlock: error: --trust: stat nosuch.airlock: no such file or directory
airlock: hint: check the path`},
		{"missing identity file", []string{"code", "inspect", "--identity", "nosuch.key", "return.txt"}, `
airlock: error: --identity: stat nosuch.key: no such file or directory
airlock: hint: check the path`},
		{"missing recipient file", []string{"keygen", "--out", "a.key", "--trust-out", "t.airlock", "--recipient", "@nosuch.pub"}, `
airlock: error: --recipient: stat nosuch.pub: no such file or directory
airlock: hint: check the path`},
		{"key file exists", []string{"keygen", "--recipient", "@age.pub", "--out", "trust.airlock", "--trust-out", "t.airlock"}, `
airlock: error: file already exists: trust.airlock
airlock: hint: airlock never overwrites a key or trust file; give another path, or move the file away first`},
	}
	if runtime.GOOS != "windows" {
		tests = append(tests, struct {
			name string
			args []string
			want string
		}{"device", []string{"code", "inspect", "/dev/null"}, `
airlock: error: not a regular file: "/dev/null" is a character device
airlock: hint: give a regular file, or - to read standard input`})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runApp(t, "", tt.args...)
			if code != exitFailed {
				t.Errorf("exit status %d, want %d", code, exitFailed)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if want := strings.TrimPrefix(tt.want, "\n") + "\n"; stderr != want {
				t.Errorf("stderr:\n%s\nwant:\n%s", stderr, want)
			}
		})
	}
}

func TestKeygenWithoutPassphraseOrTerminalFails(t *testing.T) {
	inTempDir(t)
	t.Setenv(envPassphrase, "")
	os.Unsetenv(envPassphrase)
	code, stdout, stderr := runApp(t, "", "keygen", "--out", "a.key", "--trust-out", "t.airlock")
	want := `airlock: error: no passphrase to encrypt the key with: AIRLOCK_PASSPHRASE is not set and standard input is not a terminal to ask on
airlock: hint: set AIRLOCK_PASSPHRASE, or encrypt the key to an age or SSH key with --recipient
`
	if code != exitFailed || stdout != "" || stderr != want {
		t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit 1 and:\n%s", code, stdout, stderr, want)
	}
	for _, f := range []string{"a.key", "t.airlock"} {
		if _, err := os.Lstat(f); err == nil {
			t.Errorf("%s was written", f)
		}
	}
}

func TestKeygenKeyFileIsOwnerOnly(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	inTempDir(t)
	code, stdout, stderr := runApp(t, "", "keygen", "--recipient", "@age.pub", "--out", "a.key", "--trust-out", "t.airlock")
	if code != exitOK || stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
	fi, err := os.Stat("a.key")
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode %v, want 0600", perm)
	}
	trust, err := codes.ReadTrustFile(must(os.ReadFile("t.airlock")))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("airlock: new authority key %s\n", trust.SignedBy)
	if !strings.HasPrefix(stderr, want) {
		t.Errorf("stderr:\n%s\nwant it to start with %q", stderr, want)
	}
}

// TestHintTable pins the hint of every sentinel the brief names, and checks
// that a sentinel wrapped under context still finds its hint.
func TestHintTable(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{codes.ErrTypo, "check the group named above and type it again"},
		{codes.ErrEncrypted, "pass --identity FILE (an age identity file or an ssh-ed25519 private key)"},
		{codes.ErrBadSignature, "the code was altered or is not for this key; ask for it again"},
		{codes.ErrUnknownKey, "load the authority's current trust file"},
		{codes.ErrMalformed, "this is not an airlock code, or part of it is missing; copy the whole code or file again"},
		{seal.ErrWrongIdentity, "the file is encrypted to someone else: pass the identity it was made for with --identity FILE"},
		{errNoPassphrase, "set AIRLOCK_PASSPHRASE, or encrypt the key to an age or SSH key with --recipient"},
	}
	for _, tt := range tests {
		err := fmt.Errorf("file %q: %w", "x", tt.err)
		if got := hintsFor(err); len(got) != 1 || got[0] != tt.want {
			t.Errorf("hints for %v = %q, want [%q]", tt.err, got, tt.want)
		}
	}
	// A code error classified under two sentinels gets the narrower hint.
	_, err := codes.Decode(must(seal.Encrypt([]byte("RT-00"), must(seal.ParseRecipient(string(makeTestCodes().files["age.pub"]))))),
		must(seal.ParseIdentities(makeTestCodes().files["age.key"]))...)
	if !errors.Is(err, codes.ErrEncrypted) || !errors.Is(err, seal.ErrWrongIdentity) {
		t.Fatalf("Decode with a wrong identity: %v", err)
	}
	if got := hintsFor(err); len(got) != 1 || !strings.Contains(got[0], "encrypted to someone else") {
		t.Errorf("hints for a wrong identity = %q", got)
	}
	// Hints attached where the error is made come first.
	if got := hintsFor(withHint(fmt.Errorf("x: %w", codes.ErrTypo), "first")); len(got) != 2 || got[0] != "first" {
		t.Errorf("hints = %q, want the attached hint first", got)
	}
}

func TestEveryCodesSentinelHasAHint(t *testing.T) {
	for _, err := range []error{
		codes.ErrMalformed, codes.ErrWrongKind, codes.ErrAlgorithm, codes.ErrBadSignature,
		codes.ErrUnknownKey, codes.ErrKeyWindow, codes.ErrWeakKey, codes.ErrInvalid,
		codes.ErrWrongInstance, codes.ErrInstallWindow, codes.ErrExpired, codes.ErrTypo,
		codes.ErrEncrypted,
		errTooLarge, errNotRegular, errEmpty, errExists, errNoPassphrase, errStdout,
	} {
		if errors.Is(err, errExists) {
			continue // its hint is attached where it is made
		}
		if len(hintsFor(err)) == 0 {
			t.Errorf("no hint for %v", err)
		}
	}
}

// failingWriter fails every write, as a full disk does.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

func TestWriteErrorOnStdoutFails(t *testing.T) {
	inTempDir(t)
	for _, args := range [][]string{
		{"version"},
		{"--help"},
		{},
		{"code", "inspect", "return.txt"},
		{"code", "inspect", "--json", "return.txt"},
	} {
		var stderr bytes.Buffer
		code := run(append([]string{"airlock"}, args...), strings.NewReader(""), failingWriter{}, &stderr)
		want := "airlock: error: cannot write to standard output: no space left on device\n" +
			"airlock: hint: check the disk or the pipe that standard output goes to\n"
		if code != exitFailed || stderr.String() != want {
			t.Errorf("airlock %s: exit %d, stderr:\n%s\nwant exit 1 and:\n%s", strings.Join(args, " "), code, stderr.String(), want)
		}
	}
}

func TestWriteToDevFullFails(t *testing.T) {
	f, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip("no /dev/full:", err)
	}
	defer f.Close()
	var stderr bytes.Buffer
	code := run([]string{"airlock", "version"}, strings.NewReader(""), f, &stderr)
	if code != exitFailed || !strings.HasPrefix(stderr.String(), "airlock: error: cannot write to standard output: write /dev/full: no space left on device\n") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr.String())
	}
}

func TestHelpAndVersionSucceed(t *testing.T) {
	for _, args := range [][]string{{}, {"--help"}, {"help"}, {"keygen", "--help"}, {"code"}, {"code", "inspect", "-h"}, {"help", "keygen"}, {"help", "code", "inspect"}, {"help", "help"}} {
		code, stdout, stderr := runApp(t, "", args...)
		if code != exitOK || !strings.Contains(stdout, "NAME:") || stderr != "" {
			t.Errorf("airlock %s: exit %d, stderr %q, stdout starts %.40q", strings.Join(args, " "), code, stderr, stdout)
		}
	}
	code, stdout, _ := runApp(t, "", "version")
	if code != exitOK || !strings.HasPrefix(stdout, "airlock ") || !strings.Contains(stdout, runtime.Version()) {
		t.Errorf("version: exit %d, stdout %q", code, stdout)
	}
}

func TestInspectTypedCodeFromStdinInProcess(t *testing.T) {
	inTempDir(t)
	code, stdout, stderr := runApp(t, string(makeTestCodes().files["return.txt"]), "code", "inspect", "-")
	if code != exitOK || stderr != "" || !strings.HasPrefix(stdout, "kind             return\nform             typed\n") {
		t.Errorf("exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
	}
}

func TestEscapeNonGraphic(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"a": "plain ascii"}`, `{"a": "plain ascii"}`},
		{"\"caf\u00e9 \u65e5\u672c\"", "\"caf\u00e9 \u65e5\u672c\""},
		{"\"\u202e\"", `"\u202e"`},
		{"\"\u0085\"", `"\u0085"`},
		{"\"\U000e0001\"", `"\udb40\udc01"`},
	}
	for _, tt := range tests {
		if got := string(escapeNonGraphic([]byte(tt.in))); got != tt.want {
			t.Errorf("escapeNonGraphic(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"keygen", "code", "version"}
	for in, want := range map[string]string{"kegen": "keygen", "cod": "code", "versoin": "version", "frobnicate": ""} {
		if got := suggest(in, names); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}
