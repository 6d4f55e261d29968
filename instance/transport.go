package instance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/airlock-dev/airlock/codes/api"
)

// A TransportKind says what kind of licensing service an instance talks
// to. A satellite speaks the same protocol as the vendor's service; the
// kind is kept only to say which one it is.
type TransportKind uint8

// The transport kinds.
const (
	TransportOffline   TransportKind = iota // codes only, carried by people
	TransportDirect                         // the vendor's service (airlock authority serve)
	TransportSatellite                      // a satellite on the customer's site
)

// String returns "offline", "direct" or "satellite".
func (k TransportKind) String() string {
	switch k {
	case TransportOffline:
		return "offline"
	case TransportDirect:
		return "direct"
	case TransportSatellite:
		return "satellite"
	}
	return fmt.Sprintf("transport(%d)", uint8(k))
}

// A Transport says how an instance reaches its licensing service in
// connected mode. Secrets are never part of it: a proxy's password comes
// from Client.ProxyPassword each time it is needed.
type Transport struct {
	Kind      TransportKind
	URL       string // https://host[:port]; the API paths of codes/api go after it
	Proxy     string // http(s)://host:port of an HTTP proxy reached with CONNECT; "" for none
	ProxyUser string // the proxy's user, for Basic authentication; "" for none
	CA        []byte // PEM certificates trusted for the service instead of the system's roots; nil for the system's
	Private   bool   // registration withholds the hostname and the IP addresses
}

// Limits of a transport setting.
const (
	// maxURLLen caps the service and proxy URLs: they are typed by people.
	maxURLLen = 512
	// MaxCASize caps a pinned CA file: a handful of PEM certificates.
	MaxCASize = 64 << 10
	// caPrefix names the copies of pinned CA files in the state folder:
	// "service-ca-" and the first 8 bytes of the file's SHA-256 in hex.
	caPrefix = "service-ca-"
)

// ErrTransport means a transport setting is malformed: a URL that is not
// https://host[:port], a proxy URL with a password in it, a CA file with
// no certificate.
var ErrTransport = errors.New("invalid transport setting")

// SetTransport sets how the instance reaches its licensing service, or
// with t.Kind TransportOffline, goes back to offline mode (the
// registration, if any, is kept: deregister first to end it). A pinned CA
// (t.CA) is copied into the state folder, under a name the state records
// with its hash, before the state names it; a CA file changed behind the
// state's back is refused when used. It checks the setting, never the
// network.
func (in *Instance) SetTransport(t Transport) error {
	if err := t.check(); err != nil {
		return err
	}
	var caFile string
	var caSum []byte
	if t.Kind != TransportOffline && t.CA != nil {
		sum := sha256.Sum256(t.CA)
		caSum, caFile = sum[:], filepath.Join(in.dir, caName(sum[:]))
		if _, err := writeAtomic(in.opts.fsys, caFile, t.CA); err != nil {
			return fmt.Errorf("%w: copying the CA file into the state folder: %v; nothing changed", ErrPersist, err)
		}
	}
	err := in.update(func(st *state, now time.Time) error {
		c := st.connected()
		was := c.transportString()
		if t.Kind == TransportOffline {
			c.Kind, c.URL, c.Proxy, c.ProxyUser, c.CA, c.Private = 0, "", "", "", nil, false
		} else {
			c.Kind, c.URL, c.Proxy, c.ProxyUser, c.CA, c.Private = uint8(t.Kind), t.URL, t.Proxy, t.ProxyUser, caSum, t.Private
		}
		if now := c.transportString(); now == was {
			return errNoChange
		}
		st.journalAdd(now.Unix(), "transport", c.transportString())
		return nil
	})
	if err == nil {
		in.sweepCAFiles(caFile)
	}
	return err
}

// caName is the file name of a pinned CA file with SHA-256 sum.
func caName(sum []byte) string { return caPrefix + hex.EncodeToString(sum[:8]) + ".pem" }

// sweepCAFiles removes the copies of CA files the state no longer names,
// but keep.
func (in *Instance) sweepCAFiles(keep string) {
	entries, err := os.ReadDir(in.dir)
	if err != nil {
		return
	}
	var named string
	_ = in.read(func(st *state, now time.Time) error {
		if st.conn != nil && st.conn.CA != nil {
			named = caName(st.conn.CA)
		}
		return nil
	})
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, caPrefix) && n != named && n != filepath.Base(keep) && e.Type().IsRegular() {
			in.opts.fsys.Remove(filepath.Join(in.dir, n))
		}
	}
}

// Transport returns the transport setting; Kind is TransportOffline when
// none is set.
func (in *Instance) Transport() (Transport, error) {
	var t Transport
	err := in.read(func(st *state, now time.Time) error {
		var err error
		t, err = in.transportOf(st)
		return err
	})
	return t, err
}

// transportOf reads the setting from the state, and the pinned CA from
// its file, checked against the hash the state keeps.
func (in *Instance) transportOf(st *state) (Transport, error) {
	c := st.conn
	if c == nil || c.Kind == 0 {
		return Transport{}, nil
	}
	t := Transport{Kind: TransportKind(c.Kind), URL: c.URL, Proxy: c.Proxy, ProxyUser: c.ProxyUser, Private: c.Private}
	if c.CA != nil {
		path := filepath.Join(in.dir, caName(c.CA))
		b, err := readSmallFile(path, MaxCASize)
		if err != nil {
			return t, fmt.Errorf("%w: the pinned CA file %s: %v; set it again with airlock instance transport --ca FILE", ErrCorrupt, path, err)
		}
		if sum := sha256.Sum256(b); !bytes.Equal(sum[:], c.CA) {
			return t, fmt.Errorf("%w: the pinned CA file %s was changed outside airlock; set it again with airlock instance transport --ca FILE", ErrCorrupt, path)
		}
		t.CA = b
	}
	return t, nil
}

func readSmallFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("more than %d bytes", limit)
	}
	return b, err
}

// check validates a setting.
func (t *Transport) check() error {
	switch t.Kind {
	case TransportOffline:
		return nil
	case TransportDirect, TransportSatellite:
	default:
		return fmt.Errorf("%w: unknown kind %d", ErrTransport, t.Kind)
	}
	if _, err := serviceURL(t.URL); err != nil {
		return err
	}
	if t.Proxy != "" {
		if _, err := proxyURL(t.Proxy, t.ProxyUser, ""); err != nil {
			return err
		}
	} else if t.ProxyUser != "" {
		return fmt.Errorf("%w: a proxy user without a proxy", ErrTransport)
	}
	if len(t.ProxyUser) > 256 || strings.ContainsAny(t.ProxyUser, ":\r\n") {
		return fmt.Errorf("%w: proxy user %q: at most 256 characters, without ':' or line breaks", ErrTransport, t.ProxyUser)
	}
	if t.CA != nil {
		if _, err := caPool(t.CA); err != nil {
			return err
		}
	}
	return nil
}

// serviceURL parses a service URL: https, a host, no user, no path beyond
// "/", no query: the request MAC covers the API path as codes/api writes
// it, so a prefix would never verify.
func serviceURL(raw string) (*url.URL, error) {
	if len(raw) > maxURLLen {
		return nil, fmt.Errorf("%w: the service URL has %d characters, the limit is %d", ErrTransport, len(raw), maxURLLen)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: service URL %q: %v", ErrTransport, raw, err)
	case u.Scheme != "https":
		return nil, fmt.Errorf("%w: service URL %q: the licensing service speaks HTTPS only: write https://host[:port]", ErrTransport, raw)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("%w: service URL %q has no host", ErrTransport, raw)
	case u.User != nil:
		return nil, fmt.Errorf("%w: service URL %q: no user or password belongs in it", ErrTransport, raw)
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
		return nil, fmt.Errorf("%w: service URL %q: give the host and port only (https://host[:port]), no path or query", ErrTransport, raw)
	}
	u.Path = ""
	return u, nil
}

// proxyURL parses a proxy URL and adds the user and password.
func proxyURL(raw, user, password string) (*url.URL, error) {
	if len(raw) > maxURLLen {
		return nil, fmt.Errorf("%w: the proxy URL has %d characters, the limit is %d", ErrTransport, len(raw), maxURLLen)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: proxy URL %q: %v", ErrTransport, raw, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%w: proxy URL %q: write http://host:port (or https:// for a proxy that speaks TLS)", ErrTransport, raw)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("%w: proxy URL %q has no host", ErrTransport, raw)
	case u.User != nil:
		return nil, fmt.Errorf("%w: proxy URL %q holds a user: give it as the proxy user, and the password through the environment or the prompt, never in the URL", ErrTransport, redactURL(u))
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
		return nil, fmt.Errorf("%w: proxy URL %q: give the host and port only", ErrTransport, raw)
	}
	u.Path = ""
	if user != "" {
		u.User = url.UserPassword(user, password)
	}
	return u, nil
}

// redactURL writes u without a password.
func redactURL(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User(c.User.Username())
	}
	return c.String()
}

// caPool parses PEM certificates.
func caPool(pemData []byte) (*x509.CertPool, error) {
	if len(pemData) > MaxCASize {
		return nil, fmt.Errorf("%w: the CA file has %d bytes, the limit is %d", ErrTransport, len(pemData), MaxCASize)
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := pemData; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: the CA file's certificate %d: %v", ErrTransport, n+1, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: the CA file holds no PEM certificate (-----BEGIN CERTIFICATE-----)", ErrTransport)
	}
	return pool, nil
}

// The failures of a call to the licensing service. Each message names the
// service's URL, says whether the proxy was involved, and what to check.
var (
	// ErrOffline means no transport is set: the instance works with codes
	// only (airlock instance transport sets one).
	ErrOffline = errors.New("no licensing service set (offline)")
	// ErrUnreachable means the service could not be reached or did not
	// answer in time: DNS, connection, timeout. The call may be retried.
	ErrUnreachable = errors.New("licensing service unreachable")
	// ErrProxy means the HTTP proxy could not be reached, refused the
	// credentials, or refused to connect to the service.
	ErrProxy = errors.New("proxy refused the connection")
	// ErrTLS means the service's certificate does not verify against the
	// pinned CA (or the system's roots), or the TLS handshake failed.
	ErrTLS = errors.New("service certificate not trusted")
	// ErrService means the service answered with an error; a
	// *ServiceError (errors.As) says which.
	ErrService = errors.New("licensing service refused the request")
	// ErrBadAnswer means the service's answer is not what the protocol
	// allows: malformed JSON, a body too large, a field out of bounds.
	ErrBadAnswer = errors.New("malformed answer from the licensing service")
)

// A ServiceError is an error answer of the service.
type ServiceError struct {
	URL        string        // the request's URL
	Status     int           // the HTTP status
	Code       string        // api.Code…, or "" when the body was not an api.Error
	Message    string        // the service's message, cleaned of control characters
	RetryAfter time.Duration // from Retry-After, 0 if none
}

func (e *ServiceError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	s := fmt.Sprintf("%s: %s (HTTP %d", e.URL, msg, e.Status)
	if e.Code != "" {
		s += ", " + e.Code
	}
	return s + ")"
}

func (e *ServiceError) Unwrap() error { return ErrService }

// Transient reports whether the same request may succeed later: the
// service is busy, shutting down or rate-limiting, or failed inside.
func (e *ServiceError) Transient() bool {
	switch e.Code {
	case api.CodeRateLimited, api.CodeUnavailable, api.CodeInternal:
		return true
	case "":
		return e.Status >= 500 || e.Status == http.StatusTooManyRequests
	}
	return false
}

// transient reports whether err is worth retrying later.
func transient(err error) bool {
	var se *ServiceError
	if errors.As(err, &se) {
		return se.Transient()
	}
	return errors.Is(err, ErrUnreachable) || errors.Is(err, ErrProxy) || errors.Is(err, ErrTLS) || errors.Is(err, ErrBadAnswer)
}

// A Client makes the HTTPS calls of connected mode for an instance, with
// the transport setting kept in its state. It is safe for concurrent use
// and keeps connections open between calls; do not copy it after first
// use.
type Client struct {
	// ProxyPassword returns the password of the proxy user, when the
	// setting names one. It is called for every call; nil means no
	// password.
	ProxyPassword func(user string) (string, error)
	// Timeout bounds each call, connection and answer included (default
	// DefaultTimeout).
	Timeout time.Duration

	cached struct {
		key    string
		client *http.Client
	}
	mu sync.Mutex
}

// DefaultTimeout bounds one call to the service: long enough for a slow
// link through a proxy, short enough for an administrator waiting at the
// prompt.
const DefaultTimeout = 30 * time.Second

// A route is one resolved call target: the HTTP client, the service URL,
// and what the messages say about it.
type route struct {
	client  *http.Client
	base    *url.URL
	proxy   string // the proxy's URL without credentials, "" for none
	private bool
	kind    TransportKind
}

// routeFor builds (or reuses) the HTTP client for t.
func (c *Client) routeFor(t Transport) (*route, error) {
	if t.Kind == TransportOffline {
		return nil, fmt.Errorf("%w: set the service with airlock instance transport --direct URL (or --satellite URL), or use the offline codes", ErrOffline)
	}
	base, err := serviceURL(t.URL)
	if err != nil {
		return nil, err
	}
	r := &route{base: base, proxy: t.Proxy, private: t.Private, kind: t.Kind}
	password := ""
	if t.ProxyUser != "" && c.ProxyPassword != nil {
		if password, err = c.ProxyPassword(t.ProxyUser); err != nil {
			return nil, fmt.Errorf("%w: the password of proxy user %q: %v", ErrProxy, t.ProxyUser, err)
		}
	}
	sum := sha256.Sum256([]byte(strings.Join([]string{t.URL, t.Proxy, t.ProxyUser, password, string(t.CA), strconv.FormatInt(int64(c.timeout()), 10)}, "\x00")))
	key := string(sum[:])
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cached.client != nil && c.cached.key == key {
		r.client = c.cached.client
		return r, nil
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CA != nil {
		if tlsConf.RootCAs, err = caPool(t.CA); err != nil {
			return nil, err
		}
	}
	tr := &http.Transport{
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: c.timeout(),
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   2,
		ForceAttemptHTTP2:     true,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		// The environment's proxy variables are ignored: the transport
		// setting says whether a proxy is used, so that what status
		// shows is what happens.
		Proxy: nil,
	}
	if t.Proxy != "" {
		pu, err := proxyURL(t.Proxy, t.ProxyUser, password)
		if err != nil {
			return nil, err
		}
		tr.Proxy = http.ProxyURL(pu)
		tr.OnProxyConnectResponse = func(_ context.Context, _ *url.URL, _ *http.Request, res *http.Response) error {
			if res.StatusCode == http.StatusOK {
				return nil
			}
			return &proxyRefusal{status: res.StatusCode, text: res.Status, user: t.ProxyUser, hadPassword: password != ""}
		}
	}
	hc := &http.Client{
		Transport: tr,
		Timeout:   c.timeout(),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("the service answered with a redirect, which airlock does not follow: check the URL")
		},
	}
	if old := c.cached.client; old != nil {
		old.CloseIdleConnections()
	}
	c.cached.key, c.cached.client = key, hc
	r.client = hc
	return r, nil
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

// Close closes the connections the client keeps open.
func (c *Client) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cached.client != nil {
		c.cached.client.CloseIdleConnections()
	}
}

// proxyRefusal is the proxy's answer to CONNECT when it is not 200.
type proxyRefusal struct {
	status      int
	text        string
	user        string
	hadPassword bool
}

func (p *proxyRefusal) Error() string {
	// 407 is the status for proxy authentication; some proxies (tinyproxy)
	// answer CONNECT with 401 instead.
	auth := p.status == http.StatusProxyAuthRequired || p.status == http.StatusUnauthorized
	switch {
	case auth && p.user == "":
		return fmt.Sprintf("the proxy asks for a user and password (HTTP %d): set the proxy user with airlock instance transport --proxy URL --proxy-user USER", p.status)
	case auth && !p.hadPassword:
		return fmt.Sprintf("the proxy refused user %q without a password (HTTP %d): set AIRLOCK_PROXY_PASSWORD or run the command on a terminal to type it", p.user, p.status)
	case auth:
		return fmt.Sprintf("the proxy refused the password of user %q (HTTP %d): check the user and AIRLOCK_PROXY_PASSWORD", p.user, p.status)
	}
	return fmt.Sprintf("the proxy refused to connect to the service (%s): check that the proxy allows CONNECT to the service's host and port", p.text)
}

// maxMessage caps the text of a service's error kept and shown.
const maxMessage = 512

// post sends body to path, signed with headers (nil for a registration),
// and decodes a 2xx answer into out. The error names the URL, the proxy
// if one is used, and what to check.
func (r *route) post(ctx context.Context, timeout time.Duration, path string, headers map[string]string, body []byte, out any) error {
	u := r.base.JoinPath(path).String()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrTransport, u, err)
	}
	req.Header.Set("Content-Type", api.ContentType)
	req.Header.Set("Accept", api.ContentType)
	req.Header.Set("User-Agent", "airlock-instance")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := r.client.Do(req)
	if err != nil {
		return r.netError(u, timeout, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, api.MaxBody+1))
	if err != nil {
		return r.netError(u, timeout, err)
	}
	return decodeAnswer(u, res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get(api.HeaderRetryAfterSeconds), data, out)
}

// via says how a call went, for messages.
func (r *route) via() string {
	if r.proxy == "" {
		return "directly, without a proxy"
	}
	pu, err := url.Parse(r.proxy)
	if err != nil {
		return "through the proxy"
	}
	return "through the proxy " + redactURL(pu)
}

// netError classifies a failed round trip.
func (r *route) netError(u string, timeout time.Duration, err error) error {
	var pr *proxyRefusal
	var op *net.OpError
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	var rh tls.RecordHeaderError
	switch {
	case errors.As(err, &pr):
		return fmt.Errorf("%w: %s, %s: %v", ErrProxy, u, r.via(), pr)
	case errors.As(err, &op) && op.Op == "proxyconnect":
		return fmt.Errorf("%w: cannot reach the proxy for %s (%v): check the proxy's host and port (airlock instance transport) and that it is up", ErrProxy, u, op.Err)
	case errors.As(err, &cv), errors.As(err, &ua), errors.As(err, &he), errors.As(err, &ci):
		what := "the system's roots"
		if r.pinned() {
			what = "the pinned CA (airlock instance transport --ca FILE)"
		}
		return fmt.Errorf("%w: %s, %s: %v: check the URL's host name and %s", ErrTLS, u, r.via(), err, what)
	case errors.As(err, &rh):
		return fmt.Errorf("%w: %s, %s: the server does not speak TLS there: check the URL's port", ErrTLS, u, r.via())
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return fmt.Errorf("%w: %s, %s: no answer within %s: check the network, the proxy and that the service is up", ErrUnreachable, u, r.via(), timeout)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%w: %s: cancelled", ErrUnreachable, u)
	}
	check := "check the URL (airlock instance transport), the network and the DNS, and that the service is up"
	if r.proxy != "" {
		check = "check that the proxy can reach the service's host and port, and that the service is up"
	}
	return fmt.Errorf("%w: %s, %s: %v: %s", ErrUnreachable, u, r.via(), unwrapURLError(err), check)
}

// pinned reports whether the route trusts a pinned CA.
func (r *route) pinned() bool {
	tr, ok := r.client.Transport.(*http.Transport)
	return ok && tr.TLSClientConfig != nil && tr.TLSClientConfig.RootCAs != nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// unwrapURLError drops the "Post URL:" that url.Error adds: the message
// names the URL already.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// decodeAnswer reads an answer of the service: a 2xx JSON body into out,
// or an api.Error into a *ServiceError. It never trusts the body's size,
// its JSON, or its text: a body over api.MaxBody, malformed JSON, trailing
// data or a field out of bounds is ErrBadAnswer.
func decodeAnswer(u string, status int, contentType, retryAfter string, data []byte, out any) error {
	if len(data) > api.MaxBody {
		return fmt.Errorf("%w: %s: the answer has more than %d bytes", ErrBadAnswer, u, api.MaxBody)
	}
	if status < 200 || status > 299 {
		se := &ServiceError{URL: u, Status: status}
		if s, err := strconv.Atoi(strings.TrimSpace(retryAfter)); err == nil && s > 0 {
			se.RetryAfter = time.Duration(min(s, 86400)) * time.Second
		}
		var e api.Error
		if strictJSON(data, &e) == nil && e.Code != "" {
			se.Code, se.Message = clean(e.Code, 64), clean(e.Message, maxMessage)
		}
		return se
	}
	if mt, _, _ := strings.Cut(contentType, ";"); strings.TrimSpace(strings.ToLower(mt)) != api.ContentType {
		return fmt.Errorf("%w: %s: the answer is %q, not %s: check that the URL is an airlock licensing service", ErrBadAnswer, u, clean(contentType, 64), api.ContentType)
	}
	if err := strictJSON(data, out); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadAnswer, u, err)
	}
	if v, ok := out.(interface{ validate() error }); ok {
		if err := v.validate(); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrBadAnswer, u, err)
		}
	}
	return nil
}

// strictJSON decodes one JSON value and refuses trailing data. Unknown
// fields are allowed: a newer service may add some.
func strictJSON(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

// clean keeps a service's text on one line, printable, and short.
func clean(s string, limit int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, s)
	if len(s) > limit {
		s = strings.ToValidUTF8(s[:limit], "") + "…"
	}
	return s
}

// errorText is an error's message for the state, bounded.
func errorText(err error) string { return clean(err.Error(), maxMessage) }
