package api_test

import (
	"bytes"
	"errors"
	"net/http"
	"testing"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/codes/api"
)

func signed() api.Signed {
	return api.Signed{UDI: "P:UCM,S:edb16,U:d9a2c661-8fe1-4ce7-9e6f-bbc68a3edb16", KeyID: codes.KeyID{1, 2, 3, 4, 5, 6, 7, 8}, Seq: 1764670000123}
}

var macKey = bytes.Repeat([]byte{7}, 32)

func headerOf(m map[string]string) http.Header {
	h := http.Header{}
	for k, v := range m {
		h.Set(k, v)
	}
	return h
}

// TestSignedRoundTrip: the headers a request carries parse back to what
// was signed, and the MAC checks.
func TestSignedRoundTrip(t *testing.T) {
	s := signed()
	body := []byte(`{"wanted":[]}`)
	h := headerOf(s.Headers(macKey, http.MethodPost, api.PathRenewAuthorization, body))
	got, mac, err := api.ParseHeaders(h.Get)
	if err != nil {
		t.Fatal(err)
	}
	if got != s {
		t.Fatalf("ParseHeaders = %+v, want %+v", got, s)
	}
	if !got.Check(macKey, http.MethodPost, api.PathRenewAuthorization, body, mac) {
		t.Fatal("the MAC of an unchanged request does not check")
	}
}

// TestMACCoversEverything: changing any signed part, or the key, makes
// the MAC fail.
func TestMACCoversEverything(t *testing.T) {
	s := signed()
	body := []byte(`{"tag":"x","count":1}`)
	mac := s.MAC(macKey, http.MethodPost, api.PathExport, body)
	other := func(f func(*api.Signed)) api.Signed { c := s; f(&c); return c }
	otherKey := bytes.Repeat([]byte{8}, 32)
	cases := map[string]bool{
		"seq":     other(func(c *api.Signed) { c.Seq++ }).Check(macKey, http.MethodPost, api.PathExport, body, mac),
		"udi":     other(func(c *api.Signed) { c.UDI += "x" }).Check(macKey, http.MethodPost, api.PathExport, body, mac),
		"key id":  other(func(c *api.Signed) { c.KeyID[0] ^= 1 }).Check(macKey, http.MethodPost, api.PathExport, body, mac),
		"path":    s.Check(macKey, http.MethodPost, api.PathExportReturn, body, mac),
		"method":  s.Check(macKey, http.MethodPut, api.PathExport, body, mac),
		"body":    s.Check(macKey, http.MethodPost, api.PathExport, []byte(`{"tag":"x","count":2}`), mac),
		"mac key": s.Check(otherKey, http.MethodPost, api.PathExport, body, mac),
	}
	for what, ok := range cases {
		if ok {
			t.Errorf("a request with another %s checks under the original MAC", what)
		}
	}
	if !s.Check(macKey, http.MethodPost, api.PathExport, body, mac) {
		t.Fatal("the unchanged request does not check")
	}
}

// TestParseHeadersRefuses: missing and malformed headers are ErrHeaders
// and name the header.
func TestParseHeadersRefuses(t *testing.T) {
	good := signed().Headers(macKey, http.MethodPost, api.PathUsage, nil)
	with := func(k, v string) http.Header {
		h := headerOf(good)
		if v == "" {
			h.Del(k)
		} else {
			h.Set(k, v)
		}
		return h
	}
	for name, tc := range map[string]struct {
		h    http.Header
		want string
	}{
		"no udi":        {with(api.HeaderUDI, ""), api.HeaderUDI},
		"long udi":      {with(api.HeaderUDI, string(bytes.Repeat([]byte{'a'}, 513))), api.HeaderUDI},
		"no key":        {with(api.HeaderKey, ""), api.HeaderKey},
		"short key":     {with(api.HeaderKey, "0102"), api.HeaderKey},
		"no seq":        {with(api.HeaderSeq, ""), api.HeaderSeq},
		"zero seq":      {with(api.HeaderSeq, "0"), api.HeaderSeq},
		"negative seq":  {with(api.HeaderSeq, "-5"), api.HeaderSeq},
		"huge seq":      {with(api.HeaderSeq, "18446744073709551616"), api.HeaderSeq},
		"no mac":        {with(api.HeaderMAC, ""), api.HeaderMAC},
		"short mac":     {with(api.HeaderMAC, "AAAA"), api.HeaderMAC},
		"mac not b64":   {with(api.HeaderMAC, "!!!!"), api.HeaderMAC},
		"mac with pads": {with(api.HeaderMAC, good[api.HeaderMAC]+"="), api.HeaderMAC},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := api.ParseHeaders(tc.h.Get)
			if !errors.Is(err, api.ErrHeaders) {
				t.Fatalf("err = %v, want ErrHeaders", err)
			}
			if !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
				t.Fatalf("err = %v, does not name %s", err, tc.want)
			}
		})
	}
}

// FuzzParseHeaders: no panic; what parses re-signs into headers that parse
// to the same values.
func FuzzParseHeaders(f *testing.F) {
	g := signed().Headers(macKey, http.MethodPost, api.PathUsage, nil)
	f.Add(g[api.HeaderUDI], g[api.HeaderKey], g[api.HeaderSeq], g[api.HeaderMAC])
	f.Add("", "", "", "")
	f.Add("P:X,S:1", "zz", "1e9", "====")
	f.Fuzz(func(t *testing.T, udi, key, seq, mac string) {
		h := map[string]string{api.HeaderUDI: udi, api.HeaderKey: key, api.HeaderSeq: seq, api.HeaderMAC: mac}
		s, m, err := api.ParseHeaders(func(k string) string { return h[k] })
		if err != nil {
			if !errors.Is(err, api.ErrHeaders) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if len(m) != api.MACSize || s.Seq == 0 {
			t.Fatalf("accepted a %d-byte MAC or seq 0", len(m))
		}
		again, _, err := api.ParseHeaders(headerOf(s.Headers(macKey, "POST", "/", nil)).Get)
		if err != nil || again != s {
			t.Fatalf("re-signed headers parse to %+v, %v; want %+v", again, err, s)
		}
	})
}
