package main

import "github.com/urfave/cli/v2"

const helpDescription = `help shows the help of airlock, or of the command named, as --help does.

Example:

    $ airlock help code inspect
    NAME:
       airlock code inspect - show the fields of a code and whether it verifies
    …`

// helpCommand replaces the cli library's own, so that it too reports a
// wrong command line in one line (OnUsageError) and names an unknown
// command as the rest of airlock does.
func helpCommand() *cli.Command {
	return &cli.Command{
		Name:         "help",
		Usage:        "show the help of airlock or of a command",
		UsageText:    "airlock help [COMMAND [SUBCOMMAND]]",
		Description:  helpDescription,
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			// Run a fresh tree on "COMMAND … --help": the help the user
			// would get, or the usage error for a command that does not
			// exist.
			args := append([]string{c.App.Name}, c.Args().Slice()...)
			return newApp(c.App.Reader, c.App.Writer, c.App.ErrWriter).Run(append(args, "--help"))
		},
	}
}
