package stats

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/nodes/script"
	"github.com/sluicehq/sluice/store"
	ts "github.com/sluicehq/sluice/store/timeseries"
)

// queryDevices is how many devices one store query names.
const queryDevices = 200

// window is [From, To) in Unix milliseconds of device time.
type window struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
}

func (w window) String() string {
	return time.UnixMilli(w.From).UTC().Format(time.RFC3339Nano) + "/" + time.UnixMilli(w.To).UTC().Format(time.RFC3339Nano)
}

// payload is a STATS message's payload (DESIGN.md, Messages).
type payload struct {
	Job    string           `json:"job"`
	Window window           `json:"window"`
	Groups []map[string]any `json:"groups"`
}

type seriesKey struct{ device, signal string }

// registryPage is how many registered devices one registry query returns
// (a variable for the tests).
var registryPage = 500

// errNoRegistry is returned by selectDevices for a deviceTag that only the
// device registry can resolve when there is none.
var errNoRegistry = errors.New("no device registry")

// selectDevices resolves the configured selection: the listed ids plus the
// devices that match the glob and the tag — registered devices (reg, when
// not nil) whose tags include the tag, and devices with stored points whose
// series carry it as key=value. only, when not nil, limits the result to
// those ids. The result is sorted.
func (c *compiled) selectDevices(ctx context.Context, r ts.Reader, reg DeviceLister, tenant string, only []string) ([]string, error) {
	set := make(map[string]bool, len(c.ids))
	for _, id := range c.ids {
		set[id] = true
	}
	globOK := func(id string) bool {
		if c.glob == "" {
			return true
		}
		ok, _ := path.Match(c.glob, id)
		return ok
	}
	if c.hasTag && reg != nil {
		for offset := 0; ; {
			page, total, err := reg.ListDevices(ctx, store.DeviceFilter{Tenant: tenant, Tag: c.tag, Limit: registryPage, Offset: offset})
			if err != nil {
				return nil, fmt.Errorf("list the devices tagged %q in the device registry: %w", c.tag, err)
			}
			for _, d := range page {
				if globOK(d.ID) {
					set[d.ID] = true
				}
			}
			offset += len(page)
			if len(page) == 0 || offset >= total {
				break
			}
		}
	}
	if c.hasTag && reg == nil && !c.seriesTag {
		return nil, fmt.Errorf("deviceTag %q: %w: only the device registry (%s) resolves a tag that is not key=value, and this process has none", c.tag, errNoRegistry, DevicesKey)
	}
	if (c.glob != "" && !c.hasTag) || c.seriesTag {
		infos, err := r.Devices(ctx, tenant)
		if err != nil {
			return nil, fmt.Errorf("list the devices of the time-series store: %w", err)
		}
		for _, d := range infos {
			if !globOK(d.ID) {
				continue
			}
			if c.hasTag {
				if v, ok := d.Tags[c.tagKey]; !ok || v != c.tagValue {
					continue
				}
			}
			set[d.ID] = true
		}
	}
	out := make([]string, 0, len(set))
	for id := range set {
		if only == nil || slices.Contains(only, id) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out, nil
}

// read returns the numeric points of the devices' signals in w, by series,
// and how many points it read (strings included).
func (c *compiled) read(ctx context.Context, r ts.Reader, tenant string, devices []string, w window) (map[seriesKey][]point, int, error) {
	data := map[seriesKey][]point{}
	var n int
	var kept int
	err := c.query(ctx, r, ts.Query{Tenant: tenant, Signals: c.signals, From: w.From, To: w.To}, devices, func(s *ts.Series) error {
		kept += len(s.Points)
		if kept > maxPoints {
			return fmt.Errorf("the window holds more than %d points: shorten lead or select fewer devices or signals", maxPoints)
		}
		k := seriesKey{s.Device, s.Signal}
		pts := data[k]
		if pts == nil {
			pts = make([]point, 0, len(s.Points))
		}
		for _, smp := range s.Points {
			n++
			if smp.Value.Kind == ts.KindString {
				continue
			}
			pts = append(pts, point{ts: smp.TS, v: smp.Value.Num, n: smp.Count})
		}
		data[k] = pts
		return nil
	})
	return data, n, err
}

// baselines returns the last numeric value of each series in [from −
// lookback, from): where delta and twa start.
func (c *compiled) baselines(ctx context.Context, r ts.Reader, tenant string, devices []string, from int64) (map[seriesKey]point, error) {
	out := map[seriesKey]point{}
	q := ts.Query{Tenant: tenant, Signals: c.signals, From: from - c.lookback, To: from,
		Agg: ts.AggLast, Every: time.Duration(c.lookback) * time.Millisecond}
	err := c.query(ctx, r, q, devices, func(s *ts.Series) error {
		if len(s.Points) == 0 {
			return nil
		}
		last := s.Points[len(s.Points)-1] // buckets in time order: the newest
		if last.Value.Kind == ts.KindString {
			return nil
		}
		k := seriesKey{s.Device, s.Signal}
		if old, ok := out[k]; !ok || last.TS >= old.ts {
			out[k] = point{ts: last.TS, v: last.Value.Num, n: 1}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the values before the window: %w", err)
	}
	return out, nil
}

// query runs q over the devices, queryDevices at a time, page by page.
func (c *compiled) query(ctx context.Context, r ts.Reader, q ts.Query, devices []string, each func(*ts.Series) error) error {
	q.Limit = ts.MaxLimit
	for chunk := range slices.Chunk(devices, queryDevices) {
		q.Devices, q.Offset = chunk, 0
		for {
			res, err := r.Query(ctx, q)
			if err != nil {
				return fmt.Errorf("query the time-series store: %w", err)
			}
			for i := range res.Series {
				if err := each(&res.Series[i]); err != nil {
					return err
				}
			}
			if res.NextOffset == 0 {
				break
			}
			if res.NextOffset <= q.Offset {
				return fmt.Errorf("query the time-series store: next offset %d does not move past %d", res.NextOffset, q.Offset)
			}
			q.Offset = res.NextOffset
		}
	}
	return nil
}

// groups computes the groups of window w from its points: one per device
// and signal with points, or per bucket with points when every is set, in
// order of device, signal and bucket.
func (c *compiled) groups(data map[seriesKey][]point, base map[seriesKey]point, w window, scratch *[]float64) []map[string]any {
	keys := make([]seriesKey, 0, len(data))
	for k, pts := range data {
		if len(pts) > 0 {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b seriesKey) int {
		if d := strings.Compare(a.device, b.device); d != 0 {
			return d
		}
		return strings.Compare(a.signal, b.signal)
	})
	out := make([]map[string]any, 0, len(keys))
	for _, k := range keys {
		pts := data[k]
		var b *point
		if bp, ok := base[k]; ok {
			b = &bp
		}
		if c.every <= 0 {
			g := make(map[string]any, len(c.aggs)+2)
			g["deviceId"], g["signal"] = k.device, k.signal
			c.aggregate(g, pts, b, w.From, w.To, scratch)
			out = append(out, g)
			continue
		}
		for i := 0; i < len(pts); {
			start := w.From + (pts[i].ts-w.From)/c.every*c.every
			end := min(start+c.every, w.To)
			j := i + 1
			for j < len(pts) && pts[j].ts < end {
				j++
			}
			// A bucket starts from the last point before it: the window's
			// own earlier point within lookback, or for the first bucket
			// the value before the window (the store reports that one by
			// bucket, not by its exact time: later buckets do not use it).
			var bb *point
			switch {
			case i > 0:
				if prev := pts[i-1]; c.lookback > 0 && prev.ts >= start-c.lookback {
					bb = &prev
				}
			case start == w.From:
				bb = b
			}
			g := make(map[string]any, len(c.aggs)+3)
			g["deviceId"], g["signal"], g["bucket"] = k.device, k.signal, start
			c.aggregate(g, pts[i:j], bb, start, end, scratch)
			out = append(out, g)
			i = j
		}
	}
	return out
}

// runner computes windows for one trigger (or one backtest).
type runner struct {
	c       *compiled
	job     string
	r       ts.Reader
	tenant  string
	devices []string
	calc    *script.Calc
	res     *engine.Resources // for the calc's global library
	scratch []float64
	// points counts the points read.
	points int
}

// window computes the payload of w; md is the metadata the calc sees.
func (rn *runner) window(ctx context.Context, w window, md map[string]string) (*payload, error) {
	p := &payload{Job: rn.job, Window: w, Groups: []map[string]any{}}
	if len(rn.devices) > 0 {
		data, n, err := rn.c.read(ctx, rn.r, rn.tenant, rn.devices, w)
		rn.points += n
		if err != nil {
			return nil, err
		}
		var base map[seriesKey]point
		if rn.c.needBase {
			if base, err = rn.c.baselines(ctx, rn.r, rn.tenant, rn.devices, w.From); err != nil {
				return nil, err
			}
		}
		p.Groups = rn.c.groups(data, base, w, &rn.scratch)
	}
	if rn.calc != nil {
		in, err := json.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("encode the payload for calc: %w", err)
		}
		out, err := rn.calc.Run(rn.res, MsgType, in, md)
		if err != nil {
			return nil, err // "calc: script error at line …"
		}
		if p.Groups, err = calcGroups(out); err != nil {
			return nil, fmt.Errorf("calc: result: %w", err)
		}
	}
	return p, nil
}

var errCalcShape = errors.New("want the groups: an array of objects (or {groups: [...]})")

// calcGroups reads a calc's result: an array of group objects, or an
// object whose groups key holds one.
func calcGroups(b []byte) ([]map[string]any, error) {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var obj struct {
			Groups json.RawMessage `json:"groups"`
		}
		if err := json.Unmarshal(b, &obj); err != nil || len(obj.Groups) == 0 || obj.Groups[0] != '[' {
			return nil, fmt.Errorf("%w; got an object without a groups array", errCalcShape)
		}
		b = obj.Groups
	}
	if len(b) == 0 || b[0] != '[' {
		return nil, fmt.Errorf("%w; got %s", errCalcShape, truncate(string(b), 60))
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%w: %v", errCalcShape, err)
	}
	out := make([]map[string]any, len(raw))
	for i, r := range raw {
		r = bytes.TrimSpace(r)
		if len(r) == 0 || r[0] != '{' {
			return nil, fmt.Errorf("groups[%d]: want an object, got %s", i, truncate(string(r), 60))
		}
		if err := json.Unmarshal(r, &out[i]); err != nil {
			return nil, fmt.Errorf("groups[%d]: %w", i, err)
		}
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// decodeMap decodes a configuration map (defaults applied) into out.
func decodeMap(cfg map[string]any, out any) error {
	b, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}
