package store

import (
	"database/sql"
	"fmt"

	"github.com/airlock-dev/airlock/authority"
)

// Satellites and their syncs: see migration 13.

const satelliteCols = `SELECT id, name, trust, created_at, created_by, removed_at, removed_by FROM satellites`

func (t *txn) satellites(where string, args ...any) ([]authority.Satellite, error) {
	var out []authority.Satellite
	err := all(t, satelliteCols+where, args, func(r *sql.Rows) error {
		var s authority.Satellite
		err := r.Scan(&s.ID, &s.Name, &s.Trust, &s.CreatedAt, &s.CreatedBy, &s.RemovedAt, &s.RemovedBy)
		out = append(out, s)
		return err
	})
	return out, err
}

func (t *txn) Satellites() ([]authority.Satellite, error) {
	return t.satellites(` ORDER BY id`)
}

func (t *txn) LiveSatellite(name string) (*authority.Satellite, error) {
	return first(t.satellites(` WHERE name = ? AND removed_at = 0`, name))
}

const satelliteAccountCols = `SELECT d.account_id, o.name || '/' || a.name, d.satellite_id, d.since
FROM satellite_accounts d JOIN accounts a ON a.id = d.account_id JOIN orgs o ON o.id = a.org_id`

func (t *txn) satelliteAccounts(where string, args ...any) ([]authority.SatelliteAccount, error) {
	var out []authority.SatelliteAccount
	err := all(t, satelliteAccountCols+where, args, func(r *sql.Rows) error {
		var d authority.SatelliteAccount
		err := r.Scan(&d.AccountID, &d.Account, &d.SatelliteID, &d.Since)
		out = append(out, d)
		return err
	})
	return out, err
}

func (t *txn) SatelliteAccounts(satelliteID int64) ([]authority.SatelliteAccount, error) {
	if satelliteID == 0 {
		return t.satelliteAccounts(` ORDER BY o.name, a.name`)
	}
	return t.satelliteAccounts(` WHERE d.satellite_id = ? ORDER BY o.name, a.name`, satelliteID)
}

func (t *txn) DelegatedTo(accountID int64) (*authority.SatelliteAccount, error) {
	var d authority.SatelliteAccount
	ok, err := t.one(`SELECT account_id, satellite_id, since FROM satellite_accounts WHERE account_id = ?`, []any{accountID}, &d.AccountID, &d.SatelliteID, &d.Since)
	if err != nil || !ok {
		return nil, err
	}
	return &d, nil
}

func (t *txn) SatelliteSyncs(satelliteID int64) ([]authority.SatelliteSync, error) {
	q := `SELECT satellite_id, sequence, request, request_hash, answer_hash, lots, answered_at FROM satellite_syncs`
	var args []any
	if satelliteID != 0 {
		q, args = q+` WHERE satellite_id = ?`, []any{satelliteID}
	}
	var out []authority.SatelliteSync
	err := all(t, q+` ORDER BY satellite_id, sequence`, args, func(r *sql.Rows) error {
		var s authority.SatelliteSync
		err := r.Scan(&s.SatelliteID, &s.Sequence, &s.Request, &s.RequestHash, &s.AnswerHash, &s.Lots, &s.AnsweredAt)
		out = append(out, s)
		return err
	})
	return out, err
}

func (t *txn) SatelliteSelf() (*authority.SatelliteSelf, error) {
	var s authority.SatelliteSelf
	ok, err := t.one(`SELECT vendor_trust, vendor, created_at FROM satellite_self WHERE id = 1`, nil, &s.VendorTrust, &s.Vendor, &s.CreatedAt)
	if err != nil || !ok {
		return nil, err
	}
	return &s, nil
}

func (t *txn) SyncExports() ([]authority.SyncExport, error) {
	var out []authority.SyncExport
	err := all(t, `SELECT sequence, hash, from_at, made_at, event FROM sync_exports ORDER BY sequence`, nil, func(r *sql.Rows) error {
		var e authority.SyncExport
		err := r.Scan(&e.Sequence, &e.Hash, &e.From, &e.MadeAt, &e.Event)
		out = append(out, e)
		return err
	})
	return out, err
}

func (t *txn) SyncImports() ([]authority.SyncImport, error) {
	var out []authority.SyncImport
	err := all(t, `SELECT sequence, hash, issued_at, imported_at FROM sync_imports ORDER BY sequence`, nil, func(r *sql.Rows) error {
		var i authority.SyncImport
		err := r.Scan(&i.Sequence, &i.Hash, &i.IssuedAt, &i.ImportedAt)
		out = append(out, i)
		return err
	})
	return out, err
}

const syncedLotCols = `SELECT s.lot_id, s.vendor_lot, s.target, s.shrunk, l.account_id, l.tag FROM synced_lots s JOIN lots l ON l.id = s.lot_id`

func (t *txn) syncedLots(where string, args ...any) ([]authority.SyncedLot, error) {
	var out []authority.SyncedLot
	err := all(t, syncedLotCols+where, args, func(r *sql.Rows) error {
		var s authority.SyncedLot
		err := r.Scan(&s.LotID, &s.VendorLot, &s.Target, &s.Shrunk, &s.AccountID, &s.Tag)
		out = append(out, s)
		return err
	})
	return out, err
}

func (t *txn) SyncedLots(accountID int64, tag string) ([]authority.SyncedLot, error) {
	if accountID == 0 {
		return t.syncedLots(` ORDER BY s.lot_id`)
	}
	return t.syncedLots(` WHERE l.account_id = ? AND l.tag = ? ORDER BY s.lot_id`, accountID, tag)
}

func (t *txn) SyncedLot(lotID int64) (*authority.SyncedLot, error) {
	return first(t.syncedLots(` WHERE s.lot_id = ?`, lotID))
}

func (t *txn) InsertSatellite(s *authority.Satellite) (err error) {
	s.ID, err = t.insertID(`INSERT INTO satellites (name, trust, created_at, created_by, removed_at, removed_by) VALUES (?, ?, ?, ?, 0, '')`,
		s.Name, s.Trust, s.CreatedAt, s.CreatedBy)
	return err
}

func (t *txn) RemoveSatellite(id, at int64, by string) error {
	return t.exec1(`UPDATE satellites SET removed_at = ?, removed_by = ? WHERE id = ? AND removed_at = 0`, at, by, id)
}

func (t *txn) InsertSatelliteAccount(d *authority.SatelliteAccount) error {
	_, err := t.exec(`INSERT INTO satellite_accounts (account_id, satellite_id, since) VALUES (?, ?, ?)`, d.AccountID, d.SatelliteID, d.Since)
	return err
}

func (t *txn) DeleteSatelliteAccount(accountID int64) error {
	return t.exec1(`DELETE FROM satellite_accounts WHERE account_id = ?`, accountID)
}

func (t *txn) InsertSatelliteSync(s *authority.SatelliteSync) error {
	_, err := t.exec(`INSERT INTO satellite_syncs (satellite_id, sequence, request, request_hash, answer_hash, lots, answered_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		s.SatelliteID, s.Sequence, s.Request, s.RequestHash, s.AnswerHash, s.Lots, s.AnsweredAt)
	return err
}

func (t *txn) InitSatelliteSelf(s *authority.SatelliteSelf) error {
	_, err := t.exec(`INSERT INTO satellite_self (id, vendor_trust, vendor, created_at) VALUES (1, ?, ?, ?)`, s.VendorTrust, s.Vendor, s.CreatedAt)
	return err
}

func (t *txn) SetVendor(name string) error {
	return t.exec1(`UPDATE satellite_self SET vendor = ? WHERE id = 1`, name)
}

func (t *txn) SetVendorTrust(code []byte) error {
	return t.exec1(`UPDATE satellite_self SET vendor_trust = ? WHERE id = 1`, code)
}

func (t *txn) SetSatelliteTrust(id int64, code []byte) error {
	return t.exec1(`UPDATE satellites SET trust = ? WHERE id = ? AND removed_at = 0`, code, id)
}

func (t *txn) InsertSyncExport(e *authority.SyncExport) error {
	_, err := t.exec(`INSERT INTO sync_exports (sequence, hash, from_at, made_at, event) VALUES (?, ?, ?, ?, ?)`, e.Sequence, e.Hash, e.From, e.MadeAt, e.Event)
	return err
}

func (t *txn) InsertSyncImport(i *authority.SyncImport) error {
	_, err := t.exec(`INSERT INTO sync_imports (sequence, hash, issued_at, imported_at) VALUES (?, ?, ?, ?)`, i.Sequence, i.Hash, i.IssuedAt, i.ImportedAt)
	return err
}

func (t *txn) InsertSyncedLot(s *authority.SyncedLot) error {
	_, err := t.exec(`INSERT INTO synced_lots (lot_id, vendor_lot, target, shrunk) VALUES (?, ?, ?, ?)`, s.LotID, s.VendorLot, s.Target, s.Shrunk)
	return err
}

// SyncLot is guarded as ShrinkLot is, in both directions: the WHERE
// clause keeps held ≤ count ≤ initial count, and the CHECK on shrunk
// keeps a lot from growing past what syncs took out of it.
func (t *txn) SyncLot(lotID, target, n int64) error {
	if n != 0 {
		r, err := t.exec(`UPDATE lots SET count = count - ? WHERE id = ? AND count - ? >= held AND count - ? <= initial_count`, n, lotID, n, n)
		if err != nil {
			return err
		}
		if k, err := r.RowsAffected(); err != nil {
			return err
		} else if k != 1 {
			what := fmt.Sprintf("taking %d out", n)
			if n < 0 {
				what = fmt.Sprintf("putting %d back", -n)
			}
			return t.lotRefused(lotID, what)
		}
	}
	return t.exec1(`UPDATE synced_lots SET target = ?, shrunk = shrunk + ? WHERE lot_id = ?`, target, n, lotID)
}
