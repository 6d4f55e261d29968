package authority_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

// reserved returns a device with a reservation of 10 cameras.
func (e *env) reserved(name string, want ...codes.License) (*device, *authority.Authorized) {
	e.t.Helper()
	if len(want) == 0 {
		want = []codes.License{lic(camera, 10)}
	}
	d := e.device(name)
	a, err := e.l.Reserve(ctx, "acme/plant", d.request(want...), nil)
	e.must(err)
	return d, a
}

func TestUpdateTakesIncreasesAtOnce(t *testing.T) {
	e := newEnv(t)
	e.setup()
	d, _ := e.reserved("cam-1")
	u, err := e.l.Update(ctx, d.udi.String(), []codes.License{lic(camera, 15), lic(analytics, 1)})
	e.must(err)
	got := e.install(d, u)
	if got.Serial != 2 || got.Nonce != nil || len(u.InTransition) != 0 {
		t.Fatalf("serial %d nonce %x in transition %v", got.Serial, got.Nonce, u.InTransition)
	}
	if fmt.Sprint(u.Licenses()) != fmt.Sprint([]codes.License{lic(camera, 15), lic(analytics, 1)}) {
		t.Fatalf("licenses %v", u.Licenses())
	}
	e.wantBalance("acme/plant", camera, 25, 10, 15, 0)
	e.wantBalance("acme/plant", analytics, 4, 3, 1, 0)
	_, err = e.l.Update(ctx, d.udi.String(), []codes.License{lic(camera, 26)})
	wantErr(t, err, authority.ErrUnavailable)
	e.verify()
}

func TestUpdateKeepsDecreasesInTransitionUntilConfirmed(t *testing.T) {
	e := newEnv(t)
	e.setup()
	d, a := e.reserved("cam-1")
	u, err := e.l.Update(ctx, "P:VMS,S:cam-1", []codes.License{lic(camera, 4)})
	e.must(err)
	if fmt.Sprint(u.InTransition) != fmt.Sprint([]codes.License{lic(camera, 6)}) {
		t.Fatalf("in transition %v", u.InTransition)
	}
	e.wantBalance("acme/plant", camera, 25, 15, 4, 6)
	sh, err := e.l.Show(ctx, d.udi.String())
	e.must(err)
	if sh.Reservation.Status != authority.StatusTransition {
		t.Fatalf("status %s", sh.Reservation.Status)
	}
	// Another device cannot take the licenses in transition.
	_, err = e.l.Reserve(ctx, "acme/plant", e.device("cam-2").request(lic(camera, 16)), nil)
	wantErr(t, err, authority.ErrUnavailable)
	c, err := e.l.Confirm(ctx, d.confirm(resBytes(a), 2))
	e.must(err)
	if c.Again || c.Superseded() || fmt.Sprint(c.Released) != fmt.Sprint([]codes.License{lic(camera, 6)}) {
		t.Fatalf("confirm %+v", c)
	}
	e.wantBalance("acme/plant", camera, 25, 21, 4, 0)
	// T14: the same confirmation again changes nothing.
	c, err = e.l.Confirm(ctx, d.confirm(resBytes(a), 2))
	e.must(err)
	if !c.Again {
		t.Fatal("a replayed confirmation was applied again")
	}
	e.wantBalance("acme/plant", camera, 25, 21, 4, 0)
	sh, err = e.l.Show(ctx, d.udi.String())
	e.must(err)
	if sh.Reservation.Status != authority.StatusInstalled || sh.Reservation.Confirmed != 2 {
		t.Fatalf("status %s confirmed %d", sh.Reservation.Status, sh.Reservation.Confirmed)
	}
	e.verify()
}

func TestNewerUpdateSupersedesAnUnconfirmedOne(t *testing.T) {
	e := newEnv(t)
	e.setup()
	d, a := e.reserved("cam-1")                                                // serial 1: 10
	_, err := e.l.Update(ctx, d.udi.String(), []codes.License{lic(camera, 4)}) // serial 2: 4, 6 in transition
	e.must(err)
	e.wantBalance("acme/plant", camera, 25, 15, 4, 6)
	// Serial 3 takes 12 before serial 2 is confirmed: the instance may run
	// serial 1 (10), 2 (4) or 3 (12), so 12 are held.
	u, err := e.l.Update(ctx, d.udi.String(), []codes.License{lic(camera, 12)})
	e.must(err)
	if len(u.InTransition) != 0 {
		t.Fatalf("in transition %v", u.InTransition)
	}
	e.wantBalance("acme/plant", camera, 25, 13, 12, 0)
	// Serial 4 goes down to 2: 10 in transition (the most of serials 1-3).
	u, err = e.l.Update(ctx, d.udi.String(), []codes.License{lic(camera, 2)})
	e.must(err)
	e.wantBalance("acme/plant", camera, 25, 13, 2, 10)
	// The instance installed serial 2 (a code superseded since): it left
	// serial 1, but may still install 3 and 4: 12 stay held.
	c, err := e.l.Confirm(ctx, d.confirm(resBytes(a), 2))
	e.must(err)
	if !c.Superseded() || c.Latest != 4 || len(c.Released) != 0 || fmt.Sprint(c.InTransition) != fmt.Sprint([]codes.License{lic(camera, 10)}) {
		t.Fatalf("confirm of a superseded serial: %+v", c)
	}
	e.wantBalance("acme/plant", camera, 25, 13, 2, 10)
	// It installed serial 3: only 3 and 4 count now.
	c, err = e.l.Confirm(ctx, d.confirm(resBytes(a), 3))
	e.must(err)
	e.wantBalance("acme/plant", camera, 25, 13, 2, 10)
	// An older confirmation after a newer one changes nothing.
	c, err = e.l.Confirm(ctx, d.confirm(resBytes(a), 1))
	e.must(err)
	if !c.Again {
		t.Fatal("a confirmation older than the confirmed serial was applied")
	}
	c, err = e.l.Confirm(ctx, d.confirm(resBytes(a), 4))
	e.must(err)
	if fmt.Sprint(c.Released) != fmt.Sprint([]codes.License{lic(camera, 10)}) {
		t.Fatalf("released %v", c.Released)
	}
	e.wantBalance("acme/plant", camera, 25, 23, 2, 0)
	_, err = e.l.Confirm(ctx, d.confirm(resBytes(a), 5))
	wantErr(t, err, authority.ErrStale)
	e.verify()
}

func TestUpdateAddsAndDropsTags(t *testing.T) {
	e := newEnv(t)
	e.setup()
	d, a := e.reserved("cam-1", lic(camera, 3), lic(analytics, 2))
	u, err := e.l.Update(ctx, d.udi.String(), []codes.License{lic(analytics, 0)})
	e.must(err)
	if fmt.Sprint(u.Licenses()) != fmt.Sprint([]codes.License{lic(camera, 3)}) || fmt.Sprint(u.InTransition) != fmt.Sprint([]codes.License{lic(analytics, 2)}) {
		t.Fatalf("licenses %v in transition %v", u.Licenses(), u.InTransition)
	}
	// Putting one back uses the room the reservation still holds; the
	// other stays in transition while serial 1 may still run.
	u, err = e.l.Update(ctx, d.udi.String(), []codes.License{lic(analytics, 1)})
	e.must(err)
	if fmt.Sprint(u.InTransition) != fmt.Sprint([]codes.License{lic(analytics, 1)}) {
		t.Fatalf("in transition %v", u.InTransition)
	}
	e.wantBalance("acme/plant", analytics, 4, 2, 1, 1)
	_, err = e.l.Update(ctx, d.udi.String(), []codes.License{lic(camera, 0), lic(analytics, 0)})
	wantErr(t, err, authority.ErrInvalid)
	_, err = e.l.Update(ctx, d.udi.String(), []codes.License{lic(camera, 3)})
	wantErr(t, err, authority.ErrInvalid)
	_, err = e.l.Update(ctx, d.udi.String(), []codes.License{lic("vms.none", 0)})
	wantErr(t, err, authority.ErrInvalid)
	_, err = e.l.Update(ctx, "P:VMS,S:nobody", []codes.License{lic(camera, 1)})
	wantErr(t, err, authority.ErrNotFound)
	_, err = e.l.Return(ctx, d.ret(resBytes(a), 1, false))
	e.must(err)
	_, err = e.l.Update(ctx, d.udi.String(), []codes.License{lic(camera, 1)})
	wantErr(t, err, authority.ErrNotFound)
	e.verify()
}

func TestReturnReleasesEverythingIncludingTransition(t *testing.T) {
	e := newEnv(t)
	e.setup()
	d, a := e.reserved("cam-1", lic(camera, 10), lic(analytics, 2))
	_, err := e.l.Update(ctx, d.udi.String(), []codes.License{lic(camera, 4)})
	e.must(err)
	r, err := e.l.Return(ctx, d.ret(resBytes(a), 2, false))
	e.must(err)
	if fmt.Sprint(r.Released) != fmt.Sprint([]codes.License{lic(analytics, 2), lic(camera, 10)}) {
		t.Fatalf("released %v", r.Released)
	}
	e.wantBalance("acme/plant", camera, 25, 25, 0, 0)
	e.wantBalance("acme/plant", analytics, 4, 4, 0, 0)
	// T04: the same return again is harmless and says so.
	r, err = e.l.Return(ctx, d.ret(resBytes(a), 2, false))
	e.must(err)
	if !r.Again || !strings.Contains(r.Note, "was applied") {
		t.Fatalf("replayed return: %+v", r)
	}
	// Another return for the closed reservation is refused.
	_, err = e.l.Return(ctx, d.ret(resBytes(a), 1, false))
	wantErr(t, err, authority.ErrClosed)
	_, err = e.l.Confirm(ctx, d.confirm(resBytes(a), 2))
	wantErr(t, err, authority.ErrClosed)
	e.wantBalance("acme/plant", camera, 25, 25, 0, 0)
	sh, err := e.l.Show(ctx, d.udi.String())
	e.must(err)
	if sh.State != authority.InstanceReturned || sh.Reservation.Status != authority.StatusReturned {
		t.Fatalf("state %s, reservation %s", sh.State, sh.Reservation.Status)
	}
	// The instance may reserve again.
	_, err = e.l.Reserve(ctx, "acme/plant", d.request(lic(camera, 1)), nil)
	e.must(err)
	e.verify()
}

func TestReturnRuleForSerials(t *testing.T) {
	e := newEnv(t)
	e.setup()
	// A code never installed, before any update: released.
	d, a := e.reserved("cam-1")
	r, err := e.l.Return(ctx, d.ret(resBytes(a), 1, true))
	e.must(err)
	if len(r.Released) != 1 {
		t.Fatalf("released %v", r.Released)
	}
	// After an update, a never-installed return is refused: the instance
	// may run serial 1.
	d, a = e.reserved("cam-2")
	_, err = e.l.Update(ctx, d.udi.String(), []codes.License{lic(camera, 5)})
	e.must(err)
	_, err = e.l.Return(ctx, d.ret(resBytes(a), 2, true))
	wantErr(t, err, authority.ErrStale)
	// A serial never issued is refused.
	_, err = e.l.Return(ctx, d.ret(resBytes(a), 3, false))
	wantErr(t, err, authority.ErrStale)
	// T05: serial 2 is confirmed, so a return of serial 1 comes from an
	// older state.
	_, err = e.l.Confirm(ctx, d.confirm(resBytes(a), 2))
	e.must(err)
	_, err = e.l.Return(ctx, d.ret(resBytes(a), 1, false))
	wantErr(t, err, authority.ErrStale)
	e.wantBalance("acme/plant", camera, 25, 20, 5, 0)
	// Serial 3 issued, 2 confirmed: the instance may return 2 or 3.
	_, err = e.l.Update(ctx, d.udi.String(), []codes.License{lic(camera, 6)})
	e.must(err)
	_, err = e.l.Return(ctx, d.ret(resBytes(a), 2, false))
	e.must(err)
	e.wantBalance("acme/plant", camera, 25, 25, 0, 0)
	e.verify()
}

func TestReturnRefusesForgedAndUnknownCodes(t *testing.T) {
	e := newEnv(t)
	e.setup()
	d, a := e.reserved("cam-1")
	// MACed by another instance: the pinned key decides.
	other := e.device("cam-2")
	_, err := e.l.Return(ctx, other.ret(resBytes(a), 1, false))
	wantErr(t, err, codes.ErrBadSignature)
	_, err = e.l.Confirm(ctx, other.confirm(resBytes(a), 1))
	wantErr(t, err, codes.ErrBadSignature)
	// A reservation this ledger never issued.
	_, err = e.l.Return(ctx, d.ret([]byte{1, 2, 3, 4}, 1, false))
	wantErr(t, err, authority.ErrNotFound)
	// T15: a confirmation is no return.
	_, err = e.l.Return(ctx, d.confirm(resBytes(a), 1))
	if err == nil {
		t.Fatal("a confirmation was taken as a return")
	}
	e.wantBalance("acme/plant", camera, 25, 15, 10, 0)
	e.verify()
}

func TestRemoveReleasesAndCountsTowardsTheLimit(t *testing.T) {
	e := newEnv(t)
	e.setup()
	e.must(e.l.SetRemovalLimit(ctx, "acme/plant", 2))
	var devs []*device
	for i := range 3 {
		d, _ := e.reserved(fmt.Sprint("cam-", i), lic(camera, 5))
		devs = append(devs, d)
	}
	_, err := e.l.Remove(ctx, devs[0].udi.String(), "  ")
	wantErr(t, err, authority.ErrInvalid)
	r, err := e.l.Remove(ctx, devs[0].udi.String(), "power supply burnt")
	e.must(err)
	if r.Removals != 1 || r.Limit != 2 || fmt.Sprint(r.Released) != fmt.Sprint([]codes.License{lic(camera, 5)}) {
		t.Fatalf("remove %+v", r)
	}
	_, err = e.l.Remove(ctx, devs[1].udi.String(), "RMA 4711")
	e.must(err)
	_, err = e.l.Remove(ctx, devs[2].udi.String(), "RMA 4712")
	wantErr(t, err, authority.ErrRemovalLimit)
	if !strings.Contains(err.Error(), "removed 2 instances without a return in the last 365 days, the limit is 2") {
		t.Fatalf("message %q", err)
	}
	// An instance holding nothing does not count.
	d3, a3 := e.reserved("cam-3", lic(camera, 1))
	_, err = e.l.Return(ctx, d3.ret(resBytes(a3), 1, false))
	e.must(err)
	r, err = e.l.Remove(ctx, d3.udi.String(), "decommissioned")
	e.must(err)
	if r.Reservation != "" {
		t.Fatalf("removed %+v", r)
	}
	// A year later the window has moved on.
	e.clk.add(366 * 24 * time.Hour)
	_, err = e.l.Remove(ctx, devs[2].udi.String(), "RMA 4712")
	e.must(err)
	e.wantBalance("acme/plant", camera, 25, 25, 0, 0)
	// A removed instance's codes are void.
	_, err = e.l.Remove(ctx, devs[2].udi.String(), "again")
	wantErr(t, err, authority.ErrNotFound)
	sh, err := e.l.Show(ctx, devs[0].udi.String())
	e.must(err)
	if sh.State != authority.InstanceRemoved || sh.RemovalReason != "power supply burnt" {
		t.Fatalf("show %+v", sh.Instance)
	}
	e.verify()
}

func TestTransferStaysInsideTheOrganization(t *testing.T) {
	e := newEnv(t)
	e.setup()
	e.reserved("cam-1", lic(camera, 20))
	_, err := e.l.Transfer(ctx, "acme/plant", "globex/hq", camera, 1)
	wantErr(t, err, authority.ErrCrossOrg)
	_, err = e.l.Transfer(ctx, "acme/plant", "acme/lab", camera, 6)
	wantErr(t, err, authority.ErrUnavailable)
	if !strings.Contains(err.Error(), `has 5 of "vms.camera.core" available, asked to transfer 6`) {
		t.Fatalf("message %q", err)
	}
	lots, err := e.l.Transfer(ctx, "acme/plant", "acme/lab", analytics, 3)
	e.must(err)
	if len(lots) != 1 || !lots[0].ExportControlled || lots[0].Kind != codes.Term || lots[0].End != day("2026-01-01") {
		t.Fatalf("new lots %+v", lots)
	}
	e.wantBalance("acme/plant", analytics, 1, 1, 0, 0)
	e.wantBalance("acme/lab", analytics, 3, 3, 0, 0)
	a, err := e.l.Reserve(ctx, "acme/lab", e.device("lab-1").request(lic(analytics, 3)), nil)
	e.must(err)
	if en := a.Authorization.Entitlements[0]; !en.ExportControlled || en.Kind != codes.Term {
		t.Fatalf("entitlement %+v", en)
	}
	_, err = e.l.Transfer(ctx, "acme/plant", "acme/plant", camera, 1)
	wantErr(t, err, authority.ErrInvalid)
	e.verify()
}

func TestAccountsAndLotsRefuseBadInput(t *testing.T) {
	e := newEnv(t)
	e.setup()
	_, err := e.l.AddOrg(ctx, "acme")
	wantErr(t, err, authority.ErrExists)
	_, err = e.l.AddOrg(ctx, "a/b")
	wantErr(t, err, authority.ErrInvalid)
	_, err = e.l.AddAccount(ctx, "nobody", "x", -1)
	wantErr(t, err, authority.ErrNotFound)
	_, err = e.l.AddAccount(ctx, "acme", "plant", -1)
	wantErr(t, err, authority.ErrExists)
	for _, s := range []authority.LotSpec{
		{Account: "acme/plant", Tag: camera, Count: 0},
		{Account: "acme/plant", Tag: "has space", Count: 1},
		{Account: "acme/plant", Tag: camera, Count: 1, Kind: codes.Term},
		{Account: "acme/plant", Tag: camera, Count: 1, Kind: codes.Term, Start: day("2026-01-01"), End: day("2025-01-01")},
		{Account: "acme/plant", Tag: camera, Count: 1, Start: day("2025-01-01"), End: day("2026-01-01")},
	} {
		_, err := e.l.AddLot(ctx, s)
		wantErr(t, err, authority.ErrInvalid)
	}
	_, err = e.l.AddLot(ctx, authority.LotSpec{Account: "acme/none", Tag: camera, Count: 1})
	wantErr(t, err, authority.ErrNotFound)
	e.verify()
}

func TestSystemImportAndReserveBindsHardwareToComponents(t *testing.T) {
	e := newEnv(t)
	e.setup()
	d := e.device("plant-4")
	sys := &codes.System{
		UDI: d.udi, Name: "plant 4 VMS", IssuedAt: t0.Unix() - 60, Nonce: []byte{9, 9, 9, 9, 9, 9, 9, 9},
		Components: []codes.Component{{ID: "SN-1", Model: "Camera X1", Tag: hwTag}, {ID: "SN-2", Model: "Camera X1", Tag: hwTag}, {ID: "SN-3", Model: "Recorder"}},
		Demand:     []codes.License{lic(camera, 3)},
	}
	code, err := codes.SealSystem(sys, d.key, d.auth)
	e.must(err)
	im, err := e.l.ImportSystem(ctx, "acme/plant", code)
	e.must(err)
	if im.Again || im.System.Name != "plant 4 VMS" {
		t.Fatalf("import %+v", im)
	}
	im, err = e.l.ImportSystem(ctx, "acme/plant", code)
	e.must(err)
	if !im.Again {
		t.Fatal("the same description imported twice")
	}
	a, err := e.l.ReserveSystem(ctx, "plant 4 VMS", "", nil)
	e.must(err)
	got := e.install(d, a)
	if !bytes.Equal(got.Nonce, sys.Nonce) {
		t.Fatalf("nonce %x", got.Nonce)
	}
	want := []codes.Entitlement{
		{Tag: camera, Count: 3, Kind: codes.Perpetual},
		{Tag: hwTag, Count: 1, Kind: codes.Hardware, Component: "SN-1"},
		{Tag: hwTag, Count: 1, Kind: codes.Hardware, Component: "SN-2"},
	}
	if fmt.Sprint(got.Entitlements) != fmt.Sprint(want) {
		t.Fatalf("entitlements %v", got.Entitlements)
	}
	again, err := e.l.ReserveSystem(ctx, "plant 4 VMS", "acme/plant", nil)
	e.must(err)
	if !again.Again || !bytes.Equal(again.Code, a.Code) {
		t.Fatal("the system was not answered with the stored code")
	}
	e.wantBalance("acme/plant", hwTag, 2, 0, 2, 0)
	// Hardware-bound lines stay as they are through an update.
	u, err := e.l.Update(ctx, d.udi.String(), []codes.License{lic(camera, 1)})
	e.must(err)
	if len(u.Authorization.Entitlements) != 3 {
		t.Fatalf("update entitlements %v", u.Authorization.Entitlements)
	}
	_, err = e.l.Update(ctx, d.udi.String(), []codes.License{lic(hwTag, 1)})
	wantErr(t, err, authority.ErrInvalid)
	// A plain request cannot take hardware-bound licenses.
	_, err = e.l.Reserve(ctx, "acme/plant", e.device("cam-9").request(lic(hwTag, 1)), nil)
	wantErr(t, err, authority.ErrUnavailable)
	_, err = e.l.ReserveSystem(ctx, "no such system", "", nil)
	wantErr(t, err, authority.ErrNotFound)
	// Another key for the same UDI is refused at import too.
	other := e.device("impostor")
	sys.InstanceKey = nil
	code2, err := codes.SealSystem(sys, other.key, other.auth)
	e.must(err)
	_, err = e.l.ImportSystem(ctx, "acme/plant", code2)
	wantErr(t, err, authority.ErrKeyMismatch)
	e.verify()
}

// TestReserveInAnotherOrganizationNamesNeither: an instance returned in
// acme reserves in globex; the reservation's event, which globex reads,
// says it came from another organization without naming acme's account,
// and a move inside acme still names the account it left.
func TestReserveInAnotherOrganizationNamesNeither(t *testing.T) {
	e := newEnv(t)
	e.setup()
	e.lot("globex/hq", camera, 5, codes.Perpetual, 0, 0, false)
	e.lot("acme/lab", camera, 5, codes.Perpetual, 0, 0, false)
	d, a := e.reserved("cam-1", lic(camera, 2))
	_, err := e.l.Return(ctx, d.ret(resBytes(a), 1, false))
	e.must(err)
	a, err = e.l.Reserve(ctx, "acme/lab", d.request(lic(camera, 1)), nil)
	e.must(err)
	_, err = e.l.Return(ctx, d.ret(resBytes(a), 1, false))
	e.must(err)
	_, err = e.l.Reserve(ctx, "globex/hq", d.request(lic(camera, 1)), nil)
	e.must(err)
	evs, err := e.l.History(ctx, authority.HistoryFilter{Instance: d.udi.String()})
	e.must(err)
	var inside, across bool
	for _, ev := range evs {
		if ev.Action != "reserve" {
			continue
		}
		inside = inside || ev.Account == "acme/lab" && strings.Contains(ev.Detail, `instance moved from "acme/plant"`)
		across = across || ev.Account == "globex/hq" && strings.Contains(ev.Detail, "instance moved from another organization")
		if ev.Account == "globex/hq" && strings.Contains(ev.Detail, "acme") {
			t.Errorf("globex's event names acme: %s", ev.Detail)
		}
	}
	if !inside || !across {
		t.Fatalf("moves noted inside %v, across %v: %+v", inside, across, evs)
	}
	e.verify()
}
