package mail

import (
	"fmt"
	"net/mail"
	"strings"
)

// Limits from RFC 5321 section 4.5.3.1: a path is at most 256 bytes with
// its angle brackets, a local part at most 64 and a domain label at most 63.
const (
	maxAddressSize = 254
	maxLocalSize   = 64
	maxLabelSize   = 63
)

const wantAddress = "want local@domain, e.g. ops@plant.example"

// ParseAddress checks an e-mail address typed by an operator and returns it
// with surrounding spaces removed. Only a bare ASCII address is accepted:
// no display name ("Ops <ops@plant.example>"), comment, quoted local part
// or address literal, and a domain of letters, digits and hyphens with at
// least one dot, except localhost. Internationalized domains are written in
// their xn-- form.
//
// ParseAddress does not check that the domain exists or accepts mail.
// Errors wrap ErrAddress and quote the input.
func ParseAddress(s string) (string, error) {
	s = strings.TrimSpace(s)
	bad := func(reason string) (string, error) {
		msg := fmt.Sprintf("%q is not an e-mail address: %s; %s", s, reason, wantAddress)
		return "", &kindError{ErrAddress, msg}
	}
	if s == "" {
		return "", &kindError{ErrAddress, "empty e-mail address: " + wantAddress}
	}
	if len(s) > maxAddressSize {
		msg := fmt.Sprintf("e-mail address of %d bytes is too long: at most %d", len(s), maxAddressSize)
		return "", &kindError{ErrAddress, msg}
	}
	for _, c := range []byte(s) {
		switch {
		case c < 0x20 || c == 0x7f:
			return bad("it contains a control character")
		case c >= 0x80:
			return bad("it contains a non-ASCII character (write a domain in its xn-- form)")
		}
	}
	if strings.ContainsAny(s, "<>") {
		return bad("display names are not accepted, only the address itself")
	}
	if strings.Contains(s, " ") {
		return bad("it contains a space")
	}
	switch strings.Count(s, "@") {
	case 0:
		msg := fmt.Sprintf("%q is not an e-mail address: %s", s, wantAddress)
		return "", &kindError{ErrAddress, msg}
	case 1:
	default:
		return bad("it has more than one @")
	}
	local, domain, _ := strings.Cut(s, "@")
	switch {
	case local == "":
		return bad("nothing before @")
	case domain == "":
		return bad("nothing after @")
	case len(local) > maxLocalSize:
		return bad(fmt.Sprintf("the part before @ is %d bytes, at most %d", len(local), maxLocalSize))
	case strings.HasPrefix(domain, "["):
		return bad("address literals are not accepted, only domain names")
	}
	if reason := checkLocal(local); reason != "" {
		return bad(reason)
	}
	if reason := checkDomain(domain); reason != "" {
		return bad(reason)
	}
	// A second opinion: net/mail must read the same bare address.
	if a, err := mail.ParseAddress(s); err != nil || a.Name != "" || a.Address != s {
		return bad("it is not a plain address")
	}
	return s, nil
}

// checkLocal returns why local is not a dot-atom (RFC 5322 section 3.4.1),
// or "".
func checkLocal(local string) string {
	for _, c := range []byte(local) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0:
		case c == '"':
			return "quoted local parts are not accepted"
		case c == '(' || c == ')':
			return "comments are not accepted"
		default:
			return fmt.Sprintf("%q is not allowed before @", c)
		}
	}
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return "the part before @ has a dot at its start, at its end or twice in a row"
	}
	return ""
}

// checkDomain returns why domain is not acceptable, or "".
func checkDomain(domain string) string {
	if !strings.Contains(domain, ".") && !strings.EqualFold(domain, "localhost") {
		return fmt.Sprintf("domain %q has no dot", domain)
	}
	for label := range strings.SplitSeq(domain, ".") {
		if label == "" {
			return fmt.Sprintf("domain %q has an empty label (a dot at the start, at the end or twice)", domain)
		}
		if len(label) > maxLabelSize {
			return fmt.Sprintf("domain %q has a label of %d bytes, at most %d", domain, len(label), maxLabelSize)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Sprintf("domain %q has a label that starts or ends with '-'", domain)
		}
		for _, c := range []byte(label) {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return fmt.Sprintf("domain %q contains %q: only letters, digits, '-' and dots", domain, c)
			}
		}
	}
	return ""
}
