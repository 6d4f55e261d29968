package main

// How airlock talks to its caller. Every command follows these rules; the
// tests in app_test.go and testdata/script pin them.
//
//   - Results go to standard output: codes, reports, JSON. A command that
//     writes files says which on standard error and prints nothing on
//     standard output.
//   - Everything else goes to standard error, one line at a time, each
//     starting with "airlock: ": progress and notes as "airlock: …",
//     warnings as "airlock: warning: …".
//   - A failure is one line "airlock: error: …" followed by zero or more
//     "airlock: hint: …" lines that say what to do next. Hints are chosen by
//     the error's sentinel (errors.Is) in the hints table below, or attached
//     where the error is made (withHint), never parsed out of messages.
//   - Messages never quote secrets or whole codes: they name a file, a group
//     of a typed code, a key id or a serial.
//   - Exit status: 0 success; 1 the operation was refused or failed
//     (including a code that does not verify and a write error on standard
//     output); 2 the command line is wrong (unknown command or flag, missing
//     or extra argument, bad flag value). Usage errors print one line and a
//     hint, never the whole help.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/formats/seal"
)

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1 // the operation was refused or failed
	exitUsage  = 2 // the command line is wrong
)

// prefix starts every line airlock writes to standard error.
const prefix = "airlock: "

// Errors of the command line itself, with their hints in the table below.
var (
	errTooLarge     = errors.New("file too large")
	errNotRegular   = errors.New("not a regular file")
	errEmpty        = errors.New("no code in the input")
	errExists       = errors.New("file already exists")
	errNoPassphrase = errors.New("no passphrase to encrypt the key with")
	errNotVerified  = errors.New("code not verified")
	errStdout       = errors.New("cannot write to standard output")
)

// hints maps sentinels to what the user should do next. The first entry an
// error matches wins, so narrower sentinels come before the codes sentinels
// they are classified under (seal.ErrWrongIdentity before
// codes.ErrEncrypted).
var hints = []struct {
	sentinel error
	hint     string
}{
	{seal.ErrWrongIdentity, "the file is encrypted to someone else: pass the identity it was made for with --identity FILE"},
	{seal.ErrPassphraseEncrypted, "this file is protected by a passphrase, like an authority key file; it holds no code"},
	{codes.ErrTypo, "check the group named above and type it again"},
	{codes.ErrEncrypted, "pass --identity FILE (an age identity file or an ssh-ed25519 private key)"},
	{codes.ErrBadSignature, "the code was altered or is not for this key; ask for it again"},
	{codes.ErrUnknownKey, "load the authority's current trust file"},
	{codes.ErrKeyWindow, "the key that signed the code was not valid when the code was issued; ask the authority for a new code"},
	{codes.ErrAlgorithm, "the code was not made by airlock or was altered; ask for it again"},
	{codes.ErrWeakKey, "the code carries an invalid public key: it was altered or not made by airlock; ask for it again"},
	{codes.ErrWrongKind, "this is another kind of code than the one asked for; check which code or file you passed"},
	{codes.ErrInvalid, "the code's fields contradict each other; ask whoever made it for a new one"},
	{codes.ErrWrongInstance, "the code was made for another instance; ask the authority for a code for this one"},
	{codes.ErrInstallWindow, "the code is too old to install; ask the authority for a new one"},
	{codes.ErrExpired, "an entitlement in the code has ended; ask the authority for a renewed code"},
	{codes.ErrMalformed, "this is not an airlock code, or part of it is missing; copy the whole code or file again"},
	{seal.ErrKey, "give an age identity file (AGE-SECRET-KEY-1…) or an unencrypted ssh-ed25519 private key"},
	{errTooLarge, "codes are a few KiB at most; check that this is the right file"},
	{errNotRegular, "give a regular file, or - to read standard input"},
	{errEmpty, "copy the code or the file again from where it came"},
	{errNoPassphrase, "set AIRLOCK_PASSPHRASE, or encrypt the key to an age or SSH key with --recipient"},
	{errStdout, "check the disk or the pipe that standard output goes to"},
	{fs.ErrNotExist, "check the path"},
	{fs.ErrPermission, "check the file's permissions"},
}

// hinted attaches hints to an error where it is made, for advice that
// depends on the command rather than on the sentinel.
type hinted struct {
	err   error
	hints []string
}

func (h *hinted) Error() string { return h.err.Error() }
func (h *hinted) Unwrap() error { return h.err }

// withHint returns err with hints printed before the table's.
func withHint(err error, hint ...string) error { return &hinted{err, hint} }

// usageError is a wrong command line: exit status 2.
type usageError struct {
	err     error
	command string // e.g. "airlock code inspect", for the --help hint
	hint    string // more specific advice, if any
}

func (u *usageError) Error() string { return u.err.Error() }
func (u *usageError) Unwrap() error { return u.err }

func usagef(command, hint, format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...), command: command, hint: hint}
}

// hintsFor returns the hints for err: those attached with withHint, then
// the first matching entry of the table.
func hintsFor(err error) []string {
	var out []string
	for e := err; e != nil; {
		if h, ok := e.(*hinted); ok {
			out = append(out, h.hints...)
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			break
		}
		e = u.Unwrap()
	}
	if h := dropHints(err); h != nil {
		return append(out, h...)
	}
	for _, h := range hints {
		if errors.Is(err, h.sentinel) {
			return append(out, h.hint)
		}
	}
	return out
}

// printError writes err and its hints to w and returns the exit status.
func printError(w io.Writer, err error) int {
	var u *usageError
	if errors.As(err, &u) {
		fmt.Fprintf(w, "%serror: %s\n", prefix, oneLine(u.err.Error()))
		if u.hint != "" {
			fmt.Fprintf(w, "%shint: %s\n", prefix, u.hint)
		}
		fmt.Fprintf(w, "%shint: run '%s --help' for usage\n", prefix, u.command)
		return exitUsage
	}
	fmt.Fprintf(w, "%serror: %s\n", prefix, oneLine(err.Error()))
	for _, h := range hintsFor(err) {
		fmt.Fprintf(w, "%shint: %s\n", prefix, h)
	}
	return exitFailed
}

// note writes one line of progress to standard error.
func note(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, prefix+format+"\n", args...)
}

// warn writes one warning line to standard error.
func warn(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, prefix+"warning: "+format+"\n", args...)
}

// oneLine keeps an error on its line: a message that quotes input may hold
// line breaks.
func oneLine(s string) string {
	return strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(s)
}

// writeResult writes a command's result to standard output in one call and
// reports a failed or short write, so that `airlock … > /dev/full` fails
// loudly.
func writeResult(w io.Writer, b []byte) error {
	n, err := w.Write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return fmt.Errorf("%w: %v", errStdout, err)
	}
	return nil
}

// stickyWriter remembers the first write error, for output that the cli
// library writes and does not check (help, version).
type stickyWriter struct {
	w   io.Writer
	err error
}

func (s *stickyWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		s.err = err
	}
	return n, err
}
