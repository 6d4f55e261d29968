// Command loadgen measures renewals per second served end to end by
// `airlock authority serve`: HTTPS on loopback, the durable ledger on
// disk, the load from this process and the service in another.
//
// By default it makes a new authority in a temporary folder with the
// airlock binary given (-airlock), starts `airlock authority serve` on
// 127.0.0.1 with it, registers -instances instances with a registration
// token, then renews their authorizations from -concurrency goroutines,
// each on its own keep-alive connection and with its own instances, for
// -duration; it prints renewals per second, the latency percentiles and
// the errors by status, stops the service with SIGINT and runs `airlock
// authority verify`. With -url, -ca, -trust and -token it loads a service
// already running instead. With -db the ledger is the PostgreSQL database
// at that URL (empty), and -servers N starts N services on it, each
// client goroutine keeping to one of them.
//
//	go build -o bin/airlock ./cmd/airlock
//	go run ./cmd/airlock/loadgen -airlock bin/airlock -duration 10s
//	go run ./cmd/airlock/loadgen -airlock bin/airlock -db postgres://… -servers 2
//
// make bench runs it. Every instance renews about twice a second (1000
// instances, 2000/s), within the service's default limit of 5 a second:
// the service runs with its defaults but --register-rate, raised so that
// the setup registers quickly from one address, and --quiet.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/codes/api"
)

const tag = "vms.camera.core"

func main() {
	var (
		airlock     = flag.String("airlock", "bin/airlock", "the airlock `BINARY` that serves (unless -url)")
		url         = flag.String("url", "", "load the service at `URL` (several: space-separated) instead of starting one")
		caFile      = flag.String("ca", "", "with -url: the service's certificate `FILE`")
		trustFile   = flag.String("trust", "", "with -url: the authority's trust `FILE`")
		token       = flag.String("token", "", "with -url: a registration `TOKEN` with enough uses")
		instances   = flag.Int("instances", 1000, "register `N` instances")
		concurrency = flag.Int("concurrency", 64, "renew from `N` goroutines, each with its own connection")
		duration    = flag.Duration("duration", 10*time.Second, "renew for `D`")
		keep        = flag.Bool("keep", false, "keep the temporary authority folder")
		db          = flag.String("db", "", "keep the ledger in the empty PostgreSQL database at `URL` (unless -url)")
		servers     = flag.Int("servers", 1, "start `N` services on the one ledger (unless -url)")
	)
	flag.Parse()
	if *servers < 1 || *servers > 1 && *db == "" {
		fmt.Fprintln(os.Stderr, "loadgen: -servers N needs N ≥ 1, and -db for more than one: services share a PostgreSQL ledger")
		os.Exit(2)
	}
	if err := run(*airlock, *url, *caFile, *trustFile, *token, *db, *servers, *instances, *concurrency, *duration, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen: error:", err)
		os.Exit(1)
	}
}

func run(airlock, url, caFile, trustFile, token, db string, servers, instances, concurrency int, duration time.Duration, keep bool) error {
	if instances < concurrency || concurrency < 1 {
		return fmt.Errorf("-instances %d must be at least -concurrency %d, which is at least 1", instances, concurrency)
	}
	if url == "" {
		dir, err := os.MkdirTemp("", "airlock-load-")
		if err != nil {
			return err
		}
		if keep {
			fmt.Fprintln(os.Stderr, "loadgen: the authority folder is", dir)
		} else {
			defer os.RemoveAll(dir)
		}
		srv, err := startService(airlock, dir, db, servers, instances)
		if err != nil {
			return err
		}
		url, caFile, trustFile, token = strings.Join(srv.urls, " "), filepath.Join(dir, "desk", "tls.crt"), filepath.Join(dir, "desk", "trust.airlock"), srv.token
		defer func() {
			if err := srv.stop(); err != nil {
				fmt.Fprintln(os.Stderr, "loadgen: error:", err)
				os.Exit(1)
			}
		}()
	}
	l, err := newLoad(url, caFile, trustFile, concurrency)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := l.register(token, instances, concurrency); err != nil {
		return err
	}
	fmt.Printf("registered %d instances in %.1f s\n", instances, time.Since(start).Seconds())
	res := l.renew(concurrency, duration)
	res.print(os.Stdout)
	if res.ok == 0 {
		return errors.New("no renewal succeeded")
	}
	return nil
}

// A service is `airlock authority serve` in other processes, one or more
// on one ledger.
type service struct {
	cmds    []*exec.Cmd
	airlock string
	env     []string
	urls    []string
	token   string
	stderrs []*bytes.Buffer
}

// startService makes an authority in dir/desk, its ledger in the
// database at db if not "", and serves it from n processes.
func startService(airlock, dir, db string, n, instances int) (*service, error) {
	pass := make([]byte, 16)
	rand.Read(pass)
	desk := filepath.Join(dir, "desk")
	s := &service{airlock: airlock,
		env: append(os.Environ(), "AIRLOCK_PASSPHRASE="+hex.EncodeToString(pass), "AIRLOCK_AUTHORITY_DIR="+desk, "AIRLOCK_ACTOR=loadgen", "AIRLOCK_DB=")}
	init := []string{"authority", "init", "--name", "load test"}
	if db != "" {
		init = append(init, "--db", db)
	}
	for _, args := range [][]string{
		init,
		{"authority", "org", "add", "acme"},
		{"authority", "account", "add", "--org", "acme", "plant"},
		{"authority", "lot", "add", "--account", "acme/plant", "--tag", tag, "--count", "100000000", "--perpetual"},
	} {
		if _, err := s.airlockRun(args...); err != nil {
			return nil, err
		}
	}
	tok, err := s.airlockRun("authority", "token", "create", "--account", "acme/plant", "--uses", fmt.Sprint(instances))
	if err != nil {
		return nil, err
	}
	s.token = strings.TrimSpace(tok)
	for i := range n {
		if err := s.start(filepath.Join(dir, fmt.Sprintf("addr%d", i))); err != nil {
			for _, c := range s.cmds {
				c.Process.Kill()
				c.Wait()
			}
			return nil, err
		}
	}
	return s, nil
}

// start starts one more `authority serve` and waits until it listens.
func (s *service) start(addrFile string) error {
	stderr := &bytes.Buffer{}
	cmd := exec.Command(s.airlock, "authority", "serve", "--listen", "127.0.0.1:0", "--address-file", addrFile, "--quiet",
		"--register-rate", "100000", "--register-burst", "100000")
	cmd.Env, cmd.Stderr = s.env, stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second) // opening the key takes a second
	for {
		b, err := os.ReadFile(addrFile)
		if err == nil && bytes.HasSuffix(b, []byte("\n")) {
			s.urls = append(s.urls, "https://"+strings.TrimSpace(string(b)))
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			return fmt.Errorf("authority serve did not start: %s", stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.cmds, s.stderrs = append(s.cmds, cmd), append(s.stderrs, stderr)
	first, _, _ := strings.Cut(stderr.String(), "\n")
	fmt.Fprintln(os.Stderr, "loadgen: started:", strings.TrimPrefix(first, "airlock: "))
	return nil
}

func (s *service) airlockRun(args ...string) (string, error) {
	cmd := exec.Command(s.airlock, args...)
	cmd.Env = s.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("airlock %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

// stop stops the services with SIGINT, as an operator would, and
// verifies the ledger.
func (s *service) stop() error {
	for _, c := range s.cmds {
		c.Process.Signal(syscall.SIGINT)
	}
	for i, c := range s.cmds {
		err := c.Wait()
		stderr := s.stderrs[i].String()
		if err != nil {
			return fmt.Errorf("authority serve: %v: %s", err, stderr)
		}
		if !strings.Contains(stderr, "airlock: stopped") {
			return fmt.Errorf("authority serve did not say it stopped: %s", stderr)
		}
		sc := bufio.NewScanner(strings.NewReader(stderr))
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "airlock: error:") {
				return fmt.Errorf("authority serve logged: %s", sc.Text())
			}
		}
	}
	if _, err := s.airlockRun("authority", "verify"); err != nil {
		return err
	}
	fmt.Println("the ledger verifies after the run")
	return nil
}

// A load is the instances and the client.
type load struct {
	urls   []string // the services; goroutine g keeps to urls[g%len(urls)]
	trust  *codes.TrustSet
	pub    *codes.AuthorityPublicKey
	client *http.Client
	insts  []*instance
}

type instance struct {
	key       *codes.InstanceKey
	udi       string
	mac       []byte
	seq       uint64
	installed uint64
}

func newLoad(url, caFile, trustFile string, concurrency int) (*load, error) {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	tb, err := os.ReadFile(trustFile)
	if err != nil {
		return nil, err
	}
	trust, err := codes.ReadTrustFile(tb)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", trustFile, err)
	}
	pub := trust.Current(time.Now().Unix())
	if pub == nil {
		return nil, fmt.Errorf("%s: no key valid now", trustFile)
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: concurrency,
		MaxConnsPerHost:     concurrency,
		// HTTP/1.1 with keep-alive, one connection per goroutine, as
		// instances behind one proxy would come.
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	return &load{urls: strings.Fields(url), trust: trust, pub: pub, client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, nil
}

// register makes n instances and registers them, from c goroutines.
func (l *load) register(token string, n, c int) error {
	l.insts = make([]*instance, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, c)
	for range c {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				inst, err := l.registerOne(l.urls[i%len(l.urls)], token, i)
				if err != nil {
					errs <- err
					return
				}
				l.insts[i] = inst
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func (l *load) registerOne(url, token string, i int) (*instance, error) {
	key, err := codes.GenerateInstanceKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	u := make([]byte, 16)
	rand.Read(u)
	udi, err := codes.ParseUDI(fmt.Sprintf("P:VMS,S:load-%d,U:%x-%x-%x-%x-%x", i, u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]))
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, codes.NonceSize)
	rand.Read(nonce)
	rq, err := codes.SealRequest(&codes.Request{UDI: udi, Nonce: nonce, IssuedAt: time.Now().Unix(), Wanted: []codes.License{{Tag: tag, Count: 1}}}, key, l.pub)
	if err != nil {
		return nil, err
	}
	mac, err := key.MACKey(l.pub)
	if err != nil {
		return nil, err
	}
	body, _ := json.Marshal(api.RegisterRequest{Token: token, Request: rq})
	status, out, err := l.post(url, api.PathRegister, nil, body)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("registering %s: %d %s", udi, status, out)
	}
	var a api.Authorized
	if err := json.Unmarshal(out, &a); err != nil {
		return nil, err
	}
	au, err := codes.OpenAuthorization(a.Authorization, l.trust)
	if err != nil {
		return nil, fmt.Errorf("registering %s: the authorization: %w", udi, err)
	}
	return &instance{key: key, udi: udi.String(), mac: mac, installed: au.Serial}, nil
}

func (l *load) post(url, path string, hdr map[string]string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, url+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", api.ContentType)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, api.MaxBody))
	return resp.StatusCode, out, err
}

// A result is what a run measured.
type result struct {
	ok        int
	errors    map[string]int
	latencies []time.Duration
	elapsed   time.Duration
	verified  int
}

// renew renews from c goroutines for d, each owning every c-th
// instance, taking them in turn: an instance's sequence numbers go up
// with each of its requests, one at a time.
func (l *load) renew(c int, d time.Duration) *result {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var mu sync.Mutex
	res := &result{errors: map[string]int{}}
	var wg sync.WaitGroup
	start := time.Now()
	for g := range c {
		wg.Go(func() {
			var lat []time.Duration
			errs := map[string]int{}
			verified := 0
			for k := 0; ctx.Err() == nil; k++ {
				inst := l.insts[g+(k%(len(l.insts)/c))*c]
				body, _ := json.Marshal(api.RenewRequest{Wanted: []codes.License{{Tag: tag, Count: 1}}, Installed: inst.installed})
				inst.seq++
				hdr := api.Signed{UDI: inst.udi, KeyID: l.pub.ID(), Seq: inst.seq}.Headers(inst.mac, http.MethodPost, api.PathRenewAuthorization, body)
				t0 := time.Now()
				status, out, err := l.post(l.urls[g%len(l.urls)], api.PathRenewAuthorization, hdr, body)
				took := time.Since(t0)
				switch {
				case err != nil:
					if ctx.Err() == nil {
						errs[err.Error()]++
					}
					continue
				case status != http.StatusOK:
					var ae api.Error
					json.Unmarshal(out, &ae)
					errs[fmt.Sprintf("%d %s", status, ae.Code)]++
					continue
				}
				lat = append(lat, took)
				var a api.Authorized
				if err := json.Unmarshal(out, &a); err != nil {
					errs["answer not JSON"]++
					continue
				}
				// Every answer's serial is read; one code in 64 is verified:
				// Ed25519 on this machine's cores would take from the
				// service's.
				open := codes.ParseUnverifiedAuthorization
				if k%64 == 0 {
					open = func(b []byte) (*codes.Authorization, error) { return codes.OpenAuthorization(b, l.trust) }
				}
				au, err := open(a.Authorization)
				if err != nil || au.UDI.String() != inst.udi || au.Serial <= inst.installed {
					errs["authorization code wrong"]++
					continue
				}
				inst.installed = au.Serial
				if k%64 == 0 {
					verified++
				}
			}
			mu.Lock()
			defer mu.Unlock()
			res.ok += len(lat)
			res.latencies = append(res.latencies, lat...)
			res.verified += verified
			for k, v := range errs {
				res.errors[k] += v
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

func (r *result) print(w io.Writer) {
	slices.Sort(r.latencies)
	pct := func(p float64) time.Duration {
		if len(r.latencies) == 0 {
			return 0
		}
		return r.latencies[min(len(r.latencies)-1, int(float64(len(r.latencies))*p))]
	}
	fmt.Fprintf(w, "renewals: %d in %.1f s = %.0f/s; latency p50 %.2f ms, p99 %.2f ms, max %.2f ms; %d codes opened and checked\n",
		r.ok, r.elapsed.Seconds(), float64(r.ok)/r.elapsed.Seconds(),
		ms(pct(0.50)), ms(pct(0.99)), ms(pct(1)), r.verified)
	if len(r.errors) == 0 {
		fmt.Fprintln(w, "errors: none")
		return
	}
	keys := make([]string, 0, len(r.errors))
	for k := range r.errors {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "errors: %d × %s\n", r.errors[k], k)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
