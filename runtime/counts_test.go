package runtime_test

import (
	"context"
	"errors"
	goruntime "runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/runtime"
)

// TestLoadRefusesHugeCounts loads a module of 36 bytes whose function
// declares 2^20 locals: wazero would allocate for each before it reads
// the rest (hundreds of MiB). Load must refuse it, saying why, without
// that (the meter's tests cover every such count).
func TestLoadRefusesHugeCounts(t *testing.T) {
	rt, _ := newRuntime(t)
	wasm := []byte("\x00asm\x01\x00\x00\x00" +
		"\x01\x04\x01\x60\x00\x00" + // type 0: () -> ()
		"\x03\x02\x01\x00" + // function 0 of type 0
		"\x0a\x08\x01\x06\x01\x80\x80\x40\x7f\x0b") // 2^20 i32 locals; end
	goruntime.GC()
	var before, after goruntime.MemStats
	goruntime.ReadMemStats(&before)
	_, err := rt.Load(context.Background(), wasm, runtime.ModuleConfig{Name: "huge"})
	goruntime.ReadMemStats(&after)
	var e *runtime.Error
	require.True(t, errors.As(err, &e), "%v", err)
	assert.Equal(t, runtime.KindRefused, e.Kind)
	assert.ErrorContains(t, err, "module declares 1048576 locals in function 0: more than 50000")
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(4<<20), "bytes allocated by Load")
}
