package drop

import (
	"errors"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want URL
		str  string // String(); empty: same as in
	}{
		{"sftp://bob@drop.example.com/in/req.cbor", URL{"bob", "drop.example.com", 22, "/in/req.cbor"}, ""},
		{"sftp://drop.example.com:2222/a", URL{"", "drop.example.com", 2222, "/a"}, ""},
		{"sftp://[::1]:2222/p", URL{"", "::1", 2222, "/p"}, ""},
		{"sftp://[::1]/p", URL{"", "::1", 22, "/p"}, ""},
		{"sftp://[::1]:22/p", URL{"", "::1", 22, "/p"}, "sftp://[::1]/p"},
		{"sftp://10.0.0.7:65535/x", URL{"", "10.0.0.7", 65535, "/x"}, ""},
		{"SFTP://h/x", URL{"", "h", 22, "/x"}, "sftp://h/x"},
		{"sftp://h/my%20codes/a%23b%3F.cbor", URL{"", "h", 22, "/my codes/a#b?.cbor"}, "sftp://h/my%20codes/a%23b%3F.cbor"},
		{"sftp://h/~/drop/a.cbor", URL{"", "h", 22, "drop/a.cbor"}, ""},
		{"sftp://h/~/a", URL{"", "h", 22, "a"}, ""},
		{"sftp://j%2Edoe@h/a", URL{"j.doe", "h", 22, "/a"}, "sftp://j.doe@h/a"},
	} {
		u, err := ParseURL(tc.in)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tc.in, err)
			continue
		}
		if *u != tc.want {
			t.Errorf("ParseURL(%q) = %+v, want %+v", tc.in, *u, tc.want)
		}
		str := tc.str
		if str == "" {
			str = tc.in
		}
		if u.String() != str {
			t.Errorf("ParseURL(%q).String() = %q, want %q", tc.in, u.String(), str)
		}
		if again, err := ParseURL(u.String()); err != nil || *again != *u {
			t.Errorf("ParseURL(%q) does not round-trip: %+v, %v", u.String(), again, err)
		}
	}
}

func TestParseURLRefuses(t *testing.T) {
	for _, tc := range []struct {
		in, msg string
	}{
		{"sftp://u:hunter2@h/p", "passwords in URLs are not accepted; use a key, the agent or AIRLOCK_SFTP_PASSWORD"},
		{"sftp://u:@h/p", "passwords in URLs are not accepted"},
		{"sftp://u:hunter2@h:99999/p", "passwords in URLs are not accepted"},
		{"sftp://u:hun@ter2@h/p", "passwords in URLs are not accepted"},
		{"sftp://h:99999/p", `port "99999" is out of range`},
		{"sftp://h:0/p", `port "0" is out of range`},
		{"sftp://h:/p", "empty port"},
		{"sftp://h:ssh/p", "invalid port"},
		{"sftp:///p", "no host"},
		{"sftp://@h/p", "empty user name"},
		{"sftp://h/p?x=1", "query"},
		{"sftp://h/p#f", "fragment"},
		{"sftp://h/p?", "query"},
		{"sftp://h/", "no file path"},
		{"sftp://h", "no file path"},
		{"sftp://h/~/", "no file path"},
		{"sftp://h/drop/", "names a folder"},
		{"sftp://h/drop/..", "names no file"},
		{"sftp://h/a%00b", "NUL"},
		{"sftp://h/a b", "spaces"},
		{"sftp://-oProxyCommand=x/p", "starts with '-'"},
		{"ftp://h/p", `unsupported scheme "ftp"`},
		{"scp://h/p", `unsupported scheme "scp"`},
		{"sftp:h/p", "want sftp://"},
		{"/local/file", "want sftp://"},
	} {
		_, err := ParseURL(tc.in)
		if !errors.Is(err, ErrURL) {
			t.Errorf("ParseURL(%q) = %v, want ErrURL", tc.in, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("ParseURL(%q) = %q, want it to mention %q", tc.in, err, tc.msg)
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "ter2") {
			t.Errorf("ParseURL(%q) repeats the password: %q", tc.in, err)
		}
	}
}

func TestIsURL(t *testing.T) {
	for in, want := range map[string]bool{
		"sftp://h/p":      true,
		"ftp://h/p":       true,
		"git+ssh://h/p":   true,
		"code.cbor":       false,
		"./sftp/h/p":      false,
		"/tmp/a://b":      false,
		`C://x`:           false,
		`C:\x`:            false,
		"-":               false,
		"1sftp://h/p":     false,
		"dir/sftp://h/p":  false,
		"sftp:/h/p":       false,
		"sftp.v2://h/p":   true,
		"AIRLOCK1-ABCDEF": false,
	} {
		if got := IsURL(in); got != want {
			t.Errorf("IsURL(%q) = %v, want %v", in, got, want)
		}
	}
}
