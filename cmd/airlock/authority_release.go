package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

// Flags of the release and manifest commands.
const (
	flagReleaseVersion    = "version"
	flagReleaseFileName   = "file-name"
	flagReleaseSHA256     = "sha256"
	flagReleaseSize       = "size"
	flagManifestValidDays = "valid-days"
)

// maxManifestDays caps --valid-days: ten years.
const maxManifestDays = 3660

func init() {
	hints = append(hints, struct {
		sentinel error
		hint     string
	}{authority.ErrNotEntitled, "'airlock authority product list --org ORG' lists its products and their software; 'airlock authority release list' the releases and the software they are for"})
}

const authorityReleaseDescription = `release groups the commands on software releases: the files the vendor
ships, which organizations download and carry to their sites. Each file
of a release is registered with its name, size and SHA-256, and with the
software whose products entitle an organization to it: an organization
with a product of software vms is entitled to every release file
registered for vms. 'airlock authority manifest' signs the list of what
one organization is entitled to, which the site checks its media
against ('airlock instance manifest verify').

Example:

    $ airlock authority release add --name vms-server --version 4.2.0 --software vms vms-server-4.2.0-linux.tar.gz
    airlock: release vms-server 4.2.0: file "vms-server-4.2.0-linux.tar.gz", 48213 bytes, SHA-256 9f2c…, for software vms
    $ airlock authority release list
    RELEASE     VERSION  FILE                           SIZE   SOFTWARE  SHA-256
    vms-server  4.2.0    vms-server-4.2.0-linux.tar.gz  48213  vms       9f2c…`

func authorityReleaseCommand() *cli.Command {
	return &cli.Command{
		Name:            "release",
		Usage:           "register release files and the software that entitles them",
		UsageText:       "airlock authority release COMMAND [OPTIONS] [ARGUMENTS]",
		Description:     authorityReleaseDescription,
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{
			{
				Name:  "add",
				Usage: "register one file of a release",
				UsageText: "airlock authority release add --name NAME --version VERSION --software SOFTWARE... [--file-name NAME] [--dir DIR] FILE\n" +
					"airlock authority release add --name NAME --version VERSION --software SOFTWARE... --file-name NAME --sha256 HEX --size N [--dir DIR]",
				Description: `add registers one file of the release --name, version --version, for the
software given with --software (repeatable): every organization with a
product of one of them is entitled to the file. Register each file of a
release in turn.

With FILE, add reads the file to compute its SHA-256 and size, and
registers it under its base name, or --file-name. When the file is not at
the desk, give --file-name, --sha256 (64 hex digits) and --size (bytes)
instead.

A file name is a base name: printable ASCII, spaces inside it allowed;
no '/', '\', ':' or "..", no space at either end, at most 255 characters.
It names one file in the whole ledger, whatever the case of its letters:
the files of a download manifest sit in one folder on the site.

Example:

    $ airlock authority release add --name vms-server --version 4.2.0 --software vms vms-server-4.2.0-linux.tar.gz
    airlock: release vms-server 4.2.0: file "vms-server-4.2.0-linux.tar.gz", 48213 bytes, SHA-256 9f2c…, for software vms
    $ airlock authority release add --name vms-server --version 4.2.0 --software vms \
        --file-name vms-server-4.2.0-windows.msi --sha256 5d41402abc4b2a76b9719d911017c592… --size 52011
    airlock: release vms-server 4.2.0: file "vms-server-4.2.0-windows.msi", 52011 bytes, SHA-256 5d41…, for software vms

Exit status: 0 when the file was registered; 1 when it was refused (a
file of that name is registered, a bad name or version) or FILE cannot be
read; 2 for a wrong command line.`,
				Flags: ledgerFlags(
					&cli.StringFlag{Name: flagName, Usage: "the release `NAME`, e.g. vms-server"},
					&cli.StringFlag{Name: flagReleaseVersion, Usage: "the release's `VERSION`, e.g. 4.2.0"},
					&cli.StringSliceFlag{Name: flagSoftware, Usage: "products of `SOFTWARE` (e.g. vms) entitle an organization to the file; repeatable"},
					&cli.StringFlag{Name: flagReleaseFileName, Usage: "register the file as `NAME` (default: the base name of FILE)"},
					&cli.StringFlag{Name: flagReleaseSHA256, Usage: "the file's SHA-256, `HEX` (without FILE)"},
					&cli.StringFlag{Name: flagReleaseSize, Usage: "the file's size in bytes, `N` (without FILE)"},
				),
				OnUsageError: onUsageError,
				Action:       authorityReleaseAdd,
			},
			{
				Name:      "list",
				Usage:     "list the release files, or those an organization is entitled to",
				UsageText: "airlock authority release list [--org ORG] [--json] [--dir DIR]",
				Description: `list prints every registered release file, by release, version and file
name; with --org, only those the organization's products entitle it to:
what its download manifest lists. Every release file is the vendor's
catalogue: once the ledger has people, only the vendor's staff list them
all; the people of an organization list theirs with --org.

Example:

    $ airlock authority release list --org acme
    RELEASE     VERSION  FILE                           SIZE   SOFTWARE  SHA-256
    vms-server  4.2.0    vms-server-4.2.0-linux.tar.gz  48213  vms       9f2c…

With --json it prints an array of objects with the members name,
version, file_name, size (bytes), sha256 (hex), software (an array),
added (RFC 3339 UTC) and actor.

Exit status: 0 when the list was printed; 1 when the ledger cannot be
read or the organization does not exist; 2 for a wrong command line.`,
				Flags: ledgerFlags(
					&cli.StringFlag{Name: flagOrg, Usage: "only the files the organization `ORG` is entitled to"},
					&cli.BoolFlag{Name: flagJSON, Usage: "print JSON instead of a table"},
				),
				OnUsageError: onUsageError,
				Action:       authorityReleaseList,
			},
		},
	}
}

func authorityReleaseAdd(c *cli.Context) error {
	if err := checkArgs(c, 0, 1, "FILE"); err != nil {
		return err
	}
	v, err := requireFlags(c, flagName, "vms-server", flagReleaseVersion, "4.2.0")
	if err != nil {
		return err
	}
	name, version := v[0], v[1]
	software := c.StringSlice(flagSoftware)
	if len(software) == 0 {
		return usagef(c.Command.HelpName, "for example: --software vms", "missing --%s", flagSoftware)
	}
	fileName := c.String(flagReleaseFileName)
	var sum []byte
	var size int64
	if path := c.Args().First(); path != "" {
		if c.IsSet(flagReleaseSHA256) || c.IsSet(flagReleaseSize) {
			return usagef(c.Command.HelpName, "give FILE to read it, or --file-name, --sha256 and --size for a file that is not here",
				"--%s and --%s describe a file that is not here: not with FILE", flagReleaseSHA256, flagReleaseSize)
		}
		if sum, size, err = hashFile(path); err != nil {
			return err
		}
		if fileName == "" {
			fileName = filepath.Base(path)
		}
	} else {
		v, err := requireFlags(c, flagReleaseFileName, "vms-server-4.2.0-linux.tar.gz", flagReleaseSHA256, "9f2c…", flagReleaseSize, "48213")
		if err != nil {
			return withHint(err, "give FILE, or --file-name, --sha256 and --size for a file that is not here")
		}
		if sum, err = hex.DecodeString(v[1]); err != nil || len(sum) != sha256.Size {
			return usagef(c.Command.HelpName, "a SHA-256 is 64 hex digits, as sha256sum prints it", "--%s: %q is not a SHA-256", flagReleaseSHA256, v[1])
		}
		if size, err = strconv.ParseInt(v[2], 10, 64); err != nil || size < 0 {
			return usagef(c.Command.HelpName, "for example: --size 48213", "--%s: %q is not a size in bytes", flagReleaseSize, v[2])
		}
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	r, err := d.l.AddRelease(d.ctx, name, version, fileName, sum, size, software)
	if err != nil {
		return err
	}
	note(c.App.ErrWriter, "release %s: file %q, %d bytes, SHA-256 %x, for software %s", r.Ref(), r.FileName, r.Size, r.SHA256, strings.Join(r.Software, ", "))
	return nil
}

// hashFile returns the SHA-256 and size of the regular file at path,
// read in one pass.
func hashFile(path string) ([]byte, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%w: %s", errNotRegular, path)
	}
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, codes.MaxFileSize+1))
	if err != nil {
		return nil, 0, fmt.Errorf("reading %s: %w", path, err)
	}
	if n > codes.MaxFileSize {
		return nil, 0, fmt.Errorf("%w: %s has more than %d bytes", errTooLarge, path, int64(codes.MaxFileSize))
	}
	return h.Sum(nil), n, nil
}

type releaseJSON struct {
	Name     string   `json:"name"`
	Version  string   `json:"version"`
	FileName string   `json:"file_name"`
	Size     int64    `json:"size"`
	SHA256   string   `json:"sha256"`
	Software []string `json:"software"`
	Added    string   `json:"added"`
	Actor    string   `json:"actor"`
}

func authorityReleaseList(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	var rs []authority.Release
	org := c.String(flagOrg)
	if org != "" {
		rs, err = d.l.EntitledReleases(d.ctx, org)
	} else {
		rs, err = d.l.Releases(d.ctx)
	}
	if err != nil {
		return err
	}
	if c.Bool(flagJSON) {
		out := make([]releaseJSON, 0, len(rs))
		for _, r := range rs {
			out = append(out, releaseJSON{Name: r.Name, Version: r.Version, FileName: r.FileName, Size: r.Size,
				SHA256: hex.EncodeToString(r.SHA256), Software: r.Software, Added: codes.FormatTime(r.CreatedAt), Actor: r.Actor})
		}
		return writeJSON(c, out)
	}
	if len(rs) == 0 {
		if org != "" {
			note(c.App.ErrWriter, "organization %q is entitled to no release file: its products' software has none", org)
		} else {
			note(c.App.ErrWriter, "no release yet: register files with 'airlock authority release add'")
		}
		return nil
	}
	rows := [][]string{{"RELEASE", "VERSION", "FILE", "SIZE", "SOFTWARE", "SHA-256"}}
	for _, r := range rs {
		rows = append(rows, []string{r.Name, r.Version, r.FileName, fmt.Sprint(r.Size), strings.Join(r.Software, ","), hex.EncodeToString(r.SHA256)})
	}
	return writeResult(c.App.Writer, tableCols(rows, map[int]bool{3: true}))
}

const authorityManifestDescription = `manifest signs the download manifest of the organization --org: every
release file its products entitle it to ('airlock authority release
list --org ORG'), with the file's name, release, version, size and
SHA-256. The site that receives the files on removable media checks them
against it, offline, before installing anything ('airlock instance
manifest verify'); the signature is the authority key's, which every
instance trusts already.

The manifest goes to --out (default: standard output), armored; --to
encrypts it with age for the trip on removable media. It never expires
unless --valid-days says for how many days it may be used. Each run signs
a new manifest, recorded in the history by its hash.

Example:

    $ airlock authority manifest --org acme --valid-days 30 --out usb/acme.manifest.airlock
    airlock: wrote usb/acme.manifest.airlock
    airlock: download manifest for "acme": 3 files of 2 releases (vms-client 4.2.0, vms-server 4.2.0), expires 2026-01-01T10:00:00Z

Exit status: 0 when the manifest was written; 1 when it was refused (no
such organization, one entitled to nothing, no valid authority key, the
clock behind the ledger) or could not be written; 2 for a wrong command
line.`

func authorityManifestCommand() *cli.Command {
	return &cli.Command{
		Name:        "manifest",
		Usage:       "sign the download manifest of an organization's entitled release files",
		UsageText:   "airlock authority manifest --org ORG [--valid-days N] [--out FILE|-] [--to RECIPIENT]... [--identity FILE]... [--dir DIR]",
		Description: authorityManifestDescription,
		Flags: keyFlags(
			&cli.StringFlag{Name: flagOrg, Usage: "the manifest of the organization `ORG`"},
			&cli.StringFlag{Name: flagManifestValidDays, Usage: "let the manifest be used for `N` days (1 to 3660; default: it never expires)"},
			&cli.StringFlag{Name: flagOut, Usage: "write the manifest to `FILE` (- for standard output, the default)"},
			&cli.StringSliceFlag{Name: flagTo, Usage: "encrypt the manifest to `RECIPIENT` (age1…, \"ssh-ed25519 …\", or @FILE); repeatable"},
		),
		OnUsageError: onUsageError,
		Action:       authorityManifest,
	}
}

func authorityManifest(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	org, err := requireFlag(c, flagOrg, "acme")
	if err != nil {
		return err
	}
	days := 0
	if s := c.String(flagManifestValidDays); c.IsSet(flagManifestValidDays) {
		if days, err = strconv.Atoi(s); err != nil || days < 1 || days > maxManifestDays {
			return usagef(c.Command.HelpName, "for example: --valid-days 30", "--%s: %q is not a number of days from 1 to %d", flagManifestValidDays, s, maxManifestDays)
		}
	}
	recipients, err := parseRecipientsFlag(c.Command.HelpName, flagTo, c.StringSlice(flagTo))
	if err != nil {
		return err
	}
	d, err := openDesk(c, true)
	if err != nil {
		return err
	}
	defer d.Close()
	var expires time.Time
	if days > 0 {
		expires = clock().Add(time.Duration(days) * 24 * time.Hour)
	}
	code, m, err := d.l.Manifest(d.ctx, org, expires)
	if err != nil {
		return err
	}
	if err := writeArmoredOut(c, codes.KindManifest, code, recipients, "nothing is lost: run the same command again for a new manifest"); err != nil {
		return err
	}
	var releases []string
	for _, f := range m.Files {
		if r := f.Release + " " + f.Version; !slices.Contains(releases, r) {
			releases = append(releases, r)
		}
	}
	slices.Sort(releases)
	until := "never expires"
	if m.Expires != 0 {
		until = "expires " + codes.FormatTime(m.Expires)
	}
	note(c.App.ErrWriter, "download manifest for %q: %s of %s (%s), %s", m.Org, plural(len(m.Files), "file", "files"),
		plural(len(releases), "release", "releases"), clipNames(releases, 5), until)
	return nil
}

// clipNames joins at most n names, in the order given, and says how many
// more there are.
func clipNames(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:n], ", "), len(names)-n)
}
