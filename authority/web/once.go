package web

import (
	"crypto/rand"
	"errors"
	"net/http"

	"github.com/airlock-dev/airlock/authority"
)

// Forms that issue something shown once (a license key, a registration
// token, a serial, a voucher, an upgrade notification, a draw from an
// agreement) answer with the page that shows it, not a redirect: what
// they issue is not kept to be shown again. So do forms whose result is
// a code to download (an update, a delivery) or that would do the same
// again (a transfer, a subscription's allocation or extension).
// Reloading that page sends the form again, which would do it twice.
// Each such form carries a one-time mark ({{once}}); the ledger keeps
// the marks taken (authority.TakeFormMark), so every server on it, and
// one restarted, refuses a mark sent before.

func init() {
	funcs["once"] = rand.Text
}

var errNoMark = &pageError{status: http.StatusBadRequest, title: "Refused",
	msg:  "This form has no one-time mark, so nothing was done.",
	hint: "Open the page again and send the form from it."}

var errSentAgain = &pageError{status: http.StatusConflict, title: "Sent already",
	msg: "This form was sent already, and done then: the page that answered it showed the result. Nothing was done again.",
	hint: "If that page never reached you (a double click, a lost connection), the History says what was done, with the id of anything issued. " +
		"To do it once more, open the form again and send it from there."}

// statusWriter notes the status of an answer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// sentOnce runs do for a form that issues something shown once, unless
// its mark was taken before. A refusal of the form (an answer from 400
// to 499) gives the mark back, so the form can be corrected and sent
// again; a failure of the server (500 and above) keeps it, for what
// failed may have been the page after the issue.
func (s *server) sentOnce(w http.ResponseWriter, r *http.Request, ss *session, refuse func(error), do func(http.ResponseWriter)) {
	mark := onlyValue(r, "once")
	if mark == "" || len(mark) > authority.MaxFormMark {
		refuse(errNoMark)
		return
	}
	if err := ss.l.TakeFormMark(r.Context(), mark); err != nil {
		if errors.Is(err, authority.ErrFormSent) {
			err = errSentAgain
		}
		refuse(err)
		return
	}
	sw := &statusWriter{ResponseWriter: w}
	do(sw)
	if sw.status >= http.StatusBadRequest && sw.status < http.StatusInternalServerError {
		if err := ss.l.ReleaseFormMark(r.Context(), mark); err != nil && s.opts.Log != nil {
			s.opts.Log(r, err)
		}
	}
}

// onceAtDesk is atDesk's handler h guarded by sentOnce.
func (s *server) onceAtDesk(h func(http.ResponseWriter, *http.Request, *session)) func(http.ResponseWriter, *http.Request, *session) {
	return func(w http.ResponseWriter, r *http.Request, ss *session) {
		s.sentOnce(w, r, ss, func(err error) { s.fail(w, r, ss, err) }, func(w http.ResponseWriter) { h(w, r, ss) })
	}
}

// onceInOrg is inOrg's handler h guarded by sentOnce.
func (s *server) onceInOrg(h func(http.ResponseWriter, *http.Request, *session, *authority.Access)) func(http.ResponseWriter, *http.Request, *session, *authority.Access) {
	return func(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
		s.sentOnce(w, r, ss, func(err error) { s.failIn(w, r, ss, acc, err) }, func(w http.ResponseWriter) { h(w, r, ss, acc) })
	}
}
