package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// haveSyncfs: on Linux, syncfs(2) makes a whole file system durable in one
// call, so the files of a round are written without a sync each and
// flushed together.
const haveSyncfs = true

// syncFS makes every file and name on the file system holding dir durable.
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("syncing the file system of %s: %w", dir, err)
	}
	return nil
}
