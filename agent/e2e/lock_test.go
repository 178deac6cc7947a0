package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSecondAgentOnSameDataFolderIsRefused: two real agents on one data
// folder would both deliver everything (issue 12, mechanism 6). The second
// exits non-zero naming the folder and the first one's PID; the first
// keeps running; once it is gone (stopped, or killed with SIGKILL) an agent
// starts there again.
func TestSecondAgentOnSameDataFolderIsRefused(t *testing.T) {
	e := newEnv(t)
	first := e.start()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "run")
	cmd.Env = append(os.Environ(),
		"WASMTAIL_PIPELINES="+e.pipelines,
		"WASMTAIL_DATA="+e.data,
		"WASMTAIL_HTTP="+freePort(t),
	)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "the second agent must exit on its own, not run: %v\n%s", err, out)
	assert.NotEqual(t, 0, exit.ExitCode())
	assert.Contains(t, string(out), e.data, "names the folder")
	assert.Contains(t, string(out), fmt.Sprintf("pid %d", first.cmd.Process.Pid), "names the process that holds it")

	// The first one was not disturbed.
	assert.Contains(t, first.metrics(t), "wasmtail_pipelines")
	assert.Equal(t, 0, first.stop(t))

	// Free again after a clean stop, and after a SIGKILL (the kernel
	// releases the lock; the stale PID in the file does not matter).
	second := e.start()
	second.kill()
	third := e.start()
	assert.Equal(t, 0, third.stop(t))
}
