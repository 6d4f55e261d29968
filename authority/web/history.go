package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/airlock-dev/airlock/authority"
)

// historyPage is how many events a page of the history shows.
const historyPage = 100

// The history of an organization: `airlock authority history` with its
// filters (instance, account, since), newest first, a page at a time.
func (s *server) historyRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /orgs/{org}/history", s.inOrg(s.history))
}

type historyData struct {
	Accounts []string
	Account  string // the filters, as given
	Instance string
	Since    string
	Events   []authority.Event
	Next     string // the URL of the next (older) page, or ""
	Newest   string // the URL of the newest page, with the same filters
	First    bool   // the newest page
}

// history shows the organization's events that match the filters of the
// query string, newest first.
func (s *server) history(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	q := r.URL.Query()
	d := &historyData{Account: q.Get("account"), Instance: strings.TrimSpace(q.Get("instance")), Since: strings.TrimSpace(q.Get("since"))}
	var err error
	if d.Accounts, err = s.accountNames(r, ss, acc); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	hq := authority.OrgHistoryQuery{Account: d.Account, Instance: d.Instance, Limit: historyPage}
	if d.Account != "" {
		// A name of the organization's accounts only: "ORG/ACCOUNT" of
		// another is refused as an unknown one.
		if _, err := s.orgAccount(r, ss, acc, d.Account); err != nil {
			s.failIn(w, r, ss, acc, err)
			return
		}
	}
	if d.Since != "" {
		if hq.Since, err = dateOrTime("Since", d.Since); err != nil {
			s.failIn(w, r, ss, acc, err)
			return
		}
	}
	if b := q.Get("before"); b != "" {
		if hq.Before, err = wholeNumber("Older than event", b, 1, anyHigh); err != nil {
			s.failIn(w, r, ss, acc, err)
			return
		}
	}
	d.First = hq.Before == 0
	evs, more, err := ss.l.OrgHistory(r.Context(), acc.Org.Name, hq)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	d.Events = evs
	filters := url.Values{}
	for k, v := range map[string]string{"account": d.Account, "instance": d.Instance, "since": d.Since} {
		if v != "" {
			filters.Set(k, v)
		}
	}
	base := "/orgs/" + url.PathEscape(acc.Org.Name) + "/history"
	d.Newest = base + "?" + filters.Encode()
	if more && len(evs) > 0 {
		filters.Set("before", strconv.FormatInt(evs[len(evs)-1].ID, 10))
		d.Next = base + "?" + filters.Encode()
	}
	s.render(w, r, http.StatusOK, "history_list.html", ss.page("History", acc, d))
}
