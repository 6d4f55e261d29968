package store

import (
	"database/sql"
	"fmt"

	"github.com/airlock-dev/airlock/authority"
)

// Flexible agreements: see migration 9.

const agreementCols = `SELECT a.id, a.org_id, o.name, a.name, a.from_at, a.to_at, a.created_at, a.created_by
FROM agreements a JOIN orgs o ON o.id = a.org_id`

func (t *txn) agreements(where string, args ...any) ([]authority.Agreement, error) {
	var out []authority.Agreement
	err := all(t, agreementCols+where, args, func(r *sql.Rows) error {
		var a authority.Agreement
		err := r.Scan(&a.ID, &a.OrgID, &a.Org, &a.Name, &a.From, &a.To, &a.CreatedAt, &a.CreatedBy)
		out = append(out, a)
		return err
	})
	if err != nil {
		return nil, err
	}
	for i := range out {
		a := &out[i]
		err := all(t, `SELECT software, tag, cap, drawn FROM agreement_caps WHERE agreement_id = ? ORDER BY tag`, []any{a.ID}, func(r *sql.Rows) error {
			var c authority.AgreementCap
			err := r.Scan(&c.Software, &c.Tag, &c.Cap, &c.Drawn)
			a.Caps = append(a.Caps, c)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (t *txn) Agreement(orgID int64, name string) (*authority.Agreement, error) {
	return first(t.agreements(` WHERE a.org_id = ? AND a.name = ?`, orgID, name))
}

func (t *txn) Agreements(orgID int64) ([]authority.Agreement, error) {
	if orgID == 0 {
		return t.agreements(` ORDER BY a.id`)
	}
	return t.agreements(` WHERE a.org_id = ? ORDER BY a.name`, orgID)
}

func (t *txn) AgreementDraws(agreementID int64) ([]authority.AgreementDraw, error) {
	q, args := `SELECT id, agreement_id, tag, count, years, key_hash, at, actor FROM agreement_draws`, []any(nil)
	if agreementID != 0 {
		q, args = q+` WHERE agreement_id = ?`, []any{agreementID}
	}
	var out []authority.AgreementDraw
	err := all(t, q+` ORDER BY id`, args, func(r *sql.Rows) error {
		var d authority.AgreementDraw
		err := r.Scan(&d.ID, &d.AgreementID, &d.Tag, &d.Count, &d.Years, &d.KeyHash, &d.At, &d.Actor)
		out = append(out, d)
		return err
	})
	return out, err
}

func (t *txn) InsertAgreement(a *authority.Agreement) (err error) {
	a.ID, err = t.insertID(`INSERT INTO agreements (org_id, name, from_at, to_at, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)`,
		a.OrgID, a.Name, a.From, a.To, a.CreatedAt, a.CreatedBy)
	if err != nil {
		return err
	}
	for i := range a.Caps {
		c := &a.Caps[i]
		if _, err := t.exec(`INSERT INTO agreement_caps (agreement_id, software, tag, cap, drawn) VALUES (?, ?, ?, ?, 0)`, a.ID, c.Software, c.Tag, c.Cap); err != nil {
			return err
		}
		c.Drawn = 0
	}
	return nil
}

func (t *txn) InsertAgreementDraw(d *authority.AgreementDraw) (err error) {
	// The guard: the drawn count grows only within the cap, whatever the
	// caller read before.
	ok, err := changed(t.exec(`UPDATE agreement_caps SET drawn = drawn + ? WHERE agreement_id = ? AND tag = ? AND drawn + ? <= cap`,
		d.Count, d.AgreementID, d.Tag, d.Count))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: agreement %d has fewer than %d %s left under its cap", authority.ErrUnavailable, d.AgreementID, d.Count, d.Tag)
	}
	d.ID, err = t.insertID(`INSERT INTO agreement_draws (agreement_id, tag, count, years, key_hash, at, actor) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		d.AgreementID, d.Tag, d.Count, d.Years, d.KeyHash, d.At, d.Actor)
	return err
}
