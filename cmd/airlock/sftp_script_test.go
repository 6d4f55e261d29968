package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/crypto/ssh"

	"github.com/airlock-dev/airlock/cmd/airlock/internal/drop/droptest"
)

// sftpDirs are the folders the sftpserver of each running script serves,
// for sftpquota.
var sftpDirs sync.Map // *testscript.TestScript → *droptest.Dir

// cmdSftpserver starts an SSH server with an SFTP subsystem in the test
// process, serving the folder DIR as its whole tree and login folder, until
// the script ends:
//
//	sftpserver [--password PW] DIR
//
// It accepts the key it writes to ssh/id_ed25519 and, with --password,
// that password, for any user name. It writes ssh/known_hosts (its host
// key) and ssh/known_hosts.changed (another key for the same host and
// port, as after a man-in-the-middle), and sets SFTP to
// sftp://tester@127.0.0.1:PORT (append /~/path), SFTP_FINGERPRINT to its
// key's SHA256 fingerprint and SFTP_LINE to its known_hosts line, with
// SFTP_FINGERPRINT_RE and SFTP_LINE_RE quoted for regular expressions.
func cmdSftpserver(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("usage: sftpserver [--password PW] DIR")
	}
	var opts []droptest.Option
	if len(args) > 2 && args[0] == "--password" {
		opts = append(opts, droptest.WithPassword(args[1]))
		args = args[2:]
	}
	if len(args) != 1 {
		ts.Fatalf("usage: sftpserver [--password PW] DIR")
	}
	if _, ok := sftpDirs.Load(ts); ok {
		ts.Fatalf("sftpserver: one server per script")
	}
	root := ts.MkAbs(args[0])
	fi, err := os.Stat(root)
	ts.Check(err)
	if !fi.IsDir() {
		ts.Fatalf("sftpserver: %s is not a folder", args[0])
	}
	_, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	ts.Check(err)
	client, err := ssh.NewSignerFromKey(clientPriv)
	ts.Check(err)
	_, otherPriv, err := ed25519.GenerateKey(rand.Reader)
	ts.Check(err)
	other, err := ssh.NewSignerFromKey(otherPriv)
	ts.Check(err)

	dir := droptest.NewDir(root)
	opts = append(opts, droptest.WithHandlers(dir.Handlers()), droptest.WithAuthorized(client.PublicKey()))
	srv, err := droptest.Start(opts...)
	ts.Check(err)
	sftpDirs.Store(ts, dir)
	ts.Defer(func() {
		srv.Close()
		sftpDirs.Delete(ts)
	})

	ts.Check(os.MkdirAll(ts.MkAbs("ssh"), 0o700))
	key, err := droptest.MarshalPrivateKey(clientPriv)
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs("ssh/id_ed25519"), key, 0o600))
	line := srv.KnownHostsLine(srv.HostKeys[0].PublicKey())
	ts.Check(os.WriteFile(ts.MkAbs("ssh/known_hosts"), []byte(line+"\n"), 0o600))
	ts.Check(os.WriteFile(ts.MkAbs("ssh/known_hosts.changed"), []byte(srv.KnownHostsLine(other.PublicKey())+"\n"), 0o600))

	fp := ssh.FingerprintSHA256(srv.HostKeys[0].PublicKey())
	ts.Setenv("SFTP", fmt.Sprintf("sftp://tester@%s", srv.Addr))
	ts.Setenv("SFTP_FINGERPRINT", fp)
	ts.Setenv("SFTP_FINGERPRINT_RE", regexp.QuoteMeta(fp))
	ts.Setenv("SFTP_LINE", line)
	ts.Setenv("SFTP_LINE_RE", regexp.QuoteMeta(line))
}

// cmdSftpquota lets the script's sftpserver write at most BYTES more bytes,
// as a disk about to fill; -1 lifts the limit: sftpquota BYTES.
func cmdSftpquota(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sftpquota BYTES")
	}
	n, err := strconv.ParseInt(args[0], 10, 64)
	ts.Check(err)
	d, ok := sftpDirs.Load(ts)
	if !ok {
		ts.Fatalf("sftpquota: no sftpserver is running")
	}
	d.(*droptest.Dir).SetWriteQuota(n)
}

// cmdMkbig writes a file of BYTES bytes (a sparse one, quickly):
// mkbig FILE BYTES.
func cmdMkbig(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: mkbig FILE BYTES")
	}
	n, err := strconv.ParseInt(args[1], 10, 64)
	ts.Check(err)
	f, err := os.Create(ts.MkAbs(args[0]))
	ts.Check(err)
	ts.Check(f.Truncate(n))
	ts.Check(f.Close())
}

// cmdLsdir prints the names in a folder, hidden ones too, one a line and
// sorted, so a script can see that no temporary file is left: lsdir DIR.
func cmdLsdir(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: lsdir DIR")
	}
	entries, err := os.ReadDir(ts.MkAbs(args[0]))
	ts.Check(err)
	var names []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			name += string(filepath.Separator)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	if len(names) > 0 {
		fmt.Fprintln(ts.Stdout(), strings.Join(names, "\n"))
	}
}
