package batch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

// Metadata every sink node sets on the message it passes on in a test run
// (env.SideEffects false), where nothing is written.
const (
	// MetaDryRun is "true" in a test run.
	MetaDryRun = "dryRun"
	// MetaWouldWrite holds the number of items a test run would have
	// written.
	MetaWouldWrite = "wouldWrite"
)

// Meta names a sink node and the metadata of its own that it sets on the
// message it passes on.
type Meta struct {
	// Type is the node type; failures start with it.
	Type string
	// Count is the metadata key holding the number of items accepted.
	Count string
	// Report is the metadata key holding, in a test run, what the node
	// would have written.
	Report string
}

// Env returns the engine environment of the node's flow; outside a
// Sluice engine it sends msg on Failure and returns nil.
func (m Meta) Env(ctx types.RuleContext, msg types.RuleMsg) *engine.Env {
	env := engine.EnvOf(ctx)
	if env == nil {
		ctx.TellFailure(msg, fmt.Errorf("%s: runs only inside a Sluice engine", m.Type))
	}
	return env
}

// Fail sends msg on Failure with err, prefixed by the node type.
func (m Meta) Fail(ctx types.RuleContext, msg types.RuleMsg, err error) {
	ctx.TellFailure(msg, fmt.Errorf("%s: %w", m.Type, err))
}

// TellDryRun passes msg on Success in a test run: n items would have been
// written, as report says.
func (m Meta) TellDryRun(ctx types.RuleContext, msg types.RuleMsg, n int, report string) {
	msg.Metadata.PutValue(MetaDryRun, "true")
	msg.Metadata.PutValue(MetaWouldWrite, strconv.Itoa(n))
	msg.Metadata.PutValue(m.Report, report)
	ctx.TellSuccess(msg)
}

// TellAccepted ends a message whose n items the sink tried to accept:
// on Failure with err, else on Success with the count in m.Count.
func (m Meta) TellAccepted(ctx types.RuleContext, msg types.RuleMsg, n int, err error) {
	if err != nil {
		m.Fail(ctx, msg, err)
		return
	}
	msg.Metadata.PutValue(m.Count, strconv.Itoa(n))
	ctx.TellSuccess(msg)
}

// MsgContext is the context of the message being handled (else
// context.Background()).
func MsgContext(ctx types.RuleContext) context.Context {
	if c := ctx.GetContext(); c != nil {
		return c
	}
	return context.Background()
}

// Steps are what Deliver needs of a sink node.
type Steps[T any] struct {
	// Items turns the message into the items to write; an error sends
	// the message on Failure.
	Items func(env *engine.Env, nodeID string, msg types.RuleMsg) ([]T, error)
	// Report says, in a test run, what items would have been written as.
	Report func(items []T) string
	// Join returns the node instance's batcher (joined at its first
	// message, see Shared).
	Join func(env *engine.Env, nodeID string) (*Batcher[T], error)
}

// Deliver is the OnMsg of a sink node: it turns msg into items; in a test
// run it reports what it would write and passes msg on; else it joins the
// node's batcher and accepts the items into it (the spool), then passes
// msg on with their number. Every path ends in exactly one Tell*.
func Deliver[T any](ctx types.RuleContext, msg types.RuleMsg, m Meta, s Steps[T]) {
	env := m.Env(ctx, msg)
	if env == nil {
		return
	}
	nodeID := ctx.GetSelfId()
	items, err := s.Items(env, nodeID, msg)
	if err != nil {
		m.Fail(ctx, msg, err)
		return
	}
	if !env.SideEffects {
		m.TellDryRun(ctx, msg, len(items), s.Report(items))
		return
	}
	b, err := s.Join(env, nodeID)
	if err != nil {
		if errors.Is(err, ErrStopped) {
			err = fmt.Errorf("node %q of flow %q: %w", nodeID, env.FlowID, err)
		}
		m.Fail(ctx, msg, err)
		return
	}
	m.TellAccepted(ctx, msg, len(items), b.Accept(MsgContext(ctx), items))
}

// ErrStopped is returned (wrapped) by Shared.Join after Leave: the sink
// node was destroyed (its flow version undeployed or replaced) and accepts
// nothing more.
var ErrStopped = errors.New("sink stopped: its flow version was undeployed or replaced; the message was not accepted")

// Shared is a sink node instance's hold on what it shares with the other
// versions of its flow (its batcher, its target): joined at the first
// message, when the node knows its flow, tenant and resources, and left in
// Destroy. The zero value is ready to use.
type Shared[T any] struct {
	mu      sync.Mutex
	joined  bool
	left    bool // Leave was called: Join fails from then on
	v       T
	release []func() error // in order
}

// Join returns what the instance holds, calling join to get it the first
// time (and again after a join that failed). join returns the release
// functions Leave calls, in order. After Leave it fails with ErrStopped
// and does not call join: a message that reaches a destroyed node (an
// upstream node still ran when the drain deadline passed) must not
// acquire a batcher and a target that nothing would release.
func (s *Shared[T]) Join(join func() (T, []func() error, error)) (T, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.left {
		var zero T
		return zero, ErrStopped
	}
	if s.joined {
		return s.v, nil
	}
	v, release, err := join()
	if err != nil {
		var zero T
		return zero, err
	}
	s.joined, s.v, s.release = true, v, release
	return v, nil
}

// Leave releases what the instance holds; the last version of the flow to
// leave closes it (a batcher's queue stays in the spool). The instance
// joins nothing after it (Join fails with ErrStopped).
func (s *Shared[T]) Leave() {
	s.mu.Lock()
	release := s.release
	var zero T
	s.joined, s.left, s.v, s.release = false, true, zero, nil
	s.mu.Unlock()
	for _, r := range release {
		_ = r() // Close logs what it leaves in the spool
	}
}

// SinkOptions are the batcher options of sink node ref: the config's,
// with the node's spool directory under the config's spoolDir, else under
// <data.dir>/spool.
func (c Config) SinkOptions(res *engine.Resources, ref Ref, log *slog.Logger) (Options, error) {
	base, err := SpoolBase(res, c.SpoolDir)
	if err != nil {
		return Options{}, err
	}
	opts := c.Options(ref.String(), log)
	opts.SpoolDir = ref.SpoolDir(base)
	return opts, nil
}

// AcquireWriter is Acquire of a batcher that writes to w: the versions of
// sink node ref's flow share it (see Acquire).
func AcquireWriter[T any](res *engine.Resources, ref Ref, opts Options, w Writer[T], codec Codec[T]) (*Batcher[T], func() error, error) {
	return Acquire(res, ref, opts, func() (*Batcher[T], error) {
		return Open[T](w, codec, opts)
	})
}

// AcquireTarget returns the target (client, connection pool) of sink node
// ref that the versions of its flow share, under the resource key
// "sink.<kind>.target/<tenant>/<flow>/<node>", opening it with open when
// no version holds it yet; retune applies the config of the version
// acquiring to a target that was open already. The release function
// closes it with the last version. open runs under the resources' lock:
// it must not use res.
func AcquireTarget[T any](res *engine.Resources, ref Ref, kind string, open func() (T, func() error, error), retune func(T) error) (T, func() error, error) {
	var zero T
	opened := false
	v, release, err := res.Acquire("sink."+kind+".target/"+ref.Tenant+"/"+ref.Flow+"/"+ref.Node, func() (any, func() error, error) {
		t, closeT, err := open()
		if err != nil {
			return nil, nil, err
		}
		opened = true
		return t, closeT, nil
	})
	if err != nil {
		return zero, nil, err
	}
	t, ok := v.(T)
	if !ok {
		_ = release() // not ours to keep
		return zero, nil, fmt.Errorf("sink %s: target resource holds %T", ref, v)
	}
	if !opened {
		if err := retune(t); err != nil {
			_ = release()
			return zero, nil, err
		}
	}
	return t, release, nil
}

// InitConfig decodes a sink node's configuration raw with its spec s into
// cfg, then checks it with check (when not nil); errors start with the
// node type.
func InitConfig(s *spec.Node, raw types.Configuration, cfg any, check func() error) error {
	if err := s.Decode(raw, cfg); err != nil {
		return fmt.Errorf("%s: %w", s.Type, err)
	}
	if check == nil {
		return nil
	}
	if err := check(); err != nil {
		return fmt.Errorf("%s: %w", s.Type, err)
	}
	return nil
}

// LoggerOf is the logger of a sink node of env's flow: env's, else
// slog.Default().
func LoggerOf(env *engine.Env) *slog.Logger {
	if env.Logger != nil {
		return env.Logger
	}
	return slog.Default()
}
