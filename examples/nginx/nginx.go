// Package nginx is an example processor that parses nginx "combined"
// access lines by hand. The same parser is written in C (c/nginx.c): the
// tests require both modules, and this package called natively, to give
// identical records, and the benchmarks compare the three.
//
//	$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
package nginx

import (
	"bytes"

	"github.com/wasmtail/wasmtail/sdk"
)

// Keys are the fields a parsed line gets, in order. The last two are only
// there when the line has them (the "common" format has not).
var Keys = [...]string{"remote_addr", "remote_user", "time_local", "request", "status", "body_bytes_sent", "http_referer", "http_user_agent"}

// Parser parses the field "content" of each record: a sdk.LineParser,
// which a module registers as a sdk.Lines (wasm/main.go). A line that does
// not parse is left as it is; one that does loses "content" and gets the
// fields of Keys.
type Parser struct{}

// Init accepts any config.
func (Parser) Init([]byte) error { return nil }

// Keys returns Keys.
func (Parser) Keys() []string { return Keys[:] }

// Parse sets vals to the fields of line; sdk.Lines gives it 8 of them.
func (Parser) Parse(line []byte, vals [][]byte) int {
	return Split(line, (*[8][]byte)(vals))
}

// Split fills vals with slices of line and returns how many it found: 8, 6
// (no referer and user agent) or 0 (not an access line).
func Split(line []byte, vals *[8][]byte) int {
	p := line
	tok := func(stop byte) ([]byte, bool) {
		i := bytes.IndexByte(p, stop)
		if i < 0 {
			return nil, false
		}
		t := p[:i]
		p = p[i+1:]
		return t, true
	}
	var ok bool
	if vals[0], ok = tok(' '); !ok || len(vals[0]) == 0 {
		return 0
	}
	if _, ok = tok(' '); !ok { // ident, always "-"
		return 0
	}
	if vals[1], ok = tok(' '); !ok {
		return 0
	}
	if len(p) == 0 || p[0] != '[' {
		return 0
	}
	p = p[1:]
	if vals[2], ok = tok(']'); !ok {
		return 0
	}
	if len(p) < 2 || p[0] != ' ' || p[1] != '"' {
		return 0
	}
	p = p[2:]
	if vals[3], ok = tok('"'); !ok {
		return 0
	}
	if len(p) == 0 || p[0] != ' ' {
		return 0
	}
	p = p[1:]
	if vals[4], ok = tok(' '); !ok || len(vals[4]) == 0 {
		return 0
	}
	if i := bytes.IndexByte(p, ' '); i >= 0 {
		vals[5], p = p[:i], p[i:]
	} else {
		vals[5], p = p, nil
	}
	if len(p) < 2 || p[0] != ' ' || p[1] != '"' {
		return 6
	}
	p = p[2:]
	if vals[6], ok = tok('"'); !ok {
		return 6
	}
	if len(p) < 2 || p[0] != ' ' || p[1] != '"' {
		return 6
	}
	p = p[2:]
	if vals[7], ok = tok('"'); !ok {
		return 6
	}
	return 8
}

var _ sdk.LineParser = Parser{}
