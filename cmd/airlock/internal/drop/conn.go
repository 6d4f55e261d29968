package drop

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// A session is one verified, authenticated SFTP connection.
type session struct {
	u        *URL
	user     string // as sent to the server
	parent   context.Context
	ctx      context.Context // carries the overall deadline
	cancel   context.CancelFunc
	timeout  time.Duration
	deadline time.Time // of ctx, also set on the connection; a Session's moves with each operation (extend)

	conn net.Conn
	stop func() bool // stops closing conn when ctx ends
	ssh  *ssh.Client
	sftp *sftp.Client

	mu    sync.Mutex // guards deadline once the session is in use
	meter *meterConn // conn, counting what the server sends (Session.List)
}

// dial connects, checks the host key, authenticates and starts SFTP.
//
// ssh.ClientConfig.Timeout covers only the TCP connect, so a server that
// accepts and never sends its banner would hang the client (ATTACKS.md T65):
// the connection gets a deadline for the handshake, then the overall one,
// and is closed when ctx ends.
func dial(parent context.Context, u *URL, opt *Options) (*session, error) {
	return connect(parent, u, opt, false)
}

// connect is dial. With perOp, the session is a Session's: it lives until
// closed or until ctx ends, and each operation gets Options.Timeout from
// its start (extend) instead of one deadline for everything.
func connect(parent context.Context, u *URL, opt *Options, perOp bool) (*session, error) {
	if u == nil {
		panic("drop: nil URL")
	}
	name := u.User
	if name == "" {
		if cu, err := user.Current(); err == nil {
			name = cu.Username
		} else {
			name = opt.getenv("USER")
		}
		if name == "" {
			return nil, fmt.Errorf("%w: no user in the URL and the local user name is unknown: write sftp://user@%s/…", ErrURL, hostPort(u.Host, u.Port))
		}
	}
	known, err := loadKnownHosts(opt)
	if err != nil {
		return nil, err
	}

	s := &session{u: u, user: name, parent: parent, timeout: opt.timeout()}
	var deadline time.Time
	if perOp {
		s.ctx, s.cancel = context.WithCancel(parent)
		deadline = time.Now().Add(s.timeout)
		if d, ok := parent.Deadline(); ok {
			deadline = earliest(deadline, d)
		}
	} else {
		s.ctx, s.cancel = context.WithTimeout(parent, s.timeout)
		deadline, _ = s.ctx.Deadline()
	}
	s.deadline = deadline
	hsDeadline := earliest(time.Now().Add(opt.handshakeTimeout()), deadline)

	creds, err := loadCredentials(opt, name, u, hsDeadline)
	if err != nil {
		s.cancel()
		return nil, err
	}
	defer creds.close()

	dctx, dcancel := context.WithDeadline(s.ctx, hsDeadline)
	var d net.Dialer
	conn, err := d.DialContext(dctx, "tcp", u.Addr())
	dcancel()
	if err != nil {
		err = s.dialError(err, opt.handshakeTimeout())
		s.cancel()
		return nil, err
	}
	s.meter = &meterConn{Conn: conn}
	conn = s.meter
	s.conn = conn
	s.stop = context.AfterFunc(s.ctx, func() { conn.Close() })
	conn.SetDeadline(hsDeadline)
	creds.conn, creds.handshake, creds.hsDeadline, creds.deadline = conn, opt.handshakeTimeout(), hsDeadline, deadline

	check := &hostKeyCheck{known: known}
	cfg := &ssh.ClientConfig{
		User:              name,
		Auth:              creds.methods(),
		HostKeyCallback:   check.verify,
		HostKeyAlgorithms: known.algorithms(u.Addr()),
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, u.Addr(), cfg)
	if err != nil {
		err = s.handshakeError(err, check, creds, cfg.HostKeyAlgorithms, known.file, opt.handshakeTimeout())
		s.close()
		return nil, err
	}
	conn.SetDeadline(deadline)
	s.ssh = ssh.NewClient(c, chans, reqs)
	s.sftp, err = sftp.NewClient(s.ssh)
	if err != nil {
		if te := s.timeoutError(); te != nil {
			err = te
		} else {
			err = fmt.Errorf("%w: %s does not offer the SFTP subsystem: %v", ErrConnect, u.Addr(), err)
		}
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *session) close() {
	if s.sftp != nil {
		s.sftp.Close()
	}
	if s.ssh != nil {
		s.ssh.Close()
	}
	if s.conn != nil {
		s.conn.Close()
	}
	if s.stop != nil {
		s.stop()
	}
	s.cancel()
}

// timeoutError returns the error for an ended ctx or a passed deadline, nil
// otherwise.
func (s *session) timeoutError() error {
	if err := s.parent.Err(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("SFTP transfer with %s stopped: %w", s.u.Addr(), err)
	}
	// The connection's deadline may fire a moment before ctx's timer.
	s.mu.Lock()
	deadline := s.deadline
	s.mu.Unlock()
	if errors.Is(s.ctx.Err(), context.DeadlineExceeded) || !time.Now().Before(deadline) {
		return fmt.Errorf("%w: %s did not complete within %v", ErrTimeout, s.u, s.timeout)
	}
	return nil
}

func (s *session) dialError(err error, handshake time.Duration) error {
	if te := s.timeoutError(); te != nil {
		return te
	}
	var dns *net.DNSError
	switch {
	case errors.As(err, &dns) && dns.IsTimeout:
		return fmt.Errorf("%w: resolving %q timed out", ErrTimeout, s.u.Host)
	case errors.As(err, &dns):
		return fmt.Errorf("%w: cannot resolve host %q: %v", ErrConnect, s.u.Host, dns.Err)
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%w: connecting to %s timed out after %v", ErrTimeout, s.u.Addr(), handshake)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w: connection refused by %s: is the SSH server running on that port?", ErrConnect, s.u.Addr())
	}
	return fmt.Errorf("%w: %s: %v", ErrConnect, s.u.Addr(), err)
}

func (s *session) handshakeError(err error, check *hostKeyCheck, creds *credentials, algs []string, known string, handshake time.Duration) error {
	if check.err != nil {
		return check.err
	}
	if te := s.timeoutError(); te != nil {
		return te
	}
	// A deadline that passes during authentication shows up as a
	// failed method, not as a timeout.
	if errors.Is(err, os.ErrDeadlineExceeded) || !time.Now().Before(creds.hsDeadline) {
		return fmt.Errorf("%w: SSH handshake with %s timed out after %v: the server accepted the connection but did not complete the handshake", ErrTimeout, s.u.Addr(), handshake)
	}
	var ane *ssh.AlgorithmNegotiationError
	if errors.As(err, &ane) && ane.What == "host key" && len(algs) > 0 {
		// known_hosts holds keys for the host, and it offers none of
		// their types: as suspicious as a changed key.
		return fmt.Errorf("%w: HOST KEY MISMATCH (possible man-in-the-middle): %s offers host keys of types %s only, "+
			"but %s holds keys of types %s for it; nothing was sent to the server; if the server's keys were replaced on purpose, "+
			"get the new fingerprint out of band and update known_hosts",
			ErrHostKey, knownhosts.Normalize(s.u.Addr()), strings.Join(ane.RequestedAlgorithms, ", "), known, strings.Join(algs, ", "))
	}
	if !check.verified {
		return fmt.Errorf("%w: SSH handshake with %s failed before the host key was checked: %v", ErrConnect, s.u.Addr(), err)
	}
	if creds.err != nil {
		return fmt.Errorf("%w: user %q on %s: %v", ErrAuth, s.user, s.u.Addr(), creds.err)
	}
	msg := fmt.Sprintf("user %q on %s was refused; %s", s.user, s.u.Addr(), creds.describe())
	if !errors.Is(err, errPasswordSent) {
		msg += " (" + strings.TrimPrefix(err.Error(), "ssh: handshake failed: ") + ")"
	}
	return fmt.Errorf("%w: %s", ErrAuth, msg)
}

// fail turns an error of an SFTP operation on the session into one wrapping
// a sentinel. op describes the operation and is followed by the URL.
func (s *session) fail(op string, err error) error {
	return s.failAt(s.u, op, err)
}

// failAt is fail for an operation on u, a path on the session's server.
func (s *session) failAt(u *URL, op string, err error) error {
	if te := s.timeoutError(); te != nil {
		return te
	}
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: %s", ErrNotFound, u)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%w: %s %s", ErrPermission, op, u)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%w: %s did not complete within %v", ErrTimeout, u, s.timeout)
	}
	var st *sftp.StatusError
	if errors.As(err, &st) {
		return fmt.Errorf("%w: %s %s: the server said: %v", ErrTransfer, op, u, err)
	}
	return fmt.Errorf("%w: %s %s: connection to %s lost: %v", ErrTransfer, op, u, u.Addr(), err)
}

// tempName returns a fresh name for Put's temporary file.
func tempName() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return TempPrefix + hex.EncodeToString(b[:]), nil
}
