// Package checkpoint keeps, per pipeline and per file, how far the file is
// safe: every byte before Offset was acknowledged by every flusher.
//
// The store has one owner goroutine that writes the state to disk atomically
// (temporary file, fsync, rename) soon after it changes, at most once per
// interval, and once more when the store is closed. Writing soon after each
// acknowledgement keeps what a crash sends twice close to what was in flight. A file is identified by
// its device and inode plus a hash of its first bytes (up to 1 KiB), so that
// an inode reused by a different file is not mistaken for the old one.
package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// SigMax is the number of leading bytes hashed into a file's signature.
const SigMax = 1024

// Entry is the saved state of one file of one pipeline.
type Entry struct {
	Path    string `json:"path"`
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
	SigLen  int    `json:"sig_len"`
	SigHash uint64 `json:"sig_hash"`
	Offset  int64  `json:"offset"`
	// Updated is when Offset last moved (Unix seconds).
	Updated int64 `json:"updated"`
}

// Key identifies a file within a pipeline.
type Key struct {
	Pipeline string
	Dev, Ino uint64
}

type pipelineState struct {
	Created int64    `json:"created"`
	Files   []*Entry `json:"files"`
}

type fileFormat struct {
	Version   int                       `json:"version"`
	Pipelines map[string]*pipelineState `json:"pipelines"`
}

// Store is the checkpoint state of all pipelines.
type Store struct {
	path     string
	interval time.Duration
	log      *slog.Logger

	mu        sync.Mutex
	pipelines map[string]int64 // pipeline -> created (unix seconds)
	entries   map[Key]*Entry
	dirty     bool
	saves     int

	changed chan struct{} // signalled when the state became dirty
	quit    chan struct{}
	done    chan struct{}
	once    sync.Once
	started atomic.Bool
}

// Open loads the store from path (a missing file is an empty store). The
// owner goroutine starts with Start.
func Open(path string, interval time.Duration, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &Store{
		path:      path,
		interval:  interval,
		log:       log,
		pipelines: map[string]int64{},
		entries:   map[Key]*Entry{},
		changed:   make(chan struct{}, 1),
		quit:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("read checkpoints %s: %w", path, err)
	}
	var ff fileFormat
	if err := json.Unmarshal(data, &ff); err != nil {
		// A corrupt file cannot come from our own atomic writes; keep it for
		// inspection and start empty rather than refuse to run.
		bad := path + ".corrupt"
		_ = os.Rename(path, bad)
		log.Error("checkpoint file is corrupt, starting without checkpoints", "file", path, "moved_to", bad, "err", err)
		return s, nil
	}
	for name, ps := range ff.Pipelines {
		s.pipelines[name] = ps.Created
		for _, e := range ps.Files {
			s.entries[Key{name, e.Dev, e.Ino}] = e
		}
	}
	return s, nil
}

// Start runs the owner goroutine that saves the state periodically.
func (s *Store) Start() {
	s.started.Store(true)
	go s.run()
}

func (s *Store) run() {
	defer close(s.done)
	for {
		select {
		case <-s.changed:
		case <-s.quit:
			return
		}
		if err := s.Save(); err != nil {
			s.log.Error("save checkpoints", "file", s.path, "err", err)
		}
		// Coalesce the changes of the next interval into one write.
		select {
		case <-time.After(s.interval):
		case <-s.quit:
			return
		}
	}
}

// Close stops the owner goroutine and saves the state one last time. It is
// idempotent and safe to call without Start.
func (s *Store) Close() error {
	s.once.Do(func() { close(s.quit) })
	if s.started.Load() {
		<-s.done
	}
	return s.Save()
}

// Known reports whether the pipeline ran before (it has state, even with no
// files). A pipeline seen for the first time applies TailSizeKB.
func (s *Store) Known(pipeline string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.pipelines[pipeline]
	return ok
}

// Register marks the pipeline as known.
func (s *Store) Register(pipeline string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.pipelines[pipeline]; !ok {
		s.pipelines[pipeline] = time.Now().Unix()
		s.markDirty()
	}
}

// Files returns a copy of the entries of a pipeline.
func (s *Store) Files(pipeline string) []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Entry
	for k, e := range s.entries {
		if k.Pipeline == pipeline {
			out = append(out, *e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// Get returns the entry of one file of a pipeline.
func (s *Store) Get(pipeline string, dev, ino uint64) (Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[Key{pipeline, dev, ino}]
	if !ok {
		return Entry{}, false
	}
	return *e, true
}

// Set stores the entry for a file of a pipeline.
func (s *Store) Set(pipeline string, e Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := Key{pipeline, e.Dev, e.Ino}
	if old, ok := s.entries[k]; ok && *old == e {
		return
	}
	cp := e
	s.entries[k] = &cp
	s.markDirty()
}

// markDirty must be called with mu held.
func (s *Store) markDirty() {
	s.dirty = true
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// Delete forgets a file of a pipeline.
func (s *Store) Delete(pipeline string, dev, ino uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := Key{pipeline, dev, ino}
	if _, ok := s.entries[k]; ok {
		delete(s.entries, k)
		s.markDirty()
	}
}

// Save writes the state now if it changed since the last save.
func (s *Store) Save() error {
	s.mu.Lock()
	if !s.dirty {
		s.mu.Unlock()
		return nil
	}
	ff := fileFormat{Version: 1, Pipelines: map[string]*pipelineState{}}
	for name, created := range s.pipelines {
		ff.Pipelines[name] = &pipelineState{Created: created, Files: []*Entry{}}
	}
	for k, e := range s.entries {
		ps := ff.Pipelines[k.Pipeline]
		if ps == nil {
			ps = &pipelineState{Files: []*Entry{}}
			ff.Pipelines[k.Pipeline] = ps
		}
		cp := *e
		ps.Files = append(ps.Files, &cp)
	}
	s.dirty = false
	s.mu.Unlock()

	for _, ps := range ff.Pipelines {
		sort.Slice(ps.Files, func(i, j int) bool { return ps.Files[i].Path < ps.Files[j].Path })
	}
	data, err := json.MarshalIndent(&ff, "", " ")
	if err != nil {
		return err
	}
	if err := writeAtomic(s.path, data); err != nil {
		s.mu.Lock()
		s.dirty = true
		s.mu.Unlock()
		return err
	}
	s.mu.Lock()
	s.saves++
	s.mu.Unlock()
	return nil
}

// writeAtomic writes data to path through a temporary file in the same
// directory, fsynced and renamed over path, so a crash leaves either the old
// or the new content, never a mix.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create checkpoint dir: %w", err)
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write checkpoints: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write checkpoints %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
