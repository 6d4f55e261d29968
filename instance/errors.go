package instance

import "errors"

// The sentinels of package instance. Every error a method returns matches
// one of them, or one of package codes' sentinels for a code that does not
// decode, verify or pass codes.Authorization.Check (ErrTypo, ErrWrongKind,
// ErrBadSignature, ErrUnknownKey, ErrKeyWindow, ErrWrongInstance,
// ErrInstallWindow, ErrExpired, …), or is an I/O error from the file
// system. The message after the sentinel names the values involved.
var (
	// ErrNotInitialized means the state folder holds no instance state:
	// Init was never run there.
	ErrNotInitialized = errors.New("no instance state")
	// ErrExists means Init found a state already in the folder.
	ErrExists = errors.New("instance state already exists")
	// ErrCorrupt means the state file is damaged: its checksum does not
	// match, it is truncated, or what it holds does not decode or verify.
	// The state is never replaced by a fresh one: that would reset the
	// clock high-water mark and forget returned reservations.
	ErrCorrupt = errors.New("instance state corrupt")
	// ErrFormat means the state file was written in a format this version
	// does not read (by a newer airlock).
	ErrFormat = errors.New("unknown instance state format")
	// ErrPermissions means the state folder may be written by users other
	// than its owner, or a file in it is not a regular file.
	ErrPermissions = errors.New("unsafe instance state folder")
	// ErrLocked means another process held the state's lock for longer
	// than the wait (2 s by default).
	ErrLocked = errors.New("instance state locked")
	// ErrPersist means the new state could not be written durably; the
	// operation did not happen, unless the message says the new state may
	// already be in place (a failed sync of the folder after the rename).
	ErrPersist = errors.New("could not persist the instance state")

	// ErrNotEnabled means a request was asked for while reservation is
	// not enabled.
	ErrNotEnabled = errors.New("reservation not enabled")
	// ErrReservationInstalled means the operation needs no reservation to
	// be installed (disable, request, a first code for a new reservation),
	// or the code given is the installed one.
	ErrReservationInstalled = errors.New("a reservation is installed")
	// ErrNotReserved means the operation needs an installed reservation
	// (return), and none was ever returned either.
	ErrNotReserved = errors.New("no reservation installed")
	// ErrNoPendingRequest means an authorization code answers a request
	// that is not pending (it was cancelled, or already answered by an
	// installed code), or cancel found nothing to cancel.
	ErrNoPendingRequest = errors.New("no pending request")
	// ErrWrongReservation means an update code is for another reservation
	// than the one installed, or there is none to update.
	ErrWrongReservation = errors.New("code updates another reservation")
	// ErrNotNewer means an update code's serial is not greater than the
	// installed serial (a rollback).
	ErrNotNewer = errors.New("authorization code not newer")
	// ErrReturned means the code's reservation was returned: its codes
	// never install again.
	ErrReturned = errors.New("reservation was returned")
	// ErrClock means the system clock is behind the last time the instance
	// saw, or behind the issue time of the code, by more than the
	// tolerance: term licenses fail closed and codes do not install until
	// the clock is set right (unless the clock is advisory).
	ErrClock = errors.New("clock anomaly")
	// ErrNoAuthorityKey means no key of the trust set is valid now, or the
	// key that signed the installed code is gone, so the instance cannot
	// make a code for the authority.
	ErrNoAuthorityKey = errors.New("no authority key to make the code for")
	// ErrTrustRollback means a trust update is older than the installed
	// trust set (a rollback to keys the authority has retired).
	ErrTrustRollback = errors.New("trust update is older than the installed one")
	// ErrTrustGap means a trust update is not signed by a key of the
	// installed set, typically because the updates between them are
	// missing: install those first, in order.
	ErrTrustGap = errors.New("trust update does not follow the installed trust set")

	// ErrNotLicensed means Acquire asked for a tag that is not licensed
	// now: not in the installed code, not started, ended, refused under a
	// clock anomaly, or the evaluation has ended.
	ErrNotLicensed = errors.New("not licensed")
	// ErrExceeded means Acquire asked for more than the reserved count
	// minus what is in use.
	ErrExceeded = errors.New("license count exceeded")
	// ErrNotHeld means Release gave back more than is in use.
	ErrNotHeld = errors.New("licenses not in use")
	// ErrCount means Acquire or Release was given a count below 1.
	ErrCount = errors.New("invalid license count")
)
