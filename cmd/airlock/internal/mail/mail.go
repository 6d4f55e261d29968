// Package mail sends the authority's alerts by e-mail, or leaves them in an
// outbox folder when no mail server is configured.
//
// Check what the operator typed with ParseAddress (recipients) and
// ParseSMTP (the server), build a Message, then either Send it through an
// SMTP server or WriteOutbox it. Both render the message the same way
// (Message.Render): plain UTF-8 text, quoted-printable, no attachments and
// no HTML.
//
// Send uses TLS whenever the server offers it and verifies the server's
// certificate; there is no option to skip that verification, and none must
// be added: a server with a private certificate is trusted by adding its CA
// to SMTP.TLSConfig.RootCAs. It never sends a password over an unencrypted
// connection, except to localhost. Addresses and header values are checked
// before anything is sent, so text from a product or account name can never
// add a header or a recipient.
//
// The package never prints or prompts; the caller reads the password from
// PasswordEnv and reports errors.
package mail

import "errors"

// Errors returned by this package wrap exactly one of these sentinels,
// except that a Send stopped by cancelling its context wraps
// context.Canceled, and WriteOutbox returns file system errors (match them
// with errors.Is and fs.ErrPermission and the like). Messages name the
// server as host:port and the SMTP step; they never contain a password or
// a message body.
var (
	// ErrAddress means the text is not a bare e-mail address of the form
	// local@domain.
	ErrAddress = errors.New("invalid e-mail address")
	// ErrMessage means the message cannot be rendered: no recipient, an
	// invalid address, a line break or control character in a header
	// value, or text that is not UTF-8. Nothing was sent.
	ErrMessage = errors.New("invalid message")
	// ErrSpec means the text does not name an SMTP server in a form
	// ParseSMTP accepts, or an SMTP value is incomplete.
	ErrSpec = errors.New("invalid SMTP server")
	// ErrConnect means no SMTP session could be set up (the name did not
	// resolve, the connection was refused, the peer did not greet as an
	// SMTP server), or the connection was lost before the server accepted
	// the message.
	ErrConnect = errors.New("SMTP connection failed")
	// ErrTLS means TLS was required and the server does not offer
	// STARTTLS, or the TLS handshake failed (for example, a certificate
	// that does not verify). Nothing was sent in the clear beyond EHLO
	// and STARTTLS.
	ErrTLS = errors.New("SMTP TLS failed")
	// ErrAuth means the server refused the user name and password, offers
	// no AUTH PLAIN, or the connection is not encrypted so the password
	// was not sent.
	ErrAuth = errors.New("SMTP authentication failed")
	// ErrRejected means the server refused the sender, a recipient or the
	// message. A refused recipient aborts the whole message: nobody
	// received it.
	ErrRejected = errors.New("SMTP server rejected the message")
	// ErrTimeout means the server did not answer within SMTP.Timeout, or
	// the context's deadline passed.
	ErrTimeout = errors.New("SMTP server timed out")
)

// PasswordEnv is the environment variable the command line reads the SMTP
// password from. A password is never accepted in a server spec.
const PasswordEnv = "AIRLOCK_SMTP_PASSWORD"

// An Error is what Send returns once it has a server to talk to. It
// matches its Kind (one of the sentinels, or context.Canceled) and its Err
// with errors.Is and errors.As; a reply from the server is a
// *textproto.Error carrying the SMTP code, its text quoted in the message
// so that a server cannot write control characters to a terminal.
type Error struct {
	Server string // host:port
	Step   string // "connect", "TLS handshake", "greeting", "EHLO", "STARTTLS", "AUTH PLAIN", "MAIL FROM <a@b>", "RCPT TO <a@b>", "DATA", "end of DATA"
	Kind   error
	Err    error
}

// Error reads, for example,
//
//	smtp mail.plant.example:587: RCPT TO <x@plant.example>: 550 "5.1.1 no such user"
func (e *Error) Error() string {
	return "smtp " + e.Server + ": " + e.Step + ": " + e.Err.Error()
}

func (e *Error) Unwrap() []error { return []error{e.Kind, e.Err} }

// kindError is an error whose message stands alone (it already says what
// is wrong) but that matches a sentinel.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// isLocalhost reports whether host is one of the names net/smtp lets
// AUTH PLAIN use without TLS (the same three strings, compared exactly): a
// password sent to it never crosses a network.
func isLocalhost(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}
