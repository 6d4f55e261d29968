package authority

import "errors"

// The sentinels of package authority. Every error a Ledger method returns
// for a refusal matches one of them with errors.Is; errors about a code
// (a bad MAC, a malformed request) match the codes sentinels instead. The
// message after the sentinel names the values involved.
var (
	// ErrNotInitialized means the folder holds no ledger: run Init first.
	ErrNotInitialized = errors.New("no ledger")
	// ErrSchema means the ledger was written by a newer airlock, or its
	// store does not run with the settings durability needs (WAL,
	// synchronous=FULL).
	ErrSchema = errors.New("ledger schema or settings not supported")
	// ErrInvalid means an argument is out of range: an empty or too long
	// name, a count of 0, a term that ends before it starts.
	ErrInvalid = errors.New("invalid argument")
	// ErrNotFound means the organization, account, instance, reservation or
	// system named does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists means an organization or account of that name exists.
	ErrExists = errors.New("already exists")
	// ErrUnavailable means fewer licenses are available than asked for.
	// The message says how many are.
	ErrUnavailable = errors.New("not enough licenses")
	// ErrCrossOrg means a transfer between accounts of two organizations:
	// licenses never move between organizations.
	ErrCrossOrg = errors.New("transfer across organizations")
	// ErrKeyMismatch means a request or system description carries another
	// instance key than the one pinned for its UDI.
	ErrKeyMismatch = errors.New("instance key differs from the pinned key")
	// ErrActive means the instance already holds a reservation.
	ErrActive = errors.New("instance already holds a reservation")
	// ErrReplay means a request nonce that was already answered, in a
	// different request code.
	ErrReplay = errors.New("request nonce already used")
	// ErrClosed means the reservation was returned or removed.
	ErrClosed = errors.New("reservation closed")
	// ErrStale means a return or confirmation code names a serial the
	// instance cannot hold, or a return for a code never installed after
	// the reservation was updated.
	ErrStale = errors.New("stale code")
	// ErrRemovalLimit means the account has used its removals without a
	// return for the last 365 days.
	ErrRemovalLimit = errors.New("removal limit reached")
	// ErrNoKey means the operation needs an authority private key and
	// none valid now was given.
	ErrNoKey = errors.New("no authority key")
	// ErrClock means the clock is behind the issue time of a code the
	// ledger already issued: the machine's time was set back.
	ErrClock = errors.New("clock behind the ledger")
	// ErrBusy means another process held the ledger longer than the busy
	// timeout.
	ErrBusy = errors.New("ledger busy")
	// ErrKeyMalformed means the input is not shaped like a license key:
	// empty, too long, another prefix than LK, or a length no key has.
	ErrKeyMalformed = errors.New("not a license key")
	// ErrKeyTypo means a group of a typed license key fails its check
	// character. The error also matches groups.ErrTypo and carries the
	// group's number (never its text: the key is a secret).
	ErrKeyTypo = errors.New("license key has a typo")
	// ErrKeyUnknown means a well-formed license key that this authority
	// never issued.
	ErrKeyUnknown = errors.New("unknown license key")
	// ErrKeyRedeemed means the license key was redeemed before. The
	// message says when, and into which product only to the organization
	// that redeemed it.
	ErrKeyRedeemed = errors.New("license key already redeemed")
	// ErrKeySoftware means the license key is for another software than
	// the product's.
	ErrKeySoftware = errors.New("license key is for another software")
	// ErrCorrupt means Verify found the history chain broken or the
	// ledger's invariant violated.
	ErrCorrupt = errors.New("ledger verification failed")
)

// Refusals of products and subscriptions. Each is a kind of a general
// sentinel above: it reads the same and errors.Is matches both, so that a
// caller that knows only the general one keeps working, and one that
// knows the kind can say what to do about it.
var (
	// ErrNoProduct means the organization has no product of that name.
	ErrNoProduct = kindOf(ErrNotFound)
	// ErrNotRegistered means no such system or hardware component is
	// registered to the product.
	ErrNotRegistered = kindOf(ErrNotFound)
	// ErrNoSubscription means the product's subscription has not started.
	ErrNoSubscription = kindOf(ErrNotFound)
	// ErrSubscribed means the product's subscription started before.
	ErrSubscribed = kindOf(ErrExists)
	// ErrElsewhere means a system or component is registered to another
	// product.
	ErrElsewhere = kindOf(ErrExists)
	// ErrWalletShort means a product's wallet holds fewer licenses of a
	// tag than an allocation takes.
	ErrWalletShort = kindOf(ErrUnavailable)
	// ErrExtensionShort means a product's wallet holds fewer extension
	// licenses of a tag than an extension takes.
	ErrExtensionShort = kindOf(ErrUnavailable)
	// ErrNothingToDeliver means a system of a product is licensed for
	// nothing now: no subscription in force, no hardware.
	ErrNothingToDeliver = kindOf(ErrUnavailable)
	// ErrHeldByAccount means a system holds a reservation from an account
	// and so cannot be registered to a product.
	ErrHeldByAccount = kindOf(ErrActive)
	// ErrDescriptionAnswered means a system description was answered by a
	// reservation since closed: the system must describe itself anew.
	ErrDescriptionAnswered = kindOf(ErrClosed)
)

// A kind is a sentinel more specific than a general one.
type kind struct{ general error }

func kindOf(general error) error { return &kind{general} }

// A namedKind is a sentinel with words of its own that errors.Is also
// matches with a general one.
type namedKind struct {
	msg     string
	general error
}

func (k *namedKind) Error() string { return k.msg }
func (k *namedKind) Unwrap() error { return k.general }

func (k *kind) Error() string { return k.general.Error() }
func (k *kind) Unwrap() error { return k.general }

// Refusals of activation-code pools.
var (
	// ErrNoFleetProduct means no fleet product has that product key (or,
	// in an organization, that name).
	ErrNoFleetProduct = kindOf(ErrNotFound)
	// ErrNoPackage means the organization has no package of that name.
	ErrNoPackage = kindOf(ErrNotFound)
	// ErrGatewayKey means a gateway's UDI is pinned to another key.
	ErrGatewayKey = kindOf(ErrKeyMismatch)
	// ErrNoDevice means no device has that device key (in the product).
	ErrNoDevice = kindOf(ErrNotFound)
	// ErrNoCodes means fewer activation codes are left than asked for.
	ErrNoCodes = kindOf(ErrUnavailable)
	// ErrSpecMismatch means codes of one package were to go to a product
	// that holds codes of another: a product holds one package only.
	ErrSpecMismatch = kindOf(ErrInvalid)
	// ErrProductDeleted means the fleet product was deleted.
	ErrProductDeleted = kindOf(ErrClosed)
	// ErrAutoRenewOff means a device's auto-renew switch was set while
	// its product's auto-renew is off.
	ErrAutoRenewOff = kindOf(ErrInvalid)
)
