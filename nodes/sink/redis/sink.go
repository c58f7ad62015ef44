// Package redis is the Redis sink node: it writes the latest values of
// each device to a hash, appends messages to a stream (XADD with MAXLEN,
// the durable mode), or publishes them to a channel (fire and forget).
// Hash and stream writes go through the shared sink machinery of
// nodes/sink/batch: batched into pipelines, retried with backoff, spooled
// to disk while Redis does not answer, and written idempotently so that a
// replay does not duplicate.
package redis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
	"github.com/sluicehq/sluice/nodes/sink/batch"
)

// Type is the node type.
const Type = "redisSink"

// Modes.
const (
	ModeHash    = "hash"
	ModeStream  = "stream"
	ModePublish = "publish"
)

// Default key (or channel) templates by mode.
var defaultKeys = map[string]string{
	ModeHash:    "sluice:{tenant}:latest:{deviceId}",
	ModeStream:  "sluice:{tenant}:stream:{deviceId}",
	ModePublish: "sluice:{tenant}:telemetry:{deviceId}",
}

// Metadata the node sets on the message it passes on.
const (
	// MetaWrites: the number of hash or stream writes queued.
	MetaWrites = "redisWrites"
	// MetaReceivers: in publish mode, the subscribers that got the message.
	MetaReceivers = "redisReceivers"
	// MetaDryRun is "true" in a test run, where nothing is written;
	// MetaWouldWrite then holds the number of writes (or publishes).
	MetaDryRun     = batch.MetaDryRun
	MetaWouldWrite = batch.MetaWouldWrite
	// MetaReport describes what a test run would have done.
	MetaReport = "redisSink"
)

var meta = batch.Meta{Type: Type, Count: MetaWrites, Report: MetaReport}

func init() { spec.Register(sinkSpec, &Node{}) }

var sinkSpec = &spec.Node{
	Type:     Type,
	Category: "storage",
	Summary:  "Write to Redis: the latest values as a hash per device, a stream (durable), or a channel (fire and forget).",
	Doc: "Three modes:\n\n" +
		"- `hash`: the payload is unified telemetry, `{\"deviceId\", \"ts\", \"signals\": {name: value}}`, or a list of them. " +
		"Each signal becomes a field of the device's hash (`HSET`), so the hash holds the latest value of every signal; " +
		"`tsField` (default `_ts`) holds the time of the last update in Unix milliseconds. Nested objects are stored by " +
		"dotted names, arrays as JSON text, nulls are skipped. Values are the latest to arrive, in arrival order per device.\n" +
		"- `stream`: each message is appended to a stream (`XADD`, trimmed with `MAXLEN ~ maxLen`). A telemetry item becomes " +
		"an entry with the fields `deviceId`, `ts` and `signals` (JSON); any other JSON payload an entry with the field " +
		"`data` (and `deviceId` when the metadata names one). The entry id is the item's time, `<ms>-<seq>`, fixed when " +
		"the message is accepted, so a replay after an outage or a crash finds its entry already there and does not add it again.\n" +
		"- `publish`: the payload (each telemetry item of a list on its own) is published to a channel (`PUBLISH`). " +
		"Publishing is fire and forget by nature: a subscriber that is not connected misses it, and nothing is spooled. " +
		"The message goes on `Failure` when Redis does not answer. The no-loss guarantees below do not apply.\n\n" +
		"`key` is the hash, stream or channel name; `{tenant}`, `{deviceId}`, `{flow}` and `{msgType}` are replaced. " +
		"The device is the payload's `deviceId`, else the metadata `deviceId`; the time is `ts` (Unix milliseconds or " +
		"RFC 3339), else the message's time.\n\n" +
		"In `hash` and `stream` mode the message leaves on `Success` (metadata `redisWrites`) once its writes are in the " +
		"sink's spool on disk: a crash or a restart loses none of them. They are written in batches, one pipeline each " +
		"(`batchSize`, `flushInterval`), in order; while Redis is down they wait in the spool (up to `spoolMaxMB`) and are " +
		"retried with exponential backoff. When the spool is full the message waits or fails, as `whenFull` says: nothing is " +
		"dropped silently. A key that holds another type (`WRONGTYPE`) is refused for good: logged and counted as rejected.\n\n" +
		"In a test run nothing is written: metadata `dryRun` is `\"true\"` and `wouldWrite` holds the number of writes. " +
		"See docs/storage-redis.md.",
	Fields: append([]*spec.Field{
		{Name: "server", Type: spec.String, Required: true, Example: "127.0.0.1:6379",
			Help: "Redis server address, host:port."},
		{Name: "password", Type: spec.Secret, Default: "",
			Help: "Password (AUTH); empty: none."},
		{Name: "db", Type: spec.Int, Default: 0, Min: spec.Num(0), Max: spec.Num(1000), Advanced: true,
			Help: "Database number (SELECT)."},
		{Name: "mode", Type: spec.Enum, Enum: []string{ModeHash, ModeStream, ModePublish}, Default: ModeHash,
			Help: "`hash`: latest values per device; `stream`: append to a stream (durable); `publish`: publish to a channel (fire and forget)."},
		{Name: "key", Type: spec.String, Default: "", Example: "sluice:{tenant}:latest:{deviceId}",
			Help: "Hash, stream or channel name; `{tenant}`, `{deviceId}`, `{flow}` and `{msgType}` are replaced. Empty: `sluice:{tenant}:latest:{deviceId}` (hash), `sluice:{tenant}:stream:{deviceId}` (stream), `sluice:{tenant}:telemetry:{deviceId}` (publish)."},
		{Name: "tsField", Type: spec.String, Default: "_ts", Advanced: true,
			Help: "Hash mode: the field holding the time of the last update (Unix ms); empty: none."},
		{Name: "maxLen", Type: spec.Int, Default: 100000, Min: spec.Num(0), Max: spec.Num(1e12),
			Help: "Stream mode: trim the stream to about this many entries (`MAXLEN ~`); 0 keeps every entry."},
	}, batch.Fields()...),
	Relations: spec.Relations{Fixed: []string{types.Success, types.Failure}},
	Examples: []spec.Example{
		{Title: "Latest values per device", Config: map[string]any{"server": "127.0.0.1:6379"}},
		{Title: "Append to a stream per device, a million entries at most", Config: map[string]any{"server": "redis:6379", "mode": ModeStream, "maxLen": 1000000}},
		{Title: "Publish telemetry to a channel per tenant", Config: map[string]any{"server": "redis:6379", "password": "secret", "mode": ModePublish, "key": "telemetry:{tenant}"}},
	},
}

type config struct {
	Server   string `json:"server"`
	Password string `json:"password"`
	DB       int    `json:"db"`
	Mode     string `json:"mode"`
	Key      string `json:"key"`
	TSField  string `json:"tsField"`
	MaxLen   int64  `json:"maxLen"`
	batch.Config
}

var placeholder = regexp.MustCompile(`\{[^{}]*\}`)

var known = map[string]bool{"{tenant}": true, "{deviceId}": true, "{flow}": true, "{msgType}": true}

// Node is the Redis sink. Its batcher and its client are shared by the
// versions of its flow and joined at the first message, when the node
// knows its flow, tenant and resources.
type Node struct {
	cfg config

	shared batch.Shared[joined]
}

var _ types.Node = (*Node)(nil)

// Type implements types.Node.
func (n *Node) Type() string { return Type }

// New implements types.Node.
func (n *Node) New() types.Node { return &Node{} }

// Init implements types.Node.
func (n *Node) Init(_ types.Config, raw types.Configuration) error {
	return batch.InitConfig(sinkSpec, raw, &n.cfg, n.cfg.settle)
}

// settle checks the config and fills in the mode's default key.
func (c *config) settle() error {
	if strings.TrimSpace(c.Server) == "" {
		return errors.New("server: empty")
	}
	if c.Key == "" {
		c.Key = defaultKeys[c.Mode]
	}
	for _, p := range placeholder.FindAllString(c.Key, -1) {
		if !known[p] {
			return fmt.Errorf("key: unknown placeholder %s (want {tenant}, {deviceId}, {flow} or {msgType})", p)
		}
	}
	return nil
}

func (n *Node) conn() conn { return conn{Addr: n.cfg.Server, Password: n.cfg.Password, DB: n.cfg.DB} }

// OnMsg implements types.Node.
func (n *Node) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	env := meta.Env(ctx, msg)
	if env == nil {
		return
	}
	recs, err := parse(msg, n.cfg.Mode == ModeHash)
	if err != nil {
		meta.Fail(ctx, msg, err)
		return
	}
	keys := make([]string, len(recs))
	for i, r := range recs {
		if keys[i], err = n.key(env, msg, r.device); err != nil {
			meta.Fail(ctx, msg, err)
			return
		}
	}
	if !env.SideEffects {
		meta.TellDryRun(ctx, msg, len(recs), n.describe(keys))
		return
	}
	mctx := batch.MsgContext(ctx)
	j, err := n.join(env, ctx.GetSelfId())
	if err != nil {
		meta.Fail(ctx, msg, err)
		return
	}
	t, b := j.t, j.b
	if n.cfg.Mode == ModePublish {
		payloads := make([]string, len(recs))
		for i, r := range recs {
			payloads[i] = string(r.raw)
		}
		client, _ := t.current()
		got, err := publish(mctx, client, keys, payloads)
		if err != nil {
			meta.Fail(ctx, msg, err)
			return
		}
		msg.Metadata.PutValue(MetaReceivers, strconv.FormatInt(got, 10))
		ctx.TellSuccess(msg)
		return
	}
	items, ms, err := n.items(recs, keys)
	if err != nil {
		meta.Fail(ctx, msg, err)
		return
	}
	if n.cfg.Mode == ModeStream {
		t.idMu.Lock()
		t.assign(items, ms)
		err = b.Accept(mctx, items)
		t.idMu.Unlock()
	} else {
		err = b.Accept(mctx, items)
	}
	meta.TellAccepted(ctx, msg, len(items), err)
}

func (n *Node) describe(keys []string) string {
	seen := map[string]bool{}
	var names []string
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			names = append(names, strconv.Quote(k))
		}
	}
	sort.Strings(names)
	verb := map[string]string{ModeHash: "HSET to hash", ModeStream: "XADD to stream", ModePublish: "PUBLISH to channel"}[n.cfg.Mode]
	return fmt.Sprintf("would %s %s on %s: %d writes (test run: nothing written)", verb, strings.Join(names, ", "), n.cfg.Server, len(keys))
}

// key expands the key template.
func (n *Node) key(env *engine.Env, msg types.RuleMsg, device string) (string, error) {
	tmpl := n.cfg.Key
	if strings.Contains(tmpl, "{deviceId}") && device == "" {
		return "", errors.New("key: {deviceId}: no device: the payload's deviceId and the metadata deviceId are empty")
	}
	return strings.NewReplacer("{tenant}", env.Tenant, "{deviceId}", device, "{flow}", env.FlowID, "{msgType}", msg.Type).Replace(tmpl), nil
}

// items turns records into hash or stream writes; ms are their times.
func (n *Node) items(recs []record, keys []string) ([]Item, []uint64, error) {
	items := make([]Item, len(recs))
	ms := make([]uint64, len(recs))
	for i, r := range recs {
		if r.ts < 0 {
			return nil, nil, fmt.Errorf("ts: %d is before 1970", r.ts)
		}
		ms[i] = uint64(r.ts)
		at := strconv.FormatInt(r.ts, 10)
		switch n.cfg.Mode {
		case ModeHash:
			var fields []string
			if err := flatten(&fields, "", r.signals); err != nil {
				return nil, nil, fmt.Errorf("device %q: %w", r.device, err)
			}
			if n.cfg.TSField != "" {
				fields = append(fields, n.cfg.TSField, at)
			}
			if len(fields) == 0 {
				return nil, nil, fmt.Errorf("device %q: no signals to write", r.device)
			}
			items[i] = Item{Kind: KindHash, Key: keys[i], Fields: fields}
		case ModeStream:
			var fields []string
			if r.signals != nil {
				fields = []string{"deviceId", r.device, "ts", at, "signals", string(r.rawSignals)}
			} else {
				if r.device != "" {
					fields = append(fields, "deviceId", r.device)
				}
				fields = append(fields, "data", string(r.raw))
			}
			items[i] = Item{Kind: KindStream, Key: keys[i], Fields: fields}
		}
	}
	return items, ms, nil
}

// flatten appends name, value pairs of m's signals.
func flatten(out *[]string, prefix string, m map[string]any) error {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		name := prefix + k
		if k == "" {
			return fmt.Errorf("signal %q: an empty name", prefix)
		}
		switch x := m[k].(type) {
		case nil:
		case map[string]any:
			if err := flatten(out, name+".", x); err != nil {
				return err
			}
		case string:
			*out = append(*out, name, x)
		case json.Number:
			*out = append(*out, name, x.String())
		case bool:
			*out = append(*out, name, strconv.FormatBool(x))
		default:
			b, err := json.Marshal(x)
			if err != nil {
				return fmt.Errorf("signal %q: %w", name, err)
			}
			*out = append(*out, name, string(b))
		}
	}
	return nil
}

// joined is what a node instance shares with the other versions of its
// flow: the client and, in hash and stream mode, the batcher.
type joined struct {
	t *Target
	b *batch.Batcher[Item]
}

// join joins the node's shared target and (hash, stream) batcher once
// per node instance.
func (n *Node) join(env *engine.Env, nodeID string) (joined, error) {
	return n.shared.Join(func() (joined, []func() error, error) {
		if env.Resources == nil {
			return joined{}, nil, errors.New("no engine resources: the sink runs only inside a Sluice engine")
		}
		ref := batch.RefOf(env, nodeID, Type)
		log := batch.LoggerOf(env)
		c, maxLen := n.conn(), n.cfg.MaxLen
		t, releaseT, err := batch.AcquireTarget(env.Resources, ref, "redis", func() (*Target, func() error, error) {
			t := newTarget(c, maxLen, log.With("sink", ref.String()))
			return t, t.close, nil
		}, func(t *Target) error { t.retune(c, maxLen); return nil })
		if err != nil {
			return joined{}, nil, err
		}
		if n.cfg.Mode == ModePublish {
			return joined{t: t}, []func() error{releaseT}, nil
		}
		opts, err := n.cfg.SinkOptions(env.Resources, ref, log)
		if err != nil {
			_ = releaseT()
			return joined{}, nil, err
		}
		b, releaseB, err := batch.AcquireWriter[Item](env.Resources, ref, opts, t, Codec{})
		if err != nil {
			_ = releaseT()
			return joined{}, nil, err
		}
		// The batcher goes first: its last write needs the client.
		return joined{t: t, b: b}, []func() error{releaseB, releaseT}, nil
	})
}

// Destroy implements types.Node: it leaves the shared batcher and client;
// the last version of the flow to leave closes them (the batcher's queue
// stays in the spool).
func (n *Node) Destroy() { n.shared.Leave() }

// record is one item of the payload.
type record struct {
	device     string
	ts         int64
	signals    map[string]any // nil: not telemetry
	rawSignals json.RawMessage
	raw        []byte // the item's JSON, compacted
}

type telemetry struct {
	DeviceID string          `json:"deviceId"`
	TS       json.RawMessage `json:"ts"`
	Signals  json.RawMessage `json:"signals"`
}

var errNotTelemetry = errors.New(`want unified telemetry {"deviceId","ts","signals":{name: value}} or a list of them`)

// parse reads the payload: unified telemetry or a list of it (one record
// each), else (unless telemetry is required) any JSON as one record.
func parse(msg types.RuleMsg, needTelemetry bool) ([]record, error) {
	data := bytes.TrimSpace([]byte(msg.Data))
	metaDevice := msg.Metadata.GetValue(engine.MetaDeviceID)
	if len(data) == 0 || !json.Valid(data) {
		if needTelemetry {
			return nil, fmt.Errorf("%w, got %.40q", errNotTelemetry, data)
		}
		return nil, fmt.Errorf("want a JSON payload, got %.40q", data)
	}
	var raws []json.RawMessage
	if data[0] == '[' {
		if err := json.Unmarshal(data, &raws); err != nil {
			return nil, err
		}
	} else {
		raws = []json.RawMessage{data}
	}
	recs := make([]record, 0, len(raws))
	for i, raw := range raws {
		r, ok, err := telemetryOf(raw, metaDevice, msg.Ts)
		if err != nil {
			if len(raws) > 1 {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			return nil, err
		}
		if !ok {
			if needTelemetry {
				if len(raws) > 1 {
					return nil, fmt.Errorf("item %d: %w", i, errNotTelemetry)
				}
				return nil, errNotTelemetry
			}
			// Any JSON: the whole payload is one record.
			var buf bytes.Buffer
			_ = json.Compact(&buf, data)
			at, _ := batch.TimeOf(nil, msg.Ts)
			return []record{{device: metaDevice, ts: at, raw: buf.Bytes()}}, nil
		}
		recs = append(recs, r)
	}
	if len(recs) == 0 && needTelemetry {
		return nil, fmt.Errorf("%w, got an empty list", errNotTelemetry)
	}
	return recs, nil
}

// telemetryOf reads raw as telemetry; ok is false when it is not.
func telemetryOf(raw json.RawMessage, metaDevice string, msgTS int64) (record, bool, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return record{}, false, nil
	}
	var t telemetry
	if err := json.Unmarshal(raw, &t); err != nil {
		return record{}, false, nil
	}
	sig := bytes.TrimSpace(t.Signals)
	if len(sig) == 0 || sig[0] != '{' {
		return record{}, false, nil
	}
	dec := json.NewDecoder(bytes.NewReader(sig))
	dec.UseNumber()
	var signals map[string]any
	if err := dec.Decode(&signals); err != nil {
		return record{}, false, err
	}
	r := record{device: t.DeviceID, signals: signals}
	if r.device == "" {
		r.device = metaDevice
	}
	var err error
	if r.ts, err = batch.TimeOf(t.TS, msgTS); err != nil {
		return record{}, false, err
	}
	var buf bytes.Buffer
	_ = json.Compact(&buf, sig)
	r.rawSignals = append(json.RawMessage(nil), buf.Bytes()...)
	buf.Reset()
	_ = json.Compact(&buf, raw)
	r.raw = buf.Bytes()
	return r, true, nil
}
