package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Damaged state costs duplicates, never skips (DESIGN.md §4). What Open
// does with each kind of damage:
//
//   - The current file (path) is empty, cut, garbled, of the wrong JSON
//     types, of an unknown version, or unreadable: it is moved to
//     path.corrupt and the previous generation (path.prev) is used.
//   - The current file is missing but path.prev exists (a save cut between
//     its two renames, or a person's rm): path.prev is used.
//   - A folder or other non-file at path or path.prev: moved aside to
//     <name>.broken-<unix nanoseconds> (kept for inspection). If it cannot
//     be moved, Open still succeeds; every save tries again to move it and
//     fails until it can (the error is logged, see reportSave).
//   - An entry that cannot be right (negative offset, signature length out
//     of [0, SigMax], no device, inode or offset, no path): dropped; its
//     file then has no checkpoint and is read from 0.
//   - Temporary files of interrupted saves: removed.
//
// Each case is logged once and reported to OnRecovery. After any of them
// but the last, the store is Recovered: every pipeline counts as known, so
// that no file is tailed as on a first run (TailSizeKB); a file is read
// again from its checkpoint or from 0.

// The reasons OnRecovery reports.
const (
	ReasonEmpty       = "empty"        // the file is empty or blank
	ReasonCorrupt     = "corrupt"      // cut, garbled, wrong JSON types, unknown version
	ReasonUnreadable  = "unreadable"   // the file could not be read
	ReasonNotRegular  = "not_regular"  // a folder or other non-file in its place
	ReasonBadEntry    = "bad_entry"    // an entry that cannot be right was dropped
	ReasonPrevUsed    = "prev_used"    // the previous generation was loaded
	ReasonTempRemoved = "temp_removed" // a temporary file of an interrupted save was removed
)

// Reasons lists every reason OnRecovery reports, for a metric whose series
// should exist (at 0) from the start.
var Reasons = []string{ReasonEmpty, ReasonCorrupt, ReasonUnreadable, ReasonNotRegular,
	ReasonBadEntry, ReasonPrevUsed, ReasonTempRemoved}

const (
	prevSuffix    = ".prev"
	corruptSuffix = ".corrupt"
	brokenInfix   = ".broken-"
	tempInfix     = ".tmp"
)

// rename is os.Rename; tests make it fail.
var rename = os.Rename

// The file as read, before validation: pointers tell a missing key from a
// zero value.
type diskEntry struct {
	Path    *string `json:"path"`
	Dev     *uint64 `json:"dev"`
	Ino     *uint64 `json:"ino"`
	SigLen  *int    `json:"sig_len"`
	SigHash uint64  `json:"sig_hash"`
	Offset  *int64  `json:"offset"`
	Updated int64   `json:"updated"`
	// Optional.
	UnreadLen  int    `json:"unread_len"`
	UnreadHash uint64 `json:"unread_hash"`
}

type diskPipeline struct {
	Created int64        `json:"created"`
	Files   []*diskEntry `json:"files"`
}

type diskFile struct {
	Version   *int                     `json:"version"`
	Pipelines map[string]*diskPipeline `json:"pipelines"`
	Recovered bool                     `json:"recovered"`
}

// generation is one checkpoint file as Open found it.
type generation struct {
	path    string
	content *diskFile // nil unless usable
	missing bool
	reason  string // why it is not usable
	problem string // the same, for people
	modTime time.Time
	info    fs.FileInfo
}

// load fills the store from the current generation, or the previous one,
// repairing what it finds (see the comment at the top of this file).
func (s *Store) load() {
	s.removeTemps()
	cur := readGeneration(s.path)
	use := cur
	if cur.content == nil && !cur.missing {
		s.damage(cur.reason)
		s.setAside(cur)
	}
	if cur.content == nil {
		prev := readGeneration(s.path + prevSuffix)
		switch {
		case prev.content != nil:
			s.damage(ReasonPrevUsed)
			why := "it is missing"
			if !cur.missing {
				why = "it is damaged"
			}
			s.log.Warn("checkpoints: using the previous generation, "+why+"; files are read again from its older offsets (duplicates, no loss)",
				"file", prev.path, "saved", prev.modTime.Format(time.RFC3339), "instead_of", s.path)
			use = prev
		case prev.missing && cur.missing:
			// A first run.
		case prev.missing:
			s.log.Error("checkpoints: no usable generation (no previous one); every file is read again from the start (duplicates, no loss)",
				"file", s.path)
		default:
			s.damage(prev.reason)
			s.setAside(prev)
			s.log.Error("checkpoints: no usable generation (both damaged); every file is read again from the start (duplicates, no loss)",
				"file", s.path, "previous", prev.path)
		}
	} else if prev := s.path + prevSuffix; isNotRegular(prev) {
		// The current generation is good, but a folder at .prev would fail
		// every save's rotation.
		g := readGeneration(prev)
		s.damage(g.reason)
		s.setAside(g)
	}
	if use.content != nil {
		s.fill(use)
	}
	if s.damaged {
		s.mu.Lock()
		s.keepRecovered = true
		s.markDirty() // write a good current generation at once
		s.mu.Unlock()
	}
}

// damage marks the store damaged and reports reason.
func (s *Store) damage(reason string) {
	s.damaged = true
	s.recovered(reason)
}

func (s *Store) recovered(reason string) {
	if s.onRecovery != nil {
		s.onRecovery(reason)
	}
}

// readGeneration reads and decodes one checkpoint file, without validating
// its entries.
func readGeneration(path string) generation {
	g := generation{path: path}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		g.missing = true
		return g
	case err != nil:
		g.reason, g.problem = ReasonUnreadable, err.Error()
		return g
	case !fi.Mode().IsRegular():
		g.info = fi
		g.reason, g.problem = ReasonNotRegular, "a "+kind(fi)+" in place of the checkpoint file"
		return g
	}
	g.info, g.modTime = fi, fi.ModTime()
	data, err := os.ReadFile(path)
	if err != nil {
		g.reason, g.problem = ReasonUnreadable, err.Error()
		return g
	}
	if len(bytes.TrimSpace(data)) == 0 {
		g.reason, g.problem = ReasonEmpty, fmt.Sprintf("empty (%d bytes)", len(data))
		return g
	}
	var df diskFile
	if err := json.Unmarshal(data, &df); err != nil {
		g.reason, g.problem = ReasonCorrupt, fmt.Sprintf("not a checkpoint file (%d bytes, cut or garbled): %v", len(data), err)
		return g
	}
	if df.Version == nil || *df.Version != formatVersion {
		v := "none"
		if df.Version != nil {
			v = strconv.Itoa(*df.Version)
		}
		g.reason, g.problem = ReasonCorrupt, fmt.Sprintf("unknown version %s (want %d)", v, formatVersion)
		return g
	}
	g.content = &df
	return g
}

// setAside moves a damaged generation out of the way and logs what was
// wrong and what was done.
func (s *Store) setAside(g generation) {
	notFile := g.reason == ReasonNotRegular
	to, err := moveAside(g.path, !notFile)
	switch {
	case err == nil:
		s.log.Warn("checkpoints: damaged file moved aside", "file", g.path, "problem", g.problem, "moved_to", to)
	case notFile:
		s.log.Error("checkpoints: damaged file cannot be moved aside; saves fail until it is removed",
			"file", g.path, "problem", g.problem, "err", err)
	default:
		// A damaged regular file left in place: the next save replaces it
		// instead of keeping it as the previous generation.
		if g.path == s.path {
			s.currentBad = true
		}
		s.log.Warn("checkpoints: damaged file cannot be moved aside; the next save replaces it",
			"file", g.path, "problem", g.problem, "err", err)
	}
}

// moveAside renames path to path.corrupt (replacing an older one: bounded)
// or, for what may not replace it or be replaced (a folder), to
// path.broken-<unix nanoseconds>. It returns the new name.
func moveAside(path string, regular bool) (string, error) {
	to := path + brokenInfix + strconv.FormatInt(time.Now().UnixNano(), 10)
	if regular {
		if fi, err := os.Lstat(path + corruptSuffix); err != nil || fi.Mode().IsRegular() {
			to = path + corruptSuffix
		}
	}
	if err := rename(path, to); err != nil {
		return "", err
	}
	return to, nil
}

// fill loads a decoded generation into the store, dropping and reporting
// entries that cannot be right.
func (s *Store) fill(g generation) {
	if g.content.Recovered {
		s.damaged = true
		s.log.Warn("checkpoints: the state was recovered from damage in a run that did not stop cleanly; every pipeline still counts as known",
			"file", g.path)
	}
	var bad []string
	for name, ps := range g.content.Pipelines {
		if ps == nil {
			bad = append(bad, fmt.Sprintf("pipeline %q: null", name))
			s.pipelines[name] = 0
			continue
		}
		s.pipelines[name] = ps.Created
		for i, de := range ps.Files {
			e, problem := de.entry()
			if problem != "" {
				bad = append(bad, fmt.Sprintf("pipeline %q file %d (%s): %s", name, i, de.path(), problem))
				continue
			}
			s.entries[Key{name, e.Dev, e.Ino}] = e
		}
	}
	if len(bad) == 0 {
		return
	}
	for range bad {
		s.damage(ReasonBadEntry)
	}
	const shown = 5
	n, more := len(bad), ""
	if len(bad) > shown {
		more = fmt.Sprintf(" (and %d more)", len(bad)-shown)
		bad = bad[:shown]
	}
	s.log.Warn("checkpoints: entries dropped; these files are read again from the start (duplicates, no loss)",
		"file", g.path, "count", n, "entries", strings.Join(bad, "; ")+more)
}

// entry validates a decoded entry: it returns the entry, or what is wrong
// with it. Whether the offset is within the file and at a line start is
// checked when the file is bound (package tail).
func (d *diskEntry) entry() (*Entry, string) {
	switch {
	case d == nil:
		return nil, "null"
	case d.Path == nil || *d.Path == "":
		return nil, "no path"
	case d.Dev == nil:
		return nil, "no dev"
	case d.Ino == nil:
		return nil, "no ino"
	case d.Offset == nil:
		return nil, "no offset"
	case *d.Offset < 0:
		return nil, fmt.Sprintf("negative offset %d", *d.Offset)
	case d.SigLen == nil:
		return nil, "no sig_len"
	case *d.SigLen < 0 || *d.SigLen > SigMax:
		return nil, fmt.Sprintf("sig_len %d out of [0, %d]", *d.SigLen, SigMax)
	case d.UnreadLen < 0 || d.UnreadLen > SigMax:
		return nil, fmt.Sprintf("unread_len %d out of [0, %d]", d.UnreadLen, SigMax)
	}
	return &Entry{Path: *d.Path, Dev: *d.Dev, Ino: *d.Ino, SigLen: *d.SigLen, SigHash: d.SigHash,
		Offset: *d.Offset, Updated: d.Updated, UnreadLen: d.UnreadLen, UnreadHash: d.UnreadHash}, ""
}

func (d *diskEntry) path() string {
	if d == nil || d.Path == nil {
		return "no path"
	}
	return *d.Path
}

// removeTemps removes the temporary files that interrupted saves left
// (path.tmp*). Only this store writes them, and one agent owns the folder.
func (s *Store) removeTemps() {
	dir, base := filepath.Dir(s.path), filepath.Base(s.path)+tempInfix
	ents, err := os.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("checkpoints: cannot look for temporary files of interrupted saves", "dir", dir, "err", err)
		}
		return
	}
	var removed []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), base) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := os.Remove(p); err != nil {
			s.log.Warn("checkpoints: cannot remove a temporary file of an interrupted save", "file", p, "err", err)
			continue
		}
		removed = append(removed, e.Name())
		s.recovered(ReasonTempRemoved)
	}
	if len(removed) > 0 {
		s.log.Info("checkpoints: removed temporary files of interrupted saves", "dir", dir, "files", removed)
	}
}

func isNotRegular(path string) bool {
	fi, err := os.Lstat(path)
	return err == nil && !fi.Mode().IsRegular()
}

// kind names what a non-regular file is.
func kind(fi fs.FileInfo) string {
	switch m := fi.Mode(); {
	case m.IsDir():
		return "folder"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	default:
		return "non-regular file"
	}
}
