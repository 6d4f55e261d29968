package web

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/authority/internal/ratelimit"
)

// signInPage shows the sign-in form, with a token bound to a cookie of
// its own so that no other site can sign a browser in (login CSRF).
func (s *server) signInPage(w http.ResponseWriter, r *http.Request) {
	d := &signInData{Expired: r.URL.Query().Get("expired") == "1", Changed: r.URL.Query().Get("changed") == "1"}
	s.renderSignIn(w, r, http.StatusOK, d)
}

type signInData struct {
	Email   string
	Expired bool
	Changed bool // the person changed their password
	Error   string
	Token   string
}

// renderSignIn shows the sign-in form, with a new sign-in cookie unless
// the request has a valid one.
func (s *server) renderSignIn(w http.ResponseWriter, r *http.Request, status int, d *signInData) {
	secret := signInSecret(r)
	if secret == nil {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			s.fail(w, r, nil, err)
			return
		}
		setCookie(w, signInCookie, secret, time.Hour)
	}
	d.Token = formToken(secret, signInCSRFLabel)
	s.render(w, r, status, "signin.html", &page{Title: "Sign in", Data: d})
}

func signInSecret(r *http.Request) []byte {
	c, err := r.Cookie(signInCookie)
	if err != nil {
		return nil
	}
	b, err := b64.DecodeString(c.Value)
	if err != nil || len(b) != 32 {
		return nil
	}
	return b
}

// signIn checks the form's token, the rate limits, then the e-mail
// address and password, and opens a session.
func (s *server) signIn(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, nil, formError(err))
		return
	}
	secret := signInSecret(r)
	if secret == nil || !checkToken(secret, signInCSRFLabel, onlyValue(r, "csrf")) {
		s.fail(w, r, nil, errCSRF)
		return
	}
	email := strings.TrimSpace(r.PostFormValue("email"))
	password := r.PostFormValue("password")
	now := s.opts.Now()
	if ok, wait := s.perAddr.Allow(ratelimit.ClientAddr(r), now); !ok {
		s.tooMany(w, r, wait)
		return
	}
	if ok, wait := s.perAcct.Allow(strings.ToLower(email), now); !ok {
		s.tooMany(w, r, wait)
		return
	}
	id, p, err := s.l.SignIn(r.Context(), email, password)
	if errors.Is(err, authority.ErrSignIn) {
		s.renderSignIn(w, r, http.StatusUnauthorized, &signInData{Email: email, Error: "Wrong e-mail address or password."})
		return
	}
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	// A session the browser had before ends: one browser, one session.
	if old, err := r.Cookie(sessionCookie); err == nil {
		if b, err := b64.DecodeString(old.Value); err == nil {
			_ = s.l.SignOut(r.Context(), b)
		}
	}
	setCookie(w, sessionCookie, id, authority.SessionMaxAge)
	clearCookie(w, signInCookie)
	to := "/orgs"
	if p.Role == authority.RoleAdmin || p.Role == authority.RoleViewer {
		to = "/orgs/" + p.Org + "/licenses"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (s *server) tooMany(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", fmt.Sprint(secs))
	s.fail(w, r, nil, &pageError{status: http.StatusTooManyRequests, title: "Too many sign-in attempts",
		msg:  "There were too many sign-in attempts from this address or for this account.",
		hint: fmt.Sprintf("Wait %s, then try again.", (time.Duration(secs) * time.Second).String())})
}

// signOut ends the session.
func (s *server) signOut(w http.ResponseWriter, r *http.Request, ss *session) {
	if err := s.l.SignOut(r.Context(), ss.id); err != nil {
		s.fail(w, r, ss, err)
		return
	}
	clearCookie(w, sessionCookie)
	w.Header().Set("Clear-Site-Data", `"cookies"`)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}
