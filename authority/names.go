package authority

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/airlock-dev/airlock/codes"
)

// MaxNameLen caps organization and account names, in bytes.
const MaxNameLen = 64

// CheckName checks an organization or account name: 1 to MaxNameLen
// characters, letters, digits, '.', '_' and '-', starting with a letter or
// digit. Names appear in "ORG/ACCOUNT" references and on command lines,
// so they hold no '/' and no spaces.
func CheckName(what, s string) error {
	if s == "" || len(s) > MaxNameLen {
		return fmt.Errorf("%w: %s name must have 1 to %d characters, has %d", ErrInvalid, what, MaxNameLen, len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			i > 0 && (c == '.' || c == '_' || c == '-')
		if !ok {
			return fmt.Errorf("%w: %s name %q has %q at position %d: use letters, digits, '.', '_' and '-', starting with a letter or digit", ErrInvalid, what, s, c, i+1)
		}
	}
	return nil
}

// checkLabel checks text an operator gives for people to read (a
// product name, a contact, a reason): 1 to 128 characters, none of them
// a control character. CheckName is for the names in references.
func checkLabel(what, s string) error {
	if err := checkText(what, s, 128); err != nil {
		return err
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f {
			return fmt.Errorf("%w: %s %q has a control character", ErrInvalid, what, s)
		}
	}
	return nil
}

// ParseAccountRef splits "ORG/ACCOUNT" and checks both names.
func ParseAccountRef(ref string) (org, account string, err error) {
	org, account, ok := strings.Cut(ref, "/")
	if !ok {
		return "", "", fmt.Errorf("%w: account %q is not of the form ORG/ACCOUNT", ErrInvalid, ref)
	}
	if err := CheckName("organization", org); err != nil {
		return "", "", err
	}
	if err := CheckName("account", account); err != nil {
		return "", "", err
	}
	return org, account, nil
}

// FormatReservationID returns a reservation id as 8 hex digits, as
// airlock code inspect shows it.
func FormatReservationID(id uint32) string {
	var b [codes.ReservationIDSize]byte
	binary.BigEndian.PutUint32(b[:], id)
	return hex.EncodeToString(b[:])
}

// reservationID reads the 4-byte id of a code.
func reservationID(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

func reservationBytes(id uint32) []byte {
	return binary.BigEndian.AppendUint32(nil, id)
}

// ParseLicense parses "TAG=N", N from 0 (in an update: drop the tag) to
// 2^32-1.
func ParseLicense(s string) (codes.License, error) {
	tag, n, ok := strings.Cut(s, "=")
	if !ok {
		return codes.License{}, fmt.Errorf("%w: license %q is not of the form TAG=COUNT", ErrInvalid, s)
	}
	if err := codes.CheckTag(tag); err != nil {
		return codes.License{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	c, err := strconv.ParseUint(n, 10, 32)
	if err != nil {
		return codes.License{}, fmt.Errorf("%w: license %q: count %q is not a number from 0 to %d", ErrInvalid, s, n, uint32(1<<32-1))
	}
	return codes.License{Tag: tag, Count: uint32(c)}, nil
}

// FormatLicenses returns "25 vms.camera.core, 4 vms.analytics".
func FormatLicenses(ls []codes.License) string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = fmt.Sprintf("%d %s", l.Count, l.Tag)
	}
	return strings.Join(parts, ", ")
}

// FormatKeyLines returns "25 vms.camera.core, 4 vms.analytics".
func FormatKeyLines(ls []KeyLine) string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = fmt.Sprintf("%d %s", l.Count, l.Tag)
	}
	return strings.Join(parts, ", ")
}

// An instanceRef names an instance: a full UDI ("P:UCM,S:edb16,U:d9a2…"),
// or its product id and serial number alone ("P:UCM,S:edb16"), which must
// then match one live instance.
type instanceRef struct {
	udi     string // full UDI text, or ""
	pid, sn string
}

func (r instanceRef) String() string {
	if r.udi != "" {
		return r.udi
	}
	return fmt.Sprintf("P:%s,S:%s", r.pid, r.sn)
}

func parseInstanceRef(s string) (instanceRef, error) {
	if u, err := codes.ParseUDI(s); err == nil {
		return instanceRef{udi: u.String()}, nil
	}
	bad := fmt.Errorf("%w: instance %q is not a UDI (P:<product>,S:<serial>,U:<uuid>) or its P:<product>,S:<serial> part", ErrInvalid, s)
	parts := strings.Split(strings.TrimSpace(s), ",")
	if len(parts) != 2 {
		return instanceRef{}, bad
	}
	var r instanceRef
	for _, part := range parts {
		name, value, ok := strings.Cut(strings.TrimSpace(part), ":")
		switch {
		case ok && value != "" && strings.EqualFold(name, "P") && r.pid == "":
			r.pid = value
		case ok && value != "" && strings.EqualFold(name, "S") && r.sn == "":
			r.sn = value
		default:
			return instanceRef{}, bad
		}
	}
	return r, nil
}
