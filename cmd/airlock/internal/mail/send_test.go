package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlock-dev/airlock/cmd/airlock/internal/mail/mailtest"
)

// testMessage has a non-ASCII subject, a line that is only a dot (which
// SMTP must stuff) and a line longer than quoted-printable allows.
func testMessage() *Message {
	return &Message{
		From:    "airlock@plant.example",
		To:      []string{"ops@plant.example", "oncall@plant.example"},
		Subject: "Réservations: UCM will run out of activation codes",
		Body: "Product UCM will run out of activation codes:\n" +
			"40 devices due for renewal within 30 days, 12 codes left.\n" +
			".\n" +
			"x=1 " + strings.Repeat("long line ", 12) + "\n" +
			"trailing space \n" +
			"no final line break",
		Date: time.Date(2026, 12, 2, 10, 15, 0, 0, time.UTC),
	}
}

var messageID = regexp.MustCompile(`^<[A-Z2-7]{26}@plant\.example>$`)

// checkRendered checks that data is m rendered: CRLF line endings, exactly
// the expected headers, and the body decoding to m.Body.
func checkRendered(t *testing.T, data string, m *Message) {
	t.Helper()
	if strings.Contains(strings.ReplaceAll(data, "\r\n", ""), "\n") || strings.Contains(strings.ReplaceAll(data, "\r\n", ""), "\r") {
		t.Errorf("message has a line ending other than CRLF:\n%q", data)
	}
	for line := range strings.SplitSeq(data, "\r\n") {
		// 78 is only a recommendation: "Subject: " and a 75-byte
		// encoded word make 84.
		if len(line) > 84 {
			t.Errorf("line of %d bytes: %q", len(line), line)
		}
	}
	msg, err := mail.ReadMessage(strings.NewReader(data))
	if err != nil {
		t.Fatalf("net/mail cannot read the message: %v\n%s", err, data)
	}
	h := msg.Header
	var keys []string
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"Auto-Submitted", "Content-Transfer-Encoding", "Content-Type", "Date", "From", "Message-Id", "Mime-Version", "Subject", "To"}
	if !slices.Equal(keys, want) {
		t.Errorf("headers %q, want %q", keys, want)
	}
	for k, v := range h {
		if len(v) != 1 {
			t.Errorf("header %s appears %d times", k, len(v))
		}
	}
	if d, err := h.Date(); err != nil || !d.Equal(m.Date) {
		t.Errorf("Date %q (%v), want %v", h.Get("Date"), err, m.Date)
	}
	if got := h.Get("From"); got != m.From {
		t.Errorf("From %q, want %q", got, m.From)
	}
	to, err := h.AddressList("To")
	if err != nil {
		t.Fatalf("To %q: %v", h.Get("To"), err)
	}
	var toAddrs []string
	for _, a := range to {
		toAddrs = append(toAddrs, a.Address)
	}
	if !slices.Equal(toAddrs, m.To) {
		t.Errorf("To %q, want %q", toAddrs, m.To)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil || subject != strings.TrimSpace(m.Subject) {
		t.Errorf("Subject %q decodes to %q (%v), want %q", h.Get("Subject"), subject, err, m.Subject)
	}
	if got := h.Get("Message-Id"); !messageID.MatchString(got) {
		t.Errorf("Message-ID %q, want %s", got, messageID)
	}
	for k, v := range map[string]string{
		"MIME-Version":              "1.0",
		"Content-Type":              "text/plain; charset=utf-8",
		"Content-Transfer-Encoding": "quoted-printable",
		"Auto-Submitted":            "auto-generated",
	} {
		if got := h.Get(k); got != v {
			t.Errorf("%s %q, want %q", k, got, v)
		}
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatalf("body is not quoted-printable: %v", err)
	}
	wantBody := strings.ReplaceAll(m.Body, "\n", "\r\n")
	if !strings.HasSuffix(wantBody, "\r\n") {
		wantBody += "\r\n"
	}
	if string(body) != wantBody {
		t.Errorf("body decodes to\n%q\nwant\n%q", body, wantBody)
	}
}

func send(t *testing.T, s *SMTP, m *Message) error {
	t.Helper()
	if s.Timeout == 0 {
		s.Timeout = 5 * time.Second
	}
	return s.Send(t.Context(), m)
}

func checkOneDelivered(t *testing.T, srv *mailtest.Server, m *Message, tls bool, user string) {
	t.Helper()
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("server received %d messages, want 1", len(msgs))
	}
	got := msgs[0]
	if got.From != m.From || !slices.Equal(got.To, m.To) {
		t.Errorf("envelope from %q to %q, want from %q to %q", got.From, got.To, m.From, m.To)
	}
	if got.TLS != tls {
		t.Errorf("received with TLS %v, want %v", got.TLS, tls)
	}
	if got.User != user {
		t.Errorf("authenticated as %q, want %q", got.User, user)
	}
	checkRendered(t, got.Data, m)
}

func TestSendDeliversOverSTARTTLS(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{StartTLS: true, User: "alerts", Password: "s3cret pass"})
	m := testMessage()
	s := &SMTP{Addr: srv.Addr(), Username: "alerts", Password: "s3cret pass", TLSConfig: srv.TLSConfig(), LocalName: "authority.plant.example"}
	if err := send(t, s, m); err != nil {
		t.Fatal(err)
	}
	checkOneDelivered(t, srv, m, true, "alerts")
	cmds := srv.Commands()
	want := []string{"EHLO authority.plant.example", "STARTTLS", "EHLO authority.plant.example", "AUTH", "MAIL FROM:<airlock@plant.example> BODY=8BITMIME", "RCPT TO:<ops@plant.example>", "RCPT TO:<oncall@plant.example>", "DATA", "QUIT"}
	if !slices.Equal(cmds, want) {
		t.Errorf("commands\n%q\nwant\n%q", cmds, want)
	}
}

func TestSendWithoutSTARTTLSWhenOnlyOffered(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	m := testMessage()
	if err := send(t, &SMTP{Addr: srv.Addr()}, m); err != nil {
		t.Fatal(err)
	}
	checkOneDelivered(t, srv, m, false, "")
}

func TestSendRefusesServerWithoutSTARTTLSWhenRequired(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	err := send(t, &SMTP{Addr: srv.Addr(), TLS: StartTLSRequired}, testMessage())
	if !errors.Is(err, ErrTLS) {
		t.Fatalf("got %v, want ErrTLS", err)
	}
	want := "smtp " + srv.Addr() + ": STARTTLS: the server does not offer it and TLS is required, so nothing was sent"
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if srv.SawCommand("MAIL") || len(srv.Messages()) != 0 {
		t.Errorf("server saw %q", srv.Commands())
	}
}

func TestSendRequiredSTARTTLSDelivers(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{StartTLS: true})
	m := testMessage()
	if err := send(t, &SMTP{Addr: srv.Addr(), TLS: StartTLSRequired, TLSConfig: srv.TLSConfig()}, m); err != nil {
		t.Fatal(err)
	}
	checkOneDelivered(t, srv, m, true, "")
}

func TestSendImplicitTLS(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{ImplicitTLS: true, User: "alerts", Password: "pw"})
	m := testMessage()
	s := &SMTP{Addr: srv.Addr(), TLS: ImplicitTLS, Username: "alerts", Password: "pw", TLSConfig: srv.TLSConfig()}
	if err := send(t, s, m); err != nil {
		t.Fatal(err)
	}
	checkOneDelivered(t, srv, m, true, "alerts")
}

func TestSendRefusesUntrustedCertificate(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts mailtest.Options
		mode TLSMode
		step string
	}{
		{"STARTTLS", mailtest.Options{StartTLS: true, User: "alerts", Password: "pw"}, StartTLSIfOffered, "STARTTLS"},
		{"implicit", mailtest.Options{ImplicitTLS: true, User: "alerts", Password: "pw"}, ImplicitTLS, "TLS handshake"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := mailtest.Start(t, tc.opts)
			// No TLSConfig: the system roots, which do not hold the
			// server's self-signed certificate.
			err := send(t, &SMTP{Addr: srv.Addr(), TLS: tc.mode, Username: "alerts", Password: "pw"}, testMessage())
			var e *Error
			if !errors.Is(err, ErrTLS) || !errors.As(err, &e) || e.Step != tc.step {
				t.Fatalf("got %v, want ErrTLS at %s", err, tc.step)
			}
			if !strings.Contains(err.Error(), "certificate") {
				t.Errorf("error %q does not mention the certificate", err)
			}
			if srv.SawCommand("AUTH") || srv.SawCommand("MAIL") {
				t.Errorf("server saw %q", srv.Commands())
			}
		})
	}
}

func TestSendRefusesWrongPassword(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{StartTLS: true, User: "alerts", Password: "right"})
	err := send(t, &SMTP{Addr: srv.Addr(), Username: "alerts", Password: "wrong-and-secret", TLSConfig: srv.TLSConfig()}, testMessage())
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("got %v, want ErrAuth", err)
	}
	want := "smtp " + srv.Addr() + ": AUTH PLAIN: 535 \"5.7.8 authentication credentials invalid\""
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	var reply *textproto.Error
	if !errors.As(err, &reply) || reply.Code != 535 {
		t.Errorf("error does not carry the 535 reply: %#v", err)
	}
	if len(srv.Messages()) != 0 || srv.SawCommand("MAIL") {
		t.Errorf("server saw %q", srv.Commands())
	}
}

// A password goes unencrypted only to localhost, as net/smtp allows.
// 127.0.0.2 is a loopback address on Linux, but not one of those names, so
// it stands for a server across a network that hides STARTTLS.
func TestSendNeverSendsPasswordUnencrypted(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{Listen: "127.0.0.2", User: "alerts", Password: "pw"})
	err := send(t, &SMTP{Addr: srv.Addr(), Username: "alerts", Password: "pw"}, testMessage())
	var e *Error
	if !errors.Is(err, ErrAuth) || !errors.As(err, &e) || e.Step != "AUTH PLAIN" {
		t.Fatalf("got %v, want ErrAuth at AUTH PLAIN", err)
	}
	if !strings.Contains(err.Error(), "never sent unencrypted") {
		t.Errorf("error %q does not say why", err)
	}
	if srv.SawCommand("AUTH") {
		t.Errorf("server saw %q", srv.Commands())
	}
}

func TestSendRefusedRecipientNamesAddressAndSendsNothing(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{RejectRcpt: "gone@plant.example"})
	m := testMessage()
	m.To = []string{"ops@plant.example", "gone@plant.example", "oncall@plant.example"}
	err := send(t, &SMTP{Addr: srv.Addr()}, m)
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("got %v, want ErrRejected", err)
	}
	want := "smtp " + srv.Addr() + ": RCPT TO <gone@plant.example>: 550 \"5.1.1 <gone@plant.example>: recipient unknown\""
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if len(srv.Messages()) != 0 || srv.SawCommand("DATA") || srv.SawCommand("RCPT TO:<oncall") {
		t.Errorf("server saw %q", srv.Commands())
	}
	if !srv.SawCommand("QUIT") {
		t.Errorf("client did not QUIT: %q", srv.Commands())
	}
}

func TestSendRefusesHeaderInjectionBeforeConnecting(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	for name, m := range injections() {
		t.Run(name, func(t *testing.T) {
			err := send(t, &SMTP{Addr: srv.Addr()}, m)
			if !errors.Is(err, ErrMessage) {
				t.Fatalf("got %v, want ErrMessage", err)
			}
		})
	}
	if cmds := srv.Commands(); len(cmds) != 0 {
		t.Errorf("server saw %q", cmds)
	}
}

func TestSendTimesOutOnSilentServer(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{Silent: true})
	const timeout = 200 * time.Millisecond
	start := time.Now()
	err := (&SMTP{Addr: srv.Addr(), Timeout: timeout}).Send(t.Context(), testMessage())
	elapsed := time.Since(start)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	want := "smtp " + srv.Addr() + ": greeting: no answer within the 200ms timeout"
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if elapsed < timeout || elapsed > timeout+2*time.Second {
		t.Errorf("returned after %v, want about %v", elapsed, timeout)
	}
}

func TestSendStopsWhenContextEnds(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{Silent: true})
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	err := (&SMTP{Addr: srv.Addr(), Timeout: time.Minute}).Send(ctx, testMessage())
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("returned after %v", elapsed)
	}

	ctx, cancel = context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err = (&SMTP{Addr: srv.Addr(), Timeout: time.Minute}).Send(ctx, testMessage())
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want ErrTimeout and context.DeadlineExceeded", err)
	}
}

func TestSendConnectionRefused(t *testing.T) {
	// A port that was listening a moment ago and is now closed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	err = send(t, &SMTP{Addr: addr}, testMessage())
	var e *Error
	if !errors.Is(err, ErrConnect) || !errors.As(err, &e) || e.Step != "connect" || e.Server != addr {
		t.Fatalf("got %v, want ErrConnect at connect to %s", err, addr)
	}
}

func TestSendChecksSettingsBeforeConnecting(t *testing.T) {
	for _, tc := range []struct {
		s    SMTP
		want string
	}{
		{SMTP{Addr: "mail.plant.example"}, "not host:port"},
		{SMTP{Addr: "127.0.0.1:25", Username: "alerts"}, "set " + PasswordEnv},
		{SMTP{Addr: "127.0.0.1:25", Password: "pw"}, "without a user name"},
		{SMTP{Addr: "127.0.0.1:25", Username: "a\r\nRSET", Password: "pw"}, "control character"},
		{SMTP{Addr: "127.0.0.1:25", TLS: 7}, "unknown SMTP TLS mode 7"},
		{SMTP{Addr: "127.0.0.1:25", LocalName: "a\r\nMAIL"}, "EHLO name"},
		{SMTP{Addr: "127.0.0.1:25", TLSConfig: &tls.Config{InsecureSkipVerify: true}}, "without certificate verification is not supported"},
	} {
		err := tc.s.Send(t.Context(), testMessage())
		if !errors.Is(err, ErrSpec) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want ErrSpec saying %q", tc.s, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("error %q shows the password", err)
		}
	}
}
