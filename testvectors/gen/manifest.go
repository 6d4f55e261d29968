package gen

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/formats/cose"
	"github.com/airlock-dev/airlock/formats/wire"
	"github.com/airlock-dev/airlock/testvectors"
)

// releaseFile returns the entry of a release file whose content is the
// bytes "airlock test release file NAME", so that anyone can recompute
// its hash.
func releaseFile(name, release, version string) codes.ManifestFile {
	content := []byte("airlock test release file " + name)
	sum := sha256.Sum256(content)
	return codes.ManifestFile{Name: name, Release: release, Version: version, Size: uint64(len(content)), SHA256: sum[:]}
}

// Manifest lists three files of two releases for organization acme,
// valid for 90 days.
func (f *Fixture) Manifest() *codes.Manifest {
	return &codes.Manifest{
		Org: "acme", IssuedAt: issuedAt, Expires: issuedAt + 90*86400,
		Files: []codes.ManifestFile{
			releaseFile("vms-client-4.2.0.zip", "vms-client", "4.2.0"),
			releaseFile("vms-server-4.2.0-linux-amd64.tar.gz", "vms-server", "4.2.0"),
			releaseFile("vms-server-4.2.0-windows-x64.msi", "vms-server", "4.2.0"),
		},
	}
}

// LargeManifest lists n files, for size tests, benchmarks and fuzz seeds:
// names of 30 characters, ten files a release.
func (f *Fixture) LargeManifest(n int) *codes.Manifest {
	m := f.Manifest()
	m.Files = make([]codes.ManifestFile, n)
	for i := range n {
		m.Files[i] = releaseFile(fmt.Sprintf("vms-plugin-%06d-linux.tar.gz", i), fmt.Sprintf("vms-plugin-%04d", i/10), "1.0.0")
	}
	return m
}

// manifest adds the cases of the download manifest, each testing one
// thing.
func (b *builder) manifest() {
	f := b.f
	k := codes.KindManifest
	kid := f.Authority.ID()
	sign := func(m *codes.Manifest) []byte {
		return must(cose.SignSign1(wire.MustMarshal(m), k.Label(), kid[:], signer("authority")))
	}
	signed := func(name string, code []byte, expect, desc string) {
		b.add(testvectors.Case{Name: name, Description: desc, Kind: k.String(), Form: "binary", Input: hexOf(code), Expect: expect})
	}
	broken := func(name, expect, desc string, breakIt func(m *codes.Manifest)) {
		m := f.Manifest()
		breakIt(m)
		signed(name, sign(m), expect, desc)
	}

	broken("download-manifest-files-unsorted", "invalid", "vms-server-4.2.0-windows-x64.msi is listed before vms-server-4.2.0-linux-amd64.tar.gz",
		func(m *codes.Manifest) { m.Files[1], m.Files[2] = m.Files[2], m.Files[1] })
	broken("download-manifest-file-twice", "invalid", "vms-client-4.2.0.zip is listed twice, with different hashes",
		func(m *codes.Manifest) {
			m.Files[1] = releaseFile("vms-client-4.2.0.zip", "vms-client", "4.2.1")
			m.Files = m.Files[:2]
		})
	broken("download-manifest-names-differ-in-case", "invalid", "VMS-client-4.2.0.zip and vms-client-4.2.0.zip: one folder on FAT, exFAT or NTFS holds only one of them",
		func(m *codes.Manifest) {
			m.Files = append([]codes.ManifestFile{releaseFile("VMS-client-4.2.0.zip", "vms-client", "4.2.0")}, m.Files...)
		})
	broken("download-manifest-no-files", "invalid", "a manifest whose file list is empty",
		func(m *codes.Manifest) { m.Files = []codes.ManifestFile{} })
	broken("download-manifest-expires-before-issue", "invalid", "the manifest expires the second it is issued",
		func(m *codes.Manifest) { m.Expires = m.IssuedAt })
	broken("download-manifest-file-name-with-slash", "malformed", "a file name with a folder: ../etc would be outside the folder checked",
		func(m *codes.Manifest) { m.Files[0].Name = "bin/vms-client-4.2.0.zip" })
	broken("download-manifest-file-name-with-backslash", "malformed", "a file name with a Windows folder separator",
		func(m *codes.Manifest) { m.Files[0].Name = "bin\\vms-client-4.2.0.zip" })
	broken("download-manifest-file-name-dot-dot", "malformed", "the file name \"..\", the folder above",
		func(m *codes.Manifest) { m.Files[0].Name = ".." })
	broken("download-manifest-file-name-control-character", "malformed", "a file name with an escape character, which would reach the terminal of whoever lists it",
		func(m *codes.Manifest) { m.Files[0].Name = "vms-client\x1b[2J.zip" })
	broken("download-manifest-file-name-256-characters", "malformed", "a file name of 256 bytes; the limit is 255",
		func(m *codes.Manifest) { m.Files[2].Name = "vms-server-" + strings.Repeat("x", 245) })
	broken("download-manifest-file-name-not-ascii", "malformed", "a file name with a Cyrillic letter that looks like a Latin one",
		func(m *codes.Manifest) { m.Files[0].Name = "vms-сlient-4.2.0.zip" })
	broken("download-manifest-release-with-space", "malformed", "a release name with a space",
		func(m *codes.Manifest) { m.Files[0].Release = "vms client" })
	broken("download-manifest-sha256-31-bytes", "malformed", "a file's SHA-256 has 31 bytes",
		func(m *codes.Manifest) { m.Files[1].SHA256 = m.Files[1].SHA256[:31] })
	broken("download-manifest-size-over-limit", "malformed", "a file of 2^50 + 1 bytes; the limit is 2^50",
		func(m *codes.Manifest) { m.Files[1].Size = codes.MaxFileSize + 1 })
	broken("download-manifest-issued-at-zero", "malformed", "an issue time of 0, not a Unix time after 1970",
		func(m *codes.Manifest) { m.IssuedAt, m.Expires = 0, 0 })

	ps := pairsOf(wire.MustMarshal(f.Manifest()))
	signed("download-manifest-expires-zero-present", b.signManifest(mapOf(replace(ps, 3, []byte{0x00}))), "malformed",
		"the optional expiry is present with its default value 0")
	files := wire.MustMarshal(f.Manifest().Files)
	// The first file's size n (key 4), encoded as the negative integer
	// -1-n: the same argument under major type 1.
	size := wire.MustMarshal(f.Manifest().Files[0].Size)
	negative := bytes.Replace(files, append([]byte{0x04}, size...), append([]byte{0x04, size[0] | 0x20}, size[1:]...), 1)
	signed("download-manifest-negative-size", b.signManifest(mapOf(replace(ps, 4, negative))), "malformed", "a file size encoded as a negative integer")
	signed("download-manifest-files-null", b.signManifest(mapOf(replace(ps, 4, []byte{0xf6}))), "malformed", "the file list is CBOR null instead of an array")

	code := f.Codes()[k]
	payload, err := payloadOf(k, code)
	if err != nil {
		panic(err)
	}
	// The last byte of the payload is the last byte of the last file's
	// hash: a file swapped for another whose hash differs in one bit.
	at := bytes.Index(code, payload) + len(payload) - 1
	tampered := bytes.Clone(code)
	tampered[at] ^= 0x01
	signed("download-manifest-tampered-hash", tampered, "bad-signature", "one bit of a file's SHA-256 flipped after signing, as someone who swapped a file would")
	signed("download-manifest-wrong-label", must(cose.SignSign1(payload, codes.KindActivation.Label(), kid[:], signer("authority"))), "bad-signature",
		"a manifest payload signed with the activation label as external AAD")
	rogueID := f.Rogue.ID()
	signed("download-manifest-untrusted-key", must(cose.SignSign1(payload, k.Label(), rogueID[:], signer("rogue"))), "unknown-key",
		"signed by rogue_authority, which is in no trust set")
	late := f.Manifest()
	late.IssuedAt, late.Expires = unix("2022-01-01T00:00:00Z"), 0
	windowedID := f.Windowed.ID()
	signed("download-manifest-outside-key-window", must(cose.SignSign1(wire.MustMarshal(late), k.Label(), windowedID[:], signer("windowed"))), "key-window",
		"signed by windowed_authority with an issue time after that key's not_after")
	m := f.Manifest()
	b.add(testvectors.Case{Name: "download-manifest-expired", Description: "a valid manifest checked the second it expires",
		Kind: k.String(), Form: "binary", Input: hexOf(code), Check: &testvectors.Check{Now: m.Expires}, Expect: "expired"})
	b.add(testvectors.Case{Name: "download-manifest-never-expires", Description: "a manifest without an expiry, checked ten years after its issue",
		Kind: k.String(), Form: "binary", Input: hexOf(sign(withoutExpiry(m))), Check: &testvectors.Check{Now: m.IssuedAt + 3650*86400},
		Expect: "ok", Payload: hexOf(wire.MustMarshal(withoutExpiry(m)))})
	b.add(testvectors.Case{Name: "download-manifest-armored-is-an-activation", Description: "an armored activation file given where a download manifest is expected",
		Kind: k.String(), Form: "armored", Input: string(codes.EncodeArmor(codes.KindActivation, f.Codes()[codes.KindActivation])), Expect: "wrong-kind"})
}

// withoutExpiry returns a copy of m that never expires.
func withoutExpiry(m *codes.Manifest) *codes.Manifest {
	c := *m
	c.Expires = 0
	return &c
}

// signManifest signs a manifest payload given as bytes with the
// authority key.
func (b *builder) signManifest(payload []byte) []byte {
	kid := b.f.Authority.ID()
	return must(cose.SignSign1(payload, codes.KindManifest.Label(), kid[:], signer("authority")))
}
