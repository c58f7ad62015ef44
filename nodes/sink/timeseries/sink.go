// Package timeseries is the time-series sink node: it writes unified
// telemetry to the process's time-series store (the embedded SQLite store,
// or InfluxDB when configured) through the shared sink machinery of
// nodes/sink/batch: batched, retried with backoff, spooled to disk while
// the store does not take writes.
package timeseries

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
	"github.com/sluicehq/sluice/nodes/sink/batch"
	ts "github.com/sluicehq/sluice/store/timeseries"
)

// Type is the node type.
const Type = "timeseriesSink"

// StoreKey is the engine resource under which the process provides its
// time-series store (a store/timeseries.Writer).
const StoreKey = "timeseries.store"

// Metadata the node sets on the message it passes on.
const (
	// MetaPoints: the number of points queued for the store.
	MetaPoints = "points"
	// MetaDryRun is "true" in a test run, where nothing is written;
	// MetaWouldWrite then holds the number of points that would have been.
	MetaDryRun     = batch.MetaDryRun
	MetaWouldWrite = batch.MetaWouldWrite
	// MetaReport describes what a test run would have written.
	MetaReport = "timeseriesSink"
)

var meta = batch.Meta{Type: Type, Count: MetaPoints, Report: MetaReport}

func init() { spec.Register(sinkSpec, &Node{}) }

var sinkSpec = &spec.Node{
	Type:     Type,
	Category: "storage",
	Summary:  "Store unified telemetry in the time-series store: batched, retried, spooled to disk while the store is down.",
	Doc: "The payload is unified telemetry, `{\"deviceId\", \"ts\", \"signals\": {name: value}}`, or a list of them. Each signal " +
		"becomes one point (device, signal, time, value) of the flow's tenant in the store the process is configured with " +
		"(the embedded store by default; the telemetry API and charts read from it). Numbers, booleans and strings are stored; " +
		"a nested object is stored by its dotted names (`{\"motor\": {\"rpm\": 3}}` is the signal `motor.rpm`); a null is skipped; " +
		"an array fails the message. The device is the payload's `deviceId`, else the metadata `deviceId`; the time is `ts` " +
		"(Unix milliseconds), else the message's time.\n\n" +
		"The message leaves on `Success` (with metadata `points`) once its points are in the sink's queue, which is a spool " +
		"file on disk: a crash or a restart loses none of them. Points are written in batches (`batchSize`, `flushInterval`), " +
		"in order, by one writer per node; a failed write is retried with exponential backoff while new points wait in the " +
		"spool (up to `spoolMaxMB`). When the spool is full the message waits or fails, as `whenFull` says: nothing is " +
		"dropped silently. Writing the same point again (a replay after a crash) replaces it rather than adding a duplicate. " +
		"A message that is not telemetry goes on `Failure`.\n\n" +
		"In a test run nothing is written: metadata `dryRun` is `\"true\"` and `wouldWrite` holds the number of points. " +
		"See docs/storage.md.",
	Fields: append([]*spec.Field{
		{Name: "signals", Type: spec.List, Item: &spec.Field{Type: spec.String, Help: "A signal name."}, Default: []any{},
			Example: []any{"temperature", "pressure"},
			Help:    "Only these signals are stored; empty stores every signal."},
	}, batch.Fields()...),
	Relations: spec.Relations{Fixed: []string{types.Success, types.Failure}},
	Examples: []spec.Example{
		{Title: "Store every signal", Config: map[string]any{}},
		{Title: "Store two signals in bigger batches", Config: map[string]any{"signals": []any{"temperature", "pressure"}, "batchSize": 2000, "flushInterval": "2s"}},
		{Title: "Fail messages at once when the spool is full", Config: map[string]any{"whenFull": "fail", "spoolMaxMB": 1024}},
	},
}

type config struct {
	Signals []string `json:"signals"`
	batch.Config
}

// Node is the time-series sink. Its batcher is shared by the versions of
// its flow (batch.Acquire) and joined at the first message, when the node
// knows its flow, tenant and resources.
type Node struct {
	cfg config

	shared batch.Shared[*batch.Batcher[ts.Point]]
}

var _ types.Node = (*Node)(nil)

// Type implements types.Node.
func (n *Node) Type() string { return Type }

// New implements types.Node.
func (n *Node) New() types.Node { return &Node{} }

// Init implements types.Node.
func (n *Node) Init(_ types.Config, raw types.Configuration) error {
	return batch.InitConfig(sinkSpec, raw, &n.cfg, nil)
}

// OnMsg implements types.Node.
func (n *Node) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	batch.Deliver(ctx, msg, meta, batch.Steps[ts.Point]{
		Items: func(env *engine.Env, _ string, msg types.RuleMsg) ([]ts.Point, error) {
			return n.points(env.Tenant, msg)
		},
		Report: describe,
		Join:   n.batcher,
	})
}

// describe says what a test run would have written.
func describe(points []ts.Point) string {
	devices := map[string]bool{}
	for _, p := range points {
		devices[p.Device] = true
	}
	names := make([]string, 0, len(devices))
	for d := range devices {
		names = append(names, strconv.Quote(d))
	}
	sort.Strings(names)
	return fmt.Sprintf("would write %d points of device %v to the time-series store (test run: nothing written)", len(points), names)
}

// batcher joins the node's shared batcher once per node instance.
func (n *Node) batcher(env *engine.Env, nodeID string) (*batch.Batcher[ts.Point], error) {
	return n.shared.Join(func() (*batch.Batcher[ts.Point], []func() error, error) {
		store, err := storeOf(env.Resources)
		if err != nil {
			return nil, nil, err
		}
		ref := batch.RefOf(env, nodeID, Type)
		opts, err := n.cfg.SinkOptions(env.Resources, ref, env.Logger)
		if err != nil {
			return nil, nil, err
		}
		b, release, err := batch.AcquireWriter[ts.Point](env.Resources, ref, opts, Target{store}, Codec{})
		if err != nil {
			return nil, nil, err
		}
		return b, []func() error{release}, nil
	})
}

// storeOf returns the store the process provides under StoreKey.
func storeOf(res *engine.Resources) (ts.Writer, error) {
	return engine.Provided[ts.Writer](res, StoreKey, "the time-series store")
}

// Target writes batches to a store; points the store refuses for good
// (ts.ErrBadPoint) are a permanent error, not retried.
type Target struct{ W ts.Writer }

// Write implements batch.Writer.
func (t Target) Write(ctx context.Context, points []ts.Point) error {
	err := t.W.Write(ctx, points)
	if errors.Is(err, ts.ErrBadPoint) {
		return batch.Permanent(err)
	}
	return err
}

// Destroy implements types.Node: it leaves the shared batcher; the last
// version of the flow to leave closes it (its queue stays in the spool).
func (n *Node) Destroy() { n.shared.Leave() }

// telemetry is one unified telemetry result.
type telemetry struct {
	DeviceID string          `json:"deviceId"`
	TS       json.RawMessage `json:"ts"`
	Signals  map[string]any  `json:"signals"`
}

var errNotTelemetry = errors.New(`want unified telemetry {"deviceId","ts","signals":{name: value}} or a list of them`)

// points turns the payload into points of tenant.
func (n *Node) points(tenant string, msg types.RuleMsg) ([]ts.Point, error) {
	b := bytes.TrimSpace([]byte(msg.Data))
	var items []telemetry
	switch {
	case len(b) == 0:
		return nil, fmt.Errorf("%w, got an empty payload", errNotTelemetry)
	case b[0] == '{':
		items = make([]telemetry, 1)
		if err := json.Unmarshal(b, &items[0]); err != nil {
			return nil, fmt.Errorf("%w: %s", errNotTelemetry, err.Error())
		}
	case b[0] == '[':
		if err := json.Unmarshal(b, &items); err != nil {
			return nil, fmt.Errorf("%w: %s", errNotTelemetry, err.Error())
		}
	default:
		return nil, fmt.Errorf("%w, got %.40q", errNotTelemetry, b)
	}
	var out []ts.Point
	for i, it := range items {
		where := ""
		if len(items) > 1 {
			where = fmt.Sprintf("item %d: ", i)
		}
		if it.Signals == nil {
			return nil, fmt.Errorf("%w: %sno signals object", errNotTelemetry, where)
		}
		device := it.DeviceID
		if device == "" {
			device = msg.Metadata.GetValue(engine.MetaDeviceID)
		}
		if device == "" {
			return nil, fmt.Errorf("%sno device: the payload's deviceId and the metadata deviceId are empty", where)
		}
		at, err := batch.TimeOf(it.TS, msg.Ts)
		if err != nil {
			return nil, fmt.Errorf("%s%w", where, err)
		}
		start := len(out)
		out, err = n.flatten(out, "", it.Signals, ts.Point{Tenant: tenant, Device: device, TS: at})
		if err != nil {
			return nil, fmt.Errorf("%sdevice %q: %w", where, device, err)
		}
		added := out[start:]
		sort.Slice(added, func(a, b int) bool { return added[a].Signal < added[b].Signal })
	}
	return out, nil
}

// flatten appends a point per signal of m (nested objects by dotted name).
func (n *Node) flatten(out []ts.Point, prefix string, m map[string]any, p ts.Point) ([]ts.Point, error) {
	for k, v := range m {
		name := prefix + k
		if k == "" {
			return nil, fmt.Errorf("signal %q: an empty name", prefix)
		}
		switch x := v.(type) {
		case nil:
			continue
		case map[string]any:
			var err error
			if out, err = n.flatten(out, name+".", x, p); err != nil {
				return nil, err
			}
			continue
		case []any:
			return nil, fmt.Errorf("signal %q: an array cannot be stored (store its items as signals of their own)", name)
		}
		if len(n.cfg.Signals) > 0 && !slices.Contains(n.cfg.Signals, name) {
			continue
		}
		val, err := ts.ValueOf(v)
		if err != nil {
			return nil, fmt.Errorf("signal %q: %w", name, err)
		}
		p.Signal, p.Value = name, val
		if err := p.Check(); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
