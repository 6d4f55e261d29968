package authority

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/formats/groups"
)

// A license key is what the vendor sells across the counter: a typed
// secret, LK and three groups of Crockford base32 with a check character
// each, e.g.
//
//	LK-7KQ2M9XAC-P0D4RT6WF-B3ZN8H1YE
//
// It carries 120 random bits and nothing else: what it is for (a
// software, tags and counts, years) is in the ledger, under the key's
// hash, so that a key cannot be forged or edited, and a copy of the
// ledger holds no key that could be redeemed. The typed form is that of
// codes (package groups), so that a typo is reported with its group, but
// a key is no code: it is not signed, and only the ledger that issued it
// redeems it.
const (
	// KeyPrefix starts the typed form of a license key.
	KeyPrefix = "LK"
	// KeySize is a key's length in bytes: 120 random bits, well beyond
	// guessing (at least 80 bits are needed against an online guesser
	// with years of attempts), and exactly three groups of 8 characters.
	KeySize = 15
	// MaxKeyInput caps the typed key a redemption reads, in bytes: a key
	// is 32 characters; 256 leaves room for spaces and line breaks.
	MaxKeyInput = 256
	// MaxKeyYears caps the years a key covers: licenses stay in a wallet
	// five years at most.
	MaxKeyYears = 5
	// MaxKeyLines caps the tags of an extension key.
	MaxKeyLines = 32
	// keyIDSize is the bytes of a key's hash that name it in messages and
	// the history: 64 bits, unique among any number of keys a desk issues.
	keyIDSize = 8
)

// keyLabel starts what KeyHash hashes, so that a key's hash is never the
// hash of anything else the ledger stores.
const keyLabel = "airlock/v1/license-key\n"

// KeyHash returns the hash the ledger stores for a key's bytes: SHA-256 of
// a label and the key. A plain hash is enough: the key has 120 random bits,
// so the hash cannot be inverted by guessing.
func KeyHash(key []byte) []byte {
	h := sha256.New()
	h.Write([]byte(keyLabel))
	h.Write(key)
	return h.Sum(nil)
}

// KeyID returns the id of the key with this hash: its first 8 bytes in
// hex. It names a key in messages and the history, and redeems nothing.
func KeyID(hash []byte) string { return hex.EncodeToString(hash[:min(keyIDSize, len(hash))]) }

// FormatKey returns the typed form of a key's bytes.
func FormatKey(key []byte) string { return groups.Encode(KeyPrefix, key) }

// A keyTypoError is a typo in a typed license key. It names the group,
// never what was typed: the rest of the key is a secret.
type keyTypoError struct{ group, groups int }

func (e *keyTypoError) Error() string {
	return fmt.Sprintf("%v in group %d of %d: check that group and type it again", ErrKeyTypo, e.group, e.groups)
}

// Is makes errors.Is match ErrKeyTypo and groups.ErrTypo.
func (e *keyTypoError) Is(target error) bool { return target == ErrKeyTypo || target == groups.ErrTypo }

// ParseKey reads a typed license key, forgiving what groups.Decode
// forgives (case, spaces, dashes, O for 0, I and L for 1). Errors match
// ErrKeyMalformed or ErrKeyTypo, and never quote the input.
func ParseKey(s string) ([]byte, error) {
	if len(s) > MaxKeyInput {
		return nil, fmt.Errorf("%w: %d bytes, a license key has %d characters (at most %d bytes with spaces)", ErrKeyMalformed, len(s), len(FormatKey(make([]byte, KeySize))), MaxKeyInput)
	}
	if strings.TrimSpace(strings.ReplaceAll(s, "-", "")) == "" {
		return nil, fmt.Errorf("%w: the key is empty", ErrKeyMalformed)
	}
	prefix, data, err := groups.Decode(s)
	var typo *groups.TypoError
	switch {
	case errors.As(err, &typo):
		return nil, &keyTypoError{group: typo.Group, groups: 3}
	case errors.Is(err, groups.ErrEmpty):
		return nil, fmt.Errorf("%w: the key is empty", ErrKeyMalformed)
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrKeyMalformed, err)
	case prefix != KeyPrefix:
		return nil, fmt.Errorf("%w: it starts with %q, a license key starts with %s", ErrKeyMalformed, prefix, KeyPrefix)
	case len(data) != KeySize:
		return nil, fmt.Errorf("%w: it holds %d bytes, a license key %d: a group may be missing or extra", ErrKeyMalformed, len(data), KeySize)
	}
	return data, nil
}

// A KeySpec describes license keys to issue.
type KeySpec struct {
	// Software is what the key redeems into: only products of this
	// software ("vms") take it.
	Software string
	// Lines are the tags and counts: exactly one for a key, one or more
	// for an extension key.
	Lines []KeyLine
	// Years each license covers, 1 to MaxKeyYears; 0 means 1. A key for
	// N licenses and Y years brings N×Y one-year licenses into the
	// wallet. Extension keys carry hardware licenses, which are not
	// counted in years: Years must be 0 or 1.
	Years int
	// Extension marks an extension key, for hardware-bound products.
	Extension bool
}

func (s *KeySpec) check() error {
	if err := CheckName("software", s.Software); err != nil {
		return err
	}
	if s.Years == 0 {
		s.Years = 1
	}
	switch {
	case s.Years < 1 || s.Years > MaxKeyYears:
		return fmt.Errorf("%w: %d years is not from 1 to %d (licenses stay in a wallet at most five years)", ErrInvalid, s.Years, MaxKeyYears)
	case s.Extension && s.Years != 1:
		return fmt.Errorf("%w: an extension key carries hardware licenses, which are not counted in years: drop the years", ErrInvalid)
	case len(s.Lines) == 0:
		return fmt.Errorf("%w: a license key needs a tag and a count", ErrInvalid)
	case !s.Extension && len(s.Lines) != 1:
		return fmt.Errorf("%w: a license key carries one tag, this one %d: issue an extension key for several", ErrInvalid, len(s.Lines))
	case len(s.Lines) > MaxKeyLines:
		return fmt.Errorf("%w: an extension key carries at most %d tags, this one %d", ErrInvalid, MaxKeyLines, len(s.Lines))
	}
	seen := map[string]bool{}
	for _, l := range s.Lines {
		if err := codes.CheckTag(l.Tag); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		if seen[l.Tag] {
			return fmt.Errorf("%w: tag %q is given twice", ErrInvalid, l.Tag)
		}
		seen[l.Tag] = true
		if l.Count < 1 || l.Count*int64(s.Years) > MaxLotCount {
			return fmt.Errorf("%w: count %d of %q is not from 1 to %d", ErrInvalid, l.Count, l.Tag, int64(MaxLotCount)/int64(s.Years))
		}
	}
	return nil
}

// An IssuedKey is a license key just issued: Key is its typed form, which
// exists nowhere else (the ledger keeps its hash). Print it once.
type IssuedKey struct {
	Key    string
	Record LicenseKey
}

// IssueKey issues a license key: it draws KeySize random bytes (from
// Options.Rand) and stores their hash with what the key carries, in one
// transaction recorded in the history. The caller hands Key to the
// customer and keeps no copy; a lost key cannot be shown again.
func (l *Ledger) IssueKey(ctx context.Context, s KeySpec) (*IssuedKey, error) {
	s.Lines = append([]KeyLine(nil), s.Lines...)
	if err := s.check(); err != nil {
		return nil, err
	}
	sort.Slice(s.Lines, func(i, j int) bool { return s.Lines[i].Tag < s.Lines[j].Tag })
	key, err := l.drawKey()
	if err != nil {
		return nil, err
	}
	out := &IssuedKey{Key: FormatKey(key)}
	err = l.update(ctx, func(tx Tx, c *chain) error {
		if _, err := l.actingVendor(tx, "issue license keys"); err != nil {
			return err
		}
		k, err := l.issueKey(tx, c, s, key, l.opts.Actor)
		out.Record = k
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// drawKey draws the bytes of a new license key.
func (l *Ledger) drawKey() ([]byte, error) {
	key := make([]byte, KeySize)
	if _, err := io.ReadFull(l.opts.Rand, key); err != nil {
		return nil, fmt.Errorf("drawing a license key: %w", err)
	}
	return key, nil
}

// issueKey stores a checked key spec under the hash of key, recorded in
// the history as issued by actor.
func (l *Ledger) issueKey(tx Tx, c *chain, s KeySpec, key []byte, actor string) (LicenseKey, error) {
	now := l.now()
	k := LicenseKey{Hash: KeyHash(key), Software: s.Software, Extension: s.Extension, Years: s.Years,
		Lines: s.Lines, IssuedAt: now, IssuedBy: actor}
	if got, err := tx.LicenseKey(k.Hash); err != nil {
		return k, err
	} else if got != nil {
		// Only a broken random source draws a key twice.
		return k, fmt.Errorf("%w: the random source drew license key %s twice", ErrCorrupt, k.KeyID())
	}
	if err := tx.InsertLicenseKey(&k); err != nil {
		return k, err
	}
	e := l.event(now, actionKeyIssue, s.Software)
	e.Actor = actor
	e.CodeHash = k.Hash
	e.Detail = fmt.Sprintf("license key %s issued for %q: %s", k.KeyID(), s.Software, k.Describe())
	return k, c.add(e)
}

// History actions of keys and wallets; Verify counts them.
const (
	actionKeyIssue     = "key issue"
	actionWalletRedeem = "wallet redeem"
	actionProductAdd   = "product add"

	actionSubscriptionStart    = "subscription start"
	actionSubscriptionAllocate = "subscription allocate"
	actionSubscriptionDeliver  = "subscription deliver"
	actionProductRegister      = "product register"
	actionHardwareExtend       = "hardware extend"
)

// Describe says what a key carries: "10 vms.camera.core × 3 years",
// "extension: 2 vms.camera.hw, 1 vms.io".
func (k *LicenseKey) Describe() string {
	s := FormatKeyLines(k.Lines)
	switch {
	case k.Extension:
		s = "extension: " + s
	case k.Years == 1:
		s += " × 1 year"
	default:
		s += fmt.Sprintf(" × %d years", k.Years)
	}
	return s
}

// Licenses returns what the key brings into a wallet, per tag: each
// line's count times the years.
func (k *LicenseKey) Licenses() []KeyLine {
	out := make([]KeyLine, len(k.Lines))
	for i, ln := range k.Lines {
		out[i] = KeyLine{Tag: ln.Tag, Count: ln.Count * int64(k.Years)}
	}
	return out
}
