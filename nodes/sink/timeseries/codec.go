package timeseries

import (
	"encoding/binary"
	"fmt"

	"github.com/sluicehq/sluice/nodes/sink/batch"
	ts "github.com/sluicehq/sluice/store/timeseries"
)

// Codec encodes points as spool records:
//
//	tenant, device, signal (uvarint length + bytes) | ts (varint) | kind (byte) |
//	value (float64 bits, little endian; a string: uvarint length + bytes) |
//	tag count (uvarint) | tags (key, value: uvarint length + bytes)
type Codec struct{}

// Append implements batch.Codec.
func (Codec) Append(dst []byte, p ts.Point) []byte {
	dst = batch.AppendString(dst, p.Tenant)
	dst = batch.AppendString(dst, p.Device)
	dst = batch.AppendString(dst, p.Signal)
	dst = binary.AppendVarint(dst, p.TS)
	dst = append(dst, byte(p.Value.Kind))
	if p.Value.Kind == ts.KindString {
		dst = batch.AppendString(dst, p.Value.Str)
	} else {
		dst = batch.AppendFloat64(dst, p.Value.Num)
	}
	dst = binary.AppendUvarint(dst, uint64(len(p.Tags)))
	for k, v := range p.Tags {
		dst = batch.AppendString(dst, k)
		dst = batch.AppendString(dst, v)
	}
	return dst
}

// Decode implements batch.Codec.
func (Codec) Decode(b []byte) (ts.Point, error) {
	r := batch.NewRecord(b)
	var p ts.Point
	p.Tenant = r.String()
	p.Device = r.String()
	p.Signal = r.String()
	p.TS = r.Varint()
	p.Value.Kind = ts.Kind(r.Byte())
	if p.Value.Kind == ts.KindString {
		p.Value.Str = r.String()
	} else {
		p.Value.Num = r.Float64()
	}
	if n := r.Count(); n > 0 {
		p.Tags = make(map[string]string, n)
		for range n {
			k := r.String()
			p.Tags[k] = r.String()
		}
	}
	if err := r.Done(); err != nil {
		return ts.Point{}, fmt.Errorf("decode point: %w", err)
	}
	return p, nil
}
