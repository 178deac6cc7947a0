// Package words is a sdk.LineParser for the SDK's tests, natively and
// compiled to Wasm (words.wasm, built from ./wasm): it exercises every
// kind of value a LineParser may return.
//
// A line's space-separated words become the fields w1 to w4. A line
// starting with "skip" does not parse, one starting with "neg" returns -1
// and one starting with "all" returns more than there are keys. Some
// words stand for values that are not slices of the line:
//
//	UP     the word before it upper-cased, in the parser's own buffer,
//	       which it reuses for every line
//	NEW    the word before it behind "new:", in bytes allocated for it,
//	       after 64 KiB of garbage (so that the guest's GC runs)
//	CONST  a package-level value
//	EMPTY  an empty value
package words

import (
	"bytes"
)

// Keys are the keys of the fields a line gets.
var Keys = []string{"w1", "w2", "w3", "w4"}

var constant = []byte("constant")

// Parser is the LineParser.
type Parser struct {
	buf     []byte
	garbage []byte
}

// Init accepts any config.
func (p *Parser) Init([]byte) error { return nil }

// Keys returns Keys.
func (p *Parser) Keys() []string { return Keys }

// Parse follows the package documentation.
func (p *Parser) Parse(line []byte, vals [][]byte) int {
	switch {
	case bytes.HasPrefix(line, []byte("skip")):
		return 0
	case bytes.HasPrefix(line, []byte("neg")):
		return -1
	}
	n := 0
	for w := range bytes.FieldsSeq(line) {
		if n == len(vals) {
			break
		}
		var prev []byte
		if n > 0 {
			prev = vals[n-1]
		}
		switch string(w) {
		case "UP":
			p.buf = append(p.buf[:0], bytes.ToUpper(prev)...)
			w = p.buf
		case "NEW":
			p.garbage = make([]byte, 64<<10)
			w = append([]byte("new:"), prev...)
		case "CONST":
			w = constant
		case "EMPTY":
			w = line[:0]
		}
		vals[n] = w
		n++
	}
	if bytes.HasPrefix(line, []byte("all")) && n == len(vals) {
		return 99
	}
	return n
}
