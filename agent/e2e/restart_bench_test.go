package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The two figures of issue 12's "Measure" section, which no change to
// restarts and crash safety may make more than 10 % worse:
//
//   - BenchmarkRestartFirstByte: how long after its start the agent reads
//     its first byte when 1,000 files are checkpointed;
//   - BenchmarkDuplicatesPerKill: how many lines a SIGKILL makes the agent
//     send twice (what was delivered but not yet checkpointed).
//
// Both run the real binary (built by TestMain), e.g.
//
//	go test -run '^$' -bench 'Restart|DuplicatesPerKill' -benchtime 30x -count 3 -timeout 30m ./agent/e2e/
//
// With -benchtime Nx, BenchmarkRestartFirstByte measures N restarts and
// BenchmarkDuplicatesPerKill N kills (Go runs each once with N=1 before).

const (
	restartFiles   = 1000
	restartLines   = 16  // lines in each file before the first run (2 KiB: a full 1 KiB signature)
	restartLineLen = 128 // bytes per line, newline included
)

// BenchmarkRestartFirstByte: 1,000 files matched by one input_file pipeline
// into flusher_file are read and checkpointed by a first run, which is
// stopped (SIGTERM). Each iteration appends one line to every file, starts
// the agent and measures, from just before the process is started (exec):
//
//   - ms-to-first-byte: until the first new line reaches flusher_file's
//     output;
//   - ms-to-all-read: until all 1,000 new lines are there, so every file was
//     bound to its checkpoint and read (an upper bound of the time to bind
//     them all: a file's reader reads its new line as soon as it starts);
//   - cpu-ms-to-all-read: the agent's CPU time (user+system, from
//     /proc/<pid>/stat, 10 ms ticks) at that moment: less at the mercy of
//     other processes than wall-clock time on a busy machine.
//
// The signal is the output file, watched with inotify (IN_MODIFY): the
// benchmark blocks on the event and reads what was appended, so it sees a
// write within microseconds and costs the agent nothing. It is late, against
// the read itself, by the pipeline's hand-over from reader to flusher (the
// line is whole, so no flush timeout applies). wasmtail_input_bytes_total,
// counted right after each read, is the other signal; it was tried and not
// kept: seeing it early takes scraping /metrics every millisecond, and a
// scrape costs the agent about 0.9 ms of CPU (measured on the 2-core test
// machine), so the polling took ~40 % of a core from the start it measured:
// the medians came out about twice as long (first byte ~150 ms against ~80
// ms), while within one run the two signals agreed to ~15 ms, either first.
// /metrics is read once per restart after the measurement: more bytes read
// than appended would mean the checkpoints were not used, and the benchmark
// fails.
//
// Each figure is the median of the run's restarts (the log line gives their
// min/median/max); min-ms-to-first-byte and min-ms-to-all-read are the
// fastest restart of the run, the figure least touched by other processes
// (at 459e5a4 on a shared 2-core machine, runs' medians of ms-to-first-byte
// went from 81 to 452 ms with others' load, their minimums from 68 to 109
// ms). The agent is stopped with SIGTERM (which saves the checkpoints)
// before the next iteration.
func BenchmarkRestartFirstByte(b *testing.B) {
	e := newBenchEnv(b)
	out := filepath.Join(e.out, "out.jsonl")
	writeBenchPipeline(b, e, "restart.yaml", fmt.Sprintf(`enable: true
inputs:
  - Type: input_file
    FilePaths:
      - %s/*.log
flushers:
  - Type: flusher_file
    FilePath: %s
    MaxFileSize: 0
`, e.logs, out))

	// Each file starts with its own name, so that no file's first bytes are
	// a prefix of another's (that would hold it back as a possible
	// copytruncate copy). Files of 2 KiB are read from 0 on a first run.
	paths := make([]string, restartFiles)
	seq := 0
	total := 0
	for i := range paths {
		paths[i] = filepath.Join(e.logs, fmt.Sprintf("f%04d.log", i))
		var buf []byte
		for range restartLines {
			buf = restartLine(buf, i, seq)
			seq++
		}
		require.NoError(b, os.WriteFile(paths[i], buf, 0o644))
		total += len(buf)
	}

	// The first run reads and delivers everything; SIGTERM saves the
	// checkpoints.
	a := startBenchAgent(b, e)
	a.waitReady(b)
	if !poll(2*time.Minute, func() bool {
		return countLines(out) >= restartFiles*restartLines && a.metric("wasmtail_input_bytes_total") >= float64(total)
	}) {
		b.Fatalf("first run: not everything read within 2 minutes (%d of %d lines out): %s",
			countLines(out), restartFiles*restartLines, a.stderr.String())
	}
	a.stop(b)

	var first, all, cpu []float64
	want := restartFiles * restartLines // lines in the output
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		appended := 0
		for i, p := range paths {
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			require.NoError(b, err)
			l := restartLine(nil, i, seq)
			seq++
			_, err = f.Write(l)
			require.NoError(b, err)
			require.NoError(b, f.Close())
			appended += len(l)
		}
		want += restartFiles
		w := watchOutput(b, out, want)
		b.StartTimer()

		a := startBenchAgent(b, e)
		t0 := a.started
		w.pid.Store(int64(a.cmd.Process.Pid))
		select {
		case <-w.done:
		case <-a.done:
			w.close()
			b.Fatalf("agent exited: %s", a.stderr.String())
		case <-time.After(time.Minute):
			w.close()
			b.Fatalf("restart: %d of %d lines in the output after a minute: %s", w.lines.Load(), want, a.stderr.String())
		}
		b.StopTimer()
		w.close()
		first = append(first, benchMs(w.first.Sub(t0)))
		all = append(all, benchMs(w.all.Sub(t0)))
		cpu = append(cpu, 1000*w.cpu)

		// Only the new lines were read?
		a.waitReady(b)
		if read := a.metric("wasmtail_input_bytes_total"); read > 2*float64(appended) {
			b.Fatalf("restart read %.0f bytes, %d were appended: the checkpoints were not used", read, appended)
		}
		a.stop(b)
	}
	b.ReportMetric(benchMedian(first), "ms-to-first-byte")
	b.ReportMetric(benchMedian(all), "ms-to-all-read")
	b.ReportMetric(benchMedian(cpu), "cpu-ms-to-all-read")
	b.ReportMetric(slices.Min(first), "min-ms-to-first-byte")
	b.ReportMetric(slices.Min(all), "min-ms-to-all-read")
	b.Logf("%d restarts with %d checkpointed files, ms min/median/max: first byte %s, all read %s, agent CPU to all read %s",
		b.N, restartFiles, benchSpread(first), benchSpread(all), benchSpread(cpu))
}

// restartLine appends line seq of file i: restartLineLen bytes.
func restartLine(buf []byte, i, seq int) []byte {
	n := len(buf)
	buf = fmt.Appendf(buf, "f%04d %09d ", i, seq)
	for len(buf)-n < restartLineLen-1 {
		buf = append(buf, '.')
	}
	return append(buf, '\n')
}

const (
	dupFiles   = 4
	dupLineLen = 256     // bytes per line, newline included
	dupRate    = 5 << 20 // bytes per second, all files together
	dupSeed    = 12      // the kill schedule's seed
	dupTick    = 5 * time.Millisecond
	dupMinGap  = 1 * time.Second // between a restart being ready and the next kill
	dupMaxGap  = 2 * time.Second
)

// BenchmarkDuplicatesPerKill: four files written at 5 MiB/s together
// (numbered lines of 256 bytes) are read into flusher_file; every iteration
// waits 1–2 s (a fixed-seed schedule, the same in every run), SIGKILLs the
// agent and starts it again (at once; the writer does not stop). After the
// last kill the writer stops, the agent catches up (every line in the
// output) and is stopped. Every line must be in the output, whole; what is
// there more than once was delivered but not yet checkpointed at a kill:
//
//   - dups/kill: extra copies of lines, per kill (all of them over the
//     number of kills);
//   - bytes/kill: the same in bytes of the files;
//   - median-dups/kill: the median over the kills, which a few kills that
//     catch the agent behind the writer (on a busy machine) do not move: the
//     output's size is noted at each kill (the agent is dead, the file
//     still), and a duplicate written after the mark of kill k and before
//     that of k+1 is counted against kill k. The log line gives their
//     min/median/max.
func BenchmarkDuplicatesPerKill(b *testing.B) {
	e := newBenchEnv(b)
	out := filepath.Join(e.out, "out.jsonl")
	writeBenchPipeline(b, e, "dups.yaml", fmt.Sprintf(`enable: true
inputs:
  - Type: input_file
    FilePaths:
      - %s/*.log
flushers:
  - Type: flusher_file
    FilePath: %s
    MaxFileSize: 0
`, e.logs, out))

	// Each file holds its first line before the agent starts (an empty
	// file could be held back as a possible copytruncate copy).
	files := make([]*os.File, dupFiles)
	written := make([]int, dupFiles) // lines per file
	for i := range files {
		f, err := os.OpenFile(filepath.Join(e.logs, fmt.Sprintf("d%d.log", i)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		require.NoError(b, err)
		_, err = f.Write(dupLine(nil, i, 0))
		require.NoError(b, err)
		written[i] = 1
		files[i] = f
	}
	a := startBenchAgent(b, e)
	a.waitReady(b)

	// The writer: paced by the clock, lines spread over the files in turn.
	stopWriter := make(chan struct{})
	writerDone := make(chan error, 1)
	go func() {
		start := time.Now()
		bufs := make([][]byte, dupFiles)
		lines := 0
		for {
			select {
			case <-stopWriter:
				writerDone <- nil
				return
			default:
			}
			due := int(time.Since(start).Seconds() * dupRate / dupLineLen)
			for ; lines < due; lines++ {
				i := lines % dupFiles
				bufs[i] = dupLine(bufs[i], i, written[i])
				written[i]++
			}
			for i, f := range files {
				if len(bufs[i]) > 0 {
					if _, err := f.Write(bufs[i]); err != nil {
						writerDone <- err
						return
					}
					bufs[i] = bufs[i][:0]
				}
			}
			time.Sleep(dupTick)
		}
	}()

	rng := rand.New(rand.NewPCG(dupSeed, dupSeed))
	var marks []int64 // output size at each kill
	b.ResetTimer()
	for range b.N {
		gap := dupMinGap + time.Duration(rng.Int64N(int64(dupMaxGap-dupMinGap)))
		time.Sleep(gap)
		a.kill()
		if st, err := os.Stat(out); err == nil {
			marks = append(marks, st.Size())
		} else {
			marks = append(marks, 0)
		}
		a = startBenchAgent(b, e)
		a.waitReady(b)
	}
	b.StopTimer()
	close(stopWriter)
	require.NoError(b, <-writerDone)
	for _, f := range files {
		require.NoError(b, f.Close())
	}
	lines := 0
	for _, n := range written {
		lines += n
	}

	// Catch up: follow the output until every line is in it.
	seen := make([][]uint8, dupFiles)
	for i, n := range written {
		seen[i] = make([]uint8, n)
	}
	c := &outCounter{path: out, seen: seen, marks: marks, perKill: make([]int, len(marks))}
	if !poll(2*time.Minute, func() bool { c.read(b); return c.unique == lines }) {
		b.Fatalf("%d of %d lines in the output 2 minutes after the writer stopped: %s", c.unique, lines, a.stderr.String())
	}
	a.stop(b)
	c.read(b) // anything written at the end

	if c.early > 0 {
		b.Fatalf("%d duplicates before the first kill", c.early)
	}
	b.ReportMetric(float64(c.dups)/float64(b.N), "dups/kill")
	b.ReportMetric(float64(c.dups*dupLineLen)/float64(b.N), "bytes/kill")
	per := make([]float64, len(c.perKill))
	for i, n := range c.perKill {
		per[i] = float64(n)
	}
	b.ReportMetric(benchMedian(per), "median-dups/kill")
	b.Logf("%d kills, %d lines (%.0f MB) written: %d duplicates in %d runs, %.0f per kill (%.0f ms of writing); per kill min/median/max %s",
		b.N, lines, float64(lines*dupLineLen)/1e6, c.dups, c.runs, float64(c.dups)/float64(b.N),
		float64(c.dups*dupLineLen)/float64(b.N)/dupRate*1000, benchSpread(per))
}

// dupLine appends line n of file i: dupLineLen bytes.
func dupLine(buf []byte, i, n int) []byte {
	start := len(buf)
	buf = fmt.Appendf(buf, "d%d %09d ", i, n)
	for len(buf)-start < dupLineLen-1 {
		buf = append(buf, byte('a'+(n+len(buf)-start)%26))
	}
	return append(buf, '\n')
}

// outCounter follows flusher_file's output and counts the copies of each
// line of BenchmarkDuplicatesPerKill.
type outCounter struct {
	path   string
	off    int64
	rest   []byte
	seen   [][]uint8 // per file, per line number: copies in the output
	unique int       // lines seen at least once
	dups   int       // copies beyond the first
	runs   int       // runs of consecutive duplicated lines
	last   [dupFiles]int
	// marks are the output's sizes at each kill; perKill counts the
	// duplicates written after each mark (and before the next), early
	// those before the first.
	marks   []int64
	perKill []int
	early   int
}

func (c *outCounter) read(tb testing.TB) {
	f, err := os.Open(c.path)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	require.NoError(tb, err)
	defer f.Close()
	data, err := io.ReadAll(io.NewSectionReader(f, c.off, 1<<62))
	require.NoError(tb, err)
	pos := c.off - int64(len(c.rest)) // offset of data[0]
	c.off += int64(len(data))
	data = append(c.rest, data...)
	var rec struct {
		Content string `json:"content"`
	}
	for {
		nl := bytes.IndexByte(data, '\n')
		if nl < 0 {
			break
		}
		line := data[:nl]
		data = data[nl+1:]
		at := pos
		pos += int64(nl + 1)
		rec.Content = ""
		if err := json.Unmarshal(line, &rec); err != nil {
			tb.Fatalf("not a whole JSON record in the output (%v): %.200q", err, line)
		}
		s := rec.Content
		if len(s) != dupLineLen-1 || s[0] != 'd' || s[1] < '0' || s[1] >= '0'+dupFiles {
			tb.Fatalf("foreign or partial line in the output: %.200q", s)
		}
		i := int(s[1] - '0')
		n, err := strconv.Atoi(s[3:12])
		if err != nil || n >= len(c.seen[i]) || string(dupLine(nil, i, n)) != s+"\n" {
			tb.Fatalf("mangled line in the output: %.200q", s)
		}
		switch k := c.seen[i][n]; {
		case k == 0:
			c.unique++
		case k < 255:
			c.dups++
			if k := sort.Search(len(c.marks), func(j int) bool { return c.marks[j] > at }); k > 0 {
				c.perKill[k-1]++
			} else {
				c.early++
			}
			if c.last[i] != n-1 || c.seen[i][max(n-1, 0)] < 2 {
				c.runs++
			}
		}
		if c.seen[i][n] < 255 {
			c.seen[i][n]++
		}
		c.last[i] = n
	}
	c.rest = append(c.rest[:0], data...)
}

// newBenchEnv is newEnv for a benchmark: the same folders. Its t is nil:
// only its folders are used, with the helpers below.
func newBenchEnv(tb testing.TB) *env {
	root := tb.TempDir()
	e := &env{root: root,
		logs:      filepath.Join(root, "logs"),
		pipelines: filepath.Join(root, "pipelines"),
		data:      filepath.Join(root, "data"),
		out:       filepath.Join(root, "out"),
	}
	for _, d := range []string{e.logs, e.pipelines, e.data, e.out} {
		require.NoError(tb, os.MkdirAll(d, 0o755))
	}
	return e
}

func writeBenchPipeline(tb testing.TB, e *env, name, yaml string) {
	require.NoError(tb, os.WriteFile(filepath.Join(e.pipelines, name), []byte(yaml), 0o644))
}

// benchAgent is an agentProc started without waiting for /readyz, with a
// kept-alive HTTP client for scraping.
type benchAgent struct {
	*agentProc
	client  *http.Client
	started time.Time // just before the exec
}

// startBenchAgent starts `wasmtail run` on e, as env.start does, and
// returns as soon as the process is started.
func startBenchAgent(tb testing.TB, e *env) *benchAgent {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(binary, "run")
	cmd.Env = append(os.Environ(),
		"WASMTAIL_PIPELINES="+e.pipelines,
		"WASMTAIL_DATA="+e.data,
		"WASMTAIL_HTTP="+addr,
	)
	p := &agentProc{cmd: cmd, stderr: &syncBuffer{}, http: addr, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	cmd.Stdout = io.Discard
	started := time.Now()
	require.NoError(tb, cmd.Start())
	go func() { _ = cmd.Wait(); close(p.done) }()
	tb.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return &benchAgent{agentProc: p, started: started, client: &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 1},
	}}
}

func (a *benchAgent) get(path string) (int, string, error) {
	resp, err := a.client.Get("http://" + a.http + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func (a *benchAgent) scrape() (string, error) {
	code, body, err := a.get("/metrics")
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("/metrics: %d", code)
	}
	return body, err
}

// metric is the value of an unlabelled sum of the metric (0 when /metrics
// does not answer).
func (a *benchAgent) metric(name string) float64 {
	body, err := a.scrape()
	if err != nil {
		return 0
	}
	return metricValue(body, name)
}

func (a *benchAgent) waitReady(tb testing.TB) {
	ok := poll(30*time.Second, func() bool {
		select {
		case <-a.done:
			tb.Fatalf("agent exited early: %s", a.stderr.String())
		default:
		}
		code, _, err := a.get("/readyz")
		return err == nil && code == http.StatusOK
	})
	if !ok {
		tb.Fatalf("agent not ready after 30s: %s", a.stderr.String())
	}
}

// stop sends SIGTERM and requires a clean exit.
func (a *benchAgent) stop(tb testing.TB) {
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(30 * time.Second):
		tb.Fatalf("agent did not stop within 30s after SIGTERM: %s", a.stderr.String())
	}
	if code := a.cmd.ProcessState.ExitCode(); code != 0 {
		tb.Fatalf("agent exited with %d after SIGTERM: %s", code, a.stderr.String())
	}
	a.client.CloseIdleConnections()
}

// outputWatch follows flusher_file's output from its size when the watch
// was set, woken by inotify (IN_MODIFY), not by polling: first is when it
// first grew, all when it held want lines, cpu the agent's CPU seconds then.
type outputWatch struct {
	pid   atomic.Int64 // the agent, set once it is started
	done  chan struct{}
	ino   *os.File
	lines atomic.Int64
	first time.Time
	all   time.Time
	cpu   float64
}

func watchOutput(tb testing.TB, path string, want int) *outputWatch {
	f, err := os.Open(path)
	require.NoError(tb, err)
	st, err := f.Stat()
	require.NoError(tb, err)
	off := st.Size()
	fd, err := syscall.InotifyInit1(syscall.IN_NONBLOCK | syscall.IN_CLOEXEC)
	require.NoError(tb, err)
	if _, err := syscall.InotifyAddWatch(fd, path, syscall.IN_MODIFY); err != nil {
		syscall.Close(fd)
		f.Close()
		tb.Fatalf("inotify watch %s: %v", path, err)
	}
	// Non-blocking, so os.File waits in the runtime's poller and Close ends
	// a pending Read.
	w := &outputWatch{done: make(chan struct{}), ino: os.NewFile(uintptr(fd), "inotify")}
	w.lines.Store(int64(countLines(path)))
	go func() {
		defer f.Close()
		ev := make([]byte, 4096)
		buf := make([]byte, 256<<10)
		for {
			if _, err := w.ino.Read(ev); err != nil {
				return // closed
			}
			now := time.Now()
			for {
				n, _ := f.ReadAt(buf, off)
				if n == 0 {
					break
				}
				if w.first.IsZero() {
					w.first = now
				}
				off += int64(n)
				w.lines.Add(int64(bytes.Count(buf[:n], []byte{'\n'})))
			}
			if w.lines.Load() >= int64(want) {
				w.all = now
				w.cpu = cpuSeconds(int(w.pid.Load()))
				close(w.done)
				return
			}
		}
	}()
	return w
}

// close ends the watch; its fields are read after done is closed.
func (w *outputWatch) close() { w.ino.Close() }

func benchMs(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func benchMedian(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

// benchSpread is "min/median/max" of v.
func benchSpread(v []float64) string {
	if len(v) == 0 {
		return "-"
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return fmt.Sprintf("%.1f/%.1f/%.1f", s[0], benchMedian(s), s[len(s)-1])
}
