package authority_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

// fileHash returns the SHA-256 of s, as a release file's content.
func fileHash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// releaseEnv is walletEnv (acme: vms and access products; globex: vms)
// with releases: vms-server 4.2.0 (two files) and vms-server 4.1.0 for
// vms, access-panel 1.0 for access, nvr 2.0 for nvr, which no one runs,
// and vms-tools 1.0 for both vms and access.
func releaseEnv(t *testing.T) *env {
	e := walletEnv(t)
	for _, r := range []struct {
		name, version, file string
		software            []string
	}{
		{"vms-server", "4.2.0", "vms-server-4.2.0-linux.tar.gz", []string{"vms"}},
		{"vms-server", "4.2.0", "vms-server-4.2.0-windows.msi", []string{"vms"}},
		{"vms-server", "4.1.0", "vms-server-4.1.0-linux.tar.gz", []string{"vms"}},
		{"access-panel", "1.0", "access-panel-1.0.zip", []string{"access"}},
		{"nvr", "2.0", "nvr-2.0.img", []string{"nvr"}},
		{"vms-tools", "1.0", "tools.zip", []string{"vms", "access"}},
	} {
		_, err := e.l.AddRelease(ctx, r.name, r.version, r.file, fileHash(r.file), int64(len(r.file)*1000), r.software)
		e.must(err)
	}
	return e
}

func fileNames(m *codes.Manifest) []string {
	var out []string
	for _, f := range m.Files {
		out = append(out, f.Name)
	}
	return out
}

// TestManifestListsWhatTheProductsEntitle: an organization gets the
// files of the releases of its products' software, and only those; the
// manifest verifies with the authority's trust set.
func TestManifestListsWhatTheProductsEntitle(t *testing.T) {
	e := releaseEnv(t)
	before := e.events()
	code, m, err := e.l.Manifest(ctx, "acme", t0.Add(90*24*time.Hour))
	e.must(err)
	want := []string{"access-panel-1.0.zip", "tools.zip", "vms-server-4.1.0-linux.tar.gz", "vms-server-4.2.0-linux.tar.gz", "vms-server-4.2.0-windows.msi"}
	if got := fileNames(m); !slices.Equal(got, want) {
		t.Fatalf("acme's manifest lists %v, want %v", got, want)
	}
	opened, err := codes.OpenManifest(code, e.f.Trust)
	e.must(err)
	if opened.Org != "acme" || opened.IssuedAt != t0.Unix() || opened.Expires != t0.Add(90*24*time.Hour).Unix() || opened.KeyID != e.f.Authority.ID() || m.KeyID != opened.KeyID {
		t.Fatalf("opened %+v", opened)
	}
	f := opened.File("vms-server-4.2.0-windows.msi")
	if f == nil || f.Release != "vms-server" || f.Version != "4.2.0" || f.Size != 28000 || !bytes.Equal(f.SHA256, fileHash("vms-server-4.2.0-windows.msi")) {
		t.Fatalf("entry %+v", f)
	}
	if got := e.events(); got != before+1 {
		t.Fatalf("%d events recorded, want 1", got-before)
	}
	hist, err := e.l.History(ctx, authority.HistoryFilter{})
	e.must(err)
	last := hist[len(hist)-1]
	if last.Action != "manifest" || last.Subject != "acme" || !bytes.Equal(last.CodeHash, hashOf(code)) ||
		!strings.Contains(last.Detail, "5 files of 4 releases, for software access, vms; expires 2025-05-30T12:00:00Z") {
		t.Fatalf("history event %+v", last)
	}

	_, m, err = e.l.Manifest(ctx, "globex", time.Time{})
	e.must(err)
	if got := fileNames(m); !slices.Equal(got, []string{"tools.zip", "vms-server-4.1.0-linux.tar.gz", "vms-server-4.2.0-linux.tar.gz", "vms-server-4.2.0-windows.msi"}) {
		t.Fatalf("globex's manifest lists %v", got)
	}
	if m.Expires != 0 {
		t.Fatalf("a manifest without --valid-days expires %d", m.Expires)
	}
	if got, err := e.l.EntitledReleases(ctx, "globex"); err != nil || len(got) != 4 {
		t.Fatalf("EntitledReleases(globex) = %d releases, %v", len(got), err)
	}
	if _, err := e.l.Verify(ctx); err != nil {
		t.Fatalf("Verify after releases and manifests: %v", err)
	}
}

func TestManifestRefusesAnOrganizationEntitledToNothing(t *testing.T) {
	e := releaseEnv(t)
	_, err := e.l.AddOrg(ctx, "initech")
	e.must(err)
	before := e.events()
	if _, _, err := e.l.Manifest(ctx, "initech", time.Time{}); !errors.Is(err, authority.ErrNotEntitled) || !errors.Is(err, authority.ErrNotFound) ||
		!strings.Contains(err.Error(), `organization "initech" has no product, so no release`) {
		t.Fatalf("Manifest of an organization without products = %v", err)
	}
	_, err = e.l.AddProduct(ctx, "initech", "plant", "scada")
	e.must(err)
	if _, _, err := e.l.Manifest(ctx, "initech", time.Time{}); !errors.Is(err, authority.ErrNotEntitled) ||
		!strings.Contains(err.Error(), `no release is registered for the software of organization "initech"'s products (scada)`) {
		t.Fatalf("Manifest of an organization whose software has no release = %v", err)
	}
	if _, _, err := e.l.Manifest(ctx, "hooli", time.Time{}); !errors.Is(err, authority.ErrNotFound) {
		t.Fatalf("Manifest of an unknown organization = %v", err)
	}
	if _, _, err := e.l.Manifest(ctx, "acme/plant", time.Time{}); !errors.Is(err, authority.ErrInvalid) {
		t.Fatalf("Manifest of a bad name = %v", err)
	}
	if _, _, err := e.l.Manifest(ctx, "acme", t0); !errors.Is(err, authority.ErrInvalid) || !strings.Contains(err.Error(), "not after now") {
		t.Fatalf("Manifest that expires now = %v", err)
	}
	if got := e.events() - before; got != 1 {
		t.Fatalf("%d events recorded, want 1 (the product)", got)
	}
}

func TestManifestNeedsAKeyAndAClockNotBehind(t *testing.T) {
	e := releaseEnv(t)
	noKey := *e
	noKey.opts.Keys = nil
	if _, _, err := noKey.ledger().Manifest(ctx, "acme", time.Time{}); !errors.Is(err, authority.ErrNoKey) {
		t.Fatalf("Manifest without a key = %v", err)
	}
	_, _, err := e.l.Manifest(ctx, "acme", time.Time{})
	e.must(err)
	e.clk.add(-time.Hour)
	if _, _, err := e.l.Manifest(ctx, "acme", time.Time{}); !errors.Is(err, authority.ErrClock) {
		t.Fatalf("Manifest with the clock an hour behind = %v", err)
	}
}

func TestAddReleaseRefuses(t *testing.T) {
	e := releaseEnv(t)
	before := e.events()
	sha := fileHash("x")
	for _, c := range []struct {
		name, version, file string
		sha                 []byte
		size                int64
		software            []string
		want                error
		msg                 string
	}{
		{"vms server", "1", "a.zip", sha, 1, []string{"vms"}, authority.ErrInvalid, `release name "vms server" has ' '`},
		{"vms", "", "a.zip", sha, 1, []string{"vms"}, authority.ErrInvalid, "version must have 1 to 64 characters, has 0"},
		{"vms", "-1", "a.zip", sha, 1, []string{"vms"}, authority.ErrInvalid, `version "-1" has '-' at position 1`},
		{"vms", "1 beta", "a.zip", sha, 1, []string{"vms"}, authority.ErrInvalid, `version "1 beta" has ' '`},
		{"vms", "1", "../a.zip", sha, 1, []string{"vms"}, authority.ErrInvalid, `file name "../a.zip" has '/' at position 3`},
		{"vms", "1", "..", sha, 1, []string{"vms"}, authority.ErrInvalid, `file name ".." has ".."`},
		{"vms", "1", "a\x1b.zip", sha, 1, []string{"vms"}, authority.ErrInvalid, `has '\x1b'`},
		{"vms", "1", "", sha, 1, []string{"vms"}, authority.ErrInvalid, "file name must have 1 to 255 characters"},
		{"vms", "1", "a.zip", sha[:31], 1, []string{"vms"}, authority.ErrInvalid, `the SHA-256 of "a.zip" has 31 bytes, want 32`},
		{"vms", "1", "a.zip", sha, -1, []string{"vms"}, authority.ErrInvalid, `the size of "a.zip" is -1 bytes`},
		{"vms", "1", "a.zip", sha, codes.MaxFileSize + 1, []string{"vms"}, authority.ErrInvalid, "want 0 to 1125899906842624"},
		{"vms", "1", "a.zip", sha, 1, nil, authority.ErrInvalid, "release vms 1 must name 1 to 16 software, names 0"},
		{"vms", "1", "a.zip", sha, 1, []string{"vms", "vms"}, authority.ErrInvalid, `names software "vms" twice`},
		{"vms", "1", "a.zip", sha, 1, []string{"v m s"}, authority.ErrInvalid, `software name "v m s"`},
		{"vms", "9", "tools.zip", sha, 1, []string{"vms"}, authority.ErrExists, `file "tools.zip" is registered for release vms-tools 1.0 since 2025-03-01T12:00:00Z`},
		{"vms", "9", "TOOLS.ZIP", sha, 1, []string{"vms"}, authority.ErrExists, `file "TOOLS.ZIP" is registered (as "tools.zip": names that differ only in case`},
	} {
		_, err := e.l.AddRelease(ctx, c.name, c.version, c.file, c.sha, c.size, c.software)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("AddRelease(%q, %q, %q, …) = %v; want %v with %q", c.name, c.version, c.file, err, c.want, c.msg)
		}
	}
	if got := e.events(); got != before {
		t.Fatalf("refusals recorded %d events", got-before)
	}
	rs, err := e.l.Releases(ctx)
	e.must(err)
	if len(rs) != 6 {
		t.Fatalf("%d releases, want 6", len(rs))
	}
	// By name, version and file name; software sorted.
	if rs[0].FileName != "access-panel-1.0.zip" || rs[len(rs)-1].FileName != "tools.zip" || !slices.Equal(rs[len(rs)-1].Software, []string{"access", "vms"}) || rs[0].Actor != "tester" {
		t.Fatalf("Releases = %+v", rs)
	}
	// An empty file is a file.
	r, err := e.l.AddRelease(ctx, "vms-server", "4.2.0", "EMPTY", fileHash(""), 0, []string{"vms"})
	e.must(err)
	if r.ID == 0 || r.CreatedAt != t0.Unix() {
		t.Fatalf("AddRelease = %+v", r)
	}
}
