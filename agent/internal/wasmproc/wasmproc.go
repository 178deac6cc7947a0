package wasmproc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasmtail/wasmtail/agent/internal/batch"
	"github.com/wasmtail/wasmtail/agent/internal/config"
	"github.com/wasmtail/wasmtail/agent/internal/metrics"
	"github.com/wasmtail/wasmtail/agent/internal/pipeline"
	"github.com/wasmtail/wasmtail/hostabi"
	"github.com/wasmtail/wasmtail/runtime"
)

// Type is the processor's `Type:` in pipeline files.
const Type = "processor_wasm"

// ErrorKey is the field added to each record a module failed to process.
const ErrorKey = "__wasm_error__"

// DefaultModulesDir is where modules given by name are looked up when
// Options.ModulesDir is empty (the agent config's `modules` default).
const DefaultModulesDir = "/etc/wasmtail/modules"

// Options are what processor_wasm gets from the agent.
type Options struct {
	// ModulesDir is the modules folder. Default DefaultModulesDir.
	ModulesDir string
	// CacheDir keeps compiled modules across restarts. Default: the user's
	// cache folder (~/.cache/wasmtail/wasm), or memory only when it cannot
	// be created.
	CacheDir string
	// Log receives module failures and guest logs. Default slog.Default().
	Log *slog.Logger
	// Metrics, when set, counts traps and failed batches.
	Metrics *metrics.Metrics
	// Runtime, when set, is used instead of one created on first use (tests
	// and benchmarks share one; the caller closes it).
	Runtime *runtime.Runtime
	// ReloadInterval is how often the module files in use are checked for a
	// new version (hot reload). 0: never (wasmtail validate, process).
	ReloadInterval time.Duration
	// ModuleRoots are the folders, besides ModulesDir, that a Module given as
	// a path may be read from (modfile.go). nil: DefaultModuleRoots(), the
	// image's BuiltinModulesDir; empty: the modules folder only.
	ModuleRoots []string
	// MaxModuleBytes caps the size of a module file and of its test
	// vectors. Default DefaultMaxModuleBytes (64 MiB).
	MaxModuleBytes int64
}

// Register adds processor_wasm to reg. The processors it builds share one
// runtime, created when the first is built. With Options.ReloadInterval
// set, the returned Modules watches their module files and reloads them
// (reload.go); Close it when the agent stops.
func Register(reg *pipeline.Registry, opts Options) *Modules {
	f := &factory{opts: opts, files: newModuleFiles(opts)}
	f.w = newWatcher(f)
	reg.Register(Type, func(p config.Plugin) (pipeline.Processor, error) { return f.create(p) })
	return &Modules{w: f.w}
}

type factory struct {
	opts  Options
	files *moduleFiles
	once  sync.Once
	rt    *runtime.Runtime
	err   error
	w     *watcher
}

func (f *factory) runtime() (*runtime.Runtime, error) {
	f.once.Do(func() {
		if f.opts.Runtime != nil {
			f.rt = f.opts.Runtime
			return
		}
		cache := f.opts.CacheDir
		if cache == "" {
			cache = userCache()
		}
		f.rt, f.err = runtime.New(context.Background(), runtime.Config{CacheDir: cache, Log: f.log()})
		if f.err != nil && f.opts.CacheDir == "" {
			f.rt, f.err = runtime.New(context.Background(), runtime.Config{Log: f.log()})
		}
	})
	return f.rt, f.err
}

// userCache is the default compilation cache, <user cache dir>/wasmtail/wasm
// (e.g. ~/.cache/wasmtail/wasm), or "" (memory only) when there is none.
func userCache() string {
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	d = filepath.Join(d, "wasmtail", "wasm")
	if os.MkdirAll(d, 0o700) != nil {
		return ""
	}
	return d
}

func (f *factory) log() *slog.Logger {
	if f.opts.Log != nil {
		return f.opts.Log
	}
	return slog.Default()
}

// ModulePath resolves a Module value: a path when it holds a "/", else a
// name in dir (".wasm" added when missing). Where the path may lead is
// checked when the file is read (modfile.go).
func ModulePath(dir, module string) string {
	if strings.ContainsRune(module, '/') || strings.ContainsRune(module, filepath.Separator) {
		return module
	}
	if !strings.HasSuffix(module, ".wasm") {
		module += ".wasm"
	}
	if dir == "" {
		dir = DefaultModulesDir
	}
	return filepath.Join(dir, module)
}

func (f *factory) create(p config.Plugin) (pipeline.Processor, error) {
	cfg, err := decode(p.Params)
	if err != nil {
		return nil, err
	}
	path := f.files.resolve(cfg.Module)
	st := stampOf(path)
	wasm, err := f.files.read(path)
	if err != nil {
		return nil, fmt.Errorf("Module %q: %w", cfg.Module, err)
	}
	rt, err := f.runtime()
	if err != nil {
		return nil, err
	}
	name := strings.TrimSuffix(filepath.Base(path), ".wasm")
	log := f.log()
	if p.Pipeline != "" {
		log = log.With("pipeline", p.Pipeline)
	}
	proc := &Processor{
		module:  name,
		path:    path,
		pin:     cfg.Sha256,
		procID:  fmt.Sprintf("%d_%s", p.Index, p.Type),
		log:     log.With("processor", fmt.Sprintf("%d_%s", p.Index, p.Type), "module", name),
		metrics: f.opts.Metrics,
		watch:   f.w,
		mcfg: runtime.ModuleConfig{
			Name:          name,
			Config:        cfg.configJSON(),
			Timeout:       time.Duration(cfg.TimeoutMs) * time.Millisecond,
			MemoryLimitMB: cfg.MemoryLimitMB,
			Log:           f.log(),
		},
	}
	proc.states.New = func() any { return &state{keys: map[string]string{}} }
	sum := sha256Hex(wasm)
	mod, err := f.w.load(context.Background(), rt, proc, wasm, sum)
	if err != nil {
		// The module is refused, not the pipeline: its records keep flowing,
		// tagged with why, so nothing is lost while someone fixes it (a good
		// file in its place is loaded by the watcher).
		proc.refuse(err)
		attrs := []any{"path", path, "sha256", sum, "err", err}
		if p.File != "" {
			attrs = append([]any{"file", p.File}, attrs...)
		}
		proc.log.Error("wasm module refused: records pass on unparsed with "+ErrorKey, attrs...)
	} else {
		proc.mod.Store(mod)
		proc.sha = sum
	}
	f.w.add(proc, st, sum, err)
	return proc, nil
}

// Processor runs one module over batches. It is safe for concurrent use:
// each worker's call takes its own instance.
type Processor struct {
	module  string
	path    string
	pin     string // Sha256, or ""
	procID  string
	log     *slog.Logger
	metrics *metrics.Metrics
	mcfg    runtime.ModuleConfig
	watch   *watcher
	mod     atomic.Pointer[runtime.Module] // nil while refused with no version running
	refused atomic.Pointer[refusal]        // why mod is nil
	counted atomic.Bool                    // the refusal was counted
	states  sync.Pool                      // *state
	lastLog atomic.Int64
	quiet   atomic.Int64 // failures not logged since lastLog

	mu     sync.Mutex // serialises reloads and Shutdown; guards closed
	closed bool
	sha    string // sha256 of the running version, "" if none; guarded by watch.mu
}

type refusal struct{ err error }

func (p *Processor) refuse(err error) {
	p.refused.Store(&refusal{err})
	p.counted.Store(false)
}

// state is one call's scratch: the encoder, the input records and the
// interned output keys.
type state struct {
	enc  hostabi.Encoder
	orig []batch.Record
	keys map[string]string
	// kc maps the guest addresses of the output keys of one call to their
	// strings: a parser names the same few keys in every record, from the
	// same addresses. An entry is valid for the call that made it only: by
	// the next call the guest's memory may hold other bytes at an address.
	kc    [128]keyAt
	kcGen uint32 // the call kc's entries are valid for
}

type keyAt struct {
	ptr, n, gen uint32
	key         string
}

// key returns the output key at [ptr, ptr+n) of v as a string that may be
// kept: an input key's own string, or an interned copy.
func (st *state) key(v *hostabi.View, ptr, n uint32) string {
	c := &st.kc[((ptr+n<<16)*0x9e3779b1)>>25] // Fibonacci hashing: 7 bits
	if c.ptr == ptr && c.n == n && c.gen == st.kcGen {
		return c.key
	}
	key, ok := st.enc.Key(ptr, n)
	if !ok {
		kb := v.Bytes(ptr, n)
		if key, ok = st.keys[string(kb)]; !ok {
			key = string(kb)
			if len(st.keys) < 4096 {
				st.keys[key] = key
			}
		}
	}
	*c = keyAt{ptr: ptr, n: n, gen: st.kcGen, key: key}
	return key
}

// Module returns the handle of the running module (nil if it was refused).
func (p *Processor) Module() *runtime.Module { return p.mod.Load() }

// Shutdown closes the module's instances and stops watching its file. It is
// idempotent.
func (p *Processor) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	mod := p.mod.Load()
	p.mu.Unlock()
	p.watch.remove(p)
	if mod != nil {
		return mod.Close(ctx)
	}
	return nil
}

// Process runs the module over b. It returns nil even when the module
// failed: the failure is counted, logged and written into the records.
func (p *Processor) Process(ctx context.Context, b *batch.Batch) error {
	if len(b.Records) == 0 {
		return nil
	}
	mod := p.mod.Load()
	if mod == nil {
		if !p.counted.Swap(true) {
			p.countTraps(b, 1)
		}
		p.fail(b, p.refused.Load().err)
		return nil
	}
	st := p.states.Get().(*state)
	defer func() {
		st.enc.Reset() // drop the references to b's bytes before pooling
		p.states.Put(st)
	}()
	enc := &st.enc
	enc.Reset()
	for i := range b.Records {
		r := &b.Records[i]
		enc.AddRecord(r.Sec, r.Nsec)
		for _, f := range r.Fields {
			enc.AddField(f.Key, f.Value)
		}
	}
	st.orig = append(st.orig[:0], b.Records...)
	traps, err := mod.Process(ctx, enc, func(v *hostabi.View) { p.apply(b, st, v) })
	clear(st.orig)
	p.countTraps(b, traps)
	if err != nil {
		p.fail(b, err)
	}
	return nil
}

// apply replaces b's records with the module's output. A record whose
// fields are exactly those of an input record (a filter kept it, a parser
// left it alone) keeps its field slice; other fields are rebuilt, pointing
// into the batch's buffer where the guest returned slices of its input.
func (p *Processor) apply(b *batch.Batch, st *state, v *hostabi.View) {
	if st.kcGen++; st.kcGen == 0 { // wrapped: entries of call 0 would look valid
		clear(st.kc[:])
		st.kcGen = 1
	}
	n := v.Len()
	j := 0
	k := 0 // the input record the guest's output is expected to come from
	for i := range n {
		h := v.Record(i)
		if in, ok := unchanged(st, v, h, j, &k); ok {
			if in != i { // b.Records[in] may be overwritten already: take the copy
				b.Records[i] = st.orig[in]
			}
			r := &b.Records[i]
			r.Sec, r.Nsec = h.Sec, h.Nsec
			j += h.NFields
			continue
		}
		fs := b.AllocFields(h.NFields)
		for x := range fs {
			f := v.Field(j)
			j++
			val, ok := st.enc.Value(f.ValPtr, f.ValLen)
			if !ok {
				start := len(b.Extra)
				b.Extra = append(b.Extra, v.Bytes(f.ValPtr, f.ValLen)...)
				val = b.Extra[start:len(b.Extra):len(b.Extra)]
			}
			fs[x] = batch.Field{Key: st.key(v, f.KeyPtr, f.KeyLen), Value: val}
		}
		b.Records[i] = batch.Record{Sec: h.Sec, Nsec: h.Nsec, Fields: fs}
	}
	clear(b.Records[n:])
	b.Records = b.Records[:n]
}

// unchanged reports whether output record h, whose first field is j, is
// input record in handed back with the same fields. k is a cursor over
// input records: outputs usually come in input order.
func unchanged(st *state, v *hostabi.View, h hostabi.RecordHeader, j int, k *int) (in int, ok bool) {
	if h.NFields == 0 {
		return 0, false
	}
	m, ok := st.enc.InputField(v.Field(j))
	if !ok {
		return 0, false
	}
	nrec := len(st.orig)
	if *k < nrec {
		if first, _ := st.enc.RecordFields(*k); first > m {
			*k = 0
		}
	}
	for ; *k < nrec; *k++ {
		first, nf := st.enc.RecordFields(*k)
		if first < m {
			continue
		}
		if first != m || nf != h.NFields {
			return 0, false
		}
		for x := 1; x < nf; x++ {
			if mm, ok := st.enc.InputField(v.Field(j + x)); !ok || mm != m+x {
				return 0, false
			}
		}
		in = *k
		*k++
		return in, true
	}
	return 0, false
}

// fail passes b's records on unchanged, each with ErrorKey saying why.
func (p *Processor) fail(b *batch.Batch, err error) {
	msg := err.Error()
	var re *runtime.Error
	if errors.As(err, &re) {
		msg = fmt.Sprintf("%s: %s: %v", re.Module, re.Kind, re.Err)
	}
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i] // wazero adds a wasm stack trace: the log has it
	}
	start := len(b.Extra)
	b.Extra = append(b.Extra, msg...)
	val := b.Extra[start:len(b.Extra):len(b.Extra)]
	for i := range b.Records {
		r := &b.Records[i]
		fs := b.NewFields()
		for _, f := range r.Fields {
			fs = b.AppendField(fs, f)
		}
		r.Fields = b.AppendField(fs, batch.Field{Key: ErrorKey, Value: val})
	}
	if p.metrics != nil {
		p.metrics.ProcessorErrors.WithLabelValues(pipelineOf(b), p.procID).Inc()
	}
	// The runtime logs every trap; this line says what happened to the
	// records, at most every 10 s per processor.
	now := time.Now().UnixNano()
	if last := p.lastLog.Load(); now-last < int64(10*time.Second) || !p.lastLog.CompareAndSwap(last, now) {
		p.quiet.Add(1)
		return
	}
	p.log.Warn("wasm module could not process a batch: records passed on unparsed with "+ErrorKey,
		"records", len(b.Records), "err", msg, "similar_since_last", p.quiet.Swap(0))
}

func (p *Processor) countTraps(b *batch.Batch, n int) {
	if n > 0 && p.metrics != nil {
		p.metrics.WasmTraps.WithLabelValues(pipelineOf(b), p.module).Add(float64(n))
	}
}

func pipelineOf(b *batch.Batch) string {
	if b.Source != nil {
		return b.Source.Pipeline
	}
	return ""
}

var _ pipeline.Processor = (*Processor)(nil)
