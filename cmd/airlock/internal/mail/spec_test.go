package mail

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSMTP(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want SMTP
	}{
		{"mail.plant.example", SMTP{Addr: "mail.plant.example:587"}},
		{" mail.plant.example:2525 ", SMTP{Addr: "mail.plant.example:2525"}},
		{"mailhost", SMTP{Addr: "mailhost:587"}},
		{"192.0.2.25:25", SMTP{Addr: "192.0.2.25:25"}},
		{"[2001:db8::25]:2525", SMTP{Addr: "[2001:db8::25]:2525"}},
		{"[::1]", SMTP{Addr: "[::1]:587"}},
		{"smtp://mail.plant.example", SMTP{Addr: "mail.plant.example:587"}},
		{"smtp://mail.plant.example:25/", SMTP{Addr: "mail.plant.example:25"}},
		{"SMTP://Mail.Plant.Example", SMTP{Addr: "Mail.Plant.Example:587"}},
		{"smtp://alerts@mail.plant.example?tls=required", SMTP{Addr: "mail.plant.example:587", Username: "alerts", TLS: StartTLSRequired}},
		{"smtp://[2001:db8::25]:25?tls=required", SMTP{Addr: "[2001:db8::25]:25", TLS: StartTLSRequired}},
		{"smtps://mail.plant.example", SMTP{Addr: "mail.plant.example:465", TLS: ImplicitTLS}},
		{"smtps://alerts%40plant.example@mail.plant.example:4465", SMTP{Addr: "mail.plant.example:4465", Username: "alerts@plant.example", TLS: ImplicitTLS}},
	} {
		got, err := ParseSMTP(tc.in)
		if err != nil {
			t.Errorf("ParseSMTP(%q): %v", tc.in, err)
			continue
		}
		if *got != tc.want {
			t.Errorf("ParseSMTP(%q) = %+v, want %+v", tc.in, *got, tc.want)
		}
		again, err := ParseSMTP(got.String())
		if err != nil || *again != *got {
			t.Errorf("ParseSMTP(%q) = %+v, %v; want %+v", got.String(), again, err, *got)
		}
	}
}

func TestSMTPString(t *testing.T) {
	for _, tc := range []struct {
		s    SMTP
		want string
	}{
		{SMTP{Addr: "mail.plant.example:587"}, "smtp://mail.plant.example:587"},
		{SMTP{Addr: "mail.plant.example:587", Username: "alerts", Password: "secret", TLS: StartTLSRequired}, "smtp://alerts@mail.plant.example:587?tls=required"},
		{SMTP{Addr: "[::1]:465", Username: "a@b.example", TLS: ImplicitTLS}, "smtps://a%40b.example@[::1]:465"},
	} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.s, got, tc.want)
		}
	}
}

func TestParseSMTPRefuses(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"", "invalid SMTP server: empty; want host[:port], smtp://[user@]host[:port][?tls=required] or smtps://[user@]host[:port]"},
		{"mail plant.example", "spaces and control characters"},
		{"smtp://alerts:hunter2@mail.plant.example", "passwords are not accepted in the server spec; set AIRLOCK_SMTP_PASSWORD"},
		{"smtps://alerts:@mail.plant.example", "passwords are not accepted"},
		{"alerts:hunter2@mail.plant.example", "a user name needs the URL form smtp://user@host"},
		{"ops@plant.example", "an e-mail address is not a server"},
		{"http://mail.plant.example", `unsupported scheme "http"`},
		{"smtp://mail.plant.example/alerts", "nothing may follow the host and port"},
		{"smtp://mail.plant.example#x", "nothing may follow the host and port"},
		{"smtp://mail.plant.example?tls=optional", `tls="optional": the only value is tls=required`},
		{"smtp://mail.plant.example?tls=required&tls=required", "the only value is tls=required"},
		{"smtp://mail.plant.example?starttls=1", `unknown parameter "starttls"`},
		{"smtps://mail.plant.example?tls=required", "smtps:// always uses TLS"},
		{"smtp://", "no host"},
		{"smtp://:25", "no host"},
		{"smtp://@mail.plant.example", "empty user name"},
		{"smtp://a%0Ab@mail.plant.example", "control character"},
		{"mail.plant.example:0", `port "0" is not a number from 1 to 65535`},
		{"mail.plant.example:65536", `port "65536"`},
		{"mail.plant.example:smtp", `port "smtp"`},
		{"mail.plant.example:+25", `port "+25"`},
		{"mail.plant.example:", `port ""`},
		{"smtp://mail.plant.example:", `port ""`},
		{"smtp://mail.plant.example:99999", `port "99999"`},
		{":25", "no host"},
		{"::1", "put an IPv6 address in brackets"},
		{"2001:db8::25:587", "put an IPv6 address in brackets"},
		{"[::1", `"[::1" is not [IPv6]:port`},
		{"[mail.plant.example]:25", "is not an IPv6 address"},
		{"smtp://[mail.plant.example]:25", "invalid host"},
		{"smtp://[192.0.2.1]:25", "invalid IP-literal"},
		{"[fe80::1%eth0]:25", "is not an IPv6 address"},
		{"-mail.plant.example", "is not a host name"},
		{"mail..plant.example", "is not a host name"},
		{"mail!.plant.example", "is not a host name"},
		{"999.0.2.1", `"999.0.2.1" is not an IPv4 address`},
		{"mail.plant.example/x", "is not host[:port]"},
	} {
		got, err := ParseSMTP(tc.in)
		if !errors.Is(err, ErrSpec) {
			t.Errorf("ParseSMTP(%q) = %+v, %v; want ErrSpec", tc.in, got, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseSMTP(%q): error %q does not contain %q", tc.in, err, tc.want)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseSMTP(%q): error %q repeats the password", tc.in, err)
		}
	}
}
