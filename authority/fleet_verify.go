package authority

import "github.com/airlock-dev/airlock/codes"

// verifyFleet checks the activation-code pools:
//
//   - every product: total = the codes bought for it + those allocated
//     to it, used = the codes its devices consumed, 0 ≤ used ≤ total;
//     every purchase and allocation to it of its spec;
//   - every organization and spec: unallocated = bought unallocated −
//     allocated ≥ 0;
//   - every device: its first code in its row, then consumptions
//     numbered 2 to its count, its window the last one's; each window
//     as long as its package's validity, a renewal's starting where the
//     code before ended, a reactivation's when it was recorded; held by
//     a gateway of its product's organization;
//   - every purchase and allocation recorded in the history by its hash.
func verifyFleet(tx ReadTx, hashes map[string]bool, rep *VerifyReport) error {
	ps, err := tx.FleetProducts(0)
	if err != nil {
		return err
	}
	byID := map[int64]*FleetProduct{}
	received := map[int64]int64{}
	for i := range ps {
		byID[ps[i].ID] = &ps[i]
	}
	type orgSpec struct{ org, spec int64 }
	unallocated := map[orgSpec]int64{}
	batches, err := tx.CodeBatches(0)
	if err != nil {
		return err
	}
	for _, b := range batches {
		if !hashes[string(batchHash(&b))] {
			return corrupt("purchase %d of %d codes is not recorded in the history", b.ID, b.Count)
		}
		if b.ProductID == 0 {
			unallocated[orgSpec{b.OrgID, b.SpecID}] += b.Count
			continue
		}
		p := byID[b.ProductID]
		if p == nil || p.SpecID != b.SpecID || p.OrgID != b.OrgID {
			return corrupt("purchase %d names product %d, which does not hold its spec %d", b.ID, b.ProductID, b.SpecID)
		}
		received[p.ID] += b.Count
	}
	allocs, err := tx.CodeAllocations(0)
	if err != nil {
		return err
	}
	for _, a := range allocs {
		if !hashes[string(codeAllocationHash(&a))] {
			return corrupt("code allocation %d is not recorded in the history", a.ID)
		}
		p := byID[a.ProductID]
		if p == nil || p.SpecID != a.SpecID || p.OrgID != a.OrgID {
			return corrupt("code allocation %d names product %d, which does not hold its spec %d", a.ID, a.ProductID, a.SpecID)
		}
		k := orgSpec{a.OrgID, a.SpecID}
		unallocated[k] -= a.Count
		if unallocated[k] < 0 {
			return corrupt("code allocation %d leaves %d unallocated codes of spec %d", a.ID, unallocated[k], a.SpecID)
		}
		received[p.ID] += a.Count
	}
	for _, p := range ps {
		if p.Total != received[p.ID] {
			return corrupt("product %s counts %d codes but received %d", p.PK, p.Total, received[p.ID])
		}
		if p.Used < 0 || p.Used > p.Total {
			return corrupt("product %s used %d of %d codes", p.PK, p.Used, p.Total)
		}
	}
	// Devices and their consumptions, both by device id: a merge.
	var devices []Device
	if err := tx.Devices(DeviceFilter{IncludeDeleted: true}, func(d *Device) error {
		devices = append(devices, *d)
		return nil
	}); err != nil {
		return err
	}
	specs := map[int64]Validity{}
	ss, err := tx.CodeSpecs(0)
	if err != nil {
		return err
	}
	for _, sp := range ss {
		specs[sp.ID] = sp.Validity
	}
	// validity returns the validity of a device's codes: its product's
	// package's.
	validity := func(d *Device) (Validity, error) {
		p := byID[d.ProductID]
		if p == nil || p.SpecID == 0 {
			return Validity{}, corrupt("device %s names product %d, which holds no codes", d.DK, d.ProductID)
		}
		return specs[p.SpecID], nil
	}
	gateways := map[int64]*Gateway{}
	used := map[int64]int64{}
	for i := range devices {
		d := &devices[i]
		v, err := validity(d)
		if err != nil {
			return err
		}
		if d.Consumed < 1 || d.FirstUntil != v.End(d.ActivatedAt) {
			return corrupt("device %s of product %d: its first code covers %s to %s, its package says until %s",
				d.DK, d.ProductID, FormatDay(d.ActivatedAt), FormatDay(d.FirstUntil), FormatDay(v.End(d.ActivatedAt)))
		}
		g, ok := gateways[d.GatewayID]
		if !ok {
			if g, err = tx.GatewayByID(d.GatewayID); err != nil {
				return err
			}
			gateways[d.GatewayID] = g
		}
		if g == nil || g.OrgID != byID[d.ProductID].OrgID {
			return corrupt("device %s of product %d is held by gateway %d of another organization", d.DK, d.ProductID, d.GatewayID)
		}
		used[d.ProductID]++ // its first code
	}
	i := 0
	last := Consumption{}
	if len(devices) > 0 {
		last = devices[0].First()
	}
	check := func() error {
		if i >= len(devices) {
			return nil
		}
		d := &devices[i]
		if last.DeviceID != d.ID || last.Seq != d.Consumed || last.From != d.From || last.Until != d.Until {
			return corrupt("device %s of product %d has window %d–%d after %d codes, its consumptions say %d codes ending with %d–%d",
				d.DK, d.ProductID, d.From, d.Until, d.Consumed, last.Seq, last.From, last.Until)
		}
		return nil
	}
	err = tx.Consumptions(0, func(c *Consumption) error {
		for i < len(devices) && devices[i].ID < c.DeviceID {
			if err := check(); err != nil {
				return err
			}
			i++
			if i < len(devices) {
				last = devices[i].First()
			}
		}
		if i >= len(devices) || devices[i].ID != c.DeviceID {
			return corrupt("a consumption names device %d, which does not exist", c.DeviceID)
		}
		d := &devices[i]
		if c.Seq != last.Seq+1 {
			return corrupt("consumption %d of device %s is out of order", c.Seq, d.DK)
		}
		v, err := validity(d)
		if err != nil {
			return err
		}
		from := c.At // a reactivation starts when it is recorded
		if c.Cause == CauseRenewal {
			from = last.Until // a renewal continues the code before
		}
		if c.From != from || c.Until != v.End(c.From) {
			return corrupt("consumption %d of device %s covers %s to %s, the ledger's rules say %s to %s",
				c.Seq, d.DK, codes.FormatTime(c.From), codes.FormatTime(c.Until), codes.FormatTime(from), codes.FormatTime(v.End(from)))
		}
		used[devices[i].ProductID]++
		last = *c
		return nil
	})
	if err != nil {
		return err
	}
	for i < len(devices) {
		if err := check(); err != nil {
			return err
		}
		i++
		if i < len(devices) {
			last = devices[i].First()
		}
	}
	for _, p := range ps {
		if used[p.ID] != p.Used {
			return corrupt("product %s counts %d codes used but its devices consumed %d", p.PK, p.Used, used[p.ID])
		}
	}
	rep.FleetProducts, rep.Devices = len(ps), len(devices)
	return nil
}
