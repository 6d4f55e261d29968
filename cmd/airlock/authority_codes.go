package main

import (
	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

// Flags of remove.
const flagReason = "reason"

const authorityConfirmDescription = `confirm takes the confirmation code an instance made when it installed an
updated authorization code. It verifies the code with the key the
instance shares with this authority, and releases the licenses that
were in transition because of that update.

A confirmation of a serial older than the latest code is applied, and
says so: the instance left the serials before it, but it may still
install the latest, whose freed licenses stay in transition until that
one is confirmed. The same confirmation twice changes nothing.

The argument is a typed code (quote it if it has spaces), the path of a
file (armored, or age-encrypted with --identity), or - for standard
input.

Example:

    $ airlock authority confirm CF-1A2B3C4D5-…
    airlock: P:VMS,S:cam-1 installed serial 2 of reservation 0a1b2c3d; released 6 vms.camera.core

    $ airlock authority confirm CF-1A2B3C4D5-…
    airlock: nothing changed: this confirmation was applied 2025-03-01T12:00:00Z

Exit status: 0 when the code was applied or changed nothing; 1 when it
does not verify or names a serial never issued or a closed reservation;
2 for a wrong command line.`

func authorityConfirmCommand() *cli.Command {
	return &cli.Command{
		Name:         "confirm",
		Usage:        "take a confirmation code: release what an update freed",
		UsageText:    "airlock authority confirm [--identity FILE]... [--dir DIR] CODE|FILE|-",
		Description:  authorityConfirmDescription,
		Flags:        keyFlags(),
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			return applyInstanceCode(c, codes.KindConfirmation)
		},
	}
}

const authorityReturnDescription = `return takes the return code an instance made when it gave its
reservation back. It verifies the code with the key the instance shares
with this authority, and releases every license of the reservation,
those in transition included.

The code must name a serial the instance may hold: from the latest one
it confirmed (or 1) to the latest issued. A code never installed
(return-authorization) releases a reservation only before it was
updated. The same return twice is harmless and says so.

Example:

    $ airlock authority return RT-GH0A0JD2V-…
    airlock: reservation 0a1b2c3d of P:VMS,S:cam-1 returned (serial 2); released 2 vms.analytics, 4 vms.camera.core

    $ airlock authority return RT-GH0A0JD2V-…
    airlock: nothing changed: this return was applied 2025-03-01T12:00:00Z

Exit status: 0 when the code was applied or was applied before; 1 when it
does not verify or is stale; 2 for a wrong command line.`

func authorityReturnCommand() *cli.Command {
	return &cli.Command{
		Name:         "return",
		Usage:        "take a return code: release a reservation",
		UsageText:    "airlock authority return [--identity FILE]... [--dir DIR] CODE|FILE|-",
		Description:  authorityReturnDescription,
		Flags:        keyFlags(),
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			return applyInstanceCode(c, codes.KindReturn)
		},
	}
}

func applyInstanceCode(c *cli.Context, kind codes.Kind) error {
	if err := checkArgs(c, 1, 1, "CODE|FILE|-"); err != nil {
		return err
	}
	ids, err := identities(c)
	if err != nil {
		return err
	}
	code, err := readCode(c, c.Args().First(), kind, ids)
	if err != nil {
		return err
	}
	d, err := openDesk(c, true)
	if err != nil {
		return err
	}
	defer d.Close()
	var a *authority.Applied
	if kind == codes.KindConfirmation {
		a, err = d.l.Confirm(d.ctx, code)
	} else {
		a, err = d.l.Return(d.ctx, code)
	}
	if err != nil {
		return err
	}
	stderr := c.App.ErrWriter
	for _, line := range appliedNotes(kind, a) {
		note(stderr, "%s", line)
	}
	return nil
}

func orNothing(ls []codes.License) string {
	if len(ls) == 0 {
		return "nothing"
	}
	return authority.FormatLicenses(ls)
}

// shortUDI returns "P:…,S:…" of a UDI's text form.
func shortUDI(udi string) string {
	if u, err := codes.ParseUDI(udi); err == nil {
		return u.Short()
	}
	return udi
}

const authorityRemoveDescription = `remove removes an instance that will never make a return code, after a
hardware failure or an RMA: it releases the instance's reservation and
frees its UDI, so that a rebuilt instance with a new key can reserve
again. The reason is recorded in the history.

Each virtual account may remove at most its removal limit of instances
that still held licenses (3 unless set with airlock authority account
set) within 365 days; beyond that remove is refused with the count.

Example:

    $ airlock authority remove --instance P:VMS,S:cam-1 --reason "RMA 4711: mainboard failed"
    airlock: removed P:VMS,S:cam-1; released reservation 0a1b2c3d (10 vms.camera.core); removal 1 of 3 for "acme/plant" in 365 days

Exit status: 0 when the instance was removed; 1 when it was refused; 2
for a wrong command line.`

func authorityRemoveCommand() *cli.Command {
	return &cli.Command{
		Name:        "remove",
		Usage:       "remove a failed instance that cannot return its reservation",
		UsageText:   "airlock authority remove --instance UDI --reason TEXT [--dir DIR]",
		Description: authorityRemoveDescription,
		Flags: ledgerFlags(
			&cli.StringFlag{Name: flagInstance, Usage: "the instance's `UDI` (or its P:…,S:… part)"},
			&cli.StringFlag{Name: flagReason, Usage: "why, for the history, e.g. `TEXT` \"RMA 4711\""},
		),
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			cmd := c.Command.HelpName
			if err := checkArgs(c, 0, 0, ""); err != nil {
				return err
			}
			if c.String(flagInstance) == "" {
				return usagef(cmd, "for example: --instance P:VMS,S:cam-1", "missing --%s UDI", flagInstance)
			}
			if c.String(flagReason) == "" {
				return usagef(cmd, `for example: --reason "RMA 4711: mainboard failed"`, "missing --%s TEXT", flagReason)
			}
			d, err := openDesk(c, false)
			if err != nil {
				return err
			}
			defer d.Close()
			r, err := d.l.Remove(d.ctx, c.String(flagInstance), c.String(flagReason))
			if err != nil {
				return err
			}
			if r.Reservation == "" {
				note(c.App.ErrWriter, "removed %s; it held no licenses", shortUDI(r.UDI))
				return nil
			}
			note(c.App.ErrWriter, "removed %s; released reservation %s (%s); removal %d of %d for %q in 365 days",
				shortUDI(r.UDI), r.Reservation, orNothing(r.Released), r.Removals, r.Limit, r.Account)
			return nil
		},
	}
}

const authoritySystemDescription = `system groups the commands on offline systems: an instance that
describes itself, its hardware components and the licenses it needs in a
system description file, and gets its authorization code with airlock
authority reserve --system NAME.

Example:

    $ airlock authority system import --account acme/plant plant4.airlock
    airlock: system "Plant 4 VMS" (P:VMS,S:plant-4) registered in "acme/plant": 2 components, demand 25 vms.camera.core
    $ airlock authority reserve --system "Plant 4 VMS" --out plant4-authorization.airlock`

func authoritySystemCommand() *cli.Command {
	return &cli.Command{
		Name:            "system",
		Usage:           "register offline systems from their description files",
		UsageText:       "airlock authority system COMMAND [OPTIONS] [ARGUMENTS]",
		Description:     authoritySystemDescription,
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{{
			Name:      "import",
			Usage:     "register a system from its system description file",
			UsageText: "airlock authority system import --account ORG/ACCOUNT [--identity FILE]... [--dir DIR] FILE",
			Description: `import verifies a system description file with this authority's key,
pins the instance key to the system's UDI as reserve does, and registers
the system, its components and its demand in the virtual account
--account. A newer description replaces the old one while the system
holds no reservation; the same file twice changes nothing.

Example:

    $ airlock authority system import --account acme/plant plant4.airlock
    airlock: system "Plant 4 VMS" (P:VMS,S:plant-4) registered in "acme/plant": 2 components, demand 25 vms.camera.core`,
			Flags: keyFlags(
				&cli.StringFlag{Name: flagAccount, Usage: "register the system in `ORG/ACCOUNT`"},
			),
			OnUsageError: onUsageError,
			Action: func(c *cli.Context) error {
				if err := checkArgs(c, 1, 1, "FILE"); err != nil {
					return err
				}
				if c.String(flagAccount) == "" {
					return usagef(c.Command.HelpName, "for example: --account acme/plant", "missing --%s ORG/ACCOUNT", flagAccount)
				}
				ids, err := identities(c)
				if err != nil {
					return err
				}
				code, err := readCode(c, c.Args().First(), codes.KindSystem, ids)
				if err != nil {
					return err
				}
				d, err := openDesk(c, true)
				if err != nil {
					return err
				}
				defer d.Close()
				r, err := d.l.ImportSystem(d.ctx, c.String(flagAccount), code)
				if err != nil {
					return err
				}
				note(c.App.ErrWriter, "%s", systemNote(r))
				return nil
			},
		}},
	}
}
