package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

// The registered licenses of an organization (README runbook 14): serial
// numbers registered into license keys, their custom fields and shares,
// upgrades, vouchers of OEM partners, delegations to partners, flexible
// agreements and the download manifest of entitled release files. Each
// page calls the library as the person signed in, as `airlock authority
// register`, `license`, `upgrade`, `voucher`, `partner`, `org delegate`,
// `agreement` and `manifest` do; what only the vendor may do (issue serial
// numbers, upgrade notifications, vouchers, make agreements) is offered
// to the vendor's staff, and refused by the library to anyone else.

func (s *server) portalRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /orgs/{org}/serials", s.inOrg(s.regSerials))
	m.HandleFunc("POST /orgs/{org}/serials/review", s.inOrg(s.regRegisterReview))
	m.HandleFunc("POST /orgs/{org}/serials/register", s.inOrg(s.onceInOrg(s.regRegister)))
	m.HandleFunc("POST /orgs/{org}/serials/field", s.inOrg(s.regSetField))
	m.HandleFunc("POST /orgs/{org}/serials/issue", s.inOrg(s.onceInOrg(s.regIssueSerial)))

	m.HandleFunc("GET /orgs/{org}/upgrades", s.inOrg(s.regUpgrades))
	m.HandleFunc("POST /orgs/{org}/upgrades/review", s.inOrg(s.regUpgradeReview))
	m.HandleFunc("POST /orgs/{org}/upgrades/redeem", s.inOrg(s.onceInOrg(s.regUpgradeRedeem)))
	m.HandleFunc("POST /orgs/{org}/upgrades/issue", s.inOrg(s.onceInOrg(s.regIssueUpgrade)))

	m.HandleFunc("GET /orgs/{org}/vouchers", s.inOrg(s.regVouchers))
	m.HandleFunc("POST /orgs/{org}/vouchers/issue", s.inOrg(s.onceInOrg(s.regIssueVoucher)))
	m.HandleFunc("POST /orgs/{org}/vouchers/review", s.inOrg(s.regConvertReview))
	m.HandleFunc("POST /orgs/{org}/vouchers/convert", s.inOrg(s.onceInOrg(s.regConvert)))
	// A partner converts a voucher for an organization that did not
	// delegate to it, whose pages it may not open: the organization is a
	// field of the form there, and the library refuses one it may not
	// name in the words of one that does not exist.
	m.HandleFunc("GET /partner/vouchers", s.signedIn(s.regOutside(s.regVouchers)))
	m.HandleFunc("POST /partner/vouchers/review", s.signedIn(s.regOutside(s.regConvertReview)))
	m.HandleFunc("POST /partner/vouchers/convert", s.signedIn(s.regOutside(s.onceInOrg(s.regConvert))))

	m.HandleFunc("GET /orgs/{org}/sharing", s.inOrg(s.regSharing))
	m.HandleFunc("POST /orgs/{org}/sharing", s.inOrg(s.regShare))

	m.HandleFunc("GET /orgs/{org}/delegation", s.inOrg(s.regDelegation))
	m.HandleFunc("POST /orgs/{org}/delegation", s.inOrg(s.regDelegate))

	m.HandleFunc("GET /orgs/{org}/downloads", s.inOrg(s.regDownloads))
	m.HandleFunc("POST /orgs/{org}/downloads/manifest", s.inOrg(s.regManifest))

	m.HandleFunc("GET /orgs/{org}/agreements", s.inOrg(s.regAgreements))
	m.HandleFunc("GET /orgs/{org}/agreements/{name}", s.inOrg(s.regAgreementReport))
	m.HandleFunc("POST /orgs/{org}/agreements/review", s.inOrg(s.regDrawReview))
	m.HandleFunc("POST /orgs/{org}/agreements/draw", s.inOrg(s.onceInOrg(s.regDraw)))
	m.HandleFunc("POST /orgs/{org}/agreements/create", s.inOrg(s.regCreateAgreement))
}

func init() {
	funcs["regKeyid"] = authority.KeyID
	funcs["regDescribeKey"] = func(k authority.LicenseKey) string { return k.Describe() }
	funcs["regDescribeVoucher"] = func(v authority.Voucher) string { return v.Describe() }
	funcs["regDay"] = func(unix int64) string {
		if unix == 0 {
			return "none"
		}
		return authority.FormatDay(unix)
	}
	funcs["regCaps"] = authority.FormatAgreementCaps
	funcs["regTerm"] = func(a authority.Agreement) string { return a.Term() }
	funcs["regAgreementState"] = func(a authority.Agreement, now int64) string { return a.State(now) }
	funcs["regCapLeft"] = func(c authority.AgreementCap) int64 { return c.Left() }
	funcs["regJoin"] = strings.Join
}

// regOutside adapts a page of an organization to one outside any: acc is
// nil, and the organization is a field of the form.
func (s *server) regOutside(h func(http.ResponseWriter, *http.Request, *session, *authority.Access)) func(http.ResponseWriter, *http.Request, *session) {
	return func(w http.ResponseWriter, r *http.Request, ss *session) { h(w, r, ss, nil) }
}

// portalFail is failIn, with the refusals of typed ids (serial numbers,
// license keys, vouchers, notifications) and of agreements' terms, which
// the portal's first pages never met, mapped to their pages.
func (s *server) portalFail(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access, err error) {
	for _, c := range []struct {
		sentinel error
		status   int
		title    string
		hint     string
	}{
		{authority.ErrKeyTypo, http.StatusBadRequest, "Typo", "Check the group named above against the certificate or the message, and type it again."},
		{authority.ErrKeyMalformed, http.StatusBadRequest, "Not accepted", "Type it as printed: two letters, then groups separated by dashes."},
		{authority.ErrKeyUnknown, http.StatusNotFound, "Not found", "Check it against the certificate or the message it came in."},
		{authority.ErrOutsideTerm, http.StatusConflict, "Outside the term", "Draw during the agreement's term; the vendor makes a new agreement for another term."},
	} {
		if errors.Is(err, c.sentinel) {
			err = &pageError{status: c.status, title: c.title, msg: withoutTitle(clean(err.Error()), c.title), hint: c.hint, err: err}
			break
		}
	}
	s.failIn(w, r, ss, acc, err)
}

// regMaxYears bounds the years of a key the forms take; the library checks
// its own bound.
const regMaxYears = 100

// regDone are the notes a page shows after a change redirected to it: the
// query names one, and no input is ever shown back.
var regDone = map[string]string{
	"field":     "The field was set.",
	"unset":     "The field was removed.",
	"same":      "The field already had that value: nothing changed.",
	"shared":    "The license is shared.",
	"delegated": "The organization is delegated to the partner.",
	"revoked":   "The delegation is revoked.",
}

func (s *server) regRedirectDone(w http.ResponseWriter, r *http.Request, path, note string) {
	http.Redirect(w, r, path+"?done="+url.QueryEscape(note), http.StatusSeeOther)
}

// A regIssued is a typed id shown once: a license key, a serial number, a
// voucher or an upgrade notification.
type regIssued struct {
	What  string // "license key"
	Typed string
	ID    string // the id the ledger names it by
	About string // what it carries
}

// --- Serials and license keys ---

type regSerialsData struct {
	Licenses []authority.License
	Manages  []authority.License // those the person may change
	Filter   string              // as typed
	Done     string
}

// regManages returns the licenses of ls the person may change: every one
// for whoever manages the organization, else those shared with them as
// manager (the library lets such a person set fields and share).
func regManages(ss *session, acc *authority.Access, ls []authority.License) []authority.License {
	if acc.Manage {
		return ls
	}
	var out []authority.License
	for _, l := range ls {
		for _, sh := range l.Shares {
			if sh.Email == ss.person.Email && sh.Role == "manager" {
				out = append(out, l)
				break
			}
		}
	}
	return out
}

// regMaxFilters bounds the field filters of the licenses list.
const regMaxFilters = 8

// regSerials lists the organization's registered licenses with their fields
// (filtered by name=value as `airlock authority licenses --field`), and
// offers registering a serial number, setting fields and, to the
// vendor's staff, issuing serial numbers.
func (s *server) regSerials(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	d := &regSerialsData{Done: regDone[r.URL.Query().Get("done")], Filter: strings.TrimSpace(r.URL.Query().Get("field"))}
	var match map[string]string
	if d.Filter != "" {
		match = map[string]string{}
		// name=value pairs; a word without '=' continues the value
		// before it, so that "site=plant 4" matches "plant 4".
		var pairs [][2]string
		for _, p := range strings.Fields(d.Filter) {
			name, value, ok := strings.Cut(p, "=")
			switch {
			case ok && name != "":
				pairs = append(pairs, [2]string{name, value})
			case len(pairs) > 0 && !ok:
				pairs[len(pairs)-1][1] += " " + p
			default:
				s.portalFail(w, r, ss, acc, badField("Field filter", fmt.Sprintf("%.40q is not name=value, e.g. site=plant-4", p)))
				return
			}
		}
		if len(pairs) > regMaxFilters {
			s.portalFail(w, r, ss, acc, badField("Field filter", fmt.Sprintf("give at most %d name=value pairs", regMaxFilters)))
			return
		}
		for _, p := range pairs {
			if p[1] == "" {
				s.portalFail(w, r, ss, acc, badField("Field filter", fmt.Sprintf("%.40q has no value, e.g. %s=plant-4", p[0]+"=", p[0])))
				return
			}
			match[p[0]] = p[1]
		}
	}
	ls, err := ss.l.OrgLicenses(r.Context(), acc.Org.Name, match)
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	d.Licenses, d.Manages = ls, regManages(ss, acc, ls)
	s.render(w, r, http.StatusOK, "serials_list.html", ss.page("Serials and license keys", acc, d))
}

func regRegisterSpec(r *http.Request, org string) authority.RegisterSpec {
	return authority.RegisterSpec{
		Serial:         strings.TrimSpace(r.PostFormValue("serial")),
		Org:            org,
		Contact:        strings.TrimSpace(r.PostFormValue("contact")),
		Email:          strings.TrimSpace(r.PostFormValue("email")),
		Company:        strings.TrimSpace(r.PostFormValue("company")),
		SupportContact: strings.TrimSpace(r.PostFormValue("support_contact")),
	}
}

type regRegisterData struct {
	Spec       authority.RegisterSpec
	Registered *authority.Registered
	Key        *regIssued
}

// regRegisterReview shows what registering the serial number would do: the
// library's dry run, refusals included.
func (s *server) regRegisterReview(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	if err := needManage(acc); err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	spec := regRegisterSpec(r, acc.Org.Name)
	reg, err := ss.l.Register(r.Context(), spec, true)
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	s.render(w, r, http.StatusOK, "serials_review.html", ss.page("Review the registration", acc, &regRegisterData{Spec: spec, Registered: reg}))
}

// regRegister registers the serial number and shows the license key, once.
func (s *server) regRegister(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	if err := needManage(acc); err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	spec := regRegisterSpec(r, acc.Org.Name)
	reg, err := ss.l.Register(r.Context(), spec, false)
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	k := &regIssued{What: "license key", Typed: reg.Key, ID: reg.Record.KeyID(), About: reg.Record.Describe() + " of " + reg.Record.Software}
	s.render(w, r, http.StatusOK, "serials_registered.html", ss.page("Registered", acc, &regRegisterData{Spec: spec, Registered: reg, Key: k}))
}

// regSetField sets (or, with an empty value, removes) a custom field of a
// license of the organization.
func (s *server) regSetField(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	value := r.PostFormValue("value")
	did, err := ss.l.SetLicenseFieldIn(r.Context(), acc.Org.Name, strings.TrimSpace(r.PostFormValue("key")), strings.TrimSpace(r.PostFormValue("name")), value)
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	note := "field"
	switch {
	case !did:
		note = "same"
	case value == "":
		note = "unset"
	}
	s.regRedirectDone(w, r, "/orgs/"+acc.Org.Name+"/serials", note)
}

// regIssueSerial issues a serial number (the vendor's staff only: the
// library refuses anyone else) and shows it once.
func (s *server) regIssueSerial(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	count, err := formNumber(r, "count", "Count", 1, authority.MaxLotCount)
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	years, err := formNumberOr(r, "years", "Years", 1, regMaxYears, 1)
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	until, err := formDay(r, "support_until", "Support until", true)
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	spec := authority.SerialSpec{Software: strings.TrimSpace(r.PostFormValue("product")), Tag: strings.TrimSpace(onlyValue(r, "tag")), Count: count, Years: int(years), SupportUntil: until}
	sn, err := ss.l.IssueSerial(r.Context(), spec)
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	b, _ := authority.ParseSerial(sn)
	k := authority.LicenseKey{Software: spec.Software, Years: spec.Years, Lines: []authority.KeyLine{{Tag: spec.Tag, Count: spec.Count}}}
	about := k.Describe() + " of " + spec.Software
	if until != 0 {
		about += ", support until " + authority.FormatDay(until)
	}
	s.render(w, r, http.StatusOK, "serials_issued.html", ss.page("Serial number issued", acc,
		&regIssued{What: "serial number", Typed: sn, ID: authority.KeyID(authority.SerialHash(b)), About: about}))
}

// --- Upgrades ---

type regUpgradeData struct {
	Notification   string
	Product        string
	Quantity       int64
	SupportContact string
	Upgraded       *authority.Upgraded
	Key            *regIssued
}

func (s *server) regUpgrades(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	s.render(w, r, http.StatusOK, "upgrades_form.html", ss.page("Upgrades", acc, nil))
}

func regUpgradeForm(r *http.Request) (*regUpgradeData, error) {
	q, err := formNumber(r, "quantity", "Quantity", 1, authority.MaxLotCount)
	if err != nil {
		return nil, err
	}
	return &regUpgradeData{Notification: strings.TrimSpace(r.PostFormValue("notification")), Product: strings.TrimSpace(r.PostFormValue("product")),
		Quantity: q, SupportContact: strings.TrimSpace(r.PostFormValue("support_contact"))}, nil
}

// regUpgradeReview shows what redeeming the notification would convert and
// issue: the library's dry run.
func (s *server) regUpgradeReview(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	s.regUpgrade(w, r, ss, acc, true)
}

// regUpgradeRedeem redeems the notification and shows the new key, once.
func (s *server) regUpgradeRedeem(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	s.regUpgrade(w, r, ss, acc, false)
}

func (s *server) regUpgrade(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access, dry bool) {
	if err := needManage(acc); err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	d, err := regUpgradeForm(r)
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	d.Upgraded, err = ss.l.Upgrade(r.Context(), d.Notification, acc.Org.Name, d.Product, d.Quantity, d.SupportContact, dry)
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	if dry {
		s.render(w, r, http.StatusOK, "upgrades_review.html", ss.page("Review the upgrade", acc, d))
		return
	}
	k := d.Upgraded.Record
	d.Key = &regIssued{What: "license key", Typed: d.Upgraded.Key, ID: k.KeyID(), About: k.Describe() + " of " + k.Software}
	s.render(w, r, http.StatusOK, "upgrades_done.html", ss.page("Upgraded", acc, d))
}

// regSoftwareTag reads SOFTWARE:TAG.
func regSoftwareTag(r *http.Request, field, label string) (string, string, error) {
	v := strings.TrimSpace(r.PostFormValue(field))
	sw, tag, ok := strings.Cut(v, ":")
	if !ok || sw == "" || tag == "" {
		return "", "", badField(label, fmt.Sprintf("%.40q is not SOFTWARE:TAG, e.g. vms:vms.camera.core", v))
	}
	return sw, tag, nil
}

// regIssueUpgrade issues an upgrade notification (the vendor's staff only),
// redeemable by this organization only when asked, and shows it once.
func (s *server) regIssueUpgrade(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	fromSW, fromTag, err := regSoftwareTag(r, "from", "From")
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	toSW, toTag, err := regSoftwareTag(r, "to", "To")
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	q, err := formNumber(r, "quantity", "Quantity", 1, authority.MaxLotCount)
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	years, err := formNumberOr(r, "years", "Years", 1, regMaxYears, 1)
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	org, about := "", "any organization may redeem it"
	if r.PostFormValue("only_org") != "" {
		org, about = acc.Org.Name, "only "+acc.Org.Name+" may redeem it"
	}
	n := authority.UpgradeNotice{FromSoftware: fromSW, FromTag: fromTag, ToSoftware: toSW, ToTag: toTag, Quantity: q, Years: int(years)}
	un, err := ss.l.IssueUpgradeNotice(r.Context(), n, org)
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	b, _ := authority.ParseNotice(un)
	s.render(w, r, http.StatusOK, "upgrades_issued.html", ss.page("Upgrade notification issued", acc, &regIssued{What: "upgrade notification", Typed: un,
		ID: authority.KeyID(authority.NoticeHash(b)), About: fmt.Sprintf("up to %d %s of %q become %s of %q; %s", q, fromTag, fromSW, toTag, toSW, about)}))
}

// --- Vouchers ---

type regVouchersData struct {
	Partner  string // whose vouchers and keys are listed
	Vouchers []authority.Voucher
	Keys     []authority.PartnerKey
	Base     string // the pages' path: /orgs/ORG/vouchers or /partner/vouchers
	Convert  bool   // the person may convert vouchers
}

func regVouchersBase(acc *authority.Access) string {
	if acc == nil {
		return "/partner/vouchers"
	}
	return "/orgs/" + acc.Org.Name + "/vouchers"
}

// regVouchers shows, to the vendor's staff, the form that issues a voucher
// to an OEM partner and the vouchers and keys of the partner asked for;
// to a partner's people, the form that converts a voucher and what their
// partner has to deliver (`airlock authority partner keys`). A
// customer's people see none.
func (s *server) regVouchers(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	p := ss.person
	d := &regVouchersData{Base: regVouchersBase(acc), Partner: strings.TrimSpace(r.URL.Query().Get("partner"))}
	switch p.Role {
	case authority.RolePartner:
		d.Partner, d.Convert = p.Partner, true
	case authority.RoleVendor:
		d.Convert = true
	}
	if d.Partner != "" {
		var err error
		if d.Vouchers, err = ss.l.Vouchers(r.Context(), d.Partner); err != nil {
			s.portalFail(w, r, ss, acc, err)
			return
		}
		if d.Keys, err = ss.l.PartnerKeys(r.Context(), d.Partner); err != nil {
			s.portalFail(w, r, ss, acc, err)
			return
		}
	}
	s.render(w, r, http.StatusOK, "vouchers_list.html", ss.page("Vouchers", acc, d))
}

// regIssueVoucher issues a voucher to an OEM partner (the vendor's staff
// only) and shows it once.
func (s *server) regIssueVoucher(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	count, err := formNumber(r, "count", "Count", 1, authority.MaxLotCount)
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	years, err := formNumberOr(r, "years", "Years", 1, regMaxYears, 1)
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	spec := authority.VoucherSpec{OEM: strings.TrimSpace(r.PostFormValue("oem")), Software: strings.TrimSpace(r.PostFormValue("product")),
		Tag: strings.TrimSpace(onlyValue(r, "tag")), Count: count, Years: int(years)}
	v, err := ss.l.IssueVoucher(r.Context(), spec)
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	s.render(w, r, http.StatusOK, "vouchers_issued.html", ss.page("Voucher issued", acc, &regIssued{What: "voucher code", Typed: v.Code,
		ID: v.Record.VoucherID(), About: fmt.Sprintf("%s of %q, for OEM partner %s", v.Record.Describe(), v.Record.Software, v.Record.OEM)}))
}

type regConvertData struct {
	Base      string
	Spec      authority.ConvertSpec
	Converted *authority.Converted
	Key       *regIssued
}

func regConvertSpec(r *http.Request, acc *authority.Access) authority.ConvertSpec {
	org := strings.TrimSpace(r.PostFormValue("org"))
	if acc != nil {
		org = acc.Org.Name
	}
	return authority.ConvertSpec{
		Voucher:        strings.TrimSpace(r.PostFormValue("voucher")),
		Org:            org,
		Contact:        strings.TrimSpace(r.PostFormValue("contact")),
		Email:          strings.TrimSpace(r.PostFormValue("email")),
		Company:        strings.TrimSpace(r.PostFormValue("company")),
		SupportContact: strings.TrimSpace(r.PostFormValue("support_contact")),
	}
}

// regConvertReview shows what converting the voucher would do: the
// library's dry run, which refuses anyone but the voucher's OEM and the
// vendor.
func (s *server) regConvertReview(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	s.regConvertVoucher(w, r, ss, acc, true)
}

// regConvert converts the voucher and shows the license key, once, for the
// partner to hand to the end customer.
func (s *server) regConvert(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	s.regConvertVoucher(w, r, ss, acc, false)
}

func (s *server) regConvertVoucher(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access, dry bool) {
	d := &regConvertData{Base: regVouchersBase(acc), Spec: regConvertSpec(r, acc)}
	if acc == nil {
		if err := authority.CheckName("organization", d.Spec.Org); err != nil {
			s.portalFail(w, r, ss, acc, err)
			return
		}
	}
	var err error
	d.Converted, err = ss.l.ConvertVoucher(r.Context(), d.Spec, dry)
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	if dry {
		s.render(w, r, http.StatusOK, "vouchers_review.html", ss.page("Review the conversion", acc, d))
		return
	}
	k := d.Converted.Record
	d.Key = &regIssued{What: "license key", Typed: d.Converted.Key, ID: k.KeyID(), About: k.Describe() + " of " + k.Software}
	s.render(w, r, http.StatusOK, "vouchers_converted.html", ss.page("Voucher converted", acc, d))
}

// --- Sharing ---

type regSharingData struct {
	Licenses []authority.License
	Manages  []authority.License // those the person may share
	Done     string
}

// regSharing lists the organization's licenses and whom each is shared
// with, and offers sharing one.
func (s *server) regSharing(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	ls, err := ss.l.OrgLicenses(r.Context(), acc.Org.Name, nil)
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	s.render(w, r, http.StatusOK, "sharing_list.html", ss.page("Sharing", acc, &regSharingData{Licenses: ls, Manages: regManages(ss, acc, ls), Done: regDone[r.URL.Query().Get("done")]}))
}

// regShare shares a license of the organization with a person of it, as
// viewer or manager.
func (s *server) regShare(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	err := ss.l.ShareLicenseIn(r.Context(), acc.Org.Name, strings.TrimSpace(r.PostFormValue("key")), strings.TrimSpace(r.PostFormValue("email")), r.PostFormValue("role"))
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	s.regRedirectDone(w, r, "/orgs/"+acc.Org.Name+"/sharing", "shared")
}

// --- Delegation ---

type regDelegationData struct {
	Delegations []authority.Delegation
	Delegates   bool // the person may delegate: manages, and is not a partner
	Done        string
}

func (s *server) regDelegation(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	ds, err := ss.l.OrgDelegations(r.Context(), acc.Org.Name)
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	s.render(w, r, http.StatusOK, "delegation_list.html", ss.page("Delegation", acc, &regDelegationData{Delegations: ds, Delegates: acc.Manage && ss.person.Role != authority.RolePartner, Done: regDone[r.URL.Query().Get("done")]}))
}

// regDelegate delegates the organization's management to a partner, or
// revokes that (action "revoke"); the library lets only its
// administrators and the vendor's staff.
func (s *server) regDelegate(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	var revoke bool
	switch r.PostFormValue("action") {
	case "delegate":
	case "revoke":
		revoke = true
	default:
		s.portalFail(w, r, ss, acc, badField("Action", "want delegate or revoke"))
		return
	}
	if err := ss.l.Delegate(r.Context(), acc.Org.Name, strings.TrimSpace(r.PostFormValue("partner")), revoke); err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	note := "delegated"
	if revoke {
		note = "revoked"
	}
	s.regRedirectDone(w, r, "/orgs/"+acc.Org.Name+"/delegation", note)
}

// --- Downloads ---

// regMaxManifestDays bounds a manifest's validity: ten years, as the
// command line's --valid-days.
const regMaxManifestDays = 3660

func (s *server) regDownloads(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	rs, err := ss.l.EntitledReleases(r.Context(), acc.Org.Name)
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	s.render(w, r, http.StatusOK, "downloads_list.html", ss.page("Downloads", acc, rs))
}

// regManifest signs the organization's download manifest, as `airlock
// authority manifest`, and serves it as an armored file.
func (s *server) regManifest(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	var expires time.Time
	if strings.TrimSpace(r.PostFormValue("valid_days")) != "" {
		days, err := formNumber(r, "valid_days", "Valid for days", 1, regMaxManifestDays)
		if err != nil {
			s.portalFail(w, r, ss, acc, err)
			return
		}
		expires = s.opts.Now().Add(time.Duration(days) * 24 * time.Hour)
	}
	code, _, err := ss.l.Manifest(r.Context(), acc.Org.Name, expires)
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+acc.Org.Name+`.manifest.airlock"`)
	w.Header().Set("X-Airlock-Code-Hash", codeHash(code))
	w.WriteHeader(http.StatusOK)
	w.Write(codes.EncodeArmor(codes.KindManifest, code))
}

// --- Agreements ---

type regAgreementsData struct {
	Agreements []authority.Agreement
	Now        int64
}

func (s *server) regAgreements(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	as, err := ss.l.Agreements(r.Context(), acc.Org.Name)
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	s.render(w, r, http.StatusOK, "agreements_list.html", ss.page("Agreements", acc, &regAgreementsData{Agreements: as, Now: s.opts.Now().Unix()}))
}

// regAgreementReport shows what the organization drew under an agreement,
// for the true-up.
func (s *server) regAgreementReport(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	rep, err := ss.l.ReportAgreement(r.Context(), acc.Org.Name, r.PathValue("name"))
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	s.render(w, r, http.StatusOK, "agreements_report.html", ss.page("Agreement "+rep.Agreement.Name, acc, rep))
}

type regDrawData struct {
	Spec      authority.DrawSpec
	Agreement *authority.Agreement
	Cap       *authority.AgreementCap
	Drawn     *authority.Drawn
	Key       *regIssued
}

func regDrawSpec(r *http.Request, org string) (authority.DrawSpec, error) {
	count, err := formNumber(r, "count", "Count", 1, authority.MaxLotCount)
	if err != nil {
		return authority.DrawSpec{}, err
	}
	years, err := formNumberOr(r, "years", "Years", 1, regMaxYears, 1)
	if err != nil {
		return authority.DrawSpec{}, err
	}
	return authority.DrawSpec{Org: org, Agreement: strings.TrimSpace(r.PostFormValue("agreement")), Tag: strings.TrimSpace(onlyValue(r, "tag")),
		Count: count, Years: int(years)}, nil
}

// regDrawReview shows the draw asked for beside what the agreement has left
// of the tag, as the library lists it; the draw itself checks the term
// and the cap in its transaction.
func (s *server) regDrawReview(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	if err := needManage(acc); err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	spec, err := regDrawSpec(r, acc.Org.Name)
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	as, err := ss.l.Agreements(r.Context(), acc.Org.Name)
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	d := &regDrawData{Spec: spec}
	for i := range as {
		if as[i].Name == spec.Agreement {
			d.Agreement = &as[i]
			d.Cap = as[i].Cap(spec.Tag)
		}
	}
	if d.Agreement == nil {
		s.portalFail(w, r, ss, acc, fmt.Errorf("%w: %q has no agreement %q", authority.ErrNoAgreement, acc.Org.Name, spec.Agreement))
		return
	}
	if d.Cap == nil {
		s.portalFail(w, r, ss, acc, fmt.Errorf("%w: agreement %q of %q caps no %q, only %s", authority.ErrNotCapped, spec.Agreement, acc.Org.Name, spec.Tag, authority.FormatAgreementCaps(d.Agreement.Caps)))
		return
	}
	s.render(w, r, http.StatusOK, "agreements_review.html", ss.page("Review the draw", acc, d))
}

// regDraw draws licenses under the agreement and shows the key, once.
func (s *server) regDraw(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	if err := needManage(acc); err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	spec, err := regDrawSpec(r, acc.Org.Name)
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	dr, err := ss.l.DrawAgreement(r.Context(), spec)
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	k := dr.Record
	d := &regDrawData{Spec: spec, Drawn: dr, Agreement: &dr.Agreement, Cap: dr.Agreement.Cap(spec.Tag),
		Key: &regIssued{What: "license key", Typed: dr.Key, ID: k.KeyID(), About: k.Describe() + " of " + k.Software}}
	s.render(w, r, http.StatusOK, "agreements_drawn.html", ss.page("Drawn", acc, d))
}

// regMaxCapLines bounds the caps a form of a new agreement gives.
const regMaxCapLines = authority.MaxAgreementCaps

// regCreateAgreement makes an agreement of the organization (the vendor's
// staff only).
func (s *server) regCreateAgreement(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	from, err := formDay(r, "from", "First day", false)
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	to, err := formDay(r, "to", "Day after the last", false)
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	lines := strings.Fields(r.PostFormValue("caps"))
	if len(lines) > regMaxCapLines {
		s.portalFail(w, r, ss, acc, badField("Caps", fmt.Sprintf("give at most %d", regMaxCapLines)))
		return
	}
	var caps []authority.AgreementCap
	for _, ln := range lines {
		c, err := authority.ParseAgreementCap(ln)
		if err != nil {
			s.portalFail(w, r, ss, acc, err)
			return
		}
		caps = append(caps, c)
	}
	ag, err := ss.l.CreateAgreement(r.Context(), authority.AgreementSpec{Org: acc.Org.Name, Name: strings.TrimSpace(r.PostFormValue("name")), From: from, To: to, Caps: caps})
	if err != nil {
		s.portalFail(w, r, ss, acc, err)
		return
	}
	http.Redirect(w, r, "/orgs/"+acc.Org.Name+"/agreements/"+url.PathEscape(ag.Name), http.StatusSeeOther)
}
