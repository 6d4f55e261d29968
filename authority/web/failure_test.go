package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/authority/web"
	"github.com/airlock-dev/airlock/codes"
)

// TestWithoutTheAuthorityKeyNothingIsSigned: a portal on a ledger opened
// without the authority's key cannot open request codes nor sign: it
// says the desk cannot sign now (503), not why, and reserves nothing.
func TestWithoutTheAuthorityKeyNothingIsSigned(t *testing.T) {
	d := newDesk(t)
	keyless := authority.New(d.l.Store(), authority.Options{Actor: "serve", Now: d.clk.Now})
	d.h = web.New(keyless, web.Options{Now: d.clk.Now, SignInBurst: 100, AccountBurst: 100})
	b, tok := d.signedIn(ann)
	v := d.device("cam-k", d.f.Authority)
	req := typed(codes.KindRequest, v.request(lic(camera, 1)))
	for _, path := range []string{"/orgs/acme/reserve/review", "/orgs/acme/reserve"} {
		r := b.post(path, url.Values{"csrf": {tok}, "account": {"plant"}, "request": {req}})
		r.want(t, http.StatusServiceUnavailable, "cannot sign codes at the moment")
		if strings.Contains(r.body, "authority key") {
			t.Errorf("%s: the page says why:\n%s", path, r.body)
		}
	}
	if d.balance("acme/plant", camera) != [4]int64{25, 25, 0, 0} {
		t.Fatal("reserved without a key")
	}
}

// TestInternalFailuresShowNoDetail: when the ledger itself fails (here its
// store is closed), the page says "internal error" and nothing of the
// cause, which goes to Options.Log.
func TestInternalFailuresShowNoDetail(t *testing.T) {
	d := newDesk(t)
	var mu sync.Mutex
	var logged []error
	d.h = web.New(d.l, web.Options{Now: d.clk.Now, SignInBurst: 100, AccountBurst: 100, Log: func(r *http.Request, err error) {
		mu.Lock()
		logged = append(logged, err)
		mu.Unlock()
	}})
	b, _ := d.signedIn(ann)
	d.must(d.l.Store().Close())
	r := b.get("/orgs/acme/licenses")
	r.want(t, http.StatusInternalServerError, "Something failed inside the licensing desk.")
	wantHeaders(t, "internal error", r)
	for _, leak := range []string{"sql", "closed", "database", "goroutine", ".go:"} {
		if strings.Contains(r.body, leak) {
			t.Errorf("the page shows %q:\n%s", leak, r.body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(logged) != 1 || !strings.Contains(logged[0].Error(), "closed") {
		t.Fatalf("logged %v", logged)
	}
}

// TestConfirmRefusesOtherCodes: the confirmation form takes only
// confirmation codes, and says what else it was given.
func TestConfirmRefusesOtherCodes(t *testing.T) {
	d := newDesk(t)
	b, tok := d.signedIn(ann)
	v := d.device("cam-c", d.f.Authority)
	before := d.historyLen()
	for _, tc := range []struct {
		input, says string
		status      int
	}{
		{typed(codes.KindRequest, v.request(lic(camera, 1))), "Wrong kind of code", 400},
		{"", "No code was given", 400},
		{"CC-0000", "Not a code", 400},
		{typed(codes.KindConfirmation, v.confirm([]byte{9, 9, 9, 9}, 1)), "never issued", 404},
	} {
		b.post("/orgs/acme/confirm", url.Values{"csrf": {tok}, "code": {tc.input}}).want(t, tc.status, tc.says)
	}
	if d.historyLen() != before {
		t.Fatal("a refused confirmation changed the ledger")
	}
}
