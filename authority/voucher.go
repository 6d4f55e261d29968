package authority

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/airlock-dev/airlock/formats/groups"
)

// Vouchers for OEM partners. An OEM is a partner: the people with the
// partner role and that partner's name. The vendor issues it vouchers
// (IssueVoucher); a person of the OEM converts one, once, into a license
// key registered to an end customer's organization (ConvertVoucher),
// and hands the customer that key. PartnerKeys lists, for a partner, the
// keys its people issued on customers' behalf, by id: the typed key was
// printed once, when it was issued, and the ledger never stores it.
//
// Converting needs no delegation from the end customer: it creates
// licenses for the organization and gives the OEM no power over it (to
// manage the organization, the OEM still needs its delegation). An OEM
// converts for any organization on the ledger; one it names that is not
// there is refused without saying whether it exists, but a conversion
// that succeeds tells the OEM that it does (at the price of a voucher).
// The vendor adds the end customers' organizations.

// Voucher codes: VC and two groups, 80 random bits, like a serial number
// (a voucher converts only for a person of its OEM, so the code is not
// the only secret, and a conversion is made by people, not machines).
const (
	VoucherPrefix = "VC"
	VoucherSize   = 10
)

// Refusals of vouchers. Each is also a kind of the general sentinel it
// wraps, as the serial numbers' refusals are.
var (
	// ErrVoucherMalformed means the input is not shaped like a voucher
	// code. It is an ErrKeyMalformed.
	ErrVoucherMalformed error = &namedKind{"not a voucher code", ErrKeyMalformed}
	// ErrVoucherTypo means a group of a typed voucher code fails its
	// check character; the message names the group. It is an ErrKeyTypo.
	ErrVoucherTypo error = &namedKind{"voucher code has a typo", ErrKeyTypo}
	// ErrVoucherUnknown means a well-formed voucher code this ledger
	// never issued. It is an ErrKeyUnknown.
	ErrVoucherUnknown error = &namedKind{"unknown voucher", ErrKeyUnknown}
	// ErrVoucherUsed means the voucher was converted before. The message
	// says when, and for which organization (only the vendor and the
	// OEM ever learn that much). It is an ErrExists.
	ErrVoucherUsed error = &namedKind{"voucher already converted", ErrExists}
	// ErrNoPartner means nobody acts for the partner named: no person has
	// the partner role with that partner's name. It is an ErrNotFound.
	ErrNoPartner error = &namedKind{"no such partner", ErrNotFound}
)

// VoucherHash returns the hash the ledger stores for a voucher's bytes:
// a license key's hash of a label and the bytes, so that it is never the
// hash of a key or of a serial number.
func VoucherHash(b []byte) []byte { return KeyHash(append([]byte("voucher\n"), b...)) }

// ParseVoucher reads a typed voucher code, forgiving what groups.Decode
// forgives. Errors match ErrVoucherMalformed or ErrVoucherTypo, and never
// quote the input.
func ParseVoucher(s string) ([]byte, error) {
	return parseTyped(s, VoucherPrefix, VoucherSize, "voucher code", ErrVoucherMalformed, ErrVoucherTypo)
}

// A VoucherSpec is what a voucher converts into: a license key of
// Software for Count licenses of Tag, Years years each (0 means 1), for
// a customer of the OEM partner OEM.
type VoucherSpec struct {
	OEM      string
	Software string
	Tag      string
	Count    int64
	Years    int
}

// An IssuedVoucher is a voucher just issued: Code is its typed form,
// which exists nowhere else (the ledger keeps its hash). Hand it to the
// OEM once.
type IssuedVoucher struct {
	Code   string
	Record Voucher
}

// IssueVoucher issues a voucher to an OEM partner (the vendor only). The
// partner must have people: a voucher for a partner nobody acts for
// could never be converted.
func (l *Ledger) IssueVoucher(ctx context.Context, s VoucherSpec) (*IssuedVoucher, error) {
	if err := checkLabel("partner", s.OEM); err != nil {
		return nil, err
	}
	ks := KeySpec{Software: s.Software, Years: s.Years, Lines: []KeyLine{{Tag: s.Tag, Count: s.Count}}}
	if err := ks.check(); err != nil {
		return nil, err
	}
	b := make([]byte, VoucherSize)
	if _, err := io.ReadFull(l.opts.Rand, b); err != nil {
		return nil, fmt.Errorf("drawing a voucher: %w", err)
	}
	out := &IssuedVoucher{Code: groups.Encode(VoucherPrefix, b)}
	err := l.update(ctx, func(tx Tx, c *chain) error {
		a, err := l.actingVendor(tx, "issue vouchers")
		if err != nil {
			return err
		}
		ps, err := tx.PartnerPeople(s.OEM)
		if err != nil {
			return err
		}
		if len(ps) == 0 {
			return fmt.Errorf("%w: nobody acts for partner %q: add its people first (role partner, partner %q)", ErrNoPartner, s.OEM, s.OEM)
		}
		now := l.now()
		v := Voucher{Hash: VoucherHash(b), OEM: s.OEM, Software: ks.Software, Tag: s.Tag, Count: s.Count, Years: ks.Years, IssuedAt: now, IssuedBy: a.name}
		if got, err := tx.Voucher(v.Hash); err != nil {
			return err
		} else if got != nil {
			// Only a broken random source draws a voucher twice.
			return fmt.Errorf("%w: the random source drew voucher %s twice", ErrCorrupt, v.VoucherID())
		}
		if err := tx.InsertVoucher(&v); err != nil {
			return err
		}
		out.Record = v
		e := l.event(now, actionVoucherIssue, s.OEM)
		e.Actor, e.CodeHash = a.name, v.Hash
		e.Detail = fmt.Sprintf("voucher %s issued to OEM partner %q: %s of %q", v.VoucherID(), s.OEM, v.Describe(), v.Software)
		return c.add(e)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// A ConvertSpec is an OEM's conversion of a voucher for an end
// customer. Contact and Email name the customer's contact for the
// support registration; left empty, they are the converting person's
// own.
type ConvertSpec struct {
	Voucher        string // typed
	Org            string
	Contact        string
	Email          string
	Company        string
	SupportContact string
}

// A Converted says what ConvertVoucher did, or would do.
type Converted struct {
	Key          string // the typed license key; empty in a dry run
	Record       LicenseKey
	Registration Registration
	Voucher      Voucher // as it was before the conversion
}

// ConvertVoucher converts a voucher into a license key registered to an
// organization, once: a person of the voucher's OEM partner may, and the
// vendor's staff. The registration and the history name the person, the
// partner and the organization. With dry set it changes nothing and says
// what it would do, refusals included.
//
// The caller prints Key once and keeps no copy.
func (l *Ledger) ConvertVoucher(ctx context.Context, s ConvertSpec, dry bool) (*Converted, error) {
	vb, err := ParseVoucher(s.Voucher)
	if err != nil {
		return nil, err
	}
	if err := checkSupport(s.Company, s.SupportContact); err != nil {
		return nil, err
	}
	key, err := l.drawKey()
	if err != nil {
		return nil, err
	}
	var out *Converted
	err = l.updateOrCheck(ctx, dry, func(tx Tx, c *chain) error {
		a, err := l.actingAs(tx)
		if err != nil {
			return err
		}
		if p := a.person; p != nil && p.Role != RoleVendor && p.Role != RolePartner {
			// Before the lookup: a customer learns nothing of vouchers.
			return fmt.Errorf("%w: %s is %s: only the people of the OEM partner a voucher was issued to, and the vendor's staff, convert it", ErrDenied, p.Email, roleOf(p))
		}
		hash := VoucherHash(vb)
		v, err := tx.Voucher(hash)
		if err != nil {
			return err
		}
		if v == nil {
			return fmt.Errorf("%w: this voucher code was never issued here: check it against the one the vendor sent", ErrVoucherUnknown)
		}
		if !a.vendor() && a.person.Partner != v.OEM {
			// Not its voucher: whose it is is not its to learn.
			return fmt.Errorf("%w: %s is %s: voucher %s was issued to another partner", ErrDenied, a.person.Email, roleOf(a.person), v.VoucherID())
		}
		if v.Used() {
			// Only the vendor and the voucher's OEM get this far.
			return fmt.Errorf("%w: voucher %s was converted on %s for %q by %s (license key %s)", ErrVoucherUsed, v.VoucherID(), FormatDay(v.UsedAt), v.Org, v.UsedBy, KeyID(v.KeyHash))
		}
		o, err := orgNamed(tx, s.Org)
		if err != nil {
			if !a.vendor() {
				// As authorize: whether it exists is not the partner's to learn.
				return fmt.Errorf("%w: %s cannot convert a voucher for %q: name an organization on the ledger (the vendor adds them)", ErrDenied, a.name, s.Org)
			}
			return err
		}
		actor := a.name
		g := Registration{OrgID: o.ID, Contact: s.Contact, Email: s.Email, Company: s.Company, SupportContact: s.SupportContact}
		if p := a.person; p != nil {
			if p.Role == RolePartner {
				actor = fmt.Sprintf("%s (partner %s, for %s)", p.Email, p.Partner, o.Name)
			}
			if g.Contact == "" {
				g.Contact = p.Name
			}
			if g.Email == "" {
				g.Email = p.Email
			}
		}
		if g.Contact == "" || g.Email == "" {
			return fmt.Errorf("%w: give the end customer's contact and e-mail address (%s is no person whose own could stand in)", ErrInvalid, a.name)
		}
		if err := checkLabel("contact", g.Contact); err != nil {
			return err
		}
		if err := CheckEmail(g.Email); err != nil {
			return err
		}
		ks := KeySpec{Software: v.Software, Years: v.Years, Lines: []KeyLine{{Tag: v.Tag, Count: v.Count}}}
		k, err := l.issueRegistered(tx, c, ks, key, actor, &g)
		if err != nil {
			return err
		}
		now := g.At
		// Guarded, so that a voucher is converted once whatever another
		// writer did since it was read.
		if ok, err := tx.UseVoucher(hash, o.ID, k.Hash, now, actor); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("%w: voucher %s was converted meanwhile", ErrVoucherUsed, v.VoucherID())
		}
		e := l.event(now, actionVoucherConvert, k.KeyID())
		e.Actor, e.Account, e.CodeHash = actor, o.Name, hash
		e.Detail = fmt.Sprintf("voucher %s of OEM partner %q converted for %q by %s: license key %s, %s, contact %s <%s>",
			v.VoucherID(), v.OEM, o.Name, actor, k.KeyID(), k.Describe(), g.Contact, g.Email)
		out = &Converted{Record: k, Registration: g, Voucher: *v}
		return c.add(e)
	})
	if err != nil {
		return nil, err
	}
	if !dry {
		out.Key = FormatKey(key)
	}
	return out, nil
}

// roleOf says who a person is, for a refusal: "an administrator of
// \"acme\"", "a person of partner \"Contoso\"".
func roleOf(p *Person) string {
	switch p.Role {
	case RoleAdmin:
		return fmt.Sprintf("an administrator of %q", p.Org)
	case RoleViewer:
		return fmt.Sprintf("a viewer of %q", p.Org)
	case RolePartner:
		return fmt.Sprintf("a person of partner %q", p.Partner)
	}
	return "vendor support"
}

// forPartner checks that a is the vendor's or a person of partner, to do
// what on the partner's records.
func (a *acting) forPartner(partner, what string) error {
	if a.vendor() || a.person.Role == RolePartner && a.person.Partner == partner {
		return nil
	}
	return fmt.Errorf("%w: %s is %s: only the vendor's staff and the people of partner %q %s", ErrDenied, a.person.Email, roleOf(a.person), partner, what)
}

// Vouchers returns the vouchers issued to an OEM partner, in the order
// they were issued, for the partner's people and the vendor.
func (l *Ledger) Vouchers(ctx context.Context, oem string) ([]Voucher, error) {
	if err := checkLabel("partner", oem); err != nil {
		return nil, err
	}
	var out []Voucher
	err := l.view(ctx, func(tx ReadTx) error {
		a, err := l.actingAs(tx)
		if err != nil {
			return err
		}
		if err := a.forPartner(oem, "see its vouchers"); err != nil {
			return err
		}
		out, err = tx.Vouchers(oem)
		return err
	})
	return out, err
}

// A PartnerKey is a license key a person of a partner issued on a
// customer's behalf: by converting a voucher, or by registering a serial
// number for an organization that delegated to the partner.
type PartnerKey struct {
	Key          LicenseKey
	Registration Registration
	Org          string // the organization it is registered to
	By           string // the partner's person, by e-mail address
}

// PartnerKeys returns the license keys the people of a partner issued on
// customers' behalf, by the time they were issued (then by key id), for
// the partner's
// people and the vendor: what the partner has to deliver. The list
// names keys by id; the typed key was printed once, when it was issued.
func (l *Ledger) PartnerKeys(ctx context.Context, partner string) ([]PartnerKey, error) {
	if err := checkLabel("partner", partner); err != nil {
		return nil, err
	}
	var out []PartnerKey
	err := l.view(ctx, func(tx ReadTx) error {
		a, err := l.actingAs(tx)
		if err != nil {
			return err
		}
		if err := a.forPartner(partner, "see the keys its people issued"); err != nil {
			return err
		}
		regs, err := tx.PartnerRegistrations(partner)
		if err != nil {
			return err
		}
		orgs := map[int64]string{}
		for _, g := range regs {
			k, err := tx.LicenseKey(g.KeyHash)
			if err != nil {
				return err
			}
			if k == nil {
				return fmt.Errorf("%w: registration names license key %s, which is missing", ErrCorrupt, KeyID(g.KeyHash))
			}
			name, ok := orgs[g.OrgID]
			if !ok {
				if name, err = orgByID(tx, g.OrgID); err != nil {
					return err
				}
				orgs[g.OrgID] = name
			}
			by, _, _ := strings.Cut(g.Actor, " (")
			out = append(out, PartnerKey{Key: *k, Registration: g, Org: name, By: by})
		}
		return nil
	})
	return out, err
}

// History actions of vouchers.
const (
	actionVoucherIssue   = "voucher issue"
	actionVoucherConvert = "voucher convert"
)
