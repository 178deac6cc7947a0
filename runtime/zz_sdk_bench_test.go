package runtime_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/hostabi"
	"github.com/wasmtail/wasmtail/runtime"
)

func zzLines(n int) []string {
	agents := []string{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36", "curl/8.4.0", "-"}
	paths := []string{"/", "/api/v1/users?id=42&expand=true", "/static/app.3f9a1c.js", "/healthz"}
	out := make([]string, n)
	for i := range out {
		switch {
		case i%97 == 13:
			out[i] = "this is not an access line"
		case i%89 == 7:
			out[i] = fmt.Sprintf(`10.0.%d.%d - - [26/Nov/2026:10:00:%02d +0000] "GET / HTTP/1.1" 200 %d`, i%256, i%100, i%60, i*7)
		default:
			out[i] = fmt.Sprintf(`192.168.%d.%d - user%d [26/Nov/2026:10:%02d:%02d +0000] "GET %s HTTP/1.1" %d %d "https://example.com/page/%d" "%s"`,
				i%256, (i*7)%256, i%10, i%60, (i*3)%60, paths[i%len(paths)], 200+(i%5)*100, 512+i*13, i, agents[i%len(agents)])
		}
	}
	return out
}

func BenchmarkZZ(b *testing.B) {
	for _, path := range []string{os.Getenv("WASM1"), os.Getenv("WASM2"), os.Getenv("WASM3"), os.Getenv("WASM4")} {
		if path == "" {
			continue
		}
		b.Run(path, func(b *testing.B) {
			rt, _ := newRuntime(b)
			ctx := context.Background()
			m, err := rt.Load(ctx, readWasm(b, path), runtime.ModuleConfig{Name: "x"})
			require.NoError(b, err)
			defer m.Close(ctx)
			var in [][]byte
			size := 0
			for _, l := range zzLines(256) {
				in = append(in, []byte(l))
				size += len(l)
			}
			var enc hostabi.Encoder
			nf := 0
			out := func(v *hostabi.View) { nf = v.NumFields() }
			b.SetBytes(int64(size))
			for b.Loop() {
				enc.Reset()
				for i, l := range in {
					enc.AddRecord(int64(i), 0)
					enc.AddField("content", l)
				}
				if _, err := m.Process(ctx, &enc, out); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*256), "ns/record")
			b.ReportMetric(float64(nf), "fields")
		})
	}
}
