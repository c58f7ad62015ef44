// Package schedule is the cron connector: a source that starts its flow with
// a TICK message at each activation of a cron expression (with seconds) in a
// time zone.
package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // IANA zones even where the system has none

	"github.com/robfig/cron/v3"
	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

// NodeType is the type of the schedule connector node.
const NodeType = "schedule"

// MsgType is the type of the messages a schedule emits.
const MsgType = "TICK"

// parser reads cron expressions with a seconds field, as the spec's Cron
// field type checks them.
var parser = cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

func init() {
	spec.Register(scheduleSpec, engine.SourceNode{NodeType: NodeType})
	engine.RegisterSource(NodeType, newSource)
}

var scheduleSpec = &spec.Node{
	Type:     NodeType,
	Category: "connectors",
	Summary:  "Start the flow at each tick of a cron expression (with seconds) in a time zone.",
	Source:   true,
	Doc: "At each activation the node emits a `TICK` message (dataType JSON) with data " +
		"`{\"tick\": \"2025-01-15T09:00:00+01:00\", \"scheduled\": \"2025-01-15T09:00:00+01:00\"}`: `scheduled` is the activation time, `tick` when it fired, " +
		"both RFC 3339 in the node's time zone. Metadata: `connector`, `tenant`, `tickTime`, `scheduledTime`, `cron`, `timezone`, `receivedAt`. " +
		"Expressions have six fields, seconds first (`0 */5 * * * *` is every five minutes), or a descriptor (`@hourly`, `@every 30s`). " +
		"Each activation runs once across all Sluice instances that share state: the instance that claims it in the state store emits it. " +
		"Backpressure: a tick waits for room in its flow until the next activation; if the flow is still full then, the tick is skipped and counted as an error. " +
		"With `runOnStart` the node also ticks once when it starts (on every instance), with `scheduled` set to the start time.",
	Fields: []*spec.Field{
		{Name: "cron", Type: spec.Cron, Required: true,
			Help: "Cron expression with seconds: second minute hour day-of-month month day-of-week, or a descriptor such as `@every 1m`.", Example: "0 0 * * * *"},
		{Name: "timezone", Type: spec.String, Default: "UTC",
			Help: "IANA time zone the expression is read in, e.g. `Europe/Berlin`; `Local` is the server's zone.", Example: "Europe/Berlin"},
		{Name: "runOnStart", Type: spec.Bool, Default: false,
			Help: "Also tick once when the node starts (deploy, restart)."},
	},
	Relations: spec.Relations{Fixed: []string{types.Success}},
	Examples: []spec.Example{
		{Title: "Every five minutes", Config: map[string]any{"cron": "0 */5 * * * *"}},
		{Title: "Weekdays at 07:30 in Berlin, and once at start", Config: map[string]any{
			"cron": "0 30 7 * * MON-FRI", "timezone": "Europe/Berlin", "runOnStart": true}},
	},
	Validate: func(cfg map[string]any) spec.Problems {
		tz, _ := cfg["timezone"].(string)
		if _, err := loadLocation(tz); err != nil {
			return spec.Problems{{Field: "timezone", Message: err.Error()}}
		}
		return nil
	},
}

func loadLocation(name string) (*time.Location, error) {
	if name == "" {
		return nil, errors.New("want an IANA time zone such as \"Europe/Berlin\" or \"UTC\"")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q: want an IANA name such as \"Europe/Berlin\"", name)
	}
	return loc, nil
}

type config struct {
	Cron       string `json:"cron"`
	Timezone   string `json:"timezone"`
	RunOnStart bool   `json:"runOnStart"`
}

// nextActivations returns the next n activations of expr in zone after from.
func nextActivations(expr, zone string, from time.Time, n int) ([]time.Time, error) {
	sched, err := parser.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("cron: %w", err)
	}
	loc, err := loadLocation(zone)
	if err != nil {
		return nil, err
	}
	out := make([]time.Time, 0, n)
	t := from.In(loc)
	for range n {
		t = sched.Next(t)
		if t.IsZero() {
			break
		}
		out = append(out, t)
	}
	return out, nil
}

type source struct {
	sc    engine.SourceContext
	cfg   config
	sched cron.Schedule
	loc   *time.Location
	log   *slog.Logger
	key   string // state key of the last activation claimed

	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{}
	inflight sync.WaitGroup

	msgs, errs atomic.Uint64
	mu         sync.Mutex
	state      engine.SourceState
	lastErr    string
	since      time.Time
}

var _ engine.Source = (*source)(nil)

func newSource(sc engine.SourceContext, raw map[string]any) (engine.Source, error) {
	var cfg config
	if err := scheduleSpec.Decode(raw, &cfg); err != nil {
		return nil, fmt.Errorf("schedule: %w", err)
	}
	sched, err := parser.Parse(cfg.Cron)
	if err != nil {
		return nil, fmt.Errorf("schedule: cron: %w", err)
	}
	loc, err := loadLocation(cfg.Timezone)
	if err != nil {
		return nil, fmt.Errorf("schedule: timezone: %w", err)
	}
	logger := sc.Logger
	if logger == nil {
		logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &source{
		sc: sc, cfg: cfg, sched: sched, loc: loc, log: logger,
		key: sc.Tenant + "/" + sc.FlowID + "/" + sc.NodeID + "/schedule.lastTick",
		ctx: ctx, cancel: cancel, state: engine.StateStopped, since: time.Now(),
	}, nil
}

// Start implements engine.Source.
func (s *source) Start(context.Context) error {
	s.done = make(chan struct{})
	s.setState(engine.StateListening)
	go s.run()
	return nil
}

func (s *source) run() {
	defer close(s.done)
	now := time.Now().In(s.loc)
	if s.cfg.RunOnStart {
		s.fire(now, s.sched.Next(now), false)
	}
	last := now
	for {
		next := s.sched.Next(last)
		if next.IsZero() {
			s.fail(fmt.Errorf("cron %q has no activation in the next five years", s.cfg.Cron))
			s.setState(engine.StateError)
			return
		}
		timer := time.NewTimer(time.Until(next))
		select {
		case <-s.ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		s.fire(next, s.sched.Next(next), true)
		// Never go back before the activation just handled, even if the
		// timer fired a little early.
		last = time.Now().In(s.loc)
		if last.Before(next) {
			last = next
		}
	}
}

// fire emits the tick of activation scheduled; it may wait for room in the
// flow until the following activation. claim makes it once per cluster.
func (s *source) fire(scheduled, following time.Time, claim bool) {
	if claim {
		ok, err := s.claim(scheduled)
		if err != nil {
			s.fail(fmt.Errorf("tick %s: claim in the state store: %w", scheduled.Format(time.RFC3339), err))
			return
		}
		if !ok {
			return // another instance has it
		}
	}
	tick := time.Now().In(s.loc)
	data, _ := json.Marshal(map[string]string{
		"tick":      tick.Format(time.RFC3339),
		"scheduled": scheduled.Format(time.RFC3339),
	})
	msg := engine.Message{Type: MsgType, DataType: "JSON", Data: string(data), Metadata: map[string]string{
		"connector":     NodeType,
		"tenant":        s.sc.Tenant,
		"tickTime":      tick.Format(time.RFC3339),
		"scheduledTime": scheduled.Format(time.RFC3339),
		"cron":          s.cfg.Cron,
		"timezone":      s.cfg.Timezone,
		"receivedAt":    time.Now().UTC().Format(time.RFC3339Nano),
	}}
	ctx, cancel := s.ctx, context.CancelFunc(func() {})
	if !following.IsZero() {
		ctx, cancel = context.WithDeadline(s.ctx, following)
	}
	defer cancel()
	s.inflight.Add(1)
	if _, err := s.sc.In.Submit(ctx, msg, engine.SubmitOptions{Done: func(engine.Result) { s.inflight.Done() }}); err != nil {
		s.inflight.Done()
		if s.ctx.Err() != nil {
			return // stopping
		}
		s.fail(fmt.Errorf("tick %s skipped: %w", scheduled.Format(time.RFC3339), err))
		return
	}
	s.msgs.Add(1)
}

// claim records scheduled as the last activation of this node in the state
// store, unless it (or a later one) already is: one instance per tick.
func (s *source) claim(scheduled time.Time) (bool, error) {
	st := s.sc.State
	if st == nil {
		return true, nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	next := []byte(scheduled.UTC().Format(time.RFC3339Nano))
	prev, ok, err := st.Get(ctx, s.key)
	if err != nil {
		return false, err
	}
	if ok {
		if t, perr := time.Parse(time.RFC3339Nano, string(prev)); perr == nil && !t.Before(scheduled) {
			return false, nil
		}
	} else {
		prev = nil
	}
	return st.CompareAndSet(ctx, s.key, prev, next, 0)
}

// Stop implements engine.Source.
func (s *source) Stop(ctx context.Context) error {
	s.cancel()
	if s.done != nil {
		<-s.done
	}
	done := make(chan struct{})
	go func() {
		s.inflight.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("stop schedule: ticks still in the flow: %w", context.Cause(ctx))
	}
	s.setState(engine.StateStopped)
	return err
}

func (s *source) setState(st engine.SourceState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != st {
		s.since = time.Now()
	}
	s.state = st
}

func (s *source) fail(err error) {
	s.errs.Add(1)
	s.mu.Lock()
	s.lastErr = err.Error()
	s.mu.Unlock()
	s.log.Warn("schedule connector error", "error", err)
}

// Status implements engine.Source: messages are the ticks emitted, errors
// the ticks skipped.
func (s *source) Status() engine.SourceStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return engine.SourceStatus{State: s.state, Messages: s.msgs.Load(), Errors: s.errs.Load(), LastError: s.lastErr, Since: s.since}
}
