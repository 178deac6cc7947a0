package parsers

import (
	"github.com/wasmtail/wasmtail/parsers/apache"
	"github.com/wasmtail/wasmtail/parsers/apsara"
	"github.com/wasmtail/wasmtail/parsers/delimiter"
	"github.com/wasmtail/wasmtail/parsers/desensitize"
	"github.com/wasmtail/wasmtail/parsers/filterregex"
	"github.com/wasmtail/wasmtail/parsers/json"
	"github.com/wasmtail/wasmtail/parsers/nginx"
	"github.com/wasmtail/wasmtail/parsers/regex"
	"github.com/wasmtail/wasmtail/parsers/timestamp"
	"github.com/wasmtail/wasmtail/sdk"
)

// Factory makes one built-in processor type.
type Factory struct {
	// Type is the pipeline `Type:`, e.g. "processor_parse_json_native".
	Type string
	// Module is the parser's folder under parsers/ and the name of its
	// Wasm build (parsers/<Module>/<Module>.wasm).
	Module string
	// New returns a processor to Init; each goroutine gets its own.
	New func() sdk.Processor
}

// Builtin lists every built-in processor, in a fixed order. The agent
// registers them (agent/internal/native); there is no init-time global.
func Builtin() []Factory {
	return []Factory{
		{regex.Type, "regex", func() sdk.Processor { return &regex.Parser{} }},
		{json.Type, "json", func() sdk.Processor { return &json.Parser{} }},
		{delimiter.Type, "delimiter", func() sdk.Processor { return &delimiter.Parser{} }},
		{filterregex.Type, "filterregex", func() sdk.Processor { return &filterregex.Filter{} }},
		{desensitize.Type, "desensitize", func() sdk.Processor { return &desensitize.Processor{} }},
		{timestamp.Type, "timestamp", func() sdk.Processor { return &timestamp.Parser{} }},
		{apsara.Type, "apsara", func() sdk.Processor { return &apsara.Parser{} }},
		{nginx.Type, "nginx", func() sdk.Processor { return &nginx.Parser{} }},
		{apache.Type, "apache", func() sdk.Processor { return &apache.Parser{} }},
	}
}
