package authority

import (
	"context"
	"sort"
)

// The vendor's own pages of a front end (the web portal's desk): what the
// vendor's staff see of every organization at once, and the review of a
// lot before it is added. Both are the vendor's only, checked in their
// own transaction like the calls they precede (AddOrg, AddLot).

// A DeskView is the whole ledger as the vendor's staff see it on one page:
// every organization, every virtual account, and the balances of each
// account and tag, read in one transaction so that they agree.
type DeskView struct {
	Orgs     []Org     // by name
	Accounts []Account // by organization, then name
	Balances []Balance // by account, then tag, as Licenses returns them
}

// Desk returns the DeskView, for the vendor's staff only.
func (l *Ledger) Desk(ctx context.Context) (*DeskView, error) {
	var out *DeskView
	err := l.view(ctx, func(tx ReadTx) error {
		if _, err := l.actingVendor(tx, "see every organization at the desk"); err != nil {
			return err
		}
		orgs, err := tx.Orgs()
		if err != nil {
			return err
		}
		accts, err := tx.Accounts()
		if err != nil {
			return err
		}
		bs, err := balances(tx, 0, nil)
		if err != nil {
			return err
		}
		sort.Slice(orgs, func(i, j int) bool { return orgs[i].Name < orgs[j].Name })
		sort.Slice(accts, func(i, j int) bool { return accts[i].Ref() < accts[j].Ref() })
		out = &DeskView{Orgs: orgs, Accounts: accts, Balances: bs}
		return nil
	})
	return out, err
}

// A LotReview is what AddLot would do with a LotSpec: the account's
// balances before and after, and the lot's terms in words.
type LotReview struct {
	Account string // "ORG/ACCOUNT"
	Terms   string // kind, dates and export flag, as the history says them
	Before  []Balance
	After   []Balance
}

// ReviewLot checks s as AddLot does (the spec, the vendor's role, the
// account, a satellite's refusal) and returns what adding it would do,
// changing nothing. The lot enters with none of it held, so the balance
// of its tag grows by its count in Owned and Available (as balances
// counts lots); the other tags stay. What AddLot then does may differ
// only if the ledger changes in between.
func (l *Ledger) ReviewLot(ctx context.Context, s LotSpec) (*LotReview, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	var out *LotReview
	err := l.view(ctx, func(tx ReadTx) error {
		if err := refuseOnSatellite(tx, "add lots"); err != nil {
			return err
		}
		if _, err := l.actingVendor(tx, "add lots: licenses come from the vendor"); err != nil {
			return err
		}
		a, err := account(tx, s.Account)
		if err != nil {
			return err
		}
		before, err := balances(tx, a.ID, nil)
		if err != nil {
			return err
		}
		lot := &Lot{Tag: s.Tag, Kind: s.Kind, Start: s.Start, End: s.End, ExportControlled: s.ExportControlled, Count: s.Count}
		out = &LotReview{Account: a.Ref(), Terms: describeTerms(lot), Before: before}
		found := false
		for _, b := range before {
			b.Lots = nil
			if b.Tag == s.Tag {
				b.Owned += s.Count
				b.Available += s.Count
				found = true
			}
			out.After = append(out.After, b)
		}
		if !found {
			out.After = append(out.After, Balance{Account: a.Ref(), Tag: s.Tag, Owned: s.Count, Available: s.Count})
			sort.Slice(out.After, func(i, j int) bool { return out.After[i].Tag < out.After[j].Tag })
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
