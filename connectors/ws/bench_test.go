package ws_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/sluicehq/sluice/connectors/conntest"
)

// BenchmarkWSIn measures messages per second from WebSocket devices through
// wsIn into a flow that only counts: 8 connections (8 devices) share b.N
// text frames.
func BenchmarkWSIn(b *testing.B) {
	e := newEnv(b)
	h := e.deploy("bench", map[string]any{"path": "bench", "auth": "none"}, conntest.CountType)
	const conns = 8
	cs := make([]*websocket.Conn, conns)
	for i := range cs {
		cs[i] = e.mustDial(fmt.Sprintf("bench?deviceId=dev-%d", i))
	}
	frame := []byte(`{"temperature":81.5,"pressure":2.1}`)
	b.SetBytes(int64(len(frame)))
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range cs {
		n := b.N / conns
		if i < b.N%conns {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				if err := c.WriteMessage(websocket.TextMessage, frame); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	conntest.Eventually(b, wait, "the flow counts every frame", func() bool { return h.Count() >= int64(b.N) })
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
}
