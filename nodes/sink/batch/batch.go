// Package batch is the machinery every sink node shares: it takes items
// from the flow, batches them by size and interval, writes the batches to
// the sink's target in order, retries failed writes with exponential
// backoff, and keeps what is not written yet in a durable spool on disk,
// so that neither an outage of the target nor a crash of the process
// loses an acknowledged item.
//
// With a spool (the normal case), every accepted item is appended to the
// spool before Accept returns: the spool is the queue, bounded in bytes,
// and a bounded window of it is also held in memory so that writes need
// not read it back. Items leave the spool once the target has taken them;
// after a restart the spool is replayed in order. Without a spool the
// queue is in memory only, bounded in items, and what it holds when the
// process stops is lost (Close reports it).
//
// A full queue refuses items or makes the caller wait (WhenFull); it never
// drops one. Delivery is at least once: a batch whose write failed half
// way, or whose confirmation a crash interrupted, is written again, so
// targets should write idempotently (upsert by key) where they can.
package batch

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"time"
)

// Writer is a sink's target. Write writes a batch in order; an error makes
// the batch be written again later (all of it), unless it is Permanent.
type Writer[T any] interface {
	Write(ctx context.Context, items []T) error
}

// WriterFunc adapts a function to Writer.
type WriterFunc[T any] func(ctx context.Context, items []T) error

// Write implements Writer.
func (f WriterFunc[T]) Write(ctx context.Context, items []T) error { return f(ctx, items) }

// Codec turns items into spool records and back.
type Codec[T any] interface {
	// Append appends item's encoding to dst.
	Append(dst []byte, item T) []byte
	// Decode decodes an item that Append encoded. The slice is reused
	// after it returns: copy what the item keeps.
	Decode(b []byte) (T, error)
}

// WhenFull says what Accept does when the queue is full.
type WhenFull string

// What a full queue does.
const (
	// Wait blocks Accept until there is room or its context ends (the
	// message's deadline), then fails.
	Wait WhenFull = "wait"
	// Fail fails Accept at once.
	Fail WhenFull = "fail"
)

// Errors of Accept.
var (
	// ErrFull: the queue is full (WhenFull Fail, or Wait until the
	// caller's deadline).
	ErrFull = errors.New("sink queue is full")
	// ErrClosed: the sink is closing or closed.
	ErrClosed = errors.New("sink is closed")
	// ErrTooLarge: the items would not fit even in an empty queue.
	ErrTooLarge = errors.New("larger than the whole sink queue")
)

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks a write error that writing again cannot fix (the target
// refuses the data itself). The batch is then dropped, counted in
// Status.Rejected and logged as an error. Validate items before Accept, so
// that the flow gets the Failure instead.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err was marked Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// Options configure a Batcher. Zero values take the defaults.
type Options struct {
	// Name identifies the sink in logs ("flow/node").
	Name string
	// BatchSize is the most items one write carries (default 500); a batch
	// is written as soon as it is full.
	BatchSize int
	// Interval is the longest an item waits for its batch to fill
	// (default 1s).
	Interval time.Duration
	// QueueSize bounds the items held in memory (default 10000). Without a
	// spool it is the queue's bound; with one, items beyond it stay on
	// disk only and are read back when their turn comes.
	QueueSize int
	// WhenFull is what Accept does when the queue is full (default Wait).
	WhenFull WhenFull
	// SpoolDir is the spool's directory; empty keeps the queue in memory.
	SpoolDir string
	// SpoolMaxBytes bounds the spool: the items not yet written (default
	// 256 MiB).
	SpoolMaxBytes int64
	// SegmentBytes is the size of one spool file (default 8 MiB, at most
	// SpoolMaxBytes); written files are removed whole.
	SegmentBytes int64
	// RetryMin and RetryMax bound the exponential backoff between failed
	// writes (defaults 100ms and 30s); each wait is jittered by ±20%.
	RetryMin, RetryMax time.Duration
	// WriteTimeout bounds one write (default 30s).
	WriteTimeout time.Duration
	// SyncEvery is how often the spool is flushed to stable storage
	// (default 1s). A crash of the process loses nothing written to the
	// spool; a power loss may lose what came after the last sync.
	SyncEvery time.Duration
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

func (o *Options) defaults() error {
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 10000
	}
	if o.WhenFull == "" {
		o.WhenFull = Wait
	}
	if o.SpoolMaxBytes <= 0 {
		o.SpoolMaxBytes = 256 << 20
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 8 << 20
	}
	o.SegmentBytes = min(o.SegmentBytes, o.SpoolMaxBytes)
	if o.RetryMin <= 0 {
		o.RetryMin = 100 * time.Millisecond
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 30 * time.Second
	}
	o.RetryMax = max(o.RetryMax, o.RetryMin)
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 30 * time.Second
	}
	if o.SyncEvery <= 0 {
		o.SyncEvery = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.WhenFull != Wait && o.WhenFull != Fail {
		return fmt.Errorf("when full: want %q or %q, got %q", Wait, Fail, o.WhenFull)
	}
	return nil
}

// State is what a sink is doing.
type State string

// Sink states.
const (
	// StateOK: the last write succeeded (or none was needed yet).
	StateOK State = "ok"
	// StateRetrying: the last write failed; the sink retries with backoff
	// and keeps accepting into its queue.
	StateRetrying State = "retrying"
	// StateClosed: the sink is closed.
	StateClosed State = "closed"
)

// Status is a sink's state and counters, for node status and metrics.
type Status struct {
	State State `json:"state"`
	// Queued counts the items accepted and not yet written (in the spool
	// or, without one, in memory); InMemory those of them held in memory.
	Queued   int64 `json:"queued"`
	InMemory int   `json:"inMemory"`
	// SpoolBytes is the spool's size on disk (not yet written items), of
	// at most SpoolMaxBytes; both 0 without a spool.
	SpoolBytes    int64 `json:"spoolBytes"`
	SpoolMaxBytes int64 `json:"spoolMaxBytes,omitempty"`
	// Accepted, Written: items taken from the flow, written to the target.
	Accepted uint64 `json:"accepted"`
	Written  uint64 `json:"written"`
	// Batches is the number of successful writes.
	Batches uint64 `json:"batches"`
	// Failures counts failed write attempts (each is retried).
	Failures uint64 `json:"failures"`
	// Rejected counts items the target refused for good (dropped, logged).
	Rejected uint64 `json:"rejected"`
	// Refused counts items Accept refused (queue full, sink closed): the
	// flow got a Failure for them.
	Refused       uint64  `json:"refused"`
	LastBatchSize int     `json:"lastBatchSize"`
	LastWriteMs   float64 `json:"lastWriteMs"`
	// WriteSeconds is the time spent in successful writes.
	WriteSeconds float64   `json:"writeSeconds"`
	LastError    string    `json:"lastError,omitempty"`
	LastErrorAt  time.Time `json:"lastErrorAt,omitzero"`
	Since        time.Time `json:"since"`
}

type entry[T any] struct {
	item T
	end  pos // the position after this item
}

// Batcher batches items to a Writer; see the package doc. Open one per
// sink node, share it between the versions of the node's flow (Acquire),
// and Close it when the last one goes.
type Batcher[T any] struct {
	w     Writer[T]
	codec Codec[T]
	log   *slog.Logger
	name  string

	base    context.Context // cancelled when the loop must stop now
	cancel  context.CancelFunc
	wake    chan struct{} // the loop has work
	closeCh chan struct{} // closed by Close
	done    chan struct{} // closed when the loop ends

	mu  sync.Mutex
	o   Options
	sp  *spool // nil: memory only
	mem []entry[T]
	// tracking: mem holds every item from the cursor to the head; when
	// false, the items after mem are on disk only.
	tracking bool
	depth    int64
	memHead  int64     // memory mode: items ever accepted (their positions)
	oldest   time.Time // when the queue last became non-empty
	dirty    bool      // the spool has unsynced writes
	lastSync time.Time
	closing  bool
	abort    bool
	space    chan struct{} // closed (and replaced) when room is made
	st       Status
}

// Open starts a batcher writing to w. With o.SpoolDir set, it opens the
// spool there (codec required) and replays what it holds first.
func Open[T any](w Writer[T], codec Codec[T], o Options) (*Batcher[T], error) {
	if err := o.defaults(); err != nil {
		return nil, fmt.Errorf("sink %s: %w", o.Name, err)
	}
	if o.SpoolDir != "" && codec == nil {
		return nil, fmt.Errorf("sink %s: a spool needs a codec", o.Name)
	}
	now := time.Now()
	b := &Batcher[T]{
		w: w, codec: codec, name: o.Name, log: o.Logger.With("sink", o.Name),
		wake: make(chan struct{}, 1), closeCh: make(chan struct{}), done: make(chan struct{}),
		o: o, tracking: true, space: make(chan struct{}), lastSync: now,
		st: Status{State: StateOK, Since: now},
	}
	if o.SpoolDir != "" {
		sp, records, err := openSpool(o.SpoolDir, o.SegmentBytes, b.log)
		if err != nil {
			return nil, fmt.Errorf("sink %s: %w", o.Name, err)
		}
		b.sp = sp
		b.depth = records
		b.tracking = records == 0
		if records > 0 {
			b.log.Info("sink spool holds items from before: replaying them first", "items", records, "bytes", sp.bytes())
		}
	}
	b.base, b.cancel = context.WithCancel(context.Background())
	go b.run()
	return b, nil
}

// Retune applies o's batch size, interval, queue size, when-full, spool
// bound, backoff and write timeout (a redeployed node's new settings); the
// spool directory and segment size stay.
func (b *Batcher[T]) Retune(o Options) {
	b.mu.Lock()
	o.SpoolDir, o.SegmentBytes, o.Logger, o.Name = b.o.SpoolDir, b.o.SegmentBytes, b.o.Logger, b.o.Name
	if err := o.defaults(); err != nil {
		b.mu.Unlock()
		b.log.Warn("sink: settings not applied", "err", err)
		return
	}
	b.o = o
	b.mu.Unlock()
	b.signal()
}

func (b *Batcher[T]) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Accept queues items, all or none, in order. With a spool they are on
// disk when it returns. A full queue fails at once or waits until ctx
// ends, as WhenFull says.
func (b *Batcher[T]) Accept(ctx context.Context, items []T) error {
	n := len(items)
	if n == 0 {
		return nil
	}
	var frames []byte
	if b.sp != nil {
		for i := range items {
			start := len(frames)
			frames = append(frames, 0, 0, 0, 0, 0, 0, 0, 0)
			frames = b.codec.Append(frames, items[i])
			payload := frames[start+frameHeader:]
			binary.LittleEndian.PutUint32(frames[start:], uint32(len(payload)))
			binary.LittleEndian.PutUint32(frames[start+4:], crc32.Checksum(payload, crcTable))
		}
	}
	b.mu.Lock()
	for {
		if b.closing {
			b.st.Refused += uint64(n)
			b.mu.Unlock()
			return fmt.Errorf("sink %s: %w", b.name, ErrClosed)
		}
		fits, never := b.fits(n, int64(len(frames)))
		if never {
			b.st.Refused += uint64(n)
			b.mu.Unlock()
			if b.sp != nil {
				return fmt.Errorf("sink %s: %d items of %d bytes: %w (spool of at most %d bytes)", b.name, n, len(frames), ErrTooLarge, b.o.SpoolMaxBytes)
			}
			return fmt.Errorf("sink %s: %d items: %w (of at most %d items)", b.name, n, ErrTooLarge, b.o.QueueSize)
		}
		if fits {
			break
		}
		if b.o.WhenFull == Fail {
			err := b.fullError(nil)
			b.st.Refused += uint64(n)
			b.mu.Unlock()
			return err
		}
		room := b.space
		b.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			b.mu.Lock()
			err := b.fullError(context.Cause(ctx))
			b.st.Refused += uint64(n)
			b.mu.Unlock()
			return err
		}
		b.mu.Lock()
	}
	defer b.mu.Unlock()
	var start pos
	if b.sp != nil {
		at, err := b.sp.append(frames)
		if err != nil {
			b.st.Refused += uint64(n)
			return fmt.Errorf("sink %s: %w", b.name, err)
		}
		start, b.dirty = at, true
	} else {
		start = pos{off: b.memHead}
		b.memHead += int64(n)
	}
	wasEmpty := b.depth == 0
	b.depth += int64(n)
	b.st.Accepted += uint64(n)
	if b.tracking && len(b.mem)+n <= b.o.QueueSize {
		p, off := start, 0
		for i := range items {
			if b.sp != nil {
				off += frameHeader + int(binary.LittleEndian.Uint32(frames[off:]))
				p.off = start.off + int64(off)
			} else {
				p.off = start.off + int64(i) + 1
			}
			b.mem = append(b.mem, entry[T]{item: items[i], end: p})
		}
	} else {
		b.tracking = false // only with a spool: without one, fits checked the room
	}
	if wasEmpty {
		b.oldest = time.Now()
	}
	if wasEmpty || b.depth >= int64(b.o.BatchSize) {
		b.signal()
	}
	return nil
}

// fits says whether n items (frames bytes) fit now, and whether they
// never could.
func (b *Batcher[T]) fits(n int, frames int64) (fits, never bool) {
	if b.sp != nil {
		return b.sp.bytes()+frames <= b.o.SpoolMaxBytes, frames > b.o.SpoolMaxBytes
	}
	return len(b.mem)+n <= b.o.QueueSize, n > b.o.QueueSize
}

func (b *Batcher[T]) fullError(cause error) error {
	why := "the target is slower than the input"
	if b.st.State == StateRetrying {
		why = "the target is failing: " + b.st.LastError
	}
	what := fmt.Sprintf("%d items queued", b.depth)
	if b.sp != nil {
		what = fmt.Sprintf("%d items queued, %d of %d spool bytes", b.depth, b.sp.bytes(), b.o.SpoolMaxBytes)
	}
	if cause != nil {
		return fmt.Errorf("sink %s: %w (%s; %s); gave up waiting: %w", b.name, ErrFull, what, why, cause)
	}
	return fmt.Errorf("sink %s: %w (%s; %s)", b.name, ErrFull, what, why)
}

// Status reports the sink's state and counters.
func (b *Batcher[T]) Status() Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.st
	st.Queued = b.depth
	st.InMemory = len(b.mem)
	if b.sp != nil && b.sp.wf != nil {
		st.SpoolBytes = b.sp.bytes()
		st.SpoolMaxBytes = b.o.SpoolMaxBytes
	}
	return st
}

// run is the loop that writes batches, one at a time, in order.
func (b *Batcher[T]) run() {
	defer close(b.done)
	var (
		batch   []T
		end     pos
		fromMem int
		delay   time.Duration
	)
	for {
		b.mu.Lock()
		// Closing while the target fails: with a spool, the queue waits
		// there for the next start rather than hold up the shutdown.
		if b.abort || b.closing && b.sp != nil && b.st.State == StateRetrying {
			b.mu.Unlock()
			return
		}
		b.maybeSync()
		if batch == nil {
			if b.depth == 0 {
				closing := b.closing
				b.mu.Unlock()
				if closing {
					return
				}
				b.idle(0)
				continue
			}
			wait := b.o.Interval - time.Since(b.oldest)
			if !b.closing && b.depth < int64(b.o.BatchSize) && wait > 0 {
				b.mu.Unlock()
				b.idle(wait)
				continue
			}
			if len(b.mem) > 0 {
				fromMem = min(b.o.BatchSize, len(b.mem))
				batch = make([]T, fromMem)
				for i := range batch {
					batch[i] = b.mem[i].item
				}
				end = b.mem[fromMem-1].end
				b.mu.Unlock()
			} else {
				from, segs, size := b.sp.cursor, b.sp.segmentsFrom(b.sp.cursor), b.o.BatchSize
				b.mu.Unlock()
				fromMem = 0
				var err error
				batch, end, err = b.readBatch(from, segs, size)
				if err != nil {
					b.mu.Lock()
					b.failed(fmt.Errorf("read spool: %w", err))
					b.mu.Unlock()
					batch = nil
					delay = b.backoff(delay)
					if !b.sleep(delay) {
						return
					}
					continue
				}
				if len(batch) == 0 { // only unreadable records: skip them
					b.mu.Lock()
					b.confirm(end, 0, 0, 0, nil)
					b.mu.Unlock()
					batch = nil
					continue
				}
			}
		} else {
			b.mu.Unlock()
		}

		start := time.Now()
		err := b.write(batch)
		took := time.Since(start)

		b.mu.Lock()
		if err == nil || IsPermanent(err) {
			b.confirm(end, len(batch), fromMem, took, err)
			b.mu.Unlock()
			batch, delay = nil, 0
			continue
		}
		b.failed(err)
		// Closing with a spool: the spool keeps the rest for the next start.
		giveUp := b.closing && b.sp != nil
		b.mu.Unlock()
		if giveUp {
			return
		}
		delay = b.backoff(delay)
		if !b.sleep(delay) {
			return
		}
	}
}

// write calls the target with a deadline; a panic is an error.
func (b *Batcher[T]) write(batch []T) (err error) {
	b.mu.Lock()
	timeout := b.o.WriteTimeout
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(b.base, timeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("target panicked: %v", r)
		}
	}()
	return b.w.Write(ctx, batch)
}

// readBatch decodes up to size items from the spool at from.
func (b *Batcher[T]) readBatch(from pos, segs []segment, size int) ([]T, pos, error) {
	out := make([]T, 0, size)
	end, err := b.sp.read(from, segs, size, func(payload []byte, _ pos) error {
		item, err := b.codec.Decode(payload)
		if err != nil {
			return fmt.Errorf("decode a spooled item: %w", err)
		}
		out = append(out, item)
		return nil
	})
	return out, end, err
}

// confirm records a finished write of n items ending at end (under mu).
func (b *Batcher[T]) confirm(end pos, n, fromMem int, took time.Duration, permanent error) {
	now := time.Now()
	if b.sp != nil {
		b.sp.confirm(end, now)
	}
	b.depth -= int64(n)
	b.mem = b.mem[fromMem:]
	if len(b.mem) == 0 {
		b.mem = nil // let the backing array go
		if b.sp == nil || b.sp.cursor == b.sp.head() {
			b.tracking, b.depth = true, 0
		}
	}
	if b.depth < 0 {
		b.depth = 0
	}
	if b.depth > 0 {
		b.oldest = now
	}
	if permanent != nil {
		b.st.Rejected += uint64(n)
		b.st.LastError, b.st.LastErrorAt = permanent.Error(), now
		b.log.Error("sink: the target refused a batch for good: its items are dropped", "items", n, "err", permanent)
	} else if n > 0 {
		b.st.Written += uint64(n)
		b.st.Batches++
		b.st.LastBatchSize = n
		b.st.LastWriteMs = float64(took.Microseconds()) / 1000
		b.st.WriteSeconds += took.Seconds()
	}
	if b.st.State == StateRetrying {
		b.log.Info("sink: the target takes writes again", "queued", b.depth)
	}
	b.st.State = StateOK
	close(b.space)
	b.space = make(chan struct{})
}

// failed records a failed write (under mu).
func (b *Batcher[T]) failed(err error) {
	if b.st.State != StateRetrying {
		b.log.Warn("sink: write failed: retrying with backoff; items wait in the queue", "queued", b.depth, "err", err)
	}
	b.st.State = StateRetrying
	b.st.Failures++
	b.st.LastError, b.st.LastErrorAt = err.Error(), time.Now()
}

// backoff is the next wait after prev: doubled, within the bounds, ±20%.
func (b *Batcher[T]) backoff(prev time.Duration) time.Duration {
	b.mu.Lock()
	lo, hi := b.o.RetryMin, b.o.RetryMax
	b.mu.Unlock()
	next := min(max(2*prev, lo), hi)
	jitter := time.Duration((rand.Float64()*0.4 - 0.2) * float64(next))
	return next + jitter
}

// sleep waits d; Close cuts it short (once) for a last attempt. It
// returns false when the loop must stop now.
func (b *Batcher[T]) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	b.mu.Lock()
	var closeCh <-chan struct{}
	if !b.closing {
		closeCh = b.closeCh
	}
	b.mu.Unlock()
	select {
	case <-t.C:
	case <-closeCh:
	case <-b.base.Done():
		return false
	}
	return true
}

// idle waits for work, at most wait (0: until woken), waking for the
// periodic spool sync.
func (b *Batcher[T]) idle(wait time.Duration) {
	b.mu.Lock()
	if b.dirty {
		untilSync := b.o.SyncEvery - time.Since(b.lastSync)
		if wait <= 0 || untilSync < wait {
			wait = max(untilSync, time.Millisecond)
		}
	}
	var closeCh <-chan struct{}
	if !b.closing {
		closeCh = b.closeCh
	}
	b.mu.Unlock()
	var timeout <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-b.wake:
	case <-timeout:
	case <-closeCh:
	case <-b.base.Done():
	}
}

// maybeSync syncs the spool when it is due (under mu; the sync itself
// runs without it).
func (b *Batcher[T]) maybeSync() {
	if b.sp == nil || !b.dirty || time.Since(b.lastSync) < b.o.SyncEvery {
		return
	}
	f := b.sp.syncFile()
	b.dirty, b.lastSync = false, time.Now()
	b.mu.Unlock()
	// A segment closed meanwhile was synced when it was closed.
	if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
		b.log.Warn("sink spool: sync", "err", err)
	}
	b.mu.Lock()
}

// Close stops accepting, writes what the queue holds while ctx lasts (with
// a spool: one attempt, then the rest stays in the spool for the next
// start), and closes the spool. Without a spool, the items it could not
// write are lost: the error says how many.
func (b *Batcher[T]) Close(ctx context.Context) error {
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		<-b.done
		return nil
	}
	b.closing = true
	close(b.closeCh)
	close(b.space) // waiting Accepts see closing
	b.space = make(chan struct{})
	b.mu.Unlock()
	select {
	case <-b.done:
	case <-ctx.Done():
		b.mu.Lock()
		b.abort = true
		b.mu.Unlock()
		b.cancel() // ends a write in progress
		<-b.done
	}
	b.cancel()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.st.State = StateClosed
	left := b.depth
	if b.sp != nil {
		if err := b.sp.close(time.Now()); err != nil {
			return fmt.Errorf("sink %s: close spool: %w", b.name, err)
		}
		if left > 0 {
			b.log.Info("sink closed: items stay in the spool for the next start", "items", left, "dir", b.o.SpoolDir)
		}
		return nil
	}
	if left > 0 {
		return fmt.Errorf("sink %s: closed with %d items not written (no spool: they are lost)", b.name, left)
	}
	return nil
}

// abandon stops the batcher as a killed process would: no last write, no
// sync, no cursor saved. For tests of the spool's replay.
func (b *Batcher[T]) abandon() {
	b.mu.Lock()
	b.closing, b.abort = true, true
	close(b.closeCh)
	close(b.space)
	b.space = make(chan struct{})
	b.mu.Unlock()
	b.cancel()
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sp != nil {
		b.sp.abandon()
	}
	b.st.State = StateClosed
}
