// Package mongostore keeps system records in MongoDB: alarm history and
// statistics results, the records the seed puts there, when the process
// is configured with records.mongo.uri (otherwise they stay in the
// embedded SQLite store). It implements store.AlarmRepo and
// store.StatsRepo with the same behaviour as the SQLite repositories (the
// suites in store/storetest check both). Every record carries its tenant.
//
// It needs no transactions and no aggregation beyond counting, so it runs
// on MongoDB and on MongoDB-wire servers such as FerretDB (which its tests
// use): an alarm's change and its history entry are two writes, the alarm
// first.
package mongostore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/sluicehq/sluice/store"
)

// DefaultDatabase is the database of Options without one.
const DefaultDatabase = "sluice"

// Collections the store keeps.
const (
	AlarmsCollection       = "alarms"
	AlarmHistoryCollection = "alarm_history"
	StatsCollection        = "stats"
)

// Options configure Open.
type Options struct {
	// URI is the MongoDB connection string (records.mongo.uri).
	URI string
	// Database holds the records (records.mongo.database; default
	// "sluice").
	Database string
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// Store is a connection to the records' database.
type Store struct {
	client *mongo.Client
	db     *mongo.Database
	log    *slog.Logger
	alarms *alarmRepo
	stats  *statsRepo
}

// Open connects to the server, checks that it answers (within ctx) and
// creates the indexes the queries need.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Database == "" {
		o.Database = DefaultDatabase
	}
	if strings.TrimSpace(o.URI) == "" {
		return nil, errors.New("mongodb records: no uri")
	}
	if strings.ContainsAny(o.Database, "/\\. \"$*<>:|?\x00") || len(o.Database) > 63 {
		return nil, fmt.Errorf("mongodb records: database %q: not a MongoDB database name", o.Database)
	}
	opts := options.Client().SetAppName("sluice").SetServerSelectionTimeout(10 * time.Second).ApplyURI(o.URI)
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("mongodb records: uri: %w", err)
	}
	client, err := mongo.Connect(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("mongodb records: connect: %w", err)
	}
	s := &Store{client: client, db: client.Database(o.Database), log: o.Logger}
	s.alarms = &alarmRepo{alarms: s.db.Collection(AlarmsCollection), history: s.db.Collection(AlarmHistoryCollection)}
	s.stats = &statsRepo{c: s.db.Collection(StatsCollection)}
	if err := s.Ping(ctx); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	if err := s.ensureIndexes(ctx); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	return s, nil
}

func (s *Store) ensureIndexes(ctx context.Context) error {
	for coll, models := range map[string][]mongo.IndexModel{
		AlarmsCollection: {
			{Keys: bson.D{{Key: "tenant", Value: 1}, {Key: "since", Value: -1}, {Key: "id", Value: 1}}, Options: options.Index().SetName("tenant_since")},
			{Keys: bson.D{{Key: "tenant", Value: 1}, {Key: "deviceId", Value: 1}, {Key: "since", Value: -1}}, Options: options.Index().SetName("tenant_device")},
			{Keys: bson.D{{Key: "tenant", Value: 1}, {Key: "status", Value: 1}, {Key: "since", Value: -1}}, Options: options.Index().SetName("tenant_status")},
		},
		StatsCollection: {
			{Keys: bson.D{{Key: "tenant", Value: 1}, {Key: "windowTo", Value: -1}, {Key: "windowFrom", Value: -1}}, Options: options.Index().SetName("tenant_window")},
			{Keys: bson.D{{Key: "tenant", Value: 1}, {Key: "nodeId", Value: 1}, {Key: "windowTo", Value: -1}}, Options: options.Index().SetName("tenant_node")},
		},
		// alarm_history: its _id {tenant, alarmId, seq} is the index.
	} {
		// Only the missing ones: FerretDB v1.23 drops the connection when
		// asked to create an index that exists.
		specs, err := s.db.Collection(coll).Indexes().ListSpecifications(ctx)
		if err != nil {
			return fmt.Errorf("mongodb records: list the indexes of %s.%s: %w", s.db.Name(), coll, err)
		}
		have := map[string]bool{}
		for _, sp := range specs {
			have[sp.Name] = true
		}
		var missing []mongo.IndexModel
		for _, m := range models {
			if m.Options.Name == nil || !have[*m.Options.Name] {
				missing = append(missing, m)
			}
		}
		if len(missing) == 0 {
			continue
		}
		if _, err := s.db.Collection(coll).Indexes().CreateMany(ctx, missing); err != nil {
			return fmt.Errorf("mongodb records: create the indexes of %s.%s: %w", s.db.Name(), coll, err)
		}
	}
	return nil
}

// Ping checks that the server answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx, nil); err != nil {
		return fmt.Errorf("mongodb records: ping: %w", err)
	}
	return nil
}

// Close disconnects (waiting for operations in flight while ctx lasts).
func (s *Store) Close(ctx context.Context) error {
	if err := s.client.Disconnect(ctx); err != nil {
		return fmt.Errorf("mongodb records: disconnect: %w", err)
	}
	return nil
}

// Database is the name of the records' database.
func (s *Store) Database() string { return s.db.Name() }

// Alarms returns the alarm repository.
func (s *Store) Alarms() store.AlarmRepo { return s.alarms }

// Stats returns the statistics repository.
func (s *Store) Stats() store.StatsRepo { return s.stats }

func tenantOr(t string) string {
	if t == "" {
		return store.DefaultTenant
	}
	return t
}

// now is the current time as the store keeps it: UTC, milliseconds (a
// BSON date's precision).
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// date is t as stored: a BSON date, or null for the zero time.
func date(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// fromDate is a stored date as the store returns it.
func fromDate(t *time.Time) time.Time {
	if t == nil || t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// page applies an offset and a limit (<= 0: none) to a find.
func page(o *options.FindOptions, offset, limit int) *options.FindOptions {
	if offset > 0 {
		o.SetSkip(int64(offset))
	}
	if limit > 0 {
		o.SetLimit(int64(limit))
	}
	return o
}

// Field names that servers refuse ('.' anywhere, a leading '$') are
// stored escaped: '%' as %25, '.' as %2E, a leading '$' as %24.
func escapeKey(k string) string {
	if !strings.ContainsAny(k, "%.") && !strings.HasPrefix(k, "$") {
		return k
	}
	k = strings.ReplaceAll(k, "%", "%25")
	k = strings.ReplaceAll(k, ".", "%2E")
	if strings.HasPrefix(k, "$") {
		k = "%24" + k[1:]
	}
	return k
}

func unescapeKey(k string) string {
	if !strings.Contains(k, "%") {
		return k
	}
	return strings.NewReplacer("%2E", ".", "%24", "$", "%25", "%").Replace(k)
}

// toBSON turns a JSON-like value (maps, slices, scalars) into what the
// store writes: maps become documents with escaped keys.
func toBSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		d := bson.M{}
		for k, e := range x {
			d[escapeKey(k)] = toBSON(e)
		}
		return d
	case []any:
		a := make(bson.A, len(x))
		for i, e := range x {
			a[i] = toBSON(e)
		}
		return a
	case []map[string]any:
		a := make(bson.A, len(x))
		for i, e := range x {
			a[i] = toBSON(e)
		}
		return a
	default:
		return x
	}
}

// fromBSON turns a stored value back into JSON's Go types (the types the
// SQLite store returns, which keeps such values as JSON): documents
// become map[string]any, arrays []any, numbers float64.
func fromBSON(v any) any {
	switch x := v.(type) {
	case bson.M:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[unescapeKey(k)] = fromBSON(e)
		}
		return m
	case bson.D:
		m := make(map[string]any, len(x))
		for _, e := range x {
			m[unescapeKey(e.Key)] = fromBSON(e.Value)
		}
		return m
	case bson.A:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = fromBSON(e)
		}
		return a
	case int32:
		return float64(x)
	case int64:
		return float64(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	default:
		return x
	}
}

// jsonLike is v as JSON's Go types (numbers float64), as the SQLite store
// returns values it keeps as JSON; nil when v does not encode.
func jsonLike[T any](v T) (T, error) {
	var out T
	b, err := json.Marshal(v)
	if err != nil {
		return out, err
	}
	err = json.Unmarshal(b, &out)
	return out, err
}

func isDuplicate(err error) bool { return mongo.IsDuplicateKeyError(err) }
