package wire

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
)

// shapeSlack is added to the memory budget of UnmarshalBulk, so that a
// small input, where the fixed cost of a few structs dominates, is never
// refused for it.
const shapeSlack = 4 << 10

var unmarshalerType = reflect.TypeFor[cbor.Unmarshaler]()

// A shapeWalk reads well-formed CBOR against a Go type the way the strict
// decoder will, without allocating: it refuses the first item of the wrong
// type, range or map key, and adds up the bytes the decoder will allocate
// for slices, strings and byte strings, refusing input whose sum passes
// limit. The decoder itself keeps going after a bad element and allocates a
// whole slice as soon as it reads an array's length; the walk makes sure it
// only ever sees input it decodes without error, and whose value is of a
// size proportionate to it.
//
// The input must have passed Wellformed with the bulk mode: the walk relies
// on its nesting, length and size limits, and on definite lengths only.
type shapeWalk struct {
	data  []byte
	off   int
	cost  uint64
	limit uint64
}

func checkShape(data []byte, t reflect.Type, limit int) error {
	w := &shapeWalk{data: data, limit: uint64(limit)}
	if err := w.value(t); err != nil {
		return err
	}
	if w.off != len(w.data) {
		return w.errorf("%d bytes after the data item", len(w.data)-w.off)
	}
	return nil
}

func (w *shapeWalk) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// spend counts n bytes of decoded value.
func (w *shapeWalk) spend(n uint64) error {
	if n > w.limit-w.cost {
		return w.overBudget()
	}
	w.cost += n
	return nil
}

func (w *shapeWalk) overBudget() error {
	return w.errorf("%d bytes would decode to more than %d bytes of values (%d times their size)", len(w.data), w.limit, MaxBulkExpansion)
}

// CBOR major types (RFC 8949 §3.1).
const (
	majorUint   = 0
	majorNint   = 1
	majorBytes  = 2
	majorText   = 3
	majorArray  = 4
	majorMap    = 5
	majorTag    = 6
	majorSimple = 7
)

var majorNames = [8]string{"an unsigned integer", "a negative integer", "a byte string", "a text string", "an array", "a map", "a tag", "a simple value or float"}

// head reads the initial byte and argument of the next item.
func (w *shapeWalk) head() (major byte, arg uint64, err error) {
	if w.off >= len(w.data) {
		return 0, 0, w.errorf("unexpected end of data")
	}
	ib := w.data[w.off]
	w.off++
	major, ai := ib>>5, ib&0x1f
	switch {
	case ai < 24:
		return major, uint64(ai), nil
	case ai <= 27:
		n := 1 << (ai - 24)
		if len(w.data)-w.off < n {
			return 0, 0, w.errorf("unexpected end of data")
		}
		for _, b := range w.data[w.off : w.off+n] {
			arg = arg<<8 | uint64(b)
		}
		w.off += n
		return major, arg, nil
	}
	return 0, 0, w.errorf("indefinite length or reserved value at byte %d", w.off-1)
}

// content skips the n bytes of a byte or text string.
func (w *shapeWalk) content(n uint64) ([]byte, error) {
	if n > uint64(len(w.data)-w.off) {
		return nil, w.errorf("unexpected end of data")
	}
	b := w.data[w.off : w.off+int(n)]
	w.off += int(n)
	return b, nil
}

// skip passes over the next item.
func (w *shapeWalk) skip() error {
	major, arg, err := w.head()
	if err != nil {
		return err
	}
	switch major {
	case majorBytes, majorText:
		_, err = w.content(arg)
		return err
	case majorArray:
		for range arg {
			if err := w.skip(); err != nil {
				return err
			}
		}
	case majorMap:
		for range 2 * arg {
			if err := w.skip(); err != nil {
				return err
			}
		}
	case majorTag:
		return w.skip()
	}
	return nil
}

func (w *shapeWalk) mismatch(at int, major byte, t reflect.Type) error {
	return w.errorf("%s at byte %d where %s is expected", majorNames[major], at, t)
}

// value walks the next item as a value of type t.
func (w *shapeWalk) value(t reflect.Type) error {
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		// A RawMessage keeps a copy of the item's bytes.
		start := w.off
		if err := w.skip(); err != nil {
			return err
		}
		return w.spend(uint64(w.off - start))
	}
	if t.Kind() == reflect.Pointer {
		if w.off < len(w.data) && (w.data[w.off] == 0xf6 || w.data[w.off] == 0xf7) {
			w.off++ // null or undefined: a nil pointer
			return nil
		}
		if err := w.spend(uint64(t.Elem().Size())); err != nil {
			return err
		}
		return w.value(t.Elem())
	}
	at := w.off
	major, arg, err := w.head()
	if err != nil {
		return err
	}
	switch t.Kind() {
	case reflect.Bool:
		if major != majorSimple || (arg != 20 && arg != 21) {
			return w.mismatch(at, major, t)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		// -1-arg fits when arg does: the ranges are symmetric that way.
		if (major != majorUint && major != majorNint) || arg > uint64(math.MaxInt64)>>(64-t.Bits()) {
			return w.rangeOrMismatch(at, major, arg, t)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if major != majorUint || arg > uint64(math.MaxUint64)>>(64-t.Bits()) {
			return w.rangeOrMismatch(at, major, arg, t)
		}
	case reflect.String:
		if major != majorText {
			return w.mismatch(at, major, t)
		}
		b, err := w.content(arg)
		if err != nil {
			return err
		}
		if !utf8.Valid(b) {
			return w.errorf("invalid UTF-8 in the text string at byte %d", at)
		}
		return w.spend(arg)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			if major != majorBytes {
				return w.mismatch(at, major, t)
			}
			if _, err := w.content(arg); err != nil {
				return err
			}
			return w.spend(arg)
		}
		if major != majorArray {
			return w.mismatch(at, major, t)
		}
		size := uint64(t.Elem().Size())
		if size > 0 && arg > (w.limit-w.cost)/size {
			return w.overBudget()
		}
		if err := w.spend(arg * size); err != nil {
			return err
		}
		for range arg {
			if err := w.value(t.Elem()); err != nil {
				return err
			}
		}
	case reflect.Struct:
		return w.structValue(at, major, arg, t)
	default:
		// Interfaces, maps, floats, arrays: no bulk code has them, and
		// decoding into an interface would bypass every rule of the type.
		panic(fmt.Sprintf("wire: UnmarshalBulk cannot check a %s", t))
	}
	return nil
}

func (w *shapeWalk) rangeOrMismatch(at int, major byte, arg uint64, t reflect.Type) error {
	if major == majorUint || major == majorNint {
		return w.errorf("integer at byte %d is out of the range of %s", at, t)
	}
	return w.mismatch(at, major, t)
}

func (w *shapeWalk) structValue(at int, major byte, arg uint64, t reflect.Type) error {
	s := shapeOf(t)
	if s.toArray {
		if major != majorArray {
			return w.mismatch(at, major, t)
		}
		if arg != uint64(len(s.types)) {
			return w.errorf("array of %d elements at byte %d where %s, an array of %d, is expected", arg, at, t, len(s.types))
		}
		for _, ft := range s.types {
			if err := w.value(ft); err != nil {
				return err
			}
		}
		return nil
	}
	if major != majorMap {
		return w.mismatch(at, major, t)
	}
	var seen uint64
	for range arg {
		kat := w.off
		kmajor, karg, err := w.head()
		if err != nil {
			return err
		}
		var i int
		var ok bool
		var key string
		switch kmajor {
		case majorUint, majorNint:
			if karg > math.MaxInt64 {
				return w.errorf("map key at byte %d of %s is out of range", kat, t)
			}
			n := int64(karg)
			if kmajor == majorNint {
				n = -1 - n
			}
			i, ok = s.byInt[n]
			key = strconv.FormatInt(n, 10)
		case majorText:
			b, err := w.content(karg)
			if err != nil {
				return err
			}
			i, ok = s.byName[string(b)]
			key = strconv.Quote(string(b))
		default:
			return w.errorf("%s as a map key at byte %d of %s", majorNames[kmajor], kat, t)
		}
		if !ok {
			return w.errorf("unknown field %s in %s", key, t)
		}
		if seen&(1<<i) != 0 {
			return w.errorf("duplicate map key %s in %s", key, t)
		}
		seen |= 1 << i
		if err := w.value(s.types[i]); err != nil {
			return err
		}
	}
	return nil
}

// A structShape is what the walk needs of a struct type: its encoded
// fields in order, and how map keys name them.
type structShape struct {
	toArray bool
	types   []reflect.Type
	byInt   map[int64]int
	byName  map[string]int
}

var shapes sync.Map // reflect.Type → *structShape

// shapeOf reads a struct's fields as the cbor package does for the types
// this module decodes: exported fields, `cbor:"-"` skipped, `keyasint`
// integer keys, a `toarray` option on any field. Embedded fields, which the
// cbor package flattens, are not supported.
func shapeOf(t reflect.Type) *structShape {
	if s, ok := shapes.Load(t); ok {
		return s.(*structShape)
	}
	s := &structShape{byInt: map[int64]int{}, byName: map[string]int{}}
	for j := range t.NumField() {
		f := t.Field(j)
		tag := f.Tag.Get("cbor")
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",toarray,") {
			s.toArray = true
		}
		if !f.IsExported() || tag == "-" {
			continue
		}
		if f.Anonymous {
			panic(fmt.Sprintf("wire: UnmarshalBulk cannot check the embedded field %s of %s", f.Name, t))
		}
		i := len(s.types)
		s.types = append(s.types, f.Type)
		switch {
		case strings.Contains(","+opts+",", ",keyasint,"):
			n, err := strconv.ParseInt(name, 10, 64)
			if err != nil {
				panic(fmt.Sprintf("wire: field %s of %s: keyasint with key %q", f.Name, t, name))
			}
			s.byInt[n] = i
		case name != "":
			s.byName[name] = i
		default:
			s.byName[f.Name] = i
		}
	}
	if len(s.types) > 64 {
		panic(fmt.Sprintf("wire: UnmarshalBulk cannot check %s: more than 64 fields", t))
	}
	got, _ := shapes.LoadOrStore(t, s)
	return got.(*structShape)
}
