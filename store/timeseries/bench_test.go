package timeseries

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// BenchmarkWrite writes b.N points in batches of up to 1,000 over 100
// series (one device), as the time-series sink does: ns/op is the cost of
// one point.
func BenchmarkWrite(b *testing.B) {
	s := openT(b, b.TempDir(), Options{})
	const signals, batch = 100, 1000
	pts := make([]Point, 0, batch)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pts = append(pts, num("acme", "bench", "s"+strconv.Itoa(i%signals), t0+int64(i/signals)*1000, float64(i)))
		if len(pts) == batch || i == b.N-1 {
			if err := s.Write(ctxT(b), pts); err != nil {
				b.Fatal(err)
			}
			pts = pts[:0]
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "points/s")
}

// BenchmarkHourOf1000Signals measures the embedded store on an hour of
// 1 Hz data from 1,000 signals (10 devices × 100 signals: 3.6 million
// points): the write rate, then the latency of typical queries over it.
// The full size runs only with SLUICE_BENCH_FULL=1 (make bench); otherwise
// 10 signals × 1 minute, so that make test's single iteration stays quick.
func BenchmarkHourOf1000Signals(b *testing.B) {
	devices, perDevice, seconds := 10, 100, 3600
	if os.Getenv("SLUICE_BENCH_FULL") != "1" {
		devices, perDevice, seconds = 2, 5, 60
		b.Logf("reduced to %d signals × %d s: set SLUICE_BENCH_FULL=1 for 1,000 signals × 1 h", devices*perDevice, seconds)
	}
	total := devices * perDevice * seconds
	dev := func(d int) string { return fmt.Sprintf("device-%02d", d) }
	var s *Embedded
	b.Run("write", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if s != nil {
				b.StopTimer()
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			var err error
			s, err = Open(ctxT(b), b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			// As a sink writes: batches of 5,000 points, in time order,
			// every signal once per second.
			pts := make([]Point, 0, 5000)
			for sec := range seconds {
				for d := range devices {
					for sig := range perDevice {
						pts = append(pts, num("acme", dev(d), "s"+strconv.Itoa(sig), t0+int64(sec)*1000, float64(sec+sig)))
						if len(pts) == cap(pts) {
							if err := s.Write(ctxT(b), pts); err != nil {
								b.Fatal(err)
							}
							pts = pts[:0]
						}
					}
				}
			}
			if err := s.Write(ctxT(b), pts); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		perOp := b.Elapsed().Seconds() / float64(b.N)
		b.ReportMetric(float64(total)/perOp, "points/s")
		b.ReportMetric(perOp*1e9/float64(total), "ns/point")
		if fi, err := os.Stat(filepath.Join(filepath.Dir(s.Path()), FileName)); err == nil {
			b.ReportMetric(float64(fi.Size())/float64(total), "file-bytes/point")
		}
	})
	if s == nil {
		b.Fatal("the write benchmark did not run")
	}
	b.Cleanup(func() { _ = s.Close() })
	end := t0 + int64(seconds)*1000
	queries := []struct {
		name string
		q    Query
		want int // samples in the answer
	}{
		{"raw/1signal", Query{Devices: []string{dev(0)}, Signals: []string{"s1"}}, seconds},
		{"avg1m/1signal", Query{Devices: []string{dev(0)}, Signals: []string{"s1"}, Agg: AggAvg, Every: time.Minute}, (seconds + 59) / 60},
		{"avg1m/1device", Query{Devices: []string{dev(0)}, Agg: AggAvg, Every: time.Minute}, perDevice * ((seconds + 59) / 60)},
		{"max1m/all", Query{Devices: allDevices(devices, dev), Agg: AggMax, Every: time.Minute, Limit: MaxLimit}, devices * perDevice * ((seconds + 59) / 60)},
		{"last1h/all", Query{Devices: allDevices(devices, dev), Agg: AggLast, Every: time.Hour}, devices * perDevice},
	}
	for _, c := range queries {
		b.Run("query/"+c.name, func(b *testing.B) {
			q := c.q
			q.Tenant, q.From, q.To = "acme", t0, end
			b.ReportAllocs()
			for range b.N {
				r, err := s.Query(ctxT(b), q)
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
			l, err := s.Latest(ctxT(b), "acme", dev(1))
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

func allDevices(n int, name func(int) string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = name(i)
	}
	return out
}

func samples(r *Result) int {
	n := 0
	for _, s := range r.Series {
		n += len(s.Points)
	}
	return n
}
