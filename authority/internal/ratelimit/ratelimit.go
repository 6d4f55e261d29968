// Package ratelimit holds the token buckets of the authority's HTTPS
// front ends (the API's requests and registrations, the portal's
// sign-ins), in memory: each process counts its own.
package ratelimit

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// A Limiter holds a token bucket per key: rate tokens a second, at most
// burst. Its table holds at most max keys; past it, the buckets full again
// (idle for burst/rate) are dropped, at most once a second, and a new key
// is refused until there is room.
type Limiter struct {
	rate  float64
	burst float64
	max   int

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was computed
}

// New returns a Limiter of rate tokens a second, burst at most, for at
// most max keys.
func New(rate float64, burst, max int) *Limiter {
	return &Limiter{rate: rate, burst: float64(burst), max: max, buckets: map[string]*bucket{}}
}

// Allow takes a token from key's bucket at now. When none is left it
// reports false and how long until one is.
func (l *Limiter) Allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.max && !l.sweep(now) {
			return false, time.Second
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(l.burst, b.tokens+d.Seconds()*l.rate)
		b.at = now
	}
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	}
	b.tokens--
	return true, 0
}

// sweep drops the buckets that are full at now, and reports whether the
// table has room. The caller holds mu.
func (l *Limiter) sweep(now time.Time) bool {
	if now.Sub(l.lastSweep) >= time.Second {
		l.lastSweep = now
		for k, b := range l.buckets {
			if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
				delete(l.buckets, k)
			}
		}
	}
	return len(l.buckets) < l.max
}

// ClientAddr is the IP address the connection comes from, the key of a
// per-client limit. Served behind a proxy, every client would share the
// proxy's address and its limit.
func ClientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
