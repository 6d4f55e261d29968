package instance

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/codes"
)

// A Mode is where an instance is in the reservation lifecycle (DESIGN.md):
//
//	evaluation ──Enable──▶ enabled ──Request──▶ reserving ──Install──▶ reserved
//	reserved ──Install newer──▶ reserved; reserved ──Return──▶ enabled
//	reserving ──Cancel──▶ enabled; enabled ──Disable──▶ evaluation
//
// Unlicensed is evaluation after the evaluation period ended.
type Mode uint8

// The modes.
const (
	ModeEvaluation Mode = iota + 1
	ModeUnlicensed
	ModeEnabled
	ModeReserving
	ModeReserved
)

// String returns the mode's name, e.g. "reserving". ModeEnabled is
// "enabled", for "reservation enabled".
func (m Mode) String() string {
	switch m {
	case ModeEvaluation:
		return "evaluation"
	case ModeUnlicensed:
		return "unlicensed"
	case ModeEnabled:
		return "enabled"
	case ModeReserving:
		return "reserving"
	case ModeReserved:
		return "reserved"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

func (st *state) mode(now int64) Mode {
	switch {
	case st.auth != nil:
		return ModeReserved
	case st.core.Enabled && len(st.pending) > 0:
		return ModeReserving
	case st.core.Enabled:
		return ModeEnabled
	case now < st.core.EvalStart+evalSeconds:
		return ModeEvaluation
	}
	return ModeUnlicensed
}

// Enable enables reservation, so that the instance may make request codes.
// The evaluation period, if it still runs, goes on until a code is
// installed. Enabling an enabled instance changes nothing.
func (in *Instance) Enable() error {
	return in.update(func(st *state, now time.Time) error {
		if st.core.Enabled {
			return errNoChange
		}
		st.core.Enabled = true
		st.journalAdd(now.Unix(), "enable", "")
		return nil
	})
}

// Disable disables reservation and cancels any pending request: the
// instance goes back to the evaluation (or is unlicensed once it has
// ended). It is refused while a reservation is installed: return it first
// (ErrReservationInstalled).
func (in *Instance) Disable() error {
	return in.update(func(st *state, now time.Time) error {
		if st.auth != nil {
			return fmt.Errorf("%w: reservation %x serial %d is installed: return it first", ErrReservationInstalled, st.auth.Reservation, st.auth.Serial)
		}
		if !st.core.Enabled {
			return errNoChange
		}
		detail := ""
		if n := len(st.pending); n > 0 {
			detail = fmt.Sprintf("%d pending request(s) cancelled", n)
			st.cancelPending()
		}
		st.core.Enabled = false
		st.journalAdd(now.Unix(), "disable", detail)
		return nil
	})
}

// cancelPending drops the pending requests; their nonces are remembered so
// that a code issued for one can still be returned with
// ReturnAuthorization, though it never installs.
func (st *state) cancelPending() {
	for _, p := range st.pending {
		st.addCancelled(p.Nonce)
	}
	st.pending = nil
}

// Request makes a request code for the trust set's current authority key,
// asking for wanted (which may be empty: the authority decides), and
// records it as pending. It returns the code in binary form
// (codes.EncodeText and codes.EncodeArmor give the others). Requests need
// reservation enabled (ErrNotEnabled) and no reservation installed
// (ErrReservationInstalled: an installed reservation changes by an update
// from the authority). A request made while others are pending adds to
// them; each may be answered until one answer is installed.
func (in *Instance) Request(wanted []codes.License) ([]byte, error) {
	var code []byte
	err := in.update(func(st *state, now time.Time) error {
		t := now.Unix()
		if err := st.canRequest(); err != nil {
			return err
		}
		var err error
		code, err = st.newPending(t, "request", "ask for fewer licenses", wanted, func(nonce []byte, key *codes.AuthorityPublicKey) ([]byte, error) {
			return codes.SealRequest(&codes.Request{UDI: st.core.UDI, Nonce: nonce, IssuedAt: t, Wanted: wanted}, st.key, key)
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return code, nil
}

// canRequest refuses a request or system description unless reservation
// is enabled and none is installed.
func (st *state) canRequest() error {
	if !st.core.Enabled {
		return fmt.Errorf("%w: enable reservation first", ErrNotEnabled)
	}
	if st.auth != nil {
		return fmt.Errorf("%w: reservation %x serial %d is installed: ask the authority for an update, or return it before requesting a new one",
			ErrReservationInstalled, st.auth.Reservation, st.auth.Serial)
	}
	return nil
}

// A sealer seals a code carrying nonce for the authority key key.
type sealer func(nonce []byte, key *codes.AuthorityPublicKey) ([]byte, error)

// sealFresh seals a code with a fresh nonce for the trust set's current
// key; a code over its kind's size limit is refused, and fewer says how
// to make it smaller.
func (st *state) sealFresh(t int64, fewer string, seal sealer) (code, nonce []byte, key *codes.AuthorityPublicKey, err error) {
	if key, err = st.currentKey(t); err != nil {
		return nil, nil, nil, err
	}
	nonce = make([]byte, codes.NonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, nil, err
	}
	if code, err = seal(nonce, key); err != nil {
		var size *codes.SizeError
		if errors.As(err, &size) {
			return nil, nil, nil, fmt.Errorf("%w: %s", err, fewer)
		}
		return nil, nil, nil, err
	}
	return code, nonce, key, nil
}

// newPending seals a code that asks the authority for an authorization
// (a request, or a system description) with a fresh nonce, for the trust
// set's current key, and records it as a pending request, so that the
// code answering it installs. what names it in errors and the journal;
// fewer says how to make it smaller when it is too large.
func (st *state) newPending(t int64, what, fewer string, wanted []codes.License, seal sealer) ([]byte, error) {
	code, nonce, key, err := st.sealFresh(t, fewer, seal)
	if err != nil {
		return nil, err
	}
	id := key.ID()
	st.pending = append(st.pending, pendingRequest{Nonce: nonce, IssuedAt: t, Wanted: slices.Clone(wanted), KeyID: id[:]})
	if n := len(st.pending); n > maxPending {
		st.addCancelled(st.pending[0].Nonce)
		st.pending = append([]pendingRequest(nil), st.pending[n-maxPending:]...)
	}
	st.journalAdd(t, "request", fmt.Sprintf("%s %x for authority key %s, wanted: %s", what, nonce, id, formatLicenses(wanted)))
	return code, nil
}

// Cancel drops every pending request: codes issued for them will not
// install (ErrNoPendingRequest), though ReturnAuthorization still takes
// them, so the authority can release their licenses.
func (in *Instance) Cancel() error {
	return in.update(func(st *state, now time.Time) error {
		if len(st.pending) == 0 {
			return fmt.Errorf("%w: nothing to cancel", ErrNoPendingRequest)
		}
		var nonces []string
		for _, p := range st.pending {
			nonces = append(nonces, fmt.Sprintf("%x", p.Nonce))
		}
		st.cancelPending()
		st.journalAdd(now.Unix(), "cancel", "request "+strings.Join(nonces, ", "))
		return nil
	})
}

// Installed says what Install did.
type Installed struct {
	Authorization  *codes.Authorization
	Update         bool   // it replaced an installed code of the same reservation
	PreviousSerial uint64 // the serial it replaced, for an update
	Confirmation   []byte // the confirmation code (binary) for an update; nil for a first code
	Again          bool   // this very code was installed already: nothing changed
}

// Install verifies an authorization code (typed, armored, binary, or an
// age-encrypted file opened with the identities of WithIdentities) and
// installs it. In order:
//
//   - the code decodes as an authorization (codes.ErrTypo, ErrWrongKind, …)
//     and verifies against the trust set (codes.ErrUnknownKey, …);
//   - exactly the installed code again: success, nothing changes, and the
//     same confirmation code is returned (Again);
//   - the clock is not behind the code's issue time, nor the last time
//     seen, by more than the tolerance (ErrClock, unless advisory);
//   - codes.Authorization.Check: this UDI and key, before install-by, no
//     entitlement ended (codes.ErrWrongInstance, ErrInstallWindow,
//     ErrExpired);
//   - its reservation was never returned (ErrReturned);
//   - a code of the installed reservation must have a greater serial
//     (ErrNotNewer): it is an update, and Install returns the confirmation
//     code for the authority;
//   - otherwise it must answer a pending request (ErrNoPendingRequest), with
//     no other reservation installed (ErrReservationInstalled); installing
//     it consumes the pending requests;
//   - a code without a nonce for another reservation is refused
//     (ErrWrongReservation).
//
// The installed code, and for an update its confirmation code, are written
// in one durable write before Install returns.
func (in *Instance) Install(input []byte) (*Installed, error) {
	code, err := codes.DecodeKind(input, codes.KindAuthorization, in.opts.identities...)
	if err != nil {
		return nil, err
	}
	var out *Installed
	err = in.update(func(st *state, now time.Time) error {
		a, err := codes.OpenAuthorization(code, st.trust)
		if err != nil {
			return err
		}
		if st.core.Installed != nil && bytes.Equal(code, st.core.Installed) {
			out = &Installed{Authorization: cloneAuthorization(st.auth), Update: st.core.PrevSerial != 0, PreviousSerial: st.core.PrevSerial,
				Confirmation: bytes.Clone(st.core.Confirmation), Again: true}
			return errNoChange
		}
		t := now.Unix()
		anchor := false
		if err := in.checkInstallClock(st, a, t); err != nil {
			// A clock set forward by mistake, then corrected, leaves the
			// last time seen in the future, and every dated license would
			// stay refused. A first code answering a request this instance
			// made is proof of a fresh authority time (it was signed after
			// the request's nonce existed): it re-anchors the clock, as
			// long as the clock agrees with its issue time.
			if !errors.Is(err, errAheadOfClock) || st.auth != nil || !st.isPending(a.Nonce) {
				return err
			}
			anchor = true
		}
		if err := a.Check(now, st.core.UDI, st.key.Public()); err != nil {
			return err
		}
		if r := st.findReturned(a.Reservation); r != nil {
			return returnedError(a, r)
		}
		res := &Installed{Authorization: a}
		switch {
		case st.auth != nil && bytes.Equal(a.Reservation, st.auth.Reservation):
			if a.Serial <= st.auth.Serial {
				return fmt.Errorf("%w: authorization serial %d is not newer than installed serial %d (reservation %x)", ErrNotNewer, a.Serial, st.auth.Serial, a.Reservation)
			}
			mac, err := st.macKey(a.KeyID)
			if err != nil {
				return err
			}
			if res.Confirmation, err = codes.SealConfirmation(&codes.Confirmation{Reservation: a.Reservation, Serial: a.Serial}, mac); err != nil {
				return err
			}
			res.Update, res.PreviousSerial = true, st.auth.Serial
		case a.Nonce != nil:
			if !st.isPending(a.Nonce) {
				why := "it was cancelled, or a code for it was installed before"
				if st.auth != nil {
					why = fmt.Sprintf("reservation %x serial %d is installed", st.auth.Reservation, st.auth.Serial)
				}
				return fmt.Errorf("%w: authorization code answers request %x, which is not pending: %s", ErrNoPendingRequest, a.Nonce, why)
			}
			if st.auth != nil {
				return fmt.Errorf("%w: reservation %x serial %d is installed: return it before installing reservation %x",
					ErrReservationInstalled, st.auth.Reservation, st.auth.Serial, a.Reservation)
			}
		case st.auth == nil:
			return fmt.Errorf("%w: authorization code updates reservation %x to serial %d, but no reservation is installed here", ErrWrongReservation, a.Reservation, a.Serial)
		default:
			return fmt.Errorf("%w: authorization code updates reservation %x, but reservation %x is installed here", ErrWrongReservation, a.Reservation, st.auth.Reservation)
		}

		// Everything is checked: change the state.
		if !res.Update { // a first code, answering a pending request
			for _, p := range st.pending {
				if !bytes.Equal(p.Nonce, a.Nonce) {
					st.addCancelled(p.Nonce)
				}
			}
			st.pending = nil
			st.journalAdd(t, "install", fmt.Sprintf("reservation %x serial %d answering request %x: %s", a.Reservation, a.Serial, a.Nonce, formatEntitlements(a.Entitlements)))
		} else {
			st.journalAdd(t, "update", fmt.Sprintf("reservation %x serial %d replacing serial %d: %s", a.Reservation, a.Serial, res.PreviousSerial, formatEntitlements(a.Entitlements)))
		}
		st.core.Installed = bytes.Clone(code)
		st.core.Confirmation = res.Confirmation
		st.core.PrevSerial = res.PreviousSerial
		if anchor {
			was := st.core.HighWater
			st.core.HighWater = max(t, a.IssuedAt)
			st.journalAdd(t, "clock", fmt.Sprintf("last time seen re-anchored from %s to %s by reservation %x serial %d, issued %s for request %x",
				codes.FormatTime(was), codes.FormatTime(st.core.HighWater), a.Reservation, a.Serial, codes.FormatTime(a.IssuedAt), a.Nonce))
		}
		st.core.HighWater = max(st.core.HighWater, a.IssuedAt)
		st.auth = a
		st.dropAnsweredExports()
		res.Authorization = cloneAuthorization(a)
		out = res
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkInstallClock refuses to install while the clock is behind the
// code's issue time or the last time seen, by more than the tolerance: the
// install window and the entitlements' ends would be judged against a
// wrong time.
func (in *Instance) checkInstallClock(st *state, a *codes.Authorization, t int64) error {
	if in.advisory(st) || a.Flags&codes.FlagClockAdvisory != 0 {
		return nil
	}
	tol := int64(in.opts.tolerance / time.Second)
	if t < a.IssuedAt-tol {
		return fmt.Errorf("%w: the system clock %s is %s behind the code's issue time %s: set the clock right, then install again",
			ErrClock, codes.FormatTime(t), span(a.IssuedAt-t), codes.FormatTime(a.IssuedAt))
	}
	if floor := in.clockFloor(st); t < floor {
		seen := floor + tol
		return fmt.Errorf("%w: the system clock %s is %s behind the last time this instance saw, %s: set the clock right, then install again%w",
			ErrClock, codes.FormatTime(t), span(seen-t), codes.FormatTime(seen), errAheadOfClock)
	}
	return nil
}

// errAheadOfClock marks the ErrClock of a clock behind the last time seen
// (not behind the code): the case a fresh code may re-anchor. Its text is
// empty, so it adds nothing to the message.
var errAheadOfClock = quietError{}

type quietError struct{}

func (quietError) Error() string { return "" }

// isPending reports whether nonce is the nonce of a pending request.
func (st *state) isPending(nonce []byte) bool {
	for _, p := range st.pending {
		if nonce != nil && bytes.Equal(p.Nonce, nonce) {
			return true
		}
	}
	return false
}

func returnedError(a *codes.Authorization, r *returnedRecord) error {
	how := "returned"
	if r.NeverInstalled {
		how = "returned without being installed"
	}
	return fmt.Errorf("%w: reservation %x was %s %s (serial %d): its codes never install again; ask the authority for a new reservation",
		ErrReturned, a.Reservation, how, codes.FormatTime(r.At), r.Serial)
}

// Returned says what Return or ReturnAuthorization did.
type Returned struct {
	Code           []byte // the return code, binary
	Reservation    []byte
	Serial         uint64
	NeverInstalled bool
	At             time.Time // when it was returned
	Again          bool      // it was returned before: the same code again
}

func (r *returnedRecord) result(again bool) *Returned {
	return &Returned{Code: bytes.Clone(r.Code), Reservation: bytes.Clone(r.Reservation), Serial: r.Serial,
		NeverInstalled: r.NeverInstalled, At: time.Unix(r.At, 0).UTC(), Again: again}
}

// Return destroys the installed authorization code and returns the return
// code for the authority, which then releases the licenses. The code is
// recorded with the reservation, now returned, in the same durable write
// that destroys the installed code, before Return returns: if the caller
// loses it (a crash, a failed print), Return called again returns the same
// code (Again). With no reservation installed and none returned before, it
// fails with ErrNotReserved.
func (in *Instance) Return() (*Returned, error) {
	var out *Returned
	err := in.update(func(st *state, now time.Time) error {
		if st.auth == nil {
			if st.core.LastReturn != nil {
				out = st.findReturned(st.core.LastReturn).result(true)
				return errNoChange
			}
			return fmt.Errorf("%w: nothing to return", ErrNotReserved)
		}
		var err error
		out, err = st.returnInstalled(now.Unix(), "returned, its code destroyed")
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// returnInstalled destroys the installed authorization code at t, and
// records its return code with the reservation, now returned; why says
// how in the journal. The caller checked that a code is installed.
func (st *state) returnInstalled(t int64, why string) (*Returned, error) {
	a := st.auth
	mac, err := st.macKey(a.KeyID)
	if err != nil {
		return nil, err
	}
	code, err := sealReturn(&codes.Return{Reservation: a.Reservation, Serial: a.Serial}, st.journalTag(), mac)
	if err != nil {
		return nil, err
	}
	st.returned = append(st.returned, returnedRecord{Reservation: a.Reservation, Serial: a.Serial, Code: code, At: t})
	st.core.LastReturn = a.Reservation
	st.core.Installed, st.core.Confirmation, st.core.PrevSerial = nil, nil, 0
	st.auth = nil
	st.journalAdd(t, "return", fmt.Sprintf("reservation %x serial %d %s", a.Reservation, a.Serial, why))
	return st.returned[len(st.returned)-1].result(false), nil
}

// ReturnAuthorization promises never to install an authorization code
// issued to this instance, and returns the return code (NeverInstalled)
// for the authority, which then releases its licenses. The code must verify
// and name this instance's UDI and key, and answer a request this instance
// made (pending, cancelled or superseded); its reservation is recorded as
// returned, so the code can never be installed. Given the same code again
// it returns the same return code (Again).
//
// A code of the installed reservation is refused (ErrReservationInstalled):
// to give that reservation back, Return it.
func (in *Instance) ReturnAuthorization(input []byte) (*Returned, error) {
	code, err := codes.DecodeKind(input, codes.KindAuthorization, in.opts.identities...)
	if err != nil {
		return nil, err
	}
	var out *Returned
	err = in.update(func(st *state, now time.Time) error {
		a, err := codes.OpenAuthorization(code, st.trust)
		if err != nil {
			return err
		}
		if !a.UDI.Equal(st.core.UDI) {
			return fmt.Errorf("%w: authorization code is for UDI %s but this instance is %s", codes.ErrWrongInstance, a.UDI.Short(), st.core.UDI.Short())
		}
		if h := st.key.Hash(); !bytes.Equal(a.InstanceKey, h) {
			return fmt.Errorf("%w: authorization code is for instance key %x but this instance's key is %x", codes.ErrWrongInstance, a.InstanceKey[:4], h[:4])
		}
		if r := st.findReturned(a.Reservation); r != nil {
			if r.NeverInstalled && r.Serial == a.Serial {
				out = r.result(true)
				return errNoChange
			}
			return returnedError(a, r)
		}
		if st.auth != nil && bytes.Equal(a.Reservation, st.auth.Reservation) {
			return fmt.Errorf("%w: the code is of reservation %x, installed here at serial %d: to give it back, return the reservation",
				ErrReservationInstalled, a.Reservation, st.auth.Serial)
		}
		if a.Nonce == nil {
			return fmt.Errorf("%w: the code updates reservation %x, which this instance does not hold", ErrWrongReservation, a.Reservation)
		}
		known := false
		for _, p := range st.pending {
			known = known || bytes.Equal(p.Nonce, a.Nonce)
		}
		for _, n := range st.core.Cancelled {
			known = known || bytes.Equal(n, a.Nonce)
		}
		if !known {
			return fmt.Errorf("%w: the code answers request %x, which this instance has not made or no longer remembers", ErrNoPendingRequest, a.Nonce)
		}
		mac, err := st.macKey(a.KeyID)
		if err != nil {
			return err
		}
		// No journal tag: with NeverInstalled it would never fit the typed
		// target (sealReturn would drop it after sealing once for nothing).
		rc, err := codes.SealReturn(&codes.Return{Reservation: a.Reservation, Serial: a.Serial, NeverInstalled: true}, mac)
		if err != nil {
			return err
		}
		t := now.Unix()
		st.returned = append(st.returned, returnedRecord{Reservation: a.Reservation, Serial: a.Serial, NeverInstalled: true, Code: rc, At: t})
		st.journalAdd(t, "return-authorization", fmt.Sprintf("reservation %x serial %d returned without being installed", a.Reservation, a.Serial))
		out = st.returned[len(st.returned)-1].result(false)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// sealReturn seals r with the journal tag when the typed code stays within
// codes.MaxTypedReturn characters, and without it otherwise: a return of
// a serial above 23, or of a code never installed, would be too long to
// read over the phone with it. The result depends only on r, tag and
// mac, so the same state makes the same code.
func sealReturn(r *codes.Return, tag, mac []byte) ([]byte, error) {
	r.Journal = tag
	code, err := codes.SealReturn(r, mac)
	if err != nil || codes.TypedLen(codes.KindReturn, code) <= codes.MaxTypedReturn {
		return code, err
	}
	r.Journal = nil
	return codes.SealReturn(r, mac)
}

// cloneAuthorization copies a so that a caller cannot change the installed
// code's view that the snapshots are made from.
func cloneAuthorization(a *codes.Authorization) *codes.Authorization {
	c := *a
	c.Reservation, c.InstanceKey, c.Nonce = bytes.Clone(a.Reservation), bytes.Clone(a.InstanceKey), bytes.Clone(a.Nonce)
	c.UDI.UUID = bytes.Clone(a.UDI.UUID)
	c.Entitlements = slices.Clone(a.Entitlements)
	return &c
}

func formatLicenses(ls []codes.License) string {
	if len(ls) == 0 {
		return "what the authority decides"
	}
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = fmt.Sprintf("%d %s", l.Count, l.Tag)
	}
	return strings.Join(parts, ", ")
}

func formatEntitlements(es []codes.Entitlement) string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = fmt.Sprintf("%d %s (%s)", e.Count, e.Tag, e.Kind)
	}
	return strings.Join(parts, ", ")
}
