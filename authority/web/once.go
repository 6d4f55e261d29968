package web

import (
	"crypto/rand"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/airlock-dev/airlock/authority"
)

// Forms that issue something shown once (a license key, a registration
// token, a serial, a voucher, an upgrade notification, a draw from an
// agreement) answer with the page that shows it, not a redirect: what
// they issue is not kept to be shown again. Reloading that page would
// send the form again and issue a second one. Each such form carries a
// one-time mark ({{once}}), and the portal refuses a mark it has seen.

func init() {
	funcs["once"] = rand.Text
}

// onceKeep is how long a mark is remembered: longer than a session
// (authority.SessionMaxAge), after which the page's CSRF token is
// refused anyway.
const onceKeep = 2 * authority.SessionMaxAge

// maxMarks bounds the marks remembered; at the bound the oldest half is
// forgotten. The vendor's desk issues far fewer within onceKeep.
const maxMarks = 1 << 16

// marks remembers the marks of forms sent, with when.
type marks struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

// take records mark as sent at now, or refuses it: missing, or sent
// before.
func (m *marks) take(mark string, now time.Time) error {
	if mark == "" || len(mark) > 64 {
		return errNoMark
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil {
		m.seen = make(map[string]time.Time)
	}
	if at, ok := m.seen[mark]; ok && now.Sub(at) < onceKeep {
		return errSentAgain
	}
	if len(m.seen) >= maxMarks {
		m.forget(now)
	}
	m.seen[mark] = now
	return nil
}

// forget drops the marks older than onceKeep and, when that is not
// enough, the older half.
func (m *marks) forget(now time.Time) {
	for k, at := range m.seen {
		if now.Sub(at) >= onceKeep {
			delete(m.seen, k)
		}
	}
	if len(m.seen) < maxMarks/2 {
		return
	}
	ats := make([]time.Time, 0, len(m.seen))
	for _, at := range m.seen {
		ats = append(ats, at)
	}
	slices.SortFunc(ats, time.Time.Compare)
	cut := ats[len(ats)/2]
	for k, at := range m.seen {
		if !at.After(cut) {
			delete(m.seen, k)
		}
	}
}

// release forgets mark: what the form asked was refused, so sending it
// again, corrected, issues nothing twice.
func (m *marks) release(mark string) {
	m.mu.Lock()
	delete(m.seen, mark)
	m.mu.Unlock()
}

var errNoMark = &pageError{status: http.StatusBadRequest, title: "Refused",
	msg:  "This form has no one-time mark, so nothing was issued.",
	hint: "Open the page again and send the form from it."}

var errSentAgain = &pageError{status: http.StatusConflict, title: "Sent already",
	msg:  "This form was sent already, and the page that answered it showed what was issued. Nothing was issued again.",
	hint: "To issue another, open the form again and send it from there."}

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

// sentOnce runs do for a form that issues something shown once, unless
// its mark was sent before; a refusal (an answer of 400 or more) forgets
// the mark, so the form can be corrected and sent again.
func (s *server) sentOnce(w http.ResponseWriter, r *http.Request, refuse func(error), do func(http.ResponseWriter)) {
	mark := onlyValue(r, "once")
	if err := s.marks.take(mark, s.opts.Now()); err != nil {
		refuse(err)
		return
	}
	sw := &statusWriter{ResponseWriter: w}
	do(sw)
	if sw.status >= http.StatusBadRequest {
		s.marks.release(mark)
	}
}

// onceAtDesk is atDesk's handler h guarded by sentOnce.
func (s *server) onceAtDesk(h func(http.ResponseWriter, *http.Request, *session)) func(http.ResponseWriter, *http.Request, *session) {
	return func(w http.ResponseWriter, r *http.Request, ss *session) {
		s.sentOnce(w, r, func(err error) { s.fail(w, r, ss, err) }, func(w http.ResponseWriter) { h(w, r, ss) })
	}
}

// onceInOrg is inOrg's handler h guarded by sentOnce.
func (s *server) onceInOrg(h func(http.ResponseWriter, *http.Request, *session, *authority.Access)) func(http.ResponseWriter, *http.Request, *session, *authority.Access) {
	return func(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access) {
		s.sentOnce(w, r, func(err error) { s.failIn(w, r, ss, acc, err) }, func(w http.ResponseWriter) { h(w, r, ss, acc) })
	}
}
