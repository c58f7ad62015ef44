package stats

import (
	"math"
	"slices"
)

// point is one numeric value of a series: a number, or a boolean as 1 or 0.
type point struct {
	ts int64
	v  float64
	// n is how many raw values the point stands for: 1, or more for a
	// point the store downsampled (v is then their average).
	n int64
}

// aggregate computes the configured aggregates of pts (time order, at
// least one, all in [from, to)) into g. base is the last point before from
// that delta and twa start from (nil: none). scratch is reused for the
// sorted values of the percentiles.
func (c *compiled) aggregate(g map[string]any, pts []point, base *point, from, to int64, scratch *[]float64) {
	var count int64
	var sum float64
	minV, maxV := math.Inf(1), math.Inf(-1)
	for _, p := range pts {
		n := max(p.n, 1)
		count += n
		sum += p.v * float64(n)
		minV = min(minV, p.v)
		maxV = max(maxV, p.v)
	}
	var sorted []float64
	if c.needSorted {
		sorted = (*scratch)[:0]
		for _, p := range pts {
			sorted = append(sorted, p.v)
		}
		slices.Sort(sorted)
		*scratch = sorted
	}
	for _, a := range c.aggs {
		var v any
		switch a {
		case AggAvg:
			v = num(sum / float64(count))
		case AggMin:
			v = minV
		case AggMax:
			v = maxV
		case AggSum:
			v = num(sum)
		case AggCount:
			v = count
		case AggFirst:
			v = pts[0].v
		case AggLast:
			v = pts[len(pts)-1].v
		case AggStddev:
			v = stddev(pts)
		case AggP50:
			v = percentile(sorted, 0.50)
		case AggP95:
			v = percentile(sorted, 0.95)
		case AggP99:
			v = percentile(sorted, 0.99)
		case AggDelta:
			v = num(delta(pts, base))
		case AggTWA:
			v = twa(pts, base, from, to)
		}
		g[a] = v
	}
}

// num is x, or nil (JSON null) when it is not a finite number.
func num(x float64) any {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return x
}

// stddev is the sample standard deviation (divisor n − 1) of the points'
// values, by Welford's method; nil for fewer than two points.
func stddev(pts []point) any {
	if len(pts) < 2 {
		return nil
	}
	var mean, m2 float64
	for i, p := range pts {
		d := p.v - mean
		mean += d / float64(i+1)
		m2 += d * (p.v - mean)
	}
	return num(math.Sqrt(m2 / float64(len(pts)-1)))
}

// percentile is the p-quantile of sorted values, interpolated linearly
// between the closest ranks (Hyndman and Fan's type 7, as numpy's default
// and Excel's PERCENTILE.INC): rank h = (n − 1)·p, value x[⌊h⌋] + (h −
// ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]).
func percentile(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 1 {
		return sorted[0]
	}
	h := p * float64(n-1)
	lo := math.Floor(h)
	i := int(lo)
	if i+1 >= n {
		return sorted[n-1]
	}
	return sorted[i] + (h-lo)*(sorted[i+1]-sorted[i])
}

// delta is a counter's increase over the points, starting from base when
// there is one (else from the first point): each rise counts, and a drop is
// a reset — the counter started again from zero, so the new value counts
// whole.
func delta(pts []point, base *point) float64 {
	prev, rest := pts[0].v, pts[1:]
	if base != nil {
		prev, rest = base.v, pts
	}
	var d float64
	for _, p := range rest {
		if p.v >= prev {
			d += p.v - prev
		} else {
			d += p.v
		}
		prev = p.v
	}
	return d
}

// twa is the time-weighted average over [start, to) with step
// interpolation: each value holds from its time until the next point's.
// With base, start is from and base's value holds until the first point;
// without, start is the first point's time. The last value holds until to.
// nil when the span is empty.
func twa(pts []point, base *point, from, to int64) any {
	start, v := pts[0].ts, pts[0].v
	if base != nil {
		start, v = from, base.v
	}
	if to <= start {
		return nil
	}
	var area float64
	cur := start
	for _, p := range pts {
		area += v * float64(p.ts-cur)
		cur, v = p.ts, p.v
	}
	area += v * float64(to-cur)
	return num(area / float64(to-start))
}
