package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestExitWhenFile is the classic sidecar of a Job (deploy/kubernetes/
// sidecar-job-classic.yaml): the application writes its lines, the last
// ones in a burst, then creates the exit file; the agent delivers every
// line and exits 0 on its own, so the Job completes.
func TestExitWhenFile(t *testing.T) {
	e := newEnv(t)
	out := filepath.Join(e.out, "out.jsonl")
	e.writePipeline("app.yaml", fmt.Sprintf(`inputs:
  - Type: input_file
    FilePaths: [%s/*.log]
flushers:
  - Type: flusher_file
    FilePath: %s
    MaxFileSize: 0
`, e.logs, out))
	done := filepath.Join(e.logs, ".done")
	agent := e.start("WASMTAIL_EXIT_WHEN_FILE=" + done)

	const n, burst = 20000, 5000
	f, err := os.Create(filepath.Join(e.logs, "app.log"))
	require.NoError(t, err)
	line := func(i int) string { return fmt.Sprintf("line %06d of the job", i) }
	for i := range n - burst {
		_, err := fmt.Fprintln(f, line(i))
		require.NoError(t, err)
		if i%1000 == 999 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The agent sees nothing to stop for yet.
	time.Sleep(time.Second)
	select {
	case <-agent.done:
		t.Fatalf("agent exited before the exit file appeared: %s", agent.stderr.String())
	default:
	}
	var buf []byte
	for i := n - burst; i < n; i++ {
		buf = fmt.Appendf(buf, "%s\n", line(i))
	}
	_, err = f.Write(buf)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, os.WriteFile(done, nil, 0o644))

	select {
	case <-agent.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("agent still running 20s after the exit file appeared: %s", agent.stderr.String())
	}
	require.Equal(t, 0, agent.cmd.ProcessState.ExitCode(), agent.stderr.String())
	require.Contains(t, agent.stderr.String(), "exit file appeared")

	got := readOutput(t, out)
	seen := make([]int, n)
	for _, c := range got {
		var i int
		_, err := fmt.Sscanf(c, "line %06d of the job", &i)
		require.NoError(t, err, "unexpected record %q", c)
		seen[i]++
	}
	for i, c := range seen {
		require.Equal(t, 1, c, "line %d delivered %d times", i, c)
	}
}
