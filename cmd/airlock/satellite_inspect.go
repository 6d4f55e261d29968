package main

import (
	"encoding/hex"
	"fmt"

	"github.com/airlock-dev/airlock/codes"
)

// The fields airlock code inspect shows of sync requests and answers.

type syncUsageFields struct {
	Tag     string `json:"tag"`
	Peak    uint32 `json:"peak"`
	Current uint32 `json:"current"`
	Over    uint32 `json:"over"`
}

type syncAccountFields struct {
	Account   string            `json:"account"` // ORG/ACCOUNT
	Instances uint32            `json:"instances"`
	Reserved  uint32            `json:"reserved"`
	Returned  uint32            `json:"returned"`
	Removed   uint32            `json:"removed"`
	Usage     []syncUsageFields `json:"usage"`
}

type syncRequestJSON struct {
	Satellite  string              `json:"satellite"`
	Sequence   uint64              `json:"sequence"`
	LastAnswer *string             `json:"last_answer"`
	From       string              `json:"from"`
	IssuedAt   string              `json:"issued_at"`
	Accounts   []syncAccountFields `json:"accounts"`
}

// syncAccountsFields are the fields of what a sync request reports, as
// code inspect and authority satellite show give them.
func syncAccountsFields(as []codes.SyncAccount) []syncAccountFields {
	out := []syncAccountFields{}
	for _, a := range as {
		af := syncAccountFields{Account: a.Org + "/" + a.Account, Instances: a.Instances, Reserved: a.Reserved, Returned: a.Returned,
			Removed: a.Removed, Usage: []syncUsageFields{}}
		for _, u := range a.Usage {
			af.Usage = append(af.Usage, syncUsageFields(u))
		}
		out = append(out, af)
	}
	return out
}

// syncAccountsText writes what a sync request reports for a person, an
// item an account, then one a tag it uses.
func syncAccountsText(as []syncAccountFields, item func(string, ...any)) {
	for _, a := range as {
		item("%s instances=%d reserved=%d returned=%d removed=%d", a.Account, a.Instances, a.Reserved, a.Returned, a.Removed)
		for _, u := range a.Usage {
			s := fmt.Sprintf("  %s peak=%d current=%d", u.Tag, u.Peak, u.Current)
			if u.Over > 0 {
				s += fmt.Sprintf(" over=%d", u.Over)
			}
			item("%s", s)
		}
	}
}

func syncRequestFields(r *codes.SyncRequest) syncRequestJSON {
	return syncRequestJSON{Satellite: r.Satellite, Sequence: r.Sequence, LastAnswer: optHex(r.LastAnswer),
		From: codes.FormatTime(r.From), IssuedAt: codes.FormatTime(r.IssuedAt), Accounts: syncAccountsFields(r.Accounts)}
}

type syncLotFields struct {
	ID               uint64  `json:"id"`
	Tag              string  `json:"tag"`
	Count            uint32  `json:"count"`
	Kind             string  `json:"kind"`
	Start            *string `json:"start"`
	End              *string `json:"end"`
	ExportControlled bool    `json:"export_controlled"`
}

type syncDelegationFields struct {
	Account string          `json:"account"` // ORG/ACCOUNT
	Lots    []syncLotFields `json:"lots"`
}

type syncAnswerJSON struct {
	Satellite string                 `json:"satellite"`
	Sequence  uint64                 `json:"sequence"`
	Request   string                 `json:"request"`
	Authority string                 `json:"authority"`
	IssuedAt  string                 `json:"issued_at"`
	LotCount  int                    `json:"lot_count"`
	Accounts  []syncDelegationFields `json:"accounts"`
}

func syncAnswerFields(a *codes.SyncAnswer) syncAnswerJSON {
	f := syncAnswerJSON{Satellite: a.Satellite, Sequence: a.Sequence, Request: hex.EncodeToString(a.Request), Authority: a.Authority,
		IssuedAt: codes.FormatTime(a.IssuedAt), LotCount: a.Lots(), Accounts: []syncDelegationFields{}}
	for _, d := range a.Accounts {
		df := syncDelegationFields{Account: d.Org + "/" + d.Account, Lots: []syncLotFields{}}
		for _, l := range d.Lots {
			df.Lots = append(df.Lots, syncLotFields{l.ID, l.Tag, l.Count, l.Kind.String(), optTime(l.Start), optTime(l.End), l.ExportControlled})
		}
		f.Accounts = append(f.Accounts, df)
	}
	return f
}

// syncText writes the fields of a sync request or answer for a person.
func syncText(fields any, line func(string, string, ...any), item func(string, ...any)) {
	switch f := fields.(type) {
	case syncRequestJSON:
		line("satellite", "%s", f.Satellite)
		line("sequence", "%d", f.Sequence)
		line("last answer", "%s", orNone(f.LastAnswer, "none (the satellite imported no answer yet)"))
		line("period", "%s to %s", f.From, f.IssuedAt)
		line("accounts", "%d", len(f.Accounts))
		syncAccountsText(f.Accounts, item)
	case syncAnswerJSON:
		line("satellite", "%s", f.Satellite)
		line("sequence", "%d", f.Sequence)
		line("answers", "%s (SHA-256 of the sync request)", f.Request)
		line("authority", "%q", f.Authority)
		line("issued at", "%s", f.IssuedAt)
		line("lots", "%d in %s", f.LotCount, plural(len(f.Accounts), "account", "accounts"))
		for _, d := range f.Accounts {
			item("%s lots=%d", d.Account, len(d.Lots))
			for _, l := range d.Lots {
				s := fmt.Sprintf("  lot %d: %s count=%d kind=%s", l.ID, l.Tag, l.Count, l.Kind)
				if l.Start != nil {
					s += " start=" + *l.Start
				}
				if l.End != nil {
					s += " end=" + *l.End
				}
				if l.ExportControlled {
					s += " export-controlled"
				}
				item("%s", s)
			}
		}
	}
}
