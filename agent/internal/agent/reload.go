package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
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
}

// listPipelineFiles reads the pipeline folder: every *.yaml, *.yml and
// *.json file (following symlinks), by pipeline name, with a hash of its
// content.
func listPipelineFiles(dir string) (map[string]*pipelineFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]*pipelineFile{}
	for _, de := range ents {
		n := de.Name()
		ext := filepath.Ext(n)
		if strings.HasPrefix(n, ".") || (ext != ".yaml" && ext != ".yml" && ext != ".json") {
			continue
		}
		path := filepath.Join(dir, n)
		data, err := os.ReadFile(path)
		if err != nil {
			continue // a directory, a broken link, or vanished: not a config
		}
		h := sha256.Sum256(data)
		name := strings.TrimSuffix(n, ext)
		if prev, ok := out[name]; ok {
			prev.dup = true
			continue
		}
		out[name] = &pipelineFile{name: name, path: path, sum: hex.EncodeToString(h[:])}
	}
	return out, nil
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
	files, err := listPipelineFiles(a.cfg.Pipelines)
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
		if f.dup {
			a.refuse(name, fmt.Errorf("%s: another file in %s defines pipeline %q too (same name, other extension)", f.path, a.cfg.Pipelines, name))
			continue
		}
		pc, err := config.LoadPipeline(f.path, a.procs.Known)
		if err != nil {
			a.refuse(name, err)
			continue
		}
		a.apply(ctx, name, pc, f.sum)
	}
	// Files that went away.
	for name := range a.sums {
		if _, ok := files[name]; ok {
			continue
		}
		delete(a.sums, name)
		a.mu.Lock()
		delete(a.failed, name)
		a.mu.Unlock()
		if a.stop(ctx, name) {
			a.log.Info("pipeline removed", "pipeline", name)
			a.metrics.PipelineReloads.WithLabelValues(name, "removed").Inc()
		}
		a.metrics.PipelineInfo.DeletePartialMatch(map[string]string{"pipeline": name})
	}
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
	old := a.configs[name]
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
