// Package metrics defines the agent's Prometheus metrics. Every name starts
// with wasmtail_ and every series carries the pipeline it belongs to, but
// for the agent-wide ones (wasmtail_pipelines, the Wasm modules',
// wasmtail_checkpoint_recoveries_total).
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds the agent's collectors, registered on Registry.
type Metrics struct {
	Registry *prometheus.Registry

	InputBytes      *prometheus.CounterVec // pipeline
	InputEvents     *prometheus.CounterVec // pipeline
	InputLinesSplit *prometheus.CounterVec // pipeline
	InputErrors     *prometheus.CounterVec // pipeline, reason
	InputFiles      *prometheus.GaugeVec   // pipeline
	InputBlocked    *prometheus.CounterVec // pipeline: seconds readers waited for room
	QueueBytes      *prometheus.GaugeVec   // pipeline
	FlusherEvents   *prometheus.CounterVec // pipeline, flusher, result
	FlusherErrors   *prometheus.CounterVec // pipeline, flusher
	FlusherRequests *prometheus.CounterVec // pipeline, flusher, status: requests a flusher sent, by outcome
	DeadLetters     *prometheus.CounterVec // pipeline, flusher: records written to the dead-letter file
	ProcessorErrors *prometheus.CounterVec // pipeline, processor
	WasmReloads     *prometheus.CounterVec // module, result
	WasmTraps       *prometheus.CounterVec // pipeline, module
	WasmModuleInfo  *prometheus.GaugeVec   // module, sha256 of each version running
	PipelineErrors  *prometheus.CounterVec // pipeline: config files that failed to load
	Pipelines       prometheus.Gauge
	PipelineReloads *prometheus.CounterVec // pipeline, result (ok, error, removed)
	PipelineInfo    *prometheus.GaugeVec   // pipeline, sha256 of the running config

	// CheckpointRecoveries counts the damage found in the saved checkpoint
	// state at start, by reason (see checkpoint.Reasons). Agent-wide: no
	// pipeline label.
	CheckpointRecoveries *prometheus.CounterVec // reason
}

// New creates and registers the agent's metrics, plus the Go runtime and
// process collectors.
func New() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		InputBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmtail_input_bytes_total", Help: "Bytes read from input files.",
		}, []string{"pipeline"}),
		InputEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmtail_input_events_total", Help: "Records produced by inputs.",
		}, []string{"pipeline"}),
		InputLinesSplit: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmtail_input_lines_split_total", Help: "Lines longer than the bound, split into several records.",
		}, []string{"pipeline"}),
		InputErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmtail_input_errors_total", Help: "Input problems by reason (unreadable, not_regular, read, truncated).",
		}, []string{"pipeline", "reason"}),
		InputFiles: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wasmtail_input_files", Help: "Files open for reading.",
		}, []string{"pipeline"}),
		InputBlocked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmtail_input_blocked_seconds_total", Help: "Time readers waited because the pipeline queue was full.",
		}, []string{"pipeline"}),
		QueueBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wasmtail_queue_bytes", Help: "Bytes read and not yet acknowledged by every flusher.",
		}, []string{"pipeline"}),
		FlusherEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmtail_flusher_events_total", Help: "Records handed to flushers, by result (ok, error).",
		}, []string{"pipeline", "flusher", "result"}),
		FlusherErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmtail_flusher_errors_total", Help: "Failed flusher calls (each is retried).",
		}, []string{"pipeline", "flusher"}),
		FlusherRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmtail_flusher_requests_total",
			Help: "Requests a flusher sent (flusher_sls: PutLogs), by status: the HTTP code, or network.",
		}, []string{"pipeline", "flusher", "status"}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmtail_flusher_dead_letters_total", Help: "Records the destination rejected for good, written to the dead-letter file.",
		}, []string{"pipeline", "flusher"}),
		ProcessorErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmtail_processor_errors_total", Help: "Processor failures.",
		}, []string{"pipeline", "processor"}),
		WasmReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmtail_wasm_reloads_total", Help: "Wasm module reloads by result.",
		}, []string{"module", "result"}),
		WasmTraps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmtail_wasm_traps_total", Help: "Wasm traps, timeouts and out-of-memory.",
		}, []string{"pipeline", "module"}),
		WasmModuleInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wasmtail_wasm_module_info", Help: "The running versions of each Wasm module (sha256 of the .wasm file); always 1.",
		}, []string{"module", "sha256"}),
		PipelineErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmtail_pipeline_config_errors_total", Help: "Pipeline config files that failed to load.",
		}, []string{"pipeline"}),
		Pipelines: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wasmtail_pipelines", Help: "Pipelines running.",
		}),
		PipelineReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmtail_pipeline_reloads_total", Help: "Pipeline config changes applied, by result (ok, error, removed).",
		}, []string{"pipeline", "result"}),
		PipelineInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wasmtail_pipeline_config_info", Help: "The running version of each pipeline config (sha256 of the file); always 1.",
		}, []string{"pipeline", "sha256"}),
		CheckpointRecoveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmtail_checkpoint_recoveries_total",
			Help: "Damage found in the saved checkpoints at start and repaired, by reason (empty, corrupt, unreadable, not_regular, bad_entry, prev_used, temp_removed). Any but temp_removed means files are read again: duplicates, no loss.",
		}, []string{"reason"}),
	}
	r.MustRegister(m.InputBytes, m.InputEvents, m.InputLinesSplit, m.InputErrors, m.InputFiles,
		m.InputBlocked, m.QueueBytes, m.FlusherEvents, m.FlusherErrors, m.FlusherRequests, m.DeadLetters, m.ProcessorErrors,
		m.WasmReloads, m.WasmTraps, m.WasmModuleInfo, m.PipelineErrors, m.Pipelines, m.PipelineReloads, m.PipelineInfo,
		m.CheckpointRecoveries,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
