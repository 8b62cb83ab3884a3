package projector

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"
	"time"
)

// A binary codec for the bulk of a snapshot (clusters' states and operations): JSON
// decoding cost about as much as folding the events again. It walks a type's exported
// fields by reflection, compiled once per type, and keeps what JSON loses: a nil slice or
// map apart from an empty one, a nil pointer apart from a pointer to a zero value.
// Unexported fields are left out (a type's own memory is carried beside it, as
// cluster.State's is); a field it cannot carry (an interface, a channel, a func) fails the
// encoding, and the snapshot is not written.

type binCodec struct {
	enc func(e *binEncoder, v reflect.Value)
	dec func(d *binDecoder, v reflect.Value)
}

// binEncoder appends encodings to b. Short strings are written once per encoder and then
// referred to by their index: ids of orgs, users and commands, phases, versions and step
// names recur all through a frame, and a decoder that shares them allocates them once.
type binEncoder struct {
	b    []byte
	strs map[string]uint64
}

// newBinEncoder returns an encoder with room for about size bytes.
func newBinEncoder(size int) *binEncoder { return &binEncoder{b: make([]byte, 0, size)} }

// internMax is the longest string shared by index.
const internMax = 48

func (e *binEncoder) uvarint(n uint64) { e.b = binary.AppendUvarint(e.b, n) }

// str writes a string: uvarint(index<<1 | 1) for one written before, else
// uvarint(len<<1) and its bytes.
func (e *binEncoder) str(s string) {
	if len(s) <= internMax && len(s) > 0 {
		if i, ok := e.strs[s]; ok {
			e.uvarint(i<<1 | 1)
			return
		}
		if e.strs == nil {
			e.strs = make(map[string]uint64, 1<<12)
		}
		e.strs[s] = uint64(len(e.strs))
	}
	e.uvarint(uint64(len(s)) << 1)
	e.b = append(e.b, s...)
}

var (
	binCodecs   sync.Map // reflect.Type → *binCodec
	binCodecsMu sync.Mutex
	timeType    = reflect.TypeFor[time.Time]()
)

// errTruncated is what a decoder reports for input that ends too soon or says too much.
var errTruncated = errors.New("binary snapshot: cut short or corrupt")

type binDecoder struct {
	b    []byte
	err  error
	strs []string // the short strings read so far, by index
}

func (d *binDecoder) str() string {
	x := d.uvarint()
	if x&1 == 1 {
		if x>>1 >= uint64(len(d.strs)) {
			d.fail(errTruncated)
			return ""
		}
		return d.strs[x>>1]
	}
	n := x >> 1
	if n > uint64(len(d.b)) {
		d.fail(errTruncated)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	if n <= internMax && n > 0 {
		d.strs = append(d.strs, s)
	}
	return s
}

func (d *binDecoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *binDecoder) uvarint() uint64 {
	n, k := binary.Uvarint(d.b)
	if k <= 0 {
		d.fail(errTruncated)
		return 0
	}
	d.b = d.b[k:]
	return n
}

func (d *binDecoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail(errTruncated)
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

// length reads a nil-or-length prefix: 0 for nil, n+1 for length n. No length exceeds what
// is left, every element taking at least a byte.
func (d *binDecoder) length() (n int, isNil bool) {
	x := d.uvarint()
	if x == 0 {
		return 0, true
	}
	if x-1 > uint64(len(d.b)) {
		d.fail(errTruncated)
		return 0, true
	}
	return int(x - 1), false
}

// count reads a count of items, each taking at least a byte.
func (d *binDecoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail(errTruncated)
		return 0
	}
	return int(n)
}

// binCodecFor returns the codec of t, compiling it (and the codecs of the types in it).
func binCodecFor(t reflect.Type) (*binCodec, error) {
	if c, ok := binCodecs.Load(t); ok {
		return c.(*binCodec), nil
	}
	binCodecsMu.Lock()
	defer binCodecsMu.Unlock()
	building := map[reflect.Type]*binCodec{}
	c, err := compileBin(t, building)
	if err != nil {
		return nil, err
	}
	for t, c := range building {
		binCodecs.Store(t, c)
	}
	return c, nil
}

func compileBin(t reflect.Type, building map[reflect.Type]*binCodec) (*binCodec, error) {
	if c, ok := binCodecs.Load(t); ok {
		return c.(*binCodec), nil
	}
	if c, ok := building[t]; ok {
		return c, nil // a recursive type: filled in below, before it is used
	}
	c := &binCodec{}
	building[t] = c
	switch t.Kind() {
	case reflect.Bool:
		c.enc = func(e *binEncoder, v reflect.Value) {
			if v.Bool() {
				e.b = append(e.b, 1)
			} else {
				e.b = append(e.b, 0)
			}
		}
		c.dec = func(d *binDecoder, v reflect.Value) { v.SetBool(d.uvarint() != 0) }
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		c.enc = func(e *binEncoder, v reflect.Value) { e.b = binary.AppendVarint(e.b, v.Int()) }
		c.dec = func(d *binDecoder, v reflect.Value) {
			n, k := binary.Varint(d.b)
			if k <= 0 {
				d.fail(errTruncated)
				return
			}
			d.b = d.b[k:]
			v.SetInt(n)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		c.enc = func(e *binEncoder, v reflect.Value) { e.uvarint(v.Uint()) }
		c.dec = func(d *binDecoder, v reflect.Value) { v.SetUint(d.uvarint()) }
	case reflect.Float32, reflect.Float64:
		c.enc = func(e *binEncoder, v reflect.Value) { e.uvarint(math.Float64bits(v.Float())) }
		c.dec = func(d *binDecoder, v reflect.Value) { v.SetFloat(math.Float64frombits(d.uvarint())) }
	case reflect.String:
		c.enc = func(e *binEncoder, v reflect.Value) { e.str(v.String()) }
		c.dec = func(d *binDecoder, v reflect.Value) { v.SetString(d.str()) }
	case reflect.Pointer:
		elem, err := compileBin(t.Elem(), building)
		if err != nil {
			return nil, err
		}
		c.enc = func(e *binEncoder, v reflect.Value) {
			if v.IsNil() {
				e.b = append(e.b, 0)
				return
			}
			e.b = append(e.b, 1)
			elem.enc(e, v.Elem())
		}
		c.dec = func(d *binDecoder, v reflect.Value) {
			if d.uvarint() == 0 {
				return
			}
			p := reflect.New(t.Elem())
			elem.dec(d, p.Elem())
			v.Set(p)
		}
	case reflect.Slice:
		elem, err := compileBin(t.Elem(), building)
		if err != nil {
			return nil, err
		}
		c.enc = func(e *binEncoder, v reflect.Value) {
			if v.IsNil() {
				e.b = append(e.b, 0)
				return
			}
			e.uvarint(uint64(v.Len()) + 1)
			for i := range v.Len() {
				elem.enc(e, v.Index(i))
			}
		}
		c.dec = func(d *binDecoder, v reflect.Value) {
			n, isNil := d.length()
			if isNil {
				return
			}
			s := reflect.MakeSlice(t, n, n)
			for i := range n {
				elem.dec(d, s.Index(i))
			}
			v.Set(s)
		}
	case reflect.Array:
		elem, err := compileBin(t.Elem(), building)
		if err != nil {
			return nil, err
		}
		c.enc = func(e *binEncoder, v reflect.Value) {
			for i := range v.Len() {
				elem.enc(e, v.Index(i))
			}
		}
		c.dec = func(d *binDecoder, v reflect.Value) {
			for i := range v.Len() {
				elem.dec(d, v.Index(i))
			}
		}
	case reflect.Map:
		key, err := compileBin(t.Key(), building)
		if err != nil {
			return nil, err
		}
		elem, err := compileBin(t.Elem(), building)
		if err != nil {
			return nil, err
		}
		c.enc = func(e *binEncoder, v reflect.Value) {
			if v.IsNil() {
				e.b = append(e.b, 0)
				return
			}
			e.uvarint(uint64(v.Len()) + 1)
			for it := v.MapRange(); it.Next(); {
				key.enc(e, it.Key())
				elem.enc(e, it.Value())
			}
		}
		c.dec = func(d *binDecoder, v reflect.Value) {
			n, isNil := d.length()
			if isNil {
				return
			}
			m := reflect.MakeMapWithSize(t, n)
			k, e := reflect.New(t.Key()).Elem(), reflect.New(t.Elem()).Elem()
			for range n {
				k.SetZero()
				e.SetZero()
				key.dec(d, k)
				elem.dec(d, e)
				m.SetMapIndex(k, e)
			}
			v.Set(m)
		}
	case reflect.Struct:
		if t == timeType {
			c.enc = func(e *binEncoder, v reflect.Value) {
				p, err := v.Interface().(time.Time).MarshalBinary()
				if err != nil { // a zone offset no encoding keeps: fails the snapshot's check
					p = nil
				}
				e.uvarint(uint64(len(p)))
				e.b = append(e.b, p...)
			}
			c.dec = func(d *binDecoder, v reflect.Value) {
				p := d.bytes()
				if len(p) == 0 {
					return
				}
				var tm time.Time
				if err := tm.UnmarshalBinary(p); err != nil {
					d.fail(err)
					return
				}
				v.Set(reflect.ValueOf(tm))
			}
			break
		}
		type field struct {
			index int
			c     *binCodec
		}
		var fields []field
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			fc, err := compileBin(f.Type, building)
			if err != nil {
				return nil, fmt.Errorf("%s.%s: %w", t.Name(), f.Name, err)
			}
			fields = append(fields, field{i, fc})
		}
		c.enc = func(e *binEncoder, v reflect.Value) {
			for _, f := range fields {
				f.c.enc(e, v.Field(f.index))
			}
		}
		c.dec = func(d *binDecoder, v reflect.Value) {
			for _, f := range fields {
				if d.err != nil {
					return
				}
				f.c.dec(d, v.Field(f.index))
			}
		}
	default:
		delete(building, t)
		return nil, fmt.Errorf("binary snapshot: cannot carry a %s", t)
	}
	return c, nil
}

// writeBin appends v's encoding.
func writeBin[T any](e *binEncoder, v *T) error {
	c, err := binCodecFor(reflect.TypeFor[T]())
	if err != nil {
		return err
	}
	c.enc(e, reflect.ValueOf(v).Elem())
	return nil
}

// readBin decodes a T from the start of d.
func readBin[T any](d *binDecoder, v *T) error {
	c, err := binCodecFor(reflect.TypeFor[T]())
	if err != nil {
		return err
	}
	c.dec(d, reflect.ValueOf(v).Elem())
	return d.err
}
