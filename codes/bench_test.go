package codes_test

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/formats/cose"
	"github.com/airlock-dev/airlock/formats/wire"
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

		"activation-request": func() ([]byte, error) { return codes.SealActivationRequest(f.ActivationRequest(), f.Instance, ap) },
		"activation":         func() ([]byte, error) { return codes.SignActivation(f.Activation(), f.Authority) },
	}
	for _, name := range []string{"authorization", "trust-update", "request", "confirmation", "return", "system", "usage", "activation-request", "activation"} {
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
		{"activation-request", func() error {
			_, err := codes.OpenActivationRequest(c[codes.KindActivationRequest], f.Authority)
			return err
		}},
		{"activation", func() error { _, err := codes.OpenActivation(c[codes.KindActivation], f.Trust); return err }},
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

// BenchmarkOpenFleet opens (verifies and decodes) an activation request and
// an activation of 10,000 and 100,000 devices, and, as the floor of each,
// the bare primitive over the same bytes: HMAC-SHA256 of the request's
// MAC_structure, Ed25519 verification of the activation's Sig_structure.
// Metrics: devices/s and the code's bytes/device.
func BenchmarkOpenFleet(b *testing.B) {
	f := fixture(b)
	for _, n := range []int{10_000, 100_000} {
		req, err := codes.SealActivationRequest(f.FleetRequest(n), f.Instance, &f.Authority.Public)
		if err != nil {
			b.Fatal(err)
		}
		act, err := codes.SignActivation(f.FleetActivation(n), f.Authority)
		if err != nil {
			b.Fatal(err)
		}
		m, err := cose.ParseMac0Bulk(req)
		if err != nil {
			b.Fatal(err)
		}
		macInput := wire.MustMarshal([]any{"MAC0", []byte{}, codes.KindActivationRequest.Label(), m.Payload})
		msg, sig := gen.SigStructureOf(codes.KindActivation, act)
		pub := ed25519.PublicKey(f.Authority.Public.Sign)
		cases := []struct {
			name string
			code []byte
			open func() error
		}{
			{"activation-request", req, func() error { _, err := codes.OpenActivationRequest(req, f.Authority); return err }},
			{"hmac-sha256-floor", req, func() error {
				h := hmac.New(sha256.New, f.Pairwise)
				h.Write(macInput)
				h.Sum(nil)
				return nil
			}},
			{"activation", act, func() error { _, err := codes.OpenActivation(act, f.Trust); return err }},
			{"ed25519-verify-floor", act, func() error {
				if !ed25519.Verify(pub, msg, sig) {
					return errors.New("bare verify failed")
				}
				return nil
			}},
		}
		for _, tc := range cases {
			b.Run(fmt.Sprintf("%s/%d", tc.name, n), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(tc.code)))
				for b.Loop() {
					if err := tc.open(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "devices/s")
				b.ReportMetric(float64(len(tc.code))/float64(n), "bytes/device")
			})
		}
	}
}
