//go:build wasip1

// Command main builds the timestamp parser as a wasmtail module (timestamp.wasm, for
// processor_wasm with the same Config keys as its native Type):
//
//	make parsers
package main

import (
	"github.com/wasmtail/wasmtail/parsers/timestamp"
	"github.com/wasmtail/wasmtail/sdk"
)

func init() { sdk.Register(&timestamp.Parser{}) }

func main() {}
