package mongo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	mongodrv "go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/sluicehq/sluice/nodes/sink/batch"
)

// clientOptions fail fast (the batcher retries with backoff, so the client
// need not wait for a server); settings the URI names win.
func clientOptions(uri string) *options.ClientOptions {
	return options.Client().
		SetServerSelectionTimeout(2 * time.Second).
		SetConnectTimeout(2 * time.Second).
		SetMaxPoolSize(4).
		SetAppName("sluice").
		ApplyURI(uri)
}

// checkURI reports a connection string the driver cannot use.
func checkURI(uri string) error {
	if err := clientOptions(uri).Validate(); err != nil {
		return fmt.Errorf("not a usable MongoDB connection string: %w", err)
	}
	return nil
}

// indexes are the indexes the sink keeps on each collection it writes.
type indexes struct {
	// tsField and ttl: a TTL index (expireAfterSeconds ttl) on tsField.
	tsField string
	ttl     int64
	// unique: a unique index on these fields (upserts by filter).
	unique []string
}

func (a indexes) equal(b indexes) bool {
	return a.tsField == b.tsField && a.ttl == b.ttl && slices.Equal(a.unique, b.unique)
}

// Target is the shared state of one sink node: the client its batcher
// writes with (the versions of a flow share it; a redeploy with another
// URI swaps it), the indexes to keep, the collections whose indexes are in
// place, and a note for the node's status (a TTL index the server
// refused).
type Target struct {
	log *slog.Logger

	mu      sync.Mutex
	uri     string
	client  *mongodrv.Client
	idx     indexes
	ensured map[string]bool
	note    string
	noteAt  time.Time
	warned  bool

	// The node's entry in the sink registry: the batcher's status plus
	// the note.
	regB       *batch.Batcher[Item]
	unregister func()
}

func newTarget(uri string, idx indexes, log *slog.Logger) (*Target, error) {
	c, err := mongodrv.Connect(context.Background(), clientOptions(uri))
	if err != nil {
		return nil, fmt.Errorf("uri: %w", err)
	}
	return &Target{log: log, uri: uri, client: c, idx: idx, ensured: map[string]bool{}}, nil
}

// retune applies a version's settings: another URI replaces the client (a
// write in flight on the old one fails and is retried with the new one);
// other indexes are ensured again.
func (t *Target) retune(uri string, idx indexes) error {
	t.mu.Lock()
	if !idx.equal(t.idx) {
		t.idx, t.ensured, t.note, t.warned = idx, map[string]bool{}, "", false
	}
	if uri == t.uri {
		t.mu.Unlock()
		return nil
	}
	c, err := mongodrv.Connect(context.Background(), clientOptions(uri))
	if err != nil {
		t.mu.Unlock()
		return fmt.Errorf("uri: %w", err)
	}
	old := t.client
	t.uri, t.client, t.ensured = uri, c, map[string]bool{}
	t.mu.Unlock()
	// A write in flight on the old client ends (or fails and is retried
	// on the new one) within a few seconds.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = old.Disconnect(ctx)
	return nil
}

func (t *Target) current() (*mongodrv.Client, indexes) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.client, t.idx
}

func (t *Target) close() error {
	t.mu.Lock()
	if t.unregister != nil {
		t.unregister()
		t.unregister, t.regB = nil, nil
	}
	c := t.client
	t.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Disconnect(ctx)
}

// attach registers the node's status, b's plus the target's note, in reg
// (replacing the batcher's own entry).
func (t *Target) attach(reg *batch.Registry, ref batch.Ref, b *batch.Batcher[Item]) {
	if reg == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.regB == b {
		return
	}
	if t.unregister != nil {
		t.unregister()
	}
	t.regB = b
	t.unregister = reg.Add(ref.Flow, ref.Node, Type, statuser{b: b, t: t})
}

// Note is what the target reports beside the batcher's status (a TTL
// index the server refused), or "".
func (t *Target) Note() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.note
}

// setNote records a problem that does not stop the writes: in the node's
// status always, in the log once.
func (t *Target) setNote(note string) {
	t.mu.Lock()
	t.note, t.noteAt = note, time.Now()
	warn := !t.warned
	t.warned = true
	t.mu.Unlock()
	if warn {
		t.log.Warn("mongo sink: " + note)
	}
}

type statuser struct {
	b *batch.Batcher[Item]
	t *Target
}

// Status implements batch.Statuser: the batcher's status, with the
// target's note in LastError.
func (s statuser) Status() batch.Status {
	st := s.b.Status()
	s.t.mu.Lock()
	note, at := s.t.note, s.t.noteAt
	s.t.mu.Unlock()
	switch {
	case note == "":
	case st.LastError == "":
		st.LastError, st.LastErrorAt = note, at
	default:
		st.LastError += "; " + note
	}
	return st
}

// Write implements batch.Writer: one ordered bulk write per run of items
// for the same collection, in order. An insert whose _id the collection
// holds already was written before (a replay) and is skipped. A document
// the server refuses (a write error) is logged and skipped; the rest of
// the batch is written. Every other error retries the whole batch, which
// the inserts' fixed ids and the upserts make idempotent.
func (t *Target) Write(ctx context.Context, items []Item) error {
	client, idx := t.current()
	var refused []string
	for start := 0; start < len(items); {
		end := start + 1
		for end < len(items) && items[end].DB == items[start].DB && items[end].Coll == items[start].Coll {
			end++
		}
		db, name := items[start].DB, items[start].Coll
		coll := client.Database(db).Collection(name)
		if err := t.ensure(ctx, coll, idx); err != nil {
			return fmt.Errorf("mongodb %s.%s: %w", db, name, err)
		}
		r, err := t.writeRun(ctx, coll, items[start:end])
		refused = append(refused, r...)
		if err != nil {
			return fmt.Errorf("mongodb %s.%s: %w", db, name, err)
		}
		start = end
	}
	if len(refused) > 0 && len(refused) == len(items) {
		return batch.Permanent(fmt.Errorf("mongodb refused all %d documents of the batch: %s", len(items), strings.Join(refused, "; ")))
	}
	return nil
}

// writeRun writes items of one collection in order and returns what the
// server refused.
func (t *Target) writeRun(ctx context.Context, coll *mongodrv.Collection, items []Item) ([]string, error) {
	var refused []string
	pending := items
	for len(pending) > 0 {
		models := make([]mongodrv.WriteModel, len(pending))
		for i, it := range pending {
			if it.Op == OpUpsert {
				models[i] = mongodrv.NewReplaceOneModel().SetFilter(bson.Raw(it.Filter)).SetReplacement(bson.Raw(it.Doc)).SetUpsert(true)
			} else {
				models[i] = mongodrv.NewInsertOneModel().SetDocument(bson.Raw(it.Doc))
			}
		}
		_, err := coll.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(true))
		if err == nil {
			return refused, nil
		}
		var bwe mongodrv.BulkWriteException
		if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
			if len(pending) > 1 && refusedCommand(err) {
				// The server refused the whole command: find the document
				// it refuses by writing them one at a time.
				for _, it := range pending {
					r, err := t.writeRun(ctx, coll, []Item{it})
					refused = append(refused, r...)
					if err != nil {
						return refused, err
					}
				}
				return refused, nil
			}
			if len(pending) == 1 && refusedCommand(err) {
				return append(refused, t.refuse(coll, pending[0], err.Error())), nil
			}
			return refused, err
		}
		we := bwe.WriteErrors[0]
		for _, e := range bwe.WriteErrors[1:] {
			if e.Index < we.Index {
				we = e
			}
		}
		if we.Index < 0 || we.Index >= len(pending) || transient(we.Code) {
			return refused, err
		}
		it := pending[we.Index]
		rest := pending[we.Index+1:]
		if it.Op == OpInsert && we.Code == codeDuplicateKey {
			// Written before: a replay. So may the inserts after it be.
			if rest, err = t.unwritten(ctx, coll, rest); err != nil {
				return refused, err
			}
		} else {
			refused = append(refused, t.refuse(coll, it, we.Message))
		}
		pending = rest
	}
	return refused, nil
}

func (t *Target) refuse(coll *mongodrv.Collection, it Item, why string) string {
	id := bson.Raw(it.Doc).Lookup("_id").String()
	if id == "" {
		id = bson.Raw(it.Filter).String()
	}
	msg := fmt.Sprintf("document %s: %s", id, why)
	t.log.Error("mongo sink: the server refused a document: skipped", "db", coll.Database().Name(), "collection", coll.Name(), "document", id, "err", why)
	return msg
}

// unwritten drops the inserts among items whose _id the collection holds.
func (t *Target) unwritten(ctx context.Context, coll *mongodrv.Collection, items []Item) ([]Item, error) {
	var ids bson.A
	for _, it := range items {
		if it.Op == OpInsert {
			ids = append(ids, bson.Raw(it.Doc).Lookup("_id"))
		}
	}
	if len(ids) == 0 {
		return items, nil
	}
	cur, err := coll.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("look for documents written before: %w", err)
	}
	defer cur.Close(ctx)
	there := map[string]bool{}
	for cur.Next(ctx) {
		v := cur.Current.Lookup("_id")
		there[rawKey(v)] = true
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("look for documents written before: %w", err)
	}
	out := items[:0:0]
	for _, it := range items {
		if it.Op == OpInsert && there[rawKey(bson.Raw(it.Doc).Lookup("_id"))] {
			continue
		}
		out = append(out, it)
	}
	return out, nil
}

func rawKey(v bson.RawValue) string { return string(rune(v.Type)) + string(v.Value) }

// ensure creates the indexes of coll once per target (and settings).
func (t *Target) ensure(ctx context.Context, coll *mongodrv.Collection, idx indexes) error {
	key := coll.Database().Name() + "." + coll.Name()
	t.mu.Lock()
	done := t.ensured[key]
	t.mu.Unlock()
	if done || idx.ttl <= 0 && len(idx.unique) == 0 {
		return nil
	}
	// Only the missing ones: FerretDB v1.23 drops the connection when
	// asked to create an index that exists.
	specs, err := coll.Indexes().ListSpecifications(ctx)
	if err != nil {
		return fmt.Errorf("list the indexes: %w", err)
	}
	have := map[string]bool{}
	for _, sp := range specs {
		have[sp.Name] = true
	}
	if idx.ttl > 0 && idx.tsField != "" && !have[ttlIndex] {
		_, err := coll.Indexes().CreateOne(ctx, mongodrv.IndexModel{
			Keys:    bson.D{{Key: idx.tsField, Value: 1}},
			Options: options.Index().SetName(ttlIndex).SetExpireAfterSeconds(int32(min(idx.ttl, 1<<31-1))),
		})
		if err != nil {
			if !refusedCommand(err) {
				return fmt.Errorf("create the TTL index: %w", err)
			}
			t.setNote(fmt.Sprintf("ttl: the server refused the TTL index on %s (field %q, %d s): documents do not expire; writes go on: %v",
				key, idx.tsField, idx.ttl, err))
		}
	}
	if len(idx.unique) > 0 && !have[keyIndex] {
		keys := bson.D{}
		for _, k := range idx.unique {
			keys = append(keys, bson.E{Key: k, Value: 1})
		}
		_, err := coll.Indexes().CreateOne(ctx, mongodrv.IndexModel{Keys: keys, Options: options.Index().SetName(keyIndex).SetUnique(true)})
		if err != nil {
			if !refusedCommand(err) {
				return fmt.Errorf("create the key index: %w", err)
			}
			t.setNote(fmt.Sprintf("key: the server refused a unique index on %s (%s); upserts go on without it: %v",
				key, strings.Join(idx.unique, ", "), err))
		}
	}
	t.mu.Lock()
	if idx.equal(t.idx) {
		t.ensured[key] = true
	}
	t.mu.Unlock()
	return nil
}

// Index names: an index of that name is taken as in place (a changed
// ttl or key on an existing collection keeps the old index; drop it to
// have it made again).
const (
	ttlIndex = "sluice_ttl"
	keyIndex = "sluice_key"
)

// Server error codes.
const codeDuplicateKey = 11000

// transient codes: the server could not do it now, or not for these
// credentials; again later (or after a redeploy with other ones) may work.
var transientCodes = map[int]bool{
	1: true, 6: true, 7: true, 13: true, 18: true, 50: true, 89: true, 91: true, 189: true, 262: true, 9001: true,
	10107: true, 11600: true, 11602: true, 13435: true, 13436: true,
}

func transient(code int) bool { return transientCodes[code] }

// refusedCommand reports whether err is the server's answer refusing a
// command for good (not a network problem, a timeout or a transient
// server state).
func refusedCommand(err error) bool {
	if mongodrv.IsNetworkError(err) || mongodrv.IsTimeout(err) || errors.Is(err, context.Canceled) {
		return false
	}
	var ce mongodrv.CommandError
	if !errors.As(err, &ce) {
		return false
	}
	return !transient(int(ce.Code)) && !ce.HasErrorLabel("RetryableWriteError") && !ce.HasErrorLabel("TransientTransactionError")
}
