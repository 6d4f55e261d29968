package drop

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// DefaultPort is the SSH port used when a URL names none.
const DefaultPort = 22

// A URL names one file on an SFTP server:
//
//	sftp://[user@]host[:port]/path
//
// The path is absolute on the server, except that a first segment of "~"
// makes it relative to the login folder, as in curl and the
// draft-ietf-secsh-scp-sftp-ssh-uri scheme: sftp://host/~/drop/a.cbor.
// Host may be an IPv6 literal in brackets (sftp://[::1]:2222/p); the path
// may be URL-escaped (sftp://h/drop/my%20file). A URL never carries a
// password.
type URL struct {
	User string // empty: the local user name is used
	Host string // a host name or an IP literal, without brackets
	Port int    // 1 to 65535; DefaultPort when the URL names none
	Path string // as sent to the server: absolute, or relative to the login folder
}

// IsURL reports whether s has the form of a URL (a scheme of two or more
// letters followed by "://"), so a caller knows to hand it to ParseURL rather
// than open it as a local file. It says nothing about whether s is a valid
// sftp URL: ParseURL refuses other schemes with a clear error.
func IsURL(s string) bool {
	i := strings.Index(s, "://")
	if i < 2 {
		// One letter is a Windows drive, not a scheme.
		return false
	}
	for j, c := range s[:i] {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case j > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// ParseURL parses an sftp URL. It refuses, each with an error wrapping
// ErrURL: a password in the URL, another scheme, an empty host, a port out
// of range, a query or fragment, and a path that names no file (empty, a
// folder ending in "/", "." or ".."). Error messages never quote the whole
// input, so a password typed into a URL by mistake is not repeated.
func ParseURL(s string) (*URL, error) {
	if !IsURL(s) {
		return nil, fmt.Errorf("%w: want sftp://[user@]host[:port]/path", ErrURL)
	}
	scheme := s[:strings.Index(s, "://")]
	if !strings.EqualFold(scheme, "sftp") {
		return nil, fmt.Errorf("%w: unsupported scheme %q: only sftp:// URLs are accepted", ErrURL, scheme)
	}
	if strings.ContainsAny(s, "?#") {
		// Neither can appear unescaped in userinfo, host or path.
		return nil, fmt.Errorf("%w: a query (?…) or fragment (#…) is not allowed; escape ? as %%3F and # as %%23 in file names", ErrURL)
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f || c == ' ' {
			return nil, fmt.Errorf("%w: spaces and control characters must be escaped (%%20 for a space)", ErrURL)
		}
	}
	authority := s[len(scheme)+len("://"):]
	if i := strings.Index(authority, "/"); i >= 0 {
		authority = authority[:i]
	}
	if i := strings.LastIndex(authority, "@"); i >= 0 && strings.Contains(authority[:i], ":") {
		return nil, fmt.Errorf("%w: passwords in URLs are not accepted; use a key, the agent or %s", ErrURL, PasswordEnv)
	}
	pu, err := url.Parse(s)
	if err != nil {
		// url.Error quotes the whole input; keep only the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%w: %v", ErrURL, err)
	}
	if pu.Opaque != "" {
		return nil, fmt.Errorf("%w: want sftp://[user@]host[:port]/path", ErrURL)
	}
	if pu.User != nil {
		if _, set := pu.User.Password(); set {
			return nil, fmt.Errorf("%w: passwords in URLs are not accepted; use a key, the agent or %s", ErrURL, PasswordEnv)
		}
		if pu.User.Username() == "" {
			return nil, fmt.Errorf("%w: empty user name before @", ErrURL)
		}
	}
	u := &URL{Port: DefaultPort}
	if pu.User != nil {
		u.User = pu.User.Username()
	}
	u.Host = pu.Hostname()
	if u.Host == "" {
		return nil, fmt.Errorf("%w: no host: want sftp://[user@]host[:port]/path", ErrURL)
	}
	if strings.HasPrefix(u.Host, "-") {
		return nil, fmt.Errorf("%w: host %q starts with '-'", ErrURL, u.Host)
	}
	if strings.HasSuffix(pu.Host, ":") {
		return nil, fmt.Errorf("%w: empty port after %q", ErrURL, u.Host)
	}
	if p := pu.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%w: port %q is out of range 1 to 65535", ErrURL, p)
		}
		u.Port = n
	}
	if strings.Contains(pu.Path, "\x00") {
		return nil, fmt.Errorf("%w: the path contains a NUL byte", ErrURL)
	}
	p := pu.Path
	switch {
	case p == "" || p == "/":
		return nil, fmt.Errorf("%w: no file path after the host: want sftp://%s/path/to/file", ErrURL, hostPort(u.Host, u.Port))
	case p == "/~" || p == "/~/":
		return nil, fmt.Errorf("%w: no file path after /~/", ErrURL)
	case strings.HasPrefix(p, "/~/"):
		p = p[len("/~/"):]
	}
	if strings.HasSuffix(p, "/") {
		return nil, fmt.Errorf("%w: path %q names a folder, not a file", ErrURL, p)
	}
	if base := p[strings.LastIndex(p, "/")+1:]; base == "." || base == ".." {
		return nil, fmt.Errorf("%w: path %q names no file", ErrURL, p)
	}
	u.Path = p
	return u, nil
}

// String returns the URL in the form ParseURL accepts, with the path escaped
// and the port omitted when it is DefaultPort.
func (u *URL) String() string {
	p := u.Path
	if !strings.HasPrefix(p, "/") {
		p = "/~/" + p
	}
	v := url.URL{Scheme: "sftp", Host: hostPort(u.Host, u.Port), Path: p}
	if u.User != "" {
		v.User = url.User(u.User)
	}
	return v.String()
}

// Addr returns host:port for dialing, with IPv6 literals in brackets.
func (u *URL) Addr() string {
	return net.JoinHostPort(u.Host, strconv.Itoa(u.Port))
}

// dir returns the folder part of the path, as the server sees it, and
// whether there is one (a bare name relative to the login folder has none).
func (u *URL) dir() (string, bool) {
	i := strings.LastIndex(u.Path, "/")
	switch {
	case i < 0:
		return "", false
	case i == 0:
		return "/", true
	}
	return u.Path[:i], true
}

// hostPort is host[:port] as written in a URL: brackets around IPv6
// literals, the port only when it is not DefaultPort.
func hostPort(host string, port int) string {
	if port != DefaultPort {
		return net.JoinHostPort(host, strconv.Itoa(port))
	}
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}
