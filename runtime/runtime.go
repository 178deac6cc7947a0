package runtime

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wasmtail/wasmtail/hostabi"
	"github.com/wasmtail/wasmtail/runtime/internal/meter"
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

	mu       sync.Mutex
	engines  map[uint32]wazero.Runtime // by memory limit, in pages
	closed   bool
	compiled map[codeKey]*code
}

// Compiled code is shared by every version built from the same bytes (and
// memory limit), and lingers in memory for lingerFor after its last version
// is retired (at most maxLinger such), so that a second processor running
// the same module, or swapping back to a recent version (a rollback), takes
// milliseconds: wazero decodes and validates the bytes again on each
// CompileModule, ~40 ms for a Go guest even when its code is cached.
const (
	lingerFor = time.Minute
	maxLinger = 4
)

type codeKey struct {
	sum   [32]byte
	pages uint32
}

type code struct {
	c     wazero.CompiledModule
	refs  int
	timer *time.Timer // closes it while refs == 0
	idle  time.Time
}

// compile returns the compiled code of wasm for engine e (memory limit
// pages) and a function to call when done with it.
func (r *Runtime) compile(ctx context.Context, e wazero.Runtime, pages uint32, wasm []byte) (wazero.CompiledModule, func(), error) {
	key := codeKey{sha256.Sum256(wasm), pages}
	release := func() { r.unref(key) }
	if c := r.ref(key); c != nil {
		return c, release, nil
	}
	c, err := r.compileMetered(ctx, e, wasm, key.sum)
	if err != nil {
		return nil, nil, err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		_ = c.Close(ctx)
		return nil, nil, errors.New("wasm runtime closed")
	}
	if cur := r.compiled[key]; cur != nil { // compiled meanwhile: share that one
		r.mu.Unlock()
		_ = c.Close(ctx)
		if c := r.ref(key); c != nil {
			return c, release, nil
		}
		return nil, nil, errors.New("wasm runtime closed")
	}
	r.compiled[key] = &code{c: c, refs: 1}
	r.mu.Unlock()
	return c, release, nil
}

// compileMetered compiles wasm, whose sha256 is sum, with fuel metering
// added (package meter; RATIONALE.md, "Deadlines"). The metered bytes are
// kept in the cache folder, if there is one, so that a restarted agent
// does not rewrite a module it has seen.
func (r *Runtime) compileMetered(ctx context.Context, e wazero.Runtime, wasm []byte, sum [32]byte) (c wazero.CompiledModule, err error) {
	metered, err := r.metered(wasm, sum)
	if err != nil {
		return nil, err
	}
	// wazero v1.12 panics on some malformed modules (found by fuzzing
	// package meter): a user's bad file must not take the agent down.
	defer func() {
		if p := recover(); p != nil {
			c, err = nil, fmt.Errorf("the module is malformed (wazero: %v)", p)
		}
	}()
	return e.CompileModule(ctx, metered)
}

// meteredVersion names the cached metered bytes; bump it when package
// meter changes what it writes or refuses (cached bytes skip its checks).
const meteredVersion = "metered-v5-"

func (r *Runtime) metered(wasm []byte, sum [32]byte) ([]byte, error) {
	var path string
	if r.cfg.CacheDir != "" {
		path = filepath.Join(r.cfg.CacheDir, meteredVersion+hex.EncodeToString(sum[:])+".wasm")
		if b, err := os.ReadFile(path); err == nil {
			return b, nil
		}
	}
	b, err := meter.Instrument(wasm)
	if err != nil {
		return nil, err
	}
	if path != "" {
		// Best effort: without it the next start instruments again.
		tmp := fmt.Sprintf("%s.%d.tmp", path, time.Now().UnixNano())
		if os.WriteFile(tmp, b, 0o600) != nil || os.Rename(tmp, path) != nil {
			_ = os.Remove(tmp)
		}
	}
	return b, nil
}

func (r *Runtime) ref(key codeKey) wazero.CompiledModule {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := r.compiled[key]
	if k == nil || r.closed {
		return nil
	}
	k.refs++
	if k.timer != nil {
		k.timer.Stop()
		k.timer = nil
	}
	return k.c
}

func (r *Runtime) unref(key codeKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := r.compiled[key]
	if k == nil {
		return
	}
	if k.refs--; k.refs > 0 {
		return
	}
	k.idle = time.Now()
	k.timer = time.AfterFunc(lingerFor, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.compiled[key] == k && k.refs == 0 {
			delete(r.compiled, key)
			_ = k.c.Close(context.Background())
		}
	})
	// Keep at most maxLinger unused: close the longest unused.
	var oldest codeKey
	n := 0
	for kk, c := range r.compiled {
		if c.refs == 0 {
			n++
			if o := r.compiled[oldest]; o == nil || o.refs != 0 || c.idle.Before(o.idle) {
				oldest = kk
			}
		}
	}
	if n > maxLinger {
		c := r.compiled[oldest]
		c.timer.Stop()
		delete(r.compiled, oldest)
		_ = c.c.Close(context.Background())
	}
}

// New returns a Runtime. Close it to free its compiled code.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	r := &Runtime{cfg: cfg, engines: map[uint32]wazero.Runtime{}, compiled: map[codeKey]*code{}}
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
	for key, k := range r.compiled {
		if k.timer != nil {
			k.timer.Stop()
		}
		errs = append(errs, k.c.Close(ctx))
		delete(r.compiled, key)
	}
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
// _initialize is not a start function: it runs once the fuel is set.
func moduleConfig(s *sink) wazero.ModuleConfig {
	return wazero.NewModuleConfig().
		WithName("").
		WithStdout(s.writer(hostabi.LevelInfo)).
		WithStderr(s.writer(hostabi.LevelWarn)).
		WithSysWalltime().
		WithSysNanotime().
		WithRandSource(rand.Reader).
		WithStartFunctions()
}
