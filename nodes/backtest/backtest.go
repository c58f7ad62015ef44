// Package backtest runs a node's configuration over stored history and
// reports what it would have done: when an alarm would have fired and
// cleared, what a statistics node would have computed. Node packages
// register a Func per node type in init; the API's
// POST /api/v1/flows/{id}/nodes/{nodeId}/backtest looks it up.
package backtest

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"sync"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/store/timeseries"
)

// ErrBadRequest is returned (wrapped) for a request a backtest cannot run:
// a range too wide, a configuration that does not decode, no devices.
var ErrBadRequest = errors.New("bad backtest request")

// Request asks to run one node's configuration over [From, To).
type Request struct {
	Tenant string
	FlowID string
	NodeID string
	// NodeType is the node's type, as in the flow.
	NodeType string
	// Config is the node's configuration as in the flow (secrets opened).
	Config json.RawMessage
	// From (inclusive) and To (exclusive), Unix milliseconds.
	From, To int64
	// Devices limits the run to these devices; empty means every device
	// the node would see (for an alarm: every device with the signals it
	// reads; for statistics: its own selection).
	Devices []string
	// Reader reads the stored history.
	Reader timeseries.Reader
	// Resources are the process's engine resources, optional (nil: none):
	// what a node reads besides the history, such as the device registry
	// that resolves a statistics node's deviceTag.
	Resources *engine.Resources
}

// Event is one thing the node would have done.
type Event struct {
	// TS is when it happened (device time, Unix milliseconds).
	TS       int64  `json:"ts"`
	DeviceID string `json:"deviceId,omitempty"`
	// Kind is active, updated or cleared for alarms; stats for a
	// statistics run.
	Kind     string         `json:"kind"`
	Rule     string         `json:"rule,omitempty"`
	Severity string         `json:"severity,omitempty"`
	Value    *float64       `json:"value,omitempty"`
	Data     map[string]any `json:"data,omitempty"`
}

// Result is the answer of a backtest.
type Result struct {
	NodeType string `json:"nodeType"`
	From     int64  `json:"from"`
	To       int64  `json:"to"`
	// Fired counts the alarms that would have become active (alarm nodes)
	// or the runs (statistics nodes).
	Fired int `json:"fired"`
	// Points counts the stored points read.
	Points int `json:"points"`
	// Events in time order; at most MaxEvents (Truncated says more were
	// left out).
	Events    []Event `json:"events"`
	Truncated bool    `json:"truncated,omitempty"`
}

// MaxEvents bounds the events of a result.
const MaxEvents = 10000

// Func runs a backtest for one node type.
type Func func(ctx context.Context, req Request) (*Result, error)

var (
	mu    sync.RWMutex
	funcs = map[string]Func{}
)

// Register makes f the backtest of nodeType. It panics on a second
// registration of the same type (a programming error).
func Register(nodeType string, f Func) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := funcs[nodeType]; dup {
		panic("backtest: " + nodeType + " registered twice")
	}
	funcs[nodeType] = f
}

// Lookup returns the backtest of nodeType.
func Lookup(nodeType string) (Func, bool) {
	mu.RLock()
	defer mu.RUnlock()
	f, ok := funcs[nodeType]
	return f, ok
}

// Types lists the node types that have a backtest, sorted.
func Types() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(funcs))
	for t := range funcs {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
