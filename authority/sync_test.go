package authority_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/authority/store"
	"github.com/airlock-dev/airlock/codes"
)

// satelliteKey returns a fixed authority key for a satellite called name,
// and its trust file, armored.
func satelliteKey(t testing.TB, name string) (*codes.AuthorityKey, []byte) {
	t.Helper()
	seed := sha256.Sum256([]byte("airlock satellite test key " + name))
	k, err := codes.GenerateAuthorityKey(bytes.NewReader(append(seed[:], seed[:]...)), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	code, err := codes.SignTrustSet(&codes.TrustSet{Sequence: 1, Keys: []codes.AuthorityPublicKey{k.Public}, IssuedAt: t0.Unix() - 86400}, k)
	if err != nil {
		t.Fatal(err)
	}
	return k, codes.EncodeArmor(codes.KindTrustUpdate, code)
}

// A site is a satellite's ledger on the vendor's clock, with the key and
// trust file it made.
type site struct {
	*env
	key   *codes.AuthorityKey
	trust []byte // armored
}

// newSite makes the ledger of a satellite called name of vendor v,
// sharing v's clock.
func newSite(t testing.TB, v *env, name string) *site {
	t.Helper()
	key, trust := satelliteKey(t, name)
	dir := t.TempDir()
	e := &env{t: t, dir: dir, path: newLedgerName(t, dir), f: v.f, clk: v.clk}
	e.opts = authority.Options{Keys: []*codes.AuthorityKey{key}, Actor: "site operator", Now: v.clk.Now}
	st, err := store.Open(e.path, storeOptions(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.st, e.l = st, authority.New(st, e.opts)
	e.must(e.l.Init(ctx, name))
	e.must(e.l.InitSatellite(ctx, v.f.TrustFile))
	return &site{env: e, key: key, trust: trust}
}

// device returns an instance that talks to the satellite.
func (s *site) device(name string) *device { return newDevice(s.t, name, s.key) }

// history returns the number of events in a ledger's history.
func history(t testing.TB, l *authority.Ledger) int64 {
	t.Helper()
	m, err := l.Meta(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return m.HistoryCount
}

// syncByFiles runs one sync by files: the satellite exports, the vendor answers,
// the satellite imports. Both ledgers verify after each step.
func syncByFiles(t testing.TB, v *env, s *site) (*authority.SyncExported, *authority.SyncAnswered, *authority.SyncImported) {
	t.Helper()
	ex, err := s.l.ExportSync(ctx)
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	s.verify()
	ans, err := v.l.AnswerSync(ctx, ex.Code)
	if err != nil {
		t.Fatalf("answer: %v", err)
	}
	v.verify()
	im, err := s.l.ImportSync(ctx, ans.Code)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	s.verify()
	return ex, ans, im
}

// refusedUnchanged checks that err matches sentinel and that the ledger's
// history did not move.
func refusedUnchanged(t testing.TB, l *authority.Ledger, before int64, err, sentinel error) {
	t.Helper()
	wantErr(t, err, sentinel)
	if after := history(t, l); after != before {
		t.Fatalf("a refused sync file changed the ledger: %d history events, then %d", before, after)
	}
}

func reportOf(r *codes.SyncRequest, acct, tag string) (codes.SyncAccount, codes.SyncUsage) {
	for _, a := range r.Accounts {
		if a.Org+"/"+a.Account == acct {
			for _, u := range a.Usage {
				if u.Tag == tag {
					return a, u
				}
			}
			return a, codes.SyncUsage{}
		}
	}
	return codes.SyncAccount{}, codes.SyncUsage{}
}

// TestSatelliteSyncsThreeTimesByFile: a satellite in disconnected mode
// syncs by files while licenses change at the vendor and an instance
// reserves and returns on the satellite; replayed and out-of-order files
// are refused and change nothing; both ledgers verify after every step.
func TestSatelliteSyncsThreeTimesByFile(t *testing.T) {
	v := newEnv(t)
	v.setup()
	s := newSite(t, v, "plant-sat")
	if _, err := v.l.AddSatellite(ctx, "plant-sat", s.trust, []string{"acme/plant"}); err != nil {
		t.Fatal(err)
	}
	v.verify()

	// The vendor reserves nothing from a delegated account.
	_, err := v.l.Reserve(ctx, "acme/plant", v.device("cam-v").request(lic(camera, 1)), nil)
	wantErr(t, err, authority.ErrDelegated)
	if !strings.Contains(err.Error(), `"plant-sat"`) {
		t.Fatalf("the refusal does not name the satellite: %v", err)
	}
	// The satellite adds no licenses of its own.
	_, err = s.l.AddLot(ctx, authority.LotSpec{Account: "acme/plant", Tag: camera, Count: 1})
	wantErr(t, err, authority.ErrSatellite)
	// Nor does the vendor make registration tokens for it: its instances
	// register at the satellite.
	_, _, err = v.l.CreateToken(ctx, authority.TokenSpec{Account: "acme/plant"})
	wantErr(t, err, authority.ErrDelegated)
	if !strings.Contains(err.Error(), "make the token on the satellite") || !strings.Contains(err.Error(), "satellite remove --account acme/plant plant-sat") {
		t.Fatalf("the refusal does not say what to do: %v", err)
	}

	// Sync 1: the satellite mirrors acme/plant.
	v.clk.add(time.Hour)
	_, ans, im := syncByFiles(t, v, s)
	if ans.Answer.Sequence != 1 || im.Lots != 3 || len(im.Accounts) != 1 || len(im.Over) != 0 {
		t.Fatalf("sync 1: answer %+v, imported %+v", ans.Answer, im)
	}
	s.wantBalance("acme/plant", camera, 25, 25, 0, 0)
	s.wantBalance("acme/plant", analytics, 4, 4, 0, 0)
	v.wantBalance("acme/plant", camera, 25, 25, 0, 0)

	// An instance reserves on the satellite, as it would at the vendor.
	d1 := s.device("cam-1")
	v.clk.add(time.Hour)
	a1, err := s.l.Reserve(ctx, "acme/plant", d1.request(lic(camera, 10)), nil)
	s.must(err)
	if _, err := codes.OpenAuthorization(a1.Code, trustOf(t, s.trust)); err != nil {
		t.Fatalf("the satellite's code does not verify with its trust file: %v", err)
	}
	if _, err := s.l.Confirm(ctx, d1.confirm(resBytes(a1), 1)); err != nil {
		t.Fatal(err)
	}
	s.verify()

	// Licenses change at the vendor: 5 more, then 20 moved to acme/lab.
	v.lot("acme/plant", camera, 5, codes.Perpetual, 0, 0, false)
	if _, err := v.l.Transfer(ctx, "acme/plant", "acme/lab", camera, 20); err != nil {
		t.Fatal(err)
	}
	v.verify()

	// Sync 2: the satellite holds 10 of the 10 left to it.
	v.clk.add(time.Hour)
	ex2, ans2, im2 := syncByFiles(t, v, s)
	if len(im2.Over) != 0 {
		t.Fatalf("sync 2: over-use %v", im2.Over)
	}
	s.wantBalance("acme/plant", camera, 10, 0, 10, 0)
	// Its use shows up at the vendor.
	info, err := v.l.SatelliteInfo(ctx, "plant-sat")
	s.must(err)
	acct, u := reportOf(info.Report, "acme/plant", camera)
	if info.Syncs != 2 || acct.Instances != 1 || acct.Reserved != 1 || u.Peak != 10 || u.Current != 10 || u.Over != 0 {
		t.Fatalf("the vendor sees %+v, %+v", acct, u)
	}
	hist, err := v.l.History(ctx, authority.HistoryFilter{Account: "acme/plant"})
	s.must(err)
	if last := hist[len(hist)-1]; last.Action != "sync usage" || !strings.Contains(last.Detail, "vms.camera.core peak 10 now 10") {
		t.Fatalf("the vendor's history of acme/plant ends with %s: %s", last.Action, last.Detail)
	}

	// Replays change nothing on either side.
	before := history(t, v.l)
	_, err = v.l.AnswerSync(ctx, ex2.Code)
	refusedUnchanged(t, v.l, before, err, authority.ErrSyncReplayed)
	before = history(t, s.l)
	_, err = s.l.ImportSync(ctx, ans2.Code)
	refusedUnchanged(t, s.l, before, err, authority.ErrSyncReplayed)
	v.verify()
	s.verify()

	// Out of order: two requests made, the vendor answers the later one,
	// then the earlier one is refused; the satellite takes only the answer
	// to its latest.
	v.clk.add(time.Hour)
	e3, err := s.l.ExportSync(ctx)
	s.must(err)
	e4, err := s.l.ExportSync(ctx)
	s.must(err)
	a4, err := v.l.AnswerSync(ctx, e4.Code)
	s.must(err)
	before = history(t, v.l)
	_, err = v.l.AnswerSync(ctx, e3.Code)
	refusedUnchanged(t, v.l, before, err, authority.ErrSyncOutOfOrder)
	e5, err := s.l.ExportSync(ctx)
	s.must(err)
	before = history(t, s.l)
	_, err = s.l.ImportSync(ctx, a4.Code)
	refusedUnchanged(t, s.l, before, err, authority.ErrSyncOutOfOrder)
	v.verify()
	s.verify()

	// The vendor takes 4 more away: the satellite's instance holds 10 of
	// the 6 left. Sync 3 applies it, reports the over-use, and keeps the
	// invariant.
	if _, err := v.l.Transfer(ctx, "acme/plant", "acme/lab", camera, 4); err != nil {
		t.Fatal(err)
	}
	a5, err := v.l.AnswerSync(ctx, e5.Code)
	s.must(err)
	v.verify()
	im3, err := s.l.ImportSync(ctx, a5.Code)
	s.must(err)
	s.verify()
	if len(im3.Over) != 1 || im3.Over[0].Account != "acme/plant" || im3.Over[0].Tag != camera || im3.Over[0].Held != 10 || im3.Over[0].Count != 6 {
		t.Fatalf("sync 3: over-use %+v", im3.Over)
	}
	st, err := s.l.SatelliteStatus(ctx)
	s.must(err)
	if st.Pending || len(st.Over) != 1 || st.Over[0].Over() != 4 || st.Vendor != "test desk" {
		t.Fatalf("status %+v", st)
	}
	// No more cameras until returns bring it back within the count.
	v.clk.add(time.Minute)
	d2 := s.device("cam-2")
	_, err = s.l.Reserve(ctx, "acme/plant", d2.request(lic(camera, 1)), nil)
	wantErr(t, err, authority.ErrUnavailable)
	// Analytics are not over-used: they still reserve.
	a2, err := s.l.Reserve(ctx, "acme/plant", d2.request(lic(analytics, 1)), nil)
	s.must(err)
	s.verify()
	if _, err := s.l.Return(ctx, d2.ret(resBytes(a2), 1, true)); err != nil {
		t.Fatal(err)
	}
	// The instance returns its 10: 6 may be reserved again, not 7.
	if _, err := s.l.Return(ctx, d1.ret(resBytes(a1), 1, false)); err != nil {
		t.Fatal(err)
	}
	s.verify()
	_, err = s.l.Reserve(ctx, "acme/plant", d2.request(lic(camera, 7)), nil)
	wantErr(t, err, authority.ErrUnavailable)
	a3, err := s.l.Reserve(ctx, "acme/plant", d2.request(lic(camera, 6)), nil)
	s.must(err)
	s.verify()

	// Sync 4 settles the counts: 6 owned, 6 reserved; the vendor sees the
	// return and no over-use.
	v.clk.add(time.Hour)
	_, _, im4 := syncByFiles(t, v, s)
	if len(im4.Over) != 0 {
		t.Fatalf("sync 4: over-use %v", im4.Over)
	}
	s.wantBalance("acme/plant", camera, 6, 0, 6, 0)
	info, err = v.l.SatelliteInfo(ctx, "plant-sat")
	s.must(err)
	acct, u = reportOf(info.Report, "acme/plant", camera)
	if acct.Returned != 2 || u.Current != 6 || u.Peak != 10 || u.Over != 0 {
		t.Fatalf("the vendor sees %+v, %+v", acct, u)
	}
	v.wantBalance("acme/plant", camera, 6, 6, 0, 0)
	_ = a3
}

// trustOf opens an armored trust file.
func trustOf(t testing.TB, b []byte) *codes.TrustSet {
	t.Helper()
	ts, err := codes.ReadTrustFile(b)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// TestHostileSyncFilesRefused: sync files of the wrong kind, signed by the
// wrong key, for another satellite, tampered or garbage are refused with
// the class of error they deserve, and change nothing on either side.
func TestHostileSyncFilesRefused(t *testing.T) {
	v := newEnv(t)
	v.setup()
	s := newSite(t, v, "plant-sat")
	other := newSite(t, v, "lab-sat")
	if _, err := v.l.AddSatellite(ctx, "plant-sat", s.trust, []string{"acme/plant"}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.l.AddSatellite(ctx, "lab-sat", other.trust, []string{"acme/lab"}); err != nil {
		t.Fatal(err)
	}
	syncByFiles(t, v, s)
	ex, err := s.l.ExportSync(ctx)
	s.must(err)
	req, err := codes.ParseUnverifiedSyncRequest(ex.Code)
	s.must(err)
	exOther, err := other.l.ExportSync(ctx)
	s.must(err)
	ansOther, err := v.l.AnswerSync(ctx, exOther.Code)
	s.must(err)

	// Requests the vendor must refuse.
	forged := *req
	forgedByOther, err := codes.SignSyncRequest(&forged, other.key) // lab-sat's key, naming plant-sat
	s.must(err)
	unregistered := *req
	unregistered.Satellite = "ghost-sat"
	ghost, err := codes.SignSyncRequest(&unregistered, s.key)
	s.must(err)
	rogueKey, _ := satelliteKey(t, "rogue")
	rogue, err := codes.SignSyncRequest(req, rogueKey)
	s.must(err)
	tampered := bytes.Clone(ex.Code)
	tampered[len(tampered)-1] ^= 0x80
	authz, err := codes.SignAuthorization(v.f.CiscoAuthorization(), v.f.Authority)
	s.must(err)
	for _, c := range []struct {
		name string
		code []byte
		want error
	}{
		{"garbage", []byte("not a sync request at all"), codes.ErrMalformed},
		{"empty", nil, codes.ErrMalformed},
		{"an answer", ansOther.Code, codes.ErrMalformed},
		{"an authorization", authz, codes.ErrMalformed},
		{"signed by another satellite", forgedByOther, codes.ErrUnknownKey},
		{"signed by a key never registered", rogue, codes.ErrUnknownKey},
		{"from a satellite not registered", ghost, authority.ErrNotFound},
		{"tampered signature", tampered, codes.ErrBadSignature},
		{"the answered request of another satellite", exOther.Code, authority.ErrSyncReplayed},
	} {
		t.Run("vendor refuses "+c.name, func(t *testing.T) {
			before := history(t, v.l)
			_, err := v.l.AnswerSync(ctx, c.code)
			refusedUnchanged(t, v.l, before, err, c.want)
			v.verify()
		})
	}

	// Answers the satellite must refuse.
	ans, err := v.l.AnswerSync(ctx, ex.Code)
	s.must(err)
	a, err := codes.ParseUnverifiedSyncAnswer(ans.Code)
	s.must(err)
	grown := *a
	grown.Accounts = append([]codes.SyncDelegation(nil), a.Accounts...)
	grown.Accounts[0].Lots = append([]codes.SyncLot(nil), a.Accounts[0].Lots...)
	grown.Accounts[0].Lots[0].Count += 5
	grownCode, err := codes.SignSyncAnswer(&grown, v.f.Authority)
	s.must(err)
	moved := *a
	moved.Accounts = append([]codes.SyncDelegation(nil), a.Accounts...)
	moved.Accounts[0].Account = "lab"
	movedCode, err := codes.SignSyncAnswer(&moved, v.f.Authority)
	s.must(err)
	byRogue, err := codes.SignSyncAnswer(a, v.f.Rogue)
	s.must(err)
	flipped := bytes.Clone(ans.Code)
	flipped[len(flipped)-1] ^= 0x01
	for _, c := range []struct {
		name string
		code []byte
		want error
	}{
		{"garbage", bytes.Repeat([]byte{0x84}, 40), codes.ErrMalformed},
		{"a request (signed by the satellite itself)", ex.Code, codes.ErrUnknownKey},
		{"signed by a key the vendor's trust file lacks", byRogue, codes.ErrUnknownKey},
		{"tampered signature", flipped, codes.ErrBadSignature},
		{"for another satellite", ansOther.Code, authority.ErrSyncMismatch},
		{"a lot that grew", grownCode, authority.ErrSyncMismatch},
		{"a lot that moved to another account", movedCode, authority.ErrSyncMismatch},
	} {
		t.Run("satellite refuses "+c.name, func(t *testing.T) {
			before := history(t, s.l)
			_, err := s.l.ImportSync(ctx, c.code)
			refusedUnchanged(t, s.l, before, err, c.want)
			s.verify()
		})
	}
	// The genuine answer still imports.
	if _, err := s.l.ImportSync(ctx, ans.Code); err != nil {
		t.Fatal(err)
	}
	s.verify()
}

// TestSatelliteRegistration: what the vendor refuses when it registers a
// satellite and delegates accounts, and taking accounts back.
func TestSatelliteRegistration(t *testing.T) {
	v := newEnv(t)
	v.setup()
	s := newSite(t, v, "plant-sat")
	_, err := v.l.AddSatellite(ctx, "plant-sat", v.f.TrustFile, []string{"acme/plant"})
	wantErr(t, err, authority.ErrInvalid) // the vendor's own trust file
	_, err = v.l.AddSatellite(ctx, "plant-sat", s.trust, nil)
	wantErr(t, err, authority.ErrInvalid)
	_, err = v.l.AddSatellite(ctx, "plant sat", s.trust, []string{"acme/plant"})
	wantErr(t, err, authority.ErrInvalid)
	_, err = v.l.AddSatellite(ctx, "plant-sat", []byte("garbage"), []string{"acme/plant"})
	wantErr(t, err, codes.ErrMalformed)
	_, err = v.l.AddSatellite(ctx, "plant-sat", s.trust, []string{"acme/nowhere"})
	wantErr(t, err, authority.ErrNotFound)

	// An account with licenses reserved here is not delegated.
	d := v.device("cam-v")
	_, err = v.l.Reserve(ctx, "acme/lab", d.request(lic(camera, 1)), nil)
	wantErr(t, err, authority.ErrUnavailable) // acme/lab has no cameras yet
	v.lot("acme/lab", camera, 3, codes.Perpetual, 0, 0, false)
	a, err := v.l.Reserve(ctx, "acme/lab", d.request(lic(camera, 1)), nil)
	v.must(err)
	_, err = v.l.AddSatellite(ctx, "plant-sat", s.trust, []string{"acme/plant", "acme/lab"})
	wantErr(t, err, authority.ErrActive)
	if ss, err := v.l.Satellites(ctx); err != nil || len(ss) != 0 {
		t.Fatalf("a refused registration left %d satellites (%v)", len(ss), err)
	}
	if _, err := v.l.AddSatellite(ctx, "plant-sat", s.trust, []string{"acme/plant"}); err != nil {
		t.Fatal(err)
	}
	_, err = v.l.AddSatellite(ctx, "plant-sat", s.trust, []string{"globex/hq"})
	wantErr(t, err, authority.ErrExists)
	other := newSite(t, v, "lab-sat")
	_, err = v.l.AddSatellite(ctx, "lab-sat", other.trust, []string{"acme/plant"})
	wantErr(t, err, authority.ErrDelegated)
	_, err = v.l.AddSatellite(ctx, "lab-sat", s.trust, []string{"globex/hq"})
	wantErr(t, err, authority.ErrExists) // plant-sat's key
	v.must(v.l.DelegateToSatellite(ctx, "plant-sat", []string{"globex/hq"}))
	v.verify()

	// The satellite mirrors both; the vendor takes acme/plant back; the
	// satellite's lots of it go to zero, then come back when delegated
	// again.
	syncByFiles(t, v, s)
	s.wantBalance("acme/plant", camera, 25, 25, 0, 0)
	back, err := v.l.RemoveSatellite(ctx, "plant-sat", []string{"acme/plant"})
	v.must(err)
	if len(back) != 1 || back[0] != "acme/plant" {
		t.Fatalf("taken back %v", back)
	}
	w := v.device("cam-w")
	aw, err := v.l.Reserve(ctx, "acme/plant", w.request(lic(camera, 1)), nil)
	if err != nil {
		t.Fatalf("the vendor reserves from an account taken back: %v", err)
	}
	v.verify()
	syncByFiles(t, v, s)
	s.wantBalance("acme/plant", camera, 0, 0, 0, 0)
	_, err = s.l.Reserve(ctx, "acme/plant", s.device("cam-1").request(lic(camera, 1)), nil)
	wantErr(t, err, authority.ErrUnavailable)
	info, err := v.l.SatelliteInfo(ctx, "plant-sat")
	v.must(err)
	if len(info.Accounts) != 1 || info.Accounts[0].Account != "globex/hq" || info.Syncs != 2 {
		t.Fatalf("info %+v", info)
	}
	// Delegated again once the vendor's instance returned: the satellite's
	// lots come back to the vendor's counts.
	err = v.l.DelegateToSatellite(ctx, "plant-sat", []string{"acme/plant"})
	wantErr(t, err, authority.ErrActive)
	if _, err := v.l.Return(ctx, w.ret(resBytes(aw), 1, true)); err != nil {
		t.Fatal(err)
	}
	v.must(v.l.DelegateToSatellite(ctx, "plant-sat", []string{"acme/plant"}))
	syncByFiles(t, v, s)
	s.wantBalance("acme/plant", camera, 25, 25, 0, 0)

	// Removing the satellite takes the rest back; its syncs are refused.
	ex, err := s.l.ExportSync(ctx)
	v.must(err)
	if _, err := v.l.RemoveSatellite(ctx, "plant-sat", nil); err != nil {
		t.Fatal(err)
	}
	_, err = v.l.AnswerSync(ctx, ex.Code)
	wantErr(t, err, authority.ErrNotFound)
	v.verify()
	s.verify()
	if _, err := v.l.Return(ctx, d.ret(resBytes(a), 1, true)); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyDetectsSyncTampering: edits of the satellite tables, on
// either side, outside the ledger fail verify.
func TestVerifyDetectsSyncTampering(t *testing.T) {
	type side int
	const (
		vendorSide side = iota
		siteSide
	)
	for _, tc := range []struct {
		name  string
		on    side
		stmts []string
		want  string
	}{
		{"lot held at the vendor while delegated", vendorSide, []string{`UPDATE lots SET held = 1 WHERE id = (SELECT MIN(id) FROM lots)`}, "records 1 held"},
		{"satellite swapped", vendorSide, nil, "is not the satellite its history event recorded"},
		{"sync answered outside the ledger", vendorSide, []string{`UPDATE satellite_syncs SET answer_hash = x'00'`}, "is not in the history"},
		{"sync request edited", vendorSide, []string{`UPDATE satellite_syncs SET request = request || x'00'`}, "does not match its hash"},
		{"delegated to a removed satellite", vendorSide, []string{`UPDATE satellites SET removed_at = 1`}, "which is removed"},
		{"lot grown on the satellite", siteSide, []string{`UPDATE synced_lots SET shrunk = shrunk + 1 WHERE lot_id = (SELECT MIN(lot_id) FROM synced_lots)`}, "were transferred out"},
		{"local lot on the satellite", siteSide, []string{`DELETE FROM synced_lots WHERE lot_id = (SELECT MIN(lot_id) FROM synced_lots)`}, "mirrors no lot of its vendor"},
		{"sync import forged", siteSide, []string{`UPDATE sync_imports SET hash = x'00'`}, "answers no request made, or is not in the history"},
		{"vendor's trust swapped", siteSide, []string{`UPDATE satellite_self SET vendor_trust = x'00'`}, "does not open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newEnv(t)
			v.setup()
			s := newSite(t, v, "plant-sat")
			if _, err := v.l.AddSatellite(ctx, "plant-sat", s.trust, []string{"acme/plant"}); err != nil {
				t.Fatal(err)
			}
			syncByFiles(t, v, s)
			e := v
			if tc.on == siteSide {
				e = s.env
			}
			if tc.name == "satellite swapped" {
				tc.stmts = []string{`UPDATE satellites SET trust = x'` + impostorTrustHex(t) + `'`}
			}
			e.tamper(tc.stmts...)
			_, err := e.l.Verify(ctx)
			wantErr(t, err, authority.ErrCorrupt)
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %q, want %q", err, tc.want)
			}
		})
	}
}

// impostorTrustHex returns, in hex, the trust file of a key the vendor
// never registered: a satellite swapped in the ledger file.
func impostorTrustHex(t testing.TB) string {
	t.Helper()
	k, _ := satelliteKey(t, "impostor")
	code, err := codes.SignTrustSet(&codes.TrustSet{Sequence: 1, Keys: []codes.AuthorityPublicKey{k.Public}, IssuedAt: t0.Unix()}, k)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", code)
}

// TestSyncAcrossKeyRotations: after the vendor rotates its key, the
// satellite imports answers signed with the new one once it installed
// the vendor's trust update; after the satellite rotates its own, the
// vendor answers once it installed the satellite's. A trust update not
// signed by a known key is refused and changes nothing.
func TestSyncAcrossKeyRotations(t *testing.T) {
	v := newEnv(t)
	v.setup()
	s := newSite(t, v, "plant-sat")
	if _, err := v.l.AddSatellite(ctx, "plant-sat", s.trust, []string{"acme/plant"}); err != nil {
		t.Fatal(err)
	}
	syncByFiles(t, v, s)

	// The vendor rotates.
	v.clk.add(time.Hour)
	newVendorKey, _ := satelliteKey(t, "vendor's next key")
	rot, err := authority.RotateKey(v.f.Trust, v.f.Authority, newVendorKey, v.clk.Now())
	v.must(err)
	opts := v.opts
	opts.Keys = []*codes.AuthorityKey{newVendorKey, v.f.Authority}
	vendor2 := authority.New(v.st, opts)
	ex, err := s.l.ExportSync(ctx)
	s.must(err)
	ans, err := vendor2.AnswerSync(ctx, ex.Code)
	v.must(err)
	before := history(t, s.l)
	_, err = s.l.ImportSync(ctx, ans.Code)
	refusedUnchanged(t, s.l, before, err, codes.ErrUnknownKey)
	rogueKey, _ := satelliteKey(t, "rogue")
	forged, err := codes.SignTrustSet(&codes.TrustSet{Sequence: 9, Keys: []codes.AuthorityPublicKey{rogueKey.Public}, IssuedAt: v.clk.Now().Unix()}, rogueKey)
	s.must(err)
	_, err = s.l.UpdateVendorTrust(ctx, forged)
	refusedUnchanged(t, s.l, before, err, codes.ErrUnknownKey)
	if _, err := s.l.UpdateVendorTrust(ctx, rot.Update); err != nil {
		t.Fatal(err)
	}
	if _, err := s.l.ImportSync(ctx, ans.Code); err != nil {
		t.Fatalf("import after the vendor's trust update: %v", err)
	}
	s.verify()

	// The satellite rotates.
	v.clk.add(time.Hour)
	newSiteKey, _ := satelliteKey(t, "plant-sat's next key")
	srot, err := authority.RotateKey(trustOf(t, s.trust), s.key, newSiteKey, v.clk.Now())
	s.must(err)
	sopts := s.opts
	sopts.Keys = []*codes.AuthorityKey{newSiteKey, s.key}
	site2 := authority.New(s.st, sopts)
	ex, err = site2.ExportSync(ctx)
	s.must(err)
	before = history(t, v.l)
	_, err = vendor2.AnswerSync(ctx, ex.Code)
	refusedUnchanged(t, v.l, before, err, codes.ErrUnknownKey)
	_, err = v.l.UpdateSatelliteTrust(ctx, "plant-sat", forged)
	refusedUnchanged(t, v.l, before, err, codes.ErrUnknownKey)
	if _, err := v.l.UpdateSatelliteTrust(ctx, "plant-sat", srot.Update); err != nil {
		t.Fatal(err)
	}
	ans, err = vendor2.AnswerSync(ctx, ex.Code)
	if err != nil {
		t.Fatalf("answer after the satellite's trust update: %v", err)
	}
	if _, err := site2.ImportSync(ctx, ans.Code); err != nil {
		t.Fatal(err)
	}
	v.verify()
	s.verify()
}

// BenchmarkSyncByFiles measures one sync by files (export, answer,
// import) of a satellite holding 1,000 lots in 100 accounts, with 200
// reservations on it; each round the vendor shrinks one lot, so each
// import changes a count.
func BenchmarkSyncByFiles(b *testing.B) {
	v := newEnv(b)
	_, err := v.l.AddOrg(ctx, "acme")
	v.must(err)
	var accounts []string
	for i := range 100 {
		a, err := v.l.AddAccount(ctx, "acme", fmt.Sprintf("va%03d", i), -1)
		v.must(err)
		accounts = append(accounts, a.Ref())
		for j := range 10 {
			v.lot(a.Ref(), fmt.Sprintf("vms.feature.%02d", j), 1000, codes.Perpetual, 0, 0, false)
		}
	}
	s := newSite(b, v, "plant-sat")
	if _, err := v.l.AddSatellite(ctx, "plant-sat", s.trust, accounts); err != nil {
		b.Fatal(err)
	}
	syncByFiles(b, v, s)
	for i := range 200 {
		d := s.device(fmt.Sprintf("cam-%d", i))
		if _, err := s.l.Reserve(ctx, accounts[i%100], d.request(lic(fmt.Sprintf("vms.feature.%02d", i%10), 3)), nil); err != nil {
			b.Fatal(err)
		}
	}
	var reqSize, ansSize int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v.clk.add(time.Minute)
		b.StopTimer()
		if _, err := v.l.Transfer(ctx, accounts[0], accounts[1], "vms.feature.05", 1); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		ex, err := s.l.ExportSync(ctx)
		if err != nil {
			b.Fatal(err)
		}
		ans, err := v.l.AnswerSync(ctx, ex.Code)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.l.ImportSync(ctx, ans.Code); err != nil {
			b.Fatal(err)
		}
		reqSize, ansSize = len(ex.Code), len(ans.Code)
	}
	b.ReportMetric(float64(reqSize), "request-bytes")
	b.ReportMetric(float64(ansSize), "answer-bytes")
}

// TestSatelliteMirrorsExportControl: an account the vendor denies
// export-controlled licenses is denied them on the satellite from the next
// sync on, and allowed again by the sync after the vendor allows it.
func TestSatelliteMirrorsExportControl(t *testing.T) {
	v := newEnv(t)
	v.setup()
	s := newSite(t, v, "plant-sat")
	if _, err := v.l.AddSatellite(ctx, "plant-sat", s.trust, []string{"acme/plant"}); err != nil {
		t.Fatal(err)
	}
	v.must(v.l.SetExportAllowed(ctx, "acme/plant", false))
	v.clk.add(time.Hour)
	_, ans, _ := syncByFiles(t, v, s)
	if len(ans.Answer.Accounts) != 1 || !ans.Answer.Accounts[0].ExportDenied {
		t.Fatalf("the answer does not carry the denial: %+v", ans.Answer.Accounts)
	}
	d := s.device("cam-1")
	_, err := s.l.Reserve(ctx, "acme/plant", d.request(lic(analytics, 1)), nil)
	wantErr(t, err, authority.ErrUnavailable)
	if !strings.Contains(err.Error(), "export-controlled lots, which it may not hold") {
		t.Fatalf("the satellite reserved, or did not say why: %v", err)
	}
	h, err := s.l.History(ctx, authority.HistoryFilter{})
	s.must(err)
	if !slices.ContainsFunc(h, func(e authority.Event) bool {
		return strings.Contains(e.Detail, "denied, as the vendor's answer to sync request 1 says")
	}) {
		t.Fatal("the satellite's history does not record the mirrored denial")
	}

	v.must(v.l.SetExportAllowed(ctx, "acme/plant", true))
	v.clk.add(time.Hour)
	syncByFiles(t, v, s)
	a, err := s.l.Reserve(ctx, "acme/plant", d.request(lic(analytics, 1)), nil)
	s.must(err)
	if len(a.Licenses()) != 1 {
		t.Fatalf("reserved %v", a.Licenses())
	}
	s.verify()
}
