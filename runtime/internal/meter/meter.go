// Package meter adds fuel metering to WebAssembly modules, so that a host
// can stop a guest that runs past its deadline without the engine checking
// a clock.
//
// # Why
//
// wazero stops a running guest when its context is done only if the runtime
// has WithCloseOnContextDone, which makes every loop header call out of the
// guest's code (about 30 ns each). Guests compiled by Go go back to the
// dispatch loop of their function on every taken branch, so that makes them
// 2 to 10 times slower. Instrument rewrites the module instead: its code
// counts down a budget, held in a mutable global, and traps once the budget
// is spent. That costs a few machine instructions per check, with
// WithCloseOnContextDone off.
//
// # What Instrument adds
//
// Two globals: a mutable i64 "fuel" global, exported as FuelExport, and an
// unexported mutable i32 scratch global (see bulk operations below). It
// adds no import, so function indices do not change. The function bodies
// get checks:
//
//	global.get $fuel
//	i64.const cost
//	i64.sub
//	global.set $fuel
//	global.get $fuel
//	i64.const 0
//	i64.lt_s
//	if
//	  unreachable
//	end
//
// at each function's entry, right after the block type of every loop, in
// straight-line code so that a check pays for at most 64 instructions, and
// at the end of a block where stretches of different checks meet (below).
// Comparing the fuel with the cost before subtracting would not be cheaper:
// wazero's compiler reuses the value stored by global.set for the global.get
// that follows, so the check is one load, a subtraction, a store, and a
// compare and branch that is taken only when the budget is spent.
//
// The host sets the fuel before each call to the guest and, if the call
// trapped, reads it: a negative value means that the budget ran out. (Fuel
// is never negative after a check that passed, so a trap of the guest's own
// leaves it at zero or more.)
//
// # The cost model
//
// A check pays for a stretch: the instructions that may run from it until
// the next check runs. A check's cost is the longest path through its
// stretch, in instructions: block, loop, end, else and nop are free (they
// are no machine code), every other instruction costs 1, and a check costs
// at least 1. In straight-line code that is the number of instructions up to
// the next check in linear order; a branch out of a block carries the
// stretch on to the code after the block's end, which the check pays for as
// well. Where the fall-through and the branches into the end of a block come
// from stretches of more than four different checks, a check starts a new
// stretch there. A check is inserted before the instruction that would make
// a stretch longer than 64 instructions, so a check costs at most 64.
// Unreachable code (after br, br_table, return or unreachable, up to the end
// of the block) gets no checks: it never runs.
//
// So every instruction that runs was paid for by a check that ran before it,
// however branches skip checks: a budget of N runs at most N instructions.
// And every loop iteration and every call runs a check, costing at least 1,
// so the fuel a guest uses grows with the work it does: a budget in fuel is
// a deadline, whose length is the budget times the time an instruction
// takes (BenchmarkLoop and BenchmarkGo report fuel per call: on a current
// x86 core, a tight loop runs about 15 units a nanosecond, a Go-compiled
// parser about 3). Fuel overstates the
// work where a path is shorter than the longest of its stretch (by less
// than 64 per check), which makes the deadline earlier, never later.
//
// Bulk operations (memory.copy, memory.fill, memory.init, table.copy,
// table.fill, table.init, table.grow) do work in proportion to their length
// operand, so each is preceded by a check that charges the length before it
// runs: divided by 16 for memory (bytes), as is for tables (elements). The
// length is kept in the scratch global while it is charged. What host
// functions do (WASI, the host's imports) is not metered; memory.grow is not
// either, since the memory limit bounds what it can do.
//
// # Data segments
//
// Instrument also merges data segments that follow each other in memory
// with gaps of at most 64 bytes, the gaps filled with zeros, when no
// earlier segment wrote there (see dataSection): Go splits its data into
// tens of thousands of segments, which the engine decodes, validates and
// copies one by one on every load. An instance starts with the same memory.
//
// # Limits
//
// The fuel starts at InitialFuel, so that a module's start section runs
// before the host can set it (with a budget of that much); a host that
// wants a tighter bound calls a WASI reactor's _initialize itself, after
// setting the fuel, rather than as a start function of the instantiation.
//
// Instrument accepts the instructions of WebAssembly 2.0 that wazero enables
// by default: the MVP, sign extension, non-trapping float-to-int
// conversions, multiple values, bulk memory and tables, reference types and
// fixed-width SIMD. It refuses, with an error naming the function and the
// byte offset of the instruction, modules using threads, tail calls,
// exception handling, typed function references, garbage collection or
// relaxed SIMD, which wazero does not run by default either.
//
// wazero allocates the items a module declares before it reads them, so
// Instrument also refuses a module that declares, anywhere, more items than
// the bytes left could hold (in a section, a function body, the name
// section), or more than a fixed cap where bytes do not bound the count:
// 1,000 params or results per function type, 50,000 locals per function,
// 10,000,000 table elements and as many element segment entries in all,
// as browsers do. It lowers the maximums of the module's tables to add up
// to 10,000,000 as well, which table.grow allocates up to and the memory
// limit does not cover. See bounds.go for each count and why.
package meter

import (
	"bytes"
	"errors"
	"fmt"
)

// FuelExport is the name under which an instrumented module exports its
// fuel, a mutable i64 global.
const FuelExport = "wasmtail_fuel"

// InitialFuel is the fuel an instance starts with, before the host sets
// it: about a second of the fastest code.
const InitialFuel = 1 << 33

// maxStretch is the most instructions a check pays for.
const maxStretch = 64

// Section ids, and their order in a module (custom sections, id 0, may be
// anywhere).
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
)

// order is the rank of each known non-custom section id in a module.
var order = [...]int{
	secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5,
	secGlobal: 6, secExport: 7, secStart: 8, secElement: 9,
	secDataCount: 10, secCode: 11, secData: 12,
}

// Instrument returns a copy of the Wasm binary wasm with fuel metering added:
// a new mutable i64 global, exported as FuelExport, and checks that subtract
// a cost from it and trap with unreachable once it is negative (see the
// package documentation). It returns an error, and never panics, if wasm is
// malformed or uses an instruction it does not know; it does not validate
// the module beyond what it needs to rewrite it (the engine does that),
// except that it refuses references to globals the module does not have,
// which would otherwise refer to the fuel.
func Instrument(wasm []byte) ([]byte, error) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, errors.New("meter: not a WebAssembly binary")
	}
	if string(wasm[4:8]) != "\x01\x00\x00\x00" {
		return nil, fmt.Errorf("meter: unsupported binary version %d", le32(wasm[4:8]))
	}
	m := module{b: wasm}
	// The checks make Go modules about 8% larger, C ones up to 18%; the
	// zeros of merged data segments add about 13% to Go modules.
	m.out = make([]byte, 0, len(wasm)+len(wasm)/4+64)
	m.out = append(m.out, wasm[:8]...)
	if err := m.sections(); err != nil {
		return nil, err
	}
	return m.out, nil
}

// module is the state of one Instrument call.
type module struct {
	b   []byte // the input
	out []byte // the output, written in one pass

	importedFuncs   uint32
	importedGlobals uint32
	importedTables  uint32
	fuel, scratch   uint32 // indices of the added globals
	globalsDone     bool   // the global section is written
	exportDone      bool   // the export section is written
	dataCount       bool   // the module has a data count section

	code code // the function body instrumenter, reused for every function
}

// sections copies the sections of m.b to m.out, rewriting the global,
// export and code sections and adding the first two if absent, and merging
// data segments (dataSection).
func (m *module) sections() error {
	b := m.b
	last := 0 // rank of the last non-custom section
	for p := 8; p < len(b); {
		start := p
		id := b[p]
		size, q, err := u32(b, p+1, len(b))
		if err != nil {
			return fmt.Errorf("meter: section at offset %d: %w", start, err)
		}
		end := q + int(size)
		if end > len(b) || end < q {
			return fmt.Errorf("meter: section %d at offset %d: %d bytes past the end", id, start, end-len(b))
		}
		p = end
		if id == secCustom {
			// Only its name is read, so that a name running past the
			// section is refused here as the engine would (followed by
			// the added sections, it might read as valid).
			l, n, err := u32(b, q, end)
			if err != nil || uint64(n)+uint64(l) > uint64(end) {
				return fmt.Errorf("meter: custom section at offset %d: name past the section's end", start)
			}
			if string(b[n:n+int(l)]) == "name" { // wazero decodes it
				if err := nameSection(b, n+int(l), end); err != nil {
					return err
				}
			}
			m.out = append(m.out, b[start:end]...)
			continue
		}
		if int(id) >= len(order) || order[id] == 0 {
			return fmt.Errorf("meter: unknown section id %d at offset %d", id, start)
		}
		if id != secStart && id != secDataCount {
			// Every item of a section's vector takes at least a byte. A
			// count beyond that is malformed, and wazero v1.12 allocates
			// the declared count before it reads an item: 2^31 of them in
			// a few bytes would take the agent's memory.
			if count, q2, err := u32(b, q, end); err != nil || uint64(count) > uint64(end-q2) {
				return fmt.Errorf("meter: section %d at offset %d declares more items than it has bytes", id, start)
			}
		}
		rank := order[id]
		if rank <= last {
			return fmt.Errorf("meter: section %d at offset %d out of order or repeated", id, start)
		}
		last = rank
		if rank > order[secGlobal] && !m.globalsDone {
			m.globals(nil, 0)
		}
		if rank > order[secExport] && !m.exportDone {
			m.exports(nil, 0)
		}
		switch id {
		case secType:
			if err = typeSection(b, q, end); err == nil {
				m.out = append(m.out, b[start:end]...)
			}
		case secTable:
			err = m.tableSection(start, q, end)
		case secElement:
			if err = elementSection(b, q, end); err == nil {
				m.out = append(m.out, b[start:end]...)
			}
		case secImport:
			err = m.imports(q, end)
		case secGlobal:
			var n uint32
			if n, q, err = u32(b, q, end); err == nil {
				m.globals(b[q:end], n)
			}
		case secExport:
			err = m.exportSection(q, end)
		case secCode:
			err = m.codeSection(q, end)
		case secDataCount:
			m.dataCount = true
			m.out = append(m.out, b[start:end]...)
		case secData:
			if err = dataSizes(b, q, end); err == nil {
				m.dataSection(start, q, end)
			}
		default:
			m.out = append(m.out, b[start:end]...)
		}
		if err != nil {
			return err
		}
	}
	if !m.globalsDone {
		m.globals(nil, 0)
	}
	if !m.exportDone {
		m.exports(nil, 0)
	}
	return nil
}

// imports copies the import section b[p:end] and counts the imported
// functions and globals, whose indices come before the module's own.
func (m *module) imports(p, end int) error {
	b := m.b
	m.out = appendSection(m.out, secImport, b[p:end])
	n, p, err := u32(b, p, end)
	if err != nil {
		return fmt.Errorf("meter: import section: %w", err)
	}
	for i := uint32(0); i < n; i++ {
		at := p
		for _, what := range [...]string{"module name", "name"} {
			var l uint32
			if l, p, err = u32(b, p, end); err != nil {
				return fmt.Errorf("meter: import %d at offset %d: %w", i, at, err)
			}
			if why := over(uint64(l), 0, end-p, 1, "section"); why != "" {
				return countError(uint64(l), why, "bytes in the %s of import %d", what, i)
			}
			p += int(l)
		}
		if p >= end {
			return fmt.Errorf("meter: import %d at offset %d: %w", i, at, errTruncated)
		}
		kind := b[p]
		p++
		switch kind {
		case 0x00: // function: type index
			m.importedFuncs++
			p, err = skipLEB(b, p, end, 5)
		case 0x01: // table
			m.importedTables++
			p, _, err = tableType(b, p, end) // the host's: not clamped
		case 0x02: // memory: limits
			p, err = limits(b, p, end)
		case 0x03: // global: value type, mutability
			m.importedGlobals++
			if p, err = valType(b, p, end); err == nil {
				p++
			}
		default:
			return fmt.Errorf("meter: import %d at offset %d: unsupported import kind %#x", i, at, kind)
		}
		if err == nil && p > end {
			err = errTruncated
		}
		if err != nil {
			return fmt.Errorf("meter: import %d at offset %d: %w", i, at, err)
		}
	}
	if p != end {
		return fmt.Errorf("meter: import section: %d bytes left after %d imports", end-p, n)
	}
	return nil
}

// limits skips the limits of a table or memory type at b[p:].
func limits(b []byte, p, end int) (int, error) {
	if p >= end {
		return p, errTruncated
	}
	flags := b[p]
	p, err := skipLEB(b, p+1, end, 10)
	if err == nil && flags&1 != 0 {
		p, err = skipLEB(b, p, end, 10)
	}
	return p, err
}

// The globals Instrument adds: the fuel, and the scratch global that holds
// the length operand of a bulk operation while its cost is charged. Both
// are mutable; the fuel starts at InitialFuel, the scratch at 0.
var (
	fuelGlobal    = []byte{0x7e, 0x01, 0x42, 0x80, 0x80, 0x80, 0x80, 0x20, 0x0b} // mut i64 = i64.const InitialFuel
	scratchGlobal = []byte{0x7f, 0x01, 0x41, 0x00, 0x0b}                         // mut i32 = i32.const 0
)

// globals writes the global section with the n globals encoded in entries
// followed by the added ones.
func (m *module) globals(entries []byte, n uint32) {
	m.globalsDone = true
	m.fuel = m.importedGlobals + n
	m.scratch = m.fuel + 1
	size := lenU32(n+2) + len(entries) + len(fuelGlobal) + len(scratchGlobal)
	m.out = append(m.out, secGlobal)
	m.out = appendU32(m.out, uint32(size))
	m.out = appendU32(m.out, n+2)
	m.out = append(m.out, entries...)
	m.out = append(m.out, fuelGlobal...)
	m.out = append(m.out, scratchGlobal...)
}

// exportSection checks that no export of the section b[p:end] is named
// FuelExport and writes it with the fuel export added.
func (m *module) exportSection(p, end int) error {
	b := m.b
	n, p, err := u32(b, p, end)
	if err != nil {
		return fmt.Errorf("meter: export section: %w", err)
	}
	entries := p
	for i := uint32(0); i < n; i++ {
		at := p
		var l uint32
		if l, p, err = u32(b, p, end); err != nil {
			return fmt.Errorf("meter: export %d at offset %d: %w", i, at, err)
		}
		if why := over(uint64(l), 0, end-p, 1, "section"); why != "" {
			return countError(uint64(l), why, "bytes in the name of export %d", i)
		}
		name := p
		p += int(l)
		if bytes.Equal(b[name:p], []byte(FuelExport)) {
			return fmt.Errorf("meter: the module already exports %q", FuelExport)
		}
		if p >= end {
			return fmt.Errorf("meter: export %d at offset %d: %w", i, at, errTruncated)
		}
		kind := b[p]
		var index uint32
		if index, p, err = u32(b, p+1, end); err != nil {
			return fmt.Errorf("meter: export %d at offset %d: %w", i, at, err)
		}
		if kind == 0x03 && index >= m.fuel {
			// Invalid, and it would export a global Instrument adds.
			return fmt.Errorf("meter: export %d at offset %d: global index %d out of range", i, at, index)
		}
	}
	if p != end {
		return fmt.Errorf("meter: export section: %d bytes left after %d exports", end-p, n)
	}
	m.exports(b[entries:end], n)
	return nil
}

// exports writes the export section with the n exports encoded in entries
// followed by the fuel global's.
func (m *module) exports(entries []byte, n uint32) {
	m.exportDone = true
	size := lenU32(n+1) + len(entries) +
		lenU32(uint32(len(FuelExport))) + len(FuelExport) + 1 + lenU32(m.fuel)
	m.out = append(m.out, secExport)
	m.out = appendU32(m.out, uint32(size))
	m.out = appendU32(m.out, n+1)
	m.out = append(m.out, entries...)
	m.out = appendU32(m.out, uint32(len(FuelExport)))
	m.out = append(m.out, FuelExport...)
	m.out = append(m.out, 0x03) // global
	m.out = appendU32(m.out, m.fuel)
}

// codeSection instruments every function body of the code section b[p:end].
func (m *module) codeSection(p, end int) error {
	b := m.b
	n, p, err := u32(b, p, end)
	if err != nil {
		return fmt.Errorf("meter: code section: %w", err)
	}
	m.code.init(m)
	m.out = append(m.out, secCode)
	section := reserveSize(&m.out)
	m.out = appendU32(m.out, n)
	for i := uint32(0); i < n; i++ {
		at := p
		var size uint32
		if size, p, err = u32(b, p, end); err != nil {
			return fmt.Errorf("meter: function %d at offset %d: %w", m.importedFuncs+i, at, err)
		}
		next := p + int(size)
		if next > end || next < p {
			return fmt.Errorf("meter: function %d at offset %d: %w", m.importedFuncs+i, at, errTruncated)
		}
		body := reserveSize(&m.out)
		if m.out, err = m.code.function(m.out, b, p, next, m.importedFuncs+i); err != nil {
			return err
		}
		m.out = putSize(m.out, body)
		p = next
	}
	if p != end {
		return fmt.Errorf("meter: code section: %d bytes left after %d functions", end-p, n)
	}
	m.out = putSize(m.out, section)
	return nil
}

// appendSection appends a section with the given id and payload.
func appendSection(out []byte, id byte, payload []byte) []byte {
	out = append(out, id)
	out = appendU32(out, uint32(len(payload)))
	return append(out, payload...)
}

// reserveSize makes room for the size of what follows, which putSize writes
// once known, and returns where.
func reserveSize(out *[]byte) int {
	at := len(*out)
	*out = append(*out, 0, 0, 0, 0, 0)
	return at
}

// putSize writes at out[at:] the size of what follows the 5 bytes reserved
// there, as a LEB128 of minimal length, moving the rest down over the bytes
// it did not use.
func putSize(out []byte, at int) []byte {
	n := len(out) - at - 5
	var buf [5]byte
	k := len(appendU32(buf[:0], uint32(n)))
	copy(out[at:], buf[:k])
	copy(out[at+k:], out[at+5:])
	return out[:len(out)-5+k]
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
