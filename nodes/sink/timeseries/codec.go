package timeseries

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	ts "github.com/sluicehq/sluice/store/timeseries"
)

// Codec encodes points as spool records:
//
//	tenant, device, signal (uvarint length + bytes) | ts (varint) | kind (byte) |
//	value (float64 bits, little endian; a string: uvarint length + bytes) |
//	tag count (uvarint) | tags (key, value: uvarint length + bytes)
type Codec struct{}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// Append implements batch.Codec.
func (Codec) Append(dst []byte, p ts.Point) []byte {
	dst = appendString(dst, p.Tenant)
	dst = appendString(dst, p.Device)
	dst = appendString(dst, p.Signal)
	dst = binary.AppendVarint(dst, p.TS)
	dst = append(dst, byte(p.Value.Kind))
	if p.Value.Kind == ts.KindString {
		dst = appendString(dst, p.Value.Str)
	} else {
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(p.Value.Num))
	}
	dst = binary.AppendUvarint(dst, uint64(len(p.Tags)))
	for k, v := range p.Tags {
		dst = appendString(dst, k)
		dst = appendString(dst, v)
	}
	return dst
}

var errShort = errors.New("truncated point record")

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if uint64(len(r.b)) < n {
		r.err = errShort
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) string() string { return string(r.bytes(r.uvarint())) }

// Decode implements batch.Codec.
func (Codec) Decode(b []byte) (ts.Point, error) {
	r := &reader{b: b}
	var p ts.Point
	p.Tenant = r.string()
	p.Device = r.string()
	p.Signal = r.string()
	p.TS = r.varint()
	if k := r.bytes(1); k != nil {
		p.Value.Kind = ts.Kind(k[0])
	}
	if p.Value.Kind == ts.KindString {
		p.Value.Str = r.string()
	} else if v := r.bytes(8); v != nil {
		p.Value.Num = math.Float64frombits(binary.LittleEndian.Uint64(v))
	}
	if n := r.uvarint(); n > 0 && r.err == nil {
		if n > uint64(len(r.b)) {
			return ts.Point{}, fmt.Errorf("decode point: %w", errShort)
		}
		p.Tags = make(map[string]string, n)
		for range n {
			k := r.string()
			p.Tags[k] = r.string()
		}
	}
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%d bytes after the point", len(r.b))
	}
	if r.err != nil {
		return ts.Point{}, fmt.Errorf("decode point: %w", r.err)
	}
	return p, nil
}
