package authority

// The store's part of the licensing portal (see portal.go).

// PortalReadTx reads the portal records of a ReadTx.
type PortalReadTx interface {
	// OrgByID returns the organization with this id.
	OrgByID(id int64) (*Org, error)
	// Person returns the person with this e-mail address.
	Person(email string) (*Person, error)
	// People returns the people of one organization (0: every person),
	// by e-mail address.
	People(orgID int64) ([]Person, error)
	// VendorStaff counts the people with the vendor role.
	VendorStaff() (int, error)
	// Delegation returns an organization's delegation to a partner.
	Delegation(orgID int64, partner string) (*Delegation, error)
	// Serial returns the serial number with this hash.
	Serial(hash []byte) (*Serial, error)
	// Registration returns the registration of the license key with this
	// hash.
	Registration(keyHash []byte) (*Registration, error)
	// Registrations returns the license keys registered to one
	// organization, in the order they were registered; with org 0, every
	// registration.
	Registrations(orgID int64) ([]Registration, error)
	// LicenseFields returns a key's custom fields by name.
	LicenseFields(keyHash []byte) ([]LicenseField, error)
	// LicenseShares returns a key's shares by e-mail address.
	LicenseShares(keyHash []byte) ([]LicenseShare, error)
}

// PortalTx writes the portal records of a Tx.
type PortalTx interface {
	InsertPerson(p *Person) error // sets p.ID
	SetDelegation(d *Delegation) error
	InsertSerial(s *Serial) error
	// UseSerial marks a serial registered, guarded: it reports false,
	// changing nothing, when it was registered before.
	UseSerial(hash []byte, orgID int64, keyHash []byte, at int64) (bool, error)
	InsertRegistration(r *Registration) error
	// SetLicenseField sets a custom field; an empty value removes it. It
	// reports whether that changed anything.
	SetLicenseField(keyHash []byte, name, value string) (bool, error)
	SetLicenseShare(s *LicenseShare) error
}

// Roles of the people who act on the ledger.
const (
	RoleVendor  = "vendor"  // the vendor's support staff: everything
	RoleAdmin   = "admin"   // a customer's administrator: manages its organization
	RoleViewer  = "viewer"  // a customer's viewer: reads its organization
	RolePartner = "partner" // a channel partner: manages the organizations that delegated to it
)

// A Person is someone who acts on the ledger, by e-mail address, with one
// role: in an organization (admin, viewer), for a partner, or at the
// vendor.
type Person struct {
	ID        int64
	Email     string
	Name      string
	Role      string
	OrgID     int64  // admin and viewer
	Org       string // its name
	Partner   string // partner
	CreatedAt int64
}

// A Delegation lets a partner manage an organization until revoked.
type Delegation struct {
	OrgID     int64
	Partner   string
	GrantedAt int64
	GrantedBy string
	RevokedAt int64 // 0 while in force
	RevokedBy string
}

// A Serial is a serial number the vendor printed on a certificate: what
// registering it brings, kept by hash like a license key.
type Serial struct {
	Hash         []byte
	Software     string
	Tag          string
	Count        int64
	Years        int
	SupportUntil int64 // 0 for none
	IssuedAt     int64
	IssuedBy     string
	OrgID        int64 // once registered
	KeyHash      []byte
	RegisteredAt int64
}

// A Registration says a license key belongs to an organization, with the
// support registration that came with it.
type Registration struct {
	KeyHash        []byte
	OrgID          int64
	SerialHash     []byte // the serial it came from, if any
	Contact        string
	Email          string
	Company        string
	SupportContact string
	SupportUntil   int64
	At             int64
	Actor          string
}

// A LicenseField is a custom field a customer set on a license.
type LicenseField struct {
	Name, Value string
}

// A LicenseShare lets another contact of the organization see or manage
// a license.
type LicenseShare struct {
	KeyHash []byte
	Email   string
	Role    string // "viewer" or "manager"
	At      int64
	Actor   string
}
