package runtime_test

import (
	"context"
	"fmt"
	"os"

	"github.com/wasmtail/wasmtail/hostabi"
	"github.com/wasmtail/wasmtail/runtime"
)

// Load a module and run a batch through it.
func Example() {
	ctx := context.Background()
	rt, err := runtime.New(ctx, runtime.Config{})
	if err != nil {
		panic(err)
	}
	defer rt.Close(ctx)

	wasm, err := os.ReadFile("testdata/identity.wasm")
	if err != nil {
		panic(err)
	}
	m, err := rt.Load(ctx, wasm, runtime.ModuleConfig{Name: "identity", Config: []byte(`{}`)})
	if err != nil {
		panic(err) // a *runtime.Error of KindRefused says why
	}
	defer m.Close(ctx)

	var enc hostabi.Encoder
	enc.AddRecord(1700000000, 0)
	enc.AddField("content", []byte("hello"))
	_, err = m.Process(ctx, &enc, func(out *hostabi.View) {
		f := out.Field(0)
		v, _ := enc.Value(f.ValPtr, f.ValLen) // the host's own bytes: not copied
		fmt.Printf("%d record: %s\n", out.Len(), v)
	})
	if err != nil {
		panic(err)
	}
	// Output: 1 record: hello
}
