// Package native runs the built-in parsers (parsers/…, written against the
// SDK's processor interface) as pipeline processors, linked into the agent.
//
// The adapter hands the batch's records to the parser as sdk records
// without copying their values: the two record types have the same layout
// (checked by a test), values stay slices of the batch's buffer, bytes the
// parser creates go to the batch's Extra, and field lists the parser builds
// in its own arena are copied into the batch's field arena before the
// batch moves on (the parser's arena is reused for the next batch).
package native

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"unsafe"

	"github.com/wasmtail/wasmtail/agent/internal/batch"
	"github.com/wasmtail/wasmtail/agent/internal/config"
	"github.com/wasmtail/wasmtail/agent/internal/pipeline"
	"github.com/wasmtail/wasmtail/parsers"
	"github.com/wasmtail/wasmtail/sdk"
)

// Register adds every built-in processor type to reg.
func Register(reg *pipeline.Registry) {
	for _, f := range parsers.Builtin() {
		reg.Register(f.Type, func(p config.Plugin) (pipeline.Processor, error) { return New(f, p.Params) })
	}
}

// New builds the processor of factory f from a plugin's parameters. The
// config is checked here, once; each worker then gets its own instance.
func New(f parsers.Factory, params map[string]any) (*Processor, error) {
	cfg, err := json.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Type, err)
	}
	p := &Processor{}
	first := f.New()
	if err := first.Init(cfg); err != nil {
		return nil, err
	}
	p.states.New = func() any {
		proc := f.New()
		if err := proc.Init(cfg); err != nil {
			panic(fmt.Sprintf("%s: Init failed after it succeeded once: %v", f.Type, err))
		}
		return newState(proc)
	}
	p.states.Put(newState(first))
	return p, nil
}

// Processor is a built-in parser run natively. It is safe for concurrent
// use: each call takes its own instance.
type Processor struct {
	states sync.Pool // *state
}

type state struct {
	proc  sdk.Processor
	sb    sdk.Batch
	b     *batch.Batch
	alloc func(int) []byte
}

func newState(p sdk.Processor) *state {
	s := &state{proc: p}
	s.alloc = s.extra
	return s
}

// extra takes n bytes from the batch's Extra arena.
func (s *state) extra(n int) []byte {
	b := s.b
	l := len(b.Extra)
	if cap(b.Extra)-l < n {
		// Values already handed out keep the old array alive.
		b.Extra = make([]byte, 0, max(2*cap(b.Extra), n, 16<<10))
		l = 0
	}
	b.Extra = b.Extra[:l+n]
	return b.Extra[l : l+n : l+n]
}

// Process runs the parser over b.
func (p *Processor) Process(_ context.Context, b *batch.Batch) error {
	if len(b.Records) == 0 {
		return nil
	}
	s := p.states.Get().(*state)
	defer p.states.Put(s)
	s.b = b
	defer func() { s.b = nil }()
	sb := &s.sb
	sb.Reset()
	sb.Allocator = s.alloc
	sb.Records = append(sb.Records, toSDK(b.Records)...)
	if err := s.proc.Process(sb); err != nil {
		return err
	}
	out := sb.Records
	if len(out) > len(b.Records) {
		return fmt.Errorf("processor returned %d records for %d", len(out), len(b.Records))
	}
	for i := range out {
		r := &out[i]
		fs := toBatch(r.Fields)
		if len(fs) > 0 && !p.original(b.Records, i, fs) {
			nf := b.NewFields()
			for _, f := range fs {
				nf = b.AppendField(nf, f)
			}
			fs = nf
		}
		b.Records[i] = batch.Record{Sec: r.Sec, Nsec: r.Nsec, Fields: fs}
	}
	clear(b.Records[len(out):])
	b.Records = b.Records[:len(out)]
	return nil
}

// original reports whether fs is the field list of one of the input
// records at or a little after i (a filter keeps records as they are).
func (p *Processor) original(in []batch.Record, i int, fs []batch.Field) bool {
	for k := i; k < len(in) && k < i+8; k++ {
		if len(in[k].Fields) == len(fs) && unsafe.SliceData(in[k].Fields) == unsafe.SliceData(fs) {
			return true
		}
	}
	return false
}

// The host and SDK records have the same layout (layout_test.go).
func toSDK(rs []batch.Record) []sdk.Record {
	return unsafe.Slice((*sdk.Record)(unsafe.Pointer(unsafe.SliceData(rs))), len(rs))
}

func toBatch(fs []sdk.Field) []batch.Field {
	return unsafe.Slice((*batch.Field)(unsafe.Pointer(unsafe.SliceData(fs))), len(fs))
}

// Types lists the built-in Types.
func Types() []string {
	var out []string
	for _, f := range parsers.Builtin() {
		out = append(out, f.Type)
	}
	return slices.Clip(out)
}

var _ pipeline.Processor = (*Processor)(nil)
