// Package droptest runs SFTP servers for the tests of package drop and of
// the airlock command: an in-process SSH server from x/crypto whose SFTP
// subsystem serves either the caller's sftp.Handlers or a real folder (Dir),
// and a real OpenSSH server (StartOpenSSH) on a free loopback port.
//
// Start with NewServer in a test, or Start where there is no testing.TB
// (a testscript command). Never use this package outside tests: the server
// accepts any user name and its handlers trust the client.
package droptest

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// A Server is an SSH server on the loopback interface offering only the
// SFTP subsystem.
type Server struct {
	Addr     string       // host:port as dialed, e.g. "127.0.0.1:41234"
	Host     string       // the host part of Addr
	Port     int          // the port part of Addr
	HostKeys []ssh.Signer // the keys the server presents; the first is the one to trust

	// AuthAttempts counts the password and keyboard-interactive attempts,
	// right or wrong.
	AuthAttempts atomic.Int64

	password   string
	kbdOnly    bool
	authDelay  time.Duration
	authorized []ssh.PublicKey
	handlers   *sftp.Handlers
	listen     string

	mu        sync.Mutex
	passwords []string
	conns     []net.Conn
	ln        net.Listener
	wg        sync.WaitGroup
	closed    bool
}

// An Option configures a Server.
type Option func(*Server)

// WithPassword makes the server accept pw with password and
// keyboard-interactive authentication. Without it the server offers
// neither.
func WithPassword(pw string) Option { return func(s *Server) { s.password = pw } }

// WithKbdOnly offers keyboard-interactive authentication but not password
// authentication (with WithPassword).
func WithKbdOnly() Option { return func(s *Server) { s.kbdOnly = true } }

// WithAuthDelay makes the server stall for d before it answers a password.
func WithAuthDelay(d time.Duration) Option { return func(s *Server) { s.authDelay = d } }

// WithHostKeys sets the server's host keys; the default is one fresh
// Ed25519 key.
func WithHostKeys(keys ...ssh.Signer) Option { return func(s *Server) { s.HostKeys = keys } }

// WithAuthorized makes the server accept these public keys.
func WithAuthorized(keys ...ssh.PublicKey) Option {
	return func(s *Server) { s.authorized = append(s.authorized, keys...) }
}

// WithListenAddr listens on addr instead of 127.0.0.1:0, e.g. "[::1]:0".
func WithListenAddr(addr string) Option { return func(s *Server) { s.listen = addr } }

// WithHandlers serves SFTP requests with h; the default serves nothing
// (every request fails).
func WithHandlers(h sftp.Handlers) Option { return func(s *Server) { s.handlers = &h } }

// NewServer starts a server that stops when the test ends.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := Start(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Start starts a server; the caller must Close it.
func Start(opts ...Option) (*Server, error) {
	s := &Server{listen: "127.0.0.1:0"}
	for _, o := range opts {
		o(s)
	}
	if s.HostKeys == nil {
		k, err := newEd25519Signer()
		if err != nil {
			return nil, err
		}
		s.HostKeys = []ssh.Signer{k}
	}
	if s.password == "" && len(s.authorized) == 0 {
		// x/crypto refuses to serve without an authentication method.
		k, err := newEd25519Signer()
		if err != nil {
			return nil, err
		}
		s.authorized = []ssh.PublicKey{k.PublicKey()}
	}
	if s.handlers == nil {
		h := sftp.Handlers{}
		s.handlers = &h
	}
	cfg := &ssh.ServerConfig{}
	for _, k := range s.HostKeys {
		cfg.AddHostKey(k)
	}
	if s.password != "" {
		if !s.kbdOnly {
			cfg.PasswordCallback = func(_ ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
				return nil, s.checkPassword(string(pw))
			}
		}
		cfg.KeyboardInteractiveCallback = func(_ ssh.ConnMetadata, ask ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
			if _, err := ask("", "welcome", nil, nil); err != nil {
				return nil, err
			}
			ans, err := ask("", "", []string{"Password: "}, []bool{false})
			if err != nil {
				return nil, err
			}
			if len(ans) != 1 {
				return nil, errors.New("want one answer")
			}
			return nil, s.checkPassword(ans[0])
		}
	}
	if len(s.authorized) > 0 {
		cfg.PublicKeyCallback = func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			for _, k := range s.authorized {
				if string(k.Marshal()) == string(key.Marshal()) {
					return nil, nil
				}
			}
			return nil, errors.New("unknown key")
		}
	}
	ln, err := net.Listen("tcp", s.listen)
	if err != nil {
		return nil, fmt.Errorf("droptest: listen: %w", err)
	}
	s.ln = ln
	s.Addr = ln.Addr().String()
	s.Host, _, _ = net.SplitHostPort(s.Addr)
	s.Port = ln.Addr().(*net.TCPAddr).Port
	s.wg.Add(1)
	go s.serve(cfg)
	return s, nil
}

func (s *Server) checkPassword(pw string) error {
	time.Sleep(s.authDelay)
	s.AuthAttempts.Add(1)
	s.mu.Lock()
	s.passwords = append(s.passwords, pw)
	s.mu.Unlock()
	if pw != s.password {
		return errors.New("wrong password")
	}
	return nil
}

// Passwords returns every password received, in order.
func (s *Server) Passwords() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.passwords...)
}

func (s *Server) serve(cfg *ssh.ServerConfig) {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns = append(s.conns, c)
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.handle(c, cfg)
		}()
	}
}

func (s *Server) handle(c net.Conn, cfg *ssh.ServerConfig) {
	defer c.Close()
	sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	var wg sync.WaitGroup
	defer wg.Wait()
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer ch.Close()
			for req := range chReqs {
				ok := req.Type == "subsystem" && len(req.Payload) > 4 && string(req.Payload[4:]) == "sftp"
				req.Reply(ok, nil)
				if ok {
					srv := sftp.NewRequestServer(ch, *s.handlers)
					srv.Serve()
					srv.Close()
					return
				}
			}
		}()
	}
}

// DropConnections closes every server-side connection, as a server that
// dies mid-transfer would.
func (s *Server) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
}

// Close stops the server and waits for its connections to end.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.ln.Close()
	s.DropConnections()
	s.wg.Wait()
}

// KnownHostsLine returns the known_hosts line that trusts key at the
// server's address, e.g. "[127.0.0.1]:41234 ssh-ed25519 AAAA…".
func (s *Server) KnownHostsLine(key ssh.PublicKey) string {
	return knownhosts.Line([]string{s.Addr}, key)
}
