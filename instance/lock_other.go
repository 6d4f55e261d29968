//go:build !unix

package instance

import (
	"errors"
	"time"
)

type dirLock struct{}

// lockDir needs flock(2); the instance state is supported on Unix systems
// only.
func lockDir(dir string, wait time.Duration) (*dirLock, error) {
	return nil, errors.New("the instance state needs a Unix system (file locking with flock)")
}

func (l *dirLock) unlock() {}
