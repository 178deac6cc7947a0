package tail

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/wasmtail/wasmtail/agent/internal/batch"
	"github.com/wasmtail/wasmtail/agent/internal/checkpoint"
	"github.com/wasmtail/wasmtail/agent/internal/config"
	"github.com/wasmtail/wasmtail/agent/internal/metrics"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sink collects the records of every batch and acknowledges at once.
type sink struct {
	mu      sync.Mutex
	records []string
	offsets []string
	tags    map[string]string
}

func (s *sink) Push(_ context.Context, b *batch.Batch) error {
	s.mu.Lock()
	for _, r := range b.Records {
		v, _ := r.Get(batch.ContentKey)
		s.records = append(s.records, string(v))
		if off, ok := r.Get("__file_offset__"); ok {
			s.offsets = append(s.offsets, string(off))
		}
	}
	s.tags = map[string]string{}
	for _, t := range b.Source.Tags {
		s.tags[t.Key] = t.Value
	}
	s.mu.Unlock()
	b.Ack(nil)
	return nil
}

func (s *sink) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.records...)
}

func (s *sink) waitN(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := s.got()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d records, want %d: %q", len(got), n, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func defaultInput(pattern string) config.InputFile {
	return config.InputFile{
		FilePaths:        []string{pattern},
		TailSizeKB:       1024,
		FlushTimeoutSecs: 5,
		MaxLineKB:        512,
		FileOffsetKey:    "__file_offset__",
		Multiline:        config.Multiline{Mode: "custom", UnmatchedContentTreatment: "single_line"},
	}
}

type harness struct {
	t     *testing.T
	dir   string
	store *checkpoint.Store
	sink  *sink
	m     *Manager
	met   *metrics.Metrics
}

func newHarness(t *testing.T, in config.InputFile, readSize int) *harness {
	dir := t.TempDir()
	h := &harness{t: t, dir: dir, sink: &sink{}, met: metrics.New()}
	for i, p := range in.FilePaths {
		in.FilePaths[i] = strings.ReplaceAll(p, "$DIR", dir)
	}
	st, err := checkpoint.Open(filepath.Join(t.TempDir(), "cp.json"), time.Hour, nil)
	require.NoError(t, err)
	h.store = st
	h.m, err = New(Options{
		Pipeline: "test", Input: in, Store: st, Sink: h.sink, Pool: batch.NewPool(readSize),
		ScanInterval: 50 * time.Millisecond, ReleaseQuiet: 200 * time.Millisecond, ReadSize: readSize,
		Metrics: h.met,
	})
	require.NoError(t, err)
	return h
}

func (h *harness) start() {
	require.NoError(h.t, h.m.Start(context.Background()))
	h.t.Cleanup(func() { h.stop() })
}

func (h *harness) stop() {
	require.NoError(h.t, h.m.Shutdown(context.Background()))
}

func (h *harness) write(name, s string) {
	h.t.Helper()
	f, err := os.OpenFile(filepath.Join(h.dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(h.t, err)
	_, err = f.WriteString(s)
	require.NoError(h.t, err)
	require.NoError(h.t, f.Close())
}

func TestLinesAcrossSmallChunks(t *testing.T) {
	// A 16-byte read size forces lines across chunk boundaries: each must
	// come out whole, once.
	h := newHarness(t, defaultInput("$DIR/*.log"), 16)
	var want []string
	var sb strings.Builder
	for i := range 50 {
		line := fmt.Sprintf("line %d %s", i, strings.Repeat("x", i%23))
		want = append(want, line)
		sb.WriteString(line + "\n")
	}
	h.write("a.log", sb.String())
	h.start()
	assert.Equal(t, want, h.sink.waitN(t, len(want)))
}

func TestLineLengthBound(t *testing.T) {
	in := defaultInput("$DIR/*.log")
	in.MaxLineKB = 1
	h := newHarness(t, in, 4096)
	long := strings.Repeat("a", 2500)
	h.write("a.log", long+"\nshort\n")
	h.start()
	got := h.sink.waitN(t, 4)
	assert.Equal(t, []string{long[:1024], long[1024:2048], long[2048:], "short"}, got)
	assert.Equal(t, 1.0, testutil.ToFloat64(h.met.InputLinesSplit.WithLabelValues("test")))
}

func TestLongLineWithoutNewlineIsSplitAtTheBound(t *testing.T) {
	// A line still being written that is already longer than the bound is
	// split without waiting for its end; the rest follows later.
	in := defaultInput("$DIR/*.log")
	in.MaxLineKB = 1
	h := newHarness(t, in, 512)
	h.write("a.log", strings.Repeat("b", 3000))
	h.start()
	got := h.sink.waitN(t, 2)
	assert.Equal(t, []string{strings.Repeat("b", 1024), strings.Repeat("b", 1024)}, got)
	h.write("a.log", "c\n")
	got = h.sink.waitN(t, 3)
	assert.Equal(t, strings.Repeat("b", 3000-2048)+"c", got[2])
}

func TestSplitKeepsUTF8Whole(t *testing.T) {
	in := defaultInput("$DIR/*.log")
	in.MaxLineKB = 1
	h := newHarness(t, in, 4096)
	line := "a" + strings.Repeat("é", 700) // 1401 bytes; byte 1024 is inside a rune
	h.write("a.log", line+"\n")
	h.start()
	got := h.sink.waitN(t, 2)
	assert.Equal(t, line, got[0]+got[1])
	assert.Len(t, got[0], 1023, "cut moved back to the rune boundary")
}

func TestPartialLineHeldUntilNewlineOrTimeout(t *testing.T) {
	in := defaultInput("$DIR/*.log")
	in.FlushTimeoutSecs = 1
	h := newHarness(t, in, 4096)
	h.write("a.log", "abc")
	h.start()
	time.Sleep(300 * time.Millisecond)
	assert.Empty(t, h.sink.got(), "a partial line is held")
	h.write("a.log", "def\nxyz")
	assert.Equal(t, []string{"abcdef"}, h.sink.waitN(t, 1))
	// "xyz" never gets its newline: it is flushed after FlushTimeoutSecs.
	got := h.sink.waitN(t, 2)
	assert.Equal(t, "xyz", got[1])
}

func TestTailSizeKBOnFirstRun(t *testing.T) {
	in := defaultInput("$DIR/*.log")
	in.TailSizeKB = 1
	h := newHarness(t, in, 4096)
	var sb strings.Builder
	for i := range 100 {
		fmt.Fprintf(&sb, "%03d %s\n", i, strings.Repeat("z", 46)) // 51 bytes a line
	}
	h.write("old.log", sb.String()) // 5100 bytes: only the last KiB is read
	h.start()
	got := h.sink.waitN(t, 20)
	time.Sleep(200 * time.Millisecond)
	got = h.sink.got()
	// 1024 bytes before the end falls inside line 79; reading starts at line 80.
	require.Len(t, got, 20)
	assert.True(t, strings.HasPrefix(got[0], "080 "), "first record %q starts at a line boundary", got[0])
	// A file created after the first scan is read from its start.
	h.write("new.log", "N"+sb.String())
	got = h.sink.waitN(t, 120)
	assert.True(t, strings.HasPrefix(got[20], "N000 "))
}

func TestTailSizeKBNotOnLaterRuns(t *testing.T) {
	// Once the pipeline has run, a file found at start-up with no checkpoint
	// is new (e.g. created while the agent was down): it is read whole.
	in := defaultInput("$DIR/*.log")
	in.TailSizeKB = 1
	h := newHarness(t, in, 4096)
	h.store.Register("test")
	h.write("a.log", strings.Repeat("0123456789\n", 200))
	h.start()
	assert.Len(t, h.sink.waitN(t, 200), 200)
}

func TestInodeReuseIsANewFile(t *testing.T) {
	// A checkpoint names this file's device and inode but other first bytes:
	// the inode was reused by a new file, which is read from 0.
	h := newHarness(t, defaultInput("$DIR/*.log"), 4096)
	h.write("a.log", "new content 1\nnew content 2\n")
	fi, err := os.Stat(filepath.Join(h.dir, "a.log"))
	require.NoError(t, err)
	st := fi.Sys().(*syscall.Stat_t)
	old := []byte("old content that was here before\n")
	h.store.Register("test")
	h.store.Set("test", checkpoint.Entry{
		Path: filepath.Join(h.dir, "a.log"), Dev: uint64(st.Dev), Ino: st.Ino,
		SigLen: len(old), SigHash: hashBytes(old), Offset: 14,
	})
	h.start()
	assert.Equal(t, []string{"new content 1", "new content 2"}, h.sink.waitN(t, 2))
}

func TestCheckpointResumes(t *testing.T) {
	// Same inode and first bytes: reading resumes at the checkpoint.
	h := newHarness(t, defaultInput("$DIR/*.log"), 4096)
	h.write("a.log", "one\ntwo\nthree\n")
	fi, err := os.Stat(filepath.Join(h.dir, "a.log"))
	require.NoError(t, err)
	st := fi.Sys().(*syscall.Stat_t)
	head := []byte("one\ntwo\nthree\n")
	h.store.Register("test")
	h.store.Set("test", checkpoint.Entry{
		Path: filepath.Join(h.dir, "a.log"), Dev: uint64(st.Dev), Ino: st.Ino,
		SigLen: len(head), SigHash: hashBytes(head), Offset: 8,
	})
	h.start()
	assert.Equal(t, []string{"three"}, h.sink.waitN(t, 1))
	waitOffset(t, h.store, 14)
}

func waitOffset(t *testing.T, st *checkpoint.Store, want int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		files := st.Files("test")
		if len(files) == 1 && files[0].Offset == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint %+v, want offset %d", files, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMultilineAcrossChunksAndFlushTimeout(t *testing.T) {
	in := defaultInput("$DIR/*.log")
	in.Multiline.StartPattern = `\[\d+\]`
	in.FlushTimeoutSecs = 1
	h := newHarness(t, in, 32)
	text := "orphan line\n[1] first\n  at a\n  at b\n[2] second\n  at c\n[3] last\n  at d\n"
	h.write("a.log", text)
	h.start()
	got := h.sink.waitN(t, 3)
	assert.Equal(t, []string{"orphan line", "[1] first\n  at a\n  at b", "[2] second\n  at c"}, got)
	// [3] has no following start line: it comes out after FlushTimeoutSecs.
	got = h.sink.waitN(t, 4)
	assert.Equal(t, "[3] last\n  at d", got[3])
}

func TestMultilineModes(t *testing.T) {
	text := "junk\n{\"a\": 1,\n \"b\": \"}\"}\n{\"c\": 2}\nSTART x\nmid\nEND\n"
	tests := []struct {
		name string
		ml   config.Multiline
		want []string
	}{
		{"JSON", config.Multiline{Mode: "JSON", UnmatchedContentTreatment: "single_line"},
			[]string{"junk", "{\"a\": 1,\n \"b\": \"}\"}", "{\"c\": 2}", "START x", "mid", "END"}},
		{"start and end, discard", config.Multiline{Mode: "custom", StartPattern: "START", EndPattern: "END", UnmatchedContentTreatment: "discard"},
			[]string{"START x\nmid\nEND"}},
		{"end only", config.Multiline{Mode: "custom", EndPattern: "END", UnmatchedContentTreatment: "single_line"},
			[]string{"junk\n{\"a\": 1,\n \"b\": \"}\"}\n{\"c\": 2}\nSTART x\nmid\nEND"}},
		{"start and continue", config.Multiline{Mode: "custom", StartPattern: "START", ContinuePattern: "mid", UnmatchedContentTreatment: "single_line"},
			[]string{"junk", "{\"a\": 1,", " \"b\": \"}\"}", "{\"c\": 2}", "START x\nmid", "END"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := defaultInput("$DIR/*.log")
			in.Multiline = tt.ml
			in.FlushTimeoutSecs = 1
			h := newHarness(t, in, 8)
			h.write("a.log", text)
			h.start()
			got := h.sink.waitN(t, len(tt.want))
			time.Sleep(1200 * time.Millisecond) // nothing more after the flush timeout
			assert.Equal(t, tt.want, h.sink.got())
			_ = got
		})
	}
}

func TestPositionMetaAndTags(t *testing.T) {
	in := defaultInput("$DIR/*.log")
	in.AppendingLogPositionMeta = true
	in.Tags = map[string]string{"FilePathTagKey": "file"}
	h := newHarness(t, in, 4096)
	h.write("a.log", "one\ntwo\n")
	h.start()
	h.sink.waitN(t, 2)
	h.sink.mu.Lock()
	defer h.sink.mu.Unlock()
	assert.Equal(t, []string{"0", "4"}, h.sink.offsets)
	assert.Equal(t, filepath.Join(h.dir, "a.log"), h.sink.tags["file"])
	assert.NotEmpty(t, h.sink.tags["__inode__"])
	_, hasDefault := h.sink.tags["__path__"]
	assert.False(t, hasDefault, "__path__ renamed to file")
}

func TestNewFileInNewDirectoryPickedUpWithinASecond(t *testing.T) {
	in := defaultInput("$DIR/**/*.log")
	in.MaxDirSearchDepth = 3
	h := newHarness(t, in, 4096)
	h.m.opts.ScanInterval = time.Hour // only inotify can find it in time
	h.start()
	require.NoError(t, os.MkdirAll(filepath.Join(h.dir, "x", "y"), 0o755))
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	h.write("x/y/new.log", "hello\n")
	assert.Equal(t, []string{"hello"}, h.sink.waitN(t, 1))
	assert.Less(t, time.Since(start), time.Second)
}

func TestShutdownReadsToTheEnd(t *testing.T) {
	// Lines written just before Shutdown are read and handed on by it,
	// whatever the reader's idle backoff: in a pod, the emptyDir goes away
	// with the pod.
	h := newHarness(t, defaultInput("$DIR/*.log"), 4096)
	h.write("a.log", "first\n")
	h.start()
	h.sink.waitN(t, 1)
	time.Sleep(2 * time.Second) // the reader backs off to its longest poll
	h.write("a.log", "last 1\nlast 2\npartial")
	h.stop()
	assert.Equal(t, []string{"first", "last 1", "last 2"}, h.sink.got(),
		"whole lines read at shutdown; the partial line stays for a restart")
}
