package authority

import (
	"context"
	"fmt"
	"strings"

	"github.com/airlock-dev/airlock/formats/groups"
)

// Registration tokens (issue 10, connected mode): a token lets instances
// register themselves to one virtual account, until it expires, for a
// number of uses or without limit, and with export-controlled licenses or
// without. The ledger keeps a token by hash, like a license key: TK and
// three checked groups, 120 random bits, printed once.

// TokenPrefix starts a registration token.
const TokenPrefix = "TK"

// Refusals of registration tokens, kinds of the general ones.
var (
	// ErrTokenMalformed means the input is no registration token.
	ErrTokenMalformed error = &namedKind{"not a registration token", ErrKeyMalformed}
	// ErrTokenTypo means a group of a token fails its check.
	ErrTokenTypo error = &namedKind{"registration token has a typo", ErrKeyTypo}
	// ErrTokenSpent means the token expired, was revoked or has no use
	// left.
	ErrTokenSpent = kindOf(ErrClosed)
)

// TokenReadTx reads registration tokens; part of ReadTx.
type TokenReadTx interface {
	// Token returns the token with this hash.
	Token(hash []byte) (*Token, error)
	// Tokens returns the tokens of one account (0: every token), by
	// creation.
	Tokens(accountID int64) ([]Token, error)
}

// TokenTx writes registration tokens; part of Tx.
type TokenTx interface {
	InsertToken(t *Token) error
	// UseToken counts one use of a token, guarded: it reports false,
	// changing nothing, when the token is revoked or has no use left.
	UseToken(hash []byte) (bool, error)
	RevokeToken(hash []byte, at int64, by string) (bool, error)
}

// A Token lets instances register to an account.
type Token struct {
	Hash          []byte
	AccountID     int64
	Account       string // ORG/ACCOUNT
	CreatedAt     int64
	CreatedBy     string
	ExpiresAt     int64 // 0: never
	MaxUses       int64 // 0: no limit
	Uses          int64
	ExportAllowed bool
	RevokedAt     int64
	RevokedBy     string
}

// ID returns the token's id: the first 8 bytes of its hash, in hex.
func (t *Token) ID() string { return KeyID(t.Hash) }

// State says whether the token may register an instance at now:
// "active", "expired", "revoked" or "used up".
func (t *Token) State(now int64) string {
	switch {
	case t.RevokedAt != 0:
		return "revoked"
	case t.ExpiresAt != 0 && now >= t.ExpiresAt:
		return "expired"
	case t.MaxUses != 0 && t.Uses >= t.MaxUses:
		return "used up"
	}
	return "active"
}

// TokenHash returns the hash the ledger keeps of a token's bytes.
func TokenHash(b []byte) []byte { return KeyHash(append([]byte("registration token\n"), b...)) }

// ParseToken reads a typed registration token.
func ParseToken(s string) ([]byte, error) {
	return parseTyped(s, TokenPrefix, KeySize, "registration token", ErrTokenMalformed, ErrTokenTypo)
}

// A TokenSpec is what CreateToken makes.
type TokenSpec struct {
	Account       string // ORG/ACCOUNT
	ExpiresAt     int64  // 0: never
	MaxUses       int64  // 0: no limit
	ExportAllowed bool
}

// CreateToken makes a registration token for an account (the vendor, or
// an administrator of its organization) and returns it typed, once.
func (l *Ledger) CreateToken(ctx context.Context, s TokenSpec) (string, *Token, error) {
	if s.MaxUses < 0 || s.MaxUses > MaxLotCount {
		return "", nil, fmt.Errorf("%w: uses %d is not from 1 to %d (or 0 for no limit)", ErrInvalid, s.MaxUses, int64(MaxLotCount))
	}
	b, err := l.drawKey()
	if err != nil {
		return "", nil, err
	}
	var out *Token
	err = l.update(ctx, func(tx Tx, c *chain) error {
		a, err := account(tx, s.Account)
		if err != nil {
			return err
		}
		_, actor, err := l.authorize(tx, a.Org, needManage)
		if err != nil {
			return err
		}
		if d, err := tx.DelegatedTo(a.ID); err != nil {
			return err
		} else if d != nil {
			// Its instances register at the satellite, with the
			// satellite's tokens.
			return fmt.Errorf("%w; make the token on the satellite ('airlock authority token create --dir SATELLITE-DIR --account %s')", delegatedError(tx, d), a.Ref())
		}
		now := l.now()
		if s.ExpiresAt != 0 && s.ExpiresAt <= now {
			return fmt.Errorf("%w: the token would expire %s, which is not after now", ErrInvalid, FormatDay(s.ExpiresAt))
		}
		t := &Token{Hash: TokenHash(b), AccountID: a.ID, Account: a.Ref(), CreatedAt: now, CreatedBy: actor,
			ExpiresAt: s.ExpiresAt, MaxUses: s.MaxUses, ExportAllowed: s.ExportAllowed}
		if err := tx.InsertToken(t); err != nil {
			return err
		}
		e := l.event(now, actionTokenCreate, a.Ref())
		e.Actor, e.Account, e.CodeHash = actor, a.Ref(), t.Hash
		e.Detail = fmt.Sprintf("registration token %s for %s: %s", t.ID(), a.Ref(), describeToken(t))
		out = t
		return c.add(e)
	})
	if err != nil {
		return "", nil, err
	}
	return groups.Encode(TokenPrefix, b), out, nil
}

func describeToken(t *Token) string {
	var parts []string
	if t.ExpiresAt != 0 {
		parts = append(parts, "expires "+FormatDay(t.ExpiresAt))
	} else {
		parts = append(parts, "never expires")
	}
	if t.MaxUses != 0 {
		parts = append(parts, fmt.Sprintf("%d uses", t.MaxUses))
	} else {
		parts = append(parts, "unlimited uses")
	}
	if t.ExportAllowed {
		parts = append(parts, "export-controlled licenses allowed")
	} else {
		parts = append(parts, "no export-controlled licenses")
	}
	return strings.Join(parts, ", ")
}

// Tokens returns the tokens of an account ("ORG/ACCOUNT"), or of every
// account for the vendor with ref empty.
func (l *Ledger) Tokens(ctx context.Context, ref string) ([]Token, error) {
	var out []Token
	err := l.view(ctx, func(tx ReadTx) error {
		if ref == "" {
			a, err := l.actingAs(tx)
			if err != nil {
				return err
			}
			if err := a.vendorOnly("list every account's tokens"); err != nil {
				return err
			}
			out, err = tx.Tokens(0)
			return err
		}
		acct, err := account(tx, ref)
		if err != nil {
			return err
		}
		if _, _, err := l.authorize(tx, acct.Org, needRead); err != nil {
			return err
		}
		out, err = tx.Tokens(acct.ID)
		return err
	})
	return out, err
}

// tokenByID finds a token by its id (16 hex digits) or typed form.
func tokenByID(tx ReadTx, ref string) (*Token, error) {
	var hash []byte
	if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(ref)), TokenPrefix) {
		b, err := ParseToken(ref)
		if err != nil {
			return nil, err
		}
		hash = TokenHash(b)
	} else {
		ts, err := tx.Tokens(0)
		if err != nil {
			return nil, err
		}
		for i := range ts {
			if ts[i].ID() == strings.ToLower(ref) {
				hash = ts[i].Hash
			}
		}
	}
	if hash == nil {
		return nil, fmt.Errorf("%w: no registration token %q: give the id 'airlock authority token list' shows, or the token itself", ErrNotFound, ref)
	}
	t, err := tx.Token(hash)
	if err == nil && t == nil {
		err = fmt.Errorf("%w: no registration token %q", ErrNotFound, ref)
	}
	return t, err
}

// RevokeToken revokes a token: it registers nothing from then on;
// instances it registered stay registered.
func (l *Ledger) RevokeToken(ctx context.Context, ref string) (*Token, error) {
	var out *Token
	err := l.update(ctx, func(tx Tx, c *chain) error {
		t, err := tokenByID(tx, ref)
		if err != nil {
			return err
		}
		acct, err := tx.AccountByID(t.AccountID)
		if err != nil {
			return err
		}
		_, actor, err := l.authorize(tx, acct.Org, needManage)
		if err != nil {
			return err
		}
		now := l.now()
		if ok, err := tx.RevokeToken(t.Hash, now, actor); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("%w: registration token %s was revoked %s", ErrTokenSpent, t.ID(), FormatDay(t.RevokedAt))
		}
		t.RevokedAt, t.RevokedBy = now, actor
		e := l.event(now, actionTokenRevoke, acct.Ref())
		e.Actor, e.Account, e.CodeHash = actor, acct.Ref(), t.Hash
		e.Detail = fmt.Sprintf("registration token %s for %s revoked", t.ID(), acct.Ref())
		out = t
		return c.add(e)
	})
	return out, err
}

// useToken checks a typed token and counts one use of it, in a
// registration's transaction. It returns the token as it was.
func useToken(tx Tx, typed string, now int64) (*Token, error) {
	b, err := ParseToken(typed)
	if err != nil {
		return nil, err
	}
	t, err := tx.Token(TokenHash(b))
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, fmt.Errorf("%w: this registration token was never issued here: check it, or ask the authority for one", ErrKeyUnknown)
	}
	if st := t.State(now); st != "active" {
		return nil, fmt.Errorf("%w: registration token %s is %s: ask the authority for another", ErrTokenSpent, t.ID(), st)
	}
	if ok, err := tx.UseToken(t.Hash); err != nil {
		return nil, err
	} else if !ok {
		return nil, fmt.Errorf("%w: registration token %s was used up meanwhile", ErrTokenSpent, t.ID())
	}
	return t, nil
}

// UseToken counts one use of a token, as a registration will; it is the
// library call the connected mode's registration builds on.
func (l *Ledger) UseToken(ctx context.Context, typed string) (*Token, error) {
	var out *Token
	err := l.update(ctx, func(tx Tx, c *chain) error {
		t, err := useToken(tx, typed, l.now())
		out = t
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

const (
	actionTokenCreate = "token create"
	actionTokenRevoke = "token revoke"
)
