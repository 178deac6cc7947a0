package runtime

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wasmtail/wasmtail/hostabi"
)

// Config configures a Runtime. The zero value is valid.
type Config struct {
	// CacheDir is a folder for compiled code, so that a restarted agent
	// loads modules from cache instead of compiling them. Default: none
	// (compiled code is cached in memory only).
	CacheDir string
	// Log receives guest logs and module failures. Default slog.Default().
	Log *slog.Logger
}

// Runtime compiles and runs modules. It is safe for concurrent use.
type Runtime struct {
	cfg   Config
	cache wazero.CompilationCache

	mu      sync.Mutex
	engines map[uint32]wazero.Runtime // by memory limit, in pages
	closed  bool
}

// New returns a Runtime. Close it to free its compiled code.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	r := &Runtime{cfg: cfg, engines: map[uint32]wazero.Runtime{}}
	if cfg.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("wasm compilation cache %s: %w", cfg.CacheDir, err)
		}
		r.cache = c
	} else {
		r.cache = wazero.NewCompilationCache()
	}
	return r, nil
}

// Close closes every module and frees compiled code. It is idempotent.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	var errs []error
	for _, e := range r.engines {
		errs = append(errs, e.Close(ctx))
	}
	errs = append(errs, r.cache.Close(ctx))
	return errors.Join(errs...)
}

// engine returns the wazero runtime for a memory limit. wazero caps memory
// per runtime, not per module, so modules with different MemoryLimitMB get
// different runtimes; they share the compilation cache (RATIONALE.md).
func (r *Runtime) engine(ctx context.Context, pages uint32) (wazero.Runtime, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errors.New("wasm runtime closed")
	}
	if e, ok := r.engines[pages]; ok {
		return e, nil
	}
	e := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
		WithCompilationCache(r.cache).
		WithCloseOnContextDone(true).
		WithMemoryLimitPages(pages))
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, e); err != nil {
		_ = e.Close(ctx)
		return nil, fmt.Errorf("wasi: %w", err)
	}
	_, err := e.NewHostModuleBuilder(hostabi.ImportModule).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(hostLog), []api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, nil).
		WithParameterNames("level", "ptr", "len").
		Export(hostabi.ImportLog).
		Instantiate(ctx)
	if err != nil {
		_ = e.Close(ctx)
		return nil, fmt.Errorf("host module %s: %w", hostabi.ImportModule, err)
	}
	r.engines[pages] = e
	return e, nil
}

// moduleConfig is what every instance gets: no args, no env, no files, no
// network (wazero grants none unless asked); real clocks and randomness.
func moduleConfig(s *sink, start bool) wazero.ModuleConfig {
	c := wazero.NewModuleConfig().
		WithName("").
		WithStdout(s.writer(hostabi.LevelInfo)).
		WithStderr(s.writer(hostabi.LevelWarn)).
		WithSysWalltime().
		WithSysNanotime().
		WithRandSource(rand.Reader)
	if start {
		return c.WithStartFunctions(hostabi.ExportInitialize)
	}
	return c.WithStartFunctions()
}
