//go:build wasip1

// Command wasm builds the logfmt parser as a wasmtail module:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o examples/logfmt/logfmt.wasm ./examples/logfmt/wasm
package main

import (
	"github.com/wasmtail/wasmtail/examples/logfmt"
	"github.com/wasmtail/wasmtail/sdk"
)

func init() { sdk.Register(&logfmt.Parser{}) }

func main() {}
