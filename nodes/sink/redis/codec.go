package redis

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/nodes/sink/batch"
)

// Kind is what an Item does in Redis.
type Kind byte

// Item kinds.
const (
	// KindHash: HSET Key Fields... (the latest values of a device).
	KindHash Kind = 'h'
	// KindStream: XADD Key [MAXLEN ~ n] ID Fields... (an entry of a stream).
	KindStream Kind = 's'
)

// Item is one Redis write the sink queues: its spool record and its
// command in a pipeline.
type Item struct {
	Kind Kind
	Key  string
	// ID is the stream entry's explicit id ("<ms>-<seq>"), fixed when the
	// item is accepted so that a replay writes the same id.
	ID string
	// Fields are name, value pairs.
	Fields []string
}

// Codec encodes items as spool records:
//
//	kind (byte) | key, id (uvarint length + bytes) | field count (uvarint) |
//	fields (uvarint length + bytes each)
type Codec struct{}

// Append implements batch.Codec.
func (Codec) Append(dst []byte, it Item) []byte {
	dst = append(dst, byte(it.Kind))
	dst = batch.AppendString(dst, it.Key)
	dst = batch.AppendString(dst, it.ID)
	dst = binary.AppendUvarint(dst, uint64(len(it.Fields)))
	for _, f := range it.Fields {
		dst = batch.AppendString(dst, f)
	}
	return dst
}

// Decode implements batch.Codec.
func (Codec) Decode(b []byte) (Item, error) {
	r := batch.NewRecord(b)
	it := Item{Kind: Kind(r.Byte())}
	if r.Err() == nil && it.Kind != KindHash && it.Kind != KindStream {
		return Item{}, errors.New("redis item record: unknown kind")
	}
	it.Key = r.String()
	it.ID = r.String()
	n := r.Count()
	it.Fields = make([]string, 0, n)
	for range n {
		it.Fields = append(it.Fields, r.String())
	}
	if err := r.Done(); err != nil {
		return Item{}, fmt.Errorf("redis item record: %w", err)
	}
	return it, nil
}
