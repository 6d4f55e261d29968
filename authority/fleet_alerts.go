package authority

import (
	"context"
	"fmt"
)

// Alerts. An organization names the addresses that receive resource
// alerts, and optionally a threshold: the CLI computes the alerts
// (Alerts) and sends them, then records that it did (RecordAlerts).

// MaxAlertRecipients caps an organization's alert addresses.
const MaxAlertRecipients = 100

// An Alert is a resource problem of one product.
type Alert struct {
	Org     string
	Product FleetProduct
	Kind    string // AlertRunOut or AlertLow
	Due     int64  // devices whose codes renew within NearExpiryDays (AlertRunOut)
	Below   int64  // the threshold (AlertLow)
	Message string
}

// Alert kinds.
const (
	// AlertRunOut: the product has fewer codes left than its devices
	// need to renew within NearExpiryDays.
	AlertRunOut = "run-out"
	// AlertLow: the product has fewer codes left than the organization's
	// threshold.
	AlertLow = "low"
)

// SetAlertRecipient adds or removes an alert address of an organization
// (the caller validates its form). It reports whether that changed
// anything.
func (l *Ledger) SetAlertRecipient(ctx context.Context, org, address string, add bool) (bool, error) {
	if err := checkLabel("e-mail address", address); err != nil {
		return false, err
	}
	var did bool
	err := l.update(ctx, func(tx Tx, c *chain) error {
		if _, err := l.mayOrg(tx, org, needManage); err != nil {
			return err
		}
		o, err := orgNamed(tx, org)
		if err != nil {
			return err
		}
		if add {
			have, err := tx.AlertRecipients(o.ID)
			if err != nil {
				return err
			}
			if len(have) >= MaxAlertRecipients {
				return fmt.Errorf("%w: organization %q has %d alert recipients, the limit: remove one first", ErrInvalid, org, len(have))
			}
		}
		now := l.now()
		if did, err = tx.SetAlertRecipient(o.ID, address, add, now); err != nil || !did {
			return err
		}
		e := l.event(now, actionAlerts, org)
		e.Account = org
		if add {
			e.Detail = fmt.Sprintf("alert recipient %s added to %s", address, org)
		} else {
			e.Detail = fmt.Sprintf("alert recipient %s removed from %s", address, org)
		}
		return c.add(e)
	})
	return did, err
}

// AlertRecipients returns an organization's alert addresses and its
// threshold (-1 for none).
func (l *Ledger) AlertRecipients(ctx context.Context, org string) ([]string, int64, error) {
	var out []string
	below := int64(-1)
	err := l.view(ctx, func(tx ReadTx) error {
		if _, err := l.mayOrg(tx, org, needRead); err != nil {
			return err
		}
		o, err := orgNamed(tx, org)
		if err != nil {
			return err
		}
		if out, err = tx.AlertRecipients(o.ID); err != nil {
			return err
		}
		t, ok, err := tx.AlertThreshold(o.ID)
		if ok {
			below = t
		}
		return err
	})
	return out, below, err
}

// SetAlertThreshold sets the remaining codes under which a product
// raises an AlertLow; negative clears it.
func (l *Ledger) SetAlertThreshold(ctx context.Context, org string, below int64) error {
	if below > MaxCodeCount {
		return fmt.Errorf("%w: threshold %d is over %d", ErrInvalid, below, int64(MaxCodeCount))
	}
	return l.update(ctx, func(tx Tx, c *chain) error {
		if _, err := l.mayOrg(tx, org, needManage); err != nil {
			return err
		}
		o, err := orgNamed(tx, org)
		if err != nil {
			return err
		}
		if err := tx.SetAlertThreshold(o.ID, below); err != nil {
			return err
		}
		now := l.now()
		e := l.event(now, actionAlerts, org)
		e.Account = org
		e.Detail = fmt.Sprintf("alert threshold of %s set to %d codes", org, below)
		if below < 0 {
			e.Detail = fmt.Sprintf("alert threshold of %s cleared", org)
		}
		return c.add(e)
	})
}

// OrgAlerts is the alerts of one organization with its recipients.
type OrgAlerts struct {
	Org        string
	Recipients []string
	Alerts     []Alert
}

// Alerts computes the alerts of one organization, or of every one that
// has fleet products when org is empty.
func (l *Ledger) Alerts(ctx context.Context, org string) ([]OrgAlerts, error) {
	var out []OrgAlerts
	err := l.view(ctx, func(tx ReadTx) error {
		var orgs []Org
		if org != "" {
			if _, err := l.mayOrg(tx, org, needRead); err != nil {
				return err
			}
			o, err := orgNamed(tx, org)
			if err != nil {
				return err
			}
			orgs = append(orgs, *o)
		} else {
			if _, err := l.actingVendor(tx, "compute every organization's alerts"); err != nil {
				return err
			}
			ps, err := tx.FleetProducts(0)
			if err != nil {
				return err
			}
			seen := map[int64]bool{}
			for _, p := range ps {
				if !seen[p.OrgID] {
					seen[p.OrgID] = true
					orgs = append(orgs, Org{ID: p.OrgID, Name: p.Org})
				}
			}
		}
		now := l.now()
		for _, o := range orgs {
			oa, err := orgAlerts(tx, o, now)
			if err != nil {
				return err
			}
			out = append(out, *oa)
		}
		return nil
	})
	return out, err
}

func orgAlerts(tx ReadTx, o Org, now int64) (*OrgAlerts, error) {
	oa := &OrgAlerts{Org: o.Name}
	var err error
	if oa.Recipients, err = tx.AlertRecipients(o.ID); err != nil {
		return nil, err
	}
	below, haveThreshold, err := tx.AlertThreshold(o.ID)
	if err != nil {
		return nil, err
	}
	ps, err := tx.FleetProducts(o.ID)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		if p.Deleted() {
			continue
		}
		if p.AutoRenew {
			due, err := dueSoon(tx, &p, now)
			if err != nil {
				return nil, err
			}
			if due > p.Remaining() {
				oa.Alerts = append(oa.Alerts, Alert{Org: o.Name, Product: p, Kind: AlertRunOut, Due: due,
					Message: fmt.Sprintf("product %s (%s) will run out of activation codes: %d devices renew within %d days and %d codes are left: allocate at least %d more",
						p.PK, p.Name, due, NearExpiryDays, p.Remaining(), due-p.Remaining())})
			}
		}
		if haveThreshold && p.Remaining() < below {
			oa.Alerts = append(oa.Alerts, Alert{Org: o.Name, Product: p, Kind: AlertLow, Below: below,
				Message: fmt.Sprintf("product %s (%s) has %d activation codes left, below the threshold of %d", p.PK, p.Name, p.Remaining(), below)})
		}
	}
	return oa, nil
}

// dueSoon counts the devices of p whose codes end within NearExpiryDays
// (or have ended, awaiting the sweep) and will renew.
func dueSoon(tx ReadTx, p *FleetProduct, now int64) (int64, error) {
	bl, err := tx.Blocklist(p.ID)
	if err != nil {
		return 0, err
	}
	blocked := map[string]bool{}
	for _, dk := range bl {
		blocked[dk] = true
	}
	var n int64
	err = tx.Devices(DeviceFilter{ProductID: p.ID, Due: true, ExpiresTo: now + NearExpiryDays*dayS + 1}, func(d *Device) error {
		if renews(p, d, blocked[d.DK]) {
			n++
		}
		return nil
	})
	return n, err
}

// RecordAlerts records in the history that alerts of an organization
// went out: detail says how and to whom.
func (l *Ledger) RecordAlerts(ctx context.Context, org, detail string) error {
	return l.update(ctx, func(tx Tx, c *chain) error {
		if _, err := l.mayOrg(tx, org, needManage); err != nil {
			return err
		}
		e := l.event(l.now(), actionAlerts, org)
		e.Account = org
		e.Detail = detail
		return c.add(e)
	})
}
