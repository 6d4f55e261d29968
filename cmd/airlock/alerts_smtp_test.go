package main

import (
	"encoding/json"
	"io"
	"mime/quotedprintable"
	netmail "net/mail"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/airlock-dev/airlock/cmd/airlock/internal/mail/mailtest"
)

// newAlertingDesk makes a desk whose organization acme has a fleet
// product PK-CAM with 10 codes, ops@plant.example as its alert recipient
// and a threshold of 50, so that 'alerts check' has one alert to send.
func newAlertingDesk(t *testing.T) string {
	t.Helper()
	dir, _, _ := newDesk(t)
	for _, args := range [][]string{
		{"authority", "pool", "product", "add", "--org", "acme", "--pk", "PK-CAM", "--name", "cameras", "--auto-renew"},
		{"authority", "pool", "buy", "--org", "acme", "--package", "annual", "--validity", "1y", "--count", "10", "--product", "PK-CAM"},
		{"authority", "alerts", "recipients", "add", "--org", "acme", "ops@plant.example"},
		{"authority", "alerts", "threshold", "--org", "acme", "50"},
	} {
		if code, _, stderr := runApp(t, "", args...); code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
	}
	return dir
}

// historyEvents returns the whole history.
func historyEvents(t *testing.T) []eventJSON {
	t.Helper()
	code, out, stderr := runApp(t, "", "authority", "history", "--json")
	if code != exitOK {
		t.Fatalf("history: exit %d: %s", code, stderr)
	}
	var evs []eventJSON
	if err := json.Unmarshal([]byte(out), &evs); err != nil {
		t.Fatalf("history --json: %v\n%s", err, out)
	}
	return evs
}

// decodedBody returns the body of a message as sent, undoing its
// Content-Transfer-Encoding.
func decodedBody(t *testing.T, data string) string {
	t.Helper()
	msg, err := netmail.ReadMessage(strings.NewReader(data))
	if err != nil {
		t.Fatalf("cannot read the message: %v\n%s", err, data)
	}
	var r io.Reader = msg.Body
	switch cte := strings.ToLower(msg.Header.Get("Content-Transfer-Encoding")); cte {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "", "7bit", "8bit":
	default:
		t.Fatalf("unexpected Content-Transfer-Encoding %q", cte)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("body: %v", err)
	}
	return string(b)
}

// TestAlertsCheckSendsThroughSMTP runs 'alerts check' against an SMTP
// server: one message to the recipient, naming the product and the
// threshold, and an alerts event in the history naming the server.
func TestAlertsCheckSendsThroughSMTP(t *testing.T) {
	newAlertingDesk(t)
	srv := mailtest.Start(t, mailtest.Options{}) // no STARTTLS: its certificate is self-signed
	before := historyEvents(t)

	code, _, stderr := runApp(t, "", "authority", "alerts", "check", "--smtp", srv.Addr(), "--from", "airlock@desk.example")
	if code != exitOK {
		t.Fatalf("alerts check: exit %d: %s", code, stderr)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("server received %d messages, want 1; commands %q", len(msgs), srv.Commands())
	}
	m := msgs[0]
	if m.From != "airlock@desk.example" || !slices.Equal(m.To, []string{"ops@plant.example"}) {
		t.Errorf("envelope from %q to %q, want from airlock@desk.example to ops@plant.example", m.From, m.To)
	}
	if m.TLS || m.User != "" {
		t.Errorf("received with TLS %v as user %q, want plain and anonymous", m.TLS, m.User)
	}
	body := decodedBody(t, m.Data)
	for _, want := range []string{"PK-CAM", "below the threshold of 50"} {
		if !strings.Contains(body, want) {
			t.Errorf("body does not mention %q:\n%s", want, body)
		}
	}
	if !strings.Contains(stderr, "smtp "+srv.Addr()) {
		t.Errorf("stderr does not say where the alerts went:\n%s", stderr)
	}

	// The sending added one event to the history (recipients and
	// threshold are alerts events too, recorded before).
	evs := historyEvents(t)
	if len(evs) != len(before)+1 {
		t.Fatalf("history has %d events, want %d+1: %+v", len(evs), len(before), evs[len(before):])
	}
	if e := evs[len(evs)-1]; e.Action != "alerts" || e.Subject != "acme" || !strings.Contains(e.Detail, "smtp "+srv.Addr()) || !strings.Contains(e.Detail, "ops@plant.example") {
		t.Errorf("last event %s %s %q, want alerts of acme naming the server %s and the recipient", e.Action, e.Subject, e.Detail, srv.Addr())
	}

	// The text history shows it as well.
	code, out, stderr := runApp(t, "", "authority", "history")
	if code != exitOK {
		t.Fatalf("history: exit %d: %s", code, stderr)
	}
	found := false
	for line := range strings.SplitSeq(out, "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[2] == "alerts" && strings.Contains(line, "smtp "+srv.Addr()) {
			found = true
		}
	}
	if !found {
		t.Errorf("history shows no alerts event naming smtp %s:\n%s", srv.Addr(), out)
	}
}

// TestAlertsCheckRecipientRefused is a server that refuses the recipient:
// the command exits 1 with the server's reply, and the desk records
// nothing.
func TestAlertsCheckRecipientRefused(t *testing.T) {
	dir := newAlertingDesk(t)
	srv := mailtest.Start(t, mailtest.Options{RejectRcpt: "ops@plant.example"})
	desk := filepath.Join(dir, "desk")
	before := snapshot(t, desk)
	events := historyEvents(t)

	code, _, stderr := runApp(t, "", "authority", "alerts", "check", "--smtp", srv.Addr(), "--from", "airlock@desk.example")
	if code != exitFailed {
		t.Fatalf("alerts check: exit %d, want %d: %s", code, exitFailed, stderr)
	}
	for _, want := range []string{"airlock: error:", "550", "5.1.1 <ops@plant.example>: recipient unknown", srv.Addr()} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr)
		}
	}
	if n := len(srv.Messages()); n != 0 || srv.SawCommand("DATA") {
		t.Errorf("server received %d messages; commands %q", n, srv.Commands())
	}
	if d := diffSnapshots(before, snapshot(t, desk)); len(d) != 0 {
		t.Errorf("the desk changed:\n%s", strings.Join(d, "\n"))
	}
	if evs := historyEvents(t); len(evs) != len(events) {
		t.Errorf("history has %d events, was %d: %+v", len(evs), len(events), evs[min(len(events), len(evs)):])
	}
}
