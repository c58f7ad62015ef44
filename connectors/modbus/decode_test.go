package modbus

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The words below are written by hand from the IEEE 754 and two's
// complement encodings, so that Decode and Encode are checked against
// something other than themselves.
func TestDecode(t *testing.T) {
	f := func(typ Type, word, byt Order) Format { return Format{Type: typ, WordOrder: word, ByteOrder: byt} }
	cases := []struct {
		name  string
		words []uint16
		f     Format
		want  any
	}{
		{"int16 big", []uint16{0xFFFE}, f(Int16, Big, Big), int64(-2)},
		{"int16 byte little", []uint16{0xFEFF}, f(Int16, Big, Little), int64(-2)},
		{"int16 min", []uint16{0x8000}, f(Int16, Big, Big), int64(-32768)},
		{"uint16 big", []uint16{0x1234}, f(Uint16, Big, Big), uint64(0x1234)},
		{"uint16 byte little", []uint16{0x3412}, f(Uint16, Big, Little), uint64(0x1234)},
		{"uint16 word order has no effect", []uint16{0x1234}, f(Uint16, Little, Big), uint64(0x1234)},
		{"int32 ABCD", []uint16{0xF8A4, 0x32EB}, f(Int32, Big, Big), int64(-123456789)},
		{"int32 CDAB", []uint16{0x32EB, 0xF8A4}, f(Int32, Little, Big), int64(-123456789)},
		{"int32 BADC", []uint16{0xA4F8, 0xEB32}, f(Int32, Big, Little), int64(-123456789)},
		{"int32 DCBA", []uint16{0xEB32, 0xA4F8}, f(Int32, Little, Little), int64(-123456789)},
		{"uint32 ABCD", []uint16{0xEE6B, 0x2800}, f(Uint32, Big, Big), uint64(4000000000)},
		{"uint32 CDAB", []uint16{0x2800, 0xEE6B}, f(Uint32, Little, Big), uint64(4000000000)},
		{"uint32 BADC", []uint16{0x6BEE, 0x0028}, f(Uint32, Big, Little), uint64(4000000000)},
		{"uint32 DCBA", []uint16{0x0028, 0x6BEE}, f(Uint32, Little, Little), uint64(4000000000)},
		{"float32 ABCD", []uint16{0x449A, 0x5000}, f(Float32, Big, Big), 1234.5},
		{"float32 CDAB", []uint16{0x5000, 0x449A}, f(Float32, Little, Big), 1234.5},
		{"float32 BADC", []uint16{0x9A44, 0x0050}, f(Float32, Big, Little), 1234.5},
		{"float32 DCBA", []uint16{0x0050, 0x9A44}, f(Float32, Little, Little), 1234.5},
		{"float32 shortest decimal", []uint16{0x3DCC, 0xCCCD}, f(Float32, Big, Big), 0.1},
		{"float32 NaN is null", []uint16{0x7FC0, 0x0000}, f(Float32, Big, Big), nil},
		{"float32 +Inf is null", []uint16{0x7F80, 0x0000}, f(Float32, Big, Big), nil},
		{"float64 ABCD", []uint16{0x3FF0, 0, 0, 0}, f(Float64, Big, Big), 1.0},
		{"float64 CDAB", []uint16{0, 0, 0, 0x3FF0}, f(Float64, Little, Big), 1.0},
		{"float64 BADC", []uint16{0xF03F, 0, 0, 0}, f(Float64, Big, Little), 1.0},
		{"float64 DCBA", []uint16{0, 0, 0, 0xF03F}, f(Float64, Little, Little), 1.0},
		{"float64 -2.5", []uint16{0xC004, 0, 0, 0}, f(Float64, Big, Big), -2.5},
		{"float64 -Inf is null", []uint16{0xFFF0, 0, 0, 0}, f(Float64, Big, Big), nil},
		{"bool zero", []uint16{0}, f(Bool, Big, Big), false},
		{"bool not zero", []uint16{0x0100}, f(Bool, Big, Big), true},
		{"scale and offset", []uint16{215}, Format{Type: Int16, Scale: 0.1, Offset: -10}, 11.5},
		{"scale by a tenth reads cleanly", []uint16{3}, Format{Type: Uint16, Scale: 0.1}, 0.3},
		{"scale by a hundredth", []uint16{0x0000, 0x3039}, Format{Type: Uint32, Scale: 0.01}, 123.45},
		{"negative scaled", []uint16{0xFF9C}, Format{Type: Int16, Scale: 2, Offset: 0.5}, -199.5},
		{"scaled float", []uint16{0x449A, 0x5000}, Format{Type: Float32, Scale: 2, Offset: 1}, 2470.0},
		{"offset only", []uint16{100}, Format{Type: Uint16, Offset: -273}, -173.0},
		{"scale 1 keeps integers", []uint16{7}, Format{Type: Int16, Scale: 1}, int64(7)},
		{"bool ignores scale", []uint16{1}, Format{Type: Bool, Scale: 10, Offset: 3}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Decode(c.words, c.f)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Decode(%#04x, %+v) = %#v (%T), want %#v (%T)", c.words, c.f, got, got, c.want, c.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, c := range []struct {
		words []uint16
		f     Format
		want  string
	}{
		{[]uint16{1}, Format{Type: Float32}, "decode float32: want 2 registers, got 1"},
		{[]uint16{1, 2, 3}, Format{Type: Float64}, "decode float64: want 4 registers, got 3"},
		{nil, Format{Type: Int16}, "decode int16: want 1 registers, got 0"},
		{[]uint16{1}, Format{Type: "int8"}, `decode: unknown type "int8"`},
	} {
		if _, err := Decode(c.words, c.f); err == nil || err.Error() != c.want {
			t.Errorf("Decode(%v, %+v) error = %v, want %q", c.words, c.f, err, c.want)
		}
	}
}

func TestEncode(t *testing.T) {
	f := func(typ Type, word, byt Order) Format { return Format{Type: typ, WordOrder: word, ByteOrder: byt} }
	cases := []struct {
		name string
		v    any
		f    Format
		want []uint16
	}{
		{"int16", -2.0, f(Int16, Big, Big), []uint16{0xFFFE}},
		{"int16 byte little", int64(-2), f(Int16, Big, Little), []uint16{0xFEFF}},
		{"uint16 from json", json.Number("65535"), f(Uint16, Big, Big), []uint16{0xFFFF}},
		{"int32 ABCD", json.Number("-123456789"), f(Int32, Big, Big), []uint16{0xF8A4, 0x32EB}},
		{"int32 CDAB", -123456789.0, f(Int32, Little, Big), []uint16{0x32EB, 0xF8A4}},
		{"int32 BADC", -123456789, f(Int32, Big, Little), []uint16{0xA4F8, 0xEB32}},
		{"int32 DCBA", int64(-123456789), f(Int32, Little, Little), []uint16{0xEB32, 0xA4F8}},
		{"uint32 max", json.Number("4294967295"), f(Uint32, Big, Big), []uint16{0xFFFF, 0xFFFF}},
		{"uint32 DCBA", uint64(4000000000), f(Uint32, Little, Little), []uint16{0x0028, 0x6BEE}},
		{"float32 ABCD", 1234.5, f(Float32, Big, Big), []uint16{0x449A, 0x5000}},
		{"float32 DCBA", json.Number("1234.5"), f(Float32, Little, Little), []uint16{0x0050, 0x9A44}},
		{"float32 from an integer", 1, f(Float32, Big, Big), []uint16{0x3F80, 0x0000}},
		{"float64 CDAB", 1.0, f(Float64, Little, Big), []uint16{0, 0, 0, 0x3FF0}},
		{"float64 BADC", -2.5, f(Float64, Big, Little), []uint16{0x04C0, 0, 0, 0}},
		{"bool true", true, f(Bool, Big, Big), []uint16{1}},
		{"bool from a number", 7.0, f(Bool, Big, Big), []uint16{1}},
		{"bool false", false, f(Bool, Big, Big), []uint16{0}},
		{"int16 from true", true, f(Int16, Big, Big), []uint16{1}},
		{"rounds to nearest", 1.5, f(Int16, Big, Big), []uint16{2}},
		{"rounds negative away from zero", -1.5, f(Int16, Big, Big), []uint16{0xFFFE}},
		{"inverse scale", 21.5, Format{Type: Int16, Scale: 0.1}, []uint16{215}},
		{"inverse scale and offset", 11.5, Format{Type: Int16, Scale: 0.1, Offset: -10}, []uint16{215}},
		{"inverse of a scale of 2", -199.5, Format{Type: Int16, Scale: 2, Offset: 0.5}, []uint16{0xFF9C}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Encode(c.v, c.f)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("Encode(%v, %+v) = %#04x, want %#04x", c.v, c.f, got, c.want)
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	for _, c := range []struct {
		v    any
		f    Format
		want string
	}{
		{70000.0, Format{Type: Uint16}, "value 70000 does not fit uint16"},
		{-1, Format{Type: Uint16}, "value -1 does not fit uint16"},
		{json.Number("32768"), Format{Type: Int16}, "value 32768 does not fit int16"},
		{json.Number("-32769"), Format{Type: Int16}, "value -32769 does not fit int16"},
		{json.Number("4294967296"), Format{Type: Uint32}, "value 4294967296 does not fit uint32"},
		{json.Number("18446744073709551615"), Format{Type: Uint32}, "value 18446744073709551615 does not fit uint32"},
		{327680.0, Format{Type: Int16, Scale: 10}, "value 327680 does not fit int16 after scale 10 and offset 0"},
		{1e39, Format{Type: Float32}, "value 1e+39 does not fit float32"},
		{math.NaN(), Format{Type: Float64}, "value NaN is not a finite number"},
		{"12", Format{Type: Int16}, `want a number, got the string "12"`},
		{nil, Format{Type: Int16}, "want a number, got null"},
		{map[string]any{}, Format{Type: Int16}, "want a number, got map[string]interface {}"},
		{1, Format{Type: "int64"}, `encode: unknown type "int64"`},
	} {
		if _, err := Encode(c.v, c.f); err == nil || err.Error() != c.want {
			t.Errorf("Encode(%v, %+v) error = %v, want %q", c.v, c.f, err, c.want)
		}
	}
}

func TestEncodeBit(t *testing.T) {
	for v, want := range map[any]bool{true: true, false: false, 1.0: true, 0.0: false, json.Number("2"): true, json.Number("0"): false} {
		if got, err := EncodeBit(v); err != nil || got != want {
			t.Errorf("EncodeBit(%v) = %v, %v; want %v", v, got, err, want)
		}
	}
	if _, err := EncodeBit("on"); err == nil || !strings.Contains(err.Error(), `got the string "on"`) {
		t.Errorf("EncodeBit(\"on\") error = %v", err)
	}
}

// FuzzDecode feeds arbitrary register contents and formats to Decode: it
// must not panic, must return a value that encodes as JSON, and an unscaled
// value must encode back to the same registers (NaN and infinity, which
// decode to null, aside).
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0xFF, 0xFE}, uint8(0), false, false, 1.0, 0.0)
	f.Add([]byte{0xF8, 0xA4, 0x32, 0xEB}, uint8(2), true, false, 1.0, 0.0)
	f.Add([]byte{0xEE, 0x6B, 0x28, 0x00}, uint8(3), false, true, 0.01, 0.0)
	f.Add([]byte{0x44, 0x9A, 0x50, 0x00}, uint8(4), true, true, 1.0, 0.0)
	f.Add([]byte{0x7F, 0xC0, 0x00, 0x00}, uint8(4), false, false, 1.0, 0.0)
	f.Add([]byte{0x3F, 0xF0, 0, 0, 0, 0, 0, 0}, uint8(5), true, false, 2.0, -1.0)
	f.Add([]byte{0, 1}, uint8(6), false, false, 1.0, 0.0)
	f.Add([]byte{0x80, 0x00}, uint8(0), false, false, 1e308, 1e308)
	f.Add([]byte{}, uint8(1), false, false, 0.0, 0.0)
	f.Add([]byte{0xFF, 0x7F, 0xFF, 0xFF}, uint8(4), false, false, 1.0, 0.0) // -MaxFloat32: its shortest decimal rounds back
	f.Fuzz(func(t *testing.T, data []byte, typ uint8, wordLittle, byteLittle bool, scale, offset float64) {
		format := Format{Type: Type(typeNames[int(typ)%len(typeNames)]), WordOrder: Big, ByteOrder: Big, Scale: scale, Offset: offset}
		if wordLittle {
			format.WordOrder = Little
		}
		if byteLittle {
			format.ByteOrder = Little
		}
		words := make([]uint16, len(data)/2)
		for i := range words {
			words[i] = binary.BigEndian.Uint16(data[2*i:])
		}
		v, err := Decode(words, format)
		if len(words) != format.Type.Registers() {
			if err == nil {
				t.Fatalf("Decode of %d registers as %s: no error", len(words), format.Type)
			}
			return
		}
		if err != nil {
			t.Fatalf("Decode(%#04x, %+v): %v", words, format, err)
		}
		if _, err := json.Marshal(v); err != nil {
			t.Fatalf("Decode(%#04x, %+v) = %v: not JSON: %v", words, format, v, err)
		}
		if format.scaled() || v == nil {
			return
		}
		if format.Type == Bool {
			if v != (words[0] != 0) {
				t.Fatalf("bool of %#04x = %v", words, v)
			}
			return
		}
		back, err := Encode(v, format)
		if err != nil {
			t.Fatalf("Encode(Decode(%#04x)) = %v (%+v): %v", words, v, format, err)
		}
		if !slices.Equal(back, words) {
			t.Fatalf("Encode(Decode(%#04x)) = %#04x via %v (%+v)", words, back, v, format)
		}
	})
}

func TestPlanReads(t *testing.T) {
	cases := []struct {
		name   string
		spans  []span
		maxGap int
		want   []block
	}{
		{"adjacent registers share a request", []span{{Holding, 0, 1}, {Holding, 1, 2}, {Holding, 3, 4}}, 0,
			[]block{{Holding, 0, 7, []int{0, 1, 2}}}},
		{"out of order and overlapping", []span{{Holding, 10, 2}, {Holding, 0, 2}, {Holding, 1, 1}, {Holding, 2, 1}}, 0,
			[]block{{Holding, 0, 3, []int{1, 2, 3}}, {Holding, 10, 2, []int{0}}}},
		{"a gap splits", []span{{Holding, 0, 1}, {Holding, 2, 1}}, 0,
			[]block{{Holding, 0, 1, []int{0}}, {Holding, 2, 1, []int{1}}}},
		{"maxGap joins", []span{{Holding, 0, 1}, {Holding, 3, 1}}, 2,
			[]block{{Holding, 0, 4, []int{0, 1}}}},
		{"areas never mix", []span{{Coil, 0, 1}, {Input, 0, 1}, {Holding, 0, 1}, {Discrete, 0, 1}, {Input, 1, 2}}, 0,
			[]block{{Holding, 0, 1, []int{2}}, {Input, 0, 3, []int{1, 4}}, {Coil, 0, 1, []int{0}}, {Discrete, 0, 1, []int{3}}}},
		{"125 registers per request", spansOf(Input, 0, 1, 126), 0,
			[]block{{Input, 0, 125, seq(0, 125)}, {Input, 125, 1, []int{125}}}},
		{"no value is split across requests", spansOf(Holding, 0, 2, 63), 0,
			[]block{{Holding, 0, 124, seq(0, 62)}, {Holding, 124, 2, []int{62}}}},
		{"2000 bits per request", spansOf(Coil, 0, 1, 2001), 0,
			[]block{{Coil, 0, 2000, seq(0, 2000)}, {Coil, 2000, 1, []int{2000}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := planReads(c.spans, c.maxGap)
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("planReads = %+v\nwant       %+v", got, c.want)
			}
		})
	}
}

func spansOf(a Area, start, width, n int) []span {
	out := make([]span, n)
	for i := range out {
		out[i] = span{a, start + i*width, width}
	}
	return out
}

func seq(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}
