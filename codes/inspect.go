package codes

import "fmt"

// ParseUnverified decodes a code of kind k for display only and returns a
// pointer to its type (*Request, *Authorization, *Confirmation, *Return,
// *System, *Usage, *TrustSet, *ActivationRequest, *Activation or
// *Manifest). Nothing in the result is trusted.
func ParseUnverified(k Kind, b []byte) (any, error) {
	switch k {
	case KindRequest:
		return ParseUnverifiedRequest(b)
	case KindAuthorization:
		return ParseUnverifiedAuthorization(b)
	case KindConfirmation:
		return ParseUnverifiedConfirmation(b)
	case KindReturn:
		return ParseUnverifiedReturn(b)
	case KindSystem:
		return ParseUnverifiedSystem(b)
	case KindUsage:
		return ParseUnverifiedUsage(b)
	case KindTrustUpdate:
		return ParseUnverifiedTrustSet(b)
	case KindActivationRequest:
		return ParseUnverifiedActivationRequest(b)
	case KindActivation:
		return ParseUnverifiedActivation(b)
	case KindManifest:
		return ParseUnverifiedManifest(b)
	case KindExportRequest:
		return ParseUnverifiedExportRequest(b)
	case KindSyncRequest:
		return ParseUnverifiedSyncRequest(b)
	case KindSyncAnswer:
		return ParseUnverifiedSyncAnswer(b)
	}
	return nil, fmt.Errorf("%w: unknown kind %d", ErrWrongKind, uint8(k))
}

// GuessKinds returns the kinds whose strict decoding accepts b, for raw
// binary input, which does not name its kind. The envelope (Sign1 or Mac0)
// and the required and unknown fields tell most kinds apart; a confirmation
// and a return that is not NeverInstalled have the same shape, and so do a
// request that wants no license and an activation request that lists no
// device: only the label under the MAC distinguishes them. When no kind
// fits, the error is the first kind's.
func GuessKinds(b []byte) ([]Kind, error) {
	var fits []Kind
	var first error
	for _, k := range Kinds {
		_, err := ParseUnverified(k, b)
		if err == nil {
			fits = append(fits, k)
		} else if first == nil {
			first = err
		}
	}
	if len(fits) == 0 {
		return nil, first
	}
	return fits, nil
}

// OpenSigned verifies a code the authority makes (authorization, trust
// update, activation or download manifest) against trust and returns it as ParseUnverified
// does. For a trust update, trust is the set it replaces.
func OpenSigned(k Kind, b []byte, trust *TrustSet) (any, error) {
	switch k {
	case KindAuthorization:
		return OpenAuthorization(b, trust)
	case KindActivation:
		return OpenActivation(b, trust)
	case KindManifest:
		return OpenManifest(b, trust)
	case KindSyncRequest:
		return OpenSyncRequest(b, trust)
	case KindSyncAnswer:
		return OpenSyncAnswer(b, trust)
	case KindTrustUpdate:
		if t, err := OpenTrustUpdate(b, trust); err == nil {
			return t, nil
		}
		// A trust file verifies against the keys it lists; it counts as
		// verified here when one of them is in trust.
		t, err := OpenTrustFile(b)
		if err != nil {
			return nil, err
		}
		if trust.Key(t.SignedBy) == nil {
			return nil, fmt.Errorf("%w: trust file signed by key %s, not in the trust set given", ErrUnknownKey, t.SignedBy)
		}
		return t, nil
	}
	return nil, fmt.Errorf("%w: %s codes are MACed by the instance, not signed: only the authority can verify them", ErrWrongKind, k)
}
