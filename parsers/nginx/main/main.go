//go:build wasip1

// Command main builds the nginx parser as a wasmtail module (nginx.wasm, for
// processor_wasm with the same Config keys as its native Type):
//
//	make parsers
package main

import (
	"github.com/wasmtail/wasmtail/parsers/nginx"
	"github.com/wasmtail/wasmtail/sdk"
)

func init() { sdk.Register(&nginx.Parser{}) }

func main() {}
