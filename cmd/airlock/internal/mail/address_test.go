package mail

import (
	"errors"
	"strings"
	"testing"
)

func TestParseAddress(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"ops@plant.example", "ops@plant.example"},
		{"  ops@plant.example \t", "ops@plant.example"},
		{"first.last+alerts@mail.plant.example", "first.last+alerts@mail.plant.example"},
		{"o'brien@plant.example", "o'brien@plant.example"},
		{"root@localhost", "root@localhost"},
		{"Ops@Plant.Example", "Ops@Plant.Example"},
		{"ops@xn--bcher-kva.example", "ops@xn--bcher-kva.example"},
		{"ops@plant-1.example", "ops@plant-1.example"},
		{strings.Repeat("a", 64) + "@plant.example", strings.Repeat("a", 64) + "@plant.example"},
	} {
		got, err := ParseAddress(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseAddress(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestParseAddressRefuses(t *testing.T) {
	long := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 60) + "." + strings.Repeat("c", 60) + "." + strings.Repeat("d", 60) + ".example"
	for _, tc := range []struct {
		in, want string
	}{
		{"", "empty e-mail address: want local@domain, e.g. ops@plant.example"},
		{"   ", "empty e-mail address"},
		{"ops", `"ops" is not an e-mail address: want local@domain, e.g. ops@plant.example`},
		{"Ops <ops@plant.example>", `"Ops <ops@plant.example>" is not an e-mail address: display names are not accepted, only the address itself; want local@domain, e.g. ops@plant.example`},
		{"<ops@plant.example>", "display names are not accepted"},
		{"ops @plant.example", "it contains a space"},
		{"ops@plant.example, boss@plant.example", "it contains a space"},
		{"@plant.example", "nothing before @"},
		{"ops@", "nothing after @"},
		{"ops@plant", `domain "plant" has no dot`},
		{"ops@plant..example", "empty label"},
		{"ops@.plant.example", "empty label"},
		{"ops@plant.example.", "empty label"},
		{"ops@-plant.example", "starts or ends with '-'"},
		{"ops@plant_1.example", `contains '_'`},
		{"ops@plant.example(comment)", `contains '('`},
		{"ops(comment)@plant.example", "comments are not accepted"},
		{`"ops"@plant.example`, "quoted local parts are not accepted"},
		{"ops,boss@plant.example", `',' is not allowed before @`},
		{".ops@plant.example", "dot at its start"},
		{"ops.@plant.example", "dot at its start, at its end or twice"},
		{"o..ps@plant.example", "twice in a row"},
		{"a@b@plant.example", "more than one @"},
		{"ops@[192.0.2.1]", "address literals are not accepted"},
		{"ops\x00@plant.example", "control character"},
		{"ops@plant.example\r\nBcc: x@y.example", "control character"},
		{"opé@plant.example", "non-ASCII"},
		{"ops@bücher.example", "xn--"},
		{strings.Repeat("a", 65) + "@plant.example", "the part before @ is 65 bytes, at most 64"},
		{"ops@" + strings.Repeat("a", 64) + ".example", "a label of 64 bytes, at most 63"},
		{long, "e-mail address of 255 bytes is too long: at most 254"},
	} {
		got, err := ParseAddress(tc.in)
		if !errors.Is(err, ErrAddress) {
			t.Errorf("ParseAddress(%q) = %q, %v; want ErrAddress", tc.in, got, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseAddress(%q): error %q does not contain %q", tc.in, err, tc.want)
		}
		if got != "" {
			t.Errorf("ParseAddress(%q) returned %q with an error", tc.in, got)
		}
	}
}
