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
	Enable     bool
	Global     Global
	Input      InputFile
	Processors []Plugin
	Flushers   []Flusher
}

// Global holds the pipeline's `global` section.
type Global struct {
	// EnableTimestampNanosecond keeps nanoseconds in record times. Default false.
	EnableTimestampNanosecond bool
	// Workers is the number of goroutines that run processors and flushers for
	// this pipeline. Default 1.
	Workers int
	// QueueMB bounds the bytes read but not yet acknowledged. Default 16.
	QueueMB int
}

// Plugin is a processor entry: its Type and its remaining parameters, kept
// raw until a processor factory decodes them (later issues add processors).
type Plugin struct {
	Type   string
	Index  int
	Params map[string]any
}

// InputFile is the `input_file` plugin.
type InputFile struct {
	// FilePaths lists the glob patterns (`*` and `**`) of files to read.
	FilePaths []string
	// MaxDirSearchDepth is how many directory levels `**` may match. Default 0.
	MaxDirSearchDepth int
	// ExcludeFilePaths are absolute path globs never read.
	ExcludeFilePaths []string
	// ExcludeFiles are base-name globs never read.
	ExcludeFiles []string
	// ExcludeDirs are absolute directory globs whose files are never read.
	ExcludeDirs []string
	// FileEncoding must be utf8 (the default); gbk is not supported yet.
	FileEncoding string
	// TailSizeKB: a file seen when the pipeline first starts is read from this
	// many KiB before its end. Default 1024.
	TailSizeKB int
	// Multiline groups lines into records. Default: one line, one record.
	Multiline Multiline
	// FlushTimeoutSecs: a trailing partial line or record is emitted after this
	// many seconds without new data. Default 5.
	FlushTimeoutSecs int
	// AppendingLogPositionMeta adds the tag __inode__ and the content
	// __file_offset__ (or FileOffsetKey) to each record. Default false.
	AppendingLogPositionMeta bool
	// FileOffsetKey names the offset content. Default "__file_offset__".
	FileOffsetKey string
	// AllowingIncludedByMultiConfigs is accepted for compatibility.
	AllowingIncludedByMultiConfigs bool
	// Tags renames (or, with an empty value, removes) the default tags; keys
	// are FilePathTagKey and FileInodeTagKey.
	Tags map[string]string
	// MaxLineKB bounds a line; a longer one is split and counted. Default 512.
	// (wasmtail's own key.)
	MaxLineKB int
}

// Multiline is the `Multiline` section of input_file.
type Multiline struct {
	// Mode is "custom" (default) or "JSON".
	Mode            string
	StartPattern    string
	ContinuePattern string
	EndPattern      string
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
	Type      string
	Index     int
	Stdout    *FlusherStdout
	File      *FlusherFile
	Blackhole *FlusherBlackhole
}

// FlusherStdout is `flusher_stdout`.
type FlusherStdout struct {
	// OnlyStdout writes to standard output instead of FileName. Default false
	// (as LoongCollector), but with no FileName it writes to stdout.
	OnlyStdout bool
	// FileName is the file to append to when OnlyStdout is false.
	FileName string
	// Tags adds each tag as `__tag__:<name>`. Default false.
	Tags bool
}

// FlusherFile is `flusher_file`.
type FlusherFile struct {
	// FilePath is the output file. Required.
	FilePath string
	// MaxFileSize rotates the file when it reaches this many bytes. Default
	// 10 MiB; 0 turns rotation off.
	MaxFileSize int64
	// MaxFiles is how many rotated files to keep. Default 5.
	MaxFiles int
	// Tags adds each tag as `__tag__:<name>`. Default true.
	Tags bool
}

// FlusherBlackhole is `flusher_blackhole`: it accepts and discards.
type FlusherBlackhole struct{}
