package authority

import (
	"context"
	"fmt"

	"github.com/airlock-dev/airlock/formats/groups"
)

// Upgrades. The vendor issues an upgrade notification (UN and two
// groups, kept by hash like a serial number): up to Quantity licenses of
// one software and tag may become licenses of another. An organization
// redeems it: licenses of its registered keys, not yet redeemed into a
// wallet nor converted before, are converted (oldest keys first), and a
// new license key for as many licenses of the new software is issued and
// registered to it, with the support registration of the keys it
// replaces (and the support contact given).

// NoticePrefix starts an upgrade notification's id.
const NoticePrefix = "UN"

// ErrUpgradeShort means an upgrade asks for more licenses than the
// notification has left, or than the organization holds.
var ErrUpgradeShort = kindOf(ErrUnavailable)

// UpgradeStore reads and writes upgrades; part of ReadTx and Tx.
type UpgradeReadTx interface {
	// UpgradeNotice returns the notification with this hash.
	UpgradeNotice(hash []byte) (*UpgradeNotice, error)
	// Conversions returns what was converted from one key (nil: every
	// key), in order.
	Conversions(keyHash []byte) ([]Conversion, error)
}

// UpgradeTx writes upgrades.
type UpgradeTx interface {
	InsertUpgradeNotice(n *UpgradeNotice) error
	// UseUpgradeNotice takes n licenses of a notification, guarded: it
	// reports false, changing nothing, when fewer are left.
	UseUpgradeNotice(hash []byte, n int64) (bool, error)
	InsertConversion(c *Conversion) error
}

// An UpgradeNotice lets Quantity licenses of From become licenses of To.
type UpgradeNotice struct {
	Hash         []byte
	FromSoftware string
	FromTag      string
	ToSoftware   string
	ToTag        string
	Years        int
	Quantity     int64
	Used         int64
	OrgID        int64 // 0: any organization may redeem it
	IssuedAt     int64
	IssuedBy     string
}

// A Conversion is licenses of a registered key converted by an upgrade.
type Conversion struct {
	KeyHash    []byte
	NoticeHash []byte
	Count      int64
	NewKey     []byte // the hash of the key issued for them
	At         int64
	Actor      string
}

// NoticeHash returns the hash the ledger keeps of a notification id.
func NoticeHash(b []byte) []byte { return KeyHash(append([]byte("upgrade notice\n"), b...)) }

// IssueUpgradeNotice issues an upgrade notification (the vendor only) and
// returns its typed id, which the ledger does not keep. org, when set,
// is the only organization that may redeem it.
func (l *Ledger) IssueUpgradeNotice(ctx context.Context, n UpgradeNotice, org string) (string, error) {
	if n.Years == 0 {
		n.Years = 1
	}
	for _, ks := range []KeySpec{
		{Software: n.FromSoftware, Years: 1, Lines: []KeyLine{{Tag: n.FromTag, Count: n.Quantity}}},
		{Software: n.ToSoftware, Years: n.Years, Lines: []KeyLine{{Tag: n.ToTag, Count: n.Quantity}}},
	} {
		if err := ks.check(); err != nil {
			return "", err
		}
	}
	b := make([]byte, SerialSize)
	if _, err := l.opts.Rand.Read(b); err != nil {
		return "", fmt.Errorf("drawing a notification id: %w", err)
	}
	err := l.update(ctx, func(tx Tx, c *chain) error {
		a, err := l.actingVendor(tx, "issue upgrade notifications")
		if err != nil {
			return err
		}
		if org != "" {
			o, err := orgNamed(tx, org)
			if err != nil {
				return err
			}
			n.OrgID = o.ID
		}
		now := l.now()
		n.Hash, n.IssuedAt, n.IssuedBy, n.Used = NoticeHash(b), now, a.name, 0
		if err := tx.InsertUpgradeNotice(&n); err != nil {
			return err
		}
		e := l.event(now, actionUpgradeIssue, n.ToSoftware)
		e.Actor, e.CodeHash, e.Account = a.name, n.Hash, org
		e.Detail = fmt.Sprintf("upgrade notification %s issued: up to %d %s of %q become %s of %q", KeyID(n.Hash), n.Quantity, n.FromTag, n.FromSoftware, n.ToTag, n.ToSoftware)
		return c.add(e)
	})
	if err != nil {
		return "", err
	}
	return groups.Encode(NoticePrefix, b), nil
}

// ParseNotice reads a typed notification id.
func ParseNotice(s string) ([]byte, error) {
	return parseTyped(s, NoticePrefix, SerialSize, "notification id", ErrNoticeMalformed, ErrNoticeTypo)
}

// An Upgraded says what Upgrade did, or would do.
type Upgraded struct {
	Key         string // typed; empty in a dry run
	Record      LicenseKey
	Notice      UpgradeNotice // before the upgrade
	Conversions []Conversion
}

// Upgrade redeems an upgrade notification for an organization: it
// converts quantity licenses of the notification's software (software
// must name it) from the organization's registered keys and issues the
// new key. With dry set it changes nothing and says what it would do.
func (l *Ledger) Upgrade(ctx context.Context, notice, org, software string, quantity int64, supportContact string, dry bool) (*Upgraded, error) {
	id, err := ParseNotice(notice)
	if err != nil {
		return nil, err
	}
	if quantity < 1 || quantity > MaxLotCount {
		return nil, fmt.Errorf("%w: quantity %d is not from 1 to %d", ErrInvalid, quantity, int64(MaxLotCount))
	}
	if supportContact != "" {
		if err := checkLabel("support contact", supportContact); err != nil {
			return nil, err
		}
	}
	key, err := l.drawKey()
	if err != nil {
		return nil, err
	}
	var out *Upgraded
	err = l.updateOrCheck(ctx, dry, func(tx Tx, c *chain) error {
		o, actor, err := l.authorize(tx, org, needManage)
		if err != nil {
			return err
		}
		hash := NoticeHash(id)
		n, err := tx.UpgradeNotice(hash)
		if err != nil {
			return err
		}
		if n == nil || (n.OrgID != 0 && n.OrgID != o.ID) {
			return fmt.Errorf("%w: no upgrade notification %s for %q: check the id in the notification", ErrNotFound, KeyID(hash), org)
		}
		if n.FromSoftware != software {
			return fmt.Errorf("%w: notification %s upgrades %q, not %q", ErrInvalid, KeyID(hash), n.FromSoftware, software)
		}
		if left := n.Quantity - n.Used; quantity > left {
			return fmt.Errorf("%w: notification %s has %d of %d licenses left, the upgrade asks for %d", ErrUpgradeShort, KeyID(hash), left, n.Quantity, quantity)
		}
		// The organization's convertible licenses: registered keys of the
		// software and tag, not redeemed, less what was converted.
		regs, err := tx.Registrations(o.ID)
		if err != nil {
			return err
		}
		out = &Upgraded{Notice: *n}
		var first *Registration
		left, have := quantity, int64(0)
		for i := range regs {
			g := &regs[i]
			k, err := tx.LicenseKey(g.KeyHash)
			if err != nil {
				return err
			}
			if k == nil || k.Software != n.FromSoftware || k.Extension {
				continue
			}
			if r, err := tx.Redemption(g.KeyHash); err != nil {
				return err
			} else if r != nil {
				continue
			}
			free := int64(0)
			for _, ln := range k.Lines {
				if ln.Tag == n.FromTag {
					free += ln.Count
				}
			}
			conv, err := tx.Conversions(g.KeyHash)
			if err != nil {
				return err
			}
			for _, cv := range conv {
				free -= cv.Count
			}
			have += max(free, 0)
			if free <= 0 || left == 0 {
				continue
			}
			take := min(free, left)
			left -= take
			out.Conversions = append(out.Conversions, Conversion{KeyHash: g.KeyHash, NoticeHash: hash, Count: take, Actor: actor})
			if first == nil {
				first = g
			}
		}
		if left > 0 {
			return fmt.Errorf("%w: %q holds %d %s of %q in registered keys not redeemed into a wallet, the upgrade asks for %d", ErrUpgradeShort, org, have, n.FromTag, n.FromSoftware, quantity)
		}
		ks := KeySpec{Software: n.ToSoftware, Years: n.Years, Lines: []KeyLine{{Tag: n.ToTag, Count: quantity}}}
		g := Registration{OrgID: o.ID, Contact: first.Contact, Email: first.Email, Company: first.Company,
			SupportContact: first.SupportContact, SupportUntil: first.SupportUntil}
		if supportContact != "" {
			g.SupportContact = supportContact
		}
		k, err := l.issueRegistered(tx, c, ks, key, actor, &g)
		if err != nil {
			return err
		}
		out.Record = k
		now := g.At
		if ok, err := tx.UseUpgradeNotice(hash, quantity); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("%w: notification %s was used meanwhile", ErrUpgradeShort, KeyID(hash))
		}
		for i := range out.Conversions {
			cv := &out.Conversions[i]
			cv.At, cv.NewKey = now, k.Hash
			if err := tx.InsertConversion(cv); err != nil {
				return err
			}
		}
		e := l.event(now, actionUpgrade, k.KeyID())
		e.Actor, e.Account, e.CodeHash = actor, o.Name, hash
		e.Detail = fmt.Sprintf("%d %s of %q upgraded to %s of %q by notification %s: license key %s", quantity, n.FromTag, n.FromSoftware, n.ToTag, n.ToSoftware, KeyID(hash), k.KeyID())
		return c.add(e)
	})
	if err != nil {
		return nil, err
	}
	if !dry {
		out.Key = FormatKey(key)
	}
	return out, nil
}

const (
	actionUpgradeIssue = "upgrade issue"
	actionUpgrade      = "upgrade"
)

// licensesLeft returns what a key brings into a wallet: its licenses
// (each line's count times its years) less what upgrades converted.
func licensesLeft(tx ReadTx, k *LicenseKey) ([]KeyLine, error) {
	conv, err := tx.Conversions(k.Hash)
	if err != nil || len(conv) == 0 {
		return k.Licenses(), err
	}
	less := map[string]int64{}
	for _, cv := range conv {
		n, err := tx.UpgradeNotice(cv.NoticeHash)
		if err != nil {
			return nil, err
		}
		if n == nil {
			return nil, fmt.Errorf("%w: a conversion names upgrade notification %s, which is missing", ErrCorrupt, KeyID(cv.NoticeHash))
		}
		less[n.FromTag] += cv.Count * int64(k.Years)
	}
	var out []KeyLine
	for _, ln := range k.Licenses() {
		if ln.Count -= less[ln.Tag]; ln.Count > 0 {
			out = append(out, ln)
		}
	}
	return out, nil
}
