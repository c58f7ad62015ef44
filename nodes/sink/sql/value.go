package sql

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/nodes/sink/batch"
)

// Kind is the type of a column value.
type Kind byte

// Value kinds.
const (
	KindNull Kind = iota
	KindText
	KindInt
	KindFloat
	KindBool
	KindTime // Unix milliseconds
	KindJSON // JSON text
)

// Value is one column value of a row.
type Value struct {
	Kind Kind
	I    int64 // KindInt, KindBool (0/1), KindTime
	F    float64
	S    string // KindText, KindJSON
}

// Arg is the value as a database/sql argument.
func (v Value) Arg() any {
	switch v.Kind {
	case KindText, KindJSON:
		return v.S
	case KindInt:
		return v.I
	case KindFloat:
		return v.F
	case KindBool:
		return v.I != 0
	case KindTime:
		return time.UnixMilli(v.I).UTC()
	}
	return nil
}

// Row is one row to write: column names and their values, in order.
type Row struct {
	Cols []string
	Vals []Value
}

// Column types of the mapping.
const (
	TypeAuto      = "auto"
	TypeText      = "text"
	TypeInteger   = "integer"
	TypeFloat     = "float"
	TypeBoolean   = "boolean"
	TypeTimestamp = "timestamp"
	TypeJSON      = "json"
)

var columnTypes = []string{TypeAuto, TypeText, TypeInteger, TypeFloat, TypeBoolean, TypeTimestamp, TypeJSON}

// convert turns a JSON value (decoded with UseNumber) into a Value of
// column type typ.
func convert(v any, typ string) (Value, error) {
	if v == nil {
		return Value{}, nil
	}
	switch typ {
	case TypeAuto, "":
		switch x := v.(type) {
		case string:
			return Value{Kind: KindText, S: x}, nil
		case json.Number:
			if i, err := x.Int64(); err == nil {
				return Value{Kind: KindInt, I: i}, nil
			}
			f, err := x.Float64()
			if err != nil {
				return Value{}, fmt.Errorf("number %s: %w", x, err)
			}
			return Value{Kind: KindFloat, F: f}, nil
		case bool:
			return boolValue(x), nil
		default:
			return convert(v, TypeJSON)
		}
	case TypeText:
		if s, ok := v.(string); ok {
			return Value{Kind: KindText, S: s}, nil
		}
		b, err := json.Marshal(v)
		if err != nil {
			return Value{}, err
		}
		return Value{Kind: KindText, S: string(b)}, nil
	case TypeJSON:
		b, err := json.Marshal(v)
		if err != nil {
			return Value{}, err
		}
		return Value{Kind: KindJSON, S: string(b)}, nil
	case TypeInteger:
		s, ok := numText(v)
		if ok {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return Value{Kind: KindInt, I: i}, nil
			}
			if f, err := strconv.ParseFloat(s, 64); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<63 {
				return Value{Kind: KindInt, I: int64(f)}, nil
			}
		}
		if b, ok := v.(bool); ok {
			return Value{Kind: KindInt, I: boolValue(b).I}, nil
		}
		return Value{}, fmt.Errorf("want an integer, got %s", brief(v))
	case TypeFloat:
		if s, ok := numText(v); ok {
			if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
				return Value{Kind: KindFloat, F: f}, nil
			}
		}
		return Value{}, fmt.Errorf("want a number, got %s", brief(v))
	case TypeBoolean:
		switch x := v.(type) {
		case bool:
			return boolValue(x), nil
		case string:
			if b, err := strconv.ParseBool(x); err == nil {
				return boolValue(b), nil
			}
		case json.Number:
			if x == "0" || x == "1" {
				return boolValue(x == "1"), nil
			}
		}
		return Value{}, fmt.Errorf("want a boolean, got %s", brief(v))
	case TypeTimestamp:
		switch x := v.(type) {
		case json.Number:
			f, err := x.Float64()
			if err == nil && math.Abs(f) < 1<<53 {
				return Value{Kind: KindTime, I: int64(f)}, nil
			}
		case string:
			if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
				return Value{Kind: KindTime, I: t.UnixMilli()}, nil
			}
		}
		return Value{}, fmt.Errorf("want Unix milliseconds or an RFC 3339 time, got %s", brief(v))
	}
	return Value{}, fmt.Errorf("unknown column type %q", typ)
}

func boolValue(b bool) Value {
	if b {
		return Value{Kind: KindBool, I: 1}
	}
	return Value{Kind: KindBool}
}

func numText(v any) (string, bool) {
	switch x := v.(type) {
	case json.Number:
		return string(x), true
	case string:
		return strings.TrimSpace(x), true
	}
	return "", false
}

func brief(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 40 {
		b = append(b[:40], "..."...)
	}
	return string(b)
}

// Codec encodes rows as spool records:
//
//	column count (uvarint) | per column: name (uvarint length + bytes),
//	kind (byte), value (int/bool/time: varint; float: 8 bytes little
//	endian; text/json: uvarint length + bytes; null: nothing)
type Codec struct{}

// Append implements batch.Codec.
func (Codec) Append(dst []byte, r Row) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(r.Cols)))
	for i, c := range r.Cols {
		dst = batch.AppendString(dst, c)
		v := r.Vals[i]
		dst = append(dst, byte(v.Kind))
		switch v.Kind {
		case KindInt, KindBool, KindTime:
			dst = binary.AppendVarint(dst, v.I)
		case KindFloat:
			dst = batch.AppendFloat64(dst, v.F)
		case KindText, KindJSON:
			dst = batch.AppendString(dst, v.S)
		}
	}
	return dst
}

// Decode implements batch.Codec.
func (Codec) Decode(b []byte) (Row, error) {
	r := batch.NewRecord(b)
	n := r.Count()
	row := Row{Cols: make([]string, n), Vals: make([]Value, n)}
	for i := range n {
		row.Cols[i] = r.String()
		v := Value{Kind: Kind(r.Byte())}
		switch v.Kind {
		case KindNull:
		case KindInt, KindBool, KindTime:
			v.I = r.Varint()
		case KindFloat:
			v.F = r.Float64()
		case KindText, KindJSON:
			v.S = r.String()
		default:
			if r.Err() == nil {
				return Row{}, fmt.Errorf("decode row: unknown value kind %d", v.Kind)
			}
		}
		row.Vals[i] = v
	}
	if err := r.Done(); err != nil {
		return Row{}, fmt.Errorf("decode row: %w", err)
	}
	return row, nil
}
