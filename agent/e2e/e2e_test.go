// Package e2e runs the real wasmtail binary over real files: rotation,
// crashes (SIGKILL) and restarts, bad input, config errors.
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
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// binary is the wasmtail binary built once for the whole package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wasmtail-e2e-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "wasmtail")
	cmd := exec.Command("go", "build", "-o", binary, "github.com/wasmtail/wasmtail/agent/cmd/wasmtail")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build wasmtail:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is a scratch layout for one agent: logs, pipeline configs, state,
// output.
type env struct {
	t         *testing.T
	root      string
	logs      string
	pipelines string
	data      string
	out       string
}

func newEnv(t *testing.T) *env {
	root := t.TempDir()
	e := &env{t: t, root: root,
		logs:      filepath.Join(root, "logs"),
		pipelines: filepath.Join(root, "pipelines"),
		data:      filepath.Join(root, "data"),
		out:       filepath.Join(root, "out"),
	}
	for _, d := range []string{e.logs, e.pipelines, e.data, e.out} {
		require.NoError(t, os.MkdirAll(d, 0o755))
	}
	return e
}

func (e *env) writePipeline(name, yaml string) {
	e.t.Helper()
	require.NoError(e.t, os.WriteFile(filepath.Join(e.pipelines, name), []byte(yaml), 0o644))
}

// agentProc is one running wasmtail process.
type agentProc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	http   string
	done   chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	return addr
}

// start runs `wasmtail run` configured through WASMTAIL_* variables only
// (no config file), as the DESIGN contract requires, and waits for /readyz.
func (e *env) start(extraEnv ...string) *agentProc {
	e.t.Helper()
	return e.startCmd(exec.Command(binary, "run"), extraEnv...)
}

func (e *env) startCmd(cmd *exec.Cmd, extraEnv ...string) *agentProc {
	e.t.Helper()
	addr := freePort(e.t)
	cmd.Env = append(os.Environ(),
		"WASMTAIL_PIPELINES="+e.pipelines,
		"WASMTAIL_DATA="+e.data,
		"WASMTAIL_HTTP="+addr,
	)
	cmd.Env = append(cmd.Env, extraEnv...)
	p := &agentProc{cmd: cmd, stderr: &syncBuffer{}, http: addr, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	cmd.Stdout = io.Discard
	require.NoError(e.t, cmd.Start())
	go func() { _ = cmd.Wait(); close(p.done) }()
	e.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case <-p.done:
			e.t.Fatalf("agent exited early: %s", p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("agent not ready after 10s: %s", p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *agentProc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and returns the exit code.
func (p *agentProc) stop(t *testing.T) int {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("agent did not stop within 30s after SIGTERM: %s", p.stderr.String())
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *agentProc) metrics(t *testing.T) string {
	resp, err := http.Get("http://" + p.http + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// readOutput parses every line of the flusher_file outputs under dir: each
// must be one whole JSON object. It returns the `content` values.
func readOutput(t *testing.T, files ...string) []string {
	t.Helper()
	var contents []string
	for _, f := range files {
		fh, err := os.Open(f)
		if os.IsNotExist(err) {
			continue
		}
		require.NoError(t, err)
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		n := 0
		for sc.Scan() {
			n++
			var rec map[string]string
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				fh.Close()
				t.Fatalf("%s:%d: not a whole JSON record (%v): %.200q", f, n, err, sc.Text())
			}
			contents = append(contents, rec["content"])
		}
		require.NoError(t, sc.Err())
		fh.Close()
	}
	return contents
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !poll(d, cond) {
		t.Fatalf("timed out after %s waiting for %s", d, what)
	}
}

// poll reports whether cond became true within d.
func poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

func countLines(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte{'\n'})
}

func containsLine(path, line string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	return strings.Contains(string(b), line)
}
