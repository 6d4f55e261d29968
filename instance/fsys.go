package instance

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The files of a state folder.
const (
	stateName  = "state"
	lockName   = "lock"
	tempPrefix = ".tmp-" // temporary files: ".tmp-state-<random>"
)

// fileSystem is the few operations the atomic write needs. Tests replace it
// to fail each step in turn (T76): under root, permission bits cannot make
// a folder unwritable, so faults are injected here instead.
type fileSystem interface {
	CreateTemp(dir, pattern string) (tempFile, error)
	Rename(oldpath, newpath string) error
	SyncDir(dir string) error
	Remove(name string) error
}

// tempFile is the part of *os.File the atomic write uses.
type tempFile interface {
	Name() string
	Write(p []byte) (int, error)
	Sync() error
	Close() error
}

type osFS struct{}

func (osFS) CreateTemp(dir, pattern string) (tempFile, error) {
	// os.CreateTemp opens with O_EXCL and mode 0600.
	return os.CreateTemp(dir, pattern)
}

func (osFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }
func (osFS) Remove(name string) error             { return os.Remove(name) }

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeAtomic replaces path with data so that a crash at any point leaves
// either the old file or the new one: a temporary file in the same folder
// is written and synced, renamed over path, and the folder is synced so the
// rename itself is durable (rename alone is atomic, not durable). It reports
// whether the rename happened: after a failed sync of the folder the new
// file is in place but may not survive a power loss.
func writeAtomic(fsys fileSystem, path string, data []byte) (renamed bool, err error) {
	dir := filepath.Dir(path)
	f, err := fsys.CreateTemp(dir, tempPrefix+filepath.Base(path)+"-*")
	if err != nil {
		return false, fmt.Errorf("creating a temporary file in %s: %w", dir, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil && !renamed {
			fsys.Remove(tmp)
		}
	}()
	n, err := f.Write(data)
	if err == nil && n < len(data) {
		err = io.ErrShortWrite
	}
	if err != nil {
		f.Close()
		return false, fmt.Errorf("writing %s: %w", tmp, err)
	}
	// After a failed fsync the page cache may hold data that never reaches
	// the disk, and a second fsync may report success: never retry it, fail
	// and let the next write start from a new file.
	if err = f.Sync(); err != nil {
		f.Close()
		return false, fmt.Errorf("syncing %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return false, fmt.Errorf("closing %s: %w", tmp, err)
	}
	if err = fsys.Rename(tmp, path); err != nil {
		return false, fmt.Errorf("renaming %s to %s: %w", tmp, path, err)
	}
	if err = fsys.SyncDir(dir); err != nil {
		return true, fmt.Errorf("syncing the folder %s: %w", dir, err)
	}
	return true, nil
}

// sweepTemps removes temporary files that a crash left in dir. It runs with
// the lock held, so no writer is using them.
func sweepTemps(fsys fileSystem, dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix+stateName+"-") && e.Type().IsRegular() {
			if err := fsys.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// checkDir refuses a state folder that others may write to, or that is not
// a folder. Whoever can write the folder can replace the state file.
func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w in %s: the folder does not exist", ErrNotInitialized, dir)
		}
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a folder", ErrPermissions, dir)
	}
	if m := fi.Mode().Perm(); m&0o022 != 0 {
		return fmt.Errorf("%w: %s may be written by group or others (mode %04o): run chmod 700 %s", ErrPermissions, dir, m, dir)
	}
	return nil
}

// defaultLockWait is how long a writer waits for another process to finish
// its write. Writes take milliseconds; two seconds rides out a slow disk.
const defaultLockWait = 2 * time.Second

// lockPoll is how often a waiting writer tries the lock again.
const lockPoll = 5 * time.Millisecond
