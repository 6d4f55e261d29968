package printable

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestLine(t *testing.T) {
	for _, c := range []struct {
		in   string
		max  int
		want string
	}{
		{"plain", 10, "plain"},
		{"two\nlines\tand a tab", 100, "two lines and a tab"},
		{"bell\a and \x1b[31m escape", 100, "bell? and ?[31m escape"},
		{"0123456789", 4, "0123…"},
		{"ééé", 3, "é…"}, // cut inside the second é: dropped, not broken
	} {
		got := Line(c.in, c.max)
		if got != c.want {
			t.Errorf("Line(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
		if !utf8.ValidString(got) || strings.ContainsAny(got, "\n\r\t") {
			t.Errorf("Line(%q, %d) = %q is not one valid line", c.in, c.max, got)
		}
	}
}
