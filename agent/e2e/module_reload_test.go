package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Hot reload of Wasm modules (issue 6): a module swapped under load loses
// and repeats nothing, and a broken one leaves the good one serving; both
// with files replaced in place and through a simulated Kubernetes ConfigMap
// update.

func reloadWasm(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "runtime", "testdata", "reload", name))
	require.NoError(t, err)
	return b
}

// modulesDir is a modules folder whose files are replaced either by a
// rename over the old file or as the kubelet updates a ConfigMap volume: a
// new timestamped folder, `..data_tmp` pointing at it renamed over
// `..data`, and NAME -> ..data/NAME symlinks.
type modulesDir struct {
	t         *testing.T
	dir       string
	configMap bool
	files     map[string][]byte // the ConfigMap's current content
	n         int
	cur       string // current timestamped folder
}

func newModulesDir(t *testing.T, root string, configMap bool) *modulesDir {
	m := &modulesDir{t: t, dir: filepath.Join(root, "modules"), configMap: configMap, files: map[string][]byte{}}
	require.NoError(t, os.MkdirAll(m.dir, 0o755))
	return m
}

// install replaces files (name -> content) and returns when the update is
// visible: the rename that makes it so is the last step.
func (m *modulesDir) install(files map[string][]byte) {
	t := m.t
	if !m.configMap {
		names := slices.Collect(maps.Keys(files))
		slices.SortFunc(names, func(a, b string) int { // test vectors before their module
			return strings.Compare(strings.Replace(a, ".tests.jsonl", ".0", 1), strings.Replace(b, ".tests.jsonl", ".0", 1))
		})
		for _, name := range names {
			b := files[name]
			tmp := filepath.Join(m.dir, "."+name+".tmp")
			require.NoError(t, os.WriteFile(tmp, b, 0o644))
			require.NoError(t, os.Rename(tmp, filepath.Join(m.dir, name)))
		}
		return
	}
	for name, b := range files {
		m.files[name] = b
	}
	m.n++
	ts := fmt.Sprintf("..2026_11_26_10_00_%02d.%09d", m.n%60, time.Now().Nanosecond())
	require.NoError(t, os.Mkdir(filepath.Join(m.dir, ts), 0o755))
	for name, b := range m.files {
		require.NoError(t, os.WriteFile(filepath.Join(m.dir, ts, name), b, 0o644))
	}
	tmp := filepath.Join(m.dir, "..data_tmp")
	require.NoError(t, os.Symlink(ts, tmp))
	require.NoError(t, os.Rename(tmp, filepath.Join(m.dir, "..data")))
	for name := range m.files {
		link := filepath.Join(m.dir, name)
		if _, err := os.Lstat(link); os.IsNotExist(err) {
			require.NoError(t, os.Symlink(filepath.Join("..data", name), link))
		}
	}
	if m.cur != "" {
		require.NoError(t, os.RemoveAll(filepath.Join(m.dir, m.cur)))
	}
	m.cur = ts
}

// tail follows a flusher_file output and counts records by their "v".
type tail struct {
	path    string
	mu      sync.Mutex
	off     int64
	partial []byte
	recs    []map[string]string
	byV     map[string]int
}

func (tl *tail) poll(t *testing.T) {
	f, err := os.Open(tl.path)
	if err != nil {
		return
	}
	defer f.Close()
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if _, err := f.Seek(tl.off, io.SeekStart); err != nil {
		return
	}
	b, _ := io.ReadAll(f)
	tl.off += int64(len(b))
	data := append(tl.partial, b...)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		var rec map[string]string
		if err := json.Unmarshal(data[:i], &rec); err != nil {
			t.Errorf("not a whole JSON record (%v): %.200q", err, data[:i])
		}
		tl.recs = append(tl.recs, rec)
		tl.byV[rec["v"]]++
		data = data[i+1:]
	}
	tl.partial = append([]byte(nil), data...)
}

func (tl *tail) count(v string) int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.byV[v]
}

func (tl *tail) total() int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return len(tl.recs)
}

func modulePipeline(e *env, name, module, extra string) string {
	return fmt.Sprintf("inputs:\n  - Type: input_file\n    FilePaths: [%s/%s/*.log]\nprocessors:\n  - Type: processor_wasm\n    Module: %s\n%sflushers:\n  - Type: flusher_file\n    FilePath: %s/%s.jsonl\n    MaxFileSize: 0\n",
		e.logs, name, module, extra, e.out, name)
}

func TestModuleReloadUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	for _, lang := range []struct{ name, v1, v2 string }{{"C", "tag1.wasm", "tag2.wasm"}, {"Go", "gotag1.wasm", "gotag2.wasm"}} {
		for _, cm := range []bool{false, true} {
			how := "file replaced"
			if cm {
				how = "ConfigMap"
			}
			t.Run(lang.name+"/"+how, func(t *testing.T) {
				reloadUnderLoad(t, lang.name, reloadWasm(t, lang.v1), reloadWasm(t, lang.v2), cm, how)
			})
		}
	}
}

// reloadUnderLoad swaps a module 20 times between two versions under a
// steady 20,000 lines/s and checks every line came out exactly once, wholly
// from one version.
func reloadUnderLoad(t *testing.T, lang string, v1, v2 []byte, configMap bool, how string) {
	const (
		swaps   = 20
		rate    = 20000 // lines/s
		perTick = 200   // lines per write
		dwell   = 300 * time.Millisecond
	)
	e := newEnv(t)
	mods := newModulesDir(t, e.root, configMap)
	mods.install(map[string][]byte{"tag.wasm": v1})
	require.NoError(t, os.MkdirAll(filepath.Join(e.logs, "app"), 0o755))
	logPath := filepath.Join(e.logs, "app", "app.log")
	require.NoError(t, os.WriteFile(logPath, nil, 0o644))
	e.writePipeline("app.yaml", modulePipeline(e, "app", "tag", ""))
	agent := e.start("WASMTAIL_MODULES=" + mods.dir)

	tl := &tail{path: filepath.Join(e.out, "app.jsonl"), byV: map[string]int{}}
	var stopTail atomic.Bool
	tailDone := make(chan struct{})
	go func() {
		defer close(tailDone)
		for !stopTail.Load() {
			tl.poll(t)
			time.Sleep(time.Millisecond)
		}
	}()

	var written atomic.Int64
	var stopWriter atomic.Bool
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		start := time.Now()
		var buf []byte
		for i := 0; !stopWriter.Load(); i += perTick {
			buf = buf[:0]
			for k := i; k < i+perTick; k++ {
				buf = fmt.Appendf(buf, "line %08d\n", k)
			}
			if _, err := f.Write(buf); err != nil {
				t.Error(err)
				return
			}
			written.Store(int64(i + perTick))
			time.Sleep(time.Until(start.Add(time.Duration(i+perTick) * time.Second / rate)))
		}
	}()

	waitFor(t, 10*time.Second, "records from v1", func() bool { return tl.count("1") > 0 })
	var lat []time.Duration
	for i := range swaps {
		v, wasm := "2", v2
		if i%2 == 1 {
			v, wasm = "1", v1
		}
		time.Sleep(dwell)
		before := tl.count(v)
		t0 := time.Now()
		mods.install(map[string][]byte{"tag.wasm": wasm})
		deadline := t0.Add(20 * time.Second)
		for tl.count(v) == before {
			if time.Now().After(deadline) {
				t.Fatalf("swap %d: no record from v%s 20s after the file was replaced\n%s", i+1, v, agent.stderr.String())
			}
			time.Sleep(500 * time.Microsecond)
		}
		lat = append(lat, time.Since(t0))
	}
	time.Sleep(dwell)
	stopWriter.Store(true)
	<-writerDone
	n := int(written.Load())
	waitFor(t, 30*time.Second, "every line", func() bool { return tl.total() >= n })
	time.Sleep(300 * time.Millisecond)
	stopTail.Store(true)
	<-tailDone
	tl.poll(t)
	m := agent.metrics(t)
	require.Equal(t, 0, agent.stop(t))

	seen := make([]int, n)
	for _, r := range tl.recs {
		c := r["content"]
		num, ok := strings.CutPrefix(c, "line ")
		k, err := strconv.Atoi(num)
		if !ok || err != nil || k < 0 || k >= n {
			t.Fatalf("unexpected record %v", r)
		}
		seen[k]++
		delete(r, "__time__")
		if len(r) != 2 || (r["v"] != "1" && r["v"] != "2") {
			t.Fatalf("record not wholly from one version: %v", r)
		}
	}
	for k, c := range seen {
		if c != 1 {
			t.Fatalf("line %d delivered %d times, want exactly once", k, c)
		}
	}
	assert.Contains(t, m, fmt.Sprintf(`wasmtail_wasm_reloads_total{module="tag",result="ok"} %d`, swaps))
	assert.Contains(t, m, fmt.Sprintf(`wasmtail_wasm_module_info{module="tag",sha256="%s"} 1`, sumHex(v1)))
	assert.NotContains(t, m, sumHex(v2))

	first := lat[0]
	sorted := slices.Clone(lat)
	slices.Sort(sorted)
	rest := slices.Clone(lat[1:])
	slices.Sort(rest)
	t.Logf("%s module, %s: %d swaps under %d lines/s, %d lines, none lost or doubled; reload latency (file replaced -> first record from the new version): p50 %s, max %s; first swap (new version, cold) %s; later swaps (from the compilation cache) p50 %s, max %s",
		lang, how, swaps, rate, n, sorted[len(sorted)/2].Round(time.Millisecond), sorted[len(sorted)-1].Round(time.Millisecond),
		first.Round(time.Millisecond), rest[len(rest)/2].Round(time.Millisecond), rest[len(rest)-1].Round(time.Millisecond))
	fmt.Printf("RELOAD-LATENCY %s %s: p50 %s max %s first(cold) %s cached-p50 %s cached-max %s\n", lang, how,
		sorted[len(sorted)/2].Round(time.Millisecond), sorted[len(sorted)-1].Round(time.Millisecond),
		first.Round(time.Millisecond), rest[len(rest)/2].Round(time.Millisecond), rest[len(rest)-1].Round(time.Millisecond))
}

func sumHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestModuleReloadRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	for _, cm := range []bool{false, true} {
		name := "file replaced"
		if cm {
			name = "ConfigMap"
		}
		t.Run(name, func(t *testing.T) { reloadRefused(t, cm) })
	}
}

// reloadRefused writes broken modules over a good one: the good one keeps
// serving, and each refusal is in the log, the metric and /readyz.
func reloadRefused(t *testing.T, configMap bool) {
	e := newEnv(t)
	mods := newModulesDir(t, e.root, configMap)
	tag1, tag2 := reloadWasm(t, "tag1.wasm"), reloadWasm(t, "tag2.wasm")
	mods.install(map[string][]byte{"tag.wasm": tag1, "pinned.wasm": tag1})
	for _, d := range []string{"app", "pin"} {
		require.NoError(t, os.MkdirAll(filepath.Join(e.logs, d), 0o755))
	}
	e.writePipeline("app.yaml", modulePipeline(e, "app", "tag", ""))
	e.writePipeline("pin.yaml", modulePipeline(e, "pin", "pinned", "    Sha256: "+sumHex(tag1)+"\n"))
	agent := e.start("WASMTAIL_MODULES=" + mods.dir)

	app, err := os.OpenFile(filepath.Join(e.logs, "app", "app.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	defer app.Close()
	// serving writes a line and checks it comes out from version v, whole.
	serving := func(what, v string) {
		t.Helper()
		line := "after " + what
		_, err := fmt.Fprintln(app, line)
		require.NoError(t, err)
		want := fmt.Sprintf(`{"content":%q,"v":%q,"__time__":`, line, v)
		waitFor(t, 10*time.Second, what+": "+want, func() bool { return containsLine(filepath.Join(e.out, "app.jsonl"), want) })
	}
	readyz := func() (int, map[string]string) {
		resp, err := http.Get("http://" + agent.http + "/readyz")
		require.NoError(t, err)
		defer resp.Body.Close()
		var st struct {
			RefusedModules map[string]string `json:"refused_modules"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
		return resp.StatusCode, st.RefusedModules
	}
	refused := func(module string, n int) string {
		return fmt.Sprintf(`wasmtail_wasm_reloads_total{module="%s",result="refused"} %d`, module, n)
	}
	serving("start", "1")

	nomarker, err := os.ReadFile(filepath.Join("..", "..", "runtime", "testdata", "hostile", "nomarker.wasm"))
	require.NoError(t, err)
	cases := []struct {
		name   string
		module string
		files  map[string][]byte
		want   string
	}{
		{"bad bytes", "tag", map[string][]byte{"tag.wasm": []byte("\x00asm\x01\x00\x00\x00 definitely not a module")}, "compile"},
		{"no marker", "tag", map[string][]byte{"tag.wasm": nomarker}, "no ABI marker"},
		{"failing init", "tag", map[string][]byte{"tag.wasm": reloadWasm(t, "tagbadinit.wasm")}, "wasmtail_init returned 2"},
		{"failing test vectors", "tag", map[string][]byte{
			"tag.tests.jsonl": []byte(`{"in": ["x"], "out": [{"content": "x", "v": "3"}]}` + "\n"),
			"tag.wasm":        tag2,
		}, "test vectors"},
		{"wrong sha256", "pinned", map[string][]byte{"pinned.wasm": tag2}, "does not match the pinned Sha256"},
	}
	nTag := 0
	for _, c := range cases {
		n := 1
		if c.module == "tag" {
			nTag++
			n = nTag
		}
		mods.install(c.files)
		waitFor(t, 10*time.Second, c.name+" refused", func() bool { return strings.Contains(agent.metrics(t), refused(c.module, n)) })
		code, ref := readyz()
		assert.Equal(t, 200, code, "%s: the agent stays ready", c.name)
		assert.Contains(t, ref[c.module], c.want, "%s: /readyz says why", c.name)
		assert.Contains(t, agent.stderr.String(), c.want, "%s: the log says why", c.name)
		serving(c.name, "1")
	}
	assert.Contains(t, agent.stderr.String(), "wasm module reload refused: the running version keeps serving")
	m := agent.metrics(t)
	assert.Contains(t, m, fmt.Sprintf(`wasmtail_wasm_module_info{module="tag",sha256="%s"} 1`, sumHex(tag1)))
	assert.NotContains(t, m, `wasmtail_wasm_reloads_total{module="tag",result="ok"}`)

	// Fixed vectors: tag2 passes them and is swapped in; pinned stays refused.
	mods.install(map[string][]byte{"tag.tests.jsonl": []byte(`{"in": ["x"], "out": [{"content": "x", "v": "2"}]}` + "\n")})
	waitFor(t, 10*time.Second, "tag2 swapped in", func() bool {
		return strings.Contains(agent.metrics(t), `wasmtail_wasm_reloads_total{module="tag",result="ok"} 1`)
	})
	serving("fix", "2")
	_, ref := readyz()
	assert.NotContains(t, ref, "tag")
	assert.Contains(t, ref, "pinned")
	require.Equal(t, 0, agent.stop(t))
}
