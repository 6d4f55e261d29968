package codes

import (
	"errors"
	"fmt"

	"github.com/airlock-dev/airlock/formats/cose"
	"github.com/airlock-dev/airlock/formats/wire"
)

// MaxCodeSize caps a code's binary form: 8 KiB. The largest code in the
// test vectors, an authorization with 200 entitlements, is under 8 KiB; a
// typical one is a few hundred bytes. The kinds that carry device fleets
// have MaxBulkCodeSize instead (Kind.MaxSize).
const MaxCodeSize = 8 << 10

// MaxBulkCodeSize caps the binary form of an activation request or an
// activation: 16 MiB. A 100,000-device activation with device keys of a
// dozen characters is about 3 MiB; MaxActivationDevices devices fit when
// their keys average under about 50 characters (FORMAT.md §9.6). It is
// wire.MaxBulkSize, the most the bulk decoder takes.
const MaxBulkCodeSize = 16 << 20

// classified keeps the message of an error from a lower layer while making
// it match one of this package's sentinels as well.
type classified struct {
	sentinel error
	err      error
}

func (c *classified) Error() string   { return c.err.Error() }
func (c *classified) Unwrap() []error { return []error{c.sentinel, c.err} }

// classify maps errors of formats/… to this package's sentinels.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, cose.ErrAlgorithm):
		return &classified{ErrAlgorithm, err}
	case errors.Is(err, cose.ErrBadSignature):
		return &classified{ErrBadSignature, err}
	case errors.Is(err, cose.ErrMalformed), errors.Is(err, wire.ErrMalformed):
		return &classified{ErrMalformed, err}
	}
	return err
}

// A validator checks a decoded payload's fields.
type validator interface{ validate() error }

func checkSize(k Kind, b []byte) error {
	if len(b) > k.MaxSize() {
		return fmt.Errorf("%w: %s code of %d bytes, the limit is %d", ErrMalformed, k, len(b), k.MaxSize())
	}
	return nil
}

// A SizeError says a code would be larger than its kind's limit: the
// maker must put less in it. It matches ErrInvalid.
type SizeError struct {
	Kind  Kind
	Size  int
	Limit int
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("%v: the %s code would have %d bytes, the limit is %d", ErrInvalid, e.Kind, e.Size, e.Limit)
}

func (e *SizeError) Unwrap() error { return ErrInvalid }

// checkMade refuses to hand out a code that Open… would refuse for its
// size.
func checkMade(k Kind, b []byte) ([]byte, error) {
	if len(b) > k.MaxSize() {
		return nil, &SizeError{Kind: k, Size: len(b), Limit: k.MaxSize()}
	}
	return b, nil
}

func decodePayload(k Kind, payload []byte, v validator) error {
	unmarshal := wire.Unmarshal
	if k.info().bulk {
		unmarshal = wire.UnmarshalBulk
	}
	if err := unmarshal(payload, v); err != nil {
		return &classified{ErrMalformed, fmt.Errorf("%s payload: %w", k, err)}
	}
	return v.validate()
}

// parseSign1 and parseMac0 check the envelope of a code of kind k with the
// limits of its kind.
func parseSign1(k Kind, b []byte) (*cose.Sign1, error) {
	if k.info().bulk {
		return cose.ParseSign1Bulk(b)
	}
	return cose.ParseSign1(b)
}

func parseMac0(k Kind, b []byte) (*cose.Mac0, error) {
	if k.info().bulk {
		return cose.ParseMac0Bulk(b)
	}
	return cose.ParseMac0(b)
}

// signCode validates v and returns a COSE_Sign1 of its payload.
func signCode(k Kind, v validator, key *AuthorityKey) ([]byte, error) {
	if !k.Signed() {
		panic("codes: signCode for " + k.String())
	}
	if err := v.validate(); err != nil {
		return nil, err
	}
	payload, err := wire.Marshal(v)
	if err != nil {
		return nil, err
	}
	id := key.ID()
	code, err := cose.SignSign1(payload, k.Label(), id[:], key.sign)
	if err != nil {
		return nil, err
	}
	return checkMade(k, code)
}

// parseSigned checks the envelope and decodes the payload without verifying
// it. It returns the key id from the protected header.
func parseSigned(k Kind, b []byte) (*cose.Sign1, KeyID, error) {
	var id KeyID
	if err := checkSize(k, b); err != nil {
		return nil, id, err
	}
	s, err := parseSign1(k, b)
	if err != nil {
		return nil, id, classify(err)
	}
	copy(id[:], s.KeyID)
	return s, id, nil
}

// openSigned verifies a COSE_Sign1 of kind k against the trust set and
// decodes its payload into v. It returns the key that signed it. The payload
// is decoded only after the signature verified.
func openSigned(k Kind, b []byte, trust *TrustSet, v validator) (*AuthorityPublicKey, error) {
	s, id, err := parseSigned(k, b)
	if err != nil {
		return nil, err
	}
	key := trust.Key(id)
	if key == nil {
		return nil, fmt.Errorf("%w: %s code is signed by key %s, which is not in the trust set (sequence %d): install a trust update that adds it", ErrUnknownKey, k, id, trust.Sequence)
	}
	if err := s.Verify(k.Label(), key.Sign); err != nil {
		return nil, fmt.Errorf("%w: %s code does not verify with authority key %s", classify(err), k, id)
	}
	if err := decodePayload(k, s.Payload, v); err != nil {
		return nil, err
	}
	return key, nil
}

// sealCode validates v and returns a COSE_Mac0 of its payload.
func sealCode(k Kind, v validator, macKey []byte) ([]byte, error) {
	if k.Signed() {
		panic("codes: sealCode for " + k.String())
	}
	if len(macKey) != cose.MACKeySize {
		return nil, fmt.Errorf("%w: MAC key has %d bytes, want %d", ErrWeakKey, len(macKey), cose.MACKeySize)
	}
	if err := v.validate(); err != nil {
		return nil, err
	}
	payload, err := wire.Marshal(v)
	if err != nil {
		return nil, err
	}
	return checkMade(k, cose.SealMac0(payload, k.Label(), macKey))
}

// parseMACed checks a COSE_Mac0 envelope and decodes its payload into v
// without verifying the MAC.
func parseMACed(k Kind, b []byte, v validator) (*cose.Mac0, error) {
	if err := checkSize(k, b); err != nil {
		return nil, err
	}
	m, err := parseMac0(k, b)
	if err != nil {
		return nil, classify(err)
	}
	if err := decodePayload(k, m.Payload, v); err != nil {
		return nil, err
	}
	return m, nil
}

// verifyMAC checks a parsed Mac0 of kind k with macKey.
func verifyMAC(k Kind, m *cose.Mac0, macKey []byte) error {
	if err := m.Verify(k.Label(), macKey); err != nil {
		return fmt.Errorf("%w: %s code does not verify with the pairwise key of the instance and the authority", classify(err), k)
	}
	return nil
}

// openMACed verifies a COSE_Mac0 of kind k with macKey and decodes its
// payload into v. The MAC is checked before the payload is decoded.
func openMACed(k Kind, b []byte, macKey []byte, v validator) error {
	if err := checkSize(k, b); err != nil {
		return err
	}
	m, err := parseMac0(k, b)
	if err != nil {
		return classify(err)
	}
	if err := verifyMAC(k, m, macKey); err != nil {
		return err
	}
	return decodePayload(k, m.Payload, v)
}

func checkLen(what string, b []byte, want int) error {
	if len(b) != want {
		return fmt.Errorf("%w: %s has %d bytes, want %d", ErrMalformed, what, len(b), want)
	}
	return nil
}

func checkTime(what string, t int64) error {
	if t <= 0 {
		return fmt.Errorf("%w: %s is %d, want Unix seconds after 1970", ErrMalformed, what, t)
	}
	return nil
}
