package authority

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/airlock-dev/airlock/codes"
)

// Fork detection. Every instance keeps a hash-chained journal in its state
// folder. A usage report carries the journal's head and entry count, and
// the head the instance's previous report carried; a return code carries
// the first bytes of the head. One instance running on leaves one chain of
// reports: each names the one before, with a greater count. A backup
// restored, or a copy of the folder run beside the original, leaves two
// histories that started from one state, and the codes they make show it:
//
//   - a usage report that does not follow the last one imported: it names
//     another previous report, or none, or counts no more entries;
//   - two usage reports made from one journal state;
//   - a usage report that still names a reservation returned before the
//     report's period ended;
//   - a second return code for a reservation already returned, whose
//     journal tag differs from the first's.
//
// The ledger flags these (a "fork" event in the history, and the
// instance's journal record counts them) and takes nothing away: a
// flagged report is recorded like any other, and no code of the instance
// is refused because of a flag. Which copy is the legitimate one is for
// people to find out; the history says when and with which codes.
//
// What a flag cannot tell: a restored state that makes no code at all, or
// whose codes the site withholds, is invisible to the authority. Only a
// hardware monotonic counter would close that gap (docs/SECURITY.md).

// UsageImported says what ImportUsage did.
type UsageImported struct {
	UDI     string
	Account string
	Report  *codes.Usage
	Hash    []byte // SHA-256 of the code
	// Again is set when this report was imported before: nothing
	// changed. Note says when.
	Again bool
	Note  string
	// Late is set for a report older than one already imported from the
	// same history (its journal head is the one a later report names as
	// its previous): it is recorded, and the journal record stays where
	// the later report left it.
	Late bool
	// Gap is set when the report names a previous report this ledger never
	// imported, and counts more entries than the last one imported: a
	// report made in between was lost or not imported here. Not a fork by
	// itself; a second history behind the gap shows at its next report.
	Gap bool
	// Fork says why the report comes from a second history of the
	// instance, or is empty. The report is recorded all the same.
	Fork string
}

// ImportUsage records a usage report (binary): it finds the instance by
// the report's UDI, verifies the MAC with the key pinned for it, records
// the period and use per tag in the history, and follows the instance's
// journal. A report that comes from a second history of the instance (a
// restored backup or a copy of its state folder) is recorded too, and
// flagged: a "fork" event in the history and in Show. The same report
// twice changes nothing (Again). The actor must manage the organization
// of the instance's account.
func (l *Ledger) ImportUsage(ctx context.Context, code []byte) (*UsageImported, error) {
	return l.importUsage(ctx, code, l.personHook())
}

// importUsage is ImportUsage, with hook (when not nil) run in its
// transaction once the code's MAC checked (connected mode, ReportUsage).
func (l *Ledger) importUsage(ctx context.Context, code []byte, hook codeHook) (*UsageImported, error) {
	unverified, err := codes.ParseUnverifiedUsage(code)
	if err != nil {
		return nil, err
	}
	udi := unverified.UDI.String()
	var out *UsageImported
	err = l.update(ctx, func(tx Tx, c *chain) error {
		inst, err := tx.LiveInstance(udi)
		if err != nil {
			return err
		}
		if inst == nil {
			return fmt.Errorf("%w: the usage report is from %s, which this ledger does not know (removed instances are not counted): reserve for it or import its system description first",
				ErrNotFound, unverified.UDI.Short())
		}
		var u *codes.Usage
		err = l.openWithKeys("usage report", func(k *codes.AuthorityKey) error {
			mk, err := k.MACKey(inst.PublicKey)
			if err != nil {
				return err
			}
			u, err = codes.OpenUsage(code, mk)
			return err
		})
		if err != nil {
			return err
		}
		if hook != nil {
			if err := hook(tx, c, inst); err != nil {
				return err
			}
		}
		if u.JournalCount > math.MaxInt64 {
			return fmt.Errorf("%w: the usage report counts %d journal entries, more than the ledger stores (%d)", codes.ErrInvalid, u.JournalCount, int64(math.MaxInt64))
		}
		acct, err := tx.AccountByID(inst.AccountID)
		if err != nil {
			return err
		}
		h := codeHash(code)
		var j *Journal
		if out, j, err = judgeUsage(tx, inst, acct, u, h); err != nil || out.Again {
			return err
		}
		now := l.now()
		err = tx.InsertUsageReport(&UsageReport{Hash: h, InstanceID: inst.ID, Count: u.JournalCount, Head: u.JournalHead,
			Previous: u.PreviousHead, From: u.From, To: u.To, At: now, Fork: out.Fork != ""})
		if err != nil {
			return err
		}
		e := l.event(now, "usage", inst.UDI)
		e.Account, e.Instance, e.CodeHash = acct.Ref(), inst.UDI, h
		e.Detail = usageDetail(u, out)
		if err := c.add(e); err != nil {
			return err
		}
		isNew := j == nil
		if isNew {
			j = &Journal{InstanceID: inst.ID}
		}
		if u.JournalHead != nil && !out.Late {
			j.Count, j.Head, j.Report, j.UpdatedAt = u.JournalCount, u.JournalHead, h, now
		}
		if out.Fork != "" {
			detail := fmt.Sprintf("2 journal histories: usage report %x (journal count %d%s): %s", h[:8], u.JournalCount, shortHead(u.JournalHead), out.Fork)
			if err := l.fork(c, j, inst, acct, now, h, detail); err != nil {
				return err
			}
		}
		if u.JournalHead == nil && out.Fork == "" {
			return nil // nothing to keep: the report carried no journal
		}
		return saveJournal(tx, j, isNew)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// judgeJournal compares a report's journal with the reports imported
// before and the instance's journal record. It returns why the report
// comes from a second history (nothing when it follows the last one), and
// whether it is a late report of the recorded history or follows a gap.
func judgeJournal(u *codes.Usage, reports []UsageReport, j *Journal) (reasons []string, late, gap bool) {
	for i := range reports {
		r := &reports[i]
		if bytes.Equal(r.Head, u.JournalHead) {
			return []string{fmt.Sprintf("it was made from the same journal state (%d entries) as usage report %x, imported %s: one state made two reports",
				r.Count, r.Hash[:8], codes.FormatTime(r.At))}, false, false
		}
	}
	for i := range reports {
		if bytes.Equal(reports[i].Previous, u.JournalHead) {
			return nil, true, false
		}
	}
	if j == nil || j.Head == nil {
		return nil, false, false // the first report with a journal: nothing to follow
	}
	last := fmt.Sprintf("usage report %x (journal count %d, imported %s)", j.Report[:min(8, len(j.Report))], j.Count, codes.FormatTime(j.UpdatedAt))
	byHead := func(h []byte) *UsageReport {
		for i := range reports {
			if bytes.Equal(reports[i].Head, h) {
				return &reports[i]
			}
		}
		return nil
	}
	switch {
	case u.PreviousHead == nil:
		reasons = append(reasons, fmt.Sprintf("it names no previous report, as an instance's first report does, but %s came before: a copy of the state from before that report", last))
	case bytes.Equal(u.PreviousHead, j.Head):
		if u.JournalCount <= j.Count {
			reasons = append(reasons, fmt.Sprintf("it follows %s but counts %d journal entries, no more than that report", last, u.JournalCount))
		}
		return reasons, false, false
	default:
		if k := byHead(u.PreviousHead); k != nil {
			reasons = append(reasons, fmt.Sprintf("it follows usage report %x (journal count %d, imported %s), which the last report imported, %s, had already left behind",
				k.Hash[:8], k.Count, codes.FormatTime(k.At), last))
		} else {
			for i := range reports {
				if bytes.Equal(reports[i].Previous, u.PreviousHead) {
					reasons = append(reasons, fmt.Sprintf("it names the same previous report as usage report %x (imported %s), a report this ledger never saw: two histories went on from it",
						reports[i].Hash[:8], codes.FormatTime(reports[i].At)))
					break
				}
			}
		}
	}
	if u.JournalCount < j.Count {
		reasons = append(reasons, fmt.Sprintf("its journal count went back from %d to %d", j.Count, u.JournalCount))
	} else if len(reasons) == 0 && u.JournalCount == j.Count {
		reasons = append(reasons, fmt.Sprintf("it counts %d journal entries, as many as %s, with another head", u.JournalCount, last))
	}
	if len(reasons) == 0 {
		gap = true
	}
	return reasons, false, gap
}

// returnedBefore says why a report that names a reservation this instance
// returned comes from a second history: the report's period ended (by the
// instance's clock) at or after the time the ledger applied the return,
// so the state that made it still held a reservation the instance had
// given back. A report made before the return and imported after it says
// nothing; neither does one from a clock behind the authority's.
func returnedBefore(tx ReadTx, inst *Instance, u *codes.Usage) (string, error) {
	if u.Reservation == nil {
		return "", nil
	}
	res, err := tx.Reservation(reservationID(u.Reservation))
	if err != nil || res == nil || res.InstanceID != inst.ID || res.Status != StatusReturned || u.To < res.ClosedAt {
		return "", err
	}
	return fmt.Sprintf("it says serial %d of reservation %s is installed until %s, but that reservation was returned %s (return code %x): the state that made it was restored or copied from before the return",
		u.Serial, res.IDString(), codes.FormatTime(u.To), codes.FormatTime(res.ClosedAt), res.CloseHash[:min(8, len(res.CloseHash))]), nil
}

// fork records a fork event for an instance and counts it in its journal
// record (which the caller stores).
func (l *Ledger) fork(c *chain, j *Journal, inst *Instance, acct *Account, now int64, code []byte, detail string) error {
	j.Forks++
	if j.FirstFork == 0 {
		j.FirstFork = now
	}
	j.LastFork = now
	e := l.event(now, "fork", inst.UDI)
	e.Account, e.Instance, e.CodeHash, e.Detail = acct.Ref(), inst.UDI, code, detail
	return c.add(e)
}

// saveJournal stores a journal record, new or not.
func saveJournal(tx Tx, j *Journal, isNew bool) error {
	if isNew {
		return tx.InsertJournal(j)
	}
	return tx.UpdateJournal(j)
}

// usageDetail is the history's sentence for an imported report.
func usageDetail(u *codes.Usage, r *UsageImported) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage report for %s to %s", codes.FormatTime(u.From), codes.FormatTime(u.To))
	if len(u.Tags) == 0 {
		b.WriteString(": nothing used")
	}
	for i, t := range u.Tags {
		sep := ", "
		if i == 0 {
			sep = ": "
		}
		fmt.Fprintf(&b, "%s%s peak %d, now %d", sep, t.Tag, t.Peak, t.Current)
	}
	if u.Reservation != nil {
		fmt.Fprintf(&b, "; reservation %x serial %d", u.Reservation, u.Serial)
	}
	if u.JournalHead != nil {
		fmt.Fprintf(&b, "; journal count %d%s", u.JournalCount, shortHead(u.JournalHead))
	}
	switch {
	case r.Fork != "":
		b.WriteString("; from a second history, see the fork event")
	case r.Late:
		b.WriteString("; imported after a later report of the same history")
	case r.Gap:
		b.WriteString("; the report before it was not imported here")
	}
	return b.String()
}

// shortHead returns ", head " and the first 8 bytes of a journal head in
// hex, or "" for none.
func shortHead(h []byte) string {
	if len(h) < 8 {
		return ""
	}
	return fmt.Sprintf(", head %x", h[:8])
}

// judgeUsage says what importing the usage report u (hashed h) of inst
// would find, without recording it: imported before (Again), or its
// journal judged against the reports and journal the ledger holds and the
// instance's returns. It also returns the instance's journal record (nil
// for none), which ImportUsage updates. ImportUsage records what it says;
// the portal's review shows it.
func judgeUsage(tx ReadTx, inst *Instance, acct *Account, u *codes.Usage, h []byte) (*UsageImported, *Journal, error) {
	out := &UsageImported{UDI: inst.UDI, Account: acct.Ref(), Report: u, Hash: h}
	if seen, err := tx.UsageReport(h); err != nil {
		return nil, nil, err
	} else if seen != nil {
		out.Again = true
		out.Note = fmt.Sprintf("this usage report was imported %s", codes.FormatTime(seen.At))
		return out, nil, nil
	}
	reports, err := tx.UsageReports(inst.ID)
	if err != nil {
		return nil, nil, err
	}
	j, err := tx.Journal(inst.ID)
	if err != nil {
		return nil, nil, err
	}
	var reasons []string
	if u.JournalHead != nil {
		reasons, out.Late, out.Gap = judgeJournal(u, reports, j)
	}
	if why, err := returnedBefore(tx, inst, u); err != nil {
		return nil, nil, err
	} else if why != "" {
		reasons = append(reasons, why)
	}
	out.Fork = strings.Join(reasons, "; ")
	return out, j, nil
}
