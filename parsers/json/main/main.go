//go:build wasip1

// Command main builds the json parser as a wasmtail module (json.wasm, for
// processor_wasm with the same Config keys as its native Type):
//
//	make parsers
package main

import (
	"github.com/wasmtail/wasmtail/parsers/json"
	"github.com/wasmtail/wasmtail/sdk"
)

func init() { sdk.Register(&json.Parser{}) }

func main() {}
