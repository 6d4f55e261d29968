package codes

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// A UDI identifies an instance: product id, serial number and UUID, written
// "P:UCM,S:edb16,U:d9a2c661-8fe1-4ce7-9e6f-bbc68a3edb16".
type UDI struct {
	PID  string `cbor:"1,keyasint"`
	SN   string `cbor:"2,keyasint"`
	UUID []byte `cbor:"3,keyasint"` // 16 bytes
}

// Limits on UDI parts, in bytes: product ids and serial numbers seen in the
// field are under 20 characters; 64 leaves room without letting a request
// code grow past what a person can type.
const (
	MaxPIDLen = 64
	MaxSNLen  = 64
	uuidSize  = 16
)

// ParseUDI parses the text form "P:<pid>,S:<sn>,U:<uuid>". The parts may
// come in any order; each must appear once. The UUID is written in the usual
// 8-4-4-4-12 hex form, any case.
func ParseUDI(s string) (UDI, error) {
	var u UDI
	var seen [3]bool
	s = strings.TrimSpace(s)
	if s == "" {
		return u, fmt.Errorf("%w: empty UDI: write it as P:<product>,S:<serial>,U:<uuid>", ErrMalformed)
	}
	for _, part := range strings.Split(s, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			return u, fmt.Errorf("%w: UDI part %q has no \":\": write it as P:<product>,S:<serial>,U:<uuid>", ErrMalformed, part)
		}
		var i int
		switch strings.ToUpper(name) {
		case "P":
			i, u.PID = 0, value
		case "S":
			i, u.SN = 1, value
		case "U":
			i = 2
			b, err := parseUUID(value)
			if err != nil {
				return UDI{}, err
			}
			u.UUID = b
		default:
			return UDI{}, fmt.Errorf("%w: UDI part %q is not P, S or U", ErrMalformed, name)
		}
		if seen[i] {
			return UDI{}, fmt.Errorf("%w: UDI part %s appears twice", ErrMalformed, strings.ToUpper(name))
		}
		seen[i] = true
	}
	for i, name := range []string{"P (product id)", "S (serial number)", "U (UUID)"} {
		if !seen[i] {
			return UDI{}, fmt.Errorf("%w: UDI %q has no %s part", ErrMalformed, s, name)
		}
	}
	return u, u.Validate()
}

func parseUUID(s string) ([]byte, error) {
	h := strings.ReplaceAll(s, "-", "")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != uuidSize || len(s) != 36 {
		return nil, fmt.Errorf("%w: UUID %q is not of the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", ErrMalformed, s)
	}
	return b, nil
}

// Validate checks the UDI's parts: PID and SN of 1 to 64 printable ASCII
// characters other than ',' and ':', and a 16-byte UUID.
func (u UDI) Validate() error {
	if err := checkUDIPart("product id", u.PID, MaxPIDLen); err != nil {
		return err
	}
	if err := checkUDIPart("serial number", u.SN, MaxSNLen); err != nil {
		return err
	}
	if len(u.UUID) != uuidSize {
		return fmt.Errorf("%w: UDI UUID has %d bytes, want %d", ErrMalformed, len(u.UUID), uuidSize)
	}
	return nil
}

func checkUDIPart(what, s string, max int) error {
	if s == "" || len(s) > max {
		return fmt.Errorf("%w: UDI %s must have 1 to %d characters, has %d", ErrMalformed, what, max, len(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' || c == ',' || c == ':' {
			return fmt.Errorf("%w: UDI %s %q has character %q, allowed are printable ASCII but space, ',' and ':'", ErrMalformed, what, s, c)
		}
	}
	return nil
}

// String returns the text form, e.g.
// "P:UCM,S:edb16,U:d9a2c661-8fe1-4ce7-9e6f-bbc68a3edb16".
func (u UDI) String() string {
	if len(u.UUID) != uuidSize {
		return fmt.Sprintf("P:%s,S:%s,U:%x", u.PID, u.SN, u.UUID)
	}
	h := hex.EncodeToString(u.UUID)
	return fmt.Sprintf("P:%s,S:%s,U:%s-%s-%s-%s-%s", u.PID, u.SN, h[:8], h[8:12], h[12:16], h[16:20], h[20:])
}

// Short returns the product id and serial number, "P:UCM,S:edb16", the
// part people compare by eye.
func (u UDI) Short() string { return fmt.Sprintf("P:%s,S:%s", u.PID, u.SN) }

// Equal reports whether u and v name the same instance.
func (u UDI) Equal(v UDI) bool {
	return u.PID == v.PID && u.SN == v.SN && string(u.UUID) == string(v.UUID)
}
