package codes

import "errors"

// The sentinels of package codes. Every error an Open…, Parse… or Check
// function returns matches exactly one of them with errors.Is; the message
// after the sentinel names the values involved.
var (
	// ErrMalformed means the input is not a canonical encoding of the
	// expected code: bad CBOR, a bad envelope, a field of the wrong length
	// or out of range, an unknown field, a missing field. It is never
	// returned for a bad signature.
	ErrMalformed = errors.New("malformed code")
	// ErrWrongKind means the input is a code of another kind than the one
	// asked for.
	ErrWrongKind = errors.New("wrong code kind")
	// ErrAlgorithm means the envelope names an algorithm other than the
	// one fixed by the code's kind.
	ErrAlgorithm = errors.New("algorithm not allowed")
	// ErrBadSignature means the signature or MAC does not verify.
	ErrBadSignature = errors.New("signature verification failed")
	// ErrUnknownKey means the authority key that signed the code is not in
	// the trust set.
	ErrUnknownKey = errors.New("authority key not trusted")
	// ErrKeyWindow means the code was issued outside the validity window
	// of the key that signed it.
	ErrKeyWindow = errors.New("authority key not valid at issue time")
	// ErrWeakKey means a public key has the wrong length or is of low order
	// (its X25519 shared secret would be all zeros).
	ErrWeakKey = errors.New("weak or malformed public key")
	// ErrInvalid means the code decodes and verifies but its fields are
	// inconsistent: a term entitlement that ends before it starts, an
	// install-by date before the issue time, a duplicate tag.
	ErrInvalid = errors.New("inconsistent code")
	// ErrWrongInstance means the code names another UDI or instance key.
	ErrWrongInstance = errors.New("code is for another instance")
	// ErrInstallWindow means the authorization code's install-by time has
	// passed.
	ErrInstallWindow = errors.New("install window ended")
	// ErrExpired means a term entitlement in the code has already ended.
	ErrExpired = errors.New("entitlement expired")
	// ErrTypo means a typed code has a typo; the error names the group.
	ErrTypo = errors.New("typo in typed code")
	// ErrEncrypted means the file is encrypted with age and no identity
	// that opens it was given.
	ErrEncrypted = errors.New("encrypted file")
)
