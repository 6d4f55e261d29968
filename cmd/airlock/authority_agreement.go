package main

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/authority"
)

// Flags of the agreement commands.
const (
	flagCap       = "cap"
	flagAgreement = "agreement"
)

// agreementHints are the hints of the agreement sentinels, before the
// general ones they are kinds of.
var agreementHints = []struct {
	sentinel error
	hint     string
}{
	{authority.ErrAgreementExists, "choose another name; 'airlock authority agreement list --org ORG' lists the organization's agreements"},
	{authority.ErrNoAgreement, "'airlock authority agreement list --org ORG' lists the organization's agreements"},
	{authority.ErrNotCapped, "'airlock authority agreement report --org ORG --agreement NAME' lists the tags the agreement caps"},
	{authority.ErrAgreementCap, "draw at most what is left ('airlock authority agreement report --org ORG --agreement NAME'); for more, the vendor makes another agreement"},
	{authority.ErrOutsideTerm, "'airlock authority agreement list --org ORG' shows each agreement's term; for another term, the vendor makes another agreement"},
}

func init() { hints = slices.Concat(agreementHints, hints) }

func authorityAgreementCommand() *cli.Command {
	orgFlag := &cli.StringFlag{Name: flagOrg, Usage: "the organization `ORG`"}
	agreementFlag := &cli.StringFlag{Name: flagAgreement, Usage: "the agreement `NAME`"}
	jsonFlag := &cli.BoolFlag{Name: flagJSON, Usage: "print JSON instead of text"}
	return &cli.Command{
		Name:      "agreement",
		Usage:     "flexible agreements: draw licenses up to a cap during a term",
		UsageText: "airlock authority agreement create|draw|report|list --org ORG …",
		Description: `agreement groups the commands on flexible agreements. The vendor makes
an agreement with an organization: a term and a cap per software and
tag. During the term, the organization draws licenses as it needs them,
up to each cap, without a serial number or a license key bought per
purchase: each draw issues a license key registered to the
organization, printed once, which redeems into a product like any
other ('airlock authority wallet redeem'). The report lists every draw,
for the true-up the vendor bills.

The vendor makes agreements; an organization's administrators, the
partners it delegated to and the vendor draw; anyone who may read the
organization lists its agreements and reads their reports. Two draws at
once never take more than the cap: each checks and records itself in
one transaction that excludes every other writer.

` + portalRolesHelp,
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{
			{
				Name:      "create",
				Usage:     "make an agreement of an organization (the vendor only)",
				UsageText: "airlock authority agreement create --org ORG --name NAME --from DATE --to DATE --cap SOFTWARE:TAG=N [--cap SOFTWARE:TAG=N]... [--dir DIR]",
				Description: `create makes the agreement --name of the organization --org, for the
term from the day --from (included) to the day --to (excluded), in UTC:
--from 2026-01-01 --to 2027-01-01 is the year 2026. Each --cap
SOFTWARE:TAG=N lets the organization draw N licenses of TAG, in license
keys of SOFTWARE; a tag is capped once. A term that has ended is
refused. Recorded in the history.

Example:

    $ airlock authority agreement create --org acme --name msa-2026 --from 2026-01-01 --to 2027-01-01 --cap vms:vms.camera.core=100 --cap vms:vms.analytics=20
    airlock: agreement "msa-2026" of "acme" for 2026-01-01..2026-12-31: vms:vms.analytics=20, vms:vms.camera.core=100

Exit status: 0 when made; 1 when refused (not the vendor, no such
organization, an agreement of that name exists, a term that ended); 2
for a wrong command line.`,
				Flags: ledgerFlags(orgFlag,
					&cli.StringFlag{Name: flagName, Usage: "the agreement's `NAME`: letters, digits, '.', '_' and '-'"},
					&cli.StringFlag{Name: flagFrom, Usage: "the term's first `DATE` (YYYY-MM-DD, UTC)"},
					&cli.StringFlag{Name: flagTo, Usage: "the `DATE` after the term's last day (YYYY-MM-DD, UTC; excluded)"},
					&cli.StringSliceFlag{Name: flagCap, Usage: "let the organization draw N licenses of TAG, in keys of SOFTWARE: `SOFTWARE:TAG=N`; repeatable"},
				),
				OnUsageError: onUsageError,
				Action:       authorityAgreementCreate,
			},
			{
				Name:      "draw",
				Usage:     "draw licenses under an agreement, as a license key",
				UsageText: "airlock authority agreement draw --org ORG --agreement NAME --tag TAG --count N [--years N] [--dir DIR]",
				Description: `draw draws --count licenses of --tag (--years years each, default 1)
under the agreement --agreement of the organization --org: during its
term, and as far as the tag's drawn licenses stay within its cap (a
draw past it is refused, saying how many are left). It issues a license
key of the cap's software, registered to the organization with the
acting person as its contact, and prints it once on standard output:
redeem it into a product with 'airlock authority wallet redeem'. The
draw is recorded for the report, and in the history with the key's id
(and, for a partner, the partner's name and the organization's).

Example:

    $ airlock authority agreement draw --actor ann@acme.example --org acme --agreement msa-2026 --tag vms.camera.core --count 4
    LK-…
    airlock: license key 9f8e7d6c5b4a3928 registered to "acme": 4 vms.camera.core × 1 year of "vms"; 96 of 100 left under "msa-2026"

Exit status: 0 when drawn; 1 when refused (a viewer, another
organization, a partner without delegation, outside the term, past the
cap, a tag the agreement does not cap); 2 for a wrong command line.`,
				Flags: ledgerFlags(orgFlag, agreementFlag,
					&cli.StringFlag{Name: flagTag, Usage: "draw licenses of `TAG`"},
					&cli.Int64Flag{Name: flagCount, Usage: "draw `N` licenses"},
					&cli.IntFlag{Name: flagYears, Value: 1, Usage: "`N` subscription years each license covers"},
				),
				OnUsageError: onUsageError,
				Action:       authorityAgreementDraw,
			},
			{
				Name:      "report",
				Usage:     "what an organization drew under an agreement, for the true-up",
				UsageText: "airlock authority agreement report --org ORG --agreement NAME [--json] [--dir DIR]",
				Description: `report prints the agreement --agreement of the organization --org: its
term and state, then per tag the cap, the licenses drawn and those
left, then every draw, oldest first: when, by whom, the tag, the count,
the years and the id of the license key it issued. It checks that the
draws add up to each tag's drawn count and that the term and the caps
are those the history recorded, and fails otherwise: the vendor bills
from it.

With --json: an object with org, name, from, to (the day after the
term), state and tags, an array of objects with software, tag, cap,
drawn, left and draws (each with at, by, count, years and key).

Example:

    $ airlock authority agreement report --org acme --agreement msa-2026
    agreement "msa-2026" of "acme", 2026-01-01..2026-12-31, in force
    SOFTWARE  TAG              CAP  DRAWN  LEFT
    vms       vms.analytics     20      0    20
    vms       vms.camera.core  100      4    96

    DRAWN AT              BY                TAG              COUNT  YEARS  KEY
    2026-03-02T10:00:00Z  ann@acme.example  vms.camera.core      4      1  9f8e7d6c5b4a3928

Exit status: 0 when printed; 1 when refused or the records do not agree;
2 for a wrong command line.`,
				Flags:        ledgerFlags(orgFlag, agreementFlag, jsonFlag),
				OnUsageError: onUsageError,
				Action:       authorityAgreementReport,
			},
			{
				Name:      "list",
				Usage:     "list the agreements of an organization",
				UsageText: "airlock authority agreement list --org ORG [--json] [--dir DIR]",
				Description: `list prints the agreements of the organization --org, by name: the
term, the state (not yet in force, in force, ended) and per tag the
licenses drawn of the cap. With --json: an array of objects with org,
name, from, to (the day after the term), state and caps (each with
software, tag, cap, drawn and left).

Exit status: 0 when printed; 1 when refused; 2 for a wrong command line.`,
				Flags:        ledgerFlags(orgFlag, jsonFlag),
				OnUsageError: onUsageError,
				Action:       authorityAgreementList,
			},
		},
	}
}

// dayFlag reads a required day flag, YYYY-MM-DD, as the Unix seconds of
// its UTC midnight.
func dayFlag(c *cli.Context, name, example string) (int64, error) {
	s, err := requireFlag(c, name, example)
	if err != nil {
		return 0, err
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return 0, usagef(c.Command.HelpName, "for example: --"+name+" "+example, "--%s %q: not a day (YYYY-MM-DD)", name, s)
	}
	return t.Unix(), nil
}

func authorityAgreementCreate(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	v, err := requireFlags(c, flagOrg, "acme", flagName, "msa-2026")
	if err != nil {
		return err
	}
	from, err := dayFlag(c, flagFrom, "2026-01-01")
	if err != nil {
		return err
	}
	to, err := dayFlag(c, flagTo, "2027-01-01")
	if err != nil {
		return err
	}
	var caps []authority.AgreementCap
	for _, s := range c.StringSlice(flagCap) {
		cp, err := authority.ParseAgreementCap(s)
		if err != nil {
			return usagef(c.Command.HelpName, "for example: --cap vms:vms.camera.core=100", "--%s %q: want SOFTWARE:TAG=N", flagCap, s)
		}
		caps = append(caps, cp)
	}
	if len(caps) == 0 {
		return usagef(c.Command.HelpName, "for example: --cap vms:vms.camera.core=100", "missing --%s SOFTWARE:TAG=N", flagCap)
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	a, err := d.l.CreateAgreement(d.ctx, authority.AgreementSpec{Org: v[0], Name: v[1], From: from, To: to, Caps: caps})
	if err != nil {
		return err
	}
	note(c.App.ErrWriter, "agreement %q of %q for %s: %s", a.Name, a.Org, a.Term(), authority.FormatAgreementCaps(a.Caps))
	return nil
}

func authorityAgreementDraw(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	v, err := requireFlags(c, flagOrg, "acme", flagAgreement, "msa-2026", flagTag, "vms.camera.core")
	if err != nil {
		return err
	}
	count, err := requireCount(c, "4")
	if err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	r, err := d.l.DrawAgreement(d.ctx, authority.DrawSpec{Org: v[0], Agreement: v[1], Tag: v[2], Count: count, Years: c.Int(flagYears)})
	if err != nil {
		return err
	}
	if err := writeResult(c.App.Writer, []byte(r.Key+"\n")); err != nil {
		return withHint(err, fmt.Sprintf("the draw is recorded (license key %s) but its key was not printed, and the ledger keeps only its hash: tell the vendor, who sees the draw in the report", r.Record.KeyID()))
	}
	cp := r.Agreement.Cap(v[2])
	note(c.App.ErrWriter, "license key %s registered to %q: %s of %q; %d of %d left under %q",
		r.Record.KeyID(), v[0], r.Record.Describe(), r.Record.Software, cp.Left(), cp.Cap, r.Agreement.Name)
	return nil
}

type agreementCapJSON struct {
	Software string `json:"software"`
	Tag      string `json:"tag"`
	Cap      int64  `json:"cap"`
	Drawn    int64  `json:"drawn"`
	Left     int64  `json:"left"`
}

type agreementDrawJSON struct {
	At    string `json:"at"`
	By    string `json:"by"`
	Count int64  `json:"count"`
	Years int    `json:"years"`
	Key   string `json:"key"`
}

type agreementTagJSON struct {
	agreementCapJSON
	Draws []agreementDrawJSON `json:"draws"`
}

type agreementJSON struct {
	Org   string             `json:"org"`
	Name  string             `json:"name"`
	From  string             `json:"from"`
	To    string             `json:"to"`
	State string             `json:"state"`
	Caps  []agreementCapJSON `json:"caps,omitempty"`
	Tags  []agreementTagJSON `json:"tags,omitempty"`
}

func newAgreementJSON(a *authority.Agreement, now int64) agreementJSON {
	return agreementJSON{Org: a.Org, Name: a.Name, From: authority.FormatDay(a.From), To: authority.FormatDay(a.To), State: a.State(now)}
}

func capJSON(cp *authority.AgreementCap) agreementCapJSON {
	return agreementCapJSON{Software: cp.Software, Tag: cp.Tag, Cap: cp.Cap, Drawn: cp.Drawn, Left: cp.Left()}
}

func authorityAgreementReport(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	v, err := requireFlags(c, flagOrg, "acme", flagAgreement, "msa-2026")
	if err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	r, err := d.l.ReportAgreement(d.ctx, v[0], v[1])
	if err != nil {
		return err
	}
	a := &r.Agreement
	j := newAgreementJSON(a, clock().Unix())
	j.Tags = []agreementTagJSON{}
	caps := [][]string{{"SOFTWARE", "TAG", "CAP", "DRAWN", "LEFT"}}
	draws := [][]string{{"DRAWN AT", "BY", "TAG", "COUNT", "YEARS", "KEY"}}
	for i := range r.Tags {
		t := &r.Tags[i]
		tj := agreementTagJSON{agreementCapJSON: capJSON(&t.AgreementCap), Draws: []agreementDrawJSON{}}
		caps = append(caps, []string{t.Software, t.Tag, fmt.Sprint(t.Cap), fmt.Sprint(t.Drawn), fmt.Sprint(t.Left())})
		for _, dr := range t.Draws {
			tj.Draws = append(tj.Draws, agreementDrawJSON{At: unixRFC(dr.At), By: dr.Actor, Count: dr.Count, Years: dr.Years, Key: authority.KeyID(dr.KeyHash)})
		}
		j.Tags = append(j.Tags, tj)
	}
	if c.Bool(flagJSON) {
		return writeJSON(c, j)
	}
	// Every draw, oldest first, whichever tag.
	var all []authority.AgreementDraw
	for _, t := range r.Tags {
		all = append(all, t.Draws...)
	}
	slices.SortFunc(all, func(x, y authority.AgreementDraw) int { return cmp.Compare(x.ID, y.ID) })
	for _, dr := range all {
		draws = append(draws, []string{unixRFC(dr.At), dr.Actor, dr.Tag, fmt.Sprint(dr.Count), fmt.Sprint(dr.Years), authority.KeyID(dr.KeyHash)})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "agreement %q of %q, %s, %s\n", a.Name, a.Org, a.Term(), j.State)
	b.Write(tableCols(caps, map[int]bool{2: true, 3: true, 4: true}))
	if len(all) > 0 {
		b.WriteString("\n")
		b.Write(tableCols(draws, map[int]bool{3: true, 4: true}))
	}
	return writeResult(c.App.Writer, []byte(b.String()))
}

func authorityAgreementList(c *cli.Context) error {
	org, d, err := orgDesk(c)
	if err != nil {
		return err
	}
	defer d.Close()
	as, err := d.l.Agreements(d.ctx, org)
	if err != nil {
		return err
	}
	now := clock().Unix()
	out := make([]agreementJSON, len(as))
	rows := [][]string{{"NAME", "TERM", "STATE", "DRAWN OF CAP"}}
	for i := range as {
		a := &as[i]
		j := newAgreementJSON(a, now)
		j.Caps = []agreementCapJSON{}
		var drawn []string
		for k := range a.Caps {
			cp := &a.Caps[k]
			j.Caps = append(j.Caps, capJSON(cp))
			drawn = append(drawn, fmt.Sprintf("%s %d/%d", cp.Tag, cp.Drawn, cp.Cap))
		}
		out[i] = j
		rows = append(rows, []string{a.Name, a.Term(), j.State, strings.Join(drawn, ", ")})
	}
	return writeListing(c, out, rows, nil, fmt.Sprintf("%q has no agreement: the vendor makes one with 'airlock authority agreement create'", org))
}
