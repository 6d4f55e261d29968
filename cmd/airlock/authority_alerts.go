package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/cmd/airlock/internal/mail"
)

// Flags and environment of the alert commands.
const (
	flagSMTP     = "smtp"
	flagMailFrom = "from"
	flagOutbox   = "outbox"
	envSMTP      = "AIRLOCK_SMTP"
	envMailFrom  = "AIRLOCK_SMTP_FROM"
	// outboxDir is the default outbox, in the authority folder.
	outboxDir = "outbox"
)

const authorityAlertsDescription = `alerts groups the commands on resource alerts about activation codes:
a product that will run out of codes for the devices due to renew within
30 days, and a product with fewer codes left than the organization's
threshold. Each organization names the e-mail addresses that receive
them (alerts recipients) and, if it wants, a threshold (alerts
threshold); 'airlock authority alerts check' computes the alerts and
sends them, and should run daily, after 'airlock authority pool renew'.

Example:

    $ airlock authority alerts recipients add --org acme ops@plant.example
    $ airlock authority alerts threshold --org acme 50
    $ AIRLOCK_SMTP=smtp://mail.plant.example AIRLOCK_SMTP_FROM=airlock@plant.example airlock authority alerts check`

func authorityAlertsCommand() *cli.Command {
	orgFlag := &cli.StringFlag{Name: flagOrg, Usage: "the organization `ORG`"}
	return &cli.Command{
		Name:            "alerts",
		Usage:           "e-mail alerts when activation codes run short",
		UsageText:       "airlock authority alerts COMMAND [OPTIONS] [ARGUMENTS]",
		Description:     authorityAlertsDescription,
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{
			{
				Name:            "recipients",
				Usage:           "add, remove and list the addresses that receive alerts",
				UsageText:       "airlock authority alerts recipients add|remove|list --org ORG [ADDRESS...]",
				OnUsageError:    onUsageError,
				Action:          groupAction,
				HideHelpCommand: true,
				Subcommands: []*cli.Command{
					{Name: "add", Usage: "add e-mail addresses", UsageText: "airlock authority alerts recipients add --org ORG ADDRESS...",
						Description: "add adds each ADDRESS (local@domain, e.g. ops@plant.example) to the alert recipients of --org.\nAn address that is not one is refused, and nothing is added.\n\nExit status: 0 when added; 1 when refused; 2 for a wrong command line.",
						Flags:       ledgerFlags(orgFlag), OnUsageError: onUsageError, Action: func(c *cli.Context) error { return authorityAlertsRecipients(c, true) }},
					{Name: "remove", Usage: "remove e-mail addresses", UsageText: "airlock authority alerts recipients remove --org ORG ADDRESS...",
						Flags: ledgerFlags(orgFlag), OnUsageError: onUsageError, Action: func(c *cli.Context) error { return authorityAlertsRecipients(c, false) }},
					{Name: "list", Usage: "list the addresses and the threshold", UsageText: "airlock authority alerts recipients list --org ORG [--json]",
						Description: "list prints the alert recipients of --org, one per line, and its threshold.\nWith --json: an object with the members recipients (array) and threshold (null when none).",
						Flags:       ledgerFlags(orgFlag, &cli.BoolFlag{Name: flagJSON, Usage: "print JSON instead of text"}), OnUsageError: onUsageError, Action: authorityAlertsList},
				},
			},
			{
				Name:      "threshold",
				Usage:     "alert when a product has fewer codes left than N",
				UsageText: "airlock authority alerts threshold --org ORG N|off",
				Description: `threshold sets the remaining codes under which a product of --org raises
an alert; off clears it.

Exit status: 0 when set; 1 when refused; 2 for a wrong command line.`,
				Flags:        ledgerFlags(orgFlag),
				OnUsageError: onUsageError,
				Action:       authorityAlertsThreshold,
			},
			{
				Name:      "check",
				Usage:     "compute the alerts and send them",
				UsageText: "airlock authority alerts check [--org ORG] [--smtp SERVER] [--from ADDRESS] [--outbox DIR] [--json] [--dir DIR]",
				Description: `check computes the alerts of the organization --org, or of every
organization with fleet products, and sends each organization's alerts
in one e-mail to its recipients.

The mail goes through the SMTP server --smtp (or $` + envSMTP + `): host, host:port
(port 587), smtp://[user@]host[:port] (STARTTLS when the server offers
it), smtp://…?tls=required (refuse a server without STARTTLS), or
smtps://[user@]host[:port] (TLS from the start, port 465). The password
of the user comes from $` + mail.PasswordEnv + ` only. The sender is --from
(or $` + envMailFrom + `), required with a server.

Without a server the messages are written as .eml files to the folder
--outbox (default: outbox in the authority folder), for another tool to
send or for someone to read.

Each sending is recorded in the history. An organization with alerts
and no recipients is reported on standard error.

With --json it prints an array of objects with the members org,
recipients, alerts (kind: run-out or low, pk, product, remaining, due:
the devices renewing within 30 days, or null; threshold, or null;
message) and sent (how: "smtp HOST:PORT" or the outbox file; null when
nothing was sent).

Exit status: 0 when every alert with a recipient was sent or written
(and when there is none); 1 when one could not be sent; 2 for a wrong
command line.`,
				Flags: ledgerFlags(
					&cli.StringFlag{Name: flagOrg, Usage: "only the organization `ORG`"},
					&cli.StringFlag{Name: flagSMTP, EnvVars: []string{envSMTP}, Usage: "send through the SMTP server `SERVER`"},
					&cli.StringFlag{Name: flagMailFrom, EnvVars: []string{envMailFrom}, Usage: "send from `ADDRESS`"},
					&cli.StringFlag{Name: flagOutbox, Usage: "without --smtp, write the messages to `DIR` (default: outbox in the authority folder)"},
					&cli.BoolFlag{Name: flagJSON, Usage: "print JSON instead of text"},
				),
				OnUsageError: onUsageError,
				Action:       authorityAlertsCheck,
			},
		},
	}
}

func authorityAlertsRecipients(c *cli.Context, add bool) error {
	if err := checkArgs(c, 1, math.MaxInt, "ADDRESS..."); err != nil {
		return err
	}
	org, err := requireFlag(c, flagOrg, "acme")
	if err != nil {
		return err
	}
	var addrs []string
	for _, a := range c.Args().Slice() {
		addr, err := mail.ParseAddress(a)
		if err != nil {
			return usagef(c.Command.HelpName, "", "%v", err)
		}
		addrs = append(addrs, addr)
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	for _, a := range addrs {
		did, err := d.l.SetAlertRecipient(d.ctx, org, a, add)
		if err != nil {
			return err
		}
		switch {
		case add && did:
			note(c.App.ErrWriter, "%s receives the alerts of %q", a, org)
		case add:
			note(c.App.ErrWriter, "%s received the alerts of %q already", a, org)
		case did:
			note(c.App.ErrWriter, "%s no longer receives the alerts of %q", a, org)
		default:
			note(c.App.ErrWriter, "%s was not a recipient of %q", a, org)
		}
	}
	return nil
}

func authorityAlertsList(c *cli.Context) error {
	org, d, err := orgDesk(c)
	if err != nil {
		return err
	}
	defer d.Close()
	rs, below, err := d.l.AlertRecipients(d.ctx, org)
	if err != nil {
		return err
	}
	if c.Bool(flagJSON) {
		v := struct {
			Recipients []string `json:"recipients"`
			Threshold  *int64   `json:"threshold"`
		}{Recipients: append([]string{}, rs...)}
		if below >= 0 {
			v.Threshold = &below
		}
		return writeJSON(c, v)
	}
	if below >= 0 {
		note(c.App.ErrWriter, "threshold: alert when a product has fewer than %d codes left", below)
	}
	if len(rs) == 0 {
		note(c.App.ErrWriter, "%q has no alert recipients: 'airlock authority alerts recipients add' adds one", org)
		return nil
	}
	return writeResult(c.App.Writer, []byte(strings.Join(rs, "\n")+"\n"))
}

func authorityAlertsThreshold(c *cli.Context) error {
	if err := checkArgs(c, 1, 1, "N|off"); err != nil {
		return err
	}
	org, err := requireFlag(c, flagOrg, "acme")
	if err != nil {
		return err
	}
	below := int64(-1)
	if arg := c.Args().First(); arg != "off" {
		n, err := strconv.ParseInt(arg, 10, 64)
		if err != nil || n < 0 {
			return usagef(c.Command.HelpName, "for example: 50, or off", "%q is not a number of codes", arg)
		}
		below = n
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.l.SetAlertThreshold(d.ctx, org, below); err != nil {
		return err
	}
	if below < 0 {
		note(c.App.ErrWriter, "threshold of %q cleared", org)
	} else {
		note(c.App.ErrWriter, "a product of %q with fewer than %d codes left raises an alert", org, below)
	}
	return nil
}

type alertJSON struct {
	Kind      string `json:"kind"`
	PK        string `json:"pk"`
	Product   string `json:"product"`
	Remaining int64  `json:"remaining"`
	Due       *int64 `json:"due"`       // run-out alerts; null otherwise
	Threshold *int64 `json:"threshold"` // low alerts; null otherwise
	Message   string `json:"message"`
}

type orgAlertsJSON struct {
	Org        string      `json:"org"`
	Recipients []string    `json:"recipients"`
	Alerts     []alertJSON `json:"alerts"`
	Sent       *string     `json:"sent"`
}

// alertMessage is the e-mail of one organization's alerts.
func alertMessage(from string, oa *authority.OrgAlerts) *mail.Message {
	var b strings.Builder
	fmt.Fprintf(&b, "airlock found %d activation-code alerts for %s:\n\n", len(oa.Alerts), oa.Org)
	for _, a := range oa.Alerts {
		fmt.Fprintf(&b, "- %s\n", a.Message)
	}
	fmt.Fprintf(&b, "\nCounts: airlock authority pool show --org %s\nDevices near expiry: airlock authority device near-expiry --org %s\nMore codes: airlock authority pool buy / pool allocate\n", oa.Org, oa.Org)
	return &mail.Message{From: from, To: oa.Recipients, Subject: fmt.Sprintf("airlock: %d activation-code alerts for %s", len(oa.Alerts), oa.Org), Body: b.String()}
}

func authorityAlertsCheck(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	var server *mail.SMTP
	if spec := c.String(flagSMTP); spec != "" {
		s, err := mail.ParseSMTP(spec)
		if err != nil {
			return usagef(c.Command.HelpName, "", "--%s: %v", flagSMTP, err)
		}
		if s.Username != "" {
			s.Password = os.Getenv(mail.PasswordEnv)
		}
		server = s
	}
	from := c.String(flagMailFrom)
	switch {
	case from != "":
		f, err := mail.ParseAddress(from)
		if err != nil {
			return usagef(c.Command.HelpName, "", "--%s: %v", flagMailFrom, err)
		}
		from = f
	case server != nil:
		return usagef(c.Command.HelpName, "for example: --from airlock@plant.example, or export "+envMailFrom, "missing --%s ADDRESS: the sender of the alerts", flagMailFrom)
	default:
		from = "airlock@localhost"
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	outbox := c.String(flagOutbox)
	if outbox == "" {
		outbox = filepath.Join(d.dir, outboxDir)
	}
	all, err := d.l.Alerts(d.ctx, c.String(flagOrg))
	if err != nil {
		return err
	}
	stderr := c.App.ErrWriter
	var out []orgAlertsJSON
	var failed error
	for i := range all {
		oa := &all[i]
		j := orgAlertsJSON{Org: oa.Org, Recipients: append([]string{}, oa.Recipients...), Alerts: []alertJSON{}}
		for _, a := range oa.Alerts {
			aj := alertJSON{Kind: a.Kind, PK: a.Product.PK, Product: a.Product.Name, Remaining: a.Product.Remaining(), Message: a.Message}
			if a.Kind == authority.AlertRunOut {
				aj.Due = &a.Due
			} else {
				aj.Threshold = &a.Below
			}
			j.Alerts = append(j.Alerts, aj)
			if !c.Bool(flagJSON) {
				note(stderr, "%s: %s", oa.Org, a.Message)
			}
		}
		out = append(out, j)
		if len(oa.Alerts) == 0 {
			continue
		}
		if len(oa.Recipients) == 0 {
			note(stderr, "%q has %d alerts and no recipients: add one with 'airlock authority alerts recipients add --org %s ADDRESS'", oa.Org, len(oa.Alerts), oa.Org)
			continue
		}
		m := alertMessage(from, oa)
		var how string
		if server != nil {
			if err := server.Send(d.ctx, m); err != nil {
				note(stderr, "alerts of %q not sent: %v", oa.Org, err)
				failed = errors.Join(failed, err)
				continue
			}
			how = "smtp " + server.Addr
		} else {
			path, err := mail.WriteOutbox(outbox, m)
			if err != nil {
				failed = errors.Join(failed, err)
				continue
			}
			how = path
		}
		out[len(out)-1].Sent = &how
		detail := fmt.Sprintf("%d alerts of %s sent to %s by %s", len(oa.Alerts), oa.Org, strings.Join(oa.Recipients, ", "), how)
		if err := d.l.RecordAlerts(d.ctx, oa.Org, detail); err != nil {
			return err
		}
		if !c.Bool(flagJSON) {
			note(stderr, "%s", detail)
		}
	}
	if c.Bool(flagJSON) {
		if out == nil {
			out = []orgAlertsJSON{}
		}
		if err := writeJSON(c, out); err != nil {
			return err
		}
	} else if len(out) == 0 || !anyAlerts(out) {
		note(stderr, "no alerts")
	}
	if failed != nil {
		return withHint(fmt.Errorf("some alerts were not sent: %w", failed), "check the server with --smtp, or leave it out to write the messages to the outbox")
	}
	return nil
}

func anyAlerts(out []orgAlertsJSON) bool {
	for _, o := range out {
		if len(o.Alerts) > 0 {
			return true
		}
	}
	return false
}
