package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

// Flags of the product, key and wallet commands.
const (
	flagSoftware  = "software"
	flagProduct   = "product"
	flagYears     = "years"
	flagExtension = "extension"
	flagYes       = "yes"
)

// errNotConfirmed means an irreversible act was not confirmed: the user
// answered no, or there was no terminal to ask on and no --yes.
var errNotConfirmed = errors.New("not confirmed")

// walletHints are the hints of the product, key and wallet sentinels.
var walletHints = []struct {
	sentinel error
	hint     string
}{
	{errNotConfirmed, "nothing changed; check the organization, the product and the key, then run the command again (with --yes where no one can answer)"},
	{authority.ErrKeyMalformed, "a license key looks like LK-XXXXXXXXX-XXXXXXXXX-XXXXXXXXX: copy it again from where it came"},
	{authority.ErrKeyTypo, "check the group named above against the key you were given and type it again"},
	{authority.ErrKeyUnknown, "a key redeems only at the authority that issued it: check the key with whoever sold it"},
	{authority.ErrKeyRedeemed, "a license key is redeemed once; see the wallet with 'airlock authority wallet show --org ORG --product PRODUCT'"},
	{authority.ErrKeySoftware, "redeem it into a product of the key's software; 'airlock authority product list --org ORG' lists the products and their software"},
}

func init() { hints = append(hints, walletHints...) }

const authorityProductDescription = `product groups the commands on products: the software an organization
runs, e.g. the video management system of one site. A product belongs to
one organization, and its name is unique within it; it has a software
(what it is, e.g. vms), which license keys name: a key for vms redeems
only into products of software vms. Each product has a wallet of the
licenses bought and not yet allocated (airlock authority wallet).
Offline systems register to a product from their system description
files (airlock authority product register): what they need is the
demand the product's subscription covers (airlock authority
subscription).

Example:

    $ airlock authority product add --org acme --software vms site-1
    airlock: product "acme/site-1" of software "vms" added
    $ airlock authority product list --org acme
    PRODUCT  SOFTWARE  ADDED
    site-1   vms       2025-03-01T12:00:00Z`

func authorityProductCommand() *cli.Command {
	return &cli.Command{
		Name:            "product",
		Usage:           "add and list the products of an organization, register their systems",
		UsageText:       "airlock authority product COMMAND [OPTIONS] [ARGUMENTS]",
		Description:     authorityProductDescription,
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "add a product to an organization",
				UsageText: "airlock authority product add --org ORG --software SOFTWARE [--dir DIR] NAME",
				Description: `add adds the product NAME of the software --software to the organization
--org. Names have letters, digits, '.', '_' and '-', and start with a
letter or digit; two organizations may each have a product of the same
name.

Example:

    $ airlock authority product add --org acme --software vms site-1
    airlock: product "acme/site-1" of software "vms" added`,
				Flags: ledgerFlags(
					&cli.StringFlag{Name: flagOrg, Usage: "add the product to the organization `ORG`"},
					&cli.StringFlag{Name: flagSoftware, Usage: "the product is `SOFTWARE` (e.g. vms): license keys for it redeem into the product"},
				),
				OnUsageError: onUsageError,
				Action:       authorityProductAdd,
			},
			{
				Name:      "list",
				Usage:     "list the products of an organization",
				UsageText: "airlock authority product list --org ORG [--json] [--dir DIR]",
				Description: `list prints the products of the organization --org, by name: never
those of another organization.

Example:

    $ airlock authority product list --org acme
    PRODUCT  SOFTWARE  ADDED
    doors    access    2025-03-02T08:00:00Z
    site-1   vms       2025-03-01T12:00:00Z

With --json it prints an array of objects with the members org, name,
software and added (RFC 3339 UTC).`,
				Flags: ledgerFlags(
					&cli.StringFlag{Name: flagOrg, Usage: "list the products of the organization `ORG`"},
					&cli.BoolFlag{Name: flagJSON, Usage: "print JSON instead of a table"},
				),
				OnUsageError: onUsageError,
				Action:       authorityProductList,
			},
			{
				Name:      "register",
				Usage:     "register a system to a product from its system description file",
				UsageText: "airlock authority product register --org ORG --product PRODUCT [--identity FILE]... [--dir DIR] FILE|-",
				Description: `register verifies the system description FILE (armored, age-encrypted
with --identity, or - for standard input) with this authority's key and
registers the system to the product --product of the organization
--org: its demand counts toward the product's subscription (airlock
authority subscription), and each component it lists with a tag is
hardware with one preloaded license of that tag, which registering
activates. A component belongs to one product: a description that lists
one registered to another product is refused.

The product's systems are instances of the virtual account named like
the product in its organization (ORG/PRODUCT), made if missing: airlock
authority show and history work for them as for any instance. The
instance key is pinned to the system's UDI as reserve pins it. A newer
description of a registered system replaces the old one (its demand
grows or shrinks; its hardware stays registered); the same file twice
changes nothing.

The system then gets its code with airlock authority subscription
deliver.

Example:

    $ airlock authority product register --org acme --product site-1 plant4.airlock
    airlock: system "Plant 4" (P:VMS,S:plant-4,U:0f2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b) registered to "acme/site-1", account "acme/site-1": demand 10 vms.camera.core
    airlock: preloaded licenses activated: 1 vms.camera.hw on SN-1
    $ airlock authority product register --org acme --product site-1 plant4.airlock
    airlock: system "Plant 4" (P:VMS,S:plant-4,U:0f2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b) registered before, nothing changed

Exit status: 0 when the system was registered or was before; 1 when the
file does not verify or the system or a component belongs to another
product; 2 for a wrong command line.`,
				Flags: keyFlags(
					&cli.StringFlag{Name: flagOrg, Usage: "the organization `ORG`"},
					&cli.StringFlag{Name: flagProduct, Usage: "register the system to the product `PRODUCT` of --org"},
				),
				OnUsageError: onUsageError,
				Action:       authorityProductRegister,
			},
		},
	}
}

// requireFlag returns a string flag's value, or a usage error naming it.
func requireFlag(c *cli.Context, name, example string) (string, error) {
	v := c.String(name)
	if v == "" {
		return "", usagef(c.Command.HelpName, "for example: --"+name+" "+example, "missing --%s", name)
	}
	return v, nil
}

func authorityProductAdd(c *cli.Context) error {
	if err := checkArgs(c, 1, 1, "NAME"); err != nil {
		return err
	}
	org, err := requireFlag(c, flagOrg, "acme")
	if err != nil {
		return err
	}
	software, err := requireFlag(c, flagSoftware, "vms")
	if err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	p, err := d.l.AddProduct(d.ctx, org, c.Args().First(), software)
	if err != nil {
		return err
	}
	note(c.App.ErrWriter, "product %q of software %q added", p.Ref(), p.Software)
	return nil
}

type productJSON struct {
	Org      string `json:"org"`
	Name     string `json:"name"`
	Software string `json:"software"`
	Added    string `json:"added"`
}

func authorityProductList(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	org, err := requireFlag(c, flagOrg, "acme")
	if err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	ps, err := d.l.Products(d.ctx, org)
	if err != nil {
		return err
	}
	if c.Bool(flagJSON) {
		out := make([]productJSON, 0, len(ps))
		for _, p := range ps {
			out = append(out, productJSON{Org: p.Org, Name: p.Name, Software: p.Software, Added: codes.FormatTime(p.CreatedAt)})
		}
		return writeJSON(c, out)
	}
	if len(ps) == 0 {
		note(c.App.ErrWriter, "organization %q has no products yet: add one with 'airlock authority product add --org %s --software SOFTWARE NAME'", org, org)
		return nil
	}
	rows := [][]string{{"PRODUCT", "SOFTWARE", "ADDED"}}
	for _, p := range ps {
		rows = append(rows, []string{p.Name, p.Software, codes.FormatTime(p.CreatedAt)})
	}
	return writeResult(c.App.Writer, tableCols(rows, nil))
}

const authorityKeyDescription = `key groups the commands on license keys: what the vendor sells across the
counter, and the customer's desk redeems into a product's wallet
(airlock authority wallet redeem).

A key is typed like a code, LK and three groups with a check character
each, so that a typo is caught with its group. It is 120 random bits
and nothing else: what it carries is in the ledger, which stores only
the key's hash, so that a copy of the ledger redeems nothing. A key is
shown once, when it is issued, and redeems once.

A key names the software it is for (--software vms), not a product of an
organization: the vendor sells it before anyone knows where it goes, and
it redeems only into products of that software.

Example:

    $ airlock authority key issue --software vms --tag vms.camera.core --count 10 --years 3
    LK-7KQ2M9XAC-P0D4RT6WF-B3ZN8H1YE
    airlock: license key 3f1c0e9a7d52b468 issued for "vms": 10 vms.camera.core × 3 years
    airlock: this is the only time the key is shown: hand it over now`

func authorityKeyCommand() *cli.Command {
	return &cli.Command{
		Name:            "key",
		Usage:           "issue license keys",
		UsageText:       "airlock authority key COMMAND [OPTIONS] [ARGUMENTS]",
		Description:     authorityKeyDescription,
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{{
			Name:  "issue",
			Usage: "issue a license key or an extension key",
			UsageText: "airlock authority key issue --software SOFTWARE --tag TAG --count N [--years Y] [--dir DIR]\n" +
				"airlock authority key issue --software SOFTWARE --extension --tag TAG=N [--tag TAG=N]... [--dir DIR]",
			Description: `issue issues one license key for the software --software and prints it on
standard output, once: the ledger keeps only its hash.

A license key carries --count licenses of one --tag for --years
subscription years (1 to 5, default 1): redeemed, it brings count × years
one-year licenses into the wallet, e.g. 10 cameras for 3 years are 30.

An extension key (--extension) carries counts of several tags, each
--tag TAG=N, for hardware-bound products; hardware licenses are not
counted in years, so --years is refused with it.

Example:

    $ airlock authority key issue --software vms --tag vms.camera.core --count 10 --years 3
    LK-7KQ2M9XAC-P0D4RT6WF-B3ZN8H1YE
    airlock: license key 3f1c0e9a7d52b468 issued for "vms": 10 vms.camera.core × 3 years
    airlock: this is the only time the key is shown: hand it over now
    $ airlock authority key issue --software vms --extension --tag vms.camera.hw=2 --tag vms.io=4
    LK-…
    airlock: license key 90d2… issued for "vms": extension: 2 vms.camera.hw, 4 vms.io`,
			Flags: ledgerFlags(
				&cli.StringFlag{Name: flagSoftware, Aliases: []string{flagProduct}, Usage: "the key redeems into products of `SOFTWARE` (e.g. vms); --product is another name for it"},
				&cli.StringSliceFlag{Name: flagTag, Usage: "the key carries licenses of `TAG`; with --extension TAG=N, repeatable"},
				&cli.Int64Flag{Name: flagCount, Usage: "the key carries `N` licenses of --tag"},
				&cli.IntFlag{Name: flagYears, Usage: "each license covers `Y` subscription years, 1 to 5 (default 1)"},
				&cli.BoolFlag{Name: flagExtension, Usage: "issue an extension key for hardware-bound products, with --tag TAG=N for each tag"},
			),
			OnUsageError: onUsageError,
			Action:       authorityKeyIssue,
		}},
	}
}

func authorityKeyIssue(c *cli.Context) error {
	cmd := c.Command.HelpName
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	software, err := requireFlag(c, flagSoftware, "vms")
	if err != nil {
		return err
	}
	tags := c.StringSlice(flagTag)
	if len(tags) == 0 {
		return usagef(cmd, "for example: --tag vms.camera.core --count 10", "missing --%s", flagTag)
	}
	spec := authority.KeySpec{Software: software, Years: c.Int(flagYears), Extension: c.Bool(flagExtension)}
	if c.IsSet(flagYears) && spec.Years < 1 {
		return usagef(cmd, "", "--%s %d: a key covers 1 to %d years", flagYears, spec.Years, authority.MaxKeyYears)
	}
	if spec.Extension {
		if c.IsSet(flagCount) {
			return usagef(cmd, "write each tag with its count: --tag vms.camera.hw=2", "--%s is not used with --%s", flagCount, flagExtension)
		}
		if c.IsSet(flagYears) {
			return usagef(cmd, "drop --years: hardware licenses are not counted in years", "--%s is not used with --%s", flagYears, flagExtension)
		}
		for _, t := range tags {
			tag, n, ok := strings.Cut(t, "=")
			count, err := strconv.ParseInt(n, 10, 64)
			if !ok || err != nil {
				return usagef(cmd, "for example: --tag vms.camera.hw=2", "--%s %q is not TAG=N", flagTag, t)
			}
			spec.Lines = append(spec.Lines, authority.KeyLine{Tag: tag, Count: count})
		}
	} else {
		if len(tags) > 1 {
			return usagef(cmd, "a license key carries one tag; issue an extension key (--extension --tag TAG=N ...) for several", "--%s given %d times", flagTag, len(tags))
		}
		if strings.Contains(tags[0], "=") {
			return usagef(cmd, "write --tag TAG --count N, or add --extension for an extension key", "--%s %q: a license key takes its count from --%s", flagTag, tags[0], flagCount)
		}
		if !c.IsSet(flagCount) {
			return usagef(cmd, "for example: --count 10", "missing --%s N", flagCount)
		}
		spec.Lines = []authority.KeyLine{{Tag: tags[0], Count: c.Int64(flagCount)}}
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	k, err := d.l.IssueKey(d.ctx, spec)
	if err != nil {
		return err
	}
	if err := writeResult(c.App.Writer, []byte(k.Key+"\n")); err != nil {
		return fmt.Errorf("%w; license key %s is issued, and lost: issue another", err, k.Record.KeyID())
	}
	note(c.App.ErrWriter, "license key %s issued for %q: %s", k.Record.KeyID(), spec.Software, k.Record.Describe())
	note(c.App.ErrWriter, "this is the only time the key is shown: hand it over now")
	return nil
}

// describeCounts says "30 vms.camera.core, 4 vms.io".
func describeCounts(ls []authority.KeyLine) string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = fmt.Sprintf("%d %s", l.Count, l.Tag)
	}
	return strings.Join(parts, ", ")
}

const authorityWalletDescription = `wallet groups the commands on a product's wallet: the licenses bought and
not yet allocated. Licenses enter a wallet as lots, one per tag of a
redeemed license key, and stay there five years to the second (calendar
years: a lot that entered on 29 February expires on 1 March); an expired
lot is shown as expired and never counted.

Example:

    $ airlock authority wallet redeem --org acme --product site-1 --yes LK-7KQ2M9XAC-P0D4RT6WF-B3ZN8H1YE
    airlock: license key 3f1c0e9a7d52b468 redeemed into the wallet of "acme/site-1": 30 vms.camera.core, expiring 2030-03-01T12:00:00Z
    $ airlock authority wallet show --org acme --product site-1
    LOT  TAG              COUNT  ENTERED               EXPIRES               KEY
    1    vms.camera.core     30  2025-03-01T12:00:00Z  2030-03-01T12:00:00Z  3f1c0e9a7d52b468

    TAG              TOTAL
    vms.camera.core     30`

func authorityWalletCommand() *cli.Command {
	return &cli.Command{
		Name:            "wallet",
		Usage:           "redeem license keys into a product's wallet and show it",
		UsageText:       "airlock authority wallet COMMAND [OPTIONS] [ARGUMENTS]",
		Description:     authorityWalletDescription,
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{
			{
				Name:      "show",
				Usage:     "show a product's wallet: lots by expiry, totals per tag",
				UsageText: "airlock authority wallet show --org ORG --product PRODUCT [--json] [--dir DIR]",
				Description: `show prints the lots of the wallet of the product --product of the
organization --org, the soonest to expire first, then the licenses per
tag in the lots that have not expired. An expired lot says so in the
EXPIRES column and counts for nothing.

Example:

    $ airlock authority wallet show --org acme --product site-1
    LOT  TAG              COUNT  ENTERED               EXPIRES                         KEY
    1    vms.camera.core     10  2020-02-01T09:00:00Z  2025-02-01T09:00:00Z (expired)  51d0c7e2a9b3f468
    2    vms.camera.core     30  2025-03-01T12:00:00Z  2030-03-01T12:00:00Z            3f1c0e9a7d52b468

    TAG              TOTAL
    vms.camera.core     30

With --json it prints an object with the members org, product, software,
at (the time the totals are for), lots (id, tag, count, initial,
entered, expires, expired, key, extension) and totals (tag, count);
times are RFC 3339 UTC.`,
				Flags: productFlags("show the wallet of the product `PRODUCT` of --org",
					&cli.BoolFlag{Name: flagJSON, Usage: "print JSON instead of tables"},
				),
				OnUsageError: onUsageError,
				Action:       authorityWalletShow,
			},
			{
				Name:      "redeem",
				Usage:     "redeem a license key into a product's wallet",
				UsageText: "airlock authority wallet redeem --org ORG --product PRODUCT [--yes] [--dir DIR] KEY",
				Description: `redeem redeems the license KEY into the wallet of the product --product
of the organization --org, in one transaction recorded in the history
by the key's id (never the key). A key redeems once, and only into a
product of the software it was issued for. Spaces, dashes and case in
KEY do not matter, O reads as 0 and I or L as 1. KEY - reads the key
from the first line of standard input, which keeps it out of the shell's
history and the process list.

Redeeming cannot be undone: redeem shows what the key brings and asks
on the terminal; --yes redeems without asking. Without a terminal and
without --yes it refuses and changes nothing.

The refusals, each changing nothing: a key that is not one (empty, too
long, another prefix, a group missing); a typo, with the group to retype;
a key this authority never issued; a key redeemed before (with when, and
into which product if it was this organization's); a key for another
software than the product's.

Example:

    $ airlock authority wallet redeem --org acme --product site-1 LK-7KQ2M9XAC-P0D4RT6WF-B3ZN8H1YE
    airlock: redeem 30 vms.camera.core into the wallet of acme/site-1? this cannot be undone [y/N] y
    airlock: license key 3f1c0e9a7d52b468 redeemed into the wallet of "acme/site-1": 30 vms.camera.core, expiring 2030-03-01T12:00:00Z
    $ airlock authority wallet redeem --org acme --product site-1 --yes LK-7KQ2M9XAC-P0D4RT6WF-B3ZN8H1YE
    airlock: error: license key already redeemed: license key 3f1c0e9a7d52b468 was redeemed 2025-03-01T12:00:00Z into "acme/site-1" by dave

Exit status: 0 when the key was redeemed; 1 when it was refused or not
confirmed; 2 for a wrong command line.`,
				Flags: productFlags("redeem into the wallet of the product `PRODUCT` of --org",
					&cli.BoolFlag{Name: flagYes, Usage: "redeem without asking: redeeming cannot be undone"},
				),
				OnUsageError: onUsageError,
				Action:       authorityWalletRedeem,
			},
		},
	}
}

// productFlags are the flags of a command on a product: the ledger's,
// --org, --product (with its usage) and more.
func productFlags(product string, more ...cli.Flag) []cli.Flag {
	return ledgerFlags(append([]cli.Flag{
		&cli.StringFlag{Name: flagOrg, Usage: "the organization `ORG`"},
		&cli.StringFlag{Name: flagProduct, Usage: product},
	}, more...)...)
}

// productDesk checks that a product command has no arguments, reads
// --org and --product, and opens the desk.
func productDesk(c *cli.Context) (org, name string, d *desk, err error) {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return "", "", nil, err
	}
	if org, name, err = orgProduct(c); err != nil {
		return "", "", nil, err
	}
	d, err = openDesk(c, false)
	return org, name, d, err
}

// orgProduct returns --org and --product.
func orgProduct(c *cli.Context) (string, string, error) {
	org, err := requireFlag(c, flagOrg, "acme")
	if err != nil {
		return "", "", err
	}
	p, err := requireFlag(c, flagProduct, "site-1")
	if err != nil {
		return "", "", err
	}
	return org, p, nil
}

type walletLotJSON struct {
	ID        int64  `json:"id"`
	Tag       string `json:"tag"`
	Count     int64  `json:"count"`
	Initial   int64  `json:"initial"`
	Entered   string `json:"entered"`
	Expires   string `json:"expires"`
	Expired   bool   `json:"expired"`
	Key       string `json:"key"`
	Extension bool   `json:"extension"`
}

type walletTotalJSON struct {
	Tag   string `json:"tag"`
	Count int64  `json:"count"`
}

type walletJSON struct {
	Org      string            `json:"org"`
	Product  string            `json:"product"`
	Software string            `json:"software"`
	At       string            `json:"at"`
	Lots     []walletLotJSON   `json:"lots"`
	Totals   []walletTotalJSON `json:"totals"`
}

func authorityWalletShow(c *cli.Context) error {
	org, name, d, err := productDesk(c)
	if err != nil {
		return err
	}
	defer d.Close()
	w, err := d.l.Wallet(d.ctx, org, name)
	if err != nil {
		return err
	}
	if c.Bool(flagJSON) {
		out := walletJSON{Org: w.Product.Org, Product: w.Product.Name, Software: w.Product.Software, At: codes.FormatTime(w.At),
			Lots: []walletLotJSON{}, Totals: []walletTotalJSON{}}
		for _, l := range w.Lots {
			out.Lots = append(out.Lots, walletLotJSON{ID: l.ID, Tag: l.Tag, Count: l.Count, Initial: l.Initial,
				Entered: codes.FormatTime(l.EnteredAt), Expires: codes.FormatTime(l.ExpiresAt), Expired: l.Expired(w.At),
				Key: authority.KeyID(l.KeyHash), Extension: l.Extension})
		}
		for _, t := range w.Totals {
			out.Totals = append(out.Totals, walletTotalJSON{Tag: t.Tag, Count: t.Count})
		}
		return writeJSON(c, out)
	}
	if len(w.Lots) == 0 {
		note(c.App.ErrWriter, "the wallet of %q is empty: redeem a license key with 'airlock authority wallet redeem --org %s --product %s KEY'", w.Product.Ref(), org, name)
		return nil
	}
	rows := [][]string{{"LOT", "TAG", "COUNT", "ENTERED", "EXPIRES", "KEY"}}
	for _, l := range w.Lots {
		exp := codes.FormatTime(l.ExpiresAt)
		if l.Expired(w.At) {
			exp += " (expired)"
		}
		tag := l.Tag
		if l.Extension {
			tag += " (extension)"
		}
		rows = append(rows, []string{fmt.Sprint(l.ID), tag, fmt.Sprint(l.Count), codes.FormatTime(l.EnteredAt), exp, authority.KeyID(l.KeyHash)})
	}
	out := tableCols(rows, map[int]bool{2: true})
	totals := [][]string{{"TAG", "TOTAL"}}
	for _, t := range w.Totals {
		totals = append(totals, []string{t.Tag, fmt.Sprint(t.Count)})
	}
	if len(w.Totals) == 0 {
		totals = append(totals, []string{"(none: every lot has expired)", ""})
	}
	out = append(append(out, '\n'), tableCols(totals, map[int]bool{1: true})...)
	return writeResult(c.App.Writer, out)
}

func authorityWalletRedeem(c *cli.Context) error {
	if err := checkArgs(c, 1, 1, "KEY"); err != nil {
		return err
	}
	org, name, err := orgProduct(c)
	if err != nil {
		return err
	}
	key := c.Args().First()
	if key == "-" {
		if key, err = readKeyLine(c.App.Reader); err != nil {
			return err
		}
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	// Every refusal comes before the question: nobody is asked to
	// confirm a key that would be refused.
	r, err := d.l.CheckRedeem(d.ctx, org, name, key)
	if err != nil {
		return err
	}
	question := fmt.Sprintf("redeem %s into the wallet of %s? this cannot be undone", describeCounts(r.Licenses()), r.Product.Ref())
	if err := confirm(c, question); err != nil {
		return err
	}
	r, err = d.l.Redeem(d.ctx, org, name, key)
	if err != nil {
		return err
	}
	expires := ""
	if len(r.Lots) > 0 {
		expires = ", expiring " + codes.FormatTime(r.Lots[0].ExpiresAt)
	}
	note(c.App.ErrWriter, "license key %s redeemed into the wallet of %q: %s%s", r.KeyID, r.Product.Ref(), describeCounts(r.Licenses()), expires)
	return nil
}

// readKeyLine reads the first line of r, a byte at a time so that a
// confirmation read later from r starts on the next line. It stops after
// authority.MaxKeyInput+1 bytes: ParseKey refuses a longer key.
func readKeyLine(r io.Reader) (string, error) {
	var b []byte
	one := make([]byte, 1)
	for len(b) <= authority.MaxKeyInput {
		n, err := r.Read(one)
		if n == 1 {
			if one[0] == '\n' {
				break
			}
			b = append(b, one[0])
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("reading the key from standard input: %w", err)
		}
	}
	return string(b), nil
}

// maxAnswer caps what confirm reads as an answer, in bytes.
const maxAnswer = 64

// confirm asks question on the terminal and returns nil for "y" or "yes";
// with --yes it asks nothing. Without a terminal it refuses: an
// irreversible act is never taken on input nobody typed.
func confirm(c *cli.Context, question string) error {
	if c.Bool(flagYes) {
		return nil
	}
	f, ok := c.App.Reader.(*os.File)
	if !ok || !isTerminal(f) {
		return withHint(fmt.Errorf("%w: standard input is not a terminal to ask %q on", errNotConfirmed, question),
			"pass --"+flagYes+" to do it without asking")
	}
	fmt.Fprintf(c.App.ErrWriter, "%s%s [y/N] ", prefix, question)
	line, err := bufio.NewReader(io.LimitReader(f, maxAnswer)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading the answer: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return fmt.Errorf("%w: the answer was not yes", errNotConfirmed)
}
