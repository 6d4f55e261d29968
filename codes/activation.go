package codes

import (
	"bytes"
	"fmt"
	"time"
)

// MaxActivationDevices caps the devices one activation request lists, and
// the device entries one activation file carries.
const MaxActivationDevices = 250_000

// MaxDeviceKeyLen caps a product key (PK) or device key (DK), in bytes.
const MaxDeviceKeyLen = 64

// CheckDeviceKey checks a product key or device key: 1 to MaxDeviceKeyLen
// characters of A–Z, a–z, 0–9 and . _ : -. what names it in the error
// ("product key", "device key").
func CheckDeviceKey(what, k string) error {
	if k == "" {
		return fmt.Errorf("%w: %s is empty", ErrInvalid, what)
	}
	if len(k) > MaxDeviceKeyLen {
		return fmt.Errorf("%w: %s %.16q… has %d characters, the limit is %d", ErrInvalid, what, k, len(k), MaxDeviceKeyLen)
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-' {
			continue
		}
		return fmt.Errorf("%w: %s %q has %q at position %d: use letters, digits and . _ : - only", ErrInvalid, what, k, c, i+1)
	}
	return nil
}

// An ActivationRequest lists devices that activated behind a gateway: the
// gateway, an instance, makes it (SealActivationRequest) and the authority
// checks it (OpenActivationRequest) before it consumes an activation code
// for each new device. Like a Request it carries the gateway's public key,
// and its MAC proves the gateway holds the private half. Product keys are
// sorted and unique, and so are the device keys of each product. A request
// may list no device at all: it then only asks for the current validity of
// the devices the gateway activated before.
type ActivationRequest struct {
	UDI         UDI           `cbor:"1,keyasint"`
	InstanceKey []byte        `cbor:"2,keyasint"` // X25519 public key, 32 bytes
	Nonce       []byte        `cbor:"3,keyasint"` // NonceSize bytes, fresh
	IssuedAt    int64         `cbor:"4,keyasint"` // Unix seconds, UTC
	Products    []DeviceGroup `cbor:"5,keyasint,omitempty"`
}

// A DeviceGroup is the devices of one product, by product key (PK) and
// device keys (DK).
type DeviceGroup struct {
	ProductKey string   `cbor:"1,keyasint"`
	Devices    []string `cbor:"2,keyasint"`
}

// Count returns the devices the request lists.
func (r *ActivationRequest) Count() int {
	n := 0
	for _, g := range r.Products {
		n += len(g.Devices)
	}
	return n
}

func (r *ActivationRequest) validate() error {
	if err := r.UDI.Validate(); err != nil {
		return err
	}
	if err := CheckX25519Public(r.InstanceKey); err != nil {
		return err
	}
	if err := checkLen("activation request nonce", r.Nonce, NonceSize); err != nil {
		return err
	}
	if err := checkTime("activation request time", r.IssuedAt); err != nil {
		return err
	}
	n := 0
	for i, g := range r.Products {
		if err := CheckDeviceKey("product key", g.ProductKey); err != nil {
			return err
		}
		if i > 0 && g.ProductKey <= r.Products[i-1].ProductKey {
			return fmt.Errorf("%w: activation request lists product %q after %q: product keys must be sorted and unique", ErrInvalid, g.ProductKey, r.Products[i-1].ProductKey)
		}
		if len(g.Devices) == 0 {
			return fmt.Errorf("%w: activation request lists product %q with no device", ErrInvalid, g.ProductKey)
		}
		if err := checkSortedKeys(g.ProductKey, len(g.Devices), func(i int) string { return g.Devices[i] }); err != nil {
			return err
		}
		n += len(g.Devices)
		if n > MaxActivationDevices {
			return fmt.Errorf("%w: activation request lists more than %d devices: split it", ErrInvalid, MaxActivationDevices)
		}
	}
	return nil
}

// checkSortedKeys checks that the n device keys key(0…n-1) of product pk
// are valid, sorted and unique.
func checkSortedKeys(pk string, n int, key func(int) string) error {
	for i := range n {
		dk := key(i)
		if err := CheckDeviceKey("device key", dk); err != nil {
			return err
		}
		if i > 0 && dk <= key(i-1) {
			return fmt.Errorf("%w: product %q lists device %q after %q: device keys must be sorted and unique", ErrInvalid, pk, dk, key(i-1))
		}
	}
	return nil
}

// SealActivationRequest returns the activation request code for r, MACed
// with the key that key shares with the authority key a. r.InstanceKey is
// set to key's public half.
func SealActivationRequest(r *ActivationRequest, key *InstanceKey, a *AuthorityPublicKey) ([]byte, error) {
	pub := key.Public()
	if r.InstanceKey != nil && !bytes.Equal(r.InstanceKey, pub) {
		return nil, fmt.Errorf("%w: activation request names another instance key than the one sealing it", ErrInvalid)
	}
	r.InstanceKey = pub
	macKey, err := key.MACKey(a)
	if err != nil {
		return nil, err
	}
	return sealCode(KindActivationRequest, r, macKey)
}

// OpenActivationRequest verifies an activation request code with the
// authority key it was made for, as OpenRequest does for a request. The
// caller must still check the gateway key against the one pinned for the
// UDI.
func OpenActivationRequest(b []byte, key *AuthorityKey) (*ActivationRequest, error) {
	var r ActivationRequest
	m, err := parseMACed(KindActivationRequest, b, &r)
	if err != nil {
		return nil, err
	}
	macKey, err := key.MACKey(r.InstanceKey)
	if err != nil {
		return nil, err
	}
	if err := verifyMAC(KindActivationRequest, m, macKey); err != nil {
		return nil, err
	}
	return &r, nil
}

// ParseUnverifiedActivationRequest decodes an activation request code for
// display only.
func ParseUnverifiedActivationRequest(b []byte) (*ActivationRequest, error) {
	var r ActivationRequest
	if _, err := parseMACed(KindActivationRequest, b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// An Activation answers an activation request: the authority signs it for
// the gateway named by UDI and key, and it lists the validity of every
// device the gateway activated that the ledger still holds (the devices of
// the request and those of earlier ones, renewed or not), and the devices
// of the request it refused, with the reason. The gateway installs it
// (OpenActivation, then Check) in place of the activation it held.
type Activation struct {
	UDI         UDI              `cbor:"1,keyasint"`
	InstanceKey []byte           `cbor:"2,keyasint"` // InstanceKeyHash of the gateway public key
	Nonce       []byte           `cbor:"3,keyasint"` // the activation request's nonce
	IssuedAt    int64            `cbor:"4,keyasint"` // Unix seconds, UTC
	Products    []DeviceValidity `cbor:"5,keyasint,omitempty"`

	KeyID KeyID `cbor:"-"` // the authority key that signed it, set by Open…
}

// DeviceValidity is what an activation file says of one product's devices:
// for each device it holds, the window its activation code covers, and
// for each device of the request it refused, why. Product keys are sorted
// and unique in an activation, and so are the device keys of each list;
// no device is both active and refused.
type DeviceValidity struct {
	ProductKey string          `cbor:"1,keyasint"`
	Active     []DeviceWindow  `cbor:"2,keyasint,omitempty"`
	Refused    []DeviceRefusal `cbor:"3,keyasint,omitempty"`
}

// A DeviceWindow is the validity of one device's activation code: from
// From (inclusive) to Until (exclusive), Unix seconds. A window that has
// ended is still listed, so that the gateway tells an expired device from
// an unknown one.
type DeviceWindow struct {
	_         struct{} `cbor:",toarray"`
	DeviceKey string
	From      int64
	Until     int64
}

// ActiveAt reports whether the window covers t.
func (w DeviceWindow) ActiveAt(t time.Time) bool {
	s := t.Unix()
	return w.From <= s && s < w.Until
}

// A DeviceRefusal is a device of the request that the authority did not
// activate, with the reason.
type DeviceRefusal struct {
	_         struct{} `cbor:",toarray"`
	DeviceKey string
	Reason    Refusal
}

// A Refusal says why the authority did not activate a device.
type Refusal uint8

// The refusal reasons. The numbers are part of the format.
const (
	RefusedNoCodes        Refusal = 1 // the product has no activation code left
	RefusedUnknownProduct Refusal = 2 // no product has this product key
	RefusedProductDeleted Refusal = 3 // the product was deleted
	RefusedOtherGateway   Refusal = 4 // the product belongs to another organization than the gateway
	RefusedNoPool         Refusal = 5 // no activation code was ever allocated to the product
)

var refusalText = map[Refusal]string{
	RefusedNoCodes:        "the product has no activation code left",
	RefusedUnknownProduct: "no product has this product key",
	RefusedProductDeleted: "the product was deleted",
	RefusedOtherGateway:   "the product belongs to another organization than the gateway",
	RefusedNoPool:         "no activation code was ever allocated to the product",
}

// String says why, in words.
func (r Refusal) String() string {
	if s, ok := refusalText[r]; ok {
		return s
	}
	return fmt.Sprintf("refusal(%d)", uint8(r))
}

// Count returns the device entries of the activation, active and refused.
func (a *Activation) Count() int {
	n := 0
	for _, g := range a.Products {
		n += len(g.Active) + len(g.Refused)
	}
	return n
}

func (a *Activation) validate() error {
	if err := a.UDI.Validate(); err != nil {
		return err
	}
	if err := checkLen("gateway key hash", a.InstanceKey, InstanceKeyHashLen); err != nil {
		return err
	}
	if err := checkLen("activation request nonce", a.Nonce, NonceSize); err != nil {
		return err
	}
	if err := checkTime("activation time", a.IssuedAt); err != nil {
		return err
	}
	n := 0
	for i, g := range a.Products {
		if err := CheckDeviceKey("product key", g.ProductKey); err != nil {
			return err
		}
		if i > 0 && g.ProductKey <= a.Products[i-1].ProductKey {
			return fmt.Errorf("%w: activation lists product %q after %q: product keys must be sorted and unique", ErrInvalid, g.ProductKey, a.Products[i-1].ProductKey)
		}
		if len(g.Active) == 0 && len(g.Refused) == 0 {
			return fmt.Errorf("%w: activation lists product %q with no device", ErrInvalid, g.ProductKey)
		}
		if err := checkSortedKeys(g.ProductKey, len(g.Active), func(i int) string { return g.Active[i].DeviceKey }); err != nil {
			return err
		}
		for _, w := range g.Active {
			if err := checkTime("device activation start", w.From); err != nil {
				return err
			}
			if w.Until <= w.From {
				return fmt.Errorf("%w: device %q of product %q: validity ends %s, not after it starts %s", ErrInvalid, w.DeviceKey, g.ProductKey, fmtTime(w.Until), fmtTime(w.From))
			}
		}
		if err := checkSortedKeys(g.ProductKey, len(g.Refused), func(i int) string { return g.Refused[i].DeviceKey }); err != nil {
			return err
		}
		for _, r := range g.Refused {
			if _, ok := refusalText[r.Reason]; !ok {
				return fmt.Errorf("%w: device %q of product %q is refused for unknown reason %d", ErrInvalid, r.DeviceKey, g.ProductKey, r.Reason)
			}
		}
		if err := disjoint(g); err != nil {
			return err
		}
		n += len(g.Active) + len(g.Refused)
		if n > MaxActivationDevices {
			return fmt.Errorf("%w: activation lists more than %d devices", ErrInvalid, MaxActivationDevices)
		}
	}
	return nil
}

// disjoint checks that no device of g is both active and refused; both
// lists are sorted.
func disjoint(g DeviceValidity) error {
	i, j := 0, 0
	for i < len(g.Active) && j < len(g.Refused) {
		a, r := g.Active[i].DeviceKey, g.Refused[j].DeviceKey
		switch {
		case a == r:
			return fmt.Errorf("%w: activation lists device %q of product %q as both active and refused", ErrInvalid, a, g.ProductKey)
		case a < r:
			i++
		default:
			j++
		}
	}
	return nil
}

// SignActivation validates a and signs it with key.
func SignActivation(a *Activation, key *AuthorityKey) ([]byte, error) {
	return signCode(KindActivation, a, key)
}

// OpenActivation verifies an activation file's code against the trust
// set, as OpenAuthorization does. Call Check before installing it.
func OpenActivation(b []byte, trust *TrustSet) (*Activation, error) {
	var a Activation
	key, err := openSigned(KindActivation, b, trust, &a)
	if err != nil {
		return nil, err
	}
	if !key.ValidAt(a.IssuedAt) {
		return nil, keyWindowError(KindActivation, key, a.IssuedAt)
	}
	a.KeyID = key.ID()
	return &a, nil
}

// ParseUnverifiedActivation decodes an activation code for display only.
func ParseUnverifiedActivation(b []byte) (*Activation, error) {
	s, id, err := parseSigned(KindActivation, b)
	if err != nil {
		return nil, err
	}
	var a Activation
	if err := decodePayload(KindActivation, s.Payload, &a); err != nil {
		return nil, err
	}
	a.KeyID = id
	return &a, nil
}

// Check applies the binding rules that need no state: the activation must
// name this gateway's UDI and public key. Matching the nonce to a pending
// activation request is the caller's.
func (a *Activation) Check(udi UDI, instancePub []byte) error {
	if !a.UDI.Equal(udi) {
		return fmt.Errorf("%w: activation file is for gateway %s but this instance is %s", ErrWrongInstance, a.UDI.Short(), udi.Short())
	}
	if !bytes.Equal(a.InstanceKey, InstanceKeyHash(instancePub)) {
		return fmt.Errorf("%w: activation file is for gateway key %x but this instance's key is %x (was the instance state rebuilt? make a new activation request)", ErrWrongInstance, a.InstanceKey[:4], InstanceKeyHash(instancePub)[:4])
	}
	return nil
}
