package authority

import (
	"context"

	"github.com/airlock-dev/airlock/codes"
)

// A Store keeps the ledger's records. The ledger's rules live in this
// package; a Store only reads and writes rows, in transactions. The
// embedded default is package store (SQLite); the same package runs it
// on PostgreSQL for several servers on one ledger.
//
// Update runs fn in one write transaction that excludes every other writer
// from its start (BEGIN IMMEDIATE in SQLite, a transaction-level advisory
// lock in PostgreSQL), commits durably when fn returns nil and rolls back
// otherwise. A store may run fn again when the database rolled the
// transaction back as a conflict (PostgreSQL's serialization failures and
// deadlocks): fn must reset what it leaves outside the transaction. It returns only after the commit is on disk, so a caller
// may then print what fn produced. A Store must map a lock held longer
// than its busy timeout to ErrBusy.
type Store interface {
	Update(ctx context.Context, fn func(Tx) error) error
	View(ctx context.Context, fn func(ReadTx) error) error
	Close() error
}

// A ReadTx reads a consistent snapshot. Lookups of a single record return
// nil and no error when it does not exist.
type ReadTx interface {
	Meta() (*Meta, error)
	Org(name string) (*Org, error)
	Account(org, name string) (*Account, error)
	AccountByID(id int64) (*Account, error)
	Accounts() ([]Account, error)
	// Lots returns the lots of one account and tag, oldest first; with an
	// empty tag, all lots of the account; with account 0, every lot.
	Lots(accountID int64, tag string) ([]Lot, error)
	Transfers() ([]Transfer, error)
	// LiveInstance returns the instance with this UDI (text form) that was
	// not removed.
	LiveInstance(udi string) (*Instance, error)
	InstanceByID(id int64) (*Instance, error)
	// Instances returns every instance, removed ones included, by id.
	Instances() ([]Instance, error)
	// SystemInstances returns the live instances registered by a system
	// description with this name.
	SystemInstances(name string) ([]Instance, error)
	Reservation(id uint32) (*Reservation, error)
	// Reservations returns the reservations of one instance, oldest first;
	// with instance 0, every reservation.
	Reservations(instanceID int64) ([]Reservation, error)
	// Grants returns what each serial of a reservation took from each lot;
	// with reservation id 0 and all true, every grant.
	Grants(reservation uint32, all bool) ([]Grant, error)
	// Issued returns the authorization codes of a reservation by serial;
	// with id 0 and all true, every code.
	Issued(reservation uint32, all bool) ([]Issued, error)
	// IssuedByRequest returns the code that answered the request or
	// system description with this hash.
	IssuedByRequest(hash []byte) (*Issued, error)
	Received(hash []byte) (*Received, error)
	// Journal returns the journal record of an instance: nil before its
	// first usage report or fork.
	Journal(instanceID int64) (*Journal, error)
	// Journals returns every journal record, by instance id.
	Journals() ([]Journal, error)
	// UsageReport returns the imported usage report with this hash.
	UsageReport(hash []byte) (*UsageReport, error)
	// UsageReports returns the usage reports of one instance in the order
	// they were imported; with instance 0, every report.
	UsageReports(instanceID int64) ([]UsageReport, error)
	// Removals counts the reservations of an account removed at or after
	// since (Unix seconds) while they still held licenses.
	Removals(accountID int64, since int64) (int, error)
	// History calls fn for each event that matches f, in chain order
	// (newest first when f.Newest is set).
	History(f HistoryFilter, fn func(*Event) error) error
	// Product returns the product of one organization by name.
	Product(orgID int64, name string) (*Product, error)
	// Products returns the products of one organization by name; with
	// org 0, every product, by organization and name.
	Products(orgID int64) ([]Product, error)
	// LicenseKey returns the license key with this hash, with its lines.
	LicenseKey(hash []byte) (*LicenseKey, error)
	// LicenseKeys returns every license key, with its lines, by id.
	LicenseKeys() ([]LicenseKey, error)
	// Redemption returns the redemption of the key with this hash.
	Redemption(keyHash []byte) (*Redemption, error)
	// Redemptions returns every redemption, in the order they were made.
	Redemptions() ([]Redemption, error)
	// WalletLots returns the lots of one product's wallet by expiry, then
	// id; with product 0, every wallet lot.
	WalletLots(productID int64) ([]WalletLot, error)
	// SubscriptionAnchor returns the start of an organization's first
	// subscription year, Unix seconds; 0 before its first subscription.
	SubscriptionAnchor(orgID int64) (int64, error)
	// Subscription returns the subscription of a product.
	Subscription(productID int64) (*Subscription, error)
	// Allocations returns the allocations of one product with their
	// sources, in the order they were made; with product 0, every one.
	Allocations(productID int64) ([]Allocation, error)
	// ProductSystems returns the systems registered to one product, by
	// instance id; with product 0, every one.
	ProductSystems(productID int64) ([]ProductSystem, error)
	// ProductSystem returns the product registration of an instance.
	ProductSystem(instanceID int64) (*ProductSystem, error)
	// Hardware returns the hardware registered to one product, by
	// component id; with product 0, every component.
	Hardware(productID int64) ([]Hardware, error)
	// HardwareComponent returns the registration of a component id.
	HardwareComponent(id string) (*Hardware, error)
	FleetReadTx
	PortalReadTx
	VoucherReadTx
	AgreementReadTx
	ReleaseReadTx
	UpgradeReadTx
	TokenReadTx
	ConnectedReadTx
	SyncReadTx
	WebReadTx
}

// A Tx is a write transaction. The Adjust… and Shrink… methods are guarded
// updates: they change a lot only if the result keeps 0 ≤ held ≤ count,
// and report ErrUnavailable otherwise, so that no caller ever checks and
// then acts on a count that another transaction changed meanwhile.
type Tx interface {
	ReadTx
	InitMeta(m *Meta) error
	SetHead(count int64, head []byte, lastIssuedAt int64) error
	InsertOrg(o *Org) error         // sets o.ID
	InsertAccount(a *Account) error // sets a.ID
	SetRemovalLimit(accountID int64, limit int) error
	SetExportAllowed(accountID int64, allowed bool) error
	InsertLot(l *Lot) error // sets l.ID
	// AdjustHeld adds delta (of either sign) to a lot's held count.
	AdjustHeld(lotID int64, delta int64) error
	// ShrinkLot takes n licenses out of a lot's count (a transfer).
	ShrinkLot(lotID int64, n int64) error
	InsertTransfer(t *Transfer) error
	InsertInstance(i *Instance) error // sets i.ID
	UpdateInstance(i *Instance) error
	// InsertReservation reports false, and inserts nothing, when the id
	// is taken.
	InsertReservation(r *Reservation) (bool, error)
	UpdateReservation(r *Reservation) error
	InsertGrants(g []Grant) error
	InsertIssued(c *Issued) error
	InsertReceived(r *Received) error
	InsertJournal(j *Journal) error
	UpdateJournal(j *Journal) error
	InsertUsageReport(u *UsageReport) error
	AppendHistory(e *Event) error
	InsertProduct(p *Product) error       // sets p.ID
	InsertLicenseKey(k *LicenseKey) error // sets k.ID; stores k.Lines too
	// InsertRedemption reports false, and inserts nothing, when the key
	// was redeemed before: the store's unique key hash is what makes a
	// second redemption impossible, whichever process tries it.
	InsertRedemption(r *Redemption) (bool, error)
	InsertWalletLot(w *WalletLot) error // sets w.ID
	// AdjustWalletLot adds delta (of either sign) to a wallet lot's count,
	// guarded: it reports ErrUnavailable, changing nothing, when the
	// result would leave 0 ≤ count ≤ initial count.
	AdjustWalletLot(lotID int64, delta int64) error
	InsertSubscriptionAnchor(orgID, anchor int64) error
	InsertSubscription(s *Subscription) error
	InsertAllocation(a *Allocation) error // sets a.ID; stores a.Sources too
	InsertProductSystem(ps *ProductSystem) error
	InsertHardware(h *Hardware) error
	FleetTx
	PortalTx
	VoucherTx
	AgreementTx
	ReleaseTx
	UpgradeTx
	TokenTx
	ConnectedTx
	SyncTx
	WebTx
}

// Meta describes the ledger.
type Meta struct {
	Name         string
	CreatedAt    int64  // Unix seconds, UTC
	HistoryCount int64  // events in the history chain
	HistoryHead  []byte // SHA-256 of the last event's canonical encoding
	LastIssuedAt int64  // the latest issue time of any code, Unix seconds
	Schema       int    // the schema version
}

// An Org is an organization: the customer. Licenses never leave it.
type Org struct {
	ID        int64
	Name      string
	CreatedAt int64
}

// An Account is a virtual account: a partition of an organization's
// licenses.
type Account struct {
	ID           int64
	OrgID        int64
	Org          string // the organization's name
	Name         string
	RemovalLimit int // removals without a return allowed per 365 days
	CreatedAt    int64
	// ExportAllowed says whether the account's reservations, and the
	// registrations of its instances, may hold export-controlled
	// licenses (true unless the vendor denied them).
	ExportAllowed bool
}

// Ref returns "ORG/ACCOUNT".
func (a *Account) Ref() string { return a.Org + "/" + a.Name }

// A Lot is licenses of one tag that entered an account together, with
// their kind and validity. Held counts the licenses that reservations hold
// from it, reserved or in transition; Count - Held are available.
type Lot struct {
	ID               int64
	AccountID        int64
	Tag              string
	Kind             codes.EntitlementKind
	Start, End       int64 // Unix seconds, UTC; 0 for none; End is exclusive
	ExportControlled bool
	Initial          int64 // the count it entered with
	Count            int64 // Initial less what was transferred out
	Held             int64
	Origin           string
	CreatedAt        int64
}

// Available returns Count - Held.
func (l *Lot) Available() int64 { return l.Count - l.Held }

// A Transfer moved Count licenses from one lot to a new lot of another
// account of the same organization.
type Transfer struct {
	ID     int64
	From   int64 // lot id
	To     int64 // lot id
	Count  int64
	At     int64
	Detail string
}

// InstanceState is where an instance is in its life at the authority.
type InstanceState string

// The instance states.
const (
	InstanceRegistered InstanceState = "registered" // known (a system description), nothing reserved
	InstanceReserved   InstanceState = "reserved"   // holds a reservation
	InstanceReturned   InstanceState = "returned"   // returned its last reservation
	InstanceRemoved    InstanceState = "removed"    // removed by an operator; its UDI may be pinned again
)

// An Instance is what the authority knows of one instance: its UDI and the
// instance key pinned at first sight.
type Instance struct {
	ID            int64
	UDI           string // text form
	PublicKey     []byte // X25519, 32 bytes
	AccountID     int64
	State         InstanceState
	Name          string // system name, for instances registered by a system description
	System        []byte // the system description code, binary
	CreatedAt     int64
	RemovedAt     int64
	RemovalReason string
}

// ReservationStatus is where a reservation is.
type ReservationStatus string

// The reservation statuses.
const (
	// StatusIssued: the latest code is issued and not confirmed, and
	// nothing is in transition.
	StatusIssued ReservationStatus = "issued"
	// StatusInstalled: the instance confirmed it installed the latest code.
	StatusInstalled ReservationStatus = "installed"
	// StatusTransition: the latest code is an update not yet confirmed,
	// and licenses it freed are held until it is.
	StatusTransition ReservationStatus = "in transition"
	// StatusReturned: the instance returned the reservation.
	StatusReturned ReservationStatus = "returned"
	// StatusRemoved: an operator removed the instance.
	StatusRemoved ReservationStatus = "removed"
)

// Live reports whether the status holds licenses.
func (s ReservationStatus) Live() bool {
	return s == StatusIssued || s == StatusInstalled || s == StatusTransition
}

// A Reservation is licenses held for one instance. Serial is the latest
// code issued; Confirmed the latest serial the instance confirmed it
// installed (0 for none).
type Reservation struct {
	ID         uint32
	InstanceID int64
	AccountID  int64
	Status     ReservationStatus
	Serial     uint64
	Confirmed  uint64
	CreatedAt  int64
	UpdatedAt  int64
	ClosedAt   int64  // when returned or removed
	CloseHash  []byte // hash of the return code that closed it
}

// IDString returns the reservation id as 8 hex digits.
func (r *Reservation) IDString() string { return FormatReservationID(r.ID) }

// A Grant is what one serial of a reservation took from one lot: Count
// licenses of Tag, bound to Component for hardware lots.
type Grant struct {
	Reservation uint32
	Serial      uint64
	LotID       int64
	Tag         string
	Component   string
	Count       int64
}

// Issued is an authorization code as it was signed, kept verbatim.
type Issued struct {
	Reservation uint32
	Serial      uint64
	Code        []byte // binary
	Hash        []byte // SHA-256 of Code
	RequestHash []byte // SHA-256 of the request or system description it answers (serial 1)
	Nonce       []byte // the request nonce (serial 1)
	IssuedAt    int64
	InstallBy   int64
	KeyID       string
}

// Received is a confirmation or return code the ledger applied.
type Received struct {
	Hash        []byte
	Kind        string // "confirmation", "return", or "fork": a return flagged as from a second history, never applied
	Reservation uint32
	Serial      uint64
	At          int64
	Journal     []byte // a return code's journal tag, nil if it carried none
}

// A Journal is what the ledger knows of one instance's hash-chained
// journal: where the last usage report imported left it, and how often the
// ledger saw two histories of the instance (a restored backup, a copy of
// its state folder).
type Journal struct {
	InstanceID int64
	Count      uint64 // journal entries the last report counted; 0 before one
	Head       []byte // the journal head it carried; nil before one
	Report     []byte // the hash of that report
	UpdatedAt  int64  // when it was imported, Unix seconds
	Forks      int64  // fork events recorded for the instance
	FirstFork  int64  // when the first was recorded, Unix seconds; 0 for none
	LastFork   int64  // when the last was recorded
}

// A UsageReport is a usage report the ledger imported, with the journal
// state it carried.
type UsageReport struct {
	Hash       []byte // SHA-256 of the code
	InstanceID int64
	Count      uint64 // journal count; 0 when the report carried none
	Head       []byte // journal head, or nil
	Previous   []byte // the previous report's journal head, or nil
	From, To   int64  // the period, Unix seconds
	At         int64  // when it was imported
	Fork       bool   // it was flagged as coming from a second history
}

// A HistoryFilter selects events: by instance UDI (text form), by account
// ("ORG/ACCOUNT"), by organization (its accounts' events and its own, whose
// account is "ORG"), from a time on (Unix seconds) and before an event id.
// Zero values select everything.
type HistoryFilter struct {
	Instance string
	Account  string
	Org      string
	Since    int64
	Before   int64 // event ids below this one
	// Newest, when above 0, selects only the newest events that match,
	// this many at most, and History calls fn newest first: the store
	// reads no older event than it returns.
	Newest int
}

// A Product is software an organization runs, e.g. its video management
// system on one site. Software names what it is ("vms"): license keys
// name a software, and redeem only into products of it. Each product has
// a wallet of licenses bought and not yet allocated.
type Product struct {
	ID        int64
	OrgID     int64
	Org       string // the organization's name
	Name      string
	Software  string
	CreatedAt int64 // Unix seconds, UTC
}

// Ref returns "ORG/PRODUCT".
func (p *Product) Ref() string { return p.Org + "/" + p.Name }

// A LicenseKey is a key the vendor issued, kept by hash only: the ledger
// never stores the key itself.
type LicenseKey struct {
	ID        int64
	Hash      []byte // KeyHash of the key's bytes, 32 bytes
	Software  string
	Extension bool // an extension key, for hardware-bound products; Years is then 1
	Years     int  // subscription years each license covers, 1 to MaxKeyYears
	Lines     []KeyLine
	IssuedAt  int64 // Unix seconds, UTC
	IssuedBy  string
}

// KeyID returns the key's id: the first 8 bytes of its hash, in hex.
func (k *LicenseKey) KeyID() string { return KeyID(k.Hash) }

// A KeyLine is how many licenses of one tag a key carries.
type KeyLine struct {
	Tag   string
	Count int64
}

// A Redemption records that a key's licenses entered a product's wallet.
type Redemption struct {
	KeyHash   []byte
	ProductID int64
	At        int64 // Unix seconds, UTC
	Actor     string
}

// A WalletLot is licenses of one tag that entered a product's wallet
// together, from one redeemed key. They expire at ExpiresAt (exclusive):
// EnteredAt plus five calendar years.
type WalletLot struct {
	ID        int64
	ProductID int64
	Tag       string
	Initial   int64 // the count it entered with
	Count     int64 // Initial less what was allocated out (a later slice)
	EnteredAt int64 // Unix seconds, UTC
	ExpiresAt int64 // Unix seconds, UTC; exclusive
	KeyHash   []byte
	Extension bool // from an extension key (read from the key, not stored twice)
}

// Expired reports whether the lot has expired at now (Unix seconds): at
// ExpiresAt and after.
func (w *WalletLot) Expired(now int64) bool { return now >= w.ExpiresAt }

// A Subscription is a product's subscription: it started on a day (UTC
// midnight) of one of its organization's subscription years.
type Subscription struct {
	ProductID int64
	StartedAt int64 // Unix seconds, a UTC midnight
	CreatedAt int64 // when it was recorded
	Actor     string
}

// An Allocation moved licenses of a wallet to a product's subscription
// year (Year ≥ 1), or, from extension keys, to one hardware component
// (Year 0, Component set).
type Allocation struct {
	ID         int64
	ProductID  int64
	Year       int
	Component  string
	Tag        string
	Count      int64 // licenses allocated
	Credited   int64 // of them, credited back to the wallet for overlap
	CoversFrom int64 // the day they cover the year from, Unix seconds
	Demand     int64 // the product's demand of Tag when allocated
	Met        bool  // after it, the year's allocations met every demand
	At         int64
	Actor      string
	Sources    []AllocationSource // what it took from each wallet lot, net of the credit
}

// An AllocationSource is what an allocation took from one wallet lot.
type AllocationSource struct {
	LotID int64
	Count int64
}

// A ProductSystem is an instance registered to a product from its system
// description: its demand counts toward the product's subscription.
type ProductSystem struct {
	InstanceID   int64
	ProductID    int64
	RegisteredAt int64
}

// A Hardware is a component registered to a product from a system
// description that lists it with a preloaded license of Tag.
type Hardware struct {
	Component    string
	ProductID    int64
	InstanceID   int64
	Model        string
	Tag          string
	RegisteredAt int64
}
