//go:build !unix

package instance

import "time"

// wallUnix reads the wall clock in Unix seconds.
func wallUnix() int64 { return time.Now().Unix() }
