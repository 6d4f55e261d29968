package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"filippo.io/age"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/formats/seal"
)

// Size limits on what airlock reads, checked before anything is parsed.
const (
	// maxInputSize caps a code file or standard input: 32 MiB. Most codes
	// are a few KiB (codes.MaxCodeSize, 8 KiB, in binary); an activation
	// request or activation file of a large fleet may reach
	// codes.MaxBulkCodeSize in binary, a third more armored, and a little
	// more age-encrypted (seal.MaxSize).
	maxInputSize = 32 << 20
	// maxKeyFileSize caps identity, recipient and trust files: 64 KiB for
	// a few lines of keys, or a trust file of at most codes.MaxTrustKeys
	// keys.
	maxKeyFileSize = 64 << 10
)

// An input is the bytes of a code with a name for messages.
type input struct {
	data    []byte
	source  string // `file "x"`, "standard input" or "the typed code"
	literal bool   // typed on the command line
}

// readCodeArg reads the code named by a command's argument:
//
//   - "-" reads standard input;
//   - a path that exists is read as a file;
//   - an argument with '/', '\' or '.' is a path (a typed code has none of
//     these), so it must exist;
//   - anything else is the typed code itself.
func readCodeArg(arg string, stdin io.Reader, stderr io.Writer) (*input, error) {
	if arg == "-" {
		if f, ok := stdin.(*os.File); ok && isTerminal(f) {
			note(stderr, "reading a code from the terminal; end it with a new line and Ctrl-D")
		}
		b, err := readCapped(stdin, maxInputSize, "standard input")
		if err != nil {
			return nil, err
		}
		return &input{data: b, source: "standard input"}, nil
	}
	_, err := os.Stat(arg)
	switch {
	case err == nil:
		b, err := readFile(arg, maxInputSize)
		if err != nil {
			return nil, err
		}
		return &input{data: b, source: fmt.Sprintf("file %q", arg)}, nil
	case strings.ContainsAny(arg, `/\.`):
		if errors.Is(err, fs.ErrNotExist) {
			return nil, withHint(fmt.Errorf("no such file %q", arg), "check the path; a typed code is given as it is, quoted if it has spaces")
		}
		return nil, err
	}
	return &input{data: []byte(arg), source: "the typed code", literal: true}, nil
}

// readFile reads a regular file of at most limit bytes. It refuses
// devices, FIFOs and folders before opening them, so that a FIFO cannot
// make it wait.
func readFile(path string, limit int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := checkRegular(path, fi, limit); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The file may have been replaced between Stat and Open.
	if fi, err = f.Stat(); err != nil {
		return nil, err
	}
	if err := checkRegular(path, fi, limit); err != nil {
		return nil, err
	}
	return readCapped(f, limit, fmt.Sprintf("file %q", path))
}

func checkRegular(path string, fi fs.FileInfo, limit int64) error {
	m := fi.Mode()
	switch {
	case m.IsDir():
		return fmt.Errorf("%w: %q is a folder", errNotRegular, path)
	case !m.IsRegular():
		return fmt.Errorf("%w: %q is a %s", errNotRegular, path, fileType(m))
	case fi.Size() > limit:
		return fmt.Errorf("%w: %q has %d bytes, the limit is %d", errTooLarge, path, fi.Size(), limit)
	}
	return nil
}

func fileType(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

// readCapped reads r to its end, refusing more than limit bytes.
func readCapped(r io.Reader, limit int64, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: %s has more than %d bytes", errTooLarge, what, limit)
	}
	return b, nil
}

// readIdentities reads age identity files or SSH private keys.
func readIdentities(paths []string) ([]age.Identity, error) {
	var ids []age.Identity
	for _, p := range paths {
		b, err := readFile(p, maxKeyFileSize)
		if err != nil {
			return nil, fmt.Errorf("--identity: %w", err)
		}
		parsed, err := seal.ParseIdentities(b)
		if err != nil {
			return nil, fmt.Errorf("--identity %q: %w", p, err)
		}
		ids = append(ids, parsed...)
	}
	return ids, nil
}

// readTrust reads a trust file in any form and verifies it vouches for
// itself.
func readTrust(path string) (*codes.TrustSet, error) {
	b, err := readFile(path, maxKeyFileSize)
	if err != nil {
		return nil, fmt.Errorf("--trust: %w", err)
	}
	t, err := codes.ReadTrustFile(b)
	if err != nil {
		return nil, fmt.Errorf("--trust %q: %w", path, err)
	}
	return t, nil
}
