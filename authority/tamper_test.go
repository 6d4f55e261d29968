package authority_test

import (
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

// busyLedger is a ledger with reservations, updates, a return and a
// transfer in its history.
func busyLedger(t *testing.T) *env {
	e := newEnv(t)
	e.setup()
	d, a := e.reserved("cam-1", lic(camera, 4))
	_, err := e.l.Update(ctx, d.udi.String(), []codes.License{lic(camera, 2)})
	e.must(err)
	_, err = e.l.Confirm(ctx, d.confirm(resBytes(a), 2))
	e.must(err)
	d2, a2 := e.reserved("cam-2", lic(camera, 3))
	_, err = e.l.Return(ctx, d2.ret(resBytes(a2), 1, false))
	e.must(err)
	e.reserved("cam-3", lic(analytics, 1))
	_, err = e.l.Transfer(ctx, "acme/plant", "acme/lab", camera, 5)
	e.must(err)
	e.verify()
	return e
}

func TestVerifyDetectsTampering(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stmts []string
		want  string
	}{
		{"edited event", []string{`UPDATE history SET actor = 'mallory' WHERE id = 5`}, "history event 6 (account add globex/hq) does not link to event 5"},
		{"edited detail", []string{`UPDATE history SET detail = 'nothing happened' WHERE action = 'return'`}, "does not link"},
		{"deleted event", []string{`DELETE FROM history WHERE id = 3`}, "history event 4 follows event 2"},
		{"deleted last event", []string{`DELETE FROM history WHERE id = (SELECT MAX(id) FROM history)`}, "the last events were removed or added"},
		{"edited last event", []string{`UPDATE history SET at = at + 1 WHERE id = (SELECT MAX(id) FROM history)`}, "does not hash to the head"},
		{"freed licenses", []string{`UPDATE lots SET held = held - 1 WHERE tag = 'vms.camera.core' AND held > 0`}, "records 1 held, the live reservations hold 2"},
		{"grown lot", []string{`UPDATE lots SET count = count + 10, initial_count = initial_count + 10 WHERE id = (SELECT MIN(id) FROM lots)`}, " (vms.camera.core) is not the lot its history event recorded"},
		{"slipped-in lot", []string{`INSERT INTO lots (account_id, tag, kind, start_at, end_at, export_controlled, initial_count, count, held, origin, created_at) VALUES (1, 'vms.camera.core', 0, 0, 0, FALSE, 100, 100, 0, 'x', 0)`}, "is not the lot its history event recorded"},
		{"deleted code", []string{`DELETE FROM issued WHERE serial = 2`}, "is at serial 2 but has 1 codes stored"},
		{"edited code", []string{`UPDATE issued SET code = code || x'00' WHERE serial = 2`}, "does not match its hash"},
		{"revived reservation", []string{`UPDATE reservations SET status = 'issued' WHERE status = 'returned'`}, "is issued, but its instance"},
		{"deleted grant", []string{`DELETE FROM grants WHERE serial = 2`}, "the code grants 2 of"},
		{"transfer undone", []string{`DELETE FROM transfers`}, "were transferred out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := busyLedger(t)
			e.tamper(tc.stmts...)
			_, err := e.l.Verify(ctx)
			wantErr(t, err, authority.ErrCorrupt)
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %q, want %q", err, tc.want)
			}
		})
	}
}
