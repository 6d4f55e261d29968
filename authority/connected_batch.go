package authority

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/codes/api"
)

// Group commit of renewals. Every renewal is a transaction that commits
// durably, and a durable commit costs an fsync: a few milliseconds, far
// more than the work of one renewal. Renewals that arrive together (many
// instances over HTTPS) therefore share transactions: the first call
// starts a batcher goroutine, which gathers calls until the oldest has
// waited renewBatchWait or renewBatchMax are waiting, then plans each in
// one transaction (a refusal is that call's answer and writes nothing),
// signs the codes beside it, stores them, commits once and answers every
// call. The goroutine ends when no call is left waiting.

const (
	// renewBatchWait is how long the first renewal of a batch waits for
	// others: 2 ms, less than an fsync, so that a lone renewal is hardly
	// slower and a busy service fills its batches.
	renewBatchWait = 2 * time.Millisecond
	// renewBatchMax is the most renewals one transaction answers: enough
	// that the fsync is shared, few enough that a batch commits within a
	// few tens of milliseconds.
	renewBatchMax = 256
)

// A renewCall is one RenewAuthorization waiting for its batch.
type renewCall struct {
	caller Caller
	req    api.RenewRequest
	at     time.Time // when it was submitted
	done   chan struct{}

	out  *api.Authorized
	err  error
	plan *connPlan
}

// A renewBatcher gathers renewal calls. Its zero value is ready.
type renewBatcher struct {
	mu      sync.Mutex
	pending []*renewCall
	running bool
	full    chan struct{} // signalled when renewBatchMax calls wait
}

// submit queues a call, starting the batcher goroutine if none runs. The
// call's done channel closes once it is answered.
func (b *renewBatcher) submit(l *Ledger, call *renewCall) {
	call.at = time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pending = append(b.pending, call)
	if !b.running {
		b.running = true
		b.full = make(chan struct{}, 1)
		go b.run(l)
		return
	}
	if len(b.pending) >= renewBatchMax {
		select {
		case b.full <- struct{}{}:
		default:
		}
	}
}

// run answers batches until none is waiting.
func (b *renewBatcher) run(l *Ledger) {
	for {
		b.mu.Lock()
		if len(b.pending) == 0 {
			b.running = false
			b.mu.Unlock()
			return
		}
		wait := renewBatchWait - time.Since(b.pending[0].at)
		full := len(b.pending) >= renewBatchMax
		b.mu.Unlock()
		if wait > 0 && !full {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-b.full:
			}
			t.Stop()
		}
		b.mu.Lock()
		n := min(len(b.pending), renewBatchMax)
		batch := append([]*renewCall(nil), b.pending[:n]...)
		b.pending = append(b.pending[:0:0], b.pending[n:]...)
		b.mu.Unlock()
		l.renewBatch(batch)
		for _, c := range batch {
			close(c.done)
		}
	}
}

// renewBatch answers calls in one transaction, as a pipeline like
// reserveChunk's: this goroutine authenticates and plans each call and
// hands its code to the signers, and stores each signed code and its
// history event, in order, as the signers finish. When the transaction
// fails, every call that was not refused gets its error.
func (l *Ledger) renewBatch(calls []*renewCall) {
	err := l.update(context.Background(), func(tx Tx, c *chain) error {
		for _, call := range calls {
			call.out, call.err, call.plan = nil, nil, nil
		}
		now, key, err := l.signingClock(c)
		if err != nil {
			return err
		}
		tiers, err := loadTiers(tx)
		if err != nil {
			return err
		}
		asks := make([]*ask, len(calls))
		for i := range asks {
			asks[i] = &ask{opened: true} // renewals have nothing to open: the workers only sign
		}
		w := newWorkers(l, asks, len(asks), 1)
		defer w.stop()
		bc := &batchCache{lots: newLotCache(tx), tiers: tiers, accts: map[int64]*Account{}}
		var planned []*renewCall
		stored := 0
		store := func(block bool) error {
			for ; stored < len(planned); stored++ {
				p := planned[stored].plan
				if !block && !p.signed.Load() {
					return nil
				}
				<-p.done
				if err := l.storeConnected(tx, c, p, now); err != nil {
					return err
				}
			}
			return nil
		}
		for _, call := range calls {
			p, deltas, err := l.planRenew(tx, bc, call, now, key)
			switch {
			case err == nil && p != nil:
				bc.lots.apply(deltas)
				call.plan = p
				planned = append(planned, call)
				w.sign(p.plan)
			case err == nil:
			case refusal(err):
				call.err = err
			default:
				return err
			}
			if err := store(false); err != nil {
				return err
			}
		}
		return store(true)
	})
	if err != nil {
		for _, call := range calls {
			if call.err == nil {
				call.out, call.err = nil, err
			}
		}
	}
}

// A batchCache holds what the renewals of one transaction read alike.
type batchCache struct {
	lots  *lotCache
	tiers tierIndex
	accts map[int64]*Account
}

func (c *batchCache) account(tx ReadTx, id int64) (*Account, error) {
	if a := c.accts[id]; a != nil {
		return a, nil
	}
	a, err := tx.AccountByID(id)
	if err == nil {
		c.accts[id] = a
	}
	return a, err
}

// planRenew authenticates one renewal and plans its code: nil when there
// is nothing to sign (call.out is then the answer).
func (l *Ledger) planRenew(tx Tx, bc *batchCache, call *renewCall, now int64, key *codes.AuthorityKey) (*connPlan, map[int64]int64, error) {
	reg, inst, err := l.authenticate(tx, call.caller, now, liveOnly)
	if err != nil {
		return nil, nil, err
	}
	acct, err := bc.account(tx, reg.AccountID)
	if err != nil {
		return nil, nil, err
	}
	res, err := connReservation(tx, reg, inst)
	if err != nil {
		return nil, nil, err
	}
	want := map[string]int64{}
	for _, w := range call.req.Wanted {
		want[w.Tag] += int64(w.Count)
	}
	gs, err := tx.ExportGrants(inst.ID)
	if err != nil {
		return nil, nil, err
	}
	for _, g := range gs {
		want[g.Tag] += g.Count
	}
	in := &connInput{reg: reg, inst: inst, acct: acct, res: res, want: wantedFirst(call.req.Wanted, want), exportOK: reg.ExportAllowed && acct.ExportAllowed, installed: call.req.Installed}
	if res == nil {
		// Serial 1 answers the request the instance registered with, if
		// no reservation answered it yet.
		if err := nonceUnused(tx, inst, reg.Nonce); err == nil {
			in.nonce, in.request = reg.Nonce, reg.RequestHash
		}
	}
	reg.LastSeq, reg.LastContact = call.caller.Signed.Seq, now
	p, ans, deltas, err := l.planConnected(tx, bc.lots, bc.tiers, in, now, key)
	if err != nil {
		return nil, nil, err
	}
	if err := tx.PutConnected(reg); err != nil {
		return nil, nil, err
	}
	call.out = ans
	return p, deltas, nil
}

// wantedFirst returns the counts of want in the order the request named
// its tags, then the other tags (export grants) by name.
func wantedFirst(order []codes.License, want map[string]int64) []codes.License {
	out := make([]codes.License, 0, len(want))
	done := map[string]bool{}
	for _, w := range order {
		if !done[w.Tag] && want[w.Tag] > 0 {
			out = append(out, codes.License{Tag: w.Tag, Count: uint32(min(want[w.Tag], math.MaxUint32))})
		}
		done[w.Tag] = true
	}
	rest := map[string]int64{}
	for tag, n := range want {
		if !done[tag] {
			rest[tag] = n
		}
	}
	return append(out, licensesOf(rest)...)
}

// connReservation returns the live reservation of a connected instance:
// the one its registration names, else (an operator reserved for it
// meanwhile) the one it holds, or nil.
func connReservation(tx ReadTx, reg *ConnectedInstance, inst *Instance) (*Reservation, error) {
	if reg.Reservation != 0 {
		r, err := tx.Reservation(reg.Reservation)
		if err != nil {
			return nil, err
		}
		if r != nil && r.InstanceID == inst.ID && r.Status.Live() {
			return r, nil
		}
	}
	return liveReservation(tx, inst.ID)
}
