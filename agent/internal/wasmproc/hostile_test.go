package wasmproc_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/agent/internal/wasmproc"
)

// TestHostileModules runs each module of runtime/testdata/hostile: the
// processor keeps going, no record is lost (each goes on unparsed with
// __wasm_error__), the trap counter moves and the log names the module and
// why.
func TestHostileModules(t *testing.T) {
	t.Setenv("WASMTAIL_TEST_SECRET", "s3cret-value")
	tests := []struct {
		module string
		params map[string]any
		// want is in the error tag and in the log; wantLog only in the log.
		want, wantLog []string
	}{
		{module: "loop", params: map[string]any{"TimeoutMs": 50}, want: []string{"timeout", "no answer within 50ms"}},
		{module: "membomb", params: map[string]any{"MemoryLimitMB": 4}, want: []string{"out of memory", "of 4 MiB"}},
		{module: "inittrap", want: []string{"refused", "wasmtail_init", "unreachable"}},
		{module: "badptr", want: []string{"abi violation", "outside memory"}},
		{module: "badfield", want: []string{"abi violation", "value", "outside memory"}},
		{module: "toomany", want: []string{"abi violation", "6 records, more than the 5 allowed"}},
		{module: "nomarker", want: []string{"refused", "no ABI marker"}},
		{module: "v2", want: []string{"refused", "unknown ABI version v2"}},
		{module: "escape", want: []string{"trap", "unreachable"},
			wantLog: []string{"guest: open /etc/passwd: ", "guest: environment: empty"}},
		{module: "flood", want: []string{"log flood", "too many log calls"},
			wantLog: []string{"guest: flooding the log", "suppressed="}},
	}
	for _, tt := range tests {
		t.Run(tt.module, func(t *testing.T) {
			e := newEnv(t)
			params := map[string]any{"Module": filepath.Join(repo, "runtime", "testdata", "hostile", tt.module+".wasm")}
			for k, v := range tt.params {
				params[k] = v
			}
			p := e.build(t, params)
			lines := []string{"first line", "second user@example.com", "", "fourth", "fifth"}
			for round := range 2 { // the processor survives and keeps failing safely
				b := newBatch(lines...)
				require.NoError(t, p.Process(context.Background(), b))
				require.Len(t, b.Records, len(lines), "no record may be lost")
				for i, r := range b.Records {
					content, _ := r.Get("content")
					assert.Equal(t, lines[i], string(content), "round %d record %d", round, i)
					tag, ok := r.Get(wasmproc.ErrorKey)
					require.True(t, ok, "round %d record %d has no %s", round, i, wasmproc.ErrorKey)
					assert.Contains(t, string(tag), tt.module+": ")
					for _, w := range tt.want {
						assert.Contains(t, string(tag), w)
					}
				}
			}
			traps := testutil.ToFloat64(e.metrics.WasmTraps.WithLabelValues("test", tt.module))
			assert.GreaterOrEqual(t, traps, 1.0, "trap counter")
			assert.Equal(t, 2.0, testutil.ToFloat64(e.metrics.ProcessorErrors.WithLabelValues("test", "0_processor_wasm")))
			logs := e.logs.String()
			assert.Contains(t, logs, "module="+tt.module)
			for _, w := range append(tt.want, tt.wantLog...) {
				assert.Contains(t, logs, w)
			}
			assert.NotContains(t, logs, "ESCAPED")
			assert.NotContains(t, logs, "s3cret-value")
		})
	}
}

// TestQuarantine: a module that fails batch after batch is quarantined;
// batches then pass straight through, tagged, without calling it.
func TestQuarantine(t *testing.T) {
	e := newEnv(t)
	p := e.build(t, map[string]any{"Module": filepath.Join(repo, "runtime", "testdata", "hostile", "loop.wasm"), "TimeoutMs": 20})
	for range 3 {
		b := newBatch("x")
		require.NoError(t, p.Process(context.Background(), b))
	}
	assert.Equal(t, 6.0, testutil.ToFloat64(e.metrics.WasmTraps.WithLabelValues("test", "loop")), "3 batches, each retried once")
	start := time.Now()
	b := newBatch("y", "z")
	require.NoError(t, p.Process(context.Background(), b))
	assert.Less(t, time.Since(start), 20*time.Millisecond, "a quarantined module is not called")
	tag, _ := b.Records[1].Get(wasmproc.ErrorKey)
	assert.True(t, strings.Contains(string(tag), "quarantined"), "got %q", tag)
	assert.Contains(t, e.logs.String(), "wasm module quarantined")
	assert.Equal(t, 6.0, testutil.ToFloat64(e.metrics.WasmTraps.WithLabelValues("test", "loop")))
}
