package codes

import (
	"fmt"
	"time"
)

// A TrustSet is the set of authority keys an instance trusts, with a
// sequence number that grows with every trust update. It is the payload of a
// trust update code.
//
// A trust file is a trust update signed by one of the keys it lists: the
// first trust set an instance loads (OpenTrustFile). Later sets arrive as
// trust updates signed by a key of the set they replace (OpenTrustUpdate).
type TrustSet struct {
	Sequence uint64               `cbor:"1,keyasint"`
	Keys     []AuthorityPublicKey `cbor:"2,keyasint"`
	IssuedAt int64                `cbor:"3,keyasint"` // Unix seconds, UTC
	SignedBy KeyID                `cbor:"-"`          // set by Open…
}

// MaxTrustKeys caps the keys in one set: a rotation keeps two or three.
const MaxTrustKeys = 16

// Validate checks t as the payload of a trust update is checked: a
// sequence from 1, 1 to MaxTrustKeys valid keys, none twice, an issue
// time.
func (t *TrustSet) Validate() error { return t.validate() }

func (t *TrustSet) validate() error {
	if t.Sequence == 0 {
		return fmt.Errorf("%w: trust set sequence is 0, sequences start at 1", ErrMalformed)
	}
	if len(t.Keys) == 0 || len(t.Keys) > MaxTrustKeys {
		return fmt.Errorf("%w: trust set has %d keys, want 1 to %d", ErrMalformed, len(t.Keys), MaxTrustKeys)
	}
	seen := map[KeyID]bool{}
	for i := range t.Keys {
		if err := t.Keys[i].Validate(); err != nil {
			return err
		}
		id := t.Keys[i].ID()
		if seen[id] {
			return fmt.Errorf("%w: trust set lists key %s twice", ErrInvalid, id)
		}
		seen[id] = true
	}
	return checkTime("trust set issue time", t.IssuedAt)
}

// Key returns the key with the given id, or nil.
func (t *TrustSet) Key(id KeyID) *AuthorityPublicKey {
	if t == nil {
		return nil
	}
	for i := range t.Keys {
		if t.Keys[i].ID() == id {
			return &t.Keys[i]
		}
	}
	return nil
}

// SignTrustSet signs t with key, which must be in t (a trust file) or in
// the set t replaces (a trust update).
func SignTrustSet(t *TrustSet, key *AuthorityKey) ([]byte, error) {
	return signCode(KindTrustUpdate, t, key)
}

// OpenTrustFile verifies a trust file: a trust update signed by a key it
// lists itself, issued in that key's window. Whoever hands the file to the
// instance vouches for it; the signature proves only that the file is
// whole and that its author holds one of the keys.
func OpenTrustFile(b []byte) (*TrustSet, error) {
	s, id, err := parseSigned(KindTrustUpdate, b)
	if err != nil {
		return nil, err
	}
	var t TrustSet
	if err := decodePayload(KindTrustUpdate, s.Payload, &t); err != nil {
		return nil, err
	}
	key := t.Key(id)
	if key == nil {
		return nil, fmt.Errorf("%w: trust file is signed by key %s, which it does not list", ErrUnknownKey, id)
	}
	if err := s.Verify(KindTrustUpdate.Label(), key.Sign); err != nil {
		return nil, fmt.Errorf("%w: trust file does not verify with its own key %s", classify(err), id)
	}
	if !key.ValidAt(t.IssuedAt) {
		return nil, keyWindowError(KindTrustUpdate, key, t.IssuedAt)
	}
	t.SignedBy = id
	return &t, nil
}

// OpenTrustUpdate verifies a trust update against the current set: signed
// by a key of current, issued in that key's window, with a greater sequence.
func OpenTrustUpdate(b []byte, current *TrustSet) (*TrustSet, error) {
	var t TrustSet
	key, err := openSigned(KindTrustUpdate, b, current, &t)
	if err != nil {
		return nil, err
	}
	if !key.ValidAt(t.IssuedAt) {
		return nil, keyWindowError(KindTrustUpdate, key, t.IssuedAt)
	}
	if t.Sequence <= current.Sequence {
		return nil, fmt.Errorf("%w: trust update sequence %d is not newer than the installed %d", ErrInvalid, t.Sequence, current.Sequence)
	}
	t.SignedBy = key.ID()
	return &t, nil
}

// ParseUnverifiedTrustSet decodes a trust update for display only.
func ParseUnverifiedTrustSet(b []byte) (*TrustSet, error) {
	s, id, err := parseSigned(KindTrustUpdate, b)
	if err != nil {
		return nil, err
	}
	var t TrustSet
	if err := decodePayload(KindTrustUpdate, s.Payload, &t); err != nil {
		return nil, err
	}
	t.SignedBy = id
	return &t, nil
}

func keyWindowError(k Kind, key *AuthorityPublicKey, at int64) error {
	return fmt.Errorf("%w: %s code issued %s, outside the window of key %s (%s to %s)", ErrKeyWindow, k,
		time.Unix(at, 0).UTC().Format(time.RFC3339), key.ID(), fmtTime(key.NotBefore), fmtTime(key.NotAfter))
}

// Current returns the key an instance makes its codes for at now (Unix
// seconds): of the keys valid at now, the one that became valid last (in
// set order on a tie). Mac0 codes do not name the key; the authority tries
// its keys in turn. It returns nil when no key is valid at now.
func (t *TrustSet) Current(now int64) *AuthorityPublicKey {
	var best *AuthorityPublicKey
	for i := range t.Keys {
		k := &t.Keys[i]
		if k.ValidAt(now) && (best == nil || k.NotBefore > best.NotBefore) {
			best = k
		}
	}
	return best
}
