package main

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/airlock-dev/airlock/authority"
	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/testvectors/gen"
)

// cmdFakeinstance plays the instance in the authority scripts, with the
// fixed instance key and UDI of the test vectors (gen.NewFixture); --other
// uses the fixture's other instance key instead. Every subcommand takes
// the authority's trust file first and makes its codes for the trust
// set's current key:
//
//	fakeinstance TRUST request [--other] [--udi UDI] [--nonce N] [--armor] [TAG=N...]
//	fakeinstance TRUST confirm [--other] AUTHFILE
//	fakeinstance TRUST return [--other] [--never] [--serial N] AUTHFILE
//	fakeinstance TRUST system [--other] [--udi UDI] --name NAME [--component ID:MODEL[:TAG]]... [TAG=N...]
//	fakeinstance TRUST install [--other] [--udi UDI] AUTHFILE
//
// request, confirm and return print a typed code, system an armored
// file; install verifies an authorization code as an instance would and
// prints its reservation, serial and entitlements.
func cmdFakeinstance(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: fakeinstance TRUST request|confirm|return|system|install [ARGS]")
	}
	trust, err := codes.ReadTrustFile([]byte(ts.ReadFile(args[0])))
	ts.Check(err)
	f, err := gen.NewFixture()
	ts.Check(err)
	sub, rest := args[1], args[2:]
	key, udi := f.Instance, f.UDI
	var (
		nonce, serial       uint64
		armored, never      bool
		name                string
		components          []codes.Component
		positional          []string
		wanted              []codes.License
		hasNonce, hasSerial bool
	)
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		val := func() string {
			if i+1 >= len(rest) {
				ts.Fatalf("fakeinstance: %s needs a value", a)
			}
			i++
			return rest[i]
		}
		switch a {
		case "--other":
			key = f.Other
		case "--udi":
			udi, err = codes.ParseUDI(val())
			ts.Check(err)
		case "--nonce":
			nonce, err = strconv.ParseUint(val(), 10, 64)
			ts.Check(err)
			hasNonce = true
		case "--serial":
			serial, err = strconv.ParseUint(val(), 10, 64)
			ts.Check(err)
			hasSerial = true
		case "--armor":
			armored = true
		case "--never":
			never = true
		case "--name":
			name = val()
		case "--component":
			parts := strings.SplitN(val(), ":", 3)
			c := codes.Component{ID: parts[0], Model: parts[1]}
			if len(parts) == 3 {
				c.Tag = parts[2]
			}
			components = append(components, c)
		default:
			if strings.HasPrefix(a, "--") {
				ts.Fatalf("fakeinstance: unknown flag %s", a)
			}
			if l, err := authority.ParseLicense(a); err == nil && strings.Contains(a, "=") {
				wanted = append(wanted, l)
			} else {
				positional = append(positional, a)
			}
		}
	}
	now := time.Now()
	current := trust.Current(now.Unix())
	if current == nil {
		ts.Fatalf("fakeinstance: no key of the trust file is valid now")
	}
	mac, err := key.MACKey(current)
	ts.Check(err)
	nonceBytes := func() []byte {
		if !hasNonce {
			nonce = uint64(now.UnixNano())
		}
		return []byte(fmt.Sprintf("%08d", nonce%100000000))[:codes.NonceSize]
	}
	readAuth := func() *codes.Authorization {
		if len(positional) != 1 {
			ts.Fatalf("fakeinstance %s: want one AUTHFILE", sub)
		}
		code, err := codes.DecodeKind([]byte(ts.ReadFile(positional[0])), codes.KindAuthorization)
		ts.Check(err)
		a, err := codes.OpenAuthorization(code, trust)
		ts.Check(err)
		return a
	}
	var out string
	switch sub {
	case "request":
		code, err := codes.SealRequest(&codes.Request{UDI: udi, Nonce: nonceBytes(), IssuedAt: now.Unix(), Wanted: wanted}, key, current)
		ts.Check(err)
		if armored {
			out = string(codes.EncodeArmor(codes.KindRequest, code))
		} else {
			out = codes.EncodeText(codes.KindRequest, code) + "\n"
		}
	case "confirm":
		a := readAuth()
		code, err := codes.SealConfirmation(&codes.Confirmation{Reservation: a.Reservation, Serial: a.Serial}, mac)
		ts.Check(err)
		out = codes.EncodeText(codes.KindConfirmation, code) + "\n"
	case "return":
		a := readAuth()
		if !hasSerial {
			serial = a.Serial
		}
		code, err := codes.SealReturn(&codes.Return{Reservation: a.Reservation, Serial: serial, NeverInstalled: never}, mac)
		ts.Check(err)
		out = codes.EncodeText(codes.KindReturn, code) + "\n"
	case "system":
		code, err := codes.SealSystem(&codes.System{UDI: udi, Name: name, Components: components, Demand: wanted,
			IssuedAt: now.Unix(), Nonce: nonceBytes()}, key, current)
		ts.Check(err)
		out = string(codes.EncodeArmor(codes.KindSystem, code))
	case "install":
		a := readAuth()
		err := a.Check(now, udi, key.Public())
		if neg {
			if err == nil {
				ts.Fatalf("fakeinstance install: the code installs")
			}
			fmt.Fprintf(ts.Stdout(), "refused: %v\n", err)
			return
		}
		ts.Check(err)
		var ents []string
		for _, e := range a.Entitlements {
			s := fmt.Sprintf("%d %s %s", e.Count, e.Tag, e.Kind)
			if e.Component != "" {
				s += " on " + e.Component
			}
			if e.ExportControlled {
				s += " export-controlled"
			}
			ents = append(ents, s)
		}
		out = fmt.Sprintf("installed reservation %s serial %d: %s\n", hex.EncodeToString(a.Reservation), a.Serial, strings.Join(ents, ", "))
	default:
		ts.Fatalf("fakeinstance: unknown subcommand %q", sub)
	}
	if neg {
		ts.Fatalf("fakeinstance %s does not fail", sub)
	}
	fmt.Fprint(ts.Stdout(), out)
}
