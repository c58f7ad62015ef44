package mongostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/sluicehq/sluice/store"
)

// A statistics record is a document of the stats collection with _id
// {tenant, flowId, nodeId, windowFrom, windowTo}: recording the same window
// again updates it, keeping its id.
type statsRepo struct{ c *mongo.Collection }

var _ store.StatsRepo = (*statsRepo)(nil)

type statsDoc struct {
	ID         string     `bson:"id"`
	Tenant     string     `bson:"tenant"`
	FlowID     string     `bson:"flowId"`
	NodeID     string     `bson:"nodeId"`
	Job        string     `bson:"job"`
	WindowFrom int64      `bson:"windowFrom"`
	WindowTo   int64      `bson:"windowTo"`
	Groups     bson.A     `bson:"groups"`
	CreatedAt  *time.Time `bson:"createdAt"`
}

func (d statsDoc) record() store.StatsRecord {
	r := store.StatsRecord{ID: d.ID, Tenant: d.Tenant, FlowID: d.FlowID, NodeID: d.NodeID, Job: d.Job,
		WindowFrom: d.WindowFrom, WindowTo: d.WindowTo, CreatedAt: fromDate(d.CreatedAt), Groups: []map[string]any{}}
	for _, g := range d.Groups {
		if m, ok := fromBSON(g).(map[string]any); ok {
			r.Groups = append(r.Groups, m)
		}
	}
	return r
}

func checkStats(r store.StatsRecord) error {
	switch {
	case r.NodeID == "":
		return fmt.Errorf("stats record: no node: %w", store.ErrInvalidStats)
	case r.WindowTo <= r.WindowFrom:
		return fmt.Errorf("stats record of node %q: window to (%d) must be after from (%d): %w", r.NodeID, r.WindowTo, r.WindowFrom, store.ErrInvalidStats)
	}
	return nil
}

// RecordStats implements store.StatsRepo: an upsert by (tenant, flow,
// node, window) that keeps the first record's id.
func (r *statsRepo) RecordStats(ctx context.Context, rec store.StatsRecord) (store.StatsRecord, error) {
	rec.Tenant = tenantOr(rec.Tenant)
	if err := checkStats(rec); err != nil {
		return store.StatsRecord{}, fmt.Errorf("record stats: %w", err)
	}
	groups, err := jsonLike(rec.Groups)
	if err != nil {
		return store.StatsRecord{}, fmt.Errorf("record stats of node %q: groups: %w", rec.NodeID, err)
	}
	if groups == nil {
		groups = []map[string]any{}
	}
	id := rec.ID
	if id == "" {
		id = uuid.NewString()
	}
	key := bson.D{{Key: "tenant", Value: rec.Tenant}, {Key: "flowId", Value: rec.FlowID}, {Key: "nodeId", Value: rec.NodeID},
		{Key: "windowFrom", Value: rec.WindowFrom}, {Key: "windowTo", Value: rec.WindowTo}}
	update := bson.D{
		{Key: "$set", Value: bson.D{{Key: "job", Value: rec.Job}, {Key: "groups", Value: toBSON(groups)}, {Key: "createdAt", Value: now()}}},
		{Key: "$setOnInsert", Value: append(bson.D{{Key: "id", Value: id}}, key...)},
	}
	filter := bson.D{{Key: "_id", Value: key}}
	opts := options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)
	var d statsDoc
	err = r.c.FindOneAndUpdate(ctx, filter, update, opts).Decode(&d)
	if err != nil && isDuplicate(err) { // two first records at once: the other won
		err = r.c.FindOneAndUpdate(ctx, filter, update, opts).Decode(&d)
	}
	if errors.Is(err, mongo.ErrNoDocuments) {
		err = errors.New("the upsert returned no record")
	}
	if err != nil {
		return store.StatsRecord{}, fmt.Errorf("record stats of node %q, window %d-%d: %w", rec.NodeID, rec.WindowFrom, rec.WindowTo, err)
	}
	return d.record(), nil
}

// ListStats implements store.StatsRepo: newest window (windowTo, then
// windowFrom) first.
func (r *statsRepo) ListStats(ctx context.Context, f store.StatsFilter) ([]store.StatsRecord, int, error) {
	filter := bson.D{{Key: "tenant", Value: tenantOr(f.Tenant)}}
	for _, e := range []struct{ field, v string }{{"flowId", f.FlowID}, {"nodeId", f.NodeID}, {"job", f.Job}} {
		if e.v != "" {
			filter = append(filter, bson.E{Key: e.field, Value: e.v})
		}
	}
	to := bson.D{}
	if !f.From.IsZero() {
		to = append(to, bson.E{Key: "$gte", Value: f.From.UnixMilli()})
	}
	if !f.To.IsZero() {
		to = append(to, bson.E{Key: "$lt", Value: f.To.UnixMilli()})
	}
	if len(to) > 0 {
		filter = append(filter, bson.E{Key: "windowTo", Value: to})
	}
	total, err := r.c.CountDocuments(ctx, filter)
	if err != nil {
		return nil, 0, fmt.Errorf("list stats: count: %w", err)
	}
	out := []store.StatsRecord{}
	if f.Limit > 0 && f.Offset >= int(total) {
		return out, int(total), nil
	}
	sort := bson.D{{Key: "windowTo", Value: -1}, {Key: "windowFrom", Value: -1}, {Key: "id", Value: 1}}
	cur, err := r.c.Find(ctx, filter, page(options.Find().SetSort(sort), f.Offset, f.Limit))
	if err != nil {
		return nil, 0, fmt.Errorf("list stats: %w", err)
	}
	var docs []statsDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, 0, fmt.Errorf("list stats: %w", err)
	}
	for _, d := range docs {
		out = append(out, d.record())
	}
	return out, int(total), nil
}
