package codes_test

import (
	"crypto/ed25519"
	"testing"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/testvectors/gen"
)

// The benchmarks sign and open one code of each kind, the Cisco example
// authorization among them, and verify the same Sig_structure with bare
// Ed25519 as the floor that opening an authorization is compared with.

func BenchmarkSeal(b *testing.B) {
	f := fixture(b)
	ap := &f.Authority.Public
	update := f.TrustUpdate()
	cases := map[string]func() ([]byte, error){
		"authorization": func() ([]byte, error) { return codes.SignAuthorization(f.CiscoAuthorization(), f.Authority) },
		"trust-update":  func() ([]byte, error) { return codes.SignTrustSet(update, f.Authority) },
		"request":       func() ([]byte, error) { return codes.SealRequest(f.Request(), f.Instance, ap) },
		"confirmation":  func() ([]byte, error) { return codes.SealConfirmation(f.Confirmation(), f.Pairwise) },
		"return":        func() ([]byte, error) { return codes.SealReturn(f.Return(), f.Pairwise) },
		"system":        func() ([]byte, error) { return codes.SealSystem(f.System(), f.Instance, ap) },
		"usage":         func() ([]byte, error) { return codes.SealUsage(f.Usage(), f.Pairwise) },
	}
	for _, name := range []string{"authorization", "trust-update", "request", "confirmation", "return", "system", "usage"} {
		seal := cases[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := seal(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	f := fixture(b)
	c := f.Codes()
	cases := []struct {
		name string
		open func() error
	}{
		{"authorization", func() error { _, err := codes.OpenAuthorization(c[codes.KindAuthorization], f.Trust); return err }},
		{"trust-update", func() error { _, err := codes.OpenTrustUpdate(c[codes.KindTrustUpdate], f.Trust); return err }},
		{"request", func() error { _, err := codes.OpenRequest(c[codes.KindRequest], f.Authority); return err }},
		{"confirmation", func() error { _, err := codes.OpenConfirmation(c[codes.KindConfirmation], f.Pairwise); return err }},
		{"return", func() error { _, err := codes.OpenReturn(c[codes.KindReturn], f.Pairwise); return err }},
		{"system", func() error { _, err := codes.OpenSystem(c[codes.KindSystem], f.Authority); return err }},
		{"usage", func() error { _, err := codes.OpenUsage(c[codes.KindUsage], f.Pairwise); return err }},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := tc.open(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEd25519Verify verifies the Cisco authorization's Sig_structure
// with crypto/ed25519 alone: the floor for BenchmarkOpen/authorization.
func BenchmarkEd25519Verify(b *testing.B) {
	f := fixture(b)
	msg, sig := gen.SigStructure(f.Codes()[codes.KindAuthorization])
	pub := ed25519.PublicKey(f.Authority.Public.Sign)
	b.ReportAllocs()
	for b.Loop() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("bare verify failed")
		}
	}
}
