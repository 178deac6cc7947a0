package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestValidate: a misspelt key or an unknown Type makes `wasmtail validate`
// exit 1 naming the file, the plugin and the key; a good file passes.
func TestValidate(t *testing.T) {
	e := newEnv(t)
	e.writePipeline("typo.yaml", fmt.Sprintf("inputs:\n  - Type: input_file\n    FilePath: [%s/*.log]\nflushers:\n  - Type: flusher_blackhole\n", e.logs))
	e.writePipeline("unknown.yaml", fmt.Sprintf("inputs:\n  - Type: input_file\n    FilePaths: [%s/*.log]\nprocessors:\n  - Type: processor_parse_regexx\nflushers:\n  - Type: flusher_blackhole\n", e.logs))
	e.writePipeline("good.yaml", fmt.Sprintf("inputs:\n  - Type: input_file\n    FilePaths: [%s/*.log]\nflushers:\n  - Type: flusher_blackhole\n", e.logs))

	tests := []struct {
		name     string
		args     []string
		code     int
		stderr   []string
		stdoutOK string
	}{
		{"misspelt key", []string{filepath.Join(e.pipelines, "typo.yaml")}, 1,
			[]string{"typo.yaml", "inputs[0] (input_file)", `unknown key "FilePath"`, `did you mean "FilePaths"`}, ""},
		{"unknown type", []string{filepath.Join(e.pipelines, "unknown.yaml")}, 1,
			[]string{"unknown.yaml", "processors[0]", "processor_parse_regexx"}, ""},
		{"good file", []string{filepath.Join(e.pipelines, "good.yaml")}, 0, nil, "good.yaml"},
		{"folder with one bad file", []string{e.pipelines}, 1, []string{"typo.yaml", "unknown.yaml"}, "good.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(binary, append([]string{"validate"}, tt.args...)...)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			_ = cmd.Run()
			assert.Equal(t, tt.code, cmd.ProcessState.ExitCode(), "exit code; stderr: %s", stderr.String())
			for _, s := range tt.stderr {
				assert.Contains(t, stderr.String(), s)
			}
			if tt.stdoutOK != "" {
				assert.Contains(t, stdout.String(), tt.stdoutOK)
			}
		})
	}
}

// TestBadPipelineDoesNotStopOthers: at run time, a pipeline file that fails
// to load is reported (log, /readyz, metric) and the other pipelines run.
func TestBadPipelineDoesNotStopOthers(t *testing.T) {
	e := newEnv(t)
	out := filepath.Join(e.out, "good.jsonl")
	e.writePipeline("bad.yaml", fmt.Sprintf("inputs:\n  - Type: input_file\n    FilePaths: [%s/*.log]\n    MaxDirSearchDepht: 2\nflushers:\n  - Type: flusher_blackhole\n", e.logs))
	e.writePipeline("good.yaml", fmt.Sprintf("inputs:\n  - Type: input_file\n    FilePaths: [%s/*.log]\nflushers:\n  - Type: flusher_file\n    FilePath: %s\n", e.logs, out))
	agent := e.start()
	require.NoError(t, os.WriteFile(filepath.Join(e.logs, "a.log"), []byte("hello\n"), 0o644))
	waitFor(t, 5*time.Second, "the good pipeline's record", func() bool { return countLines(out) == 1 })
	assert.Equal(t, []string{"hello"}, readOutput(t, out))

	resp, err := http.Get("http://" + agent.http + "/readyz")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, string(body), `"running":["good"]`)
	assert.Contains(t, string(body), `MaxDirSearchDepht`)
	assert.Contains(t, agent.metrics(t), `wasmtail_pipeline_config_errors_total{pipeline="bad"} 1`)
	assert.Contains(t, agent.stderr.String(), "bad.yaml")
	require.Equal(t, 0, agent.stop(t))
}

// TestAgentSettingsReload: the log level changes while the agent runs; a
// key that needs a restart says so; a broken file changes nothing.
func TestAgentSettingsReload(t *testing.T) {
	e := newEnv(t)
	cfgFile := filepath.Join(e.root, "agent.yaml")
	require.NoError(t, os.WriteFile(cfgFile, []byte("log_level: info\nscan_interval: 200ms\n"), 0o644))
	agent := e.startCmd(exec.Command(binary, "run", "--config", cfgFile))
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, os.WriteFile(cfgFile, []byte("log_level: debug\nscan_interval: 200ms\n"), 0o644))
	waitFor(t, 5*time.Second, "log level reloaded", func() bool {
		return strings.Contains(agent.stderr.String(), `msg="agent setting reloaded" key=log_level value=debug`)
	})
	require.NoError(t, os.WriteFile(cfgFile, []byte("log_level: debug\nscan_interval: 300ms\n"), 0o644))
	waitFor(t, 5*time.Second, "restart needed", func() bool {
		return strings.Contains(agent.stderr.String(), `needs a restart to apply" key=scan_interval`)
	})
	require.NoError(t, os.WriteFile(cfgFile, []byte("log_levle: warn\n"), 0o644))
	waitFor(t, 5*time.Second, "broken file refused", func() bool {
		return strings.Contains(agent.stderr.String(), "agent config not reloaded")
	})
	assert.Contains(t, agent.stderr.String(), "log_levle")
	require.Equal(t, 0, agent.stop(t))
}
