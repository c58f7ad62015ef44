package stats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/nodes/backtest"
	"github.com/sluicehq/sluice/nodes/script"
)

// runBacktest runs a cronStats configuration over stored history: the
// windows of lead that tile [From, To) from From on (a remainder shorter
// than lead is left out), each computed as a tick at its end would, and
// returned as an event of kind stats at the window's end with the window
// and its groups. Nothing is recorded and no state is touched; the calc
// runs without the process's global script library.
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
	if req.To <= req.From {
		return nil, bad("range: to (%d) must be after from (%d)", req.To, req.From)
	}
	n := (req.To - req.From) / c.lead
	switch {
	case n == 0:
		return nil, bad("range: %s is shorter than one window (lead %s)", ms(req.To-req.From), ms(c.lead))
	case n > backtest.MaxEvents:
		return nil, bad("range: %d windows of %s; at most %d", n, ms(c.lead), backtest.MaxEvents)
	}
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
	res := &backtest.Result{NodeType: Type, From: req.From, To: req.To, Events: make([]backtest.Event, 0, n)}
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
		res.Events = append(res.Events, backtest.Event{TS: w.To, Kind: "stats",
			Data: map[string]any{"window": map[string]any{"from": w.From, "to": w.To}, "groups": p.Groups}})
	}
	res.Fired = int(n)
	res.Points = rn.points
	return res, nil
}
