// Package pipeline runs one pipeline config: an input, its processors and
// its flushers, joined by a queue bounded in bytes.
//
// Readers push batches; when the queue is full they wait, so memory stays
// bounded and the file on disk is the buffer. Workers run the processors,
// hand the batch to every flusher (retrying failures with exponential backoff
// and jitter until they succeed or the pipeline is stopped for good) and then
// acknowledge it, which lets the file's checkpoint move past it.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"

	"github.com/wasmtail/wasmtail/agent/internal/batch"
	"github.com/wasmtail/wasmtail/agent/internal/checkpoint"
	"github.com/wasmtail/wasmtail/agent/internal/config"
	"github.com/wasmtail/wasmtail/agent/internal/metrics"
	"github.com/wasmtail/wasmtail/agent/internal/output"
	"github.com/wasmtail/wasmtail/agent/internal/tail"
)

// Processor transforms a batch in place: it may rewrite, add or drop
// records. An error is counted and the batch goes on as it is (a processor
// never loses data).
type Processor interface {
	Process(ctx context.Context, b *batch.Batch) error
}

// ProcessorFactory builds a processor from its config entry. Later issues
// register the built-in and Wasm processors here.
type ProcessorFactory func(p config.Plugin) (Processor, error)

// Settings are what a pipeline gets from the agent.
type Settings struct {
	Store   *checkpoint.Store
	Metrics *metrics.Metrics
	Log     *slog.Logger
	// Tags are agent-wide tags (__hostname__, __user_defined_id__, env tags).
	Tags         []batch.Tag
	ScanInterval time.Duration
	// Processors builds processors; nil knows none.
	Processors *Registry
	// Stdout is where flusher_stdout writes (default os.Stdout).
	Stdout io.Writer
	// Output holds what flushers get from the agent (data folder,
	// credentials); New fills in the pipeline's name, Stdout, the logger,
	// the metrics and the global section.
	Output output.Settings
}

// Pipeline is one running pipeline.
type Pipeline struct {
	cfg        *config.Pipeline
	set        Settings
	log        *slog.Logger
	pool       *batch.Pool
	processors []Processor
	procNames  []string
	flushers   []flusher
	tail       *tail.Manager

	queue   chan *batch.Batch
	sem     *semaphore.Weighted
	limit   int64
	stop    chan struct{} // closed when readers have stopped: drain and exit
	abort   context.Context
	cancel  context.CancelFunc
	workers sync.WaitGroup

	queueBytes prometheus.Gauge
	blocked    prometheus.Counter
	procErrs   []prometheus.Counter

	startOnce, stopOnce sync.Once
	started             bool
	stopErr             error
}

type flusher struct {
	name   string
	f      output.Flusher
	ok     prometheus.Counter
	failed prometheus.Counter
	errs   prometheus.Counter
}

// New builds a pipeline from its config. Nothing runs until Start.
func New(cfg *config.Pipeline, set Settings) (*Pipeline, error) {
	if set.Log == nil {
		set.Log = slog.Default()
	}
	if set.Metrics == nil {
		set.Metrics = metrics.New()
	}
	log := set.Log.With("pipeline", cfg.Name)
	p := &Pipeline{
		cfg:   cfg,
		set:   set,
		log:   log,
		pool:  batch.NewPool(batch.ChunkSize),
		queue: make(chan *batch.Batch, 1024),
		stop:  make(chan struct{}),
	}
	p.limit = int64(cfg.Global.QueueMB) << 20
	if p.limit <= 0 {
		p.limit = int64(config.DefaultQueueMB(cfg.Global.Workers)) << 20
	}
	p.sem = semaphore.NewWeighted(p.limit)
	m := set.Metrics
	p.queueBytes = m.QueueBytes.WithLabelValues(cfg.Name)
	p.blocked = m.InputBlocked.WithLabelValues(cfg.Name)

	procs, err := BuildProcessors(cfg, set.Processors)
	if err != nil {
		return nil, err
	}
	p.processors = procs
	for _, pc := range cfg.Processors {
		name := fmt.Sprintf("%d_%s", pc.Index, pc.Type)
		p.procNames = append(p.procNames, name)
		p.procErrs = append(p.procErrs, m.ProcessorErrors.WithLabelValues(cfg.Name, name))
	}
	for _, fc := range cfg.Flushers {
		oset := set.Output
		oset.Pipeline, oset.Stdout, oset.Log, oset.Metrics = cfg.Name, set.Stdout, log, m
		oset.TimestampNanosecond = cfg.Global.EnableTimestampNanosecond
		f, err := output.New(fc, oset)
		if err != nil {
			ShutdownProcessors(context.Background(), procs)
			return nil, fmt.Errorf("%s: flushers[%d] (%s): %w", cfg.File, fc.Index, fc.Type, err)
		}
		name := fmt.Sprintf("%d_%s", fc.Index, fc.Type)
		p.flushers = append(p.flushers, flusher{
			name:   name,
			f:      f,
			ok:     m.FlusherEvents.WithLabelValues(cfg.Name, name, "ok"),
			failed: m.FlusherEvents.WithLabelValues(cfg.Name, name, "error"),
			errs:   m.FlusherErrors.WithLabelValues(cfg.Name, name),
		})
	}
	var ctr *tail.Container
	if cfg.Stdio != nil {
		if ctr, err = containerOptions(cfg.Stdio); err != nil {
			ShutdownProcessors(context.Background(), procs)
			return nil, fmt.Errorf("%s: inputs[0] (input_container_stdio): %w", cfg.File, err)
		}
	}
	tm, err := tail.New(tail.Options{
		Container:    ctr,
		Pipeline:     cfg.Name,
		Input:        cfg.Input,
		Store:        set.Store,
		Sink:         p,
		Pool:         p.pool,
		Tags:         set.Tags,
		ScanInterval: set.ScanInterval,
		Metrics:      set.Metrics,
		Log:          set.Log,
	})
	if err != nil {
		ShutdownProcessors(context.Background(), procs)
		return nil, fmt.Errorf("%s: inputs[0] (input_file): %w", cfg.File, err)
	}
	p.tail = tm
	return p, nil
}

// containerOptions turns input_container_stdio's config into the reader's.
func containerOptions(c *config.InputContainerStdio) (*tail.Container, error) {
	re := func(key, s string) (*regexp.Regexp, error) {
		if s == "" {
			return nil, nil
		}
		r, err := regexp.Compile(s)
		if err != nil {
			return nil, fmt.Errorf("ContainerFilters.%s: %w", key, err)
		}
		return r, nil
	}
	tag := func(key, def string) string {
		if v, ok := c.Tags[key]; ok && v != "__default__" {
			return v
		}
		return def
	}
	out := &tail.Container{
		IgnoreStdout: c.IgnoringStdout,
		IgnoreStderr: c.IgnoringStderr,
		NamespaceTag: tag("K8sNamespaceTagKey", "_namespace_"),
		PodTag:       tag("K8sPodNameTagKey", "_pod_name_"),
		PodUIDTag:    tag("K8sPodUidTagKey", "_pod_uid_"),
		ContainerTag: tag("ContainerNameTagKey", "_container_name_"),
	}
	var err error
	if out.Namespace, err = re("K8sNamespaceRegex", c.ContainerFilters.K8sNamespaceRegex); err != nil {
		return nil, err
	}
	if out.Pod, err = re("K8sPodRegex", c.ContainerFilters.K8sPodRegex); err != nil {
		return nil, err
	}
	if out.Container, err = re("K8sContainerRegex", c.ContainerFilters.K8sContainerRegex); err != nil {
		return nil, err
	}
	return out, nil
}

// Frame frames data as the pipeline's input would frame a file holding it
// (for `wasmtail process`).
func Frame(cfg *config.Pipeline, data []byte, path string) (*batch.Batch, error) {
	var ctr *tail.Container
	if cfg.Stdio != nil {
		var err error
		if ctr, err = containerOptions(cfg.Stdio); err != nil {
			return nil, err
		}
	}
	tm, err := tail.New(tail.Options{Pipeline: cfg.Name, Input: cfg.Input, Container: ctr})
	if err != nil {
		return nil, err
	}
	return tm.Frame(data, path), nil
}

// ShutdownProcessors releases what processors hold (Wasm instances) for
// those that have a Shutdown method.
func ShutdownProcessors(ctx context.Context, procs []Processor) {
	for _, p := range procs {
		if s, ok := p.(interface{ Shutdown(context.Context) error }); ok {
			_ = s.Shutdown(ctx)
		}
	}
}

// BuildProcessors creates the processors of a pipeline config, in order.
func BuildProcessors(cfg *config.Pipeline, reg *Registry) ([]Processor, error) {
	var out []Processor
	for _, pc := range cfg.Processors {
		pc.Pipeline, pc.File = cfg.Name, cfg.File
		proc, err := reg.Build(pc)
		if err != nil {
			ShutdownProcessors(context.Background(), out)
			return nil, fmt.Errorf("%s: processors[%d] (%s): %w", cfg.File, pc.Index, pc.Type, err)
		}
		out = append(out, proc)
	}
	return out, nil
}

// Name is the pipeline's name.
func (p *Pipeline) Name() string { return p.cfg.Name }

// Start starts the flushers, then the workers, then the readers: downstream
// first, so that nothing is read before it can be delivered.
func (p *Pipeline) Start(ctx context.Context) error {
	var err error
	p.startOnce.Do(func() {
		p.started = true
		p.abort, p.cancel = context.WithCancel(context.WithoutCancel(ctx))
		for i, f := range p.flushers {
			if err = f.f.Start(ctx); err != nil {
				for _, g := range p.flushers[:i] {
					_ = g.f.Shutdown(ctx)
				}
				err = fmt.Errorf("%s: flushers[%d] (%s): start: %w", p.cfg.File, i, f.name, err)
				return
			}
		}
		n := max(p.cfg.Global.Workers, 1)
		for range n {
			p.workers.Add(1)
			go p.work()
		}
		err = p.tail.Start(ctx)
	})
	return err
}

// Shutdown stops the readers first, lets the workers deliver what was
// already read (until ctx is done; then what is left is abandoned and read
// again after a restart), then shuts the flushers down. Stopping upstream
// first is what lets everything drain. It is idempotent.
func (p *Pipeline) Shutdown(ctx context.Context) error {
	p.stopOnce.Do(func() {
		if !p.started {
			ShutdownProcessors(ctx, p.processors)
			for _, f := range p.flushers {
				p.stopErr = errors.Join(p.stopErr, f.f.Shutdown(ctx))
			}
			return
		}
		errs := []error{p.tail.Shutdown(ctx)}
		close(p.stop)
		done := make(chan struct{})
		go func() { p.workers.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			p.log.Warn("shutdown grace period over, abandoning undelivered batches (they are read again after a restart)")
			p.cancel()
			<-done
		}
		p.cancel()
		// Processors after the workers (nothing calls them any more), then
		// the flushers.
		ShutdownProcessors(ctx, p.processors)
		for _, f := range p.flushers {
			errs = append(errs, f.f.Shutdown(ctx))
		}
		p.stopErr = errors.Join(errs...)
	})
	return p.stopErr
}

// Push implements tail.Sink: it waits for room in the queue.
func (p *Pipeline) Push(ctx context.Context, b *batch.Batch) error {
	n := p.weight(b)
	if !p.sem.TryAcquire(n) {
		start := time.Now()
		if err := p.sem.Acquire(ctx, n); err != nil {
			return err
		}
		p.blocked.Add(time.Since(start).Seconds())
	}
	p.queueBytes.Add(float64(n))
	select {
	case p.queue <- b:
		return nil
	case <-ctx.Done():
		p.release(n)
		return ctx.Err()
	}
}

func (p *Pipeline) weight(b *batch.Batch) int64 {
	return max(min(b.Bytes(), p.limit), 1)
}

func (p *Pipeline) release(n int64) {
	p.sem.Release(n)
	p.queueBytes.Sub(float64(n))
}

func (p *Pipeline) work() {
	defer p.workers.Done()
	for {
		select {
		case b := <-p.queue:
			p.handle(b)
		case <-p.stop:
			// Readers have stopped: deliver what is queued, then exit.
			for {
				select {
				case b := <-p.queue:
					p.handle(b)
				default:
					return
				}
			}
		}
	}
}

func (p *Pipeline) handle(b *batch.Batch) {
	n := p.weight(b)
	err := p.deliver(b)
	b.Ack(err)
	p.release(n)
	p.pool.Put(b)
}

// deliver runs the processors and hands the batch to every flusher,
// retrying each failed flusher until it accepts the batch or the pipeline
// is aborted.
func (p *Pipeline) deliver(b *batch.Batch) error {
	ctx := p.abort
	for i, proc := range p.processors {
		if err := proc.Process(ctx, b); err != nil {
			p.procErrs[i].Inc()
			p.log.Warn("processor failed, records passed on as they are", "processor", p.procNames[i], "err", err)
		}
	}
	if len(b.Records) == 0 {
		return nil // nothing left to send (all filtered): acknowledged as is
	}
	for i := range p.flushers {
		f := &p.flushers[i]
		backoff := 100 * time.Millisecond
		for attempt := 0; ; attempt++ {
			err := f.f.Export(ctx, b)
			if err == nil {
				f.ok.Add(float64(len(b.Records)))
				break
			}
			f.errs.Inc()
			if attempt == 0 || attempt%10 == 0 {
				p.log.Warn("flusher failed, retrying", "flusher", f.name, "attempt", attempt+1,
					"file", b.Source.Path, "offset", b.Begin, "err", err)
			}
			// Full jitter around the exponential step.
			d := backoff/2 + rand.N(backoff/2+1)
			select {
			case <-time.After(d):
			case <-ctx.Done():
				f.failed.Add(float64(len(b.Records)))
				return fmt.Errorf("flusher %s: %w (pipeline stopped)", f.name, err)
			}
			backoff = min(backoff*2, 30*time.Second)
		}
	}
	return nil
}

// Files lists the files being read.
func (p *Pipeline) Files() []string { return p.tail.Files() }

// interface guards
var _ tail.Sink = (*Pipeline)(nil)
