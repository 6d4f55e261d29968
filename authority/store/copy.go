package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	"github.com/airlock-dev/airlock/authority"
)

// A CopyReport says what Copy copied.
type CopyReport struct {
	Tables []TableCount // in the order copied
	Rows   int64
}

// A TableCount is the rows of one table.
type TableCount struct {
	Table string
	Rows  int64
}

// Copy copies every row of the ledger src into dst, a ledger of the same
// schema version with no row in any table (a new PostgreSQL database
// opened with Create), in one write transaction of dst: a copy that fails
// leaves dst empty. src is read in one write transaction, so that no
// other writer changes it meanwhile (they wait, up to their timeout). It
// refuses a dst that holds anything (authority.ErrExists), so that it
// never runs twice into one database. The caller verifies both sides
// afterwards (authority.Ledger.Verify) and compares their history heads.
func Copy(ctx context.Context, src, dst *Store) (*CopyReport, error) {
	if src == dst || src.path == dst.path {
		return nil, fmt.Errorf("%w: the ledger cannot be copied into itself", authority.ErrInvalid)
	}
	sv, err := src.version(ctx, src.r)
	if err != nil {
		return nil, err
	}
	dv, err := dst.version(ctx, dst.r)
	if err != nil {
		return nil, err
	}
	if sv != dv {
		return nil, fmt.Errorf("%w: the source has schema version %d, the target %d", authority.ErrSchema, sv, dv)
	}
	rep := &CopyReport{}
	// The source is read in a write transaction, which nothing changes:
	// no other writer commits to it while it is copied.
	err = src.update(ctx, func(rtx *sql.Tx) error {
		return copyInto(ctx, rtx, src, dst, rep)
	}, func(authority.Tx) error { return nil })
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// copyInto copies what rtx reads of src into dst, in a write transaction
// of dst.
func copyInto(ctx context.Context, rtx *sql.Tx, src, dst *Store, rep *CopyReport) error {
	return dst.update(ctx, func(tx *sql.Tx) error {
		rep.Tables, rep.Rows = nil, 0
		tables, err := dst.tablesInOrder(ctx, tx)
		if err != nil {
			return err
		}
		for _, t := range tables {
			var n int64
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return fmt.Errorf("%w: the target %s holds %d rows in %s: Copy copies into an empty database only", authority.ErrExists, dst.path, n, t)
			}
		}
		for _, t := range tables {
			n, err := copyTable(ctx, rtx, src, tx, dst, t)
			if err != nil {
				return fmt.Errorf("copying %s: %w", t, err)
			}
			rep.Tables = append(rep.Tables, TableCount{t, n})
			rep.Rows += n
		}
		return dst.resetSequences(ctx, tx)
	}, func(authority.Tx) error { return nil })
}

// tablesInOrder returns the ledger's tables but schema_migrations, each
// after the tables its foreign keys reference.
func (s *Store) tablesInOrder(ctx context.Context, tx *sql.Tx) ([]string, error) {
	var names, edges string
	if s.d == sqliteDialect {
		names = `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' AND name <> 'schema_migrations'`
		edges = `SELECT m.name, f."table" FROM sqlite_master m, pragma_foreign_key_list(m.name) f WHERE m.type = 'table'`
	} else {
		names = `SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename <> 'schema_migrations'`
		edges = `SELECT c.relname, r.relname FROM pg_catalog.pg_constraint k
JOIN pg_catalog.pg_class c ON c.oid = k.conrelid JOIN pg_catalog.pg_class r ON r.oid = k.confrelid
WHERE k.contype = 'f' AND k.connamespace = current_schema()::regnamespace`
	}
	var tables []string
	if err := scanStrings(ctx, tx, names, func(v []string) { tables = append(tables, v[0]) }, 1); err != nil {
		return nil, err
	}
	sort.Strings(tables)
	deps := map[string][]string{}
	if err := scanStrings(ctx, tx, edges, func(v []string) {
		if v[0] != v[1] {
			deps[v[0]] = append(deps[v[0]], v[1])
		}
	}, 2); err != nil {
		return nil, err
	}
	var out []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(string) error
	visit = func(t string) error {
		switch state[t] {
		case 1:
			return fmt.Errorf("%w: the foreign keys of %s form a cycle", authority.ErrSchema, t)
		case 2:
			return nil
		}
		state[t] = 1
		for _, d := range deps[t] {
			if err := visit(d); err != nil {
				return err
			}
		}
		state[t] = 2
		out = append(out, t)
		return nil
	}
	for _, t := range tables {
		if err := visit(t); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func scanStrings(ctx context.Context, tx *sql.Tx, q string, fn func([]string), n int) error {
	rows, err := tx.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		v := make([]string, n)
		p := make([]any, n)
		for i := range v {
			p[i] = &v[i]
		}
		if err := rows.Scan(p...); err != nil {
			return err
		}
		fn(v)
	}
	return rows.Err()
}

// columns returns the columns of table in dst, and which are booleans
// (SQLite stores those as 0 and 1).
func (s *Store) columns(ctx context.Context, tx *sql.Tx, table string) ([]string, []bool, error) {
	var q string
	if s.d == sqliteDialect {
		q = `SELECT name, lower(type) = 'boolean' FROM pragma_table_info(?) ORDER BY cid`
	} else {
		q = `SELECT column_name, data_type = 'boolean' FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position`
	}
	rows, err := tx.QueryContext(ctx, s.d.rebind(q), table)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var cols []string
	var bools []bool
	for rows.Next() {
		var c string
		var b bool
		if err := rows.Scan(&c, &b); err != nil {
			return nil, nil, err
		}
		cols, bools = append(cols, c), append(bools, b)
	}
	return cols, bools, rows.Err()
}

// copyTable copies the rows of one table, in statements of bulkRows rows.
func copyTable(ctx context.Context, rtx *sql.Tx, src *Store, wtx *sql.Tx, dst *Store, table string) (int64, error) {
	cols, bools, err := dst.columns(ctx, wtx, table)
	if err != nil {
		return 0, err
	}
	if len(cols) == 0 {
		return 0, fmt.Errorf("%w: no columns", authority.ErrSchema)
	}
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = `"` + c + `"`
	}
	list := strings.Join(quoted, ", ")
	rows, err := rtx.QueryContext(ctx, `SELECT `+list+` FROM `+table)
	if err != nil {
		return 0, src.d.classify(err)
	}
	defer rows.Close()
	one := "(" + strings.Repeat("?, ", len(cols)-1) + "?)"
	var batch []any
	var n, pending int64
	flush := func() error {
		if pending == 0 {
			return nil
		}
		q := `INSERT INTO ` + table + ` (` + list + `) VALUES ` + strings.Repeat(one+", ", int(pending)-1) + one
		if _, err := wtx.ExecContext(ctx, dst.d.rebind(q), batch...); err != nil {
			return err
		}
		batch, pending = batch[:0], 0
		return nil
	}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return 0, err
		}
		for i, v := range vals {
			if x, ok := v.(int64); ok && bools[i] {
				vals[i] = x != 0 // SQLite's BOOLEAN
			}
		}
		batch = append(batch, vals...)
		pending++
		n++
		if pending == bulkRows {
			if err := flush(); err != nil {
				return 0, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return 0, src.d.classify(err)
	}
	return n, flush()
}

// resetSequences sets each generated id of dst past the largest copied,
// so that the next row inserted gets a new one.
func (s *Store) resetSequences(ctx context.Context, tx *sql.Tx) error {
	if s.d == sqliteDialect {
		return nil // INTEGER PRIMARY KEY takes the largest + 1
	}
	var idents [][]string
	err := scanStrings(ctx, tx, `SELECT table_name, column_name FROM information_schema.columns
WHERE table_schema = current_schema() AND is_identity = 'YES' ORDER BY table_name`, func(v []string) { idents = append(idents, v) }, 2)
	if err != nil {
		return err
	}
	for _, id := range idents {
		t, c := id[0], id[1]
		q := fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%s', '%s'), COALESCE((SELECT MAX("%s") FROM "%s"), 0) + 1, false)`, t, c, c, t)
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}
