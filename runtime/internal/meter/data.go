package meter

import (
	"cmp"
	"slices"
)

// maxDataGap is the most zero bytes that merging two data segments adds
// between them.
const maxDataGap = 64

// segment is an active data segment of memory 0 at a constant offset.
type segment struct {
	off  uint64
	data []byte
}

// dataSection copies the data section b[start:end], whose vector starts at
// p, merging runs of segments that follow each other in memory with gaps of
// at most maxDataGap bytes into one segment, the gaps filled with zeros.
//
// Why: Go's linker splits its data at every run of zeros, into tens of
// thousands of segments (28,000 for a parser), and wazero decodes,
// validates and copies each on every compile and instantiation, cached or
// not: about a sixth of loading a Go guest from the cache. Merged, about a
// dozen remain, and the module is a few hundred KB of zeros larger.
//
// The memory an instance starts with is the same: segments are written in
// order into zeroed memory, and a gap is filled only where no earlier
// segment wrote. A merged segment is in bounds exactly when the segments
// it replaces are, since it spans from the first one's start to the last
// one's end. The section is copied unchanged if a segment is anything else
// than active, in memory 0, at an i32.const offset, or if the module has a
// data count section (then its code may refer to segments by index, with
// memory.init or data.drop).
func (m *module) dataSection(start, p, end int) {
	b := m.b
	if m.dataCount {
		m.out = append(m.out, b[start:end]...)
		return
	}
	segs, ok := m.segments(p, end)
	var starts []int       // of each merged segment, in segs
	var written intervals  // the spans of the merged segments before the current one
	var first, last uint64 // the current one's span
	for i, s := range segs {
		if i == 0 || s.off < last || s.off-last > maxDataGap || written.meets(last, s.off) {
			if i > 0 {
				written.add(first, last)
			}
			starts = append(starts, i)
			first = s.off
		}
		last = s.off + uint64(len(s.data))
	}
	if !ok || len(starts) == len(segs) {
		m.out = append(m.out, b[start:end]...)
		return
	}
	m.out = append(m.out, secData)
	section := reserveSize(&m.out)
	m.out = appendU32(m.out, uint32(len(starts)))
	for g, i := range starts {
		j := len(segs)
		if g+1 < len(starts) {
			j = starts[g+1]
		}
		first, lastSeg := segs[i], segs[j-1]
		m.out = append(m.out, 0x00, 0x41) // active, memory 0; i32.const
		m.out = appendS32(m.out, int32(uint32(first.off)))
		m.out = append(m.out, 0x0b) // end
		m.out = appendU32(m.out, uint32(lastSeg.off+uint64(len(lastSeg.data))-first.off))
		at := first.off
		for _, s := range segs[i:j] {
			m.out = append(m.out, zeros[:s.off-at]...)
			m.out = append(m.out, s.data...)
			at = s.off + uint64(len(s.data))
		}
	}
	m.out = putSize(m.out, section)
}

var zeros [maxDataGap]byte

// segments decodes the data segments at b[p:end], and reports whether all
// are active segments of memory 0 at constant offsets and the vector ends
// at end.
func (m *module) segments(p, end int) ([]segment, bool) {
	b := m.b
	n, p, err := u32(b, p, end)
	if err != nil {
		return nil, false
	}
	segs := make([]segment, 0, n) // n is at most end-p: sections() checked
	for range n {
		if p+2 > end || b[p] != 0x00 || b[p+1] != 0x41 {
			return nil, false
		}
		off, q, err := s32(b, p+2, end)
		if err != nil || q >= end || b[q] != 0x0b {
			return nil, false
		}
		size, q, err := u32(b, q+1, end)
		if err != nil || uint64(q)+uint64(size) > uint64(end) {
			return nil, false
		}
		segs = append(segs, segment{off: uint64(uint32(off)), data: b[q : q+int(size)]})
		p = q + int(size)
	}
	return segs, p == end
}

// intervals is a set of byte ranges [start, end), sorted and disjoint.
type intervals [][2]uint64

// add adds [start, end).
func (s *intervals) add(start, end uint64) {
	if start >= end {
		return
	}
	v := *s
	// v[i:j] are the ranges that overlap or touch [start, end).
	i, _ := slices.BinarySearchFunc(v, start, func(r [2]uint64, x uint64) int { return cmp.Compare(r[1], x) })
	j := i
	for j < len(v) && v[j][0] <= end {
		start, end = min(start, v[j][0]), max(end, v[j][1])
		j++
	}
	*s = slices.Replace(v, i, j, [2]uint64{start, end})
}

// meets reports whether [start, end) overlaps a range of s.
func (s intervals) meets(start, end uint64) bool {
	i, _ := slices.BinarySearchFunc(s, start, func(r [2]uint64, x uint64) int { return cmp.Compare(r[1], x+1) })
	return i < len(s) && s[i][0] < end
}
