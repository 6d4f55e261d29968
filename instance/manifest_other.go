//go:build !unix

package instance

import "os"

// openFlags open a release file for reading. os.Root keeps the open
// inside the folder; the type is checked before and after.
const openFlags = os.O_RDONLY
