package codes

import (
	"crypto/sha256"
	"fmt"
	"math"
)

// Limits of sync files.
const (
	// MaxSyncAccounts caps the accounts one sync request reports on, and
	// the accounts one sync answer delegates: far more virtual accounts
	// than one site's satellite holds.
	MaxSyncAccounts = 1_000
	// MaxSyncLines caps, over all its accounts, the lots of a sync answer
	// and the usage lines of a sync request. A line takes at most about
	// 300 bytes (a tag of MaxTagLen and its numbers), so a file at the
	// limit stays under half of MaxBulkCodeSize; a site's delegation is
	// typically a few dozen lots.
	MaxSyncLines = 20_000
	// MaxSyncNameLen caps the satellite's, an organization's and an
	// account's name, in bytes: the authority's names have 64 at most.
	MaxSyncNameLen = 64
	// MaxAuthorityNameLen caps the vendor's name in a sync answer, in
	// bytes: an authority's name has 128 at most.
	MaxAuthorityNameLen = 128
)

// A SyncRequest is what a satellite (an authority on the customer's site
// holding licenses the vendor delegated to it) tells the vendor's
// authority since its last sync: the use of its licenses, its instances,
// and the reservations made and returned on it. The satellite signs it
// with its own authority key (SignSyncRequest); the vendor verifies it
// against the trust set it registered for the satellite (OpenSyncRequest)
// and answers with a SyncAnswer.
//
// Sequence grows by one with every request the satellite makes; the
// vendor refuses a sequence not above the last it answered, so a request
// answers once. LastAnswer names the last answer the satellite imported,
// so that the vendor sees when an answer never arrived. The period runs
// from From, the end of the period of the request that answer answered
// (or when the satellite was made), to IssuedAt: a request whose answer
// was lost is superseded by the next, which covers its period too.
//
// Accounts are sorted by organization, then account, and unique; the
// usage lines of an account are sorted by tag and unique.
type SyncRequest struct {
	Satellite  string        `cbor:"1,keyasint"`
	Sequence   uint64        `cbor:"2,keyasint"`           // from 1
	LastAnswer []byte        `cbor:"3,keyasint,omitempty"` // SHA-256 of the last answer imported, 32 bytes; absent before the first
	From       int64         `cbor:"4,keyasint"`           // Unix seconds, UTC
	IssuedAt   int64         `cbor:"5,keyasint"`           // Unix seconds, UTC; the end of the period
	Accounts   []SyncAccount `cbor:"6,keyasint,omitempty"`

	KeyID KeyID `cbor:"-"` // the satellite key that signed it, set by Open…
}

// A SyncAccount is what a satellite reports of one virtual account:
// its instances now, the reservations made, returned and removed in the
// period, and the use of each tag.
type SyncAccount struct {
	Org       string      `cbor:"1,keyasint"`
	Account   string      `cbor:"2,keyasint"`
	Instances uint32      `cbor:"3,keyasint,omitempty"` // instances known and not removed, now
	Reserved  uint32      `cbor:"4,keyasint,omitempty"` // reservations made (and instances registered) in the period
	Returned  uint32      `cbor:"5,keyasint,omitempty"` // reservations returned (and registrations ended) in the period
	Removed   uint32      `cbor:"6,keyasint,omitempty"` // instances removed by an operator in the period
	Usage     []SyncUsage `cbor:"7,keyasint,omitempty"`
}

// A SyncUsage is the use of one tag in one account: the licenses the
// latest codes of its reservations grant, at their peak in the period
// and now, and Over, the licenses held now beyond what the vendor's last
// answer gave (an over-use the satellite works off: it grants no more of
// the tag until returns bring it back within the count).
type SyncUsage struct {
	Tag     string `cbor:"1,keyasint"`
	Peak    uint32 `cbor:"2,keyasint,omitempty"`
	Current uint32 `cbor:"3,keyasint,omitempty"`
	Over    uint32 `cbor:"4,keyasint,omitempty"`
}

// A SyncAnswer is the vendor's answer to a SyncRequest: a full snapshot
// of the licenses of every account delegated to the satellite, which the
// satellite's ledger then mirrors. The vendor signs it
// (SignSyncAnswer); the satellite verifies it against the vendor's trust
// set (OpenSyncAnswer) and imports it only if it answers the latest
// request it made (Sequence and Request), and only once.
//
// Accounts are sorted by organization, then account, and unique; the
// lots of an account are sorted by id; no lot id appears twice.
type SyncAnswer struct {
	Satellite string           `cbor:"1,keyasint"`
	Sequence  uint64           `cbor:"2,keyasint"` // the request's
	Request   []byte           `cbor:"3,keyasint"` // SHA-256 of the request code answered, 32 bytes
	Authority string           `cbor:"4,keyasint"` // the vendor's ledger name, for people
	IssuedAt  int64            `cbor:"5,keyasint"` // Unix seconds, UTC
	Accounts  []SyncDelegation `cbor:"6,keyasint,omitempty"`

	KeyID KeyID `cbor:"-"` // the vendor key that signed it, set by Open…
}

// A SyncDelegation is one account delegated to the satellite, with its
// lots as the vendor's ledger holds them now.
type SyncDelegation struct {
	Org     string    `cbor:"1,keyasint"`
	Account string    `cbor:"2,keyasint"`
	Lots    []SyncLot `cbor:"3,keyasint,omitempty"`
	// ExportDenied: the vendor denies the account export-controlled
	// licenses; the satellite then grants none of its export-controlled
	// lots. Absent, they are allowed.
	ExportDenied bool `cbor:"4,keyasint,omitempty"`
}

// A SyncLot is one lot of a delegated account: the vendor's lot id, which
// never changes, its tag and terms, which never change either, and its
// count now, which only shrinks (transfers out of the account).
type SyncLot struct {
	ID               uint64          `cbor:"1,keyasint"` // the vendor's lot id, from 1
	Tag              string          `cbor:"2,keyasint"`
	Count            uint32          `cbor:"3,keyasint"` // from 1: a lot with none left is not listed
	Kind             EntitlementKind `cbor:"4,keyasint"`
	Start            int64           `cbor:"5,keyasint,omitempty"` // Unix seconds, UTC
	End              int64           `cbor:"6,keyasint,omitempty"` // Unix seconds, UTC, exclusive
	ExportControlled bool            `cbor:"7,keyasint,omitempty"`
}

// Entitlement returns the lot as an entitlement line of its whole count.
// A hardware lot's line names no component: check it with CheckTerms.
func (l *SyncLot) Entitlement() Entitlement {
	return Entitlement{Tag: l.Tag, Count: l.Count, Kind: l.Kind, Start: l.Start, End: l.End, ExportControlled: l.ExportControlled}
}

// CheckSyncName checks a satellite, organization or account name in a
// sync file as the authority checks its names: 1 to MaxSyncNameLen
// letters, digits, '.', '_' and '-', starting with a letter or digit.
func CheckSyncName(what, s string) error {
	if s == "" || len(s) > MaxSyncNameLen {
		return fmt.Errorf("%w: %s name must have 1 to %d characters, has %d", ErrMalformed, what, MaxSyncNameLen, len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			i > 0 && (c == '.' || c == '_' || c == '-')
		if !ok {
			return fmt.Errorf("%w: %s name %q has %s at position %d: use letters, digits, '.', '_' and '-', starting with a letter or digit", ErrMalformed, what, s, charAt(s, i), i+1)
		}
	}
	return nil
}

// accountOrder checks that (org, account) comes after the previous pair.
func accountOrder(what string, i int, org, account, prevOrg, prevAccount string) error {
	if i > 0 && (org < prevOrg || org == prevOrg && account <= prevAccount) {
		return fmt.Errorf("%w: %s names account %s/%s after %s/%s: accounts must be sorted and unique", ErrInvalid, what, org, account, prevOrg, prevAccount)
	}
	return nil
}

func (r *SyncRequest) validate() error {
	if err := CheckSyncName("satellite", r.Satellite); err != nil {
		return err
	}
	if r.Sequence == 0 {
		return fmt.Errorf("%w: sync request sequence is 0, sequences start at 1", ErrMalformed)
	}
	if r.LastAnswer != nil {
		if err := checkLen("last sync answer hash", r.LastAnswer, sha256.Size); err != nil {
			return err
		}
	}
	if err := checkTime("sync period start", r.From); err != nil {
		return err
	}
	if err := checkTime("sync request time", r.IssuedAt); err != nil {
		return err
	}
	if r.IssuedAt < r.From {
		return fmt.Errorf("%w: sync request made %s, before its period starts %s", ErrInvalid, fmtTime(r.IssuedAt), fmtTime(r.From))
	}
	if n := len(r.Accounts); n > MaxSyncAccounts {
		return fmt.Errorf("%w: sync request reports on %d accounts, the limit is %d", ErrMalformed, n, MaxSyncAccounts)
	}
	lines := 0
	for i := range r.Accounts {
		a := &r.Accounts[i]
		if err := CheckSyncName("organization", a.Org); err != nil {
			return err
		}
		if err := CheckSyncName("account", a.Account); err != nil {
			return err
		}
		if i > 0 {
			if err := accountOrder("sync request", i, a.Org, a.Account, r.Accounts[i-1].Org, r.Accounts[i-1].Account); err != nil {
				return err
			}
		}
		if lines += len(a.Usage); lines > MaxSyncLines {
			return fmt.Errorf("%w: sync request has more than %d usage lines", ErrMalformed, MaxSyncLines)
		}
		for j := range a.Usage {
			u := &a.Usage[j]
			if err := CheckTag(u.Tag); err != nil {
				return err
			}
			if j > 0 && u.Tag <= a.Usage[j-1].Tag {
				return fmt.Errorf("%w: sync request lists %q after %q in %s/%s: tags must be sorted and unique", ErrInvalid, u.Tag, a.Usage[j-1].Tag, a.Org, a.Account)
			}
			if u.Current > u.Peak {
				return fmt.Errorf("%w: use of %q in %s/%s is %d, above its peak %d", ErrInvalid, u.Tag, a.Org, a.Account, u.Current, u.Peak)
			}
		}
	}
	return nil
}

func (a *SyncAnswer) validate() error {
	if err := CheckSyncName("satellite", a.Satellite); err != nil {
		return err
	}
	if a.Sequence == 0 {
		return fmt.Errorf("%w: sync answer sequence is 0, sequences start at 1", ErrMalformed)
	}
	if err := checkLen("sync request hash", a.Request, sha256.Size); err != nil {
		return err
	}
	if err := checkText("authority name", a.Authority, MaxAuthorityNameLen); err != nil {
		return err
	}
	if err := checkTime("sync answer time", a.IssuedAt); err != nil {
		return err
	}
	if n := len(a.Accounts); n > MaxSyncAccounts {
		return fmt.Errorf("%w: sync answer delegates %d accounts, the limit is %d", ErrMalformed, n, MaxSyncAccounts)
	}
	lines := 0
	ids := map[uint64]bool{}
	for i := range a.Accounts {
		d := &a.Accounts[i]
		if err := CheckSyncName("organization", d.Org); err != nil {
			return err
		}
		if err := CheckSyncName("account", d.Account); err != nil {
			return err
		}
		if i > 0 {
			if err := accountOrder("sync answer", i, d.Org, d.Account, a.Accounts[i-1].Org, a.Accounts[i-1].Account); err != nil {
				return err
			}
		}
		if lines += len(d.Lots); lines > MaxSyncLines {
			return fmt.Errorf("%w: sync answer has more than %d lots", ErrMalformed, MaxSyncLines)
		}
		for j := range d.Lots {
			l := &d.Lots[j]
			if l.ID == 0 || l.ID > math.MaxInt64 {
				return fmt.Errorf("%w: sync answer names lot id %d, want 1 to 2^63-1", ErrMalformed, l.ID)
			}
			if j > 0 && l.ID <= d.Lots[j-1].ID {
				return fmt.Errorf("%w: sync answer lists lot %d after lot %d in %s/%s: lots must be sorted by id", ErrInvalid, l.ID, d.Lots[j-1].ID, d.Org, d.Account)
			}
			if ids[l.ID] {
				return fmt.Errorf("%w: sync answer lists lot %d in two accounts", ErrInvalid, l.ID)
			}
			ids[l.ID] = true
			if err := CheckTerms(l.Entitlement()); err != nil {
				return fmt.Errorf("lot %d: %w", l.ID, err)
			}
		}
	}
	return nil
}

// CheckTerms checks an entitlement as a lot's terms: Validate, but a
// hardware lot names no component (its licenses are bound to one when
// they are reserved).
func CheckTerms(e Entitlement) error {
	if e.Kind == Hardware && e.Component == "" {
		e.Component = "-"
	}
	return e.Validate()
}

// SignSyncRequest validates r and signs it with the satellite's key.
func SignSyncRequest(r *SyncRequest, key *AuthorityKey) ([]byte, error) {
	return signCode(KindSyncRequest, r, key)
}

// OpenSyncRequest verifies a sync request against the satellite's trust
// set, as the vendor registered it: the key named by its header must be
// in trust and the request must have been made in that key's window. The
// caller checks that r.Satellite is the satellite trust belongs to, and
// the sequence.
func OpenSyncRequest(b []byte, trust *TrustSet) (*SyncRequest, error) {
	var r SyncRequest
	key, err := openSigned(KindSyncRequest, b, trust, &r)
	if err != nil {
		return nil, err
	}
	if !key.ValidAt(r.IssuedAt) {
		return nil, keyWindowError(KindSyncRequest, key, r.IssuedAt)
	}
	r.KeyID = key.ID()
	return &r, nil
}

// ParseUnverifiedSyncRequest decodes a sync request without verifying it,
// so that the vendor can find the satellite it names, or for display.
// Nothing in it is trusted until OpenSyncRequest succeeds.
func ParseUnverifiedSyncRequest(b []byte) (*SyncRequest, error) {
	s, id, err := parseSigned(KindSyncRequest, b)
	if err != nil {
		return nil, err
	}
	var r SyncRequest
	if err := decodePayload(KindSyncRequest, s.Payload, &r); err != nil {
		return nil, err
	}
	r.KeyID = id
	return &r, nil
}

// SignSyncAnswer validates a and signs it with the vendor's key.
func SignSyncAnswer(a *SyncAnswer, key *AuthorityKey) ([]byte, error) {
	return signCode(KindSyncAnswer, a, key)
}

// OpenSyncAnswer verifies a sync answer against the vendor's trust set,
// as OpenAuthorization does. The caller checks that it answers the
// satellite's latest request (Satellite, Sequence, Request).
func OpenSyncAnswer(b []byte, trust *TrustSet) (*SyncAnswer, error) {
	var a SyncAnswer
	key, err := openSigned(KindSyncAnswer, b, trust, &a)
	if err != nil {
		return nil, err
	}
	if !key.ValidAt(a.IssuedAt) {
		return nil, keyWindowError(KindSyncAnswer, key, a.IssuedAt)
	}
	a.KeyID = key.ID()
	return &a, nil
}

// ParseUnverifiedSyncAnswer decodes a sync answer for display only:
// nothing in it is trusted.
func ParseUnverifiedSyncAnswer(b []byte) (*SyncAnswer, error) {
	s, id, err := parseSigned(KindSyncAnswer, b)
	if err != nil {
		return nil, err
	}
	var a SyncAnswer
	if err := decodePayload(KindSyncAnswer, s.Payload, &a); err != nil {
		return nil, err
	}
	a.KeyID = id
	return &a, nil
}

// Lots returns how many lots the answer lists.
func (a *SyncAnswer) Lots() int {
	n := 0
	for i := range a.Accounts {
		n += len(a.Accounts[i].Lots)
	}
	return n
}
