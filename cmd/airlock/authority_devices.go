package main

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

const authorityDeviceDescription = `device groups the commands on the devices of an organization's fleet
products: list and search them, show what each consumed, switch one's
auto-renew, delete one.

A device is named by its device key (DK) within a product (its product
key, PK, or its name). Its state is active (its code is valid), renewal
due (its code ended and the next renewal run decides), lapsed (its code
ended and was not renewed) or deleted.`

// deviceFilterFlags are the search flags every device list takes.
func deviceFilterFlags(more ...cli.Flag) []cli.Flag {
	return ledgerFlags(append([]cli.Flag{
		&cli.StringFlag{Name: flagOrg, Usage: "the organization `ORG`"},
		&cli.StringFlag{Name: flagProduct, Usage: "only devices of the product `PK` (or its name)"},
		&cli.StringFlag{Name: flagDK, Usage: "only devices with the device key `DK`"},
		&cli.StringFlag{Name: flagActivatedFrom, Usage: "only devices first activated at or after `DATE` (YYYY-MM-DD or RFC 3339)"},
		&cli.StringFlag{Name: flagActivatedTo, Usage: "only devices first activated before `DATE`"},
		&cli.StringFlag{Name: flagExpiresFrom, Usage: "only devices whose code ends at or after `DATE`"},
		&cli.StringFlag{Name: flagExpiresTo, Usage: "only devices whose code ends before `DATE`"},
		&cli.BoolFlag{Name: flagDeleted, Usage: "include deleted devices"},
		&cli.IntFlag{Name: flagLimit, Usage: "print at most `N` devices (0: all)"},
		&cli.BoolFlag{Name: flagJSON, Usage: "print JSON instead of text"},
	}, more...)...)
}

const deviceSearchHelp = `The search flags combine: --product (product key or name), --dk,
--activated-from/--activated-to (the first activation) and
--expires-from/--expires-to (the end of the current code); a from date
is inclusive, a to date exclusive; a date is YYYY-MM-DD (midnight UTC)
or an RFC 3339 time.

With --json it prints an array of objects with the members pk, product
(its name), dk, state, activated, valid_from, valid_until, consumed,
auto_renew, blocked, will_renew, codes_left (its product's) and deleted
(null unless deleted); times are RFC 3339 UTC.`

func authorityDeviceCommand() *cli.Command {
	return &cli.Command{
		Name:            "device",
		Usage:           "list, search and manage the devices of fleet products",
		UsageText:       "airlock authority device COMMAND [OPTIONS]",
		Description:     authorityDeviceDescription,
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{
			{
				Name:      "list",
				Usage:     "list and search devices",
				UsageText: "airlock authority device list --org ORG [--product PK] [--dk DK] [--activated-from DATE] [--activated-to DATE] [--expires-from DATE] [--expires-to DATE] [--near-expiry] [--deleted] [--limit N] [--json] [--dir DIR]",
				Description: `list prints the devices of the organization --org that the search flags
select, oldest first. --near-expiry keeps those whose code ends within 30
days (and has not ended), as 'airlock authority device near-expiry' does.

` + deviceSearchHelp + `

Example:

    $ airlock authority device list --org acme --product PK-CAM --expires-to 2027-01-01
    PK      DK       STATE   ACTIVATED   VALID UNTIL           CODES  RENEWS
    PK-CAM  cam-001  active  2026-12-02  2027-12-02T10:00:00Z      1  yes

Exit status: 0 when the list was printed (even empty); 1 when the
organization or product does not exist; 2 for a wrong command line.`,
				Flags:        deviceFilterFlags(&cli.BoolFlag{Name: flagNearExpiry, Usage: "only devices whose code ends within 30 days"}),
				OnUsageError: onUsageError,
				Action:       func(c *cli.Context) error { return authorityDeviceList(c, c.Bool(flagNearExpiry)) },
			},
			{
				Name:      "near-expiry",
				Usage:     "list devices whose code ends within 30 days",
				UsageText: "airlock authority device near-expiry --org ORG [search flags] [--json] [--dir DIR]",
				Description: `near-expiry prints, soonest first, the devices of the organization
--org whose code ends within 30 days and has not ended yet, with
whether each will renew
(auto-renew on for its product and itself, not on the blocklist) and
how many codes its product has left.

` + deviceSearchHelp + `

Exit status: 0 when the list was printed (even empty); 1 when the
organization or product does not exist; 2 for a wrong command line.`,
				Flags:        deviceFilterFlags(),
				OnUsageError: onUsageError,
				Action:       func(c *cli.Context) error { return authorityDeviceList(c, true) },
			},
			{
				Name:      "history",
				Usage:     "show the codes a device consumed",
				UsageText: "airlock authority device history --dk DK [--org ORG [--product PK]] [--json] [--dir DIR]",
				Description: `history prints each code the device --dk consumed over its life: when,
why (activation, renewal, reactivation after it lapsed or was deleted)
and the window it covers. Without --product it shows every product's
device with that key; without --org, every organization's (the vendor
only).

With --json it prints an array of devices as 'device list' does, each
with a member consumptions: an array of objects with seq, at, cause,
valid_from, valid_until and activation (the number of the activation
request that consumed it, counted by the ledger; null for a renewal).

Exit status: 0 when the history was printed; 1 when no such device
exists; 2 for a wrong command line.`,
				Flags: ledgerFlags(
					&cli.StringFlag{Name: flagOrg, Usage: "the organization `ORG`"},
					&cli.StringFlag{Name: flagDK, Usage: "the device key `DK`"},
					&cli.StringFlag{Name: flagProduct, Usage: "the device's product `PK` (or its name)"},
					&cli.BoolFlag{Name: flagJSON, Usage: "print JSON instead of text"},
				),
				OnUsageError: onUsageError,
				Action:       authorityDeviceHistory,
			},
			{
				Name:      "auto-renew",
				Usage:     "turn one device's auto-renew on or off",
				UsageText: "airlock authority device auto-renew --org ORG --product PK --dk DK on|off [--dir DIR]",
				Description: `auto-renew sets the auto-renew switch of one device. It can be set only
while its product's auto-renew is on ('airlock authority pool
auto-renew').

Exit status: 0 when the switch is as asked; 1 when it was refused; 2 for
a wrong command line.`,
				Flags: productFlags("the device's product `PK` (or its name)",
					&cli.StringFlag{Name: flagDK, Usage: "the device key `DK`"}),
				OnUsageError: onUsageError,
				Action:       authorityDeviceAutoRenew,
			},
			{
				Name:      "delete",
				Usage:     "delete a device; its code is not returned",
				UsageText: "airlock authority device delete --org ORG --product PK --dk DK [--dir DIR]",
				Description: `delete deletes a device: it stops renewing and leaves its gateway's next
activation file. Its code is not returned to the pool. If it activates
again while its code is still valid it consumes nothing; after that it
consumes a new code.

Exit status: 0 when the device was deleted; 1 when it was refused; 2 for
a wrong command line.`,
				Flags: productFlags("the device's product `PK` (or its name)",
					&cli.StringFlag{Name: flagDK, Usage: "the device key `DK`"}),
				OnUsageError: onUsageError,
				Action:       authorityDeviceDelete,
			},
		},
	}
}

// dateFlag reads an optional date flag as Unix seconds (0 when unset).
func dateFlag(c *cli.Context, name string) (int64, error) {
	if !c.IsSet(name) {
		return 0, nil
	}
	t, err := parseDay(c.String(name))
	if err != nil {
		return 0, usagef(c.Command.HelpName, "for example: --"+name+" 2027-01-01", "--%s %q: %v", name, c.String(name), err)
	}
	return t.Unix(), nil
}

type deviceJSON struct {
	PK           string            `json:"pk"`
	Product      string            `json:"product"`
	DK           string            `json:"dk"`
	State        string            `json:"state"`
	Activated    string            `json:"activated"`
	ValidFrom    string            `json:"valid_from"`
	ValidUntil   string            `json:"valid_until"`
	Consumed     int64             `json:"consumed"`
	AutoRenew    bool              `json:"auto_renew"`
	Blocked      bool              `json:"blocked"`
	WillRenew    bool              `json:"will_renew"`
	CodesLeft    int64             `json:"codes_left"`
	Deleted      *string           `json:"deleted"`
	Consumptions []consumptionJSON `json:"consumptions,omitempty"`
}

type consumptionJSON struct {
	Seq        int64  `json:"seq"`
	At         string `json:"at"`
	Cause      string `json:"cause"`
	ValidFrom  string `json:"valid_from"`
	ValidUntil string `json:"valid_until"`
	Activation *int64 `json:"activation"`
}

func unixRFC(t int64) string { return rfc3339(time.Unix(t, 0)) }

func deviceView(v *authority.DeviceView, now int64) deviceJSON {
	j := deviceJSON{PK: v.Product.PK, Product: v.Product.Name, DK: v.DK, State: v.State(now), Activated: unixRFC(v.ActivatedAt),
		ValidFrom: unixRFC(v.From), ValidUntil: unixRFC(v.Until), Consumed: v.Consumed, AutoRenew: v.AutoRenew, Blocked: v.Blocked, WillRenew: v.WillRenew,
		CodesLeft: v.Product.Remaining()}
	if v.DeletedAt != 0 {
		s := unixRFC(v.DeletedAt)
		j.Deleted = &s
	}
	return j
}

var causeText = map[int]string{authority.CauseActivation: "activation", authority.CauseRenewal: "renewal", authority.CauseReactivation: "reactivation"}

func authorityDeviceList(c *cli.Context, nearExpiry bool) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	org, err := requireFlag(c, flagOrg, "acme")
	if err != nil {
		return err
	}
	q := authority.DeviceQuery{Org: org, Product: c.String(flagProduct), DK: c.String(flagDK), NearExpiry: nearExpiry,
		IncludeDeleted: c.Bool(flagDeleted), Limit: c.Int(flagLimit)}
	for name, p := range map[string]*int64{flagActivatedFrom: &q.ActivatedFrom, flagActivatedTo: &q.ActivatedTo, flagExpiresFrom: &q.ExpiresFrom, flagExpiresTo: &q.ExpiresTo} {
		if *p, err = dateFlag(c, name); err != nil {
			return err
		}
	}
	if q.Limit < 0 {
		return usagef(c.Command.HelpName, "", "--%s %d is negative", flagLimit, q.Limit)
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	views, err := d.l.Devices(d.ctx, q)
	if err != nil {
		return err
	}
	now := clock().Unix()
	out := make([]deviceJSON, len(views))
	for i := range views {
		out[i] = deviceView(&views[i], now)
	}
	if c.Bool(flagJSON) {
		return writeJSON(c, out)
	}
	if len(out) == 0 {
		note(c.App.ErrWriter, "no device matches")
		return nil
	}
	rows := [][]string{{"PK", "DK", "STATE", "ACTIVATED", "VALID UNTIL", "CODES", "RENEWS"}}
	left := map[string]int64{}
	for i, v := range out {
		rows = append(rows, []string{v.PK, v.DK, v.State, v.Activated[:10], v.ValidUntil, fmt.Sprint(v.Consumed), yesNo(v.WillRenew)})
		left[v.PK] = views[i].Product.Remaining()
	}
	if err := writeResult(c.App.Writer, tableCols(rows, map[int]bool{5: true})); err != nil {
		return err
	}
	if nearExpiry {
		for _, pk := range slices.Sorted(maps.Keys(left)) {
			note(c.App.ErrWriter, "product %s has %d codes left", pk, left[pk])
		}
	}
	return nil
}

func authorityDeviceHistory(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	dk, err := requireFlag(c, flagDK, "cam-001")
	if err != nil {
		return err
	}
	org := c.String(flagOrg)
	if org == "" && c.IsSet(flagProduct) {
		return usagef(c.Command.HelpName, "for example: --org acme", "--%s needs --%s", flagProduct, flagOrg)
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	views, hist, err := d.l.DeviceHistory(d.ctx, org, c.String(flagProduct), dk)
	if err != nil {
		return err
	}
	now := clock().Unix()
	out := make([]deviceJSON, len(views))
	for i := range views {
		out[i] = deviceView(&views[i], now)
		for _, h := range hist[i] {
			cj := consumptionJSON{Seq: h.Seq, At: unixRFC(h.At), Cause: causeText[h.Cause], ValidFrom: unixRFC(h.From), ValidUntil: unixRFC(h.Until)}
			if h.Source != 0 {
				src := h.Source
				cj.Activation = &src
			}
			out[i].Consumptions = append(out[i].Consumptions, cj)
		}
	}
	if c.Bool(flagJSON) {
		return writeJSON(c, out)
	}
	var b strings.Builder
	for i, v := range out {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "device %s of %s (%s): %s, %s consumed, auto-renew %s, renews: %s\n", v.DK, v.PK, v.Product, v.State, plural(int(v.Consumed), "code", "codes"), onOff(v.AutoRenew), yesNo(v.WillRenew))
		rows := [][]string{{"#", "AT", "CAUSE", "VALID FROM", "VALID UNTIL"}}
		for _, h := range v.Consumptions {
			rows = append(rows, []string{fmt.Sprint(h.Seq), h.At, h.Cause, h.ValidFrom, h.ValidUntil})
		}
		b.Write(tableCols(rows, map[int]bool{0: true}))
		if v.Deleted != nil {
			fmt.Fprintf(&b, "deleted %s\n", *v.Deleted)
		}
	}
	return writeResult(c.App.Writer, []byte(b.String()))
}

// productDevice reads --org, --product and --dk.
func productDevice(c *cli.Context) (org, product, dk string, err error) {
	if org, product, err = orgProduct(c); err != nil {
		return
	}
	dk, err = requireFlag(c, flagDK, "cam-001")
	return
}

func authorityDeviceAutoRenew(c *cli.Context) error {
	on, err := onOffArg(c)
	if err != nil {
		return err
	}
	org, product, dk, err := productDevice(c)
	if err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	_, did, err := d.l.SetDeviceAutoRenew(d.ctx, org, product, dk, on)
	if err != nil {
		return err
	}
	was := ""
	if !did {
		was = " (it was already)"
	}
	note(c.App.ErrWriter, "auto-renew of device %s of %s is %s%s", dk, product, onOff(on), was)
	return nil
}

func authorityDeviceDelete(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	org, product, dk, err := productDevice(c)
	if err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	dev, err := d.l.DeleteDevice(d.ctx, org, product, dk)
	if err != nil {
		return err
	}
	note(c.App.ErrWriter, "device %s of %s deleted; its code (valid until %s) is not returned", dk, product, codes.FormatTime(dev.Until))
	return nil
}

const authorityActivationDescription = `activation groups the commands on activation request files, which a
gateway instance makes from the devices that activated behind it
('airlock instance activation request').`

func authorityActivationCommand() *cli.Command {
	return &cli.Command{
		Name:            "activation",
		Usage:           "answer a gateway's activation request file",
		UsageText:       "airlock authority activation COMMAND [OPTIONS] [ARGUMENTS]",
		Description:     authorityActivationDescription,
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{{
			Name:      "process",
			Usage:     "consume codes for a gateway's devices and sign the activation file",
			UsageText: "airlock authority activation process [--out FILE|-] [--to RECIPIENT]... [--identity FILE]... [--dir DIR] FILE|-",
			Description: `process verifies an activation request file (made for this authority's
key by a gateway instance), pins the gateway's key to its UDI the first
time (and the gateway to the organization of the products it names),
renews or lapses the organization's devices whose codes ended, and
consumes one activation code for each device the request lists that
holds no valid code. It then signs the activation file, which lists
every device the gateway activated that the ledger holds, with the
window of its code, and the devices of the request it refused, with the
reason (no codes left, unknown product key, deleted product, a product
of another organization, no codes ever allocated).

The same request processed again gets the same activation file and
consumes nothing.

The activation file goes to --out (default: standard output), armored;
--to encrypts it with age for the trip on removable media.

Example:

    $ airlock authority activation process --identity age.key --out gw1.activation.airlock gw1.activation-request.airlock
    airlock: wrote gw1.activation.airlock
    airlock: gateway P:GW,S:gw1 (acme): PK-CAM (cameras): 3 listed, 2 activated, 1 already active, 0 refused; 597 codes left

Exit status: 0 when the activation file was written (even if it refuses
devices); 1 when the request was refused whole (altered, for another
authority key, a known gateway UDI with another key, no known product)
or the file could not be written (it is recorded: run the same command
again); 2 for a wrong command line.`,
			Flags: keyFlags(
				&cli.StringFlag{Name: flagOut, Usage: "write the activation file to `FILE` (- for standard output, the default)"},
				&cli.StringSliceFlag{Name: flagTo, Usage: "encrypt the activation file to `RECIPIENT` (age1…, \"ssh-ed25519 …\", or @FILE); repeatable"},
			),
			OnUsageError: onUsageError,
			Action:       authorityActivationProcess,
		}},
	}
}

func authorityActivationProcess(c *cli.Context) error {
	code, recipients, err := readRequestFile(c, codes.KindActivationRequest)
	if err != nil {
		return err
	}
	d, err := openDesk(c, true)
	if err != nil {
		return err
	}
	defer d.Close()
	a, err := d.l.ProcessActivation(d.ctx, code)
	if err != nil {
		if errors.Is(err, codes.ErrBadSignature) {
			return withHint(err, "the activation request was made for another authority key: give the gateway this authority's trust.airlock")
		}
		return err
	}
	if err := writeArmoredOut(c, codes.KindActivation, a.Code, recipients, "the answer is recorded: run the same command again to write it"); err != nil {
		return err
	}
	reportActivation(c, a)
	return nil
}

// reportActivation says what an activation request did, on standard
// error.
func reportActivation(c *cli.Context, a *authority.Activated) {
	stderr := c.App.ErrWriter
	udi := a.Request.UDI.Short()
	if a.Replayed {
		note(stderr, "gateway %s (%s): this request was processed before: the same activation file, nothing consumed", udi, a.Org)
		return
	}
	if a.NewGateway {
		note(stderr, "gateway %s is new: pinned to its key and to organization %q", udi, a.Org)
	}
	if a.Renewals.Renewed+a.Renewals.Lapsed > 0 {
		note(stderr, "before it: %d codes renewed, %d devices lapsed in %q", a.Renewals.Renewed, a.Renewals.Lapsed, a.Org)
	}
	for _, p := range a.Products {
		name := p.Name
		if name == "" {
			name = "unknown"
		}
		line := fmt.Sprintf("gateway %s: %s (%s): %d listed, %d activated, %d already active, %d refused", udi, p.PK, name, p.Listed, p.Consumed, p.Kept, p.Refused)
		if p.Refused > 0 {
			line += " (" + p.Reason.String() + ")"
		}
		if p.Name != "" {
			line += fmt.Sprintf("; %d codes left", p.Remaining)
		}
		note(stderr, "%s", line)
	}
	note(stderr, "the activation file lists %d devices: install it on the gateway with 'airlock instance activation install FILE'", a.Answer.Count())
}

func authorityGatewayCommand() *cli.Command {
	return &cli.Command{
		Name:            "gateway",
		Usage:           "list gateways, and retire the key of a rebuilt one",
		UsageText:       "airlock authority gateway COMMAND [OPTIONS]",
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Description: `gateway groups the commands on the gateways of device fleets: the
instances that carry activation requests. A gateway is pinned to its
instance key and to its organization by its first activation request.`,
		Subcommands: []*cli.Command{
			{
				Name:      "list",
				Usage:     "list an organization's gateways",
				UsageText: "airlock authority gateway list --org ORG [--json] [--dir DIR]",
				Description: `list prints the gateways of the organization --org: UDI, when pinned,
whether its key is retired, and how many devices it holds.

With --json it prints an array of objects with the members udi, pinned,
key (the first 4 bytes of its key's hash, hex; null when retired) and
devices.

Exit status: 0 when the list was printed; 1 when the organization does
not exist; 2 for a wrong command line.`,
				Flags:        orgReadFlags(),
				OnUsageError: onUsageError,
				Action:       authorityGatewayList,
			},
			{
				Name:      "retire",
				Usage:     "forget the key a gateway is pinned to, for a rebuilt gateway",
				UsageText: "airlock authority gateway retire --udi UDI --reason TEXT [--dir DIR]",
				Description: `retire forgets the instance key the gateway --udi was pinned to, after
its state folder was lost and rebuilt with a new key: its next
activation request pins the new key. Its devices stay with it. The
reason is recorded in the history.

Exit status: 0 when the key was retired; 1 when there is no such
gateway or its key is retired already; 2 for a wrong command line.`,
				Flags: ledgerFlags(
					&cli.StringFlag{Name: flagUDI, Usage: "the gateway's `UDI`"},
					&cli.StringFlag{Name: flagReason, Usage: "why, in the history: `TEXT`"},
				),
				OnUsageError: onUsageError,
				Action:       authorityGatewayRetire,
			},
		},
	}
}

type gatewayJSON struct {
	UDI     string  `json:"udi"`
	Pinned  string  `json:"pinned"`
	Key     *string `json:"key"`
	Devices int     `json:"devices"`
}

func authorityGatewayList(c *cli.Context) error {
	org, d, err := orgDesk(c)
	if err != nil {
		return err
	}
	defer d.Close()
	gws, err := d.l.Gateways(d.ctx, org)
	if err != nil {
		return err
	}
	out := make([]gatewayJSON, len(gws))
	rows := [][]string{{"UDI", "PINNED", "KEY", "DEVICES"}}
	for i, g := range gws {
		out[i] = gatewayJSON{UDI: g.UDI, Pinned: unixRFC(g.CreatedAt), Devices: g.Devices}
		key := "retired"
		if len(g.PublicKey) > 0 {
			k := fmt.Sprintf("%x", authority.InstanceKeyHashPrefix(g.PublicKey))
			out[i].Key, key = &k, k
		}
		rows = append(rows, []string{g.UDI, out[i].Pinned, key, fmt.Sprint(g.Devices)})
	}
	return writeListing(c, out, rows, map[int]bool{3: true}, fmt.Sprintf("%q has no gateway yet: the first activation request of one pins it", org))
}

func authorityGatewayRetire(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	v, err := requireFlags(c, flagUDI, "P:GW,S:gw-1,U:…", flagReason, `"state folder lost with the disk"`)
	if err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	udi := v[0]
	if u, err := codes.ParseUDI(udi); err == nil {
		udi = u.String()
	}
	g, err := d.l.RetireGateway(d.ctx, udi, v[1])
	if err != nil {
		return err
	}
	note(c.App.ErrWriter, "the key of gateway %s is retired: its next activation request pins its new key, and its devices stay with it", g.UDI)
	return nil
}
