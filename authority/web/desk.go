package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

// The desk: the vendor support's own pages, for the set-up that runbooks
// 1, 11 and 14 do with `airlock authority org|account|lot|person|key|
// verify`. Every page is the library call of that command, as the person
// signed in; the library refuses whoever is not the vendor's. The pages
// also refuse such a person before they show any form or name any
// organization, in the same words for everyone who is not the vendor's.

// deskLink is an entry of the desk's own menu.
type deskLink struct{ Path, Name string }

var deskLinks = []deskLink{
	{"/desk", "Overview"},
	{"/desk/accounts", "Accounts"},
	{"/desk/lots", "Add licenses"},
	{"/desk/people", "People"},
	{"/desk/keys", "License keys"},
	{"/desk/tiers", "Tier ladders"},
	{"/desk/satellites", "Satellites"},
	{"/desk/verify", "Verify the ledger"},
}

// maxDeskKeys caps the license keys one form issues: each is shown once,
// on one page, and must be copied from it.
const maxDeskKeys = 50

// maxDeskCount bounds the numbers a desk form reads before the library
// checks them: larger than any the library accepts, small enough to
// print.
const maxDeskCount = 1 << 40

func init() {
	funcs["deskLinks"] = func() []deskLink { return deskLinks }
	funcs["deskKinds"] = func() []string { return []string{"perpetual", "term", "subscription", "hardware"} }
}

func (s *server) deskRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /desk", s.atDesk(s.deskHome))
	m.HandleFunc("POST /desk/orgs", s.atDesk(s.deskAddOrg))
	m.HandleFunc("GET /desk/accounts", s.atDesk(s.deskAccounts))
	m.HandleFunc("POST /desk/accounts", s.atDesk(s.deskAddAccount))
	m.HandleFunc("POST /desk/accounts/limit", s.atDesk(s.deskSetLimit))
	m.HandleFunc("POST /desk/accounts/export", s.atDesk(s.deskSetExport))
	m.HandleFunc("GET /desk/lots", s.atDesk(s.deskLots))
	m.HandleFunc("POST /desk/lots/review", s.atDesk(s.deskLotReview))
	m.HandleFunc("POST /desk/lots", s.atDesk(s.deskAddLot))
	m.HandleFunc("GET /desk/lots/added", s.atDesk(s.deskLotAdded))
	m.HandleFunc("GET /desk/people", s.atDesk(s.deskPeople))
	m.HandleFunc("POST /desk/people", s.atDesk(s.deskAddPerson))
	m.HandleFunc("POST /desk/people/password", s.atDesk(s.deskSetPassword))
	m.HandleFunc("GET /desk/keys", s.atDesk(s.deskKeyForm))
	m.HandleFunc("POST /desk/keys", s.atDesk(s.onceAtDesk(s.deskIssueKeys)))
	m.HandleFunc("GET /desk/verify", s.atDesk(s.deskVerifyForm))
	m.HandleFunc("POST /desk/verify", s.atDesk(s.deskVerify))
}

var errDeskDenied = fmt.Errorf("%w: the desk is for the vendor's support staff", authority.ErrDenied)

// atDesk runs h for a person signed in with the vendor role. Anyone else
// gets the same 403 page, which names no organization; the library
// checks the role again in every call h makes.
func (s *server) atDesk(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return s.signedIn(func(w http.ResponseWriter, r *http.Request, ss *session) {
		if ss.person.Role != authority.RoleVendor {
			s.fail(w, r, ss, &pageError{status: http.StatusForbidden, title: "Not allowed",
				msg:  "The desk is for the vendor's support staff.",
				hint: "Your organizations' pages are under Organizations, at the top left.", err: errDeskDenied})
			return
		}
		h(w, r, ss)
	})
}

// A deskData is what a page of the desk shows: the menu's current entry,
// the ledger as the vendor sees it, and the page's own part.
type deskData struct {
	Here string
	View *authority.DeskView

	// The overview.
	OrgRows []deskOrgRow
	Total   deskTotals

	People []authority.Person

	Review  *authority.LotReview
	Lot     *deskLotForm
	Keys    []*authority.IssuedKey
	KeyFail string // why issuing stopped, when some keys were issued

	Verified *authority.VerifyReport
	Failed   string // the verification's failure, in its words
	Meta     *authority.Meta

	Done string     // a change done, in words
	Next []deskLink // pages to go on to
}

type deskOrgRow struct {
	Org      authority.Org
	Accounts int
	deskTotals
}

type deskTotals struct {
	Orgs, Accounts, People                   int
	Owned, Available, Reserved, InTransition int64
}

func (t *deskTotals) add(b authority.Balance) {
	t.Owned += b.Owned
	t.Available += b.Available
	t.Reserved += b.Reserved
	t.InTransition += b.InTransition
}

// deskPage loads what every page of the desk shows: the organizations
// and accounts, from one library call that refuses any but the vendor.
func (s *server) deskPage(w http.ResponseWriter, r *http.Request, ss *session, here string) (*deskData, bool) {
	v, err := ss.l.Desk(r.Context())
	if err != nil {
		s.fail(w, r, ss, err)
		return nil, false
	}
	return &deskData{Here: here, View: v}, true
}

func (s *server) deskHome(w http.ResponseWriter, r *http.Request, ss *session) {
	d, ok := s.deskPage(w, r, ss, "/desk")
	if !ok {
		return
	}
	people, err := ss.l.People(r.Context(), "")
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	rows := map[int64]*deskOrgRow{}
	for _, o := range d.View.Orgs {
		d.OrgRows = append(d.OrgRows, deskOrgRow{Org: o})
	}
	for i := range d.OrgRows {
		rows[d.OrgRows[i].Org.ID] = &d.OrgRows[i]
	}
	orgOf := map[string]int64{}
	for _, a := range d.View.Accounts {
		orgOf[a.Ref()] = a.OrgID
		if row := rows[a.OrgID]; row != nil {
			row.Accounts++
		}
	}
	for _, b := range d.View.Balances {
		if row := rows[orgOf[b.Account]]; row != nil {
			row.add(b)
		}
		d.Total.add(b)
	}
	d.Total.Orgs, d.Total.Accounts, d.Total.People = len(d.View.Orgs), len(d.View.Accounts), len(people)
	s.render(w, r, http.StatusOK, "desk.html", ss.page("The desk", nil, d))
}

// deskDone shows a change done.
func (s *server) deskDone(w http.ResponseWriter, r *http.Request, ss *session, title, done string, next ...deskLink) {
	s.render(w, r, http.StatusOK, "desk_done.html", ss.page(title, nil, &deskData{Done: done, Next: next}))
}

func (s *server) deskAddOrg(w http.ResponseWriter, r *http.Request, ss *session) {
	o, err := ss.l.AddOrg(r.Context(), r.PostFormValue("org"))
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	s.deskDone(w, r, ss, "Organization added", fmt.Sprintf("Organization %q added. Give it a virtual account next, then licenses.", o.Name), deskLink{"/desk/accounts", "Add an account"}, deskLink{"/orgs/" + o.Name + "/licenses", "Licenses of " + o.Name})
}

func (s *server) deskAccounts(w http.ResponseWriter, r *http.Request, ss *session) {
	d, ok := s.deskPage(w, r, ss, "/desk/accounts")
	if !ok {
		return
	}
	s.render(w, r, http.StatusOK, "desk_accounts.html", ss.page("Accounts", nil, d))
}

func (s *server) deskAddAccount(w http.ResponseWriter, r *http.Request, ss *session) {
	n, err := formNumberOr(r, "limit", "Removal limit", 0, maxDeskCount, authority.DefaultRemovalLimit)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	a, err := ss.l.AddAccount(r.Context(), r.PostFormValue("org"), r.PostFormValue("name"), int(n))
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	s.deskDone(w, r, ss, "Account added", fmt.Sprintf("Account %q added, at most %d removals without a return per 365 days.", a.Ref(), a.RemovalLimit), deskLink{"/desk/lots?account=" + a.Ref(), "Add licenses to " + a.Ref()}, deskLink{"/desk/accounts", "Accounts"})
}

func (s *server) deskSetLimit(w http.ResponseWriter, r *http.Request, ss *session) {
	if strings.TrimSpace(r.PostFormValue("limit")) == "" {
		s.fail(w, r, ss, badField("Removal limit", "give a number"))
		return
	}
	n, err := formNumberOr(r, "limit", "Removal limit", 0, maxDeskCount, 0)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	ref := onlyValue(r, "account")
	if err := ss.l.SetRemovalLimit(r.Context(), ref, int(n)); err != nil {
		s.fail(w, r, ss, err)
		return
	}
	s.deskDone(w, r, ss, "Removal limit set", fmt.Sprintf("The removal limit of %q is %d per 365 days.", ref, n), deskLink{"/desk/accounts", "Accounts"})
}

func (s *server) deskSetExport(w http.ResponseWriter, r *http.Request, ss *session) {
	var allow bool
	switch r.PostFormValue("export") {
	case "allow":
		allow = true
	case "deny":
	default:
		s.fail(w, r, ss, badField("Export-controlled licenses", "choose allow or deny"))
		return
	}
	ref := onlyValue(r, "account")
	if err := ss.l.SetExportAllowed(r.Context(), ref, allow); err != nil {
		s.fail(w, r, ss, err)
		return
	}
	word := map[bool]string{true: "allowed", false: "denied"}[allow]
	s.deskDone(w, r, ss, "Export control set", fmt.Sprintf("Export-controlled licenses of %q are %s.", ref, word), deskLink{"/desk/accounts", "Accounts"})
}

// A deskLotForm is the lot form as sent, to fill the review's hidden
// fields and the form again.
type deskLotForm struct {
	Account, Tag, Count, Kind, Start, End, Origin string
	Export                                        bool
}

func deskLotFormOf(r *http.Request) *deskLotForm {
	return &deskLotForm{Account: onlyValue(r, "account"), Tag: strings.TrimSpace(onlyValue(r, "tag")),
		Count: strings.TrimSpace(onlyValue(r, "count")), Kind: r.PostFormValue("kind"),
		Start: strings.TrimSpace(r.PostFormValue("start")), End: strings.TrimSpace(r.PostFormValue("end")),
		Origin: r.PostFormValue("origin"), Export: r.PostFormValue("export") == "yes"}
}

// spec reads the form as `airlock authority lot add` reads its flags:
// dates are whole days UTC, the end included.
func (f *deskLotForm) spec() (authority.LotSpec, error) {
	sp := authority.LotSpec{Account: f.Account, Tag: f.Tag, ExportControlled: f.Export, Origin: f.Origin}
	if f.Count == "" {
		return sp, badField("Count", "give the number of licenses")
	}
	n, err := wholeNumber("Count", f.Count, 1, authority.MaxLotCount)
	if err != nil {
		return sp, err
	}
	sp.Count = n
	switch f.Kind {
	case "perpetual", "":
		sp.Kind = codes.Perpetual
	case "term":
		sp.Kind = codes.Term
	case "subscription":
		sp.Kind = codes.Subscription
	case "hardware":
		sp.Kind = codes.Hardware
	default:
		return sp, badField("Kind", "choose perpetual, term, subscription or hardware")
	}
	if f.Start == "" && f.End == "" {
		if sp.Kind == codes.Term || sp.Kind == codes.Subscription {
			return sp, badField("Dates", "a "+sp.Kind.String()+" needs a start and an end date")
		}
		return sp, nil
	}
	if sp.Kind == codes.Perpetual {
		return sp, badField("Dates", "perpetual licenses have no dates: leave them empty, or choose a term")
	}
	start, err := date("Start", f.Start)
	if err != nil {
		return sp, err
	}
	end, err := date("End", f.End)
	if err != nil {
		return sp, err
	}
	end = end.AddDate(0, 0, 1) // the end day is included
	if !end.After(start) {
		return sp, badField("Dates", "the end is before the start")
	}
	sp.Start, sp.End = start.Unix(), end.Unix()
	return sp, nil
}

func (s *server) deskLots(w http.ResponseWriter, r *http.Request, ss *session) {
	d, ok := s.deskPage(w, r, ss, "/desk/lots")
	if !ok {
		return
	}
	d.Lot = &deskLotForm{Account: r.URL.Query().Get("account"), Kind: "perpetual"}
	s.render(w, r, http.StatusOK, "desk_lots.html", ss.page("Add licenses", nil, d))
}

// deskLotReview shows what the lot would do to the account's balances,
// through the library's dry run, before anything is added.
func (s *server) deskLotReview(w http.ResponseWriter, r *http.Request, ss *session) {
	f := deskLotFormOf(r)
	sp, err := f.spec()
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	rv, err := ss.l.ReviewLot(r.Context(), sp)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	d := &deskData{Here: "/desk/lots", Review: rv, Lot: f}
	s.render(w, r, http.StatusOK, "desk_lot_review.html", ss.page("Review the licenses", nil, d))
}

// deskAddLot adds the lot and redirects to the page that shows it, so
// that reloading that page adds nothing more.
func (s *server) deskAddLot(w http.ResponseWriter, r *http.Request, ss *session) {
	sp, err := deskLotFormOf(r).spec()
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	lot, err := ss.l.AddLot(r.Context(), sp)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	q := url.Values{"account": {sp.Account}, "lot": {strconv.FormatInt(lot.ID, 10)}}
	http.Redirect(w, r, "/desk/lots/added?"+q.Encode(), http.StatusSeeOther)
}

// deskLotAdded shows a lot of an account, as the library returns it.
func (s *server) deskLotAdded(w http.ResponseWriter, r *http.Request, ss *session) {
	ref := r.URL.Query().Get("account")
	id, err := wholeNumber("Lot", r.URL.Query().Get("lot"), 1, anyHigh)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	bs, err := ss.l.Licenses(r.Context(), ref)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	for _, b := range bs {
		for _, lot := range b.Lots {
			if lot.ID == id {
				org, _, _ := strings.Cut(ref, "/")
				s.deskDone(w, r, ss, "Licenses added", fmt.Sprintf("Lot %d: %d %s (%s) added to %q: %s.", lot.ID, lot.Initial, lot.Tag, deskLotWords(&lot), ref, lot.Origin),
					deskLink{"/orgs/" + org + "/licenses", "Licenses of " + org}, deskLink{"/desk/lots", "Add more licenses"})
				return
			}
		}
	}
	s.fail(w, r, ss, fmt.Errorf("%w: account %q has no lot %d", authority.ErrNotFound, ref, id))
}

// deskLotWords says a lot's kind, dates and export flag, as the command line
// does.
func deskLotWords(l *authority.Lot) string {
	s := l.Kind.String()
	if l.Start != 0 || l.End != 0 {
		s += " " + codes.FormatTime(l.Start) + ".." + codes.FormatTime(l.End)
	}
	if l.ExportControlled {
		s += ", export-controlled"
	}
	return s
}

func (s *server) deskPeople(w http.ResponseWriter, r *http.Request, ss *session) {
	d, ok := s.deskPage(w, r, ss, "/desk/people")
	if !ok {
		return
	}
	people, err := ss.l.People(r.Context(), "")
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	d.People = people
	s.render(w, r, http.StatusOK, "desk_people.html", ss.page("People", nil, d))
}

func (s *server) deskAddPerson(w http.ResponseWriter, r *http.Request, ss *session) {
	p := authority.Person{Email: strings.TrimSpace(r.PostFormValue("email")), Name: r.PostFormValue("name"), Role: r.PostFormValue("role")}
	switch p.Role {
	case authority.RoleAdmin, authority.RoleViewer:
		p.Org = r.PostFormValue("org")
		if p.Org == "" {
			s.fail(w, r, ss, badField("Organization", "an administrator or a viewer belongs to an organization: choose it"))
			return
		}
	case authority.RolePartner:
		p.Partner = strings.TrimSpace(r.PostFormValue("partner"))
		if p.Partner == "" {
			s.fail(w, r, ss, badField("Partner", "a partner's person needs the partner's name"))
			return
		}
	}
	got, err := ss.l.AddPerson(r.Context(), p)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	s.deskDone(w, r, ss, "Person added", fmt.Sprintf("%s (%s) added as %s. Set their password on People so that they can sign in.", got.Email, got.Name, describeRole(got)), deskLink{"/desk/people", "People"})
}

var errDeskPasswordsDiffer = &pageError{status: http.StatusBadRequest, title: "Not accepted",
	msg: "The two passwords differ, so none was set.", hint: "Type the same password in both boxes."}

// deskSetPassword sets a person's password as `airlock authority person
// password` does: typed twice, checked, hashed with the default
// parameters. The password is never shown again, nor put in a message.
func (s *server) deskSetPassword(w http.ResponseWriter, r *http.Request, ss *session) {
	email := strings.TrimSpace(onlyValue(r, "email"))
	if err := setPasswordOf(r, ss, email); err != nil {
		s.fail(w, r, ss, err)
		return
	}
	done := fmt.Sprintf("%s can sign in to the portal with the new password; their sessions ended.", email)
	if strings.EqualFold(email, ss.person.Email) {
		done += " That was your own: sign in again."
	}
	s.deskDone(w, r, ss, "Password set", done, deskLink{"/desk/people", "People"})
}

func (s *server) deskKeyForm(w http.ResponseWriter, r *http.Request, ss *session) {
	d, ok := s.deskPage(w, r, ss, "/desk/keys")
	if !ok {
		return
	}
	s.render(w, r, http.StatusOK, "desk_keys.html", ss.page("License keys", nil, d))
}

// keySpec reads the key form as `airlock authority key issue` reads its
// flags: a license key has one tag and a count; an extension key lines of
// TAG=N.
func deskKeySpec(r *http.Request) (authority.KeySpec, int, error) {
	sp := authority.KeySpec{Software: strings.TrimSpace(r.PostFormValue("software")), Extension: r.PostFormValue("kind") == "extension"}
	n, err := formNumberOr(r, "keys", "Number of keys", 0, maxDeskCount, 1)
	if err != nil {
		return sp, 0, err
	}
	if n < 1 || n > maxDeskKeys {
		return sp, 0, badField("Number of keys", fmt.Sprintf("issue 1 to %d keys at a time", maxDeskKeys))
	}
	if k := r.PostFormValue("kind"); k != "key" && k != "extension" {
		return sp, 0, badField("Kind", "choose a license key or an extension key")
	}
	if sp.Extension {
		if strings.TrimSpace(r.PostFormValue("years")) != "" && strings.TrimSpace(r.PostFormValue("years")) != "1" {
			return sp, 0, badField("Years", "an extension key carries hardware licenses, which are not counted in years: leave it empty")
		}
		for i, line := range strings.Split(r.PostFormValue("lines"), "\n") {
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			tag, v, ok := strings.Cut(line, "=")
			c, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if !ok || err != nil || c < 1 || c > maxDeskCount {
				return sp, 0, badField("Tags and counts", fmt.Sprintf("line %d, %q, is not TAG=N", i+1, clean(line)))
			}
			sp.Lines = append(sp.Lines, authority.KeyLine{Tag: strings.TrimSpace(tag), Count: c})
		}
		if len(sp.Lines) == 0 {
			return sp, 0, badField("Tags and counts", "give one TAG=N line for each tag, e.g. vms.camera.hw=2")
		}
		return sp, int(n), nil
	}
	c, err := formNumberOr(r, "count", "Count", 0, maxDeskCount, 0)
	if err != nil {
		return sp, 0, err
	}
	y, err := formNumberOr(r, "years", "Years", 0, maxDeskCount, 1)
	if err != nil {
		return sp, 0, err
	}
	if y < 1 || y > authority.MaxKeyYears {
		return sp, 0, badField("Years", fmt.Sprintf("a key covers 1 to %d years", authority.MaxKeyYears))
	}
	sp.Years = int(y)
	sp.Lines = []authority.KeyLine{{Tag: strings.TrimSpace(onlyValue(r, "tag")), Count: c}}
	return sp, int(n), nil
}

// deskIssueKeys issues license keys, one library call each, and shows
// them once. When one fails, the keys issued before it are shown with
// the refusal: they exist, and this page is the only place they appear.
func (s *server) deskIssueKeys(w http.ResponseWriter, r *http.Request, ss *session) {
	sp, n, err := deskKeySpec(r)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	d := &deskData{Here: "/desk/keys"}
	for range n {
		k, err := ss.l.IssueKey(r.Context(), sp)
		if err != nil {
			if len(d.Keys) == 0 {
				s.fail(w, r, ss, err)
				return
			}
			pe := classify(err)
			if pe.status >= 500 && s.opts.Log != nil {
				s.opts.Log(r, err)
			}
			d.KeyFail = pe.msg
			break
		}
		d.Keys = append(d.Keys, k)
	}
	title := "License key issued"
	if len(d.Keys) > 1 {
		title = fmt.Sprintf("%d license keys issued", len(d.Keys))
	}
	s.render(w, r, http.StatusOK, "desk_issued.html", ss.page(title, nil, d))
}

func (s *server) deskVerifyForm(w http.ResponseWriter, r *http.Request, ss *session) {
	if _, ok := s.deskPage(w, r, ss, "/desk/verify"); !ok {
		return
	}
	m, err := ss.l.Meta(r.Context())
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	s.render(w, r, http.StatusOK, "desk_verify.html", ss.page("Verify the ledger", nil, &deskData{Here: "/desk/verify", Meta: m}))
}

// deskVerify runs the ledger's verification as `airlock authority
// verify` does and shows what it checked, or the first violation in its
// words (a 500 page would hide them: the vendor needs them).
func (s *server) deskVerify(w http.ResponseWriter, r *http.Request, ss *session) {
	d := &deskData{Here: "/desk/verify"}
	rep, err := ss.l.Verify(r.Context())
	switch {
	case errors.Is(err, authority.ErrCorrupt):
		d.Failed = clean(err.Error())
		if s.opts.Log != nil {
			s.opts.Log(r, err)
		}
		s.render(w, r, http.StatusOK, "desk_verify.html", ss.page("Verification failed", nil, d))
		return
	case err != nil:
		s.fail(w, r, ss, err)
		return
	}
	d.Verified = rep
	if d.Meta, err = ss.l.Meta(r.Context()); err != nil {
		s.fail(w, r, ss, err)
		return
	}
	s.render(w, r, http.StatusOK, "desk_verify.html", ss.page("Ledger verified", nil, d))
}
