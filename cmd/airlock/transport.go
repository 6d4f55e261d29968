package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/airlock-dev/airlock/cmd/airlock/internal/drop"
)

// The flags of commands that read or write sftp:// URLs. --identity is
// not among them: everywhere in airlock it is the age identity that opens
// an encrypted file, never an SSH login key.
const (
	flagKnownHosts = "known-hosts"
	flagSSHKey     = "ssh-key"
)

// transportFlags are the flags that say how to reach an SFTP drop.
func transportFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagKnownHosts, Usage: "check SFTP servers' host keys against `FILE` (default: ~/.ssh/known_hosts); there is no way to skip the check"},
		&cli.StringSliceFlag{Name: flagSSHKey, Usage: "log in to SFTP servers with the SSH private key in `FILE`, after ssh-agent's keys (default: ~/.ssh/id_ed25519, id_ecdsa, id_rsa); repeatable"},
	}
}

// dropOptions are the drop.Options the command line asks for. A password
// is asked for on the terminal, without echo, only when the server wants
// one and AIRLOCK_SFTP_PASSWORD is not set.
func dropOptions(c *cli.Context) drop.Options {
	opt := drop.Options{KnownHosts: c.String(flagKnownHosts)}
	if c.IsSet(flagSSHKey) {
		opt.KeyFiles = c.StringSlice(flagSSHKey)
	}
	stdin, stderr := c.App.Reader, c.App.ErrWriter
	opt.Password = func(prompt string) (string, error) {
		f, ok := stdin.(*os.File)
		if !ok || !isTerminal(f) {
			return "", fmt.Errorf("the server asks for a password, %s is not set and standard input is not a terminal to ask on", drop.PasswordEnv)
		}
		fmt.Fprintf(stderr, "%s%s: ", prefix, prompt)
		p, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		return string(p), nil
	}
	return opt
}

// fetchURL downloads the file an sftp:// URL names, for a command that
// then treats the bytes exactly like a local file's.
func fetchURL(c *cli.Context, raw string) ([]byte, error) {
	u, err := drop.ParseURL(raw)
	if err != nil {
		return nil, err
	}
	return drop.Fetch(contextOf(c), u, dropOptions(c))
}

// putURL writes data to the file an sftp:// URL names; a reader of the
// folder never sees part of it.
func putURL(c *cli.Context, raw string, data []byte) error {
	u, err := drop.ParseURL(raw)
	if err != nil {
		return err
	}
	return drop.Put(contextOf(c), u, data, dropOptions(c))
}

func contextOf(c *cli.Context) context.Context {
	if c.Context != nil {
		return c.Context
	}
	return context.Background()
}

// dropHints says what to do about each transport failure.
func dropHints(err error) []string {
	var hk *drop.HostKeyError
	switch {
	case errors.As(err, &hk) && hk.Revoked:
		return []string{"the server's key is revoked in known_hosts: do not connect; tell the drop's administrator"}
	case errors.As(err, &hk) && hk.Unknown():
		return []string{
			"check the fingerprint " + hk.Fingerprint() + " with the drop's administrator (ssh-keygen -lf on the server's key), then add this line to " + hk.KnownHosts + ":",
			hk.Line(),
		}
	case errors.As(err, &hk):
		return []string{"THE SERVER'S KEY HAS CHANGED: someone may be intercepting the connection; do not connect until the drop's administrator confirms the new key " + hk.Fingerprint()}
	case errors.Is(err, drop.ErrHostKey):
		return []string{"give the known_hosts file with --" + flagKnownHosts + " FILE"}
	case errors.Is(err, drop.ErrAuth):
		return []string{"load your key into ssh-agent, give it with --" + flagSSHKey + " FILE, or set " + drop.PasswordEnv}
	case errors.Is(err, drop.ErrURL):
		return []string{"write it as sftp://[user@]host[:port]/path/file"}
	case errors.Is(err, drop.ErrConnect), errors.Is(err, drop.ErrTimeout):
		return []string{"check the host name and port, and that the SFTP server is up and reachable from here"}
	case errors.Is(err, drop.ErrNotFound):
		return []string{"check the path on the server (a path relative to the login folder starts with /~/)"}
	case errors.Is(err, drop.ErrPermission):
		return []string{"ask the drop's administrator for access to that path"}
	case errors.Is(err, drop.ErrTooLarge), errors.Is(err, drop.ErrNotRegular):
		return []string{"a code file is a few KiB: check that the URL names the right file"}
	}
	return nil
}
