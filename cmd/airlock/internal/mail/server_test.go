package mail

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// testCert is a self-signed certificate for 127.0.0.1, 127.0.0.2 and
// localhost, made once per test binary, and a pool that trusts it.
var testCert = sync.OnceValues(func() (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "airlock mail test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(127, 0, 0, 2)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
})

// trustTestCert is the client side of testCert.
func trustTestCert() *tls.Config {
	_, pool := testCert()
	return &tls.Config{RootCAs: pool}
}

// A testServer speaks just enough SMTP to receive messages: EHLO (and
// HELO), STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP and QUIT.
type testServer struct {
	listen     string // IP to listen on; 127.0.0.1 when empty
	starttls   bool   // offer STARTTLS
	implicit   bool   // TLS from the first byte
	user, pass string // offer and require AUTH PLAIN when user is set
	rejectRcpt string // answer 550 to RCPT TO this address
	silent     bool   // accept connections and never say anything

	addr string

	mu    sync.Mutex
	msgs  []received
	cmds  []string // every command line received, AUTH arguments removed
	conns map[net.Conn]bool
}

// received is one message the server accepted.
type received struct {
	from string
	to   []string
	data string // exactly as sent, CRLF line endings, dot-stuffing undone
	tls  bool
	user string // authenticated as
}

// start listens on 127.0.0.1:0 (or srv.listen) and serves until the test
// ends. It skips the test if srv.listen cannot be used here.
func (srv *testServer) start(t *testing.T) *testServer {
	t.Helper()
	ip := srv.listen
	if ip == "" {
		ip = "127.0.0.1"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		if srv.listen != "" {
			t.Skipf("cannot listen on %s: %v", ip, err)
		}
		t.Fatal(err)
	}
	srv.addr = ln.Addr().String()
	srv.conns = map[net.Conn]bool{}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			srv.mu.Lock()
			srv.conns[conn] = true
			srv.mu.Unlock()
			wg.Go(func() {
				defer func() {
					conn.Close()
					srv.mu.Lock()
					delete(srv.conns, conn)
					srv.mu.Unlock()
				}()
				if srv.silent {
					conn.Read(make([]byte, 1)) // until the client or the cleanup closes
					return
				}
				srv.serve(conn)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		srv.mu.Lock()
		for c := range srv.conns {
			c.Close()
		}
		srv.mu.Unlock()
		wg.Wait()
	})
	return srv
}

func (srv *testServer) messages() []received {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return append([]received(nil), srv.msgs...)
}

func (srv *testServer) commands() []string {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return append([]string(nil), srv.cmds...)
}

// sawCommand reports whether a command line starting with verb arrived.
func (srv *testServer) sawCommand(verb string) bool {
	for _, c := range srv.commands() {
		if strings.HasPrefix(strings.ToUpper(c), verb) {
			return true
		}
	}
	return false
}

func (srv *testServer) serve(raw net.Conn) {
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	cert, _ := testCert()
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	conn, isTLS := raw, false
	if srv.implicit {
		tc := tls.Server(raw, cfg)
		if err := tc.Handshake(); err != nil {
			return
		}
		conn, isTLS = tc, true
	}
	tp := textproto.NewConn(conn)
	reply := func(format string, args ...any) bool {
		return tp.PrintfLine(format, args...) == nil
	}
	if !reply("220 test.example ESMTP") {
		return
	}
	var user, from string
	var to []string
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		logged := line
		if verb == "AUTH" {
			logged = "AUTH"
		}
		srv.mu.Lock()
		srv.cmds = append(srv.cmds, logged)
		srv.mu.Unlock()

		ok := true
		switch verb {
		case "EHLO":
			ext := []string{"test.example greets " + arg}
			if srv.starttls && !isTLS {
				ext = append(ext, "STARTTLS")
			}
			if srv.user != "" {
				ext = append(ext, "AUTH LOGIN PLAIN")
			}
			ext = append(ext, "8BITMIME")
			for i, e := range ext {
				sep := "-"
				if i == len(ext)-1 {
					sep = " "
				}
				ok = ok && reply("250%s%s", sep, e)
			}
			from, to = "", nil
		case "HELO":
			ok = reply("250 test.example")
		case "STARTTLS":
			if !srv.starttls || isTLS {
				ok = reply("502 5.5.1 not now")
				break
			}
			if !reply("220 2.0.0 ready to start TLS") {
				return
			}
			tc := tls.Server(raw, cfg)
			if err := tc.Handshake(); err != nil {
				return
			}
			conn, isTLS = tc, true
			tp = textproto.NewConn(conn)
			user, from, to = "", "", nil
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			if srv.user == "" || !strings.EqualFold(mech, "PLAIN") {
				ok = reply("504 5.5.4 unrecognized authentication type")
				break
			}
			if resp == "" {
				if !reply("334 ") {
					return
				}
				if resp, err = tp.ReadLine(); err != nil {
					return
				}
			}
			b, _ := base64.StdEncoding.DecodeString(resp)
			parts := strings.Split(string(b), "\x00")
			if len(parts) == 3 && parts[1] == srv.user && parts[2] == srv.pass {
				user = parts[1]
				ok = reply("235 2.7.0 authentication successful")
			} else {
				ok = reply("535 5.7.8 authentication credentials invalid")
			}
		case "MAIL":
			if srv.user != "" && user == "" {
				ok = reply("530 5.7.0 authentication required")
				break
			}
			from, to = angleAddr(arg), nil
			ok = reply("250 2.1.0 sender ok")
		case "RCPT":
			a := angleAddr(arg)
			switch {
			case from == "":
				ok = reply("503 5.5.1 MAIL first")
			case a == srv.rejectRcpt:
				ok = reply("550 5.1.1 <%s>: recipient unknown", a)
			default:
				to = append(to, a)
				ok = reply("250 2.1.5 recipient ok")
			}
		case "DATA":
			if len(to) == 0 {
				ok = reply("503 5.5.1 RCPT first")
				break
			}
			if !reply("354 end data with <CR><LF>.<CR><LF>") {
				return
			}
			data, err := readData(tp.R)
			if err != nil {
				return
			}
			srv.mu.Lock()
			srv.msgs = append(srv.msgs, received{from: from, to: to, data: data, tls: isTLS, user: user})
			srv.mu.Unlock()
			from, to = "", nil
			ok = reply("250 2.0.0 queued")
		case "RSET":
			from, to = "", nil
			ok = reply("250 2.0.0 ok")
		case "NOOP":
			ok = reply("250 2.0.0 ok")
		case "QUIT":
			reply("221 2.0.0 bye")
			return
		default:
			ok = reply("502 5.5.2 command not recognized")
		}
		if !ok {
			return
		}
	}
}

// angleAddr returns what is between < and > in "FROM:<a@b> BODY=8BITMIME".
func angleAddr(arg string) string {
	i, j := strings.Index(arg, "<"), strings.Index(arg, ">")
	if i < 0 || j < i {
		return ""
	}
	return arg[i+1 : j]
}

// readData reads DATA up to the line ".", keeping CRLF line endings and
// removing the dot that stuffing adds (RFC 5321 section 4.5.2).
func readData(r *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if line == ".\r\n" {
			return b.String(), nil
		}
		b.WriteString(strings.TrimPrefix(line, "."))
	}
}
