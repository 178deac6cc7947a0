package meter_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/wasmtail/wasmtail/runtime/internal/meter"
)

// countCase is a module of a few bytes that declares n of something
// inside an item: wazero v1.12 allocates them before it reads one.
type countCase struct {
	name string
	wasm func(n uint32) []byte
	// big is a count that makes wazero allocate 64 MiB to 1 GiB (enough
	// to see, not enough to take the machine down where the check is
	// missing); the check refuses 2^31 the same way (TestCountMessages).
	big  uint32
	want string // in the error, for any n the check refuses
}

// nameSection is a "name" custom section with one subsection.
func nameSection(sub byte, content []byte) []byte {
	return section(0, name("name"), []byte{sub}, leb(uint32(len(content))), content)
}

// functionType is a type section entry: (func (param n i32s...)) with the
// params and results given as counts and no types after them.
func functionType(params, results []byte) []byte {
	return cat([]byte{0x60}, params, results)
}

var countCases = []countCase{
	{"params", func(n uint32) []byte {
		return module(section(1, vec(functionType(leb(n), leb(0)))))
	}, 1 << 26, "params in type 0: more than"},
	{"results", func(n uint32) []byte {
		return module(section(1, vec(functionType(leb(0), leb(n)))))
	}, 1 << 26, "results in type 0: more than"},
	{"params in a rec group", func(n uint32) []byte {
		return module(section(1, vec(cat([]byte{0x4e}, leb(1), functionType(leb(n), leb(0))))))
	}, 1 << 26, "params in type 0: more than"},
	{"locals", func(n uint32) []byte {
		return rawFuncModule(nil, nil, cat(leb(1), leb(n), []byte{i32, 0x0b}))
	}, 1 << 20, "locals in function 0: more than"},
	{"local groups", func(n uint32) []byte {
		return rawFuncModule(nil, nil, cat(leb(n), []byte{0x0b}))
	}, 1 << 26, "local declarations in function 0: more than"},
	{"br_table targets", func(n uint32) []byte {
		return funcModule(nil, nil, nil, cat([]byte{0x41, 0x00, 0x0e}, leb(n), []byte{0x00}))
	}, 1 << 26, "br_table targets in function 0: more than"},
	{"select types", func(n uint32) []byte {
		return funcModule(nil, nil, nil, cat([]byte{0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0x1c}, leb(n), []byte{i32, 0x1a}))
	}, 1 << 26, "select types in function 0: more than 1"},
	{"import module name", func(n uint32) []byte {
		return module(section(2, vec(leb(n))))
	}, 1 << 26, "bytes in the module name of import 0: more than"},
	{"export name", func(n uint32) []byte {
		return module(section(7, vec(leb(n))))
	}, 1 << 26, "bytes in the name of export 0: more than"},
	{"custom section name", func(n uint32) []byte {
		return module(section(0, leb(n)))
	}, 1 << 26, "name past the section's end"},
	{"element indices", func(n uint32) []byte { // active, table 0, offset 0
		return module(section(9, vec(cat([]byte{0x00, 0x41, 0x00, 0x0b}, leb(n)))))
	}, 1 << 22, "elements in element segment 0: more than"},
	{"element expressions", func(n uint32) []byte { // passive, funcref
		return module(section(9, vec(cat([]byte{0x05, 0x70}, leb(n)))))
	}, 1 << 22, "elements in element segment 0: more than"},
	{"data bytes", func(n uint32) []byte { // passive
		return module(section(11, vec(cat([]byte{0x01}, leb(n)))))
	}, 1 << 26, "bytes in data segment 0: more than"},
	{"table elements", func(n uint32) []byte { // wazero allows up to 2^27
		return module(section(4, vec(cat([]byte{0x70, 0x00}, leb(min(n, 1<<27))))))
	}, 1 << 24, "elements in table 0: more than"},
	{"module name", func(n uint32) []byte {
		return module(nameSection(0, leb(n)))
	}, 1 << 26, "bytes in the module name: more than"},
	{"function names", func(n uint32) []byte {
		return module(nameSection(1, leb(n)))
	}, 1 << 22, "function names: more than"},
	{"function name", func(n uint32) []byte {
		return module(nameSection(1, cat(leb(1), leb(0), leb(n))))
	}, 1 << 26, "bytes in the name of function 0: more than"},
	{"local name maps", func(n uint32) []byte {
		return module(nameSection(2, leb(n)))
	}, 1 << 22, "functions with local names: more than"},
	{"local names", func(n uint32) []byte {
		return module(nameSection(2, cat(leb(1), leb(0), leb(n))))
	}, 1 << 22, "local names of function 0: more than"},
}

// load does with wasm what the agent does with a module (instrument,
// compile, instantiate; the decoder is the same for both of wazero's
// engines, the interpreter compiles faster), and returns the error and the
// bytes allocated meanwhile. wazero's panics are errors, as in the agent.
func load(t *testing.T, wasm []byte) (err error, alloc uint64) {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer r.Close(ctx)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err = func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("wazero panicked: %v", p)
			}
		}()
		out, err := meter.Instrument(wasm)
		if err != nil {
			return err
		}
		c, err := r.CompileModule(ctx, out)
		if err != nil {
			return fmt.Errorf("wazero: %w", err)
		}
		_, err = r.InstantiateModule(ctx, c, wazero.NewModuleConfig().WithName("").WithStartFunctions())
		if err != nil {
			return fmt.Errorf("wazero: %w", err)
		}
		return nil
	}()
	runtime.ReadMemStats(&after)
	return err, after.TotalAlloc - before.TotalAlloc
}

// maxLoadAlloc is the most a refused module of a few bytes may cost.
const maxLoadAlloc = 4 << 20

// TestHugeCounts loads each module of countCases, declaring a count that
// wazero would allocate 64 MiB or more for: Instrument must refuse it,
// saying what and where, before anything is allocated for it.
func TestHugeCounts(t *testing.T) {
	for _, c := range countCases {
		t.Run(c.name, func(t *testing.T) {
			wasm := c.wasm(c.big)
			err, alloc := load(t, wasm)
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.HasPrefix(err.Error(), "wazero") {
				t.Errorf("% x: %v, want the meter's error with %q", wasm, err, c.want)
			}
			if alloc > maxLoadAlloc {
				t.Errorf("% x: loading allocated %d MiB", wasm, alloc>>20)
			}
		})
	}
}

// TestCountMessages checks the refusals of counts of 2^31 and 2^32-1
// (Instrument only: without the checks wazero would allocate them).
func TestCountMessages(t *testing.T) {
	for _, c := range countCases {
		for _, n := range []uint32{1 << 31, 1<<32 - 1} {
			_, err := meter.Instrument(c.wasm(n))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s, %d: %v, want an error with %q", c.name, n, err, c.want)
			}
		}
	}
	_, err := meter.Instrument(rawFuncModule(nil, nil, cat(leb(1), leb(1<<31), []byte{i32, 0x0b})))
	if want := "meter: module declares 2147483648 locals in function 0: more than 50000"; err == nil || err.Error() != want {
		t.Errorf("locals: %v, want %q", err, want)
	}
}

// TestCountLimits checks the fixed caps at and just above their value: a
// module at the cap loads, one above is refused.
func TestCountLimits(t *testing.T) {
	repeat := func(b []byte, n int) []byte { return []byte(strings.Repeat(string(b), n)) }
	i32s := func(n int) []byte { return cat(leb(uint32(n)), repeat([]byte{i32}, n)) }
	for _, c := range []struct {
		name      string
		ok, above []byte
		want      string
	}{
		{"params",
			module(section(1, vec(functionType(i32s(1000), leb(0))))),
			module(section(1, vec(functionType(i32s(1001), leb(0))))),
			"1001 params in type 0: more than 1000"},
		{"results",
			module(section(1, vec(functionType(leb(0), i32s(1000))))),
			module(section(1, vec(functionType(leb(0), i32s(1001))))),
			"1001 results in type 0: more than 1000"},
		{"locals in groups",
			rawFuncModule([]byte{i32}, nil, cat(leb(2), leb(25000), []byte{i32}, leb(25000), []byte{i32}, []byte{0x0b})),
			rawFuncModule([]byte{i32}, nil, cat(leb(2), leb(25000), []byte{i32}, leb(25001), []byte{i32}, []byte{0x0b})),
			"50001 locals in function 0: more than 50000"},
		{"locals in many groups", // the sum, not a group, is capped
			rawFuncModule(nil, nil, cat(leb(50), repeat(cat(leb(1000), []byte{i32}), 50), []byte{0x0b})),
			rawFuncModule(nil, nil, cat(leb(51), repeat(cat(leb(1000), []byte{i32}), 51), []byte{0x0b})),
			"51000 locals in function 0: more than 50000"},
		{"table",
			module(section(4, vec(cat([]byte{0x70, 0x00}, leb(10_000_000))))),
			module(section(4, vec(cat([]byte{0x70, 0x00}, leb(10_000_001))))),
			"10000001 elements in table 0: more than 10000000"},
		{"tables", // the sum of the tables is capped
			module(section(4, vec(cat([]byte{0x70, 0x00}, leb(5_000_000)), cat([]byte{0x70, 0x00}, leb(5_000_000))))),
			module(section(4, vec(cat([]byte{0x70, 0x00}, leb(5_000_000)), cat([]byte{0x70, 0x00}, leb(5_000_001))))),
			"5000001 elements in table 1: more than the 5000000 left of the 10000000 all tables may have"},
	} {
		out, err := meter.Instrument(c.ok)
		if err != nil {
			t.Errorf("%s: at the cap: %v", c.name, err)
		} else if err := validate(out); err != nil {
			t.Errorf("%s: at the cap, wazero says %v", c.name, err)
		}
		if _, err := meter.Instrument(c.above); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: above the cap: %v, want an error with %q", c.name, err, c.want)
		}
	}
}

// TestCountsThatFit checks that counts of items that are there, whatever
// their encoding, are not refused: each value type form, each element
// segment form, each data segment form, and name subsections. Each module
// is valid, and must stay so instrumented.
func TestCountsThatFit(t *testing.T) {
	refNullFunc := []byte{0x63, 0x70} // (ref null func): a heap type after the prefix
	for _, c := range []struct {
		name string
		wasm []byte
	}{
		{"ref params", module(section(1, vec(functionType(cat(leb(2), refNullFunc, []byte{i32}), cat(leb(1), refNullFunc)))))},
		{"ref locals", rawFuncModule(nil, nil, cat(leb(2), leb(1), refNullFunc, leb(3), []byte{i32}, []byte{0x0b}))},
		{"select", funcModule(nil, nil, nil, []byte{0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0x1c, 0x01, i32, 0x1a})},
		{"br_table", funcModule(nil, nil, nil, []byte{0x02, 0x40, 0x41, 0x00, 0x0e, 0x02, 0x00, 0x00, 0x00, 0x0b})},
		{"imports", module(section(1, vec(functionType(leb(0), leb(0)))), section(2, vec(
			cat(name("m"), name("t"), []byte{0x01, 0x63, 0x70, 0x00, 0x01}),      // table (ref null func) min 1
			cat(name("m"), name("g"), []byte{0x03, 0x63, 0x70, 0x00}),            // global (ref null func), immutable
			cat(name("m"), name("f"), []byte{0x00, 0x00}),                        // function of type 0
			cat(name("m"), name("mem"), []byte{0x02, 0x01, 0x01, 0x02}),          // memory 1..2
			cat(name("m"), name("g2"), []byte{0x03, i32, 0x01}),                  // global mut i32
			cat(name("m"), name("t2"), []byte{0x01, 0x70, 0x01, 0x00, 0x10}))))}, // table funcref 0..16
		{"elements", module(
			section(1, vec(functionType(leb(0), leb(0)))),
			section(3, vec([]byte{0})),
			section(4, vec([]byte{0x70, 0x00, 0x04})),
			section(9, vec(
				[]byte{0x00, 0x41, 0x00, 0x0b, 0x01, 0x00},                               // active, offset 0, [0]
				[]byte{0x01, 0x00, 0x02, 0x00, 0x00},                                     // passive, funcref, [0 0]
				[]byte{0x02, 0x00, 0x41, 0x01, 0x0b, 0x00, 0x01, 0x00},                   // active table 0, offset 1, [0]
				[]byte{0x03, 0x00, 0x01, 0x00},                                           // declarative, [0]
				[]byte{0x04, 0x41, 0x02, 0x0b, 0x02, 0xd2, 0x00, 0x0b, 0xd0, 0x70, 0x0b}, // active, exprs
				[]byte{0x05, 0x70, 0x01, 0xd2, 0x00, 0x0b},                               // passive, funcref, exprs
				[]byte{0x06, 0x00, 0x41, 0x03, 0x0b, 0x70, 0x01, 0xd2, 0x00, 0x0b},       // active table 0, exprs
				[]byte{0x07, 0x70, 0x01, 0xd2, 0x00, 0x0b},                               // declarative, exprs
			)),
			section(10, vec([]byte{0x02, 0x00, 0x0b})))},
		{"data", module(
			section(5, vec([]byte{0x00, 0x01})),
			section(11, vec(
				cat([]byte{0x00, 0x41, 0x00, 0x0b}, name("abc")),
				cat([]byte{0x01}, name("passive")),
				cat([]byte{0x02, 0x00, 0x41, 0x08, 0x0b}, name("")))))},
		{"names", module(
			section(1, vec(functionType(leb(0), leb(0)))),
			section(3, vec([]byte{0})),
			section(10, vec([]byte{0x04, 0x01, 0x01, i32, 0x0b})),
			section(0, name("name"),
				[]byte{0}, name(string(name("mod"))),
				[]byte{1}, name(string(cat(leb(1), leb(0), name("f")))),
				[]byte{2}, name(string(cat(leb(1), leb(0), leb(1), leb(0), name("x")))),
				[]byte{7}, name("other subsection")))},
	} {
		out, err := meter.Instrument(c.wasm)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if err := validate(c.wasm); err != nil {
			t.Errorf("%s: wazero refuses the module: %v", c.name, err)
		}
		if err := validate(out); err != nil {
			t.Errorf("%s: wazero refuses the instrumented module: %v", c.name, err)
		}
	}
}

// TestNameSectionEnd checks that a name section whose subsections would
// have wazero read on into the sections after it is refused: those bytes
// would be decoded as names.
func TestNameSectionEnd(t *testing.T) {
	// The subsection says 1 byte; the function names take 5. wazero reads
	// them all, counts 1, and reads a subsection from the next section.
	names := section(0, name("name"), []byte{1, 1}, leb(1), leb(0), name("fn"))
	after := section(0, name("x"), []byte{1}, leb(1<<22)) // function names
	_, err := meter.Instrument(module(names, after))
	if want := "name section"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%v, want an error with %q", err, want)
	}
}

// payload returns the payload of the first section id of wasm, or nil.
func payload(wasm []byte, id byte) []byte {
	for p := 8; p < len(wasm); {
		size, n := uvarint(wasm[p+1:])
		q := p + 1 + n
		if wasm[p] == id {
			return wasm[q : q+int(size)]
		}
		p = q + int(size)
	}
	return nil
}

// TestTableGrow checks that table.grow cannot take more than maxTableElems
// elements, 80 MB: a start function growing a table by 2^25 elements (256
// MiB) at load gets -1, and the tables' maximums add up to 10,000,000.
func TestTableGrow(t *testing.T) {
	const growBy = 1 << 25
	wasm := module(
		section(1, vec(functionType(leb(0), leb(0)), functionType(cat(leb(1), []byte{i32}), cat(leb(1), []byte{i32})))),
		section(3, vec([]byte{0}, []byte{1})),
		section(4, vec([]byte{0x70, 0x00, 0x00})), // funcref, min 0, no max
		section(7, vec(cat(name("grow"), []byte{0x00, 0x01}))),
		section(8, leb(0)), // start: function 0
		section(10, vec(
			name(string(cat([]byte{0x00, 0xd0, 0x70, 0x41}, sleb(growBy), []byte{0xfc, 0x0f, 0x00, 0x1a, 0x0b}))), // drop(table.grow(null, growBy))
			name(string([]byte{0x00, 0xd0, 0x70, 0x20, 0x00, 0xfc, 0x0f, 0x00, 0x0b})),                            // table.grow(null, n)
		)),
	)
	err, alloc := load(t, wasm)
	if err != nil {
		t.Fatal(err)
	}
	if alloc > maxLoadAlloc {
		t.Errorf("loading allocated %d MiB", alloc>>20)
	}

	out, err := meter.Instrument(wasm)
	if err != nil {
		t.Fatal(err)
	}
	g := newGuest(t, nil, out, false) // the start function ran: the table is empty
	for _, c := range []struct{ n, want uint32 }{
		{10, 0}, {9_999_990, 10}, {1, 0xffffffff}, {0, 10_000_000},
	} {
		res, _, err := g.call("grow", 0, uint64(c.n))
		if err != nil || uint32(res[0]) != c.want {
			t.Errorf("table.grow by %d: %v %v, want %d", c.n, res, err, int32(c.want))
		}
	}

	// The earlier tables keep their maximum first; a maximum within what
	// is left stays as it is.
	for _, c := range []struct{ in, want []byte }{
		{ // no max: 10,000,000 - 5 left; then max 100 lowered to 5
			vec([]byte{0x70, 0x00, 0x00}, []byte{0x70, 0x01, 0x05, 0x64}),
			vec(cat([]byte{0x70, 0x01, 0x00}, leb(9_999_995)), []byte{0x70, 0x01, 0x05, 0x05}),
		},
		{ // max 100 kept; the next one gets the rest
			vec([]byte{0x70, 0x01, 0x05, 0x64}, []byte{0x6f, 0x00, 0x02}),
			vec([]byte{0x70, 0x01, 0x05, 0x64}, cat([]byte{0x6f, 0x01, 0x02}, leb(10_000_000-100))),
		},
		{ // a table with an initializer: its limits only
			vec([]byte{0x40, 0x00, 0x70, 0x00, 0x01, 0xd0, 0x70, 0x0b}),
			vec(cat([]byte{0x40, 0x00, 0x70, 0x01, 0x01}, leb(10_000_000), []byte{0xd0, 0x70, 0x0b})),
		},
	} {
		out, err := meter.Instrument(module(section(4, c.in)))
		if err != nil {
			t.Errorf("% x: %v", c.in, err)
		} else if got := payload(out, 4); !bytes.Equal(got, c.want) {
			t.Errorf("% x: tables % x, want % x", c.in, got, c.want)
		}
	}
}
