package store

import (
	"database/sql"

	"github.com/airlock-dev/airlock/authority"
)

// OEM vouchers and the partners' key lists: see migration 8.

const voucherCols = `SELECT v.id, v.hash, v.oem, v.software, v.tag, v.count, v.years, v.issued_at, v.issued_by,
COALESCE(v.org_id, 0), COALESCE(o.name, ''), v.key_hash, v.used_at, v.used_by
FROM vouchers v LEFT JOIN orgs o ON o.id = v.org_id`

func (t *txn) vouchers(where string, args ...any) ([]authority.Voucher, error) {
	var out []authority.Voucher
	err := all(t, voucherCols+where, args, func(r *sql.Rows) error {
		var v authority.Voucher
		err := r.Scan(&v.ID, &v.Hash, &v.OEM, &v.Software, &v.Tag, &v.Count, &v.Years, &v.IssuedAt, &v.IssuedBy,
			&v.OrgID, &v.Org, &v.KeyHash, &v.UsedAt, &v.UsedBy)
		out = append(out, v)
		return err
	})
	return out, err
}

func (t *txn) Voucher(hash []byte) (*authority.Voucher, error) {
	return first(t.vouchers(` WHERE v.hash = ?`, hash))
}

func (t *txn) Vouchers(oem string) ([]authority.Voucher, error) {
	return t.vouchers(` WHERE v.oem = ? ORDER BY v.id`, oem)
}

func (t *txn) InsertVoucher(v *authority.Voucher) (err error) {
	v.ID, err = t.insertID(`INSERT INTO vouchers (hash, oem, software, tag, count, years, issued_at, issued_by, org_id, key_hash, used_at, used_by)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, 0, '')`, v.Hash, v.OEM, v.Software, v.Tag, v.Count, v.Years, v.IssuedAt, v.IssuedBy)
	return err
}

func (t *txn) UseVoucher(hash []byte, orgID int64, keyHash []byte, at int64, by string) (bool, error) {
	return changed(t.exec(`UPDATE vouchers SET org_id = ?, key_hash = ?, used_at = ?, used_by = ? WHERE hash = ? AND org_id IS NULL`,
		orgID, keyHash, at, by, hash))
}

func (t *txn) PartnerPeople(partner string) ([]authority.Person, error) {
	return t.people(` WHERE p.role = 'partner' AND p.partner = ? ORDER BY p.email`, partner)
}

// PartnerRegistrations matches the actor against each person of the
// partner; a partner has few people, and the registrations are read
// whole (no index serves a prefix match in every dialect).
func (t *txn) PartnerRegistrations(partner string) ([]authority.Registration, error) {
	return t.registrations(` WHERE EXISTS (SELECT 1 FROM people p WHERE p.role = 'partner' AND p.partner = ?
AND (registrations.actor = p.email OR substr(registrations.actor, 1, length(p.email) + 2) = p.email || ' ('))
ORDER BY at, key_hash`, partner)
}
