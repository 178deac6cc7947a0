// Package delimiter is processor_parse_delimiter_native: split the source
// field on Separator (1 to 4 bytes); with a one-byte separator, fields may
// be quoted with Quote, a doubled quote standing for one.
package delimiter

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"github.com/wasmtail/wasmtail/parsers/internal/conf"
	"github.com/wasmtail/wasmtail/parsers/internal/rec"
	"github.com/wasmtail/wasmtail/sdk"
)

// Type is the pipeline Type.
const Type = "processor_parse_delimiter_native"

// Config is the processor's parameters.
type Config struct {
	// SourceKey is the field to parse. Required.
	SourceKey string
	// Separator is 1 to 4 bytes; `\t` means a tab. Required.
	Separator string
	// Quote is one byte, used with a one-byte Separator. Default `"`.
	Quote *string
	// Keys name the columns in order. Required.
	Keys []string
	// AllowingShortenedFields accepts fewer columns than Keys. Default true.
	AllowingShortenedFields *bool
	// OverflowedFieldsTreatment is what extra columns become: extend (one
	// field __column<i>__ each), keep (the rest of the line, separators
	// included, as __column<len(Keys)>__) or discard (dropped, and Keys
	// named "_" are skipped). Default extend.
	OverflowedFieldsTreatment string
	rec.Common
}

const (
	extend = iota
	keep
	discard
)

// Parser is the processor.
type Parser struct {
	cfg         Config
	sep         []byte
	quote       byte
	useQuote    bool
	short       bool
	overflow    int
	overwritten bool
	colKeys     []string
	cols        [][]byte
	buf         []byte
	w           rec.Builder
}

// Init reads the config (JSON).
func (p *Parser) Init(config []byte) error {
	var c Config
	if err := conf.Decode(config, &c); err != nil {
		return err
	}
	switch {
	case c.SourceKey == "":
		return errors.New("SourceKey: required")
	case c.Separator == "":
		return errors.New("Separator: required")
	case len(c.Separator) > 4:
		return fmt.Errorf("Separator: want at most 4 bytes, got %q", c.Separator)
	case len(c.Keys) == 0:
		return errors.New("Keys: required")
	}
	if c.Separator == `\t` {
		c.Separator = "\t"
	}
	p.sep = []byte(c.Separator)
	p.quote = '"'
	if c.Quote != nil && len(p.sep) == 1 {
		switch len(*c.Quote) {
		case 0:
		case 1:
			p.quote = (*c.Quote)[0]
		default:
			return fmt.Errorf("Quote: want one byte, got %q", *c.Quote)
		}
	}
	p.useQuote = len(p.sep) == 1 && p.quote != p.sep[0]
	p.short = c.AllowingShortenedFields == nil || *c.AllowingShortenedFields
	switch c.OverflowedFieldsTreatment {
	case "", "extend":
		p.overflow = extend
	case "keep":
		p.overflow = keep
	case "discard":
		p.overflow = discard
	default:
		return fmt.Errorf("OverflowedFieldsTreatment: want extend, keep or discard, got %q", c.OverflowedFieldsTreatment)
	}
	for _, k := range c.Keys {
		p.overwritten = p.overwritten || k == c.SourceKey
	}
	c.Common.Init(c.SourceKey)
	p.cfg = c
	return nil
}

// Process parses every record that has the source field.
func (p *Parser) Process(b *sdk.Batch) error {
	rec.Keep(b, func(r *sdk.Record) bool { return p.parse(b, r) })
	return nil
}

func (p *Parser) parse(b *sdk.Batch, r *sdk.Record) bool {
	j := rec.Find(r, p.cfg.SourceKey)
	if j < 0 {
		return true
	}
	src := r.Fields[j].Value
	end := len(src)
	for end > 0 && (src[end-1] == ' ' || src[end-1] == '\r') {
		end--
	}
	beg := 0
	for beg < end && src[beg] == ' ' {
		beg++
	}
	if beg >= end {
		return true // empty or blank: left as it is
	}
	var ok bool
	if p.useQuote {
		ok = p.splitQuoted(b, src[beg:end])
	} else {
		ok = p.split(src[beg:end])
	}
	nkeys := len(p.cfg.Keys)
	if ok && (len(p.cols) == 0 || (!p.short && len(p.cols) < nkeys)) {
		ok = false
	}
	w := &p.w
	w.Start(b, r, len(p.cols)+2)
	if ok {
		for i, v := range p.cols {
			if i < nkeys {
				if p.overflow == discard && p.cfg.Keys[i] == "_" {
					continue
				}
				w.Set(p.cfg.Keys[i], v)
				continue
			}
			if p.overflow == discard {
				continue
			}
			w.Set(p.columnKey(i), v)
		}
	}
	keepRec := p.cfg.Common.Finish(w, p.cfg.SourceKey, src, ok, p.overwritten)
	r.Fields = w.Fields()
	return keepRec
}

func (p *Parser) columnKey(i int) string {
	for len(p.colKeys) <= i {
		p.colKeys = append(p.colKeys, "__column"+strconv.Itoa(len(p.colKeys))+"__")
	}
	return p.colKeys[i]
}

// split cuts s on the separator without quotes.
func (p *Parser) split(s []byte) bool {
	p.cols = p.cols[:0]
	nkeys := len(p.cfg.Keys)
	pos := 0
	for {
		i := bytes.Index(s[pos:], p.sep)
		if i < 0 {
			p.cols = append(p.cols, s[pos:len(s):len(s)])
			return true
		}
		p.cols = append(p.cols, s[pos:pos+i:pos+i])
		next := pos + i + len(p.sep)
		if len(p.cols) >= nkeys && p.overflow != extend {
			p.cols = append(p.cols, s[pos+i:len(s):len(s)])
			return true
		}
		pos = next
	}
}

// splitQuoted runs LoongCollector's CSV state machine over s.
func (p *Parser) splitQuoted(b *sdk.Batch, s []byte) bool {
	p.cols = p.cols[:0]
	sep, q := p.sep[0], p.quote
	const (
		initial = iota
		quoted
		data
		doubleQuote
	)
	state := initial
	start := 0     // start of the current field's text
	var buf []byte // unquoted copy when a doubled quote occurs
	copied := false
	flush := func(end int) {
		if copied {
			buf = append(buf, s[start:end]...)
			p.cols = append(p.cols, b.Append(buf))
		} else {
			p.cols = append(p.cols, s[start:end:end])
		}
		buf, copied = buf[:0], false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch state {
		case initial:
			switch c {
			case sep:
				p.cols = append(p.cols, s[i:i:i])
				start = i + 1
			case q:
				state = quoted
				start = i + 1
			default:
				state = data
				start = i
			}
		case quoted:
			if c == q {
				state = doubleQuote
			}
		case data:
			switch c {
			case sep:
				flush(i)
				state = initial
				start = i + 1
			case q:
				return false
			}
		case doubleQuote:
			switch c {
			case sep:
				flush(i - 1)
				state = initial
				start = i + 1
			case q:
				// A doubled quote: keep one.
				if !copied {
					buf = append(p.buf[:0], s[start:i]...)
					copied = true
				} else {
					buf = append(buf, s[start:i]...)
				}
				start = i + 1
				state = quoted
			default:
				return false
			}
		}
	}
	defer func() { p.buf = buf[:0] }()
	switch state {
	case quoted:
		return false
	case initial:
		p.cols = append(p.cols, s[len(s):len(s):len(s)])
	case data:
		flush(len(s))
	case doubleQuote:
		flush(len(s) - 1)
	}
	if p.overflow != extend && len(p.cols) > len(p.cfg.Keys) {
		n := 0
		for _, c := range p.cols[len(p.cfg.Keys):] {
			n += 1 + len(c)
		}
		joined := b.Alloc(n)[:0]
		for _, c := range p.cols[len(p.cfg.Keys):] {
			joined = append(joined, sep)
			joined = append(joined, c...)
		}
		p.cols = append(p.cols[:len(p.cfg.Keys)], joined)
	}
	return true
}

var _ sdk.Processor = (*Parser)(nil)
