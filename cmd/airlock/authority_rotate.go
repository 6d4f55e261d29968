package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

const authorityRotateDescription = `rotate-key makes a new authority key and publishes it in a trust update
signed by the current key, as instances expect: the next trust set lists
every key trusted so far, the current key's window closed now, and the new
key from now. From then on every code is signed by the new key; codes a
retired key signs after its window are refused by instances that have the
update. Nothing is ever dropped from the set, so codes installed years ago
still verify.

It writes, in the authority folder:

- authority.key: the new key, encrypted as the old one was (the same
  passphrase), or to --recipient;
- retired/KEYID.key: the old key, kept to open the codes of instances that
  have not installed the update yet;
- trust-updates/NNNN.airlock: the trust update of sequence NNNN, signed by
  the old key. Give instances every update after their own sequence, in
  order ('airlock instance trust install');
- trust.airlock: the new trust file, for instances installed from now on.

Each file is replaced atomically, and the rotation is recorded in the
history. If rotate-key is interrupted, running it again finishes the same
rotation; until then the commands that sign refuse to.

Example:

    $ airlock authority rotate-key
    airlock: new key 5e0c9a4b17d2f388 signs from 2026-12-02T10:00:00Z; key 115f3d60785cabde retired
    airlock: wrote /srv/airlock/trust-updates/0002.airlock: trust update 2, for every instance
    airlock: wrote /srv/airlock/trust.airlock: the trust file, for new instances

Once the ledger has people, only the vendor's staff rotate the key (with
their --actor): anyone else is refused before a key or file is written.

Exit status: 0 when the rotation is done; 1 when it was refused or failed
(run it again to finish); 2 for a wrong command line.`

func authorityRotateCommand() *cli.Command {
	return &cli.Command{
		Name:        "rotate-key",
		Usage:       "make a new authority key and the trust update that publishes it",
		UsageText:   "airlock authority rotate-key [--recipient RECIPIENT]... [--not-after DATE] [--identity FILE]... [--dir DIR]",
		Description: authorityRotateDescription,
		Flags: keyFlags(
			&cli.StringSliceFlag{Name: flagRecipient, Usage: "encrypt the new key to `RECIPIENT` (age1…, \"ssh-ed25519 …\", or @FILE) instead of the old key's passphrase; repeatable"},
			&cli.StringFlag{Name: flagNotAfter, Usage: "the new key signs nothing after `DATE` (YYYY-MM-DD or RFC 3339; default: no end)"},
		),
		OnUsageError: onUsageError,
		Action:       authorityRotate,
	}
}

func authorityRotate(c *cli.Context) error {
	if c.Args().Len() > 0 {
		return usagef(c.Command.HelpName, "rotate-key takes no arguments", "unexpected argument %q", c.Args().First())
	}
	recipients, err := parseRecipients(c.Command.HelpName, c.StringSlice(flagRecipient))
	if err != nil {
		return err
	}
	notAfter, err := notAfterFlag(c, c.Command.HelpName, clock().UTC().Truncate(time.Second))
	if err != nil {
		return err
	}
	dir, err := authorityDir(c)
	if err != nil {
		return err
	}
	stderr := c.App.ErrWriter
	keyPath := filepath.Join(dir, authority.KeyFile)
	sealedCur, err := readFile(keyPath, maxKeyFileSize)
	if err != nil {
		return err
	}
	o := &keyOpener{c: c}
	cur, byPassphrase, err := o.open(keyPath)
	if err != nil {
		return err
	}
	trust, err := readDeskTrust(dir)
	if err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.l.MayRotate(d.ctx); err != nil {
		return err
	}
	now := clock().UTC().Truncate(time.Second)

	var old, next *codes.AuthorityKey
	if trust.Key(cur.ID()) == nil {
		// An interrupted rotation: authority.key is the new key already;
		// the old one is the retired key the trust file holds as current.
		if old, err = retiredCurrent(o, dir, trust, now); err != nil {
			return err
		}
		next = cur
		note(stderr, "finishing the rotation from key %s to key %s", old.ID(), next.ID())
	} else {
		old = cur
		if next, err = codes.GenerateAuthorityKey(rand.Reader, now, notAfter); err != nil {
			return fmt.Errorf("generating the key: %w", err)
		}
		var sealed []byte
		switch {
		case len(recipients) > 0:
			sealed, err = codes.SealAuthorityKey(next, recipients...)
		case byPassphrase:
			sealed, err = codes.SealAuthorityKeyPassphrase(next, o.passphrase)
		default:
			return withHint(errors.New("the current key opens with an identity, so the new key needs --recipient to be encrypted to"),
				"give --recipient with the public key of that identity (age1… or \"ssh-ed25519 …\"), or @FILE")
		}
		if err != nil {
			return fmt.Errorf("encrypting the key: %w", err)
		}
		// The old key first, so that the new one never stands alone.
		if err := os.MkdirAll(filepath.Join(dir, authority.RetiredDir), 0o700); err != nil {
			return err
		}
		if err := keepFile(filepath.Join(dir, authority.RetiredDir, old.ID().String()+".key"), sealedCur, 0o600); err != nil {
			return err
		}
		if err := replaceFile(keyPath, sealed, 0o600); err != nil {
			return err
		}
	}

	rot, err := authority.RotateKey(trust, old, next, now)
	if err != nil {
		return err
	}
	updates := filepath.Join(dir, authority.UpdatesDir)
	if err := os.MkdirAll(updates, 0o755); err != nil {
		return err
	}
	updatePath := filepath.Join(updates, authority.UpdateName(rot.Set.Sequence))
	if err := replaceFile(updatePath, codes.EncodeArmor(codes.KindTrustUpdate, rot.Update), 0o644); err != nil {
		return err
	}
	trustPath := filepath.Join(dir, authority.TrustFile)
	if err := replaceFile(trustPath, codes.EncodeArmor(codes.KindTrustUpdate, rot.TrustFile), 0o644); err != nil {
		return err
	}
	if err := d.l.RecordRotation(d.ctx, rot); err != nil {
		return fmt.Errorf("the rotation is done but the history could not record it: %w", err)
	}
	note(stderr, "new key %s signs from %s; key %s retired", next.ID(), codes.FormatTime(rot.At), old.ID())
	note(stderr, "wrote %s: trust update %d, for every instance", updatePath, rot.Set.Sequence)
	note(stderr, "wrote %s: the trust file, for new instances", trustPath)
	return nil
}

// retiredCurrent opens the retired key that trust makes codes for at now:
// the signer of an interrupted rotation.
func retiredCurrent(o *keyOpener, dir string, trust *codes.TrustSet, now time.Time) (*codes.AuthorityKey, error) {
	pub := trust.Current(now.Unix())
	if pub == nil {
		return nil, fmt.Errorf("%w: no key of %s (sequence %d) is valid now, so none can sign the trust update", authority.ErrNoKey, authority.TrustFile, trust.Sequence)
	}
	path := filepath.Join(dir, authority.RetiredDir, pub.ID().String()+".key")
	k, _, err := o.open(path)
	if err != nil {
		return nil, fmt.Errorf("finishing the rotation needs the old key: %w", err)
	}
	if k.ID() != pub.ID() {
		return nil, fmt.Errorf("%w: %s holds key %s, not %s", codes.ErrInvalid, path, k.ID(), pub.ID())
	}
	return k, nil
}

// keepFile writes data to a new file at path, durably; a file already
// there with the same bytes is fine, one with others is an error.
func keepFile(path string, data []byte, perm fs.FileMode) error {
	if old, err := os.ReadFile(path); err == nil {
		if bytes.Equal(old, data) {
			return nil
		}
		return fmt.Errorf("%w: %s holds another key", errExists, path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return replaceFile(path, data, perm)
}
