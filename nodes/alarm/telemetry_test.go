package alarm

import (
	"fmt"
	"sort"
	"strings"
	"testing"
)

var testIndex = map[string]int{"temperature": 0, "running": 1, "state": 2, "a\"b": 3, "motor.rpm": 4, "motor.temp.winding": 5, "a\"b.c": 6}

// render is a decoded payload as text, for comparisons.
func render(d *decoded) string {
	var b strings.Builder
	for i := range d.samples {
		r := &d.samples[i]
		fmt.Fprintf(&b, "%s@%d:", r.deviceID, r.ts)
		vals := append([]sigVal(nil), d.valsOf(r)...)
		sort.Slice(vals, func(i, j int) bool { return vals[i].idx < vals[j].idx })
		for _, v := range vals {
			fmt.Fprintf(&b, " %d=%d/%g/%q", v.idx, v.kind, v.num, v.str)
		}
		b.WriteString(";")
	}
	return b.String()
}

func TestDecodeTelemetry(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"deviceId":"b7","ts":1700000000000,"signals":{"temperature":81.5,"running":true,"other":1}}`,
			`b7@1700000000000: 0=1/81.5/"" 1=2/1/"";`},
		{` { "ts" : 1.7e12 , "signals" : { "state" : "ok" , "gps" : {"lat": 1, "tags": ["a", "b"]} }, "deviceId" : null } `,
			`@1700000000000: 2=3/0/"ok";`},
		{`[{"deviceId":"a","ts":1,"signals":{"temperature":-1e-3}},{"deviceId":"b","signals":{"running":false,"temperature":null}}]`,
			`a@1: 0=1/-0.001/"";b@0: 1=2/0/"";`}, // a null is no value, as in the time-series sink
		{`[]`, ``},
		{`{"deviceId":"caf\u00e9","ts":2,"signals":{"a\"b":1,"state":"line\nbreak"}}`, // escapes: the slow path
			`café@2: 2=3/0/"line\nbreak" 3=1/1/"";`},
		{`{"deviceId":"x","ts":3,"signals":{},"extra":{"deep":[1,{"x":"}"}]}}`, `x@3:;`},
		// Nested objects by dotted names, as the time-series sink stores
		// them; arrays, nulls, empty names and empty objects are no signals.
		{`{"deviceId":"m","ts":4,"signals":{"motor":{"rpm":3,"temp":{"winding":81.5},"tags":[1],"off":null},"":{"temperature":1},"state":{}}}`,
			`m@4: 4=1/3/"" 5=1/81.5/"";`},
		{`{"deviceId":"m","ts":4,"signals":{"motor":{"rpm":"fast\u0021"}}}`, `m@4: 4=3/0/"fast!";`}, // the slow path flattens too
	}
	for _, tc := range tests {
		var d decoded
		if err := decodeTelemetry(tc.in, testIndex, &d); err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if got := render(&d); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
	for in, want := range map[string]string{
		``:                                      "an empty payload",
		`42`:                                    "want unified telemetry",
		`{"deviceId":"x","ts":1}`:               "no signals object",
		`{"deviceId":"x","ts":-5,"signals":{}}`: "ts: want Unix milliseconds",
		`{"deviceId":"x","signals":{"a":1}`:     "unexpected end",
		`[{"deviceId":"x","signals":{}},3]`:     "cannot unmarshal number",
	} {
		var d decoded
		err := decodeTelemetry(in, testIndex, &d)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
}

// FuzzDecodeTelemetry checks that the scanner agrees with encoding/json on
// everything it accepts.
func FuzzDecodeTelemetry(f *testing.F) {
	for _, s := range []string{
		`{"deviceId":"b7","ts":1700000000000,"signals":{"temperature":81.5,"running":true}}`,
		`[{"deviceId":"a","ts":1,"signals":{"state":"x"}},{"signals":{"temperature":2}}]`,
		`{"signals":{"temperature":[1,{"a":"]"}],"state":null},"ts":1e3}`,
		`{"deviceId":"x","ts":3,"signals":{"temperature":1},"deviceId":"y"}`,
		`{"deviceId":"x","signals":{"temperature":1,"temperature":2}}`,
		`{"deviceId":"m","ts":5,"signals":{"motor":{"rpm":3,"temp":{"winding":81},"tags":[1]},"":{"x":1},"state":{}}}`,
		`{"signals":{"motor":{"rpm":null,"rpm":4},"a\"b":{"c":1}}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var fast, slow decoded
		errFast := decodeTelemetry(in, testIndex, &fast)
		errSlow := decodeSlow(in, testIndex, &slow)
		if errSlow != nil {
			return // the scanner may accept what encoding/json refuses only if it is valid JSON; not checked
		}
		if errFast != nil {
			t.Fatalf("%q: scanner error %v, encoding/json none", in, errFast)
		}
		if a, b := render(&fast), render(&slow); a != b {
			t.Fatalf("%q:\nscanner       %s\nencoding/json %s", in, a, b)
		}
	})
}
