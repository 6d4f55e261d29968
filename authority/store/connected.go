package store

import (
	"database/sql"
	"strings"

	"github.com/airlock-dev/airlock/authority"
)

// Connected mode: see migration 12.

const connectedCols = `SELECT c.instance_id, i.udi, c.account_id, o.name || '/' || a.name, c.token_hash, c.request_hash, c.nonce,
c.registered_at, c.renewed_at, c.expires_at, c.export_allowed, c.hostname, c.addresses, c.last_seq, c.last_contact,
c.reservation_id, c.lapses_at, c.answer, c.deregistered_at
FROM connected c JOIN instances i ON i.id = c.instance_id JOIN accounts a ON a.id = c.account_id JOIN orgs o ON o.id = a.org_id`

func (t *txn) connected(where string, args ...any) ([]authority.ConnectedInstance, error) {
	var out []authority.ConnectedInstance
	err := all(t, connectedCols+where, args, func(r *sql.Rows) error {
		var c authority.ConnectedInstance
		var addrs string
		var seq, res int64
		err := r.Scan(&c.InstanceID, &c.UDI, &c.AccountID, &c.Account, &c.TokenHash, &c.RequestHash, &c.Nonce,
			&c.RegisteredAt, &c.RenewedAt, &c.ExpiresAt, &c.ExportAllowed, &c.Hostname, &addrs, &seq, &c.LastContact,
			&res, &c.Lapses, &c.Answer, &c.DeregisteredAt)
		if addrs != "" {
			c.Addresses = strings.Split(addrs, "\n")
		}
		c.LastSeq, c.Reservation = uint64(seq), uint32(res)
		out = append(out, c)
		return err
	})
	return out, err
}

func (t *txn) Connected(instanceID int64) (*authority.ConnectedInstance, error) {
	return first(t.connected(` WHERE c.instance_id = ?`, instanceID))
}

func (t *txn) ConnectedByUDI(udi string) (*authority.ConnectedInstance, *authority.Instance, error) {
	var out *authority.ConnectedInstance
	var inst *authority.Instance
	q := strings.Replace(connectedCols, "c.deregistered_at\n", "c.deregistered_at, i.id, i.udi, i.public_key, i.account_id, i.state, i.name, i.system, i.created_at, i.removed_at, i.removal_reason\n", 1)
	err := all(t, q+` WHERE i.udi = ? AND i.state <> 'removed'`, []any{udi}, func(r *sql.Rows) error {
		var c authority.ConnectedInstance
		var i authority.Instance
		var addrs, state string
		var seq, res int64
		err := r.Scan(&c.InstanceID, &c.UDI, &c.AccountID, &c.Account, &c.TokenHash, &c.RequestHash, &c.Nonce,
			&c.RegisteredAt, &c.RenewedAt, &c.ExpiresAt, &c.ExportAllowed, &c.Hostname, &addrs, &seq, &c.LastContact,
			&res, &c.Lapses, &c.Answer, &c.DeregisteredAt,
			&i.ID, &i.UDI, &i.PublicKey, &i.AccountID, &state, &i.Name, &i.System, &i.CreatedAt, &i.RemovedAt, &i.RemovalReason)
		if addrs != "" {
			c.Addresses = strings.Split(addrs, "\n")
		}
		c.LastSeq, c.Reservation, i.State = uint64(seq), uint32(res), authority.InstanceState(state)
		out, inst = &c, &i
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return out, inst, nil
}

func (t *txn) GrantsFrom(reservation uint32, serial uint64) ([]authority.Grant, error) {
	var out []authority.Grant
	err := all(t, `SELECT reservation_id, serial, lot_id, tag, component, count FROM grants WHERE reservation_id = ? AND serial >= ? ORDER BY serial, lot_id, component`,
		[]any{int64(reservation), serial}, func(r *sql.Rows) error {
			var g authority.Grant
			var id int64
			err := r.Scan(&id, &g.Serial, &g.LotID, &g.Tag, &g.Component, &g.Count)
			g.Reservation = uint32(id)
			out = append(out, g)
			return err
		})
	return out, err
}

func (t *txn) ConnectedInstances(accountID int64) ([]authority.ConnectedInstance, error) {
	if accountID == 0 {
		return t.connected(` ORDER BY c.instance_id`)
	}
	return t.connected(` WHERE c.account_id = ? ORDER BY c.instance_id`, accountID)
}

func (t *txn) PutConnected(c *authority.ConnectedInstance) error {
	_, err := t.exec(`INSERT INTO connected (instance_id, account_id, token_hash, request_hash, nonce, registered_at, renewed_at, expires_at,
export_allowed, hostname, addresses, last_seq, last_contact, reservation_id, lapses_at, answer, deregistered_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (instance_id) DO UPDATE SET account_id = excluded.account_id, token_hash = excluded.token_hash,
request_hash = excluded.request_hash, nonce = excluded.nonce, registered_at = excluded.registered_at,
renewed_at = excluded.renewed_at, expires_at = excluded.expires_at, export_allowed = excluded.export_allowed,
hostname = excluded.hostname, addresses = excluded.addresses, last_seq = excluded.last_seq,
last_contact = excluded.last_contact, reservation_id = excluded.reservation_id, lapses_at = excluded.lapses_at,
answer = excluded.answer, deregistered_at = excluded.deregistered_at`,
		c.InstanceID, c.AccountID, c.TokenHash, c.RequestHash, c.Nonce, c.RegisteredAt, c.RenewedAt, c.ExpiresAt,
		c.ExportAllowed, c.Hostname, strings.Join(c.Addresses, "\n"), int64(c.LastSeq), c.LastContact, int64(c.Reservation),
		c.Lapses, c.Answer, c.DeregisteredAt)
	return err
}

func (t *txn) SetContact(instanceID int64, seq uint64, at int64) error {
	return t.exec1(`UPDATE connected SET last_seq = ?, last_contact = ? WHERE instance_id = ?`, int64(seq), at, instanceID)
}

func (t *txn) Borrows(reservation uint32, every bool) ([]authority.Borrow, error) {
	q, args := `SELECT reservation_id, serial, lot_id, tag, count FROM connected_borrows WHERE reservation_id = ? ORDER BY serial, lot_id, tag`, []any{int64(reservation)}
	if every {
		q, args = `SELECT reservation_id, serial, lot_id, tag, count FROM connected_borrows ORDER BY reservation_id, serial, lot_id, tag`, nil
	}
	var out []authority.Borrow
	err := all(t, q, args, func(r *sql.Rows) error {
		var b authority.Borrow
		var id int64
		err := r.Scan(&id, &b.Serial, &b.LotID, &b.Tag, &b.Count)
		b.Reservation = uint32(id)
		out = append(out, b)
		return err
	})
	return out, err
}

func (t *txn) InsertBorrows(bs []authority.Borrow) error {
	for _, b := range bs {
		if _, err := t.exec(`INSERT INTO connected_borrows (reservation_id, serial, lot_id, tag, count) VALUES (?, ?, ?, ?, ?)`,
			int64(b.Reservation), b.Serial, b.LotID, b.Tag, b.Count); err != nil {
			return err
		}
	}
	return nil
}

func (t *txn) ExportGrants(instanceID int64) ([]authority.ExportGrant, error) {
	q, args := `SELECT instance_id, tag, count FROM connected_exports WHERE instance_id = ? ORDER BY tag`, []any{instanceID}
	if instanceID == 0 {
		q, args = `SELECT instance_id, tag, count FROM connected_exports ORDER BY instance_id, tag`, nil
	}
	var out []authority.ExportGrant
	err := all(t, q, args, func(r *sql.Rows) error {
		var g authority.ExportGrant
		err := r.Scan(&g.InstanceID, &g.Tag, &g.Count)
		out = append(out, g)
		return err
	})
	return out, err
}

func (t *txn) SetExportGrant(instanceID int64, tag string, count int64) error {
	if count == 0 {
		_, err := t.exec(`DELETE FROM connected_exports WHERE instance_id = ? AND tag = ?`, instanceID, tag)
		return err
	}
	_, err := t.exec(`INSERT INTO connected_exports (instance_id, tag, count) VALUES (?, ?, ?)
ON CONFLICT (instance_id, tag) DO UPDATE SET count = excluded.count`, instanceID, tag, count)
	return err
}

func (t *txn) Ladders() ([]authority.Ladder, error) {
	var out []authority.Ladder
	err := all(t, `SELECT name, created_at, created_by FROM tier_ladders ORDER BY name`, nil, func(r *sql.Rows) error {
		var l authority.Ladder
		err := r.Scan(&l.Name, &l.CreatedAt, &l.CreatedBy)
		out = append(out, l)
		return err
	})
	if err != nil || len(out) == 0 {
		return out, err
	}
	idx := map[string]int{}
	for i := range out {
		idx[out[i].Name] = i
	}
	err = all(t, `SELECT ladder, tag FROM tier_steps ORDER BY ladder, step`, nil, func(r *sql.Rows) error {
		var name, tag string
		if err := r.Scan(&name, &tag); err != nil {
			return err
		}
		if i, ok := idx[name]; ok {
			out[i].Tags = append(out[i].Tags, tag)
		}
		return nil
	})
	return out, err
}

func (t *txn) PutLadder(l *authority.Ladder) error {
	if _, err := t.DeleteLadder(l.Name); err != nil {
		return err
	}
	if _, err := t.exec(`INSERT INTO tier_ladders (name, created_at, created_by) VALUES (?, ?, ?)`, l.Name, l.CreatedAt, l.CreatedBy); err != nil {
		return err
	}
	for i, tag := range l.Tags {
		if _, err := t.exec(`INSERT INTO tier_steps (ladder, step, tag) VALUES (?, ?, ?)`, l.Name, i, tag); err != nil {
			return err
		}
	}
	return nil
}

func (t *txn) DeleteLadder(name string) (bool, error) {
	if _, err := t.exec(`DELETE FROM tier_steps WHERE ladder = ?`, name); err != nil {
		return false, err
	}
	return changed(t.exec(`DELETE FROM tier_ladders WHERE name = ?`, name))
}
