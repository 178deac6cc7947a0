package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/wasmtail/wasmtail/agent/internal/config"
	"github.com/wasmtail/wasmtail/agent/internal/pipeline"
)

// watchConfigs looks at the pipeline folder every scan interval and applies
// what changed. Polling a folder of a few small files costs nothing, and,
// unlike a watch on the files, it sees a Kubernetes ConfigMap update (which
// swaps a `..data` symlink) and files edited in place alike.
func (a *Agent) watchConfigs(ctx context.Context) {
	defer close(a.loopDone)
	t := time.NewTicker(a.cfg.ScanInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.reconcile(ctx)
		}
	}
}

// pipelineFile is one config file found in the pipeline folder.
type pipelineFile struct {
	name, path, sum string
	dup             bool
	err             error // the file cannot be used (too large, unreadable)
}

// MaxPipelineFile is the largest pipeline config file the agent reads: a
// Kubernetes ConfigMap holds at most 1 MiB.
const MaxPipelineFile = 1 << 20

// fileStamp is what stat says of a file: when it is the same, the content
// is taken to be the same, and the file is neither read nor hashed again.
type fileStamp struct {
	dev, ino uint64
	size     int64
	mtime    int64
	ctime    int64
}

func stampOf(fi os.FileInfo) fileStamp {
	s := fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.dev, s.ino = uint64(st.Dev), uint64(st.Ino)
		s.ctime = st.Ctim.Nano()
	}
	return s
}

type stampedSum struct {
	stamp fileStamp
	sum   string
}

// listPipelineFiles reads the pipeline folder: every *.yaml, *.yml and
// *.json file (following symlinks), by pipeline name, with a hash of its
// content. A file whose stat is as in seen keeps its hash unread; seen is
// updated.
func listPipelineFiles(dir string, seen map[string]stampedSum) (map[string]*pipelineFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]*pipelineFile{}
	keep := map[string]bool{}
	for _, de := range ents {
		n := de.Name()
		ext := filepath.Ext(n)
		if strings.HasPrefix(n, ".") || (ext != ".yaml" && ext != ".yml" && ext != ".json") {
			continue
		}
		path := filepath.Join(dir, n)
		fi, err := os.Stat(path)
		if err != nil || !fi.Mode().IsRegular() {
			continue // a directory, a broken link, a FIFO, or vanished: not a config
		}
		name := strings.TrimSuffix(n, ext)
		if prev, ok := out[name]; ok {
			prev.dup = true
			continue
		}
		pf := &pipelineFile{name: name, path: path}
		out[name] = pf
		keep[path] = true
		st := stampOf(fi)
		if s, ok := seen[path]; ok && s.stamp == st {
			pf.sum = s.sum
			continue
		}
		pf.sum, pf.err = hashPipelineFile(path)
		if pf.err != nil {
			pf.sum = "error: " + pf.err.Error() + fmt.Sprint(st) // retried when the file changes
		}
		seen[path] = stampedSum{st, pf.sum}
	}
	for p := range seen {
		if !keep[p] {
			delete(seen, p)
		}
	}
	return out, nil
}

// hashPipelineFile is hashFile; tests count its calls.
var hashPipelineFile = hashFile

// hashFile reads a regular file of at most MaxPipelineFile bytes and returns
// its sha256.
func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s: not a regular file", path)
	}
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, MaxPipelineFile+1))
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if n > MaxPipelineFile {
		return "", fmt.Errorf("%s: larger than %d KiB, the most a pipeline file may hold (a Kubernetes ConfigMap's limit): split it into one file per pipeline", path, MaxPipelineFile>>10)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// reconcile makes the running pipelines match the pipeline folder: a new
// file starts its pipeline, a changed one replaces it, a removed one stops
// it. Each file is handled on its own: a file that fails to load leaves the
// version that runs in place (or nothing, if nothing ran) and never touches
// the other pipelines.
//
// A changed pipeline is replaced by stopping the old one first (it delivers
// what it read and its checkpoints move to the end of it) and then starting
// the new one, which resumes from those checkpoints: nothing is read twice
// and nothing is skipped.
func (a *Agent) reconcile(ctx context.Context) {
	files, err := listPipelineFiles(a.cfg.Pipelines, a.stamps)
	if err != nil {
		a.log.Error("read pipeline folder", "dir", a.cfg.Pipelines, "err", err)
		return
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		f := files[name]
		if a.sums[name] == f.sum {
			continue // unchanged since last time (running, disabled or invalid)
		}
		a.sums[name] = f.sum
		switch {
		case f.dup:
			a.refuse(name, fmt.Errorf("%s: another file in %s defines pipeline %q too (same name, other extension)", f.path, a.cfg.Pipelines, name))
		case f.err != nil:
			a.refuse(name, f.err)
		default:
			a.post(ctx, name, func(ctx context.Context) {
				pc, err := config.LoadPipeline(f.path, a.procs.Known)
				if err != nil {
					a.refuse(name, err)
					return
				}
				a.apply(ctx, name, pc, f.sum)
			})
		}
	}
	// Files that went away.
	for name := range a.sums {
		if _, ok := files[name]; ok {
			continue
		}
		delete(a.sums, name)
		a.post(ctx, name, func(ctx context.Context) {
			a.mu.Lock()
			delete(a.failed, name)
			a.mu.Unlock()
			if a.stop(ctx, name) {
				a.log.Info("pipeline removed", "pipeline", name)
				a.metrics.PipelineReloads.WithLabelValues(name, "removed").Inc()
			}
			a.metrics.PipelineInfo.DeletePartialMatch(map[string]string{"pipeline": name})
		})
	}
}

// pipelineStartTimeout is how long the agent's start waits for the
// pipelines to load and start; one that takes longer goes on loading on its
// own while the others run (/readyz lists it as loading).
var pipelineStartTimeout = 10 * time.Second

// slot runs the changes of one pipeline one after the other, on their own
// goroutine: what one pipeline does at load (a module read, a compile, an
// init) never holds up another, nor the agent. Only the latest change that
// has not begun is kept.
type slot struct {
	next    func(context.Context) // the change to run next, nil if none
	running bool
	since   time.Time     // when the running change began
	idle    chan struct{} // closed when running goes false
}

// post queues change for the pipeline name and returns at once.
func (a *Agent) post(ctx context.Context, name string, change func(context.Context)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.slots[name]
	if s == nil {
		s = &slot{}
		a.slots[name] = s
	}
	s.next = change
	if s.running {
		return
	}
	s.running, s.idle = true, make(chan struct{})
	a.slotsWG.Add(1)
	go a.runSlot(context.WithoutCancel(ctx), name, s)
}

func (a *Agent) runSlot(ctx context.Context, name string, s *slot) {
	defer a.slotsWG.Done()
	for {
		a.mu.Lock()
		change := s.next
		s.next = nil
		if change == nil {
			s.running = false
			close(s.idle)
			a.mu.Unlock()
			return
		}
		s.since = time.Now()
		a.mu.Unlock()
		change(ctx)
	}
}

// waitSlots waits until no pipeline change is running, or d passed, and
// returns the pipelines whose change still runs.
func (a *Agent) waitSlots(d time.Duration) []string {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		a.mu.Lock()
		var idle chan struct{}
		for _, s := range a.slots {
			if s.running {
				idle = s.idle
				break
			}
		}
		a.mu.Unlock()
		if idle == nil {
			return nil
		}
		select {
		case <-idle:
		case <-deadline.C:
			return a.loading()
		}
	}
}

// loading returns the pipelines whose change is still running.
func (a *Agent) loading() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for name, s := range a.slots {
		if s.running {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// refuse records a config that could not be loaded; what runs keeps running.
func (a *Agent) refuse(name string, err error) {
	a.mu.Lock()
	_, running := a.pipelines[name]
	a.failed[name] = err.Error()
	a.mu.Unlock()
	if running {
		a.log.Error("pipeline config not loaded, the running version stays", "pipeline", name, "err", err)
	} else {
		a.log.Error("pipeline config not loaded", "pipeline", name, "err", err)
	}
	a.metrics.PipelineErrors.WithLabelValues(name).Inc()
	a.metrics.PipelineReloads.WithLabelValues(name, "error").Inc()
}

// apply starts the pipeline from pc, replacing the running one of that name.
func (a *Agent) apply(ctx context.Context, name string, pc *config.Pipeline, sum string) {
	a.mu.Lock()
	_, running := a.pipelines[name]
	a.mu.Unlock()
	if !pc.Enable {
		a.stop(ctx, name)
		a.mu.Lock()
		delete(a.failed, name)
		a.mu.Unlock()
		a.log.Info("pipeline disabled (enable: false)", "pipeline", name)
		return
	}
	// Build the new one before stopping the old: a config that cannot be
	// built (a bad regex, say) leaves the old one running.
	p, err := a.newPipeline(pc)
	if err != nil {
		a.refuse(name, err)
		return
	}
	a.mu.Lock()
	old := a.configs[name]
	a.mu.Unlock()
	if running {
		a.stop(ctx, name)
	}
	if err := p.Start(ctx); err != nil {
		_ = p.Shutdown(ctx)
		a.refuse(name, err)
		if old != nil {
			// Put the previous version back.
			if q, err := a.newPipeline(old); err == nil && q.Start(ctx) == nil {
				a.register(name, q, old)
				a.log.Warn("previous version of the pipeline restarted", "pipeline", name)
			}
		}
		return
	}
	a.register(name, p, pc)
	a.mu.Lock()
	delete(a.failed, name)
	a.mu.Unlock()
	a.metrics.PipelineInfo.DeletePartialMatch(map[string]string{"pipeline": name})
	a.metrics.PipelineInfo.WithLabelValues(name, sum).Set(1)
	if running {
		a.log.Info("pipeline reloaded", "pipeline", name, "file", pc.File, "sha256", sum)
		a.metrics.PipelineReloads.WithLabelValues(name, "ok").Inc()
	} else {
		a.log.Info("pipeline started", "pipeline", name, "file", pc.File, "sha256", sum)
	}
}

func (a *Agent) register(name string, p *pipeline.Pipeline, pc *config.Pipeline) {
	a.mu.Lock()
	if a.closing {
		a.mu.Unlock()
		sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownGrace)
		defer cancel()
		_ = p.Shutdown(sctx)
		return
	}
	a.pipelines[name] = p
	a.configs[name] = pc
	a.mu.Unlock()
	a.metrics.Pipelines.Inc()
}

// stop drains and stops a running pipeline; it reports whether one ran.
func (a *Agent) stop(ctx context.Context, name string) bool {
	a.mu.Lock()
	p, ok := a.pipelines[name]
	delete(a.pipelines, name)
	delete(a.configs, name)
	a.mu.Unlock()
	if !ok {
		return false
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.ShutdownGrace)
	defer cancel()
	if err := p.Shutdown(sctx); err != nil {
		a.log.Warn("pipeline stop", "pipeline", name, "err", err)
	}
	a.metrics.Pipelines.Dec()
	return true
}
