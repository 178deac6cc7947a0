package runtime_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/hostabi"
	"github.com/wasmtail/wasmtail/runtime"
)

// rec is a decoded output record, for comparisons.
type rec struct {
	Sec    int64
	Nsec   int32
	Fields [][2]string
}

func readWasm(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash(path))
	require.NoError(t, err)
	return b
}

// syncBuf is a log destination tests can read while guests write to it.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newRuntime(t testing.TB) (*runtime.Runtime, *syncBuf) {
	t.Helper()
	logs := &syncBuf{}
	rt, err := runtime.New(context.Background(), runtime.Config{Log: slog.New(slog.NewTextHandler(logs, nil))})
	require.NoError(t, err)
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	return rt, logs
}

// load loads the module at path into rt; it is closed when the test ends
// (before rt, whose cleanup was registered first).
func load(t testing.TB, rt *runtime.Runtime, path string, cfg runtime.ModuleConfig) *runtime.Module {
	t.Helper()
	ctx := context.Background()
	m, err := rt.Load(ctx, readWasm(t, path), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close(ctx) })
	return m
}

func encodeLines(enc *hostabi.Encoder, lines ...string) {
	enc.Reset()
	for i, l := range lines {
		enc.AddRecord(1700000000+int64(i), 5)
		enc.AddField("content", []byte(l))
	}
}

// decode copies a View into recs.
func decode(v *hostabi.View) []rec {
	var out []rec
	j := 0
	for i := range v.Len() {
		h := v.Record(i)
		r := rec{Sec: h.Sec, Nsec: h.Nsec}
		for range h.NFields {
			f := v.Field(j)
			j++
			r.Fields = append(r.Fields, [2]string{string(v.Bytes(f.KeyPtr, f.KeyLen)), string(v.Bytes(f.ValPtr, f.ValLen))})
		}
		out = append(out, r)
	}
	return out
}

func lines(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("line %d level=info msg=hello", i)
	}
	return out
}
