package influx

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	ts "github.com/sluicehq/sluice/store/timeseries"
	"github.com/sluicehq/sluice/store/timeseries/influx/influxtest"
	"github.com/sluicehq/sluice/store/timeseries/tstest"
)

// BenchmarkWrite writes b.N points to a real influxd in batches of up to
// 5,000 over 100 series (one device), as the time-series sink does: ns/op
// is the cost of one point, end to end.
func BenchmarkWrite(b *testing.B) {
	srv := influxtest.Start(b, influxtest.Options{})
	s := openT(b, srv, Options{})
	const signals, batch = 100, 5000
	pts := make([]ts.Point, 0, batch)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pts = append(pts, tstest.Num("acme", "bench", "s"+strconv.Itoa(i%signals), tstest.T0+int64(i/signals)*1000, float64(i)))
		if len(pts) == batch || i == b.N-1 {
			if err := s.Write(tstest.Ctx(b), pts); err != nil {
				b.Fatal(err)
			}
			pts = pts[:0]
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "points/s")
}

// BenchmarkHourOf1000Signals measures the InfluxDB store as
// store/timeseries measures the embedded one: an hour of 1 Hz data from
// 1,000 signals (10 devices × 100 signals: 3.6 million points) written,
// then the latency of typical queries over it. The full size runs only
// with SLUICE_BENCH_FULL=1 (make bench); otherwise 10 signals × 1 minute.
func BenchmarkHourOf1000Signals(b *testing.B) {
	devices, perDevice, seconds := 10, 100, 3600
	if os.Getenv("SLUICE_BENCH_FULL") != "1" {
		devices, perDevice, seconds = 2, 5, 60
		b.Logf("reduced to %d signals × %d s: set SLUICE_BENCH_FULL=1 for 1,000 signals × 1 h", devices*perDevice, seconds)
	}
	srv := influxtest.Start(b, influxtest.Options{})
	total := devices * perDevice * seconds
	dev := func(d int) string { return fmt.Sprintf("device-%02d", d) }
	var s *Store
	outer := b // the stores live until the queries are done
	b.Run("write", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			// A database of its own per round (a fresh prefix).
			s = openT(outer, srv, Options{})
			// As a sink writes: batches of 5,000 points, in time order,
			// every signal once per second.
			pts := make([]ts.Point, 0, 5000)
			for sec := range seconds {
				for d := range devices {
					for sig := range perDevice {
						pts = append(pts, tstest.Num("acme", dev(d), "s"+strconv.Itoa(sig), tstest.T0+int64(sec)*1000, float64(sec+sig)))
						if len(pts) == cap(pts) {
							if err := s.Write(tstest.Ctx(b), pts); err != nil {
								b.Fatal(err)
							}
							pts = pts[:0]
						}
					}
				}
			}
			if err := s.Write(tstest.Ctx(b), pts); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		perOp := b.Elapsed().Seconds() / float64(b.N)
		b.ReportMetric(float64(total)/perOp, "points/s")
		b.ReportMetric(perOp*1e9/float64(total), "ns/point")
	})
	if s == nil {
		b.Fatal("the write benchmark did not run")
	}
	end := tstest.T0 + int64(seconds)*1000
	all := make([]string, devices)
	for i := range all {
		all[i] = dev(i)
	}
	buckets := (seconds + 59) / 60
	queries := []struct {
		name string
		q    ts.Query
		want int // samples in the answer
	}{
		{"raw/1signal", ts.Query{Devices: []string{dev(0)}, Signals: []string{"s1"}}, seconds},
		{"avg1m/1signal", ts.Query{Devices: []string{dev(0)}, Signals: []string{"s1"}, Agg: ts.AggAvg, Every: time.Minute}, buckets},
		{"avg1m/1device", ts.Query{Devices: []string{dev(0)}, Agg: ts.AggAvg, Every: time.Minute}, perDevice * buckets},
		{"max1m/all", ts.Query{Devices: all, Agg: ts.AggMax, Every: time.Minute, Limit: ts.MaxLimit}, devices * perDevice * buckets},
		{"last1h/all", ts.Query{Devices: all, Agg: ts.AggLast, Every: time.Hour}, devices * perDevice},
		{"raw/all/page2", ts.Query{Devices: all, Limit: 1000, Offset: 1000}, min(1000, max(total-1000, 0))},
	}
	for _, c := range queries {
		b.Run("query/"+c.name, func(b *testing.B) {
			q := c.q
			q.Tenant, q.From, q.To = "acme", tstest.T0, end
			b.ReportAllocs()
			for range b.N {
				r, err := s.Query(tstest.Ctx(b), q)
				if err != nil {
					b.Fatal(err)
				}
				if n := samples(r); n != c.want {
					b.Fatalf("%d samples, want %d", n, c.want)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/query")
		})
	}
	b.Run("latest/1device", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			l, err := s.Latest(tstest.Ctx(b), "acme", dev(1))
			if err != nil {
				b.Fatal(err)
			}
			if len(l) != perDevice {
				b.Fatalf("%d signals, want %d", len(l), perDevice)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/query")
	})
}

func samples(r *ts.Result) int {
	n := 0
	for _, s := range r.Series {
		n += len(s.Points)
	}
	return n
}
