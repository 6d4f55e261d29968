package authority

// The store's part of flexible agreements (see agreement.go).

// AgreementReadTx reads the agreements of a ReadTx.
type AgreementReadTx interface {
	// Agreement returns the agreement of one organization by name, with
	// its caps by tag.
	Agreement(orgID int64, name string) (*Agreement, error)
	// Agreements returns the agreements of one organization by name,
	// with their caps by tag; with org 0, every agreement, by id.
	Agreements(orgID int64) ([]Agreement, error)
	// AgreementDraws returns the draws of one agreement in the order
	// they were made; with agreement 0, every draw.
	AgreementDraws(agreementID int64) ([]AgreementDraw, error)
}

// AgreementTx writes the agreements of a Tx.
type AgreementTx interface {
	// InsertAgreement stores an agreement and its caps (Drawn 0); it sets
	// a.ID.
	InsertAgreement(a *Agreement) error
	// InsertAgreementDraw records a draw, guarded: it adds d.Count to the
	// drawn count of d.Tag's cap only if that stays within the cap, and
	// reports ErrUnavailable, changing nothing, otherwise. It sets d.ID.
	InsertAgreementDraw(d *AgreementDraw) error
}

// An Agreement lets an organization draw licenses of the software and
// tags its caps list, up to each cap, during its term, without a key or
// a serial number per purchase: each draw issues a license key registered
// to the organization, and the vendor bills the draws at the true-up.
type Agreement struct {
	ID        int64
	OrgID     int64
	Org       string // the organization's name
	Name      string
	From      int64 // Unix seconds, a UTC midnight: the first day of the term
	To        int64 // Unix seconds, a UTC midnight: the day after the term (exclusive)
	Caps      []AgreementCap
	CreatedAt int64 // Unix seconds, UTC
	CreatedBy string
}

// An AgreementCap is how many licenses of one software and tag an
// agreement lets its organization draw, and how many it drew.
type AgreementCap struct {
	Software string
	Tag      string
	Cap      int64
	Drawn    int64 // 0 ≤ Drawn ≤ Cap: the sum of the draws of Tag
}

// Left returns Cap - Drawn.
func (c *AgreementCap) Left() int64 { return c.Cap - c.Drawn }

// An AgreementDraw is one draw of an agreement: Count licenses of Tag,
// Years years each, issued as the license key with hash KeyHash.
type AgreementDraw struct {
	ID          int64
	AgreementID int64
	Tag         string
	Count       int64
	Years       int
	KeyHash     []byte
	At          int64 // Unix seconds, UTC
	Actor       string
}
