package drop

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func TestHostKeyAlgorithmsComeFromKnownHosts(t *testing.T) {
	ed := newEd25519Signer(t).PublicKey()
	ec := newECDSASigner(t).PublicKey()
	rsa := newRSASigner(t).PublicKey()
	other := newEd25519Signer(t).PublicKey()
	blob := func(k ssh.PublicKey) string { return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) }
	file := writeKnownHosts(t,
		knownhosts.Line([]string{"a.example:2222"}, ed),
		knownhosts.Line([]string{"a.example:2222"}, ec),
		knownhosts.Line([]string{"b.example"}, rsa),
		knownhosts.HashHostname("[10.0.0.7]:2222")+" "+blob(ec),
		knownhosts.Line([]string{"10.0.0.8"}, ed),
		"@cert-authority *.ca.example "+blob(other),
		"@revoked * "+blob(other),
		knownhosts.Line([]string{"[::1]:2222"}, ed),
	)
	k, err := loadKnownHosts(&Options{KnownHosts: file})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr string
		want []string
	}{
		{"a.example:2222", []string{"ssh-ed25519", "ecdsa-sha2-nistp256"}},
		{"a.example:22", nil},
		{"b.example:22", []string{"rsa-sha2-512", "rsa-sha2-256"}},
		{"10.0.0.7:2222", []string{"ecdsa-sha2-nistp256"}},
		{"10.0.0.8:22", []string{"ssh-ed25519"}},
		{"10.0.0.8:2222", nil}, // T62: no port in the entry means port 22
		{"[::1]:2222", []string{"ssh-ed25519"}},
		{"unknown.example:22", nil},
	} {
		if got := k.algorithms(tc.addr); !slices.Equal(got, tc.want) {
			t.Errorf("algorithms(%s) = %q, want %q", tc.addr, got, tc.want)
		}
	}
	got := k.algorithms("x.ca.example:22")
	if !slices.Contains(got, ssh.CertAlgoED25519v01) || slices.Contains(got, ssh.KeyAlgoED25519) {
		t.Errorf("algorithms for a @cert-authority host = %q, want certificate algorithms only", got)
	}
}

func TestMalformedKnownHostsIsAnError(t *testing.T) {
	file := writeKnownHosts(t, "h ssh-ed25519 not-base64!")
	if _, err := loadKnownHosts(&Options{KnownHosts: file}); err == nil || !strings.Contains(err.Error(), "host key verification failed") {
		t.Errorf("loadKnownHosts = %v, want ErrHostKey", err)
	}
}
