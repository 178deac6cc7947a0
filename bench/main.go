// Command bench measures the wasmtail binary on generated nginx access
// logs: file → flusher_blackhole throughput (MB/s, lines/s, CPU seconds per
// GiB, peak RSS), then the agent's CPU and memory at a fixed write rate.
//
//	go run ./bench -bin bin/wasmtail [-mib 512] [-rate 10] [-secs 60]
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	bin := flag.String("bin", "bin/wasmtail", "wasmtail binary")
	mib := flag.Int("mib", 512, "MiB of logs for the throughput run")
	rate := flag.Float64("rate", 10, "MB/s for the fixed-rate run (0 skips it)")
	secs := flag.Int("secs", 60, "seconds of the fixed-rate run")
	lineLen := flag.Int("line", 0, "pad lines to this many bytes (0: natural nginx lines, ~200 B)")
	flag.Parse()
	if err := run(*bin, *mib, *rate, *secs, *lineLen); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(bin string, mib int, rate float64, secs, lineLen int) error {
	bin, _ = filepath.Abs(bin)
	root, err := os.MkdirTemp("", "wasmtail-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)

	// Throughput: generate the file outside the watched folder, then move it
	// in, so the agent sees a new file and reads all of it.
	src := filepath.Join(root, "access.log")
	size, lines, err := generate(src, int64(mib)<<20, lineLen)
	if err != nil {
		return err
	}
	fmt.Printf("generated %d MiB, %d nginx lines (avg %d B)\n", size>>20, lines, size/lines)
	a, err := startAgent(bin, root, "tp")
	if err != nil {
		return err
	}
	cpu0, _ := a.cpu()
	t0 := time.Now()
	if err := os.Rename(src, filepath.Join(a.logs, "access.log")); err != nil {
		return err
	}
	if err := a.waitEvents(lines, 10*time.Minute); err != nil {
		return err
	}
	wall := time.Since(t0).Seconds()
	cpu1, _ := a.cpu()
	hwm := a.peakRSS()
	a.stop()
	cpu := cpu1 - cpu0
	mb := float64(size) / 1e6
	fmt.Printf("\nfile → flusher_blackhole, no processors\n")
	fmt.Printf("  wall %.2fs: %.0f MB/s, %.2f M lines/s\n", wall, mb/wall, float64(lines)/wall/1e6)
	fmt.Printf("  cpu %.2fs: %.0f MB/s per core, %.2f CPU s/GiB\n", cpu, mb/cpu, cpu/(float64(size)/(1<<30)))
	fmt.Printf("  peak RSS %.1f MiB\n", float64(hwm)/(1<<20))

	if rate <= 0 {
		return nil
	}
	// Fixed rate: append at `rate` MB/s for `secs` seconds.
	b, err := startAgent(bin, root, "rate")
	if err != nil {
		return err
	}
	defer b.stop()
	f, err := os.OpenFile(filepath.Join(b.logs, "app.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	gen := newGen(lineLen)
	tick := 10 * time.Millisecond
	perTick := int(rate * 1e6 * tick.Seconds())
	var buf []byte
	var written, wlines int64
	warm := time.Now().Add(2 * time.Second)
	var cpuA float64
	var tA time.Time
	start := time.Now()
	next := start
	for time.Since(start) < time.Duration(secs)*time.Second+2*time.Second {
		buf = buf[:0]
		for len(buf) < perTick {
			buf = gen.appendLine(buf)
			wlines++
		}
		if _, err := f.Write(buf); err != nil {
			return err
		}
		written += int64(len(buf))
		if tA.IsZero() && time.Now().After(warm) {
			cpuA, _ = b.cpu()
			tA = time.Now()
		}
		next = next.Add(tick)
		time.Sleep(time.Until(next))
	}
	cpuB, _ := b.cpu()
	el := time.Since(tA).Seconds()
	if err := b.waitEvents(wlines, time.Minute); err != nil {
		return err
	}
	rss := b.rss()
	fmt.Printf("\nfixed rate %.0f MB/s for %ds (%d MB written), file → flusher_blackhole\n", rate, secs, written/1e6)
	fmt.Printf("  agent CPU %.2f%% of one core, RSS %.1f MiB (peak %.1f MiB)\n",
		100*(cpuB-cpuA)/el, float64(rss)/(1<<20), float64(b.peakRSS())/(1<<20))
	return nil
}

// gen makes nginx combined-format lines.
type gen struct {
	r   *rand.Rand
	pad int
}

func newGen(pad int) *gen { return &gen{r: rand.New(rand.NewPCG(1, 2)), pad: pad} }

var (
	paths  = []string{"/", "/index.html", "/api/v1/users", "/api/v1/orders?id=12345", "/static/app.js", "/login", "/healthz"}
	agents = []string{
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
		"curl/8.5.0", "Go-http-client/1.1",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
	}
	methods = []string{"GET", "GET", "GET", "POST", "PUT"}
	codes   = []int{200, 200, 200, 200, 301, 404, 500}
)

func (g *gen) appendLine(b []byte) []byte {
	start := len(b)
	r := g.r
	b = fmt.Appendf(b, "10.%d.%d.%d - - [26/Nov/2026:10:%02d:%02d +0800] \"%s %s HTTP/1.1\" %d %d \"-\" \"%s\"",
		r.IntN(256), r.IntN(256), r.IntN(256), r.IntN(60), r.IntN(60),
		methods[r.IntN(len(methods))], paths[r.IntN(len(paths))], codes[r.IntN(len(codes))], r.IntN(100000),
		agents[r.IntN(len(agents))])
	for len(b)-start < g.pad-1 {
		b = append(b, ' ')
	}
	return append(b, '\n')
}

func generate(path string, size int64, pad int) (int64, int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	g := newGen(pad)
	var n, lines int64
	var buf []byte
	for n < size {
		buf = g.appendLine(buf[:0])
		w.Write(buf)
		n += int64(len(buf))
		lines++
	}
	return n, lines, w.Flush()
}

type agentProc struct {
	cmd  *exec.Cmd
	addr string
	logs string
}

func startAgent(bin, root, name string) (*agentProc, error) {
	dir := filepath.Join(root, name)
	logs := filepath.Join(dir, "logs")
	pls := filepath.Join(dir, "pipelines")
	for _, d := range []string{logs, pls, filepath.Join(dir, "data")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	cfg := fmt.Sprintf("inputs:\n  - Type: input_file\n    FilePaths: [%s/*.log]\nflushers:\n  - Type: flusher_blackhole\n", logs)
	if err := os.WriteFile(filepath.Join(pls, "bench.yaml"), []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "run")
	cmd.Env = append(os.Environ(), "WASMTAIL_PIPELINES="+pls, "WASMTAIL_DATA="+filepath.Join(dir, "data"),
		"WASMTAIL_HTTP="+addr, "WASMTAIL_LOG_LEVEL=warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	a := &agentProc{cmd: cmd, addr: addr, logs: logs}
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return a, nil
			}
		}
		if i > 200 {
			a.stop()
			return nil, fmt.Errorf("agent not ready")
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (a *agentProc) stop() {
	a.cmd.Process.Signal(syscall.SIGTERM)
	a.cmd.Wait()
}

// metric sums the samples of a metric family from /metrics.
func (a *agentProc) metric(name, labelSub string) float64 {
	resp, err := http.Get("http://" + a.addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var sum float64
	for _, line := range bytes.Split(body, []byte{'\n'}) {
		s := string(line)
		if !strings.HasPrefix(s, name) || !strings.Contains(s, labelSub) {
			continue
		}
		if i := strings.LastIndexByte(s, ' '); i > 0 {
			v, _ := strconv.ParseFloat(s[i+1:], 64)
			sum += v
		}
	}
	return sum
}

func (a *agentProc) waitEvents(n int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if v := a.metric("wasmtail_flusher_events_total", `result="ok"`); v >= float64(n) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("agent delivered %.0f of %d events", a.metric("wasmtail_flusher_events_total", `result="ok"`), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cpu returns the process's user+system CPU seconds.
func (a *agentProc) cpu() (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", a.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100, nil // USER_HZ is 100 on Linux
}

func (a *agentProc) status(key string) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", a.cmd.Process.Pid))
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, key+":") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func (a *agentProc) peakRSS() int64 { return a.status("VmHWM") }
func (a *agentProc) rss() int64     { return a.status("VmRSS") }
