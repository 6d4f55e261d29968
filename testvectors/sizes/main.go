// Command sizes prints the size of every code kind in its three forms, the
// targets they are held to, and the cost of opening an authorization next
// to a bare Ed25519 verify of the same bytes, measured in one run. make
// bench runs it.
package main

import (
	"crypto/ed25519"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/testvectors/gen"
)

// signedXMLSize is the length of the signed XML authorization that vendor
// portals issue for the Cisco example today, in characters.
const signedXMLSize = 1335

type target struct {
	typed, armored int // 0: no target
}

var targets = map[codes.Kind]target{
	codes.KindRequest:       {typed: 180},
	codes.KindAuthorization: {typed: 700, armored: 600},
	codes.KindConfirmation:  {typed: 45},
	codes.KindReturn:        {typed: 51},
}

// alnum counts the letters and digits of a typed code: what a person types.
func alnum(s string) int {
	n := 0
	for _, r := range s {
		if r != '-' {
			n++
		}
	}
	return n
}

func main() {
	f, err := gen.NewFixture()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sizes:", err)
		os.Exit(1)
	}
	all := f.Codes()
	ok := true
	fmt.Printf("Code sizes for the Cisco example (UDI %s)\n\n", gen.CiscoUDI)
	fmt.Printf("| %-18s | %6s | %-24s | %-24s |\n", "kind", "bytes", "typed (letters+digits)", "armored file (bytes)")
	fmt.Printf("|%s|%s|%s|%s|\n", strings.Repeat("-", 20), strings.Repeat("-", 8), strings.Repeat("-", 26), strings.Repeat("-", 26))
	for _, k := range codes.Kinds {
		code := all[k]
		typed := alnum(codes.EncodeText(k, code))
		armored := len(codes.EncodeArmor(k, code))
		t := targets[k]
		fmt.Printf("| %-18s | %6d | %-24s | %-24s |\n", k, len(code), withTarget(typed, t.typed, &ok), withTarget(armored, t.armored, &ok))
	}
	armored := len(codes.EncodeArmor(codes.KindAuthorization, all[codes.KindAuthorization]))
	fmt.Printf("\nauthorization armored file: %d bytes, %.1fx shorter than the %d-character signed XML\n\n",
		armored, float64(signedXMLSize)/float64(armored), signedXMLSize)

	code := all[codes.KindAuthorization]
	msg, sig := gen.SigStructure(code)
	pub := ed25519.PublicKey(f.Authority.Public.Sign)
	// Interleave the two measurements so machine noise hits both alike.
	var open, bare float64
	const rounds = 5
	for range rounds {
		bare += float64(testing.Benchmark(func(b *testing.B) {
			for b.Loop() {
				ed25519.Verify(pub, msg, sig)
			}
		}).NsPerOp())
		open += float64(testing.Benchmark(func(b *testing.B) {
			for b.Loop() {
				if _, err := codes.OpenAuthorization(code, f.Trust); err != nil {
					b.Fatal(err)
				}
			}
		}).NsPerOp())
	}
	ratio := open / bare
	fmt.Printf("open authorization: %.1f µs; bare Ed25519 verify of the same bytes: %.1f µs; ratio %.2f (target ≤ 1.30)%s\n",
		open/rounds/1000, bare/rounds/1000, ratio, mark(ratio <= 1.3, &ok))
	for _, k := range []codes.Kind{codes.KindConfirmation, codes.KindReturn, codes.KindUsage} {
		c := all[k]
		ns := testing.Benchmark(func(b *testing.B) {
			for b.Loop() {
				var err error
				switch k {
				case codes.KindConfirmation:
					_, err = codes.OpenConfirmation(c, f.Pairwise)
				case codes.KindReturn:
					_, err = codes.OpenReturn(c, f.Pairwise)
				case codes.KindUsage:
					_, err = codes.OpenUsage(c, f.Pairwise)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		}).NsPerOp()
		fmt.Printf("open %s: %.1f µs (target ≤ 10 µs)%s\n", k, float64(ns)/1000, mark(ns <= 10000, &ok))
	}
	if !ok {
		fmt.Println("\nsome targets are not met")
		os.Exit(1)
	}
}

func withTarget(v, target int, ok *bool) string {
	if target == 0 {
		return fmt.Sprint(v)
	}
	return fmt.Sprintf("%d (≤ %d)%s", v, target, mark(v <= target, ok))
}

func mark(met bool, ok *bool) string {
	if met {
		return " ok"
	}
	*ok = false
	return " MISSED"
}
