//go:build unix

package instance

import (
	"os"
	"syscall"
)

// openFlags open a release file for reading without following a symbolic
// link and without blocking on a named pipe swapped in for it.
const openFlags = os.O_RDONLY | syscall.O_NOFOLLOW | syscall.O_NONBLOCK
