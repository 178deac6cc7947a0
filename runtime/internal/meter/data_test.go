package meter_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/wasmtail/wasmtail/runtime/internal/meter"
)

// sleb is v as a signed LEB128.
func sleb(v int32) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 && c&0x40 == 0 || v == -1 && c&0x40 != 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// seg is an active data segment of memory 0 at offset off.
func seg(off int32, data string) []byte {
	return cat([]byte{0x00, 0x41}, sleb(off), []byte{0x0b}, name(data))
}

// dataModule is a module with a memory of two pages and the data segments.
func dataModule(segs ...[]byte) []byte {
	return module(section(5, vec([]byte{0x00, 0x02})), section(11, vec(segs...)))
}

// dataSegments returns the count of the data section of wasm, or -1.
func dataSegments(t *testing.T, wasm []byte) int {
	t.Helper()
	for p := 8; p < len(wasm); {
		id := wasm[p]
		size, n := uvarint(wasm[p+1:])
		q := p + 1 + n
		if id == 11 {
			count, _ := uvarint(wasm[q:])
			return int(count)
		}
		p = q + int(size)
	}
	return -1
}

func uvarint(b []byte) (uint32, int) {
	var v uint32
	for i, c := range b {
		v |= uint32(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, i + 1
		}
	}
	return 0, len(b)
}

// initialMemory instantiates wasm and returns its memory.
func initialMemory(t *testing.T, wasm []byte) []byte {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer r.Close(ctx)
	mod, err := r.Instantiate(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	mem, ok := mod.Memory().Read(0, mod.Memory().Size())
	if !ok {
		t.Fatal("memory unreadable")
	}
	return bytes.Clone(mem)
}

// TestDataMerged: segments that follow each other in memory with small
// gaps become one, and an instance starts with the same memory, whatever
// the order and overlaps of the segments.
func TestDataMerged(t *testing.T) {
	for _, c := range []struct {
		name   string
		wasm   []byte
		merged int // segments after Instrument
	}{
		{"in order", dataModule(
			seg(16, "abc"), seg(30, "def"), seg(30+3+64, "ghi"), // gaps of 11 and 64: merged
			seg(200, "jkl"), // gap of 65: not
			seg(203, "mno"), // no gap
		), 2},
		{"offsets that take several bytes and a sign bit", dataModule(
			seg(0x40, "a"), seg(0x41, "b"), seg(70000, "c"), seg(70010, "d"), seg(0x1fff0, "end"),
		), 3},
		{"out of order and overlapping", dataModule(
			seg(100, "0123456789"),
			seg(50, "abc"), seg(60, "def"), // before the first, and merged
			seg(102, "XY"),   // the gap 63-102 meets the first: kept apart
			seg(105, "Z"),    // 104 was written by the first: kept apart
			seg(120, "tail"), // the gap 106-120 meets the first: kept apart
			seg(125, "more"), // the gap 124-125 meets no earlier segment: merged
		), 5},
		{"an empty segment", dataModule(seg(10, "a"), seg(12, ""), seg(14, "b")), 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := meter.Instrument(c.wasm)
			if err != nil {
				t.Fatal(err)
			}
			if got := dataSegments(t, out); got != c.merged {
				t.Errorf("%d segments after Instrument, want %d", got, c.merged)
			}
			if !bytes.Equal(initialMemory(t, out), initialMemory(t, c.wasm)) {
				t.Error("an instance of the instrumented module starts with other memory")
			}
		})
	}
}

// TestDataKept: sections whose segments may be referred to by index, or are
// not plain active segments, are copied as they are.
func TestDataKept(t *testing.T) {
	memory := section(5, vec([]byte{0x00, 0x01}))
	imported := section(2, vec(cat(name("env"), name("g"), []byte{0x03, i32, 0x00})))
	passive := cat([]byte{0x01}, name("xyz"))
	global := cat([]byte{0x00, 0x23, 0x00, 0x0b}, name("g")) // offset: global.get 0
	for _, c := range []struct {
		name   string
		before [][]byte // sections before the data section
		data   []byte
	}{
		{"data count section", [][]byte{memory, section(12, leb(2))}, section(11, vec(seg(16, "abc"), seg(20, "def")))},
		{"passive segment", [][]byte{memory}, section(11, vec(seg(16, "abc"), seg(20, "def"), passive))},
		{"offset from a global", [][]byte{imported, memory}, section(11, vec(seg(16, "abc"), seg(20, "def"), global))},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := module(append(c.before, c.data)...)
			out, err := meter.Instrument(in)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasSuffix(out, c.data) {
				t.Errorf("data section changed:\n% x\nwant it to end with\n% x", out, c.data)
			}
			checkValid(t, in, out)
		})
	}
}
