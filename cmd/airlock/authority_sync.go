package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

// The vendor's side of satellites: registering them and delegating
// accounts (authority satellite …), and answering their sync requests
// (authority sync answer).

const authoritySatelliteDescription = `satellite groups the commands on the satellites of this authority: an
authority on a customer's site ('airlock satellite init') that holds the
licenses of the virtual accounts delegated to it. This authority reserves
nothing from a delegated account: its instances reserve from the
satellite, which syncs with this authority, over HTTPS ('airlock
authority serve' answers) or by files ('airlock authority sync answer').
Licenses added to or transferred out of a delegated account here reach
the satellite with its next sync.

The satellite's key is its own: add registers its trust.airlock, with
which its sync requests are verified.`

func authoritySatelliteCommand() *cli.Command {
	return &cli.Command{
		Name:            "satellite",
		Usage:           "register satellites and delegate accounts to them",
		UsageText:       "airlock authority satellite add|delegate|list|show|remove|trust [OPTIONS]",
		Description:     authoritySatelliteDescription,
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "register a satellite and delegate accounts to it",
				UsageText: "airlock authority satellite add --trust FILE --account ORG/ACCOUNT [--account ORG/ACCOUNT]... [--dir DIR] NAME",
				Description: `add registers the satellite called NAME (the --name it was made with) by
its trust file --trust (the satellite's trust.airlock), and delegates the
accounts --account to it. An account is delegated to one satellite at a
time, and only while none of its licenses is reserved here.

Example:

    $ airlock authority satellite add plant-sat --trust plant-sat-trust.airlock --account acme/plant
    airlock: satellite "plant-sat" registered with key 7c1f09a2b3d4e5f6; acme/plant delegated to it
    airlock: next: its sync requests are answered here ('airlock authority sync answer FILE', or 'airlock authority serve')

Exit status: 0 when registered; 1 when refused (a satellite of that name,
a key of another satellite's, an account delegated or with licenses
reserved); 2 for a wrong command line.`,
				Flags: ledgerFlags(
					&cli.StringFlag{Name: flagTrust, Usage: "the satellite's trust file `FILE` (its trust.airlock)"},
					&cli.StringSliceFlag{Name: flagAccount, Usage: "delegate `ORG/ACCOUNT` to the satellite; repeatable"},
				),
				OnUsageError: onUsageError,
				Action:       authoritySatelliteAdd,
			},
			{
				Name:      "delegate",
				Usage:     "delegate more accounts to a satellite",
				UsageText: "airlock authority satellite delegate --account ORG/ACCOUNT [--account ORG/ACCOUNT]... [--dir DIR] NAME",
				Description: `delegate delegates the accounts --account to the registered satellite
NAME, as add does.

Exit status: 0 when delegated; 1 when refused; 2 for a wrong command
line.`,
				Flags:        ledgerFlags(&cli.StringSliceFlag{Name: flagAccount, Usage: "delegate `ORG/ACCOUNT` to the satellite; repeatable"}),
				OnUsageError: onUsageError,
				Action:       authoritySatelliteDelegate,
			},
			{
				Name:      "list",
				Usage:     "list the satellites",
				UsageText: "airlock authority satellite list [--json] [--dir DIR]",
				Description: `list prints the satellites, removed ones included: name, state, the
accounts delegated, the syncs answered and when the last was.

With --json: an array of the objects 'satellite show --json' prints.

Exit status: 0 when printed; 2 for a wrong command line.`,
				Flags:        ledgerFlags(&cli.BoolFlag{Name: flagJSON, Usage: "print JSON instead of text"}),
				OnUsageError: onUsageError,
				Action:       authoritySatelliteList,
			},
			{
				Name:      "show",
				Usage:     "show a satellite and what it reported with its last sync",
				UsageText: "airlock authority satellite show [--json] [--dir DIR] NAME",
				Description: `show prints a registered satellite: its keys, the accounts delegated to
it, and what its last sync request reported, per account: instances,
reservations made, returned and removed in its period, and per tag the
peak and current use and any over-use (licenses its instances hold beyond
what the vendor gives).

With --json: an object with name, state ("registered" or "removed"),
keys, created, created_by, removed (null while registered), accounts
(account, since), syncs, last_sync (null before the first: sequence,
answered, from, to, lots, and reports: account, instances, reserved,
returned, removed, usage: tag, peak, current, over).

Exit status: 0 when printed; 1 when no such satellite is registered; 2
for a wrong command line.`,
				Flags:        ledgerFlags(&cli.BoolFlag{Name: flagJSON, Usage: "print JSON instead of text"}),
				OnUsageError: onUsageError,
				Action:       authoritySatelliteShow,
			},
			{
				Name:      "remove",
				Usage:     "take accounts back from a satellite, or remove it",
				UsageText: "airlock authority satellite remove [--account ORG/ACCOUNT]... [--dir DIR] NAME",
				Description: `remove takes the accounts --account back from the satellite NAME; without
--account it takes back every account and removes the satellite, whose
sync requests are refused from then on. Licenses taken back may be
reserved here again: until the satellite's instances return what they
hold, they are used twice. Take an account back once its instances
returned their licenses, or moved to this authority.

Exit status: 0 when done; 1 when refused; 2 for a wrong command line.`,
				Flags:        ledgerFlags(&cli.StringSliceFlag{Name: flagAccount, Usage: "take `ORG/ACCOUNT` back; repeatable"}),
				OnUsageError: onUsageError,
				Action:       authoritySatelliteRemove,
			},
			{
				Name:      "trust",
				Usage:     "install a satellite's trust update, after it rotated its key",
				UsageText: "airlock authority satellite trust [--dir DIR] NAME FILE",
				Description: `trust installs the trust update FILE of the satellite NAME, after the
satellite rotated its key ('airlock authority rotate-key' in its folder
wrote it to trust-updates/): it must be signed by a key registered for the
satellite, with a greater sequence. The satellite's sync requests signed
with the new key are answered from then on. Install each update in
order.

Exit status: 0 when installed; 1 when refused; 2 for a wrong command
line.`,
				Flags:        ledgerFlags(),
				OnUsageError: onUsageError,
				Action:       authoritySatelliteTrust,
			},
		},
	}
}

func authoritySatelliteAdd(c *cli.Context) error {
	if err := checkArgs(c, 1, 1, "NAME"); err != nil {
		return err
	}
	trustPath, err := requireFlag(c, flagTrust, "plant-sat-trust.airlock")
	if err != nil {
		return err
	}
	accounts := c.StringSlice(flagAccount)
	if len(accounts) == 0 {
		return usagef(c.Command.HelpName, "for example: --account acme/plant", "missing --%s ORG/ACCOUNT: the accounts the satellite holds", flagAccount)
	}
	trust, err := readFile(trustPath, maxKeyFileSize)
	if err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	own, err := readDeskTrust(d.dir)
	if err != nil {
		return err
	}
	if t, err := codes.ReadTrustFile(trust); err == nil {
		for i := range t.Keys {
			if own.Key(t.Keys[i].ID()) != nil {
				return withHint(fmt.Errorf("%w: %s lists key %s, which is this authority's own", authority.ErrInvalid, trustPath, t.Keys[i].ID()),
					"give the satellite's trust.airlock, which 'airlock satellite init' made in its folder")
			}
		}
	}
	s, err := d.l.AddSatellite(d.ctx, c.Args().First(), trust, accounts)
	if err != nil {
		return err
	}
	info, err := d.l.SatelliteInfo(d.ctx, s.Name)
	if err != nil {
		return err
	}
	keys := "key "
	if len(info.Keys) > 1 {
		keys = "keys "
	}
	note(c.App.ErrWriter, "satellite %q registered with %s%s; %s delegated to it", s.Name, keys, strings.Join(info.Keys, ", "), accountList(info.Accounts))
	note(c.App.ErrWriter, "next: its sync requests are answered here ('airlock authority sync answer FILE', or 'airlock authority serve')")
	return nil
}

func accountList(ds []authority.SatelliteAccount) string {
	refs := make([]string, len(ds))
	for i, d := range ds {
		refs[i] = d.Account
	}
	return strings.Join(refs, ", ")
}

func authoritySatelliteDelegate(c *cli.Context) error {
	if err := checkArgs(c, 1, 1, "NAME"); err != nil {
		return err
	}
	accounts := c.StringSlice(flagAccount)
	if len(accounts) == 0 {
		return usagef(c.Command.HelpName, "for example: --account acme/lab", "missing --%s ORG/ACCOUNT", flagAccount)
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.l.DelegateToSatellite(d.ctx, c.Args().First(), accounts); err != nil {
		return err
	}
	note(c.App.ErrWriter, "%s delegated to satellite %q: it holds their licenses from its next sync", strings.Join(accounts, ", "), c.Args().First())
	return nil
}

func authoritySatelliteRemove(c *cli.Context) error {
	if err := checkArgs(c, 1, 1, "NAME"); err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	name, accounts := c.Args().First(), c.StringSlice(flagAccount)
	back, err := d.l.RemoveSatellite(d.ctx, name, accounts)
	if err != nil {
		return err
	}
	stderr := c.App.ErrWriter
	if len(back) > 0 {
		note(stderr, "taken back from satellite %q: %s; licenses its instances still hold are used twice until they return them", name, strings.Join(back, ", "))
	}
	if len(accounts) == 0 {
		note(stderr, "satellite %q removed: its sync requests are refused from now on", name)
	}
	return nil
}

type satelliteSyncJSON struct {
	Sequence uint64              `json:"sequence"`
	Answered string              `json:"answered"`
	From     string              `json:"from"`
	To       string              `json:"to"`
	Lots     int64               `json:"lots"`
	Reports  []syncAccountFields `json:"reports"`
}

type delegationJSON struct {
	Account string `json:"account"`
	Since   string `json:"since"`
}

type satelliteJSON struct {
	Name      string             `json:"name"`
	State     string             `json:"state"`
	Keys      []string           `json:"keys"`
	Created   string             `json:"created"`
	CreatedBy string             `json:"created_by"`
	Removed   *string            `json:"removed"`
	Accounts  []delegationJSON   `json:"accounts"`
	Syncs     int                `json:"syncs"`
	LastSync  *satelliteSyncJSON `json:"last_sync"`
}

func satelliteOf(info *authority.SatelliteInfo) satelliteJSON {
	j := satelliteJSON{Name: info.Name, State: "registered", Keys: info.Keys, Created: unixRFC(info.CreatedAt), CreatedBy: info.CreatedBy,
		Accounts: []delegationJSON{}, Syncs: info.Syncs}
	if info.RemovedAt != 0 {
		s := unixRFC(info.RemovedAt)
		j.State, j.Removed = "removed", &s
	}
	for _, d := range info.Accounts {
		j.Accounts = append(j.Accounts, delegationJSON{d.Account, unixRFC(d.Since)})
	}
	if l, r := info.Last, info.Report; l != nil && r != nil {
		j.LastSync = &satelliteSyncJSON{Sequence: l.Sequence, Answered: unixRFC(l.AnsweredAt), From: unixRFC(r.From), To: unixRFC(r.IssuedAt), Lots: l.Lots,
			Reports: syncAccountsFields(r.Accounts)}
	}
	return j
}

func authoritySatelliteList(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	infos, err := d.l.Satellites(d.ctx)
	if err != nil {
		return err
	}
	out := make([]satelliteJSON, len(infos))
	rows := [][]string{{"NAME", "STATE", "ACCOUNTS", "SYNCS", "LAST SYNC"}}
	for i := range infos {
		out[i] = satelliteOf(&infos[i])
		last := "never"
		if l := out[i].LastSync; l != nil {
			last = l.Answered
		}
		accts := accountList(infos[i].Accounts)
		if accts == "" {
			accts = "-"
		}
		rows = append(rows, []string{out[i].Name, out[i].State, accts, fmt.Sprint(out[i].Syncs), last})
	}
	return writeListing(c, out, rows, map[int]bool{3: true}, "no satellite yet: 'airlock authority satellite add' registers one")
}

func authoritySatelliteShow(c *cli.Context) error {
	if err := checkArgs(c, 1, 1, "NAME"); err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	info, err := d.l.SatelliteInfo(d.ctx, c.Args().First())
	if err != nil {
		return err
	}
	j := satelliteOf(info)
	if c.Bool(flagJSON) {
		return writeJSON(c, j)
	}
	var b strings.Builder
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-16s %s\n", label, fmt.Sprintf(format, args...))
	}
	line("satellite", "%s", j.Name)
	line("keys", "%s", strings.Join(j.Keys, ", "))
	line("registered", "%s by %s", j.Created, j.CreatedBy)
	line("accounts", "%d", len(j.Accounts))
	for _, a := range j.Accounts {
		fmt.Fprintf(&b, "  %s since %s\n", a.Account, a.Since)
	}
	line("syncs", "%d", j.Syncs)
	if l := j.LastSync; l != nil {
		line("last sync", "request %d, answered %s with %s", l.Sequence, l.Answered, plural(int(l.Lots), "lot", "lots"))
		line("it reported", "the period %s to %s", l.From, l.To)
		syncAccountsText(l.Reports, func(format string, args ...any) {
			fmt.Fprintf(&b, "  %s\n", fmt.Sprintf(format, args...))
		})
	}
	return writeResult(c.App.Writer, []byte(b.String()))
}

const authoritySyncDescription = `sync groups the commands on satellites' sync files.`

const authoritySyncAnswerDescription = `answer answers a satellite's sync request (FILE, as 'airlock satellite sync
export' wrote it, or - for standard input): it verifies the request with
the trust file the satellite was registered with, refuses it if it was
answered before or is older than one answered, records what it reports,
and writes the answer, signed with this authority's key, armored to --out
FILE (or standard output): a snapshot of the licenses of every account
delegated to the satellite. Carry it back to the satellite, which imports
it with 'airlock satellite sync import'.

Example:

    $ airlock authority sync answer --out /media/usb/sync-answer.airlock /media/usb/sync-request.airlock
    airlock: wrote /media/usb/sync-answer.airlock
    airlock: answered sync request 3 of satellite "plant-sat": 1 account, 3 lots
    airlock: plant-sat reports acme/plant: 12 instances, 3 reserved, 1 returned, 0 removed; vms.camera.core peak 40 now 38

Exit status: 0 when answered; 1 when refused (not a sync request, a
satellite not registered or removed, a bad signature, replayed or out of
order) or the answer cannot be written (it is recorded: have the
satellite export a new request); 2 for a wrong command line.`

func authoritySyncCommand() *cli.Command {
	return &cli.Command{
		Name:            "sync",
		Usage:           "answer the sync requests of satellites",
		UsageText:       "airlock authority sync answer [OPTIONS] FILE|-",
		Description:     authoritySyncDescription,
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{
			{
				Name:        "answer",
				Usage:       "answer a satellite's sync request",
				UsageText:   "airlock authority sync answer [--out FILE] [--to RECIPIENT]... [--identity FILE]... [--dir DIR] FILE|-",
				Description: authoritySyncAnswerDescription,
				Flags: keyFlags(
					&cli.StringFlag{Name: flagOut, Usage: "write the sync answer to `FILE` (- for standard output, the default)"},
					&cli.StringSliceFlag{Name: flagTo, Usage: "encrypt the answer to `RECIPIENT` (age1…, \"ssh-ed25519 …\", or @FILE); repeatable"},
				),
				OnUsageError: onUsageError,
				Action:       authoritySyncAnswer,
			},
		},
	}
}

func authoritySyncAnswer(c *cli.Context) error {
	code, recipients, err := readRequestFile(c, codes.KindSyncRequest)
	if err != nil {
		return err
	}
	d, err := openDesk(c, true)
	if err != nil {
		return err
	}
	defer d.Close()
	a, err := d.l.AnswerSync(d.ctx, code)
	if err != nil {
		if r, perr := codes.ParseUnverifiedSyncRequest(code); perr == nil && (errors.Is(err, codes.ErrUnknownKey) || errors.Is(err, codes.ErrBadSignature)) {
			return withHint(err, fmt.Sprintf("the request is not signed by a key satellite %q was registered with: if it rotated its key, install its trust update ('airlock authority satellite trust %s FILE')", r.Satellite, r.Satellite))
		}
		return err
	}
	if err := writeArmoredOut(c, codes.KindSyncAnswer, a.Code, recipients, "the answer is recorded but not written: have the satellite export a new sync request, and answer that one"); err != nil {
		return err
	}
	stderr := c.App.ErrWriter
	note(stderr, "answered sync request %d of satellite %q: %s, %s", a.Answer.Sequence, a.Satellite,
		plural(len(a.Answer.Accounts), "account", "accounts"), plural(a.Answer.Lots(), "lot", "lots"))
	for _, r := range a.Request.Accounts {
		note(stderr, "%s reports %s", a.Satellite, authority.FormatSyncReport([]codes.SyncAccount{r}))
	}
	return nil
}

func authoritySatelliteTrust(c *cli.Context) error {
	if err := checkArgs(c, 2, 2, "NAME FILE"); err != nil {
		return err
	}
	b, err := readFile(c.Args().Get(1), maxKeyFileSize)
	if err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	t, err := d.l.UpdateSatelliteTrust(d.ctx, c.Args().First(), b)
	if err != nil {
		return err
	}
	ids := make([]string, len(t.Keys))
	for i := range t.Keys {
		ids[i] = t.Keys[i].ID().String()
	}
	note(c.App.ErrWriter, "satellite %q: installed its trust update %d, signed by key %s: keys %s", c.Args().First(), t.Sequence, t.SignedBy, strings.Join(ids, ", "))
	return nil
}
