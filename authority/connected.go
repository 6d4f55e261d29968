package authority

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/codes/api"
)

// Connected mode (issue 10): instances that reach the authority over HTTPS
// (authority/service) register with a token, then renew their
// authorization and registration, report usage, confirm codes, request and
// return export-controlled licenses, and deregister, each request
// authenticated with the instance's pairwise MAC key.
//
// A connected instance holds its licenses in an ordinary reservation of
// the ledger: the same lots, grants, serials, codes and history as in
// reservation mode, and Verify checks them the same way. What differs:
//
//   - registration takes a token instead of an operator, and counts one of
//     its uses in the same transaction;
//   - every code lapses (codes.Authorization.Lapses)
//     api.AuthorizationValidity after it was issued, and the instance
//     renews it before then;
//   - what the instance asks for is authorized as far as the account
//     covers it, never refused for a shortfall: the answer says what is
//     short (api.Authorized.Shortfall), what a higher tier covered
//     (Borrowed, see SetLadder) and what export control withheld
//     (Refused);
//   - every request after the registration is authenticated by the MAC of
//     its headers under the pairwise key (api.Signed), and its sequence
//     number must grow: both are checked, and the number recorded, in the
//     transaction of the operation, so that a refused request changes
//     nothing and a captured one cannot be replayed.
//
// An instance that registered when its account held none of what it asks
// for holds no reservation: its first code comes from a later renewal, as
// serial 1 answering the nonce of the request code it registered with. The
// instance keeps that request pending until it installs a first code.

// Refusals of connected mode, kinds of the general sentinels.
var (
	// ErrUnauthenticated means a request's MAC does not check under the
	// pairwise key of the instance it names.
	ErrUnauthenticated error = &namedKind{"request not authenticated", ErrKeyMismatch}
	// ErrReplayedRequest means a request's sequence number is not above
	// the last one accepted from its instance.
	ErrReplayedRequest error = &namedKind{"replayed or out-of-order request", ErrReplay}
	// ErrNotConnected means the instance is not registered in connected
	// mode (never, or deregistered, or removed).
	ErrNotConnected error = &namedKind{"instance not registered", ErrNotFound}
	// ErrExportRefused means an export-controlled license was asked for by
	// an instance whose registration (or account) does not allow them.
	ErrExportRefused error = &namedKind{"export-controlled license refused", ErrInvalid}
)

// A Caller is one authenticated request of an instance: what its headers
// sign, the MAC they carry, and what the MAC covers. The ledger checks it
// in the transaction of the operation, and records Signed.Seq there.
type Caller struct {
	Signed api.Signed
	MAC    []byte
	Method string
	Path   string
	Body   []byte
}

// Limits of what a registration records of the instance's host.
const (
	maxHostname  = 253 // a DNS name's longest
	maxAddresses = 16  // more than a host has interfaces worth naming
	// macKeyCacheSize bounds the pairwise keys kept in memory (each about
	// 80 bytes with its index): deriving one costs an X25519, about 50 µs,
	// on every request of an instance that is not cached.
	macKeyCacheSize = 1 << 14
)

// History actions of connected mode.
const (
	actionConnRegister   = "connected register"
	actionConnReregister = "connected re-register"
	actionConnRenew      = "connected renew"
	actionConnRegRenew   = "connected registration renew"
	actionConnDeregister = "connected deregister"
	actionExportGrant    = "export grant"
	actionExportRefuse   = "export refused"
	actionExportReturn   = "export return"
)

// connState is a ledger's connected-mode state in memory: the pairwise
// keys derived so far, and the batcher of renewals. Its zero value is
// ready once owner is set. One connState serves a ledger and every copy
// As makes of it: one cache, one batcher goroutine at most.
type connState struct {
	owner *Ledger // the ledger New made: renewal batches run as it (see As)
	mu    sync.Mutex
	keys  map[macKeyRef][]byte
	batch renewBatcher
}

type macKeyRef struct {
	pub [32]byte
	key codes.KeyID
}

// macKey returns the pairwise key of an instance and an authority key,
// derived once and kept (up to macKeyCacheSize).
func (l *Ledger) macKey(k *codes.AuthorityKey, pub []byte) ([]byte, error) {
	if len(pub) != 32 {
		return k.MACKey(pub) // refused there, with the reason
	}
	ref := macKeyRef{key: k.ID()}
	copy(ref.pub[:], pub)
	s := l.conn
	s.mu.Lock()
	mk, ok := s.keys[ref]
	s.mu.Unlock()
	if ok {
		return mk, nil
	}
	mk, err := k.MACKey(pub)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.keys == nil {
		s.keys = map[macKeyRef][]byte{}
	}
	if len(s.keys) >= macKeyCacheSize {
		for r := range s.keys { // drop one at random: map order is
			delete(s.keys, r)
			break
		}
	}
	s.keys[ref] = mk
	s.mu.Unlock()
	return mk, nil
}

// authorityKey returns the authority key with this id, current or
// retired.
func (l *Ledger) authorityKey(id codes.KeyID) (*codes.AuthorityKey, error) {
	for _, k := range l.opts.Keys {
		if k.ID() == id {
			return k, nil
		}
	}
	for i := range l.retired {
		k, err := l.retired[i].get()
		if err != nil {
			return nil, fmt.Errorf("opening a retired authority key: %w", err)
		}
		if k.ID() == id {
			return k, nil
		}
	}
	return nil, fmt.Errorf("%w: the request names authority key %s, which this authority does not hold: the instance trusts another authority, or a key this one never had", ErrUnauthenticated, id)
}

// A connCheck says which registrations authenticate accepts beyond live
// ones.
type connCheck int

const (
	liveOnly connCheck = iota
	endedToo           // a registration past its expiry, or deregistered (deregister)
)

// authenticate finds the registration of the instance a request names,
// checks its MAC and sequence number, and returns the registration and
// its instance. It writes nothing: the caller records the sequence number
// (SetContact or PutConnected) once the operation is sure to succeed.
func (l *Ledger) authenticate(tx ReadTx, c Caller, now int64, check connCheck) (*ConnectedInstance, *Instance, error) {
	udi, err := codes.ParseUDI(c.Signed.UDI)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: the request names UDI %q: %v", ErrNotConnected, c.Signed.UDI, err)
	}
	reg, inst, err := tx.ConnectedByUDI(udi.String())
	if err != nil {
		return nil, nil, err
	}
	if reg == nil {
		return nil, nil, fmt.Errorf("%w: %s is not registered here: register it with a registration token", ErrNotConnected, udi.Short())
	}
	k, err := l.authorityKey(c.Signed.KeyID)
	if err != nil {
		return nil, nil, err
	}
	mk, err := l.macKey(k, inst.PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	if len(c.MAC) != api.MACSize || !c.Signed.Check(mk, c.Method, c.Path, c.Body, c.MAC) {
		return nil, nil, fmt.Errorf("%w: the MAC of the %s %s request does not check under the pairwise key of %s (instance key %x) and authority key %s",
			ErrUnauthenticated, c.Method, c.Path, udi.Short(), codes.InstanceKeyHash(inst.PublicKey)[:8], k.ID())
	}
	if c.Signed.Seq > math.MaxInt64 {
		return nil, nil, fmt.Errorf("%w: sequence number %d is beyond %d", ErrInvalid, c.Signed.Seq, int64(math.MaxInt64))
	}
	if c.Signed.Seq <= reg.LastSeq {
		return nil, nil, fmt.Errorf("%w: sequence number %d is not above %d, the last one accepted from %s", ErrReplayedRequest, c.Signed.Seq, reg.LastSeq, udi.Short())
	}
	if reg.DeregisteredAt != 0 && check != endedToo {
		return nil, nil, fmt.Errorf("%w: %s deregistered %s: register it again with a registration token", ErrNotConnected, udi.Short(), codes.FormatTime(reg.DeregisteredAt))
	}
	if now >= reg.ExpiresAt && check == liveOnly {
		return nil, nil, fmt.Errorf("%w: the registration of %s expired %s: re-register it with a registration token", ErrNotConnected, udi.Short(), codes.FormatTime(reg.ExpiresAt))
	}
	return reg, inst, nil
}

// Lacking is what the latest authorization of a connected instance
// lacked: what was short, what a higher tier covered, what export control
// withheld. Its registration keeps it, as JSON.
type Lacking struct {
	Shortfall []api.Line     `json:"shortfall,omitempty"`
	Borrowed  []api.Borrowed `json:"borrowed,omitempty"`
	Refused   []api.Refusal  `json:"refused,omitempty"`
}

func (a *Lacking) encode() string {
	b, err := json.Marshal(a)
	if err != nil {
		panic("authority: encoding a connected answer: " + err.Error())
	}
	return string(b)
}

func decodeAnswer(s string) (Lacking, error) {
	var a Lacking
	if s == "" {
		return a, nil
	}
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return a, fmt.Errorf("%w: the answer recorded for a connected instance: %v", ErrCorrupt, err)
	}
	return a, nil
}

// registration returns the registration as the API shows it.
func (r *ConnectedInstance) registration() api.Registration {
	return api.Registration{Account: r.Account, RegisteredAt: r.RegisteredAt, RenewedAt: r.RenewedAt, ExpiresAt: r.ExpiresAt, ExportAllowed: r.ExportAllowed}
}

// answered returns the API's answer for a registration and what its
// latest authorization lacked.
func answered(reg *ConnectedInstance, code []byte) (*api.Authorized, error) {
	a, err := decodeAnswer(reg.Answer)
	if err != nil {
		return nil, err
	}
	return &api.Authorized{Registration: reg.registration(), Authorization: code, Shortfall: a.Shortfall, Borrowed: a.Borrowed, Refused: a.Refused}, nil
}

// checkHost checks what an instance says of its host: a hostname of
// printable characters, and IP addresses. Both are optional (private
// mode).
func checkHost(hostname string, addrs []string) ([]string, error) {
	if hostname != "" {
		if err := checkText("hostname", hostname, maxHostname); err != nil {
			return nil, err
		}
	}
	if len(addrs) > maxAddresses {
		return nil, fmt.Errorf("%w: %d addresses, the limit is %d", ErrInvalid, len(addrs), maxAddresses)
	}
	var out []string
	for _, a := range addrs {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return nil, fmt.Errorf("%w: address %q is not an IP address", ErrInvalid, a)
		}
		out = append(out, ip.String())
	}
	return out, nil
}

// RegisterConnected registers the instance whose request code r carries,
// with r's token, to the token's account, and authorizes what the request
// wants as far as the account (and its tiers) cover it.
//
// The token must be known, active, and have a use left; one use is
// counted in the registration's transaction. The request code's MAC
// proves the instance holds its key, which is pinned to its UDI as
// Reserve pins it. An instance registered already is refused
// (ErrActive) unless r.Reregister is set or its registration expired:
// then, in the same transaction, the licenses it held go back to the old
// account and it registers to the token's. Export-controlled licenses are
// authorized only when the token allows them.
//
// The same request code registered again returns the same answer, and
// counts no use. When the account holds none of what is asked for, the
// instance is registered all the same and Authorization is nil.
func (l *Ledger) RegisterConnected(ctx context.Context, r api.RegisterRequest) (*api.Authorized, error) {
	addrs, err := checkHost(r.Hostname, r.Addresses)
	if err != nil {
		return nil, err
	}
	if _, err := ParseToken(r.Token); err != nil {
		return nil, err
	}
	if len(r.Request) == 0 {
		return nil, fmt.Errorf("%w: the registration carries no request code", ErrInvalid)
	}
	a := &ask{code: r.Request}
	l.open(a)
	if a.err != nil {
		return nil, a.err
	}
	if err := checkLicenses(a.wanted, false); err != nil {
		return nil, err
	}
	var out *api.Authorized
	err = l.update(ctx, func(tx Tx, c *chain) error {
		out = nil
		now := l.now()
		if err := l.checkClock(c, now); err != nil {
			return err
		}
		again, err := registeredBefore(tx, a)
		if err != nil || again != nil {
			out = again
			return err
		}
		tok, err := useToken(tx, r.Token, now)
		if err != nil {
			return err
		}
		acct, err := tx.AccountByID(tok.AccountID)
		if err != nil {
			return err
		}
		inst, moved, err := l.connectInstance(tx, c, a, acct, r.Reregister, now)
		if err != nil {
			return err
		}
		reg := &ConnectedInstance{InstanceID: inst.ID, UDI: inst.UDI, AccountID: acct.ID, Account: acct.Ref(), TokenHash: tok.Hash,
			RequestHash: a.hash, Nonce: a.nonce, RegisteredAt: now, RenewedAt: now, ExpiresAt: now + int64(api.RegistrationValidity/time.Second),
			ExportAllowed: tok.ExportAllowed, Hostname: r.Hostname, Addresses: addrs, LastContact: now}
		tiers, err := loadTiers(tx)
		if err != nil {
			return err
		}
		in := &connInput{reg: reg, inst: inst, acct: acct, want: a.wanted, exportOK: reg.ExportAllowed && acct.ExportAllowed, nonce: a.nonce, request: a.hash}
		key, err := l.signingKey(now)
		if err != nil && len(a.wanted) > 0 {
			return err
		}
		p, ans, _, err := l.planConnected(tx, newLotCache(tx), tiers, in, now, key)
		if err != nil {
			return err
		}
		if err := tx.PutConnected(reg); err != nil {
			return err
		}
		out = ans
		detail := fmt.Sprintf("registered in connected mode with token %s, until %s; %s%s", KeyID(tok.Hash), codes.FormatTime(reg.ExpiresAt), hostDetail(reg), moved)
		if p != nil {
			p.done = make(chan struct{})
			signPlan(p.plan)
			p.action, p.note = actionConnRegister, detail+"; "+p.note
			return l.storeConnected(tx, c, p, now)
		}
		e := l.event(now, actionConnRegister, inst.UDI)
		e.Account, e.Instance = acct.Ref(), inst.UDI
		e.Detail = detail + "; nothing authorized" + lacks(ans)
		return c.add(e)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// hostDetail says what a registration records of the host.
func hostDetail(r *ConnectedInstance) string {
	s := "export-controlled licenses "
	if r.ExportAllowed {
		s += "allowed"
	} else {
		s += "withheld"
	}
	if r.Hostname == "" && len(r.Addresses) == 0 {
		return s + "; private (no host named)"
	}
	if r.Hostname != "" {
		s += "; host " + r.Hostname
	}
	if len(r.Addresses) > 0 {
		s += " " + strings.Join(r.Addresses, " ")
	}
	return s
}

// registeredBefore answers a request code that registered an instance
// before: the same answer again, the first code of its reservation if it
// has one. A request code answered otherwise (a reservation, or a
// registration that ended) is refused: the instance makes a new one.
func registeredBefore(tx Tx, a *ask) (*api.Authorized, error) {
	reg, _, err := tx.ConnectedByUDI(a.udi.String())
	if err != nil {
		return nil, err
	}
	prev, err := tx.IssuedByRequest(a.hash)
	if err != nil {
		return nil, err
	}
	if reg != nil && reg.DeregisteredAt == 0 && bytes.Equal(reg.RequestHash, a.hash) {
		var code []byte
		if prev != nil {
			code = prev.Code
		}
		return answered(reg, code)
	}
	if prev != nil {
		return nil, fmt.Errorf("%w: this request code was answered %s by reservation %s: have the instance make a new request", ErrReplay,
			codes.FormatTime(prev.IssuedAt), FormatReservationID(prev.Reservation))
	}
	if reg != nil && bytes.Equal(reg.RequestHash, a.hash) {
		return nil, fmt.Errorf("%w: this request code registered %s, which deregistered %s since: have the instance make a new request", ErrReplay,
			a.udi.Short(), codes.FormatTime(reg.DeregisteredAt))
	}
	return nil, nil
}

// connectInstance finds or makes the ledger's instance for a registration
// to acct: the key pinned to the UDI, no nonce reused, and, for an
// instance registered already, its licenses given back to its old account
// when it may re-register. It returns the instance and a note for the
// history.
func (l *Ledger) connectInstance(tx Tx, c *chain, a *ask, acct *Account, rereg bool, now int64) (*Instance, string, error) {
	udi := a.udi.String()
	inst, err := tx.LiveInstance(udi)
	if err != nil {
		return nil, "", err
	}
	if inst == nil {
		inst = &Instance{UDI: udi, PublicKey: a.pub, AccountID: acct.ID, State: InstanceRegistered, CreatedAt: now}
		if err := tx.InsertInstance(inst); err != nil {
			return nil, "", err
		}
		return inst, fmt.Sprintf("; instance key %x pinned", codes.InstanceKeyHash(a.pub)[:8]), nil
	}
	if err := ofProduct(tx, inst); err != nil {
		return nil, "", err
	}
	if !bytes.Equal(inst.PublicKey, a.pub) {
		return nil, "", keyMismatch(inst, a.pub)
	}
	if err := nonceUnused(tx, inst, a.nonce); err != nil {
		return nil, "", err
	}
	prev, err := tx.Connected(inst.ID)
	if err != nil {
		return nil, "", err
	}
	if prev != nil && prev.DeregisteredAt != 0 {
		prev = nil
	}
	res, err := liveReservation(tx, inst.ID)
	if err != nil {
		return nil, "", err
	}
	switch {
	case prev != nil && now < prev.ExpiresAt && !rereg:
		return nil, "", fmt.Errorf("%w: %s is registered to %q since %s: re-register it to move it to %q", ErrActive, inst.UDI, prev.Account, codes.FormatTime(prev.RegisteredAt), acct.Ref())
	case prev == nil && res != nil:
		return nil, "", fmt.Errorf("%w: %s holds reservation %s (serial %d, %s) in reservation mode: have the instance return it first", ErrActive, inst.UDI, res.IDString(), res.Serial, res.Status)
	}
	note := ""
	if prev != nil {
		old, err := tx.AccountByID(prev.AccountID)
		if err != nil {
			return nil, "", err
		}
		why := "re-registered"
		if now >= prev.ExpiresAt {
			why = fmt.Sprintf("registered again after its registration expired %s", codes.FormatTime(prev.ExpiresAt))
		}
		if old.OrgID == acct.OrgID {
			why += " to " + acct.Ref()
		} else {
			why += " to another organization"
		}
		if err := l.endConnected(tx, c, prev, inst, old, res, now, actionConnReregister, why); err != nil {
			return nil, "", err
		}
		if note, err = movedNote(tx, "moved", old.ID, acct); err != nil {
			return nil, "", err
		}
	} else if inst.AccountID != acct.ID {
		if note, err = movedNote(tx, "instance moved", inst.AccountID, acct); err != nil {
			return nil, "", err
		}
	}
	inst.AccountID = acct.ID
	return inst, note, tx.UpdateInstance(inst)
}

// nonceUnused refuses a request nonce a reservation of the instance
// answered.
func nonceUnused(tx ReadTx, inst *Instance, nonce []byte) error {
	rs, err := tx.Reservations(inst.ID)
	if err != nil {
		return err
	}
	for i := range rs {
		cs, err := tx.Issued(rs[i].ID, false)
		if err != nil {
			return err
		}
		if len(cs) > 0 && bytes.Equal(cs[0].Nonce, nonce) {
			return fmt.Errorf("%w: nonce %x was answered by reservation %s for another request code of this instance: have the instance make a new request", ErrReplay, nonce, rs[i].IDString())
		}
	}
	return nil
}

// endConnected ends a registration: the live reservation, if any, gives
// every license back to its account, as a return does, and the
// registration is marked deregistered, with a history event of action
// saying why.
func (l *Ledger) endConnected(tx Tx, c *chain, reg *ConnectedInstance, inst *Instance, acct *Account, res *Reservation, now int64, action, why string) error {
	detail := why
	if res != nil {
		released, err := releaseHeld(tx, res)
		if err != nil {
			return err
		}
		res.Status, res.ClosedAt, res.UpdatedAt = StatusReturned, now, now
		if err := tx.UpdateReservation(res); err != nil {
			return err
		}
		inst.State = InstanceReturned
		if err := tx.UpdateInstance(inst); err != nil {
			return err
		}
		detail = fmt.Sprintf("%s; reservation %s serial %d released: %s", why, res.IDString(), res.Serial, FormatLicenses(released))
	}
	gs, err := tx.ExportGrants(inst.ID)
	if err != nil {
		return err
	}
	for _, g := range gs {
		if err := tx.SetExportGrant(inst.ID, g.Tag, 0); err != nil {
			return err
		}
	}
	reg.DeregisteredAt, reg.Reservation = now, 0
	if res != nil {
		reg.Reservation = res.ID
	}
	if err := tx.PutConnected(reg); err != nil {
		return err
	}
	e := l.event(now, action, inst.UDI)
	e.Account, e.Instance, e.Detail = acct.Ref(), inst.UDI, "registration ended: "+detail
	return c.add(e)
}

// RenewAuthorization issues the next authorization code of a connected
// instance, for what it wants now, lapsing api.AuthorizationValidity from
// now.
//
// r.Wanted are absolute counts, authorized as at registration (as far as
// the account and its tiers cover them, export-controlled licenses only
// if the registration allows them), plus what export requests granted
// (RequestExport) until they are given back. Licenses the new code no
// longer carries stay held, in transition, until the instance confirms it
// (ConfirmConnected); r.Installed, when above the serial confirmed last,
// confirms that serial, since the request is authenticated like a
// confirmation code. When nothing can be authorized, or the instance
// holds no reservation and its registration's request was answered
// already, Authorization is nil and the licenses held stay as they are.
//
// Concurrent calls share transactions: a batcher gathers them for up to
// renewBatchWait or renewBatchMax calls, plans, signs (on Options.Workers
// cores) and commits them together, then answers each. A refused call is
// answered with its own error and changes nothing.
func (l *Ledger) RenewAuthorization(ctx context.Context, c Caller, r api.RenewRequest) (*api.Authorized, error) {
	if err := checkLicenses(r.Wanted, true); err != nil {
		return nil, err
	}
	call := &renewCall{caller: c, req: r, done: make(chan struct{})}
	l.conn.batch.submit(l.conn.owner, call)
	select {
	case <-call.done:
		return call.out, call.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// RenewRegistration extends a connected instance's registration to
// api.RegistrationValidity from now.
func (l *Ledger) RenewRegistration(ctx context.Context, c Caller) (*api.Authorized, error) {
	var out *api.Authorized
	err := l.update(ctx, func(tx Tx, ch *chain) error {
		now := l.now()
		reg, inst, err := l.authenticate(tx, c, now, liveOnly)
		if err != nil {
			return err
		}
		reg.RenewedAt, reg.ExpiresAt = now, now+int64(api.RegistrationValidity/time.Second)
		reg.LastSeq, reg.LastContact = c.Signed.Seq, now
		if err := tx.PutConnected(reg); err != nil {
			return err
		}
		if out, err = answered(reg, nil); err != nil {
			return err
		}
		e := l.event(now, actionConnRegRenew, inst.UDI)
		e.Account, e.Instance = reg.Account, inst.UDI
		e.Detail = "registration renewed until " + codes.FormatTime(reg.ExpiresAt)
		return ch.add(e)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// preAuthenticate authenticates a request that carries a code before the
// code is looked at, in a read transaction: a stranger learns from the
// answer only that the request does not authenticate, never whether the
// reservation or UDI its code names exists. The operation's own
// transaction authenticates again (callerHook) and records the sequence
// number.
func (l *Ledger) preAuthenticate(ctx context.Context, c Caller, check connCheck) error {
	return l.view(ctx, func(tx ReadTx) error {
		_, _, err := l.authenticate(tx, c, l.now(), check)
		return err
	})
}

// A codeHook runs in the transaction of Confirm, Return or ImportUsage
// once the code's MAC checked with the key of inst, before the code
// changes anything: connected mode authenticates there the request that
// carried the code, and checks that the code is the caller's.
type codeHook func(tx Tx, c *chain, inst *Instance) error

// callerHook returns the hook of a code a connected instance sends: the
// request authenticates, the code is the caller's own, and the sequence
// number is recorded. then, when not nil, runs after that.
func (l *Ledger) callerHook(c Caller, what string, check connCheck, then func(tx Tx, ch *chain, reg *ConnectedInstance, inst *Instance, now int64) error) codeHook {
	return func(tx Tx, ch *chain, inst *Instance) error {
		now := l.now()
		reg, mine, err := l.authenticate(tx, c, now, check)
		if err != nil {
			return err
		}
		if inst.ID != mine.ID {
			return fmt.Errorf("%w: the %s is from %s, the request from %s: an instance sends its own codes", ErrInvalid, what, inst.UDI, mine.UDI)
		}
		if err := tx.SetContact(reg.InstanceID, c.Signed.Seq, now); err != nil {
			return err
		}
		reg.LastSeq, reg.LastContact = c.Signed.Seq, now
		if then != nil {
			return then(tx, ch, reg, mine, now)
		}
		return nil
	}
}

// ConfirmConnected applies a confirmation code sent by a connected
// instance, as Confirm does; the code must be the caller's.
func (l *Ledger) ConfirmConnected(ctx context.Context, c Caller, code []byte) (*api.Done, error) {
	if err := l.preAuthenticate(ctx, c, liveOnly); err != nil {
		return nil, err
	}
	a, err := l.confirm(ctx, code, l.callerHook(c, "confirmation code", liveOnly, nil))
	if err != nil {
		return nil, err
	}
	msg := fmt.Sprintf("serial %d of reservation %s confirmed", a.Serial, a.Reservation)
	switch {
	case a.Again:
		msg += ": " + a.Note
	case len(a.Released) > 0:
		msg += "; released " + FormatLicenses(a.Released)
	}
	return &api.Done{Message: msg}, nil
}

// ReportUsage imports a usage report sent by a connected instance, as
// ImportUsage does; the report must be the caller's.
func (l *Ledger) ReportUsage(ctx context.Context, c Caller, code []byte) (*api.Done, error) {
	if err := l.preAuthenticate(ctx, c, liveOnly); err != nil {
		return nil, err
	}
	u, err := l.importUsage(ctx, code, l.callerHook(c, "usage report", liveOnly, nil))
	if err != nil {
		return nil, err
	}
	msg := fmt.Sprintf("usage report for %s to %s imported", codes.FormatTime(u.Report.From), codes.FormatTime(u.Report.To))
	if u.Again {
		msg = u.Note
	}
	return &api.Done{Message: msg}, nil
}

// Deregister ends a connected instance's registration: the return code
// (nil when nothing was installed) gives its licenses back to the account.
// Without a return code, the licenses its reservation holds are released
// all the same: the request is authenticated like a return code. A
// registration past its expiry may deregister; a deregistration sent again
// after one that succeeded is answered again.
func (l *Ledger) Deregister(ctx context.Context, c Caller, code []byte) (*api.Done, error) {
	end := func(tx Tx, ch *chain, reg *ConnectedInstance, inst *Instance, now int64) error {
		if reg.DeregisteredAt != 0 {
			return nil
		}
		acct, err := tx.AccountByID(reg.AccountID)
		if err != nil {
			return err
		}
		res, err := liveReservation(tx, inst.ID)
		if err != nil {
			return err
		}
		why := "deregistered by the instance"
		if code != nil {
			res, why = nil, "deregistered by the instance, with a return code"
		}
		return l.endConnected(tx, ch, reg, inst, acct, res, now, actionConnDeregister, why)
	}
	var ended int64
	if code != nil {
		if err := l.preAuthenticate(ctx, c, endedToo); err != nil {
			return nil, err
		}
		hook := l.callerHook(c, "return code", endedToo, func(tx Tx, ch *chain, reg *ConnectedInstance, inst *Instance, now int64) error {
			ended = reg.DeregisteredAt
			return end(tx, ch, reg, inst, now)
		})
		if _, err := l.returnCode(ctx, code, hook); err != nil {
			return nil, err
		}
	} else {
		err := l.update(ctx, func(tx Tx, ch *chain) error {
			now := l.now()
			reg, inst, err := l.authenticate(tx, c, now, endedToo)
			if err != nil {
				return err
			}
			ended = reg.DeregisteredAt
			if err := tx.SetContact(reg.InstanceID, c.Signed.Seq, now); err != nil {
				return err
			}
			reg.LastSeq, reg.LastContact = c.Signed.Seq, now
			return end(tx, ch, reg, inst, now)
		})
		if err != nil {
			return nil, err
		}
	}
	if ended != 0 {
		return &api.Done{Message: "deregistered already " + codes.FormatTime(ended)}, nil
	}
	return &api.Done{Message: "deregistered: every license went back to the account"}, nil
}

// removeConnected ends the registration of an instance an operator
// removes (Remove released its reservation).
func (l *Ledger) removeConnected(tx Tx, c *chain, inst *Instance, acct *Account, now int64) error {
	reg, err := tx.Connected(inst.ID)
	if err != nil || reg == nil || reg.DeregisteredAt != 0 {
		return err
	}
	return l.endConnected(tx, c, reg, inst, acct, nil, now, actionConnDeregister, "the instance was removed")
}

// notConnected refuses to manage the reservation of a connected instance
// by reservation codes: the service renews it.
func notConnected(tx ReadTx, inst *Instance) error {
	reg, err := tx.Connected(inst.ID)
	if err != nil || reg == nil || reg.DeregisteredAt != 0 {
		return err
	}
	return fmt.Errorf("%w: %s is registered in connected mode to %q: its authorization is renewed over the network ('airlock authority connected show %s'); it must deregister before its reservation is managed by codes",
		ErrInvalid, inst.UDI, reg.Account, inst.UDI)
}

// RequestExport authorizes Count more of an export-controlled tag, or
// refuses with the reason, and records either.
//
// The tag must have export-controlled lots in the instance's account.
// When the registration does not allow export-controlled licenses, the
// refusal is recorded in the history (and the request's sequence number
// with it) and ErrExportRefused returned. Otherwise the next serial
// carries Count more of the tag, taken as far as the account and its tiers
// cover them: fewer than Count is ErrUnavailable, and changes nothing.
// Renewals keep what was granted until ReturnExport gives it back.
func (l *Ledger) RequestExport(ctx context.Context, c Caller, r api.ExportRequest) (*api.Authorized, error) {
	if err := checkExport(r); err != nil {
		return nil, err
	}
	var out *api.Authorized
	var refused error
	err := l.update(ctx, func(tx Tx, ch *chain) error {
		out, refused = nil, nil
		now := l.now()
		if err := l.checkClock(ch, now); err != nil {
			return err
		}
		reg, inst, err := l.authenticate(tx, c, now, liveOnly)
		if err != nil {
			return err
		}
		acct, err := tx.AccountByID(reg.AccountID)
		if err != nil {
			return err
		}
		if err := exportControlled(tx, acct, r.Tag); err != nil {
			return err
		}
		reg.LastSeq, reg.LastContact = c.Signed.Seq, now
		if why, fix := exportDenied(reg, acct); why != "" {
			why = fmt.Sprintf("%d of %q refused: %s", r.Count, r.Tag, why)
			if err := tx.SetContact(reg.InstanceID, c.Signed.Seq, now); err != nil {
				return err
			}
			e := l.event(now, actionExportRefuse, inst.UDI)
			e.Account, e.Instance, e.Detail = acct.Ref(), inst.UDI, why
			refused = fmt.Errorf("%w: %s; %s", ErrExportRefused, why, fix)
			return ch.add(e)
		}
		want, granted, err := exportWant(tx, inst, r.Tag)
		if err != nil {
			return err
		}
		n := countOf(want, r.Tag) + int64(r.Count)
		if n > math.MaxUint32 {
			return fmt.Errorf("%w: %d of %q is more than a code carries", ErrInvalid, n, r.Tag)
		}
		want = withCount(want, r.Tag, n)
		p, ans, err := l.planExport(tx, ch, reg, inst, acct, want, now)
		if err != nil {
			return err
		}
		for _, s := range ans.Shortfall {
			if s.Tag == r.Tag {
				return fmt.Errorf("%w: asked for %d more of %q, %q covers %d of them", ErrUnavailable, r.Count, r.Tag, acct.Ref(), int64(r.Count)-int64(s.Count))
			}
		}
		if p == nil {
			return fmt.Errorf("%w: nothing of %q is available in %q", ErrUnavailable, r.Tag, acct.Ref())
		}
		if err := tx.SetExportGrant(inst.ID, r.Tag, granted+int64(r.Count)); err != nil {
			return err
		}
		p.action = actionExportGrant
		p.note = fmt.Sprintf("%d more of %q granted on request (%d in all); %s", r.Count, r.Tag, granted+int64(r.Count), p.note)
		if err := l.storeConnected(tx, ch, p, now); err != nil {
			return err
		}
		out = ans
		return nil
	})
	if err == nil {
		err = refused
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ReturnExport takes an export-controlled tag back from a connected
// instance's authorization: the next serial carries Count fewer of it,
// and they stay in transition until the instance confirms that serial.
func (l *Ledger) ReturnExport(ctx context.Context, c Caller, r api.ExportRequest) (*api.Authorized, error) {
	if err := checkExport(r); err != nil {
		return nil, err
	}
	var out *api.Authorized
	err := l.update(ctx, func(tx Tx, ch *chain) error {
		now := l.now()
		if err := l.checkClock(ch, now); err != nil {
			return err
		}
		reg, inst, err := l.authenticate(tx, c, now, liveOnly)
		if err != nil {
			return err
		}
		acct, err := tx.AccountByID(reg.AccountID)
		if err != nil {
			return err
		}
		reg.LastSeq, reg.LastContact = c.Signed.Seq, now
		want, granted, err := exportWant(tx, inst, r.Tag)
		if err != nil {
			return err
		}
		n := countOf(want, r.Tag)
		if n < int64(r.Count) {
			return fmt.Errorf("%w: the authorization of %s carries %d of %q, fewer than the %d given back", ErrInvalid, inst.UDI, n, r.Tag, r.Count)
		}
		want = withCount(want, r.Tag, n-int64(r.Count))
		left := max(0, granted-int64(r.Count))
		if err := tx.SetExportGrant(inst.ID, r.Tag, left); err != nil {
			return err
		}
		p, ans, err := l.planExport(tx, ch, reg, inst, acct, want, now)
		if err != nil {
			return err
		}
		if p == nil {
			return fmt.Errorf("%w: %q is all the authorization of %s carries: to give everything back, the instance deregisters", ErrInvalid, r.Tag, inst.UDI)
		}
		p.action = actionExportReturn
		p.note = fmt.Sprintf("%d of %q given back (%d granted on request left); %s", r.Count, r.Tag, left, p.note)
		if err := l.storeConnected(tx, ch, p, now); err != nil {
			return err
		}
		out = ans
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func checkExport(r api.ExportRequest) error {
	if err := codes.CheckTag(r.Tag); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if r.Count == 0 {
		return fmt.Errorf("%w: an export request names a count of at least 1", ErrInvalid)
	}
	return nil
}

// exportControlled refuses a tag the account holds no export-controlled
// lot of.
func exportControlled(tx ReadTx, acct *Account, tag string) error {
	lots, err := tx.Lots(acct.ID, tag)
	if err != nil {
		return err
	}
	for i := range lots {
		if lots[i].ExportControlled {
			return nil
		}
	}
	return fmt.Errorf("%w: %q holds no export-controlled lot of %q: the instance asks for it when it renews its authorization", ErrInvalid, acct.Ref(), tag)
}

// exportWant returns what the latest code of an instance's live
// reservation carries, in its order, and what export requests granted of
// tag.
func exportWant(tx ReadTx, inst *Instance, tag string) ([]codes.License, int64, error) {
	res, err := liveReservation(tx, inst.ID)
	if err != nil {
		return nil, 0, err
	}
	if res == nil {
		return nil, 0, fmt.Errorf("%w: %s holds no authorization yet: renew it first", ErrNotFound, inst.UDI)
	}
	cs, err := tx.Issued(res.ID, false)
	if err != nil {
		return nil, 0, err
	}
	if len(cs) == 0 {
		return nil, 0, fmt.Errorf("%w: reservation %s has no stored code", ErrCorrupt, res.IDString())
	}
	a, err := codes.ParseUnverifiedAuthorization(cs[len(cs)-1].Code)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: stored code of reservation %s: %v", ErrCorrupt, res.IDString(), err)
	}
	var want []codes.License
	for _, e := range a.Entitlements {
		if e.Component != "" {
			return nil, 0, fmt.Errorf("%w: reservation %s carries licenses bound to hardware components, which export requests do not change: change it with 'airlock authority update'", ErrInvalid, res.IDString())
		}
		want = append(want, codes.License{Tag: e.Tag, Count: e.Count})
	}
	gs, err := tx.ExportGrants(inst.ID)
	if err != nil {
		return nil, 0, err
	}
	var granted int64
	for _, g := range gs {
		if g.Tag == tag {
			granted = g.Count
		}
	}
	return want, granted, nil
}

// countOf returns the count of tag in ls.
func countOf(ls []codes.License, tag string) int64 {
	for _, l := range ls {
		if l.Tag == tag {
			return int64(l.Count)
		}
	}
	return 0
}

// withCount returns ls with the count of tag set to n (added at the end
// when missing, dropped at 0).
func withCount(ls []codes.License, tag string, n int64) []codes.License {
	var out []codes.License
	found := false
	for _, l := range ls {
		if l.Tag == tag {
			found = true
			l.Count = uint32(n)
		}
		if l.Count > 0 {
			out = append(out, l)
		}
	}
	if !found && n > 0 {
		out = append(out, codes.License{Tag: tag, Count: uint32(n)})
	}
	return out
}

// planExport plans and signs the next code of an export request or
// return, for want, and records the request's sequence number.
func (l *Ledger) planExport(tx Tx, ch *chain, reg *ConnectedInstance, inst *Instance, acct *Account, want []codes.License, now int64) (*connPlan, *api.Authorized, error) {
	res, err := liveReservation(tx, inst.ID)
	if err != nil {
		return nil, nil, err
	}
	tiers, err := loadTiers(tx)
	if err != nil {
		return nil, nil, err
	}
	key, err := l.signingKey(now)
	if err != nil {
		return nil, nil, err
	}
	in := &connInput{reg: reg, inst: inst, acct: acct, res: res, want: want, exportOK: true}
	p, ans, _, err := l.planConnected(tx, newLotCache(tx), tiers, in, now, key)
	if err != nil || p == nil {
		return nil, ans, err
	}
	p.done = make(chan struct{})
	signPlan(p.plan)
	if p.err != nil {
		return nil, nil, p.err
	}
	return p, ans, tx.PutConnected(reg)
}

// licensesOf turns counts by tag into licenses, by tag, dropping zeros.
func licensesOf(m map[string]int64) []codes.License {
	var out []codes.License
	for tag, n := range m {
		if n > 0 {
			out = append(out, codes.License{Tag: tag, Count: uint32(min(n, math.MaxUint32))})
		}
	}
	sortLicenses(out)
	return out
}
