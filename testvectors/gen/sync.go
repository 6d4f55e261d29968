package gen

import (
	"bytes"
	"crypto/sha256"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/formats/cose"
	"github.com/airlock-dev/airlock/formats/wire"
	"github.com/airlock-dev/airlock/testvectors"
)

// SyncRequest is the third sync request of satellite plant-sat: a month
// of use of two accounts of organization acme, the answer to its second
// request imported at the start of the month. The vectors sign it with
// the fixture's authority key, standing for the satellite's own key (the
// vendor opens it against the trust set it registered for the satellite).
func (f *Fixture) SyncRequest() *codes.SyncRequest {
	last := sha256.Sum256([]byte("airlock test sync answer 2"))
	return &codes.SyncRequest{
		Satellite: "plant-sat", Sequence: 3, LastAnswer: last[:], From: issuedAt - 30*86400, IssuedAt: issuedAt,
		Accounts: []codes.SyncAccount{
			{Org: "acme", Account: "lab", Instances: 1},
			{Org: "acme", Account: "plant", Instances: 12, Reserved: 3, Returned: 1, Usage: []codes.SyncUsage{
				{Tag: "vms.analytics", Peak: 4, Current: 2},
				{Tag: "vms.camera.core", Peak: 40, Current: 38, Over: 3},
			}},
		},
	}
}

// SyncAnswer answers SyncRequest with acme/plant's three lots and
// acme/lab's none: a perpetual lot, a term lot, and an export-controlled
// hardware lot.
func (f *Fixture) SyncAnswer() *codes.SyncAnswer {
	code := must(codes.SignSyncRequest(f.SyncRequest(), f.Authority))
	h := sha256.Sum256(code)
	return &codes.SyncAnswer{
		Satellite: "plant-sat", Sequence: 3, Request: h[:], Authority: "ACME licensing", IssuedAt: issuedAt + 3600,
		Accounts: []codes.SyncDelegation{
			{Org: "acme", Account: "lab"},
			{Org: "acme", Account: "plant", Lots: []codes.SyncLot{
				{ID: 4, Tag: "vms.camera.core", Count: 35, Kind: codes.Perpetual},
				{ID: 9, Tag: "vms.analytics", Count: 5, Kind: codes.Term, Start: unix("2020-01-01T00:00:00Z"), End: unix("2021-01-01T00:00:00Z")},
				{ID: 17, Tag: "vms.crypto", Count: 2, Kind: codes.Hardware, ExportControlled: true},
			}},
		},
	}
}

// sync adds the cases of the sync request and the sync answer, each
// testing one thing. Their size limits are tested in codes.
func (b *builder) sync() {
	f := b.f
	kr, ka := codes.KindSyncRequest, codes.KindSyncAnswer
	kid := f.Authority.ID()
	signAs := func(k codes.Kind, v any) []byte {
		return must(cose.SignSign1(wire.MustMarshal(v), k.Label(), kid[:], signer("authority")))
	}
	req := func(name, expect, desc string, breakIt func(r *codes.SyncRequest)) {
		r := f.SyncRequest()
		breakIt(r)
		b.binary(name, kr, signAs(kr, r), expect, desc)
	}
	ans := func(name, expect, desc string, breakIt func(a *codes.SyncAnswer)) {
		a := f.SyncAnswer()
		breakIt(a)
		b.binary(name, ka, signAs(ka, a), expect, desc)
	}

	// Sync requests.
	first := f.SyncRequest()
	first.Sequence, first.LastAnswer, first.Accounts = 1, nil, nil
	b.add(testvectors.Case{Name: "sync-request-first-empty", Description: "a satellite's first sync request, before any answer, with nothing to report",
		Kind: kr.String(), Form: "binary", Input: hexOf(signAs(kr, first)), Expect: "ok", Payload: hexOf(wire.MustMarshal(first))})
	req("sync-request-sequence-zero", "malformed", "a sync request of sequence 0: sequences start at 1",
		func(r *codes.SyncRequest) { r.Sequence = 0 })
	req("sync-request-last-answer-31-bytes", "malformed", "the hash of the last answer imported has 31 bytes",
		func(r *codes.SyncRequest) { r.LastAnswer = r.LastAnswer[:31] })
	req("sync-request-made-before-its-period", "invalid", "a sync request made before the period it reports on starts",
		func(r *codes.SyncRequest) { r.IssuedAt = r.From - 1 })
	req("sync-request-accounts-unsorted", "invalid", "acme/plant is listed before acme/lab",
		func(r *codes.SyncRequest) { r.Accounts[0], r.Accounts[1] = r.Accounts[1], r.Accounts[0] })
	req("sync-request-account-twice", "invalid", "acme/plant is listed twice",
		func(r *codes.SyncRequest) { r.Accounts[0] = r.Accounts[1] })
	req("sync-request-tags-unsorted", "invalid", "vms.camera.core is listed before vms.analytics",
		func(r *codes.SyncRequest) { u := r.Accounts[1].Usage; u[0], u[1] = u[1], u[0] })
	req("sync-request-current-above-peak", "invalid", "a tag's current use above its peak over the period",
		func(r *codes.SyncRequest) { r.Accounts[1].Usage[0].Current = 5 })
	req("sync-request-satellite-name-with-slash", "malformed", "a satellite name with '/', which names are not allowed to have",
		func(r *codes.SyncRequest) { r.Satellite = "plant/sat" })
	req("sync-request-account-name-empty", "malformed", "an account with an empty name",
		func(r *codes.SyncRequest) { r.Accounts[0].Account = "" })
	ps := pairsOf(wire.MustMarshal(f.SyncRequest()))
	b.binary("sync-request-empty-accounts-present", kr, b.signSync(kr, mapOf(replace(ps, 6, []byte{0x80}))), "malformed",
		"the optional account list is present as an empty array")
	b.binary("sync-request-period-start-missing", kr, b.signSync(kr, mapOf(drop(ps, 4))), "malformed",
		"the start of the period (key 4) is missing")

	// Sync answers.
	ans("sync-answer-request-hash-missing", "malformed", "an answer that names no request",
		func(a *codes.SyncAnswer) { a.Request = nil })
	ans("sync-answer-lots-unsorted", "invalid", "lot 9 is listed before lot 4",
		func(a *codes.SyncAnswer) { l := a.Accounts[1].Lots; l[0], l[1] = l[1], l[0] })
	ans("sync-answer-lot-in-two-accounts", "invalid", "lot 4 is listed in acme/lab and in acme/plant",
		func(a *codes.SyncAnswer) { a.Accounts[0].Lots = []codes.SyncLot{a.Accounts[1].Lots[0]} })
	ans("sync-answer-lot-id-zero", "malformed", "a lot of id 0: the vendor's ids start at 1",
		func(a *codes.SyncAnswer) { a.Accounts[1].Lots[0].ID = 0 })
	ans("sync-answer-lot-count-zero", "invalid", "a lot with no license left, which the vendor leaves out",
		func(a *codes.SyncAnswer) { a.Accounts[1].Lots[0].Count = 0 })
	ans("sync-answer-term-lot-without-end", "invalid", "a term lot with a start and no end",
		func(a *codes.SyncAnswer) { a.Accounts[1].Lots[1].End = 0 })
	ans("sync-answer-perpetual-lot-with-dates", "invalid", "a perpetual lot with a start and an end",
		func(a *codes.SyncAnswer) {
			a.Accounts[1].Lots[0].Start, a.Accounts[1].Lots[0].End = issuedAt, issuedAt+86400
		})
	ans("sync-answer-accounts-unsorted", "invalid", "acme/plant is listed before acme/lab",
		func(a *codes.SyncAnswer) { a.Accounts[0], a.Accounts[1] = a.Accounts[1], a.Accounts[0] })
	ans("sync-answer-authority-name-control-character", "malformed", "the vendor's name with an escape character, which would reach the satellite operator's terminal",
		func(a *codes.SyncAnswer) { a.Authority = "ACME\x1b[2J licensing" })
	ans("sync-answer-tag-with-space", "malformed", "a lot whose tag has a space",
		func(a *codes.SyncAnswer) { a.Accounts[1].Lots[0].Tag = "vms camera" })

	code := f.Codes()[ka]
	payload, err := payloadOf(ka, code)
	if err != nil {
		panic(err)
	}
	// The count of the first lot, 35, is the byte 0x18 0x23 in the payload:
	// raised to 99 after signing, as a satellite operator who edited the
	// file would.
	tampered := bytes.Clone(code)
	at := bytes.Index(code, payload) + bytes.Index(payload, []byte{0x03, 0x18, 0x23})
	tampered[at+2] = 99
	b.binary("sync-answer-count-raised", ka, tampered, "bad-signature", "the count of a lot raised from 35 to 99 after signing")
	b.binary("sync-answer-signed-as-request", ka, must(cose.SignSign1(payload, kr.Label(), kid[:], signer("authority"))), "bad-signature",
		"a sync answer payload signed with the sync request label as external AAD")
	rogueID := f.Rogue.ID()
	b.binary("sync-answer-untrusted-key", ka, must(cose.SignSign1(payload, ka.Label(), rogueID[:], signer("rogue"))), "unknown-key",
		"signed by rogue_authority, which is in no trust set: an answer from another vendor, or a forged one")
	rpayload, err := payloadOf(kr, f.Codes()[kr])
	if err != nil {
		panic(err)
	}
	b.binary("sync-request-untrusted-key", kr, must(cose.SignSign1(rpayload, kr.Label(), rogueID[:], signer("rogue"))), "unknown-key",
		"signed by rogue_authority: another satellite's key, which the vendor did not register for this one")
	late := f.SyncAnswer()
	late.IssuedAt = unix("2022-01-01T00:00:00Z")
	windowedID := f.Windowed.ID()
	b.binary("sync-answer-outside-key-window", ka, must(cose.SignSign1(wire.MustMarshal(late), ka.Label(), windowedID[:], signer("windowed"))), "key-window",
		"signed by windowed_authority with an issue time after that key's not_after")
	b.add(testvectors.Case{Name: "sync-answer-armored-is-a-sync-request", Description: "an armored sync request given where a sync answer is expected",
		Kind: ka.String(), Form: "armored", Input: string(codes.EncodeArmor(kr, f.Codes()[kr])), Expect: "wrong-kind"})
	b.add(testvectors.Case{Name: "sync-request-armored-is-a-manifest", Description: "an armored download manifest given where a sync request is expected",
		Kind: kr.String(), Form: "armored", Input: string(codes.EncodeArmor(codes.KindManifest, f.Codes()[codes.KindManifest])), Expect: "wrong-kind"})
}

// signSync signs a sync payload given as bytes with the authority key.
func (b *builder) signSync(k codes.Kind, payload []byte) []byte {
	kid := b.f.Authority.ID()
	return must(cose.SignSign1(payload, k.Label(), kid[:], signer("authority")))
}
