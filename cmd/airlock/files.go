package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/airlock-dev/airlock/cmd/airlock/internal/drop"
)

// clock is the time every command reads. Only the test binary replaces it,
// to run clock attacks end to end; the airlock binary has no way to.
var clock = time.Now

// writeFileAtomic writes data to path through a temporary file in the
// same folder, with mode perm, synced when sync is set, renamed over path,
// so that a crash leaves the old file or the new one, never part of
// either. The temporary name is hidden (drop.TempPrefix), so that no
// reader of the folder takes it. The caller syncs the folder.
func writeFileAtomic(path string, data []byte, perm fs.FileMode, sync bool) error {
	f, err := os.CreateTemp(filepath.Dir(path), drop.TempPrefix+"*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// replaceFile is writeFileAtomic made durable: the file synced before the
// rename and the folder after it.
func replaceFile(path string, data []byte, perm fs.FileMode) error {
	if err := writeFileAtomic(path, data, perm, true); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("writing %s: the file is in place but its folder could not be synced: %w", path, err)
	}
	return nil
}
