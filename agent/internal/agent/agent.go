// Package agent wires the long-running process: the checkpoint store, the
// pipelines loaded from the pipeline folder, and the HTTP endpoints for
// health and metrics.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wasmtail/wasmtail/agent/internal/batch"
	"github.com/wasmtail/wasmtail/agent/internal/checkpoint"
	"github.com/wasmtail/wasmtail/agent/internal/config"
	"github.com/wasmtail/wasmtail/agent/internal/metrics"
	"github.com/wasmtail/wasmtail/agent/internal/output"
	"github.com/wasmtail/wasmtail/agent/internal/pipeline"
)

// Agent is the running process.
type Agent struct {
	cfg     *config.Agent
	log     *slog.Logger
	metrics *metrics.Metrics
	store   *checkpoint.Store
	lock    *os.File // holds LockFile's flock while the agent runs
	stdout  io.Writer
	procs   *pipeline.Registry

	mu        sync.Mutex
	pipelines map[string]*pipeline.Pipeline
	failed    map[string]string // pipeline -> why it is not running

	// configs holds, per pipeline name, the sha256 of the file content last
	// looked at and the config that runs.
	sums    map[string]string
	configs map[string]*config.Pipeline
	// stamps remembers the stat and hash of each pipeline file, so that an
	// unchanged file is not read again (owned by reconcile's goroutine).
	stamps map[string]stampedSum
	// slots run each pipeline's changes on its own goroutine (under mu);
	// closing is set by Shutdown: a pipeline that finishes starting after
	// it is stopped at once.
	slots    map[string]*slot
	slotsWG  sync.WaitGroup
	closing  bool
	loopCtx  context.Context
	loopStop context.CancelFunc
	loopDone chan struct{}

	httpSrv  *http.Server
	httpLn   net.Listener
	httpDone chan struct{}
	ready    atomic.Bool

	// pprofSrv serves /debug/pprof/ on cfg.PProf, its own listener; nil
	// unless the key is set.
	pprofSrv  *http.Server
	pprofLn   net.Listener
	pprofDone chan struct{}

	// modules, when set, says which Wasm modules are refused (/readyz).
	modules func() map[string]string
}

// ReportModules makes /readyz list the Wasm modules whose current file is
// refused (refused returns module -> why). Call it before Start. The agent
// stays ready: the previous version of a refused module keeps serving.
func (a *Agent) ReportModules(refused func() map[string]string) { a.modules = refused }

// New builds an agent from its config. Stdout is where flusher_stdout
// writes; procs knows the processor types.
func New(cfg *config.Agent, log *slog.Logger, stdout io.Writer, procs *pipeline.Registry, met *metrics.Metrics) *Agent {
	if met == nil {
		met = metrics.New()
	}
	return &Agent{
		cfg:       cfg,
		procs:     procs,
		log:       log,
		metrics:   met,
		stdout:    stdout,
		pipelines: map[string]*pipeline.Pipeline{},
		failed:    map[string]string{},
		sums:      map[string]string{},
		stamps:    map[string]stampedSum{},
		slots:     map[string]*slot{},
		configs:   map[string]*config.Pipeline{},
	}
}

// Tags returns the agent-wide tags every batch carries.
func Tags(cfg *config.Agent) []batch.Tag {
	tags := []batch.Tag{{Key: "__hostname__", Value: cfg.Hostname}}
	if cfg.UserDefinedID != "" {
		tags = append(tags, batch.Tag{Key: "__user_defined_id__", Value: cfg.UserDefinedID})
	}
	for _, t := range cfg.EnvTags {
		tags = append(tags, batch.Tag{Key: t.Key, Value: t.Value})
	}
	return tags
}

// Start takes the data folder (a *LockedError if another process has it),
// opens the checkpoints, starts the HTTP endpoints and every valid
// pipeline. A pipeline that fails to load or start is logged and counted;
// it never stops the others.
func (a *Agent) Start(ctx context.Context) error {
	if err := a.lockData(); err != nil {
		return err
	}
	for _, r := range checkpoint.Reasons {
		a.metrics.CheckpointRecoveries.WithLabelValues(r)
	}
	store, err := checkpoint.Open(filepath.Join(a.cfg.Data, "checkpoints.json"), a.cfg.CheckpointInterval, a.log,
		checkpoint.OnRecovery(func(reason string) { a.metrics.CheckpointRecoveries.WithLabelValues(reason).Inc() }))
	if err != nil {
		a.unlock()
		return err
	}
	a.store = store
	store.Start()
	// Listen first, so that a taken address fails the start at once; serve
	// only once every pipeline has bound its checkpointed files, so that
	// /healthz does not answer inside that window.
	if a.cfg.HTTP != "" {
		if err := a.listenHTTP(); err != nil {
			_ = store.Close()
			a.unlock()
			return err
		}
	}
	if a.cfg.PProf != "" {
		if err := a.servePProf(); err != nil {
			if a.httpLn != nil {
				_ = a.httpLn.Close()
				a.httpLn = nil
			}
			_ = store.Close()
			a.unlock()
			return err
		}
	}
	a.reconcile(ctx)
	if slow := a.waitSlots(pipelineStartTimeout); len(slow) > 0 {
		a.log.Warn("pipelines still loading, starting without them", "pipelines", slow, "waited", pipelineStartTimeout)
	}
	if a.httpLn != nil {
		a.serveHTTP()
	}
	a.loopCtx, a.loopStop = context.WithCancel(context.WithoutCancel(ctx))
	a.loopDone = make(chan struct{})
	go a.watchConfigs(a.loopCtx)
	a.ready.Store(true)
	return nil
}

// newPipeline builds (but does not start) a pipeline from its config.
func (a *Agent) newPipeline(pc *config.Pipeline) (*pipeline.Pipeline, error) {
	tags := Tags(a.cfg)
	return pipeline.New(pc, pipeline.Settings{
		Store:        a.store,
		Metrics:      a.metrics,
		Log:          a.log,
		Tags:         tags,
		ScanInterval: a.cfg.ScanInterval,
		Stdout:       a.stdout,
		Processors:   a.procs,
		Output: output.Settings{
			DataDir:            a.cfg.Data,
			SLSCredentials:     a.cfg.SLSCredentials,
			SLSCredentialsFile: a.cfg.SLSCredentialsFile,
		},
	})
}

func pipelineNameFromErr(err error) string {
	var pe *config.Error
	if errors.As(err, &pe) {
		base := filepath.Base(pe.File)
		return base[:len(base)-len(filepath.Ext(base))]
	}
	return "unknown"
}

// Shutdown stops every pipeline (in parallel, each draining within ctx),
// saves the checkpoints and stops the HTTP server.
func (a *Agent) Shutdown(ctx context.Context) error {
	a.ready.Store(false)
	if a.loopStop != nil {
		a.loopStop()
		<-a.loopDone
	}
	// Let the pipeline changes under way finish (a stuck one no longer than
	// ctx allows); one that finishes later stops what it started.
	slotsDone := make(chan struct{})
	go func() { a.slotsWG.Wait(); close(slotsDone) }()
	select {
	case <-slotsDone:
	case <-ctx.Done():
	}
	a.mu.Lock()
	a.closing = true
	pls := make([]*pipeline.Pipeline, 0, len(a.pipelines))
	for _, p := range a.pipelines {
		pls = append(pls, p)
	}
	a.mu.Unlock()
	errs := make([]error, len(pls))
	var wg sync.WaitGroup
	for i, p := range pls {
		wg.Go(func() { errs[i] = p.Shutdown(ctx) })
	}
	wg.Wait()
	if a.store != nil {
		errs = append(errs, a.store.Close())
	}
	a.unlock() // after the last save
	if a.httpSrv != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		errs = append(errs, a.httpSrv.Shutdown(sctx))
		cancel()
		<-a.httpDone
	}
	if a.pprofSrv != nil {
		// A CPU profile or trace in progress is cut short, not waited for.
		errs = append(errs, a.pprofSrv.Close())
		<-a.pprofDone
	}
	return errors.Join(errs...)
}

// HTTPAddr is the address the HTTP server listens on ("" if none).
func (a *Agent) HTTPAddr() string {
	if a.httpLn == nil {
		return ""
	}
	return a.httpLn.Addr().String()
}

func (a *Agent) listenHTTP() error {
	ln, err := net.Listen("tcp", a.cfg.HTTP)
	if err != nil {
		return fmt.Errorf("http %s: %w", a.cfg.HTTP, err)
	}
	a.httpLn = ln
	return nil
}

func (a *Agent) serveHTTP() {
	ln := a.httpLn
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/readyz", a.readyz)
	mux.Handle("/metrics", promhttp.HandlerFor(a.metrics.Registry, promhttp.HandlerOpts{}))
	// Nothing else: this address is open to the kubelet and Prometheus,
	// often to the whole pod network. Profiles are on cfg.PProf.
	a.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	a.httpDone = make(chan struct{})
	go func() {
		defer close(a.httpDone)
		if err := a.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("http server", "err", err)
		}
	}()
}

// PProfAddr is the address /debug/pprof/ is served on ("" if none).
func (a *Agent) PProfAddr() string {
	if a.pprofLn == nil {
		return ""
	}
	return a.pprofLn.Addr().String()
}

// pprofListenAddr is the address to listen on for cfg.PProf: a port alone
// (":6060") means loopback, never every interface.
func pprofListenAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "" {
		return addr
	}
	return net.JoinHostPort("127.0.0.1", port)
}

// servePProf listens on cfg.PProf and serves Go's profiles there, and
// only there: they tell whoever asks what the agent does and holds, with
// no authentication, so they are for an operator on the node (kubectl
// port-forward), off unless the key is set.
func (a *Agent) servePProf() error {
	addr := pprofListenAddr(a.cfg.PProf)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("pprof %s: %w", addr, err)
	}
	a.pprofLn = ln
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index) // and heap, goroutine, allocs…
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	a.pprofSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	a.pprofDone = make(chan struct{})
	go func() {
		defer close(a.pprofDone)
		if err := a.pprofSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("pprof server", "err", err)
		}
	}()
	a.log.Warn("profiling endpoint open: /debug/pprof/ answers anyone who reaches this address", "pprof", ln.Addr().String())
	return nil
}

// readyz answers 200 once every pipeline that could start has started, with
// a JSON body naming the running pipelines, those that failed (and why) and
// the Wasm modules whose current file is refused (and why).
func (a *Agent) readyz(w http.ResponseWriter, _ *http.Request) {
	type status struct {
		Ready          bool              `json:"ready"`
		Running        []string          `json:"running"`
		Failed         map[string]string `json:"failed,omitempty"`
		Loading        []string          `json:"loading,omitempty"`
		RefusedModules map[string]string `json:"refused_modules,omitempty"`
	}
	a.mu.Lock()
	st := status{Ready: a.ready.Load(), Running: []string{}, Failed: map[string]string{}}
	for name := range a.pipelines {
		st.Running = append(st.Running, name)
	}
	for name, why := range a.failed {
		st.Failed[name] = why
	}
	a.mu.Unlock()
	sort.Strings(st.Running)
	st.Loading = a.loading()
	if a.modules != nil {
		st.RefusedModules = a.modules()
	}
	w.Header().Set("Content-Type", "application/json")
	if !st.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(st)
}
