package engine

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/rulego/rulego/api/types"
)

// job is one admitted root message on its way through a version.
type job struct {
	flowID    string
	tenant    string
	msg       types.RuleMsg
	startNode string
	timeout   time.Duration
	deadline  time.Time // set when the job starts: time queued in a lane does not count
	collect   bool
	t         *tracker // nil until the job starts
	v         *version // nil until the job starts
	cancel    func()
	// onFinish runs once, after the result is known and before done closes.
	onFinish func(*job)
	// notify is the submitter's callback (SubmitOptions.Done).
	notify func(Result)
	log    *slog.Logger

	once   sync.Once
	done   chan struct{}
	result Result
}

func newJob(flowID, tenant string, msg types.RuleMsg, startNode string, timeout time.Duration, collect bool, onFinish func(*job)) *job {
	return &job{flowID: flowID, tenant: tenant, msg: msg, startNode: startNode, timeout: timeout, collect: collect, onFinish: onFinish, done: make(chan struct{})}
}

// prepare binds the job to version v and sets its deadline; it must happen
// before the job is visible to the deadline sweeper.
func (j *job) prepare(v *version) context.Context {
	j.v = v
	j.deadline = time.Now().Add(j.timeout)
	j.t = newTracker(v, j.msg.Id, j.collect, func() { j.finish(StatusCompleted, "") })
	ctx := &msgContext{t: j.t, deadline: j.deadline}
	j.cancel = ctx.cancel
	return ctx
}

// start sends the prepared message into its version's engine. It returns at
// once. The job finishes when its last hop has finished — Sluice counts hops
// itself (countingCtx), because RuleGo's completion callback can fire before
// every branch of a fan-out has run — or when finish is called on a deadline.
func (j *job) start(ctx context.Context) {
	opts := []types.RuleContextOption{
		types.WithContext(ctx),
		// RuleGo reports errors that happen before any node runs only here.
		types.WithOnEnd(func(rc types.RuleContext, msg types.RuleMsg, err error, relation string) {
			if rc.Self() == nil && err != nil {
				j.t.addEnd(End{Relation: types.Failure, Error: err.Error(), Msg: messageOf(msg)})
				j.t.done()
			}
		}),
	}
	if j.startNode != "" {
		opts = append(opts, types.WithStartNode(j.startNode))
	}
	j.v.eng.OnMsg(j.msg, opts...)
}

// finish settles the job once: when its last hop is done, or with
// StatusTimedOut on a deadline.
func (j *job) finish(status Status, reason string) {
	j.once.Do(func() {
		var ends []End
		var failed *End
		if j.t != nil {
			j.t.mu.Lock()
			j.t.closed = true
			ends = append([]End(nil), j.t.ends...)
			failed = j.t.failed
			j.t.mu.Unlock()
		}
		if status == StatusCompleted && failed != nil {
			status = StatusFailed
			reason = fmt.Sprintf("node %q: %s", failed.Node, failed.Error)
		}
		if ends == nil {
			ends = []End{}
		}
		j.result = Result{MsgID: j.msg.Id, Status: status, Error: reason, Ends: ends}
		if j.cancel != nil {
			j.cancel()
		}
		if j.onFinish != nil {
			j.onFinish(j)
		}
		close(j.done)
		if j.notify != nil {
			j.notifySafely()
		}
	})
}

// notifySafely runs the submitter's callback; a panic in it is logged, never
// unwound into the engine.
func (j *job) notifySafely() {
	defer func() {
		if r := recover(); r != nil && j.log != nil {
			j.log.Error("submit callback panicked", "flow", j.flowID, "msgId", j.msg.Id, "panic", fmt.Sprint(r))
		}
	}()
	j.notify(j.result)
}

// expire finishes the job as timed out, naming the nodes that held it.
func (j *job) expire(what string) {
	if j.t == nil {
		j.finish(StatusTimedOut, what+" while queued")
		return
	}
	node := strings.Join(j.t.holders(), ", ")
	if node == "" {
		node = "(none)"
	}
	j.finish(StatusTimedOut, fmt.Sprintf("%s in node %s", what, node))
}

// deadLetter describes a failed or timed-out job.
func (j *job) deadLetter() DeadLetter {
	d := DeadLetter{Tenant: j.tenant, FlowID: j.flowID, Msg: messageOf(j.msg), Error: j.result.Error}
	if j.v != nil {
		d.Version = j.v.number
	}
	if j.t == nil {
		return d
	}
	d.Path = j.t.snapshotPath()
	if j.result.Status == StatusFailed {
		j.t.mu.Lock()
		if f := j.t.failed; f != nil {
			d.NodeID = f.Node
		}
		j.t.mu.Unlock()
	} else if h := j.t.holders(); len(h) > 0 {
		d.NodeID = h[0]
	}
	return d
}

// msgContext is a message's context: it carries the tracker and is cancelled
// when the message finishes (nodes such as join stop waiting then). It is one
// allocation and, unlike context.WithCancel, registers nothing with a parent,
// so messages do not contend on a shared lock.
type msgContext struct {
	t *tracker
	// deadline is the message's: when it passes, the sweeper fails the
	// message and cancels this context. Nodes that wait read it.
	deadline time.Time

	mu       sync.Mutex
	done     chan struct{}
	canceled bool
}

var _ context.Context = (*msgContext)(nil)

func (c *msgContext) Deadline() (time.Time, bool) { return c.deadline, !c.deadline.IsZero() }

func (c *msgContext) Value(key any) any {
	if key == (trackerKey{}) {
		return c.t
	}
	return nil
}

func (c *msgContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		if c.canceled {
			close(c.done)
		}
	}
	return c.done
}

func (c *msgContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.canceled {
		return context.Canceled
	}
	return nil
}

func (c *msgContext) cancel() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.canceled {
		return
	}
	c.canceled = true
	if c.done != nil {
		close(c.done)
	}
}
