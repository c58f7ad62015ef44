package tcp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// fuzzFramings are the framings the fuzz target exercises, chosen by a byte.
var fuzzFramings = []Framing{
	{Mode: FrameNewline},
	{Mode: FrameDelimiter, Delimiter: []byte("||")},
	{Mode: FrameDelimiter, Delimiter: []byte("\r\n")},
	{Mode: FrameLength, LengthBytes: 1},
	{Mode: FrameLength, LengthBytes: 2},
	{Mode: FrameLength, LengthBytes: 2, LittleEndian: true, LengthIncludesHeader: true},
	{Mode: FrameLength, LengthBytes: 4, LittleEndian: true},
	{Mode: FrameFixed, FixedSize: 3},
}

type decoded struct {
	frames [][]byte
	err    error
}

func decodeAll(r io.Reader, f Framing) decoded {
	d := NewDecoder(r, f)
	var out decoded
	for {
		fr, err := d.Next()
		if err != nil {
			out.err = err
			return out
		}
		out.frames = append(out.frames, bytes.Clone(fr))
		if len(out.frames) > 1<<16 {
			out.err = errors.New("too many frames")
			return out
		}
	}
}

// twoChunks returns data in two reads, split at cut.
type twoChunks struct {
	data []byte
	cut  int
	n    int
}

func (r *twoChunks) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	end := len(r.data)
	if r.n == 0 && r.cut < end {
		end = r.cut
	}
	r.n++
	n := copy(p, r.data[:end])
	r.data = r.data[n:]
	return n, nil
}

func sameResult(a, b decoded) bool {
	if len(a.frames) != len(b.frames) || !errors.Is(a.err, b.err) && a.err.Error() != b.err.Error() {
		return false
	}
	for i := range a.frames {
		if !bytes.Equal(a.frames[i], b.frames[i]) {
			return false
		}
	}
	return true
}

// FuzzDecoder checks that no input makes the decoder panic or return a frame
// over the limit, that the frames do not depend on how the stream is split
// into reads, and that length-prefixed and fixed frames round-trip.
func FuzzDecoder(f *testing.F) {
	f.Add(uint8(0), uint8(16), []byte("hello\r\nworld\n\nlast"))
	f.Add(uint8(1), uint8(4), []byte("a|b||c||||toolongframe||"))
	f.Add(uint8(2), uint8(8), []byte("x\r\ny\rz\r\n"))
	f.Add(uint8(3), uint8(8), []byte("\x03abc\x00\x09123456789"))
	f.Add(uint8(4), uint8(32), []byte("\x00\x05hello\x00"))
	f.Add(uint8(5), uint8(32), []byte("\x05\x00abc\x01\x00"))
	f.Add(uint8(6), uint8(64), []byte("\x04\x00\x00\x00abcd\xff\xff\xff\xff"))
	f.Add(uint8(7), uint8(3), []byte("abcdefgh"))
	f.Fuzz(func(t *testing.T, sel, maxFrame uint8, data []byte) {
		fr := fuzzFramings[int(sel)%len(fuzzFramings)]
		fr.MaxFrame = int(maxFrame)%64 + 3
		if err := fr.check(); err != nil {
			t.Fatalf("framing %+v: %v", fr, err)
		}
		whole := decodeAll(bytes.NewReader(data), fr)
		for _, frame := range whole.frames {
			if len(frame) == 0 || len(frame) > fr.MaxFrame {
				t.Fatalf("frame of %d bytes (max %d)", len(frame), fr.MaxFrame)
			}
		}
		if oneByte := decodeAll(iotest.OneByteReader(bytes.NewReader(data)), fr); !sameResult(whole, oneByte) {
			t.Fatalf("byte by byte: %q %v; at once: %q %v", oneByte.frames, oneByte.err, whole.frames, whole.err)
		}
		if split := decodeAll(&twoChunks{data: data, cut: len(data) / 2}, fr); !sameResult(whole, split) {
			t.Fatalf("in two reads: %q %v; at once: %q %v", split.frames, split.err, whole.frames, whole.err)
		}

		// Round trip: cut data into frames, encode them, decode them.
		if fr.Mode != FrameLength && fr.Mode != FrameFixed {
			return
		}
		size := fr.MaxFrame
		if fr.Mode == FrameFixed {
			size = fr.FixedSize
		}
		var frames [][]byte
		var stream []byte
		for rest := data; len(rest) >= size || (fr.Mode == FrameLength && len(rest) > 0); {
			n := min(size, len(rest))
			frames = append(frames, rest[:n])
			stream = appendFrame(stream, fr, rest[:n])
			rest = rest[n:]
		}
		got := decodeAll(bytes.NewReader(stream), fr)
		if !errors.Is(got.err, io.EOF) || len(got.frames) != len(frames) {
			t.Fatalf("round trip: %d frames, %v; want %d", len(got.frames), got.err, len(frames))
		}
		for i := range frames {
			if !bytes.Equal(got.frames[i], frames[i]) {
				t.Fatalf("round trip: frame %d = %q, want %q", i, got.frames[i], frames[i])
			}
		}
	})
}

func appendFrame(b []byte, f Framing, p []byte) []byte {
	if f.Mode == FrameFixed {
		return append(b, p...)
	}
	n := len(p)
	if f.LengthIncludesHeader {
		n += f.LengthBytes
	}
	var order binary.AppendByteOrder = binary.BigEndian
	if f.LittleEndian {
		order = binary.LittleEndian
	}
	switch f.LengthBytes {
	case 1:
		b = append(b, byte(n))
	case 2:
		b = order.AppendUint16(b, uint16(n))
	default:
		b = order.AppendUint32(b, uint32(n))
	}
	return append(b, p...)
}
