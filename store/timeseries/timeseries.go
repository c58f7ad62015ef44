// Package timeseries stores telemetry points and answers range and
// aggregate queries over them. Store is the interface every implementation
// offers (the embedded SQLite store here; InfluxDB later); the time-series
// sink writes through it and the telemetry API reads through it.
//
// Times are Unix milliseconds (UTC), as in the unified telemetry message.
package timeseries

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// ErrBadQuery is returned (wrapped) for a query the store cannot answer as
// asked: no device, an empty or reversed range, an unknown aggregate.
var ErrBadQuery = errors.New("bad query")

// ErrBadPoint is returned (wrapped) for a point that cannot be stored: no
// device or signal, a value that is not a finite number, a bool or a string.
// Writing it again fails again: a writer must not retry it.
var ErrBadPoint = errors.New("bad point")

// ErrClosed is returned (wrapped) by a store that has been closed.
var ErrClosed = errors.New("time-series store is closed")

// Kind is the type of a value.
type Kind uint8

// Value kinds.
const (
	KindNumber Kind = iota
	KindBool
	KindString
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case KindNumber:
		return "number"
	case KindBool:
		return "bool"
	case KindString:
		return "string"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is a signal's value: a number, a bool or a string.
type Value struct {
	Kind Kind
	// Num is the number; a bool is 0 or 1.
	Num float64
	// Str is the string of a KindString value.
	Str string
}

// Number is a numeric value.
func Number(f float64) Value { return Value{Kind: KindNumber, Num: f} }

// Bool is a boolean value.
func Bool(b bool) Value {
	if b {
		return Value{Kind: KindBool, Num: 1}
	}
	return Value{Kind: KindBool}
}

// String is a string value.
func String(s string) Value { return Value{Kind: KindString, Str: s} }

// Any returns the value as float64, bool or string.
func (v Value) Any() any {
	switch v.Kind {
	case KindBool:
		return v.Num != 0
	case KindString:
		return v.Str
	}
	return v.Num
}

// MarshalJSON encodes the value as a JSON number, boolean or string.
func (v Value) MarshalJSON() ([]byte, error) {
	switch v.Kind {
	case KindBool:
		return strconv.AppendBool(nil, v.Num != 0), nil
	case KindString:
		return json.Marshal(v.Str)
	}
	if math.IsNaN(v.Num) || math.IsInf(v.Num, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, v.Num, 'g', -1, 64), nil
}

// UnmarshalJSON decodes a JSON number, boolean or string.
func (v *Value) UnmarshalJSON(b []byte) error {
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		return err
	}
	val, err := ValueOf(x)
	if err != nil {
		return err
	}
	*v = val
	return nil
}

// ValueOf converts a decoded JSON value (float64, json.Number, bool,
// string) or a Go integer or float into a Value.
func ValueOf(x any) (Value, error) {
	switch t := x.(type) {
	case float64:
		return finite(t)
	case float32:
		return finite(float64(t))
	case int:
		return Number(float64(t)), nil
	case int64:
		return Number(float64(t)), nil
	case int32:
		return Number(float64(t)), nil
	case uint64:
		return Number(float64(t)), nil
	case json.Number:
		f, err := t.Float64()
		if err != nil {
			return Value{}, fmt.Errorf("number %s: %w", t, ErrBadPoint)
		}
		return finite(f)
	case bool:
		return Bool(t), nil
	case string:
		return String(t), nil
	case nil:
		return Value{}, fmt.Errorf("null is not a value: %w", ErrBadPoint)
	}
	return Value{}, fmt.Errorf("want a number, a bool or a string, got %T: %w", x, ErrBadPoint)
}

func finite(f float64) (Value, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return Value{}, fmt.Errorf("%v is not a finite number: %w", f, ErrBadPoint)
	}
	return Number(f), nil
}

// Point is one value of one signal of one device at one time.
type Point struct {
	// Tenant owns the point; queries see only their tenant's points.
	Tenant string
	Device string
	Signal string
	// TS is the time of the value in Unix milliseconds.
	TS    int64
	Value Value
	// Tags are kept per series (tenant, device, signal): the latest
	// non-empty set wins. Optional.
	Tags map[string]string
}

// Check reports why p cannot be stored (wrapping ErrBadPoint), or nil.
func (p *Point) Check() error {
	switch {
	case p.Device == "":
		return fmt.Errorf("point: no device: %w", ErrBadPoint)
	case p.Signal == "":
		return fmt.Errorf("point of device %q: no signal: %w", p.Device, ErrBadPoint)
	case p.Value.Kind > KindString:
		return fmt.Errorf("point %s/%s: unknown value kind %d: %w", p.Device, p.Signal, p.Value.Kind, ErrBadPoint)
	case p.Value.Kind != KindString && (math.IsNaN(p.Value.Num) || math.IsInf(p.Value.Num, 0)):
		return fmt.Errorf("point %s/%s: %v is not a finite number: %w", p.Device, p.Signal, p.Value.Num, ErrBadPoint)
	}
	return nil
}

// Agg is an aggregate function over the points of a bucket.
type Agg string

// Aggregates. AggNone asks for the raw points.
const (
	AggNone  Agg = ""
	AggAvg   Agg = "avg"
	AggMin   Agg = "min"
	AggMax   Agg = "max"
	AggSum   Agg = "sum"
	AggCount Agg = "count"
	AggFirst Agg = "first"
	AggLast  Agg = "last"
)

// Aggs lists the aggregates a query may ask for.
var Aggs = []Agg{AggAvg, AggMin, AggMax, AggSum, AggCount, AggFirst, AggLast}

// ParseAgg parses an aggregate name; "" and "raw" mean AggNone.
func ParseAgg(s string) (Agg, error) {
	if s == "" || s == "raw" || s == "none" {
		return AggNone, nil
	}
	for _, a := range Aggs {
		if string(a) == s {
			return a, nil
		}
	}
	return "", fmt.Errorf("agg %q: want one of avg, min, max, sum, count, first, last (or raw): %w", s, ErrBadQuery)
}

// numeric says whether the aggregate reads numbers only (avg, min, max,
// sum); count, first and last read every value.
func (a Agg) numeric() bool {
	return a == AggAvg || a == AggMin || a == AggMax || a == AggSum
}

// Query limits.
const (
	// DefaultLimit is the page size of a query that sets no Limit.
	DefaultLimit = 10000
	// MaxLimit is the largest page a query may ask for.
	MaxLimit = 100000
	// MaxDevices and MaxSignals bound the series one query names.
	MaxDevices = 1000
	MaxSignals = 1000
)

// Query asks for the points, or aggregates of them, of some signals of some
// devices over [From, To).
type Query struct {
	Tenant string
	// Devices to read (at least one).
	Devices []string
	// Signals to read; empty reads every signal of the devices.
	Signals []string
	// From (inclusive) and To (exclusive), Unix milliseconds.
	From, To int64
	// Agg aggregates the points of each bucket of width Every; AggNone
	// returns the points themselves.
	Agg   Agg
	Every time.Duration
	// Limit bounds the points (or buckets) of the answer over all its
	// series (0: DefaultLimit); Offset skips that many first. Series are
	// ordered by device then signal, points by time.
	Limit, Offset int
}

// Check reports why q cannot be answered (wrapping ErrBadQuery), or nil.
// It applies the default limit.
func (q *Query) Check() error {
	switch {
	case len(q.Devices) == 0:
		return fmt.Errorf("device: want at least one: %w", ErrBadQuery)
	case len(q.Devices) > MaxDevices:
		return fmt.Errorf("device: at most %d per query, got %d: %w", MaxDevices, len(q.Devices), ErrBadQuery)
	case len(q.Signals) > MaxSignals:
		return fmt.Errorf("signal: at most %d per query, got %d: %w", MaxSignals, len(q.Signals), ErrBadQuery)
	case q.To <= q.From:
		return fmt.Errorf("range: to (%d) must be after from (%d): %w", q.To, q.From, ErrBadQuery)
	case q.Limit < 0 || q.Limit > MaxLimit:
		return fmt.Errorf("limit: want 0 to %d, got %d: %w", MaxLimit, q.Limit, ErrBadQuery)
	case q.Offset < 0:
		return fmt.Errorf("offset: want 0 or more, got %d: %w", q.Offset, ErrBadQuery)
	}
	for _, d := range q.Devices {
		if d == "" {
			return fmt.Errorf("device: empty id: %w", ErrBadQuery)
		}
	}
	if q.Agg != AggNone {
		if _, err := ParseAgg(string(q.Agg)); err != nil {
			return err
		}
		if q.Every < time.Millisecond {
			return fmt.Errorf("every: want a bucket width of 1ms or more with agg %q, got %s: %w", q.Agg, q.Every, ErrBadQuery)
		}
	}
	if q.Limit == 0 {
		q.Limit = DefaultLimit
	}
	return nil
}

// Sample is a point of a series in an answer: a raw point, or a bucket's
// aggregate (TS is then the bucket's start).
type Sample struct {
	TS    int64 `json:"ts"`
	Value Value `json:"value"`
	// Count is how many raw values the aggregate covers (aggregates only).
	Count int64 `json:"count,omitempty"`
}

// Series is the answer for one signal of one device.
type Series struct {
	Device string   `json:"deviceId"`
	Signal string   `json:"signal"`
	Points []Sample `json:"points"`
}

// Result is the answer to a Query.
type Result struct {
	Series []Series `json:"series"`
	// NextOffset is the Offset of the next page; 0 when this page is the
	// last.
	NextOffset int `json:"nextOffset,omitempty"`
}

// Latest is the latest value of one signal.
type Latest struct {
	Signal string `json:"signal"`
	TS     int64  `json:"ts"`
	Value  Value  `json:"value"`
}

// Writer writes points. Writing the same (tenant, device, signal, ts) again
// replaces the value: a replay does not duplicate.
type Writer interface {
	Write(ctx context.Context, points []Point) error
}

// Reader answers queries.
type Reader interface {
	Query(ctx context.Context, q Query) (*Result, error)
	// Latest returns the latest value of each signal of a device, by
	// signal name; a device without points has none.
	Latest(ctx context.Context, tenant, device string) ([]Latest, error)
	// Devices returns the ids of the tenant's devices that have points,
	// sorted, each with the tags of its series (the latest non-empty set
	// of any of its signals). Statistics select devices through it.
	Devices(ctx context.Context, tenant string) ([]DeviceInfo, error)
}

// DeviceInfo is a device that has points.
type DeviceInfo struct {
	ID   string            `json:"deviceId"`
	Tags map[string]string `json:"tags,omitempty"`
}

// Store writes and reads points.
type Store interface {
	Writer
	Reader
	Close() error
}
