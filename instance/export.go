package instance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/codes/api"
)

// Export control (issue 10, item 5). An export-controlled license is
// asked for one tag at a time: online, the service grants it with the
// next authorization code of the reservation or refuses it with its
// reason; offline, the instance prints an export request code (XR) for
// the licensing desk, which answers with an authorization code installed
// as any other. Giving one back disables the tag here FIRST, durably:
// Licensed and Acquire refuse it from then on, although the installed code
// still lists it, until a code that no longer lists it is installed (the
// answer to the return). A request that could not reach the service is
// kept and retried by the agent until CancelExport.

// An exportRecord is an export request or return not yet answered.
type exportRecord struct {
	Tag         string `cbor:"1,keyasint"`
	Count       uint32 `cbor:"2,keyasint"`
	Return      bool   `cbor:"3,keyasint,omitempty"`
	MadeAt      int64  `cbor:"4,keyasint"`
	Offline     bool   `cbor:"5,keyasint,omitempty"`
	Code        []byte `cbor:"6,keyasint,omitempty"` // offline: the export request code, binary
	Reservation []byte `cbor:"7,keyasint,omitempty"` // offline: the reservation and serial it names
	Serial      uint64 `cbor:"8,keyasint,omitempty"`
	Failures    uint32 `cbor:"9,keyasint,omitempty"`
	RetryAt     int64  `cbor:"10,keyasint,omitempty"`
	Error       string `cbor:"11,keyasint,omitempty"` // the last failure
	Refused     string `cbor:"12,keyasint,omitempty"` // the service's reason: not retried
}

// Export errors.
var (
	// ErrExportRefused means the service refused an export request or
	// return; the message carries its reason.
	ErrExportRefused = errors.New("export request refused")
	// ErrNotExportControlled means the tag is not an export-controlled
	// license of the installed code, so there is nothing to give back.
	ErrNotExportControlled = errors.New("not an export-controlled license here")
	// ErrNoExport means no export request of the tag is waiting.
	ErrNoExport = errors.New("no export request waiting")
	// ErrExportDisabled means the tag was given back here and stays
	// disabled until the answer to the return is installed.
	ErrExportDisabled = errors.New("license given back")
)

// An ExportStatus is an export request or return waiting for an answer.
type ExportStatus struct {
	Tag     string
	Count   uint32
	Return  bool
	Offline bool   // a code for the licensing desk, answered by an installed code
	Code    []byte // offline: the export request code, binary
	MadeAt  time.Time
	// Online only: the failures so far and the next try; a refusal is
	// not retried.
	Failures int
	RetryAt  time.Time
	Error    string
	Refused  string
}

func (e *exportRecord) status() ExportStatus {
	return ExportStatus{Tag: e.Tag, Count: e.Count, Return: e.Return, Offline: e.Offline, Code: bytes.Clone(e.Code), MadeAt: unixTime(e.MadeAt),
		Failures: int(e.Failures), RetryAt: unixTime(e.RetryAt), Error: e.Error, Refused: e.Refused}
}

// ExportResult says what RequestExport or ReturnExport did.
type ExportResult struct {
	Tag    string
	Count  uint32
	Online bool
	// Online: what the service answered, nil while it could not be
	// reached (Pending).
	Answer  *Answer
	Pending bool
	// Offline: the export request code (binary) for the licensing desk.
	Code []byte
}

// exportDisabled reports whether tag was given back here and is refused
// although the installed code lists it.
func (st *state) exportDisabled(tag string) bool {
	return st.conn != nil && slices.Contains(st.conn.Disabled, tag)
}

// online reports whether export calls go to the service: a transport is
// set and the instance is registered.
func (st *state) online() bool { return st.registered() && st.conn.Kind != 0 }

// findExport returns the index of the export record of tag and
// direction, or -1.
func (c *connectedRecord) findExport(tag string, ret bool) int {
	return slices.IndexFunc(c.Exports, func(e exportRecord) bool { return e.Tag == tag && e.Return == ret })
}

// putExport records e, replacing the record of the same tag and
// direction.
func (c *connectedRecord) putExport(e exportRecord) error {
	if i := c.findExport(e.Tag, e.Return); i >= 0 {
		c.Exports[i] = e
		return nil
	}
	if len(c.Exports) >= maxExports {
		return fmt.Errorf("%w: %d export requests are waiting already, the limit is %d: cancel some (airlock instance export cancel)", codes.ErrInvalid, len(c.Exports), maxExports)
	}
	c.Exports = append(c.Exports, e)
	return nil
}

// RequestExport asks for count more licenses of the export-controlled
// tag. Online (registered, with a transport), the service grants them
// with the next authorization code, installed and confirmed here, or
// refuses (ErrExportRefused with its reason); when it cannot be reached
// the request stays pending (ExportResult.Pending) and the agent retries
// it until CancelExport. Offline, it returns an export request code for
// the licensing desk (ExportResult.Code), which answers with an
// authorization code to install; that needs a reservation installed.
//
// A tag given back (ReturnExport) cannot be asked for again until the
// return is answered (ErrExportDisabled).
func (in *Instance) RequestExport(ctx context.Context, c *Client, tag string, count uint32) (*ExportResult, error) {
	return in.export(ctx, c, tag, count, false)
}

// ReturnExport gives back every license of the export-controlled tag of
// the installed code. The tag is disabled here first, in the same write
// that records the return: from then on Licensed is false and Acquire
// refuses it, although the installed code still lists it. Online, the
// service answers with a code without the tag, installed and confirmed
// here; when it cannot be reached the return is retried by the agent.
// Offline, it returns the export request code (a return) for the
// licensing desk. The tag is enabled again only by a code that no longer
// lists it (and then asked for anew).
func (in *Instance) ReturnExport(ctx context.Context, c *Client, tag string) (*ExportResult, error) {
	return in.export(ctx, c, tag, 0, true)
}

func (in *Instance) export(ctx context.Context, c *Client, tag string, count uint32, ret bool) (*ExportResult, error) {
	if err := codes.CheckTag(tag); err != nil {
		return nil, err
	}
	if !ret && count == 0 {
		return nil, fmt.Errorf("%w: export request for %q of 0 licenses", ErrCount, tag)
	}
	out := &ExportResult{Tag: tag}
	var r *route
	if err := in.read(func(st *state, now time.Time) error {
		out.Online = st.online()
		return nil
	}); err != nil {
		return nil, err
	}
	if out.Online {
		var err error
		if r, _, err = in.routeOf(c); err != nil {
			return nil, err
		}
	}
	err := in.update(func(st *state, now time.Time) error {
		t := now.Unix()
		st.tidyConnected()
		if ret {
			if !st.lists(tag) {
				return fmt.Errorf("%w: %q is not in the installed authorization code: nothing to give back", ErrNotExportControlled, tag)
			}
			count = 0
			controlled := false
			for _, e := range st.auth.Entitlements {
				if e.Tag == tag {
					count += e.Count
					controlled = controlled || e.ExportControlled
				}
			}
			if !controlled {
				return fmt.Errorf("%w: %q is not export-controlled in reservation %x serial %d: its licenses go back with the reservation", ErrNotExportControlled, tag, st.auth.Reservation, st.auth.Serial)
			}
		} else if st.exportDisabled(tag) {
			return fmt.Errorf("%w: %q was given back and stays disabled until the answer to the return is installed: airlock instance export status", ErrExportDisabled, tag)
		}
		out.Count = count
		e := exportRecord{Tag: tag, Count: count, Return: ret, MadeAt: t}
		if !out.Online {
			if st.auth == nil {
				return fmt.Errorf("%w: an offline export request names the installed reservation: install one first (or register, and set the transport, to ask the service)", ErrNotReserved)
			}
			mac, err := st.macKey(st.auth.KeyID)
			if err != nil {
				return err
			}
			code, err := codes.SealExportRequest(&codes.ExportRequest{Reservation: st.auth.Reservation, Serial: st.auth.Serial, Tag: tag, Count: count, Return: ret, IssuedAt: t}, mac)
			if err != nil {
				return err
			}
			e.Offline, e.Code, e.Reservation, e.Serial = true, code, bytes.Clone(st.auth.Reservation), st.auth.Serial
			out.Code = code
		}
		c := st.connected()
		if ret && !slices.Contains(c.Disabled, tag) {
			if len(c.Disabled) >= maxDisabled {
				return fmt.Errorf("%w: %d licenses are being given back already, the limit is %d: install the answers first", codes.ErrInvalid, len(c.Disabled), maxDisabled)
			}
			c.Disabled = append(c.Disabled, tag)
		}
		if err := c.putExport(e); err != nil {
			return err
		}
		how := "to the service"
		if !out.Online {
			how = "as a code for the licensing desk"
		}
		what := "export-request"
		if ret {
			what = "export-return"
		}
		st.journalAdd(t, what, fmt.Sprintf("%d %s, %s", count, tag, how))
		return nil
	})
	if err != nil || !out.Online {
		if err != nil {
			return nil, err
		}
		return out, nil
	}
	out.Answer, err = in.sendExport(ctx, c, r, tag, ret)
	if err != nil && transient(err) {
		out.Pending = true
	}
	return out, err
}

// sendExport posts the online export record of tag, and applies the
// answer.
func (in *Instance) sendExport(ctx context.Context, c *Client, r *route, tag string, ret bool) (*Answer, error) {
	var req api.ExportRequest
	if err := in.read(func(st *state, now time.Time) error {
		if st.conn == nil {
			return fmt.Errorf("%w: for %q", ErrNoExport, tag)
		}
		i := st.conn.findExport(tag, ret)
		if i < 0 || st.conn.Exports[i].Offline {
			return fmt.Errorf("%w: for %q (cancelled?)", ErrNoExport, tag)
		}
		req = api.ExportRequest{Tag: tag, Count: st.conn.Exports[i].Count}
		return nil
	}); err != nil {
		return nil, err
	}
	path := api.PathExport
	if ret {
		path = api.PathExportReturn
	}
	var ans authorizedAnswer
	if err := in.do(ctx, c, r, JobExport, path, req, &ans); err != nil {
		var se *ServiceError
		if errors.As(err, &se) && !se.Transient() {
			err = fmt.Errorf("%w: %w", ErrExportRefused, err)
		}
		in.exportFailed(tag, ret, err)
		return nil, err
	}
	var refusal string
	answer, err := in.apply(ctx, c, r, JobExport, &ans, func(st *state, now time.Time) {
		for _, rf := range ans.Refused {
			if rf.Tag == tag {
				refusal = rf.Reason
			}
		}
		switch {
		case refusal != "":
		case !ret && !st.lists(tag):
			refusal = "the service's answer does not authorize it"
		case ret && st.lists(tag):
			refusal = "the service's answer still lists it: it stays disabled here"
		}
		i := st.conn.findExport(tag, ret)
		if i < 0 {
			return
		}
		if refusal != "" {
			st.conn.Exports[i].Refused = clean(refusal, maxMessage)
			st.journalAdd(now.Unix(), "export-refused", fmt.Sprintf("%s of %s: %s", verb(ret), tag, refusal))
			return
		}
		st.conn.Exports = slices.Delete(st.conn.Exports, i, i+1)
		st.journalAdd(now.Unix(), "export-granted", fmt.Sprintf("%s of %d %s", verb(ret), req.Count, tag))
	})
	if err != nil {
		in.exportFailed(tag, ret, err)
		return answer, err
	}
	if refusal != "" {
		return answer, fmt.Errorf("%w: %s of %q: %s", ErrExportRefused, verb(ret), tag, clean(refusal, maxMessage))
	}
	return answer, nil
}

func verb(ret bool) string {
	if ret {
		return "return"
	}
	return "request"
}

// exportFailed records a failed export call: a refusal is kept and not
// retried; another failure is retried after a backoff.
func (in *Instance) exportFailed(tag string, ret bool, err error) {
	_ = in.update(func(st *state, now time.Time) error {
		if st.conn == nil {
			return errNoChange
		}
		t := now.Unix()
		var se *ServiceError
		if errors.As(err, &se) {
			st.conn.LastContact = max(st.conn.LastContact, t)
		}
		i := st.conn.findExport(tag, ret)
		if i < 0 {
			return nil
		}
		e := &st.conn.Exports[i]
		if errors.Is(err, ErrExportRefused) {
			e.Refused = errorText(err)
			if se != nil && se.Message != "" {
				e.Refused = se.Message
			}
			st.journalAdd(t, "export-refused", fmt.Sprintf("%s of %s: %s", verb(ret), tag, e.Refused))
			return nil
		}
		e.Failures = min(e.Failures+1, 1<<20)
		e.Error = errorText(err)
		e.RetryAt = t + int64(backoff(e.Failures, err)/time.Second)
		return nil
	})
}

// CancelExport stops waiting for the export requests and returns of tag
// ("" for every tag): the agent no longer retries them, and an offline
// code is forgotten (the desk may still answer it). A tag given back
// stays disabled. It returns what it cancelled, or ErrNoExport.
func (in *Instance) CancelExport(tag string) ([]ExportStatus, error) {
	var out []ExportStatus
	err := in.update(func(st *state, now time.Time) error {
		if st.conn == nil {
			return fmt.Errorf("%w: nothing to cancel", ErrNoExport)
		}
		st.conn.Exports = slices.DeleteFunc(st.conn.Exports, func(e exportRecord) bool {
			if tag == "" || e.Tag == tag {
				out = append(out, e.status())
				return true
			}
			return false
		})
		if len(out) == 0 {
			if tag == "" {
				return fmt.Errorf("%w: nothing to cancel", ErrNoExport)
			}
			return fmt.Errorf("%w: for %q", ErrNoExport, tag)
		}
		for _, e := range out {
			st.journalAdd(now.Unix(), "export-cancel", fmt.Sprintf("%s of %d %s", verb(e.Return), e.Count, e.Tag))
		}
		return nil
	})
	return out, err
}

// dueExports returns the online export records due at t: not refused,
// and past their retry time.
func (st *state) dueExports(t int64) []exportRecord {
	if !st.online() {
		return nil
	}
	var out []exportRecord
	for _, e := range st.conn.Exports {
		if !e.Offline && e.Refused == "" && e.RetryAt <= t {
			out = append(out, e)
		}
	}
	return out
}

// dropAnsweredExports forgets the offline export requests that the
// installed code settles: a newer serial of the reservation they name
// answers them, or makes them stale (the desk answers an export request
// code only against the latest serial), so nothing is waiting any more.
func (st *state) dropAnsweredExports() {
	if st.conn == nil || st.auth == nil {
		return
	}
	kept := st.conn.Exports[:0]
	for _, e := range st.conn.Exports {
		if e.Offline && bytes.Equal(e.Reservation, st.auth.Reservation) && st.auth.Serial > e.Serial {
			continue
		}
		kept = append(kept, e)
	}
	st.conn.Exports = kept
}
