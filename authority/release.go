package authority

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/codes"
)

// Releases and download manifests. The vendor registers the files of its
// releases (AddRelease), each with the software whose products entitle an
// organization to it; Manifest signs, for one organization, the list of
// every file its products entitle it to, with sizes and SHA-256, which a
// site verifies offline before installing files carried in on media.

// MaxReleaseSoftware caps the software names one release file lists: a
// release serves one product line, or a few that share it.
const MaxReleaseSoftware = 16

// MaxVersionLen caps a release version, in bytes.
const MaxVersionLen = 64

// History actions of releases.
const (
	actionReleaseAdd = "release add"
	actionManifest   = "manifest"
)

// ErrNotEntitled means no product of the organization entitles it to a
// registered release file. It is a kind of ErrNotFound.
var ErrNotEntitled = kindOf(ErrNotFound)

// CheckVersion checks a release version: 1 to MaxVersionLen characters,
// letters, digits and . _ - + ~, starting with a letter or digit
// ("4.2.0", "4.2.0-rc.1+build.7").
func CheckVersion(v string) error {
	if v == "" || len(v) > MaxVersionLen {
		return fmt.Errorf("%w: version must have 1 to %d characters, has %d", ErrInvalid, MaxVersionLen, len(v))
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			i > 0 && (c == '.' || c == '_' || c == '-' || c == '+' || c == '~')
		if !ok {
			return fmt.Errorf("%w: version %q has %q at position %d: use letters, digits, '.', '_', '-', '+' and '~', starting with a letter or digit", ErrInvalid, v, c, i+1)
		}
	}
	return nil
}

// checkRelease checks the fields of a release file before it is stored,
// and sorts its software names.
func checkRelease(r *Release) error {
	if err := CheckName("release", r.Name); err != nil {
		return err
	}
	if err := CheckVersion(r.Version); err != nil {
		return err
	}
	if err := codes.CheckFileName(r.FileName); err != nil {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.TrimPrefix(err.Error(), codes.ErrMalformed.Error()+": "))
	}
	if len(r.SHA256) != sha256.Size {
		return fmt.Errorf("%w: the SHA-256 of %q has %d bytes, want %d", ErrInvalid, r.FileName, len(r.SHA256), sha256.Size)
	}
	if r.Size < 0 || r.Size > codes.MaxFileSize {
		return fmt.Errorf("%w: the size of %q is %d bytes, want 0 to %d", ErrInvalid, r.FileName, r.Size, int64(codes.MaxFileSize))
	}
	if len(r.Software) == 0 || len(r.Software) > MaxReleaseSoftware {
		return fmt.Errorf("%w: release %s must name 1 to %d software, names %d", ErrInvalid, r.Ref(), MaxReleaseSoftware, len(r.Software))
	}
	r.Software = slices.Clone(r.Software)
	sort.Strings(r.Software)
	for i, sw := range r.Software {
		if err := CheckName("software", sw); err != nil {
			return err
		}
		if i > 0 && sw == r.Software[i-1] {
			return fmt.Errorf("%w: release %s names software %q twice", ErrInvalid, r.Ref(), sw)
		}
	}
	return nil
}

// AddRelease registers one file of a release: its name, version, file
// name, SHA-256 (32 bytes) and size in bytes, and the software ("vms")
// whose products entitle an organization to it. Call it once for each
// file of a release. A file name names one file in the whole ledger, and
// no two differ only in case (ErrExists): the files of a manifest sit in
// one folder, perhaps on a file system that ignores case.
func (l *Ledger) AddRelease(ctx context.Context, name, version, fileName string, sha []byte, size int64, software []string) (*Release, error) {
	r := &Release{Name: name, Version: version, FileName: fileName, SHA256: slices.Clone(sha), Size: size, Software: software, Actor: l.opts.Actor}
	if err := checkRelease(r); err != nil {
		return nil, err
	}
	err := l.update(ctx, func(tx Tx, c *chain) error {
		if _, err := l.actingVendor(tx, "add releases"); err != nil {
			return err
		}
		all, err := tx.Releases()
		if err != nil {
			return err
		}
		for _, o := range all {
			if strings.EqualFold(o.FileName, fileName) {
				same := ""
				if o.FileName != fileName {
					same = fmt.Sprintf(" (as %q: names that differ only in case are one file on FAT, exFAT and NTFS)", o.FileName)
				}
				return fmt.Errorf("%w: file %q is registered%s for release %s since %s, %d bytes, SHA-256 %x: a file name names one file; give this one another name",
					ErrExists, fileName, same, o.Ref(), codes.FormatTime(o.CreatedAt), o.Size, o.SHA256)
			}
		}
		r.CreatedAt = l.now()
		if err := tx.InsertRelease(r); err != nil {
			return err
		}
		e := l.event(r.CreatedAt, actionReleaseAdd, r.Ref())
		e.CodeHash = releaseHash(r)
		e.Detail = fmt.Sprintf("release %s: file %q, %d bytes, SHA-256 %x, for software %s", r.Ref(), r.FileName, r.Size, r.SHA256, strings.Join(r.Software, ", "))
		return c.add(e)
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// releaseHash is what the history records of a release file, so that one
// changed outside the ledger can be found.
func releaseHash(r *Release) []byte {
	b := []byte("airlock/v1/release\n")
	for _, v := range []int64{r.ID, r.Size, r.CreatedAt} {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	b = append(b, r.SHA256...)
	for _, s := range append([]string{r.Name, r.Version, r.FileName}, r.Software...) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	h := sha256.Sum256(b)
	return h[:]
}

// Releases returns every registered release file, by release name,
// version and file name: the vendor's catalogue, for the vendor's staff
// only (an organization reads what it is entitled to with
// EntitledReleases).
func (l *Ledger) Releases(ctx context.Context) ([]Release, error) {
	var out []Release
	err := l.view(ctx, func(tx ReadTx) error {
		if _, err := l.actingVendor(tx, "list every release file: an organization lists what it is entitled to ('release list --org ORG')"); err != nil {
			return err
		}
		var err error
		out, err = tx.Releases()
		return err
	})
	return out, err
}

// EntitledReleases returns the release files an organization is entitled
// to: those that name the software of one of its products. The list may be
// empty.
func (l *Ledger) EntitledReleases(ctx context.Context, org string) ([]Release, error) {
	if err := CheckName("organization", org); err != nil {
		return nil, err
	}
	var out []Release
	err := l.view(ctx, func(tx ReadTx) error {
		if _, err := l.mayOrg(tx, org, needRead); err != nil {
			return err
		}
		o, err := orgNamed(tx, org)
		if err != nil {
			return err
		}
		out, _, err = entitled(tx, o.ID)
		return err
	})
	return out, err
}

// entitled returns the release files that the products of an
// organization entitle it to, by release name, version and file name, and
// the software of its products, sorted.
func entitled(tx ReadTx, orgID int64) ([]Release, []string, error) {
	products, err := tx.Products(orgID)
	if err != nil {
		return nil, nil, err
	}
	has := map[string]bool{}
	for _, p := range products {
		has[p.Software] = true
	}
	software := make([]string, 0, len(has))
	for sw := range has {
		software = append(software, sw)
	}
	sort.Strings(software)
	if len(has) == 0 {
		return nil, software, nil
	}
	all, err := tx.Releases()
	if err != nil {
		return nil, nil, err
	}
	var out []Release
	for _, r := range all {
		if slices.ContainsFunc(r.Software, func(sw string) bool { return has[sw] }) {
			out = append(out, r)
		}
	}
	return out, software, nil
}

// Manifest signs the download manifest of an organization: every release
// file its products entitle it to (EntitledReleases), by file name, with
// its size and SHA-256. A zero expires makes one that never expires;
// otherwise it must be after now. It refuses an organization entitled to
// nothing (ErrNotEntitled) and more files than a manifest lists
// (ErrInvalid). The manifest is recorded in the history by its hash; it is
// not stored: the same call makes a new one.
func (l *Ledger) Manifest(ctx context.Context, org string, expires time.Time) ([]byte, *codes.Manifest, error) {
	if err := CheckName("organization", org); err != nil {
		return nil, nil, err
	}
	var code []byte
	var m *codes.Manifest
	err := l.update(ctx, func(tx Tx, c *chain) error {
		if _, err := l.mayOrg(tx, org, needRead); err != nil {
			return err
		}
		o, err := orgNamed(tx, org)
		if err != nil {
			return err
		}
		now := l.now()
		var exp int64
		if !expires.IsZero() {
			if exp = expires.Unix(); exp <= now {
				return fmt.Errorf("%w: the manifest would expire %s, which is not after now (%s)", ErrInvalid, codes.FormatTime(exp), codes.FormatTime(now))
			}
		}
		if err := l.checkClock(c, now); err != nil {
			return err
		}
		key, err := l.signingKey(now)
		if err != nil {
			return err
		}
		rel, software, err := entitled(tx, o.ID)
		if err != nil {
			return err
		}
		switch {
		case len(software) == 0:
			return fmt.Errorf("%w: organization %q has no product, so no release: add a product of the software it runs first", ErrNotEntitled, org)
		case len(rel) == 0:
			return fmt.Errorf("%w: no release is registered for the software of organization %q's products (%s)", ErrNotEntitled, org, strings.Join(software, ", "))
		case len(rel) > codes.MaxManifestFiles:
			return fmt.Errorf("%w: organization %q is entitled to %d release files, and a manifest lists at most %d", ErrInvalid, org, len(rel), codes.MaxManifestFiles)
		}
		m = &codes.Manifest{Org: org, IssuedAt: now, Expires: exp, Files: make([]codes.ManifestFile, len(rel))}
		releases := map[string]bool{}
		for i, r := range rel {
			m.Files[i] = codes.ManifestFile{Name: r.FileName, Release: r.Name, Version: r.Version, Size: uint64(r.Size), SHA256: r.SHA256}
			releases[r.Ref()] = true
		}
		sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Name < m.Files[j].Name })
		if code, err = codes.SignManifest(m, key); err != nil {
			return err
		}
		m.KeyID = key.ID()
		c.issued(now)
		e := l.event(now, actionManifest, org)
		e.CodeHash = codeHash(code)
		until := "never expires"
		if exp != 0 {
			until = "expires " + codes.FormatTime(exp)
		}
		e.Detail = fmt.Sprintf("download manifest for %q signed by key %s: %d files of %d releases, for software %s; %s",
			org, key.ID(), len(m.Files), len(releases), strings.Join(software, ", "), until)
		return c.add(e)
	})
	if err != nil {
		return nil, nil, err
	}
	return code, m, nil
}
