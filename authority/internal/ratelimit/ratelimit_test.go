package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

// TestLimiterRefillsAndBounds: a bucket gives its burst, then one token
// per 1/rate; past max keys, full buckets are dropped, and a new key
// waits while none is full.
func TestLimiterRefillsAndBounds(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	l := New(2, 3, 4)
	for i := range 3 {
		if ok, _ := l.Allow("a", t0); !ok {
			t.Fatalf("request %d refused within the burst", i)
		}
	}
	ok, retry := l.Allow("a", t0)
	if ok || retry != 500*time.Millisecond {
		t.Fatalf("past the burst: %v, retry %v, want refused and 500ms", ok, retry)
	}
	if ok, _ := l.Allow("a", t0.Add(500*time.Millisecond)); !ok {
		t.Fatalf("refused after the refill")
	}
	for i := range 3 {
		l.Allow(fmt.Sprint("k", i), t0)
	}
	if ok, retry := l.Allow("new", t0); ok || retry != time.Second {
		t.Fatalf("a fifth key with no bucket full: %v %v", ok, retry)
	}
	// Later, every bucket is full again and dropped.
	if ok, _ := l.Allow("new", t0.Add(3*time.Second)); !ok {
		t.Fatalf("refused after the sweep")
	}
	if n := len(l.buckets); n != 1 {
		t.Errorf("%d buckets after the sweep, want 1", n)
	}
}
