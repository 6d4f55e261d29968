package mail

import (
	"errors"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

var outboxName = regexp.MustCompile(`^20261202T101500Z-[A-Z2-7]{12}\.eml$`)

func TestWriteOutboxWritesReadableMessage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "alerts", "outbox")
	m := testMessage()
	path, err := WriteOutbox(dir, m)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(path) != dir || !strings.HasSuffix(path, ".eml") {
		t.Errorf("path %q is not a .eml file in %s", path, dir)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mail.ReadMessage(strings.NewReader(string(data))); err != nil {
		t.Fatalf("net/mail cannot read %s: %v", path, err)
	}
	checkRendered(t, string(data), m)
	if runtime.GOOS != "windows" {
		for p, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, path: 0o600} {
			if fi, err := os.Stat(p); err != nil || fi.Mode() != want {
				t.Errorf("%s: mode %v (%v), want %v", p, fi.Mode(), err, want)
			}
		}
	}
}

func TestWriteOutboxNamesNeverCollide(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 12, 2, 10, 15, 0, 0, time.UTC)
	clock := func() time.Time { return at }
	var paths []string
	for range 5 {
		p, err := writeOutbox(dir, testMessage(), clock)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
		if name := filepath.Base(p); !outboxName.MatchString(name) {
			t.Errorf("name %q, want %s", name, outboxName)
		}
	}
	later, err := writeOutbox(dir, testMessage(), func() time.Time { return at.Add(time.Second) })
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	// Six distinct files and nothing else (no temporary file left), the
	// later one sorting last.
	if len(names) != 6 || names[5] != filepath.Base(later) {
		t.Errorf("outbox holds %q, want the 5 files written at one time, then %q", names, filepath.Base(later))
	}
	for _, p := range paths {
		if !slices.Contains(names, filepath.Base(p)) {
			t.Errorf("%s is missing", p)
		}
	}
}

func TestWriteOutboxRefusesInvalidMessage(t *testing.T) {
	dir := t.TempDir()
	m := testMessage()
	m.Subject = "alert\r\nBcc: evil@attacker.example"
	if p, err := WriteOutbox(dir, m); !errors.Is(err, ErrMessage) {
		t.Fatalf("got %q, %v; want ErrMessage", p, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("outbox holds %v", entries)
	}
}

func TestWriteOutboxReportsUnwritableFolder(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-folder")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if p, err := WriteOutbox(file, testMessage()); err == nil || !strings.Contains(err.Error(), "not-a-folder") {
		t.Fatalf("got %q, %v; want an error naming the path", p, err)
	}
}
