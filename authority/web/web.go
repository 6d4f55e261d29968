// Package web is the licensing portal in a browser: server-rendered pages
// on an authority.Ledger, for the vendor's support staff and the people of
// customer organizations, next to the HTTPS API of package service in
// `airlock authority serve`.
//
// Make the handler with New on the ledger serve opened (with the
// authority's keys: reserving signs codes) and mount it; serve it over TLS
// only, since its cookies are Secure and __Host- prefixed and a browser
// keeps none of them over plain HTTP.
//
// Every page is a call of the library as the person signed in
// (Ledger.As): the library's role checks decide what they may do, and its
// history records them. The portal adds no rule of its own beyond these:
// the organization is in the path (/orgs/ORG/…) and every page of one is
// authorized by the library first (Ledger.Access), so that a person never
// reads or changes another organization; a page never shows a code or a
// number that a library call did not return to that person.
//
// What the portal defends, and how:
//
//   - sessions: SessionIDSize random bytes in a __Host- cookie (Secure,
//     HttpOnly, SameSite=Strict, Path=/), kept by the ledger as a hash,
//     ended after authority.SessionIdle idle or authority.SessionMaxAge;
//   - cross-site requests: every POST carries a token bound to the
//     session by HMAC and is refused without it (403, nothing done), and
//     is also refused when the browser says it comes from another site
//     (http.CrossOriginProtection); the sign-in form has its own token,
//     bound to a cookie, against login CSRF;
//   - guessing passwords: sign-ins are rate-limited per client address
//     and per account, in memory (each process counts its own, so N
//     servers on one ledger allow N times the rate);
//   - injection: html/template escapes everything; no inline script or
//     style, and a Content-Security-Policy that forbids them;
//   - hostile input: bodies are bounded (MaxUpload), codes are read with
//     codes.DecodeKind and opened by the library, and a refusal shows its
//     own words, never a stack or an internal error.
package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/authority/internal/ratelimit"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Limits of requests.
const (
	// MaxUpload bounds a request that carries a code: an armored file of
	// the largest kind the pages take is under 64 KiB, a typed code under
	// 8 KiB (codes.Decode); 1 MiB leaves room for the form around it
	// and refuses anything larger before it is read.
	MaxUpload = 1 << 20
	// maxForm bounds every other form: an e-mail address and a password
	// (authority.MaxPasswordSize) with room to spare.
	maxForm = 16 << 10
)

// The headers of every answer. The policy allows the one stylesheet and
// images of the portal's own origin, forms that post to it, and nothing
// else: no script at all, no frames around it, no <base>.
const (
	contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

// Options configure the portal. The zero value is usable.
type Options struct {
	// Now is the clock of the sign-in rate limits and of the states a
	// page shows (a token's, an agreement's, a manifest's end); nil means
	// time.Now. Give it the ledger's clock (authority.Options.Now), on
	// which sessions expire and codes are issued.
	Now func() time.Time
	// Log, when set, receives the failures of the authority itself (an
	// answer 500 says "internal error" and nothing more), with the
	// request they answered. It must be safe for concurrent use.
	Log func(r *http.Request, err error)
	// SignInRate and SignInBurst bound sign-in attempts per client
	// address (per second, and at once); 0 means DefaultSignInRate and
	// DefaultSignInBurst. AccountRate and AccountBurst bound them per
	// e-mail address; 0 means DefaultAccountRate and
	// DefaultAccountBurst.
	SignInRate   float64
	SignInBurst  int
	AccountRate  float64
	AccountBurst int
}

// Defaults of the sign-in rate limits. A person who mistypes a password
// a few times is never held back; someone guessing gets 10 guesses a
// minute from one address and 5 an hour at one account, however many
// addresses they use, which with 12-character passwords and argon2id
// puts a guess out of reach. A person whose account is being guessed at
// waits too: that is the price of a per-account limit.
const (
	DefaultSignInRate   = 1.0 / 6 // one every 6 s after the burst
	DefaultSignInBurst  = 10
	DefaultAccountRate  = 1.0 / 720 // one every 12 min after the burst
	DefaultAccountBurst = 5
)

// maxKeys bounds each sign-in limiter's table (about 100 bytes a key).
const maxKeys = 1 << 16

// A server holds the portal's state: the ledger, the templates, the rate
// limits.
type server struct {
	l         *authority.Ledger
	opts      Options
	pages     map[string]*template.Template
	perAddr   *ratelimit.Limiter
	perAcct   *ratelimit.Limiter
	crossSite *http.CrossOriginProtection
	mux       *http.ServeMux
}

// New returns the portal on l, which the caller keeps and closes after
// the server stops.
func New(l *authority.Ledger, opts Options) http.Handler {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SignInRate <= 0 {
		opts.SignInRate = DefaultSignInRate
	}
	if opts.SignInBurst <= 0 {
		opts.SignInBurst = DefaultSignInBurst
	}
	if opts.AccountRate <= 0 {
		opts.AccountRate = DefaultAccountRate
	}
	if opts.AccountBurst <= 0 {
		opts.AccountBurst = DefaultAccountBurst
	}
	s := &server{
		l:         l,
		opts:      opts,
		pages:     parsePages(),
		perAddr:   ratelimit.New(opts.SignInRate, opts.SignInBurst, maxKeys),
		perAcct:   ratelimit.New(opts.AccountRate, opts.AccountBurst, maxKeys),
		crossSite: http.NewCrossOriginProtection(),
		mux:       http.NewServeMux(),
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic("web: " + err.Error())
	}
	m := s.mux
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /signin", s.signInPage)
	m.HandleFunc("POST /signin", s.signIn)
	m.HandleFunc("POST /signout", s.signedIn(s.signOut))
	m.HandleFunc("GET /{$}", s.signedIn(s.home))
	m.HandleFunc("GET /orgs", s.signedIn(s.orgs))
	m.HandleFunc("GET /orgs/{org}", s.inOrg(s.orgHome))
	m.HandleFunc("GET /orgs/{org}/licenses", s.inOrg(s.licenses))
	m.HandleFunc("GET /orgs/{org}/reserve", s.inOrg(s.reserveForm))
	m.HandleFunc("POST /orgs/{org}/reserve/review", s.inOrg(s.reserveReview))
	m.HandleFunc("POST /orgs/{org}/reserve", s.inOrg(s.reserve))
	m.HandleFunc("POST /orgs/{org}/reserve/download", s.inOrg(s.download))
	for _, k := range []*instanceCode{confirmation, returned} {
		m.HandleFunc("GET /orgs/{org}/"+k.Path, s.inOrg(s.codeForm(k)))
		m.HandleFunc("POST /orgs/{org}/"+k.Path, s.inOrg(s.applyCode(k)))
	}
	// The pages of each part of the portal, each in its own file.
	s.instanceRoutes(m)
	s.historyRoutes(m)
	s.walletRoutes(m)
	s.fleetRoutes(m)
	s.portalRoutes(m)
	s.deskRoutes(m)
	s.exchangeRoutes(m)
	s.connectedRoutes(m)
	s.passwordRoutes(m)
	m.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/static/favicon.svg", http.StatusMovedPermanently)
	})
	m.HandleFunc("/", s.notFound)
	return s
}

// ServeHTTP sets the headers every answer carries, bounds the body, and
// routes.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if strings.HasPrefix(r.URL.Path, "/static/") {
		h.Set("Cache-Control", "public, max-age=3600")
	} else {
		// Pages show licenses and codes: keep them out of caches and
		// the back button of a shared machine.
		h.Set("Cache-Control", "no-store")
	}
	limit := int64(maxForm)
	if r.Method == http.MethodPost && carriesFiles(r.URL.Path) {
		limit = MaxUpload
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if err := s.crossSite.Check(r); err != nil {
			s.fail(w, r, nil, &pageError{status: http.StatusForbidden, title: "Refused",
				msg: "This form was sent from another site. Nothing was done.", hint: "Open the portal itself and send the form from there."})
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// carriesFiles says whether the forms at path take code or trust files:
// an organization's pages, and the desk's satellites (trust files, sync
// requests of many accounts). The others take typed fields only.
func carriesFiles(path string) bool {
	return strings.HasPrefix(path, "/orgs/") || path == "/desk/satellites" || strings.HasPrefix(path, "/desk/satellites/")
}

func (s *server) notFound(w http.ResponseWriter, r *http.Request) {
	s.fail(w, r, nil, &pageError{status: http.StatusNotFound, title: "Not found", msg: "There is no page at this address."})
}

// A session is the person signed in, for one request.
type session struct {
	id     []byte
	person *authority.Person
	l      *authority.Ledger // the ledger as the person
}

// Cookies. The __Host- prefix makes the browser refuse them unless they
// are Secure, have Path=/ and no Domain: no other host, and no plain-HTTP
// page, can set or overwrite them.
const (
	sessionCookie = "__Host-airlock-session"
	signInCookie  = "__Host-airlock-signin" // binds the sign-in form's token
)

var b64 = base64.RawURLEncoding

// Labels of the HMACs that bind form tokens to their cookie.
const (
	csrfLabel       = "airlock/v1/web/csrf"
	signInCSRFLabel = "airlock/v1/web/signin-csrf"
)

// formToken returns the token of forms bound to secret (a session id, or
// the sign-in cookie): HMAC-SHA256 keyed by the secret. Knowing it needs
// the cookie, which no other site can read.
func formToken(secret []byte, label string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return b64.EncodeToString(m.Sum(nil))
}

// checkToken reports whether the form's token matches secret, in constant
// time.
func checkToken(secret []byte, label, got string) bool {
	want := formToken(secret, label)
	return len(got) == len(want) && hmac.Equal([]byte(got), []byte(want))
}

func (ss *session) csrf() string { return formToken(ss.id, csrfLabel) }

// signedIn runs h for a person signed in: the session cookie names a
// session in force; a POST must carry the session's form token. Without a
// session it redirects to the sign-in page (nothing is done).
func (s *server) signedIn(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ss, err := s.session(r)
		if err != nil {
			if errors.Is(err, authority.ErrNoSession) {
				clearCookie(w, sessionCookie)
				to := "/signin"
				if errors.Is(err, authority.ErrSessionExpired) {
					to += "?expired=1"
				}
				http.Redirect(w, r, to, http.StatusSeeOther)
				return
			}
			s.fail(w, r, nil, err)
			return
		}
		if r.Method == http.MethodPost {
			if err := parseForm(r); err != nil {
				s.fail(w, r, ss, err)
				return
			}
			if !checkToken(ss.id, csrfLabel, onlyValue(r, "csrf")) {
				s.fail(w, r, ss, errCSRF)
				return
			}
			if err := sentOnceEach(r); err != nil {
				s.fail(w, r, ss, err)
				return
			}
		}
		h(w, r, ss)
	}
}

var errCSRF = &pageError{status: http.StatusForbidden, title: "Refused",
	msg:  "This form has no valid security token, so nothing was done.",
	hint: "Go back, reload the page, and send the form again."}

// session returns the session of the request's cookie.
func (s *server) session(r *http.Request) (*session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, authority.ErrNoSession
	}
	id, err := b64.DecodeString(c.Value)
	if err != nil || len(id) != authority.SessionIDSize {
		return nil, authority.ErrNoSession
	}
	p, _, err := s.l.SessionPerson(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return &session{id: id, person: p, l: s.l.As(p.Email)}, nil
}

func setCookie(w http.ResponseWriter, name string, value []byte, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: b64.EncodeToString(value), Path: "/", MaxAge: int(maxAge / time.Second),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

func clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

// parseForm parses a POST form, with a file or not, within the body's
// bound (ServeHTTP set it: MaxUpload for the forms that carry files,
// maxForm elsewhere).
func parseForm(r *http.Request) error {
	var err error
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		err = r.ParseMultipartForm(MaxUpload)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		return formError(err)
	}
	return nil
}

// sentOnceEach refuses a form with a field sent more than once but those
// that are repeatable.
func sentOnceEach(r *http.Request) error {
	for field, vs := range r.PostForm {
		if len(vs) > 1 && !repeatable[field] {
			return badField(fmt.Sprintf("Field %q", shown(field)), "sent more than once: send the form from the portal's page")
		}
	}
	return nil
}

// repeatable are the fields a form may send more than once: the lines of
// an update (tag and count), the licenses of a system, the accounts of a
// satellite. Every other field sent twice refuses the form, rather than
// one of its values being taken.
var repeatable = map[string]bool{"tag": true, "count": true, "license": true, "account": true}

// onlyValue returns the value of a field the POST body gives once; "" for
// none or several (which one would count is not guessed).
func onlyValue(r *http.Request, field string) string {
	if vs := r.PostForm[field]; len(vs) == 1 {
		return vs[0]
	}
	return ""
}
