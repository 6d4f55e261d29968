package authority

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/airlock-dev/airlock/codes"
)

// An Activated says what ProcessActivation did with one activation
// request.
type Activated struct {
	Code       []byte // the signed activation, binary
	Gateway    Gateway
	Org        string
	NewGateway bool // the gateway was pinned by this request
	Replayed   bool // the request was processed before: Code is the same answer, and nothing changed
	Request    *codes.ActivationRequest
	Answer     *codes.Activation
	Products   []ActivatedProduct // in the order of the request
	Renewals   Renewed            // what the sweep before it did
}

// ActivatedProduct is what an activation request did for one product.
type ActivatedProduct struct {
	PK        string
	Name      string // empty for an unknown product key
	Listed    int
	Consumed  int // new activations and reactivations
	Kept      int // already active: nothing consumed
	Refused   int
	Reason    codes.Refusal // why devices were refused (one reason per product)
	Remaining int64         // codes left after
}

// ProcessActivation verifies an activation request code (binary), pins
// its gateway at first sight, consumes an activation code for each new
// device it lists, and signs the activation that answers it. A request
// processed before gets the same answer again and consumes nothing.
func (l *Ledger) ProcessActivation(ctx context.Context, code []byte) (*Activated, error) {
	return l.processActivation(ctx, code, nil)
}

// An activationHook checks, in the transaction of an activation request,
// the gateway (nil when new) and the products the request names (nil for
// a product key no product has) before anything changes; products is nil
// for a request answered before, whose stored answer is served again.
type activationHook func(tx Tx, req *codes.ActivationRequest, gw *Gateway, products []*FleetProduct) error

// processActivation is ProcessActivation, with check (when not nil) run
// in its transaction before anything changes (ProcessActivationIn).
func (l *Ledger) processActivation(ctx context.Context, code []byte, check activationHook) (*Activated, error) {
	var req *codes.ActivationRequest
	if err := l.openWithKeys("activation request", func(k *codes.AuthorityKey) error {
		var err error
		req, err = codes.OpenActivationRequest(code, k)
		return err
	}); err != nil {
		return nil, err
	}
	hash := codeHash(code)
	udi := req.UDI.String()
	var out *Activated
	err := l.update(ctx, func(tx Tx, c *chain) error {
		out = &Activated{Request: req}
		if prev, err := tx.ActivationAnswer(hash); err != nil {
			return err
		} else if prev != nil {
			if err := replayedActivation(tx, prev, out); err != nil || check == nil {
				return err
			}
			return check(tx, req, &out.Gateway, nil)
		}
		now, key, err := l.signingClock(c)
		if err != nil {
			return err
		}
		products := make([]*FleetProduct, len(req.Products))
		for i, g := range req.Products {
			if products[i], err = tx.FleetProduct(g.ProductKey); err != nil {
				return err
			}
		}
		gw, err := tx.Gateway(udi)
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(tx, req, gw, products); err != nil {
				return err
			}
		}
		switch {
		case gw != nil && len(gw.PublicKey) == 0:
			// Retired: the next request pins the gateway's key again.
			gw.PublicKey = bytes.Clone(req.InstanceKey)
			if err := tx.SetGatewayKey(gw.ID, gw.PublicKey); err != nil {
				return err
			}
			out.NewGateway = true
		case gw != nil && !bytes.Equal(gw.PublicKey, req.InstanceKey):
			return fmt.Errorf("%w: gateway %s was pinned %s to key %x, and this activation request carries key %x: if the gateway's state was rebuilt, retire its old key first (airlock authority gateway retire --udi %s --reason TEXT)",
				ErrGatewayKey, req.UDI.Short(), codes.FormatTime(gw.CreatedAt), InstanceKeyHashPrefix(gw.PublicKey), InstanceKeyHashPrefix(req.InstanceKey), udi)
		}
		if gw == nil {
			var orgID int64
			for _, p := range products {
				switch {
				case p == nil:
				case orgID == 0:
					orgID = p.OrgID
				case p.OrgID != orgID:
					return fmt.Errorf("%w: the new gateway %s lists products of two organizations (%s and %s): a gateway serves one organization; list each organization's devices from its own gateway",
						ErrCrossOrg, req.UDI.Short(), products[0].Org, p.Org)
				}
			}
			if orgID == 0 {
				if len(req.Products) == 0 {
					return fmt.Errorf("%w: gateway %s activated no device before and this request lists none: queue a device first", ErrNotFound, req.UDI.Short())
				}
				return fmt.Errorf("%w: no product has any of the product keys the gateway %s lists (%s): add the products first (airlock authority pool product add)", ErrNoFleetProduct, req.UDI.Short(), productKeys(req))
			}
			gw = &Gateway{UDI: udi, PublicKey: bytes.Clone(req.InstanceKey), OrgID: orgID, CreatedAt: now}
			if err := tx.InsertGateway(gw); err != nil {
				return err
			}
			out.NewGateway = true
		}
		out.Gateway = *gw
		org, err := orgByID(tx, gw.OrgID)
		if err != nil {
			return err
		}
		out.Org = org
		if out.Renewals, err = l.sweep(tx, c, gw.OrgID, now); err != nil {
			return err
		}
		// The sweep may have used codes: read the products again.
		for i, p := range products {
			if p != nil {
				if products[i], err = tx.FleetProductByID(p.ID); err != nil {
					return err
				}
			}
		}
		// The answer's record comes first: the codes consumed name it.
		rec := &ActivationAnswer{RequestHash: hash, GatewayID: gw.ID, At: now}
		if err := tx.InsertActivationAnswer(rec); err != nil {
			return err
		}
		a, err := l.activate(tx, req, products, gw, rec.ID, now, out)
		if err != nil {
			return err
		}
		if n := a.Count(); n > codes.MaxActivationDevices {
			return fmt.Errorf("%w: gateway %s would hold %d devices and an activation file lists at most %d: delete devices it no longer serves (airlock authority device delete), lapsed ones first, or activate the rest through another gateway",
				ErrInvalid, req.UDI.Short(), n, codes.MaxActivationDevices)
		}
		signed, err := codes.SignActivation(a, key)
		if err != nil {
			return err
		}
		if err := tx.SetActivationCode(rec.ID, signed); err != nil {
			return err
		}
		out.Code, out.Answer = signed, a
		c.issued(now)
		e := l.event(now, actionActivate, udi)
		e.Account = org + "/gateways"
		e.Instance = udi
		e.CodeHash = hash
		e.Detail = activationDetail(out)
		return c.add(e)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// InstanceKeyHashPrefix returns the first 4 bytes of an instance key's
// hash, as codes print it.
func InstanceKeyHashPrefix(pub []byte) []byte { return codes.InstanceKeyHash(pub)[:4] }

func productKeys(r *codes.ActivationRequest) string {
	pks := make([]string, len(r.Products))
	for i, g := range r.Products {
		pks[i] = g.ProductKey
	}
	return clipList(pks, 5)
}

func orgByID(tx ReadTx, id int64) (string, error) {
	o, err := tx.OrgByID(id)
	if err != nil {
		return "", err
	}
	if o == nil {
		return "", fmt.Errorf("%w: organization %d is missing", ErrCorrupt, id)
	}
	return o.Name, nil
}

func activationDetail(a *Activated) string {
	var listed, consumed, refused int
	for _, p := range a.Products {
		listed += p.Listed
		consumed += p.Consumed
		refused += p.Refused
	}
	s := fmt.Sprintf("activation request of gateway %s: %d devices listed, %d codes consumed, %d refused; answer lists %d devices", a.Gateway.UDI, listed, consumed, refused, a.Answer.Count())
	if a.NewGateway {
		s += "; gateway pinned to organization " + a.Org
	}
	return s
}

// replayedActivation fills out from an answer given before.
func replayedActivation(tx ReadTx, prev *ActivationAnswer, out *Activated) error {
	a, err := codes.ParseUnverifiedActivation(prev.Code)
	if err != nil {
		return fmt.Errorf("%w: the stored answer to this activation request does not parse: %v", ErrCorrupt, err)
	}
	gw, err := tx.GatewayByID(prev.GatewayID)
	if err != nil {
		return err
	}
	if gw == nil {
		return fmt.Errorf("%w: the stored answer names gateway %d, which is missing", ErrCorrupt, prev.GatewayID)
	}
	out.Code, out.Answer, out.Gateway, out.Replayed = prev.Code, a, *gw, true
	out.Org, err = orgByID(tx, gw.OrgID)
	return err
}

// activate consumes codes for the devices of req and returns the
// activation answering it, unsigned.
func (l *Ledger) activate(tx Tx, req *codes.ActivationRequest, products []*FleetProduct, gw *Gateway, source int64, now int64, out *Activated) (*codes.Activation, error) {
	// What the gateway holds before: its devices, by product.
	held := map[int64]map[string]Device{}
	if err := tx.Devices(DeviceFilter{GatewayID: gw.ID}, func(d *Device) error {
		m := held[d.ProductID]
		if m == nil {
			m = map[string]Device{}
			held[d.ProductID] = m
		}
		m[d.DK] = *d
		return nil
	}); err != nil {
		return nil, err
	}
	// A deleted product's devices are active nowhere.
	for id := range held {
		p, err := tx.FleetProductByID(id)
		if err != nil {
			return nil, err
		}
		if p.Deleted() {
			delete(held, id)
		}
	}
	next, err := tx.NextDeviceID()
	if err != nil {
		return nil, err
	}
	refused := map[string][]codes.DeviceRefusal{}
	var fresh, changed []Device
	var cons []Consumption
	pks := map[int64]string{}
	for i, g := range req.Products {
		p := products[i]
		r := ActivatedProduct{PK: g.ProductKey, Listed: len(g.Devices)}
		switch {
		case p == nil:
			r.Reason = codes.RefusedUnknownProduct
		case p.OrgID != gw.OrgID:
			r.Reason = codes.RefusedOtherGateway
		case p.Deleted():
			r.Reason = codes.RefusedProductDeleted
		case p.SpecID == 0:
			r.Reason = codes.RefusedNoPool
		}
		if p != nil {
			r.Name, r.Remaining = p.Name, p.Remaining()
		}
		if r.Reason != 0 {
			r.Refused = len(g.Devices)
			rs := make([]codes.DeviceRefusal, len(g.Devices))
			for j, dk := range g.Devices {
				rs[j] = codes.DeviceRefusal{DeviceKey: dk, Reason: r.Reason}
				if p != nil {
					delete(held[p.ID], dk) // refused, so listed as such only
				}
			}
			refused[g.ProductKey] = rs
			out.Products = append(out.Products, r)
			continue
		}
		pks[p.ID] = p.PK
		spec, err := specByID(tx, p.OrgID, p.SpecID)
		if err != nil {
			return nil, err
		}
		known, err := knownDevices(tx, p, g.Devices)
		if err != nil {
			return nil, err
		}
		mine := held[p.ID]
		if mine == nil {
			mine = map[string]Device{}
			held[p.ID] = mine
		}
		var used int64
		for _, dk := range g.Devices {
			d, ok := known[dk]
			switch {
			case ok && now < d.Until:
				// Still valid (deleted or not): it comes back for free.
				r.Kept++
				if d.DeletedAt != 0 || d.GatewayID != gw.ID {
					d.DeletedAt, d.GatewayID = 0, gw.ID
					changed = append(changed, d)
				}
				mine[dk] = d
				continue
			case p.Remaining()-used < 1:
				r.Refused++
				r.Reason = codes.RefusedNoCodes
				refused[g.ProductKey] = append(refused[g.ProductKey], codes.DeviceRefusal{DeviceKey: dk, Reason: codes.RefusedNoCodes})
				delete(mine, dk) // its ended window gives way to the refusal
				continue
			}
			used++
			r.Consumed++
			until := spec.Validity.End(now)
			if !ok {
				// The first code is the device row's own.
				d = Device{ID: next, ProductID: p.ID, DK: dk, GatewayID: gw.ID, ActivatedAt: now, FirstUntil: until, FirstSource: source,
					From: now, Until: until, Consumed: 1, AutoRenew: true}
				next++
				fresh = append(fresh, d)
				mine[dk] = d
				continue
			}
			d.GatewayID, d.From, d.Until, d.Lapsed, d.DeletedAt = gw.ID, now, until, false, 0
			d.Consumed++
			cons = append(cons, Consumption{DeviceID: d.ID, Seq: d.Consumed, At: now, From: d.From, Until: d.Until, Cause: CauseReactivation, Source: source})
			changed = append(changed, d)
			mine[dk] = d
		}
		if used > 0 {
			if err := tx.UseProductCodes(p.ID, used); err != nil {
				return nil, err
			}
			p.Used += used
		}
		r.Remaining = p.Remaining()
		out.Products = append(out.Products, r)
	}
	if err := tx.InsertDevices(fresh); err != nil {
		return nil, err
	}
	if err := tx.UpdateDevices(changed); err != nil {
		return nil, err
	}
	if err := tx.InsertConsumptions(cons); err != nil {
		return nil, err
	}
	// Devices the gateway held that moved to another gateway now are
	// not in held (changed rows keep theirs); the product keys of held
	// products the request did not name are looked up.
	for id := range held {
		if _, ok := pks[id]; !ok {
			p, err := tx.FleetProductByID(id)
			if err != nil {
				return nil, err
			}
			pks[id] = p.PK
		}
	}
	return answer(req, gw, held, pks, refused, now), nil
}

// knownDevices returns the devices of p among dks, deleted ones included:
// none when p never consumed a code; the listed ones one by one when they
// are few beside the product's devices, else all of them in one scan.
func knownDevices(tx ReadTx, p *FleetProduct, dks []string) (map[string]Device, error) {
	known := map[string]Device{}
	keep := func(d *Device) error {
		known[d.DK] = *d
		return nil
	}
	switch {
	case p.Used == 0:
	case int64(len(dks))*16 < p.Used:
		for _, dk := range dks {
			if err := tx.Devices(DeviceFilter{ProductID: p.ID, DK: dk, IncludeDeleted: true}, keep); err != nil {
				return nil, err
			}
		}
	default:
		if err := tx.Devices(DeviceFilter{ProductID: p.ID, IncludeDeleted: true}, keep); err != nil {
			return nil, err
		}
	}
	return known, nil
}

// answer builds the activation: every device the gateway holds, and the
// refused devices of the request, by product key and device key.
func answer(req *codes.ActivationRequest, gw *Gateway, held map[int64]map[string]Device, pks map[int64]string, refused map[string][]codes.DeviceRefusal, now int64) *codes.Activation {
	groups := map[string]*codes.DeviceValidity{}
	group := func(pk string) *codes.DeviceValidity {
		g := groups[pk]
		if g == nil {
			g = &codes.DeviceValidity{ProductKey: pk}
			groups[pk] = g
		}
		return g
	}
	for id, m := range held {
		if len(m) == 0 {
			continue
		}
		g := group(pks[id])
		for _, d := range m {
			g.Active = append(g.Active, codes.DeviceWindow{DeviceKey: d.DK, From: d.From, Until: d.Until})
		}
		slices.SortFunc(g.Active, func(a, b codes.DeviceWindow) int { return cmp.Compare(a.DeviceKey, b.DeviceKey) })
	}
	for pk, rs := range refused {
		group(pk).Refused = rs // in the request's order: sorted
	}
	a := &codes.Activation{UDI: req.UDI, InstanceKey: codes.InstanceKeyHash(gw.PublicKey), Nonce: bytes.Clone(req.Nonce), IssuedAt: now}
	for _, pk := range slices.Sorted(maps.Keys(groups)) {
		a.Products = append(a.Products, *groups[pk])
	}
	return a
}

// RetireGateway forgets the key a gateway was pinned to, for a gateway
// whose state was rebuilt: its next activation request pins its new key.
// Its devices stay where they are. reason is recorded. The actor must
// manage the gateway's organization.
func (l *Ledger) RetireGateway(ctx context.Context, udi, reason string) (*Gateway, error) {
	if err := checkLabel("reason", reason); err != nil {
		return nil, err
	}
	var out *Gateway
	err := l.update(ctx, func(tx Tx, c *chain) error {
		gw, err := tx.Gateway(udi)
		if err != nil {
			return err
		}
		if gw == nil {
			return fmt.Errorf("%w: no gateway has UDI %s ('airlock authority gateway list --org ORG' lists them)", ErrNotFound, udi)
		}
		org, err := orgByID(tx, gw.OrgID)
		if err != nil {
			return err
		}
		a, err := l.actingAs(tx)
		if err != nil {
			return err
		}
		if _, err := a.may(tx, &Org{ID: gw.OrgID, Name: org}, needManage); err != nil {
			return err
		}
		if len(gw.PublicKey) == 0 {
			return fmt.Errorf("%w: the key of gateway %s is retired already: its next activation request pins its key", ErrClosed, udi)
		}
		if err := tx.SetGatewayKey(gw.ID, nil); err != nil {
			return err
		}
		now := l.now()
		e := l.event(now, actionGatewayRetire, udi)
		e.Account = org + "/gateways"
		e.Instance = udi
		e.Detail = fmt.Sprintf("key %x of gateway %s retired: %s", InstanceKeyHashPrefix(gw.PublicKey), udi, reason)
		out = gw
		return c.add(e)
	})
	return out, err
}

// GatewayView is a gateway with what it holds.
type GatewayView struct {
	Gateway
	Devices int // devices it activated last, deleted ones excluded
}

// Gateways returns the gateways of an organization, by id.
func (l *Ledger) Gateways(ctx context.Context, org string) ([]GatewayView, error) {
	var out []GatewayView
	err := l.view(ctx, func(tx ReadTx) error {
		if _, err := l.mayOrg(tx, org, needRead); err != nil {
			return err
		}
		o, err := orgNamed(tx, org)
		if err != nil {
			return err
		}
		gws, err := tx.Gateways(o.ID)
		if err != nil {
			return err
		}
		for _, g := range gws {
			v := GatewayView{Gateway: g}
			if err := tx.Devices(DeviceFilter{GatewayID: g.ID}, func(*Device) error {
				v.Devices++
				return nil
			}); err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	return out, err
}
