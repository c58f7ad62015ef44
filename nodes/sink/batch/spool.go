package batch

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The spool is an append-only log of records in segment files
// (0000000000000001.seg, ...) and a cursor file naming the first record not
// yet written to the target. A record is framed as
//
//	length uint32 | crc32c(payload) uint32 | payload
//
// (little endian). A record is on disk (in the kernel: it survives the
// process, not a power loss before the next sync) before Accept returns; a
// torn record at the end of the last segment, left by a crash in the
// middle of a write, is cut off when the spool opens.

const (
	frameHeader = 8
	// maxRecord bounds one record: a longer length is corruption.
	maxRecord  = 64 << 20
	segSuffix  = ".seg"
	cursorFile = "cursor"
	// cursorSaveEvery throttles saving the cursor after writes: a crash
	// replays at most this much already written data (the target
	// deduplicates where it can).
	cursorSaveEvery = 200 * time.Millisecond
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// pos is a record position: a segment and a byte offset in it. Without a
// spool, off counts records.
type pos struct {
	seg uint64
	off int64
}

func (p pos) less(q pos) bool { return p.seg < q.seg || p.seg == q.seg && p.off < q.off }

type segment struct {
	id   uint64
	size int64
}

type spool struct {
	dir      string
	segBytes int64
	log      *slog.Logger

	// Guarded by the batcher's mutex.
	segs     []segment // ascending; the last one is written to
	wf       *os.File
	cursor   pos
	lastSave time.Time
	saved    pos

	// The reader belongs to the batcher's loop.
	rf   *os.File
	rseg uint64
	rbuf *bufio.Reader
	roff int64
}

func segName(id uint64) string { return fmt.Sprintf("%016x%s", id, segSuffix) }

// openSpool opens (creating) the spool in dir and returns it with the
// number of records not yet written.
func openSpool(dir string, segBytes int64, log *slog.Logger) (*spool, int64, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, 0, fmt.Errorf("spool %s: %w", dir, err)
	}
	s := &spool{dir: dir, segBytes: segBytes, log: log}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, 0, fmt.Errorf("spool %s: %w", dir, err)
	}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(name, segSuffix) {
			continue
		}
		id, err := strconv.ParseUint(strings.TrimSuffix(name, segSuffix), 16, 64)
		if err != nil {
			continue // not ours
		}
		fi, err := e.Info()
		if err != nil {
			return nil, 0, fmt.Errorf("spool %s: %w", dir, err)
		}
		s.segs = append(s.segs, segment{id: id, size: fi.Size()})
	}
	sort.Slice(s.segs, func(i, j int) bool { return s.segs[i].id < s.segs[j].id })
	s.cursor = s.readCursor()
	// Forget the segments the cursor has passed.
	for len(s.segs) > 0 && s.segs[0].id < s.cursor.seg {
		if err := os.Remove(filepath.Join(dir, segName(s.segs[0].id))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, 0, fmt.Errorf("spool %s: remove written segment: %w", dir, err)
		}
		s.segs = s.segs[1:]
	}
	if len(s.segs) == 0 {
		s.segs = []segment{{id: max(s.cursor.seg, 1)}}
		s.cursor = pos{seg: s.segs[0].id}
	} else if s.cursor.seg < s.segs[0].id {
		s.cursor = pos{seg: s.segs[0].id}
	}
	// Check every record not yet written; cut a segment at its first bad
	// record (a torn write at the end of the last one, after a crash).
	var records int64
	for i := range s.segs {
		from := int64(0)
		if s.segs[i].id == s.cursor.seg {
			from = min(s.cursor.off, s.segs[i].size)
			s.cursor.off = from
		}
		n, good, err := s.scan(s.segs[i], from)
		if err != nil {
			return nil, 0, err
		}
		records += n
		if good < s.segs[i].size {
			if i < len(s.segs)-1 {
				log.Error("sink spool: corrupt record: the rest of the segment is lost", "dir", dir, "segment", segName(s.segs[i].id), "offset", good, "bytes", s.segs[i].size-good)
			} else {
				log.Warn("sink spool: incomplete last record cut off (a crash in the middle of a write; it was never acknowledged)", "dir", dir, "segment", segName(s.segs[i].id), "offset", good, "bytes", s.segs[i].size-good)
			}
			if err := os.Truncate(filepath.Join(dir, segName(s.segs[i].id)), good); err != nil {
				return nil, 0, fmt.Errorf("spool %s: cut a bad record: %w", dir, err)
			}
			s.segs[i].size = good
		}
	}
	last := s.segs[len(s.segs)-1]
	f, err := os.OpenFile(filepath.Join(dir, segName(last.id)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("spool %s: %w", dir, err)
	}
	s.wf = f
	s.saved = s.cursor
	return s, records, nil
}

// scan counts the good records of seg from offset from, and returns the
// offset after the last good one.
func (s *spool) scan(seg segment, from int64) (records, good int64, err error) {
	if from >= seg.size {
		return 0, from, nil
	}
	f, err := os.Open(filepath.Join(s.dir, segName(seg.id)))
	if err != nil {
		return 0, 0, fmt.Errorf("spool %s: %w", s.dir, err)
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return 0, 0, fmt.Errorf("spool %s: %w", s.dir, err)
	}
	r := bufio.NewReaderSize(f, 1<<16)
	good = from
	var buf []byte
	for good < seg.size {
		payload, err := readFrame(r, &buf)
		if err != nil {
			break
		}
		good += frameHeader + int64(len(payload))
		records++
	}
	return records, good, nil
}

// errBadFrame reports a frame that fails its checks.
var errBadFrame = errors.New("bad record")

// readFrame reads one frame; buf is reused.
func readFrame(r *bufio.Reader, buf *[]byte) ([]byte, error) {
	var h [frameHeader]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(h[:4])
	if n > maxRecord {
		return nil, fmt.Errorf("%w: length %d", errBadFrame, n)
	}
	if cap(*buf) < int(n) {
		*buf = make([]byte, n)
	}
	b := (*buf)[:n]
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	if crc32.Checksum(b, crcTable) != binary.LittleEndian.Uint32(h[4:]) {
		return nil, fmt.Errorf("%w: checksum", errBadFrame)
	}
	return b, nil
}

// appendFrame frames the payload that fn appends to dst.
func appendFrame(dst []byte, fn func([]byte) []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, frameHeader)...)
	dst = fn(dst)
	payload := dst[start+frameHeader:]
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(payload, crcTable))
	return dst
}

func (s *spool) head() pos {
	last := s.segs[len(s.segs)-1]
	return pos{seg: last.id, off: last.size}
}

// bytes is the size of the records not yet written.
func (s *spool) bytes() int64 {
	var n int64
	for _, seg := range s.segs {
		n += seg.size
	}
	return n - s.cursor.off
}

// append writes framed records in one write, starting a new segment first
// when the current one is full; it returns where they start. On error
// nothing of them stays.
func (s *spool) append(frames []byte) (pos, error) {
	last := &s.segs[len(s.segs)-1]
	if last.size > 0 && last.size+int64(len(frames)) > s.segBytes {
		id := last.id + 1
		f, err := os.OpenFile(filepath.Join(s.dir, segName(id)), os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_TRUNC, 0o600)
		if err != nil {
			return pos{}, fmt.Errorf("spool: new segment: %w", err)
		}
		if err := s.wf.Sync(); err != nil {
			s.log.Warn("sink spool: sync a full segment", "dir", s.dir, "err", err)
		}
		if err := s.wf.Close(); err != nil {
			s.log.Warn("sink spool: close a full segment", "dir", s.dir, "err", err)
		}
		s.wf = f
		s.segs = append(s.segs, segment{id: id})
		last = &s.segs[len(s.segs)-1]
	}
	at := pos{seg: last.id, off: last.size}
	if _, err := s.wf.Write(frames); err != nil {
		// Take back a partial write, so that the log stays whole.
		if terr := s.wf.Truncate(last.size); terr != nil {
			return pos{}, fmt.Errorf("spool: write: %w (and taking it back: %v)", err, terr)
		}
		return pos{}, fmt.Errorf("spool: write: %w", err)
	}
	last.size += int64(len(frames))
	return at, nil
}

// syncFile is the segment being written, for the loop's periodic sync.
func (s *spool) syncFile() *os.File { return s.wf }

// segmentsFrom returns the segments from p on (a snapshot for the reader).
func (s *spool) segmentsFrom(p pos) []segment {
	i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].id >= p.seg })
	return append([]segment(nil), s.segs[i:]...)
}

// read decodes up to max records from p, within segs (a snapshot), and
// calls fn with each payload and the position after it. It returns the
// position after the last record read. A bad record ends its segment (the
// rest of the segment is skipped, and logged).
func (s *spool) read(p pos, segs []segment, max int, fn func(payload []byte, end pos) error) (pos, error) {
	// Drop what the buffer read ahead last time: it may hold the start of
	// a record that was being written (or was taken back since).
	s.roff = -1
	var buf []byte
	n := 0
	for n < max && len(segs) > 0 {
		seg := segs[0]
		if p.seg < seg.id {
			p = pos{seg: seg.id}
		}
		if p.off >= seg.size {
			if len(segs) == 1 {
				break // the head
			}
			segs = segs[1:]
			p = pos{seg: segs[0].id}
			continue
		}
		if err := s.seekReader(p); err != nil {
			return p, err
		}
		payload, err := readFrame(s.rbuf, &buf)
		if err != nil {
			s.log.Error("sink spool: unreadable record: the rest of the segment is skipped", "dir", s.dir, "segment", segName(seg.id), "offset", p.off, "bytes", seg.size-p.off, "err", err)
			s.closeReader()
			p.off = seg.size
			continue
		}
		s.roff += frameHeader + int64(len(payload))
		p.off = s.roff
		if err := fn(payload, p); err != nil {
			return p, err
		}
		n++
	}
	return p, nil
}

func (s *spool) seekReader(p pos) error {
	if s.rf != nil && s.rseg == p.seg && s.roff == p.off {
		return nil
	}
	if s.rf == nil || s.rseg != p.seg {
		s.closeReader()
		f, err := os.Open(filepath.Join(s.dir, segName(p.seg)))
		if err != nil {
			return fmt.Errorf("spool: read: %w", err)
		}
		s.rf, s.rseg = f, p.seg
		s.rbuf = bufio.NewReaderSize(f, 1<<16)
	}
	if _, err := s.rf.Seek(p.off, io.SeekStart); err != nil {
		return fmt.Errorf("spool: read: %w", err)
	}
	s.rbuf.Reset(s.rf)
	s.roff = p.off
	return nil
}

func (s *spool) closeReader() {
	if s.rf != nil {
		_ = s.rf.Close() // read-only
		s.rf, s.rbuf = nil, nil
	}
}

// confirm moves the cursor to p (everything before it is written),
// removes the segments it has passed and saves the cursor (at most every
// cursorSaveEvery, and whenever a segment goes).
func (s *spool) confirm(p pos, now time.Time) {
	s.cursor = p
	// At the end of a full segment, the next record is in the next one.
	for len(s.segs) > 1 && s.cursor.seg == s.segs[0].id && s.cursor.off >= s.segs[0].size {
		s.cursor = pos{seg: s.segs[1].id}
	}
	removed := false
	for len(s.segs) > 1 && s.segs[0].id < s.cursor.seg {
		if s.rf != nil && s.rseg == s.segs[0].id {
			s.closeReader()
		}
		if err := os.Remove(filepath.Join(s.dir, segName(s.segs[0].id))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("sink spool: remove a written segment", "dir", s.dir, "err", err)
		}
		s.segs = s.segs[1:]
		removed = true
	}
	if removed || now.Sub(s.lastSave) >= cursorSaveEvery {
		s.saveCursor(now)
	}
}

// saveCursor writes the cursor (write then rename: never half a cursor).
func (s *spool) saveCursor(now time.Time) {
	if s.cursor == s.saved {
		return
	}
	var b [20]byte
	binary.LittleEndian.PutUint64(b[:8], s.cursor.seg)
	binary.LittleEndian.PutUint64(b[8:16], uint64(s.cursor.off))
	binary.LittleEndian.PutUint32(b[16:], crc32.Checksum(b[:16], crcTable))
	tmp := filepath.Join(s.dir, cursorFile+".tmp")
	if err := os.WriteFile(tmp, b[:], 0o600); err != nil {
		s.log.Warn("sink spool: save cursor (a restart replays more)", "dir", s.dir, "err", err)
		return
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, cursorFile)); err != nil {
		s.log.Warn("sink spool: save cursor (a restart replays more)", "dir", s.dir, "err", err)
		return
	}
	s.saved, s.lastSave = s.cursor, now
}

// readCursor reads the cursor file; a missing or damaged one starts from
// the first segment (replaying: at least once).
func (s *spool) readCursor() pos {
	b, err := os.ReadFile(filepath.Join(s.dir, cursorFile))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("sink spool: cursor unreadable: replaying from the oldest segment", "dir", s.dir, "err", err)
		}
		return pos{}
	}
	if len(b) != 20 || crc32.Checksum(b[:16], crcTable) != binary.LittleEndian.Uint32(b[16:]) {
		s.log.Warn("sink spool: cursor damaged: replaying from the oldest segment", "dir", s.dir)
		return pos{}
	}
	return pos{seg: binary.LittleEndian.Uint64(b[:8]), off: int64(binary.LittleEndian.Uint64(b[8:16]))}
}

// close syncs and closes the files and saves the cursor.
func (s *spool) close(now time.Time) error {
	s.closeReader()
	s.saveCursor(now)
	var errs []error
	if s.wf != nil {
		errs = append(errs, s.wf.Sync(), s.wf.Close())
		s.wf = nil
	}
	return errors.Join(errs...)
}

// abandon closes the files as a killed process would: no sync, no cursor.
func (s *spool) abandon() {
	s.closeReader()
	if s.wf != nil {
		_ = s.wf.Close() // what was written stays, as after a kill
		s.wf = nil
	}
}
