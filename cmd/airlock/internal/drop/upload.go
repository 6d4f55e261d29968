package drop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
)

// ErrExists means a file exists where one was to be written or moved, and
// holds something else: an Upload and Session.Rename never replace a file.
var ErrExists = errors.New("remote file already exists")

// An Upload is a connection made ready to write one file, for a command
// that must not change its own state unless the file can be written: it
// calls PrepareUpload first, so that an unknown host key, a refused login
// or a missing folder stops it before anything changes, then changes its
// state, then calls Write.
//
// Unlike Put, an Upload never replaces a file: a command that writes a
// code file refuses to overwrite one, locally as here.
type Upload struct {
	s *session
	u *URL
}

// PrepareUpload connects to the server u names, checks the host key and
// authenticates as Fetch does, and checks that the folder of u exists and
// that u is not a folder or special file. Options.Timeout runs from this
// call to the end of Write: prepare just before the state change.
func PrepareUpload(ctx context.Context, u *URL, opt Options) (*Upload, error) {
	s, err := dial(ctx, u, &opt)
	if err != nil {
		return nil, err
	}
	dir, ok := u.dir()
	if !ok {
		dir = "."
	}
	fi, err := s.sftp.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		s.close()
		return nil, fmt.Errorf("%w: the folder %q does not exist on %s", ErrNotFound, dir, u.Addr())
	case err != nil:
		err = s.fail(fmt.Sprintf("cannot look at the folder %q of", dir), err)
		s.close()
		return nil, err
	case !fi.IsDir():
		s.close()
		return nil, fmt.Errorf("%w: %q on %s is %s, not a folder", ErrNotRegular, dir, u.Addr(), describeMode(fi.Mode()))
	}
	if fi, err := s.sftp.Stat(u.Path); err == nil && !fi.Mode().IsRegular() {
		s.close()
		return nil, fmt.Errorf("%w: cannot write %s: it is %s", ErrNotRegular, u, describeMode(fi.Mode()))
	}
	return &Upload{s: s, u: u}, nil
}

// Write writes data to the file, so that a reader of the folder never sees
// part of it: into a temporary file (TempPrefix and a random suffix) in the
// same folder, renamed onto the final name with the SFTP rename that fails
// when the target exists (OpenSSH's does; on a server whose rename
// replaces, the check made just before is the guard).
//
// A file that exists already is left alone: Write reports existed when it
// holds data already, and returns an ErrExists error when it holds
// anything else. Call Write once.
func (up *Upload) Write(data []byte) (existed bool, err error) {
	if up.s == nil {
		panic("drop: Write on a closed Upload")
	}
	s, u := up.s, up.u
	if fi, err := s.sftp.Stat(u.Path); err == nil {
		return up.compare(fi, data)
	} else if !errors.Is(err, os.ErrNotExist) {
		return false, s.fail("cannot stat", err)
	}
	tmp, err := tempName()
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrTransfer, err)
	}
	dir, ok := u.dir()
	if ok {
		tmp = path.Join(dir, tmp)
	}
	f, err := s.sftp.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return false, s.fail(fmt.Sprintf("cannot create a temporary file in %q for", dir), err)
	}
	n, err := f.Write(data)
	if err == nil && n != len(data) {
		err = io.ErrShortWrite
	}
	if err == nil {
		// Ask the server to flush before the rename makes the file
		// visible.
		if _, ok := s.sftp.HasExtension("fsync@openssh.com"); ok {
			err = f.Sync()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, up.removeTemp(tmp, s.fail("writing", err))
	}
	if err := s.sftp.Rename(tmp, u.Path); err != nil {
		// Someone wrote the name meanwhile, or the server failed.
		if fi, serr := s.sftp.Stat(u.Path); serr == nil {
			s.sftp.Remove(tmp)
			return up.compare(fi, data)
		}
		return false, up.removeTemp(tmp, s.fail("cannot rename the temporary file onto", err))
	}
	return false, nil
}

// removeTemp removes the temporary file after a failure, or says in the
// error that it may remain.
func (up *Upload) removeTemp(tmp string, cause error) error {
	if err := up.s.sftp.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w (the temporary file %q may remain on %s)", cause, tmp, up.u.Addr())
	}
	return cause
}

// compare tells whether the existing file fi at the URL holds data.
func (up *Upload) compare(fi os.FileInfo, data []byte) (bool, error) {
	s, u := up.s, up.u
	if !fi.Mode().IsRegular() {
		return false, fmt.Errorf("%w: cannot write %s: it is %s", ErrNotRegular, u, describeMode(fi.Mode()))
	}
	differs := fmt.Errorf("%w: %s holds something else (%d bytes); it is never replaced", ErrExists, u, fi.Size())
	if fi.Size() != int64(len(data)) {
		return false, differs
	}
	f, err := s.sftp.Open(u.Path)
	if err != nil {
		return false, s.fail("cannot open", err)
	}
	defer f.Close()
	old, err := io.ReadAll(io.LimitReader(f, int64(len(data))+1))
	if err != nil {
		return false, s.fail("reading", err)
	}
	if !bytes.Equal(old, data) {
		return false, differs
	}
	return true, nil
}

// Close ends the connection. It may be called more than once, and on a nil
// Upload.
func (up *Upload) Close() {
	if up == nil || up.s == nil {
		return
	}
	up.s.close()
	up.s = nil
}
