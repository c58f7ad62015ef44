package script

import (
	"strings"
	"testing"
	"time"

	"github.com/dop251/goja"
)

// eval runs "return <expr>" on a fresh pool and returns the result as JSON,
// or the error.
func eval(t *testing.T, expr string) (string, error) {
	t.Helper()
	code, err := compileCode("return " + expr + ";")
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	p := newPool(programs{code: code}, limits{timeout: time.Second, memory: 64 << 20})
	defer p.close()
	var out string
	err = p.with(func(v *vmState) error {
		res, err := v.fn(goja.Undefined())
		if err != nil {
			return err
		}
		b, err := v.encodeJSON(res, maxOutput)
		out = string(b)
		return err
	})
	return out, err
}

func TestBinaryHelpers(t *testing.T) {
	const frame = "hexToBytes('01 ff 80 00 7f ff ff ff 41 20 00 00 3f f0 00 00 00 00 00 00')"
	cases := []struct{ expr, want string }{
		{"bytesToHex(hexToBytes('0x0A1b'))", `"0a1b"`},
		{"bytesToHex(hexToBytes('0a 1b\\n2c'))", `"0a1b2c"`},
		{"bytesToBase64(hexToBytes('cafe01'))", `"yv4B"`},
		{"bytesToHex(base64ToBytes('yv4B'))", `"cafe01"`},
		{"bytesToHex(base64ToBytes('yv4'))", `"cafe"`},
		{"bytesToHex(base64ToBytes('_-8'))", `"ffef"`},
		{"bytesToString(stringToBytes('grüße'))", `"grüße"`},
		{"stringToBytes('é').length", `2`},
		{"bytesToHex([1, 2, 255])", `"0102ff"`},
		{"bytesToHex(new Uint8Array([1, 2]).buffer)", `"0102"`},
		{"readUint8(" + frame + ", 1)", `255`},
		{"readInt8(" + frame + ", 1)", `-1`},
		{"readInt8(" + frame + ", 2)", `-128`},
		{"readUint16BE(" + frame + ", 0)", `511`},
		{"readUint16LE(" + frame + ", 0)", `65281`},
		{"readInt16BE(" + frame + ", 1)", `-128`},
		{"readInt16LE(" + frame + ", 0)", `-255`},
		{"readUint24BE(" + frame + ", 0)", `130944`},
		{"readInt24LE(" + frame + ", 0)", `-8323327`},
		{"readUint32BE(" + frame + ", 4)", `2147483647`},
		{"readInt32BE(" + frame + ", 4)", `2147483647`},
		{"readUint32LE(" + frame + ", 4)", `4294967167`},
		{"readInt32LE(" + frame + ", 4)", `-129`},
		{"readFloat32BE(" + frame + ", 8)", `10`},
		{"readFloat32LE(hexToBytes('0000a0c1'))", `-20`},
		{"readFloat64BE(" + frame + ", 12)", `1`},
		{"readFloat64LE(hexToBytes('000000000000f03f'), 0)", `1`},
		{"bits(0b10110100, 2, 3)", `5`},
		{"bits(0xffffffff, 0, 32)", `4294967295`},
		{"bits(-1, 28, 4)", `15`},
		{"[bit(5, 0), bit(5, 1), bit(5, 2)]", `[true,false,true]`},
		{"readBits(hexToBytes('a5f0'), 0, 4)", `10`},
		{"readBits(hexToBytes('a5f0'), 4, 8)", `95`},
		{"readBits(hexToBytes('a5f0'), 15, 1)", `0`},
		{"typeof now() === 'number' && now() > 1.7e12", `true`},
	}
	for _, tc := range cases {
		got, err := eval(t, tc.expr)
		if err != nil || got != tc.want {
			t.Errorf("%s = %s, %v; want %s", tc.expr, got, err, tc.want)
		}
	}
}

func TestBinaryHelperErrors(t *testing.T) {
	cases := []struct{ expr, want string }{
		{"readUint16BE(hexToBytes('01'), 0)", "RangeError: readUint16BE: offset 0 is out of range: reading 2 bytes of 1"},
		{"readUint32LE(hexToBytes('0102030405'), 2)", "RangeError: readUint32LE: offset 2 is out of range: reading 4 bytes of 5"},
		{"readUint8(hexToBytes('01'), -1)", "RangeError: readUint8: offset must be a non-negative integer, got -1"},
		{"readUint8(hexToBytes('01'), 0.5)", "RangeError: readUint8: offset must be a non-negative integer, got 0.5"},
		{"readUint8('01', 0)", "TypeError: readUint8: want a Uint8Array, an ArrayBuffer or an array of bytes, got string"},
		{"readUint8({}, 0)", "TypeError: readUint8: want a Uint8Array, an ArrayBuffer or an array of bytes, got object"},
		{"readUint8([1, 256], 0)", "TypeError: readUint8: element 1 is not a byte (0 to 255)"},
		{"hexToBytes('abc')", "TypeError: hexToBytes: not hexadecimal"},
		{"hexToBytes(12)", "TypeError: hexToBytes: want a string, got number"},
		{"base64ToBytes('***')", "TypeError: base64ToBytes: not base64"},
		{"bits(1, 30, 4)", "RangeError: bits: length must be an integer from 1 to 2, got 4"},
		{"bits(1.5, 0, 1)", "RangeError: bits: value must be a 32-bit integer, got 1.5"},
		{"bit(1, 32)", "RangeError: bit: index must be an integer from 0 to 31, got 32"},
		{"readBits(hexToBytes('ff'), 4, 8)", "RangeError: readBits: length must be an integer from 1 to 4, got 8"},
	}
	for _, tc := range cases {
		got, err := eval(t, tc.expr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s = %s, %v; want an error with %q", tc.expr, got, err, tc.want)
		}
	}
}

// The bounded encoder writes what JSON.stringify writes.
func TestEncodeJSONMatchesStringify(t *testing.T) {
	for _, expr := range []string{
		`{a: 1, b: [1, 'two', null, true, undefined], c: {d: -0, e: 1e-7, f: 123456789012345680000}}`,
		`[NaN, Infinity, -Infinity, () => 1, Symbol('s')]`,
		`{date: new Date(86400000), n: new Number(3), s: new String('x'), b: new Boolean(false)}`,
		`{text: 'quote " backslash \\ newline \n tab \t nul \u0000 del \u007f é 😀'}`,
		`{toJSON() { return {replaced: true}; }}`,
		`{2: 'b', 1: 'a', z: 1, y: 2}`,
		`new Uint8Array([1, 2])`,
		`new Map([[1, 2]])`,
	} {
		got, err := eval(t, expr)
		if err != nil {
			t.Errorf("%s: %v", expr, err)
			continue
		}
		rt := goja.New()
		want, err := rt.RunString("JSON.stringify(" + expr + ")")
		if err != nil {
			t.Fatal(err)
		}
		if got != want.String() {
			t.Errorf("%s:\n got %s\nwant %s", expr, got, want)
		}
	}
}

// The guards leave ordinary use of the built-ins as it was.
func TestGuardsKeepBuiltins(t *testing.T) {
	cases := []struct{ expr, want string }{
		{"[1, 2, 3].map(x => x * 2).filter(x => x > 2).reduce((a, b) => a + b, 0)", `10`},
		{"Array.prototype.map.call({length: 2, 0: 'a', 1: 'b'}, x => x + x)", `["aa","bb"]`},
		{"Array.prototype.map.call({}, x => x)", `[]`},
		{"[].concat([1], [2, 3], 4)", `[1,2,3,4]`},
		{"(() => { let n = 0; for (const x of [1, 2, 3]) n += x; return n; })()", `6`},
		{"Math.max(...[1, 5, 3])", `5`},
		{"Math.max.apply(null, [1, 5, 3])", `5`},
		{"[...'héllo'].length", `5`},
		{"'a,b,,c'.split(',')", `["a","b","","c"]`},
		{"'7'.padStart(3, '0') + 'ab'.repeat(2)", `"007abab"`},
		{"/b/.test('abc') && 'a-b-c'.replace(/-/g, '+')", `"a+b+c"`},
		{"Array.from({length: 3}, (_, i) => i)", `[0,1,2]`},
		{"Array.from(new Set([1, 1, 2]))", `[1,2]`},
		{"new Uint8Array([1, 2]) instanceof Uint8Array", `true`},
		{"Uint8Array.from([1, 2, 300])", `{"0":1,"1":2,"2":44}`},
		{"new Uint8Array(new ArrayBuffer(8), 2, 4).length", `4`},
		{"new Uint8Array({}).length", `0`},
		{"new DataView(new ArrayBuffer(4)).getInt16(0)", `0`},
		{"new Float32Array(2).constructor === Float32Array", `true`},
		{"JSON.stringify({a: [1, {b: 2}]}, null, 1)", `"{\n \"a\": [\n  1,\n  {\n   \"b\": 2\n  }\n ]\n}"`},
		{"JSON.stringify(undefined) === undefined && JSON.parse('[1]')[0]", `1`},
		{"Object.keys([5, 6]).concat(Object.entries({a: 1}))", `["0","1",["a",1]]`},
		{"[3, 1, 2].sort((a, b) => a - b).join('-')", `"1-2-3"`},
	}
	for _, tc := range cases {
		got, err := eval(t, tc.expr)
		if err != nil || got != tc.want {
			t.Errorf("%s = %s, %v; want %s", tc.expr, got, err, tc.want)
		}
	}
}
