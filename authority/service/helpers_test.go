package service_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/authority/service"
	"github.com/airlock-dev/airlock/authority/store"
	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/codes/api"
)

var ctx = context.Background()

// camera is the tag the test account holds plenty of.
const camera = "vms.camera.core"

// testCA is a certificate authority made for the tests, and a server
// certificate for 127.0.0.1 it issued.
type testCA struct {
	pool   *x509.CertPool
	pem    []byte // the CA certificate, for an instance to pin
	server tls.Certificate
}

var (
	caOnce sync.Once
	ca     testCA
)

// newTestCA makes the test CA once per process.
func newTestCA(t testing.TB) testCA {
	caOnce.Do(func() {
		now := time.Now()
		caKey := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
		caTmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "airlock test CA"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
		}
		caDER := must(x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey))
		caCert := must(x509.ParseCertificate(caDER))
		leafKey := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
		leafTmpl := &x509.Certificate{
			SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "airlock test service"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		}
		leafDER := must(x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey, caKey))
		ca.pool = x509.NewCertPool()
		ca.pool.AddCert(caCert)
		ca.pem = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
		ca.server = tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}
	})
	return ca
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// An env is a ledger in a temporary folder, served over HTTPS on
// 127.0.0.1 with the test CA's certificate, and a client that trusts
// only that CA.
type env struct {
	t      testing.TB
	dir    string
	l      *authority.Ledger
	closer io.Closer
	key    *codes.AuthorityKey
	trust  *codes.TrustSet
	svc    *service.Service
	url    string
	client *http.Client
	token  string // a registration token for acme/plant, unlimited
	logs   *entries
	served chan error
}

// entries collects the service's log.
type entries struct {
	mu   sync.Mutex
	list []service.Entry
}

func (e *entries) add(x service.Entry) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, x)
}

func (e *entries) all() []service.Entry {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]service.Entry(nil), e.list...)
}

// newEnv makes the ledger (organization acme, account acme/plant with
// 100000 cameras, a token) and serves it.
func newEnv(t testing.TB, tweak ...func(*service.Options)) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), logs: &entries{}}
	e.key = must(codes.GenerateAuthorityKey(rand.Reader, time.Time{}, time.Time{}))
	e.trust = &codes.TrustSet{Sequence: 1, Keys: []codes.AuthorityPublicKey{e.key.Public}, IssuedAt: time.Now().Unix()}
	l, closer, err := store.OpenLedger(e.dir, true, authority.Options{Keys: []*codes.AuthorityKey{e.key}, Actor: "tester"})
	e.must(err)
	e.l, e.closer = l, closer
	e.must(l.Init(ctx, "test desk"))
	_, err = l.AddOrg(ctx, "acme")
	e.must(err)
	_, err = l.AddAccount(ctx, "acme", "plant", 0)
	e.must(err)
	_, err = l.AddLot(ctx, authority.LotSpec{Account: "acme/plant", Tag: camera, Count: 100000, Kind: codes.Perpetual})
	e.must(err)
	e.token, _, err = l.CreateToken(ctx, authority.TokenSpec{Account: "acme/plant", ExportAllowed: true})
	e.must(err)

	opts := service.Options{Keys: []codes.KeyID{e.key.ID()}, Log: e.logs.add}
	for _, fn := range tweak {
		fn(&opts)
	}
	e.svc = service.New(l, opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	e.must(err)
	e.url = "https://" + ln.Addr().String()
	e.served = make(chan error, 1)
	go func() { e.served <- e.svc.ServeTLS(ln, service.TLSConfig(newTestCA(t).server)) }()
	e.client = &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: newTestCA(t).pool, MinVersion: tls.VersionTLS12},
			MaxIdleConnsPerHost: 64,
		},
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := e.svc.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-e.served; err != nil {
			t.Errorf("serve: %v", err)
		}
		e.client.CloseIdleConnections()
		e.closer.Close()
	})
	return e
}

func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// state sums up the ledger for before-and-after comparisons: it verifies
// the ledger, and returns its history's length and head, and the uses of
// every token.
func (e *env) state() string {
	e.t.Helper()
	rep, err := e.l.Verify(ctx)
	e.must(err)
	toks, err := e.l.Tokens(ctx, "")
	e.must(err)
	var uses []string
	for _, t := range toks {
		uses = append(uses, fmt.Sprintf("%s:%d:%d", t.ID(), t.Uses, t.RevokedAt))
	}
	return fmt.Sprintf("events %d head %x reservations %d codes %d tokens %v", rep.Events, rep.Head, rep.Reservations, rep.Codes, uses)
}

// quickState is state without the verification: the history's length
// and head (every change to the ledger is an event of it) and the
// tokens' uses.
func (e *env) quickState() string {
	e.t.Helper()
	m, err := e.l.Meta(ctx)
	e.must(err)
	toks, err := e.l.Tokens(ctx, "")
	e.must(err)
	var uses []string
	for _, t := range toks {
		uses = append(uses, fmt.Sprintf("%s:%d:%d", t.ID(), t.Uses, t.RevokedAt))
	}
	return fmt.Sprintf("events %d head %x tokens %v", m.HistoryCount, m.HistoryHead, uses)
}

// An answer is what the service answered.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// apiError decodes the answer as an api.Error, failing the test when it
// is not one.
func (a answer) apiError(t testing.TB) api.Error {
	t.Helper()
	var e api.Error
	dec := json.NewDecoder(bytes.NewReader(a.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Code == "" || e.Message == "" {
		t.Fatalf("status %d: body %q is not an api.Error (%v)", a.status, a.body, err)
	}
	return e
}

// send makes one request.
func (e *env) send(method, path string, hdr map[string]string, body io.Reader) answer {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, body)
	e.must(err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.client.Do(req)
	e.must(err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	e.must(err)
	return answer{resp.StatusCode, resp.Header, b}
}

// A testInstance plays an instance in connected mode.
type testInstance struct {
	e   *env
	key *codes.InstanceKey
	udi codes.UDI
	mac []byte
	seq uint64
}

func (e *env) instance(name string) *testInstance {
	e.t.Helper()
	key := must(codes.GenerateInstanceKey(rand.Reader))
	u := make([]byte, 16)
	rand.Read(u)
	udi := must(codes.ParseUDI(fmt.Sprintf("P:VMS,S:%s,U:%x-%x-%x-%x-%x", name, u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])))
	return &testInstance{e: e, key: key, udi: udi, mac: must(key.MACKey(&e.key.Public))}
}

// requestCode is a fresh request code of the instance.
func (i *testInstance) requestCode(wanted ...codes.License) []byte {
	nonce := make([]byte, codes.NonceSize)
	rand.Read(nonce)
	return must(codes.SealRequest(&codes.Request{UDI: i.udi, Nonce: nonce, IssuedAt: time.Now().Unix(), Wanted: wanted}, i.key, &i.e.key.Public))
}

// register registers the instance with token, wanting cameras.
func (i *testInstance) register(token string, cameras uint32) answer {
	b := must(json.Marshal(api.RegisterRequest{Token: token, Request: i.requestCode(codes.License{Tag: camera, Count: cameras}), Hostname: "cam"}))
	return i.e.send(http.MethodPost, api.PathRegister, map[string]string{"Content-Type": api.ContentType}, bytes.NewReader(b))
}

// mustRegister registers the instance, failing the test on a refusal.
func (i *testInstance) mustRegister(cameras uint32) *api.Authorized {
	i.e.t.Helper()
	a := i.register(i.e.token, cameras)
	if a.status != http.StatusOK {
		i.e.t.Fatalf("register %s: %d %s", i.udi, a.status, a.body)
	}
	var out api.Authorized
	i.e.must(json.Unmarshal(a.body, &out))
	return &out
}

// headers signs a request with the next sequence number.
func (i *testInstance) headers(method, path string, body []byte) map[string]string {
	i.seq++
	h := api.Signed{UDI: i.udi.String(), KeyID: i.e.key.ID(), Seq: i.seq}.Headers(i.mac, method, path, body)
	h["Content-Type"] = api.ContentType
	return h
}

// call POSTs v as JSON to path, signed.
func (i *testInstance) call(path string, v any) answer {
	b := must(json.Marshal(v))
	return i.e.send(http.MethodPost, path, i.headers(http.MethodPost, path, b), bytes.NewReader(b))
}

// renew renews the authorization for cameras.
func (i *testInstance) renew(cameras uint32) answer {
	return i.call(api.PathRenewAuthorization, api.RenewRequest{Wanted: []codes.License{{Tag: camera, Count: cameras}}})
}

// authorized decodes an Authorized answer and opens its code.
func (e *env) authorized(a answer, udi codes.UDI) (*api.Authorized, *codes.Authorization) {
	e.t.Helper()
	if a.status != http.StatusOK {
		e.t.Fatalf("status %d: %s", a.status, a.body)
	}
	var out api.Authorized
	e.must(json.Unmarshal(a.body, &out))
	if len(out.Authorization) == 0 {
		return &out, nil
	}
	au, err := codes.OpenAuthorization(out.Authorization, e.trust)
	e.must(err)
	if au.UDI.String() != udi.String() {
		e.t.Fatalf("authorization for %s, want %s", au.UDI, udi)
	}
	return &out, au
}
