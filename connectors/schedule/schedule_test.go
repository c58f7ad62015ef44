package schedule_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rulego/rulego/api/types"
	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/connectors/schedule"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const tenant = "acme"

type recordNode struct{}

var record struct {
	sync.Mutex
	ch chan types.RuleMsg
}

func (recordNode) Type() string                                 { return "test/schedRecord" }
func (recordNode) New() types.Node                              { return recordNode{} }
func (recordNode) Init(types.Config, types.Configuration) error { return nil }
func (recordNode) Destroy()                                     {}
func (recordNode) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	record.Lock()
	ch := record.ch
	record.Unlock()
	if ch != nil {
		ch <- msg.Copy()
	}
	ctx.TellSuccess(msg)
}

type countNode struct{}

var counted atomic.Int64

func (countNode) Type() string                                 { return "test/schedCount" }
func (countNode) New() types.Node                              { return countNode{} }
func (countNode) Init(types.Config, types.Configuration) error { return nil }
func (countNode) Destroy()                                     {}
func (countNode) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	counted.Add(1)
	ctx.TellSuccess(msg)
}

func init() {
	rel := spec.Relations{Fixed: []string{types.Success}}
	spec.Register(&spec.Node{Type: "test/schedRecord", Category: "action", Summary: "records", Relations: rel}, recordNode{})
	spec.Register(&spec.Node{Type: "test/schedCount", Category: "action", Summary: "counts", Relations: rel}, countNode{})
}

func recorder(t testing.TB) <-chan types.RuleMsg {
	ch := make(chan types.RuleMsg, 1024)
	record.Lock()
	record.ch = ch
	record.Unlock()
	t.Cleanup(func() {
		record.Lock()
		record.ch = nil
		record.Unlock()
	})
	return ch
}

func newManager(t testing.TB, state engine.StateStore) *engine.Manager {
	t.Helper()
	m := engine.NewManager(engine.Options{Metrics: prometheus.NewRegistry(), State: state,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return m
}

func flow(id string, cfg map[string]any, sinkType string) *engine.Flow {
	f := &engine.Flow{RuleChain: engine.FlowInfo{ID: id, Name: id}}
	f.Metadata.Nodes = []engine.Node{{ID: "in", Type: schedule.NodeType, Configuration: cfg}, {ID: "out", Type: sinkType}}
	f.Metadata.Connections = []engine.Connection{{FromID: "in", ToID: "out", Type: types.Success}}
	return f
}

func deploy(t testing.TB, m *engine.Manager, f *engine.Flow) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Deploy(ctx, tenant, f, 1); err != nil {
		t.Fatalf("deploy: %v", err)
	}
}

type tick struct {
	Tick      string `json:"tick"`
	Scheduled string `json:"scheduled"`
}

func decode(t *testing.T, msg types.RuleMsg) tick {
	t.Helper()
	var tk tick
	if err := json.Unmarshal([]byte(msg.Data), &tk); err != nil {
		t.Fatalf("tick data %q: %v", msg.Data, err)
	}
	if _, err := time.Parse(time.RFC3339, tk.Tick); err != nil {
		t.Fatalf("tick: %v", err)
	}
	return tk
}

// ticks collects messages until n have arrived or 5 s have passed.
func ticks(t *testing.T, ch <-chan types.RuleMsg, n int) []types.RuleMsg {
	t.Helper()
	var out []types.RuleMsg
	deadline := time.After(5 * time.Second)
	for len(out) < n {
		select {
		case m := <-ch:
			out = append(out, m)
		case <-deadline:
			t.Fatalf("%d ticks in 5 s, want %d", len(out), n)
		}
	}
	return out
}

func TestEverySecondTicks(t *testing.T) {
	m := newManager(t, nil)
	ch := recorder(t)
	deploy(t, m, flow("every-second", map[string]any{"cron": "* * * * * *", "timezone": "Asia/Kolkata"}, "test/schedRecord"))
	got := ticks(t, ch, 2)
	var prev time.Time
	for i, msg := range got {
		if msg.Type != "TICK" || msg.DataType != types.JSON {
			t.Fatalf("tick %d: type %s, dataType %s", i, msg.Type, msg.DataType)
		}
		tk := decode(t, msg)
		sched, err := time.Parse(time.RFC3339, tk.Scheduled)
		if err != nil {
			t.Fatal(err)
		}
		// The zone's offset is in the times.
		if !strings.HasSuffix(tk.Scheduled, "+05:30") || !strings.HasSuffix(tk.Tick, "+05:30") {
			t.Fatalf("tick %d not in Asia/Kolkata: %+v", i, tk)
		}
		md := msg.Metadata
		if md.GetValue("tickTime") != tk.Tick || md.GetValue("scheduledTime") != tk.Scheduled || md.GetValue("connector") != "schedule" ||
			md.GetValue("tenant") != tenant || md.GetValue("timezone") != "Asia/Kolkata" {
			t.Fatalf("metadata = %v", md.Values())
		}
		if i > 0 && !sched.After(prev) {
			t.Fatalf("activation %s after %s", sched, prev)
		}
		prev = sched
	}
	// The counter follows the admission: poll it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := m.Status("every-second")
		if err != nil {
			t.Fatal(err)
		}
		s := st.Sources["in"]
		if s.State == engine.StateListening && s.Messages >= 2 && s.Errors == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status = %+v", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunOnStart(t *testing.T) {
	m := newManager(t, nil)
	ch := recorder(t)
	before := time.Now().Add(-time.Second)
	deploy(t, m, flow("on-start", map[string]any{"cron": "0 0 0 1 1 *", "runOnStart": true}, "test/schedRecord"))
	tk := decode(t, ticks(t, ch, 1)[0])
	sched, _ := time.Parse(time.RFC3339, tk.Scheduled)
	if sched.Before(before) || !strings.HasSuffix(tk.Scheduled, "Z") {
		t.Fatalf("start tick = %+v", tk)
	}
}

func TestNextActivationsInZone(t *testing.T) {
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		expr, zone, from string
		want             []string // UTC
	}{
		// 09:00 in New York is 14:00 UTC in winter (EST) and 13:00 UTC in summer (EDT).
		{"0 0 9 * * *", "America/New_York", "2025-01-15T12:00:00Z", []string{"2025-01-15T14:00:00Z", "2025-01-16T14:00:00Z"}},
		{"0 0 9 * * *", "America/New_York", "2025-07-15T12:00:00Z", []string{"2025-07-15T13:00:00Z", "2025-07-16T13:00:00Z"}},
		// Across the spring change in Berlin (30 March 2025, 02:00 -> 03:00).
		{"0 0 4 * * *", "Europe/Berlin", "2025-03-29T00:00:00Z", []string{"2025-03-29T03:00:00Z", "2025-03-30T02:00:00Z"}},
		// 02:30 does not exist on the spring day and happens twice on the autumn one.
		{"0 30 2 * * *", "Europe/Berlin", "2025-03-29T12:00:00Z", []string{"2025-03-31T00:30:00Z"}},
		{"0 30 2 * * *", "Europe/Berlin", "2025-10-25T12:00:00Z", []string{"2025-10-26T00:30:00Z", "2025-10-26T01:30:00Z", "2025-10-27T01:30:00Z"}},
		{"0 30 8 * * MON-FRI", "Asia/Kolkata", "2025-01-17T12:00:00Z", []string{"2025-01-20T03:00:00Z", "2025-01-21T03:00:00Z"}},
		{"*/20 * * * * *", "UTC", "2025-01-01T00:00:05Z", []string{"2025-01-01T00:00:20Z", "2025-01-01T00:00:40Z"}},
	}
	for _, tc := range cases {
		got, err := schedule.NextActivations(tc.expr, tc.zone, utc(tc.from), len(tc.want))
		if err != nil {
			t.Fatalf("%s in %s: %v", tc.expr, tc.zone, err)
		}
		for i := range tc.want {
			if i >= len(got) || !got[i].Equal(utc(tc.want[i])) {
				t.Fatalf("%s in %s from %s: %v, want %v", tc.expr, tc.zone, tc.from, got, tc.want)
			}
			if got[i].Location().String() != tc.zone {
				t.Fatalf("activation in zone %s, want %s", got[i].Location(), tc.zone)
			}
		}
	}
}

func TestInvalidConfigNamesTheField(t *testing.T) {
	r, _ := spec.Lookup(schedule.NodeType)
	cases := map[string]map[string]any{
		"timezone": {"cron": "* * * * * *", "timezone": "Mars/Olympus"},
		"cron":     {"cron": "* * * * *"}, // five fields: seconds are required
	}
	for field, cfg := range cases {
		ps := r.Spec.Check(cfg)
		if len(ps) != 1 || ps[0].Field != field {
			t.Errorf("config %v: problems %v, want one on %q", cfg, ps, field)
		}
	}
}

// Two instances sharing one state store emit each activation once.
func TestOneTickPerActivationAcrossInstances(t *testing.T) {
	shared, err := engine.NewMemoryState(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ch := recorder(t)
	a, b := newManager(t, shared), newManager(t, shared)
	cfg := func() map[string]any { return map[string]any{"cron": "* * * * * *"} }
	deploy(t, a, flow("cluster", cfg(), "test/schedRecord"))
	deploy(t, b, flow("cluster", cfg(), "test/schedRecord"))
	seen := map[string]int{}
	deadline := time.After(5 * time.Second)
	for len(seen) < 3 {
		select {
		case msg := <-ch:
			seen[msg.Metadata.GetValue("scheduledTime")]++
		case <-deadline:
			t.Fatalf("activations seen: %v", seen)
		}
	}
	for at, n := range seen {
		if n != 1 {
			t.Fatalf("activation %s emitted %d times", at, n)
		}
	}
}

// inlet submits into a deployed flow at the connector's node.
type inlet struct {
	m    *engine.Manager
	flow string
}

func (in inlet) Submit(ctx context.Context, msg engine.Message, o engine.SubmitOptions) (*engine.Result, error) {
	o.StartNode = "in"
	return in.m.Submit(ctx, in.flow, msg, o)
}

// BenchmarkScheduleTicks measures ticks per second from the connector (claim
// in the state store, then submit) into a flow that only counts.
func BenchmarkScheduleTicks(b *testing.B) {
	const perOp = 2000
	m := newManager(b, nil)
	cfg := map[string]any{"cron": "0 0 0 1 1 *"}
	deploy(b, m, flow("bench", cfg, "test/schedCount"))
	src, fire, err := schedule.NewFirer(engine.SourceContext{FlowID: "bench", NodeID: "bench-firer", Tenant: tenant,
		In: inlet{m, "bench"}, State: m.State()}, cfg)
	if err != nil {
		b.Fatal(err)
	}
	counted.Store(0)
	base := time.Now()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		for j := range perOp {
			fire(base.Add(time.Duration(i*perOp+j+1) * time.Second))
		}
		want := int64((i + 1) * perOp)
		deadline := time.Now().Add(30 * time.Second)
		for counted.Load() < want {
			if time.Now().After(deadline) {
				b.Fatalf("counted %d of %d ticks", counted.Load(), want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*perOp)/time.Since(start).Seconds(), "msgs/s")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := src.Stop(ctx); err != nil {
		b.Fatal(err)
	}
}

func TestSpecExamplesAreValid(t *testing.T) {
	r, _ := spec.Lookup(schedule.NodeType)
	for _, ex := range r.Spec.Examples {
		if ps := r.Spec.Check(ex.Config); len(ps) != 0 {
			t.Errorf("example %q: %v", ex.Title, ps)
		}
	}
}
