package runtime

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasmtail/wasmtail/hostabi"
	"github.com/wasmtail/wasmtail/runtime/internal/meter"
)

// ModuleConfig configures one module. The zero value of each field means
// its default.
type ModuleConfig struct {
	// Name names the module in logs, metrics and errors.
	Name string
	// Config is handed to wasmtail_init, as JSON. Default "{}".
	Config []byte
	// Timeout bounds one batch (and wasmtail_init). Default 1s.
	Timeout time.Duration
	// MemoryLimitMB caps each instance's memory, 1 to 2048 (the output
	// batch must lie in the low 2 GiB: a result with the top bit set is an
	// error code). Default 64.
	MemoryLimitMB int
	// Log receives guest logs and failures. Default: the Runtime's.
	Log *slog.Logger
	// MaxFailures is how many batches in a row may fail (after their retry)
	// before the module is quarantined. Default 3.
	MaxFailures int
	// Quarantine is the first quarantine period; each one after doubles it,
	// up to 20 times as long. Default 30s.
	Quarantine time.Duration
	// MaxIdle is how many idle instances the module keeps. Default 64.
	MaxIdle int
}

func (c ModuleConfig) withDefaults(r *Runtime) ModuleConfig {
	if len(c.Config) == 0 {
		c.Config = []byte("{}")
	}
	if c.Timeout <= 0 {
		c.Timeout = time.Second
	}
	if c.MemoryLimitMB <= 0 {
		c.MemoryLimitMB = 64
	}
	c.MemoryLimitMB = min(c.MemoryLimitMB, 2048)
	if c.Log == nil {
		c.Log = r.cfg.Log
	}
	if c.MaxFailures <= 0 {
		c.MaxFailures = 3
	}
	if c.Quarantine <= 0 {
		c.Quarantine = 30 * time.Second
	}
	if c.MaxIdle <= 0 {
		c.MaxIdle = 64
	}
	return c
}

// Module is a loaded module: a handle on its current version and that
// version's pool of instances. It is safe for concurrent use; each call of
// Process takes its own instance.
type Module struct {
	rt  *Runtime
	cfg ModuleConfig
	log *slog.Logger
	lim *limiter

	cur    atomic.Pointer[version]
	closed atomic.Bool

	// Failure state: fails counts batches in a row that failed; while
	// now < until the module is quarantined.
	fails  atomic.Int32
	until  atomic.Int64 // unix nanoseconds
	qmu    sync.Mutex
	period time.Duration
}

// version is one compiled build of a module with its idle instances.
type version struct {
	m        *Module
	engine   wazero.Runtime
	compiled wazero.CompiledModule
	unref    func() // gives compiled back to the runtime
	start    bool   // has _initialize

	mu      sync.Mutex
	idle    []*instance
	retired bool
	live    int // instances not closed
}

// instance is one instantiated module, used by one goroutine at a time.
type instance struct {
	v       *version
	mod     api.Module
	mem     api.Memory
	buffer  api.Function
	process api.Function
	sink    *sink
	dog     watchdog
	stack   []uint64
	bufPtr  uint32
	bufCap  uint32
}

// Load compiles wasm, checks it against ABI v1 and builds a first instance
// (running _initialize and wasmtail_init). A module that fails any of that
// is refused: the error is an *Error of KindRefused.
func (r *Runtime) Load(ctx context.Context, wasm []byte, cfg ModuleConfig) (*Module, error) {
	cfg = cfg.withDefaults(r)
	m := &Module{rt: r, cfg: cfg, log: cfg.Log.With("module", cfg.Name), period: cfg.Quarantine}
	m.lim = newLimiter(cfg.Log, cfg.Name)
	v, err := m.build(ctx, wasm)
	if err != nil {
		return nil, err
	}
	m.cur.Store(v)
	return m, nil
}

// Precompile compiles wasm into the compilation cache folder without
// checking or running it, so that a later Load of the same bytes and memory
// limit, in this runtime or in one started later, is fast. Without
// Config.CacheDir it only reports compile errors: in memory, compiled code
// lives as long as a loaded module uses it.
func (r *Runtime) Precompile(ctx context.Context, wasm []byte, memoryLimitMB int) error {
	cfg := ModuleConfig{MemoryLimitMB: memoryLimitMB}.withDefaults(r)
	e, err := r.engine(ctx, uint32(cfg.MemoryLimitMB)*16)
	if err != nil {
		return err
	}
	c, err := r.compileMetered(ctx, e, wasm, sha256.Sum256(wasm))
	if err != nil {
		return fmt.Errorf("compile: %w", err)
	}
	return c.Close(ctx)
}

// Name is the module's name.
func (m *Module) Name() string { return m.cfg.Name }

// Swap replaces the module's code with wasm after the same checks as Load.
// Batches in flight finish on the old version; its instances are closed as
// they come back. On error the old version keeps running.
func (m *Module) Swap(ctx context.Context, wasm []byte) error {
	if m.closed.Load() {
		return m.errorf(KindRefused, "module closed")
	}
	v, err := m.build(ctx, wasm)
	if err != nil {
		return err
	}
	old := m.cur.Swap(v)
	m.fails.Store(0)
	m.until.Store(0)
	old.retire(ctx)
	return nil
}

// Close closes every instance of the module. Process fails after Close.
func (m *Module) Close(ctx context.Context) error {
	if m.closed.Swap(true) {
		return nil
	}
	m.cur.Load().retire(ctx)
	return nil
}

func (m *Module) errorf(k Kind, format string, args ...any) *Error {
	return &Error{Module: m.cfg.Name, Kind: k, Err: fmt.Errorf(format, args...)}
}

func (m *Module) build(ctx context.Context, wasm []byte) (*version, error) {
	pages := uint32(m.cfg.MemoryLimitMB) * 16
	e, err := m.rt.engine(ctx, pages)
	if err != nil {
		return nil, &Error{Module: m.cfg.Name, Kind: KindRefused, Err: err}
	}
	c, unref, err := m.rt.compile(ctx, e, pages, wasm)
	if err != nil {
		return nil, &Error{Module: m.cfg.Name, Kind: KindRefused, Err: fmt.Errorf("compile: %w", err)}
	}
	start, err := check(c)
	if err != nil {
		unref()
		return nil, &Error{Module: m.cfg.Name, Kind: KindRefused, Err: err}
	}
	v := &version{m: m, engine: e, compiled: c, unref: unref, start: start, live: 1}
	in, ierr := v.instantiate(ctx)
	if ierr != nil {
		v.retire(ctx)
		ierr.Kind = KindRefused
		return nil, ierr
	}
	v.put(ctx, in)
	return v, nil
}

// check verifies the ABI marker, the exports and the imports, and reports
// whether the module has _initialize.
func check(c wazero.CompiledModule) (bool, error) {
	exports := c.ExportedFunctions()
	if _, ok := exports[hostabi.ExportMarker]; !ok {
		for name := range exports {
			if v, ok := strings.CutPrefix(name, hostabi.MarkerPrefix); ok {
				return false, fmt.Errorf("unknown ABI version v%s (export %s): this agent speaks v%d", v, name, hostabi.Version)
			}
		}
		return false, fmt.Errorf("no ABI marker: the module does not export %s", hostabi.ExportMarker)
	}
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	want := []struct {
		name    string
		params  []api.ValueType
		results []api.ValueType
	}{
		{hostabi.ExportInit, []api.ValueType{i32, i32}, []api.ValueType{i32}},
		{hostabi.ExportBuffer, []api.ValueType{i32}, []api.ValueType{i32}},
		{hostabi.ExportProcess, []api.ValueType{i32, i32}, []api.ValueType{i64}},
	}
	for _, w := range want {
		f, ok := exports[w.name]
		if !ok {
			return false, fmt.Errorf("missing export %s", w.name)
		}
		if !sameTypes(f.ParamTypes(), w.params) || !sameTypes(f.ResultTypes(), w.results) {
			return false, fmt.Errorf("export %s has type %s -> %s, want %s -> %s", w.name,
				typeNames(f.ParamTypes()), typeNames(f.ResultTypes()), typeNames(w.params), typeNames(w.results))
		}
	}
	if _, ok := c.ExportedMemories()["memory"]; !ok {
		return false, errors.New("missing export memory")
	}
	for _, f := range c.ImportedFunctions() {
		mod, name, _ := f.Import()
		if mod == "wasi_snapshot_preview1" || (mod == hostabi.ImportModule && name == hostabi.ImportLog) {
			continue
		}
		return false, fmt.Errorf("unknown import %s.%s", mod, name)
	}
	_, start := exports[hostabi.ExportInitialize]
	return start, nil
}

func sameTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func typeNames(ts []api.ValueType) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = api.ValueTypeName(t)
	}
	return "(" + strings.Join(s, ",") + ")"
}

// instantiate builds an instance: _initialize, then wasmtail_init with the
// Config, all under the module's timeout. The caller reserved its place in
// v.live (see get); on failure instantiate gives it back.
func (v *version) instantiate(ctx context.Context) (*instance, *Error) {
	m := v.m
	s := newSink(m.lim)
	ctx = withSink(ctx, s)
	mod, err := v.engine.InstantiateModule(ctx, v.compiled, moduleConfig(s))
	if err != nil {
		v.release()
		return nil, m.classify(nil, fmt.Errorf("instantiate: %w", err))
	}
	fuel, _ := mod.ExportedGlobal(meter.FuelExport).(api.MutableGlobal)
	in := &instance{
		v: v, mod: mod, mem: mod.Memory(), sink: s, dog: watchdog{fuel: fuel}, stack: make([]uint64, 2),
		buffer:  mod.ExportedFunction(hostabi.ExportBuffer),
		process: mod.ExportedFunction(hostabi.ExportProcess),
	}
	if in.mem == nil {
		in.close()
		return nil, m.errorf(KindRefused, "module has no memory")
	}
	if fuel == nil { // the metering rewrite adds it: a bug if missing
		in.close()
		return nil, m.errorf(KindRefused, "module has no %s export", meter.FuelExport)
	}
	// _initialize, wasmtail_buffer and wasmtail_init share one deadline.
	in.arm(m.cfg.Timeout)
	defer in.disarm()
	if v.start {
		if err := mod.ExportedFunction(hostabi.ExportInitialize).CallWithStack(ctx, nil); err != nil {
			e := m.classify(in, fmt.Errorf("%s: %w", hostabi.ExportInitialize, err))
			in.close()
			return nil, e
		}
	}
	cfg := m.cfg.Config
	s.reset(hostabi.MaxLogCallsPerCall)
	if err := in.ensureBuffer(ctx, uint32(len(cfg))); err != nil {
		e := m.classify(in, fmt.Errorf("wasmtail_buffer: %w", err))
		in.close()
		return nil, e
	}
	in.mem.Write(in.bufPtr, cfg)
	in.stack[0], in.stack[1] = uint64(in.bufPtr), uint64(len(cfg))
	if err := mod.ExportedFunction(hostabi.ExportInit).CallWithStack(ctx, in.stack); err != nil {
		e := m.classify(in, fmt.Errorf("wasmtail_init: %w", err))
		in.close()
		return nil, e
	}
	if rc := int32(in.stack[0]); rc != hostabi.ResultOK {
		in.close()
		return nil, m.errorf(KindRefused, "wasmtail_init returned %d (config rejected; see the module's log)", rc)
	}
	return in, nil
}

var errBufferOutside = errors.New("buffer outside memory or not 8-byte aligned")

// ensureBuffer makes the guest buffer at least size bytes, asking the guest
// for a new one (with room to grow) only when it is too small.
func (in *instance) ensureBuffer(ctx context.Context, size uint32) error {
	if size <= in.bufCap && in.bufPtr != 0 {
		return nil
	}
	want := max(size+size/4, 64<<10)
	want = (want + 0xffff) &^ 0xffff
	in.stack[0] = uint64(want)
	if err := in.buffer.CallWithStack(ctx, in.stack); err != nil {
		return err
	}
	ptr := uint32(in.stack[0])
	if ptr == 0 {
		return fmt.Errorf("guest could not allocate %d bytes", want)
	}
	if ptr%hostabi.Align != 0 || uint64(ptr)+uint64(want) > uint64(in.mem.Size()) {
		return fmt.Errorf("%w: [%#x, +%d), memory %d bytes", errBufferOutside, ptr, want, in.mem.Size())
	}
	in.bufPtr, in.bufCap = ptr, want
	return nil
}

func (in *instance) close() {
	_ = in.mod.Close(context.Background())
	in.v.release()
}

// release gives back an instance's place in live; the compiled code of a
// retired version is closed with its last instance.
func (v *version) release() {
	v.mu.Lock()
	v.live--
	done := v.retired && v.live == 0
	v.mu.Unlock()
	if done {
		v.unref()
	}
}

// errRetired: the version was swapped out between loading it and taking an
// instance; the caller takes the current one.
var errRetired = errors.New("version retired")

// get returns an idle instance or builds one, reserving its place in live
// first so that retire never closes the compiled code under it.
func (v *version) get(ctx context.Context) (*instance, *Error) {
	v.mu.Lock()
	if v.retired {
		v.mu.Unlock()
		return nil, &Error{Module: v.m.cfg.Name, Kind: KindCanceled, Err: errRetired}
	}
	if n := len(v.idle); n > 0 {
		in := v.idle[n-1]
		v.idle = v.idle[:n-1]
		v.mu.Unlock()
		return in, nil
	}
	v.live++
	v.mu.Unlock()
	return v.instantiate(ctx)
}

// put gives an instance back; instances of a retired version are closed.
func (v *version) put(_ context.Context, in *instance) {
	v.mu.Lock()
	if !v.retired && len(v.idle) < v.m.cfg.MaxIdle {
		v.idle = append(v.idle, in)
		v.mu.Unlock()
		return
	}
	v.mu.Unlock()
	in.close()
}

// retire closes the idle instances; the busy ones close when put back, and
// the compiled code when the last instance is closed.
func (v *version) retire(_ context.Context) {
	v.mu.Lock()
	v.retired = true
	idle := v.idle
	v.idle = nil
	done := v.live == 0 && len(idle) == 0
	v.mu.Unlock()
	for _, in := range idle {
		in.close()
	}
	if done {
		v.unref()
	}
}

// Process runs one batch: it writes in into a guest, calls
// wasmtail_process and hands the checked output to out, which must copy
// what it keeps out of guest memory before it returns. out is called at
// most once, only on success.
//
// On a trap, timeout, out-of-memory or ABI violation the instance is
// closed and the batch retried once on a fresh one. traps counts those
// failures (also when the retry succeeded); err is nil or an *Error.
func (m *Module) Process(ctx context.Context, in *hostabi.Encoder, out func(*hostabi.View)) (traps int, err error) {
	if m.closed.Load() {
		return 0, m.errorf(KindCanceled, "module closed")
	}
	if in.Count() > hostabi.MaxRecords || in.Size() > hostabi.MaxBatchBytes {
		return 0, m.errorf(KindTooLarge, "%d records, %d bytes (limits %d, %d)", in.Count(), in.Size(), hostabi.MaxRecords, hostabi.MaxBatchBytes)
	}
	if until := m.until.Load(); until != 0 && time.Now().UnixNano() < until {
		return 0, m.errorf(KindQuarantined, "until %s", time.Unix(0, until).Format(time.RFC3339))
	}
	var last *Error
	for attempt := 0; attempt < 2; attempt++ {
		v := m.cur.Load()
		inst, e := v.get(ctx)
		if e != nil && errors.Is(e.Err, errRetired) {
			if m.closed.Load() {
				return traps, m.errorf(KindCanceled, "module closed")
			}
			attempt-- // swapped meanwhile: take the new version, no failure
			continue
		}
		if e == nil {
			e = inst.call(ctx, in, out)
			if e == nil {
				v.put(ctx, inst)
				m.succeeded()
				return traps, nil
			}
			if e.Kind == KindGuest {
				v.put(ctx, inst)
				return traps, e
			}
			inst.close()
		}
		if e.Kind == KindCanceled {
			return traps, e
		}
		traps++
		last = e
		m.log.Warn("wasm module failed; instance closed", "kind", e.Kind.String(), "attempt", attempt+1, "err", e.Err)
		m.lim.flush()
	}
	m.failed(last)
	return traps, last
}

func (m *Module) succeeded() {
	if m.fails.Load() != 0 {
		m.qmu.Lock()
		m.fails.Store(0)
		m.period = m.cfg.Quarantine
		m.qmu.Unlock()
	}
}

func (m *Module) failed(e *Error) {
	if m.fails.Add(1) < int32(m.cfg.MaxFailures) {
		return
	}
	m.qmu.Lock()
	defer m.qmu.Unlock()
	p := m.period
	m.period = min(2*m.period, 20*m.cfg.Quarantine)
	m.fails.Store(0)
	m.until.Store(time.Now().Add(p).UnixNano())
	m.log.Error("wasm module quarantined: records pass on unparsed", "for", p.String(),
		"failures", m.cfg.MaxFailures, "last", e.Error())
}

// call runs one batch on this instance.
func (in *instance) call(ctx context.Context, enc *hostabi.Encoder, out func(*hostabi.View)) *Error {
	m := in.v.m
	if ctx.Err() != nil {
		return &Error{Module: m.cfg.Name, Kind: KindCanceled, Err: ctx.Err()}
	}
	ctx = withSink(ctx, in.sink)
	in.arm(m.cfg.Timeout)
	defer in.disarm()
	size := uint32(enc.Size())
	in.sink.reset(hostabi.MaxLogCallsPerCall + 2*enc.Count())
	if err := in.ensureBuffer(ctx, size); err != nil {
		return m.classify(in, fmt.Errorf("wasmtail_buffer: %w", err))
	}
	buf, ok := in.mem.Read(in.bufPtr, size)
	if !ok {
		return m.errorf(KindABI, "buffer [%#x, +%d) outside memory", in.bufPtr, size)
	}
	enc.Encode(buf, in.bufPtr)
	in.stack[0], in.stack[1] = uint64(enc.Count()), uint64(size)
	if err := in.process.CallWithStack(ctx, in.stack); err != nil {
		return m.classify(in, fmt.Errorf("wasmtail_process: %w", err))
	}
	res := int64(in.stack[0])
	if res < 0 {
		return m.errorf(KindGuest, "wasmtail_process returned %d", res)
	}
	mem, _ := in.mem.Read(0, in.mem.Size())
	view, err := hostabi.Parse(mem, 0, uint32(uint64(res)>>32), uint32(res), enc.Count())
	if err != nil {
		return &Error{Module: m.cfg.Name, Kind: KindABI, Err: fmt.Errorf("wasmtail_process output: %w", err)}
	}
	out(&view)
	return nil
}

// classify turns a failed call into an *Error of the right kind. in is
// disarmed already or not at all (the caller's defer): the fuel it reads
// is the guest's own.
func (m *Module) classify(in *instance, err error) *Error {
	k := KindTrap
	switch {
	case errors.Is(err, errLogFlood):
		k = KindLogFlood
	case errors.Is(err, errBufferOutside):
		k = KindABI
	case in != nil && in.outOfFuel():
		k = KindTimeout
		err = fmt.Errorf("no answer within %s: %w", m.cfg.Timeout, err)
	case in != nil && atLimit(in.mem, m.cfg.MemoryLimitMB):
		k = KindMemory
		err = fmt.Errorf("memory at %.1f of %d MiB: %w", float64(in.mem.Size())/(1<<20), m.cfg.MemoryLimitMB, err)
	}
	return &Error{Module: m.cfg.Name, Kind: k, Err: err}
}

// atLimit reports whether memory is so close to its cap that the last
// failure was most likely a failed allocation (Go grows its heap 4 MiB at
// a time, C by what malloc needs).
func atLimit(mem api.Memory, limitMB int) bool {
	limit := uint64(limitMB) << 20
	size := uint64(mem.Size())
	return size+max(limit/8, 5<<20) >= limit
}
