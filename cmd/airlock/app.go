// Command airlock licenses software across an air gap: an authority signs
// authorization codes, an instance makes request, confirmation and return
// codes, and the codes travel typed, as armored files or age-encrypted.
//
// The command tree is built by newApp and documented in its Description
// strings, from which docs/man is generated (airlock __man). Output rules
// are at the top of output.go.
package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"
)

// run is the whole program: it builds the command tree, runs it on args
// and returns the exit status. It never calls os.Exit, so tests run it in
// process.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	out := &stickyWriter{w: stdout}
	err := newApp(stdin, out, stderr).Run(args)
	if err == nil && out.err != nil {
		err = fmt.Errorf("%w: %v", errStdout, out.err)
	}
	if err == nil {
		return exitOK
	}
	return printError(stderr, err)
}

const rootDescription = `airlock licenses software on networks that never touch the vendor. Two
sides exchange nothing but signed codes: the authority (the vendor's
licensing desk) signs authorization codes and trust files; the instance
(the licensed product) makes request, confirmation and return codes.
Codes travel typed over the phone (RQ-…, AU-…), as armored text files on
removable media, or as age-encrypted files.

The desk runs airlock authority; the product's site runs airlock
instance. A reservation round trip:

    desk$ airlock authority init --name "ACME licensing"     # makes trust.airlock
    site$ airlock instance init --udi P:VMS,S:cam-1 --trust trust.airlock
    site$ airlock instance enable
    site$ airlock instance request --license vms.camera.core=4   # prints RQ-…
    desk$ airlock authority reserve --account acme/plant --request RQ-…   # prints AU-…
    site$ airlock instance install AU-…
    site$ airlock instance return                             # prints RT-…
    desk$ airlock authority return RT-…

Where the site can reach the desk, connected mode carries the same codes
over HTTPS: the desk runs airlock authority serve, the instance registers
once with a token and the agent keeps it licensed:

    desk$ airlock authority serve --listen :8443          # prints the TLS fingerprint
    desk$ airlock authority token create --account acme/plant   # prints TK-…
    site$ airlock instance transport --direct https://desk.example:8443 --ca tls.crt
    site$ airlock instance register --license vms.camera.core=4 TK-…
    site$ airlock instance agent                          # renews every 30 days

A satellite (airlock satellite) is an authority on the site that syncs
with the desk over HTTPS or by files.

Look at any code or code file, from either side, with airlock code inspect.
Each command documents itself: airlock COMMAND --help, or the manual pages
airlock-authority(1), airlock-instance(1), airlock-code-inspect(1) and the
others in docs/man.

Output: results (codes, reports, JSON) go to standard output; everything
else goes to standard error, one line each, starting with "airlock: ".
A failure is reported as "airlock: error: …" followed by "airlock: hint: …"
lines that say what to do next.

Exit status: 0 on success; 1 when the operation was refused or failed,
including a code that does not verify and a failed write to standard
output; 2 when the command line is wrong (unknown command or flag, missing
or extra argument, bad flag value).

Environment: AIRLOCK_PASSPHRASE holds the passphrase of the authority key
(instead of asking on the terminal); AIRLOCK_AUTHORITY_DIR is the authority
folder; AIRLOCK_STATE is the instance's state folder; AIRLOCK_ACTOR names
who acts in the ledger's history; AIRLOCK_PROXY_PASSWORD is the HTTP
proxy's password in connected mode.`

// newApp builds the command tree. stdin, stdout and stderr replace the
// process's streams, so that tests run commands in process.
func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:                      "airlock",
		Usage:                     "license software across an air gap",
		UsageText:                 "airlock COMMAND [OPTIONS] [ARGUMENTS]",
		Description:               rootDescription,
		Reader:                    stdin,
		Writer:                    stdout,
		ErrWriter:                 stderr,
		HideVersion:               true,
		DisableSliceFlagSeparator: true, // an SSH public key's comment may hold commas
		// The cli library would call os.Exit for errors that carry an exit
		// code; run decides the exit status instead.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   onUsageError,
		Action:         groupAction,
		// With a command named help, the cli library adds neither its own
		// help command nor the --help flag of the root.
		Flags: []cli.Flag{cli.HelpFlag},
		Commands: []*cli.Command{
			keygenCommand(),
			codeCommand(),
			authorityCommand(),
			satelliteCommand(),
			instanceCommand(),
			versionCommand(),
			helpCommand(),
			manCommand(),
		},
	}
}

// onUsageError turns a flag parsing error into a usageError: one line and
// a hint instead of the whole help.
func onUsageError(c *cli.Context, err error, _ bool) error {
	command := c.Command.HelpName
	if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -"); ok {
		var names []string
		for _, f := range c.Command.VisibleFlags() {
			names = append(names, f.Names()...)
		}
		hint := ""
		if s := suggest(strings.TrimPrefix(name, "-"), names); s != "" {
			hint = fmt.Sprintf("did you mean %s?", dashes(s))
		}
		if n := strings.TrimLeft(name, "-"); (n == "version" || n == "v") && c.Command.HelpName == c.App.HelpName {
			hint = "run 'airlock version'"
		}
		return usagef(command, hint, "unknown flag %s", dashes(name))
	}
	return usagef(command, "", "%s", err)
}

// groupAction runs for the root and for commands that only group
// subcommands: with no argument it prints the help, otherwise the argument
// names no command.
func groupAction(c *cli.Context) error {
	if c.NArg() == 0 {
		if c.Command.HelpName == c.App.HelpName {
			return cli.ShowAppHelp(c)
		}
		return cli.ShowSubcommandHelp(c)
	}
	cmds := c.App.Commands
	if c.Command.HelpName != c.App.HelpName {
		cmds = c.Command.Subcommands
	}
	var names []string
	for _, cmd := range cmds {
		if !cmd.Hidden {
			names = append(names, cmd.Names()...)
		}
	}
	name := c.Args().First()
	hint := ""
	if strings.HasPrefix(name, "-") {
		hint = "flags go before the arguments"
	} else if s := suggest(name, names); s != "" {
		hint = fmt.Sprintf("did you mean %q?", s)
	}
	return usagef(c.Command.HelpName, hint, "unknown command %q", name)
}

// checkArgs refuses a command line with fewer than least or more than most
// arguments, and names a flag that came after an argument (the cli library
// reads flags only before the first argument).
func checkArgs(c *cli.Context, least, most int, what string) error {
	args := c.Args().Slice()
	for i, a := range args {
		if i > 0 && len(a) > 1 && strings.HasPrefix(a, "-") {
			return usagef(c.Command.HelpName, fmt.Sprintf("write the flags first: %s [OPTIONS] %s", c.Command.HelpName, what),
				"flag %s after the argument %q", a, args[0])
		}
	}
	switch {
	case len(args) < least:
		return usagef(c.Command.HelpName, "", "missing argument %s", what)
	case len(args) > most && most == 0:
		return usagef(c.Command.HelpName, "", "%s takes no arguments, got %q", c.Command.HelpName, args[0])
	case len(args) > most:
		return usagef(c.Command.HelpName, "quote a typed code that contains spaces", "too many arguments: want %s, got %d arguments", what, len(args))
	}
	return nil
}

func dashes(name string) string {
	name = strings.TrimLeft(name, "-")
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// suggest returns the candidate closest to s if it is within two edits, or
// "".
func suggest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
