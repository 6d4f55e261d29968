package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/authority/store"
)

const authorityMigrateDescription = `migrate copies a ledger into an empty database, for several authority
servers to share it in PostgreSQL: every table, in one transaction of the
target (a copy that fails leaves it empty). The source is verified first;
the target is verified after, and its history must end on the same head,
with the same number of events. migrate refuses a target that holds
anything, so it never runs twice into one database. It changes nothing in
the source.

--to is a postgres:// URL of an existing database, whose password comes
from PGPASSWORD or ~/.pgpass (or sqlite://FILE, a new file, for a copy the
other way). --from is the source, sqlite://FILE or postgres://…; without
it, the source is the authority folder's ledger.db, and the folder then
gets ledger.url, so that every later command uses the new database.

Stop every process that writes to the ledger first (authority serve
included): migrate holds the source's write lock while it copies, and a
process that wrote to the old ledger afterwards would write where nobody
reads any more. Keep ledger.db as the backup it now is.

Example:

    $ createdb -O airlock airlock
    $ export PGPASSWORD=…
    $ airlock authority migrate --dir /srv/airlock --to "postgres://airlock@db.example/airlock?sslmode=verify-full"
    copied 1204 rows of 56 tables from /srv/airlock/ledger.db to postgres://airlock@db.example/airlock?sslmode=verify-full
    verified both: 212 events, head 6f1c…
    airlock: wrote /srv/airlock/ledger.url: the ledger's database, postgres://airlock@db.example/airlock?sslmode=verify-full

Exit status: 0 when the ledger was copied and both sides verify; 1 when
either does not open or verify, or the target holds anything; 2 for a
wrong command line.`

func authorityMigrateCommand() *cli.Command {
	return &cli.Command{
		Name:        "migrate",
		Usage:       "copy the ledger into an empty PostgreSQL database",
		UsageText:   "airlock authority migrate --to URL [--from sqlite://FILE] [--dir DIR]",
		Description: authorityMigrateDescription,
		Flags: []cli.Flag{
			dirFlag(false),
			&cli.StringFlag{Name: flagFrom, Usage: "copy the ledger at `SOURCE` (sqlite://FILE or postgres://…; default: the folder's ledger.db)"},
			&cli.StringFlag{Name: flagTo, Usage: "into the empty database at `URL` (postgres://USER@HOST/DB?sslmode=verify-full, or sqlite://FILE)"},
		},
		OnUsageError: onUsageError,
		Action:       authorityMigrate,
	}
}

func authorityMigrate(c *cli.Context) error {
	cmd, stderr := c.Command.HelpName, c.App.ErrWriter
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	to, err := requireFlag(c, flagTo, "postgres://airlock@db.example/airlock?sslmode=verify-full")
	if err != nil {
		return err
	}
	toName, err := store.LedgerName("", to)
	if err != nil {
		return usagef(cmd, "for example: --to postgres://airlock@db.example/airlock?sslmode=verify-full", "--%s: %v", flagTo, err)
	}
	var fromName, urlPath string
	if from := c.String(flagFrom); from != "" {
		if fromName, err = store.LedgerName("", from); err != nil {
			return usagef(cmd, "for example: --from sqlite:///srv/airlock/ledger.db", "--%s: %v", flagFrom, err)
		}
	} else {
		dir, err := authorityDir(c)
		if err != nil {
			return err
		}
		if fromName, err = store.LedgerName(dir, ""); err != nil {
			return err
		}
		if store.IsPostgres(fromName) {
			return usagef(cmd, "give the source with --from", "the folder %s holds %s: its ledger is in PostgreSQL already", dir, store.URLFile)
		}
		if store.IsPostgres(toName) {
			urlPath = filepath.Join(dir, store.URLFile)
			if err := checkAbsent(urlPath); err != nil {
				return err
			}
		}
	}
	ctx := context.Background()
	src, err := store.Open(fromName, store.Options{})
	if err != nil {
		return fmt.Errorf("the source %s: %w", store.RedactURL(fromName), err)
	}
	defer src.Close()
	before, err := authority.VerifyStore(ctx, src)
	if err != nil {
		return fmt.Errorf("the source %s: %w", src.Path(), err)
	}
	dst, err := store.Open(toName, store.Options{Create: true})
	if err != nil {
		return fmt.Errorf("the target %s: %w", store.RedactURL(toName), err)
	}
	defer dst.Close()
	rep, err := store.Copy(ctx, src, dst)
	if err != nil {
		return fmt.Errorf("copying into %s: %w", dst.Path(), err)
	}
	after, err := authority.VerifyStore(ctx, dst)
	if err != nil {
		return fmt.Errorf("the copy in %s: %w", dst.Path(), err)
	}
	if after.Events != before.Events || !bytes.Equal(after.Head, before.Head) {
		return fmt.Errorf("%w: the copy in %s has %d events, head %x; the source %d, head %x", authority.ErrCorrupt, dst.Path(), after.Events, after.Head, before.Events, before.Head)
	}
	out := fmt.Sprintf("copied %d rows of %d tables from %s to %s\nverified both: %d events, head %x\n",
		rep.Rows, len(rep.Tables), src.Path(), dst.Path(), after.Events, after.Head)
	if err := writeResult(c.App.Writer, []byte(out)); err != nil {
		return err
	}
	if urlPath != "" {
		if err := writeNewFile(urlPath, []byte(dst.Path()+"\n"), 0o600); err != nil {
			return fmt.Errorf("the ledger was copied, but %w: write %s yourself, with the URL above", err, urlPath)
		}
		note(stderr, "wrote %s: the ledger's database, %s", urlPath, dst.Path())
		note(stderr, "%s stays as it was: keep it as a backup; the commands of this folder now use the database", fromName)
	}
	return nil
}
