// Package parsertest is the acceptance suite of wasmtail's parsers: it runs
// a parser natively (the sdk.Processor called directly, as the agent links
// it) and as its Wasm build through the real runtime, over the same input,
// and requires identical records.
package parsertest

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/wasmtail/wasmtail/hostabi"
	"github.com/wasmtail/wasmtail/parsers"
	"github.com/wasmtail/wasmtail/runtime"
	"github.com/wasmtail/wasmtail/sdk"
)

// Record is a parser's output in comparable form.
type Record struct {
	Sec    int64
	Nsec   int32
	Fields [][2]string
}

func (r Record) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d.%09d", r.Sec, r.Nsec)
	for _, f := range r.Fields {
		fmt.Fprintf(&sb, " %q=%q", f[0], f[1])
	}
	return sb.String()
}

// Native runs a fresh instance of f with config over records.
func Native(f parsers.Factory, config []byte, in []Record) ([]Record, error) {
	p := f.New()
	if err := p.Init(config); err != nil {
		return nil, err
	}
	var b sdk.Batch
	for _, r := range in {
		fs := b.Fields(len(r.Fields))
		for _, kv := range r.Fields {
			fs = append(fs, sdk.Field{Key: kv[0], Value: []byte(kv[1])})
		}
		b.Records = append(b.Records, sdk.Record{Sec: r.Sec, Nsec: r.Nsec, Fields: fs})
	}
	if err := p.Process(&b); err != nil {
		return nil, err
	}
	out := make([]Record, 0, len(b.Records))
	for _, r := range b.Records {
		o := Record{Sec: r.Sec, Nsec: r.Nsec}
		for _, fl := range r.Fields {
			o.Fields = append(o.Fields, [2]string{fl.Key, string(fl.Value)})
		}
		out = append(out, o)
	}
	return out, nil
}

// Wasm runs f's committed module (parsers/<module>/<module>.wasm, found
// from root, the repository root) with config over records.
type Wasm struct {
	rt *runtime.Runtime
}

// NewWasm starts a runtime that keeps compiled code in cacheDir ("": memory
// only); Close it when done.
func NewWasm(ctx context.Context, cacheDir string) (*Wasm, error) {
	rt, err := runtime.New(ctx, runtime.Config{CacheDir: cacheDir})
	if err != nil {
		return nil, err
	}
	return &Wasm{rt: rt}, nil
}

// Close stops the runtime.
func (w *Wasm) Close(ctx context.Context) error { return w.rt.Close(ctx) }

// Load compiles f's module with config.
func (w *Wasm) Load(ctx context.Context, root string, f parsers.Factory, config []byte) (*runtime.Module, error) {
	wasm, err := os.ReadFile(fmt.Sprintf("%s/parsers/%s/%s.wasm", root, f.Module, f.Module))
	if err != nil {
		return nil, err
	}
	return w.rt.Load(ctx, wasm, runtime.ModuleConfig{Name: f.Module, Config: config})
}

// Run sends records through m.
func Run(ctx context.Context, m *runtime.Module, in []Record) ([]Record, error) {
	var enc hostabi.Encoder
	for _, r := range in {
		enc.AddRecord(r.Sec, r.Nsec)
		for _, kv := range r.Fields {
			enc.AddField(kv[0], []byte(kv[1]))
		}
	}
	var out []Record
	_, err := m.Process(ctx, &enc, func(v *hostabi.View) {
		j := 0
		for i := range v.Len() {
			h := v.Record(i)
			o := Record{Sec: h.Sec, Nsec: h.Nsec}
			for range h.NFields {
				f := v.Field(j)
				j++
				o.Fields = append(o.Fields, [2]string{string(v.Bytes(f.KeyPtr, f.KeyLen)), string(v.Bytes(f.ValPtr, f.ValLen))})
			}
			out = append(out, o)
		}
	})
	return out, err
}

// Diff describes how two outputs differ, "" when they are identical.
func Diff(native, wasm []Record) string {
	if len(native) == 0 && len(wasm) == 0 {
		return ""
	}
	if reflect.DeepEqual(native, wasm) {
		return ""
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "native %d records, wasm %d\n", len(native), len(wasm))
	for i := range max(len(native), len(wasm)) {
		var a, b string
		if i < len(native) {
			a = native[i].String()
		}
		if i < len(wasm) {
			b = wasm[i].String()
		}
		if a != b {
			fmt.Fprintf(&sb, "record %d:\n  native %s\n  wasm   %s\n", i, a, b)
		}
	}
	return sb.String()
}
