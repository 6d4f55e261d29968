package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

// The desk's pages of tier ladders (runbook 18, `airlock authority tier
// set|list|delete`) and satellites (runbook 19, the desk's side:
// `airlock authority satellite add|delegate|list|show|remove|trust` and
// `airlock authority sync answer`). The vendor's staff only: atDesk
// refuses anyone else, and every library call checks the role again.

func init() {
	funcs["satelliteURL"] = func(name string) string { return "/desk/satellites/show?name=" + url.QueryEscape(name) }
	funcs["tiers"] = func(tags []string) string { return strings.Join(tags, " < ") }
}

func (s *server) deskConnectedRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /desk/tiers", s.atDesk(s.tiers))
	m.HandleFunc("POST /desk/tiers", s.atDesk(s.tierSet))
	m.HandleFunc("POST /desk/tiers/delete/review", s.atDesk(s.tierDeleteReview))
	m.HandleFunc("POST /desk/tiers/delete", s.atDesk(s.tierDelete))
	m.HandleFunc("GET /desk/satellites", s.atDesk(s.satellites))
	m.HandleFunc("POST /desk/satellites", s.atDesk(s.satelliteAdd))
	m.HandleFunc("GET /desk/satellites/show", s.atDesk(s.satelliteShow))
	m.HandleFunc("POST /desk/satellites/delegate", s.atDesk(s.satelliteDelegate))
	m.HandleFunc("POST /desk/satellites/trust", s.atDesk(s.satelliteTrust))
	m.HandleFunc("POST /desk/satellites/remove/review", s.atDesk(s.satelliteRemoveReview))
	m.HandleFunc("POST /desk/satellites/remove", s.atDesk(s.satelliteRemove))
	m.HandleFunc("POST /desk/satellites/sync/review", s.atDesk(s.syncReview))
	m.HandleFunc("POST /desk/satellites/sync/answer", s.atDesk(s.onceAtDesk(s.syncAnswer)))
	m.HandleFunc("POST /desk/satellites/sync/download", s.atDesk(s.syncDownload))
}

// A tiersData is what the pages of tier ladders show; Here selects the
// desk's menu entry.
type tiersData struct {
	Here    string
	Ladders []authority.Ladder
	Ladder  *authority.Ladder // to delete, on the review
}

func (s *server) tiers(w http.ResponseWriter, r *http.Request, ss *session) {
	ls, err := ss.l.Ladders(r.Context())
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	s.render(w, r, http.StatusOK, "tiers_list.html", ss.page("Tier ladders", nil, &tiersData{Here: "/desk/tiers", Ladders: ls}))
}

// tierSet sets a ladder from its name and its tags, lowest first, one a
// line or separated by spaces, commas or " < ", as `airlock authority tier set`.
func (s *server) tierSet(w http.ResponseWriter, r *http.Request, ss *session) {
	var tags []string
	for _, f := range strings.FieldsFunc(r.PostFormValue("tags"), func(c rune) bool { return c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n' }) {
		if f != "<" {
			tags = append(tags, f)
		}
	}
	if len(tags) > authority.MaxLadderLen {
		s.fail(w, r, ss, badField("Tiers", fmt.Sprintf("%d tags given: a ladder has 2 to %d", len(tags), authority.MaxLadderLen)))
		return
	}
	l, err := ss.l.SetLadder(r.Context(), r.PostFormValue("name"), tags)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	s.deskDone(w, r, ss, "Tier ladder set", fmt.Sprintf("Tier ladder %s: %s.", l.Name, strings.Join(l.Tags, " < ")),
		deskLink{"/desk/tiers", "Tier ladders"})
}

// ladderNamed finds the ladder the form names, among those the library
// lists to the person.
func (s *server) ladderNamed(w http.ResponseWriter, r *http.Request, ss *session) (*authority.Ladder, bool) {
	name := r.PostFormValue("name")
	if err := authority.CheckName("tier ladder", name); err != nil {
		s.fail(w, r, ss, err)
		return nil, false
	}
	ls, err := ss.l.Ladders(r.Context())
	if err != nil {
		s.fail(w, r, ss, err)
		return nil, false
	}
	for i := range ls {
		if ls[i].Name == name {
			return &ls[i], true
		}
	}
	s.fail(w, r, ss, fmt.Errorf("%w: no tier ladder %q", authority.ErrNotFound, name))
	return nil, false
}

func (s *server) tierDeleteReview(w http.ResponseWriter, r *http.Request, ss *session) {
	l, ok := s.ladderNamed(w, r, ss)
	if !ok {
		return
	}
	s.render(w, r, http.StatusOK, "tiers_delete.html", ss.page("Delete a tier ladder", nil, &tiersData{Here: "/desk/tiers", Ladder: l}))
}

func (s *server) tierDelete(w http.ResponseWriter, r *http.Request, ss *session) {
	name := r.PostFormValue("name")
	if err := ss.l.DeleteLadder(r.Context(), name); err != nil {
		s.fail(w, r, ss, err)
		return
	}
	s.deskDone(w, r, ss, "Tier ladder deleted", fmt.Sprintf("Tier ladder %s deleted: its tiers cover each other no more. Codes issued with licenses of a higher tier keep them until their next renewal.", name),
		deskLink{"/desk/tiers", "Tier ladders"})
}

// A satData is what the pages of satellites show; Here selects the
// desk's menu entry.
type satData struct {
	Here       string
	Satellites []authority.SatelliteInfo
	Accounts   []string // the accounts no satellite holds, ORG/ACCOUNT, for the forms
	Sat        *authority.SatelliteInfo
	Done       string // a change done, in words

	// Taking back accounts, or removing the satellite (TakeBack empty).
	TakeBack []string

	// Answering a sync request.
	Review  *authority.SyncReview
	Request string // typed, for the next form
	Answer  *authority.SyncAnswered
	Typed   string // the answer, typed
	Hash    string // the answer's SHA-256, hex
	Report  string // what the request reported, in words
}

// satAccounts lists the accounts no satellite holds, for the forms that
// delegate them.
func (s *server) satAccounts(r *http.Request, ss *session) ([]string, error) {
	v, err := ss.l.Desk(r.Context())
	if err != nil {
		return nil, err
	}
	sats, err := ss.l.Satellites(r.Context())
	if err != nil {
		return nil, err
	}
	delegated := map[string]bool{}
	for _, st := range sats {
		for _, a := range st.Accounts {
			delegated[a.Account] = true
		}
	}
	var out []string
	for _, a := range v.Accounts {
		if !delegated[a.Ref()] {
			out = append(out, a.Ref())
		}
	}
	return out, nil
}

func (s *server) satellites(w http.ResponseWriter, r *http.Request, ss *session) {
	sats, err := ss.l.Satellites(r.Context())
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	accts, err := s.satAccounts(r, ss)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	s.render(w, r, http.StatusOK, "satellites_list.html", ss.page("Satellites", nil, &satData{Here: "/desk/satellites", Satellites: sats, Accounts: accts}))
}

// maxSatAccounts bounds the accounts one form delegates or takes back:
// the portal takes no more at once, which fit well inside the form's
// bound (MaxUpload).
const maxSatAccounts = 1000

// satAccountsOf reads the accounts a form names (field "account",
// repeated, as --account is).
func satAccountsOf(r *http.Request) ([]string, error) {
	var out []string
	for _, a := range r.PostForm["account"] {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	if len(out) > maxSatAccounts {
		return nil, badField("Accounts", fmt.Sprintf("%d given, at most %d", len(out), maxSatAccounts))
	}
	for _, a := range out {
		if _, _, err := authority.ParseAccountRef(a); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// satelliteAdd registers a satellite by its trust file and delegates
// accounts to it, as `airlock authority satellite add`.
func (s *server) satelliteAdd(w http.ResponseWriter, r *http.Request, ss *session) {
	name := r.PostFormValue("name")
	if err := authority.CheckName("satellite", name); err != nil {
		s.fail(w, r, ss, err)
		return
	}
	accts, err := satAccountsOf(r)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	trust, err := readPasted(r, "trust", codes.KindTrustUpdate)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	sat, err := ss.l.AddSatellite(r.Context(), name, trust, accts)
	if err != nil {
		s.satFail(w, r, ss, err)
		return
	}
	s.showSatellite(w, r, ss, sat.Name, fmt.Sprintf("Satellite %s registered; %s delegated to it. Next: answer its sync requests here (Answer a sync request, on the Satellites page), or with airlock authority serve.",
		sat.Name, strings.Join(accts, ", ")))
}

// showSatellite renders a satellite, with done said above it.
func (s *server) showSatellite(w http.ResponseWriter, r *http.Request, ss *session, name, done string) {
	info, err := ss.l.SatelliteInfo(r.Context(), name)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	accts, err := s.satAccounts(r, ss)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	d := &satData{Here: "/desk/satellites", Sat: info, Accounts: accts, Done: done}
	if info.Report != nil {
		d.Report = authority.FormatSyncReport(info.Report.Accounts)
	}
	s.render(w, r, http.StatusOK, "satellites_show.html", ss.page("Satellite "+info.Name, nil, d))
}

func (s *server) satelliteShow(w http.ResponseWriter, r *http.Request, ss *session) {
	name := r.URL.Query().Get("name")
	if err := authority.CheckName("satellite", name); err != nil {
		s.fail(w, r, ss, err)
		return
	}
	s.showSatellite(w, r, ss, name, "")
}

func (s *server) satelliteDelegate(w http.ResponseWriter, r *http.Request, ss *session) {
	name := r.PostFormValue("name")
	accts, err := satAccountsOf(r)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	if err := ss.l.DelegateToSatellite(r.Context(), name, accts); err != nil {
		s.fail(w, r, ss, err)
		return
	}
	s.showSatellite(w, r, ss, name, fmt.Sprintf("%s delegated to satellite %s: reserved there from its next sync.", strings.Join(accts, ", "), name))
}

// satelliteTrust installs a satellite's trust update, as `airlock
// authority satellite trust`.
func (s *server) satelliteTrust(w http.ResponseWriter, r *http.Request, ss *session) {
	name := r.PostFormValue("name")
	if err := authority.CheckName("satellite", name); err != nil {
		s.fail(w, r, ss, err)
		return
	}
	code, err := readPasted(r, "trust", codes.KindTrustUpdate)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	t, err := ss.l.UpdateSatelliteTrust(r.Context(), name, code)
	if err != nil {
		s.satFail(w, r, ss, err)
		return
	}
	s.showSatellite(w, r, ss, name, fmt.Sprintf("Trust update %d of satellite %s installed: its sync requests signed with its new key are answered from now on.", t.Sequence, name))
}

// satelliteRemoveReview shows what taking accounts back (or removing the
// satellite, with none named) will do, before it is done.
func (s *server) satelliteRemoveReview(w http.ResponseWriter, r *http.Request, ss *session) {
	name := r.PostFormValue("name")
	if err := authority.CheckName("satellite", name); err != nil {
		s.fail(w, r, ss, err)
		return
	}
	accts, err := satAccountsOf(r)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	info, err := ss.l.SatelliteInfo(r.Context(), name)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	for _, a := range accts {
		found := false
		for _, d := range info.Accounts {
			found = found || d.Account == a
		}
		if !found {
			s.fail(w, r, ss, fmt.Errorf("%w: %q is not delegated to satellite %q", authority.ErrNotFound, a, name))
			return
		}
	}
	title := "Take accounts back from satellite " + info.Name
	if len(accts) == 0 {
		title = "Remove satellite " + info.Name
	}
	s.render(w, r, http.StatusOK, "satellites_remove.html", ss.page(title, nil, &satData{Here: "/desk/satellites", Sat: info, TakeBack: accts}))
}

func (s *server) satelliteRemove(w http.ResponseWriter, r *http.Request, ss *session) {
	name := r.PostFormValue("name")
	accts, err := satAccountsOf(r)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	back, err := ss.l.RemoveSatellite(r.Context(), name, accts)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	taken := "no account"
	if len(back) > 0 {
		taken = strings.Join(back, ", ")
	}
	if len(accts) > 0 {
		s.showSatellite(w, r, ss, name, fmt.Sprintf("%s taken back from satellite %s.", taken, name))
		return
	}
	s.deskDone(w, r, ss, "Satellite removed", fmt.Sprintf("Satellite %s removed: its sync requests are refused from now on; %s taken back.", name, taken),
		deskLink{"/desk/satellites", "Satellites"})
}

// syncReview opens a satellite's sync request and shows what it
// reports, before it is answered.
func (s *server) syncReview(w http.ResponseWriter, r *http.Request, ss *session) {
	code, err := readPasted(r, "request", codes.KindSyncRequest)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	rv, err := ss.l.ReviewSync(r.Context(), code)
	if err != nil {
		s.satFail(w, r, ss, err)
		return
	}
	d := &satData{Here: "/desk/satellites", Review: rv, Request: codes.EncodeText(codes.KindSyncRequest, code),
		Report: authority.FormatSyncReport(rv.Request.Accounts)}
	s.render(w, r, http.StatusOK, "satellites_sync_review.html", ss.page("Review the sync request", nil, d))
}

// syncAnswer answers a sync request, as `airlock authority sync answer`,
// and shows the answer to download. It is answered once: the answer is
// on this page only.
func (s *server) syncAnswer(w http.ResponseWriter, r *http.Request, ss *session) {
	code, err := codes.DecodeKind([]byte(r.PostFormValue("request")), codes.KindSyncRequest)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	a, err := ss.l.DeskAnswerSync(r.Context(), code)
	if err != nil {
		s.satFail(w, r, ss, err)
		return
	}
	d := &satData{Here: "/desk/satellites", Answer: a, Typed: codes.EncodeText(codes.KindSyncAnswer, a.Code), Hash: codeHash(a.Code),
		Report: authority.FormatSyncReport(a.Request.Accounts)}
	s.render(w, r, http.StatusOK, "satellites_sync_answer.html", ss.page("Sync request answered", nil, d))
}

// syncDownload serves the answer the page shows as an armored file. It
// answers nothing: it gives back the answer the form carries, once it
// decodes as one.
func (s *server) syncDownload(w http.ResponseWriter, r *http.Request, ss *session) {
	code, err := codes.DecodeKind([]byte(r.PostFormValue("answer")), codes.KindSyncAnswer)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	a, err := codes.ParseUnverifiedSyncAnswer(code)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	name := fmt.Sprintf("sync-%d.answer.airlock", a.Sequence)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.WriteHeader(http.StatusOK)
	w.Write(codes.EncodeArmor(codes.KindSyncAnswer, code))
}

// readPasted is readCode for a code that may be pasted armored: a
// browser sends a text box's lines ended by CRLF, which the armor's
// strict decoder refuses, so they are made LF first.
func readPasted(r *http.Request, field string, want codes.Kind) ([]byte, error) {
	for _, f := range []url.Values{r.Form, r.PostForm} {
		for i, v := range f[field] {
			f[field][i] = strings.ReplaceAll(v, "\r\n", "\n")
		}
	}
	return readCode(r, field, want)
}

// satFail is fail for the satellites' files: a file signed by a key the
// satellite was not registered with, or outside that key's window, is
// the file's fault (400), not the desk's.
func (s *server) satFail(w http.ResponseWriter, r *http.Request, ss *session, err error) {
	if errors.Is(err, codes.ErrUnknownKey) || errors.Is(err, codes.ErrKeyWindow) {
		err = &pageError{status: http.StatusBadRequest, title: "Not signed by the satellite", msg: clean(err.Error()),
			hint: "A satellite that rotated its key sends a trust update first: install it on the satellite's page, in order.", err: err}
	}
	s.fail(w, r, ss, err)
}
