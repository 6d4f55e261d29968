package authority_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

func rotKey(t *testing.T, name string, notBefore time.Time) *codes.AuthorityKey {
	t.Helper()
	a := sha256.Sum256([]byte("authority rotate test " + name))
	b := sha256.Sum256(a[:])
	k, err := codes.GenerateAuthorityKey(bytes.NewReader(append(a[:], b[:]...)), notBefore, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestRotateKey: the next set keeps every key, closes the old ones just
// after the rotation's second, adds the new one; the update verifies
// against the old set and the trust file on its own.
func TestRotateKey(t *testing.T) {
	f := fixture(t)
	now := t0.Add(24 * time.Hour)
	next := rotKey(t, "B", now)
	r, err := authority.RotateKey(f.Trust, f.Authority, next, now)
	if err != nil {
		t.Fatal(err)
	}
	if r.Set.Sequence != f.Trust.Sequence+1 || len(r.Set.Keys) != len(f.Trust.Keys)+1 {
		t.Fatalf("set %d with %d keys", r.Set.Sequence, len(r.Set.Keys))
	}
	for _, k := range r.Set.Keys[:len(r.Set.Keys)-1] {
		if k.NotAfter == 0 || k.NotAfter > now.Unix()+1 {
			t.Errorf("old key %s still open until %d", k.ID(), k.NotAfter)
		}
	}
	if got := r.Set.Current(now.Unix() + 1); got == nil || got.ID() != next.ID() {
		t.Fatalf("current key after the rotation is %v, want %s", got, next.ID())
	}
	up, err := codes.OpenTrustUpdate(r.Update, f.Trust)
	if err != nil || up.SignedBy != f.Authority.ID() {
		t.Fatalf("update: %v, signed by %v", err, up)
	}
	if _, err := codes.OpenTrustFile(r.TrustFile); err != nil {
		t.Fatalf("trust file: %v", err)
	}
	// Refusals: a key trusted already, a signer not in the set.
	if _, err := authority.RotateKey(f.Trust, f.Authority, f.Authority, now); !errors.Is(err, authority.ErrInvalid) {
		t.Errorf("rotating to a trusted key: %v", err)
	}
	if _, err := authority.RotateKey(f.Trust, f.Rogue, next, now); !errors.Is(err, authority.ErrInvalid) {
		t.Errorf("rotating from a foreign key: %v", err)
	}
}

// TestRotateKeyInItsFirstSecond: a key rotated in the second it became
// valid keeps that one second, and one not valid yet is refused.
func TestRotateKeyInItsFirstSecond(t *testing.T) {
	born := t0.Add(48 * time.Hour)
	first := rotKey(t, "first", born)
	set, err := codes.ParseUnverifiedTrustSet(mustSignTrust(t, first, born))
	if err != nil {
		t.Fatal(err)
	}
	next := rotKey(t, "next", born)
	r, err := authority.RotateKey(set, first, next, born)
	if err != nil {
		t.Fatalf("rotating in the key's first second: %v", err)
	}
	if k := r.Set.Key(first.ID()); k == nil || k.NotBefore != born.Unix() || k.NotAfter != born.Unix()+1 {
		t.Fatalf("old key window %+v, want the one second %d", k, born.Unix())
	}
	if _, err := authority.RotateKey(set, first, next, born.Add(-time.Second)); !errors.Is(err, authority.ErrInvalid) {
		t.Fatalf("rotating before the key is valid: %v", err)
	}
}

func mustSignTrust(t *testing.T, k *codes.AuthorityKey, at time.Time) []byte {
	t.Helper()
	b, err := codes.SignTrustSet(&codes.TrustSet{Sequence: 1, Keys: []codes.AuthorityPublicKey{k.Public}, IssuedAt: at.Unix()}, k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRetiredKeysOpenLazily: after a rotation the ledger signs with the
// new key, opens a request MACed for the retired key by opening that key
// once, and never opens it for codes MACed for the new key.
func TestRetiredKeysOpenLazily(t *testing.T) {
	f := fixture(t)
	next := rotKey(t, "B", t0.Add(-time.Hour))
	var opened atomic.Int32
	e := newEnv(t, func(o *authority.Options) {
		o.Keys = []*codes.AuthorityKey{next}
		o.Retired = []func() (*codes.AuthorityKey, error){func() (*codes.AuthorityKey, error) {
			opened.Add(1)
			return f.Authority, nil
		}}
	})
	e.setup()
	fresh := newDevice(t, "rotated", next)
	a, err := e.l.Reserve(ctx, "acme/plant", fresh.request(lic(camera, 1)), nil)
	e.must(err)
	if a.Authorization == nil || opened.Load() != 0 {
		t.Fatalf("a request for the new key opened the retired key %d times", opened.Load())
	}
	got, err := codes.OpenAuthorization(a.Code, &codes.TrustSet{Sequence: 2, Keys: []codes.AuthorityPublicKey{next.Public}})
	if err != nil || got.Serial != 1 {
		t.Fatalf("the code is not signed by the new key: %v", err)
	}
	for i, name := range []string{"lagging-1", "lagging-2", "lagging-3"} {
		d := e.device(name) // MACs for the fixture's key, now retired
		if _, err := e.l.Reserve(ctx, "acme/plant", d.request(lic(camera, 1)), nil); err != nil {
			t.Fatalf("request %d for the retired key: %v", i, err)
		}
	}
	if n := opened.Load(); n != 1 {
		t.Fatalf("the retired key was opened %d times, want once", n)
	}
	// A key that fails to open is reported, not skipped.
	e2 := newEnv(t, func(o *authority.Options) {
		o.Keys = []*codes.AuthorityKey{next}
		o.Retired = []func() (*codes.AuthorityKey, error){func() (*codes.AuthorityKey, error) {
			return nil, errors.New("wrong passphrase")
		}}
	})
	e2.setup()
	_, err = e2.l.Reserve(ctx, "acme/plant", e2.device("lagging").request(lic(camera, 1)), nil)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("retired authority key: wrong passphrase")) {
		t.Fatalf("err = %v", err)
	}
}
