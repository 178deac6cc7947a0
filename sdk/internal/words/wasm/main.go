//go:build wasip1

// Command wasm builds the words LineParser as a module (words.wasm).
package main

import (
	"github.com/wasmtail/wasmtail/sdk"
	"github.com/wasmtail/wasmtail/sdk/internal/words"
)

func init() { sdk.Register(&sdk.Lines{Parser: &words.Parser{}}) }

func main() {}
