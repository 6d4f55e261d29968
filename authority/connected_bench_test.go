package authority_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/codes/api"
)

// BenchmarkConnectedRenew measures authorization renewals end to end in
// the ledger, as authority serve calls it: many callers at once (the
// HTTPS handlers), each renewal authenticated (MAC and sequence number),
// planned, signed and committed durably, the batcher sharing each
// transaction's fsync among the renewals that arrived together. The
// instances are registered first; each has one renewal in flight at a
// time, as an instance does. It reports renewals/s and the ratio to the
// bare Ed25519 signing rate on all cores (BenchmarkEd25519Sign, measured
// in the same run):
//
//	go test -run='^$' -bench='ConnectedRenew|Ed25519Sign' -benchtime=20000x ./authority
func BenchmarkConnectedRenew(b *testing.B) {
	const instances = 512
	e := benchEnv(b)
	tok := e.token("acme/plant", true, 0)
	pool := make(chan *cdev, instances)
	for i := range instances {
		d := e.cdev(fmt.Sprint("renew-", i))
		a, err := d.register(tok, false, lic(camera, 1))
		e.must(err)
		if a.Authorization == nil {
			b.Fatal("no code")
		}
		d.serial = 1
		pool <- d
	}
	want := []codes.License{lic(camera, 1)}
	b.SetParallelism(64) // 64 callers per core: the service's handlers
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			d := <-pool
			r := api.RenewRequest{Wanted: want, Installed: d.serial}
			a, err := e.l.RenewAuthorization(ctx, d.caller(api.PathRenewAuthorization, r), r)
			if err != nil {
				b.Error(err)
				pool <- d
				return
			}
			d.serial++
			if a.Authorization == nil {
				b.Error("no code")
			}
			pool <- d
		}
	})
	d := time.Since(start)
	b.StopTimer()
	rate := float64(b.N) / d.Seconds()
	b.ReportMetric(rate, "renewals/s")
	b.ReportMetric(rate/signingLimit(), "of-sign-limit")
	b.ReportMetric(float64(d.Microseconds())/float64(b.N), "µs/renewal")
	b.ReportMetric(0, "ns/op")
	e.verify()
}
