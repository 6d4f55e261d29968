package groups

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

// testData returns n deterministic pseudo-random bytes.
func testData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// encodeValues builds a typed code from raw 5-bit values, with correct check
// characters, so tests can make codes whose checks pass but whose data part is
// malformed.
func encodeValues(prefix string, vals []byte) string {
	var b strings.Builder
	b.WriteString(prefix)
	for j := 0; j*groupData < len(vals); j++ {
		g := vals[j*groupData : min((j+1)*groupData, len(vals))]
		b.WriteByte('-')
		for _, v := range g {
			b.WriteByte(alphabet[v])
		}
		b.WriteByte(alphabet[checkValue(j, g)])
	}
	return b.String()
}

func TestEncodeGolden(t *testing.T) {
	tests := []struct {
		prefix string
		data   []byte
		want   string
	}{
		{"RQ", nil, "RQ"},
		{"RQ", []byte{}, "RQ"},
		// Group 0 adds 1; a zero data value contributes nothing.
		{"AB", []byte{0x00}, "AB-001"},
		// 0xff: 11111 111(00) -> Z W.
		{"AB", []byte{0xff}, "AB-ZW" + string(alphabet[1^gfMul(31, 2)^gfMul(28, 4)])},
		// Five bytes fill exactly one group of eight characters.
		{"ZZ", []byte{0, 0, 0, 0, 0}, "ZZ-000000001"},
		{"ZZ", []byte{0, 0, 0, 0, 0, 0}, "ZZ-000000001-002"},
	}
	for _, tt := range tests {
		if got := Encode(tt.prefix, tt.data); got != tt.want {
			t.Errorf("Encode(%q, %x) = %q, want %q", tt.prefix, tt.data, got, tt.want)
		}
	}
}

// TestCheckValueMatchesLogTable recomputes the check with GF(32) log and
// antilog tables, independently of gfMul.
func TestCheckValueMatchesLogTable(t *testing.T) {
	var exp [62]byte
	var log [32]int
	x := byte(1)
	for i := range 31 {
		exp[i], exp[i+31] = x, x
		log[x] = i
		x <<= 1
		if x&0x20 != 0 {
			x ^= 0x25
		}
	}
	if x != 1 {
		t.Fatalf("α does not have order 31")
	}
	mul := func(a, b byte) byte {
		if a == 0 || b == 0 {
			return 0
		}
		return exp[log[a]+log[b]]
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		j := r.IntN(100)
		d := make([]byte, 1+r.IntN(groupData))
		for i := range d {
			d[i] = byte(r.IntN(32))
		}
		want := byte(j%31 + 1)
		for i, v := range d {
			want ^= mul(v, exp[i+1])
		}
		if got := checkValue(j, d); got != want {
			t.Fatalf("checkValue(%d, %v) = %d, want %d", j, d, got, want)
		}
	}
}

func TestRoundTripAllLengths(t *testing.T) {
	for n := 0; n <= 300; n++ {
		data := testData(n, uint64(n))
		code := Encode("AU", data)
		prefix, got, err := Decode(code)
		if err != nil {
			t.Fatalf("%d bytes: Decode(%q): %v", n, code, err)
		}
		if prefix != "AU" || !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: round trip gave %q %x, want AU %x", n, prefix, got, data)
		}
		for i, g := range strings.Split(code, "-")[1:] {
			if len(g) < 2 || len(g) > groupData+1 {
				t.Fatalf("%d bytes: group %d is %q", n, i+1, g)
			}
		}
	}
}

// sampleCode has five groups, the last one short.
var sampleData = testData(22, 7)

func sampleCode() string { return Encode("RQ", sampleData) }

func TestSampleCodeShape(t *testing.T) {
	g := strings.Split(sampleCode(), "-")
	if len(g) != 1+5 || len(g[5]) != 5 {
		t.Fatalf("sample code %q does not have 4 full groups and a short one", sampleCode())
	}
}

// positions returns the index in code of every data or check character with
// its 1-based group.
func positions(code string) (idx, group []int) {
	for i, g := range strings.Split(code, "-")[1:] {
		for range g {
			group = append(group, i+1)
		}
	}
	for i := 3; i < len(code); i++ {
		if code[i] != '-' {
			idx = append(idx, i)
		}
	}
	return idx, group
}

func wantTypo(t *testing.T, input string, group int) {
	t.Helper()
	_, _, err := Decode(input)
	var te *TypoError
	if !errors.As(err, &te) || !errors.Is(err, ErrTypo) {
		t.Fatalf("Decode(%q) = %v, want a typo in group %d", input, err, group)
	}
	if te.Group != group {
		t.Fatalf("Decode(%q) reports group %d, want %d", input, te.Group, group)
	}
}

func TestEverySubstitutionIsCaughtInItsGroup(t *testing.T) {
	code := sampleCode()
	idx, group := positions(code)
	for k, i := range idx {
		for _, c := range []byte(alphabet) {
			if c == code[i] {
				continue
			}
			typo := code[:i] + string(c) + code[i+1:]
			wantTypo(t, typo, group[k])
		}
	}
}

func TestAdjacentTranspositionsAreCaught(t *testing.T) {
	code := sampleCode()
	idx, group := positions(code)
	for k := 0; k+1 < len(idx); k++ {
		a, b := idx[k], idx[k+1]
		if code[a] == code[b] {
			continue
		}
		s := []byte(code)
		s[a], s[b] = s[b], s[a]
		// Across a dash, the check character of the first group changes.
		wantTypo(t, string(s), group[k])
	}
}

func TestSwappedLookAlikeGroupsAreCaught(t *testing.T) {
	// Five bytes are exactly eight characters, so repeating them gives groups
	// whose data are identical and only the check characters differ.
	block := []byte{0x42, 0x13, 0x37, 0xc0, 0xde}
	data := bytes.Repeat(block, 4)
	code := Encode("AU", data)
	g := strings.Split(code, "-")
	if g[1][:groupData] != g[2][:groupData] || g[1] == g[2] {
		t.Fatalf("groups %q and %q are not look-alikes", g[1], g[2])
	}
	for _, swap := range [][2]int{{1, 2}, {1, 4}, {2, 3}, {3, 4}} {
		h := append([]string(nil), g...)
		h[swap[0]], h[swap[1]] = h[swap[1]], h[swap[0]]
		wantTypo(t, strings.Join(h, "-"), swap[0])
	}
}

func TestMovedGroupsAreCaught(t *testing.T) {
	code := Encode("RQ", testData(60, 3)) // 12 groups
	g := strings.Split(code, "-")
	for a := 1; a < len(g)-1; a++ { // the last group is short, leave it
		for b := a + 1; b < len(g)-1; b++ {
			h := append([]string(nil), g...)
			h[a], h[b] = h[b], h[a]
			wantTypo(t, strings.Join(h, "-"), a)
		}
	}
}

func TestDroppedOrExtraCharacterReportsItsGroup(t *testing.T) {
	code := sampleCode()
	// Drop the 3rd character of group 2.
	i := strings.Index(code, "-") + 1 + groupData + 1 + 1 + 2
	wantTypo(t, code[:i]+code[i+1:], 2)
	// Insert an extra character into group 3.
	j := strings.Index(code, "-") + 1 + 2*(groupData+2) + 4
	extra := "0"
	if code[j] == '0' {
		extra = "1"
	}
	wantTypo(t, code[:j]+extra+code[j:], 3)
}

func TestTypoErrorShowsTheGroupAsTyped(t *testing.T) {
	code := sampleCode()
	g := strings.Split(code, "-")
	// The user types group 2 in lower case with a stray space and a typo.
	bad := []byte(strings.ToLower(g[2]))
	if bad[0] == '0' {
		bad[0] = '1'
	} else {
		bad[0] = '0'
	}
	typedGroup := string(bad[:4]) + " " + string(bad[4:])
	input := "  " + g[0] + " " + g[1] + " -- " + typedGroup + "\n" + strings.Join(g[3:], "-") + "\n"
	_, _, err := Decode(input)
	var te *TypoError
	if !errors.As(err, &te) {
		t.Fatalf("Decode: %v, want a *TypoError", err)
	}
	if te.Group != 2 || te.Typed != typedGroup {
		t.Fatalf("got group %d %q, want 2 %q", te.Group, te.Typed, typedGroup)
	}
	want := `typed code has a typo in group 2 ("` + typedGroup + `"): check that group and type it again`
	if err.Error() != want {
		t.Fatalf("message\n got %s\nwant %s", err, want)
	}
}

func TestNormalisedInputDecodesIdentically(t *testing.T) {
	code := sampleCode()
	lower := strings.ToLower(code)
	// Crockford readings: O for 0, I and L for 1, in either case.
	misread := strings.NewReplacer("0", "O", "1", "l").Replace(code[2:])
	misread = code[:2] + misread
	misreadI := code[:2] + strings.ReplaceAll(strings.ToLower(code[2:]), "1", "I")
	tests := map[string]string{
		"canonical":         code,
		"lower case":        lower,
		"no dashes":         strings.ReplaceAll(code, "-", ""),
		"spaces":            strings.ReplaceAll(code, "-", " "),
		"tabs":              strings.ReplaceAll(code, "-", "\t"),
		"wrapped":           strings.Join(Lines(code, 2), "\n"),
		"wrapped CRLF":      strings.Join(Lines(code, 2), "\r\n") + "\r\n",
		"surrounding space": " \t\n " + code + " \r\n",
		"O and l":           misread,
		"i":                 misreadI,
		"odd wrap":          code[:7] + "\n" + code[7:19] + "\r\n  " + code[19:],
		"prefix apart":      code[:1] + " - " + code[1:],
	}
	for name, input := range tests {
		prefix, data, err := Decode(input)
		if err != nil {
			t.Errorf("%s: Decode(%q): %v", name, input, err)
			continue
		}
		if prefix != "RQ" || !bytes.Equal(data, sampleData) {
			t.Errorf("%s: Decode(%q) = %q %x, want RQ %x", name, input, prefix, data, sampleData)
		}
	}
}

func TestRejectsForeignCharactersWithPosition(t *testing.T) {
	code := sampleCode() // 2 + 4*10 + 6 = 48 characters
	tests := []struct {
		name  string
		input string
		want  string
	}{
		{"zero-width space", code[:36] + "\u200b" + code[36:],
			"malformed typed code: unexpected character U+200B at position 37"},
		{"BOM", "\ufeff" + code,
			"malformed typed code: unexpected character U+FEFF at position 1"},
		{"Cyrillic A", code[:10] + "\u0410" + code[11:],
			"malformed typed code: unexpected character U+0410 at position 11"},
		{"Cyrillic in prefix", "R\u0430" + code[2:],
			"malformed typed code: unexpected character U+0430 at position 2"},
		{"U", code[:5] + "U" + code[6:],
			"malformed typed code: unexpected character 'U' at position 6 (U is never used in codes)"},
		{"u", code[:5] + "u" + code[6:],
			"malformed typed code: unexpected character 'u' at position 6 (U is never used in codes)"},
		// Positions count characters as typed, not bytes.
		{"after multi-byte", "R\u00e9" + code,
			"malformed typed code: unexpected character U+00E9 at position 2"},
		{"punctuation", code[:20] + "." + code[20:],
			"malformed typed code: unexpected character '.' at position 21"},
		{"nul", code + "\x00",
			"malformed typed code: unexpected character U+0000 at position 49"},
		{"invalid UTF-8", code[:3] + "\xff" + code[3:],
			"malformed typed code: invalid UTF-8 byte 0xff at position 4"},
		{"digit prefix", "1Q" + code[2:],
			"malformed typed code: unexpected character '1' at position 1; a code starts with a 2-letter kind prefix"},
	}
	for _, tt := range tests {
		_, _, err := Decode(tt.input)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Decode = %v, want ErrMalformed", tt.name, err)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, err, tt.want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	full := encodeValues("RQ", make([]byte, 8))
	tests := []struct {
		name  string
		input string
		want  error
	}{
		{"empty", "", ErrEmpty},
		{"whitespace", " \t\r\n - \n", ErrEmpty},
		{"too long", strings.Repeat(" ", MaxLen+1), ErrTooLong},
		{"too long even if valid", Encode("RQ", make([]byte, MaxLen)), ErrTooLong},
		{"one letter", "R", ErrMalformed},
		{"check without data", full + "-0", ErrMalformed},
		// 1, 3 and 6 characters are lengths no byte string encodes to.
		{"1 data character", encodeValues("RQ", []byte{0}), ErrMalformed},
		{"3 data characters", encodeValues("RQ", []byte{0, 0, 0}), ErrMalformed},
		{"14 data characters", encodeValues("RQ", make([]byte, 14)), ErrMalformed},
		// One byte is two characters with 2 padding bits.
		{"padding bits set", encodeValues("RQ", []byte{0, 1}), ErrMalformed},
		{"padding bits set long", encodeValues("RQ", append(make([]byte, 9), 1)), ErrMalformed},
		{"bad check", "RQ-000", ErrTypo},
	}
	for _, tt := range tests {
		_, _, err := Decode(tt.input)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: Decode(%.40q) = %v, want %v", tt.name, tt.input, err, tt.want)
		}
	}
	if _, data, err := Decode(encodeValues("RQ", []byte{0, 0})); err != nil || !bytes.Equal(data, []byte{0}) {
		t.Errorf("zero padding: got %x, %v", data, err)
	}
}

func TestMaxLenAcceptsAWrappedCode(t *testing.T) {
	// The largest byte string whose padded, wrapped form stays under MaxLen.
	code := Encode("AU", testData(2048, 9))
	input := "    " + strings.Join(Lines(code, 4), "\r\n    ") + "\r\n"
	if len(input) > MaxLen {
		t.Fatalf("test input is %d bytes", len(input))
	}
	if _, _, err := Decode(input); err != nil {
		t.Fatal(err)
	}
}

func TestDecodeUppercasesPrefix(t *testing.T) {
	prefix, _, err := Decode("rq")
	if err != nil || prefix != "RQ" {
		t.Fatalf("Decode(rq) = %q, %v", prefix, err)
	}
	// O, I and L are letters in the prefix, not digits.
	if prefix, _, err := Decode("ol"); err != nil || prefix != "OL" {
		t.Fatalf("Decode(ol) = %q, %v", prefix, err)
	}
}

func TestEncodePanicsOnBadPrefix(t *testing.T) {
	for _, p := range []string{"", "R", "rq", "R1", "RQS", "R-", "\u0420Q"} {
		func() {
			defer func() {
				r := recover()
				if s, ok := r.(string); !ok || !strings.HasPrefix(s, "groups: ") {
					t.Errorf("Encode(%q) panicked with %v, want a groups: panic", p, r)
				}
			}()
			Encode(p, []byte{1})
		}()
	}
}

func TestLines(t *testing.T) {
	code := sampleCode() // RQ + 5 groups
	g := strings.Split(code, "-")
	tests := []struct {
		per  int
		want []string
	}{
		{1, []string{g[0] + "-" + g[1], g[2], g[3], g[4], g[5]}},
		{2, []string{strings.Join(g[:3], "-"), strings.Join(g[3:5], "-"), g[5]}},
		{5, []string{code}},
		{9, []string{code}},
	}
	for _, tt := range tests {
		got := Lines(code, tt.per)
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("Lines(%d) = %q, want %q", tt.per, got, tt.want)
		}
	}
	if got := Lines("RQ", 3); len(got) != 1 || got[0] != "RQ" {
		t.Errorf("Lines(RQ) = %q", got)
	}
	defer func() {
		if recover() == nil {
			t.Errorf("Lines(code, 0) did not panic")
		}
	}()
	Lines(code, 0)
}
