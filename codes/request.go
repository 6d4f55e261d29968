package codes

import (
	"bytes"
	"fmt"
)

// NonceSize is the length of a request nonce: 64 bits, fresh for every
// request an instance makes.
const NonceSize = 8

// A Request asks the authority for an authorization code. The instance makes
// it (SealRequest) and the authority checks it (OpenRequest). It carries the
// instance's public key, and its MAC under the key derived from that public
// key proves the instance holds the private half.
type Request struct {
	UDI         UDI       `cbor:"1,keyasint"`
	InstanceKey []byte    `cbor:"2,keyasint"` // X25519 public key, 32 bytes
	Nonce       []byte    `cbor:"3,keyasint"` // 8 bytes, fresh
	IssuedAt    int64     `cbor:"4,keyasint"` // Unix seconds, UTC
	Wanted      []License `cbor:"5,keyasint,omitempty"`
}

func (r *Request) validate() error {
	if err := r.UDI.Validate(); err != nil {
		return err
	}
	if err := CheckX25519Public(r.InstanceKey); err != nil {
		return err
	}
	if err := checkLen("request nonce", r.Nonce, NonceSize); err != nil {
		return err
	}
	if err := checkTime("request time", r.IssuedAt); err != nil {
		return err
	}
	return validateLicenses("request", r.Wanted)
}

// SealRequest returns the request code for r, MACed with the key that key
// shares with the authority key a. r.InstanceKey is set to key's public half.
func SealRequest(r *Request, key *InstanceKey, a *AuthorityPublicKey) ([]byte, error) {
	pub := key.Public()
	if r.InstanceKey != nil && !bytes.Equal(r.InstanceKey, pub) {
		return nil, fmt.Errorf("%w: request names another instance key than the one sealing it", ErrInvalid)
	}
	r.InstanceKey = pub
	macKey, err := key.MACKey(a)
	if err != nil {
		return nil, err
	}
	return sealCode(KindRequest, r, macKey)
}

// OpenRequest verifies a request code with the authority key it was made
// for. The instance public key is read from the payload, checked for low
// order, and the MAC then proves the instance holds its private half. The
// caller must still check the key against the one pinned for the UDI.
func OpenRequest(b []byte, key *AuthorityKey) (*Request, error) {
	var r Request
	m, err := parseMACed(KindRequest, b, &r)
	if err != nil {
		return nil, err
	}
	macKey, err := key.MACKey(r.InstanceKey)
	if err != nil {
		return nil, err
	}
	if err := verifyMAC(KindRequest, m, macKey); err != nil {
		return nil, err
	}
	return &r, nil
}

// ParseUnverifiedRequest decodes a request code for display only.
func ParseUnverifiedRequest(b []byte) (*Request, error) {
	var r Request
	if _, err := parseMACed(KindRequest, b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
