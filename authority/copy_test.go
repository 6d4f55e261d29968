package authority_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/authority/store"
	"github.com/airlock-dev/airlock/authority/store/pgtest"
	"github.com/airlock-dev/airlock/codes"
)

// TestCopyToPostgresKeepsTheLedger: a SQLite ledger with reservations,
// updates, returns, transfers, a wallet, a device-fleet pool, connected
// registrations and a token, copied into an empty PostgreSQL database,
// verifies there with the same history head and every table's rows; the
// copy then works on (new ids follow the copied ones); a second copy into
// the same database is refused.
func TestCopyToPostgresKeepsTheLedger(t *testing.T) {
	sqliteOnly(t, "the source of the copy is a SQLite file")
	e := busyLedger(t)
	_, err := e.l.AddProduct(ctx, "acme", "site-1", "vms")
	e.must(err)
	k, err := e.l.IssueKey(ctx, authority.KeySpec{Software: "vms", Lines: []authority.KeyLine{{Tag: camera, Count: 3}}, Years: 1})
	e.must(err)
	_, err = e.l.Redeem(ctx, "acme", "site-1", k.Key)
	e.must(err)
	_, err = e.l.AddFleetProduct(ctx, "acme", "PK-CAM", "cameras", true)
	e.must(err)
	_, err = e.l.BuyCodes(ctx, "acme", "annual", &authority.Validity{Years: 1}, 10, "PK-CAM", "order 1")
	e.must(err)
	tok := e.token("acme/plant", false, 5)
	_, err = e.cdev("conn-1").register(tok, false, lic(camera, 1))
	e.must(err)
	before := e.verify()

	dst, err := store.Open(pgtest.URL(t), store.Options{Create: true})
	e.must(err)
	defer dst.Close()
	rep, err := store.Copy(ctx, e.st, dst)
	e.must(err)
	if rep.Rows == 0 || len(rep.Tables) < 40 {
		t.Fatalf("copied %d rows of %d tables", rep.Rows, len(rep.Tables))
	}
	pl := authority.New(dst, e.opts)
	after, err := pl.Verify(ctx)
	e.must(err)
	if after.Events != before.Events || !bytes.Equal(after.Head, before.Head) || after.Codes != before.Codes || after.Lots != before.Lots {
		t.Fatalf("the copy verifies as %+v, the source as %+v", after, before)
	}
	// The copy goes on: new rows get new ids.
	e.l = pl
	e.reserved("cam-9", lic(camera, 1))
	_, err = e.l.AddOrg(ctx, "initech")
	e.must(err)
	_, err = e.l.AddLot(ctx, authority.LotSpec{Account: "acme/lab", Tag: camera, Count: 2, Kind: codes.Perpetual})
	e.must(err)
	if _, err := pl.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	// Never twice into one database.
	if _, err := store.Copy(ctx, e.st, dst); !errors.Is(err, authority.ErrExists) {
		t.Fatalf("a second copy: %v", err)
	}
}
