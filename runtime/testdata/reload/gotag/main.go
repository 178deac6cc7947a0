//go:build wasip1

// Command gotag is a Go test module for hot reload: it hands every record
// back with one more field, "v" = version, set at build time
// (-ldflags -X main.version=1 for gotag1.wasm, 2 for gotag2.wasm), so that
// each record says which version made it.
package main

import "github.com/wasmtail/wasmtail/sdk"

var version = "0"

type tag struct{ v []byte }

func (t *tag) Init([]byte) error {
	t.v = []byte(version)
	return nil
}

func (t *tag) Process(b *sdk.Batch) error {
	for i := range b.Records {
		r := &b.Records[i]
		r.Fields = append(r.Fields, sdk.Field{Key: "v", Value: t.v})
	}
	return nil
}

func init() { sdk.Register(&tag{}) }

func main() {}
