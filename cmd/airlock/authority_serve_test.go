package main

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/authority/service"
	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/codes/api"
)

// TestServeScripts runs testdata/serve: authority serve in the
// background, instances over HTTPS pinned to its certificate, the CLI on
// the same ledger meanwhile, SIGINT to stop it. Besides the commands of
// TestScripts, the scripts get:
//
//	waitfile FILE                          wait (30 s at most) for FILE to hold a line
//	apiget ADDRFILE CERT PATH              GET https://ADDR/PATH trusting only CERT; prints the body
//	connected ADDRFILE CERT TRUST STATE register TOKENFILE [TAG=N...]
//	connected ADDRFILE CERT TRUST STATE renew|renew-registration|replay [TAG=N...]
//
// connected plays an instance in connected mode whose key, UDI and last
// sequence number live in the file STATE; replay sends its last request
// again. It prints the status, and the account and the authorization's
// serial and entitlements, or the api.Error code.
func TestServeScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/serve",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"mkcodes":   cmdMkcodes,
			"waitfile":  cmdWaitfile,
			"apiget":    cmdAPIGet,
			"connected": cmdConnected,
		},
	})
}

func cmdWaitfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitfile FILE")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(ts.MkAbs(args[0]))
		if err == nil && bytes.HasSuffix(b, []byte("\n")) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s: nothing after 30 s", args[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pinnedClient trusts only the certificate in certFile.
func pinnedClient(ts *testscript.TestScript, certFile string) *http.Client {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(ts.ReadFile(certFile))) {
		ts.Fatalf("%s holds no certificate", certFile)
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

func serviceURL(ts *testscript.TestScript, addrFile string) string {
	return "https://" + strings.TrimSpace(ts.ReadFile(addrFile))
}

func cmdAPIGet(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: apiget ADDRFILE CERT PATH")
	}
	resp, err := pinnedClient(ts, args[1]).Get(serviceURL(ts, args[0]) + args[2])
	if err != nil {
		if neg {
			fmt.Fprintln(ts.Stderr(), err)
			return
		}
		ts.Fatalf("%v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	ts.Stdout().Write(b)
	if (resp.StatusCode == http.StatusOK) == neg {
		ts.Fatalf("status %d", resp.StatusCode)
	}
}

// connState is the file of a connected test instance.
type connState struct {
	Seed string `json:"seed"` // hex of the X25519 private key
	UDI  string `json:"udi"`
	Seq  uint64 `json:"seq"`
	Last string `json:"last"` // the body of the last request
	Path string `json:"path"` // its path
}

func cmdConnected(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 5 {
		ts.Fatalf("usage: connected ADDRFILE CERT TRUST STATE register TOKENFILE|renew|renew-registration|replay [TAG=N...]")
	}
	url, client := serviceURL(ts, args[0]), pinnedClient(ts, args[1])
	trust, err := codes.ReadTrustFile([]byte(ts.ReadFile(args[2])))
	ts.Check(err)
	pub := trust.Current(time.Now().Unix())
	statePath := ts.MkAbs(args[3])
	var st connState
	if b, err := os.ReadFile(statePath); err == nil {
		ts.Check(json.Unmarshal(b, &st))
	} else {
		seed := make([]byte, 32)
		rand.Read(seed)
		u := make([]byte, 16)
		rand.Read(u)
		st = connState{Seed: hex.EncodeToString(seed), UDI: fmt.Sprintf("P:VMS,S:%s,U:%x-%x-%x-%x-%x", filepath.Base(args[3]), u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])}
	}
	seed, err := hex.DecodeString(st.Seed)
	ts.Check(err)
	key, err := codes.ParseInstanceKey(seed)
	ts.Check(err)
	udi, err := codes.ParseUDI(st.UDI)
	ts.Check(err)
	mac, err := key.MACKey(pub)
	ts.Check(err)
	op, rest := args[4], args[5:]
	var wanted []codes.License
	licenses := func(from []string) {
		for _, a := range from {
			tag, n, _ := strings.Cut(a, "=")
			c, err := strconv.ParseUint(n, 10, 32)
			ts.Check(err)
			wanted = append(wanted, codes.License{Tag: tag, Count: uint32(c)})
		}
	}
	var path string
	var body []byte
	hdr := map[string]string{"Content-Type": api.ContentType}
	switch op {
	case "register":
		if len(rest) < 1 {
			ts.Fatalf("connected register TOKENFILE [TAG=N...]")
		}
		licenses(rest[1:])
		nonce := make([]byte, codes.NonceSize)
		rand.Read(nonce)
		rq, err := codes.SealRequest(&codes.Request{UDI: udi, Nonce: nonce, IssuedAt: time.Now().Unix(), Wanted: wanted}, key, pub)
		ts.Check(err)
		path = api.PathRegister
		body, _ = json.Marshal(api.RegisterRequest{Token: strings.TrimSpace(ts.ReadFile(rest[0])), Request: rq})
	case "renew", "renew-registration", "replay":
		switch op {
		case "renew":
			licenses(rest)
			path = api.PathRenewAuthorization
			body, _ = json.Marshal(api.RenewRequest{Wanted: wanted})
			st.Seq++
		case "renew-registration":
			path, body = api.PathRenewRegistration, []byte("{}")
			st.Seq++
		case "replay":
			path, body = st.Path, []byte(st.Last)
		}
		for k, v := range (api.Signed{UDI: st.UDI, KeyID: pub.ID(), Seq: st.Seq}).Headers(mac, http.MethodPost, path, body) {
			hdr[k] = v
		}
	default:
		ts.Fatalf("connected: unknown operation %q", op)
	}
	st.Last, st.Path = string(body), path
	b, _ := json.Marshal(st)
	ts.Check(os.WriteFile(statePath, b, 0o600))

	req, err := http.NewRequest(http.MethodPost, url+path, bytes.NewReader(body))
	ts.Check(err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	ts.Check(err)
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	fmt.Fprintf(ts.Stdout(), "status %d\n", resp.StatusCode)
	if resp.StatusCode != http.StatusOK {
		var e api.Error
		ts.Check(json.Unmarshal(out, &e))
		fmt.Fprintf(ts.Stdout(), "%s: %s\n", e.Code, e.Message)
		if !neg {
			ts.Fatalf("connected %s: %d %s", op, resp.StatusCode, out)
		}
		return
	}
	if neg {
		ts.Fatalf("connected %s succeeded", op)
	}
	var a api.Authorized
	ts.Check(json.Unmarshal(out, &a))
	fmt.Fprintf(ts.Stdout(), "registered to %s\n", a.Registration.Account)
	if len(a.Authorization) > 0 {
		au, err := codes.OpenAuthorization(a.Authorization, trust)
		ts.Check(err)
		if au.UDI.String() != st.UDI {
			ts.Fatalf("authorization for %s, not %s", au.UDI, st.UDI)
		}
		fmt.Fprintf(ts.Stdout(), "serial %d\n", au.Serial)
		for _, e := range au.Entitlements {
			fmt.Fprintf(ts.Stdout(), "%s=%d\n", e.Tag, e.Count)
		}
	}
}

// TestServeRefusesBadCommandLines: exit status 2 and one line, before
// the key is opened or anything listens.
func TestServeRefusesBadCommandLines(t *testing.T) {
	inTempDir(t)
	t.Setenv(envAuthorityDir, "desk")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{}, "missing --listen"},
		{[]string{"--listen", "8443"}, `--listen "8443" is not HOST:PORT`},
		{[]string{"--listen", ":0", "--tls-cert", "a.crt"}, "--tls-cert and --tls-key go together"},
		{[]string{"--listen", ":0", "--tls-host", "bad_name"}, `"bad_name" is not a host name or IP address`},
		{[]string{"--listen", ":0", "--rate", "0"}, "--rate 0 is not a positive number"},
		{[]string{"--listen", ":0", "--burst", "-1"}, "--burst -1 is not a positive number"},
		{[]string{"--listen", ":0", "extra"}, "takes no arguments"},
	} {
		code, stdout, stderr := runApp(t, "", append([]string{"authority", "serve"}, c.args...)...)
		if code != exitUsage || stdout != "" || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
}

// TestInitMakesTheTLSCertificate: a self-signed P-256 certificate valid
// 10 years for the loopback names, the host name and --tls-host, its key
// readable by the owner only.
func TestInitMakesTheTLSCertificate(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(envPassphrase, "a passphrase long enough")
	code, _, stderr := runApp(t, "", "authority", "init", "--dir", filepath.Join(dir, "desk"), "--name", "desk", "--tls-host", "licensing.example.com", "--tls-host", "192.0.2.7")
	if code != exitOK {
		t.Fatalf("init: %s", stderr)
	}
	b, err := os.ReadFile(filepath.Join(dir, "desk", tlsCertFile))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"localhost", "127.0.0.1", "::1", "licensing.example.com", "192.0.2.7"} {
		if err := cert.VerifyHostname(h); err != nil {
			t.Errorf("not valid for %s: %v", h, err)
		}
	}
	if life := cert.NotAfter.Sub(cert.NotBefore); life < service.CertValidity {
		t.Errorf("valid for %v", life)
	}
	if cert.PublicKeyAlgorithm != x509.ECDSA || cert.CheckSignatureFrom(cert) != nil {
		t.Errorf("not a self-signed ECDSA certificate: %v", cert.PublicKeyAlgorithm)
	}
	fi, err := os.Stat(filepath.Join(dir, "desk", tlsKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("tls.key: %v %v", fi, err)
	}
	if !strings.Contains(stderr, "SHA-256 "+service.Fingerprint(cert.Raw)) {
		t.Errorf("init did not print the fingerprint:\n%s", stderr)
	}
}

// TestServeLogLines: one line per request, a forged UDI quoted so that it
// cannot forge a line, and the authority's own failures even with
// --quiet, with the detail the answer left out.
func TestServeLogLines(t *testing.T) {
	var b bytes.Buffer
	out := &lineWriter{w: &b}
	ok := service.Entry{Method: "POST", Path: api.PathRenewAuthorization, UDI: "P:VMS,S:cam-1", Remote: "192.0.2.7", Status: 200, Duration: 1500 * time.Microsecond}
	forged := service.Entry{Method: "POST", Path: api.PathUsage, UDI: "x 200 1ms\nairlock: 10.0.0.1 POST", Remote: "192.0.2.8", Status: 401, Code: api.CodeUnauthenticated, Err: fmt.Errorf("request not authenticated")}
	failed := service.Entry{Method: "POST", Path: api.PathConfirm, Remote: "192.0.2.9", Status: 500, Code: api.CodeInternal, Err: fmt.Errorf("disk I/O error")}
	noKey := service.Entry{Method: "POST", Path: api.PathRegister, Remote: "192.0.2.9", Status: 503, Code: api.CodeUnavailable, Err: fmt.Errorf("%w: none of the 1 authority keys is valid", authority.ErrNoKey)}
	busy := service.Entry{Method: "POST", Path: api.PathRegister, Remote: "192.0.2.9", Status: 503, Code: api.CodeUnavailable, Err: authority.ErrBusy}
	for _, e := range []service.Entry{ok, forged, failed, noKey, busy} {
		logEntry(out, e, false)
	}
	want := `airlock: 192.0.2.7 POST /v1/renew/authorization P:VMS,S:cam-1 200 1.5ms
airlock: 192.0.2.8 POST /v1/usage "x 200 1ms\nairlock: 10.0.0.1 POST" 401 0s: unauthenticated: request not authenticated
airlock: error: 192.0.2.9 POST /v1/confirm - 500 0s: disk I/O error
airlock: error: 192.0.2.9 POST /v1/register - 503 0s: no authority key: none of the 1 authority keys is valid
airlock: 192.0.2.9 POST /v1/register - 503 0s: unavailable: ledger busy
`
	if b.String() != want {
		t.Errorf("log:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	for _, e := range []service.Entry{ok, forged, failed, noKey, busy} {
		logEntry(out, e, true)
	}
	if want := "airlock: error: 192.0.2.9 POST /v1/confirm - 500 0s: disk I/O error\nairlock: error: 192.0.2.9 POST /v1/register - 503 0s: no authority key: none of the 1 authority keys is valid\n"; b.String() != want {
		t.Errorf("log with --quiet:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestPublicAddrPrefersTheNamedHost: listening on every address, the
// lines for instances and people name the first --tls-host, else the
// certificate's first name that is not localhost (the machine's own name,
// which init adds); on one address, that address.
func TestPublicAddrPrefersTheNamedHost(t *testing.T) {
	leaf := &x509.Certificate{DNSNames: []string{"localhost", "vm", "licensing.example.com"}}
	any := &net.TCPAddr{IP: net.IPv6unspecified, Port: 8443}
	one := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443}
	for _, c := range []struct {
		addr  net.Addr
		named []string
		want  string
	}{
		{any, []string{"licensing.example.com"}, "licensing.example.com:8443"},
		{any, nil, "vm:8443"},
		{any, []string{"2001:db8::1"}, "[2001:db8::1]:8443"},
		{one, []string{"licensing.example.com"}, "127.0.0.1:8443"},
	} {
		if got := publicAddr(c.addr, leaf, c.named); got != c.want {
			t.Errorf("publicAddr(%v, %v) = %q, want %q", c.addr, c.named, got, c.want)
		}
	}
	if got := publicAddr(any, &x509.Certificate{DNSNames: []string{"localhost"}}, nil); got != "HOST:8443" {
		t.Errorf("no name: %q", got)
	}
}
