package words_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/hostabi"
	"github.com/wasmtail/wasmtail/runtime"
	"github.com/wasmtail/wasmtail/sdk"
	"github.com/wasmtail/wasmtail/sdk/internal/words"
)

// batchOf makes batch number n: records of one to three fields, most with
// a content to parse, of every kind the words parser knows.
func batchOf(n int) []sdk.Record {
	lines := []string{
		"a b c d e", "x UP", "skip this", "neg x", "all a b c", "one UP two NEW",
		"CONST EMPTY z", "", "w%d NEW", "%d UP NEW CONST", "word%d",
	}
	recs := make([]sdk.Record, 0, 300)
	for i := range 300 {
		line := lines[(i+n)%len(lines)]
		if strings.Contains(line, "%d") {
			line = fmt.Sprintf(line, i*7+n)
		}
		r := sdk.Record{Sec: int64(1700000000 + i), Nsec: int32(n)}
		switch i % 5 {
		case 1:
			r.Fields = append(r.Fields, sdk.Field{Key: "host", Value: []byte("h")})
		case 2:
			r.Fields = append(r.Fields, sdk.Field{Key: "host", Value: []byte("h")}, sdk.Field{Key: "content", Value: []byte(line)}, sdk.Field{Key: "path", Value: []byte("/p")})
			recs = append(recs, r)
			continue
		case 3:
			r.Fields = append(r.Fields, sdk.Field{Key: "other", Value: []byte(line)})
			recs = append(recs, r)
			continue
		}
		r.Fields = append(r.Fields, sdk.Field{Key: "content", Value: []byte(line)})
		recs = append(recs, r)
	}
	return recs
}

func dump(recs []sdk.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		var sb strings.Builder
		fmt.Fprintf(&sb, "%d.%d", r.Sec, r.Nsec)
		for _, f := range r.Fields {
			fmt.Fprintf(&sb, " %s=%q", f.Key, f.Value)
		}
		out[i] = sb.String()
	}
	return out
}

// TestModuleMatchesNative: words.wasm, which takes the SDK's fast path for
// a Lines, gives the records that Lines.Process gives natively, over
// batches that reuse the module's memory and make its GC run while values
// it copied wait in its memory for the host.
func TestModuleMatchesNative(t *testing.T) {
	ctx := context.Background()
	rt, err := runtime.New(ctx, runtime.Config{})
	require.NoError(t, err)
	defer rt.Close(ctx)
	wasm, err := os.ReadFile("words.wasm")
	require.NoError(t, err)
	m, err := rt.Load(ctx, wasm, runtime.ModuleConfig{Name: "words"})
	require.NoError(t, err)
	defer m.Close(ctx)

	native := &sdk.Lines{Parser: &words.Parser{}}
	require.NoError(t, native.Init(nil))
	seen := map[string]bool{}
	for n := range 40 {
		in := batchOf(n)
		var enc hostabi.Encoder
		for _, r := range in {
			enc.AddRecord(r.Sec, r.Nsec)
			for _, f := range r.Fields {
				enc.AddField(f.Key, f.Value)
			}
		}
		var got []sdk.Record
		traps, err := m.Process(ctx, &enc, func(v *hostabi.View) {
			j := 0
			for i := range v.Len() {
				h := v.Record(i)
				r := sdk.Record{Sec: h.Sec, Nsec: h.Nsec}
				for range h.NFields {
					f := v.Field(j)
					j++
					val, ok := enc.Value(f.ValPtr, f.ValLen)
					if !ok {
						val = v.Bytes(f.ValPtr, f.ValLen)
					}
					key := string(v.Bytes(f.KeyPtr, f.KeyLen))
					if _, input := enc.Key(f.KeyPtr, f.KeyLen); !input && !slices.Contains(words.Keys, key) {
						// The fast path hands a field it keeps back as the
						// host wrote it; the Processor path would re-intern
						// its key in the guest's heap.
						t.Errorf("batch %d: key %q not at the host's address: not the Lines fast path", n, key)
					}
					r.Fields = append(r.Fields, sdk.Field{Key: key, Value: append([]byte{}, val...)})
				}
				got = append(got, r)
			}
		})
		require.NoError(t, err)
		require.Zero(t, traps)

		b := sdk.Batch{Records: in}
		require.NoError(t, native.Process(&b))
		want := dump(b.Records)
		require.Equal(t, want, dump(got), "batch %d", n)
		for _, s := range want {
			for _, w := range []string{`w2="new:`, `w1="constant"`, `w2=""`, `host="h" path="/p" w1=`, `other=`, `content="skip this"`} {
				seen[w] = seen[w] || strings.Contains(s, w)
			}
		}
	}
	for w, ok := range seen {
		assert.True(t, ok, "no record with %s: the batches miss a case", w)
	}
}
