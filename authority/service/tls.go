package service

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/authority"
)

// CertValidity is how long the certificate GenerateCertificate makes is
// valid: 10 years. Instances pin the certificate itself (it is its own
// root), so a new one means giving every instance the new file; its key
// stays on the authority's machine, like the ledger, and a shorter life
// would buy little but that chore.
const CertValidity = 10 * 365 * 24 * time.Hour

// GenerateCertificate makes a self-signed ECDSA P-256 certificate for
// hosts (DNS names and IP addresses, at least one), valid from now for
// CertValidity, named after the authority: the certificate PEM-encoded,
// then its private key (PKCS #8) PEM-encoded. The certificate may sign
// nothing but itself (a CA of path length 0), so that TLS stacks that
// take a trust anchor only from a CA accept it pinned.
func GenerateCertificate(rand io.Reader, name string, hosts []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	if len(hosts) == 0 {
		return nil, nil, fmt.Errorf("%w: a certificate needs at least one host name or address", authority.ErrInvalid)
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: certName(name), Organization: []string{"airlock"}},
		NotBefore:             now.Add(-time.Hour).UTC().Truncate(time.Second), // a client whose clock is a little behind
		NotAfter:              now.Add(CertValidity).UTC().Truncate(time.Second),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	for _, h := range hosts {
		if err := CheckHost(h); err != nil {
			return nil, nil, err
		}
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, strings.ToLower(h))
		}
	}
	serial := make([]byte, 16)
	if _, err := io.ReadFull(rand, serial); err != nil {
		return nil, nil, err
	}
	serial[0] &= 0x7f // positive, as RFC 5280 §4.1.2.2 wants
	tmpl.SerialNumber = new(big.Int).SetBytes(serial)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificate(rand, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), nil
}

func certName(name string) string {
	n := "airlock authority"
	if name != "" {
		n += " " + name
	}
	if len(n) > 64 { // the upper bound of a common name (RFC 5280)
		n = strings.ToValidUTF8(n[:64], "")
	}
	return n
}

// CheckHost checks a name a certificate may be for: an IP address, or a
// DNS name of letters, digits, hyphens and dots.
func CheckHost(h string) error {
	if net.ParseIP(h) != nil {
		return nil
	}
	bad := func(why string) error {
		return fmt.Errorf("%w: %q is not a host name or IP address: %s", authority.ErrInvalid, h, why)
	}
	if h == "" || len(h) > 253 {
		return bad("want 1 to 253 characters")
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return bad("each part between dots has 1 to 63 characters")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return bad("a part may not start or end with a hyphen")
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return bad("only letters, digits, hyphens and dots")
			}
		}
	}
	return nil
}

// Covers reports the hosts of hosts that cert is not valid for.
func Covers(cert *x509.Certificate, hosts []string) (missing []string) {
	for _, h := range hosts {
		if cert.VerifyHostname(h) != nil {
			missing = append(missing, h)
		}
	}
	return missing
}

// TLSConfig returns the server's TLS configuration with cert: TLS 1.2 at
// least (1.3 when the client has it, which Go's client and curl do), and
// in TLS 1.2 only the ECDHE suites with AEAD ciphers.
func TLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305,
		},
	}
}

// Fingerprint returns the SHA-256 of a certificate's DER bytes, as
// openssl x509 -fingerprint -sha256 prints it: upper-case hex pairs
// between colons.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}
