package stats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/nodes/backtest"
	"github.com/sluicehq/sluice/nodes/script"
	ts "github.com/sluicehq/sluice/store/timeseries"
)

// runBacktest runs a cronStats configuration over stored history: the
// windows of lead that tile [From, To) from From on (a remainder shorter
// than lead is left out), each computed as a tick at its end would, and
// returned as an event of kind stats at the window's end with the window
// and its groups. Nothing is recorded and no state is touched; the calc
// runs without the process's global script library. The stored values of
// the windows are counted first (at most BacktestMaxValues), and the
// result keeps at most BacktestMaxGroups groups (then it is Truncated).
func runBacktest(ctx context.Context, req backtest.Request) (*backtest.Result, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s backtest: %s: %w", Type, fmt.Sprintf(format, args...), backtest.ErrBadRequest)
	}
	var raw map[string]any
	if err := json.Unmarshal(req.Config, &raw); err != nil {
		return nil, bad("configuration: %v", err)
	}
	var cfg config
	if err := statsSpec.Decode(raw, &cfg); err != nil {
		return nil, bad("configuration: %v", err)
	}
	c, ps := compile(cfg)
	if ps.HasErrors() {
		return nil, bad("configuration: %v", ps.Errors())
	}
	if req.Reader == nil {
		return nil, fmt.Errorf("%s backtest: no time-series store to read", Type)
	}
	if err := checkTime("range: from", req.From); err != nil {
		return nil, bad("%v", err)
	}
	if err := checkTime("range: to", req.To); err != nil {
		return nil, bad("%v", err)
	}
	if req.To <= req.From {
		return nil, bad("range: to (%d) must be after from (%d)", req.To, req.From)
	}
	// Both ends lie in years 1 to 9999: the width and every window bound
	// below fit an int64.
	n := (req.To - req.From) / c.lead
	switch {
	case n == 0:
		return nil, bad("range: %s is shorter than one window (lead %s)", ms(req.To-req.From), ms(c.lead))
	case n > backtest.MaxEvents:
		return nil, bad("range: %d windows of %s; at most %d", n, ms(c.lead), backtest.MaxEvents)
	}
	end := req.From + n*c.lead // the last window's end
	calc, err := c.newCalc()
	switch {
	case errors.Is(err, errNoCalc):
		calc = nil
	case err != nil:
		return nil, bad("%v", err)
	default:
		defer calc.Close()
	}
	var only []string
	if len(req.Devices) > 0 {
		only = req.Devices
	}
	job := c.job
	if job == "" {
		job = req.NodeID
	}
	rn := &runner{c: c, job: job, r: req.Reader, tenant: req.Tenant, calc: calc}
	var reg DeviceLister
	if c.hasTag && req.Resources != nil {
		if reg, err = engine.Provided[DeviceLister](req.Resources, DevicesKey, "the device registry"); err != nil {
			reg = nil // deviceTag key=value: the series tags only
		}
	}
	if rn.devices, err = c.selectDevices(ctx, req.Reader, reg, req.Tenant, only); err != nil {
		if errors.Is(err, errNoRegistry) {
			return nil, bad("%v", err)
		}
		return nil, fmt.Errorf("%s backtest: %w", Type, err)
	}
	// Count the stored values of the windows first: a range that holds
	// more than a backtest reads is refused before anything is read.
	if len(rn.devices) > 0 {
		total, err := c.count(ctx, req.Reader, req.Tenant, rn.devices, req.From, end)
		if err != nil {
			return nil, fmt.Errorf("%s backtest: count the stored values: %w", Type, err)
		}
		if total > BacktestMaxValues {
			return nil, bad("range: the %d windows hold %d stored values of the selected devices and signals, more than a backtest reads (at most %d): narrow from and to, or name fewer devices (devices) or signals",
				n, total, BacktestMaxValues)
		}
	}
	res := &backtest.Result{NodeType: Type, From: req.From, To: req.To, Events: make([]backtest.Event, 0, n)}
	kept := 0 // groups in res
	for k := range n {
		w := window{From: req.From + k*c.lead, To: req.From + (k+1)*c.lead}
		md := map[string]string{MetaJob: job, MetaWindowFrom: strconv.FormatInt(w.From, 10), MetaWindowTo: strconv.FormatInt(w.To, 10), MetaRun: "backtest"}
		p, err := rn.window(ctx, w, md)
		if err != nil {
			var se *script.Error
			if errors.As(err, &se) {
				return nil, bad("window %s: %v", w, err)
			}
			return nil, fmt.Errorf("%s backtest: window %s: %w", Type, w, err)
		}
		if kept+len(p.Groups) > BacktestMaxGroups {
			// The result would grow past what a backtest keeps: the
			// windows so far, truncated.
			res.Truncated = true
			break
		}
		kept += len(p.Groups)
		res.Events = append(res.Events, backtest.Event{TS: w.To, Kind: "stats",
			Data: map[string]any{"window": map[string]any{"from": w.From, "to": w.To}, "groups": p.Groups}})
	}
	res.Fired = len(res.Events)
	res.Points = rn.points
	return res, nil
}

// Backtest limits: a request beyond them is refused (backtest.ErrBadRequest)
// or its result truncated.
var (
	// BacktestMaxValues bounds the stored values the windows of a backtest
	// hold (counted before anything is read; a downsampled point counts
	// for the values it stands for): as many as one window of a run may
	// hold.
	BacktestMaxValues int64 = maxPoints
	// BacktestMaxGroups bounds the groups a backtest's result keeps over
	// all its windows: the windows after the one that would pass it are
	// left out and the result is Truncated.
	BacktestMaxGroups = 100_000
)

// maxCountEvery bounds the bucket width of count's query (a
// time.Duration holds about 292 years).
const maxCountEvery = 100 * 365 * 24 * time.Hour

// count is how many values the devices' signals hold in [from, to).
func (c *compiled) count(ctx context.Context, r ts.Reader, tenant string, devices []string, from, to int64) (int64, error) {
	every := maxCountEvery
	if w := to - from; w < maxCountEvery.Milliseconds() {
		every = time.Duration(w) * time.Millisecond
	}
	var total int64
	err := c.query(ctx, r, ts.Query{Tenant: tenant, Signals: c.signals, From: from, To: to, Agg: ts.AggCount, Every: every}, devices, func(s *ts.Series) error {
		for _, p := range s.Points {
			total += p.Count
		}
		return nil
	})
	return total, err
}
