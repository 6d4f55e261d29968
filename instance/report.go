package instance

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/formats/wire"
)

// read runs fn on the current state, reread from disk if another process
// changed it, without the folder's lock.
func (in *Instance) read(fn func(st *state, now time.Time) error) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if _, err := in.reloadLocked(); err != nil {
		return err
	}
	return fn(in.st, in.opts.clock())
}

// SystemFile makes a system description for the trust set's current
// authority key: this instance's UDI and key, the system's name, its
// hardware components and its demand per tag, with a fresh nonce. It
// returns the code in binary form; codes.EncodeArmor makes the file. When
// a request could be made (reservation enabled, none installed), it records
// its nonce as a pending request, as Request does, so that the
// authorization code the authority answers it with installs; otherwise it
// changes nothing in the state.
func (in *Instance) SystemFile(name string, components []codes.Component, demand []codes.License) ([]byte, error) {
	var code []byte
	err := in.update(func(st *state, now time.Time) error {
		t := now.Unix()
		seal := func(nonce []byte, key *codes.AuthorityPublicKey) ([]byte, error) {
			return codes.SealSystem(&codes.System{UDI: st.core.UDI, Name: name, Components: components, Demand: demand, IssuedAt: t, Nonce: nonce}, st.key, key)
		}
		var err error
		if st.canRequest() != nil {
			// Only a description: its answer could not install now.
			code, _, _, err = st.sealFresh(t, "list fewer components or tags", seal)
			if err == nil {
				err = errNoChange
			}
			return err
		}
		code, err = st.newPending(t, "system description", "list fewer components or tags", demand, seal)
		return err
	})
	if err != nil {
		return nil, err
	}
	return code, nil
}

// UsageReport makes a usage report for the authority: for each tag, the
// peak and the current count in use over the period since the last report
// (or Init), the clock's high-water mark, and the journal's head hash and
// entry count with the head the previous report carried, so that the
// authority can tell one history of this instance from two (a restored
// backup, a copy of the state folder). It is MACed for the key that signed
// the installed code, or the current key if none is installed. Making it
// starts a new period, durably, and keeps the report: LastUsageReport
// returns it again, byte for byte, if its file was lost.
func (in *Instance) UsageReport() ([]byte, error) {
	var code []byte
	err := in.update(func(st *state, now time.Time) error {
		t := now.Unix()
		prev, err := st.lastReportHead()
		if err != nil {
			return in.corruptError(err)
		}
		u := &codes.Usage{
			UDI:          st.core.UDI,
			From:         st.core.ReportFrom,
			To:           max(t, st.core.ReportFrom),
			HighWater:    max(st.core.HighWater, t),
			JournalHead:  bytes.Clone(st.core.JournalHead),
			JournalCount: st.core.JournalCount,
			PreviousHead: prev,
		}
		tags := make([]string, 0, len(st.usage))
		for tag, use := range st.usage {
			if use.Peak > 0 || use.InUse > 0 {
				tags = append(tags, tag)
			}
		}
		sort.Strings(tags)
		for _, tag := range tags {
			use := st.usage[tag]
			u.Tags = append(u.Tags, codes.TagUsage{Tag: tag, Peak: use.Peak, Current: use.InUse})
		}
		var mac []byte
		if st.auth != nil {
			u.Reservation, u.Serial = bytes.Clone(st.auth.Reservation), st.auth.Serial
			mac, err = st.macKey(st.auth.KeyID)
		} else {
			var key *codes.AuthorityPublicKey
			if key, err = st.currentKey(t); err == nil {
				mac, err = st.key.MACKey(key)
			}
		}
		if err != nil {
			return err
		}
		if code, err = codes.SealUsage(u, mac); err != nil {
			return err
		}
		st.report = code
		st.core.ReportFrom = u.To
		for tag, use := range st.usage {
			use.Peak = use.InUse
			if use.InUse == 0 {
				delete(st.usage, tag)
			}
		}
		st.journalAdd(t, "usage-report", fmt.Sprintf("period %s to %s, %d tags", codes.FormatTime(u.From), codes.FormatTime(u.To), len(u.Tags)))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return code, nil
}

// lastReportHead returns the journal head the last usage report carried,
// or nil before the first. The report kept in the state is the record of
// it: the next report names that head as its previous one.
func (st *state) lastReportHead() ([]byte, error) {
	if st.report == nil {
		return nil, nil
	}
	u, err := codes.ParseUnverifiedUsage(st.report)
	if err != nil {
		return nil, corrupt("the last usage report kept in the state: %v", err)
	}
	return u.JournalHead, nil
}

// LastUsageReport returns the last report UsageReport made, or nil.
func (in *Instance) LastUsageReport() ([]byte, error) {
	var code []byte
	err := in.read(func(st *state, now time.Time) error {
		code = bytes.Clone(st.report)
		return nil
	})
	return code, err
}

// Status is what an administrator sees of an instance.
type Status struct {
	Mode            Mode
	UDI             codes.UDI
	KeyHash         []byte // the instance key hash that authorization codes name
	EvaluationStart time.Time
	EvaluationEnd   time.Time
	Advisory        bool      // clock anomalies only warn
	HighWater       time.Time // the latest time the instance has seen
	Trust           *codes.TrustSet
	AuthorityKey    *codes.KeyID // the key requests are made for now, nil if none

	// The installed reservation, if any.
	Reservation    []byte
	Serial         uint64
	PreviousSerial uint64 // for an update: the serial it replaced
	Confirmation   []byte // for an update: its confirmation code, binary
	SignedBy       codes.KeyID
	IssuedAt       time.Time
	Entitlements   []EntitlementStatus

	Pending    []PendingRequest
	LastReturn *Returned // the last reservation returned with Return
	Usage      []TagUse  // every tag in use or used in the current period
	Warnings   []Warning
	Journal    JournalHead
	Generation uint64 // grows by one with every write of the state
}

// An EntitlementStatus is an entitlement of the installed code and its use.
type EntitlementStatus struct {
	codes.Entitlement
	InUse  int  // of the tag, over all its entitlements
	Active bool // usable now
}

// A PendingRequest is a request waiting for its authorization code.
type PendingRequest struct {
	Nonce    []byte
	IssuedAt time.Time
	Wanted   []codes.License
	KeyID    codes.KeyID // the authority key it was made for
}

// A TagUse is the use of one tag.
type TagUse struct {
	Tag   string
	InUse int
	Peak  int // since the current usage period started
}

// JournalHead sums up the journal: how many entries were ever written and
// the hash of the last, which usage reports carry.
type JournalHead struct {
	Count uint64
	Head  []byte
}

// Status returns the instance's state now, reread from disk if another
// process changed it.
func (in *Instance) Status() (*Status, error) {
	var out *Status
	err := in.read(func(st *state, now time.Time) error {
		t := now.Unix()
		c := &st.core
		s := &Status{
			Mode:            st.mode(t),
			UDI:             in.UDI(),
			KeyHash:         st.key.Hash(),
			EvaluationStart: time.Unix(c.EvalStart, 0).UTC(),
			EvaluationEnd:   time.Unix(c.EvalStart+evalSeconds, 0).UTC(),
			Advisory:        in.advisory(st),
			HighWater:       time.Unix(c.HighWater, 0).UTC(),
			Trust:           cloneTrust(st.trust),
			Journal:         JournalHead{Count: c.JournalCount, Head: bytes.Clone(c.JournalHead)},
			Generation:      c.Generation,
		}
		if k := st.trust.Current(t); k != nil {
			id := k.ID()
			s.AuthorityKey = &id
		}
		snap := in.snap.Load()
		if a := st.auth; a != nil {
			s.Reservation, s.Serial, s.SignedBy = bytes.Clone(a.Reservation), a.Serial, a.KeyID
			s.PreviousSerial, s.Confirmation = c.PrevSerial, bytes.Clone(c.Confirmation)
			s.IssuedAt = time.Unix(a.IssuedAt, 0).UTC()
			clockOK := snap.clockOK(t)
			for _, e := range a.Entitlements {
				used := 0
				if u := st.usage[e.Tag]; u != nil {
					used = int(u.InUse)
				}
				active := e.ActiveAt(now) && (!(e.Start != 0 || e.End != 0) || clockOK) && !st.exportDisabled(e.Tag) && (a.Lapses == 0 || t < a.Lapses)
				s.Entitlements = append(s.Entitlements, EntitlementStatus{Entitlement: e, InUse: used, Active: active})
			}
		}
		for _, p := range st.pending {
			var id codes.KeyID
			copy(id[:], p.KeyID)
			s.Pending = append(s.Pending, PendingRequest{Nonce: bytes.Clone(p.Nonce), IssuedAt: time.Unix(p.IssuedAt, 0).UTC(),
				Wanted: slices.Clone(p.Wanted), KeyID: id})
		}
		if c.LastReturn != nil {
			s.LastReturn = st.findReturned(c.LastReturn).result(false)
		}
		tags := make([]string, 0, len(st.usage))
		for tag := range st.usage {
			tags = append(tags, tag)
		}
		sort.Strings(tags)
		for _, tag := range tags {
			u := st.usage[tag]
			s.Usage = append(s.Usage, TagUse{Tag: tag, InUse: int(u.InUse), Peak: int(u.Peak)})
		}
		s.Warnings = in.warningsAt(snap, t)
		out = s
		return nil
	})
	return out, err
}

// A JournalEntry is one event of the instance's journal.
type JournalEntry struct {
	At     time.Time
	Event  string // init, enable, disable, request, cancel, install, update, return, return-authorization, usage-report, clock-anomaly, clock-corrected, activation-request, activation-install, clock
	Detail string
	Hash   []byte // SHA-256 of the entry's encoding; the next entry names it
}

// Journal returns the entries the state keeps (the last 256), oldest
// first, after checking that they chain up to the head hash.
func (in *Instance) Journal() ([]JournalEntry, error) {
	var out []JournalEntry
	err := in.read(func(st *state, now time.Time) error {
		var prev []byte
		for i, b := range st.journal {
			var e journalRecord
			if err := wire.Unmarshal(b, &e); err != nil {
				return in.corruptError(corrupt("journal entry %d: %v", i, err))
			}
			if prev != nil && !bytes.Equal(e.Prev, prev) {
				return in.corruptError(corrupt("journal entry %d does not chain to the one before", i))
			}
			h := sha256.Sum256(b)
			prev = h[:]
			out = append(out, JournalEntry{At: time.Unix(e.At, 0).UTC(), Event: e.Event, Detail: e.Detail, Hash: prev})
		}
		if prev != nil && !bytes.Equal(prev, st.core.JournalHead) {
			return in.corruptError(corrupt("the last journal entry is not the head"))
		}
		return nil
	})
	return out, err
}

func cloneTrust(t *codes.TrustSet) *codes.TrustSet {
	c := *t
	c.Keys = slices.Clone(t.Keys)
	for i := range c.Keys {
		c.Keys[i].Sign, c.Keys[i].Agree = bytes.Clone(c.Keys[i].Sign), bytes.Clone(c.Keys[i].Agree)
	}
	return &c
}
