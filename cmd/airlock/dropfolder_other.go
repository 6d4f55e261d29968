//go:build !linux

package main

// haveSyncfs is false where there is no syncfs(2): each file is synced as
// it is written, and each folder after.
const haveSyncfs = false

func syncFS(dir string) error { return syncDir(dir) }
