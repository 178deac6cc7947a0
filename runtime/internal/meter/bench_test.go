package meter_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/wasmtail/wasmtail/runtime/internal/meter"
)

// BenchmarkInstrument measures Instrument on a Go-compiled parser.
func BenchmarkInstrument(b *testing.B) {
	wasm, err := os.ReadFile(root + "/parsers/regex/regex.wasm")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(wasm)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := meter.Instrument(wasm); err != nil {
			b.Fatal(err)
		}
	}
}

// The ways to run a guest that the benchmarks compare.
var variants = []struct {
	name    string
	metered bool // instrumented
	close   bool // WithCloseOnContextDone, under a context with a deadline
}{
	{"plain", false, false},
	{"metered", true, false},
	{"closeOnContextDone", false, true},
}

// BenchmarkLoop measures a tight loop (sum, 12 instructions an iteration)
// plain, instrumented, and plain with WithCloseOnContextDone, which the
// fuel replaces.
func BenchmarkLoop(b *testing.B) {
	const n = 1e6
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			ctx := context.Background()
			r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(v.close))
			defer r.Close(ctx)
			g := newGuest(b, r, fuelWasm, v.metered)
			if v.close {
				c, cancel := context.WithTimeout(ctx, time.Hour)
				defer cancel()
				ctx = c
			}
			f := g.mod.ExportedFunction("sum")
			stack := make([]uint64, 1)
			for b.Loop() {
				if g.fuel != nil {
					g.fuel.Set(1 << 40)
				}
				stack[0] = n
				if err := f.CallWithStack(ctx, stack); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/iter")
			if g.fuel != nil {
				b.ReportMetric(float64(1<<40-int64(g.fuel.Get())), "fuel/op")
			}
		})
	}
}

// goCode is the json parser, compiled once per variant.
var goCode = struct {
	sync.Mutex
	m map[string]goCompiled
}{m: map[string]goCompiled{}}

type goCompiled struct {
	r wazero.Runtime
	c wazero.CompiledModule
}

// BenchmarkGo measures a Go-compiled parser (parsers/json) on a batch of
// 256 lines, plain, instrumented and plain with WithCloseOnContextDone.
func BenchmarkGo(b *testing.B) {
	lines := make([]string, 256)
	for i := range lines {
		lines[i] = jsonLines[i%len(jsonLines)]
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			ctx := context.Background()
			goCode.Lock()
			gc, ok := goCode.m[v.name]
			if !ok {
				wasm, err := os.ReadFile(root + "/parsers/json/json.wasm")
				if err != nil {
					b.Fatal(err)
				}
				if v.metered {
					if wasm, err = meter.Instrument(wasm); err != nil {
						b.Fatal(err)
					}
				}
				// Not closed on b's cleanup: the benchmark function runs
				// several times, and compiling takes seconds.
				if gc.r, err = goRuntime(wazero.NewRuntimeConfig().WithCloseOnContextDone(v.close)); err != nil {
					b.Fatal(err)
				}
				if gc.c, err = gc.r.CompileModule(ctx, wasm); err != nil {
					b.Fatal(err)
				}
				goCode.m[v.name] = gc
			}
			goCode.Unlock()
			g, err := newGoGuest(b, gc.r, gc.c, v.metered, `{"SourceKey":"content"}`)
			if err != nil {
				b.Fatal(err)
			}
			defer g.mod.Close(ctx)
			if v.close {
				c, cancel := context.WithTimeout(ctx, time.Hour)
				defer cancel()
				g.ctx = c
			}
			var fuel int64
			for b.Loop() {
				if _, err := g.process(lines); err != nil {
					b.Fatal(err)
				}
				if g.fuel != nil {
					fuel += g.used()
				}
			}
			if g.fuel != nil {
				b.ReportMetric(float64(fuel)/float64(b.N), "fuel/op")
			}
		})
	}
}
