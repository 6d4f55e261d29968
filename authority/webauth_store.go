package authority

// The store's part of web sign-in (see webauth.go): passwords and
// sessions. Both are kept in the ledger so that several servers on one
// PostgreSQL ledger share them; neither is in the history chain, but
// setting a password is recorded there as an event (without the hash).

// WebReadTx reads the web portal's records of a ReadTx.
type WebReadTx interface {
	// Orgs returns every organization, by name.
	Orgs() ([]Org, error)
	// PersonByID returns the person with this id.
	PersonByID(id int64) (*Person, error)
	// Password returns a person's password record, nil when none was set.
	Password(personID int64) (*Password, error)
	// Session returns the session whose id hashes to hash (SessionHash).
	Session(hash []byte) (*Session, error)
}

// WebTx writes the web portal's records of a Tx.
type WebTx interface {
	// SetPassword sets a person's password, replacing the one before.
	SetPassword(p *Password) error
	InsertSession(s *Session) error
	// TouchSession sets a session's SeenAt.
	TouchSession(hash []byte, seenAt int64) error
	// DeleteSession deletes a session; it reports whether one was there.
	DeleteSession(hash []byte) (bool, error)
	// DeleteSessions deletes every session of a person and returns how
	// many there were.
	DeleteSessions(personID int64) (int64, error)
	// DeleteExpiredSessions deletes the sessions last seen before
	// seenBefore or created before createdBefore (Unix seconds) and
	// returns how many there were.
	DeleteExpiredSessions(seenBefore, createdBefore int64) (int64, error)
	// TakeFormMark records the form mark that hashes to hash as sent at
	// at, after deleting the marks sent before forgetBefore; it reports
	// false, and records nothing, when the mark is there already.
	TakeFormMark(hash []byte, at, forgetBefore int64) (bool, error)
	// DeleteFormMark deletes a form mark.
	DeleteFormMark(hash []byte) error
}

// A Password is a person's password, as its argon2id hash in the PHC
// string format (see HashPassword); the password itself is never kept.
type Password struct {
	PersonID int64
	Hash     string
	SetAt    int64  // Unix seconds, UTC
	SetBy    string // who set it, as the history names them
}

// A Session is a person signed in on the web. The ledger keeps the
// SHA-256 of its id only: the id is a bearer secret that lives in the
// browser's cookie, and a copy of the ledger must not sign anyone in.
type Session struct {
	Hash      []byte // SessionHash of the id, 32 bytes
	PersonID  int64
	CreatedAt int64 // Unix seconds, UTC: the session ends SessionMaxAge after it
	SeenAt    int64 // the last request, to within sessionTouch: it ends SessionIdle after it
}
