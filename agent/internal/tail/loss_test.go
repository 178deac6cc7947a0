package tail

// Regression tests for the ways the agent lost lines under rotation and
// restarts (issue 12), and for damaged checkpoints: each sets up the exact
// sequence of a mechanism, deterministically, and requires every line.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wasmtail/wasmtail/agent/internal/batch"
	"github.com/wasmtail/wasmtail/agent/internal/checkpoint"
	"github.com/wasmtail/wasmtail/agent/internal/config"
)

// lines returns n numbered lines "tag-i" and the text of the file that holds
// them.
func lines(tag string, n int) ([]string, string) {
	var out []string
	var sb strings.Builder
	for i := range n {
		l := fmt.Sprintf("%s-%d", tag, i)
		out = append(out, l)
		sb.WriteString(l + "\n")
	}
	return out, sb.String()
}

// newManager builds (does not start) a manager of the pipeline "test"
// over the files of in, with the test's timings.
func newManager(t *testing.T, in config.InputFile, st *checkpoint.Store, s Sink, scan time.Duration) *Manager {
	t.Helper()
	m, err := New(Options{
		Pipeline: "test", Input: in, Store: st, Sink: s, Pool: batch.NewPool(4096),
		ScanInterval: scan, ReleaseQuiet: 200 * time.Millisecond, ReadSize: 4096,
	})
	require.NoError(t, err)
	return m
}

// newStore opens an empty checkpoint store in a folder of its own.
func newStore(t *testing.T) *checkpoint.Store {
	t.Helper()
	st, err := checkpoint.Open(filepath.Join(t.TempDir(), "cp.json"), time.Hour, nil)
	require.NoError(t, err)
	return st
}

// restart builds a second manager of the same pipeline on the same
// checkpoint store, as the agent does after a restart.
func (h *harness) restart(s Sink) *Manager {
	return newManager(h.t, h.m.opts.Input, h.store, s, h.m.opts.ScanInterval)
}

func startManager(t *testing.T, m *Manager) {
	t.Helper()
	require.NoError(t, m.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, m.Shutdown(context.Background())) })
}

// withResumeHook runs fn after the managers of this test bound their saved
// checkpoints and before their first scan: the window between a restart and
// the first look at the files.
func withResumeHook(t *testing.T, fn func()) {
	testHookResumed = fn
	t.Cleanup(func() { testHookResumed = nil })
}

func (h *harness) path(name string) string { return filepath.Join(h.dir, name) }

func (h *harness) copyTruncate(name, copyName string) {
	h.t.Helper()
	data, err := os.ReadFile(h.path(name))
	require.NoError(h.t, err)
	require.NoError(h.t, os.WriteFile(h.path(copyName), data, 0o644))
	require.NoError(h.t, os.Truncate(h.path(name), 0))
}

func (h *harness) stat(name string) *syscall.Stat_t {
	h.t.Helper()
	fi, err := os.Stat(h.path(name))
	require.NoError(h.t, err)
	return fi.Sys().(*syscall.Stat_t)
}

func (h *harness) checkpoint(name, head string, offset int64) {
	st := h.stat(name)
	h.store.Register("test")
	h.store.Set("test", checkpoint.Entry{
		Path: h.path(name), Dev: uint64(st.Dev), Ino: st.Ino,
		SigLen: len(head), SigHash: hashBytes([]byte(head)), Offset: offset,
	})
}

// Mechanism 1: a new file that starts like a file being read (an empty one
// does) waits to be claimed as a copytruncate copy. It must be held open, so
// that a rename out of the pattern before anything looks at it again does
// not lose it, and have a checkpoint, so that a restart finds it.
func TestHeldFileRenamedAwayIsRead(t *testing.T) {
	in := defaultInput("$DIR/*.log")
	h := newHarness(t, in, 4096)
	h.m.opts.ScanInterval = time.Hour // only inotify raises scans
	h.write("app.log", "generation 0\n")
	h.start()
	h.sink.waitN(t, 1)

	// rename rotation (to a name the pattern matches, so the old file is
	// still being read): an empty app.log takes its place
	require.NoError(t, os.Rename(h.path("app.log"), h.path("app.1.log")))
	f, err := os.OpenFile(h.path("app.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	time.Sleep(300 * time.Millisecond) // the create event's scan sees the file empty
	want, text := lines("gen1", 100)
	_, err = f.WriteString(text)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, os.Rename(h.path("app.log"), h.path("app.log.2"))) // out of the pattern

	got := h.sink.waitN(t, 101)
	assert.Equal(t, want, got[1:])
}

func TestHeldFileHasACheckpointThroughARestart(t *testing.T) {
	in := defaultInput("$DIR/*.log")
	h := newHarness(t, in, 4096)
	h.m.opts.ScanInterval = time.Hour
	h.write("app.log", "generation 0\n")
	h.start()
	h.sink.waitN(t, 1)
	require.NoError(t, os.Rename(h.path("app.log"), h.path("app.1.log")))
	h.write("app.log", "")
	// The empty file is held: it must have a checkpoint of its own.
	id := h.stat("app.log")
	require.Eventually(t, func() bool {
		_, ok := h.store.Get("test", uint64(id.Dev), id.Ino)
		return ok
	}, 5*time.Second, 10*time.Millisecond, "the held file has no checkpoint")
	h.stop()

	// While the agent is down the file is written and renamed away.
	want, text := lines("gen1", 50)
	h.write("app.log", text)
	require.NoError(t, os.Rename(h.path("app.log"), h.path("app.log.2")))
	s := &sink{}
	startManager(t, h.restart(s))
	assert.Equal(t, want, s.waitN(t, 50))
}

// delivered runs a manager over app.log with 20 lines until all are
// delivered and checkpointed at its end, and stops it: the first run of the
// restart tests.
func delivered(t *testing.T) *harness {
	h := newHarness(t, defaultInput("$DIR/*.log"), 4096)
	first, text := lines("before", 20)
	h.write("app.log", text)
	h.start()
	assert.Equal(t, first, h.sink.waitN(t, 20))
	waitOffset(t, h.store, int64(len(text)))
	h.stop()
	return h
}

// Mechanism 2: a file copytruncated between the restart and the first scan
// is a truncation, not an inode reuse: its copy is found and read from the
// checkpoint.
func TestCopyTruncateRightAfterRestart(t *testing.T) {
	h := delivered(t)

	unread, more := lines("unread", 30)
	h.write("app.log", more)
	after, newText := lines("after", 10)
	withResumeHook(t, func() {
		h.copyTruncate("app.log", "app.log.1")
		h.write("app.log", newText)
	})
	s := &sink{}
	startManager(t, h.restart(s))
	got := s.waitN(t, 40)
	assert.ElementsMatch(t, append(append([]string{}, unread...), after...), got)
}

// Mechanism 3: a file renamed out of the pattern between the restart and
// the first scan is still read to its end.
func TestRenameAwayRightAfterRestart(t *testing.T) {
	h := delivered(t)

	unread, more := lines("unread", 30)
	h.write("app.log", more)
	withResumeHook(t, func() {
		require.NoError(t, os.Rename(h.path("app.log"), h.path("app.log.1")))
	})
	s := &sink{}
	startManager(t, h.restart(s))
	assert.Equal(t, unread, s.waitN(t, 30))
}

// holdSink takes batches and never acknowledges them: they stay in flight,
// as when the log service is slow and the agent is killed.
type holdSink struct {
	mu sync.Mutex
	n  int
}

func (s *holdSink) Push(_ context.Context, b *batch.Batch) error {
	s.mu.Lock()
	s.n += len(b.Records)
	s.mu.Unlock()
	return nil
}

func (s *holdSink) records() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// Mechanism 4: a copytruncate while batches are in flight. The copy's
// checkpoint must start at the acknowledged offset, not at the read one: a
// crash before the acknowledgements arrive must not lose those batches.
func TestCopyTruncateWithBatchesInFlight(t *testing.T) {
	dir := t.TempDir()
	in := defaultInput(dir + "/*.log")
	st := newStore(t)
	hs := &holdSink{}
	m := newManager(t, in, st, hs, 50*time.Millisecond)
	h := &harness{t: t, dir: dir, store: st, m: m}
	want, text := lines("inflight", 300)
	h.write("app.log", text)
	require.NoError(t, m.Start(context.Background()))
	require.Eventually(t, func() bool { return hs.records() == 300 }, 5*time.Second, 10*time.Millisecond)

	h.copyTruncate("app.log", "app.log.1")
	h.write("app.log", "new content\n")
	copyID := h.stat("app.log.1")
	require.Eventually(t, func() bool {
		_, ok := st.Get("test", uint64(copyID.Dev), copyID.Ino)
		return ok
	}, 5*time.Second, 10*time.Millisecond, "the copy was not claimed")
	// The crash: the batches in flight are never acknowledged.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_ = m.Shutdown(ctx)

	s := &sink{}
	startManager(t, h.restart(s))
	got := s.waitN(t, 301)
	for _, l := range want {
		assert.Contains(t, got, l)
	}
	assert.Contains(t, got, "new content")
}

// Damaged checkpoints: whatever an entry says, no line is skipped and no
// record is torn.
func TestDamagedCheckpointEntries(t *testing.T) {
	content := "alpha one\nbravo two\ncharlie three\n"
	cases := []struct {
		name   string
		head   string
		offset int64
		want   []string
	}{
		{"mid-line offset", content, 13, []string{"bravo two", "charlie three"}},
		{"negative offset", content, -5, []string{"alpha one", "bravo two", "charlie three"}},
		{"offset past the end", content, 1 << 20, []string{"alpha one", "bravo two", "charlie three"}},
		{"changed signature", "something else entirely\n", 10, []string{"alpha one", "bravo two", "charlie three"}},
		{"signature longer than the file", content + "more\n", 10, []string{"alpha one", "bravo two", "charlie three"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, defaultInput("$DIR/*.log"), 4096)
			h.write("a.log", content)
			h.checkpoint("a.log", c.head, c.offset)
			h.start()
			assert.Equal(t, c.want, h.sink.waitN(t, len(c.want)))
		})
	}
}

// A copytruncate while the agent was down: the file is read from 0, its
// copy from the checkpoint.
func TestCopyTruncateWhileDown(t *testing.T) {
	h := delivered(t)

	unread, more := lines("unread", 5)
	h.write("app.log", more)
	h.copyTruncate("app.log", "app.log.1")
	after, newText := lines("after", 5)
	h.write("app.log", newText)
	s := &sink{}
	startManager(t, h.restart(s))
	assert.ElementsMatch(t, append(append([]string{}, unread...), after...), s.waitN(t, 10))
}

// gateSink blocks every Push until opened, then acknowledges at once: the
// pipeline is full (a slow log service) and the reader waits.
type gateSink struct {
	sink
	open chan struct{}
}

func (s *gateSink) Push(ctx context.Context, b *batch.Batch) error {
	select {
	case <-s.open:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.sink.Push(ctx, b)
}

// A file truncated and written again, then copytruncated, all while its
// reader waits for room in the pipeline: the content in between was never
// seen by the reader, but its copy must be found and read.
func TestContentBetweenTwoTruncationsWhileBlocked(t *testing.T) {
	dir := t.TempDir()
	in := defaultInput(dir + "/*.log")
	st := newStore(t)
	gs := &gateSink{open: make(chan struct{})}
	m := newManager(t, in, st, gs, 20*time.Millisecond)
	h := &harness{t: t, dir: dir, store: st, m: m}
	a, textA := lines("first", 100)
	h.write("app.log", textA)
	startManager(t, m)
	var r *reader
	require.Eventually(t, func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, x := range m.readers {
			r = x
		}
		return r != nil && r.pushing.Load()
	}, 5*time.Second, 5*time.Millisecond, "the reader does not wait for room")

	require.NoError(t, os.Truncate(h.path("app.log"), 0))
	b, textB := lines("second", 100)
	h.write("app.log", textB)
	require.Eventually(t, func() bool {
		r.ackMu.Lock()
		defer r.ackMu.Unlock()
		return bytes.HasPrefix(r.unread, []byte("second-0"))
	}, 5*time.Second, 5*time.Millisecond, "the content written while the reader waits is not noted")
	h.copyTruncate("app.log", "app.log.1")
	c, textC := lines("third", 100)
	h.write("app.log", textC)
	close(gs.open)

	got := gs.waitN(t, 300)
	for _, want := range [][]string{a, b, c} {
		for _, l := range want {
			assert.Contains(t, got, l)
		}
	}
}

// A file bound while empty, read but not yet acknowledged, then
// copytruncated while the agent is down: the checkpoint must carry the
// first bytes the reader saw, not the empty file's, or the restart takes
// the new content for the one it knew and never looks for the copy.
func TestSignatureSavedBeforeAcknowledgement(t *testing.T) {
	dir := t.TempDir()
	in := defaultInput(dir + "/*.log")
	st := newStore(t)
	hs := &holdSink{}
	m := newManager(t, in, st, hs, 50*time.Millisecond)
	h := &harness{t: t, dir: dir, store: st, m: m}
	st.Register("test")
	h.write("app.log", "")
	require.NoError(t, m.Start(context.Background()))
	want, text := lines("unacked", 50)
	h.write("app.log", text)
	require.Eventually(t, func() bool { return hs.records() == 50 }, 5*time.Second, 10*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_ = m.Shutdown(ctx) // a crash: nothing was acknowledged

	h.copyTruncate("app.log", "app.log.1")
	after, more := lines("after", 5)
	h.write("app.log", more)
	s := &sink{}
	startManager(t, h.restart(s))
	assert.ElementsMatch(t, append(append([]string{}, want...), after...), s.waitN(t, 55))
}

// A held file (it starts like another file being read) gets lines, then is
// copytruncated while the agent is down: its checkpoint must carry the
// first bytes it had, so that the restart knows the content moved and reads
// the copy.
func TestHeldFileCopiedWhileDown(t *testing.T) {
	h := newHarness(t, defaultInput("$DIR/*.log"), 4096)
	want, text := lines("held", 20)
	h.write("app.1.log", "generation 0\n"+text+"more of generation 0\n")
	h.start()
	h.sink.waitN(t, 22)
	h.write("app.log", "") // held: app.1.log starts like it
	id := h.stat("app.log")
	require.Eventually(t, func() bool {
		_, ok := h.store.Get("test", uint64(id.Dev), id.Ino)
		return ok
	}, 5*time.Second, 10*time.Millisecond, "the held file has no checkpoint")
	h.write("app.log", "generation 0\n"+text) // still held: app.1.log starts like it
	require.Eventually(t, func() bool {
		e, ok := h.store.Get("test", uint64(id.Dev), id.Ino)
		return ok && e.SigLen > len("generation 0\n")
	}, 5*time.Second, 10*time.Millisecond, "the held file's checkpoint does not carry its first bytes")
	// A crash: the checkpoints as they are now are what the next run
	// finds; what the agent delivered so far is all it delivered.
	snap := newStore(t)
	snap.Register("test")
	for _, e := range h.store.Files("test") {
		snap.Set("test", e)
	}
	delivered := h.sink.got()[22:]
	h.stop()

	h.copyTruncate("app.log", "app.log.2")
	after, more := lines("after", 3)
	h.write("app.log", more)
	s := &sink{}
	startManager(t, newManager(t, h.m.opts.Input, snap, s, h.m.opts.ScanInterval))
	missing := func() []string {
		got := map[string]bool{}
		for _, l := range append(append([]string{}, delivered...), s.got()...) {
			got[l] = true
		}
		var out []string
		for _, l := range append(append([]string{"generation 0"}, want...), after...) {
			if !got[l] {
				out = append(out, l)
			}
		}
		return out
	}
	require.Eventually(t, func() bool { return len(missing()) == 0 }, 5*time.Second, 10*time.Millisecond,
		"lines of the held file lost")
}
