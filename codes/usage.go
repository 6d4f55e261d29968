package codes

import (
	"bytes"
	"fmt"
)

// A Usage report tells the authority how much of each tag an instance used
// over a period, with its clock high-water mark and the state of its local
// journal. The instance makes it (SealUsage); the authority finds the
// instance by its UDI and verifies it with the pairwise key (OpenUsage).
//
// The journal fields let the authority notice two histories of one
// instance (a restored backup, a copy of the state folder): JournalHead
// and JournalCount say where the journal is, PreviousHead where it was
// when the instance made its previous report. The reports of one history
// chain: each one's PreviousHead is the JournalHead of the one before, and
// its JournalCount is greater. The instance always sets JournalHead and
// JournalCount, and PreviousHead from its second report on; a report
// without them is valid and tells the authority nothing about forks.
type Usage struct {
	UDI          UDI        `cbor:"1,keyasint"`
	Reservation  []byte     `cbor:"2,keyasint,omitempty"` // the installed reservation, if any
	Serial       uint64     `cbor:"3,keyasint,omitempty"` // its serial
	From         int64      `cbor:"4,keyasint"`           // Unix seconds, UTC
	To           int64      `cbor:"5,keyasint"`           // Unix seconds, UTC
	Tags         []TagUsage `cbor:"6,keyasint,omitempty"`
	HighWater    int64      `cbor:"7,keyasint"`            // latest time the instance has seen, Unix seconds
	JournalHead  []byte     `cbor:"8,keyasint,omitempty"`  // SHA-256 of the last journal entry, 32 bytes
	JournalCount uint64     `cbor:"9,keyasint,omitempty"`  // journal entries ever written; present iff JournalHead is
	PreviousHead []byte     `cbor:"10,keyasint,omitempty"` // JournalHead of the previous report, 32 bytes; absent in the first
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
	if (u.JournalHead == nil) != (u.JournalCount == 0) {
		return fmt.Errorf("%w: usage report must carry both a journal head and a journal count, or neither", ErrInvalid)
	}
	if u.PreviousHead != nil {
		if err := checkLen("previous journal head", u.PreviousHead, 32); err != nil {
			return err
		}
		if u.JournalHead == nil {
			return fmt.Errorf("%w: usage report names a previous journal head but no journal head", ErrInvalid)
		}
		if bytes.Equal(u.PreviousHead, u.JournalHead) {
			return fmt.Errorf("%w: usage report's previous journal head is its journal head: each report adds a journal entry", ErrInvalid)
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
