package instance

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/formats/wire"
)

// TrustInstalled says what InstallTrust did.
type TrustInstalled struct {
	Set      *codes.TrustSet // the set now installed
	Previous uint64          // the sequence it replaced
	Again    bool            // this very set was installed already: nothing changed
}

// InstallTrust verifies a trust update (typed, armored, binary, or an
// age-encrypted file opened with the identities of WithIdentities) against
// the installed trust set and installs it: from then on requests are made
// for its current key, and codes signed by a key outside that key's window
// in the new set are refused. In order it refuses:
//
//   - what does not decode as a trust update (codes.ErrWrongKind, …);
//   - an update whose sequence is below the installed one
//     (ErrTrustRollback), and one of the same sequence with other keys;
//   - one not signed by a key of the installed set, within that key's
//     window (ErrTrustGap, wrapping the codes error): the updates
//     between are missing;
//   - a set under which the installed authorization code no longer
//     verifies (ErrReservationInstalled): return it first.
//
// The installed set again is no change (Again).
func (in *Instance) InstallTrust(input []byte) (*TrustInstalled, error) {
	code, err := codes.DecodeKind(input, codes.KindTrustUpdate, in.opts.identities...)
	if err != nil {
		return nil, err
	}
	var out *TrustInstalled
	err = in.update(func(st *state, now time.Time) error {
		cur := st.trust
		claimed, err := codes.ParseUnverifiedTrustSet(code)
		if err != nil {
			return err
		}
		switch {
		case claimed.Sequence < cur.Sequence:
			return fmt.Errorf("%w: trust update sequence %d, installed %d: an older set would trust retired keys again", ErrTrustRollback, claimed.Sequence, cur.Sequence)
		case claimed.Sequence == cur.Sequence:
			got, err := wire.Marshal(claimed)
			if err == nil && bytes.Equal(got, st.core.Trust) {
				// The installed set, perhaps signed by its other key (the
				// trust file of a rotation): verify it all the same.
				if _, ferr := codes.OpenTrustFile(code); ferr != nil {
					if _, uerr := openUpdateOf(code, cur); uerr != nil {
						return ferr
					}
				}
				out = &TrustInstalled{Set: cloneTrust(cur), Previous: cur.Sequence, Again: true}
				return errNoChange
			}
			return fmt.Errorf("%w: trust update sequence %d lists other keys than the installed set of the same sequence", ErrTrustRollback, claimed.Sequence)
		}
		next, err := openUpdateOf(code, cur)
		if err != nil {
			return err
		}
		if st.core.Installed != nil {
			if _, err := codes.OpenAuthorization(st.core.Installed, next); err != nil {
				return fmt.Errorf("%w: the installed authorization code (reservation %x serial %d) would not verify under trust sequence %d: %v; return it first, or ask the authority",
					ErrReservationInstalled, st.auth.Reservation, st.auth.Serial, next.Sequence, err)
			}
		}
		b, err := wire.Marshal(next)
		if err != nil {
			return fmt.Errorf("%w: trust set: %v", codes.ErrMalformed, err)
		}
		prev := cur.Sequence
		st.core.Trust, st.trust = b, next
		st.journalAdd(now.Unix(), "trust", fmt.Sprintf("trust sequence %d installed over %d, signed by %s; %d keys", next.Sequence, prev, next.SignedBy, len(next.Keys)))
		out = &TrustInstalled{Set: cloneTrust(next), Previous: prev}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// openUpdateOf verifies code as the update that follows cur; a signature
// by a key cur does not hold is ErrTrustGap.
func openUpdateOf(code []byte, cur *codes.TrustSet) (*codes.TrustSet, error) {
	next, err := codes.OpenTrustUpdate(code, cur)
	if errors.Is(err, codes.ErrUnknownKey) || errors.Is(err, codes.ErrKeyWindow) {
		return nil, fmt.Errorf("%w (installed sequence %d): %w; install the trust updates between them first, in order", ErrTrustGap, cur.Sequence, err)
	}
	return next, err
}
