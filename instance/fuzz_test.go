package instance

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"
)

// FuzzDecodeState feeds hostile state files to the decoder and the
// verification behind Open: nothing panics, and every refusal is
// ErrCorrupt or ErrFormat.
func FuzzDecodeState(f *testing.F) {
	b := newBench(f)
	f.Add(b.stateBytes())
	b.reserve(cameras(3), analytics(1, t0, t0.Add(30*day)))
	b.must(b.in.Acquire(tagCamera, 2))
	f.Add(b.stateBytes())
	f.Add([]byte(magic))
	f.Add([]byte("airlock instance state v9\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(data []byte) {
			st, _, err := decodeState(data)
			if err == nil {
				err = st.verify()
			}
			if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrFormat) {
				t.Fatalf("error of no sentinel: %v", err)
			}
			if err == nil {
				if _, _, err := st.encode(); err != nil {
					t.Fatalf("a state that decodes does not encode: %v", err)
				}
			}
		}
		check(data)
		// The same with a checksum that matches, to reach the records.
		if len(data) > checksumSize {
			body := data[:len(data)-checksumSize]
			if !bytes.HasPrefix(body, []byte(magic)) {
				body = append([]byte(magic), body...)
			}
			sum := sha256.Sum256(body)
			check(append(bytes.Clone(body), sum[:]...))
		}
	})
}
