package e2e

import (
	"bytes"
	"fmt"
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

// nobody is the user the agent runs as in TestBadInput when the tests run
// as root, so that chmod 000 really makes a file unreadable to it.
const nobody = 65534

// TestBadInput feeds the agent what breaks log agents: a 50 MB line, binary
// data with NUL bytes, invalid UTF-8, a file it may not read and a
// directory whose name matches the pattern. The agent must keep running,
// say what happened in its log and counters, and deliver the other files
// untouched.
func TestBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	e := newEnv(t)
	outFile := filepath.Join(e.out, "out.jsonl")
	e.writePipeline("bad.yaml", fmt.Sprintf(`inputs:
  - Type: input_file
    FilePaths: [%s/*.log]
flushers:
  - Type: flusher_file
    FilePath: %s
    MaxFileSize: 0
`, e.logs, outFile))

	cmd := exec.Command(binary, "run")
	if os.Geteuid() == 0 {
		// Root reads anything; run the agent as nobody so chmod 000 bites.
		for d := e.root; d != "/"; d = filepath.Dir(d) {
			fi, err := os.Stat(d)
			require.NoError(t, err)
			if fi.Mode().Perm()&0o005 != 0o005 {
				require.NoError(t, os.Chmod(d, fi.Mode().Perm()|0o755))
			}
		}
		require.NoError(t, os.Chmod(filepath.Dir(binary), 0o755))
		for _, d := range []string{e.data, e.out} {
			require.NoError(t, os.Chown(d, nobody, nobody))
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	}
	agent := e.startCmd(cmd)

	// The files appear while the agent runs (files found at a pipeline's
	// very first start would be tailed, TailSizeKB).
	write := func(name string, data []byte, mode os.FileMode) {
		require.NoError(t, os.WriteFile(filepath.Join(e.logs, name), data, mode))
	}
	write("good.log", []byte("good 1\ngood 2\n"), 0o644)
	huge := bytes.Repeat([]byte("0123456789abcdef"), 50<<20/16) // 50 MiB, one line
	write("huge.log", append(append(huge, '\n'), "after huge\n"...), 0o644)
	write("binary.log", []byte("nul\x00inside\x00\nbad utf8 \xff\xfe\xc3(\nok é\n"), 0o644)
	write("secret.log", []byte("you may not read this\n"), 0o000)
	require.NoError(t, os.Mkdir(filepath.Join(e.logs, "dir.log"), 0o755))

	// Lines written after the bad input still flow.
	f, err := os.OpenFile(filepath.Join(e.logs, "good.log"), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("good 3\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())

	wantPieces := (len(huge) + 512<<10 - 1) / (512 << 10)
	want := 3 + wantPieces + 1 + 3
	waitFor(t, 30*time.Second, "every record", func() bool { return countLines(outFile) >= want })
	time.Sleep(300 * time.Millisecond)

	resp, err := http.Get("http://" + agent.http + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode, "agent still alive")

	got := readOutput(t, outFile)
	if len(got) != want {
		var short []string
		for _, c := range got {
			if len(c) != 512<<10 {
				short = append(short, fmt.Sprintf("%d:%.20q", len(c), c))
			}
		}
		t.Fatalf("got %d records, want %d: %v", len(got), want, short)
	}
	var goods, pieces []string
	var rebuilt strings.Builder
	for _, c := range got {
		switch {
		case strings.HasPrefix(c, "good "):
			goods = append(goods, c)
		case strings.HasPrefix(c, "0123"):
			pieces = append(pieces, c)
			rebuilt.WriteString(c)
		}
	}
	assert.Equal(t, []string{"good 1", "good 2", "good 3"}, goods)
	assert.Len(t, pieces, wantPieces, "the 50 MB line is split at 512 KiB")
	assert.True(t, string(huge) == rebuilt.String(), "the split pieces put together are the line")
	assert.Contains(t, got, "after huge")
	// Binary and invalid UTF-8 arrive as valid JSON: NUL escaped, bad bytes
	// as U+FFFD.
	assert.Contains(t, got, "nul\x00inside\x00")
	assert.Contains(t, got, "bad utf8 \ufffd\ufffd\ufffd(")
	assert.Contains(t, got, "ok é")
	for _, c := range got {
		assert.NotContains(t, c, "you may not read this")
	}

	m := agent.metrics(t)
	assert.Contains(t, m, `wasmtail_input_lines_split_total{pipeline="bad"} 1`)
	assert.Regexp(t, `wasmtail_input_errors_total\{pipeline="bad",reason="not_regular"\} [1-9]`, m)
	log := agent.stderr.String()
	assert.Contains(t, log, "dir.log", "the log names the directory")
	assert.Contains(t, log, "line longer than the bound")
	if os.Geteuid() != 0 || cmd.SysProcAttr != nil {
		assert.Regexp(t, `wasmtail_input_errors_total\{pipeline="bad",reason="unreadable"\} [1-9]`, m)
		assert.Regexp(t, `secret.log.*permission denied|permission denied.*secret.log`, log)
	}
	require.Equal(t, 0, agent.stop(t), "exit code; log:\n%s", log)
}
