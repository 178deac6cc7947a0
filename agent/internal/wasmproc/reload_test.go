package wasmproc_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/agent/internal/config"
	"github.com/wasmtail/wasmtail/agent/internal/metrics"
	"github.com/wasmtail/wasmtail/agent/internal/pipeline"
	"github.com/wasmtail/wasmtail/agent/internal/wasmproc"
)

// reloadEnv is processor_wasm watching a modules folder.
type reloadEnv struct {
	dir     string
	reg     *pipeline.Registry
	mods    *wasmproc.Modules
	metrics *metrics.Metrics
	logs    *syncBuf
}

func newReloadEnv(t *testing.T) *reloadEnv {
	e := &reloadEnv{dir: t.TempDir(), reg: pipeline.NewRegistry(), metrics: metrics.New(), logs: &syncBuf{}}
	log := slog.New(slog.NewTextHandler(e.logs, nil))
	e.mods = wasmproc.Register(e.reg, wasmproc.Options{ModulesDir: e.dir, Log: log, Metrics: e.metrics,
		Runtime: sharedRT, ReloadInterval: 20 * time.Millisecond})
	t.Cleanup(e.mods.Close)
	return e
}

func (e *reloadEnv) build(t *testing.T, params map[string]any) *wasmproc.Processor {
	t.Helper()
	p, err := e.reg.Build(config.Plugin{Type: wasmproc.Type, Params: params})
	require.NoError(t, err)
	wp := p.(*wasmproc.Processor)
	t.Cleanup(func() { _ = wp.Shutdown(context.Background()) })
	return wp
}

func (e *reloadEnv) reloads(module, result string) int {
	return int(testutil.ToFloat64(e.metrics.WasmReloads.WithLabelValues(module, result)))
}

func reloadModule(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repo, "runtime", "testdata", "reload", name))
	require.NoError(t, err)
	return b
}

func sumOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// version runs one line through p and returns its "v" field, or the error
// tag.
func version(t *testing.T, p *wasmproc.Processor) string {
	t.Helper()
	b := newBatch("hello")
	require.NoError(t, p.Process(context.Background(), b))
	require.Len(t, b.Records, 1)
	for _, f := range b.Records[0].Fields {
		if f.Key == "v" || f.Key == wasmproc.ErrorKey {
			return f.Key + "=" + string(f.Value)
		}
	}
	return ""
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logged waits until logs hold s: a reload is logged just after its state
// and its counter are published.
func logged(t *testing.T, logs *syncBuf, s string) {
	t.Helper()
	waitUntil(t, "log "+s, func() bool { return strings.Contains(logs.String(), s) })
}

func TestReloadSwapsAndRefuses(t *testing.T) {
	e := newReloadEnv(t)
	path := filepath.Join(e.dir, "tag.wasm")
	tag1, tag2 := reloadModule(t, "tag1.wasm"), reloadModule(t, "tag2.wasm")
	require.NoError(t, os.WriteFile(path, tag1, 0o644))
	p := e.build(t, map[string]any{"Module": "tag"})
	require.Equal(t, "v=1", version(t, p))
	info := func(sum string) float64 {
		return testutil.ToFloat64(e.metrics.WasmModuleInfo.WithLabelValues("tag", sum))
	}
	assert.Equal(t, 1.0, info(sumOf(tag1)))

	require.NoError(t, os.WriteFile(path, tag2, 0o644))
	waitUntil(t, "v2", func() bool { return version(t, p) == "v=2" })
	assert.Equal(t, 1, e.reloads("tag", "ok"))
	logged(t, e.logs, "wasm module reloaded")
	assert.Equal(t, 1, testutil.CollectAndCount(e.metrics.WasmModuleInfo), "the old version's series is gone")
	assert.Equal(t, 1.0, info(sumOf(tag2)))

	nomarker, err := os.ReadFile(filepath.Join(repo, "runtime", "testdata", "hostile", "nomarker.wasm"))
	require.NoError(t, err)
	broken := []struct {
		name, want string
		wasm       []byte
		tests      string
	}{
		{"bad bytes", "compile", []byte("\x00asm\x01\x00\x00\x00garbage"), ""},
		{"no marker", "no ABI marker", nomarker, ""},
		{"failing init", "wasmtail_init returned", reloadModule(t, "tagbadinit.wasm"), ""},
		{"failing test vectors", `record 1: got {"content":"a","v":"1"}, want {"content":"a","v":"3"}`, tag1,
			`{"in": ["a"], "out": [{"content": "a", "v": "3"}]}` + "\n"},
	}
	for i, c := range broken {
		if c.tests != "" {
			require.NoError(t, os.WriteFile(strings.TrimSuffix(path, ".wasm")+wasmproc.TestsSuffix, []byte(c.tests), 0o644))
		}
		require.NoError(t, os.WriteFile(path, c.wasm, 0o644), c.name)
		waitUntil(t, c.name+" refused", func() bool { return e.reloads("tag", "refused") == i+1 })
		assert.Equal(t, "v=2", version(t, p), "%s: the good version keeps serving", c.name)
		assert.Contains(t, e.mods.Refused()["tag"], c.want, c.name)
		logged(t, e.logs, strings.ReplaceAll(c.want, `"`, `\"`))
	}
	assert.Contains(t, e.logs.String(), "wasm module reload refused: the running version keeps serving")
	assert.Equal(t, 1.0, info(sumOf(tag2)))

	// Good vectors: tag1 passes them and is swapped in.
	require.NoError(t, os.WriteFile(strings.TrimSuffix(path, ".wasm")+wasmproc.TestsSuffix,
		[]byte(`{"in": ["a", "b"], "out": [{"content": "a", "v": "1"}, {"content": "b", "v": "1"}]}`+"\n"), 0o644))
	// The refusal is cleared just after the swap (under the watcher's lock,
	// once every processor is swapped), so wait for both.
	waitUntil(t, "v1 with its vectors", func() bool { return version(t, p) == "v=1" && len(e.mods.Refused()) == 0 })
	assert.Equal(t, 2, e.reloads("tag", "ok"))
}

func TestReloadPinnedSha256(t *testing.T) {
	e := newReloadEnv(t)
	path := filepath.Join(e.dir, "tag.wasm")
	tag1, tag2 := reloadModule(t, "tag1.wasm"), reloadModule(t, "tag2.wasm")
	require.NoError(t, os.WriteFile(path, tag1, 0o644))
	p := e.build(t, map[string]any{"Module": "tag", "Sha256": strings.ToUpper(sumOf(tag1))})
	require.Equal(t, "v=1", version(t, p))
	require.NoError(t, os.WriteFile(path, tag2, 0o644))
	waitUntil(t, "refused", func() bool { return e.reloads("tag", "refused") == 1 })
	assert.Equal(t, "v=1", version(t, p))
	assert.Contains(t, e.mods.Refused()["tag"], "does not match the pinned Sha256 "+sumOf(tag1))

	// A pin that does not match at start: records tagged, and the right
	// file, when it comes, is loaded.
	_, err := e.reg.Build(config.Plugin{Type: wasmproc.Type, Params: map[string]any{"Module": "tag", "Sha256": "abc"}})
	require.ErrorContains(t, err, "Sha256: want 64 hex digits")
	p2 := e.build(t, map[string]any{"Module": "tag", "Sha256": sumOf(tag1)})
	assert.Contains(t, version(t, p2), wasmproc.ErrorKey+"=")
	assert.Contains(t, version(t, p2), "does not match the pinned Sha256")
	require.NoError(t, os.WriteFile(path, tag1, 0o644))
	waitUntil(t, "p2 loads tag1", func() bool { return version(t, p2) == "v=1" })
	assert.Equal(t, "v=1", version(t, p))
	assert.Empty(t, e.mods.Refused())
}

func TestReloadRefusedAtStartThenGood(t *testing.T) {
	e := newReloadEnv(t)
	path := filepath.Join(e.dir, "tag.wasm")
	require.NoError(t, os.WriteFile(path, []byte("not wasm"), 0o644))
	p := e.build(t, map[string]any{"Module": "tag"})
	assert.Contains(t, version(t, p), wasmproc.ErrorKey+"=")
	assert.Contains(t, e.mods.Refused()["tag"], "compile")
	require.NoError(t, os.WriteFile(path, reloadModule(t, "tag2.wasm"), 0o644))
	waitUntil(t, "v2", func() bool { return version(t, p) == "v=2" })
	assert.Empty(t, e.mods.Refused())
	assert.Equal(t, 1, e.reloads("tag", "ok"))
	logged(t, e.logs, fmt.Sprintf("sha256=%s", sumOf(reloadModule(t, "tag2.wasm"))))
}
