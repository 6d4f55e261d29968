package codes

import "fmt"

// A Usage report tells the authority how much of each tag an instance used
// over a period, with its clock high-water mark and the head of its local
// journal. The instance makes it (SealUsage); the authority finds the
// instance by its UDI and verifies it with the pairwise key (OpenUsage).
type Usage struct {
	UDI         UDI        `cbor:"1,keyasint"`
	Reservation []byte     `cbor:"2,keyasint,omitempty"` // the installed reservation, if any
	Serial      uint64     `cbor:"3,keyasint,omitempty"` // its serial
	From        int64      `cbor:"4,keyasint"`           // Unix seconds, UTC
	To          int64      `cbor:"5,keyasint"`           // Unix seconds, UTC
	Tags        []TagUsage `cbor:"6,keyasint,omitempty"`
	HighWater   int64      `cbor:"7,keyasint"`           // latest time the instance has seen, Unix seconds
	JournalHead []byte     `cbor:"8,keyasint,omitempty"` // SHA-256 of the last journal entry, 32 bytes
}

// A TagUsage is the peak and current use of one tag.
type TagUsage struct {
	Tag     string `cbor:"1,keyasint"`
	Peak    uint32 `cbor:"2,keyasint,omitempty"`
	Current uint32 `cbor:"3,keyasint,omitempty"`
}

func (u *Usage) validate() error {
	if err := u.UDI.Validate(); err != nil {
		return err
	}
	if (u.Reservation == nil) != (u.Serial == 0) {
		return fmt.Errorf("%w: usage report must name both a reservation and its serial, or neither", ErrInvalid)
	}
	if u.Reservation != nil {
		if err := checkReservation(u.Reservation, u.Serial); err != nil {
			return err
		}
	}
	if err := checkTime("usage period start", u.From); err != nil {
		return err
	}
	if u.To < u.From {
		return fmt.Errorf("%w: usage period ends %s before it starts %s", ErrInvalid, fmtTime(u.To), fmtTime(u.From))
	}
	if err := checkTime("clock high-water mark", u.HighWater); err != nil {
		return err
	}
	if u.JournalHead != nil {
		if err := checkLen("journal head", u.JournalHead, 32); err != nil {
			return err
		}
	}
	if len(u.Tags) > MaxLines {
		return fmt.Errorf("%w: usage report has %d tags, the limit is %d", ErrMalformed, len(u.Tags), MaxLines)
	}
	seen := make(map[string]bool, len(u.Tags))
	for _, t := range u.Tags {
		if err := CheckTag(t.Tag); err != nil {
			return err
		}
		if t.Current > t.Peak {
			return fmt.Errorf("%w: usage of %q is %d, above its peak %d", ErrInvalid, t.Tag, t.Current, t.Peak)
		}
		if seen[t.Tag] {
			return fmt.Errorf("%w: usage report names tag %q twice", ErrInvalid, t.Tag)
		}
		seen[t.Tag] = true
	}
	return nil
}

// SealUsage returns the usage report for u, MACed with the pairwise key.
func SealUsage(u *Usage, macKey []byte) ([]byte, error) {
	return sealCode(KindUsage, u, macKey)
}

// OpenUsage verifies a usage report with the pairwise key.
func OpenUsage(b []byte, macKey []byte) (*Usage, error) {
	var u Usage
	if err := openMACed(KindUsage, b, macKey, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// ParseUnverifiedUsage decodes a usage report without checking its MAC, so
// that the authority can find the instance by its UDI.
func ParseUnverifiedUsage(b []byte) (*Usage, error) {
	var u Usage
	if _, err := parseMACed(KindUsage, b, &u); err != nil {
		return nil, err
	}
	return &u, nil
}
