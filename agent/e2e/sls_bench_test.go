package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/agent/internal/slslocal"
)

// BenchmarkSLSvsBlackhole runs the agent binary over the same file of nginx
// lines into flusher_blackhole and into flusher_sls → the local endpoint,
// without processors and with processor_parse_regex_native (skipped while
// the binary does not know it),
// (`wasmtail sls-local --discard`: it checks every request and counts the
// logs but stores nothing; lz4 and zstd, v1 signature), and reports for the
// agent process: MB/s of file per CPU core (bytes / CPU seconds), CPU
// seconds per GiB, wall-clock MB/s and peak RSS. The endpoint is another
// process: its CPU is not counted against the agent (on a 2-core machine it
// competes with it for the cores, which the wall-clock figure shows); it is
// reported apart, as endpoint-cpu-s, and the log line splits the agent's
// CPU into user and system time.
//
//	go test ./agent/e2e -run '^$' -bench SLSvsBlackhole -benchtime 1x
//
// E2E_BENCH_MIB=256 sets the file size, E2E_BENCH_SINKS=sls_lz4,... picks
// the runs, E2E_BENCH_WORKERS=2 sets the pipelines' global Workers and
// E2E_BENCH_PROFILE=dir writes a CPU profile of the agent per run.
func BenchmarkSLSvsBlackhole(b *testing.B) {
	mib := 256
	if s := os.Getenv("E2E_BENCH_MIB"); s != "" {
		mib, _ = strconv.Atoi(s)
	}
	corpus := filepath.Join(b.TempDir(), "access.log")
	lines := 0
	{
		f, err := os.Create(corpus)
		require.NoError(b, err)
		buf := make([]byte, 0, 1<<20)
		size := 0
		for size < mib<<20 {
			buf = nginxLine(buf[:0], lines)
			_, err := f.Write(buf)
			require.NoError(b, err)
			size += len(buf)
			lines++
		}
		require.NoError(b, f.Close())
	}
	fi, err := os.Stat(corpus)
	require.NoError(b, err)
	bytes := fi.Size()

	sinks := []string{"blackhole", "sls_lz4", "sls_zstd", "sls_none", "blackhole_regex", "sls_lz4_regex"}
	if s := os.Getenv("E2E_BENCH_SINKS"); s != "" {
		sinks = strings.Split(s, ",")
	}
	for _, sink := range sinks {
		b.Run(sink, func(b *testing.B) {
			for range b.N {
				root := b.TempDir()
				logs, pipelines, data := filepath.Join(root, "logs"), filepath.Join(root, "pipelines"), filepath.Join(root, "data")
				for _, d := range []string{logs, pipelines, data} {
					require.NoError(b, os.MkdirAll(d, 0o755))
				}
				var srv *slsProc
				kind, regex := strings.CutSuffix(sink, "_regex")
				flusher := "  - Type: flusher_blackhole\n"
				if kind != "blackhole" {
					srv = startSLSLocal(b, filepath.Join(root, "sls"), "--discard")
					flusher = fmt.Sprintf("  - Type: flusher_sls\n    Project: demo\n    Logstore: nginx\n    Endpoint: %s\n    CompressType: %s\n",
						srv.Addr(), strings.TrimPrefix(kind, "sls_"))
				}
				procs := ""
				if regex {
					procs = "processors:\n" + nginxRegexProcessor
				}
				if w := os.Getenv("E2E_BENCH_WORKERS"); w != "" { // the pipeline's global Workers (default 1)
					procs = "global:\n  Workers: " + w + "\n" + procs
				}
				pl := fmt.Sprintf("inputs:\n  - Type: input_file\n    FilePaths: [%s/*.log]\n%sflushers:\n%s", logs, procs, flusher)
				plPath := filepath.Join(pipelines, "nginx.yaml")
				require.NoError(b, os.WriteFile(plPath, []byte(pl), 0o644))
				if out, err := exec.Command(binary, "validate", plPath).CombinedOutput(); err != nil {
					b.Skipf("this binary cannot run the pipeline (no regex parser yet?): %s", out)
				}

				l, err := net.Listen("tcp", "127.0.0.1:0")
				require.NoError(b, err)
				addr := l.Addr().String()
				l.Close()
				cmd := exec.Command(binary, "run")
				cmd.Env = append(os.Environ(), "WASMTAIL_PIPELINES="+pipelines, "WASMTAIL_DATA="+data, "WASMTAIL_HTTP="+addr,
					"ALIBABA_CLOUD_ACCESS_KEY_ID="+slslocal.TestAccessKeyID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET="+slslocal.TestAccessKeySecret)
				pprofAddr := ""
				if os.Getenv("E2E_BENCH_PROFILE") != "" {
					pl, err := net.Listen("tcp", "127.0.0.1:0")
					require.NoError(b, err)
					pprofAddr = pl.Addr().String()
					pl.Close()
					cmd.Env = append(cmd.Env, "WASMTAIL_PPROF="+pprofAddr)
				}
				stderr := &syncBuffer{}
				cmd.Stderr = stderr
				require.NoError(b, cmd.Start())
				exited := make(chan struct{})
				go func() { _ = cmd.Wait(); close(exited) }()
				defer func() {
					_ = cmd.Process.Signal(syscall.SIGTERM)
					<-exited
				}()
				metrics := func() string {
					resp, err := http.Get("http://" + addr + "/metrics")
					if err != nil {
						return ""
					}
					defer resp.Body.Close()
					body, _ := io.ReadAll(resp.Body)
					return string(body)
				}
				if !poll(10*time.Second, func() bool { return metrics() != "" }) {
					b.Fatalf("agent not up: %s", stderr.String())
				}
				pid := cmd.Process.Pid
				cpu0 := cpuSeconds(pid)
				user0, sys0 := cpuSplit(pid)
				srvCPU0 := 0.0
				if srv != nil {
					srvCPU0 = cpuSeconds(srv.cmd.Process.Pid)
				}
				profiled := make(chan struct{})
				if dir := os.Getenv("E2E_BENCH_PROFILE"); dir == "" {
					close(profiled)
				} else {
					// A CPU profile of the agent, from its pprof endpoint,
					// over the run's first 4 seconds.
					go func() {
						defer close(profiled)
						resp, err := http.Get("http://" + pprofAddr + "/debug/pprof/profile?seconds=4")
						if err != nil {
							return
						}
						defer resp.Body.Close()
						if f, err := os.Create(filepath.Join(dir, sink+".pprof")); err == nil {
							_, _ = io.Copy(f, resp.Body)
							f.Close()
						}
					}()
					time.Sleep(100 * time.Millisecond)
				}
				start := time.Now()
				// A new file in the watched folder is read from its start.
				require.NoError(b, os.Link(corpus, filepath.Join(logs, "access.log")))
				done := func() bool {
					if srv != nil {
						return srv.Stats().Logs >= int64(lines)
					}
					return metricValue(metrics(), "wasmtail_flusher_events_total", `result="ok"`) >= float64(lines)
				}
				if !poll(5*time.Minute, done) {
					b.Fatalf("%s: not done after 5 minutes: %s", sink, stderr.String())
				}
				wall := time.Since(start).Seconds()
				cpu := cpuSeconds(pid) - cpu0
				user1, sys1 := cpuSplit(pid)
				srvCPU := 0.0
				if srv != nil {
					srvCPU = cpuSeconds(srv.cmd.Process.Pid) - srvCPU0
				}
				rss := peakRSS(pid)
				<-profiled
				mb := float64(bytes) / 1e6
				b.ReportMetric(mb/cpu, "MB/s/core")
				b.ReportMetric(cpu/(float64(bytes)/(1<<30)), "cpu-s/GiB")
				b.ReportMetric(mb/wall, "MB/s")
				b.ReportMetric(rss, "peak-RSS-MiB")
				b.ReportMetric(srvCPU, "endpoint-cpu-s")
				b.Logf("%s: %d lines, %.0f MB in %.2fs wall, agent CPU %.2fs (user %.2f, sys %.2f): %.0f MB/s per core, %.2f CPU s/GiB, peak RSS %.0f MiB; endpoint CPU %.2fs (not counted above)",
					sink, lines, mb, wall, cpu, user1-user0, sys1-sys0, mb/cpu, cpu/(float64(bytes)/(1<<30)), rss, srvCPU)
			}
		})
	}
}

// nginxRegexProcessor parses the corpus lines with
// processor_parse_regex_native, as LoongCollector's docs configure it.
const nginxRegexProcessor = `  - Type: processor_parse_regex_native
    SourceKey: content
    Regex: '([\d.]+) \S+ \S+ \[(\S+) \S+\] "(\w+) ([^"]*) ([^"]*)" (\d+) (\d+) "([^"]*)" "([^"]*)"'
    Keys: [ip, time, method, url, protocol, status, size, referer, agent]
`

// cpuSplit is the user and system CPU time the process used so far.
func cpuSplit(pid int) (user, sys float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return ut / 100, st / 100 // USER_HZ
}
