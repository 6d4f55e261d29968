package drop

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// maxKnownHostsSize bounds the known_hosts file read into memory, in bytes.
// A line is under 1 KiB; 64 MiB is far beyond any real file.
const maxKnownHostsSize = 64 << 20

// A HostKeyError reports a server whose host key known_hosts does not vouch
// for. It wraps ErrHostKey. Callers show Error() as is; Line is the line to
// add once the operator has verified Fingerprint with the server's
// administrator, never before.
type HostKeyError struct {
	Host       string                // as written in known_hosts: "example.com" or "[127.0.0.1]:2222"
	KnownHosts string                // the file consulted
	Key        ssh.PublicKey         // the key the server presented
	Known      []knownhosts.KnownKey // keys known_hosts holds for Host; empty when the host is unknown
	Revoked    bool                  // Key is marked @revoked

	missing bool   // KnownHosts does not exist
	hint    string // about a known_hosts entry that almost matched
	err     error  // any other reason, for example an untrusted certificate
}

// Fingerprint returns the SHA-256 fingerprint of the presented key, as
// ssh-keygen -lf prints it: "SHA256:…".
func (e *HostKeyError) Fingerprint() string { return ssh.FingerprintSHA256(e.Key) }

// Line returns the known_hosts line that would accept the presented key.
func (e *HostKeyError) Line() string { return knownhosts.Line([]string{e.Host}, e.Key) }

// Unknown reports whether known_hosts holds no key at all for the host.
func (e *HostKeyError) Unknown() bool { return !e.Revoked && e.err == nil && len(e.Known) == 0 }

func (e *HostKeyError) Error() string {
	presented := fmt.Sprintf("%s key %s", e.Key.Type(), e.Fingerprint())
	switch {
	case e.Revoked:
		return fmt.Sprintf("%v: %s presented %s, which %s marks @revoked; nothing was sent to the server", ErrHostKey, e.Host, presented, e.KnownHosts)
	case e.err != nil:
		return fmt.Sprintf("%v: %s presented %s: %v; nothing was sent to the server", ErrHostKey, e.Host, presented, e.err)
	case len(e.Known) > 0:
		var want []string
		for _, k := range e.Known {
			want = append(want, fmt.Sprintf("%s (%s, %s:%d)", ssh.FingerprintSHA256(k.Key), k.Key.Type(), k.Filename, k.Line))
		}
		return fmt.Sprintf("HOST KEY MISMATCH (possible man-in-the-middle): %s presented %s, but known_hosts expects %s; "+
			"nothing was sent to the server; if the server's key was changed on purpose, verify the new fingerprint out of band "+
			"and replace the old line with: %s", e.Host, presented, strings.Join(want, " or "), e.Line())
	}
	where := e.KnownHosts
	if e.missing {
		where += " (the file does not exist)"
	}
	msg := fmt.Sprintf("%v: host key for %s is unknown: it is not in %s; the server presented %s; "+
		"verify this fingerprint out of band (ask the server's administrator to run ssh-keygen -lf on the host key), "+
		"then add this line to %s: %s", ErrHostKey, e.Host, where, presented, e.KnownHosts, e.Line())
	if e.hint != "" {
		msg += "; " + e.hint
	}
	return msg
}

func (e *HostKeyError) Unwrap() []error {
	if e.err != nil {
		return []error{ErrHostKey, e.err}
	}
	return []error{ErrHostKey}
}

// knownHosts is one parsed known_hosts file.
type knownHosts struct {
	file    string
	missing bool
	check   ssh.HostKeyCallback // nil when missing
	ca      map[int]bool        // line numbers of @cert-authority lines
}

func loadKnownHosts(opt *Options) (*knownHosts, error) {
	file := opt.KnownHosts
	if file == "" {
		home := homeDir(opt)
		if home == "" {
			return nil, fmt.Errorf("%w: no known_hosts file named and HOME is not set", ErrHostKey)
		}
		file = filepath.Join(home, ".ssh", "known_hosts")
	}
	data, err := readLimited(file, maxKnownHostsSize)
	if errors.Is(err, fs.ErrNotExist) {
		return &knownHosts{file: file, missing: true}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: cannot read known_hosts: %v", ErrHostKey, err)
	}
	// knownhosts reads the file by name; the copy read here only tells
	// which lines are @cert-authority, which KnownKey does not say.
	check, err := knownhosts.New(file)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHostKey, err)
	}
	k := &knownHosts{file: file, check: check, ca: map[int]bool{}}
	for i, line := range bytes.Split(data, []byte("\n")) {
		if bytes.HasPrefix(bytes.TrimSpace(line), []byte("@cert-authority")) {
			k.ca[i+1] = true
		}
	}
	return k, nil
}

// lookup returns the keys known_hosts holds for addr (host:port), by
// checking a fresh random key that cannot be among them: knownhosts then
// reports every key it found for the address.
func (k *knownHosts) lookup(addr string) []knownhosts.KnownKey {
	if k.check == nil {
		return nil
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic("drop: " + err.Error())
	}
	probe, err := ssh.NewPublicKey(pub)
	if err != nil {
		panic("drop: " + err.Error())
	}
	var ke *knownhosts.KeyError
	if errors.As(k.check(addr, probeAddr, probe), &ke) {
		return ke.Want
	}
	return nil
}

// probeAddr stands for the remote address during lookup; knownhosts checks
// the dialed address when there is one.
var probeAddr = &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 22}

// algorithms returns the host key algorithms to offer the server at addr:
// those of the keys known_hosts holds for it. Offering others lets the
// server pick a key type known_hosts lacks and produces a false mismatch
// (ATTACKS.md T63). An RSA key is offered with SHA-2 signatures only, and a
// @cert-authority line offers every certificate algorithm. Nil, for an
// unknown host, means the library defaults.
func (k *knownHosts) algorithms(addr string) []string {
	supported := map[string]bool{}
	var certs []string
	for _, a := range ssh.SupportedAlgorithms().HostKeys {
		supported[a] = true
		if strings.Contains(a, "-cert-v01@") {
			certs = append(certs, a)
		}
	}
	var algs []string
	add := func(names ...string) {
		for _, a := range names {
			if supported[a] && !slices.Contains(algs, a) {
				algs = append(algs, a)
			}
		}
	}
	for _, kk := range k.lookup(addr) {
		switch t := kk.Key.Type(); {
		case k.ca[kk.Line]:
			add(certs...)
		case t == ssh.KeyAlgoRSA:
			add(ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256)
		default:
			add(t)
		}
	}
	return algs
}

// hostKeyCheck is the HostKeyCallback of one connection: knownhosts
// decides, and a refusal is turned into a HostKeyError kept for the caller.
type hostKeyCheck struct {
	known    *knownHosts
	verified bool
	err      *HostKeyError
}

func (c *hostKeyCheck) verify(addr string, remote net.Addr, key ssh.PublicKey) error {
	var err error
	if c.known.check == nil {
		err = &knownhosts.KeyError{}
	} else {
		err = c.known.check(addr, remote, key)
	}
	if err == nil {
		c.verified = true
		return nil
	}
	e := &HostKeyError{
		Host:       knownhosts.Normalize(addr),
		KnownHosts: c.known.file,
		Key:        key,
		missing:    c.known.missing,
	}
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case errors.As(err, &re):
		e.Revoked = true
	case errors.As(err, &ke):
		e.Known = ke.Want
		if len(ke.Want) == 0 {
			e.hint = c.known.portHint(addr)
		}
	default:
		e.err = err
	}
	c.err = e
	return e
}

// portHint explains an entry for the host on port 22 when another port was
// dialed: OpenSSH writes such entries as [host]:port (ATTACKS.md T62).
func (k *knownHosts) portHint(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == strconv.Itoa(DefaultPort) {
		return ""
	}
	if len(k.lookup(net.JoinHostPort(host, strconv.Itoa(DefaultPort)))) == 0 {
		return ""
	}
	return fmt.Sprintf("%s has a key for %s on port 22 only; an entry for port %s must start with %s",
		k.file, host, port, knownhosts.Normalize(addr))
}

func homeDir(opt *Options) string {
	if h := opt.getenv("HOME"); h != "" || opt.Getenv != nil {
		return h
	}
	h, _ := os.UserHomeDir()
	return h
}
