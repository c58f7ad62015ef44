package engine

import "github.com/prometheus/client_golang/prometheus"

// sourceCollector exports every running connector's status as metrics, read
// when /metrics is scraped (connectors keep their own counters).
type sourceCollector struct{ m *Manager }

var (
	srcMessagesDesc = prometheus.NewDesc("sluice_source_messages_total", "Messages a connector received.", []string{"flow", "node"}, nil)
	srcBytesDesc    = prometheus.NewDesc("sluice_source_bytes_total", "Payload bytes a connector received.", []string{"flow", "node"}, nil)
	srcErrorsDesc   = prometheus.NewDesc("sluice_source_errors_total", "Errors of a connector: refused devices, failed reads, oversize input.", []string{"flow", "node"}, nil)
	srcConnsDesc    = prometheus.NewDesc("sluice_source_connections", "Open connections of a connector.", []string{"flow", "node"}, nil)
	srcStateDesc    = prometheus.NewDesc("sluice_source_state", "1 for the connector's current state.", []string{"flow", "node", "state"}, nil)
)

func (c sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{srcMessagesDesc, srcBytesDesc, srcErrorsDesc, srcConnsDesc, srcStateDesc} {
		ch <- d
	}
}

func (c sourceCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.srcMu.Lock()
	flows := make([]string, 0, len(c.m.sources))
	for id := range c.m.sources {
		flows = append(flows, id)
	}
	c.m.srcMu.Unlock()
	for _, flow := range flows {
		for node, st := range c.m.SourceStatuses(flow) {
			ch <- prometheus.MustNewConstMetric(srcMessagesDesc, prometheus.CounterValue, float64(st.Messages), flow, node)
			ch <- prometheus.MustNewConstMetric(srcBytesDesc, prometheus.CounterValue, float64(st.Bytes), flow, node)
			ch <- prometheus.MustNewConstMetric(srcErrorsDesc, prometheus.CounterValue, float64(st.Errors), flow, node)
			ch <- prometheus.MustNewConstMetric(srcConnsDesc, prometheus.GaugeValue, float64(st.Connections), flow, node)
			ch <- prometheus.MustNewConstMetric(srcStateDesc, prometheus.GaugeValue, 1, flow, node, string(st.State))
		}
	}
}
