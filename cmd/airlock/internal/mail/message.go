package mail

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"strings"
	"time"
	"unicode/utf8"
)

// maxRecipients bounds Message.To: RFC 5321 section 4.5.3.1.8 only
// promises that a server accepts 100 recipients per message.
const maxRecipients = 100

// maxSubjectSize bounds Message.Subject, in bytes, so that even a subject
// without spaces fits the 998-byte line limit of RFC 5322 section 2.1.1.
const maxSubjectSize = 900

// foldWidth is where header lines are folded when a space allows it
// (RFC 5322 section 2.1.1 recommends 78 characters).
const foldWidth = 78

// A Message is one plain-text e-mail. From and each of To are bare
// addresses as ParseAddress accepts them; Subject is one line of UTF-8
// text, spaces at either end dropped; Body is UTF-8 text whose line breaks may be "\n" or "\r\n". A zero
// Date means the time the message is rendered.
type Message struct {
	From    string
	To      []string
	Subject string
	Body    string
	Date    time.Time
}

// Render returns m as an RFC 5322 message with CRLF line endings, ready to
// be sent or saved as a .eml file: Date, From, To, Subject (RFC 2047
// Q-encoded when it is not ASCII), a random Message-ID in the From domain,
// MIME-Version, Content-Type text/plain; charset=utf-8,
// Content-Transfer-Encoding quoted-printable and Auto-Submitted:
// auto-generated (RFC 3834, so that vacation replies are not sent back),
// then the quoted-printable body, which always ends with a line break.
//
// Render refuses, with an error wrapping ErrMessage, a message without
// recipients or with more than 100, an address ParseAddress refuses, a
// header value holding a line break or another control character (which
// would let it add headers), and text that is not UTF-8. Each call makes a
// new Message-ID.
func (m *Message) Render() ([]byte, error) {
	from, to, err := m.check()
	if err != nil {
		return nil, err
	}
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	_, domain, _ := strings.Cut(from, "@")

	var b bytes.Buffer
	header(&b, "Date", date.Format(time.RFC1123Z))
	header(&b, "From", from)
	header(&b, "To", strings.Join(to, ", "))
	// Unfolding and parsing drop spaces at either end anyway.
	header(&b, "Subject", mime.QEncoding.Encode("utf-8", strings.TrimSpace(m.Subject)))
	header(&b, "Message-ID", "<"+rand.Text()+"@"+domain+">")
	header(&b, "MIME-Version", "1.0")
	header(&b, "Content-Type", "text/plain; charset=utf-8")
	header(&b, "Content-Transfer-Encoding", "quoted-printable")
	header(&b, "Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(m.Body)) // writes to a bytes.Buffer never fail
	qp.Close()
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes(), nil
}

// check validates m and returns its addresses with spaces trimmed.
func (m *Message) check() (from string, to []string, err error) {
	bad := func(format string, args ...any) error {
		return &kindError{ErrMessage, fmt.Sprintf("invalid message: "+format, args...)}
	}
	if strings.ContainsAny(m.From, "\r\n") {
		return "", nil, bad("From contains a line break")
	}
	from, err = ParseAddress(m.From)
	if err != nil {
		return "", nil, bad("From: %v", err)
	}
	switch n := len(m.To); {
	case n == 0:
		return "", nil, bad("no recipient")
	case n > maxRecipients:
		return "", nil, bad("%d recipients, at most %d", n, maxRecipients)
	}
	to = make([]string, len(m.To))
	for i, s := range m.To {
		if strings.ContainsAny(s, "\r\n") {
			return "", nil, bad("recipient %d contains a line break", i+1)
		}
		if to[i], err = ParseAddress(s); err != nil {
			return "", nil, bad("To: %v", err)
		}
	}
	switch {
	case strings.ContainsAny(m.Subject, "\r\n"):
		return "", nil, bad("Subject contains a line break")
	case !utf8.ValidString(m.Subject):
		return "", nil, bad("Subject is not UTF-8 text")
	case len(m.Subject) > maxSubjectSize:
		return "", nil, bad("Subject is %d bytes, at most %d", len(m.Subject), maxSubjectSize)
	}
	for _, r := range m.Subject {
		if r < 0x20 || r == 0x7f || 0x80 <= r && r < 0xa0 {
			return "", nil, bad("Subject contains the control character %U", r)
		}
	}
	if !utf8.ValidString(m.Body) {
		return "", nil, bad("Body is not UTF-8 text")
	}
	return from, to, nil
}

// header writes "name: value" and CRLF, folding the line at spaces (RFC
// 5322 section 3.2.2) so that lines stay within foldWidth where the value
// allows it. Unfolding gives back the value exactly: each fold replaces one
// space with CRLF and that space. The value holds no CR or LF (check).
func header(b *bytes.Buffer, name, value string) {
	b.WriteString(name)
	b.WriteString(":")
	line := len(name) + 1
	for i, word := range strings.Split(value, " ") {
		if i > 0 && word != "" && line+1+len(word) > foldWidth {
			b.WriteString("\r\n")
			line = 0
		}
		b.WriteString(" ")
		b.WriteString(word)
		line += 1 + len(word)
	}
	b.WriteString("\r\n")
}
