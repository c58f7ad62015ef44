package coap_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"

	"github.com/sluicehq/sluice/connectors/conntest"
	"github.com/sluicehq/sluice/engine"
)

// BenchmarkCoAPIn measures messages per second from confirmable CoAP POSTs
// (go-coap clients, one request outstanding each) through the connector into
// a flow that only counts.
func BenchmarkCoAPIn(b *testing.B) {
	const clients, perClient = 4, 500
	m := newManager(b, engine.Options{})
	addr := conntest.FreeUDPAddr(b)
	conntest.Deploy(b, m, tenant, ingestFlow("bench", map[string]any{"listen": addr}, conntest.CountType), 1)
	token := message.Option{ID: message.URIQuery, Value: []byte("token=tok-boiler")}
	rec := conntest.Record(b, "bench")
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// No periodic runner: its default goroutine sleeps 4 s after Close.
				cc, err := udp.Dial(addr, options.WithPeriodicRunner(func(func(time.Time) bool) {}))
				if err != nil {
					b.Errorf("dial: %v", err)
					return
				}
				defer cc.Close()
				for j := range perClient {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					resp, err := cc.Post(ctx, "/telemetry", message.AppJSON, bytes.NewReader(fmt.Appendf(nil, `{"seq":%d}`, j)), token)
					cancel()
					if err != nil {
						b.Errorf("post: %v", err)
						return
					}
					if resp.Code() != codes.Changed {
						b.Errorf("post: %v", resp.Code())
						return
					}
				}
			}()
		}
		wg.Wait()
		want := int64((i + 1) * clients * perClient)
		rec.WaitCount(b, want, 30*time.Second)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*clients*perClient)/time.Since(start).Seconds(), "msgs/s")
}
