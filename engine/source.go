package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rulego/rulego/api/types"
)

// Source is the runtime of a connector node: it receives from devices or
// servers and submits messages into its flow at its own node. Sluice owns
// sources, not RuleGo: a redeploy that leaves a connector node's config
// unchanged keeps its source running (no reconnect, no dropped device).
type Source interface {
	// Start begins receiving and returns. It returns an error only when the
	// source cannot run with its config (a port in use, say): its status is
	// then "error". A server that cannot be reached yet is not an error:
	// the source retries with backoff and reports "retrying".
	Start(ctx context.Context) error
	// Stop ends receiving, waits for what it handed to the flow (up to ctx),
	// and closes its sockets.
	Stop(ctx context.Context) error
	// Status reports the source's state and counters.
	Status() SourceStatus
}

// SourceState is what a source is doing.
type SourceState string

// Source states.
const (
	StateConnected SourceState = "connected"
	StateListening SourceState = "listening"
	StateRetrying  SourceState = "retrying"
	StateError     SourceState = "error"
	StateStopped   SourceState = "stopped"
)

// SourceStatus is a source's state and counters, for GET .../status.
type SourceStatus struct {
	State       SourceState `json:"state"`
	Connections int64       `json:"connections"`
	Messages    uint64      `json:"messages"`
	Bytes       uint64      `json:"bytes"`
	Errors      uint64      `json:"errors"`
	LastError   string      `json:"lastError,omitempty"`
	Since       time.Time   `json:"since"`
}

// SourceContext is what a connector's factory gets.
type SourceContext struct {
	FlowID string
	NodeID string
	Tenant string
	Logger *slog.Logger
	// In submits messages into the flow, starting at the connector's node.
	In Inlet
	// Resources shares clients and listeners between sources (and nodes).
	Resources *Resources
	// State is the engine's state store.
	State StateStore
	// Devices authenticates devices (may be nil: then refuse every device
	// that must authenticate).
	Devices DeviceAuth
}

// Inlet submits a message into a deployed flow at a connector's node.
type Inlet interface {
	Submit(ctx context.Context, msg Message, o SubmitOptions) (*Result, error)
}

// SourceFactory builds the source of a connector node from its config
// (already validated against the node's spec).
type SourceFactory func(sc SourceContext, config map[string]any) (Source, error)

// sourceFactories is the registry of connector runtimes, filled from init()
// of the connector packages (a registry, as DESIGN.md allows).
var sourceFactories = struct {
	sync.RWMutex
	m map[string]SourceFactory
}{m: map[string]SourceFactory{}}

// RegisterSource binds a connector node type (whose spec has Source set) to
// the factory of its runtime. A duplicate type panics.
func RegisterSource(nodeType string, f SourceFactory) {
	sourceFactories.Lock()
	defer sourceFactories.Unlock()
	if _, dup := sourceFactories.m[nodeType]; dup {
		panic(fmt.Sprintf("engine: source %q registered twice", nodeType))
	}
	sourceFactories.m[nodeType] = f
}

func sourceFactory(nodeType string) (SourceFactory, bool) {
	sourceFactories.RLock()
	defer sourceFactories.RUnlock()
	f, ok := sourceFactories.m[nodeType]
	return f, ok
}

// SourceNode is the node a connector occupies in its flow's chain: messages
// from the source enter the flow here and leave on Success.
type SourceNode struct{ NodeType string }

// Type implements types.Node.
func (n SourceNode) Type() string { return n.NodeType }

// New implements types.Node.
func (n SourceNode) New() types.Node { return n }

// Init implements types.Node.
func (SourceNode) Init(types.Config, types.Configuration) error { return nil }

// OnMsg implements types.Node.
func (SourceNode) OnMsg(ctx types.RuleContext, msg types.RuleMsg) { ctx.TellSuccess(msg) }

// Destroy implements types.Node.
func (SourceNode) Destroy() {}

// inlet submits into a flow at a node.
type inlet struct {
	m      *Manager
	flowID string
	nodeID string
}

func (in inlet) Submit(ctx context.Context, msg Message, o SubmitOptions) (*Result, error) {
	o.StartNode = in.nodeID
	return in.m.Submit(ctx, in.flowID, msg, o)
}

// runningSource is a started source and the config it was started with.
type runningSource struct {
	nodeType string
	key      string // the node's type and config, canonical JSON
	src      Source
	startErr error
}

func sourceKey(n Node) string {
	b, _ := json.Marshal(struct {
		T string         `json:"t"`
		C map[string]any `json:"c"`
	}{n.Type, n.Configuration}) // encoding/json sorts map keys: canonical
	return string(b)
}

// reconcileSources brings the sources of flow f in line with its connector
// nodes: an unchanged node keeps its running source; a changed or removed one
// is stopped, and a changed or new one is started. Start errors are reported
// in the source's status and returned as warnings.
func (m *Manager) reconcileSources(ctx context.Context, tenant string, f *Flow) []error {
	id := f.RuleChain.ID
	want := map[string]Node{}
	for _, n := range f.Metadata.Nodes {
		if _, ok := sourceFactory(n.Type); ok {
			want[n.ID] = n
		}
	}
	m.srcMu.Lock()
	have := m.sources[id]
	if have == nil {
		have = map[string]*runningSource{}
		m.sources[id] = have
	}
	var stop []*runningSource
	var start []string
	for nodeID, rs := range have {
		n, ok := want[nodeID]
		if !ok || sourceKey(n) != rs.key {
			stop = append(stop, rs)
			delete(have, nodeID)
		}
	}
	for nodeID := range want {
		if _, ok := have[nodeID]; !ok {
			start = append(start, nodeID)
		}
	}
	m.srcMu.Unlock()

	// Stop first: a changed node may need the port its old source holds.
	m.stopSources(ctx, stop)
	sort.Strings(start)
	var errs []error
	for _, nodeID := range start {
		n := want[nodeID]
		rs, err := m.startSource(ctx, tenant, id, n)
		if err != nil {
			errs = append(errs, fmt.Errorf("flow %q: node %q (%s): %w", id, nodeID, n.Type, err))
		}
		m.srcMu.Lock()
		m.sources[id][nodeID] = rs
		m.srcMu.Unlock()
	}
	return errs
}

func (m *Manager) startSource(ctx context.Context, tenant, flowID string, n Node) (*runningSource, error) {
	f, _ := sourceFactory(n.Type)
	rs := &runningSource{nodeType: n.Type, key: sourceKey(n)}
	sc := SourceContext{
		FlowID: flowID, NodeID: n.ID, Tenant: tenant,
		Logger:    m.log.With("flow", flowID, "node", n.ID, "connector", n.Type),
		In:        inlet{m: m, flowID: flowID, nodeID: n.ID},
		Resources: m.resources, State: m.opts.State, Devices: m.opts.Devices,
	}
	src, err := f(sc, n.Configuration)
	if err == nil {
		rs.src = src
		err = src.Start(ctx)
	}
	if err != nil {
		rs.startErr = err
		m.log.Error("connector failed to start", "flow", flowID, "node", n.ID, "connector", n.Type, "error", err)
	}
	return rs, err
}

func (m *Manager) stopSources(ctx context.Context, rss []*runningSource) {
	var wg sync.WaitGroup
	for _, rs := range rss {
		if rs.src == nil || rs.startErr != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, m.opts.DrainTimeout)
			defer cancel()
			if err := rs.src.Stop(sctx); err != nil {
				m.log.Warn("connector did not stop cleanly", "connector", rs.nodeType, "error", err)
			}
		}()
	}
	wg.Wait()
}

// stopFlowSources stops every source of a flow (undeploy, shutdown).
func (m *Manager) stopFlowSources(ctx context.Context, flowID string) {
	m.srcMu.Lock()
	have := m.sources[flowID]
	delete(m.sources, flowID)
	m.srcMu.Unlock()
	rss := make([]*runningSource, 0, len(have))
	for _, rs := range have {
		rss = append(rss, rs)
	}
	m.stopSources(ctx, rss)
}

// SourceStatuses returns the status of each connector node of a deployed flow.
func (m *Manager) SourceStatuses(flowID string) map[string]SourceStatus {
	m.srcMu.Lock()
	defer m.srcMu.Unlock()
	out := map[string]SourceStatus{}
	for nodeID, rs := range m.sources[flowID] {
		switch {
		case rs.startErr != nil:
			out[nodeID] = SourceStatus{State: StateError, LastError: rs.startErr.Error(), Errors: 1}
		default:
			out[nodeID] = rs.src.Status()
		}
	}
	return out
}

// Resources is a set of shared, reference-counted resources (clients,
// listeners) keyed by what makes them the same: MQTT-in nodes of several
// flows on one broker with the same credentials share one client.
type Resources struct {
	mu sync.Mutex
	m  map[string]*resource
}

type resource struct {
	value any
	close func() error
	refs  int
}

// Provide registers a resource that the process owns (the API server's
// ingest router, say): Acquire of key returns it and never closes it.
func (r *Resources) Provide(key string, value any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[key] = &resource{value: value, refs: 1}
}

// NewResources returns an empty set.
func NewResources() *Resources { return &Resources{m: map[string]*resource{}} }

// Acquire returns the resource for key, opening it when nobody holds it,
// and a release function; the last release closes it.
func (r *Resources) Acquire(key string, open func() (value any, closeFn func() error, err error)) (any, func() error, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res, ok := r.m[key]
	if !ok {
		v, c, err := open()
		if err != nil {
			return nil, nil, err
		}
		res = &resource{value: v, close: c}
		r.m[key] = res
	}
	res.refs++
	var released atomic.Bool
	release := func() error {
		if !released.CompareAndSwap(false, true) {
			return nil
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		res.refs--
		if res.refs > 0 {
			return nil
		}
		delete(r.m, key)
		if res.close != nil {
			return res.close()
		}
		return nil
	}
	return res.value, release, nil
}

// Resources is the manager's set of shared resources.
func (m *Manager) Resources() *Resources { return m.resources }

// Provided returns what the process provided under key (Resources.Provide)
// as a T. what names the resource in errors: "the HTTP ingest router (key)
// is not available in this process". A provided resource is never closed
// by its users, so there is nothing to release.
func Provided[T any](r *Resources, key, what string) (T, error) {
	var zero T
	if r != nil {
		r.mu.Lock()
		res, ok := r.m[key]
		r.mu.Unlock()
		if ok {
			v, ok := res.value.(T)
			if !ok {
				return zero, fmt.Errorf("%s (%s) is a %T, not a %T", what, key, res.value, zero)
			}
			return v, nil
		}
	}
	return zero, fmt.Errorf("%s (%s) is not available in this process", what, key)
}
