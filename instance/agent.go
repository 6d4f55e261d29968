package instance

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// An Agent does the periodic work of connected mode for one instance, by
// the instance's clock (WithClock): it renews the authorization every 30
// days and the registration every 6 months, reports usage every 6 hours,
// sends a confirmation the service has not taken, and retries the export
// requests that could not reach the service, until CancelExport. A call
// that fails is tried again after a backoff that doubles from a minute to
// an hour (or the service's Retry-After); while the service cannot be
// reached at all, the agent holds every call until the backoff ends.
//
// The schedule lives in the state, so any process may run the agent (a
// product's own scheduler calling Tick, airlock instance agent, a cron job
// with --once), and work done from the command line counts: a renewal by
// hand moves the next one 30 days on. Tick and Run must not run at once on
// one Agent.
type Agent struct {
	in     *Instance
	client *Client

	hold        int64  // no call before then (Unix seconds), after the service could not be reached
	netFailures uint32 // such failures in a row
}

// NewAgent returns an agent for in, calling the service with c.
func NewAgent(in *Instance, c *Client) *Agent { return &Agent{in: in, client: c} }

// A Work is one call the agent made.
type Work struct {
	Job Job
	Tag string // for JobExport: the tag asked for or given back
	Err error  // nil when it succeeded
}

// String describes the work for a log line.
func (w Work) String() string {
	s := w.Job.String()
	if w.Tag != "" {
		s += " " + w.Tag
	}
	if w.Err != nil {
		return s + ": " + w.Err.Error()
	}
	return s + ": done"
}

// A TickReport says what Tick did and when work is due next.
type TickReport struct {
	At   time.Time
	Done []Work
	// Next is when the next call is due, by the instance's clock; zero
	// when nothing is scheduled (offline, or not registered).
	Next time.Time
	// Held says that calls were held after the service could not be
	// reached; Next is when they resume.
	Held bool
}

// Tick does the work that is due now and returns what it did. An error
// is returned only when the state cannot be read; the failures of calls
// are in the report's Done (and in the state, which status shows).
func (a *Agent) Tick(ctx context.Context) (*TickReport, error) {
	in := a.in
	now := in.opts.clock()
	t := now.Unix()
	rep := &TickReport{At: now}
	if err := in.adopt(); err != nil {
		rep.Done = append(rep.Done, Work{Job: JobRegister, Err: err})
	}
	var online bool
	var sch map[Job]int64
	var exports []exportRecord
	read := func() error {
		return in.read(func(st *state, _ time.Time) error {
			online, sch, exports = st.online(), st.schedule(), st.dueExports(t)
			return nil
		})
	}
	if err := read(); err != nil {
		return rep, err
	}
	if !online {
		return rep, nil
	}
	if t < a.hold {
		rep.Held, rep.Next = true, time.Unix(a.hold, 0).UTC()
		return rep, nil
	}
	r, _, err := in.routeOf(a.client)
	if err != nil {
		// No route (no proxy password, a damaged CA file): hold as for a
		// network failure, so that the agent does not spin.
		rep.Done = append(rep.Done, Work{Job: JobAuthorization, Err: err})
		a.unreachable(t)
		rep.Held, rep.Next = true, time.Unix(a.hold, 0).UTC()
		return rep, nil
	}
	type step struct {
		job Job
		tag string
		ret bool
	}
	var steps []step
	if due, ok := sch[JobConfirm]; ok && due <= t {
		steps = append(steps, step{job: JobConfirm})
	}
	for _, e := range exports {
		steps = append(steps, step{job: JobExport, tag: e.Tag, ret: e.Return})
	}
	for _, j := range []Job{JobAuthorization, JobRegistration, JobUsage} {
		if sch[j] <= t {
			steps = append(steps, step{job: j})
		}
	}
	for _, s := range steps {
		var err error
		switch s.job {
		case JobConfirm:
			err = in.confirm(ctx, a.client, r)
		case JobExport:
			_, err = in.sendExport(ctx, a.client, r, s.tag, s.ret)
		case JobAuthorization:
			_, err = in.RenewAuthorization(ctx, a.client)
		case JobRegistration:
			_, err = in.RenewRegistration(ctx, a.client)
		case JobUsage:
			err = in.UpdateUsage(ctx, a.client)
		}
		rep.Done = append(rep.Done, Work{Job: s.job, Tag: s.tag, Err: err})
		if err != nil && unreachable(err) {
			a.unreachable(in.opts.clock().Unix())
			rep.Held = true
			break
		}
		if err == nil {
			a.netFailures, a.hold = 0, 0
		}
		if ctx.Err() != nil {
			break
		}
	}
	if err := read(); err != nil {
		return rep, err
	}
	rep.Next = a.next(sch, in)
	return rep, nil
}

// unreachable holds the calls after the service could not be reached.
func (a *Agent) unreachable(t int64) {
	a.netFailures = min(a.netFailures+1, 1<<20)
	a.hold = t + int64(backoff(a.netFailures, ErrUnreachable)/time.Second)
}

// unreachable reports whether err says the service (or the proxy) could
// not be reached at all, as opposed to an answer.
func unreachable(err error) bool {
	return errors.Is(err, ErrUnreachable) || errors.Is(err, ErrProxy) || errors.Is(err, ErrTLS) || errors.Is(err, ErrOffline)
}

// next is when work is due next: the earliest job of the schedule or
// export retry, not before the hold.
func (a *Agent) next(sch map[Job]int64, in *Instance) time.Time {
	var times []int64
	for _, due := range sch {
		times = append(times, due)
	}
	_ = in.read(func(st *state, now time.Time) error {
		if st.online() {
			for _, e := range st.conn.Exports {
				if !e.Offline && e.Refused == "" {
					times = append(times, e.RetryAt)
				}
			}
		}
		return nil
	})
	if len(times) == 0 {
		return time.Time{}
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	return time.Unix(max(times[0], a.hold), 0).UTC()
}

// Agent polling bounds for Run: it sleeps until the next work is due,
// but wakes at least every pollMax to see changes made by another process
// (a registration from the command line), and never spins faster than
// pollMin.
const (
	pollMin = time.Second
	pollMax = 10 * time.Minute
)

// Run calls Tick whenever work is due, until ctx is done, and passes
// every report (and state error) to report, which may be nil. It sleeps
// on the wall clock for the time the instance's clock says is left.
func (a *Agent) Run(ctx context.Context, report func(*TickReport, error)) error {
	for {
		rep, err := a.Tick(ctx)
		if report != nil {
			report(rep, err)
		}
		wait := pollMax
		if rep != nil && !rep.Next.IsZero() {
			wait = min(max(rep.Next.Sub(a.in.opts.clock()), pollMin), pollMax)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
		if err := a.in.Refresh(); err != nil && report != nil {
			report(&TickReport{At: a.in.opts.clock()}, fmt.Errorf("rereading the state: %w", err))
		}
	}
}
