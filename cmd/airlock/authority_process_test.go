package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/airlock-dev/airlock/cmd/airlock/internal/drop"
	"github.com/airlock-dev/airlock/cmd/airlock/internal/drop/droptest"
	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/formats/seal"
	"github.com/airlock-dev/airlock/testvectors/gen"
)

// envProcessKill names a stage of authority process (processHook) at which
// the process kills itself with SIGKILL, for the crash scripts.
const envProcessKill = "AIRLOCK_TEST_PROCESS_KILL"

func init() {
	if stage := os.Getenv(envProcessKill); stage != "" {
		processHook = func(s string) {
			if s == stage {
				p, err := os.FindProcess(os.Getpid())
				if err == nil {
					err = p.Kill() // SIGKILL: no deferred function runs
				}
				panic(fmt.Sprintf("%s: %v", envProcessKill, err))
			}
		}
	}
}

// A dropSite plays the instances in the drop-folder tests: it makes their
// codes for the desk's current key, with the fixture's instance key.
type dropSite struct {
	t     testing.TB
	key   *codes.InstanceKey
	other *codes.InstanceKey
	rogue *codes.AuthorityPublicKey
	auth  *codes.AuthorityPublicKey
	trust *codes.TrustSet
	mac   []byte
	nonce atomic.Uint64
}

func newDropSite(t testing.TB, trust *codes.TrustSet) *dropSite {
	t.Helper()
	f, err := gen.NewFixture()
	if err != nil {
		t.Fatal(err)
	}
	auth := trust.Current(time.Now().Unix())
	mac, err := f.Instance.MACKey(auth)
	if err != nil {
		t.Fatal(err)
	}
	return &dropSite{t: t, key: f.Instance, other: f.Other, rogue: &f.Rogue.Public, auth: auth, trust: trust, mac: mac}
}

// udi returns the UDI of the camera called name.
func (s *dropSite) udi(name string) codes.UDI {
	var n uint64
	for _, c := range name {
		n = n*131 + uint64(c)
	}
	u, err := codes.ParseUDI(fmt.Sprintf("P:VMS,S:%s,U:00000000-0000-4000-8000-%012x", name, n&0xffffffffffff))
	if err != nil {
		s.t.Fatal(err)
	}
	return u
}

func (s *dropSite) nextNonce() []byte {
	b := make([]byte, codes.NonceSize)
	binary.BigEndian.PutUint64(b, s.nonce.Add(1)+uint64(time.Now().UnixNano()))
	return b
}

// request returns an armored request of camera name for n vms.camera.core,
// made for the authority key auth.
func (s *dropSite) request(name string, n uint32, auth *codes.AuthorityPublicKey) []byte {
	s.t.Helper()
	code, err := codes.SealRequest(&codes.Request{UDI: s.udi(name), Nonce: s.nextNonce(), IssuedAt: time.Now().Unix(),
		Wanted: []codes.License{{Tag: "vms.camera.core", Count: n}}}, s.key, auth)
	if err != nil {
		s.t.Fatal(err)
	}
	return codes.EncodeArmor(codes.KindRequest, code)
}

func (s *dropSite) system(name string, n uint32) []byte {
	s.t.Helper()
	code, err := codes.SealSystem(&codes.System{UDI: s.udi(name), Name: "System " + name, IssuedAt: time.Now().Unix(), Nonce: s.nextNonce(),
		Components: []codes.Component{{ID: "SN-1", Model: "Recorder R2"}},
		Demand:     []codes.License{{Tag: "vms.camera.core", Count: n}}}, s.key, s.auth)
	if err != nil {
		s.t.Fatal(err)
	}
	return codes.EncodeArmor(codes.KindSystem, code)
}

// open verifies an authorization file as the instance would and checks
// that it is for camera name.
func (s *dropSite) open(name string, file []byte) *codes.Authorization {
	s.t.Helper()
	code, err := codes.DecodeKind(file, codes.KindAuthorization)
	if err != nil {
		s.t.Fatalf("answer for %s: %v", name, err)
	}
	a, err := codes.OpenAuthorization(code, s.trust)
	if err != nil {
		s.t.Fatalf("answer for %s: %v", name, err)
	}
	if err := a.Check(time.Now(), s.udi(name), s.key.Public()); err != nil {
		s.t.Fatalf("answer for %s: %v", name, err)
	}
	return a
}

// confirmation and ret make the instance codes for an authorization file.
func (s *dropSite) confirmation(name string, file []byte) []byte {
	a := s.open(name, file)
	code, err := codes.SealConfirmation(&codes.Confirmation{Reservation: a.Reservation, Serial: a.Serial}, s.mac)
	if err != nil {
		s.t.Fatal(err)
	}
	return codes.EncodeArmor(codes.KindConfirmation, code)
}

func (s *dropSite) ret(name string, file []byte) []byte {
	a := s.open(name, file)
	code, err := codes.SealReturn(&codes.Return{Reservation: a.Reservation, Serial: a.Serial}, s.mac)
	if err != nil {
		s.t.Fatal(err)
	}
	return []byte(codes.EncodeText(codes.KindReturn, code) + "\n")
}

func writeFiles(t *testing.T, dir string, files map[string][]byte) { writeFilesTB(t, dir, files) }

func writeFilesTB(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// processDesk is a desk with 40 vms.camera.core in acme/plant and four
// cameras (old-1 … old-4) holding one each, answered in outbox "old".
func processDesk(t *testing.T) (dir, identity string, s *dropSite) {
	t.Helper()
	dir, identity, trust := newDesk(t)
	if code, _, stderr := runApp(t, "", "authority", "lot", "add", "--account", "acme/plant", "--tag", "vms.camera.core", "--count", "35"); code != 0 {
		t.Fatal(stderr)
	}
	s = newDropSite(t, trust)
	old := map[string][]byte{}
	for i := 1; i <= 4; i++ {
		old[fmt.Sprintf("old-%d.airlock", i)] = s.request(fmt.Sprintf("old-%d", i), 1, s.auth)
	}
	writeFiles(t, "oldin", old)
	if code, _, stderr := runApp(t, "", "authority", "process", "--identity", identity, "--account", "acme/plant", "--in", "oldin", "--out", "old"); code != 0 {
		t.Fatal(stderr)
	}
	return dir, identity, s
}

// TestProcessMixedInbox is the drop-folder test of issue 5: an inbox of
// 50 files with duplicates, tampered, wrong-kind and foreign files,
// confirmations and returns, and a system description. Every file ends in
// done/ or rejected/ with a result file, the answers install on their
// instances, nothing is reserved twice, and the ledger verifies.
func TestProcessMixedInbox(t *testing.T) {
	_, identity, s := processDesk(t)
	in := map[string][]byte{}
	for i := 1; i <= 30; i++ {
		in[fmt.Sprintf("cam-%02d.airlock", i)] = s.request(fmt.Sprintf("cam-%02d", i), 1, s.auth)
	}
	for i := 1; i <= 3; i++ {
		in[fmt.Sprintf("dup-%02d.airlock", i)] = in[fmt.Sprintf("cam-%02d.airlock", i)]
	}
	in["greedy.airlock"] = s.request("greedy", 100, s.auth)
	in["foreign-1.airlock"] = s.request("foreign-1", 1, s.rogue)
	in["foreign-2.airlock"] = s.request("foreign-2", 1, s.rogue)
	tampered := s.request("tampered", 1, s.auth)
	code, err := codes.DecodeKind(tampered, codes.KindRequest)
	if err != nil {
		t.Fatal(err)
	}
	code[len(code)-1] ^= 1
	in["tampered.airlock"] = codes.EncodeArmor(codes.KindRequest, code)
	typed := []byte(codes.EncodeText(codes.KindRequest, code[:len(code)-1]))
	typed[10] ^= 0x01 // a typo
	in["typo.txt"] = typed
	in["authorization.airlock"] = mustRead(t, "old/old-1.authorization.airlock")
	in["trust.airlock"] = mustRead(t, filepath.Join("desk", "trust.airlock"))
	random := make([]byte, 300)
	rand.Read(random)
	in["random.bin"] = random
	in["empty.airlock"] = nil
	usage, err := codes.SealUsage(&codes.Usage{UDI: s.udi("old-1"), From: 1, To: 2, HighWater: 2}, s.mac)
	if err != nil {
		t.Fatal(err)
	}
	in["usage.airlock"] = codes.EncodeArmor(codes.KindUsage, usage)
	in["huge.airlock"] = bytes.Repeat([]byte("A"), maxInputSize+1)
	in["confirm-1.airlock"] = s.confirmation("old-1", mustRead(t, "old/old-1.authorization.airlock"))
	in["confirm-2.airlock"] = s.confirmation("old-2", mustRead(t, "old/old-2.authorization.airlock"))
	in["return-3.txt"] = s.ret("old-3", mustRead(t, "old/old-3.authorization.airlock"))
	in["return-4.txt"] = s.ret("old-4", mustRead(t, "old/old-4.authorization.airlock"))
	unknown, err := codes.SealConfirmation(&codes.Confirmation{Reservation: []byte{1, 2, 3, 4}, Serial: 1}, s.mac)
	if err != nil {
		t.Fatal(err)
	}
	in["confirm-unknown.airlock"] = codes.EncodeArmor(codes.KindConfirmation, unknown)
	in["plant-4.airlock"] = s.system("plant-4", 2)
	if len(in) != 50 {
		t.Fatalf("the inbox holds %d files, want 50", len(in))
	}
	writeFiles(t, "in", in)
	// Left alone: hidden files, a writer's temporary file, a subfolder.
	writeFiles(t, "in", map[string][]byte{".hidden": []byte("x"), ".airlock-tmp-1": []byte("half")})
	writeFiles(t, "in/sub", map[string][]byte{"cam-99.airlock": s.request("cam-99", 1, s.auth)})

	code2, stdout, stderr := runApp(t, "", "authority", "process", "--identity", identity, "--account", "acme/plant", "--in", "in", "--out", "out", "--json")
	if code2 != exitFailed {
		t.Fatalf("exit %d, want 1\n%s", code2, stderr)
	}
	t.Log(stderr)
	for _, want := range []string{
		"airlock: 50 of 50 files processed\n",
		"airlock: 30 reserved, 2 confirmed, 2 returned, 1 system, 12 rejected, 3 already done; answers in out\n",
		"airlock: error: 12 of 50 files rejected (listed above); each has a result file in in/rejected\n",
		`airlock: warning: greedy.airlock: not enough licenses: asked for 100 of "vms.camera.core", "acme/plant" has `,
		"airlock: warning: foreign-1.airlock: signature verification failed",
		"airlock: warning: tampered.airlock: signature verification failed",
		"airlock: warning: typo.txt: typed code has a typo in group ",
		"airlock: warning: authorization.airlock: wrong code kind: got an authorization code",
		"airlock: warning: trust.airlock: wrong code kind: got a trust file",
		"airlock: warning: usage.airlock: wrong code kind: got a usage report code",
		"airlock: warning: random.bin: ",
		"airlock: warning: empty.airlock: no code in the input: the file is empty",
		"airlock: warning: huge.airlock: file too large",
		"airlock: warning: confirm-unknown.airlock: ",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	var summary processJSON
	if err := json.Unmarshal([]byte(stdout), &summary); err != nil {
		t.Fatalf("--json: %v\n%s", err, stdout)
	}
	if summary.Reserved != 30 || summary.AlreadyDone != 3 || summary.Confirmed != 2 || summary.Returned != 2 || summary.Systems != 1 || summary.Rejected != 12 || summary.Left != 0 || len(summary.Files) != 50 {
		t.Errorf("--json summary: %+v", summary)
	}

	// Every file is in done/ or rejected/ with its result; the inbox
	// holds only what process leaves alone.
	if got, want := readDir(t, "in"), []string{".airlock-tmp-1", ".hidden", "done", "rejected", "sub"}; !slices.Equal(got, want) {
		t.Errorf("inbox holds %q, want %q", got, want)
	}
	rejected := []string{"greedy", "foreign-1", "foreign-2", "tampered", "typo", "authorization", "trust", "random", "empty", "usage", "huge", "confirm-unknown"}
	for name, data := range in {
		stem := baseStem(name)
		dir := "in/done"
		if slices.Contains(rejected, stem) {
			dir = "in/rejected"
		}
		if got, err := os.ReadFile(filepath.Join(dir, name)); err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s is not in %s: %v", name, dir, err)
		}
		res, err := os.ReadFile(filepath.Join(dir, stem+".result.txt"))
		if err != nil {
			t.Errorf("%s has no result file: %v", name, err)
			continue
		}
		if h, ok := resultHash(res); stem != "huge" && (!ok || h != sha256Of(data)) {
			t.Errorf("%s: the result file names another file:\n%s", name, res)
		}
	}
	res := string(mustRead(t, "in/rejected/greedy.result.txt"))
	for _, want := range []string{"file:       a request of P:VMS,S:greedy\n", "outcome:    refused\n", "why:        not enough licenses", "what to do: see what is available", "then:       move the file back into the inbox"} {
		if !strings.Contains(res, want) {
			t.Errorf("greedy.result.txt lacks %q:\n%s", want, res)
		}
	}
	res = string(mustRead(t, "out/return-3.result.txt"))
	if !strings.Contains(res, "outcome:    returned\n") || !strings.Contains(res, "released 1 vms.camera.core") {
		t.Errorf("return-3.result.txt:\n%s", res)
	}

	// The answers install on their instances; a duplicate gets the same
	// code as its original.
	for i := 1; i <= 30; i++ {
		name := fmt.Sprintf("cam-%02d", i)
		s.open(name, mustRead(t, filepath.Join("out", name+".authorization.airlock")))
	}
	for i := 1; i <= 3; i++ {
		dup, orig := mustRead(t, fmt.Sprintf("out/dup-%02d.authorization.airlock", i)), mustRead(t, fmt.Sprintf("out/cam-%02d.authorization.airlock", i))
		if !bytes.Equal(dup, orig) {
			t.Errorf("dup-%02d got another code than cam-%02d", i, i)
		}
	}
	if a := s.open("plant-4", mustRead(t, "out/plant-4.authorization.airlock")); len(a.Entitlements) != 1 || a.Entitlements[0].Count != 2 {
		t.Errorf("plant-4 got %+v", a.Entitlements)
	}
	for _, stem := range rejected {
		if _, err := os.Stat(filepath.Join("out", stem+".result.txt")); err != nil {
			t.Errorf("no refusal for %s in the outbox: %v", stem, err)
		}
	}

	// 40 licenses: 4 old ones less 2 returned, 30 cameras, 2 for plant-4.
	checkLicenses(t, 40, 34)
	if code, stdout, stderr := runApp(t, "", "authority", "verify"); code != 0 {
		t.Fatalf("verify: exit %d\n%s%s", code, stdout, stderr)
	}
}

// checkLicenses checks the account's vms.camera.core: owned and reserved.
func checkLicenses(t *testing.T, owned, reserved int) {
	t.Helper()
	code, stdout, stderr := runApp(t, "", "authority", "licenses", "--account", "acme/plant")
	if code != 0 {
		t.Fatal(stderr)
	}
	for line := range strings.Lines(stdout) {
		if strings.Contains(line, "vms.camera.core") {
			fields := strings.Fields(line)
			if len(fields) < 5 || fields[2] != fmt.Sprint(owned) || fields[4] != fmt.Sprint(reserved) {
				t.Errorf("licenses: %q, want owned %d, reserved %d", line, owned, reserved)
			}
			return
		}
	}
	t.Errorf("licenses lists no vms.camera.core:\n%s", stdout)
}

func sha256Of(b []byte) [32]byte { return sha256.Sum256(b) }

// TestProcessRunAgainReservesNothingTwice drops files again: the same file
// under its name and under another, a file of the same name and other
// bytes, and a refused file moved back once licenses were added. Nothing
// is reserved twice; each gets its answer, and names never clash.
func TestProcessRunAgainReservesNothingTwice(t *testing.T) {
	_, identity, s := processDesk(t)
	first := map[string][]byte{
		"cam-1.airlock":  s.request("cam-1", 1, s.auth),
		"cam-2.airlock":  s.request("cam-2", 1, s.auth),
		"greedy.airlock": s.request("greedy", 50, s.auth),
	}
	writeFiles(t, "in", first)
	args := []string{"authority", "process", "--identity", identity, "--account", "acme/plant", "--in", "in", "--out", "out"}
	if code, _, stderr := runApp(t, "", args...); code != exitFailed || !strings.Contains(stderr, "2 reserved, 0 confirmed, 0 returned, 0 systems, 1 rejected, 0 already done") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	answer1 := mustRead(t, "out/cam-1.authorization.airlock")
	checkLicenses(t, 40, 6)

	// Nothing in the inbox: nothing to do, and that is no error.
	code, _, stderr := runApp(t, "", args...)
	if code != 0 || !strings.Contains(stderr, "airlock: nothing to do: the inbox in holds no file\n") {
		t.Fatalf("empty inbox: exit %d\n%s", code, stderr)
	}

	if code, _, stderr := runApp(t, "", "authority", "lot", "add", "--account", "acme/plant", "--tag", "vms.camera.core", "--count", "60"); code != 0 {
		t.Fatal(stderr)
	}
	if err := os.Rename("in/rejected/greedy.airlock", "in/greedy.airlock"); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, "in", map[string][]byte{
		"cam-1.airlock":       first["cam-1.airlock"], // dropped again
		"cam-1-again.airlock": first["cam-1.airlock"], // and under another name
		"cam-2.txt":           s.request("cam-3", 1, s.auth),
		"cam-2.airlock":       s.request("cam-4", 1, s.auth), // another file, a name used before
	})
	code, _, stderr = runApp(t, "", args...)
	if code != 0 || !strings.Contains(stderr, "airlock: 3 reserved, 0 confirmed, 0 returned, 0 systems, 0 rejected, 2 already done; answers in out\n") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, name := range []string{"cam-1.authorization.airlock", "cam-1-again.authorization.airlock"} {
		if !bytes.Equal(mustRead(t, "out/"+name), answer1) {
			t.Errorf("%s is not the first answer again", name)
		}
	}
	s.open("cam-4", mustRead(t, "out/cam-2-2.authorization.airlock"))
	s.open("cam-3", mustRead(t, "out/cam-2-3.authorization.airlock"))
	s.open("greedy", mustRead(t, "out/greedy.authorization.airlock"))
	if got, want := readDir(t, "in/done"), []string{
		"cam-1-again.airlock", "cam-1-again.result.txt", "cam-1.airlock", "cam-1.result.txt",
		"cam-2-2.airlock", "cam-2-2.result.txt", "cam-2-3.result.txt", "cam-2-3.txt", "cam-2.airlock", "cam-2.result.txt",
		"greedy.airlock", "greedy.result.txt",
	}; !slices.Equal(got, want) {
		t.Errorf("done/ holds %q\nwant %q", got, want)
	}
	if got := readDir(t, "in/rejected"); len(got) != 0 {
		t.Errorf("rejected/ still holds %q: the old refusal of greedy stays", got)
	}
	if !strings.Contains(string(mustRead(t, "in/done/cam-1.result.txt")), "outcome:    already done\n") {
		t.Errorf("cam-1.result.txt:\n%s", mustRead(t, "in/done/cam-1.result.txt"))
	}
	checkLicenses(t, 100, 6+2+50)
	if code, stdout, stderr := runApp(t, "", "authority", "verify"); code != 0 {
		t.Fatalf("verify: exit %d\n%s%s", code, stdout, stderr)
	}
}

// TestProcessFinishesAfterACrash stops a run at each stage between the
// commit and the last move, as a crash would (the hook panics; the
// scripts kill the process), then runs again: every file is answered and
// moved, with the codes of the first run, and nothing is reserved twice.
func TestProcessFinishesAfterACrash(t *testing.T) {
	for _, stage := range []string{"committed", "answered", "noted"} {
		t.Run(stage, func(t *testing.T) {
			_, identity, s := processDesk(t)
			in := map[string][]byte{
				"confirm-1.airlock": s.confirmation("old-1", mustRead(t, "old/old-1.authorization.airlock")),
				"return-2.txt":      s.ret("old-2", mustRead(t, "old/old-2.authorization.airlock")),
				"plant-4.airlock":   s.system("plant-4", 2),
				"greedy.airlock":    s.request("greedy", 100, s.auth),
			}
			for i := 1; i <= 20; i++ {
				in[fmt.Sprintf("cam-%02d.airlock", i)] = s.request(fmt.Sprintf("cam-%02d", i), 1, s.auth)
			}
			writeFiles(t, "in", in)
			args := []string{"authority", "process", "--identity", identity, "--account", "acme/plant", "--in", "in", "--out", "out"}
			crashed := func() (crashed bool) {
				defer func() { crashed = recover() == "crash" }()
				processHook = func(s string) {
					if s == stage {
						panic("crash")
					}
				}
				defer func() { processHook = nil }()
				runApp(t, "", args...)
				return false
			}()
			if !crashed {
				t.Fatal("the run did not reach the stage")
			}
			checkLicenses(t, 40, 4-1+2+20)
			var answers map[string][]byte
			if stage != "committed" {
				answers = map[string][]byte{}
				for _, n := range readDir(t, "out") {
					answers[n] = mustRead(t, "out/"+n)
				}
				if len(answers) != 24 {
					t.Errorf("the outbox holds %d files after the crash, want 24", len(answers))
				}
			}
			if got := len(readDir(t, "in")); got < 24 {
				t.Errorf("the inbox holds %d entries after the crash: files moved before their answers were written", got)
			}

			code, _, stderr := runApp(t, "", args...)
			if code != exitFailed || !strings.Contains(stderr, "airlock: 0 reserved, 0 confirmed, 0 returned, 0 systems, 1 rejected, 23 already done; answers in out\n") {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			for n, data := range answers {
				if strings.HasSuffix(n, answerSuffix) && !bytes.Equal(mustRead(t, "out/"+n), data) {
					t.Errorf("%s changed in the second run", n)
				}
			}
			if got := readDir(t, "in"); !slices.Equal(got, []string{"done", "rejected"}) {
				t.Errorf("the inbox holds %q", got)
			}
			if got := len(readDir(t, "in/done")); got != 2*23 {
				t.Errorf("done/ holds %d files, want %d", got, 2*23)
			}
			for i := 1; i <= 20; i++ {
				name := fmt.Sprintf("cam-%02d", i)
				s.open(name, mustRead(t, "out/"+name+".authorization.airlock"))
			}
			checkLicenses(t, 40, 4-1+2+20)
			if code, stdout, stderr := runApp(t, "", "authority", "verify"); code != 0 {
				t.Fatalf("verify: exit %d\n%s%s", code, stdout, stderr)
			}
		})
	}
}

// TestProcessOverSFTP works an inbox and an outbox on one SFTP server over
// one connection, with the host key checked against known_hosts: an
// unknown server is refused before anything changes.
func TestProcessOverSFTP(t *testing.T) {
	_, identity, s := processDesk(t)
	root := t.TempDir()
	writeFiles(t, filepath.Join(root, "drop", "in"), map[string][]byte{
		"cam-1.airlock":     s.request("cam-1", 1, s.auth),
		"cam-2.airlock":     s.request("cam-2", 2, s.auth),
		"confirm-1.airlock": s.confirmation("old-1", mustRead(t, "old/old-1.authorization.airlock")),
		"junk.txt":          []byte("not a code\n"),
	})
	if err := os.Mkdir(filepath.Join(root, "drop", "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	srv := droptest.NewServer(t, droptest.WithHandlers(droptest.NewDir(root).Handlers()), droptest.WithPassword("pw"))
	t.Setenv("HOME", t.TempDir()) // no default key files
	t.Setenv("SSH_AUTH_SOCK", "")
	t.Setenv(drop.PasswordEnv, "pw")
	known := filepath.Join(t.TempDir(), "known_hosts")
	base := fmt.Sprintf("sftp://bob@%s", srv.Addr)
	args := []string{"authority", "process", "--identity", identity, "--account", "acme/plant",
		"--in", base + "/drop/in/", "--out", base + "/drop/out", "--known-hosts", known}

	// An unknown host: refused, nothing changes.
	writeFiles(t, filepath.Dir(known), map[string][]byte{"known_hosts": nil})
	code, _, stderr := runApp(t, "", args...)
	if code != exitFailed || !strings.Contains(stderr, "airlock: error: --in: host key verification failed") || !strings.Contains(stderr, srv.KnownHostsLine(srv.HostKeys[0].PublicKey())) {
		t.Fatalf("unknown host: exit %d\n%s", code, stderr)
	}
	if got := len(readDir(t, filepath.Join(root, "drop", "in"))); got != 4 {
		t.Errorf("the inbox holds %d files after a refused connection", got)
	}
	checkLicenses(t, 40, 4)

	writeFiles(t, filepath.Dir(known), map[string][]byte{"known_hosts": []byte(srv.KnownHostsLine(srv.HostKeys[0].PublicKey()) + "\n")})
	before := srv.AuthAttempts.Load()
	code, _, stderr = runApp(t, "", args...)
	if code != exitFailed || !strings.Contains(stderr, "airlock: 2 reserved, 1 confirmed, 0 returned, 0 systems, 1 rejected, 0 already done; answers in "+base+"/drop/out\n") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if n := srv.AuthAttempts.Load() - before; n != 1 {
		t.Errorf("%d logins for the run, want 1", n)
	}
	s.open("cam-1", mustRead(t, filepath.Join(root, "drop", "out", "cam-1.authorization.airlock")))
	s.open("cam-2", mustRead(t, filepath.Join(root, "drop", "out", "cam-2.authorization.airlock")))
	if got, want := readDir(t, filepath.Join(root, "drop", "out")), []string{"cam-1.authorization.airlock", "cam-2.authorization.airlock", "confirm-1.result.txt", "junk.result.txt"}; !slices.Equal(got, want) {
		t.Errorf("the outbox holds %q, want %q", got, want)
	}
	if got, want := readDir(t, filepath.Join(root, "drop", "in")), []string{"done", "rejected"}; !slices.Equal(got, want) {
		t.Errorf("the inbox holds %q, want %q", got, want)
	}
	if got, want := readDir(t, filepath.Join(root, "drop", "in", "rejected")), []string{"junk.result.txt", "junk.txt"}; !slices.Equal(got, want) {
		t.Errorf("rejected/ holds %q, want %q", got, want)
	}

	// Dropped again: the same answer, nothing reserved twice.
	answer := mustRead(t, filepath.Join(root, "drop", "out", "cam-2.authorization.airlock"))
	os.Remove(filepath.Join(root, "drop", "out", "cam-2.authorization.airlock"))
	writeFiles(t, filepath.Join(root, "drop", "in"), map[string][]byte{"cam-2.airlock": mustRead(t, filepath.Join(root, "drop", "in", "done", "cam-2.airlock"))})
	code, _, stderr = runApp(t, "", args...)
	if code != 0 || !strings.Contains(stderr, "airlock: 0 reserved, 0 confirmed, 0 returned, 0 systems, 0 rejected, 1 already done;") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if !bytes.Equal(mustRead(t, filepath.Join(root, "drop", "out", "cam-2.authorization.airlock")), answer) {
		t.Error("the answer differs the second time")
	}
	checkLicenses(t, 40, 4+3)
}

func TestProcessUsageErrors(t *testing.T) {
	_, identity, _ := processDesk(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--out", "out"}, `
airlock: error: missing --in DIR, the inbox
airlock: hint: for example: --in /media/usb/in
airlock: hint: run 'airlock authority process --help' for usage`},
		{[]string{"--in", "in"}, `
airlock: error: missing --out DIR, the outbox for the answers
airlock: hint: for example: --out /media/usb/out
airlock: hint: run 'airlock authority process --help' for usage`},
		{[]string{"--in", "in", "--out", "./in/"}, `
airlock: error: --in and --out are the same folder: the answers would be taken for input
airlock: hint: for example: --in usb/in --out usb/out
airlock: hint: run 'airlock authority process --help' for usage`},
		{[]string{"--in", "in", "--out", "out", "--account", "acme"}, `
airlock: error: --account: invalid argument: account "acme" is not of the form ORG/ACCOUNT
airlock: hint: for example: --account acme/plant
airlock: hint: run 'airlock authority process --help' for usage`},
		{[]string{"--in", "sftp://drop.example/", "--out", "out"}, `
airlock: error: invalid sftp URL: no file path after the host: want sftp://drop.example/path/to/file
airlock: hint: write it as sftp://[user@]host[:port]/path/to/folder
airlock: hint: run 'airlock authority process --help' for usage`},
		{[]string{"--in", "in", "--out", "out", "extra"}, `
airlock: error: airlock authority process takes no arguments, got "extra"
airlock: hint: run 'airlock authority process --help' for usage`},
	}
	for _, tc := range tests {
		code, stdout, stderr := runApp(t, "", append([]string{"authority", "process", "--identity", identity}, tc.args...)...)
		if code != exitUsage || stdout != "" || "\n"+stderr != tc.want+"\n" {
			t.Errorf("%v: exit %d\nstdout %q\nstderr:\n%s\nwant:%s", tc.args, code, stdout, stderr, tc.want)
		}
	}
	// Refusals before anything changes: exit 1, the inbox untouched.
	writeFiles(t, "in", map[string][]byte{"a.txt": []byte("x")})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--in", "nowhere", "--out", "out", "--account", "acme/plant"}, "airlock: error: --in: open nowhere: no such file or directory\nairlock: hint: check the path\n"},
		{[]string{"--in", "in", "--out", "out", "--account", "acme/nowhere"}, "airlock: error: not found: "},
	} {
		code, _, stderr := runApp(t, "", append([]string{"authority", "process", "--identity", identity}, tc.args...)...)
		if code != exitFailed || !strings.HasPrefix(stderr, tc.want) {
			t.Errorf("%v: exit %d\n%s\nwant %s", tc.args, code, stderr, tc.want)
		}
	}
	if got := readDir(t, "in"); !slices.Equal(got, []string{"a.txt"}) {
		t.Errorf("the inbox holds %q", got)
	}
}

// TestProcessLeavesWhatItCannotTake: without --account a request stays in
// the inbox, with an error that says so, while a confirmation is applied.
func TestProcessLeavesWhatItCannotTake(t *testing.T) {
	_, identity, s := processDesk(t)
	writeFiles(t, "in", map[string][]byte{
		"cam-1.airlock":     s.request("cam-1", 1, s.auth),
		"plant-4.airlock":   s.system("plant-4", 1),
		"confirm-1.airlock": s.confirmation("old-1", mustRead(t, "old/old-1.authorization.airlock")),
	})
	code, _, stderr := runApp(t, "", "authority", "process", "--identity", identity, "--in", "in", "--out", "out")
	want := `airlock: 3 of 3 files processed
airlock: warning: cam-1.airlock: left in the inbox: no --account to take the licenses from
airlock: warning: plant-4.airlock: left in the inbox: no --account to take the licenses from
airlock: 0 reserved, 1 confirmed, 0 returned, 0 systems, 0 rejected, 0 already done; answers in out
airlock: error: 2 of 3 files left in the inbox (listed above)
airlock: hint: fix what is listed above and run the same command again: nothing is reserved twice
`
	if code != exitFailed || stderr != want {
		t.Fatalf("exit %d\n%s\nwant:\n%s", code, stderr, want)
	}
	if got := readDir(t, "in"); !slices.Equal(got, []string{"cam-1.airlock", "done", "plant-4.airlock"}) {
		t.Errorf("the inbox holds %q", got)
	}
	checkLicenses(t, 40, 4)
}

// TestProcessEncryptedFiles: files encrypted with age to the desk open with
// --identity; one encrypted to someone else is refused; the answers are
// encrypted to --to, and a file dropped again gets the same code,
// encrypted anew.
func TestProcessEncryptedFiles(t *testing.T) {
	_, identity, s := processDesk(t)
	ids, err := readIdentities([]string{identity})
	if err != nil {
		t.Fatal(err)
	}
	desk := ids[0].(*age.X25519Identity).Recipient()
	stranger, _ := age.GenerateX25519Identity()
	instance, _ := age.GenerateX25519Identity()
	seal1, err := seal.Encrypt(s.request("cam-1", 1, s.auth), desk)
	if err != nil {
		t.Fatal(err)
	}
	seal2, err := seal.Encrypt(s.request("cam-2", 1, s.auth), stranger.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, "in", map[string][]byte{"cam-1.age": seal1, "cam-2.age": seal2})
	args := []string{"authority", "process", "--identity", identity, "--account", "acme/plant", "--in", "in", "--out", "out", "--to", instance.Recipient().String()}
	code, _, stderr := runApp(t, "", args...)
	if code != exitFailed || !strings.Contains(stderr, "airlock: warning: cam-2.age: not encrypted to this identity: ") || !strings.Contains(stderr, "1 reserved, 0 confirmed, 0 returned, 0 systems, 1 rejected") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if res := string(mustRead(t, "in/rejected/cam-2.result.txt")); !strings.Contains(res, "what to do: the file is encrypted to someone else") || !strings.Contains(res, "then:       move the file back") {
		t.Errorf("cam-2.result.txt:\n%s", res)
	}
	open := func() []byte {
		b := mustRead(t, "out/cam-1.authorization.airlock")
		if _, err := codes.DecodeKind(b, codes.KindAuthorization); err == nil {
			t.Fatal("the answer is not encrypted")
		}
		code, err := codes.DecodeKind(b, codes.KindAuthorization, instance)
		if err != nil {
			t.Fatal(err)
		}
		s.open("cam-1", codes.EncodeArmor(codes.KindAuthorization, code))
		return code
	}
	first := open()
	writeFiles(t, "in", map[string][]byte{"cam-1.age": seal1})
	if code, _, stderr := runApp(t, "", args...); code != 0 || !strings.Contains(stderr, "1 already done") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if again := open(); !bytes.Equal(again, first) {
		t.Error("the file dropped again got another code")
	}
	checkLicenses(t, 40, 5)
}

// BenchmarkProcess measures authority process on an inbox of 2,000
// request files, each from its own instance, on a local folder: files/s
// from listing to the last move, with every answer synced.
//
//	go test -run='^$' -bench=Process -benchtime=3x ./cmd/airlock
func BenchmarkProcess(b *testing.B) {
	const n = 2000
	dir := b.TempDir()
	b.Chdir(dir)
	for i := range b.N {
		b.StopTimer()
		desk := filepath.Join(dir, fmt.Sprint("desk", i))
		in, out := filepath.Join(dir, fmt.Sprint("in", i)), filepath.Join(dir, fmt.Sprint("out", i))
		identity, s := benchDesk(b, desk, n)
		files := make(map[string][]byte, n)
		for j := range n {
			files[fmt.Sprintf("cam-%04d.airlock", j)] = s.request(fmt.Sprintf("cam-%04d", j), 1, s.auth)
		}
		writeFilesTB(b, in, files)
		b.StartTimer()
		var stdout, stderr bytes.Buffer
		code := run([]string{"airlock", "authority", "--dir", desk, "process", "--identity", identity, "--account", "acme/plant", "--in", in, "--out", out},
			strings.NewReader(""), &stdout, &stderr)
		if code != 0 {
			b.Fatalf("exit %d\n%s", code, stderr.String())
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "files/s")
}

// benchDesk makes an authority in dir with n licenses in acme/plant, its
// key encrypted to an age identity, and returns the identity file and a
// site for its key.
func benchDesk(b *testing.B, dir string, n int) (string, *dropSite) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		b.Fatal(err)
	}
	identity := dir + ".key"
	if err := os.WriteFile(identity, []byte(id.String()+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	for _, args := range [][]string{
		{"init", "--name", "desk", "--recipient", id.Recipient().String()},
		{"org", "add", "acme"},
		{"account", "add", "--org", "acme", "plant"},
		{"lot", "add", "--account", "acme/plant", "--tag", "vms.camera.core", "--count", fmt.Sprint(n)},
	} {
		var stderr bytes.Buffer
		if code := run(append([]string{"airlock", "authority", "--dir", dir}, args...), strings.NewReader(""), io.Discard, &stderr); code != 0 {
			b.Fatalf("%v: %s", args, stderr.String())
		}
	}
	trust, err := codes.ReadTrustFile(mustReadTB(b, filepath.Join(dir, "trust.airlock")))
	if err != nil {
		b.Fatal(err)
	}
	return identity, newDropSite(b, trust)
}

func mustReadTB(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A file name cannot forge lines of a result file or of the output, and a
// result file whose last line is not its own hash never claims a NAME.
func TestProcessNamesCannotForgeLines(t *testing.T) {
	_, identity, s := processDesk(t)
	req := s.request("cam-1", 1, s.auth)
	forged := fmt.Sprintf("x\nsha256: %x\nx.airlock", sha256.Sum256(req))
	writeFiles(t, "in", map[string][]byte{forged: []byte("junk\n")})
	code, _, stderr := runApp(t, "", "authority", "process", "--identity", identity, "--account", "acme/plant", "--in", "in", "--out", "out")
	if code != exitFailed || !strings.Contains(stderr, `airlock: warning: "x\nsha256: `) {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	res := mustRead(t, "in/rejected/"+baseStem(forged)+".result.txt")
	if strings.Count(string(res), "\nsha256: ") != 1 {
		t.Errorf("the name forged a line:\n%s", res)
	}
	if h, ok := resultHash(res); !ok || h != sha256.Sum256([]byte("junk\n")) {
		t.Errorf("resultHash = %x, %v", h, ok)
	}
	if _, ok := resultHash([]byte("sha256: 00\nmore\n")); ok {
		t.Error("resultHash took a line that does not end the file")
	}
}

// Binary files do not name their kind: a confirmation and a return have
// the same shape, and only the MAC tells which one a file is.
func TestProcessBinaryCodes(t *testing.T) {
	_, identity, s := processDesk(t)
	bin := func(armored []byte) []byte {
		d, err := codes.Decode(armored)
		if err != nil {
			t.Fatal(err)
		}
		return d.Code
	}
	writeFiles(t, "in", map[string][]byte{
		"cam-1.bin":     bin(s.request("cam-1", 1, s.auth)),
		"confirm-1.bin": bin(s.confirmation("old-1", mustRead(t, "old/old-1.authorization.airlock"))),
		"return-2.bin":  bin(s.ret("old-2", mustRead(t, "old/old-2.authorization.airlock"))),
	})
	code, stdout, stderr := runApp(t, "", "authority", "process", "--identity", identity, "--account", "acme/plant", "--in", "in", "--out", "out", "--json")
	if code != 0 || !strings.Contains(stderr, "airlock: 1 reserved, 1 confirmed, 1 returned, 0 systems, 0 rejected, 0 already done;") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{`"kind": "confirmation",`, `"kind": "return",`, `"kind": "request",`} {
		if !strings.Contains(stdout, want) {
			t.Errorf("--json lacks %s:\n%s", want, stdout)
		}
	}
	checkLicenses(t, 40, 4)
}

// TestProcessDefersFilesPastTheRoundBudget shrinks the bytes a round may
// hold to one: each round then holds a single file, the others wait for
// later rounds, and every file is processed once.
func TestProcessDefersFilesPastTheRoundBudget(t *testing.T) {
	_, identity, s := processDesk(t)
	old := roundBytes
	roundBytes = 1
	t.Cleanup(func() { roundBytes = old })
	writeFiles(t, "in", map[string][]byte{
		"cam-1.airlock": s.request("cam-1", 1, s.auth),
		"cam-2.airlock": s.request("cam-2", 1, s.auth),
		"cam-3.airlock": s.request("cam-3", 1, s.auth),
	})
	code, _, stderr := runApp(t, "", "authority", "process", "--identity", identity, "--account", "acme/plant", "--in", "in", "--out", "out", "--json")
	if code != 0 || !strings.Contains(stderr, "airlock: 3 reserved, 0 confirmed, 0 returned, 0 systems, 0 rejected, 0 already done") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, n := range []string{"cam-1", "cam-2", "cam-3"} {
		mustRead(t, "out/"+n+".authorization.airlock")
	}
}
