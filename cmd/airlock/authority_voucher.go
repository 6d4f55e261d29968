package main

import (
	"fmt"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/authority"
)

// Flags of the voucher commands.
const (
	flagOEM     = "oem"
	flagVoucher = "voucher"
)

const voucherRolesHelp = `An OEM is a partner: the people the vendor added with --role partner
and --partner NAME. The vendor's staff issue vouchers to it; its people
(and the vendor's staff) convert them, each once, into a license key
for an end customer. Converting needs no delegation from the customer:
it creates licenses for the organization and gives the OEM no power
over it ('airlock authority org delegate' does that). The organization
must be on the ledger (the vendor adds it); the OEM is not told whether
a name it gave that is refused exists. A customer's administrators and
viewers neither issue nor convert vouchers, and see none.`

// voucherHints are the hints of the voucher refusals. They come before
// the table's general ones, of which each is a kind (ErrVoucherUsed is
// an ErrExists, …), and which speak of license keys and accounts.
var voucherHints = []struct {
	sentinel error
	hint     string
}{
	{authority.ErrVoucherUsed, "a voucher converts once; 'airlock authority voucher list --oem NAME' shows where each went, and 'airlock authority partner keys --partner NAME' the keys to deliver"},
	{authority.ErrVoucherUnknown, "a voucher converts only at the authority that issued it: check the code with the vendor"},
	{authority.ErrVoucherMalformed, "a voucher code looks like VC-XXXXXXXXX-XXXXXXXXX: copy it again from where it came"},
	{authority.ErrVoucherTypo, "check the group named above against the voucher you were given and type it again"},
	{authority.ErrNoPartner, "'airlock authority person list' lists the people and their partners; 'airlock authority person add --role partner --partner NAME' adds one"},
}

func init() { hints = slices.Concat(voucherHints, hints) }

func authorityVoucherCommand() *cli.Command {
	return &cli.Command{
		Name:            "voucher",
		Usage:           "issue vouchers to OEM partners, convert them into license keys for end customers",
		UsageText:       "airlock authority voucher issue|convert|list [OPTIONS]",
		Description:     "voucher groups the commands on the vouchers of OEM partners.\n\n" + voucherRolesHelp,
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{
			{
				Name:      "issue",
				Usage:     "issue a voucher to an OEM partner (the vendor only)",
				UsageText: "airlock authority voucher issue --oem NAME --product SOFTWARE --count N [--tag TAG] [--years N] [--dir DIR]",
				Description: `issue issues a voucher to the OEM partner --oem and prints its code: VC
and two groups of letters and digits, each with a check character.
Converting it (airlock authority voucher convert) issues a license key
for --count licenses of --tag of the software --product, --years years
each (default 1), registered to an end customer. The ledger keeps only
the voucher's hash: hand the code to the OEM now; it is never shown
again. The OEM must have people (airlock authority person add --role
partner --partner NAME).

Example:

    $ airlock authority voucher issue --oem Contoso --product vms --tag vms.camera.core --count 10
    VC-…
    airlock: voucher 1a2b3c4d5e6f7a8b issued to OEM partner "Contoso": 10 vms.camera.core × 1 year of "vms"

Exit status: 0 when issued; 1 when refused; 2 for a wrong command line.`,
				Flags: ledgerFlags(
					&cli.StringFlag{Name: flagOEM, Usage: "the OEM partner `NAME` (as --partner of its people)"},
					&cli.StringFlag{Name: flagProduct, Aliases: []string{flagSoftware}, Usage: "the `SOFTWARE` the licenses are for (license keys name a software)"},
					&cli.StringFlag{Name: flagTag, Usage: "the licenses' `TAG` (default: the --product name, a license of the product itself)"},
					&cli.Int64Flag{Name: flagCount, Usage: "`N` licenses"},
					&cli.IntFlag{Name: flagYears, Value: 1, Usage: "`N` subscription years each license covers"},
				),
				OnUsageError: onUsageError,
				Action:       authorityVoucherIssue,
			},
			{
				Name:      "convert",
				Usage:     "convert a voucher into a license key for an end customer",
				UsageText: "airlock authority voucher convert --voucher VC --org ORG [--contact NAME] [--email ADDRESS] [--company NAME] [--support-contact NAME] [--yes] [--dir DIR]",
				Description: `convert converts the voucher --voucher into a license key registered to
the organization --org: it shows what it will do and asks, then issues
the key (printed once on standard output: hand it to the customer, who
redeems it with 'airlock authority wallet redeem'), marks the voucher
used and records the conversion in the history, naming the person, the
OEM partner and the organization. The support registration names
--contact and --email, by default the converting person's own. A
voucher converts once: converting it again is refused, saying when and
for which organization (only the vendor and the OEM get this far).

` + voucherRolesHelp + `

Example:

    $ airlock authority voucher convert --actor pat@partner.example --voucher VC-… --org acme
    airlock: convert voucher 1a2b3c4d5e6f7a8b of OEM partner "Contoso" for "acme": a license key for 10 vms.camera.core × 1 year of "vms", contact Pat <pat@partner.example>? [y/N] y
    LK-…
    airlock: license key 9f8e7d6c5b4a3928 registered to "acme": hand it to the customer

Exit status: 0 when converted; 1 when refused or not confirmed; 2 for a
wrong command line.`,
				Flags: ledgerFlags(
					&cli.StringFlag{Name: flagVoucher, Usage: "the voucher code `VC` the vendor issued"},
					&cli.StringFlag{Name: flagOrg, Usage: "register the key to the end customer's organization `ORG`"},
					&cli.StringFlag{Name: flagContact, Usage: "the customer's contact `NAME` (default: yours)"},
					&cli.StringFlag{Name: flagEmail, Usage: "the contact's e-mail `ADDRESS` (default: yours)"},
					&cli.StringFlag{Name: flagCompany, Usage: "the company `NAME`, for the support registration"},
					&cli.StringFlag{Name: flagSupportContact, Usage: "the support contact's `NAME`"},
					&cli.BoolFlag{Name: flagYes, Usage: "convert without asking"},
				),
				OnUsageError: onUsageError,
				Action:       authorityVoucherConvert,
			},
			{
				Name:      "list",
				Usage:     "list an OEM partner's vouchers",
				UsageText: "airlock authority voucher list --oem NAME [--json] [--dir DIR]",
				Description: `list prints the vouchers issued to the OEM partner --oem, oldest first:
their ids (never the codes, which the ledger does not keep), what they
convert into, when they were issued, and, once converted, when, for
which organization, into which license key and by whom. For the OEM's
people and the vendor's staff. With --json: an array of objects with
id, software, tag, count, years, licenses, issued, and used, org, key
and converted_by (null while unused).

Example:

    $ airlock authority voucher list --oem Contoso
    VOUCHER           SOFTWARE  LICENSES                      ISSUED      USED        ORG   KEY
    1a2b3c4d5e6f7a8b  vms       10 vms.camera.core × 1 year   2026-12-02  2026-12-03  acme  9f8e7d6c5b4a3928

Exit status: 0 when printed; 1 when refused; 2 for a wrong command line.`,
				Flags: ledgerFlags(
					&cli.StringFlag{Name: flagOEM, Usage: "the OEM partner `NAME`"},
					&cli.BoolFlag{Name: flagJSON, Usage: "print JSON instead of text"},
				),
				OnUsageError: onUsageError,
				Action:       authorityVoucherList,
			},
		},
	}
}

func authorityVoucherIssue(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	v, err := requireFlags(c, flagOEM, "Contoso", flagProduct, "vms")
	if err != nil {
		return err
	}
	tag := c.String(flagTag)
	if tag == "" {
		tag = v[1]
	}
	v = append(v, tag)
	count, err := requireCount(c, "10")
	if err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	iv, err := d.l.IssueVoucher(d.ctx, authority.VoucherSpec{OEM: v[0], Software: v[1], Tag: v[2], Count: count, Years: c.Int(flagYears)})
	if err != nil {
		return err
	}
	if err := writeResult(c.App.Writer, []byte(iv.Code+"\n")); err != nil {
		return withHint(err, fmt.Sprintf("voucher %s is recorded but was not printed, and the ledger keeps only its hash: issue another one", iv.Record.VoucherID()))
	}
	note(c.App.ErrWriter, "voucher %s issued to OEM partner %q: %s of %q", iv.Record.VoucherID(), iv.Record.OEM, iv.Record.Describe(), iv.Record.Software)
	return nil
}

func authorityVoucherConvert(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	v, err := requireFlags(c, flagVoucher, "VC-…", flagOrg, "acme")
	if err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	spec := authority.ConvertSpec{Voucher: v[0], Org: v[1], Contact: c.String(flagContact), Email: c.String(flagEmail),
		Company: c.String(flagCompany), SupportContact: c.String(flagSupportContact)}
	r, err := d.l.ConvertVoucher(d.ctx, spec, true)
	if err != nil {
		return err
	}
	if err := confirm(c, fmt.Sprintf("convert voucher %s of OEM partner %q for %q: a license key for %s of %q, contact %s <%s>?",
		r.Voucher.VoucherID(), r.Voucher.OEM, v[1], r.Record.Describe(), r.Record.Software, r.Registration.Contact, r.Registration.Email)); err != nil {
		return err
	}
	if r, err = d.l.ConvertVoucher(d.ctx, spec, false); err != nil {
		return err
	}
	if err := writeResult(c.App.Writer, []byte(r.Key+"\n")); err != nil {
		return withHint(err, fmt.Sprintf("license key %s is registered but was not printed, and the ledger keeps only its hash: ask the vendor", r.Record.KeyID()))
	}
	note(c.App.ErrWriter, "license key %s registered to %q: hand it to the customer, who redeems it with 'airlock authority wallet redeem'", r.Record.KeyID(), v[1])
	return nil
}

type voucherJSON struct {
	ID          string  `json:"id"`
	Software    string  `json:"software"`
	Tag         string  `json:"tag"`
	Count       int64   `json:"count"`
	Years       int     `json:"years"`
	Licenses    string  `json:"licenses"`
	Issued      string  `json:"issued"`
	Used        *string `json:"used"`
	Org         *string `json:"org"`
	Key         *string `json:"key"`
	ConvertedBy *string `json:"converted_by"`
}

func authorityVoucherList(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	oem, err := requireFlag(c, flagOEM, "Contoso")
	if err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	vs, err := d.l.Vouchers(d.ctx, oem)
	if err != nil {
		return err
	}
	out := make([]voucherJSON, len(vs))
	rows := [][]string{{"VOUCHER", "SOFTWARE", "LICENSES", "ISSUED", "USED", "ORG", "KEY"}}
	for i, v := range vs {
		j := voucherJSON{ID: v.VoucherID(), Software: v.Software, Tag: v.Tag, Count: v.Count, Years: v.Years,
			Licenses: v.Describe(), Issued: unixRFC(v.IssuedAt)}
		row := []string{j.ID, j.Software, j.Licenses, authority.FormatDay(v.IssuedAt), "-", "-", "-"}
		if v.Used() {
			used, org, key, by := unixRFC(v.UsedAt), v.Org, authority.KeyID(v.KeyHash), v.UsedBy
			j.Used, j.Org, j.Key, j.ConvertedBy = &used, &org, &key, &by
			row[4], row[5], row[6] = authority.FormatDay(v.UsedAt), org, key
		}
		out[i] = j
		rows = append(rows, row)
	}
	return writeListing(c, out, rows, nil, fmt.Sprintf("no vouchers for OEM partner %q: 'airlock authority voucher issue --oem %s' issues one", oem, oem))
}

func authorityPartnerCommand() *cli.Command {
	return &cli.Command{
		Name:            "partner",
		Usage:           "what a channel or OEM partner has to deliver",
		UsageText:       "airlock authority partner keys --partner NAME [OPTIONS]",
		Description:     "partner groups the commands on a partner's own records.\n\n" + voucherRolesHelp,
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{{
			Name:      "keys",
			Usage:     "list the license keys a partner's people issued for customers",
			UsageText: "airlock authority partner keys --partner NAME [--json] [--dir DIR]",
			Description: `keys lists the license keys the people of the partner --partner issued
on customers' behalf, oldest first: those they converted from vouchers,
and those they registered from serial numbers for organizations that
delegated to the partner. For the partner's people and the vendor's
staff: it is what the partner has to deliver.

The list names each key by its id, with the organization it is
registered to, what it carries, when and by whom it was issued: the
typed key itself was printed once, when it was issued, and the ledger
keeps only its hash. A key that was lost before it was delivered
cannot be shown again.

With --json: an array of objects with key, org, software, licenses,
issued, by, contact and email.

Example:

    $ airlock authority partner keys --partner Contoso
    KEY               ORG   SOFTWARE  LICENSES                     ISSUED      BY
    9f8e7d6c5b4a3928  acme  vms       10 vms.camera.core × 1 year  2026-12-03  pat@partner.example

Exit status: 0 when printed; 1 when refused; 2 for a wrong command line.`,
			Flags: ledgerFlags(
				&cli.StringFlag{Name: flagPartner, Usage: "the partner `NAME`"},
				&cli.BoolFlag{Name: flagJSON, Usage: "print JSON instead of text"},
			),
			OnUsageError: onUsageError,
			Action:       authorityPartnerKeys,
		}},
	}
}

type partnerKeyJSON struct {
	Key      string `json:"key"`
	Org      string `json:"org"`
	Software string `json:"software"`
	Licenses string `json:"licenses"`
	Issued   string `json:"issued"`
	By       string `json:"by"`
	Contact  string `json:"contact"`
	Email    string `json:"email"`
}

func authorityPartnerKeys(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	partner, err := requireFlag(c, flagPartner, "Contoso")
	if err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	ks, err := d.l.PartnerKeys(d.ctx, partner)
	if err != nil {
		return err
	}
	out := make([]partnerKeyJSON, len(ks))
	rows := [][]string{{"KEY", "ORG", "SOFTWARE", "LICENSES", "ISSUED", "BY"}}
	for i, k := range ks {
		out[i] = partnerKeyJSON{Key: k.Key.KeyID(), Org: k.Org, Software: k.Key.Software, Licenses: k.Key.Describe(),
			Issued: unixRFC(k.Registration.At), By: k.By, Contact: k.Registration.Contact, Email: k.Registration.Email}
		rows = append(rows, []string{out[i].Key, k.Org, k.Key.Software, out[i].Licenses, authority.FormatDay(k.Registration.At), k.By})
	}
	return writeListing(c, out, rows, nil, fmt.Sprintf("the people of partner %q issued no license key yet", partner))
}
