package instance

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/codes/api"
)

func TestExportOnlineGrantReturnAndRefusal(t *testing.T) {
	b, f, c := connectedBench(t)
	_, err := b.in.Register(ctx, c, "TK-PLANT", []codes.License{{Tag: tagCamera, Count: 2}})
	b.must(err)
	if b.in.Licensed(tagCrypto) {
		t.Fatal("export-controlled license before it was asked for")
	}
	res, err := b.in.RequestExport(ctx, c, tagCrypto, 2)
	b.must(err)
	if !res.Online || res.Answer == nil || !res.Answer.Confirmed || b.in.Available(tagCrypto) != 2 {
		t.Fatalf("export request %+v, %d available", res, b.in.Available(tagCrypto))
	}
	b.must(b.in.Acquire(tagCrypto, 1))

	// The service is down when the feature is given back: it is disabled
	// here at once, although the installed code still lists it, and the
	// agent gives it back when the service answers again.
	f.down.Store(true)
	res, err = b.in.ReturnExport(ctx, c, tagCrypto)
	wantErr(t, err, ErrUnreachable, api.PathExportReturn)
	if !res.Pending || res.Count != 2 {
		t.Fatalf("return %+v", res)
	}
	st, _ := b.in.Status()
	if !b.in.lists(t, tagCrypto) || b.in.Licensed(tagCrypto) || b.in.Available(tagCrypto) != 0 || entitlementActive(st, tagCrypto) {
		t.Fatal("the feature given back is still licensed")
	}
	wantErr(t, b.in.Acquire(tagCrypto, 1), ErrNotLicensed, "given back")
	if !b.open().Licensed(tagCamera) || b.open().Licensed(tagCrypto) {
		t.Fatal("the disabled feature is not persisted")
	}
	_, err = b.in.RequestExport(ctx, c, tagCrypto, 1)
	wantErr(t, err, ErrExportDisabled, "answer to the return")
	cs, _ := b.in.Connected()
	if len(cs.Exports) != 1 || !cs.Exports[0].Return || cs.Exports[0].Failures != 1 || len(cs.Disabled) != 1 {
		t.Fatalf("status %+v", cs)
	}
	f.down.Store(false)
	b.clock.add(2 * time.Minute)
	r, err := NewAgent(b.in, c).Tick(ctx)
	b.must(err)
	if len(r.Done) != 1 || r.Done[0].Job != JobExport || r.Done[0].Err != nil {
		t.Fatalf("tick %v", r.Done)
	}
	cs, _ = b.in.Connected()
	if len(cs.Exports) != 0 || len(cs.Disabled) != 0 || b.in.lists(t, tagCrypto) || f.accounts["acme/plant"][tagCrypto] != 5 {
		t.Fatalf("after the return: %+v, account %v", cs, f.accounts["acme/plant"])
	}
	// Asked for again: granted again.
	_, err = b.in.RequestExport(ctx, c, tagCrypto, 1)
	b.must(err)
	if !b.in.Licensed(tagCrypto) {
		t.Fatal("asked for again and not licensed")
	}

	// An account whose token does not allow them: refused with the reason,
	// kept until cancelled, never retried.
	_, err = b.in.Reregister(ctx, c, "TK-LAB", nil)
	b.must(err)
	_, err = b.in.RequestExport(ctx, c, tagCrypto, 1)
	wantErr(t, err, ErrExportRefused, "does not allow export-controlled")
	cs, _ = b.in.Connected()
	if len(cs.Exports) != 1 || cs.Exports[0].Refused == "" {
		t.Fatalf("status %+v", cs)
	}
	b.clock.add(time.Hour)
	r, err = NewAgent(b.in, c).Tick(ctx)
	b.must(err)
	for _, w := range r.Done {
		if w.Job == JobExport {
			t.Fatal("a refused export request was retried")
		}
	}
	got, err := b.in.CancelExport(tagCrypto)
	b.must(err)
	if len(got) != 1 || got[0].Tag != tagCrypto {
		t.Fatalf("cancelled %+v", got)
	}
	_, err = b.in.CancelExport(tagCrypto)
	wantErr(t, err, ErrNoExport)
}

func TestExportRequestRetriedUntilCancelled(t *testing.T) {
	b, f, c := connectedBench(t)
	_, err := b.in.Register(ctx, c, "TK-PLANT", []codes.License{{Tag: tagCamera, Count: 2}})
	b.must(err)
	f.down.Store(true)
	res, err := b.in.RequestExport(ctx, c, tagCrypto, 1)
	if !errors.Is(err, ErrUnreachable) || !res.Pending {
		t.Fatalf("%v %+v", err, res)
	}
	ag := NewAgent(b.in, c)
	tries := 0
	for range 10 {
		b.clock.add(time.Hour)
		r, err := ag.Tick(ctx)
		b.must(err)
		for _, w := range r.Done {
			if w.Job == JobExport {
				tries++
			}
		}
	}
	if tries == 0 {
		t.Fatal("the pending export request was not retried")
	}
	_, err = b.in.CancelExport("")
	b.must(err)
	f.down.Store(false)
	b.clock.add(time.Hour)
	r, err := ag.Tick(ctx)
	b.must(err)
	for _, w := range r.Done {
		if w.Job == JobExport {
			t.Fatal("retried after cancel")
		}
	}
	if b.in.Licensed(tagCrypto) {
		t.Fatal("granted after cancel")
	}
}

func TestExportOffline(t *testing.T) {
	b := newBench(t)
	_, err := b.in.RequestExport(ctx, &Client{}, tagCrypto, 1)
	wantErr(t, err, ErrNotReserved, "install one first")
	crypto := codes.Entitlement{Tag: tagCrypto, Count: 3, Kind: codes.Perpetual, ExportControlled: true}
	b.reserve(cameras(4), crypto)

	// Return: disabled first, and the code for the desk names the
	// installed reservation and serial.
	res, err := b.in.ReturnExport(ctx, &Client{}, tagCrypto)
	b.must(err)
	if res.Online || res.Count != 3 || b.in.Licensed(tagCrypto) || !b.in.Licensed(tagCamera) {
		t.Fatalf("offline return %+v", res)
	}
	xr, err := codes.OpenExportRequest(res.Code, b.pairwise())
	b.must(err)
	if !bytes.Equal(xr.Reservation, resA) || xr.Serial != 1 || xr.Tag != tagCrypto || xr.Count != 3 || !xr.Return {
		t.Fatalf("export request %+v", xr)
	}
	if _, err := codes.OpenExportRequest(res.Code, make([]byte, 32)); !errors.Is(err, codes.ErrBadSignature) {
		t.Fatalf("XR opened with another key: %v", err)
	}
	cs, _ := b.in.Connected()
	if len(cs.Exports) != 1 || !cs.Exports[0].Offline || !bytes.Equal(cs.Exports[0].Code, res.Code) {
		t.Fatalf("status %+v", cs)
	}
	// A newer code still listing the feature (an unrelated update) keeps
	// it disabled; the desk's answer without it ends the return.
	_, err = b.in.Install(b.sign(grant{serial: 2, ents: []codes.Entitlement{cameras(5), crypto}}))
	b.must(err)
	if b.in.Licensed(tagCrypto) {
		t.Fatal("an update listing the returned feature enabled it")
	}
	_, err = b.in.Install(b.sign(grant{serial: 3, ents: []codes.Entitlement{cameras(5)}}))
	b.must(err)

	// Asked for again, offline: a code for the desk; the answer listing
	// it enables it.
	res, err = b.in.RequestExport(ctx, &Client{}, tagCrypto, 2)
	b.must(err)
	xr, err = codes.OpenExportRequest(res.Code, b.pairwise())
	b.must(err)
	if xr.Return || xr.Serial != 3 || xr.Count != 2 {
		t.Fatalf("export request %+v", xr)
	}
	_, err = b.in.Install(b.sign(grant{serial: 4, ents: []codes.Entitlement{cameras(5), {Tag: tagCrypto, Count: 2, Kind: codes.Perpetual, ExportControlled: true}}}))
	b.must(err)
	if !b.in.Licensed(tagCrypto) || b.in.Available(tagCrypto) != 2 {
		t.Fatal("the desk's grant is not in force")
	}
	cs, _ = b.in.Connected()
	if len(cs.Disabled) != 0 {
		t.Fatalf("disabled %v", cs.Disabled)
	}
	// The answer settled the request: nothing waits for the desk.
	if len(cs.Exports) != 0 {
		t.Fatalf("answered offline export requests still wait: %+v", cs.Exports)
	}
	// Not export-controlled: nothing to give back this way.
	_, err = b.in.ReturnExport(ctx, &Client{}, tagCamera)
	wantErr(t, err, ErrNotExportControlled, "not export-controlled")
}

// lists reads whether the installed code lists tag.
func (in *Instance) lists(t *testing.T, tag string) bool {
	var out bool
	check(t, in.read(func(st *state, now time.Time) error { out = st.lists(tag); return nil }))
	return out
}

func entitlementActive(st *Status, tag string) bool {
	for _, e := range st.Entitlements {
		if e.Tag == tag && e.Active {
			return true
		}
	}
	return false
}
