package output

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/agent/internal/batch"
	"github.com/wasmtail/wasmtail/agent/internal/config"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     config.Flusher
		wantErr string
	}{
		{name: "stdout", cfg: config.Flusher{Type: TypeStdout, Stdout: &config.FlusherStdout{OnlyStdout: true}}},
		{name: "stdout without config", cfg: config.Flusher{Type: TypeStdout}},
		{name: "stdout to file", cfg: config.Flusher{Type: TypeStdout, Stdout: &config.FlusherStdout{FileName: "/tmp/x.log"}}},
		{name: "file", cfg: config.Flusher{Type: TypeFile, File: &config.FlusherFile{FilePath: "/tmp/x.log", MaxFileSize: 1, MaxFiles: 1}}},
		{name: "blackhole", cfg: config.Flusher{Type: TypeBlackhole}},
		{name: "typo", cfg: config.Flusher{Type: "flusher_stdot", Index: 2}, wantErr: `pipeline "p" flusher 2 (flusher_stdot): unknown flusher type "flusher_stdot"`},
		{name: "file without config", cfg: config.Flusher{Type: TypeFile}, wantErr: "missing config"},
		{name: "file without path", cfg: config.Flusher{Type: TypeFile, File: &config.FlusherFile{}}, wantErr: "FilePath is required"},
		{name: "negative size", cfg: config.Flusher{Type: TypeFile, File: &config.FlusherFile{FilePath: "x", MaxFileSize: -1}}, wantErr: "MaxFileSize -1 is negative"},
		{name: "negative files", cfg: config.Flusher{Type: TypeFile, File: &config.FlusherFile{FilePath: "x", MaxFiles: -1}}, wantErr: "MaxFiles -1 is negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := New(tc.cfg, Settings{Pipeline: "p"})
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.Nil(t, f)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, f)
			assert.NoError(t, f.Shutdown(context.Background()))
		})
	}
}

// TestLifecycle runs create→shutdown, create→start→export→shutdown and a
// double Shutdown for each flusher type.
func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	types := []struct {
		name   string
		cfg    func(dir string) config.Flusher
		output func(t *testing.T, dir string, stdout *bytes.Buffer) string // what was written
	}{
		{
			name: "stdout",
			cfg: func(string) config.Flusher {
				return config.Flusher{Type: TypeStdout, Stdout: &config.FlusherStdout{OnlyStdout: true, FileName: "ignored.log"}}
			},
			output: func(_ *testing.T, _ string, stdout *bytes.Buffer) string { return stdout.String() },
		},
		{
			name: "stdout_file",
			cfg: func(dir string) config.Flusher {
				return config.Flusher{Type: TypeStdout, Stdout: &config.FlusherStdout{FileName: filepath.Join(dir, "s.log")}}
			},
			output: readFile("s.log"),
		},
		{
			name: "file",
			cfg: func(dir string) config.Flusher {
				return config.Flusher{Type: TypeFile, File: &config.FlusherFile{FilePath: filepath.Join(dir, "f.log"), MaxFileSize: 1 << 20, MaxFiles: 2}}
			},
			output: readFile("f.log"),
		},
		{
			name: "blackhole",
			cfg:  func(string) config.Flusher { return config.Flusher{Type: TypeBlackhole} },
		},
	}
	b := newBatch(1657354763, []batch.Tag{{Key: "__path__", Value: "/a.log"}}, []kv{{"content", "hello"}}, []kv{{"content", "world"}})
	const want = `{"content":"hello","__time__":"1657354763"}` + "\n" + `{"content":"world","__time__":"1657354763"}` + "\n"

	for _, typ := range types {
		t.Run(typ.name, func(t *testing.T) {
			t.Run("create_shutdown", func(t *testing.T) {
				f, err := New(typ.cfg(t.TempDir()), Settings{Stdout: &bytes.Buffer{}})
				require.NoError(t, err)
				assert.NoError(t, f.Shutdown(ctx))
			})
			t.Run("create_start_export_shutdown", func(t *testing.T) {
				dir := t.TempDir()
				var stdout bytes.Buffer
				f, err := New(typ.cfg(dir), Settings{Stdout: &stdout})
				require.NoError(t, err)
				require.NoError(t, f.Start(ctx))
				require.NoError(t, f.Export(ctx, b))
				require.NoError(t, f.Export(ctx, &batch.Batch{})) // empty batch
				require.NoError(t, f.Shutdown(ctx))
				if typ.output != nil {
					assert.Equal(t, want, typ.output(t, dir, &stdout))
				}
			})
			t.Run("shutdown_twice", func(t *testing.T) {
				f, err := New(typ.cfg(t.TempDir()), Settings{Stdout: &bytes.Buffer{}})
				require.NoError(t, err)
				require.NoError(t, f.Start(ctx))
				assert.NoError(t, f.Shutdown(ctx))
				assert.NoError(t, f.Shutdown(ctx))
				if typ.name != "blackhole" {
					assert.ErrorIs(t, f.Export(ctx, b), ErrNotRunning, "Export after Shutdown")
				}
			})
			t.Run("canceled_context", func(t *testing.T) {
				f, err := New(typ.cfg(t.TempDir()), Settings{Stdout: &bytes.Buffer{}})
				require.NoError(t, err)
				require.NoError(t, f.Start(ctx))
				cctx, cancel := context.WithCancel(ctx)
				cancel()
				if typ.name != "blackhole" {
					assert.ErrorIs(t, f.Export(cctx, b), context.Canceled)
				}
				assert.NoError(t, f.Shutdown(ctx))
			})
		})
	}
}

func readFile(name string) func(t *testing.T, dir string, _ *bytes.Buffer) string {
	return func(t *testing.T, dir string, _ *bytes.Buffer) string {
		data, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		return string(data)
	}
}

func TestFileExportBeforeStart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "out.log")
	f := newFile(t, config.FlusherFile{FilePath: path})
	assert.ErrorIs(t, f.Export(ctx, newBatch(1, nil, []kv{{"content", "x"}})), ErrNotRunning)
	require.NoError(t, f.Shutdown(ctx))
	assert.ErrorIs(t, f.Start(ctx), ErrNotRunning, "Start after Shutdown")
	_, err := os.Stat(path)
	assert.ErrorIs(t, err, os.ErrNotExist, "file created without Start")
}

func TestStdoutTags(t *testing.T) {
	tests := []struct {
		name string
		tags bool
		want string
	}{
		{"tags_off", false, `{"content":"x","__time__":"5"}` + "\n"},
		{"tags_on", true, `{"content":"x","__time__":"5","__tag__:__path__":"/a.log","__tag__:__hostname__":"h"}` + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			f, err := New(config.Flusher{Type: TypeStdout, Stdout: &config.FlusherStdout{Tags: tc.tags}}, Settings{Stdout: &out})
			require.NoError(t, err)
			ctx := context.Background()
			require.NoError(t, f.Start(ctx))
			require.NoError(t, f.Export(ctx, newBatch(5, []batch.Tag{{Key: "__path__", Value: "/a.log"}, {Key: "__hostname__", Value: "h"}}, []kv{{"content", "x"}})))
			require.NoError(t, f.Shutdown(ctx))
			assert.Equal(t, tc.want, out.String())
		})
	}
}

func TestStdoutShutdownFlushes(t *testing.T) {
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	f, err := New(config.Flusher{Type: TypeStdout}, Settings{Stdout: w})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, f.Start(ctx))
	require.NoError(t, f.Export(ctx, newBatch(5, nil, []kv{{"content", "x"}})))
	assert.Zero(t, out.Len(), "written before Shutdown")
	require.NoError(t, f.Shutdown(ctx))
	assert.Equal(t, `{"content":"x","__time__":"5"}`+"\n", out.String())
}

// TestFileNonRegular checks that a device such as /dev/null (or /dev/stdout)
// can be the output file: it is neither trimmed nor rotated.
func TestFileNonRegular(t *testing.T) {
	if _, err := os.Stat(os.DevNull); err != nil {
		t.Skip(err)
	}
	ctx := context.Background()
	f := newFile(t, config.FlusherFile{FilePath: os.DevNull, MaxFileSize: 10, MaxFiles: 1})
	require.NoError(t, f.Start(ctx))
	for range 3 {
		require.NoError(t, f.Export(ctx, newBatch(1, nil, []kv{{"content", "more than ten bytes"}})))
	}
	require.NoError(t, f.Shutdown(ctx))
	_, err := os.Stat(os.DevNull + ".1")
	assert.ErrorIs(t, err, os.ErrNotExist)
}
