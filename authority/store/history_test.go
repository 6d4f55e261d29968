package store

import (
	"fmt"
	"slices"
	"testing"

	"github.com/airlock-dev/airlock/authority"
)

// TestHistoryFilterOnEachBackend selects an organization's events, newest
// first and before an event, on each engine: an organization whose name
// differs in case only, or starts with the same letters, or holds a
// wildcard of LIKE, is another organization.
func TestHistoryFilterOnEachBackend(t *testing.T) {
	accounts := []string{"acme/plant", "acme", "ACME/lab", "acme_x/y", "acmex/z", "", "acme/lab", "a%me/q", "acme/x", "acme.eu/p"}
	eachBackend(t, func(t *testing.T, b backend) {
		s := b.create(t)
		err := s.Update(ctx, func(tx authority.Tx) error {
			for i, a := range accounts {
				e := &authority.Event{ID: int64(i + 1), At: int64(1000 + i), Actor: "t", Action: "test", Subject: "s", Account: a,
					Instance: fmt.Sprintf("P:VMS,S:%d", i%2), Prev: make([]byte, 32)}
				if err := tx.AppendHistory(e); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		ids := func(f authority.HistoryFilter) []int64 {
			var out []int64
			err := s.View(ctx, func(tx authority.ReadTx) error {
				out = nil
				return tx.History(f, func(e *authority.Event) error {
					out = append(out, e.ID)
					return nil
				})
			})
			if err != nil {
				t.Fatalf("%+v: %v", f, err)
			}
			return out
		}
		for _, c := range []struct {
			f    authority.HistoryFilter
			want []int64
		}{
			{authority.HistoryFilter{Org: "acme"}, []int64{1, 2, 7, 9}},
			{authority.HistoryFilter{Org: "ACME"}, []int64{3}},
			{authority.HistoryFilter{Org: "acme_x"}, []int64{4}},
			{authority.HistoryFilter{Org: "a%me"}, []int64{8}},
			{authority.HistoryFilter{Org: "acme", Newest: 3}, []int64{9, 7, 2}},
			{authority.HistoryFilter{Org: "acme", Newest: 10}, []int64{9, 7, 2, 1}},
			{authority.HistoryFilter{Org: "acme", Before: 9, Newest: 2}, []int64{7, 2}},
			{authority.HistoryFilter{Org: "acme", Before: 7}, []int64{1, 2}},
			{authority.HistoryFilter{Org: "acme", Instance: "P:VMS,S:0"}, []int64{1, 7, 9}},
			{authority.HistoryFilter{Org: "acme", Since: 1002, Newest: 1}, []int64{9}},
			{authority.HistoryFilter{Org: "globex"}, nil},
			{authority.HistoryFilter{Newest: 2}, []int64{10, 9}},
			{authority.HistoryFilter{}, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		} {
			if got := ids(c.f); !slices.Equal(got, c.want) {
				t.Errorf("%+v: events %v, want %v", c.f, got, c.want)
			}
		}
	})
}
