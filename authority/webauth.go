package authority

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Web sign-in: passwords of people and their sessions, for a front end
// such as the web portal (package authority/web). A person signs in with
// their e-mail address and a password that SetPassword set; SignIn opens
// a session and returns its id, a bearer secret for the browser's cookie
// that the ledger keeps only as its SHA-256; SessionPerson turns the id
// back into the person, or refuses it once the session has ended.
//
// Setting a password is a ledger operation with a role check and a
// history event (never the hash). Sessions are not history: they change
// no license, and a sign-in per visit would bury the events that matter.

// Refusals of sign-in, kinds of ErrDenied.
var (
	// ErrSignIn means the e-mail address and password do not match a
	// person with a password. It never says which of the two was wrong.
	ErrSignIn error = &namedKind{"wrong e-mail address or password", ErrDenied}
	// ErrNoSession means the session id names no session in force: never
	// opened, signed out, expired, or its person's password was set
	// since.
	ErrNoSession error = &namedKind{"not signed in", ErrDenied}
	// ErrSessionExpired means the session ended by time: idle for
	// SessionIdle, or open for SessionMaxAge. It is a kind of
	// ErrNoSession.
	ErrSessionExpired error = &namedKind{"session expired", ErrNoSession}
)

// Sessions.
const (
	// SessionIDSize is the size of a session id: 256 random bits.
	SessionIDSize = 32
	// SessionIdle ends a session no request used for 30 minutes
	// (OWASP's upper bound for applications of this risk), to within
	// sessionTouch.
	SessionIdle = 30 * time.Minute
	// SessionMaxAge ends every session 12 hours after sign-in, however
	// busy: a working day, then sign in again.
	SessionMaxAge = 12 * time.Hour
	// sessionTouch is how stale a session's SeenAt may get before a
	// request writes it: one write a minute per person at most, rather
	// than a write transaction (the ledger's one lock, an fsync) for
	// every page.
	sessionTouch = time.Minute
)

// Passwords.
const (
	// MinPasswordLen is the fewest characters of a password: 12, above
	// NIST SP 800-63B's floor of 8 for passwords chosen by people, since
	// a licensing desk signs codes worth money.
	MinPasswordLen = 12
	// MaxPasswordSize caps a password at 1 KiB: room for any passphrase,
	// and a bound on what a sign-in hashes.
	MaxPasswordSize = 1 << 10
	// maxEmailSize caps the e-mail address a sign-in looks up (RFC 5321
	// paths are at most 256 octets).
	maxEmailSize = 254
	// passwordSaltSize and passwordKeySize are the salt and the hash of
	// a password, in bytes (RFC 9106 §4: 128-bit salt, 256-bit tag).
	passwordSaltSize = 16
	passwordKeySize  = 32
	// maxHashing bounds the passwords hashed at once in a process, so
	// that sign-ins cannot take more than maxHashing × Memory of RAM
	// (128 MiB with the default parameters).
	maxHashing = 2
)

// PasswordParams are the argon2id parameters of a password hash.
type PasswordParams struct {
	Time    uint32 // passes over the memory
	Memory  uint32 // KiB
	Threads uint8  // lanes
}

// DefaultPasswordParams are RFC 9106's second recommended option
// (§4: t=3, 64 MiB, p=4), for machines where the first (2 GiB) is too
// much: about 0.3 s on one core of a small server, which a person signing
// in does not notice and which holds an attacker with a copy of the
// ledger to a few guesses a second per core. Hashes record their
// parameters, so raising these later leaves old hashes valid.
var DefaultPasswordParams = PasswordParams{Time: 3, Memory: 64 << 10, Threads: 4}

// check bounds the parameters a stored hash may name, so that a hash
// written into the ledger cannot make sign-in take all memory.
func (p PasswordParams) check() error {
	if p.Time < 1 || p.Time > 16 || p.Memory < 8*uint32(max(p.Threads, 1)) || p.Memory > 1<<20 || p.Threads < 1 || p.Threads > 16 {
		return fmt.Errorf("%w: argon2id parameters t=%d m=%d KiB p=%d are out of range (t 1 to 16, m up to 1 GiB, p 1 to 16)", ErrInvalid, p.Time, p.Memory, p.Threads)
	}
	return nil
}

// passwordPrefix starts every hash: the PHC string format's algorithm and
// argon2's version (0x13), which together version the encoding.
const passwordPrefix = "$argon2id$v=19$"

var phc = base64.RawStdEncoding

// hashSlots is the semaphore of maxHashing.
var hashSlots = make(chan struct{}, maxHashing)

func argon(ctx context.Context, password, salt []byte, p PasswordParams) ([]byte, error) {
	select {
	case hashSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-hashSlots }()
	return argon2.IDKey(password, salt, p.Time, p.Memory, p.Threads, passwordKeySize), nil
}

// hashPassword returns the PHC string of password under a fresh salt:
// $argon2id$v=19$m=M,t=T,p=P$SALT$HASH, base64 without padding.
func hashPassword(ctx context.Context, password string, p PasswordParams, rand io.Reader) (string, error) {
	salt := make([]byte, passwordSaltSize)
	if _, err := io.ReadFull(rand, salt); err != nil {
		return "", fmt.Errorf("drawing a password salt: %w", err)
	}
	key, err := argon(ctx, []byte(password), salt, p)
	if err != nil {
		return "", err
	}
	return encodePassword(p, salt, key), nil
}

func encodePassword(p PasswordParams, salt, key []byte) string {
	return fmt.Sprintf("%sm=%d,t=%d,p=%d$%s$%s", passwordPrefix, p.Memory, p.Time, p.Threads, phc.EncodeToString(salt), phc.EncodeToString(key))
}

// parsePassword reads a hash that encodePassword wrote, and only that:
// anything that does not encode back to the same string is refused.
func parsePassword(s string) (PasswordParams, []byte, []byte, error) {
	var p PasswordParams
	bad := func(why string) (PasswordParams, []byte, []byte, error) {
		return p, nil, nil, fmt.Errorf("%w: a stored password hash is malformed (%s)", ErrCorrupt, why)
	}
	rest, ok := strings.CutPrefix(s, passwordPrefix)
	if !ok {
		return bad("not argon2id version 19")
	}
	parts := strings.Split(rest, "$")
	if len(parts) != 3 {
		return bad("not params$salt$hash")
	}
	if _, err := fmt.Sscanf(parts[0], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return bad("parameters")
	}
	if err := p.check(); err != nil {
		return bad(err.Error())
	}
	salt, err1 := phc.DecodeString(parts[1])
	key, err2 := phc.DecodeString(parts[2])
	if err1 != nil || err2 != nil || len(salt) != passwordSaltSize || len(key) != passwordKeySize {
		return bad("salt or hash")
	}
	if encodePassword(p, salt, key) != s {
		return bad("not canonical")
	}
	return p, salt, key, nil
}

// checkPassword reports whether password hashes to the stored hash, in
// time that does not depend on where they differ.
func checkPassword(ctx context.Context, stored, password string) (bool, error) {
	p, salt, key, err := parsePassword(stored)
	if err != nil {
		return false, err
	}
	got, err := argon(ctx, []byte(password), salt, p)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// dummyHash is what a sign-in for nobody, or for a person without a
// password, is checked against, so that it takes as long as one with a
// wrong password and does not tell who has an account. Its salt and key
// are arbitrary; no password is known to match it.
var dummyHash = encodePassword(DefaultPasswordParams, make([]byte, passwordSaltSize), make([]byte, passwordKeySize))

// CheckNewPassword checks a password someone chooses for the person with
// this e-mail address: MinPasswordLen characters at least, at most
// MaxPasswordSize bytes of UTF-8, no control character, not the address.
// It never quotes the password.
func CheckNewPassword(email, password string) error {
	switch n := utf8.RuneCountInString(password); {
	case !utf8.ValidString(password):
		return fmt.Errorf("%w: the password is not UTF-8 text", ErrInvalid)
	case n < MinPasswordLen:
		return fmt.Errorf("%w: the password has %d characters, at least %d are needed: a few words make a good one", ErrInvalid, n, MinPasswordLen)
	case len(password) > MaxPasswordSize:
		return fmt.Errorf("%w: the password has %d bytes, at most %d are allowed", ErrInvalid, len(password), MaxPasswordSize)
	case strings.ContainsFunc(password, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return fmt.Errorf("%w: the password has a control character", ErrInvalid)
	case strings.EqualFold(strings.TrimSpace(password), email):
		return fmt.Errorf("%w: the password is the e-mail address", ErrInvalid)
	}
	return nil
}

// SetPassword sets the web sign-in password of the person with this
// e-mail address, hashed with argon2id under p (the zero value means
// DefaultPasswordParams; weaker parameters are for tests). A person sets
// their own; the vendor's staff set anyone's; an organization's
// administrator sets those of its administrators and viewers (as
// AddPerson adds them). Every session of the person ends. The history
// records who set whose password, never the hash.
func (l *Ledger) SetPassword(ctx context.Context, email, password string, p PasswordParams) error {
	if err := CheckEmail(email); err != nil {
		return err
	}
	if err := CheckNewPassword(email, password); err != nil {
		return err
	}
	if p == (PasswordParams{}) {
		p = DefaultPasswordParams
	}
	if err := p.check(); err != nil {
		return err
	}
	// Hash before the transaction: the ledger's write lock is not held
	// for a third of a second.
	hash, err := hashPassword(ctx, password, p, l.opts.Rand)
	if err != nil {
		return err
	}
	return l.update(ctx, func(tx Tx, c *chain) error {
		a, err := l.actingAs(tx)
		if err != nil {
			return err
		}
		target, err := tx.Person(email)
		if err != nil {
			return err
		}
		actor := a.name
		switch {
		case target != nil && a.person != nil && a.person.ID == target.ID:
		case a.vendor():
			if target == nil {
				return fmt.Errorf("%w: %s is nobody on this ledger: add the person first ('airlock authority person add')", ErrNotFound, email)
			}
		case target != nil && (target.Role == RoleAdmin || target.Role == RoleViewer):
			_, name, err := l.authorizeWith(tx, a, target.Org, needDelegate)
			if err != nil {
				return err
			}
			actor = name
		default:
			// Whether the address is a person is not theirs to learn.
			return fmt.Errorf("%w: %s cannot set the password of %s: people set their own, administrators those of their organization", ErrDenied, a.name, email)
		}
		now := l.now()
		if err := tx.SetPassword(&Password{PersonID: target.ID, Hash: hash, SetAt: now, SetBy: actor}); err != nil {
			return err
		}
		ended, err := tx.DeleteSessions(target.ID)
		if err != nil {
			return err
		}
		e := l.event(now, actionPasswordSet, target.Email)
		e.Actor, e.Account = actor, target.Org
		e.Detail = fmt.Sprintf("web sign-in password of %s set", target.Email)
		if ended > 0 {
			e.Detail += fmt.Sprintf("; %d sessions ended", ended)
		}
		return c.add(e)
	})
}

// SessionHash returns what the ledger keeps of a session id: its SHA-256.
func SessionHash(id []byte) []byte {
	h := sha256.Sum256(id)
	return h[:]
}

// SignIn checks a person's e-mail address and password and opens a
// session: it returns the session id (SessionIDSize random bytes, for a
// cookie; the ledger keeps its hash only) and the person. Any refusal is
// ErrSignIn, and takes about as long whether or not the address is a
// person's. The caller rate-limits sign-ins: SignIn does not count them.
// Sessions that ended are deleted on the way.
func (l *Ledger) SignIn(ctx context.Context, email, password string) ([]byte, *Person, error) {
	if len(email) > maxEmailSize || len(password) > MaxPasswordSize || email == "" || password == "" {
		return nil, nil, ErrSignIn
	}
	var p *Person
	stored := dummyHash
	err := l.view(ctx, func(tx ReadTx) error {
		var err error
		if p, err = tx.Person(email); err != nil || p == nil {
			return err
		}
		pw, err := tx.Password(p.ID)
		if err != nil || pw == nil {
			p = nil
			return err
		}
		stored = pw.Hash
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	ok, err := checkPassword(ctx, stored, password)
	if err != nil {
		return nil, nil, err
	}
	if !ok || p == nil {
		return nil, nil, ErrSignIn
	}
	id := make([]byte, SessionIDSize)
	if _, err := io.ReadFull(l.opts.Rand, id); err != nil {
		return nil, nil, fmt.Errorf("drawing a session id: %w", err)
	}
	err = l.st.Update(ctx, func(tx Tx) error {
		// The password checked must still be the person's: one set
		// meanwhile ended every session, this one included.
		pw, err := tx.Password(p.ID)
		if err != nil {
			return err
		}
		if pw == nil || pw.Hash != stored {
			return ErrSignIn
		}
		now := l.now()
		if _, err := tx.DeleteExpiredSessions(now-int64(SessionIdle/time.Second), now-int64(SessionMaxAge/time.Second)); err != nil {
			return err
		}
		return tx.InsertSession(&Session{Hash: SessionHash(id), PersonID: p.ID, CreatedAt: now, SeenAt: now})
	})
	if err != nil {
		return nil, nil, err
	}
	return id, p, nil
}

// SessionPerson returns the person of a session in force, as the ledger
// holds them now (their role may have changed since sign-in), and the
// session. It refuses an id of a session that never was or was signed
// out (ErrNoSession) and one that ended by time (ErrSessionExpired,
// which it deletes). It records the request's time in the session at
// most once per minute.
func (l *Ledger) SessionPerson(ctx context.Context, id []byte) (*Person, *Session, error) {
	if len(id) != SessionIDSize {
		return nil, nil, ErrNoSession
	}
	hash := SessionHash(id)
	var s *Session
	var p *Person
	now := l.now()
	expired := false
	err := l.view(ctx, func(tx ReadTx) error {
		var err error
		if s, err = tx.Session(hash); err != nil || s == nil {
			return err
		}
		if now >= s.SeenAt+int64(SessionIdle/time.Second) || now >= s.CreatedAt+int64(SessionMaxAge/time.Second) || now < s.CreatedAt-int64(l.opts.ClockTolerance/time.Second) {
			expired = true
			return nil
		}
		p, err = tx.PersonByID(s.PersonID)
		return err
	})
	switch {
	case err != nil:
		return nil, nil, err
	case s == nil:
		return nil, nil, ErrNoSession
	case expired:
		if err := l.st.Update(ctx, func(tx Tx) error { _, err := tx.DeleteSession(hash); return err }); err != nil {
			return nil, nil, err
		}
		return nil, nil, ErrSessionExpired
	case p == nil:
		return nil, nil, ErrNoSession
	}
	if now-s.SeenAt >= int64(sessionTouch/time.Second) {
		err := l.st.Update(ctx, func(tx Tx) error { return tx.TouchSession(hash, now) })
		if err != nil {
			return nil, nil, err
		}
		s.SeenAt = now
	}
	return p, s, nil
}

// SignOut ends a session. Ending one that is not there is no error: the
// person is signed out either way.
func (l *Ledger) SignOut(ctx context.Context, id []byte) error {
	if len(id) != SessionIDSize {
		return nil
	}
	return l.st.Update(ctx, func(tx Tx) error {
		_, err := tx.DeleteSession(SessionHash(id))
		return err
	})
}

// History actions of web sign-in.
const actionPasswordSet = "password set"

// Form marks: a front end's one-time marks of the forms that issue
// something it shows once (a license key, a token). Reloading the page
// that showed it sends the form again; the mark, taken before the form
// is done, refuses the second sending on every server of the ledger.

// FormMarkKeep is how long a mark is kept: longer than a session, after
// which the form's page could not be sent anyway.
const FormMarkKeep = 2 * SessionMaxAge

// MaxFormMark bounds the length of a mark.
const MaxFormMark = 64

// ErrFormSent means a form's mark was taken before: the form was sent
// already.
var ErrFormSent error = &namedKind{"form sent already", ErrExists}

// TakeFormMark takes mark, a random string of 1 to MaxFormMark bytes the
// front end put in the form, or refuses one taken within FormMarkKeep
// (ErrFormSent). Marks are not history.
func (l *Ledger) TakeFormMark(ctx context.Context, mark string) error {
	if mark == "" || len(mark) > MaxFormMark {
		return fmt.Errorf("%w: a form mark has 1 to %d bytes, not %d", ErrInvalid, MaxFormMark, len(mark))
	}
	h := sha256.Sum256([]byte(mark))
	now := l.now()
	return l.st.Update(ctx, func(tx Tx) error {
		ok, err := tx.TakeFormMark(h[:], now, now-int64(FormMarkKeep/time.Second)+1)
		if err == nil && !ok {
			err = ErrFormSent
		}
		return err
	})
}

// ReleaseFormMark gives a mark back: what its form asked was refused, so
// the form, corrected, may be sent again.
func (l *Ledger) ReleaseFormMark(ctx context.Context, mark string) error {
	h := sha256.Sum256([]byte(mark))
	return l.st.Update(ctx, func(tx Tx) error { return tx.DeleteFormMark(h[:]) })
}
