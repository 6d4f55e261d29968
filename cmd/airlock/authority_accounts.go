package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

// Flags of the account and lot commands.
const (
	flagRemovalLimit     = "removal-limit"
	flagPerpetual        = "perpetual"
	flagTerm             = "term"
	flagSubscription     = "subscription"
	flagHardware         = "hardware"
	flagExportControlled = "export-controlled"
	flagOrigin           = "origin"
	flagFrom             = "from"
)

const authorityOrgDescription = `org groups the commands on organizations: the customers. Licenses never
move from one organization to another.

Example:

    $ airlock authority org add acme
    airlock: organization "acme" added`

func authorityOrgCommand() *cli.Command {
	return &cli.Command{
		Name:            "org",
		Usage:           "add organizations (customers)",
		UsageText:       "airlock authority org COMMAND [OPTIONS] [ARGUMENTS]",
		Description:     authorityOrgDescription,
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: append([]*cli.Command{{
			Name:      "add",
			Usage:     "add an organization",
			UsageText: "airlock authority org add [--dir DIR] NAME",
			Description: `add adds an organization. A name has letters, digits, '.', '_' and '-',
and starts with a letter or digit.

Example:

    $ airlock authority org add acme
    airlock: organization "acme" added`,
			Flags:        ledgerFlags(),
			OnUsageError: onUsageError,
			Action: func(c *cli.Context) error {
				if err := checkArgs(c, 1, 1, "NAME"); err != nil {
					return err
				}
				d, err := openDesk(c, false)
				if err != nil {
					return err
				}
				defer d.Close()
				o, err := d.l.AddOrg(d.ctx, c.Args().First())
				if err != nil {
					return err
				}
				note(c.App.ErrWriter, "organization %q added", o.Name)
				return nil
			},
		}}, orgDelegateCommands()...),
	}
}

const authorityAccountDescription = `account groups the commands on virtual accounts: the partitions of an
organization's licenses, written ORG/ACCOUNT. Licenses move freely
between the accounts of one organization (airlock authority transfer).

Each account allows a number of removals without a return per 365 days
(airlock authority remove): 3 unless set otherwise.

Example:

    $ airlock authority account add --org acme plant
    airlock: account "acme/plant" added, at most 3 removals without a return per 365 days
    $ airlock authority account set --removal-limit 5 acme/plant
    airlock: removal limit of "acme/plant" set to 5 per 365 days`

func authorityAccountCommand() *cli.Command {
	return &cli.Command{
		Name:            "account",
		Usage:           "add virtual accounts and set their removal limit",
		UsageText:       "airlock authority account COMMAND [OPTIONS] [ARGUMENTS]",
		Description:     authorityAccountDescription,
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "add a virtual account to an organization",
				UsageText: "airlock authority account add --org ORG [--removal-limit N] [--dir DIR] NAME",
				Description: `add adds a virtual account to the organization --org.

Example:

    $ airlock authority account add --org acme plant
    airlock: account "acme/plant" added, at most 3 removals without a return per 365 days`,
				Flags: ledgerFlags(
					&cli.StringFlag{Name: flagOrg, Usage: "add the account to the organization `ORG`"},
					&cli.IntFlag{Name: flagRemovalLimit, Value: authority.DefaultRemovalLimit, Usage: "allow `N` removals without a return per 365 days"},
				),
				OnUsageError: onUsageError,
				Action: func(c *cli.Context) error {
					if err := checkArgs(c, 1, 1, "NAME"); err != nil {
						return err
					}
					org := c.String(flagOrg)
					if org == "" {
						return usagef(c.Command.HelpName, "for example: --org acme", "missing --%s ORG", flagOrg)
					}
					n := c.Int(flagRemovalLimit)
					if n < 0 {
						return usagef(c.Command.HelpName, "", "--%s %d is negative", flagRemovalLimit, n)
					}
					d, err := openDesk(c, false)
					if err != nil {
						return err
					}
					defer d.Close()
					a, err := d.l.AddAccount(d.ctx, org, c.Args().First(), n)
					if err != nil {
						return err
					}
					note(c.App.ErrWriter, "account %q added, at most %d removals without a return per 365 days", a.Ref(), a.RemovalLimit)
					return nil
				},
			},
			{
				Name:      "set",
				Usage:     "set the removal limit or the export control of a virtual account",
				UsageText: "airlock authority account set [--removal-limit N] [--export-controlled allow|deny] [--dir DIR] ORG/ACCOUNT",
				Description: `set changes how many instances an account may remove without a return
per 365 days, and whether the account may hold export-controlled licenses.

An account may hold them unless the vendor denies them (--export-controlled
deny): then its reservations and updates take no export-controlled lot, its
export request codes are refused, and its connected instances are
authorized none, whatever their registration token allows. What they hold
already stays until it is returned or renewed. Only the vendor's staff set
it.

Examples:

    $ airlock authority account set --removal-limit 5 acme/plant
    airlock: removal limit of "acme/plant" set to 5 per 365 days
    $ airlock authority account set --export-controlled deny acme/lab
    airlock: export-controlled licenses of "acme/lab" denied`,
				Flags: ledgerFlags(
					&cli.IntFlag{Name: flagRemovalLimit, Value: -1, Usage: "allow `N` removals without a return per 365 days"},
					&cli.StringFlag{Name: flagExportControlled, Usage: "`allow` or deny the account export-controlled licenses"},
				),
				OnUsageError: onUsageError,
				Action: func(c *cli.Context) error {
					if err := checkArgs(c, 1, 1, "ORG/ACCOUNT"); err != nil {
						return err
					}
					n := c.Int(flagRemovalLimit)
					if !c.IsSet(flagRemovalLimit) && !c.IsSet(flagExportControlled) {
						return usagef(c.Command.HelpName, "for example: --removal-limit 5, or --export-controlled deny", "nothing to set: give --%s N or --%s allow|deny", flagRemovalLimit, flagExportControlled)
					}
					if c.IsSet(flagRemovalLimit) && n < 0 {
						return usagef(c.Command.HelpName, "for example: --removal-limit 5", "--%s %d is negative", flagRemovalLimit, n)
					}
					var allow bool
					switch v := c.String(flagExportControlled); v {
					case "allow":
						allow = true
					case "deny", "":
						if c.IsSet(flagExportControlled) && v == "" {
							return usagef(c.Command.HelpName, "", "--%s is allow or deny", flagExportControlled)
						}
					default:
						return usagef(c.Command.HelpName, "", "--%s %q is neither allow nor deny", flagExportControlled, v)
					}
					d, err := openDesk(c, false)
					if err != nil {
						return err
					}
					defer d.Close()
					ref := c.Args().First()
					if c.IsSet(flagRemovalLimit) {
						if err := d.l.SetRemovalLimit(d.ctx, ref, n); err != nil {
							return err
						}
						note(c.App.ErrWriter, "removal limit of %q set to %d per 365 days", ref, n)
					}
					if c.IsSet(flagExportControlled) {
						if err := d.l.SetExportAllowed(d.ctx, ref, allow); err != nil {
							return err
						}
						note(c.App.ErrWriter, "export-controlled licenses of %q %s", ref, map[bool]string{true: "allowed", false: "denied"}[allow])
					}
					return nil
				},
			},
		},
	}
}

const authorityLotDescription = `lot add adds licenses to a virtual account: --count licenses of --tag,
which entered together (an order, a converted voucher), with their kind:

- --perpetual (the default): no dates;
- --term START..END: valid from the start of START to the end of END,
  UTC (dates as YYYY-MM-DD, or RFC 3339 times, END then exclusive);
- --subscription START..END: as a term, renewed by newer codes;
- --hardware: bound to one hardware component each, given to the
  components of a system (airlock authority reserve --system); with
  --term, for that term only.

--export-controlled marks them in every code that carries them, and
--origin says where they came from (by default, who added them).

Example:

    $ airlock authority lot add --account acme/plant --tag vms.camera.core --count 25 --perpetual --origin "order 4711"
    airlock: lot 1: 25 vms.camera.core (perpetual) added to "acme/plant"
    $ airlock authority lot add --account acme/plant --tag vms.analytics --count 4 --term 2025-01-01..2025-12-31 --export-controlled
    airlock: lot 2: 4 vms.analytics (term 2025-01-01T00:00:00Z..2026-01-01T00:00:00Z, export-controlled) added to "acme/plant"`

func authorityLotCommand() *cli.Command {
	return &cli.Command{
		Name:            "lot",
		Usage:           "add licenses to a virtual account",
		UsageText:       "airlock authority lot COMMAND [OPTIONS]",
		Description:     authorityLotDescription,
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{{
			Name:        "add",
			Usage:       "add a lot of licenses to a virtual account",
			UsageText:   "airlock authority lot add --account ORG/ACCOUNT --tag TAG --count N [--perpetual | --term START..END | --subscription START..END | --hardware [--term START..END]] [--export-controlled] [--origin TEXT] [--dir DIR]",
			Description: authorityLotDescription,
			Flags: ledgerFlags(
				&cli.StringFlag{Name: flagAccount, Usage: "add the licenses to `ORG/ACCOUNT`"},
				&cli.StringFlag{Name: flagTag, Usage: "the licenses' `TAG`"},
				&cli.Int64Flag{Name: flagCount, Usage: "`N` licenses"},
				&cli.BoolFlag{Name: flagPerpetual, Usage: "licenses without dates (the default)"},
				&cli.StringFlag{Name: flagTerm, Usage: "licenses valid from `START..END` (YYYY-MM-DD..YYYY-MM-DD, END included)"},
				&cli.StringFlag{Name: flagSubscription, Usage: "a subscription from `START..END`"},
				&cli.BoolFlag{Name: flagHardware, Usage: "licenses bound to one hardware component each"},
				&cli.BoolFlag{Name: flagExportControlled, Usage: "mark the licenses export-controlled"},
				&cli.StringFlag{Name: flagOrigin, Usage: "where the licenses came from, e.g. `TEXT` \"order 4711\""},
			),
			OnUsageError: onUsageError,
			Action:       authorityLotAdd,
		}},
	}
}

// parseTerm reads START..END: dates are whole days UTC, END included; RFC
// 3339 times are taken as they are, END excluded.
func parseTerm(s string) (start, end int64, err error) {
	a, b, ok := strings.Cut(s, "..")
	if !ok {
		return 0, 0, fmt.Errorf("%q is not START..END", s)
	}
	st, err := parseDay(a)
	if err != nil {
		return 0, 0, fmt.Errorf("start %q: %v", a, err)
	}
	en, err := parseDay(b)
	if err != nil {
		return 0, 0, fmt.Errorf("end %q: %v", b, err)
	}
	if _, err := time.Parse(time.DateOnly, b); err == nil {
		en = en.AddDate(0, 0, 1)
	}
	if !en.After(st) {
		return 0, 0, fmt.Errorf("%q ends before it starts", s)
	}
	return st.Unix(), en.Unix(), nil
}

func authorityLotAdd(c *cli.Context) error {
	cmd := c.Command.HelpName
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	spec := authority.LotSpec{Account: c.String(flagAccount), Tag: c.String(flagTag), Count: c.Int64(flagCount),
		ExportControlled: c.Bool(flagExportControlled), Origin: c.String(flagOrigin)}
	switch {
	case spec.Account == "":
		return usagef(cmd, "for example: --account acme/plant", "missing --%s ORG/ACCOUNT", flagAccount)
	case spec.Tag == "":
		return usagef(cmd, "for example: --tag vms.camera.core", "missing --%s TAG", flagTag)
	case !c.IsSet(flagCount):
		return usagef(cmd, "for example: --count 25", "missing --%s N", flagCount)
	}
	kinds := 0
	for _, f := range []string{flagPerpetual, flagSubscription, flagHardware} {
		if c.IsSet(f) {
			kinds++
		}
	}
	if c.IsSet(flagTerm) && !c.Bool(flagHardware) {
		kinds++
	}
	if kinds > 1 {
		return usagef(cmd, "", "give one of --%s, --%s, --%s and --%s (--%s may take a --%s)", flagPerpetual, flagTerm, flagSubscription, flagHardware, flagHardware, flagTerm)
	}
	var dates string
	switch {
	case c.Bool(flagHardware):
		spec.Kind, dates = codes.Hardware, c.String(flagTerm)
	case c.IsSet(flagTerm):
		spec.Kind, dates = codes.Term, c.String(flagTerm)
	case c.IsSet(flagSubscription):
		spec.Kind, dates = codes.Subscription, c.String(flagSubscription)
	}
	if dates != "" {
		var err error
		if spec.Start, spec.End, err = parseTerm(dates); err != nil {
			return usagef(cmd, "write the dates as 2025-01-01..2025-12-31", "%v", err)
		}
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	lot, err := d.l.AddLot(d.ctx, spec)
	if err != nil {
		return err
	}
	note(c.App.ErrWriter, "lot %d: %d %s (%s) added to %q", lot.ID, lot.Count, lot.Tag, lotTerms(lot), spec.Account)
	return nil
}

// lotTerms says a lot's kind, dates and export flag.
func lotTerms(l *authority.Lot) string {
	s := l.Kind.String()
	if l.Start != 0 || l.End != 0 {
		s += " " + codes.FormatTime(l.Start) + ".." + codes.FormatTime(l.End)
	}
	if l.ExportControlled {
		s += ", export-controlled"
	}
	return s
}

const authorityLicensesDescription = `licenses shows, for each virtual account and tag, how many licenses the
account owns and how many are available, reserved by the latest code of
a reservation, and in transition (freed by an update the instance has
not confirmed yet). Owned = available + reserved + in transition.

Example:

    $ airlock authority licenses --account acme/plant
    ACCOUNT     TAG              OWNED  AVAILABLE  RESERVED  IN TRANSITION
    acme/plant  vms.analytics        4          2         2              0
    acme/plant  vms.camera.core     25         11        10              4

With --json it prints an array of objects with the members account, tag,
owned, available, reserved, in_transition and lots (id, kind, start,
end, export_controlled, count, held, origin; times RFC 3339 UTC or
null).`

func authorityLicensesCommand() *cli.Command {
	return &cli.Command{
		Name:        "licenses",
		Usage:       "show owned, available, reserved and in-transition licenses",
		UsageText:   "airlock authority licenses [--account ORG/ACCOUNT | --org ORG [--field NAME=VALUE]...] [--json] [--dir DIR]",
		Description: authorityLicensesDescription,
		Flags: ledgerFlags(
			&cli.StringFlag{Name: flagAccount, Usage: "show only `ORG/ACCOUNT`"},
			&cli.StringFlag{Name: flagOrg, Usage: "show the license keys registered to `ORG` instead (the portal's view)"},
			&cli.StringSliceFlag{Name: flagField, Usage: "with --org, only licenses whose custom field is so: `NAME=VALUE`; repeatable"},
			&cli.BoolFlag{Name: flagJSON, Usage: "print JSON instead of a table"},
		),
		OnUsageError: onUsageError,
		Action:       authorityLicenses,
	}
}

type lotJSON struct {
	ID               int64   `json:"id"`
	Kind             string  `json:"kind"`
	Start            *string `json:"start"`
	End              *string `json:"end"`
	ExportControlled bool    `json:"export_controlled"`
	Count            int64   `json:"count"`
	Held             int64   `json:"held"`
	Origin           string  `json:"origin"`
}

type balanceJSON struct {
	Account      string    `json:"account"`
	Tag          string    `json:"tag"`
	Owned        int64     `json:"owned"`
	Available    int64     `json:"available"`
	Reserved     int64     `json:"reserved"`
	InTransition int64     `json:"in_transition"`
	Lots         []lotJSON `json:"lots"`
}

func authorityLicenses(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	if c.IsSet(flagOrg) {
		if c.IsSet(flagAccount) {
			return usagef(c.Command.HelpName, "", "--%s and --%s show different things: give one", flagOrg, flagAccount)
		}
		return authorityOrgLicenses(c, d)
	}
	bs, err := d.l.Licenses(d.ctx, c.String(flagAccount))
	if err != nil {
		return err
	}
	if c.Bool(flagJSON) {
		out := make([]balanceJSON, 0, len(bs))
		for _, b := range bs {
			j := balanceJSON{Account: b.Account, Tag: b.Tag, Owned: b.Owned, Available: b.Available, Reserved: b.Reserved, InTransition: b.InTransition, Lots: []lotJSON{}}
			for _, l := range b.Lots {
				j.Lots = append(j.Lots, lotJSON{ID: l.ID, Kind: l.Kind.String(), Start: optTime(l.Start), End: optTime(l.End),
					ExportControlled: l.ExportControlled, Count: l.Count, Held: l.Held, Origin: l.Origin})
			}
			out = append(out, j)
		}
		return writeJSON(c, out)
	}
	if len(bs) == 0 {
		note(c.App.ErrWriter, "no licenses yet: add them with 'airlock authority lot add'")
		return nil
	}
	rows := [][]string{{"ACCOUNT", "TAG", "OWNED", "AVAILABLE", "RESERVED", "IN TRANSITION"}}
	for _, b := range bs {
		rows = append(rows, []string{b.Account, b.Tag, fmt.Sprint(b.Owned), fmt.Sprint(b.Available), fmt.Sprint(b.Reserved), fmt.Sprint(b.InTransition)})
	}
	return writeResult(c.App.Writer, tableCols(rows, map[int]bool{2: true, 3: true, 4: true, 5: true}))
}

// writeJSON prints v as indented JSON, with control and look-alike
// characters escaped.
func writeJSON(c *cli.Context, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeResult(c.App.Writer, append(escapeNonGraphic(b), '\n'))
}

// writeListing prints what a list command lists: j as JSON with --json;
// else the table rows (a header, then one row per item, with the columns
// in right aligned right), or none on standard error when there is no
// item.
func writeListing(c *cli.Context, j any, rows [][]string, right map[int]bool, none string) error {
	if c.Bool(flagJSON) {
		return writeJSON(c, j)
	}
	if len(rows) <= 1 {
		note(c.App.ErrWriter, "%s", none)
		return nil
	}
	return writeResult(c.App.Writer, tableCols(rows, right))
}

const authorityTransferDescription = `transfer moves licenses between two virtual accounts of one
organization: --count licenses of --tag, taken from the available part of
the source account's lots, oldest first. Each lot they come from becomes
a lot of the destination with the same terms. Licenses never move
between organizations.

Example:

    $ airlock authority transfer --from acme/plant --to acme/lab --tag vms.camera.core --count 5
    airlock: 5 vms.camera.core moved from "acme/plant" to "acme/lab" (lot 4)

    $ airlock authority transfer --from acme/plant --to globex/hq --tag vms.camera.core --count 5
    airlock: error: transfer across organizations: "acme/plant" belongs to "acme" and "globex/hq" to "globex": licenses never move between organizations
    airlock: hint: licenses stay in their organization: transfer between accounts of one organization`

func authorityTransferCommand() *cli.Command {
	return &cli.Command{
		Name:        "transfer",
		Usage:       "move licenses between virtual accounts of one organization",
		UsageText:   "airlock authority transfer --from ORG/ACCOUNT --to ORG/ACCOUNT --tag TAG --count N [--dir DIR]",
		Description: authorityTransferDescription,
		Flags: ledgerFlags(
			&cli.StringFlag{Name: flagFrom, Usage: "take the licenses from `ORG/ACCOUNT`"},
			&cli.StringFlag{Name: flagTo, Usage: "give them to `ORG/ACCOUNT`"},
			&cli.StringFlag{Name: flagTag, Usage: "the licenses' `TAG`"},
			&cli.Int64Flag{Name: flagCount, Usage: "move `N` licenses"},
		),
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			cmd := c.Command.HelpName
			if err := checkArgs(c, 0, 0, ""); err != nil {
				return err
			}
			for _, f := range []string{flagFrom, flagTo, flagTag, flagCount} {
				if !c.IsSet(f) {
					return usagef(cmd, "", "missing --%s", f)
				}
			}
			d, err := openDesk(c, false)
			if err != nil {
				return err
			}
			defer d.Close()
			lots, err := d.l.Transfer(d.ctx, c.String(flagFrom), c.String(flagTo), c.String(flagTag), c.Int64(flagCount))
			if err != nil {
				return err
			}
			ids := make([]string, len(lots))
			for i, l := range lots {
				ids[i] = fmt.Sprint(l.ID)
			}
			word := "lot"
			if len(ids) > 1 {
				word = "lots"
			}
			note(c.App.ErrWriter, "%d %s moved from %q to %q (%s %s)", c.Int64(flagCount), c.String(flagTag), c.String(flagFrom), c.String(flagTo), word, strings.Join(ids, ", "))
			return nil
		},
	}
}
