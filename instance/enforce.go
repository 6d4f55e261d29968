package instance

import (
	"fmt"
	"math"
	"sort"
	"sync/atomic"
	"time"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/codes/api"
)

// Unlimited is what Available returns while the evaluation period runs:
// every license may be used, in any number.
const Unlimited = math.MaxInt32

// warnAhead is how long before an end date Warnings starts to warn.
const warnAhead = 30 * 24 * time.Hour

// A snapshot is what the enforcement methods read, without a lock: an
// immutable view of the state, rebuilt after every change, but for the
// counts in use and the clock floor, which Acquire and Release update in
// place after their write succeeded.
type snapshot struct {
	reserved bool
	evalEnd  int64 // Unix seconds, exclusive; applies while nothing is installed
	lapses   int64 // Unix seconds: a connected-mode code lapses then; 0 for reservations
	advisory bool
	floor    atomic.Int64 // a clock earlier than this is an anomaly
	tags     map[string]*entry
	ends     []ending // dated entitlements, for Warnings
}

// An entry is what one tag may use.
type entry struct {
	lines    []line
	inUse    atomic.Int64
	disabled bool // given back by an export return not yet answered (export.go)
}

// A line is one entitlement of a tag.
type line struct {
	count      int64
	start, end int64 // Unix seconds; end exclusive
	timed      bool  // depends on the clock (term, subscription, dated hardware)
}

type ending struct {
	tag  string
	kind codes.EntitlementKind
	end  int64
}

// publish rebuilds the snapshot from the state.
func (in *Instance) publish() {
	st := in.st
	s := &snapshot{
		evalEnd:  st.core.EvalStart + evalSeconds,
		advisory: in.advisory(st),
		tags:     make(map[string]*entry, len(st.usage)+8),
	}
	s.floor.Store(in.clockFloor(st))
	get := func(tag string) *entry {
		e := s.tags[tag]
		if e == nil {
			e = &entry{}
			s.tags[tag] = e
		}
		return e
	}
	if st.auth != nil {
		s.reserved = true
		s.lapses = st.auth.Lapses
		for _, ent := range st.auth.Entitlements {
			l := line{count: int64(ent.Count), start: math.MinInt64, end: math.MaxInt64}
			if ent.Start != 0 || ent.End != 0 {
				l.start, l.end, l.timed = ent.Start, ent.End, true
				s.ends = append(s.ends, ending{ent.Tag, ent.Kind, ent.End})
			}
			if s.lapses != 0 && s.lapses < l.end {
				// A lapse depends on the clock like a term: a clock set
				// back must not revive a lapsed authorization.
				l.end, l.timed = s.lapses, true
			}
			e := get(ent.Tag)
			e.lines = append(e.lines, l)
			e.disabled = st.exportDisabled(ent.Tag)
		}
	}
	for tag, u := range st.usage {
		get(tag).inUse.Store(int64(u.InUse))
	}
	// Sorted once here: Warnings reads the snapshot as it is.
	sort.SliceStable(s.ends, func(i, j int) bool { return s.ends[i].end < s.ends[j].end })
	in.snap.Store(s)
}

// publishUse makes a new count in use visible, after Acquire or Release
// wrote it: u is the tag's record, e its entry in the snapshot. A tag the
// snapshot does not know yet (the first use of a tag during the
// evaluation) needs a new snapshot.
func (in *Instance) publishUse(u *usageRecord, e *entry) {
	if e == nil {
		in.publish()
		return
	}
	e.inUse.Store(int64(u.InUse))
	in.snap.Load().floor.Store(in.clockFloor(in.st))
}

// clockOK reports whether term licenses may be used at now.
func (s *snapshot) clockOK(now int64) bool { return s.advisory || now >= s.floor.Load() }

// active returns the count of the tag's entitlements usable at now.
func (e *entry) active(now int64, clockOK bool) int64 {
	if e.disabled {
		return 0
	}
	var n int64
	for i := range e.lines {
		l := &e.lines[i]
		if now >= l.start && now < l.end && (!l.timed || clockOK) {
			n += l.count
		}
	}
	return n
}

// Licensed reports whether the product may use tag now. With a
// reservation installed: the tag has an entitlement in force (a term
// entitlement from its start, inclusive, to its end, exclusive; and not
// while the clock is behind, unless it is advisory). Without: during the
// evaluation period every tag is licensed; after it, only tags still in use
// (acquired before it ended) stay licensed, so that what already runs keeps
// running.
//
// It reads memory only, allocates nothing and takes no lock: call it as
// often as needed. It does not see changes made by another process until
// Refresh.
func (in *Instance) Licensed(tag string) bool {
	s := in.snap.Load()
	now := in.opts.unix()
	e := s.tags[tag]
	if s.reserved {
		return e != nil && e.active(now, s.clockOK(now)) > 0
	}
	if now < s.evalEnd && s.clockOK(now) {
		return true
	}
	return e != nil && e.inUse.Load() > 0
}

// Available returns how many more licenses of tag Acquire would grant now:
// the count in force minus the count in use, Unlimited during the
// evaluation period, 0 for a tag that is not licensed. Like Licensed, it
// reads memory only.
func (in *Instance) Available(tag string) int {
	s := in.snap.Load()
	now := in.opts.unix()
	e := s.tags[tag]
	if s.reserved {
		if e == nil {
			return 0
		}
		return int(max(e.active(now, s.clockOK(now))-e.inUse.Load(), 0))
	}
	if now < s.evalEnd && s.clockOK(now) {
		return Unlimited
	}
	return 0
}

// InUse returns the count of tag in use, as Acquire and Release left it.
func (in *Instance) InUse(tag string) int {
	if e := in.snap.Load().tags[tag]; e != nil {
		return int(e.inUse.Load())
	}
	return 0
}

// Acquire takes n licenses of tag and records it durably before it
// returns: a crash after Acquire never forgets them. It fails with
// ErrNotLicensed for a tag not licensed now, and with ErrExceeded, naming
// the tag, the count asked, the count reserved and the count in use, when
// fewer than n are available.
func (in *Instance) Acquire(tag string, n int) error {
	if err := checkUse(tag, n); err != nil {
		return err
	}
	return in.updateUse(func(st *state, now time.Time) (*usageRecord, *entry, error) {
		return in.acquire(st, tag, n, now.Unix())
	})
}

// Release gives back n licenses of tag, durably. It fails with ErrNotHeld
// when fewer than n are in use.
func (in *Instance) Release(tag string, n int) error {
	if err := checkUse(tag, n); err != nil {
		return err
	}
	return in.updateUse(func(st *state, now time.Time) (*usageRecord, *entry, error) {
		return in.release(st, tag, n)
	})
}

func checkUse(tag string, n int) error {
	if n < 1 || n > math.MaxInt32 {
		return fmt.Errorf("%w: %d licenses of %q: the count must be from 1 to %d", ErrCount, n, tag, math.MaxInt32)
	}
	return codes.CheckTag(tag)
}

// updateUse is update for Acquire and Release: fn changes one tag's
// counts, and after the write only the new count is published, not a new
// snapshot.
func (in *Instance) updateUse(fn func(st *state, now time.Time) (*usageRecord, *entry, error)) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	lk, err := lockDir(in.dir, in.opts.lockWait)
	if err != nil {
		return err
	}
	defer lk.unlock()
	if _, err := in.reloadLocked(); err != nil {
		return err
	}
	now := in.opts.clock()
	u, e, err := fn(in.st, now)
	if err != nil {
		return err
	}
	return in.commit(now, func() { in.publishUse(u, e) })
}

// acquire is Acquire on the state in memory: it checks against the
// snapshot, which reloadLocked keeps in step with st, and changes only the
// tag's counts. It returns the tag's record and snapshot entry (nil if the
// snapshot has none) for publishUse.
func (in *Instance) acquire(st *state, tag string, n int, now int64) (*usageRecord, *entry, error) {
	s := in.snap.Load()
	u := st.usage[tag]
	var used int64
	if u != nil {
		used = int64(u.InUse)
	}
	e := s.tags[tag]
	switch {
	case s.reserved:
		if e == nil {
			return nil, nil, fmt.Errorf("%w: %q is not in the installed authorization code", ErrNotLicensed, tag)
		}
		clockOK := s.clockOK(now)
		have := e.active(now, clockOK)
		if have == 0 {
			return nil, nil, in.whyNotActive(s, tag, e, now, clockOK)
		}
		if used+int64(n) > have {
			return nil, nil, fmt.Errorf("%w: cannot acquire %d of %q: %d reserved, %d in use", ErrExceeded, n, tag, have, used)
		}
	case now >= s.evalEnd:
		return nil, nil, fmt.Errorf("%w: the evaluation ended %s: nothing new may be acquired until an authorization code is installed (%d of %q in use)",
			ErrNotLicensed, codes.FormatTime(s.evalEnd), used, tag)
	case !s.clockOK(now):
		return nil, nil, fmt.Errorf("%w: the evaluation is refused while the clock %s is behind the last time seen %s: set the clock right",
			ErrClock, codes.FormatTime(now), codes.FormatTime(s.floor.Load()+int64(in.opts.tolerance/time.Second)))
	case used+int64(n) > math.MaxUint32:
		return nil, nil, fmt.Errorf("%w: cannot acquire %d of %q: %d in use", ErrExceeded, n, tag, used)
	}
	if u == nil {
		if len(st.usage) >= maxTags {
			return nil, nil, fmt.Errorf("%w: cannot track more than %d tags", ErrExceeded, maxTags)
		}
		u = st.use(tag)
	}
	u.InUse += uint32(n)
	u.Peak = max(u.Peak, u.InUse)
	return u, e, nil
}

// whyNotActive explains why a tag in the installed code has nothing in
// force at now.
func (in *Instance) whyNotActive(s *snapshot, tag string, e *entry, now int64, clockOK bool) error {
	if e.disabled {
		return fmt.Errorf("%w: %q was given back (airlock instance export return) and is disabled here until the answer is installed", ErrNotLicensed, tag)
	}
	for _, l := range e.lines {
		if l.timed && !clockOK && now >= l.start && now < l.end {
			return fmt.Errorf("%w: %q is a dated license, refused while the clock %s is behind the last time seen %s: set the clock right",
				ErrClock, tag, codes.FormatTime(now), codes.FormatTime(s.floor.Load()+int64(in.opts.tolerance/time.Second)))
		}
	}
	for _, l := range e.lines {
		if now < l.start {
			return fmt.Errorf("%w: %q starts %s", ErrNotLicensed, tag, codes.FormatTime(l.start))
		}
	}
	if s.lapses != 0 && now >= s.lapses {
		return fmt.Errorf("%w: %q: %s", ErrNotLicensed, tag, lapsedMessage(s.lapses))
	}
	last := int64(0)
	for _, l := range e.lines {
		last = max(last, l.end)
	}
	if !clockOK {
		return fmt.Errorf("%w: %q ended %s; the clock %s is also behind the last time seen", ErrNotLicensed, tag, codes.FormatTime(last), codes.FormatTime(now))
	}
	return fmt.Errorf("%w: %q ended %s: ask the authority for a renewed code", ErrNotLicensed, tag, codes.FormatTime(last))
}

// release is Release on the state in memory.
func (in *Instance) release(st *state, tag string, n int) (*usageRecord, *entry, error) {
	u := st.usage[tag]
	var used uint32
	if u != nil {
		used = u.InUse
	}
	if int64(n) > int64(used) {
		return nil, nil, fmt.Errorf("%w: cannot release %d of %q: %d in use", ErrNotHeld, n, tag, used)
	}
	u.InUse -= uint32(n)
	return u, in.snap.Load().tags[tag], nil
}

// A WarningKind says what a Warning is about.
type WarningKind uint8

// The warning kinds.
const (
	WarnEnding           WarningKind = iota + 1 // a dated entitlement ends within 30 days
	WarnEnded                                   // a dated entitlement of the installed code has ended
	WarnEvaluationEnding                        // the evaluation ends within 30 days
	WarnEvaluationEnded                         // the evaluation has ended and nothing is installed
	WarnClock                                   // the clock is behind: term licenses refused (or, advisory, only warned)
	WarnLapsing                                 // a connected-mode authorization lapses within 30 days
	WarnLapsed                                  // a connected-mode authorization lapsed: nothing in it is in force
)

func (k WarningKind) String() string {
	switch k {
	case WarnEnding:
		return "ending"
	case WarnEnded:
		return "ended"
	case WarnEvaluationEnding:
		return "evaluation-ending"
	case WarnEvaluationEnded:
		return "evaluation-ended"
	case WarnClock:
		return "clock"
	case WarnLapsing:
		return "lapsing"
	case WarnLapsed:
		return "lapsed"
	}
	return fmt.Sprintf("warning(%d)", uint8(k))
}

// A Warning is something the administrator should act on before it stops a
// license.
type Warning struct {
	Kind    WarningKind
	Tag     string    // for WarnEnding and WarnEnded
	At      time.Time // the end, or for WarnClock the last time seen
	Message string    // one line, lower case, e.g. `term entitlement "x" ends 2026-01-01T00:00:00Z, in 12 days`
}

// Warnings returns what needs attention now: dated entitlements ending
// within 30 days or ended, the evaluation ending or ended, and a clock
// behind the last time seen. Like Licensed, it reads memory only.
func (in *Instance) Warnings() []Warning {
	return in.warningsAt(in.snap.Load(), in.opts.unix())
}

func (in *Instance) warningsAt(s *snapshot, now int64) []Warning {
	var out []Warning
	if now < s.floor.Load() {
		seen := s.floor.Load() + int64(in.opts.tolerance/time.Second)
		effect := "dated licenses and the evaluation are refused until the clock is set right; if the clock is right and that time was a mistake, request a new authorization code: installing it re-anchors the time"
		if s.advisory {
			effect = "the clock is advisory, so licenses still work"
		}
		out = append(out, Warning{Kind: WarnClock, At: time.Unix(seen, 0).UTC(),
			Message: fmt.Sprintf("clock anomaly: the system clock %s is %s behind the last time seen %s; %s",
				codes.FormatTime(now), span(seen-now), codes.FormatTime(seen), effect)})
	}
	if s.reserved && s.lapses != 0 {
		switch {
		case now >= s.lapses:
			out = append(out, Warning{Kind: WarnLapsed, At: time.Unix(s.lapses, 0).UTC(), Message: lapsedMessage(s.lapses)})
		case s.lapses-now <= int64(warnAhead/time.Second):
			out = append(out, Warning{Kind: WarnLapsing, At: time.Unix(s.lapses, 0).UTC(),
				Message: fmt.Sprintf("the authorization lapses %s, in %s, unless it is renewed: check the transport (airlock instance status) and run airlock instance renew authorization", codes.FormatTime(s.lapses), span(s.lapses-now))})
		}
	}
	if s.reserved {
		for _, e := range s.ends {
			switch {
			case now >= e.end:
				out = append(out, Warning{Kind: WarnEnded, Tag: e.tag, At: time.Unix(e.end, 0).UTC(),
					Message: fmt.Sprintf("%s entitlement %q ended %s: ask the authority for a renewed code", e.kind, e.tag, codes.FormatTime(e.end))})
			case e.end-now <= int64(warnAhead/time.Second):
				out = append(out, Warning{Kind: WarnEnding, Tag: e.tag, At: time.Unix(e.end, 0).UTC(),
					Message: fmt.Sprintf("%s entitlement %q ends %s, in %s: ask the authority for a renewed code", e.kind, e.tag, codes.FormatTime(e.end), span(e.end-now))})
			}
		}
		return out
	}
	switch {
	case now >= s.evalEnd:
		out = append(out, Warning{Kind: WarnEvaluationEnded, At: time.Unix(s.evalEnd, 0).UTC(),
			Message: fmt.Sprintf("the evaluation ended %s: nothing new may be acquired until an authorization code is installed", codes.FormatTime(s.evalEnd))})
	case s.evalEnd-now <= int64(warnAhead/time.Second):
		out = append(out, Warning{Kind: WarnEvaluationEnding, At: time.Unix(s.evalEnd, 0).UTC(),
			Message: fmt.Sprintf("the evaluation ends %s, in %s: install an authorization code", codes.FormatTime(s.evalEnd), span(s.evalEnd-now))})
	}
	return out
}

// lapsedMessage says that a connected-mode authorization lapsed and what
// to do.
func lapsedMessage(at int64) string {
	return fmt.Sprintf("the authorization lapsed %s, %d days after it was issued (its last renewal): check the transport (airlock instance transport) and run airlock instance renew authorization",
		codes.FormatTime(at), int64(api.AuthorizationValidity/(24*time.Hour)))
}

// span writes a positive number of seconds as days, or hours under two
// days, rounded up.
func span(sec int64) string {
	const day, hour = 86400, 3600
	switch {
	case sec >= 2*day:
		return fmt.Sprintf("%d days", (sec+day-1)/day)
	case sec > hour:
		return fmt.Sprintf("%d hours", (sec+hour-1)/hour)
	case sec > 60:
		return fmt.Sprintf("%d minutes", (sec+59)/60)
	}
	return fmt.Sprintf("%d seconds", max(sec, 0))
}
