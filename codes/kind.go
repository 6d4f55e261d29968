package codes

import (
	"fmt"
	"strings"
)

// A Kind names one of the code kinds. Each kind has a fixed envelope
// (COSE_Sign1 for codes the authority makes, COSE_Mac0 for codes the instance
// makes), a versioned label used as the COSE external AAD, a two-letter
// prefix for the typed form and a name for the armored form.
type Kind uint8

// The code kinds. The numbers are stable and appear in no encoding; they
// order the kinds in listings.
const (
	KindRequest Kind = iota + 1
	KindAuthorization
	KindConfirmation
	KindReturn
	KindSystem
	KindUsage
	KindTrustUpdate
	KindActivationRequest
	KindActivation
	KindManifest
	KindExportRequest
	KindSyncRequest
	KindSyncAnswer
)

// labelPrefix versions every label: a payload change that is not backward
// compatible gets a new prefix, so old and new codes never verify as each
// other.
const labelPrefix = "airlock/v1/"

// Kinds lists every kind in order.
var Kinds = []Kind{KindRequest, KindAuthorization, KindConfirmation, KindReturn, KindSystem, KindUsage, KindTrustUpdate, KindActivationRequest, KindActivation, KindManifest, KindExportRequest, KindSyncRequest, KindSyncAnswer}

type kindInfo struct {
	name   string // human name, lower case
	label  string // after labelPrefix
	prefix string // typed form
	armor  string // armored form, after "AIRLOCK "
	signed bool   // COSE_Sign1 by the authority; otherwise COSE_Mac0 by the instance
	bulk   bool   // carries a device fleet, a file list or a satellite's licenses: up to MaxBulkCodeSize rather than MaxCodeSize
}

var kindInfos = map[Kind]kindInfo{
	KindRequest:           {"request", "request", "RQ", "REQUEST", false, false},
	KindAuthorization:     {"authorization", "authorization", "AU", "AUTHORIZATION", true, false},
	KindConfirmation:      {"confirmation", "confirmation", "CF", "CONFIRMATION", false, false},
	KindReturn:            {"return", "return", "RT", "RETURN", false, false},
	KindSystem:            {"system description", "system-description", "SD", "SYSTEM DESCRIPTION", false, false},
	KindUsage:             {"usage report", "usage-report", "UR", "USAGE REPORT", false, false},
	KindTrustUpdate:       {"trust update", "trust-update", "TU", "TRUST UPDATE", true, false},
	KindActivationRequest: {"activation request", "activation-request", "AR", "ACTIVATION REQUEST", false, true},
	KindActivation:        {"activation", "activation", "AF", "ACTIVATION", true, true},
	KindManifest:          {"download manifest", "download-manifest", "DM", "DOWNLOAD MANIFEST", true, true},
	KindExportRequest:     {"export request", "export-request", "XR", "EXPORT REQUEST", false, false},
	KindSyncRequest:       {"sync request", "sync-request", "SQ", "SYNC REQUEST", true, true},
	KindSyncAnswer:        {"sync answer", "sync-answer", "SA", "SYNC ANSWER", true, true},
}

func (k Kind) info() kindInfo {
	i, ok := kindInfos[k]
	if !ok {
		panic(fmt.Sprintf("codes: unknown kind %d", uint8(k)))
	}
	return i
}

// String returns the kind's name, e.g. "authorization".
func (k Kind) String() string {
	if i, ok := kindInfos[k]; ok {
		return i.name
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Label returns the versioned label passed as COSE external AAD, e.g.
// "airlock/v1/authorization".
func (k Kind) Label() []byte { return []byte(labelPrefix + k.info().label) }

// Prefix returns the two letters that start the typed form, e.g. "AU".
func (k Kind) Prefix() string { return k.info().prefix }

// ArmorType returns the word(s) after "AIRLOCK " in the armor lines, e.g.
// "AUTHORIZATION".
func (k Kind) ArmorType() string { return k.info().armor }

// Signed reports whether codes of this kind are COSE_Sign1 envelopes made by
// the authority (true) or COSE_Mac0 envelopes made by the instance (false).
func (k Kind) Signed() bool { return k.info().signed }

// MaxSize returns the largest binary code of this kind, in bytes:
// MaxBulkCodeSize for the bulk kinds, which carry device fleets
// (activation request, activation), file lists (download manifest) or a
// satellite's licenses (sync request, sync answer), MaxCodeSize for every
// other.
func (k Kind) MaxSize() int {
	if k.info().bulk {
		return MaxBulkCodeSize
	}
	return MaxCodeSize
}

// KindByPrefix returns the kind whose typed prefix is p (upper case).
func KindByPrefix(p string) (Kind, bool) {
	for k, i := range kindInfos {
		if i.prefix == p {
			return k, true
		}
	}
	return 0, false
}

// KindByArmorType returns the kind whose armor type is t.
func KindByArmorType(t string) (Kind, bool) {
	for k, i := range kindInfos {
		if i.armor == t {
			return k, true
		}
	}
	return 0, false
}

// prefixes lists the typed prefixes of every kind, for messages:
// "RQ, AU, CF, …".
func prefixes() string {
	p := make([]string, len(Kinds))
	for i, k := range Kinds {
		p[i] = k.Prefix()
	}
	return strings.Join(p, ", ")
}

func wrongKind(got, want Kind) error {
	return fmt.Errorf("%w: got %s %s code, want %s %s code", ErrWrongKind, article(got), got, article(want), want)
}

func article(k Kind) string {
	switch k.String()[0] {
	case 'a', 'e', 'i', 'o', 'u':
		return "an"
	}
	return "a"
}
