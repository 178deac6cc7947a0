//go:build wasip1

// Command main builds the regex parser as a wasmtail module (regex.wasm, for
// processor_wasm with the same Config keys as its native Type):
//
//	make parsers
package main

import (
	"github.com/wasmtail/wasmtail/parsers/regex"
	"github.com/wasmtail/wasmtail/sdk"
)

func init() { sdk.Register(&regex.Parser{}) }

func main() {}
