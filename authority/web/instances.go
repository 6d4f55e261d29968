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

// The pages of an organization's instances: the list (`airlock authority
// instances`), one instance (`airlock authority show`), its update
// (runbook 4), its removal (runbook 6), the download of any code it was
// issued, transfers between the organization's accounts, and offline
// systems registered from their description files (runbook 7). Every
// instance is looked up within the organization of the path
// (authority.Ledger.ShowIn and the other …In calls).
func (s *server) instanceRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /orgs/{org}/instances", s.inOrg(s.instances))
	m.HandleFunc("GET /orgs/{org}/instances/{udi}", s.inOrg(s.instance))
	m.HandleFunc("GET /orgs/{org}/instances/{udi}/codes/{reservation}/{serial}", s.inOrg(s.instanceCode))
	m.HandleFunc("POST /orgs/{org}/instances/{udi}/update/review", s.inOrg(s.updateReview))
	m.HandleFunc("POST /orgs/{org}/instances/{udi}/update", s.inOrg(s.onceInOrg(s.updateInstance)))
	m.HandleFunc("POST /orgs/{org}/instances/{udi}/remove/review", s.inOrg(s.removeReview))
	m.HandleFunc("POST /orgs/{org}/instances/{udi}/remove", s.inOrg(s.onceInOrg(s.removeInstance)))
	m.HandleFunc("POST /orgs/{org}/systems/review", s.inOrg(s.systemReview))
	m.HandleFunc("POST /orgs/{org}/systems", s.inOrg(s.systemImport))
	m.HandleFunc("POST /orgs/{org}/systems/reserve", s.inOrg(s.onceInOrg(s.systemReserve)))
	m.HandleFunc("GET /orgs/{org}/transfer", s.inOrg(s.transferForm))
	m.HandleFunc("POST /orgs/{org}/transfer", s.inOrg(s.onceInOrg(s.transfer)))
}

func init() {
	// instanceURL is the path of an instance's page: a UDI holds ':' and
	// ',', escaped as one path segment.
	funcs["instanceURL"] = func(org, udi string) string {
		return "/orgs/" + url.PathEscape(org) + "/instances/" + url.PathEscape(udi)
	}
	// eventURL is the page of an event's instance: a gateway's events
	// (its activation requests, its key retired) name the gateway, whose
	// page is the gateways'.
	funcs["eventURL"] = func(org string, e authority.Event) string {
		if gatewayActions[e.Action] {
			return "/orgs/" + url.PathEscape(org) + "/devices/gateways"
		}
		return "/orgs/" + url.PathEscape(org) + "/instances/" + url.PathEscape(e.Instance)
	}
	funcs["entitlements"] = formatEntitlements
	funcs["taken"] = func(action string) string { return takenActions[action] }
}

// formatEntitlements says the lines of an authorization code: "10
// vms.camera.core, 1 vms.camera.hw for component SN-0042".
func formatEntitlements(es []codes.Entitlement) string {
	if len(es) == 0 {
		return "none"
	}
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = fmt.Sprintf("%d %s", e.Count, e.Tag)
		if e.Component != "" {
			parts[i] += " for component " + e.Component
		}
	}
	return strings.Join(parts, ", ")
}

type instancesData struct {
	Instances   []authority.InstanceInfo
	Accounts    []string // for the system form
	Total       int      // the organization's instances
	First, Last int      // of the page, from 1
	Prev, Next  string   // the addresses of the pages around, or ""
}

const instancesPageSize = 100

// instances lists the organization's instances and their latest
// reservations, as `airlock authority instances` does for every one, a
// page at a time (?page=N, from 1; ?size=N).
func (s *server) instances(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	page, size, err := pageOf(r.URL.Query(), instancesPageSize)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	offset := (page - 1) * size
	is, total, err := ss.l.OrgInstances(r.Context(), acc.Org.Name, offset, size)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	if len(is) == 0 && page > 1 {
		s.failIn(w, r, ss, acc, &pageError{status: http.StatusNotFound, title: "Not found",
			msg:  fmt.Sprintf("Page %d of the instances is past the last: %s has %d.", page, acc.Org.Name, total),
			hint: "Open the list from its first page."})
		return
	}
	d := &instancesData{Instances: is, Total: total, First: offset + 1, Last: offset + len(is)}
	at := func(n int) string {
		v := url.Values{"page": {strconv.Itoa(n)}}
		if size != instancesPageSize {
			v.Set("size", strconv.Itoa(size))
		}
		return "/orgs/" + acc.Org.Name + "/instances?" + v.Encode()
	}
	if page > 1 {
		d.Prev = at(page - 1)
	}
	if d.Last < total {
		d.Next = at(page + 1)
	}
	if acc.Manage {
		if d.Accounts, err = s.accountNames(r, ss, acc); err != nil {
			s.failIn(w, r, ss, acc, err)
			return
		}
	}
	s.render(w, r, http.StatusOK, "instances_list.html", ss.page("Instances", acc, d))
}

// accountNames returns the names of the organization's accounts.
func (s *server) accountNames(r *http.Request, ss *session, acc *authority.Access) ([]string, error) {
	accts, err := ss.l.OrgAccounts(r.Context(), acc.Org.Name)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range accts {
		out = append(out, a.Name)
	}
	return out, nil
}

// orgAccount checks that name is one of the organization's accounts and
// returns "ORG/ACCOUNT"; a name of no account is refused in the words
// the library uses for it.
func (s *server) orgAccount(r *http.Request, ss *session, acc *authority.Access, name string) (string, error) {
	if err := authority.CheckName("account", name); err != nil {
		return "", err
	}
	names, err := s.accountNames(r, ss, acc)
	if err != nil {
		return "", err
	}
	for _, n := range names {
		if n == name {
			return acc.Org.Name + "/" + name, nil
		}
	}
	return "", fmt.Errorf("%w: organization %q has no account %q", authority.ErrNotFound, acc.Org.Name, name)
}

// A line is one license line of the live reservation's latest code, for
// the update form.
type line struct {
	Tag       string
	Count     uint32
	Component string // hardware-bound: an update leaves it as it is
}

type instanceData struct {
	Detail *authority.InstanceDetail
	Live   *authority.ReservationDetail // the live reservation, or nil
	Lines  []line                       // of Live's latest code
	// Taken are the events of codes the instance gave back and the
	// ledger took: confirmations, returns, usage reports.
	Taken []authority.Event
}

// SystemAccount is the account (its name in the organization) a system
// registered from its description reserves from, while it holds no
// reservation; "" for any other instance.
func (d *instanceData) SystemAccount() string {
	det := d.Detail
	if det.Name == "" || det.Product != "" || d.Live != nil || det.State == authority.InstanceRemoved {
		return ""
	}
	_, name, _ := strings.Cut(det.Account, "/")
	return name
}

// gatewayActions are the actions of the history whose instance is a
// gateway of device fleets.
var gatewayActions = map[string]bool{"activate": true, "gateway retire": true}

// takenActions are the actions of the history that take a code of the
// instance.
var takenActions = map[string]string{"confirm": "confirmation", "return": "return", "usage": "usage report", "fork": "second history"}

// show returns the instance of the path, in the organization.
func (s *server) show(r *http.Request, ss *session, acc *authority.Access) (*instanceData, error) {
	det, err := ss.l.ShowIn(r.Context(), acc.Org.Name, r.PathValue("udi"))
	if err != nil {
		return nil, err
	}
	d := &instanceData{Detail: det}
	for _, e := range det.History {
		if _, ok := takenActions[e.Action]; ok && e.CodeHash != nil {
			d.Taken = append(d.Taken, e)
		}
	}
	for i := range det.Reservations {
		rd := &det.Reservations[i]
		if rd.Status.Live() {
			d.Live = rd
		}
	}
	if d.Live != nil && len(d.Live.Codes) > 0 {
		latest := d.Live.Codes[len(d.Live.Codes)-1]
		// For display: the ledger signed and stored this code itself, so
		// one that does not parse is the ledger's corruption (an internal
		// error), not a refusal of a code the person gave: the decoder's
		// sentinel is not kept.
		a, err := codes.ParseUnverifiedAuthorization(latest.Code)
		if err != nil {
			return nil, fmt.Errorf("%w: stored code of reservation %s: %v", authority.ErrCorrupt, d.Live.IDString(), err)
		}
		for _, e := range a.Entitlements {
			d.Lines = append(d.Lines, line{Tag: e.Tag, Count: e.Count, Component: e.Component})
		}
	}
	return d, nil
}

// instance shows what `airlock authority show` shows: the instance, its
// reservations with every code issued and its hash, and its history;
// with the forms of an update and a removal for those who manage.
func (s *server) instance(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	d, err := s.show(r, ss, acc)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	s.render(w, r, http.StatusOK, "instances_show.html", ss.page("Instance "+d.Detail.UDI, acc, d))
}

// instanceCode serves one code issued to the instance as an armored file,
// as `airlock authority show --code --serial N --out FILE` writes it.
func (s *server) instanceCode(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	d, err := s.show(r, ss, acc)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	res, serial := r.PathValue("reservation"), r.PathValue("serial")
	for _, rd := range d.Detail.Reservations {
		if rd.IDString() != res {
			continue
		}
		for _, c := range rd.Codes {
			if strconv.FormatUint(c.Serial, 10) == serial {
				name := fmt.Sprintf("authorization-%s-%d.airlock", res, c.Serial)
				w.Header().Set("Content-Type", "application/octet-stream")
				w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
				w.WriteHeader(http.StatusOK)
				w.Write(codes.EncodeArmor(codes.KindAuthorization, c.Code))
				return
			}
		}
	}
	s.failIn(w, r, ss, acc, fmt.Errorf("%w: %s has no code of reservation %q with serial %q", authority.ErrNotFound, d.Detail.UDI, clean(res), clean(serial)))
}

// A change is one line of an update's review.
type change struct {
	Tag       string
	Now, New  uint32
	Available int64 // in the reservation's account
	More      int64 // licenses the change takes beyond what the code has now
}

// Freed is what a decrease gives back: in transition until confirmed.
func (c change) Freed() int64 { return -c.More }

type updateReviewData struct {
	Detail   *authority.InstanceDetail
	Live     *authority.ReservationDetail
	Changes  []change
	Licenses []string // TAG=N, for the next form
	Serial   uint64   // the serial reviewed
	Short    bool     // some change asks more than is available
}

// Next is the serial the update will issue.
func (d *updateReviewData) Next() uint64 { return d.Serial + 1 }

// readChanges reads the update form: "tag" and "count" side by side, one
// pair per line; a pair left empty is no line. It returns the licenses
// whose count differs from the code's now.
func readChanges(r *http.Request, lines []line) ([]codes.License, error) {
	tags, counts := r.PostForm["tag"], r.PostForm["count"]
	if len(tags) != len(counts) || len(tags) > codes.MaxLines+1 {
		return nil, &pageError{status: http.StatusBadRequest, title: "Bad form", msg: "The form's tags and counts do not pair up.", hint: "Reload the instance's page and fill the form again."}
	}
	now := map[string]uint32{}
	hardware := map[string]bool{}
	for _, l := range lines {
		if l.Component != "" {
			hardware[l.Tag] = true
			continue
		}
		now[l.Tag] = l.Count
	}
	var out []codes.License
	seen := map[string]bool{}
	for i := range tags {
		tag, count := strings.TrimSpace(tags[i]), strings.TrimSpace(counts[i])
		if tag == "" && count == "" {
			continue
		}
		l, err := authority.ParseLicense(tag + "=" + count)
		if err != nil {
			return nil, err
		}
		if seen[l.Tag] {
			return nil, fmt.Errorf("%w: %q is named twice: give each tag once", authority.ErrInvalid, l.Tag)
		}
		seen[l.Tag] = true
		if hardware[l.Tag] {
			if _, plain := now[l.Tag]; !plain {
				return nil, fmt.Errorf("%w: %q is bound to hardware components: an update does not change those lines", authority.ErrInvalid, l.Tag)
			}
		}
		if n, ok := now[l.Tag]; (ok && n == l.Count) || (!ok && l.Count == 0) {
			continue
		}
		out = append(out, l)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: the update changes nothing: give a count other than the one the reservation has", authority.ErrInvalid)
	}
	return out, nil
}

// updateReview shows what an update changes and what the account has
// available. It changes nothing.
func (s *server) updateReview(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	if err := needManage(acc); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	d, err := s.show(r, ss, acc)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	if d.Live == nil {
		s.failIn(w, r, ss, acc, fmt.Errorf("%w: %s holds no reservation to update (state %s)", authority.ErrNotFound, d.Detail.UDI, d.Detail.State))
		return
	}
	ls, err := readChanges(r, d.Lines)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	_, bs, err := ss.l.OrgBalances(r.Context(), acc.Org.Name)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	avail := map[string]int64{}
	for _, b := range bs {
		if b.Account == d.Live.Account {
			avail[b.Tag] = b.Available
		}
	}
	now := map[string]uint32{}
	for _, l := range d.Lines {
		if l.Component == "" {
			now[l.Tag] = l.Count
		}
	}
	rv := &updateReviewData{Detail: d.Detail, Live: d.Live, Serial: d.Live.Serial}
	for _, l := range ls {
		c := change{Tag: l.Tag, Now: now[l.Tag], New: l.Count, Available: avail[l.Tag], More: int64(l.Count) - int64(now[l.Tag])}
		rv.Short = rv.Short || c.More > c.Available
		rv.Changes = append(rv.Changes, c)
		rv.Licenses = append(rv.Licenses, fmt.Sprintf("%s=%d", l.Tag, l.Count))
	}
	s.render(w, r, http.StatusOK, "instances_update_review.html", ss.page("Review the update", acc, rv))
}

type updatedData struct {
	Detail     *authority.InstanceDetail
	Authorized *authority.Authorized
	Typed      string
	Hash       string
}

// updateInstance issues the next code of the instance's reservation
// through the same library call as `airlock authority update`, and shows
// it.
func (s *server) updateInstance(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	if err := needManage(acc); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	var ls []codes.License
	for _, v := range r.PostForm["license"] {
		l, err := authority.ParseLicense(v)
		if err != nil {
			s.failIn(w, r, ss, acc, err)
			return
		}
		ls = append(ls, l)
	}
	if len(ls) == 0 || len(ls) > codes.MaxLines {
		s.failIn(w, r, ss, acc, fmt.Errorf("%w: an update names 1 to %d licenses TAG=COUNT", authority.ErrInvalid, codes.MaxLines))
		return
	}
	d, err := s.show(r, ss, acc)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	// The review was of one serial: a reservation changed meanwhile is
	// reviewed again rather than updated blind.
	if d.Live == nil || strconv.FormatUint(d.Live.Serial, 10) != onlyValue(r, "serial") {
		s.failIn(w, r, ss, acc, fmt.Errorf("%w: the reservation of %s changed since the review: review the update again", authority.ErrStale, d.Detail.UDI))
		return
	}
	a, err := ss.l.UpdateIn(r.Context(), acc.Org.Name, d.Detail.UDI, ls)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	u := &updatedData{Detail: d.Detail, Authorized: a, Typed: codes.EncodeText(codes.KindAuthorization, a.Code), Hash: codeHash(a.Code)}
	s.render(w, r, http.StatusOK, "instances_updated.html", ss.page("Updated", acc, u))
}

type removeReviewData struct {
	Detail *authority.InstanceDetail
	Live   *authority.ReservationDetail
	Reason string
	Used   int // removals of instances holding licenses in the account, 365 days
	Limit  int // the account's removal limit
	Next   int // Used+1: what this removal would be
	Over   bool
}

// removeReview says what removing the instance does, before it is done.
func (s *server) removeReview(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	if err := needManage(acc); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	d, err := s.show(r, ss, acc)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" || len(reason) > authority.MaxReasonLen {
		s.failIn(w, r, ss, acc, fmt.Errorf("%w: give the reason for the removal, 1 to %d characters, e.g. \"RMA 4711: mainboard failed\"", authority.ErrInvalid, authority.MaxReasonLen))
		return
	}
	if d.Detail.State == authority.InstanceRemoved {
		s.failIn(w, r, ss, acc, fmt.Errorf("%w: %s was removed already", authority.ErrClosed, d.Detail.UDI))
		return
	}
	rv := &removeReviewData{Detail: d.Detail, Live: d.Live, Reason: reason}
	ref := d.Detail.Account
	if d.Live != nil {
		ref = d.Live.Account
	}
	if rv.Used, rv.Limit, err = ss.l.RemovalsIn(r.Context(), acc.Org.Name, ref); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	rv.Next, rv.Over = rv.Used+1, rv.Used >= rv.Limit
	s.render(w, r, http.StatusOK, "instances_remove_review.html", ss.page("Remove "+d.Detail.UDI+"?", acc, rv))
}

type removedData struct {
	Removed *authority.Removed
	Reason  string
}

// removeInstance removes the instance through the same library call as
// `airlock authority remove`.
func (s *server) removeInstance(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	if err := needManage(acc); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	reason := r.PostFormValue("reason")
	rm, err := ss.l.RemoveIn(r.Context(), acc.Org.Name, r.PathValue("udi"), reason)
	if errors.Is(err, authority.ErrRemovalLimit) {
		err = &pageError{status: http.StatusConflict, title: "Removal limit reached", msg: withoutTitle(clean(err.Error()), "Removal limit reached"),
			hint: "Nothing was removed. Have the instance make a return code, or ask the vendor's support to raise the account's removal limit.", err: err}
	}
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	s.render(w, r, http.StatusOK, "instances_removed.html", ss.page("Removed", acc, &removedData{Removed: rm, Reason: strings.TrimSpace(reason)}))
}

type transferData struct {
	Accounts []accountView
	Tags     []string
	From, To string
	Moved    string // after a transfer: what moved
}

// transferPage shows the balances of every account, and the form for
// those who manage.
func (s *server) transferPage(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access, title, from, to, moved string) {
	accts, bs, err := ss.l.OrgBalances(r.Context(), acc.Org.Name)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	d := &transferData{From: from, To: to, Moved: moved}
	seen := map[string]bool{}
	for _, a := range accts {
		v := accountView{Name: a.Name}
		for _, b := range bs {
			if b.Account == a.Ref() {
				v.Balances = append(v.Balances, b)
				if !seen[b.Tag] {
					seen[b.Tag] = true
					d.Tags = append(d.Tags, b.Tag)
				}
			}
		}
		d.Accounts = append(d.Accounts, v)
	}
	// The form starts on two different accounts: the first holding
	// licenses, and the first other one.
	for _, v := range d.Accounts {
		if d.From == "" && len(v.Balances) > 0 {
			d.From = v.Name
		}
	}
	for _, v := range d.Accounts {
		if d.To == "" && v.Name != d.From {
			d.To = v.Name
		}
	}
	s.render(w, r, http.StatusOK, "transfer_form.html", ss.page(title, acc, d))
}

func (s *server) transferForm(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	s.transferPage(w, r, ss, acc, "Transfers", "", "", "")
}

// transfer moves licenses between two accounts of the organization
// through the same library call as `airlock authority transfer`.
func (s *server) transfer(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	if err := needManage(acc); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	from, err := s.orgAccount(r, ss, acc, r.PostFormValue("from"))
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	to, err := s.orgAccount(r, ss, acc, r.PostFormValue("to"))
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	tag := onlyValue(r, "tag")
	count, err := formNumber(r, "count", "Count", anyLow, anyHigh)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	if _, err := ss.l.Transfer(r.Context(), from, to, tag, count); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	moved := fmt.Sprintf("%d %s moved from %s to %s.", count, tag, from, to)
	s.transferPage(w, r, ss, acc, "Transferred", r.PostFormValue("from"), r.PostFormValue("to"), moved)
}

type systemReviewData struct {
	Account string
	Typed   string // the description, typed, for the next form
	System  *codes.System
	Hash    string
}

// systemReview opens a system description and shows what it describes
// before it is registered. It changes nothing.
func (s *server) systemReview(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	if err := needManage(acc); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	account := r.FormValue("account")
	if _, err := s.orgAccount(r, ss, acc, account); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	code, err := readCode(r, "system", codes.KindSystem)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	sys, err := ss.l.ReviewSystem(r.Context(), acc.Org.Name, code)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	d := &systemReviewData{Account: account, Typed: codes.EncodeText(codes.KindSystem, code), System: sys, Hash: codeHash(code)}
	s.render(w, r, http.StatusOK, "instances_system_review.html", ss.page("Review the system description", acc, d))
}

type systemImportedData struct {
	Account  string
	Imported *authority.SystemImport
	Hash     string
}

// systemImport registers the system through the same library call as
// `airlock authority system import`.
func (s *server) systemImport(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	if err := needManage(acc); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	account := onlyValue(r, "account")
	ref, err := s.orgAccount(r, ss, acc, account)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	code, err := codes.DecodeKind([]byte(r.PostFormValue("system")), codes.KindSystem)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	im, err := ss.l.ImportSystem(r.Context(), ref, code)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	s.render(w, r, http.StatusOK, "instances_system_imported.html", ss.page("System registered", acc, &systemImportedData{Account: account, Imported: im, Hash: codeHash(code)}))
}

// systemReserve reserves what a registered system describes, through the
// same library call as `airlock authority reserve --system NAME`, and
// shows the code.
func (s *server) systemReserve(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	if err := needManage(acc); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	ref, err := s.orgAccount(r, ss, acc, onlyValue(r, "account"))
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	name := r.PostFormValue("name")
	if name == "" || len(name) > codes.MaxNameLen {
		s.failIn(w, r, ss, acc, fmt.Errorf("%w: a system name has 1 to %d characters", authority.ErrInvalid, codes.MaxNameLen))
		return
	}
	a, err := ss.l.ReserveSystem(r.Context(), name, ref, nil)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	det, err := ss.l.ShowIn(r.Context(), acc.Org.Name, a.UDI)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	u := &updatedData{Detail: det, Authorized: a, Typed: codes.EncodeText(codes.KindAuthorization, a.Code), Hash: codeHash(a.Code)}
	s.render(w, r, http.StatusOK, "instances_updated.html", ss.page("Reserved for the system", acc, u))
}
