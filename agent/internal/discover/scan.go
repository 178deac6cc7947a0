package discover

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

var (
	// ErrIsDir is reported (inside an *fs.PathError naming the directory)
	// for a directory whose name matches a file pattern and which is not
	// searched as part of a "**" pattern: it cannot be collected.
	ErrIsDir = errors.New("is a directory, not collected")
	// ErrLoop is reported (inside an *fs.PathError naming the path) for a
	// symbolic link that leads back to a directory being searched; the
	// scan does not follow it.
	ErrLoop = errors.New("directory loop, not followed")
)

// Scan walks the file system now and returns the regular files to collect,
// sorted by Path. Symbolic links are followed (loops are not); a file
// reached through several paths is returned once, under the first of them.
//
// Problems that do not stop the scan are returned in errs, each naming its
// path, at most once per Scan: directories and files that cannot be read
// (for example permission denied, a dangling symlink or a symlink loop
// whose name matches), directories whose name matches a file glob
// ([ErrIsDir]) and directory loops ([ErrLoop]). A base directory that does
// not exist yet is not an error. Unreadable files are not returned.
func (m *Matcher) Scan() (files []File, errs []error) {
	w := m.walk(true)
	paths := make([]string, 0, len(w.found))
	for p := range w.found {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	seen := make(map[fileID]struct{}, len(paths))
	files = make([]File, 0, len(paths))
	for _, p := range paths {
		f := w.found[p]
		if id := (fileID{f.Dev, f.Ino}); f.Ino != 0 {
			if _, dup := seen[id]; dup {
				continue
			}
			seen[id] = struct{}{}
		}
		files = append(files, f)
	}
	return files, w.errs
}

// Dirs returns, sorted, the directories that exist now and are worth
// watching: each pattern's base directories, the directories "**" searches
// (within MaxDirSearchDepth), and the directories in which a wildcard or
// later directory component is expected to appear. Excluded directories are
// left out.
func (m *Matcher) Dirs() []string {
	w := m.walk(false)
	dirs := make([]string, 0, len(w.dirs))
	for d := range w.dirs {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	return dirs
}

// watchTargets returns Dirs plus, for each pattern whose fixed prefix does
// not exist, the nearest existing ancestor of that prefix, so that creating
// the prefix is noticed.
func (m *Matcher) watchTargets() map[string]struct{} {
	w := m.walk(false)
	for d := range w.pending {
		w.dirs[d] = struct{}{}
	}
	return w.dirs
}

type fileID struct{ dev, ino uint64 }

// walker is the state of one Scan or Dirs call.
type walker struct {
	m       *Matcher
	collect bool // stat and collect files; Dirs only needs directories
	found   map[string]File
	dirs    map[string]struct{}
	pending map[string]struct{}
	errs    []error
	errSeen map[string]struct{}
	// visited maps each directory searched for the current pattern to the
	// smallest depth it was searched at; onStack holds the directories on
	// the current path, to tell a loop from a second way in.
	visited map[fileID]int
	onStack map[fileID]struct{}
}

func (m *Matcher) walk(collect bool) *walker {
	w := &walker{
		m:       m,
		collect: collect,
		found:   make(map[string]File),
		dirs:    make(map[string]struct{}),
		pending: make(map[string]struct{}),
		errSeen: make(map[string]struct{}),
	}
	for i := range m.pats {
		w.visited = make(map[fileID]int)
		w.onStack = make(map[fileID]struct{})
		w.pattern(&m.pats[i])
	}
	return w
}

func (w *walker) report(err error) {
	if !w.collect {
		return
	}
	k := err.Error()
	if _, dup := w.errSeen[k]; dup {
		return
	}
	w.errSeen[k] = struct{}{}
	w.errs = append(w.errs, err)
}

func pathErr(path string, err error) error {
	return &fs.PathError{Op: "discover", Path: path, Err: err}
}

func notExist(err error) bool {
	// ENOTDIR: a file stands where a directory of the path is expected,
	// which for a search is the same as absent.
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotDir)
}

func join(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

func (w *walker) pattern(p *pattern) {
	if w.m.underExcludedDir(p.prefix) {
		return
	}
	fi, err := os.Stat(p.prefix)
	if err != nil {
		if notExist(err) {
			w.pending[nearestDir(p.prefix)] = struct{}{}
		} else {
			w.report(err)
		}
		return
	}
	if fi.IsDir() {
		w.expand(p, p.prefix, fi, 0)
	}
}

// nearestDir returns the nearest ancestor of path that is an existing
// directory.
func nearestDir(path string) string {
	for path != "/" {
		path = filepath.Dir(path)
		if fi, err := os.Stat(path); err == nil && fi.IsDir() {
			return path
		}
	}
	return path
}

// expand matches the directory components p.rest[i:] below dir, which
// exists, and searches each base directory it reaches.
func (w *walker) expand(p *pattern, dir string, fi fs.FileInfo, i int) {
	if i == len(p.rest) {
		w.search(p, dir, fi, 0)
		return
	}
	w.dirs[dir] = struct{}{}
	g := p.rest[i]
	if g.lit {
		next := join(dir, g.s)
		fi, err := os.Stat(next)
		if err != nil {
			if !notExist(err) {
				w.report(err)
			}
			return
		}
		if fi.IsDir() && !w.m.dirExcluded(next) {
			w.expand(p, next, fi, i+1)
		}
		return
	}
	ents, err := os.ReadDir(dir)
	if err != nil && !notExist(err) {
		w.report(err) // ents holds what was read before the error
	}
	for _, e := range ents {
		t := e.Type()
		if (!t.IsDir() && t&fs.ModeSymlink == 0) || !g.match(e.Name()) {
			continue
		}
		next := join(dir, e.Name())
		fi, err := os.Stat(next)
		if err != nil {
			if !notExist(err) {
				w.report(err)
			}
			continue
		}
		if fi.IsDir() && !w.m.dirExcluded(next) {
			w.expand(p, next, fi, i+1)
		}
	}
}

// search lists dir, a base directory of p or a directory depth levels
// below one, collects its matching files and, for "**", descends.
func (w *walker) search(p *pattern, dir string, fi fs.FileInfo, depth int) {
	id := idOf(fi)
	if id.ino != 0 {
		if _, loop := w.onStack[id]; loop {
			w.report(pathErr(dir, ErrLoop))
			return
		}
		if d, ok := w.visited[id]; ok && d <= depth {
			return // already searched at least as deep from here
		}
		w.visited[id] = depth
		w.onStack[id] = struct{}{}
		defer delete(w.onStack, id)
	}
	w.dirs[dir] = struct{}{}
	descend := p.recursive && depth < w.m.maxDepth
	if !w.collect && !descend {
		return // Dirs needs no listing here
	}
	ents, err := os.ReadDir(dir)
	if err != nil && !notExist(err) {
		w.report(err)
	}
	for _, e := range ents {
		name, t := e.Name(), e.Type()
		isLink := t&fs.ModeSymlink != 0
		want := w.collect && p.file.match(name)
		maybeDir := descend && (t.IsDir() || isLink)
		if !want && !maybeDir {
			continue
		}
		path := join(dir, name)
		if want && w.m.fileExcluded(path, name) {
			want = false
			if !maybeDir {
				continue
			}
		}
		cfi, err := os.Stat(path) // follows symlinks
		if err != nil {
			// A regular file that vanished since ReadDir is a race, not
			// a problem; a matching symlink that cannot be followed is.
			if want && (isLink || !notExist(err)) {
				w.report(err)
			}
			continue
		}
		if cfi.IsDir() {
			searched := descend && !w.m.dirExcluded(path)
			if searched {
				w.search(p, path, cfi, depth+1)
			} else if want && !w.m.dirExcluded(path) {
				w.report(pathErr(path, ErrIsDir))
			}
			continue
		}
		if !want || !cfi.Mode().IsRegular() {
			continue
		}
		if err := readable(path, cfi); err != nil {
			w.report(err)
			continue
		}
		w.found[path] = fileOf(path, cfi)
	}
}

func fileOf(path string, fi fs.FileInfo) File {
	id := idOf(fi)
	return File{Path: path, Dev: id.dev, Ino: id.ino, Size: fi.Size(), ModTime: fi.ModTime()}
}
