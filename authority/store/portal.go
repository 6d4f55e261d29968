package store

import (
	"database/sql"

	"github.com/airlock-dev/airlock/authority"
)

// The licensing portal: see migration 7.

const personCols = `SELECT p.id, p.email, p.name, p.role, COALESCE(p.org_id, 0), COALESCE(o.name, ''), p.partner, p.created_at
FROM people p LEFT JOIN orgs o ON o.id = p.org_id`

func (t *txn) people(where string, args ...any) ([]authority.Person, error) {
	var out []authority.Person
	err := all(t, personCols+where, args, func(r *sql.Rows) error {
		var p authority.Person
		err := r.Scan(&p.ID, &p.Email, &p.Name, &p.Role, &p.OrgID, &p.Org, &p.Partner, &p.CreatedAt)
		out = append(out, p)
		return err
	})
	return out, err
}

func (t *txn) OrgByID(id int64) (*authority.Org, error) {
	o := &authority.Org{}
	ok, err := t.one(`SELECT id, name, created_at FROM orgs WHERE id = ?`, []any{id}, &o.ID, &o.Name, &o.CreatedAt)
	if !ok {
		return nil, err
	}
	return o, nil
}

func (t *txn) Person(email string) (*authority.Person, error) {
	return first(t.people(` WHERE p.email = ?`, email))
}

func (t *txn) People(orgID int64) ([]authority.Person, error) {
	if orgID == 0 {
		return t.people(` ORDER BY p.email`)
	}
	return t.people(` WHERE p.org_id = ? ORDER BY p.email`, orgID)
}

func (t *txn) VendorStaff() (int, error) {
	var n int
	err := t.queryRow(`SELECT COUNT(*) FROM people WHERE role = 'vendor'`).Scan(&n)
	return n, err
}

func (t *txn) InsertPerson(p *authority.Person) (err error) {
	p.ID, err = t.insertID(`INSERT INTO people (email, name, role, org_id, partner, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		p.Email, p.Name, p.Role, nullID(p.OrgID), p.Partner, p.CreatedAt)
	return err
}

func (t *txn) Delegation(orgID int64, partner string) (*authority.Delegation, error) {
	d := authority.Delegation{OrgID: orgID, Partner: partner}
	ok, err := t.one(`SELECT granted_at, granted_by, revoked_at, revoked_by FROM delegations WHERE org_id = ? AND partner = ?`,
		[]any{orgID, partner}, &d.GrantedAt, &d.GrantedBy, &d.RevokedAt, &d.RevokedBy)
	if !ok {
		return nil, err
	}
	return &d, nil
}

func (t *txn) SetDelegation(d *authority.Delegation) error {
	_, err := t.exec(`INSERT INTO delegations (org_id, partner, granted_at, granted_by, revoked_at, revoked_by) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (org_id, partner) DO UPDATE SET granted_at = excluded.granted_at, granted_by = excluded.granted_by,
revoked_at = excluded.revoked_at, revoked_by = excluded.revoked_by`,
		d.OrgID, d.Partner, d.GrantedAt, d.GrantedBy, d.RevokedAt, d.RevokedBy)
	return err
}

func (t *txn) Serial(hash []byte) (*authority.Serial, error) {
	s := authority.Serial{Hash: hash}
	var org sql.NullInt64
	ok, err := t.one(`SELECT software, tag, count, years, support_until, issued_at, issued_by, org_id, key_hash, registered_at FROM serials WHERE hash = ?`,
		[]any{hash}, &s.Software, &s.Tag, &s.Count, &s.Years, &s.SupportUntil, &s.IssuedAt, &s.IssuedBy, &org, &s.KeyHash, &s.RegisteredAt)
	if !ok {
		return nil, err
	}
	s.OrgID = org.Int64
	return &s, nil
}

func (t *txn) InsertSerial(s *authority.Serial) error {
	_, err := t.exec(`INSERT INTO serials (hash, software, tag, count, years, support_until, issued_at, issued_by, org_id, key_hash, registered_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, 0)`, s.Hash, s.Software, s.Tag, s.Count, s.Years, s.SupportUntil, s.IssuedAt, s.IssuedBy)
	return err
}

func (t *txn) UseSerial(hash []byte, orgID int64, keyHash []byte, at int64) (bool, error) {
	r, err := t.exec(`UPDATE serials SET org_id = ?, key_hash = ?, registered_at = ? WHERE hash = ? AND org_id IS NULL`, orgID, keyHash, at, hash)
	return changed(r, err)
}

const registrationCols = `SELECT key_hash, org_id, serial_hash, contact, email, company, support_contact, support_until, at, actor FROM registrations`

func (t *txn) registrations(where string, args ...any) ([]authority.Registration, error) {
	var out []authority.Registration
	err := all(t, registrationCols+where, args, func(r *sql.Rows) error {
		var g authority.Registration
		err := r.Scan(&g.KeyHash, &g.OrgID, &g.SerialHash, &g.Contact, &g.Email, &g.Company, &g.SupportContact, &g.SupportUntil, &g.At, &g.Actor)
		out = append(out, g)
		return err
	})
	return out, err
}

func (t *txn) Registration(keyHash []byte) (*authority.Registration, error) {
	return first(t.registrations(` WHERE key_hash = ?`, keyHash))
}

func (t *txn) Registrations(orgID int64) ([]authority.Registration, error) {
	if orgID == 0 {
		return t.registrations(` ORDER BY org_id, at, key_hash`)
	}
	return t.registrations(` WHERE org_id = ? ORDER BY at, key_hash`, orgID)
}

func (t *txn) InsertRegistration(g *authority.Registration) error {
	_, err := t.exec(`INSERT INTO registrations (key_hash, org_id, serial_hash, contact, email, company, support_contact, support_until, at, actor)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, g.KeyHash, g.OrgID, blob(g.SerialHash), g.Contact, g.Email, g.Company, g.SupportContact, g.SupportUntil, g.At, g.Actor)
	return err
}

func (t *txn) LicenseFields(keyHash []byte) ([]authority.LicenseField, error) {
	var out []authority.LicenseField
	err := all(t, `SELECT name, value FROM license_fields WHERE key_hash = ? ORDER BY name`, []any{keyHash}, func(r *sql.Rows) error {
		var f authority.LicenseField
		err := r.Scan(&f.Name, &f.Value)
		out = append(out, f)
		return err
	})
	return out, err
}

func (t *txn) SetLicenseField(keyHash []byte, name, value string) (bool, error) {
	if value == "" {
		return changed(t.exec(`DELETE FROM license_fields WHERE key_hash = ? AND name = ?`, keyHash, name))
	}
	return changed(t.exec(`INSERT INTO license_fields (key_hash, name, value) VALUES (?, ?, ?)
ON CONFLICT (key_hash, name) DO UPDATE SET value = excluded.value WHERE license_fields.value <> excluded.value`, keyHash, name, value))
}

func (t *txn) LicenseShares(keyHash []byte) ([]authority.LicenseShare, error) {
	var out []authority.LicenseShare
	err := all(t, `SELECT key_hash, email, role, at, actor FROM license_shares WHERE key_hash = ? ORDER BY email`, []any{keyHash}, func(r *sql.Rows) error {
		var s authority.LicenseShare
		err := r.Scan(&s.KeyHash, &s.Email, &s.Role, &s.At, &s.Actor)
		out = append(out, s)
		return err
	})
	return out, err
}

func (t *txn) SetLicenseShare(s *authority.LicenseShare) error {
	_, err := t.exec(`INSERT INTO license_shares (key_hash, email, role, at, actor) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (key_hash, email) DO UPDATE SET role = excluded.role, at = excluded.at, actor = excluded.actor`, s.KeyHash, s.Email, s.Role, s.At, s.Actor)
	return err
}
