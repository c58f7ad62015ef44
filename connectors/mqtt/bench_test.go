package mqtt

import (
	"fmt"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/sluicehq/sluice/connectors/conntest"
	"github.com/sluicehq/sluice/engine"
)

// BenchmarkMosquittoToFlow measures messages per second from Mosquitto
// through mqttIn into a flow that only counts them. One iteration is a batch
// of 2000 messages from 16 devices. The QoS 1 runs show the in-flight
// window at work: Mosquitto sends at most max_inflight_messages
// unacknowledged messages, and Sluice acknowledges a message only when the
// flow has finished it.
func BenchmarkMosquittoToFlow(b *testing.B) {
	const batch = 2000
	payload := []byte(`{"temperature":81.5,"pressure":2.1,"running":true}`)
	for _, c := range []struct {
		name  string
		qos   byte
		extra []string
	}{
		{"qos0", 0, nil},
		{"qos1-window20", 1, nil}, // Mosquitto's default max_inflight_messages
		{"qos1-window1000", 1, []string{"max_inflight_messages 1000"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			mq := startMosquitto(b, c.extra...)
			m := conntest.NewManager(b, engine.Options{})
			p := conntest.Record(b, "bench")
			cfg := baseIn(mq.url(), "bench/+")
			cfg["qos"] = int(c.qos)
			cfg["topicPattern"] = "bench/{deviceId}"
			conntest.Deploy(b, m, "default", inFlow("bench", cfg, conntest.CountType), 1)
			waitState(b, m, "bench", engine.StateConnected)
			pub := testClient(b, mq.url(), "bench-pub", "", "")
			topics := make([]string, 16)
			for i := range topics {
				topics[i] = fmt.Sprintf("bench/dev-%d", i)
			}
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				toks := make([]paho.Token, 0, batch)
				for j := range batch {
					toks = append(toks, pub.Publish(topics[j%len(topics)], c.qos, false, payload))
				}
				for _, tok := range toks {
					if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
						b.Fatalf("publish: %v", tok.Error())
					}
				}
				p.WaitCount(b, int64((i+1)*batch), 30*time.Second)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N*batch)/elapsed.Seconds(), "msgs/s")
		})
	}
}
