package instance

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/formats/seal"
)

// releaseFiles are the files of the test manifest, by name: their content.
var releaseFiles = map[string]string{
	"vms-client-4.2.0.zip":          "the client, zipped",
	"vms-server-4.2.0-linux.tar.gz": "the server for linux, as a tarball",
	"vms-server-4.2.0-windows.msi":  "the server for windows",
	"EMPTY":                         "",
}

// testManifest lists releaseFiles for acme, issued at the bench's clock
// and valid for 90 days.
func testManifest(b *bench) *codes.Manifest {
	m := &codes.Manifest{Org: "acme", IssuedAt: b.clock.Now().Unix(), Expires: b.clock.at(90 * day).Unix()}
	for _, name := range []string{"EMPTY", "vms-client-4.2.0.zip", "vms-server-4.2.0-linux.tar.gz", "vms-server-4.2.0-windows.msi"} {
		sum := sha256.Sum256([]byte(releaseFiles[name]))
		release, version := "vms-server", "4.2.0"
		if strings.HasPrefix(name, "vms-client") {
			release = "vms-client"
		}
		m.Files = append(m.Files, codes.ManifestFile{Name: name, Release: release, Version: version, Size: uint64(len(releaseFiles[name])), SHA256: sum[:]})
	}
	return m
}

func (b *bench) signManifest(m *codes.Manifest) []byte {
	b.t.Helper()
	code, err := codes.SignManifest(m, b.f.Authority)
	b.must(err)
	return code
}

func TestVerifyManifest(t *testing.T) {
	b := newBench(t)
	m := testManifest(b)
	code := b.signManifest(m)
	for form, in := range map[string][]byte{"binary": code, "armored": codes.EncodeArmor(codes.KindManifest, code), "typed": []byte(codes.EncodeText(codes.KindManifest, code))} {
		got, err := b.in.VerifyManifest(in)
		if err != nil || got.Org != "acme" || len(got.Files) != 4 || got.KeyID != b.f.Authority.ID() {
			t.Fatalf("%s: VerifyManifest = %+v, %v", form, got, err)
		}
	}

	// An altered one, one signed by a key the instance does not trust,
	// and another kind of code are refused.
	tampered := append([]byte(nil), code...)
	tampered[len(tampered)-70] ^= 1 // inside the payload, before the signature
	if _, err := b.in.VerifyManifest(tampered); !errors.Is(err, codes.ErrBadSignature) {
		t.Fatalf("VerifyManifest of a tampered manifest = %v", err)
	}
	rogue, err := codes.SignManifest(m, b.f.Rogue)
	b.must(err)
	if _, err := b.in.VerifyManifest(rogue); !errors.Is(err, codes.ErrUnknownKey) {
		t.Fatalf("VerifyManifest of a manifest signed by an unknown key = %v", err)
	}
	if _, err := b.in.VerifyManifest(codes.EncodeArmor(codes.KindActivation, b.f.Codes()[codes.KindActivation])); !errors.Is(err, codes.ErrWrongKind) {
		t.Fatalf("VerifyManifest of an activation file = %v", err)
	}

	// age-encrypted: opens with the instance's identities only.
	id, err := age.GenerateX25519Identity()
	b.must(err)
	sealed, err := seal.Encrypt(codes.EncodeArmor(codes.KindManifest, code), id.Recipient())
	b.must(err)
	if _, err := b.in.VerifyManifest(sealed); !errors.Is(err, codes.ErrEncrypted) {
		t.Fatalf("VerifyManifest of an encrypted manifest without identity = %v", err)
	}
	if _, err := b.open(WithIdentities(id)).VerifyManifest(sealed); err != nil {
		t.Fatalf("VerifyManifest of an encrypted manifest with its identity: %v", err)
	}

	// Expiry, judged at the later of the clock and the last time seen.
	b.clock.add(90 * day)
	if _, err := b.in.VerifyManifest(code); !errors.Is(err, codes.ErrExpired) {
		t.Fatalf("VerifyManifest at its expiry = %v", err)
	}
	b.must(b.in.Enable()) // a write: the instance records the time it saw
	b.clock.add(-30 * day)
	if _, err := b.in.VerifyManifest(code); !errors.Is(err, codes.ErrExpired) {
		t.Fatalf("VerifyManifest with the clock set back before its expiry = %v", err)
	}
	m.Expires = 0
	if _, err := b.in.VerifyManifest(b.signManifest(m)); err != nil {
		t.Fatalf("VerifyManifest of a manifest that never expires: %v", err)
	}
}

// writeRelease writes the release files into a new folder.
func writeRelease(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range releaseFiles {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// statuses returns the checks as "name: status" lines.
func statuses(checks []FileCheck) string {
	var b strings.Builder
	for _, c := range checks {
		fmt.Fprintf(&b, "%s: %s (%s)\n", c.Name, c.Status, c.Detail)
	}
	return b.String()
}

func TestCheckManifestFilesOfAMatchingFolder(t *testing.T) {
	b := newBench(t)
	m := testManifest(b)
	checks, err := CheckManifestFiles(writeRelease(t), m)
	if err != nil {
		t.Fatalf("CheckManifestFiles = %v\n%s", err, statuses(checks))
	}
	if len(checks) != 4 {
		t.Fatalf("%d checks\n%s", len(checks), statuses(checks))
	}
	for i, c := range checks {
		if !c.OK() || c.Entry != &m.Files[i] || c.Size != int64(m.Files[i].Size) || string(c.SHA256) != string(m.Files[i].SHA256) {
			t.Fatalf("check %d: %+v", i, c)
		}
	}
	if got := checks[2].Detail; got != "vms-server 4.2.0, 34 bytes" {
		t.Fatalf("detail %q", got)
	}
}

// TestCheckManifestFilesFindsEveryDifference changes one thing in a
// matching folder at a time: the file it concerns is named with its
// status, the others stay ok, and the error is ErrFilesDiffer.
func TestCheckManifestFilesFindsEveryDifference(t *testing.T) {
	b := newBench(t)
	m := testManifest(b)
	outside := filepath.Join(t.TempDir(), "elsewhere.msi")
	if err := os.WriteFile(outside, []byte(releaseFiles["vms-server-4.2.0-windows.msi"]), 0o644); err != nil {
		t.Fatal(err)
	}
	const msi = "vms-server-4.2.0-windows.msi"
	for _, c := range []struct {
		name   string
		change func(dir string) error
		file   string
		want   FileStatus
		detail string
	}{
		{"hash differs", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, msi), []byte("the server for WINDOWS"), 0o644)
		}, msi, FileHashDiffers, "SHA-256 "},
		{"truncated", func(dir string) error { return os.Truncate(filepath.Join(dir, msi), 10) }, msi, FileSizeDiffers, "truncated: 10 of 22 bytes"},
		{"emptied", func(dir string) error { return os.Truncate(filepath.Join(dir, msi), 0) }, msi, FileSizeDiffers, "truncated: 0 of 22 bytes"},
		{"longer", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, msi), []byte(releaseFiles[msi]+"\n"), 0o644)
		}, msi, FileSizeDiffers, "23 bytes, 1 more than the manifest lists"},
		{"an empty file with content", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "EMPTY"), []byte("x"), 0o644)
		}, "EMPTY", FileSizeDiffers, "1 bytes, 1 more"},
		{"missing", func(dir string) error { return os.Remove(filepath.Join(dir, msi)) }, msi, FileMissing, "vms-server 4.2.0, 22 bytes"},
		{"missing, another case there", func(dir string) error {
			return os.Rename(filepath.Join(dir, msi), filepath.Join(dir, strings.ToUpper(msi)))
		}, msi, FileMissing, ""},
		{"extra file", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "setup-helper.exe"), []byte("MZ…"), 0o755)
		}, "setup-helper.exe", FileNotListed, "5 bytes"},
		{"extra file with a hostile name", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "a\x1b[2J\nb"), nil, 0o644)
		}, "a\x1b[2J\nb", FileNotListed, "0 bytes"},
		{"extra folder", func(dir string) error { return os.Mkdir(filepath.Join(dir, "docs"), 0o755) }, "docs", FileNotListed, "a folder"},
		{"link to the right content outside", func(dir string) error {
			p := filepath.Join(dir, msi)
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Symlink(outside, p)
		}, msi, FileNotRegular, "a symbolic link, not followed"},
		{"link inside", func(dir string) error {
			p := filepath.Join(dir, "EMPTY")
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Symlink("vms-client-4.2.0.zip", p)
		}, "EMPTY", FileNotRegular, "a symbolic link, not followed"},
		{"folder in its place", func(dir string) error {
			p := filepath.Join(dir, msi)
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Mkdir(p, 0o755)
		}, msi, FileNotRegular, "a folder"},
		{"named pipe in its place", func(dir string) error {
			if runtime.GOOS == "windows" {
				return errors.ErrUnsupported
			}
			p := filepath.Join(dir, msi)
			if err := os.Remove(p); err != nil {
				return err
			}
			return syscall.Mkfifo(p, 0o644)
		}, msi, FileNotRegular, "a named pipe"},
		{"extra link", func(dir string) error { return os.Symlink("/etc/passwd", filepath.Join(dir, "passwd")) }, "passwd", FileNotListed, "a symbolic link, not followed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := writeRelease(t)
			if err := c.change(dir); errors.Is(err, errors.ErrUnsupported) {
				t.Skip("not on this system")
			} else if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			var checks []FileCheck
			var err error
			go func() {
				defer close(done)
				checks, err = CheckManifestFiles(dir, m)
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("CheckManifestFiles hangs")
			}
			if !errors.Is(err, ErrFilesDiffer) || !strings.Contains(err.Error(), `are not as the manifest for "acme" lists them`) {
				t.Fatalf("CheckManifestFiles = %v\n%s", err, statuses(checks))
			}
			found := false
			for _, ch := range checks {
				if ch.Name != c.file {
					if !ch.OK() && ch.Status != FileNotListed {
						t.Errorf("%s: %s (%s)", ch.Name, ch.Status, ch.Detail)
					}
					continue
				}
				found = true
				if ch.Status != c.want || !strings.Contains(ch.Detail, c.detail) {
					t.Errorf("%q: %s (%s); want %s with %q", ch.Name, ch.Status, ch.Detail, c.want, c.detail)
				}
				if (ch.Status == FileNotListed) != (ch.Entry == nil) {
					t.Errorf("%q: entry %v", ch.Name, ch.Entry)
				}
			}
			if !found {
				t.Fatalf("no check for %q\n%s", c.file, statuses(checks))
			}
		})
	}
}

// TestCheckManifestFilesReadsNoMoreThanListed: a file of the wrong size
// is not read at all, however large.
func TestCheckManifestFilesReadsNoMoreThanListed(t *testing.T) {
	b := newBench(t)
	m := testManifest(b)
	dir := writeRelease(t)
	if err := os.Truncate(filepath.Join(dir, "vms-client-4.2.0.zip"), 1<<40); err != nil {
		t.Skipf("no sparse files here: %v", err)
	}
	start := time.Now()
	checks, err := CheckManifestFiles(dir, m)
	if !errors.Is(err, ErrFilesDiffer) || checks[1].Status != FileSizeDiffers || checks[1].SHA256 != nil {
		t.Fatalf("CheckManifestFiles = %v\n%s", err, statuses(checks))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("a 1 TiB file of the wrong size took %s", d)
	}
}

func TestCheckManifestFilesRefusesABadFolder(t *testing.T) {
	b := newBench(t)
	m := testManifest(b)
	dir := writeRelease(t)
	for name, path := range map[string]string{
		"missing":   filepath.Join(dir, "nope"),
		"a file":    filepath.Join(dir, "EMPTY"),
		"too large": "",
	} {
		if name == "too large" {
			path = t.TempDir()
			for i := range maxFolderEntries + 1 {
				f, err := os.Create(filepath.Join(path, fmt.Sprintf("f%06d", i)))
				if err != nil {
					t.Fatal(err)
				}
				f.Close()
			}
		}
		checks, err := CheckManifestFiles(path, m)
		if !errors.Is(err, ErrFolder) || checks != nil {
			t.Errorf("%s: CheckManifestFiles = %d checks, %v", name, len(checks), err)
		}
	}
	// A link to the folder itself is the caller's choice, and followed.
	link := filepath.Join(t.TempDir(), "usb")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	if _, err := CheckManifestFiles(link, m); err != nil {
		t.Fatalf("CheckManifestFiles through a link to the folder: %v", err)
	}
}
