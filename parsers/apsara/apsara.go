// Package apsara is processor_parse_apsara_native: Apsara (Feitian) log
// lines,
//
//	[2024-06-01 12:00:00.123456]\t[INFO]\t[17283]\t[main.cpp:123]\tkey1:val1\tkey2:val2
//
// The bracketed time (a date with an optional fraction, or Unix
// microseconds "[1378972170425093]") becomes the record's time and the
// field microtime; the bracketed fields after it become __LEVEL__ (capital
// letters), __THREAD__ (digits) and __FILE__/__LINE__ (holding '/' or '.');
// each tab-separated key:value after them becomes a field.
package apsara

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"github.com/wasmtail/wasmtail/parsers/internal/conf"
	"github.com/wasmtail/wasmtail/parsers/internal/rec"
	"github.com/wasmtail/wasmtail/parsers/internal/strptime"
	"github.com/wasmtail/wasmtail/sdk"
)

// Type is the pipeline Type.
const Type = "processor_parse_apsara_native"

// Keys of the fields the parser adds.
const (
	LevelKey     = "__LEVEL__"
	ThreadKey    = "__THREAD__"
	FileKey      = "__FILE__"
	LineKey      = "__LINE__"
	MicrotimeKey = "microtime"
)

// maxBaseFields bounds the bracketed fields looked at.
const maxBaseFields = 10

var tab = []byte{'\t'}

// maxKeys bounds the interned key:value keys.
const maxKeys = 4096

// Config is the processor's parameters.
type Config struct {
	// SourceKey is the field holding the line. Required.
	SourceKey string
	// Timezone is the zone of dates, GMT+HH:MM or GMT-HH:MM. Default: the
	// agent's local time zone (UTC in a Wasm module).
	Timezone string
	rec.Common
}

// Parser is the processor.
type Parser struct {
	cfg    Config
	zone   strptime.Zone
	layout *strptime.Layout
	keys   map[string]string
	w      rec.Builder

	// The date text of the last line parsed and its seconds.
	cache    []byte
	cacheOK  bool
	cacheSec int64
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
	z, err := strptime.ParseZone(c.Timezone)
	if err != nil {
		return fmt.Errorf("Timezone: %w", err)
	}
	l, err := strptime.Compile("%Y-%m-%d %H:%M:%S")
	if err != nil {
		return err
	}
	c.Common.Init(c.SourceKey)
	p.cfg, p.zone, p.layout = c, z, l
	p.keys = map[string]string{}
	p.cache, p.cacheOK = p.cache[:0], false
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
	if len(src) == 0 {
		return true
	}
	w := &p.w
	sec, micro, ok := p.time(src)
	if !ok || sec <= 0 {
		w.Start(b, r, 2)
		keep := p.cfg.Common.Finish(w, p.cfg.SourceKey, src, false, false)
		r.Fields = w.Fields()
		return keep
	}
	r.Sec, r.Nsec = sec, int32(micro%1000000)*1000
	// Room for a field per tab, __LINE__, microtime and the kept source.
	w.Start(b, r, bytes.Count(src, tab)+4)
	i := p.baseFields(w, src)
	overwritten := false
	if i < len(src) {
		// Tab-separated key:value (split at the first ':'; without one, the
		// text is skipped). The first one starts at 0, its ':' looked for
		// only after the bracketed fields.
		beg, k := 0, i+1
		for {
			e := bytes.IndexByte(src[k:], '\t')
			if e < 0 {
				e = len(src)
			} else {
				e += k
			}
			if c := bytes.IndexByte(src[k:e], ':'); c >= 0 {
				c += k
				key := p.key(src[beg:c])
				w.Set(key, src[c+1:e:e])
				overwritten = overwritten || key == p.cfg.SourceKey
			}
			if e == len(src) {
				break
			}
			beg, k = e+1, e+1
		}
	}
	w.Set(MicrotimeKey, strconv.AppendInt(b.Alloc(20)[:0], micro, 10))
	keep := p.cfg.Common.Finish(w, p.cfg.SourceKey, src, true, overwritten)
	r.Fields = w.Fields()
	return keep
}

// time reads the bracketed time at the start of src: its seconds and the
// time in microseconds.
func (p *Parser) time(src []byte) (int64, int64, bool) {
	if src[0] != '[' {
		return 0, 0, false
	}
	end := -1
	for k := 1; k < len(src); k++ {
		if src[k] == ']' {
			end = k
			break
		}
	}
	if end < 0 {
		return 0, 0, false
	}
	t := src[1 : end+1] // the time and its ']'
	if t[0] == '1' {
		sec, nsec, n, ok := strptime.Epoch(t)
		if !ok || t[n] != ']' {
			return 0, 0, false
		}
		return sec, sec*1000000 + int64(nsec/1000), true
	}
	var sec int64
	var n int
	if c := p.cache; p.cacheOK && len(t) > len(c) && string(t[:len(c)]) == string(c) && !isDigit(t[len(c)]) {
		sec, n = p.cacheSec, len(c)
	} else {
		var ok bool
		if sec, _, n, ok = p.layout.Parse(t, p.zone, -1); !ok {
			return 0, 0, false
		}
		p.cache = append(p.cache[:0], t[:n]...)
		p.cacheOK, p.cacheSec = true, sec
	}
	// One byte (usually '.') then an optional fraction.
	nsec, _ := strptime.Fraction(t[n+1:])
	return sec, sec*1000000 + int64(nsec/1000), true
}

// baseFields adds the bracketed fields after the time and returns the
// index of the last one's ']' (0 when there is none).
func (p *Parser) baseFields(w *rec.Builder, s []byte) int {
	var begin, end [maxBaseFields]int
	n := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			begin[n] = i + 1
		case ']':
			next := byte(0)
			if i+1 < len(s) {
				next = s[i+1]
			}
			if i+1 == len(s) || next == '\t' || next == '\n' {
				end[n] = i
				n++
			}
			if n >= maxBaseFields || (next == '\t' && (i+2 == len(s) || s[i+2] != '[')) {
				i = len(s)
			}
		}
	}
	if n == 0 {
		return 0
	}
	const level, thread, file = 1, 2, 4
	found := 0
	for i := 1; found != level|thread|file && i < n; i++ {
		v := s[begin[i]:end[i]:end[i]]
		switch {
		case found&level == 0 && all(v, 'A', 'Z'):
			found |= level
			w.Set(LevelKey, v)
		case found&thread == 0 && all(v, '0', '9'):
			found |= thread
			w.Set(ThreadKey, v)
		case found&file == 0 && hasPathChar(v):
			found |= file
			c := len(v)
			for k, ch := range v {
				if ch == ':' {
					c = k
					break
				}
			}
			w.Set(FileKey, v[:c:c])
			if c < len(v) {
				w.Set(LineKey, v[c+1:])
			}
		}
	}
	return end[n-1]
}

// key returns k as a string, interned.
func (p *Parser) key(k []byte) string {
	if s, ok := p.keys[string(k)]; ok {
		return s
	}
	s := string(k)
	if len(p.keys) < maxKeys {
		p.keys[s] = s
	}
	return s
}

func all(v []byte, lo, hi byte) bool {
	for _, c := range v {
		if c < lo || c > hi {
			return false
		}
	}
	return true
}

func hasPathChar(v []byte) bool {
	for _, c := range v {
		if c == '/' || c == '.' {
			return true
		}
	}
	return false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

var _ sdk.Processor = (*Parser)(nil)
