package authority_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/authority/store"
	"github.com/airlock-dev/airlock/authority/store/pgtest"
	"github.com/airlock-dev/airlock/codes"
)

// BenchmarkReserveProcesses reserves from 1, 2 and 4 processes at once,
// each one request at a time as the desk's command or a server does, on
// one SQLite file and on one PostgreSQL database: durable reservations
// per second of them all, ready requests split among them, the clock
// running from when every process is ready until the last is done.
//
//	go test -run='^$' -bench=ReserveProcesses -benchtime=2000x ./authority
//
// Writers of one ledger take one lock (SQLite's file lock, PostgreSQL's
// advisory lock), so the history stays one chain: processes add no
// writes a second, and the figure shows what they cost.
func BenchmarkReserveProcesses(b *testing.B) {
	for _, engine := range []string{"sqlite", "postgres"} {
		for _, procs := range []int{1, 2, 4} {
			b.Run(fmt.Sprintf("%s/procs=%d", engine, procs), func(b *testing.B) {
				benchProcesses(b, engine, procs)
			})
		}
	}
}

func benchProcesses(b *testing.B, engine string, procs int) {
	path := filepath.Join(b.TempDir(), authority.LedgerFile)
	if engine == "postgres" {
		path = pgtest.URL(b)
	}
	st, err := store.Open(path, store.Options{Create: true})
	if err != nil {
		b.Fatal(err)
	}
	l := authority.New(st, authority.Options{Keys: []*codes.AuthorityKey{fixture(b).Authority}, Actor: "bench", Now: time.Now})
	for _, err := range []error{
		l.Init(ctx, "bench desk"),
		func() error { _, err := l.AddOrg(ctx, "acme"); return err }(),
		func() error { _, err := l.AddAccount(ctx, "acme", "plant", -1); return err }(),
		func() error {
			_, err := l.AddLot(ctx, authority.LotSpec{Account: "acme/plant", Tag: camera, Count: authority.MaxLotCount})
			return err
		}(),
	} {
		if err != nil {
			b.Fatal(err)
		}
	}
	st.Close()

	reqs := requests(b, b.N)
	type child struct {
		cmd *exec.Cmd
		in  io.WriteCloser
		out *bufio.Reader
		log bytes.Buffer
	}
	children := make([]*child, procs)
	for p := range children {
		var file bytes.Buffer
		for i := p; i < len(reqs); i += procs {
			file.Write(reqs[i])
			file.WriteByte(0)
		}
		name := filepath.Join(b.TempDir(), "requests")
		if err := os.WriteFile(name, file.Bytes(), 0o600); err != nil {
			b.Fatal(err)
		}
		c := &child{cmd: exec.Command(os.Args[0], "-test.run=^$")}
		c.cmd.Env = append(os.Environ(), childEnv+"=reservebench", "LEDGER="+path, "REQUESTS="+name)
		c.cmd.Stderr = &c.log
		if c.in, err = c.cmd.StdinPipe(); err != nil {
			b.Fatal(err)
		}
		stdout, err := c.cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		c.out = bufio.NewReader(stdout)
		if err := c.cmd.Start(); err != nil {
			b.Fatal(err)
		}
		children[p] = c
	}
	expect := func(c *child, want string) {
		line, err := c.out.ReadString('\n')
		if strings.TrimSpace(line) != want {
			b.Fatalf("a child said %q (%v), not %q\n%s", line, err, want, c.log.String())
		}
	}
	for _, c := range children {
		expect(c, "ready")
	}
	b.ResetTimer()
	start := time.Now()
	for _, c := range children {
		io.WriteString(c.in, "go\n")
	}
	for _, c := range children {
		expect(c, "done")
	}
	d := time.Since(start)
	b.StopTimer()
	for _, c := range children {
		c.in.Close()
		if err := c.cmd.Wait(); err != nil {
			b.Fatalf("child: %v\n%s", err, c.log.String())
		}
	}
	b.ReportMetric(float64(b.N)/d.Seconds(), "reservations/s")
	b.ReportMetric(0, "ns/op")
}

// childReserveBench reserves the NUL-separated armored requests in
// REQUESTS from LEDGER one at a time, between "ready" and "done" lines
// and after a line on standard input.
func childReserveBench() int {
	st, err := store.Open(os.Getenv("LEDGER"), store.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer st.Close()
	l := authority.New(st, authority.Options{Keys: []*codes.AuthorityKey{fixture(nil).Authority}, Actor: "bench", Now: time.Now})
	b, err := os.ReadFile(os.Getenv("REQUESTS"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var bins [][]byte
	for _, r := range bytes.Split(bytes.TrimSuffix(b, []byte{0}), []byte{0}) {
		if len(r) == 0 {
			continue
		}
		bin, err := codes.DecodeKind(r, codes.KindRequest)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		bins = append(bins, bin)
	}
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, bin := range bins {
		if _, err := l.Reserve(ctx, "acme/plant", bin, nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	fmt.Println("done")
	return 0
}
