package wasmproc_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/agent/internal/checkpoint"
	"github.com/wasmtail/wasmtail/agent/internal/config"
	"github.com/wasmtail/wasmtail/agent/internal/pipeline"
)

// TestInPipeline runs processor_wasm the way `wasmtail run` does: a real
// pipeline tails a file with four workers sharing the module's pool, and
// flusher_stdout prints what the C filter let through, masked.
func TestInPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("tails files")
	}
	e := newEnv(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "app.log")
	var lines []string
	for i := range 3000 {
		switch i % 3 {
		case 0:
			lines = append(lines, fmt.Sprintf("%d INFO mail user%d@example.com", i, i))
		case 1:
			lines = append(lines, fmt.Sprintf("%d DEBUG noise", i))
		default:
			lines = append(lines, fmt.Sprintf("%d WARN call +1 555 123 %04d", i, i))
		}
	}
	require.NoError(t, os.WriteFile(logPath, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	module, err := filepath.Abs(filepath.Join(repo, "examples", "filter", "filter.wasm"))
	require.NoError(t, err)
	plPath := filepath.Join(dir, "app.yaml")
	require.NoError(t, os.WriteFile(plPath, []byte(fmt.Sprintf(`
global:
  Workers: 4
inputs:
  - Type: input_file
    FilePaths: [%s]
processors:
  - Type: processor_wasm
    Module: %s
flushers:
  - Type: flusher_stdout
    OnlyStdout: true
`, filepath.Join(dir, "*.log"), module)), 0o644))
	cfg, err := config.LoadPipeline(plPath, e.reg.Known)
	require.NoError(t, err)

	store, err := checkpoint.Open(filepath.Join(dir, "checkpoints.json"), 100*time.Millisecond, nil)
	require.NoError(t, err)
	store.Start()
	defer store.Close()
	out := &syncBuf{}
	p, err := pipeline.New(cfg, pipeline.Settings{Store: store, Metrics: e.metrics, Processors: e.reg, Stdout: out, ScanInterval: 50 * time.Millisecond})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, p.Start(ctx))
	want := 2000
	require.Eventually(t, func() bool { return strings.Count(out.String(), "\n") >= want }, 20*time.Second, 20*time.Millisecond)
	require.NoError(t, p.Shutdown(ctx))

	got := out.String()
	assert.Equal(t, want, strings.Count(got, "\n"))
	assert.NotContains(t, got, "DEBUG")
	assert.NotContains(t, got, "@example.com")
	assert.NotContains(t, got, "555 123")
	assert.Equal(t, 1000, strings.Count(got, "[email]"))
	assert.Equal(t, 1000, strings.Count(got, "[phone]"))
	assert.NotContains(t, got, "__wasm_error__")
	assert.Zero(t, testutil.ToFloat64(e.metrics.WasmTraps.WithLabelValues("app", "filter")))
}
