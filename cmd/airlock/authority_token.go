package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/authority"
)

// Flags of the token commands.
const (
	flagExpires               = "expires"
	flagUses                  = "uses"
	flagAllowExportControlled = "allow-export-controlled"
)

func authorityTokenCommand() *cli.Command {
	return &cli.Command{
		Name:      "token",
		Usage:     "create, list and revoke registration tokens for connected instances",
		UsageText: "airlock authority token create|list|revoke [OPTIONS]",
		Description: `token groups the commands on registration tokens: a token lets instances
that reach the authority register themselves to one virtual account (the
connected mode), until it expires, for --uses registrations or without
limit, with export-controlled licenses unless told otherwise. The ledger
keeps a token by hash: it is printed once, when created.

The tokens are the first part of the connected mode: the service that
instances register through ('airlock authority serve') is not built yet,
so today a token is made, listed and revoked, and registers nothing.`,
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{
			{
				Name:      "create",
				Usage:     "create a registration token for a virtual account",
				UsageText: "airlock authority token create --account ORG/ACCOUNT [--expires DATE] [--uses N] [--allow-export-controlled=false] [--dir DIR]",
				Description: `create makes a registration token for the virtual account --account and
prints it (TK and three groups) on standard output, once.

Example:

    $ airlock authority token create --account acme/plant --expires 2027-06-30 --uses 50
    TK-…
    airlock: registration token 1a2b3c4d5e6f7a8b for acme/plant: expires 2027-06-30, 50 uses, export-controlled licenses allowed

Exit status: 0 when created; 1 when refused; 2 for a wrong command line.`,
				Flags: ledgerFlags(
					&cli.StringFlag{Name: flagAccount, Usage: "register instances to `ORG/ACCOUNT`"},
					&cli.StringFlag{Name: flagExpires, Usage: "the token expires at the start of `DATE` (YYYY-MM-DD, UTC) or at an RFC 3339 time; default never"},
					&cli.Int64Flag{Name: flagUses, Usage: "at most `N` registrations; 0 (the default) for no limit"},
					&cli.BoolFlag{Name: flagAllowExportControlled, Value: true, Usage: "allow export-controlled licenses to the instances it registers (--allow-export-controlled=false to withhold them)"},
				),
				OnUsageError: onUsageError,
				Action:       authorityTokenCreate,
			},
			{
				Name:      "list",
				Usage:     "list registration tokens",
				UsageText: "airlock authority token list [--account ORG/ACCOUNT] [--json] [--dir DIR]",
				Description: `list prints the tokens of --account, or of every account (the vendor
only): id, account, state (active, expired, revoked, used up), uses,
expiry and whether export-controlled licenses are allowed.

With --json: an array of objects with id, account, state, created,
created_by, expires (null for never), uses, max_uses (0 for no limit),
export_allowed and revoked (null unless revoked).

Exit status: 0 when printed; 1 when refused; 2 for a wrong command line.`,
				Flags: ledgerFlags(
					&cli.StringFlag{Name: flagAccount, Usage: "only the tokens of `ORG/ACCOUNT`"},
					&cli.BoolFlag{Name: flagJSON, Usage: "print JSON instead of text"},
				),
				OnUsageError: onUsageError,
				Action:       authorityTokenList,
			},
			{
				Name:      "revoke",
				Usage:     "revoke a registration token",
				UsageText: "airlock authority token revoke [--dir DIR] ID|TOKEN",
				Description: `revoke ends a token: it registers nothing from then on. Instances it
registered stay registered. ID is the token's id as 'token list' shows
it, or the token itself.

Exit status: 0 when revoked; 1 when refused (unknown, revoked before); 2
for a wrong command line.`,
				Flags:        ledgerFlags(),
				OnUsageError: onUsageError,
				Action:       authorityTokenRevoke,
			},
		},
	}
}

func authorityTokenCreate(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	acct, err := requireFlag(c, flagAccount, "acme/plant")
	if err != nil {
		return err
	}
	expires, err := dateFlag(c, flagExpires)
	if err != nil {
		return err
	}
	if n := c.Int64(flagUses); n < 0 {
		return usagef(c.Command.HelpName, "for example: --uses 50, or 0 for no limit", "--%s %d is negative", flagUses, n)
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	tok, t, err := d.l.CreateToken(d.ctx, authority.TokenSpec{Account: acct, ExpiresAt: expires, MaxUses: c.Int64(flagUses), ExportAllowed: c.Bool(flagAllowExportControlled)})
	if err != nil {
		return err
	}
	if err := writeResult(c.App.Writer, []byte(tok+"\n")); err != nil {
		return withHint(err, "the token is recorded but was not printed: revoke it ('airlock authority token revoke "+t.ID()+"') and create another")
	}
	note(c.App.ErrWriter, "registration token %s for %s: %s", t.ID(), t.Account, tokenTerms(t))
	return nil
}

func tokenTerms(t *authority.Token) string {
	s := "never expires"
	if t.ExpiresAt != 0 {
		s = "expires " + unixRFC(t.ExpiresAt)
	}
	if t.MaxUses != 0 {
		s += fmt.Sprintf(", %d uses", t.MaxUses)
	} else {
		s += ", unlimited uses"
	}
	if t.ExportAllowed {
		return s + ", export-controlled licenses allowed"
	}
	return s + ", no export-controlled licenses"
}

type tokenJSON struct {
	ID            string  `json:"id"`
	Account       string  `json:"account"`
	State         string  `json:"state"`
	Created       string  `json:"created"`
	CreatedBy     string  `json:"created_by"`
	Expires       *string `json:"expires"`
	Uses          int64   `json:"uses"`
	MaxUses       int64   `json:"max_uses"`
	ExportAllowed bool    `json:"export_allowed"`
	Revoked       *string `json:"revoked"`
}

func authorityTokenList(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	ts, err := d.l.Tokens(d.ctx, c.String(flagAccount))
	if err != nil {
		return err
	}
	now := clock().Unix()
	out := make([]tokenJSON, len(ts))
	rows := [][]string{{"ID", "ACCOUNT", "STATE", "USES", "EXPIRES", "EXPORT"}}
	for i := range ts {
		t := &ts[i]
		j := tokenJSON{ID: t.ID(), Account: t.Account, State: t.State(now), Created: unixRFC(t.CreatedAt), CreatedBy: t.CreatedBy,
			Uses: t.Uses, MaxUses: t.MaxUses, ExportAllowed: t.ExportAllowed}
		exp, uses := "never", fmt.Sprint(t.Uses)
		if t.ExpiresAt != 0 {
			s := unixRFC(t.ExpiresAt)
			j.Expires, exp = &s, s
		}
		if t.MaxUses != 0 {
			uses += fmt.Sprintf("/%d", t.MaxUses)
		}
		if t.RevokedAt != 0 {
			s := unixRFC(t.RevokedAt)
			j.Revoked = &s
		}
		out[i] = j
		rows = append(rows, []string{j.ID, j.Account, j.State, uses, exp, yesNo(j.ExportAllowed)})
	}
	return writeListing(c, out, rows, nil, "no registration token yet: 'airlock authority token create' makes one")
}

func authorityTokenRevoke(c *cli.Context) error {
	if err := checkArgs(c, 1, 1, "ID|TOKEN"); err != nil {
		return err
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	t, err := d.l.RevokeToken(d.ctx, c.Args().First())
	if err != nil {
		return err
	}
	note(c.App.ErrWriter, "registration token %s for %s revoked: it registers nothing from now on", t.ID(), t.Account)
	return nil
}
