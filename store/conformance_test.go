package store_test

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice/store"
	"github.com/sluicehq/sluice/store/storetest"
)

// openDB opens a fresh embedded store for a conformance suite.
func openDB(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), t.TempDir(), store.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return db
}

// TestAlarmRepoConformance runs the alarm repository suite, which the
// MongoDB store passes too, against the embedded SQLite store.
func TestAlarmRepoConformance(t *testing.T) {
	storetest.AlarmRepo(t, func(t *testing.T) store.AlarmRepo { return openDB(t).Alarms() })
}

// TestStatsRepoConformance runs the statistics repository suite, which the
// MongoDB store passes too, against the embedded SQLite store.
func TestStatsRepoConformance(t *testing.T) {
	storetest.StatsRepo(t, func(t *testing.T) store.StatsRepo { return openDB(t).Stats() })
}
