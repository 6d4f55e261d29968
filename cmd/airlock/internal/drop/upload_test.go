package drop

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestUploadWritesNewFileWhole(t *testing.T) {
	s := newTestServer(t, withPassword("pw"))
	s.fs.add("/drop/inbox", &memFile{mode: os.ModeDir | 0o755})
	opt := s.trusting(t)
	opt.Getenv = env(map[string]string{PasswordEnv: "pw"})
	data := bytes.Repeat([]byte("r"), 100<<10)
	var seen []string
	s.fs.setHooks(nil, func(name string, _ int64) error {
		seen = append(seen, name)
		return nil
	})
	up, err := PrepareUpload(context.Background(), s.url("bob", "/drop/inbox/return.airlock"), opt)
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	existed, err := up.Write(data)
	if err != nil || existed {
		t.Fatalf("Write = %v, %v; want a new file", existed, err)
	}
	for _, name := range seen {
		if !IsTemp(name) {
			t.Errorf("Write wrote %q directly", name)
		}
	}
	if got, _ := s.fs.get("/drop/inbox/return.airlock"); !bytes.Equal(got, data) {
		t.Errorf("the file holds %d bytes, want %d", len(got), len(data))
	}
	if names := s.fs.list("/drop/inbox"); len(names) != 1 {
		t.Errorf("the folder holds %q, want only return.airlock", names)
	}
}

// A code file is never overwritten: the same bytes again are fine, other
// bytes are refused and left as they are.
func TestUploadNeverReplacesAFile(t *testing.T) {
	s := newTestServer(t, withPassword("pw"))
	s.fs.put("/drop/same.airlock", payload)
	s.fs.put("/drop/other.airlock", []byte("someone else's code\n"))
	s.fs.put("/drop/samesize.airlock", bytes.Repeat([]byte("x"), len(payload)))
	opt := s.trusting(t)
	opt.Getenv = env(map[string]string{PasswordEnv: "pw"})
	for _, tc := range []struct {
		name    string
		existed bool
		want    error
	}{
		{"same.airlock", true, nil},
		{"other.airlock", false, ErrExists},
		{"samesize.airlock", false, ErrExists},
	} {
		before, _ := s.fs.get("/drop/" + tc.name)
		up, err := PrepareUpload(context.Background(), s.url("bob", "/drop/"+tc.name), opt)
		if err != nil {
			t.Fatal(err)
		}
		existed, err := up.Write(payload)
		up.Close()
		if existed != tc.existed || !errors.Is(err, tc.want) {
			t.Errorf("Write(%s) = %v, %v; want %v, %v", tc.name, existed, err, tc.existed, tc.want)
		}
		if err != nil && !strings.Contains(err.Error(), "never replaced") {
			t.Errorf("Write(%s) = %v, want a message saying it is never replaced", tc.name, err)
		}
		if after, _ := s.fs.get("/drop/" + tc.name); !bytes.Equal(after, before) {
			t.Errorf("%s changed from %q to %q", tc.name, before, after)
		}
	}
	if names := s.fs.list("/drop"); len(names) != 3 {
		t.Errorf("the folder holds %q, want the three files only", names)
	}
}

// Another writer creates the name while the temporary file is written: the
// rename fails, and its file stays.
func TestUploadLosesRaceWithoutReplacing(t *testing.T) {
	s := newTestServer(t, withPassword("pw"))
	s.fs.add("/drop", &memFile{mode: os.ModeDir | 0o755})
	opt := s.trusting(t)
	opt.Getenv = env(map[string]string{PasswordEnv: "pw"})
	up, err := PrepareUpload(context.Background(), s.url("bob", "/drop/a.airlock"), opt)
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	s.fs.setHooks(nil, func(string, int64) error {
		if _, ok := s.fs.get("/drop/a.airlock"); !ok {
			s.fs.put("/drop/a.airlock", []byte("the other writer's"))
		}
		return nil
	})
	_, err = up.Write(payload)
	if !errors.Is(err, ErrExists) {
		t.Fatalf("Write = %v, want ErrExists", err)
	}
	if got, _ := s.fs.get("/drop/a.airlock"); string(got) != "the other writer's" {
		t.Errorf("the file holds %q", got)
	}
	if names := s.fs.list("/drop"); len(names) != 1 {
		t.Errorf("the folder holds %q, want only a.airlock", names)
	}
}

func TestPrepareUploadRefusesBeforeAnythingIsWritten(t *testing.T) {
	s := newTestServer(t, withPassword("pw"))
	s.fs.add("/drop/sub", &memFile{mode: os.ModeDir | 0o755})
	s.fs.put("/file", []byte("x"))
	opt := s.trusting(t)
	opt.Getenv = env(map[string]string{PasswordEnv: "pw"})
	for _, tc := range []struct {
		path string
		opt  func(*Options)
		want error
		msg  string
	}{
		{"/missing/a.airlock", nil, ErrNotFound, `the folder "/missing" does not exist`},
		{"/file/a.airlock", nil, ErrNotRegular, `"/file"`},
		{"/drop/sub", nil, ErrNotRegular, "it is a folder"},
		{"/drop/a.airlock", func(o *Options) { o.KnownHosts = writeKnownHosts(t, "# empty") }, ErrHostKey, "unknown"},
		{"/drop/a.airlock", func(o *Options) { o.Getenv = env(map[string]string{PasswordEnv: "wrong"}) }, ErrAuth, "refused"},
	} {
		o := opt
		if tc.opt != nil {
			tc.opt(&o)
		}
		up, err := PrepareUpload(context.Background(), s.url("bob", tc.path), o)
		if err == nil {
			up.Close()
		}
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("PrepareUpload(%s) = %v, want %v mentioning %q", tc.path, err, tc.want, tc.msg)
		}
	}
	if names := s.fs.list("/drop"); len(names) != 1 {
		t.Errorf("the folder holds %q, want only sub", names)
	}
}

func TestUploadFailureRemovesTemporaryFile(t *testing.T) {
	s := newTestServer(t, withPassword("pw"))
	s.fs.add("/drop", &memFile{mode: os.ModeDir | 0o755})
	opt := s.trusting(t)
	opt.Getenv = env(map[string]string{PasswordEnv: "pw"})
	up, err := PrepareUpload(context.Background(), s.url("bob", "/drop/a.airlock"), opt)
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	s.fs.setHooks(nil, func(string, int64) error { return errors.New("no space left on device") })
	_, err = up.Write(payload)
	if !errors.Is(err, ErrTransfer) || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("Write = %v, want ErrTransfer with the server's reason", err)
	}
	if names := s.fs.list("/drop"); len(names) != 0 {
		t.Errorf("the folder holds %q after a failed Write, want nothing", names)
	}
}
