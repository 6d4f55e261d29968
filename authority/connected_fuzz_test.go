package authority_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/codes/api"
)

// FuzzConnectedRequests sends hostile requests to the connected-mode
// ledger calls, in the name of a registered instance: headers, MAC, path
// and body all from the fuzzer. Every refusal is one of the sentinels and
// changes nothing (the history is as it was); nothing the fuzzer makes
// without the instance's key is accepted.
func FuzzConnectedRequests(f *testing.F) {
	e := newEnv(f)
	e.setup()
	d := e.cdev("fuzzed")
	a, err := d.register(e.token("acme/plant", true, 0), false, lic(camera, 2))
	e.must(err)
	d.take(a)
	r := api.RenewRequest{Wanted: []codes.License{lic(camera, 3)}, Installed: 1}
	for _, path := range []string{api.PathRenewAuthorization, api.PathRenewRegistration, api.PathConfirm, api.PathUsage, api.PathDeregister, api.PathExport} {
		c := d.callerSeq(1000, path, r)
		f.Add(c.Signed.UDI, c.Signed.KeyID[:], c.Signed.Seq, c.MAC, path, c.Body)
	}
	conf := d.device.confirm(d.res, 1)
	c := d.callerSeq(1000, api.PathConfirm, api.CodeRequest{Code: conf})
	f.Add(c.Signed.UDI, c.Signed.KeyID[:], c.Signed.Seq, c.MAC, api.PathConfirm, conf)
	f.Add("P:VMS,S:x", []byte{}, uint64(0), []byte{}, "", []byte(`{"wanted":[{"tag":"","count":4294967295}]}`))
	sentinels := []error{authority.ErrUnauthenticated, authority.ErrReplayedRequest, authority.ErrNotConnected, authority.ErrInvalid,
		authority.ErrNotFound, authority.ErrUnavailable, authority.ErrExportRefused, codes.ErrMalformed, codes.ErrInvalid, codes.ErrWrongKind,
		codes.ErrBadSignature, codes.ErrAlgorithm, codes.ErrWeakKey}
	history := func(t *testing.T) int64 {
		m, err := e.l.Meta(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return m.HistoryCount
	}
	f.Fuzz(func(t *testing.T, udi string, key []byte, seq uint64, mac []byte, path string, body []byte) {
		var id codes.KeyID
		copy(id[:], key)
		c := authority.Caller{Signed: api.Signed{UDI: udi, KeyID: id, Seq: seq}, MAC: mac, Method: http.MethodPost, Path: path, Body: body}
		// Only a request MACed with the instance's key (a seed) may pass.
		genuine := udi == d.udi.String() && id == d.auth.ID() && c.Signed.Check(d.macKey, c.Method, c.Path, body, mac)
		accepted := false
		check := func(what string, err error) {
			if err == nil && genuine {
				accepted = true
				return
			}
			if err == nil {
				t.Fatalf("%s: a request the fuzzer made was accepted", what)
			}
			for _, s := range sentinels {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("%s: %v is none of the sentinels", what, err)
		}
		before := history(t)
		var rr api.RenewRequest
		_ = json.Unmarshal(body, &rr)
		_, err := e.l.RenewAuthorization(ctx, c, rr)
		check("renew authorization", err)
		_, err = e.l.RenewRegistration(ctx, c)
		check("renew registration", err)
		_, err = e.l.ConfirmConnected(ctx, c, body)
		check("confirm", err)
		_, err = e.l.ReportUsage(ctx, c, body)
		check("usage", err)
		_, err = e.l.Deregister(ctx, c, body)
		check("deregister", err)
		var xr api.ExportRequest
		_ = json.Unmarshal(body, &xr)
		_, err = e.l.RequestExport(ctx, c, xr)
		check("export", err)
		_, err = e.l.ReturnExport(ctx, c, xr)
		check("export return", err)
		if n := history(t); n != before && !accepted {
			t.Fatalf("refused requests wrote %d history events", n-before)
		}
	})
}
