// Package drop moves code files to and from an SFTP "drop" folder that both
// sides of an air gap can reach at different times.
//
// Use ParseURL on what the operator typed (IsURL tells a URL from a local
// path), then Fetch to download one file into memory or Put to write one
// atomically. Both check the server's host key against known_hosts before
// anything else is sent; there is no way to skip that check, and none must
// be added: an unknown or changed key is an error showing the fingerprint,
// which the operator verifies out of band and adds to known_hosts. To work
// through a whole folder (ParseFolderURL), Open one Session and list, fetch,
// put and rename over its one connection, never one connection per file.
//
// Fetch returns bytes, never a local file: the name on the server never
// chooses where anything is written locally. Callers treat the bytes exactly
// like a local file the operator named, which means they are untrusted until
// a code's signature has been checked.
//
// The package never prints or prompts; Options.Password is how a caller
// asks the operator for a password.
package drop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/pkg/sftp"
)

// Errors returned by this package wrap exactly one of these sentinels,
// except that a Fetch or Put stopped by cancelling ctx returns an error
// wrapping context.Canceled; match them with errors.Is. Messages name the
// URL or host:port, the path and key fingerprints; they never contain a
// password or file contents.
var (
	// ErrURL means the text is not an acceptable sftp URL.
	ErrURL = errors.New("invalid sftp URL")
	// ErrHostKey means the server's host key is not the one known_hosts
	// holds for it (unknown, changed or revoked), or known_hosts could not
	// be read. Nothing was sent to the server beyond the SSH key exchange.
	// The error is a *HostKeyError when a key was presented.
	ErrHostKey = errors.New("host key verification failed")
	// ErrAuth means the server refused every credential offered, or a
	// credential could not be loaded.
	ErrAuth = errors.New("SSH authentication failed")
	// ErrConnect means no SSH session could be set up: the name did not
	// resolve, the connection was refused, or the peer is not an SSH
	// server offering SFTP.
	ErrConnect = errors.New("cannot connect to SFTP server")
	// ErrNotFound means the remote file, or the folder to write into,
	// does not exist.
	ErrNotFound = errors.New("no such remote file")
	// ErrPermission means the server refused access to the path.
	ErrPermission = errors.New("permission denied on SFTP server")
	// ErrTooLarge means the remote file is larger than Options.MaxSize,
	// by its reported size or by the bytes actually sent.
	ErrTooLarge = errors.New("remote file too large")
	// ErrNotRegular means the remote path is a folder, device, FIFO or
	// another file that is not a regular file.
	ErrNotRegular = errors.New("remote path is not a regular file")
	// ErrTimeout means the handshake or the whole transfer took longer
	// than its deadline.
	ErrTimeout = errors.New("SFTP transfer timed out")
	// ErrTransfer means the session failed after it was set up: the
	// connection was lost or the server reported an error.
	ErrTransfer = errors.New("SFTP transfer failed")
)

// PasswordEnv is the environment variable holding the SSH password for
// scripts. It is read only when the server asks for a password.
const PasswordEnv = "AIRLOCK_SFTP_PASSWORD"

// TempPrefix starts the name of the temporary file Put writes before
// renaming it. Whoever lists a drop folder skips such names (see IsTemp):
// they are files still being written, or left by a writer that died.
const TempPrefix = ".airlock-tmp-"

// IsTemp reports whether the base name of p is a temporary name of Put.
func IsTemp(p string) bool {
	return strings.HasPrefix(path.Base(p), TempPrefix)
}

// Defaults for the zero values of Options.
const (
	DefaultTimeout          = 60 * time.Second
	DefaultHandshakeTimeout = 15 * time.Second
	DefaultMaxSize          = 1 << 20 // 1 MiB; the largest code is a few KiB
)

// Options configures how Fetch and Put reach the server. The zero value
// uses ~/.ssh/known_hosts, ssh-agent when SSH_AUTH_SOCK is set, the default
// key files that exist, PasswordEnv, and the default limits.
type Options struct {
	// KnownHosts is the known_hosts file holding the server's host key.
	// Empty means $HOME/.ssh/known_hosts. A missing file is treated as
	// empty: every host is unknown. Hashed entries, [host]:port entries,
	// @revoked and @cert-authority lines are understood.
	KnownHosts string

	// KeyFiles are private key files to offer, in order, after the
	// agent's keys. Nil means those of $HOME/.ssh/id_ed25519, id_ecdsa and
	// id_rsa that exist; an empty slice means none. A named file that
	// cannot be read or parsed is an ErrAuth error; one that is
	// passphrase-protected is skipped and named in the error if
	// authentication fails (load it into ssh-agent instead).
	KeyFiles []string

	// Password is called at most once per Fetch or Put, and only when the
	// server asks for a password (password or keyboard-interactive
	// authentication) after any keys failed and PasswordEnv is unset.
	// The prompt names the user and host. The handshake deadline does not
	// run while it waits; the overall deadline does. Nil means no
	// password unless PasswordEnv is set.
	Password func(prompt string) (string, error)

	// Timeout bounds the whole operation, from dialing to the last byte.
	// Zero means DefaultTimeout. A deadline on ctx also applies.
	Timeout time.Duration

	// HandshakeTimeout bounds connecting and the SSH handshake with
	// authentication, so a server that accepts and then stalls is
	// abandoned. Zero means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration

	// MaxSize is the largest file Fetch accepts, in bytes. Zero means
	// DefaultMaxSize.
	MaxSize int64

	// Getenv reads HOME, SSH_AUTH_SOCK, PasswordEnv and, when the local
	// user cannot be looked up, USER. Nil means os.Getenv. Tests set it to
	// keep the caller's agent, keys and password out.
	Getenv func(key string) string
}

func (o *Options) getenv(key string) string {
	if o.Getenv != nil {
		return o.Getenv(key)
	}
	return os.Getenv(key)
}

func (o *Options) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return DefaultTimeout
}

func (o *Options) handshakeTimeout() time.Duration {
	if o.HandshakeTimeout > 0 {
		return o.HandshakeTimeout
	}
	return DefaultHandshakeTimeout
}

func (o *Options) maxSize() int64 {
	if o.MaxSize > 0 {
		return o.MaxSize
	}
	return DefaultMaxSize
}

// Fetch downloads the file u names into memory, after checking the host key
// and authenticating as described on Options.
//
// The remote path must be a regular file (Stat follows symbolic links) no
// larger than Options.MaxSize; whatever size the server reports, at most
// MaxSize+1 bytes are read, so a link to a device or a file that grows is
// refused with ErrTooLarge rather than filling memory. The returned bytes
// are not verified in any way.
func Fetch(ctx context.Context, u *URL, opt Options) ([]byte, error) {
	s, err := dial(ctx, u, &opt)
	if err != nil {
		return nil, err
	}
	defer s.close()
	return s.fetch(u, opt.maxSize())
}

// fetch is Fetch on an open session, for u on its server.
func (s *session) fetch(u *URL, limit int64) ([]byte, error) {
	fi, err := s.sftp.Stat(u.Path)
	if err != nil {
		return nil, s.failAt(u, "cannot stat", err)
	}
	if err := checkRegular(u, fi, limit); err != nil {
		return nil, err
	}
	f, err := s.sftp.Open(u.Path)
	if err != nil {
		return nil, s.failAt(u, "cannot open", err)
	}
	defer f.Close()
	// Check again what was opened: the path may have been replaced since
	// Stat. (Stat comes first because opening a FIFO would block the
	// server.) A server without FSTAT leaves the byte cap as the guard.
	size := fi.Size()
	if ofi, err := f.Stat(); err == nil {
		if err := checkRegular(u, ofi, limit); err != nil {
			return nil, err
		}
		// Some servers answer FSTAT with the path's current state;
		// the smaller size is the one the file must have reached.
		size = min(size, ofi.Size())
	} else if !unsupported(err) {
		return nil, s.failAt(u, "cannot stat", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, s.failAt(u, "reading", err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: %s sent more than the limit of %s although it reported %d bytes", ErrTooLarge, u, sizeString(limit), size)
	}
	if int64(len(data)) < size {
		return nil, fmt.Errorf("%w: %s ended after %d of %d bytes; it may have been truncated while read", ErrTransfer, u, len(data), size)
	}
	return data, nil
}

func unsupported(err error) bool {
	var st *sftp.StatusError
	return errors.As(err, &st) && st.Code == uint32(sftp.ErrSSHFxOpUnsupported)
}

func checkRegular(u *URL, fi os.FileInfo, limit int64) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is %s", ErrNotRegular, u, describeMode(fi.Mode()))
	}
	if fi.Size() > limit {
		return fmt.Errorf("%w: %s is %d bytes, over the limit of %s", ErrTooLarge, u, fi.Size(), sizeString(limit))
	}
	return nil
}

func describeMode(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&os.ModeSymlink != 0:
		return "a symbolic link"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return fmt.Sprintf("not a regular file (mode %v)", m)
}

func sizeString(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// Put writes data to the file u names so that a reader of the folder never
// sees part of it: data goes to a temporary file (TempPrefix and a random
// suffix) in the same remote folder, which is then renamed onto the final
// name.
//
// An existing file at u is replaced, atomically when the server supports
// the posix-rename@openssh.com extension (OpenSSH does). Without it, the old
// file is removed before the rename, so for a moment the name is absent but
// never partial. Replacing is allowed because what airlock writes to a drop
// is idempotent: writing the same answer twice is harmless, and a newer code
// supersedes an older one. A path that is a folder or special file is
// refused with ErrNotRegular.
//
// On failure the temporary file is removed when the connection still
// allows it; if not, the error names it.
func Put(ctx context.Context, u *URL, data []byte, opt Options) error {
	s, err := dial(ctx, u, &opt)
	if err != nil {
		return err
	}
	defer s.close()
	_, posix := s.sftp.HasExtension("posix-rename@openssh.com")
	return s.put(u, data, posix)
}

func (s *session) put(u *URL, data []byte, posix bool) error {
	if fi, err := s.sftp.Stat(u.Path); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: cannot replace %s: it is %s", ErrNotRegular, u, describeMode(fi.Mode()))
	}
	tmp, err := tempName()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrTransfer, err)
	}
	if dir, ok := u.dir(); ok {
		tmp = path.Join(dir, tmp)
	}
	f, err := s.sftp.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		dir, _ := u.dir()
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: the folder %q does not exist on %s", ErrNotFound, dir, s.u.Addr())
		}
		return s.failAt(u, fmt.Sprintf("cannot create a temporary file in %q for", dir), err)
	}
	if err := s.writeTemp(f, data); err != nil {
		f.Close()
		return s.removeTemp(tmp, err)
	}
	if err := f.Close(); err != nil {
		return s.removeTemp(tmp, s.failAt(u, "writing", err))
	}
	if err := s.rename(tmp, u.Path, posix); err != nil {
		return s.removeTemp(tmp, s.failAt(u, "cannot rename the temporary file onto", err))
	}
	return nil
}

func (s *session) writeTemp(f *sftp.File, data []byte) error {
	n, err := f.Write(data)
	if err == nil && n != len(data) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return s.fail("writing", err)
	}
	// Ask the server to flush before the rename makes the file visible.
	if _, ok := s.sftp.HasExtension("fsync@openssh.com"); ok {
		if err := f.Sync(); err != nil {
			return s.fail("flushing", err)
		}
	}
	return nil
}

// rename moves tmp onto final. SFTP version 3 rename fails when the target
// exists, so without posix-rename an existing target is removed first.
func (s *session) rename(tmp, final string, posix bool) error {
	if posix {
		return s.sftp.PosixRename(tmp, final)
	}
	err := s.sftp.Rename(tmp, final)
	if err == nil {
		return nil
	}
	if _, serr := s.sftp.Stat(final); serr != nil {
		return err
	}
	if err := s.sftp.Remove(final); err != nil {
		return err
	}
	return s.sftp.Rename(tmp, final)
}

func (s *session) removeTemp(tmp string, cause error) error {
	if err := s.sftp.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w (the temporary file %q may remain on %s)", cause, tmp, s.u.Addr())
	}
	return cause
}
