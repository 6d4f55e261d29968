package codes

import "fmt"

// An ExportRequest asks the authority, offline, for Count more licenses of
// an export-controlled tag (Return false), or gives them back (Return true)
// after the instance disabled the feature. It names the reservation and
// serial installed, like a confirmation: the authority finds the instance
// by the reservation id (ParseUnverifiedExportRequest), verifies the MAC
// with the pairwise key (OpenExportRequest), and answers with the next
// authorization code of the reservation, or refuses with the reason. A
// request made against a serial that is no longer the latest is stale, so
// an export request code answers once.
type ExportRequest struct {
	Reservation []byte `cbor:"1,keyasint"` // ReservationIDSize bytes
	Serial      uint64 `cbor:"2,keyasint"`
	Tag         string `cbor:"3,keyasint"`
	Count       uint32 `cbor:"4,keyasint"`
	Return      bool   `cbor:"5,keyasint,omitempty"`
	IssuedAt    int64  `cbor:"6,keyasint"` // Unix seconds, UTC
}

func (r *ExportRequest) validate() error {
	if err := checkReservation(r.Reservation, r.Serial); err != nil {
		return err
	}
	if err := CheckTag(r.Tag); err != nil {
		return err
	}
	if r.Count == 0 {
		return fmt.Errorf("%w: export request for %q has a count of 0", ErrInvalid, r.Tag)
	}
	return checkTime("export request time", r.IssuedAt)
}

// Verb is "request" or "return".
func (r *ExportRequest) Verb() string {
	if r.Return {
		return "return"
	}
	return "request"
}

// SealExportRequest returns the export request code for r, MACed with the
// pairwise key.
func SealExportRequest(r *ExportRequest, macKey []byte) ([]byte, error) {
	return sealCode(KindExportRequest, r, macKey)
}

// OpenExportRequest verifies an export request code with the pairwise key.
func OpenExportRequest(b []byte, macKey []byte) (*ExportRequest, error) {
	var r ExportRequest
	if err := openMACed(KindExportRequest, b, macKey, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ParseUnverifiedExportRequest decodes an export request code without
// checking its MAC, so that the authority can find the instance it claims
// to come from. Nothing in it is trusted until OpenExportRequest succeeds.
func ParseUnverifiedExportRequest(b []byte) (*ExportRequest, error) {
	var r ExportRequest
	if _, err := parseMACed(KindExportRequest, b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
