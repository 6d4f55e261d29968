package armor

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"
)

func testData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

func TestEncodeGolden(t *testing.T) {
	got := string(Encode("AUTHORIZATION", []byte("airlock")))
	want := "-----BEGIN AIRLOCK AUTHORIZATION-----\nYWlybG9jaw==\n-----END AIRLOCK AUTHORIZATION-----\n"
	if got != want {
		t.Fatalf("Encode\n got %q\nwant %q", got, want)
	}
	got = string(Encode("SYSTEM DESCRIPTION", testData(49)))
	lines := strings.Split(got, "\n")
	if len(lines) != 5 || lines[0] != "-----BEGIN AIRLOCK SYSTEM DESCRIPTION-----" ||
		len(lines[1]) != 64 || len(lines[2]) != 4 || lines[3] != "-----END AIRLOCK SYSTEM DESCRIPTION-----" || lines[4] != "" {
		t.Fatalf("Encode of 49 bytes:\n%s", got)
	}
}

func TestRoundTrip(t *testing.T) {
	// 48 bytes are exactly one full line; check around that boundary.
	for _, n := range []int{1, 2, 3, 47, 48, 49, 95, 96, 97, 1000, 4096, 40000} {
		for _, kind := range []string{"AUTHORIZATION", "SYSTEM DESCRIPTION", "A B C"} {
			data := testData(n)
			armored := Encode(kind, data)
			if !Is(armored) {
				t.Fatalf("Is(Encode(...)) = false")
			}
			k, got, err := Decode(armored)
			if err != nil || k != kind || !bytes.Equal(got, data) {
				t.Fatalf("%d bytes %q: Decode = %q, %d bytes, %v", n, kind, k, len(got), err)
			}
			// The one tolerance: no final newline.
			k, got, err = Decode(armored[:len(armored)-1])
			if err != nil || k != kind || !bytes.Equal(got, data) {
				t.Fatalf("%d bytes %q without final newline: Decode = %q, %d bytes, %v", n, kind, k, len(got), err)
			}
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	good := string(Encode("AUTHORIZATION", testData(100))) // lines of 64, 64, 8
	lines := strings.Split(strings.TrimSuffix(good, "\n"), "\n")
	join := func(l ...string) []byte { return []byte(strings.Join(l, "\n") + "\n") }
	begin, l1, l2, l3, end := lines[0], lines[1], lines[2], lines[3], lines[4]

	tests := []struct {
		name  string
		input []byte
		want  error
		msg   string // substring of the message
	}{
		{"empty", nil, ErrMalformed, "empty input"},
		{"too large", bytes.Repeat([]byte("A"), MaxSize+1), ErrTooLarge, "65537 bytes, the limit is 65536"},
		{"CRLF", []byte(strings.ReplaceAll(good, "\n", "\r\n")), ErrMalformed, "line 1 ends with CRLF; convert the file to LF line endings (for example with dos2unix)"},
		{"CRLF on one line", join(begin, l1+"\r", l2, l3, end), ErrMalformed, "line 2 ends with CRLF"},
		{"bare CR", join(begin, l1[:10]+"\r"+l1[10:], l2, l3, end), ErrMalformed, "carriage return on line 2"},
		{"leading newline", []byte("\n" + good), ErrMalformed, "whitespace before the BEGIN line"},
		{"leading space", []byte(" " + good), ErrMalformed, "whitespace before the BEGIN line"},
		{"leading BOM", []byte("\ufeff" + good), ErrMalformed, "must start with"},
		{"leading garbage", []byte("Subject: licence\n" + good), ErrMalformed, "must start with"},
		{"trailing newline", []byte(good + "\n"), ErrMalformed, "whitespace after the END line"},
		{"trailing spaces", []byte(good + "  "), ErrMalformed, "whitespace after the END line"},
		{"trailing garbage", []byte(good + "-- \nsent from my phone\n"), ErrMalformed, "data after the END line"},
		{"second armor", []byte(good + good), ErrMalformed, "data after the END line"},
		{"space after END", join(begin, l1, l2, l3, end+" "), ErrMalformed, "want \"-----END AIRLOCK AUTHORIZATION-----\""},
		{"other END kind", join(begin, l1, l2, l3, "-----END AIRLOCK RETURN-----"), ErrMalformed, `END kind "RETURN" does not match BEGIN kind "AUTHORIZATION"`},
		{"no END", join(begin, l1, l2, l3), ErrMalformed, "no END line"},
		{"foreign BEGIN", join("-----BEGIN PGP MESSAGE-----", l1, l2, l3, end), ErrMalformed, "line 1: want a BEGIN line"},
		{"lowercase kind", join("-----BEGIN AIRLOCK authorization-----", l1, l2, l3, "-----END AIRLOCK authorization-----"), ErrMalformed, "line 1"},
		{"double space kind", join("-----BEGIN AIRLOCK A  B-----", l1, l2, l3, "-----END AIRLOCK A  B-----"), ErrMalformed, "line 1"},
		{"empty kind", join("-----BEGIN AIRLOCK -----", l1, l2, l3, "-----END AIRLOCK -----"), ErrMalformed, "line 1"},
		{"space after BEGIN", join(begin+" ", l1, l2, l3, end), ErrMalformed, "line 1"},
		{"empty body", join(begin, end), ErrMalformed, "empty body"},
		{"empty line in body", join(begin, l1, "", l2, l3, end), ErrMalformed, "line 3 is empty"},
		{"long line", join(begin, l1+l2[:4], l2[4:], l3, end), ErrMalformed, "line 2 is longer than 64 characters"},
		{"short line", join(begin, l1[:60], l1[60:]+l2[:60], l2[60:]+l3, end), ErrMalformed, "line 2 is shorter than 64 characters but is not the last"},
		{"rewrapped at 76", join(begin, (l1 + l2)[:76], (l1 + l2)[76:]+l3, end), ErrMalformed, "longer than 64"},
		{"space in body", join(begin, l1, l2, l3[:4]+" "+l3[5:], end), ErrMalformed, "not canonical base64"},
		{"tab-indented body", join(begin, "\t"+l1[1:], l2, l3, end), ErrMalformed, "not canonical base64"},
		{"URL alphabet", join(begin, strings.NewReplacer("+", "-", "/", "_").Replace(l1), l2, l3, end), ErrMalformed, ""},
		{"missing padding", []byte(strings.Replace(string(Encode("AUTHORIZATION", []byte("airlock"))), "==", "", 1)), ErrMalformed, "not canonical base64"},
		{"padding bits", []byte(strings.Replace(string(Encode("AUTHORIZATION", []byte("airlock"))), "aw==", "ax==", 1)), ErrMalformed, "not canonical base64"},
		{"padding mid-body", join(begin, "AA==AAAA"+l1[8:], l2, l3, end), ErrMalformed, "not canonical base64"},
		{"NUL in body", join(begin, l1[:10]+"\x00"+l1[11:], l2, l3, end), ErrMalformed, "not canonical base64"},
	}
	for _, tt := range tests {
		_, _, err := Decode(tt.input)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: Decode = %v, want %v", tt.name, err, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: message %q does not contain %q", tt.name, err, tt.msg)
		}
	}
}

func TestDecodeAcceptsMaxSize(t *testing.T) {
	size := func(n int) int {
		chars := (n + 2) / 3 * 4
		return len("-----BEGIN AIRLOCK A-----\n-----END AIRLOCK A-----\n") + chars + (chars+lineLen-1)/lineLen
	}
	n := MaxSize * 3 / 4
	for size(n) > MaxSize {
		n--
	}
	a := Encode("A", testData(n))
	if len(a) != size(n) {
		t.Fatalf("armored size %d, want %d", len(a), size(n))
	}
	if _, _, err := Decode(a); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Decode(append(a, '\n')); !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
		t.Fatalf("one more byte: %v", err)
	}
}

func TestIs(t *testing.T) {
	for in, want := range map[string]bool{
		"-----BEGIN AIRLOCK AUTHORIZATION-----\n": true,
		"-----BEGIN AIRLOCK ":                     true,
		"-----BEGIN AGE ENCRYPTED FILE-----\n":    false,
		" -----BEGIN AIRLOCK X-----\n":            false,
		"RQ-0000":                                 false,
		"":                                        false,
	} {
		if got := Is([]byte(in)); got != want {
			t.Errorf("Is(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestEncodePanics(t *testing.T) {
	tests := []struct {
		kind string
		data []byte
	}{
		{"", []byte{1}},
		{"authorization", []byte{1}},
		{" AUTHORIZATION", []byte{1}},
		{"AUTHORIZATION ", []byte{1}},
		{"SYSTEM  DESCRIPTION", []byte{1}},
		{"SYSTEM-DESCRIPTION", []byte{1}},
		{"AUTHORIZATION", nil},
		{"AUTHORIZATION", make([]byte, MaxSize)},
	}
	for _, tt := range tests {
		func() {
			defer func() {
				r := recover()
				if s, ok := r.(string); !ok || !strings.HasPrefix(s, "armor: ") {
					t.Errorf("Encode(%q, %d bytes) panicked with %v, want an armor: panic", tt.kind, len(tt.data), r)
				}
			}()
			Encode(tt.kind, tt.data)
		}()
	}
}

func FuzzDecode(f *testing.F) {
	for _, n := range []int{1, 2, 3, 48, 49, 100, 1000} {
		good := Encode("AUTHORIZATION", testData(n))
		f.Add(good)
		f.Add(good[:len(good)-1])
		f.Add(bytes.ReplaceAll(good, []byte("\n"), []byte("\r\n")))
		f.Add(append([]byte(" "), good...))
		f.Add(append(append([]byte(nil), good...), "junk"...))
		f.Add(good[:len(good)/2])
	}
	f.Add(Encode("SYSTEM DESCRIPTION", []byte("x")))
	f.Add([]byte("-----BEGIN AIRLOCK AUTHORIZATION-----\n-----END AIRLOCK AUTHORIZATION-----\n"))
	f.Add([]byte("-----BEGIN AIRLOCK A-----\nYWlybG9jax==\n-----END AIRLOCK A-----\n"))
	f.Add([]byte("-----BEGIN AIRLOCK A-----\nYWlybG9jaw==\n-----END AIRLOCK B-----\n"))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, b []byte) {
		kind, data, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Decode(%q): error matches no sentinel: %v", b, err)
			}
			return
		}
		// DecodeBulk reads small files exactly as Decode does.
		if k2, d2, err := DecodeBulk(b); err != nil || k2 != kind || !bytes.Equal(d2, data) {
			t.Fatalf("DecodeBulk(%q) = %q, %v; Decode accepted it", b, k2, err)
		}
		// Accepted input is exactly Encode's output, give or take the
		// final newline.
		again := Encode(kind, data)
		if !bytes.Equal(again, b) && !bytes.Equal(again[:len(again)-1], b) {
			t.Fatalf("accepted %q, which re-encodes as %q", b, again)
		}
	})
}

// bulkData is the largest data EncodeBulk takes for the kind "ACTIVATION":
// 16 MiB, the largest bulk code.
const bulkData = 16 << 20

func TestBulkRoundTrip(t *testing.T) {
	data := testData(bulkData)
	a := EncodeBulk("ACTIVATION", data)
	if len(a) > MaxBulkSize {
		t.Fatalf("16 MiB armor to %d bytes, over MaxBulkSize", len(a))
	}
	t.Logf("16 MiB armor to %d bytes; MaxBulkSize is %d", len(a), MaxBulkSize)
	if k, ok := PeekKind(a); !ok || k != "ACTIVATION" {
		t.Fatalf("PeekKind = %q, %v", k, ok)
	}
	k, got, err := DecodeBulk(a)
	if err != nil || k != "ACTIVATION" || !bytes.Equal(got, data) {
		t.Fatalf("DecodeBulk = %q, %d bytes, %v", k, len(got), err)
	}
	// Decode keeps its limit, whatever the kind.
	if _, _, err := Decode(a); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "the limit is 65536") {
		t.Fatalf("Decode of a bulk file = %v, want ErrTooLarge", err)
	}
	over := append(bytes.Clone(a), bytes.Repeat([]byte("A"), MaxBulkSize+1-len(a))...)
	if _, _, err := DecodeBulk(over); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("DecodeBulk over MaxBulkSize = %v, want ErrTooLarge", err)
	}
}

// TestDecodeBulkIsAsStrict: DecodeBulk refuses what Decode refuses, with
// the same message.
func TestDecodeBulkIsAsStrict(t *testing.T) {
	good := string(Encode("AUTHORIZATION", testData(100)))
	for _, in := range []string{
		"", " " + good, good + "\n", good + "x", strings.ReplaceAll(good, "\n", "\r\n"),
		strings.Replace(good, "-----END AIRLOCK AUTHORIZATION-----", "-----END AIRLOCK RETURN-----", 1),
		strings.Replace(good, "\n-----END", "\n\n-----END", 1),
		"-----BEGIN AIRLOCK A-----\nYWlybG9jax==\n-----END AIRLOCK A-----\n",
	} {
		_, _, e1 := Decode([]byte(in))
		_, _, e2 := DecodeBulk([]byte(in))
		if e1 == nil || e2 == nil || e1.Error() != e2.Error() {
			t.Errorf("Decode = %v, DecodeBulk = %v", e1, e2)
		}
	}
}

func TestPeekKind(t *testing.T) {
	for in, want := range map[string]string{
		"-----BEGIN AIRLOCK ACTIVATION REQUEST-----\nxx":   "ACTIVATION REQUEST",
		"-----BEGIN AIRLOCK ACTIVATION-----":               "ACTIVATION",
		"-----BEGIN AIRLOCK activation-----\n":             "",
		"-----BEGIN AIRLOCK ACTIVATION----- \n":            "",
		"-----BEGIN AIRLOCK -----\n":                       "",
		"-----BEGIN AGE ENCRYPTED FILE-----\n":             "",
		"\n-----BEGIN AIRLOCK ACTIVATION-----\n":           "",
		"-----BEGIN AIRLOCK ACTIVATION-----\r\n":           "",
		"-----BEGIN AIRLOCK ACTIVATION  REQUEST-----\nxxx": "",
	} {
		got, ok := PeekKind([]byte(in))
		if got != want || ok != (want != "") {
			t.Errorf("PeekKind(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestEncodeBulkPanicsOverMaxBulkSize(t *testing.T) {
	defer func() {
		if s, ok := recover().(string); !ok || !strings.Contains(s, "more than MaxBulkSize") {
			t.Fatalf("EncodeBulk over MaxBulkSize panicked with %v", s)
		}
	}()
	EncodeBulk("ACTIVATION", make([]byte, MaxBulkSize))
}

// TestDecodeBulkBoundsMemory: a hostile file of the largest size costs
// about twice its size, whatever its lines are like.
func TestDecodeBulkBoundsMemory(t *testing.T) {
	begin := "-----BEGIN AIRLOCK ACTIVATION-----\n"
	fill := func(line string) []byte {
		b := []byte(begin)
		for len(b)+len(line) < MaxBulkSize-64 {
			b = append(b, line...)
		}
		return append(b, "-----END AIRLOCK ACTIVATION-----\n"...)
	}
	for name, in := range map[string][]byte{
		"empty lines":     fill("\n"),
		"one-char lines":  fill("A\n"),
		"last line short": append(fill(strings.Repeat("A", 64) + "\n")[:MaxBulkSize-100], "\n-----END AIRLOCK ACTIVATION-----\n"...),
		"no END line":     fill(strings.Repeat("A", 64) + "\n")[:MaxBulkSize-64],
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, _, err := DecodeBulk(in)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s: DecodeBulk = %v", name, err)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > 2*uint64(len(in)) {
			t.Errorf("%s: %d bytes allocated for a file of %d", name, got, len(in))
		}
	}
}
