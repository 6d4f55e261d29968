package main

import (
	"bytes"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/instance"
)

const instanceTrustInstallDescription = `install verifies trust updates and installs them, in the order given.
The authority publishes one with every key rotation
(trust-updates/NNNN.airlock in its folder), signed by a key the instance
trusts already: give every update after the instance's sequence ('airlock
instance trust show'), oldest first. From then on requests are made for the
new key, and codes a retired key signs after its window are refused.

Each argument is a file, a typed code, or - for standard input; an
age-encrypted file opens with --identity. An update older than the
installed set is refused (rollback), as is one signed by a key the
instance does not know yet (install the missing updates first). The
installed set again changes nothing.

Example:

    $ airlock instance trust install 0002.airlock 0003.airlock
    airlock: trust sequence 2 installed (was 1), signed by 115f3d60785cabde; requests go to key 5e0c9a4b17d2f388
    airlock: trust sequence 3 installed (was 2), signed by 5e0c9a4b17d2f388; requests go to key 0b7d15a2c4e9f631

Exit status: 0 when every update is installed (or was already); 1 at the
first one refused, after installing those before it; 2 for a wrong command
line.`

const instanceTrustShowDescription = `show prints the installed trust set: its sequence and each authority key
with its window, marking the one requests are made for now.

Example:

    $ airlock instance trust show
    sequence         2
    issued at        2026-12-02T10:00:00Z
    key              115f3d60785cabde  2025-01-15T09:30:00Z to 2026-12-02T10:00:01Z
    key              5e0c9a4b17d2f388  2026-12-02T10:00:00Z to -  (current)`

func instanceTrustCommand() *cli.Command {
	return &cli.Command{
		Name:            "trust",
		Usage:           "install trust updates and show the trusted authority keys",
		UsageText:       "airlock instance trust COMMAND [OPTIONS] [ARGUMENTS]",
		Description:     "trust manages the authority keys the instance trusts: install applies the trust updates a key rotation publishes, show prints the installed set.",
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{
			{
				Name:        "install",
				Usage:       "verify and install trust updates, in order",
				UsageText:   "airlock instance trust install [--identity FILE]... [--state DIR] FILE|CODE|-...",
				Description: instanceTrustInstallDescription,
				Flags: instanceFlags(
					&cli.StringSliceFlag{Name: flagIdentity, Usage: "open an age-encrypted file with the identity in `FILE` (age or ssh-ed25519 private key); repeatable"},
				),
				OnUsageError: onUsageError,
				Action:       instanceTrustInstall,
			},
			{
				Name:         "show",
				Usage:        "print the installed trust set",
				UsageText:    "airlock instance trust show [--json] [--state DIR]",
				Description:  instanceTrustShowDescription,
				Flags:        instanceFlags(&cli.BoolFlag{Name: flagJSON, Usage: "print JSON"}),
				OnUsageError: onUsageError,
				Action:       instanceTrustShow,
			},
		},
	}
}

func instanceTrustInstall(c *cli.Context) error {
	if err := checkArgs(c, 1, 64, "FILE|CODE|-..."); err != nil {
		return err
	}
	ids, err := identities(c)
	if err != nil {
		return err
	}
	// Read and decode them all first: a typo in the third is reported
	// before the first is installed.
	var updates [][]byte
	for _, arg := range c.Args().Slice() {
		in, err := readCodeArg(arg, c.App.Reader, c.App.ErrWriter)
		if err != nil {
			return err
		}
		code, err := codes.DecodeKind(in.data, codes.KindTrustUpdate, ids...)
		if err != nil {
			return fmt.Errorf("%s: %w", in.source, err)
		}
		updates = append(updates, code)
	}
	in, err := openInstance(c)
	if err != nil {
		return err
	}
	w := c.App.ErrWriter
	for i, code := range updates {
		got, err := in.InstallTrust(code)
		if err != nil {
			if len(updates) > 1 {
				return fmt.Errorf("%s (argument %d): %w", c.Args().Get(i), i+1, err)
			}
			return err
		}
		if got.Again {
			note(w, "trust sequence %d is installed already: nothing changed", got.Set.Sequence)
			continue
		}
		current := "none valid now"
		if st, err := in.Status(); err == nil && st.AuthorityKey != nil {
			current = "key " + st.AuthorityKey.String()
		}
		note(w, "trust sequence %d installed (was %d), signed by %s; requests go to %s", got.Set.Sequence, got.Previous, got.Set.SignedBy, current)
	}
	return nil
}

// trustShowJSON is the trust set as code inspect prints one, with the key
// requests are made for now.
type trustShowJSON struct {
	trustJSON
	CurrentKey *string `json:"current_key"`
}

func instanceTrustShow(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	in, err := openInstance(c)
	if err != nil {
		return err
	}
	st, err := in.Status()
	if err != nil {
		return err
	}
	out := trustShowJSON{trustJSON: trustFields(st.Trust)}
	if st.AuthorityKey != nil {
		id := st.AuthorityKey.String()
		out.CurrentKey = &id
	}
	if c.Bool(flagJSON) {
		return writeJSON(c, out)
	}
	orDash := func(s *string) string {
		if s == nil {
			return "-"
		}
		return *s
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%-16s %d\n%-16s %s\n", "sequence", out.Sequence, "issued at", out.IssuedAt)
	for _, k := range out.Keys {
		cur := ""
		if out.CurrentKey != nil && *out.CurrentKey == k.KeyID {
			cur = "  (current)"
		}
		fmt.Fprintf(&b, "%-16s %s  %s to %s%s\n", "key", k.KeyID, orDash(k.NotBefore), orDash(k.NotAfter), cur)
	}
	return writeResult(c.App.Writer, b.Bytes())
}

func init() {
	hints = append(hints, []struct {
		sentinel error
		hint     string
	}{
		{instance.ErrTrustRollback, "this update is older than the installed trust set: nothing to do; 'airlock instance trust show' prints the installed sequence"},
		{instance.ErrTrustGap, "install the authority's trust updates after the installed sequence, oldest first ('airlock instance trust show' prints it)"},
	}...)
}
