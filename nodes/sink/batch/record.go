package batch

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// ErrShort is what a Record reports for a spool record that ends too soon.
var ErrShort = errors.New("truncated record")

// AppendString appends s to a spool record: its length as a uvarint, then
// its bytes. Record.String reads it back.
func AppendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// AppendFloat64 appends f as 8 little-endian bytes.
func AppendFloat64(dst []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(f))
}

// Record reads the fields of one spool record in the order a codec's Append
// wrote them. The first problem sticks: later reads return zero values and
// Err reports it, so a Decode reads every field and checks once.
type Record struct {
	b   []byte
	err error
}

// NewRecord starts reading b.
func NewRecord(b []byte) *Record { return &Record{b: b} }

// Err is the first problem met, or, once Done was called, trailing bytes.
func (r *Record) Err() error { return r.err }

// Done checks that the whole record was read.
func (r *Record) Done() error {
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%d bytes after the record", len(r.b))
	}
	return r.err
}

// Uvarint reads an unsigned varint.
func (r *Record) Uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = ErrShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

// Varint reads a signed varint.
func (r *Record) Varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = ErrShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

// Count reads a count of items that each take at least one byte, so that a
// corrupt count cannot make the caller allocate beyond the record.
func (r *Record) Count() uint64 {
	n := r.Uvarint()
	if r.err == nil && n > uint64(len(r.b)) {
		r.err = ErrShort
		return 0
	}
	return n
}

// Bytes reads n raw bytes (aliasing the record).
func (r *Record) Bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if uint64(len(r.b)) < n {
		r.err = ErrShort
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

// Byte reads one byte.
func (r *Record) Byte() byte {
	if b := r.Bytes(1); b != nil {
		return b[0]
	}
	return 0
}

// Float64 reads 8 little-endian bytes.
func (r *Record) Float64() float64 {
	if b := r.Bytes(8); b != nil {
		return math.Float64frombits(binary.LittleEndian.Uint64(b))
	}
	return 0
}

// String reads a string written by AppendString (a copy).
func (r *Record) String() string { return string(r.Bytes(r.Uvarint())) }

// TimeOf reads a payload's ts: Unix milliseconds (a number) or an RFC 3339 string;
// absent, the message's time (else now).
func TimeOf(raw json.RawMessage, msgTS int64) (int64, error) {
	s := string(bytes.TrimSpace(raw))
	if s == "" || s == "null" {
		if msgTS == 0 {
			return time.Now().UnixMilli(), nil
		}
		return msgTS, nil
	}
	if s[0] == '"' {
		var str string
		if err := json.Unmarshal(raw, &str); err != nil {
			return 0, fmt.Errorf("ts: %w", err)
		}
		t, err := time.Parse(time.RFC3339Nano, str)
		if err != nil {
			return 0, fmt.Errorf("ts: want Unix milliseconds or an RFC 3339 time, got %q", str)
		}
		return t.UnixMilli(), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1<<53 {
		return 0, fmt.Errorf("ts: want Unix milliseconds or an RFC 3339 time, got %.40s", s)
	}
	return int64(f), nil
}
