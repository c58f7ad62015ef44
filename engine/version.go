package engine

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rulego/rulego/api/types"
	rgengine "github.com/rulego/rulego/engine"
)

// version is one deployed (or test-run) version of a flow: its own RuleGo
// engine with the internal id flowId@version. A redeploy builds a new
// version beside the running one and swaps it in; the old one drains.
type version struct {
	m         *Manager
	flowID    string
	number    int
	engineID  string
	flow      *Flow
	env       *Env
	eng       types.RuleEngine
	nodeTypes map[string]string
	// next counts, per node and relation, the nodes a message goes to.
	next  map[string]map[string]int
	since time.Time

	mu        sync.Mutex
	closed    bool
	active    atomic.Int64
	drained   chan struct{}
	drainOnce sync.Once
}

// build creates and initialises the RuleGo engine of a flow version. On
// error nothing of it keeps running.
func (m *Manager) build(f *Flow, engineID string, number int, env *Env) (*version, error) {
	v := &version{
		m: m, flowID: f.RuleChain.ID, number: number, engineID: engineID, flow: f, env: env,
		nodeTypes: make(map[string]string, len(f.Metadata.Nodes)),
		drained:   make(chan struct{}),
	}
	v.next = make(map[string]map[string]int, len(f.Metadata.Nodes))
	for _, n := range f.Metadata.Nodes {
		v.nodeTypes[n.ID] = n.Type
	}
	for _, c := range f.Metadata.Connections {
		if v.next[c.FromID] == nil {
			v.next[c.FromID] = map[string]int{}
		}
		v.next[c.FromID][c.Type]++
	}
	rc := f.Clone()
	rc.RuleChain.Root = true
	dsl, err := rc.Marshal()
	if err != nil {
		return nil, fmt.Errorf("encode flow %q: %w", v.flowID, err)
	}
	cfg := rgengine.NewConfig(
		types.WithPool(m.pool),
		types.WithComponentsRegistry(m.components),
		types.WithLogger(rulegoLogger{m.log.With("flow", v.flowID, "version", number)}),
	)
	cfg.AllowCycle = allowsCycles(f)
	cfg.OnEnd = nil
	// A private RuleGo pool per engine: RuleGo's pool returns an existing
	// engine for a reused id and ignores the new DSL (RULEGO-NOTES §6.4).
	eng, err := rgengine.NewPool().New(engineID, dsl, types.WithConfig(cfg), types.WithAspects(&observeAspect{v: v}))
	if err != nil {
		return nil, fmt.Errorf("start flow %q version %d: %w", v.flowID, number, err)
	}
	// Sub-chains resolve through Sluice's pool to the deployed version of
	// the target flow.
	eng.SetRuleEnginePool(m.subchains)
	v.eng = eng
	return v, nil
}

func allowsCycles(f *Flow) bool {
	b, _ := f.RuleChain.AdditionalInfo["allowCycles"].(bool)
	return b
}

// acquire counts a message into the version; false when it is closed.
func (v *version) acquire() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return false
	}
	v.active.Add(1)
	return true
}

func (v *version) release() {
	if v.active.Add(-1) == 0 {
		v.mu.Lock()
		closed := v.closed
		v.mu.Unlock()
		if closed {
			v.drainOnce.Do(func() { close(v.drained) })
		}
	}
}

// close stops admission; drained is closed once the last message is done.
func (v *version) close() {
	v.mu.Lock()
	v.closed = true
	idle := v.active.Load() == 0
	v.mu.Unlock()
	if idle {
		v.drainOnce.Do(func() { close(v.drained) })
	}
}

// rulegoLogger sends RuleGo's printf logging to slog.
type rulegoLogger struct{ l *slog.Logger }

func (r rulegoLogger) Printf(format string, args ...any) {
	r.l.Warn("rulego: " + fmt.Sprintf(format, args...))
}

// subchainPool is the RuleEnginePool RuleGo's flow node looks targets up in:
// a flow id resolves to the engine of its currently deployed version.
type subchainPool struct{ m *Manager }

var _ types.RuleEnginePool = subchainPool{}

func (p subchainPool) Get(id string) (types.RuleEngine, bool) {
	rt := p.m.runtime(id)
	if rt == nil {
		return nil, false
	}
	v := rt.cur.Load()
	if v == nil {
		return nil, false
	}
	return v.eng, true
}

func (p subchainPool) Load(string, ...types.RuleEngineOption) error {
	return fmt.Errorf("load: not supported: flows are deployed through sluice")
}

func (p subchainPool) New(string, []byte, ...types.RuleEngineOption) (types.RuleEngine, error) {
	return nil, fmt.Errorf("new: not supported: flows are deployed through sluice")
}

func (p subchainPool) Del(string)                       {}
func (p subchainPool) Stop()                            {}
func (p subchainPool) OnMsg(types.RuleMsg)              {}
func (p subchainPool) Reload(...types.RuleEngineOption) {}
func (p subchainPool) Range(func(key, value any) bool)  {}
