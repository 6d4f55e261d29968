package codes

import "fmt"

// A Confirmation tells the authority that the instance installed the
// authorization code with this reservation id and serial, so licenses freed
// by that update can leave transition. The instance makes it
// (SealConfirmation); the authority finds the instance by the reservation
// id (ParseUnverifiedConfirmation) and then verifies it with the pairwise key
// (OpenConfirmation). It is short enough to read over the phone.
type Confirmation struct {
	Reservation []byte `cbor:"1,keyasint"` // ReservationIDSize bytes
	Serial      uint64 `cbor:"2,keyasint"`
}

func (c *Confirmation) validate() error { return checkReservation(c.Reservation, c.Serial) }

func checkReservation(id []byte, serial uint64) error {
	if err := checkLen("reservation id", id, ReservationIDSize); err != nil {
		return err
	}
	if serial == 0 {
		return fmt.Errorf("%w: serial is 0, serials start at 1", ErrMalformed)
	}
	return nil
}

// SealConfirmation returns the confirmation code for c, MACed with the
// pairwise key.
func SealConfirmation(c *Confirmation, macKey []byte) ([]byte, error) {
	return sealCode(KindConfirmation, c, macKey)
}

// OpenConfirmation verifies a confirmation code with the pairwise key.
func OpenConfirmation(b []byte, macKey []byte) (*Confirmation, error) {
	var c Confirmation
	if err := openMACed(KindConfirmation, b, macKey, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// ParseUnverifiedConfirmation decodes a confirmation code without checking
// its MAC, so that the authority can find the instance it claims to come
// from. Nothing in it is trusted until OpenConfirmation succeeds.
func ParseUnverifiedConfirmation(b []byte) (*Confirmation, error) {
	var c Confirmation
	if _, err := parseMACed(KindConfirmation, b, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// JournalTagSize is the length of a return code's journal tag: the first
// 2 bytes of the instance's journal head. Two bytes are all the typed
// return code's target of 51 characters leaves room for (docs/FORMAT.md
// §9.2); they tell two histories apart with a chance of 1 in 65 536 of
// missing one.
const JournalTagSize = 2

// MaxTypedReturn is the target length of a typed return code, in letters
// and digits (TypedLen): no longer than the return codes network
// administrators type today. A return code of an installed code with a
// serial up to 23 fits with its journal tag (50); a larger serial or a
// return-authorization (NeverInstalled) does not, and goes without it.
const MaxTypedReturn = 51

// A Return tells the authority that the instance destroyed the
// authorization code with this reservation id and serial, or, with
// NeverInstalled, that it will never install that code. The authority then
// releases the reservation's licenses.
//
// Journal tags the instance's journal as it was when the code was made,
// before the return's own entry: a restored backup or a copy of the state
// folder that returns the same reservation again makes a code with
// another tag, which the authority flags as a fork. The instance sets it
// whenever the typed code stays within MaxTypedReturn characters; a code
// without it is valid, and the authority then has nothing to compare.
type Return struct {
	Reservation    []byte `cbor:"1,keyasint"` // ReservationIDSize bytes
	Serial         uint64 `cbor:"2,keyasint"`
	NeverInstalled bool   `cbor:"3,keyasint,omitempty"`
	Journal        []byte `cbor:"4,keyasint,omitempty"` // JournalTagSize bytes: the journal head's first bytes
}

func (r *Return) validate() error {
	if err := checkReservation(r.Reservation, r.Serial); err != nil {
		return err
	}
	if r.Journal != nil {
		return checkLen("journal tag", r.Journal, JournalTagSize)
	}
	return nil
}

// SealReturn returns the return code for r, MACed with the pairwise key.
func SealReturn(r *Return, macKey []byte) ([]byte, error) {
	return sealCode(KindReturn, r, macKey)
}

// OpenReturn verifies a return code with the pairwise key.
func OpenReturn(b []byte, macKey []byte) (*Return, error) {
	var r Return
	if err := openMACed(KindReturn, b, macKey, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ParseUnverifiedReturn decodes a return code without checking its MAC; see
// ParseUnverifiedConfirmation.
func ParseUnverifiedReturn(b []byte) (*Return, error) {
	var r Return
	if _, err := parseMACed(KindReturn, b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
