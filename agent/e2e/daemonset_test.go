package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDaemonSetContainerLogs runs the agent as the DaemonSet does, over a
// generated /var/log/pods tree in CRI format: long messages split into P
// parts, both streams, a kubelet-style rotation (0.log renamed to
// 0.log.<time>, a new 0.log). Every record must be one whole message with
// its pod's tags; the filters must select the right containers.
func TestDaemonSetContainerLogs(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	e := newEnv(t)
	pods := filepath.Join(e.root, "var", "log", "pods")
	out := filepath.Join(e.out, "k8s.jsonl")
	e.writePipeline("k8s.yaml", fmt.Sprintf(`inputs:
  - Type: input_container_stdio
    LogsRoot: %s
    IgnoringStdout: false
    IgnoringStderr: false
    ContainerFilters:
      K8sNamespaceRegex: ^(shop|default)$
      K8sContainerRegex: ^(web|worker)$
flushers:
  - Type: flusher_file
    FilePath: %s
    Tags: true
`, pods, out))
	agent := e.start()

	type ctr struct{ ns, pod, uid, name string }
	collected := []ctr{{"shop", "web-7d4b9c-x1", "11111111-aaaa", "web"}, {"default", "jobs-0", "22222222-bbbb", "worker"}}
	ignored := []ctr{{"shop", "web-7d4b9c-x1", "11111111-aaaa", "istio-proxy"}, {"kube-system", "coredns-1", "33333333-cccc", "web"}}
	logPath := func(c ctr) string {
		return filepath.Join(pods, fmt.Sprintf("%s_%s_%s", c.ns, c.pod, c.uid), c.name, "0.log")
	}
	const perCtr = 3000
	write := func(c ctr, from, to int) {
		require.NoError(t, os.MkdirAll(filepath.Dir(logPath(c)), 0o755))
		f, err := os.OpenFile(logPath(c), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		require.NoError(t, err)
		defer f.Close()
		var sb strings.Builder
		for i := from; i < to; i++ {
			ts := time.Date(2026, 11, 26, 10, 0, 0, i, time.UTC).Format(time.RFC3339Nano)
			stream := "stdout"
			if i%3 == 0 {
				stream = "stderr"
			}
			msg := fmt.Sprintf("%s/%s msg %05d", c.pod, c.name, i)
			if i%10 == 0 {
				// A long message, split by the runtime into three parts.
				fmt.Fprintf(&sb, "%s %s P %s part-a|\n%s %s P part-b|\n%s %s F part-c\n", ts, stream, msg, ts, stream, ts, stream)
				continue
			}
			fmt.Fprintf(&sb, "%s %s F %s\n", ts, stream, msg)
		}
		_, err = f.WriteString(sb.String())
		require.NoError(t, err)
	}
	for _, c := range append(append([]ctr{}, collected...), ignored...) {
		write(c, 0, perCtr/2)
	}
	// Kubelet rotation: rename 0.log away, then a new 0.log.
	time.Sleep(200 * time.Millisecond)
	for _, c := range collected {
		require.NoError(t, os.Rename(logPath(c), logPath(c)+".20261126-100000"))
		write(c, perCtr/2, perCtr)
	}
	want := perCtr * len(collected)
	waitFor(t, 20*time.Second, "every message", func() bool { return countLines(out) >= want })
	time.Sleep(500 * time.Millisecond)

	data, err := os.ReadFile(out)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	require.Len(t, lines, want, "records (the ignored containers must not appear)")
	seen := map[string]bool{}
	for _, line := range lines {
		var r map[string]string
		require.NoError(t, json.Unmarshal([]byte(line), &r))
		var c ctr
		for _, cc := range collected {
			if strings.HasPrefix(r["content"], cc.pod+"/"+cc.name+" ") {
				c = cc
			}
		}
		require.NotEmpty(t, c.name, "record from an unselected container: %s", line)
		assert.Equal(t, c.ns, r["__tag__:_namespace_"])
		assert.Equal(t, c.pod, r["__tag__:_pod_name_"])
		assert.Equal(t, c.uid, r["__tag__:_pod_uid_"])
		assert.Equal(t, c.name, r["__tag__:_container_name_"])
		var i int
		_, err := fmt.Sscanf(r["content"][len(c.pod)+len(c.name)+2:], "msg %d", &i)
		require.NoError(t, err, r["content"])
		if i%10 == 0 {
			assert.True(t, strings.HasSuffix(r["content"], " part-a|part-b|part-c"), "P parts joined: %q", r["content"])
		}
		wantStream := "stdout"
		if i%3 == 0 {
			wantStream = "stderr"
		}
		assert.Equal(t, wantStream, r["_source_"])
		key := fmt.Sprintf("%s/%d", c.name, i)
		assert.False(t, seen[key], "duplicate %s", key)
		seen[key] = true
	}
	assert.Len(t, seen, want)
	require.Equal(t, 0, agent.stop(t))
}
