package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/agent/internal/batch"
	"github.com/wasmtail/wasmtail/agent/internal/config"
	"github.com/wasmtail/wasmtail/agent/internal/pipeline"
)

// passThrough is a processor that changes nothing.
type passThrough struct{}

func (passThrough) Process(context.Context, *batch.Batch) error { return nil }

// isolationEnv is an agent whose registry knows processor_block, a type
// whose build blocks until the test ends: a module read from a FIFO, a
// compile that never ends.
type isolationEnv struct {
	t        *testing.T
	cfg      *config.Agent
	logs     string
	out      string
	released chan struct{}
	agent    *Agent
}

func newIsolationEnv(t *testing.T) *isolationEnv {
	root := t.TempDir()
	e := &isolationEnv{
		t:        t,
		logs:     filepath.Join(root, "logs"),
		out:      filepath.Join(root, "out.jsonl"),
		released: make(chan struct{}),
		cfg: &config.Agent{
			Pipelines:          filepath.Join(root, "pipelines"),
			Data:               filepath.Join(root, "data"),
			CheckpointInterval: 10 * time.Millisecond,
			ScanInterval:       50 * time.Millisecond,
			ShutdownGrace:      5 * time.Second,
		},
	}
	require.NoError(t, os.MkdirAll(e.logs, 0o755))
	require.NoError(t, os.MkdirAll(e.cfg.Pipelines, 0o755))
	procs := pipeline.NewRegistry()
	procs.Register("processor_block", func(config.Plugin) (pipeline.Processor, error) {
		<-e.released
		return passThrough{}, nil
	})
	e.agent = New(e.cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard, procs, nil)
	return e
}

func (e *isolationEnv) pipeline(name, processors string) {
	e.t.Helper()
	yaml := fmt.Sprintf(`enable: true
inputs:
  - Type: input_file
    FilePaths: [%s/%s.log]
%sflushers:
  - Type: flusher_file
    FilePath: %s.%s
`, e.logs, name, processors, e.out, name)
	require.NoError(e.t, os.WriteFile(filepath.Join(e.cfg.Pipelines, name+".yaml"), []byte(yaml), 0o644))
}

// start starts the agent and fails the test if Start does not return.
func (e *isolationEnv) start() {
	e.t.Helper()
	done := make(chan error, 1)
	go func() { done <- e.agent.Start(context.Background()) }()
	select {
	case err := <-done:
		require.NoError(e.t, err)
	case <-time.After(20 * time.Second):
		e.t.Fatal("Start is held up by a pipeline that does not finish loading")
	}
	e.t.Cleanup(func() {
		close(e.released)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		assert.NoError(e.t, e.agent.Shutdown(ctx))
	})
}

func (e *isolationEnv) readyz() map[string]any {
	e.t.Helper()
	w := httptest.NewRecorder()
	e.agent.readyz(w, httptest.NewRequest("GET", "/readyz", nil))
	var st map[string]any
	require.NoError(e.t, json.Unmarshal(w.Body.Bytes(), &st))
	return st
}

// A pipeline that never finishes loading holds up neither the agent's start
// nor the other pipelines, at start and on a later reload; /readyz says it
// is loading.
func TestPipelineThatNeverLoadsDoesNotHoldUpOthers(t *testing.T) {
	old := pipelineStartTimeout
	pipelineStartTimeout = 200 * time.Millisecond
	t.Cleanup(func() { pipelineStartTimeout = old })
	e := newIsolationEnv(t)
	e.pipeline("stuck", "processors:\n  - Type: processor_block\n")
	e.pipeline("good", "")
	require.NoError(t, os.WriteFile(filepath.Join(e.logs, "good.log"), []byte("one\ntwo\n"), 0o644))
	e.start()

	require.Eventually(t, func() bool { return countLines(e.out+".good") == 2 }, 10*time.Second, 20*time.Millisecond)
	st := e.readyz()
	assert.Equal(t, true, st["ready"])
	assert.Equal(t, []any{"good"}, st["running"])
	assert.Equal(t, []any{"stuck"}, st["loading"])

	// A new pipeline added while the stuck one still loads starts too.
	e.pipeline("later", "")
	require.NoError(t, os.WriteFile(filepath.Join(e.logs, "later.log"), []byte("three\n"), 0o644))
	require.Eventually(t, func() bool { return countLines(e.out+".later") == 1 }, 10*time.Second, 20*time.Millisecond)
}

// A FIFO, or a file larger than a ConfigMap can hold, in the pipeline
// folder is refused; it holds nothing up and is never read whole.
func TestHostilePipelineFiles(t *testing.T) {
	e := newIsolationEnv(t)
	require.NoError(t, syscall.Mkfifo(filepath.Join(e.cfg.Pipelines, "fifo.yaml"), 0o644))
	big := "enable: true\n# " + strings.Repeat("x", MaxPipelineFile) + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(e.cfg.Pipelines, "big.yaml"), []byte(big), 0o644))
	e.pipeline("good", "")
	require.NoError(t, os.WriteFile(filepath.Join(e.logs, "good.log"), []byte("one\n"), 0o644))
	e.start()

	require.Eventually(t, func() bool { return countLines(e.out+".good") == 1 }, 10*time.Second, 20*time.Millisecond)
	failed, _ := e.readyz()["failed"].(map[string]any)
	assert.Contains(t, failed["big"], "larger than 1024 KiB")
	assert.NotContains(t, failed, "fifo")
}

// An unchanged pipeline file is known by its stat: it is not read again;
// a changed one is.
func TestUnchangedPipelineFileIsNotReadAgain(t *testing.T) {
	reads := 0
	hashPipelineFile = func(path string) (string, error) { reads++; return hashFile(path) }
	t.Cleanup(func() { hashPipelineFile = hashFile })
	dir := t.TempDir()
	path := filepath.Join(dir, "a.yaml")
	require.NoError(t, os.WriteFile(path, []byte("enable: true\n"), 0o644))
	seen := map[string]stampedSum{}
	first, err := listPipelineFiles(dir, seen)
	require.NoError(t, err)
	again, err := listPipelineFiles(dir, seen)
	require.NoError(t, err)
	assert.Equal(t, 1, reads, "an unchanged file was read again")
	assert.Equal(t, first["a"].sum, again["a"].sum)

	require.NoError(t, os.WriteFile(path, []byte("enable: false\n"), 0o644))
	changed, err := listPipelineFiles(dir, seen)
	require.NoError(t, err)
	assert.Equal(t, 2, reads)
	assert.NotEqual(t, first["a"].sum, changed["a"].sum)
}

func countLines(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "\n")
}
