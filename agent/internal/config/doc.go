// Package config loads and validates wasmtail's two kinds of configuration.
//
// Pipeline configs use the LoongCollector (Logtail) pipeline format, so an
// existing LoongCollector config works unchanged: one YAML or JSON file per
// pipeline, with the top-level keys enable, global, inputs, processors and
// flushers, each plugin a map with a Type and PascalCase parameters spelt as
// LoongCollector spells them. [LoadPipeline] reads one file and
// [LoadPipelineDir] reads a folder of them. Decoding is strict: an unknown key
// at any level, a value of the wrong type or a value out of range is an error
// that names the file, the plugin (section, index and Type) and the key, and
// suggests the closest valid key when there is one:
//
//	pipelines/app.yaml: inputs[0] (input_file): unknown key "FilePath" (did you mean "FilePaths"?)
//
// The agent config ([Agent], [LoadAgent]) is one small YAML file read with
// koanf, every key of which can be overridden by an environment variable
// WASMTAIL_<KEY>; the Logtail sidecar variables ALIYUN_LOGTAIL_USER_ID,
// ALIYUN_LOGTAIL_USER_DEFINED_ID and ALIYUN_LOG_ENV_TAGS are honoured too.
//
// # Notes
//
//   - Defaults are set before decoding, so a key that is absent keeps its
//     default; each field's doc comment states it.
//   - A few LoongCollector keys that change nothing for wasmtail (scheduling
//     priorities, metric-input intervals) are accepted and ignored; keys whose
//     behaviour wasmtail does not implement yet (container discovery, topics,
//     routing) are rejected with a "not supported yet" error rather than
//     silently ignored.
//   - Processor parameters are kept raw in [Plugin.Params]; the processor's
//     factory decodes them.
package config
