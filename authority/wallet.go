package authority

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/airlock-dev/airlock/codes"
)

// WalletYears is how long licenses stay in a wallet: a lot expires five
// calendar years after it entered, to the second (time.AddDate: a lot
// that entered on 29 February expires on 1 March).
const WalletYears = 5

// WalletExpiry returns when licenses that entered a wallet at entered
// (Unix seconds) expire: entered plus WalletYears calendar years, UTC.
func WalletExpiry(entered int64) int64 {
	return time.Unix(entered, 0).UTC().AddDate(WalletYears, 0, 0).Unix()
}

// AddProduct adds a product of the software (e.g. "vms") to an
// organization. Names are unique within an organization; two
// organizations may each have a product of the same name.
func (l *Ledger) AddProduct(ctx context.Context, org, name, software string) (*Product, error) {
	if err := CheckName("organization", org); err != nil {
		return nil, err
	}
	if err := CheckName("product", name); err != nil {
		return nil, err
	}
	if err := CheckName("software", software); err != nil {
		return nil, err
	}
	p := &Product{Org: org, Name: name, Software: software}
	err := l.update(ctx, func(tx Tx, c *chain) error {
		if _, err := l.mayOrg(tx, org, needManage); err != nil {
			return err
		}
		o, err := orgNamed(tx, org)
		if err != nil {
			return err
		}
		if got, err := tx.Product(o.ID, name); err != nil {
			return err
		} else if got != nil {
			return fmt.Errorf("%w: organization %q has a product %q (software %q)", ErrExists, org, name, got.Software)
		}
		p.OrgID, p.CreatedAt = o.ID, l.now()
		if err := tx.InsertProduct(p); err != nil {
			return err
		}
		e := l.event(p.CreatedAt, actionProductAdd, p.Ref())
		e.Account = p.Ref() // as its later events: the organization's history shows it
		e.Detail = fmt.Sprintf("product %q of software %q added", p.Ref(), software)
		return c.add(e)
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Products returns the products of one organization, by name.
func (l *Ledger) Products(ctx context.Context, org string) ([]Product, error) {
	if err := CheckName("organization", org); err != nil {
		return nil, err
	}
	var out []Product
	err := l.view(ctx, func(tx ReadTx) error {
		if _, err := l.mayOrg(tx, org, needRead); err != nil {
			return err
		}
		o, err := orgNamed(tx, org)
		if err != nil {
			return err
		}
		out, err = tx.Products(o.ID)
		return err
	})
	return out, err
}

func orgNamed(tx ReadTx, name string) (*Org, error) {
	o, err := tx.Org(name)
	if err != nil {
		return nil, err
	}
	if o == nil {
		return nil, fmt.Errorf("%w: no organization %q", ErrNotFound, name)
	}
	return o, nil
}

// product resolves a product of an organization. Another organization's
// product of the same name is never found.
func product(tx ReadTx, org, name string) (*Product, error) {
	if err := CheckName("organization", org); err != nil {
		return nil, err
	}
	if err := CheckName("product", name); err != nil {
		return nil, err
	}
	o, err := orgNamed(tx, org)
	if err != nil {
		return nil, err
	}
	p, err := tx.Product(o.ID, name)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, fmt.Errorf("%w: organization %q has no product %q", ErrNoProduct, org, name)
	}
	return p, nil
}

// A Wallet is what one product's wallet holds at a moment.
type Wallet struct {
	Product Product
	At      int64       // Unix seconds, UTC: the moment Expired and Totals are for
	Lots    []WalletLot // by expiry, then id; expired ones included
	Totals  []KeyLine   // per tag, by tag: licenses in lots not expired at At
}

// Wallet returns the wallet of a product of an organization at the
// ledger's clock, for an actor who may read the organization.
func (l *Ledger) Wallet(ctx context.Context, org, name string) (*Wallet, error) {
	var w *Wallet
	err := l.view(ctx, func(tx ReadTx) error {
		if _, err := l.mayOrg(tx, org, needRead); err != nil {
			return err
		}
		p, err := product(tx, org, name)
		if err != nil {
			return err
		}
		lots, err := tx.WalletLots(p.ID)
		if err != nil {
			return err
		}
		w = &Wallet{Product: *p, At: l.now(), Lots: lots}
		totals := map[string]int64{}
		for i := range lots {
			if !lots[i].Expired(w.At) && lots[i].Count > 0 {
				totals[lots[i].Tag] += lots[i].Count
			}
		}
		for tag, n := range totals {
			w.Totals = append(w.Totals, KeyLine{Tag: tag, Count: n})
		}
		sort.Slice(w.Totals, func(i, j int) bool { return w.Totals[i].Tag < w.Totals[j].Tag })
		return nil
	})
	return w, err
}

// A Redeemed is what a redemption brought, or would bring, into a wallet.
type Redeemed struct {
	Product Product
	KeyID   string
	Key     LicenseKey
	Lots    []WalletLot // set by Redeem, nil from CheckRedeem
	left    []KeyLine   // what it brings: its licenses less what upgrades converted
}

// Licenses returns what the key brings, per tag.
func (r *Redeemed) Licenses() []KeyLine { return r.left }

// CheckRedeem runs every check Redeem runs, in a read transaction, and
// returns what the key would bring into the wallet of the product org/name,
// changing nothing: a desk shows it and asks before it redeems. The answer
// may be stale by the time Redeem runs, which checks again.
func (l *Ledger) CheckRedeem(ctx context.Context, org, name, key string) (*Redeemed, error) {
	b, err := ParseKey(key)
	if err != nil {
		return nil, err
	}
	var r *Redeemed
	err = l.view(ctx, func(tx ReadTx) error {
		if _, err := l.mayOrg(tx, org, needManage); err != nil {
			return err
		}
		r, err = checkRedeem(tx, org, name, KeyHash(b))
		return err
	})
	return r, err
}

// Redeem redeems a license key into the wallet of the product org/name:
// one wallet lot per tag the key carries, entered now and expiring
// WalletYears later, in one transaction recorded in the history by the
// key's id and hash, never the key. It refuses, changing nothing, a key
// that is malformed (ErrKeyMalformed), mistyped (ErrKeyTypo), unknown
// (ErrKeyUnknown), redeemed before (ErrKeyRedeemed), or for another
// software (ErrKeySoftware). Of any number of processes redeeming one
// key at once, exactly one succeeds.
func (l *Ledger) Redeem(ctx context.Context, org, name, key string) (*Redeemed, error) {
	b, err := ParseKey(key)
	if err != nil {
		return nil, err
	}
	hash := KeyHash(b)
	var r *Redeemed
	err = l.update(ctx, func(tx Tx, c *chain) error {
		if _, _, err := l.authorize(tx, org, needManage); err != nil {
			return err
		}
		r, err = checkRedeem(tx, org, name, hash)
		if err != nil {
			return err
		}
		now := l.now()
		ok, err := tx.InsertRedemption(&Redemption{KeyHash: hash, ProductID: r.Product.ID, At: now, Actor: l.opts.Actor})
		if err != nil {
			return err
		}
		if !ok {
			// checkRedeem saw no redemption in this transaction, which
			// excludes every other writer: only a store that breaks its
			// contract gets here.
			return fmt.Errorf("%w: license key %s", ErrKeyRedeemed, r.KeyID)
		}
		for _, ln := range r.left {
			w := WalletLot{ProductID: r.Product.ID, Tag: ln.Tag, Initial: ln.Count, Count: ln.Count,
				EnteredAt: now, ExpiresAt: WalletExpiry(now), KeyHash: hash, Extension: r.Key.Extension}
			if err := tx.InsertWalletLot(&w); err != nil {
				return err
			}
			r.Lots = append(r.Lots, w)
		}
		e := l.event(now, actionWalletRedeem, r.Product.Ref())
		e.Account = r.Product.Ref() // a product's systems are in the account of its name
		e.CodeHash = hash
		e.Detail = fmt.Sprintf("license key %s (%s) redeemed into the wallet of %q, expiring %s",
			r.KeyID, r.Key.Describe(), r.Product.Ref(), codes.FormatTime(WalletExpiry(now)))
		return c.add(e)
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// checkRedeem finds the product and the key, and refuses a key that is
// unknown, redeemed before, or for another software, in that order.
func checkRedeem(tx ReadTx, org, name string, hash []byte) (*Redeemed, error) {
	p, err := product(tx, org, name)
	if err != nil {
		return nil, err
	}
	k, err := tx.LicenseKey(hash)
	if err != nil {
		return nil, err
	}
	id := KeyID(hash)
	if k == nil {
		return nil, fmt.Errorf("%w: no license key %s was issued by this authority: check the key with whoever sold it", ErrKeyUnknown, id)
	}
	prev, err := tx.Redemption(hash)
	if err != nil {
		return nil, err
	}
	if prev != nil {
		// Only the caller's organization learns into which product: the
		// search runs over its products alone.
		into, err := tx.Products(p.OrgID)
		if err != nil {
			return nil, err
		}
		where := "into a product of another organization"
		for i := range into {
			if into[i].ID == prev.ProductID {
				where = fmt.Sprintf("into %q by %s", into[i].Ref(), prev.Actor)
			}
		}
		return nil, fmt.Errorf("%w: license key %s was redeemed %s %s", ErrKeyRedeemed, id, codes.FormatTime(prev.At), where)
	}
	if k.Software != p.Software {
		return nil, fmt.Errorf("%w: license key %s is for software %q, product %q is %q", ErrKeySoftware, id, k.Software, p.Ref(), p.Software)
	}
	left, err := licensesLeft(tx, k)
	if err != nil {
		return nil, err
	}
	if len(left) == 0 {
		return nil, fmt.Errorf("%w: every license of key %s was upgraded to another product: redeem the key the upgrade issued", ErrKeyRedeemed, id)
	}
	return &Redeemed{Product: *p, KeyID: id, Key: *k, left: left}, nil
}
