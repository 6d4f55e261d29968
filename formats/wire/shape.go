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
	if err := w.value(planOf(t)); err != nil {
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

func (w *shapeWalk) mismatch(at int, major byte, p *plan) error {
	return w.errorf("%s at byte %d where %s is expected", majorNames[major], at, p.typ)
}

// value walks the next item as a value of plan p's type.
func (w *shapeWalk) value(p *plan) error {
	if p.raw {
		// A RawMessage keeps a copy of the item's bytes.
		start := w.off
		if err := w.skip(); err != nil {
			return err
		}
		return w.spend(uint64(w.off - start))
	}
	if p.kind == reflect.Pointer {
		if w.off < len(w.data) && (w.data[w.off] == 0xf6 || w.data[w.off] == 0xf7) {
			w.off++ // null or undefined: a nil pointer
			return nil
		}
		if err := w.spend(p.elemSize); err != nil {
			return err
		}
		return w.value(p.elem)
	}
	at := w.off
	major, arg, err := w.head()
	if err != nil {
		return err
	}
	switch p.kind {
	case reflect.Bool:
		if major != majorSimple || (arg != 20 && arg != 21) {
			return w.mismatch(at, major, p)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		// -1-arg fits when arg does: the ranges are symmetric that way.
		if (major != majorUint && major != majorNint) || arg > p.max {
			return w.rangeOrMismatch(at, major, p)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if major != majorUint || arg > p.max {
			return w.rangeOrMismatch(at, major, p)
		}
	case reflect.String:
		if major != majorText {
			return w.mismatch(at, major, p)
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
		if p.bytes {
			if major != majorBytes {
				return w.mismatch(at, major, p)
			}
			if _, err := w.content(arg); err != nil {
				return err
			}
			return w.spend(arg)
		}
		if major != majorArray {
			return w.mismatch(at, major, p)
		}
		if p.elemSize > 0 && arg > (w.limit-w.cost)/p.elemSize {
			return w.overBudget()
		}
		if err := w.spend(arg * p.elemSize); err != nil {
			return err
		}
		for range arg {
			if err := w.value(p.elem); err != nil {
				return err
			}
		}
	case reflect.Struct:
		return w.structValue(at, major, arg, p)
	}
	return nil
}

func (w *shapeWalk) rangeOrMismatch(at int, major byte, p *plan) error {
	if major == majorUint || major == majorNint {
		return w.errorf("integer at byte %d is out of the range of %s", at, p.typ)
	}
	return w.mismatch(at, major, p)
}

func (w *shapeWalk) structValue(at int, major byte, arg uint64, p *plan) error {
	if p.toArray {
		if major != majorArray {
			return w.mismatch(at, major, p)
		}
		if arg != uint64(len(p.fields)) {
			return w.errorf("array of %d elements at byte %d where %s, an array of %d, is expected", arg, at, p.typ, len(p.fields))
		}
		for _, f := range p.fields {
			if err := w.value(f); err != nil {
				return err
			}
		}
		return nil
	}
	if major != majorMap {
		return w.mismatch(at, major, p)
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
				return w.errorf("map key at byte %d of %s is out of range", kat, p.typ)
			}
			n := int64(karg)
			if kmajor == majorNint {
				n = -1 - n
			}
			i, ok = p.byInt[n]
			if !ok {
				key = strconv.FormatInt(n, 10)
			}
		case majorText:
			b, err := w.content(karg)
			if err != nil {
				return err
			}
			i, ok = p.byName[string(b)]
			if !ok {
				key = strconv.Quote(string(b))
			}
		default:
			return w.errorf("%s as a map key at byte %d of %s", majorNames[kmajor], kat, p.typ)
		}
		if !ok {
			return w.errorf("unknown field %s in %s", key, p.typ)
		}
		if seen&(1<<i) != 0 {
			return w.errorf("duplicate map key %s in %s", p.keys[i], p.typ)
		}
		seen |= 1 << i
		if err := w.value(p.fields[i]); err != nil {
			return err
		}
	}
	return nil
}

// A plan is what the walk needs of a Go type, worked out once: its kind
// and range, the size of a slice's elements, and for a struct its encoded
// fields in order and how map keys name them.
type plan struct {
	typ      reflect.Type
	kind     reflect.Kind
	raw      bool   // a cbor.Unmarshaler such as RawMessage: any item, copied
	max      uint64 // integers: the largest argument that fits
	bytes    bool   // a byte slice
	elem     *plan  // slices and pointers
	elemSize uint64

	toArray bool
	fields  []*plan
	keys    []string // fields' keys, for messages
	byInt   map[int64]int
	byName  map[string]int
}

var plans sync.Map // reflect.Type → *plan

func planOf(t reflect.Type) *plan {
	if p, ok := plans.Load(t); ok {
		return p.(*plan)
	}
	p := makePlan(t, map[reflect.Type]*plan{})
	got, _ := plans.LoadOrStore(t, p)
	return got.(*plan)
}

// makePlan reads a type as the cbor package does for the types this module
// decodes: exported struct fields, `cbor:"-"` skipped, `keyasint` integer
// keys, a `toarray` option on any field. Embedded fields, which the cbor
// package flattens, interfaces, maps, arrays and floats are not supported:
// no bulk code has them, and decoding into an interface would bypass every
// rule of the type.
func makePlan(t reflect.Type, making map[reflect.Type]*plan) *plan {
	if p, ok := making[t]; ok {
		return p
	}
	p := &plan{typ: t, kind: t.Kind()}
	making[t] = p
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		p.raw = true
		return p
	}
	switch p.kind {
	case reflect.Bool, reflect.String:
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		p.max = uint64(math.MaxInt64) >> (64 - t.Bits())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		p.max = uint64(math.MaxUint64) >> (64 - t.Bits())
	case reflect.Pointer:
		p.elem, p.elemSize = makePlan(t.Elem(), making), uint64(t.Elem().Size())
	case reflect.Slice:
		p.bytes = t.Elem().Kind() == reflect.Uint8
		p.elem, p.elemSize = makePlan(t.Elem(), making), uint64(t.Elem().Size())
	case reflect.Struct:
		p.byInt, p.byName = map[int64]int{}, map[string]int{}
		for j := range t.NumField() {
			f := t.Field(j)
			tag := f.Tag.Get("cbor")
			name, opts, _ := strings.Cut(tag, ",")
			if strings.Contains(","+opts+",", ",toarray,") {
				p.toArray = true
			}
			if !f.IsExported() || tag == "-" {
				continue
			}
			if f.Anonymous {
				panic(fmt.Sprintf("wire: UnmarshalBulk cannot check the embedded field %s of %s", f.Name, t))
			}
			i := len(p.fields)
			p.fields = append(p.fields, makePlan(f.Type, making))
			switch {
			case strings.Contains(","+opts+",", ",keyasint,"):
				n, err := strconv.ParseInt(name, 10, 64)
				if err != nil {
					panic(fmt.Sprintf("wire: field %s of %s: keyasint with key %q", f.Name, t, name))
				}
				p.byInt[n] = i
				p.keys = append(p.keys, name)
			case name != "":
				p.byName[name] = i
				p.keys = append(p.keys, strconv.Quote(name))
			default:
				p.byName[f.Name] = i
				p.keys = append(p.keys, strconv.Quote(f.Name))
			}
		}
		if len(p.fields) > 64 {
			panic(fmt.Sprintf("wire: UnmarshalBulk cannot check %s: more than 64 fields", t))
		}
	default:
		panic(fmt.Sprintf("wire: UnmarshalBulk cannot check a %s", t))
	}
	return p
}
