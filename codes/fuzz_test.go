package codes_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/testvectors"
	"github.com/airlock-dev/airlock/testvectors/gen"
)

// sentinels are every error class a decoder may return.
var sentinels = []error{
	codes.ErrMalformed, codes.ErrWrongKind, codes.ErrAlgorithm, codes.ErrBadSignature,
	codes.ErrUnknownKey, codes.ErrKeyWindow, codes.ErrWeakKey, codes.ErrInvalid,
	codes.ErrWrongInstance, codes.ErrInstallWindow, codes.ErrExpired, codes.ErrTypo, codes.ErrEncrypted,
}

func classified(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// seedVectors adds the input of every vector, decoded to binary where the
// target takes binary and the vector's form allows it.
func seedVectors(f *testing.F, binary bool) {
	cases, err := testvectors.Cases()
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range cases {
		in, err := c.InputBytes()
		if err != nil {
			f.Fatal(err)
		}
		if binary {
			d, err := codes.Decode(in)
			if err != nil {
				continue
			}
			in = d.Code
		}
		f.Add(in)
	}
	// Length and nesting bombs (ATTACKS.md T40, T41).
	f.Add([]byte{0x9b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x84, 0x5b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add(bytes.Repeat([]byte{0x81}, 100))
}

func verifier(f *testing.F) *testvectors.Verifier {
	k, err := testvectors.LoadKeys()
	if err != nil {
		f.Fatal(err)
	}
	v, err := testvectors.NewVerifier(k)
	if err != nil {
		f.Fatal(err)
	}
	return v
}

// FuzzDecode feeds any input to the form reader: it must not panic, every
// error must be classified, and an accepted typed or armored code must come
// out the same when encoded again.
func FuzzDecode(f *testing.F) {
	seedVectors(f, false)
	v := verifier(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := codes.Decode(in, v.Identity)
		if err != nil {
			if !classified(err) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		switch d.Form {
		case codes.FormText:
			again, err := codes.Decode([]byte(codes.EncodeText(d.Kind, d.Code)))
			if err != nil || !bytes.Equal(again.Code, d.Code) {
				t.Fatalf("typed code does not survive re-encoding: %v", err)
			}
		case codes.FormArmor:
			if !d.Encrypted && !bytes.Equal(bytes.TrimSuffix(codes.EncodeArmor(d.Kind, d.Code), []byte("\n")), bytes.TrimSuffix(in, []byte("\n"))) {
				t.Fatalf("armored input is not the canonical armor of its content")
			}
		}
	})
}

// FuzzParseUnverified decodes binary input as every kind: no panic, every
// error classified.
func FuzzParseUnverified(f *testing.F) {
	seedVectors(f, true)
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, k := range codes.Kinds {
			if _, err := codes.ParseUnverified(k, in); err != nil && !classified(err) {
				t.Fatalf("%s: unclassified error: %v", k, err)
			}
		}
	})
}

// FuzzOpenAuthorization: an accepted authorization must be exactly the code
// the authority makes for its content (Ed25519 is deterministic).
func FuzzOpenAuthorization(f *testing.F) {
	seedVectors(f, true)
	v := verifier(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		a, err := codes.OpenAuthorization(in, v.Trust)
		if err != nil {
			if !classified(err) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		again, err := codes.SignAuthorization(a, v.Authority)
		if err != nil {
			t.Fatalf("accepted authorization cannot be signed again: %v", err)
		}
		if !bytes.Equal(again, in) {
			t.Fatalf("accepted %x, which re-encodes as %x", in, again)
		}
	})
}

// FuzzOpenInstanceCodes opens binary input as each instance-made kind with
// the fixed keys: an accepted code must be exactly what sealing its content
// again gives.
func FuzzOpenInstanceCodes(f *testing.F) {
	seedVectors(f, true)
	v := verifier(f)
	ik := v.Instances["instance"]
	ap := &v.Authority.Public
	f.Fuzz(func(t *testing.T, in []byte) {
		check := func(k codes.Kind, again []byte, err error) {
			if err != nil {
				t.Fatalf("accepted %s cannot be sealed again: %v", k, err)
			}
			if !bytes.Equal(again, in) {
				t.Fatalf("accepted %s %x, which re-encodes as %x", k, in, again)
			}
		}
		fail := func(k codes.Kind, err error) {
			if !classified(err) {
				t.Fatalf("%s: unclassified error: %v", k, err)
			}
		}
		if r, err := codes.OpenRequest(in, v.Authority); err == nil {
			again, err := codes.SealRequest(r, ik, ap)
			check(codes.KindRequest, again, err)
		} else {
			fail(codes.KindRequest, err)
		}
		if s, err := codes.OpenSystem(in, v.Authority); err == nil {
			again, err := codes.SealSystem(s, ik, ap)
			check(codes.KindSystem, again, err)
		} else {
			fail(codes.KindSystem, err)
		}
		if c, err := codes.OpenConfirmation(in, v.Pairwise); err == nil {
			again, err := codes.SealConfirmation(c, v.Pairwise)
			check(codes.KindConfirmation, again, err)
		} else {
			fail(codes.KindConfirmation, err)
		}
		if r, err := codes.OpenReturn(in, v.Pairwise); err == nil {
			again, err := codes.SealReturn(r, v.Pairwise)
			check(codes.KindReturn, again, err)
		} else {
			fail(codes.KindReturn, err)
		}
		if u, err := codes.OpenUsage(in, v.Pairwise); err == nil {
			again, err := codes.SealUsage(u, v.Pairwise)
			check(codes.KindUsage, again, err)
		} else {
			fail(codes.KindUsage, err)
		}
		if x, err := codes.OpenExportRequest(in, v.Pairwise); err == nil {
			again, err := codes.SealExportRequest(x, v.Pairwise)
			check(codes.KindExportRequest, again, err)
		} else {
			fail(codes.KindExportRequest, err)
		}
	})
}

// FuzzReadTrustFile: no panic, classified errors, and an accepted trust file
// re-signs to the same bytes when its signer is the fixed authority.
func FuzzReadTrustFile(f *testing.F) {
	seedVectors(f, false)
	v := verifier(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		ts, err := codes.ReadTrustFile(in)
		if err != nil {
			if !classified(err) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if ts.SignedBy != v.Authority.ID() {
			return
		}
		d, _ := codes.Decode(in)
		again, err := codes.SignTrustSet(ts, v.Authority)
		if err != nil || !bytes.Equal(again, d.Code) {
			t.Fatalf("accepted trust file does not re-sign identically: %v", err)
		}
	})
}

// seedFleets adds small fleets of the fixture's keys, sealed and signed,
// besides the vectors.
func seedFleets(f *testing.F) {
	fx, err := gen.NewFixture()
	if err != nil {
		f.Fatal(err)
	}
	for _, n := range []int{1, 7, 40} {
		r, err := codes.SealActivationRequest(fx.FleetRequest(n), fx.Instance, &fx.Authority.Public)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(r)
		a, err := codes.SignActivation(fx.FleetActivation(n), fx.Authority)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(a)
	}
}

// FuzzOpenActivationRequest: no panic, classified errors, and an accepted
// activation request is exactly what sealing its content again gives
// (the MAC is deterministic). The payload is decoded before the MAC is
// checked, so this is the authority's exposure to hostile fleets.
func FuzzOpenActivationRequest(f *testing.F) {
	seedVectors(f, true)
	seedFleets(f)
	v := verifier(f)
	ik := v.Instances["instance"]
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := codes.OpenActivationRequest(in, v.Authority)
		if err != nil {
			if !classified(err) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		again, err := codes.SealActivationRequest(r, ik, &v.Authority.Public)
		if err != nil {
			t.Fatalf("accepted activation request cannot be sealed again: %v", err)
		}
		if !bytes.Equal(again, in) {
			t.Fatalf("accepted %x, which re-encodes as %x", in, again)
		}
	})
}

// FuzzOpenActivation: an accepted activation must be exactly the code the
// authority makes for its content, and pass or fail Check with a
// classified error.
func FuzzOpenActivation(f *testing.F) {
	seedVectors(f, true)
	seedFleets(f)
	v := verifier(f)
	ik := v.Instances["instance"]
	udi, err := codes.ParseUDI(v.Keys.UDI)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		a, err := codes.OpenActivation(in, v.Trust)
		if err != nil {
			if !classified(err) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if err := a.Check(udi, ik.Public()); err != nil && !classified(err) {
			t.Fatalf("Check: unclassified error: %v", err)
		}
		again, err := codes.SignActivation(a, v.Authority)
		if err != nil {
			t.Fatalf("accepted activation cannot be signed again: %v", err)
		}
		if !bytes.Equal(again, in) {
			t.Fatalf("accepted %x, which re-encodes as %x", in, again)
		}
	})
}

// FuzzParseUnverifiedFleet decodes binary input as the two fleet kinds for
// display: no panic, classified errors, and whatever is accepted counts
// its devices within the limit.
func FuzzParseUnverifiedFleet(f *testing.F) {
	seedVectors(f, true)
	seedFleets(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		if r, err := codes.ParseUnverifiedActivationRequest(in); err != nil {
			if !classified(err) {
				t.Fatalf("activation request: unclassified error: %v", err)
			}
		} else if r.Count() > codes.MaxActivationDevices {
			t.Fatalf("activation request of %d devices accepted", r.Count())
		}
		if a, err := codes.ParseUnverifiedActivation(in); err != nil {
			if !classified(err) {
				t.Fatalf("activation: unclassified error: %v", err)
			}
		} else if a.Count() > codes.MaxActivationDevices {
			t.Fatalf("activation of %d devices accepted", a.Count())
		}
	})
}

// FuzzOpenManifest: no panic, classified errors, and an accepted download
// manifest is exactly the code the authority makes for its content, lists
// no more files than the limit, none of them with an unsafe name, and
// passes or fails Check with a classified error.
func FuzzOpenManifest(f *testing.F) {
	seedVectors(f, true)
	fx, err := gen.NewFixture()
	if err != nil {
		f.Fatal(err)
	}
	for _, n := range []int{1, 2, 30} {
		m, err := codes.SignManifest(fx.LargeManifest(n), fx.Authority)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(m)
	}
	v := verifier(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := codes.OpenManifest(in, v.Trust)
		if err != nil {
			if !classified(err) {
				t.Fatalf("unclassified error: %v", err)
			}
			if _, perr := codes.ParseUnverifiedManifest(in); perr != nil && !classified(perr) {
				t.Fatalf("ParseUnverifiedManifest: unclassified error: %v", perr)
			}
			return
		}
		if len(m.Files) == 0 || len(m.Files) > codes.MaxManifestFiles {
			t.Fatalf("manifest of %d files accepted", len(m.Files))
		}
		for _, file := range m.Files {
			if err := codes.CheckFileName(file.Name); err != nil {
				t.Fatalf("accepted file name %q: %v", file.Name, err)
			}
		}
		if err := m.Check(time.Unix(m.IssuedAt, 0)); err != nil {
			t.Fatalf("Check at the issue time: %v", err)
		}
		again, err := codes.SignManifest(m, v.Authority)
		if err != nil {
			t.Fatalf("accepted manifest cannot be signed again: %v", err)
		}
		if !bytes.Equal(again, in) {
			t.Fatalf("accepted %x, which re-encodes as %x", in, again)
		}
	})
}
