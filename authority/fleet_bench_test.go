package authority_test

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

// BenchmarkProcessActivation processes activation requests of 10,000 and
// 100,000 new devices end to end: open the request (X25519 and the MAC
// over the whole file), the transaction (sweep, consume a code per
// device, insert the devices and their consumptions), sign the answer,
// store it and commit with fsync. Each iteration is a new gateway and a
// new product on the same ledger. It reports devices/s and the peak Go
// heap during the iteration; compare devices/s with the bare sign rate
// of BenchmarkEd25519Sign: one signature per file, the rest is ledger work.
//
//	go test -run='^$' -bench=ProcessActivation -benchtime=3x ./authority
func BenchmarkProcessActivation(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) {
			e := newEnv(b, func(o *authority.Options) { o.Now = time.Now })
			_, err := e.l.AddOrg(ctx, "acme")
			e.must(err)
			v := authority.Validity{Years: 1}
			dks := make([]string, n)
			for i := range dks {
				dks[i] = fmt.Sprintf("dev-%08d", i)
			}
			var peak uint64
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				pk := fmt.Sprintf("PK-%d", i)
				_, err := e.l.AddFleetProduct(ctx, "acme", pk, pk, true)
				e.must(err)
				_, err = e.l.BuyCodes(ctx, "acme", "annual", &v, int64(n), pk, "")
				e.must(err)
				gw := newDevice(b, fmt.Sprint("bench-gw-", i), e.f.Authority)
				code := gw.activation(map[string][]string{pk: dks})
				runtime.GC()
				stop := sampleHeap(&peak)
				b.StartTimer()
				a, err := e.l.ProcessActivation(ctx, code)
				b.StopTimer()
				stop()
				e.must(err)
				if a.Products[0].Consumed != n {
					b.Fatalf("consumed %d of %d", a.Products[0].Consumed, n)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "devices/s")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}

// sampleHeap records the largest HeapInuse seen until stop is called.
func sampleHeap(peak *uint64) (stop func()) {
	var done atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		var m runtime.MemStats
		for !done.Load() {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > *peak {
				*peak = m.HeapInuse
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	return func() { done.Store(true); wg.Wait() }
}

// BenchmarkSweep renews 10,000 devices whose codes ended.
func BenchmarkSweep(b *testing.B) {
	const n = 10_000
	clk := &clock{t: time.Now()}
	e := newEnv(b, func(o *authority.Options) { o.Now = clk.Now })
	_, err := e.l.AddOrg(ctx, "acme")
	e.must(err)
	v := authority.Validity{Days: 1}
	dks := make([]string, n)
	for i := range dks {
		dks[i] = fmt.Sprintf("dev-%08d", i)
	}
	_, err = e.l.AddFleetProduct(ctx, "acme", "PK", "p", true)
	e.must(err)
	_, err = e.l.BuyCodes(ctx, "acme", "daily", &v, int64(n)*int64(b.N+1), "PK", "")
	e.must(err)
	gw := newDevice(b, "bench-gw", e.f.Authority)
	_, err = e.l.ProcessActivation(ctx, gw.activation(map[string][]string{"PK": dks}))
	e.must(err)
	b.ResetTimer()
	for range b.N {
		clk.add(24 * time.Hour)
		r, err := e.l.RenewDue(ctx)
		e.must(err)
		if r.Renewed != n {
			b.Fatalf("renewed %d", r.Renewed)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "renewals/s")
}

var _ = codes.KindActivation

// BenchmarkSmallActivationOnLargeProduct processes requests of 10 new
// devices from their own gateway on a product that holds 100,000: the
// listed devices are looked up one by one, not the whole product.
func BenchmarkSmallActivationOnLargeProduct(b *testing.B) {
	e := newEnv(b, func(o *authority.Options) { o.Now = time.Now })
	_, err := e.l.AddOrg(ctx, "acme")
	e.must(err)
	_, err = e.l.AddFleetProduct(ctx, "acme", "PK", "p", true)
	e.must(err)
	_, err = e.l.BuyCodes(ctx, "acme", "annual", &authority.Validity{Years: 1}, 100_000+int64(10*(b.N+1)), "PK", "")
	e.must(err)
	dks := make([]string, 100_000)
	for i := range dks {
		dks[i] = fmt.Sprintf("dev-%08d", i)
	}
	_, err = e.l.ProcessActivation(ctx, newDevice(b, "bench-big", e.f.Authority).activation(map[string][]string{"PK": dks}))
	e.must(err)
	reqs := make([][]byte, b.N)
	for i := range reqs {
		small := make([]string, 10)
		for j := range small {
			small[j] = fmt.Sprintf("new-%06d-%02d", i, j)
		}
		reqs[i] = newDevice(b, fmt.Sprint("bench-small-", i), e.f.Authority).activation(map[string][]string{"PK": small})
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := e.l.ProcessActivation(ctx, reqs[i]); err != nil {
			b.Fatal(err)
		}
	}
}
