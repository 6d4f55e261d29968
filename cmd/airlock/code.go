package main

import "github.com/urfave/cli/v2"

const codeDescription = `code groups the commands that work on a single code of any kind, in any
form: typed (RQ-…, AU-…), an armored file, raw binary, or an age-encrypted
file holding one of those.

Example:

    $ airlock code inspect RT-GH0A0JD2V-0520M6SC5-7M102J28T-9MEGD7QFM-DW8G7
    kind             return
    form             typed
    size             22 bytes, 48 characters typed
    verification     UNVERIFIED (MACed by the instance; only the authority can verify it)
    reservation      0a1b2c3d
    serial           1
    never installed  no
`

func codeCommand() *cli.Command {
	return &cli.Command{
		Name:         "code",
		Usage:        "look at codes and code files",
		UsageText:    "airlock code COMMAND [OPTIONS] [ARGUMENTS]",
		Description:  codeDescription,
		OnUsageError: onUsageError,
		Action:       groupAction,
		// airlock help code inspect, or airlock code inspect --help.
		HideHelpCommand: true,
		Subcommands:     []*cli.Command{codeInspectCommand()},
	}
}
