package main

import (
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/formats/seal"
	"github.com/airlock-dev/airlock/testvectors/gen"
)

// cmdMkauth plays the authority in the instance scripts, with the fixed
// keys of the test vectors (gen.NewFixture):
//
//	mkauth trust FILE
//	mkauth answer [FLAGS] REQUEST ENT...
//	mkauth update [FLAGS] AUTHORIZATION ENT...
//
// trust writes the trust file of the test authority. answer reads a
// request code (any form) and signs the first code of a new reservation
// for it; update reads an authorization code and signs the next serial of
// its reservation. Each ENT is TAG=N (perpetual) or TAG=N:term:DAYS (a term
// from a day ago to DAYS days from now). The code is printed typed, or
// armored with --armor. Flags: --serial N, --reservation HEX, --udi UDI
// (bind to another UDI), --other-key (to another instance key), --rogue
// (sign with a key the trust file does not list), --issued-days N (issued
// N days from now, may be negative), --install-days N (the install
// window, 30 by default), --advisory (the clock-advisory flag), --typo (a
// typo in the second group of the typed code), --age FILE (armored and
// encrypted to the age recipient in FILE), --identity FILE (to open an
// age-encrypted request).
func cmdMkauth(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: mkauth trust FILE | mkauth answer|update [FLAGS] FILE ENT...")
	}
	f, err := gen.NewFixture()
	ts.Check(err)
	if args[0] == "trust" {
		ts.Check(os.WriteFile(ts.MkAbs(args[1]), f.TrustFile, 0o644))
		return
	}
	sub, rest := args[0], args[1:]
	now := time.Now()
	a := &codes.Authorization{Reservation: []byte{0x0a, 0x1b, 0x2c, 0x3d}, Serial: 1}
	key := f.Authority
	var (
		serial      uint64
		reservation []byte
		udi         *codes.UDI
		otherKey    bool
		armor       bool
		typo        bool
		recipient   string
		identities  []age.Identity
		issuedDays  int
		installDays = 30
		positional  []string
	)
	for i := 0; i < len(rest); i++ {
		arg := rest[i]
		val := func() string {
			if i+1 >= len(rest) {
				ts.Fatalf("mkauth: %s needs a value", arg)
			}
			i++
			return rest[i]
		}
		switch arg {
		case "--serial":
			serial, err = strconv.ParseUint(val(), 10, 64)
			ts.Check(err)
		case "--reservation":
			reservation, err = hex.DecodeString(val())
			ts.Check(err)
		case "--udi":
			u, err := codes.ParseUDI(val())
			ts.Check(err)
			udi = &u
		case "--other-key":
			otherKey = true
		case "--rogue":
			key = f.Rogue
		case "--issued-days":
			issuedDays, err = strconv.Atoi(val())
			ts.Check(err)
		case "--install-days":
			installDays, err = strconv.Atoi(val())
			ts.Check(err)
		case "--advisory":
			a.Flags |= codes.FlagClockAdvisory
		case "--armor":
			armor = true
		case "--age":
			recipient = val()
		case "--typo":
			typo = true
		case "--identity":
			ids, err := seal.ParseIdentities([]byte(ts.ReadFile(val())))
			ts.Check(err)
			identities = append(identities, ids...)
		default:
			if strings.HasPrefix(arg, "--") {
				ts.Fatalf("mkauth: unknown flag %s", arg)
			}
			positional = append(positional, arg)
		}
	}
	if len(positional) < 2 {
		ts.Fatalf("mkauth %s: want a FILE and at least one ENT", sub)
	}
	read := func(k codes.Kind) []byte {
		code, err := codes.DecodeKind([]byte(ts.ReadFile(positional[0])), k, identities...)
		ts.Check(err)
		return code
	}
	switch sub {
	case "answer":
		r, err := codes.OpenRequest(read(codes.KindRequest), f.Authority)
		ts.Check(err)
		a.UDI, a.InstanceKey, a.Nonce = r.UDI, codes.InstanceKeyHash(r.InstanceKey), r.Nonce
	case "update":
		prev, err := codes.ParseUnverifiedAuthorization(read(codes.KindAuthorization))
		ts.Check(err)
		a.Reservation, a.Serial, a.UDI, a.InstanceKey = prev.Reservation, prev.Serial+1, prev.UDI, prev.InstanceKey
	default:
		ts.Fatalf("mkauth: unknown subcommand %q", sub)
	}
	if serial != 0 {
		a.Serial = serial
	}
	if reservation != nil {
		a.Reservation = reservation
	}
	if udi != nil {
		a.UDI = *udi
	}
	if otherKey {
		a.InstanceKey = f.Other.Hash()
	}
	issued := now.Add(time.Duration(issuedDays) * 24 * time.Hour)
	a.IssuedAt = issued.Unix()
	a.InstallBy = issued.Add(time.Duration(installDays) * 24 * time.Hour).Unix()
	for _, ent := range positional[1:] {
		tag, rest, _ := strings.Cut(ent, "=")
		n, kind, _ := strings.Cut(rest, ":")
		count, err := strconv.ParseUint(n, 10, 32)
		ts.Check(err)
		e := codes.Entitlement{Tag: tag, Count: uint32(count), Kind: codes.Perpetual}
		if kind != "" {
			days, err := strconv.Atoi(strings.TrimPrefix(kind, "term:"))
			ts.Check(err)
			e.Kind = codes.Term
			e.Start = now.Add(-24 * time.Hour).Unix()
			e.End = now.Add(time.Duration(days) * 24 * time.Hour).Unix()
		}
		a.Entitlements = append(a.Entitlements, e)
	}
	code, err := codes.SignAuthorization(a, key)
	ts.Check(err)
	switch {
	case recipient != "":
		r, err := seal.ParseRecipient(ts.ReadFile(recipient))
		ts.Check(err)
		sealed, err := seal.Encrypt(codes.EncodeArmor(codes.KindAuthorization, code), r)
		ts.Check(err)
		ts.Stdout().Write(sealed)
	case armor:
		ts.Stdout().Write(codes.EncodeArmor(codes.KindAuthorization, code))
	case typo:
		// Change one character of the second group: its check character
		// no longer matches.
		typed := []byte(codes.EncodeText(codes.KindAuthorization, code))
		i := strings.IndexByte(string(typed[3:]), '-') + 3 + 2
		typed[i] = map[bool]byte{true: '8', false: '7'}[typed[i] == '7']
		ts.Stdout().Write(append(typed, '\n'))
	default:
		ts.Stdout().Write([]byte(codes.EncodeText(codes.KindAuthorization, code) + "\n"))
	}
}
