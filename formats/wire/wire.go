// Package wire owns airlock's CBOR modes: one encoder (Core Deterministic
// Encoding, RFC 8949 §4.2.1) and one strict decoder, built once at init.
//
// Use Marshal to produce payload bytes and Unmarshal to read them. Unmarshal
// accepts only input that is the canonical encoding of what it decoded to, so
// two different byte strings never decode to the same value. Never decode
// airlock input with another mode, and never let logic run on CBOR decoded
// into an interface value.
package wire

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// MaxSize caps any CBOR input before it is decoded. 16 KiB: the largest
// code airlock makes (an authorization with dozens of entitlements) is a few
// KiB, and a cap keeps length and nesting bombs cheap to refuse.
const MaxSize = 16 << 10

// ErrMalformed means the input is not the canonical CBOR encoding of the
// expected structure: a syntax error, a duplicate map key, an indefinite
// length, a tag, an unknown field, a missing field, a non-shortest integer,
// trailing bytes, or input over MaxSize.
var ErrMalformed = errors.New("malformed CBOR")

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	opts := cbor.CoreDetEncOptions()
	// A nil slice or map encodes as an empty one, never as null, so a
	// required list has one encoding and null is refused on decoding.
	opts.NilContainers = cbor.NilContainerAsEmpty
	encMode, err = opts.EncMode()
	if err != nil {
		panic("wire: " + err.Error())
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		MaxNestedLevels:   8,    // payloads nest at most 4 deep (code, entitlement list, entitlement, value)
		MaxArrayElements:  1024, // the longest list is entitlements or components, well under this
		MaxMapPairs:       64,   // the widest map has a dozen fields
		UTF8:              cbor.UTF8RejectInvalid,
		IntDec:            cbor.IntDecConvertNone,
		FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
		BigIntDec:         cbor.BigIntDecodePointer,
		BinaryUnmarshaler: cbor.BinaryUnmarshalerNone,
		TextUnmarshaler:   cbor.TextUnmarshalerNone,
	}.DecMode()
	if err != nil {
		panic("wire: " + err.Error())
	}
}

// Marshal returns the Core Deterministic encoding of v.
func Marshal(v any) ([]byte, error) {
	return encMode.Marshal(v)
}

// MustMarshal is Marshal for values whose encoding cannot fail (fixed Go
// types made by this module). It panics on error: that is a programmer error.
func MustMarshal(v any) []byte {
	b, err := encMode.Marshal(v)
	if err != nil {
		panic("wire: " + err.Error())
	}
	return b
}

// Unmarshal decodes data into v strictly and then re-encodes v and compares
// it with data: input that is not exactly the canonical encoding of the
// decoded value is refused (non-shortest integers, unsorted maps, omitted
// required fields, fields present with their zero value where the type omits
// them). On error v must be discarded: the decoder may have filled it in
// part.
func Unmarshal(data []byte, v any) error {
	if len(data) > MaxSize {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrMalformed, len(data), MaxSize)
	}
	if len(data) == 0 {
		return fmt.Errorf("%w: empty input", ErrMalformed)
	}
	if err := decMode.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, trimPrefix(err))
	}
	again, err := encMode.Marshal(v)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, trimPrefix(err))
	}
	if !bytes.Equal(again, data) {
		return fmt.Errorf("%w: not in canonical form (non-shortest integer, unsorted or omitted field)", ErrMalformed)
	}
	return nil
}

// RawMessage is a CBOR data item kept as its bytes.
type RawMessage = cbor.RawMessage

// Valid reports whether data is exactly one well-formed CBOR data item
// within the strict decoder's limits. It does not check canonical form.
func Valid(data []byte) error {
	if len(data) > MaxSize {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrMalformed, len(data), MaxSize)
	}
	if err := decMode.Wellformed(data); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, trimPrefix(err))
	}
	return nil
}

// trimPrefix drops the library's "cbor: " prefix so that messages read as
// one sentence after ours.
func trimPrefix(err error) string {
	s := err.Error()
	if len(s) > 6 && s[:6] == "cbor: " {
		return s[6:]
	}
	return s
}
