package instance

import (
	"time"

	"filippo.io/age"
)

// DefaultClockTolerance is how far the clock may step back before the
// instance calls it an anomaly: 24 hours, as FlexNet's trusted storage and
// LM-X do. NTP steps, DST and time zones move the wall clock by less, and
// all times here are UTC anyway.
const DefaultClockTolerance = 24 * time.Hour

// An Option changes how Init or Open set up an instance.
type Option func(*options)

type options struct {
	clock      func() time.Time
	unix       func() int64 // the clock in Unix seconds, for the hot path
	tolerance  time.Duration
	advisory   bool
	identities []age.Identity
	lockWait   time.Duration
	fsys       fileSystem
}

func newOptions(opts []Option) options {
	o := options{clock: time.Now, unix: wallUnix, tolerance: DefaultClockTolerance, lockWait: defaultLockWait, fsys: osFS{}}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// WithClock replaces the wall clock, for tests and simulations. The
// function must be safe for concurrent use; Licensed calls it every time.
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		o.clock = now
		o.unix = func() int64 { return now().Unix() }
	}
}

// WithClockTolerance sets how far behind the last time seen, or behind the
// installed code's issue time, the clock may be before it is an anomaly
// (default DefaultClockTolerance). A negative value counts as zero.
func WithClockTolerance(d time.Duration) Option {
	return func(o *options) { o.tolerance = max(d, 0) }
}

// WithAdvisoryClock makes clock anomalies warnings only: term licenses keep
// working and codes install while the clock is behind. Given to Init, it is
// recorded in the state and applies to every later Open; given to Open, it
// applies to that Instance. An authorization code with
// codes.FlagClockAdvisory has the same effect while it is installed. Use it
// only where the clock is known to be unreliable (no battery-backed clock):
// it lets anyone who can set the clock back extend a term license.
func WithAdvisoryClock() Option {
	return func(o *options) { o.advisory = true }
}

// WithIdentities gives the age identities that open age-encrypted code
// files passed to Install and ReturnAuthorization.
func WithIdentities(ids ...age.Identity) Option {
	return func(o *options) { o.identities = append(o.identities, ids...) }
}

// WithLockWait sets how long a write waits for another process holding
// the state's lock (default 2 s) before it fails with ErrLocked.
func WithLockWait(d time.Duration) Option {
	return func(o *options) { o.lockWait = max(d, 0) }
}

// withFS replaces the file system operations of the atomic write, for
// fault injection in tests.
func withFS(fsys fileSystem) Option {
	return func(o *options) { o.fsys = fsys }
}
