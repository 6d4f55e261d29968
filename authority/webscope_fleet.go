package authority

import (
	"context"
	"fmt"
	"time"
)

// Activation-code pools and device fleets of one organization, for front
// ends that serve the people of many (the web portal); see webscope.go.
//
// The desk's fleet operations take a product by product key or, within
// the organization, by name, and say when a product key belongs to
// another organization: fine for the vendor's staff at the desk, who see
// every organization, but a page of one organization must not tell a
// person that a product key exists elsewhere. The operations here find
// the product within the organization only, and refuse any other in the
// words of one that does not exist; then they call the desk's operation
// with its product key, which checks the role itself. A product never
// moves to another organization, so the check, made in its own
// transaction, still holds when the operation runs.

// Limits of the organization's views.
const (
	// MaxDevicePage bounds a page of DevicesIn.
	MaxDevicePage = 500
	// MaxDeviceOffset bounds how far DevicesIn pages: each page reads
	// the devices before it, so a search that needs more is to be
	// narrowed (by product, dates or device key) instead.
	MaxDeviceOffset = 10_000
	// MaxUsePeriods bounds the periods of CodeUse and ExpiryWeeks: five
	// years of months, a year of weeks and more.
	MaxUsePeriods = 60
	// maxProductRef bounds a product key or name to look up: both are at
	// most 128 bytes.
	maxProductRef = 256
)

// fleetProductIn finds a product of org by product key or name. Another
// organization's product key is refused in the words of one that does
// not exist.
func fleetProductIn(tx ReadTx, o *Org, ref string) (*FleetProduct, error) {
	if ref == "" || len(ref) > maxProductRef {
		return nil, fmt.Errorf("%w: a product key or name has 1 to 128 characters, not %d", ErrInvalid, len(ref))
	}
	p, err := tx.FleetProduct(ref)
	if err != nil {
		return nil, err
	}
	if p != nil && p.OrgID == o.ID {
		return p, nil
	}
	if p, err := fleetProductNamed(tx, o, ref); p != nil || err != nil {
		return p, err
	}
	return nil, fmt.Errorf("%w: organization %q has no product with product key or name %q", ErrNoFleetProduct, o.Name, ref)
}

// FleetProductIn returns the fleet product of org with product key or
// name ref, deleted or not, for an actor who may read org.
func (l *Ledger) FleetProductIn(ctx context.Context, org, ref string) (*FleetProduct, error) {
	var out *FleetProduct
	err := l.view(ctx, func(tx ReadTx) error {
		if _, err := l.mayOrg(tx, org, needRead); err != nil {
			return err
		}
		o, err := orgNamed(tx, org)
		if err != nil {
			return err
		}
		out, err = fleetProductIn(tx, o, ref)
		return err
	})
	return out, err
}

// AllocateCodesIn is AllocateCodes to a product of org (see
// FleetProductIn); the actor must manage org.
func (l *Ledger) AllocateCodesIn(ctx context.Context, org, product, pkg string, count int64, dry bool) (*CodesAllocated, error) {
	p, err := l.FleetProductIn(ctx, org, product)
	if err != nil {
		return nil, err
	}
	return l.AllocateCodes(ctx, org, p.PK, pkg, count, dry)
}

// SetProductAutoRenewIn is SetProductAutoRenew of a product of org.
func (l *Ledger) SetProductAutoRenewIn(ctx context.Context, org, product string, on bool) (*FleetProduct, bool, error) {
	p, err := l.FleetProductIn(ctx, org, product)
	if err != nil {
		return nil, false, err
	}
	return l.SetProductAutoRenew(ctx, org, p.PK, on)
}

// SetDeviceAutoRenewIn is SetDeviceAutoRenew of a device of a product of
// org.
func (l *Ledger) SetDeviceAutoRenewIn(ctx context.Context, org, product, dk string, on bool) (*Device, bool, error) {
	p, err := l.FleetProductIn(ctx, org, product)
	if err != nil {
		return nil, false, err
	}
	return l.SetDeviceAutoRenew(ctx, org, p.PK, dk, on)
}

// AddFleetProductIn is AddFleetProduct for a page of org: a product key
// taken in any organization, org's included, is refused in the same
// words, which name no other organization or product. (Product keys are
// unique in the ledger; a key taken between this check and the
// addition is refused by AddFleetProduct in its own words.)
func (l *Ledger) AddFleetProductIn(ctx context.Context, org, pk, name string, autoRenew bool) (*FleetProduct, error) {
	err := l.view(ctx, func(tx ReadTx) error {
		if _, err := l.mayOrg(tx, org, needManage); err != nil {
			return err
		}
		if len(pk) > maxProductRef {
			return nil // AddFleetProduct refuses it
		}
		p, err := tx.FleetProduct(pk)
		if err == nil && p != nil {
			err = fmt.Errorf("%w: product key %q is taken: choose another", ErrExists, pk)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return l.AddFleetProduct(ctx, org, pk, name, autoRenew)
}

// DeleteFleetProductIn is DeleteFleetProduct of a product of org.
func (l *Ledger) DeleteFleetProductIn(ctx context.Context, org, product string, dry bool) (*FleetProduct, error) {
	p, err := l.FleetProductIn(ctx, org, product)
	if err != nil {
		return nil, err
	}
	return l.DeleteFleetProduct(ctx, org, p.PK, dry)
}

// SetBlockedIn is SetBlocked on the blocklist of a product of org.
func (l *Ledger) SetBlockedIn(ctx context.Context, org, product string, dks []string, blocked bool) (int, error) {
	p, err := l.FleetProductIn(ctx, org, product)
	if err != nil {
		return 0, err
	}
	return l.SetBlocked(ctx, org, p.PK, dks, blocked)
}

// DeleteDeviceIn is DeleteDevice of a device of a product of org.
func (l *Ledger) DeleteDeviceIn(ctx context.Context, org, product, dk string) (*Device, error) {
	p, err := l.FleetProductIn(ctx, org, product)
	if err != nil {
		return nil, err
	}
	return l.DeleteDevice(ctx, org, p.PK, dk)
}

// RetireGatewayIn is RetireGateway of a gateway of org: a UDI no
// gateway has, or another organization's gateway has, is refused in the
// same words; with dry set it checks the same and changes nothing, and
// returns the gateway as it is.
func (l *Ledger) RetireGatewayIn(ctx context.Context, org, udi, reason string, dry bool) (*Gateway, error) {
	var out *Gateway
	err := l.view(ctx, func(tx ReadTx) error {
		if _, err := l.mayOrg(tx, org, needManage); err != nil {
			return err
		}
		o, err := orgNamed(tx, org)
		if err != nil {
			return err
		}
		gw, err := tx.Gateway(udi)
		if err != nil {
			return err
		}
		if gw == nil || gw.OrgID != o.ID {
			return fmt.Errorf("%w: organization %q has no gateway with UDI %q", ErrNotFound, org, udi)
		}
		if len(gw.PublicKey) == 0 {
			return fmt.Errorf("%w: the key of gateway %s is retired already: its next activation request pins its key", ErrClosed, udi)
		}
		out = gw
		return nil
	})
	if err != nil || dry {
		if err == nil {
			err = checkLabel("reason", reason)
		}
		if err != nil {
			return nil, err
		}
		return out, nil
	}
	return l.RetireGateway(ctx, udi, reason)
}

// A DeviceRecord is one device and every code it consumed.
type DeviceRecord struct {
	Device  DeviceView
	History []Consumption // its first activation first
	Now     int64         // the ledger's time of the record, Unix seconds: the state is at it
}

// DeviceHistoryIn is DeviceHistory of the device dk of a product of org.
func (l *Ledger) DeviceHistoryIn(ctx context.Context, org, product, dk string) (*DeviceRecord, error) {
	p, err := l.FleetProductIn(ctx, org, product)
	if err != nil {
		return nil, err
	}
	if dk == "" {
		return nil, fmt.Errorf("%w: no device key given", ErrInvalid)
	}
	now := l.now()
	views, hist, err := l.DeviceHistory(ctx, org, p.PK, dk)
	if err != nil {
		return nil, err
	}
	if len(views) != 1 {
		return nil, fmt.Errorf("%w: product %s has %d devices with key %q", ErrCorrupt, p.PK, len(views), dk)
	}
	return &DeviceRecord{Device: views[0], History: hist[0], Now: now}, nil
}

// A DevicePage is one page of the devices a DeviceQuery selects.
type DevicePage struct {
	Devices []DeviceView
	Now     int64 // the ledger's time of the page, Unix seconds: states are at it
	More    bool  // devices follow this page
}

// DevicesIn is Devices for a front end that pages: q.Product is a
// product of q.Org (see FleetProductIn), q.Limit (1 to MaxDevicePage)
// the size of the page, and offset (0 to MaxDeviceOffset) the devices
// before it. The order is Devices's: by id, or soonest end first with
// q.NearExpiry. With q.NearExpiry, Devices leaves out the devices of
// deleted products after it read the page's rows, so a page that held
// some is shorter, and may say no more follow when some do.
func (l *Ledger) DevicesIn(ctx context.Context, q DeviceQuery, offset int) (*DevicePage, error) {
	if q.Limit < 1 || q.Limit > MaxDevicePage {
		return nil, fmt.Errorf("%w: a page has 1 to %d devices, not %d", ErrInvalid, MaxDevicePage, q.Limit)
	}
	if offset < 0 || offset > MaxDeviceOffset {
		return nil, fmt.Errorf("%w: the page starts after %d devices: at most %d can come before it; narrow the search instead", ErrInvalid, offset, MaxDeviceOffset)
	}
	if q.Product != "" {
		p, err := l.FleetProductIn(ctx, q.Org, q.Product)
		if err != nil {
			return nil, err
		}
		q.Product = p.PK
	}
	size := q.Limit
	q.Limit = offset + size + 1
	now := l.now()
	views, err := l.Devices(ctx, q)
	if err != nil {
		return nil, err
	}
	out := &DevicePage{Now: now}
	if len(views) > offset {
		views = views[offset:]
		if len(views) > size {
			views, out.More = views[:size], true
		}
		out.Devices = views
	}
	return out, nil
}

// Allocatable returns the most unallocated codes one allocation can give
// p: of its package when it holds one, else of the package with the
// most; none for a deleted product. (A product holds codes of one
// package only.)
func (pc *PoolCounts) Allocatable(p *FleetProduct) int64 {
	if p.Deleted() {
		return 0
	}
	if p.SpecID != 0 {
		return pc.Unallocated[p.SpecID]
	}
	var most int64
	for _, n := range pc.Unallocated {
		most = max(most, n)
	}
	return most
}

// A UsePeriod is the length of the periods CodeUse counts in.
type UsePeriod int

// Periods of CodeUse, in UTC.
const (
	Weekly  UsePeriod = iota + 1 // from Monday 00:00
	Monthly                      // from the first of the month
)

// A CodeUseCount counts what happened to an organization's activation
// codes in one period, From inclusive to To exclusive (Unix seconds).
type CodeUseCount struct {
	From, To  int64
	Bought    int64 // codes bought, into the unallocated pool or a product
	Allocated int64 // unallocated codes allocated to products
	Consumed  int64 // codes devices consumed: activations, renewals, reactivations, as the ledger recorded them
}

// CodeUse counts an organization's activation codes bought, allocated
// and consumed in each of the last n periods (1 to MaxUsePeriods), the
// last one the period of the ledger's now, oldest first. A renewal counts
// when the ledger recorded it (the sweep after the code ended), not when
// the code ended. It reads the organization's devices and the ledger's
// consumptions once each: a page's worth of work for fleets of up to a
// few hundred thousand devices, not a query to run per device.
func (l *Ledger) CodeUse(ctx context.Context, org string, by UsePeriod, n int) ([]CodeUseCount, error) {
	if n < 1 || n > MaxUsePeriods {
		return nil, fmt.Errorf("%w: %d periods: from 1 to %d", ErrInvalid, n, MaxUsePeriods)
	}
	out := make([]CodeUseCount, n)
	start := periodStart(time.Unix(l.now(), 0).UTC(), by)
	for i := range out {
		back := n - 1 - i
		out[i].From = addPeriods(start, by, -back).Unix()
		out[i].To = addPeriods(start, by, 1-back).Unix()
	}
	in := func(at int64) *CodeUseCount {
		if at < out[0].From || at >= out[n-1].To {
			return nil
		}
		for i := range out {
			if at < out[i].To {
				return &out[i]
			}
		}
		return nil
	}
	err := l.view(ctx, func(tx ReadTx) error {
		for i := range out {
			out[i].Bought, out[i].Allocated, out[i].Consumed = 0, 0, 0
		}
		if _, err := l.mayOrg(tx, org, needRead); err != nil {
			return err
		}
		o, err := orgNamed(tx, org)
		if err != nil {
			return err
		}
		bs, err := tx.CodeBatches(o.ID)
		if err != nil {
			return err
		}
		for _, b := range bs {
			if c := in(b.At); c != nil {
				c.Bought += b.Count
			}
		}
		as, err := tx.CodeAllocations(o.ID)
		if err != nil {
			return err
		}
		for _, a := range as {
			if c := in(a.At); c != nil {
				c.Allocated += a.Count
			}
		}
		// Every device consumed its first code when it first activated;
		// the later ones are its consumptions. Read the devices whole
		// before the consumptions: a store may serve one query at a time.
		mine := map[int64]bool{}
		if err := tx.Devices(DeviceFilter{OrgID: o.ID, IncludeDeleted: true}, func(d *Device) error {
			mine[d.ID] = true
			if c := in(d.ActivatedAt); c != nil {
				c.Consumed++
			}
			return nil
		}); err != nil || len(mine) == 0 {
			return err
		}
		return tx.Consumptions(0, func(cn *Consumption) error {
			if mine[cn.DeviceID] {
				if c := in(cn.At); c != nil {
					c.Consumed++
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

// periodStart returns the start of the period of t.
func periodStart(t time.Time, by UsePeriod) time.Time {
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if by == Monthly {
		return day.AddDate(0, 0, 1-day.Day())
	}
	return day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
}

func addPeriods(t time.Time, by UsePeriod, n int) time.Time {
	if by == Monthly {
		return t.AddDate(0, n, 0)
	}
	return t.AddDate(0, 0, 7*n)
}

// An ExpiryWeek counts the devices whose codes end in one week, From
// inclusive to To exclusive (Unix seconds).
type ExpiryWeek struct {
	From, To int64
	Renew    int64 // will renew, codes permitting (DeviceView.WillRenew)
	Lapse    int64 // will lapse
}

// ExpiryWeeks counts, for each of the next weeks (1 to MaxUsePeriods)
// from the start of the ledger's day (00:00 UTC), the devices of q.Org
// whose codes end in it and have not ended yet,
// among those q selects (its product, a product of q.Org, device key,
// activation and expiry dates); devices deleted, lapsed, or of deleted
// products are not counted, as near expiry lists them.
func (l *Ledger) ExpiryWeeks(ctx context.Context, q DeviceQuery, weeks int) ([]ExpiryWeek, error) {
	if weeks < 1 || weeks > MaxUsePeriods {
		return nil, fmt.Errorf("%w: %d weeks: from 1 to %d", ErrInvalid, weeks, MaxUsePeriods)
	}
	const week = 7 * dayS
	now := l.now()
	today := now - now%dayS
	out := make([]ExpiryWeek, weeks)
	for i := range out {
		out[i].From, out[i].To = today+int64(i)*week, today+int64(i+1)*week
	}
	err := l.view(ctx, func(tx ReadTx) error {
		for i := range out {
			out[i].Renew, out[i].Lapse = 0, 0
		}
		if _, err := l.mayOrg(tx, q.Org, needRead); err != nil {
			return err
		}
		o, err := orgNamed(tx, q.Org)
		if err != nil {
			return err
		}
		// A code that ends at now has ended: the sweep decides it.
		f := DeviceFilter{OrgID: o.ID, DK: q.DK, ActivatedFrom: q.ActivatedFrom, ActivatedTo: q.ActivatedTo,
			ExpiresFrom: max(q.ExpiresFrom, now+1), ExpiresTo: out[weeks-1].To, Due: true}
		if q.ExpiresTo != 0 {
			f.ExpiresTo = min(f.ExpiresTo, q.ExpiresTo)
		}
		if q.Product != "" {
			p, err := fleetProductIn(tx, o, q.Product)
			if err != nil {
				return err
			}
			f.ProductID = p.ID
		}
		if f.ExpiresFrom >= f.ExpiresTo {
			return nil
		}
		views, err := deviceViews(tx, f, true)
		if err != nil {
			return err
		}
		for _, v := range views {
			w := &out[(v.Until-today)/week]
			if v.WillRenew {
				w.Renew++
			} else {
				w.Lapse++
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
