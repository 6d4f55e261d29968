package codes

import (
	"fmt"
	"strings"
	"time"
)

// An EntitlementKind says how an entitlement is bounded.
type EntitlementKind uint8

// The entitlement kinds. The numbers are encoded; never reuse one.
const (
	Perpetual    EntitlementKind = 0 // no dates
	Term         EntitlementKind = 1 // valid from Start to End
	Subscription EntitlementKind = 2 // valid from Start to End, renewed by a newer code
	Hardware     EntitlementKind = 3 // bound to one component; optional dates
)

func (k EntitlementKind) String() string {
	switch k {
	case Perpetual:
		return "perpetual"
	case Term:
		return "term"
	case Subscription:
		return "subscription"
	case Hardware:
		return "hardware"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ParseEntitlementKind is the inverse of EntitlementKind.String.
func ParseEntitlementKind(s string) (EntitlementKind, error) {
	for k := Perpetual; k <= Hardware; k++ {
		if strings.EqualFold(s, k.String()) {
			return k, nil
		}
	}
	return 0, fmt.Errorf("%w: entitlement kind %q is not perpetual, term, subscription or hardware", ErrMalformed, s)
}

// An Entitlement is the right to use Count licenses of Tag.
type Entitlement struct {
	Tag              string          `cbor:"1,keyasint"`
	Count            uint32          `cbor:"2,keyasint"`
	Kind             EntitlementKind `cbor:"3,keyasint"`
	Start            int64           `cbor:"4,keyasint,omitempty"` // Unix seconds, UTC; term and subscription
	End              int64           `cbor:"5,keyasint,omitempty"` // Unix seconds, UTC, exclusive
	ExportControlled bool            `cbor:"6,keyasint,omitempty"`
	Component        string          `cbor:"7,keyasint,omitempty"` // hardware: the component id it is bound to
}

// A License is a tag and a count: what a request or a system description
// asks for.
type License struct {
	Tag   string `cbor:"1,keyasint"`
	Count uint32 `cbor:"2,keyasint"`
}

// Limits on tags and lists. Tags seen in the field (SWID regids) run to
// about 80 characters; 256 bytes leaves room. 256 lines is more than any
// product has features, and keeps a code within what a file carries easily.
const (
	MaxTagLen       = 256
	MaxLines        = 256
	MaxComponentLen = 128
)

// CheckTag checks that a tag has 1 to MaxTagLen printable ASCII characters
// and no spaces or '='.
func CheckTag(tag string) error {
	if tag == "" || len(tag) > MaxTagLen {
		return fmt.Errorf("%w: tag must have 1 to %d characters, has %d", ErrMalformed, MaxTagLen, len(tag))
	}
	for i := 0; i < len(tag); i++ {
		if c := tag[i]; c <= ' ' || c > '~' || c == '=' {
			return fmt.Errorf("%w: tag %q has character %q, allowed are printable ASCII but space and '='", ErrMalformed, tag, c)
		}
	}
	return nil
}

// Validate checks that the entitlement's fields agree with its kind.
func (e Entitlement) Validate() error {
	if err := CheckTag(e.Tag); err != nil {
		return err
	}
	if e.Count == 0 {
		return fmt.Errorf("%w: entitlement %q has count 0", ErrInvalid, e.Tag)
	}
	switch e.Kind {
	case Perpetual:
		if e.Start != 0 || e.End != 0 {
			return fmt.Errorf("%w: perpetual entitlement %q has dates", ErrInvalid, e.Tag)
		}
	case Term, Subscription:
		if e.Start <= 0 || e.End <= e.Start {
			return fmt.Errorf("%w: %s entitlement %q must have 0 < start < end, has %s..%s", ErrInvalid, e.Kind, e.Tag, fmtTime(e.Start), fmtTime(e.End))
		}
	case Hardware:
		if (e.Start != 0 || e.End != 0) && (e.Start < 0 || e.End <= e.Start) {
			return fmt.Errorf("%w: hardware entitlement %q has start %s after end %s", ErrInvalid, e.Tag, fmtTime(e.Start), fmtTime(e.End))
		}
	default:
		return fmt.Errorf("%w: entitlement %q has unknown kind %d", ErrMalformed, e.Tag, uint8(e.Kind))
	}
	if (e.Kind == Hardware) != (e.Component != "") {
		if e.Kind == Hardware {
			return fmt.Errorf("%w: hardware entitlement %q names no component", ErrInvalid, e.Tag)
		}
		return fmt.Errorf("%w: %s entitlement %q names component %q; only hardware entitlements are bound to one", ErrInvalid, e.Kind, e.Tag, e.Component)
	}
	if e.Component != "" {
		return checkText("component id", e.Component, MaxComponentLen)
	}
	return nil
}

// Ends reports whether the entitlement has an end date.
func (e Entitlement) Ends() bool { return e.End != 0 }

// ActiveAt reports whether the entitlement may be used at t.
func (e Entitlement) ActiveAt(t time.Time) bool {
	if e.Start == 0 && e.End == 0 {
		return true
	}
	s := t.Unix()
	return s >= e.Start && s < e.End
}

func validateLicenses(what string, ls []License) error {
	if len(ls) > MaxLines {
		return fmt.Errorf("%w: %s has %d lines, the limit is %d", ErrMalformed, what, len(ls), MaxLines)
	}
	seen := make(map[string]bool, len(ls))
	for _, l := range ls {
		if err := CheckTag(l.Tag); err != nil {
			return err
		}
		if l.Count == 0 {
			return fmt.Errorf("%w: %s asks for 0 of %q", ErrInvalid, what, l.Tag)
		}
		if seen[l.Tag] {
			return fmt.Errorf("%w: %s names tag %q twice", ErrInvalid, what, l.Tag)
		}
		seen[l.Tag] = true
	}
	return nil
}

func fmtTime(s int64) string {
	if s == 0 {
		return "none"
	}
	return time.Unix(s, 0).UTC().Format(time.RFC3339)
}

// FormatTime formats Unix seconds as RFC 3339 UTC, or "none" for 0.
func FormatTime(s int64) string { return fmtTime(s) }
