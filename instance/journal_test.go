package instance

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/airlock-dev/airlock/codes"
)

// openUsage opens a usage report made by the bench's instance.
func (b *bench) openUsage(code []byte) *codes.Usage {
	b.t.Helper()
	u, err := codes.OpenUsage(code, b.pairwise())
	b.must(err)
	return u
}

// TestUsageReportsChainByJournalHead: each report carries the journal's
// head and entry count, and the head the report before it carried, so
// that the authority can follow one history; the first names none.
func TestUsageReportsChainByJournalHead(t *testing.T) {
	b := newBench(t)
	b.reserve(cameras(10))
	first := b.openUsage(b.must1(b.in.UsageReport()))
	st, err := b.in.Status()
	b.must(err)
	if first.PreviousHead != nil {
		t.Errorf("first report names a previous head %x", first.PreviousHead)
	}
	// The report carries the journal as it was before its own entry.
	if first.JournalCount != st.Journal.Count-1 || len(first.JournalHead) != 32 {
		t.Errorf("first report: count %d, journal now %d", first.JournalCount, st.Journal.Count)
	}
	b.clock.add(day)
	second := b.openUsage(b.must1(b.in.UsageReport()))
	if !bytes.Equal(second.PreviousHead, first.JournalHead) {
		t.Errorf("second report's previous head %x, want the first's head %x", second.PreviousHead, first.JournalHead)
	}
	if second.JournalCount <= first.JournalCount || bytes.Equal(second.JournalHead, first.JournalHead) {
		t.Errorf("journal did not move between reports: %d %x, then %d %x", first.JournalCount, first.JournalHead, second.JournalCount, second.JournalHead)
	}
	// Another process reading the same folder continues the same chain.
	b.clock.add(day)
	third := b.openUsage(b.must1(b.open().UsageReport()))
	if !bytes.Equal(third.PreviousHead, second.JournalHead) {
		t.Errorf("third report's previous head %x, want %x", third.PreviousHead, second.JournalHead)
	}
}

// TestLastUsageReportIsTheSameBytes: the report kept for --again is the
// one made, byte for byte, and asking for it changes nothing: the next
// report still names the kept one as its previous.
func TestLastUsageReportIsTheSameBytes(t *testing.T) {
	b := newBench(t)
	code := b.must1(b.in.UsageReport())
	before := b.stateBytes()
	for range 2 {
		again, err := b.open().LastUsageReport()
		b.must(err)
		if !bytes.Equal(again, code) {
			t.Fatal("the kept report differs from the one made")
		}
	}
	if !bytes.Equal(b.stateBytes(), before) {
		t.Fatal("reading the last report changed the state")
	}
	b.clock.add(day)
	next := b.openUsage(b.must1(b.in.UsageReport()))
	if !bytes.Equal(next.PreviousHead, b.openUsage(code).JournalHead) {
		t.Fatal("the next report does not name the kept one")
	}
}

// TestCopiesOfTheStateMakeReportsThatDiverge: a copy of the state folder
// (a backup restored, a clone) that goes on working makes reports whose
// journal differs from the original's though both name the same previous
// report: what the authority flags.
func TestCopiesOfTheStateMakeReportsThatDiverge(t *testing.T) {
	b := newBench(t)
	b.reserve(cameras(10))
	base := b.openUsage(b.must1(b.in.UsageReport()))
	saved := b.stateBytes()

	b.clock.add(day)
	orig := b.openUsage(b.must1(b.in.UsageReport()))

	copyDir := filepath.Join(t.TempDir(), "copy")
	b.must(os.Mkdir(copyDir, 0o700))
	b.must(os.WriteFile(filepath.Join(copyDir, stateName), saved, 0o600))
	clone, err := Open(copyDir, WithClock(b.clock.Now))
	b.must(err)
	ret, err := clone.Return()
	b.must(err)
	b.clock.add(day)
	other := b.openUsage(b.must1(clone.UsageReport()))

	if !bytes.Equal(orig.PreviousHead, base.JournalHead) || !bytes.Equal(other.PreviousHead, base.JournalHead) {
		t.Fatal("both copies should name the last common report")
	}
	if bytes.Equal(orig.JournalHead, other.JournalHead) {
		t.Fatal("two histories carry the same journal head")
	}
	r, err := codes.OpenReturn(ret.Code, b.pairwise())
	b.must(err)
	if !bytes.Equal(r.Journal, orig.JournalHead[:codes.JournalTagSize]) {
		t.Errorf("the copy's return tag %x, want the head it returned at %x", r.Journal, orig.JournalHead[:2])
	}
}

// TestReturnCodeCarriesTheJournalTagAndIsKept: the return code tags the
// journal head from before the return's own entry; Return again gives the
// same code, and so does a restored state that returns from the very same
// journal, while one whose journal moved on makes another tag.
func TestReturnCodeCarriesTheJournalTagAndIsKept(t *testing.T) {
	b := newBench(t)
	b.reserve(cameras(10))
	before, err := b.in.Status()
	b.must(err)
	saved := b.stateBytes()
	ret, err := b.in.Return()
	b.must(err)
	r, err := codes.OpenReturn(ret.Code, b.pairwise())
	b.must(err)
	if !bytes.Equal(r.Journal, before.Journal.Head[:codes.JournalTagSize]) {
		t.Fatalf("return tag %x, want the head before the return %x", r.Journal, before.Journal.Head[:2])
	}
	again, err := b.open().Return()
	b.must(err)
	if !again.Again || !bytes.Equal(again.Code, ret.Code) {
		t.Fatalf("return again: %+v", again)
	}

	// The same state restored returns the same code: nothing to flag.
	b.must(os.WriteFile(filepath.Join(b.dir, stateName), saved, 0o600))
	same, err := b.open().Return()
	b.must(err)
	if !bytes.Equal(same.Code, ret.Code) {
		t.Fatal("the same state made another return code")
	}
	// Restored, then used on: its journal moved, its return differs.
	b.must(os.WriteFile(filepath.Join(b.dir, stateName), saved, 0o600))
	restored := b.open()
	b.clock.add(day)
	_, err = restored.UsageReport()
	b.must(err)
	now, err := restored.Status()
	b.must(err)
	if bytes.Equal(now.Journal.Head, before.Journal.Head) {
		t.Fatal("the usage report did not move the journal")
	}
	moved, err := restored.Return()
	b.must(err)
	m, err := codes.OpenReturn(moved.Code, b.pairwise())
	b.must(err)
	// Tags of two heads collide once in 65 536: compare with the head.
	if !bytes.Equal(m.Journal, now.Journal.Head[:codes.JournalTagSize]) || m.Serial != r.Serial {
		t.Fatalf("restored return %+v, want serial %d with tag %x", m, r.Serial, now.Journal.Head[:2])
	}
}

// TestReturnCodesStayWithinTheTypedTarget: the journal tag goes into a
// return code only while the typed code stays within 51 letters and
// digits: a return of serial 1 to 23 carries it; a return-authorization
// and a return of serial 24 or more go without it.
func TestReturnCodesStayWithinTheTypedTarget(t *testing.T) {
	open := func(b *bench, code []byte) *codes.Return {
		t.Helper()
		if n := codes.TypedLen(codes.KindReturn, code); n > codes.MaxTypedReturn {
			t.Fatalf("typed return code of %d characters, the target is %d", n, codes.MaxTypedReturn)
		}
		r, err := codes.OpenReturn(code, b.pairwise())
		b.must(err)
		return r
	}

	b := newBench(t)
	nonce := b.request()
	ret, err := b.in.ReturnAuthorization(b.sign(grant{nonce: nonce}))
	b.must(err)
	if r := open(b, ret.Code); !r.NeverInstalled || r.Journal != nil {
		t.Errorf("return-authorization %+v: want never installed, without a tag (53 characters with it)", r)
	}

	b = newBench(t)
	b.reserve(cameras(10))
	st, err := b.in.Status()
	b.must(err)
	ret, err = b.in.Return()
	b.must(err)
	if r := open(b, ret.Code); !bytes.Equal(r.Journal, st.Journal.Head[:codes.JournalTagSize]) || codes.TypedLen(codes.KindReturn, ret.Code) != 50 {
		t.Errorf("return of serial 1: %+v in %d characters, want the tag in 50", r, codes.TypedLen(codes.KindReturn, ret.Code))
	}

	for serial, tagged := range map[uint64]bool{23: true, 24: false} {
		b = newBench(t)
		b.reserve(cameras(10))
		_, err = b.in.Install(b.sign(grant{serial: serial}))
		b.must(err)
		ret, err = b.in.Return()
		b.must(err)
		if r := open(b, ret.Code); (r.Journal != nil) != tagged || r.Serial != serial {
			t.Errorf("return of serial %d: %+v, want tagged %v", serial, r, tagged)
		}
	}
}

// must1 returns b, failing the test on err.
func (b *bench) must1(code []byte, err error) []byte {
	b.t.Helper()
	b.must(err)
	return code
}
