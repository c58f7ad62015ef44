package modbus

import (
	"cmp"
	"slices"
)

// Area is one of the four Modbus data tables.
type Area string

// Modbus data areas.
const (
	Holding  Area = "holding"  // read-write registers (function 3, written with 6 and 16)
	Input    Area = "input"    // read-only registers (function 4)
	Coil     Area = "coil"     // read-write bits (function 1, written with 5)
	Discrete Area = "discrete" // read-only bits (function 2)
)

var areaNames = []string{string(Holding), string(Input), string(Coil), string(Discrete)}

// bits reports whether the area holds single bits rather than registers.
func (a Area) bits() bool { return a == Coil || a == Discrete }

// Request limits of the Modbus application protocol (V1.1b3 §6.1–6.4).
const (
	maxRegistersPerRead = 125
	maxBitsPerRead      = 2000
)

// maxPerRead is the most registers or bits one read request may cover.
func (a Area) maxPerRead() int {
	if a.bits() {
		return maxBitsPerRead
	}
	return maxRegistersPerRead
}

// span is one value to read: its area, first address and width (registers,
// or 1 for a bit).
type span struct {
	area  Area
	addr  int
	width int
}

// block is one read request: count registers or bits of area from start,
// and the spans (by index) it covers.
type block struct {
	area  Area
	start int
	count int
	items []int
}

// planReads groups spans into as few read requests as possible: spans of
// one area whose addresses touch or overlap (or leave a gap of at most
// maxGap unused addresses between them) share a request, up to the
// protocol's limit per request. Blocks come in area order (holding, input,
// coil, discrete), then by address.
func planReads(spans []span, maxGap int) []block {
	order := make([]int, len(spans))
	for i := range order {
		order[i] = i
	}
	rank := func(a Area) int { return slices.Index(areaNames, string(a)) }
	slices.SortStableFunc(order, func(i, j int) int {
		a, b := spans[i], spans[j]
		if c := cmp.Compare(rank(a.area), rank(b.area)); c != 0 {
			return c
		}
		return cmp.Compare(a.addr, b.addr)
	})
	var out []block
	for _, i := range order {
		s := spans[i]
		if n := len(out); n > 0 {
			b := &out[n-1]
			end := b.start + b.count // one past the last address
			newEnd := max(end, s.addr+s.width)
			if b.area == s.area && s.addr <= end+maxGap && newEnd-b.start <= s.area.maxPerRead() {
				b.count = newEnd - b.start
				b.items = append(b.items, i)
				continue
			}
		}
		out = append(out, block{area: s.area, start: s.addr, count: s.width, items: []int{i}})
	}
	return out
}
