package authority_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/codes/api"
)

// Tiers of the connected tests: basic < enhanced < premium.
const (
	basic    = "vms.tier.basic"
	enhanced = "vms.tier.enhanced"
	premium  = "vms.tier.premium"
)

// A cdev plays an instance in connected mode: a device that numbers its
// requests and MACs their headers, and installs what it is given.
type cdev struct {
	*device
	e         *env
	seq       uint64
	request   []byte // the pending registration request
	res       []byte // the installed reservation
	serial    uint64
	installed *codes.Authorization
}

func (e *env) cdev(name string) *cdev { return &cdev{device: e.device(name), e: e} }

// caller signs a request to path with body (JSON of v, or none for nil),
// with the next sequence number.
func (d *cdev) caller(path string, v any) authority.Caller {
	d.seq++
	return d.callerSeq(d.seq, path, v)
}

func (d *cdev) callerSeq(seq uint64, path string, v any) authority.Caller {
	var body []byte
	if v != nil {
		var err error
		if body, err = json.Marshal(v); err != nil {
			panic(err)
		}
	}
	s := api.Signed{UDI: d.udi.String(), KeyID: d.auth.ID(), Seq: seq}
	return authority.Caller{Signed: s, MAC: s.MAC(d.mac(), http.MethodPost, path, body), Method: http.MethodPost, Path: path, Body: body}
}

// token makes a registration token for acct.
func (e *env) token(acct string, export bool, uses int64) string {
	e.t.Helper()
	tok, _, err := e.l.CreateToken(ctx, authority.TokenSpec{Account: acct, ExportAllowed: export, MaxUses: uses})
	e.must(err)
	return tok
}

// register registers d with tok, asking for want.
func (d *cdev) register(tok string, rereg bool, want ...codes.License) (*api.Authorized, error) {
	d.request = d.device.request(want...)
	return d.e.l.RegisterConnected(ctx, api.RegisterRequest{Token: tok, Request: d.request, Hostname: "cam-" + d.name + ".plant.example",
		Addresses: []string{"192.0.2.7"}, Reregister: rereg})
}

// take installs the code of an answer, as the instance would, and checks
// its lapse time.
func (d *cdev) take(a *api.Authorized) *codes.Authorization {
	d.e.t.Helper()
	if a.Authorization == nil {
		d.e.t.Fatalf("%s: no authorization in the answer (short %v)", d.name, a.Shortfall)
	}
	got, err := codes.OpenAuthorization(a.Authorization, d.e.f.Trust)
	d.e.must(err)
	now := d.e.clk.Now()
	if err := got.Check(now, d.udi, d.key.Public()); err != nil {
		d.e.t.Fatalf("%s: the code does not install: %v", d.name, err)
	}
	if want := now.Add(api.AuthorizationValidity).Unix(); got.Lapses != want {
		d.e.t.Fatalf("%s: the code lapses %s, want %s", d.name, codes.FormatTime(got.Lapses), codes.FormatTime(want))
	}
	if d.res != nil && bytes.Equal(d.res, got.Reservation) && got.Serial <= d.serial {
		d.e.t.Fatalf("%s: serial %d is not newer than installed %d", d.name, got.Serial, d.serial)
	}
	if got.Serial == 1 && !bytes.Equal(got.Nonce, mustRequestNonce(d.request)) {
		d.e.t.Fatalf("%s: serial 1 answers another nonce", d.name)
	}
	d.res, d.serial, d.installed = got.Reservation, got.Serial, got
	return got
}

func mustRequestNonce(code []byte) []byte {
	r, err := codes.ParseUnverifiedRequest(code)
	if err != nil {
		panic(err)
	}
	return r.Nonce
}

// renew renews the authorization for want.
func (d *cdev) renew(want ...codes.License) (*api.Authorized, error) {
	r := api.RenewRequest{Wanted: want, Installed: d.serial}
	return d.e.l.RenewAuthorization(ctx, d.caller(api.PathRenewAuthorization, r), r)
}

// confirm sends the confirmation of the installed code.
func (d *cdev) confirm() (*api.Done, error) {
	code := d.device.confirm(d.res, d.serial)
	return d.e.l.ConfirmConnected(ctx, d.caller(api.PathConfirm, api.CodeRequest{Code: code}), code)
}

// lines returns an authorization's entitlements as "TAG=N" in order.
func lines(a *codes.Authorization) string {
	var parts []string
	for _, e := range a.Entitlements {
		parts = append(parts, fmt.Sprintf("%s=%d", e.Tag, e.Count))
	}
	return strings.Join(parts, " ")
}

// historyLen returns the number of events.
func (e *env) historyLen() int64 {
	e.t.Helper()
	m, err := e.l.Meta(ctx)
	e.must(err)
	return m.HistoryCount
}

// showConn returns the connected registration of d.
func (e *env) showConn(d *cdev) *authority.ConnectedInfo {
	e.t.Helper()
	info, err := e.l.ConnectedShow(ctx, d.udi.String())
	e.must(err)
	return info
}

func TestConnectedRegisterAndRenew(t *testing.T) {
	e := newEnv(t)
	e.setup()
	tok := e.token("acme/plant", true, 0)
	d := e.cdev("c1")
	a, err := d.register(tok, false, lic(camera, 4), lic(analytics, 1))
	e.must(err)
	got := d.take(a)
	if lines(got) != camera+"=4 "+analytics+"=1" || got.Serial != 1 || a.Registration.Account != "acme/plant" || !a.Registration.ExportAllowed {
		t.Fatalf("registration: %s serial %d, %+v", lines(got), got.Serial, a.Registration)
	}
	if want := e.clk.Now().Add(api.RegistrationValidity).Unix(); a.Registration.ExpiresAt != want {
		t.Fatalf("the registration expires %s, want %s", codes.FormatTime(a.Registration.ExpiresAt), codes.FormatTime(want))
	}
	e.wantBalance("acme/plant", camera, 25, 21, 4, 0)
	e.verify()

	e.clk.add(30 * dayD)
	a, err = d.renew(lic(camera, 2), lic(analytics, 1))
	e.must(err)
	got = d.take(a)
	if lines(got) != camera+"=2 "+analytics+"=1" || got.Serial != 2 {
		t.Fatalf("renewal: %s serial %d", lines(got), got.Serial)
	}
	e.wantBalance("acme/plant", camera, 25, 21, 2, 2) // 2 in transition until confirmed
	e.verify()
	_, err = d.confirm()
	e.must(err)
	e.wantBalance("acme/plant", camera, 25, 23, 2, 0)
	e.verify()
}
