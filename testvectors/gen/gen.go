// Package gen makes airlock's golden vectors from fixed keys. It is run by
// the testvectors tests under a fixed global random source (age encryption
// draws randomness), either to write the files (make vectors) or to compare
// them with the committed ones (make check-vectors).
package gen

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/fxamacker/cbor/v2"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/formats/cose"
	"github.com/airlock-dev/airlock/formats/seal"
	"github.com/airlock-dev/airlock/formats/wire"
	"github.com/airlock-dev/airlock/testvectors"
)

// CiscoUDI and the Cisco example entitlements are the content of a
// specific license reservation authorization as vendors issue it today.
const CiscoUDI = "P:UCM,S:edb16,U:d9a2c661-8fe1-4ce7-9e6f-bbc68a3edb16"

// Fixed instants, Unix seconds UTC.
var (
	issuedAt  = unix("2020-03-04T10:00:00Z")
	installBy = issuedAt + 30*86400
	checkAt   = issuedAt + 86400
)

func unix(s string) int64 {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.Unix()
}

// CiscoEntitlements are the two lines of the Cisco example: a term license
// from 2020-03-04 through 2020-08-31 and a perpetual one.
func CiscoEntitlements() []codes.Entitlement {
	return []codes.Entitlement{
		{Tag: "regid.2017-02.com.cisco.UCM_CUWL_12.0_cc59375a-1cd8-4b36-8366-6f4d2abba965", Count: 1, Kind: codes.Term,
			Start: unix("2020-03-04T00:00:00Z"), End: unix("2020-09-01T00:00:00Z")},
		{Tag: "regid.2016-07.com.cisco.UCM_Enhanced_12.0_66d0d1cf-4863-4761-91d0-d01d3eb1949a", Count: 1, Kind: codes.Perpetual},
	}
}

// seed returns 64 fixed bytes for a named key.
func seed(name string) []byte {
	a := sha256.Sum256([]byte("airlock test vector key " + name + " 1"))
	b := sha256.Sum256([]byte("airlock test vector key " + name + " 2"))
	return append(a[:], b[:]...)
}

// A Fixture holds the fixed keys and the codes every case is made from.
type Fixture struct {
	Authority, Windowed, Rogue *codes.AuthorityKey
	Instance, Other            *codes.InstanceKey
	UDI                        codes.UDI
	Trust                      *codes.TrustSet
	TrustFile                  []byte // armored
	Pairwise                   []byte
	AgeIdentity                *age.X25519Identity
}

func authorityKey(name string, notBefore, notAfter time.Time) *codes.AuthorityKey {
	k, err := codes.GenerateAuthorityKey(bytes.NewReader(seed(name)), notBefore, notAfter)
	if err != nil {
		panic(err)
	}
	return k
}

func instanceKey(name string) *codes.InstanceKey {
	k, err := codes.GenerateInstanceKey(bytes.NewReader(seed(name)))
	if err != nil {
		panic(err)
	}
	return k
}

// NewFixture makes the fixed keys. The age identity is drawn from
// crypto/rand: call it under a fixed global random source.
func NewFixture() (*Fixture, error) {
	f := &Fixture{
		Authority: authorityKey("authority", time.Time{}, time.Time{}),
		Windowed:  authorityKey("windowed", time.Unix(unix("2019-01-01T00:00:00Z"), 0), time.Unix(unix("2021-01-01T00:00:00Z"), 0)),
		Rogue:     authorityKey("rogue", time.Time{}, time.Time{}),
		Instance:  instanceKey("instance"),
		Other:     instanceKey("other instance"),
	}
	var err error
	if f.UDI, err = codes.ParseUDI(CiscoUDI); err != nil {
		return nil, err
	}
	f.Trust = &codes.TrustSet{Sequence: 1, Keys: []codes.AuthorityPublicKey{f.Authority.Public, f.Windowed.Public}, IssuedAt: issuedAt - 86400}
	tf, err := codes.SignTrustSet(f.Trust, f.Authority)
	if err != nil {
		return nil, err
	}
	f.TrustFile = codes.EncodeArmor(codes.KindTrustUpdate, tf)
	if f.Pairwise, err = f.Instance.MACKey(&f.Authority.Public); err != nil {
		return nil, err
	}
	if f.AgeIdentity, err = age.GenerateX25519Identity(); err != nil {
		return nil, err
	}
	return f, nil
}

// signer returns the raw Ed25519 key of an authority key, for cases that
// sign bytes the codes package would refuse to produce.
func signer(name string) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(seed(name)[:32]) }

// SignRaw signs payload as a code of kind k with the fixture's authority
// key, checking nothing: for tests of what Open… refuses.
func (f *Fixture) SignRaw(k codes.Kind, payload []byte) []byte {
	id := f.Authority.ID()
	return must(cose.SignSign1(payload, k.Label(), id[:], signer("authority")))
}

// MACRaw MACs payload as a code of kind k with the instance's pairwise
// key, checking nothing: for tests of what Open… refuses.
func (f *Fixture) MACRaw(k codes.Kind, payload []byte) []byte {
	return cose.SealMac0(payload, k.Label(), f.Pairwise)
}

func (f *Fixture) keys() testvectors.Keys {
	ak := func(k *codes.AuthorityKey) testvectors.AuthorityKey {
		return testvectors.AuthorityKey{
			Private:     hex.EncodeToString(k.MarshalPrivate()),
			SignPublic:  hex.EncodeToString(k.Public.Sign),
			AgreePublic: hex.EncodeToString(k.Public.Agree),
			KeyID:       k.ID().String(),
			NotBefore:   k.Public.NotBefore,
			NotAfter:    k.Public.NotAfter,
		}
	}
	ik := func(k *codes.InstanceKey) testvectors.InstanceKey {
		return testvectors.InstanceKey{
			Private: hex.EncodeToString(k.Bytes()),
			Public:  hex.EncodeToString(k.Public()),
			Hash:    hex.EncodeToString(k.Hash()),
		}
	}
	return testvectors.Keys{
		Authority:     ak(f.Authority),
		Windowed:      ak(f.Windowed),
		Rogue:         ak(f.Rogue),
		Instance:      ik(f.Instance),
		OtherInstance: ik(f.Other),
		UDI:           f.UDI.String(),
		PairwiseKey:   hex.EncodeToString(f.Pairwise),
		TrustFile:     string(f.TrustFile),
		AgeIdentity:   f.AgeIdentity.String(),
		AgeRecipient:  f.AgeIdentity.Recipient().String(),
	}
}

// The valid codes, one of each kind.

// CiscoAuthorization is the authorization of the Cisco example, answering
// the request from Request.
func (f *Fixture) CiscoAuthorization() *codes.Authorization {
	return &codes.Authorization{
		Reservation:  []byte{0x5e, 0xc1, 0x0a, 0x17},
		Serial:       1,
		UDI:          f.UDI,
		InstanceKey:  f.Instance.Hash(),
		Nonce:        f.Request().Nonce,
		Entitlements: CiscoEntitlements(),
		IssuedAt:     issuedAt,
		InstallBy:    installBy,
	}
}

// Request is the instance's request for the Cisco example.
func (f *Fixture) Request() *codes.Request {
	return &codes.Request{UDI: f.UDI, InstanceKey: f.Instance.Public(), Nonce: []byte{1, 2, 3, 4, 5, 6, 7, 8}, IssuedAt: issuedAt - 3600}
}

// Confirmation confirms serial 2 of the Cisco reservation.
func (f *Fixture) Confirmation() *codes.Confirmation {
	return &codes.Confirmation{Reservation: f.CiscoAuthorization().Reservation, Serial: 2}
}

// ExportRequest asks, against serial 2 of the Cisco reservation, for one
// more license of an export-controlled tag.
func (f *Fixture) ExportRequest() *codes.ExportRequest {
	return &codes.ExportRequest{Reservation: f.CiscoAuthorization().Reservation, Serial: 2,
		Tag: "regid.2017-02.com.cisco.UCM_Encryption_12.0", Count: 1, IssuedAt: f.CiscoAuthorization().IssuedAt + 86400}
}

// Return returns serial 2 of the Cisco reservation, tagged with the first
// bytes of the instance's journal head.
func (f *Fixture) Return() *codes.Return {
	return &codes.Return{Reservation: f.CiscoAuthorization().Reservation, Serial: 2, Journal: []byte{0xab, 0xab}}
}

// System describes the instance as an offline system.
func (f *Fixture) System() *codes.System {
	return &codes.System{
		UDI: f.UDI, InstanceKey: f.Instance.Public(), Name: "plant-7 call manager",
		Components: []codes.Component{{ID: "FCH2231V0AB", Model: "UCSC-C220-M5SX", Tag: "vms.camera.core"}, {ID: "FCH2231V0AC", Model: "UCSC-C220-M5SX"}},
		Demand:     []codes.License{{Tag: CiscoEntitlements()[0].Tag, Count: 1}, {Tag: CiscoEntitlements()[1].Tag, Count: 1}},
		IssuedAt:   issuedAt - 7200, Nonce: []byte{8, 7, 6, 5, 4, 3, 2, 1},
	}
}

// Usage reports a month of use: the instance's second report at least, so
// it names the journal head of the one before.
func (f *Fixture) Usage() *codes.Usage {
	return &codes.Usage{
		UDI: f.UDI, Reservation: f.CiscoAuthorization().Reservation, Serial: 1,
		From: issuedAt, To: issuedAt + 30*86400,
		Tags:         []codes.TagUsage{{Tag: CiscoEntitlements()[0].Tag, Peak: 1, Current: 1}, {Tag: CiscoEntitlements()[1].Tag, Peak: 1}},
		HighWater:    issuedAt + 30*86400,
		JournalHead:  bytes.Repeat([]byte{0xab}, 32),
		JournalCount: 42,
		PreviousHead: bytes.Repeat([]byte{0xcd}, 32),
	}
}

// TrustUpdate adds a second key, signed by the first.
func (f *Fixture) TrustUpdate() *codes.TrustSet {
	next := authorityKey("next", time.Time{}, time.Time{})
	return &codes.TrustSet{Sequence: 2, Keys: []codes.AuthorityPublicKey{f.Authority.Public, next.Public}, IssuedAt: issuedAt}
}

// activationNonce is the nonce of the fixture's activation request, which
// its activation carries back.
var activationNonce = []byte{0xac, 0x71, 0x0a, 0x7e, 0x00, 0x00, 0x00, 0x01}

// ActivationRequest lists three devices of two products that activated
// behind the instance, acting as a gateway.
func (f *Fixture) ActivationRequest() *codes.ActivationRequest {
	return &codes.ActivationRequest{
		UDI: f.UDI, InstanceKey: f.Instance.Public(), Nonce: activationNonce, IssuedAt: issuedAt - 1800,
		Products: []codes.DeviceGroup{
			{ProductKey: "PK-CAM-01", Devices: []string{"DK-0001", "DK-0002"}},
			{ProductKey: "PK-NVR-02", Devices: []string{"DK-0100"}},
		},
	}
}

// Activation answers ActivationRequest: the two camera devices activated
// for a year, with one the gateway activated the year before, now
// expired; the recorder refused, its product having no code left.
func (f *Fixture) Activation() *codes.Activation {
	return &codes.Activation{
		UDI: f.UDI, InstanceKey: f.Instance.Hash(), Nonce: activationNonce, IssuedAt: issuedAt,
		Products: []codes.DeviceValidity{
			{ProductKey: "PK-CAM-01", Active: []codes.DeviceWindow{
				{DeviceKey: "DK-0000", From: issuedAt - 400*86400, Until: issuedAt - 35*86400},
				{DeviceKey: "DK-0001", From: issuedAt, Until: issuedAt + 365*86400},
				{DeviceKey: "DK-0002", From: issuedAt, Until: issuedAt + 365*86400},
			}},
			{ProductKey: "PK-NVR-02", Refused: []codes.DeviceRefusal{{DeviceKey: "DK-0100", Reason: codes.RefusedNoCodes}}},
		},
	}
}

// fleetProducts is how many products a fleet's devices are spread over.
const fleetProducts = 4

// fleetDevice returns the product and device key of device i of a fleet:
// 15-character device keys, spread over fleetProducts products, sorted.
func fleetDevice(i int) (pk, dk string) {
	return fmt.Sprintf("PK-FLEET-%d", i%fleetProducts), fmt.Sprintf("dk-%012d", i)
}

// FleetRequest is an activation request listing n devices, for size tests
// and benchmarks.
func (f *Fixture) FleetRequest(n int) *codes.ActivationRequest {
	r := f.ActivationRequest()
	r.Products = make([]codes.DeviceGroup, min(n, fleetProducts))
	for i := range n {
		pk, dk := fleetDevice(i)
		g := &r.Products[i%fleetProducts]
		g.ProductKey = pk
		g.Devices = append(g.Devices, dk)
	}
	return r
}

// FleetActivation answers FleetRequest(n): every device active for a year,
// but every seventh, activated two years before and expired, and every
// tenth, refused for one of the reasons in turn.
func (f *Fixture) FleetActivation(n int) *codes.Activation {
	a := f.Activation()
	a.Products = make([]codes.DeviceValidity, min(n, fleetProducts))
	reasons := []codes.Refusal{codes.RefusedNoCodes, codes.RefusedUnknownProduct, codes.RefusedProductDeleted, codes.RefusedOtherGateway, codes.RefusedNoPool}
	for i := range n {
		pk, dk := fleetDevice(i)
		g := &a.Products[i%fleetProducts]
		g.ProductKey = pk
		switch {
		case i%10 == 9:
			g.Refused = append(g.Refused, codes.DeviceRefusal{DeviceKey: dk, Reason: reasons[i/10%len(reasons)]})
		case i%7 == 6:
			g.Active = append(g.Active, codes.DeviceWindow{DeviceKey: dk, From: issuedAt - 730*86400, Until: issuedAt - 365*86400})
		default:
			g.Active = append(g.Active, codes.DeviceWindow{DeviceKey: dk, From: issuedAt, Until: issuedAt + 365*86400})
		}
	}
	return a
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// Codes returns the binary form of one valid code of each kind.
func (f *Fixture) Codes() map[codes.Kind][]byte {
	return map[codes.Kind][]byte{
		codes.KindRequest:       must(codes.SealRequest(f.Request(), f.Instance, &f.Authority.Public)),
		codes.KindAuthorization: must(codes.SignAuthorization(f.CiscoAuthorization(), f.Authority)),
		codes.KindConfirmation:  must(codes.SealConfirmation(f.Confirmation(), f.Pairwise)),
		codes.KindReturn:        must(codes.SealReturn(f.Return(), f.Pairwise)),
		codes.KindSystem:        must(codes.SealSystem(f.System(), f.Instance, &f.Authority.Public)),
		codes.KindUsage:         must(codes.SealUsage(f.Usage(), f.Pairwise)),
		codes.KindTrustUpdate:   must(codes.SignTrustSet(f.TrustUpdate(), f.Authority)),

		codes.KindActivationRequest: must(codes.SealActivationRequest(f.ActivationRequest(), f.Instance, &f.Authority.Public)),
		codes.KindActivation:        must(codes.SignActivation(f.Activation(), f.Authority)),
		codes.KindManifest:          must(codes.SignManifest(f.Manifest(), f.Authority)),
		codes.KindExportRequest:     must(codes.SealExportRequest(f.ExportRequest(), f.Pairwise)),
		codes.KindSyncRequest:       must(codes.SignSyncRequest(f.SyncRequest(), f.Authority)),
		codes.KindSyncAnswer:        must(codes.SignSyncAnswer(f.SyncAnswer(), f.Authority)),
	}
}

func verifyOf(k codes.Kind) string {
	switch k {
	case codes.KindAuthorization, codes.KindTrustUpdate, codes.KindActivation, codes.KindManifest, codes.KindSyncRequest, codes.KindSyncAnswer:
		return "trust"
	case codes.KindRequest, codes.KindSystem, codes.KindActivationRequest:
		return "authority"
	}
	return "pairwise"
}

type builder struct {
	f     *Fixture
	cases map[string]testvectors.Case
}

func (b *builder) add(c testvectors.Case) {
	if _, dup := b.cases[c.Name]; dup {
		panic("gen: duplicate case " + c.Name)
	}
	if c.Verify == "" {
		k, _ := kindNamed(c.Kind)
		c.Verify = verifyOf(k)
	}
	b.cases[c.Name] = c
}

func kindNamed(s string) (codes.Kind, bool) {
	for _, k := range codes.Kinds {
		if k.String() == s {
			return k, true
		}
	}
	return 0, false
}

func slug(k codes.Kind) string { return strings.ReplaceAll(k.String(), " ", "-") }

// binaryCase is an invalid or valid code in binary form.
func (b *builder) binary(name string, k codes.Kind, code []byte, expect, desc string) {
	b.add(testvectors.Case{Name: name, Description: desc, Kind: k.String(), Form: "binary", Input: hex.EncodeToString(code), Expect: expect})
}

// Generate returns every vector file by name: keys.json and cases/*.json.
// Call it under a fixed global random source.
func Generate() (map[string][]byte, error) {
	f, err := NewFixture()
	if err != nil {
		return nil, err
	}
	b := &builder{f: f, cases: map[string]testvectors.Case{}}
	if err := b.valid(); err != nil {
		return nil, err
	}
	if err := b.invalid(); err != nil {
		return nil, err
	}
	b.activation()
	b.manifest()
	b.sync()
	out := map[string][]byte{}
	keys, err := json.MarshalIndent(f.keys(), "", "  ")
	if err != nil {
		return nil, err
	}
	out["keys.json"] = append(keys, '\n')
	names := make([]string, 0, len(b.cases))
	for n := range b.cases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		j, err := json.MarshalIndent(b.cases[n], "", "  ")
		if err != nil {
			return nil, err
		}
		out["cases/"+n+".json"] = append(j, '\n')
	}
	return out, nil
}

// valid adds every kind in every form, and age-encrypted files.
func (b *builder) valid() error {
	f := b.f
	for k, code := range f.Codes() {
		payload, err := payloadOf(k, code)
		if err != nil {
			return err
		}
		c := testvectors.Case{Kind: k.String(), Expect: "ok", Payload: hex.EncodeToString(payload)}
		switch k {
		case codes.KindAuthorization, codes.KindActivation:
			c.Check = &testvectors.Check{Now: checkAt, Instance: "instance", UDI: f.UDI.String()}
		case codes.KindManifest:
			c.Check = &testvectors.Check{Now: checkAt}
		}
		for _, form := range []string{"binary", "typed", "armored"} {
			c := c
			c.Name = slug(k) + "-ok-" + form
			c.Form = form
			c.Description = fmt.Sprintf("a valid %s code in %s form", k, form)
			switch form {
			case "binary":
				c.Input = hex.EncodeToString(code)
			case "typed":
				c.Input = codes.EncodeText(k, code)
			case "armored":
				c.Input = string(codes.EncodeArmor(k, code))
			}
			b.add(c)
		}
	}
	b.add(testvectors.Case{Name: "trust-file-ok", Description: "the trust file: a trust update signed by a key it lists itself",
		Kind: "trust update", Form: "armored", Input: string(f.TrustFile), Verify: "trust-file", Expect: "ok"})

	auth := f.Codes()[codes.KindAuthorization]
	sealed, err := seal.Encrypt(codes.EncodeArmor(codes.KindAuthorization, auth), f.AgeIdentity.Recipient())
	if err != nil {
		return err
	}
	b.add(testvectors.Case{Name: "authorization-ok-age", Description: "an armored authorization code encrypted with age to age_recipient",
		Kind: "authorization", Form: "age", Input: string(sealed), Expect: "ok",
		Check: &testvectors.Check{Now: checkAt, Instance: "instance", UDI: f.UDI.String()}})

	other, err := age.GenerateX25519Identity()
	if err != nil {
		return err
	}
	wrong, err := seal.Encrypt(codes.EncodeArmor(codes.KindAuthorization, auth), other.Recipient())
	if err != nil {
		return err
	}
	b.add(testvectors.Case{Name: "authorization-age-wrong-identity", Description: "an authorization code encrypted with age to another recipient than age_recipient",
		Kind: "authorization", Form: "age", Input: string(wrong), Expect: "encrypted"})
	lines := strings.Split(string(sealed), "\n")
	cut := strings.Join(append(lines[:len(lines)-4:len(lines)-4], lines[len(lines)-2:]...), "\n")
	b.add(testvectors.Case{Name: "authorization-age-truncated", Description: "an age-encrypted authorization code with the last lines of its body cut off",
		Kind: "authorization", Form: "age", Input: cut, Expect: "malformed"})
	return nil
}

// payloadOf returns the CBOR payload inside a valid code.
func payloadOf(k codes.Kind, code []byte) ([]byte, error) {
	if k.Signed() {
		s, err := cose.ParseSign1(code)
		if err != nil {
			return nil, err
		}
		return s.Payload, nil
	}
	m, err := cose.ParseMac0(code)
	if err != nil {
		return nil, err
	}
	return m.Payload, nil
}

// pairs decodes a canonical CBOR map into its raw key-value pairs in order.
type pair struct{ key, value []byte }

func pairsOf(payload []byte) []pair {
	var m map[uint64]cbor.RawMessage
	if err := cbor.Unmarshal(payload, &m); err != nil {
		panic(err)
	}
	keys := make([]uint64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	ps := make([]pair, len(keys))
	for i, k := range keys {
		ps[i] = pair{wire.MustMarshal(k), m[k]}
	}
	return ps
}

// mapOf encodes pairs as a definite-length map in the order given.
func mapOf(ps []pair) []byte {
	if len(ps) > 23 {
		panic("gen: map too large")
	}
	out := []byte{0xa0 + byte(len(ps))}
	for _, p := range ps {
		out = append(out, p.key...)
		out = append(out, p.value...)
	}
	return out
}

func replace(ps []pair, key uint64, value []byte) []pair {
	out := append([]pair(nil), ps...)
	for i := range out {
		if bytes.Equal(out[i].key, wire.MustMarshal(key)) {
			out[i].value = value
			return out
		}
	}
	panic(fmt.Sprintf("gen: no key %d", key))
}

func drop(ps []pair, key uint64) []pair {
	var out []pair
	for _, p := range ps {
		if !bytes.Equal(p.key, wire.MustMarshal(key)) {
			out = append(out, p)
		}
	}
	return out
}

func (b *builder) signAuth(payload []byte) []byte {
	id := b.f.Authority.ID()
	return must(cose.SignSign1(payload, codes.KindAuthorization.Label(), id[:], signer("authority")))
}

func (b *builder) signAuthStruct(a *codes.Authorization) []byte {
	return b.signAuth(wire.MustMarshal(a))
}

func (b *builder) macCode(k codes.Kind, payload []byte) []byte {
	return cose.SealMac0(payload, k.Label(), b.f.Pairwise)
}

// sign1With builds a COSE_Sign1 by hand with the given protected header
// bytes, signing the Sig_structure with the authority's key, so that header
// cases carry valid signatures.
func (b *builder) sign1With(protected, payload []byte, label []byte) []byte {
	sigStructure := wire.MustMarshal([]any{"Signature1", protected, label, payload})
	sig := ed25519.Sign(signer("authority"), sigStructure)
	return wire.MustMarshal([]any{protected, map[int]int{}, payload, sig})
}

// SigStructure returns the Sig_structure (RFC 9052 §4.4) an authorization
// code's signature covers, and the signature: what a bare Ed25519 verify of
// the same bytes takes.
func SigStructure(code []byte) (msg, sig []byte) {
	return SigStructureOf(codes.KindAuthorization, code)
}

// SigStructureOf is SigStructure for a signed code of kind k.
func SigStructureOf(k codes.Kind, code []byte) (msg, sig []byte) {
	s, err := cose.ParseSign1Bulk(code)
	if err != nil {
		panic(err)
	}
	var env []cbor.RawMessage
	if err := cbor.Unmarshal(code, &env); err != nil {
		panic(err)
	}
	var protected []byte
	if err := cbor.Unmarshal(env[0], &protected); err != nil {
		panic(err)
	}
	msg = wire.MustMarshal([]any{"Signature1", protected, k.Label(), s.Payload})
	return msg, code[len(code)-ed25519.SignatureSize:]
}
