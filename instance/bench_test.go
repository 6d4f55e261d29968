package instance

import (
	"testing"
)

// benchReserved is an instance with an installed code, opened with the
// real clock.
func benchReserved(b *testing.B) (*bench, *Instance) {
	bb := newBench(b)
	bb.reserve(cameras(1000), analytics(10, t0, t0.Add(3650*day)))
	in, err := Open(bb.dir)
	if err != nil {
		b.Fatal(err)
	}
	return bb, in
}

// BenchmarkLicensed is the product's question, clock read included:
// target ≤ 100 ns/op, 0 allocs/op.
func BenchmarkLicensed(b *testing.B) {
	_, in := benchReserved(b)
	if !in.Licensed(tagCamera) {
		b.Fatal("not licensed")
	}
	b.ReportAllocs()
	for b.Loop() {
		in.Licensed(tagCamera)
	}
}

func BenchmarkLicensedParallel(b *testing.B) {
	_, in := benchReserved(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			in.Licensed(tagCamera)
		}
	})
}

// BenchmarkAcquireReleaseMemory is Acquire then Release without the
// durable write: the check against the snapshot, the change of the counts
// and their publication. Target ≤ 200 ns/op.
func BenchmarkAcquireReleaseMemory(b *testing.B) {
	_, in := benchReserved(b)
	b.ReportAllocs()
	for b.Loop() {
		in.mu.Lock()
		now := in.opts.unix()
		u, e, err := in.acquire(in.st, tagCamera, 1, now)
		if err != nil {
			b.Fatal(err)
		}
		in.publishUse(u, e)
		if u, e, err = in.release(in.st, tagCamera, 1); err != nil {
			b.Fatal(err)
		}
		in.publishUse(u, e)
		in.mu.Unlock()
	}
}

// BenchmarkAcquireReleaseDurable is Acquire then Release, each a durable
// write under the folder's lock (two fsyncs and a rename each).
func BenchmarkAcquireReleaseDurable(b *testing.B) {
	_, in := benchReserved(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := in.Acquire(tagCamera, 1); err != nil {
			b.Fatal(err)
		}
		if err := in.Release(tagCamera, 1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen opens a state folder with an installed code, verifying
// the code's signature and the trust set: target ≤ 1 ms.
func BenchmarkOpen(b *testing.B) {
	bb, _ := benchReserved(b)
	// A full journal and a few tags in use, as after years of use.
	for i := range maxJournal {
		if err := bb.in.Acquire(tagCamera, 1+i%3); err != nil {
			b.Fatal(err)
		}
		if _, err := bb.in.UsageReport(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Open(bb.dir); err != nil {
			b.Fatal(err)
		}
	}
}
