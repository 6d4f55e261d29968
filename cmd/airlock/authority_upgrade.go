package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/authority"
)

const flagNotification = "notification"
const flagQuantity = "quantity"

func authorityUpgradeCommand() *cli.Command {
	return &cli.Command{
		Name:      "upgrade",
		Usage:     "redeem an upgrade notification: convert licenses to another product",
		UsageText: "airlock authority upgrade --notification ID --org ORG --product FROM --quantity N [--support-contact NAME] [--yes] [--dir DIR]\n   airlock authority upgrade issue --from SOFTWARE:TAG --to SOFTWARE:TAG --quantity N [--years N] [--org ORG] [--dir DIR]",
		Description: `upgrade redeems the upgrade notification --notification (UN-…, as the
vendor sent it) for the organization --org: it checks that the
notification upgrades the product (software) --product and has
--quantity licenses left, and that the organization holds that many in
its registered license keys not yet redeemed into a wallet; it converts
them (oldest keys first), issues the new license key (printed once on
standard output) with the support registration of the keys it replaces
(--support-contact updates its contact), and records it all. It says
what it will do and asks; --yes does it without asking.

'airlock authority upgrade issue' is the vendor's side: a notification
that lets up to --quantity licenses of --from (SOFTWARE:TAG) become
licenses of --to, redeemable by --org only when given.

` + portalRolesHelp + `

Example:

    $ airlock authority upgrade issue --from vms:vms.camera.core --to vms-pro:vmspro.camera --quantity 5 --org acme
    UN-…
    $ airlock authority upgrade --actor ann@acme.example --notification UN-… --org acme --product vms --quantity 4 --yes
    LK-…
    airlock: 4 vms.camera.core of "vms" upgraded to vmspro.camera of "vms-pro": license key 1a2b3c4d5e6f7a8b registered to "acme"

Exit status: 0 when done; 1 when refused or not confirmed; 2 for a wrong
command line.`,
		Flags: ledgerFlags(
			&cli.StringFlag{Name: flagNotification, Usage: "the upgrade notification `ID` (UN-…)"},
			&cli.StringFlag{Name: flagOrg, Usage: "the organization `ORG`"},
			&cli.StringFlag{Name: flagProduct, Usage: "the product (software) `FROM` the licenses are of now"},
			&cli.Int64Flag{Name: flagQuantity, Usage: "convert `N` licenses"},
			&cli.StringFlag{Name: flagSupportContact, Usage: "the new key's support contact `NAME`"},
			&cli.BoolFlag{Name: flagYes, Usage: "upgrade without asking"},
		),
		OnUsageError: onUsageError,
		Action:       authorityUpgrade,
		Subcommands: []*cli.Command{{
			Name:      "issue",
			Usage:     "issue an upgrade notification (the vendor only)",
			UsageText: "airlock authority upgrade issue --from SOFTWARE:TAG --to SOFTWARE:TAG --quantity N [--years N] [--org ORG] [--dir DIR]",
			Flags: ledgerFlags(
				&cli.StringFlag{Name: flagFrom, Usage: "the licenses upgraded: `SOFTWARE:TAG`"},
				&cli.StringFlag{Name: flagTo, Usage: "what they become: `SOFTWARE:TAG`"},
				&cli.Int64Flag{Name: flagQuantity, Usage: "up to `N` licenses"},
				&cli.IntFlag{Name: flagYears, Value: 1, Usage: "`N` subscription years each new license covers"},
				&cli.StringFlag{Name: flagOrg, Usage: "only the organization `ORG` may redeem it"},
			),
			OnUsageError: onUsageError,
			Action:       authorityUpgradeIssue,
		}},
	}
}

// softwareTag reads SOFTWARE:TAG.
func softwareTag(c *cli.Context, name string) (string, string, error) {
	sw, tag, ok := strings.Cut(c.String(name), ":")
	if !ok || sw == "" || tag == "" {
		return "", "", usagef(c.Command.HelpName, "for example: --"+name+" vms:vms.camera.core", "--%s %q: want SOFTWARE:TAG", name, c.String(name))
	}
	return sw, tag, nil
}

func authorityUpgradeIssue(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	fromSW, fromTag, err := softwareTag(c, flagFrom)
	if err != nil {
		return err
	}
	toSW, toTag, err := softwareTag(c, flagTo)
	if err != nil {
		return err
	}
	if !c.IsSet(flagQuantity) {
		return usagef(c.Command.HelpName, "for example: --quantity 5", "missing --%s N", flagQuantity)
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	id, err := d.l.IssueUpgradeNotice(d.ctx, authority.UpgradeNotice{FromSoftware: fromSW, FromTag: fromTag, ToSoftware: toSW, ToTag: toTag,
		Years: c.Int(flagYears), Quantity: c.Int64(flagQuantity)}, c.String(flagOrg))
	if err != nil {
		return err
	}
	if err := writeResult(c.App.Writer, []byte(id+"\n")); err != nil {
		return withHint(err, "the notification is recorded but was not printed: issue another one")
	}
	note(c.App.ErrWriter, "upgrade notification issued: send its id to the customer; the ledger keeps only its hash")
	return nil
}

func authorityUpgrade(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	v, err := requireFlags(c, flagNotification, "UN-…", flagOrg, "acme", flagProduct, "vms")
	if err != nil {
		return err
	}
	if !c.IsSet(flagQuantity) {
		return usagef(c.Command.HelpName, "for example: --quantity 4", "missing --%s N", flagQuantity)
	}
	n := c.Int64(flagQuantity)
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	u, err := d.l.Upgrade(d.ctx, v[0], v[1], v[2], n, c.String(flagSupportContact), true)
	if err != nil {
		return err
	}
	if err := confirm(c, fmt.Sprintf("convert %d %s of %q held by %q into a new license key for %d %s of %q (notification %s, %d of %d left)?",
		n, u.Notice.FromTag, u.Notice.FromSoftware, v[1], n, u.Notice.ToTag, u.Notice.ToSoftware, authority.KeyID(u.Notice.Hash),
		u.Notice.Quantity-u.Notice.Used, u.Notice.Quantity)); err != nil {
		return err
	}
	if u, err = d.l.Upgrade(d.ctx, v[0], v[1], v[2], n, c.String(flagSupportContact), false); err != nil {
		return err
	}
	if err := writeResult(c.App.Writer, []byte(u.Key+"\n")); err != nil {
		return withHint(err, "the upgrade is recorded but its key was not printed, and the ledger keeps only its hash: ask the vendor")
	}
	note(c.App.ErrWriter, "%d %s of %q upgraded to %s of %q: license key %s registered to %q", n, u.Notice.FromTag, u.Notice.FromSoftware,
		u.Notice.ToTag, u.Notice.ToSoftware, u.Record.KeyID(), v[1])
	return nil
}
