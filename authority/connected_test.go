package authority_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/codes/api"
	"github.com/airlock-dev/airlock/formats/groups"
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
	macKey    []byte
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
	if d.macKey == nil {
		d.macKey = d.mac()
	}
	s := api.Signed{UDI: d.udi.String(), KeyID: d.auth.ID(), Seq: seq}
	return authority.Caller{Signed: s, MAC: s.MAC(d.macKey, http.MethodPost, path, body), Method: http.MethodPost, Path: path, Body: body}
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

// TestConnectedRegistrationTokens registers with tokens that are refused,
// each refusal changing nothing, and with one used up after its uses.
func TestConnectedRegistrationTokens(t *testing.T) {
	e := newEnv(t)
	e.setup()
	good := e.token("acme/plant", true, 2)
	expiring, _, err := e.l.CreateToken(ctx, authority.TokenSpec{Account: "acme/plant", ExpiresAt: day("2025-03-10")})
	e.must(err)
	revoked, rec, err := e.l.CreateToken(ctx, authority.TokenSpec{Account: "acme/plant"})
	e.must(err)
	_, err = e.l.RevokeToken(ctx, rec.ID())
	e.must(err)
	typo := []byte(good)
	if typo[4] == 'A' { // another character of the first group
		typo[4] = 'B'
	} else {
		typo[4] = 'A'
	}
	unknown := "TK-" + strings.Repeat("0", len(good)-3)

	// Two registrations use the token up.
	for _, name := range []string{"u1", "u2"} {
		_, err := e.cdev(name).register(good, false, lic(camera, 1))
		e.must(err)
	}
	e.clk.add(10 * dayD) // the expiring token expires
	before := e.historyLen()
	for _, tc := range []struct {
		name, token string
		want        error
	}{
		{"used up", good, authority.ErrTokenSpent},
		{"expired", expiring, authority.ErrTokenSpent},
		{"revoked", revoked, authority.ErrTokenSpent},
		{"typo", string(typo), authority.ErrTokenTypo},
		{"unknown", unknown, nil},
		{"a license key", groups.Encode("LK", make([]byte, 15)), authority.ErrTokenMalformed},
		{"empty", "", authority.ErrTokenMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := e.cdev("refused-" + strings.ReplaceAll(tc.name, " ", "-"))
			_, err := d.register(tc.token, false, lic(camera, 1))
			if err == nil {
				t.Fatal("registered")
			}
			if tc.want != nil {
				wantErr(t, err, tc.want)
			} else if !errors.Is(err, authority.ErrKeyUnknown) && !errors.Is(err, authority.ErrTokenTypo) {
				t.Fatalf("got %v, want an unknown token", err)
			}
			if _, err := e.l.ConnectedShow(ctx, d.udi.String()); !errors.Is(err, authority.ErrNotFound) {
				t.Fatalf("a refused registration left %v", err)
			}
		})
	}
	if n := e.historyLen(); n != before {
		t.Fatalf("refused registrations wrote %d history events", n-before)
	}
	ts, err := e.l.Tokens(ctx, "acme/plant")
	e.must(err)
	for _, tk := range ts {
		if tk.MaxUses == 2 && tk.Uses != 2 {
			t.Fatalf("the token counts %d uses, want 2", tk.Uses)
		}
	}
	e.wantBalance("acme/plant", camera, 25, 23, 2, 0)
	e.verify()
}

// TestConnectedRegisterAgainAnswersTheSame sends one registration twice
// (the answer was lost): the same code, one use of the token.
func TestConnectedRegisterAgainAnswersTheSame(t *testing.T) {
	e := newEnv(t)
	e.setup()
	tok := e.token("acme/plant", true, 0)
	d := e.cdev("again")
	a, err := d.register(tok, false, lic(camera, 3))
	e.must(err)
	req := api.RegisterRequest{Token: tok, Request: d.request}
	b, err := e.l.RegisterConnected(ctx, req)
	e.must(err)
	if !bytes.Equal(a.Authorization, b.Authorization) || a.Registration != b.Registration {
		t.Fatal("the same request answered differently")
	}
	ts, err := e.l.Tokens(ctx, "acme/plant")
	e.must(err)
	if ts[0].Uses != 1 {
		t.Fatalf("the token counts %d uses, want 1", ts[0].Uses)
	}
	// A new request of the registered instance is refused: it is
	// registered already.
	_, err = d.register(tok, false, lic(camera, 3))
	wantErr(t, err, authority.ErrActive)
	if !strings.Contains(err.Error(), "re-register") {
		t.Fatalf("the refusal does not say to re-register: %v", err)
	}
	// A request code a reservation answered registers nothing.
	r := e.cdev("reserved")
	code := r.device.request(lic(camera, 1))
	_, err = e.l.Reserve(ctx, "acme/plant", code, nil)
	e.must(err)
	_, err = e.l.RegisterConnected(ctx, api.RegisterRequest{Token: tok, Request: code})
	wantErr(t, err, authority.ErrReplay)
	// A new request of an instance that holds a reservation is refused.
	_, err = r.register(tok, false, lic(camera, 1))
	wantErr(t, err, authority.ErrActive)
	e.verify()
}

// TestConnectedShortfallBorrowAndExportControl registers with a shortfall
// that a higher tier covers, and export-controlled licenses withheld.
func TestConnectedShortfallBorrowAndExportControl(t *testing.T) {
	e := newEnv(t)
	e.setup()
	_, err := e.l.SetLadder(ctx, "vms", []string{basic, enhanced, premium})
	e.must(err)
	e.lot("acme/plant", basic, 3, codes.Perpetual, 0, 0, false)
	e.lot("acme/plant", enhanced, 5, codes.Perpetual, 0, 0, false)
	e.lot("acme/plant", premium, 1, codes.Perpetual, 0, 0, false)
	tok := e.token("acme/plant", false, 0)
	d := e.cdev("tiered")
	// basic 7: 3 of its own, 4 of enhanced (which needs 2 itself, leaving
	// 3), then 1 of premium; analytics is export-controlled and withheld.
	a, err := d.register(tok, false, lic(basic, 7), lic(enhanced, 2), lic(analytics, 1), lic(camera, 30))
	e.must(err)
	got := d.take(a)
	if lines(got) != basic+"=7 "+enhanced+"=2 "+camera+"=25" {
		t.Fatalf("authorized %s", lines(got))
	}
	wantJSON(t, "shortfall", a.Shortfall, `[{"tag":"vms.analytics","count":1},{"tag":"vms.camera.core","count":5}]`)
	wantJSON(t, "borrowed", a.Borrowed, `[{"tag":"vms.tier.basic","from":"vms.tier.enhanced","count":3},{"tag":"vms.tier.basic","from":"vms.tier.premium","count":1}]`)
	if len(a.Refused) != 1 || a.Refused[0].Tag != analytics || !strings.Contains(a.Refused[0].Reason, "export-controlled") {
		t.Fatalf("refused %+v", a.Refused)
	}
	e.wantBalance("acme/plant", basic, 3, 0, 3, 0)
	e.wantBalance("acme/plant", enhanced, 5, 0, 5, 0)
	e.wantBalance("acme/plant", premium, 1, 0, 1, 0)
	e.wantBalance("acme/plant", analytics, 4, 4, 0, 0)
	e.verify()
	info := e.showConn(d)
	if len(info.Lacks.Borrowed) != 2 || info.State != authority.ConnRegistered || info.ExportAllowed {
		t.Fatalf("show: %+v", info)
	}
	var borrowedEvent bool
	for _, ev := range info.History {
		borrowedEvent = borrowedEvent || strings.Contains(ev.Detail, "3 vms.tier.enhanced borrowed for vms.tier.basic")
	}
	if !borrowedEvent {
		t.Fatalf("the history does not say what was borrowed: %+v", info.History)
	}

	// A lot of basic arrives: the next renewal takes it and gives the
	// borrowed enhanced back (in transition until confirmed).
	e.lot("acme/plant", basic, 10, codes.Perpetual, 0, 0, false)
	e.clk.add(30 * dayD)
	a, err = d.renew(lic(basic, 7), lic(enhanced, 2))
	e.must(err)
	got = d.take(a)
	if lines(got) != basic+"=7 "+enhanced+"=2" || len(a.Borrowed) != 0 || len(a.Shortfall) != 0 {
		t.Fatalf("renewal: %s, borrowed %+v, short %+v", lines(got), a.Borrowed, a.Shortfall)
	}
	e.wantBalance("acme/plant", enhanced, 5, 0, 2, 3)
	e.verify()
	_, err = d.confirm()
	e.must(err)
	e.wantBalance("acme/plant", enhanced, 5, 3, 2, 0)
	e.wantBalance("acme/plant", basic, 13, 6, 7, 0)
	e.verify()
}

func wantJSON(t *testing.T, what string, v any, want string) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != want {
		t.Fatalf("%s: %s\nwant %s", what, b, want)
	}
}

// TestConnectedRenewalsOver400Days renews the authorization every 30 days
// and the registration every 182, for 400 days; then stops, and the
// authorization lapses 90 days after the last renewal.
func TestConnectedRenewalsOver400Days(t *testing.T) {
	e := newEnv(t)
	e.setup()
	tok := e.token("acme/plant", true, 1)
	d := e.cdev("long")
	a, err := d.register(tok, false, lic(camera, 5), lic(analytics, 2))
	e.must(err)
	d.take(a)
	start := e.clk.Now()
	regRenewed := start
	for day := 30; day <= 400; day += 30 {
		e.clk.t = start.Add(time.Duration(day) * dayD)
		if e.clk.Now().Sub(regRenewed) >= api.RegistrationRenewal {
			r, err := e.l.RenewRegistration(ctx, d.caller(api.PathRenewRegistration, nil))
			e.must(err)
			if want := e.clk.Now().Add(api.RegistrationValidity).Unix(); r.Registration.ExpiresAt != want || r.Registration.RenewedAt != e.clk.Now().Unix() {
				t.Fatalf("day %d: registration %+v", day, r.Registration)
			}
			regRenewed = e.clk.Now()
		}
		a, err := d.renew(lic(camera, 5), lic(analytics, 2))
		e.must(err)
		got := d.take(a)
		// The analytics lot is a term of 2025: from 2026 it is short.
		want := camera + "=5 " + analytics + "=2"
		if e.clk.Now().Unix() >= day0("2026-01-01") {
			want = camera + "=5"
			if len(a.Shortfall) != 1 || a.Shortfall[0] != (api.Line{Tag: analytics, Count: 2}) {
				t.Fatalf("day %d: shortfall %+v", day, a.Shortfall)
			}
		}
		if lines(got) != want {
			t.Fatalf("day %d: %s, want %s", day, lines(got), want)
		}
		if day%60 == 0 {
			_, err := d.confirm()
			e.must(err)
		}
		if info := e.showConn(d); info.State != authority.ConnRegistered || info.Lapses != got.Lapses || info.LastContact != e.clk.Now().Unix() {
			t.Fatalf("day %d: %+v", day, info)
		}
		e.verify()
	}
	// No contact from now on: 89 days later the code is in force, 90 days
	// later it lapsed.
	last := d.installed
	e.clk.add(89 * dayD)
	if now := e.clk.Now().Unix(); now >= last.Lapses {
		t.Fatalf("after 89 days the code lapsed (%s)", codes.FormatTime(last.Lapses))
	}
	if info := e.showConn(d); info.State != authority.ConnRegistered {
		t.Fatalf("after 89 days: state %q", info.State)
	}
	e.clk.add(dayD)
	if now := e.clk.Now().Unix(); now != last.Lapses {
		t.Fatalf("after 90 days it is %s, the code lapses %s", codes.FormatTime(now), codes.FormatTime(last.Lapses))
	}
	if info := e.showConn(d); info.State != authority.ConnLapsed {
		t.Fatalf("state %q, want lapsed", info.State)
	}
	// A renewal revives it; a year after the last registration renewal
	// the registration has expired and nothing renews.
	a, err = d.renew(lic(camera, 5))
	e.must(err)
	d.take(a)
	e.clk.t = regRenewed.Add(api.RegistrationValidity)
	_, err = d.renew(lic(camera, 5))
	wantErr(t, err, authority.ErrNotConnected)
	_, err = e.l.RenewRegistration(ctx, d.caller(api.PathRenewRegistration, nil))
	wantErr(t, err, authority.ErrNotConnected)
	if info := e.showConn(d); info.State != authority.ConnExpired {
		t.Fatalf("state %q, want expired", info.State)
	}
	e.verify()
}

func day0(s string) int64 { return day(s) }

// TestConnectedRefusesReplayAndForgery sends requests with a replayed or
// older sequence number, a wrong MAC, another instance's key and an
// unknown authority key: each is refused and changes nothing.
func TestConnectedRefusesReplayAndForgery(t *testing.T) {
	e := newEnv(t)
	e.setup()
	tok := e.token("acme/plant", true, 0)
	d := e.cdev("victim")
	a, err := d.register(tok, false, lic(camera, 2))
	e.must(err)
	d.take(a)
	other := e.cdev("attacker")
	a, err = other.register(tok, false, lic(camera, 1))
	e.must(err)
	other.take(a)

	r := api.RenewRequest{Wanted: []codes.License{lic(camera, 20)}, Installed: 1}
	ok := d.callerSeq(5, api.PathRenewAuthorization, r)
	_, err = e.l.RenewAuthorization(ctx, ok, r)
	e.must(err)
	d.seq = 5
	before, hist := e.balance("acme/plant", camera), e.historyLen()

	wrongMAC := d.caller(api.PathRenewAuthorization, r)
	wrongMAC.MAC = bytes.Clone(wrongMAC.MAC)
	wrongMAC.MAC[0] ^= 1
	otherBody := d.caller(api.PathRenewAuthorization, r)
	otherBody.Body = []byte(`{"wanted":[{"tag":"vms.camera.core","count":25}]}`)
	otherPath := d.caller(api.PathRenewAuthorization, r)
	otherPath.Path = api.PathRenewRegistration
	// The attacker MACs with its own key and names the victim's UDI.
	forged := other.caller(api.PathRenewAuthorization, r)
	forged.Signed.UDI = d.udi.String()
	forged.MAC = forged.Signed.MAC(other.mac(), forged.Method, forged.Path, forged.Body)
	unknownKey := d.caller(api.PathRenewAuthorization, r)
	unknownKey.Signed.KeyID = codes.KeyID{1, 2, 3, 4, 5, 6, 7, 8}
	unknownUDI := d.caller(api.PathRenewAuthorization, r)
	unknownUDI.Signed.UDI = e.cdev("nobody").udi.String()
	shortMAC := d.caller(api.PathRenewAuthorization, r)
	shortMAC.MAC = shortMAC.MAC[:8]
	for _, tc := range []struct {
		name string
		c    authority.Caller
		want error
	}{
		{"replayed", ok, authority.ErrReplayedRequest},
		{"older", d.callerSeq(4, api.PathRenewAuthorization, r), authority.ErrReplayedRequest},
		{"wrong MAC", wrongMAC, authority.ErrUnauthenticated},
		{"another body", otherBody, authority.ErrUnauthenticated},
		{"another path", otherPath, authority.ErrUnauthenticated},
		{"another instance's key", forged, authority.ErrUnauthenticated},
		{"unknown authority key", unknownKey, authority.ErrUnauthenticated},
		{"unknown instance", unknownUDI, authority.ErrNotConnected},
		{"short MAC", shortMAC, authority.ErrUnauthenticated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.l.RenewAuthorization(ctx, tc.c, r)
			wantErr(t, err, tc.want)
			_, err = e.l.RenewRegistration(ctx, tc.c)
			wantErr(t, err, tc.want)
			code := d.device.confirm(d.res, 1)
			_, err = e.l.ConfirmConnected(ctx, tc.c, code)
			wantErr(t, err, tc.want)
		})
	}
	if got := e.balance("acme/plant", camera); got.Available != before.Available || got.Reserved != before.Reserved || got.InTransition != before.InTransition || e.historyLen() != hist {
		t.Fatalf("refused requests changed the ledger: %+v, %d events, was %+v, %d", got, e.historyLen(), before, hist)
	}
	// The replayed number was not taken: 6 goes through.
	_, err = e.l.RenewAuthorization(ctx, d.callerSeq(6, api.PathRenewAuthorization, r), r)
	e.must(err)
	if info := e.showConn(d); info.LastSeq != 6 {
		t.Fatalf("last sequence number %d, want 6", info.LastSeq)
	}
	// A code of another instance is refused, and the sequence number not
	// taken.
	theirs := other.device.confirm(other.res, other.serial)
	_, err = e.l.ConfirmConnected(ctx, d.callerSeq(7, api.PathConfirm, api.CodeRequest{Code: theirs}), theirs)
	wantErr(t, err, authority.ErrInvalid)
	u, err := codes.SealUsage(&codes.Usage{UDI: other.udi, From: e.clk.Now().Unix() - 3600, To: e.clk.Now().Unix(), HighWater: e.clk.Now().Unix()}, other.mac())
	e.must(err)
	_, err = e.l.ReportUsage(ctx, d.callerSeq(7, api.PathUsage, api.CodeRequest{Code: u}), u)
	wantErr(t, err, authority.ErrInvalid)
	if info := e.showConn(d); info.LastSeq != 6 {
		t.Fatalf("last sequence number %d after refusals, want 6", info.LastSeq)
	}
	mine, err := codes.SealUsage(&codes.Usage{UDI: d.udi, From: e.clk.Now().Unix() - 3600, To: e.clk.Now().Unix(), HighWater: e.clk.Now().Unix()}, d.mac())
	e.must(err)
	done, err := e.l.ReportUsage(ctx, d.callerSeq(7, api.PathUsage, api.CodeRequest{Code: mine}), mine)
	e.must(err)
	if !strings.Contains(done.Message, "imported") {
		t.Fatalf("usage: %q", done.Message)
	}
	// A request that does not authenticate learns nothing of the code it
	// carries: not whether its reservation or its UDI exists.
	nobody := e.cdev("nobody")
	strangers := map[string]func(authority.Caller) error{
		"confirmation": func(c authority.Caller) error {
			code := d.device.confirm([]byte{9, 9, 9, 9}, 1)
			_, err := e.l.ConfirmConnected(ctx, c, code)
			return err
		},
		"usage report": func(c authority.Caller) error {
			u, err := codes.SealUsage(&codes.Usage{UDI: nobody.udi, From: e.clk.Now().Unix() - 3600, To: e.clk.Now().Unix(), HighWater: e.clk.Now().Unix()}, nobody.mac())
			e.must(err)
			_, err = e.l.ReportUsage(ctx, c, u)
			return err
		},
		"return": func(c authority.Caller) error {
			code, err := codes.SealReturn(&codes.Return{Reservation: []byte{9, 9, 9, 9}, Serial: 1, Journal: []byte{1, 2}}, d.mac())
			e.must(err)
			_, err = e.l.Deregister(ctx, c, code)
			return err
		},
	}
	for what, send := range strangers {
		c := d.callerSeq(100, api.PathConfirm, nil)
		c.MAC = bytes.Clone(c.MAC)
		c.MAC[3] ^= 0x40
		err := send(c)
		wantErr(t, err, authority.ErrUnauthenticated)
		if strings.Contains(err.Error(), "never issued") || strings.Contains(err.Error(), "does not know") {
			t.Errorf("%s: an unauthenticated request learns about the code: %v", what, err)
		}
	}
	if info := e.showConn(d); info.LastSeq != 7 {
		t.Fatalf("last sequence number %d after unauthenticated requests, want 7", info.LastSeq)
	}
	e.verify()
}

// TestConnectedDeregisterReturnsLicenses deregisters with a return code,
// and without one; a deregistration sent again is answered again.
func TestConnectedDeregisterReturnsLicenses(t *testing.T) {
	e := newEnv(t)
	e.setup()
	tok := e.token("acme/plant", true, 0)
	d1, d2 := e.cdev("d1"), e.cdev("d2")
	for _, d := range []*cdev{d1, d2} {
		a, err := d.register(tok, false, lic(camera, 4))
		e.must(err)
		d.take(a)
	}
	e.wantBalance("acme/plant", camera, 25, 17, 8, 0)
	ret := d1.device.ret(d1.res, d1.serial, false)
	done, err := e.l.Deregister(ctx, d1.caller(api.PathDeregister, api.CodeRequest{Code: ret}), ret)
	e.must(err)
	if !strings.Contains(done.Message, "deregistered") {
		t.Fatalf("deregister: %q", done.Message)
	}
	e.wantBalance("acme/plant", camera, 25, 21, 4, 0)
	e.verify()
	done, err = e.l.Deregister(ctx, d1.caller(api.PathDeregister, api.CodeRequest{Code: ret}), ret)
	e.must(err)
	if !strings.Contains(done.Message, "already") {
		t.Fatalf("deregister again: %q", done.Message)
	}
	// Without a return code, and with another instance's: the second is
	// refused, the first releases the reservation all the same.
	theirs := d1.device.ret(d1.res, d1.serial, false)
	_, err = e.l.Deregister(ctx, d2.caller(api.PathDeregister, api.CodeRequest{Code: theirs}), theirs)
	if err == nil {
		t.Fatal("deregistered with another instance's return code")
	}
	_, err = e.l.Deregister(ctx, d2.caller(api.PathDeregister, nil), nil)
	e.must(err)
	e.wantBalance("acme/plant", camera, 25, 25, 0, 0)
	for _, d := range []*cdev{d1, d2} {
		if info := e.showConn(d); info.State != authority.ConnDeregistered {
			t.Fatalf("%s: state %q", d.name, info.State)
		}
		_, err := d.renew(lic(camera, 1))
		wantErr(t, err, authority.ErrNotConnected)
	}
	e.verify()
	// It registers again with a new request.
	a, err := d2.register(tok, false, lic(camera, 2))
	e.must(err)
	d2.res, d2.serial = nil, 0
	d2.take(a)
	e.wantBalance("acme/plant", camera, 25, 23, 2, 0)
	e.verify()
}

// TestConnectedReregisterMovesAccounts moves a registered instance to
// another account: its licenses go back to the old one.
func TestConnectedReregisterMovesAccounts(t *testing.T) {
	e := newEnv(t)
	e.setup()
	e.lot("acme/lab", camera, 10, codes.Perpetual, 0, 0, false)
	d := e.cdev("mover")
	a, err := d.register(e.token("acme/plant", true, 0), false, lic(camera, 6))
	e.must(err)
	d.take(a)
	lab := e.token("acme/lab", false, 0)
	_, err = d.register(lab, false, lic(camera, 6))
	wantErr(t, err, authority.ErrActive)
	a, err = d.register(lab, true, lic(camera, 6))
	e.must(err)
	d.res, d.serial = nil, 0
	got := d.take(a)
	if a.Registration.Account != "acme/lab" || a.Registration.ExportAllowed || lines(got) != camera+"=6" {
		t.Fatalf("re-registered: %+v, %s", a.Registration, lines(got))
	}
	e.wantBalance("acme/plant", camera, 25, 25, 0, 0)
	e.wantBalance("acme/lab", camera, 10, 4, 6, 0)
	info := e.showConn(d)
	var said bool
	for _, ev := range info.History {
		said = said || ev.Action == "connected re-register" && strings.Contains(ev.Detail, "re-registered to acme/lab") && ev.Account == "acme/plant"
	}
	if !said {
		t.Fatalf("the history does not say it re-registered: %+v", info.History)
	}
	// Licenses do not leave their organization, but instances may.
	a, err = d.register(e.token("globex/hq", true, 0), true, lic(camera, 6))
	e.must(err)
	if a.Authorization != nil || len(a.Shortfall) != 1 || a.Registration.Account != "globex/hq" {
		t.Fatalf("re-registered to globex: %+v", a)
	}
	e.wantBalance("acme/lab", camera, 10, 10, 0, 0)
	// Each organization's history is shown to it: the move is noted on
	// both sides without naming the other organization's account.
	var left, came bool
	for _, ev := range e.showConn(d).History {
		if strings.HasPrefix(ev.Account, "acme/") && strings.Contains(ev.Detail, "globex") ||
			strings.HasPrefix(ev.Account, "globex/") && strings.Contains(ev.Detail, "acme") {
			t.Errorf("an event of %s names the other organization: %s", ev.Account, ev.Detail)
		}
		left = left || ev.Account == "acme/lab" && strings.Contains(ev.Detail, "re-registered to another organization")
		came = came || ev.Account == "globex/hq" && strings.Contains(ev.Detail, "moved from another organization")
	}
	if !left || !came {
		t.Errorf("the move across organizations is not noted on both sides (left %v, came %v): %+v", left, came, e.showConn(d).History)
	}
	e.verify()
}

// TestConnectedNothingAvailableThenRenewal registers while the account
// holds nothing; a later renewal answers the registration's request.
func TestConnectedNothingAvailableThenRenewal(t *testing.T) {
	e := newEnv(t)
	e.setup()
	d := e.cdev("early")
	a, err := d.register(e.token("acme/lab", true, 0), false, lic(camera, 3))
	e.must(err)
	if a.Authorization != nil || len(a.Shortfall) != 1 || a.Shortfall[0].Count != 3 {
		t.Fatalf("registered: %+v", a)
	}
	e.verify()
	a, err = d.renew(lic(camera, 3))
	e.must(err)
	if a.Authorization != nil {
		t.Fatal("a code for nothing")
	}
	e.lot("acme/lab", camera, 2, codes.Perpetual, 0, 0, false)
	a, err = d.renew(lic(camera, 3))
	e.must(err)
	got := d.take(a) // serial 1, answering the registration's nonce
	if got.Serial != 1 || lines(got) != camera+"=2" || a.Shortfall[0].Count != 1 {
		t.Fatalf("renewal: serial %d %s, short %+v", got.Serial, lines(got), a.Shortfall)
	}
	e.wantBalance("acme/lab", camera, 2, 0, 2, 0)
	e.verify()
}

// TestConnectedExportRequests asks for export-controlled licenses with
// registrations that allow them and that do not, and gives them back.
func TestConnectedExportRequests(t *testing.T) {
	e := newEnv(t)
	e.setup()
	yes, no := e.cdev("allowed"), e.cdev("withheld")
	a, err := yes.register(e.token("acme/plant", true, 0), false, lic(camera, 2))
	e.must(err)
	yes.take(a)
	a, err = no.register(e.token("acme/plant", false, 0), false, lic(camera, 2))
	e.must(err)
	no.take(a)

	x := api.ExportRequest{Tag: analytics, Count: 2}
	hist := e.historyLen()
	_, err = e.l.RequestExport(ctx, no.caller(api.PathExport, x), x)
	wantErr(t, err, authority.ErrExportRefused)
	if e.historyLen() != hist+1 || e.showConn(no).LastSeq != no.seq {
		t.Fatal("the refusal is not recorded")
	}
	h, err := e.l.History(ctx, authority.HistoryFilter{Instance: no.udi.String()})
	e.must(err)
	if last := h[len(h)-1]; last.Action != "export refused" || !strings.Contains(last.Detail, "does not allow export-controlled") {
		t.Fatalf("history: %+v", last)
	}
	e.wantBalance("acme/plant", analytics, 4, 4, 0, 0)

	// Not export-controlled here; more than the account has.
	c := api.ExportRequest{Tag: camera, Count: 1}
	_, err = e.l.RequestExport(ctx, yes.caller(api.PathExport, c), c)
	wantErr(t, err, authority.ErrInvalid)
	big := api.ExportRequest{Tag: analytics, Count: 5}
	_, err = e.l.RequestExport(ctx, yes.caller(api.PathExport, big), big)
	wantErr(t, err, authority.ErrUnavailable)

	a, err = e.l.RequestExport(ctx, yes.caller(api.PathExport, x), x)
	e.must(err)
	got := yes.take(a)
	if lines(got) != camera+"=2 "+analytics+"=2" || !got.Entitlements[1].ExportControlled {
		t.Fatalf("export grant: %s", lines(got))
	}
	e.wantBalance("acme/plant", analytics, 4, 2, 2, 0)
	e.verify()
	// Renewals keep the grant though the instance asks for cameras only.
	e.clk.add(30 * dayD)
	a, err = yes.renew(lic(camera, 2))
	e.must(err)
	if got := yes.take(a); lines(got) != camera+"=2 "+analytics+"=2" {
		t.Fatalf("renewal after the grant: %s", lines(got))
	}
	_, err = yes.confirm()
	e.must(err)
	// Giving back more than it holds is refused; then all of it.
	_, err = e.l.ReturnExport(ctx, yes.caller(api.PathExportReturn, big), big)
	wantErr(t, err, authority.ErrInvalid)
	a, err = e.l.ReturnExport(ctx, yes.caller(api.PathExportReturn, x), x)
	e.must(err)
	if got := yes.take(a); lines(got) != camera+"=2" {
		t.Fatalf("after the return: %s", lines(got))
	}
	e.wantBalance("acme/plant", analytics, 4, 2, 0, 2)
	_, err = yes.confirm()
	e.must(err)
	e.wantBalance("acme/plant", analytics, 4, 4, 0, 0)
	a, err = yes.renew(lic(camera, 2))
	e.must(err)
	if got := yes.take(a); lines(got) != camera+"=2" {
		t.Fatalf("renewal after the return: %s", lines(got))
	}
	if info := e.showConn(yes); len(info.Exports) != 0 {
		t.Fatalf("export grants left: %+v", info.Exports)
	}
	e.verify()
}

// TestConnectedRemoveEndsRegistration removes a connected instance: its
// registration ends; an operator's update of it is refused before.
func TestConnectedRemoveEndsRegistration(t *testing.T) {
	e := newEnv(t)
	e.setup()
	d := e.cdev("dead")
	a, err := d.register(e.token("acme/plant", true, 0), false, lic(camera, 3))
	e.must(err)
	d.take(a)
	_, err = e.l.Update(ctx, d.udi.String(), []codes.License{lic(camera, 5)})
	wantErr(t, err, authority.ErrInvalid)
	_, err = e.l.Remove(ctx, d.udi.String(), "RMA 4711")
	e.must(err)
	e.wantBalance("acme/plant", camera, 25, 25, 0, 0)
	_, err = d.renew(lic(camera, 3))
	wantErr(t, err, authority.ErrNotConnected)
	if info := e.showConn(d); info.State != authority.ConnDeregistered {
		t.Fatalf("state %q", info.State)
	}
	e.verify()
}

// TestConnectedConcurrentRenewalsNeverOverAllocate renews 50 instances
// from 50 goroutines, each asking for more than its share, while the
// batcher groups them: the pool is never over-allocated, and every
// answer is a code of its own instance.
func TestConnectedConcurrentRenewalsNeverOverAllocate(t *testing.T) {
	e := newEnv(t)
	e.setup()
	tok := e.token("acme/plant", true, 0)
	const n = 50
	devs := make([]*cdev, n)
	for i := range devs {
		devs[i] = e.cdev(fmt.Sprintf("par%02d", i))
		a, err := devs[i].register(tok, false)
		e.must(err)
		if a.Authorization != nil {
			t.Fatal("a code for nothing")
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := map[string]uint32{}
	errs := make(chan error, n)
	for _, d := range devs {
		wg.Go(func() {
			for round := range 4 {
				a, err := d.renew(lic(camera, uint32(1+round%2)))
				if err != nil {
					errs <- err
					return
				}
				if a.Authorization == nil {
					continue
				}
				got, err := codes.OpenAuthorization(a.Authorization, e.f.Trust)
				if err != nil || got.Check(e.clk.Now(), d.udi, d.key.Public()) != nil {
					errs <- fmt.Errorf("%s: a code that does not install: %v", d.name, err)
					return
				}
				if round == 3 {
					mu.Lock()
					total[d.name] = got.Entitlements[0].Count
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var sum uint32
	for _, c := range total {
		sum += c
	}
	b := e.balance("acme/plant", camera)
	if sum > 25 || b.Reserved != int64(sum) || b.Available < 0 || b.Owned != b.Available+b.Reserved+b.InTransition {
		t.Fatalf("the codes grant %d, the ledger %+v", sum, b)
	}
	e.verify()
}

// TestReservationModeNamesTheTierThatCovers reserves and updates short of
// a tier in a ladder: nothing is borrowed, and the refusal names the
// command that would cover the shortfall with the higher tier.
func TestReservationModeNamesTheTierThatCovers(t *testing.T) {
	e := newEnv(t)
	e.setup()
	_, err := e.l.SetLadder(ctx, "vms", []string{basic, enhanced, premium})
	e.must(err)
	e.lot("acme/plant", basic, 3, codes.Perpetual, 0, 0, false)
	e.lot("acme/plant", enhanced, 5, codes.Perpetual, 0, 0, false)
	d := e.device("reserved")
	_, err = e.l.Reserve(ctx, "acme/plant", d.request(lic(basic, 5), lic(camera, 2)), nil)
	wantErr(t, err, authority.ErrUnavailable)
	want := `asked for 5 of "vms.tier.basic", "acme/plant" has 3 available; 2 short: tier "vms.tier.enhanced" has 5 available and covers it in connected mode, where a higher tier covers a lower one; a reservation takes it only when asked: airlock authority reserve --account acme/plant --request CODE --license vms.tier.basic=3 --license vms.camera.core=2 --license vms.tier.enhanced=2`
	if !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("reserve: %v\nwant …%s", err, want)
	}
	a, err := e.l.Reserve(ctx, "acme/plant", d.request(lic(basic, 3), lic(enhanced, 1)), nil)
	e.must(err)
	_, err = e.l.Update(ctx, a.UDI, []codes.License{lic(basic, 6)})
	wantErr(t, err, authority.ErrUnavailable)
	want = fmt.Sprintf("3 short: tier %q has 4 available and covers it in connected mode, where a higher tier covers a lower one; a reservation takes it only when asked: airlock authority update --instance %s --license vms.tier.basic=3 --license vms.tier.enhanced=4", enhanced, a.UDI)
	if !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("update: %v\nwant …%s", err, want)
	}
	// Following the advice works.
	_, err = e.l.Update(ctx, a.UDI, []codes.License{lic(basic, 3), lic(enhanced, 4)})
	e.must(err)
	// A tag in no ladder, or a ladder with nothing above: no advice.
	_, err = e.l.Update(ctx, a.UDI, []codes.License{lic(camera, 30)})
	wantErr(t, err, authority.ErrUnavailable)
	if strings.Contains(err.Error(), "tier") {
		t.Fatalf("advice for a tag in no ladder: %v", err)
	}
	e.verify()
}

// xr makes an export request code of the installed serial.
func (d *device) xr(res []byte, serial uint64, tag string, n uint32, ret bool, at int64) []byte {
	c, err := codes.SealExportRequest(&codes.ExportRequest{Reservation: res, Serial: serial, Tag: tag, Count: n, Return: ret, IssuedAt: at}, d.mac())
	if err != nil {
		panic(err)
	}
	return c
}

// TestExportRequestCodes answers export request codes made offline: in
// reservation mode, and in connected mode with a registration that
// allows them and one that does not; each code answers once.
func TestExportRequestCodes(t *testing.T) {
	e := newEnv(t)
	e.setup()
	now := e.clk.Now().Unix()
	d := e.device("offline")
	a, err := e.l.Reserve(ctx, "acme/plant", d.request(lic(camera, 2)), nil)
	e.must(err)
	x := d.xr(resBytes(a), 1, analytics, 3, false, now)
	got, err := e.l.AnswerExportRequest(ctx, x)
	e.must(err)
	code := e.install(d, got)
	if lines(code) != camera+"=2 "+analytics+"=3" || code.Serial != 2 || code.Lapses != 0 || !code.Entitlements[1].ExportControlled {
		t.Fatalf("granted: %s serial %d lapses %d", lines(code), code.Serial, code.Lapses)
	}
	_, err = e.l.AnswerExportRequest(ctx, x)
	wantErr(t, err, authority.ErrStale)
	// Not export-controlled; more than the account has; another
	// instance's MAC.
	_, err = e.l.AnswerExportRequest(ctx, d.xr(resBytes(a), 2, camera, 1, false, now))
	wantErr(t, err, authority.ErrInvalid)
	_, err = e.l.AnswerExportRequest(ctx, d.xr(resBytes(a), 2, analytics, 2, false, now))
	wantErr(t, err, authority.ErrUnavailable)
	_, err = e.l.AnswerExportRequest(ctx, e.device("intruder").xr(resBytes(a), 2, analytics, 1, false, now))
	wantErr(t, err, codes.ErrBadSignature)
	// Given back: in transition until confirmed.
	got, err = e.l.AnswerExportRequest(ctx, d.xr(resBytes(a), 2, analytics, 3, true, now))
	e.must(err)
	if code := e.install(d, got); lines(code) != camera+"=2" || len(got.InTransition) != 1 {
		t.Fatalf("given back: %s, in transition %v", lines(code), got.InTransition)
	}
	e.wantBalance("acme/plant", analytics, 4, 1, 0, 3)
	_, err = e.l.Confirm(ctx, d.confirm(resBytes(a), 3))
	e.must(err)
	e.wantBalance("acme/plant", analytics, 4, 4, 0, 0)
	e.verify()

	// Connected mode: the registration decides.
	no, yes := e.cdev("xr-withheld"), e.cdev("xr-allowed")
	r, err := no.register(e.token("acme/plant", false, 0), false, lic(camera, 1))
	e.must(err)
	no.take(r)
	hist := e.historyLen()
	_, err = e.l.AnswerExportRequest(ctx, no.device.xr(no.res, 1, analytics, 1, false, now))
	wantErr(t, err, authority.ErrExportRefused)
	if e.historyLen() != hist+1 {
		t.Fatal("the refusal is not recorded")
	}
	r, err = yes.register(e.token("acme/plant", true, 0), false, lic(camera, 1))
	e.must(err)
	yes.take(r)
	got, err = e.l.AnswerExportRequest(ctx, yes.device.xr(yes.res, 1, analytics, 1, false, now))
	e.must(err)
	if code := e.install(yes.device, got); code.Lapses != e.clk.Now().Add(api.AuthorizationValidity).Unix() || lines(code) != camera+"=1 "+analytics+"=1" {
		t.Fatalf("connected grant: %s lapses %d", lines(code), code.Lapses)
	}
	yes.serial = 2
	r, err = yes.renew(lic(camera, 1))
	e.must(err)
	if code := yes.take(r); lines(code) != camera+"=1 "+analytics+"=1" {
		t.Fatalf("the renewal dropped the grant: %s", lines(code))
	}
	e.verify()
}

// connectedLedger is a ledger with connected instances: one borrowing
// from a higher tier, one with an export grant, one deregistered.
func connectedLedger(t *testing.T) *env {
	e := newEnv(t)
	e.setup()
	_, err := e.l.SetLadder(ctx, "vms", []string{basic, enhanced})
	e.must(err)
	e.lot("acme/plant", basic, 1, codes.Perpetual, 0, 0, false)
	e.lot("acme/plant", enhanced, 5, codes.Perpetual, 0, 0, false)
	tok := e.token("acme/plant", true, 0)
	b := e.cdev("borrower")
	a, err := b.register(tok, false, lic(basic, 3))
	e.must(err)
	b.take(a)
	x := e.cdev("exporter")
	a, err = x.register(tok, false, lic(camera, 1))
	e.must(err)
	x.take(a)
	r := api.ExportRequest{Tag: analytics, Count: 1}
	_, err = e.l.RequestExport(ctx, x.caller(api.PathExport, r), r)
	e.must(err)
	g := e.cdev("gone")
	a, err = g.register(tok, false, lic(camera, 2))
	e.must(err)
	g.take(a)
	_, err = e.l.Deregister(ctx, g.caller(api.PathDeregister, nil), nil)
	e.must(err)
	e.verify()
	return e
}

func TestVerifyDetectsTamperedConnectedRecords(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stmts []string
		want  string
	}{
		{"borrow dropped", []string{`DELETE FROM connected_borrows`}, `the code grants 3 of "vms.tier.basic", the ledger took 1`},
		{"borrow grown", []string{`UPDATE connected_borrows SET count = count + 1`}, `the code grants 3 of "vms.tier.basic", the ledger took 4`},
		{"borrow of its own tag", []string{`UPDATE connected_borrows SET tag = 'vms.tier.enhanced'`}, `the code grants 3 of "vms.tier.basic", the ledger took 1`},
		{"deregistered holding licenses", []string{`UPDATE connected SET deregistered_at = 1 WHERE instance_id = (SELECT id FROM instances WHERE udi LIKE '%S:borrower,%')`}, "still holds licenses"},
		{"revived registration", []string{`UPDATE connected SET deregistered_at = 0 WHERE deregistered_at <> 0`, `UPDATE instances SET account_id = (SELECT id FROM accounts WHERE name = 'lab') WHERE udi LIKE '%S:gone,%'`}, "is registered in connected mode to \"acme/plant\", and belongs to account "},
		{"export grant without a registration", []string{`INSERT INTO connected_exports (instance_id, tag, count) SELECT id, 'vms.analytics', 1 FROM instances WHERE udi LIKE '%S:gone,%'`}, "without a registration that allows it"},
		{"registration moved", []string{`UPDATE connected SET account_id = (SELECT id FROM accounts WHERE name = 'lab') WHERE instance_id = (SELECT id FROM instances WHERE udi LIKE '%S:exporter,%')`}, "is registered in connected mode to \"acme/lab\""},
		{"removed and registered", []string{`UPDATE instances SET state = 'removed' WHERE udi LIKE '%S:gone,%'`, `UPDATE connected SET deregistered_at = 0 WHERE deregistered_at <> 0`}, "was removed and is still registered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := connectedLedger(t)
			e.tamper(tc.stmts...)
			_, err := e.l.Verify(ctx)
			wantErr(t, err, authority.ErrCorrupt)
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %q, want %q", err, tc.want)
			}
		})
	}
}
