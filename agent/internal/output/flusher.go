package output

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/wasmtail/wasmtail/agent/internal/batch"
	"github.com/wasmtail/wasmtail/agent/internal/config"
	"github.com/wasmtail/wasmtail/agent/internal/metrics"
	"github.com/wasmtail/wasmtail/agent/internal/output/sls"
)

// Flusher types handled by New.
const (
	TypeStdout    = "flusher_stdout"
	TypeFile      = "flusher_file"
	TypeBlackhole = "flusher_blackhole"
	TypeSLS       = "flusher_sls"
)

// ErrNotRunning is returned by Export when the flusher was not started or was
// shut down. Retrying the batch on the same flusher cannot succeed.
var ErrNotRunning = errors.New("flusher not running")

// Flusher accepts batches.
//
// Export returns nil only when the batch is safely handed on (for
// flusher_file: its bytes were written to the file with write(2), so they
// survive a SIGKILL of the agent); the caller then acknowledges the batch and
// the checkpoint may move past it. Export is called from one goroutine per
// pipeline worker; implementations are safe for concurrent Export calls.
//
// Start opens what the flusher writes to. Shutdown is idempotent, safe
// without Start, flushes and closes; Export after Shutdown returns an error
// wrapping ErrNotRunning.
type Flusher interface {
	Start(ctx context.Context) error
	Export(ctx context.Context, b *batch.Batch) error
	Shutdown(ctx context.Context) error
}

// Settings holds what a flusher gets from the agent rather than from its
// config.
type Settings struct {
	// Pipeline is the pipeline name, used in error messages.
	Pipeline string
	// Stdout is where flusher_stdout writes when it writes to standard
	// output. Default os.Stdout.
	Stdout io.Writer
	// DataDir is the agent's data folder (flusher_sls keeps its dead-letter
	// file there).
	DataDir string
	// TimestampNanosecond is the pipeline's global EnableTimestampNanosecond.
	TimestampNanosecond bool
	// Log receives the flusher's own log lines. Default slog.Default().
	Log *slog.Logger
	// Metrics are the agent's metrics. Default: a private set.
	Metrics *metrics.Metrics
	// SLSCredentials and SLSCredentialsFile are where flusher_sls takes its
	// credentials from (the agent config).
	SLSCredentials     config.SLSCredentials
	SLSCredentialsFile string
}

// New returns the flusher that cfg.Type names: flusher_stdout, flusher_file,
// flusher_blackhole or flusher_sls. It does no I/O; Start does.
func New(cfg config.Flusher, set Settings) (Flusher, error) {
	if set.Stdout == nil {
		set.Stdout = os.Stdout
	}
	name := fmt.Sprintf("pipeline %q flusher %d (%s)", set.Pipeline, cfg.Index, cfg.Type)
	switch cfg.Type {
	case TypeStdout:
		var c config.FlusherStdout
		if cfg.Stdout != nil {
			c = *cfg.Stdout
		}
		if c.OnlyStdout || c.FileName == "" {
			return &writerFlusher{name: name, w: set.Stdout, tags: c.Tags}, nil
		}
		return newFileFlusher(name, c.FileName, 0, 0, c.Tags, false), nil
	case TypeFile:
		if cfg.File == nil {
			return nil, fmt.Errorf("%s: missing config", name)
		}
		c := *cfg.File
		switch {
		case c.FilePath == "":
			return nil, fmt.Errorf("%s: FilePath is required", name)
		case c.MaxFileSize < 0:
			return nil, fmt.Errorf("%s: MaxFileSize %d is negative", name, c.MaxFileSize)
		case c.MaxFiles < 0:
			return nil, fmt.Errorf("%s: MaxFiles %d is negative", name, c.MaxFiles)
		}
		return newFileFlusher(name, c.FilePath, c.MaxFileSize, c.MaxFiles, c.Tags, c.Fsync), nil
	case TypeBlackhole:
		return blackhole{}, nil
	case TypeSLS:
		if cfg.SLS == nil {
			return nil, fmt.Errorf("%s: missing config", name)
		}
		f, err := sls.New(*cfg.SLS, sls.Settings{
			Name:                name,
			Pipeline:            set.Pipeline,
			Flusher:             fmt.Sprintf("%d_%s", cfg.Index, cfg.Type),
			DataDir:             set.DataDir,
			TimestampNanosecond: set.TimestampNanosecond,
			Log:                 set.Log,
			Metrics:             set.Metrics,
			Credentials:         set.SLSCredentials,
			CredentialsFile:     set.SLSCredentialsFile,
		})
		if err != nil {
			return nil, err
		}
		return slsFlusher{f}, nil
	default:
		return nil, fmt.Errorf("%s: unknown flusher type %q", name, cfg.Type)
	}
}

// bufPool holds encoding buffers, so concurrent Exports encode in parallel
// and take the flusher's mutex only to write.
var bufPool = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBuf bounds the buffers kept for reuse, so one huge batch does not
// pin its memory.
const maxPooledBuf = 4 << 20

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(p *[]byte) {
	if cap(*p) > maxPooledBuf {
		*p = nil
	}
	*p = (*p)[:0]
	bufPool.Put(p)
}

// writerFlusher is flusher_stdout writing to an io.Writer it does not own.
type writerFlusher struct {
	name string
	tags bool

	mu     sync.Mutex
	w      io.Writer
	closed bool
}

func (f *writerFlusher) Start(context.Context) error { return nil }

func (f *writerFlusher) Export(ctx context.Context, b *batch.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(b.Records) == 0 {
		return nil
	}
	p := getBuf()
	defer putBuf(p)
	*p = appendBatch((*p)[:0], b, f.tags)

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fmt.Errorf("%s: %w", f.name, ErrNotRunning)
	}
	if _, err := f.w.Write(*p); err != nil {
		return fmt.Errorf("%s: write: %w", f.name, err)
	}
	return nil
}

// Shutdown flushes the writer if it buffers (a Flush method). It does not
// close it: standard output belongs to the process.
func (f *writerFlusher) Shutdown(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	if fl, ok := f.w.(interface{ Flush() error }); ok {
		if err := fl.Flush(); err != nil {
			return fmt.Errorf("%s: flush: %w", f.name, err)
		}
	}
	return nil
}

// blackhole is flusher_blackhole: it accepts every batch and writes nothing.
type blackhole struct{}

func (blackhole) Start(context.Context) error                { return nil }
func (blackhole) Export(context.Context, *batch.Batch) error { return nil }
func (blackhole) Shutdown(context.Context) error             { return nil }

// slsFlusher maps flusher_sls's "not running" error to ErrNotRunning
// (package sls cannot import this one, which imports it).
type slsFlusher struct{ *sls.Flusher }

func (f slsFlusher) Export(ctx context.Context, b *batch.Batch) error {
	err := f.Flusher.Export(ctx, b)
	if errors.Is(err, sls.ErrNotRunning) {
		return fmt.Errorf("%w: %w", ErrNotRunning, err)
	}
	return err
}

// Interface guards.
var (
	_ Flusher = (*writerFlusher)(nil)
	_ Flusher = (*fileFlusher)(nil)
	_ Flusher = blackhole{}
	_ Flusher = slsFlusher{}
)
