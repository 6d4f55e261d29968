package instance

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/codes/api"
)

// The tests of connected mode talk HTTPS to a fake licensing service
// written here with the real protocol: it opens request codes with the
// authority key, checks the request MACs under the pairwise key and the
// sequence numbers, and signs lapsing authorization codes, so that the
// instance side is tested before (and apart from) authority/service.

const tagCrypto = "vms.crypto" // export-controlled in the fake service's accounts

// A fakeService is a licensing service with one authority key and a few
// accounts.
type fakeService struct {
	t     testing.TB
	clock *testClock
	key   *codes.AuthorityKey
	srv   *httptest.Server

	down atomic.Bool // answer nothing: close every connection

	mu                          sync.Mutex
	tokens                      map[string]*fakeToken
	accounts                    map[string]map[string]uint32 // account → tag → licenses available
	instances                   map[string]*fakeInstance     // by UDI
	calls                       map[string]int               // path → successful calls
	sameReservationOnReregister bool
	// hook, if set, runs before every handler and may answer instead.
	hook atomic.Pointer[func(w http.ResponseWriter, r *http.Request) bool]
}

func (f *fakeService) setHook(h func(w http.ResponseWriter, r *http.Request) bool) {
	if h == nil {
		f.hook.Store(nil)
		return
	}
	f.hook.Store(&h)
}

type fakeToken struct {
	account string
	export  bool
}

type fakeInstance struct {
	udi       codes.UDI
	pub       []byte
	mac       []byte
	account   string
	export    bool
	seq       uint64
	nonce     []byte // of the registration request, until a code answers it
	res       []byte
	serial    uint64
	ents      []codes.Entitlement
	confirmed uint64
	renewed   int64
	usage     int
	gone      bool
	returned  []byte // the last return code taken
}

func newFakeService(t testing.TB, clock *testClock) *fakeService {
	f := &fakeService{
		t: t, clock: clock, key: fx(t).Authority,
		tokens: map[string]*fakeToken{
			"TK-PLANT":  {account: "acme/plant", export: true},
			"TK-LAB":    {account: "acme/lab", export: false},
			"TK-OFFICE": {account: "acme/office", export: true},
		},
		accounts: map[string]map[string]uint32{
			"acme/plant":  {tagCamera: 100, tagAnalytics: 10, tagCrypto: 5},
			"acme/lab":    {tagCamera: 20, tagCrypto: 5},
			"acme/office": {tagCamera: 30, tagCrypto: 5},
		},
		instances: map[string]*fakeInstance{},
		calls:     map[string]int{},
	}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.Listener = &downListener{Listener: f.srv.Listener, down: &f.down}
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

// caPEM is the fake service's certificate, to pin.
func (f *fakeService) caPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
}

func (f *fakeService) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[path]
}

func (f *fakeService) instance(udi codes.UDI) *fakeInstance {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.instances[udi.String()]
}

func fail(w http.ResponseWriter, status int, code, format string, args ...any) {
	w.Header().Set("Content-Type", api.ContentType)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(api.Error{Code: code, Message: fmt.Sprintf(format, args...)})
}

func answer(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", api.ContentType)
	json.NewEncoder(w).Encode(v)
}

// A downListener drops every connection while down is set, before TLS,
// as a dead service behind a load balancer would.
type downListener struct {
	net.Listener
	down *atomic.Bool
}

func (l *downListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || !l.down.Load() {
			return c, err
		}
		c.Close()
	}
}

func (f *fakeService) serve(w http.ResponseWriter, r *http.Request) {
	if f.down.Load() {
		// A connection made before the service went down.
		panic(http.ErrAbortHandler)
	}
	if h := f.hook.Load(); h != nil && (*h)(w, r) {
		return
	}
	if r.Method != http.MethodPost {
		fail(w, http.StatusMethodNotAllowed, api.CodeMethod, "POST only")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, api.MaxBody+1))
	if err != nil || len(body) > api.MaxBody {
		fail(w, http.StatusRequestEntityTooLarge, api.CodeTooLarge, "body too large")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.clock.Now().Unix()
	if r.URL.Path == api.PathRegister {
		f.register(w, body, now)
		return
	}
	s, mac, err := api.ParseHeaders(r.Header.Get)
	if err != nil {
		fail(w, http.StatusBadRequest, api.CodeBadRequest, "%v", err)
		return
	}
	in := f.instances[s.UDI]
	switch {
	case in == nil || in.gone:
		fail(w, http.StatusNotFound, api.CodeNotRegistered, "instance %s is not registered", s.UDI)
		return
	case s.KeyID != f.key.ID() || !s.Check(in.mac, r.Method, r.URL.Path, body, mac):
		fail(w, http.StatusUnauthorized, api.CodeUnauthenticated, "the request MAC does not check")
		return
	case s.Seq <= in.seq:
		fail(w, http.StatusConflict, api.CodeReplayed, "sequence number %d is not above %d", s.Seq, in.seq)
		return
	}
	in.seq = s.Seq
	switch r.URL.Path {
	case api.PathRenewAuthorization:
		var req api.RenewRequest
		if !decode(w, body, &req) {
			return
		}
		in.ents = f.grant(in, req.Wanted)
		f.issue(w, in, now)
	case api.PathRenewRegistration:
		in.renewed = now
		answer(w, api.Authorized{Registration: in.registration()})
	case api.PathConfirm:
		var req api.CodeRequest
		if !decode(w, body, &req) {
			return
		}
		c, err := codes.OpenConfirmation(req.Code, in.mac)
		if err != nil || !bytes.Equal(c.Reservation, in.res) || c.Serial != in.serial {
			fail(w, http.StatusBadRequest, api.CodeBadRequest, "confirmation does not check: %v", err)
			return
		}
		in.confirmed = c.Serial
		answer(w, api.Done{Message: "confirmed"})
	case api.PathUsage:
		var req api.CodeRequest
		if !decode(w, body, &req) {
			return
		}
		if _, err := codes.OpenUsage(req.Code, in.mac); err != nil {
			fail(w, http.StatusBadRequest, api.CodeBadRequest, "usage report: %v", err)
			return
		}
		in.usage++
		answer(w, api.Done{Message: "usage recorded"})
	case api.PathDeregister:
		var req api.CodeRequest
		if !decode(w, body, &req) {
			return
		}
		if req.Code != nil {
			rt, err := codes.OpenReturn(req.Code, in.mac)
			if err != nil || !bytes.Equal(rt.Reservation, in.res) {
				fail(w, http.StatusBadRequest, api.CodeBadRequest, "return code does not check: %v", err)
				return
			}
			in.returned = req.Code
		}
		f.release(in)
		in.gone = true
		answer(w, api.Done{Message: "deregistered"})
	case api.PathExport, api.PathExportReturn:
		var req api.ExportRequest
		if !decode(w, body, &req) {
			return
		}
		if r.URL.Path == api.PathExportReturn {
			in.ents = slices.DeleteFunc(in.ents, func(e codes.Entitlement) bool { return e.Tag == req.Tag })
			f.accounts[in.account][req.Tag] += req.Count
			f.issue(w, in, now)
			break
		}
		if !in.export {
			answer(w, api.Authorized{Registration: in.registration(), Refused: []api.Refusal{{Tag: req.Tag, Reason: "the registration token does not allow export-controlled licenses"}}})
			break
		}
		if f.accounts[in.account][req.Tag] < req.Count {
			fail(w, http.StatusForbidden, api.CodeRefused, "account %s holds fewer than %d %s", in.account, req.Count, req.Tag)
			return
		}
		f.accounts[in.account][req.Tag] -= req.Count
		in.ents = append(in.ents, codes.Entitlement{Tag: req.Tag, Count: req.Count, Kind: codes.Perpetual, ExportControlled: true})
		f.issue(w, in, now)
	default:
		fail(w, http.StatusNotFound, api.CodeNotFound, "no such path")
		return
	}
	f.calls[r.URL.Path]++
}

func decode(w http.ResponseWriter, body []byte, v any) bool {
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		fail(w, http.StatusBadRequest, api.CodeBadRequest, "body: %v", err)
		return false
	}
	return true
}

func (f *fakeService) register(w http.ResponseWriter, body []byte, now int64) {
	var req api.RegisterRequest
	if !decode(w, body, &req) {
		return
	}
	tk := f.tokens[req.Token]
	if tk == nil {
		fail(w, http.StatusForbidden, api.CodeTokenSpent, "unknown or revoked token")
		return
	}
	rq, err := codes.OpenRequest(req.Request, f.key)
	if err != nil {
		fail(w, http.StatusUnauthorized, api.CodeUnauthenticated, "request code: %v", err)
		return
	}
	in := f.instances[rq.UDI.String()]
	switch {
	case in != nil && !in.gone && !req.Reregister:
		fail(w, http.StatusConflict, api.CodeConflict, "registered already with %s", in.account)
		return
	case (in == nil || in.gone) && req.Reregister:
		fail(w, http.StatusNotFound, api.CodeNotRegistered, "not registered")
		return
	}
	mac, err := f.key.MACKey(rq.InstanceKey)
	if err != nil {
		fail(w, http.StatusBadRequest, api.CodeBadRequest, "%v", err)
		return
	}
	if in != nil && !in.gone {
		f.release(in)
	} else {
		in = &fakeInstance{udi: rq.UDI, pub: rq.InstanceKey, mac: mac}
		f.instances[rq.UDI.String()] = in
	}
	in.gone, in.account, in.export, in.renewed = false, tk.account, tk.export, now
	in.ents = f.grant(in, rq.Wanted)
	if !(req.Reregister && f.sameReservationOnReregister && in.res != nil) {
		in.res, in.serial, in.nonce = nil, 0, rq.Nonce
	}
	f.issue(w, in, now)
	f.calls[api.PathRegister]++
}

// grant takes what the account covers of wanted; export-controlled tags
// only come through export requests.
func (f *fakeService) grant(in *fakeInstance, wanted []codes.License) []codes.Entitlement {
	acct := f.accounts[in.account]
	var kept []codes.Entitlement
	for _, e := range in.ents {
		if e.ExportControlled {
			kept = append(kept, e)
			continue
		}
		acct[e.Tag] += e.Count
	}
	var out []codes.Entitlement
	for _, l := range wanted {
		n := min(l.Count, acct[l.Tag])
		if l.Tag == tagCrypto || n == 0 {
			continue
		}
		acct[l.Tag] -= n
		out = append(out, codes.Entitlement{Tag: l.Tag, Count: n, Kind: codes.Perpetual})
	}
	return append(out, kept...)
}

func (f *fakeService) release(in *fakeInstance) {
	for _, e := range in.ents {
		f.accounts[in.account][e.Tag] += e.Count
	}
	in.ents = nil
}

func (in *fakeInstance) registration() api.Registration {
	return api.Registration{Account: in.account, RegisteredAt: in.renewed, RenewedAt: in.renewed,
		ExpiresAt: in.renewed + int64(api.RegistrationValidity/time.Second), ExportAllowed: in.export}
}

// issue signs the next code of in's reservation (the first answers the
// registration's request) and answers with it.
func (f *fakeService) issue(w http.ResponseWriter, in *fakeInstance, now int64) {
	out := api.Authorized{Registration: in.registration()}
	if len(in.ents) > 0 {
		a := &codes.Authorization{UDI: in.udi, InstanceKey: codes.InstanceKeyHash(in.pub), Entitlements: in.ents,
			IssuedAt: now, InstallBy: now + 7*86400, Lapses: now + int64(api.AuthorizationValidity/time.Second)}
		if in.res == nil {
			in.res = make([]byte, codes.ReservationIDSize)
			rand.Read(in.res)
			in.serial = 0
			a.Nonce = in.nonce
		}
		in.serial++
		a.Reservation, a.Serial = in.res, in.serial
		code, err := codes.SignAuthorization(a, f.key)
		if err != nil {
			fail(w, http.StatusInternalServerError, api.CodeInternal, "%v", err)
			return
		}
		out.Authorization = code
	}
	answer(w, out)
}

// connectedBench is a bench whose instance has the fake service as its
// transport, with the service's certificate pinned.
func connectedBench(t testing.TB, opts ...Option) (*bench, *fakeService, *Client) {
	t.Helper()
	b := newBench(t, opts...)
	f := newFakeService(t, b.clock)
	b.must(b.in.SetTransport(Transport{Kind: TransportDirect, URL: f.srv.URL, CA: f.caPEM(), Private: true}))
	c := &Client{Timeout: 5 * time.Second}
	t.Cleanup(c.Close)
	return b, f, c
}

var ctx = context.Background()

func TestRegisterRenewReportDeregister(t *testing.T) {
	b, f, c := connectedBench(t)
	in := b.in
	if b.mode() != ModeEvaluation {
		t.Fatalf("mode %s", b.mode())
	}
	ans, err := in.Register(ctx, c, "TK-PLANT", []codes.License{{Tag: tagCamera, Count: 10}, {Tag: tagAnalytics, Count: 50}})
	b.must(err)
	if ans.Registration.Account != "acme/plant" || ans.Installed == nil || ans.Installed.Authorization.Serial != 1 {
		t.Fatalf("answer %+v", ans)
	}
	if b.mode() != ModeReserved || !in.Licensed(tagCamera) || in.Available(tagAnalytics) != 10 {
		t.Fatalf("mode %s, camera %v, analytics %d", b.mode(), in.Licensed(tagCamera), in.Available(tagAnalytics))
	}
	cs, err := in.Connected()
	b.must(err)
	if !cs.Registered || cs.Account != "acme/plant" || cs.Transport.Kind != TransportDirect || !cs.LastContact.Equal(b.clock.Now()) ||
		!cs.NextAuthorization.Equal(b.clock.at(30*day)) || !cs.NextRegistration.Equal(b.clock.at(182*day)) || !cs.NextUsage.Equal(b.clock.at(6*time.Hour)) ||
		!cs.Lapses.Equal(b.clock.at(90*day)) || cs.Lapsed {
		t.Fatalf("connected status %+v", cs)
	}

	// A second register is refused; a renewal is an update, confirmed.
	_, err = in.Register(ctx, c, "TK-PLANT", nil)
	wantErr(t, err, ErrNotRegistered, "acme/plant", "re-register")
	b.clock.add(day)
	ans, err = in.RenewAuthorization(ctx, c)
	b.must(err)
	if !ans.Installed.Update || ans.Installed.Authorization.Serial != 2 || !ans.Confirmed {
		t.Fatalf("renewal %+v", ans)
	}
	if fi := f.instance(b.f.UDI); fi.confirmed != 2 {
		t.Fatalf("service saw confirmation of serial %d", fi.confirmed)
	}
	b.must(in.Acquire(tagCamera, 3))
	b.must(in.UpdateUsage(ctx, c))
	_, err = in.RenewRegistration(ctx, c)
	b.must(err)
	if f.count(api.PathUsage) != 1 || f.count(api.PathRenewRegistration) != 1 {
		t.Fatalf("calls %v", f.calls)
	}

	// Deregister: the reservation is returned and the service told.
	d, err := in.Deregister(ctx, c)
	b.must(err)
	if d.NotTold != nil || d.Returned == nil || d.Account != "acme/plant" {
		t.Fatalf("deregistered %+v", d)
	}
	if fi := f.instance(b.f.UDI); !fi.gone || !bytes.Equal(fi.returned, d.Returned.Code) {
		t.Fatal("the service did not take the return code")
	}
	if st, _ := in.Status(); st.Mode != ModeEnabled || st.Reservation != nil || st.LastReturn == nil {
		t.Fatalf("after deregister: mode %s", st.Mode)
	}
	cs, err = in.Connected()
	b.must(err)
	if cs.Registered || cs.Transport.Kind != TransportDirect {
		t.Fatalf("after deregister: %+v", cs)
	}
	_, err = in.RenewAuthorization(ctx, c)
	wantErr(t, err, ErrNotRegistered, "register first")
}

func TestRegistrationWithoutLicensesWaitsForARenewal(t *testing.T) {
	b, f, c := connectedBench(t)
	f.accounts["acme/plant"][tagCamera] = 0
	ans, err := b.in.Register(ctx, c, "TK-PLANT", []codes.License{{Tag: tagCamera, Count: 4}})
	b.must(err)
	if ans.Installed != nil || b.mode() != ModeReserving {
		t.Fatalf("answer %+v, mode %s", ans, b.mode())
	}
	f.mu.Lock()
	f.accounts["acme/plant"][tagCamera] = 4
	f.mu.Unlock()
	ans, err = b.in.RenewAuthorization(ctx, c)
	b.must(err)
	if ans.Installed == nil || ans.Installed.Update || b.mode() != ModeReserved || b.in.Available(tagCamera) != 4 {
		t.Fatalf("renewal %+v, mode %s", ans, b.mode())
	}
}

func TestRegisterRefusals(t *testing.T) {
	b, f, c := connectedBench(t)
	before := b.stateBytes()
	_, err := b.in.Register(ctx, c, "TK-NOPE", nil)
	var se *ServiceError
	if !errors.As(err, &se) || se.Code != api.CodeTokenSpent || !strings.Contains(err.Error(), f.srv.URL+api.PathRegister) {
		t.Fatalf("unknown token: %v", err)
	}
	_, err = b.in.Register(ctx, c, "bad\ntoken", nil)
	wantErr(t, err, codes.ErrMalformed, "control characters")
	cs, err := b.in.Connected()
	b.must(err)
	if cs.Registered || len(cs.Failures) != 1 || cs.Failures[0].Job != JobRegister || !strings.Contains(cs.Failures[0].Error, "unknown or revoked token") {
		t.Fatalf("status after a refused registration: %+v", cs)
	}
	_ = before

	// Offline: no transport.
	b.must(b.in.SetTransport(Transport{}))
	_, err = b.in.Register(ctx, c, "TK-PLANT", nil)
	wantErr(t, err, ErrOffline, "airlock instance transport")

	// A reservation installed offline must be returned first.
	b2 := newBench(t)
	b2.reserve()
	b2.must(b2.in.SetTransport(Transport{Kind: TransportDirect, URL: f.srv.URL, CA: f.caPEM()}))
	_, err = b2.in.Register(ctx, c, "TK-PLANT", nil)
	wantErr(t, err, ErrReservationInstalled, "installed offline")
}

func TestSequenceNumbersGrowAndARestoredStateMovesOn(t *testing.T) {
	b, f, c := connectedBench(t)
	_, err := b.in.Register(ctx, c, "TK-PLANT", []codes.License{{Tag: tagCamera, Count: 1}})
	b.must(err)
	backup := b.stateBytes()
	var last uint64
	for range 5 { // several calls in the same second
		b.must(b.in.UpdateUsage(ctx, c))
		if s := f.instance(b.f.UDI).seq; s <= last {
			t.Fatalf("sequence %d after %d", s, last)
		} else {
			last = s
		}
	}
	// The state restored from the backup remembers an older number; a
	// second later the clock carries it past the service's.
	check(t, os.WriteFile(filepath.Join(b.dir, stateName), backup, 0o600))
	b.clock.add(time.Second)
	in := b.open()
	b.must(in.UpdateUsage(ctx, c))
	if s := f.instance(b.f.UDI).seq; s <= last {
		t.Fatalf("restored state sent %d, not above %d", s, last)
	}

	// A captured request replayed is refused by the service.
	var captured *http.Request
	var body []byte
	f.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if captured == nil && r.URL.Path == api.PathUsage {
			captured = r.Clone(context.Background())
			body, _ = io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		return false
	})
	b.must(in.UpdateUsage(ctx, c))
	f.setHook(nil)
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+api.PathUsage, bytes.NewReader(body))
	req.Header = captured.Header
	res, err := f.srv.Client().Do(req)
	b.must(err)
	res.Body.Close()
	if res.StatusCode != http.StatusConflict {
		t.Fatalf("replayed request: HTTP %d", res.StatusCode)
	}
}

func TestReregisterMovesToAnotherAccount(t *testing.T) {
	for _, same := range []bool{false, true} {
		t.Run(fmt.Sprintf("same reservation %v", same), func(t *testing.T) {
			b, f, c := connectedBench(t)
			f.sameReservationOnReregister = same
			wanted := []codes.License{{Tag: tagCamera, Count: 25}}
			_, err := b.in.Register(ctx, c, "TK-PLANT", wanted)
			b.must(err)
			old := f.instance(b.f.UDI).res
			st, _ := b.in.Status()
			oldRes := st.Reservation
			ans, err := b.in.Reregister(ctx, c, "TK-LAB", nil)
			b.must(err)
			if ans.Registration.Account != "acme/lab" || b.in.Available(tagCamera) != 20 {
				t.Fatalf("re-registered: %+v, %d cameras", ans.Registration, b.in.Available(tagCamera))
			}
			if f.accounts["acme/plant"][tagCamera] != 100 || f.accounts["acme/lab"][tagCamera] != 0 {
				t.Fatalf("accounts %v", f.accounts)
			}
			st, err = b.in.Status()
			b.must(err)
			if same != bytes.Equal(st.Reservation, oldRes) || !bytes.Equal(st.Reservation, f.instance(b.f.UDI).res) || len(st.Pending) != 0 {
				t.Fatalf("reservation %x (was %x, service %x), %d pending", st.Reservation, old, f.instance(b.f.UDI).res, len(st.Pending))
			}
			if !same && (st.LastReturn == nil || !bytes.Equal(st.LastReturn.Reservation, oldRes)) {
				t.Fatal("the old reservation is not recorded as returned")
			}
			cs, _ := b.in.Connected()
			if cs.Account != "acme/lab" || cs.ExportAllowed {
				t.Fatalf("status %+v", cs)
			}
		})
	}
}

func TestDeregisterWhileTheServiceIsDown(t *testing.T) {
	b, f, c := connectedBench(t)
	_, err := b.in.Register(ctx, c, "TK-PLANT", []codes.License{{Tag: tagCamera, Count: 2}})
	b.must(err)
	f.down.Store(true)
	d, err := b.in.Deregister(ctx, c)
	b.must(err)
	if d.NotTold == nil || !errors.Is(d.NotTold, ErrUnreachable) || d.Returned == nil {
		t.Fatalf("deregistered %+v", d)
	}
	for _, want := range []string{f.srv.URL + api.PathDeregister, "without a proxy", "check"} {
		if !strings.Contains(d.NotTold.Error(), want) {
			t.Errorf("%q does not say %q", d.NotTold, want)
		}
	}
	if st, _ := b.in.Status(); st.Mode != ModeEnabled || st.Reservation != nil {
		t.Fatal("not deregistered locally")
	}
	cs, _ := b.in.Connected()
	if cs.Registered {
		t.Fatal("still registered")
	}
	j, err := b.in.Journal()
	b.must(err)
	if e := j[len(j)-1]; e.Event != "deregister" || !strings.Contains(e.Detail, "locally only") {
		t.Fatalf("journal %+v", e)
	}
}

func TestServiceFailuresSayWhatToCheck(t *testing.T) {
	b, f, c := connectedBench(t)
	_, err := b.in.Register(ctx, c, "TK-PLANT", []codes.License{{Tag: tagCamera, Count: 2}})
	b.must(err)

	// Unpinned: the system's roots do not know the test CA.
	b.must(b.in.SetTransport(Transport{Kind: TransportDirect, URL: f.srv.URL}))
	_, err = b.in.RenewAuthorization(ctx, c)
	wantErr(t, err, ErrTLS, f.srv.URL, "system's roots")

	// Nothing listens.
	l := httptest.NewUnstartedServer(nil)
	dead := "https://" + l.Listener.Addr().String()
	l.Listener.Close()
	b.must(b.in.SetTransport(Transport{Kind: TransportSatellite, URL: dead, CA: f.caPEM()}))
	_, err = b.in.RenewAuthorization(ctx, c)
	wantErr(t, err, ErrUnreachable, dead+api.PathRenewAuthorization, "without a proxy", "check the URL")
	cs, _ := b.in.Connected()
	if len(cs.Failures) != 1 || cs.Failures[0].Failures != 2 || !cs.Failures[0].RetryAt.Equal(b.clock.at(2*time.Minute)) {
		t.Fatalf("failures %+v", cs.Failures)
	}

	// A timeout.
	b.must(b.in.SetTransport(Transport{Kind: TransportDirect, URL: f.srv.URL, CA: f.caPEM()}))
	f.setHook(func(w http.ResponseWriter, r *http.Request) bool { time.Sleep(300 * time.Millisecond); return false })
	_, err = b.in.RenewAuthorization(ctx, &Client{Timeout: 100 * time.Millisecond})
	wantErr(t, err, ErrUnreachable, "no answer within 100ms")
	f.setHook(nil)
}

func TestHostileAnswersChangeNothing(t *testing.T) {
	b, f, c := connectedBench(t)
	_, err := b.in.Register(ctx, c, "TK-PLANT", []codes.License{{Tag: tagCamera, Count: 2}})
	b.must(err)
	st0, _ := b.in.Status()
	cases := []struct {
		name  string
		serve func(w http.ResponseWriter)
		want  error
		says  string
	}{
		{"too large", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", api.ContentType)
			w.Write(bytes.Repeat([]byte(" "), api.MaxBody+10))
		}, ErrBadAnswer, "more than"},
		{"not JSON", func(w http.ResponseWriter) { w.Header().Set("Content-Type", api.ContentType); w.Write([]byte("{nope")) }, ErrBadAnswer, ""},
		{"trailing data", func(w http.ResponseWriter) { w.Header().Set("Content-Type", api.ContentType); w.Write([]byte(`{} {}`)) }, ErrBadAnswer, "after the JSON"},
		{"HTML", func(w http.ResponseWriter) { w.Header().Set("Content-Type", "text/html"); w.Write([]byte(`<html>`)) }, ErrBadAnswer, "text/html"},
		{"code too large", func(w http.ResponseWriter) {
			answer(w, api.Authorized{Registration: api.Registration{Account: "acme/plant"}, Authorization: make([]byte, codes.MaxCodeSize+1)})
		}, ErrBadAnswer, "limit"},
		{"forged code", func(w http.ResponseWriter) {
			code := b.sign(grant{res: st0.Reservation, serial: 9, key: b.f.Rogue})
			answer(w, api.Authorized{Registration: api.Registration{Account: "acme/plant"}, Authorization: code})
		}, codes.ErrUnknownKey, "installing"},
		{"control characters", func(w http.ResponseWriter) {
			fail(w, http.StatusForbidden, api.CodeRefused, "no\x1b[2J\nway")
		}, ErrService, "no [2J way"},
		{"rate limited", func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "120")
			fail(w, http.StatusTooManyRequests, api.CodeRateLimited, "slow down")
		}, ErrService, "slow down"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.setHook(func(w http.ResponseWriter, r *http.Request) bool { tc.serve(w); return true })
			defer func() { f.setHook(nil) }()
			_, err := b.in.RenewAuthorization(ctx, c)
			wantErr(t, err, tc.want, tc.says)
			st, _ := b.in.Status()
			if st.Serial != st0.Serial || !b.in.Licensed(tagCamera) {
				t.Fatalf("serial %d after a hostile answer", st.Serial)
			}
		})
	}
	cs, _ := b.in.Connected()
	if j := cs.Failures[0]; !j.RetryAt.Equal(b.clock.at(2*time.Minute)) && !j.RetryAt.Equal(b.clock.at(time.Hour)) {
		t.Fatalf("retry %+v", j)
	}
}

func TestTransportSettings(t *testing.T) {
	b := newBench(t)
	for _, bad := range []Transport{
		{Kind: TransportDirect, URL: "http://licensing.example.com"},
		{Kind: TransportDirect, URL: "https://user:pw@licensing.example.com"},
		{Kind: TransportDirect, URL: "https://licensing.example.com/prefix"},
		{Kind: TransportDirect, URL: "https://"},
		{Kind: TransportDirect, URL: "https://licensing.example.com", Proxy: "http://u:secret@proxy:3128"},
		{Kind: TransportDirect, URL: "https://licensing.example.com", Proxy: "socks5://proxy:1080"},
		{Kind: TransportDirect, URL: "https://licensing.example.com", ProxyUser: "u"},
		{Kind: TransportDirect, URL: "https://licensing.example.com", CA: []byte("not a certificate")},
		{Kind: 9, URL: "https://licensing.example.com"},
	} {
		before := b.stateBytes()
		err := b.in.SetTransport(bad)
		wantErr(t, err, ErrTransport)
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("the error shows the password: %v", err)
		}
		if !bytes.Equal(before, b.stateBytes()) {
			t.Fatalf("%+v changed the state", bad)
		}
	}
	f := newFakeService(t, b.clock)
	want := Transport{Kind: TransportSatellite, URL: "https://sat.plant.example:8443", Proxy: "http://proxy.plant.example:3128", ProxyUser: "lic", CA: f.caPEM(), Private: true}
	b.must(b.in.SetTransport(want))
	got, err := b.open().Transport()
	b.must(err)
	if got.Kind != want.Kind || got.URL != want.URL || got.Proxy != want.Proxy || got.ProxyUser != want.ProxyUser || !bytes.Equal(got.CA, want.CA) || !got.Private {
		t.Fatalf("transport %+v", got)
	}
	// The CA copy is checked against the state's hash.
	files, _ := filepath.Glob(filepath.Join(b.dir, caPrefix+"*"))
	if len(files) != 1 {
		t.Fatalf("CA files %v", files)
	}
	check(t, os.WriteFile(files[0], append(f.caPEM(), '\n'), 0o600))
	_, err = b.in.Transport()
	wantErr(t, err, ErrCorrupt, "changed outside airlock", "--ca FILE")
	// Back to offline: the CA copy goes.
	b.must(b.in.SetTransport(Transport{}))
	if files, _ := filepath.Glob(filepath.Join(b.dir, caPrefix+"*")); len(files) != 0 {
		t.Fatalf("CA files left: %v", files)
	}
	got, err = b.in.Transport()
	b.must(err)
	if got.Kind != TransportOffline {
		t.Fatalf("transport %+v", got)
	}
}
