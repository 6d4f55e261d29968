package main

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/authority"
)

const authorityTierDescription = `tier groups the commands on tier ladders: a product may declare an ordered
list of tiers of its licenses, lowest first, e.g. essential < basic <
enhanced < enhanced-plus.

In connected mode ('airlock authority serve'), when an instance asks for
more of a tier than its account has, licenses of the higher tiers cover
the rest, the nearest tier first: the instance's code carries the tier it
asked for, the account's higher-tier licenses are held for it, and the
answer and the history say what was borrowed. In reservation mode
nothing is borrowed: a reserve or update refused for a shortfall of a tier
says which reservation would cover it with the higher tier.

A tag is in at most one ladder. Only the vendor's staff set ladders.

Example:

    $ airlock authority tier set vms vms.essential vms.basic vms.enhanced vms.enhanced-plus
    airlock: tier ladder vms: vms.essential < vms.basic < vms.enhanced < vms.enhanced-plus
    $ airlock authority tier list
    LADDER  TIERS, LOWEST FIRST
    vms     vms.essential < vms.basic < vms.enhanced < vms.enhanced-plus
    $ airlock authority tier delete vms
    airlock: tier ladder vms deleted`

func authorityTierCommand() *cli.Command {
	return &cli.Command{
		Name:            "tier",
		Usage:           "declare tier ladders: higher tiers cover lower ones in connected mode",
		UsageText:       "airlock authority tier set|list|delete [OPTIONS] [ARGUMENTS]",
		Description:     authorityTierDescription,
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{
			{
				Name:      "set",
				Usage:     "set a tier ladder, lowest tier first",
				UsageText: "airlock authority tier set [--dir DIR] NAME TAG TAG [TAG]...",
				Description: `set makes the tier ladder NAME of the tags given, lowest tier first (at
least two, at most 16), or replaces the ladder of that name. A tag may be
in one ladder only. The history records the ladder, and the one it
replaced.

Example:

    $ airlock authority tier set vms vms.basic vms.enhanced
    airlock: tier ladder vms: vms.basic < vms.enhanced

Exit status: 0 when set; 1 when refused (a tag in another ladder, not the
vendor's staff); 2 for a wrong command line.`,
				Flags:        ledgerFlags(),
				OnUsageError: onUsageError,
				Action:       authorityTierSet,
			},
			{
				Name:      "list",
				Usage:     "list the tier ladders",
				UsageText: "airlock authority tier list [--json] [--dir DIR]",
				Description: `list prints the tier ladders by name, each with its tiers lowest first.
The ladders are the vendor's catalogue: once the ledger has people, only
the vendor's staff list them.

With --json: an array of objects with name, tags (lowest first),
created and created_by.

Exit status: 0 when printed; 1 when refused; 2 for a wrong command line.`,
				Flags:        ledgerFlags(&cli.BoolFlag{Name: flagJSON, Usage: "print JSON instead of text"}),
				OnUsageError: onUsageError,
				Action:       authorityTierList,
			},
			{
				Name:      "delete",
				Usage:     "delete a tier ladder",
				UsageText: "airlock authority tier delete [--dir DIR] NAME",
				Description: `delete deletes the tier ladder NAME: its tiers cover each other no more.
Codes issued with licenses of a higher tier keep them until their next
renewal.

Exit status: 0 when deleted; 1 when refused (no such ladder); 2 for a
wrong command line.`,
				Flags:        ledgerFlags(),
				OnUsageError: onUsageError,
				Action:       authorityTierDelete,
			},
		},
	}
}

func authorityTierSet(c *cli.Context) error {
	if err := checkArgs(c, 3, 1+authority.MaxLadderLen, "NAME TAG TAG [TAG]..."); err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	args := c.Args().Slice()
	l, err := d.l.SetLadder(d.ctx, args[0], args[1:])
	if err != nil {
		return err
	}
	note(c.App.ErrWriter, "tier ladder %s: %s", l.Name, strings.Join(l.Tags, " < "))
	return nil
}

type ladderJSON struct {
	Name      string   `json:"name"`
	Tags      []string `json:"tags"`
	Created   string   `json:"created"`
	CreatedBy string   `json:"created_by"`
}

func authorityTierList(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	ls, err := d.l.Ladders(d.ctx)
	if err != nil {
		return err
	}
	out := make([]ladderJSON, len(ls))
	rows := [][]string{{"LADDER", "TIERS, LOWEST FIRST"}}
	for i, l := range ls {
		out[i] = ladderJSON{Name: l.Name, Tags: l.Tags, Created: unixRFC(l.CreatedAt), CreatedBy: l.CreatedBy}
		rows = append(rows, []string{l.Name, strings.Join(l.Tags, " < ")})
	}
	return writeListing(c, out, rows, nil, "no tier ladder yet: 'airlock authority tier set NAME TAG TAG' makes one")
}

func authorityTierDelete(c *cli.Context) error {
	if err := checkArgs(c, 1, 1, "NAME"); err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	name := c.Args().First()
	if err := d.l.DeleteLadder(d.ctx, name); err != nil {
		return err
	}
	note(c.App.ErrWriter, "tier ladder %s deleted", name)
	return nil
}
