// Package rec holds what LoongCollector's parsers share: the record builder
// with its set/add/delete semantics and the common options
// (KeepingSourceWhenParseFail, KeepingSourceWhenParseSucceed,
// RenamedSourceKey, CopingRawLog).
package rec

import (
	"github.com/wasmtail/wasmtail/hostabi"
	"github.com/wasmtail/wasmtail/sdk"
)

// RawLogKey is where CopingRawLog copies the source of a failed parse.
const RawLogKey = "__raw_log__"

// Common are the options every LoongCollector parser takes.
type Common struct {
	// KeepingSourceWhenParseFail keeps the source field (under
	// RenamedSourceKey) when the parse fails. Default false: a failed record
	// whose only field was the source is dropped, as LoongCollector does.
	KeepingSourceWhenParseFail bool
	// KeepingSourceWhenParseSucceed keeps the source field (under
	// RenamedSourceKey) when the parse succeeds. Default false.
	KeepingSourceWhenParseSucceed bool
	// RenamedSourceKey is the key the kept source goes under. Default: the
	// source key.
	RenamedSourceKey string
	// CopingRawLog also copies the source of a failed parse into
	// __raw_log__ (with KeepingSourceWhenParseFail). Default false.
	CopingRawLog bool
}

// Builder builds the new field list of one record. Keys are compared by
// value; a small bit set of key hashes skips most comparisons.
type Builder struct {
	fs   []sdk.Field
	mask uint64
}

func bit(k string) uint64 {
	if len(k) == 0 {
		return 1
	}
	return 1 << ((uint(len(k)) ^ uint(k[0])*7 ^ uint(k[len(k)-1])*13) & 63)
}

// Start begins a record from the fields of r, with room for extra more.
func (w *Builder) Start(b *sdk.Batch, r *sdk.Record, extra int) {
	w.fs = b.Fields(len(r.Fields) + extra)
	w.mask = 0
	for _, f := range r.Fields {
		w.fs = append(w.fs, f)
		w.mask |= bit(f.Key)
	}
}

func (w *Builder) index(k string) int {
	if w.mask&bit(k) == 0 {
		return -1
	}
	for i := range w.fs {
		if w.fs[i].Key == k {
			return i
		}
	}
	return -1
}

// validKey says whether k can be a field's key: the ABI (and so every
// parser, natively too) takes 1 to hostabi.MaxKeyLen bytes. Parsers drop
// a value whose key is not valid.
func validKey(k string) bool { return len(k) > 0 && len(k) <= hostabi.MaxKeyLen }

// Set overwrites the value of key in place, or appends it.
func (w *Builder) Set(k string, v []byte) {
	if !validKey(k) {
		return
	}
	if i := w.index(k); i >= 0 {
		w.fs[i].Value = v
		return
	}
	w.Append(k, v)
}

// Add appends key unless it is there already.
func (w *Builder) Add(k string, v []byte) {
	if validKey(k) && w.index(k) < 0 {
		w.Append(k, v)
	}
}

// Append appends key without looking for it (duplicates allowed).
func (w *Builder) Append(k string, v []byte) {
	if !validKey(k) {
		return
	}
	w.fs = append(w.fs, sdk.Field{Key: k, Value: v})
	w.mask |= bit(k)
}

// Del removes the first field named key.
func (w *Builder) Del(k string) {
	if i := w.index(k); i >= 0 {
		w.fs = append(w.fs[:i], w.fs[i+1:]...)
	}
}

// Len is the number of fields so far.
func (w *Builder) Len() int { return len(w.fs) }

// Fields returns the built fields.
func (w *Builder) Fields() []sdk.Field { return w.fs }

// Find returns the index of the first field named key in r, or -1.
func Find(r *sdk.Record, key string) int {
	for i := range r.Fields {
		if r.Fields[i].Key == key {
			return i
		}
	}
	return -1
}

// Finish applies the common options after a parse of source (the source
// field's original value) and reports whether the record is kept.
// overwritten says a parsed key replaced the source key.
func (c *Common) Finish(w *Builder, sourceKey string, source []byte, ok, overwritten bool) bool {
	if !ok || !overwritten {
		w.Del(sourceKey)
	}
	if (ok && c.KeepingSourceWhenParseSucceed) || (!ok && c.KeepingSourceWhenParseFail) {
		w.Add(c.RenamedSourceKey, source)
	}
	if !ok && c.KeepingSourceWhenParseFail && c.CopingRawLog {
		w.Add(RawLogKey, source)
	}
	return ok || c.KeepingSourceWhenParseFail || !Empty(w.fs)
}

// Empty reports whether a failed record has nothing worth keeping: no
// field, only the file offset, or only the container time and stream.
func Empty(fs []sdk.Field) bool {
	switch len(fs) {
	case 0:
		return true
	case 1:
		return fs[0].Key == "__file_offset__"
	case 2:
		return (fs[0].Key == "_time_" && fs[1].Key == "_source_") || (fs[0].Key == "_source_" && fs[1].Key == "_time_")
	}
	return false
}

// Init fills the defaults that depend on other parameters.
func (c *Common) Init(sourceKey string) {
	if c.RenamedSourceKey == "" {
		c.RenamedSourceKey = sourceKey
	}
}

// Keep runs parse over every record of b in order and keeps, in place and in
// order, those for which it returns true (a failed parse with nothing left
// to keep drops its record, as LoongCollector does).
func Keep(b *sdk.Batch, parse func(*sdk.Record) bool) {
	out := b.Records[:0]
	for i := range b.Records {
		r := &b.Records[i]
		if parse(r) {
			out = append(out, *r)
		}
	}
	clear(b.Records[len(out):])
	b.Records = out
}
