package e2e

// TestChurn is the randomized churn harness of issue 12: "every line the
// application writes arrives, whatever the files, the restarts and the log
// service do". Its writing side is in churn_writer_test.go, its accounting
// in churn_account_test.go.

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/agent/internal/slslocal"
)

// churnConfig are the settings of a churn run, from the environment:
//
//	E2E_CHURN_SECS     how long the files churn and the agent is killed (default 60)
//	E2E_CHURN_SEED     the seed of every random decision (default: random; always printed)
//	E2E_CHURN_KBPS     KiB/s written, all files together (default 2048; 1024 under the race detector)
//	E2E_CHURN_STREAMS  files written at the same time in the busy folder (default 50; the calm ones have 1 each)
//	E2E_CHURN_KEEP     rotated generations kept per file, older ones deleted (default 0: keep all)
type churnConfig struct {
	dur     time.Duration
	seed    uint64
	folders []churnFolder
	rate    int // bytes per second, all stream writers together
	keep    int
}

// churnFolder is a folder of logs (under the logs folder) and the pipeline
// that reads it (<folder>/*.log), into an output of the same name.
//
// A busy folder, where files are created and renamed all the time, raises
// inotify events that make the agent rescan it all the time. A calm one,
// with one file, is rescanned when that file is created or renamed and by
// the periodic scan (every second): what happens between two scans goes
// unseen there, and races with the scan show. There are three calm
// folders, to meet those races three times as often.
type churnFolder struct {
	name     string
	writers  int // streamWriters
	blinkers int // writers of short-lived files
}

// writers is the number of stream writers in all folders.
func (c churnConfig) writers() int {
	n := 0
	for _, f := range c.folders {
		n += f.writers
	}
	return n
}

func churnConfigFromEnv(t *testing.T) churnConfig {
	num := func(name string, def int) int {
		s := os.Getenv(name)
		if s == "" {
			return def
		}
		v, err := strconv.Atoi(s)
		require.NoError(t, err, name)
		require.GreaterOrEqual(t, v, 0, name)
		return v
	}
	kbps := 2048
	if raceBuild || strings.Contains(os.Getenv("GOFLAGS"), "-race") {
		// The race detector slows the writers (and the agent, when GOFLAGS
		// builds it with -race too) several times over.
		kbps = 1024
	}
	streams := max(num("E2E_CHURN_STREAMS", 50), 1)
	cfg := churnConfig{
		dur:     time.Duration(num("E2E_CHURN_SECS", 60)) * time.Second,
		folders: []churnFolder{{"busy", streams, max(streams/5, 1)}, {"calm1", 1, 1}, {"calm2", 1, 1}, {"calm3", 1, 1}},
		rate:    num("E2E_CHURN_KBPS", kbps) << 10,
		keep:    num("E2E_CHURN_KEEP", 0),
		seed:    rand.Uint64(),
	}
	if s := os.Getenv("E2E_CHURN_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "E2E_CHURN_SEED")
		cfg.seed = v
	}
	return cfg
}

// TestChurn writes lines into 50 files of a busy folder and 1 in each of
// three calm ones (each folder its own pipeline) at a few MB/s in all,
// while rotating each file every 0.5–3 s in every way (rename out of the
// pattern, rename within it, copytruncate, delete while open, truncate in
// place), and creates short-lived files renamed out of the pattern within
// 0.1–1 s. The
// agent is killed with SIGKILL every 0.5–3 s of running and restarted at
// once; at the end it runs until the output stops growing, and is stopped
// with SIGTERM. One subtest per output, side by side (each its own agent,
// folders and writers): flusher_file, and flusher_sls into
// sls-local answering about 15 % of requests with a fault (503, 403
// WriteQuotaExceed, a timeout, a connection reset, a 200 lost after the
// logs were stored).
//
// A line is owed (keepable) when the file holding it stayed on disk until
// the end (under any name, or as a copytruncate's copy) and the file it
// was written into matched the pattern for 0.5 s in total while the agent
// ran, after the line was written (see judge). The test fails when an owed
// line is missing from the output, or when a record is not exactly one
// written line (torn, merged or foreign). Duplicates are counted, not
// failed.
//
// A failing run is replayed with E2E_CHURN_SEED: the writers, the killer
// and sls-local's faults then make the same decisions, though not at the
// same moments of each other (timing is the machine's).
func TestChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	cfg := churnConfigFromEnv(t)
	// Printed at once, not only in the test log: a run cut short by the
	// test timeout must still say how to replay it.
	fmt.Fprintf(os.Stderr, "TestChurn: E2E_CHURN_SEED=%d E2E_CHURN_SECS=%d (%d files, %d KiB/s)\n",
		cfg.seed, int(cfg.dur.Seconds()), cfg.writers(), cfg.rate>>10)
	for _, output := range []string{"file", "sls"} {
		t.Run(output, func(t *testing.T) {
			t.Parallel()
			runChurn(t, cfg, output)
		})
	}
}

// churnRig is an agent set up for one output: its pipelines, one per
// folder, how to start it, and how to read what it delivered.
type churnRig struct {
	e     *env
	sls   *slsProc // nil for flusher_file
	start func() *agentProc
	// fetch reads the output of a folder's pipeline from byte off on; nil,
	// nil when there is none yet.
	fetch func(folder string, off int64) (io.ReadCloser, error)
}

// inputYAML is the input of the pipeline of a folder.
func (r *churnRig) inputYAML(folder string) string {
	return fmt.Sprintf(`inputs:
  - Type: input_file
    FilePaths: [%s/*.log]
`, filepath.Join(r.e.logs, folder))
}

// churnReadyWait is how long a start may take until /readyz answers. The
// agent binds every checkpointed file before it answers: with thousands of
// rotated files and a loaded machine that took 13 s once (e.start allows
// 10). A slow start is a figure the report prints, not a failure.
const churnReadyWait = time.Minute

// startChurnAgent runs `wasmtail run` as e.start does, waiting up to
// churnReadyWait for /readyz.
func startChurnAgent(e *env, extraEnv ...string) *agentProc {
	t := e.t
	t.Helper()
	addr := freePort(t)
	cmd := exec.Command(binary, "run")
	cmd.Env = append(os.Environ(), "WASMTAIL_PIPELINES="+e.pipelines, "WASMTAIL_DATA="+e.data, "WASMTAIL_HTTP="+addr)
	cmd.Env = append(cmd.Env, extraEnv...)
	p := &agentProc{cmd: cmd, stderr: &syncBuffer{}, http: addr, done: make(chan struct{})}
	cmd.Stderr, cmd.Stdout = p.stderr, io.Discard
	require.NoError(t, cmd.Start())
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(p.kill) // a no-op once it exited
	client := &http.Client{Timeout: 5 * time.Second}
	exited := false
	ready := poll(churnReadyWait, func() bool {
		select {
		case <-p.done:
			exited = true
			return true
		default:
		}
		resp, err := client.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	switch {
	case exited:
		t.Fatalf("agent exited early: %s", p.stderr.String())
	case !ready:
		t.Fatalf("agent not ready after %s: %s", churnReadyWait, p.stderr.String())
	}
	return p
}

func newFileRig(t *testing.T, cfg churnConfig) *churnRig {
	e := newEnv(t)
	r := &churnRig{e: e, start: func() *agentProc { return startChurnAgent(e) }}
	for _, f := range cfg.folders {
		e.writePipeline(f.name+".yaml", r.inputYAML(f.name)+fmt.Sprintf(`flushers:
  - Type: flusher_file
    FilePath: %s
    MaxFileSize: 0
`, filepath.Join(e.out, f.name+".jsonl")))
	}
	r.fetch = func(folder string, off int64) (io.ReadCloser, error) {
		f, err := os.Open(filepath.Join(e.out, folder+".jsonl"))
		if os.IsNotExist(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
		return f, nil
	}
	return r
}

// slsFaultShare is the share of requests each kind of fault answers;
// churnFaults are the kinds.
const slsFaultShare = 0.03

var churnFaults = []slslocal.Fault{
	{Status: 503},
	{Status: 403, Code: "WriteQuotaExceed"},
	{Delay: 3 * time.Second}, // a timeout: the agent waits 2 s (RequestTimeoutSecs)
	{Reset: true},
	{Reset: true, AfterStore: true}, // a 200 lost on the way back
}

func newSLSRig(t *testing.T, cfg churnConfig) *churnRig {
	se := newSLSEnv(t, "--fault-seed", strconv.FormatUint(cfg.seed|1, 10))
	r := &churnRig{e: se.env, sls: se.srv, start: func() *agentProc {
		return startChurnAgent(se.env, "ALIBABA_CLOUD_ACCESS_KEY_ID="+slslocal.TestAccessKeyID,
			"ALIBABA_CLOUD_ACCESS_KEY_SECRET="+slslocal.TestAccessKeySecret)
	}}
	for _, f := range cfg.folders {
		se.writePipeline(f.name+".yaml", r.inputYAML(f.name)+fmt.Sprintf(`flushers:
  - Type: flusher_sls
    Project: demo
    Logstore: %s
    Endpoint: %s
    Region: cn-hangzhou
    RequestTimeoutSecs: 2
`, f.name, se.srv.Addr()))
	}
	// A request goes through the faults in order and each kind draws its
	// rate from what the ones before left, so that each answers
	// slsFaultShare of all requests.
	left := 1.0
	for _, f := range churnFaults {
		f.Rate = slsFaultShare / left
		left -= slsFaultShare
		se.srv.InjectFault(f)
	}
	r.fetch = func(folder string, off int64) (io.ReadCloser, error) {
		url := "http://" + se.srv.Addr() + "/_local/logs/demo/" + folder
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", off))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		switch resp.StatusCode {
		case http.StatusOK, http.StatusPartialContent:
			return resp.Body, nil
		case http.StatusNotFound, http.StatusRequestedRangeNotSatisfiable: // nothing (new) stored
			resp.Body.Close()
			return nil, nil
		}
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s from byte %d: %s", url, off, resp.Status)
	}
	return r
}

// killer starts the agent, kills it and keeps the timeline of when it ran.
type killer struct {
	t     *testing.T
	rig   *churnRig
	clk   *clock
	tl    timeline
	agent *agentProc
	kills int
	logs  agentLogs
	// startup is how long each start took, until /readyz answered.
	startup []time.Duration
}

func (k *killer) start() {
	began := k.clk.now()
	k.agent = k.rig.start() // returns once /readyz answers
	now := k.clk.now()
	k.tl.begin(now)
	k.startup = append(k.startup, now-began)
}

// startupTimes sums up how long the agent took to answer /readyz.
func (k *killer) startupTimes() string {
	if len(k.startup) == 0 {
		return "none"
	}
	var sum, worst time.Duration
	for _, d := range k.startup {
		sum += d
		worst = max(worst, d)
	}
	return fmt.Sprintf("mean %s, max %s", (sum / time.Duration(len(k.startup))).Round(time.Millisecond), worst.Round(time.Millisecond))
}

func (k *killer) kill() {
	k.tl.end(k.clk.now())
	k.agent.kill()
	k.kills++
	k.logs.add(k.agent.stderr.String())
}

// stop stops the agent with SIGTERM and returns its exit code.
func (k *killer) stop() int {
	k.tl.end(k.clk.now())
	code := k.agent.stop(k.t)
	k.logs.add(k.agent.stderr.String())
	return code
}

// agentLogs sums up the warnings and errors the agents logged.
type agentLogs struct {
	warnings, errors int
	msgs             map[string]int
}

func (l *agentLogs) add(log string) {
	if l.msgs == nil {
		l.msgs = map[string]int{}
	}
	for _, line := range strings.Split(log, "\n") {
		switch {
		case strings.Contains(line, "level=WARN"):
			l.warnings++
		case strings.Contains(line, "level=ERROR"):
			l.errors++
		default:
			continue
		}
		if _, msg, ok := strings.Cut(line, "msg="); ok {
			if strings.HasPrefix(msg, `"`) {
				msg, _, _ = strings.Cut(msg[1:], `"`)
			} else {
				msg, _, _ = strings.Cut(msg, " ")
			}
			l.msgs[msg]++
		}
	}
}

func (l *agentLogs) String() string {
	var parts []string
	for m, n := range l.msgs {
		parts = append(parts, fmt.Sprintf("%q ×%d", m, n))
	}
	slices.Sort(parts)
	return fmt.Sprintf("%d warnings, %d errors: %s", l.warnings, l.errors, strings.Join(parts, "; "))
}

// Timing of the final run.
const (
	// churnQuiet: the final run ends when the output has not grown for this
	// long. It outlasts the agent's longest wait before it reads a file it
	// knows of (a new file that may be a copytruncate copy waits 30 s).
	churnQuiet = 35 * time.Second
	// churnSettled: or when every owed line arrived and the output has not
	// grown for this long (late duplicates then count too).
	churnSettled = 2 * time.Second
	// churnGiveUp bounds the final run.
	churnGiveUp = 3 * time.Minute
)

func runChurn(t *testing.T, cfg churnConfig, output string) {
	var rig *churnRig
	if output == "sls" {
		rig = newSLSRig(t, cfg)
	} else {
		rig = newFileRig(t, cfg)
	}
	clk := &clock{t0: time.Now()}
	rng := rand.New(rand.NewPCG(cfg.seed, 0xc1))
	k := &killer{t: t, rig: rig, clk: clk}
	k.start()
	// The pipelines must be on record before any file exists: a pipeline
	// the agent has not seen before skips all but TailSizeKB of each file.
	ckpt := filepath.Join(rig.e.data, "checkpoints.json")
	waitFor(t, 10*time.Second, "the pipelines in "+ckpt, func() bool {
		b, _ := os.ReadFile(ckpt)
		for _, f := range cfg.folders {
			if !strings.Contains(string(b), `"`+f.name+`"`) {
				return false
			}
		}
		return true
	})

	// Churn: the writers write and rotate, the agent is killed every
	// 0.5–3 s of running and restarted at once.
	w := startChurnWriters(t, cfg, clk, rig.e.logs)
	deadline := clk.now() + cfg.dur
	for clk.now() < deadline {
		up := time.Duration(500+rng.IntN(2500)) * time.Millisecond
		select {
		case <-time.After(min(up, deadline-clk.now())):
		case err := <-w.errc:
			t.Fatalf("writer: %v", err)
		}
		if clk.now() < deadline {
			k.kill()
			k.start()
		}
	}
	streams := w.stop(t)

	// The final run: no more kills or writes.
	written := make([]int64, len(streams))
	for i, s := range streams {
		written[i] = s.seq
	}
	tal := newTally(streams[0].lines, written)
	var outs outputs
	for _, f := range cfg.folders {
		outs = append(outs, &outputTail{consume: tal.record,
			fetch: func(off int64) (io.ReadCloser, error) { return rig.fetch(f.name, off) }})
	}
	final := clk.now()
	ending := outs.await(t, clk, func(now time.Duration) bool {
		return now-final >= keepMin+time.Second && owedArrived(streams, tal, &k.tl, now)
	})
	end := clk.now()
	if code := k.stop(); code != 0 {
		t.Errorf("exit code %d after SIGTERM; log:\n%s", code, k.agent.stderr.String())
	}
	outs.poll(t) // what the shutdown flushed
	for _, o := range outs {
		if len(o.partial) > 0 {
			tal.malformedRecord(string(o.partial))
		}
	}

	a := settle(streams, tal, &k.tl, end, 8)
	report(t, cfg, output, k, rig, streams, tal, a, end-final, ending)
}

// outputs are the outputs of the pipelines.
type outputs []*outputTail

// poll reads what was added to the outputs and tells whether they grew.
func (outs outputs) poll(t *testing.T) bool {
	grew := false
	for _, o := range outs {
		n, err := o.poll()
		require.NoError(t, err)
		grew = grew || n > 0
	}
	return grew
}

// await reads the outputs until done (every owed line arrived) holds and
// they did not grow for churnSettled, or they did not grow for
// churnQuiet, or churnGiveUp passed, and says which.
func (outs outputs) await(t *testing.T, clk *clock, done func(now time.Duration) bool) string {
	start := clk.now()
	lastGrowth := start
	for {
		grew := outs.poll(t)
		now := clk.now()
		if grew {
			lastGrowth = now
		}
		switch {
		case now-lastGrowth >= churnSettled && done(now):
			return "every owed line arrived"
		case now-lastGrowth >= churnQuiet:
			return fmt.Sprintf("the output did not grow for %s", churnQuiet)
		case now-start >= churnGiveUp:
			return fmt.Sprintf("gave up after %s", churnGiveUp)
		}
		time.Sleep(500 * time.Millisecond) // the interval of polling the outputs
	}
}

// churnWriters are the running writer goroutines.
type churnWriters struct {
	streams []*stream
	stopc   chan struct{}
	errc    chan error
	wg      sync.WaitGroup
	once    sync.Once
}

// startChurnWriters starts the writers of every folder. Streams are
// numbered across folders: each folder's stream writers, then its
// blinkers.
func startChurnWriters(t *testing.T, cfg churnConfig, clk *clock, logs string) *churnWriters {
	lines := newLineMaker(cfg.seed)
	w := &churnWriters{stopc: make(chan struct{}), errc: make(chan error, 1000)}
	run := func(s *stream, body func(<-chan struct{}) error) {
		w.streams = append(w.streams, s)
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			if err := body(w.stopc); err != nil {
				w.errc <- err
			}
		}()
	}
	rate := float64(cfg.rate) / float64(cfg.writers())
	for _, f := range cfg.folders {
		dir := filepath.Join(logs, f.name)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for i := range f.writers + f.blinkers {
			s := newStream(len(w.streams), cfg.seed, clk, lines, dir, cfg.keep)
			if i < f.writers {
				run(s, (&streamWriter{stream: s, rate: rate}).run)
			} else {
				s.short = true
				run(s, (&blinker{stream: s}).run)
			}
		}
	}
	// A test that fails early still stops its writers before its folders
	// are removed.
	t.Cleanup(w.stopAndWait)
	return w
}

func (w *churnWriters) stopAndWait() {
	w.once.Do(func() { close(w.stopc) })
	w.wg.Wait()
}

// stop stops the writers and returns what they did.
func (w *churnWriters) stop(t *testing.T) []*stream {
	w.stopAndWait()
	select {
	case err := <-w.errc:
		t.Fatalf("writer: %v", err)
	default:
	}
	return w.streams
}

// report prints the figures of the run and fails the test on lost owed
// lines or malformed records.
func report(t *testing.T, cfg churnConfig, output string, k *killer, rig *churnRig, streams []*stream,
	tal *tally, a *account, finalRun time.Duration, ending string) {
	var rots [numRotKinds]int
	withLines := 0
	for _, s := range streams {
		for i, n := range s.rots {
			rots[i] += n
		}
		if s.short {
			seen := map[*fileHist]bool{}
			for _, c := range s.chunks {
				seen[c.file] = true
			}
			withLines += len(seen)
		}
	}
	var rotParts, folders []string
	for i, n := range rots {
		rotParts = append(rotParts, fmt.Sprintf("%s %d", rotKind(i), n))
	}
	for _, f := range cfg.folders {
		folders = append(folders, fmt.Sprintf("%s: %d files, %d short-lived-file writers", f.name, f.writers, f.blinkers))
	}
	perKill := 0.0
	if k.kills > 0 {
		perKill = float64(a.duplicates) / float64(k.kills)
	}
	t.Logf("seed %d (replay: E2E_CHURN_SEED=%d go test -run '^TestChurn$/%s' ./agent/e2e/), %s at %d KiB/s; %s; keep %d generations (0: all)",
		cfg.seed, cfg.seed, output, cfg.dur, cfg.rate>>10, strings.Join(folders, "; "), cfg.keep)
	t.Logf("agent: %d SIGKILLs; ready after start: %s; final run %s (%s)", k.kills, k.startupTimes(), finalRun.Round(100*time.Millisecond), ending)
	t.Logf("rotations: %s (%d of the short-lived files had lines)", strings.Join(rotParts, ", "), withLines)
	t.Logf("lines: written %d, keepable %d, delivered %d, lost-keepable %d, lost-not-keepable %d",
		a.written, a.keepable, a.delivered, a.lostKeepable, a.lostNotKeepable)
	t.Logf("not keepable: %s", a.notKeepableString())
	t.Logf("duplicates: %d (%.0f per SIGKILL); output records %d, malformed %d", a.duplicates, perKill, tal.records, tal.malformed)
	if rig.sls != nil {
		t.Logf("sls-local answers: %v (timeouts are not counted)", rig.sls.Stats().Requests)
	}
	t.Logf("agent logs: %s", &k.logs)
	if tal.malformed > 0 {
		t.Errorf("%d malformed records (not exactly one written line), first: %s", tal.malformed, strings.Join(tal.bad, ", "))
	}
	if a.lostKeepable > 0 {
		// Rule out the harness's own mistakes: each lost line must be in
		// the file that holds it.
		checked, missing := a.checkOnDisk(streams[0].lines)
		if len(missing) > 0 {
			t.Errorf("harness bookkeeping: %d of %d lost lines checked are not where the harness says they are: %s",
				len(missing), checked, strings.Join(missing[:min(len(missing), 10)], "; "))
		} else {
			t.Logf("all %d lost lines checked are on disk in the file the harness says holds them", checked)
		}
		var hist []string
		for _, l := range a.examples {
			hist = append(hist, l.history(a, &k.tl))
		}
		whole, part := a.lostContents()
		t.Errorf("%d keepable lines lost (of %d keepable), in %d of %d streams, written between %s and %s; "+
			"by what became of their file: %v; %d in file contents of which no line arrived, %d in contents that partly arrived\n%s",
			a.lostKeepable, a.keepable, len(a.perStreamLost), len(streams), secs(a.firstLostAt), secs(a.lastLostAt), a.lostByFate,
			whole, part, strings.Join(hist, "\n"))
	}
}
