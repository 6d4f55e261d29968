package drop

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// maxKeyFileSize bounds a private key file read into memory, in bytes; an
// RSA-16384 key in OpenSSH format is under 16 KiB.
const maxKeyFileSize = 1 << 20

// defaultKeyFiles are tried, in order, when Options.KeyFiles is nil, as
// OpenSSH does (without DSA, which x/crypto no longer negotiates).
var defaultKeyFiles = []string{"id_ed25519", "id_ecdsa", "id_rsa"}

// credentials are what one connection offers the server: public keys from
// the agent and key files, then a password for keyboard-interactive or
// password authentication, sent at most once.
type credentials struct {
	opt    *Options
	prompt string

	signers []ssh.Signer
	offered []string // what was offered, for the error message
	skipped []string // keys that could not be used, and why
	agent   net.Conn

	// Set once the connection exists: the handshake deadline is lifted
	// while Options.Password waits for the operator.
	conn       net.Conn
	handshake  time.Duration
	hsDeadline time.Time // the handshake deadline in effect
	deadline   time.Time // overall

	password     string
	havePassword bool
	passwordFrom string
	sent         bool  // the password was sent once; never again
	err          error // from Options.Password or an unanswerable question
}

func loadCredentials(opt *Options, user string, u *URL, deadline time.Time) (*credentials, error) {
	c := &credentials{
		opt:    opt,
		prompt: fmt.Sprintf("SFTP password for %s@%s: ", user, hostPort(u.Host, u.Port)),
	}
	seen := map[string]bool{}
	addSigner := func(s ssh.Signer) bool {
		k := string(s.PublicKey().Marshal())
		if seen[k] {
			return false
		}
		seen[k] = true
		c.signers = append(c.signers, s)
		return true
	}

	if sock := opt.getenv("SSH_AUTH_SOCK"); sock != "" {
		d := net.Dialer{Deadline: deadline}
		conn, err := d.Dial("unix", sock)
		if err != nil {
			c.skipped = append(c.skipped, fmt.Sprintf("ssh-agent at SSH_AUTH_SOCK is unreachable (%v)", err))
		} else {
			conn.SetDeadline(deadline)
			signers, err := agent.NewClient(conn).Signers()
			switch {
			case err != nil:
				conn.Close()
				c.skipped = append(c.skipped, fmt.Sprintf("ssh-agent did not list its keys (%v)", err))
			case len(signers) == 0:
				conn.Close()
				c.skipped = append(c.skipped, "ssh-agent holds no keys")
			default:
				c.agent = conn
				n := 0
				for _, s := range signers {
					if addSigner(s) {
						n++
					}
				}
				c.offered = append(c.offered, fmt.Sprintf("ssh-agent (%d %s)", n, plural(n, "key", "keys")))
			}
		}
	}

	files, explicit := opt.KeyFiles, opt.KeyFiles != nil
	if !explicit {
		if home := homeDir(opt); home != "" {
			for _, name := range defaultKeyFiles {
				files = append(files, filepath.Join(home, ".ssh", name))
			}
		}
	}
	for _, f := range files {
		data, err := readLimited(f, maxKeyFileSize)
		if err != nil {
			if !explicit && errors.Is(err, os.ErrNotExist) {
				continue
			}
			if explicit {
				c.close()
				return nil, fmt.Errorf("%w: cannot read key file: %v", ErrAuth, err)
			}
			c.skipped = append(c.skipped, fmt.Sprintf("key file %q is unreadable (%v)", f, err))
			continue
		}
		s, err := ssh.ParsePrivateKey(data)
		var pm *ssh.PassphraseMissingError
		switch {
		case errors.As(err, &pm):
			c.skipped = append(c.skipped, fmt.Sprintf("key file %q is passphrase-protected; load it into ssh-agent", f))
			continue
		case err != nil && explicit:
			c.close()
			return nil, fmt.Errorf("%w: key file %q is not a private key airlock can use: %v", ErrAuth, f, err)
		case err != nil:
			c.skipped = append(c.skipped, fmt.Sprintf("key file %q is not usable (%v)", f, err))
			continue
		}
		if addSigner(s) {
			c.offered = append(c.offered, fmt.Sprintf("key file %q", f))
		}
	}

	if v := opt.getenv(PasswordEnv); v != "" {
		c.password, c.havePassword, c.passwordFrom = v, true, PasswordEnv
	}
	return c, nil
}

func (c *credentials) methods() []ssh.AuthMethod {
	var m []ssh.AuthMethod
	if len(c.signers) > 0 {
		m = append(m, ssh.PublicKeys(c.signers...))
	}
	if c.havePassword || c.opt.Password != nil {
		// OpenSSH's order: keyboard-interactive before password. Either
		// sends the password, and only once.
		m = append(m, ssh.KeyboardInteractive(c.challenge), ssh.PasswordCallback(c.passwordMethod))
	}
	return m
}

// describe says what was offered, for an authentication error.
func (c *credentials) describe() string {
	offered := append([]string(nil), c.offered...)
	switch {
	case c.sent && c.passwordFrom != "":
		offered = append(offered, "the password from "+c.passwordFrom)
	case c.sent:
		offered = append(offered, "the password typed")
	}
	var s string
	if len(offered) > 0 {
		s = "offered " + strings.Join(offered, ", ")
	} else {
		var none []string
		if c.opt.getenv("SSH_AUTH_SOCK") == "" {
			none = append(none, "no ssh-agent (SSH_AUTH_SOCK is not set)")
		}
		none = append(none, "no key file")
		if !c.havePassword && c.opt.Password == nil {
			none = append(none, "no password ("+PasswordEnv+" is not set)")
		}
		s = "nothing to offer: " + strings.Join(none, ", ")
	}
	if len(c.skipped) > 0 {
		s += "; skipped " + strings.Join(c.skipped, "; ")
	}
	return s
}

func (c *credentials) getPassword() (string, error) {
	if c.havePassword {
		return c.password, nil
	}
	if c.opt.Password == nil {
		return "", errors.New("no password available")
	}
	if c.conn != nil {
		c.conn.SetDeadline(c.deadline)
	}
	pw, err := c.opt.Password(c.prompt)
	if c.conn != nil {
		c.hsDeadline = earliest(time.Now().Add(c.handshake), c.deadline)
		c.conn.SetDeadline(c.hsDeadline)
	}
	if err != nil {
		c.err = fmt.Errorf("reading the password: %w", err)
		return "", c.err
	}
	c.password, c.havePassword, c.passwordFrom = pw, true, ""
	return pw, nil
}

var errPasswordSent = errors.New("the password was already refused")

func (c *credentials) passwordMethod() (string, error) {
	if c.sent {
		return "", errPasswordSent
	}
	pw, err := c.getPassword()
	if err != nil {
		return "", err
	}
	c.sent = true
	return pw, nil
}

// challenge answers keyboard-interactive questions: informational rounds
// with no question get no answer, one hidden question gets the password,
// anything else ends the attempt (there is no operator to ask).
func (c *credentials) challenge(name, instruction string, questions []string, echos []bool) ([]string, error) {
	if len(questions) == 0 {
		return []string{}, nil
	}
	for i, q := range questions {
		if echos[i] {
			c.err = fmt.Errorf("the server asks %q, which airlock cannot answer", q)
			return nil, c.err
		}
	}
	if len(questions) > 1 {
		c.err = fmt.Errorf("the server asks %d hidden questions at once; airlock answers only a password", len(questions))
		return nil, c.err
	}
	pw, err := c.passwordMethod()
	if err != nil {
		return nil, err
	}
	return []string{pw}, nil
}

func (c *credentials) close() {
	if c.agent != nil {
		c.agent.Close()
		c.agent = nil
	}
}

func readLimited(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, limit)
	}
	return data, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
