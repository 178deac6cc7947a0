package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Module files (issue 13): a FIFO, a device or a file outside the allowed
// folders named as a processor_wasm Module is refused at once, by
// `wasmtail validate` (exit 1) as by `wasmtail run` (which starts, runs the
// other pipelines and reports the refused one).

// moduleEnv is an env with a modules folder holding identity.wasm and a
// FIFO, fifo.wasm, and another folder holding identity.wasm too.
type moduleEnv struct {
	*env
	modules, other string
}

func newModuleEnv(t *testing.T) *moduleEnv {
	e := &moduleEnv{env: newEnv(t)}
	e.modules = filepath.Join(e.root, "modules")
	e.other = filepath.Join(e.root, "other")
	identity, err := os.ReadFile(filepath.Join("..", "..", "runtime", "testdata", "identity.wasm"))
	require.NoError(t, err)
	for _, d := range []string{e.modules, e.other} {
		require.NoError(t, os.MkdirAll(d, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(d, "identity.wasm"), identity, 0o644))
	}
	fifo := filepath.Join(e.modules, "fifo.wasm")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	t.Cleanup(func() { // release a reader blocked on it, if any
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	return e
}

func (e *moduleEnv) wasmPipeline(name, module string) {
	e.writePipeline(name+".yaml", fmt.Sprintf("inputs:\n  - Type: input_file\n    FilePaths: [%s/%s/*.log]\nprocessors:\n  - Type: processor_wasm\n    Module: %s\nflushers:\n  - Type: flusher_file\n    FilePath: %s/%s.jsonl\n",
		e.logs, name, module, e.out, name))
}

// validate runs `wasmtail validate` with env and returns its exit code and
// stderr; it must finish within 20 s.
func validate(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, binary, append([]string{"validate"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run()
	require.NoError(t, ctx.Err(), "wasmtail validate %v did not finish within 20s (blocked on a module file?)", args)
	return cmd.ProcessState.ExitCode(), stderr.String()
}

func TestValidateModulePath(t *testing.T) {
	e := newModuleEnv(t)
	e.wasmPipeline("fifo", "fifo")
	e.wasmPipeline("device", "/dev/zero")
	e.wasmPipeline("outside", filepath.Join(e.other, "identity.wasm"))
	e.wasmPipeline("good", "identity")
	env := []string{"WASMTAIL_MODULES=" + e.modules}
	tests := []struct {
		pipeline string
		want     []string
	}{
		{"fifo", []string{`Module "fifo"`, filepath.Join(e.modules, "fifo.wasm"), "not a regular file but a named pipe (FIFO)"}},
		{"device", []string{`Module "/dev/zero"`, "modules are never read from /dev, /proc or /sys"}},
		{"outside", []string{filepath.Join(e.other, "identity.wasm"), "outside the folders modules are read from (" + e.modules + ", /usr/lib/wasmtail/modules)"}},
	}
	for _, tt := range tests {
		t.Run(tt.pipeline, func(t *testing.T) {
			code, stderr := validate(t, env, filepath.Join(e.pipelines, tt.pipeline+".yaml"))
			assert.Equal(t, 1, code, "stderr: %s", stderr)
			for _, w := range append(tt.want, tt.pipeline+".yaml", "processors[0] (processor_wasm)",
				"put the module in the modules folder "+e.modules+" or add its folder to module_roots (WASMTAIL_MODULE_ROOTS)") {
				assert.Contains(t, stderr, w)
			}
		})
	}
	code, stderr := validate(t, env, filepath.Join(e.pipelines, "good.yaml"))
	assert.Equal(t, 0, code, "stderr: %s", stderr)
	// A folder given in WASMTAIL_MODULE_ROOTS is allowed; /dev never is.
	code, stderr = validate(t, append(env, "WASMTAIL_MODULE_ROOTS=/:"+e.other), filepath.Join(e.pipelines, "outside.yaml"))
	assert.Equal(t, 0, code, "stderr: %s", stderr)
	code, stderr = validate(t, append(env, "WASMTAIL_MODULE_ROOTS=/:"+e.other), filepath.Join(e.pipelines, "device.yaml"))
	assert.Equal(t, 1, code, "stderr: %s", stderr)
	assert.Contains(t, stderr, "modules are never read from /dev, /proc or /sys")
}

// TestRunWithFIFOModule: a pipeline naming a FIFO does not hold up the
// agent's start: it gets ready, the good pipeline delivers, /readyz names
// the refused one and why.
func TestRunWithFIFOModule(t *testing.T) {
	e := newModuleEnv(t)
	e.wasmPipeline("fifo", "fifo")
	e.wasmPipeline("good", "identity")
	for _, name := range []string{"fifo", "good"} {
		require.NoError(t, os.MkdirAll(filepath.Join(e.logs, name), 0o755))
	}
	// An agent still not ready after 30 s is killed, so that the test fails
	// rather than waits on /readyz for ever.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watchdog := time.AfterFunc(30*time.Second, cancel)
	agent := e.startCmd(exec.CommandContext(ctx, binary, "run"), "WASMTAIL_MODULES="+e.modules)
	watchdog.Stop()
	require.NoError(t, os.WriteFile(filepath.Join(e.logs, "good", "a.log"), []byte("hello\n"), 0o644))
	out := filepath.Join(e.out, "good.jsonl")
	waitFor(t, 10*time.Second, "the good pipeline's record", func() bool { return countLines(out) == 1 })
	assert.Equal(t, []string{"hello"}, readOutput(t, out))

	resp, err := http.Get("http://" + agent.http + "/readyz")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(body), "not a regular file but a named pipe (FIFO)")
	assert.Contains(t, agent.stderr.String(), "fifo.yaml")
	require.Equal(t, 0, agent.stop(t))
}

// TestRunRefusesRelativeModuleRoots: module_roots are absolute folders.
func TestRunRefusesRelativeModuleRoots(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "run")
	cmd.Env = append(os.Environ(), "WASMTAIL_PIPELINES="+e.pipelines, "WASMTAIL_DATA="+e.data, "WASMTAIL_HTTP=",
		"WASMTAIL_MODULE_ROOTS=/usr/lib/wasmtail/modules:modules")
	out, _ := cmd.CombinedOutput()
	assert.Equal(t, 1, cmd.ProcessState.ExitCode(), "%s", out)
	assert.True(t, strings.Contains(string(out), `module_roots: want absolute folders, got "modules"`), "%s", out)
}

// TestProcessReadsWorkingFolder: `wasmtail process`, where a user tries a
// module before shipping it, reads a module by a path under the working
// folder, and still refuses a device.
func TestProcessReadsWorkingFolder(t *testing.T) {
	e := newModuleEnv(t)
	e.wasmPipeline("here", "./identity.wasm")
	e.wasmPipeline("device", "/dev/zero")
	run := func(pl string) (int, string, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, binary, "process", "--pipeline", filepath.Join(e.pipelines, pl+".yaml"))
		cmd.Dir = e.other
		cmd.Stdin = strings.NewReader("a line\n")
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		_ = cmd.Run()
		require.NoError(t, ctx.Err(), "wasmtail process did not finish within 20s")
		return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
	}
	code, stdout, stderr := run("here")
	assert.Equal(t, 0, code, "stderr: %s", stderr)
	assert.Contains(t, stdout, `"content":"a line"`)
	code, _, stderr = run("device")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "modules are never read from /dev, /proc or /sys")
}
