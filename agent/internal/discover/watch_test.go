package discover

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type event struct {
	path string
	op   Op
}

// startWatcher starts a Watcher for o and returns its event stream.
func startWatcher(t *testing.T, o Options) (*Matcher, *Watcher, <-chan event) {
	t.Helper()
	m, err := NewMatcher(o)
	require.NoError(t, err)
	ch := make(chan event, 4096)
	w, err := NewWatcher(m, func(path string, op Op) { ch <- event{path, op} })
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, w.Close()) })
	require.NoError(t, w.Start(context.Background()))
	return m, w, ch
}

// waitFor reads events until ok returns true or timeout passes.
func waitFor(t *testing.T, ch <-chan event, timeout time.Duration, ok func(event) bool) bool {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev := <-ch:
			if ok(ev) {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

// Timeouts: a file created in a watched directory must be reported within a
// second; changes that take several steps (a directory appears, gets
// watched, then a rescan) get more slack on a busy machine.
const (
	fast = time.Second
	slow = 5 * time.Second
)

// waitFound waits until path is reported by a Create event, or by a Scan run
// on an Overflow event, as a caller would.
func waitFound(t *testing.T, m *Matcher, ch <-chan event, path string) bool {
	t.Helper()
	return waitFor(t, ch, slow, func(ev event) bool {
		t.Logf("event %v %s", ev.op, ev.path) // shown when the test fails
		if ev.op == Create && ev.path == path {
			return true
		}
		if ev.op == Overflow {
			files, _ := m.Scan()
			return slices.ContainsFunc(files, func(f File) bool { return f.Path == path })
		}
		return false
	})
}

func writeFile(t *testing.T, path string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte("line\n"), 0o644))
}

func TestWatcherFileEvents(t *testing.T) {
	root := newRoot(t)
	mkTree(t, root, "old.log")
	_, _, ch := startWatcher(t, Options{Patterns: []string{root + "/*.log"}})

	writeFile(t, filepath.Join(root, "skip.txt"))
	p := filepath.Join(root, "a.log")
	writeFile(t, p)
	var got []event
	require.True(t, waitFor(t, ch, fast, func(ev event) bool {
		got = append(got, ev)
		return ev == event{p, Create}
	}), "no create event for %s; got %v", p, got)

	tests := []struct {
		name string
		do   func() error
		want event
	}{
		{name: "chmod", do: func() error { return os.Chmod(p, 0o600) }, want: event{p, Chmod}},
		{name: "rename", do: func() error { return os.Rename(p, p+".1") }, want: event{p, Rename}},
		{name: "remove", do: func() error { return os.Remove(filepath.Join(root, "old.log")) }, want: event{filepath.Join(root, "old.log"), Remove}},
	}
	t.Run("write is not reported", func(t *testing.T) {
		// Readers poll the files they follow; a write must not wake the
		// watcher (that cost half the agent's CPU at 10 MB/s).
		f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
		require.NoError(t, err)
		for range 100 {
			_, err = f.WriteString("more\n")
			require.NoError(t, err)
		}
		require.NoError(t, f.Close())
		assert.False(t, waitFor(t, ch, 300*time.Millisecond, func(ev event) bool { return true }), "an event for a write")
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, tt.do())
			var got []event
			assert.True(t, waitFor(t, ch, fast, func(ev event) bool {
				got = append(got, ev)
				return ev == tt.want
			}), "want %v, got %v", tt.want, got)
			for _, ev := range got {
				assert.NotEqual(t, filepath.Join(root, "skip.txt"), ev.path, "event for a path that does not match")
			}
		})
	}
}

func TestWatcherNewDirWithinDepth(t *testing.T) {
	root := newRoot(t)
	m, _, ch := startWatcher(t, Options{Patterns: []string{root + "/**/*.log"}, MaxDirSearchDepth: 2})

	d1 := filepath.Join(root, "d1")
	require.NoError(t, os.Mkdir(d1, 0o755))
	require.True(t, waitFor(t, ch, slow, func(ev event) bool { return ev.op == Overflow }), "no overflow for a new dir")
	p := filepath.Join(d1, "x.log")
	writeFile(t, p)
	require.True(t, waitFor(t, ch, fast, func(ev event) bool { return ev == event{p, Create} }), "no create event for %s", p)

	// mkdir -p of several levels at once: within depth is found, beyond is not.
	require.NoError(t, os.MkdirAll(filepath.Join(d1, "d2", "d3"), 0o755))
	require.True(t, waitFor(t, ch, slow, func(ev event) bool { return ev.op == Overflow }), "no overflow for new dirs")
	assert.Equal(t, []string{root, d1, filepath.Join(d1, "d2")}, m.Dirs())
	deep := filepath.Join(d1, "d2", "d3", "too-deep.log")
	writeFile(t, deep)
	p = filepath.Join(d1, "d2", "y.log")
	writeFile(t, p)
	var got []event
	require.True(t, waitFor(t, ch, fast, func(ev event) bool {
		got = append(got, ev)
		return ev == event{p, Create}
	}), "no create event for %s", p)
	for _, ev := range got {
		assert.NotEqual(t, deep, ev.path, "event beyond MaxDirSearchDepth")
	}
}

func TestWatcherBaseCreatedLater(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		mkdir   string // created after Start
		file    string
	}{
		{name: "literal base", pattern: "{root}/base/sub/*.log", mkdir: "base/sub", file: "base/sub/a.log"},
		{name: "wildcard dir", pattern: "{root}/pods/*/app/*.log", mkdir: "pods/p1/app", file: "pods/p1/app/a.log"},
		{name: "recursive base", pattern: "{root}/x/**/*.log", mkdir: "x/y", file: "x/y/a.log"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := newRoot(t)
			m, w, ch := startWatcher(t, Options{Patterns: rooted(root, []string{tt.pattern}), MaxDirSearchDepth: 1})

			require.NoError(t, os.MkdirAll(filepath.Join(root, tt.mkdir), 0o755))
			p := filepath.Join(root, tt.file)
			writeFile(t, p)
			require.True(t, waitFound(t, m, ch, p), "%s never reported", p)

			// Once the new directory is watched, a file in it gets a
			// Create event of its own.
			require.Eventually(t, func() bool {
				return slices.Contains(w.fsw.WatchList(), filepath.Dir(p))
			}, slow, 5*time.Millisecond, "%s never watched", filepath.Dir(p))
			p2 := filepath.Join(filepath.Dir(p), "b.log")
			writeFile(t, p2)
			require.True(t, waitFor(t, ch, fast, func(ev event) bool { return ev == event{p2, Create} }), "no create event for %s", p2)
		})
	}
}

func TestWatcherBaseRemovedAndRecreated(t *testing.T) {
	root := newRoot(t)
	mkTree(t, root, "base/")
	base := filepath.Join(root, "base")
	m, _, ch := startWatcher(t, Options{Patterns: []string{base + "/*.log"}})

	require.NoError(t, os.Remove(base))
	require.True(t, waitFor(t, ch, slow, func(ev event) bool { return ev.op == Overflow }), "no overflow for a removed base")
	require.NoError(t, os.Mkdir(base, 0o755))
	p := filepath.Join(base, "a.log")
	writeFile(t, p)
	require.True(t, waitFound(t, m, ch, p), "%s never reported", p)
}

func TestWatcherLifecycle(t *testing.T) {
	root := newRoot(t)
	m, err := NewMatcher(Options{Patterns: []string{root + "/*.log"}})
	require.NoError(t, err)
	nop := func(string, Op) {}

	t.Run("close without start", func(t *testing.T) {
		w, err := NewWatcher(m, nop)
		require.NoError(t, err)
		assert.NoError(t, w.Close())
		assert.NoError(t, w.Close())
		assert.Error(t, w.Start(context.Background()), "start after close")
	})
	t.Run("start twice, close twice", func(t *testing.T) {
		w, err := NewWatcher(m, nop)
		require.NoError(t, err)
		require.NoError(t, w.Start(context.Background()))
		assert.Error(t, w.Start(context.Background()))
		assert.NoError(t, w.Close())
		assert.NoError(t, w.Close())
	})
	t.Run("start ctx does not stop the watcher", func(t *testing.T) {
		ch := make(chan event, 16)
		w, err := NewWatcher(m, func(p string, op Op) { ch <- event{p, op} })
		require.NoError(t, err)
		defer w.Close()
		ctx, cancel := context.WithCancel(context.Background())
		require.NoError(t, w.Start(ctx))
		cancel()
		p := filepath.Join(root, "after-cancel.log")
		writeFile(t, p)
		assert.True(t, waitFor(t, ch, fast, func(ev event) bool { return ev == event{p, Create} }))
	})
	t.Run("bad arguments", func(t *testing.T) {
		_, err := NewWatcher(nil, nop)
		assert.Error(t, err)
		_, err = NewWatcher(m, nil)
		assert.Error(t, err)
	})
}

func TestWatcherWatchLimitIsNotFatal(t *testing.T) {
	root := newRoot(t)
	mkTree(t, root, "a/", "b/")
	m, err := NewMatcher(Options{Patterns: []string{root + "/**/*.log"}, MaxDirSearchDepth: 1})
	require.NoError(t, err)
	w, err := NewWatcher(m, func(string, Op) {})
	require.NoError(t, err)
	w.add = func(string) error { return syscall.ENOSPC }
	require.NoError(t, w.Start(context.Background()))
	assert.Equal(t, uint64(3), w.WatchErrors())
	assert.NoError(t, w.Close())
}

func TestOpString(t *testing.T) {
	for _, tt := range []struct {
		op   Op
		want string
	}{{Create, "create"}, {Write, "write"}, {Remove, "remove"}, {Rename, "rename"}, {Chmod, "chmod"}, {Overflow, "overflow"}, {0, "op(0)"}} {
		t.Run(tt.want, func(t *testing.T) { assert.Equal(t, tt.want, tt.op.String()) })
	}
}
