// Package service is the HTTPS API of connected mode (codes/api) on an
// authority.Ledger: what `airlock authority serve` runs.
//
// Make one with New, serve it with ServeTLS (or mount it as an
// http.Handler, as the tests do), and stop it with Shutdown, which lets
// the requests in flight finish. The service owns no ledger: the caller
// closes it after Shutdown returns.
//
// Every request is bounded before the ledger sees it: its body (api.MaxBody,
// read whole before it is parsed), its JSON (one object, known fields
// only, with their exact names, none twice), its rate (a token bucket per
// instance, and a stricter one per client address for registrations, so
// that tokens cannot be tried quickly), and how many run at once. The
// ledger authenticates each request in the transaction that acts on it
// (authority.Caller); the service only maps its refusals to statuses and
// api.Error codes. An answer never carries more than the refusal's own
// words: a failure of the ledger itself is answered "internal" and its
// detail goes to Options.Log only.
//
// Never put the service behind a proxy that terminates TLS and forwards
// plain HTTP to it: the registration rate limit is keyed by the address
// the connection comes from, which would then be the proxy's.
package service

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/authority/internal/ratelimit"
	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/codes/api"
)

// Defaults of Options.
const (
	// DefaultRate and DefaultBurst bound the requests of one instance: an
	// agent makes a few requests a day, a person at the instance's command
	// line a few a minute; 5/s with bursts of 20 never slows either, and
	// stops a runaway loop from taking the ledger's write lock for others.
	DefaultRate  = 5.0
	DefaultBurst = 20
	// DefaultRegisterRate and DefaultRegisterBurst bound registrations per
	// client address: a plant behind one NAT registering its instances at
	// 1/s after a burst of 10 is not hindered, while trying tokens at that
	// rate takes longer than the universe has existed (120 random bits).
	DefaultRegisterRate  = 1.0
	DefaultRegisterBurst = 10
	// DefaultMaxConcurrent bounds the requests handled at once, and so
	// the memory their bodies take (64 × api.MaxBody = 64 MiB at most).
	// The ledger writes one transaction at a time anyway.
	DefaultMaxConcurrent = 64
	// queueWait is how long a request waits for one of MaxConcurrent
	// slots before it is answered 503.
	queueWait = 2 * time.Second
	// maxClients bounds the rate limiters' tables (about 100 bytes an
	// entry): past it, entries idle long enough to be full are dropped,
	// and if none is, a new client waits (429) until one is.
	maxClients = 1 << 16
)

// Timeouts of the HTTP server. The ledger waits up to 10 s for another
// process's write lock (store.busyTimeout), so a request may take that long
// before it is answered; the write timeout leaves room for it.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second // headers and a body of api.MaxBody on a slow line
	WriteTimeout      = 45 * time.Second // from the end of the headers to the end of the answer
	IdleTimeout       = 2 * time.Minute  // a keep-alive connection between requests
	MaxHeaderBytes    = 16 << 10         // the API's headers take a few hundred bytes
)

// Options configure a Service. The zero value is usable: it takes the
// defaults above.
type Options struct {
	// Keys are the ids of the authority keys the health answer lists:
	// those instances may derive their MAC key with.
	Keys []codes.KeyID
	// Satellite says, in the health answer, that this is a satellite.
	Satellite bool
	// Rate (requests per second) and Burst bound one instance's
	// requests: 0 means DefaultRate and DefaultBurst.
	Rate  float64
	Burst int
	// RegisterRate and RegisterBurst bound registrations per client
	// address: 0 means DefaultRegisterRate and DefaultRegisterBurst.
	RegisterRate  float64
	RegisterBurst int
	// MaxConcurrent bounds the requests handled at once; 0 means
	// DefaultMaxConcurrent.
	MaxConcurrent int
	// Log, when set, is called once for every request answered, from the
	// request's goroutine: it must be safe for concurrent use.
	Log func(Entry)
	// ErrorLog receives the HTTP server's own errors (TLS handshakes that
	// failed, connections that broke); nil discards them.
	ErrorLog *log.Logger
	// Now is the rate limiters' clock; nil means time.Now.
	Now func() time.Time
	// Portal, when set, answers every path outside the API's /v1/: the
	// web portal (authority/web) on the same listener. It is not
	// counted among MaxConcurrent, nor logged through Log.
	Portal http.Handler
}

// An Entry describes one answered request, for the log.
type Entry struct {
	Method   string
	Path     string
	UDI      string // the Airlock-UDI header as sent (not authenticated), "" if none
	Remote   string // the client's address
	Status   int
	Code     string // the api.Error code of a refusal, "" on success
	Duration time.Duration
	// Err is why the request was refused or failed. For a status of 500
	// it holds the detail the answer left out.
	Err error
}

// A Service answers the API on a ledger.
type Service struct {
	l        *authority.Ledger
	opts     Options
	routes   map[string]http.HandlerFunc // by exact path: no cleaning, no redirects
	slots    chan struct{}
	perInst  *ratelimit.Limiter
	perAddr  *ratelimit.Limiter
	srv      atomic.Pointer[http.Server]
	stopping atomic.Bool
}

// New returns a service on l. It does not listen: see ServeTLS.
func New(l *authority.Ledger, opts Options) *Service {
	if opts.Rate <= 0 {
		opts.Rate = DefaultRate
	}
	if opts.Burst <= 0 {
		opts.Burst = DefaultBurst
	}
	if opts.RegisterRate <= 0 {
		opts.RegisterRate = DefaultRegisterRate
	}
	if opts.RegisterBurst <= 0 {
		opts.RegisterBurst = DefaultRegisterBurst
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = DefaultMaxConcurrent
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Service{
		l:       l,
		opts:    opts,
		routes:  map[string]http.HandlerFunc{},
		slots:   make(chan struct{}, opts.MaxConcurrent),
		perInst: ratelimit.New(opts.Rate, opts.Burst, maxClients),
		perAddr: ratelimit.New(opts.RegisterRate, opts.RegisterBurst, maxClients),
	}
	s.routes[api.PathHealth] = s.health
	s.routes[api.PathRegister] = s.register
	s.routes[api.PathSync] = s.sync
	s.route(api.PathRenewAuthorization, decoded(func(ctx context.Context, l *authority.Ledger, c authority.Caller, r api.RenewRequest) (any, error) {
		return l.RenewAuthorization(ctx, c, r)
	}))
	s.route(api.PathRenewRegistration, func(ctx context.Context, l *authority.Ledger, c authority.Caller) (any, error) {
		if err := decodeEmpty(c.Body); err != nil {
			return nil, err
		}
		return l.RenewRegistration(ctx, c)
	})
	s.route(api.PathConfirm, decoded(func(ctx context.Context, l *authority.Ledger, c authority.Caller, r api.CodeRequest) (any, error) {
		if len(r.Code) == 0 {
			return nil, badRequest("the body has no code: want {\"code\": BASE64}")
		}
		return l.ConfirmConnected(ctx, c, r.Code)
	}))
	s.route(api.PathUsage, decoded(func(ctx context.Context, l *authority.Ledger, c authority.Caller, r api.CodeRequest) (any, error) {
		if len(r.Code) == 0 {
			return nil, badRequest("the body has no code: want {\"code\": BASE64}")
		}
		return l.ReportUsage(ctx, c, r.Code)
	}))
	s.route(api.PathDeregister, decoded(func(ctx context.Context, l *authority.Ledger, c authority.Caller, r api.CodeRequest) (any, error) {
		return l.Deregister(ctx, c, r.Code)
	}))
	s.route(api.PathExport, decoded(func(ctx context.Context, l *authority.Ledger, c authority.Caller, r api.ExportRequest) (any, error) {
		return l.RequestExport(ctx, c, r)
	}))
	s.route(api.PathExportReturn, decoded(func(ctx context.Context, l *authority.Ledger, c authority.Caller, r api.ExportRequest) (any, error) {
		return l.ReturnExport(ctx, c, r)
	}))
	return s
}

// ServeHTTP answers one request.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if s.stopping.Load() {
		// Shutdown has begun: a request that came on a kept-alive
		// connection after it is not started.
		h.Set("Connection", "close")
		s.fail(w, r, time.Now(), &apiError{http.StatusServiceUnavailable, api.CodeUnavailable, "the service is shutting down: try again in a moment", nil, 5})
		return
	}
	if s.opts.Portal != nil && !strings.HasPrefix(r.URL.Path, "/v1/") {
		h.Del("Cache-Control") // the portal's pages say their own
		s.opts.Portal.ServeHTTP(w, r)
		return
	}
	route, ok := s.routes[r.URL.Path]
	if !ok || r.URL.RawQuery != "" {
		s.fail(w, r, time.Now(), &apiError{http.StatusNotFound, api.CodeNotFound, "no such path: see codes/api for the paths of the API, which take no query", nil, 0})
		return
	}
	route(w, r)
}

// ServeTLS serves HTTPS on ln with cfg (see TLSConfig) until Shutdown,
// after which it returns nil. It may be called once.
func (s *Service) ServeTLS(ln net.Listener, cfg *tls.Config) error {
	srv := &http.Server{
		Handler:           s,
		TLSConfig:         cfg,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          s.opts.ErrorLog,
	}
	if srv.ErrorLog == nil {
		srv.ErrorLog = log.New(discard{}, "", 0)
	}
	if !s.srv.CompareAndSwap(nil, srv) {
		return errors.New("service: ServeTLS called twice")
	}
	if s.stopping.Load() {
		return nil
	}
	err := srv.ServeTLS(ln, "", "")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections, closes the idle ones, and waits
// for the requests in flight to be answered, until ctx is done; then it
// closes the connections left and returns ctx's error. The caller closes
// the ledger after it returns.
func (s *Service) Shutdown(ctx context.Context) error {
	s.stopping.Store(true)
	srv := s.srv.Load()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		srv.Close()
	}
	return err
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// A handler is one authenticated route: it turns the caller into an
// answer.
type handler func(ctx context.Context, l *authority.Ledger, c authority.Caller) (any, error)

// decoded returns a handler that decodes the body into a Req first.
func decoded[Req any](fn func(ctx context.Context, l *authority.Ledger, c authority.Caller, r Req) (any, error)) handler {
	return func(ctx context.Context, l *authority.Ledger, c authority.Caller) (any, error) {
		var r Req
		if err := decodeStrict(c.Body, &r); err != nil {
			return nil, err
		}
		return fn(ctx, l, c, r)
	}
}

// route mounts an authenticated route: POST, JSON, the api headers, the
// instance's rate, a slot, the body, then the ledger.
func (s *Service) route(path string, fn handler) {
	s.routes[path] = func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if err := checkPost(w, r); err != nil {
			s.fail(w, r, start, err)
			return
		}
		signed, mac, err := api.ParseHeaders(r.Header.Get)
		if err != nil {
			s.fail(w, r, start, &apiError{http.StatusBadRequest, api.CodeBadRequest, err.Error(), err, 0})
			return
		}
		// The UDI is not authenticated yet: key its bucket by the address
		// too, so that a stranger who names an instance's UDI exhausts
		// his own bucket, not the instance's.
		if ok, retry := s.perInst.Allow(signed.UDI+"\x00"+ratelimit.ClientAddr(r), s.opts.Now()); !ok {
			s.fail(w, r, start, rateLimited(retry, "too many requests from this instance"))
			return
		}
		body, release, err := s.slotBody(w, r, api.MaxBody)
		if err != nil {
			s.fail(w, r, start, err)
			return
		}
		defer release()
		c := authority.Caller{Signed: signed, MAC: mac, Method: r.Method, Path: r.URL.Path, Body: body}
		out, err := fn(r.Context(), s.l, c)
		if err != nil {
			s.fail(w, r, start, err)
			return
		}
		s.answer(w, r, start, http.StatusOK, out)
	}
}

// register answers PathRegister: token authentication, a rate per client
// address.
func (s *Service) register(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if err := checkPost(w, r); err != nil {
		s.fail(w, r, start, err)
		return
	}
	if ok, retry := s.perAddr.Allow(ratelimit.ClientAddr(r), s.opts.Now()); !ok {
		s.fail(w, r, start, rateLimited(retry, "too many registrations from this address"))
		return
	}
	body, release, err := s.slotBody(w, r, api.MaxBody)
	if err != nil {
		s.fail(w, r, start, err)
		return
	}
	defer release()
	var req api.RegisterRequest
	if err := decodeStrict(body, &req); err != nil {
		s.fail(w, r, start, err)
		return
	}
	if req.Token == "" || len(req.Request) == 0 {
		s.fail(w, r, start, badRequest("a registration needs a token and a request code: want {\"token\": \"TK-…\", \"request\": BASE64}"))
		return
	}
	out, err := s.l.RegisterConnected(r.Context(), req)
	if err != nil {
		s.fail(w, r, start, err)
		return
	}
	s.answer(w, r, start, http.StatusOK, out)
}

// health answers PathHealth, unauthenticated: who serves and with which
// keys.
func (s *Service) health(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.fail(w, r, start, &apiError{http.StatusMethodNotAllowed, api.CodeMethod, fmt.Sprintf("%s takes GET, not %s", api.PathHealth, clean(r.Method)), nil, 0})
		return
	}
	m, err := s.l.Meta(r.Context())
	if err != nil {
		s.fail(w, r, start, err)
		return
	}
	h := api.Health{Authority: m.Name, Keys: make([]string, len(s.opts.Keys)), Satellite: s.opts.Satellite}
	for i, k := range s.opts.Keys {
		h.Keys[i] = k.String()
	}
	s.answer(w, r, start, http.StatusOK, h)
}

// acquire takes one of MaxConcurrent slots, waiting at most queueWait.
func (s *Service) acquire(ctx context.Context) (func(), error) {
	release := func() { <-s.slots }
	select {
	case s.slots <- struct{}{}:
		return release, nil
	default:
	}
	t := time.NewTimer(queueWait)
	defer t.Stop()
	select {
	case s.slots <- struct{}{}:
		return release, nil
	case <-t.C:
		return nil, &apiError{http.StatusServiceUnavailable, api.CodeUnavailable, "the service is busy: try again in a moment", nil, 1}
	case <-ctx.Done():
		return nil, &apiError{http.StatusServiceUnavailable, api.CodeUnavailable, "the request was cancelled", ctx.Err(), 0}
	}
}

// slotBody takes a slot among the requests served at once, then reads
// the body, at most limit bytes. The caller releases the slot once it
// answered; on an error the slot is released already.
func (s *Service) slotBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, func(), error) {
	release, err := s.acquire(r.Context())
	if err != nil {
		return nil, nil, err
	}
	body, err := readBody(w, r, limit)
	if err != nil {
		release()
		return nil, nil, err
	}
	return body, release, nil
}

// rateLimited is a 429 with Retry-After in whole seconds, at least 1.
func rateLimited(retry time.Duration, msg string) *apiError {
	secs := int((retry + time.Second - 1) / time.Second)
	secs = max(secs, 1)
	return &apiError{http.StatusTooManyRequests, api.CodeRateLimited, fmt.Sprintf("%s: try again in %d s", msg, secs), nil, secs}
}

// answer writes a 2xx JSON answer and logs the request.
func (s *Service) answer(w http.ResponseWriter, r *http.Request, start time.Time, status int, v any) {
	b, err := encodeJSON(v)
	if err != nil {
		s.fail(w, r, start, err)
		return
	}
	writeJSON(w, status, b)
	s.log(r, start, status, "", nil)
}

// fail writes the api.Error answer err maps to, and logs the request
// with err.
func (s *Service) fail(w http.ResponseWriter, r *http.Request, start time.Time, err error) {
	e := classify(err)
	cause := e.err
	if cause == nil {
		cause = errors.New(e.msg)
	}
	msg := e.msg
	if e.status == http.StatusInternalServerError {
		msg = "the authority failed to answer and logged why: try again later, or tell its operator"
	}
	if e.retry > 0 {
		w.Header().Set(api.HeaderRetryAfterSeconds, strconv.Itoa(e.retry))
	}
	b, jerr := encodeJSON(api.Error{Code: e.code, Message: msg})
	if jerr != nil { // two strings always encode
		panic("service: " + jerr.Error())
	}
	writeJSON(w, e.status, b)
	s.log(r, start, e.status, e.code, cause)
}

func (s *Service) log(r *http.Request, start time.Time, status int, code string, err error) {
	if s.opts.Log == nil {
		return
	}
	s.opts.Log(Entry{
		Method: r.Method, Path: r.URL.Path, UDI: r.Header.Get(api.HeaderUDI), Remote: ratelimit.ClientAddr(r),
		Status: status, Code: code, Duration: time.Since(start), Err: err,
	})
}

func writeJSON(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", api.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}
