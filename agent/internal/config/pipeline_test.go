package config_test

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/agent/internal/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// knownProcessor stands in for the processor registry.
func knownProcessor(typ string) bool {
	return slices.Contains([]string{
		"processor_parse_regex_native", "processor_parse_json_native", "processor_wasm",
	}, typ)
}

// TestLoadPipelineValid loads each file of testdata/pipeline/valid and
// compares the result with testdata/pipeline/golden/<file>.json.
func TestLoadPipelineValid(t *testing.T) {
	files, err := filepath.Glob("testdata/pipeline/valid/*")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			p, err := config.LoadPipeline(file, knownProcessor)
			require.NoError(t, err)
			got, err := json.MarshalIndent(p, "", "  ")
			require.NoError(t, err)
			got = append(got, '\n')
			golden := filepath.Join("testdata/pipeline/golden", filepath.Base(file)+".json")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(golden), 0o755))
				require.NoError(t, os.WriteFile(golden, got, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test -update to create the golden file")
			assert.Equal(t, string(want), string(got), "got (left) the golden file %s (right)", golden)
		})
	}
}

func TestLoadPipelineDefaults(t *testing.T) {
	p, err := config.LoadPipeline("testdata/pipeline/valid/doc_basic.yaml", knownProcessor)
	require.NoError(t, err)
	assert.Equal(t, "doc_basic", p.Name)
	assert.Equal(t, "testdata/pipeline/valid/doc_basic.yaml", p.File)
	assert.True(t, p.Enable)
	assert.Equal(t, config.Global{Workers: 1, QueueMB: 4}, p.Global)
	assert.Equal(t, config.InputFile{
		FilePaths:        []string{"/home/test-log/*.log"},
		FileEncoding:     "utf8",
		TailSizeKB:       1024,
		Multiline:        config.Multiline{Mode: "custom", UnmatchedContentTreatment: "single_line"},
		FlushTimeoutSecs: 5,
		FileOffsetKey:    "__file_offset__",
		MaxLineKB:        512,
	}, p.Input)
	assert.False(t, p.Input.Multiline.Enabled())
	assert.Empty(t, p.Processors)
	require.Len(t, p.Flushers, 1)
	assert.Equal(t, &config.FlusherStdout{OnlyStdout: true, Tags: true}, p.Flushers[0].Stdout)
}

// TestQueueMBFollowsWorkers: with no QueueMB, the queue holds 1 MiB per
// worker, at least 4 MiB; a QueueMB set stays as set.
func TestQueueMBFollowsWorkers(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		global string
		want   config.Global
	}{
		{"", config.Global{Workers: 1, QueueMB: 4}},
		{"global:\n  Workers: 2\n", config.Global{Workers: 2, QueueMB: 4}},
		{"global:\n  Workers: 8\n", config.Global{Workers: 8, QueueMB: 8}},
		{"global:\n  Workers: 8\n  QueueMB:\n", config.Global{Workers: 8, QueueMB: 8}},
		{"global:\n  Workers: 8\n  QueueMB: 2\n", config.Global{Workers: 8, QueueMB: 2}},
		{"global:\n  QueueMB: 16\n", config.Global{Workers: 1, QueueMB: 16}},
	} {
		path := filepath.Join(dir, "p.yaml")
		body := c.global + "inputs:\n  - Type: input_file\n    FilePaths: [/var/log/*.log]\nflushers:\n  - Type: flusher_blackhole\n"
		require.NoError(t, os.WriteFile(path, []byte(body), 0o644))
		p, err := config.LoadPipeline(path, knownProcessor)
		require.NoError(t, err, body)
		assert.Equal(t, c.want, p.Global, body)
	}
}

func TestLoadPipelineFlusherFileDefaults(t *testing.T) {
	p, err := config.LoadPipeline("testdata/pipeline/valid/full.json", knownProcessor)
	require.NoError(t, err)
	require.Len(t, p.Flushers, 1)
	assert.Equal(t, &config.FlusherFile{FilePath: "out/app.log", MaxFileSize: 10 << 20, MaxFiles: 5, Tags: false}, p.Flushers[0].File)
	// JSON spellings LoongCollector accepts come back canonical.
	assert.Equal(t, "utf8", p.Input.FileEncoding)
	assert.Equal(t, "JSON", p.Input.Multiline.Mode)
	assert.True(t, p.Input.Multiline.Enabled())
	assert.Equal(t, "__file_offset__", p.Input.FileOffsetKey)
	// JSON numbers come back as YAML's would.
	assert.Equal(t, map[string]any{"n": 3, "f": 1.5, "list": []any{1, "a"}}, p.Processors[0].Params["Config"])
}

func TestLoadPipelineInvalid(t *testing.T) {
	tests := []struct {
		name string
		file string
		// want are substrings of the error, after the file name.
		want []string
		// wantPlugin and wantKey, when set, are the first *Error's fields.
		wantPlugin, wantKey string
	}{
		// Typos, at each level.
		{name: "top-level key", file: "typo_top.yaml", want: []string{`: unknown key "input" (did you mean "inputs"?)`}, wantKey: "input"},
		{name: "global key", file: "typo_global.yaml", want: []string{`: global: unknown key "Worker" (did you mean "Workers"?)`}, wantPlugin: "global", wantKey: "Worker"},
		{name: "input key", file: "typo_input.yaml", want: []string{`: inputs[0] (input_file): unknown key "FilePath" (did you mean "FilePaths"?)`}, wantPlugin: "inputs[0] (input_file)", wantKey: "FilePath"},
		{name: "multiline key", file: "typo_multiline.yaml", want: []string{`: inputs[0] (input_file): unknown key "Multiline.StartPatern" (did you mean "Multiline.StartPattern"?)`}, wantKey: "Multiline.StartPatern"},
		{name: "flusher key, case", file: "typo_flusher.yaml", want: []string{`: flushers[0] (flusher_stdout): unknown key "OnlyStdOut" (did you mean "OnlyStdout"?)`}, wantPlugin: "flushers[0] (flusher_stdout)", wantKey: "OnlyStdOut"},
		{name: "second flusher key", file: "typo_flusher_file.yaml", want: []string{`: flushers[1] (flusher_file): unknown key "FilePaths" (did you mean "FilePath"?)`}},
		{name: "lower-case Type", file: "lowercase_type.yaml", want: []string{`: inputs[0]: unknown key "type" (did you mean "Type"?)`}},
		{name: "JSON key", file: "typo.json", want: []string{`: inputs[0] (input_file): unknown key "TailSizeKb" (did you mean "TailSizeKB"?)`}},
		// Unknown or unsupported types.
		{name: "unknown processor", file: "unknown_processor.yaml", want: []string{`: processors[1] (processor_parse_jsn_native): Type: unknown processor type "processor_parse_jsn_native" (did you mean "processor_parse_json_native"?)`}, wantPlugin: "processors[1] (processor_parse_jsn_native)", wantKey: "Type"},
		{name: "unknown flusher", file: "unknown_flusher.yaml", want: []string{`: flushers[0] (flusher_stdot): Type: unknown flusher type "flusher_stdot" (did you mean "flusher_stdout"?)`}},
		{name: "flusher_sls required keys", file: "flusher_sls.yaml", want: []string{
			`: flushers[0] (flusher_sls): Logstore: is required`,
			`: flushers[0] (flusher_sls): Endpoint: is required`,
		}},
		{name: "flusher_sls key", file: "typo_flusher_sls.yaml", want: []string{`: flushers[0] (flusher_sls): unknown key "LogStore" (did you mean "Logstore"?)`}, wantPlugin: "flushers[0] (flusher_sls)", wantKey: "LogStore"},
		{name: "flusher_sls values", file: "flusher_sls_values.yaml", want: []string{
			`: flushers[0] (flusher_sls): Batch: not supported yet by flusher_sls in wasmtail`,
		}},
		{name: "input_container_stdio label filter", file: "container_stdio_labels.yaml", want: []string{`: inputs[0] (input_container_stdio): ContainerFilters.IncludeK8sLabel: not supported yet by input_container_stdio ContainerFilters`}},
		{name: "two inputs", file: "two_inputs.yaml", want: []string{`: inputs: exactly one input is required, got 2`}},
		{name: "no flushers", file: "no_flushers.yaml", want: []string{`: flushers: at least one flusher is required`}},
		{name: "container discovery", file: "container_discovery.yaml", want: []string{`: inputs[0] (input_file): EnableContainerDiscovery: not supported yet by input_file in wasmtail`}},
		{name: "global TopicType", file: "global_topic.yaml", want: []string{`: global: TopicType: not supported yet by global in wasmtail`}},
		{name: "aggregators", file: "aggregators.yaml", want: []string{`: aggregators: not supported yet by wasmtail`}},
		// Wrong value types.
		{name: "integer", file: "type_int.yaml", want: []string{`: inputs[0] (input_file): MaxDirSearchDepth: want an integer, got "abc"`}, wantKey: "MaxDirSearchDepth"},
		{name: "boolean", file: "type_bool.yaml", want: []string{`: inputs[0] (input_file): AppendingLogPositionMeta: want a boolean (true or false), got "yes"`}},
		{name: "list", file: "type_list.yaml", want: []string{`: inputs[0] (input_file): FilePaths: want a list of strings, got "/var/log/*.log"`}},
		{name: "enable", file: "type_enable.yaml", want: []string{`: enable: want a boolean (true or false), got "true"`}},
		{name: "map value", file: "type_tags.yaml", want: []string{`: inputs[0] (input_file): Tags: FilePathTagKey: want a string, got 5`}},
		{name: "fraction", file: "type_global.yaml", want: []string{`: global: Workers: want an integer, got 1.5`}},
		{name: "flusher integer", file: "type_flusher.yaml", want: []string{`: flushers[0] (flusher_file): MaxFiles: want an integer, got "5"`}},
		{name: "section", file: "type_multiline.yaml", want: []string{`: inputs[0] (input_file): Multiline: want a map, got "^\\d"`}},
		{name: "processor not a map", file: "processor_not_map.yaml", want: []string{`: processors[0]: want a map with a "Type" key, got "processor_parse_json_native"`}},
		{name: "processor without Type", file: "processor_no_type.yaml", want: []string{`: processors[0]: missing key "Type"`}},
		// Validation, through a file.
		{name: "bad regex", file: "bad_regex.yaml", want: []string{`: inputs[0] (input_file): Multiline.StartPattern: bad regular expression: error parsing regexp`}, wantKey: "Multiline.StartPattern"},
		{name: "relative path", file: "relative_path.yaml", want: []string{`: inputs[0] (input_file): FilePaths[0]: must be an absolute path, got "logs/*.log"`}},
		{name: "gbk", file: "gbk.yaml", want: []string{`: inputs[0] (input_file): FileEncoding: gbk is not supported`}},
		{name: "flusher_file without FilePath", file: "flusher_file_no_path.yaml", want: []string{`: flushers[1] (flusher_file): FilePath: is required`}},
		{name: "workers", file: "workers.yaml", want: []string{`: global: Workers: must be between 1 and 64, got 65`}},
		{name: "several", file: "several.yaml", want: []string{
			`: global: QueueMB: must be between 1 and 4096, got 0`,
			`: inputs[0] (input_file): MaxDirSearchDepth: must be between 0 and 1000, got 2000`,
			`: flushers[0] (flusher_file): MaxFiles: must not be negative, got -1`,
		}},
		// Files that do not parse.
		{name: "YAML syntax", file: "syntax.yaml", want: []string{`: parse YAML: yaml: line 1: did not find expected '-' indicator`}},
		{name: "JSON syntax", file: "syntax.json", want: []string{`: parse JSON: invalid character '}'`}},
		{name: "JSON trailing data", file: "trailing.json", want: []string{`: parse JSON: unexpected data after the top-level object`}},
		{name: "empty", file: "empty.yaml", want: []string{`: the file is empty`}},
		{name: "not a map", file: "not_map.yaml", want: []string{`: want a map of enable, global, inputs, processors and flushers, got a list`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join("testdata/pipeline/invalid", tt.file)
			p, err := config.LoadPipeline(file, knownProcessor)
			require.Error(t, err)
			assert.Nil(t, p)
			for _, want := range tt.want {
				assert.Contains(t, err.Error(), file+want)
			}
			var e *config.Error
			require.True(t, errors.As(err, &e), "got %T, want a *config.Error", err)
			assert.Equal(t, file, e.File)
			if tt.wantPlugin != "" {
				assert.Equal(t, tt.wantPlugin, e.Plugin)
			}
			if tt.wantKey != "" {
				assert.Equal(t, tt.wantKey, e.Key)
			}
		})
	}
}

func TestLoadPipelineErrors(t *testing.T) {
	tests := []struct {
		name           string
		file           string
		knownProcessor func(string) bool
		want           string
	}{
		{name: "missing file", file: "testdata/pipeline/none.yaml", knownProcessor: knownProcessor, want: "testdata/pipeline/none.yaml: open testdata/pipeline/none.yaml: no such file or directory"},
		{name: "extension", file: "testdata/dir/notes.txt", knownProcessor: knownProcessor, want: `testdata/dir/notes.txt: unsupported file extension ".txt"`},
		{name: "nil knownProcessor", file: "testdata/pipeline/valid/doc_multiline_start.yaml", want: `processors[0] (processor_parse_regex_native): Type: unknown processor type "processor_parse_regex_native"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.LoadPipeline(tt.file, tt.knownProcessor)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// validPipeline is a pipeline that passes Validate; tests break one rule.
func validPipeline() *config.Pipeline {
	return &config.Pipeline{
		Name:   "app",
		File:   "pipelines/app.yaml",
		Enable: true,
		Global: config.Global{Workers: 1, QueueMB: 16},
		Input: config.InputFile{
			FilePaths:        []string{"/var/log/**/*.log"},
			FileEncoding:     "utf8",
			TailSizeKB:       1024,
			Multiline:        config.Multiline{Mode: "custom", UnmatchedContentTreatment: "single_line"},
			FlushTimeoutSecs: 5,
			FileOffsetKey:    "__file_offset__",
			MaxLineKB:        512,
		},
		Flushers: []config.Flusher{
			{Type: "flusher_stdout", Index: 0, Stdout: &config.FlusherStdout{}},
			{Type: "flusher_file", Index: 1, File: &config.FlusherFile{FilePath: "/tmp/out.log", MaxFileSize: 10 << 20, MaxFiles: 5}},
			{Type: "flusher_blackhole", Index: 2, Blackhole: &config.FlusherBlackhole{}},
		},
	}
}

func TestPipelineValidate(t *testing.T) {
	const input = "pipelines/app.yaml: inputs[0] (input_file): "
	tests := []struct {
		name   string
		modify func(p *config.Pipeline)
		want   string // "" when valid
	}{
		{name: "valid", modify: func(*config.Pipeline) {}},
		{name: "several FilePaths", modify: func(p *config.Pipeline) { p.Input.FilePaths = []string{"/a/*.log", "/b/c.log"} }},
		{name: "no FilePaths", modify: func(p *config.Pipeline) { p.Input.FilePaths = nil }, want: input + "FilePaths: at least one path is required"},
		{name: "relative FilePaths", modify: func(p *config.Pipeline) { p.Input.FilePaths = []string{"/a.log", "b/*.log"} }, want: input + `FilePaths[1]: must be an absolute path, got "b/*.log"`},
		{name: "FilePaths without a file name", modify: func(p *config.Pipeline) { p.Input.FilePaths = []string{"/var/log/"} }, want: input + `FilePaths[0]: "/var/log/" has no file name pattern`},
		{name: "** twice", modify: func(p *config.Pipeline) { p.Input.FilePaths = []string{"/a/**/b/**/*.log"} }, want: input + `FilePaths[0]: "/a/**/b/**/*.log" has "**" more than once`},
		{name: "** in the file name", modify: func(p *config.Pipeline) { p.Input.FilePaths = []string{"/a/**.log"} }, want: input + `FilePaths[0]: "/a/**.log": "**" must be a whole directory element right before the file name`},
		{name: "** not last directory", modify: func(p *config.Pipeline) { p.Input.FilePaths = []string{"/a/**/b/*.log"} }, want: input + `FilePaths[0]: "/a/**/b/*.log": "**" must be a whole directory element`},
		{name: "bad glob", modify: func(p *config.Pipeline) { p.Input.FilePaths = []string{"/a/[b/*.log"} }, want: input + `FilePaths[0]: bad pattern "/a/[b/*.log": syntax error in pattern`},
		{name: "MaxDirSearchDepth 1000", modify: func(p *config.Pipeline) { p.Input.MaxDirSearchDepth = 1000 }},
		{name: "MaxDirSearchDepth 1001", modify: func(p *config.Pipeline) { p.Input.MaxDirSearchDepth = 1001 }, want: input + "MaxDirSearchDepth: must be between 0 and 1000, got 1001"},
		{name: "MaxDirSearchDepth negative", modify: func(p *config.Pipeline) { p.Input.MaxDirSearchDepth = -1 }, want: input + "MaxDirSearchDepth: must be between 0 and 1000, got -1"},
		{name: "ExcludeFilePaths relative", modify: func(p *config.Pipeline) { p.Input.ExcludeFilePaths = []string{"x.log"} }, want: input + `ExcludeFilePaths[0]: must be an absolute path, got "x.log"`},
		{name: "ExcludeDirs relative", modify: func(p *config.Pipeline) { p.Input.ExcludeDirs = []string{"tmp"} }, want: input + `ExcludeDirs[0]: must be an absolute path, got "tmp"`},
		{name: "ExcludeFiles with a slash", modify: func(p *config.Pipeline) { p.Input.ExcludeFiles = []string{"/a/b.log"} }, want: input + `ExcludeFiles[0]: a file name pattern cannot contain "/"`},
		{name: "ExcludeFiles bad pattern", modify: func(p *config.Pipeline) { p.Input.ExcludeFiles = []string{"[a"} }, want: input + `ExcludeFiles[0]: bad pattern "[a"`},
		{name: "gbk", modify: func(p *config.Pipeline) { p.Input.FileEncoding = "gbk" }, want: input + "FileEncoding: gbk is not supported (only utf8)"},
		{name: "other encoding", modify: func(p *config.Pipeline) { p.Input.FileEncoding = "latin1" }, want: input + `FileEncoding: must be "utf8", got "latin1"`},
		{name: "TailSizeKB max", modify: func(p *config.Pipeline) { p.Input.TailSizeKB = 10485760 }},
		{name: "TailSizeKB too big", modify: func(p *config.Pipeline) { p.Input.TailSizeKB = 10485761 }, want: input + "TailSizeKB: must be between 0 and 10485760, got 10485761"},
		{name: "TailSizeKB negative", modify: func(p *config.Pipeline) { p.Input.TailSizeKB = -1 }, want: input + "TailSizeKB: must be between 0 and 10485760, got -1"},
		{name: "start", modify: func(p *config.Pipeline) { p.Input.Multiline.StartPattern = `\d+` }},
		{name: "start and continue", modify: func(p *config.Pipeline) {
			p.Input.Multiline.StartPattern, p.Input.Multiline.ContinuePattern = `\d+`, `\s+`
		}},
		{name: "start and end", modify: func(p *config.Pipeline) {
			p.Input.Multiline.StartPattern, p.Input.Multiline.EndPattern = `\d+`, `END`
		}},
		{name: "continue and end", modify: func(p *config.Pipeline) {
			p.Input.Multiline.ContinuePattern, p.Input.Multiline.EndPattern = `\s+`, `END`
		}},
		{name: "end", modify: func(p *config.Pipeline) { p.Input.Multiline.EndPattern = `END` }},
		{name: "continue alone", modify: func(p *config.Pipeline) { p.Input.Multiline.ContinuePattern = `\s+` }, want: input + "Multiline.ContinuePattern: needs StartPattern or EndPattern as well"},
		{name: "all three patterns", modify: func(p *config.Pipeline) {
			p.Input.Multiline.StartPattern, p.Input.Multiline.ContinuePattern, p.Input.Multiline.EndPattern = "a", "b", "c"
		}, want: input + "Multiline.ContinuePattern: cannot be set with both StartPattern and EndPattern"},
		{name: "bad StartPattern", modify: func(p *config.Pipeline) { p.Input.Multiline.StartPattern = "(" }, want: input + "Multiline.StartPattern: bad regular expression: error parsing regexp: missing closing ): `(`"},
		{name: "bad ContinuePattern", modify: func(p *config.Pipeline) {
			p.Input.Multiline.StartPattern, p.Input.Multiline.ContinuePattern = "a", "*"
		}, want: input + "Multiline.ContinuePattern: bad regular expression"},
		{name: "bad EndPattern", modify: func(p *config.Pipeline) { p.Input.Multiline.EndPattern = `\p{Nope}` }, want: input + "Multiline.EndPattern: bad regular expression"},
		{name: "JSON mode", modify: func(p *config.Pipeline) { p.Input.Multiline.Mode = "JSON" }},
		{name: "bad mode", modify: func(p *config.Pipeline) { p.Input.Multiline.Mode = "regex" }, want: input + `Multiline.Mode: must be "custom" or "JSON", got "regex"`},
		{name: "discard", modify: func(p *config.Pipeline) { p.Input.Multiline.UnmatchedContentTreatment = "discard" }},
		{name: "bad treatment", modify: func(p *config.Pipeline) { p.Input.Multiline.UnmatchedContentTreatment = "keep" }, want: input + `Multiline.UnmatchedContentTreatment: must be "single_line" or "discard", got "keep"`},
		{name: "FlushTimeoutSecs negative", modify: func(p *config.Pipeline) { p.Input.FlushTimeoutSecs = -1 }, want: input + "FlushTimeoutSecs: must not be negative, got -1"},
		{name: "FileOffsetKey empty", modify: func(p *config.Pipeline) { p.Input.FileOffsetKey = "" }, want: input + "FileOffsetKey: must not be empty"},
		{name: "Tags", modify: func(p *config.Pipeline) {
			p.Input.Tags = map[string]string{"FilePathTagKey": "path", "FileInodeTagKey": ""}
		}},
		{name: "Tags unknown", modify: func(p *config.Pipeline) { p.Input.Tags = map[string]string{"FilePathTag": "p"} }, want: input + `Tags.FilePathTag: unknown tag key (did you mean "FilePathTagKey"?)`},
		{name: "MaxLineKB zero", modify: func(p *config.Pipeline) { p.Input.MaxLineKB = 0 }, want: input + "MaxLineKB: must be between 1 and 65536, got 0"},
		{name: "Workers 64", modify: func(p *config.Pipeline) { p.Global.Workers = 64 }},
		{name: "Workers 0", modify: func(p *config.Pipeline) { p.Global.Workers = 0 }, want: "pipelines/app.yaml: global: Workers: must be between 1 and 64, got 0"},
		{name: "Workers 65", modify: func(p *config.Pipeline) { p.Global.Workers = 65 }, want: "pipelines/app.yaml: global: Workers: must be between 1 and 64, got 65"},
		{name: "QueueMB 0", modify: func(p *config.Pipeline) { p.Global.QueueMB = 0 }, want: "pipelines/app.yaml: global: QueueMB: must be between 1 and 4096, got 0"},
		{name: "QueueMB 4097", modify: func(p *config.Pipeline) { p.Global.QueueMB = 4097 }, want: "pipelines/app.yaml: global: QueueMB: must be between 1 and 4096, got 4097"},
		{name: "no flushers", modify: func(p *config.Pipeline) { p.Flushers = nil }, want: "pipelines/app.yaml: flushers: at least one flusher is required"},
		{name: "flusher_file FilePath", modify: func(p *config.Pipeline) { p.Flushers[1].File.FilePath = "" }, want: "pipelines/app.yaml: flushers[1] (flusher_file): FilePath: is required"},
		{name: "flusher_file MaxFiles", modify: func(p *config.Pipeline) { p.Flushers[1].File.MaxFiles = -1 }, want: "pipelines/app.yaml: flushers[1] (flusher_file): MaxFiles: must not be negative, got -1"},
		{name: "flusher_file MaxFileSize", modify: func(p *config.Pipeline) { p.Flushers[1].File.MaxFileSize = -1 }, want: "pipelines/app.yaml: flushers[1] (flusher_file): MaxFileSize: must not be negative, got -1"},
		{name: "flusher type mismatch", modify: func(p *config.Pipeline) { p.Flushers[0].Type = "flusher_file" }, want: `pipelines/app.yaml: flushers[0] (flusher_file): Type: flusher type "flusher_file" does not match its config`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPipeline()
			tt.modify(p)
			err := p.Validate()
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestValidateParts(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{name: "InputFile", err: (&config.InputFile{FilePaths: []string{"/a.log"}, FileEncoding: "utf8", FileOffsetKey: "k", MaxLineKB: 1, Multiline: config.Multiline{Mode: "custom", UnmatchedContentTreatment: "discard"}, TailSizeKB: -5}).Validate(), want: "TailSizeKB: must be between 0 and 10485760, got -5"},
		{name: "Multiline", err: config.Multiline{Mode: "custom", ContinuePattern: "x", UnmatchedContentTreatment: "single_line"}.Validate(), want: "ContinuePattern: needs StartPattern or EndPattern as well"},
		{name: "Global", err: (&config.Global{Workers: 1}).Validate(), want: "QueueMB: must be between 1 and 4096, got 0"},
		{name: "FlusherFile", err: (&config.FlusherFile{}).Validate(), want: "FilePath: is required"},
		{name: "FlusherStdout", err: (&config.FlusherStdout{}).Validate()},
		{name: "FlusherBlackhole", err: (&config.FlusherBlackhole{}).Validate()},
		{name: "Flusher", err: (&config.Flusher{Type: "flusher_stdout"}).Validate(), want: `Type: flusher type "flusher_stdout" does not match its config`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == "" {
				assert.NoError(t, tt.err)
				return
			}
			require.Error(t, tt.err)
			assert.Equal(t, tt.want, tt.err.Error())
		})
	}
}

func TestLoadPipelineDir(t *testing.T) {
	pipelines, errs := config.LoadPipelineDir("testdata/dir", knownProcessor)
	var names []string
	for _, p := range pipelines {
		names = append(names, p.Name)
	}
	assert.Equal(t, []string{"good"}, names)
	var msgs []string
	for _, err := range errs {
		msgs = append(msgs, err.Error())
	}
	require.Len(t, msgs, 3, "got errors %q", msgs)
	assert.Equal(t, `testdata/dir/a.json: pipeline name "a" is used by more than one file: testdata/dir/a.json, testdata/dir/a.yaml`, msgs[0])
	assert.Equal(t, `testdata/dir/a.yaml: pipeline name "a" is used by more than one file: testdata/dir/a.json, testdata/dir/a.yaml`, msgs[1])
	assert.Equal(t, `testdata/dir/bad.yaml: inputs[0] (input_file): unknown key "MaxDirSearchDeep" (did you mean "MaxDirSearchDepth"?)`, msgs[2])
}

// TestLoadPipelineDirSymlinks lays out a folder as Kubernetes mounts a
// ConfigMap: the files are symlinks into ..data, itself a symlink to a
// timestamped folder.
func TestLoadPipelineDirSymlinks(t *testing.T) {
	dir := t.TempDir()
	stamp := filepath.Join(dir, "..2025_01_01_00_00_00.000000001")
	require.NoError(t, os.Mkdir(stamp, 0o755))
	good, err := os.ReadFile("testdata/dir/good.yaml")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(stamp, "app.yaml"), good, 0o644))
	require.NoError(t, os.Symlink(filepath.Base(stamp), filepath.Join(dir, "..data")))
	require.NoError(t, os.Symlink("..data/app.yaml", filepath.Join(dir, "app.yaml")))
	require.NoError(t, os.Symlink("..data/gone.yaml", filepath.Join(dir, "gone.yaml")))

	pipelines, errs := config.LoadPipelineDir(dir, knownProcessor)
	require.Len(t, pipelines, 1)
	assert.Equal(t, "app", pipelines[0].Name)
	assert.Equal(t, []string{"/var/log/good/*.log"}, pipelines[0].Input.FilePaths)
	require.Len(t, errs, 1)
	assert.Contains(t, errs[0].Error(), filepath.Join(dir, "gone.yaml")+": stat ")
}

func TestLoadPipelineDirMissing(t *testing.T) {
	pipelines, errs := config.LoadPipelineDir("testdata/none", knownProcessor)
	assert.Empty(t, pipelines)
	require.Len(t, errs, 1)
	assert.True(t, strings.HasPrefix(errs[0].Error(), "read pipeline folder: open testdata/none: "), "got %q", errs[0])
}
