package authority

// What the ledger keeps of connected mode: see migration 12 of package
// store.

// ConnectedReadTx reads connected registrations, borrows, export grants
// and tier ladders; part of ReadTx.
type ConnectedReadTx interface {
	// Connected returns the connected registration of an instance.
	Connected(instanceID int64) (*ConnectedInstance, error)
	// ConnectedByUDI returns the connected registration of the live
	// instance with this UDI (text form), and the instance.
	ConnectedByUDI(udi string) (*ConnectedInstance, *Instance, error)
	// GrantsFrom returns the grants of a reservation's serials from
	// serial on, by serial.
	GrantsFrom(reservation uint32, serial uint64) ([]Grant, error)
	// ConnectedInstances returns the registrations of one account (0:
	// every one), ended ones included, by instance id.
	ConnectedInstances(accountID int64) ([]ConnectedInstance, error)
	// Borrows returns what each serial of a reservation borrowed from
	// higher tiers; with reservation 0 and all true, every borrow.
	Borrows(reservation uint32, all bool) ([]Borrow, error)
	// ExportGrants returns the export-controlled licenses granted on
	// request to one instance (0: to every one), by instance and tag.
	ExportGrants(instanceID int64) ([]ExportGrant, error)
	// Ladders returns every tier ladder, by name, its tags lowest first.
	Ladders() ([]Ladder, error)
}

// ConnectedTx writes them; part of Tx.
type ConnectedTx interface {
	// PutConnected inserts an instance's registration, or replaces the
	// one it has.
	PutConnected(r *ConnectedInstance) error
	// SetContact records the sequence number of the last request
	// accepted from an instance, and when.
	SetContact(instanceID int64, seq uint64, at int64) error
	InsertBorrows(b []Borrow) error
	// SetExportGrant sets the count of a tag granted on request to an
	// instance; 0 deletes it.
	SetExportGrant(instanceID int64, tag string, count int64) error
	// PutLadder inserts a tier ladder, or replaces the one of that name.
	// The store refuses a tag in two ladders.
	PutLadder(l *Ladder) error
	// DeleteLadder reports false when there is no ladder of that name.
	DeleteLadder(name string) (bool, error)
}

// A ConnectedInstance is an instance registered in connected mode with a
// registration token: to which account, until when, with which
// sequence number last, and what the latest answer lacked.
type ConnectedInstance struct {
	InstanceID     int64
	UDI            string // the instance's, read with it
	AccountID      int64
	Account        string // ORG/ACCOUNT, read with it
	TokenHash      []byte // the token it registered with
	RequestHash    []byte // SHA-256 of the request code it registered with
	Nonce          []byte // that request's nonce
	RegisteredAt   int64  // Unix seconds, UTC
	RenewedAt      int64  // the registration's last renewal
	ExpiresAt      int64  // the registration ends then unless renewed
	ExportAllowed  bool
	Hostname       string   // "" in private mode
	Addresses      []string // nil in private mode
	LastSeq        uint64   // of the last request accepted
	LastContact    int64
	Reservation    uint32 // the reservation it holds its licenses in, 0 for none yet
	Lapses         int64  // when the latest authorization code lapses, 0 for none
	Answer         string // JSON: what the latest authorization lacked (connectedAnswer)
	DeregisteredAt int64  // 0 while registered
}

// A Borrow says that Count licenses a serial of a reservation takes from
// a lot of a higher tier entitle the lower tier Tag in its code.
type Borrow struct {
	Reservation uint32
	Serial      uint64
	LotID       int64
	Tag         string
	Count       int64
}

// An ExportGrant is Count licenses of an export-controlled Tag granted
// to an instance on its request, on top of what it asks for when it
// renews.
type ExportGrant struct {
	InstanceID int64
	Tag        string
	Count      int64
}

// A Ladder is an ordered list of tiers of one product, lowest first: in
// connected mode a license of a higher tier covers a need for a lower one
// that is short.
type Ladder struct {
	Name      string
	Tags      []string // lowest first, at least 2
	CreatedAt int64
	CreatedBy string
}
