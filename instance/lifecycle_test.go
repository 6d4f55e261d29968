package instance

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/airlock-dev/airlock/codes"
)

func TestInitStartsTheEvaluation(t *testing.T) {
	b := newBench(t)
	st, err := b.in.Status()
	b.must(err)
	if st.Mode != ModeEvaluation {
		t.Errorf("mode %s, want evaluation", st.Mode)
	}
	if want := t0.Add(EvaluationPeriod); !st.EvaluationEnd.Equal(want) {
		t.Errorf("evaluation ends %s, want %s", st.EvaluationEnd, want)
	}
	if !b.in.Licensed("anything.at.all") || b.in.Available(tagCamera) != Unlimited {
		t.Error("the evaluation does not license every tag")
	}
	if !st.UDI.Equal(b.f.UDI) || !bytes.Equal(st.KeyHash, codes.InstanceKeyHash(b.in.PublicKey())) {
		t.Errorf("status names %s, key %x", st.UDI, st.KeyHash)
	}
	if st.AuthorityKey == nil || *st.AuthorityKey != b.f.Authority.ID() {
		t.Errorf("requests would be made for key %v, want %s", st.AuthorityKey, b.f.Authority.ID())
	}
	for name, want := range map[string]os.FileMode{"": 0o700, stateName: 0o600, lockName: 0o600} {
		fi, err := os.Stat(filepath.Join(b.dir, name))
		b.must(err)
		if fi.Mode().Perm() != want {
			t.Errorf("%q has mode %v, want %v", name, fi.Mode().Perm(), want)
		}
	}
	j, err := b.in.Journal()
	b.must(err)
	if len(j) != 1 || j[0].Event != "init" {
		t.Errorf("journal %+v, want one init entry", j)
	}
}

func TestInitRefusesAnExistingState(t *testing.T) {
	b := newBench(t)
	_, err := Init(b.dir, b.f.UDI, trustSet(t))
	wantErr(t, err, ErrExists, b.dir)
}

func TestOpenRefusesAFolderOthersMayWrite(t *testing.T) {
	b := newBench(t)
	b.must(os.Chmod(b.dir, 0o770))
	_, err := Open(b.dir)
	wantErr(t, err, ErrPermissions, "mode 0770", "chmod 700 "+b.dir)
	_, err = Init(filepath.Join(b.dir, "x"), b.f.UDI, trustSet(t))
	if err != nil {
		t.Fatalf("a new folder inside: %v", err)
	}
}

func TestOpenWithoutStateSaysInit(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(dir)
	wantErr(t, err, ErrNotInitialized, dir, "init")
	_, err = Open(filepath.Join(dir, "nowhere"))
	wantErr(t, err, ErrNotInitialized, "does not exist")
}

func TestReservationLifecycle(t *testing.T) {
	b := newBench(t)
	b.must(b.in.Enable())
	if m := b.mode(); m != ModeEnabled {
		t.Fatalf("after enable: %s", m)
	}
	nonce := b.request(codes.License{Tag: tagCamera, Count: 10})
	if m := b.mode(); m != ModeReserving {
		t.Fatalf("after request: %s", m)
	}

	first := b.sign(grant{nonce: nonce, ents: []codes.Entitlement{cameras(10)}})
	got, err := b.in.Install(first)
	b.must(err)
	if got.Update || got.Confirmation != nil || got.Again {
		t.Errorf("first install: %+v", got)
	}
	if m := b.mode(); m != ModeReserved {
		t.Fatalf("after install: %s", m)
	}
	if !b.in.Licensed(tagCamera) || b.in.Licensed(tagAnalytics) || b.in.Available(tagCamera) != 10 {
		t.Errorf("reserved: licensed %v/%v, available %d", b.in.Licensed(tagCamera), b.in.Licensed(tagAnalytics), b.in.Available(tagCamera))
	}

	// An update: serial 2, in armored form, with its confirmation code.
	b.clock.add(day)
	update := b.sign(grant{serial: 2, ents: []codes.Entitlement{cameras(4), analytics(2, t0, t0.Add(365*day))}})
	got, err = b.in.Install(codes.EncodeArmor(codes.KindAuthorization, update))
	b.must(err)
	if !got.Update || got.PreviousSerial != 1 || got.Authorization.Serial != 2 {
		t.Errorf("update: %+v", got)
	}
	c, err := codes.OpenConfirmation(got.Confirmation, b.pairwise())
	b.must(err)
	if !bytes.Equal(c.Reservation, resA) || c.Serial != 2 {
		t.Errorf("confirmation of %x serial %d", c.Reservation, c.Serial)
	}
	if b.in.Available(tagCamera) != 4 || !b.in.Licensed(tagAnalytics) {
		t.Errorf("after the update: %d cameras, analytics %v", b.in.Available(tagCamera), b.in.Licensed(tagAnalytics))
	}

	// Return: the code is destroyed, the return code verifies.
	ret, err := b.in.Return()
	b.must(err)
	r, err := codes.OpenReturn(ret.Code, b.pairwise())
	b.must(err)
	if !bytes.Equal(r.Reservation, resA) || r.Serial != 2 || r.NeverInstalled || ret.Again {
		t.Errorf("return of %x serial %d never=%v again=%v", r.Reservation, r.Serial, r.NeverInstalled, ret.Again)
	}
	if m := b.mode(); m != ModeEnabled {
		t.Fatalf("after return: %s", m)
	}
	again, err := b.in.Return()
	b.must(err)
	if !again.Again || !bytes.Equal(again.Code, ret.Code) {
		t.Errorf("return again: %+v, want the same code", again)
	}

	b.must(b.in.Disable())
	if m := b.mode(); m != ModeEvaluation {
		t.Fatalf("after disable: %s", m)
	}
	j, err := b.in.Journal()
	b.must(err)
	var events []string
	for _, e := range j {
		events = append(events, e.Event)
	}
	want := "init enable request install update return disable"
	if got := join(events); got != want {
		t.Errorf("journal %q, want %q", got, want)
	}
}

func join(ss []string) string {
	var b bytes.Buffer
	for i, s := range ss {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s)
	}
	return b.String()
}

func TestEnableTwiceChangesNothing(t *testing.T) {
	b := newBench(t)
	b.must(b.in.Enable())
	before := b.stateBytes()
	b.must(b.in.Enable())
	if !bytes.Equal(before, b.stateBytes()) {
		t.Error("a second enable wrote the state")
	}
}

func TestDisableIsRefusedWhileReserved(t *testing.T) {
	b := newBench(t)
	b.reserve(cameras(1))
	wantErr(t, b.in.Disable(), ErrReservationInstalled, "0a1b2c3d serial 1", "return it first")
}

func TestDisableCancelsPendingRequests(t *testing.T) {
	b := newBench(t)
	nonce := b.request()
	b.must(b.in.Disable())
	if m := b.mode(); m != ModeEvaluation {
		t.Fatalf("mode %s", m)
	}
	b.must(b.in.Enable())
	_, err := b.in.Install(b.sign(grant{nonce: nonce}))
	wantErr(t, err, ErrNoPendingRequest)
}

func TestRequestNeedsReservationEnabled(t *testing.T) {
	b := newBench(t)
	_, err := b.in.Request(nil)
	wantErr(t, err, ErrNotEnabled, "enable")
}

func TestRequestIsRefusedWhileReserved(t *testing.T) {
	b := newBench(t)
	b.reserve(cameras(1))
	_, err := b.in.Request(nil)
	wantErr(t, err, ErrReservationInstalled, "update", "return")
}

func TestRequestRefusesBadLicenses(t *testing.T) {
	b := newBench(t)
	b.must(b.in.Enable())
	_, err := b.in.Request([]codes.License{{Tag: tagCamera, Count: 1}, {Tag: tagCamera, Count: 2}})
	wantErr(t, err, codes.ErrInvalid, "twice")
	if m := b.mode(); m != ModeEnabled {
		t.Errorf("a refused request left mode %s", m)
	}
}

func TestCancelWithoutRequestIsRefused(t *testing.T) {
	b := newBench(t)
	b.must(b.in.Enable())
	wantErr(t, b.in.Cancel(), ErrNoPendingRequest, "nothing to cancel")
}

func TestEachPendingRequestMayBeAnswered(t *testing.T) {
	b := newBench(t)
	first := b.request()
	second := b.request()
	if st, _ := b.in.Status(); len(st.Pending) != 2 {
		t.Fatalf("%d pending, want 2", len(st.Pending))
	}
	_, err := b.in.Install(b.sign(grant{nonce: first}))
	b.must(err)
	// The other request is consumed with it.
	_, err = b.in.Install(b.sign(grant{nonce: second, res: resB}))
	wantErr(t, err, ErrNoPendingRequest, "0a1b2c3d serial 1 is installed")
}

func TestInstallRefusesCodeAfterCancel(t *testing.T) {
	b := newBench(t)
	nonce := b.request()
	b.must(b.in.Cancel())
	if m := b.mode(); m != ModeEnabled {
		t.Fatalf("after cancel: %s", m)
	}
	_, err := b.in.Install(b.sign(grant{nonce: nonce}))
	wantErr(t, err, ErrNoPendingRequest, "not pending", "cancelled")
}

func TestInstallRefusesReturnedCode(t *testing.T) {
	b := newBench(t)
	code := b.reserve(cameras(3))
	_, err := b.in.Return()
	b.must(err)
	before := b.stateBytes()
	_, err = b.in.Install(code)
	wantErr(t, err, ErrReturned, "reservation 0a1b2c3d was returned", "never install again")
	if !bytes.Equal(before, b.stateBytes()) {
		t.Error("a refused install changed the state")
	}
	// Not even with a new request pending.
	nonce := b.request()
	_, err = b.in.Install(b.sign(grant{nonce: nonce}))
	wantErr(t, err, ErrReturned)
	// Once the evaluation is over, nothing of the returned reservation is
	// licensed.
	b.clock.add(EvaluationPeriod)
	if b.in.Licensed(tagCamera) || b.in.Available(tagCamera) != 0 {
		t.Error("returned licenses came back")
	}
}

func TestReinstallOfTheInstalledCodeIsIdempotent(t *testing.T) {
	b := newBench(t)
	b.reserve(cameras(3))
	update := b.sign(grant{serial: 4, ents: []codes.Entitlement{cameras(5)}})
	first, err := b.in.Install(update)
	b.must(err)
	before := b.stateBytes()
	again, err := b.in.Install([]byte(codes.EncodeText(codes.KindAuthorization, update)))
	b.must(err)
	if !again.Again || !again.Update || !bytes.Equal(again.Confirmation, first.Confirmation) || again.PreviousSerial != 1 {
		t.Errorf("again: %+v", again)
	}
	if !bytes.Equal(before, b.stateBytes()) {
		t.Error("the state changed")
	}
}

func TestInstallRefusesOlderSerial(t *testing.T) {
	b := newBench(t)
	b.reserve(cameras(3))
	older := b.sign(grant{serial: 3})
	b.must(first(b.in.Install(b.sign(grant{serial: 5}))))
	_, err := b.in.Install(older)
	wantErr(t, err, ErrNotNewer, "authorization serial 3 is not newer than installed serial 5")
	// Another code of the same serial (one the authority voided) too.
	_, err = b.in.Install(b.sign(grant{serial: 5, ents: []codes.Entitlement{cameras(9)}}))
	wantErr(t, err, ErrNotNewer, "serial 5 is not newer than installed serial 5")
	if b.in.Available(tagCamera) != 10 {
		t.Errorf("available %d", b.in.Available(tagCamera))
	}
}

func first[T any](v T, err error) error { return err }

func TestInstallRefusesCodeForAnotherUDI(t *testing.T) {
	b := newBench(t)
	nonce := b.request()
	other, err := codes.ParseUDI("P:UCM,S:aa001,U:d9a2c661-8fe1-4ce7-9e6f-bbc68a3edb17")
	b.must(err)
	_, err = b.in.Install(b.sign(grant{nonce: nonce, udi: &other}))
	wantErr(t, err, codes.ErrWrongInstance, "authorization code is for UDI P:UCM,S:aa001 but this instance is P:UCM,S:edb16")
}

func TestInstallRefusesCodeForAnotherInstanceKey(t *testing.T) {
	b := newBench(t)
	nonce := b.request()
	// The same UDI, the key of another instance (or of this one before its
	// state was rebuilt).
	_, err := b.in.Install(b.sign(grant{nonce: nonce, keyHash: b.f.Other.Hash()}))
	wantErr(t, err, codes.ErrWrongInstance, "instance key", "make a new request")
}

func TestInstallRefusesUntrustedAuthorityKey(t *testing.T) {
	b := newBench(t)
	nonce := b.request()
	_, err := b.in.Install(b.sign(grant{nonce: nonce, key: b.f.Rogue}))
	wantErr(t, err, codes.ErrUnknownKey, b.f.Rogue.ID().String())
	// The windowed key is trusted, but only from 2019 to 2021.
	_, err = b.in.Install(b.sign(grant{nonce: nonce, key: b.f.Windowed}))
	wantErr(t, err, codes.ErrKeyWindow)
}

func TestInstallRefusesAlteredCode(t *testing.T) {
	b := newBench(t)
	nonce := b.request()
	code := b.sign(grant{nonce: nonce})
	code[len(code)-1] ^= 1
	_, err := b.in.Install(code)
	wantErr(t, err, codes.ErrBadSignature)
}

func TestInstallRefusesAfterInstallBy(t *testing.T) {
	b := newBench(t)
	nonce := b.request()
	code := b.sign(grant{nonce: nonce})
	b.clock.add(31 * day)
	_, err := b.in.Install(code)
	wantErr(t, err, codes.ErrInstallWindow, "request a new code")
}

func TestInstallRefusesCodeWhoseTermEnded(t *testing.T) {
	b := newBench(t)
	nonce := b.request()
	_, err := b.in.Install(b.sign(grant{nonce: nonce, issued: t0.Add(-10 * day), ents: []codes.Entitlement{analytics(1, t0.Add(-10*day), t0.Add(-day))}}))
	wantErr(t, err, codes.ErrExpired)
}

func TestInstallRefusesAnotherKindOfCode(t *testing.T) {
	b := newBench(t)
	b.must(b.in.Enable())
	rq, err := b.in.Request(nil)
	b.must(err)
	_, err = b.in.Install([]byte(codes.EncodeText(codes.KindRequest, rq)))
	wantErr(t, err, codes.ErrWrongKind, "got a request code, want an authorization code")
}

func TestInstallReportsATypoByGroup(t *testing.T) {
	b := newBench(t)
	nonce := b.request()
	typed := []byte(codes.EncodeText(codes.KindAuthorization, b.sign(grant{nonce: nonce})))
	i := bytes.IndexByte(typed[3:], '-') + 3 + 2 // inside the second group
	if typed[i] == '7' {
		typed[i] = '8'
	} else {
		typed[i] = '7'
	}
	_, err := b.in.Install(typed)
	wantErr(t, err, codes.ErrTypo, "group")
}

func TestInstallRefusesCodeForNoRequest(t *testing.T) {
	b := newBench(t)
	b.request()
	_, err := b.in.Install(b.sign(grant{nonce: randomNonce()}))
	wantErr(t, err, ErrNoPendingRequest)
}

func TestInstallRefusesUpdateOfAnotherReservation(t *testing.T) {
	b := newBench(t)
	b.must(b.in.Enable())
	_, err := b.in.Install(b.sign(grant{serial: 2}))
	wantErr(t, err, ErrWrongReservation, "no reservation is installed")
	b.reserve(cameras(1))
	_, err = b.in.Install(b.sign(grant{serial: 2, res: resB}))
	wantErr(t, err, ErrWrongReservation, "reservation b0b1b2b3", "reservation 0a1b2c3d is installed")
}

func TestInstallOfAnEncryptedFileNeedsTheIdentity(t *testing.T) {
	b := newBench(t)
	nonce := b.request()
	armored := codes.EncodeArmor(codes.KindAuthorization, b.sign(grant{nonce: nonce}))
	sealed := sealTo(t, armored, b.f.AgeIdentity.Recipient())
	_, err := b.in.Install(sealed)
	wantErr(t, err, codes.ErrEncrypted)
	in := b.open(WithIdentities(b.f.AgeIdentity))
	b.must(first(in.Install(sealed)))
}

// TestRestoredStateCannotInstallLaterCode: a copy of the state folder taken
// before a request was made cannot install the code issued for that
// request, nor a code for a request cancelled before the copy.
func TestRestoredStateCannotInstallLaterCode(t *testing.T) {
	b := newBench(t)
	b.must(b.in.Enable())
	cancelled := b.request()
	b.must(b.in.Cancel())
	saved := b.stateBytes()

	nonce := b.request()
	code := b.sign(grant{nonce: nonce})

	b.must(os.WriteFile(filepath.Join(b.dir, stateName), saved, 0o600))
	restored := b.open()
	_, err := restored.Install(code)
	wantErr(t, err, ErrNoPendingRequest)
	_, err = restored.Install(b.sign(grant{nonce: cancelled}))
	wantErr(t, err, ErrNoPendingRequest)
	// And the instance that wrote the newer state sees the restored one
	// too: its pending request is gone.
	_, err = b.in.Install(code)
	wantErr(t, err, ErrNoPendingRequest)
}

func TestReturnWithNothingInstalledIsRefused(t *testing.T) {
	b := newBench(t)
	_, err := b.in.Return()
	wantErr(t, err, ErrNotReserved)
}

func TestReturnAuthorizationOfACodeNeverInstalled(t *testing.T) {
	b := newBench(t)
	nonce := b.request()
	code := b.sign(grant{nonce: nonce})
	ret, err := b.in.ReturnAuthorization(code)
	b.must(err)
	r, err := codes.OpenReturn(ret.Code, b.pairwise())
	b.must(err)
	if !r.NeverInstalled || !bytes.Equal(r.Reservation, resA) || r.Serial != 1 || ret.Again {
		t.Errorf("return %+v again=%v", r, ret.Again)
	}
	if m := b.mode(); m != ModeReserving {
		t.Errorf("mode %s, want reserving", m)
	}
	again, err := b.in.ReturnAuthorization(codes.EncodeArmor(codes.KindAuthorization, code))
	b.must(err)
	if !again.Again || !bytes.Equal(again.Code, ret.Code) {
		t.Errorf("again: %+v", again)
	}
	_, err = b.in.Install(code)
	wantErr(t, err, ErrReturned, "returned without being installed")
}

func TestReturnAuthorizationOfACodeForACancelledRequest(t *testing.T) {
	b := newBench(t)
	nonce := b.request()
	b.must(b.in.Cancel())
	_, err := b.in.ReturnAuthorization(b.sign(grant{nonce: nonce}))
	b.must(err)
}

func TestReturnAuthorizationRefusals(t *testing.T) {
	b := newBench(t)
	installed := b.reserve(cameras(1))
	_, err := b.in.ReturnAuthorization(installed)
	wantErr(t, err, ErrReservationInstalled, "return the reservation")
	_, err = b.in.ReturnAuthorization(b.sign(grant{serial: 2, res: resB}))
	wantErr(t, err, ErrWrongReservation)
	_, err = b.in.ReturnAuthorization(b.sign(grant{nonce: randomNonce(), res: resB}))
	wantErr(t, err, ErrNoPendingRequest)
	_, err = b.in.ReturnAuthorization(b.sign(grant{nonce: randomNonce(), res: resB, keyHash: b.f.Other.Hash()}))
	wantErr(t, err, codes.ErrWrongInstance)
	// A code past its install window may still be returned.
	b2 := newBench(t)
	nonce := b2.request()
	late := b2.sign(grant{nonce: nonce})
	b2.clock.add(60 * day)
	b2.must(first(b2.in.ReturnAuthorization(late)))
}
