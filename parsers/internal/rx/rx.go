// Package rx matches a regular expression against a whole value, the way
// LoongCollector's parsers and filters do (boost regex_match: the pattern
// must span the entire value, "." matches a newline).
//
// Simple patterns, made of literals, single-byte character classes and
// their repetitions ([^x]*, \S+, \d+, .*, [\d.]+ …) with capture groups
// around them, run on a specialised backtracking scanner that needs no
// allocation; everything else runs on Go's regexp. The scanner gives the
// same result as regexp (leftmost-first, Perl order) and falls back to it
// for a value when its step budget runs out; the tests check both against
// each other.
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
}

type item struct {
	lit      []byte
	class    *[256]bool
	min, max int // max < 0: unbounded
	lazy     bool
	high     bool // the class holds bytes >= 0x80
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
		}
	}
	return r, nil
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

// Matcher holds the scratch space of one goroutine's matches.
type Matcher struct {
	bound []int
	idx   []int
	steps int
	limit int
	s     []byte
	prog  []item
}

// Match reports whether r matches all of s and returns the group bounds as
// regexp's FindSubmatchIndex does (2 ints per group, group 0 the whole
// value, -1 for a group that did not take part). The slice is reused by the
// next call on m.
func (r *Regexp) Match(m *Matcher, s []byte) ([]int, bool) {
	if r.fast && !(r.risky && !ascii(s)) {
		if idx, ok, done := r.scan(m, s); done {
			return idx, ok
		}
	}
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

// scan runs the scanner; done is false when it gave up (budget).
func (r *Regexp) scan(m *Matcher, s []byte) (idx []int, ok, done bool) {
	if cap(m.bound) < len(r.prog)+1 {
		m.bound = make([]int, len(r.prog)+1)
	}
	m.bound = m.bound[:len(r.prog)+1]
	m.s, m.prog, m.steps, m.limit = s, r.prog, 0, 8*len(s)+256
	ok = m.run(0, 0)
	m.s, m.prog = nil, nil
	if m.steps > m.limit {
		return nil, false, false
	}
	if !ok {
		return nil, false, true
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

func (m *Matcher) run(i, pos int) bool {
	m.steps++
	if m.steps > m.limit {
		return false
	}
	s := m.s
	for {
		m.bound[i] = pos
		if i == len(m.prog) {
			return pos == len(s)
		}
		it := &m.prog[i]
		if it.class == nil {
			if !bytes.HasPrefix(s[pos:], it.lit) {
				return false
			}
			pos += len(it.lit)
			i++
			continue
		}
		limit := len(s) - pos
		if it.max >= 0 && it.max < limit {
			limit = it.max
		}
		n := 0
		cl := it.class
		for n < limit && cl[s[pos+n]] {
			n++
		}
		if n < it.min {
			return false
		}
		if i+1 == len(m.prog) {
			if pos+n != len(s) {
				return false
			}
			m.bound[i+1] = len(s)
			return true
		}
		next := &m.prog[i+1]
		if next.class == nil && !cl[next.lit[0]] {
			// The next literal cannot start inside the run: the run must
			// be maximal (greedy or lazy alike).
			pos += n
			i++
			continue
		}
		if it.lazy {
			for k := it.min; k <= n; k++ {
				if m.run(i+1, pos+k) {
					return true
				}
				if m.steps > m.limit {
					return false
				}
			}
			return false
		}
		for k := n; k >= it.min; k-- {
			if next.class == nil {
				// Jump to the last place the literal can start.
				j := bytes.LastIndexByte(s[pos+it.min:min(pos+k+1, len(s))], next.lit[0])
				if j < 0 {
					return false
				}
				k = it.min + j
			}
			if m.run(i+1, pos+k) {
				return true
			}
			if m.steps > m.limit {
				return false
			}
		}
		return false
	}
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
