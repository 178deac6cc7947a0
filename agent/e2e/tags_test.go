package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTags: the Logtail sidecar variables and the agent's tags reach the
// records, as __tag__:<name> with Tags: true.
func TestTags(t *testing.T) {
	e := newEnv(t)
	out := filepath.Join(e.out, "tags.jsonl")
	e.writePipeline("tags.yaml", fmt.Sprintf(`inputs:
  - Type: input_file
    FilePaths: [%s/*.log]
    AppendingLogPositionMeta: true
flushers:
  - Type: flusher_file
    FilePath: %s
    Tags: true
`, e.logs, out))
	agent := e.start(
		"ALIYUN_LOGTAIL_USER_DEFINED_ID=my-group",
		"ALIYUN_LOG_ENV_TAGS=POD_NAME|POD_NAMESPACE",
		"POD_NAME=web-0", "POD_NAMESPACE=shop",
		"WASMTAIL_HOSTNAME=node-7",
	)
	require.NoError(t, os.WriteFile(filepath.Join(e.logs, "a.log"), []byte("one\ntwo\n"), 0o644))
	waitFor(t, 5*time.Second, "two records", func() bool { return countLines(out) == 2 })
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	var recs []map[string]string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r map[string]string
		require.NoError(t, json.Unmarshal([]byte(line), &r))
		recs = append(recs, r)
	}
	want := map[string]string{
		"content":                     "one",
		"__file_offset__":             "0",
		"__tag__:__path__":            filepath.Join(e.logs, "a.log"),
		"__tag__:__hostname__":        "node-7",
		"__tag__:__user_defined_id__": "my-group",
		"__tag__:POD_NAME":            "web-0",
		"__tag__:POD_NAMESPACE":       "shop",
	}
	for k, v := range want {
		assert.Equal(t, v, recs[0][k], k)
	}
	assert.NotEmpty(t, recs[0]["__tag__:__inode__"])
	assert.NotEmpty(t, recs[0]["__time__"])
	assert.Equal(t, "4", recs[1]["__file_offset__"])
	require.Equal(t, 0, agent.stop(t))
}

// TestProcessCommand: `wasmtail process` frames input as the pipeline's
// input would (multiline included) and prints JSON records.
func TestProcessCommand(t *testing.T) {
	e := newEnv(t)
	e.writePipeline("java.yaml", `inputs:
  - Type: input_file
    FilePaths: [/var/log/app/*.log]
    Multiline:
      StartPattern: '\[\d+-\d+-\w+:\d+:\d+.\d+]\s\[\w+]\s.*'
flushers:
  - Type: flusher_stdout
    OnlyStdout: true
`)
	input := "[2022-07-07T10:43:27.360266763] [INFO] java.lang.Exception: exception happened\n" +
		"    at com.aliyun.sls.devops.logGenerator.type.RegexMultiLog.f2(RegexMultiLog.java:108)\n" +
		"    at java.base/java.lang.Thread.run(Thread.java:833)\n" +
		"[2022-07-07T10:43:28.000000000] [WARN] second\n"
	cmd := exec.Command(binary, "process", "--pipeline", filepath.Join(e.pipelines, "java.yaml"))
	cmd.Stdin = strings.NewReader(input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	require.Len(t, lines, 2, stdout.String())
	var first map[string]string
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &first))
	assert.Equal(t, strings.Join(strings.Split(input, "\n")[:3], "\n"), first["content"])
	assert.NotEmpty(t, first["__time__"])
}

// TestProcessContainerLogs: `wasmtail process` decodes container logs as the
// agent does (P parts joined, _time_ and _source_).
func TestProcessContainerLogs(t *testing.T) {
	e := newEnv(t)
	e.writePipeline("k8s.yaml", "inputs:\n  - Type: input_container_stdio\nflushers:\n  - Type: flusher_stdout\n")
	cmd := exec.Command(binary, "process", "--pipeline", filepath.Join(e.pipelines, "k8s.yaml"))
	cmd.Stdin = strings.NewReader("2026-11-26T10:00:00Z stdout P a\n2026-11-26T10:00:00Z stdout F b\n2026-11-26T10:00:01Z stderr F c")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	require.Len(t, lines, 2, stdout.String())
	var r0, r1 map[string]string
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &r0))
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &r1))
	assert.Equal(t, "ab", r0["content"])
	assert.Equal(t, "stdout", r0["_source_"])
	assert.Equal(t, "c", r1["content"], "the last line without its newline is handed on")
	assert.Equal(t, "stderr", r1["_source_"])
}
