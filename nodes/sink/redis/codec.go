package redis

import (
	"encoding/binary"
	"errors"
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

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// Append implements batch.Codec.
func (Codec) Append(dst []byte, it Item) []byte {
	dst = append(dst, byte(it.Kind))
	dst = appendString(dst, it.Key)
	dst = appendString(dst, it.ID)
	dst = binary.AppendUvarint(dst, uint64(len(it.Fields)))
	for _, f := range it.Fields {
		dst = appendString(dst, f)
	}
	return dst
}

var errShort = errors.New("truncated redis item record")

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

func (r *reader) string() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if uint64(len(r.b)) < n {
		r.err = errShort
		return ""
	}
	s := string(r.b[:n]) // copies
	r.b = r.b[n:]
	return s
}

// Decode implements batch.Codec.
func (Codec) Decode(b []byte) (Item, error) {
	if len(b) == 0 {
		return Item{}, errShort
	}
	it := Item{Kind: Kind(b[0])}
	if it.Kind != KindHash && it.Kind != KindStream {
		return Item{}, errors.New("redis item record: unknown kind")
	}
	r := &reader{b: b[1:]}
	it.Key = r.string()
	it.ID = r.string()
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)) {
		r.err = errShort
	}
	if r.err != nil {
		return Item{}, r.err
	}
	it.Fields = make([]string, 0, n)
	for range n {
		it.Fields = append(it.Fields, r.string())
	}
	if r.err != nil {
		return Item{}, r.err
	}
	if len(r.b) != 0 {
		return Item{}, errors.New("redis item record: trailing bytes")
	}
	return it, nil
}
