//go:build wasip1

// Command main builds the filterregex parser as a wasmtail module (filterregex.wasm, for
// processor_wasm with the same Config keys as its native Type):
//
//	make parsers
package main

import (
	"github.com/wasmtail/wasmtail/parsers/filterregex"
	"github.com/wasmtail/wasmtail/sdk"
)

func init() { sdk.Register(&filterregex.Filter{}) }

func main() {}
