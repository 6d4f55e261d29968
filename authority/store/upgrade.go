package store

import (
	"database/sql"

	"github.com/airlock-dev/airlock/authority"
)

// Upgrades: see migration 10.

func (t *txn) UpgradeNotice(hash []byte) (*authority.UpgradeNotice, error) {
	n := authority.UpgradeNotice{Hash: hash}
	var org sql.NullInt64
	ok, err := t.one(`SELECT from_software, from_tag, to_software, to_tag, years, quantity, used, org_id, issued_at, issued_by FROM upgrade_notices WHERE hash = ?`,
		[]any{hash}, &n.FromSoftware, &n.FromTag, &n.ToSoftware, &n.ToTag, &n.Years, &n.Quantity, &n.Used, &org, &n.IssuedAt, &n.IssuedBy)
	if !ok {
		return nil, err
	}
	n.OrgID = org.Int64
	return &n, nil
}

func (t *txn) InsertUpgradeNotice(n *authority.UpgradeNotice) error {
	_, err := t.exec(`INSERT INTO upgrade_notices (hash, from_software, from_tag, to_software, to_tag, years, quantity, used, org_id, issued_at, issued_by)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, n.Hash, n.FromSoftware, n.FromTag, n.ToSoftware, n.ToTag, n.Years, n.Quantity, n.Used, nullID(n.OrgID), n.IssuedAt, n.IssuedBy)
	return err
}

func (t *txn) UseUpgradeNotice(hash []byte, n int64) (bool, error) {
	return changed(t.exec(`UPDATE upgrade_notices SET used = used + ? WHERE hash = ? AND used + ? <= quantity`, n, hash, n))
}

func (t *txn) Conversions(keyHash []byte) ([]authority.Conversion, error) {
	q, args := `SELECT key_hash, notice_hash, count, new_key, at, actor FROM key_conversions`, []any(nil)
	if keyHash != nil {
		q, args = q+` WHERE key_hash = ?`, []any{keyHash}
	}
	var out []authority.Conversion
	err := all(t, q+` ORDER BY at, key_hash`, args, func(r *sql.Rows) error {
		var c authority.Conversion
		err := r.Scan(&c.KeyHash, &c.NoticeHash, &c.Count, &c.NewKey, &c.At, &c.Actor)
		out = append(out, c)
		return err
	})
	return out, err
}

func (t *txn) InsertConversion(c *authority.Conversion) error {
	_, err := t.exec(`INSERT INTO key_conversions (key_hash, notice_hash, count, new_key, at, actor) VALUES (?, ?, ?, ?, ?, ?)`,
		c.KeyHash, c.NoticeHash, c.Count, c.NewKey, c.At, c.Actor)
	return err
}
