package gen

import (
	"bytes"
	"encoding/hex"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/formats/cose"
	"github.com/airlock-dev/airlock/formats/wire"
	"github.com/airlock-dev/airlock/testvectors"
)

// invalid adds the cases that must be refused, each testing one thing.
func (b *builder) invalid() error {
	f := b.f
	all := f.Codes()
	auth := all[codes.KindAuthorization]
	ka := codes.KindAuthorization
	payload, err := payloadOf(ka, auth)
	if err != nil {
		return err
	}
	ps := pairsOf(payload)
	kid := f.Authority.ID()
	protected := append([]byte{0xa2, 0x01, 0x27, 0x04, 0x48}, kid[:]...)
	// Offsets in the authorization envelope: 84 | 4d <protected 13> | a0 | 59 hh ll <payload> | 58 40 <sig>.
	payloadAt := 1 + 1 + len(protected) + 1 + 3

	flip := func(code []byte, i int) []byte {
		c := bytes.Clone(code)
		c[i] ^= 0x01
		return c
	}
	withCheck := func(name string, code []byte, ch *testvectors.Check, expect, desc string) {
		b.add(testvectors.Case{Name: name, Description: desc, Kind: ka.String(), Form: "binary", Input: hexOf(code), Check: ch, Expect: expect})
	}

	// The envelope and the signature.
	b.binary("authorization-flipped-payload-byte", ka, flip(auth, payloadAt+40), "bad-signature", "one bit flipped inside the signed payload")
	b.binary("authorization-flipped-signature-byte", ka, flip(auth, len(auth)-10), "bad-signature", "one bit flipped in the signature")
	b.binary("authorization-flipped-kid-byte", ka, flip(auth, 2+5+3), "unknown-key", "one bit flipped in the key id inside the protected header: no trusted key has that id")
	b.binary("authorization-wrong-label", ka, must(cose.SignSign1(payload, codes.KindTrustUpdate.Label(), kid[:], signer("authority"))), "bad-signature",
		"an authorization payload signed with the trust-update label as external AAD")
	b.binary("authorization-alg-hmac", ka, b.sign1With(wire.MustMarshal(map[int]any{1: 5, 4: kid[:]}), payload, ka.Label()), "algorithm",
		"the protected header names HMAC 256/256 (5) instead of EdDSA")
	b.binary("authorization-alg-es256", ka, b.sign1With(wire.MustMarshal(map[int]any{1: -7, 4: kid[:]}), payload, ka.Label()), "algorithm",
		"the protected header names ES256 (-7) instead of EdDSA")
	b.binary("authorization-alg-reserved-zero", ka, b.sign1With(wire.MustMarshal(map[int]any{1: 0, 4: kid[:]}), payload, ka.Label()), "algorithm",
		"the protected header names algorithm 0 (reserved, the closest COSE has to none)")
	b.binary("authorization-alg-missing", ka, b.sign1With(wire.MustMarshal(map[int]any{4: kid[:]}), payload, ka.Label()), "algorithm",
		"the protected header names no algorithm")
	b.binary("authorization-crit-header", ka, b.sign1With(wire.MustMarshal(map[int]any{1: -8, 2: []int{99}, 4: kid[:]}), payload, ka.Label()), "malformed",
		"the protected header has a crit parameter")
	b.binary("authorization-unprotected-header", ka, wire.MustMarshal([]any{wire.MustMarshal(map[int]any{1: -8, 4: kid[:]}), map[int]any{4: kid[:]}, payload, auth[len(auth)-64:]}), "malformed",
		"the unprotected header is not empty")
	b.binary("authorization-tagged", ka, append([]byte{0xd2}, auth...), "malformed", "the envelope carries COSE tag 18; airlock envelopes are untagged")
	b.binary("authorization-truncated", ka, auth[:len(auth)-1], "malformed", "the last byte of the signature is missing")
	b.binary("authorization-trailing-byte", ka, append(bytes.Clone(auth), 0x00), "malformed", "one byte after the envelope")
	b.binary("authorization-empty", ka, nil, "malformed", "empty input")
	b.binary("authorization-signature-63-bytes", ka, wire.MustMarshal([]any{wire.MustMarshal(map[int]any{1: -8, 4: kid[:]}), map[int]any{}, payload, auth[len(auth)-63:]}), "malformed",
		"a 63-byte signature")
	rogueID := f.Rogue.ID()
	b.binary("authorization-untrusted-key", ka, must(cose.SignSign1(payload, ka.Label(), rogueID[:], signer("rogue"))), "unknown-key",
		"signed by rogue_authority, which is in no trust set")
	b.binary("authorization-kid-of-trusted-key-signed-by-rogue", ka, must(cose.SignSign1(payload, ka.Label(), kid[:], signer("rogue"))), "bad-signature",
		"names the trusted authority's key id but is signed by rogue_authority")

	// The payload: canonical CBOR, re-signed so that the signature is valid.
	dupKey := append([]byte{0xa0 + byte(len(ps)+1)}, mapOf(ps)[1:]...)
	b.binary("authorization-duplicate-map-key", ka, b.signAuth(append(dupKey, 0x02, 0x09)), "malformed",
		"the payload has key 2 (serial) twice")
	b.binary("authorization-indefinite-length-map", ka, b.signAuth(append(append([]byte{0xbf}, mapOf(ps)[1:]...), 0xff)), "malformed",
		"the payload map has indefinite length")
	b.binary("authorization-non-shortest-integer", ka, b.signAuth(mapOf(replace(ps, 2, []byte{0x18, 0x01}))), "malformed",
		"the serial 1 is encoded in two bytes (18 01)")
	b.binary("authorization-unknown-field", ka, b.signAuth(mapOf(append(ps, pair{wire.MustMarshal(99), wire.MustMarshal(1)}))), "malformed",
		"the payload has key 99, which no version defines")
	b.binary("authorization-missing-install-by", ka, b.signAuth(mapOf(drop(ps, 9))), "malformed",
		"the payload lacks key 9 (install-by)")
	b.binary("authorization-short-instance-key-hash", ka, b.signAuth(mapOf(replace(ps, 4, wire.MustMarshal(f.Instance.Hash()[:15])))), "malformed",
		"the instance key hash has 15 bytes instead of 16")
	b.binary("authorization-tag-in-payload", ka, b.signAuth(mapOf(replace(ps, 8, append([]byte{0xc1}, wire.MustMarshal(issuedAt)...)))), "malformed",
		"the issue time carries CBOR tag 1")
	b.binary("authorization-unsorted-keys", ka, b.signAuth(mapOf(append([]pair{ps[1], ps[0]}, ps[2:]...))), "malformed",
		"the payload's keys 1 and 2 are out of order")
	b.binary("authorization-invalid-utf8-tag", ka, b.signAuth(bytes.Replace(payload, []byte("regid.2017"), []byte("regid\xff2017"), 1)), "malformed",
		"an entitlement tag is not valid UTF-8")
	b.binary("authorization-unknown-flag", ka, b.signAuth(mapOf(append(append([]pair(nil), ps[:6]...), append([]pair{{wire.MustMarshal(7), wire.MustMarshal(uint64(1 << 7))}}, ps[6:]...)...))), "malformed",
		"flags has bit 7 set, which no version defines")
	termBackwards := f.CiscoAuthorization()
	termBackwards.Entitlements[0].Start, termBackwards.Entitlements[0].End = termBackwards.Entitlements[0].End, termBackwards.Entitlements[0].Start
	b.binary("authorization-term-ends-before-start", ka, b.signAuthStruct(termBackwards), "invalid", "a term entitlement ends before it starts")
	perpetualDated := f.CiscoAuthorization()
	perpetualDated.Entitlements[1].End = issuedAt + 86400
	b.binary("authorization-perpetual-with-end", ka, b.signAuthStruct(perpetualDated), "invalid", "a perpetual entitlement has an end date")
	dupTag := f.CiscoAuthorization()
	dupTag.Entitlements[1].Tag = dupTag.Entitlements[0].Tag
	dupTag.Entitlements[1].Kind = codes.Perpetual
	b.binary("authorization-duplicate-tag", ka, b.signAuthStruct(dupTag), "invalid", "two entitlements name the same tag")
	zeroCount := f.CiscoAuthorization()
	zeroCount.Entitlements[0].Count = 0
	b.binary("authorization-zero-count", ka, b.signAuthStruct(zeroCount), "invalid", "an entitlement with count 0")
	noLines := f.CiscoAuthorization()
	noLines.Entitlements = []codes.Entitlement{}
	b.binary("authorization-no-entitlements", ka, b.signAuthStruct(noLines), "invalid", "an authorization with an empty entitlement list")
	nullLines := mapOf(replace(ps, 6, []byte{0xf6}))
	b.binary("authorization-entitlements-null", ka, b.signAuth(nullLines), "malformed", "the entitlement list is CBOR null instead of an array")
	installBeforeIssue := f.CiscoAuthorization()
	installBeforeIssue.InstallBy = issuedAt - 1
	b.binary("authorization-install-by-before-issue", ka, b.signAuthStruct(installBeforeIssue), "invalid", "install-by is before the issue time")
	big := f.CiscoAuthorization()
	for i := 0; len(big.Entitlements) < 60; i++ {
		big.Entitlements = append(big.Entitlements, codes.Entitlement{Tag: strings.Repeat("x", 150) + string(rune('a'+i%26)) + string(rune('a'+i/26)), Count: 1})
	}
	b.binary("authorization-oversize", ka, b.signAuthStruct(big), "malformed", "an authorization code over the 8 KiB limit")

	// Binding and time rules (Check).
	shortTerm := f.CiscoAuthorization()
	shortTerm.Entitlements[0].End = issuedAt + 2*86400
	withCheck("authorization-expired-term", b.signAuthStruct(shortTerm), &testvectors.Check{Now: issuedAt + 3*86400, Instance: "instance", UDI: f.UDI.String()}, "expired",
		"checked inside its install window but after its term entitlement ended")
	withCheck("authorization-wrong-udi", auth, &testvectors.Check{Now: checkAt, Instance: "instance", UDI: "P:UCM,S:aa001,U:d9a2c661-8fe1-4ce7-9e6f-bbc68a3aa001"}, "wrong-instance",
		"checked by an instance with another UDI")
	withCheck("authorization-wrong-instance-key", auth, &testvectors.Check{Now: checkAt, Instance: "other_instance", UDI: f.UDI.String()}, "wrong-instance",
		"checked by an instance with the same UDI and another key (a rebuilt state)")
	withCheck("authorization-install-window-ended", auth, &testvectors.Check{Now: installBy, Instance: "instance", UDI: f.UDI.String()}, "install-window",
		"checked at its install-by time")
	late := f.CiscoAuthorization()
	late.IssuedAt = unix("2022-01-01T00:00:00Z")
	late.InstallBy = late.IssuedAt + 86400
	late.Entitlements = late.Entitlements[1:]
	windowedID := f.Windowed.ID()
	b.binary("authorization-outside-key-window", ka, must(cose.SignSign1(wire.MustMarshal(late), ka.Label(), windowedID[:], signer("windowed"))), "key-window",
		"signed by windowed_authority with an issue time after that key's not_after")

	// Typed and armored forms.
	typed := codes.EncodeText(ka, auth)
	groups := strings.Split(typed, "-")
	g := []byte(groups[5])
	if g[0] == '7' {
		g[0] = '8'
	} else {
		g[0] = '7'
	}
	groups[5] = string(g)
	b.add(testvectors.Case{Name: "authorization-typed-typo-group-5", Description: "the typed form with one character changed in group 5",
		Kind: ka.String(), Form: "typed", Input: strings.Join(groups, "-"), Expect: "typo"})
	groups = strings.Split(typed, "-")
	groups[3], groups[4] = groups[4], groups[3]
	b.add(testvectors.Case{Name: "authorization-typed-groups-swapped", Description: "the typed form with groups 3 and 4 swapped",
		Kind: ka.String(), Form: "typed", Input: strings.Join(groups, "-"), Expect: "typo"})
	b.add(testvectors.Case{Name: "authorization-typed-letter-u", Description: "the typed form with a U, which the alphabet does not use",
		Kind: ka.String(), Form: "typed", Input: typed[:10] + "U" + typed[11:], Expect: "malformed"})
	b.add(testvectors.Case{Name: "authorization-typed-lower-case-and-spaces", Description: "the typed form in lower case with spaces for dashes: accepted",
		Kind: ka.String(), Form: "typed", Input: strings.ToLower(strings.ReplaceAll(typed, "-", " ")), Expect: "ok"})
	armored := string(codes.EncodeArmor(ka, auth))
	b.add(testvectors.Case{Name: "authorization-armor-crlf", Description: "the armored form with CRLF line endings",
		Kind: ka.String(), Form: "armored", Input: strings.ReplaceAll(armored, "\n", "\r\n"), Expect: "malformed"})
	lines := strings.Split(armored, "\n")
	long := strings.Join(append([]string{lines[0], lines[1] + lines[2]}, lines[3:]...), "\n")
	b.add(testvectors.Case{Name: "authorization-armor-long-line", Description: "the armored form with two body lines joined into one of 128 characters",
		Kind: ka.String(), Form: "armored", Input: long, Expect: "malformed"})
	b.add(testvectors.Case{Name: "authorization-armor-unknown-type", Description: "the armored form with the type AIRLOCK LICENSE",
		Kind: ka.String(), Form: "armored", Input: strings.ReplaceAll(armored, "AIRLOCK AUTHORIZATION", "AIRLOCK LICENSE"), Expect: "malformed"})
	b.add(testvectors.Case{Name: "authorization-armor-bad-base64", Description: "the armored form with a character outside base64 in its body",
		Kind: ka.String(), Form: "armored", Input: strings.Replace(armored, lines[1], "*"+lines[1][1:], 1), Expect: "malformed"})
	b.add(testvectors.Case{Name: "authorization-armor-is-a-return", Description: "an armored return code given where an authorization is expected",
		Kind: ka.String(), Form: "armored", Input: string(codes.EncodeArmor(codes.KindReturn, all[codes.KindReturn])), Expect: "wrong-kind"})
	b.add(testvectors.Case{Name: "confirmation-typed-is-a-return", Description: "a typed return code given where a confirmation is expected",
		Kind: codes.KindConfirmation.String(), Form: "typed", Input: codes.EncodeText(codes.KindReturn, all[codes.KindReturn]), Expect: "wrong-kind"})

	// Instance-made codes.
	kr, kc := codes.KindReturn, codes.KindConfirmation
	ret := all[kr]
	b.binary("return-flipped-mac-byte", kr, flip(ret, len(ret)-1), "bad-signature", "one bit flipped in the MAC tag")
	otherMAC, err := f.Other.MACKey(&f.Authority.Public)
	if err != nil {
		return err
	}
	retPayload, _ := payloadOf(kr, ret)
	b.binary("return-other-instance-mac", kr, cose.SealMac0(retPayload, kr.Label(), otherMAC), "bad-signature",
		"a return code MACed with other_instance's pairwise key")
	b.binary("confirmation-is-a-return-under-its-label", kc, cose.SealMac0(retPayload, kr.Label(), f.Pairwise), "bad-signature",
		"a valid return code given as a confirmation in binary form: the label differs, so the MAC fails")
	b.binary("return-mac-alg-in-protected", kr, wire.MustMarshal([]any{wire.MustMarshal(map[int]int{1: 5}), map[int]int{}, retPayload, ret[len(ret)-8:]}), "algorithm",
		"the protected header names HMAC 256/256 (5)")
	b.binary("return-protected-null", kr, wire.MustMarshal([]any{nil, map[int]int{}, retPayload, ret[len(ret)-8:]}), "malformed",
		"the protected header is CBOR null instead of an empty byte string")
	zeroSerial := f.Return()
	zeroSerial.Serial = 0
	b.binary("return-serial-zero", kr, b.macCode(kr, wire.MustMarshal(zeroSerial)), "malformed",
		"serial 0")
	rps := pairsOf(retPayload)
	withFalse := append(append(append([]pair(nil), rps[:2]...), pair{wire.MustMarshal(3), []byte{0xf4}}), rps[2:]...)
	b.binary("return-never-installed-false-present", kr, b.macCode(kr, mapOf(withFalse)), "malformed",
		"the optional never-installed flag is present with its default value false")
	b.binary("return-journal-tag-3-bytes", kr, b.macCode(kr, mapOf(replace(rps, 4, wire.MustMarshal([]byte{0xab, 0xab, 0xab})))), "malformed",
		"a 3-byte journal tag")
	b.binary("return-journal-tag-1-byte", kr, b.macCode(kr, mapOf(replace(rps, 4, wire.MustMarshal([]byte{0xab})))), "malformed",
		"a 1-byte journal tag")
	b.binary("return-journal-tag-empty", kr, b.macCode(kr, mapOf(replace(rps, 4, []byte{0x40}))), "malformed",
		"the optional journal tag is present as an empty byte string")
	b.binary("return-journal-tag-uint", kr, b.macCode(kr, mapOf(replace(rps, 4, wire.MustMarshal(uint64(0xabab))))), "malformed",
		"the journal tag is the integer 0xabab instead of a byte string")
	noTag := f.Return()
	noTag.Journal = nil
	b.validMACed("return-without-journal-tag", kr, wire.MustMarshal(noTag),
		"a return code without the optional journal tag: valid, the authority then has no tag to compare")
	b.binary("confirmation-long-reservation-id", kc, b.macCode(kc, wire.MustMarshal(codes.Confirmation{Reservation: []byte{1, 2, 3, 4, 5}, Serial: 2})), "malformed",
		"a 5-byte reservation id")
	b.binary("confirmation-mac-7-bytes", kc, wire.MustMarshal([]any{[]byte{}, map[int]int{}, wire.MustMarshal(f.Confirmation()), all[kc][len(all[kc])-7:]}), "malformed",
		"a 7-byte MAC tag")

	kq := codes.KindRequest
	lowOrder := f.Request()
	lowOrder.InstanceKey = make([]byte, 32)
	lowOrder.InstanceKey[0] = 1
	b.binary("request-low-order-instance-key", kq, b.macCode(kq, wire.MustMarshal(lowOrder)), "weak-key",
		"the instance public key is the X25519 point of order 1 (u = 1): its shared secret is all zeros")
	shortKey := f.Request()
	shortKey.InstanceKey = shortKey.InstanceKey[:31]
	b.binary("request-short-instance-key", kq, b.macCode(kq, wire.MustMarshal(shortKey)), "weak-key", "a 31-byte instance public key")
	shortNonce := f.Request()
	shortNonce.Nonce = shortNonce.Nonce[:7]
	b.binary("request-short-nonce", kq, b.macCode(kq, wire.MustMarshal(shortNonce)), "malformed", "a 7-byte nonce")
	otherReq := f.Request()
	otherReq.InstanceKey = f.Other.Public()
	b.binary("request-key-not-matching-mac", kq, b.macCode(kq, wire.MustMarshal(otherReq)), "bad-signature",
		"names other_instance's public key but is MACed with instance's pairwise key: no proof of possession")
	dupWanted := f.Request()
	dupWanted.Wanted = []codes.License{{Tag: "vms.camera.core", Count: 2}, {Tag: "vms.camera.core", Count: 1}}
	b.binary("request-duplicate-wanted-tag", kq, b.macCode(kq, wire.MustMarshal(dupWanted)), "invalid",
		"asks for the same tag twice")

	ks := codes.KindSystem
	dupComp := f.System()
	dupComp.Components[1].ID = dupComp.Components[0].ID
	b.binary("system-duplicate-component", ks, b.macCode(ks, wire.MustMarshal(dupComp)), "invalid", "lists one component id twice")
	ku := codes.KindUsage
	over := f.Usage()
	over.Tags[0].Current = 2
	b.binary("usage-current-above-peak", ku, b.macCode(ku, wire.MustMarshal(over)), "invalid", "current use above the peak")
	headOnly := f.Usage()
	headOnly.JournalCount, headOnly.PreviousHead = 0, nil
	b.binary("usage-journal-head-without-count", ku, b.macCode(ku, wire.MustMarshal(headOnly)), "invalid",
		"a journal head without a journal count")
	countOnly := f.Usage()
	countOnly.JournalHead, countOnly.PreviousHead = nil, nil
	b.binary("usage-journal-count-without-head", ku, b.macCode(ku, wire.MustMarshal(countOnly)), "invalid",
		"a journal count without a journal head")
	prevOnly := f.Usage()
	prevOnly.JournalHead, prevOnly.JournalCount = nil, 0
	b.binary("usage-previous-head-without-head", ku, b.macCode(ku, wire.MustMarshal(prevOnly)), "invalid",
		"a previous journal head without a journal head or count")
	prevIsHead := f.Usage()
	prevIsHead.PreviousHead = prevIsHead.JournalHead
	b.binary("usage-previous-head-is-journal-head", ku, b.macCode(ku, wire.MustMarshal(prevIsHead)), "invalid",
		"the previous journal head equals the journal head: every report adds a journal entry, so the head has moved since the last one")
	shortHead := f.Usage()
	shortHead.JournalHead = shortHead.JournalHead[:31]
	b.binary("usage-journal-head-31-bytes", ku, b.macCode(ku, wire.MustMarshal(shortHead)), "malformed", "a 31-byte journal head")
	longPrev := f.Usage()
	longPrev.PreviousHead = append(bytes.Clone(longPrev.PreviousHead), 0xcd)
	b.binary("usage-previous-head-33-bytes", ku, b.macCode(ku, wire.MustMarshal(longPrev)), "malformed", "a 33-byte previous journal head")
	ups := pairsOf(must(payloadOf(ku, all[ku])))
	b.binary("usage-journal-count-zero-present", ku, b.macCode(ku, mapOf(replace(ups, 9, []byte{0x00}))), "malformed",
		"the journal count is present as 0, its default value")
	b.binary("usage-journal-count-negative", ku, b.macCode(ku, mapOf(replace(ups, 9, []byte{0x20}))), "malformed",
		"the journal count is -1")
	first := f.Usage()
	first.PreviousHead = nil
	b.validMACed("usage-first-report", ku, wire.MustMarshal(first), "an instance's first usage report: no previous journal head")

	kt := codes.KindTrustUpdate
	stale := f.TrustUpdate()
	stale.Sequence = 1
	b.binary("trust-update-not-newer", kt, must(codes.SignTrustSet(stale, f.Authority)), "invalid", "a trust update with the sequence of the installed set")
	b.binary("trust-update-signed-by-new-key-only", kt, must(codes.SignTrustSet(f.TrustUpdate(), authorityKey("next", time.Time{}, time.Time{}))), "unknown-key",
		"a trust update signed only by the key it adds")
	return nil
}

func hexOf(b []byte) string { return hex.EncodeToString(b) }

// validMACed adds a valid instance-made code in binary form, MACed with the
// pairwise key, with its payload to compare a decoder's result with.
func (b *builder) validMACed(name string, k codes.Kind, payload []byte, desc string) {
	b.add(testvectors.Case{Name: name, Description: desc, Kind: k.String(), Form: "binary",
		Input: hexOf(b.macCode(k, payload)), Expect: "ok", Payload: hexOf(payload)})
}
