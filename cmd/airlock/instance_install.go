package main

import (
	"fmt"
	"time"

	"filippo.io/age"
	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/instance"
)

const instanceInstallDescription = `install verifies an authorization code and installs it. The argument is
the typed code (quoted if it has spaces), the path of a code file
(armored, raw binary, or age-encrypted with --identity), or - for
standard input.

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

Exit status: 0 when the code is installed (now or before); 1 when it is
refused or the confirmation code could not be printed (install the same
code again to print it); 2 for a wrong command line.`

func instanceInstallCommand() *cli.Command {
	return &cli.Command{
		Name:        "install",
		Usage:       "verify and install an authorization code",
		UsageText:   "airlock instance install [--identity FILE]... [--state DIR] CODE|FILE|-",
		Description: instanceInstallDescription,
		Flags: instanceFlags(
			&cli.StringSliceFlag{Name: flagIdentity, Usage: "open an age-encrypted code file with the identity in `FILE` (age or ssh-ed25519 private key); repeatable"},
		),
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if err := checkArgs(c, 1, 1, "CODE|FILE|-"); err != nil {
				return err
			}
			return instanceInstall(c, c.Args().First())
		},
	}
}

const instanceInstallFileDescription = `install-file installs the authorization code in a file, as install does:
an armored file, raw binary, or an age-encrypted file opened with
--identity, for codes carried on removable media. The path is always a
file, never a typed code.

SFTP transfer ships separately: an sftp:// URL is refused; copy the file
to this machine and pass its path.

Example:

    $ airlock instance install-file --identity instance.agekey /media/usb/authorization.age
    airlock: installed reservation 0a1b2c3d serial 1: 10 vms.camera.core (perpetual)

Exit status: as for install.`

func instanceInstallFileCommand() *cli.Command {
	return &cli.Command{
		Name:        "install-file",
		Usage:       "install the authorization code in a file",
		UsageText:   "airlock instance install-file [--identity FILE]... [--state DIR] PATH",
		Description: instanceInstallFileDescription,
		Flags: instanceFlags(
			&cli.StringSliceFlag{Name: flagIdentity, Usage: "open an age-encrypted file with the identity in `FILE` (age or ssh-ed25519 private key); repeatable"},
		),
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if err := checkArgs(c, 1, 1, "PATH"); err != nil {
				return err
			}
			path := c.Args().First()
			if err := refuseSFTP(path); err != nil {
				return err
			}
			if path == "-" {
				return usagef(c.Command.HelpName, "to read standard input, use 'airlock instance install -'", "install-file takes the path of a file")
			}
			b, err := readFile(path, maxInputSize)
			if err != nil {
				return err
			}
			ids, err := readIdentities(c.StringSlice(flagIdentity))
			if err != nil {
				return err
			}
			code, err := decodeAuthorization(&input{data: b, source: fmt.Sprintf("file %q", path)}, ids)
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

Exit status: 0 when the return code was printed or written; 1 when
nothing was ever installed, or the code could not be printed or written
(the return is recorded all the same: run return again); 2 for a wrong
command line.`

func instanceReturnCommand() *cli.Command {
	return &cli.Command{
		Name:        "return",
		Usage:       "destroy the installed authorization code and print the return code",
		UsageText:   "airlock instance return [--out FILE [--to RECIPIENT]...] [--state DIR]",
		Description: instanceReturnDescription,
		Flags: instanceFlags(
			&cli.StringFlag{Name: flagOut, Usage: "write the return code as an armored `FILE` instead of typed on standard output"},
			&cli.StringSliceFlag{Name: flagEncryptTo, Usage: "encrypt the --out file with age to `RECIPIENT` (age1…, \"ssh-ed25519 …\", or @FILE); repeatable"},
		),
		OnUsageError: onUsageError,
		Action:       instanceReturn,
	}
}

func instanceReturn(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	recipients, err := returnOut(c)
	if err != nil {
		return err
	}
	in, err := openInstance(c)
	if err != nil {
		return err
	}
	r, err := in.Return()
	if err != nil {
		return err
	}
	if err := emitReturn(c, r, recipients, "'airlock instance return' prints the same code again"); err != nil {
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

// returnOut checks --out and --to.
func returnOut(c *cli.Context) ([]age.Recipient, error) {
	recipients, err := recipientsFlag(c)
	if err != nil {
		return nil, err
	}
	if len(recipients) > 0 && c.String(flagOut) == "" {
		return nil, usagef(c.Command.HelpName, "for example: --out return.age --to age1…", "--%s encrypts the --%s file: give --%s FILE", flagEncryptTo, flagOut, flagOut)
	}
	return recipients, nil
}

// emitReturn prints a return code typed, or writes it to --out. The
// return is recorded already: a failure here loses nothing, and again
// says how to get the code once more.
func emitReturn(c *cli.Context, r *instance.Returned, recipients []age.Recipient, again string) error {
	var err error
	if out := c.String(flagOut); out != "" {
		err = writeCodeFile(c, out, codes.KindReturn, r.Code, recipients)
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

To give back the installed reservation, use 'airlock instance return'.

Example:

    $ airlock instance return-authorization unwanted.airlock
    RT-…
    airlock: reservation 7c1d2e3f serial 1 returned without being installed; it will never install
    airlock: give the return code to the authority

Exit status: as for return.`

func instanceReturnAuthorizationCommand() *cli.Command {
	return &cli.Command{
		Name:        "return-authorization",
		Usage:       "hand back an authorization code never installed",
		UsageText:   "airlock instance return-authorization [--identity FILE]... [--out FILE [--to RECIPIENT]...] [--state DIR] CODE|FILE|-",
		Description: instanceReturnAuthorizationDescription,
		Flags: instanceFlags(
			&cli.StringSliceFlag{Name: flagIdentity, Usage: "open an age-encrypted code file with the identity in `FILE`; repeatable"},
			&cli.StringFlag{Name: flagOut, Usage: "write the return code as an armored `FILE` instead of typed on standard output"},
			&cli.StringSliceFlag{Name: flagEncryptTo, Usage: "encrypt the --out file with age to `RECIPIENT`; repeatable"},
		),
		OnUsageError: onUsageError,
		Action:       instanceReturnAuthorization,
	}
}

func instanceReturnAuthorization(c *cli.Context) error {
	if err := checkArgs(c, 1, 1, "CODE|FILE|-"); err != nil {
		return err
	}
	recipients, err := returnOut(c)
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
	r, err := in.ReturnAuthorization(code)
	if err != nil {
		return err
	}
	if err := emitReturn(c, r, recipients, "run the same command again to print the same code"); err != nil {
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
