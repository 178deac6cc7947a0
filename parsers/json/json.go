// Package json is processor_parse_json_native: the source field holds a
// JSON object; each member becomes a field. Strings are unescaped, other
// scalars kept as written, null is empty, and nested objects and arrays are
// their compact JSON text (as LoongCollector's rapidjson writer prints it).
//
// Values are slices of the input wherever the text is already what the
// field must hold (unescaped strings, numbers, compact nested values), so a
// typical line costs no allocation.
package json

import (
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/wasmtail/wasmtail/parsers/internal/conf"
	"github.com/wasmtail/wasmtail/parsers/internal/rec"
	"github.com/wasmtail/wasmtail/sdk"
)

// Type is the pipeline Type.
const Type = "processor_parse_json_native"

// Config is the processor's parameters.
type Config struct {
	// SourceKey is the field to parse. Required.
	SourceKey string
	rec.Common
}

// Parser is the processor.
type Parser struct {
	cfg     Config
	w       rec.Builder
	keys    map[string]string
	scratch []byte
	stack   []byte
}

// Init reads the config (JSON).
func (p *Parser) Init(config []byte) error {
	var c Config
	if err := conf.Decode(config, &c); err != nil {
		return err
	}
	if c.SourceKey == "" {
		return errors.New("SourceKey: required")
	}
	c.Common.Init(c.SourceKey)
	p.cfg = c
	p.keys = map[string]string{}
	return nil
}

// Process parses every record that has the source field.
func (p *Parser) Process(b *sdk.Batch) error {
	rec.Keep(b, func(r *sdk.Record) bool { return p.parse(b, r) })
	return nil
}

var (
	litTrue  = []byte("true")
	litFalse = []byte("false")
	empty    = []byte{}
)

func (p *Parser) parse(b *sdk.Batch, r *sdk.Record) bool {
	j := rec.Find(r, p.cfg.SourceKey)
	if j < 0 {
		return true
	}
	src := r.Fields[j].Value
	w := &p.w
	w.Start(b, r, 16)
	ok, overwritten := p.object(b, src)
	if !ok {
		// Undo what a partial parse added.
		w.Start(b, r, 2)
	}
	keep := p.cfg.Common.Finish(w, p.cfg.SourceKey, src, ok, overwritten)
	r.Fields = w.Fields()
	return keep
}

func ws(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skip(s []byte, i int) int {
	for i < len(s) && ws(s[i]) {
		i++
	}
	return i
}

// object parses the top-level object of s into p.w.
func (p *Parser) object(b *sdk.Batch, s []byte) (ok, overwritten bool) {
	i := skip(s, 0)
	if i >= len(s) || s[i] != '{' {
		return false, false
	}
	i = skip(s, i+1)
	if i < len(s) && s[i] == '}' {
		return skip(s, i+1) == len(s), false
	}
	for {
		if i >= len(s) || s[i] != '"' {
			return false, false
		}
		ks, ke, esc, ok := str(s, i)
		if !ok {
			return false, false
		}
		var key string
		if esc {
			key = string(unescape(nil, s[ks:ke]))
		} else {
			key = p.key(s[ks:ke])
		}
		i = skip(s, ke+1)
		if i >= len(s) || s[i] != ':' {
			return false, false
		}
		i = skip(s, i+1)
		var v []byte
		v, i, ok = p.value(b, s, i)
		if !ok {
			return false, false
		}
		p.w.Set(key, v)
		overwritten = overwritten || key == p.cfg.SourceKey
		i = skip(s, i)
		if i >= len(s) {
			return false, false
		}
		if s[i] == '}' {
			return skip(s, i+1) == len(s), overwritten
		}
		if s[i] != ',' {
			return false, false
		}
		i = skip(s, i+1)
	}
}

func (p *Parser) key(k []byte) string {
	if s, ok := p.keys[string(k)]; ok {
		return s
	}
	s := string(k)
	if len(p.keys) < 4096 {
		p.keys[s] = s
	}
	return s
}

// value parses the value at s[i] and returns the field value and the index
// after it.
func (p *Parser) value(b *sdk.Batch, s []byte, i int) ([]byte, int, bool) {
	if i >= len(s) {
		return nil, i, false
	}
	switch c := s[i]; {
	case c == '"':
		vs, ve, esc, ok := str(s, i)
		if !ok {
			return nil, i, false
		}
		v := s[vs:ve:ve]
		if esc {
			p.scratch = unescape(p.scratch[:0], v)
			v = b.Append(p.scratch)
		}
		return v, ve + 1, true
	case c == '{' || c == '[':
		end, canonical, ok := p.nested(s, i)
		if !ok {
			return nil, i, false
		}
		v := s[i:end:end]
		if !canonical {
			p.scratch = compact(p.scratch[:0], v)
			v = b.Append(p.scratch)
		}
		return v, end, true
	case c == 't':
		if hasLit(s, i, "true") {
			return litTrue, i + 4, true
		}
	case c == 'f':
		if hasLit(s, i, "false") {
			return litFalse, i + 5, true
		}
	case c == 'n':
		if hasLit(s, i, "null") {
			return empty, i + 4, true
		}
	default:
		if end, _, ok := number(s, i); ok {
			return s[i:end:end], end, true
		}
	}
	return nil, i, false
}

func hasLit(s []byte, i int, lit string) bool {
	return len(s)-i >= len(lit) && string(s[i:i+len(lit)]) == lit
}

// str scans the string starting at the quote s[i]: its content is
// s[start:end] and s[end] is the closing quote. esc reports escapes.
func str(s []byte, i int) (start, end int, esc, ok bool) {
	start = i + 1
	for j := start; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			return start, j, esc, true
		case c == '\\':
			esc = true
			j++
			if j >= len(s) {
				return 0, 0, false, false
			}
			switch s[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(s) || !hex4(s[j+1:j+5]) {
					return 0, 0, false, false
				}
				j += 4
			default:
				return 0, 0, false, false
			}
		case c < 0x20:
			return 0, 0, false, false
		}
	}
	return 0, 0, false, false
}

func hex4(h []byte) bool {
	for _, c := range h {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func hexval(h []byte) rune {
	var r rune
	for _, c := range h {
		r <<= 4
		switch {
		case c <= '9':
			r |= rune(c - '0')
		case c >= 'a':
			r |= rune(c-'a') + 10
		default:
			r |= rune(c-'A') + 10
		}
	}
	return r
}

// unescape appends the unescaped content of a valid JSON string to dst.
func unescape(dst, v []byte) []byte {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		switch v[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hexval(v[i+1 : i+5])
			i += 4
			if utf16.IsSurrogate(r) && i+6 < len(v) && v[i+1] == '\\' && v[i+2] == 'u' {
				if r2 := hexval(v[i+3 : i+7]); utf16.DecodeRune(r, r2) != utf8.RuneError {
					r = utf16.DecodeRune(r, r2)
					i += 6
				}
			}
			dst = utf8.AppendRune(dst, r)
		default:
			dst = append(dst, v[i])
		}
	}
	return dst
}

// number scans a JSON number at s[i]; integer says it has no fraction or
// exponent.
func number(s []byte, i int) (end int, integer, ok bool) {
	j := i
	if j < len(s) && s[j] == '-' {
		j++
	}
	if j >= len(s) {
		return i, false, false
	}
	switch {
	case s[j] == '0':
		j++
	case '1' <= s[j] && s[j] <= '9':
		for j < len(s) && '0' <= s[j] && s[j] <= '9' {
			j++
		}
	default:
		return i, false, false
	}
	integer = true
	if j < len(s) && s[j] == '.' {
		integer = false
		j++
		d := j
		for j < len(s) && '0' <= s[j] && s[j] <= '9' {
			j++
		}
		if j == d {
			return i, false, false
		}
	}
	if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
		integer = false
		j++
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		d := j
		for j < len(s) && '0' <= s[j] && s[j] <= '9' {
			j++
		}
		if j == d {
			return i, false, false
		}
	}
	return j, integer, true
}

// nested validates the object or array at s[i] and returns the index after
// it. canonical says its text is already compact and canonically escaped.
func (p *Parser) nested(s []byte, i int) (end int, canonical, ok bool) {
	st := p.stack[:0]
	canonical = true
	expectValue := true
	for j := i; j < len(s); {
		c := s[j]
		switch {
		case ws(c):
			canonical = false
			j++
			continue
		case c == '{' || c == '[':
			if !expectValue {
				return 0, false, false
			}
			st = append(st, c)
			j++
			// An empty container is a value.
			k := skip(s, j)
			if k < len(s) && (s[k] == '}' && c == '{' || s[k] == ']' && c == '[') {
				if k != j {
					canonical = false
				}
				st = st[:len(st)-1]
				j = k + 1
				expectValue = false
				if len(st) == 0 {
					p.stack = st
					return j, canonical, true
				}
				continue
			}
			if c == '{' {
				k = skip(s, j)
				if k != j {
					canonical = false
				}
				var esc bool
				if k >= len(s) || s[k] != '"' {
					return 0, false, false
				}
				ks, ke, e, ok := str(s, k)
				if !ok {
					return 0, false, false
				}
				esc = e
				if esc && !canonicalEscapes(s[ks:ke]) {
					canonical = false
				}
				j = skip(s, ke+1)
				if j != ke+1 {
					canonical = false
				}
				if j >= len(s) || s[j] != ':' {
					return 0, false, false
				}
				j++
			}
			expectValue = true
			continue
		case c == '}' || c == ']':
			if expectValue || len(st) == 0 || (c == '}') != (st[len(st)-1] == '{') {
				return 0, false, false
			}
			st = st[:len(st)-1]
			j++
			if len(st) == 0 {
				p.stack = st
				return j, canonical, true
			}
			continue
		case c == ',':
			if expectValue || len(st) == 0 {
				return 0, false, false
			}
			j++
			if st[len(st)-1] == '{' {
				k := skip(s, j)
				if k != j {
					canonical = false
				}
				if k >= len(s) || s[k] != '"' {
					return 0, false, false
				}
				ks, ke, esc, ok := str(s, k)
				if !ok {
					return 0, false, false
				}
				if esc && !canonicalEscapes(s[ks:ke]) {
					canonical = false
				}
				j = skip(s, ke+1)
				if j != ke+1 {
					canonical = false
				}
				if j >= len(s) || s[j] != ':' {
					return 0, false, false
				}
				j++
			}
			expectValue = true
			continue
		}
		if !expectValue {
			return 0, false, false
		}
		switch {
		case c == '"':
			ks, ke, esc, ok := str(s, j)
			if !ok {
				return 0, false, false
			}
			if esc && !canonicalEscapes(s[ks:ke]) {
				canonical = false
			}
			j = ke + 1
		case c == 't' && hasLit(s, j, "true"):
			j += 4
		case c == 'f' && hasLit(s, j, "false"):
			j += 5
		case c == 'n' && hasLit(s, j, "null"):
			j += 4
		default:
			e, integer, ok := number(s, j)
			if !ok {
				return 0, false, false
			}
			if !integer || (s[j] == '-' && e == j+2 && s[j+1] == '0') {
				canonical = false
			}
			j = e
		}
		expectValue = false
	}
	p.stack = st
	return 0, false, false
}

// canonicalEscapes reports whether the escapes of a string are those
// rapidjson's writer produces: \" \\ \b \f \n \r \t and \u00XX (upper-case
// hex) for the other control characters.
func canonicalEscapes(v []byte) bool {
	for i := 0; i < len(v); i++ {
		if v[i] != '\\' {
			continue
		}
		i++
		switch v[i] {
		case '"', '\\', 'b', 'f', 'n', 'r', 't':
		case 'u':
			h := v[i+1 : i+5]
			r := hexval(h)
			if r >= 0x20 || r == '\b' || r == '\f' || r == '\n' || r == '\r' || r == '\t' || string(h) != hexUpper(r) {
				return false
			}
			i += 4
		default:
			return false
		}
	}
	return true
}

func hexUpper(r rune) string {
	const d = "0123456789ABCDEF"
	return string([]byte{d[r>>12&15], d[r>>8&15], d[r>>4&15], d[r&15]})
}

// compact appends the compact, canonically escaped form of the valid JSON
// value v.
func compact(dst, v []byte) []byte {
	for i := 0; i < len(v); {
		c := v[i]
		switch {
		case ws(c):
			i++
		case c == '"':
			_, e, esc, _ := str(v, i)
			if !esc {
				dst = append(dst, v[i:e+1]...)
			} else {
				dst = appendString(dst, unescape(nil, v[i+1:e]))
			}
			i = e + 1
		case c == '-' || ('0' <= c && c <= '9'):
			e, integer, _ := number(v, i)
			if integer && !(c == '-' && e == i+2 && v[i+1] == '0') {
				dst = append(dst, v[i:e]...)
			} else {
				dst = appendFloat(dst, v[i:e])
			}
			i = e
		default:
			dst = append(dst, c)
			i++
		}
	}
	return dst
}

func appendString(dst, s []byte) []byte {
	dst = append(dst, '"')
	for _, c := range s {
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			if c < 0x20 {
				dst = append(dst, '\\', 'u')
				dst = append(dst, hexUpper(rune(c))...)
			} else {
				dst = append(dst, c)
			}
		}
	}
	return append(dst, '"')
}

// appendFloat prints a double the way rapidjson's writer does: the
// shortest digits, ".0" on whole numbers, an exponent outside 1e-7..1e21.
func appendFloat(dst, num []byte) []byte {
	f, err := strconv.ParseFloat(string(num), 64)
	if err != nil {
		return append(dst, num...)
	}
	a := abs(f)
	if a != 0 && (a < 1e-7 || a >= 1e21) {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		// Go writes e+21 / e-08; rapidjson writes e21 / e-8.
		out := make([]byte, 0, len(s))
		for i := 0; i < len(s); i++ {
			out = append(out, s[i])
			if s[i] == 'e' {
				if s[i+1] == '+' {
					i++
				}
				if s[i+1] == '-' {
					out = append(out, '-')
					i++
				}
				for i+1 < len(s)-1 && s[i+1] == '0' {
					i++
				}
			}
		}
		return append(dst, out...)
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	dst = append(dst, s...)
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return dst
		}
	}
	return append(dst, '.', '0')
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

var _ sdk.Processor = (*Parser)(nil)
