package modbus

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"strconv"
)

// Type is the data type of a value held in Modbus registers or bits.
type Type string

// Data types of a register map entry.
const (
	Int16   Type = "int16"
	Uint16  Type = "uint16"
	Int32   Type = "int32"
	Uint32  Type = "uint32"
	Float32 Type = "float32"
	Float64 Type = "float64"
	// Bool is a coil or discrete input, or a register read as "not zero".
	Bool Type = "bool"
)

// typeNames lists the data types in the order the specs show them.
var typeNames = []string{string(Int16), string(Uint16), string(Int32), string(Uint32), string(Float32), string(Float64), string(Bool)}

// Registers is the number of 16-bit registers a value of type t occupies
// (0 for an unknown type).
func (t Type) Registers() int {
	switch t {
	case Int16, Uint16, Bool:
		return 1
	case Int32, Uint32, Float32:
		return 2
	case Float64:
		return 4
	}
	return 0
}

// Order is a word or byte order.
type Order string

// Orders. Modbus itself is big-endian: the high byte of a register comes
// first, and most devices put the high word of a 32-bit value first.
const (
	Big    Order = "big"
	Little Order = "little"
)

var orderNames = []string{string(Big), string(Little)}

// Format says how one value is laid out in registers and scaled: the
// signal's value is raw × Scale + Offset. With WordOrder Little the low
// word comes first (a "CDAB" float); with ByteOrder Little the two bytes of
// each register are swapped ("BADC"); both give "DCBA".
type Format struct {
	Type      Type
	WordOrder Order
	ByteOrder Order
	// Scale multiplies the raw value; 0 means 1.
	Scale  float64
	Offset float64
}

func (f Format) scaled() bool { return (f.Scale != 0 && f.Scale != 1) || f.Offset != 0 }

// Decode turns the registers of one value, as read (big-endian words, in
// address order), into the value of its signal: int64 for int16 and int32,
// uint64 for uint16 and uint32, float64 for floats and for any scaled
// value, bool for bool (a register that is not zero). A float that is NaN or
// infinite, before or after scaling, decodes to nil (JSON null), so that
// every result encodes as JSON. Decode is pure: it only fails when words
// does not hold exactly the registers of the type.
func Decode(words []uint16, f Format) (any, error) {
	n := f.Type.Registers()
	if n == 0 {
		return nil, fmt.Errorf("decode: unknown type %q", f.Type)
	}
	if len(words) != n {
		return nil, fmt.Errorf("decode %s: want %d registers, got %d", f.Type, n, len(words))
	}
	raw := assemble(words, f.WordOrder == Little, f.ByteOrder == Little)
	switch f.Type {
	case Bool:
		return raw != 0, nil
	case Int16:
		return scaleInt(int64(int16(raw)), f), nil
	case Int32:
		return scaleInt(int64(int32(raw)), f), nil
	case Uint16, Uint32:
		if !f.scaled() {
			return raw, nil
		}
		return finite(applyScale(float64(raw), f)), nil
	case Float32:
		x := float64(math.Float32frombits(uint32(raw)))
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, nil
		}
		x = shortest32(x)
		if !f.scaled() {
			return x, nil
		}
		return finite(applyScale(x, f)), nil
	default: // Float64
		x := math.Float64frombits(raw)
		if !f.scaled() {
			return finite(x), nil
		}
		return finite(applyScale(x, f)), nil
	}
}

// DecodeBit is Decode for a coil or discrete input.
func DecodeBit(b bool) any { return b }

func scaleInt(i int64, f Format) any {
	if !f.scaled() {
		return i
	}
	return finite(applyScale(float64(i), f))
}

// applyScale computes x × scale + offset. A scale that is the inverse of a
// whole number (0.1, 0.01) divides by that number instead, so that 3 × 0.1
// reads 0.3, not 0.30000000000000004.
func applyScale(x float64, f Format) float64 {
	if f.Scale != 0 && f.Scale != 1 {
		if k, ok := inverse(f.Scale); ok {
			x /= k
		} else {
			x *= f.Scale
		}
	}
	return x + f.Offset
}

// unscale is the inverse of applyScale: (x - offset) / scale.
func unscale(x float64, f Format) float64 {
	x -= f.Offset
	if f.Scale != 0 && f.Scale != 1 {
		if k, ok := inverse(f.Scale); ok {
			x *= k
		} else {
			x /= f.Scale
		}
	}
	return x
}

// inverse returns k when scale is 1/k for a whole k > 1.
func inverse(scale float64) (float64, bool) {
	if scale <= 0 || scale >= 1 {
		return 0, false
	}
	k := math.Round(1 / scale)
	if k > 1 && k < 1e15 && math.Abs(1/scale-k) < 1e-9*k {
		return k, true
	}
	return 0, false
}

// finite returns x, or nil for NaN and infinities (JSON has neither).
func finite(x float64) any {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return x
}

// shortest32 returns the float64 whose decimal form is the shortest one that
// identifies the float32 x: float32 1234.1 reads 1234.1, not
// 1234.0999755859375.
func shortest32(x float64) float64 {
	y, err := strconv.ParseFloat(strconv.FormatFloat(x, 'g', -1, 32), 64)
	if err != nil {
		return x
	}
	return y
}

// assemble joins n big-endian registers into one unsigned value, honouring
// the word and byte order.
func assemble(words []uint16, wordLittle, byteLittle bool) uint64 {
	n := len(words)
	var raw uint64
	for i := range n {
		w := words[i]
		if wordLittle {
			w = words[n-1-i]
		}
		if byteLittle {
			w = bits.ReverseBytes16(w)
		}
		raw = raw<<16 | uint64(w)
	}
	return raw
}

// disassemble is the inverse of assemble.
func disassemble(raw uint64, n int, wordLittle, byteLittle bool) []uint16 {
	out := make([]uint16, n)
	for i := range n {
		w := uint16(raw >> (16 * (n - 1 - i)))
		if byteLittle {
			w = bits.ReverseBytes16(w)
		}
		j := i
		if wordLittle {
			j = n - 1 - i
		}
		out[j] = w
	}
	return out
}

// Encode turns a value into the registers that hold it, the inverse of
// Decode: the raw value is (v - Offset) / Scale, rounded to the nearest
// whole number for integer types. v may be a bool, a Go integer or float, or
// a json.Number; a number that does not fit the type is an error, never
// wrapped around. For type bool any number but 0, or true, writes 1.
func Encode(v any, f Format) ([]uint16, error) {
	n := f.Type.Registers()
	if n == 0 {
		return nil, fmt.Errorf("encode: unknown type %q", f.Type)
	}
	raw, err := rawOf(v, f)
	if err != nil {
		return nil, err
	}
	return disassemble(raw, n, f.WordOrder == Little, f.ByteOrder == Little), nil
}

// EncodeBit turns a value into the state of a coil: true, or a number that
// is not 0, is on.
func EncodeBit(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case nil:
		return false, fmt.Errorf("want a bool or a number, got null")
	}
	num, err := numberOf(v)
	if err != nil {
		return false, err
	}
	return num.f != 0, nil
}

// number is a value to encode: its float value, and its exact integer value
// when it has one.
type number struct {
	f       float64
	i       int64
	u       uint64
	isInt   bool // i holds the exact value
	isUint  bool // u holds the exact value
	literal string
}

func numberOf(v any) (number, error) {
	switch x := v.(type) {
	case bool:
		if x {
			return number{f: 1, i: 1, u: 1, isInt: true, isUint: true, literal: "true"}, nil
		}
		return number{isInt: true, isUint: true, literal: "false"}, nil
	case json.Number:
		s := string(x)
		n := number{literal: s}
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			n.i, n.isInt = i, true
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			n.u, n.isUint = u, true
		}
		fl, err := strconv.ParseFloat(s, 64)
		if err != nil && !n.isInt && !n.isUint {
			return number{}, fmt.Errorf("want a number, got %q", s)
		}
		n.f = fl
		return n, nil
	case float64:
		return floatNumber(x), nil
	case float32:
		return floatNumber(shortest32(float64(x))), nil
	case int:
		return intNumber(int64(x)), nil
	case int64:
		return intNumber(x), nil
	case int32:
		return intNumber(int64(x)), nil
	case uint64:
		n := number{f: float64(x), u: x, isUint: true, literal: strconv.FormatUint(x, 10)}
		if x <= math.MaxInt64 {
			n.i, n.isInt = int64(x), true
		}
		return n, nil
	case uint32:
		return intNumber(int64(x)), nil
	case uint16:
		return intNumber(int64(x)), nil
	case nil:
		return number{}, fmt.Errorf("want a number, got null")
	case string:
		return number{}, fmt.Errorf("want a number, got the string %q", x)
	}
	return number{}, fmt.Errorf("want a number, got %T", v)
}

func intNumber(i int64) number {
	n := number{f: float64(i), i: i, isInt: true, literal: strconv.FormatInt(i, 10)}
	if i >= 0 {
		n.u, n.isUint = uint64(i), true
	}
	return n
}

func floatNumber(x float64) number {
	n := number{f: x, literal: strconv.FormatFloat(x, 'g', -1, 64)}
	if x == math.Trunc(x) && x >= math.MinInt64 && x < math.MaxInt64 {
		n.i, n.isInt = int64(x), true
	}
	if x == math.Trunc(x) && x >= 0 && x < math.MaxUint64 {
		n.u, n.isUint = uint64(x), true
	}
	return n
}

// rawOf converts v to the raw bits of type f.Type.
func rawOf(v any, f Format) (uint64, error) {
	num, err := numberOf(v)
	if err != nil {
		return 0, err
	}
	if f.Type == Bool {
		if num.f != 0 || (num.isInt && num.i != 0) || (num.isUint && num.u != 0) {
			return 1, nil
		}
		return 0, nil
	}
	x := num.f
	if f.scaled() {
		x = unscale(x, f)
		num.isInt, num.isUint = false, false
	}
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, fmt.Errorf("value %s is not a finite number", num.literal)
	}
	switch f.Type {
	case Float32:
		f32 := float32(x) // rounds to nearest: MaxFloat32's shortest decimal fits
		if math.IsInf(float64(f32), 0) {
			return 0, fmt.Errorf("value %s does not fit float32", num.literal)
		}
		return uint64(math.Float32bits(f32)), nil
	case Float64:
		return math.Float64bits(x), nil
	}
	lo, hi := intRange(f.Type)
	switch {
	case num.isInt && num.i >= 0 && num.isUint:
		if num.u > uint64(hi) {
			return 0, outOfRange(num, f)
		}
		return num.u, nil
	case num.isInt:
		if num.i < lo || num.i > hi {
			return 0, outOfRange(num, f)
		}
		return uint64(num.i) & mask(f.Type), nil
	case num.isUint:
		return 0, outOfRange(num, f) // above MaxInt64: fits none of our types
	}
	r := math.Round(x)
	if r < float64(lo) || r > float64(hi) {
		return 0, outOfRange(num, f)
	}
	return uint64(int64(r)) & mask(f.Type), nil
}

func outOfRange(num number, f Format) error {
	if f.scaled() {
		return fmt.Errorf("value %s does not fit %s after scale %g and offset %g", num.literal, f.Type, f.Scale, f.Offset)
	}
	return fmt.Errorf("value %s does not fit %s", num.literal, f.Type)
}

// intRange is the range of an integer type.
func intRange(t Type) (lo, hi int64) {
	switch t {
	case Int16:
		return math.MinInt16, math.MaxInt16
	case Uint16:
		return 0, math.MaxUint16
	case Int32:
		return math.MinInt32, math.MaxInt32
	default: // Uint32
		return 0, math.MaxUint32
	}
}

func mask(t Type) uint64 {
	if t.Registers() == 1 {
		return 0xffff
	}
	return 0xffffffff
}
