// Package checkpoint keeps, per pipeline and per file, how far the file is
// safe: every byte before Offset was acknowledged by every flusher.
//
// The store has one owner goroutine that writes the state to disk atomically
// (temporary file, fsync, rename) soon after it changes, at most once per
// interval, and once more when the store is closed; the file it replaces is
// kept as the previous generation (<file>.prev). Writing soon after each
// acknowledgement keeps what a crash sends twice close to what was in
// flight. A file is identified by its device and inode plus a hash of its
// first bytes (up to 1 KiB), so that an inode reused by a different file is
// not mistaken for the old one.
//
// Damaged state costs duplicates, never skips: see recover.go.
package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// SigMax is the number of leading bytes hashed into a file's signature.
const SigMax = 1024

// The modes of the folders and files the agent makes in its data folder,
// before the umask: the owner writes, the group reads, others get nothing.
const (
	DirMode  os.FileMode = 0o750
	FileMode os.FileMode = 0o640
)

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
	// UnreadLen and UnreadHash describe the first bytes of content the
	// file held while its reader could not look, other than the content
	// at Offset: if the file no longer starts with them, that content was
	// truncated away unread, and its copy is looked for (package tail).
	UnreadLen  int    `json:"unread_len,omitempty"`
	UnreadHash uint64 `json:"unread_hash,omitempty"`
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

// formatVersion is the version of the file format written.
const formatVersion = 1

type fileFormat struct {
	Version   int                       `json:"version"`
	Pipelines map[string]*pipelineState `json:"pipelines"`
	// Recovered: the state was damaged in a run that did not stop cleanly
	// since, so a pipeline missing here may have run before.
	Recovered bool `json:"recovered,omitempty"`
}

// Store is the checkpoint state of all pipelines.
type Store struct {
	path     string
	interval time.Duration
	log      *slog.Logger
	// onRecovery is told each damage found at Open, by reason.
	onRecovery func(reason string)

	// damaged: Open found something wrong with the saved state, so what is
	// missing from it cannot be told from a first run. Every pipeline then
	// counts as known (Known), and a file without an entry is read from 0.
	damaged bool

	mu        sync.Mutex
	pipelines map[string]int64 // pipeline -> created (unix seconds)
	entries   map[Key]*Entry
	dirty     bool
	saves     int
	// keepRecovered is saved in the file while the store is damaged, until
	// a clean Close: a crash soon after a recovery, before every pipeline
	// registered again, must not make the next run take the pipelines
	// that are missing for new ones.
	keepRecovered bool
	// currentBad: the file at path is damaged and could not be moved
	// aside, so the next save replaces it rather than keep it as .prev.
	currentBad bool
	prevErr    string    // the last failure to keep .prev, as logged
	saveErr    string    // the last save error logged, "" after a good save
	saveErrAt  time.Time // when it was logged

	changed chan struct{} // signalled when the state became dirty
	quit    chan struct{}
	done    chan struct{}
	once    sync.Once
	started atomic.Bool
}

// Option is an optional setting of Open.
type Option func(*Store)

// OnRecovery makes Open call f once for each damage it finds and repairs,
// with one of the Reason* values (for a metric).
func OnRecovery(f func(reason string)) Option {
	return func(s *Store) { s.onRecovery = f }
}

// Open loads the store from path. A missing file (and no previous
// generation) is an empty store: a first run. Damaged state never stops
// the agent and never makes it skip data (see recover.go): Open falls back
// to the previous generation, drops entries that cannot be right, moves
// aside what is not a file, and marks the store Recovered. The owner
// goroutine starts with Start.
func Open(path string, interval time.Duration, log *slog.Logger, opts ...Option) (*Store, error) {
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
	for _, o := range opts {
		o(s)
	}
	s.load()
	return s, nil
}

// Recovered reports whether Open found the saved state damaged in any way
// (and repaired what it could). Then Known is true for every pipeline.
func (s *Store) Recovered() bool { return s.damaged }

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
		for {
			err := s.Save()
			s.reportSave(err)
			// Coalesce the changes of the next interval into one write; a
			// failed save is tried again after at least saveRetry, change
			// or not.
			wait := s.interval
			if err != nil {
				wait = max(wait, saveRetry)
			}
			select {
			case <-time.After(wait):
			case <-s.quit:
				return
			}
			if err == nil {
				break
			}
		}
	}
}

// saveRetry is the least time between the tries of a failing save.
const saveRetry = time.Second

// saveErrEvery is how often a save error that keeps happening is logged
// again.
const saveErrEvery = time.Minute

// reportSave logs a failed save of the owner goroutine: a new error at
// once, the same one again at most every saveErrEvery, and the first good
// save after errors. The state stays dirty, so the save is tried again on
// the next change (at most once per interval); Close returns the error.
func (s *Store) reportSave(err error) {
	s.mu.Lock()
	last, at := s.saveErr, s.saveErrAt
	if err == nil {
		s.saveErr = ""
	} else if err.Error() != last || time.Since(at) >= saveErrEvery {
		s.saveErr, s.saveErrAt = err.Error(), time.Now()
		last = "" // log it
	}
	s.mu.Unlock()
	switch {
	case err == nil && last != "":
		s.log.Info("checkpoints saved again", "file", s.path)
	case err != nil && last == "":
		s.log.Error("save checkpoints (retried on the next change; until then a restart reads again from older offsets)",
			"file", s.path, "err", err)
	}
}

// Close stops the owner goroutine and saves the state one last time. It is
// idempotent and safe to call without Start. A clean Close also ends what
// a recovery left behind (see keepRecovered).
func (s *Store) Close() error {
	s.once.Do(func() { close(s.quit) })
	if s.started.Load() {
		<-s.done
	}
	s.mu.Lock()
	if s.keepRecovered {
		s.keepRecovered = false
		s.dirty = true
	}
	s.mu.Unlock()
	return s.Save()
}

// Known reports whether the pipeline ran before (it has state, even with no
// files). A pipeline seen for the first time applies TailSizeKB. After a
// damaged state (Recovered) every pipeline is known: which ones ran before
// cannot be told, and reading a file again costs duplicates where tailing
// it would skip data.
func (s *Store) Known(pipeline string) bool {
	if s.damaged {
		return true
	}
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
	ff := fileFormat{Version: formatVersion, Pipelines: map[string]*pipelineState{}, Recovered: s.keepRecovered}
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
	if err := s.write(data); err != nil {
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

// write saves data as the current generation through a temporary file in
// the same folder (written, fsynced), keeps the current file as the
// previous generation (path.prev, a second link to it), renames the
// temporary file into place and fsyncs the folder. A crash leaves the new or
// the current generation whole at path, never a mix, never no file.
func (s *Store) write(data []byte) error {
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return fmt.Errorf("write checkpoints %s: %w", s.path, err)
	}
	// A folder (or other non-file) left in the way by Open, which could not
	// move it aside: try again, else no save can succeed.
	if fi, err := os.Lstat(s.path); err == nil && !fi.Mode().IsRegular() {
		if _, err := moveAside(s.path, false); err != nil {
			return fmt.Errorf("write checkpoints %s: it is a %s and cannot be moved aside: %w", s.path, kind(fi), err)
		}
	}
	f, err := createTemp(dir, filepath.Base(s.path)+tempInfix)
	if err != nil {
		return fmt.Errorf("write checkpoints %s: %w", s.path, err)
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
		s.keepPrevious()
		err = rename(tmp, s.path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write checkpoints %s: %w", s.path, err)
	}
	s.mu.Lock()
	s.currentBad = false
	s.mu.Unlock()
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// createTemp creates a new file in dir named prefix and random digits, as
// os.CreateTemp does, but with FileMode (less the umask) rather than 0600.
func createTemp(dir, prefix string) (*os.File, error) {
	for range 100 {
		name := filepath.Join(dir, prefix+strconv.FormatUint(uint64(rand.Uint32()), 10))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, FileMode)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
	return nil, fmt.Errorf("create a temporary file %s* in %s: too many tries", prefix, dir)
}

// linkPrevious makes prev a second name of the current file (a hard link,
// or a copy where the file system has none), through a temporary name:
// the current file stays in place all along, so no crash leaves the folder
// without it (a rename of it to .prev would, until the new one is renamed
// in, and the fall back to .prev would then lose what the last save added).
func (s *Store) linkPrevious(prev string) error {
	tmp := prev + ".link"
	_ = os.Remove(tmp)
	if err := os.Link(s.path, tmp); err != nil {
		data, rerr := os.ReadFile(s.path)
		if rerr != nil {
			return err
		}
		if werr := os.WriteFile(tmp, data, FileMode); werr != nil {
			return err
		}
	}
	if err := rename(tmp, prev); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// keepPrevious keeps the current generation as path.prev, unless the
// current file is missing, not a file, or known to be damaged (it must not
// replace a good .prev). When that fails the save goes on without a
// previous generation: saving the current one matters more. The failure
// is logged when it changes.
func (s *Store) keepPrevious() {
	s.mu.Lock()
	bad := s.currentBad
	s.mu.Unlock()
	fi, err := os.Lstat(s.path)
	if bad || err != nil || !fi.Mode().IsRegular() {
		return
	}
	prev := s.path + prevSuffix
	err = s.linkPrevious(prev)
	if err != nil {
		// A folder put at .prev since Open: move it aside and try again.
		if pfi, perr := os.Lstat(prev); perr == nil && !pfi.Mode().IsRegular() {
			if _, merr := moveAside(prev, false); merr == nil {
				err = s.linkPrevious(prev)
			}
		}
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	s.mu.Lock()
	changed := msg != s.prevErr
	s.prevErr = msg
	s.mu.Unlock()
	switch {
	case changed && msg != "":
		s.log.Warn("checkpoints: cannot keep the previous generation; saving the current one without it",
			"file", prev, "err", err)
	case changed:
		s.log.Info("checkpoints: the previous generation is kept again", "file", prev)
	}
}
