// Package printable makes text from elsewhere (an error's words, a
// header a client sent) safe to show on one line: in an API answer, on a
// web page, in a log.
package printable

import (
	"strings"
	"unicode"
)

// Line returns s as one printable line of at most max bytes: newlines
// and tabs become spaces, other unprintable runes '?', and a longer s is
// cut on a rune boundary and ends in "…".
func Line(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return ' '
		}
		if !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "…"
	}
	return s
}
