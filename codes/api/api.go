// Package api fixes the connected-mode HTTPS API that airlock authority
// serve (and a satellite) speaks and an instance calls: the paths, the JSON
// messages, and how a request is authenticated.
//
// Every body is JSON; codes travel in it as their binary form (base64 in
// JSON), so the codes themselves keep their own MACs and signatures. A
// registration authenticates with its token and the request code inside it,
// whose MAC proves the instance holds its key. Every later request carries
// four headers: the instance's UDI, the id of the authority key the pairwise
// MAC key was derived with, a sequence number that grows with every request
// the instance makes, and an HMAC-SHA256 under the pairwise key of the
// method, path, those three headers and the body's SHA-256. The service
// refuses a sequence number not above the last it accepted from that
// instance, so a captured request cannot be replayed.
//
// The instance package imports this one and never the authority; the
// authority's service imports it too. Nothing here touches the network.
package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/airlock-dev/airlock/codes"
)

// Paths of the API. All take POST with a JSON body but PathHealth (GET).
const (
	PathHealth              = "/v1/health"
	PathRegister            = "/v1/register"
	PathRenewAuthorization  = "/v1/renew/authorization"
	PathRenewRegistration   = "/v1/renew/registration"
	PathConfirm             = "/v1/confirm"
	PathUsage               = "/v1/usage"
	PathDeregister          = "/v1/deregister"
	PathExport              = "/v1/export"
	PathExportReturn        = "/v1/export/return"
	PathSync                = "/v1/sync" // satellites: a sync request file in, the answer out
	ContentType             = "application/json"
	HeaderUDI               = "Airlock-UDI"
	HeaderKey               = "Airlock-Key"
	HeaderSeq               = "Airlock-Seq"
	HeaderMAC               = "Airlock-MAC"
	HeaderRetryAfterSeconds = "Retry-After"
)

// MaxBody is the largest request or response body: a few codes of at most
// codes.MaxCodeSize each, base64 in JSON, and a sync file. Larger bodies
// are refused before they are read.
const MaxBody = 1 << 20

// MaxSyncBody is the largest body on PathSync, either way: a sync file of
// codes.MaxBulkCodeSize, base64 in JSON (4/3 of it, and a few bytes).
// The service reads at most a few such bodies at once.
const MaxSyncBody = 22 << 20

// A SyncFile carries a satellite's sync request to PathSync, and the
// vendor's sync answer back: the binary code. The request is
// authenticated by its own signature, with the satellite's key the vendor
// registered; it takes none of the instance headers.
type SyncFile struct {
	Code []byte `json:"code"`
}

// Periods of connected mode, as in smart licensing: a registration is valid
// a year and renewed every six months; an authorization is valid 90 days
// and renewed every 30; usage is reported every 6 hours.
const (
	RegistrationValidity  = 365 * 24 * time.Hour
	RegistrationRenewal   = 182 * 24 * time.Hour
	AuthorizationValidity = 90 * 24 * time.Hour
	AuthorizationRenewal  = 30 * 24 * time.Hour
	UsageInterval         = 6 * time.Hour
)

// A RegisterRequest registers an instance with a registration token. The
// request code's wanted licenses are what the instance asks to be
// authorized for; its MAC proves the instance holds its key. Hostname and
// Addresses are left out by an instance in private mode.
type RegisterRequest struct {
	Token     string   `json:"token"`
	Request   []byte   `json:"request"`
	Hostname  string   `json:"hostname,omitempty"`
	Addresses []string `json:"addresses,omitempty"`
	// Reregister moves an instance already registered (to this service)
	// to the token's account: its licenses go back to the old account.
	Reregister bool `json:"reregister,omitempty"`
}

// A Registration says where an instance is registered and until when.
type Registration struct {
	Account       string `json:"account"` // ORG/ACCOUNT
	RegisteredAt  int64  `json:"registered_at"`
	RenewedAt     int64  `json:"renewed_at"`
	ExpiresAt     int64  `json:"expires_at"`
	ExportAllowed bool   `json:"export_allowed"`
}

// An Authorized answers registration, renewal and export: the registration
// as it stands, and the authorization code to install (absent when the
// account holds none of the licenses wanted). Shortfall lists what was
// wanted and not covered, Borrowed what a higher tier covered, Refused what
// was withheld and why (export control).
type Authorized struct {
	Registration  Registration `json:"registration"`
	Authorization []byte       `json:"authorization,omitempty"`
	Shortfall     []Line       `json:"shortfall,omitempty"`
	Borrowed      []Borrowed   `json:"borrowed,omitempty"`
	Refused       []Refusal    `json:"refused,omitempty"`
}

// A Line is a count of one tag.
type Line struct {
	Tag   string `json:"tag"`
	Count uint32 `json:"count"`
}

// Borrowed says that Count licenses of the higher tier From cover a need
// for Tag.
type Borrowed struct {
	Tag   string `json:"tag"`
	From  string `json:"from"`
	Count uint32 `json:"count"`
}

// A Refusal says why a tag was not authorized.
type Refusal struct {
	Tag    string `json:"tag"`
	Reason string `json:"reason"`
}

// A RenewRequest renews the authorization, asking for Wanted (the licenses
// the product needs now). Installed is the serial of the authorization the
// instance holds (0: none).
type RenewRequest struct {
	Wanted    []codes.License `json:"wanted"`
	Installed uint64          `json:"installed,omitempty"`
}

// A CodeRequest carries one code the instance made: a confirmation
// (PathConfirm), a usage report (PathUsage) or a return (PathDeregister,
// and absent there when nothing was installed).
type CodeRequest struct {
	Code []byte `json:"code,omitempty"`
}

// An ExportRequest asks for (PathExport) or gives back (PathExportReturn)
// Count licenses of an export-controlled tag.
type ExportRequest struct {
	Tag   string `json:"tag"`
	Count uint32 `json:"count"`
}

// A Done answers requests that return nothing else.
type Done struct {
	Message string `json:"message"`
}

// Health answers PathHealth: who serves, and which keys it signs with.
type Health struct {
	Authority string   `json:"authority"`
	Keys      []string `json:"keys"`
	Satellite bool     `json:"satellite,omitempty"`
}

// Error codes: the Code of an Error, for programs; Message is for people.
const (
	CodeBadRequest      = "bad_request"     // 400: the body or a header is malformed
	CodeUnauthenticated = "unauthenticated" // 401: the MAC or the token does not check
	CodeReplayed        = "replayed"        // 409: a sequence number not above the last one
	CodeNotRegistered   = "not_registered"  // 404: the instance is not (or no longer) registered
	CodeTokenSpent      = "token_spent"     // 403: the token expired, was revoked or is used up
	CodeRefused         = "refused"         // 403: the ledger refuses (export control, …)
	CodeConflict        = "conflict"        // 409: the state does not allow it (registered elsewhere, …)
	CodeTooLarge        = "too_large"       // 413
	CodeRateLimited     = "rate_limited"    // 429: slow down, see Retry-After
	CodeUnavailable     = "unavailable"     // 503: shutting down, or the ledger is busy
	CodeInternal        = "internal"        // 500
	CodeNotFound        = "not_found"       // 404: no such path
	CodeMethod          = "method_not_allowed"
)

// An Error is the body of every answer that is not 2xx.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Message }

// macLabel starts every MACed string: a MAC of the API is never a MAC of a
// code, whose labels differ.
const macLabel = "airlock/v1/api\n"

// MACSize is the length of the request MAC.
const MACSize = sha256.Size

// Signed is what authenticates one request.
type Signed struct {
	UDI   string      // the instance's UDI, as text
	KeyID codes.KeyID // the authority key the MAC key was derived with
	Seq   uint64      // grows with every request of the instance
}

// MAC returns the request MAC under macKey.
func (s Signed) MAC(macKey []byte, method, path string, body []byte) []byte {
	sum := sha256.Sum256(body)
	m := hmac.New(sha256.New, macKey)
	m.Write([]byte(macLabel))
	m.Write([]byte(method + "\n" + path + "\n" + s.UDI + "\n" + s.KeyID.String() + "\n" + strconv.FormatUint(s.Seq, 10) + "\n"))
	m.Write(sum[:])
	return m.Sum(nil)
}

// Headers returns the four headers of a request signed with macKey.
func (s Signed) Headers(macKey []byte, method, path string, body []byte) map[string]string {
	return map[string]string{
		HeaderUDI: s.UDI,
		HeaderKey: s.KeyID.String(),
		HeaderSeq: strconv.FormatUint(s.Seq, 10),
		HeaderMAC: base64.RawURLEncoding.EncodeToString(s.MAC(macKey, method, path, body)),
	}
}

// ErrHeaders means the authentication headers are missing or malformed.
var ErrHeaders = errors.New("authentication headers missing or malformed")

// ParseHeaders reads the authentication headers through get (e.g.
// http.Header.Get) and returns what they sign and the MAC they carry.
func ParseHeaders(get func(string) string) (Signed, []byte, error) {
	var s Signed
	s.UDI = get(HeaderUDI)
	if s.UDI == "" || len(s.UDI) > 512 {
		return s, nil, fmt.Errorf("%w: %s is missing or too long", ErrHeaders, HeaderUDI)
	}
	id, err := codes.ParseKeyID(get(HeaderKey))
	if err != nil {
		return s, nil, fmt.Errorf("%w: %s: %v", ErrHeaders, HeaderKey, err)
	}
	s.KeyID = id
	seq := get(HeaderSeq)
	if s.Seq, err = strconv.ParseUint(seq, 10, 64); err != nil || s.Seq == 0 {
		return s, nil, fmt.Errorf("%w: %s %q is not a positive number", ErrHeaders, HeaderSeq, seq)
	}
	mac, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(get(HeaderMAC)))
	if err != nil || len(mac) != MACSize {
		return s, nil, fmt.Errorf("%w: %s is not a %d-byte MAC in base64url", ErrHeaders, HeaderMAC, MACSize)
	}
	return s, mac, nil
}

// Check reports whether mac is the request MAC under macKey, in constant
// time.
func (s Signed) Check(macKey []byte, method, path string, body, mac []byte) bool {
	return hmac.Equal(s.MAC(macKey, method, path, body), mac)
}
