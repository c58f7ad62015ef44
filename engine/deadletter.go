package engine

import "context"

// DeadLetter is a message whose branch ended in an unhandled Failure, that
// timed out, or that was still in flight when its version's drain deadline
// passed.
type DeadLetter struct {
	Tenant  string
	FlowID  string
	Version int
	NodeID  string
	Msg     Message
	Error   string
	// Path lists the nodes the message entered, in order.
	Path []string
}

// DeadLetterSink keeps dead letters (the embedded store in sluice serve).
// DeadLetter must not block for long: it runs on the message's goroutine.
type DeadLetterSink interface {
	DeadLetter(ctx context.Context, d DeadLetter)
}
