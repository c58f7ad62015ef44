package engine

import "github.com/prometheus/client_golang/prometheus"

// engineMetrics are the per-flow and per-node figures of a Manager. They are
// registered on the Manager's registry, never on a global one (RuleGo's
// engine metrics are global and reset by every new engine, RULEGO-NOTES §6.5).
type engineMetrics struct {
	nodeIn       *prometheus.CounterVec
	nodeOut      *prometheus.CounterVec
	nodeErrors   *prometheus.CounterVec
	nodeDuration *prometheus.HistogramVec
	inFlight     *prometheus.GaugeVec
	messages     *prometheus.CounterVec
	deadLetters  *prometheus.CounterVec
	rejected     *prometheus.CounterVec
}

func newEngineMetrics(reg prometheus.Registerer) *engineMetrics {
	m := &engineMetrics{
		nodeIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_node_messages_in_total", Help: "Messages a node received.",
		}, []string{"flow", "node"}),
		nodeOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_node_messages_out_total", Help: "Messages a node emitted, by relation.",
		}, []string{"flow", "node", "relation"}),
		nodeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_node_errors_total", Help: "Messages a node failed.",
		}, []string{"flow", "node"}),
		nodeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sluice_node_duration_seconds", Help: "Time a node held a message.",
			Buckets: prometheus.ExponentialBuckets(0.00001, 4, 10),
		}, []string{"flow", "node"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_flow_in_flight", Help: "Messages admitted to a flow and not finished.",
		}, []string{"flow"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_flow_messages_total", Help: "Messages a flow finished, by status.",
		}, []string{"flow", "status"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_flow_dead_letters_total", Help: "Messages a flow sent to the dead-letter store.",
		}, []string{"flow"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_flow_rejected_total", Help: "Messages refused at admission because the flow was full.",
		}, []string{"flow"}),
	}
	if reg != nil {
		reg.MustRegister(m.nodeIn, m.nodeOut, m.nodeErrors, m.nodeDuration, m.inFlight, m.messages, m.deadLetters, m.rejected)
	}
	return m
}
