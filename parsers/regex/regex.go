// Package regex is processor_parse_regex_native: a regular expression over
// the source field, one key per capture group (LoongCollector semantics:
// the pattern must match the whole value).
package regex

import (
	"errors"
	"fmt"
	"strings"

	"github.com/wasmtail/wasmtail/parsers/internal/conf"
	"github.com/wasmtail/wasmtail/parsers/internal/rec"
	"github.com/wasmtail/wasmtail/parsers/internal/rx"
	"github.com/wasmtail/wasmtail/sdk"
)

// Type is the pipeline Type.
const Type = "processor_parse_regex_native"

// Config is the processor's parameters.
type Config struct {
	// SourceKey is the field to parse. Required.
	SourceKey string
	// Regex is the pattern (RE2 syntax), matched against the whole value.
	// Required.
	Regex string
	// Keys name the capture groups in order. Required. One string holding
	// commas is split (Logtail's old form).
	Keys []string
	rec.Common
}

// Parser is the processor.
type Parser struct {
	cfg         Config
	re          *rx.Regexp
	m           rx.Matcher
	wholeLine   bool
	overwritten bool
	w           rec.Builder
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
	if c.Regex == "" {
		return errors.New("Regex: required")
	}
	if len(c.Keys) == 0 {
		return errors.New("Keys: required")
	}
	if len(c.Keys) == 1 && strings.Contains(c.Keys[0], ",") {
		c.Keys = strings.Split(c.Keys[0], ",")
	}
	re, err := rx.Compile(c.Regex)
	if err != nil {
		return fmt.Errorf("Regex: %w", err)
	}
	c.Common.Init(c.SourceKey)
	p.cfg, p.re = c, re
	p.wholeLine = c.Regex == "(.*)"
	for _, k := range c.Keys {
		p.overwritten = p.overwritten || k == c.SourceKey
	}
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
	w := &p.w
	w.Start(b, r, len(p.cfg.Keys)+2)
	ok := true
	if p.wholeLine {
		w.Set(p.cfg.Keys[0], src)
	} else {
		idx, matched := p.re.Match(&p.m, src)
		ok = matched && len(idx)/2-1 >= len(p.cfg.Keys)
		if ok {
			for k, key := range p.cfg.Keys {
				a, e := idx[2+2*k], idx[3+2*k]
				var v []byte
				if a >= 0 {
					v = src[a:e:e]
				}
				w.Set(key, v)
			}
		}
	}
	keep := p.cfg.Common.Finish(w, p.cfg.SourceKey, src, ok, p.overwritten)
	r.Fields = w.Fields()
	return keep
}

var _ sdk.Processor = (*Parser)(nil)
