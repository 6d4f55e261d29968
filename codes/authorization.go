package codes

import (
	"bytes"
	"fmt"
	"time"
)

// ReservationIDSize is the length of a reservation id: 32 bits, drawn at
// random by the authority and unique in its ledger. It is short because it
// travels in the confirmation and return codes that people read aloud; the
// 64-bit MAC, not the id, is what makes those codes unforgeable.
const ReservationIDSize = 4

// Authorization flags. Unknown bits are refused: a flag may change what the
// instance allows, so an instance that does not know it must not install
// the code.
const (
	// FlagClockAdvisory asks the instance to warn about a clock set back
	// rather than refuse term entitlements.
	FlagClockAdvisory uint64 = 1 << 0

	knownFlags = FlagClockAdvisory
)

// An Authorization lets one instance, named by its UDI and key, use the
// listed entitlements. The authority signs it in answer to a Request (Nonce
// is then the request's nonce) or to update an existing reservation (Nonce
// is empty and Serial is greater than 1); the instance verifies it offline
// with OpenAuthorization and applies Check before installing it.
//
// Serial grows with every code issued for the same reservation; an instance
// refuses a serial that is not greater than the one it has installed.
type Authorization struct {
	Reservation  []byte        `cbor:"1,keyasint"` // ReservationIDSize bytes
	Serial       uint64        `cbor:"2,keyasint"` // 1 for the first code of a reservation
	UDI          UDI           `cbor:"3,keyasint"`
	InstanceKey  []byte        `cbor:"4,keyasint"`           // InstanceKeyHash of the instance public key
	Nonce        []byte        `cbor:"5,keyasint,omitempty"` // the request's nonce; absent in updates
	Entitlements []Entitlement `cbor:"6,keyasint"`
	Flags        uint64        `cbor:"7,keyasint,omitempty"`
	IssuedAt     int64         `cbor:"8,keyasint"` // Unix seconds, UTC
	InstallBy    int64         `cbor:"9,keyasint"` // Unix seconds, UTC: not installable from then on
	// Lapses is set on codes served in connected mode: from then on
	// (Unix seconds, UTC) no entitlement of the code is in force unless
	// a renewed code replaced it. Reservation codes never lapse (0).
	Lapses int64 `cbor:"10,keyasint,omitempty"`

	KeyID KeyID `cbor:"-"` // the authority key that signed it, set by Open…
}

func (a *Authorization) validate() error {
	if err := checkLen("reservation id", a.Reservation, ReservationIDSize); err != nil {
		return err
	}
	if a.Serial == 0 {
		return fmt.Errorf("%w: authorization serial is 0, serials start at 1", ErrMalformed)
	}
	if err := a.UDI.Validate(); err != nil {
		return err
	}
	if err := checkLen("instance key hash", a.InstanceKey, InstanceKeyHashLen); err != nil {
		return err
	}
	if a.Nonce != nil {
		if err := checkLen("request nonce", a.Nonce, NonceSize); err != nil {
			return err
		}
	} else if a.Serial == 1 {
		return fmt.Errorf("%w: authorization serial 1 answers no request (it has no nonce)", ErrInvalid)
	}
	if a.Flags&^knownFlags != 0 {
		return fmt.Errorf("%w: authorization has unknown flags %#x", ErrMalformed, a.Flags&^knownFlags)
	}
	if err := checkTime("issue time", a.IssuedAt); err != nil {
		return err
	}
	if a.InstallBy <= a.IssuedAt {
		return fmt.Errorf("%w: install-by %s is not after the issue time %s", ErrInvalid, fmtTime(a.InstallBy), fmtTime(a.IssuedAt))
	}
	if a.Lapses != 0 && a.Lapses <= a.IssuedAt {
		return fmt.Errorf("%w: lapse time %s is not after the issue time %s", ErrInvalid, fmtTime(a.Lapses), fmtTime(a.IssuedAt))
	}
	if len(a.Entitlements) == 0 {
		return fmt.Errorf("%w: authorization has no entitlements (to give every license back, the instance returns the reservation)", ErrInvalid)
	}
	if len(a.Entitlements) > MaxLines {
		return fmt.Errorf("%w: authorization has %d entitlements, the limit is %d", ErrMalformed, len(a.Entitlements), MaxLines)
	}
	type line struct{ tag, component string }
	seen := make(map[line]bool, len(a.Entitlements))
	for _, e := range a.Entitlements {
		if err := e.Validate(); err != nil {
			return err
		}
		l := line{e.Tag, e.Component}
		if seen[l] {
			return fmt.Errorf("%w: authorization lists tag %q twice", ErrInvalid, e.Tag)
		}
		seen[l] = true
	}
	return nil
}

// SignAuthorization validates a and signs it with key.
func SignAuthorization(a *Authorization, key *AuthorityKey) ([]byte, error) {
	return signCode(KindAuthorization, a, key)
}

// OpenAuthorization verifies an authorization code against the trust set:
// the key named by its header must be in trust and the code must have been
// issued in that key's window. It does not look at the clock or at the
// instance: call Check for that.
func OpenAuthorization(b []byte, trust *TrustSet) (*Authorization, error) {
	var a Authorization
	key, err := openSigned(KindAuthorization, b, trust, &a)
	if err != nil {
		return nil, err
	}
	if !key.ValidAt(a.IssuedAt) {
		return nil, keyWindowError(KindAuthorization, key, a.IssuedAt)
	}
	a.KeyID = key.ID()
	return &a, nil
}

// ParseUnverifiedAuthorization decodes an authorization code for display
// only: nothing in it is trusted.
func ParseUnverifiedAuthorization(b []byte) (*Authorization, error) {
	s, id, err := parseSigned(KindAuthorization, b)
	if err != nil {
		return nil, err
	}
	var a Authorization
	if err := decodePayload(KindAuthorization, s.Payload, &a); err != nil {
		return nil, err
	}
	a.KeyID = id
	return &a, nil
}

// Check applies the binding and time rules that need no state: the code
// must name this instance's UDI and public key, now must be before the
// install-by time, and no term entitlement may have ended. Rollback and
// replay rules need the instance's state and are the caller's.
func (a *Authorization) Check(now time.Time, udi UDI, instancePub []byte) error {
	if !a.UDI.Equal(udi) {
		return fmt.Errorf("%w: authorization code is for UDI %s but this instance is %s", ErrWrongInstance, a.UDI.Short(), udi.Short())
	}
	if !bytes.Equal(a.InstanceKey, InstanceKeyHash(instancePub)) {
		return fmt.Errorf("%w: authorization code is for instance key %x but this instance's key is %x (was the instance state rebuilt? make a new request)", ErrWrongInstance, a.InstanceKey[:4], InstanceKeyHash(instancePub)[:4])
	}
	if now.Unix() >= a.InstallBy {
		return fmt.Errorf("%w: authorization code had to be installed before %s: request a new code", ErrInstallWindow, fmtTime(a.InstallBy))
	}
	if a.Lapses != 0 && now.Unix() >= a.Lapses {
		return fmt.Errorf("%w: authorization code lapsed %s: renew the authorization", ErrExpired, fmtTime(a.Lapses))
	}
	for _, e := range a.Entitlements {
		if e.End != 0 && now.Unix() >= e.End {
			return fmt.Errorf("%w: %s entitlement %q ended %s", ErrExpired, e.Kind, e.Tag, fmtTime(e.End))
		}
	}
	return nil
}
