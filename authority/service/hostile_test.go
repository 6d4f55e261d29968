package service_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/authority/service"
	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/codes/api"
	"github.com/airlock-dev/airlock/formats/groups"
)

// routeBodies are the routes an instance's MAC authenticates, each with
// a body it takes: the codes are i's, for the reservation and serial of
// au (random ones when au is nil).
func routeBodies(i *testInstance, au *codes.Authorization) []struct{ path, body string } {
	res, serial := make([]byte, codes.ReservationIDSize), uint64(1)
	rand.Read(res)
	if au != nil {
		res, serial = au.Reservation, au.Serial
	}
	code := func(b []byte) string { return `{"code":"` + base64.StdEncoding.EncodeToString(b) + `"}` }
	now := time.Now().Unix()
	return []struct{ path, body string }{
		{api.PathRenewAuthorization, `{"wanted":[{"Tag":"vms.camera.core","Count":2}],"installed":1}`},
		{api.PathRenewRegistration, `{}`},
		{api.PathConfirm, code(must(codes.SealConfirmation(&codes.Confirmation{Reservation: res, Serial: serial}, i.mac)))},
		{api.PathUsage, code(must(codes.SealUsage(&codes.Usage{UDI: i.udi, From: now - 3600, To: now, HighWater: now}, i.mac)))},
		{api.PathDeregister, code(must(codes.SealReturn(&codes.Return{Reservation: res, Serial: serial}, i.mac)))},
		{api.PathExport, `{"tag":"vms.camera.core","count":1}`},
		{api.PathExportReturn, `{"tag":"vms.camera.core","count":1}`},
	}
}

// A hostile request: how to make it from a registered instance, and the
// refusal it must get.
type hostile struct {
	name   string
	make   func(e *env, reg, stranger *testInstance, path, body string) (method string, hdr map[string]string, b io.Reader)
	status int
	code   string
}

func signedBy(i *testInstance, path, body string) map[string]string {
	return i.headers(http.MethodPost, path, []byte(body))
}

func with(h map[string]string, k, v string) map[string]string {
	if v == "" {
		delete(h, k)
	} else {
		h[k] = v
	}
	return h
}

// hostiles are refused whatever the route. Each leaves the ledger as it
// was.
var hostiles = []hostile{
	{"wrong method", func(e *env, reg, _ *testInstance, path, body string) (string, map[string]string, io.Reader) {
		return http.MethodPut, signedBy(reg, path, body), strings.NewReader(body)
	}, 405, api.CodeMethod},
	{"GET", func(e *env, reg, _ *testInstance, path, body string) (string, map[string]string, io.Reader) {
		return http.MethodGet, signedBy(reg, path, ""), nil
	}, 405, api.CodeMethod},
	{"no content type", func(e *env, reg, _ *testInstance, path, body string) (string, map[string]string, io.Reader) {
		return http.MethodPost, with(signedBy(reg, path, body), "Content-Type", ""), strings.NewReader(body)
	}, 400, api.CodeBadRequest},
	{"text/plain", func(e *env, reg, _ *testInstance, path, body string) (string, map[string]string, io.Reader) {
		return http.MethodPost, with(signedBy(reg, path, body), "Content-Type", "text/plain"), strings.NewReader(body)
	}, 400, api.CodeBadRequest},
	{"json in latin1", func(e *env, reg, _ *testInstance, path, body string) (string, map[string]string, io.Reader) {
		return http.MethodPost, with(signedBy(reg, path, body), "Content-Type", "application/json; charset=latin1"), strings.NewReader(body)
	}, 400, api.CodeBadRequest},
	{"no UDI header", func(e *env, reg, _ *testInstance, path, body string) (string, map[string]string, io.Reader) {
		return http.MethodPost, with(signedBy(reg, path, body), api.HeaderUDI, ""), strings.NewReader(body)
	}, 400, api.CodeBadRequest},
	{"UDI header of 600 bytes", func(e *env, reg, _ *testInstance, path, body string) (string, map[string]string, io.Reader) {
		return http.MethodPost, with(signedBy(reg, path, body), api.HeaderUDI, strings.Repeat("P", 600)), strings.NewReader(body)
	}, 400, api.CodeBadRequest},
	{"no MAC", func(e *env, reg, _ *testInstance, path, body string) (string, map[string]string, io.Reader) {
		return http.MethodPost, with(signedBy(reg, path, body), api.HeaderMAC, ""), strings.NewReader(body)
	}, 400, api.CodeBadRequest},
	{"MAC not base64url", func(e *env, reg, _ *testInstance, path, body string) (string, map[string]string, io.Reader) {
		return http.MethodPost, with(signedBy(reg, path, body), api.HeaderMAC, "!!!!"), strings.NewReader(body)
	}, 400, api.CodeBadRequest},
	{"MAC of 16 bytes", func(e *env, reg, _ *testInstance, path, body string) (string, map[string]string, io.Reader) {
		return http.MethodPost, with(signedBy(reg, path, body), api.HeaderMAC, base64.RawURLEncoding.EncodeToString(make([]byte, 16))), strings.NewReader(body)
	}, 400, api.CodeBadRequest},
	{"sequence 0", func(e *env, reg, _ *testInstance, path, body string) (string, map[string]string, io.Reader) {
		return http.MethodPost, with(signedBy(reg, path, body), api.HeaderSeq, "0"), strings.NewReader(body)
	}, 400, api.CodeBadRequest},
	{"sequence -1", func(e *env, reg, _ *testInstance, path, body string) (string, map[string]string, io.Reader) {
		return http.MethodPost, with(signedBy(reg, path, body), api.HeaderSeq, "-1"), strings.NewReader(body)
	}, 400, api.CodeBadRequest},
	{"sequence past 2^64", func(e *env, reg, _ *testInstance, path, body string) (string, map[string]string, io.Reader) {
		return http.MethodPost, with(signedBy(reg, path, body), api.HeaderSeq, "18446744073709551616"), strings.NewReader(body)
	}, 400, api.CodeBadRequest},
	{"key id not hex", func(e *env, reg, _ *testInstance, path, body string) (string, map[string]string, io.Reader) {
		return http.MethodPost, with(signedBy(reg, path, body), api.HeaderKey, "not-a-key-id"), strings.NewReader(body)
	}, 400, api.CodeBadRequest},
	{"unknown field", func(e *env, reg, _ *testInstance, path, body string) (string, map[string]string, io.Reader) {
		b := strings.TrimSuffix(body, "}")
		if b != "{" {
			b += ","
		}
		b += `"admin":true}`
		return http.MethodPost, signedBy(reg, path, b), strings.NewReader(b)
	}, 400, api.CodeBadRequest},
	{"two JSON values", func(e *env, reg, _ *testInstance, path, body string) (string, map[string]string, io.Reader) {
		b := body + " " + body
		return http.MethodPost, signedBy(reg, path, b), strings.NewReader(b)
	}, 400, api.CodeBadRequest},
	{"JSON array", func(e *env, reg, _ *testInstance, path, body string) (string, map[string]string, io.Reader) {
		b := "[" + body + "]"
		return http.MethodPost, signedBy(reg, path, b), strings.NewReader(b)
	}, 400, api.CodeBadRequest},
	{"null", func(e *env, reg, _ *testInstance, path, body string) (string, map[string]string, io.Reader) {
		return http.MethodPost, signedBy(reg, path, "null"), strings.NewReader("null")
	}, 400, api.CodeBadRequest},
	{"truncated JSON", func(e *env, reg, _ *testInstance, path, body string) (string, map[string]string, io.Reader) {
		b := body[:len(body)-1]
		return http.MethodPost, signedBy(reg, path, b), strings.NewReader(b)
	}, 400, api.CodeBadRequest},
	{"nested 100 deep", func(e *env, reg, _ *testInstance, path, body string) (string, map[string]string, io.Reader) {
		b := `{"wanted":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + "}"
		return http.MethodPost, signedBy(reg, path, b), strings.NewReader(b)
	}, 400, api.CodeBadRequest},
	{"body of 2 MiB", func(e *env, reg, _ *testInstance, path, body string) (string, map[string]string, io.Reader) {
		b := `{"code":"` + strings.Repeat("A", 2<<20) + `"}`
		return http.MethodPost, signedBy(reg, path, b), strings.NewReader(b)
	}, 413, api.CodeTooLarge},
	{"body of 2 MiB without a length", func(e *env, reg, _ *testInstance, path, body string) (string, map[string]string, io.Reader) {
		b := `{"code":"` + strings.Repeat("A", 2<<20) + `"}`
		return http.MethodPost, signedBy(reg, path, b), io.MultiReader(strings.NewReader(b)) // not a *strings.Reader: sent chunked
	}, 413, api.CodeTooLarge},
	{"MAC of another body", func(e *env, reg, _ *testInstance, path, body string) (string, map[string]string, io.Reader) {
		return http.MethodPost, signedBy(reg, path, body+" "), strings.NewReader(body)
	}, 401, api.CodeUnauthenticated},
	{"MAC for another path", func(e *env, reg, _ *testInstance, path, body string) (string, map[string]string, io.Reader) {
		return http.MethodPost, signedBy(reg, api.PathRenewRegistration+"x", body), strings.NewReader(body)
	}, 401, api.CodeUnauthenticated},
	{"MAC under the stranger's key", func(e *env, reg, stranger *testInstance, path, body string) (string, map[string]string, io.Reader) {
		return http.MethodPost, with(signedBy(stranger, path, body), api.HeaderUDI, reg.udi.String()), strings.NewReader(body)
	}, 401, api.CodeUnauthenticated},
	{"unknown UDI", func(e *env, _, stranger *testInstance, path, body string) (string, map[string]string, io.Reader) {
		return http.MethodPost, signedBy(stranger, path, body), strings.NewReader(body)
	}, 404, api.CodeNotRegistered},
	{"replayed sequence", func(e *env, reg, _ *testInstance, path, body string) (string, map[string]string, io.Reader) {
		// The setup's renewal was accepted with the sequence number
		// after this one.
		reg.seq -= 2
		h := signedBy(reg, path, body)
		reg.seq++
		return http.MethodPost, h, strings.NewReader(body)
	}, 409, api.CodeReplayed},
}

// TestHostileRequestsChangeNothing sends every hostile request to every
// authenticated route and checks the status, the api.Error code and that
// the ledger did not change; it verifies the ledger after each route.
func TestHostileRequestsChangeNothing(t *testing.T) {
	e := newEnv(t, func(o *service.Options) { o.Rate, o.Burst = 1000, 1000 })
	reg := e.instance("cam-1")
	_, au := e.authorized(reg.register(e.token, 2), reg.udi)
	stranger := e.instance("stranger")
	for _, r := range routeBodies(reg, au) {
		for _, h := range hostiles {
			t.Run(strings.TrimPrefix(r.path, "/v1/")+"/"+h.name, func(t *testing.T) {
				// An accepted renewal first, so that a replay has a
				// sequence number to fall below.
				if a := reg.call(api.PathRenewRegistration, struct{}{}); a.status != http.StatusOK {
					t.Fatalf("renew registration: %d %s", a.status, a.body)
				}
				before := e.quickState()
				method, hdr, body := h.make(e, reg, stranger, r.path, r.body)
				a := e.send(method, r.path, hdr, body)
				if a.status != h.status {
					t.Errorf("status %d, want %d (%s)", a.status, h.status, a.body)
				}
				if got := a.apiError(t); got.Code != h.code {
					t.Errorf("code %q, want %q (%s)", got.Code, h.code, got.Message)
				}
				if a.status == http.StatusMethodNotAllowed && a.header.Get("Allow") != http.MethodPost {
					t.Errorf("Allow %q, want POST", a.header.Get("Allow"))
				}
				if after := e.quickState(); after != before {
					t.Errorf("the ledger changed:\nbefore %s\nafter  %s", before, after)
				}
			})
		}
		e.state() // verifies
	}
}

// TestHostileRegistrationsChangeNothing: tokens never issued, spent,
// revoked or malformed, and request codes that are not the instance's.
func TestHostileRegistrationsChangeNothing(t *testing.T) {
	e := newEnv(t, func(o *service.Options) { o.RegisterRate, o.RegisterBurst = 1000, 1000 })
	once, _, err := e.l.CreateToken(ctx, authority.TokenSpec{Account: "acme/plant", MaxUses: 1})
	e.must(err)
	e.instance("first").register(once, 1) // uses it up
	revoked, tok, err := e.l.CreateToken(ctx, authority.TokenSpec{Account: "acme/plant"})
	e.must(err)
	_, err = e.l.RevokeToken(ctx, tok.ID())
	e.must(err)
	never := "TK-000000000-000000000-000000000"
	inst := e.instance("cam-2")
	other := must(codes.GenerateAuthorityKey(rand.Reader, time.Time{}, time.Time{}))
	forged := must(codes.SealRequest(&codes.Request{UDI: inst.udi, Nonce: []byte("12345678"), IssuedAt: time.Now().Unix()}, inst.key, &other.Public))
	good := inst.requestCode(codes.License{Tag: camera, Count: 1})
	body := func(r api.RegisterRequest) string { return string(must(json.Marshal(r))) }
	typoed := []byte(e.token)
	typoed[4] ^= 1 // a letter of the first group
	if typoed[4] == '-' || typoed[4] < '0' {
		typoed[4] = 'Z'
	}
	cases := []struct {
		name, ct, body string
		status         int
		code           string
	}{
		{"token never issued", api.ContentType, body(api.RegisterRequest{Token: validToken(t), Request: good}), 401, api.CodeUnauthenticated},
		{"token with a typo", api.ContentType, body(api.RegisterRequest{Token: string(typoed), Request: good}), 400, api.CodeBadRequest},
		{"token of zeros", api.ContentType, body(api.RegisterRequest{Token: never, Request: good}), 400, api.CodeBadRequest},
		{"not a token", api.ContentType, body(api.RegisterRequest{Token: "hunter2", Request: good}), 400, api.CodeBadRequest},
		{"token used up", api.ContentType, body(api.RegisterRequest{Token: once, Request: good}), 403, api.CodeTokenSpent},
		{"token revoked", api.ContentType, body(api.RegisterRequest{Token: revoked, Request: good}), 403, api.CodeTokenSpent},
		{"request for another authority", api.ContentType, body(api.RegisterRequest{Token: e.token, Request: forged}), 401, api.CodeUnauthenticated},
		{"request not a code", api.ContentType, body(api.RegisterRequest{Token: e.token, Request: []byte("garbage")}), 400, api.CodeBadRequest},
		{"no request", api.ContentType, body(api.RegisterRequest{Token: e.token}), 400, api.CodeBadRequest},
		{"no token", api.ContentType, body(api.RegisterRequest{Request: good}), 400, api.CodeBadRequest},
		{"token key in capitals", api.ContentType, `{"TOKEN":"` + e.token + `","request":"` + base64.StdEncoding.EncodeToString(good) + `"}`, 400, api.CodeBadRequest},
		{"token twice", api.ContentType, `{"token":"` + never + `","token":"` + e.token + `","request":"` + base64.StdEncoding.EncodeToString(good) + `"}`, 400, api.CodeBadRequest},
		{"unknown field", api.ContentType, `{"token":"` + e.token + `","request":"` + base64.StdEncoding.EncodeToString(good) + `","account":"acme/lab"}`, 400, api.CodeBadRequest},
		{"two values", api.ContentType, body(api.RegisterRequest{Token: e.token, Request: good}) + "{}", 400, api.CodeBadRequest},
		{"form", "application/x-www-form-urlencoded", "token=" + e.token, 400, api.CodeBadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.state()
			a := e.send(http.MethodPost, api.PathRegister, map[string]string{"Content-Type": c.ct}, strings.NewReader(c.body))
			if a.status != c.status {
				t.Errorf("status %d, want %d (%s)", a.status, c.status, a.body)
			}
			if got := a.apiError(t); got.Code != c.code {
				t.Errorf("code %q, want %q (%s)", got.Code, c.code, got.Message)
			}
			if strings.Contains(string(a.body), e.token) {
				t.Errorf("the answer quotes the token: %s", a.body)
			}
			if after := e.state(); after != before {
				t.Errorf("the ledger changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// validToken is a well-formed token this ledger never issued.
func validToken(t *testing.T) string {
	b := make([]byte, authority.KeySize)
	rand.Read(b)
	return groups.Encode(authority.TokenPrefix, b)
}

// TestPathsAndMethods: unknown paths, queries, and the health route's
// method.
func TestPathsAndMethods(t *testing.T) {
	e := newEnv(t)
	before := e.state()
	for _, c := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/", 404, api.CodeNotFound},
		{"GET", "/v1/nope", 404, api.CodeNotFound},
		{"POST", api.PathRenewAuthorization + "/", 404, api.CodeNotFound},
		{"POST", "/v1/renew/../renew/authorization", 404, api.CodeNotFound},
		{"GET", api.PathHealth + "?verbose=1", 404, api.CodeNotFound},
		{"POST", api.PathHealth, 405, api.CodeMethod},
		{"DELETE", api.PathRegister, 405, api.CodeMethod},
	} {
		req, err := http.NewRequest(c.method, e.url+c.path, nil)
		e.must(err)
		req.URL.Opaque = c.path // keep the dots: no cleaning by the client
		if i := strings.IndexByte(c.path, '?'); i >= 0 {
			req.URL.Opaque, req.URL.RawQuery = c.path[:i], c.path[i+1:]
		}
		resp, err := e.client.Do(req)
		e.must(err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		a := answer{resp.StatusCode, resp.Header, b}
		if a.status != c.status || a.apiError(t).Code != c.code {
			t.Errorf("%s %s: %d %s, want %d %s", c.method, c.path, a.status, a.body, c.status, c.code)
		}
	}
	if after := e.state(); after != before {
		t.Errorf("the ledger changed:\nbefore %s\nafter  %s", before, after)
	}
}

// TestHealth: unauthenticated, the authority's name and key ids.
func TestHealth(t *testing.T) {
	e := newEnv(t)
	a := e.send(http.MethodGet, api.PathHealth, nil, nil)
	var h api.Health
	if err := json.Unmarshal(a.body, &h); err != nil || a.status != 200 {
		t.Fatalf("%d %s: %v", a.status, a.body, err)
	}
	if h.Authority != "test desk" || len(h.Keys) != 1 || h.Keys[0] != e.key.ID().String() || h.Satellite {
		t.Errorf("health %+v", h)
	}
	if ct := a.header.Get("Content-Type"); ct != api.ContentType {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := a.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
}

// TestRateLimitPerInstance: past the burst, 429 with Retry-After, and the
// ledger is not asked; another instance is not slowed.
func TestRateLimitPerInstance(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	e := newEnv(t, func(o *service.Options) { o.Rate, o.Burst, o.Now = 0.5, 3, clk.Now })
	reg, other := e.instance("cam-1"), e.instance("cam-2")
	for range 3 {
		a := reg.call(api.PathConfirm, api.CodeRequest{Code: []byte("x")})
		if a.status == http.StatusTooManyRequests {
			t.Fatalf("limited within the burst: %s", a.body)
		}
	}
	before := e.state()
	a := reg.call(api.PathConfirm, api.CodeRequest{Code: []byte("x")})
	if a.status != http.StatusTooManyRequests || a.apiError(t).Code != api.CodeRateLimited || a.header.Get("Retry-After") != "2" {
		t.Errorf("past the burst: %d %s Retry-After %q, want 429 rate_limited and 2", a.status, a.body, a.header.Get("Retry-After"))
	}
	if a := other.call(api.PathConfirm, api.CodeRequest{Code: []byte("x")}); a.status == http.StatusTooManyRequests {
		t.Errorf("another instance was limited: %s", a.body)
	}
	if after := e.state(); after != before {
		t.Errorf("the ledger changed:\nbefore %s\nafter  %s", before, after)
	}
	clk.add(2 * time.Second)
	if a := reg.call(api.PathConfirm, api.CodeRequest{Code: []byte("x")}); a.status == http.StatusTooManyRequests {
		t.Errorf("still limited after Retry-After: %s", a.body)
	}
}

// TestRegistrationRateLimitPerAddress: registrations from one address are
// limited whatever the token, so that tokens cannot be tried quickly.
func TestRegistrationRateLimitPerAddress(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	e := newEnv(t, func(o *service.Options) { o.RegisterRate, o.RegisterBurst, o.Now = 0.2, 2, clk.Now })
	never := validToken(t)
	for i := range 2 {
		if a := e.instance("guess").register(never, 1); a.status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d %s", i, a.status, a.body)
		}
	}
	a := e.instance("cam-1").register(e.token, 1)
	if a.status != http.StatusTooManyRequests || a.apiError(t).Code != api.CodeRateLimited {
		t.Fatalf("third registration: %d %s, want 429", a.status, a.body)
	}
	if got, _ := strconv.Atoi(a.header.Get("Retry-After")); got != 5 {
		t.Errorf("Retry-After %q, want 5", a.header.Get("Retry-After"))
	}
	clk.add(5 * time.Second)
	if a := e.instance("cam-1").register(e.token, 1); a.status != http.StatusOK {
		t.Errorf("after Retry-After: %d %s", a.status, a.body)
	}
}

// TestConcurrencyBound: with one slot taken by a request whose body is
// still coming, the next waits, then gets 503 with Retry-After.
func TestConcurrencyBound(t *testing.T) {
	e := newEnv(t, func(o *service.Options) { o.MaxConcurrent = 1 })
	reg := e.instance("cam-1")
	pr, pw := io.Pipe()
	done := make(chan answer, 1)
	go func() {
		done <- e.send(http.MethodPost, api.PathRenewRegistration, reg.headers(http.MethodPost, api.PathRenewRegistration, []byte("{}")), pr)
	}()
	pw.Write([]byte("{")) // the request is in, its body not yet
	time.Sleep(100 * time.Millisecond)
	a := e.instance("cam-2").call(api.PathRenewRegistration, struct{}{})
	if a.status != http.StatusServiceUnavailable || a.apiError(t).Code != api.CodeUnavailable || a.header.Get("Retry-After") == "" {
		t.Errorf("second request: %d %s Retry-After %q, want 503 unavailable", a.status, a.body, a.header.Get("Retry-After"))
	}
	pw.Write([]byte("}"))
	pw.Close()
	if a := <-done; a.status == http.StatusServiceUnavailable {
		t.Errorf("the first request was refused: %s", a.body)
	}
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
