package authority

// The store's part of OEM vouchers and the partners' key lists (see
// voucher.go).

// VoucherReadTx reads the voucher records of a ReadTx.
type VoucherReadTx interface {
	// Voucher returns the voucher with this hash, with the name of the
	// organization it was converted for.
	Voucher(hash []byte) (*Voucher, error)
	// Vouchers returns the vouchers issued to one OEM partner, in the
	// order they were issued.
	Vouchers(oem string) ([]Voucher, error)
	// PartnerPeople returns the people with the partner role of one
	// partner, by e-mail address.
	PartnerPeople(partner string) ([]Person, error)
	// PartnerRegistrations returns the registrations a person of the
	// partner made, by time, then key hash: those whose actor is
	// the e-mail address of a person with the partner role of that
	// partner, alone or followed by " (", as the ledger records a
	// partner's acts ("pat@partner.example (partner Contoso, for acme)").
	PartnerRegistrations(partner string) ([]Registration, error)
}

// VoucherTx writes the voucher records of a Tx.
type VoucherTx interface {
	InsertVoucher(v *Voucher) error // sets v.ID
	// UseVoucher marks a voucher converted, guarded: it reports false,
	// changing nothing, when it was converted before.
	UseVoucher(hash []byte, orgID int64, keyHash []byte, at int64, by string) (bool, error)
}

// A Voucher is what the vendor issued to an OEM partner: the right to
// convert it, once, into a license key of Count licenses of Tag for
// Software, Years years each, registered to an end customer. Like a
// license key, it is kept by hash: the typed voucher code exists only
// where it was printed.
type Voucher struct {
	ID       int64
	Hash     []byte // VoucherHash of the voucher's bytes, 32 bytes
	OEM      string // the partner it was issued to
	Software string
	Tag      string
	Count    int64
	Years    int
	IssuedAt int64 // Unix seconds, UTC
	IssuedBy string
	OrgID    int64  // the organization it was converted for; 0 while unused
	Org      string // its name
	KeyHash  []byte // the license key it was converted into
	UsedAt   int64  // Unix seconds, UTC; 0 while unused
	UsedBy   string // who converted it, as the history names them
}

// VoucherID returns the voucher's id: the first 8 bytes of its hash, in
// hex. It names the voucher in lists and messages and converts nothing.
func (v *Voucher) VoucherID() string { return KeyID(v.Hash) }

// Used reports whether the voucher was converted.
func (v *Voucher) Used() bool { return v.OrgID != 0 }

// Describe says what the voucher converts into: "10 vms.camera.core × 1
// year".
func (v *Voucher) Describe() string {
	k := LicenseKey{Years: v.Years, Lines: []KeyLine{{Tag: v.Tag, Count: v.Count}}}
	return k.Describe()
}
