package authority

// The store's part of activation-code pools (see fleet.go).

// FleetReadTx reads the activation-code pools of a ReadTx.
type FleetReadTx interface {
	// CodeSpec returns an organization's package spec by name.
	CodeSpec(orgID int64, name string) (*CodeSpec, error)
	// CodeSpecs returns the specs of one organization by name; with org
	// 0, every spec by id.
	CodeSpecs(orgID int64) ([]CodeSpec, error)
	// FleetProduct returns the fleet product with this product key.
	FleetProduct(pk string) (*FleetProduct, error)
	// FleetProductByID returns the fleet product with this id.
	FleetProductByID(id int64) (*FleetProduct, error)
	// FleetProducts returns the fleet products of one organization by
	// name, deleted ones included; with org 0, every one by id.
	FleetProducts(orgID int64) ([]FleetProduct, error)
	// CodeBatches returns the purchases of one organization (0: all), in
	// the order they were made.
	CodeBatches(orgID int64) ([]CodeBatch, error)
	// CodeAllocations returns the allocations of one organization (0:
	// all), in the order they were made.
	CodeAllocations(orgID int64) ([]CodeAllocation, error)
	// Devices calls fn for each device that f selects, by id; with Due
	// and ExpiresTo set, by the end of their codes, then id.
	Devices(f DeviceFilter, fn func(*Device) error) error
	// Consumptions calls fn for each code one device consumed after its
	// first activation (seq 2 on), in order; with device 0, for every
	// device by id, then in order.
	Consumptions(deviceID int64, fn func(*Consumption) error) error
	// Blocklist returns the device keys on a product's auto-renew
	// blocklist, sorted.
	Blocklist(productID int64) ([]string, error)
	// Gateway returns the gateway with this UDI (text form).
	Gateway(udi string) (*Gateway, error)
	// GatewayByID returns the gateway with this id.
	GatewayByID(id int64) (*Gateway, error)
	// Gateways returns the gateways of an organization, by id.
	Gateways(orgID int64) ([]Gateway, error)
	// ActivationAnswer returns the activation code that answered the
	// activation request with this hash.
	ActivationAnswer(requestHash []byte) (*ActivationAnswer, error)
	// AlertRecipients returns an organization's alert addresses, sorted.
	AlertRecipients(orgID int64) ([]string, error)
	// AlertThreshold returns an organization's pool alert threshold, and
	// whether it set one.
	AlertThreshold(orgID int64) (int64, bool, error)
}

// FleetTx writes the activation-code pools of a Tx.
type FleetTx interface {
	InsertCodeSpec(s *CodeSpec) error         // sets s.ID
	InsertFleetProduct(p *FleetProduct) error // sets p.ID
	// UpdateFleetProduct writes a product's spec, auto-renew switch and
	// deletion; never its counts.
	UpdateFleetProduct(p *FleetProduct) error
	// AddProductCodes adds n codes to a product's total.
	AddProductCodes(productID, n int64) error
	// UseProductCodes marks n of a product's codes used, guarded: it
	// reports ErrUnavailable, changing nothing, when fewer than n remain.
	UseProductCodes(productID, n int64) error
	InsertCodeBatch(b *CodeBatch) error           // sets b.ID
	InsertCodeAllocation(a *CodeAllocation) error // sets a.ID
	// NextDeviceID returns the id the next new device takes: devices are
	// inserted in bulk with ids the caller assigns from it.
	NextDeviceID() (int64, error)
	// InsertDevices inserts new devices with their ids set.
	InsertDevices(ds []Device) error
	// UpdateDevices writes the gateway, window, count, switches and
	// deletion of existing devices.
	UpdateDevices(ds []Device) error
	InsertConsumptions(cs []Consumption) error
	// SetBlocked puts a device key on a product's blocklist or takes it
	// off; it reports whether that changed anything.
	SetBlocked(productID int64, dk string, blocked bool, at int64) (bool, error)
	InsertGateway(g *Gateway) error // sets g.ID
	// SetGatewayKey pins a gateway to another key; an empty key retires
	// the pin, so that the next activation request pins its own.
	SetGatewayKey(id int64, key []byte) error
	// InsertActivationAnswer records the answer to an activation request
	// before it is signed (Code nil), so that consumptions may name it;
	// SetActivationCode then stores the signed code.
	InsertActivationAnswer(a *ActivationAnswer) error // sets a.ID
	SetActivationCode(id int64, code []byte) error
	// SetAlertRecipient adds or removes an address; it reports whether
	// that changed anything.
	SetAlertRecipient(orgID int64, address string, add bool, at int64) (bool, error)
	// SetAlertThreshold sets an organization's threshold; a negative
	// value clears it.
	SetAlertThreshold(orgID int64, below int64) error
}

// A CodeSpec is a package of activation codes: a name and how long a
// code keeps a device active once consumed.
type CodeSpec struct {
	ID        int64
	OrgID     int64
	Name      string
	Validity  Validity
	CreatedAt int64
}

// A FleetProduct is a kind of device an organization runs, named by its
// product key (PK, unique in the ledger). It holds activation codes of
// one spec (SpecID 0 before its first codes). Total counts every code it
// ever received; Used those its devices consumed.
type FleetProduct struct {
	ID        int64
	OrgID     int64
	Org       string // the organization's name
	PK        string
	Name      string
	SpecID    int64
	AutoRenew bool
	Total     int64
	Used      int64
	CreatedAt int64
	DeletedAt int64 // 0 while it exists
}

// Remaining returns the codes the product can still give out.
func (p *FleetProduct) Remaining() int64 { return p.Total - p.Used }

// Deleted reports whether the product was deleted.
func (p *FleetProduct) Deleted() bool { return p.DeletedAt != 0 }

// A CodeBatch is a purchase of Count codes of one spec, into the
// organization's unallocated pool (ProductID 0) or one product.
type CodeBatch struct {
	ID        int64
	OrgID     int64
	SpecID    int64
	ProductID int64
	Count     int64
	Reference string // the order, as the operator gave it
	At        int64
	Actor     string
}

// A CodeAllocation moved Count unallocated codes of a spec to a product.
type CodeAllocation struct {
	ID        int64
	OrgID     int64
	SpecID    int64
	ProductID int64
	Count     int64
	At        int64
	Actor     string
}

// A Device is one device of a fleet product, by its device key (DK), with
// its first activation (the first code it consumed: later ones are
// Consumptions) and the window of the last code it consumed.
type Device struct {
	ID          int64
	ProductID   int64
	DK          string
	GatewayID   int64 // the gateway that last activated it
	ActivatedAt int64 // its first activation: its first code's window starts then
	FirstUntil  int64 // when its first code ended
	FirstSource int64 // the activation that consumed its first code
	From, Until int64 // the window of its latest code; Until exclusive
	Consumed    int64 // codes consumed over its life
	AutoRenew   bool  // its own switch; renewal needs the product's too
	Lapsed      bool  // its code ended and was not renewed
	DeletedAt   int64 // 0 unless deleted
}

// ActiveAt reports whether the device holds a valid code at now.
func (d *Device) ActiveAt(now int64) bool {
	return d.DeletedAt == 0 && d.From <= now && now < d.Until
}

// A DeviceFilter selects devices. Zero values select everything; the
// ranges are inclusive of From and exclusive of To.
type DeviceFilter struct {
	OrgID          int64
	ProductID      int64
	GatewayID      int64
	DK             string
	ActivatedFrom  int64
	ActivatedTo    int64
	ExpiresFrom    int64
	ExpiresTo      int64
	Due            bool // only devices neither deleted nor lapsed
	IncludeDeleted bool
	Limit          int // 0: no limit
}

// Causes of a consumption.
const (
	CauseActivation   = 1 // the device's first activation (held in its Device row)
	CauseRenewal      = 2 // its code ended and auto-renew took a new one
	CauseReactivation = 3 // it came back after its code ended (lapsed or deleted)
)

// A Consumption is one code a device consumed.
type Consumption struct {
	DeviceID    int64
	Seq         int64 // 1 for its first
	At          int64 // when the ledger recorded it
	From, Until int64
	Cause       int
	Source      int64 // the activation that consumed it; 0 for a renewal
}

// First returns the consumption of the device's first code.
func (d *Device) First() Consumption {
	return Consumption{DeviceID: d.ID, Seq: 1, At: d.ActivatedAt, From: d.ActivatedAt, Until: d.FirstUntil, Cause: CauseActivation, Source: d.FirstSource}
}

// A Gateway is an instance that carries device activations: pinned at
// its first activation request to its key and to the organization of
// the products it named. A retired gateway has no key: its next request
// pins one.
type Gateway struct {
	ID        int64
	UDI       string
	PublicKey []byte
	OrgID     int64
	CreatedAt int64
}

// An ActivationAnswer is the signed activation code that answered one
// activation request.
type ActivationAnswer struct {
	ID          int64
	RequestHash []byte
	GatewayID   int64
	Code        []byte
	At          int64
}
