package runtime_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/hostabi"
	"github.com/wasmtail/wasmtail/runtime"
)

func TestIdentity(t *testing.T) {
	rt, _ := newRuntime(t)
	ctx := context.Background()
	m, err := rt.Load(ctx, readWasm(t, "testdata/identity.wasm"), runtime.ModuleConfig{Name: "identity"})
	require.NoError(t, err)
	defer m.Close(ctx)

	var enc hostabi.Encoder
	encodeLines(&enc, "a=1", "", "b")
	var got []rec
	var mapped int
	traps, err := m.Process(ctx, &enc, func(v *hostabi.View) {
		got = decode(v)
		for j := range v.NumFields() {
			f := v.Field(j)
			if _, ok := enc.Value(f.ValPtr, f.ValLen); ok {
				mapped++
			}
		}
	})
	require.NoError(t, err)
	assert.Zero(t, traps)
	want := []rec{
		{1700000000, 5, [][2]string{{"content", "a=1"}}},
		{1700000001, 5, [][2]string{{"content", ""}}},
		{1700000002, 5, [][2]string{{"content", "b"}}},
	}
	assert.Equal(t, want, got)
	assert.Equal(t, 3, mapped, "identity output must map back to the host's bytes")
}

// TestPoolRace runs several workers on one module: each takes its own
// instance (go test -race checks they never share one).
func TestPoolRace(t *testing.T) {
	rt, _ := newRuntime(t)
	ctx := context.Background()
	m, err := rt.Load(ctx, readWasm(t, "testdata/identity.wasm"), runtime.ModuleConfig{Name: "identity"})
	require.NoError(t, err)
	defer m.Close(ctx)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var enc hostabi.Encoder
			in := lines(50 + w)
			for range 200 {
				encodeLines(&enc, in...)
				var n int
				_, err := m.Process(ctx, &enc, func(v *hostabi.View) { n = v.Len() })
				if !assert.NoError(t, err) || !assert.Equal(t, len(in), n) {
					return
				}
			}
		}()
	}
	wg.Wait()
}
