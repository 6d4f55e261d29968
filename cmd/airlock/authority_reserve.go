package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"filippo.io/age"
	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/cmd/airlock/internal/drop"
	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/formats/seal"
)

// Flags of reserve and update.
const (
	flagRequest     = "request"
	flagBatch       = "batch"
	flagSystem      = "system"
	flagInstallDays = "install-days"
)

// codeOutFlags are the flags that say where an authorization code goes.
func codeOutFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagOut, Usage: "write the code as an armored file `FILE` or to an sftp:// URL (with --batch: the local folder for the answers) instead of typed on standard output"},
		&cli.StringSliceFlag{Name: flagTo, Usage: "encrypt the armored code to `RECIPIENT` (age1…, \"ssh-ed25519 …\", or @FILE), for removable media; repeatable"},
		&cli.IntFlag{Name: flagInstallDays, Value: int(authority.DefaultInstallWindow / (24 * time.Hour)), Usage: "let the code be installed within `DAYS` of now"},
	}
}

const authorityReserveDescription = `reserve answers a request code with an authorization code. It verifies
the request (made for this authority's key), pins the instance key to
the UDI the first time it sees it (a different key for a known UDI is
refused until the old instance is removed), takes the licenses from the
virtual account --account, and signs the first code of a new
reservation. Without --license it takes what the request asks for.
Asking for more than is available is refused with what is available.

The ledger records the reservation before the code is printed. The same
request reserved again, because its answer was lost, gets the same code,
byte for byte, and never a second reservation.

--request takes the code as typed (quote it), the path of a request file
(armored, or age-encrypted with --identity), or - for standard input.
The authorization code is printed typed on standard output; --out writes
it as an armored file instead, and --to encrypts that file with age to
the instance's recipient. A file that exists is never overwritten, unless
it already holds this very code.

--batch DIR answers every request file in the folder DIR (not its
subfolders or hidden files) for one account, and writes each answer to
the folder --out as NAME.authorization.airlock. The requests are opened
and the codes signed on every core, and committed together, hundreds at
a time; a progress line follows each commit. A refused request is
reported and does not stop the others.

--system NAME authorizes an offline system registered with airlock
authority system import: the licenses of its demand (or --license), and
one hardware-bound license for each of its components that names a tag.

Examples:

    $ airlock authority reserve --account acme/plant --request request.txt
    AU-…
    airlock: reservation 0a1b2c3d serial 1 for P:VMS,S:cam-1 from "acme/plant": 10 vms.camera.core, 2 vms.analytics

    $ airlock authority reserve --account acme/plant --request request.txt
    AU-…
    airlock: this request was answered before: the same code again (reservation 0a1b2c3d serial 1)

    $ airlock authority reserve --account acme/plant --request request.txt --license vms.camera.core=40
    airlock: error: not enough licenses: asked for 40 of "vms.camera.core", "acme/plant" has 15 available
    airlock: hint: see what is available with 'airlock authority licenses --account ORG/ACCOUNT'; add a lot or transfer licenses first

    $ airlock authority reserve --account acme/plant --batch usb/requests --out usb/answers
    airlock: 512 of 1000 requests answered
    airlock: 1000 of 1000 requests answered
    airlock: 1000 reserved, 0 answered before, 0 refused; wrote 1000 files to usb/answers

    $ airlock authority reserve --account acme/plant --request request.airlock \
          --out sftp://desk@drop.example.com/~/outbox/cam-1.airlock
    airlock: wrote sftp://desk@drop.example.com/~/outbox/cam-1.airlock
    airlock: reservation 0a1b2c3d serial 1 for P:VMS,S:cam-1 from "acme/plant": 10 vms.camera.core

` + sftpWriteHelp + `

If the drop cannot be reached, or refuses the login, nothing is
reserved. If the connection fails while the file is written, the
reservation stays: run the same command again to write the same code.
--batch reads and writes local folders only.

Exit status: 0 when every request was answered; 1 when one was refused
or a code could not be printed or written (the reservation stays: run
the same command again to get the same code); 2 for a wrong command
line.`

func authorityReserveCommand() *cli.Command {
	return &cli.Command{
		Name:        "reserve",
		Usage:       "answer a request code with an authorization code",
		UsageText:   "airlock authority reserve --account ORG/ACCOUNT (--request CODE|FILE|- | --batch DIR --out DIR | --system NAME) [--license TAG=N]... [--out FILE|URL] [--to RECIPIENT]... [--known-hosts FILE] [--ssh-key FILE]... [--identity FILE]... [--dir DIR]",
		Description: authorityReserveDescription,
		Flags: keyFlags(append(append([]cli.Flag{
			&cli.StringFlag{Name: flagAccount, Usage: "take the licenses from `ORG/ACCOUNT`"},
			&cli.StringFlag{Name: flagRequest, Usage: "the request: a typed `CODE`, a FILE, or - for standard input"},
			&cli.StringFlag{Name: flagBatch, Usage: "answer every request file in the local folder `DIR`"},
			&cli.StringFlag{Name: flagSystem, Usage: "authorize the imported system `NAME`"},
			&cli.StringSliceFlag{Name: flagLicense, Usage: "reserve `TAG=N` instead of what the request asks for; repeatable"},
		}, codeOutFlags()...), transportFlags()...)...),
		OnUsageError: onUsageError,
		Action:       authorityReserve,
	}
}

// parseLicenses reads --license TAG=N values.
func parseLicenses(c *cli.Context) ([]codes.License, error) {
	var out []codes.License
	for _, v := range c.StringSlice(flagLicense) {
		l, err := authority.ParseLicense(v)
		if err != nil {
			return nil, usagef(c.Command.HelpName, "write a license as TAG=COUNT, e.g. vms.camera.core=10", "--%s: %v", flagLicense, err)
		}
		out = append(out, l)
	}
	return out, nil
}

// issuingDesk reads the flags of a command that issues a code (the
// install window, the age recipients) and opens the desk with its key.
func issuingDesk(c *cli.Context) (*desk, []age.Recipient, error) {
	window, err := installWindow(c)
	if err != nil {
		return nil, nil, err
	}
	recipients, err := recipientsFlag(c)
	if err != nil {
		return nil, nil, err
	}
	d, err := openDesk(c, true, func(o *authority.Options) { o.InstallWindow = window })
	return d, recipients, err
}

// installWindow reads --install-days.
func installWindow(c *cli.Context) (time.Duration, error) {
	n := c.Int(flagInstallDays)
	if n < 1 || n > 3650 {
		return 0, usagef(c.Command.HelpName, "", "--%s %d is not from 1 to 3650", flagInstallDays, n)
	}
	return time.Duration(n) * 24 * time.Hour, nil
}

func authorityReserve(c *cli.Context) error {
	cmd := c.Command.HelpName
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	modes := 0
	for _, f := range []string{flagRequest, flagBatch, flagSystem} {
		if c.IsSet(f) {
			modes++
		}
	}
	if modes != 1 {
		return usagef(cmd, "for example: --request request.txt", "give one of --%s, --%s and --%s", flagRequest, flagBatch, flagSystem)
	}
	account := c.String(flagAccount)
	if account == "" && !c.IsSet(flagSystem) {
		return usagef(cmd, "for example: --account acme/plant", "missing --%s ORG/ACCOUNT to take the licenses from", flagAccount)
	}
	if c.IsSet(flagBatch) && c.String(flagOut) == "" {
		return usagef(cmd, "for example: --out answers", "--%s needs --%s DIR, the folder for the answers", flagBatch, flagOut)
	}
	if c.IsSet(flagBatch) && (drop.IsURL(c.String(flagBatch)) || drop.IsURL(c.String(flagOut))) {
		return usagef(cmd, "give local folders, e.g. --batch usb/requests --out usb/answers", "--%s reads and writes local folders, not URLs", flagBatch)
	}
	licenses, err := parseLicenses(c)
	if err != nil {
		return err
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
	var request []byte
	if c.IsSet(flagRequest) {
		if request, err = readCode(c, c.String(flagRequest), codes.KindRequest, ids); err != nil {
			return err
		}
	}
	d, err := openDesk(c, true, func(o *authority.Options) { o.InstallWindow = window })
	if err != nil {
		return err
	}
	defer d.Close()
	if c.IsSet(flagBatch) {
		return reserveBatch(c, d, account, recipients, ids)
	}
	out, err := prepareOut(c, c.String(flagOut))
	if err != nil {
		return err
	}
	defer out.close()
	var a *authority.Authorized
	if c.IsSet(flagSystem) {
		a, err = d.l.ReserveSystem(d.ctx, c.String(flagSystem), account, licenses)
	} else {
		a, err = d.l.Reserve(d.ctx, account, request, licenses)
	}
	if err != nil {
		if errors.Is(err, codes.ErrBadSignature) {
			return withHint(err, "the request was made for another authority key: give the instance this authority's trust.airlock")
		}
		return err
	}
	if err := emitCode(c, out, a.Code, recipients, "the reservation is recorded: run the same command again to get the same code"); err != nil {
		return err
	}
	stderr := c.App.ErrWriter
	if a.Again {
		note(stderr, "%s", againNote(a))
		return nil
	}
	note(stderr, "%s", reservedNote(a))
	return nil
}

// noteSerial says what the new serial of a reservation grants, and what
// stays in transition until the instance confirms it.
func noteSerial(w io.Writer, a *authority.Authorized) {
	note(w, "reservation %s serial %d for %s: %s", a.Reservation(), a.Authorization.Serial, a.Authorization.UDI.Short(), authority.FormatLicenses(a.Licenses()))
	if len(a.InTransition) > 0 {
		note(w, "in transition until the instance confirms serial %d: %s", a.Authorization.Serial, authority.FormatLicenses(a.InTransition))
	}
}

// readCode reads a code of kind want from a typed code, a file or
// standard input, and returns its binary form.
func readCode(c *cli.Context, arg string, want codes.Kind, ids []age.Identity) ([]byte, error) {
	in, err := readCodeArg(arg, c.App.Reader, c.App.ErrWriter)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(in.data)) == 0 {
		return nil, fmt.Errorf("%w: %s is empty", errEmpty, in.source)
	}
	code, err := codes.DecodeKind(in.data, want, ids...)
	if err != nil {
		return nil, decodeError(in, err, len(ids) > 0)
	}
	return code, nil
}

// emitCode prints an authorization code typed on standard output, or
// writes it armored to --out (prepared with prepareOut), age-encrypted to
// recipients if any. The ledger holds the code already: a failure here
// loses nothing, and again says how to get the code once more.
func emitCode(c *cli.Context, dest *codeOut, code []byte, recipients []age.Recipient, again string) error {
	out := dest.path
	if out == "" && len(recipients) == 0 {
		if err := writeResult(c.App.Writer, []byte(codes.EncodeText(codes.KindAuthorization, code)+"\n")); err != nil {
			return withHint(err, again)
		}
		return nil
	}
	data, err := armoredCode(code, recipients)
	if err != nil {
		return err
	}
	if out == "" || out == "-" {
		if err := writeResult(c.App.Writer, data); err != nil {
			return withHint(err, again)
		}
		return nil
	}
	var existed bool
	if dest.remote() {
		existed, err = dest.upload(data)
	} else {
		existed, err = writeAnswer(out, data, true)
	}
	if err != nil {
		return withHint(err, again)
	}
	if existed {
		note(c.App.ErrWriter, "%s already holds this code", dest)
	} else {
		note(c.App.ErrWriter, "wrote %s", dest)
	}
	return nil
}

func armoredCode(code []byte, recipients []age.Recipient) ([]byte, error) {
	return armoredKind(codes.KindAuthorization, code, recipients)
}

// armoredKind armors a code of kind k, age-encrypted to recipients if
// any.
func armoredKind(k codes.Kind, code []byte, recipients []age.Recipient) ([]byte, error) {
	data := codes.EncodeArmor(k, code)
	if len(recipients) == 0 {
		return data, nil
	}
	data, err := seal.Encrypt(data, recipients...)
	if err != nil {
		return nil, fmt.Errorf("encrypting the code: %w", err)
	}
	return data, nil
}

// writeOutFile writes data to standard output for "" or "-", else to
// path as writeAnswer does, and says so.
func writeOutFile(c *cli.Context, path string, data []byte) error {
	if path == "" || path == "-" {
		return writeResult(c.App.Writer, data)
	}
	existed, err := writeAnswer(path, data, true)
	if err != nil {
		return err
	}
	if existed {
		note(c.App.ErrWriter, "%s already holds this file", path)
	} else {
		note(c.App.ErrWriter, "wrote %s", path)
	}
	return nil
}

// readRequestFile reads the argument FILE|- of a command that answers a
// request file with a file: the request, a code of kind k decrypted with
// --identity, and the recipients of the answer, from --to.
func readRequestFile(c *cli.Context, k codes.Kind) ([]byte, []age.Recipient, error) {
	if err := checkArgs(c, 1, 1, "FILE|-"); err != nil {
		return nil, nil, err
	}
	ids, err := identities(c)
	if err != nil {
		return nil, nil, err
	}
	recipients, err := parseRecipientsFlag(c.Command.HelpName, flagTo, c.StringSlice(flagTo))
	if err != nil {
		return nil, nil, err
	}
	code, err := readCode(c, c.Args().First(), k, ids)
	if err != nil {
		return nil, nil, err
	}
	return code, recipients, nil
}

// writeArmoredOut writes a code of kind k, armored and age-encrypted to
// recipients if any, to --out as writeOutFile does. The ledger recorded
// it already: again is the hint when it cannot be written.
func writeArmoredOut(c *cli.Context, k codes.Kind, code []byte, recipients []age.Recipient, again string) error {
	data, err := armoredKind(k, code, recipients)
	if err != nil {
		return err
	}
	if err := writeOutFile(c, c.String(flagOut), data); err != nil {
		return withHint(err, again)
	}
	return nil
}

// writeAnswer writes data to path atomically (a temporary file in the same
// folder, renamed), synced when sync is set. A file that exists is left
// alone: it is fine if it holds data already (it reports true), an error
// otherwise. (An age-encrypted answer differs on every run, so a second
// run refuses to replace the first.)
func writeAnswer(path string, data []byte, sync bool) (bool, error) {
	if old, err := os.ReadFile(path); err == nil {
		if bytes.Equal(old, data) {
			return true, nil
		}
		return false, withHint(fmt.Errorf("%w: %s holds something else", errExists, path),
			"airlock never overwrites a file; give another path, or move the file away first")
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return false, writeFileAtomic(path, data, 0o644, sync)
}

// reserveBatch answers every request file of --batch into --out.
func reserveBatch(c *cli.Context, d *desk, account string, recipients []age.Recipient, ids []age.Identity) error {
	stderr := c.App.ErrWriter
	in, out := c.String(flagBatch), c.String(flagOut)
	names, err := (&localFolder{dir: in}).list()
	if err != nil {
		return fmt.Errorf("--%s: %w", flagBatch, err)
	}
	if len(names) == 0 {
		return fmt.Errorf("%w: the folder %s holds no request file", errEmpty, in)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("--%s: %w", flagOut, err)
	}
	// Read and decode the files on every core: an age-encrypted one costs
	// an X25519 each.
	bins := make([][]byte, len(names))
	errs := make([]error, len(names))
	parallel(len(names), func(i int) {
		data, err := readFile(filepath.Join(in, names[i]), maxInputSize)
		if err == nil {
			bins[i], err = codes.DecodeKind(data, codes.KindRequest, ids...)
		}
		errs[i] = err
	})
	var decoded [][]byte
	var idx []int
	for i := range names {
		if errs[i] == nil {
			decoded, idx = append(decoded, bins[i]), append(idx, i)
		}
	}
	total := len(names)
	results := d.l.ReserveBatch(d.ctx, account, decoded, func(done int) {
		note(stderr, "%d of %d requests answered", done+total-len(decoded), total)
	})
	answers := make([]*authority.Authorized, len(names))
	for k, r := range results {
		answers[idx[k]], errs[idx[k]] = r.Authorized, r.Err
	}
	// Write the answers, on several goroutines: each is synced, and the
	// file system syncs them together.
	var reserved, again, written atomic.Int64
	werrs := make([]error, len(names))
	parallel(len(names), func(i int) {
		a := answers[i]
		if a == nil {
			return
		}
		if a.Again {
			again.Add(1)
		} else {
			reserved.Add(1)
		}
		data, err := armoredCode(a.Code, recipients)
		if err == nil {
			stem := strings.TrimSuffix(names[i], filepath.Ext(names[i]))
			_, err = writeAnswer(filepath.Join(out, stem+".authorization.airlock"), data, true)
		}
		if err != nil {
			werrs[i] = err
			return
		}
		written.Add(1)
	})
	if err := syncDir(out); err != nil {
		return err
	}
	refused, failed := 0, 0
	for i, name := range names {
		switch {
		case errs[i] != nil:
			refused++
			warn(stderr, "%s: %s", name, oneLine(errs[i].Error()))
		case werrs[i] != nil:
			failed++
			warn(stderr, "%s: %s", name, oneLine(werrs[i].Error()))
		}
	}
	note(stderr, "%d reserved, %d answered before, %d refused; wrote %d files to %s", reserved.Load(), again.Load(), refused, written.Load(), out)
	switch {
	case failed > 0:
		return withHint(fmt.Errorf("%d of %d answers could not be written (listed above)", failed, total),
			"the reservations are recorded: run the same command again to write the same codes")
	case refused > 0:
		return fmt.Errorf("%d of %d requests refused (listed above)", refused, total)
	}
	return nil
}

// parallel calls fn(0) … fn(n-1) on workers() goroutines.
func parallel(n int, fn func(int)) { parallelN(n, workers(), fn) }

// syncDir makes the names of new files in dir durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

const authorityUpdateDescription = `update issues the next authorization code of an instance's reservation,
with the counts given: TAG=N sets the count of a tag (adding it), TAG=0
drops it, and tags not named keep theirs. Licenses it adds are taken at
once. Licenses it frees stay held, in transition, until the instance
installs the new code and its confirmation code comes back (airlock
authority confirm): until then the instance may still run the older
code. A newer update supersedes one not yet confirmed.

The instance is named by its UDI, or by its P:…,S:… part alone.

Examples:

    $ airlock authority update --instance P:VMS,S:cam-1 --license vms.camera.core=4
    AU-…
    airlock: reservation 0a1b2c3d serial 2 for P:VMS,S:cam-1: 4 vms.camera.core, 2 vms.analytics
    airlock: in transition until the instance confirms serial 2: 6 vms.camera.core

    $ airlock authority update --instance P:VMS,S:cam-1 --license vms.camera.core=4 \
          --out sftp://desk@drop.example.com/~/outbox/cam-1.update.airlock
    airlock: wrote sftp://desk@drop.example.com/~/outbox/cam-1.update.airlock
    airlock: reservation 0a1b2c3d serial 2 for P:VMS,S:cam-1: 4 vms.camera.core, 2 vms.analytics

` + sftpWriteHelp + `

If the drop cannot be reached, or refuses the login, nothing is issued.

Exit status: 0 when the code was issued; 1 when the update was refused or
the code could not be printed (it is recorded: airlock authority show
--code prints it again); 2 for a wrong command line.`

func authorityUpdateCommand() *cli.Command {
	return &cli.Command{
		Name:        "update",
		Usage:       "issue the next code of a reservation with other counts",
		UsageText:   "airlock authority update --instance UDI --license TAG=N... [--out FILE|URL] [--to RECIPIENT]... [--known-hosts FILE] [--ssh-key FILE]... [--identity FILE]... [--dir DIR]",
		Description: authorityUpdateDescription,
		Flags: keyFlags(append(append([]cli.Flag{
			&cli.StringFlag{Name: flagInstance, Usage: "the instance's `UDI` (or its P:…,S:… part)"},
			&cli.StringSliceFlag{Name: flagLicense, Usage: "set `TAG=N` (0 drops the tag); repeatable"},
		}, codeOutFlags()...), transportFlags()...)...),
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			cmd := c.Command.HelpName
			if err := checkArgs(c, 0, 0, ""); err != nil {
				return err
			}
			inst := c.String(flagInstance)
			if inst == "" {
				return usagef(cmd, "for example: --instance P:VMS,S:cam-1", "missing --%s UDI", flagInstance)
			}
			licenses, err := parseLicenses(c)
			if err != nil {
				return err
			}
			if len(licenses) == 0 {
				return usagef(cmd, "for example: --license vms.camera.core=4", "missing --%s TAG=N", flagLicense)
			}
			d, recipients, err := issuingDesk(c)
			if err != nil {
				return err
			}
			defer d.Close()
			out, err := prepareNewOut(c, c.String(flagOut))
			if err != nil {
				return err
			}
			defer out.close()
			a, err := d.l.Update(d.ctx, inst, licenses)
			if err != nil {
				return err
			}
			if err := emitCode(c, out, a.Code, recipients, fmt.Sprintf("serial %d is recorded: 'airlock authority show --instance %s --code' gives the same code again", a.Authorization.Serial, inst)); err != nil {
				return err
			}
			noteSerial(c.App.ErrWriter, a)
			return nil
		},
	}
}
