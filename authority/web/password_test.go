package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// signInWith posts the sign-in form with a password and returns the
// answer.
func (b *browser) signInWith(email, pw string) *resp {
	page := b.get("/signin")
	return b.post("/signin", url.Values{"csrf": {page.token()}, "email": {email}, "password": {pw}})
}

// TestPeopleChangeTheirOwnPassword: the current password is checked, the
// new one must be typed twice and be long enough; once changed, every
// session of the person ends and only the new password signs in.
func TestPeopleChangeTheirOwnPassword(t *testing.T) {
	d := newDesk(t)
	b, tok := d.signedIn(ann)
	page := b.get("/password")
	page.want(t, 200, "Change your password", `autocomplete="current-password"`, "Set the password of a person of acme")
	page.wantWellFormed(t, "the password page")
	other, _ := d.signedIn(ann) // a second browser of ann's
	const next = "another correct horse battery"
	for _, c := range []struct {
		form   url.Values
		status int
		says   string
	}{
		{url.Values{"current": {"wrong password here"}, "password": {next}, "again": {next}}, http.StatusUnauthorized, "The current password is wrong"},
		{url.Values{"current": {password}, "password": {next}, "again": {next + "x"}}, http.StatusBadRequest, "The two passwords differ"},
		{url.Values{"current": {password}, "password": {"short"}, "again": {"short"}}, http.StatusBadRequest, "at least 12"},
		{url.Values{"current": {password}, "password": {ann}, "again": {ann}}, http.StatusBadRequest, "e-mail address"},
		{url.Values{"password": {next}, "again": {next}}, http.StatusUnauthorized, "The current password is wrong"},
	} {
		c.form.Set("csrf", tok)
		b.post("/password", c.form).want(t, c.status, c.says)
	}
	b.post("/password", url.Values{"current": {password}, "password": {next}, "again": {next}}).want(t, http.StatusForbidden, "no valid security token")
	b.get("/orgs").want(t, 200) // nothing refused ended the session

	b.post("/password", url.Values{"csrf": {tok}, "current": {password}, "password": {next}, "again": {next}}).wantRedirect(t, "/signin?changed=1")
	other.get("/orgs").wantRedirect(t, "/signin")
	b.get("/signin?changed=1").want(t, 200, "Your password was changed")
	if r := d.browser("192.0.2.11").signInWith(ann, password); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the old password signs in: %d", r.StatusCode)
	}
	if r := d.browser("192.0.2.12").signInWith(ann, next); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("the new password does not sign in: %d\n%s", r.StatusCode, r.body)
	}
}

// TestAdministratorsSetTheirPeoplesPasswords: an administrator sets a
// viewer's password of their organization, not the vendor's nor
// another organization's; a viewer sets no one's.
func TestAdministratorsSetTheirPeoplesPasswords(t *testing.T) {
	d := newDesk(t)
	vw, _ := d.signedIn(vic)
	if body := vw.get("/password").body; !strings.Contains(body, "Change your password") || strings.Contains(body, "/password/other") {
		t.Fatal("a viewer is offered to set others' passwords")
	}
	b, tok := d.signedIn(ann)
	const next = "a viewer's new long password"
	before := d.historyLen()
	b.post("/password/other", url.Values{"csrf": {tok}, "email": {vic}, "password": {next}, "again": {next}}).want(t, 200, vic+" can sign in with the new password")
	if d.historyLen() != before+1 {
		t.Fatal("setting a password is not in the history")
	}
	if r := d.browser("192.0.2.13").signInWith(vic, next); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("vic's new password does not sign in: %d", r.StatusCode)
	}
	before = d.historyLen()
	for _, email := range []string{vera, gus} {
		b.post("/password/other", url.Values{"csrf": {tok}, "email": {email}, "password": {next}, "again": {next}}).want(t, http.StatusForbidden)
	}
	b.post("/password/other", url.Values{"csrf": {tok}, "email": {ann}, "password": {next}, "again": {next}}).want(t, http.StatusBadRequest, "that is your own")
	vb, vtok := d.signedIn(gus)
	vb.post("/password/other", url.Values{"csrf": {vtok}, "email": {ann}, "password": {next}, "again": {next}}).want(t, http.StatusForbidden)
	if d.historyLen() != before {
		t.Fatal("a refused password changed the ledger")
	}
}
