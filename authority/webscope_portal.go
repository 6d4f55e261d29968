package authority

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
)

// The registered licenses of one organization, for front ends that name
// the organization in the page's path (see webscope.go). SetLicenseField
// and ShareLicense find a license by its key wherever it is registered;
// these take the organization first and refuse a key that is not
// registered to it in the words of a key that does not exist, so that a
// page of one organization never changes another's licenses, and a
// person cannot learn from it which keys exist elsewhere.

// orgLicense checks that the actor may read org and that key (a key id
// of 16 hex digits, or the typed key) is registered to it, and returns
// the key's hash. Whether they may change the license is the operation's
// to check: a viewer the license is shared with as manager may.
func (l *Ledger) orgLicense(tx ReadTx, org, key string) ([]byte, error) {
	o, _, err := l.authorize(tx, org, needRead)
	if err != nil {
		return nil, err
	}
	notFound := fmt.Errorf("%w: %q has no registered license with key %q: give the key id its licenses list", ErrNotFound, o.Name, printableRef(key))
	var want []byte
	if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(key)), KeyPrefix) {
		b, err := ParseKey(key)
		if err != nil {
			return nil, err
		}
		want = KeyHash(b)
	} else if len(key) != 2*keyIDSize {
		return nil, notFound
	}
	regs, err := tx.Registrations(o.ID)
	if err != nil {
		return nil, err
	}
	for _, g := range regs {
		if want != nil && bytes.Equal(g.KeyHash, want) || want == nil && KeyID(g.KeyHash) == strings.ToLower(key) {
			return g.KeyHash, nil
		}
	}
	return nil, notFound
}

// printableRef bounds a key reference quoted in a refusal: a key id is
// 16 characters; anything longer is not quoted whole.
func printableRef(s string) string {
	if len(s) > 2*keyIDSize {
		return s[:2*keyIDSize] + "…"
	}
	return s
}

// SetLicenseFieldIn is SetLicenseField for a license registered to org.
// key is the key id (or the typed key); one registered to another
// organization, or to none, is refused in the same words (ErrNotFound)
// and changes nothing.
func (l *Ledger) SetLicenseFieldIn(ctx context.Context, org, key, name, value string) (bool, error) {
	hash, err := l.checkOrgLicense(ctx, org, key)
	if err != nil {
		return false, err
	}
	// A registration never moves to another organization, so the key
	// checked above is still org's in SetLicenseField's transaction,
	// which checks the role again.
	return l.SetLicenseField(ctx, KeyID(hash), name, value)
}

// ShareLicenseIn is ShareLicense for a license registered to org, refused
// as SetLicenseFieldIn refuses.
func (l *Ledger) ShareLicenseIn(ctx context.Context, org, key, email, role string) error {
	hash, err := l.checkOrgLicense(ctx, org, key)
	if err != nil {
		return err
	}
	return l.ShareLicense(ctx, KeyID(hash), email, role)
}

func (l *Ledger) checkOrgLicense(ctx context.Context, org, key string) ([]byte, error) {
	if err := CheckName("organization", org); err != nil {
		return nil, err
	}
	var hash []byte
	err := l.view(ctx, func(tx ReadTx) error {
		var err error
		hash, err = l.orgLicense(tx, org, key)
		return err
	})
	return hash, err
}

// OrgDelegations returns the delegations of an organization, in force or
// revoked, by partner, for anyone who may read it. The partners are those
// its history names in delegations: a delegation is always recorded
// there.
func (l *Ledger) OrgDelegations(ctx context.Context, org string) ([]Delegation, error) {
	if err := CheckName("organization", org); err != nil {
		return nil, err
	}
	var out []Delegation
	err := l.view(ctx, func(tx ReadTx) error {
		out = nil
		o, _, err := l.authorize(tx, org, needRead)
		if err != nil {
			return err
		}
		partners := map[string]bool{}
		err = tx.History(HistoryFilter{Account: o.Name}, func(e *Event) error {
			if e.Action == actionDelegate {
				partners[e.Subject] = true
			}
			return nil
		})
		if err != nil {
			return err
		}
		names := make([]string, 0, len(partners))
		for p := range partners {
			names = append(names, p)
		}
		sort.Strings(names)
		for _, p := range names {
			d, err := tx.Delegation(o.ID, p)
			if err != nil {
				return err
			}
			if d != nil {
				out = append(out, *d)
			}
		}
		return nil
	})
	return out, err
}
