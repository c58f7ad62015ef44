package stats

import (
	"math"
	"testing"
)

// pts builds points from (minute, value) pairs, minutes after 0.
func pts(mv ...float64) []point {
	var out []point
	for i := 0; i+1 < len(mv); i += 2 {
		out = append(out, point{ts: int64(mv[i] * 60000), v: mv[i+1], n: 1})
	}
	return out
}

func TestPercentileIsLinearBetweenClosestRanks(t *testing.T) {
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(i + 1)
	}
	for _, tc := range []struct {
		sorted []float64
		p      float64
		want   float64
	}{
		{[]float64{7}, 0.5, 7},
		{[]float64{7}, 0.99, 7},
		{[]float64{1, 2}, 0.5, 1.5},
		{[]float64{1, 2, 3, 4}, 0.5, 2.5},
		{[]float64{2, 4, 4, 4, 5, 5, 7, 9}, 0.5, 4.5},  // h = 3.5
		{[]float64{2, 4, 4, 4, 5, 5, 7, 9}, 0.95, 8.3}, // h = 6.65: 7 + 0.65·2
		{[]float64{2, 4, 4, 4, 5, 5, 7, 9}, 0.99, 8.86},
		{hundred, 0.5, 50.5},
		{hundred, 0.95, 95.05},
		{hundred, 0.99, 99.01},
		{[]float64{1, 2, 3}, 1, 3},
	} {
		if got := percentile(tc.sorted, tc.p); !near(got, tc.want) {
			t.Errorf("p%v of %v: got %v, want %v", tc.p*100, tc.sorted, got, tc.want)
		}
	}
}

func TestStddevIsTheSampleOne(t *testing.T) {
	// Deviations from the mean 5 squared: 9+1+1+1+0+0+4+16 = 32; 32/7.
	got := stddev(pts(0, 2, 1, 4, 2, 4, 3, 4, 4, 5, 5, 5, 6, 7, 7, 9))
	if f, ok := got.(float64); !ok || !near(f, math.Sqrt(32.0/7)) {
		t.Fatalf("got %v, want %v", got, math.Sqrt(32.0/7))
	}
	if got := stddev(pts(0, 3)); got != nil {
		t.Fatalf("one point: got %v, want nil", got)
	}
}

func TestDeltaCountsResetsFromZero(t *testing.T) {
	counter := pts(0, 110, 15, 130, 30, 5, 45, 25, 55, 30)
	base := &point{ts: -5 * 60000, v: 100}
	for _, tc := range []struct {
		name string
		pts  []point
		base *point
		want float64
	}{
		{"from the value before the window", counter, base, 10 + 20 + 5 + 20 + 5},
		{"from the first point", counter, nil, 20 + 5 + 20 + 5},
		{"one point, no base", pts(0, 42), nil, 0},
		{"one point after a base", pts(0, 42), &point{v: 40}, 2},
		{"reset right after the base", pts(0, 3), &point{v: 40}, 3},
		{"flat", pts(0, 5, 1, 5, 2, 5), nil, 0},
		{"two resets", pts(0, 10, 1, 2, 2, 1, 3, 4), nil, 2 + 1 + 3},
	} {
		if got := delta(tc.pts, tc.base); !near(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestTWAHoldsEachValueUntilTheNext(t *testing.T) {
	hour := int64(60 * 60000)
	irregular := pts(6, 2, 10, 4, 15, 4, 20, 4, 30, 5, 35, 5, 45, 7, 50, 9)
	for _, tc := range []struct {
		name     string
		pts      []point
		base     *point
		from, to int64
		want     any
	}{
		// 2·4 + 4·5 + 4·5 + 4·10 + 5·5 + 5·10 + 7·5 + 9·10 = 288 over 54 minutes.
		{"from the first point", irregular, nil, 0, hour, 288.0 / 54},
		// The value before the window (1) holds from the start until minute 6.
		{"from the window's start", irregular, &point{v: 1}, 0, hour, (288.0 + 6) / 60},
		{"one point holds to the end", pts(30, 8), nil, 0, hour, 8.0},
		{"a point on the start", pts(0, 3, 30, 5), &point{v: 100}, 0, hour, 4.0},
		{"nothing to weigh", pts(60, 3), nil, 0, hour, nil},
	} {
		got := twa(tc.pts, tc.base, tc.from, tc.to)
		switch w := tc.want.(type) {
		case nil:
			if got != nil {
				t.Errorf("%s: got %v, want nil", tc.name, got)
			}
		case float64:
			if f, ok := got.(float64); !ok || !near(f, w) {
				t.Errorf("%s: got %v, want %v", tc.name, got, w)
			}
		}
	}
}

func TestAggregateEveryFigure(t *testing.T) {
	c := &compiled{aggs: aggNames, needSorted: true}
	g := map[string]any{}
	var scratch []float64
	data := pts(0, 2, 5, 4, 10, 4, 20, 4, 30, 5, 35, 5, 45, 7, 50, 9)
	c.aggregate(g, data, nil, 0, 60*60000, &scratch)
	for name, w := range map[string]float64{
		AggAvg: 5, AggMin: 2, AggMax: 9, AggSum: 40, AggFirst: 2, AggLast: 9, AggStddev: math.Sqrt(32.0 / 7),
		AggP50: 4.5, AggP95: 8.3, AggP99: 8.86,
		AggDelta: 2 + 0 + 0 + 1 + 0 + 2 + 2, // the rises, no reset
		// 2·5 + 4·5 + 4·10 + 4·10 + 5·5 + 5·10 + 7·5 + 9·10 = 310 over 60 minutes.
		AggTWA: 310.0 / 60,
	} {
		if f, ok := g[name].(float64); !ok || !near(f, w) {
			t.Errorf("%s: got %v, want %v", name, g[name], w)
		}
	}
	if g[AggCount] != int64(8) {
		t.Errorf("count: got %v (%T), want 8", g[AggCount], g[AggCount])
	}
	// Downsampled points stand for several values in count, sum and avg.
	g = map[string]any{}
	c.aggregate(g, []point{{ts: 0, v: 10, n: 3}, {ts: 1, v: 20, n: 1}}, nil, 0, 2, &scratch)
	if g[AggCount] != int64(4) || g[AggSum] != 50.0 || g[AggAvg] != 12.5 {
		t.Errorf("downsampled: %v", g)
	}
}
