package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/urfave/cli/v2"

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
	opt := drop.Options{KnownHosts: c.String(flagKnownHosts), MaxSize: maxInputSize}
	if c.IsSet(flagSSHKey) {
		opt.KeyFiles = c.StringSlice(flagSSHKey)
	}
	stdin, stderr := c.App.Reader, c.App.ErrWriter
	opt.Password = func(prompt string) (string, error) {
		f, ok := stdin.(*os.File)
		if !ok || !isTerminal(f) {
			return "", fmt.Errorf("the server asks for a password, %s is not set and standard input is not a terminal to ask on", drop.PasswordEnv)
		}
		p, err := askSecret(f, stderr, prompt)
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		return string(p), nil
	}
	return opt
}

// parseDropURL parses an sftp:// URL the command line gives for what (a
// flag or "the argument"); a malformed one is a usage error.
func parseDropURL(c *cli.Context, what, raw string) (*drop.URL, error) {
	u, err := drop.ParseURL(raw)
	if err != nil {
		return nil, usagef(c.Command.HelpName, "write it as sftp://[user@]host[:port]/path/file, with /~/ before a path in the login folder", "%s: %v", what, err)
	}
	return u, nil
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

// readURL downloads the file an sftp:// URL argument names, as the input
// of a command that reads it exactly like a local file: at most
// maxInputSize bytes, and a malformed URL is a usage error.
func readURL(c *cli.Context, raw string) (*input, error) {
	u, err := parseDropURL(c, "the argument", raw)
	if err != nil {
		return nil, err
	}
	opt := dropOptions(c)
	opt.MaxSize = maxInputSize
	data, err := drop.Fetch(contextOf(c), u, opt)
	if err != nil {
		return nil, err
	}
	return &input{data: data, source: u.String()}, nil
}

// A codeOut is where a command writes a code file with --out: a local
// path, "-" for standard output, or an sftp:// URL. For a URL,
// prepareOut connects, checks the host key, logs in and checks the
// folder, before the command changes anything: a wrong URL, an unknown
// host or a refused login changes nothing.
type codeOut struct {
	path string       // as given
	url  *drop.URL    // nil for a local path
	up   *drop.Upload // the prepared connection, for a URL
}

// prepareOut returns where --out (given as path) goes. The caller closes
// it when done.
func prepareOut(c *cli.Context, path string) (*codeOut, error) {
	o := &codeOut{path: path}
	if !drop.IsURL(path) {
		return o, nil
	}
	u, err := parseDropURL(c, "--"+flagOut, path)
	if err != nil {
		return nil, err
	}
	up, err := drop.PrepareUpload(contextOf(c), u, dropOptions(c))
	if err != nil {
		return nil, withHint(err, "nothing was changed or written")
	}
	o.url, o.up = u, up
	return o, nil
}

// prepareNewOut is prepareOut for a command whose code is new every time
// (a request, an update): a local file already at path is refused before
// the command changes anything, since the new code could never be written
// there.
func prepareNewOut(c *cli.Context, path string) (*codeOut, error) {
	if !drop.IsURL(path) && path != "-" {
		if _, err := os.Lstat(path); err == nil {
			return nil, withHint(fmt.Errorf("%w: %s; nothing was changed", errExists, path),
				"airlock never overwrites a file; give another path, or move the file away first")
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	return prepareOut(c, path)
}

// String names the destination in messages.
func (o *codeOut) String() string {
	if o.url != nil {
		return o.url.String()
	}
	return o.path
}

// remote reports whether the file goes to an SFTP drop.
func (o *codeOut) remote() bool { return o != nil && o.up != nil }

// upload writes data to the drop, never replacing a file: existed reports
// that the file holds data already.
func (o *codeOut) upload(data []byte) (existed bool, err error) {
	existed, err = o.up.Write(data)
	if errors.Is(err, drop.ErrExists) {
		err = withHint(err, "airlock never overwrites a file; give another path, or move the file away first")
	}
	return existed, err
}

func (o *codeOut) close() {
	if o != nil {
		o.up.Close()
	}
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
	case errors.Is(err, drop.ErrTransfer):
		return []string{"check the SFTP server (its disk, its logs) and the network, then run the command again"}
	}
	return nil
}

// sftpReadHelp describes sftp:// URLs in the help of the commands that
// read a code file.
const sftpReadHelp = sftpReadText + "\n" + sftpAccessHelp

const sftpReadText = `The file may be in an SFTP drop folder instead, named by a URL:
sftp://[user@]host[:port]/path, where /~/ starts a path in the login
folder and %20 escapes a space. airlock reads it (a regular file of at
most 1 MiB) into memory and then treats it exactly like a local file.`

// sftpWriteHelp describes sftp:// URLs in the help of the commands that
// write a code file with --out.
const sftpWriteHelp = `--out also takes a URL, sftp://[user@]host[:port]/path, to write the file
into an SFTP drop folder that both sides reach (/~/ starts a path in the
login folder, %20 escapes a space). airlock connects, checks the host key,
logs in and checks that the folder exists before it changes anything. The
file is written under a temporary name and then renamed, so a reader of
the folder never sees part of it; a file already there is never replaced.
With --to, the encrypted file is what is written.
` + sftpAccessHelp

const sftpAccessHelp = `
The server's host key must be in known_hosts: --known-hosts FILE, or
~/.ssh/known_hosts (hashed entries and [host]:port entries are
understood). An unknown host is refused, with the fingerprint of the key
it presented and the line to add: add that line only once the server's
administrator has confirmed the fingerprint (ssh-keygen -lf on the
server's host key) by another way than this connection; ssh-keyscan
shows a key but proves nothing. A changed key is refused. No option skips
the check.

airlock logs in as the user of the URL (or the local user) with the keys
of ssh-agent (SSH_AUTH_SOCK), then the key files given with --ssh-key FILE
(without it: ~/.ssh/id_ed25519, id_ecdsa and id_rsa, those that exist),
then a password where the server asks for one: AIRLOCK_SFTP_PASSWORD for
scripts, or typed on the terminal.`
