package authority

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/codes"
)

// Activation-code pools. An organization buys activation codes in
// packages (a CodeSpec: a name and a validity); codes bought without a
// product land in its unallocated pool, codes bought for a product in
// that product. Allocating unallocated codes to a product is
// irreversible, and a product holds codes of one package only.
//
// Each device of a product consumes one code when it first activates:
// its code is valid from then for the package's validity. When the code
// ends, the device consumes a new one, valid from the end of the old, if
// auto-renew is on for its product and for the device, the device is not
// on the product's blocklist, and the product has codes left; otherwise
// it lapses. A deleted device gets nothing back; if it activates again
// while its code is valid it consumes nothing, and after that it
// consumes a new code, as a lapsed device does. Deleting a product
// returns nothing: its remaining codes are forfeited.
//
// Renewal happens at expiry in the ledger's time: every write that
// touches an organization's devices first renews (or lapses) the devices
// whose codes ended (renewDue), and RenewDue does it for every
// organization, for a daily run.
const (
	// NearExpiryDays is how far ahead a device counts as near expiry.
	NearExpiryDays = 30
	// MaxCodeCount caps one purchase or allocation.
	MaxCodeCount = 100_000_000
)

// A Validity is how long an activation code keeps a device active: whole
// years, months and days, added as calendar units (time.AddDate, UTC).
type Validity struct {
	Years, Months, Days int
}

var validityRE = regexp.MustCompile(`^(?:(\d{1,3})y)?(?:(\d{1,4})m)?(?:(\d{1,5})d)?$`)

// ParseValidity reads a validity such as "1y", "6m", "90d" or "1y6m".
func ParseValidity(s string) (Validity, error) {
	var v Validity
	m := validityRE.FindStringSubmatch(strings.ToLower(strings.TrimSpace(s)))
	if m == nil || s == "" {
		return v, fmt.Errorf("%w: validity %q: want years, months and days such as 1y, 6m, 90d or 1y6m", ErrInvalid, s)
	}
	for i, p := range []*int{&v.Years, &v.Months, &v.Days} {
		if m[i+1] != "" {
			*p, _ = strconv.Atoi(m[i+1])
		}
	}
	if v.Years+v.Months+v.Days == 0 {
		return v, fmt.Errorf("%w: validity %q is zero: a code must keep a device active for some time", ErrInvalid, s)
	}
	if v.Years > 10 || v.Months > 120 || v.Days > 3660 {
		return v, fmt.Errorf("%w: validity %q is longer than ten years", ErrInvalid, s)
	}
	return v, nil
}

// String returns the validity as ParseValidity reads it, e.g. "1y6m".
func (v Validity) String() string {
	var b strings.Builder
	for _, p := range []struct {
		n    int
		unit string
	}{{v.Years, "y"}, {v.Months, "m"}, {v.Days, "d"}} {
		if p.n != 0 {
			b.WriteString(strconv.Itoa(p.n) + p.unit)
		}
	}
	return b.String()
}

// End returns when a code consumed at from ends (exclusive).
func (v Validity) End(from int64) int64 {
	return time.Unix(from, 0).UTC().AddDate(v.Years, v.Months, v.Days).Unix()
}

// History actions of activation-code pools.
const (
	actionFleetProductAdd    = "fleet product add"
	actionFleetProductDelete = "fleet product delete"
	actionCodesBuy           = "codes buy"
	actionCodesAllocate      = "codes allocate"
	actionAutoRenew          = "auto-renew"
	actionBlocklist          = "blocklist"
	actionDeviceDelete       = "device delete"
	actionRenew              = "renew"
	actionActivate           = "activate"
	actionAlerts             = "alerts"
	actionGatewayRetire      = "gateway retire"
)

// fleetProduct finds a product by product key, or, within org, by name.
// org may be empty when ref is a product key.
func fleetProduct(tx ReadTx, org, ref string) (*FleetProduct, error) {
	p, err := tx.FleetProduct(ref)
	if err != nil {
		return nil, err
	}
	if p != nil {
		if org != "" && p.Org != org {
			return nil, fmt.Errorf("%w: product key %q belongs to another organization than %q", ErrNoFleetProduct, ref, org)
		}
		return p, nil
	}
	if org == "" {
		return nil, fmt.Errorf("%w: no product has product key %q (list them with: airlock authority pool product list --org ORG)", ErrNoFleetProduct, ref)
	}
	o, err := orgNamed(tx, org)
	if err != nil {
		return nil, err
	}
	if p, err := fleetProductNamed(tx, o, ref); p != nil || err != nil {
		return p, err
	}
	return nil, fmt.Errorf("%w: organization %q has no product with product key or name %q (list them with: airlock authority pool product list --org %s)", ErrNoFleetProduct, org, ref, org)
}

// fleetProductNamed returns o's product called name, deleted or not, or
// nil.
func fleetProductNamed(tx ReadTx, o *Org, name string) (*FleetProduct, error) {
	ps, err := tx.FleetProducts(o.ID)
	if err != nil {
		return nil, err
	}
	for i := range ps {
		if ps[i].Name == name {
			return &ps[i], nil
		}
	}
	return nil, nil
}

// liveFleetProduct is fleetProduct refusing a deleted product.
func liveFleetProduct(tx ReadTx, org, ref string) (*FleetProduct, error) {
	p, err := fleetProduct(tx, org, ref)
	if err == nil && p.Deleted() {
		err = fmt.Errorf("%w: product %s (%s) was deleted %s", ErrProductDeleted, p.PK, p.Name, codes.FormatTime(p.DeletedAt))
	}
	return p, err
}

func fleetEvent(l *Ledger, now int64, action string, p *FleetProduct) *Event {
	e := l.event(now, action, p.PK)
	e.Account = p.Org + "/" + p.Name
	return e
}

// AddFleetProduct adds a product with product key pk to an organization.
func (l *Ledger) AddFleetProduct(ctx context.Context, org, pk, name string, autoRenew bool) (*FleetProduct, error) {
	if err := codes.CheckDeviceKey("product key", pk); err != nil {
		return nil, badKey(err)
	}
	if err := checkLabel("product name", name); err != nil {
		return nil, err
	}
	var out *FleetProduct
	err := l.update(ctx, func(tx Tx, c *chain) error {
		if _, err := l.mayOrg(tx, org, needManage); err != nil {
			return err
		}
		o, err := orgNamed(tx, org)
		if err != nil {
			return err
		}
		if p, err := tx.FleetProduct(pk); err != nil {
			return err
		} else if p != nil {
			return fmt.Errorf("%w: product key %q is taken (by %s of %s)", ErrExists, pk, p.Name, p.Org)
		}
		ps, err := tx.FleetProducts(o.ID)
		if err != nil {
			return err
		}
		for _, p := range ps {
			if p.Name == name {
				return fmt.Errorf("%w: organization %q has a product named %q (product key %s)", ErrExists, org, name, p.PK)
			}
		}
		now := l.now()
		p := &FleetProduct{OrgID: o.ID, Org: o.Name, PK: pk, Name: name, AutoRenew: autoRenew, CreatedAt: now}
		if err := tx.InsertFleetProduct(p); err != nil {
			return err
		}
		e := fleetEvent(l, now, actionFleetProductAdd, p)
		e.Detail = fmt.Sprintf("product %s (%s) added to %s, auto-renew %s", pk, name, org, onOff(autoRenew))
		out = p
		return c.add(e)
	})
	return out, err
}

// badKey makes a refusal of codes.CheckDeviceKey one of this package,
// without saying "inconsistent code" of what is no code.
func badKey(err error) error {
	return fmt.Errorf("%w: %s", ErrInvalid, strings.TrimPrefix(err.Error(), codes.ErrInvalid.Error()+": "))
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// FleetProducts returns the fleet products of an organization by name.
func (l *Ledger) FleetProducts(ctx context.Context, org string) ([]FleetProduct, map[int64]CodeSpec, error) {
	var ps []FleetProduct
	specs := map[int64]CodeSpec{}
	err := l.view(ctx, func(tx ReadTx) error {
		if _, err := l.mayOrg(tx, org, needRead); err != nil {
			return err
		}
		o, err := orgNamed(tx, org)
		if err != nil {
			return err
		}
		if ps, err = tx.FleetProducts(o.ID); err != nil {
			return err
		}
		ss, err := tx.CodeSpecs(o.ID)
		for _, s := range ss {
			specs[s.ID] = s
		}
		return err
	})
	return ps, specs, err
}

// A Purchase says what BuyCodes did.
type Purchase struct {
	Batch   CodeBatch
	Spec    CodeSpec
	NewSpec bool
	Product *FleetProduct // nil for the unallocated pool
}

// BuyCodes records that an organization bought count activation codes of
// package pkg. validity defines a new package, and must match an
// existing one's when given (nil: the package must exist). With product
// set (a product key or name) the codes land in that product, otherwise
// in the organization's unallocated pool. The vendor's staff only: codes, as
// lots, come from the vendor.
func (l *Ledger) BuyCodes(ctx context.Context, org, pkg string, validity *Validity, count int64, product, reference string) (*Purchase, error) {
	if err := checkLabel("package name", pkg); err != nil {
		return nil, err
	}
	if count < 1 || count > MaxCodeCount {
		return nil, fmt.Errorf("%w: count %d is not from 1 to %d", ErrInvalid, count, int64(MaxCodeCount))
	}
	if len(reference) > 256 {
		return nil, fmt.Errorf("%w: the reference has %d characters, the limit is 256", ErrInvalid, len(reference))
	}
	var out *Purchase
	err := l.update(ctx, func(tx Tx, c *chain) error {
		if _, err := l.actingVendor(tx, "buy codes: a purchase comes from the vendor"); err != nil {
			return err
		}
		o, err := orgNamed(tx, org)
		if err != nil {
			return err
		}
		now := l.now()
		if err := l.renewDue(tx, c, o.ID, now); err != nil {
			return err
		}
		out = &Purchase{}
		spec, err := tx.CodeSpec(o.ID, pkg)
		if err != nil {
			return err
		}
		switch {
		case spec == nil && validity == nil:
			return fmt.Errorf("%w: organization %q has no package %q: give its validity (--validity 1y) to define it", ErrNoPackage, org, pkg)
		case spec == nil:
			spec = &CodeSpec{OrgID: o.ID, Name: pkg, Validity: *validity, CreatedAt: now}
			if err := tx.InsertCodeSpec(spec); err != nil {
				return err
			}
			out.NewSpec = true
		case validity != nil && *validity != spec.Validity:
			return fmt.Errorf("%w: package %q of %q has validity %s, not %s: name the new package differently", ErrSpecMismatch, pkg, org, spec.Validity, validity)
		}
		out.Spec = *spec
		b := CodeBatch{OrgID: o.ID, SpecID: spec.ID, Count: count, Reference: reference, At: now, Actor: l.opts.Actor}
		subject, account := org, org+"/unallocated"
		if product != "" {
			p, err := liveFleetProduct(tx, org, product)
			if err != nil {
				return err
			}
			if err := takeSpec(tx, p, spec); err != nil {
				return err
			}
			if err := tx.AddProductCodes(p.ID, count); err != nil {
				return err
			}
			p.Total += count
			b.ProductID, out.Product = p.ID, p
			subject, account = p.PK, p.Org+"/"+p.Name
		}
		if err := tx.InsertCodeBatch(&b); err != nil {
			return err
		}
		out.Batch = b
		e := l.event(now, actionCodesBuy, subject)
		e.Account = account
		e.CodeHash = batchHash(&b)
		e.Detail = fmt.Sprintf("%d activation codes of package %q (%s) bought for %s", count, pkg, spec.Validity, account)
		if reference != "" {
			e.Detail += ", reference " + reference
		}
		return c.add(e)
	})
	return out, err
}

// takeSpec makes a product hold codes of spec: it takes spec when it
// holds none yet, and refuses another.
func takeSpec(tx Tx, p *FleetProduct, spec *CodeSpec) error {
	if p.SpecID == spec.ID {
		return nil
	}
	if p.SpecID != 0 {
		held, err := specByID(tx, p.OrgID, p.SpecID)
		if err != nil {
			return err
		}
		return fmt.Errorf("%w: product %s (%s) holds codes of package %q (%s); codes of package %q (%s) cannot join them: a product holds codes of one package only",
			ErrSpecMismatch, p.PK, p.Name, held.Name, held.Validity, spec.Name, spec.Validity)
	}
	p.SpecID = spec.ID
	return tx.UpdateFleetProduct(p)
}

func specByID(tx ReadTx, orgID, id int64) (*CodeSpec, error) {
	ss, err := tx.CodeSpecs(orgID)
	if err != nil {
		return nil, err
	}
	for i := range ss {
		if ss[i].ID == id {
			return &ss[i], nil
		}
	}
	return nil, fmt.Errorf("%w: code spec %d is missing", ErrCorrupt, id)
}

// A CodesAllocated says what AllocateCodes did, or would do.
type CodesAllocated struct {
	Allocation CodeAllocation
	Product    FleetProduct // after the allocation
	Spec       CodeSpec
	Available  int64 // unallocated codes of the spec before it: the most allocatable
}

// AllocateCodes moves count unallocated codes to a product, for good.
// pkg names the package; empty means the product's, or the only package
// with unallocated codes. With dry set it changes nothing and returns
// what it would do, refusals included.
func (l *Ledger) AllocateCodes(ctx context.Context, org, product, pkg string, count int64, dry bool) (*CodesAllocated, error) {
	if count < 1 || count > MaxCodeCount {
		return nil, fmt.Errorf("%w: count %d is not from 1 to %d", ErrInvalid, count, int64(MaxCodeCount))
	}
	var out *CodesAllocated
	err := l.updateOrCheck(ctx, dry, func(tx Tx, c *chain) error {
		p, err := liveFleetProduct(tx, org, product)
		if err != nil {
			return err
		}
		if _, _, err := l.authorize(tx, p.Org, needManage); err != nil {
			return err
		}
		if err := l.renewDue(tx, c, p.OrgID, l.now()); err != nil {
			return err
		}
		if p, err = tx.FleetProductByID(p.ID); err != nil {
			return err
		}
		pools, err := poolCounts(tx, p.OrgID)
		if err != nil {
			return err
		}
		spec, err := allocationSpec(tx, p, pkg, pools)
		if err != nil {
			return err
		}
		have := pools.Unallocated[spec.ID]
		if have < count {
			return fmt.Errorf("%w: organization %q has %d unallocated codes of package %q (%s), the allocation needs %d: allocate at most %d, or buy %d more",
				ErrNoCodes, p.Org, have, spec.Name, spec.Validity, count, have, count-have)
		}
		if err := takeSpec(tx, p, spec); err != nil {
			return err
		}
		now := l.now()
		a := CodeAllocation{OrgID: p.OrgID, SpecID: spec.ID, ProductID: p.ID, Count: count, At: now, Actor: l.opts.Actor}
		if err := tx.AddProductCodes(p.ID, count); err != nil {
			return err
		}
		if err := tx.InsertCodeAllocation(&a); err != nil {
			return err
		}
		p.Total += count
		out = &CodesAllocated{Allocation: a, Product: *p, Spec: *spec, Available: have}
		e := fleetEvent(l, now, actionCodesAllocate, p)
		e.CodeHash = codeAllocationHash(&a)
		e.Detail = fmt.Sprintf("%d unallocated codes of package %q (%s) allocated to product %s (%s), irreversibly; %d unallocated left", count, spec.Name, spec.Validity, p.PK, p.Name, have-count)
		return c.add(e)
	})
	return out, err
}

// allocationSpec picks the spec of an allocation to p.
func allocationSpec(tx ReadTx, p *FleetProduct, pkg string, pools *PoolCounts) (*CodeSpec, error) {
	if pkg != "" {
		spec, err := tx.CodeSpec(p.OrgID, pkg)
		if err != nil {
			return nil, err
		}
		if spec == nil {
			return nil, fmt.Errorf("%w: organization %q has no package %q", ErrNoPackage, p.Org, pkg)
		}
		if p.SpecID != 0 && p.SpecID != spec.ID {
			held := pools.Specs[p.SpecID]
			return nil, fmt.Errorf("%w: product %s (%s) holds codes of package %q (%s); allocating package %q (%s) is refused: a product holds codes of one package only (up to %d of %q can be allocated to it)",
				ErrSpecMismatch, p.PK, p.Name, held.Name, held.Validity, spec.Name, spec.Validity, pools.Unallocated[held.ID], held.Name)
		}
		return spec, nil
	}
	if p.SpecID != 0 {
		s := pools.Specs[p.SpecID]
		return &s, nil
	}
	var found []CodeSpec
	for _, s := range pools.SpecList {
		if pools.Unallocated[s.ID] > 0 {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("%w: organization %q has no unallocated codes: buy some first (airlock authority pool buy)", ErrNoCodes, p.Org)
	case 1:
		return &found[0], nil
	}
	names := make([]string, len(found))
	for i, s := range found {
		names[i] = fmt.Sprintf("%q (%s, %d unallocated)", s.Name, s.Validity, pools.Unallocated[s.ID])
	}
	return nil, fmt.Errorf("%w: product %s holds no codes yet and %s have unallocated codes: name the package (--package)", ErrInvalid, p.PK, strings.Join(names, " and "))
}

// PoolCounts are an organization's activation codes. Total = Used +
// Remaining + Forfeited, and Remaining = Unallocated + the products'
// remaining codes; each product's Total = Used + Remaining.
type PoolCounts struct {
	Org         Org
	Specs       map[int64]CodeSpec
	SpecList    []CodeSpec // by name
	Products    []FleetProduct
	Unallocated map[int64]int64 // by spec id
	Total       int64
	Used        int64
	Remaining   int64 // unallocated and in live products
	Forfeited   int64 // left in deleted products
}

// UnallocatedTotal returns the unallocated codes of every spec.
func (p *PoolCounts) UnallocatedTotal() int64 {
	var n int64
	for _, v := range p.Unallocated {
		n += v
	}
	return n
}

func poolCounts(tx ReadTx, orgID int64) (*PoolCounts, error) {
	pc := &PoolCounts{Specs: map[int64]CodeSpec{}, Unallocated: map[int64]int64{}}
	var err error
	if pc.SpecList, err = tx.CodeSpecs(orgID); err != nil {
		return nil, err
	}
	for _, s := range pc.SpecList {
		pc.Specs[s.ID] = s
		pc.Unallocated[s.ID] = 0
	}
	batches, err := tx.CodeBatches(orgID)
	if err != nil {
		return nil, err
	}
	for _, b := range batches {
		pc.Total += b.Count
		if b.ProductID == 0 {
			pc.Unallocated[b.SpecID] += b.Count
		}
	}
	allocs, err := tx.CodeAllocations(orgID)
	if err != nil {
		return nil, err
	}
	for _, a := range allocs {
		pc.Unallocated[a.SpecID] -= a.Count
	}
	if pc.Products, err = tx.FleetProducts(orgID); err != nil {
		return nil, err
	}
	pc.Remaining = pc.UnallocatedTotal()
	for _, p := range pc.Products {
		pc.Used += p.Used
		if p.Deleted() {
			pc.Forfeited += p.Remaining()
		} else {
			pc.Remaining += p.Remaining()
		}
	}
	return pc, nil
}

// Pools returns the activation-code counts of an organization.
func (l *Ledger) Pools(ctx context.Context, org string) (*PoolCounts, error) {
	var out *PoolCounts
	err := l.view(ctx, func(tx ReadTx) error {
		if _, err := l.mayOrg(tx, org, needRead); err != nil {
			return err
		}
		o, err := orgNamed(tx, org)
		if err != nil {
			return err
		}
		if out, err = poolCounts(tx, o.ID); err == nil {
			out.Org = *o
		}
		return err
	})
	return out, err
}

// CodeAllocations returns the allocations of an organization, or of one
// of its products, in the order they were made, with the products and
// specs they name.
func (l *Ledger) CodeAllocations(ctx context.Context, org, product string) ([]CodeAllocation, *PoolCounts, error) {
	var out []CodeAllocation
	var pc *PoolCounts
	err := l.view(ctx, func(tx ReadTx) error {
		if _, err := l.mayOrg(tx, org, needRead); err != nil {
			return err
		}
		o, err := orgNamed(tx, org)
		if err != nil {
			return err
		}
		var only int64
		if product != "" {
			p, err := fleetProduct(tx, org, product)
			if err != nil {
				return err
			}
			only = p.ID
		}
		all, err := tx.CodeAllocations(o.ID)
		if err != nil {
			return err
		}
		for _, a := range all {
			if only == 0 || a.ProductID == only {
				out = append(out, a)
			}
		}
		pc, err = poolCounts(tx, o.ID)
		return err
	})
	return out, pc, err
}

// DeleteFleetProduct deletes a product: its devices stop renewing and
// activating, and its remaining codes are forfeited. With dry set it
// changes nothing and returns the product as it is.
func (l *Ledger) DeleteFleetProduct(ctx context.Context, org, product string, dry bool) (*FleetProduct, error) {
	var out *FleetProduct
	err := l.updateOrCheck(ctx, dry, func(tx Tx, c *chain) error {
		if _, err := l.mayOrg(tx, org, needManage); err != nil {
			return err
		}
		p, err := liveFleetProduct(tx, org, product)
		if err != nil {
			return err
		}
		now := l.now()
		if err := l.renewDue(tx, c, p.OrgID, now); err != nil {
			return err
		}
		if p, err = tx.FleetProductByID(p.ID); err != nil {
			return err
		}
		out = p
		if dry {
			return nil
		}
		p.DeletedAt = now
		if err := tx.UpdateFleetProduct(p); err != nil {
			return err
		}
		e := fleetEvent(l, now, actionFleetProductDelete, p)
		e.Detail = fmt.Sprintf("product %s (%s) deleted; %d remaining codes forfeited, %d used", p.PK, p.Name, p.Remaining(), p.Used)
		return c.add(e)
	})
	return out, err
}

// SetProductAutoRenew turns a product's auto-renew on or off. It reports
// whether that changed anything.
func (l *Ledger) SetProductAutoRenew(ctx context.Context, org, product string, on bool) (*FleetProduct, bool, error) {
	var out *FleetProduct
	var did bool
	err := l.update(ctx, func(tx Tx, c *chain) error {
		if _, err := l.mayOrg(tx, org, needManage); err != nil {
			return err
		}
		p, err := liveFleetProduct(tx, org, product)
		if err != nil {
			return err
		}
		out = p
		if p.AutoRenew == on {
			return nil
		}
		now := l.now()
		if err := l.renewDue(tx, c, p.OrgID, now); err != nil {
			return err
		}
		p.AutoRenew, did = on, true
		if err := tx.UpdateFleetProduct(p); err != nil {
			return err
		}
		e := fleetEvent(l, now, actionAutoRenew, p)
		e.Detail = fmt.Sprintf("auto-renew of product %s (%s) turned %s", p.PK, p.Name, onOff(on))
		return c.add(e)
	})
	return out, did, err
}

// device finds a device of a product by device key, deleted or not.
func device(tx ReadTx, p *FleetProduct, dk string) (*Device, error) {
	var out *Device
	err := tx.Devices(DeviceFilter{ProductID: p.ID, DK: dk, IncludeDeleted: true}, func(d *Device) error {
		c := *d
		out = &c
		return nil
	})
	if err == nil && out == nil {
		err = fmt.Errorf("%w: product %s (%s) has no device %q", ErrNoDevice, p.PK, p.Name, dk)
	}
	return out, err
}

// SetDeviceAutoRenew turns one device's auto-renew on or off; the
// product's auto-renew must be on.
func (l *Ledger) SetDeviceAutoRenew(ctx context.Context, org, product, dk string, on bool) (*Device, bool, error) {
	var out *Device
	var did bool
	err := l.update(ctx, func(tx Tx, c *chain) error {
		if _, err := l.mayOrg(tx, org, needManage); err != nil {
			return err
		}
		p, err := liveFleetProduct(tx, org, product)
		if err != nil {
			return err
		}
		if !p.AutoRenew {
			return fmt.Errorf("%w: auto-renew of product %s (%s) is off, so its devices' switches do nothing: turn it on first (airlock authority pool auto-renew --product %s on)", ErrAutoRenewOff, p.PK, p.Name, p.PK)
		}
		now := l.now()
		if err := l.renewDue(tx, c, p.OrgID, now); err != nil {
			return err
		}
		d, err := device(tx, p, dk)
		if err != nil {
			return err
		}
		if d.DeletedAt != 0 {
			return fmt.Errorf("%w: device %s of product %s was deleted %s", ErrClosed, dk, p.PK, codes.FormatTime(d.DeletedAt))
		}
		out = d
		if d.AutoRenew == on {
			return nil
		}
		d.AutoRenew, did = on, true
		if err := tx.UpdateDevices([]Device{*d}); err != nil {
			return err
		}
		e := fleetEvent(l, now, actionAutoRenew, p)
		e.Detail = fmt.Sprintf("auto-renew of device %s of product %s turned %s", dk, p.PK, onOff(on))
		return c.add(e)
	})
	return out, did, err
}

// SetBlocked puts device keys on a product's auto-renew blocklist, or
// takes them off. It returns how many changed.
func (l *Ledger) SetBlocked(ctx context.Context, org, product string, dks []string, blocked bool) (int, error) {
	for _, dk := range dks {
		if err := codes.CheckDeviceKey("device key", dk); err != nil {
			return 0, badKey(err)
		}
	}
	n := 0
	err := l.update(ctx, func(tx Tx, c *chain) error {
		if _, err := l.mayOrg(tx, org, needManage); err != nil {
			return err
		}
		p, err := liveFleetProduct(tx, org, product)
		if err != nil {
			return err
		}
		now := l.now()
		if err := l.renewDue(tx, c, p.OrgID, now); err != nil {
			return err
		}
		var changed []string
		for _, dk := range dks {
			did, err := tx.SetBlocked(p.ID, dk, blocked, now)
			if err != nil {
				return err
			}
			if did {
				changed = append(changed, dk)
			}
		}
		n = len(changed)
		if n == 0 {
			return nil
		}
		e := fleetEvent(l, now, actionBlocklist, p)
		verb := "added to"
		if !blocked {
			verb = "removed from"
		}
		e.Detail = fmt.Sprintf("%d devices %s the auto-renew blocklist of product %s: %s", n, verb, p.PK, clipList(changed, 20))
		return c.add(e)
	})
	return n, err
}

func clipList(s []string, n int) string {
	if len(s) <= n {
		return strings.Join(s, " ")
	}
	return strings.Join(s[:n], " ") + fmt.Sprintf(" and %d more", len(s)-n)
}

// Blocklist returns a product's auto-renew blocklist.
func (l *Ledger) Blocklist(ctx context.Context, org, product string) (*FleetProduct, []string, error) {
	var p *FleetProduct
	var out []string
	err := l.view(ctx, func(tx ReadTx) error {
		if _, err := l.mayOrg(tx, org, needRead); err != nil {
			return err
		}
		var err error
		if p, err = fleetProduct(tx, org, product); err != nil {
			return err
		}
		out, err = tx.Blocklist(p.ID)
		return err
	})
	return p, out, err
}

// DeleteDevice deletes a device: it stops renewing, and gets nothing
// back.
func (l *Ledger) DeleteDevice(ctx context.Context, org, product, dk string) (*Device, error) {
	var out *Device
	err := l.update(ctx, func(tx Tx, c *chain) error {
		if _, err := l.mayOrg(tx, org, needManage); err != nil {
			return err
		}
		p, err := fleetProduct(tx, org, product)
		if err != nil {
			return err
		}
		now := l.now()
		if err := l.renewDue(tx, c, p.OrgID, now); err != nil {
			return err
		}
		d, err := device(tx, p, dk)
		if err != nil {
			return err
		}
		if d.DeletedAt != 0 {
			return fmt.Errorf("%w: device %s of product %s was deleted %s", ErrClosed, dk, p.PK, codes.FormatTime(d.DeletedAt))
		}
		d.DeletedAt = now
		if err := tx.UpdateDevices([]Device{*d}); err != nil {
			return err
		}
		out = d
		e := fleetEvent(l, now, actionDeviceDelete, p)
		e.Detail = fmt.Sprintf("device %s of product %s deleted; its code was valid until %s and is not returned", dk, p.PK, codes.FormatTime(d.Until))
		return c.add(e)
	})
	return out, err
}

// A DeviceQuery selects devices for an operator: by organization
// (required), product (key or name), device key, activation and expiry
// ranges (inclusive from, exclusive to; zero for open).
type DeviceQuery struct {
	Org                        string
	Product                    string
	DK                         string
	ActivatedFrom, ActivatedTo int64
	ExpiresFrom, ExpiresTo     int64
	NearExpiry                 bool // codes ending within NearExpiryDays, not ended
	IncludeDeleted             bool
	Limit                      int
}

// A DeviceView is a device with its product and what renewal would do.
type DeviceView struct {
	Device
	Product   *FleetProduct
	Blocked   bool
	WillRenew bool // its code will renew at expiry, codes permitting
}

// State names where the device is at now: active, expired (renewal due),
// lapsed or deleted.
func (v *DeviceView) State(now int64) string {
	switch {
	case v.DeletedAt != 0:
		return "deleted"
	case v.Lapsed:
		return "lapsed"
	case now >= v.Until:
		return "renewal due"
	}
	return "active"
}

// Devices lists the devices a query selects, by id.
func (l *Ledger) Devices(ctx context.Context, q DeviceQuery) ([]DeviceView, error) {
	var out []DeviceView
	err := l.view(ctx, func(tx ReadTx) error {
		if _, err := l.mayOrg(tx, q.Org, needRead); err != nil {
			return err
		}
		o, err := orgNamed(tx, q.Org)
		if err != nil {
			return err
		}
		f := DeviceFilter{OrgID: o.ID, DK: q.DK, ActivatedFrom: q.ActivatedFrom, ActivatedTo: q.ActivatedTo,
			ExpiresFrom: q.ExpiresFrom, ExpiresTo: q.ExpiresTo, IncludeDeleted: q.IncludeDeleted, Limit: q.Limit}
		if q.Product != "" {
			p, err := fleetProduct(tx, q.Org, q.Product)
			if err != nil {
				return err
			}
			f.ProductID = p.ID
		}
		now := l.now()
		if q.NearExpiry {
			f.Due = true
			f.ExpiresFrom = max(f.ExpiresFrom, now+1)
			end := now + NearExpiryDays*dayS + 1
			if f.ExpiresTo == 0 || f.ExpiresTo > end {
				f.ExpiresTo = end
			}
		}
		out, err = deviceViews(tx, f, q.NearExpiry)
		return err
	})
	return out, err
}

// deviceViews returns the devices f selects with their products; with
// live set, only those of products not deleted. The rows are read whole
// before the products are looked up: a store may serve one query at a
// time.
func deviceViews(tx ReadTx, f DeviceFilter, live bool) ([]DeviceView, error) {
	var ds []Device
	if err := tx.Devices(f, func(d *Device) error {
		ds = append(ds, *d)
		return nil
	}); err != nil {
		return nil, err
	}
	products := map[int64]*FleetProduct{}
	blocked := map[int64]map[string]bool{}
	out := make([]DeviceView, 0, len(ds))
	for _, d := range ds {
		p := products[d.ProductID]
		if p == nil {
			var err error
			if p, err = tx.FleetProductByID(d.ProductID); err != nil {
				return nil, err
			}
			products[d.ProductID] = p
			bl, err := tx.Blocklist(p.ID)
			if err != nil {
				return nil, err
			}
			blocked[p.ID] = map[string]bool{}
			for _, dk := range bl {
				blocked[p.ID][dk] = true
			}
		}
		if live && p.Deleted() {
			continue
		}
		v := DeviceView{Device: d, Product: p, Blocked: blocked[p.ID][d.DK]}
		v.WillRenew = renews(p, &v.Device, v.Blocked)
		out = append(out, v)
	}
	return out, nil
}

// renews reports whether d's code renews at expiry, codes permitting.
func renews(p *FleetProduct, d *Device, blocked bool) bool {
	return !p.Deleted() && p.AutoRenew && d.AutoRenew && !blocked && d.DeletedAt == 0 && !d.Lapsed
}

// DeviceHistory returns the devices with key dk (in one product, in
// every product of the organization, or, with org empty, of every
// organization: the vendor only) with the codes each consumed, its first
// activation first.
func (l *Ledger) DeviceHistory(ctx context.Context, org, product, dk string) ([]DeviceView, [][]Consumption, error) {
	var views []DeviceView
	var hist [][]Consumption
	err := l.view(ctx, func(tx ReadTx) error {
		f := DeviceFilter{DK: dk, IncludeDeleted: true}
		where := "any organization"
		if org != "" {
			if _, err := l.mayOrg(tx, org, needRead); err != nil {
				return err
			}
			o, err := orgNamed(tx, org)
			if err != nil {
				return err
			}
			f.OrgID, where = o.ID, "organization "+strconv.Quote(org)
		} else if a, err := l.actingAs(tx); err != nil {
			return err
		} else if err := a.vendorOnly("look up a device in every organization"); err != nil {
			return err
		}
		if product != "" {
			p, err := fleetProduct(tx, org, product)
			if err != nil {
				return err
			}
			f.ProductID, where = p.ID, "product "+p.PK
		}
		var err error
		if views, err = deviceViews(tx, f, false); err != nil {
			return err
		}
		if len(views) == 0 {
			return fmt.Errorf("%w: %s has no device %q", ErrNoDevice, where, dk)
		}
		hist = make([][]Consumption, len(views))
		for i, v := range views {
			hist[i] = append(hist[i], v.First())
			if err := tx.Consumptions(v.ID, func(c *Consumption) error {
				hist[i] = append(hist[i], *c)
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return views, hist, nil
}

// Renewed says what a renewal sweep did.
type Renewed struct {
	Renewed int // codes consumed by renewals
	Lapsed  int // devices that lapsed
}

// RenewDue renews, or lapses, every device whose code has ended, in
// every organization.
func (l *Ledger) RenewDue(ctx context.Context) (*Renewed, error) {
	var out Renewed
	err := l.update(ctx, func(tx Tx, c *chain) error {
		if _, err := l.actingVendor(tx, "renew the codes of every organization's devices"); err != nil {
			return err
		}
		r, err := l.sweep(tx, c, 0, l.now())
		out = r
		return err
	})
	return &out, err
}

func (l *Ledger) renewDue(tx Tx, c *chain, orgID, now int64) error {
	_, err := l.sweep(tx, c, orgID, now)
	return err
}

// sweep renews or lapses the devices of an organization (0: all) whose
// codes ended at now, in the order they ended: each renewal consumes a
// code valid from the end of the last, until one covers now.
func (l *Ledger) sweep(tx Tx, c *chain, orgID, now int64) (Renewed, error) {
	var out Renewed
	var due []Device
	// By the end of their codes only, which the partial index serves
	// (joined with the products, the query would scan the organization's
	// devices); the organization is filtered here.
	if err := tx.Devices(DeviceFilter{Due: true, ExpiresTo: now + 1}, func(d *Device) error {
		due = append(due, *d)
		return nil
	}); err != nil || len(due) == 0 {
		return out, err
	}
	if orgID != 0 {
		org := map[int64]int64{}
		kept := due[:0]
		for _, d := range due {
			o, ok := org[d.ProductID]
			if !ok {
				p, err := tx.FleetProductByID(d.ProductID)
				if err != nil {
					return out, err
				}
				o, org[d.ProductID] = p.OrgID, p.OrgID
			}
			if o == orgID {
				kept = append(kept, d)
			}
		}
		if due = kept; len(due) == 0 {
			return out, nil
		}
	}
	sortDevicesByEnd(due)
	type state struct {
		p       *FleetProduct
		spec    *CodeSpec
		blocked map[string]bool
		renewed int64
		lapsed  int
	}
	products := map[int64]*state{}
	var order []*state
	var cons []Consumption
	for i := range due {
		d := &due[i]
		s := products[d.ProductID]
		if s == nil {
			p, err := tx.FleetProductByID(d.ProductID)
			if err != nil {
				return out, err
			}
			s = &state{p: p, blocked: map[string]bool{}}
			if p.SpecID != 0 {
				if s.spec, err = specByID(tx, p.OrgID, p.SpecID); err != nil {
					return out, err
				}
			}
			bl, err := tx.Blocklist(p.ID)
			if err != nil {
				return out, err
			}
			for _, dk := range bl {
				s.blocked[dk] = true
			}
			products[d.ProductID] = s
			order = append(order, s)
		}
		for d.Until <= now {
			if !renews(s.p, d, s.blocked[d.DK]) || s.spec == nil || s.p.Remaining()-s.renewed < 1 {
				d.Lapsed = true
				s.lapsed++
				break
			}
			d.Consumed++
			d.From, d.Until = d.Until, s.spec.Validity.End(d.Until)
			cons = append(cons, Consumption{DeviceID: d.ID, Seq: d.Consumed, At: now, From: d.From, Until: d.Until, Cause: CauseRenewal})
			s.renewed++
		}
	}
	if err := tx.UpdateDevices(due); err != nil {
		return out, err
	}
	if err := tx.InsertConsumptions(cons); err != nil {
		return out, err
	}
	for _, s := range order {
		if s.renewed > 0 {
			if err := tx.UseProductCodes(s.p.ID, s.renewed); err != nil {
				return out, err
			}
			s.p.Used += s.renewed
		}
		out.Renewed += int(s.renewed)
		out.Lapsed += s.lapsed
		e := fleetEvent(l, now, actionRenew, s.p)
		e.Detail = fmt.Sprintf("codes of product %s ended: %d renewed, %d devices lapsed; %d codes left", s.p.PK, s.renewed, s.lapsed, s.p.Remaining())
		if s.p.Deleted() {
			e.Detail = fmt.Sprintf("codes of devices of the deleted product %s ended: %d devices lapsed", s.p.PK, s.lapsed)
		}
		if err := c.add(e); err != nil {
			return out, err
		}
	}
	return out, nil
}

func sortDevicesByEnd(ds []Device) {
	slices.SortFunc(ds, func(a, b Device) int {
		return cmp.Or(cmp.Compare(a.Until, b.Until), cmp.Compare(a.ID, b.ID))
	})
}

// batchHash and codeAllocationHash fix a purchase and an allocation in
// the history chain, as allocationHash does for subscriptions.
func batchHash(b *CodeBatch) []byte {
	buf := []byte("airlock/v1/code-batch\n")
	for _, v := range []int64{b.ID, b.OrgID, b.SpecID, b.ProductID, b.Count, b.At} {
		buf = binary.BigEndian.AppendUint64(buf, uint64(v))
	}
	buf = append(buf, b.Reference...)
	h := sha256.Sum256(buf)
	return h[:]
}

func codeAllocationHash(a *CodeAllocation) []byte {
	buf := []byte("airlock/v1/code-allocation\n")
	for _, v := range []int64{a.ID, a.OrgID, a.SpecID, a.ProductID, a.Count, a.At} {
		buf = binary.BigEndian.AppendUint64(buf, uint64(v))
	}
	h := sha256.Sum256(buf)
	return h[:]
}
