package checkpoint

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The damaged-state contract (DESIGN.md §4): whatever is wrong with the
// saved state, Open succeeds, the previous good generation is used when the
// current one is unusable, and every pipeline counts as known, so that no
// file is tailed as on a first run (duplicates, never skips).

// older and newer are one file's entry in the two generations that
// twoGenerations saves: newer is in checkpoints.json, older in its .prev.
var (
	older = Entry{Path: "/var/log/app.log", Dev: 7, Ino: 42, SigLen: 1024, SigHash: 99, Offset: 100, Updated: 1}
	newer = Entry{Path: "/var/log/app.log", Dev: 7, Ino: 42, SigLen: 1024, SigHash: 99, Offset: 200, Updated: 2}
)

// reasons records the recoveries a store reports.
type reasons struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *reasons) add(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = map[string]int{}
	}
	r.n[reason]++
}

func (r *reasons) get() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.n {
		out[k] = v
	}
	return out
}

// open opens path and returns the store and the recoveries it reported.
func open(t *testing.T, path string) (*Store, map[string]int) {
	t.Helper()
	var r reasons
	s, err := Open(path, time.Hour, nil, OnRecovery(r.add))
	require.NoError(t, err, "damaged state must never stop the agent")
	t.Cleanup(func() { _ = s.Close() })
	return s, r.get()
}

// twoGenerations saves pipeline "p" twice: older, then newer.
func twoGenerations(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "checkpoints.json")
	s, err := Open(path, time.Hour, nil)
	require.NoError(t, err)
	s.Register("p")
	s.Set("p", older)
	require.NoError(t, s.Save())
	s.Set("p", newer)
	require.NoError(t, s.Close())
	return path
}

func TestSaveKeepsThePreviousGeneration(t *testing.T) {
	path := twoGenerations(t)
	s, got := open(t, path)
	assert.Empty(t, got, "nothing to recover")
	assert.False(t, s.Recovered())
	assert.Equal(t, []Entry{newer}, s.Files("p"))

	prev, _ := open(t, path+".prev")
	assert.Equal(t, []Entry{older}, prev.Files("p"), "the .prev file is the generation before")
}

func TestCleanFirstRunIsNotDamaged(t *testing.T) {
	s, got := open(t, filepath.Join(t.TempDir(), "checkpoints.json"))
	assert.Empty(t, got)
	assert.False(t, s.Recovered())
	assert.False(t, s.Known("p"), "a first run tails: TailSizeKB applies")
}

// TestDamagedCurrentFallsBackToPrev damages checkpoints.json in each way a
// crash, a disk or a person can: the previous generation's offsets are used
// and every pipeline counts as known.
func TestDamagedCurrentFallsBackToPrev(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, path string)
		reason string
	}{
		{"empty", func(t *testing.T, path string) {
			require.NoError(t, os.Truncate(path, 0))
		}, "empty"},
		{"blank", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, []byte(" \n\t\n"), 0o644))
		}, "empty"},
		{"cut in half", func(t *testing.T, path string) {
			data := read(t, path)
			require.NoError(t, os.WriteFile(path, data[:len(data)/2], 0o644))
		}, "corrupt"},
		{"garbled bytes", func(t *testing.T, path string) {
			data := read(t, path)
			mid := len(data) / 2
			copy(data[mid:], "\x00\xff#@!garbage\x01")
			require.NoError(t, os.WriteFile(path, data, 0o644))
		}, "corrupt"},
		{"zeros (a crash of a file system without data journaling)", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, make([]byte, len(read(t, path))), 0o644))
		}, "corrupt"},
		{"wrong type: offset is a string", func(t *testing.T, path string) {
			replace(t, path, `"offset": 200`, `"offset": "200"`)
		}, "corrupt"},
		{"wrong type: pipelines is a list", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, []byte(`{"version": 1, "pipelines": []}`), 0o644))
		}, "corrupt"},
		{"wrong type: a JSON string", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, []byte(`"checkpoints"`), 0o644))
		}, "corrupt"},
		{"unknown version", func(t *testing.T, path string) {
			replace(t, path, `"version": 1`, `"version": 99`)
		}, "corrupt"},
		{"no version", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, []byte(`{}`), 0o644))
		}, "corrupt"},
		{"trailing garbage", func(t *testing.T, path string) {
			data := append(read(t, path), "}}"...)
			require.NoError(t, os.WriteFile(path, data, 0o644))
		}, "corrupt"},
		{"missing (a save cut between its two renames)", func(t *testing.T, path string) {
			require.NoError(t, os.Remove(path))
		}, ""},
		{"a folder in its place", func(t *testing.T, path string) {
			require.NoError(t, os.Remove(path))
			require.NoError(t, os.MkdirAll(filepath.Join(path, "sub"), 0o755))
		}, "not_regular"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := twoGenerations(t)
			c.damage(t, path)
			s, got := open(t, path)
			assert.True(t, s.Recovered())
			assert.True(t, s.Known("p"), "a pipeline present before is known")
			assert.True(t, s.Known("other"), "damaged state: every pipeline counts as known")
			assert.Equal(t, []Entry{older}, s.Files("p"), "the previous generation's offsets")
			want := map[string]int{"prev_used": 1}
			if c.reason != "" {
				want[c.reason] = 1
			}
			assert.Equal(t, want, got)

			// The damaged file is set aside, and the next save writes a good
			// current generation without overwriting the good .prev with it.
			assertNoDamagedCurrent(t, path)
			s.Set("p", Entry{Path: "/var/log/app.log", Dev: 7, Ino: 42, SigLen: 1024, SigHash: 99, Offset: 150, Updated: 3})
			require.NoError(t, s.Close())
			again, got := open(t, path)
			assert.Empty(t, got, "saved cleanly")
			assert.False(t, again.Recovered())
			assert.Equal(t, int64(150), again.Files("p")[0].Offset)
			prev, _ := open(t, path+".prev")
			assert.Equal(t, []Entry{older}, prev.Files("p"), "the good .prev survived the save")
		})
	}
}

// assertNoDamagedCurrent checks that path is missing or a readable
// checkpoint file, and that the damaged one was set aside next to it.
func assertNoDamagedCurrent(t *testing.T, path string) {
	t.Helper()
	if fi, err := os.Lstat(path); err == nil {
		assert.True(t, fi.Mode().IsRegular(), "no longer a folder")
	}
}

// TestDamagedCurrentWithoutPrev: with no previous generation, the store
// starts empty but every pipeline is known: files are read from 0.
func TestDamagedCurrentWithoutPrev(t *testing.T) {
	for _, c := range []struct{ name, content, reason string }{
		{"empty", "", "empty"},
		{"garbled", "{not json", "corrupt"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "checkpoints.json")
			require.NoError(t, os.WriteFile(path, []byte(c.content), 0o644))
			s, got := open(t, path)
			assert.True(t, s.Recovered())
			assert.True(t, s.Known("p"), "not a first run: nothing is tailed")
			assert.Empty(t, s.Files("p"))
			assert.Equal(t, map[string]int{c.reason: 1}, got)
			assert.Equal(t, []byte(c.content), read(t, path+".corrupt"), "kept for inspection")
		})
	}
}

// TestBothGenerationsDamaged: nothing usable, still known, still running.
func TestBothGenerationsDamaged(t *testing.T) {
	path := twoGenerations(t)
	require.NoError(t, os.WriteFile(path, []byte("{"), 0o644))
	require.NoError(t, os.WriteFile(path+".prev", nil, 0o644))
	s, got := open(t, path)
	assert.True(t, s.Recovered())
	assert.True(t, s.Known("p"))
	assert.Empty(t, s.Files("p"))
	assert.Equal(t, map[string]int{"corrupt": 1, "empty": 1}, got)
}

// TestBadEntriesAreDropped: an entry that cannot be right is dropped (its
// file is then read from 0, the pipeline being known); the others are kept.
func TestBadEntriesAreDropped(t *testing.T) {
	const good = `{"path": "/var/log/good.log", "dev": 1, "ino": 1, "sig_len": 10, "sig_hash": 5, "offset": 300, "updated": 1}`
	for _, c := range []struct{ name, entry string }{
		{"negative offset", `{"path": "/var/log/a.log", "dev": 1, "ino": 2, "sig_len": 10, "sig_hash": 5, "offset": -1}`},
		{"sig_len negative", `{"path": "/var/log/a.log", "dev": 1, "ino": 2, "sig_len": -1, "sig_hash": 5, "offset": 10}`},
		{"sig_len past SigMax", `{"path": "/var/log/a.log", "dev": 1, "ino": 2, "sig_len": 1025, "sig_hash": 5, "offset": 10}`},
		{"no dev", `{"path": "/var/log/a.log", "ino": 2, "sig_len": 10, "sig_hash": 5, "offset": 10}`},
		{"no ino", `{"path": "/var/log/a.log", "dev": 1, "sig_len": 10, "sig_hash": 5, "offset": 10}`},
		{"no offset", `{"path": "/var/log/a.log", "dev": 1, "ino": 2, "sig_len": 10, "sig_hash": 5}`},
		{"empty path", `{"path": "", "dev": 1, "ino": 2, "sig_len": 10, "sig_hash": 5, "offset": 10}`},
		{"null", `null`},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "checkpoints.json")
			content := `{"version": 1, "pipelines": {"p": {"created": 1, "files": [` + good + `, ` + c.entry + `]}}}`
			require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
			s, got := open(t, path)
			assert.True(t, s.Recovered())
			assert.True(t, s.Known("p"))
			assert.True(t, s.Known("other"))
			assert.Equal(t, []Entry{{Path: "/var/log/good.log", Dev: 1, Ino: 1, SigLen: 10, SigHash: 5, Offset: 300, Updated: 1}}, s.Files("p"))
			_, ok := s.Get("p", 1, 2)
			assert.False(t, ok, "the bad entry is dropped: its file is read from 0")
			assert.Equal(t, map[string]int{"bad_entry": 1}, got)
		})
	}
}

func TestNullPipelineIsKnown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkpoints.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"version": 1, "pipelines": {"p": null}}`), 0o644))
	s, got := open(t, path)
	assert.True(t, s.Recovered())
	assert.True(t, s.Known("p"))
	assert.Equal(t, map[string]int{"bad_entry": 1}, got)
}

// TestFolderInPlace: a folder where checkpoints.json goes is moved aside,
// reported, and the agent runs; with no previous generation it starts
// empty but known, and saves work again.
func TestFolderInPlace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "checkpoints.json")
	require.NoError(t, os.MkdirAll(filepath.Join(path, "sub"), 0o755))
	s, got := open(t, path)
	assert.True(t, s.Recovered())
	assert.True(t, s.Known("p"))
	assert.Equal(t, map[string]int{"not_regular": 1}, got)
	aside, _ := filepath.Glob(filepath.Join(dir, "checkpoints.json.broken-*"))
	require.Len(t, aside, 1, "moved aside")
	fi, err := os.Stat(filepath.Join(aside[0], "sub"))
	require.NoError(t, err, "with its content")
	assert.True(t, fi.IsDir())

	s.Register("p")
	s.Set("p", older)
	require.NoError(t, s.Save())
	again, _ := open(t, path)
	assert.Equal(t, []Entry{older}, again.Files("p"))
}

// TestFolderInPlaceOfPrev: a folder at .prev is moved aside too (else no
// save could ever rename the current generation to it).
func TestFolderInPlaceOfPrev(t *testing.T) {
	path := twoGenerations(t)
	require.NoError(t, os.Remove(path+".prev"))
	require.NoError(t, os.MkdirAll(filepath.Join(path+".prev", "sub"), 0o755))
	s, got := open(t, path)
	assert.Equal(t, []Entry{newer}, s.Files("p"), "the current generation is good")
	assert.True(t, s.Recovered())
	assert.True(t, s.Known("other"))
	assert.Equal(t, map[string]int{"not_regular": 1}, got)
	s.Set("p", Entry{Path: "/var/log/app.log", Dev: 7, Ino: 42, SigLen: 1024, SigHash: 99, Offset: 250})
	require.NoError(t, s.Save())
	prev, _ := open(t, path+".prev")
	assert.Equal(t, []Entry{newer}, prev.Files("p"), "saves rotate again")
}

// TestFolderCannotBeMovedAside: Open still succeeds (damaged, empty, known);
// saves fail with an error naming the file until the folder goes.
func TestFolderCannotBeMovedAside(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkpoints.json")
	require.NoError(t, os.MkdirAll(filepath.Join(path, "sub"), 0o755))
	defer func(f func(string, string) error) { rename = f }(rename)
	rename = func(from, to string) error {
		if from == path {
			return &os.LinkError{Op: "rename", Old: from, New: to, Err: errors.New("device or resource busy")}
		}
		return os.Rename(from, to)
	}
	s, got := open(t, path)
	assert.True(t, s.Recovered())
	assert.True(t, s.Known("p"))
	assert.Empty(t, s.Files("p"))
	assert.Equal(t, map[string]int{"not_regular": 1}, got)

	s.Register("p")
	s.Set("p", older)
	err := s.Save()
	require.Error(t, err)
	assert.Contains(t, err.Error(), path)
	assertNoTemps(t, filepath.Dir(path))

	// Once the folder can go, the next save moves it aside and saves.
	rename = os.Rename
	require.NoError(t, s.Save(), "the state stayed dirty and is saved on the next try")
	again, _ := open(t, path)
	assert.Equal(t, []Entry{older}, again.Files("p"))
}

// TestStrayTempFilesAreRemoved: temporary files of interrupted saves go at
// Open; the current generation is used as is.
func TestStrayTempFilesAreRemoved(t *testing.T) {
	path := twoGenerations(t)
	dir := filepath.Dir(path)
	for _, name := range []string{"checkpoints.json.tmp123", "checkpoints.json.tmp", "checkpoints.json.tmp9"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(`{"version": 1, "pi`), 0o644))
	}
	keep := filepath.Join(dir, "other.tmp1")
	require.NoError(t, os.WriteFile(keep, nil, 0o644))
	s, got := open(t, path)
	assert.Equal(t, map[string]int{"temp_removed": 3}, got)
	assertNoTemps(t, dir)
	_, err := os.Stat(keep)
	assert.NoError(t, err, "only the store's own temporary files are removed")
	assert.True(t, s.Known("p"))
	assert.Equal(t, []Entry{newer}, s.Files("p"), "the current generation is used")
}

// TestRecoveredStoreSavesAtOnce: after a recovery the store is dirty, so a
// good current generation is written without waiting for a change.
func TestRecoveredStoreSavesAtOnce(t *testing.T) {
	path := twoGenerations(t)
	require.NoError(t, os.WriteFile(path, []byte("garbage"), 0o644))
	s, _ := open(t, path)
	require.NoError(t, s.Save())
	again, got := open(t, path)
	assert.Empty(t, got)
	assert.Equal(t, []Entry{older}, again.Files("p"))
}

func assertNoTemps(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range ents {
		assert.False(t, strings.Contains(e.Name(), ".tmp") && strings.HasPrefix(e.Name(), "checkpoints.json"), "temporary file left: %s", e.Name())
	}
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return data
}

func replace(t *testing.T, path, old, new string) {
	t.Helper()
	data := read(t, path)
	require.True(t, bytes.Contains(data, []byte(old)), "%s has %s", path, old)
	require.NoError(t, os.WriteFile(path, bytes.Replace(data, []byte(old), []byte(new), 1), 0o644))
}

// TestRecoveryOutlivesACrash: until a clean Close, the saved state says it
// was recovered, so a crash right after a recovery (before every pipeline
// registered again) does not make the next run tail the missing ones.
func TestRecoveryOutlivesACrash(t *testing.T) {
	path := twoGenerations(t)
	require.NoError(t, os.WriteFile(path, []byte("garbage"), 0o644))
	require.NoError(t, os.Remove(path+".prev"))
	s, _ := open(t, path)
	s.Register("a")
	require.NoError(t, s.Save()) // the owner goroutine's save; then SIGKILL

	crashed, got := open(t, path)
	assert.Empty(t, got, "nothing new to recover")
	assert.True(t, crashed.Recovered())
	assert.True(t, crashed.Known("p"), "p was lost with the damaged file: still known")
	require.NoError(t, crashed.Close())

	clean, _ := open(t, path)
	assert.False(t, clean.Recovered(), "a clean stop ends it")
	assert.True(t, clean.Known("a"))
	assert.False(t, clean.Known("p"))
}

// TestDamagedFileLeftInPlaceDoesNotReplacePrev: a damaged current file
// that cannot be moved aside is replaced by the next save, not kept as the
// previous generation over the good one.
func TestDamagedFileLeftInPlaceDoesNotReplacePrev(t *testing.T) {
	path := twoGenerations(t)
	require.NoError(t, os.WriteFile(path, []byte("garbage"), 0o644))
	defer func(f func(string, string) error) { rename = f }(rename)
	rename = func(from, to string) error {
		if strings.HasSuffix(to, ".corrupt") {
			return errors.New("no room")
		}
		return os.Rename(from, to)
	}
	s, _ := open(t, path)
	assert.Equal(t, []Entry{older}, s.Files("p"))
	require.NoError(t, s.Save())
	prev, _ := open(t, path+".prev")
	assert.Equal(t, []Entry{older}, prev.Files("p"), "the good .prev is kept")
	cur, _ := open(t, path)
	assert.Equal(t, []Entry{older}, cur.Files("p"))
}

// TestSaveWithoutPreviousGeneration: when the current file cannot be kept
// as .prev, the save still writes the current generation.
func TestSaveWithoutPreviousGeneration(t *testing.T) {
	path := twoGenerations(t)
	defer func(f func(string, string) error) { rename = f }(rename)
	rename = func(from, to string) error {
		if strings.HasSuffix(to, ".prev") {
			return errors.New("no room")
		}
		return os.Rename(from, to)
	}
	s, _ := open(t, path)
	s.Set("p", Entry{Path: "/var/log/app.log", Dev: 7, Ino: 42, SigLen: 1024, SigHash: 99, Offset: 300})
	require.NoError(t, s.Save())
	cur, _ := open(t, path)
	assert.Equal(t, int64(300), cur.Files("p")[0].Offset)
}

// TestFailedSaveIsRetried: a save that fails is tried again by the owner
// goroutine without waiting for another change.
func TestFailedSaveIsRetried(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkpoints.json")
	var failing atomic.Bool
	failing.Store(true)
	defer func(f func(string, string) error) { rename = f }(rename)
	rename = func(from, to string) error {
		if to == path && failing.Load() {
			return errors.New("disk full")
		}
		return os.Rename(from, to)
	}
	s, err := Open(path, 10*time.Millisecond, nil)
	require.NoError(t, err)
	s.Start()
	s.Register("p")
	s.Set("p", older)
	time.Sleep(50 * time.Millisecond)
	_, err = os.Stat(path)
	require.ErrorIs(t, err, fs.ErrNotExist, "saves fail")
	failing.Store(false)
	assert.Eventually(t, func() bool {
		data, err := os.ReadFile(path)
		return err == nil && bytes.Contains(data, []byte(`"offset": 100`))
	}, 5*time.Second, 10*time.Millisecond, "saved on a retry, with no new change")
	require.NoError(t, s.Close())
}

// TestEachCaseIsLoggedOnce: the log says which file, what was wrong and
// what was done, once per case.
func TestEachCaseIsLoggedOnce(t *testing.T) {
	path := twoGenerations(t)
	require.NoError(t, os.WriteFile(path, []byte(`{"version": 1, "pipel`), 0o644))
	require.NoError(t, os.WriteFile(path+".tmp42", nil, 0o644))
	var buf bytes.Buffer
	s, err := Open(path, time.Hour, slog.New(slog.NewTextHandler(&buf, nil)))
	require.NoError(t, err)
	defer s.Close()
	logs := buf.String()
	t.Log(logs)
	for _, want := range []string{
		"file=" + path + " problem=\"not a checkpoint file (21 bytes, cut or garbled): unexpected end of JSON input\" moved_to=" + path + ".corrupt",
		"using the previous generation, it is damaged",
		"file=" + path + ".prev",
		"removed temporary files of interrupted saves",
	} {
		assert.Equal(t, 1, strings.Count(logs, want), "once: %s", want)
	}
}
