package timeseries_test

import (
	"log/slog"
	"testing"

	ts "github.com/sluicehq/sluice/store/timeseries"
	"github.com/sluicehq/sluice/store/timeseries/tstest"
)

// TestConformance runs the suite every time-series store passes (the
// InfluxDB store runs it too) on the embedded store.
func TestConformance(t *testing.T) {
	tstest.Run(t, func(t *testing.T) ts.Store {
		s, err := ts.Open(tstest.Ctx(t), t.TempDir(), ts.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
		return s
	})
}
