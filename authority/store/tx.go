package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

// txn is a transaction: authority.Tx for Update, authority.ReadTx for
// View. A writer's statements are prepared once per store on the writer's
// connection and bound to the transaction on first use; a reader's are
// run as they are.
type txn struct {
	s        *Store
	prepared bool
	tx       *sql.Tx
	ctx      context.Context
	cache    map[string]*sql.Stmt
	seq      int64 // the last reservation's seq, once read
}

var _ authority.Tx = (*txn)(nil)

func (t *txn) stmt(query string) (*sql.Stmt, error) {
	if st := t.cache[query]; st != nil {
		return st, nil
	}
	st, err := t.s.stmt(t.ctx, query)
	if err != nil {
		return nil, err
	}
	st = t.tx.StmtContext(t.ctx, st)
	t.cache[query] = st
	return st, nil
}

func (t *txn) exec(query string, args ...any) (sql.Result, error) {
	if !t.prepared {
		return t.tx.ExecContext(t.ctx, t.s.d.rebind(query), args...)
	}
	st, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(t.ctx, args...)
}

func (t *txn) queryRow(query string, args ...any) *sql.Row {
	if !t.prepared {
		return t.tx.QueryRowContext(t.ctx, t.s.d.rebind(query), args...)
	}
	st, err := t.stmt(query)
	if err != nil {
		// A Row carries its error to Scan only when made by database/sql;
		// run the query unprepared to get one.
		return t.tx.QueryRowContext(t.ctx, t.s.d.rebind(query), args...)
	}
	return st.QueryRowContext(t.ctx, args...)
}

// exec1 runs a statement that must change exactly one row.
func (t *txn) exec1(query string, args ...any) error {
	r, err := t.exec(query, args...)
	if err != nil {
		return err
	}
	n, err := r.RowsAffected()
	if err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("%w: statement changed %d rows, want 1: %s", authority.ErrCorrupt, n, firstLine(query))
	}
	return nil
}

func firstLine(q string) string {
	q, _, _ = strings.Cut(strings.TrimSpace(q), "\n")
	return q
}

// insertID runs an INSERT into a table with a generated id and returns
// the id, as the dialect gets it.
func (t *txn) insertID(query string, args ...any) (int64, error) {
	if t.s.d.returning {
		var id int64
		err := t.queryRow(query+` RETURNING id`, args...).Scan(&id)
		return id, err
	}
	r, err := t.exec(query, args...)
	if err != nil {
		return 0, err
	}
	return r.LastInsertId()
}

func (t *txn) query(query string, args ...any) (*sql.Rows, error) {
	if !t.prepared {
		return t.tx.QueryContext(t.ctx, t.s.d.rebind(query), args...)
	}
	st, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(t.ctx, args...)
}

// one scans the single row of query into dest; it returns false for none.
func (t *txn) one(query string, args []any, dest ...any) (bool, error) {
	err := t.queryRow(query, args...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// all runs query and calls scan for each row.
func all(t *txn, query string, args []any, scan func(*sql.Rows) error) error {
	rows, err := t.query(query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// blob binds b, or NULL for nil: a zero-length blob is not NULL, and
// UNIQUE columns allow many NULLs but one empty blob.
func blob(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// Meta

func (t *txn) Meta() (*authority.Meta, error) {
	m := &authority.Meta{}
	ok, err := t.one(`SELECT name, created_at, history_count, history_head, last_issued_at, (SELECT MAX(version) FROM schema_migrations) FROM meta WHERE id = 1`, nil,
		&m.Name, &m.CreatedAt, &m.HistoryCount, &m.HistoryHead, &m.LastIssuedAt, &m.Schema)
	if !ok || err != nil {
		return nil, err
	}
	return m, nil
}

func (t *txn) InitMeta(m *authority.Meta) error {
	return t.exec1(`INSERT INTO meta (id, name, created_at, history_count, history_head, last_issued_at) VALUES (1, ?, ?, ?, ?, ?)`,
		m.Name, m.CreatedAt, m.HistoryCount, m.HistoryHead, m.LastIssuedAt)
}

func (t *txn) SetHead(count int64, head []byte, lastIssuedAt int64) error {
	return t.exec1(`UPDATE meta SET history_count = ?, history_head = ?, last_issued_at = ? WHERE id = 1`, count, head, lastIssuedAt)
}

// Organizations and accounts

func (t *txn) Org(name string) (*authority.Org, error) {
	o := &authority.Org{}
	ok, err := t.one(`SELECT id, name, created_at FROM orgs WHERE name = ?`, []any{name}, &o.ID, &o.Name, &o.CreatedAt)
	if !ok {
		return nil, err
	}
	return o, nil
}

func (t *txn) InsertOrg(o *authority.Org) (err error) {
	o.ID, err = t.insertID(`INSERT INTO orgs (name, created_at) VALUES (?, ?)`, o.Name, o.CreatedAt)
	return err
}

const accountCols = `a.id, a.org_id, o.name, a.name, a.removal_limit, a.created_at, a.export_allowed FROM accounts a JOIN orgs o ON o.id = a.org_id`

func scanAccount(sc interface{ Scan(...any) error }) (*authority.Account, error) {
	a := &authority.Account{}
	err := sc.Scan(&a.ID, &a.OrgID, &a.Org, &a.Name, &a.RemovalLimit, &a.CreatedAt, &a.ExportAllowed)
	return a, err
}

func (t *txn) account(where string, args ...any) (*authority.Account, error) {
	a, err := scanAccount(t.queryRow(`SELECT `+accountCols+` WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return a, err
}

func (t *txn) Account(org, name string) (*authority.Account, error) {
	return t.account(`o.name = ? AND a.name = ?`, org, name)
}

func (t *txn) AccountByID(id int64) (*authority.Account, error) {
	a, err := t.account(`a.id = ?`, id)
	if err == nil && a == nil {
		err = fmt.Errorf("%w: account %d does not exist", authority.ErrCorrupt, id)
	}
	return a, err
}

func (t *txn) Accounts() ([]authority.Account, error) {
	var out []authority.Account
	err := all(t, `SELECT `+accountCols+` ORDER BY o.name, a.name`, nil, func(r *sql.Rows) error {
		a, err := scanAccount(r)
		if err == nil {
			out = append(out, *a)
		}
		return err
	})
	return out, err
}

// InsertAccount adds an account; a new account may hold export-controlled
// licenses (the column's default) until SetExportAllowed says otherwise.
func (t *txn) InsertAccount(a *authority.Account) (err error) {
	a.ID, err = t.insertID(`INSERT INTO accounts (org_id, name, removal_limit, created_at) VALUES (?, ?, ?, ?)`,
		a.OrgID, a.Name, a.RemovalLimit, a.CreatedAt)
	a.ExportAllowed = err == nil
	return err
}

func (t *txn) SetRemovalLimit(accountID int64, limit int) error {
	return t.exec1(`UPDATE accounts SET removal_limit = ? WHERE id = ?`, limit, accountID)
}

func (t *txn) SetExportAllowed(accountID int64, allowed bool) error {
	return t.exec1(`UPDATE accounts SET export_allowed = ? WHERE id = ?`, allowed, accountID)
}

// Lots

const lotCols = `SELECT id, account_id, tag, kind, start_at, end_at, export_controlled, initial_count, count, held, origin, created_at FROM lots`

func scanLot(r *sql.Rows) (authority.Lot, error) {
	var l authority.Lot
	var kind int64
	err := r.Scan(&l.ID, &l.AccountID, &l.Tag, &kind, &l.Start, &l.End, &l.ExportControlled, &l.Initial, &l.Count, &l.Held, &l.Origin, &l.CreatedAt)
	l.Kind = codes.EntitlementKind(kind)
	return l, err
}

func (t *txn) Lots(accountID int64, tag string) ([]authority.Lot, error) {
	var q string
	var args []any
	switch {
	case accountID != 0 && tag != "":
		q, args = lotCols+` WHERE account_id = ? AND tag = ? ORDER BY id`, []any{accountID, tag}
	case accountID != 0:
		q, args = lotCols+` WHERE account_id = ? ORDER BY tag, id`, []any{accountID}
	case tag != "":
		q, args = lotCols+` WHERE tag = ? ORDER BY account_id, id`, []any{tag}
	default:
		q = lotCols + ` ORDER BY account_id, tag, id`
	}
	var out []authority.Lot
	err := all(t, q, args, func(r *sql.Rows) error {
		l, err := scanLot(r)
		out = append(out, l)
		return err
	})
	return out, err
}

func (t *txn) InsertLot(l *authority.Lot) (err error) {
	l.ID, err = t.insertID(`INSERT INTO lots (account_id, tag, kind, start_at, end_at, export_controlled, initial_count, count, held, origin, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		l.AccountID, l.Tag, int64(l.Kind), l.Start, l.End, l.ExportControlled, l.Initial, l.Count, l.Held, l.Origin, l.CreatedAt)
	return err
}

// AdjustHeld is the allocation statement: the WHERE clause is the check,
// so that checking and taking are one step (ATTACKS §3.2).
func (t *txn) AdjustHeld(lotID int64, delta int64) error {
	r, err := t.exec(`UPDATE lots SET held = held + ? WHERE id = ? AND held + ? >= 0 AND held + ? <= count`, delta, lotID, delta, delta)
	if err != nil {
		return err
	}
	n, err := r.RowsAffected()
	if err != nil {
		return err
	}
	if n != 1 {
		return t.lotRefused(lotID, fmt.Sprintf("holding %+d", delta))
	}
	return nil
}

func (t *txn) ShrinkLot(lotID int64, n int64) error {
	r, err := t.exec(`UPDATE lots SET count = count - ? WHERE id = ? AND count - held >= ?`, n, lotID, n)
	if err != nil {
		return err
	}
	if k, err := r.RowsAffected(); err != nil {
		return err
	} else if k != 1 {
		return t.lotRefused(lotID, fmt.Sprintf("taking %d out", n))
	}
	return nil
}

func (t *txn) lotRefused(lotID int64, what string) error {
	var count, held int64
	var tag string
	ok, err := t.one(`SELECT tag, count, held FROM lots WHERE id = ?`, []any{lotID}, &tag, &count, &held)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: lot %d does not exist", authority.ErrNotFound, lotID)
	}
	return fmt.Errorf("%w: lot %d of %q has %d available (%d of %d held): %s would leave it out of range", authority.ErrUnavailable, lotID, tag, count-held, held, count, what)
}

func (t *txn) InsertTransfer(x *authority.Transfer) (err error) {
	x.ID, err = t.insertID(`INSERT INTO transfers (from_lot, to_lot, count, at) VALUES (?, ?, ?, ?)`, x.From, x.To, x.Count, x.At)
	return err
}

func (t *txn) Transfers() ([]authority.Transfer, error) {
	var out []authority.Transfer
	err := all(t, `SELECT id, from_lot, to_lot, count, at FROM transfers ORDER BY id`, nil, func(r *sql.Rows) error {
		var x authority.Transfer
		err := r.Scan(&x.ID, &x.From, &x.To, &x.Count, &x.At)
		out = append(out, x)
		return err
	})
	return out, err
}

// Instances

const instanceCols = `SELECT id, udi, public_key, account_id, state, name, system, created_at, removed_at, removal_reason FROM instances`

func scanInstance(sc interface{ Scan(...any) error }) (*authority.Instance, error) {
	i := &authority.Instance{}
	var state string
	err := sc.Scan(&i.ID, &i.UDI, &i.PublicKey, &i.AccountID, &state, &i.Name, &i.System, &i.CreatedAt, &i.RemovedAt, &i.RemovalReason)
	i.State = authority.InstanceState(state)
	return i, err
}

func (t *txn) instance(where string, args ...any) (*authority.Instance, error) {
	i, err := scanInstance(t.queryRow(instanceCols+` WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return i, err
}

func (t *txn) LiveInstance(udi string) (*authority.Instance, error) {
	return t.instance(`udi = ? AND state <> 'removed'`, udi)
}

func (t *txn) InstanceByID(id int64) (*authority.Instance, error) {
	i, err := t.instance(`id = ?`, id)
	if err == nil && i == nil {
		err = fmt.Errorf("%w: instance %d does not exist", authority.ErrCorrupt, id)
	}
	return i, err
}

func (t *txn) instances(where string, args ...any) ([]authority.Instance, error) {
	var out []authority.Instance
	err := all(t, instanceCols+where+` ORDER BY id`, args, func(r *sql.Rows) error {
		i, err := scanInstance(r)
		if err == nil {
			out = append(out, *i)
		}
		return err
	})
	return out, err
}

func (t *txn) Instances() ([]authority.Instance, error) { return t.instances("") }

func (t *txn) SystemInstances(name string) ([]authority.Instance, error) {
	return t.instances(` WHERE name = ? AND state <> 'removed' AND system IS NOT NULL`, name)
}

func (t *txn) InsertInstance(i *authority.Instance) (err error) {
	i.ID, err = t.insertID(`INSERT INTO instances (udi, public_key, account_id, state, name, system, created_at, removed_at, removal_reason)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		i.UDI, i.PublicKey, i.AccountID, string(i.State), i.Name, blob(i.System), i.CreatedAt, i.RemovedAt, i.RemovalReason)
	return err
}

func (t *txn) UpdateInstance(i *authority.Instance) error {
	return t.exec1(`UPDATE instances SET account_id = ?, state = ?, name = ?, system = ?, removed_at = ?, removal_reason = ? WHERE id = ?`,
		i.AccountID, string(i.State), i.Name, blob(i.System), i.RemovedAt, i.RemovalReason, i.ID)
}

// Reservations

const reservationCols = `SELECT id, instance_id, account_id, status, serial, confirmed, created_at, updated_at, closed_at, close_hash FROM reservations`

func scanReservation(sc interface{ Scan(...any) error }) (*authority.Reservation, error) {
	r := &authority.Reservation{}
	var id int64
	var status string
	err := sc.Scan(&id, &r.InstanceID, &r.AccountID, &status, &r.Serial, &r.Confirmed, &r.CreatedAt, &r.UpdatedAt, &r.ClosedAt, &r.CloseHash)
	r.ID, r.Status = uint32(id), authority.ReservationStatus(status)
	return r, err
}

func (t *txn) Reservation(id uint32) (*authority.Reservation, error) {
	r, err := scanReservation(t.queryRow(reservationCols+` WHERE id = ?`, int64(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return r, err
}

func (t *txn) Reservations(instanceID int64) ([]authority.Reservation, error) {
	q, args := reservationCols+` ORDER BY seq`, []any(nil)
	if instanceID != 0 {
		q, args = reservationCols+` WHERE instance_id = ? ORDER BY seq`, []any{instanceID}
	}
	var out []authority.Reservation
	err := all(t, q, args, func(rows *sql.Rows) error {
		r, err := scanReservation(rows)
		if err == nil {
			out = append(out, *r)
		}
		return err
	})
	return out, err
}

// InsertReservation numbers reservations in the order they are made
// (seq), from a counter read once per transaction.
func (t *txn) InsertReservation(r *authority.Reservation) (bool, error) {
	if t.seq == 0 {
		if _, err := t.one(`SELECT COALESCE(MAX(seq), 0) FROM reservations`, nil, &t.seq); err != nil {
			return false, err
		}
	}
	res, err := t.exec(`INSERT INTO reservations (id, instance_id, account_id, status, serial, confirmed, created_at, updated_at, closed_at, close_hash, seq)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		int64(r.ID), r.InstanceID, r.AccountID, string(r.Status), r.Serial, r.Confirmed, r.CreatedAt, r.UpdatedAt, r.ClosedAt, blob(r.CloseHash), t.seq+1)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if n == 1 {
		t.seq++
	}
	return n == 1, err
}

func (t *txn) UpdateReservation(r *authority.Reservation) error {
	return t.exec1(`UPDATE reservations SET status = ?, serial = ?, confirmed = ?, updated_at = ?, closed_at = ?, close_hash = ? WHERE id = ?`,
		string(r.Status), r.Serial, r.Confirmed, r.UpdatedAt, r.ClosedAt, blob(r.CloseHash), int64(r.ID))
}

func (t *txn) Removals(accountID int64, since int64) (int, error) {
	var n int
	_, err := t.one(`SELECT COUNT(*) FROM reservations WHERE account_id = ? AND status = 'removed' AND closed_at >= ?`, []any{accountID, since}, &n)
	return n, err
}

// Grants and codes

func (t *txn) Grants(reservation uint32, every bool) ([]authority.Grant, error) {
	q, args := `SELECT reservation_id, serial, lot_id, tag, component, count FROM grants WHERE reservation_id = ? ORDER BY serial, lot_id, component`, []any{int64(reservation)}
	if every {
		q, args = `SELECT reservation_id, serial, lot_id, tag, component, count FROM grants ORDER BY reservation_id, serial, lot_id, component`, nil
	}
	var out []authority.Grant
	err := all(t, q, args, func(r *sql.Rows) error {
		var g authority.Grant
		var id int64
		err := r.Scan(&id, &g.Serial, &g.LotID, &g.Tag, &g.Component, &g.Count)
		g.Reservation = uint32(id)
		out = append(out, g)
		return err
	})
	return out, err
}

func (t *txn) InsertGrants(gs []authority.Grant) error {
	for _, g := range gs {
		if _, err := t.exec(`INSERT INTO grants (reservation_id, serial, lot_id, tag, component, count) VALUES (?, ?, ?, ?, ?, ?)`,
			int64(g.Reservation), g.Serial, g.LotID, g.Tag, g.Component, g.Count); err != nil {
			return err
		}
	}
	return nil
}

const issuedCols = `SELECT reservation_id, serial, code, hash, request_hash, nonce, issued_at, install_by, key_id FROM issued`

func (t *txn) issued(q string, args ...any) ([]authority.Issued, error) {
	var out []authority.Issued
	err := all(t, q, args, func(r *sql.Rows) error {
		var c authority.Issued
		var id int64
		err := r.Scan(&id, &c.Serial, &c.Code, &c.Hash, &c.RequestHash, &c.Nonce, &c.IssuedAt, &c.InstallBy, &c.KeyID)
		c.Reservation = uint32(id)
		out = append(out, c)
		return err
	})
	return out, err
}

func (t *txn) Issued(reservation uint32, every bool) ([]authority.Issued, error) {
	if every {
		return t.issued(issuedCols + ` ORDER BY reservation_id, serial`)
	}
	return t.issued(issuedCols+` WHERE reservation_id = ? ORDER BY serial`, int64(reservation))
}

func (t *txn) IssuedByRequest(hash []byte) (*authority.Issued, error) {
	cs, err := t.issued(issuedCols+` WHERE request_hash = ?`, hash)
	if err != nil || len(cs) == 0 {
		return nil, err
	}
	return &cs[0], nil
}

func (t *txn) InsertIssued(c *authority.Issued) error {
	_, err := t.exec(`INSERT INTO issued (reservation_id, serial, code, hash, request_hash, nonce, issued_at, install_by, key_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		int64(c.Reservation), c.Serial, c.Code, c.Hash, blob(c.RequestHash), blob(c.Nonce), c.IssuedAt, c.InstallBy, c.KeyID)
	return err
}

func (t *txn) Received(hash []byte) (*authority.Received, error) {
	r := &authority.Received{}
	var id int64
	ok, err := t.one(`SELECT hash, kind, reservation_id, serial, at, journal FROM received WHERE hash = ?`, []any{hash}, &r.Hash, &r.Kind, &id, &r.Serial, &r.At, &r.Journal)
	if !ok {
		return nil, err
	}
	r.Reservation = uint32(id)
	return r, nil
}

func (t *txn) InsertReceived(r *authority.Received) error {
	_, err := t.exec(`INSERT INTO received (hash, kind, reservation_id, serial, at, journal) VALUES (?, ?, ?, ?, ?, ?)`,
		r.Hash, r.Kind, int64(r.Reservation), r.Serial, r.At, blob(r.Journal))
	return err
}

// Journals and usage reports

const journalCols = `SELECT instance_id, count, head, report_hash, updated_at, forks, first_fork, last_fork FROM journals`

func scanJournal(sc interface{ Scan(...any) error }) (*authority.Journal, error) {
	j := &authority.Journal{}
	err := sc.Scan(&j.InstanceID, &j.Count, &j.Head, &j.Report, &j.UpdatedAt, &j.Forks, &j.FirstFork, &j.LastFork)
	return j, err
}

func (t *txn) Journal(instanceID int64) (*authority.Journal, error) {
	j, err := scanJournal(t.queryRow(journalCols+` WHERE instance_id = ?`, instanceID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return j, err
}

func (t *txn) Journals() ([]authority.Journal, error) {
	var out []authority.Journal
	err := all(t, journalCols+` ORDER BY instance_id`, nil, func(r *sql.Rows) error {
		j, err := scanJournal(r)
		if err == nil {
			out = append(out, *j)
		}
		return err
	})
	return out, err
}

func (t *txn) InsertJournal(j *authority.Journal) error {
	_, err := t.exec(`INSERT INTO journals (instance_id, count, head, report_hash, updated_at, forks, first_fork, last_fork) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		j.InstanceID, j.Count, blob(j.Head), blob(j.Report), j.UpdatedAt, j.Forks, j.FirstFork, j.LastFork)
	return err
}

func (t *txn) UpdateJournal(j *authority.Journal) error {
	return t.exec1(`UPDATE journals SET count = ?, head = ?, report_hash = ?, updated_at = ?, forks = ?, first_fork = ?, last_fork = ? WHERE instance_id = ?`,
		j.Count, blob(j.Head), blob(j.Report), j.UpdatedAt, j.Forks, j.FirstFork, j.LastFork, j.InstanceID)
}

const usageCols = `SELECT hash, instance_id, journal_count, journal_head, previous_head, period_from, period_to, at, fork FROM usage_reports`

func scanUsage(sc interface{ Scan(...any) error }) (*authority.UsageReport, error) {
	u := &authority.UsageReport{}
	err := sc.Scan(&u.Hash, &u.InstanceID, &u.Count, &u.Head, &u.Previous, &u.From, &u.To, &u.At, &u.Fork)
	return u, err
}

func (t *txn) UsageReport(hash []byte) (*authority.UsageReport, error) {
	u, err := scanUsage(t.queryRow(usageCols+` WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return u, err
}

func (t *txn) UsageReports(instanceID int64) ([]authority.UsageReport, error) {
	q, args := usageCols+` ORDER BY id`, []any(nil)
	if instanceID != 0 {
		q, args = usageCols+` WHERE instance_id = ? ORDER BY id`, []any{instanceID}
	}
	var out []authority.UsageReport
	err := all(t, q, args, func(r *sql.Rows) error {
		u, err := scanUsage(r)
		if err == nil {
			out = append(out, *u)
		}
		return err
	})
	return out, err
}

func (t *txn) InsertUsageReport(u *authority.UsageReport) error {
	_, err := t.exec(`INSERT INTO usage_reports (hash, instance_id, journal_count, journal_head, previous_head, period_from, period_to, at, fork) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.Hash, u.InstanceID, u.Count, blob(u.Head), blob(u.Previous), u.From, u.To, u.At, u.Fork)
	return err
}

// History

func (t *txn) AppendHistory(e *authority.Event) error {
	_, err := t.exec(`INSERT INTO history (id, at, actor, action, subject, account, instance, code_hash, detail, prev) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.At, e.Actor, e.Action, e.Subject, e.Account, e.Instance, blob(e.CodeHash), e.Detail, e.Prev)
	return err
}

func (t *txn) History(f authority.HistoryFilter, fn func(*authority.Event) error) error {
	var where []string
	var args []any
	if f.Instance != "" {
		where, args = append(where, "instance = ?"), append(args, f.Instance)
	}
	if f.Account != "" {
		where, args = append(where, "account = ?"), append(args, f.Account)
	}
	if f.Org != "" {
		// substr, not LIKE: SQLite's LIKE ignores case, and "ACME" is
		// another organization than "acme".
		where = append(where, `(account = ? OR substr(account, 1, ?) = ?)`)
		args = append(args, f.Org, len(f.Org)+1, f.Org+"/")
	}
	if f.Since != 0 {
		where, args = append(where, "at >= ?"), append(args, f.Since)
	}
	if f.Before != 0 {
		where, args = append(where, "id < ?"), append(args, f.Before)
	}
	q := `SELECT id, at, actor, action, subject, account, instance, code_hash, detail, prev FROM history`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY id`
	if f.Newest > 0 {
		q, args = q+` DESC LIMIT ?`, append(args, f.Newest)
	}
	var e authority.Event
	return all(t, q, args, func(r *sql.Rows) error {
		e = authority.Event{}
		if err := r.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.Subject, &e.Account, &e.Instance, &e.CodeHash, &e.Detail, &e.Prev); err != nil {
			return err
		}
		return fn(&e)
	})
}

// Products, license keys and wallets

const productCols = `SELECT p.id, p.org_id, o.name, p.name, p.software, p.created_at FROM products p JOIN orgs o ON o.id = p.org_id`

func (t *txn) products(where string, args ...any) ([]authority.Product, error) {
	var out []authority.Product
	err := all(t, productCols+where, args, func(r *sql.Rows) error {
		var p authority.Product
		err := r.Scan(&p.ID, &p.OrgID, &p.Org, &p.Name, &p.Software, &p.CreatedAt)
		out = append(out, p)
		return err
	})
	return out, err
}

func (t *txn) Product(orgID int64, name string) (*authority.Product, error) {
	ps, err := t.products(` WHERE p.org_id = ? AND p.name = ?`, orgID, name)
	if err != nil || len(ps) == 0 {
		return nil, err
	}
	return &ps[0], nil
}

func (t *txn) Products(orgID int64) ([]authority.Product, error) {
	if orgID == 0 {
		return t.products(` ORDER BY o.name, p.name`)
	}
	return t.products(` WHERE p.org_id = ? ORDER BY p.name`, orgID)
}

func (t *txn) InsertProduct(p *authority.Product) (err error) {
	p.ID, err = t.insertID(`INSERT INTO products (org_id, name, software, created_at) VALUES (?, ?, ?, ?)`, p.OrgID, p.Name, p.Software, p.CreatedAt)
	return err
}

const licenseKeyCols = `SELECT id, hash, software, extension, years, issued_at, issued_by FROM license_keys`

func (t *txn) licenseKeys(where string, args ...any) ([]authority.LicenseKey, error) {
	var out []authority.LicenseKey
	err := all(t, licenseKeyCols+where, args, func(r *sql.Rows) error {
		var k authority.LicenseKey
		err := r.Scan(&k.ID, &k.Hash, &k.Software, &k.Extension, &k.Years, &k.IssuedAt, &k.IssuedBy)
		out = append(out, k)
		return err
	})
	if err != nil || len(out) == 0 {
		return out, err
	}
	byID := map[int64]*authority.LicenseKey{}
	for i := range out {
		byID[out[i].ID] = &out[i]
	}
	q, qargs := `SELECT key_id, tag, count FROM license_key_lines ORDER BY key_id, tag`, []any(nil)
	if len(out) == 1 {
		q, qargs = `SELECT key_id, tag, count FROM license_key_lines WHERE key_id = ? ORDER BY tag`, []any{out[0].ID}
	}
	err = all(t, q, qargs, func(r *sql.Rows) error {
		var id int64
		var l authority.KeyLine
		if err := r.Scan(&id, &l.Tag, &l.Count); err != nil {
			return err
		}
		k := byID[id]
		if k == nil {
			return fmt.Errorf("%w: license key line of key %d, which does not exist", authority.ErrCorrupt, id)
		}
		k.Lines = append(k.Lines, l)
		return nil
	})
	return out, err
}

func (t *txn) LicenseKey(hash []byte) (*authority.LicenseKey, error) {
	ks, err := t.licenseKeys(` WHERE hash = ?`, hash)
	if err != nil || len(ks) == 0 {
		return nil, err
	}
	return &ks[0], nil
}

func (t *txn) LicenseKeys() ([]authority.LicenseKey, error) {
	return t.licenseKeys(` ORDER BY id`)
}

func (t *txn) InsertLicenseKey(k *authority.LicenseKey) (err error) {
	k.ID, err = t.insertID(`INSERT INTO license_keys (hash, software, extension, years, issued_at, issued_by) VALUES (?, ?, ?, ?, ?, ?)`,
		k.Hash, k.Software, k.Extension, k.Years, k.IssuedAt, k.IssuedBy)
	if err != nil {
		return err
	}
	for _, l := range k.Lines {
		if _, err := t.exec(`INSERT INTO license_key_lines (key_id, tag, count) VALUES (?, ?, ?)`, k.ID, l.Tag, l.Count); err != nil {
			return err
		}
	}
	return nil
}

const redemptionCols = `SELECT key_hash, product_id, at, actor FROM redemptions`

func (t *txn) redemptions(where string, args ...any) ([]authority.Redemption, error) {
	var out []authority.Redemption
	err := all(t, redemptionCols+where, args, func(r *sql.Rows) error {
		var x authority.Redemption
		err := r.Scan(&x.KeyHash, &x.ProductID, &x.At, &x.Actor)
		out = append(out, x)
		return err
	})
	return out, err
}

func (t *txn) Redemption(keyHash []byte) (*authority.Redemption, error) {
	rs, err := t.redemptions(` WHERE key_hash = ?`, keyHash)
	if err != nil || len(rs) == 0 {
		return nil, err
	}
	return &rs[0], nil
}

func (t *txn) Redemptions() ([]authority.Redemption, error) {
	return t.redemptions(` ORDER BY at, key_hash`)
}

func (t *txn) InsertRedemption(x *authority.Redemption) (bool, error) {
	r, err := t.exec(`INSERT INTO redemptions (key_hash, product_id, at, actor) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		x.KeyHash, x.ProductID, x.At, x.Actor)
	if err != nil {
		return false, err
	}
	n, err := r.RowsAffected()
	return n == 1, err
}

const walletLotCols = `SELECT w.id, w.product_id, w.tag, w.initial_count, w.count, w.entered_at, w.expires_at, w.key_hash, k.extension
FROM wallet_lots w JOIN license_keys k ON k.hash = w.key_hash`

func (t *txn) WalletLots(productID int64) ([]authority.WalletLot, error) {
	q, args := walletLotCols+` ORDER BY w.product_id, w.expires_at, w.id`, []any(nil)
	if productID != 0 {
		q, args = walletLotCols+` WHERE w.product_id = ? ORDER BY w.expires_at, w.id`, []any{productID}
	}
	var out []authority.WalletLot
	err := all(t, q, args, func(r *sql.Rows) error {
		var w authority.WalletLot
		err := r.Scan(&w.ID, &w.ProductID, &w.Tag, &w.Initial, &w.Count, &w.EnteredAt, &w.ExpiresAt, &w.KeyHash, &w.Extension)
		out = append(out, w)
		return err
	})
	return out, err
}

func (t *txn) InsertWalletLot(w *authority.WalletLot) (err error) {
	w.ID, err = t.insertID(`INSERT INTO wallet_lots (product_id, tag, initial_count, count, entered_at, expires_at, key_hash) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		w.ProductID, w.Tag, w.Initial, w.Count, w.EnteredAt, w.ExpiresAt, w.KeyHash)
	return err
}

func (t *txn) AdjustWalletLot(lotID int64, delta int64) error {
	r, err := t.exec(`UPDATE wallet_lots SET count = count + ? WHERE id = ? AND count + ? >= 0 AND count + ? <= initial_count`, delta, lotID, delta, delta)
	if err != nil {
		return err
	}
	if k, err := r.RowsAffected(); err != nil {
		return err
	} else if k != 1 {
		return fmt.Errorf("%w: wallet lot %d cannot change by %d", authority.ErrUnavailable, lotID, delta)
	}
	return nil
}

func (t *txn) SubscriptionAnchor(orgID int64) (int64, error) {
	var anchor int64
	err := t.queryRow(`SELECT anchor FROM subscription_anchors WHERE org_id = ?`, orgID).Scan(&anchor)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return anchor, err
}

func (t *txn) InsertSubscriptionAnchor(orgID, anchor int64) error {
	_, err := t.exec(`INSERT INTO subscription_anchors (org_id, anchor) VALUES (?, ?)`, orgID, anchor)
	return err
}

func (t *txn) Subscription(productID int64) (*authority.Subscription, error) {
	s := authority.Subscription{ProductID: productID}
	err := t.queryRow(`SELECT started_at, created_at, actor FROM subscriptions WHERE product_id = ?`, productID).Scan(&s.StartedAt, &s.CreatedAt, &s.Actor)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &s, nil
}

func (t *txn) InsertSubscription(s *authority.Subscription) error {
	_, err := t.exec(`INSERT INTO subscriptions (product_id, started_at, created_at, actor) VALUES (?, ?, ?, ?)`, s.ProductID, s.StartedAt, s.CreatedAt, s.Actor)
	return err
}

const allocationCols = `SELECT id, product_id, year, component, tag, count, credited, covers_from, demand, met, at, actor FROM allocations`

func (t *txn) Allocations(productID int64) ([]authority.Allocation, error) {
	q, args := allocationCols+` ORDER BY id`, []any(nil)
	if productID != 0 {
		q, args = allocationCols+` WHERE product_id = ? ORDER BY id`, []any{productID}
	}
	var out []authority.Allocation
	byID := map[int64]int{}
	err := all(t, q, args, func(r *sql.Rows) error {
		var a authority.Allocation
		err := r.Scan(&a.ID, &a.ProductID, &a.Year, &a.Component, &a.Tag, &a.Count, &a.Credited, &a.CoversFrom, &a.Demand, &a.Met, &a.At, &a.Actor)
		byID[a.ID] = len(out)
		out = append(out, a)
		return err
	})
	if err != nil || len(out) == 0 {
		return out, err
	}
	q, args = `SELECT s.allocation_id, s.lot_id, s.count FROM allocation_lots s ORDER BY s.allocation_id, s.lot_id`, nil
	if productID != 0 {
		q, args = `SELECT s.allocation_id, s.lot_id, s.count FROM allocation_lots s JOIN allocations a ON a.id = s.allocation_id
WHERE a.product_id = ? ORDER BY s.allocation_id, s.lot_id`, []any{productID}
	}
	err = all(t, q, args, func(r *sql.Rows) error {
		var id int64
		var src authority.AllocationSource
		if err := r.Scan(&id, &src.LotID, &src.Count); err != nil {
			return err
		}
		i, ok := byID[id]
		if !ok {
			return fmt.Errorf("allocation_lots names allocation %d, which does not exist", id)
		}
		out[i].Sources = append(out[i].Sources, src)
		return nil
	})
	return out, err
}

func (t *txn) InsertAllocation(a *authority.Allocation) (err error) {
	a.ID, err = t.insertID(`INSERT INTO allocations (product_id, year, component, tag, count, credited, covers_from, demand, met, at, actor)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ProductID, a.Year, a.Component, a.Tag, a.Count, a.Credited, a.CoversFrom, a.Demand, a.Met, a.At, a.Actor)
	if err != nil {
		return err
	}
	for _, s := range a.Sources {
		if _, err := t.exec(`INSERT INTO allocation_lots (allocation_id, lot_id, count) VALUES (?, ?, ?)`, a.ID, s.LotID, s.Count); err != nil {
			return err
		}
	}
	return nil
}

func (t *txn) productSystems(where string, args ...any) ([]authority.ProductSystem, error) {
	var out []authority.ProductSystem
	err := all(t, `SELECT instance_id, product_id, registered_at FROM product_systems`+where, args, func(r *sql.Rows) error {
		var ps authority.ProductSystem
		err := r.Scan(&ps.InstanceID, &ps.ProductID, &ps.RegisteredAt)
		out = append(out, ps)
		return err
	})
	return out, err
}

func (t *txn) ProductSystems(productID int64) ([]authority.ProductSystem, error) {
	if productID == 0 {
		return t.productSystems(` ORDER BY instance_id`)
	}
	return t.productSystems(` WHERE product_id = ? ORDER BY instance_id`, productID)
}

func (t *txn) ProductSystem(instanceID int64) (*authority.ProductSystem, error) {
	ps, err := t.productSystems(` WHERE instance_id = ?`, instanceID)
	if err != nil || len(ps) == 0 {
		return nil, err
	}
	return &ps[0], nil
}

func (t *txn) InsertProductSystem(ps *authority.ProductSystem) error {
	_, err := t.exec(`INSERT INTO product_systems (instance_id, product_id, registered_at) VALUES (?, ?, ?)`, ps.InstanceID, ps.ProductID, ps.RegisteredAt)
	return err
}

func (t *txn) hardware(where string, args ...any) ([]authority.Hardware, error) {
	var out []authority.Hardware
	err := all(t, `SELECT component, product_id, instance_id, model, tag, registered_at FROM hardware`+where, args, func(r *sql.Rows) error {
		var h authority.Hardware
		err := r.Scan(&h.Component, &h.ProductID, &h.InstanceID, &h.Model, &h.Tag, &h.RegisteredAt)
		out = append(out, h)
		return err
	})
	return out, err
}

func (t *txn) Hardware(productID int64) ([]authority.Hardware, error) {
	if productID == 0 {
		return t.hardware(` ORDER BY component`)
	}
	return t.hardware(` WHERE product_id = ? ORDER BY component`, productID)
}

func (t *txn) HardwareComponent(id string) (*authority.Hardware, error) {
	hs, err := t.hardware(` WHERE component = ?`, id)
	if err != nil || len(hs) == 0 {
		return nil, err
	}
	return &hs[0], nil
}

func (t *txn) InsertHardware(h *authority.Hardware) error {
	_, err := t.exec(`INSERT INTO hardware (component, product_id, instance_id, model, tag, registered_at) VALUES (?, ?, ?, ?, ?, ?)`,
		h.Component, h.ProductID, h.InstanceID, h.Model, h.Tag, h.RegisteredAt)
	return err
}
