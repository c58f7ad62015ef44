package influx

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	ts "github.com/sluicehq/sluice/store/timeseries"
	"github.com/sluicehq/sluice/store/timeseries/influx/influxtest"
	"github.com/sluicehq/sluice/store/timeseries/tstest"
)

// Names that a careless query would let out of their string literal.
var hostileNames = []string{
	`a' OR '1'='1`,
	`x"y\z`,
	`') OR ("device" =~ /.*/`,
	`"; DROP DATABASE "x`,
	`back\slash`,
	`trailing '`,
	`with space`,
	`tab	here`,
	"ünï ✓ ${x}",
	`\'`,
	`\n`,
}

// TestQuotingAndInjection: device and signal names with quotes,
// backslashes, spaces and InfluxQL syntax read back as themselves, match
// exactly (no other series, no regular expression), and a name that
// merely contains another's text matches nothing.
func TestQuotingAndInjection(t *testing.T) {
	srv := influxtest.Start(t, influxtest.Options{})
	s := openT(t, srv, Options{})
	var pts []ts.Point
	for i, n := range hostileNames {
		pts = append(pts, tstest.Num("acme", n, n, tstest.T0+int64(i), float64(i)))
		pts = append(pts, tstest.Num("acme", n, "plain", tstest.T0+int64(i), float64(100+i)))
		pts = append(pts, tstest.Num("acme", "plain", n, tstest.T0+int64(i), float64(200+i)))
	}
	pts = append(pts, tstest.Num("acme", "1", "1", tstest.T0, -1), tstest.Num("acme", "a", "x", tstest.T0, -2))
	tstest.MustWrite(t, s, pts...)
	end := tstest.T0 + time.Hour.Milliseconds()
	for i, n := range hostileNames {
		for _, agg := range []ts.Agg{ts.AggNone, ts.AggLast, ts.AggSum} {
			q := ts.Query{Tenant: "acme", Devices: []string{n}, Signals: []string{n}, From: tstest.T0, To: end, Agg: agg}
			if agg != ts.AggNone {
				q.Every = time.Hour
			}
			r := tstest.MustQuery(t, s, q)
			if len(r.Series) != 1 || r.Series[0].Device != n || r.Series[0].Signal != n || len(r.Series[0].Points) != 1 || r.Series[0].Points[0].Value.Num != float64(i) {
				t.Errorf("%s of %q/%q = %+v", agg, n, n, r)
			}
		}
		// Every signal of the device: its own two.
		r := tstest.MustQuery(t, s, ts.Query{Tenant: "acme", Devices: []string{n}, From: tstest.T0, To: end, Agg: ts.AggCount, Every: time.Hour})
		if got := tstest.Flat(r); len(got) != 2 || len(got[n+"/"+n]) != 1 || len(got[n+"/plain"]) != 1 {
			t.Errorf("signals of %q = %+v", n, got)
		}
		// The device "plain" with this signal only.
		r = tstest.MustQuery(t, s, ts.Query{Tenant: "acme", Devices: []string{"plain"}, Signals: []string{n}, From: tstest.T0, To: end})
		if got := tstest.Flat(r)["plain/"+n]; len(r.Series) != 1 || len(got) != 1 || got[0].Value.Num != float64(200+i) {
			t.Errorf("plain/%q = %+v", n, r)
		}
	}
	// Names that would match everything, or something else, if they
	// escaped their literal; and names no point can have.
	for _, n := range []string{`nope' OR '1'='1`, `nope' OR "device" = 'plain`, `plain'`, `pla.*`, `/.*/`, `x"y\\z`, "a\nb", "a\rb", "a\x00b", "\xff"} {
		for _, q := range []ts.Query{
			{Tenant: "acme", Devices: []string{n}, From: tstest.T0, To: end},
			{Tenant: "acme", Devices: []string{"plain"}, Signals: []string{n}, From: tstest.T0, To: end},
			{Tenant: "acme", Devices: []string{n}, From: tstest.T0, To: end, Agg: ts.AggMax, Every: time.Minute},
		} {
			r, err := s.Query(tstest.Ctx(t), q)
			if err != nil || len(r.Series) != 0 {
				t.Errorf("query %q/%q = %+v, %v: want nothing", q.Devices, q.Signals, r, err)
			}
		}
	}
	// A NUL cannot be named in InfluxQL: such points are refused.
	if err := s.Write(tstest.Ctx(t), []ts.Point{tstest.Num("acme", "a\x00b", "x", tstest.T0, 1)}); !errors.Is(err, ts.ErrBadPoint) {
		t.Errorf("write a NUL in a device: %v, want ErrBadPoint", err)
	}
	if err := s.Write(tstest.Ctx(t), []ts.Point{tstest.Num("acme", "d", "x\x00", tstest.T0, 1)}); !errors.Is(err, ts.ErrBadPoint) {
		t.Errorf("write a NUL in a signal: %v, want ErrBadPoint", err)
	}
	// Nothing was dropped or changed by the queries above.
	r := tstest.MustQuery(t, s, ts.Query{Tenant: "acme", Devices: append([]string{"plain", "1", "a"}, hostileNames...), From: tstest.T0, To: end, Agg: ts.AggCount, Every: time.Hour})
	n := 0
	for _, ser := range r.Series {
		n += int(ser.Points[0].Count)
	}
	if n != len(pts) {
		t.Errorf("%d points in all, want %d", n, len(pts))
	}
}

// TestTimeExtremes: points at the first and the last millisecond InfluxDB
// holds are in a range as wide as it gets, raw and aggregated, and [from,
// to) holds at both ends.
func TestTimeExtremes(t *testing.T) {
	srv := influxtest.Start(t, influxtest.Options{})
	s := openT(t, srv, Options{})
	tstest.MustWrite(t, s, tstest.Num("acme", "d", "x", maxMs, 1), tstest.Num("acme", "d", "x", minMs, 2), tstest.Num("acme", "d", "x", -1, 3), tstest.Num("acme", "d", "x", 0, 4))
	wide := ts.Query{Tenant: "acme", Devices: []string{"d"}, From: -1 << 62, To: 1 << 62}
	if got := tstest.Flat(tstest.MustQuery(t, s, wide))["d/x"]; len(got) != 4 || got[0].TS != minMs || got[3].TS != maxMs {
		t.Errorf("raw over everything = %+v", got)
	}
	q := wide
	q.Agg, q.Every = ts.AggSum, 1000*time.Hour
	want := []ts.Sample{
		{TS: floorDiv(minMs, 3_600_000_000) * 3_600_000_000, Value: ts.Number(2), Count: 1},
		{TS: -3_600_000_000, Value: ts.Number(3), Count: 1},
		{TS: 0, Value: ts.Number(4), Count: 1},
		{TS: floorDiv(maxMs, 3_600_000_000) * 3_600_000_000, Value: ts.Number(1), Count: 1},
	}
	if got := tstest.Flat(tstest.MustQuery(t, s, q))["d/x"]; !reflect.DeepEqual(got, want) {
		t.Errorf("sum by 1000h over everything = %+v\nwant %+v", got, want)
	}
	for _, c := range []struct {
		from, to int64
		want     int
	}{{minMs, maxMs, 3}, {minMs + 1, maxMs + 1, 3}, {-1, 0, 1}, {-1, 1, 2}, {0, 1, 1}, {maxMs, maxMs + 1, 1}, {minMs, minMs + 1, 1}} {
		q := ts.Query{Tenant: "acme", Devices: []string{"d"}, From: c.from, To: c.to}
		if got := tstest.Flat(tstest.MustQuery(t, s, q))["d/x"]; len(got) != c.want {
			t.Errorf("[%d, %d) = %+v, want %d points", c.from, c.to, got, c.want)
		}
	}
}

// TestHugeOffset: an offset near the largest int (past every sample) gives
// an empty page and no next page, instead of Offset+Limit wrapping around
// to a negative next offset; pages near the end stay right.
func TestHugeOffset(t *testing.T) {
	srv := influxtest.Start(t, influxtest.Options{})
	s := openT(t, srv, Options{})
	tstest.MustWrite(t, s, tstest.Num("acme", "d", "x", tstest.T0, 1), tstest.Num("acme", "d", "x", tstest.T0+1, 2), tstest.Num("acme", "d", "x", tstest.T0+2, 3))
	for _, c := range []struct {
		offset, limit, points, next int
	}{
		{math.MaxInt, ts.MaxLimit, 0, 0},
		{math.MaxInt - 1, 2, 0, 0},
		{math.MaxInt - ts.MaxLimit + 1, ts.MaxLimit, 0, 0},
		{3, 1, 0, 0},
		{2, 1, 1, 0},
		{1, 1, 1, 2},
		{0, 2, 2, 2},
		{0, 3, 3, 0},
	} {
		for _, agg := range []ts.Agg{ts.AggNone, ts.AggMax} {
			q := ts.Query{Tenant: "acme", Devices: []string{"d"}, From: tstest.T0, To: tstest.T0 + 10, Offset: c.offset, Limit: c.limit, Agg: agg}
			if agg != ts.AggNone {
				q.Every = time.Millisecond
			}
			r := tstest.MustQuery(t, s, q)
			if got := len(tstest.Flat(r)["d/x"]); got != c.points || r.NextOffset != c.next {
				t.Errorf("%s offset %d limit %d: %d points, next %d; want %d, next %d", agg, c.offset, c.limit, got, r.NextOffset, c.points, c.next)
			}
		}
	}
}

// TestSameAnswersAsEmbedded: the same points in the embedded store and in
// InfluxDB give the same answers, page by page, to raw and aggregate
// queries: series whose buckets have gaps, buckets before 1970, ranges
// that start inside a bucket, bools and strings, hostile names.
func TestSameAnswersAsEmbedded(t *testing.T) {
	srv := influxtest.Start(t, influxtest.Options{})
	s := openT(t, srv, Options{})
	emb, err := ts.Open(tstest.Ctx(t), t.TempDir(), ts.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emb.Close() })

	rng := rand.New(rand.NewPCG(1, 2))
	devices := []string{"d1", "d2", `a' OR '1'='1`, `x"y\z`, "with space"}
	signals := []string{"n1", "n2", "flag", "mode"}
	base := int64(-200_000) // across the epoch
	var pts []ts.Point
	for _, d := range devices {
		for _, sig := range signals {
			at := base + rng.Int64N(5000)
			for range 15 + rng.IntN(20) {
				p := ts.Point{Tenant: "acme", Device: d, Signal: sig, TS: at}
				switch sig {
				case "flag":
					p.Value = ts.Bool(rng.IntN(3) > 0)
				case "mode":
					p.Value = ts.String([]string{"eco", "boost", "", `it's "on"`}[rng.IntN(4)])
				default:
					p.Value = ts.Number(float64(rng.IntN(200)-100) / 2) // sums stay exact
				}
				pts = append(pts, p)
				// Mostly a few seconds apart, sometimes minutes: buckets
				// with gaps.
				if rng.IntN(6) == 0 {
					at += 60_000 + rng.Int64N(180_000)
				} else {
					at += 1 + rng.Int64N(9000)
				}
			}
		}
	}
	tstest.MustWrite(t, s, pts...)
	tstest.MustWrite(t, emb, pts...)

	ranges := [][2]int64{{-1 << 50, 1 << 50}, {base + 61_234, base + 600_000}}
	sel := []struct{ devices, signals []string }{
		{devices, nil},
		{[]string{`x"y\z`, "d2", "nobody"}, []string{"n2", "flag", "mode", "none"}},
	}
	queries := 0
	for _, agg := range append([]ts.Agg{ts.AggNone}, ts.Aggs...) {
		everies := []time.Duration{7 * time.Second, time.Minute}
		if agg == ts.AggNone {
			everies = []time.Duration{0}
		}
		for _, every := range everies {
			for _, rg := range ranges {
				for _, se := range sel {
					for _, limit := range []int{23, ts.MaxLimit} {
						q := ts.Query{Tenant: "acme", Devices: se.devices, Signals: se.signals, From: rg[0], To: rg[1], Agg: agg, Every: every, Limit: limit}
						for page := 0; ; page++ {
							want, err := emb.Query(tstest.Ctx(t), q)
							if err != nil {
								t.Fatalf("embedded %+v: %v", q, err)
							}
							got := tstest.MustQuery(t, s, q)
							queries++
							if !reflect.DeepEqual(got, want) {
								t.Fatalf("%s every %s over %v, page %d (offset %d, limit %d) of %q/%q:\ninfluxdb %s\nembedded %s", agg, every, rg, page, q.Offset, limit, se.devices, se.signals, dump(got), dump(want))
							}
							if want.NextOffset == 0 {
								break
							}
							q.Offset = want.NextOffset
						}
					}
				}
			}
		}
	}
	t.Logf("%d points, %d queries compared", len(pts), queries)
}

func dump(r *ts.Result) string {
	s := fmt.Sprintf("next %d:", r.NextOffset)
	for _, ser := range r.Series {
		s += fmt.Sprintf("\n  %s/%s %d:", ser.Device, ser.Signal, len(ser.Points))
		for _, p := range ser.Points {
			s += fmt.Sprintf(" %d=%v(%d)", p.TS, p.Value.Any(), p.Count)
		}
	}
	return s
}
