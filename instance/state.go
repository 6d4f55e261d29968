package instance

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sort"
	"strconv"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/formats/wire"
)

// The state file. It is one file, replaced as a whole by every write:
//
//	magic    "airlock instance state v1\n"
//	records  each: 1 byte type, 4 bytes big-endian length, the record's
//	         CBOR (formats/wire, so strict and canonical)
//	checksum SHA-256 of everything before it, 32 bytes
//
// The core record comes first and exactly once; then the pending requests,
// the returned reservations, the use of each tag, the last usage report,
// the connected-mode record (at most once: the transport, the registration
// and the export requests, connected.go) and the journal entries, oldest
// first. Each record is a CBOR map with integer
// keys, under wire.MaxSize: the largest, the core, holds at most one
// authorization code (codes.MaxCodeSize) and a trust set. Splitting the
// state in records keeps every CBOR item small, and lets the journal stay
// undecoded until someone reads it.
//
// The checksum detects damage (a flipped bit, a truncated file), not
// tampering: whoever can write the folder can also recompute it. The
// folder's permissions are what protects the state.
const (
	magicPrefix   = "airlock instance state v"
	formatVersion = 1
	magic         = "airlock instance state v1\n"
	checksumSize  = sha256.Size
	recordHeader  = 5
)

// Record types. Never reuse a number.
const (
	recCore     byte = 1
	recPending  byte = 2
	recReturned byte = 3
	recUsage    byte = 4
	recReport   byte = 5
	recJournal  byte = 6
)

// recConnected is the connected-mode record (connected.go), type 7.
const recConnected byte = 7

// Limits on the lists in the state.
const (
	// maxPending caps the requests waiting for an answer: an administrator
	// who lost a request code makes another; eight is plenty.
	maxPending = 8
	// maxCancelled caps the remembered nonces of requests that were
	// cancelled or superseded, whose codes may still be returned with
	// ReturnAuthorization.
	maxCancelled = 16
	// maxJournal is how many journal entries the file keeps; the head
	// hash covers every entry ever written.
	maxJournal = 256
	// maxTags caps the tags whose use is tracked: a product has a few
	// dozen features at most.
	maxTags = 1024
)

// core is the main record.
type core struct {
	Format       uint64    `cbor:"1,keyasint"`
	InstanceKey  []byte    `cbor:"2,keyasint"` // X25519 private scalar, 32 bytes
	UDI          codes.UDI `cbor:"3,keyasint"`
	Trust        []byte    `cbor:"4,keyasint"` // the trust set's payload (wire encoding of codes.TrustSet)
	EvalStart    int64     `cbor:"5,keyasint"` // Unix seconds, UTC
	Enabled      bool      `cbor:"6,keyasint,omitempty"`
	Advisory     bool      `cbor:"7,keyasint,omitempty"` // clock anomalies only warn
	Installed    []byte    `cbor:"8,keyasint,omitempty"` // the installed authorization code, verbatim
	Confirmation []byte    `cbor:"9,keyasint,omitempty"` // its confirmation code, when it was an update
	PrevSerial   uint64    `cbor:"10,keyasint,omitempty"`
	LastReturn   []byte    `cbor:"11,keyasint,omitempty"` // reservation id of the last Return
	Cancelled    [][]byte  `cbor:"12,keyasint,omitempty"` // nonces of requests cancelled or superseded
	HighWater    int64     `cbor:"13,keyasint"`           // latest time seen, Unix seconds
	Anomaly      bool      `cbor:"14,keyasint,omitempty"` // a clock anomaly was journaled and not yet cleared
	ReportFrom   int64     `cbor:"15,keyasint"`           // start of the current usage period
	JournalHead  []byte    `cbor:"16,keyasint"`           // SHA-256 of the last journal entry
	JournalCount uint64    `cbor:"17,keyasint,omitempty"` // entries ever written
	Generation   uint64    `cbor:"18,keyasint"`           // grows by one with every write
}

// A pendingRequest is a request made and not yet answered.
type pendingRequest struct {
	Nonce    []byte          `cbor:"1,keyasint"`
	IssuedAt int64           `cbor:"2,keyasint"`
	Wanted   []codes.License `cbor:"3,keyasint,omitempty"`
	KeyID    []byte          `cbor:"4,keyasint"` // the authority key it was made for
}

// A returnedRecord is a reservation this instance gave back. Its codes
// never install again.
type returnedRecord struct {
	Reservation    []byte `cbor:"1,keyasint"`
	Serial         uint64 `cbor:"2,keyasint"`
	NeverInstalled bool   `cbor:"3,keyasint,omitempty"`
	Code           []byte `cbor:"4,keyasint"` // the return code, binary
	At             int64  `cbor:"5,keyasint"`
}

// A usageRecord is the use of one tag: now and at most since the current
// usage period started.
type usageRecord struct {
	Tag   string `cbor:"1,keyasint"`
	InUse uint32 `cbor:"2,keyasint,omitempty"`
	Peak  uint32 `cbor:"3,keyasint,omitempty"`
}

// reportRecord keeps the last usage report made, so it can be written
// again if its file was lost.
type reportRecord struct {
	Code []byte `cbor:"1,keyasint"`
}

// A journalRecord is one entry of the hash-chained journal.
type journalRecord struct {
	At     int64  `cbor:"1,keyasint"`
	Event  string `cbor:"2,keyasint"`
	Detail string `cbor:"3,keyasint,omitempty"`
	Prev   []byte `cbor:"4,keyasint"` // SHA-256 of the entry before, zeros for the first
}

// state is the whole state file, decoded. The journal stays encoded.
type state struct {
	core     core
	pending  []pendingRequest
	returned []returnedRecord
	usage    map[string]*usageRecord
	report   []byte
	conn     *connectedRecord // nil while the instance never left offline mode
	journal  [][]byte         // encoded journalRecords, oldest first

	derived // opened by verify, kept up to date by the operations
}

func corrupt(format string, args ...any) error {
	return &corruptDetail{fmt.Sprintf(format, args...)}
}

// decodeState parses a state file and checks its checksum and the shape of
// its records. It does not verify the codes in it: see load.
func decodeState(b []byte) (*state, [checksumSize]byte, error) {
	var sum [checksumSize]byte
	if !bytes.HasPrefix(b, []byte(magic)) {
		if rest, ok := bytes.CutPrefix(b, []byte(magicPrefix)); ok {
			if line, _, ok := bytes.Cut(rest, []byte("\n")); ok {
				if v, err := strconv.ParseUint(string(line), 10, 32); err == nil && v > formatVersion {
					return nil, sum, fmt.Errorf("%w: the state was written in format v%d by a newer airlock; this one reads v%d", ErrFormat, v, formatVersion)
				}
			}
		}
		if len(b) == 0 {
			return nil, sum, corrupt("the state file is empty")
		}
		return nil, sum, corrupt("the state file does not start like one")
	}
	if len(b) < len(magic)+checksumSize {
		return nil, sum, corrupt("the state file is truncated (%d bytes)", len(b))
	}
	body, trailer := b[:len(b)-checksumSize], b[len(b)-checksumSize:]
	sum = sha256.Sum256(body)
	if !bytes.Equal(sum[:], trailer) {
		return nil, sum, corrupt("checksum mismatch: the file was damaged, truncated or changed outside airlock")
	}
	st := &state{usage: map[string]*usageRecord{}}
	rest := body[len(magic):]
	first := true
	for len(rest) > 0 {
		if len(rest) < recordHeader {
			return nil, sum, corrupt("a record header is cut short")
		}
		typ, n := rest[0], binary.BigEndian.Uint32(rest[1:recordHeader])
		if uint64(n) > uint64(len(rest)-recordHeader) {
			return nil, sum, corrupt("a record runs past the end of the file")
		}
		data := rest[recordHeader : recordHeader+int(n)]
		rest = rest[recordHeader+int(n):]
		if first != (typ == recCore) {
			return nil, sum, corrupt("the core record is missing or repeated")
		}
		first = false
		var err error
		switch typ {
		case recCore:
			err = wire.Unmarshal(data, &st.core)
		case recPending:
			var p pendingRequest
			if err = wire.Unmarshal(data, &p); err == nil {
				st.pending = append(st.pending, p)
			}
		case recReturned:
			var r returnedRecord
			if err = wire.Unmarshal(data, &r); err == nil {
				st.returned = append(st.returned, r)
			}
		case recUsage:
			var u usageRecord
			if err = wire.Unmarshal(data, &u); err == nil {
				if st.usage[u.Tag] != nil {
					err = fmt.Errorf("tag %q appears twice", u.Tag)
				}
				st.usage[u.Tag] = &u
			}
		case recReport:
			var r reportRecord
			if err = wire.Unmarshal(data, &r); err == nil {
				st.report = r.Code
			}
		case recConnected:
			var r connectedRecord
			if err = wire.Unmarshal(data, &r); err == nil {
				if st.conn != nil {
					err = fmt.Errorf("the connected record appears twice")
				}
				st.conn = &r
			}
		case recJournal:
			if err = wire.Valid(data); err == nil {
				st.journal = append(st.journal, data)
			}
		default:
			err = fmt.Errorf("unknown record type %d", typ)
		}
		if err != nil {
			return nil, sum, corrupt("record of type %d: %v", typ, err)
		}
	}
	if first {
		return nil, sum, corrupt("the state file has no records")
	}
	if err := st.checkShape(); err != nil {
		return nil, sum, err
	}
	return st, sum, nil
}

// checkShape checks what a well-formed state must hold, short of verifying
// codes.
func (st *state) checkShape() error {
	c := &st.core
	switch {
	case c.Format != formatVersion:
		return corrupt("core record of format %d in a v%d file", c.Format, formatVersion)
	case len(c.InstanceKey) != 32:
		return corrupt("instance key has %d bytes", len(c.InstanceKey))
	case len(c.JournalHead) != checksumSize:
		return corrupt("journal head has %d bytes", len(c.JournalHead))
	case len(st.pending) > maxPending:
		return corrupt("%d pending requests, the limit is %d", len(st.pending), maxPending)
	case len(c.Cancelled) > maxCancelled:
		return corrupt("%d cancelled requests, the limit is %d", len(c.Cancelled), maxCancelled)
	case len(st.journal) > maxJournal || uint64(len(st.journal)) > c.JournalCount:
		return corrupt("%d journal entries of %d written", len(st.journal), c.JournalCount)
	case len(st.usage) > maxTags:
		return corrupt("%d tags in use, the limit is %d", len(st.usage), maxTags)
	case c.LastReturn != nil && st.findReturned(c.LastReturn) == nil:
		return corrupt("the last return names reservation %x, which is not recorded as returned", c.LastReturn)
	case (c.Confirmation != nil || c.PrevSerial != 0) && c.Installed == nil:
		return corrupt("a confirmation code without an installed code")
	}
	for _, p := range st.pending {
		if len(p.Nonce) != codes.NonceSize || len(p.KeyID) != codes.KeyIDSize {
			return corrupt("pending request with a nonce of %d bytes and a key id of %d", len(p.Nonce), len(p.KeyID))
		}
	}
	for _, n := range c.Cancelled {
		if len(n) != codes.NonceSize {
			return corrupt("cancelled request with a nonce of %d bytes", len(n))
		}
	}
	for _, r := range st.returned {
		if len(r.Reservation) != codes.ReservationIDSize || r.Serial == 0 || len(r.Code) == 0 {
			return corrupt("returned reservation %x serial %d without its code", r.Reservation, r.Serial)
		}
	}
	for tag, u := range st.usage {
		if u.InUse > u.Peak {
			return corrupt("tag %q has %d in use above its peak %d", tag, u.InUse, u.Peak)
		}
	}
	if st.conn != nil {
		if err := st.conn.checkShape(); err != nil {
			return err
		}
	}
	return nil
}

// encode returns the state file and its checksum. It refuses a record the
// decoder would refuse, rather than write a state that cannot be read.
func (st *state) encode() ([]byte, [checksumSize]byte, error) {
	var sum [checksumSize]byte
	var buf bytes.Buffer
	buf.Grow(4096)
	buf.WriteString(magic)
	add := func(typ byte, data []byte) error {
		if len(data) > wire.MaxSize {
			return fmt.Errorf("state record of type %d has %d bytes, the limit is %d", typ, len(data), wire.MaxSize)
		}
		var h [recordHeader]byte
		h[0] = typ
		binary.BigEndian.PutUint32(h[1:], uint32(len(data)))
		buf.Write(h[:])
		buf.Write(data)
		return nil
	}
	addValue := func(typ byte, v any) error {
		data, err := wire.Marshal(v)
		if err != nil {
			return fmt.Errorf("encoding the state: %w", err)
		}
		return add(typ, data)
	}
	if err := addValue(recCore, &st.core); err != nil {
		return nil, sum, err
	}
	for i := range st.pending {
		if err := addValue(recPending, &st.pending[i]); err != nil {
			return nil, sum, err
		}
	}
	for i := range st.returned {
		if err := addValue(recReturned, &st.returned[i]); err != nil {
			return nil, sum, err
		}
	}
	tags := make([]string, 0, len(st.usage))
	for tag := range st.usage {
		tags = append(tags, tag)
	}
	sort.Strings(tags)
	for _, tag := range tags {
		if err := addValue(recUsage, st.usage[tag]); err != nil {
			return nil, sum, err
		}
	}
	if st.report != nil {
		if err := addValue(recReport, &reportRecord{Code: st.report}); err != nil {
			return nil, sum, err
		}
	}
	if st.conn != nil {
		if err := addValue(recConnected, st.conn); err != nil {
			return nil, sum, err
		}
	}
	for _, e := range st.journal {
		if err := add(recJournal, e); err != nil {
			return nil, sum, err
		}
	}
	sum = sha256.Sum256(buf.Bytes())
	buf.Write(sum[:])
	return buf.Bytes(), sum, nil
}

// findReturned returns the record of a returned reservation, or nil.
func (st *state) findReturned(id []byte) *returnedRecord {
	for i := range st.returned {
		if bytes.Equal(st.returned[i].Reservation, id) {
			return &st.returned[i]
		}
	}
	return nil
}

// addCancelled remembers the nonce of a request that will never be
// answered by an install, keeping the newest maxCancelled.
func (st *state) addCancelled(nonce []byte) {
	st.core.Cancelled = append(st.core.Cancelled, nonce)
	if n := len(st.core.Cancelled); n > maxCancelled {
		st.core.Cancelled = st.core.Cancelled[n-maxCancelled:]
	}
}

// journalAdd appends an entry to the hash chain: its Prev is the current
// head, and the new head is the SHA-256 of its encoding.
func (st *state) journalAdd(at int64, event, detail string) {
	e := journalRecord{At: at, Event: event, Detail: detail, Prev: st.core.JournalHead}
	b := wire.MustMarshal(&e)
	h := sha256.Sum256(b)
	st.core.JournalHead = h[:]
	st.core.JournalCount++
	st.journal = append(st.journal, b)
	if n := len(st.journal); n > maxJournal {
		st.journal = append([][]byte(nil), st.journal[n-maxJournal:]...)
	}
}

// journalTag returns the first bytes of the journal head, which a return
// code carries: taken before the return's own entry, so that the same
// state returning twice makes the same code, and two states that went
// apart make two codes.
func (st *state) journalTag() []byte {
	return bytes.Clone(st.core.JournalHead[:codes.JournalTagSize])
}

// use returns the usage record of tag, making it if needed.
func (st *state) use(tag string) *usageRecord {
	u := st.usage[tag]
	if u == nil {
		u = &usageRecord{Tag: tag}
		st.usage[tag] = u
	}
	return u
}
