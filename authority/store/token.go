package store

import (
	"database/sql"

	"github.com/airlock-dev/airlock/authority"
)

// Registration tokens: see migration 11.

const tokenCols = `SELECT t.hash, t.account_id, o.name || '/' || a.name, t.created_at, t.created_by, t.expires_at, t.max_uses, t.uses,
t.export_allowed, t.revoked_at, t.revoked_by
FROM registration_tokens t JOIN accounts a ON a.id = t.account_id JOIN orgs o ON o.id = a.org_id`

func (t *txn) tokens(where string, args ...any) ([]authority.Token, error) {
	var out []authority.Token
	err := all(t, tokenCols+where, args, func(r *sql.Rows) error {
		var k authority.Token
		err := r.Scan(&k.Hash, &k.AccountID, &k.Account, &k.CreatedAt, &k.CreatedBy, &k.ExpiresAt, &k.MaxUses, &k.Uses, &k.ExportAllowed, &k.RevokedAt, &k.RevokedBy)
		out = append(out, k)
		return err
	})
	return out, err
}

func (t *txn) Token(hash []byte) (*authority.Token, error) {
	return first(t.tokens(` WHERE t.hash = ?`, hash))
}

func (t *txn) Tokens(accountID int64) ([]authority.Token, error) {
	if accountID == 0 {
		return t.tokens(` ORDER BY t.created_at, t.hash`)
	}
	return t.tokens(` WHERE t.account_id = ? ORDER BY t.created_at, t.hash`, accountID)
}

func (t *txn) InsertToken(k *authority.Token) error {
	_, err := t.exec(`INSERT INTO registration_tokens (hash, account_id, created_at, created_by, expires_at, max_uses, uses, export_allowed, revoked_at, revoked_by)
VALUES (?, ?, ?, ?, ?, ?, 0, ?, 0, '')`, k.Hash, k.AccountID, k.CreatedAt, k.CreatedBy, k.ExpiresAt, k.MaxUses, k.ExportAllowed)
	return err
}

func (t *txn) UseToken(hash []byte) (bool, error) {
	return changed(t.exec(`UPDATE registration_tokens SET uses = uses + 1 WHERE hash = ? AND revoked_at = 0 AND (max_uses = 0 OR uses < max_uses)`, hash))
}

func (t *txn) RevokeToken(hash []byte, at int64, by string) (bool, error) {
	return changed(t.exec(`UPDATE registration_tokens SET revoked_at = ?, revoked_by = ? WHERE hash = ? AND revoked_at = 0`, at, by, hash))
}
