package mail

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Default ports: message submission with STARTTLS (RFC 6409) and with
// implicit TLS (RFC 8314 section 7.3).
const (
	DefaultPort    = 587
	DefaultTLSPort = 465
)

const wantSpec = "want host[:port], smtp://[user@]host[:port][?tls=required] or smtps://[user@]host[:port]"

// ParseSMTP parses the mail server an operator names:
//
//	mail.plant.example               port 587, STARTTLS when offered
//	mail.plant.example:2525          STARTTLS when offered
//	smtp://mail.plant.example        port 587, STARTTLS when offered
//	smtp://alerts@mail.plant.example:587?tls=required
//	                                 refuse a server without STARTTLS
//	smtps://alerts@mail.plant.example
//	                                 port 465, implicit TLS
//
// A host may be a name, an IPv4 address or an IPv6 address in brackets
// ([::1]:2525). A user name needs the URL form and may be URL-escaped
// (smtp://alerts%40plant.example@mail.plant.example); a password is never
// accepted, the caller sets SMTP.Password (the command line reads it from
// PasswordEnv). Errors wrap ErrSpec and never quote a URL's user part, so
// a password typed in by mistake is not repeated.
func ParseSMTP(spec string) (*SMTP, error) {
	s := strings.TrimSpace(spec)
	bad := func(format string, args ...any) (*SMTP, error) {
		return nil, &kindError{ErrSpec, "invalid SMTP server: " + fmt.Sprintf(format, args...)}
	}
	if s == "" {
		return bad("empty; %s", wantSpec)
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c == 0x7f {
			return bad("spaces and control characters are not allowed; %s", wantSpec)
		}
	}
	scheme, rest, isURL := strings.Cut(s, "://")
	if !isURL {
		return parseBare(s)
	}
	mode := StartTLSIfOffered
	port := DefaultPort
	switch strings.ToLower(scheme) {
	case "smtp":
	case "smtps":
		mode, port = ImplicitTLS, DefaultTLSPort
	default:
		return bad("unsupported scheme %q; %s", scheme, wantSpec)
	}
	authority, _, _ := strings.Cut(rest, "/")
	authority, _, _ = strings.Cut(authority, "?")
	if i := strings.LastIndex(authority, "@"); i >= 0 && strings.Contains(authority[:i], ":") {
		return bad("passwords are not accepted in the server spec; set %s", PasswordEnv)
	}
	u, err := url.Parse(s)
	if err != nil {
		// url.Error quotes the whole input; keep only the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return bad("%v; %s", err, wantSpec)
	}
	if u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		return bad("nothing may follow the host and port but ?tls=required; %s", wantSpec)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("query %q: %v", u.RawQuery, err)
	}
	for k, v := range q {
		switch {
		case k != "tls":
			return bad("unknown parameter %q: the only one is tls=required", k)
		case mode == ImplicitTLS:
			return bad("smtps:// always uses TLS: remove ?tls=")
		case len(v) != 1 || v[0] != "required":
			return bad("tls=%q: the only value is tls=required", strings.Join(v, ","))
		}
		mode = StartTLSRequired
	}
	m := &SMTP{TLS: mode}
	if u.User != nil {
		m.Username = u.User.Username()
		if m.Username == "" {
			return bad("empty user name before @")
		}
		if strings.ContainsAny(m.Username, "\x00\r\n") {
			return bad("the user name contains a control character")
		}
	}
	host := u.Hostname() // url.Parse refuses brackets around anything but IPv6
	if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
		if port, err = parsePort(p); err != nil {
			return nil, err
		}
	}
	if m.Addr, err = joinHostPort(host, port); err != nil {
		return nil, err
	}
	return m, nil
}

// parseBare parses host or host:port, without a scheme.
func parseBare(s string) (*SMTP, error) {
	bad := func(format string, args ...any) (*SMTP, error) {
		return nil, &kindError{ErrSpec, "invalid SMTP server: " + fmt.Sprintf(format, args...)}
	}
	if strings.Contains(s, "@") {
		// Not quoted: it may be user:password@host.
		return bad("a user name needs the URL form smtp://user@host, and an e-mail address is not a server; %s", wantSpec)
	}
	if strings.ContainsAny(s, "/?#") {
		return bad("%q is not host[:port]; %s", s, wantSpec)
	}
	host, port := s, DefaultPort
	switch {
	case strings.HasPrefix(s, "["):
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			if !strings.HasSuffix(s, "]") {
				return bad("%q is not [IPv6]:port", s)
			}
			h = s[1 : len(s)-1]
		} else if port, err = parsePort(p); err != nil {
			return nil, err
		}
		if !strings.Contains(h, ":") {
			return bad("%q is not an IPv6 address: only those go in brackets", h)
		}
		host = h
	case strings.Count(s, ":") > 1:
		return bad("%q: put an IPv6 address in brackets, as in [2001:db8::25]:587", s)
	case strings.Contains(s, ":"):
		h, p, _ := strings.Cut(s, ":")
		var err error
		if port, err = parsePort(p); err != nil {
			return nil, err
		}
		host = h
	}
	addr, err := joinHostPort(host, port)
	if err != nil {
		return nil, err
	}
	return &SMTP{Addr: addr}, nil
}

func parsePort(p string) (int, error) {
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 || strings.HasPrefix(p, "+") {
		return 0, &kindError{ErrSpec, fmt.Sprintf("invalid SMTP server: port %q is not a number from 1 to 65535", p)}
	}
	return n, nil
}

// joinHostPort checks host, a name or an IP address without brackets.
func joinHostPort(host string, port int) (string, error) {
	bad := func(format string, args ...any) (string, error) {
		return "", &kindError{ErrSpec, "invalid SMTP server: " + fmt.Sprintf(format, args...)}
	}
	switch {
	case host == "":
		return bad("no host; %s", wantSpec)
	case strings.Contains(host, ":"):
		if net.ParseIP(host) == nil || strings.Contains(host, "%") {
			return bad("%q is not an IPv6 address", host)
		}
	case strings.Trim(host, "0123456789.") == "":
		if net.ParseIP(host) == nil {
			return bad("%q is not an IPv4 address", host)
		}
	default:
		for label := range strings.SplitSeq(strings.TrimSuffix(host, "."), ".") {
			ok := label != "" && len(label) <= maxLabelSize && label[0] != '-' && label[len(label)-1] != '-'
			for _, c := range []byte(label) {
				ok = ok && ('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_')
			}
			if !ok {
				return bad("%q is not a host name (letters, digits, '-' and dots)", host)
			}
		}
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// String returns s in the form ParseSMTP reads, without the password, for
// messages: smtp://alerts@mail.plant.example:587?tls=required.
func (s *SMTP) String() string {
	u := url.URL{Scheme: "smtp", Host: s.Addr}
	switch s.TLS {
	case ImplicitTLS:
		u.Scheme = "smtps"
	case StartTLSRequired:
		u.RawQuery = "tls=required"
	}
	if s.Username != "" {
		u.User = url.User(s.Username)
	}
	return u.String()
}
