package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

const regenerate = "run `make man` (go run ./cmd/airlock __man docs/man) from the module root and commit docs/man"

// TestManPagesUpToDate fails when docs/man differs from what the command
// tree generates: a page that changed, is missing, or is left over from a
// command that is gone.
func TestManPagesUpToDate(t *testing.T) {
	dir := filepath.Join("..", "..", manDir)
	pages, err := manPages()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, p := range pages {
		want[p.name] = true
		got, err := os.ReadFile(filepath.Join(dir, p.name))
		if err != nil {
			t.Errorf("%s/%s: %v; %s", manDir, p.name, err, regenerate)
			continue
		}
		if !bytes.Equal(got, p.content) {
			t.Errorf("%s/%s is stale; %s", manDir, p.name, regenerate)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !want[e.Name()] {
			t.Errorf("%s/%s is no longer generated; remove it, then %s", manDir, e.Name(), regenerate)
		}
	}
}

// TestManPagesDocumentEveryCommand checks that the generated pages carry
// each command's full description and flags, and never the hidden command.
func TestManPagesDocumentEveryCommand(t *testing.T) {
	pages, err := manPages()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]string{}
	for _, p := range pages {
		byName[p.name] = string(p.content)
	}
	for _, name := range []string{"airlock.1", "airlock-keygen.1", "airlock-code.1", "airlock-code-inspect.1", "airlock-version.1"} {
		if byName[name] == "" {
			t.Errorf("no page %s", name)
		}
	}
	if strings.Contains(byName["airlock.1"], "__man") {
		t.Error("airlock.1 documents the hidden __man command")
	}
	for _, s := range []string{"AIRLOCK_PASSPHRASE", "--not-after", "--recipient", "Exit status"} {
		if !strings.Contains(byName["airlock-keygen.1"], s) {
			t.Errorf("airlock-keygen.1 does not mention %s", s)
		}
	}
	for _, s := range []string{"VERIFIED", "verify_error", "--identity"} {
		if !strings.Contains(byName["airlock-code-inspect.1"], s) {
			t.Errorf("airlock-code-inspect.1 does not mention %s", s)
		}
	}
}

// TestDescriptionTranscriptsAreReal runs every "$ airlock code …" example
// in the commands' descriptions on the test codes and compares what it
// prints (stdout, then stderr) with the transcript.
func TestDescriptionTranscriptsAreReal(t *testing.T) {
	inTempDir(t)
	app := newApp(nil, io.Discard, io.Discard)
	n := 0
	var walk func([]*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, c := range cmds {
			for _, ex := range transcripts(c.Description) {
				if !strings.HasPrefix(ex.command, "airlock code ") {
					continue
				}
				n++
				args := strings.Fields(ex.command)[1:]
				_, stdout, stderr := runApp(t, "", args...)
				if got := stdout + stderr; got != ex.output {
					t.Errorf("%s: description of %q shows:\n%s\nthe command prints:\n%s", c.Name, ex.command, ex.output, got)
				}
			}
			walk(c.Subcommands)
		}
	}
	walk(app.Commands)
	if n < 3 {
		t.Errorf("checked %d transcripts, want at least 3", n)
	}
}

type transcript struct {
	command string // after "$ "
	output  string
}

// transcripts returns the examples of a description: in its indented
// blocks, each "$ " line and the lines after it up to the next "$ " or
// the end of the block.
func transcripts(desc string) []transcript {
	var out []transcript
	var cur *transcript
	for _, line := range strings.Split(desc, "\n") {
		body, indented := strings.CutPrefix(line, "    ")
		switch {
		case !indented:
			cur = nil
		case strings.HasPrefix(body, "$ "):
			out = append(out, transcript{command: strings.TrimPrefix(body, "$ ")})
			cur = &out[len(out)-1]
		case cur != nil:
			cur.output += body + "\n"
		}
	}
	return out
}
