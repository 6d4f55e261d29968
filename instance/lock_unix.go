//go:build unix

package instance

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// A dirLock is the exclusive lock on a state folder: flock(2) on its lock
// file, held for one read-modify-write. The lock goes with the open file,
// so a process that dies releases it.
type dirLock struct{ f *os.File }

// lockDir takes the lock of dir, waiting up to wait for another process to
// release it. The holder writes its process id into the lock file, so that
// a writer that gives up can name it.
func lockDir(dir string, wait time.Duration) (*dirLock, error) {
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the lock file: %w", err)
	}
	deadline := time.Now().Add(wait)
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			holder := "another process"
			if b, rerr := os.ReadFile(path); rerr == nil {
				if pid, perr := strconv.Atoi(string(bytes.TrimSpace(b))); perr == nil && pid > 0 {
					holder = fmt.Sprintf("process %d", pid)
				}
			}
			f.Close()
			return nil, fmt.Errorf("%w: %s holds the lock of %s (waited %s)", ErrLocked, holder, dir, wait)
		}
		time.Sleep(lockPoll)
	}
	// Best effort: the pid only improves the message of a waiting writer.
	// It is written over the last one in a fixed width: truncating the
	// file would cost a journal commit (about a millisecond on ext4).
	f.WriteAt(fmt.Appendf(nil, "%-19d\n", os.Getpid()), 0)
	return &dirLock{f}, nil
}

// unlock releases the lock. Closing the file releases it as well; the
// explicit unlock only makes the order plain.
func (l *dirLock) unlock() {
	syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
}
