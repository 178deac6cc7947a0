//go:build wasip1

// Command main builds the apache parser as a wasmtail module (apache.wasm, for
// processor_wasm with the same Config keys as its native Type):
//
//	make parsers
package main

import (
	"github.com/wasmtail/wasmtail/parsers/apache"
	"github.com/wasmtail/wasmtail/sdk"
)

func init() { sdk.Register(&apache.Parser{}) }

func main() {}
