package authority

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// An Event is one record of the ledger's history: who did what, when, to
// which subject, and with which code (by hash). Events form a hash chain:
// Prev is the SHA-256 of the previous event's canonical encoding (32 zero
// bytes for the first), and the ledger's meta record keeps the hash of the
// last one, so that an event altered, removed or inserted anywhere breaks
// the chain (Verify).
//
// The chain proves the history whole against edits of the database file
// that do not also recompute every later hash; an operator who records
// the head printed by `airlock authority verify` elsewhere detects even
// those.
type Event struct {
	ID       int64 // 1, 2, …: the position in the chain
	At       int64 // Unix seconds, UTC
	Actor    string
	Action   string // e.g. "reserve", "return"
	Subject  string // what it acted on, e.g. a UDI, "ORG/ACCOUNT" or a tag
	Account  string // "ORG/ACCOUNT" when the event concerns one
	Instance string // the UDI when the event concerns an instance
	CodeHash []byte // SHA-256 of the binary code involved, if any; for a lot, its lotHash
	Detail   string // a sentence for people
	Prev     []byte // the hash of the previous event
}

// historyLabel starts the canonical encoding of every event.
const historyLabel = "airlock/v1/history\n"

// Encode returns the event's canonical encoding: the label, then ID and At
// as 8-byte big-endian integers, then Actor, Action, Subject, Account,
// Instance, CodeHash, Detail and Prev, each as its length (unsigned
// varint) followed by its bytes.
func (e *Event) Encode() []byte {
	b := make([]byte, 0, 160+len(e.Detail)+len(e.Subject))
	b = append(b, historyLabel...)
	b = binary.BigEndian.AppendUint64(b, uint64(e.ID))
	b = binary.BigEndian.AppendUint64(b, uint64(e.At))
	for _, f := range [][]byte{[]byte(e.Actor), []byte(e.Action), []byte(e.Subject), []byte(e.Account),
		[]byte(e.Instance), e.CodeHash, []byte(e.Detail), e.Prev} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

// Hash returns the SHA-256 of the event's canonical encoding: the Prev of
// the next event.
func (e *Event) Hash() []byte {
	h := sha256.Sum256(e.Encode())
	return h[:]
}

// genesis is the Prev of the first event.
var genesis = make([]byte, sha256.Size)

// FormatHash returns a hash in hex, for people.
func FormatHash(h []byte) string { return hex.EncodeToString(h) }

// lotHash returns the hash of what never changes in a lot: its id,
// account, tag, terms and initial count. The lot's history event records
// it (as its code hash), so that Verify ties every lot to the event that
// made it.
// allocationHash is what the history records of an allocation, so that
// Verify finds one changed outside the ledger.
func allocationHash(a *Allocation) []byte {
	b := []byte("airlock/v1/allocation\n")
	for _, v := range []int64{a.ID, a.ProductID, int64(a.Year), a.Count, a.Credited, a.CoversFrom, a.At} {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	for _, src := range a.Sources {
		b = binary.BigEndian.AppendUint64(b, uint64(src.LotID))
		b = binary.BigEndian.AppendUint64(b, uint64(src.Count))
	}
	b = append(b, a.Tag...)
	b = append(b, 0)
	b = append(b, a.Component...)
	h := sha256.Sum256(b)
	return h[:]
}

func lotHash(l *Lot) []byte {
	b := []byte("airlock/v1/lot\n")
	for _, v := range []int64{l.ID, l.AccountID, int64(l.Kind), l.Start, l.End, l.Initial} {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	if l.ExportControlled {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = append(b, l.Tag...)
	h := sha256.Sum256(b)
	return h[:]
}

// codeHash returns the SHA-256 of a binary code.
func codeHash(code []byte) []byte {
	h := sha256.Sum256(code)
	return h[:]
}

// chain appends events to the history inside one transaction, keeping the
// head in memory and writing it once at the end.
type chain struct {
	tx         Tx
	count      int64
	head       []byte
	lastIssued int64
	dirty      bool
}

func newChain(tx Tx) (*chain, error) {
	m, err := tx.Meta()
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, ErrNotInitialized
	}
	return &chain{tx: tx, count: m.HistoryCount, head: m.HistoryHead, lastIssued: m.LastIssuedAt}, nil
}

// add links e to the chain and stores it.
func (c *chain) add(e *Event) error {
	e.ID = c.count + 1
	e.Prev = c.head
	if err := c.tx.AppendHistory(e); err != nil {
		return err
	}
	c.count, c.head, c.dirty = e.ID, e.Hash(), true
	return nil
}

// issued records that a code was issued at t.
func (c *chain) issued(t int64) {
	if t > c.lastIssued {
		c.lastIssued, c.dirty = t, true
	}
}

// flush writes the head.
func (c *chain) flush() error {
	if !c.dirty {
		return nil
	}
	c.dirty = false
	return c.tx.SetHead(c.count, c.head, c.lastIssued)
}
