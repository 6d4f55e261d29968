package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"filippo.io/age"
	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/cmd/airlock/internal/drop"
	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/formats/seal"
)

// Flags of process.
const flagIn = "in"

// Folders of an inbox, made when first needed.
const (
	doneDir     = "done"
	rejectedDir = "rejected"
)

// Names process gives the files it writes: NAME.authorization.airlock
// (NAME.activation.airlock for an activation request) in the outbox,
// NAME.result.txt in the outbox and beside the input.
const (
	answerSuffix     = ".authorization.airlock"
	activationSuffix = ".activation.airlock"
	resultSuffix     = ".result.txt"
)

// answerName returns the name of the file's answer in the outbox.
func (f *dropFile) answerName() string {
	if f.answerKind == codes.KindActivation {
		return f.stem + activationSuffix
	}
	return f.stem + answerSuffix
}

// processRound is how many files process reads, answers and moves at a
// time: authority.DefaultBatchSize, one ledger transaction. With
// roundBytes it bounds the memory of a run, and it bounds how much an
// interrupted run leaves to finish, and how often progress shows.
const processRound = authority.DefaultBatchSize

// maxInboxFiles caps the files one run takes: drop.MaxListEntries,
// locally too. An inbox is emptied as it is processed.
const maxInboxFiles = drop.MaxListEntries

// remoteWorkers is how many SFTP requests process keeps in flight on its
// one connection: enough to hide the round trips, as OpenSSH's sftp does
// with 64 outstanding requests.
const remoteWorkers = 16

// processHook is called, when not nil, at the stages of each round:
// "committed" once the ledger committed, "answered" once the answers are
// written, "noted" once the result files are written, before the files
// move. The crash tests kill the process there.
var processHook func(stage string)

const authorityProcessDescription = `process works through a drop folder: the inbox --in, a local folder
(a USB stick) or an sftp:// folder. It takes every request, system
description, confirmation, return and activation request file in it,
and:

- reserves each request from --account, as reserve does, all of them in
  batches on every core;
- imports each system description into --account and reserves it, as
  system import and reserve --system do;
- applies each confirmation and return code, as confirm and return do;
- answers each activation request of a gateway, as activation process
  does (no --account needed: the products name their organization).

For each file it writes an answer to the outbox --out, a local or
sftp:// folder: NAME.authorization.airlock (armored, or encrypted with
age to --to) for a request or system description (for an activation
request, NAME.activation.airlock), or NAME.result.txt,
a short text saying what a confirmation or return did or why the file
was refused, and what to do. Then it moves the file into done/ or
rejected/ inside the inbox, with NAME.result.txt beside it. NAME is the
file's name without its extension; a name another file already used
gets -2, -3, …: name the files after their instance (cam-1.airlock).

Only the files of the inbox itself count: not its subfolders, hidden
files (the temporary files of a writer among them), links or other
special files. A file over 32 MiB, an empty file, a file that is no code,
a code of another kind (an authorization code, a trust file), a request
made for another authority's key and a tampered code are refused, each
with its reason. Age-encrypted files open with --identity.

Nothing is done twice. The ledger commits first, then the answer is
written (a temporary file, synced, renamed), then the file moves: a run
stopped at any point is finished by running it again, which writes the
same codes and reserves nothing twice. A file dropped again, under any
name, gets the same code again.

A file the ledger could not take for a reason that is not the file's
(the ledger busy, a disk error, a request without --account, an
encrypted file without --identity) stays in the inbox for the next run.
A refused file that may pass later (not enough licenses, say) passes
when it is moved back from rejected/ into the inbox. The result files
are plain text for people: they name the instance and the reservation,
never hold a code, and are not encrypted. Run one process at a time on
an inbox.

Over SFTP, one connection serves the whole run, with the host key checks
and logins of install-file (--known-hosts, --ssh-key,
AIRLOCK_SFTP_PASSWORD); the inbox and outbox may be on one server or two.

A progress bar shows on a terminal, otherwise a line after each round of
512 files; a summary ends the run. --json prints the summary and each
file's outcome on standard output: {"reserved", "confirmed", "returned",
"systems", "activated", "rejected", "already_done", "left", "files": [{"file",
"kind", "outcome", "detail", "error", "answer", "moved_to"}]}, outcome
one of "reserved", "confirmed", "returned", "system", "activated", "already done",
"rejected" and "left".

Examples:

    $ airlock authority process --account acme/plant --in /media/usb/in --out /media/usb/out
    airlock: 50 of 50 files processed
    airlock: warning: cam-7.airlock: not enough licenses: asked for 4 of "vms.camera.core", "acme/plant" has 2 available
    airlock: 44 reserved, 2 confirmed, 2 returned, 1 system, 1 rejected, 0 already done; answers in /media/usb/out
    airlock: error: 1 of 50 files rejected (listed above); each has a result file in /media/usb/in/rejected

    $ airlock authority process --account acme/plant --in sftp://desk@drop.example/srv/drop/in --out sftp://desk@drop.example/srv/drop/out
    airlock: 3 of 3 files processed
    airlock: 3 reserved, 0 confirmed, 0 returned, 0 systems, 0 rejected, 0 already done; answers in sftp://desk@drop.example/srv/drop/out

Exit status: 0 when every file was processed and none refused; 1 when a
file was rejected or left in the inbox (every other file is processed
all the same), or the folders could not be read; 2 for a wrong command
line.`

func authorityProcessCommand() *cli.Command {
	return &cli.Command{
		Name:        "process",
		Usage:       "answer every request, system, confirmation and return file of a drop folder",
		UsageText:   "airlock authority process --in DIR|sftp://… --out DIR|sftp://… [--account ORG/ACCOUNT] [--identity FILE]... [--to RECIPIENT]... [--install-days DAYS] [--json] [--known-hosts FILE] [--ssh-key FILE]... [--dir DIR]",
		Description: authorityProcessDescription,
		Flags: keyFlags(append([]cli.Flag{
			&cli.StringFlag{Name: flagIn, Usage: "take the files of the inbox `DIR`, a folder or sftp://[user@]host[:port]/path"},
			&cli.StringFlag{Name: flagOut, Usage: "write the answers to the outbox `DIR`, a folder or sftp://[user@]host[:port]/path"},
			&cli.StringFlag{Name: flagAccount, Usage: "take the licenses of requests and system descriptions from `ORG/ACCOUNT`"},
			&cli.StringSliceFlag{Name: flagTo, Usage: "encrypt the authorization codes to `RECIPIENT` (age1…, \"ssh-ed25519 …\", or @FILE); repeatable"},
			&cli.IntFlag{Name: flagInstallDays, Value: int(authority.DefaultInstallWindow / (24 * time.Hour)), Usage: "let the codes be installed within `DAYS` of now"},
			&cli.BoolFlag{Name: flagJSON, Usage: "print the summary and each file's outcome as JSON on standard output"},
		}, transportFlags()...)...),
		OnUsageError: onUsageError,
		Action:       authorityProcess,
	}
}

// The outcomes of a file.
const (
	outReserved  = "reserved"
	outConfirmed = "confirmed"
	outReturned  = "returned"
	outSystem    = "system"
	outActivated = "activated"
	outAgain     = "already done"
	outRejected  = "rejected"
	outLeft      = "left"
)

// A dropFile is one file of the inbox and what became of it.
type dropFile struct {
	name   string   // in the inbox
	hash   [32]byte // SHA-256 of its bytes
	hashed bool     // false when the file could not be read

	kind            codes.Kind
	code            []byte // the input, binary
	confirmOrReturn bool   // binary input that fits both kinds
	subject         string // what the code says it is, for people

	stem     string // NAME of the files written for it
	staleRes string // the result file of an earlier refusal of the same bytes, to remove once it passes

	outcome string // one of the out… constants; "" until decided
	detail  string // what the ledger did, one line
	err     error  // why it was rejected or left
	answer  []byte // the authorization code to write, binary
	// deferred: the round had no room for the file; a later one takes it.
	deferred bool
	// answerKind is the answer's kind: an authorization, or an
	// activation for an activation request; 0 means an authorization.
	answerKind codes.Kind
	wrote      string // the name written in the outbox
	movedTo    string // "done/NAME" or "rejected/NAME"
}

// A processRun is one run of process.
type processRun struct {
	c          *cli.Context
	d          *desk
	in, out    dropFolder
	account    string
	ids        []age.Identity
	recipients []age.Recipient
	stderr     io.Writer
	actor      string

	total   int
	done    atomic.Int64 // files moved or left
	held    atomic.Int64 // bytes of the files the round holds
	bar     *progressbar.ProgressBar
	claimed map[string]bool // stems taken in this run
}

func authorityProcess(c *cli.Context) error {
	cmd := c.Command.HelpName
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	inArg, outArg := c.String(flagIn), c.String(flagOut)
	if inArg == "" {
		return usagef(cmd, "for example: --in /media/usb/in", "missing --%s DIR, the inbox", flagIn)
	}
	if outArg == "" {
		return usagef(cmd, "for example: --out /media/usb/out", "missing --%s DIR, the outbox for the answers", flagOut)
	}
	if sameFolder(inArg, outArg) {
		return usagef(cmd, "for example: --in usb/in --out usb/out", "--%s and --%s are the same folder: the answers would be taken for input", flagIn, flagOut)
	}
	account := c.String(flagAccount)
	if account != "" {
		if _, _, err := authority.ParseAccountRef(account); err != nil {
			return usagef(cmd, "for example: --account acme/plant", "--%s: %v", flagAccount, err)
		}
	}
	window, err := installWindow(c)
	if err != nil {
		return err
	}
	recipients, err := recipientsFlag(c)
	if err != nil {
		return err
	}
	ids, err := identities(c)
	if err != nil {
		return err
	}
	for _, a := range []string{inArg, outArg} {
		if drop.IsURL(a) {
			if _, err := drop.ParseFolderURL(a); err != nil {
				return usagef(cmd, "write it as sftp://[user@]host[:port]/path/to/folder", "%v", err)
			}
		}
	}
	d, err := openDesk(c, true, func(o *authority.Options) { o.InstallWindow = window })
	if err != nil {
		return err
	}
	defer d.Close()
	if account != "" {
		if _, err := d.l.Licenses(d.ctx, account); err != nil {
			return err
		}
	}
	in, out, closeFolders, err := openDropFolders(c, inArg, outArg)
	if err != nil {
		return err
	}
	defer closeFolders()
	r := &processRun{c: c, d: d, in: in, out: out, account: account, ids: ids, recipients: recipients,
		stderr: c.App.ErrWriter, actor: actor(c), claimed: map[string]bool{}}
	return r.run()
}

// sameFolder reports whether two folder arguments name one folder.
func sameFolder(a, b string) bool {
	if drop.IsURL(a) || drop.IsURL(b) {
		ua, errA := drop.ParseFolderURL(a)
		ub, errB := drop.ParseFolderURL(b)
		return errA == nil && errB == nil && *ua == *ub
	}
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}

func (r *processRun) run() error {
	names, err := r.in.list()
	if err != nil {
		return fmt.Errorf("--%s: %w", flagIn, err)
	}
	if err := r.out.mkdir(""); err != nil {
		return fmt.Errorf("--%s: %w", flagOut, err)
	}
	r.total = len(names)
	if r.total == 0 {
		note(r.stderr, "nothing to do: the inbox %s holds no file", r.in)
		return r.finish(nil)
	}
	r.startProgress()
	var all []*dropFile
	for len(names) > 0 {
		n := min(len(names), processRound)
		files := make([]*dropFile, 0, n)
		for _, name := range names[:n] {
			files = append(files, &dropFile{name: name})
		}
		names = names[n:]
		r.round(files)
		var deferred []string
		for _, f := range files {
			if f.deferred {
				deferred = append(deferred, f.name)
				continue
			}
			f.code, f.answer = nil, nil // only the outcome is needed now
			all = append(all, f)
		}
		// Files the round had no room for come first in the next.
		names = append(deferred, names...)
		if r.bar == nil {
			note(r.stderr, "%d of %d files processed", r.done.Load(), r.total)
		}
	}
	if r.bar != nil {
		r.bar.Finish()
	}
	return r.finish(all)
}

// roundBytes bounds the bytes of the files one round holds: a round
// reads up to processRound files, and an activation request may have up
// to 32 MiB. A file that would pass the bound, when others are held
// already, waits for a later round.
var roundBytes int64 = 64 << 20

// errNoRoom defers a file to a later round.
var errNoRoom = errors.New("no room in this round")

// round takes a round of files from reading to moving, in the order that
// survives a crash: the ledger commits, then the answers are written, then
// the result files, then the files move.
func (r *processRun) round(files []*dropFile) {
	r.held.Store(0)
	r.read(files)
	r.assignStems(files)
	r.apply(files)
	hook("committed")
	r.writeAnswers(files)
	hook("answered")
	r.writeResults(files)
	hook("noted")
	r.move(files)
}

func hook(stage string) {
	if processHook != nil {
		processHook(stage)
	}
}

// read reads and decodes each file.
func (r *processRun) read(files []*dropFile) {
	r.parallel(len(files), func(i int) {
		f := files[i]
		data, err := r.in.read(f.name)
		switch {
		case refusedRead(err):
			f.reject(err)
			return
		case err != nil:
			f.leave(err)
			return
		}
		if held := r.held.Add(int64(len(data))); held > roundBytes && held > int64(len(data)) {
			r.held.Add(-int64(len(data)))
			f.deferred = true
			f.leave(errNoRoom)
			return
		}
		f.hash, f.hashed = sha256.Sum256(data), true
		f.decode(data, r.ids)
	})
}

// refusedRead reports whether a file could not be read for a reason of its
// own (too large, not a regular file), rather than the folder's.
func refusedRead(err error) bool {
	for _, s := range []error{errTooLarge, errNotRegular, drop.ErrTooLarge, drop.ErrNotRegular} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// decode finds the kind and binary code of the file's bytes.
func (f *dropFile) decode(data []byte, ids []age.Identity) {
	if len(bytes.TrimSpace(data)) == 0 {
		f.reject(fmt.Errorf("%w: the file is empty", errEmpty))
		return
	}
	dc, err := codes.Decode(data, ids...)
	switch {
	case errors.Is(err, seal.ErrPassphraseEncrypted):
		f.reject(fmt.Errorf("%w: the file is encrypted with a passphrase, as a key file is; it holds no code", codes.ErrEncrypted))
		return
	case errors.Is(err, codes.ErrEncrypted) && len(ids) == 0:
		f.leave(withHint(fmt.Errorf("%w: the file is encrypted with age and no --identity was given", codes.ErrEncrypted),
			"run again with --identity FILE, the identity the files were encrypted to"))
		return
	case errors.Is(err, codes.ErrEncrypted):
		f.reject(err)
		return
	case err != nil:
		f.reject(err)
		return
	}
	f.code, f.kind = dc.Code, dc.Kind
	if f.kind == 0 {
		kinds, err := codes.GuessKinds(dc.Code)
		if err != nil {
			f.reject(fmt.Errorf("binary file is no code of any kind: %w", err))
			return
		}
		f.kind = kinds[0]
		f.confirmOrReturn = len(kinds) == 2 && kinds[0] == codes.KindConfirmation && kinds[1] == codes.KindReturn
	}
	switch f.kind {
	case codes.KindRequest, codes.KindSystem, codes.KindConfirmation, codes.KindReturn, codes.KindActivationRequest:
		f.subject = describeCode(f.kind, f.code)
	case codes.KindAuthorization:
		f.reject(withHint(fmt.Errorf("%w: got an authorization code, want a request, system description, confirmation, return or activation request", codes.ErrWrongKind),
			"an authorization code goes to the instance: airlock instance install-file FILE"))
	case codes.KindTrustUpdate:
		f.reject(withHint(fmt.Errorf("%w: got a trust file, want a request, system description, confirmation, return or activation request", codes.ErrWrongKind),
			"a trust file goes to the instances, not into the desk's inbox"))
	default:
		f.reject(withHint(fmt.Errorf("%w: got a %s code, want a request, system description, confirmation, return or activation request", codes.ErrWrongKind, f.kind),
			"the drop folder takes requests, system descriptions, confirmations, returns and activation requests only"))
	}
}

// describeCode says what a code claims to be, from its unverified fields,
// for the result file: "a request of P:VMS,S:cam-1".
func describeCode(k codes.Kind, code []byte) string {
	v, err := codes.ParseUnverified(k, code)
	if err != nil {
		return "a " + k.String()
	}
	switch c := v.(type) {
	case *codes.Request:
		return fmt.Sprintf("a request of %s", c.UDI.Short())
	case *codes.System:
		return fmt.Sprintf("a system description of %s", c.UDI.Short())
	case *codes.Confirmation:
		return fmt.Sprintf("a confirmation of reservation %x serial %d", c.Reservation, c.Serial)
	case *codes.Return:
		return fmt.Sprintf("a return of reservation %x serial %d", c.Reservation, c.Serial)
	case *codes.ActivationRequest:
		return fmt.Sprintf("an activation request of gateway %s for %d devices", c.UDI.Short(), c.Count())
	}
	return "a " + k.String()
}

func (f *dropFile) reject(err error) { f.outcome, f.err = outRejected, err }
func (f *dropFile) leave(err error)  { f.outcome, f.err = outLeft, err }

// pending reports whether the file still waits for the ledger.
func (f *dropFile) pending() bool { return f.outcome == "" }

// isRefusal reports whether err refuses the file itself: a code that does
// not verify, or that the ledger's state refuses. Anything else (the ledger
// busy, a disk error, the clock) leaves the file in the inbox for the next
// run.
func isRefusal(err error) bool {
	for _, s := range []error{
		codes.ErrMalformed, codes.ErrWrongKind, codes.ErrAlgorithm, codes.ErrBadSignature, codes.ErrUnknownKey,
		codes.ErrKeyWindow, codes.ErrWeakKey, codes.ErrInvalid, codes.ErrWrongInstance, codes.ErrInstallWindow,
		codes.ErrExpired, codes.ErrTypo,
		authority.ErrInvalid, authority.ErrNotFound, authority.ErrExists, authority.ErrUnavailable,
		authority.ErrCrossOrg, authority.ErrKeyMismatch, authority.ErrActive, authority.ErrReplay,
		authority.ErrClosed, authority.ErrStale,
	} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// settle records a ledger error: a refusal or a reason to leave the file.
func (f *dropFile) settle(err error) {
	if errors.Is(err, codes.ErrBadSignature) && (f.kind == codes.KindRequest || f.kind == codes.KindSystem) {
		err = withHint(err, "the file was altered, or made for another authority key: give the instance this authority's trust.airlock and have it make the file again")
	}
	if isRefusal(err) {
		f.reject(err)
	} else {
		f.leave(err)
	}
}

// assignStems gives each file its NAME: its name without the extension,
// unless another file of this run has it, or done/ or rejected/ hold
// another file's result or input under it; then NAME-2, NAME-3, … A file
// seen before (the same bytes) gets its NAME again, so that a run that
// stopped before moving it writes the same answer again.
func (r *processRun) assignStems(files []*dropFile) {
	type check struct {
		free  bool
		stale string
		err   error
	}
	first := make([]check, len(files))
	r.parallel(len(files), func(i int) {
		if f := files[i]; f.outcome != outLeft {
			first[i].free, first[i].stale, first[i].err = r.stemFree(f, baseStem(f.name))
		}
	})
	for i, f := range files {
		if f.outcome == outLeft {
			continue
		}
		base := baseStem(f.name)
		for n := 1; ; n++ {
			if n > maxStemTries {
				f.leave(fmt.Errorf("%d files named %s-N were processed before: rename this one", maxStemTries, base))
				break
			}
			stem := base
			if n > 1 {
				stem = fmt.Sprintf("%s-%d", base, n)
			}
			if r.claimed[stem] {
				continue
			}
			ch := first[i]
			if n > 1 {
				ch.free, ch.stale, ch.err = r.stemFree(f, stem)
			}
			if ch.err != nil {
				f.leave(fmt.Errorf("looking for the files of an earlier run: %w", ch.err))
				break
			}
			if ch.free {
				f.stem, f.staleRes = stem, ch.stale
				r.claimed[stem] = true
				break
			}
		}
	}
}

// maxStemTries bounds NAME-N.
const maxStemTries = 1000

// baseStem is a file's name without its extension.
func baseStem(name string) string {
	if s := strings.TrimSuffix(name, path.Ext(name)); s != "" {
		return s
	}
	return name
}

// stemFree reports whether f may use stem: neither done/ nor rejected/
// holds another file's result or input under it. When a folder holds this
// very file's result (an earlier run of the same bytes), the stem is f's;
// stale is then the result file of an earlier refusal that this run
// replaces if the file passes now.
func (r *processRun) stemFree(f *dropFile, stem string) (free bool, stale string, err error) {
	for _, dir := range []string{doneDir, rejectedDir} {
		res, err := r.in.read(path.Join(dir, stem+resultSuffix))
		switch {
		case isMissing(err):
		case err != nil:
			return false, "", err
		default:
			if h, ok := resultHash(res); !ok || !f.hashed || h != f.hash {
				return false, "", nil
			}
			if dir == rejectedDir {
				stale = path.Join(dir, stem+resultSuffix)
			}
		}
		data, err := r.in.read(path.Join(dir, stem+extension(f.name)))
		switch {
		case isMissing(err):
		case refusedRead(err):
			return false, "", nil
		case err != nil:
			return false, "", err
		case sha256.Sum256(data) != f.hash:
			return false, "", nil
		case dir == rejectedDir:
			// A copy of the file stays in rejected/: so does its result.
			stale = ""
		}
	}
	return true, stale, nil
}

// extension is a file's extension, "" for a name that is only one (".x"
// is hidden and never taken anyway).
func extension(name string) string {
	if baseStem(name) == name {
		return ""
	}
	return path.Ext(name)
}

// isMissing reports whether err says a file does not exist, locally or on
// an SFTP server.
func isMissing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, drop.ErrNotFound)
}

// resultHash reads the "sha256:" line that ends a result file.
func resultHash(b []byte) ([32]byte, bool) {
	var h [32]byte
	text := strings.TrimSuffix(string(b), "\n")
	v, ok := strings.CutPrefix(text[strings.LastIndexByte(text, '\n')+1:], "sha256: ")
	if !ok {
		return h, false
	}
	raw, err := hex.DecodeString(v)
	if err != nil || len(raw) != len(h) {
		return h, false
	}
	copy(h[:], raw)
	return h, true
}

// showName returns a file name as it is, or quoted when it holds control
// characters or other runes that are not printable, so that a name cannot
// break a line of output or a result file.
func showName(name string) string {
	for _, c := range name {
		if !unicode.IsPrint(c) || c == utf8.RuneError {
			return strconv.Quote(name)
		}
	}
	return name
}

// apply takes the round's codes to the ledger: confirmations and returns
// first, since they free licenses, then the requests in one batch, then
// the system descriptions.
func (r *processRun) apply(files []*dropFile) {
	ctx := r.d.ctx
	var requests []*dropFile
	var systems []*dropFile
	for _, f := range files {
		if !f.pending() {
			continue
		}
		switch f.kind {
		case codes.KindConfirmation, codes.KindReturn:
			r.applyInstanceCode(ctx, f)
		case codes.KindRequest:
			requests = append(requests, f)
		case codes.KindSystem:
			systems = append(systems, f)
		case codes.KindActivationRequest:
			r.applyActivation(ctx, f)
		}
	}
	if len(requests) > 0 && r.account == "" {
		for _, f := range requests {
			f.leave(errNoAccount)
		}
		requests = nil
	}
	if len(requests) > 0 {
		bins := make([][]byte, len(requests))
		for i, f := range requests {
			bins[i] = f.code
		}
		results := r.d.l.ReserveBatch(ctx, r.account, bins, nil)
		for i, res := range results {
			f := requests[i]
			if res.Err != nil {
				f.settle(res.Err)
				continue
			}
			f.authorized(res.Authorized)
		}
	}
	for _, f := range systems {
		if r.account == "" {
			f.leave(errNoAccount)
			continue
		}
		imp, err := r.d.l.ImportSystem(ctx, r.account, f.code)
		if err != nil {
			f.settle(err)
			continue
		}
		a, err := r.d.l.ReserveSystem(ctx, imp.System.Name, r.account, nil)
		if err == nil && a.UDI != imp.UDI {
			// Names are unique among an account's live systems, so this
			// is a bug, not a refusal: never answer one system for another.
			err = fmt.Errorf("the system %q in %q is %s, not %s", imp.System.Name, r.account, shortUDI(a.UDI), shortUDI(imp.UDI))
		}
		if err != nil {
			f.settle(err)
			continue
		}
		f.answer = a.Code
		switch {
		case imp.Again && a.Again:
			f.outcome = outAgain
			f.detail = fmt.Sprintf("this system description was answered before: the same code again (reservation %s serial %d)", a.Reservation(), a.Authorization.Serial)
		default:
			f.outcome = outSystem
			f.detail = systemNote(imp) + "; " + reservedNote(a)
		}
	}
}

// applyActivation answers an activation request: it needs no account,
// the gateway's products name their organization.
func (r *processRun) applyActivation(ctx context.Context, f *dropFile) {
	a, err := r.d.l.ProcessActivation(ctx, f.code)
	if err != nil {
		f.settle(err)
		return
	}
	f.answer, f.answerKind = a.Code, codes.KindActivation
	if a.Replayed {
		f.outcome, f.detail = outAgain, "this activation request was answered before: the same activation file again"
		return
	}
	var listed, consumed, refused int
	for _, p := range a.Products {
		listed, consumed, refused = listed+p.Listed, consumed+p.Consumed, refused+p.Refused
	}
	f.outcome = outActivated
	f.detail = fmt.Sprintf("gateway %s of %q: %d devices listed, %d codes consumed, %d refused; the activation file lists %d devices",
		a.Request.UDI.Short(), a.Org, listed, consumed, refused, a.Answer.Count())
}

// errNoAccount leaves requests and system descriptions in the inbox.
var errNoAccount = withHint(errors.New("no --account to take the licenses from"),
	"run again with --account ORG/ACCOUNT: the file stays in the inbox until then")

func (f *dropFile) authorized(a *authority.Authorized) {
	f.answer = a.Code
	if a.Again {
		f.outcome, f.detail = outAgain, againNote(a)
		return
	}
	f.outcome, f.detail = outReserved, reservedNote(a)
}

// applyInstanceCode applies a confirmation or return code. Binary input
// that fits both kinds is tried as a confirmation, then as a return: only
// the MAC's label tells them apart, and a MAC that does not verify changes
// nothing.
func (r *processRun) applyInstanceCode(ctx context.Context, f *dropFile) {
	kind := f.kind
	a, err := applyCode(ctx, r.d.l, kind, f.code)
	if f.confirmOrReturn && errors.Is(err, codes.ErrBadSignature) {
		kind = codes.KindReturn
		a, err = applyCode(ctx, r.d.l, kind, f.code)
	}
	if err != nil {
		f.settle(err)
		return
	}
	f.kind = kind
	switch {
	case a.Again:
		f.outcome = outAgain
	case kind == codes.KindReturn:
		f.outcome = outReturned
	default:
		f.outcome = outConfirmed
	}
	f.detail = strings.Join(appliedNotes(kind, a), "; ")
}

func applyCode(ctx context.Context, l *authority.Ledger, kind codes.Kind, code []byte) (*authority.Applied, error) {
	if kind == codes.KindConfirmation {
		return l.Confirm(ctx, code)
	}
	return l.Return(ctx, code)
}

// writeAnswers writes each authorization code to the outbox, and the
// result of each other file, synced, before any file moves.
func (r *processRun) writeAnswers(files []*dropFile) {
	r.parallel(len(files), func(i int) {
		f := files[i]
		if f.stem == "" || f.outcome == outLeft {
			return
		}
		var name string
		var data []byte
		var err error
		if f.answer != nil {
			name = f.answerName()
			data, err = armoredKind(cmp.Or(f.answerKind, codes.KindAuthorization), f.answer, r.recipients)
		} else {
			name = f.stem + resultSuffix
			data = r.resultText(f, false)
		}
		if err == nil {
			err = r.out.write(name, data)
		}
		if err != nil {
			f.failed(fmt.Errorf("writing the answer to %s: %w", r.out, err))
			return
		}
		f.wrote = name
	})
	if err := r.out.sync(""); err != nil {
		err = fmt.Errorf("syncing the answers in %s: %w", r.out, err)
		for _, f := range files {
			if f.wrote != "" {
				f.failed(err)
			}
		}
	}
}

// failed leaves a file whose answer, result or move could not be
// written: the next run does it again, from the ledger's record.
func (f *dropFile) failed(err error) {
	hint := "run the same command again to write the answer and move the file"
	if f.outcome != outRejected {
		hint = "the ledger has recorded it: " + hint + "; nothing is reserved twice"
	}
	f.leave(withHint(err, hint))
}

// writeResults writes NAME.result.txt beside where each file goes.
func (r *processRun) writeResults(files []*dropFile) {
	for _, dir := range []string{doneDir, rejectedDir} {
		var these []*dropFile
		for _, f := range files {
			if f.stem != "" && f.outcome != outLeft && f.destination() == dir {
				these = append(these, f)
			}
		}
		if len(these) == 0 {
			continue
		}
		if err := r.in.mkdir(dir); err != nil {
			for _, f := range these {
				f.failed(err)
			}
		}
	}
	r.parallel(len(files), func(i int) {
		f := files[i]
		if f.stem == "" || f.outcome == outLeft {
			return
		}
		if err := r.in.write(path.Join(f.destination(), f.stem+resultSuffix), r.resultText(f, true)); err != nil {
			f.failed(fmt.Errorf("writing the result file: %w", err))
		}
	})
	if err := r.in.sync(doneDir, rejectedDir); err != nil {
		for _, f := range files {
			if f.stem != "" && f.outcome != outLeft {
				f.failed(err)
			}
		}
	}
}

// destination is the folder of the inbox a file moves into.
func (f *dropFile) destination() string {
	if f.outcome == outRejected {
		return rejectedDir
	}
	return doneDir
}

// target is the name the file gets in its destination: NAME and the
// file's extension.
func (f *dropFile) target() string {
	return path.Join(f.destination(), f.stem+extension(f.name))
}

// move moves each file into done/ or rejected/. A file whose copy is
// there already (dropped again) is removed instead.
func (r *processRun) move(files []*dropFile) {
	r.parallel(len(files), func(i int) {
		f := files[i]
		if f.deferred {
			return // counted in its own round
		}
		defer r.step()
		if f.stem == "" || f.outcome == outLeft {
			return
		}
		to := f.target()
		err := r.in.move(f.name, to)
		if errors.Is(err, errExists) || errors.Is(err, drop.ErrExists) {
			// stemFree found the same bytes there.
			err = r.in.remove(f.name)
		}
		if err != nil {
			f.failed(fmt.Errorf("moving it to %s: %w", to, err))
			return
		}
		f.movedTo = to
		if f.staleRes != "" && f.destination() != rejectedDir {
			if err := r.in.remove(f.staleRes); err != nil && !isMissing(err) {
				warn(r.stderr, "%s: could not remove the old result file %s: %v", showName(f.name), showName(f.staleRes), oneLine(err.Error()))
			}
		}
	})
	if err := r.in.sync("", doneDir, rejectedDir); err != nil {
		warn(r.stderr, "%v", err)
	}
}

// resultText is the result file of f: what it was, what happened, what to
// do, and the SHA-256 that tells a later run the same file from another
// one of the same name.
func (r *processRun) resultText(f *dropFile, inbox bool) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "airlock authority process: %s\n", showName(f.name))
	what := f.subject
	if what == "" {
		what = "not a code airlock could read"
	}
	fmt.Fprintf(&b, "file:       %s\n", what)
	switch f.outcome {
	case outRejected:
		fmt.Fprintf(&b, "outcome:    refused\n")
		fmt.Fprintf(&b, "why:        %s\n", oneLine(f.err.Error()))
		if h := hintsFor(f.err); len(h) > 0 {
			fmt.Fprintf(&b, "what to do: %s\n", strings.Join(h, "; "))
		}
		if inbox && isStateRefusal(f.err) {
			fmt.Fprintf(&b, "then:       move the file back into the inbox and run airlock authority process again\n")
		}
	default:
		fmt.Fprintf(&b, "outcome:    %s\n", f.outcome)
		fmt.Fprintf(&b, "what:       %s\n", f.detail)
		if f.answer != nil {
			fmt.Fprintf(&b, "answer:     %s\n", f.answerName())
			if f.answerKind == codes.KindActivation {
				fmt.Fprintf(&b, "what to do: install the answer on the gateway: airlock instance activation install %s\n", f.answerName())
			} else {
				fmt.Fprintf(&b, "what to do: install the answer on the instance: airlock instance install-file %s\n", f.stem+answerSuffix)
			}
		} else {
			fmt.Fprintf(&b, "what to do: nothing\n")
		}
	}
	fmt.Fprintf(&b, "processed:  %s by %s\n", clock().UTC().Format(time.RFC3339), r.actor)
	if f.hashed {
		fmt.Fprintf(&b, "sha256: %x\n", f.hash)
	} else {
		fmt.Fprintf(&b, "sha256: none, the file was not read\n")
	}
	return []byte(b.String())
}

// isStateRefusal reports whether a refusal depends on the ledger's state
// or on the identities given, so that the same file may pass later.
func isStateRefusal(err error) bool {
	for _, s := range []error{authority.ErrUnavailable, authority.ErrActive, authority.ErrKeyMismatch, codes.ErrEncrypted} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// finish prints the refusals and the summary, and returns the run's error.
func (r *processRun) finish(files []*dropFile) error {
	count := map[string]int{}
	for _, f := range files {
		count[f.outcome]++
		switch f.outcome {
		case outRejected:
			warn(r.stderr, "%s: %s", showName(f.name), oneLine(f.err.Error()))
		case outLeft:
			warn(r.stderr, "%s: left in the inbox: %s", showName(f.name), oneLine(f.err.Error()))
		}
	}
	systems := "systems"
	if count[outSystem] == 1 {
		systems = "system"
	}
	summary := fmt.Sprintf("%d reserved, %d confirmed, %d returned, %d %s, %d rejected, %d already done",
		count[outReserved], count[outConfirmed], count[outReturned], count[outSystem], systems, count[outRejected], count[outAgain])
	if n := count[outActivated]; n > 0 {
		summary += fmt.Sprintf(", %d activation requests answered", n)
	}
	if len(files) > 0 {
		summary += "; answers in " + r.out.String()
	}
	note(r.stderr, "%s", summary)
	if r.c.Bool(flagJSON) {
		if err := r.printJSON(files, count); err != nil {
			return err
		}
	}
	var errs []string
	if n := count[outRejected]; n > 0 {
		errs = append(errs, fmt.Sprintf("%d of %d files rejected (listed above); each has a result file in %s", n, len(files), r.in.join(rejectedDir)))
	}
	if n := count[outLeft]; n > 0 {
		errs = append(errs, fmt.Sprintf("%d of %d files left in the inbox (listed above)", n, len(files)))
	}
	if len(errs) == 0 {
		return nil
	}
	err := errors.New(strings.Join(errs, "; "))
	if count[outLeft] > 0 {
		return withHint(err, "fix what is listed above and run the same command again: nothing is reserved twice")
	}
	return err
}

// processJSON is what --json prints.
type processJSON struct {
	Reserved    int           `json:"reserved"`
	Confirmed   int           `json:"confirmed"`
	Returned    int           `json:"returned"`
	Systems     int           `json:"systems"`
	Activated   int           `json:"activated"`
	Rejected    int           `json:"rejected"`
	AlreadyDone int           `json:"already_done"`
	Left        int           `json:"left"`
	Files       []processItem `json:"files"`
}

type processItem struct {
	File    string  `json:"file"`
	Kind    string  `json:"kind"`
	Outcome string  `json:"outcome"`
	Detail  string  `json:"detail"`
	Error   *string `json:"error"`
	Answer  string  `json:"answer"`
	MovedTo string  `json:"moved_to"`
}

func (r *processRun) printJSON(files []*dropFile, count map[string]int) error {
	out := processJSON{
		Reserved: count[outReserved], Confirmed: count[outConfirmed], Returned: count[outReturned],
		Systems: count[outSystem], Activated: count[outActivated], Rejected: count[outRejected], AlreadyDone: count[outAgain], Left: count[outLeft],
		Files: []processItem{},
	}
	for _, f := range files {
		it := processItem{File: f.name, Outcome: f.outcome, Detail: f.detail, Answer: f.wrote, MovedTo: f.movedTo}
		if f.kind != 0 {
			it.Kind = kindName(f.kind)
		}
		if f.err != nil {
			msg := oneLine(f.err.Error())
			it.Error = &msg
		}
		out.Files = append(out.Files, it)
	}
	return writeJSON(r.c, out)
}

// startProgress shows a progress bar when standard error is a terminal.
func (r *processRun) startProgress() {
	f, ok := r.stderr.(*os.File)
	if !ok || !isTerminal(f) {
		return
	}
	r.bar = progressbar.NewOptions(r.total,
		progressbar.OptionSetWriter(r.stderr),
		progressbar.OptionSetDescription(strings.TrimSuffix(prefix, " ")),
		progressbar.OptionShowCount(),
		progressbar.OptionSetItsString("files"),
		progressbar.OptionShowIts(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

// step counts a file done.
func (r *processRun) step() {
	r.done.Add(1)
	if r.bar != nil {
		r.bar.Add(1)
	}
}

// parallel runs fn for 0 … n-1 on as many goroutines as the folders
// allow: every core for local ones, remoteWorkers requests in flight on
// an SFTP connection.
func (r *processRun) parallel(n int, fn func(int)) {
	w := workers()
	if r.in.remote() || r.out.remote() {
		w = remoteWorkers
	}
	parallelN(n, w, fn)
}

// parallelN calls fn(0) … fn(n-1) on w goroutines.
func parallelN(n, w int, fn func(int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, w) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
}

// workers is how many goroutines work on local files: one per core, and at
// least 4, since syncs wait on the disk rather than a core.
func workers() int { return max(runtime.GOMAXPROCS(0), 4) }

// reservedNote says what a new reservation holds.
func reservedNote(a *authority.Authorized) string {
	return fmt.Sprintf("reservation %s serial 1 for %s from %q: %s", a.Reservation(), a.Authorization.UDI.Short(), a.Account, authority.FormatLicenses(a.Licenses()))
}

// againNote says that a request was answered before.
func againNote(a *authority.Authorized) string {
	return fmt.Sprintf("this request was answered before: the same code again (reservation %s serial %d)", a.Reservation(), a.Authorization.Serial)
}

// appliedNotes say what a confirmation or return code did, a line each.
func appliedNotes(kind codes.Kind, a *authority.Applied) []string {
	short := shortUDI(a.UDI)
	switch {
	case a.Again:
		return []string{"nothing changed: " + a.Note}
	case kind == codes.KindReturn:
		return []string{fmt.Sprintf("reservation %s of %s returned (serial %d); released %s", a.Reservation, short, a.Serial, orNothing(a.Released))}
	case a.Superseded():
		lines := []string{fmt.Sprintf("%s installed serial %d of reservation %s, which serial %d superseded; released %s", short, a.Serial, a.Reservation, a.Latest, orNothing(a.Released))}
		if len(a.InTransition) > 0 {
			lines = append(lines, fmt.Sprintf("in transition until serial %d is confirmed: %s", a.Latest, authority.FormatLicenses(a.InTransition)))
		}
		return lines
	}
	return []string{fmt.Sprintf("%s installed serial %d of reservation %s; released %s", short, a.Serial, a.Reservation, orNothing(a.Released))}
}

// systemNote says what importing a system description did.
func systemNote(r *authority.SystemImport) string {
	s := r.System
	if r.Again {
		return fmt.Sprintf("nothing changed: system %q (%s) was imported from this description before", s.Name, s.UDI.Short())
	}
	return fmt.Sprintf("system %q (%s) registered in %q: %d components, demand %s", s.Name, s.UDI.Short(), r.Account, len(s.Components), orNothing(s.Demand))
}
