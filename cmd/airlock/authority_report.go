package main

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

// Flags of the reports.
const (
	flagSince = "since"
	flagCode  = "code"
)

const authorityInstancesDescription = `instances lists every instance the ledger knows, removed ones included,
in the order they became known: UDI, virtual account, state
(registered, reserved, returned, removed), the latest reservation with
its serial and status, and what its latest code grants.

A state marked * is that of an instance the ledger saw two journal
histories of: a restored backup or a copy of its state folder made
codes (see airlock authority usage import). airlock authority show
--instance says when, and with which codes.

Example:

    $ airlock authority instances
    UDI                                                   ACCOUNT     STATE     RESERVATION  SERIAL  STATUS         LICENSES
    P:VMS,S:cam-1,U:8c1f8a5e-3d0b-4c4f-9a41-6f0c2d9e7b11  acme/plant  reserved  0a1b2c3d          2  in transition  4 vms.camera.core
    P:VMS,S:cam-2,U:1d2e3f40-5a6b-4c7d-8e9f-a0b1c2d3e4f5  acme/plant  reserved* 5e6f7a8b          1  installed      2 vms.camera.core
    airlock: warning: 1 instances marked * showed 2 journal histories (a restored backup, or a copy of the state folder): see airlock authority show --instance UDI

With --json it prints an array of objects with the members udi, account,
state, name (a system's), instance_key_hash, created_at, removed_at,
removal_reason, reservation (null, or id, serial, confirmed, status),
licenses (tag, count) and journal (null before the instance's first
usage report or fork, or count, head, report (the hash of the usage
report that left it there), updated_at, histories (1, or 2 once a fork
was flagged), forks, first_fork, last_fork).`

func authorityInstancesCommand() *cli.Command {
	return &cli.Command{
		Name:        "instances",
		Usage:       "list the instances and their reservations",
		UsageText:   "airlock authority instances [--json] [--dir DIR]",
		Description: authorityInstancesDescription,
		Flags: ledgerFlags(
			&cli.BoolFlag{Name: flagJSON, Usage: "print JSON instead of a table"},
		),
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if err := checkArgs(c, 0, 0, ""); err != nil {
				return err
			}
			d, err := openDesk(c, false)
			if err != nil {
				return err
			}
			defer d.Close()
			is, err := d.l.Instances(d.ctx)
			if err != nil {
				return err
			}
			if c.Bool(flagJSON) {
				out := make([]instanceJSON, 0, len(is))
				for i := range is {
					out = append(out, newInstanceJSON(&is[i]))
				}
				return writeJSON(c, out)
			}
			if len(is) == 0 {
				note(c.App.ErrWriter, "no instances yet")
				return nil
			}
			rows := [][]string{{"UDI", "ACCOUNT", "STATE", "RESERVATION", "SERIAL", "STATUS", "LICENSES"}}
			forked := 0
			for _, i := range is {
				res, serial, status := "-", "-", "-"
				if r := i.Reservation; r != nil {
					res, serial, status = r.IDString(), strconv.FormatUint(r.Serial, 10), string(r.Status)
				}
				state := string(i.State)
				if i.Forked() {
					state += "*"
					forked++
				}
				rows = append(rows, []string{i.UDI, i.Account, state, res, serial, status, orDash(i.Licenses)})
			}
			if err := writeResult(c.App.Writer, tableCols(rows, map[int]bool{4: true})); err != nil {
				return err
			}
			if forked > 0 {
				warn(c.App.ErrWriter, "%d instances marked * showed 2 journal histories (a restored backup, or a copy of the state folder): see airlock authority show --instance UDI", forked)
			}
			return nil
		},
	}
}

func orDash(ls []codes.License) string {
	if len(ls) == 0 {
		return "-"
	}
	return authority.FormatLicenses(ls)
}

// tableCols lays rows out in columns two spaces apart, aligned left but
// for the columns in right.
func tableCols(rows [][]string, right map[int]bool) []byte {
	var widths []int
	for _, r := range rows {
		for j, f := range r {
			if j >= len(widths) {
				widths = append(widths, 0)
			}
			widths[j] = max(widths[j], len(f))
		}
	}
	var b bytes.Buffer
	for _, r := range rows {
		var line strings.Builder
		for j, f := range r {
			if j > 0 {
				line.WriteString("  ")
			}
			if right[j] {
				fmt.Fprintf(&line, "%*s", widths[j], f)
			} else {
				fmt.Fprintf(&line, "%-*s", widths[j], f)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

type reservationJSON struct {
	ID        string `json:"id"`
	Serial    uint64 `json:"serial"`
	Confirmed uint64 `json:"confirmed"`
	Status    string `json:"status"`
}

type instanceJSON struct {
	UDI           string           `json:"udi"`
	Account       string           `json:"account"`
	State         string           `json:"state"`
	Name          *string          `json:"name"`
	KeyHash       string           `json:"instance_key_hash"`
	CreatedAt     *string          `json:"created_at"`
	RemovedAt     *string          `json:"removed_at"`
	RemovalReason *string          `json:"removal_reason"`
	Reservation   *reservationJSON `json:"reservation"`
	Licenses      []licenseFields  `json:"licenses"`
	Journal       *journalJSON     `json:"journal"`
}

type journalJSON struct {
	Count     uint64  `json:"count"`
	Head      *string `json:"head"`
	Report    *string `json:"report"`
	UpdatedAt *string `json:"updated_at"`
	Histories int     `json:"histories"`
	Forks     int64   `json:"forks"`
	FirstFork *string `json:"first_fork"`
	LastFork  *string `json:"last_fork"`
}

func newJournalJSON(j *authority.Journal) *journalJSON {
	if j == nil {
		return nil
	}
	out := &journalJSON{Count: j.Count, Head: optHex(j.Head), Report: optHex(j.Report), UpdatedAt: optTime(j.UpdatedAt),
		Histories: 1, Forks: j.Forks, FirstFork: optTime(j.FirstFork), LastFork: optTime(j.LastFork)}
	if j.Forks > 0 {
		out.Histories = 2
	}
	return out
}

func newInstanceJSON(i *authority.InstanceInfo) instanceJSON {
	j := instanceJSON{UDI: i.UDI, Account: i.Account, State: string(i.State), Name: optString(i.Name),
		KeyHash: fmt.Sprintf("%x", i.KeyHash()), CreatedAt: optTime(i.CreatedAt), RemovedAt: optTime(i.RemovedAt),
		RemovalReason: optString(i.RemovalReason), Licenses: licenses(i.Licenses), Journal: newJournalJSON(i.Journal)}
	if r := i.Reservation; r != nil {
		j.Reservation = &reservationJSON{ID: r.IDString(), Serial: r.Serial, Confirmed: r.Confirmed, Status: string(r.Status)}
	}
	return j
}

const authorityShowDescription = `show prints what the ledger knows of one instance, named by its UDI or
its P:…,S:… part: its state and pinned key, each reservation with its
codes and what it holds, and the instance's history. A removed instance
is shown when no live one has that UDI.

--code prints instead the latest authorization code of the instance's
latest reservation, typed (or armored to --out, a local file or an
sftp:// URL as for airlock authority reserve), to hand it out again;
--serial N picks another serial. For example:

    $ airlock authority show --instance P:VMS,S:cam-1 --code \
          --out sftp://desk@drop.example.com/~/outbox/cam-1.airlock
    airlock: wrote sftp://desk@drop.example.com/~/outbox/cam-1.airlock
    airlock: reservation 0a1b2c3d serial 2, issued 2025-03-01T12:05:00Z

The URL's host key must be in known_hosts (--known-hosts FILE, or
~/.ssh/known_hosts); airlock logs in with ssh-agent, the key files of
--ssh-key FILE, or the password in AIRLOCK_SFTP_PASSWORD; a file already
there is never replaced. See airlock authority reserve --help for the
details.

Example:

    $ airlock authority show --instance P:VMS,S:cam-1
    udi              P:VMS,S:cam-1,U:8c1f8a5e-3d0b-4c4f-9a41-6f0c2d9e7b11
    account          acme/plant
    state            reserved
    instance key     5d2a9c0e41b7f3a8 (hash)
    known since      2025-03-01T12:00:00Z
    reservation      0a1b2c3d
      status         in transition
      serial         2 (confirmed 0)
      reserved       4 vms.camera.core
      in transition  6 vms.camera.core
      code 1         2025-03-01T12:00:00Z, install by 2025-03-31T12:00:00Z, 9c1e5f03a2b4d6e8
      code 2         2025-03-01T12:05:00Z, install by 2025-03-31T12:05:00Z, 47aa01c9e3f2b5d6
    journal          no usage report with a journal imported yet
    history          2 events
      2025-03-01T12:00:00Z  alice  reserve  reservation 0a1b2c3d serial 1 for request 69d642ec7fa2b902: 10 vms.camera.core; instance key 5d2a9c0e41b7f3a8 pinned
      2025-03-01T12:05:00Z  alice  update  reservation 0a1b2c3d serial 2: vms.camera.core 10→4; in transition until confirmed: 6 vms.camera.core

When the ledger saw two journal histories of the instance (a restored
backup, or a copy of its state folder: see airlock authority usage
import), the journal lines say so first, then list each fork with when,
the code that showed it and why:

    journal          2 histories seen (a restored backup, or a copy of the state folder): flagged 1 time, first 2025-03-02T08:00:00Z, last 2025-03-02T08:00:00Z
                     count 41, head 5a1c9e0b7d3f2a64, from usage report 77c0e1d2a3b4c5d6 imported 2025-03-02T08:00:00Z
                     fork 2025-03-02T08:00:00Z, code 77c0e1d2a3b4c5d6: usage report 77c0e1d2a3b4c5d6 (journal count 41, head 5a1c9e0b7d3f2a64): it names no previous report, …

With --json it prints one object: the members of airlock authority
instances --json, and reservations (id, account, status, serial,
confirmed, created_at, closed_at, reserved, in_transition, codes: serial,
issued_at, install_by, hash, key_id), forks (the fork events of the
history) and history (as airlock authority history --json).`

func authorityShowCommand() *cli.Command {
	return &cli.Command{
		Name:        "show",
		Usage:       "show an instance, its reservations, codes and history",
		UsageText:   "airlock authority show --instance UDI [--json | --code [--serial N] [--out FILE|URL [--known-hosts FILE] [--ssh-key FILE]...]] [--dir DIR]",
		Description: authorityShowDescription,
		Flags: ledgerFlags(append([]cli.Flag{
			&cli.StringFlag{Name: flagInstance, Usage: "the instance's `UDI` (or its P:…,S:… part)"},
			&cli.BoolFlag{Name: flagJSON, Usage: "print JSON instead of text"},
			&cli.BoolFlag{Name: flagCode, Usage: "print the latest authorization code again"},
			&cli.Uint64Flag{Name: "serial", Usage: "with --code, print serial `N`"},
			&cli.StringFlag{Name: flagOut, Usage: "with --code, write the code as an armored file `FILE` or to an sftp:// URL"},
		}, transportFlags()...)...),
		OnUsageError: onUsageError,
		Action:       authorityShow,
	}
}

type codeJSON struct {
	Serial    uint64  `json:"serial"`
	IssuedAt  *string `json:"issued_at"`
	InstallBy *string `json:"install_by"`
	Hash      string  `json:"hash"`
	KeyID     string  `json:"key_id"`
}

type reservationDetailJSON struct {
	ID           string          `json:"id"`
	Account      string          `json:"account"`
	Status       string          `json:"status"`
	Serial       uint64          `json:"serial"`
	Confirmed    uint64          `json:"confirmed"`
	CreatedAt    *string         `json:"created_at"`
	ClosedAt     *string         `json:"closed_at"`
	Reserved     []licenseFields `json:"reserved"`
	InTransition []licenseFields `json:"in_transition"`
	Codes        []codeJSON      `json:"codes"`
}

type showJSON struct {
	instanceJSON
	Reservations []reservationDetailJSON `json:"reservations"`
	Forks        []eventJSON             `json:"forks"`
	History      []eventJSON             `json:"history"`
}

func authorityShow(c *cli.Context) error {
	cmd := c.Command.HelpName
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	ref := c.String(flagInstance)
	if ref == "" {
		return usagef(cmd, "for example: --instance P:VMS,S:cam-1", "missing --%s UDI", flagInstance)
	}
	if (c.IsSet("serial") || c.IsSet(flagOut)) && !c.Bool(flagCode) {
		return usagef(cmd, "", "--serial and --out go with --%s", flagCode)
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	if c.Bool(flagCode) {
		is, err := d.l.Code(d.ctx, ref, c.Uint64("serial"))
		if err != nil {
			return err
		}
		out, err := prepareOut(c, c.String(flagOut))
		if err != nil {
			return err
		}
		defer out.close()
		if err := emitCode(c, out, is.Code, nil, "run the same command again"); err != nil {
			return err
		}
		note(c.App.ErrWriter, "reservation %s serial %d, issued %s", authority.FormatReservationID(is.Reservation), is.Serial, codes.FormatTime(is.IssuedAt))
		return nil
	}
	s, err := d.l.Show(d.ctx, ref)
	if err != nil {
		return err
	}
	if c.Bool(flagJSON) {
		j := showJSON{instanceJSON: newInstanceJSON(&s.InstanceInfo), Reservations: []reservationDetailJSON{}, Forks: []eventJSON{}, History: []eventJSON{}}
		for _, r := range s.Reservations {
			rj := reservationDetailJSON{ID: r.IDString(), Account: r.Account, Status: string(r.Status), Serial: r.Serial, Confirmed: r.Confirmed,
				CreatedAt: optTime(r.CreatedAt), ClosedAt: optTime(r.ClosedAt), Reserved: licenses(r.Reserved), InTransition: licenses(r.InTransition), Codes: []codeJSON{}}
			for _, cd := range r.Codes {
				rj.Codes = append(rj.Codes, codeJSON{Serial: cd.Serial, IssuedAt: optTime(cd.IssuedAt), InstallBy: optTime(cd.InstallBy), Hash: fmt.Sprintf("%x", cd.Hash), KeyID: cd.KeyID})
			}
			j.Reservations = append(j.Reservations, rj)
		}
		for i := range s.Forks {
			j.Forks = append(j.Forks, newEventJSON(&s.Forks[i]))
		}
		for i := range s.History {
			j.History = append(j.History, newEventJSON(&s.History[i]))
		}
		return writeJSON(c, j)
	}
	var b bytes.Buffer
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-16s %s\n", label, fmt.Sprintf(format, args...))
	}
	line("udi", "%s", s.UDI)
	if s.Name != "" {
		line("system", "%q", s.Name)
	}
	line("account", "%s", s.Account)
	line("state", "%s", s.State)
	line("instance key", "%x (hash)", s.KeyHash()[:8])
	line("known since", "%s", codes.FormatTime(s.CreatedAt))
	if s.State == authority.InstanceRemoved {
		line("removed", "%s: %q", codes.FormatTime(s.RemovedAt), s.RemovalReason)
	}
	for _, r := range s.Reservations {
		line("reservation", "%s", r.IDString())
		line("  status", "%s", r.Status)
		line("  serial", "%d (confirmed %d)", r.Serial, r.Confirmed)
		if r.Status.Live() {
			line("  reserved", "%s", orNothing(r.Reserved))
			if len(r.InTransition) > 0 {
				line("  in transition", "%s", authority.FormatLicenses(r.InTransition))
			}
		} else {
			line("  closed", "%s", codes.FormatTime(r.ClosedAt))
		}
		for _, cd := range r.Codes {
			line(fmt.Sprintf("  code %d", cd.Serial), "%s, install by %s, %x", codes.FormatTime(cd.IssuedAt), codes.FormatTime(cd.InstallBy), cd.Hash[:8])
		}
	}
	for k, jl := range journalLines(s.Journal, s.Forks) {
		label := ""
		if k == 0 {
			label = "journal"
		}
		line(label, "%s", jl)
	}
	line("history", "%d events", len(s.History))
	for _, e := range s.History {
		fmt.Fprintf(&b, "  %s  %s  %s  %s\n", codes.FormatTime(e.At), e.Actor, e.Action, oneLine(e.Detail))
	}
	return writeResult(c.App.Writer, b.Bytes())
}

const authorityHistoryDescription = `history prints the ledger's history, oldest first: when, who (the
actor), what, on which subject, and the hash of the code involved. The
history is append-only and hash-chained: airlock authority verify checks
that no event was altered, removed or inserted.

--instance, --account and --since (a date, YYYY-MM-DD, or an RFC 3339
time) select events.

Example:

    $ airlock authority history --instance P:VMS,S:cam-1
    2025-03-01T12:00:00Z  alice  reserve  P:VMS,S:cam-1,U:8c1f8a5e-3d0b-4c4f-9a41-6f0c2d9e7b11  acme/plant  code 9c1e5f03a2b4d6e8  reservation 0a1b2c3d serial 1 for request 69d642ec7fa2b902: 10 vms.camera.core; instance key 5d2a9c0e41b7f3a8 pinned
    2025-03-01T12:05:00Z  alice  update   P:VMS,S:cam-1,U:8c1f8a5e-3d0b-4c4f-9a41-6f0c2d9e7b11  acme/plant  code 47aa01c9e3f2b5d6  reservation 0a1b2c3d serial 2: vms.camera.core 10→4; in transition until confirmed: 6 vms.camera.core

With --json it prints an array of objects with the members id, at,
actor, action, subject, account, instance, code_hash, detail, prev and
hash (hex; code_hash null when no code was involved).`

func authorityHistoryCommand() *cli.Command {
	return &cli.Command{
		Name:        "history",
		Usage:       "print the hash-chained history of the ledger",
		UsageText:   "airlock authority history [--instance UDI] [--account ORG/ACCOUNT] [--since DATE] [--json] [--dir DIR]",
		Description: authorityHistoryDescription,
		Flags: ledgerFlags(
			&cli.StringFlag{Name: flagInstance, Usage: "only events of the instance `UDI` (or its P:…,S:… part)"},
			&cli.StringFlag{Name: flagAccount, Usage: "only events of `ORG/ACCOUNT`"},
			&cli.StringFlag{Name: flagSince, Usage: "only events from `DATE` on (YYYY-MM-DD or RFC 3339)"},
			&cli.BoolFlag{Name: flagJSON, Usage: "print JSON instead of text"},
		),
		OnUsageError: onUsageError,
		Action:       authorityHistory,
	}
}

type eventJSON struct {
	ID       int64   `json:"id"`
	At       *string `json:"at"`
	Actor    string  `json:"actor"`
	Action   string  `json:"action"`
	Subject  string  `json:"subject"`
	Account  *string `json:"account"`
	Instance *string `json:"instance"`
	CodeHash *string `json:"code_hash"`
	Detail   string  `json:"detail"`
	Prev     string  `json:"prev"`
	Hash     string  `json:"hash"`
}

func newEventJSON(e *authority.Event) eventJSON {
	return eventJSON{ID: e.ID, At: optTime(e.At), Actor: e.Actor, Action: e.Action, Subject: e.Subject,
		Account: optString(e.Account), Instance: optString(e.Instance), CodeHash: optHex(e.CodeHash),
		Detail: e.Detail, Prev: fmt.Sprintf("%x", e.Prev), Hash: fmt.Sprintf("%x", e.Hash())}
}

func authorityHistory(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	f := authority.HistoryFilter{Instance: c.String(flagInstance), Account: c.String(flagAccount)}
	if s := c.String(flagSince); s != "" {
		t, err := parseDay(s)
		if err != nil {
			return usagef(c.Command.HelpName, "write a date as 2025-03-01 or a time as 2025-03-01T12:00:00Z", "--%s %q: %v", flagSince, s, err)
		}
		f.Since = t.Unix()
	}
	d, err := openDesk(c, false)
	if err != nil {
		return err
	}
	defer d.Close()
	evs, err := d.l.History(d.ctx, f)
	if err != nil {
		return err
	}
	if c.Bool(flagJSON) {
		out := make([]eventJSON, 0, len(evs))
		for i := range evs {
			out = append(out, newEventJSON(&evs[i]))
		}
		return writeJSON(c, out)
	}
	var rows [][]string
	for _, e := range evs {
		code := ""
		if len(e.CodeHash) > 0 && e.Instance != "" {
			code = fmt.Sprintf("code %x", e.CodeHash[:8])
		}
		rows = append(rows, []string{codes.FormatTime(e.At), e.Actor, e.Action, e.Subject, e.Account, code, oneLine(e.Detail)})
	}
	return writeResult(c.App.Writer, escapeNonGraphic(tableCols(rows, nil)))
}

const authorityVerifyDescription = `verify checks the ledger and prints what it checked, or fails with the
first violation it finds:

- SQLite's integrity check, and that the file runs with WAL and
  synchronous=FULL;
- the history: every event links the hash of the one before, and the
  last one hashes to the head the ledger recorded, so that no event was
  altered, removed or inserted;
- every lot and every stored code matches the history event that made
  it, and every code matches what its reservation took from the lots;
- every usage report imported is recorded in the history;
- no license is held twice: each lot's held count equals what the live
  reservations hold from it;
- for every virtual account and tag: owned = available + reserved + in
  transition, none negative;
- every license key is recorded by one issue event, and, once redeemed,
  by one redemption event, into a product of its software, its wallet
  lots adding up to what it carries; no wallet lot counts below zero,
  and each expires five years after it entered.

When the ledger has products or license keys, the line also counts
them: ", 3 products, 12 license keys (9 redeemed), 11 wallet lots".

The head printed is the hash of the last event: kept somewhere else, it
proves later that the history up to that point was not rewritten.

Example:

    $ airlock authority verify
    ledger "ACME licensing" verified: 1204 events, 12 lots, 311 reservations (118 live), 402 codes, 9 balances
    head 5f3a9b0c6d1e2f4a8b7c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c

Once the ledger has people, verify is the vendor's staff's: run it with
their --actor.

Exit status: 0 when every check passed; 1 at the first violation; 2 for
a wrong command line.`

func authorityVerifyCommand() *cli.Command {
	return &cli.Command{
		Name:         "verify",
		Usage:        "check the history chain and the ledger's invariant",
		UsageText:    "airlock authority verify [--dir DIR]",
		Description:  authorityVerifyDescription,
		Flags:        ledgerFlags(),
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if err := checkArgs(c, 0, 0, ""); err != nil {
				return err
			}
			d, err := openDesk(c, false)
			if err != nil {
				return err
			}
			defer d.Close()
			m, err := d.l.Meta(d.ctx)
			if err != nil {
				return err
			}
			r, err := d.l.Verify(d.ctx)
			if err != nil {
				return err
			}
			wallets := ""
			if r.Products > 0 || r.Keys > 0 {
				wallets = fmt.Sprintf(", %d products, %d license keys (%d redeemed), %d wallet lots", r.Products, r.Keys, r.Redeemed, r.WalletLots)
			}
			if r.FleetProducts > 0 {
				wallets += fmt.Sprintf(", %d fleet products, %d devices", r.FleetProducts, r.Devices)
			}
			out := fmt.Sprintf("ledger %q verified: %d events, %d lots, %d reservations (%d live), %d codes, %d balances%s\nhead %x\n",
				m.Name, r.Events, r.Lots, r.Reservations, r.Live, r.Codes, r.Balances, wallets, r.Head)
			return writeResult(c.App.Writer, []byte(out))
		},
	}
}
