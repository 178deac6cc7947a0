package wasmproc_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/agent/internal/batch"
	"github.com/wasmtail/wasmtail/agent/internal/config"
	"github.com/wasmtail/wasmtail/agent/internal/metrics"
	"github.com/wasmtail/wasmtail/agent/internal/pipeline"
	"github.com/wasmtail/wasmtail/agent/internal/wasmproc"
	"github.com/wasmtail/wasmtail/runtime"
)

// repo is the repository root, from this package.
var repo = filepath.Join("..", "..", "..")

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is a registry with processor_wasm, its metrics and its log.
type env struct {
	reg     *pipeline.Registry
	metrics *metrics.Metrics
	logs    *syncBuf
	rt      *runtime.Runtime
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{reg: pipeline.NewRegistry(), metrics: metrics.New(), logs: &syncBuf{}}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.rt = sharedRT
	// The tests name modules by path in the repository: let them be read.
	root, err := filepath.Abs(repo)
	require.NoError(t, err)
	wasmproc.Register(e.reg, wasmproc.Options{Log: log, Metrics: e.metrics, Runtime: sharedRT, ModuleRoots: []string{root}})
	return e
}

func (e *env) build(t testing.TB, params map[string]any) *wasmproc.Processor {
	t.Helper()
	p, err := e.reg.Build(config.Plugin{Type: wasmproc.Type, Index: 0, Params: params})
	require.NoError(t, err)
	wp := p.(*wasmproc.Processor)
	t.Cleanup(func() { _ = wp.Shutdown(context.Background()) })
	return wp
}

// newBatch holds lines as the reader makes them: records pointing into Buf.
func newBatch(lines ...string) *batch.Batch {
	data := []byte(strings.Join(lines, "\n"))
	b := &batch.Batch{Source: &batch.Source{Pipeline: "test", Path: "/x.log"}, Buf: data}
	off := 0
	for _, l := range lines {
		b.AddRecord(1700000000+int64(len(l)), 123456789, data[off:off+len(l)])
		off += len(l) + 1
	}
	return b
}

// dump renders records for comparisons.
func dump(recs []batch.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		var sb strings.Builder
		fmt.Fprintf(&sb, "%d.%09d", r.Sec, r.Nsec)
		for _, f := range r.Fields {
			fmt.Fprintf(&sb, " %s=%q", f.Key, f.Value)
		}
		out[i] = sb.String()
	}
	return out
}

// nginxLines makes n access lines, with a few that are not.
func nginxLines(n int) []string {
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
