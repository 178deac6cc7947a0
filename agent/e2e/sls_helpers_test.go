package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/agent/internal/slslocal"
)

// slsEnv is an agent scratch layout plus a local SLS endpoint: the real
// `wasmtail sls-local` binary, controlled over its admin HTTP API, which
// the agent (the real binary too) sends to over TCP.
type slsEnv struct {
	*env
	srv *slsProc
}

func newSLSEnv(t *testing.T, extraArgs ...string) *slsEnv {
	e := &slsEnv{env: newEnv(t)}
	e.srv = startSLSLocal(t, filepath.Join(e.root, "sls"), extraArgs...)
	return e
}

// slsProc is a running `wasmtail sls-local`.
type slsProc struct {
	t    testing.TB
	addr string
	data string
	cmd  *exec.Cmd
	log  *syncBuffer
}

func startSLSLocal(t testing.TB, data string, extraArgs ...string) *slsProc {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	args := append([]string{"sls-local", "--listen", addr, "--data", data,
		"--access-key-id", slslocal.TestAccessKeyID, "--access-key-secret", slslocal.TestAccessKeySecret}, extraArgs...)
	p := &slsProc{t: t, addr: addr, data: data, cmd: exec.Command(binary, args...), log: &syncBuffer{}}
	p.cmd.Stderr = p.log
	require.NoError(t, p.cmd.Start())
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
		}
	})
	if !poll(10*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/_local/stats")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	}) {
		t.Fatalf("sls-local not up: %s", p.log.String())
	}
	return p
}

// Addr is the endpoint's address, for flusher_sls's Endpoint.
func (p *slsProc) Addr() string { return p.addr }

func (p *slsProc) do(method, path string, body any, out any) {
	p.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(p.t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+p.addr+path, rd)
	require.NoError(p.t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(p.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Equal(p.t, 200, resp.StatusCode, "%s %s: %s", method, path, b)
	if out != nil {
		require.NoError(p.t, json.Unmarshal(b, out))
	}
}

// InjectFault adds a fault (POST /_local/faults).
func (p *slsProc) InjectFault(f slslocal.Fault) {
	p.t.Helper()
	f.DelayMs, f.ForMs = f.Delay.Milliseconds(), f.For.Milliseconds()
	p.do(http.MethodPost, "/_local/faults", f, nil)
}

// ClearFaults removes every fault.
func (p *slsProc) ClearFaults() {
	p.t.Helper()
	p.do(http.MethodDelete, "/_local/faults", nil, nil)
}

// Stats returns the endpoint's counters.
func (p *slsProc) Stats() slslocal.Stats {
	p.t.Helper()
	var st slslocal.Stats
	p.do(http.MethodGet, "/_local/stats", nil, &st)
	return st
}

// readContents calls fn with the content of every stored log of
// demo/nginx, in arrival order.
func (p *slsProc) readContents(fn func(content string)) {
	p.t.Helper()
	resp, err := http.Get("http://" + p.addr + "/_local/logs/demo/nginx")
	require.NoError(p.t, err)
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return
	}
	require.Equal(p.t, 200, resp.StatusCode)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var rec struct {
		Content string `json:"content"`
	}
	for sc.Scan() {
		rec.Content = ""
		require.NoError(p.t, json.Unmarshal(sc.Bytes(), &rec))
		fn(rec.Content)
	}
	require.NoError(p.t, sc.Err())
}

// pipeline writes a pipeline "nginx" reading logs/*.log into flusher_sls;
// extraInput and extraFlusher are YAML lines added to each plugin.
func (e *slsEnv) pipeline(extraInput, extraFlusher string) {
	e.writePipeline("nginx.yaml", fmt.Sprintf(`inputs:
  - Type: input_file
    FilePaths: [%s/*.log]
    FlushTimeoutSecs: 1
%sflushers:
  - Type: flusher_sls
    Project: demo
    Logstore: nginx
    Endpoint: %s
    Region: cn-hangzhou
%s`, e.logs, indent(extraInput), e.srv.Addr(), indent(extraFlusher)))
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l != "" {
			b.WriteString("    " + l + "\n")
		}
	}
	return b.String()
}

// startAgent starts the agent with the endpoint's keys in the environment.
func (e *slsEnv) startAgent(extraEnv ...string) *agentProc {
	return e.start(append([]string{
		"ALIBABA_CLOUD_ACCESS_KEY_ID=" + slslocal.TestAccessKeyID,
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET=" + slslocal.TestAccessKeySecret,
	}, extraEnv...)...)
}

// nginxLine is line seq of the corpus: a combined-format access log line
// carrying its sequence number, about 190 bytes.
func nginxLine(dst []byte, seq int) []byte {
	return fmt.Appendf(dst, `10.%d.%d.%d - - [26/Nov/2026:10:%02d:%02d +0000] "GET /api/v1/items/%d?seq=%09d HTTP/1.1" %d %d "https://example.com/page/%d" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"`+"\n",
		seq%256, seq/256%256, seq/65536%256, seq/60%60, seq%60, seq%1000, seq, 200+seq%5, 100+seq%9000, seq%97)
}

// writeLines appends lines [from, to) of the corpus to path.
func writeLines(t *testing.T, path string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	defer f.Close()
	buf := make([]byte, 0, 1<<20)
	for i := from; i < to; i++ {
		buf = nginxLine(buf, i)
		if len(buf) > 1<<20-512 {
			_, err := f.Write(buf)
			require.NoError(t, err)
			buf = buf[:0]
		}
	}
	_, err = f.Write(buf)
	require.NoError(t, err)
}

var seqRE = regexp.MustCompile(`seq=(\d{9}) `)

// slsCounts returns how many times each corpus line [0, n) arrived, and
// the number of stored logs that are not corpus lines.
func (e *slsEnv) slsCounts(t *testing.T, n int) (counts []int, foreign int) {
	t.Helper()
	counts = make([]int, n)
	var line []byte
	e.srv.readContents(func(c string) {
		m := seqRE.FindStringSubmatch(c)
		if m == nil {
			foreign++
			return
		}
		i, _ := strconv.Atoi(m[1])
		if i >= n {
			foreign++
			return
		}
		line = nginxLine(line[:0], i)
		if string(line[:len(line)-1]) != c {
			foreign++
			return
		}
		counts[i]++
	})
	return counts, foreign
}

// checkDelivered fails unless every line [0, n) arrived at least once (and
// exactly once with exact); it returns the number of duplicates.
func (e *slsEnv) checkDelivered(t *testing.T, n int, exact bool) int {
	t.Helper()
	counts, foreign := e.slsCounts(t, n)
	missing, dups := 0, 0
	first := -1
	for i, c := range counts {
		if c == 0 {
			missing++
			if first < 0 {
				first = i
			}
		}
		if c > 1 {
			dups += c - 1
		}
	}
	require.Zero(t, foreign, "stored logs that are not corpus lines")
	require.Zero(t, missing, "lines lost (first missing: %d)", first)
	if exact {
		require.Zero(t, dups, "duplicated lines")
	}
	return dups
}

// waitLogs waits until the endpoint accepted at least n logs.
func (e *slsEnv) waitLogs(t *testing.T, n int64, d time.Duration) {
	t.Helper()
	waitFor(t, d, fmt.Sprintf("%d logs at the endpoint", n), func() bool { return e.srv.Stats().Logs >= n })
}

// peakRSS is the process's peak resident set (VmHWM), in MiB.
func peakRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			kb, _ := strconv.Atoi(strings.Fields(l)[1])
			return float64(kb) / 1024
		}
	}
	return 0
}

// cpuSeconds is the user+system CPU time the process used so far.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

// metricValue sums the series of a metric whose labels contain every one
// of the given label="value" strings.
func metricValue(text, name string, labels ...string) float64 {
	sum := 0.0
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, name+"{") && !strings.HasPrefix(l, name+" ") {
			continue
		}
		ok := true
		for _, lb := range labels {
			if !strings.Contains(l, lb) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}

// deadLetters returns the lines of the pipeline's dead-letter file.
func (e *slsEnv) deadLetters() []string {
	b, err := os.ReadFile(filepath.Join(e.data, "deadletter", "nginx.jsonl"))
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}
