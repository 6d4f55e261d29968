package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/formats/seal"
)

// Flags of airlock keygen.
const (
	flagOut       = "out"
	flagTrustOut  = "trust-out"
	flagRecipient = "recipient"
	flagNotAfter  = "not-after"
)

// envPassphrase names the variable that holds the passphrase of a new
// authority key when no terminal is there to ask.
const envPassphrase = "AIRLOCK_PASSPHRASE"

// minPassphraseLen is the length under which keygen warns: anyone who
// copies the key file can try passphrases offline, at about one per second
// and 256 MiB each (age's scrypt work factor).
const minPassphraseLen = 12

const keygenDescription = `keygen makes a new authority key: the key that signs authorization codes
and trust files. It writes two files, and never overwrites one:

- the private key, to --out, encrypted with age: by default to a
  passphrase, or to the age or SSH public keys given with --recipient.
  The file is created with mode 0600. Keep it offline and backed up;
  whoever holds it and its passphrase can license anything.
- the trust file, to --trust-out: the public key, signed by itself.
  Give it to every instance, which then trusts codes signed by this key.

The passphrase is taken from the AIRLOCK_PASSPHRASE environment variable
when it is set; otherwise it is read from the terminal, twice, without
echo. With neither, keygen fails.

The key is valid from now on. With --not-after it signs nothing from the
given time on: a date (YYYY-MM-DD) means the end of that day, UTC; an
RFC 3339 time is taken as it is.

Example:

    $ airlock keygen --out authority.key --trust-out trust.airlock
    airlock: passphrase for authority.key: 
    airlock: the same passphrase again: 
    airlock: new authority key 5b0c1d6e9f3a2b47
    airlock: wrote authority.key: the private key, encrypted with a passphrase
    airlock: wrote trust.airlock: the trust file, for every instance

    $ airlock keygen --recipient age1f8u3hcp4qw725vlgqwd8dzycpzj90lfu3ujq5u7ls6vumsh68ujqz5n779 \
          --recipient @backup.pub --not-after 2030-12-31 \
          --out authority.key --trust-out trust.airlock
    airlock: new authority key 0f4e7d2a61c9b385, valid until 2031-01-01T00:00:00Z
    airlock: wrote authority.key: the private key, encrypted to 2 recipients
    airlock: wrote trust.airlock: the trust file, for every instance

Exit status: 0 when both files were written; 1 when a file exists or
cannot be written, or no passphrase was given (then neither file is
left behind); 2 for a wrong command line.`

func keygenCommand() *cli.Command {
	return &cli.Command{
		Name:        "keygen",
		Usage:       "make a new authority key and its trust file",
		UsageText:   "airlock keygen --out FILE --trust-out FILE [--recipient RECIPIENT]... [--not-after DATE]",
		Description: keygenDescription,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: flagOut, Usage: "write the encrypted private key to `FILE`, which must not exist"},
			&cli.StringFlag{Name: flagTrustOut, Usage: "write the trust file to `FILE`, which must not exist"},
			&cli.StringSliceFlag{Name: flagRecipient, Usage: "encrypt the key to `RECIPIENT` (age1…, \"ssh-ed25519 …\", or @FILE with one per line) instead of a passphrase; repeatable"},
			&cli.StringFlag{Name: flagNotAfter, Usage: "let the key sign nothing from `DATE` on (YYYY-MM-DD, the end of that day UTC, or RFC 3339)"},
		},
		OnUsageError: onUsageError,
		Action:       keygen,
	}
}

func keygen(c *cli.Context) error {
	stderr := c.App.ErrWriter
	cmd := c.Command.HelpName
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	keyPath, trustPath := c.String(flagOut), c.String(flagTrustOut)
	switch {
	case keyPath == "":
		return usagef(cmd, "for example: --out authority.key", "missing --%s FILE for the private key", flagOut)
	case trustPath == "":
		return usagef(cmd, "for example: --trust-out trust.airlock", "missing --%s FILE for the trust file", flagTrustOut)
	case keyPath == "-" || trustPath == "-":
		return usagef(cmd, "", "keygen writes files, not standard output: give file names")
	case filepath.Clean(keyPath) == filepath.Clean(trustPath):
		return usagef(cmd, "", "--%s and --%s name the same file %q", flagOut, flagTrustOut, keyPath)
	}
	now := clock().UTC().Truncate(time.Second)
	notAfter, err := notAfterFlag(c, cmd, now)
	if err != nil {
		return err
	}
	recipients, err := parseRecipients(cmd, c.StringSlice(flagRecipient))
	if err != nil {
		return err
	}
	// Refuse early, before asking for a passphrase; the files are created
	// with O_EXCL all the same.
	for _, p := range []string{keyPath, trustPath} {
		if err := checkAbsent(p); err != nil {
			return err
		}
	}

	var passphrase string
	if len(recipients) == 0 {
		if passphrase, err = readNewPassphrase(c.App.Reader, stderr, keyPath); err != nil {
			return err
		}
		if n := len([]rune(passphrase)); n < minPassphraseLen {
			warn(stderr, "the passphrase has %d characters; anyone who copies %s can try to guess it offline", n, keyPath)
		}
	}

	key, err := writeKeyFiles(stderr, keyPath, trustPath, now, notAfter, recipients, passphrase)
	if err != nil {
		return err
	}
	if notAfter.IsZero() {
		note(stderr, "new authority key %s", key.ID())
	} else {
		note(stderr, "new authority key %s, valid until %s", key.ID(), notAfter.Format(time.RFC3339))
	}
	how := "with a passphrase"
	switch n := len(recipients); {
	case n == 1:
		how = "to 1 recipient"
	case n > 1:
		how = fmt.Sprintf("to %d recipients", n)
	}
	note(stderr, "wrote %s: the private key, encrypted %s", keyPath, how)
	note(stderr, "wrote %s: the trust file, for every instance", trustPath)
	return nil
}

// writeKeyFiles makes a new authority key valid from now to notAfter (zero:
// no end), and writes it to keyPath, encrypted to recipients or else to
// passphrase, and its trust file to trustPath. Neither file may exist; on
// failure neither is left behind. airlock keygen and airlock authority
// init share it.
func writeKeyFiles(stderr io.Writer, keyPath, trustPath string, now, notAfter time.Time, recipients []age.Recipient, passphrase string) (*codes.AuthorityKey, error) {
	key, err := codes.GenerateAuthorityKey(rand.Reader, now, notAfter)
	if err != nil {
		return nil, fmt.Errorf("generating the key: %w", err)
	}
	var sealed []byte
	if len(recipients) == 0 {
		sealed, err = codes.SealAuthorityKeyPassphrase(key, passphrase)
	} else {
		sealed, err = codes.SealAuthorityKey(key, recipients...)
	}
	if err != nil {
		return nil, fmt.Errorf("encrypting the key: %w", err)
	}
	trust, err := codes.SignTrustSet(&codes.TrustSet{
		Sequence: 1,
		Keys:     []codes.AuthorityPublicKey{key.Public},
		IssuedAt: now.Unix(),
	}, key)
	if err != nil {
		return nil, fmt.Errorf("signing the trust file: %w", err)
	}

	if err := writeNewFile(keyPath, sealed, 0o600); err != nil {
		return nil, err
	}
	if err := writeNewFile(trustPath, codes.EncodeArmor(codes.KindTrustUpdate, trust), 0o644); err != nil {
		// A key without its trust file is of no use, and nobody has seen
		// it yet: leave neither behind.
		if rmErr := os.Remove(keyPath); rmErr != nil {
			warn(stderr, "could not remove %s: %v", keyPath, rmErr)
		}
		return nil, err
	}
	return key, nil
}

// notAfterFlag reads --not-after: zero when it is not given, and a usage
// error for a malformed date or one not after now.
func notAfterFlag(c *cli.Context, cmd string, now time.Time) (time.Time, error) {
	s := c.String(flagNotAfter)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := parseNotAfter(s)
	if err != nil {
		return time.Time{}, usagef(cmd, "write a date as 2030-12-31 or a time as 2030-12-31T18:00:00Z", "--%s %q: %v", flagNotAfter, s, err)
	}
	if !t.After(now) {
		return time.Time{}, usagef(cmd, "", "--%s %q is in the past: the key could never sign anything", flagNotAfter, s)
	}
	return t, nil
}

// parseNotAfter reads a date, meaning the end of that day in UTC, or an
// RFC 3339 time.
func parseNotAfter(s string) (time.Time, error) {
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		return d.AddDate(0, 0, 1), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, errors.New("not a date (YYYY-MM-DD) or an RFC 3339 time")
	}
	return t.UTC().Truncate(time.Second), nil
}

// parseRecipients reads --recipient values: an age or ssh-ed25519 public
// key, or @FILE holding one per line (blank lines and # comments skipped).
func parseRecipients(cmd string, values []string) ([]age.Recipient, error) {
	return parseRecipientsFlag(cmd, flagRecipient, values)
}

// parseRecipientsFlag is parseRecipients for a flag of another name.
func parseRecipientsFlag(cmd, which string, values []string) ([]age.Recipient, error) {
	const hint = "give an age recipient (age1…), an ssh-ed25519 public key in quotes, or @FILE"
	var rs []age.Recipient
	for _, v := range values {
		path, isFile := strings.CutPrefix(v, "@")
		if !isFile {
			r, err := seal.ParseRecipient(v)
			if err != nil {
				return nil, usagef(cmd, hint, "--%s: %v", which, err)
			}
			rs = append(rs, r)
			continue
		}
		b, err := readFile(path, maxKeyFileSize)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", which, err)
		}
		n := 0
		for i, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			r, err := seal.ParseRecipient(line)
			if err != nil {
				return nil, usagef(cmd, hint, "--%s @%s, line %d: %v", which, path, i+1, err)
			}
			rs = append(rs, r)
			n++
		}
		if n == 0 {
			return nil, usagef(cmd, hint, "--%s @%s: the file holds no recipient", which, path)
		}
	}
	return rs, nil
}

// checkAbsent refuses a path that exists, even as a dangling symlink.
func checkAbsent(path string) error {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return withHint(fmt.Errorf("%w: %s", errExists, path),
			"airlock never overwrites a key or trust file; give another path, or move the file away first")
	case errors.Is(err, fs.ErrNotExist):
		return nil
	}
	return err
}

// writeNewFile creates path with O_EXCL and mode perm, writes b and syncs
// it. On failure it removes what it created.
func writeNewFile(path string, b []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		return checkAbsent(path)
	}
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// readNewPassphrase takes AIRLOCK_PASSPHRASE when it is set, or asks
// twice on the terminal without echo.
func readNewPassphrase(stdin io.Reader, stderr io.Writer, keyPath string) (string, error) {
	return readPassphrase(stdin, stderr, keyPath, true)
}

// readPassphrase takes AIRLOCK_PASSPHRASE when it is set, or asks on the
// terminal without echo: twice for a new key, once to open one.
func readPassphrase(stdin io.Reader, stderr io.Writer, keyPath string, twice bool) (string, error) {
	if p, set := os.LookupEnv(envPassphrase); set {
		if p == "" {
			return "", fmt.Errorf("%w: %s is empty", errNoPassphrase, envPassphrase)
		}
		return p, nil
	}
	f, ok := stdin.(*os.File)
	if !ok || !isTerminal(f) {
		return "", fmt.Errorf("%w: %s is not set and standard input is not a terminal to ask on", errNoPassphrase, envPassphrase)
	}
	p1, err := askSecret(f, stderr, "passphrase for "+keyPath)
	if err != nil {
		return "", fmt.Errorf("reading the passphrase: %w", err)
	}
	if len(bytes.TrimSpace(p1)) == 0 {
		return "", fmt.Errorf("%w: the passphrase is empty", errNoPassphrase)
	}
	if !twice {
		return string(p1), nil
	}
	p2, err := askSecret(f, stderr, "the same passphrase again")
	if err != nil {
		return "", fmt.Errorf("reading the passphrase: %w", err)
	}
	if !bytes.Equal(p1, p2) {
		return "", withHint(errors.New("the two passphrases differ"), "run keygen again and type the same passphrase twice")
	}
	return string(p1), nil
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// askSecret asks for a secret on the terminal f without echo: the prompt
// on stderr after the command's prefix, then a new line once typed.
func askSecret(f *os.File, stderr io.Writer, prompt string) ([]byte, error) {
	fmt.Fprintf(stderr, "%s%s: ", prefix, prompt)
	p, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(stderr)
	return p, err
}
