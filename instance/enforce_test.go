package instance

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/codes"
)

func TestAcquireRefusesBeyondTheReservedCount(t *testing.T) {
	b := newBench(t)
	b.reserve(cameras(5))
	b.must(b.in.Acquire(tagCamera, 4))
	if b.in.Available(tagCamera) != 1 || b.in.InUse(tagCamera) != 4 {
		t.Errorf("available %d, in use %d", b.in.Available(tagCamera), b.in.InUse(tagCamera))
	}
	err := b.in.Acquire(tagCamera, 2)
	wantErr(t, err, ErrExceeded, `cannot acquire 2 of "vms.camera.core": 5 reserved, 4 in use`)
	b.must(b.in.Acquire(tagCamera, 1))
	wantErr(t, b.in.Acquire(tagAnalytics, 1), ErrNotLicensed, `"vms.analytics" is not in the installed authorization code`)
	wantErr(t, b.in.Release(tagCamera, 6), ErrNotHeld, `cannot release 6 of "vms.camera.core": 5 in use`)
	b.must(b.in.Release(tagCamera, 5))
	wantErr(t, b.in.Acquire(tagCamera, 0), ErrCount)
	wantErr(t, b.in.Release(tagCamera, -1), ErrCount)
	wantErr(t, b.in.Acquire("has space", 1), codes.ErrMalformed)
}

func TestAcquiredCountsAreDurable(t *testing.T) {
	b := newBench(t)
	b.reserve(cameras(5))
	b.must(b.in.Acquire(tagCamera, 3))
	other := b.open()
	if other.InUse(tagCamera) != 3 || other.Available(tagCamera) != 2 {
		t.Errorf("another process sees %d in use, %d available", other.InUse(tagCamera), other.Available(tagCamera))
	}
	// Writes by either process are made on the state on disk.
	b.must(other.Acquire(tagCamera, 2))
	wantErr(t, b.in.Acquire(tagCamera, 1), ErrExceeded, "5 reserved, 5 in use")
}

func TestRefreshSeesAnInstallByAnotherProcess(t *testing.T) {
	b := newBench(t)
	product := b.open()
	b.clock.add(EvaluationPeriod + day)
	if product.Licensed(tagCamera) {
		t.Fatal("licensed after the evaluation")
	}
	b.reserve(cameras(2)) // the administrator, from the command line
	if product.Licensed(tagCamera) {
		t.Fatal("licensed before Refresh")
	}
	b.must(product.Refresh())
	if !product.Licensed(tagCamera) || product.Available(tagCamera) != 2 {
		t.Errorf("after Refresh: licensed %v, available %d", product.Licensed(tagCamera), product.Available(tagCamera))
	}
}

// TestConcurrentAcquireNeverExceeds: goroutines of two processes (two
// Instances on one folder) take one license at a time until refused; the
// total taken is exactly the reserved count.
func TestConcurrentAcquireNeverExceeds(t *testing.T) {
	b := newBench(t)
	b.reserve(cameras(40))
	insts := []*Instance{b.in, b.open()}
	var mu sync.Mutex
	taken := 0
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(in *Instance) {
			defer wg.Done()
			for {
				err := in.Acquire(tagCamera, 1)
				if errors.Is(err, ErrExceeded) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				taken++
				mu.Unlock()
			}
		}(insts[g%2])
	}
	wg.Wait()
	if taken != 40 {
		t.Errorf("%d taken of 40", taken)
	}
	b.must(b.in.Refresh())
	if b.in.InUse(tagCamera) != 40 {
		t.Errorf("%d in use", b.in.InUse(tagCamera))
	}
}

func TestEvaluationEndsButWhatRunsKeepsRunning(t *testing.T) {
	b := newBench(t)
	b.must(b.in.Acquire(tagCamera, 3))
	b.clock.add(EvaluationPeriod - 10*day)
	w := b.in.Warnings()
	if len(w) != 1 || w[0].Kind != WarnEvaluationEnding || !strings.Contains(w[0].Message, "in 10 days") {
		t.Errorf("warnings %+v", w)
	}
	b.clock.add(10 * day)
	if m := b.mode(); m != ModeUnlicensed {
		t.Errorf("mode %s", m)
	}
	if !b.in.Licensed(tagCamera) || b.in.Licensed(tagAnalytics) {
		t.Errorf("after the evaluation: cameras %v, analytics %v", b.in.Licensed(tagCamera), b.in.Licensed(tagAnalytics))
	}
	wantErr(t, b.in.Acquire(tagCamera, 1), ErrNotLicensed, "the evaluation ended 2025-04-15T09:30:00Z")
	if b.in.Available(tagCamera) != 0 {
		t.Errorf("available %d", b.in.Available(tagCamera))
	}
	b.must(b.in.Release(tagCamera, 3))
	if b.in.Licensed(tagCamera) {
		t.Error("licensed once released")
	}
	w = b.in.Warnings()
	if len(w) != 1 || w[0].Kind != WarnEvaluationEnded {
		t.Errorf("warnings %+v", w)
	}
}

// TestTermBoundaries: a term entitlement is in force from its start,
// inclusive, to its end, exclusive (T84), including a leap day.
func TestTermBoundaries(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	end := time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC)
	b := newBench(t)
	b.reserve(cameras(1), analytics(1, start, end))
	for _, c := range []struct {
		at   time.Time
		want bool
	}{
		{end.Add(-time.Second), true},
		{end, false},
		{end.Add(time.Second), false},
		{time.Date(2028, 2, 28, 23, 59, 59, 0, time.UTC), true},
	} {
		b.clock.set(c.at)
		if got := b.in.Licensed(tagAnalytics); got != c.want {
			t.Errorf("at %s: licensed %v, want %v", c.at.Format(time.RFC3339), got, c.want)
		}
		if !b.in.Licensed(tagCamera) {
			t.Errorf("at %s: perpetual not licensed", c.at.Format(time.RFC3339))
		}
	}
	// Not yet started.
	b2 := newBench(t)
	later := t0.Add(10 * day)
	b2.reserve(analytics(1, later, later.Add(day)))
	b2.clock.set(later.Add(-time.Second))
	if b2.in.Licensed(tagAnalytics) {
		t.Error("licensed before its start")
	}
	wantErr(t, b2.in.Acquire(tagAnalytics, 1), ErrNotLicensed, "starts 2025-01-25T09:30:00Z")
	b2.clock.set(later)
	if !b2.in.Licensed(tagAnalytics) {
		t.Error("not licensed at its start")
	}
}

func TestTermEntitlementsWarnBeforeTheyEnd(t *testing.T) {
	b := newBench(t)
	end := t0.Add(100 * day)
	b.reserve(cameras(1), analytics(2, t0, end))
	if w := b.in.Warnings(); len(w) != 0 {
		t.Errorf("warnings %+v", w)
	}
	b.clock.set(end.Add(-12 * day))
	w := b.in.Warnings()
	if len(w) != 1 || w[0].Kind != WarnEnding || w[0].Tag != tagAnalytics ||
		w[0].Message != `term entitlement "vms.analytics" ends 2025-04-25T09:30:00Z, in 12 days: ask the authority for a renewed code` {
		t.Errorf("warnings %+v", w)
	}
	b.clock.set(end)
	w = b.in.Warnings()
	if len(w) != 1 || w[0].Kind != WarnEnded {
		t.Errorf("warnings %+v", w)
	}
	wantErr(t, b.in.Acquire(tagAnalytics, 1), ErrNotLicensed, `"vms.analytics" ended 2025-04-25T09:30:00Z`)
}

// TestClockSetBackRefusesTermLicenses (T78): a term license ended; the
// clock is set back a month to bring it back. It stays refused, with a
// warning; the perpetual license keeps working.
func TestClockSetBackRefusesTermLicenses(t *testing.T) {
	b := newBench(t)
	end := t0.Add(60 * day)
	b.reserve(cameras(2), analytics(2, t0, end))
	b.clock.set(end.Add(day))
	b.must(b.in.Acquire(tagCamera, 1)) // any write records the time seen
	b.clock.set(end.Add(-30 * day))
	if b.in.Licensed(tagAnalytics) {
		t.Error("the term license came back with the clock set back")
	}
	if !b.in.Licensed(tagCamera) || b.in.Available(tagCamera) != 1 {
		t.Error("the perpetual license stopped")
	}
	wantErr(t, b.in.Acquire(tagAnalytics, 1), ErrClock, "set the clock right")
	b.must(b.in.Acquire(tagCamera, 1))
	w := b.in.Warnings()
	if len(w) == 0 || w[0].Kind != WarnClock || !strings.Contains(w[0].Message, "31 days behind the last time seen 2025-03-17T09:30:00Z") {
		t.Errorf("warnings %+v", w)
	}
	j, err := b.in.Journal()
	b.must(err)
	if last := j[len(j)-1]; last.Event != "clock-anomaly" {
		t.Errorf("last journal entry %+v", last)
	}
	// Installing is refused too.
	_, err = b.in.Install(b.sign(grant{serial: 2, issued: b.clock.Now()}))
	wantErr(t, err, ErrClock, "behind the last time this instance saw")

	// Set right, the anomaly ends.
	b.clock.set(end.Add(2 * day))
	if len(b.in.Warnings()) != 1 { // only "ended"
		t.Errorf("warnings %+v", b.in.Warnings())
	}
	b.must(b.in.Release(tagCamera, 1))
	j, _ = b.in.Journal()
	if last := j[len(j)-1]; last.Event != "clock-corrected" {
		t.Errorf("last journal entry %+v", last)
	}
}

func TestAdvisoryClockOnlyWarns(t *testing.T) {
	for _, how := range []string{"init", "open", "code"} {
		t.Run(how, func(t *testing.T) {
			var opts []Option
			if how == "init" {
				opts = append(opts, WithAdvisoryClock())
			}
			b := newBench(t, opts...)
			if how == "open" {
				b.in = b.open(WithAdvisoryClock())
			}
			nonce := b.request()
			g := grant{nonce: nonce, ents: []codes.Entitlement{analytics(1, t0, t0.Add(365*day))}}
			if how == "code" {
				g.flags = codes.FlagClockAdvisory
			}
			b.must(first(b.in.Install(b.sign(g))))
			b.clock.add(100 * day)
			b.must(b.in.Acquire(tagAnalytics, 1))
			b.clock.add(-50 * day)
			if !b.in.Licensed(tagAnalytics) {
				t.Error("refused with an advisory clock")
			}
			w := b.in.Warnings()
			if len(w) != 1 || w[0].Kind != WarnClock || !strings.Contains(w[0].Message, "advisory") {
				t.Errorf("warnings %+v", w)
			}
		})
	}
}

// TestSmallClockStepsAreNoAnomaly (T79): an NTP step or a DST change moves
// the clock by less than the tolerance.
func TestSmallClockStepsAreNoAnomaly(t *testing.T) {
	b := newBench(t)
	b.reserve(analytics(1, t0, t0.Add(365*day)))
	b.clock.add(10 * day)
	b.must(b.in.Acquire(tagAnalytics, 1))
	for _, back := range []time.Duration{90 * time.Second, time.Hour, 23 * time.Hour} {
		b.clock.add(-back)
		if !b.in.Licensed(tagAnalytics) || len(b.in.Warnings()) != 0 {
			t.Errorf("%s back: licensed %v, warnings %+v", back, b.in.Licensed(tagAnalytics), b.in.Warnings())
		}
		b.clock.add(back)
	}
	b.clock.add(-25 * time.Hour)
	if b.in.Licensed(tagAnalytics) {
		t.Error("25 hours back is within the tolerance")
	}
	// A tolerance of a week allows it.
	in := b.open(WithClockTolerance(7 * day))
	if !in.Licensed(tagAnalytics) {
		t.Error("refused within a week's tolerance")
	}
}

// TestInstallWhileTheClockIsBehindTheCode (T81): a code issued a few hours
// "in the future" of the instance installs; one issued days ahead is
// refused until the clock is set right.
func TestInstallWhileTheClockIsBehindTheCode(t *testing.T) {
	b := newBench(t)
	nonce := b.request()
	_, err := b.in.Install(b.sign(grant{nonce: nonce, issued: t0.Add(2 * day)}))
	wantErr(t, err, ErrClock, "2 days behind the code's issue time 2025-01-17T09:30:00Z")
	b.must(first(b.in.Install(b.sign(grant{nonce: nonce, issued: t0.Add(2 * time.Hour)}))))
	// The code's issue time is a floor for the clock from now on.
	st, err := b.in.Status()
	b.must(err)
	if !st.HighWater.Equal(t0.Add(2 * time.Hour)) {
		t.Errorf("high-water mark %s", st.HighWater)
	}
}

// TestDeadClockKeepsPerpetualLicenses (T82): after a power cycle the
// clock reads 2000-01-01. Perpetual licenses work; dated ones and the
// evaluation wait for the clock.
func TestDeadClockKeepsPerpetualLicenses(t *testing.T) {
	b := newBench(t)
	b.reserve(cameras(1), analytics(1, t0, t0.Add(365*day)))
	b.clock.set(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))
	if !b.in.Licensed(tagCamera) || b.in.Licensed(tagAnalytics) {
		t.Errorf("cameras %v, analytics %v", b.in.Licensed(tagCamera), b.in.Licensed(tagAnalytics))
	}
	b.must(b.in.Acquire(tagCamera, 1))
	in := b.open()
	if !in.Licensed(tagCamera) {
		t.Error("the state did not survive")
	}
	e := newBench(t)
	e.clock.set(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))
	if e.in.Licensed(tagCamera) {
		t.Error("the evaluation runs on a dead clock")
	}
}

func TestWarningsNameTheClockAnomalyInEvaluation(t *testing.T) {
	b := newBench(t)
	b.clock.add(-3 * day)
	w := b.in.Warnings()
	if len(w) != 1 || w[0].Kind != WarnClock {
		t.Fatalf("warnings %+v", w)
	}
	if b.in.Licensed(tagCamera) {
		t.Error("the evaluation runs with the clock set back")
	}
	wantErr(t, b.in.Acquire(tagCamera, 1), ErrClock)
}

func TestSpan(t *testing.T) {
	for sec, want := range map[int64]string{5: "5 seconds", 61: "2 minutes", 3601: "2 hours", 2 * 86400: "2 days", 2*86400 + 1: "3 days"} {
		if got := span(sec); got != want {
			t.Errorf("span(%d) = %q, want %q", sec, got, want)
		}
	}
}

// TestSubscriptionAndHardwareEntitlements: a product's subscription
// arrives as subscription entitlements ending with the grace period or
// the licensed years, and hardware licenses as hardware entitlements
// bound to a component. The instance warns from 30 days before the end,
// refuses after it, and a renewal (the next serial) clears the warning.
func TestSubscriptionAndHardwareEntitlements(t *testing.T) {
	const hw = "vms.camera.hw"
	b := newBench(t)
	graceEnd := t0.Add(30 * day)
	sub := codes.Entitlement{Tag: tagCamera, Count: 10, Kind: codes.Subscription, Start: t0.Unix(), End: graceEnd.Unix()}
	hardware := codes.Entitlement{Tag: hw, Count: 4, Kind: codes.Hardware, Component: "SN-1"}
	b.reserve(sub, hardware)
	// The grace period is 30 days: the warning starts with it.
	w := b.in.Warnings()
	if len(w) != 1 || w[0].Kind != WarnEnding || w[0].Tag != tagCamera ||
		w[0].Message != `subscription entitlement "vms.camera.core" ends 2025-02-14T09:30:00Z, in 30 days: ask the authority for a renewed code` {
		t.Fatalf("warnings %+v", w)
	}
	b.must(b.in.Acquire(hw, 4))
	wantErr(t, b.in.Acquire(hw, 1), ErrExceeded, "4 reserved, 4 in use")
	b.must(b.in.Release(hw, 4))
	b.clock.set(graceEnd.Add(-time.Second))
	if !b.in.Licensed(tagCamera) {
		t.Fatal("not licensed on the last second of the grace period")
	}
	b.clock.set(graceEnd)
	if b.in.Licensed(tagCamera) || !b.in.Licensed(hw) {
		t.Fatalf("after the grace period: subscription licensed %v, hardware licensed %v", b.in.Licensed(tagCamera), b.in.Licensed(hw))
	}

	// Renewed: licensed for a year; the warning starts 30 days before.
	yearEnd := t0.Add(365 * day)
	sub.End = yearEnd.Unix()
	_, err := b.in.Install(b.sign(grant{res: resA, serial: 2, ents: []codes.Entitlement{sub, hardware}}))
	b.must(err)
	if !b.in.Licensed(tagCamera) || len(b.in.Warnings()) != 0 {
		t.Fatalf("renewed: licensed %v, warnings %+v", b.in.Licensed(tagCamera), b.in.Warnings())
	}
	b.clock.set(yearEnd.Add(-30*day - time.Second))
	if w := b.in.Warnings(); len(w) != 0 {
		t.Fatalf("warnings 30 days and a second before the end: %+v", w)
	}
	b.clock.set(yearEnd.Add(-30 * day))
	if w := b.in.Warnings(); len(w) != 1 || w[0].Kind != WarnEnding {
		t.Fatalf("warnings 30 days before the end: %+v", w)
	}
}
