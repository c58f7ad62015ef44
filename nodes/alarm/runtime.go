package alarm

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/sluicehq/sluice/engine"
)

// flushEvery is how long values, windows and sample counts may wait in
// memory before they are written to the state store. Alarm changes (and
// anything a restart must not lose: a duration started, a hold-off
// started, a reminder sent) are written at once.
const flushEvery = 15 * time.Second

// nowFunc is the clock of new runtimes; tests replace it (before they
// deploy) to run time forward.
var nowFunc = time.Now

// runtimeKey is the engine resource of the runtime of one deployed node.
func runtimeKey(tenant, flowID, nodeID string) string {
	return "alarm.runtime/" + tenant + "/" + flowID + "/" + nodeID
}

// runtime is the memory of one deployed alarm node: the state of every
// (device, rule), shared by the node's versions (a redeploy's new version
// continues where the old one stopped) and by its timer. The state store is
// the truth: every change that matters is written through at once, values
// and windows every flushEvery, everything when the last user goes.
//
// A device is evaluated by one message at a time (its mutex); the engine
// runs a device's messages in arrival order, timer ticks included.
type runtime struct {
	tenant, flow, node string
	state              engine.StateStore
	log                *slog.Logger
	now                func() time.Time
	// shared: the runtime of a deployed node (not a test run's), whose
	// events the timer submits.
	shared bool
	// nonce marks the events this runtime posts (emit.go).
	nonce string

	mu         sync.RWMutex
	devices    map[string]*deviceMem
	indexDirty bool

	inletMu sync.Mutex
	inlet   engine.Inlet

	// outbox holds alarm events for the timer to submit; pending counts
	// those posted and not yet finished; wake tells the timer.
	outMu   sync.Mutex
	outbox  []engine.Message
	pending atomic.Int64
	wake    chan struct{}
}

// deviceMem is the runtime's memory of one device.
type deviceMem struct {
	id string

	mu    sync.Mutex
	rules map[string]*ruleMem
	// any is the device time of the device's last sample, recv the wall
	// time (ms) it arrived: between samples, device time runs with the wall
	// clock from there. first is when the device was first seen (silence
	// of a signal never seen counts from it).
	any, recv, first int64
	dirty            bool  // a rule has changes not yet stored
	flushed          int64 // wall ms of the last write of the device's rules

	// due is the wall time (ms) of the device's next deadline (0: none);
	// queued is set while a timer tick for it is on its way.
	due    atomic.Int64
	queued atomic.Bool
}

// ruleMem is one (device, rule): its stored record and state keys.
type ruleMem struct {
	key    string
	cmdKey string
	rec    ruleRecord
	dirty  bool
	// checkCmd asks for a look for pending commands (set on load).
	checkCmd bool
}

// ruleRecord is what the state store keeps per (device, rule).
type ruleRecord struct {
	LC    Lifecycle            `json:"lc"`
	Sig   map[string]*sigState `json:"sig,omitempty"`
	Any   int64                `json:"any,omitempty"`
	Recv  int64                `json:"recv,omitempty"`
	First int64                `json:"first,omitempty"`
}

func newRuntime(tenant, flow, node string, st engine.StateStore, log *slog.Logger, shared bool) *runtime {
	if log == nil {
		log = slog.Default()
	}
	return &runtime{
		tenant: tenant, flow: flow, node: node, state: st, log: log, now: nowFunc, shared: shared,
		nonce: uuid.NewString(), devices: map[string]*deviceMem{}, wake: make(chan struct{}, 1),
	}
}

func (rt *runtime) stateKey(key string) string {
	e := engine.Env{Tenant: rt.tenant, FlowID: rt.flow}
	return e.StateKey(rt.node, key)
}

func (rt *runtime) indexKey() string { return rt.stateKey("devices") }

// nowMs is the wall clock in Unix milliseconds.
func (rt *runtime) nowMs() int64 { return rt.now().UnixMilli() }

// device returns the memory of device id, creating it when new.
func (rt *runtime) device(id string) *deviceMem {
	rt.mu.RLock()
	dm := rt.devices[id]
	rt.mu.RUnlock()
	if dm != nil {
		return dm
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if dm = rt.devices[id]; dm == nil {
		dm = &deviceMem{id: id, rules: map[string]*ruleMem{}}
		rt.devices[id] = dm
		rt.indexDirty = true
	}
	return dm
}

// rule returns the memory of (dm, name), loading it from the state store
// the first time. A read error is returned (and the rule not cached): the
// rule must not start over and overwrite state it could not read. Call with
// dm.mu held.
func (rt *runtime) rule(ctx context.Context, dm *deviceMem, name string) (*ruleMem, error) {
	if rm := dm.rules[name]; rm != nil {
		return rm, nil
	}
	rm := &ruleMem{
		key:      rt.stateKey("alarm/" + name + "/" + dm.id),
		cmdKey:   CommandKey(rt.tenant, rt.flow, rt.node, name, dm.id),
		checkCmd: true,
	}
	b, ok, err := rt.state.Get(ctx, rm.key)
	if err != nil {
		return nil, fmt.Errorf("read alarm state of rule %q, device %q: %w", name, dm.id, err)
	}
	if ok {
		if err := json.Unmarshal(b, &rm.rec); err != nil {
			rt.log.Warn("alarm: unreadable state: starting the rule over", "node", rt.node, "rule", name, "deviceId", dm.id, "error", err)
			rm.rec = ruleRecord{}
		}
	}
	if rm.rec.Sig == nil {
		rm.rec.Sig = map[string]*sigState{}
	}
	// The device's clock is the newest any of its rules knows.
	if rm.rec.Any > dm.any {
		dm.any, dm.recv = rm.rec.Any, rm.rec.Recv
	}
	if rm.rec.First != 0 && (dm.first == 0 || rm.rec.First < dm.first) {
		dm.first = rm.rec.First
	}
	dm.rules[name] = rm
	return rm, nil
}

// load loads every rule of dm. Call with dm.mu held.
func (rt *runtime) load(ctx context.Context, dm *deviceMem, rules []*rule) error {
	for _, r := range rules {
		if _, err := rt.rule(ctx, dm, r.name); err != nil {
			return err
		}
	}
	return nil
}

// store writes a rule's record through. Call with dm.mu held.
func (rt *runtime) store(ctx context.Context, dm *deviceMem, rm *ruleMem) error {
	rm.rec.Any, rm.rec.Recv, rm.rec.First = dm.any, dm.recv, dm.first
	b, err := json.Marshal(&rm.rec)
	if err != nil {
		return fmt.Errorf("encode alarm state: %w", err)
	}
	if err := rt.state.Set(ctx, rm.key, b, 0); err != nil {
		return err
	}
	rm.dirty = false
	return nil
}

// flush writes what waits in memory: every device's when force, else those
// of devices changed at least flushEvery ago (wall time of their last
// sample) — a device streaming fast is written about every flushEvery.
func (rt *runtime) flush(ctx context.Context, force bool) {
	now := rt.nowMs()
	rt.mu.RLock()
	dms := make([]*deviceMem, 0, len(rt.devices))
	for _, dm := range rt.devices {
		dms = append(dms, dm)
	}
	indexDirty := rt.indexDirty
	rt.mu.RUnlock()
	for _, dm := range dms {
		dm.mu.Lock()
		if dm.dirty && (force || now-dm.flushed >= flushEvery.Milliseconds()) {
			ok := true
			for name, rm := range dm.rules {
				if !rm.dirty {
					continue
				}
				if err := rt.store(ctx, dm, rm); err != nil {
					ok = false
					rt.log.Warn("alarm: write state", "node", rt.node, "rule", name, "deviceId", dm.id, "error", err)
				}
			}
			if ok {
				dm.dirty = false
				dm.flushed = now
			}
		}
		dm.mu.Unlock()
	}
	if indexDirty {
		rt.storeIndex(ctx)
	}
}

// storeIndex writes the list of known devices, which the timer reads after
// a restart to look after devices that stay silent.
func (rt *runtime) storeIndex(ctx context.Context) {
	rt.mu.Lock()
	ids := make([]string, 0, len(rt.devices))
	for id := range rt.devices {
		ids = append(ids, id)
	}
	rt.indexDirty = false
	rt.mu.Unlock()
	sort.Strings(ids)
	b, err := json.Marshal(ids)
	if err == nil {
		err = rt.state.Set(ctx, rt.indexKey(), b, 0)
	}
	if err != nil {
		rt.mu.Lock()
		rt.indexDirty = true
		rt.mu.Unlock()
		rt.log.Warn("alarm: write device index", "node", rt.node, "error", err)
	}
}

// loadIndex makes the devices of the stored index known, each due for a
// timer look after grace ms (their records load with that look).
func (rt *runtime) loadIndex(ctx context.Context, grace int64) error {
	b, ok, err := rt.state.Get(ctx, rt.indexKey())
	if err != nil || !ok {
		return err
	}
	var ids []string
	if err := json.Unmarshal(b, &ids); err != nil {
		return fmt.Errorf("alarm device index: %w", err)
	}
	at := rt.nowMs() + grace
	if at == 0 {
		at = 1
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, id := range ids {
		if _, known := rt.devices[id]; known {
			continue
		}
		dm := &deviceMem{id: id, rules: map[string]*ruleMem{}}
		dm.due.Store(at)
		rt.devices[id] = dm
	}
	return nil
}

// dueDevices returns the devices whose deadline has passed at wall time now
// and marks them queued.
func (rt *runtime) dueDevices(now int64) []string {
	rt.mu.RLock()
	defer rt.mu.RUnlock()
	var out []string
	for id, dm := range rt.devices {
		if d := dm.due.Load(); d != 0 && d <= now && dm.queued.CompareAndSwap(false, true) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// attach gives the runtime its timer's inlet; detach takes it away.
func (rt *runtime) attach(in engine.Inlet) {
	rt.inletMu.Lock()
	rt.inlet = in
	rt.inletMu.Unlock()
}

func (rt *runtime) detach(in engine.Inlet) {
	rt.inletMu.Lock()
	if rt.inlet == in {
		rt.inlet = nil
	}
	rt.inletMu.Unlock()
}

// close writes everything that waits (the runtime's last user is gone).
func (rt *runtime) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rt.flush(ctx, true)
	if n := len(rt.takeOutbox()); n > 0 {
		rt.log.Warn("alarm: events not sent: the flow stopped first", "node", rt.node, "events", n)
	}
	return nil
}

// deviceNow is the device time at wall time w (ms): the device's last
// sample time plus the wall time since it arrived.
func (dm *deviceMem) deviceNow(w int64) int64 {
	if dm.recv == 0 {
		return dm.any
	}
	return dm.any + (w - dm.recv)
}

// wallOf converts a device time to wall time (ms).
func (dm *deviceMem) wallOf(t int64) int64 {
	if dm.recv == 0 {
		return t
	}
	return t - dm.any + dm.recv
}
