// Package sql is the SQL sink node: it writes rows mapped from message
// fields into a PostgreSQL (jackc/pgx) or MySQL/MariaDB
// (go-sql-driver/mysql) table, insert or upsert, with prepared statements
// and one transaction per batch, through the shared sink machinery of
// nodes/sink/batch: batched, retried with backoff, spooled to disk while
// the server is unreachable.
package sql

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
	"github.com/sluicehq/sluice/nodes/sink/batch"
)

// Type is the node type.
const Type = "sqlSink"

// Metadata the node sets on the message it passes on.
const (
	MetaRows       = "rows"
	MetaDryRun     = batch.MetaDryRun
	MetaWouldWrite = batch.MetaWouldWrite
	MetaReport     = "sqlSink"
)

var meta = batch.Meta{Type: Type, Count: MetaRows, Report: MetaReport}

func init() { spec.Register(sinkSpec, &Node{}) }

var sinkSpec = &spec.Node{
	Type:     Type,
	Category: "storage",
	Summary:  "Insert or upsert rows mapped from message fields into a PostgreSQL or MySQL/MariaDB table: batched transactions, retried, spooled to disk while the server is down.",
	Doc: "Each message gives one row (a JSON object payload) or several (a JSON array of objects). `columns` maps each column " +
		"to where its value comes from: `msg.path.to.field` (a dotted path into the payload object), `metadata.name`, `ts` " +
		"(the payload's `ts`, Unix milliseconds or RFC 3339, else the message's time) or `deviceId` (the payload's `deviceId`, " +
		"else the metadata `deviceId`). A missing value is NULL. `type` converts the value (`auto` keeps strings, numbers and " +
		"booleans as they are, and writes objects and arrays as JSON text; `ts` is a timestamp); a value that does not convert " +
		"fails the message.\n\n" +
		"`mode` `insert` writes `INSERT`; `upsert` writes `INSERT ... ON CONFLICT (keys) DO UPDATE` on PostgreSQL and " +
		"`INSERT ... ON DUPLICATE KEY UPDATE` on MySQL/MariaDB: the `keys` columns must carry a primary key or unique index. " +
		"Upsert makes a replay (after an outage or a crash) idempotent; plain insert may write a row twice then, unless a " +
		"unique index refuses it. Statements are prepared once per connection; each batch is one transaction, rows in order.\n\n" +
		"The message leaves on `Success` (metadata `rows`) once its rows are in the sink's spool on disk. A failed write is " +
		"retried with exponential backoff (also when the table does not exist yet); a row the database refuses for good (a " +
		"constraint, a value out of range) is logged and skipped, the rest of its batch is written. When the spool is full " +
		"the message waits or fails, as `whenFull` says: nothing is dropped silently.\n\n" +
		"In a test run nothing is written and no connection is made: metadata `dryRun` is `\"true\"`, `wouldWrite` holds the " +
		"number of rows and `sqlSink` the statement. See docs/storage-sql.md.",
	Fields: append([]*spec.Field{
		{Name: "driver", Type: spec.Enum, Enum: []string{Postgres, MySQL}, Default: Postgres,
			Help: "`postgres` (PostgreSQL, jackc/pgx) or `mysql` (MySQL and MariaDB, go-sql-driver/mysql)."},
		{Name: "dsn", Label: "DSN", Type: spec.Secret, Required: true, Example: "postgres://sluice:secret@db:5432/plant?sslmode=disable",
			Help: "Connection string: a PostgreSQL URL or keyword string; for MySQL `user:password@tcp(host:3306)/db`."},
		{Name: "table", Type: spec.String, Required: true, Example: "readings",
			Help: "Table to write, `name` or `schema.name` (letters, digits, `_`, `$`)."},
		{Name: "mode", Type: spec.Enum, Enum: []string{ModeInsert, ModeUpsert}, Default: ModeInsert,
			Help: "`insert`, or `upsert`: update the row with the same `keys` (idempotent)."},
		{Name: "keys", Type: spec.List, Item: &spec.Field{Type: spec.String, Help: "A column name."}, Default: []any{},
			Example: []any{"device", "seq"},
			Help:    "Upsert: the columns of the primary key or unique index that identifies a row. Each must be a mapped column."},
		{Name: "columns", Type: spec.List, Required: true, Min: spec.Num(1), Max: spec.Num(1000),
			Help: "The column mapping, one entry per column written.",
			Fields: []*spec.Field{
				{Name: "column", Type: spec.String, Required: true, Help: "Column name."},
				{Name: "from", Type: spec.String, Required: true, Example: "msg.signals.temperature",
					Help: "`msg.path` (dotted path into the payload), `metadata.name`, `ts` or `deviceId`."},
				{Name: "type", Type: spec.Enum, Enum: columnTypes, Default: TypeAuto,
					Help: "Conversion: `auto`, `text`, `integer`, `float`, `boolean`, `timestamp` (from Unix milliseconds or RFC 3339) or `json` (JSON text)."},
			}},
	}, batch.Fields()...),
	Relations: spec.Relations{Fixed: []string{types.Success, types.Failure}},
	Examples: []spec.Example{
		{Title: "Insert telemetry into PostgreSQL", Config: map[string]any{
			"driver": Postgres, "dsn": "postgres://sluice@db:5432/plant", "table": "readings",
			"columns": []any{
				map[string]any{"column": "device", "from": "deviceId"},
				map[string]any{"column": "at", "from": "ts"},
				map[string]any{"column": "temperature", "from": "msg.signals.temperature", "type": TypeFloat},
			}}},
		{Title: "Upsert the latest state into MariaDB", Config: map[string]any{
			"driver": MySQL, "dsn": "sluice:secret@tcp(db:3306)/plant", "table": "device_state", "mode": ModeUpsert,
			"keys": []any{"device"},
			"columns": []any{
				map[string]any{"column": "device", "from": "deviceId"},
				map[string]any{"column": "updated", "from": "ts"},
				map[string]any{"column": "state", "from": "msg.signals", "type": TypeJSON},
				map[string]any{"column": "gateway", "from": "metadata.gateway"},
			}}},
	},
}

type column struct {
	Column string `json:"column"`
	From   string `json:"from"`
	Type   string `json:"type"`
}

type config struct {
	Driver  string   `json:"driver"`
	DSN     string   `json:"dsn"`
	Table   string   `json:"table"`
	Mode    string   `json:"mode"`
	Keys    []string `json:"keys"`
	Columns []column `json:"columns"`
	batch.Config
}

var ident = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*$`)

func (c *config) check() error {
	if c.DSN == "" {
		return fmt.Errorf("dsn: required")
	}
	for _, p := range strings.Split(c.Table, ".") {
		if !ident.MatchString(p) {
			return fmt.Errorf("table: %q is not a table name (letters, digits, _ and $; schema.name)", c.Table)
		}
	}
	seen := map[string]bool{}
	for i, col := range c.Columns {
		if !ident.MatchString(col.Column) {
			return fmt.Errorf("columns[%d].column: %q is not a column name", i, col.Column)
		}
		if seen[col.Column] {
			return fmt.Errorf("columns[%d].column: %q is mapped twice", i, col.Column)
		}
		seen[col.Column] = true
		switch {
		case col.From == "ts", col.From == "deviceId":
		case strings.HasPrefix(col.From, "msg.") && len(col.From) > 4, strings.HasPrefix(col.From, "metadata.") && len(col.From) > 9:
		default:
			return fmt.Errorf("columns[%d].from: want msg.path, metadata.name, ts or deviceId, got %q", i, col.From)
		}
		if col.Type != "" && !slices.Contains(columnTypes, col.Type) {
			return fmt.Errorf("columns[%d].type: unknown type %q", i, col.Type)
		}
	}
	if len(c.Columns) == 0 {
		return fmt.Errorf("columns: map at least one column")
	}
	if c.Mode == ModeUpsert && len(c.Keys) == 0 {
		return fmt.Errorf("keys: upsert needs the key columns")
	}
	for _, k := range c.Keys {
		if !seen[k] {
			return fmt.Errorf("keys: %q is not a mapped column", k)
		}
	}
	return nil
}

func (c *config) dest() Dest {
	return Dest{Driver: c.Driver, DSN: c.DSN, Table: c.Table, Mode: c.Mode, Keys: c.Keys}
}

// Node is the SQL sink. Its batcher and target are shared by the versions
// of its flow and joined at the first message.
type Node struct {
	cfg  config
	cols []string

	shared batch.Shared[*batch.Batcher[Row]]
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
	for _, c := range n.cfg.Columns {
		n.cols = append(n.cols, c.Column)
	}
	return nil
}

// OnMsg implements types.Node.
func (n *Node) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	batch.Deliver(ctx, msg, meta, batch.Steps[Row]{
		Items:  func(_ *engine.Env, _ string, msg types.RuleMsg) ([]Row, error) { return n.rows(msg) },
		Report: n.describe,
		Join:   n.batcher,
	})
}

// describe says what a test run would have written.
func (n *Node) describe(rows []Row) string {
	return fmt.Sprintf("would write %d rows to %s table %s with %s (test run: nothing written)",
		len(rows), n.cfg.Driver, n.cfg.Table, Statement(n.cfg.dest(), n.cols))
}

// batcher joins the node's shared target and batcher once per instance.
func (n *Node) batcher(env *engine.Env, nodeID string) (*batch.Batcher[Row], error) {
	return n.shared.Join(func() (*batch.Batcher[Row], []func() error, error) {
		ref := batch.RefOf(env, nodeID, Type)
		opts, err := n.cfg.SinkOptions(env.Resources, ref, env.Logger)
		if err != nil {
			return nil, nil, err
		}
		target, releaseTarget, err := batch.AcquireTarget(env.Resources, ref, "sql", func() (*Target, func() error, error) {
			t := NewTarget(n.cfg.dest(), env.Logger)
			return t, t.Close, nil
		}, func(t *Target) error { t.Set(n.cfg.dest()); return nil })
		if err != nil {
			return nil, nil, err
		}
		b, release, err := batch.AcquireWriter[Row](env.Resources, ref, opts, target, Codec{})
		if err != nil {
			_ = releaseTarget()
			return nil, nil, err
		}
		return b, []func() error{release, releaseTarget}, nil
	})
}

// Destroy implements types.Node: it leaves the shared batcher (the last
// version to leave closes it; its queue stays in the spool), then the
// shared target.
func (n *Node) Destroy() { n.shared.Leave() }

// rows maps the payload to rows.
func (n *Node) rows(msg types.RuleMsg) ([]Row, error) {
	b := bytes.TrimSpace([]byte(msg.Data))
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var items []map[string]any
	switch {
	case len(b) > 0 && b[0] == '{':
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("payload: want a JSON object or a list of them: %w", err)
		}
		items = []map[string]any{m}
	case len(b) > 0 && b[0] == '[':
		if err := dec.Decode(&items); err != nil {
			return nil, fmt.Errorf("payload: want a JSON object or a list of them: %w", err)
		}
	default:
		return nil, fmt.Errorf("payload: want a JSON object or a list of them, got %.40q", b)
	}
	out := make([]Row, 0, len(items))
	for i, it := range items {
		row := Row{Cols: n.cols, Vals: make([]Value, len(n.cols))}
		for j, c := range n.cfg.Columns {
			raw, typ := n.lookup(c, it, msg)
			if c.Type != "" && c.Type != TypeAuto {
				typ = c.Type
			}
			v, err := convert(raw, typ)
			if err != nil {
				if len(items) > 1 {
					return nil, fmt.Errorf("item %d: column %q (from %s): %w", i, c.Column, c.From, err)
				}
				return nil, fmt.Errorf("column %q (from %s): %w", c.Column, c.From, err)
			}
			row.Vals[j] = v
		}
		out = append(out, row)
	}
	return out, nil
}

// lookup returns the raw value of column c and its natural type.
func (n *Node) lookup(c column, item map[string]any, msg types.RuleMsg) (any, string) {
	switch {
	case c.From == "ts":
		if v, ok := item["ts"]; ok && v != nil {
			return v, TypeTimestamp
		}
		return json.Number(strconv.FormatInt(msg.Ts, 10)), TypeTimestamp
	case c.From == "deviceId":
		if v, ok := item["deviceId"].(string); ok && v != "" {
			return v, TypeText
		}
		if v := msg.Metadata.GetValue(engine.MetaDeviceID); v != "" {
			return v, TypeText
		}
		return nil, TypeText
	case strings.HasPrefix(c.From, "metadata."):
		if v := msg.Metadata.GetValue(strings.TrimPrefix(c.From, "metadata.")); v != "" {
			return v, TypeAuto
		}
		return nil, TypeAuto
	}
	var cur any = item
	for _, p := range strings.Split(strings.TrimPrefix(c.From, "msg."), ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, TypeAuto
		}
		cur = m[p]
	}
	return cur, TypeAuto
}
