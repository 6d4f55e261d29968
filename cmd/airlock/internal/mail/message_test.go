package mail

import (
	"errors"
	"mime"
	"net/mail"
	"strings"
	"testing"
)

func TestRenderIsReadable(t *testing.T) {
	m := testMessage()
	data, err := m.Render()
	if err != nil {
		t.Fatal(err)
	}
	checkRendered(t, string(data), m)
	again, err := m.Render()
	if err != nil {
		t.Fatal(err)
	}
	id := func(b []byte) string {
		msg, err := mail.ReadMessage(strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		return msg.Header.Get("Message-Id")
	}
	if id(data) == id(again) {
		t.Errorf("two renderings share the Message-ID %s", id(data))
	}
}

func TestRenderFoldsLongHeaders(t *testing.T) {
	m := testMessage()
	m.To = nil
	for _, name := range []string{"ops", "oncall", "plant-manager", "maintenance", "quality", "it-security", "night-shift", "day-shift"} {
		m.To = append(m.To, name+"@plant.example")
	}
	m.Subject = "Ünïcödé " + strings.Repeat("réservations épuisées ", 8)
	data, err := m.Render()
	if err != nil {
		t.Fatal(err)
	}
	checkRendered(t, string(data), m)
	head, _, _ := strings.Cut(string(data), "\r\n\r\n")
	if folds := strings.Count(head, "\r\n "); folds < 3 {
		t.Errorf("headers folded %d times, want at least 3:\n%s", folds, head)
	}

	// An ASCII subject is left as it is, and folds at spaces only.
	m.Subject = "UCM will run out of activation codes: " + strings.Repeat("40 devices, ", 10)
	data, err = m.Render()
	if err != nil {
		t.Fatal(err)
	}
	checkRendered(t, string(data), m)
	if !strings.Contains(string(data), "Subject: UCM will run out of activation codes:") {
		t.Errorf("ASCII subject was encoded:\n%s", data)
	}
}

// injections are messages that try to add a header or a recipient.
func injections() map[string]*Message {
	with := func(f func(m *Message)) *Message {
		m := testMessage()
		f(m)
		return m
	}
	return map[string]*Message{
		"Subject CRLF":   with(func(m *Message) { m.Subject = "alert\r\nBcc: evil@attacker.example" }),
		"Subject LF":     with(func(m *Message) { m.Subject = "alert\nBcc: evil@attacker.example" }),
		"Subject CR":     with(func(m *Message) { m.Subject = "alert\rBcc: evil@attacker.example" }),
		"Subject end":    with(func(m *Message) { m.Subject = "alert\r\n" }),
		"Subject NUL":    with(func(m *Message) { m.Subject = "alert\x00" }),
		"Subject NEL":    with(func(m *Message) { m.Subject = "alert\u0085Bcc: evil@attacker.example" }),
		"To CRLF":        with(func(m *Message) { m.To = []string{"ops@plant.example\r\nBcc: evil@attacker.example"} }),
		"To trailing LF": with(func(m *Message) { m.To = []string{"ops@plant.example\n"} }),
		"To list":        with(func(m *Message) { m.To = []string{"ops@plant.example, evil@attacker.example"} }),
		"From CRLF":      with(func(m *Message) { m.From = "airlock@plant.example\r\nBcc: evil@attacker.example" }),
		"From name":      with(func(m *Message) { m.From = "Airlock <airlock@plant.example>" }),
	}
}

func TestRenderRefusesHeaderInjection(t *testing.T) {
	for name, m := range injections() {
		t.Run(name, func(t *testing.T) {
			data, err := m.Render()
			if !errors.Is(err, ErrMessage) {
				t.Fatalf("got %v and\n%s\nwant ErrMessage", err, data)
			}
		})
	}
}

func TestRenderRefusesInvalidMessages(t *testing.T) {
	with := func(f func(m *Message)) *Message {
		m := testMessage()
		f(m)
		return m
	}
	many := make([]string, 101)
	for i := range many {
		many[i] = "ops@plant.example"
	}
	for _, tc := range []struct {
		m    *Message
		want string
	}{
		{with(func(m *Message) { m.To = nil }), "invalid message: no recipient"},
		{with(func(m *Message) { m.To = many }), "invalid message: 101 recipients, at most 100"},
		{with(func(m *Message) { m.From = "" }), "invalid message: From: empty e-mail address"},
		{with(func(m *Message) { m.To = []string{"ops@plant.example", "ops"} }), `invalid message: To: "ops" is not an e-mail address`},
		{with(func(m *Message) { m.Subject = "\xff" }), "invalid message: Subject is not UTF-8 text"},
		{with(func(m *Message) { m.Subject = strings.Repeat("x", 901) }), "invalid message: Subject is 901 bytes, at most 900"},
		{with(func(m *Message) { m.Body = "caf\xe9" }), "invalid message: Body is not UTF-8 text"},
	} {
		_, err := tc.m.Render()
		if !errors.Is(err, ErrMessage) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("got %v, want ErrMessage starting %q", err, tc.want)
		}
	}
}

func TestRenderTrimsAddressesAndEncodesSubject(t *testing.T) {
	m := testMessage()
	m.From = " airlock@plant.example "
	m.To = []string{"\tops@plant.example"}
	data, err := m.Render()
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	if got := msg.Header.Get("From"); got != "airlock@plant.example" {
		t.Errorf("From %q", got)
	}
	if got := msg.Header.Get("To"); got != "ops@plant.example" {
		t.Errorf("To %q", got)
	}
	subject := msg.Header.Get("Subject")
	if !strings.HasPrefix(subject, "=?utf-8?q?") {
		t.Errorf("non-ASCII Subject not Q-encoded: %q", subject)
	}
	if dec, _ := new(mime.WordDecoder).DecodeHeader(subject); dec != testMessage().Subject {
		t.Errorf("Subject decodes to %q", dec)
	}
}
