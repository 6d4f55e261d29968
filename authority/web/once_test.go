package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/authority/web"
)

var onceRE = regexp.MustCompile(`name="once" value="([^"]+)"`)

// TestFormsThatIssueOnceRefuseASecondSending sends the key form as a
// reload of its answer would: the same form again. The first sending
// issues; the second is refused and issues nothing. A refused form
// leaves its mark unused, so the corrected form is accepted.
func TestFormsThatIssueOnceRefuseASecondSending(t *testing.T) {
	d := newDesk(t)
	b, tok := d.signedIn(vera)
	b.noMarks = true
	page := b.get("/desk/keys")
	m := onceRE.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("the key form carries no one-time mark:\n%s", page.body)
	}
	form := url.Values{"csrf": {tok}, "once": {m[1]}, "software": {"vms"}, "kind": {"key"}, "tag": {camera}, "count": {"10"}, "years": {"3"}}
	n := d.historyLen()
	b.post("/desk/keys", form).want(t, http.StatusOK, "License key issued")
	if d.historyLen() != n+1 {
		t.Fatalf("the first sending made %d events, want 1", d.historyLen()-n)
	}
	b.post("/desk/keys", form).want(t, http.StatusConflict, "was sent already", "Nothing was done again")
	if d.historyLen() != n+1 {
		t.Fatal("the second sending issued a key")
	}
	// Another server on the ledger, or this one restarted, refuses it too.
	d.h = web.New(d.l, web.Options{SignInBurst: 1000, AccountBurst: 1000, Now: d.clk.Now})
	b.post("/desk/keys", form).want(t, http.StatusConflict, "was sent already")
	if d.historyLen() != n+1 {
		t.Fatal("the sending to another server issued a key")
	}
	if again := onceRE.FindStringSubmatch(b.get("/desk/keys").body); again == nil || again[1] == m[1] {
		t.Fatalf("the form opened again carries the same mark %q", m[1])
	}

	// Refused, then corrected with the same mark: issued once.
	bad := url.Values{"csrf": {tok}, "once": {"mark-2"}, "software": {"vms"}, "kind": {"key"}, "tag": {camera}, "count": {"ten"}}
	b.post("/desk/keys", bad).want(t, http.StatusBadRequest, "is not a whole number")
	bad.Set("count", "10")
	b.post("/desk/keys", bad).want(t, http.StatusOK, "License key issued")
	b.post("/desk/keys", bad).want(t, http.StatusConflict)

	// No mark, or one too long: refused, nothing issued.
	n = d.historyLen()
	delete(form, "once")
	b.post("/desk/keys", form).want(t, http.StatusBadRequest, "no one-time mark")
	form.Set("once", string(make([]byte, 65)))
	b.post("/desk/keys", form).want(t, http.StatusBadRequest, "no one-time mark")
	form["once"] = []string{"a", "b"}
	b.post("/desk/keys", form).want(t, http.StatusBadRequest, "sent more than once")
	if d.historyLen() != n {
		t.Fatal("a form without a mark issued a key")
	}

	// Every form that issues something shown once carries a mark.
	for _, p := range []struct{ page, action string }{
		{"/orgs/acme/connected", "/orgs/acme/connected/tokens"},
		{"/orgs/acme/serials", "/orgs/acme/serials/issue"},
		{"/orgs/acme/upgrades", "/orgs/acme/upgrades/issue"},
		{"/orgs/acme/vouchers", "/orgs/acme/vouchers/issue"},
		{"/orgs/acme/transfer", "/orgs/acme/transfer"},
	} {
		body := b.get(p.page).body
		form := regexp.MustCompile(`(?s)<form method="post" action="` + regexp.QuoteMeta(p.action) + `".*?</form>`).FindString(body)
		if form == "" || !onceRE.MatchString(form) {
			t.Errorf("%s: the form to %s carries no one-time mark:\n%s", p.page, p.action, form)
		}
	}
}

// TestTransferSentTwiceMovesOnce: reloading the page that said a transfer
// was done sends the form again; the licenses move once.
func TestTransferSentTwiceMovesOnce(t *testing.T) {
	d := newDesk(t)
	b, tok := d.signedIn(ann)
	b.noMarks = true
	m := onceRE.FindStringSubmatch(b.get("/orgs/acme/transfer").body)
	if m == nil {
		t.Fatal("the transfer form carries no one-time mark")
	}
	form := url.Values{"csrf": {tok}, "once": {m[1]}, "from": {"plant"}, "to": {"lab"}, "tag": {camera}, "count": {"5"}}
	b.post("/orgs/acme/transfer", form).want(t, http.StatusOK, "5 vms.camera.core moved")
	b.post("/orgs/acme/transfer", form).want(t, http.StatusConflict, "Sent already")
	self := b.post("/orgs/acme/transfer", url.Values{"csrf": {tok}, "once": {"self-1"}, "from": {"lab"}, "to": {"lab"}, "tag": {camera}, "count": {"1"}})
	self.want(t, http.StatusBadRequest, "Not accepted", "to itself")
	if strings.Contains(self.body, "invalid argument") {
		t.Errorf("the refusal keeps the command line's words:\n%s", self.body)
	}
	if got := d.balance("acme/lab", camera); got[0] != 5 {
		t.Fatalf("acme/lab holds %v cameras after the form was sent twice, want 5 owned", got)
	}
}
