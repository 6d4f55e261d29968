package authority_test

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/formats/groups"
)

// walletEnv is a ledger with organizations acme and globex, each with a
// product "site-1" of software vms, and acme with "doors" of software
// access.
func walletEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	for _, o := range []string{"acme", "globex"} {
		_, err := e.l.AddOrg(ctx, o)
		e.must(err)
		_, err = e.l.AddProduct(ctx, o, "site-1", "vms")
		e.must(err)
	}
	_, err := e.l.AddProduct(ctx, "acme", "doors", "access")
	e.must(err)
	return e
}

// issue issues a key for software vms: count cameras for years.
func (e *env) issue(count int64, years int) string {
	e.t.Helper()
	k, err := e.l.IssueKey(ctx, authority.KeySpec{Software: "vms", Lines: []authority.KeyLine{{Tag: camera, Count: count}}, Years: years})
	e.must(err)
	return k.Key
}

func (e *env) events() int64 {
	e.t.Helper()
	m, err := e.l.Meta(ctx)
	e.must(err)
	return m.HistoryCount
}

func (e *env) wallet(org, product string) *authority.Wallet {
	e.t.Helper()
	w, err := e.l.Wallet(ctx, org, product)
	e.must(err)
	return w
}

func total(w *authority.Wallet, tag string) int64 {
	for _, t := range w.Totals {
		if t.Tag == tag {
			return t.Count
		}
	}
	return 0
}

func TestProductNamesAreUniquePerOrganization(t *testing.T) {
	e := walletEnv(t)
	_, err := e.l.AddProduct(ctx, "acme", "site-1", "access")
	wantErr(t, err, authority.ErrExists)
	_, err = e.l.AddProduct(ctx, "initech", "site-1", "vms")
	wantErr(t, err, authority.ErrNotFound)
	for _, bad := range [][3]string{{"acme", "", "vms"}, {"acme", "a/b", "vms"}, {"acme", "site-2", ""}, {"acme", "site 2", "vms"}} {
		_, err = e.l.AddProduct(ctx, bad[0], bad[1], bad[2])
		wantErr(t, err, authority.ErrInvalid)
	}
	ps, err := e.l.Products(ctx, "acme")
	e.must(err)
	if len(ps) != 2 || ps[0].Name != "doors" || ps[0].Software != "access" || ps[1].Ref() != "acme/site-1" {
		t.Fatalf("acme's products: %+v", ps)
	}
	ps, err = e.l.Products(ctx, "globex")
	e.must(err)
	if len(ps) != 1 || ps[0].Ref() != "globex/site-1" {
		t.Fatalf("globex sees %+v", ps)
	}
	_, err = e.l.Wallet(ctx, "globex", "doors")
	wantErr(t, err, authority.ErrNotFound)
	e.verify()
}

func TestIssuedKeyIsTypedAndNeverStored(t *testing.T) {
	e := walletEnv(t)
	key := e.issue(10, 1)
	if !strings.HasPrefix(key, "LK-") || len(key) != len("LK-")+3*9+2 {
		t.Fatalf("key %q is not LK and three groups", key)
	}
	raw, err := authority.ParseKey(strings.ToLower(strings.ReplaceAll(key, "-", " ")))
	e.must(err)
	if len(raw)*8 < 80 {
		t.Fatalf("a key has %d bits, want at least 80", len(raw)*8)
	}
	if other := e.issue(10, 1); other == key {
		t.Fatal("two keys are equal")
	}
	// Neither the key's bytes nor its typed form are anywhere in the
	// ledger's files: only their hash.
	if onPostgres() {
		return // the files are the server's
	}
	e.st.Close()
	for _, name := range []string{e.path, e.path + "-wal"} {
		b, err := os.ReadFile(name)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		e.must(err)
		if bytes.Contains(b, raw) || bytes.Contains(b, []byte(key)) || bytes.Contains(b, []byte(strings.ReplaceAll(key, "-", ""))) {
			t.Fatalf("%s holds the license key", name)
		}
		if !bytes.Contains(b, authority.KeyHash(raw)) {
			t.Fatalf("%s does not hold the key's hash", name)
		}
	}
}

func TestIssueKeyRefusesBadSpecs(t *testing.T) {
	e := walletEnv(t)
	line := []authority.KeyLine{{Tag: camera, Count: 1}}
	for name, s := range map[string]authority.KeySpec{
		"no software":          {Lines: line},
		"no lines":             {Software: "vms"},
		"zero count":           {Software: "vms", Lines: []authority.KeyLine{{Tag: camera, Count: 0}}},
		"bad tag":              {Software: "vms", Lines: []authority.KeyLine{{Tag: "", Count: 1}}},
		"six years":            {Software: "vms", Lines: line, Years: 6},
		"negative years":       {Software: "vms", Lines: line, Years: -1},
		"two tags, no ext":     {Software: "vms", Lines: []authority.KeyLine{{Tag: camera, Count: 1}, {Tag: hwTag, Count: 1}}},
		"tag twice":            {Software: "vms", Extension: true, Lines: []authority.KeyLine{{Tag: camera, Count: 1}, {Tag: camera, Count: 1}}},
		"extension with years": {Software: "vms", Extension: true, Lines: line, Years: 2},
		"count overflows":      {Software: "vms", Lines: []authority.KeyLine{{Tag: camera, Count: authority.MaxLotCount}}, Years: 2},
	} {
		before := e.events()
		if _, err := e.l.IssueKey(ctx, s); !errors.Is(err, authority.ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", name, err)
		}
		if e.events() != before {
			t.Errorf("%s: the refused key was recorded", name)
		}
	}
}

func TestRedeemFillsTheWalletForYearsTimesCount(t *testing.T) {
	e := walletEnv(t)
	key := e.issue(10, 3)
	r, err := e.l.Redeem(ctx, "acme", "site-1", key)
	e.must(err)
	if len(r.Lots) != 1 || r.Lots[0].Count != 30 || r.Lots[0].EnteredAt != t0.Unix() {
		t.Fatalf("redeemed %+v", r.Lots)
	}
	w := e.wallet("acme", "site-1")
	if total(w, camera) != 30 || len(w.Lots) != 1 {
		t.Fatalf("wallet %+v", w)
	}
	if w2 := e.wallet("globex", "site-1"); len(w2.Lots) != 0 || len(w2.Totals) != 0 {
		t.Fatalf("globex sees acme's wallet: %+v", w2)
	}
	var redeem *authority.Event
	err = e.st.View(ctx, func(tx authority.ReadTx) error {
		return tx.History(authority.HistoryFilter{}, func(ev *authority.Event) error {
			if ev.Action == "wallet redeem" {
				c := *ev
				redeem = &c
			}
			return nil
		})
	})
	e.must(err)
	raw, _ := authority.ParseKey(key)
	if redeem == nil || redeem.Subject != "acme/site-1" || redeem.Actor != "tester" || !bytes.Equal(redeem.CodeHash, authority.KeyHash(raw)) ||
		!strings.Contains(redeem.Detail, r.KeyID) || strings.Contains(redeem.Detail, key) {
		t.Fatalf("history event %+v", redeem)
	}
	rep := e.verify()
	if rep.Keys != 1 || rep.Redeemed != 1 || rep.WalletLots != 1 || rep.Products != 3 {
		t.Fatalf("verify report %+v", rep)
	}
}

func TestWalletLotExpiresAtExactlyFiveYears(t *testing.T) {
	e := walletEnv(t)
	_, err := e.l.Redeem(ctx, "acme", "site-1", e.issue(4, 1))
	e.must(err)
	want := time.Date(2030, 3, 1, 12, 0, 0, 0, time.UTC)
	w := e.wallet("acme", "site-1")
	if got := time.Unix(w.Lots[0].ExpiresAt, 0).UTC(); !got.Equal(want) {
		t.Fatalf("expires %s, want %s", got, want)
	}
	e.clk.add(want.Add(-time.Second).Sub(e.clk.Now()))
	w = e.wallet("acme", "site-1")
	if w.Lots[0].Expired(w.At) || total(w, camera) != 4 {
		t.Fatalf("one second before five years: %+v", w)
	}
	e.clk.add(want.Sub(e.clk.Now()))
	w = e.wallet("acme", "site-1")
	if !w.Lots[0].Expired(w.At) || total(w, camera) != 0 || len(w.Lots) != 1 {
		t.Fatalf("at five years: %+v", w)
	}
}

func TestWalletExpiryIsCalendarYears(t *testing.T) {
	for _, tc := range [][2]time.Time{
		{time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC), time.Date(2033, 3, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(2024, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(2029, 12, 31, 23, 59, 59, 0, time.UTC)},
		{time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2032, 3, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if got := authority.WalletExpiry(tc[0].Unix()); got != tc[1].Unix() {
			t.Errorf("entered %s: expires %s, want %s", tc[0], time.Unix(got, 0).UTC(), tc[1])
		}
	}
}

func TestWalletListsLotsByExpiry(t *testing.T) {
	e := walletEnv(t)
	_, err := e.l.Redeem(ctx, "acme", "site-1", e.issue(1, 1))
	e.must(err)
	e.clk.add(48 * time.Hour)
	k, err := e.l.IssueKey(ctx, authority.KeySpec{Software: "vms", Extension: true, Lines: []authority.KeyLine{{Tag: hwTag, Count: 2}, {Tag: camera, Count: 5}}})
	e.must(err)
	r, err := e.l.Redeem(ctx, "acme", "site-1", k.Key)
	e.must(err)
	if len(r.Lots) != 2 || !r.Lots[0].Extension {
		t.Fatalf("extension key brought %+v", r.Lots)
	}
	w := e.wallet("acme", "site-1")
	if len(w.Lots) != 3 || w.Lots[0].Count != 1 || w.Lots[0].ExpiresAt > w.Lots[1].ExpiresAt || w.Lots[1].ExpiresAt > w.Lots[2].ExpiresAt {
		t.Fatalf("lots %+v", w.Lots)
	}
	if total(w, camera) != 6 || total(w, hwTag) != 2 || w.Totals[0].Tag != camera {
		t.Fatalf("totals %+v", w.Totals)
	}
	// The first lot expires; the totals drop it, the list keeps it.
	e.clk.add(time.Unix(w.Lots[0].ExpiresAt, 0).Sub(e.clk.Now()))
	w = e.wallet("acme", "site-1")
	if total(w, camera) != 5 || len(w.Lots) != 3 || !w.Lots[0].Expired(w.At) {
		t.Fatalf("after the first expiry: %+v", w)
	}
	e.verify()
}

// TestRedeemRefusals: each refusal has its sentinel, a message with the
// values, and changes nothing.
func TestRedeemRefusals(t *testing.T) {
	e := walletEnv(t)
	used := e.issue(2, 1)
	_, err := e.l.Redeem(ctx, "acme", "site-1", used)
	e.must(err)
	usedByGlobex := e.issue(2, 1)
	_, err = e.l.Redeem(ctx, "globex", "site-1", usedByGlobex)
	e.must(err)
	fresh := e.issue(3, 1)
	typo := []byte(fresh)
	i := strings.Index(fresh[3:], "-") + 3 + 2 // a data character of group 2
	if typo[i] == '7' {
		typo[i] = '8'
	} else {
		typo[i] = '7'
	}
	unknown := authority.FormatKey(bytes.Repeat([]byte{0x5a}, authority.KeySize))
	for _, tc := range []struct {
		name, org, product, key string
		sentinel                error
		want                    string
	}{
		{"empty", "acme", "site-1", "", authority.ErrKeyMalformed, "the key is empty"},
		{"dashes only", "acme", "site-1", " - - ", authority.ErrKeyMalformed, "the key is empty"},
		{"too long", "acme", "site-1", strings.Repeat("A", 5000), authority.ErrKeyMalformed, "5000 bytes"},
		{"wrong prefix", "acme", "site-1", "RQ" + fresh[2:], authority.ErrKeyMalformed, `starts with "RQ"`},
		{"group missing", "acme", "site-1", fresh[:len(fresh)-10], authority.ErrKeyMalformed, "10 bytes"},
		{"not base32", "acme", "site-1", "LK-1234U678", authority.ErrKeyMalformed, "unexpected character"},
		{"typo", "acme", "site-1", string(typo), authority.ErrKeyTypo, "in group 2 of 3"},
		{"unknown", "acme", "site-1", unknown, authority.ErrKeyUnknown, "was issued by this authority"},
		{"redeemed before", "acme", "site-1", used, authority.ErrKeyRedeemed, `redeemed 2025-03-01T12:00:00Z into "acme/site-1" by tester`},
		{"redeemed before, other product", "acme", "doors", used, authority.ErrKeyRedeemed, `into "acme/site-1"`},
		{"redeemed by another org", "acme", "site-1", usedByGlobex, authority.ErrKeyRedeemed, "into a product of another organization"},
		{"other software", "acme", "doors", fresh, authority.ErrKeySoftware, `is for software "vms", product "acme/doors" is "access"`},
		{"other organization's product", "globex", "doors", fresh, authority.ErrNotFound, `organization "globex" has no product "doors"`},
		{"no organization", "initech", "site-1", fresh, authority.ErrNotFound, `no organization "initech"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.events()
			_, err := e.l.CheckRedeem(ctx, tc.org, tc.product, tc.key)
			wantErr(t, err, tc.sentinel)
			_, err = e.l.Redeem(ctx, tc.org, tc.product, tc.key)
			wantErr(t, err, tc.sentinel)
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %q, want it to say %q", err, tc.want)
			}
			if len(tc.key) >= 12 && strings.Contains(err.Error(), tc.key[3:12]) {
				t.Fatalf("the message quotes the key: %q", err)
			}
			if e.events() != before {
				t.Fatal("the refusal was recorded")
			}
		})
	}
	if !errors.Is(func() error { _, err := authority.ParseKey(string(typo)); return err }(), groups.ErrTypo) {
		t.Fatal("a typo does not match groups.ErrTypo")
	}
	if w := e.wallet("acme", "site-1"); total(w, camera) != 2 {
		t.Fatalf("refusals changed the wallet: %+v", w)
	}
	if w := e.wallet("acme", "doors"); len(w.Lots) != 0 {
		t.Fatalf("refusals changed the wallet: %+v", w)
	}
	// The fresh key still redeems, once.
	_, err = e.l.Redeem(ctx, "acme", "site-1", strings.ToLower(fresh))
	e.must(err)
	e.verify()
}

// TestRedeemOneKeyConcurrently: 8 redeemers, each on its own handle of
// the ledger file as separate processes would be; exactly one wins.
func TestRedeemOneKeyConcurrently(t *testing.T) {
	e := walletEnv(t)
	key := e.issue(7, 2)
	const n = 8
	ledgers := make([]*authority.Ledger, n)
	for i := range ledgers {
		ledgers[i] = e.ledger()
	}
	var wg sync.WaitGroup
	var start sync.WaitGroup
	start.Add(1)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start.Wait()
			product := "site-1"
			_, errs[i] = ledgers[i].Redeem(ctx, []string{"acme", "globex"}[i%2], product, key)
		}()
	}
	start.Done()
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, authority.ErrKeyRedeemed):
			t.Errorf("a redeemer failed with %v, want ErrKeyRedeemed", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d redemptions succeeded, want 1", ok)
	}
	if got := total(e.wallet("acme", "site-1"), camera) + total(e.wallet("globex", "site-1"), camera); got != 14 {
		t.Fatalf("the wallets hold %d, want 14", got)
	}
	e.verify()
}

// TestStoreRefusesASecondRedemption: the store's unique key hash, not
// only the ledger's check, keeps a key from being redeemed twice.
func TestStoreRefusesASecondRedemption(t *testing.T) {
	e := walletEnv(t)
	key := e.issue(1, 1)
	raw, _ := authority.ParseKey(key)
	_, err := e.l.Redeem(ctx, "acme", "site-1", key)
	e.must(err)
	err = e.st.Update(ctx, func(tx authority.Tx) error {
		ok, err := tx.InsertRedemption(&authority.Redemption{KeyHash: authority.KeyHash(raw), ProductID: 2, At: 1, Actor: "x"})
		if err != nil {
			return err
		}
		if ok {
			return errors.New("a second redemption of one key was stored")
		}
		return nil
	})
	e.must(err)
	// A wallet lot can never count below zero.
	err = e.st.Update(ctx, func(tx authority.Tx) error {
		return tx.InsertWalletLot(&authority.WalletLot{ProductID: 1, Tag: hwTag, Initial: 1, Count: -1, EnteredAt: 1, ExpiresAt: 2, KeyHash: authority.KeyHash(raw)})
	})
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "check constraint") {
		t.Fatalf("a negative wallet lot was stored: %v", err)
	}
	e.verify()
}

func TestVerifyChecksWallets(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stmts []string
		want  string
	}{
		{"grown lot", []string{`UPDATE wallet_lots SET initial_count = initial_count + 5, count = count + 5`}, "its wallet lots hold 35"},
		{"longer life", []string{`UPDATE wallet_lots SET expires_at = expires_at + 86400`}, "not 5 years later"},
		{"slipped-in key", []string{`INSERT INTO license_keys (hash, software, extension, years, issued_at, issued_by) VALUES (zeroblob(32), 'vms', FALSE, 1, 0, 'x')`,
			`INSERT INTO license_key_lines (key_id, tag, count) VALUES ((SELECT MAX(id) FROM license_keys), 'vms.camera.core', 100)`}, "recorded by 0 issue events"},
		{"unredeemed", []string{`DELETE FROM wallet_lots`, `DELETE FROM redemptions`}, "recorded as redeemed in the history"},
		{"moved lot", []string{`UPDATE wallet_lots SET product_id = (SELECT MAX(id) FROM products)`}, "its key"},
		{"lot deleted", []string{`DELETE FROM wallet_lots`}, "its wallet lots hold 0"},
		{"key deleted", []string{`DELETE FROM wallet_lots`, `DELETE FROM redemptions`, `DELETE FROM license_key_lines`, `DELETE FROM license_keys`}, "which the ledger does not hold: it was deleted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := walletEnv(t)
			_, err := e.l.Redeem(ctx, "acme", "site-1", e.issue(10, 3))
			e.must(err)
			e.verify()
			e.tamper(tc.stmts...)
			_, err = e.l.Verify(ctx)
			wantErr(t, err, authority.ErrCorrupt)
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %q, want %q", err, tc.want)
			}
		})
	}
}
