package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/cmd/airlock/internal/drop"
	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/formats/seal"
	"github.com/airlock-dev/airlock/instance"
)

// Flags of the instance commands. (--out, --json, --trust and --identity
// are shared with the other commands.)
const (
	flagState         = "state"
	flagUDI           = "udi"
	flagUDIFrom       = "udi-from"
	flagWant          = "license"
	flagClockAdvisory = "clock-advisory"
	flagInsecure      = "insecure"
	flagSystemName    = "name"
	flagComponent     = "component"
	flagDemand        = "demand"
	flagAgain         = "again"
)

const instanceDescription = `instance groups the commands of the licensed side: the product on the far
side of the air gap. They keep its state folder and walk the reservation
lifecycle with codes carried to and from the authority:

    evaluation ──enable──▶ reservation enabled ──request──▶ reserving
    reserving ──install CODE──▶ reserved ──install newer CODE──▶ reserved
    reserved ──return──▶ reservation enabled ──disable──▶ evaluation
    reserving ──cancel──▶ reservation enabled

The state folder is --state DIR (given before or after the command), or
the AIRLOCK_STATE environment variable, or else /var/lib/airlock for
root and ~/.local/state/airlock (or $XDG_STATE_HOME/airlock) for others.
Only its owner may write it (mode 0700); every change is one atomic,
durable write under the folder's lock, so a crash leaves the state as it
was before or after, and two commands never interleave.

An administrator's day:

    $ airlock instance init --udi P:VMS,S:cam-1,U:0f2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b --trust trust.airlock
    $ airlock instance enable
    $ airlock instance request --license vms.camera.core=10
    RQ-…
    $ airlock instance install AU-…
    $ airlock instance status
    $ airlock instance install update.airlock
    CF-…
    $ airlock instance return
    RT-…

Codes the instance makes (request, confirmation, return) are printed
typed on standard output, for the phone; --out writes them as armored
files instead, and --to encrypts those with age for removable media.
Files may also cross through an SFTP drop folder: --out and the commands
that read a code file take sftp://[user@]host[:port]/path URLs, checked
against known_hosts (see airlock instance install-file --help).

An instance may also be the gateway of a device fleet: it queues the
devices that activated behind it (airlock instance device add), writes
them into an activation request file (airlock instance activation
request), installs the activation file the authority answers with
(airlock instance activation install), and says whether a device is
active now (airlock instance device status).

Exit status: 0 on success; 1 when the operation was refused or failed
(including a failed write to standard output); 2 for a wrong command
line.`

func instanceCommand() *cli.Command {
	return &cli.Command{
		Name:            "instance",
		Usage:           "run the licensed side: state, requests, authorization codes, returns",
		UsageText:       "airlock instance [--state DIR] COMMAND [OPTIONS] [ARGUMENTS]",
		Description:     instanceDescription,
		Flags:           []cli.Flag{stateFlag(true)},
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{
			instanceInitCommand(),
			instanceEnableCommand(),
			instanceDisableCommand(),
			instanceRequestCommand(),
			instanceCancelCommand(),
			instanceInstallCommand(),
			instanceInstallFileCommand(),
			instanceReturnCommand(),
			instanceReturnAuthorizationCommand(),
			instanceStatusCommand(),
			instanceSystemFileCommand(),
			instanceUsageReportCommand(),
			instanceTrustCommand(),
			instanceDeviceCommand(),
			instanceActivationCommand(),
			instanceManifestCommand(),
			instanceTransportCommand(), instanceRegisterCommand(false), instanceRegisterCommand(true), instanceRenewCommand(), instanceUsageCommand(), instanceDeregisterCommand(), instanceAgentCommand(), instanceExportCommand(),
		},
	}
}

// stateFlag is --state. The group's reads $AIRLOCK_STATE; each
// subcommand has its own, so it may come after the command's name too.
func stateFlag(group bool) cli.Flag {
	f := &cli.StringFlag{Name: flagState, Usage: "the instance's state folder `DIR` (default: $" + instance.EnvStateDir + ", else /var/lib/airlock for root, else ~/.local/state/airlock)"}
	if group {
		f.EnvVars = []string{instance.EnvStateDir}
	}
	return f
}

// instanceFlags are the flags of every subcommand.
func instanceFlags(more ...cli.Flag) []cli.Flag {
	return append([]cli.Flag{stateFlag(false)}, more...)
}

// stateDir returns the state folder: --state after the command, --state
// before it (or $AIRLOCK_STATE), or instance.DefaultDir.
func stateDir(c *cli.Context) (string, error) {
	dir, set := c.String(flagState), c.IsSet(flagState)
	for _, ctx := range c.Lineage()[1:] {
		if !set && ctx.Command != nil && ctx.Command.Name == "instance" && ctx.IsSet(flagState) {
			dir, set = ctx.String(flagState), true
		}
	}
	switch {
	case !set:
		return instance.DefaultDir()
	case dir == "":
		return "", usagef(c.Command.HelpName, "for example: --state /var/lib/airlock", "--%s is empty", flagState)
	}
	return dir, nil
}

// openInstance opens the state folder.
func openInstance(c *cli.Context) (*instance.Instance, error) {
	dir, err := stateDir(c)
	if err != nil {
		return nil, err
	}
	return instance.Open(dir, instance.WithClock(clock))
}

// instanceHints are the hints of the instance sentinels, after the table in
// output.go.
var instanceHints = []struct {
	sentinel error
	hint     string
}{
	{instance.ErrNotInitialized, "check --state or " + instance.EnvStateDir + ", or make the instance with 'airlock instance init --udi UDI --trust FILE'"},
	{instance.ErrExists, "this folder holds an instance already: use it, or give another --state"},
	{instance.ErrCorrupt, "restore the state folder from a backup; without one, have the authority remove this instance, then init a new one in an empty folder"},
	{instance.ErrFormat, "use the airlock that wrote this state, or a newer one"},
	{instance.ErrPermissions, "the state folder must be writable by its owner only (chmod 700 DIR) and hold regular files"},
	{instance.ErrLocked, "another airlock process is changing the state: try again in a moment"},
	{instance.ErrPersist, "check the disk (free space, errors), then run the command again"},
	{instance.ErrNotEnabled, "run 'airlock instance enable' first"},
	{instance.ErrReservationInstalled, "'airlock instance status' shows the installed reservation; 'airlock instance return' gives it back"},
	{instance.ErrNotReserved, "'airlock instance status' shows where the instance is"},
	{instance.ErrNoPendingRequest, "make a new request with 'airlock instance request' and take it to the authority"},
	{instance.ErrWrongReservation, "the code changes a reservation this instance does not hold: check that it is for this instance"},
	{instance.ErrNotNewer, "a newer code is installed already; 'airlock instance status' shows its serial"},
	{instance.ErrReturned, "the reservation was returned: make a new request with 'airlock instance request'"},
	{instance.ErrClock, "set the system clock right (the instance trusts it only forward), then try again"},
	{instance.ErrNoAuthorityKey, "no key of the trust set is valid now: ask the vendor for a current trust file"},
}

func init() { hints = append(hints, instanceHints...) }

// readAuthorization reads an authorization code from a typed code, a file,
// an sftp:// URL or standard input (any form, age-encrypted with
// --identity), and returns its binary form. The bytes of a URL go through
// exactly the path a local file's take.
func readAuthorization(c *cli.Context, arg string) ([]byte, error) {
	ids, err := identities(c)
	if err != nil {
		return nil, err
	}
	var in *input
	if drop.IsURL(arg) {
		in, err = readURL(c, arg)
	} else {
		in, err = readCodeArg(arg, c.App.Reader, c.App.ErrWriter)
	}
	if err != nil {
		return nil, err
	}
	return decodeAuthorization(in, ids)
}

func decodeAuthorization(in *input, ids []age.Identity) ([]byte, error) {
	if len(bytes.TrimSpace(in.data)) == 0 {
		return nil, fmt.Errorf("%w: %s is empty", errEmpty, in.source)
	}
	code, err := codes.DecodeKind(in.data, codes.KindAuthorization, ids...)
	if err != nil {
		return nil, decodeError(in, err, len(ids) > 0)
	}
	return code, nil
}

// writeCodeFile writes an armored code, age-encrypted to recipients if
// any, to path ("-": standard output). A file that exists is never
// overwritten, unless it holds these bytes already.
func writeCodeFile(c *cli.Context, path string, kind codes.Kind, code []byte, recipients []age.Recipient) error {
	data, err := codeFileData(kind, code, recipients)
	if err != nil {
		return err
	}
	if path == "-" {
		return writeResult(c.App.Writer, data)
	}
	if old, err := os.ReadFile(path); err == nil {
		if bytes.Equal(old, data) {
			note(c.App.ErrWriter, "%s holds this %s code already", path, kind)
			return nil
		}
		return withHint(fmt.Errorf("%w: %s", errExists, path), "airlock never overwrites a file; give another path, or move the file away first")
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := writeFileAtomic(path, data, 0o644, true); err != nil {
		return err
	}
	// The file may go on removable media: make the rename durable before
	// anyone unplugs it. Not every file system syncs a folder; the file
	// itself is synced already.
	_ = syncDir(filepath.Dir(path))
	note(c.App.ErrWriter, "wrote %s", path)
	return nil
}

// outRecipients reads --to, which encrypts the --out file and so goes
// with --out; file names one in the hint when --out is missing.
func outRecipients(c *cli.Context, file string) ([]age.Recipient, error) {
	recipients, err := recipientsFlag(c)
	if err != nil {
		return nil, err
	}
	if len(recipients) > 0 && c.String(flagOut) == "" {
		return nil, usagef(c.Command.HelpName, "for example: --out "+file+" --to age1…", "--%s encrypts the --%s file: give --%s FILE", flagTo, flagOut, flagOut)
	}
	return recipients, nil
}

// prepareCopyOut is prepareNewOut for the --out of a command that prints
// a new code and writes a copy to --out when given: nil without it.
func prepareCopyOut(c *cli.Context) (*codeOut, error) {
	if out := c.String(flagOut); out != "" {
		return prepareNewOut(c, out)
	}
	return nil, nil
}

// printNewCode prints a new code typed on standard output and writes it
// to dest too, unless nil (prepareCopyOut). The instance recorded it
// already: again says how to get it once more when either fails.
func printNewCode(c *cli.Context, dest *codeOut, kind codes.Kind, code []byte, recipients []age.Recipient, again string) error {
	if err := writeResult(c.App.Writer, []byte(codes.EncodeText(kind, code)+"\n")); err != nil {
		return withHint(err, again)
	}
	if dest != nil {
		if err := writeCodeOut(c, dest, kind, code, recipients); err != nil {
			return withHint(err, again)
		}
	}
	return nil
}

// writeCodeOut is writeCodeFile for a destination prepareOut made: to an
// sftp:// URL it writes the same bytes, as a whole file that never
// replaces another.
func writeCodeOut(c *cli.Context, out *codeOut, kind codes.Kind, code []byte, recipients []age.Recipient) error {
	if !out.remote() {
		return writeCodeFile(c, out.path, kind, code, recipients)
	}
	data, err := codeFileData(kind, code, recipients)
	if err != nil {
		return err
	}
	existed, err := out.upload(data)
	if err != nil {
		return err
	}
	if existed {
		note(c.App.ErrWriter, "%s holds this %s code already", out, kind)
	} else {
		note(c.App.ErrWriter, "wrote %s", out)
	}
	return nil
}

// codeFileData is a code file's content: the armored code, age-encrypted
// to recipients if any.
func codeFileData(kind codes.Kind, code []byte, recipients []age.Recipient) ([]byte, error) {
	data := codes.EncodeArmor(kind, code)
	if len(recipients) == 0 {
		return data, nil
	}
	data, err := seal.Encrypt(data, recipients...)
	if err != nil {
		return nil, fmt.Errorf("encrypting the %s code: %w", kind, err)
	}
	return data, nil
}

// fileOutFlags are the flags of an instance command that writes a file:
// more, then --out (with its usage), --to and the SFTP flags.
func fileOutFlags(out string, more ...cli.Flag) []cli.Flag {
	return instanceFlags(append(append(more,
		&cli.StringFlag{Name: flagOut, Usage: out},
		&cli.StringSliceFlag{Name: flagTo, Usage: "encrypt the --out file with age to `RECIPIENT` (age1…, \"ssh-ed25519 …\", or @FILE); repeatable"},
	), transportFlags()...)...)
}

// recipientsFlag reads --to.
func recipientsFlag(c *cli.Context) ([]age.Recipient, error) {
	return parseRecipientsFlag(c.Command.HelpName, flagTo, c.StringSlice(flagTo))
}

// parseWant reads TAG=N values of the flag which.
func parseWant(c *cli.Context, which string) ([]codes.License, error) {
	var out []codes.License
	for _, v := range c.StringSlice(which) {
		tag, n, ok := strings.Cut(v, "=")
		count, err := strconv.ParseUint(n, 10, 32)
		if !ok || err != nil || count == 0 {
			return nil, usagef(c.Command.HelpName, "write a license as TAG=COUNT, e.g. vms.camera.core=10", "--%s %q is not TAG=COUNT with a count of at least 1", which, v)
		}
		if err := codes.CheckTag(tag); err != nil {
			return nil, usagef(c.Command.HelpName, "", "--%s %q: %v", which, v, err)
		}
		out = append(out, codes.License{Tag: tag, Count: uint32(count)})
	}
	return out, nil
}

// describeEntitlements lists entitlements for a note line.
func describeEntitlements(es []codes.Entitlement) string {
	parts := make([]string, len(es))
	for i, e := range es {
		s := fmt.Sprintf("%d %s (%s", e.Count, e.Tag, e.Kind)
		if e.End != 0 {
			s += " until " + codes.FormatTime(e.End)
		}
		if e.Component != "" {
			s += " on " + e.Component
		}
		parts[i] = s + ")"
	}
	return strings.Join(parts, ", ")
}

func describeLicenses(ls []codes.License) string {
	if len(ls) == 0 {
		return "nothing named (the authority decides)"
	}
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = fmt.Sprintf("%d %s", l.Count, l.Tag)
	}
	return strings.Join(parts, ", ")
}

// daysLeft is the number of days from now to t, rounded up, at least 0.
func daysLeft(now, t time.Time) int {
	d := t.Sub(now)
	if d <= 0 {
		return 0
	}
	return int((d + 24*time.Hour - 1) / (24 * time.Hour))
}
