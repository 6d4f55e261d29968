package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/authority/store"
	"github.com/airlock-dev/airlock/authority/web"
	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/testvectors/gen"
)

var ctx = context.Background()

const (
	camera    = "vms.camera.core"
	analytics = "vms.analytics"
	password  = "correct horse battery staple"
)

// cheap are argon2id parameters for tests; sign-ins of people without a
// password still hash under the real ones.
var cheap = authority.PasswordParams{Time: 1, Memory: 64, Threads: 1}

// t0 is the test clock's start.
var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

var (
	fixtureOnce sync.Once
	fixtureVal  *gen.Fixture
)

func fixture() *gen.Fixture {
	fixtureOnce.Do(func() {
		f, err := gen.NewFixture()
		if err != nil {
			panic(err)
		}
		fixtureVal = f
	})
	return fixtureVal
}

// A clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// A desk is a ledger with the fixture's authority key, two organizations
// and their people, and the portal on it.
//
//	acme:   accounts plant (25 cameras, 4 analytics) and lab (empty);
//	        ann (admin), vic (viewer), and mal, an admin whose name is
//	        markup
//	globex: account hq (5 cameras); gus (admin)
//	vera:   the vendor's support
type desk struct {
	t   testing.TB
	f   *gen.Fixture
	clk *clock
	l   *authority.Ledger
	h   http.Handler
}

// People of the desk, by e-mail address.
const (
	vera = "vera@vendor.example"
	ann  = "ann@acme.example"
	vic  = "vic@acme.example"
	mal  = "mal@acme.example"
	gus  = "gus@globex.example"
)

// hostileName is a person's name made of markup.
const hostileName = `<script>alert("x")</script>`

func newDesk(t testing.TB, opts ...func(*web.Options)) *desk {
	t.Helper()
	f := fixture()
	clk := &clock{t: t0}
	st, err := store.Open(t.TempDir()+"/"+authority.LedgerFile, store.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l := authority.New(st, authority.Options{Keys: []*codes.AuthorityKey{f.Authority}, Actor: "desk", Now: clk.Now})
	d := &desk{t: t, f: f, clk: clk, l: l}
	d.must(l.Init(ctx, "test desk"))
	for _, o := range []string{"acme", "globex"} {
		_, err := l.AddOrg(ctx, o)
		d.must(err)
	}
	for _, a := range [][2]string{{"acme", "plant"}, {"acme", "lab"}, {"globex", "hq"}} {
		_, err := l.AddAccount(ctx, a[0], a[1], -1)
		d.must(err)
	}
	for _, lot := range []authority.LotSpec{
		{Account: "acme/plant", Tag: camera, Count: 25},
		{Account: "acme/plant", Tag: analytics, Count: 4},
		{Account: "globex/hq", Tag: camera, Count: 5},
	} {
		_, err := l.AddLot(ctx, lot)
		d.must(err)
	}
	v := l.As(vera)
	for _, p := range []authority.Person{
		{Email: vera, Name: "Vera", Role: authority.RoleVendor},
		{Email: ann, Name: "Ann", Role: authority.RoleAdmin, Org: "acme"},
		{Email: vic, Name: "Vic", Role: authority.RoleViewer, Org: "acme"},
		{Email: mal, Name: hostileName, Role: authority.RoleAdmin, Org: "acme"},
		{Email: gus, Name: "Gus", Role: authority.RoleAdmin, Org: "globex"},
	} {
		_, err := v.AddPerson(ctx, p)
		d.must(err)
		d.must(v.SetPassword(ctx, p.Email, password, cheap))
	}
	// Generous limits, so that tests sign in as often as they like;
	// TestSignInIsRateLimited sets the defaults.
	o := web.Options{SignInBurst: 1000, AccountBurst: 1000, Now: clk.Now, Log: func(r *http.Request, err error) { t.Logf("portal log: %s %s: %v", r.Method, r.URL.Path, err) }}
	for _, fn := range opts {
		fn(&o)
	}
	d.h = web.New(l, o)
	return d
}

func (d *desk) must(err error) {
	d.t.Helper()
	if err != nil {
		d.t.Fatal(err)
	}
}

// balance returns what an account has of a tag: owned, available,
// reserved, in transition.
func (d *desk) balance(acct, tag string) [4]int64 {
	d.t.Helper()
	bs, err := d.l.As(vera).Licenses(ctx, acct)
	d.must(err)
	for _, b := range bs {
		if b.Tag == tag {
			return [4]int64{b.Owned, b.Available, b.Reserved, b.InTransition}
		}
	}
	return [4]int64{}
}

// historyLen counts the history's events.
func (d *desk) historyLen() int64 {
	d.t.Helper()
	m, err := d.l.Meta(ctx)
	d.must(err)
	return m.HistoryCount
}

// A device plays an instance: a key and UDI from its name.
type device struct {
	key   *codes.InstanceKey
	udi   codes.UDI
	auth  *codes.AuthorityPublicKey
	nonce atomic.Uint64
	name  string
}

func (d *desk) device(sn string, auth *codes.AuthorityKey) *device {
	seed := sha256.Sum256([]byte("airlock web test device " + sn))
	k, err := codes.GenerateInstanceKey(bytes.NewReader(seed[:]))
	d.must(err)
	uuid := sha256.Sum256([]byte("uuid " + sn))
	return &device{key: k, udi: codes.UDI{PID: "VMS", SN: sn, UUID: uuid[:16]}, auth: &auth.Public, name: sn}
}

// request makes a binary request code with a fresh nonce.
func (v *device) request(want ...codes.License) []byte {
	n := v.nonce.Add(1)
	h := sha256.Sum256(fmt.Appendf(nil, "%s %d", v.name, n))
	code, err := codes.SealRequest(&codes.Request{UDI: v.udi, Nonce: h[:codes.NonceSize], IssuedAt: t0.Unix() - 60, Wanted: want}, v.key, v.auth)
	if err != nil {
		panic(err)
	}
	return code
}

func (v *device) confirm(res []byte, serial uint64) []byte {
	mk, err := v.key.MACKey(v.auth)
	if err != nil {
		panic(err)
	}
	c, err := codes.SealConfirmation(&codes.Confirmation{Reservation: res, Serial: serial}, mk)
	if err != nil {
		panic(err)
	}
	return c
}

func (v *device) ret(res []byte, serial uint64) []byte {
	mk, err := v.key.MACKey(v.auth)
	if err != nil {
		panic(err)
	}
	c, err := codes.SealReturn(&codes.Return{Reservation: res, Serial: serial}, mk)
	if err != nil {
		panic(err)
	}
	return c
}

func lic(tag string, n uint32) codes.License { return codes.License{Tag: tag, Count: n} }

func typed(k codes.Kind, code []byte) string { return codes.EncodeText(k, code) }

// A browser keeps cookies and talks to the portal from one address.
type browser struct {
	d       *desk
	addr    string
	cookies map[string]*http.Cookie
	noMarks bool // post sends no one-time mark of its own
}

func (d *desk) browser(addr string) *browser {
	return &browser{d: d, addr: addr, cookies: map[string]*http.Cookie{}}
}

// A resp is an answer, read whole.
type resp struct {
	*http.Response
	body string
}

func (b *browser) send(r *http.Request) *resp {
	r.RemoteAddr = b.addr + ":40000"
	for _, c := range b.cookies {
		r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	w := httptest.NewRecorder()
	b.d.h.ServeHTTP(w, r)
	res := w.Result()
	body, _ := io.ReadAll(res.Body)
	for _, c := range res.Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	return &resp{res, string(body)}
}

func (b *browser) get(path string) *resp {
	return b.send(httptest.NewRequest(http.MethodGet, "https://portal.example"+path, nil))
}

func (b *browser) post(path string, form url.Values) *resp {
	if _, ok := form["once"]; !ok && !b.noMarks {
		// As a form opened anew carries: the tests of the marks
		// themselves send their own, or none.
		form = maps.Clone(form)
		form.Set("once", rand.Text())
	}
	r := httptest.NewRequest(http.MethodPost, "https://portal.example"+path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.send(r)
}

// upload posts a multipart form with a file.
func (b *browser) upload(path string, form url.Values, file []byte) *resp {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, vs := range form {
		for _, v := range vs {
			mw.WriteField(k, v)
		}
	}
	if file != nil {
		fw, _ := mw.CreateFormFile("file", "request.airlock")
		fw.Write(file)
	}
	mw.Close()
	r := httptest.NewRequest(http.MethodPost, "https://portal.example"+path, &buf)
	r.Header.Set("Content-Type", mw.FormDataContentType())
	return b.send(r)
}

var tokenRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// token returns the form token of a page.
func (r *resp) token() string {
	m := tokenRE.FindStringSubmatch(r.body)
	if m == nil {
		return ""
	}
	return m[1]
}

// signIn signs in as email and returns the session's form token.
func (b *browser) signIn(email string) string {
	b.d.t.Helper()
	page := b.get("/signin")
	r := b.post("/signin", url.Values{"csrf": {page.token()}, "email": {email}, "password": {password}})
	if r.StatusCode != http.StatusSeeOther {
		b.d.t.Fatalf("sign-in as %s: %d\n%s", email, r.StatusCode, r.body)
	}
	return b.get("/orgs").token()
}

// signedIn returns a browser signed in as email, and its form token.
func (d *desk) signedIn(email string) (*browser, string) {
	b := d.browser("192.0.2.10")
	return b, b.signIn(email)
}

// want checks an answer's status and that its body holds each of subs.
func (r *resp) want(t *testing.T, status int, subs ...string) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("status %d, want %d\n%s", r.StatusCode, status, r.body)
	}
	for _, s := range subs {
		if !strings.Contains(r.body, s) {
			t.Fatalf("the page lacks %q:\n%s", s, r.body)
		}
	}
}

// wantRedirect checks a redirect to the sign-in page (or another
// location).
func (r *resp) wantRedirect(t *testing.T, to string) {
	t.Helper()
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != to {
		t.Fatalf("status %d to %q, want 303 to %q\n%s", r.StatusCode, r.Header.Get("Location"), to, r.body)
	}
}
