package main

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

// Flags of the activation-code pool commands.
const (
	flagPackage       = "package"
	flagValidity      = "validity"
	flagReference     = "reference"
	flagPK            = "pk"
	flagDK            = "dk"
	flagAutoRenew     = "auto-renew"
	flagNearExpiry    = "near-expiry"
	flagActivatedFrom = "activated-from"
	flagActivatedTo   = "activated-to"
	flagExpiresFrom   = "expires-from"
	flagExpiresTo     = "expires-to"
	flagDeleted       = "deleted"
	flagLimit         = "limit"
)

const authorityPoolDescription = `pool groups the commands on an organization's activation codes, which
the devices of its fleet products consume.

An organization buys activation codes in packages: a package has a name
and a validity (1y, 6m, 90d, 1y6m), the time a code keeps a device
active once consumed. Codes bought without a product land in the
organization's unallocated pool; codes bought for a product (by its
product key, PK) land in that product. Allocating unallocated codes to a
product cannot be undone, and a product holds codes of one package only.

Each device (device key, DK) consumes one code when it first activates
(airlock authority activation process). When its code ends it consumes
a new one, valid from the end of the old, if auto-renew is on for its
product and for the device, the device is not on the product's
blocklist and the product has codes left; otherwise it lapses. A deleted
device gets nothing back; if it activates again while its code is still
valid it consumes nothing. Deleting a product returns nothing.

Renewals happen when the ledger next touches the organization's devices
(an activation, a switch) and with 'airlock authority pool renew', which
a daily job should run.

Example:

    $ airlock authority pool product add --org acme --pk PK-CAM --name cameras --auto-renew
    $ airlock authority pool buy --org acme --package annual --validity 1y --count 1000 --reference PO-7
    $ airlock authority pool allocate --org acme --product PK-CAM --count 600 --yes
    $ airlock authority pool show --org acme`

func authorityPoolCommand() *cli.Command {
	return &cli.Command{
		Name:            "pool",
		Usage:           "buy, allocate and count activation codes for device fleets",
		UsageText:       "airlock authority pool COMMAND [OPTIONS] [ARGUMENTS]",
		Description:     authorityPoolDescription,
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{
			authorityPoolProductCommand(),
			{
				Name:      "buy",
				Usage:     "record activation codes an organization bought",
				UsageText: "airlock authority pool buy --org ORG --package NAME [--validity 1y] --count N [--product PK] [--reference TEXT] [--dir DIR]",
				Description: `buy records that the organization --org bought --count activation codes
of the package --package. The first purchase of a package defines it and
needs --validity (1y, 6m, 90d, 1y6m: years, months and days); later ones
may leave it out, or must repeat it exactly.

Without --product the codes land in the organization's unallocated pool
(allocate them with 'airlock authority pool allocate'); with --product
(a product key or name) they land in that product, which must hold codes
of this package or none yet.

Example:

    $ airlock authority pool buy --org acme --package annual --validity 1y --count 1000 --reference PO-7
    airlock: 1000 activation codes of package "annual" (1y) bought for acme/unallocated, reference PO-7

Exit status: 0 when the purchase was recorded; 1 when it was refused; 2
for a wrong command line.`,
				Flags: ledgerFlags(
					&cli.StringFlag{Name: flagOrg, Usage: "the organization `ORG`"},
					&cli.StringFlag{Name: flagPackage, Usage: "the package `NAME`"},
					&cli.StringFlag{Name: flagValidity, Usage: "the package's validity `PERIOD` (1y, 6m, 90d, 1y6m); needed for a new package"},
					&cli.Int64Flag{Name: flagCount, Usage: "`N` codes"},
					&cli.StringFlag{Name: flagProduct, Usage: "put the codes in the product `PK` (or its name) rather than the unallocated pool"},
					&cli.StringFlag{Name: flagReference, Usage: "the order `TEXT` to record with the purchase"},
				),
				OnUsageError: onUsageError,
				Action:       authorityPoolBuy,
			},
			{
				Name:      "allocate",
				Usage:     "allocate unallocated activation codes to a product, irreversibly",
				UsageText: "airlock authority pool allocate --org ORG --product PK --count N [--package NAME] [--yes] [--dir DIR]",
				Description: `allocate moves --count codes of the organization's unallocated pool to
the product --product (a product key or name). --package may be left
out when the product holds codes already (its package is taken) or when
a single package has unallocated codes.

A product holds codes of one package only: allocating another is
refused with the reason. The question and the refusals show the most
codes that can be allocated.

Allocating cannot be undone: allocate says what it will do and asks on
the terminal; --yes allocates without asking. Without a terminal and
without --yes it refuses and changes nothing. Every refusal comes before
the question.

Example:

    $ airlock authority pool allocate --org acme --product PK-CAM --count 600
    airlock: allocate 600 of the 1000 unallocated codes of package "annual" (1y) to product PK-CAM (cameras)? this cannot be undone [y/N] y
    airlock: 600 codes allocated to PK-CAM (cameras): it holds 600, 600 remaining; 400 unallocated codes of "annual" left

Exit status: 0 when the codes were allocated; 1 when the allocation was
refused or not confirmed; 2 for a wrong command line.`,
				Flags: productFlags("allocate to the product `PK` (its product key, or its name)",
					&cli.Int64Flag{Name: flagCount, Usage: "allocate `N` codes"},
					&cli.StringFlag{Name: flagPackage, Usage: "allocate codes of the package `NAME` (default: the product's, or the only one with unallocated codes)"},
					&cli.BoolFlag{Name: flagYes, Usage: "allocate without asking: allocating cannot be undone"},
				),
				OnUsageError: onUsageError,
				Action:       authorityPoolAllocate,
			},
			{
				Name:      "allocations",
				Usage:     "list the allocations of an organization or product",
				UsageText: "airlock authority pool allocations --org ORG [--product PK] [--json] [--dir DIR]",
				Description: `allocations lists every allocation of unallocated codes to the products
of the organization --org, or to the product --product only, oldest
first: when, by whom, how many, of which package, to which product.

With --json it prints an array of objects with the members id, at,
actor, pk, product (its name), package, validity and count.

Exit status: 0 when the list was printed; 1 when the organization or
product does not exist; 2 for a wrong command line.`,
				Flags: ledgerFlags(
					&cli.StringFlag{Name: flagOrg, Usage: "the organization `ORG`"},
					&cli.StringFlag{Name: flagProduct, Usage: "only the allocations to the product `PK` (or its name)"},
					&cli.BoolFlag{Name: flagJSON, Usage: "print JSON instead of text"},
				),
				OnUsageError: onUsageError,
				Action:       authorityPoolAllocations,
			},
			{
				Name:      "show",
				Aliases:   []string{"counts"},
				Usage:     "show an organization's activation-code counts",
				UsageText: "airlock authority pool show --org ORG [--json] [--dir DIR]",
				Description: `show prints the activation-code counts of the organization --org: total
(every code bought), used (consumed by devices), remaining (unallocated
and in live products), forfeited (left in deleted products), and
unallocated by package; then per product its package, total, used and
remaining, and the most codes of its package that can still be
allocated to it (for a product that holds none yet, the most of any one
package). Total = used + remaining + forfeited, always.

Example:

    $ airlock authority pool show --org acme
    organization: acme
    total: 1000  used: 2  remaining: 998  forfeited: 0

    PACKAGE  VALIDITY  UNALLOCATED
    annual   1y                400

    PK      NAME     PACKAGE  TOTAL  USED  REMAINING  ALLOCATABLE  AUTO-RENEW
    PK-CAM  cameras  annual     600     2        598          400  on

With --json it prints one object with the members org, total, used,
remaining, forfeited, unallocated (package, validity, count) and
products (pk, name, package, validity, total, used, remaining,
allocatable, auto_renew, deleted).

Exit status: 0 when the counts were printed; 1 when the organization
does not exist; 2 for a wrong command line.`,
				Flags:        orgReadFlags(),
				OnUsageError: onUsageError,
				Action:       authorityPoolShow,
			},
			{
				Name:      "auto-renew",
				Usage:     "turn a product's auto-renew on or off",
				UsageText: "airlock authority pool auto-renew --org ORG --product PK on|off [--dir DIR]",
				Description: `auto-renew turns the auto-renew of the product --product on or off. With
it on, a device whose code ends consumes a new one (unless its own
switch is off or it is on the blocklist); with it off, devices lapse
when their codes end.

Exit status: 0 when the switch is as asked; 1 when the product does not
exist; 2 for a wrong command line.`,
				Flags:        productFlags("the product `PK` (or its name)"),
				OnUsageError: onUsageError,
				Action:       authorityPoolAutoRenew,
			},
			authorityBlocklistCommand(),
			{
				Name:      "renew",
				Usage:     "renew or lapse every device whose code ended",
				UsageText: "airlock authority pool renew [--dir DIR]",
				Description: `renew applies the renewal rule to every device of every organization
whose code has ended: it consumes a new code, valid from the end of the
old, or the device lapses. Each renewal continues the window before it,
so a ledger that was not swept for a while renews once per period
missed. Run it daily (from cron or a systemd timer) next to 'airlock
authority alerts check'.

Exit status: 0 when done; 1 on an error; 2 for a wrong command line.`,
				Flags:        ledgerFlags(),
				OnUsageError: onUsageError,
				Action:       authorityPoolRenew,
			},
		},
	}
}

func authorityPoolProductCommand() *cli.Command {
	return &cli.Command{
		Name:            "product",
		Usage:           "add, list and delete fleet products",
		UsageText:       "airlock authority pool product COMMAND [OPTIONS]",
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "add a fleet product with its product key",
				UsageText: "airlock authority pool product add --org ORG --pk PK --name NAME [--auto-renew] [--dir DIR]",
				Description: `add adds a fleet product to the organization --org: its product key --pk
(unique in the ledger: gateways name products by it), its --name, and
whether its devices renew automatically (--auto-renew).

Exit status: 0 when the product was added; 1 when the key or name is
taken or the organization does not exist; 2 for a wrong command line.`,
				Flags: ledgerFlags(
					&cli.StringFlag{Name: flagOrg, Usage: "the organization `ORG`"},
					&cli.StringFlag{Name: flagPK, Usage: "the product key `PK` (letters, digits, . _ : -)"},
					&cli.StringFlag{Name: flagName, Usage: "the product's `NAME`"},
					&cli.BoolFlag{Name: flagAutoRenew, Usage: "renew its devices' codes when they end"},
				),
				OnUsageError: onUsageError,
				Action:       authorityPoolProductAdd,
			},
			{
				Name:      "list",
				Usage:     "list an organization's fleet products",
				UsageText: "airlock authority pool product list --org ORG [--json] [--dir DIR]",
				Description: `list prints the fleet products of the organization --org, as 'airlock
authority pool show' does, deleted ones included.

Exit status: 0 when the list was printed; 1 when the organization does
not exist; 2 for a wrong command line.`,
				Flags:        orgReadFlags(),
				OnUsageError: onUsageError,
				Action:       authorityPoolShow,
			},
			{
				Name:      "delete",
				Usage:     "delete a fleet product; its remaining codes are lost",
				UsageText: "airlock authority pool product delete --org ORG --product PK [--yes] [--dir DIR]",
				Description: `delete deletes the product --product: its devices stop renewing, leave
the next activation file of their gateway and are refused from then on,
and its remaining codes are forfeited: nothing returns to the
unallocated pool. delete says so and asks on the terminal; --yes
deletes without asking.

Exit status: 0 when the product was deleted; 1 when it was refused or
not confirmed; 2 for a wrong command line.`,
				Flags: productFlags("delete the product `PK` (or its name)",
					&cli.BoolFlag{Name: flagYes, Usage: "delete without asking: deleting cannot be undone and returns nothing"},
				),
				OnUsageError: onUsageError,
				Action:       authorityPoolProductDelete,
			},
		},
	}
}

func authorityBlocklistCommand() *cli.Command {
	flags := func(usage string) []cli.Flag {
		return productFlags("the product `PK` (or its name)")
	}
	return &cli.Command{
		Name:            "blocklist",
		Usage:           "keep devices of a product from renewing",
		UsageText:       "airlock authority pool blocklist add|remove|list --org ORG --product PK [DK...]",
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Description: `blocklist manages a product's auto-renew blocklist: a device on it lapses
when its code ends, whatever the switches say. Device keys may be listed
before the devices activate.`,
		Subcommands: []*cli.Command{
			{Name: "add", Usage: "put device keys on the blocklist", UsageText: "airlock authority pool blocklist add --org ORG --product PK DK...",
				Flags: flags(""), OnUsageError: onUsageError, Action: func(c *cli.Context) error { return authorityBlocklistSet(c, true) }},
			{Name: "remove", Usage: "take device keys off the blocklist", UsageText: "airlock authority pool blocklist remove --org ORG --product PK DK...",
				Flags: flags(""), OnUsageError: onUsageError, Action: func(c *cli.Context) error { return authorityBlocklistSet(c, false) }},
			{Name: "list", Usage: "list the blocklist", UsageText: "airlock authority pool blocklist list --org ORG --product PK [--json]",
				Flags: append(flags(""), &cli.BoolFlag{Name: flagJSON, Usage: "print JSON instead of text"}), OnUsageError: onUsageError, Action: authorityBlocklistList},
		},
	}
}

func authorityPoolProductAdd(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	v, err := requireFlags(c, flagOrg, "acme", flagPK, "PK-CAM", flagName, "cameras")
	if err != nil {
		return err
	}
	org, pk, name := v[0], v[1], v[2]
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	p, err := d.l.AddFleetProduct(d.ctx, org, pk, name, c.Bool(flagAutoRenew))
	if err != nil {
		return err
	}
	note(c.App.ErrWriter, "product %s (%s) added to %q, auto-renew %s: buy or allocate activation codes for it with 'airlock authority pool buy|allocate'", p.PK, p.Name, org, onOff(p.AutoRenew))
	return nil
}

// requireFlags returns the values of string flags that must be given,
// each named with an example: name, example, name, example, ….
func requireFlags(c *cli.Context, namesAndExamples ...string) ([]string, error) {
	out := make([]string, 0, len(namesAndExamples)/2)
	for i := 0; i+1 < len(namesAndExamples); i += 2 {
		v, err := requireFlag(c, namesAndExamples[i], namesAndExamples[i+1])
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// orgReadFlags are the flags of a read command on an organization: the
// ledger's, --org and --json.
func orgReadFlags() []cli.Flag {
	return ledgerFlags(
		&cli.StringFlag{Name: flagOrg, Usage: "the organization `ORG`"},
		&cli.BoolFlag{Name: flagJSON, Usage: "print JSON instead of text"},
	)
}

// orgDesk checks that a command on an organization has no arguments,
// reads --org and opens the desk.
func orgDesk(c *cli.Context) (string, *desk, error) {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return "", nil, err
	}
	org, err := requireFlag(c, flagOrg, "acme")
	if err != nil {
		return "", nil, err
	}
	d, err := openDesk(c, false)
	return org, d, err
}

// reason returns an error's message without the sentinel's words that
// start it ("invalid argument: "), for a usage error that says them
// another way.
func reason(err error) string {
	msg := err.Error()
	if inner := errors.Unwrap(err); inner != nil {
		msg = strings.TrimPrefix(msg, inner.Error()+": ")
	}
	return msg
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func authorityPoolBuy(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	v, err := requireFlags(c, flagOrg, "acme", flagPackage, "annual")
	if err != nil {
		return err
	}
	org, pkg := v[0], v[1]
	count, err := requireCount(c, "1000")
	if err != nil {
		return err
	}
	var validity *authority.Validity
	if c.IsSet(flagValidity) {
		v, err := authority.ParseValidity(c.String(flagValidity))
		if err != nil {
			return usagef(c.Command.HelpName, "for example: --validity 1y", "--%s: %s", flagValidity, reason(err))
		}
		validity = &v
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	p, err := d.l.BuyCodes(d.ctx, org, pkg, validity, count, c.String(flagProduct), c.String(flagReference))
	if err != nil {
		return err
	}
	dest := org + "/unallocated"
	if p.Product != nil {
		dest = fmt.Sprintf("product %s (%s)", p.Product.PK, p.Product.Name)
	}
	ref := ""
	if p.Batch.Reference != "" {
		ref = ", reference " + p.Batch.Reference
	}
	note(c.App.ErrWriter, "%d activation codes of package %q (%s) bought for %s%s", count, pkg, p.Spec.Validity, dest, ref)
	if p.NewSpec {
		note(c.App.ErrWriter, "package %q of %q defined: a code keeps a device active for %s", pkg, org, p.Spec.Validity)
	}
	return nil
}

func authorityPoolAllocate(c *cli.Context) error {
	org, product, d, err := productDesk(c)
	if err != nil {
		return err
	}
	defer d.Close()
	count, err := requireCount(c, "100")
	if err != nil {
		return err
	}
	pkg := c.String(flagPackage)
	a, err := d.l.AllocateCodes(d.ctx, org, product, pkg, count, true)
	if err != nil {
		return err
	}
	question := fmt.Sprintf("allocate %d of the %d unallocated codes of package %q (%s) to product %s (%s)? this cannot be undone",
		count, a.Available, a.Spec.Name, a.Spec.Validity, a.Product.PK, a.Product.Name)
	if err := confirm(c, question); err != nil {
		return err
	}
	if a, err = d.l.AllocateCodes(d.ctx, org, product, pkg, count, false); err != nil {
		return err
	}
	note(c.App.ErrWriter, "%d codes allocated to %s (%s): it holds %d, %d remaining; %d unallocated codes of %q left",
		count, a.Product.PK, a.Product.Name, a.Product.Total, a.Product.Remaining(), a.Available-count, a.Spec.Name)
	return nil
}

type allocationJSON struct {
	ID       int64  `json:"id"`
	At       string `json:"at"`
	Actor    string `json:"actor"`
	PK       string `json:"pk"`
	Product  string `json:"product"`
	Package  string `json:"package"`
	Validity string `json:"validity"`
	Count    int64  `json:"count"`
}

func authorityPoolAllocations(c *cli.Context) error {
	org, d, err := orgDesk(c)
	if err != nil {
		return err
	}
	defer d.Close()
	allocs, pc, err := d.l.CodeAllocations(d.ctx, org, c.String(flagProduct))
	if err != nil {
		return err
	}
	products := map[int64]authority.FleetProduct{}
	for _, p := range pc.Products {
		products[p.ID] = p
	}
	out := make([]allocationJSON, len(allocs))
	for i, a := range allocs {
		p, s := products[a.ProductID], pc.Specs[a.SpecID]
		out[i] = allocationJSON{ID: a.ID, At: rfc3339(time.Unix(a.At, 0)), Actor: a.Actor, PK: p.PK, Product: p.Name, Package: s.Name, Validity: s.Validity.String(), Count: a.Count}
	}
	if c.Bool(flagJSON) {
		return writeJSON(c, out)
	}
	if len(out) == 0 {
		note(c.App.ErrWriter, "no allocations yet: 'airlock authority pool allocate' makes one")
		return nil
	}
	rows := [][]string{{"ID", "AT", "ACTOR", "PK", "NAME", "PACKAGE", "COUNT"}}
	for _, a := range out {
		rows = append(rows, []string{fmt.Sprint(a.ID), a.At, a.Actor, a.PK, a.Product, a.Package + " (" + a.Validity + ")", fmt.Sprint(a.Count)})
	}
	return writeResult(c.App.Writer, tableCols(rows, map[int]bool{0: true, 6: true}))
}

type poolJSON struct {
	Org         string            `json:"org"`
	Total       int64             `json:"total"`
	Used        int64             `json:"used"`
	Remaining   int64             `json:"remaining"`
	Forfeited   int64             `json:"forfeited"`
	Unallocated []unallocatedJSON `json:"unallocated"`
	Products    []poolProductJSON `json:"products"`
}

type unallocatedJSON struct {
	Package  string `json:"package"`
	Validity string `json:"validity"`
	Count    int64  `json:"count"`
}

type poolProductJSON struct {
	PK          string  `json:"pk"`
	Name        string  `json:"name"`
	Package     *string `json:"package"`
	Validity    *string `json:"validity"`
	Total       int64   `json:"total"`
	Used        int64   `json:"used"`
	Remaining   int64   `json:"remaining"`
	Allocatable int64   `json:"allocatable"`
	AutoRenew   bool    `json:"auto_renew"`
	Deleted     *string `json:"deleted"`
}

func poolView(pc *authority.PoolCounts) poolJSON {
	v := poolJSON{Org: pc.Org.Name, Total: pc.Total, Used: pc.Used, Remaining: pc.Remaining, Forfeited: pc.Forfeited,
		Unallocated: []unallocatedJSON{}, Products: []poolProductJSON{}}
	for _, s := range pc.SpecList {
		v.Unallocated = append(v.Unallocated, unallocatedJSON{Package: s.Name, Validity: s.Validity.String(), Count: pc.Unallocated[s.ID]})
	}
	for _, p := range pc.Products {
		pj := poolProductJSON{PK: p.PK, Name: p.Name, Total: p.Total, Used: p.Used, Remaining: p.Remaining(), AutoRenew: p.AutoRenew}
		if p.SpecID != 0 {
			s := pc.Specs[p.SpecID]
			name, val := s.Name, s.Validity.String()
			pj.Package, pj.Validity = &name, &val
			pj.Allocatable = pc.Unallocated[s.ID]
		} else {
			// One allocation takes one package: the largest.
			for _, n := range pc.Unallocated {
				pj.Allocatable = max(pj.Allocatable, n)
			}
		}
		if p.Deleted() {
			at := rfc3339(time.Unix(p.DeletedAt, 0))
			pj.Deleted, pj.Allocatable = &at, 0
		}
		v.Products = append(v.Products, pj)
	}
	return v
}

func authorityPoolShow(c *cli.Context) error {
	org, d, err := orgDesk(c)
	if err != nil {
		return err
	}
	defer d.Close()
	pc, err := d.l.Pools(d.ctx, org)
	if err != nil {
		return err
	}
	v := poolView(pc)
	if c.Bool(flagJSON) {
		return writeJSON(c, v)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "organization: %s\ntotal: %d  used: %d  remaining: %d  forfeited: %d\n", v.Org, v.Total, v.Used, v.Remaining, v.Forfeited)
	if len(v.Unallocated) > 0 {
		rows := [][]string{{"PACKAGE", "VALIDITY", "UNALLOCATED"}}
		for _, u := range v.Unallocated {
			rows = append(rows, []string{u.Package, u.Validity, fmt.Sprint(u.Count)})
		}
		b.WriteString("\n")
		b.Write(tableCols(rows, map[int]bool{2: true}))
	}
	if len(v.Products) > 0 {
		rows := [][]string{{"PK", "NAME", "PACKAGE", "TOTAL", "USED", "REMAINING", "ALLOCATABLE", "AUTO-RENEW"}}
		for _, p := range v.Products {
			pkg := "-"
			if p.Package != nil {
				pkg = *p.Package
			}
			renew := onOff(p.AutoRenew)
			if p.Deleted != nil {
				renew = "deleted " + (*p.Deleted)[:10]
			}
			rows = append(rows, []string{p.PK, p.Name, pkg, fmt.Sprint(p.Total), fmt.Sprint(p.Used), fmt.Sprint(p.Remaining), fmt.Sprint(p.Allocatable), renew})
		}
		b.WriteString("\n")
		b.Write(tableCols(rows, map[int]bool{3: true, 4: true, 5: true, 6: true}))
	} else {
		note(c.App.ErrWriter, "no fleet products yet: 'airlock authority pool product add' adds one")
	}
	return writeResult(c.App.Writer, []byte(b.String()))
}

func authorityPoolProductDelete(c *cli.Context) error {
	org, product, d, err := productDesk(c)
	if err != nil {
		return err
	}
	defer d.Close()
	p, err := d.l.DeleteFleetProduct(d.ctx, org, product, true)
	if err != nil {
		return err
	}
	question := fmt.Sprintf("delete product %s (%s)? its %d remaining activation codes are lost, nothing returns to the unallocated pool, and its devices stop activating and renewing; this cannot be undone",
		p.PK, p.Name, p.Remaining())
	if err := confirm(c, question); err != nil {
		return err
	}
	if p, err = d.l.DeleteFleetProduct(d.ctx, org, product, false); err != nil {
		return err
	}
	note(c.App.ErrWriter, "product %s (%s) deleted: %d codes forfeited", p.PK, p.Name, p.Remaining())
	return nil
}

// onOffArg reads the one argument on or off.
func onOffArg(c *cli.Context) (bool, error) {
	if err := checkArgs(c, 1, 1, "on|off"); err != nil {
		return false, err
	}
	switch strings.ToLower(c.Args().First()) {
	case "on", "true", "yes":
		return true, nil
	case "off", "false", "no":
		return false, nil
	}
	return false, usagef(c.Command.HelpName, "say on or off", "%q is neither on nor off", c.Args().First())
}

func authorityPoolAutoRenew(c *cli.Context) error {
	on, err := onOffArg(c)
	if err != nil {
		return err
	}
	org, product, err := orgProduct(c)
	if err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	p, did, err := d.l.SetProductAutoRenew(d.ctx, org, product, on)
	if err != nil {
		return err
	}
	if !did {
		note(c.App.ErrWriter, "auto-renew of %s (%s) was %s already", p.PK, p.Name, onOff(on))
		return nil
	}
	note(c.App.ErrWriter, "auto-renew of %s (%s) turned %s", p.PK, p.Name, onOff(on))
	return nil
}

func authorityBlocklistSet(c *cli.Context, blocked bool) error {
	if err := checkArgs(c, 1, math.MaxInt, "DK..."); err != nil {
		return err
	}
	org, product, err := orgProduct(c)
	if err != nil {
		return err
	}
	dks := c.Args().Slice()
	for _, dk := range dks {
		if err := codes.CheckDeviceKey("device key", dk); err != nil {
			return usagef(c.Command.HelpName, "a device key has 1 to 64 letters, digits and . _ : -", "%s", reason(err))
		}
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	n, err := d.l.SetBlocked(d.ctx, org, product, dks, blocked)
	if err != nil {
		return err
	}
	verb := "added to"
	if !blocked {
		verb = "removed from"
	}
	if n == len(dks) {
		note(c.App.ErrWriter, "%s %s the blocklist of %s", plural(n, "device key", "device keys"), verb, product)
		return nil
	}
	note(c.App.ErrWriter, "%d of %d device keys %s the blocklist of %s (the rest were already so)", n, len(dks), verb, product)
	return nil
}

func authorityBlocklistList(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	org, product, err := orgProduct(c)
	if err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	_, dks, err := d.l.Blocklist(d.ctx, org, product)
	if err != nil {
		return err
	}
	if c.Bool(flagJSON) {
		return writeJSON(c, append([]string{}, dks...))
	}
	if len(dks) == 0 {
		note(c.App.ErrWriter, "the blocklist of %s is empty", product)
		return nil
	}
	return writeResult(c.App.Writer, []byte(strings.Join(dks, "\n")+"\n"))
}

func authorityPoolRenew(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	r, err := d.l.RenewDue(d.ctx)
	if err != nil {
		return err
	}
	note(c.App.ErrWriter, "%d codes renewed, %d devices lapsed", r.Renewed, r.Lapsed)
	return nil
}

func init() {
	hints = slices.Concat([]struct {
		sentinel error
		hint     string
	}{
		{authority.ErrNoPackage, "'airlock authority pool show --org ORG' lists the packages; a purchase with --validity defines a new one"},
		{authority.ErrGatewayKey, "if the gateway was rebuilt, retire its old key with 'airlock authority gateway retire --udi UDI --reason TEXT'; otherwise the request comes from another machine claiming the gateway's UDI"},
		{authority.ErrNoDevice, "'airlock authority device list --org ORG' lists the devices; --deleted shows deleted ones too"},
		{authority.ErrNoFleetProduct, "'airlock authority pool product list --org ORG' lists the fleet products with their product keys"},
		{authority.ErrNoCodes, "'airlock authority pool show --org ORG' shows the counts; buy codes with 'airlock authority pool buy'"},
		{authority.ErrSpecMismatch, "'airlock authority pool show --org ORG' shows each product's package and what can be allocated to it"},
		{authority.ErrProductDeleted, "a deleted product stays deleted; add a new product with another product key"},
		{authority.ErrAutoRenewOff, "turn the product's auto-renew on with 'airlock authority pool auto-renew --org ORG --product PK on'"},
	}, hints)
}
