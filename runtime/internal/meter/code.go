package meter

import (
	"errors"
	"fmt"
)

// Instruction kinds, indexed by opcode. The kinds from opPlain on cost an
// instruction.
const (
	opBad   = iota // unknown or unsupported
	opFree         // nop: no immediate, costs nothing
	opBlock        // block
	opLoop         // loop
	opElse         // else
	opEnd          // end

	opPlain       // no immediate
	opIdx         // one LEB128 of up to 5 bytes: an index, i32.const
	opIdx2        // two LEB128 of up to 5 bytes: call_indirect, memarg
	opGlobal      // global.get, global.set
	opI64         // i64.const
	opF32         // f32.const
	opF64         // f64.const
	opIf          // if
	opBr          // br
	opBrIf        // br_if
	opBrTable     // br_table
	opReturn      // return
	opUnreachable // unreachable
	opSelectT     // select with value types
	opPrefixFC    // 0xfc: saturating truncation, bulk memory and tables
	opPrefixFD    // 0xfd: SIMD
)

// kinds is the kind of each opcode.
var kinds = func() (k [256]uint8) {
	set := func(kind uint8, ops ...byte) {
		for _, op := range ops {
			k[op] = kind
		}
	}
	set(opUnreachable, 0x00)
	set(opFree, 0x01)
	set(opBlock, 0x02)
	set(opLoop, 0x03)
	set(opIf, 0x04)
	set(opElse, 0x05)
	set(opEnd, 0x0b)
	set(opBr, 0x0c)
	set(opBrIf, 0x0d)
	set(opBrTable, 0x0e)
	set(opReturn, 0x0f)
	set(opIdx, 0x10)  // call
	set(opIdx2, 0x11) // call_indirect type table
	set(opPlain, 0x1a, 0x1b)
	set(opSelectT, 0x1c)
	set(opIdx, 0x20, 0x21, 0x22) // local.get, local.set, local.tee
	set(opGlobal, 0x23, 0x24)
	set(opIdx, 0x25, 0x26)             // table.get, table.set
	for op := 0x28; op <= 0x3e; op++ { // loads and stores: memarg
		k[op] = opIdx2
	}
	set(opIdx, 0x3f, 0x40) // memory.size, memory.grow: memory index
	set(opIdx, 0x41)       // i32.const
	set(opI64, 0x42)
	set(opF32, 0x43)
	set(opF64, 0x44)
	for op := 0x45; op <= 0xc4; op++ { // numeric, sign extension
		k[op] = opPlain
	}
	set(opIdx, 0xd0)   // ref.null: a heap type, a byte or an s33
	set(opPlain, 0xd1) // ref.is_null
	set(opIdx, 0xd2)   // ref.func
	set(opPrefixFC, 0xfc)
	set(opPrefixFD, 0xfd)
	return k
}()

// unsupported names the proposal of opcodes Instrument refuses.
func unsupported(op byte) string {
	switch op {
	case 0x06, 0x07, 0x08, 0x09, 0x0a, 0x18, 0x19, 0x1f:
		return "exception handling"
	case 0x12, 0x13:
		return "tail calls"
	case 0x14, 0x15, 0xd3, 0xd4, 0xd6:
		return "typed function references"
	case 0xd5, 0xfb:
		return "garbage collection"
	case 0xfe:
		return "threads"
	}
	return "unknown"
}

// maxPaths is how many stretches may meet at the end of a block before a
// check opens a new one there.
const maxPaths = 4

// paths is a set of stretches that may lead to a point of the code, each
// with the most instructions it may have counted on the way there. An empty
// set means the point cannot be reached (code after a branch).
type paths struct {
	n     int32
	check [maxPaths]int32 // index in code.checks
	count [maxPaths]int32
}

// add adds stretch check with count, and reports false if the set is full.
func (s *paths) add(check, count int32) bool {
	for i := range s.n {
		if s.check[i] == check {
			s.count[i] = max(s.count[i], count)
			return true
		}
	}
	if s.n == maxPaths {
		return false
	}
	s.check[s.n], s.count[s.n] = check, count
	s.n++
	return true
}

// merge adds every stretch of t, and reports false if the set is too small.
func (s *paths) merge(t *paths) bool {
	for i := range t.n {
		if !s.add(t.check[i], t.count[i]) {
			return false
		}
	}
	return true
}

// frame is a block, loop or if being decoded.
type frame struct {
	kind     uint8 // opBlock, opLoop or opIf (the function body is a block)
	hasElse  bool  // an if whose else was seen
	overflow bool  // more stretches branch to the end than end holds
	end      paths // the stretches that branch to the end
}

// checkpoint is a check in the output: where its cost is and what it is.
type checkpoint struct {
	at   int // offset of the 2-byte cost in the output
	cost int32
}

// checkCode returns the check for the fuel global fuel, and the offset of
// its cost in it: a padded 2-byte LEB128 (0x80|c, c>>7), valid for
// 0 <= c < 8192, written once the stretch is decoded.
func checkCode(fuel uint32) (code []byte, costAt int) {
	code = appendU32([]byte{0x23}, fuel) // global.get $fuel
	code = append(code, 0x42)            // i64.const cost
	costAt = len(code)
	code = append(code, 0x80, 0x00, 0x7d, 0x24) // i64.sub; global.set
	code = appendU32(code, fuel)
	return appendTrap(code, fuel), costAt
}

// bulkCode is the check before a bulk operation: it charges its length
// operand (the top of the stack, an i32) shifted right by shift.
func bulkCode(fuel, scratch uint32, shift byte) []byte {
	code := appendU32([]byte{0x24}, scratch) // global.set $scratch
	code = append(code, 0x23)                // global.get $fuel
	code = appendU32(code, fuel)
	code = append(code, 0x23) // global.get $scratch
	code = appendU32(code, scratch)
	code = append(code, 0xad) // i64.extend_i32_u
	if shift > 0 {
		code = append(code, 0x42, shift, 0x88) // i64.const shift; i64.shr_u
	}
	code = append(code, 0x7d, 0x24) // i64.sub; global.set $fuel
	code = appendU32(code, fuel)
	code = appendTrap(code, fuel)
	code = append(code, 0x23) // global.get $scratch: the length again
	return appendU32(code, scratch)
}

// appendTrap appends: if fuel < 0 { unreachable }.
func appendTrap(code []byte, fuel uint32) []byte {
	code = append(code, 0x23) // global.get $fuel
	code = appendU32(code, fuel)
	// i64.const 0; i64.lt_s; if (no result); unreachable; end
	return append(code, 0x42, 0x00, 0x53, 0x04, 0x40, 0x00, 0x0b)
}

// bulkShift is log2 of the bytes of memory a bulk memory operation may
// touch per unit of fuel: copying 16 bytes takes about as long as an
// instruction. A bulk table operation costs a unit per element.
const bulkShift = 4

// code instruments function bodies. It holds the state of the function
// being decoded; its buffers are reused from one function to the next.
type code struct {
	fuel      uint32 // index of the fuel global: the first that is not the module's
	check     []byte // the check; its cost at check[costAt:]
	costAt    int
	bulkMem   []byte // the check before a bulk memory operation
	bulkTable []byte // the check before a bulk table operation

	fn     uint32 // function index, for errors
	b      []byte // the module
	out    []byte // the output
	copied int    // b[:copied] is in out or was rewritten

	checks []checkpoint
	stack  []frame
	ifs    []paths // for each if in stack, the stretches at it: the else or end when false

	// The stretches that lead to the current instruction: cur, each with
	// d more instructions than its count; top is the largest count in cur.
	cur paths
	top int32
	d   int32
}

func (c *code) init(m *module) {
	c.fuel = m.fuel
	c.check, c.costAt = checkCode(m.fuel)
	c.bulkMem = bulkCode(m.fuel, m.scratch, bulkShift)
	c.bulkTable = bulkCode(m.fuel, m.scratch, 0)
}

// function appends to out the instrumented body b[p:end] of function fn.
func (c *code) function(out, b []byte, p, end int, fn uint32) ([]byte, error) {
	c.fn, c.b, c.out, c.copied = fn, b, out, p
	c.checks = c.checks[:0]
	c.stack = append(c.stack[:0], frame{kind: opBlock})
	c.ifs = c.ifs[:0]
	p, err := c.locals(p, end)
	if err == nil {
		c.newCheck(p)
		p, err = c.body(p, end)
	}
	if err != nil {
		return out, err
	}
	if p != end {
		return out, c.errorf(p, "%d bytes after the end of the function", end-p)
	}
	c.flush(end)
	for _, k := range c.checks {
		cost := max(k.cost, 1) // at most maxStretch, well under 8192
		c.out[k.at] = 0x80 | byte(cost&0x7f)
		c.out[k.at+1] = byte(cost >> 7)
	}
	return c.out, nil
}

// locals skips the local declarations at b[p:end], which are copied as is,
// and checks that they declare at most maxLocals locals (bounds.go).
func (c *code) locals(p, end int) (int, error) {
	n, p, err := u32(c.b, p, end)
	if err == nil {
		// A declaration is a count and a value type, 2 bytes or more.
		if why := over(uint64(n), 0, end-p, 2, "function body"); why != "" {
			return p, countError(uint64(n), why, "local declarations in function %d", c.fn)
		}
	}
	var sum uint64
	for i := uint32(0); err == nil && i < n; i++ {
		var k uint32
		if k, p, err = u32(c.b, p, end); err == nil {
			sum += uint64(k)
			p, err = valType(c.b, p, end)
		}
	}
	if err != nil {
		return p, c.errorf(p, "locals: %v", err)
	}
	if sum > maxLocals {
		return p, countError(sum, fmt.Sprintf("more than %d", maxLocals), "locals in function %d", c.fn)
	}
	return p, nil
}

func (c *code) errorf(at int, format string, args ...any) error {
	return fmt.Errorf("meter: function %d at offset %d: %s", c.fn, at, fmt.Sprintf(format, args...))
}

// flush copies the input up to p to the output.
func (c *code) flush(p int) {
	c.out = append(c.out, c.b[c.copied:p]...)
	c.copied = p
}

// newCheck inserts a check before b[p] and makes it the only stretch.
func (c *code) newCheck(p int) {
	c.flush(p)
	c.out = append(c.out, c.check...)
	c.checks = append(c.checks, checkpoint{at: len(c.out) - len(c.check) + c.costAt})
	c.cur.n = 1
	c.cur.check[0] = int32(len(c.checks) - 1)
	c.cur.count[0] = 0
	c.top, c.d = 0, 0
}

// settle adds d to the counts of the current stretches and records them as
// costs.
func (c *code) settle() {
	for i := range c.cur.n {
		n := c.cur.count[i] + c.d
		c.cur.count[i] = n
		k := &c.checks[c.cur.check[i]]
		k.cost = max(k.cost, n)
	}
	c.top += c.d
	c.d = 0
}

// kill ends the current stretches: what follows cannot be reached from
// here (code after a branch, or a new check).
func (c *code) kill() {
	c.settle()
	c.cur.n = 0
}

// enter makes s the current stretches.
func (c *code) enter(s *paths) {
	c.cur = *s
	c.top, c.d = 0, 0
	for i := range s.n {
		c.top = max(c.top, s.count[i])
	}
}

// branch records that the current stretches branch to the label depth
// blocks out (0: the innermost). A branch to a loop goes to its check.
func (c *code) branch(depth uint32) error {
	if depth >= uint32(len(c.stack)) {
		return fmt.Errorf("branch depth %d out of range", depth)
	}
	f := &c.stack[len(c.stack)-1-int(depth)]
	if f.kind != opLoop && !f.overflow && !f.end.merge(&c.cur) {
		f.overflow = true
	}
	return nil
}

var errNoEnd = errors.New("unexpected end of the function body")

// body instruments the instructions at b[p:end] up to the end of the
// function and returns the offset after it.
func (c *code) body(p, end int) (int, error) {
	b := c.b
	var err error
	for {
		if p >= end {
			return p, c.errorf(p, "%v", errNoEnd)
		}
		at := p
		op := b[p]
		p++
		kind := kinds[op]
		if kind >= opPlain && c.cur.n > 0 {
			if c.top+c.d >= maxStretch {
				c.kill()
				c.newCheck(at)
			}
			c.d++
		}
		switch kind {
		case opBad:
			return p, c.errorf(at, "unsupported opcode 0x%02x (%s)", op, unsupported(op))
		case opFree, opPlain:
		case opIdx:
			if p < end && b[p] < 0x80 {
				p++
			} else {
				p, err = skipLEB(b, p, end, 5)
			}
		case opIdx2:
			if p+1 < end && b[p] < 0x80 && b[p+1] < 0x80 {
				p += 2
			} else if p, err = skipLEB(b, p, end, 5); err == nil {
				p, err = skipLEB(b, p, end, 5)
			}
		case opGlobal:
			// A global the module does not define is invalid, but would
			// be valid after instrumentation: it would be the fuel.
			var g uint32
			if g, p, err = u32(b, p, end); err == nil && g >= c.fuel {
				return p, c.errorf(at, "global index %d out of range", g)
			}
		case opI64:
			p, err = skipLEB(b, p, end, 10)
		case opF32:
			if p += 4; p > end {
				err = errTruncated
			}
		case opF64:
			if p += 8; p > end {
				err = errTruncated
			}
		case opSelectT:
			// One value type: wazero refuses any other count.
			var n uint32
			if n, p, err = u32(b, p, end); err == nil {
				if n == 0 {
					return p, c.errorf(at, "select without its type")
				}
				if n > 1 {
					return p, countError(uint64(n), "more than 1", "select types in function %d", c.fn)
				}
				p, err = valType(b, p, end)
			}

		case opBlock, opLoop, opIf:
			if p, err = skipLEB(b, p, end, 5); err != nil { // block type
				break
			}
			c.stack = append(c.stack, frame{kind: kind})
			switch {
			case kind == opIf:
				c.settle()
				c.ifs = append(c.ifs, c.cur) // empty in unreachable code
			case c.cur.n == 0: // unreachable code
			case kind == opLoop:
				c.kill()
				c.newCheck(p)
			}
		case opElse:
			f := &c.stack[len(c.stack)-1]
			if f.kind != opIf || f.hasElse {
				return p, c.errorf(at, "else without if")
			}
			f.hasElse = true
			c.settle()
			if !f.overflow && !f.end.merge(&c.cur) {
				f.overflow = true
			}
			c.enter(&c.ifs[len(c.ifs)-1])
		case opEnd:
			c.settle()
			f := &c.stack[len(c.stack)-1]
			c.stack = c.stack[:len(c.stack)-1]
			if f.kind == opLoop { // nothing branches to the end of a loop
				break
			}
			ok := !f.overflow && f.end.merge(&c.cur)
			if f.kind == opIf {
				if !f.hasElse {
					ok = ok && f.end.merge(&c.ifs[len(c.ifs)-1])
				}
				c.ifs = c.ifs[:len(c.ifs)-1]
			}
			if len(c.stack) == 0 {
				return p, nil // the end of the function
			}
			if ok {
				c.enter(&f.end)
			} else {
				c.kill()
				c.newCheck(p)
			}

		case opBr, opBrIf:
			var depth uint32
			if depth, p, err = u32(b, p, end); err != nil {
				break
			}
			if c.cur.n > 0 {
				c.settle()
				err = c.branch(depth)
				if kind == opBr {
					c.kill()
				}
			}
		case opBrTable:
			var n, depth uint32
			if n, p, err = u32(b, p, end); err != nil {
				break
			}
			// n targets and the default, a byte or more each.
			if why := over(uint64(n)+1, 0, end-p, 1, "function body"); why != "" {
				return p, countError(uint64(n), why, "br_table targets in function %d", c.fn)
			}
			c.settle()
			for i := uint32(0); i <= n && err == nil; i++ {
				if depth, p, err = u32(b, p, end); err == nil && c.cur.n > 0 {
					err = c.branch(depth)
				}
			}
			c.kill()
		case opReturn, opUnreachable:
			c.kill()

		case opPrefixFC:
			p, err = c.prefixFC(p, end, at)
		case opPrefixFD:
			p, err = c.prefixFD(p, end)
		}
		if err != nil {
			return p, c.errorf(at, "opcode 0x%02x: %v", op, err)
		}
	}
}

// prefixFC decodes the instruction prefixed by 0xfc at b[at:], the prefix
// at b[at] and its sub-opcode from b[p:]. A bulk operation gets a check of
// its length first.
func (c *code) prefixFC(p, end, at int) (int, error) {
	b := c.b
	sub, p, err := u32(b, p, end)
	if err != nil {
		return p, err
	}
	var bulk []byte
	switch sub {
	case 0, 1, 2, 3, 4, 5, 6, 7: // trunc_sat
	case 9, 13, 16: // data.drop, elem.drop, table.size
		p, err = skipLEB(b, p, end, 5)
	case 8, 10: // memory.init data mem, memory.copy mem mem
		bulk = c.bulkMem
		if p, err = skipLEB(b, p, end, 5); err == nil {
			p, err = skipLEB(b, p, end, 5)
		}
	case 11: // memory.fill mem
		bulk = c.bulkMem
		p, err = skipLEB(b, p, end, 5)
	case 12, 14: // table.init elem table, table.copy table table
		bulk = c.bulkTable
		if p, err = skipLEB(b, p, end, 5); err == nil {
			p, err = skipLEB(b, p, end, 5)
		}
	case 15, 17: // table.grow table, table.fill table
		bulk = c.bulkTable
		p, err = skipLEB(b, p, end, 5)
	default:
		return p, fmt.Errorf("unsupported instruction 0xfc %d", sub)
	}
	if err == nil && bulk != nil && c.cur.n > 0 {
		c.flush(at)
		c.out = append(c.out, bulk...)
	}
	return p, err
}

// prefixFD decodes the SIMD instruction at b[p:], after its prefix.
func (c *code) prefixFD(p, end int) (int, error) {
	b := c.b
	sub, p, err := u32(b, p, end)
	if err != nil {
		return p, err
	}
	switch {
	case sub <= 11, sub == 92, sub == 93: // loads and stores: memarg
		if p, err = skipLEB(b, p, end, 5); err == nil {
			p, err = skipLEB(b, p, end, 5)
		}
	case sub == 12, sub == 13: // v128.const, i8x16.shuffle
		if p += 16; p > end {
			err = errTruncated
		}
	case 21 <= sub && sub <= 34: // extract_lane, replace_lane: lane
		if p++; p > end {
			err = errTruncated
		}
	case 84 <= sub && sub <= 91: // load_lane, store_lane: memarg, lane
		if p, err = skipLEB(b, p, end, 5); err == nil {
			if p, err = skipLEB(b, p, end, 5); err == nil {
				if p++; p > end {
					err = errTruncated
				}
			}
		}
	case sub <= 255:
	default:
		err = fmt.Errorf("unsupported instruction 0xfd %d (relaxed SIMD)", sub)
	}
	return p, err
}
