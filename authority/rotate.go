package authority

import (
	"context"
	"fmt"
	"time"

	"github.com/airlock-dev/airlock/codes"
)

// Files of a key rotation, beside KeyFile and TrustFile.
const (
	// RetiredDir holds the private keys a rotation retired, each as
	// KEYID.key, encrypted like KeyFile: the ledger still needs them to
	// open codes MACed for them by instances that have not rotated.
	RetiredDir = "retired"
	// UpdatesDir holds the trust updates, each as SEQUENCE.airlock (four
	// digits at least): an instance installs those after its own sequence,
	// in order, since each is signed by a key of the set before it.
	UpdatesDir = "trust-updates"
)

// A Rotation is a new authority key and the trust sets that publish it.
type Rotation struct {
	Old *codes.AuthorityKey // the key that signed until now; it signs Update
	New *codes.AuthorityKey
	Set *codes.TrustSet // the new set: every key of the old one, Old's window closed at At

	Update    []byte // Set signed by Old: the trust update for instances
	TrustFile []byte // Set signed by New: the trust file for new instances
	At        int64  // Unix seconds
}

// RotateKey makes the trust sets that replace old with key: a set with
// sequence current.Sequence+1 listing every key of current, the windows
// of those still open closed at now (so codes they sign from now on are
// refused), and key, valid from now. Keys are never dropped: an
// instance re-verifies its installed code, perhaps years old, against
// every set it installs. It refuses a set that would be full, a key
// already trusted, and an old key that is not in current.
func RotateKey(current *codes.TrustSet, old, key *codes.AuthorityKey, now time.Time) (*Rotation, error) {
	at := now.Unix()
	if current.Key(old.ID()) == nil {
		return nil, fmt.Errorf("%w: the signing key %s is not in the trust file (sequence %d)", ErrInvalid, old.ID(), current.Sequence)
	}
	if current.Key(key.ID()) != nil {
		return nil, fmt.Errorf("%w: key %s is trusted already", ErrInvalid, key.ID())
	}
	if len(current.Keys) >= codes.MaxTrustKeys {
		return nil, fmt.Errorf("%w: the trust set holds %d keys, the most it may: no rotation is possible", ErrInvalid, len(current.Keys))
	}
	if key.Public.NotBefore > at || (key.Public.NotAfter != 0 && key.Public.NotAfter <= at) {
		return nil, fmt.Errorf("%w: the new key %s is not valid at %s", ErrInvalid, key.ID(), codes.FormatTime(at))
	}
	set := &codes.TrustSet{Sequence: current.Sequence + 1, IssuedAt: at}
	for _, k := range current.Keys {
		// Valid through the second of the rotation, which signs the
		// update, and not after it.
		if k.NotAfter == 0 || k.NotAfter > at+1 {
			k.NotAfter = at + 1
		}
		if k.NotBefore > at {
			// A key whose window had not begun would end up with an empty
			// one, which the set refuses. A key made in this very second
			// keeps [NotBefore, at+1): one second, not empty.
			return nil, fmt.Errorf("%w: key %s of the trust set is not valid before %s: rotate after that", ErrInvalid, k.ID(), codes.FormatTime(k.NotBefore))
		}
		set.Keys = append(set.Keys, k)
	}
	set.Keys = append(set.Keys, key.Public)
	update, err := codes.SignTrustSet(set, old)
	if err != nil {
		return nil, fmt.Errorf("signing the trust update: %w", err)
	}
	file, err := codes.SignTrustSet(set, key)
	if err != nil {
		return nil, fmt.Errorf("signing the trust file: %w", err)
	}
	return &Rotation{Old: old, New: key, Set: set, Update: update, TrustFile: file, At: at}, nil
}

// UpdateName is the file name of the trust update of sequence seq in
// UpdatesDir.
func UpdateName(seq uint64) string { return fmt.Sprintf("%04d.airlock", seq) }

// MayRotate checks that the actor may record a rotation (RecordRotation):
// the command line asks before it writes any key or trust file, so that a
// refusal leaves nothing half done.
func (l *Ledger) MayRotate(ctx context.Context) error {
	return l.view(ctx, func(tx ReadTx) error {
		_, err := l.actingVendor(tx, "rotate the authority key")
		return err
	})
}

// RecordRotation writes r in the history, for the vendor's staff only: the
// authority key is the vendor's.
func (l *Ledger) RecordRotation(ctx context.Context, r *Rotation) error {
	return l.update(ctx, func(tx Tx, c *chain) error {
		who, err := l.actingVendor(tx, "rotate the authority key")
		if err != nil {
			return err
		}
		e := l.event(l.now(), "rotate-key", r.New.ID().String())
		e.Actor = who.name
		e.CodeHash = codeHash(r.Update)
		e.Detail = fmt.Sprintf("key %s retired at %s, key %s signs from then; trust sequence %d", r.Old.ID(), codes.FormatTime(r.At), r.New.ID(), r.Set.Sequence)
		return c.add(e)
	})
}
