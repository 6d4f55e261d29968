package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/cmd/airlock/internal/drop"
)

// A dropFolder is the inbox or the outbox of authority process: a local
// folder or an sftp:// one. Names are relative to the folder, with '/'
// between a subfolder and a file ("done/a.airlock").
type dropFolder interface {
	String() string          // the folder as given, for messages
	join(name string) string // a name in the folder, for messages
	remote() bool            // on an SFTP server
	list() ([]string, error) // the regular, visible files of the folder itself, sorted
	read(name string) ([]byte, error)
	// write replaces name atomically: a reader sees the old file or the
	// new one, never part of one. It is durable once sync returns.
	write(name string, data []byte) error
	// move renames a file within the folder; it never replaces one
	// (errExists or drop.ErrExists).
	move(from, to string) error
	remove(name string) error
	mkdir(name string) error // makes a subfolder ("" the folder itself) if missing
	// sync makes the files written, and the names made, in the folders
	// dirs ("" the folder itself) durable. Folders that do not exist are
	// skipped.
	sync(dirs ...string) error
}

// openDropFolders opens the inbox and the outbox. Two sftp:// folders on
// the same server with the same user share one connection.
func openDropFolders(c *cli.Context, in, out string) (dropFolder, dropFolder, func(), error) {
	var sessions []*drop.Session
	closeAll := func() {
		for _, s := range sessions {
			s.Close()
		}
	}
	open := func(arg string, other *remoteFolder) (dropFolder, error) {
		if !drop.IsURL(arg) {
			return &localFolder{dir: arg}, nil
		}
		u, err := drop.ParseFolderURL(arg)
		if err != nil {
			return nil, err
		}
		if other != nil && other.u.User == u.User && other.u.Host == u.Host && other.u.Port == u.Port {
			return &remoteFolder{s: other.s, u: u, arg: arg}, nil
		}
		s, err := drop.Open(contextOf(c), u, dropOptions(c))
		if err != nil {
			return nil, err
		}
		sessions = append(sessions, s)
		return &remoteFolder{s: s, u: u, arg: arg}, nil
	}
	inbox, err := open(in, nil)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--%s: %w", flagIn, err)
	}
	other, _ := inbox.(*remoteFolder)
	outbox, err := open(out, other)
	if err != nil {
		closeAll()
		return nil, nil, nil, fmt.Errorf("--%s: %w", flagOut, err)
	}
	return inbox, outbox, closeAll, nil
}

// listable reports whether a name in a drop folder is one to take: not
// hidden (which also leaves out the temporary files of writers, drop.TempPrefix
// and .tmp-…).
func listable(name string) bool {
	return name != "" && !strings.HasPrefix(name, ".")
}

// A localFolder is a folder on this machine, such as a USB stick.
type localFolder struct {
	dir string
}

func (l *localFolder) String() string          { return l.dir }
func (l *localFolder) join(name string) string { return filepath.Join(l.dir, filepath.FromSlash(name)) }
func (l *localFolder) remote() bool            { return false }

func (l *localFolder) list() ([]string, error) {
	f, err := os.Open(l.dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var names []string
	seen := 0
	for {
		entries, err := f.ReadDir(1024)
		for _, e := range entries {
			if seen++; seen > maxInboxFiles {
				return nil, fmt.Errorf("%w: the folder %s holds more than %d entries: move some of them away", errTooLarge, l.dir, maxInboxFiles)
			}
			if e.Type().IsRegular() && listable(e.Name()) {
				names = append(names, e.Name())
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the folder %s: %w", l.dir, err)
		}
	}
	slices.Sort(names)
	return names, nil
}

func (l *localFolder) read(name string) ([]byte, error) {
	return readFile(l.join(name), maxInputSize)
}

func (l *localFolder) write(name string, data []byte) error {
	return writeFileAtomic(l.join(name), data, 0o644, !haveSyncfs)
}

func (l *localFolder) move(from, to string) error {
	dst := l.join(to)
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("%w: %s", errExists, dst)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.Rename(l.join(from), dst)
}

func (l *localFolder) remove(name string) error { return os.Remove(l.join(name)) }

func (l *localFolder) mkdir(name string) error {
	dir := l.join(name)
	if name == "" {
		return os.MkdirAll(dir, 0o755)
	}
	err := os.Mkdir(dir, 0o755)
	if err == nil || !errors.Is(err, fs.ErrExist) {
		return err
	}
	if fi, err := os.Stat(dir); err != nil {
		return err
	} else if !fi.IsDir() {
		return fmt.Errorf("%w: %q is not a folder", errNotRegular, dir)
	}
	return nil
}

func (l *localFolder) sync(dirs ...string) error {
	if haveSyncfs {
		return syncFS(l.dir)
	}
	for _, d := range dirs {
		if err := syncDir(l.join(d)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// A remoteFolder is a folder on an SFTP server, worked on through one
// drop.Session.
type remoteFolder struct {
	s   *drop.Session
	u   *drop.URL
	arg string
}

func (r *remoteFolder) String() string          { return r.arg }
func (r *remoteFolder) join(name string) string { return r.u.Join(name).String() }
func (r *remoteFolder) remote() bool            { return true }
func (r *remoteFolder) path(name string) string { return path.Join(r.u.Path, name) }

func (r *remoteFolder) list() ([]string, error) {
	return r.s.List(r.u.Path)
}

func (r *remoteFolder) read(name string) ([]byte, error) { return r.s.Fetch(r.path(name)) }
func (r *remoteFolder) write(name string, data []byte) error {
	return r.s.Put(r.path(name), data)
}
func (r *remoteFolder) move(from, to string) error { return r.s.Rename(r.path(from), r.path(to)) }
func (r *remoteFolder) remove(name string) error   { return r.s.Remove(r.path(name)) }
func (r *remoteFolder) mkdir(name string) error    { return r.s.Mkdir(r.path(name)) }
func (r *remoteFolder) sync(...string) error       { return nil }
