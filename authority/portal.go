package authority

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/airlock-dev/airlock/formats/groups"
)

// The licensing portal: people with roles, serial numbers registered into
// license keys, and the licenses an organization holds, with custom
// fields and shares. Every operation checks the acting person's role in
// the library: the command line and a web front end share the checks.
//
// Who acts is Options.Actor, an e-mail address of a Person. Until the
// vendor registers a first person with the vendor role, an actor who is
// nobody is the desk itself, with the vendor's powers (a new ledger, and
// one that does not use the portal, work as before); from then on an
// actor must be a person.

// ErrDenied means the acting person's role does not allow the operation.
var ErrDenied = errors.New("not allowed")

// Refusals of typed serial numbers and notification ids: kinds of the
// license key's, in their own words.
var (
	// ErrSerialUsed means the serial number was registered before.
	ErrSerialUsed = kindOf(ErrExists)
	// ErrSerialMalformed means the input is no serial number.
	ErrSerialMalformed error = &namedKind{"not a serial number", ErrKeyMalformed}
	// ErrSerialTypo means a group of a serial number fails its check.
	ErrSerialTypo error = &namedKind{"serial number has a typo", ErrKeyTypo}
	// ErrNoticeMalformed means the input is no notification id.
	ErrNoticeMalformed error = &namedKind{"not a notification id", ErrKeyMalformed}
	// ErrNoticeTypo means a group of a notification id fails its check.
	ErrNoticeTypo error = &namedKind{"notification id has a typo", ErrKeyTypo}
)

// What an operation needs on an organization.
type need int

const (
	needRead     need = iota // see its licenses
	needManage               // change them: register, allocate, set fields, share
	needDelegate             // delegate its management, or revoke it
)

func (n need) String() string {
	return [...]string{"read", "manage", "delegate the management of"}[n]
}

// An acting is who acts, with their powers.
type acting struct {
	name   string  // as the history records them
	person *Person // nil for the desk before any vendor staff exists
}

func (a *acting) vendor() bool { return a.person == nil || a.person.Role == RoleVendor }

// actingAs resolves Options.Actor.
func (l *Ledger) actingAs(tx ReadTx) (*acting, error) {
	p, err := tx.Person(l.opts.Actor)
	if err != nil {
		return nil, err
	}
	if p != nil {
		return &acting{name: p.Email, person: p}, nil
	}
	n, err := tx.VendorStaff()
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return &acting{name: l.opts.Actor}, nil
	}
	return nil, fmt.Errorf("%w: %q is nobody on this ledger: act as a person the vendor added ('airlock authority person list'), with --actor or AIRLOCK_ACTOR", ErrDenied, l.opts.Actor)
}

// may checks that a may do n on org, and returns how the history names
// the actor: a partner's act names the partner and the organization.
func (a *acting) may(tx ReadTx, org *Org, n need) (string, error) {
	if a.vendor() {
		return a.name, nil
	}
	p := a.person
	switch p.Role {
	case RoleAdmin, RoleViewer:
		if p.OrgID != org.ID {
			// Another organization's: say nothing of it.
			return "", fmt.Errorf("%w: %s is a person of %q and cannot %s %q", ErrDenied, p.Email, p.Org, n, org.Name)
		}
		if p.Role == RoleViewer && n != needRead {
			return "", fmt.Errorf("%w: %s is a viewer of %q: viewers read its licenses, an administrator of %q must %s them", ErrDenied, p.Email, org.Name, org.Name, n)
		}
		return p.Email, nil
	case RolePartner:
		d, err := tx.Delegation(org.ID, p.Partner)
		if err != nil {
			return "", err
		}
		if d == nil || d.RevokedAt != 0 {
			return "", fmt.Errorf("%w: %q has not delegated its management to partner %q", ErrDenied, org.Name, p.Partner)
		}
		if n == needDelegate {
			return "", fmt.Errorf("%w: partner %q manages %q, only the organization's administrators delegate", ErrDenied, p.Partner, org.Name)
		}
		return fmt.Sprintf("%s (partner %s, for %s)", p.Email, p.Partner, org.Name), nil
	}
	return "", fmt.Errorf("%w: %s has the unknown role %q", ErrCorrupt, p.Email, p.Role)
}

// vendorOnly checks that a is the vendor.
func (a *acting) vendorOnly(what string) error {
	if a.vendor() {
		return nil
	}
	return fmt.Errorf("%w: %s is not the vendor's: only the vendor's staff %s", ErrDenied, a.person.Email, what)
}

// actingVendor is actingAs for what only the vendor's staff may do: what
// names it in the refusal.
func (l *Ledger) actingVendor(tx ReadTx, what string) (*acting, error) {
	a, err := l.actingAs(tx)
	if err != nil {
		return nil, err
	}
	if err := a.vendorOnly(what); err != nil {
		return nil, err
	}
	return a, nil
}

// authorize resolves the actor and checks n on the organization named.
func (l *Ledger) authorize(tx ReadTx, org string, n need) (*Org, string, error) {
	a, err := l.actingAs(tx)
	if err != nil {
		return nil, "", err
	}
	return l.authorizeWith(tx, a, org, n)
}

// CheckEmail checks an e-mail address as the portal stores it: a bare
// address, local@domain.
func CheckEmail(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s || !strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".") {
		return fmt.Errorf("%w: %q is not an e-mail address: want local@domain, e.g. ops@plant.example", ErrInvalid, s)
	}
	return nil
}

// AddPerson adds a person: the vendor adds anyone; an organization's
// administrator adds administrators and viewers of it.
func (l *Ledger) AddPerson(ctx context.Context, p Person) (*Person, error) {
	if err := CheckEmail(p.Email); err != nil {
		return nil, err
	}
	if err := checkLabel("name", p.Name); err != nil {
		return nil, err
	}
	err := l.update(ctx, func(tx Tx, c *chain) error {
		a, err := l.actingAs(tx)
		if err != nil {
			return err
		}
		actor := a.name
		switch p.Role {
		case RoleVendor:
			if err := a.vendorOnly("add vendor staff"); err != nil {
				return err
			}
			p.Org, p.Partner = "", ""
		case RolePartner:
			if err := a.vendorOnly("add partners"); err != nil {
				return err
			}
			if err := checkLabel("partner", p.Partner); err != nil {
				return err
			}
			p.Org = ""
		case RoleAdmin, RoleViewer:
			o, name, err := l.authorizeWith(tx, a, p.Org, needDelegate)
			if err != nil {
				return err
			}
			p.OrgID, p.Partner, actor = o.ID, "", name
		default:
			return fmt.Errorf("%w: role %q: want vendor, admin, viewer or partner", ErrInvalid, p.Role)
		}
		if got, err := tx.Person(p.Email); err != nil {
			return err
		} else if got != nil {
			return fmt.Errorf("%w: %s is a person already (%s)", ErrExists, p.Email, got.Role)
		}
		now := l.now()
		p.CreatedAt = now
		if err := tx.InsertPerson(&p); err != nil {
			return err
		}
		e := l.event(now, actionPersonAdd, p.Email)
		e.Actor = actor
		e.Account = p.Org
		e.Detail = fmt.Sprintf("%s (%s) added as %s", p.Email, p.Name, describeRole(&p))
		return c.add(e)
	})
	if err != nil {
		return nil, err
	}
	return &p, nil
}

func describeRole(p *Person) string {
	switch p.Role {
	case RoleAdmin, RoleViewer:
		return p.Role + " of " + p.Org
	case RolePartner:
		return "partner " + p.Partner
	}
	return "vendor support"
}

// authorizeWith checks n on the organization named for an acting already
// resolved.
func (l *Ledger) authorizeWith(tx ReadTx, a *acting, org string, n need) (*Org, string, error) {
	o, err := orgNamed(tx, org)
	if errors.Is(err, ErrNotFound) && !a.vendor() {
		// Refused in the words another's organization gets: whether one
		// of that name exists is not for them to learn.
		_, err = a.may(tx, &Org{ID: -1, Name: org}, n)
		return nil, "", err
	}
	if err != nil {
		return nil, "", err
	}
	name, err := a.may(tx, o, n)
	return o, name, err
}

// People returns the people of an organization, or every person for the
// vendor with org empty.
func (l *Ledger) People(ctx context.Context, org string) ([]Person, error) {
	var out []Person
	err := l.view(ctx, func(tx ReadTx) error {
		a, err := l.actingAs(tx)
		if err != nil {
			return err
		}
		var orgID int64
		if org != "" {
			o, _, err := l.authorizeWith(tx, a, org, needRead)
			if err != nil {
				return err
			}
			orgID = o.ID
		} else if err := a.vendorOnly("list everyone"); err != nil {
			return err
		}
		out, err = tx.People(orgID)
		return err
	})
	return out, err
}

// Delegate lets a partner manage an organization (revoke false), or ends
// that (revoke true).
func (l *Ledger) Delegate(ctx context.Context, org, partner string, revoke bool) error {
	if err := checkLabel("partner", partner); err != nil {
		return err
	}
	return l.update(ctx, func(tx Tx, c *chain) error {
		o, actor, err := l.authorize(tx, org, needDelegate)
		if err != nil {
			return err
		}
		d, err := tx.Delegation(o.ID, partner)
		if err != nil {
			return err
		}
		now := l.now()
		switch {
		case !revoke && d != nil && d.RevokedAt == 0:
			return fmt.Errorf("%w: %q delegated to partner %q on %s", ErrExists, org, partner, FormatDay(d.GrantedAt))
		case revoke && (d == nil || d.RevokedAt != 0):
			return fmt.Errorf("%w: %q has no delegation in force to partner %q", ErrNotFound, org, partner)
		case revoke:
			d.RevokedAt, d.RevokedBy = now, actor
		default:
			// A partner is its people: a name none has is a typing
			// error, which would hand the organization to whoever is
			// later added under that name.
			if ok, err := partnerKnown(tx, partner); err != nil || !ok {
				if err == nil {
					err = fmt.Errorf("%w: no person of partner %q is on this ledger: check the partner's name as the vendor gave it (the vendor adds a partner's people with 'airlock authority person add --role partner --partner NAME')", ErrNotFound, partner)
				}
				return err
			}
			d = &Delegation{OrgID: o.ID, Partner: partner, GrantedAt: now, GrantedBy: actor}
		}
		if err := tx.SetDelegation(d); err != nil {
			return err
		}
		e := l.event(now, actionDelegate, partner)
		e.Actor, e.Account = actor, org
		e.Detail = fmt.Sprintf("%q delegated its management to partner %q", org, partner)
		if revoke {
			e.Action = actionRevoke
			e.Detail = fmt.Sprintf("%q revoked the delegation to partner %q", org, partner)
		}
		return c.add(e)
	})
}

// Serial numbers: SN and two groups, 80 random bits (a serial is typed
// from a certificate, and registering it is rate-limited by people, not
// by machines).
const (
	SerialPrefix = "SN"
	SerialSize   = 10
)

// SerialHash returns the hash the ledger stores for a serial's bytes.
func SerialHash(b []byte) []byte { return KeyHash(append([]byte("serial\n"), b...)) }

// ParseSerial reads a typed serial number.
func ParseSerial(s string) ([]byte, error) {
	return parseTyped(s, SerialPrefix, SerialSize, "serial number", ErrSerialMalformed, ErrSerialTypo)
}

// parseTyped reads a typed id of size bytes after prefix (a serial
// number, a voucher code, a notification id), forgiving what
// groups.Decode forgives. Errors match malformed or typo, name the group
// of a typo and never quote the input: these ids are bearer secrets.
func parseTyped(s, prefix string, size int, what string, malformed, typo error) ([]byte, error) {
	example := groups.Encode(prefix, make([]byte, size))
	if len(s) > MaxKeyInput {
		return nil, fmt.Errorf("%w: %d bytes, a %s has %d characters", malformed, len(s), what, len(example))
	}
	got, data, err := groups.Decode(s)
	var te *groups.TypoError
	switch {
	case errors.As(err, &te):
		return nil, fmt.Errorf("%w in group %d: check that group and type it again", typo, te.Group)
	case errors.Is(err, groups.ErrEmpty):
		return nil, fmt.Errorf("%w: the %s is empty", malformed, what)
	case err != nil:
		return nil, fmt.Errorf("%w: %v", malformed, err)
	case got != prefix:
		return nil, fmt.Errorf("%w: it starts with %q, a %s starts with %s", malformed, got, what, prefix)
	case len(data) != size:
		return nil, fmt.Errorf("%w: a %s is %s and two groups, e.g. %s", malformed, what, prefix, example)
	}
	return data, nil
}

// A SerialSpec is what a serial number registers into: a license key of
// Software for Count licenses of Tag, Years years each, with support
// until SupportUntil (0 for none).
type SerialSpec struct {
	Software     string
	Tag          string
	Count        int64
	Years        int
	SupportUntil int64
}

// IssueSerial issues a serial number (the vendor only) and returns its
// typed form, which the ledger does not keep.
func (l *Ledger) IssueSerial(ctx context.Context, s SerialSpec) (string, error) {
	if s.Years == 0 {
		s.Years = 1
	}
	ks := KeySpec{Software: s.Software, Years: s.Years, Lines: []KeyLine{{Tag: s.Tag, Count: s.Count}}}
	if err := ks.check(); err != nil {
		return "", err
	}
	b := make([]byte, SerialSize)
	if _, err := l.opts.Rand.Read(b); err != nil {
		return "", fmt.Errorf("drawing a serial number: %w", err)
	}
	err := l.update(ctx, func(tx Tx, c *chain) error {
		a, err := l.actingVendor(tx, "issue serial numbers")
		if err != nil {
			return err
		}
		now := l.now()
		sr := Serial{Hash: SerialHash(b), Software: s.Software, Tag: s.Tag, Count: s.Count, Years: s.Years, SupportUntil: s.SupportUntil, IssuedAt: now, IssuedBy: a.name}
		if err := tx.InsertSerial(&sr); err != nil {
			return err
		}
		e := l.event(now, actionSerialIssue, s.Software)
		e.Actor, e.CodeHash = a.name, sr.Hash
		e.Detail = fmt.Sprintf("serial %s issued: %d %s × %d years of %q", KeyID(sr.Hash), s.Count, s.Tag, s.Years, s.Software)
		return c.add(e)
	})
	if err != nil {
		return "", err
	}
	return groups.Encode(SerialPrefix, b), nil
}

// A RegisterSpec is a customer's registration of a serial number.
type RegisterSpec struct {
	Serial         string // typed
	Org            string
	Contact        string
	Email          string
	Company        string
	SupportContact string
}

// A Registered says what Register did, or would do.
type Registered struct {
	Key          string // the typed license key; empty in a dry run
	Record       LicenseKey
	Registration Registration
	Serial       Serial
}

// Register registers a serial number to an organization: it issues the
// license key the serial carries, owned by the organization, and records
// the support registration. With dry set it changes nothing and says
// what it would do, refusals included.
func (l *Ledger) Register(ctx context.Context, r RegisterSpec, dry bool) (*Registered, error) {
	sn, err := ParseSerial(r.Serial)
	if err != nil {
		return nil, err
	}
	if err := checkLabel("contact", r.Contact); err != nil {
		return nil, err
	}
	if err := CheckEmail(r.Email); err != nil {
		return nil, err
	}
	if err := checkSupport(r.Company, r.SupportContact); err != nil {
		return nil, err
	}
	key, err := l.drawKey()
	if err != nil {
		return nil, err
	}
	var out *Registered
	err = l.updateOrCheck(ctx, dry, func(tx Tx, c *chain) error {
		a, err := l.actingAs(tx)
		if err != nil {
			return err
		}
		o, actor, err := l.authorizeWith(tx, a, r.Org, needManage)
		if err != nil {
			return err
		}
		hash := SerialHash(sn)
		s, err := tx.Serial(hash)
		if err != nil {
			return err
		}
		if s == nil {
			return fmt.Errorf("%w: this serial number was never issued: check it against the certificate", ErrKeyUnknown)
		}
		if s.OrgID != 0 {
			went, err := orgByID(tx, s.OrgID)
			if err != nil {
				return err
			}
			if _, err := a.may(tx, &Org{ID: s.OrgID, Name: went}, needRead); err == nil {
				return fmt.Errorf("%w: serial %s was registered to %q on %s (license key %s)", ErrSerialUsed, KeyID(hash), went, FormatDay(s.RegisteredAt), KeyID(s.KeyHash))
			}
			return fmt.Errorf("%w: serial %s was registered before, to another organization: if it is yours, ask the vendor", ErrSerialUsed, KeyID(hash))
		}
		ks := KeySpec{Software: s.Software, Years: s.Years, Lines: []KeyLine{{Tag: s.Tag, Count: s.Count}}}
		g := Registration{OrgID: o.ID, SerialHash: hash, Contact: r.Contact, Email: r.Email, Company: r.Company,
			SupportContact: r.SupportContact, SupportUntil: s.SupportUntil}
		k, err := l.issueRegistered(tx, c, ks, key, actor, &g)
		if err != nil {
			return err
		}
		now := g.At
		if ok, err := tx.UseSerial(hash, o.ID, k.Hash, now); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("%w: serial %s was registered meanwhile", ErrSerialUsed, KeyID(hash))
		}
		e := l.event(now, actionRegister, k.KeyID())
		e.Actor, e.Account, e.CodeHash = actor, o.Name, hash
		e.Detail = fmt.Sprintf("serial %s registered to %q by %s <%s>: license key %s, %s", KeyID(hash), o.Name, r.Contact, r.Email, k.KeyID(), k.Describe())
		if s.SupportUntil != 0 {
			e.Detail += ", support until " + FormatDay(s.SupportUntil)
		}
		out = &Registered{Record: k, Registration: g, Serial: *s}
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

// checkSupport checks the optional company and support contact of a
// registration.
func checkSupport(company, supportContact string) error {
	for _, f := range []struct{ what, v string }{{"company", company}, {"support contact", supportContact}} {
		if f.v != "" {
			if err := checkLabel(f.what, f.v); err != nil {
				return err
			}
		}
	}
	return nil
}

// issueRegistered issues a license key of ks under the hash of key, as
// actor, and registers it to the organization g names, with g's contact
// and support; g's key, time and actor are set here.
func (l *Ledger) issueRegistered(tx Tx, c *chain, ks KeySpec, key []byte, actor string, g *Registration) (LicenseKey, error) {
	k, err := l.issueKey(tx, c, ks, key, actor)
	if err != nil {
		return k, err
	}
	g.KeyHash, g.At, g.Actor = k.Hash, l.now(), actor
	return k, tx.InsertRegistration(g)
}

// A License is a license key an organization holds, as the portal lists
// it.
type License struct {
	Key          LicenseKey
	Registration Registration
	Redeemed     *Redemption // into a product's wallet, if it was
	Product      string      // that product's name
	Fields       []LicenseField
	Shares       []LicenseShare
	Converted    int64 // licenses an upgrade converted to another software
}

// OrgLicenses returns the licenses of an organization, with fields matching
// every name=value of match (exact, case-sensitive).
func (l *Ledger) OrgLicenses(ctx context.Context, org string, match map[string]string) ([]License, error) {
	var out []License
	err := l.view(ctx, func(tx ReadTx) error {
		o, _, err := l.authorize(tx, org, needRead)
		if err != nil {
			return err
		}
		regs, err := tx.Registrations(o.ID)
		if err != nil {
			return err
		}
		products := map[int64]string{}
		for _, g := range regs {
			k, err := tx.LicenseKey(g.KeyHash)
			if err != nil {
				return err
			}
			if k == nil {
				return fmt.Errorf("%w: registration names license key %s, which is missing", ErrCorrupt, KeyID(g.KeyHash))
			}
			lic := License{Key: *k, Registration: g}
			if lic.Fields, err = tx.LicenseFields(g.KeyHash); err != nil {
				return err
			}
			if !fieldsMatch(lic.Fields, match) {
				continue
			}
			if lic.Shares, err = tx.LicenseShares(g.KeyHash); err != nil {
				return err
			}
			conv, err := tx.Conversions(g.KeyHash)
			if err != nil {
				return err
			}
			for _, cv := range conv {
				lic.Converted += cv.Count
			}
			if lic.Redeemed, err = tx.Redemption(g.KeyHash); err != nil {
				return err
			}
			if lic.Redeemed != nil {
				name, ok := products[lic.Redeemed.ProductID]
				if !ok {
					ps, err := tx.Products(o.ID)
					if err != nil {
						return err
					}
					for _, p := range ps {
						products[p.ID] = p.Name
					}
					name = products[lic.Redeemed.ProductID]
				}
				lic.Product = name
			}
			out = append(out, lic)
		}
		return nil
	})
	return out, err
}

func fieldsMatch(fs []LicenseField, match map[string]string) bool {
	for name, want := range match {
		found := false
		for _, f := range fs {
			if f.Name == name && f.Value == want {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// registeredKey finds a registered key by its id (16 hex digits) or its
// typed form, and checks n on its organization.
func (l *Ledger) registeredKey(tx ReadTx, ref string, n need) (*Registration, *Org, string, error) {
	var hash []byte
	if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(ref)), KeyPrefix) {
		b, err := ParseKey(ref)
		if err != nil {
			return nil, nil, "", err
		}
		hash = KeyHash(b)
	} else {
		keys, err := tx.LicenseKeys()
		if err != nil {
			return nil, nil, "", err
		}
		for _, k := range keys {
			if k.KeyID() == strings.ToLower(ref) {
				hash = k.Hash
			}
		}
	}
	var g *Registration
	var err error
	if hash != nil {
		if g, err = tx.Registration(hash); err != nil {
			return nil, nil, "", err
		}
	}
	if g == nil {
		return nil, nil, "", fmt.Errorf("%w: no registered license has key %q: give the key id 'airlock authority licenses --org ORG' lists, or the key itself", ErrNotFound, ref)
	}
	a, err := l.actingAs(tx)
	if err != nil {
		return nil, nil, "", err
	}
	name, err := orgByID(tx, g.OrgID)
	if err != nil {
		return nil, nil, "", err
	}
	o := &Org{ID: g.OrgID, Name: name}
	actor, err := a.may(tx, o, n)
	if err != nil && n == needManage && a.person != nil {
		// A contact the license is shared with as manager may manage it.
		shares, serr := tx.LicenseShares(g.KeyHash)
		if serr != nil {
			return nil, nil, "", serr
		}
		for _, s := range shares {
			if s.Email == a.person.Email && s.Role == "manager" && a.person.OrgID == g.OrgID {
				return g, o, a.name, nil
			}
		}
	}
	return g, o, actor, err
}

// MaxLicenseFields caps a license's custom fields.
const MaxLicenseFields = 32

// SetLicenseField sets a custom field of a license (an empty value
// removes it). It reports whether that changed anything.
func (l *Ledger) SetLicenseField(ctx context.Context, key, name, value string) (bool, error) {
	if err := checkLabel("field name", name); err != nil {
		return false, err
	}
	if strings.ContainsAny(name, "= ") {
		return false, fmt.Errorf("%w: field name %q has '=' or a space", ErrInvalid, name)
	}
	if len(value) > 256 || strings.ContainsFunc(value, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return false, fmt.Errorf("%w: the value of %q is over 256 bytes or has a control character", ErrInvalid, name)
	}
	var did bool
	err := l.update(ctx, func(tx Tx, c *chain) error {
		g, o, actor, err := l.registeredKey(tx, key, needManage)
		if err != nil {
			return err
		}
		fs, err := tx.LicenseFields(g.KeyHash)
		if err != nil {
			return err
		}
		if value != "" && len(fs) >= MaxLicenseFields && !hasField(fs, name) {
			return fmt.Errorf("%w: license %s has %d fields, the limit: unset one first", ErrInvalid, KeyID(g.KeyHash), len(fs))
		}
		if did, err = tx.SetLicenseField(g.KeyHash, name, value); err != nil || !did {
			return err
		}
		e := l.event(l.now(), actionLicenseField, KeyID(g.KeyHash))
		e.Actor, e.Account = actor, o.Name
		e.Detail = fmt.Sprintf("field %s of license %s set to %q", name, KeyID(g.KeyHash), value)
		if value == "" {
			e.Detail = fmt.Sprintf("field %s of license %s unset", name, KeyID(g.KeyHash))
		}
		return c.add(e)
	})
	return did, err
}

func hasField(fs []LicenseField, name string) bool {
	for _, f := range fs {
		if f.Name == name {
			return true
		}
	}
	return false
}

// ShareLicense shares a license with another contact of its
// organization, as viewer or manager.
func (l *Ledger) ShareLicense(ctx context.Context, key, email, role string) error {
	if role != "viewer" && role != "manager" {
		return fmt.Errorf("%w: role %q: want viewer or manager", ErrInvalid, role)
	}
	if err := CheckEmail(email); err != nil {
		return err
	}
	return l.update(ctx, func(tx Tx, c *chain) error {
		g, o, actor, err := l.registeredKey(tx, key, needManage)
		if err != nil {
			return err
		}
		p, err := tx.Person(email)
		if err != nil {
			return err
		}
		if p == nil || p.OrgID != g.OrgID {
			return fmt.Errorf("%w: %s is no contact of %q: licenses are shared within the organization ('airlock authority person add --org %s' adds one)", ErrNotFound, email, o.Name, o.Name)
		}
		now := l.now()
		if err := tx.SetLicenseShare(&LicenseShare{KeyHash: g.KeyHash, Email: email, Role: role, At: now, Actor: actor}); err != nil {
			return err
		}
		e := l.event(now, actionLicenseShare, KeyID(g.KeyHash))
		e.Actor, e.Account = actor, o.Name
		e.Detail = fmt.Sprintf("license %s shared with %s as %s", KeyID(g.KeyHash), email, role)
		return c.add(e)
	})
}

// History actions of the portal.
const (
	actionPersonAdd    = "person add"
	actionDelegate     = "delegate"
	actionRevoke       = "revoke delegation"
	actionSerialIssue  = "serial issue"
	actionRegister     = "register"
	actionLicenseField = "license field"
	actionLicenseShare = "license share"
)

// partnerKnown says whether a person of the partner named is on the
// ledger.
func partnerKnown(tx ReadTx, partner string) (bool, error) {
	ps, err := tx.People(0)
	if err != nil {
		return false, err
	}
	for _, p := range ps {
		if p.Role == RolePartner && p.Partner == partner {
			return true, nil
		}
	}
	return false, nil
}
