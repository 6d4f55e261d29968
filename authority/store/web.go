package store

import (
	"database/sql"

	"github.com/airlock-dev/airlock/authority"
)

// Web sign-in: see migration 15.

func (t *txn) Orgs() ([]authority.Org, error) {
	var out []authority.Org
	err := all(t, `SELECT id, name, created_at FROM orgs ORDER BY name`, nil, func(r *sql.Rows) error {
		var o authority.Org
		err := r.Scan(&o.ID, &o.Name, &o.CreatedAt)
		out = append(out, o)
		return err
	})
	return out, err
}

func (t *txn) PersonByID(id int64) (*authority.Person, error) {
	return first(t.people(` WHERE p.id = ?`, id))
}

func (t *txn) Password(personID int64) (*authority.Password, error) {
	p := &authority.Password{PersonID: personID}
	ok, err := t.one(`SELECT hash, set_at, set_by FROM passwords WHERE person_id = ?`, []any{personID}, &p.Hash, &p.SetAt, &p.SetBy)
	if !ok {
		return nil, err
	}
	return p, nil
}

func (t *txn) SetPassword(p *authority.Password) error {
	_, err := t.exec(`INSERT INTO passwords (person_id, hash, set_at, set_by) VALUES (?, ?, ?, ?)
ON CONFLICT (person_id) DO UPDATE SET hash = excluded.hash, set_at = excluded.set_at, set_by = excluded.set_by`,
		p.PersonID, p.Hash, p.SetAt, p.SetBy)
	return err
}

func (t *txn) Session(hash []byte) (*authority.Session, error) {
	s := &authority.Session{}
	ok, err := t.one(`SELECT hash, person_id, created_at, seen_at FROM sessions WHERE hash = ?`, []any{hash}, &s.Hash, &s.PersonID, &s.CreatedAt, &s.SeenAt)
	if !ok {
		return nil, err
	}
	return s, nil
}

func (t *txn) InsertSession(s *authority.Session) error {
	_, err := t.exec(`INSERT INTO sessions (hash, person_id, created_at, seen_at) VALUES (?, ?, ?, ?)`, s.Hash, s.PersonID, s.CreatedAt, s.SeenAt)
	return err
}

func (t *txn) TouchSession(hash []byte, seenAt int64) error {
	_, err := t.exec(`UPDATE sessions SET seen_at = ? WHERE hash = ? AND seen_at < ?`, seenAt, hash, seenAt)
	return err
}

func (t *txn) DeleteSession(hash []byte) (bool, error) {
	n, err := t.deleted(`DELETE FROM sessions WHERE hash = ?`, hash)
	return n > 0, err
}

func (t *txn) DeleteSessions(personID int64) (int64, error) {
	return t.deleted(`DELETE FROM sessions WHERE person_id = ?`, personID)
}

func (t *txn) DeleteExpiredSessions(seenBefore, createdBefore int64) (int64, error) {
	return t.deleted(`DELETE FROM sessions WHERE seen_at < ? OR created_at < ?`, seenBefore, createdBefore)
}

func (t *txn) TakeFormMark(hash []byte, at, forgetBefore int64) (bool, error) {
	if _, err := t.exec(`DELETE FROM form_marks WHERE at < ?`, forgetBefore); err != nil {
		return false, err
	}
	r, err := t.exec(`INSERT INTO form_marks (hash, at) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING`, hash, at)
	if err != nil {
		return false, err
	}
	n, err := r.RowsAffected()
	return n == 1, err
}

func (t *txn) DeleteFormMark(hash []byte) error {
	_, err := t.exec(`DELETE FROM form_marks WHERE hash = ?`, hash)
	return err
}

// deleted runs a DELETE and returns the rows it deleted.
func (t *txn) deleted(query string, args ...any) (int64, error) {
	r, err := t.exec(query, args...)
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}
