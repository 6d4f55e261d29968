package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/authority/store"
	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/formats/seal"
)

// Flags shared by the authority commands.
const (
	flagDir      = "dir"
	flagActor    = "actor"
	flagName     = "name"
	flagAccount  = "account"
	flagOrg      = "org"
	flagTag      = "tag"
	flagCount    = "count"
	flagInstance = "instance"
	flagLicense  = "license"
	flagTo       = "to"
	flagDB       = "db"
)

// Environment variables of the authority commands.
const (
	envAuthorityDir = "AIRLOCK_AUTHORITY_DIR"
	envActor        = "AIRLOCK_ACTOR"
	envDB           = "AIRLOCK_DB"
)

const authorityDescription = `authority groups the commands of the licensing desk: the vendor's side,
which keeps the ledger of who owns which licenses and signs authorization
codes. Every command works on an authority folder, given with --dir or
the AIRLOCK_AUTHORITY_DIR environment variable, holding:

- ledger.db: the ledger (SQLite), with its history; or ledger.url, the
  URL of the PostgreSQL database that holds it (see below);
- authority.key: the private key, encrypted with age to a passphrase or
  to age or SSH keys;
- trust.airlock: the trust file every instance loads.

Several authority servers share one ledger in PostgreSQL: 'airlock
authority init --db postgres://USER@HOST/DB' makes the ledger there and
writes ledger.url, without the password; copy the folder to each server.
Every command takes --db URL, or AIRLOCK_DB, which override ledger.url.
The password comes from PGPASSWORD or ~/.pgpass, never from a file of the
folder; sslmode=verify-full in the URL checks the server's certificate.

A day at the desk:

    $ export AIRLOCK_AUTHORITY_DIR=/srv/airlock
    $ airlock authority init --name "ACME licensing"
    $ airlock authority org add acme
    $ airlock authority account add --org acme plant
    $ airlock authority lot add --account acme/plant --tag vms.camera.core --count 25 --perpetual
    $ airlock authority reserve --account acme/plant --request request.txt
    AU-…
    $ airlock authority update --instance P:VMS,S:cam-1 --license vms.camera.core=4
    $ airlock authority confirm CF-…
    $ airlock authority return RT-…
    $ airlock authority verify

Commands that sign or open codes (reserve, update, confirm, return,
system import) need the private key: its passphrase comes from
AIRLOCK_PASSPHRASE or is asked for on the terminal; a key encrypted to an
age or SSH key opens with --identity FILE. The others never touch it.

Every change is one transaction, committed to disk before anything is
printed, and recorded in the history with who did it: --actor, or
AIRLOCK_ACTOR, or the name of the user running airlock.

Exit status: 0 on success; 1 when the operation was refused or failed; 2
for a wrong command line.`

func authorityCommand() *cli.Command {
	return &cli.Command{
		Name:            "authority",
		Usage:           "run the licensing desk: ledger, reservations, codes",
		UsageText:       "airlock authority [--dir DIR] COMMAND [OPTIONS] [ARGUMENTS]",
		Description:     authorityDescription,
		Flags:           []cli.Flag{dirFlag(true), dbFlag()},
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{
			authorityInitCommand(),
			authorityOrgCommand(),
			authorityAccountCommand(),
			authorityLotCommand(),
			authorityLicensesCommand(),
			authorityProductCommand(),
			authorityKeyCommand(),
			authorityWalletCommand(),
			authoritySubscriptionCommand(),
			authorityHardwareCommand(),
			authorityPoolCommand(),
			authorityDeviceCommand(),
			authorityActivationCommand(),
			authorityGatewayCommand(),
			authorityReleaseCommand(),
			authorityManifestCommand(),
			authorityPersonCommand(),
			authoritySerialCommand(),
			authorityRegisterCommand(),
			authorityAgreementCommand(),
			authorityLicenseCommand(),
			authorityVoucherCommand(),
			authorityPartnerCommand(),
			authorityUpgradeCommand(),
			authorityTokenCommand(),
			authorityConnectedCommand(),
			authorityTierCommand(),
			authorityExportCommand(),
			authorityServeCommand(),
			authoritySatelliteCommand(),
			authoritySyncCommand(),
			authorityAlertsCommand(),
			authorityTransferCommand(),
			authorityReserveCommand(),
			authorityUpdateCommand(),
			authorityConfirmCommand(),
			authorityReturnCommand(),
			authorityProcessCommand(),
			authorityRemoveCommand(),
			authoritySystemCommand(),
			authorityUsageCommand(),
			authorityInstancesCommand(),
			authorityShowCommand(),
			authorityHistoryCommand(),
			authorityVerifyCommand(),
			authorityMigrateCommand(),
			authorityRotateCommand(),
		},
	}
}

// dirFlag is --dir. The group's reads $AIRLOCK_AUTHORITY_DIR; each
// subcommand has its own, so it may come after the command's name too.
func dirFlag(group bool) cli.Flag {
	f := &cli.StringFlag{Name: flagDir, Usage: "the authority folder `DIR` (default: $" + envAuthorityDir + ")"}
	if group {
		f.EnvVars = []string{envAuthorityDir}
	}
	return f
}

// dbFlag is --db, read from $AIRLOCK_DB.
func dbFlag() cli.Flag {
	return &cli.StringFlag{Name: flagDB, EnvVars: []string{envDB},
		Usage: "the ledger is in the PostgreSQL database at `URL` (postgres://USER@HOST/DB?sslmode=verify-full; the password from PGPASSWORD or ~/.pgpass), not the one the folder names (default: $" + envDB + ")"}
}

// ledgerFlags are the flags of every command that opens the ledger.
func ledgerFlags(more ...cli.Flag) []cli.Flag {
	return append([]cli.Flag{
		dirFlag(false),
		dbFlag(),
		&cli.StringFlag{Name: flagActor, EnvVars: []string{envActor}, Usage: "act as `NAME`, a person's e-mail address once the ledger has people (their role is checked), and record them in the history (default: $" + envActor + ", or your user name)"},
	}, more...)
}

// keyFlags are the flags of commands that open the private key.
func keyFlags(more ...cli.Flag) []cli.Flag {
	return ledgerFlags(append([]cli.Flag{
		&cli.StringSliceFlag{Name: flagIdentity, Usage: "open the key, and age-encrypted codes, with the identity in `FILE` (age or ssh-ed25519 private key); repeatable"},
	}, more...)...)
}

// authorityDir returns --dir after the command, --dir before it, or
// $AIRLOCK_AUTHORITY_DIR.
func authorityDir(c *cli.Context) (string, error) {
	dir, set := c.String(flagDir), c.IsSet(flagDir)
	for _, ctx := range c.Lineage()[1:] {
		if !set && ctx.Command != nil && ctx.Command.Name == "authority" && ctx.IsSet(flagDir) {
			dir, set = ctx.String(flagDir), true
		}
	}
	if dir == "" {
		return "", usagef(c.Command.HelpName, "for example: --dir /srv/airlock, or export "+envAuthorityDir+"=/srv/airlock",
			"missing --%s DIR: the authority folder", flagDir)
	}
	return dir, nil
}

// ledgerDB returns --db after the command or before it, or $AIRLOCK_DB:
// the database that overrides the folder's ledger.url, "" for none.
func ledgerDB(c *cli.Context) string {
	for _, ctx := range c.Lineage() {
		if ctx.Command != nil && ctx.IsSet(flagDB) && ctx.String(flagDB) != "" {
			return ctx.String(flagDB)
		}
	}
	return os.Getenv(envDB)
}

// openLedger opens the ledger of the authority folder dir: --db, or
// $AIRLOCK_DB, or the folder's ledger.url, or its ledger.db.
func openLedger(c *cli.Context, dir string, create bool, opts authority.Options) (*authority.Ledger, io.Closer, error) {
	name, err := store.LedgerName(dir, ledgerDB(c))
	if err != nil {
		return nil, nil, err
	}
	st, err := store.Open(name, store.Options{Create: create})
	if err != nil {
		return nil, nil, err
	}
	return authority.New(st, opts), st, nil
}

// actor returns who acts: --actor, $AIRLOCK_ACTOR, or the user.
func actor(c *cli.Context) string {
	if a := strings.TrimSpace(c.String(flagActor)); a != "" {
		return a
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "unknown"
}

// A desk is an open ledger and what the command needs with it.
type desk struct {
	l      *authority.Ledger
	closer io.Closer
	dir    string
	ctx    context.Context
}

// openDesk opens the ledger of the authority folder; withKey opens the
// private key too.
func openDesk(c *cli.Context, withKey bool, tweak ...func(*authority.Options)) (*desk, error) {
	dir, err := authorityDir(c)
	if err != nil {
		return nil, err
	}
	opts := authority.Options{Actor: actor(c), Now: clock}
	for _, fn := range tweak {
		fn(&opts)
	}
	if withKey {
		key, retired, err := openAuthorityKeys(c, dir)
		if err != nil {
			return nil, err
		}
		opts.Keys, opts.Retired = []*codes.AuthorityKey{key}, retired
	}
	l, closer, err := openLedger(c, dir, false, opts)
	if err != nil {
		return nil, fmt.Errorf("authority folder %q: %w", dir, err)
	}
	return &desk{l: l, closer: closer, dir: dir, ctx: context.Background()}, nil
}

func (d *desk) Close() { d.closer.Close() }

// openAuthorityKeys opens authority.key, which signs, with its window as
// the trust file gives it, and returns openers of the keys rotations
// retired (retired/KEYID.key, newest first), which the ledger opens only
// for a code MACed for one of them. A signing key the trust file does not
// list is a rotation that did not finish.
func openAuthorityKeys(c *cli.Context, dir string) (*codes.AuthorityKey, []func() (*codes.AuthorityKey, error), error) {
	o := &keyOpener{c: c}
	cur, _, err := o.open(filepath.Join(dir, authority.KeyFile))
	if err != nil {
		return nil, nil, err
	}
	trust, err := readDeskTrust(dir)
	if err != nil {
		return nil, nil, err
	}
	pub := trust.Key(cur.ID())
	if pub == nil {
		return nil, nil, withHint(fmt.Errorf("%w: %s holds key %s, which %s (sequence %d) does not list: a key rotation did not finish",
			authority.ErrNoKey, authority.KeyFile, cur.ID(), authority.TrustFile, trust.Sequence),
			"run 'airlock authority rotate-key' again: it finishes the rotation")
	}
	cur.Public.NotBefore, cur.Public.NotAfter = pub.NotBefore, pub.NotAfter
	var retired []func() (*codes.AuthorityKey, error)
	for i := len(trust.Keys) - 1; i >= 0; i-- {
		pub := trust.Keys[i]
		path := filepath.Join(dir, authority.RetiredDir, pub.ID().String()+".key")
		if pub.ID() == cur.ID() {
			continue
		}
		if _, err := os.Stat(path); err != nil {
			continue // a key from before this folder's first rotation, or removed on purpose
		}
		retired = append(retired, func() (*codes.AuthorityKey, error) {
			k, _, err := o.open(path)
			if err != nil {
				return nil, err
			}
			if k.ID() != pub.ID() {
				return nil, fmt.Errorf("%w: %s holds key %s", codes.ErrInvalid, path, k.ID())
			}
			k.Public.NotBefore, k.Public.NotAfter = pub.NotBefore, pub.NotAfter
			return k, nil
		})
	}
	return cur, retired, nil
}

// readDeskTrust reads the authority folder's trust file.
func readDeskTrust(dir string) (*codes.TrustSet, error) {
	path := filepath.Join(dir, authority.TrustFile)
	b, err := readFile(path, maxKeyFileSize)
	if err != nil {
		return nil, err
	}
	t, err := codes.ReadTrustFile(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// A keyOpener opens key files of one folder with --identity, or with one
// passphrase asked for at most once.
type keyOpener struct {
	c          *cli.Context
	mu         sync.Mutex // the ledger may open retired keys from several goroutines
	passphrase string
	asked      bool
	ids        []age.Identity // --identity, read once
	idsRead    bool
}

// open opens the key file at path. It reports whether a passphrase, not
// an identity, opened it.
func (o *keyOpener) open(path string) (*codes.AuthorityKey, bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	b, err := readFile(path, maxKeyFileSize)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			dir := filepath.Dir(path)
			return nil, false, withHint(fmt.Errorf("%w: %s has no %s", authority.ErrNotInitialized, dir, filepath.Base(path)),
				"check --dir, or run 'airlock authority init' to make a new authority")
		}
		return nil, false, err
	}
	if !o.idsRead {
		if o.ids, err = identities(o.c); err != nil {
			return nil, false, err
		}
		o.idsRead = true
	}
	if ids := o.ids; len(ids) > 0 {
		k, err := codes.OpenAuthorityKey(b, ids...)
		if !errors.Is(err, seal.ErrPassphraseEncrypted) {
			if err != nil {
				return nil, false, fmt.Errorf("opening %s: %w", path, err)
			}
			return k, false, nil
		}
	}
	if !o.asked {
		p, err := readPassphrase(o.c.App.Reader, o.c.App.ErrWriter, path, false)
		if errors.Is(err, errNoPassphrase) {
			// Not the hint of a new key: this one exists and must be opened.
			why := strings.TrimPrefix(err.Error(), errNoPassphrase.Error()+": ")
			return nil, false, fmt.Errorf("%w %s: %s", errKeyLocked, path, why)
		}
		if err != nil {
			return nil, false, err
		}
		o.passphrase, o.asked = p, true
	}
	k, err := codes.OpenAuthorityKeyPassphrase(b, o.passphrase)
	if err != nil {
		return nil, false, fmt.Errorf("opening %s: %w", path, err)
	}
	return k, true, nil
}

// identities reads --identity, for age-encrypted codes.
func identities(c *cli.Context) ([]age.Identity, error) {
	return readIdentities(c.StringSlice(flagIdentity))
}

// errKeyLocked means no passphrase was given to open the authority key.
var errKeyLocked = errors.New("no passphrase to open the authority key")

// authorityHints are the hints of the authority sentinels, after the
// table in output.go.
var authorityHints = []struct {
	sentinel error
	hint     string
}{
	{seal.ErrPassphrase, "check AIRLOCK_PASSPHRASE, or type the passphrase of authority.key again"},
	{errKeyLocked, "set AIRLOCK_PASSPHRASE to its passphrase, or give --identity FILE for a key encrypted to an age or SSH key"},
	{authority.ErrNotInitialized, "check --dir or " + envAuthorityDir + ", or make a new authority with 'airlock authority init --name NAME'"},
	{authority.ErrSchema, "use the airlock that wrote this ledger, or a newer one"},
	{authority.ErrNotFound, "'airlock authority licenses' lists the accounts, 'airlock authority product list --org ORG' the products and 'airlock authority instances' the instances"},
	{authority.ErrExists, "choose another name; 'airlock authority licenses' lists the accounts"},
	{authority.ErrUnavailable, "see what is available with 'airlock authority licenses --account ORG/ACCOUNT'; add a lot or transfer licenses first"},
	{authority.ErrCrossOrg, "licenses stay in their organization: transfer between accounts of one organization"},
	{authority.ErrKeyMismatch, "if the instance was rebuilt, remove the old one with 'airlock authority remove --instance UDI --reason TEXT', then reserve again"},
	{authority.ErrActive, "change the reservation with 'airlock authority update --instance UDI', or have the instance return it first"},
	{authority.ErrReplay, "have the instance make a new request code"},
	{authority.ErrClosed, "the reservation is closed: nothing is left to do with this code"},
	{authority.ErrStale, "this code comes from an older state of the instance: ask for its current return or confirmation code"},
	{authority.ErrRemovalLimit, "if the removals are legitimate, raise the limit with 'airlock authority account set --removal-limit N ORG/ACCOUNT'"},
	{authority.ErrNoKey, "the authority key is not valid now: make a new key and publish a trust update"},
	{authority.ErrClock, "set the system clock right, then try again"},
	{authority.ErrBusy, "another airlock process holds the ledger: try again in a moment"},
	{store.ErrUnreachable, "check --db, " + envDB + " or the folder's " + store.URLFile + ", and that PostgreSQL runs and accepts connections from this host"},
	{authority.ErrCorrupt, "stop issuing, restore the ledger from a backup, and find out who changed it"},
}

func init() { hints = append(hints, authorityHints...) }

// parseDay reads a date (YYYY-MM-DD, the start of that day UTC) or an RFC
// 3339 time.
func parseDay(s string) (time.Time, error) {
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		return d, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, errors.New("not a date (YYYY-MM-DD) or an RFC 3339 time")
	}
	return t.UTC().Truncate(time.Second), nil
}

const authorityInitDescription = `init makes a new authority in the folder --dir: a new key (as airlock
keygen makes it), its trust file and an empty ledger called --name. The
folder is made if it does not exist; none of the three files may exist.

The key is encrypted to a passphrase, from AIRLOCK_PASSPHRASE or asked
twice on the terminal, or to the age or SSH public keys given with
--recipient; then the other commands open it with --identity.

With --db URL (or AIRLOCK_DB), the ledger is made in that PostgreSQL
database, which must exist and hold no ledger, and the folder gets
ledger.url instead of ledger.db: the URL without its password, which the
other commands read. They take the password from PGPASSWORD or
~/.pgpass. Copy the folder to every server that shares the ledger.

    $ createdb -O airlock airlock
    $ export PGPASSWORD=…
    $ airlock authority init --dir /srv/airlock --name "ACME licensing" \
        --db "postgres://airlock@db.example/airlock?sslmode=verify-full"
    …
    airlock: wrote /srv/airlock/ledger.url: the ledger's database, postgres://airlock@db.example/airlock?sslmode=verify-full

Example:

    $ airlock authority init --dir /srv/airlock --name "ACME licensing"
    airlock: passphrase for /srv/airlock/authority.key: 
    airlock: the same passphrase again: 
    airlock: new authority "ACME licensing" in /srv/airlock, key 5b0c1d6e9f3a2b47
    airlock: wrote /srv/airlock/authority.key: the private key, encrypted with a passphrase
    airlock: wrote /srv/airlock/trust.airlock: the trust file, for every instance
    airlock: wrote /srv/airlock/ledger.db: the ledger
    airlock: wrote /srv/airlock/tls.crt: the TLS certificate of 'airlock authority serve', for localhost, …

Exit status: 0 when the authority was made; 1 when a file exists or
cannot be written (then none is left behind); 2 for a wrong command
line.`

func authorityInitCommand() *cli.Command {
	return &cli.Command{
		Name:        "init",
		Usage:       "make a new authority: key, trust file and ledger",
		UsageText:   "airlock authority init --name NAME [--dir DIR] [--db URL] [--recipient RECIPIENT]... [--not-after DATE] [--tls-host NAME]...",
		Description: authorityInitDescription,
		Flags: ledgerFlags(
			&cli.StringFlag{Name: flagName, Usage: "call the authority `NAME`, as its history and the trust file's holders will see it"},
			&cli.StringSliceFlag{Name: flagRecipient, Usage: "encrypt the key to `RECIPIENT` (age1…, \"ssh-ed25519 …\", or @FILE with one per line) instead of a passphrase; repeatable"},
			&cli.StringFlag{Name: flagNotAfter, Usage: "let the key sign nothing from `DATE` on (YYYY-MM-DD, the end of that day UTC, or RFC 3339)"},
			tlsHostFlag(),
		),
		OnUsageError: onUsageError,
		Action:       authorityInit,
	}
}

func authorityInit(c *cli.Context) error {
	cmd, stderr := c.Command.HelpName, c.App.ErrWriter
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	dir, err := authorityDir(c)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(c.String(flagName))
	if name == "" {
		return usagef(cmd, `for example: --name "ACME licensing"`, "missing --%s NAME for the authority", flagName)
	}
	now := clock().UTC().Truncate(time.Second)
	notAfter, err := notAfterFlag(c, cmd, now)
	if err != nil {
		return err
	}
	recipients, err := parseRecipients(cmd, c.StringSlice(flagRecipient))
	if err != nil {
		return err
	}
	keyPath, trustPath, ledgerPath := filepath.Join(dir, authority.KeyFile), filepath.Join(dir, authority.TrustFile), filepath.Join(dir, authority.LedgerFile)
	db := ledgerDB(c)
	if db != "" {
		if !store.IsPostgres(db) {
			return usagef(cmd, "for example: --db postgres://airlock@db.example/airlock?sslmode=verify-full", "--%s: init makes a ledger in PostgreSQL only (postgres://…)", flagDB)
		}
		ledgerPath = filepath.Join(dir, store.URLFile)
	}
	for _, p := range []string{keyPath, trustPath, ledgerPath} {
		if err := checkAbsent(p); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var passphrase string
	if len(recipients) == 0 {
		if passphrase, err = readNewPassphrase(c.App.Reader, stderr, keyPath); err != nil {
			return err
		}
		if n := len([]rune(passphrase)); n < minPassphraseLen {
			warn(stderr, "the passphrase has %d characters; anyone who copies %s can try to guess it offline", n, keyPath)
		}
	}
	key, err := writeKeyFiles(stderr, keyPath, trustPath, now, notAfter, recipients, passphrase)
	if err != nil {
		return err
	}
	if db != "" {
		// The folder remembers the database, never its password.
		err = writeNewFile(ledgerPath, []byte(store.RedactURL(db)+"\n"), 0o600)
	}
	var l *authority.Ledger
	var closer io.Closer
	if err == nil {
		l, closer, err = openLedger(c, dir, true, authority.Options{Keys: []*codes.AuthorityKey{key}, Actor: actor(c), Now: clock})
	}
	if err == nil {
		err = l.Init(context.Background(), name)
		closer.Close()
	}
	if err != nil {
		for _, p := range []string{keyPath, trustPath, ledgerPath, ledgerPath + "-wal", ledgerPath + "-shm"} {
			if rmErr := os.Remove(p); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
				warn(stderr, "could not remove %s: %v", p, rmErr)
			}
		}
		if db != "" && errors.Is(err, authority.ErrExists) {
			// Not the sentinel's hint: no name is wrong, the database is.
			return withHint(fmt.Errorf("making the ledger: the database %s holds one already: %s", store.RedactURL(db), strings.TrimPrefix(err.Error(), authority.ErrExists.Error()+": ")),
				"give init an empty database, or use this one: --db or AIRLOCK_DB on every command, or a file ledger.url in the folder holding its URL")
		}
		return fmt.Errorf("making the ledger: %w", err)
	}
	note(stderr, "new authority %q in %s, key %s", name, dir, key.ID())
	how := "with a passphrase"
	switch n := len(recipients); {
	case n == 1:
		how = "to 1 recipient"
	case n > 1:
		how = fmt.Sprintf("to %d recipients", n)
	}
	note(stderr, "wrote %s: the private key, encrypted %s", keyPath, how)
	note(stderr, "wrote %s: the trust file, for every instance", trustPath)
	if db != "" {
		note(stderr, "wrote %s: the ledger's database, %s", ledgerPath, store.RedactURL(db))
		if store.RedactURL(db) != db {
			warn(stderr, "%s keeps the URL without its password: give it to the other commands with PGPASSWORD or ~/.pgpass", ledgerPath)
		}
	} else {
		note(stderr, "wrote %s: the ledger", ledgerPath)
	}
	initTLSCert(c, dir, name, now)
	return nil
}
