package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/airlock-dev/airlock/authority"
)

// The connected mode of one organization (runbook 15, the desk's side):
// the registration tokens of its accounts, made, listed and revoked as
// `airlock authority token create|list|revoke` does, and the instances
// that registered with them, as `airlock authority connected list|show`.
// Every call is the library's org-scoped one (webscope_connected.go): a
// token or an instance of another organization is refused as one that
// does not exist.

func init() {
	funcs["connectedURL"] = func(org, udi string) string {
		return "/orgs/" + url.PathEscape(org) + "/connected/show?udi=" + url.QueryEscape(udi)
	}
	funcs["tokenState"] = func(t authority.Token, now int64) string { return t.State(now) }
}

func (s *server) connectedRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /orgs/{org}/connected", s.inOrg(s.connected))
	m.HandleFunc("GET /orgs/{org}/connected/show", s.inOrg(s.connectedShow))
	m.HandleFunc("POST /orgs/{org}/connected/tokens", s.inOrg(s.onceInOrg(s.tokenCreate)))
	m.HandleFunc("POST /orgs/{org}/connected/tokens/revoke/review", s.inOrg(s.tokenRevokeReview))
	m.HandleFunc("POST /orgs/{org}/connected/tokens/revoke", s.inOrg(s.tokenRevoke))
	s.deskConnectedRoutes(m)
}

type connectedData struct {
	Accounts  []string // names, for the token form
	Tokens    []authority.Token
	Instances []authority.ConnectedInfo
	Now       int64
}

func (s *server) connected(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	ts, err := ss.l.OrgTokens(r.Context(), acc.Org.Name)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	is, err := ss.l.OrgConnected(r.Context(), acc.Org.Name)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	accts, _, err := ss.l.OrgBalances(r.Context(), acc.Org.Name)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	d := &connectedData{Tokens: ts, Instances: is, Now: s.opts.Now().Unix()}
	for _, a := range accts {
		d.Accounts = append(d.Accounts, a.Name)
	}
	s.render(w, r, http.StatusOK, "connected_list.html", ss.page("Connected mode", acc, d))
}

func (s *server) connectedShow(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	udi := r.URL.Query().Get("udi")
	if strings.TrimSpace(udi) == "" || len(udi) > maxConnectedRef {
		s.failIn(w, r, ss, acc, badField("Instance", "give the UDI of an instance the Connected mode page lists"))
		return
	}
	info, err := ss.l.OrgConnectedShow(r.Context(), acc.Org.Name, udi)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	s.render(w, r, http.StatusOK, "connected_show.html", ss.page("Connected instance", acc, info))
}

// maxConnectedRef bounds a UDI or token id read from a form or a query:
// a UDI is well under 1 KiB.
const maxConnectedRef = 1 << 10

type tokenMadeData struct {
	Token string // typed, shown once
	Made  *authority.Token
}

// tokenCreate makes a registration token, as `airlock authority token
// create`, and shows it once.
func (s *server) tokenCreate(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	if err := needManage(acc); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	name := onlyValue(r, "account")
	if err := authority.CheckName("account", name); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	spec := authority.TokenSpec{Account: acc.Org.Name + "/" + name, ExportAllowed: r.PostFormValue("export") == "allow"}
	if v := strings.TrimSpace(r.PostFormValue("expires")); v != "" {
		t, err := date("Expires", v)
		if err != nil {
			s.failIn(w, r, ss, acc, err)
			return
		}
		spec.ExpiresAt = t.Unix()
	}
	n, err := formNumberOr(r, "uses", "Uses", 0, maxDeskCount, 0)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	spec.MaxUses = n
	typed, t, err := ss.l.CreateOrgToken(r.Context(), acc.Org.Name, spec)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	s.render(w, r, http.StatusOK, "connected_token.html", ss.page("Registration token made", acc, &tokenMadeData{Token: typed, Made: t}))
}

type tokenRevokeData struct {
	Token *authority.Token
	State string
}

// tokenID reads the id of a token from the form: 16 hex digits, as the
// list shows it.
func tokenID(r *http.Request) (string, error) {
	id := strings.ToLower(strings.TrimSpace(r.PostFormValue("id")))
	if len(id) != 16 || strings.Trim(id, "0123456789abcdef") != "" {
		return "", badField("Token", fmt.Sprintf("%q is not a token id (16 hex digits, as the list shows it)", clean(id)))
	}
	return id, nil
}

// tokenRevokeReview shows the token to revoke, with the button that
// revokes it.
func (s *server) tokenRevokeReview(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	if err := needManage(acc); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	id, err := tokenID(r)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	ts, err := ss.l.OrgTokens(r.Context(), acc.Org.Name)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	for i := range ts {
		if ts[i].ID() == id {
			s.render(w, r, http.StatusOK, "connected_revoke.html", ss.page("Revoke a registration token", acc, &tokenRevokeData{Token: &ts[i], State: ts[i].State(s.opts.Now().Unix())}))
			return
		}
	}
	s.failIn(w, r, ss, acc, fmt.Errorf("%w: organization %q has no registration token %q ('Connected mode' lists its tokens)", authority.ErrNotFound, acc.Org.Name, id))
}

func (s *server) tokenRevoke(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
	if err := needManage(acc); err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	id, err := tokenID(r)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	t, err := ss.l.RevokeOrgToken(r.Context(), acc.Org.Name, id)
	if err != nil {
		s.failIn(w, r, ss, acc, err)
		return
	}
	s.render(w, r, http.StatusOK, "connected_revoked.html", ss.page("Registration token revoked", acc, t))
}
