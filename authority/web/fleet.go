package web

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/authority"
)

// The pages of device fleets and their activation-code pools (README
// runbook 13): the pools and their allocation to products, the alert
// settings, the devices and their renewals, the gateways. Each is a call of the
// library as the person (the organization-scoped ones of
// authority/webscope_fleet.go, which never say that a product key
// exists in another organization).

func (s *server) fleetRoutes(m *http.ServeMux) {
	// The pools: counts, products, allocations, alerts, purchases.
	m.HandleFunc("GET /orgs/{org}/activation", s.inOrg(s.fleetActivation))
	m.HandleFunc("POST /orgs/{org}/activation/allocate/review", s.inOrg(s.fleetAllocateReview))
	m.HandleFunc("POST /orgs/{org}/activation/allocate", s.inOrg(s.fleetAllocate))
	m.HandleFunc("POST /orgs/{org}/activation/auto-renew", s.inOrg(s.fleetProductAutoRenew))
	m.HandleFunc("POST /orgs/{org}/activation/products", s.inOrg(s.fleetAddProduct))
	m.HandleFunc("POST /orgs/{org}/activation/products/delete/review", s.inOrg(s.fleetDeleteProduct(true)))
	m.HandleFunc("POST /orgs/{org}/activation/products/delete", s.inOrg(s.fleetDeleteProduct(false)))
	m.HandleFunc("POST /orgs/{org}/activation/recipients", s.inOrg(s.fleetAlertRecipient))
	m.HandleFunc("POST /orgs/{org}/activation/threshold", s.inOrg(s.fleetAlertThreshold))
	m.HandleFunc("POST /orgs/{org}/activation/buy", s.inOrg(s.onceInOrg(s.fleetBuyCodes)))
	// The devices and their gateways.
	m.HandleFunc("GET /orgs/{org}/devices", s.inOrg(s.fleetDevices(false)))
	m.HandleFunc("GET /orgs/{org}/devices/near-expiry", s.inOrg(s.fleetDevices(true)))
	m.HandleFunc("GET /orgs/{org}/devices/{product}/{dk}", s.inOrg(s.fleetDeviceHistory))
	m.HandleFunc("GET /orgs/{org}/devices/device", s.inOrg(s.fleetDeviceHistory)) // ?product=PK&dk=DK: see fleetDeviceURL
	m.HandleFunc("POST /orgs/{org}/devices/auto-renew", s.inOrg(s.fleetDeviceAutoRenew))
	m.HandleFunc("POST /orgs/{org}/devices/blocklist", s.inOrg(s.fleetBlock))
	m.HandleFunc("POST /orgs/{org}/devices/delete/review", s.inOrg(s.fleetDeleteDevice(true)))
	m.HandleFunc("POST /orgs/{org}/devices/delete", s.inOrg(s.fleetDeleteDevice(false)))
	m.HandleFunc("GET /orgs/{org}/devices/gateways", s.inOrg(s.fleetGateways))
	m.HandleFunc("POST /orgs/{org}/devices/gateways/retire/review", s.inOrg(s.fleetRetireGateway(true)))
	m.HandleFunc("POST /orgs/{org}/devices/gateways/retire", s.inOrg(s.fleetRetireGateway(false)))
}

func init() {
	funcs["fleetOnOff"] = func(b bool) string {
		if b {
			return "on"
		}
		return "off"
	}
	funcs["fleetYesNo"] = func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	funcs["fleetPath"] = url.PathEscape
	funcs["fleetDevice"] = fleetDeviceURL
	funcs["fleetKey"] = func(pub []byte) string { return hex.EncodeToString(authority.InstanceKeyHashPrefix(pub)) }
	funcs["fleetCause"] = func(c int) string {
		switch c {
		case authority.CauseActivation:
			return "activation"
		case authority.CauseRenewal:
			return "renewal"
		case authority.CauseReactivation:
			return "reactivation"
		}
		return "unknown"
	}
}

// fleetRefusal gives the refusals of pools and devices their own words:
// their sentinels are kinds of general ones (not enough licenses, a
// closed reservation) whose titles would mislead here. The message is
// the refusal's, without the general sentinel's words.
func fleetRefusal(err error) error {
	for _, c := range []struct {
		sentinel, general error
		status            int
		title, hint       string
	}{
		{authority.ErrNoCodes, authority.ErrUnavailable, http.StatusConflict, "Not enough activation codes",
			"The vendor records the codes an organization buys; allocate at most what is unallocated."},
		{authority.ErrProductDeleted, authority.ErrClosed, http.StatusConflict, "Product deleted",
			"A deleted product takes no codes and changes no more."},
		{authority.ErrSpecMismatch, authority.ErrInvalid, http.StatusBadRequest, "Another package",
			"A product holds codes of one package only: choose its package, or another product."},
		{authority.ErrAutoRenewOff, authority.ErrInvalid, http.StatusConflict, "Product auto-renew is off",
			"Turn the product's auto-renew on first, on the activation codes page."},
		{authority.ErrClosed, authority.ErrClosed, http.StatusConflict, "Device deleted",
			"A deleted device does not renew; if it activates again it is back."},
	} {
		if errors.Is(err, c.sentinel) {
			msg := strings.TrimPrefix(err.Error(), c.general.Error()+": ")
			return &pageError{status: c.status, title: c.title, msg: clean(msg), hint: c.hint, err: err}
		}
	}
	return err
}

// fleetBadField is the refusal of a form field the portal reads itself.
func fleetBadField(format string, args ...any) error {
	return &pageError{status: http.StatusBadRequest, title: "Not accepted", msg: clean(fmt.Sprintf(format, args...))}
}

// fleetSwitch reads a switch's "on" or "off".
func fleetSwitch(r *http.Request) (bool, error) {
	switch v := onlyValue(r, "on"); v {
	case "on":
		return true, nil
	case "off":
		return false, nil
	default:
		return false, fleetBadField("the switch must be on or off, not %q", shown(v))
	}
}

// The activation codes page.

type fleetPackageRow struct {
	Name, Validity string
	Unallocated    int64
}

type fleetProductRow struct {
	authority.FleetProduct
	Package     string // "" while it holds none
	Validity    string
	Allocatable int64
}

type fleetAllocationRow struct {
	authority.CodeAllocation
	PK, Product, Package, Validity string
}

type fleetActivationData struct {
	Pools       *authority.PoolCounts
	Packages    []fleetPackageRow
	Products    []fleetProductRow
	Live        []fleetProductRow // may take codes
	Allocations []fleetAllocationRow
	Recipients  []string
	Threshold   int64 // -1: none
	Alerts      []authority.Alert
	Chart       template.HTML
	ByWeek      bool
	Done        string // what the change redirected here did
}

// fleetDone are the notes the activation page shows after a change
// redirected to it (?done=NAME): no input is ever shown back.
var fleetDone = map[string]string{
	"bought": "The purchase was recorded: the codes are in the totals below.",
}

// fleetUsePeriods is how many periods the code-use chart shows.
const fleetUsePeriods = 12

// fleetActivation shows the organization's activation codes: the totals,
// per package and per product (`airlock authority pool show`), the
// allocations, the alert settings and alerts, the use over time, and
// the forms of what the person may change.
func (s *server) fleetActivation(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	ctx, org := r.Context(), acc.Org.Name
	fail := func(err error) { s.failIn(w, r, ss, acc, fleetRefusal(err)) }
	pc, err := ss.l.Pools(ctx, org)
	if err != nil {
		fail(err)
		return
	}
	d := &fleetActivationData{Pools: pc, ByWeek: r.URL.Query().Get("by") == "week", Done: fleetDone[r.URL.Query().Get("done")]}
	for _, sp := range pc.SpecList {
		d.Packages = append(d.Packages, fleetPackageRow{Name: sp.Name, Validity: sp.Validity.String(), Unallocated: pc.Unallocated[sp.ID]})
	}
	for _, p := range pc.Products {
		row := fleetProductRow{FleetProduct: p, Allocatable: pc.Allocatable(&p)}
		if sp, ok := pc.Specs[p.SpecID]; ok {
			row.Package, row.Validity = sp.Name, sp.Validity.String()
		}
		d.Products = append(d.Products, row)
		if !p.Deleted() {
			d.Live = append(d.Live, row)
		}
	}
	allocs, _, err := ss.l.CodeAllocations(ctx, org, "")
	if err != nil {
		fail(err)
		return
	}
	byID := map[int64]authority.FleetProduct{}
	for _, p := range pc.Products {
		byID[p.ID] = p
	}
	for _, a := range allocs {
		p, sp := byID[a.ProductID], pc.Specs[a.SpecID]
		d.Allocations = append(d.Allocations, fleetAllocationRow{CodeAllocation: a, PK: p.PK, Product: p.Name, Package: sp.Name, Validity: sp.Validity.String()})
	}
	if d.Recipients, d.Threshold, err = ss.l.AlertRecipients(ctx, org); err != nil {
		fail(err)
		return
	}
	oas, err := ss.l.Alerts(ctx, org)
	if err != nil {
		fail(err)
		return
	}
	for _, oa := range oas {
		d.Alerts = append(d.Alerts, oa.Alerts...)
	}
	by, unit := authority.Monthly, "month"
	if d.ByWeek {
		by, unit = authority.Weekly, "week"
	}
	use, err := ss.l.CodeUse(ctx, org, by, fleetUsePeriods)
	if err != nil {
		fail(err)
		return
	}
	c := &fleetChart{ID: "code-use", Title: fmt.Sprintf("Activation codes of %s per %s, the last %d %ss", org, unit, fleetUsePeriods, unit),
		Series: []fleetSeries{{"Bought", "#1a7f37"}, {"Allocated", "#0b5cad"}, {"Consumed", "#b54708"}}, Period: "Period (" + unit + " from)"}
	for _, u := range use {
		label := time.Unix(u.From, 0).UTC().Format("2006-01")
		if d.ByWeek {
			label = time.Unix(u.From, 0).UTC().Format("01-02")
		}
		c.Groups = append(c.Groups, fleetGroup{Label: label, Long: fleetPeriodName(u.From, u.To), Values: []int64{u.Bought, u.Allocated, u.Consumed}})
	}
	c.Desc = "Codes bought, allocated to products and consumed by devices in each period, as the ledger recorded them; the table below gives the same numbers."
	if d.Chart, err = c.html(); err != nil {
		fail(err)
		return
	}
	s.render(w, r, http.StatusOK, "activation_codes.html", ss.page("Activation codes", acc, d))
}

// fleetPeriodName says a period in words: "2026-03-02 to 2026-03-08".
func fleetPeriodName(from, to int64) string {
	return time.Unix(from, 0).UTC().Format(time.DateOnly) + " to " + time.Unix(to-1, 0).UTC().Format(time.DateOnly)
}

type fleetAllocateData struct {
	Dry   *authority.CodesAllocated
	Count int64
	Left  int64 // unallocated codes of the package after it
}

// fleetAllocationForm reads the allocation form: the product, the package
// ("" for the product's, or the only one with unallocated codes) and
// the count.
func fleetAllocationForm(r *http.Request) (product, pkg string, count int64, err error) {
	product, pkg = onlyValue(r, "product"), onlyValue(r, "package")
	if product == "" {
		return "", "", 0, fleetBadField("choose the product the codes go to")
	}
	count, err = formNumber(r, "count", "Count", anyLow, anyHigh)
	return product, pkg, count, err
}

// fleetAllocateReview shows what an allocation would do, from the library's
// dry run (refusals included), with the warning that it cannot be
// undone, and the form that makes it.
func (s *server) fleetAllocateReview(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	if err := needManage(acc); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	product, pkg, count, err := fleetAllocationForm(r)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	dry, err := ss.l.AllocateCodesIn(r.Context(), acc.Org.Name, product, pkg, count, true)
	if err != nil {
		s.failIn(w, r, ss, acc, fleetRefusal(err))
		return
	}
	d := &fleetAllocateData{Dry: dry, Count: count, Left: dry.Available - count}
	s.render(w, r, http.StatusOK, "activation_review.html", ss.page("Review the allocation", acc, d))
}

// fleetAllocate allocates, as `airlock authority pool allocate` does after
// its question. The review's count of unallocated codes comes back with
// the form: when it changed meanwhile (another allocation, a purchase,
// the same form sent twice) nothing is allocated and the person reviews
// again.
func (s *server) fleetAllocate(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	if err := needManage(acc); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	product, pkg, count, err := fleetAllocationForm(r)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	seen, err := formNumber(r, "reviewed", "Reviewed unallocated count", anyLow, anyHigh)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	ctx, org := r.Context(), acc.Org.Name
	dry, err := ss.l.AllocateCodesIn(ctx, org, product, pkg, count, true)
	if err != nil {
		s.failIn(w, r, ss, acc, fleetRefusal(err))
		return
	}
	if dry.Available != seen {
		s.failIn(w, r, ss, acc, &pageError{status: http.StatusConflict, title: "Changed since the review",
			msg:  fmt.Sprintf("The unallocated codes of package %q were %d when you reviewed the allocation and are %d now, so nothing was allocated.", dry.Spec.Name, seen, dry.Available),
			hint: "Review the allocation again from the activation codes page."})
		return
	}
	a, err := ss.l.AllocateCodesIn(ctx, org, product, pkg, count, false)
	if err != nil {
		s.failIn(w, r, ss, acc, fleetRefusal(err))
		return
	}
	d := &fleetAllocateData{Dry: a, Count: count, Left: a.Available - count}
	s.render(w, r, http.StatusOK, "activation_allocated.html", ss.page("Codes allocated", acc, d))
}

// fleetBack answers a change made from a page by showing that page again.
func fleetBack(w http.ResponseWriter, r *http.Request, path string) {
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// fleetProductAutoRenew turns a product's auto-renew on or off.
func (s *server) fleetProductAutoRenew(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	if err := needManage(acc); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	on, err := fleetSwitch(r)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	if _, _, err := ss.l.SetProductAutoRenewIn(r.Context(), acc.Org.Name, onlyValue(r, "product"), on); err != nil {
		s.failIn(w, r, ss, acc, fleetRefusal(err))
		return
	}
	fleetBack(w, r, "/orgs/"+acc.Org.Name+"/activation#products")
}

// fleetAlertRecipient adds or removes an address that receives the alerts,
// checked as the portal checks people's addresses.
func (s *server) fleetAlertRecipient(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	if err := needManage(acc); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	var add bool
	switch onlyValue(r, "action") {
	case "add":
		add = true
	case "remove":
	default:
		s.failIn(w, r, ss, acc, fleetBadField("the action must be add or remove"))
		return
	}
	addr := strings.TrimSpace(onlyValue(r, "address"))
	if add {
		if err := authority.CheckEmail(addr); err != nil {
			s.failIn(w, r, ss, acc, err)
			return
		}
	}
	if _, err := ss.l.SetAlertRecipient(r.Context(), acc.Org.Name, addr, add); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	fleetBack(w, r, "/orgs/"+acc.Org.Name+"/activation#alerts")
}

// fleetAlertThreshold sets the codes left under which a product raises an
// alert; an empty field or "off" clears it.
func (s *server) fleetAlertThreshold(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	if err := needManage(acc); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	below := int64(-1)
	if v := strings.TrimSpace(onlyValue(r, "threshold")); v != "" && v != "off" {
		n, err := wholeNumber("Threshold", v, anyLow, anyHigh)
		if err != nil {
			s.failIn(w, r, ss, acc, err)
			return
		}
		if n < 0 {
			s.failIn(w, r, ss, acc, fleetBadField("threshold %d is negative: leave the field empty to clear it", n))
			return
		}
		below = n
	}
	if err := ss.l.SetAlertThreshold(r.Context(), acc.Org.Name, below); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	fleetBack(w, r, "/orgs/"+acc.Org.Name+"/activation#alerts")
}

// fleetBuyCodes records a purchase of codes: the library lets the vendor's
// staff only.
func (s *server) fleetBuyCodes(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	if err := needManage(acc); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	count, err := formNumber(r, "count", "Count", anyLow, anyHigh)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	var validity *authority.Validity
	if v := strings.TrimSpace(onlyValue(r, "validity")); v != "" {
		val, err := authority.ParseValidity(v)
		if err != nil {
			s.failIn(w, r, ss, acc, err)
			return
		}
		validity = &val
	}
	ctx, org := r.Context(), acc.Org.Name
	product := onlyValue(r, "product")
	if product != "" {
		p, err := ss.l.FleetProductIn(ctx, org, product)
		if err != nil {
			s.failIn(w, r, ss, acc, err)
			return
		}
		product = p.PK
	}
	if _, err := ss.l.BuyCodes(ctx, org, strings.TrimSpace(onlyValue(r, "package")), validity, count, product, strings.TrimSpace(onlyValue(r, "reference"))); err != nil {
		s.failIn(w, r, ss, acc, fleetRefusal(err))
		return
	}
	fleetBack(w, r, "/orgs/"+org+"/activation?done=bought")
}

// fleetAddProduct adds a fleet product to the organization, as
// `airlock authority pool product add` does.
func (s *server) fleetAddProduct(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	if err := needManage(acc); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	var renew bool
	switch onlyValue(r, "auto_renew") {
	case "on":
		renew = true
	case "":
	default:
		s.failIn(w, r, ss, acc, fleetBadField("auto-renew is a check box: on, or not sent"))
		return
	}
	pk, name := strings.TrimSpace(onlyValue(r, "pk")), strings.TrimSpace(onlyValue(r, "name"))
	if _, err := ss.l.AddFleetProductIn(r.Context(), acc.Org.Name, pk, name, renew); err != nil {
		s.failIn(w, r, ss, acc, fleetRefusal(err))
		return
	}
	fleetBack(w, r, "/orgs/"+acc.Org.Name+"/activation#products")
}

type fleetDeleteData struct {
	Product *authority.FleetProduct
}

// fleetDeleteProduct deletes a product, as `airlock authority pool
// product delete` does after its question: review shows the library's
// dry run and the warning, and the form that deletes; the review's
// count of remaining codes comes back with it, and when it changed
// meanwhile nothing is deleted.
func (s *server) fleetDeleteProduct(review bool) func(http.ResponseWriter, *http.Request, *session, *authority.Access) {
	return func(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
		if err := needManage(acc); err != nil {
			s.failIn(w, r, ss, acc, err)
			return
		}
		ctx, org, product := r.Context(), acc.Org.Name, onlyValue(r, "product")
		p, err := ss.l.DeleteFleetProductIn(ctx, org, product, true)
		if err != nil {
			s.failIn(w, r, ss, acc, fleetRefusal(err))
			return
		}
		if review {
			s.render(w, r, http.StatusOK, "activation_delete.html", ss.page("Review the deletion of "+p.PK, acc, &fleetDeleteData{Product: p}))
			return
		}
		seen, err := formNumber(r, "reviewed", "Reviewed remaining count", anyLow, anyHigh)
		if err != nil {
			s.failIn(w, r, ss, acc, err)
			return
		}
		if seen != p.Remaining() {
			s.failIn(w, r, ss, acc, &pageError{status: http.StatusConflict, title: "Changed since the review",
				msg:  fmt.Sprintf("Product %s had %d remaining codes when you reviewed its deletion and has %d now, so nothing was deleted.", p.PK, seen, p.Remaining()),
				hint: "Review the deletion again from the activation codes page."})
			return
		}
		if _, err := ss.l.DeleteFleetProductIn(ctx, org, p.PK, false); err != nil {
			s.failIn(w, r, ss, acc, fleetRefusal(err))
			return
		}
		fleetBack(w, r, "/orgs/"+org+"/activation#products")
	}
}

// The devices pages.

// Page sizes of the device lists, and the default.
var fleetPageSizes = []int{25, 50, 100, 200}

const fleetPageSize = 50

// fleetExpiryWeeks is how many weeks the near-expiry chart shows.
const fleetExpiryWeeks = 12

// A fleetSearch is the search form of the device lists: the flags of
// `airlock authority device list`, as the address's query.
type fleetSearch struct {
	Product, DK                string
	ActivatedFrom, ActivatedTo string // YYYY-MM-DD, as typed
	ExpiresFrom, ExpiresTo     string
	Deleted, NearExpiry        bool
	Size, Page                 int // Page from 1
	query                      authority.DeviceQuery
}

// fleetReadSearch reads the search of the address's query.
func fleetReadSearch(r *http.Request, org string, nearExpiry bool) (*fleetSearch, error) {
	q := r.URL.Query()
	get := func(k string) string { return strings.TrimSpace(q.Get(k)) }
	sr := &fleetSearch{Product: get("product"), DK: get("dk"), ActivatedFrom: get("activated_from"), ActivatedTo: get("activated_to"),
		ExpiresFrom: get("expires_from"), ExpiresTo: get("expires_to"), Deleted: get("deleted") == "on",
		NearExpiry: nearExpiry || get("near_expiry") == "on", Size: fleetPageSize, Page: 1}
	if nearExpiry {
		sr.Deleted = false // near expiry lists live devices only
	}
	var err error
	if sr.Page, sr.Size, err = pageOf(q, fleetPageSize); err != nil {
		return nil, err
	}
	sr.query = authority.DeviceQuery{Org: org, Product: sr.Product, DK: sr.DK, NearExpiry: sr.NearExpiry, IncludeDeleted: sr.Deleted, Limit: sr.Size}
	for _, f := range []struct {
		what, v string
		to      *int64
	}{
		{"First activated from", sr.ActivatedFrom, &sr.query.ActivatedFrom},
		{"First activated before", sr.ActivatedTo, &sr.query.ActivatedTo},
		{"Code ends from", sr.ExpiresFrom, &sr.query.ExpiresFrom},
		{"Code ends before", sr.ExpiresTo, &sr.query.ExpiresTo},
	} {
		if f.v == "" {
			continue
		}
		if *f.to, err = dateOrTime(f.what, f.v); err != nil {
			return nil, err
		}
	}
	return sr, nil
}

// offset is the devices before the page.
func (sr *fleetSearch) offset() (int, error) {
	off := (sr.Page - 1) * sr.Size
	if off > authority.MaxDeviceOffset {
		return 0, fleetBadField("page %d starts after device %d: at most %d devices can come before a page; narrow the search (product, dates, device key) instead", sr.Page, off, authority.MaxDeviceOffset)
	}
	return off, nil
}

// url returns the address of page n of the search at path.
func (sr *fleetSearch) url(path string, n int) string {
	v := url.Values{}
	for k, s := range map[string]string{"product": sr.Product, "dk": sr.DK, "activated_from": sr.ActivatedFrom, "activated_to": sr.ActivatedTo,
		"expires_from": sr.ExpiresFrom, "expires_to": sr.ExpiresTo} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if sr.Deleted {
		v.Set("deleted", "on")
	}
	if sr.NearExpiry && !strings.HasSuffix(path, "/near-expiry") {
		v.Set("near_expiry", "on")
	}
	if sr.Size != fleetPageSize {
		v.Set("size", strconv.Itoa(sr.Size))
	}
	if n > 1 {
		v.Set("page", strconv.Itoa(n))
	}
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

type fleetCodesLeft struct {
	PK, Name string
	Left     int64
}

type fleetDevicesData struct {
	Search    *fleetSearch
	Path      string // of this list
	Here      string // this page, search included, for the switches to come back to
	Products  []authority.FleetProduct
	Sizes     []int
	Page      *authority.DevicePage
	Prev      string // the previous page's address, or ""
	Next      string
	NearList  bool // the near-expiry page
	CodesLeft []fleetCodesLeft
	Chart     template.HTML
}

// fleetDevices lists the devices a search selects, a page at a time, as
// `airlock authority device list` does; nearExpiry makes it the list of
// `airlock authority device near-expiry`, with the chart of the coming
// weeks' expiries.
func (s *server) fleetDevices(nearExpiry bool) func(http.ResponseWriter, *http.Request, *session, *authority.Access) {
	return func(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
		ctx, org := r.Context(), acc.Org.Name
		fail := func(err error) { s.failIn(w, r, ss, acc, fleetRefusal(err)) }
		sr, err := fleetReadSearch(r, org, nearExpiry)
		if err != nil {
			fail(err)
			return
		}
		off, err := sr.offset()
		if err != nil {
			fail(err)
			return
		}
		ps, _, err := ss.l.FleetProducts(ctx, org)
		if err != nil {
			fail(err)
			return
		}
		pg, err := ss.l.DevicesIn(ctx, sr.query, off)
		if err != nil {
			fail(err)
			return
		}
		path, title := "/orgs/"+org+"/devices", "Devices"
		if nearExpiry {
			path, title = path+"/near-expiry", "Devices near expiry"
		}
		d := &fleetDevicesData{Search: sr, Path: path, Here: sr.url(path, sr.Page), Products: ps, Sizes: fleetPageSizes, Page: pg, NearList: nearExpiry}
		if sr.Page > 1 {
			d.Prev = sr.url(path, sr.Page-1)
		}
		if pg.More {
			d.Next = sr.url(path, sr.Page+1)
		}
		if nearExpiry {
			seen := map[int64]bool{}
			for _, v := range pg.Devices {
				if !seen[v.Product.ID] {
					seen[v.Product.ID] = true
					d.CodesLeft = append(d.CodesLeft, fleetCodesLeft{PK: v.Product.PK, Name: v.Product.Name, Left: v.Product.Remaining()})
				}
			}
			q := sr.query
			q.NearExpiry = false
			weeks, err := ss.l.ExpiryWeeks(ctx, q, fleetExpiryWeeks)
			if err != nil {
				fail(err)
				return
			}
			of := org
			for _, p := range ps {
				if sr.Product != "" && (p.PK == sr.Product || p.Name == sr.Product) {
					of = fmt.Sprintf("product %s (%s) of %s", p.PK, p.Name, org)
				}
			}
			c := &fleetChart{ID: "near-expiry", Title: fmt.Sprintf("Devices of %s whose code ends in each of the next %d weeks", of, fleetExpiryWeeks),
				Desc:   "Devices the search selects whose code ends in each week from now, split by whether each will renew (codes permitting) or lapse; the table below gives the same numbers.",
				Series: []fleetSeries{{"Will renew", "#0b5cad"}, {"Will lapse", "#b42318"}}, Period: "Week from"}
			for _, wk := range weeks {
				c.Groups = append(c.Groups, fleetGroup{Label: time.Unix(wk.From, 0).UTC().Format("01-02"), Long: fleetPeriodName(wk.From, wk.To), Values: []int64{wk.Renew, wk.Lapse}})
			}
			if d.Chart, err = c.html(); err != nil {
				fail(err)
				return
			}
		}
		s.render(w, r, http.StatusOK, "devices_list.html", ss.page(title, acc, d))
	}
}

type fleetHistoryData struct {
	*authority.DeviceRecord
	Here string // this page, for the switch to come back to
}

// fleetDeviceURL is the address of a device's page: the product key and
// the device key as path segments, escaped; or, when either is "." or
// "..", which a browser resolves away before it asks (escaped too: the
// URL standard reads %2e as a dot there) and the server would redirect
// away, as the query of /orgs/ORG/devices/device.
func fleetDeviceURL(org, pk, dk string) string {
	base := "/orgs/" + url.PathEscape(org) + "/devices/"
	if fleetDotSegment(pk) || fleetDotSegment(dk) {
		return base + "device?" + url.Values{"product": {pk}, "dk": {dk}}.Encode()
	}
	return base + url.PathEscape(pk) + "/" + url.PathEscape(dk)
}

// fleetDotSegment reports whether a path segment is one a URL resolves.
func fleetDotSegment(s string) bool { return s == "." || s == ".." }

// fleetDeviceHistory shows one device and every code it consumed, as
// `airlock authority device history` does. The device is the path's, or
// the query's (fleetDeviceURL).
func (s *server) fleetDeviceHistory(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	product, dk := r.PathValue("product"), r.PathValue("dk")
	if product == "" && dk == "" {
		q := r.URL.Query()
		product, dk = q.Get("product"), q.Get("dk")
	}
	rec, err := ss.l.DeviceHistoryIn(r.Context(), acc.Org.Name, product, dk)
	if err != nil {
		s.failIn(w, r, ss, acc, fleetRefusal(err))
		return
	}
	v := &rec.Device
	d := &fleetHistoryData{DeviceRecord: rec, Here: fleetDeviceURL(acc.Org.Name, v.Product.PK, v.DK)}
	s.render(w, r, http.StatusOK, "devices_history.html", ss.page("Device "+v.DK+" of "+v.Product.PK, acc, d))
}

// fleetDeviceAutoRenew turns one device's auto-renew on or off, and shows the
// page the form came from again.
func (s *server) fleetDeviceAutoRenew(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	if err := needManage(acc); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	on, err := fleetSwitch(r)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	org := acc.Org.Name
	if _, _, err := ss.l.SetDeviceAutoRenewIn(r.Context(), org, onlyValue(r, "product"), onlyValue(r, "dk"), on); err != nil {
		s.failIn(w, r, ss, acc, fleetRefusal(err))
		return
	}
	fleetBack(w, r, fleetReturn(org, onlyValue(r, "back")))
}

// fleetBlock puts a device key on its product's auto-renew blocklist or
// takes it off, as `airlock authority pool blocklist add|remove` does.
func (s *server) fleetBlock(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	if err := needManage(acc); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	var blocked bool
	switch v := onlyValue(r, "blocked"); v {
	case "on":
		blocked = true
	case "off":
	default:
		s.failIn(w, r, ss, acc, fleetBadField("blocked must be on or off, not %q", shown(v)))
		return
	}
	org := acc.Org.Name
	if _, err := ss.l.SetBlockedIn(r.Context(), org, onlyValue(r, "product"), []string{onlyValue(r, "dk")}, blocked); err != nil {
		s.failIn(w, r, ss, acc, fleetRefusal(err))
		return
	}
	fleetBack(w, r, fleetReturn(org, onlyValue(r, "back")))
}

type fleetDeviceDeleteData struct {
	*authority.DeviceRecord
}

// fleetDeleteDevice deletes a device, as `airlock authority device
// delete` does: review shows the device and the warning that its code is
// not returned, and the form that deletes; the deletion shows the
// device's page.
func (s *server) fleetDeleteDevice(review bool) func(http.ResponseWriter, *http.Request, *session, *authority.Access) {
	return func(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
		if err := needManage(acc); err != nil {
			s.failIn(w, r, ss, acc, err)
			return
		}
		ctx, org := r.Context(), acc.Org.Name
		product, dk := onlyValue(r, "product"), onlyValue(r, "dk")
		if review {
			rec, err := ss.l.DeviceHistoryIn(ctx, org, product, dk)
			if err != nil {
				s.failIn(w, r, ss, acc, fleetRefusal(err))
				return
			}
			if rec.Device.DeletedAt != 0 {
				s.failIn(w, r, ss, acc, &pageError{status: http.StatusConflict, title: "Device deleted",
					msg: fmt.Sprintf("Device %s of %s was deleted %s.", rec.Device.DK, rec.Device.Product.PK, fleetWhen(rec.Device.DeletedAt))})
				return
			}
			s.render(w, r, http.StatusOK, "devices_delete.html", ss.page("Review the deletion of "+rec.Device.DK, acc, &fleetDeviceDeleteData{rec}))
			return
		}
		d, err := ss.l.DeleteDeviceIn(ctx, org, product, dk)
		if err != nil {
			s.failIn(w, r, ss, acc, fleetRefusal(err))
			return
		}
		p, err := ss.l.FleetProductIn(ctx, org, product)
		if err != nil {
			s.failIn(w, r, ss, acc, err)
			return
		}
		fleetBack(w, r, fleetDeviceURL(org, p.PK, d.DK))
	}
}

// fleetGateways lists the organization's gateways, as `airlock
// authority gateway list` does.
func (s *server) fleetGateways(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	gws, err := ss.l.Gateways(r.Context(), acc.Org.Name)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	s.render(w, r, http.StatusOK, "devices_gateways.html", ss.page("Gateways", acc, gws))
}

type fleetRetireData struct {
	Gateway *authority.Gateway
	Reason  string
}

// fleetRetireGateway retires a gateway's key, as `airlock authority
// gateway retire` does, after a review that says what it opens.
func (s *server) fleetRetireGateway(review bool) func(http.ResponseWriter, *http.Request, *session, *authority.Access) {
	return func(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
		if err := needManage(acc); err != nil {
			s.failIn(w, r, ss, acc, err)
			return
		}
		udi, reason := onlyValue(r, "udi"), strings.TrimSpace(onlyValue(r, "reason"))
		g, err := ss.l.RetireGatewayIn(r.Context(), acc.Org.Name, udi, reason, review)
		if err != nil {
			s.failIn(w, r, ss, acc, fleetGatewayRefusal(err))
			return
		}
		if review {
			s.render(w, r, http.StatusOK, "devices_retire.html", ss.page("Review retiring the key of a gateway", acc, &fleetRetireData{Gateway: g, Reason: reason}))
			return
		}
		fleetBack(w, r, "/orgs/"+acc.Org.Name+"/devices/gateways")
	}
}

// fleetGatewayRefusal names a gateway's retired key as such, not as a
// closed reservation.
func fleetGatewayRefusal(err error) error {
	if errors.Is(err, authority.ErrClosed) {
		return &pageError{status: http.StatusConflict, title: "Key retired already",
			msg: clean(strings.TrimPrefix(err.Error(), authority.ErrClosed.Error()+": ")), hint: "The gateway's next activation request pins its key: nothing is left to do.", err: err}
	}
	return err
}

// fleetWhen formats a time as the pages do.
func fleetWhen(unix int64) string { return time.Unix(unix, 0).UTC().Format("2006-01-02 15:04 UTC") }

// fleetReturn is the page a device's switch goes back to: back when it
// is a page of the organization's devices on this portal, else the
// device list.
func fleetReturn(org, back string) string {
	list := "/orgs/" + org + "/devices"
	u, err := url.Parse(back)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		strings.ContainsAny(u.Path, "\\") || strings.Contains(u.Path, "//") ||
		(u.Path != list && !strings.HasPrefix(u.Path, list+"/")) {
		return list
	}
	// No segment that climbs out ("..") or stands for its folder (".");
	// one that starts with a dot is a device key's (".cam"), not one of
	// these.
	for _, seg := range strings.Split(u.Path, "/") {
		if fleetDotSegment(seg) {
			return list
		}
	}
	out := (&url.URL{Path: u.Path}).EscapedPath()
	if q := u.Query(); len(q) > 0 {
		out += "?" + q.Encode()
	}
	return out
}

// Charts: bar charts drawn on the server as inline SVG, with only
// presentation attributes (the CSP forbids style), from numbers, through
// html/template, which escapes every text; the numbers also go in a
// table.

type fleetSeries struct{ Name, Fill string }

// A fleetGroup is one period: a value per series.
type fleetGroup struct {
	Label  string // on the axis
	Long   string // in the table and the bars' titles
	Values []int64
}

type fleetChart struct {
	ID     string // prefix of the element ids
	Title  string
	Desc   string
	Period string // the table's first column
	Series []fleetSeries
	Groups []fleetGroup
}

// Geometry of the charts, in SVG user units.
const (
	fleetChartW, fleetChartH = 640, 260
	fleetChartLeft           = 56 // the y axis's labels
	fleetChartRight          = 8
	fleetChartTop            = 28 // the legend
	fleetChartBottom         = 28 // the x axis's labels
	fleetPlotW               = fleetChartW - fleetChartLeft - fleetChartRight
	fleetPlotH               = fleetChartH - fleetChartTop - fleetChartBottom
	fleetGroupGapPct         = 25 // of a group's width, between groups
)

type fleetSVGBar struct {
	X, Y, W, H int
	Fill       string
	Title      string
}

type fleetSVGText struct {
	X, Y int
	Text string
}

type fleetSVGLegend struct {
	X    int
	Fill string
	Name string
}

type fleetSVGTick struct {
	Y     int
	Label string
}

type fleetSVGChart struct {
	*fleetChart
	W, H, Left, Right, Top, Bottom int
	Bars                           []fleetSVGBar
	XLabels                        []fleetSVGText
	Ticks                          []fleetSVGTick
	Legend                         []fleetSVGLegend
	Empty                          bool
}

// fleetScale returns the top of the y axis: the smallest of 1, 2, 5 ×
// 10^k at or above max, at least 1.
func fleetScale(max int64) int64 {
	for s := int64(1); ; s *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if s*m >= max {
				return s * m
			}
		}
		if s > math.MaxInt64/100 {
			return max
		}
	}
}

// fleetBarHeight is the height of a bar of value v on a scale whose top is
// scale: proportional, rounded, and at least 1 for any v above 0.
func fleetBarHeight(v, scale int64) int {
	if v <= 0 {
		return 0
	}
	h := int(math.Round(float64(v) * fleetPlotH / float64(scale)))
	return max(h, 1)
}

// html draws the chart and its table.
func (c *fleetChart) html() (template.HTML, error) {
	g := &fleetSVGChart{fleetChart: c, W: fleetChartW, H: fleetChartH, Left: fleetChartLeft, Right: fleetChartW - fleetChartRight, Top: fleetChartTop, Bottom: fleetChartH - fleetChartBottom}
	var top int64
	for _, gr := range c.Groups {
		for _, v := range gr.Values {
			top = max(top, v)
		}
	}
	g.Empty = top == 0
	scale := fleetScale(top)
	g.Ticks = []fleetSVGTick{{g.Bottom, "0"}, {g.Top, strconv.FormatInt(scale, 10)}}
	if scale%2 == 0 {
		g.Ticks = append(g.Ticks, fleetSVGTick{g.Top + fleetPlotH/2, strconv.FormatInt(scale/2, 10)})
	}
	if n := len(c.Groups); n > 0 {
		groupW := fleetPlotW / n
		barW := max(groupW*(100-fleetGroupGapPct)/100/max(len(c.Series), 1), 1)
		for i, gr := range c.Groups {
			x0 := fleetChartLeft + i*groupW + groupW*fleetGroupGapPct/200
			for j, v := range gr.Values {
				h := fleetBarHeight(v, scale)
				g.Bars = append(g.Bars, fleetSVGBar{X: x0 + j*barW, Y: g.Bottom - h, W: barW, H: h, Fill: c.Series[j].Fill,
					Title: fmt.Sprintf("%s, %s: %d", c.Series[j].Name, gr.Long, v)})
			}
			g.XLabels = append(g.XLabels, fleetSVGText{X: fleetChartLeft + i*groupW + groupW/2, Y: fleetChartH - 10, Text: gr.Label})
		}
	}
	for i, sr := range c.Series {
		g.Legend = append(g.Legend, fleetSVGLegend{X: fleetChartLeft + i*150, Fill: sr.Fill, Name: sr.Name})
	}
	var buf bytes.Buffer
	if err := fleetChartTemplate.Execute(&buf, g); err != nil {
		return "", err
	}
	return template.HTML(buf.String()), nil
}

// fleetChartTemplate draws a fleetSVGChart; html/template escapes its texts (a
// product's name may be markup) in the SVG as in the table.
var fleetChartTemplate = template.Must(template.New("chart").Parse(`<figure class="chart" aria-labelledby="{{.ID}}-caption">
<figcaption id="{{.ID}}-caption">{{.Title}}</figcaption>
<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="{{.ID}}-title {{.ID}}-desc" viewBox="0 0 {{.W}} {{.H}}" width="{{.W}}" height="{{.H}}" font-family="sans-serif" font-size="11">
<title id="{{.ID}}-title">{{.Title}}</title>
<desc id="{{.ID}}-desc">{{.Desc}}</desc>
{{range .Legend}}<rect x="{{.X}}" y="6" width="12" height="12" fill="{{.Fill}}"></rect><text x="{{.X}}" y="16" dx="16" fill="#1b1f24">{{.Name}}</text>
{{end}}{{range .Ticks}}<line x1="{{$.Left}}" x2="{{$.Right}}" y1="{{.Y}}" y2="{{.Y}}" stroke="#d0d4da" stroke-width="1"></line><text x="{{$.Left}}" y="{{.Y}}" dx="-6" dy="4" text-anchor="end" fill="#1b1f24">{{.Label}}</text>
{{end}}{{range .Bars}}<rect class="bar" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}" fill="{{.Fill}}"><title>{{.Title}}</title></rect>
{{end}}{{range .XLabels}}<text x="{{.X}}" y="{{.Y}}" text-anchor="middle" fill="#1b1f24">{{.Text}}</text>
{{end}}<line x1="{{.Left}}" x2="{{.Left}}" y1="{{.Top}}" y2="{{.Bottom}}" stroke="#1b1f24" stroke-width="1"></line>
{{if .Empty}}<text x="{{.Left}}" y="{{.Top}}" dx="12" dy="40" fill="#1b1f24">Nothing in these periods.</text>
{{end}}</svg>
</figure>
<table>
<caption>{{.Title}}: the numbers</caption>
<thead><tr><th scope="col">{{.Period}}</th>{{range .Series}}<th scope="col" class="n">{{.Name}}</th>{{end}}</tr></thead>
<tbody>
{{range .Groups}}<tr><th scope="row">{{.Long}}</th>{{range .Values}}<td class="n">{{.}}</td>{{end}}</tr>
{{end}}</tbody>
</table>
`))
