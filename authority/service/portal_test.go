package service_test

import (
	"net/http"
	"testing"

	"github.com/airlock-dev/airlock/authority/service"
)

// TestPortalAnswersWhatIsNotTheAPI: with Options.Portal, paths outside
// /v1/ go to the portal and the API's paths stay the API's; without it,
// they are the API's 404.
func TestPortalAnswersWhatIsNotTheAPI(t *testing.T) {
	portal := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Portal", "yes")
		w.WriteHeader(http.StatusTeapot)
	})
	e := newEnv(t, func(o *service.Options) { o.Portal = portal })
	for _, c := range []struct {
		path   string
		portal bool
	}{
		{"/", true},
		{"/signin", true},
		{"/orgs/acme/licenses", true},
		{"/v1", true}, // not under /v1/
		{"/v1/health", false},
		{"/v1/nothing", false},
	} {
		a := e.send(http.MethodGet, c.path, nil, nil)
		if got := a.header.Get("X-Portal") == "yes"; got != c.portal {
			t.Errorf("%s: answered by the portal %v, want %v (status %d)", c.path, got, c.portal, a.status)
		}
		if c.portal && a.header.Get("Cache-Control") != "" {
			t.Errorf("%s: the API's Cache-Control on a portal answer", c.path)
		}
	}
	plain := newEnv(t)
	if a := plain.send(http.MethodGet, "/signin", nil, nil); a.status != http.StatusNotFound {
		t.Errorf("without a portal /signin answered %d", a.status)
	}
}
