package instance

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/codes"
)

// benchFleet is a gateway with n devices queued and a pending activation
// request for them, with the activation answering it (binary), signed for
// the real clock. Device keys are "dev-NNNNNNN", ten products.
func benchFleet(b *testing.B, n int) (*bench, []byte) {
	bb := newBench(b)
	bb.clock.set(time.Now())
	groups := make([]codes.DeviceGroup, 10)
	for i := range groups {
		groups[i].ProductKey = fmt.Sprintf("product.%02d", i)
	}
	for i := range n {
		g := &groups[i%len(groups)]
		g.Devices = append(g.Devices, fmt.Sprintf("dev-%07d", i))
	}
	if _, err := bb.in.QueueDeviceGroups(groups); err != nil {
		b.Fatal(err)
	}
	d := newDesk(bb)
	code, err := bb.in.ActivationRequest()
	if err != nil {
		b.Fatalf("an activation request of %d devices: %v", n, err)
	}
	r, err := codes.OpenActivationRequest(code, bb.f.Authority)
	if err != nil {
		b.Fatal(err)
	}
	return bb, d.answer(r)
}

// BenchmarkDeviceActive is the product's question for one device of a
// fleet of 100,000, clock read included: target ≤ 100 ns/op, 0 allocs/op.
func BenchmarkDeviceActive(b *testing.B) {
	bb, act := benchFleet(b, 100_000)
	if _, err := bb.in.InstallActivation(act); err != nil {
		b.Fatal(err)
	}
	in, err := Open(bb.dir)
	if err != nil {
		b.Fatal(err)
	}
	keys := make([][2]string, 1024)
	for i := range keys {
		j := i * 97
		keys[i] = [2]string{fmt.Sprintf("product.%02d", j%10), fmt.Sprintf("dev-%07d", j)}
	}
	if !in.DeviceActive(keys[5][0], keys[5][1]) {
		b.Fatal("not active")
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := &keys[i&1023]
		in.DeviceActive(k[0], k[1])
		i++
	}
}

func BenchmarkDeviceActiveParallel(b *testing.B) {
	bb, act := benchFleet(b, 100_000)
	if _, err := bb.in.InstallActivation(act); err != nil {
		b.Fatal(err)
	}
	in, err := Open(bb.dir)
	if err != nil {
		b.Fatal(err)
	}
	in.DeviceActive("product.00", "dev-0000000")
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			in.DeviceActive("product.03", "dev-0000013")
		}
	})
}

// BenchmarkInstallActivation installs an activation of n devices answering
// a pending request: decode, verify, checks, the table, and the durable
// writes (activation file, fleet file, state journal). Each iteration
// installs on a fresh copy of the same gateway.
func BenchmarkInstallActivation(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			bb, act := benchFleet(b, n)
			armored := codes.EncodeArmor(codes.KindActivation, act)
			for b.Loop() {
				b.StopTimer()
				in := copyFleetBench(b, bb)
				b.StartTimer()
				s, err := in.InstallActivation(armored)
				if err != nil {
					b.Fatal(err)
				}
				if s.Listed != n {
					b.Fatalf("%d devices listed", s.Listed)
				}
			}
			b.ReportMetric(float64(len(act)), "code-bytes")
		})
	}
}

// BenchmarkOpenFleet is the first lookup of a new process: the fleet file
// and the activation file read, the signature verified, the table built.
func BenchmarkOpenFleet(b *testing.B) {
	bb, act := benchFleet(b, 100_000)
	if _, err := bb.in.InstallActivation(act); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		in, err := Open(bb.dir)
		if err != nil {
			b.Fatal(err)
		}
		if !in.DeviceActive("product.00", "dev-0000000") {
			b.Fatal("not active")
		}
	}
}

// copyFleetBench copies the bench's folder into a new one and opens it.
func copyFleetBench(b *testing.B, bb *bench) *Instance {
	dir := filepath.Join(b.TempDir(), "state")
	if err := copyDir(bb.dir, dir); err != nil {
		b.Fatal(err)
	}
	in, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	return in
}

// copyDir copies the regular files of a state folder (not the lock).
func copyDir(from, to string) error {
	if err := os.MkdirAll(to, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || e.Name() == lockName {
			continue
		}
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}
