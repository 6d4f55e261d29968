package instance

import (
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/codes"
)

// TestClockToleranceEdges: the clock may be up to the tolerance behind the
// last time seen, to the second, and no further.
func TestClockToleranceEdges(t *testing.T) {
	b := newBench(t)
	end := t0.Add(400 * day)
	b.reserve(cameras(1), analytics(1, t0, end))
	b.clock.add(10 * day)
	b.must(b.in.Acquire(tagCamera, 1)) // records the time seen
	seen := b.clock.Now()
	for _, c := range []struct {
		back    time.Duration
		anomaly bool
	}{
		{0, false},
		{DefaultClockTolerance - time.Second, false},
		{DefaultClockTolerance, false},
		{DefaultClockTolerance + time.Second, true},
		{2 * DefaultClockTolerance, true},
	} {
		b.clock.set(seen.Add(-c.back))
		w := b.in.Warnings()
		got := len(w) > 0 && w[0].Kind == WarnClock
		if got != c.anomaly || b.in.Licensed(tagAnalytics) == c.anomaly {
			t.Errorf("clock %v behind: anomaly %v (warnings %v), term licensed %v; want anomaly %v",
				c.back, got, w, b.in.Licensed(tagAnalytics), c.anomaly)
		}
		if !b.in.Licensed(tagCamera) {
			t.Errorf("clock %v behind: the perpetual license stopped", c.back)
		}
	}
	// With another tolerance, its edge.
	in := b.open(WithClockTolerance(time.Hour))
	b.clock.set(seen.Add(-time.Hour))
	if !in.Licensed(tagAnalytics) {
		t.Error("one hour behind with a one-hour tolerance is an anomaly")
	}
	b.clock.set(seen.Add(-time.Hour - time.Second))
	if in.Licensed(tagAnalytics) {
		t.Error("one hour and a second behind with a one-hour tolerance is no anomaly")
	}
}

// TestClockSetForwardThenBackIsReanchored (ATTACKS T80): a clock set ten
// years ahead by mistake, then corrected, leaves the last time seen in the
// future; the first code answering a new request re-anchors it, and dated
// licenses work again. An update code, which proves no freshness, does
// not re-anchor.
func TestClockSetForwardThenBackIsReanchored(t *testing.T) {
	b := newBench(t)
	b.must(b.in.Enable())
	right := b.clock.Now()
	b.clock.set(right.AddDate(10, 0, 0))
	b.request() // any write records the time seen: ten years ahead
	b.clock.set(right.Add(time.Hour))
	w := b.in.Warnings()
	if len(w) == 0 || w[0].Kind != WarnClock {
		t.Fatalf("warnings %+v, want the clock anomaly", w)
	}
	if !strings.Contains(w[0].Message, "request a new authorization code") {
		t.Errorf("the warning does not say how to recover: %s", w[0].Message)
	}
	// A code for a request made before the mistake was corrected is fresh
	// too: it answers a nonce this instance made.
	nonce := b.request()
	code := b.sign(grant{nonce: nonce, ents: []codes.Entitlement{cameras(2), analytics(2, right.Add(-day), right.Add(100*day))}})
	before := b.stateBytes()
	got, err := b.in.Install(code)
	b.must(err)
	if got.Update {
		t.Fatal("a first code installed as an update")
	}
	if w := b.in.Warnings(); len(w) != 0 {
		t.Errorf("warnings after the re-anchor: %+v", w)
	}
	if !b.in.Licensed(tagAnalytics) {
		t.Error("the term license is refused after the re-anchor")
	}
	j, err := b.in.Journal()
	b.must(err)
	found := false
	for _, e := range j {
		found = found || (e.Event == "clock" && strings.Contains(e.Detail, "re-anchored from 2035-"))
	}
	if !found {
		t.Errorf("the journal does not record the re-anchor: %+v", j)
	}
	_ = before

	// Forward again, then back: an update code does not re-anchor.
	b.clock.set(right.AddDate(5, 0, 0))
	b.must(b.in.Acquire(tagCamera, 1))
	b.clock.set(right.Add(2 * time.Hour))
	before = b.stateBytes()
	_, err = b.in.Install(b.sign(grant{serial: 2, ents: []codes.Entitlement{cameras(3)}}))
	wantErr(t, err, ErrClock, "behind the last time this instance saw")
	if string(before) != string(b.stateBytes()) {
		t.Error("a refused update changed the state")
	}
}

// TestReanchorNeedsTheClockToAgreeWithTheCode: a fresh code does not
// re-anchor a clock that is also behind the code's own issue time: the
// clock is wrong both ways, and nothing changes.
func TestReanchorNeedsTheClockToAgreeWithTheCode(t *testing.T) {
	b := newBench(t)
	b.must(b.in.Enable())
	right := b.clock.Now()
	b.clock.set(right.AddDate(10, 0, 0))
	nonce := b.request()
	b.clock.set(right.AddDate(-1, 0, 0)) // a year behind the authority
	code := b.sign(grant{nonce: nonce, issued: right, ents: []codes.Entitlement{cameras(1)}})
	before := b.stateBytes()
	_, err := b.in.Install(code)
	wantErr(t, err, ErrClock, "behind the code's issue time")
	if string(before) != string(b.stateBytes()) {
		t.Error("a refused code changed the state")
	}
}
