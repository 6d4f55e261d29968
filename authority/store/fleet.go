package store

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/airlock-dev/airlock/authority"
)

// The activation-code pools: see migration 5.

const codeSpecCols = `SELECT id, org_id, name, years, months, days, created_at FROM code_specs`

func (t *txn) codeSpecs(where string, args ...any) ([]authority.CodeSpec, error) {
	var out []authority.CodeSpec
	err := all(t, codeSpecCols+where, args, func(r *sql.Rows) error {
		var s authority.CodeSpec
		err := r.Scan(&s.ID, &s.OrgID, &s.Name, &s.Validity.Years, &s.Validity.Months, &s.Validity.Days, &s.CreatedAt)
		out = append(out, s)
		return err
	})
	return out, err
}

func (t *txn) CodeSpec(orgID int64, name string) (*authority.CodeSpec, error) {
	return first(t.codeSpecs(` WHERE org_id = ? AND name = ?`, orgID, name))
}

func (t *txn) CodeSpecs(orgID int64) ([]authority.CodeSpec, error) {
	if orgID == 0 {
		return t.codeSpecs(` ORDER BY id`)
	}
	return t.codeSpecs(` WHERE org_id = ? ORDER BY name`, orgID)
}

func (t *txn) InsertCodeSpec(s *authority.CodeSpec) (err error) {
	s.ID, err = t.insertID(`INSERT INTO code_specs (org_id, name, years, months, days, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		s.OrgID, s.Name, s.Validity.Years, s.Validity.Months, s.Validity.Days, s.CreatedAt)
	return err
}

// first returns the first of a list, or nil for none.
func first[T any](list []T, err error) (*T, error) {
	if err != nil || len(list) == 0 {
		return nil, err
	}
	return &list[0], nil
}

const fleetProductCols = `SELECT p.id, p.org_id, o.name, p.pk, p.name, COALESCE(p.spec_id, 0), p.auto_renew, p.total, p.used, p.created_at, p.deleted_at
FROM fleet_products p JOIN orgs o ON o.id = p.org_id`

func (t *txn) fleetProducts(where string, args ...any) ([]authority.FleetProduct, error) {
	var out []authority.FleetProduct
	err := all(t, fleetProductCols+where, args, func(r *sql.Rows) error {
		var p authority.FleetProduct
		err := r.Scan(&p.ID, &p.OrgID, &p.Org, &p.PK, &p.Name, &p.SpecID, &p.AutoRenew, &p.Total, &p.Used, &p.CreatedAt, &p.DeletedAt)
		out = append(out, p)
		return err
	})
	return out, err
}

func (t *txn) FleetProduct(pk string) (*authority.FleetProduct, error) {
	return first(t.fleetProducts(` WHERE p.pk = ?`, pk))
}

func (t *txn) FleetProductByID(id int64) (*authority.FleetProduct, error) {
	return first(t.fleetProducts(` WHERE p.id = ?`, id))
}

func (t *txn) FleetProducts(orgID int64) ([]authority.FleetProduct, error) {
	if orgID == 0 {
		return t.fleetProducts(` ORDER BY p.id`)
	}
	return t.fleetProducts(` WHERE p.org_id = ? ORDER BY p.name`, orgID)
}

// nullID binds an id, or NULL for 0.
func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

func (t *txn) InsertFleetProduct(p *authority.FleetProduct) (err error) {
	p.ID, err = t.insertID(`INSERT INTO fleet_products (org_id, pk, name, spec_id, auto_renew, total, used, created_at, deleted_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, p.OrgID, p.PK, p.Name, nullID(p.SpecID), p.AutoRenew, p.Total, p.Used, p.CreatedAt, p.DeletedAt)
	return err
}

func (t *txn) UpdateFleetProduct(p *authority.FleetProduct) error {
	return t.exec1(`UPDATE fleet_products SET spec_id = ?, auto_renew = ?, deleted_at = ? WHERE id = ?`, nullID(p.SpecID), p.AutoRenew, p.DeletedAt, p.ID)
}

func (t *txn) AddProductCodes(productID, n int64) error {
	return t.exec1(`UPDATE fleet_products SET total = total + ? WHERE id = ?`, n, productID)
}

func (t *txn) UseProductCodes(productID, n int64) error {
	r, err := t.exec(`UPDATE fleet_products SET used = used + ? WHERE id = ? AND used + ? <= total AND used + ? >= 0`, n, productID, n, n)
	if err != nil {
		return err
	}
	if k, err := r.RowsAffected(); err != nil {
		return err
	} else if k != 1 {
		return fmt.Errorf("%w: fleet product %d has fewer than %d codes left", authority.ErrUnavailable, productID, n)
	}
	return nil
}

func (t *txn) CodeBatches(orgID int64) ([]authority.CodeBatch, error) {
	q, args := `SELECT id, org_id, spec_id, COALESCE(product_id, 0), count, reference, at, actor FROM code_batches`, []any(nil)
	if orgID != 0 {
		q, args = q+` WHERE org_id = ?`, []any{orgID}
	}
	var out []authority.CodeBatch
	err := all(t, q+` ORDER BY id`, args, func(r *sql.Rows) error {
		var b authority.CodeBatch
		err := r.Scan(&b.ID, &b.OrgID, &b.SpecID, &b.ProductID, &b.Count, &b.Reference, &b.At, &b.Actor)
		out = append(out, b)
		return err
	})
	return out, err
}

func (t *txn) InsertCodeBatch(b *authority.CodeBatch) (err error) {
	b.ID, err = t.insertID(`INSERT INTO code_batches (org_id, spec_id, product_id, count, reference, at, actor) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		b.OrgID, b.SpecID, nullID(b.ProductID), b.Count, b.Reference, b.At, b.Actor)
	return err
}

func (t *txn) CodeAllocations(orgID int64) ([]authority.CodeAllocation, error) {
	q, args := `SELECT id, org_id, spec_id, product_id, count, at, actor FROM code_allocations`, []any(nil)
	if orgID != 0 {
		q, args = q+` WHERE org_id = ?`, []any{orgID}
	}
	var out []authority.CodeAllocation
	err := all(t, q+` ORDER BY id`, args, func(r *sql.Rows) error {
		var a authority.CodeAllocation
		err := r.Scan(&a.ID, &a.OrgID, &a.SpecID, &a.ProductID, &a.Count, &a.At, &a.Actor)
		out = append(out, a)
		return err
	})
	return out, err
}

func (t *txn) InsertCodeAllocation(a *authority.CodeAllocation) (err error) {
	a.ID, err = t.insertID(`INSERT INTO code_allocations (org_id, spec_id, product_id, count, at, actor) VALUES (?, ?, ?, ?, ?, ?)`,
		a.OrgID, a.SpecID, a.ProductID, a.Count, a.At, a.Actor)
	return err
}

const deviceCols = `d.id, d.product_id, d.dk, d.gateway_id, d.activated_at, d.first_until, d.first_source, d.valid_from, d.valid_until, d.consumed, d.auto_renew, d.lapsed, d.deleted_at`

func (t *txn) Devices(f authority.DeviceFilter, fn func(*authority.Device) error) error {
	var where []string
	var args []any
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	q := `SELECT ` + deviceCols + ` FROM devices d`
	if f.OrgID != 0 {
		q += ` JOIN fleet_products p ON p.id = d.product_id`
		add(`p.org_id = ?`, f.OrgID)
	}
	if f.ProductID != 0 {
		add(`d.product_id = ?`, f.ProductID)
	}
	if f.GatewayID != 0 {
		add(`d.gateway_id = ?`, f.GatewayID)
	}
	if f.DK != "" {
		add(`d.dk = ?`, f.DK)
	}
	if f.ActivatedFrom != 0 {
		add(`d.activated_at >= ?`, f.ActivatedFrom)
	}
	if f.ActivatedTo != 0 {
		add(`d.activated_at < ?`, f.ActivatedTo)
	}
	if f.ExpiresFrom != 0 {
		add(`d.valid_until >= ?`, f.ExpiresFrom)
	}
	if f.ExpiresTo != 0 {
		add(`d.valid_until < ?`, f.ExpiresTo)
	}
	if f.Due {
		where = append(where, `d.deleted_at = 0 AND NOT d.lapsed`)
	} else if !f.IncludeDeleted {
		where = append(where, `d.deleted_at = 0`)
	}
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	if f.Due && f.ExpiresTo != 0 {
		// The codes ending in a range: in the order of devices_due,
		// which serves it.
		q += ` ORDER BY d.valid_until, d.id`
	} else {
		q += ` ORDER BY d.id`
	}
	if f.Limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, f.Limit)
	}
	// Unprepared: the filters make many shapes of one query.
	rows, err := t.tx.QueryContext(t.ctx, t.s.d.rebind(q), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var d authority.Device
	for rows.Next() {
		if err := rows.Scan(&d.ID, &d.ProductID, &d.DK, &d.GatewayID, &d.ActivatedAt, &d.FirstUntil, &d.FirstSource, &d.From, &d.Until, &d.Consumed, &d.AutoRenew, &d.Lapsed, &d.DeletedAt); err != nil {
			return err
		}
		if err := fn(&d); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (t *txn) NextDeviceID() (int64, error) {
	var id int64
	err := t.queryRow(`SELECT COALESCE(MAX(id), 0) + 1 FROM devices`).Scan(&id)
	return id, err
}

// bulkRows is how many rows one multi-row statement writes: well under
// the 32,766 parameters SQLite binds, and the 65,535 of PostgreSQL.
const bulkRows = 500

// bulk runs head VALUES (…), (…) … tail for n rows of cols columns each,
// in statements of at most bulkRows rows; row(i, args) appends row i's
// values.
func (t *txn) bulk(head, tail string, cols, n int, row func(i int, args []any) []any) error {
	one := "(" + strings.Repeat("?, ", cols-1) + "?)"
	full := ""
	for start := 0; start < n; start += bulkRows {
		k := min(bulkRows, n-start)
		q := head + ` VALUES ` + strings.Repeat(one+", ", k-1) + one + tail
		args := make([]any, 0, k*cols)
		for i := start; i < start+k; i++ {
			args = row(i, args)
		}
		var err error
		if k == bulkRows {
			// The full-size statement is prepared once per store.
			if full == "" {
				full = q
			}
			_, err = t.exec(full, args...)
		} else {
			_, err = t.tx.ExecContext(t.ctx, t.s.d.rebind(q), args...)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

const deviceInsert = `INSERT INTO devices (id, product_id, dk, gateway_id, activated_at, first_until, first_source, valid_from, valid_until, consumed, auto_renew, lapsed, deleted_at)`

func deviceRow(d *authority.Device, args []any) []any {
	return append(args, d.ID, d.ProductID, d.DK, d.GatewayID, d.ActivatedAt, d.FirstUntil, d.FirstSource, d.From, d.Until, d.Consumed, d.AutoRenew, d.Lapsed, d.DeletedAt)
}

func (t *txn) InsertDevices(ds []authority.Device) error {
	return t.bulk(deviceInsert, "", 13, len(ds), func(i int, args []any) []any { return deviceRow(&ds[i], args) })
}

func (t *txn) UpdateDevices(ds []authority.Device) error {
	// An upsert of rows that all exist: one statement per bulkRows
	// devices instead of one per device.
	const tail = ` ON CONFLICT (id) DO UPDATE SET gateway_id = excluded.gateway_id, valid_from = excluded.valid_from,
valid_until = excluded.valid_until, consumed = excluded.consumed, auto_renew = excluded.auto_renew,
lapsed = excluded.lapsed, deleted_at = excluded.deleted_at`
	return t.bulk(deviceInsert, tail, 13, len(ds), func(i int, args []any) []any { return deviceRow(&ds[i], args) })
}

func (t *txn) Consumptions(deviceID int64, fn func(*authority.Consumption) error) error {
	q, args := `SELECT device_id, seq, at, valid_from, valid_until, cause, source FROM consumptions`, []any(nil)
	if deviceID != 0 {
		q, args = q+` WHERE device_id = ?`, []any{deviceID}
	}
	rows, err := t.query(q+` ORDER BY device_id, seq`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var c authority.Consumption
	for rows.Next() {
		var src sql.NullInt64
		if err := rows.Scan(&c.DeviceID, &c.Seq, &c.At, &c.From, &c.Until, &c.Cause, &src); err != nil {
			return err
		}
		c.Source = src.Int64
		if err := fn(&c); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (t *txn) InsertConsumptions(cs []authority.Consumption) error {
	return t.bulk(`INSERT INTO consumptions (device_id, seq, at, valid_from, valid_until, cause, source)`, "", 7, len(cs), func(i int, args []any) []any {
		c := &cs[i]
		return append(args, c.DeviceID, c.Seq, c.At, c.From, c.Until, c.Cause, nullID(c.Source))
	})
}

func (t *txn) Blocklist(productID int64) ([]string, error) {
	var out []string
	err := all(t, `SELECT dk FROM renew_blocklist WHERE product_id = ? ORDER BY dk`, []any{productID}, func(r *sql.Rows) error {
		var dk string
		err := r.Scan(&dk)
		out = append(out, dk)
		return err
	})
	return out, err
}

func (t *txn) SetBlocked(productID int64, dk string, blocked bool, at int64) (bool, error) {
	var r sql.Result
	var err error
	if blocked {
		r, err = t.exec(`INSERT INTO renew_blocklist (product_id, dk, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, productID, dk, at)
	} else {
		r, err = t.exec(`DELETE FROM renew_blocklist WHERE product_id = ? AND dk = ?`, productID, dk)
	}
	return changed(r, err)
}

func changed(r sql.Result, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	n, err := r.RowsAffected()
	return n > 0, err
}

func (t *txn) gateways(where string, args ...any) ([]authority.Gateway, error) {
	var out []authority.Gateway
	err := all(t, `SELECT id, udi, public_key, org_id, created_at FROM gateways`+where, args, func(r *sql.Rows) error {
		var g authority.Gateway
		err := r.Scan(&g.ID, &g.UDI, &g.PublicKey, &g.OrgID, &g.CreatedAt)
		out = append(out, g)
		return err
	})
	return out, err
}

func (t *txn) Gateway(udi string) (*authority.Gateway, error) {
	return first(t.gateways(` WHERE udi = ?`, udi))
}

func (t *txn) GatewayByID(id int64) (*authority.Gateway, error) {
	return first(t.gateways(` WHERE id = ?`, id))
}

func (t *txn) Gateways(orgID int64) ([]authority.Gateway, error) {
	return t.gateways(` WHERE org_id = ? ORDER BY id`, orgID)
}

func (t *txn) InsertGateway(g *authority.Gateway) (err error) {
	g.ID, err = t.insertID(`INSERT INTO gateways (udi, public_key, org_id, created_at) VALUES (?, ?, ?, ?)`, g.UDI, g.PublicKey, g.OrgID, g.CreatedAt)
	return err
}

func (t *txn) SetGatewayKey(id int64, key []byte) error {
	return t.exec1(`UPDATE gateways SET public_key = ? WHERE id = ?`, append([]byte{}, key...), id)
}

func (t *txn) ActivationAnswer(hash []byte) (*authority.ActivationAnswer, error) {
	a := authority.ActivationAnswer{RequestHash: hash}
	ok, err := t.one(`SELECT id, gateway_id, code, at FROM activations WHERE request_hash = ?`, []any{hash}, &a.ID, &a.GatewayID, &a.Code, &a.At)
	if !ok {
		return nil, err
	}
	return &a, nil
}

func (t *txn) InsertActivationAnswer(a *authority.ActivationAnswer) (err error) {
	a.ID, err = t.insertID(`INSERT INTO activations (request_hash, gateway_id, at, code) VALUES (?, ?, ?, ?)`, a.RequestHash, a.GatewayID, a.At, append([]byte{}, a.Code...))
	return err
}

func (t *txn) SetActivationCode(id int64, code []byte) error {
	return t.exec1(`UPDATE activations SET code = ? WHERE id = ?`, code, id)
}

func (t *txn) AlertRecipients(orgID int64) ([]string, error) {
	var out []string
	err := all(t, `SELECT address FROM alert_recipients WHERE org_id = ? ORDER BY address`, []any{orgID}, func(r *sql.Rows) error {
		var a string
		err := r.Scan(&a)
		out = append(out, a)
		return err
	})
	return out, err
}

func (t *txn) SetAlertRecipient(orgID int64, address string, add bool, at int64) (bool, error) {
	var r sql.Result
	var err error
	if add {
		r, err = t.exec(`INSERT INTO alert_recipients (org_id, address, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, orgID, address, at)
	} else {
		r, err = t.exec(`DELETE FROM alert_recipients WHERE org_id = ? AND address = ?`, orgID, address)
	}
	return changed(r, err)
}

func (t *txn) AlertThreshold(orgID int64) (int64, bool, error) {
	var below int64
	err := t.queryRow(`SELECT below FROM alert_thresholds WHERE org_id = ?`, orgID).Scan(&below)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return below, err == nil, err
}

func (t *txn) SetAlertThreshold(orgID int64, below int64) error {
	if below < 0 {
		_, err := t.exec(`DELETE FROM alert_thresholds WHERE org_id = ?`, orgID)
		return err
	}
	_, err := t.exec(`INSERT INTO alert_thresholds (org_id, below) VALUES (?, ?) ON CONFLICT (org_id) DO UPDATE SET below = excluded.below`, orgID, below)
	return err
}
