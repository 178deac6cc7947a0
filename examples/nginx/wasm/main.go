//go:build wasip1

// Command wasm builds the nginx parser as a wasmtail module (nginx.wasm).
package main

import (
	"github.com/wasmtail/wasmtail/examples/nginx"
	"github.com/wasmtail/wasmtail/sdk"
)

func init() { sdk.Register(&sdk.Lines{Parser: nginx.Parser{}}) }

func main() {}
