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

// A peer is a store the benchmarks measure: InfluxDB, and the embedded
// store as the peer its figures are read against. Every benchmark runs the
// same points and the same queries on both, in the same run, so that
// influx/embedded ratios come from one measurement.
type peer struct {
	name string
	// open opens an empty store that lives until tb ends.
	open func(tb testing.TB) ts.Store
}

// peers starts influxd (skipping, or failing when CI=true, without it) and
// returns both stores' openers.
func peers(b *testing.B) []peer {
	srv := influxtest.Start(b, influxtest.Options{})
	return []peer{
		{"influx", func(tb testing.TB) ts.Store { return openT(tb, srv, Options{}) }},
		{"embedded", openEmbedded},
	}
}

// openEmbedded opens the embedded store (store/timeseries.Open) in a
// temporary directory of its own.
func openEmbedded(tb testing.TB) ts.Store {
	tb.Helper()
	s, err := ts.Open(tstest.Ctx(tb), tb.TempDir(), ts.Options{Logger: quiet})
	if err != nil {
		tb.Fatalf("open embedded store: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("close embedded store: %v", err)
		}
	})
	return s
}

// BenchmarkWrite writes b.N points to each store in batches of up to 5,000
// over 100 series (one device), as the time-series sink does: ns/op is the
// cost of one point, end to end.
func BenchmarkWrite(b *testing.B) {
	for _, p := range peers(b) {
		b.Run(p.name, func(b *testing.B) {
			s := p.open(b)
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
		})
	}
}

// BenchmarkHourOf1000Signals writes an hour of 1 Hz data from 1,000
// signals (10 devices × 100 signals: 3.6 million points) to InfluxDB and
// to the embedded store, then measures typical queries over it on both.
// Each step runs on both stores one after the other
// (write/influx, write/embedded, query/…/influx, query/…/embedded, …), so
// that each pair is measured under the same load. The full size runs only
// with SLUICE_BENCH_FULL=1 (make bench); otherwise 10 signals × 1 minute,
// so that make test's single iteration stays quick.
func BenchmarkHourOf1000Signals(b *testing.B) {
	devices, perDevice, seconds := 10, 100, 3600
	if os.Getenv("SLUICE_BENCH_FULL") != "1" {
		devices, perDevice, seconds = 2, 5, 60
		b.Logf("reduced to %d signals × %d s: set SLUICE_BENCH_FULL=1 for 1,000 signals × 1 h", devices*perDevice, seconds)
	}
	ps := peers(b)
	total := devices * perDevice * seconds
	dev := func(d int) string { return fmt.Sprintf("device-%02d", d) }
	stores := make([]ts.Store, len(ps))
	outer := b // the stores live until the queries are done
	for i, p := range ps {
		b.Run("write/"+p.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if stores[i] != nil {
					b.StopTimer()
					if err := stores[i].Close(); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				// An empty store per round.
				s := p.open(outer)
				stores[i] = s
				// As a sink writes: batches of 5,000 points, in time
				// order, every signal once per second.
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
		if stores[i] == nil {
			b.Fatalf("the %s write benchmark did not run", p.name)
		}
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
		for i, p := range ps {
			b.Run("query/"+c.name+"/"+p.name, func(b *testing.B) {
				q := c.q
				q.Tenant, q.From, q.To = "acme", tstest.T0, end
				b.ReportAllocs()
				for range b.N {
					r, err := stores[i].Query(tstest.Ctx(b), q)
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
	}
	for i, p := range ps {
		b.Run("latest/1device/"+p.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				l, err := stores[i].Latest(tstest.Ctx(b), "acme", dev(1))
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
}

func samples(r *ts.Result) int {
	n := 0
	for _, s := range r.Series {
		n += len(s.Points)
	}
	return n
}
