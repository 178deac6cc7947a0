package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/agent/internal/batch"
	"github.com/wasmtail/wasmtail/agent/internal/config"
	"github.com/wasmtail/wasmtail/agent/internal/slslocal"
)

// slsLines is the corpus size of the flusher_sls tests.
const slsLines = 500_000

// TestSLSExactlyOnce: 500,000 nginx lines, written while the agent runs,
// reach the local SLS endpoint through flusher_sls (lz4, v1 signature, an
// IP:port endpoint) exactly once each.
func TestSLSExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	e := newSLSEnv(t)
	e.pipeline("", "")
	agent := e.startAgent()
	start := time.Now()
	path := filepath.Join(e.logs, "access.log")
	for i := 0; i < slsLines; i += 50_000 {
		writeLines(t, path, i, i+50_000)
	}
	e.waitLogs(t, slsLines, 2*time.Minute)
	elapsed := time.Since(start)
	rss := peakRSS(agent.cmd.Process.Pid)
	require.Equal(t, 0, agent.stop(t), agent.stderr.String())
	e.checkDelivered(t, slsLines, true)
	st := e.srv.Stats()
	assert.Equal(t, int64(slsLines), st.Logs)
	t.Logf("%d lines in %s, %d PutLogs requests, agent peak RSS %.1f MiB", slsLines, elapsed.Round(time.Millisecond), st.Requests["200"], rss)
}

// TestSLSFaults: the endpoint fails in every way a real one does while
// 500,000 lines are sent: 503s for 30 seconds (E2E_SLS_OUTAGE
// changes it), bursts of 403 WriteQuotaExceed, one 401, connection resets,
// responses lost after the logs were stored, then 2 seconds a request.
// Every line must arrive at least once. The readers must have waited
// (wasmtail_input_blocked_seconds_total) while the endpoint failed.
func TestSLSFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	outage := 30 * time.Second
	if s := os.Getenv("E2E_SLS_OUTAGE"); s != "" {
		d, err := time.ParseDuration(s)
		require.NoError(t, err)
		outage = d
	}
	e := newSLSEnv(t)
	// Short retries inside Export, so the pipeline's own retry loop (and
	// its error counter) is exercised too.
	e.pipeline("", "RetrySecs: 5")
	agent := e.startAgent()
	inject := e.srv.InjectFault

	inject(slslocal.Fault{Status: 503, For: outage})
	start := time.Now()
	path := filepath.Join(e.logs, "access.log")
	writeLines(t, path, 0, slsLines) // ~95 MB: far more than the queue

	// While the endpoint answers 503, readers must stop: the queue is full
	// and nothing more is read.
	time.Sleep(outage / 2)
	m := agent.metrics(t)
	read1 := metricValue(m, "wasmtail_input_bytes_total", `pipeline="nginx"`)
	time.Sleep(time.Second)
	m = agent.metrics(t)
	read2 := metricValue(m, "wasmtail_input_bytes_total", `pipeline="nginx"`)
	queued := metricValue(m, "wasmtail_queue_bytes", `pipeline="nginx"`)
	failed503 := metricValue(m, "wasmtail_flusher_requests_total", `status="503"`)
	t.Logf("mid-outage: queue %.1f MiB (full), %.1f MiB read, %.1f MiB more in the last second, %v PutLogs answered 503, %d logs at the endpoint",
		queued/(1<<20), read2/(1<<20), (read2-read1)/(1<<20), failed503, e.srv.Stats().Logs)
	assert.Positive(t, failed503, "requests failed with 503")
	assert.Zero(t, e.srv.Stats().Logs, "nothing accepted during the outage")
	full := config.DefaultQueueMB(1)<<20 - batch.ChunkSize // room for less than a chunk
	assert.GreaterOrEqual(t, queued, float64(full), "the %d MiB queue is full", config.DefaultQueueMB(1))
	assert.Equal(t, read1, read2, "readers paused")
	// wasmtail_input_blocked_seconds_total counts a wait when it ends.
	waitFor(t, outage, "readers blocked on the full queue", func() bool {
		return metricValue(agent.metrics(t), "wasmtail_input_blocked_seconds_total", `pipeline="nginx"`) > 0
	})
	waitFor(t, 2*outage, "the outage to end", func() bool { return time.Since(start) > outage })
	e.waitLogs(t, 50_000, time.Minute)

	// Bursts of quota errors, one 401, resets, lost responses, slowness.
	for range 3 {
		inject(slslocal.Fault{Status: 403, Code: "WriteQuotaExceed", Count: 5})
		time.Sleep(500 * time.Millisecond)
	}
	inject(slslocal.Fault{Status: 401, Code: "Unauthorized", Count: 1})
	inject(slslocal.Fault{Reset: true, Count: 5})
	inject(slslocal.Fault{Status: 503, AfterStore: true, Count: 3})
	inject(slslocal.Fault{Delay: 2 * time.Second, For: 10 * time.Second})

	e.waitLogs(t, slsLines, 3*time.Minute)
	rss := peakRSS(agent.cmd.Process.Pid)
	m = agent.metrics(t)
	require.Equal(t, 0, agent.stop(t), agent.stderr.String())
	dups := e.checkDelivered(t, slsLines, false)
	st := e.srv.Stats()
	t.Logf("all %d lines arrived in %s; duplicates %d; agent peak RSS %.1f MiB", slsLines, time.Since(start).Round(time.Second), dups, rss)
	t.Logf("endpoint answers: %v", st.Requests)
	t.Logf("agent: readers blocked %.1fs, flusher errors (pipeline retries) %v, requests by status 503=%v 403=%v 401=%v network=%v",
		metricValue(m, "wasmtail_input_blocked_seconds_total", `pipeline="nginx"`),
		metricValue(m, "wasmtail_flusher_errors_total", `pipeline="nginx"`),
		metricValue(m, "wasmtail_flusher_requests_total", `status="503"`),
		metricValue(m, "wasmtail_flusher_requests_total", `status="403"`),
		metricValue(m, "wasmtail_flusher_requests_total", `status="401"`),
		metricValue(m, "wasmtail_flusher_requests_total", `status="network"`))
	assert.Positive(t, metricValue(m, "wasmtail_flusher_requests_total", `status="403"`))
	assert.Positive(t, metricValue(m, "wasmtail_flusher_requests_total", `status="401"`))
	assert.Positive(t, metricValue(m, "wasmtail_flusher_requests_total", `status="network"`))
	assert.Positive(t, metricValue(m, "wasmtail_flusher_errors_total", `pipeline="nginx"`))
	assert.Less(t, rss, 200.0, "peak RSS (MiB) stays bounded")
}

// TestSLSKill: the agent is killed with SIGKILL while requests are in
// flight (the endpoint is slow), then restarted: no line is lost.
func TestSLSKill(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	const n = 200_000
	e := newSLSEnv(t)
	e.pipeline("", "")
	agent := e.startAgent()
	path := filepath.Join(e.logs, "access.log")
	writeLines(t, path, 0, n/2)
	e.waitLogs(t, 10_000, time.Minute)
	// Slow answers, given after the logs were stored, so requests whose
	// logs arrived are in flight at the kill.
	e.srv.InjectFault(slslocal.Fault{Delay: 300 * time.Millisecond, AfterStore: true, For: time.Hour})
	writeLines(t, path, n/2, n)
	time.Sleep(time.Second)
	before := e.srv.Stats().Logs
	agent.kill()
	t.Logf("killed with %d of %d lines at the endpoint", before, n)
	e.srv.ClearFaults()
	agent = e.startAgent()
	e.waitLogs(t, n, 2*time.Minute)
	// Let anything sent twice arrive, so the duplicate count is complete.
	time.Sleep(500 * time.Millisecond)
	require.Equal(t, 0, agent.stop(t), agent.stderr.String())
	dups := e.checkDelivered(t, n, false)
	t.Logf("none lost; %d duplicates (batches in flight at the kill)", dups)
}

// TestSLSDeadLetter: one log over the endpoint's body limit, among good
// ones, lands in the dead-letter file with a log line naming the pipeline,
// the file and the offset; every other line arrives exactly once.
func TestSLSDeadLetter(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	e := newSLSEnv(t, "--max-body-bytes", "1048576")
	e.pipeline("MaxLineKB: 4096", "")
	agent := e.startAgent()
	path := filepath.Join(e.logs, "access.log")
	writeLines(t, path, 0, 5000)
	big := "HUGE " + strings.Repeat("x", 2<<20)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	fi, _ := f.Stat()
	bigOffset := fi.Size()
	_, err = f.WriteString(big + "\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	writeLines(t, path, 5000, 10000)
	e.waitLogs(t, 10000, time.Minute)
	waitFor(t, 10*time.Second, "the dead-letter file", func() bool { return len(e.deadLetters()) == 1 })
	m := agent.metrics(t)
	require.Equal(t, 0, agent.stop(t), agent.stderr.String())
	e.checkDelivered(t, 10000, true)

	var rec map[string]string
	require.NoError(t, json.Unmarshal([]byte(e.deadLetters()[0]), &rec))
	assert.Equal(t, big, rec["content"])
	assert.Equal(t, path, rec["__deadletter_file__"])
	assert.Equal(t, bigOffset, mustInt64(t, rec["__deadletter_offset__"]))
	assert.Contains(t, rec["__deadletter_error__"], "PostBodyTooLarge")
	assert.Equal(t, 1.0, metricValue(m, "wasmtail_flusher_dead_letters_total", `pipeline="nginx"`))
	log := agent.stderr.String()
	assert.Contains(t, log, "dead-letter")
	assert.Contains(t, log, "pipeline=nginx")
	assert.Contains(t, log, "offset="+rec["__deadletter_offset__"])
}

func mustInt64(t *testing.T, s string) int64 {
	var n int64
	require.NoError(t, json.Unmarshal([]byte(s), &n))
	return n
}
