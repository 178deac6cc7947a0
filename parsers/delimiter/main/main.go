//go:build wasip1

// Command main builds the delimiter parser as a wasmtail module (delimiter.wasm, for
// processor_wasm with the same Config keys as its native Type):
//
//	make parsers
package main

import (
	"github.com/wasmtail/wasmtail/parsers/delimiter"
	"github.com/wasmtail/wasmtail/sdk"
)

func init() { sdk.Register(&delimiter.Parser{}) }

func main() {}
