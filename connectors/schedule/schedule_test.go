package schedule_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/connectors/conntest"
	"github.com/sluicehq/sluice/connectors/schedule"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

func TestMain(m *testing.M) { conntest.Main(m) }

const tenant = "acme"

func newManager(t testing.TB, state engine.StateStore) *engine.Manager {
	t.Helper()
	return conntest.NewManager(t, engine.Options{State: state})
}

func flow(id string, cfg map[string]any, then string) *engine.Flow {
	return conntest.Flow(id, schedule.NodeType, cfg, then)
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

// ticks waits until n messages have arrived, 5 s at most, and returns them.
func ticks(t *testing.T, rec *conntest.Recorder, n int) []types.RuleMsg {
	t.Helper()
	conntest.Eventually(t, 5*time.Second, fmt.Sprintf("%d ticks", n), func() bool { return len(rec.All()) >= n })
	return rec.All()[:n]
}

func TestEverySecondTicks(t *testing.T) {
	m := newManager(t, nil)
	rec := conntest.Record(t, "every-second")
	conntest.Deploy(t, m, tenant, flow("every-second", map[string]any{"cron": "* * * * * *", "timezone": "Asia/Kolkata"}, conntest.RecordType), 1)
	got := ticks(t, rec, 2)
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
	conntest.Eventually(t, 5*time.Second, "the status to count the ticks", func() bool {
		s := conntest.Status(t, m, "every-second")
		return s.State == engine.StateListening && s.Messages >= 2 && s.Errors == 0
	})
}

func TestRunOnStart(t *testing.T) {
	m := newManager(t, nil)
	rec := conntest.Record(t, "on-start")
	before := time.Now().Add(-time.Second)
	conntest.Deploy(t, m, tenant, flow("on-start", map[string]any{"cron": "0 0 0 1 1 *", "runOnStart": true}, conntest.RecordType), 1)
	tk := decode(t, ticks(t, rec, 1)[0])
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
	rec := conntest.Record(t, "cluster")
	a, b := newManager(t, shared), newManager(t, shared)
	cfg := func() map[string]any { return map[string]any{"cron": "* * * * * *"} }
	conntest.Deploy(t, a, tenant, flow("cluster", cfg(), conntest.RecordType), 1)
	conntest.Deploy(t, b, tenant, flow("cluster", cfg(), conntest.RecordType), 1)
	seen := map[string]int{}
	conntest.Eventually(t, 5*time.Second, "three activations", func() bool {
		seen = map[string]int{}
		for _, msg := range rec.All() {
			seen[msg.Metadata.GetValue("scheduledTime")]++
		}
		return len(seen) >= 3
	})
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
	conntest.Deploy(b, m, tenant, flow("bench", cfg, conntest.CountType), 1)
	src, fire, err := schedule.NewFirer(engine.SourceContext{FlowID: "bench", NodeID: "bench-firer", Tenant: tenant,
		In: inlet{m, "bench"}, State: m.State()}, cfg)
	if err != nil {
		b.Fatal(err)
	}
	rec := conntest.Record(b, "bench")
	base := time.Now()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		for j := range perOp {
			fire(base.Add(time.Duration(i*perOp+j+1) * time.Second))
		}
		want := int64((i + 1) * perOp)
		rec.WaitCount(b, want, 30*time.Second)
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
