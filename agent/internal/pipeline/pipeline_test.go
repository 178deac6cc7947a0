package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/wasmtail/wasmtail/agent/internal/batch"
	"github.com/wasmtail/wasmtail/agent/internal/checkpoint"
	"github.com/wasmtail/wasmtail/agent/internal/config"
	"github.com/wasmtail/wasmtail/agent/internal/metrics"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeFlusher records what it accepted; it fails while fail is set and
// blocks while gate is closed.
type fakeFlusher struct {
	mu      sync.Mutex
	got     []string
	fail    atomic.Bool
	calls   atomic.Int64
	gate    chan struct{}
	started atomic.Bool
	stopped atomic.Int64
}

func (f *fakeFlusher) Start(context.Context) error { f.started.Store(true); return nil }
func (f *fakeFlusher) Shutdown(context.Context) error {
	f.stopped.Add(1)
	return nil
}

func (f *fakeFlusher) Export(ctx context.Context, b *batch.Batch) error {
	f.calls.Add(1)
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if f.fail.Load() {
		return errors.New("endpoint down")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range b.Records {
		v, _ := r.Get(batch.ContentKey)
		f.got = append(f.got, string(v))
	}
	return nil
}

func (f *fakeFlusher) lines() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got...)
}

type fixture struct {
	dir   string
	store *checkpoint.Store
	met   *metrics.Metrics
	p     *Pipeline
	fl    *fakeFlusher
}

func newFixture(t *testing.T, queueMB int) *fixture {
	dir := t.TempDir()
	st, err := checkpoint.Open(filepath.Join(dir, "cp.json"), 10*time.Millisecond, nil)
	require.NoError(t, err)
	st.Register("p") // not the first run: files found at start are read whole, not tailed
	cfg := &config.Pipeline{
		Name: "p", File: "p.yaml", Enable: true,
		Global: config.Global{Workers: 2, QueueMB: queueMB},
		Input: config.InputFile{
			FilePaths: []string{filepath.Join(dir, "*.log")}, TailSizeKB: 1024,
			FlushTimeoutSecs: 5, MaxLineKB: 512, FileOffsetKey: "__file_offset__",
		},
		Flushers: []config.Flusher{{Type: "flusher_blackhole", Blackhole: &config.FlusherBlackhole{}}},
	}
	met := metrics.New()
	p, err := New(cfg, Settings{Store: st, Metrics: met, ScanInterval: 50 * time.Millisecond})
	require.NoError(t, err)
	fl := &fakeFlusher{}
	p.flushers[0].f = fl
	return &fixture{dir: dir, store: st, met: met, p: p, fl: fl}
}

func (fx *fixture) write(t *testing.T, name string, lines ...string) {
	f, err := os.OpenFile(filepath.Join(fx.dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	_, err = f.WriteString(strings.Join(lines, "\n") + "\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func (fx *fixture) offset(name string) int64 {
	for _, e := range fx.store.Files("p") {
		if filepath.Base(e.Path) == name {
			return e.Offset
		}
	}
	return -1
}

func TestLifecycle(t *testing.T) {
	t.Run("create then shutdown", func(t *testing.T) {
		fx := newFixture(t, 16)
		require.NoError(t, fx.p.Shutdown(context.Background()))
		require.NoError(t, fx.p.Shutdown(context.Background()), "idempotent")
		assert.Equal(t, int64(1), fx.fl.stopped.Load())
	})
	t.Run("create, start, shutdown", func(t *testing.T) {
		fx := newFixture(t, 16)
		require.NoError(t, fx.p.Start(context.Background()))
		assert.True(t, fx.fl.started.Load())
		require.NoError(t, fx.p.Shutdown(context.Background()))
		require.NoError(t, fx.p.Shutdown(context.Background()))
		assert.Equal(t, int64(1), fx.fl.stopped.Load())
	})
}

func TestRetryUntilDeliveredThenCheckpoint(t *testing.T) {
	fx := newFixture(t, 16)
	fx.fl.fail.Store(true)
	fx.write(t, "a.log", "one", "two")
	require.NoError(t, fx.p.Start(context.Background()))
	defer fx.p.Shutdown(context.Background())

	require.Eventually(t, func() bool { return fx.fl.calls.Load() >= 2 }, 5*time.Second, 10*time.Millisecond, "retried")
	assert.Equal(t, int64(0), fx.offset("a.log"), "nothing checkpointed while the flusher fails")
	assert.Positive(t, testutil.ToFloat64(fx.met.FlusherErrors.WithLabelValues("p", "0_flusher_blackhole")))

	fx.fl.fail.Store(false)
	require.Eventually(t, func() bool { return fx.offset("a.log") == 8 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, []string{"one", "two"}, fx.fl.lines())
}

func TestBackpressureBoundsTheQueue(t *testing.T) {
	// A 1 MiB queue and a flusher that blocks: readers stop after about
	// 1 MiB and wait; nothing is dropped; everything flows once it opens.
	fx := newFixture(t, 1)
	fx.p.pool = batch.NewPool(64 << 10)
	fx.fl.gate = make(chan struct{})
	var lines []string
	for i := range 40000 {
		lines = append(lines, fmt.Sprintf("line %05d %s", i, strings.Repeat("y", 90)))
	}
	fx.write(t, "a.log", lines...) // ~4 MiB
	require.NoError(t, fx.p.Start(context.Background()))

	time.Sleep(500 * time.Millisecond)
	q := testutil.ToFloat64(fx.met.QueueBytes.WithLabelValues("p"))
	read := testutil.ToFloat64(fx.met.InputBytes.WithLabelValues("p"))
	assert.LessOrEqual(t, q, float64(1<<20), "queued bytes within the bound")
	assert.Less(t, read, float64(2<<20), "readers wait instead of reading the whole file")

	close(fx.fl.gate)
	require.Eventually(t, func() bool { return len(fx.fl.lines()) == len(lines) }, 10*time.Second, 10*time.Millisecond, "all lines delivered")
	got := fx.fl.lines()
	sort.Strings(got) // two workers: batches may finish out of order
	assert.Equal(t, lines, got)
	assert.Positive(t, testutil.ToFloat64(fx.met.InputBlocked.WithLabelValues("p")), "blocked time counted")
	require.NoError(t, fx.p.Shutdown(context.Background()))
}

func TestShutdownGiveUpAfterGraceKeepsCheckpoint(t *testing.T) {
	// The flusher never succeeds: Shutdown gives up at the deadline and the
	// checkpoint stays before the undelivered data.
	fx := newFixture(t, 16)
	fx.fl.fail.Store(true)
	fx.write(t, "a.log", "stuck")
	require.NoError(t, fx.p.Start(context.Background()))
	require.Eventually(t, func() bool { return fx.fl.calls.Load() >= 1 }, 5*time.Second, 10*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	require.NoError(t, fx.p.Shutdown(ctx))
	assert.Less(t, time.Since(start), 3*time.Second)
	assert.Equal(t, int64(0), fx.offset("a.log"))
	assert.Empty(t, fx.fl.lines())
}

func TestUnknownProcessorIsAnError(t *testing.T) {
	cfg := &config.Pipeline{Name: "p", File: "p.yaml", Processors: []config.Plugin{{Type: "processor_nope", Index: 0}}}
	_, err := BuildProcessors(cfg, NewRegistry())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "p.yaml: processors[0]")
	assert.Contains(t, err.Error(), "processor_nope")
}
