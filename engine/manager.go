package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rulego/rulego/api/types"
	"github.com/rulego/rulego/builtin/aspect"
	rgengine "github.com/rulego/rulego/engine"

	"github.com/sluicehq/sluice/engine/spec"
)

// Options configure a Manager. Zero values take the defaults.
type Options struct {
	Logger      *slog.Logger
	State       StateStore
	DeadLetters DeadLetterSink
	// Devices authenticates devices for connectors (nil: connectors that
	// require device credentials refuse every device).
	Devices DeviceAuth
	// Metrics is where the engine registers its collectors (nil: nowhere).
	Metrics prometheus.Registerer
	// MaxInFlight bounds the messages admitted to one flow and not finished
	// (default 1024).
	MaxInFlight int
	// Lanes is the number of per-device lanes of a flow (default 64).
	Lanes int
	// Workers is the size of the hop worker pool (default 16 × GOMAXPROCS).
	Workers int
	// MessageTimeout is how long a message may stay in a flow (default 30s).
	MessageTimeout time.Duration
	// DrainTimeout is how long an old version may finish its messages after
	// a redeploy, an undeploy or at shutdown (default 10s).
	DrainTimeout time.Duration
	// SnapshotBytes truncates payloads in trace events (default 4096).
	SnapshotBytes int
	// NodeStatuses, when set, reports the status of a flow's other stateful
	// nodes (a sink's queue and spool, say) by node id, for Status.
	NodeStatuses func(flowID string) map[string]any
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 1024
	}
	if o.Lanes <= 0 {
		o.Lanes = 64
	}
	if o.Workers <= 0 {
		o.Workers = 16 * runtime.GOMAXPROCS(0)
	}
	if o.MessageTimeout <= 0 {
		o.MessageTimeout = 30 * time.Second
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 10 * time.Second
	}
	if o.SnapshotBytes <= 0 {
		o.SnapshotBytes = 4096
	}
}

var builtinsOnce sync.Once

// useSluiceAspectsOnly removes RuleGo's built-in Debug and Metrics aspects
// (they copy every message twice per node and keep global metrics,
// RULEGO-NOTES §6.5, §6.7, §8), keeping its Validator. engine.BuiltinsAspects
// is RuleGo package state: this is the one place Sluice sets package-level
// state outside its registries, once, before the first engine is built.
func useSluiceAspectsOnly() {
	builtinsOnce.Do(func() {
		rgengine.BuiltinsAspects = []types.Aspect{&aspect.Validator{}}
	})
}

// Manager deploys flows and runs messages through them.
type Manager struct {
	opts       Options
	log        *slog.Logger
	metrics    *engineMetrics
	trace      *TraceBus
	pool       *workerPool
	components *rgengine.RuleComponentRegistry
	subchains  subchainPool

	ctx    context.Context // parent of every message context; cancelled at Shutdown
	cancel context.CancelFunc

	deployMu sync.Mutex // serialises deploy, undeploy and shutdown
	mu       sync.RWMutex
	flows    map[string]*flowRuntime
	stopping map[*flowRuntime]struct{} // undeployed, still draining

	srcMu     sync.Mutex
	sources   map[string]map[string]*runningSource // flow id -> node id -> source
	resources *Resources
	tests     sync.WaitGroup
	bg        sync.WaitGroup // drains and the deadline sweeper
	stopBg    chan struct{}
	shutdown  bool
}

// NewManager returns a running manager with no flows.
func NewManager(o Options) *Manager {
	o.defaults()
	useSluiceAspectsOnly()
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{
		opts: o, log: o.Logger, metrics: newEngineMetrics(o.Metrics), trace: NewTraceBus(),
		pool: newWorkerPool(o.Workers, o.Logger), components: &rgengine.RuleComponentRegistry{},
		ctx: ctx, cancel: cancel, flows: map[string]*flowRuntime{}, stopping: map[*flowRuntime]struct{}{}, stopBg: make(chan struct{}),
		sources: map[string]map[string]*runningSource{}, resources: NewResources(),
	}
	m.subchains = subchainPool{m}
	if o.Metrics != nil {
		o.Metrics.MustRegister(sourceCollector{m})
	}
	for _, r := range spec.All() {
		if err := m.components.Register(guardedNode{r.Proto}); err != nil {
			panic(fmt.Sprintf("engine: register %q: %v", r.Spec.Type, err)) // spec.Register already refuses duplicates
		}
	}
	if m.opts.State == nil {
		s, _ := NewMemoryState(ctx, nil) // a nil persister cannot fail
		m.opts.State = s
	}
	m.bg.Add(1)
	go m.sweep()
	return m
}

// Trace is the manager's trace bus.
func (m *Manager) Trace() *TraceBus { return m.trace }

// State is the manager's state store.
func (m *Manager) State() StateStore { return m.opts.State }

func (m *Manager) runtime(id string) *flowRuntime {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.flows[id]
}

// Validate checks a flow, including conflicts with the other deployed flows
// and sub-chain targets that are not deployed.
func (m *Manager) Validate(f *Flow) spec.Problems {
	return Validate(f, m.validateOptions(f.RuleChain.ID, nil))
}

func (m *Manager) validateOptions(self string, pending map[string]bool) ValidateOptions {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var others []*Flow
	for id, rt := range m.flows {
		if id != self && !pending[id] {
			others = append(others, rt.cur.Load().flow)
		}
	}
	sort.Slice(others, func(i, j int) bool { return others[i].RuleChain.ID < others[j].RuleChain.ID })
	deployed := make(map[string]bool, len(m.flows))
	for id := range m.flows {
		deployed[id] = true
	}
	return ValidateOptions{Others: others, FlowExists: func(id string) bool { return deployed[id] || pending[id] }}
}

// Deployment names one flow version to deploy.
type Deployment struct {
	Tenant  string
	Flow    *Flow
	Version int
}

// Deploy validates and deploys one flow version; see DeployMany.
func (m *Manager) Deploy(ctx context.Context, tenant string, f *Flow, version int) error {
	return m.DeployMany(ctx, []Deployment{{Tenant: tenant, Flow: f, Version: version}})
}

// DeployMany deploys several flow versions at once. Every flow is validated
// first (sub-chain targets may be in the same set); if any has errors,
// nothing changes and the problems are returned as spec.Problems. Each new
// version is built beside the running one and swapped in atomically; the old
// version finishes its messages (up to DrainTimeout) and then stops.
func (m *Manager) DeployMany(ctx context.Context, ds []Deployment) error {
	m.deployMu.Lock()
	defer m.deployMu.Unlock()
	if m.shutdown {
		return errors.New("deploy: engine is shutting down")
	}
	pending := map[string]bool{}
	for _, d := range ds {
		pending[d.Flow.RuleChain.ID] = true
	}
	var problems spec.Problems
	for _, d := range ds {
		problems = append(problems, Validate(d.Flow, m.validateOptions(d.Flow.RuleChain.ID, pending)).Errors()...)
	}
	if problems.HasErrors() {
		return problems
	}
	// Build every version before swapping any: all or nothing. Sub-chain
	// targets are deployed before the flows that call them.
	built := make([]*version, 0, len(ds))
	for _, d := range orderBySubchains(ds) {
		if err := ctx.Err(); err != nil {
			m.stopVersions(built)
			return fmt.Errorf("deploy: %w", err)
		}
		id := d.Flow.RuleChain.ID
		env := &Env{FlowID: id, Tenant: d.Tenant, Version: d.Version, State: m.opts.State, SideEffects: true, Resources: m.resources, Logger: m.log.With("flow", id)}
		v, err := m.build(d.Flow, fmt.Sprintf("%s@%d", id, d.Version), d.Version, env)
		if err != nil {
			m.stopVersions(built)
			return err
		}
		v.since = time.Now()
		built = append(built, v)
	}
	for _, v := range built {
		m.swapIn(v.env.Tenant, v)
	}
	// Connector sources start once their flow's runtime exists. A source
	// that cannot start is reported in the flow's status; the deploy stands.
	for _, v := range built {
		for _, err := range m.reconcileSources(ctx, v.env.Tenant, v.flow) {
			m.log.Warn("deploy: connector not running", "error", err)
		}
	}
	return nil
}

func (m *Manager) stopVersions(vs []*version) {
	for _, v := range vs {
		v.eng.Stop()
	}
}

// swapIn makes v the current version of its flow and drains the old one in
// the background.
func (m *Manager) swapIn(tenant string, v *version) {
	m.mu.Lock()
	rt, ok := m.flows[v.flowID]
	if !ok {
		m.flows[v.flowID] = m.newRuntime(tenant, v)
		m.mu.Unlock()
		m.log.Info("flow deployed", "flow", v.flowID, "version", v.number)
		return
	}
	m.mu.Unlock()
	old := rt.cur.Swap(v)
	m.log.Info("flow redeployed", "flow", v.flowID, "version", v.number, "previous", old.number)
	m.bg.Add(1)
	go func() {
		defer m.bg.Done()
		m.drain(rt, old, time.Now().Add(m.opts.DrainTimeout))
	}()
}

// drain closes v to new messages, waits until it has finished what it holds
// or the deadline passes, and stops its engine. Messages still in flight at
// the deadline are dead-lettered by id, never dropped silently.
func (m *Manager) drain(rt *flowRuntime, v *version, deadline time.Time) {
	v.close()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-v.drained:
	case <-timer.C:
		var late []*job
		rt.mu.Lock()
		for j := range rt.inflight {
			if j.v == v {
				late = append(late, j)
			}
		}
		rt.mu.Unlock()
		m.expireAll(v.flowID, late, "drain deadline passed")
	}
	v.eng.Stop()
}

// expireAll times out jobs and logs their message ids.
func (m *Manager) expireAll(flowID string, jobs []*job, what string) {
	if len(jobs) == 0 {
		return
	}
	ids := make([]string, 0, len(jobs))
	for _, j := range jobs {
		ids = append(ids, j.msg.Id)
		j.expire(what)
	}
	m.log.Warn(what+": messages dead-lettered", "flow", flowID, "messages", strings.Join(ids, ","))
}

// orderBySubchains puts the targets of flow nodes before their callers.
func orderBySubchains(ds []Deployment) []Deployment {
	byID := map[string]Deployment{}
	for _, d := range ds {
		byID[d.Flow.RuleChain.ID] = d
	}
	var out []Deployment
	seen := map[string]bool{}
	var visit func(d Deployment)
	visit = func(d Deployment) {
		id := d.Flow.RuleChain.ID
		if seen[id] {
			return
		}
		seen[id] = true
		for _, target := range subchainTargets(d.Flow) {
			if t, ok := byID[target]; ok {
				visit(t)
			}
		}
		out = append(out, d)
	}
	for _, d := range ds {
		visit(d)
	}
	return out
}

func subchainTargets(f *Flow) []string {
	var out []string
	for _, n := range f.Metadata.Nodes {
		if n.Type == "flow" {
			if t, ok := n.Configuration["targetId"].(string); ok {
				out = append(out, t)
			}
		}
	}
	return out
}

// Undeploy stops a flow: it refuses new messages, finishes the ones it holds
// (up to DrainTimeout) and stops its engine.
func (m *Manager) Undeploy(ctx context.Context, flowID string) error {
	m.deployMu.Lock()
	defer m.deployMu.Unlock()
	m.mu.Lock()
	rt, ok := m.flows[flowID]
	delete(m.flows, flowID)
	if ok {
		m.stopping[rt] = struct{}{} // the sweeper still times out its messages
	}
	m.mu.Unlock()
	if !ok {
		return fmt.Errorf("undeploy %q: %w", flowID, ErrNotDeployed)
	}
	m.stopFlowSources(ctx, flowID) // no new messages from devices
	rt.stop()                      // bounded by the drain deadline
	m.mu.Lock()
	delete(m.stopping, rt)
	m.mu.Unlock()
	m.log.Info("flow undeployed", "flow", flowID)
	return nil
}

// DeployedFlow describes a deployed flow.
type DeployedFlow struct {
	FlowID  string    `json:"flowId"`
	Tenant  string    `json:"tenant"`
	Version int       `json:"version"`
	Since   time.Time `json:"since"`
}

// Deployed lists the deployed flows, sorted by id.
func (m *Manager) Deployed() []DeployedFlow {
	m.mu.RLock()
	out := make([]DeployedFlow, 0, len(m.flows))
	for _, rt := range m.flows {
		v := rt.cur.Load()
		out = append(out, DeployedFlow{FlowID: rt.id, Tenant: rt.tenant, Version: v.number, Since: v.since})
	}
	m.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].FlowID < out[j].FlowID })
	return out
}

// FlowStatus is what a deployed flow has done.
type FlowStatus struct {
	FlowID    string    `json:"flowId"`
	Tenant    string    `json:"tenant"`
	Version   int       `json:"version"`
	Since     time.Time `json:"since"`
	InFlight  int       `json:"inFlight"`
	Processed uint64    `json:"processed"`
	Failed    uint64    `json:"failed"`
	TimedOut  uint64    `json:"timedOut"`
	Rejected  uint64    `json:"rejected"`
	// Sources are the connector nodes' statuses, by node id.
	Sources map[string]SourceStatus `json:"sources,omitempty"`
	// Nodes are other nodes' statuses (sinks), by node id.
	Nodes map[string]any `json:"nodes,omitempty"`
}

// Status of a deployed flow.
func (m *Manager) Status(flowID string) (FlowStatus, error) {
	rt := m.runtime(flowID)
	if rt == nil {
		return FlowStatus{}, fmt.Errorf("status %q: %w", flowID, ErrNotDeployed)
	}
	st := rt.status()
	st.Sources = m.SourceStatuses(flowID)
	if m.opts.NodeStatuses != nil {
		st.Nodes = m.opts.NodeStatuses(flowID)
	}
	return st, nil
}

// DeployedFlowDoc returns the flow document of the running version.
func (m *Manager) DeployedFlowDoc(flowID string) (*Flow, int, bool) {
	rt := m.runtime(flowID)
	if rt == nil {
		return nil, 0, false
	}
	v := rt.cur.Load()
	return v.flow, v.number, true
}

// SubmitOptions say how a caller wants to be admitted.
type SubmitOptions struct {
	// Wait returns the Result once the message is finished.
	Wait bool
	// FailFast returns ErrOverloaded at once when the flow is full, instead
	// of waiting for a slot until ctx ends.
	FailFast bool
	// StartNode starts the message at this node instead of the first one.
	StartNode string
	// OrderKey, when set, orders messages by this key instead of their
	// device id: messages with one key run one after another in arrival
	// order (a connection's frames before the device is known, say).
	OrderKey string
	// Done, when set, is called once with the message's result when it is
	// finished (connectors acknowledge their input there). It runs on the
	// engine's goroutine: keep it short.
	Done func(Result)
}

// Submit admits a message to a deployed flow. Without Wait it returns once
// the message is admitted (Result nil).
func (m *Manager) Submit(ctx context.Context, flowID string, msg Message, o SubmitOptions) (*Result, error) {
	rt := m.runtime(flowID)
	if rt == nil {
		return nil, fmt.Errorf("submit to %q: %w", flowID, ErrNotDeployed)
	}
	rm := msg.ruleMsg()
	j := newJob(flowID, rt.tenant, rm, o.StartNode, m.opts.MessageTimeout, false, rt.finished)
	j.notify = o.Done
	j.log = m.log
	key := o.OrderKey
	if key == "" {
		key = rm.Metadata[MetaDeviceID]
	}
	if err := rt.submit(ctx, j, key, o.FailFast); err != nil {
		return nil, fmt.Errorf("submit to %q: %w", flowID, err)
	}
	if !o.Wait {
		return nil, nil
	}
	select {
	case <-j.done:
		r := j.result
		return &r, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for message %s: %w", rm.Id, context.Cause(ctx))
	}
}

func (m *Manager) deadLetter(d DeadLetter) {
	m.metrics.deadLetters.WithLabelValues(d.FlowID).Inc()
	m.log.Warn("message dead-lettered", "flow", d.FlowID, "version", d.Version, "node", d.NodeID, "msgId", d.Msg.ID, "error", d.Error)
	if m.opts.DeadLetters != nil {
		m.opts.DeadLetters.DeadLetter(m.ctx, d)
	}
}

// sweep finishes messages whose deadline has passed.
func (m *Manager) sweep() {
	defer m.bg.Done()
	every := m.opts.MessageTimeout / 10
	if every > 250*time.Millisecond {
		every = 250 * time.Millisecond
	}
	if every < 5*time.Millisecond {
		every = 5 * time.Millisecond
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-m.stopBg:
			return
		case now := <-tick.C:
			m.mu.RLock()
			rts := make([]*flowRuntime, 0, len(m.flows)+len(m.stopping))
			for _, rt := range m.flows {
				rts = append(rts, rt)
			}
			for rt := range m.stopping {
				rts = append(rts, rt)
			}
			m.mu.RUnlock()
			for _, rt := range rts {
				rt.expire(now)
			}
		}
	}
}

// Shutdown undeploys every flow (each drains within DrainTimeout), then stops
// the workers. The deployed set is not forgotten by the store: sluice serve
// restores it at the next start.
func (m *Manager) Shutdown(ctx context.Context) error {
	m.deployMu.Lock()
	if m.shutdown {
		m.deployMu.Unlock()
		return nil
	}
	m.shutdown = true
	m.mu.Lock()
	rts := make([]*flowRuntime, 0, len(m.flows))
	for _, rt := range m.flows {
		rts = append(rts, rt)
	}
	m.mu.Unlock()
	m.deployMu.Unlock()

	var wg sync.WaitGroup
	for _, rt := range rts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.stopFlowSources(ctx, rt.id)
			rt.stop()
		}()
	}
	wg.Wait()
	m.mu.Lock()
	m.flows = map[string]*flowRuntime{}
	m.mu.Unlock()
	m.tests.Wait()
	close(m.stopBg)
	m.bg.Wait()
	m.cancel()
	m.pool.stop()
	return ctx.Err()
}
