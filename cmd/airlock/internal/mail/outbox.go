package mail

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// outboxTempPrefix starts the name of a message still being written (or
// left by a writer that died). It starts with a dot and has no .eml
// suffix, so whoever collects *.eml files from the outbox skips it.
const outboxTempPrefix = ".tmp-"

// outboxTimeFormat is the UTC time that starts each file name, so that
// names sort in the order the messages were written, to the second.
const outboxTimeFormat = "20060102T150405Z"

// WriteOutbox renders m (see Message.Render) and writes it as a new file
// in dir, creating dir with mode 0700 if it does not exist, and returns the
// file's path. The file, mode 0600, is named like
// 20261202T101500Z-K3QZ9ABCDEFG.eml: the UTC time of writing and a random
// part. It appears complete or not at all: the message is written to a
// temporary file in dir, synced, linked to its final name (which fails
// rather than replace an existing file), and dir is synced. On a file
// system without hard links it is renamed instead, after checking that
// the name is free.
//
// Errors from the file system are returned wrapped, with the path.
func WriteOutbox(dir string, m *Message) (path string, err error) {
	return writeOutbox(dir, m, time.Now)
}

// writeOutbox is WriteOutbox with the clock that names the file.
func writeOutbox(dir string, m *Message, now func() time.Time) (path string, err error) {
	data, err := m.Render()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("creating the outbox: %w", err)
	}
	// os.CreateTemp opens with O_EXCL and mode 0600.
	f, err := os.CreateTemp(dir, outboxTempPrefix+"*")
	if err != nil {
		return "", fmt.Errorf("creating a file in the outbox: %w", err)
	}
	tmp := f.Name()
	published := false
	defer func() {
		if !published {
			os.Remove(tmp)
		}
	}()
	n, err := f.Write(data)
	if err == nil && n < len(data) {
		err = io.ErrShortWrite
	}
	if err == nil {
		// Never retry a failed fsync: the data may be lost while a second
		// call reports success.
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("writing %s: %w", tmp, err)
	}
	if path, err = publish(dir, tmp, now); err != nil {
		return "", err
	}
	published = true
	os.Remove(tmp) // the other link to the message (gone after a rename), before the folder is synced
	if err := syncDir(dir); err != nil {
		return path, fmt.Errorf("syncing the outbox %s: %w", dir, err)
	}
	return path, nil
}

// publish gives tmp a new, unused name in dir and returns it.
func publish(dir, tmp string, now func() time.Time) (string, error) {
	const attempts = 3 // a clash of 60 random bits means a bug, not bad luck
	for range attempts {
		name := filepath.Join(dir, now().UTC().Format(outboxTimeFormat)+"-"+rand.Text()[:12]+".eml")
		err := os.Link(tmp, name)
		if err == nil {
			return name, nil
		}
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		// No hard links here (FAT, some network shares): rename, which
		// replaces silently, once the name is known to be free.
		if _, serr := os.Lstat(name); !errors.Is(serr, fs.ErrNotExist) {
			return "", fmt.Errorf("writing the outbox: %w", err)
		}
		if err := os.Rename(tmp, name); err != nil {
			return "", fmt.Errorf("writing the outbox: %w", err)
		}
		return name, nil
	}
	return "", fmt.Errorf("writing the outbox: %d random file names in %s already exist", attempts, dir)
}

func syncDir(dir string) error {
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
