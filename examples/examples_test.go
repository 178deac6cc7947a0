// Package examples_test runs every example the way examples/README.md
// tells a new user to: the real wasmtail binary, `wasmtail process
// --pipeline examples/<name>/pipeline.yaml examples/<name>/sample.log`,
// compared with examples/<name>/expected.jsonl (without __time__, which is
// the time the lines were read).
package examples_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite expected.jsonl from the current output")

func TestProcessExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the agent")
	}
	bin := filepath.Join(t.TempDir(), "wasmtail")
	build := exec.Command("go", "build", "-o", bin, "./agent/cmd/wasmtail")
	build.Dir = ".."
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	for _, name := range []string{"logfmt", "filter", "nginx"} {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(bin, "process", "--pipeline", "examples/"+name+"/pipeline.yaml", "examples/"+name+"/sample.log")
			cmd.Dir = ".."
			cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+t.TempDir())
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			require.NoError(t, cmd.Run(), "stderr: %s", stderr.String())
			assert.NotContains(t, stderr.String(), "level=WARN")
			assert.NotContains(t, stderr.String(), "ERROR")
			got := withoutTime(t, stdout.Bytes())
			golden := filepath.Join(name, "expected.jsonl")
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			assert.Equal(t, string(want), got)
			assert.NotContains(t, got, "__wasm_error__")
		})
	}
}

// withoutTime drops __time__ from each JSON line, keeping key order.
func withoutTime(t *testing.T, out []byte) string {
	var sb strings.Builder
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		require.True(t, json.Valid(line), "not JSON: %s", line)
		i := bytes.Index(line, []byte(`,"__time__":"`))
		require.GreaterOrEqual(t, i, 0, "no __time__: %s", line)
		j := bytes.IndexByte(line[i+13:], '"')
		sb.Write(line[:i])
		sb.Write(line[i+13+j+1:])
		sb.WriteByte('\n')
	}
	return sb.String()
}
