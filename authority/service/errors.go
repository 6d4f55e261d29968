package service

import (
	"context"
	"errors"
	"net/http"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/authority/internal/printable"
	"github.com/airlock-dev/airlock/authority/store"
	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/codes/api"
)

// An apiError is a refusal on its way to the client: the status, the
// api.Error code and message, the cause for the log, and Retry-After in
// seconds (0: none).
type apiError struct {
	status int
	code   string
	msg    string
	err    error
	retry  int
}

func (e *apiError) Error() string { return e.msg }
func (e *apiError) Unwrap() error { return e.err }

// maxMessage bounds the message of an answer: a refusal's words are a
// line or two; a longer one is cut.
const maxMessage = 1024

func badRequest(msg string) *apiError {
	return &apiError{http.StatusBadRequest, api.CodeBadRequest, msg, nil, 0}
}

// busyRetry is the Retry-After of a busy ledger, in seconds: another
// process held the write lock for the store's busy timeout (10 s).
const busyRetry = 5

// classes map the ledger's refusals to answers, the first match winning:
// narrower sentinels come before the general ones they are kinds of.
var classes = []struct {
	sentinel error
	status   int
	code     string
}{
	{authority.ErrUnauthenticated, http.StatusUnauthorized, api.CodeUnauthenticated},
	{codes.ErrBadSignature, http.StatusUnauthorized, api.CodeUnauthenticated},
	{codes.ErrUnknownKey, http.StatusUnauthorized, api.CodeUnauthenticated},
	{authority.ErrKeyUnknown, http.StatusUnauthorized, api.CodeUnauthenticated}, // a token never issued
	{authority.ErrReplayedRequest, http.StatusConflict, api.CodeReplayed},
	{authority.ErrReplay, http.StatusConflict, api.CodeReplayed},
	{authority.ErrNotConnected, http.StatusNotFound, api.CodeNotRegistered},
	{authority.ErrTokenSpent, http.StatusForbidden, api.CodeTokenSpent},
	{authority.ErrExportRefused, http.StatusForbidden, api.CodeRefused},
	{authority.ErrDenied, http.StatusForbidden, api.CodeRefused},
	{authority.ErrUnavailable, http.StatusForbidden, api.CodeRefused},
	{authority.ErrRemovalLimit, http.StatusForbidden, api.CodeRefused},
	{authority.ErrCrossOrg, http.StatusForbidden, api.CodeRefused},
	{authority.ErrNotFound, http.StatusForbidden, api.CodeRefused},
	{authority.ErrKeyMismatch, http.StatusConflict, api.CodeConflict},
	{authority.ErrExists, http.StatusConflict, api.CodeConflict},
	{authority.ErrActive, http.StatusConflict, api.CodeConflict},
	{authority.ErrClosed, http.StatusConflict, api.CodeConflict},
	{authority.ErrStale, http.StatusConflict, api.CodeConflict},
	{authority.ErrKeyMalformed, http.StatusBadRequest, api.CodeBadRequest}, // a token that is no token
	{authority.ErrKeyTypo, http.StatusBadRequest, api.CodeBadRequest},
	{authority.ErrInvalid, http.StatusBadRequest, api.CodeBadRequest},
	{codes.ErrMalformed, http.StatusBadRequest, api.CodeBadRequest},
	{codes.ErrWrongKind, http.StatusBadRequest, api.CodeBadRequest},
	{codes.ErrAlgorithm, http.StatusBadRequest, api.CodeBadRequest},
	{codes.ErrWeakKey, http.StatusBadRequest, api.CodeBadRequest},
	{codes.ErrInvalid, http.StatusBadRequest, api.CodeBadRequest},
	{codes.ErrWrongInstance, http.StatusBadRequest, api.CodeBadRequest},
	{codes.ErrTypo, http.StatusBadRequest, api.CodeBadRequest},
	{api.ErrHeaders, http.StatusBadRequest, api.CodeBadRequest},
}

// classify maps an error to its answer. What it does not know is a failure
// of the authority: 500, and the detail stays in the log.
func classify(err error) *apiError {
	var e *apiError
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, authority.ErrBusy):
		return &apiError{http.StatusServiceUnavailable, api.CodeUnavailable, "the ledger is busy: try again in a moment", err, busyRetry}
	case errors.Is(err, store.ErrUnreachable):
		// The ledger's database is down: the operator's to fix; the
		// instance comes back later.
		return &apiError{http.StatusServiceUnavailable, api.CodeUnavailable, "the ledger's database cannot be reached: try again later", err, 60}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &apiError{http.StatusServiceUnavailable, api.CodeUnavailable, "the request was cancelled", err, 0}
	case errors.Is(err, authority.ErrNoKey), errors.Is(err, authority.ErrClock):
		// The operator's to fix, not the instance's: say when to come back,
		// not why.
		return &apiError{http.StatusServiceUnavailable, api.CodeUnavailable, "the authority cannot sign now: try again later", err, 3600}
	}
	for _, c := range classes {
		if errors.Is(err, c.sentinel) {
			return &apiError{c.status, c.code, message(err), err, 0}
		}
	}
	return &apiError{http.StatusInternalServerError, api.CodeInternal, "internal error", err, 0}
}

// message is the words of a refusal for the client: one line, printable,
// at most maxMessage bytes.
func message(err error) string {
	return clean(err.Error())
}

// clean makes s one printable line of at most maxMessage bytes.
func clean(s string) string { return printable.Line(s, maxMessage) }
