package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/authority/internal/printable"
	"github.com/airlock-dev/airlock/authority/store"
	"github.com/airlock-dev/airlock/codes"
)

// A pageError is a refusal on its way to the browser: the status, a
// title, the message (the refusal's own words, or the portal's), and what
// to do next.
type pageError struct {
	status int
	title  string
	msg    string
	hint   string
	err    error // the cause, for Options.Log
}

func (e *pageError) Error() string { return e.msg }

// Hint says what to do next, for the template.
func (e *pageError) Hint() string  { return e.hint }
func (e *pageError) Unwrap() error { return e.err }

// tooLarge is the refusal of a body over the bound ServeHTTP set for it,
// in the words of that bound (see carriesFiles): MaxUpload for forms
// that take code or trust files, maxForm for the others, which take
// typed fields only.
func tooLarge(limit int64) *pageError {
	size := fmt.Sprintf("%d bytes", limit)
	switch {
	case limit >= 1<<20 && limit%(1<<20) == 0:
		size = fmt.Sprintf("%d MiB", limit>>20)
	case limit >= 1<<10 && limit%(1<<10) == 0:
		size = fmt.Sprintf("%d KiB", limit>>10)
	}
	hint := "A request code file is a few kilobytes: check that you chose the right file."
	if limit < MaxUpload {
		hint = "No field of this form takes that much: check what was pasted into it."
	}
	return &pageError{status: http.StatusRequestEntityTooLarge, title: "Too large",
		msg: "The form or file is larger than " + size + ", so it was not read.", hint: hint}
}

// formError maps an error of reading a form.
func formError(err error) error {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return tooLarge(mb.Limit)
	}
	return &pageError{status: http.StatusBadRequest, title: "Bad form", msg: "The form could not be read.", err: err}
}

// refusals map the library's sentinels to pages, the first match
// winning: narrower sentinels come before the general ones they are
// kinds of. The message is the refusal's own (it names what was refused
// and why, as the command line prints it); the hint is the portal's.
var refusals = []struct {
	sentinel error
	status   int
	title    string
	hint     string
}{
	{codes.ErrEncrypted, http.StatusBadRequest, "Encrypted file", "The portal does not open files encrypted with age: paste the typed code, or upload the armored file the instance wrote before it was encrypted."},
	{codes.ErrBadSignature, http.StatusBadRequest, "Not for this authority", "The code was made for another authority key: give the instance this authority's trust file, then make a new code."},
	{codes.ErrUnknownKey, http.StatusBadRequest, "Key not trusted", "The file was signed by a key this desk does not trust: check that it comes from the right authority or satellite."},
	{codes.ErrKeyWindow, http.StatusBadRequest, "Key not valid then", "The file was signed by a key outside its validity: have it made again with the current key."},
	{codes.ErrTypo, http.StatusBadRequest, "Typo in the code", "Check the group named above against the original and type it again."},
	{codes.ErrWrongKind, http.StatusBadRequest, "Wrong kind of code", "Each code starts with two letters that say its kind: check that you pasted the right one."},
	{codes.ErrMalformed, http.StatusBadRequest, "Not a code", "Paste the whole code as the instance printed it, or upload the file it wrote."},
	{codes.ErrAlgorithm, http.StatusBadRequest, "Not a code", "Paste the whole code as the instance printed it, or upload the file it wrote."},
	{codes.ErrWeakKey, http.StatusBadRequest, "Refused code", "The instance's key is not acceptable: reinstall the instance's licensing state."},
	{codes.ErrInvalid, http.StatusBadRequest, "Refused code", ""},
	{codes.ErrWrongInstance, http.StatusBadRequest, "Refused code", ""},
	{authority.ErrKeyTypo, http.StatusBadRequest, "Typo in the license key", "Check the group named above against the key you were given and type it again."},
	{authority.ErrKeyMalformed, http.StatusBadRequest, "Not a license key", "A license key looks like LK-XXXXXXXXX-XXXXXXXXX-XXXXXXXXX: copy it again from where it came."},
	{authority.ErrKeyUnknown, http.StatusNotFound, "Unknown license key", "A key redeems only at the authority that issued it: check the key with whoever sold it."},
	{authority.ErrKeyRedeemed, http.StatusConflict, "License key already redeemed", "A license key is redeemed once: the Wallet page shows what it brought."},
	{authority.ErrKeySoftware, http.StatusConflict, "Key for another software", "Redeem it into a product of the key's software: the Wallet page lists each product with its software."},
	{authority.ErrRemovalLimit, http.StatusConflict, "Removal limit reached", "The account allows only so many removals without a return in 365 days: have the instance return its reservation, or ask the vendor's support to raise the account's limit."},
	{authority.ErrCrossOrg, http.StatusConflict, "Across organizations", "Licenses never move between organizations: transfer between accounts of one organization."},
	{authority.ErrDenied, http.StatusForbidden, "Not allowed", "Ask an administrator of the organization, or the vendor's support, for the role this needs."},
	// Kinds of "not enough licenses" that are no account's: their own
	// words, not the accounts' (whose hint sends to the licenses page).
	{authority.ErrWalletShort, http.StatusConflict, "Not enough in the wallet", "The Wallet page shows what each product's wallet holds: redeem a license key into it first, or allocate fewer."},
	{authority.ErrExtensionShort, http.StatusConflict, "Not enough extension licenses", "Redeem an extension key into the product's wallet first, or extend by fewer."},
	{authority.ErrNothingToDeliver, http.StatusConflict, "Nothing to deliver", "Start the product's subscription and allocate licenses to its current year on the Subscriptions page, then deliver again."},
	{authority.ErrUpgradeShort, http.StatusConflict, "Not enough to upgrade", "Convert fewer licenses: the notification and the organization's registered keys have only so many left."},
	{authority.ErrAgreementCap, http.StatusConflict, "Over the agreement's cap", "Draw at most what the agreement has left of the tag; the vendor makes a new agreement for more."},
	{authority.ErrUnavailable, http.StatusConflict, "Not enough licenses", "The licenses page shows what each account has available: transfer licenses or buy more first."},
	{authority.ErrKeyMismatch, http.StatusConflict, "Another instance key", "If the instance was rebuilt, the vendor's support removes the old one first; then reserve again."},
	{authority.ErrActive, http.StatusConflict, "Already reserved", "Change the reservation with an update, or have the instance return it first."},
	{authority.ErrReplay, http.StatusConflict, "Request used before", "Have the instance make a new request code."},
	{authority.ErrClosed, http.StatusConflict, "Reservation closed", "The reservation is closed: nothing is left to do with this code."},
	{authority.ErrStale, http.StatusConflict, "Older code", "This code comes from an older state of the instance: ask for its current code."},
	{authority.ErrExists, http.StatusConflict, "Already there", ""},
	{authority.ErrNotFound, http.StatusNotFound, "Not found", ""},
	{authority.ErrInvalid, http.StatusBadRequest, "Not accepted", ""},
}

// classify maps an error to its page. What it does not know is a failure
// of the authority: 500, and the detail goes to the log only.
func classify(err error) *pageError {
	var pe *pageError
	if errors.As(err, &pe) {
		return pe
	}
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &mb):
		return tooLarge(mb.Limit)
	case errors.Is(err, authority.ErrNoKey), errors.Is(err, authority.ErrClock):
		// The operator's to fix: say so, not why.
		return &pageError{http.StatusServiceUnavailable, "Cannot sign now", "The licensing desk cannot sign codes at the moment.", "Tell the vendor's support; nothing was reserved.", err}
	case errors.Is(err, authority.ErrBusy):
		return &pageError{http.StatusServiceUnavailable, "Busy", "The ledger is busy.", "Try again in a moment.", err}
	case errors.Is(err, store.ErrUnreachable):
		return &pageError{http.StatusServiceUnavailable, "Unavailable", "The ledger's database cannot be reached.", "Try again later.", err}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &pageError{http.StatusServiceUnavailable, "Cancelled", "The request was cancelled.", "Try again.", err}
	}
	for _, c := range refusals {
		if errors.Is(err, c.sentinel) {
			// The sentinel's words ("invalid argument: …") are the
			// command line's; the page's title says them in its own.
			msg := strings.TrimPrefix(withoutTitle(clean(err.Error()), c.title), c.sentinel.Error()+": ")
			if general := errors.Unwrap(c.sentinel); general != nil {
				// A kind of a general sentinel says the general words
				// first: the page's title says its own instead.
				msg = strings.TrimPrefix(msg, general.Error()+": ")
			}
			return &pageError{c.status, c.title, msg, c.hint, err}
		}
	}
	return &pageError{http.StatusInternalServerError, "Internal error", "Something failed inside the licensing desk.", "Nothing was shown that should not be; tell the vendor's support the time this happened.", err}
}

// withoutTitle drops the words of the title from the start of msg, where
// the refusal's sentinel put them ("not found: …" under "Not found"): the
// page says them once, as its heading.
func withoutTitle(msg, title string) string {
	prefix := strings.ToLower(title) + ": "
	if len(msg) > len(prefix) && strings.ToLower(msg[:len(prefix)]) == prefix {
		return msg[len(prefix):]
	}
	return msg
}

// maxMessage bounds a refusal's words on a page.
const maxMessage = 1024

// clean makes s one printable line of at most maxMessage bytes.
func clean(s string) string { return printable.Line(s, maxMessage) }

// fail answers a request with the page of err. ss and acc, when known,
// keep the header and the organization's banner on the page.
func (s *server) fail(w http.ResponseWriter, r *http.Request, ss *session, err error) {
	s.failIn(w, r, ss, nil, err)
}

func (s *server) failIn(w http.ResponseWriter, r *http.Request, ss *session, acc *authority.Access, err error) {
	pe := classify(err)
	if pe.status >= 500 && s.opts.Log != nil {
		s.opts.Log(r, err)
	}
	p := &page{Title: pe.title, Access: acc, Error: pe}
	if ss != nil {
		p.Person, p.CSRF = ss.person, ss.csrf()
	}
	s.render(w, r, pe.status, "error.html", p)
}

// render writes page name, whole or not at all: a template that fails
// halfway answers 500 rather than half a page.
func (s *server) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	t := s.pages[name]
	var buf bytes.Buffer
	if t == nil {
		panic("web: no page " + name)
	}
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		if s.opts.Log != nil {
			s.opts.Log(r, err)
		}
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
