package tail

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/agent/internal/batch"
	"github.com/wasmtail/wasmtail/agent/internal/checkpoint"
	"github.com/wasmtail/wasmtail/agent/internal/metrics"
)

// recSink keeps whole records (every field) and tags.
type recSink struct {
	mu   sync.Mutex
	recs []map[string]string
}

func (s *recSink) Push(_ context.Context, b *batch.Batch) error {
	s.mu.Lock()
	for _, r := range b.Records {
		m := map[string]string{}
		for _, f := range r.Fields {
			m[f.Key] = string(f.Value)
		}
		for _, t := range b.Source.Tags {
			m["tag:"+t.Key] = t.Value
		}
		s.recs = append(s.recs, m)
	}
	s.mu.Unlock()
	b.Ack(nil)
	return nil
}

func (s *recSink) wait(t *testing.T, n int) []map[string]string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		got := append([]map[string]string(nil), s.recs...)
		s.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d records, want %d: %v", len(got), n, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func startContainer(t *testing.T, c *Container, readSize int) (string, *recSink) {
	root := t.TempDir()
	st, err := checkpoint.Open(filepath.Join(t.TempDir(), "cp.json"), time.Hour, nil)
	require.NoError(t, err)
	st.Register("k8s")
	s := &recSink{}
	in := defaultInput(filepath.Join(root, "*", "*", "*.log"))
	in.FlushTimeoutSecs = 1
	m, err := New(Options{Pipeline: "k8s", Input: in, Store: st, Sink: s, Pool: batch.NewPool(readSize),
		ScanInterval: 50 * time.Millisecond, ReadSize: readSize, Metrics: metrics.New(), Container: c})
	require.NoError(t, err)
	require.NoError(t, m.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, m.Shutdown(context.Background())) })
	return root, s
}

func writeLog(t *testing.T, path, data string) {
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	_, err = f.WriteString(data)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func defaultContainer() *Container {
	return &Container{NamespaceTag: "_namespace_", PodTag: "_pod_name_", PodUIDTag: "_pod_uid_", ContainerTag: "_container_name_"}
}

func TestCRIPartialLinesJoined(t *testing.T) {
	// A 16-byte read size puts the P and F parts of one message in different
	// chunks: they must still be joined.
	root, s := startContainer(t, defaultContainer(), 16)
	log := filepath.Join(root, "shop_web-0_1234-uid", "nginx", "0.log")
	writeLog(t, log, ""+
		"2026-11-26T10:00:00.000000001Z stdout F hello\n"+
		"2026-11-26T10:00:00.000000002Z stderr P part one, \n"+
		"2026-11-26T10:00:00.000000003Z stderr P part two, \n"+
		"2026-11-26T10:00:00.000000004Z stderr F end\n"+
		"2026-11-26T10:00:00.000000005Z stdout F \n"+
		"not a CRI line\n")
	got := s.wait(t, 4)
	require.Len(t, got, 4)
	assert.Equal(t, "hello", got[0]["content"])
	assert.Equal(t, "stdout", got[0]["_source_"])
	assert.Equal(t, "2026-11-26T10:00:00.000000001Z", got[0]["_time_"])
	assert.Equal(t, "part one, part two, end", got[1]["content"])
	assert.Equal(t, "stderr", got[1]["_source_"])
	assert.Equal(t, "2026-11-26T10:00:00.000000002Z", got[1]["_time_"])
	assert.Equal(t, "", got[2]["content"], "an empty message is a record")
	assert.Equal(t, "not a CRI line", got[3]["content"], "nothing is lost")
	for _, r := range got {
		assert.Equal(t, "shop", r["tag:_namespace_"])
		assert.Equal(t, "web-0", r["tag:_pod_name_"])
		assert.Equal(t, "1234-uid", r["tag:_pod_uid_"])
		assert.Equal(t, "nginx", r["tag:_container_name_"])
	}
}

func TestCRIPartialFlushedAfterTimeout(t *testing.T) {
	root, s := startContainer(t, defaultContainer(), 4096)
	writeLog(t, filepath.Join(root, "ns_p_u", "c", "0.log"), "2026-11-26T10:00:00Z stdout P unfinished\n")
	got := s.wait(t, 1)
	assert.Equal(t, "unfinished", got[0]["content"])
}

func TestIgnoringStreamsAndFilters(t *testing.T) {
	c := defaultContainer()
	c.IgnoreStderr = true
	c.Namespace = regexp.MustCompile(`^default$`)
	c.Container = regexp.MustCompile(`^app$`)
	root, s := startContainer(t, c, 4096)
	lines := "2026-11-26T10:00:00Z stdout F out\n2026-11-26T10:00:00Z stderr F err\n"
	writeLog(t, filepath.Join(root, "default_web_u1", "app", "0.log"), lines)
	writeLog(t, filepath.Join(root, "default_web_u1", "sidecar", "0.log"), lines) // other container
	writeLog(t, filepath.Join(root, "kube-system_dns_u2", "app", "0.log"), lines) // other namespace
	got := s.wait(t, 1)
	time.Sleep(300 * time.Millisecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	require.Len(t, s.recs, 1)
	assert.Equal(t, "out", got[0]["content"])
	assert.Equal(t, "app", got[0]["tag:_container_name_"])
}

func TestDockerJSONFile(t *testing.T) {
	root, s := startContainer(t, defaultContainer(), 4096)
	writeLog(t, filepath.Join(root, "ns_p_u", "c", "0.log"), ""+
		`{"log":"plain line\n","stream":"stdout","time":"2026-11-26T10:00:00.1Z"}`+"\n"+
		`{"log":"quote \" tab \t unicode \u00e9 \ud83d\ude00 ","stream":"stderr","time":"2026-11-26T10:00:00.2Z"}`+"\n"+
		`{"log":"and the rest\n","stream":"stderr","time":"2026-11-26T10:00:00.3Z"}`+"\n")
	got := s.wait(t, 2)
	assert.Equal(t, "plain line", got[0]["content"])
	assert.Equal(t, "stdout", got[0]["_source_"])
	assert.Equal(t, "2026-11-26T10:00:00.1Z", got[0]["_time_"])
	assert.Equal(t, "quote \" tab \t unicode é 😀 and the rest", got[1]["content"])
	assert.Equal(t, "stderr", got[1]["_source_"])
}

func TestPodOf(t *testing.T) {
	ns, pod, uid, ctr, ok := podOf("/var/log/pods/kube-system_coredns-5d78c9869d-x2x7k_0e2a-11/coredns/3.log.20261126-101010")
	require.True(t, ok)
	assert.Equal(t, []string{"kube-system", "coredns-5d78c9869d-x2x7k", "0e2a-11", "coredns"}, []string{ns, pod, uid, ctr})
	_, _, _, _, ok = podOf("/var/log/pods/nounderscore/c/0.log")
	assert.False(t, ok)
	assert.True(t, strings.HasPrefix(string(appendUnescaped(nil, []byte(`a\u0041\n`))), "aA\n"))
}
