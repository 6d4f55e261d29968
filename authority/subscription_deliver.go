package authority

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/airlock-dev/airlock/codes"
)

// A SystemRegistered says what RegisterSystem did.
type SystemRegistered struct {
	Product  Product
	System   *codes.System
	UDI      string
	Account  string     // the account that holds the product's systems
	Hardware []Hardware // components registered by this description
	Again    bool       // this description was registered before
	Replaced bool       // it replaced an older description of the system
}

// RegisterSystem registers an offline system to a product from its system
// description (binary), verified with the authority keys: its demand
// counts toward the product's subscription, and each component it lists
// with a tag is hardware with one preloaded license of that tag, which
// registering activates. A component belongs to one product ledger-wide;
// a description that lists one registered elsewhere is refused. The
// product's systems are instances of the account named as the product in
// its organization, made if missing, so that confirm, show and history
// work for them as for any instance. A newer description of a registered
// system replaces the old one (its demand grows or shrinks; hardware
// stays registered). The actor must manage the organization.
func (l *Ledger) RegisterSystem(ctx context.Context, org, name string, code []byte) (*SystemRegistered, error) {
	var s *codes.System
	err := l.openWithKeys("system description", func(k *codes.AuthorityKey) error {
		var err error
		s, err = codes.OpenSystem(code, k)
		return err
	})
	if err != nil {
		return nil, err
	}
	var out *SystemRegistered
	err = l.update(ctx, func(tx Tx, c *chain) error {
		out = &SystemRegistered{System: s, UDI: s.UDI.String()} // the transaction may run again (Store.Update)
		if _, err := l.mayOrg(tx, org, needManage); err != nil {
			return err
		}
		p, err := product(tx, org, name)
		if err != nil {
			return err
		}
		out.Product = *p
		now := l.now()
		acct, err := tx.Account(org, p.Name)
		if err != nil {
			return err
		}
		if acct == nil {
			acct = &Account{OrgID: p.OrgID, Org: org, Name: p.Name, RemovalLimit: DefaultRemovalLimit, CreatedAt: now}
			if err := tx.InsertAccount(acct); err != nil {
				return err
			}
		}
		out.Account = acct.Ref()
		inst, what, err := pinSystem(tx, s, code, acct, now)
		if err != nil {
			return err
		}
		ps, err := tx.ProductSystem(inst.ID)
		if err != nil {
			return err
		}
		if what == "" {
			switch {
			case ps != nil && ps.ProductID != p.ID:
				return fmt.Errorf("%w: system %s is registered to another product: remove it there first", ErrElsewhere, inst.UDI)
			case ps == nil:
				live, err := liveReservation(tx, inst.ID)
				if err != nil {
					return err
				}
				if live != nil {
					return fmt.Errorf("%w: %s holds reservation %s from its account: have the system return it before registering it to a product", ErrHeldByAccount, inst.UDI, live.IDString())
				}
			case bytes.Equal(inst.System, code):
				out.Again = true
				return nil
			}
			inst.Name, inst.System, inst.AccountID = s.Name, code, acct.ID
			if ps == nil {
				inst.State = InstanceRegistered
			}
			if err := tx.UpdateInstance(inst); err != nil {
				return err
			}
			what, out.Replaced = "description replaced", ps != nil
		}
		if ps == nil {
			if err := tx.InsertProductSystem(&ProductSystem{InstanceID: inst.ID, ProductID: p.ID, RegisteredAt: now}); err != nil {
				return err
			}
		}
		for _, comp := range s.Components {
			if comp.Tag == "" {
				continue
			}
			h, err := tx.HardwareComponent(comp.ID)
			if err != nil {
				return err
			}
			switch {
			case h == nil:
			case h.ProductID != p.ID:
				return fmt.Errorf("%w: component %s is registered to another product: a component's preloaded licenses activate once", ErrElsewhere, comp.ID)
			case h.InstanceID != inst.ID:
				other, err := tx.InstanceByID(h.InstanceID)
				if err != nil {
					return err
				}
				return fmt.Errorf("%w: component %s is registered with system %q of %q", ErrElsewhere, comp.ID, other.Name, p.Ref())
			default:
				continue
			}
			hw := Hardware{Component: comp.ID, ProductID: p.ID, InstanceID: inst.ID, Model: comp.Model, Tag: comp.Tag, RegisteredAt: now}
			if err := tx.InsertHardware(&hw); err != nil {
				return err
			}
			out.Hardware = append(out.Hardware, hw)
		}
		e := l.event(now, actionProductRegister, p.Ref())
		e.Account, e.Instance, e.CodeHash = acct.Ref(), inst.UDI, codeHash(code)
		e.Detail = fmt.Sprintf("system %q %s to %q: demand %s", s.Name, what, p.Ref(), orNone(FormatLicenses(s.Demand)))
		if len(out.Hardware) > 0 {
			ids := make([]string, len(out.Hardware))
			for i, h := range out.Hardware {
				ids[i] = h.Component + " (" + h.Tag + ")"
			}
			e.Detail += "; preloaded licenses activated on " + strings.Join(ids, ", ")
		}
		return c.add(e)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// An Extended says what an extension did, or would do.
type Extended struct {
	Allocation
	Product  Product
	Hardware Hardware
	Total    int64 // licenses of the component after it: preloaded and extensions
}

// Extend allocates count extension licenses of tag (empty: the tag the
// component was preloaded with) from the wallet of a product, from lots
// of extension keys that expire first, to one hardware component of the
// product, for an actor who manages the organization. With dry set it
// changes nothing and returns what it would do.
func (l *Ledger) Extend(ctx context.Context, org, name, component, tag string, count int64, dry bool) (*Extended, error) {
	if count < 1 || count > MaxLotCount {
		return nil, fmt.Errorf("%w: count %d is not from 1 to %d", ErrInvalid, count, int64(MaxLotCount))
	}
	if component == "" {
		return nil, fmt.Errorf("%w: name the hardware component to extend", ErrInvalid)
	}
	var out *Extended
	err := l.updateOrCheck(ctx, dry, func(tx Tx, c *chain) error {
		if _, err := l.mayOrg(tx, org, needManage); err != nil {
			return err
		}
		p, err := product(tx, org, name)
		if err != nil {
			return err
		}
		h, err := tx.HardwareComponent(component)
		if err != nil {
			return err
		}
		if h == nil || h.ProductID != p.ID {
			return fmt.Errorf("%w: no component %q is registered to %q: register the system that lists it (airlock authority product register)", ErrNotRegistered, component, p.Ref())
		}
		if tag == "" {
			tag = h.Tag
		} else if err := codes.CheckTag(tag); err != nil {
			return err
		}
		now := l.now()
		lots, err := tx.WalletLots(p.ID)
		if err != nil {
			return err
		}
		a := Allocation{ProductID: p.ID, Component: component, Tag: tag, Count: count, CoversFrom: Midnight(now), At: now, Actor: l.opts.Actor}
		left := count
		var have int64
		for _, w := range lots {
			if w.Tag != tag || !w.Extension || w.Expired(now) || w.Count == 0 {
				continue
			}
			have += w.Count
			if k := min(w.Count, left); k > 0 {
				if err := tx.AdjustWalletLot(w.ID, -k); err != nil {
					return err
				}
				a.Sources = append(a.Sources, AllocationSource{LotID: w.ID, Count: k})
				left -= k
			}
		}
		if left > 0 {
			return fmt.Errorf("%w: the wallet of %q holds %d extension licenses of %s, the extension needs %d: redeem an extension key for %d more",
				ErrExtensionShort, p.Ref(), have, tag, count, count-have)
		}
		if err := tx.InsertAllocation(&a); err != nil {
			return err
		}
		snap, err := subscriptionSnapshot(tx, p)
		if err != nil {
			return err
		}
		out = &Extended{Allocation: a, Product: *p, Hardware: *h, Total: PreloadedLicenses + snap.extensions(component)}
		e := l.event(now, actionHardwareExtend, p.Ref())
		e.Account = p.Ref() // a product's systems are in the account of its name
		e.CodeHash = allocationHash(&a)
		e.Detail = fmt.Sprintf("%d extension licenses of %s allocated to component %s of %q: %d in all", count, tag, component, p.Ref(), out.Total)
		return c.add(e)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// A Delivered says what Deliver did.
type Delivered struct {
	Authorized
	Product Product
	Status  *SubscriptionStatus
	Serial  uint64
}

// Deliver issues an authorization code for a system of a product (by
// name or UDI), carrying what the product's subscription licenses it for
// now: a subscription entitlement per tag of the system's demand, from
// the start of the current year's cover to the end of the grace period or
// of the last fully allocated year; and a hardware entitlement per
// registered component of the system, preloaded license and extensions.
// The first code answers the system description's nonce; later ones are
// updates (the next serial of its reservation), which the system confirms.
// Delivering when nothing changed returns the last code again. The actor
// must manage the organization.
func (l *Ledger) Deliver(ctx context.Context, org, name, system string) (*Delivered, error) {
	var out *Delivered
	err := l.update(ctx, func(tx Tx, c *chain) error {
		if _, err := l.mayOrg(tx, org, needManage); err != nil {
			return err
		}
		now, key, err := l.signingClock(c)
		if err != nil {
			return err
		}
		p, err := product(tx, org, name)
		if err != nil {
			return err
		}
		st, err := subscriptionStatus(tx, p, now)
		if err != nil {
			return err
		}
		var inst *Instance
		var names []string
		for i := range st.Systems {
			s := &st.Systems[i]
			names = append(names, s.Name)
			if s.Name == system || s.UDI == system {
				if inst != nil {
					return fmt.Errorf("%w: %q has two systems named %q: name it by UDI", ErrInvalid, p.Ref(), system)
				}
				inst = s
			}
		}
		if inst == nil {
			if len(names) == 0 {
				return fmt.Errorf("%w: %q has no systems: register one from its system description file (airlock authority product register)", ErrNotRegistered, p.Ref())
			}
			return fmt.Errorf("%w: %q has no system %q; it has %s", ErrNotRegistered, p.Ref(), system, strings.Join(names, ", "))
		}
		desc, err := codes.ParseUnverifiedSystem(inst.System)
		if err != nil {
			return corrupt("stored description of system %q: %v", inst.Name, err)
		}
		ents := deliverable(st, desc, inst)
		if len(ents) == 0 {
			why := fmt.Sprintf("%q is %s until %s, but the system's description lists no demand", p.Ref(), st.State, FormatDay(st.Until))
			if st.State == StateExpired {
				why = fmt.Sprintf("the subscription of %q expired %s: allocate year %d", p.Ref(), FormatDay(st.Until), st.Year)
			} else if st.State == StateTrial {
				why = fmt.Sprintf("%q has no subscription: start it", p.Ref())
			}
			return fmt.Errorf("%w: nothing to deliver to system %q: %s, and the system has no hardware-bound licenses", ErrNothingToDeliver, inst.Name, why)
		}
		acct, err := tx.AccountByID(inst.AccountID)
		if err != nil {
			return err
		}
		res, err := liveReservation(tx, inst.ID)
		if err != nil {
			return err
		}
		out = &Delivered{Product: *p, Status: st}
		var nonce, request []byte
		serial := uint64(1)
		if res != nil {
			issued, err := tx.Issued(res.ID, false)
			if err != nil {
				return err
			}
			if len(issued) == 0 {
				return corrupt("reservation %s has no stored code", res.IDString())
			}
			last := issued[len(issued)-1]
			prev, err := codes.ParseUnverifiedAuthorization(last.Code)
			if err != nil {
				return corrupt("stored code of reservation %s: %v", res.IDString(), err)
			}
			if slices.Equal(prev.Entitlements, ents) {
				out.Authorized = Authorized{Code: last.Code, Authorization: prev, UDI: inst.UDI, Account: acct.Ref(), Again: true}
				out.Serial = last.Serial
				return nil
			}
			serial = res.Serial + 1
			res.Serial, res.UpdatedAt, res.Status = serial, now, StatusIssued
			if err := tx.UpdateReservation(res); err != nil {
				return err
			}
		} else {
			request = codeHash(inst.System)
			if prev, err := tx.IssuedByRequest(request); err != nil {
				return err
			} else if prev != nil {
				return fmt.Errorf("%w: the system description of %q was answered by reservation %s, since closed: have the system make a new system description file and register it",
					ErrDescriptionAnswered, inst.Name, FormatReservationID(prev.Reservation))
			}
			nonce = desc.Nonce
			res = &Reservation{InstanceID: inst.ID, AccountID: acct.ID, Status: StatusIssued, Serial: 1, CreatedAt: now, UpdatedAt: now}
			if err := insertReservation(tx, res, l.opts.Rand); err != nil {
				return err
			}
			inst.State = InstanceReserved
			if err := tx.UpdateInstance(inst); err != nil {
				return err
			}
		}
		auth, code, h, err := l.storeCode(tx, key, res, inst, serial, nonce, request, ents, now)
		if err != nil {
			return err
		}
		e := l.event(now, actionSubscriptionDeliver, inst.UDI)
		e.Account, e.Instance, e.CodeHash = acct.Ref(), inst.UDI, h
		e.Detail = fmt.Sprintf("reservation %s serial %d for system %q of %q (%s): %s", res.IDString(), serial, inst.Name, p.Ref(), st.State, describeEntitlements(ents))
		if err := c.add(e); err != nil {
			return err
		}
		c.issued(now)
		out.Authorized = Authorized{Code: code, Authorization: auth, UDI: inst.UDI, Account: acct.Ref()}
		out.Serial = serial
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// deliverable returns the entitlements a system of a product gets in a
// state: its demand as subscription entitlements while the product is
// licensed, and its hardware's licenses.
func deliverable(st *SubscriptionStatus, desc *codes.System, inst *Instance) []codes.Entitlement {
	var ents []codes.Entitlement
	if st.Licensed() {
		from := max(st.Calendar.Start(st.Year), st.StartedAt)
		for _, d := range desc.Demand {
			ents = append(ents, codes.Entitlement{Tag: d.Tag, Count: d.Count, Kind: codes.Subscription, Start: from, End: st.Until})
		}
	}
	for _, h := range st.Hardware {
		if h.InstanceID == inst.ID {
			ents = append(ents, codes.Entitlement{Tag: h.Tag, Count: uint32(min(h.Licenses(), MaxLotCount)), Kind: codes.Hardware, Component: h.Component})
		}
	}
	slices.SortFunc(ents, func(a, b codes.Entitlement) int {
		if c := strings.Compare(a.Tag, b.Tag); c != 0 {
			return c
		}
		return strings.Compare(a.Component, b.Component)
	})
	return ents
}

func describeEntitlements(ents []codes.Entitlement) string {
	parts := make([]string, len(ents))
	for i, e := range ents {
		switch e.Kind {
		case codes.Hardware:
			parts[i] = fmt.Sprintf("%d %s on %s", e.Count, e.Tag, e.Component)
		default:
			parts[i] = fmt.Sprintf("%d %s until %s", e.Count, e.Tag, FormatDay(e.End))
		}
	}
	return strings.Join(parts, ", ")
}

// ofProduct refuses to act on a system of a product as on an account's
// instance: its codes come from the product's subscription.
func ofProduct(tx ReadTx, inst *Instance) error {
	ps, err := tx.ProductSystem(inst.ID)
	if err != nil || ps == nil {
		return err
	}
	return fmt.Errorf("%w: %s is a system of a product: its codes come from the product's subscription (airlock authority subscription deliver)", ErrInvalid, inst.UDI)
}

// systemOf returns the product ("ORG/NAME") whose system inst is, or "".
func systemOf(tx ReadTx, inst *Instance) (string, error) {
	ps, err := tx.ProductSystem(inst.ID)
	if err != nil || ps == nil {
		return "", err
	}
	a, err := tx.AccountByID(inst.AccountID)
	if err != nil {
		return "", err
	}
	prods, err := tx.Products(a.OrgID)
	if err != nil {
		return "", err
	}
	for _, p := range prods {
		if p.ID == ps.ProductID {
			return p.Ref(), nil
		}
	}
	return "", fmt.Errorf("%w: system %s belongs to product %d, which organization %q does not have", ErrCorrupt, inst.UDI, ps.ProductID, a.Org)
}
