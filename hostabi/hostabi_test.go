package hostabi_test

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/hostabi"
)

// The example of ABI.md §3, byte for byte.
func TestEncodeDocExample(t *testing.T) {
	var e hostabi.Encoder
	e.AddRecord(1700000000, 500000000)
	e.AddField("content", []byte("a=1"))
	e.AddRecord(1700000000, 500000000)
	e.AddField("content", []byte("b"))
	require.Equal(t, 83, e.Size())
	buf := make([]byte, e.Size())
	const base = 0x10000
	e.Encode(buf, base)
	le := binary.LittleEndian
	assert.Equal(t, uint32(2), le.Uint32(buf[0:]))
	assert.Equal(t, uint32(2), le.Uint32(buf[4:]))
	assert.Equal(t, []byte{0x00, 0xf1, 0x53, 0x65, 0, 0, 0, 0, 0x00, 0x65, 0xcd, 0x1d, 1, 0, 0, 0}, buf[8:24])
	assert.Equal(t, []uint32{base + 72, 7, base + 79, 3}, []uint32{le.Uint32(buf[40:]), le.Uint32(buf[44:]), le.Uint32(buf[48:]), le.Uint32(buf[52:])})
	assert.Equal(t, []uint32{base + 72, 7, base + 82, 1}, []uint32{le.Uint32(buf[56:]), le.Uint32(buf[60:]), le.Uint32(buf[64:]), le.Uint32(buf[68:])})
	assert.Equal(t, "contenta=1b", string(buf[72:]))

	v, ok := e.Value(base+80, 2)
	require.True(t, ok)
	assert.Equal(t, "=1", string(v))
	_, ok = e.Value(base+81, 2) // spans two values
	assert.False(t, ok)
	k, ok := e.Key(base+72, 7)
	assert.True(t, ok)
	assert.Equal(t, "content", k)
}

func TestParseErrors(t *testing.T) {
	le := binary.LittleEndian
	// batch builds an output batch at address 64 in 256 bytes of memory.
	batch := func(count, nfields uint32, recFields []uint32, fields [][4]uint32) []byte {
		mem := make([]byte, 256)
		b := mem[64:]
		le.PutUint32(b, count)
		le.PutUint32(b[4:], nfields)
		o := 8
		for _, n := range recFields {
			le.PutUint32(b[o+12:], n)
			o += 16
		}
		for _, f := range fields {
			for i, x := range f {
				le.PutUint32(b[o+4*i:], x)
			}
			o += 16
		}
		return mem
	}
	ok := [4]uint32{200, 3, 210, 5}
	tests := []struct {
		name string
		mem  []byte
		ptr  uint32
		n    uint32
		want string
	}{
		{"outside", batch(1, 1, []uint32{1}, [][4]uint32{ok}), 250, 40, "outside memory"},
		{"huge length", batch(1, 1, []uint32{1}, [][4]uint32{ok}), 64, 0xffffffff, "outside memory"},
		{"unaligned", batch(1, 1, []uint32{1}, [][4]uint32{ok}), 60, 40, "aligned"},
		{"short", batch(0, 0, nil, nil), 64, 4, "shorter than its header"},
		{"too many records", batch(3, 0, []uint32{0, 0, 0}, nil), 64, 56, "more than the 2 allowed"},
		{"length mismatch", batch(1, 1, []uint32{1}, [][4]uint32{ok}), 64, 48, "length says 48"},
		{"field sum", batch(1, 2, []uint32{1}, [][4]uint32{ok, ok}), 64, 56, "records hold 1 fields, header says 2"},
		{"empty key", batch(1, 1, []uint32{1}, [][4]uint32{{200, 0, 210, 5}}), 64, 40, "key length 0"},
		{"key outside", batch(1, 1, []uint32{1}, [][4]uint32{{254, 3, 210, 5}}), 64, 40, "key [0xfe, +3) outside memory"},
		{"value outside", batch(1, 1, []uint32{1}, [][4]uint32{{200, 3, 250, 7}}), 64, 40, "value [0xfa, +7) outside memory"},
		{"value wraps", batch(1, 1, []uint32{1}, [][4]uint32{{200, 3, 0xfffffff0, 0x20}}), 64, 40, "outside memory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := hostabi.Parse(tt.mem, 0, tt.ptr, tt.n, 2)
			require.Error(t, err)
			assert.True(t, errors.Is(err, hostabi.ErrEncoding))
			assert.True(t, strings.Contains(err.Error(), tt.want), "got %q, want it to contain %q", err, tt.want)
		})
	}
	v, err := hostabi.Parse(batch(1, 1, []uint32{1}, [][4]uint32{ok}), 0, 64, 40, 2)
	require.NoError(t, err)
	assert.Equal(t, 1, v.Len())
	assert.Equal(t, hostabi.FieldRef{KeyPtr: 200, KeyLen: 3, ValPtr: 210, ValLen: 5}, v.Field(0))
	v, err = hostabi.Parse(nil, 0, 0, 0, 2)
	require.NoError(t, err)
	assert.Equal(t, 0, v.Len())
}
