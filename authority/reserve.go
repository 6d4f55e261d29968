package authority

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airlock-dev/airlock/codes"
)

// An Authorized is an authorization code the ledger issued, or issued
// before and serves again.
type Authorized struct {
	Code          []byte               // binary, byte for byte as stored
	Authorization *codes.Authorization // its fields
	UDI           string
	Account       string // "ORG/ACCOUNT"
	Again         bool   // the request was answered before: Code is that answer
	// InTransition lists, after an update, the licenses the reservation
	// holds beyond the new code until the instance confirms it.
	InTransition []codes.License
}

// Reservation returns the reservation id as 8 hex digits.
func (a *Authorized) Reservation() string {
	return FormatReservationID(reservationID(a.Authorization.Reservation))
}

// Licenses returns the code's entitlements as tag and count.
func (a *Authorized) Licenses() []codes.License {
	out := make([]codes.License, len(a.Authorization.Entitlements))
	for i, e := range a.Authorization.Entitlements {
		out[i] = codes.License{Tag: e.Tag, Count: e.Count}
	}
	return out
}

// A BatchResult is the answer to one request of a batch: an authorization
// or the reason it was refused.
type BatchResult struct {
	Authorized *Authorized
	Err        error
}

// Reserve answers a request code (binary: use codes.DecodeKind first) for
// an instance of the account "ORG/ACCOUNT". It opens the request with the
// authority's keys, pins the instance key to the UDI at first sight,
// allocates the licenses the request asks for, or those of licenses when
// it is not empty, and signs the first code of a new reservation. All of
// it commits in one transaction before Reserve returns.
//
// The same request code reserved again returns the code stored the first
// time, with Again set, whatever the account or licenses given: print
// that, never a second reservation. For a person who is not the vendor's,
// that code must be of an account of the organization of account: a
// request answered for another organization is refused (ErrDenied).
//
// The actor must manage the organization of account; ReserveBatch checks
// that once per transaction of Options.BatchSize requests.
func (l *Ledger) Reserve(ctx context.Context, account string, request []byte, licenses []codes.License) (*Authorized, error) {
	rs := l.reserve(ctx, account, []*ask{{code: request}}, licenses, nil)
	return rs[0].Authorized, rs[0].Err
}

// ReserveBatch answers many request codes for one account, as Reserve
// does each: it opens the requests and signs the codes on worker
// goroutines (Options.Workers) while the transactions run, and commits
// Options.BatchSize answers per transaction.
// Results come in the order of requests; each refusal is independent of
// the others. progress, when not nil, is called after each commit with
// the number of requests answered so far.
func (l *Ledger) ReserveBatch(ctx context.Context, account string, requests [][]byte, progress func(done int)) []BatchResult {
	asks := make([]*ask, len(requests))
	for i, r := range requests {
		asks[i] = &ask{code: r}
	}
	return l.reserve(ctx, account, asks, nil, progress)
}

// An ask is one request, or one system, to answer.
type ask struct {
	code       []byte // the binary request or system description
	opened     bool   // udi … components come from a verified code
	hash       []byte // SHA-256 of code
	udi        codes.UDI
	pub        []byte
	nonce      []byte
	wanted     []codes.License
	components []codes.Component
	system     *Instance // for ReserveSystem: the registered system
	err        error

	plan  *plan
	dupOf *ask // the same code earlier in the batch
	out   *Authorized
}

// open verifies a request code with the authority keys.
func (l *Ledger) open(a *ask) {
	if a.opened {
		return
	}
	h := sha256.Sum256(a.code)
	a.hash = h[:]
	var r *codes.Request
	a.err = l.openWithKeys("request code", func(k *codes.AuthorityKey) error {
		var err error
		r, err = codes.OpenRequest(a.code, k)
		return err
	})
	if a.err == nil {
		a.udi, a.pub, a.nonce, a.wanted, a.opened = r.UDI, r.InstanceKey, r.Nonce, r.Wanted, true
	}
}

// A plan is a reservation prepared in a transaction, before signing.
type plan struct {
	acct *Account
	inst *Instance
	res  *Reservation
	auth *codes.Authorization
	key  *codes.AuthorityKey
	note string // for the history

	code   []byte // signed
	err    error  // from signing
	signed atomic.Bool
	done   chan struct{} // closed when signed
}

// reserve answers asks in transactions of BatchSize, opening the requests
// of later transactions while earlier ones commit.
func (l *Ledger) reserve(ctx context.Context, ref string, asks []*ask, override []codes.License, progress func(int)) []BatchResult {
	n := len(asks)
	results := make([]BatchResult, n)
	if err := checkLicenses(override, false); err != nil {
		for i := range results {
			results[i].Err = err
		}
		return results
	}
	size := l.opts.BatchSize
	chunks := (n + size - 1) / size
	w := newWorkers(l, asks, size, chunks)
	defer w.stop()
	done := 0
	for c := 0; c < chunks; c++ {
		chunk := asks[c*size : min(n, (c+1)*size)]
		var err error
		select {
		case <-w.ready[c]:
			err = l.reserveChunk(ctx, ref, chunk, override, w)
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			for _, a := range asks[c*size:] {
				a.out, a.err = nil, err
			}
			break
		}
		done += len(chunk)
		if progress != nil {
			progress(done)
		}
	}
	for i, a := range asks {
		results[i] = BatchResult{a.out, a.err}
	}
	return results
}

// workers do the cryptography of a batch while the transaction goroutine
// does the SQL: they open the requests ahead of the transactions, and sign
// the codes a transaction planned, signing first since a transaction waits
// for its codes. There are Options.Workers - 1 of them, so that with the
// transaction goroutine every core is busy and none is shared; with one
// request, or one core, everything runs on the calling goroutine.
type workers struct {
	l     *Ledger
	asks  []*ask
	size  int
	next  atomic.Int64
	ready []chan struct{} // per chunk: closed when its requests are open
	left  []atomic.Int64  // per chunk: requests still to open
	signq chan *plan
	quit  chan struct{}
	wg    sync.WaitGroup
	n     int
}

func newWorkers(l *Ledger, asks []*ask, size, chunks int) *workers {
	w := &workers{l: l, asks: asks, size: size, ready: make([]chan struct{}, chunks), left: make([]atomic.Int64, chunks)}
	for c := range chunks {
		w.ready[c] = make(chan struct{})
		w.left[c].Store(int64(min(size, len(asks)-c*size)))
	}
	w.n = min(l.opts.Workers-1, len(asks))
	if len(asks) == 1 {
		w.n = 0
	}
	if w.n <= 0 {
		w.n = 0
		for i := range asks {
			w.open(i)
		}
		return w
	}
	w.signq = make(chan *plan, size)
	w.quit = make(chan struct{})
	for range w.n {
		w.wg.Go(w.run)
	}
	return w
}

func (w *workers) open(i int) {
	w.l.open(w.asks[i])
	if c := i / w.size; w.left[c].Add(-1) == 0 {
		close(w.ready[c])
	}
}

func (w *workers) run() {
	for {
		select {
		case p := <-w.signq:
			signPlan(p)
			continue
		case <-w.quit:
			return
		default:
		}
		if i := int(w.next.Add(1) - 1); i < len(w.asks) {
			w.open(i)
			continue
		}
		select {
		case p := <-w.signq:
			signPlan(p)
		case <-w.quit:
			return
		}
	}
}

// sign signs p, on a worker when there are any.
func (w *workers) sign(p *plan) {
	p.done = make(chan struct{})
	if w.n == 0 {
		signPlan(p)
		return
	}
	w.signq <- p
}

func (w *workers) stop() {
	if w.quit != nil {
		close(w.quit)
		w.wg.Wait()
	}
}

func signPlan(p *plan) {
	p.code, p.err = codes.SignAuthorization(p.auth, p.key)
	if p.err != nil {
		p.err = fmt.Errorf("signing the code of reservation %s: %w", p.res.IDString(), p.err)
	}
	p.signed.Store(true)
	close(p.done)
}

// refusal reports whether err refuses one request rather than failing the
// transaction.
func refusal(err error) bool {
	for _, s := range []error{ErrUnavailable, ErrActive, ErrKeyMismatch, ErrReplay, ErrInvalid, ErrNotFound} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// reserveChunk answers asks in one transaction, as a pipeline: this
// goroutine plans each request (a refusal writes nothing, so the others go
// on) and hands it to the signers, and stores each signed code and its
// history event, in order, as the signers finish. On an error the
// transaction is rolled back and returned; the asks' results are then the
// caller's to set.
func (l *Ledger) reserveChunk(ctx context.Context, ref string, asks []*ask, override []codes.License, w *workers) error {
	return l.update(ctx, func(tx Tx, c *chain) error {
		for _, a := range asks {
			a.plan, a.out, a.dupOf = nil, nil, nil
		}
		who, err := l.actingAs(tx)
		if err != nil {
			return err
		}
		var acct *Account
		actor := who.name
		if ref != "" {
			if acct, actor, err = l.accountWith(tx, who, ref, needManage); err != nil {
				return err
			}
		}
		for _, a := range asks {
			if a.system != nil { // ReserveSystem: the account it was imported into
				if _, actor, err = who.mayAccountID(tx, a.system.AccountID, needManage); err != nil {
					return err
				}
			}
		}
		now, key, err := l.signingClock(c)
		if err != nil {
			return err
		}
		var planned []*ask
		stored := 0
		store := func(block bool) error {
			for ; stored < len(planned); stored++ {
				a := planned[stored]
				if !block && !a.plan.signed.Load() {
					return nil
				}
				<-a.plan.done
				if a.plan.err != nil {
					return a.plan.err
				}
				if err := l.storeReserved(tx, c, a, now, actor); err != nil {
					return err
				}
			}
			return nil
		}
		cache := newLotCache(tx)
		seen := map[string]*ask{}
		for _, a := range asks {
			if !a.opened {
				continue
			}
			if first := seen[string(a.hash)]; first != nil {
				a.dupOf = first
				continue
			}
			seen[string(a.hash)] = a
			p, deltas, err := l.planReserve(tx, cache, acct, a, override, now, key)
			if err == nil && p == nil && !who.vendor() && acct != nil {
				// Answered before: the stored code is given again only
				// within the organization.
				if err = sameOrg(a.out.Account, acct.Org, "request code"); err != nil {
					a.out = nil
				}
			}
			switch {
			case err != nil && len(asks) == 1:
				return err
			case err == nil && p != nil:
				cache.apply(deltas)
				a.plan = p
				planned = append(planned, a)
				w.sign(p)
			case err == nil:
			case refusal(err) || errors.Is(err, ErrDenied):
				a.err = err
			default:
				return err
			}
			if err := store(false); err != nil {
				return err
			}
		}
		if err := store(true); err != nil {
			return err
		}
		for _, a := range asks {
			if d := a.dupOf; d != nil {
				a.err = d.err
				if d.out != nil {
					again := *d.out
					again.Again = true
					a.out = &again
				}
			}
		}
		return nil
	})
}

// storeReserved stores a signed code and its history event, by actor.
func (l *Ledger) storeReserved(tx Tx, c *chain, a *ask, now int64, actor string) error {
	p := a.plan
	h := codeHash(p.code)
	is := &Issued{Reservation: p.res.ID, Serial: 1, Code: p.code, Hash: h, RequestHash: a.hash, Nonce: a.nonce,
		IssuedAt: p.auth.IssuedAt, InstallBy: p.auth.InstallBy, KeyID: p.key.ID().String()}
	if err := tx.InsertIssued(is); err != nil {
		return err
	}
	e := l.event(now, "reserve", p.inst.UDI)
	e.Actor, e.Account, e.Instance, e.CodeHash = actor, p.acct.Ref(), p.inst.UDI, h
	e.Detail = p.note
	if err := c.add(e); err != nil {
		return err
	}
	c.issued(p.auth.IssuedAt)
	a.out = &Authorized{Code: p.code, Authorization: p.auth, UDI: p.inst.UDI, Account: p.acct.Ref()}
	return nil
}

// planReserve prepares the first code of a reservation for a: the stored
// answer if a was answered before (then it returns a nil plan and sets
// a.out), or a new reservation with its grants and held counts written.
// It returns the held deltas it wrote, by lot.
func (l *Ledger) planReserve(tx Tx, cache *lotCache, acct *Account, a *ask, override []codes.License, now int64, key *codes.AuthorityKey) (*plan, map[int64]int64, error) {
	prev, err := tx.IssuedByRequest(a.hash)
	if err != nil {
		return nil, nil, err
	}
	if prev != nil {
		a.out, err = served(tx, prev)
		return nil, nil, err
	}

	udi := a.udi.String()
	inst, err := tx.LiveInstance(udi)
	if err != nil {
		return nil, nil, err
	}
	if a.system != nil && (inst == nil || inst.ID != a.system.ID || !bytes.Equal(inst.System, a.code)) {
		return nil, nil, fmt.Errorf("%w: system %q was removed or imported again meanwhile", ErrNotFound, a.system.Name)
	}
	if inst != nil {
		if err := ofProduct(tx, inst); err != nil {
			return nil, nil, err
		}
		if !bytes.Equal(inst.PublicKey, a.pub) {
			return nil, nil, keyMismatch(inst, a.pub)
		}
		rs, err := tx.Reservations(inst.ID)
		if err != nil {
			return nil, nil, err
		}
		for i := range rs {
			r := &rs[i]
			cs, err := tx.Issued(r.ID, false)
			if err != nil {
				return nil, nil, err
			}
			if len(cs) > 0 && bytes.Equal(cs[0].Nonce, a.nonce) {
				return nil, nil, fmt.Errorf("%w: nonce %x was answered by reservation %s for another request code of this instance: have the instance make a new request", ErrReplay, a.nonce, r.IDString())
			}
			if r.Status.Live() {
				return nil, nil, fmt.Errorf("%w: %s holds reservation %s (serial %d, %s): change it with an update, or have the instance return it first", ErrActive, inst.UDI, r.IDString(), r.Serial, r.Status)
			}
		}
	}
	if acct == nil { // a system: the account it was imported into
		if acct, err = tx.AccountByID(inst.AccountID); err != nil {
			return nil, nil, err
		}
	}

	want := override
	if len(want) == 0 {
		want = a.wanted
	}
	var comps []codes.Component
	for _, c := range a.components {
		if c.Tag != "" {
			comps = append(comps, c)
		}
	}
	if len(want) == 0 && len(comps) == 0 {
		what := "the request names no licenses"
		if a.system != nil {
			what = "the system has no demand and no hardware-bound components"
		}
		return nil, nil, fmt.Errorf("%w: %s: give them with --license TAG=COUNT", ErrInvalid, what)
	}
	alloc := newAllocation()
	for _, w := range want {
		if err := alloc.takeTag(cache, acct, w.Tag, int64(w.Count), now, nil, nil); err != nil {
			return nil, nil, tierAdvice(err, cache, acct, w.Tag, 0, int64(w.Count), want, nil, reserveCommand(acct, a.system), now)
		}
	}
	for _, c := range comps {
		if err := alloc.takeComponent(cache, acct, c.Tag, c.ID, now); err != nil {
			return nil, nil, err
		}
	}

	for _, e := range alloc.ents {
		if err := e.Validate(); err != nil {
			return nil, nil, fmt.Errorf("%w: lot terms make an invalid entitlement: %v", ErrInvalid, err)
		}
	}
	note := ""
	if inst == nil {
		note = fmt.Sprintf("; instance key %x pinned", codes.InstanceKeyHash(a.pub)[:8])
	} else if inst.AccountID != acct.ID {
		moved, err := movedNote(tx, "instance moved", inst.AccountID, acct)
		if err != nil {
			return nil, nil, err
		}
		note = moved
	}

	// The writes. The guarded updates come first: a refusal there leaves
	// nothing of this request to undo, and the rest cannot be refused.
	deltas := map[int64]int64{}
	for _, g := range alloc.grants {
		deltas[g.LotID] += g.Count
	}
	if err := adjust(tx, deltas); err != nil {
		return nil, nil, err
	}
	if inst == nil {
		inst = &Instance{UDI: udi, PublicKey: a.pub, AccountID: acct.ID, State: InstanceReserved, CreatedAt: now}
		if err := tx.InsertInstance(inst); err != nil {
			return nil, nil, err
		}
	} else {
		inst.AccountID, inst.State = acct.ID, InstanceReserved
		if err := tx.UpdateInstance(inst); err != nil {
			return nil, nil, err
		}
	}
	res := &Reservation{InstanceID: inst.ID, AccountID: acct.ID, Status: StatusIssued, Serial: 1, CreatedAt: now, UpdatedAt: now}
	if err := insertReservation(tx, res, l.opts.Rand); err != nil {
		return nil, nil, err
	}
	for i := range alloc.grants {
		alloc.grants[i].Reservation, alloc.grants[i].Serial = res.ID, 1
	}
	if err := tx.InsertGrants(alloc.grants); err != nil {
		return nil, nil, err
	}
	auth := &codes.Authorization{
		Reservation:  reservationBytes(res.ID),
		Serial:       1,
		UDI:          a.udi,
		InstanceKey:  codes.InstanceKeyHash(a.pub),
		Nonce:        a.nonce,
		Entitlements: alloc.ents,
		IssuedAt:     now,
		InstallBy:    now + int64(l.opts.InstallWindow/time.Second),
	}
	what := "request"
	if a.system != nil {
		what = fmt.Sprintf("system %q", a.system.Name)
	}
	p := &plan{acct: acct, inst: inst, res: res, auth: auth, key: key,
		note: fmt.Sprintf("reservation %s serial 1 for %s %x: %s%s", res.IDString(), what, a.hash[:8], FormatLicenses(byTag(alloc.grants)), note)}
	return p, deltas, nil
}

func keyMismatch(inst *Instance, pub []byte) error {
	return fmt.Errorf("%w: %s is pinned to instance key %x, this code carries %x: if the instance was rebuilt, remove the old one first", ErrKeyMismatch,
		inst.UDI, codes.InstanceKeyHash(inst.PublicKey)[:8], codes.InstanceKeyHash(pub)[:8])
}

// insertReservation draws random ids until one is free. With 2^32 ids a
// collision is rare; 32 in a row means the random source is broken.
func insertReservation(tx Tx, r *Reservation, rand io.Reader) error {
	var b [codes.ReservationIDSize]byte
	for range 32 {
		if _, err := io.ReadFull(rand, b[:]); err != nil {
			return fmt.Errorf("drawing a reservation id: %w", err)
		}
		r.ID = reservationID(b[:])
		ok, err := tx.InsertReservation(r)
		if err != nil || ok {
			return err
		}
	}
	return errors.New("drawing a reservation id: 32 draws were all taken; the random source is broken")
}

// adjust applies held deltas with guarded updates, in lot order so that
// concurrent stores lock lots in one order. When one is refused it undoes
// those it applied, so that the caller may go on with the transaction.
// On a satellite, the counts of the lots then follow (settleSynced).
func adjust(tx Tx, deltas map[int64]int64) error {
	ids := make([]int64, 0, len(deltas))
	for id, d := range deltas {
		if d != 0 {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for i, id := range ids {
		if err := tx.AdjustHeld(id, deltas[id]); err != nil {
			for _, done := range ids[:i] {
				if uerr := tx.AdjustHeld(done, -deltas[done]); uerr != nil {
					return errors.Join(err, uerr)
				}
			}
			return err
		}
	}
	return settleSynced(tx, ids)
}

// served returns a stored code as an answer given again.
func served(tx ReadTx, is *Issued) (*Authorized, error) {
	a, err := codes.ParseUnverifiedAuthorization(is.Code)
	if err != nil {
		return nil, fmt.Errorf("%w: stored code of reservation %s serial %d: %v", ErrCorrupt, FormatReservationID(is.Reservation), is.Serial, err)
	}
	r, err := tx.Reservation(is.Reservation)
	if err != nil {
		return nil, err
	}
	acct, err := tx.AccountByID(r.AccountID)
	if err != nil {
		return nil, err
	}
	return &Authorized{Code: is.Code, Authorization: a, UDI: a.UDI.String(), Account: acct.Ref(), Again: true}, nil
}

// checkLicenses refuses duplicate tags and, unless zeroOK, zero counts.
func checkLicenses(ls []codes.License, zeroOK bool) error {
	if len(ls) > codes.MaxLines {
		return fmt.Errorf("%w: %d licenses, the limit is %d", ErrInvalid, len(ls), codes.MaxLines)
	}
	seen := map[string]bool{}
	for _, l := range ls {
		if err := codes.CheckTag(l.Tag); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		if l.Count == 0 && !zeroOK {
			return fmt.Errorf("%w: license %s=0: a reservation takes at least 1", ErrInvalid, l.Tag)
		}
		if seen[l.Tag] {
			return fmt.Errorf("%w: license %q given twice", ErrInvalid, l.Tag)
		}
		seen[l.Tag] = true
	}
	return nil
}

// movedNote is the history's note of an instance that was in account
// fromID and is now in to: it names the account it left when that is in
// the same organization, and only says "another organization" when not,
// for the history is shown to to's organization and must not name
// another's accounts.
func movedNote(tx ReadTx, what string, fromID int64, to *Account) (string, error) {
	from, err := tx.AccountByID(fromID)
	if err != nil {
		return "", err
	}
	if from.OrgID != to.OrgID {
		return "; " + what + " from another organization", nil
	}
	return fmt.Sprintf("; %s from %q", what, from.Ref()), nil
}
