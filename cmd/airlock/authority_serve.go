package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/authority/service"
	"github.com/airlock-dev/airlock/authority/web"
	"github.com/airlock-dev/airlock/codes"
)

// Flags of authority serve (and --tls-host of init).
const (
	flagListen        = "listen"
	flagTLSCert       = "tls-cert"
	flagTLSKey        = "tls-key"
	flagTLSHost       = "tls-host"
	flagRate          = "rate"
	flagBurst         = "burst"
	flagRegisterRate  = "register-rate"
	flagRegisterBurst = "register-burst"
	flagMaxConcurrent = "max-concurrent"
	flagQuiet         = "quiet"
	flagAddressFile   = "address-file"
	flagPortal        = "portal"
)

// Files of the service in the authority folder.
const (
	tlsCertFile = "tls.crt" // the self-signed certificate instances pin
	tlsKeyFile  = "tls.key" // its private key, unencrypted, mode 0600
)

// shutdownWait bounds how long serve waits, once told to stop, for the
// requests in flight: longer than the ledger's busy timeout (10 s), so
// that a request waiting for the write lock is still answered.
const shutdownWait = 30 * time.Second

// maxCertFileSize bounds the certificate and key files read: a chain of a
// few certificates.
const maxCertFileSize = 64 << 10

const authorityServeDescription = `serve runs the connected mode's HTTPS API on --listen ADDR, for instances
that reach the authority (airlock instance transport --direct URL): they
register with a registration token ('airlock authority token create'),
then renew their authorization and registration, report usage, confirm
codes, request and return export-controlled licenses and deregister, each
request authenticated with the instance's own key. It runs on the same
ledger as the other commands, which keep working beside it.

TLS: with --tls-cert FILE --tls-key FILE, serve uses that certificate
(PEM, the chain after the leaf). Without them it uses tls.crt and tls.key
in the authority folder, which 'airlock authority init' makes: a
self-signed ECDSA P-256 certificate valid 10 years, for localhost,
127.0.0.1, ::1, this machine's host name and each --tls-host NAME. An
authority folder made before serve existed gets them on the first start.
Instances pin the certificate file: copy tls.crt to them and run
'airlock instance transport --direct https://HOST:PORT --ca tls.crt'.
TLS 1.2 is the least version served; TLS 1.3 is preferred.

serve opens the authority key as the other signing commands do
(AIRLOCK_PASSPHRASE, the terminal, or --identity FILE), prints the
address, the certificate's SHA-256 fingerprint and the file to pin, then
one line per request on standard error (client, method, path, the UDI
the request names, status, time taken; --quiet leaves them out, but never
the failures of the authority itself). SIGINT or SIGTERM stops it: it
accepts nothing new, lets the requests in flight finish (up to 30 s) and
closes the ledger.

With --portal the same listener serves the web portal at every path
outside /v1/: people of the ledger (airlock authority person add) sign
in with the password 'airlock authority person password' sets (then
change it under "Your password") and do the desk's runbooks in a
browser: licenses and transfers, reserve, update, confirm, return and
remove, history, wallet and subscriptions, activation codes and
devices, serials, upgrades, vouchers, sharing, delegation, agreements,
downloads, usage reports, activation and export requests, connected
mode; vendor support also has the desk (/desk). The same library calls
decide, with the same role checks and history as the command line. The
README's runbook 21 maps each command to its page.

Limits: each instance makes at most --rate requests a second after a
burst of --burst (429 and Retry-After past them); each client address
makes at most --register-rate registrations a second after a burst of
--register-burst, so that tokens cannot be tried quickly; at most
--max-concurrent requests run at once. Bodies are at most 1 MiB.

Example:

    $ export AIRLOCK_AUTHORITY_DIR=/srv/airlock
    $ airlock authority serve --listen :8443 --tls-host licensing.example.com
    airlock: serving "ACME licensing" on https://[::]:8443 with key 5b0c1d6e9f3a2b47
    airlock: TLS certificate /srv/airlock/tls.crt, SHA-256 3F:9A:…:C2, valid until 2036-06-01
    airlock: instances pin it: airlock instance transport --direct https://licensing.example.com:8443 --ca tls.crt
    airlock: 192.0.2.7 POST /v1/register - 200 12ms
    airlock: 192.0.2.7 POST /v1/renew/authorization P:VMS,S:cam-1,U:… 200 4ms
    ^C
    airlock: stopping: finishing the requests in flight
    airlock: stopped

Exit status: 0 when stopped by a signal; 1 when it cannot start (the key
does not open, the address is taken, the certificate does not load) or
the server fails; 2 for a wrong command line.`

func authorityServeCommand() *cli.Command {
	return &cli.Command{
		Name:        "serve",
		Usage:       "serve the connected mode's HTTPS API to instances",
		UsageText:   "airlock authority serve --listen ADDR [--tls-cert FILE --tls-key FILE] [--tls-host NAME]... [--quiet] [--dir DIR]",
		Description: authorityServeDescription,
		Flags: keyFlags(
			&cli.StringFlag{Name: flagListen, Usage: "listen on `ADDR` (HOST:PORT, e.g. :8443 or 127.0.0.1:8443)"},
			&cli.StringFlag{Name: flagTLSCert, Usage: "serve the certificate in `FILE` (PEM; default: tls.crt in the authority folder)"},
			&cli.StringFlag{Name: flagTLSKey, Usage: "with the private key in `FILE` (PEM; default: tls.key in the authority folder)"},
			tlsHostFlag(),
			&cli.Float64Flag{Name: flagRate, Value: service.DefaultRate, Usage: "let each instance make `N` requests a second"},
			&cli.IntFlag{Name: flagBurst, Value: service.DefaultBurst, Usage: "after a burst of `N`"},
			&cli.Float64Flag{Name: flagRegisterRate, Value: service.DefaultRegisterRate, Usage: "let each client address make `N` registrations a second"},
			&cli.IntFlag{Name: flagRegisterBurst, Value: service.DefaultRegisterBurst, Usage: "after a burst of `N`"},
			&cli.IntFlag{Name: flagMaxConcurrent, Value: service.DefaultMaxConcurrent, Usage: "handle at most `N` requests at once"},
			&cli.BoolFlag{Name: flagQuiet, Usage: "log no line per request, only failures of the authority"},
			&cli.StringFlag{Name: flagAddressFile, Usage: "once listening, write the address to `FILE` (for scripts that listen on port 0)"},
			&cli.BoolFlag{Name: flagPortal, Usage: "serve the web portal too, at every path outside the API's /v1/"},
		),
		OnUsageError: onUsageError,
		Action:       authorityServe,
	}
}

// tlsHostFlag is --tls-host, of init and serve.
func tlsHostFlag() cli.Flag {
	return &cli.StringSliceFlag{Name: flagTLSHost, Usage: "make the TLS certificate valid for `NAME` (a host name or IP address) too; repeatable"}
}

func authorityServe(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	sf, err := checkServeFlags(c, authorityFolder)
	if err != nil {
		return err
	}
	d, err := openDesk(c, true)
	if err != nil {
		return err
	}
	defer d.Close()
	m, err := d.l.Meta(d.ctx)
	if err != nil {
		return err
	}
	trust, err := readDeskTrust(d.dir)
	if err != nil {
		return err
	}
	cert, now, err := serveCert(c.App.ErrWriter, sf, authorityFolder, d.dir, m.Name)
	if err != nil {
		return err
	}
	ln, err := serveListen(c, sf.listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	out := &lineWriter{w: c.App.ErrWriter}
	opts := serviceOptions(c, trust, out)
	if c.Bool(flagPortal) {
		opts.Portal = web.New(d.l, web.Options{Now: clock, Log: func(r *http.Request, err error) {
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			out.warn("portal: %s %s %s: %v", host, oneLine(r.Method), oneLine(r.URL.Path), err)
		}})
	}
	svc := service.New(d.l, opts)
	public := publicAddr(ln.Addr(), cert.Leaf, sf.hosts)
	noteServing(c.App.ErrWriter, fmt.Sprintf("%q", m.Name), "direct", ln.Addr(), public, trust, now, sf.certPath, cert.Leaf)
	if opts.Portal != nil {
		note(c.App.ErrWriter, "web portal on https://%s/ (people sign in with the password 'airlock authority person password' sets)", public)
	}
	return runService(svc, ln, cert, out, nil)
}

// A serveFolder is the folder authority serve or satellite serve runs on:
// how their messages name it, and what else differs between them.
type serveFolder struct {
	name        string // in messages: "the tls.crt in the authority folder"
	hostExample string // a --tls-host NAME, for the hint of a bad one
	madeWhy     string // said after "had no TLS certificate" when serve makes one
}

var (
	authorityFolder = serveFolder{name: "authority folder", hostExample: "licensing.example.com",
		madeWhy: " (it was made before airlock served HTTPS)"}
	satelliteFolder = serveFolder{name: "satellite's folder", hostExample: "sat.plant.example.com"}
)

// serveFlags are the flags authority serve and satellite serve share, as
// checkServeFlags checked them.
type serveFlags struct {
	listen            string
	certPath, keyPath string // both "" for tls.crt and tls.key in the folder
	hosts             []string
}

// checkServeFlags checks the flags authority serve and satellite serve
// share: --listen, --tls-cert with --tls-key, --tls-host and the limits.
func checkServeFlags(c *cli.Context, f serveFolder) (*serveFlags, error) {
	cmd := c.Command.HelpName
	listen, err := requireFlag(c, flagListen, ":8443")
	if err != nil {
		return nil, err
	}
	if _, _, err := net.SplitHostPort(listen); err != nil {
		return nil, usagef(cmd, "for example: --listen :8443 or --listen 127.0.0.1:8443", "--%s %q is not HOST:PORT", flagListen, listen)
	}
	sf := &serveFlags{listen: listen, certPath: c.String(flagTLSCert), keyPath: c.String(flagTLSKey), hosts: c.StringSlice(flagTLSHost)}
	if (sf.certPath == "") != (sf.keyPath == "") {
		return nil, usagef(cmd, "give both, or neither to use tls.crt and tls.key in the "+f.name, "--%s and --%s go together", flagTLSCert, flagTLSKey)
	}
	for _, h := range sf.hosts {
		if err := service.CheckHost(h); err != nil {
			return nil, usagef(cmd, "for example: --tls-host "+f.hostExample, "--%s: %v", flagTLSHost, err)
		}
	}
	for _, f := range []string{flagRate, flagRegisterRate} {
		if v := c.Float64(f); !(v > 0) {
			return nil, usagef(cmd, "for example: --"+f+" 5", "--%s %v is not a positive number", f, v)
		}
	}
	for _, f := range []string{flagBurst, flagRegisterBurst, flagMaxConcurrent} {
		if v := c.Int(f); v < 1 {
			return nil, usagef(cmd, "for example: --"+f+" 20", "--%s %d is not a positive number", f, v)
		}
	}
	return sf, nil
}

// serveCert loads the certificate serve presents, its leaf parsed: the
// files of --tls-cert and --tls-key, or tls.crt and tls.key in dir, made
// for name when neither exists (sf then names them). It refuses one that
// is not valid for every --tls-host, or expired, and returns the time it
// checked it at.
func serveCert(stderr io.Writer, sf *serveFlags, f serveFolder, dir, name string) (tls.Certificate, time.Time, error) {
	if sf.certPath == "" {
		sf.certPath, sf.keyPath = filepath.Join(dir, tlsCertFile), filepath.Join(dir, tlsKeyFile)
		made, err := ensureTLSCert(dir, name, sf.hosts, clock())
		if err != nil {
			return tls.Certificate{}, time.Time{}, err
		}
		if made {
			note(stderr, "this %s had no TLS certificate%s: made %s and %s", f.name, f.madeWhy, sf.certPath, sf.keyPath)
		}
	}
	cert, leaf, err := loadTLSCert(sf.certPath, sf.keyPath)
	if err != nil {
		return tls.Certificate{}, time.Time{}, err
	}
	if missing := service.Covers(leaf, sf.hosts); len(missing) > 0 {
		return tls.Certificate{}, time.Time{}, withHint(fmt.Errorf("%w: the TLS certificate %s is not valid for %s", authority.ErrInvalid, sf.certPath, strings.Join(missing, ", ")),
			"to make a new certificate, move tls.crt and tls.key out of the "+f.name+" and start serve again with every --tls-host; then give every instance the new tls.crt")
	}
	now := clock()
	switch {
	case now.After(leaf.NotAfter):
		hint := "renew it, or move tls.crt and tls.key out of the " + f.name + " to have serve make a new one; then give every instance the new tls.crt"
		return tls.Certificate{}, time.Time{}, withHint(fmt.Errorf("%w: the TLS certificate %s expired %s", authority.ErrInvalid, sf.certPath, leaf.NotAfter.UTC().Format(time.RFC3339)), hint)
	case leaf.NotAfter.Sub(now) < 30*24*time.Hour:
		warn(stderr, "the TLS certificate %s expires %s: renew it, and give every instance the new one", sf.certPath, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return cert, now, nil
}

// serveListen listens on addr, and writes the address it got to
// --address-file when given. The caller closes the listener.
func serveListen(c *cli.Context, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if p := c.String(flagAddressFile); p != "" {
		if err := writeFileAtomic(p, []byte(ln.Addr().String()+"\n"), 0o644, false); err != nil {
			ln.Close()
			return nil, err
		}
	}
	return ln, nil
}

// serviceOptions are the options of the service from the flags of serve:
// the keys of trust, the limits, and the log lines written to out.
func serviceOptions(c *cli.Context, trust *codes.TrustSet, out *lineWriter) service.Options {
	quiet := c.Bool(flagQuiet)
	keys := make([]codes.KeyID, len(trust.Keys))
	for i := range trust.Keys {
		keys[i] = trust.Keys[i].ID()
	}
	opts := service.Options{
		Keys:          keys,
		Rate:          c.Float64(flagRate),
		Burst:         c.Int(flagBurst),
		RegisterRate:  c.Float64(flagRegisterRate),
		RegisterBurst: c.Int(flagRegisterBurst),
		MaxConcurrent: c.Int(flagMaxConcurrent),
		Log:           func(e service.Entry) { logEntry(out, e, quiet) },
	}
	if !quiet {
		opts.ErrorLog = log.New(out, prefix, 0)
	}
	return opts
}

// noteServing says what serve serves (what: the quoted name, after
// "serving"), where, with which key and certificate, and the transport
// command of the instances that pin it (transport: its flag, "direct"
// or "satellite").
func noteServing(stderr io.Writer, what, transport string, addr net.Addr, public string, trust *codes.TrustSet, now time.Time, certPath string, leaf *x509.Certificate) {
	keyNote := ""
	if k := trust.Current(now.Unix()); k != nil {
		keyNote = " with key " + k.ID().String()
	}
	note(stderr, "serving %s on https://%s%s", what, addr, keyNote)
	note(stderr, "TLS certificate %s, SHA-256 %s, valid until %s", certPath, service.Fingerprint(leaf.Raw), leaf.NotAfter.UTC().Format(time.DateOnly))
	note(stderr, "instances pin it: airlock instance transport --%s https://%s --ca %s", transport, public, filepath.Base(certPath))
}

// runService serves svc on ln until SIGINT or SIGTERM, then lets the
// requests in flight finish, for up to shutdownWait. beside, when not nil,
// runs meanwhile; it returns once its context is done, which is before
// the requests in flight are waited for.
func runService(svc *service.Service, ln net.Listener, cert tls.Certificate, out *lineWriter, beside func(context.Context)) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- svc.ServeTLS(ln, service.TLSConfig(cert)) }()
	besideCtx, stopBeside := context.WithCancel(ctx)
	besideDone := make(chan struct{})
	go func() {
		defer close(besideDone)
		if beside != nil {
			beside(besideCtx)
		}
	}()
	var serveErr error
	select {
	case serveErr = <-served:
	case <-ctx.Done():
	}
	stop() // a second signal kills, as usual
	stopBeside()
	<-besideDone
	if serveErr != nil {
		return fmt.Errorf("serving: %w", serveErr)
	}
	out.note("stopping: finishing the requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
	defer cancel()
	if err := svc.Shutdown(sctx); err != nil {
		out.warn("requests still in flight after %s were cut off", shutdownWait)
	}
	if err := <-served; err != nil {
		return fmt.Errorf("serving: %w", err)
	}
	out.note("stopped")
	return nil
}

// publicAddr is how instances reach addr: when serve listens on every
// address, the first name --tls-host gave (named), else the
// certificate's first DNS name other than localhost; else addr.
func publicAddr(addr net.Addr, leaf *x509.Certificate, named []string) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if len(named) > 0 {
			return net.JoinHostPort(named[0], port)
		}
		host = "HOST"
		for _, n := range leaf.DNSNames {
			if n != "localhost" {
				host = n
				break
			}
		}
	}
	return net.JoinHostPort(host, port)
}

// logEntry writes one request's line: unless quiet, every request; the
// failures of the authority always, with their detail.
func logEntry(out *lineWriter, e service.Entry, quiet bool) {
	udi := e.UDI
	switch {
	case udi == "":
		udi = "-"
	case strings.IndexFunc(udi, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0:
		udi = strconv.Quote(udi) // not authenticated: never let it forge a line
	}
	line := fmt.Sprintf("%s %s %s %s %d %s", e.Remote, oneLine(e.Method), oneLine(e.Path), udi, e.Status, e.Duration.Round(10*time.Microsecond))
	// The authority's own failures, and a key or clock that stops it from
	// signing, need the operator: they are logged even with --quiet.
	if e.Status >= 500 && e.Status != 503 || errors.Is(e.Err, authority.ErrNoKey) || errors.Is(e.Err, authority.ErrClock) {
		out.write(prefix + "error: " + line + ": " + oneLine(fmt.Sprint(e.Err)) + "\n")
		return
	}
	if quiet {
		return
	}
	if e.Err != nil {
		line += ": " + e.Code + ": " + oneLine(e.Err.Error())
	}
	out.write(prefix + line + "\n")
}

// A lineWriter writes whole lines from many goroutines.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lineWriter) write(s string) { l.Write([]byte(s)) }

func (l *lineWriter) note(format string, args ...any) {
	l.write(fmt.Sprintf(prefix+format+"\n", args...))
}

func (l *lineWriter) warn(format string, args ...any) {
	l.write(fmt.Sprintf(prefix+"warning: "+format+"\n", args...))
}

// defaultTLSHosts are the names a certificate made here is for: the
// loopback ones, this machine's host name, and extra.
func defaultTLSHosts(extra []string) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && service.CheckHost(h) == nil {
		hosts = append(hosts, h)
	}
	for _, h := range append(hosts[:len(hosts):len(hosts)], extra...) {
		if !slices.ContainsFunc(hosts, func(x string) bool { return strings.EqualFold(x, h) }) {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// ensureTLSCert makes tls.crt and tls.key in dir when neither exists, and
// reports whether it did. One without the other is an error.
func ensureTLSCert(dir, name string, hosts []string, now time.Time) (bool, error) {
	certPath, keyPath := filepath.Join(dir, tlsCertFile), filepath.Join(dir, tlsKeyFile)
	_, cerr := os.Lstat(certPath)
	_, kerr := os.Lstat(keyPath)
	switch {
	case cerr == nil && kerr == nil:
		return false, nil
	case errors.Is(cerr, fs.ErrNotExist) && errors.Is(kerr, fs.ErrNotExist):
		return true, writeTLSCert(dir, name, hosts, now)
	case cerr == nil || kerr == nil:
		return false, withHint(fmt.Errorf("%w: the authority folder %s holds one of %s and %s without the other", authority.ErrInvalid, dir, tlsCertFile, tlsKeyFile),
			"restore the missing one from a backup, or move the other away to have serve make a new pair (then give every instance the new tls.crt)")
	}
	return false, errors.Join(cerr, kerr)
}

// writeTLSCert writes a new self-signed certificate and its key to dir,
// never over an existing file; on failure it leaves neither.
func writeTLSCert(dir, name string, hosts []string, now time.Time) error {
	certPEM, keyPEM, err := service.GenerateCertificate(rand.Reader, name, defaultTLSHosts(hosts), now)
	if err != nil {
		return err
	}
	keyPath := filepath.Join(dir, tlsKeyFile)
	if err := writeNewFile(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	if err := writeNewFile(filepath.Join(dir, tlsCertFile), certPEM, 0o644); err != nil {
		os.Remove(keyPath)
		return err
	}
	return nil
}

// initTLSCert is init's hook: the certificate of a new authority, or a
// warning that serve will make it.
func initTLSCert(c *cli.Context, dir, name string, now time.Time) {
	stderr := c.App.ErrWriter
	for _, h := range c.StringSlice(flagTLSHost) {
		if err := service.CheckHost(h); err != nil {
			warn(stderr, "no TLS certificate made: --%s: %v; 'airlock authority serve --tls-host NAME' makes it", flagTLSHost, err)
			return
		}
	}
	if err := writeTLSCert(dir, name, c.StringSlice(flagTLSHost), now); err != nil {
		warn(stderr, "no TLS certificate made: %v; 'airlock authority serve' makes it when it first starts", err)
		return
	}
	_, leaf, err := loadTLSCert(filepath.Join(dir, tlsCertFile), filepath.Join(dir, tlsKeyFile))
	if err != nil {
		warn(stderr, "the TLS certificate just made does not load: %v", err)
		return
	}
	note(stderr, "wrote %s: the TLS certificate of 'airlock authority serve', for %s, SHA-256 %s",
		filepath.Join(dir, tlsCertFile), strings.Join(certHosts(leaf), ", "), service.Fingerprint(leaf.Raw))
}

func certHosts(leaf *x509.Certificate) []string {
	out := slices.Clone(leaf.DNSNames)
	for _, ip := range leaf.IPAddresses {
		out = append(out, ip.String())
	}
	return out
}

// loadTLSCert loads a certificate and its key, and parses the leaf.
func loadTLSCert(certPath, keyPath string) (tls.Certificate, *x509.Certificate, error) {
	certPEM, err := readFile(certPath, maxCertFileSize)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	keyPEM, err := readFile(keyPath, maxCertFileSize)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, nil, withHint(fmt.Errorf("%w: TLS certificate %s with key %s: %v", authority.ErrInvalid, certPath, keyPath, err),
			"give a PEM certificate (the chain after it) and its PEM private key")
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("%w: TLS certificate %s: %v", authority.ErrInvalid, certPath, err)
	}
	cert.Leaf = leaf
	return cert, leaf, nil
}
