package codes_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/formats/seal"
	"github.com/airlock-dev/airlock/formats/wire"
)

// A rule case breaks one rule of a valid code and names the error it must
// get, and a piece of its message.
type requestRule struct {
	name   string
	break_ func(r *codes.ActivationRequest)
	want   error
	msg    string
}

func TestActivationRequestRules(t *testing.T) {
	f := fixture(t)
	rules := []requestRule{
		{"products unsorted", func(r *codes.ActivationRequest) { r.Products[0], r.Products[1] = r.Products[1], r.Products[0] },
			codes.ErrInvalid, `lists product "PK-CAM-01" after "PK-NVR-02": product keys must be sorted and unique`},
		{"product twice", func(r *codes.ActivationRequest) { r.Products[1].ProductKey = r.Products[0].ProductKey },
			codes.ErrInvalid, `lists product "PK-CAM-01" after "PK-CAM-01"`},
		{"devices unsorted", func(r *codes.ActivationRequest) { r.Products[0].Devices = []string{"DK-0002", "DK-0001"} },
			codes.ErrInvalid, `product "PK-CAM-01" lists device "DK-0001" after "DK-0002": device keys must be sorted and unique`},
		{"device twice", func(r *codes.ActivationRequest) { r.Products[0].Devices = []string{"DK-0001", "DK-0001"} },
			codes.ErrInvalid, `lists device "DK-0001" after "DK-0001"`},
		{"empty product key", func(r *codes.ActivationRequest) { r.Products[0].ProductKey = "" },
			codes.ErrInvalid, "product key is empty"},
		{"empty device key", func(r *codes.ActivationRequest) { r.Products[0].Devices[0] = "" },
			codes.ErrInvalid, "device key is empty"},
		{"space in a device key", func(r *codes.ActivationRequest) { r.Products[0].Devices[1] = "DK 0002" },
			codes.ErrInvalid, `device key "DK 0002" has ' ' at position 3`},
		{"slash in a product key", func(r *codes.ActivationRequest) { r.Products[1].ProductKey = "PK/NVR" },
			codes.ErrInvalid, `product key "PK/NVR" has '/' at position 3`},
		{"non-ASCII device key", func(r *codes.ActivationRequest) { r.Products[1].Devices[0] = "DK-é" },
			codes.ErrInvalid, "use letters, digits and . _ : - only"},
		{"control character", func(r *codes.ActivationRequest) { r.Products[1].Devices[0] = "DK-\x1b[0m" },
			codes.ErrInvalid, `'\x1b' at position 4`},
		{"device key of 65 characters", func(r *codes.ActivationRequest) { r.Products[1].Devices[0] = strings.Repeat("D", 65) },
			codes.ErrInvalid, "has 65 characters, the limit is 64"},
		{"product key of 65 characters", func(r *codes.ActivationRequest) { r.Products[1].ProductKey = "PK-" + strings.Repeat("Z", 62) },
			codes.ErrInvalid, "product key"},
		{"product without devices", func(r *codes.ActivationRequest) { r.Products[1].Devices = []string{} },
			codes.ErrInvalid, `lists product "PK-NVR-02" with no device`},
		{"too many devices", func(r *codes.ActivationRequest) {
			r.Products = []codes.DeviceGroup{{ProductKey: "A", Devices: fleetKeys(0, codes.MaxActivationDevices/2)},
				{ProductKey: "B", Devices: fleetKeys(0, codes.MaxActivationDevices/2+1)}}
		}, codes.ErrInvalid, "lists more than 250000 devices: split it"},
		{"short nonce", func(r *codes.ActivationRequest) { r.Nonce = r.Nonce[:7] }, codes.ErrMalformed, "nonce has 7 bytes, want 8"},
		{"no time", func(r *codes.ActivationRequest) { r.IssuedAt = 0 }, codes.ErrMalformed, "activation request time is 0"},
		{"low-order gateway key", func(r *codes.ActivationRequest) { r.InstanceKey = make([]byte, 32) }, codes.ErrWeakKey, "low order"},
		{"bad UDI", func(r *codes.ActivationRequest) { r.UDI.UUID = r.UDI.UUID[:15] }, codes.ErrMalformed, "UUID"},
	}
	for _, rule := range rules {
		t.Run(rule.name, func(t *testing.T) {
			r := f.ActivationRequest()
			rule.break_(r)
			check := func(how string, err error) {
				t.Helper()
				if !errors.Is(err, rule.want) || !strings.Contains(err.Error(), rule.msg) {
					t.Fatalf("%s = %v; want %v with %q", how, err, rule.want, rule.msg)
				}
				for _, s := range sentinels {
					if s != rule.want && errors.Is(err, s) {
						t.Fatalf("%s = %v, which matches %v as well", how, err, s)
					}
				}
			}
			if rule.want != codes.ErrWeakKey {
				// Sealing checks the rules; sealing with a key sets the
				// key, so the weak-key rule is only met on opening.
				_, err := codes.SealActivationRequest(r, f.Instance, &f.Authority.Public)
				check("SealActivationRequest", err)
			}
			code := f.MACRaw(codes.KindActivationRequest, wire.MustMarshal(r))
			_, err := codes.OpenActivationRequest(code, f.Authority)
			check("OpenActivationRequest", err)
			_, err = codes.ParseUnverifiedActivationRequest(code)
			check("ParseUnverifiedActivationRequest", err)
		})
	}
}

// fleetKeys returns n sorted device keys from start.
func fleetKeys(start, n int) []string {
	ks := make([]string, n)
	for i := range ks {
		ks[i] = fmt.Sprintf("d%07d", start+i)
	}
	return ks
}

type activationRule struct {
	name   string
	break_ func(a *codes.Activation)
	want   error
	msg    string
}

func TestActivationRules(t *testing.T) {
	f := fixture(t)
	window := func(dk string) codes.DeviceWindow {
		return codes.DeviceWindow{DeviceKey: dk, From: 1_600_000_000, Until: 1_700_000_000}
	}
	rules := []activationRule{
		{"products unsorted", func(a *codes.Activation) { a.Products[0], a.Products[1] = a.Products[1], a.Products[0] },
			codes.ErrInvalid, `activation lists product "PK-CAM-01" after "PK-NVR-02": product keys must be sorted and unique`},
		{"product twice", func(a *codes.Activation) { a.Products[1].ProductKey = a.Products[0].ProductKey },
			codes.ErrInvalid, "product keys must be sorted and unique"},
		{"active devices unsorted", func(a *codes.Activation) {
			a.Products[0].Active[0], a.Products[0].Active[2] = a.Products[0].Active[2], a.Products[0].Active[0]
		},
			codes.ErrInvalid, `lists device "DK-0001" after "DK-0002"`},
		{"active device twice", func(a *codes.Activation) { a.Products[0].Active[1].DeviceKey = "DK-0000" },
			codes.ErrInvalid, `lists device "DK-0000" after "DK-0000"`},
		{"refused devices unsorted", func(a *codes.Activation) {
			a.Products[1].Refused = []codes.DeviceRefusal{{DeviceKey: "DK-2", Reason: 1}, {DeviceKey: "DK-1", Reason: 1}}
		}, codes.ErrInvalid, `lists device "DK-1" after "DK-2"`},
		{"refused device twice", func(a *codes.Activation) {
			a.Products[1].Refused = []codes.DeviceRefusal{{DeviceKey: "DK-1", Reason: 1}, {DeviceKey: "DK-1", Reason: 2}}
		}, codes.ErrInvalid, "device keys must be sorted and unique"},
		{"bad character in a device key", func(a *codes.Activation) { a.Products[0].Active[2].DeviceKey = "DK-0002\n" },
			codes.ErrInvalid, `'\n' at position 8`},
		{"bad character in a refused device key", func(a *codes.Activation) { a.Products[1].Refused[0].DeviceKey = "DK=1" },
			codes.ErrInvalid, `'=' at position 3`},
		{"bad character in a product key", func(a *codes.Activation) { a.Products[1].ProductKey = "PK NVR" },
			codes.ErrInvalid, `product key "PK NVR"`},
		{"product without devices", func(a *codes.Activation) { a.Products[1].Refused = nil },
			codes.ErrInvalid, `activation lists product "PK-NVR-02" with no device`},
		{"active and refused", func(a *codes.Activation) {
			a.Products[1].Active = []codes.DeviceWindow{window("DK-0100")}
		}, codes.ErrInvalid, `lists device "DK-0100" of product "PK-NVR-02" as both active and refused`},
		{"active and refused, later in the lists", func(a *codes.Activation) {
			a.Products[0].Refused = []codes.DeviceRefusal{{DeviceKey: "DK-00015", Reason: 1}, {DeviceKey: "DK-0002", Reason: 1}}
		}, codes.ErrInvalid, `"DK-0002" of product "PK-CAM-01" as both active and refused`},
		{"unknown refusal", func(a *codes.Activation) { a.Products[1].Refused[0].Reason = 6 },
			codes.ErrInvalid, `device "DK-0100" of product "PK-NVR-02" is refused for unknown reason 6`},
		{"refusal zero", func(a *codes.Activation) { a.Products[1].Refused[0].Reason = 0 },
			codes.ErrInvalid, "unknown reason 0"},
		{"window ends before it starts", func(a *codes.Activation) { w := &a.Products[0].Active[1]; w.From, w.Until = w.Until, w.From },
			codes.ErrInvalid, `device "DK-0001" of product "PK-CAM-01": validity ends 2020-03-04T10:00:00Z, not after it starts 2021-03-04T10:00:00Z`},
		{"window of no time", func(a *codes.Activation) { a.Products[0].Active[1].Until = a.Products[0].Active[1].From },
			codes.ErrInvalid, "not after it starts"},
		{"window from 0", func(a *codes.Activation) { a.Products[0].Active[1].From = 0 },
			codes.ErrMalformed, "device activation start is 0"},
		{"window from before 1970", func(a *codes.Activation) { a.Products[0].Active[1].From = -5 },
			codes.ErrMalformed, "device activation start is -5"},
		{"too many devices", func(a *codes.Activation) {
			a.Products = nil
			for i, pk := range []string{"A", "B", "C"} {
				g := codes.DeviceValidity{ProductKey: pk}
				for _, dk := range fleetKeys(i, codes.MaxActivationDevices/3+1) {
					if len(g.Active) < 1000 {
						g.Active = append(g.Active, window(dk))
					} else {
						g.Refused = append(g.Refused, codes.DeviceRefusal{DeviceKey: dk, Reason: codes.RefusedNoPool})
					}
				}
				a.Products = append(a.Products, g)
			}
		}, codes.ErrInvalid, "activation lists more than 250000 devices"},
		{"short key hash", func(a *codes.Activation) { a.InstanceKey = a.InstanceKey[:15] }, codes.ErrMalformed, "gateway key hash has 15 bytes, want 16"},
		{"no nonce", func(a *codes.Activation) { a.Nonce = nil }, codes.ErrMalformed, "activation request nonce has 0 bytes"},
		{"no time", func(a *codes.Activation) { a.IssuedAt = 0 }, codes.ErrMalformed, "activation time is 0"},
	}
	for _, rule := range rules {
		t.Run(rule.name, func(t *testing.T) {
			a := f.Activation()
			rule.break_(a)
			check := func(how string, err error) {
				t.Helper()
				if !errors.Is(err, rule.want) || !strings.Contains(err.Error(), rule.msg) {
					t.Fatalf("%s = %v; want %v with %q", how, err, rule.want, rule.msg)
				}
			}
			_, err := codes.SignActivation(a, f.Authority)
			check("SignActivation", err)
			code := f.SignRaw(codes.KindActivation, wire.MustMarshal(a))
			_, err = codes.OpenActivation(code, f.Trust)
			check("OpenActivation", err)
			_, err = codes.ParseUnverifiedActivation(code)
			check("ParseUnverifiedActivation", err)
		})
	}
}

func TestActivationCheck(t *testing.T) {
	f := fixture(t)
	code, err := codes.SignActivation(f.Activation(), f.Authority)
	if err != nil {
		t.Fatal(err)
	}
	a, err := codes.OpenActivation(code, f.Trust)
	if err != nil {
		t.Fatal(err)
	}
	if a.KeyID != f.Authority.ID() {
		t.Fatalf("KeyID = %s, want %s", a.KeyID, f.Authority.ID())
	}
	if err := a.Check(f.UDI, f.Instance.Public()); err != nil {
		t.Fatalf("Check by the gateway it is for: %v", err)
	}
	other, err := codes.ParseUDI("P:UCM,S:aa001,U:d9a2c661-8fe1-4ce7-9e6f-bbc68a3aa001")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Check(other, f.Instance.Public()); !errors.Is(err, codes.ErrWrongInstance) || !strings.Contains(err.Error(), "is for gateway P:UCM,S:edb16 but this instance is P:UCM,S:aa001") {
		t.Fatalf("Check with another UDI = %v", err)
	}
	if err := a.Check(f.UDI, f.Other.Public()); !errors.Is(err, codes.ErrWrongInstance) || !strings.Contains(err.Error(), "make a new activation request") {
		t.Fatalf("Check with another key = %v", err)
	}
	// The windows tell active, expired and not yet started apart.
	w := a.Products[0].Active
	at := time.Unix(a.IssuedAt, 0)
	if w[0].ActiveAt(at) || !w[1].ActiveAt(at) || w[1].ActiveAt(at.Add(-time.Second)) || w[1].ActiveAt(time.Unix(w[1].Until, 0)) || !w[1].ActiveAt(time.Unix(w[1].Until-1, 0)) {
		t.Fatal("ActiveAt does not treat windows as [From, Until)")
	}
	if got := a.Count(); got != 4 {
		t.Fatalf("Count = %d, want 4", got)
	}
	if s := codes.RefusedNoPool.String(); s != "no activation code was ever allocated to the product" {
		t.Fatalf("RefusedNoPool.String() = %q", s)
	}
	if s := codes.Refusal(9).String(); s != "refusal(9)" {
		t.Fatalf("Refusal(9).String() = %q", s)
	}
}

// TestActivationRequestSealedByItsKeyOnly: a request naming another
// gateway key than the one sealing it is refused.
func TestActivationRequestSealedByItsKeyOnly(t *testing.T) {
	f := fixture(t)
	r := f.ActivationRequest()
	r.InstanceKey = f.Other.Public()
	if _, err := codes.SealActivationRequest(r, f.Instance, &f.Authority.Public); !errors.Is(err, codes.ErrInvalid) {
		t.Fatalf("SealActivationRequest with another key = %v", err)
	}
	r.InstanceKey = nil
	code, err := codes.SealActivationRequest(r, f.Instance, &f.Authority.Public)
	if err != nil {
		t.Fatal(err)
	}
	got, err := codes.OpenActivationRequest(code, f.Authority)
	if err != nil || !bytes.Equal(got.InstanceKey, f.Instance.Public()) || got.Count() != 3 {
		t.Fatalf("OpenActivationRequest = %+v, %v", got, err)
	}
	// Another authority cannot open it: the MAC key differs.
	if _, err := codes.OpenActivationRequest(code, f.Rogue); !errors.Is(err, codes.ErrBadSignature) {
		t.Fatalf("OpenActivationRequest with another authority key = %v", err)
	}
}

// TestFleetRoundTrip: a 100,000-device activation request and its
// activation are sealed or signed, armored, age-encrypted, read back with
// Decode in every form that fits, and opened, whole.
func TestFleetRoundTrip(t *testing.T) {
	const n = 100_000
	f := fixture(t)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	req := f.FleetRequest(n)
	reqCode, err := codes.SealActivationRequest(req, f.Instance, &f.Authority.Public)
	if err != nil {
		t.Fatal(err)
	}
	act := f.FleetActivation(n)
	actCode, err := codes.SignActivation(act, f.Authority)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		kind codes.Kind
		code []byte
		open func([]byte) (any, int, error)
	}{
		{codes.KindActivationRequest, reqCode, func(b []byte) (any, int, error) {
			r, err := codes.OpenActivationRequest(b, f.Authority)
			if err != nil {
				return nil, 0, err
			}
			return r, r.Count(), nil
		}},
		{codes.KindActivation, actCode, func(b []byte) (any, int, error) {
			a, err := codes.OpenActivation(b, f.Trust)
			if err != nil {
				return nil, 0, err
			}
			return a, a.Count(), a.Check(f.UDI, f.Instance.Public())
		}},
	} {
		if len(c.code) <= codes.MaxCodeSize*64 {
			t.Fatalf("%s of %d devices is only %d bytes", c.kind, n, len(c.code))
		}
		armored := codes.EncodeArmor(c.kind, c.code)
		sealed, err := seal.Encrypt(armored, id.Recipient())
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s of %d devices: %d bytes, %.1f bytes per device; armored %d, age-encrypted %d",
			c.kind, n, len(c.code), float64(len(c.code))/n, len(armored), len(sealed))
		for form, in := range map[string][]byte{"binary": c.code, "armored": armored, "age": sealed} {
			d, err := codes.Decode(in, id)
			if err != nil {
				t.Fatalf("%s %s: Decode: %v", c.kind, form, err)
			}
			if !bytes.Equal(d.Code, c.code) || (form != "binary" && d.Kind != c.kind) || d.Encrypted != (form == "age") {
				t.Fatalf("%s %s: Decode returned a %s %s code of %d bytes", c.kind, form, d.Kind, d.Form, len(d.Code))
			}
			v, count, err := c.open(d.Code)
			if err != nil || count != n {
				t.Fatalf("%s %s: opened %d devices: %v", c.kind, form, count, err)
			}
			if got, err := codes.ParseUnverified(c.kind, d.Code); err != nil || !reflect.DeepEqual(got, v) {
				t.Fatalf("%s %s: ParseUnverified differs from Open: %v", c.kind, form, err)
			}
		}
		if got, err := codes.GuessKinds(c.code); err != nil || !slices.Equal(got, []codes.Kind{c.kind}) {
			t.Fatalf("GuessKinds(%s) = %v, %v", c.kind, got, err)
		}
		// The typed form of a fleet is far over what anyone types.
		if _, err := codes.Decode([]byte(codes.EncodeText(c.kind, c.code))); !errors.Is(err, codes.ErrMalformed) || !strings.Contains(err.Error(), "the limit is 8192") {
			t.Fatalf("%s typed: Decode = %v, want ErrMalformed", c.kind, err)
		}
	}
	got, err := codes.OpenActivation(actCode, f.Trust)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(got.Products, act.Products, func(a, b codes.DeviceValidity) bool {
		return a.ProductKey == b.ProductKey && slices.Equal(a.Active, b.Active) && slices.Equal(a.Refused, b.Refused)
	}) {
		t.Fatal("the activation opened is not the one signed")
	}
}

// allocated returns the bytes allocated while f runs.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestEveryLayerKeepsTheSmallLimitForOtherKinds: the bulk limits are for
// the two fleet kinds only; a code of any other kind over its old limit is
// refused in every form and by every Open….
func TestEveryLayerKeepsTheSmallLimitForOtherKinds(t *testing.T) {
	f := fixture(t)
	// A canonical authorization payload of about 20 KiB, signed as it is.
	big := f.CiscoAuthorization()
	for i := range 120 {
		big.Entitlements = append(big.Entitlements, codes.Entitlement{Tag: fmt.Sprintf("vms.option.%03d.%s", i, strings.Repeat("x", 150)), Count: 1})
	}
	if _, err := codes.SignAuthorization(big, f.Authority); !errors.Is(err, codes.ErrInvalid) || !strings.Contains(err.Error(), "the limit is 8192") {
		t.Fatalf("SignAuthorization of a large authorization = %v, want ErrInvalid", err)
	}
	auth := f.SignRaw(codes.KindAuthorization, wire.MustMarshal(big))
	if len(auth) <= wire.MaxSize {
		t.Fatalf("test authorization is only %d bytes", len(auth))
	}
	if _, err := codes.OpenAuthorization(auth, f.Trust); !errors.Is(err, codes.ErrMalformed) || !strings.Contains(err.Error(), "the limit is 8192") {
		t.Fatalf("OpenAuthorization = %v", err)
	}
	if _, err := codes.ParseUnverified(codes.KindAuthorization, auth); !errors.Is(err, codes.ErrMalformed) {
		t.Fatalf("ParseUnverified = %v", err)
	}
	// Binary input names no kind, so Decode takes it up to the bulk limit
	// and the kind's Open… refuses it.
	code, err := codes.DecodeKind(auth, codes.KindAuthorization)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := codes.OpenAuthorization(code, f.Trust); !errors.Is(err, codes.ErrMalformed) {
		t.Fatalf("OpenAuthorization after Decode = %v", err)
	}
	// Armored: refused by its BEGIN line's limit, 64 KiB, before decoding
	// the body, however large the body.
	huge := bytes.Repeat(auth, 4)
	armored := armorBy("AUTHORIZATION", huge)
	if _, err := codes.Decode(armored); !errors.Is(err, codes.ErrMalformed) || !strings.Contains(err.Error(), "the limit is 65536") {
		t.Fatalf("Decode of a %d-byte armored authorization = %v", len(armored), err)
	}
	// Within 64 KiB, the armor is read and the code refused at 8 KiB.
	if _, err := codes.Decode(codes.EncodeArmor(codes.KindAuthorization, auth[:codes.MaxCodeSize+1])); !errors.Is(err, codes.ErrMalformed) || !strings.Contains(err.Error(), "the limit is 8192") {
		t.Fatalf("Decode of an armored code over 8 KiB = %v", err)
	}
	// Instance-made kinds too.
	r := f.Request()
	for i := range 300 {
		r.Wanted = append(r.Wanted, codes.License{Tag: fmt.Sprintf("t%03d.%s", i, strings.Repeat("y", 40)), Count: 1})
	}
	req := f.MACRaw(codes.KindRequest, wire.MustMarshal(r))
	if _, err := codes.OpenRequest(req, f.Authority); !errors.Is(err, codes.ErrMalformed) || !strings.Contains(err.Error(), "the limit is 8192") {
		t.Fatalf("OpenRequest of %d bytes = %v", len(req), err)
	}
	// An armored authorization never gets the bulk limit by its BEGIN
	// line, and a file that claims a fleet kind still holds a code of that
	// kind only.
	asActivation := codes.EncodeArmor(codes.KindActivation, auth)
	if _, err := codes.DecodeKind(asActivation, codes.KindAuthorization); !errors.Is(err, codes.ErrWrongKind) {
		t.Fatalf("an authorization armored as an activation, read as an authorization: %v", err)
	}
	if code, err := codes.DecodeKind(asActivation, codes.KindActivation); err != nil {
		t.Fatal(err)
	} else if _, err := codes.OpenActivation(code, f.Trust); !errors.Is(err, codes.ErrMalformed) && !errors.Is(err, codes.ErrBadSignature) {
		t.Fatalf("an authorization armored as an activation, opened: %v", err)
	}
	// The fleet kinds have their own ceilings: binary over 16 MiB, and an
	// armored file over 22 MiB.
	if _, err := codes.Decode(make([]byte, codes.MaxBulkCodeSize+1)); !errors.Is(err, codes.ErrMalformed) || !strings.Contains(err.Error(), "the limit is 16777216") {
		t.Fatalf("Decode of binary input over 16 MiB = %v", err)
	}
	armoredFleet := armorBy("ACTIVATION", make([]byte, codes.MaxBulkCodeSize+1<<20))
	if _, err := codes.Decode(armoredFleet); !errors.Is(err, codes.ErrMalformed) || !strings.Contains(err.Error(), "armored file too large") {
		t.Fatalf("Decode of a %d-byte armored activation = %v", len(armoredFleet), err)
	}
	over := armorBy("ACTIVATION", make([]byte, codes.MaxBulkCodeSize+1))
	if _, err := codes.Decode(over); !errors.Is(err, codes.ErrMalformed) || !strings.Contains(err.Error(), "activation code of 16777217 bytes, the limit is 16777216") {
		t.Fatalf("Decode of an armored activation over 16 MiB = %v", err)
	}
}

// armorBy armors data as the armor package does, whatever its size.
func armorBy(kind string, data []byte) []byte {
	var b bytes.Buffer
	b.WriteString("-----BEGIN AIRLOCK " + kind + "-----\n")
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 0 {
		n := min(64, len(enc))
		b.WriteString(enc[:n] + "\n")
		enc = enc[n:]
	}
	b.WriteString("-----END AIRLOCK " + kind + "-----\n")
	return b.Bytes()
}

func TestKindLimits(t *testing.T) {
	for _, k := range codes.Kinds {
		want := codes.MaxCodeSize
		switch k {
		case codes.KindActivationRequest, codes.KindActivation, codes.KindManifest, codes.KindSyncRequest, codes.KindSyncAnswer:
			want = codes.MaxBulkCodeSize
		}
		if got := k.MaxSize(); got != want {
			t.Errorf("%s.MaxSize() = %d, want %d", k, got, want)
		}
	}
	if codes.MaxBulkCodeSize > wire.MaxBulkSize {
		t.Error("a bulk code may be larger than the bulk decoder takes")
	}
	if codes.MaxActivationDevices > wire.MaxBulkArrayElements {
		t.Error("one product's devices may be more than one array holds")
	}
}

func TestTypedLenCountsTheTypedForm(t *testing.T) {
	for n := range 400 {
		code := bytes.Repeat([]byte{0xa5}, n)
		want := len(strings.ReplaceAll(codes.EncodeText(codes.KindReturn, code), "-", ""))
		if got := codes.TypedLen(codes.KindReturn, code); got != want {
			t.Fatalf("TypedLen of %d bytes = %d, want %d", n, got, want)
		}
	}
}

// TestUnknownPrefixListsEveryKind: the message of an unknown typed prefix
// lists the prefixes of every kind.
func TestUnknownPrefixListsEveryKind(t *testing.T) {
	_, err := codes.Decode([]byte("ZZ-0000"))
	if !errors.Is(err, codes.ErrMalformed) || !strings.Contains(err.Error(), "(RQ, AU, CF, RT, SD, UR, TU, AR, AF, DM, XR, SQ, SA)") {
		t.Fatalf("Decode(ZZ-…) = %v", err)
	}
}

// TestGuessKindsOfARequestWithoutLicenses: a request that wants no license
// has the payload of an activation request that lists no device; binary
// input of it fits both kinds, and only the label under the MAC tells them
// apart.
func TestGuessKindsOfARequestWithoutLicenses(t *testing.T) {
	f := fixture(t)
	got, err := codes.GuessKinds(f.Codes()[codes.KindRequest])
	if err != nil || !slices.Equal(got, []codes.Kind{codes.KindRequest, codes.KindActivationRequest}) {
		t.Fatalf("GuessKinds(request) = %v, %v", got, err)
	}
	if _, err := codes.OpenActivationRequest(f.Codes()[codes.KindRequest], f.Authority); !errors.Is(err, codes.ErrBadSignature) {
		t.Fatalf("a request opened as an activation request: %v", err)
	}
}

// TestHostileFleetPayloadsCostLittle: an activation request is decoded
// before its MAC is checked, so a hostile one must not make the authority
// allocate more than a small multiple of its size.
func TestHostileFleetPayloadsCostLittle(t *testing.T) {
	f := fixture(t)
	valid := wire.MustMarshal(f.ActivationRequest())
	ps := valid[:len(valid)-len(wire.MustMarshal(f.ActivationRequest().Products))-1] // every key but 5
	const n = 200_000
	products := func(elem []byte) []byte {
		b := binary.BigEndian.AppendUint32(append(bytes.Clone(ps), 0x05, 0x9a), n)
		return append(b, bytes.Repeat(elem, n)...)
	}
	devices := func(elem []byte) []byte {
		b := binary.BigEndian.AppendUint32(append(bytes.Clone(ps), 0x05, 0x81, 0xa2, 0x01, 0x61, 'P', 0x02, 0x9a), n)
		return append(b, bytes.Repeat(elem, n)...)
	}
	for name, payload := range map[string][]byte{
		"empty groups":            products([]byte{0xa0}),
		"groups of zeros":         products([]byte{0x00}),
		"groups with unknown key": products([]byte{0xa1, 0x09, 0x00}),
		"devices of zeros":        devices([]byte{0x00}),
		"devices of empty keys":   devices([]byte{0x60}),
		"devices of bad UTF-8":    devices([]byte{0x61, 0xff}),
	} {
		payload[0] = valid[0] // the map head: the same number of keys
		code := f.MACRaw(codes.KindActivationRequest, payload)
		var err error
		got := allocated(func() { _, err = codes.OpenActivationRequest(code, f.Authority) })
		if !errors.Is(err, codes.ErrMalformed) && !errors.Is(err, codes.ErrInvalid) {
			t.Fatalf("%s: OpenActivationRequest = %v", name, err)
		}
		if limit := 4*uint64(len(code)) + 1<<20; got > limit {
			t.Errorf("%s: a %d-byte code allocated %d bytes", name, len(code), got)
		}
		t.Logf("%s: %d bytes allocated for a %d-byte code: %v", name, got, len(code), err)
	}
}
