// Package logfmt is what processor_parse_nginx and processor_parse_apache
// share: a web server's access-log format, compiled once into literal
// separators between named fields, and the processor that applies it.
//
// A field reads up to the first occurrence of the literal after it (the
// last field, with no literal after it, to the end of the value); the
// literals must be where the format puts them and the value must end where
// the format ends. No regular expression and no backtracking: the scan is
// a few IndexByte calls per line.
package logfmt

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/wasmtail/wasmtail/parsers/internal/rec"
	"github.com/wasmtail/wasmtail/sdk"
)

// Token is one piece of a format: literal text, or a field when Name is
// set.
type Token struct {
	Name string
	Lit  string
}

// field is a named value and the literal that ends it ("" for the last).
type field struct {
	name string
	next []byte
}

// Format is a compiled format.
type Format struct {
	prefix []byte
	fields []field
	names  []string
}

// Build compiles tokens. Adjacent literals are joined; two fields with no
// literal between them are an error (nothing would say where one ends).
func Build(tokens []Token) (*Format, error) {
	f := &Format{}
	var lit strings.Builder
	flush := func() []byte {
		b := []byte(lit.String())
		lit.Reset()
		return b
	}
	for _, t := range tokens {
		if t.Name == "" {
			lit.WriteString(t.Lit)
			continue
		}
		if n := len(f.fields); n == 0 {
			f.prefix = flush()
		} else {
			next := flush()
			if len(next) == 0 {
				return nil, fmt.Errorf("%s and %s have nothing between them", f.fields[n-1].name, t.Name)
			}
			f.fields[n-1].next = next
		}
		f.fields = append(f.fields, field{name: t.Name})
		f.names = append(f.names, t.Name)
	}
	if len(f.fields) == 0 {
		return nil, fmt.Errorf("no fields")
	}
	f.fields[len(f.fields)-1].next = flush()
	return f, nil
}

// Names are the fields in order.
func (f *Format) Names() []string { return f.names }

// Match splits s into vals (one per field, len(f.Names())), which point
// into s. It reports whether s has the format.
func (f *Format) Match(s []byte, vals [][]byte) bool {
	if len(s) < len(f.prefix) || string(s[:len(f.prefix)]) != string(f.prefix) {
		return false
	}
	p := len(f.prefix)
	for i := range f.fields {
		next := f.fields[i].next
		var j int
		switch len(next) {
		case 0: // the last field: to the end
			vals[i] = s[p:len(s):len(s)]
			return true
		case 1:
			j = bytes.IndexByte(s[p:], next[0])
		default:
			j = index(s[p:], next)
		}
		if j < 0 {
			return false
		}
		vals[i] = s[p : p+j : p+j]
		p += j + len(next)
	}
	return p == len(s)
}

// Processor applies a Format to the source field of each record.
type Processor struct {
	sourceKey   string
	common      rec.Common
	f           *Format
	vals        [][]byte
	overwritten bool
	w           rec.Builder
}

// Setup readies the processor; common's defaults must be set.
func (p *Processor) Setup(sourceKey string, common rec.Common, f *Format) {
	p.sourceKey, p.common, p.f = sourceKey, common, f
	p.vals = make([][]byte, len(f.fields))
	p.overwritten = false
	for _, n := range f.names {
		p.overwritten = p.overwritten || n == sourceKey
	}
}

// Process parses every record that has the source field.
func (p *Processor) Process(b *sdk.Batch) error {
	out := b.Records[:0]
	for i := range b.Records {
		r := &b.Records[i]
		if p.parse(b, r) {
			out = append(out, *r)
		}
	}
	clear(b.Records[len(out):])
	b.Records = out
	return nil
}

func (p *Processor) parse(b *sdk.Batch, r *sdk.Record) bool {
	j := rec.Find(r, p.sourceKey)
	if j < 0 {
		return true
	}
	src := r.Fields[j].Value
	w := &p.w
	ok := p.f.Match(src, p.vals)
	if ok {
		w.Start(b, r, len(p.vals)+2)
		for i, v := range p.vals {
			w.Set(p.f.names[i], v)
		}
	} else {
		w.Start(b, r, 2)
	}
	keep := p.common.Finish(w, p.sourceKey, src, ok, p.overwritten)
	r.Fields = w.Fields()
	return keep
}

// index is bytes.Index for the short literals of a format: find the first
// byte, then compare the rest (cheaper than bytes.Index's set-up when the
// literal is usually a few bytes away).
func index(s, lit []byte) int {
	c, rest := lit[0], lit[1:]
	for off := 0; ; {
		k := bytes.IndexByte(s[off:], c)
		if k < 0 {
			return -1
		}
		k += off
		if len(s)-k > len(rest) {
			switch len(rest) {
			case 1:
				if s[k+1] == rest[0] {
					return k
				}
			case 2:
				if s[k+1] == rest[0] && s[k+2] == rest[1] {
					return k
				}
			default:
				if string(s[k+1:k+1+len(rest)]) == string(rest) {
					return k
				}
			}
		}
		off = k + 1
	}
}
