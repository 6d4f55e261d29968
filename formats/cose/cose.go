// Package cose holds airlock's two COSE profiles (RFC 9052):
//
//   - COSE_Sign1 with EdDSA over Ed25519, for codes the authority makes.
//     Signing and verification go through github.com/veraison/go-cose; this
//     package adds the strict structural checks in front of it.
//   - COSE_Mac0 with HMAC 256/64, for codes the instance makes. go-cose has no
//     Mac0, so the MAC_structure of RFC 9052 §6.3 is built here on the
//     strict CBOR modes of package wire.
//
// Both envelopes are untagged, and the algorithm is fixed by the profile,
// never read from the input: a protected header naming another algorithm is
// refused with ErrAlgorithm. The caller passes the kind's label as the
// external AAD, so an envelope made for one kind never verifies as another.
//
// Parse… checks the structure only and returns the unverified envelope; call
// Verify before reading the payload as anything but untrusted bytes.
// ParseSign1Bulk and ParseMac0Bulk are the same for the codes that carry
// device fleets, whose envelopes may reach wire.MaxBulkSize: use them only
// for those kinds, so that every other code keeps wire's small limit.
package cose

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"

	gocose "github.com/veraison/go-cose"

	"github.com/airlock-dev/airlock/formats/wire"
)

var (
	// ErrMalformed means the bytes are not an airlock COSE envelope: not a
	// four-element array, a tag, a header that is not allowed, a detached
	// payload, or a signature or tag of the wrong length.
	ErrMalformed = errors.New("malformed COSE envelope")
	// ErrAlgorithm means the protected header names an algorithm other
	// than the one the profile fixes.
	ErrAlgorithm = errors.New("algorithm not allowed")
	// ErrBadSignature means the signature or MAC does not verify with the
	// key and external AAD given. It is never returned for malformed input.
	ErrBadSignature = errors.New("signature verification failed")
)

const (
	// AlgEdDSA is the COSE algorithm of Sign1 envelopes (RFC 9053 §2.2).
	AlgEdDSA = -8
	// AlgHMAC256x64 is the COSE algorithm of Mac0 envelopes: HMAC-SHA256
	// truncated to 64 bits (RFC 9053 §3.1).
	AlgHMAC256x64 = 4

	// KeyIDSize is the length of the kid in a Sign1 protected header.
	KeyIDSize = 8
	// MACSize is the length of a Mac0 tag: 64 bits, the most a person
	// reading a code aloud should have to carry.
	MACSize = 8
	// MACKeySize is the length of a Mac0 key.
	MACKeySize = 32
)

// envelope is the common shape of COSE_Sign1 and COSE_Mac0 (RFC 9052 §4.2,
// §6.2): protected header bytes, unprotected header map, payload, and the
// signature or tag.
type envelope struct {
	_           struct{} `cbor:",toarray"`
	Protected   []byte
	Unprotected wire.RawMessage
	Payload     []byte
	Tag         []byte
}

// header is the only header content airlock writes: alg and kid. Decoding
// into it refuses every other label (crit included) as an unknown field.
type header struct {
	Alg *int64 `cbor:"1,keyasint,omitempty"`
	Kid []byte `cbor:"4,keyasint,omitempty"`
}

var emptyMap = []byte{0xa0}

func parseEnvelope(b []byte, what string, bulk bool) (*envelope, error) {
	var e envelope
	unmarshal := wire.Unmarshal
	if bulk {
		unmarshal = wire.UnmarshalBulk
	}
	if err := unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, what, unwrapWire(err))
	}
	if !bytes.Equal(e.Unprotected, emptyMap) {
		return nil, fmt.Errorf("%w: %s: the unprotected header must be empty", ErrMalformed, what)
	}
	if e.Protected == nil {
		return nil, fmt.Errorf("%w: %s: the protected header must be a byte string", ErrMalformed, what)
	}
	if e.Payload == nil {
		return nil, fmt.Errorf("%w: %s: detached payloads are not used", ErrMalformed, what)
	}
	return &e, nil
}

// parseHeader decodes protected header bytes and checks the algorithm.
func parseHeader(p []byte, what string, alg int64) (header, error) {
	var h header
	if err := wire.Unmarshal(p, &h); err != nil {
		return h, fmt.Errorf("%w: %s protected header: %v", ErrMalformed, what, unwrapWire(err))
	}
	if h.Alg == nil {
		return h, fmt.Errorf("%w: %s protected header has no algorithm", ErrAlgorithm, what)
	}
	if *h.Alg != alg {
		return h, fmt.Errorf("%w: %s protected header names algorithm %d, the profile requires %d", ErrAlgorithm, what, *h.Alg, alg)
	}
	return h, nil
}

func unwrapWire(err error) string {
	s := err.Error()
	prefix := wire.ErrMalformed.Error() + ": "
	if len(s) > len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):]
	}
	return s
}

// A Sign1 is a structurally valid, not yet verified COSE_Sign1 envelope.
type Sign1 struct {
	KeyID   []byte // from the protected header; selects a key, proves nothing
	Payload []byte // untrusted until Verify returns nil
	raw     []byte
}

// SignSign1 returns an untagged COSE_Sign1 over payload with the protected
// header {alg: EdDSA, kid: keyID} and external as the external AAD.
// keyID must be KeyIDSize bytes.
func SignSign1(payload, external, keyID []byte, key ed25519.PrivateKey) ([]byte, error) {
	if len(keyID) != KeyIDSize {
		panic(fmt.Sprintf("cose: key id of %d bytes, want %d", len(keyID), KeyIDSize))
	}
	if len(key) != ed25519.PrivateKeySize {
		panic(fmt.Sprintf("cose: Ed25519 private key of %d bytes, want %d", len(key), ed25519.PrivateKeySize))
	}
	signer, err := gocose.NewSigner(gocose.AlgorithmEdDSA, key)
	if err != nil {
		return nil, err
	}
	msg := gocose.UntaggedSign1Message{
		Headers: gocose.Headers{Protected: gocose.ProtectedHeader{
			gocose.HeaderLabelAlgorithm: gocose.AlgorithmEdDSA,
			gocose.HeaderLabelKeyID:     keyID,
		}},
		Payload: payload,
	}
	if err := msg.Sign(nil, external, signer); err != nil {
		return nil, err
	}
	return msg.MarshalCBOR()
}

// ParseSign1 checks that b is an untagged COSE_Sign1 in airlock's profile:
// canonical CBOR, protected header exactly {alg: EdDSA, kid: 8 bytes},
// empty unprotected header, attached payload, 64-byte signature.
func ParseSign1(b []byte) (*Sign1, error) { return parseSign1(b, false) }

// ParseSign1Bulk is ParseSign1 for envelopes of up to wire.MaxBulkSize
// bytes (see wire.UnmarshalBulk).
func ParseSign1Bulk(b []byte) (*Sign1, error) { return parseSign1(b, true) }

func parseSign1(b []byte, bulk bool) (*Sign1, error) {
	e, err := parseEnvelope(b, "COSE_Sign1", bulk)
	if err != nil {
		return nil, err
	}
	h, err := parseHeader(e.Protected, "COSE_Sign1", AlgEdDSA)
	if err != nil {
		return nil, err
	}
	if len(h.Kid) != KeyIDSize {
		return nil, fmt.Errorf("%w: COSE_Sign1 key id has %d bytes, want %d", ErrMalformed, len(h.Kid), KeyIDSize)
	}
	if len(e.Tag) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: COSE_Sign1 signature has %d bytes, want %d", ErrMalformed, len(e.Tag), ed25519.SignatureSize)
	}
	return &Sign1{KeyID: h.Kid, Payload: e.Payload, raw: b}, nil
}

// Verify checks the signature with pub and the external AAD. The key's
// length is checked first: ed25519.Verify panics on a short key.
func (s *Sign1) Verify(external []byte, pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: Ed25519 public key has %d bytes, want %d", ErrBadSignature, len(pub), ed25519.PublicKeySize)
	}
	verifier, err := gocose.NewVerifier(gocose.AlgorithmEdDSA, pub)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	var msg gocose.UntaggedSign1Message
	if err := msg.UnmarshalCBOR(s.raw); err != nil {
		// ParseSign1 accepted these bytes, so this is a disagreement
		// between the two decoders: refuse rather than guess.
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := msg.Verify(external, verifier); err != nil {
		return ErrBadSignature
	}
	return nil
}

// A Mac0 is a structurally valid, not yet verified COSE_Mac0 envelope.
type Mac0 struct {
	Payload []byte // untrusted until Verify returns nil
	tag     []byte
}

// macStructure is MAC_structure of RFC 9052 §6.3 for COSE_Mac0 with an
// empty protected header.
type macStructure struct {
	_         struct{} `cbor:",toarray"`
	Context   string
	Protected []byte
	External  []byte
	Payload   []byte
}

func mac(key, external, payload []byte) []byte {
	if len(key) != MACKeySize {
		panic(fmt.Sprintf("cose: MAC key of %d bytes, want %d", len(key), MACKeySize))
	}
	toMAC := wire.MustMarshal(macStructure{Context: "MAC0", Protected: []byte{}, External: external, Payload: payload})
	m := hmac.New(sha256.New, key)
	m.Write(toMAC)
	return m.Sum(nil)[:MACSize]
}

// SealMac0 returns an untagged COSE_Mac0 over payload with an empty
// protected header (the algorithm, HMAC 256/64, is fixed by the profile),
// an empty unprotected header and external as the external AAD.
// key must be MACKeySize bytes.
func SealMac0(payload, external, key []byte) []byte {
	return wire.MustMarshal(envelope{
		Protected:   []byte{},
		Unprotected: emptyMap,
		Payload:     payload,
		Tag:         mac(key, external, payload),
	})
}

// ParseMac0 checks that b is an untagged COSE_Mac0 in airlock's profile:
// canonical CBOR, empty protected and unprotected headers, attached payload,
// 8-byte tag. A protected header naming an algorithm other than HMAC 256/64
// is refused with ErrAlgorithm; any other protected content as malformed.
func ParseMac0(b []byte) (*Mac0, error) { return parseMac0(b, false) }

// ParseMac0Bulk is ParseMac0 for envelopes of up to wire.MaxBulkSize bytes
// (see wire.UnmarshalBulk).
func ParseMac0Bulk(b []byte) (*Mac0, error) { return parseMac0(b, true) }

func parseMac0(b []byte, bulk bool) (*Mac0, error) {
	e, err := parseEnvelope(b, "COSE_Mac0", bulk)
	if err != nil {
		return nil, err
	}
	if len(e.Protected) != 0 {
		// Name the algorithm when the header swaps it; anything else in
		// the protected bucket is simply not part of the profile.
		var h header
		if wire.Unmarshal(e.Protected, &h) == nil && h.Alg != nil && *h.Alg != AlgHMAC256x64 {
			return nil, fmt.Errorf("%w: COSE_Mac0 protected header names algorithm %d, the profile requires %d", ErrAlgorithm, *h.Alg, AlgHMAC256x64)
		}
		return nil, fmt.Errorf("%w: COSE_Mac0 protected header must be empty (the algorithm is fixed)", ErrMalformed)
	}
	if len(e.Tag) != MACSize {
		return nil, fmt.Errorf("%w: COSE_Mac0 tag has %d bytes, want %d", ErrMalformed, len(e.Tag), MACSize)
	}
	return &Mac0{Payload: e.Payload, tag: e.Tag}, nil
}

// Verify checks the tag with key and the external AAD in constant time.
func (m *Mac0) Verify(external, key []byte) error {
	if len(key) != MACKeySize {
		return fmt.Errorf("%w: MAC key has %d bytes, want %d", ErrBadSignature, len(key), MACKeySize)
	}
	if !hmac.Equal(mac(key, external, m.Payload), m.tag) {
		return ErrBadSignature
	}
	return nil
}
