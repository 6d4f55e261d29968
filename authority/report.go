package authority

import (
	"context"
	"fmt"

	"github.com/airlock-dev/airlock/codes"
)

// An InstanceInfo is one line of Instances.
type InstanceInfo struct {
	Instance
	Account string // "ORG/ACCOUNT"
	// Reservation is the instance's latest reservation, live or closed,
	// or nil.
	Reservation *Reservation
	// Licenses are those of the latest code of a live reservation.
	Licenses []codes.License
	// Journal is what the ledger knows of the instance's journal, nil
	// before its first usage report or fork.
	Journal *Journal
}

// Forked reports whether the ledger saw two histories of the instance: a
// restored backup or a copy of its state folder made codes. See the
// "fork" events of its history for when and with which codes.
func (i *InstanceInfo) Forked() bool { return i.Journal != nil && i.Journal.Forks > 0 }

// KeyHash returns the instance key hash that authorization codes name.
func (i *InstanceInfo) KeyHash() []byte { return codes.InstanceKeyHash(i.PublicKey) }

// Instances lists every instance, removed ones included, in the order
// they became known: the vendor's staff only, since it spans every
// organization.
func (l *Ledger) Instances(ctx context.Context) ([]InstanceInfo, error) {
	var out []InstanceInfo
	err := l.view(ctx, func(tx ReadTx) error {
		if _, err := l.actingVendor(tx, "list every organization's instances"); err != nil {
			return err
		}
		insts, err := tx.Instances()
		if err != nil {
			return err
		}
		refs, err := accountRefs(tx)
		if err != nil {
			return err
		}
		all, err := tx.Reservations(0)
		if err != nil {
			return err
		}
		latest := map[int64]*Reservation{}
		for i := range all {
			latest[all[i].InstanceID] = &all[i]
		}
		js, err := tx.Journals()
		if err != nil {
			return err
		}
		journals := map[int64]*Journal{}
		for i := range js {
			journals[js[i].InstanceID] = &js[i]
		}
		for _, inst := range insts {
			info := InstanceInfo{Instance: inst, Account: refs[inst.AccountID], Reservation: latest[inst.ID], Journal: journals[inst.ID]}
			if r := info.Reservation; r != nil && r.Status.Live() {
				gs, err := tx.Grants(r.ID, false)
				if err != nil {
					return err
				}
				info.Licenses = byTag(serialGrants(gs, r.Serial))
			}
			out = append(out, info)
		}
		return nil
	})
	return out, err
}

func accountRefs(tx ReadTx) (map[int64]string, error) {
	as, err := tx.Accounts()
	if err != nil {
		return nil, err
	}
	refs := make(map[int64]string, len(as))
	for i := range as {
		refs[as[i].ID] = as[i].Ref()
	}
	return refs, nil
}

// An InstanceDetail is everything the ledger knows of one instance.
type InstanceDetail struct {
	InstanceInfo
	Reservations []ReservationDetail // oldest first
	History      []Event
	// Forks are the "fork" events of History: when the ledger saw a
	// second history of the instance, and with which code.
	Forks []Event
	// Product names the product ("ORG/NAME") whose system the instance
	// is: its codes come from the product's subscription, not from
	// updates. "" for an account's instance.
	Product string
}

// A ReservationDetail is a reservation with its codes and what it holds.
type ReservationDetail struct {
	Reservation
	Account      string
	Codes        []Issued        // every code issued, by serial
	Reserved     []codes.License // by the latest code, while live
	InTransition []codes.License // held beyond the latest code, while live
}

// Show returns what the ledger knows of an instance: a UDI or its
// "P:…,S:…" part. A live instance is preferred; otherwise the last one
// removed with that UDI is shown. The actor must read the organization
// of the instance's account; for a person who is not the vendor's, the
// reservations and events of the instance in another organization's
// accounts (before it moved) are left out. An instance of an organization
// a person may not read is refused in the words of one that does not
// exist.
func (l *Ledger) Show(ctx context.Context, ref string) (*InstanceDetail, error) {
	return l.show(ctx, "", ref)
}

// show is Show, of an instance of org's accounts only when org is set
// (ShowIn): then only org's reservations and events are shown, to the
// vendor's staff too.
func (l *Ledger) show(ctx context.Context, org, ref string) (*InstanceDetail, error) {
	var out *InstanceDetail
	err := l.view(ctx, func(tx ReadTx) error {
		who, err := l.actingAs(tx)
		if err != nil {
			return err
		}
		inst, acct, _, err := l.instanceAs(tx, who, ref, org, true, needRead)
		if err != nil {
			return err
		}
		mine := func(account string) bool {
			if org != "" {
				return eventOrg(account) == org
			}
			return who.vendor() || eventOrg(account) == acct.Org
		}
		refs, err := accountRefs(tx)
		if err != nil {
			return err
		}
		rs, err := tx.Reservations(inst.ID)
		if err != nil {
			return err
		}
		out = &InstanceDetail{InstanceInfo: InstanceInfo{Instance: *inst, Account: refs[inst.AccountID]}}
		if out.Journal, err = tx.Journal(inst.ID); err != nil {
			return err
		}
		if out.Product, err = systemOf(tx, inst); err != nil {
			return err
		}
		for i := range rs {
			r := rs[i]
			d := ReservationDetail{Reservation: r, Account: refs[r.AccountID]}
			if !mine(d.Account) {
				continue
			}
			if d.Codes, err = tx.Issued(r.ID, false); err != nil {
				return err
			}
			gs, err := tx.Grants(r.ID, false)
			if err != nil {
				return err
			}
			if r.Status.Live() {
				latest := serialGrants(gs, r.Serial)
				d.Reserved = byTag(latest)
				transition := holdings(&r, gs)
				for _, g := range latest {
					transition[g.LotID] -= g.Count
				}
				d.InTransition = perTag(transition, lotTags(gs))
				out.Licenses = d.Reserved
			}
			out.Reservations = append(out.Reservations, d)
		}
		if n := len(out.Reservations); n > 0 {
			out.Reservation = &out.Reservations[n-1].Reservation
		}
		return tx.History(HistoryFilter{Instance: inst.UDI}, func(e *Event) error {
			if e.At >= inst.CreatedAt && mine(e.Account) {
				out.History = append(out.History, *e)
				if e.Action == "fork" {
					out.Forks = append(out.Forks, *e)
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// anyInstance resolves a reference to the live instance, or else to the
// last removed one.
func anyInstance(tx ReadTx, ref string) (*Instance, error) {
	inst, err := instance(tx, ref)
	if err == nil || !isNotFound(err) {
		return inst, err
	}
	r, perr := parseInstanceRef(ref)
	if perr != nil {
		return nil, perr
	}
	all, aerr := tx.Instances()
	if aerr != nil {
		return nil, aerr
	}
	for i := len(all) - 1; i >= 0; i-- {
		if matches(&all[i], r) {
			return &all[i], nil
		}
	}
	return nil, err
}

func matches(i *Instance, r instanceRef) bool {
	if r.udi != "" {
		return i.UDI == r.udi
	}
	u, err := codes.ParseUDI(i.UDI)
	return err == nil && u.PID == r.pid && u.SN == r.sn
}

// History returns the events that match f, oldest first. f.Instance may be
// a UDI or its "P:…,S:…" part; f.Account is "ORG/ACCOUNT".
//
// The actor must read the organization of the account, or of the
// instance's account, and a person who is not the vendor's gets only the
// events of that organization. The whole history, without an account or
// an instance, is the vendor's staff's only.
func (l *Ledger) History(ctx context.Context, f HistoryFilter) ([]Event, error) {
	if f.Org != "" || f.Before != 0 || f.Newest != 0 {
		return nil, fmt.Errorf("%w: History filters by instance, account and time only: page an organization's history with OrgHistory", ErrInvalid)
	}
	var out []Event
	err := l.view(ctx, func(tx ReadTx) error {
		who, err := l.actingAs(tx)
		if err != nil {
			return err
		}
		if f.Instance == "" && f.Account == "" {
			if err := who.vendorOnly("read the whole history: give an account or an instance"); err != nil {
				return err
			}
		}
		org := ""
		if f.Account != "" {
			acct, _, err := l.accountWith(tx, who, f.Account, needRead)
			if err != nil {
				return err
			}
			org = acct.Org
		}
		if f.Instance != "" {
			inst, acct, _, err := l.instanceAs(tx, who, f.Instance, "", true, needRead)
			if err != nil {
				return err
			}
			f.Instance, org = inst.UDI, acct.Org
		}
		return tx.History(f, func(e *Event) error {
			if who.vendor() || eventOrg(e.Account) == org {
				out = append(out, *e)
			}
			return nil
		})
	})
	return out, err
}

// Code returns the authorization code of an instance's latest reservation
// with the given serial (0: the latest), to hand it out again. The actor
// must read the organization of that reservation's account; a person of
// another organization is refused in the words of an instance that does
// not exist.
func (l *Ledger) Code(ctx context.Context, ref string, serial uint64) (*Issued, error) {
	return l.code(ctx, "", ref, serial)
}

// code is Code, of an instance of org's accounts only when org is set
// (CodeIn).
func (l *Ledger) code(ctx context.Context, org, ref string, serial uint64) (*Issued, error) {
	var out *Issued
	err := l.view(ctx, func(tx ReadTx) error {
		who, err := l.actingAs(tx)
		if err != nil {
			return err
		}
		inst, _, _, err := l.instanceAs(tx, who, ref, org, true, needRead)
		if err != nil {
			return err
		}
		rs, err := tx.Reservations(inst.ID)
		if err != nil {
			return err
		}
		if len(rs) == 0 {
			return fmt.Errorf("%w: %s has no reservation", ErrNotFound, inst.UDI)
		}
		r := rs[len(rs)-1]
		if _, _, err := instanceAccount(tx, who, r.AccountID, ref, org, needRead); err != nil {
			return err
		}
		if serial == 0 {
			serial = r.Serial
		}
		cs, err := tx.Issued(r.ID, false)
		if err != nil {
			return err
		}
		for i := range cs {
			if cs[i].Serial == serial {
				out = &cs[i]
				return nil
			}
		}
		return fmt.Errorf("%w: reservation %s has no serial %d (latest %d)", ErrNotFound, r.IDString(), serial, r.Serial)
	})
	return out, err
}
