package main

import (
	"fmt"
	"time"

	"filippo.io/age"
	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/cmd/airlock/internal/drop"
	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/instance"
)

const instanceInstallDescription = `install verifies an authorization code and installs it. The argument is
the typed code (quoted if it has spaces), the path of a code file
(armored, raw binary, or age-encrypted with --identity), an sftp:// URL
of such a file, or - for standard input.

The code must verify with a key of the trust file, name this instance's
UDI and key, be installed before its install-by date, and either answer
a pending request (a new reservation) or carry a greater serial of the
installed reservation (an update). A code of a returned reservation, a
code for a cancelled request and an older serial are refused, each with
its reason. So is any code while the system clock is behind the code's
issue time, or the last time the instance saw, by more than a day: set
the clock right first.

An update prints a confirmation code on standard output: give it to the
authority, which then releases the licenses the update freed. Installing
the installed code again changes nothing and prints the same
confirmation code.

Examples:

    $ airlock instance install AU-…
    airlock: installed reservation 0a1b2c3d serial 1: 10 vms.camera.core (perpetual), 2 vms.analytics (term until 2026-01-01T00:00:00Z)

    $ airlock instance install update.airlock
    CF-…
    airlock: installed serial 2 of reservation 0a1b2c3d, replacing serial 1: 4 vms.camera.core (perpetual)
    airlock: give the confirmation code to the authority; installing this code again prints it again

    $ airlock instance install old.airlock
    airlock: error: authorization code not newer: authorization serial 1 is not newer than installed serial 2 (reservation 0a1b2c3d)
    airlock: hint: a newer code is installed already; 'airlock instance status' shows its serial

    $ airlock instance install --ssh-key ~/.ssh/drop_ed25519 sftp://site@drop.example.com/~/outbox/cam-1.airlock
    CF-…
    airlock: installed serial 2 of reservation 0a1b2c3d, replacing serial 1: 4 vms.camera.core (perpetual)

` + sftpReadHelp + `

Exit status: 0 when the code is installed (now or before); 1 when it is
refused, cannot be fetched, or the confirmation code could not be
printed (install the same code again to print it); 2 for a wrong command
line.`

func instanceInstallCommand() *cli.Command {
	return &cli.Command{
		Name:        "install",
		Usage:       "verify and install an authorization code",
		UsageText:   "airlock instance install [--identity FILE]... [--known-hosts FILE] [--ssh-key FILE]... [--state DIR] CODE|FILE|URL|-",
		Description: instanceInstallDescription,
		Flags: instanceFlags(append([]cli.Flag{
			&cli.StringSliceFlag{Name: flagIdentity, Usage: "open an age-encrypted code file with the identity in `FILE` (age or ssh-ed25519 private key); repeatable"},
		}, transportFlags()...)...),
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if err := checkArgs(c, 1, 1, "CODE|FILE|URL|-"); err != nil {
				return err
			}
			return instanceInstall(c, c.Args().First())
		},
	}
}

const instanceInstallFileDescription = `install-file installs the authorization code in a file, as install does:
an armored file, raw binary, or an age-encrypted file opened with
--identity, for codes carried on removable media or left in an SFTP drop
folder. The argument is always a file's path or URL, never a typed code.

Examples:

    $ airlock instance install-file --identity instance.agekey /media/usb/authorization.age
    airlock: installed reservation 0a1b2c3d serial 1: 10 vms.camera.core (perpetual)

    $ airlock instance install-file --known-hosts drop_known_hosts --ssh-key ~/.ssh/drop_ed25519 \
          sftp://site@drop.example.com/~/outbox/cam-1.airlock
    airlock: installed reservation 0a1b2c3d serial 1: 10 vms.camera.core (perpetual)

    $ airlock instance install-file sftp://site@drop.example.com:2222/~/outbox/cam-1.airlock
    airlock: error: host key verification failed: host key for [drop.example.com]:2222 is unknown: …
    airlock: hint: check the fingerprint SHA256:… with the drop's administrator (ssh-keygen -lf on the server's key), then add this line to /home/site/.ssh/known_hosts:
    airlock: hint: [drop.example.com]:2222 ssh-ed25519 AAAA…

` + sftpReadHelp + `

Exit status: as for install.`

func instanceInstallFileCommand() *cli.Command {
	return &cli.Command{
		Name:        "install-file",
		Usage:       "install the authorization code in a file",
		UsageText:   "airlock instance install-file [--identity FILE]... [--known-hosts FILE] [--ssh-key FILE]... [--state DIR] PATH|URL",
		Description: instanceInstallFileDescription,
		Flags: instanceFlags(append([]cli.Flag{
			&cli.StringSliceFlag{Name: flagIdentity, Usage: "open an age-encrypted file with the identity in `FILE` (age or ssh-ed25519 private key); repeatable"},
		}, transportFlags()...)...),
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if err := checkArgs(c, 1, 1, "PATH|URL"); err != nil {
				return err
			}
			path := c.Args().First()
			if path == "-" {
				return usagef(c.Command.HelpName, "to read standard input, use 'airlock instance install -'", "install-file takes the path of a file")
			}
			ids, err := identities(c)
			if err != nil {
				return err
			}
			var in *input
			if drop.IsURL(path) {
				in, err = readURL(c, path)
			} else {
				var b []byte
				b, err = readFile(path, maxInputSize)
				in = &input{data: b, source: fmt.Sprintf("file %q", path)}
			}
			if err != nil {
				return err
			}
			code, err := decodeAuthorization(in, ids)
			if err != nil {
				return err
			}
			return installCode(c, code)
		},
	}
}

func instanceInstall(c *cli.Context, arg string) error {
	code, err := readAuthorization(c, arg)
	if err != nil {
		return err
	}
	return installCode(c, code)
}

func installCode(c *cli.Context, code []byte) error {
	in, err := openInstance(c)
	if err != nil {
		return err
	}
	got, err := in.Install(code)
	if err != nil {
		return err
	}
	a, w := got.Authorization, c.App.ErrWriter
	if got.Confirmation != nil {
		if err := writeResult(c.App.Writer, []byte(codes.EncodeText(codes.KindConfirmation, got.Confirmation)+"\n")); err != nil {
			return withHint(err, "the code is installed: install the same code again to print its confirmation code")
		}
	}
	switch {
	case got.Again:
		note(w, "this code is installed already (reservation %x serial %d): nothing changed", a.Reservation, a.Serial)
		if got.Confirmation != nil {
			note(w, "the same confirmation code again, for the authority")
		}
	case got.Update:
		note(w, "installed serial %d of reservation %x, replacing serial %d: %s", a.Serial, a.Reservation, got.PreviousSerial, describeEntitlements(a.Entitlements))
		note(w, "give the confirmation code to the authority; installing this code again prints it again")
	default:
		note(w, "installed reservation %x serial %d: %s", a.Reservation, a.Serial, describeEntitlements(a.Entitlements))
	}
	for _, wn := range in.Warnings() {
		warn(w, "%s", wn.Message)
	}
	return nil
}

const instanceReturnDescription = `return gives the installed reservation back: it destroys the installed
authorization code and prints the return code, which the authority
needs to release the licenses. The return code is recorded with the
reservation, now returned, in the same durable write that destroys the
code, before anything is printed: if the printout is lost (a crash, a
full disk, a closed terminal), run return again to print the same code.
A code of a returned reservation never installs again.

The return code is printed typed on standard output; --out writes it as
an armored file instead, and --to encrypts that file with age.

Examples:

    $ airlock instance return
    RT-…
    airlock: returned reservation 0a1b2c3d serial 2; its authorization code is destroyed
    airlock: give the return code to the authority; 'airlock instance return' prints it again

    $ airlock instance return
    RT-…
    airlock: reservation 0a1b2c3d serial 2 was returned 2025-01-20T08:00:00Z; the same return code again

    $ airlock instance return --out sftp://site@drop.example.com/~/inbox/cam-1.return.airlock
    airlock: wrote sftp://site@drop.example.com/~/inbox/cam-1.return.airlock
    airlock: returned reservation 0a1b2c3d serial 2; its authorization code is destroyed

` + sftpWriteHelp + `

If the drop cannot be reached, or refuses the login, nothing is
returned. If the connection fails while the file is written, the return
is recorded all the same: run return again, with the same --out, to
write the same code.

Exit status: 0 when the return code was printed or written; 1 when
nothing was ever installed, or the code could not be printed or written
(the return is recorded all the same: run return again); 2 for a wrong
command line.`

func instanceReturnCommand() *cli.Command {
	return &cli.Command{
		Name:         "return",
		Usage:        "destroy the installed authorization code and print the return code",
		UsageText:    "airlock instance return [--out FILE|URL [--to RECIPIENT]...] [--known-hosts FILE] [--ssh-key FILE]... [--state DIR]",
		Description:  instanceReturnDescription,
		Flags:        fileOutFlags(returnOutUsage),
		OnUsageError: onUsageError,
		Action:       instanceReturn,
	}
}

func instanceReturn(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	recipients, err := outRecipients(c, "return.age")
	if err != nil {
		return err
	}
	in, err := openInstance(c)
	if err != nil {
		return err
	}
	out, err := prepareOut(c, c.String(flagOut))
	if err != nil {
		return err
	}
	defer out.close()
	r, err := in.Return()
	if err != nil {
		return err
	}
	if err := emitReturn(c, out, r, recipients, "'airlock instance return' prints the same code again"); err != nil {
		return err
	}
	w := c.App.ErrWriter
	if r.Again {
		note(w, "reservation %x serial %d was returned %s; the same return code again", r.Reservation, r.Serial, r.At.Format(time.RFC3339))
		return nil
	}
	note(w, "returned reservation %x serial %d; its authorization code is destroyed", r.Reservation, r.Serial)
	note(w, "give the return code to the authority; 'airlock instance return' prints it again")
	return nil
}

// returnOutUsage is the --out of the commands that print a return code.
const returnOutUsage = "write the return code as an armored `FILE` (or to an sftp:// URL) instead of typed on standard output"

// emitReturn prints a return code typed, or writes it to --out. The
// return is recorded already: a failure here loses nothing, and again
// says how to get the code once more.
func emitReturn(c *cli.Context, out *codeOut, r *instance.Returned, recipients []age.Recipient, again string) error {
	var err error
	if out.path != "" {
		err = writeCodeOut(c, out, codes.KindReturn, r.Code, recipients)
	} else {
		err = writeResult(c.App.Writer, []byte(codes.EncodeText(codes.KindReturn, r.Code)+"\n"))
	}
	if err != nil {
		return withHint(err, "the return is recorded: "+again)
	}
	return nil
}

const instanceReturnAuthorizationDescription = `return-authorization hands back an authorization code that this instance
never installed, and never will: for example one that answers a request
cancelled since, or one with the wrong licenses. The code must verify and
be issued to this instance for a request it made; its reservation is
recorded as returned, so the code can never be installed, and the return
code (marked never installed) is printed for the authority, which then
releases the licenses. Given the same code again, it prints the same
return code.

The argument is a typed code, the path of a code file (armored, raw
binary, or age-encrypted with --identity), an sftp:// URL of such a file,
or - for standard input. To give back the installed reservation, use
'airlock instance return'.

Examples:

    $ airlock instance return-authorization unwanted.airlock
    RT-…
    airlock: reservation 7c1d2e3f serial 1 returned without being installed; it will never install
    airlock: give the return code to the authority

    $ airlock instance return-authorization --ssh-key ~/.ssh/drop_ed25519 \
          --out sftp://site@drop.example.com/~/inbox/cam-1.return.airlock \
          sftp://site@drop.example.com/~/outbox/cam-1.airlock
    airlock: wrote sftp://site@drop.example.com/~/inbox/cam-1.return.airlock
    airlock: reservation 7c1d2e3f serial 1 returned without being installed; it will never install
    airlock: give the return code to the authority

` + sftpReadText + `

` + sftpWriteHelp + `

Exit status: as for return.`

func instanceReturnAuthorizationCommand() *cli.Command {
	return &cli.Command{
		Name:        "return-authorization",
		Usage:       "hand back an authorization code never installed",
		UsageText:   "airlock instance return-authorization [--identity FILE]... [--out FILE|URL [--to RECIPIENT]...] [--known-hosts FILE] [--ssh-key FILE]... [--state DIR] CODE|FILE|URL|-",
		Description: instanceReturnAuthorizationDescription,
		Flags: fileOutFlags(returnOutUsage,
			&cli.StringSliceFlag{Name: flagIdentity, Usage: "open an age-encrypted code file with the identity in `FILE`; repeatable"},
		),
		OnUsageError: onUsageError,
		Action:       instanceReturnAuthorization,
	}
}

func instanceReturnAuthorization(c *cli.Context) error {
	if err := checkArgs(c, 1, 1, "CODE|FILE|URL|-"); err != nil {
		return err
	}
	recipients, err := outRecipients(c, "return.age")
	if err != nil {
		return err
	}
	code, err := readAuthorization(c, c.Args().First())
	if err != nil {
		return err
	}
	in, err := openInstance(c)
	if err != nil {
		return err
	}
	out, err := prepareOut(c, c.String(flagOut))
	if err != nil {
		return err
	}
	defer out.close()
	r, err := in.ReturnAuthorization(code)
	if err != nil {
		return err
	}
	if err := emitReturn(c, out, r, recipients, "run the same command again to print the same code"); err != nil {
		return err
	}
	w := c.App.ErrWriter
	if r.Again {
		note(w, "reservation %x serial %d was returned %s without being installed; the same return code again", r.Reservation, r.Serial, r.At.Format(time.RFC3339))
		return nil
	}
	note(w, "reservation %x serial %d returned without being installed; it will never install", r.Reservation, r.Serial)
	note(w, "give the return code to the authority")
	return nil
}
