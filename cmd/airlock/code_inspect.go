package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/airlock-dev/airlock/codes"
	"github.com/airlock-dev/airlock/formats/seal"
)

// Flags of airlock code inspect.
const (
	flagJSON     = "json"
	flagTrust    = "trust"
	flagIdentity = "identity"
)

const inspectDescription = `inspect shows every field of a code, of any kind and in any form, and
says whether it verifies.

The argument is one of:

- "-": the code is read from standard input;
- the path of an existing file: an armored file, raw binary, a typed code
  in a text file, or an age-encrypted file holding one of those;
- a path that does not exist, if it has a slash, a backslash or a dot (a
  typed code has none of these): an error;
- anything else: the typed code itself. Quote it if it has spaces; case,
  dashes, spaces and line breaks do not matter, and O is read as 0, I and
  L as 1. A typo is reported with the group to type again.

To read a typed code that happens to be the name of a file, pipe it to
"airlock code inspect -". Files and standard input are read up to 32 MiB;
devices, pipes other than standard input, and folders are refused.

An age-encrypted file needs --identity: an age identity file
(AGE-SECRET-KEY-1…) or an unencrypted ssh-ed25519 private key.

Verification: codes the authority makes (authorization, trust update,
activation, download manifest, and a satellite's sync request and the
vendor's sync answer) are signed. With --trust FILE, a trust file, inspect verifies
the signature and prints VERIFIED (authority key ID), or FAILED and the
reason, and then exits with status 1. Without --trust they are shown as
UNVERIFIED. Codes the instance makes (request, confirmation, return,
system description, usage report, activation request) are MACed with a
key only the instance and the authority share; inspect shows them as
UNVERIFIED (MACed by the instance; only the authority can verify it). A
verified code is whole and signed by a trusted key; whether it fits a
given instance, and is still in time, is checked when it is installed.

Fleets: an activation request (made by a gateway instance) and an
activation file (the authority's answer) may list many thousands of
devices. inspect summarizes them per product key: for a request, how many
devices and the first few device keys; for an activation, how many
devices are active, not yet valid or expired at the time inspect runs,
and how many were refused, by reason.

Download manifests: the release files an organization is entitled to,
each with its release, version, size and SHA-256, are listed one a line.
To check the files themselves, use 'airlock instance manifest verify'.

Example:

    $ airlock code inspect --trust trust.airlock authorization.airlock
    kind             authorization
    form             armored
    size             224 bytes, 451 characters typed
    verification     VERIFIED (authority key 115f3d60785cabde)
    key id           115f3d60785cabde
    reservation      0a1b2c3d
    serial           1
    udi              P:UCM,S:edb16,U:d9a2c661-8fe1-4ce7-9e6f-bbc68a3edb16
    instance key     073ae3a2f6039d3ba0a0621894bae7cc (hash)
    nonce            0102030405060708
    flags            none
    issued at        2025-01-15T09:30:00Z
    install by       2025-02-14T09:30:00Z
    entitlements     2
      vms.camera.core count=25 kind=perpetual
      vms.analytics count=4 kind=term start=2025-01-01T00:00:00Z end=2026-01-01T00:00:00Z export-controlled

    $ airlock code inspect RT-GH0A0JD2V-0520M6SC5-7M122J28T-9MEGD7QFM-DW8G7
    airlock: error: the typed code: typed code has a typo in group 3 ("7M122J28T"): check that group and type it again
    airlock: hint: the argument is not an existing file, so it was read as a typed code
    airlock: hint: check the group named above and type it again

With --json, inspect prints one JSON object with these members:

- kind: "request", "authorization", "confirmation", "return",
  "system-description", "usage-report", "trust-update",
  "activation-request", "activation", "download-manifest",
  "export-request", "sync-request" or "sync-answer"; kinds: every kind the code fits,
  which for binary input may be more than one (a confirmation and a
  return look alike, and so do a request that wants no license and an
  activation request that lists no device), kind being the first;
- form: "typed", "armored" or "binary"; encrypted: true for an
  age-encrypted file;
- size_bytes: the code's binary size; typed_chars: the length of its
  typed form, dashes included;
- made_by: "authority" (signed) or "instance" (MACed);
- verification: "verified", "failed", "unverified" (signed, no --trust) or
  "instance-mac"; verified: true only for "verified"; verify_error: the
  reason for "failed", else null;
- key_id: the authority key named in a signed code, else null;
- fields: the code's fields. Byte strings are hex, times RFC 3339 in UTC
  (null when absent), UDIs in their text form, lists are arrays (never
  null). Per kind: authorization: reservation, serial, udi,
  instance_key_hash, nonce, flags, issued_at, install_by, entitlements
  (tag, count, kind, start, end, export_controlled, component); request:
  udi, instance_key, nonce, issued_at, wanted (tag, count); confirmation:
  reservation, serial; return: reservation, serial, never_installed,
  journal_tag; system-description: udi, instance_key, name, components
  (id, model, tag), demand (tag, count), issued_at, nonce; usage-report:
  udi, reservation, serial, from, to, high_water, journal_head,
  journal_count, previous_head, tags (tag, peak, current); trust-update:
  sequence, issued_at, signed_by, keys (key_id, sign_public,
  agree_public, not_before, not_after); activation-request: udi,
  instance_key (the gateway's), nonce, issued_at, device_count, products
  (product_key, device_count, first_devices: at most 5 device keys);
  activation: udi, instance_key_hash, nonce, issued_at, counted_at (the
  time the windows were compared with), device_count, products
  (product_key, active, not_yet_valid, expired, refused, refusals
  (reason, meaning, count)); download-manifest: org, issued_at, expires,
  file_count, total_size (bytes), files (name, release, version, size,
  sha256); sync-request: satellite, sequence, last_answer, from,
  issued_at, accounts (account, instances, reserved, returned, removed,
  usage (tag, peak, current, over)); sync-answer: satellite, sequence,
  request (its hash), authority, issued_at, lot_count, accounts (account,
  lots (id, tag, count, kind, start, end, export_controlled)).

Exit status: 0 when the code was read (and, with --trust, verified); 1
when it cannot be read, or it is signed and does not verify with --trust;
2 for a wrong command line.`

func codeInspectCommand() *cli.Command {
	return &cli.Command{
		Name:        "inspect",
		Usage:       "show the fields of a code and whether it verifies",
		UsageText:   "airlock code inspect [--json] [--trust FILE] [--identity FILE]... CODE|FILE|-",
		Description: inspectDescription,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: flagJSON, Usage: "print one JSON object instead of text"},
			&cli.StringFlag{Name: flagTrust, Usage: "verify signed codes against the trust file `FILE`"},
			&cli.StringSliceFlag{Name: flagIdentity, Usage: "open an age-encrypted file with the identity in `FILE` (age or ssh-ed25519 private key); repeatable"},
		},
		OnUsageError: onUsageError,
		Action:       inspect,
	}
}

func inspect(c *cli.Context) error {
	if err := checkArgs(c, 1, 1, "CODE|FILE|-"); err != nil {
		return err
	}
	ids, err := readIdentities(c.StringSlice(flagIdentity))
	if err != nil {
		return err
	}
	var trust *codes.TrustSet
	if p := c.String(flagTrust); p != "" {
		if trust, err = readTrust(p); err != nil {
			return err
		}
	}
	in, err := readCodeArg(c.Args().First(), c.App.Reader, c.App.ErrWriter)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(in.data)) == 0 {
		return fmt.Errorf("%w: %s is empty", errEmpty, in.source)
	}
	d, err := codes.Decode(in.data, ids...)
	if err != nil {
		return decodeError(in, err, len(ids) > 0)
	}
	kinds := []codes.Kind{d.Kind}
	if d.Kind == 0 {
		if kinds, err = codes.GuessKinds(d.Code); err != nil {
			return fmt.Errorf("%s: binary input is no code of any kind: %w", in.source, err)
		}
	}
	kind := kinds[0]
	v, err := codes.ParseUnverified(kind, d.Code)
	if err != nil {
		return fmt.Errorf("%s: %w", in.source, err)
	}

	r := newReport(kinds, d, v)
	var verifyErr error
	switch {
	case !kind.Signed():
		r.Verification = "instance-mac"
	case trust == nil:
		r.Verification = "unverified"
	default:
		if _, verifyErr = codes.OpenSigned(kind, d.Code, trust); verifyErr != nil {
			r.Verification = "failed"
			msg := verifyErr.Error()
			r.VerifyError = &msg
		} else {
			r.Verification, r.Verified = "verified", true
		}
	}

	var out []byte
	if c.Bool(flagJSON) {
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		out = append(escapeNonGraphic(b), '\n')
	} else {
		out = r.text()
	}
	if err := writeResult(c.App.Writer, out); err != nil {
		return err
	}
	if verifyErr != nil {
		return fmt.Errorf("%w: %w", errNotVerified, verifyErr)
	}
	return nil
}

// decodeError explains why a code could not be read.
func decodeError(in *input, err error, hadIdentity bool) error {
	if errors.Is(err, codes.ErrEncrypted) && !hadIdentity {
		// Tell an authority key file, encrypted to a passphrase, from a
		// code encrypted to someone's key: asking for --identity would
		// mislead.
		if _, e := seal.Decrypt(in.data); errors.Is(e, seal.ErrPassphraseEncrypted) {
			return fmt.Errorf("%s is encrypted with a passphrase: %w", in.source, seal.ErrPassphraseEncrypted)
		}
	}
	err = fmt.Errorf("%s: %w", in.source, err)
	if in.literal {
		return withHint(err, "the argument is not an existing file, so it was read as a typed code")
	}
	return err
}

// A report is what inspect prints, as text or JSON. The JSON member names
// are documented in inspectDescription and must not change.
type report struct {
	Kind         string   `json:"kind"`
	Kinds        []string `json:"kinds"`
	Form         string   `json:"form"`
	Encrypted    bool     `json:"encrypted"`
	SizeBytes    int      `json:"size_bytes"`
	TypedChars   int      `json:"typed_chars"`
	MadeBy       string   `json:"made_by"`
	Verification string   `json:"verification"`
	Verified     bool     `json:"verified"`
	VerifyError  *string  `json:"verify_error"`
	KeyID        *string  `json:"key_id"`
	Fields       any      `json:"fields"`

	kinds []codes.Kind // more than one for binary input that fits several
	value any          // the *codes.… that ParseUnverified returned
}

// kindName is the kind's stable name for JSON: its label without the
// version, e.g. "system-description".
func kindName(k codes.Kind) string {
	return strings.TrimPrefix(string(k.Label()), "airlock/v1/")
}

func newReport(kinds []codes.Kind, d *codes.Decoded, v any) *report {
	k := kinds[0]
	r := &report{
		Kind:       kindName(k),
		Form:       d.Form.String(),
		Encrypted:  d.Encrypted,
		SizeBytes:  len(d.Code),
		TypedChars: typedChars(k, d.Code),
		MadeBy:     "instance",
		kinds:      kinds,
		value:      v,
	}
	for _, k := range kinds {
		r.Kinds = append(r.Kinds, kindName(k))
	}
	if k.Signed() {
		r.MadeBy = "authority"
	}
	switch v := v.(type) {
	case *codes.Authorization:
		id := v.KeyID.String()
		r.KeyID = &id
		r.Fields = authorizationFields(v)
	case *codes.TrustSet:
		id := v.SignedBy.String()
		r.KeyID = &id
		r.Fields = trustFields(v)
	case *codes.Request:
		r.Fields = requestFields(v)
	case *codes.Confirmation:
		r.Fields = confirmationFields{hex.EncodeToString(v.Reservation), v.Serial}
	case *codes.ExportRequest:
		r.Fields = exportRequestFields{hex.EncodeToString(v.Reservation), v.Serial, v.Verb(), v.Tag, v.Count, codes.FormatTime(v.IssuedAt)}
	case *codes.Return:
		r.Fields = returnFields{hex.EncodeToString(v.Reservation), v.Serial, v.NeverInstalled, optHex(v.Journal)}
	case *codes.System:
		r.Fields = systemFields(v)
	case *codes.Usage:
		r.Fields = usageFields(v)
	case *codes.ActivationRequest:
		r.Fields = activationRequestFields(v)
	case *codes.Activation:
		id := v.KeyID.String()
		r.KeyID = &id
		r.Fields = activationFields(v, clock())
	case *codes.Manifest:
		id := v.KeyID.String()
		r.KeyID = &id
		r.Fields = manifestFields(v)
	case *codes.SyncRequest:
		id := v.KeyID.String()
		r.KeyID = &id
		r.Fields = syncRequestFields(v)
	case *codes.SyncAnswer:
		id := v.KeyID.String()
		r.KeyID = &id
		r.Fields = syncAnswerFields(v)
	default:
		panic(fmt.Sprintf("airlock: no report for %T", v))
	}
	return r
}

// typedChars is the length of the typed form of a code, dashes included,
// computed rather than encoded: an activation file may be megabytes.
func typedChars(k codes.Kind, code []byte) int {
	m := (8*len(code) + 4) / 5 // data characters, one dash per group of 8
	return codes.TypedLen(k, code) + (m+7)/8
}

type entitlementFields struct {
	Tag              string  `json:"tag"`
	Count            uint32  `json:"count"`
	Kind             string  `json:"kind"`
	Start            *string `json:"start"`
	End              *string `json:"end"`
	ExportControlled bool    `json:"export_controlled"`
	Component        *string `json:"component"`
}

type authorizationJSON struct {
	Reservation     string              `json:"reservation"`
	Serial          uint64              `json:"serial"`
	UDI             string              `json:"udi"`
	InstanceKeyHash string              `json:"instance_key_hash"`
	Nonce           *string             `json:"nonce"`
	Flags           []string            `json:"flags"`
	IssuedAt        string              `json:"issued_at"`
	InstallBy       string              `json:"install_by"`
	Lapses          *string             `json:"lapses"` // connected mode; null for reservations
	Entitlements    []entitlementFields `json:"entitlements"`
}

func authorizationFields(a *codes.Authorization) authorizationJSON {
	f := authorizationJSON{
		Reservation:     hex.EncodeToString(a.Reservation),
		Serial:          a.Serial,
		UDI:             a.UDI.String(),
		InstanceKeyHash: hex.EncodeToString(a.InstanceKey),
		Nonce:           optHex(a.Nonce),
		Flags:           []string{},
		IssuedAt:        codes.FormatTime(a.IssuedAt),
		InstallBy:       codes.FormatTime(a.InstallBy),
		Entitlements:    []entitlementFields{},
	}
	if a.Lapses != 0 {
		t := codes.FormatTime(a.Lapses)
		f.Lapses = &t
	}
	if a.Flags&codes.FlagClockAdvisory != 0 {
		f.Flags = append(f.Flags, "clock-advisory")
	}
	for _, e := range a.Entitlements {
		f.Entitlements = append(f.Entitlements, entitlementFields{
			Tag:              e.Tag,
			Count:            e.Count,
			Kind:             e.Kind.String(),
			Start:            optTime(e.Start),
			End:              optTime(e.End),
			ExportControlled: e.ExportControlled,
			Component:        optString(e.Component),
		})
	}
	return f
}

type licenseFields struct {
	Tag   string `json:"tag"`
	Count uint32 `json:"count"`
}

func licenses(ls []codes.License) []licenseFields {
	out := []licenseFields{}
	for _, l := range ls {
		out = append(out, licenseFields{l.Tag, l.Count})
	}
	return out
}

type requestJSON struct {
	UDI         string          `json:"udi"`
	InstanceKey string          `json:"instance_key"`
	Nonce       string          `json:"nonce"`
	IssuedAt    string          `json:"issued_at"`
	Wanted      []licenseFields `json:"wanted"`
}

func requestFields(r *codes.Request) requestJSON {
	return requestJSON{
		UDI:         r.UDI.String(),
		InstanceKey: hex.EncodeToString(r.InstanceKey),
		Nonce:       hex.EncodeToString(r.Nonce),
		IssuedAt:    codes.FormatTime(r.IssuedAt),
		Wanted:      licenses(r.Wanted),
	}
}

type exportRequestFields struct {
	Reservation string `json:"reservation"`
	Serial      uint64 `json:"serial"`
	Verb        string `json:"verb"` // request or return
	Tag         string `json:"tag"`
	Count       uint32 `json:"count"`
	IssuedAt    string `json:"issued_at"`
}

type confirmationFields struct {
	Reservation string `json:"reservation"`
	Serial      uint64 `json:"serial"`
}

type returnFields struct {
	Reservation    string  `json:"reservation"`
	Serial         uint64  `json:"serial"`
	NeverInstalled bool    `json:"never_installed"`
	Journal        *string `json:"journal_tag"`
}

type componentFields struct {
	ID    string  `json:"id"`
	Model string  `json:"model"`
	Tag   *string `json:"tag"`
}

type systemJSON struct {
	UDI         string            `json:"udi"`
	InstanceKey string            `json:"instance_key"`
	Name        string            `json:"name"`
	Components  []componentFields `json:"components"`
	Demand      []licenseFields   `json:"demand"`
	IssuedAt    string            `json:"issued_at"`
	Nonce       string            `json:"nonce"`
}

func systemFields(s *codes.System) systemJSON {
	f := systemJSON{
		UDI:         s.UDI.String(),
		InstanceKey: hex.EncodeToString(s.InstanceKey),
		Name:        s.Name,
		Components:  []componentFields{},
		Demand:      licenses(s.Demand),
		IssuedAt:    codes.FormatTime(s.IssuedAt),
		Nonce:       hex.EncodeToString(s.Nonce),
	}
	for _, c := range s.Components {
		f.Components = append(f.Components, componentFields{c.ID, c.Model, optString(c.Tag)})
	}
	return f
}

type tagUsageFields struct {
	Tag     string `json:"tag"`
	Peak    uint32 `json:"peak"`
	Current uint32 `json:"current"`
}

type usageJSON struct {
	UDI          string           `json:"udi"`
	Reservation  *string          `json:"reservation"`
	Serial       *uint64          `json:"serial"`
	From         string           `json:"from"`
	To           string           `json:"to"`
	HighWater    string           `json:"high_water"`
	JournalHead  *string          `json:"journal_head"`
	JournalCount *uint64          `json:"journal_count"`
	PreviousHead *string          `json:"previous_head"`
	Tags         []tagUsageFields `json:"tags"`
}

func usageFields(u *codes.Usage) usageJSON {
	f := usageJSON{
		UDI:          u.UDI.String(),
		Reservation:  optHex(u.Reservation),
		From:         codes.FormatTime(u.From),
		To:           codes.FormatTime(u.To),
		HighWater:    codes.FormatTime(u.HighWater),
		JournalHead:  optHex(u.JournalHead),
		PreviousHead: optHex(u.PreviousHead),
		Tags:         []tagUsageFields{},
	}
	if u.JournalCount != 0 {
		n := u.JournalCount
		f.JournalCount = &n
	}
	if u.Serial != 0 {
		s := u.Serial
		f.Serial = &s
	}
	for _, t := range u.Tags {
		f.Tags = append(f.Tags, tagUsageFields{t.Tag, t.Peak, t.Current})
	}
	return f
}

// firstDevices is how many device keys inspect shows per product of an
// activation request.
const firstDevices = 5

type deviceGroupFields struct {
	ProductKey   string   `json:"product_key"`
	DeviceCount  int      `json:"device_count"`
	FirstDevices []string `json:"first_devices"`
}

type activationRequestJSON struct {
	UDI         string              `json:"udi"`
	InstanceKey string              `json:"instance_key"`
	Nonce       string              `json:"nonce"`
	IssuedAt    string              `json:"issued_at"`
	DeviceCount int                 `json:"device_count"`
	Products    []deviceGroupFields `json:"products"`
}

func activationRequestFields(r *codes.ActivationRequest) activationRequestJSON {
	f := activationRequestJSON{
		UDI:         r.UDI.String(),
		InstanceKey: hex.EncodeToString(r.InstanceKey),
		Nonce:       hex.EncodeToString(r.Nonce),
		IssuedAt:    codes.FormatTime(r.IssuedAt),
		DeviceCount: r.Count(),
		Products:    []deviceGroupFields{},
	}
	for _, g := range r.Products {
		f.Products = append(f.Products, deviceGroupFields{
			ProductKey:   g.ProductKey,
			DeviceCount:  len(g.Devices),
			FirstDevices: slices.Clone(g.Devices[:min(firstDevices, len(g.Devices))]),
		})
	}
	return f
}

type refusalCountFields struct {
	Reason  codes.Refusal `json:"reason"`
	Meaning string        `json:"meaning"`
	Count   int           `json:"count"`
}

type deviceValidityFields struct {
	ProductKey  string               `json:"product_key"`
	Active      int                  `json:"active"`
	NotYetValid int                  `json:"not_yet_valid"`
	Expired     int                  `json:"expired"`
	Refused     int                  `json:"refused"`
	Refusals    []refusalCountFields `json:"refusals"`
}

type activationJSON struct {
	UDI             string                 `json:"udi"`
	InstanceKeyHash string                 `json:"instance_key_hash"`
	Nonce           string                 `json:"nonce"`
	IssuedAt        string                 `json:"issued_at"`
	CountedAt       string                 `json:"counted_at"`
	DeviceCount     int                    `json:"device_count"`
	Products        []deviceValidityFields `json:"products"`
}

// activationFields counts an activation's devices per product as they
// stand at now: a window that covers now is active, one that starts later
// not yet valid, one that has ended expired.
func activationFields(a *codes.Activation, now time.Time) activationJSON {
	f := activationJSON{
		UDI:             a.UDI.String(),
		InstanceKeyHash: hex.EncodeToString(a.InstanceKey),
		Nonce:           hex.EncodeToString(a.Nonce),
		IssuedAt:        codes.FormatTime(a.IssuedAt),
		CountedAt:       codes.FormatTime(now.Unix()),
		DeviceCount:     a.Count(),
		Products:        []deviceValidityFields{},
	}
	for _, g := range a.Products {
		p := deviceValidityFields{ProductKey: g.ProductKey, Refused: len(g.Refused), Refusals: []refusalCountFields{}}
		for _, w := range g.Active {
			switch {
			case w.ActiveAt(now):
				p.Active++
			case now.Unix() < w.From:
				p.NotYetValid++
			default:
				p.Expired++
			}
		}
		byReason := map[codes.Refusal]int{}
		for _, r := range g.Refused {
			byReason[r.Reason]++
		}
		for _, reason := range slices.Sorted(maps.Keys(byReason)) {
			p.Refusals = append(p.Refusals, refusalCountFields{reason, reason.String(), byReason[reason]})
		}
		f.Products = append(f.Products, p)
	}
	return f
}

type manifestFileFields struct {
	Name    string `json:"name"`
	Release string `json:"release"`
	Version string `json:"version"`
	Size    uint64 `json:"size"`
	SHA256  string `json:"sha256"`
}

type manifestJSON struct {
	Org       string               `json:"org"`
	IssuedAt  string               `json:"issued_at"`
	Expires   *string              `json:"expires"`
	FileCount int                  `json:"file_count"`
	TotalSize uint64               `json:"total_size"`
	Files     []manifestFileFields `json:"files"`
}

func manifestFields(m *codes.Manifest) manifestJSON {
	f := manifestJSON{
		Org:       m.Org,
		IssuedAt:  codes.FormatTime(m.IssuedAt),
		Expires:   optTime(m.Expires),
		FileCount: len(m.Files),
		TotalSize: m.TotalSize(),
		Files:     []manifestFileFields{},
	}
	for _, e := range m.Files {
		f.Files = append(f.Files, manifestFileFields{e.Name, e.Release, e.Version, e.Size, hex.EncodeToString(e.SHA256)})
	}
	return f
}

type trustKeyFields struct {
	KeyID       string  `json:"key_id"`
	SignPublic  string  `json:"sign_public"`
	AgreePublic string  `json:"agree_public"`
	NotBefore   *string `json:"not_before"`
	NotAfter    *string `json:"not_after"`
}

type trustJSON struct {
	Sequence uint64           `json:"sequence"`
	IssuedAt string           `json:"issued_at"`
	SignedBy string           `json:"signed_by"`
	Keys     []trustKeyFields `json:"keys"`
}

func trustFields(t *codes.TrustSet) trustJSON {
	f := trustJSON{
		Sequence: t.Sequence,
		IssuedAt: codes.FormatTime(t.IssuedAt),
		SignedBy: t.SignedBy.String(),
		Keys:     []trustKeyFields{},
	}
	for i := range t.Keys {
		k := &t.Keys[i]
		f.Keys = append(f.Keys, trustKeyFields{
			KeyID:       k.ID().String(),
			SignPublic:  hex.EncodeToString(k.Sign),
			AgreePublic: hex.EncodeToString(k.Agree),
			NotBefore:   optTime(k.NotBefore),
			NotAfter:    optTime(k.NotAfter),
		})
	}
	return f
}

func optHex(b []byte) *string {
	if b == nil {
		return nil
	}
	s := hex.EncodeToString(b)
	return &s
}

func optTime(t int64) *string {
	if t == 0 {
		return nil
	}
	s := codes.FormatTime(t)
	return &s
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// text renders the report for a person: one "label  value" line per field,
// list items indented below their count. Free text from the code (system
// and component names) is quoted, so that control and look-alike
// characters show as escapes.
func (r *report) text() []byte {
	var b bytes.Buffer
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-16s %s\n", label, fmt.Sprintf(format, args...))
	}
	item := func(format string, args ...any) {
		fmt.Fprintf(&b, "  %s\n", fmt.Sprintf(format, args...))
	}
	form := r.Form
	if r.Encrypted {
		form += ", age-encrypted"
	}
	if len(r.kinds) == 1 {
		line("kind", "%s", r.kinds[0])
	} else {
		var names []string
		for _, k := range r.kinds {
			names = append(names, k.String())
		}
		line("kind", "%s (binary input does not say which; fields shown as the first)", strings.Join(names, " or "))
	}
	line("form", "%s", form)
	line("size", "%d bytes, %d characters typed", r.SizeBytes, r.TypedChars)
	switch r.Verification {
	case "verified":
		line("verification", "VERIFIED (authority key %s)", *r.KeyID)
	case "failed":
		line("verification", "FAILED: %s", oneLine(*r.VerifyError))
	case "unverified":
		line("verification", "UNVERIFIED")
	case "instance-mac":
		line("verification", "UNVERIFIED (MACed by the instance; only the authority can verify it)")
	}
	if r.KeyID != nil {
		line("key id", "%s", *r.KeyID)
	}

	switch v := r.value.(type) {
	case *codes.Authorization:
		f := r.Fields.(authorizationJSON)
		line("reservation", "%s", f.Reservation)
		line("serial", "%d", f.Serial)
		line("udi", "%s", f.UDI)
		line("instance key", "%s (hash)", f.InstanceKeyHash)
		line("nonce", "%s", orNone(f.Nonce, "none (updates a reservation)"))
		line("flags", "%s", joinOr(f.Flags, "none"))
		line("issued at", "%s", f.IssuedAt)
		line("install by", "%s", f.InstallBy)
		if f.Lapses != nil {
			line("lapses", "%s (connected mode: unless renewed before)", *f.Lapses)
		}
		line("entitlements", "%d", len(f.Entitlements))
		for _, e := range f.Entitlements {
			s := fmt.Sprintf("%s count=%d kind=%s", e.Tag, e.Count, e.Kind)
			if e.Start != nil {
				s += " start=" + *e.Start
			}
			if e.End != nil {
				s += " end=" + *e.End
			}
			if e.Component != nil {
				s += fmt.Sprintf(" component=%q", *e.Component)
			}
			if e.ExportControlled {
				s += " export-controlled"
			}
			item("%s", s)
		}
	case *codes.TrustSet:
		f := r.Fields.(trustJSON)
		line("sequence", "%d", f.Sequence)
		line("issued at", "%s", f.IssuedAt)
		line("signed by", "%s", f.SignedBy)
		line("keys", "%d", len(f.Keys))
		for _, k := range f.Keys {
			item("%s sign=%s agree=%s not-before=%s not-after=%s", k.KeyID, k.SignPublic, k.AgreePublic,
				orNone(k.NotBefore, "none"), orNone(k.NotAfter, "none"))
		}
	case *codes.Request:
		f := r.Fields.(requestJSON)
		line("udi", "%s", f.UDI)
		line("instance key", "%s", f.InstanceKey)
		line("nonce", "%s", f.Nonce)
		line("issued at", "%s", f.IssuedAt)
		line("wanted", "%d", len(f.Wanted))
		for _, l := range f.Wanted {
			item("%s count=%d", l.Tag, l.Count)
		}
	case *codes.Confirmation:
		line("reservation", "%x", v.Reservation)
		line("serial", "%d", v.Serial)
	case *codes.ExportRequest:
		line("reservation", "%x", v.Reservation)
		line("serial", "%d", v.Serial)
		line("asks to", "%s", v.Verb())
		line("tag", "%s", v.Tag)
		line("count", "%d", v.Count)
		line("issued at", "%s", codes.FormatTime(v.IssuedAt))
	case *codes.Return:
		line("reservation", "%x", v.Reservation)
		line("serial", "%d", v.Serial)
		line("never installed", "%s", yesNo(v.NeverInstalled))
		if v.Journal != nil {
			line("journal tag", "%x", v.Journal)
		}
	case *codes.System:
		f := r.Fields.(systemJSON)
		line("udi", "%s", f.UDI)
		line("instance key", "%s", f.InstanceKey)
		line("name", "%q", f.Name)
		line("issued at", "%s", f.IssuedAt)
		line("nonce", "%s", f.Nonce)
		line("components", "%d", len(f.Components))
		for _, c := range f.Components {
			s := fmt.Sprintf("id=%q model=%q", c.ID, c.Model)
			if c.Tag != nil {
				s += " tag=" + *c.Tag
			}
			item("%s", s)
		}
		line("demand", "%d", len(f.Demand))
		for _, l := range f.Demand {
			item("%s count=%d", l.Tag, l.Count)
		}
	case *codes.ActivationRequest:
		f := r.Fields.(activationRequestJSON)
		line("udi", "%s", f.UDI)
		line("gateway key", "%s", f.InstanceKey)
		line("nonce", "%s", f.Nonce)
		line("issued at", "%s", f.IssuedAt)
		line("devices", "%d in %s", f.DeviceCount, plural(len(f.Products), "product", "products"))
		for _, g := range f.Products {
			more := ""
			if g.DeviceCount > len(g.FirstDevices) {
				more = ", …"
			}
			item("%s devices=%d: %s%s", g.ProductKey, g.DeviceCount, strings.Join(g.FirstDevices, ", "), more)
		}
	case *codes.Activation:
		f := r.Fields.(activationJSON)
		line("udi", "%s", f.UDI)
		line("gateway key", "%s (hash)", f.InstanceKeyHash)
		line("nonce", "%s", f.Nonce)
		line("issued at", "%s", f.IssuedAt)
		line("devices", "%d in %s, counted at %s", f.DeviceCount, plural(len(f.Products), "product", "products"), f.CountedAt)
		for _, p := range f.Products {
			item("%s active=%d not-yet-valid=%d expired=%d refused=%d", p.ProductKey, p.Active, p.NotYetValid, p.Expired, p.Refused)
			for _, c := range p.Refusals {
				item("  refused %d: %s (reason %d)", c.Count, c.Meaning, c.Reason)
			}
		}
	case *codes.Manifest:
		f := r.Fields.(manifestJSON)
		line("organization", "%s", f.Org)
		line("issued at", "%s", f.IssuedAt)
		line("expires", "%s", orNone(f.Expires, "never"))
		line("files", "%d, %d bytes in all", f.FileCount, f.TotalSize)
		for _, e := range f.Files {
			item("%s release=%s version=%s size=%d sha256=%s", e.Name, e.Release, e.Version, e.Size, e.SHA256)
		}
	case *codes.SyncRequest, *codes.SyncAnswer:
		syncText(r.Fields, line, item)
	case *codes.Usage:
		f := r.Fields.(usageJSON)
		line("udi", "%s", f.UDI)
		line("reservation", "%s", orNone(f.Reservation, "none"))
		if f.Serial != nil {
			line("serial", "%d", *f.Serial)
		}
		line("from", "%s", f.From)
		line("to", "%s", f.To)
		line("high-water mark", "%s", f.HighWater)
		line("journal head", "%s", orNone(f.JournalHead, "none"))
		if f.JournalCount != nil {
			line("journal count", "%d", *f.JournalCount)
			line("previous head", "%s", orNone(f.PreviousHead, "none (the instance's first report)"))
		}
		line("tags", "%d", len(f.Tags))
		for _, t := range f.Tags {
			item("%s peak=%d current=%d", t.Tag, t.Peak, t.Current)
		}
	}
	return b.Bytes()
}

func orNone(s *string, none string) string {
	if s == nil {
		return none
	}
	return *s
}

func joinOr(ss []string, none string) string {
	if len(ss) == 0 {
		return none
	}
	return strings.Join(ss, ", ")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// escapeNonGraphic rewrites, in JSON text, every non-ASCII rune that is
// not graphic (C1 controls, bidirectional overrides, …) as a \u escape, so
// that JSON printed to a terminal cannot carry control sequences. Outside
// strings, JSON text is ASCII, so only string contents change.
func escapeNonGraphic(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r < utf8.RuneSelf || (unicode.IsGraphic(r) && r != utf8.RuneError) {
			out = append(out, b[i:i+size]...)
		} else if r1, r2 := utf16.EncodeRune(r); r1 != unicode.ReplacementChar {
			out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
		} else {
			out = fmt.Appendf(out, `\u%04x`, r)
		}
		i += size
	}
	return out
}
