package stats

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine"
	ts "github.com/sluicehq/sluice/store/timeseries"
)

const (
	benchDevices = 100
	benchPoints  = 60 // one a minute over the hour
)

// benchData is benchDevices meters with benchPoints readings of power and
// a counter each in [9:00, 10:00).
func benchData(b *testing.B, w ts.Writer) {
	b.Helper()
	pts := make([]ts.Point, 0, benchDevices*benchPoints*2)
	for d := range benchDevices {
		dev := fmt.Sprintf("meter-%03d", d)
		for i := range benchPoints {
			at := 9*time.Hour + time.Duration(i)*time.Minute
			pts = append(pts, pt(dev, "power", at, float64((d*7+i*13)%100)), pt(dev, "energy", at, float64(d*1000+i*3)))
		}
	}
	write(b, w, pts...)
}

var benchAggs = []any{"avg", "min", "max", "sum", "count", "first", "last", "stddev", "p50", "p95", "p99", "delta", "twa"}

// BenchmarkAggregate is the computing alone: every aggregate of 100
// devices × 2 signals × 60 points held in memory.
func BenchmarkAggregate(b *testing.B) {
	var cfg config
	if err := statsSpec.Decode(map[string]any{"deviceGlob": "*", "signals": []any{"power", "energy"}, "aggregates": benchAggs}, &cfg); err != nil {
		b.Fatal(err)
	}
	c, ps := compile(cfg)
	if ps.HasErrors() {
		b.Fatal(ps)
	}
	w := window{From: at(9 * time.Hour), To: at(10 * time.Hour)}
	data := map[seriesKey][]point{}
	base := map[seriesKey]point{}
	for d := range benchDevices {
		dev := fmt.Sprintf("meter-%03d", d)
		for _, sig := range []string{"power", "energy"} {
			k := seriesKey{dev, sig}
			for i := range benchPoints {
				data[k] = append(data[k], point{ts: w.From + int64(i)*60000, v: float64((d*7 + i*13) % 100), n: 1})
			}
			base[k] = point{ts: w.From - 1, v: 1, n: 1}
		}
	}
	var scratch []float64
	b.ReportAllocs()
	for b.Loop() {
		if g := c.groups(data, base, w, &scratch); len(g) != benchDevices*2 {
			b.Fatalf("%d groups", len(g))
		}
	}
	b.ReportMetric(float64(benchDevices*benchPoints*2), "points/op")
}

// BenchmarkNode is one run of a deployed cronStats node through the
// engine: read 100 devices × 2 signals × 60 points from the embedded
// store, every aggregate, record nothing, emit the STATS message.
func BenchmarkNode(b *testing.B) {
	for _, tc := range []struct {
		name string
		cfg  map[string]any
	}{
		{"avg-min-max-count", map[string]any{"deviceGlob": "*", "signals": []any{"power", "energy"}}},
		{"every-aggregate", map[string]any{"deviceGlob": "*", "signals": []any{"power", "energy"}, "aggregates": benchAggs}},
		{"every-aggregate+calc", map[string]any{"deviceGlob": "*", "signals": []any{"power", "energy"}, "aggregates": benchAggs,
			"calc": "return msg.groups.map(g => Object.assign(g, {spread: g.max - g.min}));"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := openTS(b, b.TempDir())
			benchData(b, s)
			r := newRig(b, rigOpts{store: s})
			r.deploy(tc.cfg, 1)
			msg := engine.Message{Type: "BACKFILL", DataType: "JSON", Data: fmt.Sprintf(`{"from":%d,"to":%d}`, at(9*time.Hour), at(10*time.Hour))}
			b.ReportAllocs()
			for b.Loop() {
				if ps := stats(b, r.submit(msg)); len(ps) != 1 || len(ps[0].Groups) != benchDevices*2 {
					b.Fatalf("%+v", ps)
				}
			}
			b.ReportMetric(float64(benchDevices*benchPoints*2), "points/op")
		})
	}
}
