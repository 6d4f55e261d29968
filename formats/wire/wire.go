// Package wire owns airlock's CBOR modes: one encoder (Core Deterministic
// Encoding, RFC 8949 §4.2.1) and one strict decoder, built once at init.
//
// Use Marshal to produce payload bytes and Unmarshal to read them. Unmarshal
// accepts only input that is the canonical encoding of what it decoded to, so
// two different byte strings never decode to the same value. Never decode
// airlock input with another mode, and never let logic run on CBOR decoded
// into an interface value.
//
// UnmarshalBulk is Unmarshal for the few kinds of code that carry device
// fleets: the same rules with room for MaxBulkSize bytes and
// MaxBulkArrayElements elements per array, and a check of the memory the
// decoded value will take before any of it is allocated. Use it only for
// those kinds; everything else keeps the small limits.
package wire

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"

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

// MaxArrayElements caps one array in Unmarshal: the longest list of any
// code but the bulk ones is its entitlements or components, 256 at most.
const MaxArrayElements = 1024

// Limits of UnmarshalBulk.
const (
	// MaxBulkSize caps the input of UnmarshalBulk: 16 MiB, the size of the
	// largest bulk code (codes.MaxBulkCodeSize), whose envelope is decoded
	// with this mode too. A 100,000-device activation is 3 to 5 MiB.
	MaxBulkSize = 16 << 20
	// MaxBulkArrayElements caps one array in UnmarshalBulk: 2^18 = 262,144
	// elements, enough for the codes.MaxActivationDevices (250,000) devices
	// of one product in one list.
	MaxBulkArrayElements = 1 << 18
	// MaxBulkExpansion caps the memory UnmarshalBulk lets the decoder
	// allocate, as a multiple of the input's size: the slices, strings and
	// byte strings of the decoded value. A valid activation of one-letter
	// device keys, the densest there is, needs about 9 times its size; with
	// keys of a dozen characters it needs about 2.
	MaxBulkExpansion = 12
)

var (
	encMode     cbor.UserBufferEncMode
	decMode     cbor.DecMode
	bulkDecMode cbor.DecMode
)

func init() {
	var err error
	opts := cbor.CoreDetEncOptions()
	// A nil slice or map encodes as an empty one, never as null, so a
	// required list has one encoding and null is refused on decoding.
	opts.NilContainers = cbor.NilContainerAsEmpty
	encMode, err = opts.UserBufferEncMode()
	if err != nil {
		panic("wire: " + err.Error())
	}
	decOpts := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		MaxNestedLevels:   8, // payloads nest at most 4 deep (code, entitlement list, entitlement, value)
		MaxArrayElements:  MaxArrayElements,
		MaxMapPairs:       64, // the widest map has a dozen fields
		UTF8:              cbor.UTF8RejectInvalid,
		IntDec:            cbor.IntDecConvertNone,
		FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
		BigIntDec:         cbor.BigIntDecodePointer,
		BinaryUnmarshaler: cbor.BinaryUnmarshalerNone,
		TextUnmarshaler:   cbor.TextUnmarshalerNone,
	}
	decMode, err = decOpts.DecMode()
	if err != nil {
		panic("wire: " + err.Error())
	}
	// The bulk mode differs only in how many elements one array may have:
	// nesting and map widths are those of every other payload.
	decOpts.MaxArrayElements = MaxBulkArrayElements
	bulkDecMode, err = decOpts.DecMode()
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
	return unmarshal(decMode, data, v)
}

// UnmarshalBulk is Unmarshal for bulk codes: input up to MaxBulkSize bytes
// and arrays up to MaxBulkArrayElements elements, with the same strictness
// and the same canonical check. Before decoding, it walks the input against
// v's type and refuses, without allocating, input that does not fit the
// type or whose decoded value would take more than MaxBulkExpansion times
// its size: the decoder allocates a whole slice as soon as it reads an
// array's length, and goes on after a bad element, so a hostile array of
// one-byte elements would otherwise cost tens of bytes per byte.
//
// v must be a pointer to a struct, slice, string or number type made of
// those; interface values are refused.
func UnmarshalBulk(data []byte, v any) error {
	if len(data) > MaxBulkSize {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrMalformed, len(data), MaxBulkSize)
	}
	if len(data) == 0 {
		return fmt.Errorf("%w: empty input", ErrMalformed)
	}
	if err := bulkDecMode.Wellformed(data); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, trimPrefix(err))
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		panic(fmt.Sprintf("wire: UnmarshalBulk into %T, want a non-nil pointer", v))
	}
	if err := checkShape(data, rv.Type().Elem(), MaxBulkExpansion*len(data)+shapeSlack); err != nil {
		return err
	}
	return unmarshal(bulkDecMode, data, v)
}

func unmarshal(dm cbor.DecMode, data []byte, v any) error {
	if len(data) == 0 {
		return fmt.Errorf("%w: empty input", ErrMalformed)
	}
	if err := dm.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, trimPrefix(err))
	}
	// Encoded into a buffer of the input's size, the canonical encoding of
	// canonical input costs one allocation of that size.
	var again bytes.Buffer
	again.Grow(len(data))
	if err := encMode.MarshalToBuffer(v, &again); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, trimPrefix(err))
	}
	if !bytes.Equal(again.Bytes(), data) {
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
