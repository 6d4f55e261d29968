package instance

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/codes/api"
)

// FuzzDecodeAnswer feeds the client's decoder hostile answers of the
// service: it never panics, every error is ErrBadAnswer or a
// *ServiceError (ErrService), an accepted answer keeps within its
// bounds, and the text kept of it holds no control character.
func FuzzDecodeAnswer(f *testing.F) {
	ok, _ := json.Marshal(api.Authorized{Registration: api.Registration{Account: "acme/plant", ExpiresAt: 1}, Authorization: []byte{1, 2, 3},
		Shortfall: []api.Line{{Tag: "a", Count: 1}}, Borrowed: []api.Borrowed{{Tag: "a", From: "b", Count: 1}}, Refused: []api.Refusal{{Tag: "c", Reason: "no"}}})
	errBody, _ := json.Marshal(api.Error{Code: api.CodeRefused, Message: "refused\x1b[2J"})
	f.Add(200, api.ContentType, "", ok)
	f.Add(200, api.ContentType+"; charset=utf-8", "", []byte(`{"message":"done"}`))
	f.Add(403, api.ContentType, "", errBody)
	f.Add(429, api.ContentType, "30", errBody)
	f.Add(200, "text/html", "", []byte(`<html>`))
	f.Add(200, api.ContentType, "", []byte(`{"authorization":"AAAA"} {}`))
	f.Add(500, "", "x", []byte{0xff, 0xfe})
	f.Fuzz(func(t *testing.T, status int, contentType, retryAfter string, body []byte) {
		var a authorizedAnswer
		err := decodeAnswer("https://svc.example", status, contentType, retryAfter, body, &a)
		var se *ServiceError
		switch {
		case err == nil:
			if status < 200 || status > 299 {
				t.Fatalf("status %d accepted", status)
			}
			if len(a.Authorization) > codes.MaxCodeSize || len(a.Registration.Account) > maxAccount || len(a.Refused) > codes.MaxLines {
				t.Fatalf("out of bounds: %+v", a)
			}
			for _, r := range a.Refused {
				if strings.ContainsAny(r.Reason, "\x00\x1b\n\r") {
					t.Fatalf("reason %q keeps control characters", r.Reason)
				}
			}
		case errors.As(err, &se):
			if !errors.Is(err, ErrService) || strings.ContainsAny(se.Message+se.Code, "\x00\x1b\n\r") || se.RetryAfter < 0 {
				t.Fatalf("service error %+v", se)
			}
		case !errors.Is(err, ErrBadAnswer):
			t.Fatalf("error %v is not ErrBadAnswer", err)
		}
		var d doneAnswer
		if err := decodeAnswer("https://svc.example", status, contentType, retryAfter, body, &d); err == nil && strings.ContainsAny(d.Message, "\x00\x1b\n\r") {
			t.Fatalf("message %q keeps control characters", d.Message)
		}
	})
}
