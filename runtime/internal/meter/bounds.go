package meter

import "fmt"

// # Bounds on declared counts
//
// wazero v1.12.0's decoder (internal/wasm/binary) makes a vector of the
// length a module declares before it reads the first item, and reads it
// from the whole module, not from its section: a few bytes declaring 2^31
// items take gigabytes before the decoder finds that they are not there.
// Instrument therefore checks every count that wazero allocates from, and
// refuses a module whose count is more than the bytes left in its section
// (or function body) could hold, at their smallest encoding, or more than
// a fixed cap where the count is not bound by bytes. These are the
// allocations, by wazero file, and where they are bounded here:
//
//	section.go   make([]Import|uint32|Table|Global|Export|ElementSegment|Code|DataSegment, n),
//	             make(map[string]*Export, n): a section's item count (sections)
//	section.go   make([]Tag, n): the tag section, refused (unknown section id)
//	value.go     make([]ValueType, 0, n): params and results of a function
//	             type (functionType), a global's type (one)
//	value.go     make([]byte, n) in decodeUTF8: import module and field names
//	             (imports), export names (exportSection), custom section names
//	             (sections), the name section's strings (nameSection)
//	code.go      make([]ValueType, 0, sum): a function's locals, the sum of
//	             its declarations, each of which may declare 2^32-1 in 6 bytes
//	             (code.locals: the cap maxLocals); make([]byte, n): the body,
//	             within the code section (codeSection)
//	element.go   make([]ConstantExpression, n): an element segment's function
//	             indices or expressions (elementSection)
//	data.go      make([]byte, n): a data segment's bytes (dataSizes)
//	names.go     make(NameMap, n), make(IndirectNameMap, n), make(NameMap, n):
//	             function names, functions with local names, a function's
//	             local names (nameSection)
//	custom.go    make([]byte, n): a custom section's bytes, n its size, within
//	             the module (sections)
//
// Outside the decoder: instantiating makes each table of its initial size
// (table.go: make([]Reference, min), min up to 2^27 in wazero), bounded by
// maxTableElems (tableSection), as is what table.grow may add (the
// maximums tableSection sets), and the references of each element segment
// (store.go), bounded with the segments. Function bodies are
// decoded when validated and compiled, reading br_table targets one by one
// from the body and refusing a typed select with other than one type;
// code.body checks both counts anyway, so that their errors say so.
const (
	// maxParams and maxResults cap a function type's params and results,
	// as in browsers (the JS API's limits), wasmtime and V8. They are not
	// needed for memory (each takes a byte) but no compiler makes more.
	maxParams  = 1000
	maxResults = 1000
	// maxLocals caps the locals a function declares (params not
	// included): 50,000, the limit of browsers, V8 and wasmtime, so no
	// toolchain exceeds it. The bytes do not bound them: a declaration of
	// 2^32-1 locals takes 6. wazero makes a byte per local when it
	// decodes, and its compilers a few words per local.
	maxLocals = 50_000
	// maxTableElems caps the initial sizes of a module's own tables, all
	// together, which instantiation allocates (8 bytes per element), and
	// their maximums, which table.grow allocates up to (tableSection), and
	// maxElemEntries the entries of its element segments, all together
	// (24 bytes each when decoded): 10,000,000, the JS API's table size
	// limit. A Go module's table holds one entry per function whose
	// address is taken: thousands.
	maxTableElems  = 10_000_000
	maxElemEntries = 10_000_000
)

// over returns why n items, each taking at least size bytes, cannot be
// declared with left bytes left in scope: more than limit (unless 0)
// or than the bytes can hold. It returns "" if they can.
func over(n, limit uint64, left, size int, scope string) string {
	if limit > 0 && n > limit {
		return fmt.Sprintf("more than %d", limit)
	}
	if n*uint64(size) > uint64(max(left, 0)) {
		return fmt.Sprintf("more than the %d bytes left in the %s can hold", max(left, 0), scope)
	}
	return ""
}

// countError is the refusal of n things, what formatted from format and
// args, for the reason why.
func countError(n uint64, why, format string, args ...any) error {
	return fmt.Errorf("meter: module declares %d %s: %s", n, fmt.Sprintf(format, args...), why)
}

// valType skips the value type at b[p:end]: a byte, or a reference type
// prefix (ref null ht, ref ht) and a heap type, an s33.
func valType(b []byte, p, end int) (int, error) {
	if p >= end {
		return p, errTruncated
	}
	if c := b[p]; c == 0x63 || c == 0x64 {
		return skipLEB(b, p+1, end, 5)
	}
	return p + 1, nil
}

// typeSection checks the counts of the function types of the type section
// b[p:end], and those of the rec groups (of the GC proposal) that wazero
// decodes too.
func typeSection(b []byte, p, end int) error {
	n, p, _ := u32(b, p, end) // sections checked it
	var index uint32          // of the next type
	var err error
	for i := uint32(0); i < n; i++ {
		if p < end && b[p] == 0x4e { // rec group: function types
			at := p
			var k uint32
			if k, p, err = u32(b, p+1, end); err != nil {
				return fmt.Errorf("meter: rec group at offset %d: %w", at, err)
			}
			if why := over(uint64(k), 0, end-p, 3, "section"); why != "" {
				return countError(uint64(k), why, "types in the rec group at offset %d", at)
			}
			for range k {
				if p, err = functionType(b, p, end, index); err != nil {
					return err
				}
				index++
			}
			continue
		}
		if p, err = functionType(b, p, end, index); err != nil {
			return err
		}
		index++
	}
	return nil
}

// functionType checks the function type at b[p:end], type index, and
// returns the offset after it.
func functionType(b []byte, p, end int, index uint32) (int, error) {
	at := p
	if p >= end || b[p] != 0x60 {
		return p, fmt.Errorf("meter: type %d at offset %d: not a function type", index, at)
	}
	p++
	for _, kind := range [...]struct {
		what string
		max  uint64
	}{{"params", maxParams}, {"results", maxResults}} {
		n, q, err := u32(b, p, end)
		if err != nil {
			return q, fmt.Errorf("meter: type %d at offset %d: %s: %w", index, at, kind.what, err)
		}
		if why := over(uint64(n), kind.max, end-q, 1, "section"); why != "" {
			return q, countError(uint64(n), why, "%s in type %d", kind.what, index)
		}
		p = q
		for range n {
			if p, err = valType(b, p, end); err != nil {
				return p, fmt.Errorf("meter: type %d at offset %d: %s: %w", index, at, kind.what, err)
			}
		}
	}
	return p, nil
}

// table is the type of a table, as tableType decodes it.
type table struct {
	limits, limitsEnd int // b[limits:limitsEnd] are its limits
	flags             byte
	min, max          uint32 // max if flags&1
}

// tableType skips the table type at b[p:end] (of the table section or an
// import) as wazero decodes it, and returns it.
func tableType(b []byte, p, end int) (int, table, error) {
	var t table
	init := p+1 < end && b[p] == 0x40 && b[p+1] == 0x00 // a table with an initializer
	if init {
		p += 2
	}
	p, err := valType(b, p, end) // the element type
	if err != nil {
		return p, t, err
	}
	if p >= end {
		return p, t, errTruncated
	}
	t.limits, t.flags = p, b[p]
	t.min, p, err = u32(b, p+1, end)
	if err == nil && t.flags&1 != 0 {
		t.max, p, err = u32(b, p, end)
	}
	t.limitsEnd = p
	if err == nil && init {
		p, err = constExpr(b, p, end)
	}
	return p, t, err
}

// tableSection checks the initial sizes of the tables of the table section
// b[p:end], all together at most maxTableElems, and writes the section with
// their maximums lowered so that they too add up to at most maxTableElems
// (the earlier tables keep theirs first): table.grow allocates up to a
// table's maximum (8 bytes per element, up to 2^32-1 elements without
// one), and the module's memory limit does not cover tables. Fuel does not
// bound it either: it charges an element as an instruction, and the budget
// of a start function is 2^33. A table.grow past the maximum returns -1,
// which code must expect anyway (an engine may refuse to grow a table).
func (m *module) tableSection(start, p, end int) error {
	b := m.b
	n, p, _ := u32(b, p, end)
	entries := p
	left := uint64(maxTableElems)
	tables := make([]table, 0, min(n, 16))
	for i := uint32(0); i < n; i++ {
		at := p
		var t table
		var err error
		if p, t, err = tableType(b, p, end); err != nil {
			return fmt.Errorf("meter: table %d at offset %d: %w", m.importedTables+i, at, err)
		}
		if uint64(t.min) > left {
			why := fmt.Sprintf("more than %d", maxTableElems)
			if left < maxTableElems {
				why = fmt.Sprintf("more than the %d left of the %d all tables may have", left, maxTableElems)
			}
			return countError(uint64(t.min), why, "elements in table %d", m.importedTables+i)
		}
		left -= uint64(t.min)
		tables = append(tables, t)
	}
	if p != end { // wazero refuses it
		m.out = append(m.out, b[start:end]...)
		return nil
	}
	m.out = append(m.out, secTable)
	size := reserveSize(&m.out)
	m.out = appendU32(m.out, n)
	copied := entries
	for _, t := range tables {
		// left is the growth not yet given to a table. Limits with other
		// flags (shared tables) or a maximum below the minimum wazero
		// refuses.
		if t.flags > 0x01 || t.flags == 0x01 && t.max < t.min {
			continue
		}
		limit := uint64(t.min) + left
		if t.flags == 0x01 && uint64(t.max) <= limit {
			left -= uint64(t.max - t.min)
			continue
		}
		left = 0
		m.out = append(m.out, b[copied:t.limits]...)
		m.out = append(m.out, 0x01) // min and max
		m.out = appendU32(m.out, t.min)
		m.out = appendU32(m.out, uint32(limit))
		copied = t.limitsEnd
	}
	m.out = append(m.out, b[copied:end]...)
	m.out = putSize(m.out, size)
	return nil
}

// constExpr skips the constant expression at b[p:end], as wazero decodes
// it, and returns the offset after its end.
func constExpr(b []byte, p, end int) (int, error) {
	for {
		if p >= end {
			return p, errTruncated
		}
		op := b[p]
		p++
		var err error
		switch op {
		case 0x0b: // end
			return p, nil
		case 0x41, 0x23, 0xd2: // i32.const, global.get, ref.func
			p, err = skipLEB(b, p, end, 5)
		case 0x42: // i64.const
			p, err = skipLEB(b, p, end, 10)
		case 0x43: // f32.const
			p += 4
		case 0x44: // f64.const
			p += 8
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended constants: add, sub, mul
		case 0xd0: // ref.null: an abstract heap type's byte, or a type index
			if p >= end {
				return p, errTruncated
			}
			switch b[p] {
			case 0x70, 0x6f, 0x69: // func, extern, exn
				p++
			default:
				p, err = skipLEB(b, p, end, 5)
			}
		case 0xfd: // v128.const, its sub-opcode read as a byte
			if p < end && b[p] != 0x0c {
				return p, fmt.Errorf("instruction 0xfd %d in a constant expression", b[p])
			}
			p += 17
		default:
			return p, fmt.Errorf("opcode 0x%02x in a constant expression", op)
		}
		if err == nil && p > end {
			err = errTruncated
		}
		if err != nil {
			return p, err
		}
	}
}

// elementSection checks the entries of each segment of the element section
// b[p:end]: each takes at least a byte, and all together at most
// maxElemEntries.
func elementSection(b []byte, p, end int) error {
	n, p, _ := u32(b, p, end)
	left := uint64(maxElemEntries)
	for i := uint32(0); i < n; i++ {
		at := p
		fail := func(err error) error {
			return fmt.Errorf("meter: element segment %d at offset %d: %w", i, at, err)
		}
		prefix, q, err := u32(b, p, end)
		if err != nil {
			return fail(err)
		}
		p = q
		// Bit 0: passive or declarative, else active; bit 1: a table
		// index if active; bit 2: expressions, else function indices.
		if prefix > 7 {
			return fail(fmt.Errorf("unknown prefix %d", prefix))
		}
		exprs := prefix&4 != 0
		if prefix == 2 || prefix == 6 { // table index
			p, err = skipLEB(b, p, end, 5)
		}
		if err == nil && prefix&1 == 0 { // offset
			p, err = constExpr(b, p, end)
		}
		if err == nil && prefix&3 != 0 { // element kind (a byte) or reference type
			if exprs {
				p, err = valType(b, p, end)
			} else if p++; p > end {
				err = errTruncated
			}
		}
		var k uint32
		if err == nil {
			k, p, err = u32(b, p, end)
		}
		if err != nil {
			return fail(err)
		}
		if why := over(uint64(k), 0, end-p, 1, "section"); why != "" {
			return countError(uint64(k), why, "elements in element segment %d", i)
		}
		if uint64(k) > left {
			return countError(uint64(k), fmt.Sprintf("more than the %d left of the %d all element segments may have", left, maxElemEntries),
				"elements in element segment %d", i)
		}
		left -= uint64(k)
		for range k {
			if exprs {
				p, err = constExpr(b, p, end)
			} else {
				p, err = skipLEB(b, p, end, 5)
			}
			if err != nil {
				return fail(err)
			}
		}
	}
	return nil
}

// dataSizes checks the size of each segment of the data section b[p:end]
// against the bytes left in the section.
func dataSizes(b []byte, p, end int) error {
	n, p, _ := u32(b, p, end)
	for i := uint32(0); i < n; i++ {
		at := p
		prefix, q, err := u32(b, p, end)
		p = q
		switch {
		case err != nil:
		case prefix == 0: // active, memory 0
			p, err = constExpr(b, p, end)
		case prefix == 1: // passive
		case prefix == 2: // active, a memory index
			if p, err = skipLEB(b, p, end, 5); err == nil {
				p, err = constExpr(b, p, end)
			}
		default:
			err = fmt.Errorf("unknown prefix %d", prefix)
		}
		var size uint32
		if err == nil {
			size, p, err = u32(b, p, end)
		}
		if err != nil {
			return fmt.Errorf("meter: data segment %d at offset %d: %w", i, at, err)
		}
		if why := over(uint64(size), 0, end-p, 1, "section"); why != "" {
			return countError(uint64(size), why, "bytes in data segment %d", i)
		}
		p += int(size)
	}
	return nil
}

// nameSection checks the counts of the "name" custom section, whose
// subsections are b[p:end]. It follows wazero's decoder: the module name,
// function names and local names are decoded whatever their subsection's
// size says, other subsections skipped by it, until the sizes add up to
// the section's. A subsection that would have the decoder read on past the
// section's end is refused: the bytes there, another section's, would be
// decoded as names (the module would then be refused, after that).
func nameSection(b []byte, p, end int) error {
	const scope = "name section"
	pastEnd := fmt.Errorf("meter: name section: its subsections run past its end")
	str := func(p int, format string, args ...any) (int, error) {
		l, q, err := u32(b, p, end)
		if err != nil {
			return q, pastEnd
		}
		if why := over(uint64(l), 0, end-q, 1, scope); why != "" {
			return q, countError(uint64(l), why, "bytes in "+format, args...)
		}
		return q + int(l), nil
	}
	// vector reads a count of entries of at least 2 bytes (an index and a
	// count or length), and the index of the first.
	vector := func(p int, format string, args ...any) (uint32, int, error) {
		n, q, err := u32(b, p, end)
		if err != nil {
			return 0, q, pastEnd
		}
		if why := over(uint64(n), 0, end-q, 2, scope); why != "" {
			return 0, q, countError(uint64(n), why, format, args...)
		}
		return n, q, nil
	}
	index := func(p int) (uint32, int, error) {
		v, q, err := u32(b, p, end)
		if err != nil {
			err = pastEnd
		}
		return v, q, err
	}
	limit := uint64(end - p)
	for limit > 0 {
		if p >= end {
			return pastEnd
		}
		id := b[p]
		size, q, err := u32(b, p+1, end)
		if err != nil || uint64(q-p) > limit {
			return pastEnd
		}
		limit -= uint64(q - p)
		p = q
		switch id {
		case 0: // module name
			p, err = str(p, "the module name")
		case 1: // function names
			var n, fn uint32
			n, p, err = vector(p, "function names")
			for i := uint32(0); err == nil && i < n; i++ {
				if fn, p, err = index(p); err == nil {
					p, err = str(p, "the name of function %d", fn)
				}
			}
		case 2: // local names
			var n, fn, k, local uint32
			n, p, err = vector(p, "functions with local names")
			for i := uint32(0); err == nil && i < n; i++ {
				if fn, p, err = index(p); err != nil {
					break
				}
				k, p, err = vector(p, "local names of function %d", fn)
				for j := uint32(0); err == nil && j < k; j++ {
					if local, p, err = index(p); err == nil {
						p, err = str(p, "the name of local %d of function %d", local, fn)
					}
				}
			}
		default: // skipped
			if uint64(size) > uint64(end-p) {
				return pastEnd
			}
			p += int(size)
		}
		if err != nil {
			return err
		}
		if uint64(size) > limit {
			return pastEnd
		}
		limit -= uint64(size)
	}
	return nil
}
