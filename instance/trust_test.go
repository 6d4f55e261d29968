package instance

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/codes"
)

// rotation is a key rotation as the authority makes it: the next set lists
// every key of from, closed at at, and key from at, signed by signer.
func rotation(t *testing.T, from *codes.TrustSet, key, signer *codes.AuthorityKey, at time.Time) (*codes.TrustSet, []byte) {
	t.Helper()
	next := &codes.TrustSet{Sequence: from.Sequence + 1, IssuedAt: at.Unix()}
	for _, k := range from.Keys {
		if k.NotAfter == 0 || k.NotAfter > at.Unix()+1 {
			k.NotAfter = at.Unix() + 1
		}
		next.Keys = append(next.Keys, k)
	}
	next.Keys = append(next.Keys, key.Public)
	code, err := codes.SignTrustSet(next, signer)
	if err != nil {
		t.Fatal(err)
	}
	return next, code
}

func newKey(t *testing.T, name string, notBefore time.Time) *codes.AuthorityKey {
	t.Helper()
	seed := sha256.Sum256([]byte("instance trust test " + name))
	more := sha256.Sum256(seed[:])
	k, err := codes.GenerateAuthorityKey(bytes.NewReader(append(seed[:], more[:]...)), notBefore, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestKeyRotation walks a rotation: the installed code, signed by the old
// key before the rotation, stays installed; the old key's codes issued
// after the rotation are refused; the new key's codes install; requests go
// to the new key.
func TestKeyRotation(t *testing.T) {
	b := newBench(t)
	b.reserve(cameras(10))
	old := b.f.Authority
	b.clock.add(day)
	at := b.clock.Now()
	keyB := newKey(t, "B", at)
	set2, update := rotation(t, trustSet(t), keyB, old, at)

	got, err := b.in.InstallTrust(codes.EncodeArmor(codes.KindTrustUpdate, update))
	b.must(err)
	if got.Again || got.Previous != 1 || got.Set.Sequence != 2 || got.Set.SignedBy != old.ID() {
		t.Fatalf("InstallTrust = %+v", got)
	}
	// Reopened, the state holds set 2 and the installed code verifies.
	in := b.open()
	st, err := in.Status()
	b.must(err)
	if st.Trust.Sequence != 2 || len(st.Trust.Keys) != len(trustSet(t).Keys)+1 || st.Serial != 1 {
		t.Fatalf("status after the update: trust %d with %d keys, serial %d", st.Trust.Sequence, len(st.Trust.Keys), st.Serial)
	}
	if st.AuthorityKey == nil || *st.AuthorityKey != keyB.ID() {
		t.Fatalf("requests go to %v, want the new key %s", st.AuthorityKey, keyB.ID())
	}

	// A retired key signing after its window: refused, nothing changes.
	b.clock.add(time.Hour)
	before := b.stateBytes()
	late := b.sign(grant{serial: 2, key: old})
	_, err = b.in.Install(late)
	wantErr(t, err, codes.ErrKeyWindow, old.ID().String())
	if !bytes.Equal(before, b.stateBytes()) {
		t.Fatal("a refused code changed the state")
	}
	// The new key's update installs, with a confirmation MACed for it.
	res, err := b.in.Install(b.sign(grant{serial: 2, key: keyB, ents: []codes.Entitlement{cameras(4)}}))
	b.must(err)
	mac, err := keyB.MACKey(b.in.PublicKey())
	b.must(err)
	if _, err := codes.OpenConfirmation(res.Confirmation, mac); err != nil {
		t.Fatalf("confirmation does not open with the new key: %v", err)
	}
	_ = set2
}

// TestTrustUpdateRollback: an older set, or another set of the same
// sequence, is refused and changes nothing.
func TestTrustUpdateRollback(t *testing.T) {
	b := newBench(t)
	old := b.f.Authority
	b.clock.add(day)
	keyB := newKey(t, "B", b.clock.Now())
	set2, update2 := rotation(t, trustSet(t), keyB, old, b.clock.Now())
	b.clock.add(day)
	keyC := newKey(t, "C", b.clock.Now())
	_, update3 := rotation(t, set2, keyC, keyB, b.clock.Now())
	b.clock.add(time.Hour)

	_, err := b.in.InstallTrust(update2)
	b.must(err)
	_, err = b.in.InstallTrust(update3)
	b.must(err)
	before := b.stateBytes()
	_, err = b.in.InstallTrust(update2)
	wantErr(t, err, ErrTrustRollback, "sequence 2, installed 3")
	keyD := newKey(t, "D", b.clock.Now().Add(-time.Hour))
	_, other3 := rotation(t, set2, keyD, keyB, b.clock.Now())
	_, err = b.in.InstallTrust(other3)
	wantErr(t, err, ErrTrustRollback, "other keys")
	if !bytes.Equal(before, b.stateBytes()) {
		t.Fatal("a refused trust update changed the state")
	}
	// The installed one again changes nothing and says so.
	got, err := b.in.InstallTrust(update3)
	b.must(err)
	if !got.Again || got.Set.Sequence != 3 {
		t.Fatalf("again: %+v", got)
	}
	if !bytes.Equal(before, b.stateBytes()) {
		t.Fatal("installing the same set again wrote the state")
	}
}

// TestTrustUpdateGap: an update signed by a key the instance does not
// know yet (the one between is missing), or by a rogue key, is refused.
func TestTrustUpdateGap(t *testing.T) {
	b := newBench(t)
	b.clock.add(day)
	keyB := newKey(t, "B", b.clock.Now())
	set2, _ := rotation(t, trustSet(t), keyB, b.f.Authority, b.clock.Now())
	b.clock.add(day)
	keyC := newKey(t, "C", b.clock.Now())
	_, update3 := rotation(t, set2, keyC, keyB, b.clock.Now())
	rogue := newKey(t, "rogue", t0.Add(-day))
	_, forged := rotation(t, trustSet(t), rogue, rogue, b.clock.Now())
	before := b.stateBytes()
	for name, code := range map[string][]byte{"skipped": update3, "forged": forged} {
		_, err := b.in.InstallTrust(code)
		if !errors.Is(err, ErrTrustGap) || !errors.Is(err, codes.ErrUnknownKey) {
			t.Errorf("%s: err = %v, want ErrTrustGap and codes.ErrUnknownKey", name, err)
		}
	}
	// Not a trust update at all.
	_, err := b.in.InstallTrust(codes.EncodeArmor(codes.KindAuthorization, b.sign(grant{nonce: randomNonce()})))
	wantErr(t, err, codes.ErrWrongKind)
	if !bytes.Equal(before, b.stateBytes()) {
		t.Fatal("a refused trust update changed the state")
	}
}

// TestTrustUpdateKeepsInstalledCode: a set that no longer lists the key
// of the installed code is refused while the code is installed.
func TestTrustUpdateKeepsInstalledCode(t *testing.T) {
	b := newBench(t)
	b.reserve(cameras(10))
	b.clock.add(day)
	keyB := newKey(t, "B", b.clock.Now())
	next := &codes.TrustSet{Sequence: 2, IssuedAt: b.clock.Now().Unix(), Keys: []codes.AuthorityPublicKey{keyB.Public}}
	code, err := codes.SignTrustSet(next, b.f.Authority)
	b.must(err)
	before := b.stateBytes()
	_, err = b.in.InstallTrust(code)
	wantErr(t, err, ErrReservationInstalled, "return it first")
	if !bytes.Equal(before, b.stateBytes()) {
		t.Fatal("a refused trust update changed the state")
	}
}
