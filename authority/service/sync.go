package service

import (
	"net/http"
	"time"

	"github.com/airlock-dev/airlock/authority/internal/ratelimit"
	"github.com/airlock-dev/airlock/codes/api"
)

// syncSlots bounds the sync files read at once in this process: each may
// take api.MaxSyncBody bytes, and a vendor has a few satellites that sync
// once an hour or so.
var syncSlots = make(chan struct{}, 2)

// sync answers api.PathSync: a satellite's sync request in, the vendor's
// sync answer out (authority.Ledger.AnswerSync). The request carries no
// instance headers: its own signature, with the key the vendor registered
// for the satellite, authenticates it, and its sequence number makes it
// answer once. Requests are limited per client address, as registrations
// are.
func (s *Service) sync(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if err := checkPost(w, r); err != nil {
		s.fail(w, r, start, err)
		return
	}
	if ok, retry := s.perAddr.Allow(ratelimit.ClientAddr(r), s.opts.Now()); !ok {
		s.fail(w, r, start, rateLimited(retry, "too many requests from this address"))
		return
	}
	select {
	case syncSlots <- struct{}{}:
		defer func() { <-syncSlots }()
	default:
		s.fail(w, r, start, &apiError{http.StatusServiceUnavailable, api.CodeUnavailable, "the service is reading other sync files: try again in a moment", nil, 5})
		return
	}
	body, release, err := s.slotBody(w, r, api.MaxSyncBody)
	if err != nil {
		s.fail(w, r, start, err)
		return
	}
	defer release()
	var req api.SyncFile
	if err := decodeStrict(body, &req); err != nil {
		s.fail(w, r, start, err)
		return
	}
	if len(req.Code) == 0 {
		s.fail(w, r, start, badRequest("the body has no sync request: want {\"code\": BASE64}"))
		return
	}
	out, err := s.l.AnswerSync(r.Context(), req.Code)
	if err != nil {
		s.fail(w, r, start, err)
		return
	}
	s.answer(w, r, start, http.StatusOK, api.SyncFile{Code: out.Code})
}
