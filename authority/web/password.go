package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/airlock-dev/airlock/authority"
)

// Passwords, as `airlock authority person password` sets them: everyone
// sets their own (after typing the current one), an organization's
// administrator those of its administrators and viewers; the vendor's
// staff set anyone's on the desk's People page. The library decides who
// may set whose.

func (s *server) passwordRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /password", s.signedIn(s.passwordPage))
	m.HandleFunc("POST /password", s.signedIn(s.passwordOwn))
	m.HandleFunc("POST /password/other", s.signedIn(s.passwordOther))
}

type passwordData struct {
	Admin bool   // the person may set others' passwords here
	Org   string // theirs, for an administrator
	Done  string
}

func (s *server) passwordPage(w http.ResponseWriter, r *http.Request, ss *session) {
	s.render(w, r, http.StatusOK, "password.html", ss.page("Your password", nil, s.passwordData(ss, "")))
}

func (s *server) passwordData(ss *session, done string) *passwordData {
	return &passwordData{Admin: ss.person.Role == authority.RoleAdmin, Org: ss.person.Org, Done: done}
}

var errWrongPassword = &pageError{status: http.StatusUnauthorized, title: "Not changed",
	msg: "The current password is wrong, so the password was not changed.", hint: "Type the password you signed in with."}

// passwordOwn sets the person's own password, after checking the current
// one as a sign-in does (and counting it as one, against guessing); every
// session of the person ends, this one too.
func (s *server) passwordOwn(w http.ResponseWriter, r *http.Request, ss *session) {
	email := ss.person.Email
	current, pw, again := onlyValue(r, "current"), onlyValue(r, "password"), onlyValue(r, "again")
	if pw != again {
		s.fail(w, r, ss, errDeskPasswordsDiffer)
		return
	}
	if err := authority.CheckNewPassword(email, pw); err != nil {
		s.fail(w, r, ss, err)
		return
	}
	if ok, wait := s.perAcct.Allow(strings.ToLower(email), s.opts.Now()); !ok {
		s.tooMany(w, r, wait)
		return
	}
	id, _, err := s.l.SignIn(r.Context(), email, current)
	if errors.Is(err, authority.ErrSignIn) {
		s.fail(w, r, ss, errWrongPassword)
		return
	}
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	_ = s.l.SignOut(r.Context(), id) // the check's session; setting ends the others
	if err := ss.l.SetPassword(r.Context(), email, pw, authority.PasswordParams{}); err != nil {
		s.fail(w, r, ss, err)
		return
	}
	clearCookie(w, sessionCookie)
	http.Redirect(w, r, "/signin?changed=1", http.StatusSeeOther)
}

// passwordOther sets the password of another person, as the library lets
// the person signed in: an administrator those of their organization's
// administrators and viewers.
func (s *server) passwordOther(w http.ResponseWriter, r *http.Request, ss *session) {
	email := strings.TrimSpace(onlyValue(r, "email"))
	if strings.EqualFold(email, ss.person.Email) {
		s.fail(w, r, ss, badField("E-mail address", "that is your own: change it in the form above, with your current password"))
		return
	}
	if err := setPasswordOf(r, ss, email); err != nil {
		s.fail(w, r, ss, err)
		return
	}
	done := fmt.Sprintf("%s can sign in with the new password; their sessions ended. Give it to them by a way other than e-mail.", email)
	s.render(w, r, http.StatusOK, "password.html", ss.page("Password set", nil, s.passwordData(ss, done)))
}

// setPasswordOf sets the password of email to the form's, typed twice
// ("password", "again"), as the person signed in: the library decides
// whether they may. The password is never shown again, nor put in a
// message.
func setPasswordOf(r *http.Request, ss *session, email string) error {
	pw, again := onlyValue(r, "password"), onlyValue(r, "again")
	if pw != again {
		return errDeskPasswordsDiffer
	}
	if err := authority.CheckEmail(email); err != nil {
		return err
	}
	if err := authority.CheckNewPassword(email, pw); err != nil {
		return err
	}
	return ss.l.SetPassword(r.Context(), email, pw, authority.PasswordParams{})
}
