package main

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/instance"
)

// flagManifestFiles is the folder manifest verify checks.
const flagManifestFiles = "files"

func init() {
	hints = append(hints, []struct {
		sentinel error
		hint     string
	}{
		{instance.ErrFilesDiffer, "install nothing from this folder: copy the release files again from the vendor's download, into a folder that holds nothing else"},
		{instance.ErrFolder, "give --files the folder that holds the release files, and nothing else"},
	}...)
}

const instanceManifestDescription = `manifest groups the commands on download manifests: the signed list of
the release files an organization is entitled to, with their sizes and
SHA-256, which the vendor's desk makes ('airlock authority manifest').`

const instanceManifestVerifyDescription = `verify checks release files carried in on removable media before anything
is installed from them. It verifies the download manifest FILE (armored,
binary or typed, age-encrypted with --identity, or - for standard input)
with the authority keys the instance trusts, refuses it once it has
expired, then compares the folder --files with it:

- every file the manifest lists must be in the folder, a regular file of
  the size and SHA-256 the manifest lists;
- the folder must hold nothing else.

Each file is reported on standard output with one of: ok, missing, size
differs (a truncated file, or a longer one), hash differs, not in the
manifest, not a regular file (a symbolic link, which is never followed, a
folder, a device, a pipe), unreadable. A file is read only when its size
matches, and never past it. Names that are not safe to print are quoted.

Example:

    $ airlock instance manifest verify --files /media/usb/release /media/usb/acme.manifest.airlock
    airlock: download manifest for "acme" verified: signed by authority key 115f3d60785cabde, issued 2026-12-02T10:00:00Z, expires 2027-01-01T10:00:00Z; 3 files
    STATUS        FILE                           DETAIL
    ok            vms-client-4.2.0.zip           vms-client 4.2.0, 48213 bytes
    hash differs  vms-server-4.2.0-linux.tar.gz  SHA-256 3a4b…, the manifest lists 9f2c…
    ok            vms-server-4.2.0-windows.msi   vms-server 4.2.0, 52011 bytes
    airlock: error: files do not match the download manifest: 1 of 3 files in /media/usb/release are not as the manifest for "acme" lists them
    airlock: hint: install nothing from this folder: copy the release files again from the vendor's download, into a folder that holds nothing else

With --json it prints one object: org, issued_at, expires (null when it
never expires), key_id, folder, ok (true when every file is ok) and files,
an array of objects with name, status ("ok", "missing", "size-differs",
"hash-differs", "not-in-manifest", "not-regular" or "unreadable"),
release, version, size and sha256 as the manifest lists them (null for a
file it does not list), found_size and found_sha256 as found (null when
not read), and detail.

Exit status: 0 when the manifest verifies and every file is ok; 1 when
the manifest is refused (altered, signed by a key the instance does not
trust, expired, not a manifest), the folder cannot be read, or a file is
not ok (the report says which); 2 for a wrong command line.`

func instanceManifestCommand() *cli.Command {
	return &cli.Command{
		Name:            "manifest",
		Usage:           "verify release files against a download manifest",
		UsageText:       "airlock instance manifest COMMAND [OPTIONS] [ARGUMENTS]",
		Description:     instanceManifestDescription,
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{{
			Name:        "verify",
			Usage:       "verify a download manifest and the files of a folder against it",
			UsageText:   "airlock instance manifest verify --files DIR [--json] [--identity FILE]... [--state DIR] FILE|-\n   airlock instance manifest verify FILE --files DIR",
			Description: instanceManifestVerifyDescription,
			Flags: instanceFlags(
				&cli.StringFlag{Name: flagManifestFiles, Usage: "check the release files in the folder `DIR`"},
				&cli.BoolFlag{Name: flagJSON, Usage: "print JSON"},
				&cli.StringSliceFlag{Name: flagIdentity, Usage: "open an age-encrypted manifest with the identity in `FILE` (age or ssh-ed25519 private key); repeatable"},
			),
			OnUsageError: onUsageError,
			Action:       instanceManifestVerify,
		}},
	}
}

func instanceManifestVerify(c *cli.Context) error {
	// "verify FILE --files DIR", as a runbook may spell it, is taken too:
	// the command-line library reads flags before the argument only.
	dir := c.String(flagManifestFiles)
	if args := c.Args().Slice(); len(args) >= 2 && dir == "" {
		switch {
		case len(args) == 3 && (args[1] == "--"+flagManifestFiles || args[1] == "-"+flagManifestFiles):
			dir = args[2]
		case len(args) == 2 && strings.HasPrefix(args[1], "--"+flagManifestFiles+"="):
			dir = strings.TrimPrefix(args[1], "--"+flagManifestFiles+"=")
		}
		if dir != "" {
			return verifyManifestFile(c, args[0], dir)
		}
	}
	if err := checkArgs(c, 1, 1, "FILE|-"); err != nil {
		return err
	}
	if _, err := requireFlag(c, flagManifestFiles, "/media/usb/release"); err != nil {
		return err
	}
	return verifyManifestFile(c, c.Args().First(), dir)
}

// verifyManifestFile verifies the manifest in arg and the files of dir.
func verifyManifestFile(c *cli.Context, arg, dir string) error {
	ids, err := identities(c)
	if err != nil {
		return err
	}
	src, err := readCodeArg(arg, c.App.Reader, c.App.ErrWriter)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(src.data)) == 0 {
		return fmt.Errorf("%w: %s is empty", errEmpty, src.source)
	}
	code, err := codes.DecodeKind(src.data, codes.KindManifest, ids...)
	if err != nil {
		return decodeError(src, err, len(ids) > 0)
	}
	in, err := openInstance(c)
	if err != nil {
		return err
	}
	m, err := in.VerifyManifest(code)
	if err != nil {
		err = fmt.Errorf("%s: %w", src.source, err)
		switch {
		case errors.Is(err, codes.ErrExpired):
			return withHint(err, "ask the vendor for a new download manifest")
		case errors.Is(err, codes.ErrBadSignature):
			return withHint(err, "the manifest was altered: install nothing it came with; ask the vendor for it again")
		}
		return err
	}
	until := "never expires"
	if m.Expires != 0 {
		until = "expires " + codes.FormatTime(m.Expires)
	}
	note(c.App.ErrWriter, "download manifest for %q verified: signed by authority key %s, issued %s, %s; %s",
		m.Org, m.KeyID, codes.FormatTime(m.IssuedAt), until, plural(len(m.Files), "file", "files"))
	checks, err := instance.CheckManifestFiles(dir, m)
	if err != nil && !errors.Is(err, instance.ErrFilesDiffer) {
		return err
	}
	var werr error
	if c.Bool(flagJSON) {
		werr = writeJSON(c, manifestReportOf(m, dir, checks, err == nil))
	} else {
		werr = writeResult(c.App.Writer, manifestReportText(checks))
	}
	if werr != nil {
		return werr
	}
	return err
}

// printableName returns a file name as it is when it is a safe one (the
// names a manifest may list), quoted otherwise: a name found on removable
// media may hold control characters.
func printableName(name string) string {
	if codes.CheckFileName(name) == nil {
		return name
	}
	return strconv.Quote(name)
}

func manifestReportText(checks []instance.FileCheck) []byte {
	rows := [][]string{{"STATUS", "FILE", "DETAIL"}}
	for _, ch := range checks {
		rows = append(rows, []string{string(ch.Status), printableName(ch.Name), ch.Detail})
	}
	return tableCols(rows, nil)
}

// fileStatusJSON are the stable names of the statuses in JSON.
var fileStatusJSON = map[instance.FileStatus]string{
	instance.FileOK:          "ok",
	instance.FileMissing:     "missing",
	instance.FileSizeDiffers: "size-differs",
	instance.FileHashDiffers: "hash-differs",
	instance.FileNotListed:   "not-in-manifest",
	instance.FileNotRegular:  "not-regular",
	instance.FileUnreadable:  "unreadable",
}

type manifestFileJSON struct {
	Name        string  `json:"name"`
	Status      string  `json:"status"`
	Release     *string `json:"release"`
	Version     *string `json:"version"`
	Size        *uint64 `json:"size"`
	SHA256      *string `json:"sha256"`
	FoundSize   *int64  `json:"found_size"`
	FoundSHA256 *string `json:"found_sha256"`
	Detail      string  `json:"detail"`
}

type manifestReportJSON struct {
	Org      string             `json:"org"`
	IssuedAt string             `json:"issued_at"`
	Expires  *string            `json:"expires"`
	KeyID    string             `json:"key_id"`
	Folder   string             `json:"folder"`
	OK       bool               `json:"ok"`
	Files    []manifestFileJSON `json:"files"`
}

func manifestReportOf(m *codes.Manifest, dir string, checks []instance.FileCheck, ok bool) manifestReportJSON {
	r := manifestReportJSON{Org: m.Org, IssuedAt: codes.FormatTime(m.IssuedAt), Expires: optTime(m.Expires), KeyID: m.KeyID.String(),
		Folder: dir, OK: ok, Files: []manifestFileJSON{}}
	for _, ch := range checks {
		f := manifestFileJSON{Name: ch.Name, Status: fileStatusJSON[ch.Status], FoundSHA256: optHex(ch.SHA256), Detail: ch.Detail}
		if e := ch.Entry; e != nil {
			size, sum := e.Size, hex.EncodeToString(e.SHA256)
			f.Release, f.Version, f.Size, f.SHA256 = &e.Release, &e.Version, &size, &sum
		}
		if ch.Size >= 0 {
			n := ch.Size
			f.FoundSize = &n
		}
		r.Files = append(r.Files, f)
	}
	return r
}
