package drop

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
)

// A drop folder is worked on through one Session: the authority lists its
// inbox, fetches each file, puts the answers and moves what it handled into
// done/ or rejected/, all over one SSH connection, whose host key was
// checked once, as Fetch and Put check it.

// Limits of Session.List.
const (
	// MaxListEntries caps the entries of a folder List reads: 100,000, a
	// year of files at a busy desk. A drop folder is emptied as it is
	// processed; one that holds more is refused rather than read into
	// memory.
	MaxListEntries = 100_000
	// MaxListBytes caps what the server may send while List runs: 64 MiB,
	// over 600 bytes for each of MaxListEntries entries (a name, its
	// ls -l line and its attributes). The cap holds however the server
	// splits its answer, and an endless listing ends the connection.
	MaxListBytes = 64 << 20
)

// The limits List applies; tests lower them.
var (
	maxListEntries       = MaxListEntries
	maxListBytes   int64 = MaxListBytes
)

// ParseFolderURL parses an sftp URL that names a folder, as ParseURL does
// a file's; a final "/" is allowed. The root folder is refused: a drop is
// a folder of its own.
func ParseFolderURL(s string) (*URL, error) {
	if IsURL(s) {
		s = strings.TrimSuffix(s, "/")
	}
	return ParseURL(s)
}

// Join returns the URL of a path inside the one u names; elem are path
// segments, never absolute.
func (u *URL) Join(elem ...string) *URL {
	v := *u
	v.Path = path.Join(append([]string{u.Path}, elem...)...)
	return &v
}

// A Session is one verified, authenticated SFTP connection for many
// operations on one server. Open it once for a whole run, never once per
// file: the host key is checked, and a password asked for, once.
//
// Each operation gets Options.Timeout from its start; a server that stalls
// longer fails the operation with ErrTimeout, and the Session is then
// unusable. The Session lives until Close or until the ctx given to Open
// ends. Its methods are safe for concurrent use: the requests share the
// connection.
//
// Paths are as in a URL's Path: absolute on the server, or relative to the
// login folder.
type Session struct {
	s     *session
	posix bool // the server replaces files atomically (posix-rename@openssh.com)
	limit int64
}

// Open connects to the server u names, checks its host key and
// authenticates as Fetch does. Only the user, host and port of u are used.
func Open(ctx context.Context, u *URL, opt Options) (*Session, error) {
	s, err := connect(ctx, u, &opt, true)
	if err != nil {
		return nil, err
	}
	_, posix := s.sftp.HasExtension("posix-rename@openssh.com")
	return &Session{s: s, posix: posix, limit: opt.maxSize()}, nil
}

// Close ends the connection.
func (s *Session) Close() error {
	s.s.close()
	return nil
}

// at returns the URL of p on the session's server, for messages.
func (s *Session) at(p string) *URL {
	u := *s.s.u
	u.Path = p
	return &u
}

// begin gives the operation about to start Options.Timeout, and returns
// ErrTimeout or the end of ctx if the Session is over already.
func (s *Session) begin() error {
	if err := s.s.ctx.Err(); err != nil {
		if te := s.s.timeoutError(); te != nil {
			return te
		}
		return fmt.Errorf("%w: %s: the session is closed", ErrTransfer, s.s.u.Addr())
	}
	s.s.extend()
	return nil
}

// List returns the names of the regular files in the folder dir, sorted,
// without those whose names start with a dot (hidden files, and Put's
// temporary files). Folders, links and other special files are left out.
//
// A folder of more than MaxListEntries entries is refused with ErrTooLarge,
// as is a listing of more than 64 MiB, which also ends the Session.
func (s *Session) List(dir string) ([]string, error) {
	u := s.at(dir)
	if err := s.begin(); err != nil {
		return nil, err
	}
	s.s.meter.arm(maxListBytes)
	infos, err := s.s.sftp.ReadDirContext(s.s.ctx, dir)
	if s.s.meter.disarm() {
		s.s.close()
		return nil, fmt.Errorf("%w: the listing of %s is larger than %s; the connection was closed", ErrTooLarge, u, sizeString(maxListBytes))
	}
	if err != nil {
		return nil, s.s.failAt(u, "cannot list", err)
	}
	if len(infos) > maxListEntries {
		return nil, fmt.Errorf("%w: %s holds %d entries, more than the limit of %d: move some of them away", ErrTooLarge, u, len(infos), maxListEntries)
	}
	var names []string
	for _, fi := range infos {
		name := fi.Name()
		if !fi.Mode().IsRegular() || name == "" || strings.HasPrefix(name, ".") || strings.ContainsAny(name, "/\x00") {
			continue
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}

// Fetch downloads the file p with the checks and limits of Fetch.
func (s *Session) Fetch(p string) ([]byte, error) {
	if err := s.begin(); err != nil {
		return nil, err
	}
	return s.s.fetch(s.at(p), s.limit)
}

// Put writes data to the file p as Put does: a reader never sees part of
// it, and an existing file is replaced.
func (s *Session) Put(p string, data []byte) error {
	if err := s.begin(); err != nil {
		return err
	}
	return s.s.put(s.at(p), data, s.posix)
}

// Rename moves the file from to the path to, on the same server. It never
// replaces a file: when to exists the error wraps ErrExists and both files
// stay as they were.
func (s *Session) Rename(from, to string) error {
	if err := s.begin(); err != nil {
		return err
	}
	// SFTP version 3 rename, unlike posix-rename, refuses an existing
	// target (OpenSSH links the new name and then unlinks the old).
	err := s.s.sftp.Rename(from, to)
	if err == nil {
		return nil
	}
	if _, serr := s.s.sftp.Lstat(to); serr == nil {
		return fmt.Errorf("%w: cannot move %s there: %s exists", ErrExists, s.at(from), s.at(to))
	}
	return s.s.failAt(s.at(from), fmt.Sprintf("cannot move to %q:", to), err)
}

// Remove removes the file p.
func (s *Session) Remove(p string) error {
	if err := s.begin(); err != nil {
		return err
	}
	if err := s.s.sftp.Remove(p); err != nil {
		return s.s.failAt(s.at(p), "cannot remove", err)
	}
	return nil
}

// Mkdir makes the folder dir if it does not exist; its parent must. A file
// of that name that is not a folder is refused with ErrNotRegular.
func (s *Session) Mkdir(dir string) error {
	if err := s.begin(); err != nil {
		return err
	}
	err := s.s.sftp.Mkdir(dir)
	if err == nil {
		return nil
	}
	fi, serr := s.s.sftp.Lstat(dir)
	switch {
	case serr == nil && fi.IsDir():
		return nil
	case serr == nil && fi.Mode().IsRegular():
		return fmt.Errorf("%w: cannot make the folder %s: a file of that name exists", ErrNotRegular, s.at(dir))
	case serr == nil:
		return fmt.Errorf("%w: cannot make the folder %s: it exists and is %s", ErrNotRegular, s.at(dir), describeMode(fi.Mode()))
	}
	return s.s.failAt(s.at(dir), "cannot make the folder", err)
}

// extend gives a Session's operation Options.Timeout from now.
func (s *session) extend() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := time.Now().Add(s.timeout); d.After(s.deadline) {
		s.deadline = d
	}
	s.conn.SetDeadline(s.deadline)
}

// A meterConn is the connection to the server, counting the bytes it sends
// while a budget is armed: List arms it so that a server cannot make the
// client collect names without end.
type meterConn struct {
	net.Conn

	mu    sync.Mutex
	armed bool
	left  int64
	over  bool
}

// errOverBudget ends the connection when the server sent more than the
// armed budget.
var errOverBudget = errors.New("the server sent more than expected")

func (m *meterConn) Read(b []byte) (int, error) {
	n, err := m.Conn.Read(b)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.armed {
		m.left -= int64(n)
		if m.left < 0 {
			m.over = true
			m.Conn.Close()
			return 0, errOverBudget
		}
	}
	return n, err
}

// arm starts counting against a budget of n bytes.
func (m *meterConn) arm(n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.armed, m.left, m.over = true, n, false
}

// disarm stops counting and reports whether the budget was exceeded.
func (m *meterConn) disarm() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.armed = false
	return m.over
}
