package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"
)

// DefaultTimeout bounds a whole Send when SMTP.Timeout is zero: connecting,
// the TLS handshake and every exchange up to the server's acceptance of the
// message. An alert is a few kilobytes, so a server that takes longer is
// not going to deliver it.
const DefaultTimeout = 30 * time.Second

// A TLSMode says how Send protects the connection. In every mode that uses
// TLS, the server's certificate is verified against SMTP.TLSConfig.RootCAs
// (the system roots when nil) and the host name of SMTP.Addr.
type TLSMode int

const (
	// StartTLSIfOffered upgrades the connection with STARTTLS when the
	// server offers it, and otherwise sends the message in the clear. A
	// failed upgrade (say, a certificate that does not verify) is an
	// error, never a reason to go on in the clear. An attacker on the path
	// can hide the offer: a password is still never sent in the clear
	// (except to localhost), but the message is. It is the zero value.
	StartTLSIfOffered TLSMode = iota
	// StartTLSRequired refuses a server that does not offer STARTTLS,
	// before anything but EHLO is sent.
	StartTLSRequired
	// ImplicitTLS starts TLS as soon as the connection is open, as servers
	// on port 465 expect (RFC 8314 section 3).
	ImplicitTLS
)

// String returns "starttls-if-offered", "starttls-required" or
// "implicit-tls".
func (m TLSMode) String() string {
	switch m {
	case StartTLSIfOffered:
		return "starttls-if-offered"
	case StartTLSRequired:
		return "starttls-required"
	case ImplicitTLS:
		return "implicit-tls"
	}
	return fmt.Sprintf("TLSMode(%d)", int(m))
}

// SMTP is a mail server to submit messages to, usually from ParseSMTP. The
// caller sets Password (from PasswordEnv on the command line) when Username
// is set.
type SMTP struct {
	Addr      string        // host:port
	Username  string        // AUTH PLAIN with Password when not empty; no authentication when empty
	Password  string        // never printed, never part of an error
	TLS       TLSMode       // StartTLSIfOffered when zero
	Timeout   time.Duration // for the whole of Send; DefaultTimeout when zero
	TLSConfig *tls.Config   // nil: the system roots; ServerName defaults to the host of Addr; InsecureSkipVerify is refused
	LocalName string        // the name sent with EHLO; "localhost" when empty
}

// Send submits m to the server: connect, TLS per s.TLS, EHLO, AUTH PLAIN
// when s.Username is set, MAIL FROM, RCPT TO for each recipient, DATA and
// QUIT. It returns nil once the server has accepted the message, even if
// QUIT then fails, so a caller that retries on error never sends a message
// twice because of it.
//
// The message is rendered and checked (Message.Render) before connecting.
// If the server refuses any recipient, the message is sent to nobody. The
// connection is closed when ctx ends or after s.Timeout, whichever comes
// first. Errors from the server are *Error values that name s.Addr and
// the step; the password never appears in them.
func (s *SMTP) Send(ctx context.Context, m *Message) error {
	data, err := m.Render()
	if err != nil {
		return err
	}
	from, to, _ := m.check()
	host, err := s.check()
	if err != nil {
		return err
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ss := &session{server: s.Addr, ctx: ctx, timeout: timeout}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline, ss.ctxDeadline = d, true
	}

	dialer := net.Dialer{Deadline: deadline}
	conn, err := dialer.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return ss.fail("connect", ErrConnect, err)
	}
	// net/smtp has no deadlines of its own: one on the connection bounds
	// every exchange, and cancelling ctx moves it to the past so that a
	// blocked read or write returns at once.
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	cfg := s.TLSConfig.Clone()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	if s.TLS == ImplicitTLS {
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return ss.fail("TLS handshake", ErrTLS, err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return ss.fail("greeting", ErrConnect, err)
	}
	if err := ss.converse(c, s, cfg, host, from, to, data); err != nil {
		var e *Error
		if errors.As(err, &e) && e.Kind != ErrTimeout && e.Kind != ErrConnect && e.Kind != context.Canceled {
			c.Quit() // the server is still listening: end the session politely
		}
		c.Close()
		return err
	}
	c.Quit() // the message is accepted: a failure here changes nothing
	c.Close()
	return nil
}

// check validates s before connecting and returns the host of s.Addr.
func (s *SMTP) check() (host string, err error) {
	host, _, err = net.SplitHostPort(s.Addr)
	if err != nil || host == "" {
		return "", &kindError{ErrSpec, fmt.Sprintf("SMTP server address %q is not host:port", s.Addr)}
	}
	switch {
	case s.TLS < StartTLSIfOffered || s.TLS > ImplicitTLS:
		return "", &kindError{ErrSpec, fmt.Sprintf("unknown SMTP TLS mode %d", int(s.TLS))}
	case s.Username == "" && s.Password != "":
		return "", &kindError{ErrSpec, "an SMTP password without a user name: put the user in the server spec, as in smtp://user@host"}
	case strings.ContainsAny(s.Username, "\x00\r\n"):
		return "", &kindError{ErrSpec, "the SMTP user name contains a control character"}
	case strings.ContainsRune(s.Password, 0):
		return "", &kindError{ErrSpec, "the SMTP password contains a NUL byte, which AUTH PLAIN cannot carry"}
	case s.Username != "" && s.Password == "":
		return "", &kindError{ErrSpec, fmt.Sprintf("no password for SMTP user %q: set %s", s.Username, PasswordEnv)}
	case s.TLSConfig != nil && s.TLSConfig.InsecureSkipVerify:
		return "", &kindError{ErrSpec, "SMTP TLS without certificate verification is not supported: add the server's CA to TLSConfig.RootCAs"}
	case strings.ContainsAny(s.LocalName, " \r\n"):
		return "", &kindError{ErrSpec, fmt.Sprintf("EHLO name %q contains a space or line break", s.LocalName)}
	}
	return host, nil
}

// session names the server and step in errors.
type session struct {
	server      string
	ctx         context.Context
	timeout     time.Duration
	ctxDeadline bool // the deadline on the connection is ctx's, earlier than timeout
}

// converse runs the exchange after the greeting, up to the acceptance of
// the message.
func (ss *session) converse(c *smtp.Client, s *SMTP, cfg *tls.Config, host, from string, to []string, data []byte) error {
	local := s.LocalName
	if local == "" {
		local = "localhost"
	}
	if err := c.Hello(local); err != nil {
		return ss.fail("EHLO", ErrConnect, err)
	}
	if s.TLS != ImplicitTLS {
		offered, _ := c.Extension("STARTTLS")
		switch {
		case offered:
			if err := c.StartTLS(cfg); err != nil {
				return ss.fail("STARTTLS", ErrTLS, err)
			}
		case s.TLS == StartTLSRequired:
			return &Error{Server: ss.server, Step: "STARTTLS", Kind: ErrTLS,
				Err: errors.New("the server does not offer it and TLS is required, so nothing was sent")}
		}
	}
	if s.Username != "" {
		if err := ss.auth(c, s, host); err != nil {
			return err
		}
	}
	if err := c.Mail(from); err != nil {
		return ss.fail("MAIL FROM <"+from+">", ErrRejected, err)
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt); err != nil {
			return ss.fail("RCPT TO <"+rcpt+">", ErrRejected, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return ss.fail("DATA", ErrRejected, err)
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return ss.fail("DATA", ErrRejected, err)
	}
	if err := w.Close(); err != nil {
		return ss.fail("end of DATA", ErrRejected, err)
	}
	return nil
}

// auth runs AUTH PLAIN, after checking what net/smtp would otherwise
// report as a bare "unencrypted connection".
func (ss *session) auth(c *smtp.Client, s *SMTP, host string) error {
	const step = "AUTH PLAIN"
	if _, encrypted := c.TLSConnectionState(); !encrypted && !isLocalhost(host) {
		return &Error{Server: ss.server, Step: step, Kind: ErrAuth,
			Err: errors.New("the server does not offer STARTTLS, and the password is never sent unencrypted; use smtps:// if the server has an implicit TLS port")}
	}
	ok, mechs := c.Extension("AUTH")
	if !ok {
		return &Error{Server: ss.server, Step: step, Kind: ErrAuth,
			Err: errors.New("the server offers no authentication: remove the user name from the server spec")}
	}
	plain := false
	for m := range strings.FieldsSeq(mechs) {
		plain = plain || strings.EqualFold(m, "PLAIN")
	}
	if !plain {
		return &Error{Server: ss.server, Step: step, Kind: ErrAuth,
			Err: fmt.Errorf("the server does not offer PLAIN, only %q", mechs)}
	}
	if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, host)); err != nil {
		return ss.fail(step, ErrAuth, err)
	}
	return nil
}

// fail wraps err, which happened at step, as an *Error of the given kind,
// unless the context ended or the deadline passed, or a step expecting a
// reply (ErrRejected) lost the connection instead.
func (ss *session) fail(step string, kind, err error) error {
	var reply *textproto.Error
	var ne net.Error
	switch cerr := ss.ctx.Err(); {
	case errors.Is(cerr, context.Canceled):
		kind, err = cerr, cerr
	case cerr != nil:
		kind, err = ErrTimeout, cerr
	case errors.As(err, &ne) && ne.Timeout() && ss.ctxDeadline:
		// The connection's deadline can pass a moment before ctx's timer
		// fires.
		kind, err = ErrTimeout, context.DeadlineExceeded
	case errors.As(err, &ne) && ne.Timeout():
		kind, err = ErrTimeout, fmt.Errorf("no answer within the %v timeout", ss.timeout)
	case kind == ErrRejected && !errors.As(err, &reply):
		kind = ErrConnect
	}
	return &Error{Server: ss.server, Step: step, Kind: kind, Err: err}
}
