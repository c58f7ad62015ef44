package mongo

import (
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/nodes/sink/batch"
)

// Op is what an Item does in its collection.
type Op byte

// Item operations.
const (
	// OpInsert inserts Doc, whose _id is fixed when the item is accepted; a
	// replay finds it there already (duplicate key) and skips it.
	OpInsert Op = 'i'
	// OpUpsert replaces the document that Filter matches with Doc, or
	// inserts Doc when none does.
	OpUpsert Op = 'u'
)

// Item is one document write the sink queues: its spool record and its
// operation in a bulk write.
type Item struct {
	DB, Coll string
	Op       Op
	// Filter is the BSON filter of an upsert ({_id: ...} or the key
	// fields); empty for an insert.
	Filter []byte
	// Doc is the BSON document.
	Doc []byte
}

// Codec encodes items as spool records:
//
//	op (byte) | db, collection, filter, doc (uvarint length + bytes each)
type Codec struct{}

// Append implements batch.Codec.
func (Codec) Append(dst []byte, it Item) []byte {
	dst = append(dst, byte(it.Op))
	dst = batch.AppendString(dst, it.DB)
	dst = batch.AppendString(dst, it.Coll)
	dst = batch.AppendString(dst, string(it.Filter))
	return batch.AppendString(dst, string(it.Doc))
}

// Decode implements batch.Codec.
func (Codec) Decode(b []byte) (Item, error) {
	r := batch.NewRecord(b)
	it := Item{Op: Op(r.Byte())}
	if r.Err() == nil && it.Op != OpInsert && it.Op != OpUpsert {
		return Item{}, errors.New("mongo item record: unknown operation")
	}
	it.DB = r.String()
	it.Coll = r.String()
	if f := r.String(); f != "" {
		it.Filter = []byte(f)
	}
	it.Doc = []byte(r.String())
	if err := r.Done(); err != nil {
		return Item{}, fmt.Errorf("mongo item record: %w", err)
	}
	return it, nil
}
