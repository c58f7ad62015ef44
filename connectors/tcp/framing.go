package tcp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Framing modes.
const (
	FrameNewline   = "newline"
	FrameLength    = "length"
	FrameFixed     = "fixed"
	FrameDelimiter = "delimiter"
)

// ErrFrameTooLarge is returned for a frame longer than Framing.MaxFrame; the
// stream cannot be resynchronised after it, so the connection is closed.
var ErrFrameTooLarge = errors.New("frame too large")

// Framing says how a byte stream is cut into frames.
type Framing struct {
	Mode string
	// LengthBytes is the size of a length prefix: 1, 2 or 4.
	LengthBytes int
	// LittleEndian length prefixes (big endian otherwise).
	LittleEndian bool
	// LengthIncludesHeader: the prefix counts itself as well as the payload.
	LengthIncludesHeader bool
	// FixedSize is the size of every frame in FrameFixed mode.
	FixedSize int
	// Delimiter ends a frame in FrameDelimiter mode ("\n" in FrameNewline).
	Delimiter []byte
	// MaxFrame bounds a frame's payload.
	MaxFrame int
}

func (f Framing) check() error {
	if f.MaxFrame <= 0 {
		return errors.New("framing: max frame size must be positive")
	}
	switch f.Mode {
	case FrameNewline:
	case FrameDelimiter:
		if len(f.Delimiter) == 0 {
			return errors.New("framing: empty delimiter")
		}
	case FrameLength:
		if f.LengthBytes != 1 && f.LengthBytes != 2 && f.LengthBytes != 4 {
			return fmt.Errorf("framing: length prefix of %d bytes: want 1, 2 or 4", f.LengthBytes)
		}
	case FrameFixed:
		if f.FixedSize <= 0 || f.FixedSize > f.MaxFrame {
			return fmt.Errorf("framing: fixed size %d: want 1 to %d", f.FixedSize, f.MaxFrame)
		}
	default:
		return fmt.Errorf("framing: unknown mode %q", f.Mode)
	}
	return nil
}

// Decoder cuts frames from a stream.
type Decoder struct {
	r     *bufio.Reader
	f     Framing
	delim []byte
	buf   []byte
	hdr   [4]byte
}

// NewDecoder returns a decoder of r; f must be valid (see Framing.check).
func NewDecoder(r io.Reader, f Framing) *Decoder {
	d := &Decoder{f: f, delim: f.Delimiter}
	if f.Mode == FrameNewline {
		d.delim = []byte{'\n'}
	}
	size := 4096
	if f.Mode == FrameFixed && f.FixedSize > size {
		size = f.FixedSize
	}
	d.r = bufio.NewReaderSize(r, size)
	return d
}

// Next returns the next frame. The slice is valid until the next call. Empty
// frames (an empty line, a zero length prefix) are skipped. At the end of the
// stream it returns io.EOF; a stream that ends inside a length-prefixed or
// fixed frame returns io.ErrUnexpectedEOF, while trailing bytes without a
// delimiter are returned as a last frame, as bufio.Scanner does.
func (d *Decoder) Next() ([]byte, error) {
	for {
		var frame []byte
		var err error
		switch d.f.Mode {
		case FrameNewline, FrameDelimiter:
			frame, err = d.delimited()
		case FrameLength:
			frame, err = d.lengthPrefixed()
		case FrameFixed:
			frame, err = d.fixed()
		default:
			return nil, fmt.Errorf("framing: unknown mode %q", d.f.Mode)
		}
		if err != nil || len(frame) > 0 {
			return frame, err
		}
	}
}

func (d *Decoder) delimited() ([]byte, error) {
	d.buf = d.buf[:0]
	last := d.delim[len(d.delim)-1]
	limit := d.f.MaxFrame + len(d.delim)
	if d.f.Mode == FrameNewline {
		limit++ // a "\r" before the "\n"
	}
	for {
		if d.r.Buffered() == 0 {
			// One read of whatever has arrived: the size check below sees
			// every byte as it comes, so an endless frame is cut early.
			if _, err := d.r.Peek(1); err != nil {
				if !errors.Is(err, io.EOF) {
					return nil, err
				}
				if len(d.buf) == 0 {
					return nil, io.EOF
				}
				if len(d.buf) > d.f.MaxFrame {
					return nil, ErrFrameTooLarge
				}
				// The last frame, without its delimiter; the next call
				// returns io.EOF.
				frame := d.buf
				d.buf = d.buf[:0]
				return frame, nil
			}
		}
		avail, _ := d.r.Peek(d.r.Buffered())
		i := bytes.IndexByte(avail, last)
		if i < 0 {
			d.buf = append(d.buf, avail...)
			_, _ = d.r.Discard(len(avail))
			if len(d.buf) > limit {
				return nil, ErrFrameTooLarge
			}
			continue
		}
		d.buf = append(d.buf, avail[:i+1]...)
		_, _ = d.r.Discard(i + 1)
		if !bytes.HasSuffix(d.buf, d.delim) {
			if len(d.buf) > limit {
				return nil, ErrFrameTooLarge
			}
			continue
		}
		frame := d.buf[:len(d.buf)-len(d.delim)]
		if d.f.Mode == FrameNewline {
			frame = bytes.TrimSuffix(frame, []byte{'\r'})
		}
		if len(frame) > d.f.MaxFrame {
			return nil, ErrFrameTooLarge
		}
		return frame, nil
	}
}

func (d *Decoder) lengthPrefixed() ([]byte, error) {
	n := d.f.LengthBytes
	if _, err := io.ReadFull(d.r, d.hdr[:n]); err != nil {
		return nil, err
	}
	var order binary.ByteOrder = binary.BigEndian
	if d.f.LittleEndian {
		order = binary.LittleEndian
	}
	var size uint64
	switch n {
	case 1:
		size = uint64(d.hdr[0])
	case 2:
		size = uint64(order.Uint16(d.hdr[:2]))
	default:
		size = uint64(order.Uint32(d.hdr[:4]))
	}
	if d.f.LengthIncludesHeader {
		if size < uint64(n) {
			return nil, fmt.Errorf("framing: length %d is shorter than its %d-byte prefix", size, n)
		}
		size -= uint64(n)
	}
	if size > uint64(d.f.MaxFrame) {
		return nil, fmt.Errorf("%w: %d bytes announced, at most %d allowed", ErrFrameTooLarge, size, d.f.MaxFrame)
	}
	return d.readN(int(size))
}

func (d *Decoder) fixed() ([]byte, error) { return d.readN(d.f.FixedSize) }

func (d *Decoder) readN(n int) ([]byte, error) {
	if cap(d.buf) < n {
		d.buf = make([]byte, n)
	}
	d.buf = d.buf[:n]
	if _, err := io.ReadFull(d.r, d.buf); err != nil {
		if errors.Is(err, io.EOF) && n > 0 && d.f.Mode == FrameLength {
			return nil, io.ErrUnexpectedEOF // the prefix was read
		}
		return nil, err
	}
	return d.buf, nil
}
