package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// hourMs is the start of hour h of a fixed day, in Unix milliseconds.
func hourMs(h int) int64 {
	return time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC).Add(time.Duration(h) * time.Hour).UnixMilli()
}

func statsRec(flow, node, job string, fromHour int, avg float64) StatsRecord {
	return StatsRecord{FlowID: flow, NodeID: node, Job: job, WindowFrom: hourMs(fromHour), WindowTo: hourMs(fromHour + 1),
		Groups: []map[string]any{{"deviceId": "b1", "signal": "temperature", "avg": avg, "count": 3.0}}}
}

func TestRecordStatsUpsertsByWindow(t *testing.T) {
	ctx := context.Background()
	repo := openTest(t, Options{}).Stats()
	first, err := repo.RecordStats(ctx, statsRec("boiler", "n1", "hourly", 9, 20))
	requireNoError(t, err)
	if first.ID == "" || first.Tenant != DefaultTenant || first.CreatedAt.IsZero() || first.Groups[0]["avg"] != 20.0 {
		t.Fatalf("stored %+v", first)
	}
	// The same window again (a retried run, a backfill) replaces it.
	second, err := repo.RecordStats(ctx, statsRec("boiler", "n1", "hourly-renamed", 9, 21.5))
	requireNoError(t, err)
	requireEqual(t, second.ID, first.ID)
	requireEqual(t, second.Job, "hourly-renamed")
	requireEqual(t, second.Groups, []map[string]any{{"deviceId": "b1", "signal": "temperature", "avg": 21.5, "count": 3.0}})
	if second.CreatedAt.Before(first.CreatedAt) {
		t.Errorf("created at went back: %v then %v", first.CreatedAt, second.CreatedAt)
	}
	items, total, err := repo.ListStats(ctx, StatsFilter{})
	requireNoError(t, err)
	requireEqual(t, total, 1)
	requireEqual(t, items[0], second)

	// Another window, node, flow or tenant is another record.
	for _, r := range []StatsRecord{
		statsRec("boiler", "n1", "hourly", 10, 1),
		statsRec("boiler", "n2", "hourly", 9, 1),
		statsRec("pumps", "n1", "hourly", 9, 1),
		func() StatsRecord { r := statsRec("boiler", "n1", "hourly", 9, 1); r.Tenant = "other"; return r }(),
		func() StatsRecord { r := statsRec("boiler", "n1", "hourly", 9, 1); r.WindowFrom = hourMs(8); return r }(),
	} {
		_, err := repo.RecordStats(ctx, r)
		requireNoError(t, err)
	}
	_, total, err = repo.ListStats(ctx, StatsFilter{})
	requireNoError(t, err)
	requireEqual(t, total, 5)
	_, total, err = repo.ListStats(ctx, StatsFilter{Tenant: "other"})
	requireNoError(t, err)
	requireEqual(t, total, 1)
}

func TestRecordStatsRefusesBadRecords(t *testing.T) {
	repo := openTest(t, Options{}).Stats()
	for name, r := range map[string]StatsRecord{
		"no node":     {FlowID: "f", WindowFrom: 1, WindowTo: 2},
		"empty range": {FlowID: "f", NodeID: "n", WindowFrom: 2, WindowTo: 2},
		"reversed":    {FlowID: "f", NodeID: "n", WindowFrom: 3, WindowTo: 2},
		"bad groups":  {FlowID: "f", NodeID: "n", WindowFrom: 1, WindowTo: 2, Groups: []map[string]any{{"x": func() {}}}},
	} {
		if _, err := repo.RecordStats(context.Background(), r); err == nil {
			t.Errorf("%s: stored", name)
		} else if name != "bad groups" {
			requireErrorIs(t, err, ErrInvalidStats)
		}
	}
	// Nothing was stored, and a record without groups stores an empty list.
	rec, err := repo.RecordStats(context.Background(), StatsRecord{NodeID: "n", WindowFrom: 1, WindowTo: 2})
	requireNoError(t, err)
	requireEqual(t, rec.Groups, []map[string]any{})
	_, total, err := repo.ListStats(context.Background(), StatsFilter{})
	requireNoError(t, err)
	requireEqual(t, total, 1)
}

func TestListStats(t *testing.T) {
	ctx := context.Background()
	repo := openTest(t, Options{}).Stats()
	// Hours 0..9 of node n1 (job hourly, flow boiler), hours 0..4 of n2 (job
	// daily, flow pumps).
	for h := range 10 {
		_, err := repo.RecordStats(ctx, statsRec("boiler", "n1", "hourly", h, float64(h)))
		requireNoError(t, err)
	}
	for h := range 5 {
		_, err := repo.RecordStats(ctx, statsRec("pumps", "n2", "daily", h, float64(h)))
		requireNoError(t, err)
	}
	for _, tc := range []struct {
		f     StatsFilter
		total int
		first string // "node@hour" of the first item
		items int
	}{
		{StatsFilter{}, 15, "n1@9", 15},
		{StatsFilter{FlowID: "boiler"}, 10, "n1@9", 10},
		{StatsFilter{NodeID: "n2"}, 5, "n2@4", 5},
		{StatsFilter{Job: "daily"}, 5, "n2@4", 5},
		{StatsFilter{Job: "daily", FlowID: "boiler"}, 0, "", 0},
		// From and To bound the window end, To exclusive: ends at hours 3, 4 and 5.
		{StatsFilter{FlowID: "boiler", From: time.UnixMilli(hourMs(3)), To: time.UnixMilli(hourMs(6))}, 3, "n1@4", 3},
		{StatsFilter{FlowID: "boiler", Limit: 4, Offset: 2}, 10, "n1@7", 4},
		{StatsFilter{FlowID: "boiler", Limit: 4, Offset: 8}, 10, "n1@1", 2},
		{StatsFilter{FlowID: "boiler", Offset: 20}, 10, "", 0},
		{StatsFilter{Tenant: "nobody"}, 0, "", 0},
	} {
		items, total, err := repo.ListStats(ctx, tc.f)
		requireNoError(t, err)
		if total != tc.total || len(items) != tc.items {
			t.Errorf("%+v: total %d items %d, want %d and %d", tc.f, total, len(items), tc.total, tc.items)
			continue
		}
		if tc.items == 0 {
			if items == nil {
				t.Errorf("%+v: nil page, want an empty one", tc.f)
			}
			continue
		}
		got := fmt.Sprintf("%s@%d", items[0].NodeID, (items[0].WindowFrom-hourMs(0))/time.Hour.Milliseconds())
		if got != tc.first {
			t.Errorf("%+v: first %s, want %s", tc.f, got, tc.first)
		}
		for i := 1; i < len(items); i++ {
			if items[i].WindowTo > items[i-1].WindowTo {
				t.Errorf("%+v: not newest first at %d", tc.f, i)
			}
		}
	}
}

func TestRecordStatsConcurrently(t *testing.T) {
	ctx := context.Background()
	repo := openTest(t, Options{}).Stats()
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Four windows, each recorded ten times at once.
			_, err := repo.RecordStats(ctx, statsRec("boiler", "n1", "hourly", i%4, float64(i)))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		requireNoError(t, err)
	}
	_, total, err := repo.ListStats(ctx, StatsFilter{})
	requireNoError(t, err)
	requireEqual(t, total, 4)
}

func TestStatsIndexesAreUsed(t *testing.T) {
	db := openTest(t, Options{})
	for q, index := range map[string]string{
		`SELECT id FROM stats_records WHERE tenant = 'default' ORDER BY window_to DESC, window_from DESC, id LIMIT 50`:      "stats_records_window",
		`SELECT id FROM stats_records WHERE tenant = 'default' AND flow_id = 'f' AND node_id = 'n' ORDER BY window_to DESC`: "stats_records_flow",
		`SELECT id FROM stats_records WHERE tenant = 'default' AND job = 'j' ORDER BY window_to DESC`:                       "stats_records_job",
	} {
		rows, err := db.sql.Query(`EXPLAIN QUERY PLAN ` + q)
		requireNoError(t, err)
		plan := ""
		for rows.Next() {
			var id, parent, notused int
			var detail string
			requireNoError(t, rows.Scan(&id, &parent, &notused, &detail))
			plan += detail + "\n"
		}
		requireNoError(t, rows.Close())
		if !strings.Contains(plan, index) {
			t.Errorf("%s\nplan:\n%s\nwant index %s", q, plan, index)
		}
	}
}

func TestStatsSurviveReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, dir, Options{})
	requireNoError(t, err)
	stored, err := db.Stats().RecordStats(ctx, statsRec("boiler", "n1", "hourly", 3, 7))
	requireNoError(t, err)
	requireNoError(t, db.Close())
	again := openAt(t, dir, Options{})
	items, _, err := again.Stats().ListStats(ctx, StatsFilter{NodeID: "n1"})
	requireNoError(t, err)
	requireEqual(t, items, []StatsRecord{stored})
}
