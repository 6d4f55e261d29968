package service

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
	l := newLimiter(2, 3, 4)
	for i := range 3 {
		if ok, _ := l.allow("a", t0); !ok {
			t.Fatalf("request %d refused within the burst", i)
		}
	}
	ok, retry := l.allow("a", t0)
	if ok || retry != 500*time.Millisecond {
		t.Fatalf("past the burst: %v, retry %v, want refused and 500ms", ok, retry)
	}
	if ok, _ := l.allow("a", t0.Add(500*time.Millisecond)); !ok {
		t.Fatalf("refused after the refill")
	}
	for i := range 3 {
		l.allow(fmt.Sprint("k", i), t0)
	}
	if ok, retry := l.allow("new", t0); ok || retry != time.Second {
		t.Fatalf("a fifth key with no bucket full: %v %v", ok, retry)
	}
	// Later, every bucket is full again and dropped.
	if ok, _ := l.allow("new", t0.Add(3*time.Second)); !ok {
		t.Fatalf("refused after the sweep")
	}
	if n := len(l.buckets); n != 1 {
		t.Errorf("%d buckets after the sweep, want 1", n)
	}
}

// TestDecodeStrict: exact field names, once each, one object, bounded
// depth.
func TestDecodeStrict(t *testing.T) {
	type inner struct {
		Tag string
	}
	type msg struct {
		Name  string  `json:"name"`
		Lines []inner `json:"lines,omitempty"`
		Skip  string  `json:"-"`
	}
	for _, c := range []struct {
		in string
		ok bool
	}{
		{`{"name":"a","lines":[{"Tag":"x"}]}`, true},
		{` {"name":"a"} `, true},
		{`{}`, true},
		{`{"Name":"a"}`, false},
		{`{"name":"a","name":"b"}`, false},
		{`{"lines":[{"Tag":"x","Tag":"y"}]}`, false},
		{`{"lines":[{"tag":"x"}]}`, false},
		{`{"Skip":"x"}`, false},
		{`{"-":"x"}`, false},
		{`{"name":"a"}{}`, false},
		{`{"name":"a"} x`, false},
		{`[]`, false},
		{`null`, false},
		{``, false},
		{`{"name":{"a":1}}`, false},
		{`{"lines":{}}`, false},
		{`{"name":1}`, false},
	} {
		var m msg
		err := decodeStrict([]byte(c.in), &m)
		if (err == nil) != c.ok {
			t.Errorf("%s: %v, want ok %v", c.in, err, c.ok)
		}
	}
}
