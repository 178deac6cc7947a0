package runtime_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/hostabi"
	"github.com/wasmtail/wasmtail/runtime"
)

// BenchmarkBoundary measures the cost of crossing into a guest and back
// with the identity module: encode 256 records into guest memory, call
// wasmtail_process under a deadline, check the output and map every value
// back to the host's bytes. ns/record is the boundary overhead per record.
func BenchmarkBoundary(b *testing.B) {
	for _, n := range []int{1, 16, 256, 4096} {
		b.Run(benchName(n), func(b *testing.B) { benchBoundary(b, "testdata/identity.wasm", n) })
	}
	// The same through the Go SDK, whose processor does nothing: what the
	// SDK's decoding and encoding cost on top.
	b.Run("go-sdk/batch=256", func(b *testing.B) { benchBoundary(b, "testdata/gonop.wasm", 256) })
}

func benchBoundary(b *testing.B, module string, n int) {
	{
		{
			rt, _ := newRuntime(b)
			ctx := context.Background()
			m := load(b, rt, module, runtime.ModuleConfig{Name: "identity"})
			var in [][]byte
			for _, l := range lines(n) {
				in = append(in, []byte(l))
			}
			var enc hostabi.Encoder
			var sink int
			out := func(v *hostabi.View) {
				for j := range v.NumFields() {
					f := v.Field(j)
					val, ok := enc.Value(f.ValPtr, f.ValLen)
					if !ok {
						panic("not mapped")
					}
					sink += len(val)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				enc.Reset()
				for i, l := range in {
					enc.AddRecord(int64(i), 0)
					enc.AddField("content", l)
				}
				if _, err := m.Process(ctx, &enc, out); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
		}
	}
}

func benchName(n int) string {
	return "batch=" + itoa(n)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// BenchmarkCompileCached measures loading a Go guest (2.6 MB) in a fresh
// runtime whose compilation cache folder already has it: "compile" is the
// compile step alone, "load" adds the checks, instantiation, the Go
// runtime's start-up and wasmtail_init. "load-again" is a second processor
// loading a module the same runtime already runs (compiled code is shared).
func BenchmarkCompileCached(b *testing.B) {
	wasm := readWasm(b, filepath.Join("..", "examples", "nginx", "nginx.wasm"))
	dir := b.TempDir()
	ctx := context.Background()
	warm, err := runtime.New(ctx, runtime.Config{CacheDir: dir})
	require.NoError(b, err)
	require.NoError(b, warm.Precompile(ctx, wasm, 64))
	require.NoError(b, warm.Close(ctx))
	b.Run("load-again", func(b *testing.B) {
		rt, err := runtime.New(ctx, runtime.Config{})
		require.NoError(b, err)
		defer rt.Close(ctx)
		first, err := rt.Load(ctx, wasm, runtime.ModuleConfig{Name: "nginx"})
		require.NoError(b, err)
		defer first.Close(ctx)
		b.ResetTimer()
		for range b.N {
			m, err := rt.Load(ctx, wasm, runtime.ModuleConfig{Name: "nginx"})
			require.NoError(b, err)
			require.NoError(b, m.Close(ctx))
		}
	})
	b.Run("compile", func(b *testing.B) {
		for range b.N {
			rt, err := runtime.New(ctx, runtime.Config{CacheDir: dir})
			require.NoError(b, err)
			require.NoError(b, rt.Precompile(ctx, wasm, 64))
			require.NoError(b, rt.Close(ctx))
		}
	})
	b.Run("load", func(b *testing.B) {
		for range b.N {
			rt, err := runtime.New(ctx, runtime.Config{CacheDir: dir})
			require.NoError(b, err)
			m, err := rt.Load(ctx, wasm, runtime.ModuleConfig{Name: "nginx"})
			require.NoError(b, err)
			require.NoError(b, m.Close(ctx))
			require.NoError(b, rt.Close(ctx))
		}
	})
}
