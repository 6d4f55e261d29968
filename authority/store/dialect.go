package store

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"modernc.org/sqlite"

	"github.com/airlock-dev/airlock/authority"
)

// A dialect holds everything that differs between the SQL databases a
// store may run on. Schema and queries are written once, in SQL that
// SQLite and PostgreSQL both accept (ON CONFLICT DO NOTHING, partial
// indexes, SAVEPOINT), with ? placeholders and the {{…}} types below; a
// PostgreSQL store supplies its own dialect.
type dialect struct {
	name string
	// types replaces {{id}} (a generated integer key), {{key}} (an integer
	// key the caller chooses), {{blob}} and {{without_rowid}} (a table
	// stored in its primary key's order, where the dialect has that) in
	// the schema.
	types *strings.Replacer
	// extra holds statements of schema version n that only this dialect
	// needs, such as triggers.
	extra map[int][]string
	// rebind rewrites ? placeholders in the dialect's form.
	rebind func(string) string
	// returning: generated ids are read with INSERT … RETURNING id (as
	// PostgreSQL needs); otherwise from the driver's LastInsertId.
	returning bool
	// tableExists counts the tables named by its one parameter.
	tableExists string
	// classify maps a driver error to the authority sentinels.
	classify func(error) error
	// lock, when not empty, is the first statement of every write
	// transaction: it waits until no other writer runs (SQLite has
	// BEGIN IMMEDIATE for that).
	lock string
	// writeTx and readTx are the options of write and read
	// transactions; nil for the driver's default.
	writeTx, readTx *sql.TxOptions
	// retryable reports whether a write transaction that failed with
	// err may be run again; nil when none may.
	retryable func(error) bool
}

var sqliteDialect = &dialect{
	name: "sqlite",
	types: strings.NewReplacer(
		"{{id}}", "INTEGER PRIMARY KEY",
		"{{key}}", "INTEGER PRIMARY KEY",
		"{{blob}}", "BLOB",
		"{{without_rowid}}", " WITHOUT ROWID",
	),
	extra: map[int][]string{
		// The history is append-only: refuse to change or delete an
		// event through SQL. (Whoever edits the file directly is caught
		// by the hash chain instead.)
		1: {
			`CREATE TRIGGER history_no_update BEFORE UPDATE ON history BEGIN SELECT RAISE(ABORT, 'the history is append-only'); END`,
			`CREATE TRIGGER history_no_delete BEFORE DELETE ON history BEGIN SELECT RAISE(ABORT, 'the history is append-only'); END`,
		},
	},
	rebind:      func(q string) string { return q },
	tableExists: `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`,
	classify:    classifySQLite,
	readTx:      &sql.TxOptions{ReadOnly: true},
}

// SQLite result codes (https://sqlite.org/rescode.html).
const (
	sqliteBusy    = 5
	sqliteLocked  = 6
	sqliteCorrupt = 11
	sqliteNotADB  = 26
)

func classifySQLite(err error) error {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return err
	}
	switch e.Code() & 0xff {
	case sqliteBusy, sqliteLocked:
		return fmt.Errorf("%w: another process held the ledger longer than %s: try again (%v)", authority.ErrBusy, busyTimeout, err)
	case sqliteCorrupt, sqliteNotADB:
		return fmt.Errorf("%w: the database file is damaged: %v", authority.ErrCorrupt, err)
	}
	return err
}
