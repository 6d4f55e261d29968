package instance

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodeFleet feeds hostile fleet files to the decoder behind every
// fleet operation: nothing panics, every refusal is ErrCorrupt or
// ErrFormat, and what decodes encodes again to a file that decodes to the
// same fleet.
func FuzzDecodeFleet(f *testing.F) {
	b := newBench(f)
	d := newDesk(b)
	b.must(b.in.QueueDevices("p", "d1", "d2"))
	d.round()
	b.must(b.in.QueueDevices("p", "d3"))
	b.must(b.in.QueueDevices("q", "e1"))
	d.request(nil)
	data, err := os.ReadFile(filepath.Join(b.dir, fleetName))
	b.must(err)
	f.Add(data)
	f.Add([]byte(fleetMagic))
	f.Add([]byte("airlock fleet v9\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(data []byte) {
			fs, err := decodeFleet(data)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrFormat) {
					t.Fatalf("error of no sentinel: %v", err)
				}
				return
			}
			again, _, err := fs.encode()
			if err != nil {
				t.Fatalf("a fleet that decodes does not encode: %v", err)
			}
			fs2, err := decodeFleet(again)
			if err != nil {
				t.Fatalf("the fleet encoded again does not decode: %v", err)
			}
			if len(fs2.queue) != len(fs.queue) || !bytes.Equal(fs2.core.Activation, fs.core.Activation) || len(fs2.core.Pending) != len(fs.core.Pending) {
				t.Fatal("the fleet encoded again is another fleet")
			}
		}
		check(data)
		// The same with a checksum that matches, to reach the records.
		if len(data) > checksumSize {
			body := data[:len(data)-checksumSize]
			if !bytes.HasPrefix(body, []byte(fleetMagic)) {
				body = append([]byte(fleetMagic), body...)
			}
			sum := sha256.Sum256(body)
			check(append(bytes.Clone(body), sum[:]...))
		}
	})
}
