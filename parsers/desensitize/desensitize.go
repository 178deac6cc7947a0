// Package desensitize is processor_desensitize_native: in the SourceKey
// field, replace what ReplacedContentPattern matches after
// ContentPatternBeforeReplacedString with ReplacingString (Method const)
// or with the upper-case hex MD5 of the replaced text (Method md5).
package desensitize

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"

	"github.com/wasmtail/wasmtail/parsers/internal/conf"
	"github.com/wasmtail/wasmtail/sdk"
)

// Type is the pipeline Type.
const Type = "processor_desensitize_native"

// Config is the processor's parameters.
type Config struct {
	// SourceKey is the field to rewrite. Required.
	SourceKey string
	// Method is const or md5. Required.
	Method string
	// ReplacingString replaces the sensitive text (Method const; required
	// there).
	ReplacingString *string
	// ContentPatternBeforeReplacedString is the pattern (RE2) of what
	// precedes the sensitive text. Required.
	ContentPatternBeforeReplacedString string
	// ReplacedContentPattern is the pattern (RE2) of the sensitive text.
	// Required.
	ReplacedContentPattern string
	// ReplacingAll replaces every occurrence, not only the first. Default
	// true.
	ReplacingAll *bool
}

// Processor is the processor.
type Processor struct {
	key     string
	md5     bool
	repl    []byte
	re      *regexp.Regexp
	all     bool
	scratch []byte
}

// Init reads the config (JSON).
func (p *Processor) Init(config []byte) error {
	var c Config
	if err := conf.Decode(config, &c); err != nil {
		return err
	}
	switch {
	case c.SourceKey == "":
		return errors.New("SourceKey: required")
	case c.Method != "const" && c.Method != "md5":
		return fmt.Errorf("Method: want const or md5, got %q", c.Method)
	case c.Method == "const" && c.ReplacingString == nil:
		return errors.New("ReplacingString: required with Method const")
	case c.ContentPatternBeforeReplacedString == "":
		return errors.New("ContentPatternBeforeReplacedString: required")
	case c.ReplacedContentPattern == "":
		return errors.New("ReplacedContentPattern: required")
	}
	re, err := regexp.Compile("(" + c.ContentPatternBeforeReplacedString + ")" + c.ReplacedContentPattern)
	if err != nil {
		return fmt.Errorf("ContentPatternBeforeReplacedString or ReplacedContentPattern: %w", err)
	}
	p.key, p.md5, p.re = c.SourceKey, c.Method == "md5", re
	if c.ReplacingString != nil {
		p.repl = []byte(*c.ReplacingString)
	}
	p.all = c.ReplacingAll == nil || *c.ReplacingAll
	return nil
}

// Process rewrites the field in every record that has it.
func (p *Processor) Process(b *sdk.Batch) error {
	for i := range b.Records {
		r := &b.Records[i]
		for j := range r.Fields {
			f := &r.Fields[j]
			if f.Key != p.key || len(f.Value) == 0 {
				continue
			}
			if v, changed := p.cast(f.Value); changed {
				f.Value = b.Append(v)
			}
		}
	}
	return nil
}

// cast rewrites v into p.scratch; changed is false when nothing matched.
func (p *Processor) cast(v []byte) ([]byte, bool) {
	out := p.scratch[:0]
	pos, n := 0, 0
	for pos <= len(v) {
		m := p.re.FindSubmatchIndex(v[pos:])
		if m == nil {
			break
		}
		start, end, pre := pos+m[0], pos+m[1], pos+m[3]
		out = append(out, v[pos:pre]...)
		if p.md5 {
			sum := md5.Sum(v[pre:end])
			var h [32]byte
			hex.Encode(h[:], sum[:])
			out = append(out, upper(h[:])...)
		} else {
			out = append(out, p.repl...)
		}
		n++
		pos = end
		if end == start {
			// An empty match: step over one byte so the loop advances.
			if pos < len(v) {
				out = append(out, v[pos])
			}
			pos++
		}
		if !p.all {
			break
		}
	}
	if n == 0 {
		return nil, false
	}
	if pos < len(v) {
		out = append(out, v[pos:]...)
	}
	p.scratch = out
	return out, true
}

func upper(h []byte) []byte {
	for i, c := range h {
		if 'a' <= c && c <= 'f' {
			h[i] = c - 'a' + 'A'
		}
	}
	return h
}

var _ sdk.Processor = (*Processor)(nil)
