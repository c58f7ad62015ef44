package script

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"
	"unicode"

	"github.com/dop251/goja"
)

// The helpers scripts get as globals, documented in docs/scripts.md. They
// are Go functions: they cannot reach anything but their arguments.

type byteReader struct {
	name string
	size int
	read func(b []byte) goja.Value
}

// readers are the readUintN / readIntN / readFloatN helpers, each in both
// byte orders where that means something.
func (v *vmState) readers() []byteReader {
	rt := v.rt
	i := func(x int64) goja.Value { return rt.ToValue(x) }
	f := func(x float64) goja.Value { return rt.ToValue(x) }
	be, le := binary.BigEndian, binary.LittleEndian
	return []byteReader{
		{"readUint8", 1, func(b []byte) goja.Value { return i(int64(b[0])) }},
		{"readInt8", 1, func(b []byte) goja.Value { return i(int64(int8(b[0]))) }},
		{"readUint16BE", 2, func(b []byte) goja.Value { return i(int64(be.Uint16(b))) }},
		{"readUint16LE", 2, func(b []byte) goja.Value { return i(int64(le.Uint16(b))) }},
		{"readInt16BE", 2, func(b []byte) goja.Value { return i(int64(int16(be.Uint16(b)))) }},
		{"readInt16LE", 2, func(b []byte) goja.Value { return i(int64(int16(le.Uint16(b)))) }},
		{"readUint24BE", 3, func(b []byte) goja.Value { return i(int64(b[0])<<16 | int64(b[1])<<8 | int64(b[2])) }},
		{"readUint24LE", 3, func(b []byte) goja.Value { return i(int64(b[2])<<16 | int64(b[1])<<8 | int64(b[0])) }},
		{"readInt24BE", 3, func(b []byte) goja.Value { return i(signExtend(int64(b[0])<<16|int64(b[1])<<8|int64(b[2]), 24)) }},
		{"readInt24LE", 3, func(b []byte) goja.Value { return i(signExtend(int64(b[2])<<16|int64(b[1])<<8|int64(b[0]), 24)) }},
		{"readUint32BE", 4, func(b []byte) goja.Value { return i(int64(be.Uint32(b))) }},
		{"readUint32LE", 4, func(b []byte) goja.Value { return i(int64(le.Uint32(b))) }},
		{"readInt32BE", 4, func(b []byte) goja.Value { return i(int64(int32(be.Uint32(b)))) }},
		{"readInt32LE", 4, func(b []byte) goja.Value { return i(int64(int32(le.Uint32(b)))) }},
		{"readFloat32BE", 4, func(b []byte) goja.Value { return f(float64(math.Float32frombits(be.Uint32(b)))) }},
		{"readFloat32LE", 4, func(b []byte) goja.Value { return f(float64(math.Float32frombits(le.Uint32(b)))) }},
		{"readFloat64BE", 8, func(b []byte) goja.Value { return f(math.Float64frombits(be.Uint64(b))) }},
		{"readFloat64LE", 8, func(b []byte) goja.Value { return f(math.Float64frombits(le.Uint64(b))) }},
	}
}

func signExtend(x int64, bits uint) int64 {
	shift := 64 - bits
	return x << shift >> shift
}

// installHelpers defines the helpers as globals (frozen later with the
// rest of the global object).
func (v *vmState) installHelpers() error {
	rt := v.rt
	set := func(name string, fn func(goja.FunctionCall) goja.Value) error {
		return rt.Set(name, fn)
	}
	for _, r := range v.readers() {
		r := r
		if err := set(r.name, func(c goja.FunctionCall) goja.Value {
			b := v.bytesArg(r.name, c.Argument(0))
			off := v.offsetArg(r.name, c.Argument(1), r.size, len(b))
			return r.read(b[off : off+r.size])
		}); err != nil {
			return err
		}
	}
	helpers := map[string]func(goja.FunctionCall) goja.Value{
		"hexToBytes": func(c goja.FunctionCall) goja.Value {
			s := v.stringArg("hexToBytes", c.Argument(0))
			s = strings.TrimPrefix(strings.TrimPrefix(stripSpace(s), "0x"), "0X")
			b, err := hex.DecodeString(s)
			if err != nil {
				panic(v.typeError("hexToBytes: not hexadecimal: %v", err))
			}
			return v.newBytes(b)
		},
		"bytesToHex": func(c goja.FunctionCall) goja.Value {
			return rt.ToValue(hex.EncodeToString(v.bytesArg("bytesToHex", c.Argument(0))))
		},
		"base64ToBytes": func(c goja.FunctionCall) goja.Value {
			s := stripSpace(v.stringArg("base64ToBytes", c.Argument(0)))
			for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
				if b, err := enc.DecodeString(s); err == nil {
					return v.newBytes(b)
				}
			}
			panic(v.typeError("base64ToBytes: not base64"))
		},
		"bytesToBase64": func(c goja.FunctionCall) goja.Value {
			return rt.ToValue(base64.StdEncoding.EncodeToString(v.bytesArg("bytesToBase64", c.Argument(0))))
		},
		"bytesToString": func(c goja.FunctionCall) goja.Value {
			return rt.ToValue(strings.ToValidUTF8(string(v.bytesArg("bytesToString", c.Argument(0))), "\uFFFD"))
		},
		"stringToBytes": func(c goja.FunctionCall) goja.Value {
			return v.newBytes([]byte(v.stringArg("stringToBytes", c.Argument(0))))
		},
		"bits": func(c goja.FunctionCall) goja.Value {
			x := v.uint32Arg("bits", c.Argument(0))
			start := v.intArg("bits", "start", c.Argument(1), 0, 31)
			n := v.intArg("bits", "length", c.Argument(2), 1, 32-start)
			return rt.ToValue(int64(x>>uint(start)) & (1<<uint(n) - 1))
		},
		"bit": func(c goja.FunctionCall) goja.Value {
			x := v.uint32Arg("bit", c.Argument(0))
			n := v.intArg("bit", "index", c.Argument(1), 0, 31)
			return rt.ToValue(x>>uint(n)&1 == 1)
		},
		"readBits": func(c goja.FunctionCall) goja.Value {
			b := v.bytesArg("readBits", c.Argument(0))
			start := v.intArg("readBits", "bit offset", c.Argument(1), 0, len(b)*8-1)
			n := v.intArg("readBits", "length", c.Argument(2), 1, min(32, len(b)*8-start))
			var x int64
			for i := start; i < start+n; i++ {
				x = x<<1 | int64(b[i/8]>>(7-uint(i%8))&1)
			}
			return rt.ToValue(x)
		},
		"now": func(goja.FunctionCall) goja.Value {
			return rt.ToValue(time.Now().UnixMilli())
		},
	}
	for name, fn := range helpers {
		if err := set(name, fn); err != nil {
			return err
		}
	}
	return nil
}

func stripSpace(s string) string {
	if strings.IndexFunc(s, unicode.IsSpace) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

var (
	typeBytes       = reflect.TypeOf([]byte(nil))
	typeArrayBuffer = reflect.TypeOf(goja.ArrayBuffer{})
	typePromise     = reflect.TypeOf((*goja.Promise)(nil))
)

// exportBytes returns the bytes of a Uint8Array (shared) or an ArrayBuffer,
// or nil for any other object.
func exportBytes(o *goja.Object) []byte {
	switch o.ExportType() {
	case typeBytes:
		if b, ok := o.Export().([]byte); ok && b != nil {
			return b
		}
		return []byte{}
	case typeArrayBuffer:
		if ab, ok := o.Export().(goja.ArrayBuffer); ok && ab.Bytes() != nil {
			return ab.Bytes()
		}
		return []byte{}
	}
	return nil
}

// newBytes returns b as a Uint8Array (sharing b).
func (v *vmState) newBytes(b []byte) goja.Value {
	o, err := v.u8(nil, v.rt.ToValue(v.rt.NewArrayBuffer(b)))
	if err != nil {
		panic(err)
	}
	return o
}

func (v *vmState) typeError(format string, args ...any) *goja.Object {
	o, err := v.typeErr(nil, v.rt.ToValue(fmt.Sprintf(format, args...)))
	if err != nil {
		panic(err)
	}
	return o
}

func (v *vmState) rangeError(format string, args ...any) *goja.Object {
	o, err := v.rangeErr(nil, v.rt.ToValue(fmt.Sprintf(format, args...)))
	if err != nil {
		panic(err)
	}
	return o
}

// bytesArg accepts a Uint8Array (shared, not copied), an ArrayBuffer or an
// array of numbers 0 to 255.
func (v *vmState) bytesArg(fn string, a goja.Value) []byte {
	if o, ok := a.(*goja.Object); ok {
		if b := exportBytes(o); b != nil {
			return b
		}
		if o.ClassName() != "Array" {
			panic(v.typeError("%s: want a Uint8Array, an ArrayBuffer or an array of bytes, got %s", fn, typeName(a)))
		}
		if n := lengthOf(o); n > maxElements {
			panic(v.rangeError("%s: %d elements exceed the limit of %d", fn, n, maxElements))
		}
		switch x := o.Export().(type) {
		case []any:
			b := make([]byte, len(x))
			for i, e := range x {
				n, ok := toInt(e)
				if !ok || n < 0 || n > 255 {
					panic(v.typeError("%s: element %d is not a byte (0 to 255)", fn, i))
				}
				b[i] = byte(n)
			}
			return b
		}
	}
	panic(v.typeError("%s: want a Uint8Array, an ArrayBuffer or an array of bytes, got %s", fn, typeName(a)))
}

func toInt(e any) (int64, bool) {
	switch n := e.(type) {
	case int64:
		return n, true
	case float64:
		if n == math.Trunc(n) && !math.IsInf(n, 0) {
			return int64(n), true
		}
	}
	return 0, false
}

func (v *vmState) stringArg(fn string, a goja.Value) string {
	if kindOf(a) != kString {
		panic(v.typeError("%s: want a string, got %s", fn, typeName(a)))
	}
	return a.String()
}

// offsetArg checks that size bytes at offset (default 0) lie within n.
func (v *vmState) offsetArg(fn string, a goja.Value, size, n int) int {
	off := 0
	if kindOf(a) != kUndefined {
		o, ok := integer(a)
		if !ok || o < 0 {
			panic(v.rangeError("%s: offset must be a non-negative integer, got %s", fn, a.String()))
		}
		if o > int64(n) {
			o = int64(n)
		}
		off = int(o)
	}
	if off+size > n {
		panic(v.rangeError("%s: offset %d is out of range: reading %d bytes of %d", fn, off, size, n))
	}
	return off
}

func (v *vmState) intArg(fn, what string, a goja.Value, lo, hi int) int {
	i, ok := integer(a)
	if !ok || i < int64(lo) || i > int64(hi) {
		panic(v.rangeError("%s: %s must be an integer from %d to %d, got %s", fn, what, lo, hi, typeOrValue(a)))
	}
	return int(i)
}

func (v *vmState) uint32Arg(fn string, a goja.Value) uint32 {
	i, ok := integer(a)
	if !ok || i < math.MinInt32 || i > math.MaxUint32 {
		panic(v.rangeError("%s: value must be a 32-bit integer, got %s", fn, typeOrValue(a)))
	}
	return uint32(i)
}

// integer returns a number value that is a whole number.
func integer(a goja.Value) (int64, bool) {
	if kindOf(a) != kNumber {
		return 0, false
	}
	f := a.ToFloat()
	if f != math.Trunc(f) || math.IsInf(f, 0) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

func typeOrValue(a goja.Value) string {
	if k := kindOf(a); k == kNumber || k == kBool {
		return a.String()
	}
	return typeName(a)
}
