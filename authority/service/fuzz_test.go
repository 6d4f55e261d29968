package service_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/authority/service"
	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/codes/api"
)

// fuzzPaths are the paths FuzzServiceRequest picks from.
var fuzzPaths = []string{
	api.PathHealth, api.PathRegister, api.PathRenewAuthorization, api.PathRenewRegistration,
	api.PathConfirm, api.PathUsage, api.PathDeregister, api.PathExport, api.PathExportReturn,
	api.PathSync, "/", "/v1/",
}

// knownCodes are the api.Error codes the service may answer.
var knownCodes = map[string]bool{
	api.CodeBadRequest: true, api.CodeUnauthenticated: true, api.CodeReplayed: true,
	api.CodeNotRegistered: true, api.CodeTokenSpent: true, api.CodeRefused: true,
	api.CodeConflict: true, api.CodeTooLarge: true, api.CodeRateLimited: true,
	api.CodeUnavailable: true, api.CodeNotFound: true, api.CodeMethod: true,
}

// FuzzServiceRequest sends random methods, headers and bodies to every
// route: the service never panics, never answers 500, and every refusal
// is an api.Error with a known code.
func FuzzServiceRequest(f *testing.F) {
	e := newEnv(f, func(o *service.Options) {
		o.Rate, o.Burst, o.RegisterRate, o.RegisterBurst = 1e9, 1<<30, 1e9, 1<<30
		o.Log = nil
	})
	stranger := e.instance("fuzz")
	seed := func(path, body string) {
		h := stranger.headers(http.MethodPost, path, []byte(body))
		f.Add(uint8(0), http.MethodPost, path, h[api.HeaderUDI], h[api.HeaderKey], h[api.HeaderSeq], h[api.HeaderMAC], api.ContentType, []byte(body))
	}
	for _, r := range routeBodies(stranger, nil) {
		seed(r.path, r.body)
	}
	reg := must(json.Marshal(api.RegisterRequest{Token: "TK-000000000-000000000-000000000", Request: stranger.requestCode(codes.License{Tag: camera, Count: 1})}))
	seed(api.PathRegister, string(reg))
	f.Add(uint8(0), http.MethodGet, api.PathHealth, "", "", "", "", "", []byte(nil))
	f.Add(uint8(3), http.MethodPost, "", "P:X,S:1", "0000000000000000", "1", strings.Repeat("A", 43), "application/json; charset=utf-8", []byte(`{"wanted":[{"Tag":"a","Count":1}],"wanted":[]}`))
	f.Fuzz(func(t *testing.T, pick uint8, method, path, udi, key, seq, mac, ct string, body []byte) {
		if path == "" || path[0] != '/' {
			path = fuzzPaths[int(pick)%len(fuzzPaths)]
		}
		req := httptest.NewRequest(http.MethodGet, "https://127.0.0.1/", strings.NewReader(string(body)))
		req.Method = method
		req.URL.Path = path
		for k, v := range map[string]string{api.HeaderUDI: udi, api.HeaderKey: key, api.HeaderSeq: seq, api.HeaderMAC: mac, "Content-Type": ct} {
			req.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		e.svc.ServeHTTP(w, req)
		if w.Code == http.StatusInternalServerError {
			t.Fatalf("500 for %s %q: %s", method, path, w.Body)
		}
		if w.Code < 300 {
			return
		}
		var ae api.Error
		dec := json.NewDecoder(w.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ae); err != nil || !knownCodes[ae.Code] || ae.Message == "" {
			t.Fatalf("%d for %s %q: not an api.Error with a known code: %v %+v", w.Code, method, path, err, ae)
		}
	})
}
