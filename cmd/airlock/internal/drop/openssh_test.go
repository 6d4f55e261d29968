package drop

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/cmd/airlock/internal/drop/droptest"
)

// TestOpenSSH runs Fetch, Put and PrepareUpload against a real OpenSSH
// server started on a free loopback port with its own configuration, host
// keys and authorized_keys (ATTACKS.md §3.6 A; droptest.StartOpenSSH). The
// server has Ed25519 and ECDSA host keys and known_hosts only the Ed25519
// one, as OpenSSH records it (T63).
func TestOpenSSH(t *testing.T) {
	o := droptest.StartOpenSSH(t)
	served := t.TempDir()
	write := func(name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(served, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("auth.cbor", payload)
	write("big.bin", make([]byte, DefaultMaxSize+1))
	if err := os.Symlink("/dev/zero", filepath.Join(served, "zero")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(served, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}

	opt := Options{
		KnownHosts: o.KnownHosts,
		KeyFiles:   []string{o.KeyFile},
		Getenv:     env(nil),
		Timeout:    20 * time.Second,
	}
	at := func(name string) *URL {
		return mustURL(t, o.URL(filepath.Join(served, name)))
	}
	ctx := context.Background()

	t.Run("Fetch", func(t *testing.T) {
		got, err := Fetch(ctx, at("auth.cbor"), opt)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, payload) {
			t.Errorf("Fetch = %q, want %q", got, payload)
		}
	})
	t.Run("FetchRefuses", func(t *testing.T) {
		for name, want := range map[string]error{
			"zero":         ErrNotRegular, // T68: a link to /dev/zero
			"fifo":         ErrNotRegular,
			"big.bin":      ErrTooLarge, // T67
			"missing.cbor": ErrNotFound, // T69
		} {
			if _, err := Fetch(ctx, at(name), opt); !errors.Is(err, want) {
				t.Errorf("Fetch(%s) = %v, want %v", name, err, want)
			}
		}
	})
	t.Run("Put", func(t *testing.T) {
		for _, content := range []string{"first answer", "second answer"} {
			if err := Put(ctx, at("out.cbor"), []byte(content), opt); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(served, "out.cbor"))
			if err != nil || string(got) != content {
				t.Errorf("served/out.cbor holds %q (%v), want %q", got, err, content)
			}
		}
		entries, _ := os.ReadDir(served)
		for _, e := range entries {
			if IsTemp(e.Name()) {
				t.Errorf("temporary file %s left behind", e.Name())
			}
		}
	})
	t.Run("Upload", func(t *testing.T) {
		up, err := PrepareUpload(ctx, at("new.airlock"), opt)
		if err != nil {
			t.Fatal(err)
		}
		existed, err := up.Write(payload)
		up.Close()
		if err != nil || existed {
			t.Fatalf("Write = %v, %v; want a new file", existed, err)
		}
		for _, tc := range []struct {
			data    []byte
			existed bool
			want    error
		}{
			{payload, true, nil},
			{[]byte("other"), false, ErrExists},
		} {
			up, err := PrepareUpload(ctx, at("new.airlock"), opt)
			if err != nil {
				t.Fatal(err)
			}
			existed, err := up.Write(tc.data)
			up.Close()
			if existed != tc.existed || !errors.Is(err, tc.want) {
				t.Errorf("Write(%q) again = %v, %v; want %v, %v", tc.data, existed, err, tc.existed, tc.want)
			}
		}
		if got, err := os.ReadFile(filepath.Join(served, "new.airlock")); err != nil || !bytes.Equal(got, payload) {
			t.Errorf("served/new.airlock holds %q (%v), want %q", got, err, payload)
		}
		if _, err := PrepareUpload(ctx, at("nodir/a.airlock"), opt); !errors.Is(err, ErrNotFound) {
			t.Errorf("PrepareUpload into a missing folder = %v, want ErrNotFound", err)
		}
	})
	t.Run("UnknownHost", func(t *testing.T) {
		bad := opt
		bad.KnownHosts = writeKnownHosts(t, "# empty")
		_, err := Fetch(ctx, at("auth.cbor"), bad)
		var he *HostKeyError
		if !errors.As(err, &he) || !he.Unknown() || !strings.Contains(err.Error(), "[127.0.0.1]:") {
			t.Errorf("Fetch = %v, want an unknown host", err)
		}
	})
	t.Run("WrongKey", func(t *testing.T) {
		_, other, _ := ed25519.GenerateKey(rand.Reader)
		bad := opt
		bad.KeyFiles = []string{writeKey(t, other)}
		_, err := Fetch(ctx, at("auth.cbor"), bad)
		if !errors.Is(err, ErrAuth) {
			t.Errorf("Fetch = %v, want ErrAuth", err)
		}
	})
}
