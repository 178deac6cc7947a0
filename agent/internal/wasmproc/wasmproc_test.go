package wasmproc_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/agent/internal/batch"
	"github.com/wasmtail/wasmtail/agent/internal/config"
	"github.com/wasmtail/wasmtail/agent/internal/wasmproc"
	"github.com/wasmtail/wasmtail/examples/logfmt"
	"github.com/wasmtail/wasmtail/examples/nginx"
	"github.com/wasmtail/wasmtail/sdk"
)

func TestConfigErrors(t *testing.T) {
	e := newEnv(t)
	identity := filepath.Join(repo, "runtime", "testdata", "identity.wasm")
	tests := []struct {
		name   string
		params map[string]any
		want   string
	}{
		{"missing module", map[string]any{}, "Module: required"},
		{"typo", map[string]any{"Module": identity, "TimeoutMS": 5}, "TimeoutMS: unknown key"},
		{"module not a string", map[string]any{"Module": 3}, "Module: want a string, got a number"},
		{"config not a map", map[string]any{"Module": identity, "Config": "x"}, "Config: want a map, got a string"},
		{"timeout zero", map[string]any{"Module": identity, "TimeoutMs": 0}, "TimeoutMs: want 1 to 60000, got 0"},
		{"timeout fraction", map[string]any{"Module": identity, "TimeoutMs": 1.5}, "TimeoutMs: want an integer, got 1.5"},
		{"memory too big", map[string]any{"Module": identity, "MemoryLimitMB": 5000}, "MemoryLimitMB: want 1 to 2048, got 5000"},
		{"no such file", map[string]any{"Module": "nope/none.wasm"}, `Module "nope/none.wasm": `},
		{"no such file", map[string]any{"Module": "nope/none.wasm"}, "nope/none.wasm: no such file"},
		{"not a module folder", map[string]any{"Module": "/etc/passwd"}, "outside the folders modules are read from"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.reg.Build(config.Plugin{Type: wasmproc.Type, Params: tt.params})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestModulePath(t *testing.T) {
	tests := []struct{ dir, module, want string }{
		{"/m", "logfmt", "/m/logfmt.wasm"},
		{"/m", "logfmt.wasm", "/m/logfmt.wasm"},
		{"", "logfmt", wasmproc.DefaultModulesDir + "/logfmt.wasm"},
		{"/m", "./x.wasm", "./x.wasm"},
		{"/m", "/abs/x.wasm", "/abs/x.wasm"},
	}
	for _, tt := range tests {
		if got := wasmproc.ModulePath(tt.dir, tt.module); got != tt.want {
			t.Errorf("ModulePath(%q, %q) = %q, want %q", tt.dir, tt.module, got, tt.want)
		}
	}
}

func TestIdentityKeepsRecords(t *testing.T) {
	e := newEnv(t)
	p := e.build(t, map[string]any{"Module": filepath.Join(repo, "runtime", "testdata", "identity.wasm")})
	b := newBatch("a", "", "c c c")
	want := dump(b.Records)
	require.NoError(t, p.Process(context.Background(), b))
	assert.Equal(t, want, dump(b.Records))
	assert.Empty(t, b.Extra, "identity output must point back into Buf, not be copied")
}

// nativeNginx runs the nginx parser natively, as a built-in would.
func nativeNginx(b *batch.Batch) {
	var sb sdk.Batch
	for _, r := range b.Records {
		fs := sb.Fields(len(r.Fields))
		for _, f := range r.Fields {
			fs = append(fs, sdk.Field{Key: f.Key, Value: f.Value})
		}
		sb.Records = append(sb.Records, sdk.Record{Sec: r.Sec, Nsec: r.Nsec, Fields: fs})
	}
	p := &sdk.Lines{Parser: nginx.Parser{}}
	if err := p.Init(nil); err != nil {
		panic(err)
	}
	if err := p.Process(&sb); err != nil {
		panic(err)
	}
	b.Records = b.Records[:0]
	for _, r := range sb.Records {
		fs := b.NewFields()
		for _, f := range r.Fields {
			fs = b.AppendField(fs, batch.Field{Key: f.Key, Value: f.Value})
		}
		b.Records = append(b.Records, batch.Record{Sec: r.Sec, Nsec: r.Nsec, Fields: fs})
	}
}

// TestGoAndCGuestsAgree: the nginx parser in Go (Wasm), in C (Wasm) and
// native Go give identical records, with several workers sharing each
// module's pool (run with -race).
func TestGoAndCGuestsAgree(t *testing.T) {
	e := newEnv(t)
	procs := map[string]*wasmproc.Processor{
		"go": e.build(t, map[string]any{"Module": filepath.Join(repo, "examples", "nginx", "nginx.wasm")}),
		"c":  e.build(t, map[string]any{"Module": filepath.Join(repo, "examples", "nginx", "c", "nginx.wasm")}),
	}
	lines := nginxLines(1000)
	nb := newBatch(lines...)
	nativeNginx(nb)
	want := dump(nb.Records)
	assert.Contains(t, want[0], `remote_addr="192.168.0.0"`)
	assert.Contains(t, want[13], `content="this is not an access line"`)
	assert.NotContains(t, want[7], "http_referer")

	var wg sync.WaitGroup
	for name, p := range procs {
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 10 {
					lo := (w*10 + i) * 17 % 700
					b := newBatch(lines[lo : lo+300]...)
					if !assert.NoError(t, p.Process(context.Background(), b)) {
						return
					}
					if !assert.Equal(t, want[lo:lo+300], dump(b.Records), name) {
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	assert.NotContains(t, e.logs.String(), "level=WARN")
}

// TestLogfmtWasmMatchesNative: the logfmt example compiled to Wasm gives
// the records the same Go code gives natively.
func TestLogfmtWasmMatchesNative(t *testing.T) {
	e := newEnv(t)
	cfg := map[string]any{"KeepContent": true, "Prefix": "app_"}
	p := e.build(t, map[string]any{"Module": filepath.Join(repo, "examples", "logfmt", "logfmt.wasm"), "Config": cfg})
	lines := []string{`level=info msg="hello \"you\"" n=1`, "no pairs here", `a=1 b= c="x y" d`, ""}
	b := newBatch(lines...)
	require.NoError(t, p.Process(context.Background(), b))

	var lp logfmt.Parser
	require.NoError(t, lp.Init([]byte(`{"KeepContent": true, "Prefix": "app_"}`)))
	nb := newBatch(lines...)
	var sb sdk.Batch
	for _, r := range nb.Records {
		sb.Records = append(sb.Records, sdk.Record{Sec: r.Sec, Nsec: r.Nsec, Fields: []sdk.Field{{Key: "content", Value: r.Fields[0].Value}}})
	}
	require.NoError(t, lp.Process(&sb))
	var want []batch.Record
	for _, r := range sb.Records {
		var fs []batch.Field
		for _, f := range r.Fields {
			fs = append(fs, batch.Field{Key: f.Key, Value: f.Value})
		}
		want = append(want, batch.Record{Sec: r.Sec, Nsec: r.Nsec, Fields: fs})
	}
	assert.Equal(t, dump(want), dump(b.Records))
	assert.Contains(t, dump(b.Records)[0], `app_msg="hello \"you\""`)
	assert.Contains(t, dump(b.Records)[2], `app_d=""`)
}

// TestOutputKeysReadEveryCall: a guest may put another key at the same
// address in its next answer (here the keys are the input's values, in
// the buffer the host reuses); each batch gets the keys it was given.
func TestOutputKeysReadEveryCall(t *testing.T) {
	e := newEnv(t)
	p := e.build(t, map[string]any{"Module": filepath.Join(repo, "runtime", "testdata", "valuekey.wasm")})
	for _, lines := range [][]string{{"aaa", "bbbb"}, {"ccc", "dddd"}, {"aaa", "bbbb"}} {
		b := newBatch(lines...)
		require.NoError(t, p.Process(context.Background(), b))
		want := []string{
			fmt.Sprintf("1700000003.123456789 %s=%q", lines[0], lines[0]),
			fmt.Sprintf("1700000004.123456789 %s=%q", lines[1], lines[1]),
		}
		require.Equal(t, want, dump(b.Records))
	}
}
