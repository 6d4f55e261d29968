package main

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/instance"
)

const instanceStatusDescription = `status shows where the instance is: its mode, UDI and key, the
evaluation, the installed reservation with each entitlement (count, in
use, dates), pending requests, the last return, and warnings (dated
licenses ending within 30 days or ended, the evaluation ending, a clock
set back). In connected mode it also shows the transport, the
registration (account, expiry, next renewal), the last contact with the
service, the authorization's lapse time and next renewal, and when it
lapsed (90 days without a renewal: every license of it is refused until
'airlock instance renew authorization' succeeds), the calls failing, and
the export requests waiting. It reads the state and changes nothing.

The modes: evaluation (every license, for 90 days from init), unlicensed
(the evaluation ended and nothing is installed), reservation enabled,
reserving (a request is pending), reserved (an authorization code is
installed).

Example:

    $ airlock instance status
    mode             reserved
    state folder     /var/lib/airlock
    udi              P:VMS,S:cam-1,U:0f2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b
    instance key     5d2f0c8e63a1b4079e1c2d3f4a5b6c7d (hash)
    authority key    115f3d60785cabde (requests are made for it)
    evaluation       not in use (a reservation is installed)
    clock            last seen 2025-01-20T08:00:00Z
    reservation      0a1b2c3d
    serial           2 (replacing serial 1)
    confirmation     CF-…
    signed by        115f3d60785cabde, issued 2025-01-20T07:58:12Z
    entitlements     2
      vms.camera.core  count 4, in use 3, perpetual
      vms.analytics    count 2, in use 0, term 2025-01-01T00:00:00Z to 2026-01-01T00:00:00Z
    warnings         none

With --json, status prints one JSON object: mode ("evaluation",
"unlicensed", "enabled", "reserving" or "reserved"), state_dir, udi,
instance_key_hash, authority_key (null if no key is valid now),
evaluation_start, evaluation_end, evaluation_days_left, clock_advisory,
high_water, reservation (null, or an object: id, serial,
previous_serial, confirmation (the typed code, or null), signed_by,
issued_at, entitlements: tag, count, kind, start, end,
export_controlled, component, in_use, active), pending (nonce,
issued_at, key_id, wanted: tag, count), last_return (null, or
reservation, serial, never_installed, returned_at, code), usage (tag,
in_use, peak), warnings (kind, tag, at, message), journal (count,
head), generation, and connected: transport (as airlock instance
transport --json prints it), registered, account, registered_at,
registration_expires, export_allowed, wanted, last_contact,
authorization_renewed, next_authorization_renewal,
registration_renewed, next_registration_renewal, usage_reported,
next_usage_report, lapses, lapsed, unconfirmed_serial, failures (job,
failures, at, retry_at, error), exports (as airlock instance export
status --json prints them) and disabled. Times are RFC 3339 in UTC, or
null.

Exit status: 0 when the state was read; 1 when it cannot be; 2 for a
wrong command line.`

func instanceStatusCommand() *cli.Command {
	return &cli.Command{
		Name:        "status",
		Usage:       "show the instance's mode, reservation, licenses and warnings",
		UsageText:   "airlock instance status [--json] [--state DIR]",
		Description: instanceStatusDescription,
		Flags: instanceFlags(
			&cli.BoolFlag{Name: flagJSON, Usage: "print JSON"},
		),
		OnUsageError: onUsageError,
		Action:       instanceStatus,
	}
}

type instanceStatusJSON struct {
	Mode               string                 `json:"mode"`
	StateDir           string                 `json:"state_dir"`
	UDI                string                 `json:"udi"`
	InstanceKeyHash    string                 `json:"instance_key_hash"`
	AuthorityKey       *string                `json:"authority_key"`
	EvaluationStart    string                 `json:"evaluation_start"`
	EvaluationEnd      string                 `json:"evaluation_end"`
	EvaluationDaysLeft int                    `json:"evaluation_days_left"`
	ClockAdvisory      bool                   `json:"clock_advisory"`
	HighWater          string                 `json:"high_water"`
	Reservation        *statusReservationJSON `json:"reservation"`
	Pending            []statusPendingJSON    `json:"pending"`
	LastReturn         *statusReturnJSON      `json:"last_return"`
	Usage              []statusUsageJSON      `json:"usage"`
	Warnings           []statusWarningJSON    `json:"warnings"`
	Journal            statusJournalJSON      `json:"journal"`
	Generation         uint64                 `json:"generation"`
	Connected          *connectedJSON         `json:"connected"`
}

type statusReservationJSON struct {
	ID             string                  `json:"id"`
	Serial         uint64                  `json:"serial"`
	PreviousSerial *uint64                 `json:"previous_serial"`
	Confirmation   *string                 `json:"confirmation"`
	SignedBy       string                  `json:"signed_by"`
	IssuedAt       string                  `json:"issued_at"`
	Entitlements   []statusEntitlementJSON `json:"entitlements"`
}

type statusEntitlementJSON struct {
	entitlementFields
	InUse  int  `json:"in_use"`
	Active bool `json:"active"`
}

type statusPendingJSON struct {
	Nonce    string          `json:"nonce"`
	IssuedAt string          `json:"issued_at"`
	KeyID    string          `json:"key_id"`
	Wanted   []licenseFields `json:"wanted"`
}

type statusReturnJSON struct {
	Reservation    string `json:"reservation"`
	Serial         uint64 `json:"serial"`
	NeverInstalled bool   `json:"never_installed"`
	ReturnedAt     string `json:"returned_at"`
	Code           string `json:"code"`
}

type statusUsageJSON struct {
	Tag   string `json:"tag"`
	InUse int    `json:"in_use"`
	Peak  int    `json:"peak"`
}

type statusWarningJSON struct {
	Kind    string  `json:"kind"`
	Tag     *string `json:"tag"`
	At      string  `json:"at"`
	Message string  `json:"message"`
}

type statusJournalJSON struct {
	Count uint64 `json:"count"`
	Head  string `json:"head"`
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func newStatusJSON(dir string, st *instance.Status, now time.Time) *instanceStatusJSON {
	j := &instanceStatusJSON{
		Mode:               st.Mode.String(),
		StateDir:           dir,
		UDI:                st.UDI.String(),
		InstanceKeyHash:    hex.EncodeToString(st.KeyHash),
		EvaluationStart:    rfc3339(st.EvaluationStart),
		EvaluationEnd:      rfc3339(st.EvaluationEnd),
		EvaluationDaysLeft: daysLeft(now, st.EvaluationEnd),
		ClockAdvisory:      st.Advisory,
		HighWater:          rfc3339(st.HighWater),
		Pending:            []statusPendingJSON{},
		Usage:              []statusUsageJSON{},
		Warnings:           []statusWarningJSON{},
		Journal:            statusJournalJSON{Count: st.Journal.Count, Head: hex.EncodeToString(st.Journal.Head)},
		Generation:         st.Generation,
	}
	if st.AuthorityKey != nil {
		s := st.AuthorityKey.String()
		j.AuthorityKey = &s
	}
	if st.Reservation != nil {
		r := &statusReservationJSON{
			ID:           hex.EncodeToString(st.Reservation),
			Serial:       st.Serial,
			SignedBy:     st.SignedBy.String(),
			IssuedAt:     rfc3339(st.IssuedAt),
			Entitlements: []statusEntitlementJSON{},
		}
		if st.PreviousSerial != 0 {
			p := st.PreviousSerial
			r.PreviousSerial = &p
		}
		if st.Confirmation != nil {
			s := codes.EncodeText(codes.KindConfirmation, st.Confirmation)
			r.Confirmation = &s
		}
		for _, e := range st.Entitlements {
			r.Entitlements = append(r.Entitlements, statusEntitlementJSON{
				entitlementFields: entitlementFields{
					Tag: e.Tag, Count: e.Count, Kind: e.Kind.String(), Start: optTime(e.Start), End: optTime(e.End),
					ExportControlled: e.ExportControlled, Component: optString(e.Component),
				},
				InUse: e.InUse, Active: e.Active,
			})
		}
		j.Reservation = r
	}
	for _, p := range st.Pending {
		j.Pending = append(j.Pending, statusPendingJSON{Nonce: hex.EncodeToString(p.Nonce), IssuedAt: rfc3339(p.IssuedAt), KeyID: p.KeyID.String(), Wanted: licenses(p.Wanted)})
	}
	if r := st.LastReturn; r != nil {
		j.LastReturn = &statusReturnJSON{Reservation: hex.EncodeToString(r.Reservation), Serial: r.Serial, NeverInstalled: r.NeverInstalled,
			ReturnedAt: rfc3339(r.At), Code: codes.EncodeText(codes.KindReturn, r.Code)}
	}
	for _, u := range st.Usage {
		j.Usage = append(j.Usage, statusUsageJSON{Tag: u.Tag, InUse: u.InUse, Peak: u.Peak})
	}
	for _, w := range st.Warnings {
		j.Warnings = append(j.Warnings, statusWarningJSON{Kind: w.Kind.String(), Tag: optString(w.Tag), At: rfc3339(w.At), Message: w.Message})
	}
	return j
}

func instanceStatus(c *cli.Context) error {
	if err := checkArgs(c, 0, 0, ""); err != nil {
		return err
	}
	dir, err := stateDir(c)
	if err != nil {
		return err
	}
	in, err := instance.Open(dir, instance.WithClock(clock))
	if err != nil {
		return err
	}
	st, err := in.Status()
	if err != nil {
		return err
	}
	cs, err := in.Connected()
	if err != nil {
		return err
	}
	now := clock()
	if c.Bool(flagJSON) {
		j := newStatusJSON(dir, st, now)
		j.Connected = connectedJSONOf(cs)
		return writeJSON(c, j)
	}
	return writeResult(c.App.Writer, statusText(dir, st, cs, now))
}

func statusText(dir string, st *instance.Status, cs *instance.ConnectedStatus, now time.Time) []byte {
	var b bytes.Buffer
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-16s %s\n", label, fmt.Sprintf(format, args...))
	}
	line("mode", "%s", modeName(st.Mode))
	line("state folder", "%s", dir)
	line("udi", "%s", st.UDI)
	line("instance key", "%x (hash)", st.KeyHash)
	if st.AuthorityKey != nil {
		line("authority key", "%s (requests are made for it)", st.AuthorityKey)
	} else {
		line("authority key", "none valid now (trust set sequence %d)", st.Trust.Sequence)
	}
	switch left := daysLeft(now, st.EvaluationEnd); {
	case st.Reservation != nil:
		line("evaluation", "not in use (a reservation is installed)")
	case left == 0:
		line("evaluation", "ended %s", rfc3339(st.EvaluationEnd))
	default:
		line("evaluation", "until %s (%s left)", rfc3339(st.EvaluationEnd), plural(left, "day", "days"))
	}
	clock := "last seen " + rfc3339(st.HighWater)
	if st.Advisory {
		clock += " (advisory: a clock set back only warns)"
	}
	line("clock", "%s", clock)
	if st.Reservation != nil {
		line("reservation", "%x", st.Reservation)
		if st.PreviousSerial != 0 {
			line("serial", "%d (replacing serial %d)", st.Serial, st.PreviousSerial)
			line("confirmation", "%s", codes.EncodeText(codes.KindConfirmation, st.Confirmation))
		} else {
			line("serial", "%d", st.Serial)
		}
		line("signed by", "%s, issued %s", st.SignedBy, rfc3339(st.IssuedAt))
		line("entitlements", "%d", len(st.Entitlements))
		width := 0
		for _, e := range st.Entitlements {
			width = max(width, len(e.Tag))
		}
		for _, e := range st.Entitlements {
			s := fmt.Sprintf("count %d, in use %d, %s", e.Count, e.InUse, e.Kind)
			if e.Start != 0 || e.End != 0 {
				s += fmt.Sprintf(" %s to %s", codes.FormatTime(e.Start), codes.FormatTime(e.End))
			}
			if e.Component != "" {
				s += " on " + e.Component
			}
			if e.ExportControlled {
				s += ", export-controlled"
			}
			if !e.Active {
				s += ", NOT IN FORCE"
			}
			fmt.Fprintf(&b, "  %-*s  %s\n", width, e.Tag, s)
		}
	}
	if len(st.Pending) > 0 {
		line("pending", "%s", plural(len(st.Pending), "request", "requests"))
		for _, p := range st.Pending {
			fmt.Fprintf(&b, "  %x  made %s for key %s: %s\n", p.Nonce, rfc3339(p.IssuedAt), p.KeyID, describeLicenses(p.Wanted))
		}
	}
	if r := st.LastReturn; r != nil {
		line("last return", "reservation %x serial %d, %s ('airlock instance return' prints its code)", r.Reservation, r.Serial, rfc3339(r.At))
	}
	if st.Reservation == nil && len(st.Usage) > 0 {
		var parts []string
		for _, u := range st.Usage {
			parts = append(parts, fmt.Sprintf("%s %d (peak %d)", u.Tag, u.InUse, u.Peak))
		}
		line("in use", "%s", strings.Join(parts, ", "))
	}
	writeConnectedText(&b, cs, now)
	if len(st.Warnings) == 0 {
		line("warnings", "none")
	} else {
		line("warnings", "%d", len(st.Warnings))
		for _, w := range st.Warnings {
			fmt.Fprintf(&b, "  %s\n", w.Message)
		}
	}
	return b.Bytes()
}
