// Package mongo is the MongoDB sink node: it writes messages (alarms,
// statistics, telemetry, raw messages) as documents into a collection of a
// database per tenant, inserting them with an _id fixed from the message
// or upserting them by a key, through the shared sink machinery of
// nodes/sink/batch: batched into ordered bulk writes, retried with
// backoff, spooled to disk while the server does not answer, and written
// idempotently so that a replay does not duplicate.
package mongo

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rulego/rulego/api/types"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
	"github.com/sluicehq/sluice/nodes/sink/batch"
)

// Type is the node type.
const Type = "mongoSink"

// Upsert modes.
const (
	// ByID: the key's values form the document's _id.
	ByID = "id"
	// ByFilter: the key's fields are the filter; the server picks the _id
	// of a new document.
	ByFilter = "filter"
)

// Metadata the node sets on the message it passes on.
const (
	// MetaWrites: the number of documents queued.
	MetaWrites = "mongoWrites"
	// MetaDryRun is "true" in a test run, where nothing is written;
	// MetaWouldWrite then holds the number of documents.
	MetaDryRun     = batch.MetaDryRun
	MetaWouldWrite = batch.MetaWouldWrite
	// MetaReport describes what a test run would have done.
	MetaReport = "mongoSink"
)

var meta = batch.Meta{Type: Type, Count: MetaWrites, Report: MetaReport}

// MaxDocBytes is the largest document MongoDB stores.
const MaxDocBytes = 16 << 20

func init() { spec.Register(sinkSpec, &Node{}) }

var sinkSpec = &spec.Node{
	Type:     Type,
	Category: "storage",
	Summary:  "Write messages (alarms, statistics, telemetry, raw messages) as documents into a MongoDB collection, a database per tenant: insert or upsert by key, batched, retried, spooled to disk while the server is down.",
	Doc: "Each message gives one document (a JSON object payload) or several (a JSON array of objects): the payload's fields, " +
		"in order, plus `deviceId` (from the metadata, when the payload has none), `tsField` (default `_ts`: the item's time as a " +
		"BSON date, from the payload's `ts` in Unix milliseconds or RFC 3339, else the message's time) and `metaField` (default " +
		"`_meta`: the message type, flow, node, tenant, message id and metadata). With `payloadField` set, the whole payload (any " +
		"JSON, or the text of a payload that is not JSON) goes under that field instead. JSON integers are stored as 64-bit " +
		"integers, other numbers as doubles. A field name that starts with `$` or contains `.` fails the message, as does a " +
		"document over 16 MiB.\n\n" +
		"Without `key` a document is inserted with an _id fixed from the message (an ObjectId made of the item's time and a hash of " +
		"the message id, the item's index and the document), so a replay after an outage or a crash finds it there and does not " +
		"insert it again. With `key` (fields of the document as written, dotted paths into nested objects; a payload `_id` is a key of its own) the " +
		"document replaces the one with the same key, or is inserted: `upsertBy` `id` makes the key's value (a document of the " +
		"values of several fields) the _id; `filter` matches the key fields, and the sink keeps a unique index on them.\n\n" +
		"`database` and `collection` are templates: `{tenant}`, `{flow}` (and, in the collection, `{deviceId}` and `{msgType}`) " +
		"are replaced. The database must contain `{tenant}` (the default is `sluice_{tenant}`), so that a flow writes only into its own " +
		"tenant's database, even when tenants share one server.\n\n" +
		"`ttl` keeps a TTL index on `tsField` so that the server deletes documents that many seconds after their time. A server " +
		"that refuses TTL indexes (FerretDB, which Sluice is tested against, does) is reported once in the log and in the node's " +
		"status (`lastError`), and the writes go on: the documents do not expire.\n\n" +
		"The message leaves on `Success` (metadata `mongoWrites`) once its documents are in the sink's spool on disk: a crash " +
		"or a restart loses none of them. They are written in batches, one ordered bulk write per collection (`batchSize`, " +
		"`flushInterval`), in order; while the server is down they wait in the spool (up to `spoolMaxMB`) and are retried with " +
		"exponential backoff. When the spool is full the message waits or fails, as `whenFull` says: nothing is dropped " +
		"silently. A document the server refuses for good is logged and skipped; the rest of its batch is written.\n\n" +
		"In a test run nothing is written and no connection is made: metadata `dryRun` is `\"true\"` and `wouldWrite` holds the " +
		"number of documents. See docs/storage-mongodb.md.",
	Fields: append([]*spec.Field{
		{Name: "uri", Label: "URI", Type: spec.Secret, Required: true, Example: "mongodb://sluice:secret@mongo:27017/?authSource=admin",
			Help: "MongoDB connection string (`mongodb://` or `mongodb+srv://`)."},
		{Name: "database", Type: spec.String, Default: "sluice_{tenant}", Example: "plant_{tenant}",
			Help: "Database; `{tenant}` and `{flow}` are replaced. It must contain `{tenant}`, so that each tenant writes into a database of its own."},
		{Name: "collection", Type: spec.String, Default: "messages", Example: "alarms",
			Help: "Collection; `{tenant}`, `{flow}`, `{deviceId}` and `{msgType}` are replaced."},
		{Name: "key", Type: spec.List, Item: &spec.Field{Type: spec.String, Help: "A field of the document (a dotted path)."}, Default: []any{},
			Example: []any{"alarmId"},
			Help:    "Upsert by these fields: the document replaces the one with the same key. Empty: insert, with an _id fixed from the message so that a replay does not duplicate."},
		{Name: "upsertBy", Type: spec.Enum, Enum: []string{ByID, ByFilter}, Default: ByID, Advanced: true,
			Help: "With `key`: `id` makes the key the document's _id; `filter` matches the key fields (under a unique index the sink creates) and lets the server pick the _id."},
		{Name: "payloadField", Type: spec.String, Default: "", Example: "data",
			Help: "Empty: the payload object's fields are the document's. A name: the whole payload (any JSON, or text) goes under that field."},
		{Name: "tsField", Type: spec.String, Default: "_ts", Advanced: true,
			Help: "Field holding the item's time as a date (for time queries and `ttl`); empty: none."},
		{Name: "metaField", Type: spec.String, Default: "_meta", Advanced: true,
			Help: "Field holding the message type, flow, node, tenant, message id and metadata; empty: none."},
		{Name: "ttl", Label: "TTL", Type: spec.Int, Default: 0, Min: spec.Num(0), Max: spec.Num(1<<31 - 1),
			Help: "Seconds after their time (`tsField`) that documents expire, through a TTL index; 0: never. FerretDB refuses TTL indexes: the node says so in its status and writes on."},
	}, batch.Fields()...),
	Relations: spec.Relations{Fixed: []string{types.Success, types.Failure}},
	Examples: []spec.Example{
		{Title: "Raw messages into a database per tenant", Config: map[string]any{"uri": "mongodb://mongo:27017"}},
		{Title: "Alarm events: the latest state of each alarm, kept 90 days", Config: map[string]any{
			"uri": "mongodb://sluice:secret@mongo:27017/?authSource=admin", "collection": "alarms", "key": []any{"alarmId"}, "ttl": 7776000}},
		{Title: "Statistics results, one document per job and window", Config: map[string]any{
			"uri": "mongodb://mongo:27017", "collection": "stats", "key": []any{"job", "window.from"}}},
		{Title: "Any payload, text included, under a field", Config: map[string]any{
			"uri": "mongodb://mongo:27017", "collection": "raw_{msgType}", "payloadField": "data"}},
	},
}

type config struct {
	URI          string   `json:"uri"`
	Database     string   `json:"database"`
	Collection   string   `json:"collection"`
	Key          []string `json:"key"`
	UpsertBy     string   `json:"upsertBy"`
	PayloadField string   `json:"payloadField"`
	TSField      string   `json:"tsField"`
	MetaField    string   `json:"metaField"`
	TTL          int64    `json:"ttl"`
	batch.Config
}

var placeholder = regexp.MustCompile(`\{[^{}]*\}`)

func (c *config) check() error {
	if strings.TrimSpace(c.URI) == "" {
		return errors.New("uri: empty")
	}
	if err := checkURI(c.URI); err != nil {
		return fmt.Errorf("uri: %w", err)
	}
	for _, t := range []struct {
		field, tmpl string
		known       []string
	}{
		{"database", c.Database, []string{"{tenant}", "{flow}"}},
		{"collection", c.Collection, []string{"{tenant}", "{flow}", "{deviceId}", "{msgType}"}},
	} {
		if strings.TrimSpace(t.tmpl) == "" {
			return fmt.Errorf("%s: empty", t.field)
		}
		for _, p := range placeholder.FindAllString(t.tmpl, -1) {
			if !contains(t.known, p) {
				return fmt.Errorf("%s: unknown placeholder %s (want %s)", t.field, p, strings.Join(t.known, ", "))
			}
		}
		// The fixed parts must be valid already.
		fixed := placeholder.ReplaceAllString(t.tmpl, "x")
		check := checkCollection
		if t.field == "database" {
			check = checkDatabase
		}
		if err := check(fixed); err != nil {
			return fmt.Errorf("%s: %w", t.field, err)
		}
	}
	// One URI may serve every tenant: a database without the tenant in
	// its name would let a flow of one tenant write into another's (or
	// into the system records).
	if !strings.Contains(c.Database, "{tenant}") {
		return fmt.Errorf("database: %q lacks {tenant}: the database must be the flow tenant's own (for example sluice_{tenant} or plant_{tenant})", c.Database)
	}
	for i, k := range c.Key {
		if k == "" || strings.HasPrefix(k, "$") || strings.HasPrefix(k, ".") || strings.HasSuffix(k, ".") || strings.Contains(k, "..") {
			return fmt.Errorf("key[%d]: %q is not a field path", i, k)
		}
		for _, o := range c.Key[:i] {
			if o == k {
				return fmt.Errorf("key[%d]: %q is listed twice", i, k)
			}
		}
	}
	if c.UpsertBy == ByFilter && contains(c.Key, "_id") {
		return errors.New(`key: "_id" is the document's id: use upsertBy "id"`)
	}
	for _, f := range []struct{ name, v string }{{"payloadField", c.PayloadField}, {"tsField", c.TSField}, {"metaField", c.MetaField}} {
		if f.v != "" {
			if err := checkName(f.v); err != nil {
				return fmt.Errorf("%s: %w", f.name, err)
			}
			if f.v == "_id" {
				return fmt.Errorf("%s: _id is the document's id", f.name)
			}
		}
	}
	if c.TSField != "" && c.TSField == c.MetaField {
		return errors.New("metaField: the same field as tsField")
	}
	if c.TTL > 0 && c.TSField == "" {
		return errors.New("ttl: needs tsField, the field the documents expire by")
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkDatabase checks a MongoDB database name.
func checkDatabase(name string) error {
	switch {
	case name == "":
		return errors.New("empty database name")
	case len(name) > 63:
		return fmt.Errorf("database name %q: longer than 63 bytes", name)
	case strings.ContainsAny(name, "/\\. \"$*<>:|?\x00"):
		return fmt.Errorf(`database name %q: must not contain / \ . space " $ * < > : | ? or NUL`, name)
	}
	return nil
}

// checkCollection checks a MongoDB collection name.
func checkCollection(name string) error {
	switch {
	case name == "":
		return errors.New("empty collection name")
	case len(name) > 200:
		return fmt.Errorf("collection name %q: longer than 200 bytes", name)
	case strings.ContainsAny(name, "$\x00"):
		return fmt.Errorf("collection name %q: must not contain $ or NUL", name)
	case strings.HasPrefix(name, "system."):
		return fmt.Errorf("collection name %q: system. is reserved", name)
	case strings.HasPrefix(name, ".") || strings.HasSuffix(name, "."):
		return fmt.Errorf("collection name %q: must not start or end with .", name)
	}
	return nil
}

// metaName is a metadata key as a field name: "." and a leading "$"
// become "_".
func metaName(k string) string {
	k = strings.NewReplacer(".", "_", "\x00", "_").Replace(k)
	if strings.HasPrefix(k, "$") {
		k = "_" + k[1:]
	}
	return k
}

// checkName checks a field name the server stores.
func checkName(name string) error {
	switch {
	case strings.HasPrefix(name, "$"):
		return fmt.Errorf("field name %q: must not start with $", name)
	case strings.Contains(name, "."):
		return fmt.Errorf("field name %q: must not contain . (FerretDB and older MongoDB servers refuse it)", name)
	case strings.Contains(name, "\x00"):
		return fmt.Errorf("field name %q: must not contain NUL", name)
	}
	return nil
}

func (c *config) indexes() indexes {
	idx := indexes{}
	if c.TTL > 0 {
		idx.tsField, idx.ttl = c.TSField, c.TTL
	}
	if len(c.Key) > 0 && c.UpsertBy == ByFilter {
		idx.unique = append([]string(nil), c.Key...)
	}
	return idx
}

// Node is the MongoDB sink. Its batcher and its client are shared by the
// versions of its flow and joined at the first message, when the node
// knows its flow, tenant and resources.
type Node struct {
	cfg config
	// docLimit is MaxDocBytes (tests lower it).
	docLimit int

	shared batch.Shared[*batch.Batcher[Item]]
}

var _ types.Node = (*Node)(nil)

// Type implements types.Node.
func (n *Node) Type() string { return Type }

// New implements types.Node.
func (n *Node) New() types.Node { return &Node{} }

// Init implements types.Node.
func (n *Node) Init(_ types.Config, raw types.Configuration) error {
	if err := batch.InitConfig(sinkSpec, raw, &n.cfg, n.cfg.check); err != nil {
		return err
	}
	n.docLimit = MaxDocBytes
	return nil
}

// OnMsg implements types.Node.
func (n *Node) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	batch.Deliver(ctx, msg, meta, batch.Steps[Item]{Items: n.items, Report: n.describe, Join: n.join})
}

func (n *Node) describe(items []Item) string {
	seen := map[string]bool{}
	var names []string
	for _, it := range items {
		if k := it.DB + "." + it.Coll; !seen[k] {
			seen[k] = true
			names = append(names, strconv.Quote(k))
		}
	}
	sort.Strings(names)
	verb := "insert"
	if len(items) > 0 && items[0].Op == OpUpsert {
		verb = "upsert"
	}
	return fmt.Sprintf("would %s %d documents into %s (test run: nothing written)", verb, len(items), strings.Join(names, ", "))
}

// join joins the node's shared target and batcher once per node instance.
func (n *Node) join(env *engine.Env, nodeID string) (*batch.Batcher[Item], error) {
	return n.shared.Join(func() (*batch.Batcher[Item], []func() error, error) {
		if env.Resources == nil {
			return nil, nil, errors.New("no engine resources: the sink runs only inside a Sluice engine")
		}
		ref := batch.RefOf(env, nodeID, Type)
		log := batch.LoggerOf(env)
		opts, err := n.cfg.SinkOptions(env.Resources, ref, log)
		if err != nil {
			return nil, nil, err
		}
		reg, _ := engine.Provided[*batch.Registry](env.Resources, batch.RegistryKey, "the sink registry")
		uri, idx := n.cfg.URI, n.cfg.indexes()
		t, releaseT, err := batch.AcquireTarget(env.Resources, ref, "mongo", func() (*Target, func() error, error) {
			t, err := newTarget(uri, idx, log.With("sink", ref.String()))
			if err != nil {
				return nil, nil, err
			}
			return t, t.close, nil
		}, func(t *Target) error { return t.retune(uri, idx) })
		if err != nil {
			return nil, nil, err
		}
		b, releaseB, err := batch.AcquireWriter[Item](env.Resources, ref, opts, t, Codec{})
		if err != nil {
			_ = releaseT()
			return nil, nil, err
		}
		t.attach(reg, ref, b)
		// The batcher goes first: its last write needs the client.
		return b, []func() error{releaseB, releaseT}, nil
	})
}

// Destroy implements types.Node: it leaves the shared batcher and client;
// the last version of the flow to leave closes them (the batcher's queue
// stays in the spool).
func (n *Node) Destroy() { n.shared.Leave() }

// items turns the message into document writes.
func (n *Node) items(env *engine.Env, nodeID string, msg types.RuleMsg) ([]Item, error) {
	data := bytes.TrimSpace([]byte(msg.Data))
	metaDevice := msg.Metadata.GetValue(engine.MetaDeviceID)
	var docs []bson.D
	if n.cfg.PayloadField != "" {
		var v any = msg.Data
		if len(data) > 0 && json.Valid(data) {
			var err error
			if v, err = decodeJSON(data); err != nil {
				return nil, fmt.Errorf("payload: %w", err)
			}
			if err := checkNames(v, n.cfg.PayloadField); err != nil {
				return nil, fmt.Errorf("payload: %w", err)
			}
		}
		docs = []bson.D{{{Key: n.cfg.PayloadField, Value: v}}}
	} else {
		if len(data) == 0 || (data[0] != '{' && data[0] != '[') || !json.Valid(data) {
			return nil, fmt.Errorf("payload: want a JSON object or a list of them (or set payloadField to store any payload under a field), got %.40q", data)
		}
		v, err := decodeJSON(data)
		if err != nil {
			return nil, fmt.Errorf("payload: %w", err)
		}
		switch x := v.(type) {
		case bson.D:
			docs = []bson.D{x}
		case bson.A:
			if len(x) == 0 {
				return nil, errors.New("payload: an empty list: no documents to write")
			}
			for i, e := range x {
				d, ok := e.(bson.D)
				if !ok {
					return nil, fmt.Errorf("payload: item %d: want a JSON object, got %s", i, jsonKind(e))
				}
				docs = append(docs, d)
			}
		}
		for i, d := range docs {
			if err := checkNames(d, ""); err != nil {
				if len(docs) > 1 {
					return nil, fmt.Errorf("payload: item %d: %w", i, err)
				}
				return nil, fmt.Errorf("payload: %w", err)
			}
		}
	}
	items := make([]Item, 0, len(docs))
	for i, d := range docs {
		it, err := n.item(env, nodeID, msg, metaDevice, i, d)
		if err != nil {
			if len(docs) > 1 {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			return nil, err
		}
		items = append(items, it)
	}
	return items, nil
}

// item completes one document and makes its write.
func (n *Node) item(env *engine.Env, nodeID string, msg types.RuleMsg, metaDevice string, index int, d bson.D) (Item, error) {
	// The fields the payload gives: the device and the time.
	src := d
	if n.cfg.PayloadField != "" {
		src, _ = d[0].Value.(bson.D)
	}
	device, _ := lookup(src, "deviceId").(string)
	if device == "" {
		device = metaDevice
	}
	if _, ok := lookupOK(d, "deviceId"); !ok && device != "" {
		d = set(d, "deviceId", device)
	}
	var tsRaw json.RawMessage
	if v := lookup(src, "ts"); v != nil {
		tsRaw, _ = json.Marshal(v)
	}
	at, err := batch.TimeOf(tsRaw, msg.Ts)
	if err != nil {
		return Item{}, err
	}
	if n.cfg.TSField != "" {
		d = set(d, n.cfg.TSField, primitive.NewDateTimeFromTime(time.UnixMilli(at)))
	}
	if n.cfg.MetaField != "" {
		md := bson.D{}
		keys := make([]string, 0, len(msg.Metadata))
		for k := range msg.Metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			md = append(md, bson.E{Key: metaName(k), Value: msg.Metadata[k]})
		}
		d = set(d, n.cfg.MetaField, bson.D{
			{Key: "type", Value: msg.Type}, {Key: "flow", Value: env.FlowID}, {Key: "node", Value: nodeID},
			{Key: "tenant", Value: env.Tenant}, {Key: "msgId", Value: msg.Id}, {Key: "metadata", Value: md},
		})
	}

	if env.Tenant == "" {
		return Item{}, errors.New("database: the flow has no tenant: the database would not be a tenant's own")
	}
	dbName := strings.NewReplacer("{tenant}", env.Tenant, "{flow}", env.FlowID).Replace(n.cfg.Database)
	if err := checkDatabase(dbName); err != nil {
		return Item{}, fmt.Errorf("database: %w", err)
	}
	if strings.Contains(n.cfg.Collection, "{deviceId}") && device == "" {
		return Item{}, errors.New("collection: {deviceId}: no device: the payload's deviceId and the metadata deviceId are empty")
	}
	collName := strings.NewReplacer("{tenant}", env.Tenant, "{flow}", env.FlowID, "{deviceId}", device, "{msgType}", msg.Type).Replace(n.cfg.Collection)
	if err := checkCollection(collName); err != nil {
		return Item{}, fmt.Errorf("collection: %w", err)
	}
	it := Item{DB: dbName, Coll: collName, Op: OpInsert}

	keys := n.cfg.Key
	upsertBy := n.cfg.UpsertBy
	if len(keys) == 0 && lookup(d, "_id") != nil {
		keys, upsertBy = []string{"_id"}, ByID // the payload names its document
	}
	switch {
	case len(keys) == 0:
		id, err := fixedID(msg.Id, index, at, d)
		if err != nil {
			return Item{}, err
		}
		d = append(bson.D{{Key: "_id", Value: id}}, del(d, "_id")...)
	default:
		it.Op = OpUpsert
		vals := make([]any, len(keys))
		for i, k := range keys {
			v, ok := lookupOK(d, k)
			switch {
			case !ok:
				return Item{}, fmt.Errorf("key %q: not in the document", k)
			case v == nil:
				return Item{}, fmt.Errorf("key %q: null", k)
			}
			if _, isArray := v.(bson.A); isArray {
				return Item{}, fmt.Errorf("key %q: a list cannot be a key", k)
			}
			vals[i] = v
		}
		var filter bson.D
		if upsertBy == ByFilter {
			for i, k := range keys {
				filter = append(filter, bson.E{Key: k, Value: vals[i]})
			}
			d = del(d, "_id")
		} else {
			var id any = vals[0]
			if len(keys) > 1 {
				idDoc := bson.D{}
				for i, k := range keys {
					idDoc = append(idDoc, bson.E{Key: strings.ReplaceAll(k, ".", "_"), Value: vals[i]})
				}
				id = idDoc
			}
			filter = bson.D{{Key: "_id", Value: id}}
			d = append(bson.D{{Key: "_id", Value: id}}, del(d, "_id")...)
		}
		if it.Filter, err = bson.Marshal(filter); err != nil {
			return Item{}, fmt.Errorf("key: %w", err)
		}
	}
	if it.Doc, err = bson.Marshal(d); err != nil {
		return Item{}, fmt.Errorf("document: %w", err)
	}
	if len(it.Doc) > n.docLimit {
		return Item{}, fmt.Errorf("document: %d bytes: larger than MongoDB's limit of %d bytes", len(it.Doc), n.docLimit)
	}
	return it, nil
}

// fixedID is the _id of an inserted document: an ObjectId of the item's
// time (seconds) and 8 bytes of a hash of the message id, the item's index
// and the document, so that the ids sort by time and a replay of the same
// item has the same id.
func fixedID(msgID string, index int, ms int64, d bson.D) (primitive.ObjectID, error) {
	body, err := bson.Marshal(d)
	if err != nil {
		return primitive.ObjectID{}, fmt.Errorf("document: %w", err)
	}
	h := sha256.New()
	_, _ = io.WriteString(h, msgID)
	_ = binary.Write(h, binary.LittleEndian, int64(index))
	_, _ = h.Write(body)
	sum := h.Sum(nil)
	var id primitive.ObjectID
	binary.BigEndian.PutUint32(id[:4], uint32(max(ms, 0)/1000))
	copy(id[4:], sum[:8])
	return id, nil
}

// decodeJSON decodes JSON keeping the order of object fields: objects
// become bson.D (a repeated name keeps its last value), arrays bson.A,
// integers int64, other numbers float64.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := readJSON(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

func readJSON(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch x := tok.(type) {
	case json.Delim:
		switch x {
		case '{':
			d := bson.D{}
			at := map[string]int{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := readJSON(dec)
				if err != nil {
					return nil, err
				}
				if i, ok := at[k]; ok {
					d[i].Value = v
					continue
				}
				at[k] = len(d)
				d = append(d, bson.E{Key: k, Value: v})
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return d, nil
		case '[':
			a := bson.A{}
			for dec.More() {
				v, err := readJSON(dec)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return a, nil
		}
		return nil, fmt.Errorf("unexpected %v", x)
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		f, err := x.Float64()
		if err != nil {
			return nil, fmt.Errorf("number %s: %w", x, err)
		}
		return f, nil
	default: // string, bool, nil
		return x, nil
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bson.A:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	default:
		return "a number"
	}
}

// checkNames checks every field name in v; path names where v is.
func checkNames(v any, path string) error {
	switch x := v.(type) {
	case bson.D:
		for _, e := range x {
			p := e.Key
			if path != "" {
				p = path + "." + e.Key
			}
			if err := checkName(e.Key); err != nil {
				return fmt.Errorf("field %q: %w", p, err)
			}
			if err := checkNames(e.Value, p); err != nil {
				return err
			}
		}
	case bson.A:
		for i, e := range x {
			if err := checkNames(e, path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
	}
	return nil
}

// lookup returns the value at a dotted path of d, or nil.
func lookup(d bson.D, path string) any {
	v, _ := lookupOK(d, path)
	return v
}

func lookupOK(d bson.D, path string) (any, bool) {
	var cur any = d
	for _, p := range strings.Split(path, ".") {
		doc, ok := cur.(bson.D)
		if !ok {
			return nil, false
		}
		found := false
		for _, e := range doc {
			if e.Key == p {
				cur, found = e.Value, true
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	return cur, true
}

// set sets a top-level field of d, in place of an earlier value.
func set(d bson.D, key string, v any) bson.D {
	for i := range d {
		if d[i].Key == key {
			d[i].Value = v
			return d
		}
	}
	return append(d, bson.E{Key: key, Value: v})
}

// del removes a top-level field of d.
func del(d bson.D, key string) bson.D {
	out := d[:0:0]
	for _, e := range d {
		if e.Key != key {
			out = append(out, e)
		}
	}
	return out
}
