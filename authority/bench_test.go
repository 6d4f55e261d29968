package authority_test

import (
	"crypto/ed25519"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

// The benchmarks measure durable reservations end to end: open the request
// (X25519 and the MAC), the transaction (idempotency check, pinning,
// guarded allocation, history), the Ed25519 signature and the commit with
// its fsync, on a ledger in a temporary folder. Each request comes from
// its own instance. They report reservations/s and the ratio to the bare
// Ed25519 signing rate on all cores, the limit no signer can pass:
//
//	go test -run='^$' -bench=Reserve -benchtime=20000x ./authority

var (
	benchMu   sync.Mutex
	benchReqs [][]byte // armored request codes, grown as benchmarks need
)

// requests returns n armored request codes for one camera each, from n
// instances, made on all cores.
func requests(b *testing.B, n int) [][]byte {
	benchMu.Lock()
	defer benchMu.Unlock()
	if have := len(benchReqs); have < n {
		f := fixture(b)
		more := make([][]byte, n-have)
		var next atomic.Int64
		var wg sync.WaitGroup
		for range runtime.GOMAXPROCS(0) {
			wg.Go(func() {
				for {
					i := int(next.Add(1) - 1)
					if i >= len(more) {
						return
					}
					d := newDevice(b, fmt.Sprint("bench-", have+i), f.Authority)
					more[i] = codes.EncodeArmor(codes.KindRequest, d.request(lic(camera, 1)))
				}
			})
		}
		wg.Wait()
		benchReqs = append(benchReqs, more...)
	}
	return benchReqs[:n]
}

// benchEnv is a ledger with enough licenses for any benchmark.
func benchEnv(b *testing.B) *env {
	e := newEnv(b, func(o *authority.Options) { o.Now = time.Now })
	_, err := e.l.AddOrg(ctx, "acme")
	e.must(err)
	_, err = e.l.AddAccount(ctx, "acme", "plant", -1)
	e.must(err)
	e.lot("acme/plant", camera, authority.MaxLotCount, codes.Perpetual, 0, 0, false)
	return e
}

var (
	signLimitOnce sync.Once
	signLimit     float64
)

// signingLimit measures bare Ed25519 signatures per second on all cores,
// over half a second, once.
func signingLimit() float64 {
	signLimitOnce.Do(func() {
		_, key, _ := ed25519.GenerateKey(nil)
		msg := make([]byte, 300) // about a two-line authorization's Sig_structure
		var n atomic.Int64
		stop := time.Now().Add(500 * time.Millisecond)
		start := time.Now()
		var wg sync.WaitGroup
		for range runtime.GOMAXPROCS(0) {
			wg.Go(func() {
				for time.Now().Before(stop) {
					ed25519.Sign(key, msg)
					n.Add(1)
				}
			})
		}
		wg.Wait()
		signLimit = float64(n.Load()) / time.Since(start).Seconds()
	})
	return signLimit
}

var (
	openLimitOnce sync.Once
	openLimit     float64
)

// openingLimit measures request codes opened per second on all cores:
// the X25519 agreement, HKDF and MAC check every reservation needs before
// its signature, and which costs more than the signature.
func openingLimit(b *testing.B) float64 {
	openLimitOnce.Do(func() {
		reqs := requests(b, 2000)
		bins := make([][]byte, len(reqs))
		for i, r := range reqs {
			bin, err := codes.DecodeKind(r, codes.KindRequest)
			if err != nil {
				b.Fatal(err)
			}
			bins[i] = bin
		}
		key := fixture(b).Authority
		var n atomic.Int64
		stop := time.Now().Add(500 * time.Millisecond)
		start := time.Now()
		var wg sync.WaitGroup
		for range runtime.GOMAXPROCS(0) {
			wg.Go(func() {
				for time.Now().Before(stop) {
					i := int(n.Add(1)) % len(bins)
					if _, err := codes.OpenRequest(bins[i], key); err != nil {
						panic(err)
					}
				}
			})
		}
		wg.Wait()
		openLimit = float64(n.Load()) / time.Since(start).Seconds()
	})
	return openLimit
}

// report prints the rate and two ratios: to the bare signing rate (the
// limit the issue names), and to the rate of the cryptography alone that
// a reservation needs, opening the request and signing the code, on all
// cores: 1/(1/open + 1/sign).
func report(b *testing.B, n int, d time.Duration) {
	rate := float64(n) / d.Seconds()
	sign, open := signingLimit(), openingLimit(b)
	crypto := 1 / (1/sign + 1/open)
	b.ReportMetric(rate, "reservations/s")
	b.ReportMetric(rate/sign, "of-sign-limit")
	b.ReportMetric(crypto, "crypto-limit/s")
	b.ReportMetric(rate/crypto, "of-crypto-limit")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkReserveOneAtATime reserves one request per transaction and
// commit, as the desk does for a request typed in.
func BenchmarkReserveOneAtATime(b *testing.B) {
	reqs := requests(b, b.N)
	e := benchEnv(b)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		code, err := codes.DecodeKind(reqs[i], codes.KindRequest)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.l.Reserve(ctx, "acme/plant", code, nil); err != nil {
			b.Fatal(err)
		}
	}
	report(b, b.N, time.Since(start))
}

// BenchmarkReserveBatch reserves b.N request files together: opened and
// signed on all cores, committed DefaultBatchSize at a time.
func BenchmarkReserveBatch(b *testing.B) {
	reqs := requests(b, b.N)
	e := benchEnv(b)
	b.ResetTimer()
	start := time.Now()
	bins := make([][]byte, len(reqs))
	for i, r := range reqs {
		code, err := codes.DecodeKind(r, codes.KindRequest)
		if err != nil {
			b.Fatal(err)
		}
		bins[i] = code
	}
	for i, r := range e.l.ReserveBatch(ctx, "acme/plant", bins, nil) {
		if r.Err != nil {
			b.Fatalf("request %d: %v", i, r.Err)
		}
	}
	report(b, b.N, time.Since(start))
}

// BenchmarkEd25519Sign is the limit: bare Ed25519 signatures on all
// cores.
func BenchmarkEd25519Sign(b *testing.B) {
	_, key, _ := ed25519.GenerateKey(nil)
	msg := make([]byte, 300)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ed25519.Sign(key, msg)
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "signatures/s")
}
