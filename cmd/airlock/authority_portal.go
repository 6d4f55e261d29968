package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/authority"
)

// Flags of the portal commands.
const (
	flagEmail          = "email"
	flagPasswordStdin  = "password-stdin"
	flagRole           = "role"
	flagPartner        = "partner"
	flagSerial         = "serial"
	flagContact        = "contact"
	flagCompany        = "company"
	flagSupportContact = "support-contact"
	flagSupportUntil   = "support-until"
	flagField          = "field"
	flagKey            = "key"
	flagWith           = "with"
)

const portalRolesHelp = `Every desk command acts as --actor (or AIRLOCK_ACTOR), the e-mail
address of a person on the ledger (airlock authority person add), and
checks that person's role: vendor support may do everything; an
organization's administrator manages it (reserves, confirms, updates,
transfers, adds accounts, registers serials, allocates, sets fields,
shares, delegates, adds its people); a viewer only reads it; a partner
manages the organizations that delegated to it, and the history names
the partner and the organization. Organizations, lots, keys and the
whole history are the vendor's. Until the vendor adds its first person
with the vendor role, the desk's operator acts as the vendor.`

func authorityPersonCommand() *cli.Command {
	return &cli.Command{
		Name:            "person",
		Usage:           "add and list the people who act, with their roles",
		UsageText:       "airlock authority person COMMAND [OPTIONS]",
		Description:     "person groups the commands on the people who act on the ledger.\n\n" + portalRolesHelp,
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "add a person with a role",
				UsageText: "airlock authority person add --email ADDRESS --name NAME --role vendor|admin|viewer|partner [--org ORG] [--partner NAME] [--dir DIR]",
				Description: `add adds a person: vendor support (--role vendor), an administrator or a
viewer of the organization --org (--role admin|viewer), or someone of
the channel partner --partner (--role partner). The vendor adds anyone;
an organization's administrator adds administrators and viewers of it.

Example:

    $ airlock authority person add --email ann@acme.example --name Ann --role admin --org acme
    airlock: ann@acme.example (Ann) added as admin of acme

Exit status: 0 when the person was added; 1 when refused; 2 for a wrong
command line.`,
				Flags: ledgerFlags(
					&cli.StringFlag{Name: flagEmail, Usage: "the person's e-mail `ADDRESS`, which names them as --actor"},
					&cli.StringFlag{Name: flagName, Usage: "the person's `NAME`"},
					&cli.StringFlag{Name: flagRole, Usage: "`ROLE`: vendor, admin, viewer or partner"},
					&cli.StringFlag{Name: flagOrg, Usage: "the organization `ORG` of an admin or viewer"},
					&cli.StringFlag{Name: flagPartner, Usage: "the partner `NAME` of a partner's person"},
				),
				OnUsageError: onUsageError,
				Action:       authorityPersonAdd,
			},
			{
				Name:      "list",
				Usage:     "list the people of an organization, or everyone",
				UsageText: "airlock authority person list [--org ORG] [--json] [--dir DIR]",
				Description: `list prints the people of --org (for its people, the vendor and its
partners), or everyone (for the vendor). With --json: an array of
objects with email, name, role, org and partner.

Exit status: 0 when printed; 1 when refused; 2 for a wrong command line.`,
				Flags:        orgReadFlags(),
				OnUsageError: onUsageError,
				Action:       authorityPersonList,
			},
			{
				Name:      "password",
				Usage:     "set a person's password for the web portal",
				UsageText: "airlock authority person password --email ADDRESS [--password-stdin] [--dir DIR]",
				Description: `password sets the password with which the person signs in to the web
portal (airlock authority serve --portal), hashed with argon2id; the
person's sessions end. People set their own; vendor support sets
anyone's; an organization's administrator those of its administrators
and viewers. The password is typed twice on the terminal, without echo,
or with --password-stdin read from the first line of standard input. It
needs 12 characters at least: a few words make a good one.

Example:

    $ airlock authority person password --email ann@acme.example
    airlock: new password of ann@acme.example: 
    airlock: the same password again: 
    airlock: ann@acme.example can sign in to the portal; their sessions ended

Exit status: 0 when set; 1 when refused; 2 for a wrong command line.`,
				Flags: ledgerFlags(
					&cli.StringFlag{Name: flagEmail, Usage: "the person's e-mail `ADDRESS`"},
					&cli.BoolFlag{Name: flagPasswordStdin, Usage: "read the password from the first line of standard input"},
				),
				OnUsageError: onUsageError,
				Action:       authorityPersonPassword,
			},
		},
	}
}

// authorityPersonPassword sets a person's web sign-in password.
func authorityPersonPassword(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	v, err := requireFlags(c, flagEmail, "ann@acme.example")
	if err != nil {
		return err
	}
	password, err := readPassword(c, v[0])
	if err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.l.SetPassword(d.ctx, v[0], password, authority.PasswordParams{}); err != nil {
		return err
	}
	note(c.App.ErrWriter, "%s can sign in to the portal; their sessions ended", v[0])
	return nil
}

// readPassword reads a new password: the first line of standard input
// with --password-stdin, else twice on the terminal without echo. It is
// checked before the ledger is opened.
func readPassword(c *cli.Context, email string) (string, error) {
	var password string
	if c.Bool(flagPasswordStdin) {
		line, err := bufio.NewReader(io.LimitReader(c.App.Reader, authority.MaxPasswordSize+2)).ReadString('\n')
		if err != nil && (err != io.EOF || line == "") {
			return "", fmt.Errorf("reading the password from standard input: %v", err)
		}
		password = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	} else {
		f, ok := c.App.Reader.(*os.File)
		if !ok || !isTerminal(f) {
			return "", withHint(errors.New("no password: standard input is not a terminal to ask on"), "give it on standard input with --password-stdin")
		}
		p1, err := askSecret(f, c.App.ErrWriter, "new password of "+email)
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		p2, err := askSecret(f, c.App.ErrWriter, "the same password again")
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		if string(p1) != string(p2) {
			return "", withHint(errors.New("the two passwords differ"), "run the command again and type the same password twice")
		}
		password = string(p1)
	}
	return password, authority.CheckNewPassword(email, password)
}

func authorityPersonAdd(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	v, err := requireFlags(c, flagEmail, "ann@acme.example", flagName, "Ann", flagRole, "admin")
	if err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	p, err := d.l.AddPerson(d.ctx, authority.Person{Email: v[0], Name: v[1], Role: v[2], Org: c.String(flagOrg), Partner: c.String(flagPartner)})
	if err != nil {
		return err
	}
	role := p.Role
	switch p.Role {
	case authority.RoleAdmin, authority.RoleViewer:
		role += " of " + p.Org
	case authority.RolePartner:
		role += " " + p.Partner
	}
	note(c.App.ErrWriter, "%s (%s) added as %s", p.Email, p.Name, role)
	return nil
}

type personJSON struct {
	Email   string `json:"email"`
	Name    string `json:"name"`
	Role    string `json:"role"`
	Org     string `json:"org"`
	Partner string `json:"partner"`
}

func authorityPersonList(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	ps, err := d.l.People(d.ctx, c.String(flagOrg))
	if err != nil {
		return err
	}
	out := make([]personJSON, len(ps))
	rows := [][]string{{"EMAIL", "NAME", "ROLE", "ORG", "PARTNER"}}
	for i, p := range ps {
		out[i] = personJSON{Email: p.Email, Name: p.Name, Role: p.Role, Org: p.Org, Partner: p.Partner}
		rows = append(rows, []string{p.Email, p.Name, p.Role, dashIfEmpty(p.Org), dashIfEmpty(p.Partner)})
	}
	return writeListing(c, out, rows, nil, "nobody yet: the desk acts as the vendor until 'airlock authority person add --role vendor' adds someone")
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func authoritySerialCommand() *cli.Command {
	return &cli.Command{
		Name:            "serial",
		Usage:           "issue serial numbers for certificates",
		UsageText:       "airlock authority serial issue --product SOFTWARE --tag TAG --count N [--years N] [--support-until DATE]",
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{{
			Name:      "issue",
			Usage:     "issue a serial number (the vendor only)",
			UsageText: "airlock authority serial issue --product SOFTWARE --tag TAG --count N [--years N] [--support-until DATE] [--dir DIR]",
			Description: `issue issues a serial number for a certificate: SN and two groups of
letters and digits, each with a check character. Registering it
(airlock authority register) issues a license key for --count licenses
of --tag of the software --product (--years years each, default 1),
with support until --support-until. The ledger keeps only the serial's
hash: print it on the certificate now; it is never shown again.

Example:

    $ airlock authority serial issue --product vms --tag vms.camera.core --count 10 --support-until 2027-12-31
    SN-…

Exit status: 0 when issued; 1 when refused; 2 for a wrong command line.`,
			Flags: ledgerFlags(
				&cli.StringFlag{Name: flagProduct, Aliases: []string{flagSoftware}, Usage: "the `SOFTWARE` the licenses are for (license keys name a software)"},
				&cli.StringFlag{Name: flagTag, Usage: "the licenses' `TAG`"},
				&cli.Int64Flag{Name: flagCount, Usage: "`N` licenses"},
				&cli.IntFlag{Name: flagYears, Value: 1, Usage: "`N` subscription years each license covers"},
				&cli.StringFlag{Name: flagSupportUntil, Usage: "support until `DATE` (YYYY-MM-DD)"},
			),
			OnUsageError: onUsageError,
			Action:       authoritySerialIssue,
		}},
	}
}

func authoritySerialIssue(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	v, err := requireFlags(c, flagProduct, "vms", flagTag, "vms.camera.core")
	if err != nil {
		return err
	}
	count, err := requireCount(c, "10")
	if err != nil {
		return err
	}
	until, err := dateFlag(c, flagSupportUntil)
	if err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	sn, err := d.l.IssueSerial(d.ctx, authority.SerialSpec{Software: v[0], Tag: v[1], Count: count, Years: c.Int(flagYears), SupportUntil: until})
	if err != nil {
		return err
	}
	if err := writeResult(c.App.Writer, []byte(sn+"\n")); err != nil {
		return withHint(err, "the serial is recorded but was not printed: issue another one")
	}
	note(c.App.ErrWriter, "serial number issued: print it on the certificate; the ledger keeps only its hash")
	return nil
}

func authorityRegisterCommand() *cli.Command {
	return &cli.Command{
		Name:      "register",
		Usage:     "register a serial number to an organization and get its license key",
		UsageText: "airlock authority register --serial SN --org ORG --contact NAME --email ADDRESS [--company NAME] [--support-contact NAME] [--yes] [--dir DIR]",
		Description: `register registers the serial number --serial (from the certificate) to
the organization --org: it shows what will be registered and asks, then
issues the license key the serial carries (printed once on standard
output: redeem it with 'airlock authority wallet redeem') and records
the support registration (--contact, --email, --company,
--support-contact). A serial registers once; registering it again is
refused, naming the organization it went to only to that organization.

` + portalRolesHelp + `

Example:

    $ airlock authority register --actor ann@acme.example --serial SN-… --org acme --contact Ann --email ann@acme.example
    airlock: register serial 1a2b3c4d5e6f7a8b to "acme": a license key for 10 vms.camera.core × 1 year of "vms", support until 2027-12-31? [y/N] y
    LK-…
    airlock: license key 9f8e7d6c5b4a3928 registered to "acme"

Exit status: 0 when registered; 1 when refused or not confirmed; 2 for
a wrong command line.`,
		Flags: ledgerFlags(
			&cli.StringFlag{Name: flagSerial, Usage: "the serial number `SN` from the certificate"},
			&cli.StringFlag{Name: flagOrg, Usage: "register to the organization `ORG`"},
			&cli.StringFlag{Name: flagContact, Usage: "the contact's `NAME`"},
			&cli.StringFlag{Name: flagEmail, Usage: "the contact's e-mail `ADDRESS`"},
			&cli.StringFlag{Name: flagCompany, Usage: "the company `NAME`, for the support registration"},
			&cli.StringFlag{Name: flagSupportContact, Usage: "the support contact's `NAME`"},
			&cli.BoolFlag{Name: flagYes, Usage: "register without asking"},
		),
		OnUsageError: onUsageError,
		Action:       authorityRegister,
	}
}

func authorityRegister(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	v, err := requireFlags(c, flagSerial, "SN-…", flagOrg, "acme", flagContact, "Ann", flagEmail, "ann@acme.example")
	if err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	spec := authority.RegisterSpec{Serial: v[0], Org: v[1], Contact: v[2], Email: v[3], Company: c.String(flagCompany), SupportContact: c.String(flagSupportContact)}
	r, err := d.l.Register(d.ctx, spec, true)
	if err != nil {
		return err
	}
	support := ""
	if r.Serial.SupportUntil != 0 {
		support = ", support until " + authority.FormatDay(r.Serial.SupportUntil)
	}
	if err := confirm(c, fmt.Sprintf("register serial %s to %q: a license key for %s of %q%s?",
		authority.KeyID(r.Serial.Hash), v[1], r.Record.Describe(), r.Record.Software, support)); err != nil {
		return err
	}
	if r, err = d.l.Register(d.ctx, spec, false); err != nil {
		return err
	}
	if err := writeResult(c.App.Writer, []byte(r.Key+"\n")); err != nil {
		return withHint(err, "the key is registered but was not printed, and the ledger keeps only its hash: ask the vendor")
	}
	note(c.App.ErrWriter, "license key %s registered to %q: redeem it into a product with 'airlock authority wallet redeem'", r.Record.KeyID(), v[1])
	return nil
}

type licenseJSON struct {
	Key            string            `json:"key"`
	Software       string            `json:"software"`
	Licenses       string            `json:"licenses"`
	Product        *string           `json:"product"`
	SupportUntil   *string           `json:"support_until"`
	Contact        string            `json:"contact"`
	Email          string            `json:"email"`
	Company        string            `json:"company"`
	SupportContact string            `json:"support_contact"`
	Registered     string            `json:"registered"`
	Converted      int64             `json:"converted"`
	Fields         map[string]string `json:"fields"`
	Shares         map[string]string `json:"shares"`
}

// authorityOrgLicenses lists an organization's registered licenses.
func authorityOrgLicenses(c *cli.Context, d *desk) error {
	match := map[string]string{}
	for _, f := range c.StringSlice(flagField) {
		name, value, ok := strings.Cut(f, "=")
		if !ok || name == "" {
			return usagef(c.Command.HelpName, "for example: --field site=plant-4", "--%s %q: want NAME=VALUE", flagField, f)
		}
		match[name] = value
	}
	ls, err := d.l.OrgLicenses(d.ctx, c.String(flagOrg), match)
	if err != nil {
		return err
	}
	out := make([]licenseJSON, len(ls))
	rows := [][]string{{"KEY", "SOFTWARE", "LICENSES", "PRODUCT", "SUPPORT UNTIL", "FIELDS"}}
	for i, l := range ls {
		j := licenseJSON{Key: l.Key.KeyID(), Software: l.Key.Software, Licenses: l.Key.Describe(), Contact: l.Registration.Contact,
			Email: l.Registration.Email, Company: l.Registration.Company, SupportContact: l.Registration.SupportContact,
			Registered: unixRFC(l.Registration.At), Converted: l.Converted, Fields: map[string]string{}, Shares: map[string]string{}}
		if l.Converted > 0 {
			j.Licenses += fmt.Sprintf(", %d upgraded", l.Converted)
		}
		if l.Redeemed != nil {
			j.Product = &l.Product
		}
		if l.Registration.SupportUntil != 0 {
			s := authority.FormatDay(l.Registration.SupportUntil)
			j.SupportUntil = &s
		}
		var fs []string
		for _, f := range l.Fields {
			j.Fields[f.Name] = f.Value
			fs = append(fs, f.Name+"="+f.Value)
		}
		for _, s := range l.Shares {
			j.Shares[s.Email] = s.Role
		}
		out[i] = j
		product, support := "-", "-"
		if j.Product != nil {
			product = *j.Product
		}
		if j.SupportUntil != nil {
			support = *j.SupportUntil
		}
		rows = append(rows, []string{j.Key, j.Software, j.Licenses, product, support, strings.Join(fs, " ")})
	}
	return writeListing(c, out, rows, nil, "no license matches: 'airlock authority register' registers a serial number")
}

func authorityLicenseCommand() *cli.Command {
	keyFlag := &cli.StringFlag{Name: flagKey, Usage: "the license `KEY`: its id as 'airlock authority licenses --org ORG' lists it, or the key itself"}
	return &cli.Command{
		Name:            "license",
		Usage:           "set custom fields on a registered license, and share it",
		UsageText:       "airlock authority license set|unset|share --key KEY …",
		Description:     "license groups the commands on one registered license.\n\n" + portalRolesHelp,
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{
			{
				Name:      "set",
				Usage:     "set custom fields",
				UsageText: "airlock authority license set --key KEY NAME=VALUE... [--dir DIR]",
				Description: `set sets custom fields of the license --key (at most 32; names without
spaces or '='; values up to 256 characters). 'airlock authority licenses
--org ORG --field NAME=VALUE' finds licenses by them.

Exit status: 0 when set; 1 when refused; 2 for a wrong command line.`,
				Flags:        ledgerFlags(keyFlag),
				OnUsageError: onUsageError,
				Action:       func(c *cli.Context) error { return authorityLicenseFields(c, true) },
			},
			{
				Name:         "unset",
				Usage:        "remove custom fields",
				UsageText:    "airlock authority license unset --key KEY NAME... [--dir DIR]",
				Flags:        ledgerFlags(keyFlag),
				OnUsageError: onUsageError,
				Action:       func(c *cli.Context) error { return authorityLicenseFields(c, false) },
			},
			{
				Name:      "share",
				Usage:     "share a license with another contact of the organization",
				UsageText: "airlock authority license share --key KEY --with ADDRESS --role viewer|manager [--dir DIR]",
				Description: `share lets the person --with (a contact of the license's organization)
see the license (viewer) or manage it (manager: set its fields, share
it). Recorded in the history.

Exit status: 0 when shared; 1 when refused; 2 for a wrong command line.`,
				Flags: ledgerFlags(keyFlag,
					&cli.StringFlag{Name: flagWith, Usage: "the contact's e-mail `ADDRESS`"},
					&cli.StringFlag{Name: flagRole, Usage: "`ROLE`: viewer or manager"},
				),
				OnUsageError: onUsageError,
				Action:       authorityLicenseShare,
			},
		},
	}
}

func authorityLicenseFields(c *cli.Context, set bool) error {
	what := "NAME=VALUE..."
	if !set {
		what = "NAME..."
	}
	if err := checkArgs(c, 1, math.MaxInt, what); err != nil {
		return err
	}
	key, err := requireFlag(c, flagKey, "9f8e7d6c5b4a3928")
	if err != nil {
		return err
	}
	type field struct{ name, value string }
	var fs []field
	for _, a := range c.Args().Slice() {
		name, value, ok := strings.Cut(a, "=")
		switch {
		case set && (!ok || value == ""):
			return usagef(c.Command.HelpName, "for example: site=plant-4", "%q: want NAME=VALUE with a value ('license unset' removes a field)", a)
		case !set && ok:
			return usagef(c.Command.HelpName, "for example: site", "%q: want a field NAME", a)
		}
		fs = append(fs, field{name, value})
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	for _, f := range fs {
		did, err := d.l.SetLicenseField(d.ctx, key, f.name, f.value)
		if err != nil {
			return err
		}
		switch {
		case !did:
			note(c.App.ErrWriter, "field %s was so already", f.name)
		case set:
			note(c.App.ErrWriter, "field %s set to %q", f.name, f.value)
		default:
			note(c.App.ErrWriter, "field %s removed", f.name)
		}
	}
	return nil
}

func authorityLicenseShare(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	v, err := requireFlags(c, flagKey, "9f8e7d6c5b4a3928", flagWith, "vic@acme.example", flagRole, "viewer")
	if err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.l.ShareLicense(d.ctx, v[0], v[1], v[2]); err != nil {
		return err
	}
	note(c.App.ErrWriter, "license %s shared with %s as %s", v[0], v[1], v[2])
	return nil
}

// orgDelegateCommands are the delegation subcommands of authority org.
func orgDelegateCommands() []*cli.Command {
	flags := ledgerFlags(
		&cli.StringFlag{Name: flagOrg, Usage: "the organization `ORG`"},
		&cli.StringFlag{Name: flagPartner, Usage: "the partner `NAME`"},
	)
	return []*cli.Command{
		{
			Name:      "delegate",
			Usage:     "let a channel partner manage an organization",
			UsageText: "airlock authority org delegate --org ORG --partner NAME [--dir DIR]",
			Description: `delegate lets the people of the partner --partner manage the organization
--org, as its administrators do (but not delegate further), until
'airlock authority org revoke'. Each of their acts is recorded with
their name, the partner's and the organization's. The partner must have
people on the ledger ('airlock authority person add --role partner
--partner NAME'): a name none of them has is refused, for it would hand
the organization to whoever is later added under that name.

Exit status: 0 when delegated; 1 when refused; 2 for a wrong command line.`,
			Flags:        flags,
			OnUsageError: onUsageError,
			Action:       func(c *cli.Context) error { return authorityOrgDelegate(c, false) },
		},
		{
			Name:         "revoke",
			Usage:        "end a partner's delegation",
			UsageText:    "airlock authority org revoke --org ORG --partner NAME [--dir DIR]",
			Flags:        flags,
			OnUsageError: onUsageError,
			Action:       func(c *cli.Context) error { return authorityOrgDelegate(c, true) },
		},
	}
}

func authorityOrgDelegate(c *cli.Context, revoke bool) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	v, err := requireFlags(c, flagOrg, "acme", flagPartner, "Contoso")
	if err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.l.Delegate(d.ctx, v[0], v[1], revoke); err != nil {
		return err
	}
	if revoke {
		note(c.App.ErrWriter, "partner %q no longer manages %q", v[1], v[0])
	} else {
		note(c.App.ErrWriter, "partner %q manages %q until 'airlock authority org revoke'", v[1], v[0])
	}
	return nil
}

func init() {
	hints = append([]struct {
		sentinel error
		hint     string
	}{
		{authority.ErrSerialTypo, "check the group named above against the certificate and type it again"},
		{authority.ErrSerialMalformed, "a serial number looks like SN-XXXXXXXXX-XXXXXXXXX, as the certificate prints it"},
		{authority.ErrNoticeTypo, "check the group named above against the upgrade notification and type it again"},
		{authority.ErrNoticeMalformed, "a notification id looks like UN-XXXXXXXXX-XXXXXXXXX, as the upgrade notification gives it"},
		{authority.ErrSerialUsed, "'airlock authority licenses --org ORG' lists the licenses the organization registered"},
		{authority.ErrDenied, "'airlock authority person list --org ORG' shows who may act for an organization, and in which role"},
		{authority.ErrUpgradeShort, "'airlock authority licenses --org ORG' shows what the organization holds and what upgrades converted"},
	}, hints...)
}
