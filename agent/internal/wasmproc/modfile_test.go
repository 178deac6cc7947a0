package wasmproc_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/agent/internal/config"
	"github.com/wasmtail/wasmtail/agent/internal/metrics"
	"github.com/wasmtail/wasmtail/agent/internal/pipeline"
	"github.com/wasmtail/wasmtail/agent/internal/wasmproc"
)

// Module files (issue 13): a Module value is read only from a regular file,
// of at most Options.MaxModuleBytes, found in the modules folder or under
// one of Options.ModuleRoots, never from /dev, /proc or /sys, and a refusal
// comes back at once as an error naming the path, the reason and what to do.

// pathEnv is processor_wasm with a modules folder of its own.
type pathEnv struct {
	dir  string // the modules folder
	reg  *pipeline.Registry
	mods *wasmproc.Modules
	logs *syncBuf
}

func newPathEnv(t *testing.T, opts wasmproc.Options) *pathEnv {
	t.Helper()
	e := &pathEnv{dir: opts.ModulesDir, reg: pipeline.NewRegistry(), logs: &syncBuf{}}
	if e.dir == "" {
		e.dir = t.TempDir()
	}
	opts.ModulesDir = e.dir
	opts.Runtime = sharedRT
	opts.Log = slog.New(slog.NewTextHandler(e.logs, nil))
	if opts.Metrics == nil {
		opts.Metrics = metrics.New()
	}
	e.mods = wasmproc.Register(e.reg, opts)
	t.Cleanup(e.mods.Close)
	return e
}

// build builds processor_wasm with Module: module and fails the test if that
// takes more than 5 s (a FIFO or a device must never block a build).
func (e *pathEnv) build(t *testing.T, module string) (*wasmproc.Processor, error) {
	t.Helper()
	type result struct {
		p   pipeline.Processor
		err error
	}
	done := make(chan result, 1)
	go func() {
		p, err := e.reg.Build(config.Plugin{Type: wasmproc.Type, Params: map[string]any{"Module": module}})
		done <- result{p, err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, r.err
		}
		wp := r.p.(*wasmproc.Processor)
		t.Cleanup(func() { _ = wp.Shutdown(context.Background()) })
		return wp, nil
	case <-ctx.Done():
		t.Fatalf("building processor_wasm with Module %q did not return within 5s", module)
		return nil, nil
	}
}

func identityWasm(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repo, "runtime", "testdata", "identity.wasm"))
	require.NoError(t, err)
	return b
}

// mkfifo makes a FIFO at path. A reader left blocked on it (by code that
// opens it without O_NONBLOCK) is released when the test ends.
func mkfifo(t *testing.T, path string) {
	t.Helper()
	require.NoError(t, syscall.Mkfifo(path, 0o644))
	t.Cleanup(func() {
		if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
}

// hint is what every refusal tells the user to do.
func hint(dir string) string {
	return "put the module in the modules folder " + dir + " or add its folder to module_roots"
}

func TestModuleFIFODoesNotBlock(t *testing.T) {
	e := newPathEnv(t, wasmproc.Options{})
	fifo := filepath.Join(e.dir, "fifo.wasm")
	mkfifo(t, fifo)
	for _, module := range []string{"fifo", fifo} {
		_, err := e.build(t, module)
		require.Error(t, err, module)
		assert.Contains(t, err.Error(), `Module "`+module+`"`)
		assert.Contains(t, err.Error(), fifo)
		assert.Contains(t, err.Error(), "not a regular file but a named pipe (FIFO)")
		assert.Contains(t, err.Error(), hint(e.dir))
	}
}

func TestModuleDevicesAndProcRefused(t *testing.T) {
	// Even with every folder allowed, /dev, /proc and /sys are not read.
	e := newPathEnv(t, wasmproc.Options{ModuleRoots: []string{"/"}})
	for _, module := range []string{"/dev/zero", "/dev/../dev/zero", "/proc/self/environ", "/proc/self/mem", "/sys/kernel/uevent_seqnum"} {
		_, err := e.build(t, module)
		require.Error(t, err, module)
		assert.Contains(t, err.Error(), "modules are never read from /dev, /proc or /sys", module)
	}
	// Through a symlink in the modules folder, with the default roots.
	e = newPathEnv(t, wasmproc.Options{})
	require.NoError(t, os.Symlink("/dev/zero", filepath.Join(e.dir, "zero.wasm")))
	_, err := e.build(t, "zero")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/dev/zero")
	assert.Contains(t, err.Error(), hint(e.dir))
}

func TestModuleOutsideRootsRefused(t *testing.T) {
	other := t.TempDir()
	module := filepath.Join(other, "identity.wasm")
	require.NoError(t, os.WriteFile(module, identityWasm(t), 0o644))

	e := newPathEnv(t, wasmproc.Options{})
	for _, m := range []string{module, filepath.Join(e.dir, "..", filepath.Base(other), "identity.wasm"), "/etc/passwd"} {
		_, err := e.build(t, m)
		require.Error(t, err, m)
		assert.Contains(t, err.Error(), "outside the folders modules are read from ("+e.dir+", "+wasmproc.BuiltinModulesDir+")", m)
		assert.Contains(t, err.Error(), hint(e.dir))
	}
	assert.NotContains(t, e.logs.String(), "sha256", "a refused file is not read")

	// A relative path is relative to the working folder, under the same rule.
	wd, err := os.Getwd()
	require.NoError(t, err)
	rel, err := filepath.Rel(wd, module)
	require.NoError(t, err)
	_, err = e.build(t, rel)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "outside the folders modules are read from")

	// Allowed once its folder is a root.
	e = newPathEnv(t, wasmproc.Options{ModuleRoots: []string{other}})
	p, err := e.build(t, module)
	require.NoError(t, err)
	require.NotNil(t, p.Module(), "loaded")
	_, err = e.build(t, rel)
	require.NoError(t, err)
	// An empty list leaves the modules folder only.
	e = newPathEnv(t, wasmproc.Options{ModuleRoots: []string{}})
	_, err = e.build(t, module)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "outside the folders modules are read from ("+e.dir+")")
}

func TestModuleSizeLimit(t *testing.T) {
	wasm := identityWasm(t)
	e := newPathEnv(t, wasmproc.Options{MaxModuleBytes: int64(len(wasm))})
	require.NoError(t, os.WriteFile(filepath.Join(e.dir, "ok.wasm"), wasm, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(e.dir, "big.wasm"), append(wasm, 0), 0o644))
	p, err := e.build(t, "ok")
	require.NoError(t, err)
	assert.NotNil(t, p.Module())
	_, err = e.build(t, "big")
	require.Error(t, err)
	assert.Contains(t, err.Error(), filepath.Join(e.dir, "big.wasm"))
	assert.Contains(t, err.Error(), "larger than the limit of "+strconv.Itoa(len(wasm))+" bytes for a module file")

	// The test vectors beside a module have the same limit.
	require.NoError(t, os.WriteFile(filepath.Join(e.dir, "ok"+wasmproc.TestsSuffix), bytes.Repeat([]byte("\n"), len(wasm)+1), 0o644))
	p, err = e.build(t, "ok")
	require.NoError(t, err)
	assert.Nil(t, p.Module(), "refused")
	assert.Contains(t, e.mods.Refused()["ok"], "larger than the limit")

	assert.Equal(t, int64(64<<20), int64(wasmproc.DefaultMaxModuleBytes))
}

func TestModuleSymlinkEscapeRefused(t *testing.T) {
	other := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(other, "identity.wasm"), identityWasm(t), 0o644))
	e := newPathEnv(t, wasmproc.Options{})
	require.NoError(t, os.Symlink(filepath.Join(other, "identity.wasm"), filepath.Join(e.dir, "evil.wasm")))
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(e.dir, "passwd.wasm")))
	require.NoError(t, os.Symlink(other, filepath.Join(e.dir, "sub")))
	for _, m := range []string{"evil", "passwd", filepath.Join(e.dir, "sub", "identity.wasm")} {
		_, err := e.build(t, m)
		require.Error(t, err, m)
		assert.Contains(t, err.Error(), "resolves to", m)
		assert.Contains(t, err.Error(), "outside the folders modules are read from", m)
		assert.Contains(t, err.Error(), hint(e.dir), m)
	}
	assert.NotContains(t, e.logs.String(), "sha256", "a refused file is not read")

	// Test vectors that escape refuse the module.
	require.NoError(t, os.WriteFile(filepath.Join(other, "v.jsonl"), []byte(`{"in": ["a"], "out": [{"content": "a"}]}`+"\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(e.dir, "id.wasm"), identityWasm(t), 0o644))
	require.NoError(t, os.Symlink(filepath.Join(other, "v.jsonl"), filepath.Join(e.dir, "id"+wasmproc.TestsSuffix)))
	p, err := e.build(t, "id")
	require.NoError(t, err)
	assert.Nil(t, p.Module())
	assert.Contains(t, e.mods.Refused()["id"], "outside the folders modules are read from")
}

// configMapDir lays out dir as the kubelet does a ConfigMap volume:
// dir/..<ts>/NAME, dir/..data -> ..<ts>, dir/NAME -> ..data/NAME.
func configMapDir(t *testing.T, dir, ts string, files map[string][]byte) {
	t.Helper()
	require.NoError(t, os.Mkdir(filepath.Join(dir, ts), 0o755))
	for name, b := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, ts, name), b, 0o644))
	}
	tmp := filepath.Join(dir, "..data_tmp")
	require.NoError(t, os.Symlink(ts, tmp))
	require.NoError(t, os.Rename(tmp, filepath.Join(dir, "..data")))
	for name := range files {
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); os.IsNotExist(err) {
			require.NoError(t, os.Symlink(filepath.Join("..data", name), link))
		}
	}
}

func TestModuleConfigMapLayoutAccepted(t *testing.T) {
	e := newPathEnv(t, wasmproc.Options{ReloadInterval: 20 * time.Millisecond})
	vectors := []byte(`{"in": ["a"], "out": [{"content": "a", "v": "1"}]}` + "\n")
	configMapDir(t, e.dir, "..2026_11_26_10_00_00.1", map[string][]byte{
		"tag.wasm": reloadModule(t, "tag1.wasm"), "tag" + wasmproc.TestsSuffix: vectors,
	})
	p, err := e.build(t, "tag")
	require.NoError(t, err)
	require.Equal(t, "v=1", version(t, p))
	p2, err := e.build(t, filepath.Join(e.dir, "tag.wasm"))
	require.NoError(t, err)
	require.Equal(t, "v=1", version(t, p2))
	assert.Empty(t, e.mods.Refused())

	// The kubelet's update is picked up by the hot reload.
	configMapDir(t, e.dir, "..2026_11_26_10_00_01.2", map[string][]byte{
		"tag.wasm":                   reloadModule(t, "tag2.wasm"),
		"tag" + wasmproc.TestsSuffix: []byte(`{"in": ["a"], "out": [{"content": "a", "v": "2"}]}` + "\n"),
	})
	waitUntil(t, "v2", func() bool { return version(t, p) == "v=2" && version(t, p2) == "v=2" })
	assert.Empty(t, e.mods.Refused())
}

func TestModuleBareNameInModulesFolder(t *testing.T) {
	e := newPathEnv(t, wasmproc.Options{ModuleRoots: []string{}})
	require.NoError(t, os.WriteFile(filepath.Join(e.dir, "identity.wasm"), identityWasm(t), 0o644))
	for _, m := range []string{"identity", "identity.wasm", filepath.Join(e.dir, "identity.wasm")} {
		p, err := e.build(t, m)
		require.NoError(t, err, m)
		assert.NotNil(t, p.Module(), m)
	}
	_, err := e.build(t, "none")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `Module "none": `+filepath.Join(e.dir, "none.wasm")+": no such file")
	assert.Contains(t, err.Error(), hint(e.dir))
	_, err = e.build(t, "..")
	require.Error(t, err)
}

// TestModuleTestVectorsFIFO: a FIFO in place of the test vectors neither
// blocks the build nor lets the module run.
func TestModuleTestVectorsFIFO(t *testing.T) {
	e := newPathEnv(t, wasmproc.Options{})
	require.NoError(t, os.WriteFile(filepath.Join(e.dir, "tag.wasm"), reloadModule(t, "tag1.wasm"), 0o644))
	mkfifo(t, filepath.Join(e.dir, "tag"+wasmproc.TestsSuffix))
	p, err := e.build(t, "tag")
	require.NoError(t, err)
	assert.Nil(t, p.Module())
	assert.Contains(t, e.mods.Refused()["tag"], "not a regular file but a named pipe (FIFO)")
}

// TestModuleReloadToFIFO: a module file replaced by a FIFO or a link to a
// device is refused by the hot reload without blocking it; the running
// version keeps serving and a good file is loaded again.
func TestModuleReloadToFIFO(t *testing.T) {
	e := newPathEnv(t, wasmproc.Options{ReloadInterval: 20 * time.Millisecond})
	path := filepath.Join(e.dir, "tag.wasm")
	require.NoError(t, os.WriteFile(path, reloadModule(t, "tag1.wasm"), 0o644))
	p, err := e.build(t, "tag")
	require.NoError(t, err)
	require.Equal(t, "v=1", version(t, p))

	fifo := filepath.Join(e.dir, "fifo.tmp")
	mkfifo(t, fifo)
	t.Cleanup(func() { // release a blocked reader at the FIFO's new name
		if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	require.NoError(t, os.Rename(fifo, path))
	waitUntil(t, "FIFO refused", func() bool {
		return strings.Contains(e.mods.Refused()["tag"], "not a regular file but a named pipe (FIFO)")
	})
	assert.Equal(t, "v=1", version(t, p))

	require.NoError(t, os.Remove(path))
	require.NoError(t, os.Symlink("/dev/zero", path))
	waitUntil(t, "device refused", func() bool {
		return strings.Contains(e.mods.Refused()["tag"], "/dev/zero")
	})
	assert.Equal(t, "v=1", version(t, p))

	tmp := filepath.Join(e.dir, "tag.tmp")
	require.NoError(t, os.WriteFile(tmp, reloadModule(t, "tag2.wasm"), 0o644))
	require.NoError(t, os.Rename(tmp, path))
	waitUntil(t, "v2", func() bool { return version(t, p) == "v=2" && len(e.mods.Refused()) == 0 })
	assert.Contains(t, e.logs.String(), "wasm module file refused: the running version keeps serving")
}
