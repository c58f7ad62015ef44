package alarm

import (
	"context"
	"strconv"
	"strings"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
)

// metaEmit marks an alarm event the node sent to itself through its timer's
// inlet: "<runtime nonce>:<relation>".
const metaEmit = "sluice.alarmEmit"

// output is an alarm event and its relation.
type output struct {
	rel string
	msg types.RuleMsg
}

// Why alarm events are messages of their own: a RuleGo node answers a
// message once. A second Tell on the same RuleGo context races with the
// first one's hops (RuleGo writes the context's out and err fields on every
// Tell while the hops started by the previous one read them), and Sluice's
// hop counting ends the node's hop at its first Tell. So a deployed node
// passes the telemetry on Success (one Tell) and posts its alarm events to
// the runtime's outbox; the timer submits each as a root message at the
// node, in the device's order, and the node sends it on its relation (one
// Tell again). Each event thus has its own trace, result and dead letter: a
// failing notifier never fails the telemetry.
//
// A test run has no timer: there the node answers with the first alarm
// event instead of the telemetry (metadata alarmEvents counts them), so
// that the trace shows what a sample raises.

// reply answers in: on Success (pass) or nowhere (a timer message), with
// events posted; or, without a timer, with the first event.
func (n *Threshold) reply(ctx types.RuleContext, a *attachment, in types.RuleMsg, pass bool, events []output) {
	if len(events) > 0 && a.rt.shared {
		a.rt.post(events)
		events = nil
	}
	switch {
	case len(events) > 0:
		first := events[0]
		if len(events) > 1 {
			first.msg.Metadata["alarmEvents"] = strconv.Itoa(len(events))
		}
		ctx.TellNext(first.msg, first.rel)
	case pass:
		ctx.TellSuccess(in)
	default:
		ctx.TellNext(in) // a timer or command message ends here
	}
}

// forward sends on an alarm event the node posted to itself; false when msg
// is not one.
func (n *Threshold) forward(ctx types.RuleContext, a *attachment, msg types.RuleMsg) bool {
	mark, ok := msg.Metadata[metaEmit]
	if !ok {
		return false
	}
	delete(msg.Metadata, metaEmit)
	nonce, rel, ok := strings.Cut(mark, ":")
	if !ok || nonce != a.rt.nonce || msg.Type != MsgType {
		return false // not ours: handled as any message
	}
	ctx.TellNext(msg, rel)
	return true
}

// post queues alarm events for the timer to submit.
func (rt *runtime) post(events []output) {
	rt.outMu.Lock()
	for _, o := range events {
		md := make(map[string]string, len(o.msg.Metadata)+1)
		for k, v := range o.msg.Metadata {
			md[k] = v
		}
		md[metaEmit] = rt.nonce + ":" + o.rel
		rt.outbox = append(rt.outbox, engine.Message{ID: o.msg.Id, Ts: o.msg.Ts, Type: o.msg.Type, DataType: string(o.msg.DataType), Data: o.msg.Data, Metadata: md})
	}
	rt.pending.Add(int64(len(events)))
	rt.outMu.Unlock()
	select {
	case rt.wake <- struct{}{}:
	default:
	}
}

// takeOutbox returns the queued events.
func (rt *runtime) takeOutbox() []engine.Message {
	rt.outMu.Lock()
	defer rt.outMu.Unlock()
	out := rt.outbox
	rt.outbox = nil
	return out
}

// send submits queued events through in until the outbox is empty or ctx
// ends; what it could not submit goes back to the front of the outbox.
func (rt *runtime) send(ctx context.Context, in engine.Inlet) error {
	for {
		msgs := rt.takeOutbox()
		if len(msgs) == 0 {
			return nil
		}
		for i, m := range msgs {
			_, err := in.Submit(ctx, m, engine.SubmitOptions{Done: func(engine.Result) { rt.pending.Add(-1) }})
			if err != nil {
				rt.outMu.Lock()
				rt.outbox = append(msgs[i:len(msgs):len(msgs)], rt.outbox...)
				rt.outMu.Unlock()
				return err
			}
		}
	}
}
