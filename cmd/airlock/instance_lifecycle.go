package main

import (
	"bytes"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/instance"
)

const instanceInitDescription = `init makes a new instance in the state folder: it generates the instance
key, records the UDI and the trust file, and starts the 90-day
evaluation, during which every license may be used. The folder is made
(mode 0700) if it does not exist, and must not hold an instance already.

The UDI is given with --udi, or read from the first line of a file with
--udi-from (for example one the product writes at installation). The
trust file, from the vendor, names the authority keys the instance
believes.

Example:

    $ airlock instance init --udi P:VMS,S:cam-1,U:0f2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b --trust trust.airlock
    airlock: new instance P:VMS,S:cam-1 in /var/lib/airlock
    airlock: instance key 5d2f0c8e63a1b4079e1c2d3f4a5b6c7d (hash)
    airlock: trusts 1 authority key, sequence 1; requests go to key 115f3d60785cabde
    airlock: evaluation: every license may be used until 2025-04-15T09:30:00Z
    airlock: next: 'airlock instance enable', then 'airlock instance request'

Exit status: 0 when the instance was made; 1 when the folder holds one
already or is unsafe, or the trust file does not verify; 2 for a wrong
command line.`

func instanceInitCommand() *cli.Command {
	return &cli.Command{
		Name:        "init",
		Usage:       "make a new instance: key, UDI, trust file, evaluation",
		UsageText:   "airlock instance init (--udi UDI | --udi-from FILE) --trust FILE [--state DIR]",
		Description: instanceInitDescription,
		Flags: instanceFlags(
			&cli.StringFlag{Name: flagUDI, Usage: "the instance's `UDI`, as P:PRODUCT,S:SERIAL,U:UUID"},
			&cli.StringFlag{Name: flagUDIFrom, Usage: "read the UDI from the first line of `FILE`"},
			&cli.StringFlag{Name: flagTrust, Usage: "the vendor's trust `FILE`"},
			&cli.BoolFlag{Name: flagClockAdvisory, Hidden: true, Usage: "only warn when the clock is set back (needs --insecure): anyone who can set the clock back can then extend a term license"},
			&cli.BoolFlag{Name: flagInsecure, Hidden: true, Usage: "allow the options that weaken a check"},
		),
		OnUsageError: onUsageError,
		Action:       instanceInit,
	}
}

func instanceInit(c *cli.Context) error {
	cmd := c.Command.HelpName
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	var udiText string
	switch {
	case c.IsSet(flagUDI) && c.IsSet(flagUDIFrom):
		return usagef(cmd, "", "give --%s or --%s, not both", flagUDI, flagUDIFrom)
	case c.IsSet(flagUDI):
		udiText = c.String(flagUDI)
	case c.IsSet(flagUDIFrom):
		b, err := readFile(c.String(flagUDIFrom), maxKeyFileSize)
		if err != nil {
			return fmt.Errorf("--%s: %w", flagUDIFrom, err)
		}
		line, _, _ := bytes.Cut(bytes.TrimSpace(b), []byte("\n"))
		udiText = string(line)
	default:
		return usagef(cmd, "for example: --udi P:VMS,S:cam-1,U:0f2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b", "missing --%s UDI or --%s FILE", flagUDI, flagUDIFrom)
	}
	udi, err := codes.ParseUDI(udiText)
	if err != nil {
		return usagef(cmd, "write the UDI as P:<product>,S:<serial>,U:<uuid>", "UDI: %v", err)
	}
	if c.String(flagTrust) == "" {
		return usagef(cmd, "for example: --trust trust.airlock, the file from the vendor", "missing --%s FILE", flagTrust)
	}
	var opts []instance.Option
	if c.Bool(flagClockAdvisory) {
		if !c.Bool(flagInsecure) {
			return usagef(cmd, "add --insecure if the clock of this machine cannot be trusted", "--%s weakens the clock check and needs --%s", flagClockAdvisory, flagInsecure)
		}
		warn(c.App.ErrWriter, "the clock is advisory: setting it back only warns, and extends term licenses")
		opts = append(opts, instance.WithAdvisoryClock())
	}
	trust, err := readTrust(c.String(flagTrust))
	if err != nil {
		return err
	}
	dir, err := stateDir(c)
	if err != nil {
		return err
	}
	in, err := instance.Init(dir, udi, trust, append(opts, instance.WithClock(clock))...)
	if err != nil {
		return err
	}
	st, err := in.Status()
	if err != nil {
		return err
	}
	w := c.App.ErrWriter
	note(w, "new instance %s in %s", udi.Short(), dir)
	note(w, "instance key %x (hash)", st.KeyHash)
	keys := "1 authority key"
	if n := len(trust.Keys); n != 1 {
		keys = fmt.Sprintf("%d authority keys", n)
	}
	if st.AuthorityKey != nil {
		note(w, "trusts %s, sequence %d; requests go to key %s", keys, trust.Sequence, st.AuthorityKey)
	} else {
		warn(w, "trusts %s, sequence %d, but none is valid now: requests cannot be made", keys, trust.Sequence)
	}
	note(w, "evaluation: every license may be used until %s", st.EvaluationEnd.Format(time.RFC3339))
	note(w, "next: 'airlock instance enable', then 'airlock instance request'")
	return nil
}

const instanceEnableDescription = `enable enables reservation: the instance may then make request codes for
the authority. The evaluation, if it still runs, goes on until an
authorization code is installed. Enabling twice changes nothing.

Example:

    $ airlock instance enable
    airlock: reservation enabled; the evaluation goes on until 2025-04-15T09:30:00Z
    airlock: next: 'airlock instance request'`

func instanceEnableCommand() *cli.Command {
	return &cli.Command{
		Name:         "enable",
		Usage:        "enable reservation, so the instance may request codes",
		UsageText:    "airlock instance enable [--state DIR]",
		Description:  instanceEnableDescription,
		Flags:        instanceFlags(),
		OnUsageError: onUsageError,
		Action:       instanceEnable,
	}
}

func instanceEnable(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	in, err := openInstance(c)
	if err != nil {
		return err
	}
	before, err := in.Status()
	if err != nil {
		return err
	}
	if err := in.Enable(); err != nil {
		return err
	}
	w := c.App.ErrWriter
	switch before.Mode {
	case instance.ModeEnabled, instance.ModeReserving, instance.ModeReserved:
		note(w, "reservation is enabled already (%s)", modeName(before.Mode))
		return nil
	}
	if clock().Before(before.EvaluationEnd) {
		note(w, "reservation enabled; the evaluation goes on until %s", before.EvaluationEnd.Format(time.RFC3339))
	} else {
		note(w, "reservation enabled; the evaluation ended %s", before.EvaluationEnd.Format(time.RFC3339))
	}
	note(w, "next: 'airlock instance request'")
	return nil
}

const instanceDisableDescription = `disable disables reservation and cancels any pending request: the
instance goes back to the evaluation, or is unlicensed once the
evaluation has ended. It is refused while a reservation is installed:
return it first.

Example:

    $ airlock instance disable
    airlock: cancelled 1 pending request; a code issued for it will not install
    airlock: reservation disabled; the evaluation goes on until 2025-04-15T09:30:00Z`

func instanceDisableCommand() *cli.Command {
	return &cli.Command{
		Name:         "disable",
		Usage:        "disable reservation and go back to the evaluation",
		UsageText:    "airlock instance disable [--state DIR]",
		Description:  instanceDisableDescription,
		Flags:        instanceFlags(),
		OnUsageError: onUsageError,
		Action:       instanceDisable,
	}
}

func instanceDisable(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	in, err := openInstance(c)
	if err != nil {
		return err
	}
	before, err := in.Status()
	if err != nil {
		return err
	}
	if err := in.Disable(); err != nil {
		return err
	}
	w := c.App.ErrWriter
	if before.Mode == instance.ModeEvaluation || before.Mode == instance.ModeUnlicensed {
		note(w, "reservation is not enabled (%s): nothing changed", modeName(before.Mode))
		return nil
	}
	if n := len(before.Pending); n > 0 {
		note(w, "cancelled %s; a code issued for it will not install", plural(n, "pending request", "pending requests"))
	}
	if clock().Before(before.EvaluationEnd) {
		note(w, "reservation disabled; the evaluation goes on until %s", before.EvaluationEnd.Format(time.RFC3339))
	} else {
		note(w, "reservation disabled; the evaluation ended %s: the instance is unlicensed", before.EvaluationEnd.Format(time.RFC3339))
	}
	return nil
}

const instanceRequestDescription = `request makes a request code for the authority and records it as
pending: the instance then installs the authorization code that answers
it. The code carries the UDI, the instance's public key, a fresh nonce
and, with --license, the licenses wanted (otherwise the authority
decides). It is made for the trust file's current authority key.

The request code is printed typed on standard output, to read over the
phone or paste. With --out it is also written as an armored file, and
with --to that file is encrypted with age to the authority's recipient,
for removable media.

A request made while another is pending adds to it: either may be
answered, until one answer is installed. 'airlock instance cancel' drops
them.

Examples:

    $ airlock instance request --license vms.camera.core=10 --license vms.analytics=2
    RQ-…
    airlock: request 3f9a0c11d2e4b5a6 for authority key 115f3d60785cabde: 10 vms.camera.core, 2 vms.analytics
    airlock: take the request code to the authority, then install the authorization code it answers with

    $ airlock instance request --license vms.camera.core=10 --out sftp://site@drop.example.com/~/inbox/cam-1.airlock
    RQ-…
    airlock: wrote sftp://site@drop.example.com/~/inbox/cam-1.airlock
    airlock: request 3f9a0c11d2e4b5a6 for authority key 115f3d60785cabde: 10 vms.camera.core

` + sftpWriteHelp + `

If the drop cannot be reached, or refuses the login, no request is made.

Exit status: 0 when the request was made and printed; 1 when it was
refused (reservation not enabled, or a reservation installed) or could
not be printed or written (then make a new one); 2 for a wrong command
line.`

func instanceRequestCommand() *cli.Command {
	return &cli.Command{
		Name:        "request",
		Usage:       "make a request code for the authority",
		UsageText:   "airlock instance request [--license TAG=N]... [--out FILE|URL [--to RECIPIENT]...] [--known-hosts FILE] [--ssh-key FILE]... [--state DIR]",
		Description: instanceRequestDescription,
		Flags: fileOutFlags("also write the request as an armored `FILE` (or to an sftp:// URL)",
			&cli.StringSliceFlag{Name: flagWant, Usage: "ask for `TAG=N` licenses; repeatable"},
		),
		OnUsageError: onUsageError,
		Action:       instanceRequest,
	}
}

func instanceRequest(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	wanted, err := parseWant(c, flagWant)
	if err != nil {
		return err
	}
	recipients, err := outRecipients(c, "request.age")
	if err != nil {
		return err
	}
	in, err := openInstance(c)
	if err != nil {
		return err
	}
	dest, err := prepareCopyOut(c)
	if err != nil {
		return err
	}
	defer dest.close()
	code, err := in.Request(wanted)
	if err != nil {
		return err
	}
	if err := printNewCode(c, dest, codes.KindRequest, code, recipients, "the request is recorded but its code is lost: run 'airlock instance request' again for a new one"); err != nil {
		return err
	}
	st, err := in.Status()
	if err != nil {
		return err
	}
	p := st.Pending[len(st.Pending)-1]
	w := c.App.ErrWriter
	note(w, "request %x for authority key %s: %s", p.Nonce, p.KeyID, describeLicenses(p.Wanted))
	if n := len(st.Pending); n > 1 {
		note(w, "%d requests are pending; the first code installed answers them all", n)
	}
	note(w, "take the request code to the authority, then install the authorization code it answers with")
	return nil
}

const instanceCancelDescription = `cancel drops the pending requests: an authorization code issued for one
of them will not install. Such a code can still be handed back with
'airlock instance return-authorization', so that the authority releases
its licenses.

Example:

    $ airlock instance cancel
    airlock: cancelled 1 pending request; a code issued for it will not install`

func instanceCancelCommand() *cli.Command {
	return &cli.Command{
		Name:         "cancel",
		Usage:        "drop the pending requests",
		UsageText:    "airlock instance cancel [--state DIR]",
		Description:  instanceCancelDescription,
		Flags:        instanceFlags(),
		OnUsageError: onUsageError,
		Action:       instanceCancel,
	}
}

func instanceCancel(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	in, err := openInstance(c)
	if err != nil {
		return err
	}
	before, err := in.Status()
	if err != nil {
		return err
	}
	if err := in.Cancel(); err != nil {
		return err
	}
	note(c.App.ErrWriter, "cancelled %s; a code issued for it will not install", plural(len(before.Pending), "pending request", "pending requests"))
	return nil
}

// modeName is the name of a mode in messages.
func modeName(m instance.Mode) string {
	if m == instance.ModeEnabled {
		return "reservation enabled"
	}
	return m.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
