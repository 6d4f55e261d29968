package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cpuguy83/go-md2man/v2/md2man"
	"github.com/urfave/cli/v2"
)

// manDir is where the manual pages live, from the module root: the
// default folder of __man.
const manDir = "docs/man"

// manCommand writes the manual pages. It is hidden: `make man` runs it as
// `go run ./cmd/airlock __man docs/man`, and TestManPagesUpToDate
// fails when the committed pages differ from what it would write.
func manCommand() *cli.Command {
	return &cli.Command{
		Name:         "__man",
		Usage:        "write the manual pages",
		UsageText:    "airlock __man [DIR]",
		Hidden:       true,
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if err := checkArgs(c, 0, 1, "DIR"); err != nil {
				return err
			}
			pages, err := manPages()
			if err != nil {
				return err
			}
			dir := manDir
			if c.NArg() == 1 {
				dir = c.Args().First()
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			for _, p := range pages {
				if err := os.WriteFile(filepath.Join(dir, p.name), p.content, 0o644); err != nil {
					return err
				}
				note(c.App.ErrWriter, "wrote %s", filepath.Join(dir, p.name))
			}
			return nil
		},
	}
}

type manPage struct {
	name    string
	content []byte
}

// manPages renders airlock(1) with the cli library's ToMan, and one page
// per visible command, airlock-keygen(1), airlock-code-inspect(1), …, from
// the same tree, with each command's Description in full.
func manPages() ([]manPage, error) {
	app := newApp(nil, io.Discard, io.Discard)
	root, err := app.ToManWithSection(1)
	if err != nil {
		return nil, err
	}
	pages := []manPage{{"airlock.1", []byte(root)}}
	var walk func(path []string, cmds []*cli.Command)
	walk = func(path []string, cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Hidden || c.Name == "help" {
				continue
			}
			p := append(append([]string(nil), path...), c.Name)
			pages = append(pages, manPage{strings.Join(p, "-") + ".1", commandMan(p, c)})
			walk(p, c.Subcommands)
		}
	}
	walk([]string{"airlock"}, app.Commands)
	return pages, nil
}

// commandMan renders one command's page from Markdown.
func commandMan(path []string, c *cli.Command) []byte {
	var b bytes.Buffer
	name := strings.Join(path, "-")
	fmt.Fprintf(&b, "%% %s 1\n\n# NAME\n\n%s - %s\n\n", name, name, c.Usage)
	fmt.Fprintf(&b, "# SYNOPSIS\n\n    %s\n\n", c.UsageText)
	fmt.Fprintf(&b, "# DESCRIPTION\n\n%s\n\n", strings.TrimSpace(c.Description))
	var subs []string
	for _, s := range c.Subcommands {
		if !s.Hidden {
			subs = append(subs, fmt.Sprintf("**%s**\n: %s\n", s.Name, s.Usage))
		}
	}
	if len(subs) > 0 {
		fmt.Fprintf(&b, "# COMMANDS\n\n%s\n", strings.Join(subs, "\n"))
	}
	var flags []string
	for _, f := range c.Flags {
		df, ok := f.(cli.DocGenerationFlag)
		if v, isV := f.(cli.VisibleFlag); !ok || (isV && !v.IsVisible()) {
			continue
		}
		placeholder, usage := unquoteUsage(df.GetUsage())
		s := "**--" + f.Names()[0] + "**"
		if df.TakesValue() {
			s += " *" + placeholder + "*"
		}
		if d := df.GetDefaultText(); df.TakesValue() && d != "" {
			usage += " (default: " + d + ")"
		}
		flags = append(flags, s+"\n: "+usage+"\n")
	}
	if len(flags) > 0 {
		fmt.Fprintf(&b, "# OPTIONS\n\n%s\n", strings.Join(flags, "\n"))
	}
	var see []string
	see = append(see, "airlock(1)")
	for i := 2; i < len(path); i++ {
		see = append(see, strings.Join(path[:i], "-")+"(1)")
	}
	fmt.Fprintf(&b, "# SEE ALSO\n\n%s\n", strings.Join(see, ", "))
	return md2man.Render(b.Bytes())
}

// unquoteUsage returns the placeholder a flag's usage names in backquotes
// ("VALUE" if none) and the usage without the backquotes, as the cli
// library's help does.
func unquoteUsage(usage string) (string, string) {
	before, rest, ok := strings.Cut(usage, "`")
	if ok {
		if name, after, ok := strings.Cut(rest, "`"); ok {
			return name, before + name + after
		}
	}
	return "VALUE", usage
}
