package authority_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
)

func TestScratchTiming(t *testing.T) {
	e := newEnv(t)
	e.setup()
	e.lot("acme/plant", camera, 1000000, 0, 0, 0, false)
	n := 500
	st := time.Now()
	for i := 0; i < n; i++ {
		e.st.Update(ctx, func(tx authority.Tx) error { return tx.SetRemovalLimit(1, i%5) })
	}
	t.Logf("empty update %v", time.Since(st)/time.Duration(n))
	reqs := make([][]byte, n)
	for i := range reqs {
		reqs[i] = newDevice(t, fmt.Sprintf("x%d-%d", i, time.Now().UnixNano()), e.f.Authority).request(lic(camera, 1))
	}
	st = time.Now()
	for i := 0; i < n; i++ {
		if _, err := codes.OpenRequest(reqs[i], e.f.Authority); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("open %v", time.Since(st)/time.Duration(n))
	st = time.Now()
	for i := 0; i < n; i++ {
		if _, err := e.l.Reserve(ctx, "acme/plant", reqs[i], nil); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("reserve %v", time.Since(st)/time.Duration(n))
}
