package wasmproc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/wasmtail/wasmtail/runtime"
)

// Hot reload (DESIGN.md §5). The watcher checks the module files that
// running processors use every Options.ReloadInterval: a file whose size,
// modification time or identity changed (os.Stat follows symlinks, so a
// Kubernetes ConfigMap's `..data` swap counts) is read and hashed, and when
// its sha256 differs from what a processor runs, the new version is
//
//  1. refused if a processor pins another Sha256;
//  2. compiled (through the compilation cache), checked (marker, exports,
//     imports) and instantiated with wasmtail_init, once;
//  3. run over the module's own test vectors, NAME.tests.jsonl beside
//     NAME.wasm, if there are any (tests.go);
//  4. swapped into each processor (runtime.Module.Swap): batches in flight
//     finish on the old version, whose instances close as they come back.
//
// A version refused at any step leaves the old one running. Every outcome
// is logged, counted in wasmtail_wasm_reloads_total{module,result} and
// shown by wasmtail_wasm_module_info{module,sha256}; while a module's newest
// file is refused, Modules.Refused says why (the agent's /readyz).
//
// A file that fails while it was modified less than settle ago is checked
// again later before it is reported: it may still be being written.

// rehashEvery: files whose stat did not change are still read and hashed
// this often, in case a rewrite kept their size and modification time.
const rehashEvery = 10 * time.Second

// Modules is what Register returns: the agent asks it which modules are
// refused (for /readyz) and closes it when it stops.
type Modules struct{ w *watcher }

// Refused returns, by module name, why the module's current file is refused
// (its previous version, if it had one, keeps serving). Empty when all is
// well.
func (m *Modules) Refused() map[string]string {
	w := m.w
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]string{}
	for _, ws := range w.paths {
		if ws.refused != "" {
			out[ws.name] = ws.refused
		}
	}
	return out
}

// Close stops watching module files. It is idempotent.
func (m *Modules) Close() {
	w := m.w
	w.mu.Lock()
	running := w.running && !w.closed
	w.closed = true
	w.mu.Unlock()
	if running {
		close(w.stop)
		<-w.done
	}
}

// stamp identifies the versions of a module file and its test vectors
// without reading them.
type stamp struct {
	wasm, tests os.FileInfo // nil: missing
}

func stampOf(path string) stamp {
	var s stamp
	if fi, err := os.Stat(path); err == nil {
		s.wasm = fi
	}
	if fi, err := os.Stat(testsPath(path)); err == nil {
		s.tests = fi
	}
	return s
}

func (s stamp) equal(o stamp) bool { return sameInfo(s.wasm, o.wasm) && sameInfo(s.tests, o.tests) }

func sameInfo(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// modified is when the newer of the two files was last written.
func (s stamp) modified() time.Time {
	var t time.Time
	for _, fi := range []os.FileInfo{s.wasm, s.tests} {
		if fi != nil && fi.ModTime().After(t) {
			t = fi.ModTime()
		}
	}
	return t
}

// testsSum is the sha256 of the test vectors beside a module, "" if none
// (or refused: runTests says why).
func (w *watcher) testsSum(wasmPath string) string {
	b, err := w.f.files.read(testsPath(wasmPath))
	if err != nil {
		return ""
	}
	return sha256Hex(b)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// watched is one module file and the processors that run it.
type watched struct {
	name    string
	procs   map[*Processor]struct{}
	stamp   stamp  // what was last acted on
	sum     string // its sha256
	tsum    string // and that of its test vectors ("" if none)
	refused string // why that file is refused, "" if it runs
	hashed  time.Time
	missing bool // "file unreadable" was logged

	// A failure of a fresh file waits until retryAt before it is reported.
	pending stamp
	retryAt time.Time
}

type watcher struct {
	f *factory

	mu      sync.Mutex
	paths   map[string]*watched
	shown   map[string]map[string]bool // module -> sha256 labels in WasmModuleInfo
	running bool
	closed  bool
	stop    chan struct{}
	done    chan struct{}
}

func newWatcher(f *factory) *watcher {
	return &watcher{f: f, paths: map[string]*watched{}, shown: map[string]map[string]bool{},
		stop: make(chan struct{}), done: make(chan struct{})}
}

func (w *watcher) interval() time.Duration { return w.f.opts.ReloadInterval }

// settle is how long after its last write a failing file is given to be
// complete before the failure is reported.
func (w *watcher) settle() time.Duration { return max(3*w.interval(), 300*time.Millisecond) }

// load is the first load of p's module (bytes wasm, sha256 sum): the same
// checks as a reload.
func (w *watcher) load(ctx context.Context, rt *runtime.Runtime, p *Processor, wasm []byte, sum string) (*runtime.Module, error) {
	if err := p.checkPin(sum); err != nil {
		return nil, err
	}
	mod, err := rt.Load(ctx, wasm, p.mcfg)
	if err != nil {
		return nil, err
	}
	if err := runTests(ctx, rt, w.f.files, p.path, wasm, p.mcfg); err != nil {
		_ = mod.Close(ctx)
		return nil, err
	}
	return mod, nil
}

func (p *Processor) checkPin(sum string) error {
	if p.pin != "" && p.pin != sum {
		return &runtime.Error{Module: p.module, Kind: runtime.KindRefused,
			Err: fmt.Errorf("sha256 %s does not match the pinned Sha256 %s", sum, p.pin)}
	}
	return nil
}

// add starts watching p's module file; st and sum are what create loaded,
// err why it was refused.
func (w *watcher) add(p *Processor, st stamp, sum string, err error) {
	w.mu.Lock()
	ws := w.paths[p.path]
	if ws == nil {
		ws = &watched{name: p.module, procs: map[*Processor]struct{}{}, stamp: st, sum: sum, tsum: w.testsSum(p.path),
			hashed: time.Now()}
		w.paths[p.path] = ws
	}
	ws.procs[p] = struct{}{}
	if err != nil {
		ws.refused = refusalText(sum, err)
	}
	w.showLocked(p.module)
	start := !w.running && !w.closed && w.interval() > 0
	w.running = w.running || start
	w.mu.Unlock()
	if start {
		go w.loop()
	}
}

func (w *watcher) remove(p *Processor) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ws := w.paths[p.path]
	if ws == nil {
		return
	}
	delete(ws.procs, p)
	if len(ws.procs) == 0 {
		delete(w.paths, p.path)
	}
	p.sha = ""
	w.showLocked(p.module)
}

// showLocked sets wasmtail_wasm_module_info for module to the versions its
// processors run.
func (w *watcher) showLocked(module string) {
	met := w.f.opts.Metrics
	if met == nil {
		return
	}
	now := map[string]bool{}
	for _, ws := range w.paths {
		if ws.name != module {
			continue
		}
		for p := range ws.procs {
			if p.sha != "" {
				now[p.sha] = true
			}
		}
	}
	for sum := range w.shown[module] {
		if !now[sum] {
			met.WasmModuleInfo.DeleteLabelValues(module, sum)
		}
	}
	for sum := range now {
		met.WasmModuleInfo.WithLabelValues(module, sum).Set(1)
	}
	w.shown[module] = now
}

func (w *watcher) loop() {
	defer close(w.done)
	t := time.NewTicker(w.interval())
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		w.mu.Lock()
		paths := make([]string, 0, len(w.paths))
		for path := range w.paths {
			paths = append(paths, path)
		}
		w.mu.Unlock()
		sort.Strings(paths)
		for _, path := range paths {
			select {
			case <-w.stop:
				return
			default:
			}
			w.check(path)
		}
	}
}

// check looks at one module file and reloads it when its content changed.
func (w *watcher) check(path string) {
	st := stampOf(path)
	now := time.Now()
	w.mu.Lock()
	ws := w.paths[path]
	if ws == nil || (st.equal(ws.stamp) && now.Sub(ws.hashed) < rehashEvery) ||
		(st.equal(ws.pending) && now.Before(ws.retryAt)) {
		w.mu.Unlock()
		return
	}
	name := ws.name
	w.mu.Unlock()
	log := w.f.log().With("module", name, "path", path)

	wasm, err := w.f.files.read(path)
	w.mu.Lock()
	if fe := (*FileError)(nil); errors.As(err, &fe) && fe.Refused {
		w.refuseFileLocked(ws, st, now, fe, log)
		return
	}
	if err != nil {
		ws.stamp = st
		first := !ws.missing
		ws.missing = true
		w.mu.Unlock()
		if first {
			log.Warn("wasm module file unreadable: the running version keeps serving", "err", err)
		}
		return
	}
	ws.missing = false
	ws.hashed = now
	sum, tsum := sha256Hex(wasm), w.testsSum(path)
	var need []*Processor
	for p := range ws.procs {
		if p.sha != sum || p.mod.Load() == nil {
			need = append(need, p)
		}
	}
	switch {
	case len(need) == 0: // every processor runs these bytes (touched, or changed back)
		ws.stamp, ws.sum, ws.tsum, ws.refused = st, sum, tsum, ""
		w.mu.Unlock()
		return
	case sum == ws.sum && tsum == ws.tsum: // the same content, refused already
		ws.stamp = st
		w.mu.Unlock()
		return
	}
	w.mu.Unlock()
	sort.Slice(need, func(i, j int) bool { return need[i].procID < need[j].procID })

	fresh := now.Sub(st.modified()) < w.settle()
	start := time.Now()
	outs, deferred := w.apply(path, need, wasm, sum, fresh)
	w.mu.Lock()
	if deferred {
		ws.pending, ws.retryAt = st, st.modified().Add(w.settle())
		w.mu.Unlock()
		return
	}
	// Publish the state (/readyz, the version gauge) before the log line and
	// the reload counter, so that whoever sees those sees the state too.
	refused := ""
	prev := make([]string, len(outs))
	for i, o := range outs {
		prev[i] = o.p.sha
		if o.err == nil {
			o.p.sha = sum
		} else {
			refused = refusalText(sum, o.err)
		}
	}
	ws.stamp, ws.sum, ws.tsum, ws.refused = st, sum, tsum, refused
	if len(outs) > 0 {
		w.showLocked(ws.name)
	}
	w.mu.Unlock()
	for i, o := range outs {
		report(o.p, sum, prev[i], o.err, start)
	}
}

// refuseFileLocked records that the file of ws breaks a rule of module
// files (a FIFO, a device, a link out of the roots, too large): nothing was
// read, the running version (if any) keeps serving and /readyz says why. It
// is logged and counted when the reason changes. It unlocks w.mu.
func (w *watcher) refuseFileLocked(ws *watched, st stamp, now time.Time, fe *FileError, log *slog.Logger) {
	ws.stamp, ws.hashed, ws.missing = st, now, false
	// Forget the last content: the next good file is checked afresh.
	ws.sum, ws.tsum = "", ""
	text := "file refused: " + fe.Error()
	if ws.refused == text {
		w.mu.Unlock()
		return
	}
	ws.refused = text
	running := false
	procs := make([]*Processor, 0, len(ws.procs))
	for p := range ws.procs {
		procs = append(procs, p)
		if p.mod.Load() != nil {
			running = true
		} else {
			p.refuse(&runtime.Error{Module: p.module, Kind: runtime.KindRefused, Err: fe})
		}
	}
	w.mu.Unlock()
	msg := "wasm module file refused: records pass on unparsed with " + ErrorKey
	if running {
		msg = "wasm module file refused: the running version keeps serving"
	}
	log.Error(msg, "err", fe)
	for _, p := range procs {
		if p.metrics != nil {
			p.metrics.WasmReloads.WithLabelValues(p.module, "refused").Inc()
		}
	}
}

// outcome is what a reload did to one processor.
type outcome struct {
	p   *Processor
	err error // nil: swapped in
}

// apply checks a new version of a module file and swaps it into the
// processors in need. It returns what happened to each, or deferred when it
// failed while fresh (nothing was changed).
func (w *watcher) apply(path string, need []*Processor, wasm []byte, sum string, fresh bool) (outs []outcome, deferred bool) {
	ctx := context.Background()
	rt, err := w.f.runtime()
	if err != nil {
		for _, p := range need {
			outs = append(outs, outcome{p, err})
		}
		return outs, false
	}
	var pinned, rest []*Processor
	for _, p := range need {
		if p.checkPin(sum) != nil {
			pinned = append(pinned, p)
		} else {
			rest = append(rest, p)
		}
	}
	// Check once for all (compile, checks, wasmtail_init with the first
	// processor's config, test vectors). The checked module stays open until
	// the swaps are done, so that they find the compiled code in memory.
	var checkErr error
	if len(rest) > 0 {
		var probe *runtime.Module
		probe, checkErr = rt.Load(ctx, wasm, rest[0].mcfg)
		if checkErr == nil {
			defer probe.Close(ctx)
			checkErr = runTests(ctx, rt, w.f.files, path, wasm, rest[0].mcfg)
		}
	}
	if fresh && (checkErr != nil || len(pinned) > 0) {
		return nil, true
	}
	for _, p := range pinned {
		outs = append(outs, outcome{p, p.checkPin(sum)})
	}
	for _, p := range rest {
		err := checkErr
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			continue
		}
		if err == nil {
			if mod := p.mod.Load(); mod != nil {
				err = mod.Swap(ctx, wasm)
			} else {
				var mod *runtime.Module
				if mod, err = rt.Load(ctx, wasm, p.mcfg); err == nil {
					p.mod.Store(mod)
				}
			}
		}
		p.mu.Unlock()
		outs = append(outs, outcome{p, err})
	}
	return outs, false
}

// report makes one processor's reload visible in the log and the reload
// counter; prev is the version it ran before.
func report(p *Processor, sum, prev string, err error, start time.Time) {
	result := "ok"
	if err != nil {
		result = "refused"
	}
	if p.metrics != nil {
		p.metrics.WasmReloads.WithLabelValues(p.module, result).Inc()
	}
	took := time.Since(start).Round(time.Millisecond)
	switch {
	case err == nil:
		p.log.Info("wasm module reloaded", "path", p.path, "sha256", sum, "previous", prev, "took", took)
	case prev != "":
		p.log.Error("wasm module reload refused: the running version keeps serving", "path", p.path,
			"sha256", sum, "running", prev, "err", err)
	default:
		p.log.Error("wasm module refused: records pass on unparsed with "+ErrorKey, "path", p.path,
			"sha256", sum, "err", err)
	}
}

func refusalText(sum string, err error) string {
	var re *runtime.Error
	msg := err.Error()
	if errors.As(err, &re) {
		msg = fmt.Sprintf("%s: %v", re.Kind, re.Err)
	}
	if len(sum) > 12 {
		sum = sum[:12]
	}
	return fmt.Sprintf("sha256 %s: %s", sum, firstLine(msg))
}

func firstLine(s string) string {
	for i := range len(s) {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}
