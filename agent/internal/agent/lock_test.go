package agent

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/wasmtail/wasmtail/agent/internal/config"
	"github.com/wasmtail/wasmtail/agent/internal/metrics"
	"github.com/wasmtail/wasmtail/agent/internal/pipeline"
)

// testConfig is an agent with no pipelines and no HTTP server, its state
// in data.
func testConfig(t *testing.T, data string) *config.Agent {
	t.Helper()
	pipelines := filepath.Join(t.TempDir(), "pipelines")
	require.NoError(t, os.MkdirAll(pipelines, 0o755))
	return &config.Agent{
		Pipelines:          pipelines,
		Data:               data,
		CheckpointInterval: 10 * time.Millisecond,
		ScanInterval:       time.Hour,
	}
}

func newTestAgent(t *testing.T, cfg *config.Agent, met *metrics.Metrics) *Agent {
	t.Helper()
	return New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard, pipeline.NewRegistry(), met)
}

// TestSecondAgentOnSameDataFolderIsRefused: one agent per data folder
// (DESIGN.md §4); the second says which folder and which process has it,
// and touches nothing there.
func TestSecondAgentOnSameDataFolderIsRefused(t *testing.T) {
	ctx := context.Background()
	data := filepath.Join(t.TempDir(), "data")
	first := newTestAgent(t, testConfig(t, data), nil)
	require.NoError(t, first.Start(ctx))

	pid, err := os.ReadFile(filepath.Join(data, LockFile))
	require.NoError(t, err)
	assert.Equal(t, strconv.Itoa(os.Getpid())+"\n", string(pid), "the lock file names the holder")

	// A temporary file the second agent must not remove (the first one may
	// be in the middle of a save).
	tmp := filepath.Join(data, "checkpoints.json.tmp1")
	require.NoError(t, os.WriteFile(tmp, nil, 0o644))

	second := newTestAgent(t, testConfig(t, data), nil)
	err = second.Start(ctx)
	require.Error(t, err, "a second agent on the same data folder")
	assert.Contains(t, err.Error(), data)
	assert.Contains(t, err.Error(), fmt.Sprintf("pid %d", os.Getpid()))
	_, serr := os.Stat(tmp)
	assert.NoError(t, serr, "the refused agent opened no checkpoints")
	require.NoError(t, second.Shutdown(ctx), "shutting down an agent that did not start is harmless")

	require.NoError(t, first.Shutdown(ctx))
	third := newTestAgent(t, testConfig(t, data), nil)
	require.NoError(t, third.Start(ctx), "the lock is released on shutdown")
	require.NoError(t, third.Shutdown(ctx))
}

// TestFailedStartReleasesTheLock: a start that fails after taking the lock
// (here the HTTP address is taken) lets the next agent in.
func TestFailedStartReleasesTheLock(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	cfg := testConfig(t, data)
	cfg.HTTP = ln.Addr().String()
	require.Error(t, newTestAgent(t, cfg, nil).Start(ctx))

	next := newTestAgent(t, testConfig(t, data), nil)
	require.NoError(t, next.Start(ctx))
	require.NoError(t, next.Shutdown(ctx))
}

// TestLockIsReleasedWhenTheHolderIsKilled: the kernel releases the lock of
// a process killed with SIGKILL; the stale PID in the file does not matter.
func TestLockIsReleasedWhenTheHolderIsKilled(t *testing.T) {
	data := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldLock$")
	cmd.Env = append(os.Environ(), "WASMTAIL_LOCK_HELPER="+data)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	buf := make([]byte, 64)
	n, err := out.Read(buf)
	require.NoError(t, err)
	require.Contains(t, string(buf[:n]), "locked", "the helper holds the lock")
	ctx := context.Background()
	refused := newTestAgent(t, testConfig(t, data), nil)
	err = refused.Start(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("pid %d", cmd.Process.Pid), "names the other process")

	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	a := newTestAgent(t, testConfig(t, data), nil)
	require.NoError(t, a.Start(ctx), "released by the kernel")
	require.NoError(t, a.Shutdown(ctx))
}

// TestHelperHoldLock is the process TestLockIsReleasedWhenTheHolderIsKilled
// kills: it starts an agent, says so, and waits.
func TestHelperHoldLock(t *testing.T) {
	data := os.Getenv("WASMTAIL_LOCK_HELPER")
	if data == "" {
		t.Skip("helper process")
	}
	// Its files in data, which the parent removes: this process is killed.
	cfg := &config.Agent{Pipelines: filepath.Join(data, "pipelines"), Data: data,
		CheckpointInterval: time.Second, ScanInterval: time.Hour}
	require.NoError(t, os.MkdirAll(cfg.Pipelines, 0o755))
	a := newTestAgent(t, cfg, nil)
	require.NoError(t, a.Start(context.Background()))
	fmt.Println("locked")
	time.Sleep(time.Minute)
	runtime.KeepAlive(a) // its lock file must not be collected (and closed)
}

// TestCheckpointRecoveriesAreCounted: damage found in the checkpoints at
// start shows in wasmtail_checkpoint_recoveries_total.
func TestCheckpointRecoveriesAreCounted(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(data, "checkpoints.json"), []byte("{garbage"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(data, "checkpoints.json.tmp7"), nil, 0o644))
	met := metrics.New()
	a := newTestAgent(t, testConfig(t, data), met)
	require.NoError(t, a.Start(ctx))
	defer a.Shutdown(ctx)
	assert.Equal(t, 1.0, testutil.ToFloat64(met.CheckpointRecoveries.WithLabelValues("corrupt")))
	assert.Equal(t, 1.0, testutil.ToFloat64(met.CheckpointRecoveries.WithLabelValues("temp_removed")))
	got, err := testutil.GatherAndCount(met.Registry, "wasmtail_checkpoint_recoveries_total")
	require.NoError(t, err)
	assert.GreaterOrEqual(t, got, 7, "every reason has a series from the start")
	assert.True(t, a.store.Recovered())
}

// TestDataFolderWithoutLocks: on a file system that has no flock (some
// network file systems), the agent runs, with a warning, rather than not
// at all.
func TestDataFolderWithoutLocks(t *testing.T) {
	defer func(f func(int, int) error) { flock = f }(flock)
	flock = func(int, int) error { return unix.ENOLCK }
	var logs syncBuffer
	cfg := testConfig(t, t.TempDir())
	a := New(cfg, slog.New(slog.NewTextHandler(&logs, nil)), io.Discard, pipeline.NewRegistry(), nil)
	ctx := context.Background()
	require.NoError(t, a.Start(ctx))
	require.NoError(t, a.Shutdown(ctx))
	assert.Contains(t, logs.String(), "cannot lock the data folder")
	assert.Contains(t, logs.String(), cfg.Data)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
