package timeseries

import (
	"math"
	"reflect"
	"testing"

	ts "github.com/sluicehq/sluice/store/timeseries"
)

func TestCodecRoundTrip(t *testing.T) {
	for _, p := range []ts.Point{
		{Tenant: "acme", Device: "boiler-7", Signal: "temperature", TS: 1763800000000, Value: ts.Number(81.5)},
		{Tenant: "", Device: "d", Signal: "on", TS: -5, Value: ts.Bool(true)},
		{Tenant: "t", Device: "d", Signal: "mode", TS: 0, Value: ts.String("eco ✓"), Tags: map[string]string{"unit": "C", "site": "north"}},
		{Tenant: "t", Device: "d", Signal: "x", TS: math.MaxInt64, Value: ts.Number(-math.MaxFloat64)},
	} {
		b := Codec{}.Append([]byte("prefix"), p)
		got, err := Codec{}.Decode(b[len("prefix"):])
		if err != nil {
			t.Fatalf("decode %+v: %v", p, err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Errorf("round trip of %+v gave %+v", p, got)
		}
		for n := range len(b) - len("prefix") {
			if _, err := (Codec{}).Decode(b[len("prefix") : len("prefix")+n]); err == nil {
				t.Errorf("decode of %d of %d bytes: no error", n, len(b)-len("prefix"))
			}
		}
	}
}

// FuzzCodec: Decode never panics, and what it accepts encodes back to the
// same point.
func FuzzCodec(f *testing.F) {
	f.Add(Codec{}.Append(nil, ts.Point{Tenant: "a", Device: "d", Signal: "s", TS: 1, Value: ts.Number(2)}))
	f.Add(Codec{}.Append(nil, ts.Point{Device: "d", Signal: "s", Value: ts.String("x"), Tags: map[string]string{"k": "v"}}))
	f.Add([]byte{0, 0, 0, 0, 2, 200, 200, 200})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Codec{}.Decode(b)
		if err != nil {
			return
		}
		again, err := Codec{}.Decode(Codec{}.Append(nil, p))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(again, p) && !(math.IsNaN(p.Value.Num) && math.IsNaN(again.Value.Num)) {
			t.Fatalf("%+v became %+v", p, again)
		}
	})
}
