package authority

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/airlock-dev/airlock/codes"
)

// Flexible agreements. The vendor makes an agreement with an
// organization: a term and a cap per software and tag. During the term,
// the organization's administrators (and the partners it delegated to)
// draw licenses up to each cap, without a serial number or a key bought
// per purchase: each draw issues a license key registered to the
// organization, as Register does, and printed once. The report lists
// every draw, for the true-up the vendor bills.
//
// A draw checks the cap and records itself in one write transaction,
// which excludes every other writer (Store.Update), and the store's
// guarded update and CHECK refuse a drawn count past the cap whatever
// the caller checked: two concurrent draws never take more than the cap.

// Refusals of agreements.
var (
	// ErrNoAgreement means the organization has no agreement of that
	// name.
	ErrNoAgreement = kindOf(ErrNotFound)
	// ErrAgreementExists means the organization has an agreement of that
	// name.
	ErrAgreementExists = kindOf(ErrExists)
	// ErrNotCapped means the agreement caps no licenses of that tag.
	ErrNotCapped = kindOf(ErrNotFound)
	// ErrAgreementCap means a draw would take a tag past its cap. The
	// message says how many are left.
	ErrAgreementCap = kindOf(ErrUnavailable)
	// ErrOutsideTerm means a draw before the agreement's term starts, or
	// from the day after it ends.
	ErrOutsideTerm = errors.New("outside the agreement's term")
)

// MaxAgreementCaps caps the tags of one agreement: 64 lines keep the
// report of a true-up readable; a larger deal is several agreements.
const MaxAgreementCaps = 64

// ParseAgreementCap reads a cap as the command line gives it:
// "SOFTWARE:TAG=N", e.g. "vms:vms.camera.core=100".
func ParseAgreementCap(s string) (AgreementCap, error) {
	software, rest, ok := strings.Cut(s, ":")
	tag, n, ok2 := strings.Cut(rest, "=")
	if !ok || !ok2 {
		return AgreementCap{}, fmt.Errorf("%w: cap %q is not of the form SOFTWARE:TAG=N, e.g. vms:vms.camera.core=100", ErrInvalid, s)
	}
	c, err := strconv.ParseInt(n, 10, 64)
	if err != nil {
		return AgreementCap{}, fmt.Errorf("%w: cap %q: %q is not a number from 1 to %d", ErrInvalid, s, n, int64(MaxLotCount))
	}
	return AgreementCap{Software: software, Tag: tag, Cap: c}, nil
}

// FormatAgreementCaps returns "vms:vms.camera.core=100, vms:vms.io=5".
func FormatAgreementCaps(cs []AgreementCap) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("%s:%s=%d", c.Software, c.Tag, c.Cap)
	}
	return strings.Join(parts, ", ")
}

// Term returns the days of the term, first and last included:
// "2026-01-01..2026-12-31".
func (a *Agreement) Term() string { return FormatDay(a.From) + ".." + FormatDay(a.To-dayS) }

// The states of an agreement at a time.
const (
	AgreementPending = "not yet in force"
	AgreementInForce = "in force"
	AgreementEnded   = "ended"
)

// State returns the agreement's state at now (Unix seconds).
func (a *Agreement) State(now int64) string {
	switch {
	case now < a.From:
		return AgreementPending
	case now >= a.To:
		return AgreementEnded
	}
	return AgreementInForce
}

// Cap returns the agreement's cap of tag, or nil.
func (a *Agreement) Cap(tag string) *AgreementCap {
	for i := range a.Caps {
		if a.Caps[i].Tag == tag {
			return &a.Caps[i]
		}
	}
	return nil
}

func (a *Agreement) tags() string {
	ts := make([]string, len(a.Caps))
	for i, c := range a.Caps {
		ts[i] = c.Tag
	}
	return strings.Join(ts, ", ")
}

// An AgreementSpec is an agreement to make.
type AgreementSpec struct {
	Org  string
	Name string
	// From and To are Unix seconds at UTC midnights: the term runs from
	// the day From (included) to the day To (excluded).
	From, To int64
	// Caps are the licenses the organization may draw, one per tag; their
	// Drawn is ignored.
	Caps []AgreementCap
}

func (s *AgreementSpec) check() error {
	if err := CheckName("organization", s.Org); err != nil {
		return err
	}
	if err := CheckName("agreement", s.Name); err != nil {
		return err
	}
	switch {
	case s.From < 0 || s.From != Midnight(s.From) || s.To != Midnight(s.To):
		return fmt.Errorf("%w: an agreement's term runs from a day to a day (UTC midnights), not from %s to %s", ErrInvalid, codes.FormatTime(s.From), codes.FormatTime(s.To))
	case s.To <= s.From:
		return fmt.Errorf("%w: a term from %s to %s (excluded) has no day: it ends on the day after its last", ErrInvalid, FormatDay(s.From), FormatDay(s.To))
	case len(s.Caps) == 0:
		return fmt.Errorf("%w: an agreement needs a cap, e.g. vms:vms.camera.core=100", ErrInvalid)
	case len(s.Caps) > MaxAgreementCaps:
		return fmt.Errorf("%w: an agreement caps at most %d tags, this one %d: make several agreements", ErrInvalid, MaxAgreementCaps, len(s.Caps))
	}
	seen := map[string]bool{}
	for i := range s.Caps {
		c := &s.Caps[i]
		c.Drawn = 0
		if err := CheckName("software", c.Software); err != nil {
			return err
		}
		if err := codes.CheckTag(c.Tag); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		if seen[c.Tag] {
			// A draw names a tag only: one cap a tag.
			return fmt.Errorf("%w: tag %q is capped twice", ErrInvalid, c.Tag)
		}
		seen[c.Tag] = true
		if c.Cap < 1 || c.Cap > MaxLotCount {
			return fmt.Errorf("%w: cap %d of %q is not from 1 to %d", ErrInvalid, c.Cap, c.Tag, int64(MaxLotCount))
		}
	}
	slices.SortFunc(s.Caps, func(a, b AgreementCap) int { return strings.Compare(a.Tag, b.Tag) })
	return nil
}

// CreateAgreement makes an agreement of an organization (the vendor
// only). A term that ended already is refused: nothing could be drawn.
func (l *Ledger) CreateAgreement(ctx context.Context, s AgreementSpec) (*Agreement, error) {
	s.Caps = slices.Clone(s.Caps)
	if err := s.check(); err != nil {
		return nil, err
	}
	var out *Agreement
	err := l.update(ctx, func(tx Tx, c *chain) error {
		a, err := l.actingVendor(tx, "make agreements")
		if err != nil {
			return err
		}
		o, err := orgNamed(tx, s.Org)
		if err != nil {
			return err
		}
		if got, err := tx.Agreement(o.ID, s.Name); err != nil {
			return err
		} else if got != nil {
			return fmt.Errorf("%w: %q has an agreement %q (%s)", ErrAgreementExists, o.Name, s.Name, got.Term())
		}
		now := l.now()
		ag := &Agreement{OrgID: o.ID, Org: o.Name, Name: s.Name, From: s.From, To: s.To, Caps: s.Caps, CreatedAt: now, CreatedBy: a.name}
		if s.To <= now {
			return fmt.Errorf("%w: the term %s has ended: nothing could be drawn", ErrInvalid, ag.Term())
		}
		if err := tx.InsertAgreement(ag); err != nil {
			return err
		}
		e := l.event(now, actionAgreementCreate, s.Name)
		e.Actor, e.Account, e.CodeHash = a.name, o.Name, agreementHash(ag)
		e.Detail = fmt.Sprintf("agreement %q of %q for %s: %s", s.Name, o.Name, ag.Term(), FormatAgreementCaps(ag.Caps))
		out = ag
		return c.add(e)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// agreementHash is what the history records of an agreement: what never
// changes in it.
func agreementHash(a *Agreement) []byte {
	b := []byte("airlock/v1/agreement\n")
	for _, v := range []int64{a.ID, a.OrgID, a.From, a.To, a.CreatedAt} {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	b = binary.AppendUvarint(b, uint64(len(a.Name)))
	b = append(b, a.Name...)
	for _, c := range a.Caps {
		b = binary.BigEndian.AppendUint64(b, uint64(c.Cap))
		for _, s := range []string{c.Software, c.Tag} {
			b = binary.AppendUvarint(b, uint64(len(s)))
			b = append(b, s...)
		}
	}
	h := sha256.Sum256(b)
	return h[:]
}

// agreementNamed finds an agreement of o.
func agreementNamed(tx ReadTx, o *Org, name string) (*Agreement, error) {
	ag, err := tx.Agreement(o.ID, name)
	if err != nil {
		return nil, err
	}
	if ag == nil {
		return nil, fmt.Errorf("%w: %q has no agreement %q", ErrNoAgreement, o.Name, name)
	}
	return ag, nil
}

// A DrawSpec is a draw of licenses under an agreement.
type DrawSpec struct {
	Org       string
	Agreement string
	Tag       string
	Count     int64
	Years     int // each license covers; 0 means 1
}

// A Drawn says what a draw did.
type Drawn struct {
	// Key is the typed license key, which exists nowhere else (the ledger
	// keeps its hash): print it once.
	Key          string
	Record       LicenseKey
	Registration Registration
	Draw         AgreementDraw
	Agreement    Agreement // with the caps after the draw
}

// DrawAgreement draws licenses under an agreement, for the organization's
// administrators, the partners it delegated to and the vendor: within
// the term, and only as far as the tag's cap. It issues a license key of
// the cap's software registered to the organization, with the acting
// person as the contact, and records the draw.
func (l *Ledger) DrawAgreement(ctx context.Context, s DrawSpec) (*Drawn, error) {
	if err := CheckName("organization", s.Org); err != nil {
		return nil, err
	}
	if err := CheckName("agreement", s.Agreement); err != nil {
		return nil, err
	}
	if err := codes.CheckTag(s.Tag); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if s.Count < 1 {
		return nil, fmt.Errorf("%w: count %d: draw at least 1 license", ErrInvalid, s.Count)
	}
	key, err := l.drawKey()
	if err != nil {
		return nil, err
	}
	var out *Drawn
	err = l.update(ctx, func(tx Tx, c *chain) error {
		a, err := l.actingAs(tx)
		if err != nil {
			return err
		}
		o, actor, err := l.authorizeWith(tx, a, s.Org, needManage)
		if err != nil {
			return err
		}
		ag, err := agreementNamed(tx, o, s.Agreement)
		if err != nil {
			return err
		}
		now := l.now()
		switch ag.State(now) {
		case AgreementPending:
			return fmt.Errorf("%w: agreement %q of %q runs %s: nothing may be drawn before %s", ErrOutsideTerm, ag.Name, o.Name, ag.Term(), FormatDay(ag.From))
		case AgreementEnded:
			return fmt.Errorf("%w: agreement %q of %q ran %s: it ended", ErrOutsideTerm, ag.Name, o.Name, ag.Term())
		}
		cp := ag.Cap(s.Tag)
		if cp == nil {
			return fmt.Errorf("%w: agreement %q of %q caps no %q, only %s", ErrNotCapped, ag.Name, o.Name, s.Tag, ag.tags())
		}
		if s.Count > cp.Left() {
			return fmt.Errorf("%w: agreement %q of %q caps %s at %d: %d drawn, %d left, %d asked for", ErrAgreementCap, ag.Name, o.Name, cp.Tag, cp.Cap, cp.Drawn, cp.Left(), s.Count)
		}
		ks := KeySpec{Software: cp.Software, Years: s.Years, Lines: []KeyLine{{Tag: s.Tag, Count: s.Count}}}
		if err := ks.check(); err != nil {
			return err
		}
		g := Registration{OrgID: o.ID, Contact: a.name}
		if a.person != nil {
			g.Contact, g.Email = a.person.Name, a.person.Email
		}
		k, err := l.issueRegistered(tx, c, ks, key, actor, &g)
		if err != nil {
			return err
		}
		d := AgreementDraw{AgreementID: ag.ID, Tag: s.Tag, Count: s.Count, Years: ks.Years, KeyHash: k.Hash, At: now, Actor: actor}
		if err := tx.InsertAgreementDraw(&d); err != nil {
			return err
		}
		cp.Drawn += s.Count
		e := l.event(now, actionAgreementDraw, ag.Name)
		e.Actor, e.Account, e.CodeHash = actor, o.Name, k.Hash
		e.Detail = fmt.Sprintf("%s of %q drawn from agreement %q of %q: license key %s registered to %q; %d of %d %s left",
			k.Describe(), k.Software, ag.Name, o.Name, k.KeyID(), o.Name, cp.Left(), cp.Cap, cp.Tag)
		out = &Drawn{Record: k, Registration: g, Draw: d, Agreement: *ag}
		return c.add(e)
	})
	if err != nil {
		return nil, err
	}
	out.Key = FormatKey(key)
	return out, nil
}

// Agreements returns the agreements of an organization by name, for
// anyone who may read it.
func (l *Ledger) Agreements(ctx context.Context, org string) ([]Agreement, error) {
	if err := CheckName("organization", org); err != nil {
		return nil, err
	}
	var out []Agreement
	err := l.view(ctx, func(tx ReadTx) error {
		o, _, err := l.authorize(tx, org, needRead)
		if err != nil {
			return err
		}
		out, err = tx.Agreements(o.ID)
		return err
	})
	return out, err
}

// An AgreementReport is what an organization drew under an agreement,
// per tag: for the true-up.
type AgreementReport struct {
	Agreement Agreement
	Tags      []AgreementTag // by tag, as Agreement.Caps
}

// An AgreementTag is one cap of an agreement with its draws, oldest
// first.
type AgreementTag struct {
	AgreementCap
	Draws []AgreementDraw
}

// ReportAgreement returns the report of an agreement, for anyone who may
// read its organization. It checks that the term and caps are those the
// history recorded, and that the draws add up to each cap's drawn count
// and are registered to the organization, and fails with ErrCorrupt when
// they are not: a true-up is billed from it.
func (l *Ledger) ReportAgreement(ctx context.Context, org, name string) (*AgreementReport, error) {
	if err := CheckName("organization", org); err != nil {
		return nil, err
	}
	if err := CheckName("agreement", name); err != nil {
		return nil, err
	}
	var out *AgreementReport
	err := l.view(ctx, func(tx ReadTx) error {
		o, _, err := l.authorize(tx, org, needRead)
		if err != nil {
			return err
		}
		ag, err := agreementNamed(tx, o, name)
		if err != nil {
			return err
		}
		if err := checkAgreementEvent(tx, ag); err != nil {
			return err
		}
		out, err = agreementReport(tx, o, ag)
		return err
	})
	return out, err
}

// agreementReport adds up an agreement's draws, checking each against
// its caps and its organization's registrations.
func agreementReport(tx ReadTx, o *Org, ag *Agreement) (*AgreementReport, error) {
	draws, err := tx.AgreementDraws(ag.ID)
	if err != nil {
		return nil, err
	}
	r := &AgreementReport{Agreement: *ag, Tags: make([]AgreementTag, len(ag.Caps))}
	byTag := map[string]*AgreementTag{}
	for i, cp := range ag.Caps {
		r.Tags[i].AgreementCap = cp
		byTag[cp.Tag] = &r.Tags[i]
	}
	sums := map[string]int64{}
	for _, d := range draws {
		t := byTag[d.Tag]
		if t == nil {
			return nil, fmt.Errorf("%w: agreement %q of %q has a draw of %q, which it does not cap", ErrCorrupt, ag.Name, o.Name, d.Tag)
		}
		g, err := tx.Registration(d.KeyHash)
		if err != nil {
			return nil, err
		}
		if g == nil || g.OrgID != o.ID {
			return nil, fmt.Errorf("%w: license key %s drawn from agreement %q is not registered to %q", ErrCorrupt, KeyID(d.KeyHash), ag.Name, o.Name)
		}
		sums[d.Tag] += d.Count
		t.Draws = append(t.Draws, d)
	}
	for _, t := range r.Tags {
		if sums[t.Tag] != t.Drawn {
			return nil, fmt.Errorf("%w: agreement %q of %q counts %d %s drawn, its draws add up to %d", ErrCorrupt, ag.Name, o.Name, t.Drawn, t.Tag, sums[t.Tag])
		}
	}
	return r, nil
}

// checkAgreementEvent checks that the history recorded the agreement as
// it is: a term or a cap changed outside the ledger would change what
// the organization may draw, and the bill.
func checkAgreementEvent(tx ReadTx, ag *Agreement) error {
	want, found := agreementHash(ag), false
	err := tx.History(HistoryFilter{Account: ag.Org}, func(e *Event) error {
		if e.Action == actionAgreementCreate && e.Subject == ag.Name && bytes.Equal(e.CodeHash, want) {
			found = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%w: agreement %q of %q is not the agreement its history event recorded: its term or caps were changed", ErrCorrupt, ag.Name, ag.Org)
	}
	return nil
}

// History actions of agreements.
const (
	actionAgreementCreate = "agreement create"
	actionAgreementDraw   = "agreement draw"
)
