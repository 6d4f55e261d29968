package instance

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/codes"
)

// Errors of download manifests.
var (
	// ErrFilesDiffer means a folder's files do not match a download
	// manifest: a file is missing, has another size or hash, is not a
	// regular file or cannot be read, or a file the manifest does not list
	// is there. The report says which.
	ErrFilesDiffer = errors.New("files do not match the download manifest")
	// ErrFolder means the folder to check cannot be read whole: it does not
	// exist, is not a folder, or holds more entries than a manifest lists.
	ErrFolder = errors.New("cannot check the folder")
)

// maxFolderEntries caps the entries CheckManifestFiles reads from a
// folder: every file a manifest may list, and as many strays again. A
// folder with more is refused rather than listed in memory.
const maxFolderEntries = 2 * codes.MaxManifestFiles

// VerifyManifest verifies a download manifest (typed, armored, binary, or
// an age-encrypted file opened with the identities of WithIdentities)
// against the installed trust set, and refuses one that has expired
// (codes.ErrExpired). Expiry is judged at the later of the clock and the
// last time the instance saw, so that a clock set back does not revive an
// old manifest. It changes nothing in the state.
func (in *Instance) VerifyManifest(input []byte) (*codes.Manifest, error) {
	code, err := codes.DecodeKind(input, codes.KindManifest, in.opts.identities...)
	if err != nil {
		return nil, err
	}
	var m *codes.Manifest
	err = in.read(func(st *state, now time.Time) error {
		var err error
		if m, err = codes.OpenManifest(code, st.trust); err != nil {
			return err
		}
		at := max(now.Unix(), st.core.HighWater)
		return m.Check(time.Unix(at, 0))
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// A FileStatus says how one file of a folder compares with a download
// manifest.
type FileStatus string

// The file statuses.
const (
	FileOK          FileStatus = "ok"                  // listed, same size and SHA-256
	FileMissing     FileStatus = "missing"             // listed, not in the folder
	FileSizeDiffers FileStatus = "size differs"        // listed, another size: truncated, or longer
	FileHashDiffers FileStatus = "hash differs"        // listed, same size, another SHA-256
	FileNotListed   FileStatus = "not in the manifest" // in the folder, not listed
	FileNotRegular  FileStatus = "not a regular file"  // listed, and a link, folder, device, pipe or socket
	FileUnreadable  FileStatus = "unreadable"          // listed, and reading it failed
)

// A FileCheck is what CheckManifestFiles found of one file.
type FileCheck struct {
	Name   string
	Status FileStatus
	Entry  *codes.ManifestFile // the manifest's entry; nil for FileNotListed
	Size   int64               // the size found, in bytes; -1 when none was (missing, not a regular file)
	SHA256 []byte              // the SHA-256 found, when the file was read whole
	Detail string              // for people, e.g. "truncated: 12 of 46 bytes"
}

// OK reports whether the file matches its entry.
func (c *FileCheck) OK() bool { return c.Status == FileOK }

// CheckManifestFiles compares the files of the folder dir with the
// manifest m, which the caller verified (VerifyManifest): each file m
// lists must be in dir, a regular file of its size and SHA-256, and dir
// must hold nothing else. It returns one FileCheck for each file m lists,
// in its order, then one for each other entry of dir, by name. The error
// is nil when every file is FileOK, ErrFilesDiffer when one is not (the
// checks say which), and ErrFolder or an I/O error when dir cannot be
// read whole (then there are no checks).
//
// It never follows a symbolic link (a listed file that is one is
// FileNotRegular), never opens a device, pipe or socket, and reads a file
// only when its size matches, at most that many bytes, streaming: a huge
// or endless file costs no memory.
func CheckManifestFiles(dir string, m *codes.Manifest) ([]FileCheck, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFolder, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a folder", ErrFolder, dir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFolder, err)
	}
	defer root.Close()
	entries, err := readFolder(root, dir)
	if err != nil {
		return nil, err
	}
	present := make(map[string]fs.DirEntry, len(entries))
	for _, e := range entries {
		present[e.Name()] = e
	}
	var out []FileCheck
	bad := 0
	for i := range m.Files {
		f := &m.Files[i]
		var c FileCheck
		if _, ok := present[f.Name]; !ok {
			c = FileCheck{Name: f.Name, Status: FileMissing, Size: -1, Detail: fmt.Sprintf("%s %s, %d bytes", f.Release, f.Version, f.Size)}
		} else {
			c = checkFile(root, f)
		}
		c.Entry = f
		if !c.OK() {
			bad++
		}
		out = append(out, c)
	}
	for _, e := range entries {
		if m.File(e.Name()) != nil {
			continue
		}
		c := FileCheck{Name: e.Name(), Status: FileNotListed, Size: -1, Detail: typeName(e.Type())}
		if info, err := e.Info(); c.Detail == "" && err == nil {
			c.Size = info.Size()
			c.Detail = fmt.Sprintf("%d bytes", c.Size)
		}
		bad++
		out = append(out, c)
	}
	if bad > 0 {
		return out, fmt.Errorf("%w: %d of %d files in %s are not as the manifest for %q lists them", ErrFilesDiffer, bad, len(out), dir, m.Org)
	}
	return out, nil
}

// readFolder lists the entries of root by name, at most maxFolderEntries.
func readFolder(root *os.Root, dir string) ([]fs.DirEntry, error) {
	d, err := root.Open(".")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFolder, err)
	}
	defer d.Close()
	var entries []fs.DirEntry
	for {
		batch, err := d.ReadDir(1024)
		entries = append(entries, batch...)
		if len(entries) > maxFolderEntries {
			return nil, fmt.Errorf("%w: %s holds more than %d entries: copy the release files to a folder of their own", ErrFolder, dir, maxFolderEntries)
		}
		if errors.Is(err, io.EOF) || (err == nil && len(batch) == 0) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: reading %s: %w", ErrFolder, dir, err)
		}
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, nil
}

// typeName names a type of entry that is not a regular file, or returns
// "" for a regular file.
func typeName(mode fs.FileMode) string {
	switch t := mode.Type(); {
	case t == 0:
		return ""
	case t&fs.ModeSymlink != 0:
		return "a symbolic link, not followed"
	case t&fs.ModeDir != 0:
		return "a folder"
	case t&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case t&fs.ModeSocket != 0:
		return "a socket"
	case t&fs.ModeDevice != 0:
		return "a device"
	default:
		return "a special file"
	}
}

// checkFile compares the file of entry f in root with it.
func checkFile(root *os.Root, f *codes.ManifestFile) FileCheck {
	c := FileCheck{Name: f.Name, Size: -1}
	fail := func(s FileStatus, format string, args ...any) FileCheck {
		c.Status, c.Detail = s, fmt.Sprintf(format, args...)
		return c
	}
	lst, err := root.Lstat(f.Name)
	if err != nil {
		return fail(FileUnreadable, "%v", trimPath(err))
	}
	if t := typeName(lst.Mode()); t != "" {
		return fail(FileNotRegular, "%s", t)
	}
	// Opened without following a link and without waiting for a writer,
	// then checked again: the entry may have been swapped since Lstat.
	file, err := root.OpenFile(f.Name, openFlags, 0)
	if err != nil {
		return fail(FileUnreadable, "%v", trimPath(err))
	}
	defer file.Close()
	fst, err := file.Stat()
	if err != nil {
		return fail(FileUnreadable, "%v", trimPath(err))
	}
	if !fst.Mode().IsRegular() || !os.SameFile(lst, fst) {
		return fail(FileNotRegular, "it changed while it was checked")
	}
	c.Size = fst.Size()
	if c.Size != int64(f.Size) {
		if c.Size < int64(f.Size) {
			return fail(FileSizeDiffers, "truncated: %d of %d bytes", c.Size, f.Size)
		}
		return fail(FileSizeDiffers, "%d bytes, %d more than the manifest lists", c.Size, uint64(c.Size)-f.Size)
	}
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(file, int64(f.Size)+1))
	if err != nil {
		return fail(FileUnreadable, "reading it: %v", trimPath(err))
	}
	if n != int64(f.Size) {
		c.Size = n
		return fail(FileSizeDiffers, "%d bytes read where the manifest lists %d: it changed while it was read", n, f.Size)
	}
	c.SHA256 = h.Sum(nil)
	if !bytes.Equal(c.SHA256, f.SHA256) {
		return fail(FileHashDiffers, "SHA-256 %x, the manifest lists %x", c.SHA256, f.SHA256)
	}
	c.Status, c.Detail = FileOK, fmt.Sprintf("%s %s, %d bytes", f.Release, f.Version, f.Size)
	return c
}

// trimPath keeps the reason of a path error: the report names the file.
func trimPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
