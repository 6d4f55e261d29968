package main

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

// Flags of the subscription and hardware commands.
const flagYear = "year"

const authoritySubscriptionDescription = `subscription groups the commands on a product's subscription: the
licenses its systems need, renewed year by year from the product's
wallet (airlock authority wallet).

An organization's subscription years start on the day its first product
subscribes (airlock authority subscription start): year 1 runs one
calendar year from that day, year 2 the next, and every product of the
organization shares them, whenever it subscribes. The product's demand
is what the systems registered to it need (airlock authority product
register). A year is licensed once the licenses allocated to it (airlock
authority subscription allocate) meet the demand, tag by tag; a year not
yet allocated runs in a grace period of 30 days from its start (or from
the day the product subscribed), and has expired after it. A year may be
allocated while it ends within five years of today. Licenses allocated
after the grace period cover the year from that day on: the share of
the days already passed is credited back to the wallet.

A system of the product gets its authorization code with airlock
authority subscription deliver: its demand as subscription licenses
until the licensed years (or the grace period) end, and the
hardware-bound licenses of its components (airlock authority hardware).

Example:

    $ airlock authority product register --org acme --product site-1 --identity age.key plant4.airlock
    airlock: system "Plant 4" (P:VMS,S:plant-4,U:…) registered to "acme/site-1", account "acme/site-1": demand 10 vms.camera.core
    $ airlock authority subscription start --org acme --product site-1 --yes
    airlock: subscription of "acme/site-1" started 2027-01-01: year 1 (2027-01-01..2027-12-31), grace until 2027-01-31
    airlock: the subscription years of "acme" start on 2027-01-01: its other products share them
    $ airlock authority subscription allocate --org acme --product site-1 --year 1 --count 10 --yes
    airlock: 10 vms.camera.core allocated to year 1 (2027-01-01..2027-12-31) of "acme/site-1", covering it from 2027-01-01
    airlock: year 1 meets the demand: deliver each system its code with 'airlock authority subscription deliver'
    $ airlock authority subscription deliver --org acme --product site-1 --identity age.key --system "Plant 4" --out plant4.authorization.airlock
    airlock: wrote plant4.authorization.airlock
    airlock: reservation 0a1b2c3d serial 1 for system "Plant 4" of "acme/site-1" (licensed until 2028-01-01): 10 vms.camera.core (subscription until 2028-01-01T00:00:00Z)`

func authoritySubscriptionCommand() *cli.Command {
	return &cli.Command{
		Name:            "subscription",
		Usage:           "start, allocate and deliver a product's subscription",
		UsageText:       "airlock authority subscription COMMAND [OPTIONS] [ARGUMENTS]",
		Description:     authoritySubscriptionDescription,
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{
			{
				Name:      "start",
				Usage:     "start a product's subscription today",
				UsageText: "airlock authority subscription start --org ORG --product PRODUCT [--yes] [--dir DIR]",
				Description: `start starts the subscription of the product --product of the organization
--org today (UTC), in the current subscription year of the organization,
with a grace period of 30 days. The first product of an organization to
subscribe starts the organization's subscription years on that day;
every product that subscribes later shares them.

Starting cannot be undone: start says what it will do and asks on the
terminal; --yes starts without asking. Without a terminal and without
--yes it refuses and changes nothing. A product subscribes once.

Example:

    $ airlock authority subscription start --org acme --product site-1
    airlock: start the subscription of acme/site-1 today, 2027-01-01, and with it the subscription years of acme: year 1 is 2027-01-01..2027-12-31? this cannot be undone [y/N] y
    airlock: subscription of "acme/site-1" started 2027-01-01: year 1 (2027-01-01..2027-12-31), grace until 2027-01-31
    airlock: the subscription years of "acme" start on 2027-01-01: its other products share them
    $ airlock authority subscription start --org acme --product doors --yes
    airlock: subscription of "acme/doors" started 2027-06-10: year 1 (2027-01-01..2027-12-31), grace until 2027-07-10

Exit status: 0 when the subscription started; 1 when it was refused (it
started before, the product does not exist) or not confirmed; 2 for a
wrong command line.`,
				Flags: productFlags("start the subscription of the product `PRODUCT` of --org",
					&cli.BoolFlag{Name: flagYes, Usage: "start without asking: starting cannot be undone"},
				),
				OnUsageError: onUsageError,
				Action:       authoritySubscriptionStart,
			},
			{
				Name:      "allocate",
				Usage:     "allocate licenses from a product's wallet to a subscription year",
				UsageText: "airlock authority subscription allocate --org ORG --product PRODUCT --year N --count C [--tag TAG] [--yes] [--dir DIR]",
				Description: `allocate moves --count licenses of --tag from the wallet of the product
--product of the organization --org to its subscription year --year
(1 for the organization's first). --tag may be left out when the
product's demand, or else its wallet, has a single tag. The licenses
come from the wallet's lots that expire first.

A year may be allocated from the current one on, while it ends within
five years of today. Licenses allocated after the year's grace period
cover it from today on: the share of the days already passed, count ×
days passed ÷ days in the year, rounded down, is credited back to the
wallet.

Allocating cannot be undone: allocate says what it will do and asks on
the terminal; --yes allocates without asking. Without a terminal and
without --yes it refuses and changes nothing. Every refusal comes before
the question: a year in the past or too far ahead, a tag the wallet does
not hold, a wallet that holds fewer licenses than --count.

Examples:

    $ airlock authority subscription allocate --org acme --product site-1 --year 2 --count 10
    airlock: allocate 10 vms.camera.core to year 2 (2028-01-01..2028-12-31) of acme/site-1 from its wallet; 1 is credited back for 73 of 366 days already passed? this cannot be undone [y/N] y
    airlock: 10 vms.camera.core allocated to year 2 (2028-01-01..2028-12-31) of "acme/site-1", covering it from 2028-03-14
    airlock: 1 credited back to the wallet for 73 of 366 days already passed
    airlock: year 2 meets the demand: deliver each system its code with 'airlock authority subscription deliver'
    $ airlock authority subscription allocate --org acme --product site-1 --year 3 --count 20 --yes
    airlock: error: not enough licenses: the wallet of "acme/site-1" holds 9 vms.camera.core, the allocation needs 20: 11 short: redeem a license key for 11 more

Exit status: 0 when the licenses were allocated; 1 when the allocation
was refused or not confirmed; 2 for a wrong command line.`,
				Flags: productFlags("allocate from the wallet of the product `PRODUCT` of --org",
					&cli.IntFlag{Name: flagYear, Usage: "allocate to the subscription year `N` (1 is the organization's first)"},
					&cli.Int64Flag{Name: flagCount, Usage: "allocate `C` licenses"},
					&cli.StringFlag{Name: flagTag, Usage: "allocate licenses of `TAG` (default: the only tag of the demand, or else of the wallet)"},
					&cli.BoolFlag{Name: flagYes, Usage: "allocate without asking: allocating cannot be undone"},
				),
				OnUsageError: onUsageError,
				Action:       authoritySubscriptionAllocate,
			},
			{
				Name:      "status",
				Usage:     "show a product's license state, years, demand, wallet and systems",
				UsageText: "airlock authority subscription status --org ORG --product PRODUCT [--json] [--dir DIR]",
				Description: `status prints the license state of the product --product of the
organization --org now, and what it comes from:

- state: trial (no subscription), grace until the grace period ends,
  licensed until the last of the fully allocated years from the current
  one ends, over allowance (licensed, but the organization's demand grew
  beyond its allocations by more than they allow), or expired since the
  grace period ended;
- the current subscription year, its period (first and last day) and
  the day the product subscribed;
- the demand per tag, and what the current year still lacks of it;
- each year from the current one with its allocations, the licenses
  credited back, and whether it meets the demand;
- the organization's growth beyond its allocations, and its allowance;
- the wallet's lots that have not expired, the soonest first;
- the hardware components registered, with their preloaded and
  extension licenses, and the systems registered.

Example:

    $ airlock authority subscription status --org acme --product site-1
    product: acme/site-1 (software vms)
    state: grace until 2027-01-31
    year: 1 (2027-01-01..2027-12-31), subscribed 2027-01-01
    demand: 10 vms.camera.core
    shortfall: 10 vms.camera.core

    YEAR  PERIOD                  ALLOCATED  CREDITED  MEETS DEMAND
    1     2027-01-01..2027-12-31  nothing           0  no

    WALLET           COUNT  EXPIRES
    vms.camera.core     30  2032-01-01T09:00:00Z

    COMPONENT  MODEL     TAG            SYSTEM   PRELOADED  EXTENSIONS
    SN-1       CameraX1  vms.camera.hw  Plant 4          1           0

    SYSTEM   UDI
    Plant 4  P:VMS,S:plant-4,U:0f2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b

With --json it prints one object with the members org, product, at (the
time the state is for), state (trial, grace, licensed, over allowance,
expired), until (when the grace period or the licensed years end, or
since when it expired; null in trial), started (the day the product
subscribed; null in trial), year (0 in trial), years (year, start, end,
allocated: tag and count, credited, fully_allocated), demand (tag,
count), shortfall (tag, count), growth, allowance, wallet (tag, count,
expires, extension), hardware (component, model, tag, system,
preloaded, extensions) and systems (name, udi); times are RFC 3339 UTC.

Exit status: 0 when the state was printed; 1 when the product does not
exist; 2 for a wrong command line.`,
				Flags: productFlags("show the product `PRODUCT` of --org",
					&cli.BoolFlag{Name: flagJSON, Usage: "print JSON instead of text"},
				),
				OnUsageError: onUsageError,
				Action:       authoritySubscriptionStatus,
			},
			{
				Name:      "deliver",
				Usage:     "issue the authorization code of a product's system",
				UsageText: "airlock authority subscription deliver --org ORG --product PRODUCT --system NAME|UDI [--out FILE|URL] [--to RECIPIENT]... [--install-days DAYS] [--known-hosts FILE] [--ssh-key FILE]... [--identity FILE]... [--dir DIR]",
				Description: `deliver issues an authorization code for the system --system (its name
or its UDI) of the product --product of the organization --org, with
what the product's subscription licenses now: the system's demand as
subscription licenses from the start of the current year's cover to the
end of the grace period or of the last fully allocated year, and a
hardware-bound license for each of its registered components (preloaded
and extensions).

The first code answers the system description the system was
registered from: the system installs it as the answer to its pending
request. Later codes are updates, the next serial of its reservation;
the system installs them and makes a confirmation code (airlock
authority confirm). Delivering again when nothing changed gives the
same code as before, byte for byte.

The code is printed typed on standard output; --out writes it as an
armored file instead, and --to encrypts that file with age to the
system's recipient. A file that exists is never overwritten, unless it
already holds this very code.

Examples:

    $ airlock authority subscription deliver --org acme --product site-1 --system "Plant 4"
    AU-…
    airlock: reservation 0a1b2c3d serial 1 for system "Plant 4" of "acme/site-1" (grace until 2027-01-31): 10 vms.camera.core (subscription until 2027-01-31T00:00:00Z), 1 vms.camera.hw (hardware on SN-1)
    $ airlock authority subscription deliver --org acme --product site-1 --system "Plant 4"
    AU-…
    airlock: nothing changed since serial 1 of reservation 0a1b2c3d: the same code as before

` + sftpWriteHelp + `

Exit status: 0 when the code was printed or written; 1 when there is
nothing to deliver (no subscription, or it expired, and no hardware), the
system is not the product's, or the code could not be printed or
written (it is recorded: run the same command again); 2 for a wrong
command line.`,
				Flags: keyFlags(append(append([]cli.Flag{
					&cli.StringFlag{Name: flagOrg, Usage: "the organization `ORG`"},
					&cli.StringFlag{Name: flagProduct, Usage: "deliver to a system of the product `PRODUCT` of --org"},
					&cli.StringFlag{Name: flagSystem, Usage: "deliver to the system `NAME` (or its UDI) registered to --product"},
				}, codeOutFlags()...), transportFlags()...)...),
				OnUsageError: onUsageError,
				Action:       authoritySubscriptionDeliver,
			},
		},
	}
}

const authorityHardwareDescription = `hardware groups the commands on the hardware components of a product's
systems. A component that a system description lists with a tag comes
with one preloaded license of that tag, which registering the system
(airlock authority product register) activates; a component belongs to
one product. Extension keys (airlock authority key issue --extension)
bring extension licenses into the wallet, and extend allocates them to a
component. The system gets them with its next code (airlock authority
subscription deliver).

Example:

    $ airlock authority hardware extend --org acme --product site-1 --component SN-1 --count 2 --yes
    airlock: component SN-1 of "acme/site-1" extended by 2 vms.camera.hw: 3 in all, 1 of them preloaded
    airlock: the system gets them with its next code: 'airlock authority subscription deliver --org acme --product site-1 --system NAME'`

func authorityHardwareCommand() *cli.Command {
	return &cli.Command{
		Name:            "hardware",
		Usage:           "extend the licenses of a product's hardware components",
		UsageText:       "airlock authority hardware COMMAND [OPTIONS] [ARGUMENTS]",
		Description:     authorityHardwareDescription,
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{{
			Name:      "extend",
			Usage:     "allocate extension licenses from a product's wallet to a component",
			UsageText: "airlock authority hardware extend --org ORG --product PRODUCT --component ID --count N [--tag TAG] [--yes] [--dir DIR]",
			Description: `extend allocates --count extension licenses of --tag (default: the tag
the component was preloaded with) from the wallet of the product
--product of the organization --org, from the lots of extension keys
that expire first, to the hardware component --component of one of the
product's systems.

Extending cannot be undone: extend says what it will do and asks on the
terminal; --yes extends without asking. Without a terminal and without
--yes it refuses and changes nothing. Every refusal comes before the
question: a component not registered to the product, a wallet that
holds fewer extension licenses than --count.

Example:

    $ airlock authority hardware extend --org acme --product site-1 --component SN-1 --count 2
    airlock: allocate 2 vms.camera.hw from the wallet of acme/site-1 to component SN-1 (CameraX1), 3 in all? this cannot be undone [y/N] y
    airlock: component SN-1 of "acme/site-1" extended by 2 vms.camera.hw: 3 in all, 1 of them preloaded
    airlock: the system gets them with its next code: 'airlock authority subscription deliver --org acme --product site-1 --system NAME'

Exit status: 0 when the licenses were allocated; 1 when the extension
was refused or not confirmed; 2 for a wrong command line.`,
			Flags: productFlags("allocate from the wallet of the product `PRODUCT` of --org",
				&cli.StringFlag{Name: flagComponent, Usage: "extend the component `ID` (its serial or hardware id, as its system lists it)"},
				&cli.Int64Flag{Name: flagCount, Usage: "allocate `N` extension licenses"},
				&cli.StringFlag{Name: flagTag, Usage: "allocate extension licenses of `TAG` (default: the tag the component was preloaded with)"},
				&cli.BoolFlag{Name: flagYes, Usage: "extend without asking: extending cannot be undone"},
			),
			OnUsageError: onUsageError,
			Action:       authorityHardwareExtend,
		}},
	}
}

// subscriptionHints are the hints of the product and subscription
// refusals. They come before the table's general ones, of which each
// refusal is a kind (authority.ErrWalletShort is an ErrUnavailable, …),
// and which speak of accounts and their lots.
var subscriptionHints = []struct {
	sentinel error
	hint     string
}{
	{authority.ErrWalletShort, "redeem a license key into the wallet with 'airlock authority wallet redeem --org ORG --product PRODUCT KEY'; 'airlock authority subscription status --org ORG --product PRODUCT' shows the wallet and the demand"},
	{authority.ErrExtensionShort, "redeem an extension key into the wallet with 'airlock authority wallet redeem --org ORG --product PRODUCT KEY'; 'airlock authority wallet show --org ORG --product PRODUCT' shows the extension licenses"},
	{authority.ErrNothingToDeliver, "'airlock authority subscription status --org ORG --product PRODUCT' shows the state and what the year lacks"},
	{authority.ErrSubscribed, "a product's subscription starts once; 'airlock authority subscription status --org ORG --product PRODUCT' shows it"},
	{authority.ErrElsewhere, "a system and its hardware components belong to one product; 'airlock authority show --instance UDI' names the account, ORG/PRODUCT, that holds the system"},
	{authority.ErrHeldByAccount, "have the system return its reservation ('airlock instance return'), take the return code with 'airlock authority return', then register a new system description file from it"},
	{authority.ErrNoProduct, "'airlock authority product list --org ORG' lists the products; 'airlock authority subscription status --org ORG --product PRODUCT' shows a product's subscription, systems and hardware"},
	{authority.ErrNotRegistered, "'airlock authority subscription status --org ORG --product PRODUCT' lists the product's systems and hardware; 'airlock authority product register' registers a system from its description file"},
	{authority.ErrNoSubscription, "start it with 'airlock authority subscription start --org ORG --product PRODUCT'"},
	{authority.ErrDescriptionAnswered, "have the system make a new system description file ('airlock instance system-file') and register it with 'airlock authority product register'"},
}

func init() { hints = slices.Concat(subscriptionHints, hints) }

// stateText says a product's state with its date: "grace until
// 2027-01-31".
func stateText(st *authority.SubscriptionStatus) string {
	switch st.State {
	case authority.StateTrial:
		return "trial (no subscription)"
	case authority.StateGrace, authority.StateLicensed:
		return st.State + " until " + authority.FormatDay(st.Until)
	case authority.StateOver:
		return st.State + ", licensed until " + authority.FormatDay(st.Until)
	case authority.StateExpired:
		return st.State + " since " + authority.FormatDay(st.Until)
	}
	return st.State
}

func authoritySubscriptionStart(c *cli.Context) error {
	org, name, d, err := productDesk(c)
	if err != nil {
		return err
	}
	defer d.Close()
	// The dry run refuses what the start would refuse, before anyone is
	// asked.
	s, err := d.l.StartSubscription(d.ctx, org, name, true)
	if err != nil {
		return err
	}
	question := fmt.Sprintf("start the subscription of %s today, %s, in year %d (%s) of %s, grace until %s? this cannot be undone",
		s.Product.Ref(), authority.FormatDay(s.StartedAt), s.Year, s.Calendar.Period(s.Year), org, authority.FormatDay(s.GraceUntil))
	if s.NewAnchor {
		question = fmt.Sprintf("start the subscription of %s today, %s, and with it the subscription years of %s: year 1 is %s? this cannot be undone",
			s.Product.Ref(), authority.FormatDay(s.StartedAt), org, s.Calendar.Period(1))
	}
	if err := confirm(c, question); err != nil {
		return err
	}
	if s, err = d.l.StartSubscription(d.ctx, org, name, false); err != nil {
		return err
	}
	stderr := c.App.ErrWriter
	note(stderr, "subscription of %q started %s: year %d (%s), grace until %s", s.Product.Ref(), authority.FormatDay(s.StartedAt), s.Year, s.Calendar.Period(s.Year), authority.FormatDay(s.GraceUntil))
	if s.NewAnchor {
		note(stderr, "the subscription years of %q start on %s: its other products share them", org, authority.FormatDay(s.Calendar.Anchor))
	}
	return nil
}

// requireCount returns --count, or a usage error when it is missing.
func requireCount(c *cli.Context, example string) (int64, error) {
	if !c.IsSet(flagCount) {
		return 0, usagef(c.Command.HelpName, "for example: --count "+example, "missing --%s N", flagCount)
	}
	return c.Int64(flagCount), nil
}

// optionalTag returns --tag, checked; "" when it is not given.
func optionalTag(c *cli.Context) (string, error) {
	tag := c.String(flagTag)
	if !c.IsSet(flagTag) {
		return "", nil
	}
	if codes.CheckTag(tag) != nil {
		return "", usagef(c.Command.HelpName, "for example: --tag vms.camera.core",
			"--%s %q is not a tag: a tag has 1 to %d printable ASCII characters, no space and no '='", flagTag, tag, codes.MaxTagLen)
	}
	return tag, nil
}

func authoritySubscriptionAllocate(c *cli.Context) error {
	cmd := c.Command.HelpName
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	org, name, err := orgProduct(c)
	if err != nil {
		return err
	}
	if !c.IsSet(flagYear) {
		return usagef(cmd, "for example: --year 1, the organization's first subscription year", "missing --%s N", flagYear)
	}
	year := c.Int(flagYear)
	if year < 1 {
		return usagef(cmd, "the organization's first subscription year is 1", "--%s %d: subscription years are numbered from 1", flagYear, year)
	}
	count, err := requireCount(c, "10")
	if err != nil {
		return err
	}
	tag, err := optionalTag(c)
	if err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	// Every refusal comes before the question: the dry run checks all.
	a, err := d.l.Allocate(d.ctx, org, name, year, tag, count, true)
	if err != nil {
		return err
	}
	question := fmt.Sprintf("allocate %d %s to year %d (%s) of %s from its wallet", a.Count, a.Tag, a.Year, a.Calendar.Period(a.Year), a.Product.Ref())
	if a.Credited > 0 {
		question += fmt.Sprintf("; %s credited back for %s", isAre(a.Credited), daysPassed(&a.Allocation, a.Calendar))
	}
	if err := confirm(c, question+"? this cannot be undone"); err != nil {
		return err
	}
	if a, err = d.l.Allocate(d.ctx, org, name, year, a.Tag, count, false); err != nil {
		return err
	}
	stderr := c.App.ErrWriter
	note(stderr, "%d %s allocated to year %d (%s) of %q, covering it from %s", a.Count, a.Tag, a.Year, a.Calendar.Period(a.Year), a.Product.Ref(), authority.FormatDay(a.CoversFrom))
	if a.Credited > 0 {
		note(stderr, "%d credited back to the wallet for %s", a.Credited, daysPassed(&a.Allocation, a.Calendar))
	}
	if len(a.Shortfall) == 0 {
		note(stderr, "year %d meets the demand: deliver each system its code with 'airlock authority subscription deliver'", a.Year)
	} else {
		note(stderr, "year %d still lacks %s", a.Year, authority.FormatKeyLines(a.Shortfall))
	}
	return nil
}

// isAre says "1 is" or "3 are".
func isAre(n int64) string {
	if n == 1 {
		return "1 is"
	}
	return fmt.Sprintf("%d are", n)
}

// daysPassed says "73 of 366 days already passed": the days of the year
// before an allocation covers it.
func daysPassed(a *authority.Allocation, cal authority.Calendar) string {
	return fmt.Sprintf("%d of %d days already passed", cal.DaysInto(a.Year, a.CoversFrom), cal.Days(a.Year))
}

type tagCountJSON struct {
	Tag   string `json:"tag"`
	Count int64  `json:"count"`
}

type subscriptionYearJSON struct {
	Year           int            `json:"year"`
	Start          string         `json:"start"`
	End            string         `json:"end"`
	Allocated      []tagCountJSON `json:"allocated"`
	Credited       int64          `json:"credited"`
	FullyAllocated bool           `json:"fully_allocated"`
}

type subscriptionLotJSON struct {
	Tag       string `json:"tag"`
	Count     int64  `json:"count"`
	Expires   string `json:"expires"`
	Extension bool   `json:"extension"`
}

type hardwareJSON struct {
	Component  string `json:"component"`
	Model      string `json:"model"`
	Tag        string `json:"tag"`
	System     string `json:"system"`
	Preloaded  int64  `json:"preloaded"`
	Extensions int64  `json:"extensions"`
}

type productSystemJSON struct {
	Name string `json:"name"`
	UDI  string `json:"udi"`
}

type subscriptionJSON struct {
	Org       string                 `json:"org"`
	Product   string                 `json:"product"`
	At        string                 `json:"at"`
	State     string                 `json:"state"`
	Until     *string                `json:"until"`
	Started   *string                `json:"started"`
	Year      int                    `json:"year"`
	Years     []subscriptionYearJSON `json:"years"`
	Demand    []tagCountJSON         `json:"demand"`
	Shortfall []tagCountJSON         `json:"shortfall"`
	Growth    int64                  `json:"growth"`
	Allowance int64                  `json:"allowance"`
	Wallet    []subscriptionLotJSON  `json:"wallet"`
	Hardware  []hardwareJSON         `json:"hardware"`
	Systems   []productSystemJSON    `json:"systems"`
}

func tagCounts(ls []authority.KeyLine) []tagCountJSON {
	out := make([]tagCountJSON, 0, len(ls))
	for _, l := range ls {
		out = append(out, tagCountJSON{Tag: l.Tag, Count: l.Count})
	}
	return out
}

func newSubscriptionJSON(st *authority.SubscriptionStatus) subscriptionJSON {
	j := subscriptionJSON{Org: st.Product.Org, Product: st.Product.Name, At: codes.FormatTime(st.At), State: st.State,
		Until: optTime(st.Until), Started: optTime(st.StartedAt), Year: st.Year,
		Years: []subscriptionYearJSON{}, Demand: tagCounts(st.Demand), Shortfall: tagCounts(st.Shortfall()),
		Growth: st.Growth, Allowance: st.Allowance,
		Wallet: []subscriptionLotJSON{}, Hardware: []hardwareJSON{}, Systems: []productSystemJSON{}}
	for _, y := range st.Years {
		j.Years = append(j.Years, subscriptionYearJSON{Year: y.Year, Start: codes.FormatTime(y.Start), End: codes.FormatTime(y.End),
			Allocated: tagCounts(y.Allocated), Credited: y.Credited, FullyAllocated: y.Met})
	}
	for _, w := range st.Wallet {
		j.Wallet = append(j.Wallet, subscriptionLotJSON{Tag: w.Tag, Count: w.Count, Expires: codes.FormatTime(w.ExpiresAt), Extension: w.Extension})
	}
	for _, h := range st.Hardware {
		j.Hardware = append(j.Hardware, hardwareJSON{Component: h.Component, Model: h.Model, Tag: h.Tag, System: h.System, Preloaded: authority.PreloadedLicenses, Extensions: h.Extensions})
	}
	for _, s := range st.Systems {
		j.Systems = append(j.Systems, productSystemJSON{Name: s.Name, UDI: s.UDI})
	}
	return j
}

func authoritySubscriptionStatus(c *cli.Context) error {
	org, name, d, err := productDesk(c)
	if err != nil {
		return err
	}
	defer d.Close()
	st, err := d.l.SubscriptionStatus(d.ctx, org, name)
	if err != nil {
		return err
	}
	if c.Bool(flagJSON) {
		return writeJSON(c, newSubscriptionJSON(st))
	}
	return writeResult(c.App.Writer, subscriptionText(st))
}

// subscriptionText renders a product's state for a person: "label: value"
// lines, then a table each for the years, the wallet, the hardware and
// the systems that have any.
func subscriptionText(st *authority.SubscriptionStatus) []byte {
	var b bytes.Buffer
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%s: %s\n", label, fmt.Sprintf(format, args...))
	}
	line("product", "%s (software %s)", st.Product.Ref(), st.Product.Software)
	line("state", "%s", stateText(st))
	if st.Year > 0 {
		line("year", "%d (%s), subscribed %s", st.Year, st.Calendar.Period(st.Year), authority.FormatDay(st.StartedAt))
	}
	line("demand", "%s", orNoneLines(st.Demand))
	if st.State != authority.StateTrial {
		line("shortfall", "%s", orNoneLines(st.Shortfall()))
	}
	if st.State == authority.StateLicensed || st.State == authority.StateOver {
		line("growth", "%d beyond the allocations of %q, allowance %d", st.Growth, st.Product.Org, st.Allowance)
	}
	table := func(rows [][]string, right map[int]bool) {
		if len(rows) > 1 {
			b.WriteByte('\n')
			b.Write(tableCols(rows, right))
		}
	}
	years := [][]string{{"YEAR", "PERIOD", "ALLOCATED", "CREDITED", "MEETS DEMAND"}}
	for _, y := range st.Years {
		met := "no"
		if y.Met {
			met = "yes"
		}
		years = append(years, []string{fmt.Sprint(y.Year), st.Calendar.Period(y.Year), orNothingLines(y.Allocated), fmt.Sprint(y.Credited), met})
	}
	table(years, map[int]bool{3: true})
	wallet := [][]string{{"WALLET", "COUNT", "EXPIRES"}}
	for _, w := range st.Wallet {
		tag := w.Tag
		if w.Extension {
			tag += " (extension)"
		}
		wallet = append(wallet, []string{tag, fmt.Sprint(w.Count), codes.FormatTime(w.ExpiresAt)})
	}
	table(wallet, map[int]bool{1: true})
	hw := [][]string{{"COMPONENT", "MODEL", "TAG", "SYSTEM", "PRELOADED", "EXTENSIONS"}}
	for _, h := range st.Hardware {
		hw = append(hw, []string{shown(h.Component), shown(h.Model), h.Tag, shown(h.System), fmt.Sprint(authority.PreloadedLicenses), fmt.Sprint(h.Extensions)})
	}
	table(hw, map[int]bool{4: true, 5: true})
	systems := [][]string{{"SYSTEM", "UDI"}}
	for _, s := range st.Systems {
		systems = append(systems, []string{shown(s.Name), s.UDI})
	}
	table(systems, nil)
	return b.Bytes()
}

// shown returns s for a terminal: as it is when every rune is printable,
// else quoted with escapes, so that a name from a system description
// cannot carry control sequences or reorder the line.
func shown(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

func orNoneLines(ls []authority.KeyLine) string {
	if len(ls) == 0 {
		return "none"
	}
	return authority.FormatKeyLines(ls)
}

func orNothingLines(ls []authority.KeyLine) string {
	if len(ls) == 0 {
		return "nothing"
	}
	return authority.FormatKeyLines(ls)
}

func authoritySubscriptionDeliver(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	org, name, err := orgProduct(c)
	if err != nil {
		return err
	}
	system, err := requireFlag(c, flagSystem, `"Plant 4"`)
	if err != nil {
		return err
	}
	d, recipients, err := issuingDesk(c)
	if err != nil {
		return err
	}
	defer d.Close()
	out, err := prepareOut(c, c.String(flagOut))
	if err != nil {
		return err
	}
	defer out.close()
	r, err := d.l.Deliver(d.ctx, org, name, system)
	if err != nil {
		return err
	}
	again := fmt.Sprintf("serial %d is recorded: 'airlock authority show --instance %s --code' prints it again", r.Serial, r.UDI)
	if err := emitCode(c, out, r.Code, recipients, again); err != nil {
		return err
	}
	stderr := c.App.ErrWriter
	if r.Again {
		note(stderr, "nothing changed since serial %d of reservation %s: the same code as before", r.Serial, r.Reservation())
		return nil
	}
	sysName := system
	for _, s := range r.Status.Systems {
		if s.UDI == r.UDI {
			sysName = s.Name
		}
	}
	note(stderr, "reservation %s serial %d for system %q of %q (%s): %s", r.Reservation(), r.Serial, sysName, r.Product.Ref(), stateText(r.Status), describeEntitlements(r.Authorization.Entitlements))
	if r.Serial > 1 {
		note(stderr, "an update: the system installs it and makes a confirmation code for 'airlock authority confirm'")
	}
	return nil
}

func authorityProductRegister(c *cli.Context) error {
	if err := checkArgs(c, 1, 1, "FILE|-"); err != nil {
		return err
	}
	org, name, err := orgProduct(c)
	if err != nil {
		return err
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
	r, err := d.l.RegisterSystem(d.ctx, org, name, code)
	if err != nil {
		if errors.Is(err, codes.ErrBadSignature) {
			return withHint(err, "the system description was made for another authority key: give the system this authority's trust.airlock")
		}
		return err
	}
	stderr := c.App.ErrWriter
	if r.Again {
		note(stderr, "system %q (%s) registered before, nothing changed", r.System.Name, r.UDI)
		return nil
	}
	demand := authority.FormatLicenses(r.System.Demand)
	if demand == "" {
		demand = "none"
	}
	what := "registered to"
	if r.Replaced {
		what = "now described anew in"
	}
	note(stderr, "system %q (%s) %s %q, account %q: demand %s", r.System.Name, r.UDI, what, r.Product.Ref(), r.Account, demand)
	if len(r.Hardware) > 0 {
		parts := make([]string, len(r.Hardware))
		for i, h := range r.Hardware {
			parts[i] = fmt.Sprintf("1 %s on %s", h.Tag, h.Component)
		}
		note(stderr, "preloaded licenses activated: %s", strings.Join(parts, ", "))
	}
	return nil
}

func authorityHardwareExtend(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	org, name, err := orgProduct(c)
	if err != nil {
		return err
	}
	component, err := requireFlag(c, flagComponent, "SN-0042")
	if err != nil {
		return err
	}
	count, err := requireCount(c, "2")
	if err != nil {
		return err
	}
	tag, err := optionalTag(c)
	if err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	x, err := d.l.Extend(d.ctx, org, name, component, tag, count, true)
	if err != nil {
		return err
	}
	question := fmt.Sprintf("allocate %d %s from the wallet of %s to component %s (%s), %d in all? this cannot be undone",
		x.Count, x.Tag, x.Product.Ref(), shown(x.Hardware.Component), shown(x.Hardware.Model), x.Total)
	if err := confirm(c, question); err != nil {
		return err
	}
	if x, err = d.l.Extend(d.ctx, org, name, component, x.Tag, count, false); err != nil {
		return err
	}
	stderr := c.App.ErrWriter
	note(stderr, "component %s of %q extended by %d %s: %d in all, 1 of them preloaded", shown(x.Hardware.Component), x.Product.Ref(), x.Count, x.Tag, x.Total)
	note(stderr, "the system gets them with its next code: 'airlock authority subscription deliver --org %s --product %s --system NAME'", org, name)
	return nil
}
