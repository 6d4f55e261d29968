package testvectors_test

import (
	"bytes"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"testing/cryptotest"

	"github.com/airlock-dev/airlock/testvectors"
	"github.com/airlock-dev/airlock/testvectors/gen"
)

var update = flag.Bool("update", false, "rewrite the vector files from the generator")

// generate runs the generator under a fixed random source, so age
// encryption gives the same bytes every time.
func generate(t *testing.T) map[string][]byte {
	t.Helper()
	cryptotest.SetGlobalRandom(t, 20261122)
	files, err := gen.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestVectorsAreReproducible(t *testing.T) {
	files := generate(t)
	if *update {
		if err := os.RemoveAll("cases"); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll("cases", 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range files {
			if err := os.WriteFile(filepath.FromSlash(name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("wrote %d files", len(files))
		return
	}
	committed := map[string]bool{}
	err := fs.WalkDir(testvectors.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		committed[p] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := fs.ReadFile(testvectors.FS(), name)
		if err != nil {
			t.Errorf("%s: missing (run make vectors)", name)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: differs from what the generator makes now (run make vectors and review the diff)", name)
		}
		delete(committed, name)
	}
	for name := range committed {
		t.Errorf("%s: committed but no longer generated (run make vectors)", name)
	}
}

func TestEveryVectorMeetsItsExpectation(t *testing.T) {
	keys, err := testvectors.LoadKeys()
	if err != nil {
		t.Fatal(err)
	}
	v, err := testvectors.NewVerifier(keys)
	if err != nil {
		t.Fatal(err)
	}
	cases, err := testvectors.Cases()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			want, known := testvectors.Expectations[c.Expect]
			if !known {
				t.Fatalf("unknown expect %q", c.Expect)
			}
			err := v.Run(&c)
			if want == nil {
				if err != nil {
					t.Fatalf("want ok, got %v", err)
				}
				return
			}
			if !errors.Is(err, want) {
				t.Fatalf("want %s, got %v", c.Expect, err)
			}
			for name, other := range testvectors.Expectations {
				if other != nil && other != want && errors.Is(err, other) {
					t.Fatalf("error matches %s as well as %s: %v", name, c.Expect, err)
				}
			}
			t.Logf("%s: %v", c.Expect, err)
		})
		counts[c.Expect]++
	}
	names := make([]string, 0, len(counts))
	for n := range counts {
		names = append(names, n)
	}
	sort.Strings(names)
	invalid := len(cases) - counts["ok"]
	if invalid < 30 {
		t.Errorf("%d invalid cases, want at least 30", invalid)
	}
	for _, n := range names {
		t.Logf("%-15s %d", n, counts[n])
	}
}

// Each kind must appear in all three forms as a valid case.
func TestEveryKindInEveryForm(t *testing.T) {
	cases, err := testvectors.Cases()
	if err != nil {
		t.Fatal(err)
	}
	have := map[[2]string]bool{}
	for _, c := range cases {
		if c.Expect == "ok" {
			have[[2]string{c.Kind, c.Form}] = true
		}
	}
	for _, k := range []string{"request", "authorization", "confirmation", "return", "system description", "usage report", "trust update", "activation request", "activation", "download manifest", "sync request", "sync answer"} {
		for _, f := range []string{"binary", "typed", "armored"} {
			if !have[[2]string{k, f}] {
				t.Errorf("no valid %s vector in %s form", k, f)
			}
		}
	}
}
