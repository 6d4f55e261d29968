package main

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/codes/api"
)

// init puts the hint of ErrNotConnected before that of ErrNotFound, of
// which it is a kind: the first match is printed.
func init() {
	hints = append([]struct {
		sentinel error
		hint     string
	}{
		{authority.ErrNotConnected, "'airlock authority connected list' lists the instances registered in connected mode"},
	}, hints...)
}

const authorityConnectedDescription = `connected groups the commands that show the instances registered in
connected mode: those that reach 'airlock authority serve' and registered
themselves with a registration token ('airlock authority token create').

A connected instance holds its licenses in a reservation like any other,
whose codes lapse 90 days after they are issued unless the instance
renews them (every 30 days); its registration is valid a year and renewed
every 6 months. The state says where it is:

- registered: its latest authorization is in force (or none was issued:
  its account held none of what it asks for);
- lapsed: no renewal for 90 days: its licenses are still held here; the
  instance renews when it can reach the service again, or an operator
  removes it ('airlock authority remove');
- expired: its registration was not renewed for a year: the instance
  re-registers with a token;
- deregistered: it deregistered (its licenses went back to the account),
  or an operator removed it.

Example:

    $ airlock authority connected list --account acme/plant
    UDI            ACCOUNT     STATE       REGISTERED  EXPIRES     LAST CONTACT          LAPSES      EXPORT  HOST
    P:VMS,S:cam-1  acme/plant  registered  2026-12-02  2027-12-02  2026-12-02T10:00:00Z  2027-03-02  yes     cam-1.plant.example
    $ airlock authority connected show P:VMS,S:cam-1`

func authorityConnectedCommand() *cli.Command {
	return &cli.Command{
		Name:            "connected",
		Usage:           "list and show the instances registered in connected mode",
		UsageText:       "airlock authority connected list|show [OPTIONS] [ARGUMENTS]",
		Description:     authorityConnectedDescription,
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{
			{
				Name:      "list",
				Usage:     "list the connected instances",
				UsageText: "airlock authority connected list [--account ORG/ACCOUNT] [--json] [--dir DIR]",
				Description: `list prints the instances registered in connected mode to --account, or to
every account (the vendor only), deregistered ones included: UDI (its
P:…,S:… part), account, state, when it registered, when its registration
expires, its last contact, when its authorization lapses, whether
export-controlled licenses are allowed, and its host name and addresses,
or "private" for an instance that withholds them.

With --json: an array of objects with udi (whole), account, state,
registered, renewed, expires, last_contact, last_seq, lapses (null when
no code was issued), export_allowed, token, hostname and addresses
(absent in private mode), reservation (null for none), licenses,
shortfall, borrowed, refused and export_grants.

Exit status: 0 when printed; 1 when refused; 2 for a wrong command line.`,
				Flags: ledgerFlags(
					&cli.StringFlag{Name: flagAccount, Usage: "only the instances of `ORG/ACCOUNT`"},
					&cli.BoolFlag{Name: flagJSON, Usage: "print JSON instead of text"},
				),
				OnUsageError: onUsageError,
				Action:       authorityConnectedList,
			},
			{
				Name:      "show",
				Usage:     "show a connected instance",
				UsageText: "airlock authority connected show [--json] [--dir DIR] UDI",
				Description: `show prints what the ledger knows of one connected instance, named by its
UDI or its P:…,S:… part: its registration, state, last contact and
sequence number, its authorization and licenses, what the latest one
lacked (short, borrowed from a higher tier, refused for export control,
with the reservation that would cover the shortfall in reservation
mode), the export-controlled licenses granted on request, and its
connected-mode history.

With --json: the object connected list prints, with history, an array
of events as 'airlock authority history --json' prints them.

Exit status: 0 when printed; 1 when refused (never registered in
connected mode); 2 for a wrong command line.`,
				Flags:        ledgerFlags(&cli.BoolFlag{Name: flagJSON, Usage: "print JSON instead of text"}),
				OnUsageError: onUsageError,
				Action:       authorityConnectedShow,
			},
		},
	}
}

type connectedInfoJSON struct {
	UDI           string          `json:"udi"`
	Account       string          `json:"account"`
	State         string          `json:"state"`
	Registered    *string         `json:"registered"`
	Renewed       *string         `json:"renewed"`
	Expires       *string         `json:"expires"`
	LastContact   *string         `json:"last_contact"`
	LastSeq       uint64          `json:"last_seq"`
	Lapses        *string         `json:"lapses"`
	ExportAllowed bool            `json:"export_allowed"`
	Token         string          `json:"token"`
	Hostname      string          `json:"hostname,omitempty"`
	Addresses     []string        `json:"addresses,omitempty"`
	Deregistered  *string         `json:"deregistered"`
	Reservation   *string         `json:"reservation"`
	Licenses      []licenseFields `json:"licenses"`
	Shortfall     []api.Line      `json:"shortfall"`
	Borrowed      []api.Borrowed  `json:"borrowed"`
	Refused       []api.Refusal   `json:"refused"`
	ExportGrants  []licenseFields `json:"export_grants"`
	History       []eventJSON     `json:"history,omitempty"`
}

func newConnectedInfoJSON(i *authority.ConnectedInfo) connectedInfoJSON {
	j := connectedInfoJSON{UDI: i.UDI, Account: i.Account, State: i.State, Registered: optTime(i.RegisteredAt), Renewed: optTime(i.RenewedAt),
		Expires: optTime(i.ExpiresAt), LastContact: optTime(i.LastContact), LastSeq: i.LastSeq, Lapses: optTime(i.Lapses),
		ExportAllowed: i.ExportAllowed, Token: i.TokenID, Hostname: i.Hostname, Addresses: i.Addresses, Deregistered: optTime(i.DeregisteredAt),
		Licenses: licenses(i.Licenses), Shortfall: orEmpty(i.Lacks.Shortfall), Borrowed: orEmpty(i.Lacks.Borrowed), Refused: orEmpty(i.Lacks.Refused),
		ExportGrants: []licenseFields{}}
	if i.Reservation != 0 {
		s := authority.FormatReservationID(i.Reservation)
		j.Reservation = &s
	}
	for _, g := range i.Exports {
		j.ExportGrants = append(j.ExportGrants, licenseFields{g.Tag, uint32(g.Count)})
	}
	return j
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func dayOrDash(t int64) string {
	if t == 0 {
		return "-"
	}
	return authority.FormatDay(t)
}

func connectedHost(i *authority.ConnectedInfo) string {
	if i.Hostname == "" && len(i.Addresses) == 0 {
		return "private"
	}
	return strings.TrimSpace(i.Hostname + " " + strings.Join(i.Addresses, " "))
}

func authorityConnectedList(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	list, err := d.l.ConnectedList(d.ctx, c.String(flagAccount))
	if err != nil {
		return err
	}
	out := make([]connectedInfoJSON, len(list))
	rows := [][]string{{"UDI", "ACCOUNT", "STATE", "REGISTERED", "EXPIRES", "LAST CONTACT", "LAPSES", "EXPORT", "HOST"}}
	for i := range list {
		r := &list[i]
		out[i] = newConnectedInfoJSON(r)
		rows = append(rows, []string{shortUDI(r.UDI), r.Account, r.State, dayOrDash(r.RegisteredAt), dayOrDash(r.ExpiresAt), unixRFC(r.LastContact),
			dayOrDash(r.Lapses), yesNo(r.ExportAllowed), connectedHost(r)})
	}
	return writeListing(c, out, rows, nil, "no instance registered in connected mode yet")
}

func authorityConnectedShow(c *cli.Context) error {
	if err := checkArgs(c, 1, 1, "UDI"); err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	i, err := d.l.ConnectedShow(d.ctx, c.Args().First())
	if err != nil {
		return err
	}
	if c.Bool(flagJSON) {
		j := newConnectedInfoJSON(i)
		j.History = []eventJSON{}
		for k := range i.History {
			j.History = append(j.History, newEventJSON(&i.History[k]))
		}
		return writeJSON(c, j)
	}
	var b bytes.Buffer
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-16s %s\n", label, fmt.Sprintf(format, args...))
	}
	line("udi", "%s", i.UDI)
	line("account", "%s", i.Account)
	line("state", "%s", i.State)
	line("registered", "%s with token %s", codes.FormatTime(i.RegisteredAt), i.TokenID)
	line("registration", "renewed %s, expires %s", codes.FormatTime(i.RenewedAt), codes.FormatTime(i.ExpiresAt))
	if i.DeregisteredAt != 0 {
		line("deregistered", "%s", codes.FormatTime(i.DeregisteredAt))
	}
	line("last contact", "%s (request %d)", codes.FormatTime(i.LastContact), i.LastSeq)
	line("host", "%s", connectedHost(i))
	if i.ExportAllowed {
		line("export", "export-controlled licenses allowed")
	} else {
		line("export", "export-controlled licenses withheld")
	}
	switch {
	case i.Reservation == 0:
		line("authorization", "none issued yet")
	case i.Lapses != 0:
		line("authorization", "reservation %s, lapses %s", authority.FormatReservationID(i.Reservation), codes.FormatTime(i.Lapses))
	}
	if len(i.Licenses) > 0 {
		line("licenses", "%s", authority.FormatLicenses(i.Licenses))
	}
	if len(i.Lacks.Shortfall) > 0 {
		short := make([]codes.License, len(i.Lacks.Shortfall))
		for k, s := range i.Lacks.Shortfall {
			short[k] = codes.License{Tag: s.Tag, Count: s.Count}
		}
		line("short", "%s", authority.FormatLicenses(short))
	}
	for _, x := range i.Lacks.Borrowed {
		line("borrowed", "%d %s for %s", x.Count, x.From, x.Tag)
	}
	for _, r := range i.Lacks.Refused {
		line("refused", "%s: %s", r.Tag, r.Reason)
	}
	for _, g := range i.Exports {
		line("export grant", "%d %s", g.Count, g.Tag)
	}
	line("history", "%d events", len(i.History))
	for _, e := range i.History {
		fmt.Fprintf(&b, "  %s  %s  %s  %s\n", codes.FormatTime(e.At), e.Actor, e.Action, oneLine(e.Detail))
	}
	return writeResult(c.App.Writer, b.Bytes())
}

const authorityExportDescription = `export answers an export request code (XR-…) that an instance made
offline with 'airlock instance export request' or 'export return': it
asks for more licenses of an export-controlled tag, or gives some back.
The code is verified with the key the instance shares with this
authority, and answered with the next authorization code of its
reservation, which the instance installs; licenses given back stay in
transition until its confirmation code comes back ('airlock authority
confirm').

An export request code names the serial the instance had installed, and
is answered only while that serial is the latest: once answered, the
same code is refused as stale ('airlock authority show --instance UDI
--code' prints the answer again).

An instance registered in connected mode is answered as the service
answers it online: refused, and the refusal recorded, when its
registration does not allow export-controlled licenses; otherwise the
code lapses like its renewals, which keep what was granted. An instance
in reservation mode gets a code that does not lapse, and is refused when
its account does not cover the request.

Example:

    $ airlock authority export XR-…
    AU-…
    airlock: reservation 0a1b2c3d serial 3 for P:VMS,S:cam-1: 2 vms.camera.core, 1 vms.crypto

` + sftpWriteHelp + `

Exit status: 0 when the code was issued; 1 when the request was refused
(not export-controlled, stale, not allowed, not covered) or the code
could not be printed (it is recorded); 2 for a wrong command line.`

func authorityExportCommand() *cli.Command {
	return &cli.Command{
		Name:         "export",
		Usage:        "answer an export request code made offline",
		UsageText:    "airlock authority export [--out FILE|URL] [--to RECIPIENT]... [--known-hosts FILE] [--ssh-key FILE]... [--identity FILE]... [--dir DIR] CODE|FILE|-",
		Description:  authorityExportDescription,
		Flags:        keyFlags(append(codeOutFlags(), transportFlags()...)...),
		OnUsageError: onUsageError,
		Action:       authorityExport,
	}
}

func authorityExport(c *cli.Context) error {
	if err := checkArgs(c, 1, 1, "CODE|FILE|-"); err != nil {
		return err
	}
	ids, err := identities(c)
	if err != nil {
		return err
	}
	code, err := readCode(c, c.Args().First(), codes.KindExportRequest, ids)
	if err != nil {
		return err
	}
	d, recipients, err := issuingDesk(c)
	if err != nil {
		return err
	}
	defer d.Close()
	out, err := prepareNewOut(c, c.String(flagOut))
	if err != nil {
		return err
	}
	defer out.close()
	a, err := d.l.AnswerExportRequest(d.ctx, code)
	if err != nil {
		return err
	}
	if err := emitCode(c, out, a.Code, recipients, fmt.Sprintf("serial %d is recorded: 'airlock authority show --instance %s --code' gives the same code again", a.Authorization.Serial, a.UDI)); err != nil {
		return err
	}
	noteSerial(c.App.ErrWriter, a)
	return nil
}
