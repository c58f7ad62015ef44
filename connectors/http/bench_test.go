package http_test

import (
	"bytes"
	"io"
	nethttp "net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors/conntest"
)

// BenchmarkHTTPIn measures messages per second from HTTP clients through
// httpIn into a flow that only counts: 8 keep-alive clients of one device,
// no rate limit, token auth against the in-memory registry.
func BenchmarkHTTPIn(b *testing.B) {
	e := newEnv(b, envOptions{})
	h := e.deploy("bench", map[string]any{"path": "bench", "rateLimit": 0}, conntest.CountType)
	body := []byte(`{"deviceId":"boiler-7","temperature":81.5,"pressure":2.1}`)
	url := e.url + "/ingest/bench"
	var refused atomic.Int64
	b.SetBytes(int64(len(body)))
	b.SetParallelism(4) // 4 × GOMAXPROCS clients
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, err := nethttp.NewRequest(nethttp.MethodPost, url, bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Device-Token", "tok-boiler")
			resp, err := e.client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != nethttp.StatusAccepted {
				refused.Add(1)
			}
		}
	})
	// 202 means admitted: wait until the flow has counted every message.
	want := int64(b.N) - refused.Load()
	conntest.Eventually(b, wait, "the flow counts every admitted message", func() bool { return h.Count() >= want })
	el := time.Since(start)
	b.StopTimer()
	if n := refused.Load(); n > 0 {
		b.Errorf("%d requests refused", n)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
}
