// Package mailtest runs an SMTP server in the test process, for the tests
// of package mail and of the commands that send mail.
//
// The server speaks just enough SMTP to receive messages: EHLO (and HELO),
// STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP and QUIT. It keeps
// every message it accepts and every command line it reads, for the test
// to look at. It presents a self-signed certificate that only
// ClientTLSConfig (or Server.TLSConfig) trusts.
package mailtest

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options say how a Server behaves. The zero value is a plain server on
// 127.0.0.1 that accepts every message.
type Options struct {
	// Listen is the IP address to listen on; 127.0.0.1 when empty. Start
	// skips the test when it cannot listen there.
	Listen string
	// StartTLS offers STARTTLS.
	StartTLS bool
	// ImplicitTLS speaks TLS from the first byte, as on port 465.
	ImplicitTLS bool
	// User and Password, when User is set, make the server offer AUTH
	// PLAIN and refuse MAIL until a client logs in with them.
	User, Password string
	// RejectRcpt, when set, is an address the server refuses with 550 at
	// RCPT TO.
	RejectRcpt string
	// Silent makes the server accept connections and never answer.
	Silent bool
}

// A Message is one message the server accepted.
type Message struct {
	From string   // envelope sender, from MAIL FROM
	To   []string // envelope recipients, from RCPT TO, in order
	// Data is the message exactly as sent, CRLF line endings, with the
	// dot-stuffing undone.
	Data string
	TLS  bool   // received over TLS
	User string // the user the client logged in as; empty when none
}

// A Server is an SMTP server that runs until the test that started it
// ends.
type Server struct {
	opts Options
	addr string

	mu    sync.Mutex
	msgs  []Message
	cmds  []string // every command line received, AUTH arguments removed
	conns map[net.Conn]bool
}

// Start listens on a free port of 127.0.0.1 (or opts.Listen) and serves
// until t ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	ip := opts.Listen
	if ip == "" {
		ip = "127.0.0.1"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		if opts.Listen != "" {
			t.Skipf("cannot listen on %s: %v", ip, err)
		}
		t.Fatal(err)
	}
	srv := &Server{opts: opts, addr: ln.Addr().String(), conns: map[net.Conn]bool{}}
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
				if opts.Silent {
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

// Addr is the server's host:port.
func (srv *Server) Addr() string { return srv.addr }

// TLSConfig returns a client configuration that trusts the server's
// certificate.
func (srv *Server) TLSConfig() *tls.Config { return ClientTLSConfig() }

// Messages returns the messages accepted so far, in order.
func (srv *Server) Messages() []Message {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	out := make([]Message, len(srv.msgs))
	for i, m := range srv.msgs {
		m.To = append([]string(nil), m.To...)
		out[i] = m
	}
	return out
}

// Commands returns every command line received so far, over every
// connection, in order. The arguments of AUTH are left out: an AUTH line
// is just "AUTH".
func (srv *Server) Commands() []string {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return append([]string(nil), srv.cmds...)
}

// SawCommand reports whether a command line starting with prefix (in any
// case) arrived.
func (srv *Server) SawCommand(prefix string) bool {
	for _, c := range srv.Commands() {
		if len(c) >= len(prefix) && strings.EqualFold(c[:len(prefix)], prefix) {
			return true
		}
	}
	return false
}

func (srv *Server) serve(raw net.Conn) {
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	opts := srv.opts
	c, _ := cert()
	cfg := &tls.Config{Certificates: []tls.Certificate{c}}
	conn, isTLS := raw, false
	if opts.ImplicitTLS {
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
			if opts.StartTLS && !isTLS {
				ext = append(ext, "STARTTLS")
			}
			if opts.User != "" {
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
			if !opts.StartTLS || isTLS {
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
			if opts.User == "" || !strings.EqualFold(mech, "PLAIN") {
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
			if len(parts) == 3 && parts[1] == opts.User && parts[2] == opts.Password {
				user = parts[1]
				ok = reply("235 2.7.0 authentication successful")
			} else {
				ok = reply("535 5.7.8 authentication credentials invalid")
			}
		case "MAIL":
			if opts.User != "" && user == "" {
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
			case opts.RejectRcpt != "" && a == opts.RejectRcpt:
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
			srv.msgs = append(srv.msgs, Message{From: from, To: to, Data: data, TLS: isTLS, User: user})
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
