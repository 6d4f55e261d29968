package codes

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of a download manifest.
const (
	// MaxManifestFiles caps the files one manifest lists: far more than
	// the releases one organization installs, and few enough that a
	// manifest of names at their longest (about 450 bytes a file) stays
	// under a third of MaxBulkCodeSize.
	MaxManifestFiles = 10_000
	// MaxFileNameLen caps a file name, in bytes: the longest name that
	// ext4, NTFS and exFAT all take.
	MaxFileNameLen = 255
	// MaxManifestNameLen caps an organization name, a release name and a
	// version in a manifest, in bytes: the authority's names are 64
	// characters at most.
	MaxManifestNameLen = 64
	// MaxFileSize caps a file's size, in bytes: 2^50 (1 PiB), far above
	// any release and far below where adding one to a size overflows.
	MaxFileSize = 1 << 50
	// SHA256Size is the length of a file's hash, in bytes.
	SHA256Size = 32
)

// A Manifest lists the release files an organization is entitled to
// download, each with its size and SHA-256. The authority signs it
// (SignManifest); a site that receives release files on removable media
// verifies it offline (OpenManifest, then Check) and compares each file
// with its entry before installing anything.
//
// Files are sorted by name, and no two names differ only in case: the
// files of a manifest fit in one folder, on any file system. The
// organization is shown, not checked: an instance does not know its
// organization.
type Manifest struct {
	Org      string         `cbor:"1,keyasint"`
	IssuedAt int64          `cbor:"2,keyasint"`           // Unix seconds, UTC
	Expires  int64          `cbor:"3,keyasint,omitempty"` // Unix seconds, UTC, exclusive; 0: never
	Files    []ManifestFile `cbor:"4,keyasint"`

	KeyID KeyID `cbor:"-"` // the authority key that signed it, set by Open…
}

// A ManifestFile is one file of a release: its name in the folder it is
// carried in, the release and version it belongs to, its size and its
// SHA-256.
type ManifestFile struct {
	Name    string `cbor:"1,keyasint"`
	Release string `cbor:"2,keyasint"`
	Version string `cbor:"3,keyasint"`
	Size    uint64 `cbor:"4,keyasint"` // bytes, at most MaxFileSize
	SHA256  []byte `cbor:"5,keyasint"` // SHA256Size bytes
}

// CheckFileName checks that name is a safe base name for a file in a
// manifest: 1 to MaxFileNameLen bytes of printable ASCII, space included;
// no '/', '\' or ':' (no folder, drive or stream can be named), no "..",
// not ".", and no space at either end (Windows drops trailing spaces).
// Non-ASCII letters are refused too, so that no two names look alike.
func CheckFileName(name string) error {
	if name == "" || len(name) > MaxFileNameLen {
		return fmt.Errorf("%w: file name must have 1 to %d characters, has %d", ErrMalformed, MaxFileNameLen, len(name))
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c < ' ' || c > '~':
			return fmt.Errorf("%w: file name %q has %s at position %d: use printable ASCII only", ErrMalformed, name, charAt(name, i), i+1)
		case c == '/' || c == '\\' || c == ':':
			return fmt.Errorf("%w: file name %q has %q at position %d: a file name names no folder, drive or stream", ErrMalformed, name, c, i+1)
		}
	}
	switch {
	case name == ".":
		return fmt.Errorf("%w: file name %q names the folder itself", ErrMalformed, name)
	case strings.Contains(name, ".."):
		return fmt.Errorf("%w: file name %q has \"..\"", ErrMalformed, name)
	case name[0] == ' ' || name[len(name)-1] == ' ':
		return fmt.Errorf("%w: file name %q starts or ends with a space", ErrMalformed, name)
	}
	return nil
}

// checkManifestName checks an organization, release name or version: 1
// to MaxManifestNameLen bytes of printable ASCII without spaces.
func checkManifestName(what, s string) error {
	if s == "" || len(s) > MaxManifestNameLen {
		return fmt.Errorf("%w: %s must have 1 to %d characters, has %d", ErrMalformed, what, MaxManifestNameLen, len(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("%w: %s %q has %s at position %d: use printable ASCII without spaces", ErrMalformed, what, s, charAt(s, i), i+1)
		}
	}
	return nil
}

// charAt quotes the character at byte i of s: the rune and its code
// point when it is not ASCII, so that a look-alike letter shows as what it
// is.
func charAt(s string, i int) string {
	if s[i] < utf8.RuneSelf {
		return fmt.Sprintf("%q", s[i])
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError {
		return fmt.Sprintf("byte %#x", s[i])
	}
	return fmt.Sprintf("%q (%U)", r, r)
}

func (m *Manifest) validate() error {
	if err := checkManifestName("organization", m.Org); err != nil {
		return err
	}
	if err := checkTime("manifest issue time", m.IssuedAt); err != nil {
		return err
	}
	if m.Expires != 0 && m.Expires <= m.IssuedAt {
		return fmt.Errorf("%w: manifest expires %s, not after it was issued %s", ErrInvalid, fmtTime(m.Expires), fmtTime(m.IssuedAt))
	}
	switch n := len(m.Files); {
	case n == 0:
		return fmt.Errorf("%w: manifest lists no file", ErrInvalid)
	case n > MaxManifestFiles:
		return fmt.Errorf("%w: manifest lists %d files, the limit is %d", ErrInvalid, n, MaxManifestFiles)
	}
	folded := make(map[string]string, len(m.Files))
	for i := range m.Files {
		f := &m.Files[i]
		if err := CheckFileName(f.Name); err != nil {
			return err
		}
		if i > 0 && f.Name <= m.Files[i-1].Name {
			return fmt.Errorf("%w: manifest lists file %q after %q: file names must be sorted and unique", ErrInvalid, f.Name, m.Files[i-1].Name)
		}
		if other, ok := folded[strings.ToLower(f.Name)]; ok {
			return fmt.Errorf("%w: manifest lists files %q and %q, whose names differ only in case: a folder on FAT, exFAT or NTFS holds one of them", ErrInvalid, other, f.Name)
		}
		folded[strings.ToLower(f.Name)] = f.Name
		if err := checkManifestName("release name", f.Release); err != nil {
			return err
		}
		if err := checkManifestName("release version", f.Version); err != nil {
			return err
		}
		if f.Size > MaxFileSize {
			return fmt.Errorf("%w: file %q has size %d, the limit is %d", ErrMalformed, f.Name, f.Size, uint64(MaxFileSize))
		}
		if err := checkLen(fmt.Sprintf("SHA-256 of file %q", f.Name), f.SHA256, SHA256Size); err != nil {
			return err
		}
	}
	return nil
}

// File returns the entry of the file called name, or nil. Names are
// compared byte for byte.
func (m *Manifest) File(name string) *ManifestFile {
	i := sort.Search(len(m.Files), func(i int) bool { return m.Files[i].Name >= name })
	if i < len(m.Files) && m.Files[i].Name == name {
		return &m.Files[i]
	}
	return nil
}

// TotalSize returns the sum of the files' sizes, in bytes. It does not
// overflow: there are at most MaxManifestFiles of at most MaxFileSize.
func (m *Manifest) TotalSize() uint64 {
	var n uint64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// SignManifest validates m and signs it with key.
func SignManifest(m *Manifest, key *AuthorityKey) ([]byte, error) {
	return signCode(KindManifest, m, key)
}

// OpenManifest verifies a download manifest against the trust set, as
// OpenAuthorization does: the key named by its header must be in trust
// and the manifest must have been issued in that key's window. It does
// not look at the clock: call Check for that.
func OpenManifest(b []byte, trust *TrustSet) (*Manifest, error) {
	var m Manifest
	key, err := openSigned(KindManifest, b, trust, &m)
	if err != nil {
		return nil, err
	}
	if !key.ValidAt(m.IssuedAt) {
		return nil, keyWindowError(KindManifest, key, m.IssuedAt)
	}
	m.KeyID = key.ID()
	return &m, nil
}

// ParseUnverifiedManifest decodes a download manifest for display only:
// nothing in it is trusted.
func ParseUnverifiedManifest(b []byte) (*Manifest, error) {
	s, id, err := parseSigned(KindManifest, b)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := decodePayload(KindManifest, s.Payload, &m); err != nil {
		return nil, err
	}
	m.KeyID = id
	return &m, nil
}

// Check applies the time rule that needs no state: a manifest that
// expires may not be used from its expiry on (ErrExpired). The caller
// chooses now; an instance passes the later of its clock and the last
// time it saw, so that a clock set back does not revive a manifest.
func (m *Manifest) Check(now time.Time) error {
	if m.Expires != 0 && now.Unix() >= m.Expires {
		return fmt.Errorf("%w: the download manifest for %q expired %s: ask the vendor for a new one", ErrExpired, m.Org, fmtTime(m.Expires))
	}
	return nil
}
