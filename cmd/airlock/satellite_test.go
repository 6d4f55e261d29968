package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/authority/service"
	"github.com/airlock-dev/airlock/authority/store"
	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/codes/api"
)

// vendorService serves the desk in dir over HTTPS on 127.0.0.1 with a
// fresh self-signed certificate, and returns its URL and the
// certificate's file.
func vendorService(t *testing.T, dir, identity string) (string, string) {
	t.Helper()
	idb, err := os.ReadFile(identity)
	if err != nil {
		t.Fatal(err)
	}
	id, err := age.ParseX25519Identity(strings.TrimSpace(string(idb)))
	if err != nil {
		t.Fatal(err)
	}
	kb, err := os.ReadFile(filepath.Join(dir, authority.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	key, err := codes.OpenAuthorityKey(kb, id)
	if err != nil {
		t.Fatal(err)
	}
	l, closer, err := store.OpenLedger(dir, false, authority.Options{Keys: []*codes.AuthorityKey{key}, Actor: "service"})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := service.GenerateCertificate(rand.Reader, "desk", []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	certFile := filepath.Join(t.TempDir(), "vendor-tls.crt")
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	svc := service.New(l, service.Options{})
	served := make(chan error, 1)
	go func() { served <- svc.ServeTLS(ln, service.TLSConfig(cert)) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		svc.Shutdown(ctx)
		if err := <-served; err != nil {
			t.Errorf("serving: %v", err)
		}
		closer.Close()
	})
	return "https://" + ln.Addr().String(), certFile
}

// newSatellite makes the satellite plant-sat of the desk newDesk made, its
// key encrypted to the same identity, and registers it with acme/plant.
func newSatellite(t *testing.T, dir, identity string) string {
	t.Helper()
	idb, err := os.ReadFile(identity)
	if err != nil {
		t.Fatal(err)
	}
	id, err := age.ParseX25519Identity(strings.TrimSpace(string(idb)))
	if err != nil {
		t.Fatal(err)
	}
	sat := filepath.Join(dir, "sat")
	for _, args := range [][]string{
		{"satellite", "init", "--dir", sat, "--name", "plant-sat", "--vendor-trust", filepath.Join(dir, "desk", authority.TrustFile), "--recipient", id.Recipient().String()},
		{"authority", "satellite", "add", "--trust", filepath.Join(sat, authority.TrustFile), "--account", "acme/plant", "plant-sat"},
	} {
		if code, _, stderr := runApp(t, "", args...); code != 0 {
			t.Fatalf("%v: %s", args, stderr)
		}
	}
	return sat
}

func wantRun(t *testing.T, wantCode int, args ...string) (string, string) {
	t.Helper()
	code, stdout, stderr := runApp(t, "", args...)
	if code != wantCode {
		t.Fatalf("%v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, wantCode, stdout, stderr)
	}
	return stdout, stderr
}

// TestSatelliteSyncsOverHTTPS: the vendor's service on 127.0.0.1 answers a
// satellite's syncs (airlock satellite sync --vendor); licenses added at
// the vendor reach the satellite; an answer lost on the way (the wrong
// CA here) costs nothing but a new request; a removed satellite is
// refused; both ledgers verify.
func TestSatelliteSyncsOverHTTPS(t *testing.T) {
	dir, identity, _ := newDesk(t)
	sat := newSatellite(t, dir, identity)
	url, ca := vendorService(t, filepath.Join(dir, "desk"), identity)
	sync := []string{"satellite", "sync", "--dir", sat, "--identity", identity, "--vendor", url, "--vendor-ca", ca}

	_, stderr := wantRun(t, 0, sync...)
	if !strings.Contains(stderr, "airlock: sync request 1 sent to "+url+"\n") ||
		!strings.Contains(stderr, `airlock: imported the answer to sync request 1 from "desk": 1 account, 1 lot, 0 changed`) {
		t.Fatalf("sync 1: %s", stderr)
	}
	stdout, _ := wantRun(t, 0, "authority", "licenses", "--dir", sat)
	if !strings.Contains(stdout, "acme/plant  vms.camera.core      5          5") {
		t.Fatalf("licenses after sync 1:\n%s", stdout)
	}

	// The desk works beside the service: 3 more, which the next sync brings.
	wantRun(t, 0, "authority", "lot", "add", "--account", "acme/plant", "--tag", "vms.camera.core", "--count", "3")
	_, stderr = wantRun(t, 0, sync...)
	if !strings.Contains(stderr, `sync request 2 from "desk": 1 account, 2 lots`) {
		t.Fatalf("sync 2: %s", stderr)
	}
	stdout, _ = wantRun(t, 0, "authority", "licenses", "--dir", sat)
	if !strings.Contains(stdout, "acme/plant  vms.camera.core      8          8") {
		t.Fatalf("licenses after sync 2:\n%s", stdout)
	}

	// A vendor whose certificate is not the one pinned is not talked to.
	_, otherCA := vendorService(t, filepath.Join(dir, "desk"), identity)
	_, stderr = wantRun(t, 1, "satellite", "sync", "--dir", sat, "--identity", identity, "--vendor", url, "--vendor-ca", otherCA)
	if !strings.Contains(stderr, "airlock: error: sync with the vendor failed: "+url+": ") || !strings.Contains(stderr, "certificate") {
		t.Fatalf("wrong CA: %s", stderr)
	}
	// The request it recorded is superseded by the next.
	_, stderr = wantRun(t, 0, sync...)
	if !strings.Contains(stderr, "sync request 4 sent to") {
		t.Fatalf("sync after a failed one: %s", stderr)
	}

	// Hostile bodies on the sync path: garbage, a request of nobody.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool(t, ca)}}}
	for _, c := range []struct {
		body   string
		status int
		code   string
	}{
		{`not json`, http.StatusBadRequest, api.CodeBadRequest},
		{`{"code": "AAAA", "extra": 1}`, http.StatusBadRequest, api.CodeBadRequest},
		{`{"code": ""}`, http.StatusBadRequest, api.CodeBadRequest},
		{`{"code": "hKBAQA=="}`, http.StatusBadRequest, api.CodeBadRequest},
	} {
		resp, err := client.Post(url+api.PathSync, api.ContentType, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		var e api.Error
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != c.status || e.Code != c.code {
			t.Errorf("%s: %d %s %q, want %d %s", c.body, resp.StatusCode, e.Code, e.Message, c.status, c.code)
		}
	}
	big := bytes.Repeat([]byte("A"), api.MaxSyncBody+1)
	resp, err := client.Post(url+api.PathSync, api.ContentType, bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a body of %d bytes: %d", len(big), resp.StatusCode)
	}

	// A removed satellite's syncs are refused, and change nothing.
	wantRun(t, 0, "authority", "satellite", "remove", "plant-sat")
	_, stderr = wantRun(t, 1, sync...)
	if !strings.Contains(stderr, "refused the sync request (403 refused): not found: the sync request names satellite \"plant-sat\", which is not registered here") ||
		!strings.Contains(stderr, "airlock: hint: have the vendor register this satellite") {
		t.Fatalf("removed satellite: %s", stderr)
	}
	stdout, _ = wantRun(t, 0, "authority", "licenses", "--dir", sat)
	if !strings.Contains(stdout, "acme/plant  vms.camera.core      8          8") {
		t.Fatalf("licenses after a refused sync:\n%s", stdout)
	}
	wantRun(t, 0, "authority", "verify")
	wantRun(t, 0, "authority", "verify", "--dir", sat)
}

func pool(t *testing.T, certFile string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		t.Fatal("no certificate")
	}
	return p
}

// TestSatelliteCommandLine: what the satellite commands refuse before
// they touch a ledger, and on a folder that is no satellite.
func TestSatelliteCommandLine(t *testing.T) {
	dir, identity, _ := newDesk(t)
	desk := filepath.Join(dir, "desk")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"satellite", "init", "--dir", "s1", "--vendor-trust", "desk/trust.airlock"}, 2, `satellite name must have 1 to 64 characters`},
		{[]string{"satellite", "init", "--dir", "s1", "--name", "s1"}, 2, `missing --vendor-trust`},
		{[]string{"satellite", "init", "--dir", "s1", "--name", "s1", "--vendor-trust", "nowhere.airlock"}, 1, `no such file`},
		{[]string{"satellite", "sync", "--dir", desk}, 2, `missing --vendor URL`},
		{[]string{"satellite", "sync", "--dir", desk, "--vendor", "http://example.com"}, 2, `speaks HTTPS`},
		{[]string{"satellite", "sync", "--dir", desk, "--vendor", "https://example.com/v1"}, 2, `no user, path or query`},
		{[]string{"satellite", "sync", "--dir", desk, "bogus"}, 2, `unknown command "bogus"`},
		{[]string{"satellite", "status", "--dir", desk}, 1, `ledger is not a satellite`},
		{[]string{"satellite", "sync", "export", "--dir", desk, "--identity", identity}, 1, `ledger is not a satellite`},
		{[]string{"satellite", "serve", "--dir", desk, "--listen", "127.0.0.1:0", "--sync-interval", "1s", "--vendor", "https://example.com"}, 2, `--sync-interval 1s is not from 1m0s to 720h0m0s`},
		{[]string{"satellite", "serve", "--dir", desk, "--listen", "127.0.0.1:0", "--vendor-ca", "x.crt"}, 2, `go with --vendor`},
		{[]string{"authority", "satellite", "add", "plant-sat"}, 2, `missing --trust`},
		{[]string{"authority", "satellite", "add", "--trust", "desk/trust.airlock", "--account", "acme/plant", "plant-sat"}, 1, `which is this authority's own`},
		{[]string{"authority", "satellite", "show", "nobody"}, 1, `no satellite "nobody" is registered`},
		{[]string{"authority", "sync", "answer", "--identity", identity, "desk/trust.airlock"}, 1, `wrong code kind: got a trust update code, want a sync request code`},
	} {
		code, _, stderr := runApp(t, "", c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, %q; want exit %d and %q", c.args, code, stderr, c.code, c.want)
		}
	}
	if _, err := os.Stat("s1"); err == nil {
		t.Error("a refused init left its folder behind")
	}
}
