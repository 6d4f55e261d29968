package authority

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/airlock-dev/airlock/codes"
)

// Subscriptions. An organization's subscription years run from its
// anchor, the day its first product subscribed: year 1 is [anchor,
// anchor + 1 year), year N starts N-1 calendar years after the anchor
// (time.AddDate, UTC: an anchor on 29 February renews on 1 March in common
// years). A product subscribes on a day of one of those years and shares
// them: allocating late, or subscribing part-way, never moves them.
//
// A year of a product is fully allocated once an allocation to it leaves
// its allocated licenses at least the product's demand, tag by tag. A
// product is licensed through the last of an unbroken run of fully
// allocated years from the current one; in a year that is not fully
// allocated, it is licensed during the year's grace period: GraceDays
// from the year's start (or from the day the product subscribed, when
// that is later), and expired after it.
const (
	// GraceDays is the grace period at the start of each subscription year.
	GraceDays = 30
	// MaxAheadYears caps renewal in advance: a year may be allocated when
	// it ends at most five calendar years from today.
	MaxAheadYears = 5
	// dayS is a day in Unix seconds: Unix time has no leap seconds, so
	// every UTC day is this long.
	dayS = 24 * 60 * 60
)

// License states of a product.
const (
	StateTrial    = "trial"          // no subscription: nothing is delivered
	StateGrace    = "grace"          // licensed until the grace period ends
	StateLicensed = "licensed"       // licensed until the end of a fully allocated year
	StateOver     = "over allowance" // licensed, but the organization grew past its allowance
	StateExpired  = "expired"        // the grace period ended without full allocation
)

// Midnight returns the UTC midnight that starts the day of t (Unix seconds).
func Midnight(t int64) int64 { return t - ((t%dayS)+dayS)%dayS }

// A Calendar is an organization's subscription years.
type Calendar struct {
	Anchor int64 // the start of year 1: a UTC midnight, Unix seconds
}

// Start returns when year n (n ≥ 1) starts.
func (c Calendar) Start(n int) int64 {
	return time.Unix(c.Anchor, 0).UTC().AddDate(n-1, 0, 0).Unix()
}

// End returns when year n ends (exclusive): when year n+1 starts.
func (c Calendar) End(n int) int64 { return c.Start(n + 1) }

// Days returns the days year n has: 365 or 366.
func (c Calendar) Days(n int) int64 { return (c.End(n) - c.Start(n)) / dayS }

// YearAt returns the year that t falls in; 0 before the anchor.
func (c Calendar) YearAt(t int64) int {
	if t < c.Anchor {
		return 0
	}
	n := int((t-c.Anchor)/(365*dayS+dayS/4)) + 1
	for n > 1 && c.Start(n) > t {
		n--
	}
	for c.End(n) <= t {
		n++
	}
	return n
}

// graceEnd returns when the grace period of year n ends for a product
// that subscribed at started.
func (c Calendar) graceEnd(n int, started int64) int64 {
	return max(c.Start(n), started) + GraceDays*dayS
}

// DaysInto returns the whole UTC days from the start of year n to the
// day of t; negative before the year.
func (c Calendar) DaysInto(n int, t int64) int64 { return (Midnight(t) - c.Start(n)) / dayS }

// Credit returns how many of count licenses allocated to year n, covering
// it from the day from on, are credited back to the wallet: the share of
// the year before from, which one-year licenses would otherwise cover
// twice (once more after the year ends, when the organization renews),
// rounded down to whole licenses: count × days late ÷ days in the year.
func (c Calendar) Credit(n int, from, count int64) int64 {
	late := c.DaysInto(n, from)
	if late <= 0 {
		return 0
	}
	return count * late / c.Days(n)
}

// calendar returns the subscription calendar of an organization, and
// whether it has one.
func calendar(tx ReadTx, orgID int64) (Calendar, bool, error) {
	a, err := tx.SubscriptionAnchor(orgID)
	return Calendar{Anchor: a}, a != 0, err
}

// A SubscriptionStarted says what StartSubscription did.
type SubscriptionStarted struct {
	Product    Product
	Calendar   Calendar
	NewAnchor  bool // this product started the organization's years
	StartedAt  int64
	Year       int
	GraceUntil int64
}

// StartSubscription starts the subscription of a product today (UTC): in
// the current subscription year of its organization, which it starts
// when it is the organization's first. The product is in its grace period
// for GraceDays. The actor must manage the organization. With dry set it
// changes nothing and returns what it would do.
func (l *Ledger) StartSubscription(ctx context.Context, org, name string, dry bool) (*SubscriptionStarted, error) {
	var out *SubscriptionStarted
	err := l.updateOrCheck(ctx, dry, func(tx Tx, c *chain) error {
		if _, err := l.mayOrg(tx, org, needManage); err != nil {
			return err
		}
		p, err := product(tx, org, name)
		if err != nil {
			return err
		}
		if s, err := tx.Subscription(p.ID); err != nil {
			return err
		} else if s != nil {
			return fmt.Errorf("%w: the subscription of %q started %s", ErrSubscribed, p.Ref(), FormatDay(s.StartedAt))
		}
		now := l.now()
		today := Midnight(now)
		cal, ok, err := calendar(tx, p.OrgID)
		if err != nil {
			return err
		}
		out = &SubscriptionStarted{Product: *p, StartedAt: today}
		if !ok {
			cal = Calendar{Anchor: today}
			if err := tx.InsertSubscriptionAnchor(p.OrgID, today); err != nil {
				return err
			}
			out.NewAnchor = true
		}
		out.Calendar, out.Year = cal, cal.YearAt(today)
		out.GraceUntil = cal.graceEnd(out.Year, today)
		if err := tx.InsertSubscription(&Subscription{ProductID: p.ID, StartedAt: today, CreatedAt: now, Actor: l.opts.Actor}); err != nil {
			return err
		}
		e := l.event(now, actionSubscriptionStart, p.Ref())
		e.Account = p.Ref() // a product's systems are in the account of its name
		e.Detail = fmt.Sprintf("subscription of %q started %s in year %d (%s), grace until %s",
			p.Ref(), FormatDay(today), out.Year, cal.Period(out.Year), FormatDay(out.GraceUntil))
		if out.NewAnchor {
			e.Detail += fmt.Sprintf("; the subscription years of %q start on %s", org, FormatDay(today))
		}
		return c.add(e)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// An Allocated says what an allocation did, or would do.
type Allocated struct {
	Allocation
	Product   Product
	Calendar  Calendar
	Shortfall []KeyLine // the demand the year still lacks after it, per tag
}

// errDryRun rolls back a transaction that only checked what it would do.
var errDryRun = errors.New("dry run")

// updateOrCheck runs fn in a write transaction, as update does; with dry
// set it then rolls the transaction back, so that the caller learns what
// fn would do, refusals included, and nothing changes.
func (l *Ledger) updateOrCheck(ctx context.Context, dry bool, fn func(tx Tx, c *chain) error) error {
	err := l.update(ctx, func(tx Tx, c *chain) error {
		if err := fn(tx, c); err != nil {
			return err
		}
		if dry {
			return errDryRun
		}
		return nil
	})
	if errors.Is(err, errDryRun) {
		return nil
	}
	return err
}

// Allocate moves count licenses of tag from the wallet of a product to
// its subscription year (1 for the first year of its organization; see
// Calendar). tag may be empty when the product's demand, or else its
// wallet, has a single tag. Licenses are taken from the lots that expire
// first. An allocation after the year's grace period covers the year
// from today only; the days before are credited back (Calendar.Credit),
// to the lots taken from that expire last. With dry set it changes
// nothing and returns what it would do.
func (l *Ledger) Allocate(ctx context.Context, org, name string, year int, tag string, count int64, dry bool) (*Allocated, error) {
	if year < 1 {
		return nil, fmt.Errorf("%w: subscription years are numbered from 1, not %d", ErrInvalid, year)
	}
	if count < 1 || count > MaxLotCount {
		return nil, fmt.Errorf("%w: count %d is not from 1 to %d", ErrInvalid, count, int64(MaxLotCount))
	}
	if tag != "" {
		if err := codes.CheckTag(tag); err != nil {
			return nil, err
		}
	}
	var out *Allocated
	err := l.updateOrCheck(ctx, dry, func(tx Tx, c *chain) error {
		if _, _, err := l.authorize(tx, org, needManage); err != nil {
			return err
		}
		now := l.now()
		p, sub, cal, err := subscribed(tx, org, name)
		if err != nil {
			return err
		}
		cur := cal.YearAt(now)
		first := cal.YearAt(sub.StartedAt)
		switch {
		case year < first:
			return fmt.Errorf("%w: the subscription of %q started in year %d (%s): year %d is before it", ErrInvalid, p.Ref(), first, FormatDay(sub.StartedAt), year)
		case year < cur:
			return fmt.Errorf("%w: year %d ended %s: allocate to year %d (the current year, %s) or later", ErrInvalid, year, FormatDay(cal.End(year)), cur, cal.Period(cur))
		}
		limit := time.Unix(Midnight(now), 0).UTC().AddDate(MaxAheadYears, 0, 0).Unix()
		if cal.End(year) > limit {
			from := time.Unix(cal.End(year), 0).UTC().AddDate(-MaxAheadYears, 0, 0).Unix()
			return fmt.Errorf("%w: year %d (%s) ends more than %d years ahead (after %s): renew it from %s on", ErrInvalid, year, cal.Period(year), MaxAheadYears, FormatDay(limit), FormatDay(from))
		}
		snap, err := subscriptionSnapshot(tx, p)
		if err != nil {
			return err
		}
		lots, err := tx.WalletLots(p.ID)
		if err != nil {
			return err
		}
		if tag == "" {
			if tag, err = soleTag(p, snap.demand, lots, now); err != nil {
				return err
			}
		}
		var usable []WalletLot
		var have int64
		for _, w := range lots {
			if w.Tag == tag && !w.Extension && !w.Expired(now) && w.Count > 0 {
				usable = append(usable, w)
				have += w.Count
			}
		}
		if have < count {
			return fmt.Errorf("%w: the wallet of %q holds %d %s, the allocation needs %d: %d short: redeem a license key for %d more",
				ErrWalletShort, p.Ref(), have, tag, count, count-have, count-have)
		}

		a := Allocation{ProductID: p.ID, Year: year, Tag: tag, Count: count, Demand: snap.demand[tag], At: now, Actor: l.opts.Actor}
		a.CoversFrom = max(cal.Start(year), sub.StartedAt)
		if now >= cal.graceEnd(year, sub.StartedAt) {
			a.CoversFrom = Midnight(now)
		}
		a.Credited = cal.Credit(year, a.CoversFrom, count)
		// Take from the lots that expire first, then credit back to the
		// ones taken from that expire last.
		taken := make([]int64, len(usable))
		for i, left := 0, count; left > 0; i++ {
			taken[i] = min(usable[i].Count, left)
			left -= taken[i]
		}
		for i, back := len(usable)-1, a.Credited; back > 0; i-- {
			k := min(taken[i], back)
			taken[i] -= k
			back -= k
		}
		for i, n := range taken {
			if n == 0 {
				continue
			}
			if err := tx.AdjustWalletLot(usable[i].ID, -n); err != nil {
				return err
			}
			a.Sources = append(a.Sources, AllocationSource{LotID: usable[i].ID, Count: n})
		}
		allocated := snap.allocated(year)
		allocated[tag] += count
		out = &Allocated{Product: *p, Calendar: cal}
		for _, t := range slices.Sorted(maps.Keys(snap.demand)) {
			if d := snap.demand[t]; allocated[t] < d {
				out.Shortfall = append(out.Shortfall, KeyLine{Tag: t, Count: d - allocated[t]})
			}
		}
		a.Met = len(out.Shortfall) == 0
		if err := tx.InsertAllocation(&a); err != nil {
			return err
		}
		out.Allocation = a
		e := l.event(now, actionSubscriptionAllocate, p.Ref())
		e.Account = p.Ref() // a product's systems are in the account of its name
		e.CodeHash = allocationHash(&a)
		e.Detail = fmt.Sprintf("%d %s allocated to year %d (%s) of %q, covering it from %s", count, tag, year, cal.Period(year), p.Ref(), FormatDay(a.CoversFrom))
		if a.Credited > 0 {
			e.Detail += fmt.Sprintf("; %d credited back to the wallet for %d of %d days already passed", a.Credited, cal.DaysInto(year, a.CoversFrom), cal.Days(year))
		}
		if a.Met {
			e.Detail += fmt.Sprintf("; year %d meets the demand", year)
		} else {
			e.Detail += fmt.Sprintf("; year %d still lacks %s", year, FormatKeyLines(out.Shortfall))
		}
		return c.add(e)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// soleTag picks the tag of an allocation that names none: the only tag
// of the demand, else the only tag of the wallet.
func soleTag(p *Product, demand map[string]int64, lots []WalletLot, now int64) (string, error) {
	if len(demand) == 1 {
		for t := range demand {
			return t, nil
		}
	}
	tags := map[string]int64{}
	for _, w := range lots {
		if !w.Extension && !w.Expired(now) && w.Count > 0 {
			tags[w.Tag] += w.Count
		}
	}
	if len(demand) == 0 && len(tags) == 1 {
		for t := range tags {
			return t, nil
		}
	}
	if len(demand) > 0 {
		return "", fmt.Errorf("%w: %q demands %s: name the tag to allocate", ErrInvalid, p.Ref(), formatCounts(demand))
	}
	if len(tags) == 0 {
		return "", fmt.Errorf("%w: the wallet of %q holds no licenses: redeem a license key first", ErrWalletShort, p.Ref())
	}
	return "", fmt.Errorf("%w: the wallet of %q holds %s: name the tag to allocate", ErrInvalid, p.Ref(), formatCounts(tags))
}

// subscribed returns a product with its subscription and calendar, or
// an error that says to start it.
func subscribed(tx ReadTx, org, name string) (*Product, *Subscription, Calendar, error) {
	p, err := product(tx, org, name)
	if err != nil {
		return nil, nil, Calendar{}, err
	}
	sub, err := tx.Subscription(p.ID)
	if err != nil {
		return nil, nil, Calendar{}, err
	}
	if sub == nil {
		return nil, nil, Calendar{}, fmt.Errorf("%w: %q has no subscription: start it first (airlock authority subscription start)", ErrNoSubscription, p.Ref())
	}
	cal, ok, err := calendar(tx, p.OrgID)
	if err != nil {
		return nil, nil, Calendar{}, err
	}
	if !ok {
		return nil, nil, Calendar{}, corrupt("%q has a subscription but organization %q has no subscription years", p.Ref(), p.Org)
	}
	return p, sub, cal, nil
}

// A snapshot is what the subscription state of a product is computed
// from.
type snapshot struct {
	sub         *Subscription
	demand      map[string]int64
	allocations []Allocation
	systems     []Instance
	hardware    []Hardware
}

func subscriptionSnapshot(tx ReadTx, p *Product) (*snapshot, error) {
	s := &snapshot{demand: map[string]int64{}}
	var err error
	if s.sub, err = tx.Subscription(p.ID); err != nil {
		return nil, err
	}
	pss, err := tx.ProductSystems(p.ID)
	if err != nil {
		return nil, err
	}
	for _, ps := range pss {
		inst, err := tx.InstanceByID(ps.InstanceID)
		if err != nil {
			return nil, err
		}
		if inst == nil {
			return nil, corrupt("product %q names instance %d, which does not exist", p.Ref(), ps.InstanceID)
		}
		if inst.State == InstanceRemoved {
			continue
		}
		d, err := codes.ParseUnverifiedSystem(inst.System)
		if err != nil {
			return nil, corrupt("stored description of system %q: %v", inst.Name, err)
		}
		for _, ln := range d.Demand {
			s.demand[ln.Tag] += int64(ln.Count)
		}
		s.systems = append(s.systems, *inst)
	}
	if s.allocations, err = tx.Allocations(p.ID); err != nil {
		return nil, err
	}
	if s.hardware, err = tx.Hardware(p.ID); err != nil {
		return nil, err
	}
	return s, nil
}

// allocated returns the licenses allocated to a year, per tag.
func (s *snapshot) allocated(year int) map[string]int64 {
	out := map[string]int64{}
	for _, a := range s.allocations {
		if a.Year == year {
			out[a.Tag] += a.Count
		}
	}
	return out
}

// met reports whether a year was fully allocated.
func (s *snapshot) met(year int) bool {
	for _, a := range s.allocations {
		if a.Year == year && a.Met {
			return true
		}
	}
	return false
}

// growth returns the licenses the demand exceeds a year's allocation by.
func (s *snapshot) growth(year int) (growth, allocated int64) {
	al := s.allocated(year)
	for _, n := range al {
		allocated += n
	}
	for t, d := range s.demand {
		growth += max(0, d-al[t])
	}
	return growth, allocated
}

// extensions returns the extension licenses allocated to a component.
func (s *snapshot) extensions(component string) int64 {
	var n int64
	for _, a := range s.allocations {
		if a.Component == component {
			n += a.Count
		}
	}
	return n
}

// A SubscriptionStatus is the license state of a product at a moment.
type SubscriptionStatus struct {
	Product   Product
	At        int64
	State     string // StateTrial … StateExpired
	Until     int64  // grace: when it ends; licensed: when the licensed years end; expired: since when
	StartedAt int64  // the day the subscription started; 0 in trial
	Calendar  Calendar
	Year      int // the current subscription year; 0 in trial
	Years     []YearStatus
	Demand    []KeyLine
	// Growth is the organization's demand beyond what its products'
	// current years allocate, over products whose year is fully
	// allocated; Allowance is 100% of those allocations.
	Growth, Allowance int64
	Wallet            []WalletLot // lots not expired with licenses left
	Hardware          []HardwareStatus
	Systems           []Instance
}

// A YearStatus is what was allocated to one subscription year.
type YearStatus struct {
	Year       int
	Start, End int64
	Allocated  []KeyLine
	Credited   int64
	Met        bool // fully allocated
}

// A HardwareStatus is a registered component and its licenses.
type HardwareStatus struct {
	Hardware
	System     string // the system that listed it
	Extensions int64  // licenses allocated to it from extension keys
}

// PreloadedLicenses is how many licenses of its tag a registered
// component comes with: a description lists one tag per component.
const PreloadedLicenses = 1

// Licenses returns the component's licenses: preloaded and extensions.
func (h *HardwareStatus) Licenses() int64 { return PreloadedLicenses + h.Extensions }

// SubscriptionStatus returns the license state of a product at the
// ledger's clock, for an actor who may read the organization.
func (l *Ledger) SubscriptionStatus(ctx context.Context, org, name string) (*SubscriptionStatus, error) {
	var out *SubscriptionStatus
	err := l.view(ctx, func(tx ReadTx) error {
		if _, err := l.mayOrg(tx, org, needRead); err != nil {
			return err
		}
		p, err := product(tx, org, name)
		if err != nil {
			return err
		}
		out, err = subscriptionStatus(tx, p, l.now())
		return err
	})
	return out, err
}

func subscriptionStatus(tx ReadTx, p *Product, now int64) (*SubscriptionStatus, error) {
	snap, err := subscriptionSnapshot(tx, p)
	if err != nil {
		return nil, err
	}
	st := &SubscriptionStatus{Product: *p, At: now, State: StateTrial, Systems: snap.systems}
	for _, t := range slices.Sorted(maps.Keys(snap.demand)) {
		st.Demand = append(st.Demand, KeyLine{Tag: t, Count: snap.demand[t]})
	}
	lots, err := tx.WalletLots(p.ID)
	if err != nil {
		return nil, err
	}
	for _, w := range lots {
		if !w.Expired(now) && w.Count > 0 {
			st.Wallet = append(st.Wallet, w)
		}
	}
	names := map[int64]string{}
	for _, s := range snap.systems {
		names[s.ID] = s.Name
	}
	for _, h := range snap.hardware {
		st.Hardware = append(st.Hardware, HardwareStatus{Hardware: h, System: names[h.InstanceID], Extensions: snap.extensions(h.Component)})
	}
	if snap.sub == nil {
		return st, nil
	}
	cal, ok, err := calendar(tx, p.OrgID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, corrupt("%q has a subscription but organization %q has no subscription years", p.Ref(), p.Org)
	}
	st.Calendar, st.StartedAt = cal, snap.sub.StartedAt
	st.Year = max(cal.YearAt(now), cal.YearAt(snap.sub.StartedAt))
	years := map[int]bool{st.Year: true}
	for _, a := range snap.allocations {
		if a.Year >= st.Year {
			years[a.Year] = true
		}
	}
	for _, y := range slices.Sorted(maps.Keys(years)) {
		ys := YearStatus{Year: y, Start: cal.Start(y), End: cal.End(y), Met: snap.met(y)}
		al := snap.allocated(y)
		for _, t := range slices.Sorted(maps.Keys(al)) {
			ys.Allocated = append(ys.Allocated, KeyLine{Tag: t, Count: al[t]})
		}
		for _, a := range snap.allocations {
			if a.Year == y {
				ys.Credited += a.Credited
			}
		}
		st.Years = append(st.Years, ys)
	}
	grace := cal.graceEnd(st.Year, snap.sub.StartedAt)
	switch {
	case snap.met(st.Year):
		last := st.Year
		for snap.met(last + 1) {
			last++
		}
		st.State, st.Until = StateLicensed, cal.End(last)
		if st.Growth, st.Allowance, err = orgGrowth(tx, snap, p, st.Year); err != nil {
			return nil, err
		}
		if g, _ := snap.growth(st.Year); g > 0 && st.Growth > st.Allowance {
			st.State = StateOver
		}
	case now < grace:
		st.State, st.Until = StateGrace, grace
	default:
		st.State, st.Until = StateExpired, grace
	}
	return st, nil
}

// orgGrowth sums, over the products of p's organization whose year is
// fully allocated, the demand beyond the year's allocation and the
// allocation itself; own is p's snapshot, read already.
func orgGrowth(tx ReadTx, own *snapshot, p *Product, year int) (growth, allocated int64, err error) {
	ps, err := tx.Products(p.OrgID)
	if err != nil {
		return 0, 0, err
	}
	for i := range ps {
		snap := own
		if ps[i].ID != p.ID {
			if snap, err = subscriptionSnapshot(tx, &ps[i]); err != nil {
				return 0, 0, err
			}
		}
		if snap.sub == nil || !snap.met(year) {
			continue
		}
		g, a := snap.growth(year)
		growth, allocated = growth+g, allocated+a
	}
	return growth, allocated, nil
}

// Licensed reports whether the state lets the product run.
func (s *SubscriptionStatus) Licensed() bool {
	return s.State == StateGrace || s.State == StateLicensed || s.State == StateOver
}

// Shortfall returns what the current year lacks of the demand, per tag.
func (s *SubscriptionStatus) Shortfall() []KeyLine {
	var al []KeyLine
	for _, y := range s.Years {
		if y.Year == s.Year {
			al = y.Allocated
		}
	}
	var out []KeyLine
	for _, d := range s.Demand {
		n := d.Count
		for _, a := range al {
			if a.Tag == d.Tag {
				n -= a.Count
			}
		}
		if n > 0 {
			out = append(out, KeyLine{Tag: d.Tag, Count: n})
		}
	}
	return out
}

// FormatDay returns the UTC day of t (Unix seconds): "2027-01-31".
func FormatDay(t int64) string { return time.Unix(t, 0).UTC().Format(time.DateOnly) }

// Period returns the days of year n, first and last included:
// "2027-01-01..2027-12-31".
func (c Calendar) Period(n int) string {
	return FormatDay(c.Start(n)) + ".." + FormatDay(c.End(n)-dayS)
}

func formatCounts(m map[string]int64) string {
	var ls []KeyLine
	for _, t := range slices.Sorted(maps.Keys(m)) {
		ls = append(ls, KeyLine{Tag: t, Count: m[t]})
	}
	return FormatKeyLines(ls)
}
