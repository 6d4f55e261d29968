package drop

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/cmd/airlock/internal/drop/droptest"
)

// openSession opens a Session on s with a password, so that the server's
// attempt counter counts the connections.
func openSession(t *testing.T, s *testServer, opt Options) *Session {
	t.Helper()
	sess, err := Open(context.Background(), s.url("bob", "/drop/in"), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	return sess
}

func passwordOptions(t *testing.T, s *testServer) Options {
	opt := s.trusting(t)
	opt.Getenv = env(map[string]string{PasswordEnv: "pw"})
	return opt
}

// A whole drop-folder run — list, fetch, put, make done/, move — logs in
// once: the host key is checked and the password sent once.
func TestSessionWorksAFolderOverOneConnection(t *testing.T) {
	s := newTestServer(t, withPassword("pw"))
	s.fs.put("/drop/in/b.airlock", []byte("bee"))
	s.fs.put("/drop/in/a.txt", []byte("ay"))
	s.fs.put("/drop/in/.hidden", []byte("x"))
	s.fs.put("/drop/in/"+TempPrefix+"123", []byte("half"))
	s.fs.add("/drop/in/link", &memFile{mode: os.ModeSymlink | 0o777})
	s.fs.add("/drop/in/sub", &memFile{mode: os.ModeDir | 0o755})
	s.fs.add("/drop/out", &memFile{mode: os.ModeDir | 0o755})
	sess := openSession(t, s, passwordOptions(t, s))

	names, err := sess.List("/drop/in")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a.txt", "b.airlock"}; !slices.Equal(names, want) {
		t.Fatalf("List = %q, want %q", names, want)
	}
	for _, n := range names {
		data, err := sess.Fetch("/drop/in/" + n)
		if err != nil {
			t.Fatal(err)
		}
		if err := sess.Put("/drop/out/"+n+".answer", append([]byte("answer to "), data...)); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if err := sess.Mkdir("/drop/in/done"); err != nil {
			t.Fatalf("Mkdir of a folder that exists: %v", err)
		}
	}
	if err := sess.Rename("/drop/in/a.txt", "/drop/in/done/a.txt"); err != nil {
		t.Fatal(err)
	}
	err = sess.Rename("/drop/in/b.airlock", "/drop/in/done/a.txt")
	if !errors.Is(err, ErrExists) {
		t.Fatalf("Rename onto an existing file: %v, want ErrExists", err)
	}
	if got, _ := s.fs.get("/drop/in/done/a.txt"); string(got) != "ay" {
		t.Errorf("the refused rename replaced the target: it holds %q", got)
	}
	if _, ok := s.fs.get("/drop/in/b.airlock"); !ok {
		t.Error("the refused rename lost its source")
	}
	if err := sess.Remove("/drop/in/b.airlock"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.fs.get("/drop/out/b.airlock.answer"); string(got) != "answer to bee" {
		t.Errorf("answer holds %q", got)
	}
	if want := []string{".airlock-tmp-123", ".hidden", "done", "link", "sub"}; !slices.Equal(s.fs.list("/drop/in"), want) {
		t.Errorf("inbox holds %q, want %q", s.fs.list("/drop/in"), want)
	}
	if n := s.authAttempts.Load(); n != 1 {
		t.Errorf("%d logins, want 1 for the whole run", n)
	}
}

// Each operation has its own deadline: a run longer than Options.Timeout
// goes on while each step is quick, and a step that stalls fails with
// ErrTimeout.
func TestSessionTimesOutEachOperation(t *testing.T) {
	s := newTestServer(t, withPassword("pw"))
	s.fs.put("/drop/in/a", []byte("a"))
	s.fs.put("/drop/in/stall", []byte("b"))
	opt := passwordOptions(t, s)
	opt.Timeout = time.Second
	sess := openSession(t, s, opt)
	s.fs.setHooks(func(name string, _ int64) error {
		if name == "/drop/in/stall" {
			time.Sleep(3 * time.Second)
		} else {
			time.Sleep(150 * time.Millisecond)
		}
		return nil
	}, nil)
	start := time.Now()
	for time.Since(start) < opt.Timeout+500*time.Millisecond {
		if _, err := sess.Fetch("/drop/in/a"); err != nil {
			t.Fatalf("after %v: %v", time.Since(start), err)
		}
	}
	_, err := sess.Fetch("/drop/in/stall")
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Fetch of a stalled file: %v, want ErrTimeout", err)
	}
	if _, err := sess.Fetch("/drop/in/a"); err == nil {
		t.Error("the session still works after it timed out")
	}
}

func TestSessionListLimits(t *testing.T) {
	s := newTestServer(t, withPassword("pw"))
	for i := range 200 {
		s.fs.put(fmt.Sprintf("/drop/in/request-%03d.airlock", i), []byte("x"))
	}
	opt := passwordOptions(t, s)

	sess := openSession(t, s, opt)
	if names, err := sess.List("/drop/in"); err != nil || len(names) != 200 {
		t.Fatalf("List: %d names, %v", len(names), err)
	}

	defer func(n int) { maxListEntries = n }(maxListEntries)
	maxListEntries = 199
	_, err := sess.List("/drop/in")
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "holds 200 entries, more than the limit of 199") {
		t.Fatalf("List of too many entries: %v", err)
	}
	maxListEntries = MaxListEntries

	// A listing larger than its byte budget ends the connection however
	// few entries it holds.
	defer func(n int64) { maxListBytes = n }(maxListBytes)
	maxListBytes = 4 << 10
	sess = openSession(t, s, opt)
	_, err = sess.List("/drop/in")
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "is larger than 4 KiB") {
		t.Fatalf("List over its byte budget: %v", err)
	}
	maxListBytes = MaxListBytes
	if _, err := sess.Fetch("/drop/in/request-000.airlock"); err == nil {
		t.Error("the session still works after a listing over budget")
	}
}

// The errors are those of a server on a real file system (droptest.Dir,
// which renames as OpenSSH does).
func TestSessionErrors(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"drop/in"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range map[string]string{"drop/in/a": "a", "drop/in/file": "not a folder"} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srv := droptest.NewServer(t, droptest.WithHandlers(droptest.NewDir(root).Handlers()), droptest.WithPassword("pw"))
	opt := Options{
		KnownHosts: writeKnownHosts(t, srv.KnownHostsLine(srv.HostKeys[0].PublicKey())),
		Getenv:     env(map[string]string{PasswordEnv: "pw"}),
	}
	sess, err := Open(context.Background(), &URL{User: "bob", Host: srv.Host, Port: srv.Port, Path: "/drop/in"}, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	tests := []struct {
		name string
		err  error
		want error
		msg  string
	}{
		{"list a missing folder", first(sess.List("/drop/nowhere")), ErrNotFound, "/drop/nowhere"},
		{"fetch a folder", second(sess.Fetch("/drop/in")), ErrNotRegular, "is a folder"},
		{"mkdir over a file", sess.Mkdir("/drop/in/file"), ErrNotRegular, "a file of that name exists"},
		{"mkdir in a missing folder", sess.Mkdir("/drop/nowhere/done"), ErrNotFound, "/drop/nowhere/done"},
		{"rename into a missing folder", sess.Rename("/drop/in/a", "/drop/nowhere/a"), ErrNotFound, "/drop/in/a"},
		{"put into a missing folder", sess.Put("/drop/nowhere/a", []byte("x")), ErrNotFound, "does not exist"},
		{"remove a missing file", sess.Remove("/drop/in/gone"), ErrNotFound, "/drop/in/gone"},
	}
	for _, tc := range tests {
		if !errors.Is(tc.err, tc.want) || !strings.Contains(fmt.Sprint(tc.err), tc.msg) {
			t.Errorf("%s: %v, want %v naming %q", tc.name, tc.err, tc.want, tc.msg)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "drop/in/a")); err != nil {
		t.Errorf("a failed rename lost its source: %v", err)
	}
}

func first[A any](a A, err error) error  { return err }
func second[A any](a A, err error) error { return err }

func TestParseFolderURL(t *testing.T) {
	for in, want := range map[string]string{
		"sftp://bob@drop.example/srv/inbox":  "/srv/inbox",
		"sftp://bob@drop.example/srv/inbox/": "/srv/inbox",
		"sftp://drop.example/~/inbox/":       "inbox",
	} {
		u, err := ParseFolderURL(in)
		if err != nil || u.Path != want {
			t.Errorf("ParseFolderURL(%q) = %+v, %v; want path %q", in, u, err, want)
		}
	}
	for _, in := range []string{"sftp://drop.example/", "sftp://drop.example", "sftp://drop.example/~/", "sftp://drop.example/srv//"} {
		if _, err := ParseFolderURL(in); !errors.Is(err, ErrURL) {
			t.Errorf("ParseFolderURL(%q): %v, want ErrURL", in, err)
		}
	}
	u := mustURL(t, "sftp://bob@drop.example/srv/inbox")
	if got := u.Join("done", "a.txt").String(); got != "sftp://bob@drop.example/srv/inbox/done/a.txt" {
		t.Errorf("Join = %s", got)
	}
}
