package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

const authorityUsageDescription = `usage groups the commands on usage reports: the files an instance
writes with airlock instance usage-report, saying how much of each
license it used over a period.

Example:

    $ airlock authority usage import cam-1.usage.airlock
    airlock: usage report of P:VMS,S:cam-1 for 2025-01-15T09:30:00Z to 2025-02-14T09:30:00Z imported: vms.camera.core peak 7, now 2; journal count 41`

const authorityUsageImportDescription = `import verifies a usage report with the key the instance shares with
this authority (the instance is found by the report's UDI and must be
known: reserved for, or registered by its system description), and
records it in the history: the period, the peak and current use of each
tag, and the state of the instance's journal.

An instance keeps a hash-chained journal in its state folder, and each
usage report carries the journal's head and entry count and the head the
instance's previous report carried. The reports of one instance follow
each other. A restored backup of the state folder, or a copy of it run
beside the original, makes reports that do not: the import then warns
of two journal histories and records a fork event, which airlock
authority show --instance and airlock authority instances show. It is
flagged when the report:

- names a previous report other than the last one imported, or none
  (the instance's first) after others were imported;
- counts no more journal entries than the last one, or was made from
  the same journal state as a report imported before;
- still names a reservation the instance returned before the report's
  period ended.

A flag takes nothing away: the report is recorded, and the instance's
codes are taken as before. Which copy is the legitimate one is for
people to find out; the history says when, and with which codes.

A report whose previous report was never imported here (lost on the
way) is not a fork by itself: the import says so. A report older than
one already imported, from the same history, is recorded as such. The
same file twice changes nothing.

The argument is the path of the file (armored, or age-encrypted with
--identity), a typed code, or - for standard input.

Example:

    $ airlock authority usage import usb/cam-1.usage.airlock
    airlock: usage report of P:VMS,S:cam-1 for 2025-02-14T09:30:00Z to 2025-03-16T09:30:00Z imported: vms.camera.core peak 9, now 4; journal count 57
    airlock: warning: 2 journal histories of P:VMS,S:cam-1 (a restored backup, or a copy of its state folder): it follows usage report 3f9c0a1b2c3d4e5f (journal count 41, imported 2025-02-14T10:02:11Z), which the last report imported, usage report 9a8b7c6d5e4f3a2b (journal count 49, imported 2025-03-10T08:15:40Z), had already left behind
    airlock: warning: the report is recorded and nothing is refused; see airlock authority show --instance P:VMS,S:cam-1

Exit status: 0 when the report was imported, flagged or not, or was
imported before; 1 when it does not verify or its instance is unknown;
2 for a wrong command line.`

func authorityUsageCommand() *cli.Command {
	return &cli.Command{
		Name:            "usage",
		Usage:           "take usage reports: use per tag, and two histories of an instance",
		UsageText:       "airlock authority usage COMMAND [OPTIONS] [ARGUMENTS]",
		Description:     authorityUsageDescription,
		OnUsageError:    onUsageError,
		Action:          groupAction,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{{
			Name:         "import",
			Usage:        "record a usage report, and flag a second history of the instance",
			UsageText:    "airlock authority usage import [--identity FILE]... [--dir DIR] FILE|CODE|-",
			Description:  authorityUsageImportDescription,
			Flags:        keyFlags(),
			OnUsageError: onUsageError,
			Action:       authorityUsageImport,
		}},
	}
}

func authorityUsageImport(c *cli.Context) error {
	if err := checkArgs(c, 1, 1, "FILE|CODE|-"); err != nil {
		return err
	}
	ids, err := identities(c)
	if err != nil {
		return err
	}
	code, err := readCode(c, c.Args().First(), codes.KindUsage, ids)
	if err != nil {
		return err
	}
	d, err := openDesk(c, true)
	if err != nil {
		return err
	}
	defer d.Close()
	r, err := d.l.ImportUsage(d.ctx, code)
	if err != nil {
		return err
	}
	stderr := c.App.ErrWriter
	short := shortUDI(r.UDI)
	if r.Again {
		note(stderr, "nothing changed: %s", r.Note)
		return nil
	}
	u := r.Report
	msg := fmt.Sprintf("usage report of %s for %s to %s imported: %s", short, codes.FormatTime(u.From), codes.FormatTime(u.To), tagUsage(u.Tags))
	if u.JournalHead != nil {
		msg += fmt.Sprintf("; journal count %d", u.JournalCount)
	}
	note(stderr, "%s", msg)
	switch {
	case r.Late:
		note(stderr, "an older report of the same history, imported after a later one")
	case r.Gap:
		note(stderr, "the report made before this one was not imported here: if it was lost, nothing is wrong")
	}
	if r.Fork != "" {
		warn(stderr, "2 journal histories of %s (a restored backup, or a copy of its state folder): %s", short, r.Fork)
		warn(stderr, "the report is recorded and nothing is refused; see airlock authority show --instance %s", short)
	}
	return nil
}

// tagUsage says what a usage report counts, for people.
func tagUsage(ts []codes.TagUsage) string {
	if len(ts) == 0 {
		return "nothing used"
	}
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = fmt.Sprintf("%s peak %d, now %d", t.Tag, t.Peak, t.Current)
	}
	return strings.Join(parts, "; ")
}

// journalLines describes an instance's journal as show prints it: where
// the last usage report left it and, when two histories were seen, each
// fork with when and which code.
func journalLines(j *authority.Journal, forks []authority.Event) []string {
	var out []string
	switch {
	case j == nil || j.Head == nil:
		out = append(out, "no usage report with a journal imported yet")
	default:
		out = append(out, fmt.Sprintf("count %d, head %x, from usage report %x imported %s", j.Count, j.Head[:8], j.Report[:min(8, len(j.Report))], codes.FormatTime(j.UpdatedAt)))
	}
	if j == nil || j.Forks == 0 {
		return out
	}
	head := fmt.Sprintf("2 histories seen (a restored backup, or a copy of the state folder): flagged %d time", j.Forks)
	if j.Forks > 1 {
		head += "s"
	}
	head += fmt.Sprintf(", first %s, last %s", codes.FormatTime(j.FirstFork), codes.FormatTime(j.LastFork))
	out = append([]string{head}, out...)
	for _, e := range forks {
		out = append(out, fmt.Sprintf("fork %s, code %x: %s", codes.FormatTime(e.At), e.CodeHash[:min(8, len(e.CodeHash))], oneLine(strings.TrimPrefix(e.Detail, "2 journal histories: "))))
	}
	return out
}
