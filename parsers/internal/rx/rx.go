// Package rx matches a regular expression against a whole value, the way
// LoongCollector's parsers and filters do (boost regex_match: the pattern
// must span the entire value, "." matches a newline).
//
// Simple patterns, made of literals, single-byte character classes and
// their repetitions ([^x]*, \S+, \d+, .*, [\d.]+ …) with capture groups
// around them, run on a specialised backtracking scanner that needs no
// allocation; everything else runs on Go's regexp. The scanner gives the
// same result as regexp (leftmost-first, Perl order); the tests check both
// against each other.
//
// # Linear time
//
// Log content is attacker-controlled, and a backtracking scanner can be
// made to rescan the value once per place it backtracks to: (a*)(a*)b over
// a line of a's is quadratic, (a*)(a*)(a*)b cubic. So the scanner counts
// its work in bytes examined — every byte a run of a class looks at (plus
// one per item visited), every byte of a literal compared, every byte a
// backward search for the next literal passes over, again on each rescan
// after backtracking — and gives up once the work passes
// (workPerByte-1)·n + workConst for a value of n bytes. The value then goes
// to Go's regexp, which is linear in the value. The work is added up and
// checked at the end of each stretch of items matched without a choice
// (so the straight path costs no bookkeeping per item), and a stretch
// examines at most n bytes plus a constant of the pattern (its slack), so
// a value never costs the scanner more than maxWork(n) = workPerByte·n +
// workConst + slack bytes, and then at most one regexp match, whatever the
// pattern.
//
// The alternative, refusing at Compile the shapes that can backtrack
// super-linearly (an unbounded item followed by one that can start inside
// its run), would send most log patterns to regexp: ([^"]*) followed by a
// space, (\S+) (.*) (\S+), .*Mozilla.* all have that shape, yet on real
// lines they rescan little or nothing. The budget keeps them on the scanner
// (an access-log line costs about one byte of work per byte: each run stops
// at the delimiter that follows it), and only the values that would make a
// pattern backtrack far pay for the wasted scan and then the regexp match
// (about 10% more than regexp alone in BenchmarkWorstCase).
package rx

import (
	"bytes"
	"fmt"
	"regexp"
	"regexp/syntax"
	"unicode/utf8"
)

// Regexp is a compiled full-match pattern. It is safe for concurrent use.
type Regexp struct {
	re   *regexp.Regexp
	prog []item
	caps [][2]int // per group 1..n: first item, end item
	fast bool
	// risky: a backtracked split can fall inside a multi-byte rune, so a
	// value with non-ASCII bytes goes to regexp.
	risky bool
	// slack: the pattern's share of the longest stretch (see run): one
	// per item and the longest literal.
	slack int
}

type item struct {
	lit      []byte
	class    *[256]bool
	min, max int // max < 0: unbounded
	lazy     bool
	high     bool // the class holds bytes >= 0x80
	// straight: a class item followed by a literal that cannot start
	// inside its run, so the run must be maximal (greedy or lazy alike):
	// no choice to make.
	straight bool
}

// Compile parses expr (Go RE2 syntax) as a full-match pattern.
func Compile(expr string) (*Regexp, error) {
	re, err := regexp.Compile(`(?s)^(?:` + expr + `)$`)
	if err != nil {
		if _, err2 := regexp.Compile(expr); err2 != nil {
			err = err2
		}
		return nil, err
	}
	r := &Regexp{re: re}
	if tree, err := syntax.Parse(expr, syntax.Perl|syntax.DotNL); err == nil {
		c := &compiler{caps: make([][2]int, tree.MaxCap()+1)}
		if c.walk(tree) && len(c.caps) == re.NumSubexp()+1 {
			r.prog, r.caps, r.fast = c.items, c.caps[1:], true
			r.risky = risky(r.prog)
			for i := 0; i+1 < len(r.prog); i++ {
				it, next := &r.prog[i], &r.prog[i+1]
				it.straight = it.class != nil && next.class == nil && !it.class[next.lit[0]]
			}
			r.slack = len(r.prog) + 1
			for _, it := range r.prog {
				r.slack = max(r.slack, len(r.prog)+len(it.lit))
			}
		}
	}
	return r, nil
}

// maxWork is the most work the scanner does on a value of n bytes: it
// gives up once its work passes (workPerByte-1)·n + workConst, at the end
// of a stretch, and a stretch costs at most n + slack.
func (r *Regexp) maxWork(n int) int {
	return workPerByte*n + workConst + r.slack
}

// MustCompile is Compile that panics on an error (tests).
func MustCompile(expr string) *Regexp {
	r, err := Compile(expr)
	if err != nil {
		panic(err)
	}
	return r
}

// NumSubexp is the number of capture groups.
func (r *Regexp) NumSubexp() int { return r.re.NumSubexp() }

// Fast reports whether the pattern runs on the specialised scanner.
func (r *Regexp) Fast() bool { return r.fast }

// String is the pattern as given to Compile, wrapped for a full match.
func (r *Regexp) String() string { return r.re.String() }

// The scanner's work bound for a value of n bytes: workPerByte·n +
// workConst bytes examined, plus the pattern's slack (maxWork).
const (
	workPerByte = 8
	workConst   = 1024
)

// Matcher holds the scratch space of one goroutine's matches.
type Matcher struct {
	bound []int
	idx   []int
	s     []byte
	prog  []item
	// left is what is left of the scan's budget; work is the bytes the
	// scanner examined in the last Match, never more than maxWork; out
	// says the budget ran out; slow says the last Match ran on regexp (for
	// any reason). The tests read work and slow.
	left int
	work int
	out  bool
	slow bool
}

// Match reports whether r matches all of s and returns the group bounds as
// regexp's FindSubmatchIndex does (2 ints per group, group 0 the whole
// value, -1 for a group that did not take part). The slice is reused by the
// next call on m.
func (r *Regexp) Match(m *Matcher, s []byte) ([]int, bool) {
	m.work, m.slow = 0, false
	if r.fast && !(r.risky && !ascii(s)) {
		if idx, ok, done := r.scan(m, s, (workPerByte-1)*len(s)+workConst); done {
			return idx, ok
		}
	}
	m.slow = true
	idx := r.re.FindSubmatchIndex(s)
	if idx == nil {
		return nil, false
	}
	return idx, true
}

// MatchBytes reports whether r matches all of s (no groups).
func (r *Regexp) MatchBytes(m *Matcher, s []byte) bool {
	_, ok := r.Match(m, s)
	return ok
}

func ascii(s []byte) bool {
	for _, c := range s {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// scan runs the scanner, which gives up once its work passes limit
// bytes; done is false when it gave up.
func (r *Regexp) scan(m *Matcher, s []byte, limit int) (idx []int, ok, done bool) {
	if cap(m.bound) < len(r.prog)+1 {
		m.bound = make([]int, len(r.prog)+1)
	}
	m.bound = m.bound[:len(r.prog)+1]
	m.s, m.prog = s, r.prog
	m.left, m.out = limit, false
	ok = m.run(0, 0)
	m.s, m.prog = nil, nil
	m.work = limit - m.left
	if !ok {
		return nil, false, !m.out
	}
	n := 2 * (len(r.caps) + 1)
	if cap(m.idx) < n {
		m.idx = make([]int, n)
	}
	idx = m.idx[:n]
	idx[0], idx[1] = 0, len(s)
	for g, c := range r.caps {
		idx[2+2*g], idx[3+2*g] = m.bound[c[0]], m.bound[c[1]]
	}
	return idx, true, true
}

// spend takes c bytes of work from the budget and reports whether it is
// still there; when it is not, m.out is set, and every caller returns
// false at once.
func (m *Matcher) spend(c int) bool {
	m.left -= c
	if m.left < 0 {
		m.out = true
		return false
	}
	return true
}

// run matches items i0… at pos0. The work is charged when a stretch
// ends (see stretch): the items matched one after the other without a
// choice cost the bytes they advanced over plus one each (the byte that
// ended a run, or the visit), the item that ends the stretch what it
// examined. A stretch costs at most len(s) plus the pattern's slack, so the
// work is never more than that over the limit.
func (m *Matcher) run(i0, pos0 int) bool {
	i, pos, n := m.stretch(i0, pos0)
	cost := pos - pos0 + i - i0
	if i == len(m.prog) {
		m.spend(cost)
		return pos == len(m.s)
	}
	it := &m.prog[i]
	if n < 0 {
		// A literal that did not match: HasPrefix compares at most
		// len(lit) bytes.
		m.spend(cost + len(it.lit))
		return false
	}
	if n < it.min || i+1 == len(m.prog) {
		m.spend(cost + n + 1)
		if n < it.min || pos+n != len(m.s) {
			return false
		}
		m.bound[i+1] = len(m.s)
		return true
	}
	// A choice: where the run of item i ends.
	if !m.spend(cost + n + 1) {
		return false
	}
	if it.lazy {
		for k := it.min; k <= n; k++ {
			if m.run(i+1, pos+k) {
				return true
			}
			if m.out {
				return false
			}
		}
		return false
	}
	next := &m.prog[i+1]
	for k := n; k >= it.min; k-- {
		if next.class == nil {
			// Jump to the last place the literal can start, searching
			// s[lo:hi] backwards.
			lo, hi := pos+it.min, min(pos+k+1, len(m.s))
			j := bytes.LastIndexByte(m.s[lo:hi], next.lit[0])
			if j < 0 {
				m.spend(hi - lo)
				return false
			}
			if !m.spend(hi - lo - j) {
				return false
			}
			k = it.min + j
		}
		if m.run(i+1, pos+k) {
			return true
		}
		if m.out {
			return false
		}
	}
	return false
}

// stretch matches items from i at pos as long as there is no choice to
// make, and returns the item it stopped at, where, and what that item
// found: i == len(prog) at the end of the pattern; otherwise n < 0 for a
// literal that does not match there, else the length of the longest run of
// the class item i (up to its max), which is either too short, the
// pattern's last item, or one whose end is a choice. Item bounds are
// recorded on the way.
func (m *Matcher) stretch(i, pos int) (int, int, int) {
	s, prog, bound := m.s, m.prog, m.bound
	for {
		bound[i] = pos
		if i == len(prog) {
			return i, pos, 0
		}
		it := &prog[i]
		if it.class == nil {
			if !bytes.HasPrefix(s[pos:], it.lit) {
				return i, pos, -1
			}
			pos += len(it.lit)
			i++
			continue
		}
		limit := len(s) - pos
		if it.max >= 0 && it.max < limit {
			limit = it.max
		}
		n := span(it.class, s[pos:pos+limit])
		if n < it.min || !it.straight {
			return i, pos, n
		}
		pos += n
		i++
	}
}

// span is the length of the run of cl's bytes that b starts with,
// unrolled by four. Not inlined: in stretch, its loop would not keep its
// registers.
//
//go:noinline
func span(cl *[256]bool, b []byte) int {
	_ = cl[0]
	i := 0
	for ; i+4 <= len(b); i += 4 {
		w := b[i : i+4]
		if !cl[w[0]] {
			return i
		}
		if !cl[w[1]] {
			return i + 1
		}
		if !cl[w[2]] {
			return i + 2
		}
		if !cl[w[3]] {
			return i + 3
		}
	}
	for ; i < len(b); i++ {
		if !cl[b[i]] {
			return i
		}
	}
	return len(b)
}

// risky reports whether backtracking can split a multi-byte rune: a class
// holding high bytes followed by an item that can start with one.
func risky(prog []item) bool {
	for i := 0; i+1 < len(prog); i++ {
		if !prog[i].high {
			continue
		}
		if n := &prog[i+1]; (n.class != nil && n.high) || (n.class == nil && n.lit[0] >= utf8.RuneSelf) {
			return true
		}
	}
	return false
}

type compiler struct {
	items  []item
	caps   [][2]int
	sealed bool // the last literal may not grow (a group boundary)
	ended  bool
}

func (c *compiler) add(it item) bool {
	if c.ended {
		return false
	}
	if it.class == nil {
		if n := len(c.items); n > 0 && !c.sealed && c.items[n-1].class == nil {
			c.items[n-1].lit = append(c.items[n-1].lit, it.lit...)
			return true
		}
	}
	c.items = append(c.items, it)
	c.sealed = false
	return true
}

func (c *compiler) walk(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpEmptyMatch:
		return true
	case syntax.OpBeginText:
		return len(c.items) == 0
	case syntax.OpEndText:
		c.ended = true
		return true
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if !c.walk(sub) {
				return false
			}
		}
		return true
	case syntax.OpCapture:
		if re.Cap >= len(c.caps) {
			return false
		}
		c.sealed = true
		start := len(c.items)
		if !c.walk(re.Sub[0]) {
			return false
		}
		c.sealed = true
		c.caps[re.Cap] = [2]int{start, len(c.items)}
		return true
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return false
		}
		return c.add(item{lit: []byte(string(re.Rune))})
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		cl, high, ok := class(re)
		if !ok || high {
			// A single rune that may be several bytes: leave it to regexp.
			return false
		}
		return c.add(item{class: cl, min: 1, max: 1})
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		cl, high, ok := class(re.Sub[0])
		if !ok {
			return false
		}
		it := item{class: cl, high: high, lazy: re.Flags&syntax.NonGreedy != 0}
		switch re.Op {
		case syntax.OpStar:
			it.min, it.max = 0, -1
		case syntax.OpPlus:
			it.min, it.max = 1, -1
		case syntax.OpQuest:
			it.min, it.max = 0, 1
		default:
			it.min, it.max = re.Min, re.Max
		}
		if high && (it.max >= 0 || it.min > 1) {
			return false // byte counts are not rune counts
		}
		return c.add(it)
	}
	return false
}

// class returns the byte table of a one-character expression. high says
// it holds every rune >= 0x80; a class holding only some of them is not
// byte-compatible (ok false).
func class(re *syntax.Regexp) (*[256]bool, bool, bool) {
	var ranges []rune
	switch re.Op {
	case syntax.OpCharClass:
		ranges = re.Rune
	case syntax.OpAnyChar:
		ranges = []rune{0, utf8.MaxRune}
	case syntax.OpAnyCharNotNL:
		ranges = []rune{0, '\n' - 1, '\n' + 1, utf8.MaxRune}
	case syntax.OpLiteral:
		if len(re.Rune) != 1 || re.Rune[0] >= utf8.RuneSelf || re.Flags&syntax.FoldCase != 0 {
			return nil, false, false
		}
		ranges = []rune{re.Rune[0], re.Rune[0]}
	default:
		return nil, false, false
	}
	var t [256]bool
	// Coverage of [0x80, MaxRune]: none, all, or partial.
	covered := 0
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		for r := lo; r <= hi && r < utf8.RuneSelf; r++ {
			t[r] = true
		}
		if hi >= utf8.RuneSelf {
			lo = max(lo, utf8.RuneSelf)
			covered += int(hi-lo) + 1
		}
	}
	full := int(utf8.MaxRune) - utf8.RuneSelf + 1
	switch covered {
	case 0:
		return &t, false, true
	case full:
		for b := utf8.RuneSelf; b < 256; b++ {
			t[b] = true
		}
		return &t, true, true
	}
	return nil, false, false
}

// Describe describes the program (debugging and tests).
func (r *Regexp) Describe() string {
	if !r.fast {
		return "regexp"
	}
	return fmt.Sprintf("scanner(%d items, %d groups)", len(r.prog), len(r.caps))
}
