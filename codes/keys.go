package codes

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/airlock-dev/airlock/formats/cose"
	"github.com/airlock-dev/airlock/formats/wire"
)

// Key sizes in bytes.
const (
	PublicKeySize      = 32 // Ed25519 and X25519 public keys
	InstanceKeyHashLen = 16 // the instance key hash in an authorization
	KeyIDSize          = cose.KeyIDSize
)

// A KeyID names an authority key: the first 8 bytes of SHA-256 over a
// domain label and both public halves. It selects a key; it proves nothing.
type KeyID [KeyIDSize]byte

func (id KeyID) String() string { return hex.EncodeToString(id[:]) }

// ParseKeyID parses the 16-hex-digit form.
func ParseKeyID(s string) (KeyID, error) {
	var id KeyID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != KeyIDSize {
		return id, fmt.Errorf("%w: key id %q is not %d hex digits", ErrMalformed, s, 2*KeyIDSize)
	}
	copy(id[:], b)
	return id, nil
}

// An AuthorityPublicKey is what instances trust: the Ed25519 key that signs
// authority codes, the X25519 key that instance codes are MACed against, and
// the window in which the key may issue codes.
type AuthorityPublicKey struct {
	Sign      []byte `cbor:"1,keyasint"`           // Ed25519, 32 bytes
	Agree     []byte `cbor:"2,keyasint"`           // X25519, 32 bytes
	NotBefore int64  `cbor:"3,keyasint,omitempty"` // Unix seconds, UTC; 0: no start
	NotAfter  int64  `cbor:"4,keyasint,omitempty"` // Unix seconds, UTC; 0: no end
}

// ID returns the key's id.
func (k *AuthorityPublicKey) ID() KeyID {
	h := sha256.New()
	h.Write([]byte(labelPrefix + "key-id"))
	h.Write(k.Sign)
	h.Write(k.Agree)
	var id KeyID
	copy(id[:], h.Sum(nil))
	return id
}

// Validate checks both halves' lengths, that the X25519 half is not of low
// order, and that the window is ordered.
func (k *AuthorityPublicKey) Validate() error {
	if len(k.Sign) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: authority signing key has %d bytes, want %d", ErrWeakKey, len(k.Sign), ed25519.PublicKeySize)
	}
	if err := CheckX25519Public(k.Agree); err != nil {
		return err
	}
	if k.NotAfter != 0 && k.NotAfter <= k.NotBefore {
		return fmt.Errorf("%w: authority key %s window ends %s before it starts %s", ErrInvalid, k.ID(), fmtTime(k.NotAfter), fmtTime(k.NotBefore))
	}
	return nil
}

// ValidAt reports whether t (Unix seconds) falls in the key's window.
func (k *AuthorityPublicKey) ValidAt(t int64) bool {
	return (k.NotBefore == 0 || t >= k.NotBefore) && (k.NotAfter == 0 || t < k.NotAfter)
}

// lowOrderPoints are the u-coordinates of the X25519 points of order 1, 2,
// 4 and 8 (0, 1, two of order 8, p-1) and the non-canonical encodings p and
// p+1 of 0 and 1. X25519 ignores the top bit of the last byte (RFC 7748
// §5), so each also has a second encoding with that bit set.
var lowOrderPoints = func() [][]byte {
	hexes := []string{
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	}
	var pts [][]byte
	for _, h := range hexes {
		b, err := hex.DecodeString(h)
		if err != nil {
			panic("codes: " + err.Error())
		}
		high := bytes.Clone(b)
		high[31] |= 0x80
		pts = append(pts, b, high)
	}
	return pts
}()

// CheckX25519Public refuses an X25519 public key of the wrong length or of
// low order. With a low-order key the shared secret is all zeros, and anyone
// could compute the MAC key of that instance. (The ECDH that derives a MAC
// key refuses an all-zero secret as well; this check names the problem
// before any key is derived.)
func CheckX25519Public(pub []byte) error {
	if len(pub) != PublicKeySize {
		return fmt.Errorf("%w: X25519 public key has %d bytes, want %d", ErrWeakKey, len(pub), PublicKeySize)
	}
	for _, p := range lowOrderPoints {
		if bytes.Equal(pub, p) {
			return fmt.Errorf("%w: X25519 public key is of low order", ErrWeakKey)
		}
	}
	return nil
}

// An AuthorityKey is the private half of an authority key.
type AuthorityKey struct {
	Public AuthorityPublicKey
	sign   ed25519.PrivateKey
	agree  *ecdh.PrivateKey
}

// authorityKeyFile is the plaintext of an authority private key file, before
// it is armored and encrypted.
type authorityKeyFile struct {
	SignSeed  []byte `cbor:"1,keyasint"` // 32 bytes
	Agree     []byte `cbor:"2,keyasint"` // X25519 private scalar, 32 bytes
	NotBefore int64  `cbor:"3,keyasint,omitempty"`
	NotAfter  int64  `cbor:"4,keyasint,omitempty"`
}

// GenerateAuthorityKey makes a new authority key from 64 bytes of rand,
// valid from notBefore to notAfter (zero times: unbounded).
func GenerateAuthorityKey(rand io.Reader, notBefore, notAfter time.Time) (*AuthorityKey, error) {
	var seed [64]byte
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, err
	}
	return newAuthorityKey(authorityKeyFile{
		SignSeed:  seed[:32],
		Agree:     seed[32:],
		NotBefore: unixOrZero(notBefore),
		NotAfter:  unixOrZero(notAfter),
	})
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func newAuthorityKey(f authorityKeyFile) (*AuthorityKey, error) {
	if len(f.SignSeed) != ed25519.SeedSize || len(f.Agree) != 32 {
		return nil, fmt.Errorf("%w: authority key file has keys of %d and %d bytes, want 32 and 32", ErrMalformed, len(f.SignSeed), len(f.Agree))
	}
	agree, err := ecdh.X25519().NewPrivateKey(f.Agree)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	sign := ed25519.NewKeyFromSeed(f.SignSeed)
	k := &AuthorityKey{
		sign:  sign,
		agree: agree,
		Public: AuthorityPublicKey{
			Sign:      sign.Public().(ed25519.PublicKey),
			Agree:     agree.PublicKey().Bytes(),
			NotBefore: f.NotBefore,
			NotAfter:  f.NotAfter,
		},
	}
	if err := k.Public.Validate(); err != nil {
		return nil, err
	}
	return k, nil
}

// ID returns the key's id.
func (k *AuthorityKey) ID() KeyID { return k.Public.ID() }

// MarshalPrivate returns the plaintext key file content. The caller must
// encrypt it before it touches a disk (package seal).
func (k *AuthorityKey) MarshalPrivate() []byte {
	return wire.MustMarshal(authorityKeyFile{
		SignSeed:  k.sign.Seed(),
		Agree:     k.agree.Bytes(),
		NotBefore: k.Public.NotBefore,
		NotAfter:  k.Public.NotAfter,
	})
}

// ParseAuthorityKey is the inverse of MarshalPrivate.
func ParseAuthorityKey(b []byte) (*AuthorityKey, error) {
	var f authorityKeyFile
	if err := wire.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%w: authority key file: %v", ErrMalformed, err)
	}
	return newAuthorityKey(f)
}

// MACKey derives the pairwise MAC key shared with the instance whose X25519
// public key is instancePub. It fails with ErrWeakKey for a low-order key.
func (k *AuthorityKey) MACKey(instancePub []byte) ([]byte, error) {
	if err := CheckX25519Public(instancePub); err != nil {
		return nil, err
	}
	p, _ := ecdh.X25519().NewPublicKey(instancePub)
	shared, err := k.agree.ECDH(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrWeakKey, err)
	}
	return pairwiseKey(shared, instancePub, k.Public.Agree), nil
}

// An InstanceKey is the X25519 key pair an instance makes when it is first
// enabled. Its public half travels in request codes; authorization codes
// name its hash; the codes the instance makes are MACed with the key it
// shares with the authority.
type InstanceKey struct {
	priv *ecdh.PrivateKey
}

// GenerateInstanceKey makes a new instance key from 32 bytes of rand.
func GenerateInstanceKey(rand io.Reader) (*InstanceKey, error) {
	var seed [32]byte
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, err
	}
	return ParseInstanceKey(seed[:])
}

// ParseInstanceKey makes an instance key from its 32-byte private scalar.
func ParseInstanceKey(b []byte) (*InstanceKey, error) {
	priv, err := ecdh.X25519().NewPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: instance private key: %v", ErrMalformed, err)
	}
	return &InstanceKey{priv: priv}, nil
}

// Bytes returns the 32-byte private scalar, for the instance's state file.
func (k *InstanceKey) Bytes() []byte { return k.priv.Bytes() }

// Public returns the 32-byte X25519 public key.
func (k *InstanceKey) Public() []byte { return k.priv.PublicKey().Bytes() }

// Hash returns the instance key hash named in authorization codes.
func (k *InstanceKey) Hash() []byte { return InstanceKeyHash(k.Public()) }

// InstanceKeyHash returns the first 16 bytes of SHA-256 of an instance
// public key.
func InstanceKeyHash(pub []byte) []byte {
	h := sha256.Sum256(pub)
	return h[:InstanceKeyHashLen]
}

// MACKey derives the pairwise MAC key shared with the authority key a.
func (k *InstanceKey) MACKey(a *AuthorityPublicKey) ([]byte, error) {
	if err := CheckX25519Public(a.Agree); err != nil {
		return nil, err
	}
	p, _ := ecdh.X25519().NewPublicKey(a.Agree)
	shared, err := k.priv.ECDH(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrWeakKey, err)
	}
	return pairwiseKey(shared, k.Public(), a.Agree), nil
}

// pairwiseKey is HKDF-SHA256 (RFC 5869) with the X25519 shared secret as
// input keying material, no salt, and as info the versioned label followed
// by the instance and authority public keys, so the key is bound to both.
func pairwiseKey(shared, instancePub, authorityPub []byte) []byte {
	info := make([]byte, 0, 64+len(labelPrefix)+8)
	info = append(info, labelPrefix+"pairwise-mac"...)
	info = append(info, instancePub...)
	info = append(info, authorityPub...)
	key, err := hkdf.Key(sha256.New, shared, nil, string(info), cose.MACKeySize)
	if err != nil {
		panic("codes: " + err.Error())
	}
	return key
}
