package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rulego/rulego/api/types"
)

// job is one admitted root message on its way through a version.
type job struct {
	msg       types.RuleMsg
	startNode string
	deadline  time.Time
	collect   bool
	t         *tracker
	v         *version
	cancel    func()
	// onFinish runs once, after the result is known and before done closes.
	onFinish func(*job)
	// notify is the submitter's callback (SubmitOptions.Done).
	notify func(Result)

	once   sync.Once
	done   chan struct{}
	result Result
}

func newJob(msg types.RuleMsg, startNode string, deadline time.Time, collect bool, onFinish func(*job)) *job {
	return &job{msg: msg, startNode: startNode, deadline: deadline, collect: collect, onFinish: onFinish, done: make(chan struct{})}
}

// prepare binds the job to version v; it must happen before the job is
// visible to the deadline sweeper.
func (j *job) prepare(base context.Context, v *version) context.Context {
	j.v = v
	j.t = newTracker(v.env, j.msg.Id, j.collect)
	ctx := &msgContext{Context: base, t: j.t}
	j.cancel = ctx.cancel
	return ctx
}

// start sends the prepared message into its version's engine. It returns at
// once; the job finishes when every branch has completed or finish is called
// on its deadline.
func (j *job) start(ctx context.Context) {
	v := j.v
	opts := []types.RuleContextOption{
		types.WithContext(ctx),
		types.WithOnEnd(func(rc types.RuleContext, msg types.RuleMsg, err error, relation string) {
			e := End{Node: rc.GetSelfId(), Relation: relation, Msg: messageOf(msg)}
			if err != nil {
				e.Error = err.Error()
			}
			j.t.addEnd(e)
		}),
		types.WithOnAllNodeCompleted(func() { j.finish(StatusCompleted, "") }),
	}
	if j.startNode != "" {
		opts = append(opts, types.WithStartNode(j.startNode))
	}
	v.eng.OnMsg(j.msg, opts...)
}

// finish settles the job once: from the completion callback, or with
// StatusTimedOut from the deadline sweeper or a drain deadline.
func (j *job) finish(status Status, reason string) {
	j.once.Do(func() {
		j.t.mu.Lock()
		j.t.closed = true
		ends := append([]End(nil), j.t.ends...)
		failed := j.t.failed
		j.t.mu.Unlock()
		if status == StatusCompleted && failed != nil {
			status = StatusFailed
			reason = fmt.Sprintf("node %q: %s", failed.Node, failed.Error)
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
			j.notify(j.result)
		}
	})
}

// timeout finishes the job as timed out, naming the nodes that held it.
func (j *job) timeout(what string) {
	holders := j.t.holders()
	node := strings.Join(holders, ", ")
	if node == "" {
		node = "(none)"
	}
	j.finish(StatusTimedOut, fmt.Sprintf("%s in node %s", what, node))
}

// deadLetter describes a failed or timed-out job.
func (j *job) deadLetter(tenant string) DeadLetter {
	d := DeadLetter{Tenant: tenant, FlowID: j.v.flowID, Version: j.v.number, Msg: messageOf(j.msg), Error: j.result.Error, Path: j.t.snapshotPath()}
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
// allocation and, unlike context.WithCancel, registers nothing with its
// parent, so messages do not contend on a shared parent's lock.
type msgContext struct {
	context.Context
	t *tracker

	mu       sync.Mutex
	done     chan struct{}
	canceled bool
}

func (c *msgContext) Value(key any) any {
	if key == (trackerKey{}) {
		return c.t
	}
	return c.Context.Value(key)
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
