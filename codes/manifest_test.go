package codes_test

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/formats/seal"
	"github.com/airlock-dev/airlock/formats/wire"
)

type manifestRule struct {
	name   string
	break_ func(m *codes.Manifest)
	want   error
	msg    string
}

// TestManifestRules breaks one rule of a valid manifest at a time: signing
// refuses it, and so do opening and parsing it when it is signed anyway.
func TestManifestRules(t *testing.T) {
	f := fixture(t)
	file := func(name string) codes.ManifestFile {
		return codes.ManifestFile{Name: name, Release: "r", Version: "1", Size: 1, SHA256: make([]byte, 32)}
	}
	rules := []manifestRule{
		{"files unsorted", func(m *codes.Manifest) { m.Files[1], m.Files[2] = m.Files[2], m.Files[1] },
			codes.ErrInvalid, `lists file "vms-server-4.2.0-linux-amd64.tar.gz" after "vms-server-4.2.0-windows-x64.msi": file names must be sorted and unique`},
		{"file twice", func(m *codes.Manifest) { m.Files[1].Name = m.Files[0].Name },
			codes.ErrInvalid, `lists file "vms-client-4.2.0.zip" after "vms-client-4.2.0.zip"`},
		{"names differ in case", func(m *codes.Manifest) {
			m.Files = append([]codes.ManifestFile{file("VMS-CLIENT-4.2.0.ZIP")}, m.Files...)
		},
			codes.ErrInvalid, `lists files "VMS-CLIENT-4.2.0.ZIP" and "vms-client-4.2.0.zip", whose names differ only in case`},
		{"no files", func(m *codes.Manifest) { m.Files = nil }, codes.ErrInvalid, "manifest lists no file"},
		{"too many files", func(m *codes.Manifest) {
			m.Files = make([]codes.ManifestFile, codes.MaxManifestFiles+1)
			for i := range m.Files {
				m.Files[i] = file(fmt.Sprintf("f%06d", i))
			}
		}, codes.ErrInvalid, "manifest lists 10001 files, the limit is 10000"},
		{"expires when issued", func(m *codes.Manifest) { m.Expires = m.IssuedAt },
			codes.ErrInvalid, "manifest expires 2020-03-04T10:00:00Z, not after it was issued 2020-03-04T10:00:00Z"},
		{"expires before issued", func(m *codes.Manifest) { m.Expires = m.IssuedAt - 1 }, codes.ErrInvalid, "not after it was issued"},
		{"no issue time", func(m *codes.Manifest) { m.IssuedAt = 0 }, codes.ErrMalformed, "manifest issue time is 0"},
		{"negative issue time", func(m *codes.Manifest) { m.IssuedAt = -1 }, codes.ErrMalformed, "manifest issue time is -1"},
		{"empty organization", func(m *codes.Manifest) { m.Org = "" }, codes.ErrMalformed, "organization must have 1 to 64 characters, has 0"},
		{"organization with a space", func(m *codes.Manifest) { m.Org = "acme corp" }, codes.ErrMalformed, `organization "acme corp" has ' ' at position 5`},
		{"organization of 65 characters", func(m *codes.Manifest) { m.Org = strings.Repeat("a", 65) }, codes.ErrMalformed, "has 65"},
		{"empty file name", func(m *codes.Manifest) { m.Files[0].Name = "" }, codes.ErrMalformed, "file name must have 1 to 255 characters, has 0"},
		{"file name of 256 characters", func(m *codes.Manifest) { m.Files[2].Name = "vms-server-" + strings.Repeat("x", 245) },
			codes.ErrMalformed, "file name must have 1 to 255 characters, has 256"},
		{"file name with a slash", func(m *codes.Manifest) { m.Files[0].Name = "../vms-client-4.2.0.zip" },
			codes.ErrMalformed, `file name "../vms-client-4.2.0.zip" has '/' at position 3: a file name names no folder, drive or stream`},
		{"absolute file name", func(m *codes.Manifest) { m.Files[2].Name = "/etc/passwd" }, codes.ErrMalformed, `has '/' at position 1`},
		{"file name with a backslash", func(m *codes.Manifest) { m.Files[0].Name = `..\..\boot.ini` }, codes.ErrMalformed, `has '\\' at position 3`},
		{"file name with a drive", func(m *codes.Manifest) { m.Files[0].Name = "C:vms.zip" }, codes.ErrMalformed, `has ':' at position 2`},
		{"file name with a stream", func(m *codes.Manifest) { m.Files[2].Name = "vms.zip:evil" }, codes.ErrMalformed, `has ':' at position 8`},
		{"file name dot dot", func(m *codes.Manifest) { m.Files[0].Name = ".." }, codes.ErrMalformed, `file name ".." has ".."`},
		{"file name with dot dot", func(m *codes.Manifest) { m.Files[0].Name = "vms..zip" }, codes.ErrMalformed, `has ".."`},
		{"file name dot", func(m *codes.Manifest) { m.Files[0].Name = "." }, codes.ErrMalformed, "names the folder itself"},
		{"file name with a newline", func(m *codes.Manifest) { m.Files[0].Name = "vms\nclient.zip" }, codes.ErrMalformed, `has '\n' at position 4`},
		{"file name with an escape", func(m *codes.Manifest) { m.Files[0].Name = "vms\x1b[31m.zip" }, codes.ErrMalformed, `has '\x1b' at position 4`},
		{"file name with DEL", func(m *codes.Manifest) { m.Files[0].Name = "vms\x7f.zip" }, codes.ErrMalformed, `has '\x7f'`},
		{"file name with a look-alike", func(m *codes.Manifest) { m.Files[0].Name = "vms-сlient.zip" }, codes.ErrMalformed, `has 'с' (U+0441) at position 5`},
		{"file name with a bidi override", func(m *codes.Manifest) { m.Files[0].Name = "vms\u202egpj.exe" }, codes.ErrMalformed, `(U+202E) at position 4`},
		{"file name with a leading space", func(m *codes.Manifest) { m.Files[0].Name = " vms.zip" }, codes.ErrMalformed, "starts or ends with a space"},
		{"file name with a trailing space", func(m *codes.Manifest) { m.Files[2].Name = "vms.zip " }, codes.ErrMalformed, "starts or ends with a space"},
		{"empty release", func(m *codes.Manifest) { m.Files[1].Release = "" }, codes.ErrMalformed, "release name must have 1 to 64 characters"},
		{"release with a tab", func(m *codes.Manifest) { m.Files[1].Release = "vms\tserver" }, codes.ErrMalformed, `release name "vms\tserver" has '\t'`},
		{"empty version", func(m *codes.Manifest) { m.Files[1].Version = "" }, codes.ErrMalformed, "release version must have 1 to 64 characters"},
		{"version of 65 characters", func(m *codes.Manifest) { m.Files[1].Version = strings.Repeat("1", 65) }, codes.ErrMalformed, "release version must have 1 to 64 characters, has 65"},
		{"short hash", func(m *codes.Manifest) { m.Files[1].SHA256 = m.Files[1].SHA256[:31] },
			codes.ErrMalformed, `SHA-256 of file "vms-server-4.2.0-linux-amd64.tar.gz" has 31 bytes, want 32`},
		{"no hash", func(m *codes.Manifest) { m.Files[1].SHA256 = nil }, codes.ErrMalformed, "has 0 bytes, want 32"},
		{"long hash", func(m *codes.Manifest) { m.Files[1].SHA256 = make([]byte, 64) }, codes.ErrMalformed, "has 64 bytes, want 32"},
		{"size over the limit", func(m *codes.Manifest) { m.Files[0].Size = codes.MaxFileSize + 1 },
			codes.ErrMalformed, `file "vms-client-4.2.0.zip" has size 1125899906842625, the limit is 1125899906842624`},
		{"size of 2^64-1", func(m *codes.Manifest) { m.Files[0].Size = 1<<64 - 1 }, codes.ErrMalformed, "the limit is 1125899906842624"},
	}
	for _, rule := range rules {
		t.Run(rule.name, func(t *testing.T) {
			m := f.Manifest()
			rule.break_(m)
			check := func(how string, err error) {
				t.Helper()
				if !errors.Is(err, rule.want) || !strings.Contains(err.Error(), rule.msg) {
					t.Fatalf("%s = %v; want %v with %q", how, err, rule.want, rule.msg)
				}
				for _, s := range sentinels {
					if s != rule.want && errors.Is(err, s) {
						t.Fatalf("%s = %v, which matches %v as well", how, err, s)
					}
				}
			}
			_, err := codes.SignManifest(m, f.Authority)
			check("SignManifest", err)
			code := f.SignRaw(codes.KindManifest, wire.MustMarshal(m))
			_, err = codes.OpenManifest(code, f.Trust)
			check("OpenManifest", err)
			_, err = codes.ParseUnverifiedManifest(code)
			check("ParseUnverifiedManifest", err)
		})
	}
}

// TestFileNamesAccepted: what release files are called passes
// CheckFileName.
func TestFileNamesAccepted(t *testing.T) {
	for _, name := range []string{
		"vms-4.2.0-linux-amd64.tar.gz", "VMS Client Setup (x64).exe", "README", ".hidden", "a", "release_notes.v2.pdf",
		"setup-[4.2]~1+build#7.msi", strings.Repeat("n", codes.MaxFileNameLen),
	} {
		if err := codes.CheckFileName(name); err != nil {
			t.Errorf("CheckFileName(%q) = %v", name, err)
		}
	}
	// Invalid UTF-8 never gets this far in a code (the decoder refuses
	// it), but a name given to the authority may have it.
	if err := codes.CheckFileName("vms\xff.zip"); !errors.Is(err, codes.ErrMalformed) || !strings.Contains(err.Error(), "byte 0xff at position 4") {
		t.Errorf("CheckFileName of invalid UTF-8 = %v", err)
	}
}

func TestManifestOpenAndCheck(t *testing.T) {
	f := fixture(t)
	want := f.Manifest()
	code, err := codes.SignManifest(want, f.Authority)
	if err != nil {
		t.Fatal(err)
	}
	m, err := codes.OpenManifest(code, f.Trust)
	if err != nil {
		t.Fatal(err)
	}
	if m.KeyID != f.Authority.ID() {
		t.Fatalf("KeyID = %s, want %s", m.KeyID, f.Authority.ID())
	}
	want.KeyID = m.KeyID
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("opened %+v, signed %+v", m, want)
	}
	if p, err := codes.ParseUnverifiedManifest(code); err != nil || !reflect.DeepEqual(p, m) {
		t.Fatalf("ParseUnverifiedManifest = %+v, %v", p, err)
	}
	if got, err := codes.GuessKinds(code); err != nil || !slices.Equal(got, []codes.Kind{codes.KindManifest}) {
		t.Fatalf("GuessKinds = %v, %v", got, err)
	}
	if got, err := codes.OpenSigned(codes.KindManifest, code, f.Trust); err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("OpenSigned = %v, %v", got, err)
	}
	// Expiry: usable up to the second before it.
	end := time.Unix(m.Expires, 0)
	if err := m.Check(end.Add(-time.Second)); err != nil {
		t.Fatalf("Check a second before expiry: %v", err)
	}
	for _, at := range []time.Time{end, end.Add(time.Hour)} {
		if err := m.Check(at); !errors.Is(err, codes.ErrExpired) || !strings.Contains(err.Error(), `the download manifest for "acme" expired 2020-06-02T10:00:00Z`) {
			t.Fatalf("Check(%s) = %v", at, err)
		}
	}
	m.Expires = 0
	if err := m.Check(time.Unix(1<<40, 0)); err != nil {
		t.Fatalf("Check of a manifest that never expires: %v", err)
	}
	// Lookup by exact name.
	if e := m.File("vms-server-4.2.0-windows-x64.msi"); e == nil || e.Release != "vms-server" {
		t.Fatalf("File = %+v", e)
	}
	for _, name := range []string{"VMS-CLIENT-4.2.0.ZIP", "vms", "zzz", ""} {
		if e := m.File(name); e != nil {
			t.Fatalf("File(%q) = %+v", name, e)
		}
	}
	if got, want := m.TotalSize(), uint64(46+61+58); got != want {
		t.Fatalf("TotalSize = %d, want %d", got, want)
	}
	// Other kinds' verifiers refuse it, and it refuses theirs.
	if _, err := codes.OpenActivation(code, f.Trust); err == nil {
		t.Fatal("a manifest opened as an activation")
	}
	if _, err := codes.OpenManifest(f.Codes()[codes.KindAuthorization], f.Trust); err == nil {
		t.Fatal("an authorization opened as a manifest")
	}
	if _, err := codes.OpenManifest(code, &codes.TrustSet{Sequence: 1, Keys: []codes.AuthorityPublicKey{f.Rogue.Public}, IssuedAt: 1}); !errors.Is(err, codes.ErrUnknownKey) {
		t.Fatalf("OpenManifest with another trust set = %v", err)
	}
}

// TestManifestTamperingIsRefused flips every bit of a signed manifest:
// nothing but the original opens (ATTACKS.md T20).
func TestManifestTamperingIsRefused(t *testing.T) {
	f := fixture(t)
	code, err := codes.SignManifest(f.Manifest(), f.Authority)
	if err != nil {
		t.Fatal(err)
	}
	for i := range code {
		for bit := range 8 {
			c := bytes.Clone(code)
			c[i] ^= 1 << bit
			_, err := codes.OpenManifest(c, f.Trust)
			if err == nil {
				t.Fatalf("byte %d bit %d flipped: accepted", i, bit)
			}
			if !classified(err) {
				t.Fatalf("byte %d bit %d flipped: unclassified error %v", i, bit, err)
			}
		}
	}
	for n := range len(code) {
		if _, err := codes.OpenManifest(code[:n], f.Trust); !errors.Is(err, codes.ErrMalformed) {
			t.Fatalf("%d of %d bytes: %v", n, len(code), err)
		}
	}
}

// TestManifestSizes: a manifest of a few hundred files is a few tens of
// KiB, over the small kinds' limit and well within the bulk one; the
// largest manifest there can be, names at their longest, fits too, and
// travels armored and age-encrypted.
func TestManifestSizes(t *testing.T) {
	f := fixture(t)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	m := f.LargeManifest(300)
	code, err := codes.SignManifest(m, f.Authority)
	if err != nil {
		t.Fatal(err)
	}
	if len(code) <= codes.MaxCodeSize {
		t.Fatalf("a 300-file manifest is only %d bytes: the test no longer needs the bulk limit", len(code))
	}
	t.Logf("300 files: %d bytes, %.1f a file", len(code), float64(len(code))/300)
	armored := codes.EncodeArmor(codes.KindManifest, code)
	sealed, err := seal.Encrypt(armored, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	for form, in := range map[string][]byte{"binary": code, "armored": armored, "age": sealed} {
		got, err := codes.DecodeKind(in, codes.KindManifest, id)
		if err != nil || !bytes.Equal(got, code) {
			t.Fatalf("%s: DecodeKind = %d bytes, %v", form, len(got), err)
		}
		if o, err := codes.OpenManifest(got, f.Trust); err != nil || len(o.Files) != 300 {
			t.Fatalf("%s: OpenManifest: %v", form, err)
		}
	}

	// The largest: every field at its longest.
	big := f.Manifest()
	big.Org = strings.Repeat("o", codes.MaxManifestNameLen)
	big.Files = make([]codes.ManifestFile, codes.MaxManifestFiles)
	for i := range big.Files {
		name := fmt.Sprintf("%06d", i) + strings.Repeat("n", codes.MaxFileNameLen-6)
		big.Files[i] = codes.ManifestFile{Name: name, Release: strings.Repeat("r", codes.MaxManifestNameLen),
			Version: strings.Repeat("v", codes.MaxManifestNameLen), Size: codes.MaxFileSize, SHA256: bytes.Repeat([]byte{0xee}, 32)}
	}
	code, err = codes.SignManifest(big, f.Authority)
	if err != nil {
		t.Fatal(err)
	}
	if 3*len(code) > codes.MaxBulkCodeSize {
		t.Fatalf("the largest manifest is %d bytes, more than a third of the limit", len(code))
	}
	if o, err := codes.OpenManifest(code, f.Trust); err != nil || len(o.Files) != codes.MaxManifestFiles {
		t.Fatalf("OpenManifest of the largest manifest: %v", err)
	}
	if _, err := codes.Decode(codes.EncodeArmor(codes.KindManifest, code)); err != nil {
		t.Fatalf("Decode of the largest manifest, armored: %v", err)
	}
	t.Logf("largest: %d bytes", len(code))
}
