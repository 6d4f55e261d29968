package instance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/codes/api"
)

// Connected mode (issue 10): an instance that reaches a licensing service
// over HTTPS (airlock authority serve, or a satellite) registers with a
// token, then renews its authorization every 30 days and its
// registration every 6 months, reports usage every 6 hours, and asks for
// and gives back export-controlled licenses; every call but the
// registration is signed with the pairwise key (codes/api). The codes it
// installs are authorization codes like any other, verified against the
// trust set, but they lapse (codes.Authorization.Lapses) 90 days after
// they were issued unless a renewal replaced them: enforce.go refuses a
// lapsed code and Warnings says so.
//
// The calls are methods of Instance taking a *Client (transport.go); the
// periodic work is the Agent's (agent.go); export control is in
// export.go. Each call is a few durable writes of the state around one
// HTTPS round trip: the sequence number is taken (and written) before the
// request leaves, so no two requests ever carry the same number, even
// after a crash; what the answer carries is installed and recorded after.

// connectedRecord is the state's connected-mode record (type 7): the
// transport setting, the registration, the schedule of the periodic work,
// and the export requests. Times named …At or Last… are the instance's
// clock, Unix seconds; Reg… times are the service's.
type connectedRecord struct {
	Kind      uint8  `cbor:"1,keyasint,omitempty"` // TransportKind; 0: offline
	URL       string `cbor:"2,keyasint,omitempty"`
	Proxy     string `cbor:"3,keyasint,omitempty"`
	ProxyUser string `cbor:"4,keyasint,omitempty"`
	CA        []byte `cbor:"5,keyasint,omitempty"` // SHA-256 of the pinned CA file (caName)
	Private   bool   `cbor:"6,keyasint,omitempty"`
	Seq       uint64 `cbor:"7,keyasint,omitempty"` // the last sequence number sent

	Account       string          `cbor:"8,keyasint,omitempty"` // ORG/ACCOUNT; "" while not registered
	RegisteredAt  int64           `cbor:"9,keyasint,omitempty"`
	RegRenewedAt  int64           `cbor:"10,keyasint,omitempty"`
	RegExpires    int64           `cbor:"11,keyasint,omitempty"`
	ExportAllowed bool            `cbor:"12,keyasint,omitempty"`
	Wanted        []codes.License `cbor:"13,keyasint,omitempty"` // asked for at every renewal

	LastContact int64          `cbor:"14,keyasint,omitempty"` // the service last answered
	AuthRenewed int64          `cbor:"15,keyasint,omitempty"` // the authorization was last renewed (or registered)
	RegRenewed  int64          `cbor:"16,keyasint,omitempty"` // the registration was last renewed (or made)
	UsageSent   int64          `cbor:"17,keyasint,omitempty"` // the last usage report reached the service
	UsageUnsent bool           `cbor:"18,keyasint,omitempty"` // the report kept in the state has not reached it
	Confirm     uint64         `cbor:"19,keyasint,omitempty"` // serial of the installed code whose confirmation is still to send
	Adopt       []byte         `cbor:"20,keyasint,omitempty"` // a re-registration's code for a new reservation, until installed
	Jobs        []jobRecord    `cbor:"21,keyasint,omitempty"` // the calls that failed last time
	Exports     []exportRecord `cbor:"22,keyasint,omitempty"` // export requests and returns not yet answered
	Disabled    []string       `cbor:"23,keyasint,omitempty"` // tags given back here first, until a code no longer lists them
}

// A jobRecord is a periodic call that failed, and when to try it again.
type jobRecord struct {
	Job      Job    `cbor:"1,keyasint"`
	Failures uint32 `cbor:"2,keyasint"`
	At       int64  `cbor:"3,keyasint"` // the last failure
	RetryAt  int64  `cbor:"4,keyasint"`
	Error    string `cbor:"5,keyasint,omitempty"`
}

// Limits of the connected record, so that it stays under wire.MaxSize.
const (
	maxExports   = 8   // export requests waiting at once
	maxDisabled  = 8   // tags disabled by a return not yet answered
	maxAccount   = 256 // an account's name: ORG/ACCOUNT
	maxWantedLen = 64  // lines asked for at renewal
)

// A Job is one kind of periodic work of connected mode.
type Job uint8

// The jobs.
const (
	JobAuthorization Job = iota + 1 // renew the authorization (every 30 days)
	JobRegistration                 // renew the registration (every 6 months)
	JobUsage                        // report usage (every 6 hours)
	JobConfirm                      // send the confirmation of an installed update
	JobExport                       // ask for or give back export-controlled licenses
	JobRegister                     // register or re-register
	JobDeregister                   // deregister
)

// String names the job, e.g. "renew authorization".
func (j Job) String() string {
	switch j {
	case JobAuthorization:
		return "renew authorization"
	case JobRegistration:
		return "renew registration"
	case JobUsage:
		return "usage update"
	case JobConfirm:
		return "confirm"
	case JobExport:
		return "export"
	case JobRegister:
		return "register"
	case JobDeregister:
		return "deregister"
	}
	return fmt.Sprintf("job(%d)", uint8(j))
}

// connected returns the connected record, making it if needed.
func (st *state) connected() *connectedRecord {
	if st.conn == nil {
		st.conn = &connectedRecord{}
	}
	return st.conn
}

// registered reports whether the instance is registered.
func (st *state) registered() bool { return st.conn != nil && st.conn.Account != "" }

// transportString describes the setting for the journal.
func (c *connectedRecord) transportString() string {
	if c.Kind == 0 {
		return "offline"
	}
	s := TransportKind(c.Kind).String() + " " + c.URL
	if c.Proxy != "" {
		s += " through proxy " + c.Proxy
		if c.ProxyUser != "" {
			s += " as " + c.ProxyUser
		}
	}
	if c.CA != nil {
		s += fmt.Sprintf(", CA %x", c.CA[:8])
	}
	if c.Private {
		s += ", private"
	}
	return s
}

// checkShape checks the record as decodeState reads it.
func (c *connectedRecord) checkShape() error {
	switch {
	case c.Kind > uint8(TransportSatellite):
		return corrupt("connected record of transport kind %d", c.Kind)
	case c.Kind == 0 && (c.URL != "" || c.Proxy != "" || c.CA != nil):
		return corrupt("connected record offline with a URL")
	case c.Kind != 0 && c.URL == "":
		return corrupt("connected record without a URL")
	case len(c.URL) > maxURLLen || len(c.Proxy) > maxURLLen || len(c.ProxyUser) > 256 || len(c.Account) > maxAccount:
		return corrupt("connected record with a field too long")
	case c.CA != nil && len(c.CA) != 32:
		return corrupt("connected record with a CA hash of %d bytes", len(c.CA))
	case len(c.Jobs) > int(JobDeregister) || len(c.Exports) > maxExports || len(c.Disabled) > maxDisabled || len(c.Wanted) > maxWantedLen:
		return corrupt("connected record with %d jobs, %d export requests, %d disabled tags, %d licenses wanted", len(c.Jobs), len(c.Exports), len(c.Disabled), len(c.Wanted))
	case c.Account == "" && (c.Confirm != 0 || c.Adopt != nil):
		return corrupt("connected record not registered, with a confirmation or a code to install")
	}
	seen := map[Job]bool{}
	for _, j := range c.Jobs {
		if j.Job == 0 || j.Job > JobDeregister || seen[j.Job] {
			return corrupt("connected record with job %d twice or unknown", j.Job)
		}
		seen[j.Job] = true
	}
	for _, e := range c.Exports {
		if codes.CheckTag(e.Tag) != nil || e.Count == 0 || (e.Offline && len(e.Code) == 0) {
			return corrupt("export request for %q of %d without its code", e.Tag, e.Count)
		}
	}
	for _, t := range c.Disabled {
		if codes.CheckTag(t) != nil {
			return corrupt("disabled tag %q", t)
		}
	}
	return nil
}

// job returns the failure record of j, nil if none.
func (c *connectedRecord) job(j Job) *jobRecord {
	for i := range c.Jobs {
		if c.Jobs[i].Job == j {
			return &c.Jobs[i]
		}
	}
	return nil
}

// succeeded records that the service answered a call of job j at t.
func (c *connectedRecord) succeeded(j Job, t int64) {
	c.LastContact = max(c.LastContact, t)
	c.Jobs = slices.DeleteFunc(c.Jobs, func(r jobRecord) bool { return r.Job == j })
}

// failed records that a call of job j failed at t with err, and when to
// try again: a transient failure after a backoff that doubles from a
// minute to an hour (or the service's Retry-After), a refusal after an
// hour at least.
func (c *connectedRecord) failed(j Job, t int64, err error) {
	r := c.job(j)
	if r == nil {
		c.Jobs = append(c.Jobs, jobRecord{Job: j})
		r = &c.Jobs[len(c.Jobs)-1]
	}
	r.Failures = min(r.Failures+1, 1<<20)
	r.At, r.Error = t, errorText(err)
	r.RetryAt = t + int64(backoff(r.Failures, err)/time.Second)
	var se *ServiceError
	if errors.As(err, &se) {
		c.LastContact = max(c.LastContact, t) // it answered, even if no
	}
}

// Backoff bounds.
const (
	backoffFirst = time.Minute
	backoffMax   = time.Hour
)

// backoff is the wait after the n-th failure in a row.
func backoff(n uint32, err error) time.Duration {
	d := backoffMax
	if n < 7 {
		d = min(backoffFirst<<(n-1), backoffMax)
	}
	var se *ServiceError
	if errors.As(err, &se) && se.RetryAfter > d {
		d = se.RetryAfter
	}
	if !transient(err) {
		d = max(d, backoffMax)
	}
	return d
}

// ErrNotRegistered means the call needs a registration (register first),
// or register was asked of an instance registered already (re-register
// moves it; deregister ends it).
var ErrNotRegistered = errors.New("not registered")

// apiKey returns the pairwise MAC key for signed calls and the id of the
// authority key it was derived with: the key that signed the installed
// code, or the trust set's current key.
func (st *state) apiKey(t int64) ([]byte, codes.KeyID, error) {
	if st.auth != nil {
		k, err := st.macKey(st.auth.KeyID)
		return k, st.auth.KeyID, err
	}
	key, err := st.currentKey(t)
	if err != nil {
		return nil, codes.KeyID{}, err
	}
	k, err := st.key.MACKey(key)
	return k, key.ID(), err
}

// nextSeq returns the next sequence number: above the last one sent, and
// at least the clock in milliseconds, so that a state restored from a
// backup still moves forward.
func (c *connectedRecord) nextSeq(now time.Time) uint64 {
	seq := c.Seq + 1
	if ms := now.UnixMilli(); ms > 0 && uint64(ms) > seq {
		seq = uint64(ms)
	}
	c.Seq = seq
	return seq
}

// routeOf reads the transport setting and builds the route; it asks for
// the proxy password, so it runs outside the state's lock.
func (in *Instance) routeOf(c *Client) (*route, Transport, error) {
	t, err := in.Transport()
	if err != nil {
		return nil, t, err
	}
	r, err := c.routeFor(t)
	return r, t, err
}

// do makes one signed call of job: it takes the next sequence number
// durably, signs the JSON of req, posts it, and decodes the answer into
// out. A failure is recorded with the job (the agent tries again after a
// backoff); success is recorded by the caller with what the answer
// carries.
func (in *Instance) do(ctx context.Context, c *Client, r *route, j Job, path string, req, out any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	var headers map[string]string
	err = in.update(func(st *state, now time.Time) error {
		if !st.registered() {
			return fmt.Errorf("%w: register first (airlock instance register TOKEN)", ErrNotRegistered)
		}
		mac, id, err := st.apiKey(now.Unix())
		if err != nil {
			return err
		}
		s := api.Signed{UDI: st.core.UDI.String(), KeyID: id, Seq: st.conn.nextSeq(now)}
		headers = s.Headers(mac, http.MethodPost, path, body)
		return nil
	})
	if err != nil {
		return err
	}
	if err := r.post(ctx, c.timeout(), path, headers, body, out); err != nil {
		if j != JobExport { // export records keep their own failures
			in.recordFailure(j, err)
		}
		return err
	}
	return nil
}

// recordFailure records a failed call; a failure to record it is not
// the caller's concern (the call failed anyway).
func (in *Instance) recordFailure(j Job, err error) {
	_ = in.update(func(st *state, now time.Time) error {
		if st.conn == nil {
			return errNoChange
		}
		st.conn.failed(j, now.Unix(), err)
		return nil
	})
}

// An Answer is what the service answered a registration, a renewal or an
// export call, once applied to the instance.
type Answer struct {
	Registration api.Registration
	Installed    *Installed // the code installed from the answer; nil if it carried none
	Confirmed    bool       // the installed update's confirmation reached the service
	ConfirmError error      // why it did not, if it did not: the agent sends it again
	Shortfall    []api.Line
	Borrowed     []api.Borrowed
	Refused      []api.Refusal
}

// authorizedAnswer is api.Authorized with its bounds checked.
type authorizedAnswer struct{ api.Authorized }

func (a *authorizedAnswer) validate() error {
	r := &a.Registration
	switch {
	case len(a.Authorization) > codes.MaxCodeSize:
		return fmt.Errorf("the authorization code has %d bytes, the limit is %d", len(a.Authorization), codes.MaxCodeSize)
	case len(r.Account) > maxAccount || clean(r.Account, maxAccount) != r.Account:
		return fmt.Errorf("the account name is too long or holds control characters")
	case r.RegisteredAt < 0 || r.RenewedAt < 0 || r.ExpiresAt < 0:
		return fmt.Errorf("a registration time is negative")
	case len(a.Shortfall) > codes.MaxLines || len(a.Borrowed) > codes.MaxLines || len(a.Refused) > codes.MaxLines:
		return fmt.Errorf("more than %d shortfall, borrowed or refused lines", codes.MaxLines)
	}
	for _, l := range a.Shortfall {
		if err := codes.CheckTag(l.Tag); err != nil {
			return fmt.Errorf("shortfall: %v", err)
		}
	}
	for _, b := range a.Borrowed {
		if err := codes.CheckTag(b.Tag); err != nil {
			return fmt.Errorf("borrowed: %v", err)
		}
		if err := codes.CheckTag(b.From); err != nil {
			return fmt.Errorf("borrowed from: %v", err)
		}
	}
	for i := range a.Refused {
		if err := codes.CheckTag(a.Refused[i].Tag); err != nil {
			return fmt.Errorf("refused: %v", err)
		}
		a.Refused[i].Reason = clean(a.Refused[i].Reason, maxMessage)
	}
	return nil
}

// doneAnswer is api.Done with its bounds checked.
type doneAnswer struct{ api.Done }

func (d *doneAnswer) validate() error {
	d.Message = clean(d.Message, maxMessage)
	return nil
}

// apply installs the code an answer carries and records the call's
// success and the registration; an update's confirmation is then sent.
func (in *Instance) apply(ctx context.Context, c *Client, r *route, j Job, ans *authorizedAnswer, also func(st *state, now time.Time)) (*Answer, error) {
	out := &Answer{Registration: ans.Registration, Shortfall: ans.Shortfall, Borrowed: ans.Borrowed, Refused: ans.Refused}
	var installErr error
	if len(ans.Authorization) > 0 {
		out.Installed, installErr = in.Install(ans.Authorization)
		if installErr != nil {
			installErr = fmt.Errorf("installing the authorization code the service sent: %w", installErr)
		}
	}
	err := in.update(func(st *state, now time.Time) error {
		if st.conn == nil {
			return errNoChange
		}
		t := now.Unix()
		c := st.conn
		if installErr != nil {
			c.failed(j, t, installErr)
			return nil
		}
		c.succeeded(j, t)
		if reg := ans.Registration; reg.Account != "" && c.Account != "" {
			c.Account, c.RegisteredAt, c.RegRenewedAt, c.RegExpires, c.ExportAllowed = reg.Account, reg.RegisteredAt, reg.RenewedAt, reg.ExpiresAt, reg.ExportAllowed
		}
		if out.Installed != nil && !out.Installed.Again && out.Installed.Confirmation != nil {
			c.Confirm = out.Installed.Authorization.Serial
			c.Jobs = slices.DeleteFunc(c.Jobs, func(r jobRecord) bool { return r.Job == JobConfirm })
		}
		if also != nil {
			also(st, now)
		}
		st.tidyConnected()
		return nil
	})
	if installErr != nil {
		return out, installErr
	}
	if err != nil {
		return out, err
	}
	if out.Installed != nil && out.Installed.Confirmation != nil && !out.Installed.Again {
		out.ConfirmError = in.confirm(ctx, c, r)
		out.Confirmed = out.ConfirmError == nil
	}
	return out, nil
}

// confirm sends the confirmation of the installed update, if one is due.
func (in *Instance) confirm(ctx context.Context, c *Client, r *route) error {
	var code []byte
	var serial uint64
	if err := in.read(func(st *state, now time.Time) error {
		if st.conn == nil || st.conn.Confirm == 0 || st.auth == nil || st.auth.Serial != st.conn.Confirm {
			return nil
		}
		code, serial = bytes.Clone(st.core.Confirmation), st.conn.Confirm
		return nil
	}); err != nil || code == nil {
		if err == nil {
			err = in.clearConfirm(0)
		}
		return err
	}
	var done doneAnswer
	if err := in.do(ctx, c, r, JobConfirm, api.PathConfirm, api.CodeRequest{Code: code}, &done); err != nil {
		return err
	}
	return in.clearConfirm(serial)
}

// clearConfirm records that the confirmation of serial reached the
// service (0: that none is due any more).
func (in *Instance) clearConfirm(serial uint64) error {
	return in.update(func(st *state, now time.Time) error {
		if st.conn == nil || (st.conn.Confirm == 0 && serial == 0) {
			return errNoChange
		}
		if serial != 0 {
			st.conn.succeeded(JobConfirm, now.Unix())
			st.journalAdd(now.Unix(), "confirm", fmt.Sprintf("the service took the confirmation of serial %d", serial))
		}
		if serial == 0 || st.conn.Confirm == serial {
			st.conn.Confirm = 0
		}
		return nil
	})
}

// hostInfo returns the hostname and the non-loopback IP addresses for a
// registration that is not private.
func hostInfo() (string, []string) {
	host, _ := os.Hostname()
	var addrs []string
	if as, err := net.InterfaceAddrs(); err == nil {
		for _, a := range as {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
				addrs = append(addrs, ipn.IP.String())
			}
			if len(addrs) == 16 {
				break
			}
		}
	}
	return clean(host, 253), addrs
}

// Register registers the instance with the service named by its
// transport setting, with a registration token from the vendor (or the
// customer's administrator), asking for wanted licenses. It enables
// reservation if needed (the evaluation ends when the first code
// installs), makes a request code as Request does, posts it with the
// token, and installs the authorization code of the answer, if any; when
// the answer carries none (the account holds none of the licenses
// wanted), the request stays pending and the first renewal that finds
// licenses answers it. wanted is kept and asked for at every renewal.
//
// It is refused while registered (ErrNotRegistered: re-register moves the
// instance, deregister ends the registration) and while a reservation
// made offline is installed (ErrReservationInstalled: return it first).
func (in *Instance) Register(ctx context.Context, c *Client, token string, wanted []codes.License) (*Answer, error) {
	return in.register(ctx, c, token, wanted, false)
}

// Reregister moves a registered instance to the account of token: the
// service gives the licenses of its current reservation back to the old
// account and authorizes wanted (or, if nil, the licenses asked for so
// far) from the new one. The code the answer carries replaces the
// installed one: an update of the same reservation installs as any
// update; a code for a new reservation retires the old one here (it is
// recorded as returned) in the same step.
func (in *Instance) Reregister(ctx context.Context, c *Client, token string, wanted []codes.License) (*Answer, error) {
	return in.register(ctx, c, token, wanted, true)
}

// maxToken caps a registration token's length.
const maxToken = 512

func (in *Instance) register(ctx context.Context, c *Client, token string, wanted []codes.License, again bool) (*Answer, error) {
	token = strings.TrimSpace(token)
	if token == "" || len(token) > maxToken || clean(token, maxToken) != token {
		return nil, fmt.Errorf("%w: the registration token is empty, longer than %d characters, or holds control characters", codes.ErrMalformed, maxToken)
	}
	if len(wanted) > maxWantedLen {
		return nil, fmt.Errorf("%w: %d licenses wanted, the limit is %d", codes.ErrInvalid, len(wanted), maxWantedLen)
	}
	r, t, err := in.routeOf(c)
	if err != nil {
		return nil, err
	}
	var code, nonce []byte
	var oldAuth *codes.Authorization
	err = in.update(func(st *state, now time.Time) error {
		tt := now.Unix()
		switch {
		case !again && st.registered():
			return fmt.Errorf("%w: registered already, with account %s: airlock instance re-register TOKEN moves it to another account, deregister ends it", ErrNotRegistered, st.conn.Account)
		case again && !st.registered():
			return fmt.Errorf("%w: re-register moves a registered instance: use register", ErrNotRegistered)
		case !again && st.auth != nil:
			return fmt.Errorf("%w: reservation %x serial %d was installed offline: return it (airlock instance return) and take the return code to the authority, then register",
				ErrReservationInstalled, st.auth.Reservation, st.auth.Serial)
		}
		if wanted == nil && again {
			wanted = slices.Clone(st.conn.Wanted)
		}
		if !st.core.Enabled {
			st.core.Enabled = true
			st.journalAdd(tt, "enable", "for registration")
		}
		seal := func(n []byte, key *codes.AuthorityPublicKey) ([]byte, error) {
			return codes.SealRequest(&codes.Request{UDI: st.core.UDI, Nonce: n, IssuedAt: tt, Wanted: wanted}, st.key, key)
		}
		if st.auth == nil {
			code, err = st.newPending(tt, "registration request", "ask for fewer licenses", wanted, seal)
			if err != nil {
				return err
			}
			nonce = st.pending[len(st.pending)-1].Nonce
			return nil
		}
		// A re-registration with a reservation installed: the request
		// proves the key; it is pending so that a code for a new
		// reservation may answer it (adopt).
		var key *codes.AuthorityPublicKey
		code, nonce, key, err = st.sealFresh(tt, "ask for fewer licenses", seal)
		if err != nil {
			return err
		}
		id := key.ID()
		st.pending = append(st.pending, pendingRequest{Nonce: nonce, IssuedAt: tt, Wanted: slices.Clone(wanted), KeyID: id[:]})
		if n := len(st.pending); n > maxPending {
			st.addCancelled(st.pending[0].Nonce)
			st.pending = append([]pendingRequest(nil), st.pending[n-maxPending:]...)
		}
		st.journalAdd(tt, "request", fmt.Sprintf("re-registration request %x for authority key %s, wanted: %s", nonce, id, formatLicenses(wanted)))
		oldAuth = cloneAuthorization(st.auth)
		return nil
	})
	if err != nil {
		return nil, err
	}
	req := api.RegisterRequest{Token: token, Request: code, Reregister: again}
	if !t.Private {
		req.Hostname, req.Addresses = hostInfo()
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var ans authorizedAnswer
	if err := r.post(ctx, c.timeout(), api.PathRegister, nil, body, &ans); err != nil {
		in.recordFailure(JobRegister, err)
		return nil, err
	}
	if ans.Registration.Account == "" {
		err := fmt.Errorf("%w: %s: the registration answer names no account", ErrBadAnswer, r.base.JoinPath(api.PathRegister))
		in.recordFailure(JobRegister, err)
		return nil, err
	}
	// Record the registration before installing: were the install to
	// fail, the instance can still renew or deregister.
	var adopt *codes.Authorization
	if oldAuth != nil && len(ans.Authorization) > 0 {
		if a, err := codes.ParseUnverifiedAuthorization(ans.Authorization); err == nil && !bytes.Equal(a.Reservation, oldAuth.Reservation) {
			adopt = a
		}
	}
	err = in.update(func(st *state, now time.Time) error {
		tt := now.Unix()
		c := st.connected()
		reg := ans.Registration
		c.Account, c.RegisteredAt, c.RegRenewedAt, c.RegExpires, c.ExportAllowed = reg.Account, reg.RegisteredAt, reg.RenewedAt, reg.ExpiresAt, reg.ExportAllowed
		c.Wanted = slices.Clone(wanted)
		c.AuthRenewed, c.RegRenewed, c.UsageSent = tt, tt, tt
		c.Confirm = 0
		c.succeeded(JobRegister, tt)
		if adopt != nil {
			c.Adopt = bytes.Clone(ans.Authorization)
		}
		what := "register"
		if again {
			what = "re-register"
		}
		st.journalAdd(tt, what, fmt.Sprintf("account %s, registration until %s, export-controlled %s", reg.Account, codes.FormatTime(reg.ExpiresAt), allowed(reg.ExportAllowed)))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if adopt != nil {
		if err := in.adopt(); err != nil {
			return &Answer{Registration: ans.Registration, Shortfall: ans.Shortfall, Borrowed: ans.Borrowed, Refused: ans.Refused}, err
		}
		ans.Authorization = nil // installed
		out, err := in.apply(ctx, c, r, JobRegister, &ans, nil)
		if err == nil {
			out.Installed, err = in.installedNow()
		}
		return out, err
	}
	if oldAuth != nil && len(ans.Authorization) == 0 {
		// The service took the old reservation back and authorized
		// nothing from the new account: the old code must go too.
		if _, err := in.retire(oldAuth.Reservation); err != nil {
			return nil, err
		}
	}
	out, err := in.apply(ctx, c, r, JobRegister, &ans, nil)
	if err == nil && oldAuth != nil && (out.Installed == nil || out.Installed.Update) {
		// The pending re-registration request was not needed.
		err = in.dropPending(nonce)
	}
	return out, err
}

func allowed(b bool) string {
	if b {
		return "allowed"
	}
	return "not allowed"
}

// installedNow describes the installed code as Install would.
func (in *Instance) installedNow() (*Installed, error) {
	var out *Installed
	err := in.read(func(st *state, now time.Time) error {
		if st.auth != nil {
			out = &Installed{Authorization: cloneAuthorization(st.auth)}
		}
		return nil
	})
	return out, err
}

// adopt installs the code a re-registration brought for a new
// reservation: the old reservation is recorded as returned (the service
// gave its licenses back), then the new code installs, answering the
// pending re-registration request. The code is kept in the state until it
// is installed, so that a crash between the two steps is finished by the
// next connected call.
func (in *Instance) adopt() error {
	var code []byte
	var old []byte
	if err := in.read(func(st *state, now time.Time) error {
		if st.conn == nil || st.conn.Adopt == nil {
			return nil
		}
		code = bytes.Clone(st.conn.Adopt)
		if st.auth != nil {
			old = bytes.Clone(st.auth.Reservation)
		}
		return nil
	}); err != nil || code == nil {
		return err
	}
	a, err := codes.ParseUnverifiedAuthorization(code)
	if err != nil {
		return in.dropAdopt(fmt.Errorf("%w: the re-registration's code: %v", ErrBadAnswer, err))
	}
	if old != nil && !bytes.Equal(old, a.Reservation) {
		if _, err := in.retire(old); err != nil {
			return err
		}
	}
	if old == nil || !bytes.Equal(old, a.Reservation) {
		if _, err := in.Install(code); err != nil {
			return in.dropAdopt(fmt.Errorf("installing the re-registration's code: %w", err))
		}
	}
	return in.dropAdopt(nil)
}

// dropAdopt forgets the re-registration's code and returns err.
func (in *Instance) dropAdopt(err error) error {
	uerr := in.update(func(st *state, now time.Time) error {
		if st.conn == nil || st.conn.Adopt == nil {
			return errNoChange
		}
		st.conn.Adopt = nil
		if err != nil {
			st.conn.failed(JobRegister, now.Unix(), err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return uerr
}

// retire gives back the installed reservation res here, because the
// service took its licenses back already: it is recorded as returned (its
// codes never install again), as Return does.
func (in *Instance) retire(res []byte) (*Returned, error) {
	var out *Returned
	err := in.update(func(st *state, now time.Time) error {
		if st.auth == nil || !bytes.Equal(st.auth.Reservation, res) {
			return errNoChange
		}
		var err error
		if out, err = st.returnInstalled(now.Unix(), "retired: the service took its licenses back at re-registration"); err != nil {
			return err
		}
		if st.conn != nil {
			st.conn.Confirm = 0
		}
		return nil
	})
	return out, err
}

// dropPending cancels one pending request.
func (in *Instance) dropPending(nonce []byte) error {
	return in.update(func(st *state, now time.Time) error {
		i := slices.IndexFunc(st.pending, func(p pendingRequest) bool { return bytes.Equal(p.Nonce, nonce) })
		if i < 0 {
			return errNoChange
		}
		st.addCancelled(nonce)
		st.pending = slices.Delete(st.pending, i, i+1)
		return nil
	})
}

// RenewAuthorization asks the service for the next authorization code,
// for the licenses wanted at registration, and installs it; an update's
// confirmation is then sent (Answer.Confirmed). The new code lapses 90
// days after it was issued.
func (in *Instance) RenewAuthorization(ctx context.Context, c *Client) (*Answer, error) {
	r, _, err := in.routeOf(c)
	if err != nil {
		return nil, err
	}
	if err := in.adopt(); err != nil {
		return nil, err
	}
	var req api.RenewRequest
	if err := in.read(func(st *state, now time.Time) error {
		if st.conn != nil {
			req.Wanted = slices.Clone(st.conn.Wanted)
		}
		if req.Wanted == nil {
			req.Wanted = []codes.License{}
		}
		if st.auth != nil {
			req.Installed = st.auth.Serial
		}
		return nil
	}); err != nil {
		return nil, err
	}
	var ans authorizedAnswer
	if err := in.do(ctx, c, r, JobAuthorization, api.PathRenewAuthorization, req, &ans); err != nil {
		return nil, err
	}
	return in.apply(ctx, c, r, JobAuthorization, &ans, func(st *state, now time.Time) {
		st.conn.AuthRenewed = now.Unix()
		st.journalAdd(now.Unix(), "renew-authorization", renewDetail(st))
	})
}

func renewDetail(st *state) string {
	if st.auth == nil {
		return "no authorization code: the account holds none of the licenses wanted"
	}
	s := fmt.Sprintf("reservation %x serial %d", st.auth.Reservation, st.auth.Serial)
	if st.auth.Lapses != 0 {
		s += ", lapses " + codes.FormatTime(st.auth.Lapses)
	}
	return s
}

// RenewRegistration extends the registration (a year from now, as the
// service counts) and installs the code the answer carries, if any.
func (in *Instance) RenewRegistration(ctx context.Context, c *Client) (*Answer, error) {
	r, _, err := in.routeOf(c)
	if err != nil {
		return nil, err
	}
	var ans authorizedAnswer
	if err := in.do(ctx, c, r, JobRegistration, api.PathRenewRegistration, struct{}{}, &ans); err != nil {
		return nil, err
	}
	return in.apply(ctx, c, r, JobRegistration, &ans, func(st *state, now time.Time) {
		st.conn.RegRenewed = now.Unix()
		st.journalAdd(now.Unix(), "renew-registration", "until "+codes.FormatTime(st.conn.RegExpires))
	})
}

// UpdateUsage sends a usage report (UsageReport) to the service. A report
// that did not reach it is sent again, byte for byte, before a new one is
// made, so that no period is lost.
func (in *Instance) UpdateUsage(ctx context.Context, c *Client) error {
	r, _, err := in.routeOf(c)
	if err != nil {
		return err
	}
	var code []byte
	if err := in.read(func(st *state, now time.Time) error {
		if !st.registered() {
			return fmt.Errorf("%w: register first (airlock instance register TOKEN)", ErrNotRegistered)
		}
		if st.conn.UsageUnsent {
			code = bytes.Clone(st.report)
		}
		return nil
	}); err != nil {
		return err
	}
	if code == nil {
		if code, err = in.UsageReport(); err != nil {
			return err
		}
		if err := in.update(func(st *state, now time.Time) error {
			st.connected().UsageUnsent = true
			return nil
		}); err != nil {
			return err
		}
	}
	var done doneAnswer
	if err := in.do(ctx, c, r, JobUsage, api.PathUsage, api.CodeRequest{Code: code}, &done); err != nil {
		return err
	}
	return in.update(func(st *state, now time.Time) error {
		if st.conn == nil {
			return errNoChange
		}
		st.conn.succeeded(JobUsage, now.Unix())
		st.conn.UsageSent, st.conn.UsageUnsent = now.Unix(), false
		return nil
	})
}

// Deregistered says what Deregister did.
type Deregistered struct {
	Account  string
	Returned *Returned // the return code of the reservation given back; nil if none was installed
	// NotTold is why the service could not be told, when it could not: the
	// instance is deregistered here all the same, and the authority must
	// remove it (airlock authority remove --instance UDI).
	NotTold error
}

// Deregister ends the registration: the installed reservation, if any,
// is returned (as Return does: its code is destroyed and recorded as
// returned) and its return code sent to the service, which gives the
// licenses back to the account. When the service cannot be reached, or
// refuses, the instance deregisters here all the same and says why in
// NotTold: the authority must then remove it by hand. The transport
// setting stays.
func (in *Instance) Deregister(ctx context.Context, c *Client) (*Deregistered, error) {
	out := &Deregistered{}
	installed := false
	if err := in.read(func(st *state, now time.Time) error {
		if !st.registered() {
			return fmt.Errorf("%w: nothing to deregister", ErrNotRegistered)
		}
		out.Account, installed = st.conn.Account, st.auth != nil
		return nil
	}); err != nil {
		return nil, err
	}
	r, _, rerr := in.routeOf(c)
	if installed {
		ret, err := in.Return()
		if err != nil {
			return nil, err
		}
		out.Returned = ret
	}
	if rerr == nil {
		var done doneAnswer
		req := api.CodeRequest{}
		if out.Returned != nil {
			req.Code = out.Returned.Code
		}
		rerr = in.do(ctx, c, r, JobDeregister, api.PathDeregister, req, &done)
		var se *ServiceError
		if errors.As(rerr, &se) && se.Code == api.CodeNotRegistered {
			rerr = nil // the service had forgotten it already
		}
	}
	out.NotTold = rerr
	err := in.update(func(st *state, now time.Time) error {
		t := now.Unix()
		c := st.connected()
		detail := "account " + c.Account + ", the service was told"
		if rerr != nil {
			detail = "account " + c.Account + ", locally only: " + errorText(rerr)
		}
		kind, url, proxy, user, ca, private, seq, last := c.Kind, c.URL, c.Proxy, c.ProxyUser, c.CA, c.Private, c.Seq, c.LastContact
		*c = connectedRecord{Kind: kind, URL: url, Proxy: proxy, ProxyUser: user, CA: ca, Private: private, Seq: seq, LastContact: last}
		if len(st.pending) > 0 {
			st.cancelPending()
		}
		st.journalAdd(t, "deregister", detail)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ConnectedStatus is what status shows of connected mode.
type ConnectedStatus struct {
	Transport Transport // Kind TransportOffline when none is set

	Registered          bool
	Account             string
	RegisteredAt        time.Time // the service's clock; zero if unknown
	RegistrationExpires time.Time
	ExportAllowed       bool
	Wanted              []codes.License

	LastContact          time.Time // zero: never
	AuthorizationRenewed time.Time
	NextAuthorization    time.Time // when the agent renews the authorization next
	RegistrationRenewed  time.Time
	NextRegistration     time.Time
	UsageReported        time.Time
	NextUsage            time.Time
	UsageUnsent          bool

	Serial      uint64    // the installed code's, 0 if none
	Lapses      time.Time // zero for a code that never lapses, or none
	Lapsed      bool
	Unconfirmed uint64 // the serial whose confirmation is still to send, 0 if none

	Failures []JobFailure
	Exports  []ExportStatus
	Disabled []string // tags disabled here by an export return not yet answered
}

// A JobFailure is a periodic call that failed, and when it is tried
// again.
type JobFailure struct {
	Job      Job
	Failures int
	At       time.Time
	RetryAt  time.Time
	Error    string
}

// Connected returns the connected-mode status.
func (in *Instance) Connected() (*ConnectedStatus, error) {
	var out *ConnectedStatus
	err := in.read(func(st *state, now time.Time) error {
		s := &ConnectedStatus{}
		t, err := in.transportOf(st)
		if err != nil {
			return err
		}
		s.Transport = t
		if a := st.auth; a != nil {
			s.Serial = a.Serial
			if a.Lapses != 0 {
				s.Lapses = unixTime(a.Lapses)
				s.Lapsed = now.Unix() >= a.Lapses
			}
		}
		c := st.conn
		if c == nil {
			out = s
			return nil
		}
		s.Registered, s.Account, s.ExportAllowed = c.Account != "", c.Account, c.ExportAllowed
		s.RegisteredAt, s.RegistrationExpires = unixTime(c.RegisteredAt), unixTime(c.RegExpires)
		s.Wanted = slices.Clone(c.Wanted)
		s.LastContact = unixTime(c.LastContact)
		s.AuthorizationRenewed, s.RegistrationRenewed, s.UsageReported = unixTime(c.AuthRenewed), unixTime(c.RegRenewed), unixTime(c.UsageSent)
		if s.Registered {
			sch := st.schedule()
			s.NextAuthorization, s.NextRegistration, s.NextUsage = unixTime(sch[JobAuthorization]), unixTime(sch[JobRegistration]), unixTime(sch[JobUsage])
		}
		s.UsageUnsent, s.Unconfirmed = c.UsageUnsent, c.Confirm
		for _, j := range c.Jobs {
			s.Failures = append(s.Failures, JobFailure{Job: j.Job, Failures: int(j.Failures), At: unixTime(j.At), RetryAt: unixTime(j.RetryAt), Error: j.Error})
		}
		for _, e := range c.Exports {
			s.Exports = append(s.Exports, e.status())
		}
		for _, tag := range c.Disabled {
			if st.lists(tag) {
				s.Disabled = append(s.Disabled, tag)
			}
		}
		out = s
		return nil
	})
	return out, err
}

// unixTime is t as a time, zero for 0.
func unixTime(t int64) time.Time {
	if t == 0 {
		return time.Time{}
	}
	return time.Unix(t, 0).UTC()
}

// schedule returns when each periodic job is due next, by the
// instance's clock: the period after its last success, or its retry time
// after a failure, whichever is later. A job that is not due (no
// confirmation to send) is absent.
func (st *state) schedule() map[Job]int64 {
	c := st.conn
	out := map[Job]int64{}
	if c == nil || c.Account == "" {
		return out
	}
	out[JobAuthorization] = c.AuthRenewed + int64(api.AuthorizationRenewal/time.Second)
	out[JobRegistration] = c.RegRenewed + int64(api.RegistrationRenewal/time.Second)
	out[JobUsage] = c.UsageSent + int64(api.UsageInterval/time.Second)
	if c.Confirm != 0 {
		out[JobConfirm] = 0
	}
	for _, j := range c.Jobs {
		if due, ok := out[j.Job]; ok {
			out[j.Job] = max(due, j.RetryAt)
		}
	}
	if c.UsageUnsent {
		out[JobUsage] = 0
		if j := c.job(JobUsage); j != nil {
			out[JobUsage] = j.RetryAt
		}
	}
	return out
}

// lists reports whether the installed code has an entitlement of tag.
func (st *state) lists(tag string) bool {
	if st.auth == nil {
		return false
	}
	for _, e := range st.auth.Entitlements {
		if e.Tag == tag {
			return true
		}
	}
	return false
}

// tidyConnected forgets what the installed code made moot: tags disabled
// by a return the service has answered (the code no longer lists them),
// and offline export requests answered by a newer code.
func (st *state) tidyConnected() {
	c := st.conn
	if c == nil {
		return
	}
	c.Disabled = slices.DeleteFunc(c.Disabled, func(tag string) bool { return !st.lists(tag) })
	c.Exports = slices.DeleteFunc(c.Exports, func(e exportRecord) bool {
		return e.Offline && (st.auth == nil || !bytes.Equal(st.auth.Reservation, e.Reservation) || st.auth.Serial > e.Serial)
	})
	if len(c.Disabled) == 0 {
		c.Disabled = nil
	}
	if len(c.Exports) == 0 {
		c.Exports = nil
	}
}
