// Package filterregex is processor_filter_regex_native: keep a record only
// when every FilterKey field matches (whole value) its FilterRegex.
package filterregex

import (
	"errors"
	"fmt"
	"sort"
	"unicode/utf8"

	"github.com/wasmtail/wasmtail/parsers/internal/conf"
	"github.com/wasmtail/wasmtail/parsers/internal/rx"
	"github.com/wasmtail/wasmtail/sdk"
)

// Type is the pipeline Type.
const Type = "processor_filter_regex_native"

// Config is the processor's parameters.
type Config struct {
	// FilterKey are the fields to test; all must be present and match.
	FilterKey []string
	// FilterRegex are the patterns, one per FilterKey (RE2 syntax, whole
	// value).
	FilterRegex []string
	// Include is the deprecated form: a map from key to pattern, used when
	// FilterKey is empty.
	Include map[string]string
	// DiscardingNonUTF8 replaces each byte of invalid UTF-8 in kept records
	// with a space. Default false.
	DiscardingNonUTF8 bool
	// ConditionExp (LoongCollector's expression mode) is not supported.
	ConditionExp map[string]any
}

// Filter is the processor.
type Filter struct {
	keys       []string
	res        []*rx.Regexp
	m          rx.Matcher
	discardBad bool
}

// Init reads the config (JSON).
func (f *Filter) Init(config []byte) error {
	var c Config
	if err := conf.Decode(config, &c); err != nil {
		return err
	}
	if c.ConditionExp != nil {
		return errors.New("ConditionExp: not supported (use FilterKey and FilterRegex)")
	}
	if len(c.FilterKey) != len(c.FilterRegex) {
		return fmt.Errorf("FilterKey and FilterRegex: want lists of the same length, got %d and %d", len(c.FilterKey), len(c.FilterRegex))
	}
	keys, pats := c.FilterKey, c.FilterRegex
	if len(keys) == 0 && len(c.Include) > 0 {
		for k := range c.Include {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			pats = append(pats, c.Include[k])
		}
	}
	for i, p := range pats {
		re, err := rx.Compile(p)
		if err != nil {
			return fmt.Errorf("FilterRegex[%d]: %w", i, err)
		}
		f.res = append(f.res, re)
	}
	f.keys = keys
	f.discardBad = c.DiscardingNonUTF8
	return nil
}

// Process drops the records that do not match.
func (f *Filter) Process(b *sdk.Batch) error {
	out := b.Records[:0]
	for i := range b.Records {
		r := &b.Records[i]
		if !f.match(r) {
			continue
		}
		if f.discardBad {
			f.clean(b, r)
		}
		out = append(out, *r)
	}
	clear(b.Records[len(out):])
	b.Records = out
	return nil
}

func (f *Filter) match(r *sdk.Record) bool {
	if len(r.Fields) == 0 {
		return false
	}
	for i, k := range f.keys {
		v, ok := r.Get(k)
		if !ok || !f.res[i].MatchBytes(&f.m, v) {
			return false
		}
	}
	return true
}

// clean replaces invalid UTF-8 bytes with spaces, in values and keys.
func (f *Filter) clean(b *sdk.Batch, r *sdk.Record) {
	var fs []sdk.Field
	for i, fl := range r.Fields {
		kbad, vbad := !utf8.ValidString(fl.Key), !utf8.Valid(fl.Value)
		if !kbad && !vbad {
			continue
		}
		if fs == nil {
			fs = append(b.Fields(len(r.Fields)), r.Fields...)
		}
		if vbad {
			fs[i].Value = spaces(b.Append(fl.Value))
		}
		if kbad {
			fs[i].Key = string(spaces([]byte(fl.Key)))
		}
	}
	if fs != nil {
		r.Fields = fs
	}
}

func spaces(v []byte) []byte {
	for i := 0; i < len(v); {
		c, n := utf8.DecodeRune(v[i:])
		if c == utf8.RuneError && n <= 1 {
			v[i] = ' '
			i++
			continue
		}
		i += n
	}
	return v
}

var _ sdk.Processor = (*Filter)(nil)
