package runtime_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/hostabi"
	"github.com/wasmtail/wasmtail/runtime"
)

func TestIdentity(t *testing.T) {
	rt, _ := newRuntime(t)
	ctx := context.Background()
	m := load(t, rt, "testdata/identity.wasm", runtime.ModuleConfig{Name: "identity"})

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
	m := load(t, rt, "testdata/identity.wasm", runtime.ModuleConfig{Name: "identity"})
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

// TestSwap: a bad module never replaces a running one; a good one does,
// and batches keep flowing through the handle across the swap.
func TestSwap(t *testing.T) {
	rt, logs := newRuntime(t)
	ctx := context.Background()
	m := load(t, rt, "testdata/identity.wasm", runtime.ModuleConfig{Name: "m"})
	var enc hostabi.Encoder
	run := func() error {
		encodeLines(&enc, "x")
		_, err := m.Process(ctx, &enc, func(*hostabi.View) {})
		return err
	}
	require.NoError(t, run())

	err := m.Swap(ctx, readWasm(t, "testdata/hostile/nomarker.wasm"))
	var re *runtime.Error
	require.ErrorAs(t, err, &re)
	assert.Equal(t, runtime.KindRefused, re.Kind)
	assert.Contains(t, re.Error(), `wasm module "m": refused: no ABI marker`)
	require.NoError(t, run(), "the old version keeps running")

	require.NoError(t, m.Swap(ctx, readWasm(t, "testdata/hostile/loop.wasm")))
	err = run()
	require.ErrorAs(t, err, &re)
	assert.Equal(t, runtime.KindTimeout, re.Kind)
	assert.Contains(t, logs.String(), "module=m")

	require.NoError(t, m.Swap(ctx, readWasm(t, "testdata/identity.wasm")))
	require.NoError(t, run())
}

func TestLoadRefusals(t *testing.T) {
	rt, _ := newRuntime(t)
	ctx := context.Background()
	tests := []struct {
		name string
		wasm []byte
		want string
	}{
		{"not wasm", []byte("hello"), "compile:"},
		{"no marker", readWasm(t, "testdata/hostile/nomarker.wasm"), "no ABI marker"},
		{"unknown version", readWasm(t, "testdata/hostile/v2.wasm"), "unknown ABI version v2"},
		{"init traps", readWasm(t, "testdata/hostile/inittrap.wasm"), "wasmtail_init: wasm error: unreachable"},
		// 2^31 function types declared in 5 bytes: refused before wazero
		// would allocate them.
		{"memory bomb at load", []byte("\x00asm\x01\x00\x00\x00\x01\x05\x80\x80\x80\x80\x08"), "declares more items than it has bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rt.Load(ctx, tt.wasm, runtime.ModuleConfig{Name: tt.name})
			var re *runtime.Error
			require.ErrorAs(t, err, &re)
			assert.Equal(t, runtime.KindRefused, re.Kind)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// TestSwapUnderLoad swaps versions while workers run batches: none fails
// (batches in flight finish on the version they started on).
func TestSwapUnderLoad(t *testing.T) {
	rt, _ := newRuntime(t)
	ctx := context.Background()
	wasm := readWasm(t, "testdata/identity.wasm")
	m, err := rt.Load(ctx, wasm, runtime.ModuleConfig{Name: "m"})
	require.NoError(t, err)
	defer m.Close(ctx)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var enc hostabi.Encoder
			for {
				select {
				case <-stop:
					return
				default:
				}
				encodeLines(&enc, "a", "b")
				traps, err := m.Process(ctx, &enc, func(*hostabi.View) {})
				if !assert.NoError(t, err) || !assert.Zero(t, traps) {
					return
				}
			}
		}()
	}
	for range 20 {
		require.NoError(t, m.Swap(ctx, wasm))
	}
	close(stop)
	wg.Wait()
}

// TestGoSDKKeysAcrossBatches: the host lays out each batch's keys afresh,
// so the next batch may hold another key of the same length where the
// previous one held "level". The Go SDK must hand the processor the key
// the host sent, not one remembered from an earlier batch by address.
func TestGoSDKKeysAcrossBatches(t *testing.T) {
	rt, _ := newRuntime(t)
	ctx := context.Background()
	m := load(t, rt, "testdata/reload/gotag1.wasm", runtime.ModuleConfig{Name: "gotag"})

	var enc hostabi.Encoder
	for _, key := range []string{"level", "trace", "level", "spans", "x", "y"} {
		enc.Reset()
		enc.AddRecord(1, 0)
		enc.AddField("content", []byte("c"))
		enc.AddField(key, []byte("v-"+key))
		var got []rec
		_, err := m.Process(ctx, &enc, func(v *hostabi.View) { got = decode(v) })
		require.NoError(t, err)
		want := []rec{{1, 0, [][2]string{{"content", "c"}, {key, "v-" + key}, {"v", "1"}}}}
		require.Equal(t, want, got, "batch with key %q", key)
	}
}

// TestDeadlineIsWallClock: with a budget too large to matter (a million
// fuel per nanosecond: hours of guest code), an infinite loop is still
// stopped at its Timeout, by the watchdog, and reported as a timeout.
// (The hostile suite's loop would time out through the budget alone.)
func TestDeadlineIsWallClock(t *testing.T) {
	defer runtime.SetFuelPerNs(1_000_000)()
	rt, _ := newRuntime(t)
	ctx := context.Background()
	m := load(t, rt, "testdata/hostile/loop.wasm", runtime.ModuleConfig{
		Name: "loop", Timeout: 50 * time.Millisecond, MaxFailures: 100})
	var enc hostabi.Encoder
	encodeLines(&enc, "x")
	start := time.Now()
	traps, err := m.Process(ctx, &enc, func(*hostabi.View) {})
	took := time.Since(start)
	var re *runtime.Error
	require.ErrorAs(t, err, &re)
	assert.Equal(t, runtime.KindTimeout, re.Kind, "%v", err)
	assert.Equal(t, 2, traps, "the batch and its retry")
	assert.Less(t, took, 5*time.Second, "two 50 ms deadlines")
}
