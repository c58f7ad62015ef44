package batch

import (
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Statuser reports a sink's status.
type Statuser interface{ Status() Status }

// Registry is the set of running sinks, for node status (Statuses) and
// Prometheus (it is a prometheus.Collector). The process creates one,
// registers it with its Prometheus registry and Provides it to the engine
// under RegistryKey; Acquire adds every sink it opens.
type Registry struct {
	mu    sync.Mutex
	seq   uint64
	sinks map[regKey]regEntry
}

type regKey struct{ flow, node string }

type regEntry struct {
	id   uint64
	sink string
	s    Statuser
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{sinks: map[regKey]regEntry{}} }

// Add registers the sink of a flow's node (sink is its node type) and
// returns the function that removes it.
func (r *Registry) Add(flow, node, sink string, s Statuser) (remove func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	id, k := r.seq, regKey{flow, node}
	r.sinks[k] = regEntry{id: id, sink: sink, s: s}
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if e, ok := r.sinks[k]; ok && e.id == id {
			delete(r.sinks, k)
		}
	}
}

// Statuses returns the status of each sink node of a flow, by node id.
func (r *Registry) Statuses(flow string) map[string]Status {
	out := map[string]Status{}
	for _, e := range r.list() {
		if e.flow == flow {
			out[e.node] = e.s.Status()
		}
	}
	return out
}

type listed struct {
	flow, node, sink string
	s                Statuser
}

func (r *Registry) list() []listed {
	r.mu.Lock()
	out := make([]listed, 0, len(r.sinks))
	for k, e := range r.sinks {
		out = append(out, listed{flow: k.flow, node: k.node, sink: e.sink, s: e.s})
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].flow != out[j].flow {
			return out[i].flow < out[j].flow
		}
		return out[i].node < out[j].node
	})
	return out
}

var (
	sinkLabels       = []string{"flow", "node", "sink"}
	sinkQueuedDesc   = prometheus.NewDesc("sluice_sink_queued_items", "Items a sink accepted and has not written yet (in its spool or memory queue).", sinkLabels, nil)
	sinkSpoolDesc    = prometheus.NewDesc("sluice_sink_spool_bytes", "Bytes in a sink's spool on disk (items not written yet).", sinkLabels, nil)
	sinkAcceptedDesc = prometheus.NewDesc("sluice_sink_items_accepted_total", "Items a sink took from its flow.", sinkLabels, nil)
	sinkWrittenDesc  = prometheus.NewDesc("sluice_sink_items_written_total", "Items a sink wrote to its target.", sinkLabels, nil)
	sinkRejectedDesc = prometheus.NewDesc("sluice_sink_items_rejected_total", "Items a sink's target refused for good (dropped and logged).", sinkLabels, nil)
	sinkRefusedDesc  = prometheus.NewDesc("sluice_sink_items_refused_total", "Items a sink refused because its queue was full or it was closing (the flow got a Failure).", sinkLabels, nil)
	sinkBatchesDesc  = prometheus.NewDesc("sluice_sink_batches_total", "Successful batch writes of a sink.", sinkLabels, nil)
	sinkFailuresDesc = prometheus.NewDesc("sluice_sink_write_failures_total", "Failed batch writes of a sink (each is retried).", sinkLabels, nil)
	sinkSecondsDesc  = prometheus.NewDesc("sluice_sink_write_seconds_total", "Time a sink spent in successful writes; divided by batches, the average write latency.", sinkLabels, nil)
	sinkBatchDesc    = prometheus.NewDesc("sluice_sink_last_batch_items", "Items in a sink's last written batch.", sinkLabels, nil)
	sinkStateDesc    = prometheus.NewDesc("sluice_sink_state", "1 for the sink's current state (ok, retrying, closed).", append(sinkLabels, "state"), nil)
)

// Describe implements prometheus.Collector.
func (r *Registry) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{sinkQueuedDesc, sinkSpoolDesc, sinkAcceptedDesc, sinkWrittenDesc, sinkRejectedDesc,
		sinkRefusedDesc, sinkBatchesDesc, sinkFailuresDesc, sinkSecondsDesc, sinkBatchDesc, sinkStateDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (r *Registry) Collect(ch chan<- prometheus.Metric) {
	for _, e := range r.list() {
		st := e.s.Status()
		l := []string{e.flow, e.node, e.sink}
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
		}
		counter := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
		}
		gauge(sinkQueuedDesc, float64(st.Queued))
		gauge(sinkSpoolDesc, float64(st.SpoolBytes))
		counter(sinkAcceptedDesc, float64(st.Accepted))
		counter(sinkWrittenDesc, float64(st.Written))
		counter(sinkRejectedDesc, float64(st.Rejected))
		counter(sinkRefusedDesc, float64(st.Refused))
		counter(sinkBatchesDesc, float64(st.Batches))
		counter(sinkFailuresDesc, float64(st.Failures))
		counter(sinkSecondsDesc, st.WriteSeconds)
		gauge(sinkBatchDesc, float64(st.LastBatchSize))
		ch <- prometheus.MustNewConstMetric(sinkStateDesc, prometheus.GaugeValue, 1, e.flow, e.node, e.sink, string(st.State))
	}
}
