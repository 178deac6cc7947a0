package sdk_test

import (
	"bytes"
	"fmt"

	"github.com/wasmtail/wasmtail/sdk"
)

// Upper upper-cases every record's content.
type Upper struct{}

func (Upper) Init([]byte) error { return nil }

func (Upper) Process(b *sdk.Batch) error {
	for i := range b.Records {
		for j, f := range b.Records[i].Fields {
			if f.Key == "content" {
				b.Records[i].Fields[j].Value = b.Append(bytes.ToUpper(f.Value))
			}
		}
	}
	return nil
}

// A processor is plain Go: a host (or a test) calls it natively, the same
// code that GOOS=wasip1 builds into a module.
func Example_native() {
	var p sdk.Processor = Upper{}
	if err := p.Init([]byte(`{}`)); err != nil {
		panic(err)
	}
	var b sdk.Batch
	b.Records = append(b.Records, sdk.Record{Sec: 1700000000, Fields: []sdk.Field{{Key: "content", Value: []byte("hello")}}})
	if err := p.Process(&b); err != nil {
		panic(err)
	}
	v, _ := b.Records[0].Get("content")
	fmt.Println(string(v))
	// Output: HELLO
}
