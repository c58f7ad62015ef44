package tcp_test

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors/conntest"
)

// BenchmarkTCPIn measures messages per second from newline-framed TCP
// connections through the connector into a flow that only counts.
func BenchmarkTCPIn(b *testing.B) {
	const conns, perConn = 4, 2000
	m := newManager(b)
	addr := conntest.FreeAddr(b)
	deploy(b, m, "bench", 1, map[string]any{"listen": addr, "identify": "token"}, conntest.CountType)
	cs := make([]net.Conn, conns)
	payloads := make([][]byte, conns)
	for i := range cs {
		cs[i] = dial(b, addr)
		write(b, cs[i], []byte("tok-boiler\n"))
		var buf bytes.Buffer
		for j := range perConn {
			fmt.Fprintf(&buf, `{"temperature":%d.5,"seq":%d}`+"\n", 20+j%10, j)
		}
		payloads[i] = buf.Bytes()
	}
	rec := conntest.Record(b, "bench")
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		for k, c := range cs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := c.Write(payloads[k]); err != nil {
					b.Errorf("write: %v", err)
				}
			}()
		}
		wg.Wait()
		want := int64((i + 1) * conns * perConn)
		rec.WaitCount(b, want, 30*time.Second)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*conns*perConn)/time.Since(start).Seconds(), "msgs/s")
}
