package store

import (
	"context"
	"time"
)

// StatsRecord is one run of a statistics node: the aggregates it computed
// for one window. Windows are device time in Unix milliseconds. Recording
// the same (tenant, flow, node, window) again replaces the record: a
// backfill or a retried run does not duplicate.
type StatsRecord struct {
	ID     string `json:"id"`
	Tenant string `json:"tenant"`
	FlowID string `json:"flowId"`
	NodeID string `json:"nodeId"`
	// Job names the statistic (the node's job field).
	Job        string `json:"job"`
	WindowFrom int64  `json:"windowFrom"`
	WindowTo   int64  `json:"windowTo"`
	// Groups are the STATS message's groups: {deviceId, signal, bucket?,
	// avg, min, ...} and the calculation's derived figures.
	Groups    []map[string]any `json:"groups"`
	CreatedAt time.Time        `json:"createdAt"`
}

// StatsFilter selects a page of a tenant's statistics records, newest
// window first. Empty fields match everything; From and To bound
// WindowTo (To exclusive); Limit <= 0 means no limit.
type StatsFilter struct {
	Tenant   string
	FlowID   string
	NodeID   string
	Job      string
	From, To time.Time
	Limit    int
	Offset   int
}

// StatsRepo stores statistics results: in the system database by default,
// in MongoDB when configured.
type StatsRepo interface {
	// RecordStats saves a run, replacing an earlier record of the same
	// tenant, flow, node and window; it returns the record as stored.
	RecordStats(ctx context.Context, r StatsRecord) (StatsRecord, error)
	// ListStats returns a page and the total that match.
	ListStats(ctx context.Context, f StatsFilter) ([]StatsRecord, int, error)
}
