package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

// A page is what the layout shows around a page's own data.
type page struct {
	Title  string
	Person *authority.Person // signed in, or nil
	CSRF   string            // the session's form token
	Access *authority.Access // the organization of the page, or nil
	Orgs   []authority.Org   // the organizations the person may read, for the switcher
	Error  *pageError        // for error.html
	Data   any               // the page's own
}

// funcs are the templates' functions. A file of the package that needs
// another adds it in its init, before New parses the pages.
var funcs = template.FuncMap{
	"role": describeRole,
	"licenses": func(ls []codes.License) string {
		if len(ls) == 0 {
			return "none"
		}
		return authority.FormatLicenses(ls)
	},
	"hex":    hex.EncodeToString,
	"date":   func(unix int64) string { return time.Unix(unix, 0).UTC().Format(time.DateOnly) },
	"when":   func(unix int64) string { return time.Unix(unix, 0).UTC().Format("2006-01-02 15:04 UTC") },
	"vendor": func(p *authority.Person) bool { return p != nil && p.Role == authority.RoleVendor },
}

// parsePages parses every page of templates/, each with the layout and
// the nav (the shared parts, which are no pages themselves).
func parsePages() map[string]*template.Template {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic("web: " + err.Error())
	}
	out := map[string]*template.Template{}
	for _, p := range names {
		n := path.Base(p)
		if n == "layout.html" || n == "nav.html" {
			continue
		}
		out[n] = template.Must(template.New(n).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/nav.html", p))
	}
	return out
}

// describeRole says in words what a person is.
func describeRole(p *authority.Person) string {
	switch p.Role {
	case authority.RoleVendor:
		return "vendor support"
	case authority.RoleAdmin:
		return "administrator of " + p.Org
	case authority.RoleViewer:
		return "viewer of " + p.Org
	case authority.RolePartner:
		return "partner " + p.Partner
	}
	return p.Role
}

// page returns a page of the session, in the organization acc.
func (ss *session) page(title string, acc *authority.Access, data any) *page {
	return &page{Title: title, Person: ss.person, CSRF: ss.csrf(), Access: acc, Data: data}
}

func (s *server) home(w http.ResponseWriter, r *http.Request, ss *session) {
	http.Redirect(w, r, "/orgs", http.StatusSeeOther)
}

// orgs is the organization switcher: the organizations the person may
// read.
func (s *server) orgs(w http.ResponseWriter, r *http.Request, ss *session) {
	os, err := ss.l.Orgs(r.Context())
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	p := ss.page("Organizations", nil, nil)
	p.Orgs = os
	s.render(w, r, http.StatusOK, "orgs.html", p)
}

// inOrg runs h for a person signed in who may read the organization of
// the path, as the library decides.
func (s *server) inOrg(h func(http.ResponseWriter, *http.Request, *session, *authority.Access)) http.HandlerFunc {
	return s.signedIn(func(w http.ResponseWriter, r *http.Request, ss *session) {
		acc, err := ss.l.Access(r.Context(), r.PathValue("org"))
		if err != nil {
			s.fail(w, r, ss, err)
			return
		}
		h(w, r, ss, acc)
	})
}

func (s *server) orgHome(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	http.Redirect(w, r, "/orgs/"+acc.Org.Name+"/licenses", http.StatusSeeOther)
}

// An accountView is one virtual account and its balances.
type accountView struct {
	Name      string
	Balances  []authority.Balance
	Delegated *authority.Delegated // to a satellite, or nil
}

// licenses shows owned, available, reserved and in-transition licenses
// per account and tag: what `airlock authority licenses` shows, for one
// organization.
func (s *server) licenses(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	accts, bs, err := ss.l.OrgBalances(r.Context(), acc.Org.Name)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	dl, err := ss.l.OrgDelegated(r.Context(), acc.Org.Name)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	var views []accountView
	for _, a := range accts {
		v := accountView{Name: a.Name}
		for _, b := range bs {
			if b.Account == a.Ref() {
				v.Balances = append(v.Balances, b)
			}
		}
		for i := range dl {
			if dl[i].Account == a.Ref() {
				v.Delegated = &dl[i]
			}
		}
		views = append(views, v)
	}
	s.render(w, r, http.StatusOK, "licenses.html", ss.page("Licenses", acc, views))
}

// needManage refuses a person who may only read the organization, before
// any form of a change is shown.
func needManage(acc *authority.Access) error {
	if acc.Manage {
		return nil
	}
	return fmt.Errorf("%w: %s may read the licenses of %q but not change them: an administrator of %q reserves and enters codes", authority.ErrDenied, acc.Actor, acc.Org.Name, acc.Org.Name)
}

type reserveData struct {
	Accounts []string
	Account  string
}

func (s *server) reserveForm(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	if err := needManage(acc); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	names, err := s.accountNames(r, ss, acc)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	d := &reserveData{Accounts: names}
	s.render(w, r, http.StatusOK, "reserve.html", ss.page("Reserve", acc, d))
}

// readCode reads a code of kind want from the form: the uploaded file
// "file" when one was chosen, else the pasted text field. The form was
// parsed already (bounded by MaxUpload); the code is decoded with the
// same strict decoder as the command line's.
func readCode(r *http.Request, field string, want codes.Kind) ([]byte, error) {
	var in []byte
	if f, _, err := r.FormFile("file"); err == nil {
		defer f.Close()
		if in, err = io.ReadAll(f); err != nil {
			return nil, formError(err)
		}
	} else if !errors.Is(err, http.ErrMissingFile) && !errors.Is(err, http.ErrNotMultipart) {
		return nil, formError(err)
	}
	text := r.FormValue(field)
	switch {
	case len(bytes.TrimSpace(in)) > 0 && strings.TrimSpace(text) != "":
		return nil, &pageError{status: http.StatusBadRequest, title: "Two codes", msg: "Both a file and a pasted code were given.", hint: "Give one: clear the text box, or do not choose a file."}
	case len(bytes.TrimSpace(in)) == 0:
		in = []byte(text)
	}
	if len(bytes.TrimSpace(in)) == 0 {
		return nil, &pageError{status: http.StatusBadRequest, title: "No code", msg: "No code was given.", hint: fmt.Sprintf("Paste the %s code, or choose the file the instance wrote.", want)}
	}
	return codes.DecodeKind(in, want)
}

type reviewData struct {
	Account   string
	Request   string // typed, for the next form
	Review    *authority.RequestReview
	Balances  []authority.Balance // of the account
	Shortfall []string
}

// reserveReview opens the request code and shows what it asks, what the
// account has available, and whether it was answered before.
func (s *server) reserveReview(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	if err := needManage(acc); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	account := r.FormValue("account")
	if err := authority.CheckName("account", account); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	code, err := readCode(r, "request", codes.KindRequest)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	rv, err := ss.l.ReviewRequest(r.Context(), acc.Org.Name, code)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	accts, bs, err := ss.l.OrgBalances(r.Context(), acc.Org.Name)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	ref := ""
	for _, a := range accts {
		if a.Name == account {
			ref = a.Ref()
		}
	}
	if ref == "" {
		s.failIn(w, r, ss, acc, fmt.Errorf("%w: organization %q has no account %q", authority.ErrNotFound, acc.Org.Name, account))
		return
	}
	d := &reviewData{Account: account, Request: codes.EncodeText(codes.KindRequest, code), Review: rv}
	avail := map[string]int64{}
	for _, b := range bs {
		if b.Account == ref {
			d.Balances = append(d.Balances, b)
			avail[b.Tag] = b.Available
		}
	}
	for _, w := range rv.Request.Wanted {
		if int64(w.Count) > avail[w.Tag] {
			d.Shortfall = append(d.Shortfall, fmt.Sprintf("%d %s asked, %d available", w.Count, w.Tag, avail[w.Tag]))
		}
	}
	s.render(w, r, http.StatusOK, "review.html", ss.page("Review the request", acc, d))
}

type reservedData struct {
	Account    string
	Request    string // typed, for the download form
	Authorized *authority.Authorized
	Typed      string
	Hash       string // SHA-256 of the binary code, hex
}

// reserve reserves what the request asks from the account, through the
// same library call as `airlock authority reserve`, and shows the code.
func (s *server) reserve(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	if err := needManage(acc); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	account := onlyValue(r, "account")
	code, err := codes.DecodeKind([]byte(r.PostFormValue("request")), codes.KindRequest)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	a, err := ss.l.ReserveIn(r.Context(), acc.Org.Name, account, code, nil)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	d := &reservedData{Account: account, Request: codes.EncodeText(codes.KindRequest, code), Authorized: a,
		Typed: codes.EncodeText(codes.KindAuthorization, a.Code), Hash: codeHash(a.Code)}
	s.render(w, r, http.StatusOK, "reserved.html", ss.page("Reserved", acc, d))
}

// download serves the authorization code that answered a request, as an
// armored file. It issues nothing: a request not answered yet is
// refused.
func (s *server) download(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	code, err := codes.DecodeKind([]byte(r.PostFormValue("request")), codes.KindRequest)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	rv, err := ss.l.ReviewRequest(r.Context(), acc.Org.Name, code)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	if rv.Answered == nil {
		s.failIn(w, r, ss, acc, fmt.Errorf("%w: this request has not been reserved: reserve it first", authority.ErrNotFound))
		return
	}
	name := fmt.Sprintf("authorization-%s.airlock", rv.Answered.Reservation())
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.WriteHeader(http.StatusOK)
	w.Write(codes.EncodeArmor(codes.KindAuthorization, rv.Answered.Code))
}

// An instanceCode is a kind of code an instance gives back: its form
// and the library call that applies it.
type instanceCode struct {
	Kind   codes.Kind
	Name   string // "confirmation", "return"
	Path   string // under /orgs/ORG/
	Done   string // the result page's title
	Prompt string
	apply  func(l *authority.Ledger, r *http.Request, org string, code []byte) (*authority.Applied, error)
}

var (
	confirmation = &instanceCode{Kind: codes.KindConfirmation, Name: "confirmation", Path: "confirm", Done: "Confirmed",
		Prompt: "Paste the confirmation code the instance printed when it installed an authorization code, or upload the file it wrote.",
		apply: func(l *authority.Ledger, r *http.Request, org string, code []byte) (*authority.Applied, error) {
			return l.ConfirmIn(r.Context(), org, code)
		}}
	returned = &instanceCode{Kind: codes.KindReturn, Name: "return", Path: "return", Done: "Returned",
		Prompt: "Paste the return code the instance printed when it gave its reservation back, or upload the file it wrote. The licenses go back to the account.",
		apply: func(l *authority.Ledger, r *http.Request, org string, code []byte) (*authority.Applied, error) {
			return l.ReturnIn(r.Context(), org, code)
		}}
)

// codeForm shows the form of an instance's code.
func (s *server) codeForm(k *instanceCode) func(http.ResponseWriter, *http.Request, *session, *authority.Access) {
	return func(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
		if err := needManage(acc); err != nil {
			s.failIn(w, r, ss, acc, err)
			return
		}
		s.render(w, r, http.StatusOK, "code.html", ss.page("Enter a "+k.Name+" code", acc, k))
	}
}

type appliedData struct {
	Code    *instanceCode
	Applied *authority.Applied
	Hash    string
}

// applyCode applies a confirmation or return code of an instance of the
// organization, through the library call that checks it is the
// organization's.
func (s *server) applyCode(k *instanceCode) func(http.ResponseWriter, *http.Request, *session, *authority.Access) {
	return func(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
		if err := needManage(acc); err != nil {
			s.failIn(w, r, ss, acc, err)
			return
		}
		code, err := readCode(r, "code", k.Kind)
		if err != nil {
			s.failIn(w, r, ss, acc, err)
			return
		}
		a, err := k.apply(ss.l, r, acc.Org.Name, code)
		if err != nil {
			s.failIn(w, r, ss, acc, err)
			return
		}
		s.render(w, r, http.StatusOK, "applied.html", ss.page(k.Done, acc, &appliedData{Code: k, Applied: a, Hash: codeHash(code)}))
	}
}

// codeHash is the SHA-256 of a binary code in hex, as the history
// records it.
func codeHash(code []byte) string {
	h := sha256.Sum256(code)
	return hex.EncodeToString(h[:])
}
