package sdk_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/wasmtail/wasmtail/sdk"
)

func TestBatchArenas(t *testing.T) {
	var b sdk.Batch
	x := b.Alloc(3)
	copy(x, "abc")
	y := b.Append([]byte("de"), []byte("f"))
	assert.Equal(t, "abc", string(x), "a later Alloc must not overwrite an earlier one")
	assert.Equal(t, "def", string(y))
	big := b.Alloc(100 << 10)
	assert.Len(t, big, 100<<10)
	assert.Equal(t, "abc", string(x))

	f1 := b.Fields(2)
	f1 = append(f1, sdk.Field{Key: "a"}, sdk.Field{Key: "b"})
	f2 := b.Fields(1)
	f2 = append(f2, sdk.Field{Key: "c"})
	f1 = append(f1, sdk.Field{Key: "overflow"}) // past its room: reallocates, f2 untouched
	assert.Equal(t, "c", f2[0].Key)
	assert.Equal(t, "overflow", f1[2].Key)

	var got []int
	b.Allocator = func(n int) []byte { got = append(got, n); return make([]byte, n) }
	b.Alloc(7)
	assert.Equal(t, []int{7}, got)
	b.Reset()
	assert.Empty(t, b.Records)
}
