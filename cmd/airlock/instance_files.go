package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/codes"
)

const instanceSystemFileDescription = `system-file writes the system description of an offline system for the
authority: the instance's UDI and key, a name, its hardware components
and how many licenses of each tag it needs, with a fresh nonce, made for
the trust file's current authority key. The authority registers the
system from it and answers with an authorization code.

--component ID:MODEL[:TAG] names a piece of hardware (its serial or
hardware id and its model) and, with TAG, the hardware-bound license it
needs; --demand TAG=N the licenses the system needs. The name defaults to
the host name. --to encrypts the file with age for removable media.

With reservation enabled and no reservation installed, the description
is also a request: its nonce is kept as a pending request, so that the
authorization code the authority answers it with installs (as after
'airlock instance request'). Otherwise it changes nothing in the state.

Examples:

    $ airlock instance system-file --out plant4.airlock --name "plant 4 VMS" \
          --component SN-0042:CameraX1:vms.camera.hw --demand vms.camera.core=25
    airlock: wrote plant4.airlock
    airlock: system description "plant 4 VMS" for authority key 115f3d60785cabde: 1 component, demand 25 vms.camera.core

    $ airlock instance system-file --out sftp://site@drop.example.com/~/inbox/plant4.airlock --name "plant 4 VMS" \
          --demand vms.camera.core=25
    airlock: wrote sftp://site@drop.example.com/~/inbox/plant4.airlock
    airlock: system description "plant 4 VMS" for authority key 115f3d60785cabde: 0 components, demand 25 vms.camera.core

` + sftpWriteHelp + `

Exit status: 0 when the file was written; 1 when it could not be (or the
file exists with other content); 2 for a wrong command line.`

func instanceSystemFileCommand() *cli.Command {
	return &cli.Command{
		Name:        "system-file",
		Usage:       "write the system description file of an offline system",
		UsageText:   "airlock instance system-file --out FILE|URL [--name NAME] [--component ID:MODEL[:TAG]]... [--demand TAG=N]... [--to RECIPIENT]... [--known-hosts FILE] [--ssh-key FILE]... [--state DIR]",
		Description: instanceSystemFileDescription,
		Flags: fileOutFlags("write the armored system description to `FILE` (- for standard output, or an sftp:// URL)",
			&cli.StringFlag{Name: flagSystemName, Usage: "the system's `NAME` (default: the host name)"},
			&cli.StringSliceFlag{Name: flagComponent, Usage: "a hardware component, `ID:MODEL[:TAG]`; repeatable"},
			&cli.StringSliceFlag{Name: flagDemand, Usage: "the system needs `TAG=N` licenses; repeatable"},
		),
		OnUsageError: onUsageError,
		Action:       instanceSystemFile,
	}
}

func instanceSystemFile(c *cli.Context) error {
	cmd := c.Command.HelpName
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	out := c.String(flagOut)
	if out == "" {
		return usagef(cmd, "for example: --out system.airlock", "missing --%s FILE", flagOut)
	}
	var components []codes.Component
	for _, v := range c.StringSlice(flagComponent) {
		parts := strings.SplitN(v, ":", 3)
		if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
			return usagef(cmd, "for example: --component SN-0042:CameraX1:vms.camera.hw", "--%s %q is not ID:MODEL[:TAG]", flagComponent, v)
		}
		comp := codes.Component{ID: parts[0], Model: parts[1]}
		if len(parts) == 3 {
			comp.Tag = parts[2]
		}
		components = append(components, comp)
	}
	demand, err := parseWant(c, flagDemand)
	if err != nil {
		return err
	}
	recipients, err := recipientsFlag(c)
	if err != nil {
		return err
	}
	in, err := openInstance(c)
	if err != nil {
		return err
	}
	name := c.String(flagSystemName)
	if name == "" {
		if name, err = os.Hostname(); err != nil || name == "" {
			name = in.UDI().Short()
		}
	}
	dest, err := prepareOut(c, out)
	if err != nil {
		return err
	}
	defer dest.close()
	code, err := in.SystemFile(name, components, demand)
	if err != nil {
		return err
	}
	if err := writeCodeOut(c, dest, codes.KindSystem, code, recipients); err != nil {
		return err
	}
	st, err := in.Status()
	if err != nil {
		return err
	}
	note(c.App.ErrWriter, "system description %q for authority key %s: %s, demand %s", name, st.AuthorityKey,
		plural(len(components), "component", "components"), describeLicenses(demand))
	return nil
}

const instanceUsageReportDescription = `usage-report writes a usage report for the authority: for each tag, the
most used at once (peak) and the count in use now, over the period since
the last report (or init), with the clock's high-water mark, the
reservation installed and the head of the instance's journal. The
report is MACed for the authority key of the installed reservation.
Writing it starts a new period, so the report is kept: if its file is
lost, --again writes the same report again.

Examples:

    $ airlock instance usage-report --out usage.airlock
    airlock: wrote usage.airlock
    airlock: usage report for 2025-01-15T09:30:00Z to 2025-02-14T09:30:00Z: vms.camera.core peak 7, now 2

    $ airlock instance usage-report --out sftp://site@drop.example.com/~/inbox/cam-1.usage.airlock
    airlock: wrote sftp://site@drop.example.com/~/inbox/cam-1.usage.airlock
    airlock: usage report for 2025-02-14T09:30:00Z to 2025-03-16T09:30:00Z: vms.camera.core peak 9, now 4

` + sftpWriteHelp + `

If the drop cannot be reached, or refuses the login, no report is made
and the period goes on.

Exit status: 0 when the file was written; 1 when it could not be (then
--again writes it); 2 for a wrong command line.`

func instanceUsageReportCommand() *cli.Command {
	return &cli.Command{
		Name:        "usage-report",
		Usage:       "write a usage report for the authority",
		UsageText:   "airlock instance usage-report --out FILE|URL [--to RECIPIENT]... [--again] [--known-hosts FILE] [--ssh-key FILE]... [--state DIR]",
		Description: instanceUsageReportDescription,
		Flags: fileOutFlags("write the armored report to `FILE` (- for standard output, or an sftp:// URL)",
			&cli.BoolFlag{Name: flagAgain, Usage: "write the last report again instead of a new one"},
		),
		OnUsageError: onUsageError,
		Action:       instanceUsageReport,
	}
}

func instanceUsageReport(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	out := c.String(flagOut)
	if out == "" {
		return usagef(c.Command.HelpName, "for example: --out usage.airlock", "missing --%s FILE", flagOut)
	}
	recipients, err := recipientsFlag(c)
	if err != nil {
		return err
	}
	in, err := openInstance(c)
	if err != nil {
		return err
	}
	dest, err := prepareOut(c, out)
	if err != nil {
		return err
	}
	defer dest.close()
	var code []byte
	if c.Bool(flagAgain) {
		if code, err = in.LastUsageReport(); err != nil {
			return err
		}
		if code == nil {
			return withHint(fmt.Errorf("no usage report was made yet"), "run 'airlock instance usage-report --out FILE' without --again")
		}
	} else if code, err = in.UsageReport(); err != nil {
		return err
	}
	if err := writeCodeOut(c, dest, codes.KindUsage, code, recipients); err != nil {
		return withHint(err, "the report is kept: 'airlock instance usage-report --again --out FILE' writes it again")
	}
	u, err := codes.ParseUnverifiedUsage(code) // our own, just made
	if err != nil {
		return err
	}
	var parts []string
	for _, t := range u.Tags {
		parts = append(parts, fmt.Sprintf("%s peak %d, now %d", t.Tag, t.Peak, t.Current))
	}
	if len(parts) == 0 {
		parts = append(parts, "nothing used")
	}
	note(c.App.ErrWriter, "usage report for %s to %s: %s", codes.FormatTime(u.From), codes.FormatTime(u.To), strings.Join(parts, "; "))
	return nil
}
