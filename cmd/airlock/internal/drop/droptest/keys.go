package droptest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

func newEd25519Signer() (ssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return ssh.NewSignerFromKey(priv)
}

// Ed25519Signer returns a fresh Ed25519 key.
func Ed25519Signer(t testing.TB) ssh.Signer {
	t.Helper()
	s, err := newEd25519Signer()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ECDSASigner returns a fresh ECDSA P-256 key.
func ECDSASigner(t testing.TB) ssh.Signer {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var rsaSigner = sync.OnceValues(func() (ssh.Signer, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return ssh.NewSignerFromKey(priv)
})

// RSASigner returns an RSA 2048 key, the same for every call of a test
// binary: generating one takes a while.
func RSASigner(t testing.TB) ssh.Signer {
	t.Helper()
	s, err := rsaSigner()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// WriteKnownHosts writes a known_hosts file holding lines into a
// temporary folder and returns its name.
func WriteKnownHosts(t testing.TB, lines ...string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(name, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

// MarshalPrivateKey returns priv (a crypto private key, e.g.
// ed25519.PrivateKey) in the OpenSSH PEM format ssh-keygen writes,
// without a passphrase.
func MarshalPrivateKey(priv any) ([]byte, error) {
	block, err := ssh.MarshalPrivateKey(priv, "droptest key")
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(block), nil
}

// ServeAgent serves an in-process ssh-agent holding keys on a unix socket
// in a temporary folder and returns the socket's name.
func ServeAgent(t testing.TB, keys ...any) string {
	t.Helper()
	kr := agent.NewKeyring()
	for _, k := range keys {
		if err := kr.Add(agent.AddedKey{PrivateKey: k}); err != nil {
			t.Fatal(err)
		}
	}
	// Unix socket names are limited to about 100 bytes; t.TempDir can
	// be longer.
	dir, err := os.MkdirTemp("", "agent")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				agent.ServeAgent(kr, c)
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
		os.RemoveAll(dir)
	})
	return sock
}

// Tarpit accepts connections and never sends a byte (ATTACKS.md T65). It
// returns the address it listens on.
func Tarpit(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}
