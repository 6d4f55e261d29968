package authority

import (
	"context"
	"errors"

	"github.com/airlock-dev/airlock/codes/api"
)

// Connected mode (issue 10): instances that reach the authority over HTTPS
// (authority/service) register with a token, then renew their
// authorization and registration, report usage, confirm codes, request and
// return export-controlled licenses, and deregister, each request
// authenticated with the instance's pairwise MAC key.
//
// SKELETON: the exported surface below is fixed; the bodies are being
// written (see the issue notes). errNotYet is removed with them.

// Refusals of connected mode, kinds of the general sentinels.
var (
	// ErrUnauthenticated means a request's MAC does not check under the
	// pairwise key of the instance it names.
	ErrUnauthenticated error = &namedKind{"request not authenticated", ErrKeyMismatch}
	// ErrReplayedRequest means a request's sequence number is not above
	// the last one accepted from its instance.
	ErrReplayedRequest error = &namedKind{"replayed or out-of-order request", ErrReplay}
	// ErrNotConnected means the instance is not registered in connected
	// mode (never, or deregistered, or removed).
	ErrNotConnected error = &namedKind{"instance not registered", ErrNotFound}
	// ErrExportRefused means an export-controlled license was asked for by
	// an instance whose registration (or account) does not allow them.
	ErrExportRefused error = &namedKind{"export-controlled license refused", ErrInvalid}
)

var errNotYet = errors.New("connected mode: not built yet")

// A Caller is one authenticated request of an instance: what its headers
// sign, the MAC they carry, and what the MAC covers. The ledger checks it
// in the transaction of the operation, and records Signed.Seq there.
type Caller struct {
	Signed api.Signed
	MAC    []byte
	Method string
	Path   string
	Body   []byte
}

// RegisterConnected registers the instance whose request code r carries,
// with r's token, to the token's account, and authorizes what the request
// wants as far as the account (and its tiers) cover it.
func (l *Ledger) RegisterConnected(ctx context.Context, r api.RegisterRequest) (*api.Authorized, error) {
	return nil, errNotYet
}

// RenewAuthorization issues the next authorization code of a connected
// instance, for what it wants now, lapsing api.AuthorizationValidity from
// now.
func (l *Ledger) RenewAuthorization(ctx context.Context, c Caller, r api.RenewRequest) (*api.Authorized, error) {
	return nil, errNotYet
}

// RenewRegistration extends a connected instance's registration to
// api.RegistrationValidity from now.
func (l *Ledger) RenewRegistration(ctx context.Context, c Caller) (*api.Authorized, error) {
	return nil, errNotYet
}

// ConfirmConnected applies a confirmation code sent by a connected
// instance.
func (l *Ledger) ConfirmConnected(ctx context.Context, c Caller, code []byte) (*api.Done, error) {
	return nil, errNotYet
}

// ReportUsage imports a usage report sent by a connected instance.
func (l *Ledger) ReportUsage(ctx context.Context, c Caller, code []byte) (*api.Done, error) {
	return nil, errNotYet
}

// Deregister ends a connected instance's registration: the return code
// (nil when nothing was installed) gives its licenses back to the account.
func (l *Ledger) Deregister(ctx context.Context, c Caller, code []byte) (*api.Done, error) {
	return nil, errNotYet
}

// RequestExport authorizes Count more of an export-controlled tag, or
// refuses with the reason, and records either.
func (l *Ledger) RequestExport(ctx context.Context, c Caller, r api.ExportRequest) (*api.Authorized, error) {
	return nil, errNotYet
}

// ReturnExport takes an export-controlled tag back from a connected
// instance's authorization.
func (l *Ledger) ReturnExport(ctx context.Context, c Caller, r api.ExportRequest) (*api.Authorized, error) {
	return nil, errNotYet
}
