package web

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/airlock-dev/airlock/authority"
)

// signInPage shows the sign-in form, with a token bound to a cookie of
// its own so that no other site can sign a browser in (login CSRF).
func (s *server) signInPage(w http.ResponseWriter, r *http.Request) {
	d := &signInData{Expired: r.URL.Query().Get("expired") == "1"}
	s.renderSignIn(w, r, http.StatusOK, d)
}

type signInData struct {
	Email   string
	Expired bool
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
	if ok, wait := s.perAddr.allow(clientAddr(r), now); !ok {
		s.tooMany(w, r, wait)
		return
	}
	if ok, wait := s.perAcct.allow(strings.ToLower(email), now); !ok {
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

// clientAddr is the address the connection comes from. The portal is
// served directly, not behind a proxy: behind one, every client would
// share the proxy's address and its limit.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
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

// A limiter is a token bucket per key (a client address, an e-mail
// address), in memory.
type limiter struct {
	rate  float64 // tokens a second
	burst float64
	mu    sync.Mutex
	m     map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxKeys bounds a limiter's table (about 100 bytes a key): past it,
// buckets that have refilled are dropped, and if none has, the new key
// is refused until one has.
const maxKeys = 1 << 16

func newLimiter(rate float64, burst int) *limiter {
	return &limiter{rate: rate, burst: float64(burst), m: map[string]*bucket{}}
}

// allow takes a token of key's bucket, or says how long until there is
// one.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[key]
	if b == nil {
		if len(l.m) >= maxKeys {
			l.prune(now)
			if len(l.m) >= maxKeys {
				return false, time.Minute
			}
		}
		b = &bucket{tokens: l.burst, at: now}
		l.m[key] = b
	}
	if dt := now.Sub(b.at).Seconds(); dt > 0 {
		b.tokens = min(l.burst, b.tokens+dt*l.rate)
	}
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// prune drops the buckets that would be full now.
func (l *limiter) prune(now time.Time) {
	for k, b := range l.m {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(l.m, k)
		}
	}
}
