package droptest

import (
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/pkg/sftp"
)

// Dir serves a real folder as the whole SFTP tree: "/" and the login folder
// are both Root, so sftp://host/~/a and sftp://host/a name Root/a. Request
// paths arrive cleaned and absolute, so ".." never leaves Root; symbolic
// links inside Root are followed wherever they point, so a test can serve
// a link to /dev/zero.
//
// Rename behaves as OpenSSH's does: it never replaces an existing file.
// posix-rename@openssh.com replaces, as rename(2) does.
type Dir struct {
	Root string

	mu    sync.Mutex
	quota int64 // bytes that may still be written; negative: no limit
}

// NewDir serves root.
func NewDir(root string) *Dir { return &Dir{Root: root, quota: -1} }

// Handlers returns the handlers to give WithHandlers.
func (d *Dir) Handlers() sftp.Handlers {
	return sftp.Handlers{FileGet: d, FilePut: d, FileCmd: d, FileList: d}
}

// SetWriteQuota lets at most n more bytes be written, as on a disk about to
// fill: a write beyond that fails with ENOSPC. A negative n lifts the
// limit.
func (d *Dir) SetWriteQuota(n int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.quota = n
}

func (d *Dir) take(n int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.quota < 0 {
		return true
	}
	if int64(n) > d.quota {
		d.quota = 0
		return false
	}
	d.quota -= int64(n)
	return true
}

// local returns the file that a request path names.
func (d *Dir) local(p string) string {
	return filepath.Join(d.Root, filepath.FromSlash(path.Clean("/"+p)))
}

// Fileread opens a file to read.
func (d *Dir) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	f, err := os.Open(d.local(r.Filepath))
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return nil, &os.PathError{Op: "read", Path: r.Filepath, Err: syscall.EISDIR}
	}
	return f, nil
}

// Filewrite opens a file to write, with the flags the client sent.
func (d *Dir) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	pf := r.Pflags()
	flags := os.O_WRONLY
	if pf.Creat {
		flags |= os.O_CREATE
	}
	if pf.Excl {
		flags |= os.O_EXCL
	}
	if pf.Trunc {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(d.local(r.Filepath), flags, 0o644)
	if err != nil {
		return nil, err
	}
	return &quotaWriter{f: f, d: d}, nil
}

type quotaWriter struct {
	f *os.File
	d *Dir
}

func (w *quotaWriter) WriteAt(b []byte, off int64) (int, error) {
	if !w.d.take(len(b)) {
		return 0, &os.PathError{Op: "write", Path: w.f.Name(), Err: syscall.ENOSPC}
	}
	return w.f.WriteAt(b, off)
}

func (w *quotaWriter) Close() error { return w.f.Close() }

// Filecmd changes the tree.
func (d *Dir) Filecmd(r *sftp.Request) error {
	name := d.local(r.Filepath)
	switch r.Method {
	case "Setstat":
		_, err := os.Stat(name)
		return err
	case "Rename":
		return renameNoReplace(name, d.local(r.Target))
	case "Remove":
		fi, err := os.Lstat(name)
		if err != nil {
			return err
		}
		if fi.IsDir() {
			return &os.PathError{Op: "remove", Path: r.Filepath, Err: syscall.EISDIR}
		}
		return os.Remove(name)
	case "Rmdir":
		fi, err := os.Lstat(name)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return &os.PathError{Op: "rmdir", Path: r.Filepath, Err: syscall.ENOTDIR}
		}
		return os.Remove(name)
	case "Mkdir":
		return os.Mkdir(name, 0o755)
	case "Link":
		return os.Link(name, d.local(r.Target))
	}
	return sftp.ErrSSHFxOpUnsupported
}

// renameNoReplace renames as OpenSSH's sftp-server does: link the new
// name, then remove the old one, so an existing target makes it fail.
func renameNoReplace(from, to string) error {
	err := os.Link(from, to)
	switch {
	case err == nil:
		return os.Remove(from)
	case errors.Is(err, os.ErrExist):
		return err
	}
	// A file system without hard links.
	if _, serr := os.Lstat(to); serr == nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: syscall.EEXIST}
	}
	return os.Rename(from, to)
}

// PosixRename replaces the target in one step, as rename(2) does.
func (d *Dir) PosixRename(r *sftp.Request) error {
	return os.Rename(d.local(r.Filepath), d.local(r.Target))
}

// Filelist answers Stat (following links), Lstat and List.
func (d *Dir) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	name := d.local(r.Filepath)
	switch r.Method {
	case "Stat":
		fi, err := os.Stat(name)
		if err != nil {
			return nil, err
		}
		return listerAt{fi}, nil
	case "Lstat":
		fi, err := os.Lstat(name)
		if err != nil {
			return nil, err
		}
		return listerAt{fi}, nil
	case "List":
		entries, err := os.ReadDir(name)
		if err != nil {
			return nil, err
		}
		var l listerAt
		for _, e := range entries {
			fi, err := e.Info()
			if err != nil {
				continue
			}
			l = append(l, fi)
		}
		return l, nil
	}
	return nil, sftp.ErrSSHFxOpUnsupported
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
