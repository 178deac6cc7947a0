package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPipelineReload: pipeline files added, changed, broken and removed
// while the pipelines run. The others are not interrupted; the changed one
// loses and repeats nothing; a broken file leaves the running version.
func TestPipelineReload(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	e := newEnv(t)
	for _, d := range []string{"a", "b", "c"} {
		require.NoError(t, os.MkdirAll(filepath.Join(e.logs, d), 0o755))
	}
	pipelineYAML := func(name string, tags bool) string {
		return fmt.Sprintf("inputs:\n  - Type: input_file\n    FilePaths: [%s/%s/*.log]\nflushers:\n  - Type: flusher_file\n    FilePath: %s/%s.jsonl\n    Tags: %v\n",
			e.logs, name, e.out, name, tags)
	}
	e.writePipeline("a.yaml", pipelineYAML("a", false))
	e.writePipeline("b.yaml", pipelineYAML("b", false))
	agent := e.start("WASMTAIL_SCAN_INTERVAL=200ms")

	// Steady writers on a and b: 4,000 lines/s each for 4 s.
	const n = 16000
	var wg sync.WaitGroup
	for _, name := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := os.OpenFile(filepath.Join(e.logs, name, "app.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			start := time.Now()
			for i := 0; i < n; i += 40 {
				var sb strings.Builder
				for k := i; k < i+40; k++ {
					fmt.Fprintf(&sb, "%s %06d\n", name, k)
				}
				if _, err := f.WriteString(sb.String()); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(time.Until(start.Add(time.Duration(i+40) * 4 * time.Second / n)))
			}
		}()
	}
	reloadsOf := func(p, result string) string {
		return fmt.Sprintf(`wasmtail_pipeline_reloads_total{pipeline="%s",result="%s"}`, p, result)
	}
	step := func(d time.Duration) { time.Sleep(d) }

	step(500 * time.Millisecond)
	// Change a (tags on): replaced without loss or repeat.
	e.writePipeline("a.yaml", pipelineYAML("a", true))
	waitFor(t, 5*time.Second, "a reloaded", func() bool { return strings.Contains(agent.metrics(t), reloadsOf("a", "ok")+" 1") })
	// Break b: the running b stays.
	e.writePipeline("b.yaml", "inputs:\n  - Type: input_file\n    FilePathz: [x]\n")
	waitFor(t, 5*time.Second, "b refused", func() bool { return strings.Contains(agent.metrics(t), reloadsOf("b", "error")+" 1") })
	// Add c, feed it, then remove it.
	require.NoError(t, os.WriteFile(filepath.Join(e.logs, "c", "app.log"), []byte("c 1\nc 2\n"), 0o644))
	e.writePipeline("c.yaml", pipelineYAML("c", false))
	waitFor(t, 5*time.Second, "c's records", func() bool { return countLines(filepath.Join(e.out, "c.jsonl")) == 2 })
	require.NoError(t, os.Remove(filepath.Join(e.pipelines, "c.yaml")))
	waitFor(t, 5*time.Second, "c removed", func() bool { return strings.Contains(agent.metrics(t), reloadsOf("c", "removed")+" 1") })
	// Change a again, mid-stream.
	e.writePipeline("a.yaml", pipelineYAML("a", false))
	waitFor(t, 5*time.Second, "a reloaded again", func() bool { return strings.Contains(agent.metrics(t), reloadsOf("a", "ok")+" 2") })
	wg.Wait()

	for _, name := range []string{"a", "b"} {
		out := filepath.Join(e.out, name+".jsonl")
		waitFor(t, 10*time.Second, name+": every line", func() bool { return countLines(out) >= n })
		time.Sleep(300 * time.Millisecond)
		seen := map[int]int{}
		for _, c := range readOutput(t, out) {
			parts := strings.Fields(c)
			require.Len(t, parts, 2, "whole line %q", c)
			i, err := strconv.Atoi(parts[1])
			require.NoError(t, err)
			seen[i]++
		}
		for i := range n {
			if seen[i] != 1 {
				t.Errorf("%s: line %d delivered %d times, want exactly once", name, i, seen[i])
				break
			}
		}
		assert.Len(t, seen, n)
	}
	m := agent.metrics(t)
	assert.Contains(t, m, `wasmtail_pipeline_config_info{pipeline="a",sha256=`)
	assert.NotContains(t, m, `wasmtail_pipeline_config_info{pipeline="c"`)
	assert.Contains(t, agent.stderr.String(), "the running version stays")
	require.Equal(t, 0, agent.stop(t))
}
