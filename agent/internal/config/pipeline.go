package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Plugin types, as the `Type:` key spells them.
const (
	TypeInputFile        = "input_file"
	TypeInputStdio       = "input_container_stdio"
	TypeFlusherStdout    = "flusher_stdout"
	TypeFlusherFile      = "flusher_file"
	TypeFlusherBlackhole = "flusher_blackhole"
	TypeFlusherSLS       = "flusher_sls"
)

// topLevelKeys are the keys of a pipeline file wasmtail reads.
var topLevelKeys = []string{"enable", "global", "inputs", "processors", "flushers"}

// topLevelUnsupported are LoongCollector top-level keys wasmtail does not
// implement yet; an empty list is accepted.
var topLevelUnsupported = []string{"aggregators", "extensions"}

var globalPolicy = keyPolicy{
	owner: "global",
	// StructureType picks LoongCollector's internal event model, Priority and
	// ProcessPriority its scheduling order, InputIntervalMs and
	// InputMaxFirstCollectDelayMs the period of metric inputs; none of them
	// changes what wasmtail reads or sends.
	ignored: []string{"StructureType", "Priority", "ProcessPriority", "InputIntervalMs", "InputMaxFirstCollectDelayMs"},
	// These change the topic or the tags of what is sent.
	unsupported: []string{"TopicType", "TopicFormat", "UsingOldContentTag", "PipelineMetaTagKey", "AgentEnvMetaTagKey"},
}

var inputFilePolicy = keyPolicy{
	owner: TypeInputFile,
	// Tuning knobs of LoongCollector's reader that have no counterpart here.
	ignored: []string{"IgnoringUnmatchWarning", "RotatorQueueSize", "CloseUnusedReaderIntervalSec", "MaxCheckpointDirSearchDepth"},
	unsupported: []string{
		"EnableContainerDiscovery", "ContainerFilters", "ExternalK8sLabelTag", "ExternalEnvTag",
		"CollectingContainersMeta", "TailingAllMatchedFiles", "PreservedDirDepth",
		"ReadDelaySkipThresholdBytes", "AllowingCollectingFilesInRootDir", "EnableExactlyOnce",
	},
	nested: map[string]keyPolicy{"Multiline": {owner: "input_file Multiline"}},
}

var inputStdioPolicy = keyPolicy{
	owner:   TypeInputStdio,
	ignored: []string{"IgnoringUnmatchWarning", "CloseUnusedReaderIntervalSec"},
	// Multiline over container output and the tags and filters that need
	// the container runtime's metadata are not implemented.
	unsupported: []string{"Multiline", "ExternalK8sLabelTag", "ExternalEnvTag", "CollectingContainersMeta"},
	nested: map[string]keyPolicy{"ContainerFilters": {
		owner: "input_container_stdio ContainerFilters (it reads the pod from the log path, not from the runtime)",
		unsupported: []string{"IncludeK8sLabel", "ExcludeK8sLabel", "IncludeEnv", "ExcludeEnv",
			"IncludeContainerLabel", "ExcludeContainerLabel"},
	}},
}

var flusherPolicies = map[string]keyPolicy{
	TypeFlusherStdout:    {owner: TypeFlusherStdout, unsupported: []string{"MaxSize", "MaxRolls", "KeyValuePairs", "Match"}},
	TypeFlusherFile:      {owner: TypeFlusherFile, unsupported: []string{"Match"}},
	TypeFlusherBlackhole: {owner: TypeFlusherBlackhole, unsupported: []string{"Match"}},
	// Aliuid and EndpointMode only matter inside Alibaba Cloud's enterprise
	// build, which picks endpoints and keys for the user.
	TypeFlusherSLS: {owner: TypeFlusherSLS,
		ignored:     []string{"Aliuid", "EndpointMode"},
		unsupported: []string{"Batch", "ExtraHeaders", "MaxSendRate", "Workspace", "Match"}},
}

// processorTypes are the processor types wasmtail plans to support; the
// unknown-processor error suggests the closest one that knownProcessor
// accepts.
var processorTypes = []string{
	"processor_parse_regex_native", "processor_parse_json_native", "processor_parse_delimiter_native",
	"processor_parse_timestamp_native", "processor_parse_apsara_native", "processor_filter_regex_native",
	"processor_desensitize_native", "processor_parse_nginx", "processor_parse_apache", "processor_wasm",
}

// pipelineExts are the file extensions of pipeline configs.
var pipelineExts = []string{".yaml", ".yml", ".json"}

// DefaultQueueMB is a pipeline's QueueMB when its file sets none: 4 MiB
// (8 read chunks), and 1 MiB per worker past 4 workers, so every worker has
// a batch to work on while the next ones are read. More only holds more
// memory: measured into a local SLS endpoint, 16 MiB took twice the RSS of
// 4 (72 against 38 MiB) and no less CPU.
func DefaultQueueMB(workers int) int { return max(4, workers) }

// defaultPipeline is a pipeline with every default set.
func defaultPipeline() *Pipeline {
	return &Pipeline{
		Enable: true,
		Global: Global{Workers: 1, QueueMB: DefaultQueueMB(1)},
		Input:  defaultInputFile(),
	}
}

func defaultInputFile() InputFile {
	return InputFile{
		FileEncoding:     "utf8",
		TailSizeKB:       1024,
		Multiline:        Multiline{Mode: "custom", UnmatchedContentTreatment: "single_line"},
		FlushTimeoutSecs: 5,
		FileOffsetKey:    "__file_offset__",
		MaxLineKB:        512,
	}
}

func defaultInputStdio() InputContainerStdio {
	return InputContainerStdio{TailSizeKB: 1024, FlushTimeoutSecs: 5, MaxLineKB: 512, LogsRoot: "/var/log/pods"}
}

// fileInput is the input_file that reads the container logs: every
// /var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log (the kubelet's
// rotated <n>.log.<time> files are followed by identity once renamed).
func (c InputContainerStdio) fileInput() InputFile {
	in := defaultInputFile()
	in.FilePaths = []string{filepath.Join(c.LogsRoot, "*", "*", "*.log")}
	in.TailSizeKB = c.TailSizeKB
	in.FlushTimeoutSecs = c.FlushTimeoutSecs
	in.MaxLineKB = c.MaxLineKB
	return in
}

func defaultFlusherFile() FlusherFile {
	return FlusherFile{MaxFileSize: 10 << 20, MaxFiles: 5}
}

func defaultFlusherSLS() FlusherSLS {
	return FlusherSLS{
		CompressType:       "lz4",
		AuthVersion:        "v1",
		MaxBatchBytes:      1 << 20,
		MaxBatchLogs:       4096,
		RequestTimeoutSecs: 30,
		RetrySecs:          30,
	}
}

// LoadPipeline reads, decodes and validates the pipeline config at path, a
// YAML (.yaml, .yml) or JSON (.json) file in LoongCollector's format. The
// pipeline's name is the file name without its extension.
//
// knownProcessor reports whether a processor Type exists; a processor whose
// Type it rejects (or any processor, when it is nil) is an error. Processor
// parameters are not checked here: the processor's factory decodes
// [Plugin.Params].
//
// On failure the error joins one [*Error] per problem found.
func LoadPipeline(path string, knownProcessor func(typ string) bool) (*Pipeline, error) {
	ext := strings.ToLower(filepath.Ext(path))
	if !isPipelineExt(ext) {
		return nil, &Error{File: path, Err: fmt.Errorf("unsupported file extension %q: want .yaml, .yml or .json", filepath.Ext(path))}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Err: err}
	}
	raw, err := parse(data, ext == ".json")
	if err != nil {
		return nil, &Error{File: path, Err: err}
	}
	d := &pipelineDecoder{file: path, knownProcessor: knownProcessor}
	p := d.decode(raw)
	p.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	if len(d.errs) == 0 {
		p.Input.canonicalize()
		if err := p.Validate(); err != nil {
			return nil, err
		}
		return p, nil
	}
	return nil, errors.Join(d.errs...)
}

// LoadPipelineDir loads every pipeline config directly in dir: the files
// named *.yaml, *.yml or *.json, symlinks followed (Kubernetes mounts a
// ConfigMap's files as symlinks into `..data/`), names starting with "."
// skipped. Pipelines come back sorted by file name. A file that fails to load
// adds an error and does not stop the others; two files that give the same
// pipeline name (a.yaml and a.json) are an error for both.
func LoadPipelineDir(dir string, knownProcessor func(string) bool) (pipelines []*Pipeline, errs []error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, []error{fmt.Errorf("read pipeline folder: %w", err)}
	}
	var files []string
	byName := map[string][]string{}
	for _, e := range entries { // os.ReadDir sorts by name
		name := e.Name()
		if strings.HasPrefix(name, ".") || !isPipelineExt(strings.ToLower(filepath.Ext(name))) {
			continue
		}
		path := filepath.Join(dir, name)
		fi, err := os.Stat(path) // follows symlinks
		if err != nil {
			errs = append(errs, &Error{File: path, Err: err})
			continue
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		files = append(files, path)
		base := strings.TrimSuffix(name, filepath.Ext(name))
		byName[base] = append(byName[base], path)
	}
	for _, path := range files {
		base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		if same := byName[base]; len(same) > 1 {
			errs = append(errs, &Error{File: path, Err: fmt.Errorf("pipeline name %q is used by more than one file: %s", base, strings.Join(same, ", "))})
			continue
		}
		p, err := LoadPipeline(path, knownProcessor)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		pipelines = append(pipelines, p)
	}
	return pipelines, errs
}

func isPipelineExt(ext string) bool { return slices.Contains(pipelineExts, ext) }

// parse turns a file's bytes into its top-level map.
func parse(data []byte, isJSON bool) (map[string]any, error) {
	var raw any
	if isJSON {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("parse JSON: %w", err)
		}
		if _, err := dec.Token(); err != io.EOF {
			return nil, errors.New("parse JSON: unexpected data after the top-level object")
		}
	} else if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("parse YAML: %w", err)
	}
	switch m := normalize(raw).(type) {
	case map[string]any:
		return m, nil
	case nil:
		return nil, errors.New("the file is empty")
	default:
		return nil, fmt.Errorf("want a map of enable, global, inputs, processors and flushers, got %s", describe(m))
	}
}

// pipelineDecoder decodes one file's top-level map, collecting every error.
type pipelineDecoder struct {
	file           string
	knownProcessor func(string) bool
	errs           []error
}

// add records err found in plugin ("" for the top level).
func (d *pipelineDecoder) add(plugin string, err error) {
	e := &Error{File: d.file, Plugin: plugin, Err: err}
	var ke *keyError
	var uk *unknownKeyError
	switch {
	case errors.As(err, &ke):
		e.Key = ke.key
	case errors.As(err, &uk):
		e.Key = uk.key
	}
	d.errs = append(d.errs, e)
}

func (d *pipelineDecoder) decode(raw map[string]any) *Pipeline {
	p := defaultPipeline()
	p.File = d.file
	for _, key := range sortedKeys(raw) {
		val := raw[key]
		switch key {
		case "enable":
			if val == nil {
				continue
			}
			b, ok := val.(bool)
			if !ok {
				d.add("", keyErrorf(key, "want a boolean (true or false), got %s", describe(val)))
				continue
			}
			p.Enable = b
		case "global":
			if val == nil {
				continue
			}
			m, ok := val.(map[string]any)
			if !ok {
				d.add("", keyErrorf(key, "want a map, got %s", describe(val)))
				continue
			}
			for _, err := range decodeStruct(m, &p.Global, "", globalPolicy) {
				d.add("global", err)
			}
			if m["QueueMB"] == nil { // absent or empty: follows Workers
				p.Global.QueueMB = DefaultQueueMB(p.Global.Workers)
			}
		case "inputs":
			d.decodeInputs(p, val)
		case "processors":
			d.decodeProcessors(p, val)
		case "flushers":
			d.decodeFlushers(p, val)
		case "aggregators", "extensions":
			if !isZero(val) {
				d.add("", keyErrorf(key, "not supported yet by wasmtail"))
			}
		default:
			d.add("", unknownKey("", key, append(append([]string(nil), topLevelKeys...), topLevelUnsupported...)))
		}
	}
	if _, ok := raw["inputs"]; !ok {
		d.add("", keyErrorf("inputs", "exactly one input is required, got none"))
	}
	if _, ok := raw["flushers"]; !ok {
		d.add("", keyErrorf("flushers", "at least one flusher is required, got none"))
	}
	return p
}

// pluginList checks that val is a list of maps, each with a string Type, and
// returns them; section names the list in errors.
func (d *pipelineDecoder) pluginList(section string, val any) (maps []map[string]any, types []string, ok bool) {
	if val == nil {
		return nil, nil, true
	}
	list, isList := val.([]any)
	if !isList {
		d.add("", keyErrorf(section, "want a list of plugins, got %s", describe(val)))
		return nil, nil, false
	}
	ok = true
	for i, item := range list {
		where := fmt.Sprintf("%s[%d]", section, i)
		m, isMap := item.(map[string]any)
		if !isMap {
			d.add(where, fmt.Errorf("want a map with a %q key, got %s", "Type", describe(item)))
			ok = false
			continue
		}
		typ, present := m["Type"]
		if !present {
			err := error(fmt.Errorf("missing key %q", "Type"))
			if _, lower := m["type"]; lower {
				err = &unknownKeyError{key: "type", suggestion: "Type"}
			}
			d.add(where, err)
			ok = false
			continue
		}
		s, isString := typ.(string)
		if !isString || s == "" {
			d.add(where, keyErrorf("Type", "want a plugin type name, got %s", describe(typ)))
			ok = false
			continue
		}
		maps = append(maps, m)
		types = append(types, s)
	}
	return maps, types, ok
}

func pluginLabel(section string, i int, typ string) string {
	return fmt.Sprintf("%s[%d] (%s)", section, i, typ)
}

func (d *pipelineDecoder) decodeInputs(p *Pipeline, val any) {
	maps, types, ok := d.pluginList("inputs", val)
	if !ok {
		return
	}
	if len(maps) != 1 {
		d.add("", keyErrorf("inputs", "exactly one input is required, got %d", len(maps)))
		return
	}
	where := pluginLabel("inputs", 0, types[0])
	params := withoutType(maps[0])
	switch types[0] {
	case TypeInputFile:
		for _, err := range decodeStruct(params, &p.Input, "", inputFilePolicy) {
			d.add(where, err)
		}
	case TypeInputStdio:
		st := defaultInputStdio()
		for _, err := range decodeStruct(params, &st, "", inputStdioPolicy) {
			d.add(where, err)
		}
		p.Stdio = &st
		p.Input = st.fileInput()
	default:
		msg := fmt.Sprintf("unknown input type %q%s", types[0], didYouMean(types[0], []string{TypeInputFile, TypeInputStdio}))
		d.add(where, keyErrorf("Type", "%s", msg))
	}
}

func (d *pipelineDecoder) decodeProcessors(p *Pipeline, val any) {
	maps, types, _ := d.pluginList("processors", val)
	for i, m := range maps {
		typ := types[i]
		if d.knownProcessor == nil || !d.knownProcessor(typ) {
			var known []string
			for _, c := range processorTypes {
				if d.knownProcessor != nil && d.knownProcessor(c) {
					known = append(known, c)
				}
			}
			d.add(pluginLabel("processors", i, typ), keyErrorf("Type", "unknown processor type %q%s", typ, didYouMean(typ, known)))
			continue
		}
		p.Processors = append(p.Processors, Plugin{Type: typ, Index: i, Params: withoutType(m)})
	}
}

func (d *pipelineDecoder) decodeFlushers(p *Pipeline, val any) {
	maps, types, ok := d.pluginList("flushers", val)
	if ok && len(maps) == 0 {
		d.add("", keyErrorf("flushers", "at least one flusher is required, got none"))
		return
	}
	for i, m := range maps {
		typ := types[i]
		where := pluginLabel("flushers", i, typ)
		params := withoutType(m)
		f := Flusher{Type: typ, Index: i}
		var errs []error
		switch typ {
		case TypeFlusherStdout:
			f.Stdout = &FlusherStdout{}
			errs = decodeStruct(params, f.Stdout, "", flusherPolicies[typ])
		case TypeFlusherFile:
			ff := defaultFlusherFile()
			f.File = &ff
			errs = decodeStruct(params, f.File, "", flusherPolicies[typ])
		case TypeFlusherBlackhole:
			f.Blackhole = &FlusherBlackhole{}
			errs = decodeStruct(params, f.Blackhole, "", flusherPolicies[typ])
		case TypeFlusherSLS:
			fs := defaultFlusherSLS()
			f.SLS = &fs
			errs = decodeStruct(params, f.SLS, "", flusherPolicies[typ])
		default:
			known := []string{TypeFlusherStdout, TypeFlusherFile, TypeFlusherBlackhole, TypeFlusherSLS}
			msg := fmt.Sprintf("unknown flusher type %q%s", typ, didYouMean(typ, known))
			errs = []error{keyErrorf("Type", "%s", msg)}
		}
		for _, err := range errs {
			d.add(where, err)
		}
		p.Flushers = append(p.Flushers, f)
	}
}

// canonicalize turns the spellings LoongCollector also accepts into the one
// wasmtail code compares against: FileEncoding "UTF8" is "utf8", Multiline
// Mode "json" is "JSON", and FileOffsetKey "__default__" is the default key.
func (c *InputFile) canonicalize() {
	if strings.EqualFold(c.FileEncoding, "utf8") {
		c.FileEncoding = "utf8"
	}
	if strings.EqualFold(c.Multiline.Mode, "json") {
		c.Multiline.Mode = "JSON"
	}
	if c.FileOffsetKey == "__default__" {
		c.FileOffsetKey = defaultInputFile().FileOffsetKey
	}
}

// withoutType returns a copy of m without its Type key.
func withoutType(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k != "Type" {
			out[k] = v
		}
	}
	return out
}
