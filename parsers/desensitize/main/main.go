//go:build wasip1

// Command main builds the desensitize parser as a wasmtail module (desensitize.wasm, for
// processor_wasm with the same Config keys as its native Type):
//
//	make parsers
package main

import (
	"github.com/wasmtail/wasmtail/parsers/desensitize"
	"github.com/wasmtail/wasmtail/sdk"
)

func init() { sdk.Register(&desensitize.Processor{}) }

func main() {}
