// Package parsers lists wasmtail's built-in processors: LoongCollector's
// native parsers and filters (processor_parse_regex_native, …) and ours
// (processor_parse_nginx, processor_parse_apache).
//
// Each parser is one Go type in parsers/<name> written against the SDK's
// processor interface (sdk.Processor). The agent links it natively for its
// Type (agent/internal/native adapts it to the pipeline), and `make parsers`
// compiles the same source, through parsers/<name>/main, into
// parsers/<name>/<name>.wasm for processor_wasm. parsers/parsertest runs
// every parser both ways over one corpus and requires identical records.
//
// Parameters are LoongCollector's (its docs/cn/plugins/processor/native
// pages), decoded strictly: an unknown key is an error that names it. See
// RATIONALE.md for where and why behaviour differs.
package parsers
