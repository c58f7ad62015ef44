package batch

import (
	"context"
	"testing"
	"time"
)

// BenchmarkAccept measures what the flow pays per item: Accept of messages
// of 10 items into a batcher whose target takes everything, with the queue
// in memory and with the spool (every item written to disk before Accept
// returns). ns/op is per item.
func BenchmarkAccept(b *testing.B) {
	for _, mode := range []string{"memory", "spool"} {
		b.Run(mode, func(b *testing.B) {
			dir := ""
			if mode == "spool" {
				dir = b.TempDir()
			}
			w := WriterFunc[item](func(context.Context, []item) error { return nil })
			bt := open(b, w, Options{SpoolDir: dir, BatchSize: 1000, Interval: 10 * time.Millisecond, QueueSize: 100000})
			msg := make([]item, 10)
			for i := range msg {
				msg[i] = item{Dev: "boiler-7", Seq: i}
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += len(msg) {
				if err := bt.Accept(ctx, msg); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "items/s")
			if err := bt.Close(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
}
