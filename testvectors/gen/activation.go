package gen

import (
	"strings"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/formats/cose"
	"github.com/airlock-dev/airlock/formats/wire"
	"github.com/airlock-dev/airlock/testvectors"
)

// activation adds the cases of the two fleet kinds, activation request and
// activation, each testing one thing. They are small: the size limits of
// these kinds are tested in codes, not published as megabytes of vectors.
func (b *builder) activation() {
	f := b.f
	kr, ka := codes.KindActivationRequest, codes.KindActivation
	mac := func(r *codes.ActivationRequest) []byte { return b.macCode(kr, wire.MustMarshal(r)) }
	kid := f.Authority.ID()
	sign := func(a *codes.Activation) []byte {
		return must(cose.SignSign1(wire.MustMarshal(a), ka.Label(), kid[:], signer("authority")))
	}
	check := &testvectors.Check{Now: checkAt, Instance: "instance", UDI: f.UDI.String()}
	signedCase := func(name string, code []byte, ch *testvectors.Check, expect, desc string) {
		b.add(testvectors.Case{Name: name, Description: desc, Kind: ka.String(), Form: "binary", Input: hexOf(code), Check: ch, Expect: expect})
	}

	// Activation requests.
	empty := f.ActivationRequest()
	empty.Products = nil
	b.validMACed("activation-request-no-devices", kr, wire.MustMarshal(empty),
		"an activation request that lists no device: it asks only for the current validity of the devices activated before")
	unsortedPK := f.ActivationRequest()
	unsortedPK.Products[0], unsortedPK.Products[1] = unsortedPK.Products[1], unsortedPK.Products[0]
	b.binary("activation-request-products-unsorted", kr, mac(unsortedPK), "invalid", "product PK-NVR-02 is listed before PK-CAM-01")
	dupPK := f.ActivationRequest()
	dupPK.Products[1].ProductKey = dupPK.Products[0].ProductKey
	dupPK.Products[1].Devices = []string{"DK-0003"}
	b.binary("activation-request-product-twice", kr, mac(dupPK), "invalid", "product PK-CAM-01 is listed twice, with different devices")
	unsortedDK := f.ActivationRequest()
	unsortedDK.Products[0].Devices = []string{"DK-0002", "DK-0001"}
	b.binary("activation-request-devices-unsorted", kr, mac(unsortedDK), "invalid", "device DK-0002 is listed before DK-0001")
	dupDK := f.ActivationRequest()
	dupDK.Products[0].Devices = []string{"DK-0001", "DK-0001"}
	b.binary("activation-request-device-twice", kr, mac(dupDK), "invalid", "device DK-0001 is listed twice under one product")
	space := f.ActivationRequest()
	space.Products[0].Devices[1] = "DK 0002"
	b.binary("activation-request-device-key-with-space", kr, mac(space), "invalid", "a device key with a space, which device keys may not have")
	long := f.ActivationRequest()
	long.Products[1].Devices[0] = "DK-" + strings.Repeat("9", 62)
	b.binary("activation-request-device-key-65-characters", kr, mac(long), "invalid", "a device key of 65 characters; the limit is 64")
	noDevices := f.ActivationRequest()
	noDevices.Products[1].Devices = []string{}
	b.binary("activation-request-product-without-devices", kr, mac(noDevices), "invalid", "a product listed with an empty device list")
	ps := pairsOf(wire.MustMarshal(f.ActivationRequest()))
	b.binary("activation-request-devices-null", kr, b.macCode(kr, mapOf(replace(ps, 5, []byte{0x81, 0xa2, 0x01, 0x61, 'P', 0x02, 0xf6}))), "malformed",
		"a product's device list is CBOR null instead of an array")
	b.binary("activation-request-empty-product-list-present", kr, b.macCode(kr, mapOf(replace(ps, 5, []byte{0x80}))), "malformed",
		"the optional product list is present as an empty array")
	b.binary("activation-request-device-as-bytes", kr, b.macCode(kr, mapOf(replace(ps, 5, []byte{0x81, 0xa2, 0x01, 0x61, 'P', 0x02, 0x81, 0x41, 'D'}))), "malformed",
		"a device key is a byte string instead of a text string")
	lowOrder := f.ActivationRequest()
	lowOrder.InstanceKey = make([]byte, 32)
	b.binary("activation-request-low-order-gateway-key", kr, mac(lowOrder), "weak-key",
		"the gateway's public key is all zeros, a point of low order: its shared secret is all zeros")
	other := f.ActivationRequest()
	other.InstanceKey = f.Other.Public()
	b.binary("activation-request-key-not-matching-mac", kr, mac(other), "bad-signature",
		"names other_instance's public key but is MACed with instance's pairwise key: no proof of possession")
	asRequest := f.ActivationRequest()
	asRequest.Products = nil
	b.binary("activation-request-is-a-request-under-its-label", kr, b.macCode(codes.KindRequest, wire.MustMarshal(asRequest)), "bad-signature",
		"a request code without wanted licenses, whose payload is also a valid activation request listing no device, given as an activation request: the label differs, so the MAC fails")
	b.add(testvectors.Case{Name: "activation-request-armored-is-a-request", Description: "an armored request code given where an activation request is expected",
		Kind: kr.String(), Form: "armored", Input: string(codes.EncodeArmor(codes.KindRequest, f.Codes()[codes.KindRequest])), Expect: "wrong-kind"})

	// Activations.
	none := f.Activation()
	none.Products = nil
	b.add(testvectors.Case{Name: "activation-no-devices", Description: "an activation for a gateway that holds no device",
		Kind: ka.String(), Form: "binary", Input: hexOf(sign(none)), Check: check, Expect: "ok", Payload: hexOf(wire.MustMarshal(none))})
	both := f.Activation()
	both.Products[0].Refused = []codes.DeviceRefusal{{DeviceKey: "DK-0001", Reason: codes.RefusedNoCodes}}
	signedCase("activation-device-active-and-refused", sign(both), nil, "invalid", "device DK-0001 is both active and refused")
	unknown := f.Activation()
	unknown.Products[1].Refused[0].Reason = 6
	signedCase("activation-unknown-refusal", sign(unknown), nil, "invalid", "a device refused for reason 6, which no version defines")
	zero := f.Activation()
	zero.Products[1].Refused[0].Reason = 0
	signedCase("activation-refusal-zero", sign(zero), nil, "invalid", "a device refused for reason 0, which no version defines")
	backwards := f.Activation()
	w := &backwards.Products[0].Active[1]
	w.From, w.Until = w.Until, w.From
	signedCase("activation-window-ends-before-start", sign(backwards), nil, "invalid", "a device's validity ends before it starts")
	instant := f.Activation()
	instant.Products[0].Active[1].Until = instant.Products[0].Active[1].From
	signedCase("activation-window-empty", sign(instant), nil, "invalid", "a device's validity ends the second it starts")
	noStart := f.Activation()
	noStart.Products[0].Active[1].From = 0
	signedCase("activation-window-start-zero", sign(noStart), nil, "malformed", "a device's validity starts at 0, not a Unix time after 1970")
	empties := f.Activation()
	empties.Products[1].Refused = nil
	signedCase("activation-product-without-devices", sign(empties), nil, "invalid", "a product listed with neither active nor refused devices")
	unsorted := f.Activation()
	unsorted.Products[0].Active[0], unsorted.Products[0].Active[1] = unsorted.Products[0].Active[1], unsorted.Products[0].Active[0]
	signedCase("activation-devices-unsorted", sign(unsorted), nil, "invalid", "active device DK-0001 is listed before DK-0000")
	aps := pairsOf(wire.MustMarshal(f.Activation()))
	asMap := []byte{0x81, 0xa2, 0x01, 0x61, 'P', 0x02, 0x81, 0xa3, 0x00, 0x61, 'D', 0x01, 0x01, 0x02, 0x02}
	signedCase("activation-window-as-map", b.signActivation(mapOf(replace(aps, 5, asMap))), nil, "malformed",
		"a device window is a map instead of a three-element array")
	fourElements := []byte{0x81, 0xa2, 0x01, 0x61, 'P', 0x02, 0x81, 0x84, 0x61, 'D', 0x01, 0x02, 0x00}
	signedCase("activation-window-four-elements", b.signActivation(mapOf(replace(aps, 5, fourElements))), nil, "malformed",
		"a device window has four elements")
	short := f.Activation()
	short.InstanceKey = short.InstanceKey[:15]
	signedCase("activation-short-gateway-key-hash", sign(short), nil, "malformed", "the gateway key hash has 15 bytes instead of 16")
	signedCase("activation-wrong-label", must(cose.SignSign1(wire.MustMarshal(f.Activation()), codes.KindAuthorization.Label(), kid[:], signer("authority"))), nil,
		"bad-signature", "an activation payload signed with the authorization label as external AAD")
	rogueID := f.Rogue.ID()
	signedCase("activation-untrusted-key", must(cose.SignSign1(wire.MustMarshal(f.Activation()), ka.Label(), rogueID[:], signer("rogue"))), nil,
		"unknown-key", "signed by rogue_authority, which is in no trust set")
	late := f.Activation()
	late.IssuedAt = unix("2022-01-01T00:00:00Z")
	windowedID := f.Windowed.ID()
	signedCase("activation-outside-key-window", must(cose.SignSign1(wire.MustMarshal(late), ka.Label(), windowedID[:], signer("windowed"))), nil,
		"key-window", "signed by windowed_authority with an issue time after that key's not_after")
	code := f.Codes()[ka]
	signedCase("activation-wrong-udi", code, &testvectors.Check{Now: checkAt, Instance: "instance", UDI: "P:UCM,S:aa001,U:d9a2c661-8fe1-4ce7-9e6f-bbc68a3aa001"},
		"wrong-instance", "checked by a gateway with another UDI")
	signedCase("activation-wrong-instance-key", code, &testvectors.Check{Now: checkAt, Instance: "other_instance", UDI: f.UDI.String()},
		"wrong-instance", "checked by a gateway with the same UDI and another key (a rebuilt state)")
	b.add(testvectors.Case{Name: "activation-armored-is-an-authorization", Description: "an armored authorization code given where an activation is expected",
		Kind: ka.String(), Form: "armored", Input: string(codes.EncodeArmor(codes.KindAuthorization, f.Codes()[codes.KindAuthorization])), Expect: "wrong-kind"})
}

// signActivation signs an activation payload given as bytes with the
// authority key.
func (b *builder) signActivation(payload []byte) []byte {
	kid := b.f.Authority.ID()
	return must(cose.SignSign1(payload, codes.KindActivation.Label(), kid[:], signer("authority")))
}
