package drop

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/airlock-dev/airlock/cmd/airlock/internal/drop/droptest"
)

// This file holds the in-process test bed (ATTACKS.md §3.6 C): an SSH server
// from x/crypto on 127.0.0.1:0 (droptest.Server) whose SFTP subsystem is a
// request server over memFS, an in-memory tree the tests fill and watch.
// Nothing touches the real file system, so a path can never escape.

// memFS is an in-memory file tree for sftp.NewRequestServer.
type memFS struct {
	mu    sync.Mutex
	files map[string]*memFile // cleaned absolute path → entry

	// Hooks, set with setHooks and called without mu held.
	onRead  func(name string, off int64) error // before each read
	onWrite func(name string, off int64) error // before each write

	opens     atomic.Int64 // files opened for reading
	bytesSent atomic.Int64 // bytes returned by reads
	noPosix   bool         // refuse posix-rename; guarded by mu
}

type memFile struct {
	data     []byte
	mode     os.FileMode
	endless  bool // reports size 0 and reads forever, like a link to /dev/zero that claims to be regular
	noAccess bool // reads and writes are refused
}

func newMemFS() *memFS {
	return &memFS{files: map[string]*memFile{"/": {mode: os.ModeDir | 0o755}}}
}

// setHooks installs functions called before each read and write; nil
// leaves one unset.
func (fs *memFS) setHooks(onRead, onWrite func(name string, off int64) error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.onRead, fs.onWrite = onRead, onWrite
}

func (fs *memFS) hooks() (onRead, onWrite func(name string, off int64) error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.onRead, fs.onWrite
}

func (fs *memFS) handlers() sftp.Handlers {
	return sftp.Handlers{FileGet: fs, FilePut: fs, FileCmd: fs, FileList: fs}
}

// put creates a regular file and its parent folders.
func (fs *memFS) put(name string, data []byte) {
	fs.add(name, &memFile{data: append([]byte(nil), data...), mode: 0o644})
}

func (fs *memFS) add(name string, f *memFile) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for d := path.Dir(name); d != "/"; d = path.Dir(d) {
		if fs.files[d] == nil {
			fs.files[d] = &memFile{mode: os.ModeDir | 0o755}
		}
	}
	fs.files[name] = f
}

// get returns a copy of a file's content and whether it exists.
func (fs *memFS) get(name string) ([]byte, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f := fs.files[name]
	if f == nil {
		return nil, false
	}
	return append([]byte(nil), f.data...), true
}

// list returns the names in a folder, sorted.
func (fs *memFS) list(dir string) []string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var names []string
	for p := range fs.files {
		if p != "/" && path.Dir(p) == dir {
			names = append(names, path.Base(p))
		}
	}
	sort.Strings(names)
	return names
}

func (fs *memFS) lookup(name string) (*memFile, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f := fs.files[name]
	if f == nil {
		return nil, os.ErrNotExist
	}
	return f, nil
}

func (fs *memFS) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	f, err := fs.lookup(r.Filepath)
	switch {
	case err != nil:
		return nil, err
	case f.noAccess:
		return nil, sftp.ErrSSHFxPermissionDenied
	case f.mode.IsDir():
		return nil, errors.New("is a folder")
	}
	fs.opens.Add(1)
	return &memReader{fs: fs, name: r.Filepath, f: f}, nil
}

type memReader struct {
	fs   *memFS
	name string
	f    *memFile
}

func (m *memReader) ReadAt(b []byte, off int64) (int, error) {
	if h, _ := m.fs.hooks(); h != nil {
		if err := h(m.name, off); err != nil {
			return 0, err
		}
	}
	if m.f.endless {
		for i := range b {
			b[i] = 'z'
		}
		m.fs.bytesSent.Add(int64(len(b)))
		return len(b), nil
	}
	m.fs.mu.Lock()
	defer m.fs.mu.Unlock()
	if off >= int64(len(m.f.data)) {
		return 0, io.EOF
	}
	n := copy(b, m.f.data[off:])
	m.fs.bytesSent.Add(int64(n))
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

func (fs *memFS) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	dir := fs.files[path.Dir(r.Filepath)]
	if dir == nil {
		return nil, os.ErrNotExist
	}
	if dir.noAccess {
		return nil, sftp.ErrSSHFxPermissionDenied
	}
	flags := r.Pflags()
	f := fs.files[r.Filepath]
	switch {
	case f != nil && flags.Excl:
		return nil, os.ErrExist
	case f != nil && !f.mode.IsRegular():
		return nil, errors.New("not a regular file")
	case f == nil && !flags.Creat:
		return nil, os.ErrNotExist
	case f == nil:
		f = &memFile{mode: 0o644}
		fs.files[r.Filepath] = f
	case flags.Trunc:
		f.data = nil
	}
	return &memWriter{fs: fs, name: r.Filepath, f: f}, nil
}

type memWriter struct {
	fs   *memFS
	name string
	f    *memFile
}

func (m *memWriter) WriteAt(b []byte, off int64) (int, error) {
	if _, h := m.fs.hooks(); h != nil {
		if err := h(m.name, off); err != nil {
			return 0, err
		}
	}
	m.fs.mu.Lock()
	defer m.fs.mu.Unlock()
	if end := off + int64(len(b)); end > int64(len(m.f.data)) {
		m.f.data = append(m.f.data, make([]byte, end-int64(len(m.f.data)))...)
	}
	copy(m.f.data[off:], b)
	return len(b), nil
}

func (fs *memFS) Filecmd(r *sftp.Request) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	switch r.Method {
	case "Setstat":
		if fs.files[r.Filepath] == nil {
			return os.ErrNotExist
		}
		return nil
	case "Rename":
		// SFTP version 3: the target must not exist.
		if fs.files[r.Target] != nil {
			return errors.New("target exists")
		}
		return fs.renameLocked(r.Filepath, r.Target)
	case "Remove":
		f := fs.files[r.Filepath]
		if f == nil {
			return os.ErrNotExist
		}
		if f.mode.IsDir() {
			return errors.New("is a folder")
		}
		delete(fs.files, r.Filepath)
		return nil
	case "Mkdir":
		if fs.files[r.Filepath] != nil {
			return os.ErrExist
		}
		fs.files[r.Filepath] = &memFile{mode: os.ModeDir | 0o755}
		return nil
	}
	return sftp.ErrSSHFxOpUnsupported
}

// PosixRename replaces the target in one step, as rename(2) does.
func (fs *memFS) PosixRename(r *sftp.Request) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.noPosix {
		return sftp.ErrSSHFxOpUnsupported
	}
	if t := fs.files[r.Target]; t != nil && t.mode.IsDir() {
		return errors.New("target is a folder")
	}
	return fs.renameLocked(r.Filepath, r.Target)
}

func (fs *memFS) renameLocked(from, to string) error {
	f := fs.files[from]
	if f == nil {
		return os.ErrNotExist
	}
	if fs.files[path.Dir(to)] == nil {
		return os.ErrNotExist
	}
	delete(fs.files, from)
	fs.files[to] = f
	return nil
}

func (fs *memFS) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f := fs.files[r.Filepath]
	if f == nil {
		return nil, os.ErrNotExist
	}
	switch r.Method {
	case "Stat", "Lstat":
		return listerAt{fs.infoLocked(r.Filepath, f)}, nil
	case "List":
		var l listerAt
		for p, c := range fs.files {
			if p != "/" && path.Dir(p) == r.Filepath {
				l = append(l, fs.infoLocked(p, c))
			}
		}
		return l, nil
	}
	return nil, sftp.ErrSSHFxOpUnsupported
}

func (fs *memFS) infoLocked(name string, f *memFile) os.FileInfo {
	return memInfo{name: path.Base(name), size: int64(len(f.data)), mode: f.mode}
}

type listerAt []os.FileInfo

func (l listerAt) ListAt(out []os.FileInfo, off int64) (int, error) {
	if off >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(out, l[off:])
	if n < len(out) {
		return n, io.EOF
	}
	return n, nil
}

type memInfo struct {
	name string
	size int64
	mode os.FileMode
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) Mode() os.FileMode  { return i.mode }
func (i memInfo) ModTime() time.Time { return time.Unix(1700000000, 0) }
func (i memInfo) IsDir() bool        { return i.mode.IsDir() }
func (i memInfo) Sys() any           { return nil }

// testServer is an SSH server (droptest.Server) whose SFTP subsystem serves
// a memFS.
type testServer struct {
	*droptest.Server
	fs           *memFS
	addr         string // host:port as dialed
	port         int
	hostKeys     []ssh.Signer
	authAttempts *atomic.Int64 // password and keyboard-interactive attempts
}

type serverOption = droptest.Option

var (
	withPassword   = droptest.WithPassword
	withKbdOnly    = droptest.WithKbdOnly
	withAuthDelay  = droptest.WithAuthDelay
	withHostKeys   = droptest.WithHostKeys
	withAuthorized = droptest.WithAuthorized
	withListenAddr = droptest.WithListenAddr
)

func newTestServer(t *testing.T, opts ...serverOption) *testServer {
	t.Helper()
	fs := newMemFS()
	s := droptest.NewServer(t, append([]serverOption{droptest.WithHandlers(fs.handlers())}, opts...)...)
	return &testServer{Server: s, fs: fs, addr: s.Addr, port: s.Port, hostKeys: s.HostKeys, authAttempts: &s.AuthAttempts}
}

// dropConnections closes every server-side connection, as a server that
// dies mid-transfer would.
func (s *testServer) dropConnections() { s.DropConnections() }

// url returns the sftp URL of a path on the server.
func (s *testServer) url(user, p string) *URL {
	return &URL{User: user, Host: s.Host, Port: s.port, Path: p}
}

// line returns the known_hosts line for key at the server's address.
func (s *testServer) line(key ssh.PublicKey) string { return s.KnownHostsLine(key) }

// trusting returns Options that trust the server's first host key, with no
// agent, no default key files and no password from the environment.
func (s *testServer) trusting(t *testing.T) Options {
	return Options{
		KnownHosts: writeKnownHosts(t, s.line(s.hostKeys[0].PublicKey())),
		Getenv:     env(nil),
	}
}

// env returns a Getenv that sees only vars.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func writeKnownHosts(t *testing.T, lines ...string) string {
	return droptest.WriteKnownHosts(t, lines...)
}
func newEd25519Signer(t testing.TB) ssh.Signer { return droptest.Ed25519Signer(t) }
func newECDSASigner(t testing.TB) ssh.Signer   { return droptest.ECDSASigner(t) }
func newRSASigner(t testing.TB) ssh.Signer     { return droptest.RSASigner(t) }
func serveAgent(t *testing.T, keys ...any) string {
	return droptest.ServeAgent(t, keys...)
}
func tarpit(t *testing.T) string { return droptest.Tarpit(t) }

func mustURL(t *testing.T, s string) *URL {
	t.Helper()
	u, err := ParseURL(s)
	if err != nil {
		t.Fatalf("ParseURL(%q): %v", s, err)
	}
	return u
}

func urlFor(addr, user, p string) string {
	return fmt.Sprintf("sftp://%s@%s%s", user, addr, p)
}
