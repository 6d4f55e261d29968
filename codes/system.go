package codes

import (
	"bytes"
	"fmt"
)

// A System describes an offline system to the authority: its UDI and
// instance key, a name, its hardware components and how many licenses of
// each tag it needs. The instance makes it as a file (SealSystem); the
// authority registers the system from it (OpenSystem) and answers with an
// authorization. Like a request, it carries the instance public key and its
// MAC proves possession of the private half.
type System struct {
	UDI         UDI         `cbor:"1,keyasint"`
	InstanceKey []byte      `cbor:"2,keyasint"` // X25519 public key, 32 bytes
	Name        string      `cbor:"3,keyasint"`
	Components  []Component `cbor:"4,keyasint,omitempty"`
	Demand      []License   `cbor:"5,keyasint,omitempty"`
	IssuedAt    int64       `cbor:"6,keyasint"` // Unix seconds, UTC
	Nonce       []byte      `cbor:"7,keyasint"` // 8 bytes, fresh
}

// A Component is a piece of hardware in a system: its id (serial or
// hardware id), its model, and optionally the tag of a hardware-bound
// license it needs.
type Component struct {
	ID    string `cbor:"1,keyasint"`
	Model string `cbor:"2,keyasint"`
	Tag   string `cbor:"3,keyasint,omitempty"`
}

// MaxNameLen caps system names and component models, in bytes.
const MaxNameLen = 128

func checkText(what, s string, max int) error {
	if s == "" || len(s) > max {
		return fmt.Errorf("%w: %s must have 1 to %d characters, has %d", ErrMalformed, what, max, len(s))
	}
	for _, c := range s {
		if c < ' ' || c == 0x7f {
			return fmt.Errorf("%w: %s %q has a control character", ErrMalformed, what, s)
		}
	}
	return nil
}

func (s *System) validate() error {
	if err := s.UDI.Validate(); err != nil {
		return err
	}
	if err := CheckX25519Public(s.InstanceKey); err != nil {
		return err
	}
	if err := checkText("system name", s.Name, MaxNameLen); err != nil {
		return err
	}
	if len(s.Components) > MaxLines {
		return fmt.Errorf("%w: system has %d components, the limit is %d", ErrMalformed, len(s.Components), MaxLines)
	}
	seen := make(map[string]bool, len(s.Components))
	for _, c := range s.Components {
		if err := checkText("component id", c.ID, MaxComponentLen); err != nil {
			return err
		}
		if err := checkText("component model", c.Model, MaxNameLen); err != nil {
			return err
		}
		if c.Tag != "" {
			if err := CheckTag(c.Tag); err != nil {
				return err
			}
		}
		if seen[c.ID] {
			return fmt.Errorf("%w: system lists component %q twice", ErrInvalid, c.ID)
		}
		seen[c.ID] = true
	}
	if err := validateLicenses("system demand", s.Demand); err != nil {
		return err
	}
	if err := checkTime("system description time", s.IssuedAt); err != nil {
		return err
	}
	return checkLen("system description nonce", s.Nonce, NonceSize)
}

// SealSystem returns the system description for s, MACed with the key that
// key shares with the authority key a. s.InstanceKey is set to key's public
// half.
func SealSystem(s *System, key *InstanceKey, a *AuthorityPublicKey) ([]byte, error) {
	pub := key.Public()
	if s.InstanceKey != nil && !bytes.Equal(s.InstanceKey, pub) {
		return nil, fmt.Errorf("%w: system description names another instance key than the one sealing it", ErrInvalid)
	}
	s.InstanceKey = pub
	macKey, err := key.MACKey(a)
	if err != nil {
		return nil, err
	}
	return sealCode(KindSystem, s, macKey)
}

// OpenSystem verifies a system description with the authority key it was
// made for, as OpenRequest does.
func OpenSystem(b []byte, key *AuthorityKey) (*System, error) {
	var s System
	m, err := parseMACed(KindSystem, b, &s)
	if err != nil {
		return nil, err
	}
	macKey, err := key.MACKey(s.InstanceKey)
	if err != nil {
		return nil, err
	}
	if err := verifyMAC(KindSystem, m, macKey); err != nil {
		return nil, err
	}
	return &s, nil
}

// ParseUnverifiedSystem decodes a system description for display only.
func ParseUnverifiedSystem(b []byte) (*System, error) {
	var s System
	if _, err := parseMACed(KindSystem, b, &s); err != nil {
		return nil, err
	}
	return &s, nil
}
