//go:build wasip1

// Command nop is a Go guest whose processor does nothing: it measures what
// the SDK itself costs per batch (decoding the input, encoding the output).
package main

import "github.com/wasmtail/wasmtail/sdk"

type nop struct{}

func (nop) Init([]byte) error        { return nil }
func (nop) Process(*sdk.Batch) error { return nil }

func init() { sdk.Register(nop{}) }

func main() {}
