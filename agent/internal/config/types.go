package config

// This file holds the typed configuration of each plugin. Field names are the
// PascalCase keys of the LoongCollector pipeline format; decoding is strict
// (an unknown key is an error naming the file, the plugin and the key).

// Pipeline is one pipeline config file, decoded and validated.
type Pipeline struct {
	// Name is the file name without its extension.
	Name string
	// File is the path the pipeline was loaded from.
	File string
	// Enable is false when the file says `enable: false`; such a pipeline is
	// valid but not run. Default true.
	Enable bool
	// Global is the `global` section.
	Global Global
	// Input is the one entry of `inputs` when it is input_file; for
	// input_container_stdio it is derived from Stdio (the files under
	// LogsRoot).
	Input InputFile
	// Stdio is set when the input is input_container_stdio.
	Stdio *InputContainerStdio
	// Processors are the `processors` entries, in order.
	Processors []Plugin
	// Flushers are the `flushers` entries, in order; there is at least one.
	Flushers []Flusher
}

// Global holds the pipeline's `global` section. Of LoongCollector's global
// keys, StructureType, Priority, ProcessPriority, InputIntervalMs and
// InputMaxFirstCollectDelayMs are accepted and ignored (they change nothing
// here); TopicType, TopicFormat, UsingOldContentTag, PipelineMetaTagKey and
// AgentEnvMetaTagKey are not supported yet. Workers and QueueMB are wasmtail's
// own keys.
type Global struct {
	// EnableTimestampNanosecond keeps nanoseconds in record times. Default false.
	EnableTimestampNanosecond bool
	// Workers is the number of goroutines that run processors and flushers for
	// this pipeline, 1 to 64. Default 1.
	Workers int
	// QueueMB bounds the bytes read but not yet acknowledged, 1 to 4096.
	// Default DefaultQueueMB(Workers): 4, or Workers if more.
	QueueMB int
}

// Plugin is a processor entry: its Type and its remaining parameters, kept
// raw until a processor factory decodes them (later issues add processors).
type Plugin struct {
	// Type is the `Type:` value, e.g. "processor_parse_json_native".
	Type string
	// Index is the position in `processors`, from 0.
	Index int
	// Params are the other keys, as parsed: maps are map[string]any, lists
	// []any, numbers int or float64, whether the file was YAML or JSON.
	Params map[string]any
	// Pipeline and File name the pipeline the entry belongs to and its
	// file, for the processor's log lines; set when the pipeline's
	// processors are built ("" for a processor built on its own). Not
	// config: never encoded.
	Pipeline string `json:"-"`
	File     string `json:"-"`
}

// InputFile is the `input_file` plugin. LoongCollector's container keys
// (EnableContainerDiscovery, ContainerFilters, ExternalK8sLabelTag,
// ExternalEnvTag, CollectingContainersMeta) and a few reader keys
// (TailingAllMatchedFiles, PreservedDirDepth, ReadDelaySkipThresholdBytes,
// AllowingCollectingFilesInRootDir, EnableExactlyOnce) are not supported yet:
// they are errors unless their value is empty or false.
// IgnoringUnmatchWarning, RotatorQueueSize, CloseUnusedReaderIntervalSec and
// MaxCheckpointDirSearchDepth are accepted and ignored.
type InputFile struct {
	// FilePaths lists the absolute glob patterns (`*`, `?`, `[...]` and `**`)
	// of files to read. `**` may appear once, as the directory element right
	// before the file name (/var/log/**/*.log). Required; LoongCollector
	// takes exactly one, wasmtail one or more.
	FilePaths []string
	// MaxDirSearchDepth is how many directory levels `**` may match, 0 to
	// 1000. Default 0.
	MaxDirSearchDepth int
	// ExcludeFilePaths are absolute path globs never read.
	ExcludeFilePaths []string
	// ExcludeFiles are base-name globs (no "/") never read.
	ExcludeFiles []string
	// ExcludeDirs are absolute directory globs whose files are never read.
	ExcludeDirs []string
	// FileEncoding must be utf8 (the default; "UTF8" is read as utf8); gbk is
	// not supported yet.
	FileEncoding string
	// TailSizeKB: a file seen when the pipeline first starts is read from this
	// many KiB before its end, 0 to 10485760. Default 1024.
	TailSizeKB int
	// Multiline groups lines into records. Default: one line, one record.
	Multiline Multiline
	// FlushTimeoutSecs: a trailing partial line or record is emitted after this
	// many seconds without new data. Default 5.
	FlushTimeoutSecs int
	// AppendingLogPositionMeta adds the tag __inode__ and the content
	// __file_offset__ (or FileOffsetKey) to each record. Default false.
	AppendingLogPositionMeta bool
	// FileOffsetKey names the offset content. Default "__file_offset__"
	// (which "__default__" also means).
	FileOffsetKey string
	// AllowingIncludedByMultiConfigs is accepted for compatibility.
	AllowingIncludedByMultiConfigs bool
	// Tags renames (or, with an empty value, removes; with "__default__",
	// keeps) the default tags; keys are FilePathTagKey and FileInodeTagKey
	// (LoongCollector's container tag keys are accepted too).
	Tags map[string]string
	// MaxLineKB bounds a line, 1 to 65536; a longer one is split and counted.
	// Default 512. (wasmtail's own key.)
	MaxLineKB int
}

// Multiline is the `Multiline` section of input_file.
type Multiline struct {
	// Mode is "custom" (default) or "JSON" ("json" in any case is read as
	// "JSON").
	Mode string
	// StartPattern matches the first line of a record (Go regexp syntax).
	// Custom mode takes StartPattern alone, StartPattern with
	// ContinuePattern or with EndPattern, ContinuePattern with EndPattern,
	// or EndPattern alone; no pattern means one line, one record.
	StartPattern string
	// ContinuePattern matches the lines that continue a record.
	ContinuePattern string
	// EndPattern matches the last line of a record.
	EndPattern string
	// UnmatchedContentTreatment is "single_line" (default) or "discard".
	UnmatchedContentTreatment string
}

// Enabled reports whether any multiline grouping is configured.
func (m Multiline) Enabled() bool {
	return m.Mode == "JSON" || m.StartPattern != "" || m.ContinuePattern != "" || m.EndPattern != ""
}

// Flusher is one flusher entry. Exactly one of the typed fields is set, as
// Type says.
type Flusher struct {
	// Type is the `Type:` value: flusher_stdout, flusher_file,
	// flusher_blackhole or flusher_sls.
	Type string
	// Index is the position in `flushers`, from 0.
	Index     int
	Stdout    *FlusherStdout
	File      *FlusherFile
	Blackhole *FlusherBlackhole
	SLS       *FlusherSLS
}

// FlusherStdout is `flusher_stdout`. LoongCollector's MaxSize, MaxRolls and
// KeyValuePairs, and the routing key Match, are not supported yet.
type FlusherStdout struct {
	// OnlyStdout writes to standard output instead of FileName. Default false
	// (as LoongCollector), but with no FileName it writes to stdout.
	OnlyStdout bool
	// FileName is the file to append to when OnlyStdout is false.
	FileName string
	// Tags adds each tag as `__tag__:<name>`. Default false.
	Tags bool
}

// FlusherFile is `flusher_file`. LoongCollector has only FilePath (and
// rotates at 10 MiB, keeping 10 files); MaxFileSize, MaxFiles, Tags and
// Fsync are wasmtail's own keys.
type FlusherFile struct {
	// FilePath is the output file; a relative path is relative to the
	// agent's working directory. Required.
	FilePath string
	// MaxFileSize rotates the file when it reaches this many bytes. Default
	// 10 MiB; 0 turns rotation off.
	MaxFileSize int64
	// MaxFiles is how many rotated files to keep, 0 or more. Default 5.
	MaxFiles int
	// Tags adds each tag as `__tag__:<name>`. Default false, as
	// flusher_stdout.
	Tags bool
	// Fsync syncs the file to disk (fsync) after each batch is written,
	// before the batch is acknowledged, so that what was acknowledged
	// survives an OS crash or a power loss, not only a crash of the agent.
	// Default false: it costs a disk flush per batch.
	Fsync bool
}

// FlusherBlackhole is `flusher_blackhole`: it accepts and discards.
type FlusherBlackhole struct{}

// FlusherSLS is `flusher_sls`: it sends records to an Alibaba Cloud Log
// Service (SLS) logstore with PutLogs. Project, Logstore, Region, Endpoint,
// CompressType, ShardHashKeys and TelemetryType are LoongCollector's keys;
// Aliuid and EndpointMode are accepted and ignored; Batch, ExtraHeaders,
// MaxSendRate, Workspace and Match are not supported yet. The other keys are
// wasmtail's own. Credentials never come from here: they come from the
// environment (ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET,
// ALIBABA_CLOUD_SECURITY_TOKEN) or the agent's sls_credentials_file.
type FlusherSLS struct {
	// Project is the SLS project. Required.
	Project string
	// Logstore is the logstore in Project. Required.
	Logstore string
	// Endpoint is where PutLogs goes: a region endpoint
	// ("cn-hangzhou.log.aliyuncs.com"), an http:// or https:// URL of one, or
	// an address "IP:port" or "localhost:port" that is dialled directly while
	// the Host header stays "<Project>.<Endpoint>". Without a scheme, http is
	// used. Required.
	Endpoint string
	// Region is the project's region ("cn-hangzhou"); required with
	// AuthVersion v4.
	Region string
	// CompressType is lz4, zstd or none. Default lz4.
	CompressType string
	// Topic is sent as the log group's __topic__. Default empty.
	Topic string
	// ShardHashKeys name tags whose values, joined by "_" and hashed (MD5),
	// route each log group to a shard. Default none (load balanced).
	ShardHashKeys []string
	// TelemetryType must be "logs" (the default) if set.
	TelemetryType string
	// AuthVersion is the request signature: v1 (HMAC-SHA1) or v4
	// (SLS4-HMAC-SHA256, needs Region). Default v1.
	AuthVersion string
	// MaxBatchBytes bounds the raw (uncompressed) size of one PutLogs
	// request; a batch over it is sent in several requests. A single log
	// larger than this goes alone. 1024 to 5242880. Default 1048576.
	MaxBatchBytes int
	// MaxBatchLogs bounds the logs in one PutLogs request, 1 to 4096.
	// Default 4096.
	MaxBatchLogs int
	// RequestTimeoutSecs bounds one HTTP request, 1 to 600. Default 30.
	RequestTimeoutSecs int
	// RetrySecs bounds how long one delivery attempt retries failed requests
	// (exponential backoff with jitter) before it reports the failure to the
	// pipeline, which retries the rest of the batch without limit. 1 to 3600.
	// Default 30.
	RetrySecs int
	// DeadLetterFile receives, as JSON lines, the logs that the endpoint
	// rejected for good (a 400 for that log alone). Default
	// <data>/deadletter/<pipeline>.jsonl; a relative path is relative to the
	// agent's data folder.
	DeadLetterFile string
}

// InputContainerStdio is `input_container_stdio`: the standard output and
// error of the containers on this node, as the kubelet writes them under
// /var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log (CRI format, or
// docker's json-file format). The pod identity comes from the path, so no
// container runtime or API server access is needed; for the same reason the
// filters on labels and environment variables are not supported.
type InputContainerStdio struct {
	// IgnoringStdout drops the stdout stream. Default false.
	IgnoringStdout bool
	// IgnoringStderr drops the stderr stream. Default false.
	IgnoringStderr bool
	// TailSizeKB, as for input_file. Default 1024.
	TailSizeKB int
	// FlushTimeoutSecs, as for input_file. Default 5.
	FlushTimeoutSecs int
	// AllowingIncludedByMultiConfigs is accepted for compatibility.
	AllowingIncludedByMultiConfigs bool
	// ContainerFilters selects containers by namespace, pod and container
	// name (regular expressions).
	ContainerFilters ContainerFilters
	// Tags renames (or, with an empty value, removes) the pod tags; keys are
	// K8sNamespaceTagKey, K8sPodNameTagKey, K8sPodUidTagKey and
	// ContainerNameTagKey.
	Tags map[string]string
	// MaxLineKB bounds a record. Default 512. (wasmtail's own key.)
	MaxLineKB int
	// LogsRoot is where the kubelet writes pod logs. Default /var/log/pods.
	// (wasmtail's own key, for tests and unusual kubelets.)
	LogsRoot string
}

// ContainerFilters is the `ContainerFilters` section of
// input_container_stdio. Empty means every container; several filters must
// all match.
type ContainerFilters struct {
	K8sNamespaceRegex string
	K8sPodRegex       string
	K8sContainerRegex string
}
