package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/authority/store"
	"github.com/airlock-dev/airlock/codes"
)

// Flags of the satellite commands.
const (
	flagVendorTrust  = "vendor-trust"
	flagVendor       = "vendor"
	flagVendorCA     = "vendor-ca"
	flagSyncInterval = "sync-interval"
)

const satelliteDescription = `satellite groups the commands of a satellite: an authority on the
customer's site that holds the licenses of the virtual accounts the
vendor delegated to it, and syncs with the vendor's authority, over HTTPS
or by files carried across the gap. Instances on the site talk to the
satellite exactly as to the vendor: the same codes, the same commands
('airlock authority reserve', 'return', 'serve', … with --dir set to the
satellite's folder), the same HTTPS API.

A satellite's folder is an authority folder (ledger.db, authority.key,
trust.airlock, tls.crt) whose ledger mirrors the vendor's delegation. Its
key is its own, never the vendor's: instances on the site load the
satellite's trust.airlock, and the vendor registers it to know the
satellite's sync requests.

Setting up (the vendor's desk, then the site):

    site$ airlock satellite init --dir /srv/sat --name plant-sat --vendor-trust vendor-trust.airlock
    desk$ airlock authority satellite add plant-sat --trust plant-sat-trust.airlock --account acme/plant

Syncing by files (disconnected):

    site$ airlock satellite sync export --out sync-request.airlock
    desk$ airlock authority sync answer --out sync-answer.airlock sync-request.airlock
    site$ airlock satellite sync import sync-answer.airlock

Syncing over HTTPS (connected): 'airlock satellite serve' serves the site's
instances and syncs at --sync-interval; 'airlock satellite sync --vendor
URL' syncs once.

A sync request reports the use of the satellite's licenses since the last
sync (peak and current use per account and tag, instances, reservations
made, returned and removed); the answer is a full snapshot of the
delegated accounts' lots, which the satellite's ledger then mirrors. Each
side refuses a sync file it used before or one out of order.

If the vendor took away licenses the satellite's instances hold, the
import still applies, and reports the over-use: the satellite keeps what
its instances hold, grants no more of that tag in that account until
returns bring it back within the vendor's count, and reports the
over-use to the vendor with every sync until then.

Exit status: 0 on success; 1 when the operation was refused or failed; 2
for a wrong command line.`

func satelliteCommand() *cli.Command {
	return &cli.Command{
		Name:            "satellite",
		Usage:           "run an authority on the customer's site that syncs with the vendor",
		UsageText:       "airlock satellite [--dir DIR] COMMAND [OPTIONS] [ARGUMENTS]",
		Description:     satelliteDescription,
		Flags:           []cli.Flag{dirFlag(true), dbFlag()},
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{
			satelliteInitCommand(),
			satelliteStatusCommand(),
			satelliteSyncCommand(),
			satelliteServeCommand(),
			satelliteTrustCommand(),
		},
	}
}

// satelliteDir returns the satellite's folder: --dir after the command,
// --dir before it (airlock satellite --dir DIR sync --dir DIR …, the
// nearest first), or $AIRLOCK_AUTHORITY_DIR; and sets it on the command,
// so that the authority commands' helpers (openDesk) find it.
func satelliteDir(c *cli.Context) (string, error) {
	dir, set := c.String(flagDir), c.IsSet(flagDir)
	for _, ctx := range c.Lineage()[1:] {
		if !set && ctx.Command != nil && ctx.IsSet(flagDir) {
			dir, set = ctx.String(flagDir), true
		}
	}
	if dir == "" {
		return "", usagef(c.Command.HelpName, "for example: --dir /srv/satellite, or export "+envAuthorityDir+"=/srv/satellite",
			"missing --%s DIR: the satellite's folder", flagDir)
	}
	if !c.IsSet(flagDir) {
		if err := c.Set(flagDir, dir); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// openSatellite opens the satellite's ledger, with its key when withKey.
func openSatellite(c *cli.Context, withKey bool) (*desk, error) {
	if _, err := satelliteDir(c); err != nil {
		return nil, err
	}
	return openDesk(c, withKey)
}

const satelliteInitDescription = `init makes a new satellite in the folder --dir: what 'airlock authority
init' makes (a key of its own, its trust file, a TLS certificate and an
empty ledger called --name), marked as a satellite of the vendor whose
trust file --vendor-trust gives. The satellite verifies the vendor's sync
answers with that trust file.

--name is how the vendor registers the satellite: letters, digits, '.',
'_' and '-'. Give the satellite's trust.airlock to the vendor, who
registers it with 'airlock authority satellite add NAME --trust FILE
--account ORG/ACCOUNT', and to the instances on the site, which load it
instead of the vendor's. The key is encrypted as init encrypts it.

Example:

    $ airlock satellite init --dir /srv/sat --name plant-sat --vendor-trust vendor-trust.airlock
    airlock: new authority "plant-sat" in /srv/sat, key 7c1f09a2b3d4e5f6
    airlock: wrote /srv/sat/authority.key: the private key, encrypted with a passphrase
    airlock: wrote /srv/sat/trust.airlock: the trust file, for every instance
    airlock: wrote /srv/sat/ledger.db: the ledger
    airlock: wrote /srv/sat/tls.crt: the TLS certificate of 'airlock authority serve', for localhost, …
    airlock: satellite "plant-sat" of the vendor with keys 5b0c1d6e9f3a2b47
    airlock: next: the vendor registers /srv/sat/trust.airlock ('airlock authority satellite add plant-sat --trust FILE --account ORG/ACCOUNT'), then sync

Exit status: 0 when the satellite was made; 1 when a file exists, the
vendor's trust file does not open, or a file cannot be written (then none
is left behind); 2 for a wrong command line.`

func satelliteInitCommand() *cli.Command {
	init := authorityInitCommand()
	return &cli.Command{
		Name:        "init",
		Usage:       "make a new satellite: key, trust file and ledger, for one vendor",
		UsageText:   "airlock satellite init --name NAME --vendor-trust FILE [--dir DIR] [--recipient RECIPIENT]... [--not-after DATE] [--tls-host NAME]...",
		Description: satelliteInitDescription,
		Flags: append(init.Flags,
			&cli.StringFlag{Name: flagVendorTrust, Usage: "the vendor's trust file `FILE` (its trust.airlock), which its sync answers verify with"}),
		OnUsageError: onUsageError,
		Action:       satelliteInit,
	}
}

func satelliteInit(c *cli.Context) error {
	cmd, stderr := c.Command.HelpName, c.App.ErrWriter
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	dir, err := satelliteDir(c)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(c.String(flagName))
	if err := authority.CheckName("satellite", name); err != nil {
		return usagef(cmd, "for example: --name plant-sat (the vendor registers the satellite by it)", "--%s: %v", flagName, err)
	}
	vendorPath, err := requireFlag(c, flagVendorTrust, "vendor-trust.airlock")
	if err != nil {
		return err
	}
	vendorTrust, err := readFile(vendorPath, maxKeyFileSize)
	if err != nil {
		return err
	}
	vt, err := codes.ReadTrustFile(vendorTrust)
	if err != nil {
		return withHint(fmt.Errorf("%s: %w", vendorPath, err), "give the vendor's trust.airlock, as 'airlock authority init' made it")
	}
	if err := authorityInit(c); err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err == nil {
		err = satelliteMark(d, vendorTrust)
		d.Close()
	}
	if err != nil {
		for _, f := range []string{authority.KeyFile, authority.TrustFile, authority.LedgerFile, authority.LedgerFile + "-wal", authority.LedgerFile + "-shm", store.URLFile, tlsCertFile, tlsKeyFile} {
			if rmErr := os.Remove(filepath.Join(dir, f)); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
				warn(stderr, "could not remove %s: %v", filepath.Join(dir, f), rmErr)
			}
		}
		return fmt.Errorf("making the satellite: %w", err)
	}
	ids := make([]string, len(vt.Keys))
	for i := range vt.Keys {
		ids[i] = vt.Keys[i].ID().String()
	}
	note(stderr, "satellite %q of the vendor with keys %s", name, strings.Join(ids, ", "))
	note(stderr, "next: the vendor registers %s ('airlock authority satellite add --trust FILE --account ORG/ACCOUNT %s'), then sync",
		filepath.Join(dir, authority.TrustFile), name)
	return nil
}

// satelliteMark marks the new ledger of d as a satellite, after checking
// that the vendor's trust file lists none of the satellite's own keys.
func satelliteMark(d *desk, vendorTrust []byte) error {
	own, err := readDeskTrust(d.dir)
	if err != nil {
		return err
	}
	vt, err := codes.ReadTrustFile(vendorTrust)
	if err != nil {
		return err
	}
	for i := range own.Keys {
		if vt.Key(own.Keys[i].ID()) != nil {
			return fmt.Errorf("%w: the vendor's trust file lists key %s, which is this satellite's own", authority.ErrInvalid, own.Keys[i].ID())
		}
	}
	return d.l.InitSatellite(d.ctx, vendorTrust)
}

const satelliteStatusDescription = `status says where the satellite stands with its vendor: the vendor's
name and keys, the last sync request made and the last answer imported
(and whether the latest request still waits for its answer), how many
accounts and lots it mirrors, and any over-use.

With --json: an object with name, vendor (null before the first answer),
vendor_keys, created, last_export (sequence, from, made) and last_import
(sequence, issued, imported), null before the first, pending, accounts,
lots, and over_use (account, tag, held, count, over).

Exit status: 0 when printed; 1 when the folder holds no satellite; 2 for
a wrong command line.`

func satelliteStatusCommand() *cli.Command {
	return &cli.Command{
		Name:         "status",
		Usage:        "show where the satellite stands with its vendor",
		UsageText:    "airlock satellite status [--json] [--dir DIR]",
		Description:  satelliteStatusDescription,
		Flags:        ledgerFlags(&cli.BoolFlag{Name: flagJSON, Usage: "print JSON instead of text"}),
		OnUsageError: onUsageError,
		Action:       satelliteStatus,
	}
}

type overUseJSON struct {
	Account string `json:"account"`
	Tag     string `json:"tag"`
	Held    int64  `json:"held"`
	Count   int64  `json:"count"`
	Over    int64  `json:"over"`
}

type syncExportJSON struct {
	Sequence uint64 `json:"sequence"`
	From     string `json:"from"`
	Made     string `json:"made"`
}

type syncImportJSON struct {
	Sequence uint64 `json:"sequence"`
	Issued   string `json:"issued"`
	Imported string `json:"imported"`
}

type satelliteStatusJSON struct {
	Name       string          `json:"name"`
	Vendor     *string         `json:"vendor"`
	VendorKeys []string        `json:"vendor_keys"`
	Created    string          `json:"created"`
	LastExport *syncExportJSON `json:"last_export"`
	LastImport *syncImportJSON `json:"last_import"`
	Pending    bool            `json:"pending"`
	Accounts   int             `json:"accounts"`
	Lots       int             `json:"lots"`
	OverUse    []overUseJSON   `json:"over_use"`
}

func overUses(os []authority.OverUse) []overUseJSON {
	out := []overUseJSON{}
	for _, o := range os {
		out = append(out, overUseJSON{o.Account, o.Tag, o.Held, o.Count, o.Over()})
	}
	return out
}

func satelliteStatus(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	d, err := openSatellite(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	st, err := d.l.SatelliteStatus(d.ctx)
	if err != nil {
		return err
	}
	j := satelliteStatusJSON{Name: st.Name, Vendor: optString(st.Vendor), VendorKeys: st.VendorKeys, Created: unixRFC(st.CreatedAt),
		Pending: st.Pending, Accounts: st.Accounts, Lots: st.Lots, OverUse: overUses(st.Over)}
	if e := st.LastExport; e != nil {
		j.LastExport = &syncExportJSON{e.Sequence, unixRFC(e.From), unixRFC(e.MadeAt)}
	}
	if i := st.LastImport; i != nil {
		j.LastImport = &syncImportJSON{i.Sequence, unixRFC(i.IssuedAt), unixRFC(i.ImportedAt)}
	}
	if c.Bool(flagJSON) {
		return writeJSON(c, j)
	}
	var b strings.Builder
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-16s %s\n", label, fmt.Sprintf(format, args...))
	}
	line("satellite", "%s", st.Name)
	line("vendor", "%s", orNone(optQuote(st.Vendor), "not known before the first answer"))
	line("vendor keys", "%s", strings.Join(st.VendorKeys, ", "))
	line("created", "%s", j.Created)
	if e := j.LastExport; e != nil {
		line("last request", "%d, made %s, for the period from %s", e.Sequence, e.Made, e.From)
	} else {
		line("last request", "none yet: 'airlock satellite sync export' makes the first")
	}
	if i := j.LastImport; i != nil {
		line("last answer", "to request %d, issued %s, imported %s", i.Sequence, i.Issued, i.Imported)
	} else {
		line("last answer", "none yet")
	}
	if st.Pending {
		line("pending", "request %d waits for the vendor's answer", st.LastExport.Sequence)
	}
	line("mirrors", "%s in %s", plural(st.Lots, "lot", "lots"), plural(st.Accounts, "account", "accounts"))
	if len(st.Over) == 0 {
		line("over-use", "none")
	} else {
		line("over-use", "%d", len(st.Over))
		for _, o := range st.Over {
			fmt.Fprintf(&b, "  %s\n", o)
		}
	}
	return writeResult(c.App.Writer, []byte(b.String()))
}

func optQuote(s string) *string {
	if s == "" {
		return nil
	}
	q := fmt.Sprintf("%q", s)
	return &q
}

// satelliteHints are the hints of the satellite's refusals. They go first:
// the general sentinels they are kinds of have hints of their own.
var satelliteHints = []struct {
	sentinel error
	hint     string
}{
	{authority.ErrDelegated, "'airlock authority satellite list' shows which satellite holds which accounts"},
	{authority.ErrSatellite, "a satellite's licenses change at the vendor: add or transfer them there, and sync"},
	{authority.ErrNotSatellite, "check --dir: 'airlock satellite init' makes a satellite; the vendor answers sync requests with 'airlock authority sync answer'"},
	{authority.ErrSyncReplayed, "export a new sync request on the satellite ('airlock satellite sync export'): it covers everything since the last answer imported"},
	{authority.ErrSyncOutOfOrder, "import the answer to the satellite's latest request, or export a new request and have the vendor answer that one"},
	{authority.ErrSyncMismatch, "check that the file comes from this satellite's vendor and is for this satellite ('airlock code inspect FILE')"},
}

func init() { hints = append(append(satelliteHints[:0:0], satelliteHints...), hints...) }

const satelliteTrustDescription = `trust installs a trust update of the vendor (FILE, from the vendor's
trust-updates folder, as 'airlock authority rotate-key' wrote it) after
the vendor rotated its key: it must be signed by a key of the vendor's
trust file the satellite holds, with a greater sequence, as an instance
installs one ('airlock instance trust install'). The vendor's sync answers
signed with the new key import from then on. Install each update in
order.

Exit status: 0 when installed; 1 when refused (another vendor's key, an
older sequence); 2 for a wrong command line.`

func satelliteTrustCommand() *cli.Command {
	return &cli.Command{
		Name:         "trust",
		Usage:        "install a trust update of the vendor, after it rotated its key",
		UsageText:    "airlock satellite trust [--dir DIR] FILE",
		Description:  satelliteTrustDescription,
		Flags:        ledgerFlags(),
		OnUsageError: onUsageError,
		Action:       satelliteTrust,
	}
}

func satelliteTrust(c *cli.Context) error {
	if err := checkArgs(c, 1, 1, "FILE"); err != nil {
		return err
	}
	b, err := readFile(c.Args().First(), maxKeyFileSize)
	if err != nil {
		return err
	}
	d, err := openSatellite(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	own, err := readDeskTrust(d.dir)
	if err != nil {
		return err
	}
	if code, err := codes.DecodeKind(b, codes.KindTrustUpdate); err == nil {
		if t, err := codes.ParseUnverifiedTrustSet(code); err == nil {
			for i := range t.Keys {
				if own.Key(t.Keys[i].ID()) != nil {
					return fmt.Errorf("%w: %s lists key %s, which is this satellite's own: give the vendor's trust update", authority.ErrInvalid, c.Args().First(), t.Keys[i].ID())
				}
			}
		}
	}
	t, err := d.l.UpdateVendorTrust(d.ctx, b)
	if err != nil {
		return err
	}
	ids := make([]string, len(t.Keys))
	for i := range t.Keys {
		ids[i] = t.Keys[i].ID().String()
	}
	note(c.App.ErrWriter, "installed the vendor's trust update %d, signed by key %s: keys %s", t.Sequence, t.SignedBy, strings.Join(ids, ", "))
	return nil
}
