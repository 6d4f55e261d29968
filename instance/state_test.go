package instance

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/codes"
)

// TestCorruptStateIsReportedNeverReplaced (T74): a flipped bit, a file
// truncated to nothing or to half, or a file replaced by something else is
// an error that names the file and what to do, never a fresh state. An
// older valid copy is accepted (offline, it cannot be told apart).
func TestCorruptStateIsReportedNeverReplaced(t *testing.T) {
	b := newBench(t)
	b.reserve(cameras(3))
	good := b.stateBytes()
	path := filepath.Join(b.dir, stateName)
	flip := func(i int) []byte {
		c := bytes.Clone(good)
		c[i] ^= 0x10
		return c
	}
	cases := map[string][]byte{
		"empty":            {},
		"half":             good[:len(good)/2],
		"no checksum":      good[:len(good)-checksumSize],
		"bit in the magic": flip(3),
		"bit in the core":  flip(len(magic) + 20),
		"bit in the code":  flip(len(good) / 2),
		"bit in the sum":   flip(len(good) - 1),
		"text":             []byte("hello\n"),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			b.must(os.WriteFile(path, data, 0o600))
			_, err := Open(b.dir)
			wantErr(t, err, ErrCorrupt, path, "restore the state folder from a backup")
			// The instance that had it open refuses too, and does not
			// write over it.
			wantErr(t, b.in.Acquire(tagCamera, 1), ErrCorrupt)
			if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
				t.Error("the damaged file was replaced")
			}
		})
	}
	b.must(os.WriteFile(path, good, 0o600))
	b.must(b.in.Acquire(tagCamera, 1))
	// An older valid copy cannot be told apart offline: it opens.
	b.must(os.WriteFile(path, good, 0o600))
	in := b.open()
	if in.InUse(tagCamera) != 0 {
		t.Error("the older copy did not take")
	}
}

func TestRequestTooLargeToCarryIsRefused(t *testing.T) {
	b := newBench(t)
	b.must(b.in.Enable())
	var wanted []codes.License
	for i := 0; i < 200; i++ {
		wanted = append(wanted, codes.License{Tag: fmt.Sprintf("vms.feature.%03d.%s", i, strings.Repeat("x", 60)), Count: 1})
	}
	_, err := b.in.Request(wanted)
	wantErr(t, err, codes.ErrInvalid, "ask for fewer licenses")
	if m := b.mode(); m != ModeEnabled {
		t.Errorf("mode %s", m)
	}
}

func TestEveryBitFlipOfTheStateIsDetected(t *testing.T) {
	b := newBench(t)
	b.reserve(cameras(3))
	good := b.stateBytes()
	path := filepath.Join(b.dir, stateName)
	for i := 0; i < len(good); i += 7 {
		c := bytes.Clone(good)
		c[i] ^= 1 << (i % 8)
		b.must(os.WriteFile(path, c, 0o600))
		if _, err := Open(b.dir); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("bit %d of byte %d flipped: %v", i%8, i, err)
		}
	}
}

// TestStateWithAForgedCodeIsCorrupt: a state whose checksum was recomputed
// around an altered authorization code does not open: the code is verified
// on every Open.
func TestStateWithAForgedCodeIsCorrupt(t *testing.T) {
	b := newBench(t)
	b.reserve(cameras(3))
	b.in.mu.Lock()
	st := b.in.st
	st.core.Installed[len(st.core.Installed)-1] ^= 1
	data, _, err := st.encode()
	b.in.mu.Unlock()
	b.must(err)
	b.must(os.WriteFile(filepath.Join(b.dir, stateName), data, 0o600))
	_, err = Open(b.dir)
	wantErr(t, err, ErrCorrupt, "the installed authorization code does not verify")
}

func TestStateOfANewerFormatIsRefused(t *testing.T) {
	b := newBench(t)
	b.must(os.WriteFile(filepath.Join(b.dir, stateName), []byte("airlock instance state v2\nwhatever"), 0o600))
	_, err := Open(b.dir)
	wantErr(t, err, ErrFormat, "v2", "newer airlock")
}

func TestSymlinkedStateIsRefused(t *testing.T) {
	b := newBench(t)
	path := filepath.Join(b.dir, stateName)
	b.must(os.Rename(path, path+".real"))
	b.must(os.Symlink(path+".real", path))
	_, err := Open(b.dir)
	wantErr(t, err, ErrPermissions, "not a regular file")
}

func TestTemporaryFilesAreSweptAtOpen(t *testing.T) {
	b := newBench(t)
	left := filepath.Join(b.dir, tempPrefix+stateName+"-123456")
	b.must(os.WriteFile(left, []byte("half a state"), 0o600))
	other := filepath.Join(b.dir, "notes.txt")
	b.must(os.WriteFile(other, []byte("mine"), 0o600))
	b.open()
	if _, err := os.Stat(left); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover temporary file: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("a file not ours was swept: %v", err)
	}
}

// faultFS fails the step named by fail, the nth time it comes.
type faultFS struct {
	osFS
	fail string // "create", "write", "short", "sync", "close", "rename", "syncdir"
}

var errInjected = errors.New("injected fault")

func (f *faultFS) CreateTemp(dir, pattern string) (tempFile, error) {
	if f.fail == "create" {
		return nil, errInjected
	}
	tf, err := f.osFS.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	return &faultFile{tf, f.fail}, nil
}

func (f *faultFS) Rename(oldpath, newpath string) error {
	if f.fail == "rename" {
		return errInjected
	}
	return f.osFS.Rename(oldpath, newpath)
}

func (f *faultFS) SyncDir(dir string) error {
	if f.fail == "syncdir" {
		return errInjected
	}
	return f.osFS.SyncDir(dir)
}

type faultFile struct {
	tempFile
	fail string
}

func (f *faultFile) Write(p []byte) (int, error) {
	switch f.fail {
	case "write":
		return 0, errInjected
	case "short":
		n, _ := f.tempFile.Write(p[:len(p)/2])
		return n, nil
	}
	return f.tempFile.Write(p)
}

func (f *faultFile) Sync() error {
	if f.fail == "sync" {
		return errInjected
	}
	return f.tempFile.Sync()
}

func (f *faultFile) Close() error {
	err := f.tempFile.Close()
	if f.fail == "close" {
		return errInjected
	}
	return err
}

// TestWriteFailuresLeaveTheOldState (T76): a failure at each step of the
// write is reported, leaves the old state in place (but for a failed sync
// of the folder, after which the new state is in place) and no temporary
// file, and the next write works.
func TestWriteFailuresLeaveTheOldState(t *testing.T) {
	for _, step := range []string{"create", "write", "short", "sync", "close", "rename", "syncdir"} {
		t.Run(step, func(t *testing.T) {
			b := newBench(t)
			b.reserve(cameras(3))
			before := b.stateBytes()
			fsys := &faultFS{fail: step}
			in := b.open(withFS(fsys))
			ret, err := in.Return()
			wantErr(t, err, ErrPersist)
			if ret != nil {
				t.Error("a return code from a failed return")
			}
			entries, _ := os.ReadDir(b.dir)
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), tempPrefix) {
					t.Errorf("temporary file %s left", e.Name())
				}
			}
			after, err := Open(b.dir)
			b.must(err)
			st, err := after.Status()
			b.must(err)
			if step == "syncdir" {
				if st.Mode != ModeEnabled {
					t.Errorf("after a failed folder sync: mode %s, want the new state", st.Mode)
				}
			} else {
				if !bytes.Equal(before, b.stateBytes()) || st.Mode != ModeReserved {
					t.Errorf("the old state is gone: mode %s", st.Mode)
				}
				if !in.Licensed(tagCamera) || in.Available(tagCamera) != 3 {
					t.Error("the failed return took the licenses away in memory")
				}
			}
			fsys.fail = ""
			ret, err = in.Return()
			b.must(err)
			if _, err := codes.OpenReturn(ret.Code, b.pairwise()); err != nil {
				t.Error(err)
			}
			if ret.Again != (step == "syncdir") {
				t.Errorf("again %v", ret.Again)
			}
		})
	}
}

func TestASecondWriterWaitsThenFails(t *testing.T) {
	b := newBench(t)
	in := b.open(WithLockWait(50 * time.Millisecond))
	lk, err := lockDir(b.dir, time.Second)
	b.must(err)
	start := time.Now()
	err = in.Acquire(tagCamera, 1)
	wantErr(t, err, ErrLocked, fmt.Sprintf("process %d holds the lock", os.Getpid()), "waited 50ms")
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("gave up after %s", d)
	}
	done := make(chan error)
	go func() { done <- b.in.Acquire(tagCamera, 1) }()
	time.Sleep(20 * time.Millisecond)
	lk.unlock()
	b.must(<-done)
}

func TestUsageReport(t *testing.T) {
	b := newBench(t)
	b.reserve(cameras(10), analytics(2, t0, t0.Add(365*day)))
	b.must(b.in.Acquire(tagCamera, 7))
	b.must(b.in.Release(tagCamera, 5))
	b.must(b.in.Acquire(tagAnalytics, 1))
	b.clock.add(30 * day)
	code, err := b.in.UsageReport()
	b.must(err)
	u, err := codes.OpenUsage(code, b.pairwise())
	b.must(err)
	st, _ := b.in.Status()
	if u.From != t0.Unix() || u.To != t0.Add(30*day).Unix() || u.HighWater != u.To || !bytes.Equal(u.Reservation, resA) || u.Serial != 1 {
		t.Errorf("report %+v", u)
	}
	want := []codes.TagUsage{{Tag: tagAnalytics, Peak: 1, Current: 1}, {Tag: tagCamera, Peak: 7, Current: 2}}
	if fmt.Sprint(u.Tags) != fmt.Sprint(want) {
		t.Errorf("tags %+v, want %+v", u.Tags, want)
	}
	if st.Journal.Count == 0 {
		t.Error("no journal")
	}
	last, err := b.in.LastUsageReport()
	b.must(err)
	if !bytes.Equal(last, code) {
		t.Error("the last report differs")
	}
	// The next period starts where this one ended, peaks from what is in
	// use.
	b.clock.add(day)
	code, err = b.in.UsageReport()
	b.must(err)
	u, err = codes.OpenUsage(code, b.pairwise())
	b.must(err)
	want = []codes.TagUsage{{Tag: tagAnalytics, Peak: 1, Current: 1}, {Tag: tagCamera, Peak: 2, Current: 2}}
	if u.From != t0.Add(30*day).Unix() || fmt.Sprint(u.Tags) != fmt.Sprint(want) {
		t.Errorf("second report %+v", u)
	}
}

func TestUsageReportWithoutReservation(t *testing.T) {
	b := newBench(t)
	b.must(b.in.Acquire(tagCamera, 2))
	code, err := b.in.UsageReport()
	b.must(err)
	u, err := codes.OpenUsage(code, b.pairwise())
	b.must(err)
	if u.Reservation != nil || len(u.Tags) != 1 {
		t.Errorf("report %+v", u)
	}
}

// TestSystemFile: with reservation enabled, a system description is a
// request in another form: it records its nonce as pending, and the code
// answering it installs.
func TestSystemFile(t *testing.T) {
	b := newBench(t)
	comps := []codes.Component{{ID: "SN-1", Model: "Camera X1", Tag: "vms.camera.hw"}}
	demand := []codes.License{{Tag: tagCamera, Count: 4}}
	// Without reservation enabled it only describes: nothing changes.
	before := b.stateBytes()
	_, err := b.in.SystemFile("plant 4", comps, demand)
	b.must(err)
	if !bytes.Equal(before, b.stateBytes()) {
		t.Error("a system file of an instance in evaluation changed the state")
	}
	b.must(b.in.Enable())
	code, err := b.in.SystemFile("plant 4", comps, demand)
	b.must(err)
	s, err := codes.OpenSystem(code, b.f.Authority)
	b.must(err)
	if s.Name != "plant 4" || !s.UDI.Equal(b.f.UDI) || len(s.Components) != 1 || len(s.Demand) != 1 || s.IssuedAt != t0.Unix() {
		t.Errorf("system %+v", s)
	}
	if m := b.mode(); m != ModeReserving {
		t.Errorf("mode %s after a system file, want reserving", m)
	}
	before = b.stateBytes()
	_, err = b.in.SystemFile("", nil, nil)
	wantErr(t, err, codes.ErrMalformed, "system name")
	if !bytes.Equal(before, b.stateBytes()) {
		t.Error("a malformed system file changed the state")
	}
	got, err := b.in.Install(b.sign(grant{nonce: s.Nonce, ents: []codes.Entitlement{cameras(4)}}))
	b.must(err)
	if got.Update || got.Authorization.Serial != 1 {
		t.Errorf("installed %+v", got)
	}
}

func TestNoAuthorityKeyValidNow(t *testing.T) {
	f := fx(t)
	k, err := codes.GenerateAuthorityKey(bytes.NewReader(bytes.Repeat([]byte{7}, 64)), t0.Add(-365*day), t0.Add(day))
	check(t, err)
	b2 := &bench{t: t, dir: filepath.Join(t.TempDir(), "s"), clock: newClock(t0), f: f}
	trust := &codes.TrustSet{Sequence: 1, Keys: []codes.AuthorityPublicKey{k.Public}, IssuedAt: t0.Unix()}
	b2.in, err = Init(b2.dir, f.UDI, trust, WithClock(b2.clock.Now))
	check(t, err)
	b2.must(b2.in.Enable())
	b2.clock.add(2 * day)
	_, err = b2.in.Request(nil)
	wantErr(t, err, ErrNoAuthorityKey, "no key of the trust set (sequence 1) is valid at 2025-01-17T09:30:00Z")
}

func TestJournalChainsAndKeepsTheLastEntries(t *testing.T) {
	bb := newBench(t)
	bb.must(bb.in.Enable())
	for i := 0; i < maxJournal; i++ {
		bb.must(first(bb.in.Request(nil)))
		bb.must(bb.in.Cancel())
	}
	j, err := bb.in.Journal()
	bb.must(err)
	st, _ := bb.in.Status()
	if len(j) != maxJournal || st.Journal.Count != 2+2*maxJournal || !bytes.Equal(j[len(j)-1].Hash, st.Journal.Head) {
		t.Errorf("%d entries kept, %d written", len(j), st.Journal.Count)
	}
	if j[0].Event != "request" && j[0].Event != "cancel" {
		t.Errorf("oldest kept %+v", j[0])
	}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv(EnvStateDir, "/srv/state")
	if d, _ := DefaultDir(); d != "/srv/state" {
		t.Errorf("with %s: %s", EnvStateDir, d)
	}
	t.Setenv(EnvStateDir, "")
	d, err := DefaultDir()
	check(t, err)
	if os.Geteuid() == 0 {
		if d != "/var/lib/airlock" {
			t.Errorf("root: %s", d)
		}
		return
	}
	t.Setenv("XDG_STATE_HOME", "/x")
	if d, _ := DefaultDir(); d != "/x/airlock" {
		t.Errorf("with XDG_STATE_HOME: %s", d)
	}
}
