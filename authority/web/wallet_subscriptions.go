package web

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

func init() {
	funcs["walletDay"] = authority.FormatDay
	funcs["walletLines"] = func(ls []authority.KeyLine) string {
		if len(ls) == 0 {
			return "none"
		}
		return authority.FormatKeyLines(ls)
	}
	funcs["walletKeyID"] = authority.KeyID
	funcs["walletEntitlements"] = walletEntitlements
	funcs["walletPeriod"] = func(c authority.Calendar, n int) string { return c.Period(n) }
}

// walletEntitlements says what an authorization code carries, as the
// command line does: "10 vms.camera.core until 2028-01-01, 1
// vms.camera.hw on SN-1".
func walletEntitlements(es []codes.Entitlement) string {
	parts := make([]string, len(es))
	for i, e := range es {
		if e.Kind == codes.Hardware {
			parts[i] = fmt.Sprintf("%d %s on %s", e.Count, e.Tag, e.Component)
		} else {
			parts[i] = fmt.Sprintf("%d %s until %s", e.Count, e.Tag, authority.FormatDay(e.End))
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// A subsView is one product's subscription, as `airlock
// authority subscription status` prints it, with what the page's forms
// suggest and its timeline.
type subsView struct {
	Status    *authority.SubscriptionStatus
	Shortfall []authority.KeyLine
	GraceEnd  int64 // of the current year; 0 in trial
	Renewal   int64 // when the current year ends and the next starts; 0 in trial
	// What the allocation form suggests: the first tag the current year
	// lacks and how many, else the next year and the demand's first tag.
	AllocYear  int
	AllocTag   string
	AllocCount int64
	Timeline   *subsTimeline
}

func newSubsView(st *authority.SubscriptionStatus) subsView {
	v := subsView{Status: st, Shortfall: st.Shortfall(), Timeline: newSubsTimeline(st)}
	if st.Year > 0 {
		v.GraceEnd, v.Renewal = st.GraceEnd(st.Year), st.Calendar.End(st.Year)
		v.AllocYear = st.Year
		switch {
		case len(v.Shortfall) > 0:
			v.AllocTag, v.AllocCount = v.Shortfall[0].Tag, v.Shortfall[0].Count
		case len(st.Demand) > 0:
			last := st.Year
			for _, y := range st.Years {
				if y.Met && y.Year == last {
					last++
				}
			}
			v.AllocYear, v.AllocTag, v.AllocCount = last, st.Demand[0].Tag, st.Demand[0].Count
		}
	}
	return v
}

type subsData struct {
	Products []subsView
}

// subscriptions shows, per product, its subscription: state, years,
// demand, allocations, growth against the allowance, wallet, hardware
// and systems, on a timeline and in tables.
func (s *server) subsPage(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	ps, err := ss.l.Products(r.Context(), acc.Org.Name)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	d := &subsData{}
	for _, p := range ps {
		st, err := ss.l.SubscriptionStatus(r.Context(), acc.Org.Name, p.Name)
		if err != nil {
			s.failIn(w, r, ss, acc, err)
			return
		}
		d.Products = append(d.Products, newSubsView(st))
	}
	s.render(w, r, http.StatusOK, "subscriptions.html", ss.page("Subscriptions", acc, d))
}

// A subsChangeData is the review (Done unset) or the result of a change to a
// product's subscription.
type subsChangeData struct {
	Product string
	Done    bool
	Started *authority.SubscriptionStarted
	Alloc   *authority.Allocated
	Ext     *authority.Extended
	Year    int
	Count   int64
}

// startSubscription reviews (the dry run) or starts a product's
// subscription, as `airlock authority subscription start`.
func (s *server) subsStart(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	product, dry := onlyValue(r, "product"), walletReviewing(r)
	st, err := ss.l.StartSubscription(r.Context(), acc.Org.Name, product, dry)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	title := "Review the start of the subscription"
	if !dry {
		title = "Subscription started"
	}
	s.render(w, r, http.StatusOK, "subscriptions_start.html", ss.page(title, acc, &subsChangeData{Product: product, Done: !dry, Started: st}))
}

// subsMaxYear bounds the year a form names: a year is allocated at most
// authority.MaxAheadYears ahead, so any year past this one is refused
// by the library in its own words; beyond it the number is not a year.
const subsMaxYear = 1000

// allocate reviews (the dry run) or makes an allocation, as `airlock
// authority subscription allocate`.
func (s *server) subsAllocate(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	product, dry := onlyValue(r, "product"), walletReviewing(r)
	year, err := formNumber(r, "year", "Year", 1, subsMaxYear)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	count, err := formNumber(r, "count", "Count", 1, authority.MaxLotCount)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	tag, err := walletFormTag(r, "tag")
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	a, err := ss.l.Allocate(r.Context(), acc.Org.Name, product, int(year), tag, count, dry)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	title := "Review the allocation"
	if !dry {
		title = "Allocated"
	}
	s.render(w, r, http.StatusOK, "subscriptions_allocate.html", ss.page(title, acc, &subsChangeData{Product: product, Done: !dry, Alloc: a, Year: int(year), Count: count}))
}

// extend reviews (the dry run) or allocates extension licenses to a
// hardware component, as `airlock authority hardware extend`.
func (s *server) subsExtend(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	product, dry := onlyValue(r, "product"), walletReviewing(r)
	component := strings.TrimSpace(onlyValue(r, "component"))
	count, err := formNumber(r, "count", "Count", 1, authority.MaxLotCount)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	tag, err := walletFormTag(r, "tag")
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	x, err := ss.l.Extend(r.Context(), acc.Org.Name, product, component, tag, count, dry)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	title := "Review the extension"
	if !dry {
		title = "Extended"
	}
	s.render(w, r, http.StatusOK, "subscriptions_extend.html", ss.page(title, acc, &subsChangeData{Product: product, Done: !dry, Ext: x, Count: count}))
}

type subsRegisterData struct {
	Product    string
	Typed      string        // the description typed, for the next form
	System     *codes.System // as the file says, unverified (review)
	Registered *authority.SystemRegistered
	Hash       string
}

// registerSystem shows what a system description says (review) or
// registers it to a product, as `airlock authority product register`:
// the library verifies it with the authority's keys then.
func (s *server) subsRegister(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	if err := needManage(acc); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	product := onlyValue(r, "product")
	code, err := readCode(r, "system", codes.KindSystem)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	d := &subsRegisterData{Product: product, Typed: codes.EncodeText(codes.KindSystem, code), Hash: codeHash(code)}
	if walletReviewing(r) {
		// For the review only, and said so on the page: the ledger opens
		// it with the authority's keys when it registers it.
		if d.System, err = codes.ParseUnverifiedSystem(code); err != nil {
			s.failIn(w, r, ss, acc, err)
			return
		}
		// The product must exist in the organization before anything is
		// shown as if it would be registered there.
		if _, err := ss.l.Wallet(r.Context(), acc.Org.Name, product); err != nil {
			s.failIn(w, r, ss, acc, err)
			return
		}
		s.render(w, r, http.StatusOK, "subscriptions_register.html", ss.page("Review the system description", acc, d))
		return
	}
	if d.Registered, err = ss.l.RegisterSystem(r.Context(), acc.Org.Name, product, code); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	s.render(w, r, http.StatusOK, "subscriptions_register.html", ss.page("System registered", acc, d))
}

type subsDeliverData struct {
	Product   string
	System    string
	Status    *authority.SubscriptionStatus
	Instance  *authority.Instance // review
	Hardware  []authority.HardwareStatus
	Delivered *authority.Delivered
	Typed     string
	Hash      string
}

// deliver shows what a system of a product would get (review), or
// issues its authorization code, as `airlock authority subscription
// deliver`.
func (s *server) subsDeliver(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	if err := needManage(acc); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	product, system := onlyValue(r, "product"), strings.TrimSpace(onlyValue(r, "system"))
	d := &subsDeliverData{Product: product, System: system}
	if walletReviewing(r) {
		st, err := ss.l.SubscriptionStatus(r.Context(), acc.Org.Name, product)
		if err != nil {
			s.failIn(w, r, ss, acc, err)
			return
		}
		d.Status = st
		for i := range st.Systems {
			if st.Systems[i].Name == system || st.Systems[i].UDI == system {
				d.Instance = &st.Systems[i]
			}
		}
		if d.Instance == nil {
			s.failIn(w, r, ss, acc, fmt.Errorf("%w: %q has no system %q", authority.ErrNotRegistered, st.Product.Ref(), system))
			return
		}
		for _, h := range st.Hardware {
			if h.InstanceID == d.Instance.ID {
				d.Hardware = append(d.Hardware, h)
			}
		}
		s.render(w, r, http.StatusOK, "subscriptions_deliver.html", ss.page("Review the delivery", acc, d))
		return
	}
	dv, err := ss.l.Deliver(r.Context(), acc.Org.Name, product, system)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	d.Delivered, d.Status = dv, dv.Status
	d.Typed, d.Hash = codes.EncodeText(codes.KindAuthorization, dv.Code), codeHash(dv.Code)
	s.render(w, r, http.StatusOK, "subscriptions_deliver.html", ss.page("Delivered", acc, d))
}

// deliveredFile serves a code delivered to a system of a product as an
// armored file. It issues nothing: it reads the code the ledger stored,
// after checking that the system is the product's, in this
// organization.
func (s *server) subsDownload(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	if err := needManage(acc); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	product, udi := onlyValue(r, "product"), onlyValue(r, "udi")
	serial, err := formNumber(r, "serial", "Serial of the code", 1, anyHigh)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	st, err := ss.l.SubscriptionStatus(r.Context(), acc.Org.Name, product)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	known := false
	for _, sys := range st.Systems {
		known = known || sys.UDI == udi
	}
	if !known {
		s.failIn(w, r, ss, acc, fmt.Errorf("%w: %q has no system %q", authority.ErrNotRegistered, st.Product.Ref(), udi))
		return
	}
	is, err := ss.l.CodeIn(r.Context(), acc.Org.Name, udi, uint64(serial))
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	name := fmt.Sprintf("authorization-%08x-%d.airlock", is.Reservation, is.Serial)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.WriteHeader(http.StatusOK)
	w.Write(codes.EncodeArmor(codes.KindAuthorization, is.Code))
}
