package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/sluicehq/sluice/nodes/sink/batch"
)

// conn is what a client connects with.
type conn struct {
	Addr     string
	Password string
	DB       int
}

// newClient returns a client that fails fast (the batcher retries with
// backoff, so the client does not).
func newClient(c conn) *goredis.Client {
	return goredis.NewClient(&goredis.Options{
		Addr: c.Addr, Password: c.Password, DB: c.DB,
		MaxRetries:   -1,
		DialTimeout:  2 * time.Second,
		ReadTimeout:  5 * time.Second,
		WriteTimeout: 5 * time.Second,
		PoolSize:     4,
		// No CLIENT SETINFO and no maintenance notifications: plain
		// commands only, which every Redis 6+ server (and most
		// Redis-compatible servers) understands.
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
}

type lastID struct{ ms, seq uint64 }

// Target is the shared state of one sink node: the Redis client its
// batcher writes with (the versions of a flow share it; a redeploy with
// other connection settings swaps it), the stream trimming bound, and the
// last stream id given out per stream key.
type Target struct {
	log *slog.Logger

	mu     sync.Mutex
	c      conn
	client *goredis.Client
	maxLen int64

	// idMu orders id assignment with Accept, so that the ids of a stream
	// grow in spool order.
	idMu sync.Mutex
	ids  map[string]lastID
}

func newTarget(c conn, maxLen int64, log *slog.Logger) *Target {
	return &Target{log: log, c: c, client: newClient(c), maxLen: maxLen, ids: map[string]lastID{}}
}

// retune applies a version's settings; other connection settings replace
// the client (a write in flight on the old one fails and is retried with
// the new one).
func (t *Target) retune(c conn, maxLen int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.maxLen = maxLen
	if c == t.c {
		return
	}
	old := t.client
	t.c, t.client = c, newClient(c)
	_ = old.Close()
}

func (t *Target) current() (*goredis.Client, int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.client, t.maxLen
}

func (t *Target) close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.client.Close()
}

// assign gives each stream item its id: the item's time in milliseconds
// and a sequence number, growing per stream key. A time not after the
// last one of its stream (two entries in one millisecond, a clock that
// went back) takes the last millisecond and the next sequence number.
// Call under idMu, with the times in ms.
func (t *Target) assign(items []Item, ms []uint64) {
	for i := range items {
		if items[i].Kind != KindStream {
			continue
		}
		last, ok := t.ids[items[i].Key]
		next := lastID{ms: ms[i]}
		if ok && ms[i] <= last.ms {
			next = lastID{ms: last.ms, seq: last.seq + 1}
		}
		if next.ms == 0 && next.seq == 0 {
			next.seq = 1 // 0-0 is not a valid stream id
		}
		t.ids[items[i].Key] = next
		items[i].ID = strconv.FormatUint(next.ms, 10) + "-" + strconv.FormatUint(next.seq, 10)
	}
}

// errStale is the reply of XADD to an id not above the stream's top.
const errStale = "equal or smaller than the target stream top item"

// Write implements batch.Writer: one pipeline per batch, in order.
// Hashes are idempotent by nature. A stream entry whose id the stream
// already holds with the same fields is a replay and skipped; one whose id
// is behind the stream's top with other fields (the stream moved on
// meanwhile: another writer, or ids given out again after a restart) is
// added with an id Redis picks, so it is not lost. A key of the wrong type
// is a permanent error (the rest of the batch is written); every other
// error retries the whole batch.
func (t *Target) Write(ctx context.Context, items []Item) error {
	client, maxLen := t.current()
	pipe := client.Pipeline()
	cmds := make([]goredis.Cmder, len(items))
	for i, it := range items {
		switch it.Kind {
		case KindHash:
			cmds[i] = pipe.HSet(ctx, it.Key, it.Fields)
		case KindStream:
			cmds[i] = pipe.XAdd(ctx, xaddArgs(it, it.ID, maxLen))
		}
	}
	_, _ = pipe.Exec(ctx) // each command's error is looked at below
	var stale []int
	var refused []string
	for i, cmd := range cmds {
		err := cmd.Err()
		switch {
		case err == nil:
		case items[i].Kind == KindStream && strings.Contains(err.Error(), errStale):
			stale = append(stale, i)
		case isWrongType(err):
			refused = append(refused, fmt.Sprintf("key %q: %v", items[i].Key, err))
		default:
			return fmt.Errorf("redis %s: %w", client.Options().Addr, err)
		}
	}
	for _, i := range stale {
		if err := t.checkStale(ctx, client, items[i], maxLen); err != nil {
			return err
		}
	}
	if len(refused) > 0 {
		return batch.Permanent(fmt.Errorf("redis refused %d of %d writes: %s", len(refused), len(items), strings.Join(refused, "; ")))
	}
	return nil
}

func xaddArgs(it Item, id string, maxLen int64) *goredis.XAddArgs {
	a := &goredis.XAddArgs{Stream: it.Key, ID: id, Values: it.Fields}
	if maxLen > 0 {
		a.MaxLen, a.Approx = maxLen, true
	}
	return a
}

// checkStale skips a replayed entry or adds one that lost its id.
func (t *Target) checkStale(ctx context.Context, client *goredis.Client, it Item, maxLen int64) error {
	got, err := client.XRange(ctx, it.Key, it.ID, it.ID).Result()
	if err != nil {
		return fmt.Errorf("redis %s: check stream %q entry %s: %w", client.Options().Addr, it.Key, it.ID, err)
	}
	if len(got) == 1 && sameFields(got[0].Values, it.Fields) {
		return nil // written before: a replay
	}
	id, err := client.XAdd(ctx, xaddArgs(it, "*", maxLen)).Result()
	if err != nil {
		if isWrongType(err) {
			return batch.Permanent(fmt.Errorf("redis refused key %q: %w", it.Key, err))
		}
		return fmt.Errorf("redis %s: %w", client.Options().Addr, err)
	}
	t.log.Warn("redis sink: stream entry id was behind the stream's top; added with a new id (a replay of it could add it again)",
		"stream", it.Key, "wanted", it.ID, "got", id)
	return nil
}

func sameFields(got map[string]any, fields []string) bool {
	if len(got)*2 != len(fields) {
		return false
	}
	for i := 0; i+1 < len(fields); i += 2 {
		v, ok := got[fields[i]].(string)
		if !ok || v != fields[i+1] {
			return false
		}
	}
	return true
}

func isWrongType(err error) bool {
	var re goredis.Error
	return errors.As(err, &re) && strings.HasPrefix(err.Error(), "WRONGTYPE")
}

// publish sends each payload to its channel in one pipeline and returns
// the number of subscribers that got them.
func publish(ctx context.Context, client *goredis.Client, channels, payloads []string) (int64, error) {
	pipe := client.Pipeline()
	cmds := make([]*goredis.IntCmd, len(channels))
	for i := range channels {
		cmds[i] = pipe.Publish(ctx, channels[i], payloads[i])
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, fmt.Errorf("redis %s: publish: %w", client.Options().Addr, err)
	}
	var n int64
	for _, c := range cmds {
		n += c.Val()
	}
	return n, nil
}
