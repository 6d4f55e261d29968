package authority_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

// A journal plays one history of an instance's hash-chained journal: its
// head and count, the head its last usage report carried, and the codes
// it makes, the way package instance makes them. clone copies it, as a
// backup or a copy of the state folder would.
type journal struct {
	e     *env
	d     *device
	name  string // tells the heads of two histories apart
	count uint64
	head  []byte
	last  []byte // the head the last report carried
	res   []byte // the installed reservation
	ser   uint64
}

func (e *env) journal(d *device, a *authority.Authorized) *journal {
	j := &journal{e: e, d: d, name: "original", head: make([]byte, 32)}
	if a != nil {
		j.res, j.ser = resBytes(a), a.Authorization.Serial
	}
	j.step(3) // init, enable, request; the install comes with step below
	j.step(1)
	return j
}

// step writes n entries.
func (j *journal) step(n int) {
	for range n {
		j.count++
		h := sha256.Sum256(fmt.Appendf(j.head, "%s %d", j.name, j.count))
		j.head = h[:]
	}
}

func (j *journal) clone(name string) *journal {
	c := *j
	c.name = name
	return &c
}

// report makes a usage report for the day that ends now, then journals it.
func (j *journal) report() []byte {
	now := j.e.clk.Now().Unix()
	u := &codes.Usage{UDI: j.d.udi, From: now - 86400, To: now, HighWater: now,
		Tags:        []codes.TagUsage{{Tag: camera, Peak: 3, Current: 2}},
		JournalHead: bytes.Clone(j.head), JournalCount: j.count, PreviousHead: j.last}
	if j.res != nil {
		u.Reservation, u.Serial = j.res, j.ser
	}
	code, err := codes.SealUsage(u, j.d.mac())
	j.e.must(err)
	j.last = bytes.Clone(j.head)
	j.step(1)
	return code
}

// ret makes the return code of the installed reservation, then journals it.
func (j *journal) ret() []byte {
	code, err := codes.SealReturn(&codes.Return{Reservation: j.res, Serial: j.ser, Journal: bytes.Clone(j.head[:codes.JournalTagSize])}, j.d.mac())
	j.e.must(err)
	j.step(1)
	return code
}

func (e *env) importUsage(code []byte) *authority.UsageImported {
	e.t.Helper()
	e.clk.add(time.Minute)
	r, err := e.l.ImportUsage(ctx, code)
	e.must(err)
	return r
}

func (e *env) wantClean(r *authority.UsageImported) {
	e.t.Helper()
	if r.Fork != "" {
		e.t.Fatalf("report %x flagged: %s", r.Hash[:8], r.Fork)
	}
}

func (e *env) wantFork(r *authority.UsageImported, why string) {
	e.t.Helper()
	if !strings.Contains(r.Fork, why) {
		e.t.Fatalf("report %x: fork %q, want one containing %q", r.Hash[:8], r.Fork, why)
	}
}

// forks returns the instance's journal record and fork events.
func (e *env) forks(d *device) (*authority.Journal, []authority.Event) {
	e.t.Helper()
	s, err := e.l.Show(ctx, d.udi.String())
	e.must(err)
	for _, f := range s.Forks {
		if f.Action != "fork" {
			e.t.Fatalf("fork event of action %q", f.Action)
		}
	}
	if s.Forked() != (len(s.Forks) > 0) {
		e.t.Fatalf("Forked() = %v with %d fork events", s.Forked(), len(s.Forks))
	}
	return s.Journal, s.Forks
}

func (e *env) wantNoFork(d *device) {
	e.t.Helper()
	if _, fs := e.forks(d); len(fs) != 0 {
		e.t.Fatalf("%d fork events, first: %s", len(fs), fs[0].Detail)
	}
}

func TestUsageReportsOfOneHistoryAreNeverFlagged(t *testing.T) {
	e := newEnv(t)
	e.setup()
	d, a := e.reserved("cam-1")
	j := e.journal(d, a)
	first := j.report()
	e.wantClean(e.importUsage(first))
	for range 3 {
		e.clk.add(24 * time.Hour)
		j.step(5) // requests, clock events: whatever the instance journals
		e.wantClean(e.importUsage(j.report()))
	}
	// The same report again changes nothing.
	again := e.importUsage(first)
	if !again.Again || !strings.Contains(again.Note, "was imported") {
		t.Fatalf("the same report again: %+v", again)
	}
	// A report lost on the way, then the next one: a gap, not a fork.
	lost := j.report()
	next := j.report()
	r := e.importUsage(next)
	e.wantClean(r)
	if !r.Gap {
		t.Fatal("a report after a lost one is not marked as following a gap")
	}
	// The lost one found later: an older report of the same history.
	r = e.importUsage(lost)
	e.wantClean(r)
	if !r.Late {
		t.Fatal("a late report is not marked late")
	}
	e.wantClean(e.importUsage(j.report()))

	jr, _ := e.forks(d)
	e.wantNoFork(d)
	if jr == nil || jr.Count != j.count-1 || jr.Forks != 0 {
		t.Fatalf("journal record %+v, want count %d", jr, j.count-1)
	}
	hist, err := e.l.History(ctx, authority.HistoryFilter{Instance: d.udi.String()})
	e.must(err)
	usage := 0
	for _, ev := range hist {
		if ev.Action == "usage" {
			usage++
			if !strings.Contains(ev.Detail, "vms.camera.core peak 3, now 2") || !strings.Contains(ev.Detail, "journal count") {
				t.Errorf("usage event: %s", ev.Detail)
			}
		}
	}
	if usage != 7 {
		t.Errorf("%d usage events, want 7", usage)
	}
	e.verify()
}

// TestCopyOfTheStateFolderIsFlagged: a copy taken after a report that
// goes on beside the original makes a report that follows the same
// previous report as the original's: flagged, and recorded. The
// original is never refused anything.
func TestCopyOfTheStateFolderIsFlagged(t *testing.T) {
	e := newEnv(t)
	e.setup()
	d, a := e.reserved("cam-1")
	j := e.journal(d, a)
	e.wantClean(e.importUsage(j.report()))
	cp := j.clone("copy")

	e.clk.add(24 * time.Hour)
	j.step(2)
	e.wantClean(e.importUsage(j.report()))
	cp.step(1)
	forked := cp.report()
	r := e.importUsage(forked)
	e.wantFork(r, "had already left behind")

	jr, fs := e.forks(d)
	if jr.Forks != 1 || len(fs) != 1 || !bytes.Equal(fs[0].CodeHash, hashOf(forked)) || jr.FirstFork == 0 {
		t.Fatalf("journal record %+v, fork events %v", jr, fs)
	}
	if !strings.HasPrefix(fs[0].Detail, "2 journal histories: usage report ") {
		t.Errorf("fork detail %q", fs[0].Detail)
	}
	// Both copies go on: each report that does not follow the last one
	// imported is flagged again.
	e.wantFork(e.importUsage(j.report()), "had already left behind")

	// Never a lock: the instance's codes are taken as before.
	u, err := e.l.Update(ctx, d.udi.String(), []codes.License{lic(camera, 4)})
	e.must(err)
	_, err = e.l.Confirm(ctx, d.confirm(resBytes(a), u.Authorization.Serial))
	e.must(err)
	_, err = e.l.Return(ctx, d.ret(resBytes(a), u.Authorization.Serial, false))
	e.must(err)
	e.wantBalance("acme/plant", camera, 25, 25, 0, 0)
	e.verify()
}

func TestTwoReportsFromOneStateAreFlagged(t *testing.T) {
	e := newEnv(t)
	e.setup()
	d, a := e.reserved("cam-1")
	j := e.journal(d, a)
	cp := j.clone("copy")
	e.wantClean(e.importUsage(j.report()))
	e.clk.add(time.Hour) // the copy's report covers another period
	e.wantFork(e.importUsage(cp.report()), "made from the same journal state")
}

func TestStateFromBeforeTheFirstReportIsFlagged(t *testing.T) {
	e := newEnv(t)
	e.setup()
	d, a := e.reserved("cam-1")
	j := e.journal(d, a)
	backup := j.clone("backup")
	e.wantClean(e.importUsage(j.report()))
	j.step(3)
	e.wantClean(e.importUsage(j.report()))
	backup.step(1)
	r := e.importUsage(backup.report())
	e.wantFork(r, "names no previous report")
	e.wantFork(r, "its journal count went back from")
}

// TestJournalCountThatDoesNotGrowIsFlagged: a report that names the last
// one as its previous but counts no more entries cannot come from one
// history (every report adds an entry).
func TestJournalCountThatDoesNotGrowIsFlagged(t *testing.T) {
	e := newEnv(t)
	e.setup()
	d, a := e.reserved("cam-1")
	j := e.journal(d, a)
	e.wantClean(e.importUsage(j.report()))
	j.step(3)
	e.wantClean(e.importUsage(j.report()))
	j.count -= 4
	e.wantFork(e.importUsage(j.report()), "no more than that report")
}

// TestReportNamingAReturnedReservationIsFlagged: a backup taken while
// reserved, restored after the return, still runs the reservation; its
// next report says so. A report made before the return and imported
// after it is not flagged.
func TestReportNamingAReturnedReservationIsFlagged(t *testing.T) {
	e := newEnv(t)
	e.setup()
	d, a := e.reserved("cam-1")
	j := e.journal(d, a)
	e.wantClean(e.importUsage(j.report()))
	backup := j.clone("backup")
	before := j.report()
	e.clk.add(time.Hour)
	_, err := e.l.Return(ctx, j.ret())
	e.must(err)
	e.wantClean(e.importUsage(before))

	e.clk.add(24 * time.Hour)
	backup.step(2)
	r := e.importUsage(backup.report())
	e.wantFork(r, "but that reservation was returned")
	e.wantBalance("acme/plant", camera, 25, 25, 0, 0)
	e.verify()
}

// TestReturnFromASecondHistoryIsFlagged: a backup restored after the
// return returns the same reservation again with another journal tag:
// refused as before (the reservation is closed), and flagged once. The
// same return code twice stays harmless.
func TestReturnFromASecondHistoryIsFlagged(t *testing.T) {
	e := newEnv(t)
	e.setup()
	d, a := e.reserved("cam-1")
	j := e.journal(d, a)
	backup := j.clone("backup")
	j.step(1)
	atReturn := j.clone("at the return")
	first := j.ret()
	_, err := e.l.Return(ctx, first)
	e.must(err)
	r, err := e.l.Return(ctx, first)
	e.must(err)
	if !r.Again {
		t.Fatalf("the same return again: %+v", r)
	}
	e.wantNoFork(d)

	second := backup.ret()
	if bytes.Equal(second, first) {
		t.Fatal("the test's two histories made the same return code")
	}
	_, err = e.l.Return(ctx, second)
	wantErr(t, err, authority.ErrClosed)
	if !strings.Contains(err.Error(), "returned from two histories") {
		t.Fatalf("error %v does not say why", err)
	}
	jr, fs := e.forks(d)
	if jr.Forks != 1 || len(fs) != 1 || !bytes.Equal(fs[0].CodeHash, hashOf(second)) {
		t.Fatalf("journal record %+v, fork events %v", jr, fs)
	}
	// The same forked code again: refused, not flagged twice.
	_, err = e.l.Return(ctx, second)
	wantErr(t, err, authority.ErrClosed)
	if !strings.Contains(err.Error(), "was flagged") {
		t.Fatalf("error %v", err)
	}
	if jr, _ := e.forks(d); jr.Forks != 1 {
		t.Fatalf("flagged %d times", jr.Forks)
	}
	// A state restored from the very moment of the return makes the same
	// code: nothing tells the two apart, and nothing more is flagged.
	r, err = e.l.Return(ctx, atReturn.ret())
	e.must(err)
	if !r.Again {
		t.Fatalf("the same state's return: %+v", r)
	}
	if jr, _ := e.forks(d); jr.Forks != 1 {
		t.Fatalf("flagged %d times", jr.Forks)
	}
	e.wantBalance("acme/plant", camera, 25, 25, 0, 0)
	// The instance may reserve again.
	_, err = e.l.Reserve(ctx, "acme/plant", d.request(lic(camera, 1)), nil)
	e.must(err)
	e.verify()
}

func TestUsageImportRefusals(t *testing.T) {
	e := newEnv(t)
	e.setup()
	d, a := e.reserved("cam-1")
	j := e.journal(d, a)
	stranger := e.device("cam-9")
	sj := &journal{e: e, d: stranger, head: make([]byte, 32)}
	sj.step(1)
	_, err := e.l.ImportUsage(ctx, sj.report())
	wantErr(t, err, authority.ErrNotFound)
	code := j.report()
	bad := bytes.Clone(code)
	bad[len(bad)-1] ^= 1
	_, err = e.l.ImportUsage(ctx, bad)
	wantErr(t, err, codes.ErrBadSignature)
	m, err := e.l.Meta(ctx)
	e.must(err)
	e.clk.add(time.Minute)
	e.wantClean(e.importUsage(code))
	m2, err := e.l.Meta(ctx)
	e.must(err)
	if m2.HistoryCount != m.HistoryCount+1 {
		t.Fatalf("history grew from %d to %d", m.HistoryCount, m2.HistoryCount)
	}
}
