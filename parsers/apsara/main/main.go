//go:build wasip1

// Command main builds the apsara parser as a wasmtail module (apsara.wasm, for
// processor_wasm with the same Config keys as its native Type):
//
//	make parsers
package main

import (
	"github.com/wasmtail/wasmtail/parsers/apsara"
	"github.com/wasmtail/wasmtail/sdk"
)

func init() { sdk.Register(&apsara.Parser{}) }

func main() {}
